//! Limits and exhaustion: RFC 6888 REQ-4 (ports per subscriber), REQ-5
//! (state per subscriber), REQ-11 (on exhaustion: drop, optionally ICMP
//! host unreachable, notify, never evict), table capacities, and the NAT
//! log rule "never translate without a record".

mod common;

use std::net::Ipv4Addr;

use cgnat_core::event::{EventKind, Reason, RefusingSink, TableId};
use cgnat_core::pool::BlockState;
use cgnat_core::{Counter, DropReason, Event, Side, Verdict, Worker};
use common::*;

fn dest(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(SERVER) + i)
}

fn allocated_blocks(nat: &cgnat_core::Nat) -> usize {
    (0..nat.pool().block_count())
        .filter(|b| nat.pool().block_info(*b).state == BlockState::Allocated)
        .count()
}

//= https://www.rfc-editor.org/rfc/rfc6888#section-3
//# REQ-5: A CGN SHOULD support limiting the amount of state memory
//# allocated per mapping and per subscriber. This may include limiting the
//# number of sessions (...)
//
//= https://www.rfc-editor.org/rfc/rfc6888#section-3
//# REQ-11: When a CGN is unable to create a dynamic mapping due to resource
//# constraints or administrative restrictions (i.e., quotas): a. it MUST
//# drop the original packet; (...) c. it SHOULD send a notification
//# (...); and d. it MUST NOT delete existing mappings in order to "make
//# room" for the new one.
#[test]
fn rfc6888_req5_session_limit_drops_notifies_once_and_keeps_existing_sessions() {
    let nat = nat("max_sessions_per_subscriber = 4");
    let mut w = worker(&nat);
    let mut flows = Vec::new();
    for i in 0..4 {
        flows.push(out(&mut w, udp(SUB_A, 5000, dest(i), 53, b""), at(0)));
    }
    for i in 4..10 {
        assert_eq!(
            verdict(&mut w, Side::Inside, &udp(SUB_A, 5000 + i as u16, dest(i), 53, b""), at(1)),
            Verdict::Drop(DropReason::SessionLimit)
        );
    }
    assert_eq!(w.counters().dropped(DropReason::SessionLimit), 6);
    let q = of_kind(w.sink_mut(), EventKind::SessionQuotaExceeded);
    assert_eq!(q.len(), 1, "rate-limited to one event: {q:?}");
    assert_eq!(
        (q[0].subscriber, q[0].aux, q[0].reason, q[0].public_addr),
        (SUB_A, 4, Reason::Limit, flows[0].src)
    );
    // Existing sessions keep working both ways (never evicted).
    for (i, f) in flows.iter().enumerate() {
        assert_eq!(out(&mut w, udp(SUB_A, 5000, dest(i as u32), 53, b""), at(2)).sport, f.sport);
        assert_eq!(inb(&mut w, udp(dest(i as u32), 53, f.src, f.sport, b""), at(2)).dst, SUB_A);
    }
    // An EIF session created from the outside does not count against it:
    // it has its own budget (issue 9 item 3, `nat.inbound`), so a spray at
    // the mapping can never lock the subscriber out of its own sessions.
    assert_eq!(
        verdict(&mut w, Side::Outside, &udp(SERVER3, 1, flows[0].src, flows[0].sport, b""), at(2)),
        Verdict::Forward(Side::Inside)
    );
    // Another subscriber is not affected.
    out(&mut w, udp(SUB_B, 5000, SERVER, 53, b""), at(2));
    // Ten seconds later a still-blocked subscriber is reported again.
    assert_eq!(
        verdict(&mut w, Side::Inside, &udp(SUB_A, 6000, SERVER, 53, b""), at(12)),
        Verdict::Drop(DropReason::SessionLimit)
    );
    assert_eq!(of_kind(w.sink_mut(), EventKind::SessionQuotaExceeded).len(), 2);
    assert_eq!(
        nat.subscribers()
            .find(u32::from(SUB_A))
            .map(|s| nat.subscribers().entry(s.index).unwrap())
            .map(|e| (e.sessions, e.inbound_sessions)),
        Some((4, 1))
    );
    check_invariants(&nat);
}

