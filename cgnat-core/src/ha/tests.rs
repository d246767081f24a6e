//! The sync stream and the election, driven step by step: issue 13 item 2
//! ("batched, sequenced and acknowledged, with bulk sync when a standby
//! (re)joins and a resync on any detected gap — never a silent drop") and
//! item 3 (takeover after the dead interval, split-brain rule, preempt,
//! planned switchover).

use std::collections::BTreeSet;

use super::*;
use crate::time::Instant;
use crate::wire::ha::{BlockRecord, Header, Kind, Message, Record, Role, FLAG_IN_SYNC, FLAG_PREEMPT};
use core::net::Ipv4Addr;

const LIMITS: SenderLimits = SenderLimits {
    window: 8,
    batch: 4,
    max_queue: 64,
    retransmit_us: 50_000,
};

fn block(i: u32) -> BlockRecord {
    BlockRecord {
        subscriber: Ipv4Addr::from(0x6440_0000 + i),
        public: Ipv4Addr::new(203, 0, 113, (i % 200) as u8),
        first_port: 1024 + (i as u16 % 60) * 1000,
        last_port: 1024 + (i as u16 % 60) * 1000 + 255,
        allocated_us: 1_000 + i as u64,
        log_seq: i as u64,
    }
}

fn stamp(role: Role, ack: u64) -> Stamp {
    Stamp {
        role,
        priority: 100,
        ack,
        flags: 0,
    }
}

/// The active's state, the standby's mirror and the link between them.
struct Pair {
    active: BTreeSet<BlockRecord>,
    tx: SyncSender,
    rx: SyncReceiver,
    mirror: BTreeSet<BlockRecord>,
    now: u64,
    sent: u64,
}

impl Pair {
    fn new() -> Self {
        Pair {
            active: BTreeSet::new(),
            tx: SyncSender::new(7, LIMITS),
            rx: SyncReceiver::new(20_000),
            mirror: BTreeSet::new(),
            now: 0,
            sent: 0,
        }
    }

    fn alloc(&mut self, i: u32) {
        self.active.insert(block(i));
        self.tx.push(Record::BlockAllocated(block(i)));
    }

    fn release(&mut self, i: u32) {
        self.active.remove(&block(i));
        self.tx.push(Record::BlockReleased(block(i)));
    }

    /// One millisecond: the active sends what it may (each datagram passed
    /// to `lose` first: true drops it), the standby applies, acknowledges
    /// and asks for resyncs.
    fn step(&mut self, lose: &mut dyn FnMut(u64) -> bool) {
        self.now += 1_000;
        let now = Instant::from_micros(self.now);
        if self.tx.needs_bulk() {
            let snapshot: Vec<Record> = self.active.iter().copied().map(Record::BlockAllocated).collect();
            self.tx.start_bulk(snapshot);
        }
        let mut out = Vec::new();
        while self.tx.poll_transmit(now, stamp(Role::Active, 0), &mut out) {
            self.sent += 1;
            if lose(self.sent) {
                continue;
            }
            let m = Message::new_checked(&out[..]).expect("the sender emits valid datagrams");
            let h = Header::parse(&m);
            match self.rx.on_data(&h) {
                Accept::Apply { clear_first } => {
                    if clear_first {
                        self.mirror.clear();
                    }
                    for i in 0..m.count() {
                        match m.record(i).unwrap() {
                            Record::BlockAllocated(b) => {
                                self.mirror.insert(b);
                            }
                            Record::BlockReleased(b) => {
                                self.mirror.remove(&b);
                            }
                            other => panic!("unexpected {other:?}"),
                        }
                    }
                }
                Accept::Duplicate | Accept::Discard => {}
            }
        }
        // The standby's heartbeat carries its ack; a resync if one is due.
        self.tx.on_ack(self.rx.ack());
        if let Some(from) = self.rx.poll_request(now) {
            self.tx.on_resync(from);
        }
    }

    fn run(&mut self, steps: usize, lose: &mut dyn FnMut(u64) -> bool) {
        for _ in 0..steps {
            self.step(lose);
        }
    }
}

