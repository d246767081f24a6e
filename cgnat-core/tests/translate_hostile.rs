//! Hostile traffic (issue 9; RFC 6888 section 6 and REQ-4/5/11, RFC 7857
//! section 3, RFC 4787 REQ-6/REQ-8): each limit of `[nat.admission]`,
//! `[nat.unconfirmed]`, `[nat.inbound]` and `[nat.fairness]` with its
//! defaults (these tests name the tables, so `common::config` leaves them
//! on), and durable-before-use blocks (issue 10 item 10).

mod common;

use std::net::Ipv4Addr;
use std::sync::Arc;

use cgnat_core::counters::Counter;
use cgnat_core::event::EventKind;
use cgnat_core::sweeper::Sweeper;
use cgnat_core::{DropReason, Event, Nat, Side, Verdict};
use common::*;

const TABLES: &str = "max_sessions = 16384\nmax_mappings = 16384\nmax_subscribers = 4096\npool = [\"203.0.113.0/26\"]\n";

fn hnat(extra: &str) -> Arc<Nat> {
    common::nat(&format!("{TABLES}{extra}"))
}

fn sweeper(nat: &Arc<Nat>) -> Sweeper<Vec<Event>> {
    Sweeper::new(nat.clone(), Vec::new())
}

fn spoofed(i: u32) -> Ipv4Addr {
    // Spread over 100.64.0.0/10: a different /24 for each of the first
    // 16 384 sources, never the same source twice.
    assert!(i < 1 << 14);
    Ipv4Addr::from(0x6440_0000 + (i << 8) + 7)
}

fn ms(t: u64) -> cgnat_core::Instant {
    cgnat_core::Instant::from_micros(T0.as_micros() + t * 1000)
}

/// Issue 9 item 1 (RFC 6888 section 6): a flood of one packet from each of
/// thousands of spoofed sources creates at most the admission budget's
/// subscribers and blocks, leaves one summarising log record per interval
/// instead of one per source, and a genuine newcomer refused during the
/// flood is admitted when it retries.
#[test]
fn spoofed_flood_is_bounded_and_a_retrying_newcomer_gets_in() {
    let nat = hnat("[admission]\nsubscriber_rate = 50\nsubscriber_burst = 100\nretry_rate = 20\nretry_burst = 10\n");
    let mut w = worker(&nat);
    let newcomer = Ipv4Addr::new(100, 100, 7, 7);
    let mut newcomer_verdicts = Vec::new();
    // 6 000 spoofed sources in 3 s (2 000/s), the newcomer's SYN at 1 s and
    // its retransmission at 2 s.
    for i in 0..6000u32 {
        let t = i as u64 / 2; // ms
        let _ = verdict(&mut w, Side::Inside, &udp(spoofed(i), 1000, SERVER, 53, b"x"), ms(t));
        if (t == 1000 || t == 2000) && i % 2 == 0 {
            newcomer_verdicts.push(verdict(&mut w, Side::Inside, &tcp(newcomer, 40000, SERVER, 80, SYN, b""), ms(t)));
        }
        if i % 500 == 0 {
            w.housekeeping(ms(t));
        }
    }
    w.housekeeping(ms(13_000));
    let created = w.counters().get(Counter::SubscribersCreated);
    assert!(
        created <= 100 + 150 + 40 + 1,
        "burst + 3 s at 50/s + retries: {created} subscribers"
    );
    assert!(w.counters().dropped(DropReason::AdmissionLimited) >= 5500);
    assert_eq!(
        newcomer_verdicts[0],
        Verdict::Drop(DropReason::AdmissionLimited),
        "the flood holds the budget"
    );
    assert_eq!(newcomer_verdicts[1], Verdict::Forward(Side::Outside), "its retransmission gets in");
    assert!(w.counters().get(Counter::AdmittedOnRetry) >= 1);
    let events = std::mem::take(w.sink_mut());
    let allocs = of_kind(&events, EventKind::BlockAllocated).len() as u64;
    assert_eq!(allocs, created, "one block per admitted subscriber, none for refused ones");
    let summaries = of_kind(&events, EventKind::AdmissionLimited);
    assert_eq!(summaries.len(), 1, "one record for the interval, not one per source");
    assert_eq!(summaries[0].aux, w.counters().dropped(DropReason::AdmissionLimited));
    check_invariants(&nat);
}