//= https://www.rfc-editor.org/rfc/rfc6888#section-3
//# REQ-11: (...) b. it SHOULD send an ICMP Destination Unreachable message
//# with code 1 (Host Unreachable) to the sender;
#[test]
fn rfc6888_req11_icmp_host_unreachable_on_exhaustion_when_configured() {
    let nat = nat("max_sessions_per_subscriber = 1\nicmp_on_exhaustion = true");
    let mut w = worker(&nat);
    out(&mut w, udp(SUB_A, 5000, SERVER, 53, b""), at(0));
    let p = udp(SUB_A, 5001, SERVER, 53, b"");
    let mut q = p.clone();
    assert_eq!(
        w.process(Side::Inside, &mut q, at(0)),
        Verdict::IcmpError {
            reason: DropReason::SessionLimit,
            icmp_type: 3,
            code: 1,
            mtu: 0
        }
    );
    assert_eq!(q, p, "left untranslated, to be quoted");
    assert_eq!(w.counters().get(Counter::IcmpErrorsRequested), 1);
    // The limit reloads without a restart and without dropping sessions.
    let mut c = nat.config().clone();
    c.max_sessions_per_subscriber = 2;
    c.unconfirmed.max_sessions = 2;
    c.icmp_on_exhaustion = false;
    nat.reload(&c).unwrap();
    out(&mut w, udp(SUB_A, 5001, SERVER, 53, b""), at(1));
    assert_eq!(
        verdict(&mut w, Side::Inside, &udp(SUB_A, 5002, SERVER, 53, b""), at(1)),
        Verdict::Drop(DropReason::SessionLimit)
    );
    assert_eq!(nat.sessions().len(), 2);
}

//= https://www.rfc-editor.org/rfc/rfc6888#section-3
//# REQ-4: A CGN MUST support limiting the number of external ports (or,
//# equivalently, "identifiers" for ICMP) that are assigned per subscriber.
#[test]
fn rfc6888_req4_block_limit_caps_the_ports_of_a_subscriber() {
    let nat = nat("block_size = 16\nmax_blocks_per_subscriber = 1");
    let mut w = worker(&nat);
    let mut ports = Vec::new();
    for i in 0..16u16 {
        ports.push(out(&mut w, udp(SUB_A, 1000 + i, SERVER, 53, b""), at(0)).sport);
    }
    for i in 16..20u16 {
        assert_eq!(
            verdict(&mut w, Side::Inside, &udp(SUB_A, 1000 + i, SERVER, 53, b""), at(0)),
            Verdict::Drop(DropReason::BlockLimit)
        );
    }
    let events = w.sink_mut().clone();
    assert_eq!(of_kind(&events, EventKind::BlockAllocated).len(), 1);
    let q = of_kind(&events, EventKind::BlockQuotaExceeded);
    assert_eq!(q.len(), 1);
    assert_eq!((q[0].subscriber, q[0].aux), (SUB_A, 1));
    assert_eq!(w.counters().dropped(DropReason::BlockLimit), 4);
    // The ports are exactly the block's 16.
    let a = of_kind(&events, EventKind::BlockAllocated)[0];
    let mut sorted = ports.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (a.first_port..=a.last_port).collect::<Vec<_>>());
    // Each protocol has the block's ports to itself: TCP still works.
    out(&mut w, tcp(SUB_A, 1000, SERVER, 80, SYN, b""), at(0));
    // More sessions on an existing mapping need no port.
    out(&mut w, udp(SUB_A, 1000, SERVER2, 53, b""), at(0));
    assert_eq!(allocated_blocks(&nat), 1);
    check_invariants(&nat);
}

