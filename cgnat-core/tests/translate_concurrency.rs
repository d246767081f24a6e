//! Several workers on one `Nat`, as the data plane runs them (one per
//! lcore, any worker may see any subscriber's packets), with the sweeper
//! expiring state under them. After the storm the tables must be
//! consistent (see `common::check_invariants`) and every block allocated
//! must have been released exactly once by the end.

mod common;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant as WallClock};

use cgnat_core::event::EventKind;
use cgnat_core::pool::BlockState;
use cgnat_core::sweeper::Sweeper;
use cgnat_core::{DropReason, Event, Instant, Side, Verdict, Worker};
use common::*;

/// The shortest session timeout (ICMP) and the block hold-down of CFG.
const MIN_TIMEOUT: u64 = 60;
const HOLD_DOWN: u64 = 30;

const CFG: &str = "max_sessions = 8192\nmax_mappings = 8192\nmax_subscribers = 64\nblock_size = 32\nmax_blocks_per_subscriber = 3\nmax_sessions_per_subscriber = 200\npool = [\"203.0.113.0/30\"]\nblock_hold_down = 30";

/// Drops that are legitimate under contention and churn.
fn acceptable(r: DropReason) -> bool {
    matches!(
        r,
        DropReason::SessionRace | DropReason::BlockLimit | DropReason::SessionLimit | DropReason::PoolExhausted | DropReason::NoMapping
    )
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// RFC 4787 REQ-1/REQ-3 under concurrency: workers hammer overlapping
/// flows (same subscribers, same destinations) while the sweeper expires
/// them with an advancing clock. Every reply a worker gets back through
/// the NAT reaches the inside endpoint that sent the request.
#[test]
fn workers_and_sweeper_keep_the_tables_consistent() {
    let nat = nat(CFG);
    let clock = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let now = |c: &AtomicU64| at(c.load(Ordering::Acquire));
    let threads = 3;
    let mut handles = Vec::new();
    for id in 0..threads {
        let nat = nat.clone();
        let clock = clock.clone();
        let stop = stop.clone();
        handles.push(thread::spawn(move || {
            let mut w = Worker::new(nat, id as u16, Vec::<Event>::new());
            let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (id as u64 + 1));
            let mut forwarded = 0u64;
            let mut reused = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let sub = Ipv4Addr::from(u32::from(SUB_A) + rng.below(24) as u32);
                let sport = 1000 + rng.below(40) as u16;
                let dst = Ipv4Addr::from(u32::from(SERVER) + rng.below(4) as u32);
                let proto = rng.below(3);
                let t = now(&clock);
                let mut pkt = match proto {
                    0 => udp(sub, sport, dst, 53, b"q"),
                    1 => tcp(sub, sport, dst, 80, SYN, b""),
                    _ => echo_request(sub, dst, sport, 1, b"p"),
                };
                match w.process(Side::Inside, &mut pkt, t) {
                    Verdict::Forward(Side::Outside) => {}
                    Verdict::Drop(r) if acceptable(r) => continue,
                    v => panic!("worker {id}: outbound {v:?}"),
                }
                forwarded += 1;
                let o = parse(&pkt);
                let mut reply = match proto {
                    0 => udp(dst, 53, o.src, o.sport, b"r"),
                    1 => tcp(dst, 80, o.src, o.sport, SYN | ACK, b""),
                    _ => echo_reply(dst, o.src, o.sport, 1, b"p"),
                };
                match w.process(Side::Outside, &mut reply, t) {
                    Verdict::Forward(Side::Inside) => {
                        let r = parse(&reply);
                        if (r.dst, r.dport) != (sub, sport) {
                            // Only legitimate if the mapping expired in
                            // between (this thread was descheduled while the
                            // sweeper ran) and its port went to a new
                            // mapping: of the same subscriber at once (RFC
                            // 6888 REQ-8 allows reuse by the same
                            // subscriber), of another one only after the
                            // block's release and hold-down.
                            let elapsed = clock.load(Ordering::Acquire) + T0.as_secs() - t.as_secs();
                            let needed = if r.dst == sub { MIN_TIMEOUT } else { MIN_TIMEOUT + HOLD_DOWN };
                            assert!(
                                elapsed >= needed,
                                "worker {id}: reply for {sub}:{sport} delivered to {}:{} only {elapsed} s later (REQ-3)",
                                r.dst,
                                r.dport
                            );
                            reused += 1;
                        }
                    }
                    Verdict::Drop(r) if acceptable(r) => {}
                    v => panic!("worker {id}: inbound {v:?}"),
                }
            }
            (forwarded, reused, std::mem::take(w.sink_mut()))
        }));
    }
    let mut sweeper = Sweeper::new(nat.clone(), Vec::new());
    let start = WallClock::now();
    while start.elapsed() < Duration::from_millis(1500) {
        // 5 s of packet clock per slice: UDP mappings live about 60 slices.
        clock.fetch_add(5, Ordering::AcqRel);
        sweeper.sweep(now(&clock), 512);
        thread::sleep(Duration::from_micros(200));
    }
    stop.store(true, Ordering::Relaxed);
    let mut events: Vec<Event> = Vec::new();
    let mut total = 0;
    let mut reused = 0;
    for h in handles {
        let (n, r, ev) = h.join().expect("worker panicked");
        total += n;
        reused += r;
        events.extend(ev);
    }
    if reused > 0 {
        eprintln!("note: {reused} replies met a port reused after expiry (thread descheduled)");
    }
    assert!(total > 100, "the workers did translate ({total})");
    // Quiescent: every invariant holds with live state.
    check_invariants(&nat);
    // Expire everything: all state goes, every block is closed in the log.
    let end = now(&clock).plus_secs(100_000);
    sweeper.sweep_all(end);
    sweeper.sweep_all(end);
    check_invariants(&nat);
    assert_eq!((nat.sessions().len(), nat.mappings().len(), nat.subscribers().len()), (0, 0, 0));
    for b in 0..nat.pool().block_count() {
        assert_ne!(nat.pool().block_info(b).state, BlockState::Allocated, "block {b} never released");
    }
    events.extend(std::mem::take(sweeper.sink_mut()));
    let mut per_block: HashMap<(Ipv4Addr, u16), (u32, u32)> = HashMap::new();
    for e in &events {
        let c = per_block.entry((e.public_addr, e.first_port)).or_default();
        match e.kind {
            EventKind::BlockAllocated => c.0 += 1,
            EventKind::BlockReleased => c.1 += 1,
            _ => {}
        }
    }
    for (block, (a, r)) in &per_block {
        assert_eq!(a, r, "block {block:?}: {a} allocations, {r} releases");
    }
    // Per-producer sequence numbers have no gaps.
    let mut seqs: HashMap<u16, Vec<u64>> = HashMap::new();
    for e in &events {
        seqs.entry(e.worker).or_default().push(e.seq);
    }
    for (w, s) in seqs {
        assert_eq!(s, (0..s.len() as u64).collect::<Vec<_>>(), "producer {w}");
    }
}