/// Issue 9 item 1: a flood from one access aggregate cannot take another
/// aggregate's admissions.
#[test]
fn one_aggregate_cannot_starve_another() {
    let nat = hnat("[admission]\nsubscriber_rate_per_aggregate = 5\nsubscriber_burst_per_aggregate = 10\n");
    let mut w = worker(&nat);
    for i in 0..250u8 {
        let _ = verdict(&mut w, Side::Inside, &udp(Ipv4Addr::new(100, 64, 9, i), 1, SERVER, 53, b""), at(0));
    }
    assert_eq!(w.counters().get(Counter::SubscribersCreated), 10);
    out(&mut w, udp(Ipv4Addr::new(100, 64, 10, 1), 1, SERVER, 53, b""), at(0));
}

/// Issue 9 item 2: a subscriber that never received anything has the
/// tighter caps (one block, few sessions), and once it answers a reply it
/// has the normal ones.
#[test]
fn unconfirmed_subscribers_have_tight_caps_until_they_answer() {
    let nat = hnat("block_size = 16\n[unconfirmed]\nmax_sessions = 8\nmax_blocks = 1\n");
    let mut w = worker(&nat);
    let mut first = None;
    for p in 0..20u16 {
        let v = verdict(&mut w, Side::Inside, &udp(SUB_A, 1000 + p, SERVER, 53, b""), at(0));
        if p < 8 {
            assert_eq!(v, Verdict::Forward(Side::Outside), "port {p}");
        } else {
            assert_eq!(v, Verdict::Drop(DropReason::UnconfirmedLimit), "port {p}");
        }
        if p == 0 {
            first = Some(out(&mut w, udp(SUB_A, 1000, SERVER, 53, b""), at(0)));
        }
    }
    assert_eq!(w.counters().get(Counter::SubscribersConfirmed), 0);
    // A reply is delivered, and the subscriber sends again: confirmed.
    let f = first.unwrap();
    inb(&mut w, udp(SERVER, 53, f.src, f.sport, b"answer"), at(1));
    out(&mut w, udp(SUB_A, 1000, SERVER, 53, b""), at(1));
    assert_eq!(w.counters().get(Counter::SubscribersConfirmed), 1);
    // Now a second block and more sessions.
    for p in 8..40u16 {
        out(&mut w, udp(SUB_A, 1000 + p, SERVER, 53, b""), at(2));
    }
    assert_eq!(of_kind(w.sink_mut(), EventKind::BlockAllocated).len(), 3);
    check_invariants(&nat);
}

/// Issue 9 item 2: confirmation also comes from a new session opened after
/// a packet was delivered on another one (a DNS client uses a new port per
/// query).
#[test]
fn a_new_session_after_a_delivered_reply_confirms() {
    let nat = hnat("[unconfirmed]\nmax_sessions = 8\n");
    let mut w = worker(&nat);
    let q = out(&mut w, udp(SUB_A, 1000, SERVER, 53, b"q1"), at(0));
    inb(&mut w, udp(SERVER, 53, q.src, q.sport, b"a1"), at(0));
    assert_eq!(w.counters().get(Counter::SubscribersConfirmed), 0, "receiving alone is not enough");
    out(&mut w, udp(SUB_A, 1001, SERVER, 53, b"q2"), at(1));
    assert_eq!(w.counters().get(Counter::SubscribersConfirmed), 1);
}