#[test]
fn a_lossless_stream_mirrors_every_change_and_drains_the_window() {
    let mut p = Pair::new();
    p.run(3, &mut |_| false);
    assert_eq!(p.rx.state(), MirrorState::InSync, "the first bulk sync (empty) completes");
    for i in 0..40 {
        p.alloc(i);
    }
    for i in (0..40).step_by(3) {
        p.release(i);
    }
    p.run(30, &mut |_| false);
    assert_eq!(p.mirror, p.active);
    assert_eq!(p.tx.backlog(), 0);
    assert_eq!(p.tx.lag_us(Instant::from_micros(p.now)), 0);
    assert_eq!(p.rx.stats().gaps, 0);
    assert_eq!(p.tx.stats().retransmits, 0);
}

#[test]
fn dropped_datagrams_are_detected_as_gaps_and_resent_never_silently_lost() {
    let mut p = Pair::new();
    p.run(3, &mut |_| false);
    for i in 0..200 {
        p.alloc(i);
        if i % 7 == 0 {
            p.release(i);
        }
    }
    // Drop every fifth datagram for a while, then none.
    let mut lose = |n: u64| n % 5 == 0 && n < 60;
    p.run(200, &mut lose);
    assert!(p.rx.stats().gaps > 0, "the standby saw the gaps");
    assert!(p.rx.stats().resync_requests > 0 && p.tx.stats().resync_requests > 0);
    assert!(p.tx.stats().retransmits > 0);
    assert_eq!(p.mirror, p.active, "every change arrived despite the losses");
    assert_eq!(p.tx.backlog(), 0);
}

#[test]
fn a_lost_last_datagram_is_resent_after_the_retransmit_timeout() {
    let mut p = Pair::new();
    p.run(3, &mut |_| false);
    p.alloc(1);
    let first = p.sent + 1;
    let mut lose = |n: u64| n == first;
    p.run(1, &mut lose);
    assert!(p.mirror.is_empty(), "the only datagram was lost and no later one shows a gap");
    p.run(60, &mut lose);
    assert_eq!(p.mirror, p.active);
    assert!(p.tx.stats().retransmits >= 1);
}

#[test]
fn a_restarted_standby_asks_for_and_gets_a_bulk_sync() {
    let mut p = Pair::new();
    for i in 0..30 {
        p.alloc(i);
    }
    p.run(20, &mut |_| false);
    assert_eq!(p.mirror, p.active);
    // The standby restarts: empty mirror, new receiver.
    p.rx = SyncReceiver::new(20_000);
    p.mirror.clear();
    let bulks = p.tx.stats().bulk_syncs;
    p.alloc(100);
    p.run(30, &mut |_| false);
    assert_eq!(p.tx.stats().bulk_syncs, bulks + 1);
    assert_eq!(p.rx.state(), MirrorState::InSync);
    assert_eq!(p.mirror, p.active);
}

#[test]
fn a_restarted_active_is_a_new_incarnation_and_the_mirror_starts_over() {
    let mut p = Pair::new();
    for i in 0..10 {
        p.alloc(i);
    }
    p.run(10, &mut |_| false);
    // The active restarts with other state: a stale mirror must not survive.
    p.tx = SyncSender::new(8, LIMITS);
    p.active.clear();
    p.alloc(500);
    p.run(20, &mut |_| false);
    assert_eq!(p.rx.stats().peer_restarts, 1);
    assert_eq!(p.mirror, p.active);
}

#[test]
fn a_standby_too_slow_for_the_window_is_resynced_by_a_bulk_sync() {
    let mut p = Pair::new();
    p.run(3, &mut |_| false);
    // The link is down long enough for the queue to overflow.
    let mut down = |_| true;
    for i in 0..100 {
        p.alloc(i);
    }
    p.run(5, &mut down);
    for i in 100..300 {
        p.alloc(i);
    }
    assert!(p.tx.stats().overflows >= 1, "the queue overflowed");
    p.run(100, &mut |_| false);
    assert!(p.tx.stats().bulk_syncs >= 2);
    assert_eq!(p.mirror, p.active, "the overflow was repaired, not dropped");
}

#[test]
fn random_loss_patterns_always_converge() {
    // A small deterministic generator: no dependency, same run every time.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64;
    for round in 0..20 {
        let mut p = Pair::new();
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let loss = next() % 40;
        let mut rng = next();
        let mut lose = move |_| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % 100 < loss
        };
        for i in 0..150 {
            p.alloc(i);
            if i % 3 == 0 {
                p.release(i / 2);
            }
            p.step(&mut lose);
        }
        p.run(400, &mut |_| false);
        assert_eq!(p.mirror, p.active, "round {round}, loss {loss}%");
    }
}

