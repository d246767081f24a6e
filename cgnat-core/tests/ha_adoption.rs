//! Issue 13 items 2 and 3: the sessions a worker creates reach the HA sync
//! ring, and a node taking over adopts them so that established flows
//! continue "on the same public address:port": the new active translates
//! the flow's next packets exactly as the old one did, both ways, and its
//! tables keep the NAT's invariants. The two nodes have different seeds,
//! so without adoption they would choose other addresses and ports.

mod common;

use std::net::Ipv4Addr;
use std::sync::Arc;

use cgnat_core::counters::Counter;
use cgnat_core::event::{EventKind, Reason};
use cgnat_core::ring::ring;
use cgnat_core::translate::{entry_record, AdoptError};
use cgnat_core::wire::ha::{SessionRecord, SESSION_INBOUND};
use cgnat_core::{Nat, Worker};
use common::*;

fn standby_nat() -> Arc<Nat> {
    Arc::new(Nat::new(config(""), 0xdead_beef).unwrap())
}

/// Sessions of three subscribers over every protocol, one of them created
/// by an inbound packet (endpoint-independent filtering lets it in).
fn traffic(w: &mut Worker<Vec<cgnat_core::Event>>) -> Vec<(Ipv4Addr, u16)> {
    let mut publics = Vec::new();
    let v = out(w, udp(SUB_A, 5000, SERVER, 53, b"q"), at(0));
    publics.push((v.src, v.sport));
    let v = out(w, tcp(SUB_B, 40000, SERVER, 443, SYN, b""), at(0));
    inb(w, tcp(SERVER, 443, v.src, v.sport, SYN | ACK, b""), at(0));
    out(w, tcp(SUB_B, 40000, SERVER, 443, ACK, b""), at(0));
    publics.push((v.src, v.sport));
    let v = out(w, echo_request(SUB_C, SERVER, 77, 1, b"ping"), at(0));
    publics.push((v.src, v.sport));
    // A second remote reaches SUB_A's UDP mapping: an inbound session.
    let (pa, pp) = publics[0];
    let back = inb(w, udp(SERVER2, 9999, pa, pp, b"hello"), at(1));
    assert_eq!((back.dst, back.dport), (SUB_A, 5000));
    publics
}

#[test]
fn every_new_session_reaches_the_sync_ring_with_its_public_endpoint() {
    let nat = nat("");
    let mut w = worker(&nat);
    let (tx, mut rx) = ring::<SessionRecord>(64);
    w.set_ha_sync(tx);
    let publics = traffic(&mut w);
    let mut records = Vec::new();
    while let Some(r) = rx.pop() {
        records.push(r);
    }
    assert_eq!(records.len(), 4, "udp, tcp, icmp and the inbound session: {records:?}");
    for (r, (addr, port)) in records.iter().zip(&publics) {
        assert_eq!((r.public, r.public_port), (*addr, *port));
    }
    assert_eq!(records[3].flags & SESSION_INBOUND, SESSION_INBOUND);
    assert_eq!((records[3].remote, records[3].remote_port), (SERVER2, 9999));
}

#[test]
fn a_full_sync_ring_is_counted_never_silent() {
    let nat = nat("");
    let mut w = worker(&nat);
    let (tx, _rx) = ring::<SessionRecord>(2);
    w.set_ha_sync(tx);
    traffic(&mut w);
    assert!(w.counters().get(Counter::HaSyncRingFull) >= 2);
}