/// Issue 9 item 2: an unconfirmed subscriber's state is reclaimed after
/// `nat.unconfirmed.timeout` (its block still logged on release and held
/// down), while a confirmed one keeps RFC 4787 REQ-5's timer.
//= https://www.rfc-editor.org/rfc/rfc4787#section-4.3
//# REQ-5: A NAT UDP mapping timer MUST NOT expire in less than two
//# minutes, unless REQ-5a applies.
#[test]
fn unconfirmed_state_is_short_lived_confirmed_state_keeps_req5() {
    let nat = hnat("[unconfirmed]\ntimeout = 10\n");
    let mut w = worker(&nat);
    let mut s = sweeper(&nat);
    // Spoofed: one packet, never an answer.
    out(&mut w, udp(SUB_B, 2000, SERVER, 53, b""), at(0));
    // Genuine: query, answer, another query.
    let q = out(&mut w, udp(SUB_A, 1000, SERVER, 53, b""), at(0));
    inb(&mut w, udp(SERVER, 53, q.src, q.sport, b""), at(0));
    out(&mut w, udp(SUB_A, 1000, SERVER, 53, b""), at(0));
    s.sweep_all(at(9));
    assert_eq!(nat.sessions().len(), 2);
    s.sweep_all(at(10));
    s.sweep_all(at(10));
    assert_eq!(nat.sessions().len(), 1, "the unconfirmed session is gone after 10 s");
    assert!(nat.subscribers().find(u32::from(SUB_B)).is_none(), "and its subscriber");
    let released = of_kind(s.sink_mut(), EventKind::BlockReleased);
    assert_eq!(released.len(), 1, "its block is released with a record");
    assert_eq!(released[0].subscriber, SUB_B);
    s.sweep_all(at(299));
    assert_eq!(nat.sessions().len(), 1, "the confirmed one keeps the 300 s UDP timer");
    s.sweep_all(at(300));
    assert_eq!(nat.sessions().len(), 0);
    check_invariants(&nat);
}

/// Issue 9 item 3 (RFC 4787 REQ-8 endpoint-independent filtering): an
/// internet host that learned a mapping sprays it from 1 000 source ports.
/// Only `max_sessions_per_mapping` become sessions, none counts against the
/// subscriber's own budget, its new outbound sessions keep working, and the
/// unanswered ones expire after `nat.inbound.timeout`.
#[test]
fn an_inbound_spray_never_locks_the_subscriber_out() {
    let nat = hnat(
        "max_sessions_per_subscriber = 100\n[inbound]\nmax_sessions_per_subscriber = 200\nmax_sessions_per_mapping = 50\ntimeout = 20\n",
    );
    let mut w = worker(&nat);
    let mut s = sweeper(&nat);
    let m = out(&mut w, udp(SUB_A, 3478, SERVER, 3478, b"stun"), at(0));
    inb(&mut w, udp(SERVER, 3478, m.src, m.sport, b"mapped"), at(0));
    let mut delivered = 0;
    for p in 0..1000u16 {
        if verdict(&mut w, Side::Outside, &udp(SERVER3, 10_000 + p, m.src, m.sport, b"spray"), at(1)) == Verdict::Forward(Side::Inside) {
            delivered += 1;
        }
    }
    assert_eq!(delivered, 50, "the mapping's inbound budget");
    assert_eq!(w.counters().dropped(DropReason::InboundSessionLimit), 950);
    // The subscriber's own new sessions: its whole budget is still there.
    for p in 1..100u16 {
        out(&mut w, udp(SUB_A, 5000 + p, SERVER2, 53, b""), at(2));
    }
    // One sprayed session is answered: it gets the normal timer.
    out(&mut w, udp(SUB_A, 3478, SERVER3, 10_000, b"hello"), at(2));
    s.sweep_all(at(21));
    s.sweep_all(at(22));
    let inbound_left = live_sessions(&nat).iter().filter(|e| e.value.inbound()).count();
    assert_eq!(
        inbound_left, 1,
        "unanswered inbound sessions expire after 20 s; the answered one stays"
    );
    check_invariants(&nat);
}