// --- Election ---------------------------------------------------------

const DEAD: u64 = 500_000;

fn settings(priority: u8, me: u8, peer: u8, preempt: bool) -> ElectionSettings {
    ElectionSettings {
        priority,
        address: Ipv4Addr::new(192, 168, 77, me),
        peer_address: Ipv4Addr::new(192, 168, 77, peer),
        dead_us: DEAD,
        preempt,
    }
}

fn t(ms: u64) -> Instant {
    Instant::from_micros(ms * 1000)
}

fn hb(e: &Election, in_sync: bool) -> Header {
    let mut flags = if in_sync { FLAG_IN_SYNC } else { 0 };
    if e.settings().preempt {
        flags |= FLAG_PREEMPT;
    }
    Header {
        kind: e.heartbeat_kind(),
        incarnation: 1,
        sequence: 0,
        role: e.role(),
        priority: e.settings().priority,
        flags,
        ack: 0,
    }
}

/// Exchanges heartbeats between `a` and `b` every 100 ms from `from` to
/// `to` (ms); `link` says whether the sync link is up at a time.
fn exchange(a: &mut Election, b: &mut Election, from: u64, to: u64, link: &dyn Fn(u64) -> bool, in_sync: (bool, bool)) {
    let mut ms = from;
    while ms <= to {
        if link(ms) {
            let (ha, hb_) = (hb(a, in_sync.0), hb(b, in_sync.1));
            b.on_peer(t(ms), &ha);
            a.on_peer(t(ms), &hb_);
        }
        // The owner hands the role over when a preempting peer asks.
        for e in [&mut *a, &mut *b] {
            if e.take_preempt() {
                let _ = e.switchover(t(ms));
            }
        }
        a.tick(t(ms));
        b.tick(t(ms));
        ms += 100;
    }
}

#[test]
fn a_lone_node_waits_one_dead_interval_then_becomes_active() {
    let mut e = Election::new(settings(100, 1, 2, false), t(0));
    assert_eq!(e.tick(t(400)), None);
    assert_eq!(e.role(), Role::Init);
    assert_eq!(e.tick(t(500)), Some(Transition::Active { takeover: false }));
}

#[test]
fn two_starting_nodes_elect_the_higher_priority_then_the_lower_address() {
    let mut a = Election::new(settings(100, 1, 2, false), t(0));
    let mut b = Election::new(settings(150, 2, 1, false), t(0));
    exchange(&mut a, &mut b, 0, 1000, &|_| true, (false, false));
    assert_eq!((a.role(), b.role()), (Role::Standby, Role::Active));
    let mut a = Election::new(settings(100, 1, 2, false), t(0));
    let mut b = Election::new(settings(100, 2, 1, false), t(0));
    exchange(&mut a, &mut b, 0, 1000, &|_| true, (false, false));
    assert_eq!(
        (a.role(), b.role()),
        (Role::Active, Role::Standby),
        "equal priority: the lower address"
    );
}

#[test]
fn the_standby_takes_over_one_dead_interval_after_the_active_falls_silent() {
    let mut a = Election::new(settings(200, 1, 2, false), t(0));
    let mut b = Election::new(settings(100, 2, 1, false), t(0));
    exchange(&mut a, &mut b, 0, 1000, &|_| true, (false, true));
    assert_eq!(b.role(), Role::Standby);
    // a is killed at 1000 ms (last heartbeat heard at 1000).
    let mut took = None;
    let mut ms = 1000;
    while took.is_none() {
        ms += 10;
        took = b.tick(t(ms)).map(|tr| (tr, ms));
    }
    assert_eq!(
        took,
        Some((Transition::Active { takeover: true }, 1500)),
        "takeover exactly at the dead interval"
    );
}

#[test]
fn a_recovered_node_stays_standby_without_preempt_and_takes_back_with_it() {
    for preempt in [false, true] {
        let mut b = Election::new(settings(100, 2, 1, false), t(0));
        b.tick(t(600));
        assert_eq!(b.role(), Role::Active);
        // a (better) comes back.
        let mut a = Election::new(settings(200, 1, 2, preempt), t(1000));
        exchange(&mut a, &mut b, 1000, 3000, &|_| true, (true, true));
        if preempt {
            assert_eq!(
                (a.role(), b.role()),
                (Role::Active, Role::Standby),
                "preempt after the better node is in sync"
            );
        } else {
            assert_eq!(
                (a.role(), b.role()),
                (Role::Standby, Role::Active),
                "no preempt: the recovered node stays standby"
            );
        }
    }
}