/// Many workers creating the same new flow at the same instant: the
/// winner's mapping is the only one; losers drop (SessionRace) or join it.
///
/// Known behaviour (reported, not fixed): workers racing on a subscriber
/// that has no block yet each allocate a block of their own (each logged),
/// so a subscriber can end up with several blocks for one flow, and with
/// more racers than `max_blocks_per_subscriber` the last one is dropped
/// with `BlockLimit`.
#[test]
fn simultaneous_creation_of_the_same_flow_yields_one_mapping() {
    let nat = nat(CFG);
    let threads = 4;
    let rounds = 60u32;
    let barrier = Arc::new(Barrier::new(threads));
    let handles: Vec<_> = (0..threads)
        .map(|id| {
            let nat = nat.clone();
            let barrier = barrier.clone();
            thread::spawn(move || {
                let mut w = Worker::new(nat, id as u16, Vec::<Event>::new());
                let mut seen = Vec::new();
                let mut unexpected = Vec::new();
                for round in 0..rounds {
                    let sub = Ipv4Addr::from(u32::from(SUB_A) + round % 48);
                    let mut p = udp(sub, 40_000 + round as u16, SERVER, 53, b"");
                    barrier.wait();
                    let v = w.process(Side::Inside, &mut p, Instant::from_secs(1_000 + round as u64));
                    match v {
                        Verdict::Forward(_) => {
                            let o = parse(&p);
                            seen.push(Some((round, o.src, o.sport)));
                        }
                        Verdict::Drop(DropReason::SessionRace) => seen.push(None),
                        // Racing workers each see the new subscriber without
                        // a block and each allocate one (see the report in
                        // the test's doc): with more racers than
                        // max_blocks_per_subscriber the last one is refused.
                        Verdict::Drop(DropReason::BlockLimit) => seen.push(None),
                        // No panic here: the other threads would wait at
                        // the barrier for ever. Reported after the join.
                        v => unexpected.push(format!("round {round}: {v:?}")),
                    }
                }
                (seen, unexpected, std::mem::take(w.sink_mut()))
            })
        })
        .collect();
    let mut by_round: HashMap<u32, Vec<(Ipv4Addr, u16)>> = HashMap::new();
    let mut allocs = 0;
    for h in handles {
        let (seen, unexpected, ev) = h.join().unwrap();
        assert!(unexpected.is_empty(), "{unexpected:?}");
        for (round, a, p) in seen.into_iter().flatten() {
            by_round.entry(round).or_default().push((a, p));
        }
        allocs += ev.iter().filter(|e| e.kind == EventKind::BlockAllocated).count();
    }
    for (round, v) in &by_round {
        assert!(v.windows(2).all(|x| x[0] == x[1]), "round {round}: two public endpoints {v:?}");
    }
    assert_eq!(nat.sessions().len(), rounds, "one session per flow");
    assert_eq!(nat.mappings().len(), rounds);
    // Ideally one block per subscriber; racing workers may each allocate
    // one (bounded by max_blocks_per_subscriber = 3), never more.
    assert!((48..=48 * 3).contains(&allocs), "{allocs} blocks for 48 subscribers");
    let held: u32 = (0..nat.subscribers().slots() as u32)
        .filter_map(|i| nat.subscribers().entry(i))
        .map(|e| e.blocks)
        .sum();
    assert_eq!(held as usize, allocs, "every allocated block is held by its subscriber");
    if allocs > 48 {
        eprintln!("note: {allocs} blocks allocated for 48 subscribers under a 4-way race");
    }
    check_invariants(&nat);
}