/// Pool exhaustion: every block of the (tiny) pool is held; a new
/// subscriber is refused, a subscriber needing another block too, and
/// every existing mapping keeps working (RFC 6888 REQ-11 d).
#[test]
fn rfc6888_req11_pool_exhausted_never_evicts() {
    let nat = nat("pool = [\"203.0.113.9/32\"]\nport_range = \"1024-1087\"\nblock_size = 16\nmax_blocks_per_subscriber = 4");
    let mut w = worker(&nat);
    let subs: Vec<Ipv4Addr> = (0..5).map(|i| Ipv4Addr::from(u32::from(SUB_A) + i)).collect();
    let mut flows = Vec::new();
    for s in &subs[..4] {
        flows.push((*s, out(&mut w, udp(*s, 7000, SERVER, 53, b""), at(0))));
    }
    assert_eq!(allocated_blocks(&nat), 4);
    assert_eq!(
        verdict(&mut w, Side::Inside, &udp(subs[4], 7000, SERVER, 53, b""), at(1)),
        Verdict::Drop(DropReason::PoolExhausted)
    );
    // A subscriber whose block is full cannot get a second one.
    for i in 1..16u16 {
        out(&mut w, udp(subs[0], 7000 + i, SERVER, 53, b""), at(1));
    }
    assert_eq!(
        verdict(&mut w, Side::Inside, &udp(subs[0], 9999, SERVER, 53, b""), at(1)),
        Verdict::Drop(DropReason::PoolExhausted)
    );
    assert_eq!(w.counters().dropped(DropReason::PoolExhausted), 2);
    let ev = of_kind(w.sink_mut(), EventKind::PoolExhausted);
    assert_eq!(ev.len(), 2);
    assert_eq!(ev[0].subscriber, subs[4]);
    assert_eq!((ev[1].subscriber, ev[1].public_addr), (subs[0], Ipv4Addr::new(203, 0, 113, 9)));
    for (s, f) in &flows {
        assert_eq!(out(&mut w, udp(*s, 7000, SERVER, 53, b""), at(2)).sport, f.sport);
        assert_eq!(inb(&mut w, udp(SERVER, 53, f.src, f.sport, b""), at(2)).dst, *s);
    }
    check_invariants(&nat);
}

/// The preallocated tables refuse new entries when full (the NAT cannot
/// be made to grow by a flood) and keep every existing one.
#[test]
fn global_table_limits() {
    // Sessions.
    let nat = nat("max_sessions = 4");
    let mut w = worker(&nat);
    let flows: Vec<View> = (0..4).map(|i| out(&mut w, udp(SUB_A, 5000, dest(i), 53, b""), at(0))).collect();
    assert_eq!(
        verdict(&mut w, Side::Inside, &udp(SUB_B, 5000, SERVER, 53, b""), at(0)),
        Verdict::Drop(DropReason::SessionTableFull)
    );
    assert_eq!(
        verdict(&mut w, Side::Outside, &udp(SERVER3, 9, flows[0].src, flows[0].sport, b""), at(0)),
        Verdict::Drop(DropReason::SessionTableFull),
        "an EIF inbound session needs a slot too"
    );
    let tf = of_kind(w.sink_mut(), EventKind::TableFull);
    assert!(!tf.is_empty());
    assert_eq!(tf[0].aux, TableId::Sessions as u64);
    for (i, f) in flows.iter().enumerate() {
        assert_eq!(inb(&mut w, udp(dest(i as u32), 53, f.src, f.sport, b""), at(1)).dst, SUB_A);
    }
    assert_eq!(nat.sessions().len(), 4);
    check_invariants(&nat);

    // Mappings.
    let nat = common::nat("max_mappings = 2");
    let mut w = worker(&nat);
    out(&mut w, udp(SUB_A, 1, SERVER, 53, b""), at(0));
    out(&mut w, udp(SUB_A, 2, SERVER, 53, b""), at(0));
    assert_eq!(
        verdict(&mut w, Side::Inside, &udp(SUB_A, 3, SERVER, 53, b""), at(0)),
        Verdict::Drop(DropReason::MappingTableFull)
    );
    out(&mut w, udp(SUB_A, 1, SERVER2, 53, b""), at(0));
    check_invariants(&nat);

    // Subscribers.
    let nat = common::nat("max_subscribers = 2");
    let mut w = worker(&nat);
    out(&mut w, udp(SUB_A, 1, SERVER, 53, b""), at(0));
    out(&mut w, udp(SUB_B, 1, SERVER, 53, b""), at(0));
    assert_eq!(
        verdict(&mut w, Side::Inside, &udp(SUB_C, 1, SERVER, 53, b""), at(0)),
        Verdict::Drop(DropReason::SubscriberTableFull)
    );
    assert_eq!(nat.subscribers().len(), 2);
    check_invariants(&nat);
}