#[test]
fn preempt_waits_until_the_better_node_is_in_sync() {
    let mut b = Election::new(settings(100, 2, 1, false), t(0));
    b.tick(t(600));
    let mut a = Election::new(settings(200, 1, 2, true), t(1000));
    exchange(&mut a, &mut b, 1000, 3000, &|_| true, (false, true));
    assert_eq!((a.role(), b.role()), (Role::Standby, Role::Active));
}

#[test]
fn a_healed_split_keeps_the_better_node_active() {
    let mut a = Election::new(settings(200, 1, 2, false), t(0));
    let mut b = Election::new(settings(100, 2, 1, false), t(0));
    let link = |ms: u64| !(1000..3000).contains(&ms);
    exchange(&mut a, &mut b, 0, 2000, &link, (true, true));
    assert_eq!((a.role(), b.role()), (Role::Active, Role::Active), "the link is down: both active");
    exchange(&mut a, &mut b, 2100, 4000, &link, (true, true));
    assert_eq!((a.role(), b.role()), (Role::Active, Role::Standby));
    assert!(a.take_reannounce(), "the node that stayed announces its addresses again");
    assert!(!b.take_reannounce());
}

#[test]
fn a_planned_switchover_hands_the_role_over_and_is_refused_when_unsafe() {
    let mut a = Election::new(settings(200, 1, 2, false), t(0));
    let mut b = Election::new(settings(100, 2, 1, false), t(0));
    exchange(&mut a, &mut b, 0, 1000, &|_| true, (false, false));
    assert_eq!(a.switchover(t(1000)), Err("the peer is not an in-sync standby yet"));
    assert_eq!(b.switchover(t(1000)), Err("this node is not active"));
    exchange(&mut a, &mut b, 1100, 1200, &|_| true, (false, true));
    assert_eq!(a.switchover(t(1200)), Ok(Transition::Standby));
    assert_eq!(a.heartbeat_kind(), Kind::Handover);
    exchange(&mut a, &mut b, 1300, 1300, &|_| true, (false, true));
    assert_eq!((a.role(), b.role()), (Role::Standby, Role::Active));
    // The old active stays standby although it is better (no preempt).
    exchange(&mut a, &mut b, 1400, 5000, &|_| true, (true, false));
    assert_eq!((a.role(), b.role()), (Role::Standby, Role::Active));
    assert_eq!(a.heartbeat_kind(), Kind::Heartbeat);
}

#[test]
fn a_standby_that_still_sees_its_peer_on_the_segment_does_not_take_over() {
    let mut a = Election::new(settings(200, 1, 2, false), t(0));
    let mut b = Election::new(settings(100, 2, 1, false), t(0));
    exchange(&mut a, &mut b, 0, 1000, &|_| true, (false, true));
    assert_eq!(b.role(), Role::Standby);
    assert!(!b.probing(t(1000)));
    // The sync link goes down at 1000 ms; A keeps answering B's probes.
    let mut ms = 1000;
    while ms < 5000 {
        ms += 10;
        if b.probing(t(ms)) && ms % 100 == 0 {
            b.on_segment_seen(t(ms + 1));
        }
        assert_eq!(b.tick(t(ms)), None, "no takeover at {ms} ms: the peer answers on the segment");
    }
    assert!(b.probing(t(ms)) && b.segment_alive(t(ms)));
    // A dies: no more answers; B takes over one dead interval after the last.
    let last = ms - ms % 100 + 1;
    let mut took = None;
    while took.is_none() {
        ms += 10;
        took = b.tick(t(ms)).map(|tr| (tr, ms));
    }
    assert_eq!(took.map(|x| x.0), Some(Transition::Active { takeover: true }));
    assert!(took.unwrap().1 as i64 - last as i64 <= 510);
}

#[test]
fn a_starting_node_that_sees_an_active_on_the_segment_stays_silent() {
    let mut b = Election::new(settings(100, 2, 1, false), t(0));
    let mut ms = 0;
    while ms < 3000 {
        ms += 10;
        if b.probing(t(ms)) {
            b.on_segment_seen(t(ms));
        }
        assert_eq!(b.tick(t(ms)), None);
    }
    assert_eq!(b.role(), Role::Init);
}