/// Issue 9 item 4: once the session table is `pressure_percent` full, a few
/// subscribers at their own limits cannot take the rest: a newcomer still
/// gets `fair_share_sessions` sessions.
#[test]
fn a_few_heavy_subscribers_cannot_fill_the_global_table() {
    let nat = common::nat(
        "max_sessions = 1000\nmax_mappings = 4000\nmax_sessions_per_subscriber = 400\nblock_size = 512\n\
         [fairness]\npressure_percent = 70\nfair_share_sessions = 50\n",
    );
    let mut w = worker(&nat);
    let heavy = [SUB_A, SUB_B, SUB_C];
    let mut ok = [0u32; 3];
    for p in 0..400u16 {
        for (i, h) in heavy.iter().enumerate() {
            if verdict(&mut w, Side::Inside, &udp(*h, 1000 + p, SERVER, 53, b""), at(0)) == Verdict::Forward(Side::Outside) {
                ok[i] += 1;
            }
        }
    }
    let taken: u32 = ok.iter().sum();
    assert!(taken <= 700 + 3, "the heavy ones stop at the pressure line: {ok:?}");
    assert!(w.counters().dropped(DropReason::FairShare) > 0);
    let newcomer = Ipv4Addr::new(100, 64, 200, 1);
    for p in 0..50u16 {
        out(&mut w, udp(newcomer, 1000 + p, SERVER, 53, b""), at(1));
    }
    assert_eq!(
        verdict(&mut w, Side::Inside, &udp(newcomer, 2000, SERVER, 53, b""), at(1)),
        Verdict::Drop(DropReason::FairShare),
        "no more than the fair share under pressure"
    );
    check_invariants(&nat);
}

/// Issue 9 item 2: unconfirmed subscribers may hold only their share of the
/// subscriber table; a source refused for that is admitted on its retry.
#[test]
fn unconfirmed_subscribers_hold_only_their_share_of_the_table() {
    let nat = common::nat("max_subscribers = 100\n[unconfirmed]\nmax_subscribers_percent = 20\n[admission]\nretry_min_ms = 100\n");
    let mut w = worker(&nat);
    let created = (0..100u32)
        .filter(|i| verdict(&mut w, Side::Inside, &udp(spoofed(*i), 1, SERVER, 53, b""), at(0)) == Verdict::Forward(Side::Outside))
        .count();
    assert_eq!(created, 20);
    assert_eq!(nat.subscribers().unconfirmed(), 20);
    let newcomer = Ipv4Addr::new(100, 90, 0, 1);
    assert_eq!(
        verdict(&mut w, Side::Inside, &udp(newcomer, 1, SERVER, 53, b""), ms(0)),
        Verdict::Drop(DropReason::UnconfirmedLimit)
    );
    out(&mut w, udp(newcomer, 1, SERVER, 53, b""), ms(1000));
    assert_eq!(w.counters().get(Counter::AdmittedOnRetry), 1);
}

/// RFC 7857 section 3 / issue 9: a TCP session picked up mid-stream (no
/// SYN: a lone ACK, as after a restart or from a spoofer) has the
/// transitory timer until packets were seen in both directions.
//= https://www.rfc-editor.org/rfc/rfc5382#section-5
//# REQ-5: If a NAT cannot determine whether the endpoints of a TCP
//# connection are active, it MAY abandon the session if it has been idle
//# for some time. In such cases, the value of the "established connection
//# idle-timeout" MUST NOT be less than 2 hours 4 minutes. The value of the
//# "transitory connection idle-timeout" MUST NOT be less than 4 minutes.
#[test]
fn a_lone_ack_holds_state_for_minutes_not_hours() {
    let nat = hnat("");
    let mut w = worker(&nat);
    let mut s = sweeper(&nat);
    out(&mut w, tcp(SUB_A, 40000, SERVER, 443, ACK, b""), at(0));
    let live = out(&mut w, tcp(SUB_B, 40001, SERVER, 443, ACK, b"data"), at(0));
    inb(&mut w, tcp(SERVER, 443, live.src, live.sport, ACK, b"data"), at(1));
    s.sweep_all(at(240));
    s.sweep_all(at(241));
    let left: Vec<_> = live_sessions(&nat).iter().map(|e| Ipv4Addr::from(e.key.inside_addr)).collect();
    assert_eq!(
        left,
        vec![SUB_B],
        "the one-way pickup expired after 240 s; the two-way one is established"
    );
    s.sweep_all(at(7440));
    assert_eq!(nat.sessions().len(), 1);
    s.sweep_all(at(7441));
    assert_eq!(nat.sessions().len(), 0);
}