/// NAT log rule: "a block is used only after its allocation record is
/// queued; if the log path is stalled, new blocks are refused (counted),
/// existing ones keep working" (design brief; RFC 6888 REQ-14 logging).
#[test]
fn stalled_log_refuses_new_blocks_but_existing_flows_translate() {
    let nat = nat("block_size = 16");
    let mut ok = worker(&nat);
    let a = out(&mut ok, udp(SUB_A, 5000, SERVER, 53, b""), at(0));
    let mut stalled: Worker<RefusingSink> = Worker::new(nat.clone(), 1, RefusingSink);
    // A new subscriber needs a block: refused.
    assert_eq!(
        verdict(&mut stalled, Side::Inside, &udp(SUB_B, 5000, SERVER, 53, b""), at(1)),
        Verdict::Drop(DropReason::LogStalled)
    );
    assert_eq!(stalled.counters().dropped(DropReason::LogStalled), 1);
    assert_eq!(allocated_blocks(&nat), 1, "the refused block went back to the pool");
    assert_eq!(nat.lookup_public(a.src, a.sport).unwrap().subscriber, SUB_A);
    // The existing flow, both ways, on the stalled worker.
    let o = out(&mut stalled, udp(SUB_A, 5000, SERVER, 53, b""), at(1));
    assert_eq!((o.src, o.sport), (a.src, a.sport));
    let i = inb(&mut stalled, udp(SERVER, 53, a.src, a.sport, b""), at(1));
    assert_eq!((i.dst, i.dport), (SUB_A, 5000));
    // New mappings inside SUB_A's logged block need no record: allowed.
    for p in 1..16u16 {
        let v = out(&mut stalled, udp(SUB_A, 5000 + p, SERVER, 53, b""), at(1));
        assert_eq!(v.src, a.src);
    }
    // The block is full; another one would need a record.
    assert_eq!(
        verdict(&mut stalled, Side::Inside, &udp(SUB_A, 6000, SERVER, 53, b""), at(1)),
        Verdict::Drop(DropReason::LogStalled)
    );
    assert_eq!(allocated_blocks(&nat), 1);
    check_invariants(&nat);
    // The working worker can still allocate (the refusal left no debris).
    let b = out(&mut ok, udp(SUB_B, 5000, SERVER, 53, b""), at(2));
    assert_eq!(nat.lookup_public(b.src, b.sport).unwrap().subscriber, SUB_B);
    assert_eq!(of_kind(ok.sink_mut(), EventKind::BlockAllocated).len(), 2);
    check_invariants(&nat);
}

/// The same with a real event ring that fills up: the fifth block waits
/// for the management core to drain a record.
#[test]
fn full_event_ring_refuses_new_blocks_until_drained() {
    let nat = nat("");
    let (tx, mut rx) = cgnat_core::ring::ring::<Event>(4);
    let mut w = Worker::new(nat.clone(), 3, tx);
    let subs: Vec<Ipv4Addr> = (0..6).map(|i| Ipv4Addr::from(u32::from(SUB_A) + 256 * i)).collect();
    let mut flows = Vec::new();
    for s in &subs[..4] {
        flows.push(out(&mut w, udp(*s, 1, SERVER, 53, b""), at(0)));
    }
    assert_eq!(
        verdict(&mut w, Side::Inside, &udp(subs[4], 1, SERVER, 53, b""), at(0)),
        Verdict::Drop(DropReason::LogStalled)
    );
    for (s, f) in subs.iter().zip(&flows) {
        assert_eq!(inb(&mut w, udp(SERVER, 53, f.src, f.sport, b""), at(0)).dst, *s);
    }
    // Drain one record: the next block is logged and used.
    let first = rx.pop().unwrap();
    assert_eq!(
        (first.kind, first.seq, first.worker, first.subscriber),
        (EventKind::BlockAllocated, 0, 3, subs[0])
    );
    out(&mut w, udp(subs[4], 1, SERVER, 53, b""), at(1));
    let mut rest = Vec::new();
    while let Some(e) = rx.pop() {
        rest.push(e);
    }
    let seqs: Vec<u64> = rest.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, vec![1, 2, 3, 4], "no gap: the refused record took no sequence number");
    assert_eq!(rest[3].subscriber, subs[4]);
    check_invariants(&nat);
}