#[test]
fn a_node_taking_over_continues_every_flow_on_the_same_public_endpoint() {
    let active = nat("");
    let mut w = worker(&active);
    let publics = traffic(&mut w);
    // The standby's mirror: the active's sessions (from its table walk).
    let mut mirror: Vec<SessionRecord> = live_sessions(&active).iter().map(|e| entry_record(&active, e, at(2))).collect();
    mirror.sort_by_key(|r| r.flags & SESSION_INBOUND);
    assert_eq!(mirror.len(), 4);

    let standby = standby_nat();
    let mut adopt: Worker<Vec<cgnat_core::Event>> = Worker::new(standby.clone(), u16::MAX, Vec::new());
    for r in &mirror {
        assert_eq!(adopt.ha_adopt_session(r, at(3)), Ok(true), "{r:?}");
        assert_eq!(adopt.ha_adopt_session(r, at(3)), Ok(false), "adopting twice changes nothing");
    }
    check_invariants(&standby);
    let allocs: Vec<_> = adopt
        .sink_mut()
        .iter()
        .filter(|e| e.kind == EventKind::BlockAllocated)
        .copied()
        .collect();
    assert_eq!(allocs.len(), 3, "one block per subscriber, each logged by the new active");
    assert!(allocs.iter().all(|e| e.reason == Reason::HaTakeover));

    // The new active's data path: the same public endpoints both ways.
    let mut w2 = Worker::new(standby.clone(), 0, Vec::new());
    let v = out(&mut w2, udp(SUB_A, 5000, SERVER, 53, b"q2"), at(4));
    assert_eq!((v.src, v.sport), publics[0]);
    let back = inb(&mut w2, udp(SERVER, 53, publics[0].0, publics[0].1, b"a"), at(4));
    assert_eq!((back.dst, back.dport), (SUB_A, 5000));
    let back = inb(&mut w2, udp(SERVER2, 9999, publics[0].0, publics[0].1, b"again"), at(4));
    assert_eq!((back.dst, back.dport), (SUB_A, 5000), "the inbound session came along");
    let v = out(&mut w2, tcp(SUB_B, 40000, SERVER, 443, ACK | PSH, b"data"), at(4));
    assert_eq!((v.src, v.sport), publics[1], "the established TCP connection continues");
    let back = inb(&mut w2, tcp(SERVER, 443, publics[1].0, publics[1].1, ACK, b"ok"), at(4));
    assert_eq!((back.dst, back.dport), (SUB_B, 40000));
    let v = out(&mut w2, echo_request(SUB_C, SERVER, 77, 2, b"ping"), at(4));
    assert_eq!((v.src, v.sport), publics[2]);
    assert_eq!(w2.counters().get(Counter::SessionsCreated), 0, "no flow had to start over");
    check_invariants(&standby);
}

#[test]
fn what_cannot_be_adopted_is_refused_with_its_reason() {
    let standby = standby_nat();
    let mut adopt: Worker<Vec<cgnat_core::Event>> = Worker::new(standby.clone(), u16::MAX, Vec::new());
    let base = SessionRecord {
        protocol: 17,
        state: 0,
        flags: 0,
        subscriber: SUB_A,
        inside_port: 5000,
        public: Ipv4Addr::new(192, 0, 2, 99),
        public_port: 20000,
        remote: SERVER,
        remote_port: 53,
        last_seen_us: 0,
    };
    assert_eq!(adopt.ha_adopt_session(&base, at(0)), Err(AdoptError::NotInPool));
    let pool: Vec<Ipv4Addr> = (0..standby.pool().size())
        .map(|i| Ipv4Addr::from(standby.pool().addr_of(i)))
        .collect();
    let ok = SessionRecord { public: pool[0], ..base };
    assert_eq!(adopt.ha_adopt_session(&ok, at(0)), Ok(true));
    let elsewhere = SessionRecord {
        public: pool[1],
        inside_port: 5001,
        ..base
    };
    assert_eq!(adopt.ha_adopt_session(&elsewhere, at(0)), Err(AdoptError::SubscriberElsewhere));
    let taken = SessionRecord { subscriber: SUB_B, ..ok };
    assert_eq!(
        adopt.ha_adopt_session(&taken, at(0)),
        Err(AdoptError::BlockTaken),
        "another subscriber's block"
    );
    let remap = SessionRecord {
        public_port: ok.public_port + 1,
        remote: SERVER2,
        ..ok
    };
    assert_eq!(adopt.ha_adopt_session(&remap, at(0)), Err(AdoptError::MappingConflict));
    check_invariants(&standby);
}

//= issue 13 item 5
//# Deterministic mode needs no block sync for attribution; sessions are
//# still synced for continuity.
#[test]
fn deterministic_mode_adopts_sessions_with_no_block_record() {
    const DET: &str = "mode = \"deterministic\"\ninside_prefixes = [\"100.64.0.0/24\"]\npool = [\"203.0.113.0/30\"]\n";
    let sub = Ipv4Addr::new(100, 64, 0, 10);
    let active = nat(DET);
    let mut w = worker(&active);
    let v = out(&mut w, udp(sub, 5000, SERVER, 53, b"q"), at(0));
    let mirror: Vec<SessionRecord> = live_sessions(&active).iter().map(|e| entry_record(&active, e, at(1))).collect();
    let standby = Arc::new(Nat::new(config(DET), 99).unwrap());
    let mut adopt: Worker<Vec<cgnat_core::Event>> = Worker::new(standby.clone(), u16::MAX, Vec::new());
    for r in &mirror {
        assert_eq!(adopt.ha_adopt_session(r, at(2)), Ok(true));
    }
    assert!(
        adopt.sink_mut().iter().all(|e| e.kind != EventKind::BlockAllocated),
        "the formula attributes the ports (RFC 7422): nothing to log"
    );
    let mut w2 = Worker::new(standby.clone(), 0, Vec::new());
    let back = inb(&mut w2, udp(SERVER, 53, v.src, v.sport, b"a"), at(3));
    assert_eq!((back.dst, back.dport), (sub, 5000), "the flow continues on the new node");
    check_invariants(&standby);
}