/// Issue 10 item 10: with a durable log required, no packet is translated
/// with a port of a block whose allocation record is not yet durable: the
/// first packet, a second packet of the flow and a new flow of the same
/// subscriber are held (translated, waiting); nothing gets in through the
/// block; once the management core says the record is durable they go.
#[test]
fn a_new_blocks_packets_wait_for_its_durable_record() {
    let nat = hnat("");
    nat.require_durable_log(true);
    let mut w = worker(&nat);
    let mut p1 = udp(SUB_A, 1000, SERVER, 53, b"1");
    let v = w.process(Side::Inside, &mut p1, at(0));
    let Verdict::HoldUntilLogged { side, mtu, block } = v else {
        panic!("{v:?}")
    };
    assert_eq!((side, mtu), (Side::Outside, 0));
    let translated = parse(&p1);
    assert_eq!(
        translated.src,
        nat.pool().block_info(block).public_addr,
        "already translated, only waiting"
    );
    for pkt in [udp(SUB_A, 1000, SERVER, 53, b"2"), udp(SUB_A, 1001, SERVER2, 53, b"3")] {
        assert!(matches!(verdict(&mut w, Side::Inside, &pkt, at(0)), Verdict::HoldUntilLogged { block: b, .. } if b == block));
    }
    assert_eq!(
        verdict(
            &mut w,
            Side::Outside,
            &udp(SERVER, 53, translated.src, translated.sport, b""),
            at(0)
        ),
        Verdict::Drop(DropReason::NoMapping),
        "nothing gets in before the record is durable"
    );
    assert_eq!(w.counters().get(Counter::HeldForLog), 3);
    let alloc = of_kind(w.sink_mut(), EventKind::BlockAllocated);
    assert!(nat.block_logged(alloc[0].public_addr, alloc[0].first_port));
    assert!(!nat.pool().is_pending(block));
    out(&mut w, udp(SUB_A, 1000, SERVER, 53, b"4"), at(0));
    inb(&mut w, udp(SERVER, 53, translated.src, translated.sport, b""), at(0));
    check_invariants(&nat);
}

/// Every new limit reloads without a restart; the table sizes refuse to.
#[test]
fn hostile_limits_reload() {
    let nat = hnat("[admission]\nsubscriber_rate = 1\nsubscriber_burst = 1\n");
    let mut w = worker(&nat);
    out(&mut w, udp(SUB_A, 1, SERVER, 53, b""), at(0));
    assert_eq!(
        verdict(&mut w, Side::Inside, &udp(SUB_B, 1, SERVER, 53, b""), at(0)),
        Verdict::Drop(DropReason::AdmissionLimited)
    );
    let mut c = nat.config().clone();
    c.admission.subscriber_rate = 1000;
    c.admission.subscriber_burst = 1000;
    nat.reload(&c).unwrap();
    // The new rate refills the bucket from now on.
    out(&mut w, udp(SUB_C, 1, SERVER, 53, b""), at(1));
    c.admission.aggregate_buckets *= 2;
    let e = nat.reload(&c).unwrap_err();
    assert_eq!(e.key, "nat.admission.aggregate_buckets");
}

/// Issue 9: a full subscriber table, or an exhausted address, is reported
/// once per table (address) and interval per worker, not once per refused
/// source: a flood of new sources cannot flood the log through it.
#[test]
fn table_full_is_reported_per_table_not_per_source() {
    let nat = common::nat("max_subscribers = 10\n");
    let mut w = worker(&nat);
    for i in 0..1000u32 {
        let _ = verdict(&mut w, Side::Inside, &udp(spoofed(i), 1, SERVER, 53, b""), at(0));
    }
    assert_eq!(w.counters().dropped(DropReason::SubscriberTableFull), 990);
    let full = of_kind(w.sink_mut(), EventKind::TableFull);
    assert_eq!(full.len(), 1, "one record for the interval: {full:?}");
    for i in 1000..1100u32 {
        let _ = verdict(&mut w, Side::Inside, &udp(spoofed(i), 1, SERVER, 53, b""), at(11));
    }
    assert_eq!(of_kind(w.sink_mut(), EventKind::TableFull).len(), 2, "and again after the interval");
}
