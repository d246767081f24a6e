//! Timers and the end of state: RFC 4787 REQ-5/REQ-6 (UDP), RFC 5382
//! REQ-5 (TCP established / transitory), RFC 5508 REQ-1 (ICMP), RFC 6888
//! REQ-8 (port hold-down), block release records, idle subscribers,
//! operator clears and shutdown.

mod common;

use std::net::Ipv4Addr;
use std::sync::Arc;

use cgnat_core::event::{EventKind, Reason, RefusingSink, MANAGEMENT_WORKER};
use cgnat_core::pool::BlockState;
use cgnat_core::sweeper::Sweeper;
use cgnat_core::{DropReason, Event, Nat, Side, Verdict};
use common::*;

/// Tables smaller than the default (every test here sweeps them whole,
/// often): the behaviour under test does not depend on their size.
const TABLES: &str = "max_sessions = 16384\nmax_mappings = 16384\nmax_subscribers = 1024\n";

fn tnat(extra: &str) -> Arc<Nat> {
    common::nat(&format!("{TABLES}{extra}"))
}

fn sweeper(nat: &Arc<Nat>) -> Sweeper<Vec<Event>> {
    Sweeper::new(nat.clone(), Vec::new())
}

fn allocated_blocks(nat: &Nat) -> usize {
    (0..nat.pool().block_count())
        .filter(|b| nat.pool().block_info(*b).state == BlockState::Allocated)
        .count()
}

//= https://www.rfc-editor.org/rfc/rfc4787#section-4.3
//# REQ-5: A NAT UDP mapping timer MUST NOT expire in less than two
//# minutes, unless REQ-5a applies. (...) The value of the NAT UDP mapping
//# timer MAY be configurable. A default value of five minutes or more for
//# the NAT UDP mapping timer is RECOMMENDED.
#[test]
fn rfc4787_req5_udp_mapping_lives_300_seconds_by_default() {
    let nat = tnat("");
    let mut w = worker(&nat);
    let mut s = sweeper(&nat);
    let o = out(&mut w, udp(SUB_A, 5000, SERVER, 53, b""), at(0));
    assert_eq!(s.sweep_all(at(120)).sessions_expired, 0, "REQ-5: not before two minutes");
    assert_eq!(s.sweep_all(at(299)).sessions_expired, 0);
    assert_eq!(nat.sessions().len(), 1);
    assert_eq!(inb(&mut w, udp(SERVER, 53, o.src, o.sport, b""), at(299)).dst, SUB_A);
    let st = s.sweep_all(at(301));
    assert_eq!(
        (st.sessions_expired, st.mappings_freed, st.blocks_released, st.subscribers_removed),
        (1, 1, 1, 1)
    );
    assert_eq!((nat.sessions().len(), nat.mappings().len(), nat.subscribers().len()), (0, 0, 0));
    assert_eq!(
        verdict(&mut w, Side::Outside, &udp(SERVER, 53, o.src, o.sport, b""), at(302)),
        Verdict::Drop(DropReason::NoMapping)
    );
    assert_eq!(nat.lookup_public(o.src, o.sport), None);
    check_invariants(&nat);
}

/// The UDP timer is configurable (not below 120 s, REQ-5) and a reload
/// applies to existing sessions.
#[test]
fn rfc4787_req5_configured_and_reloaded_udp_timer() {
    let nat = tnat("[timeouts]\nudp = 120");
    let mut w = worker(&nat);
    let mut s = sweeper(&nat);
    out(&mut w, udp(SUB_A, 5000, SERVER, 53, b""), at(0));
    out(&mut w, udp(SUB_B, 5000, SERVER, 53, b""), at(100));
    assert_eq!(s.sweep_all(at(119)).sessions_expired, 0);
    assert_eq!(s.sweep_all(at(121)).sessions_expired, 1);
    let mut c = nat.config().clone();
    c.timeouts.udp = 600;
    nat.reload(&c).unwrap();
    assert_eq!(
        s.sweep_all(at(699)).sessions_expired,
        0,
        "the new timer applies to the live session"
    );
    assert_eq!(s.sweep_all(at(701)).sessions_expired, 1);
    assert!(common::config("[timeouts]\nudp = 119").validate().is_err(), "REQ-5 floor enforced");
}

//= https://www.rfc-editor.org/rfc/rfc4787#section-4.3
//# REQ-6: The NAT mapping Refresh Direction MUST have a "NAT Outbound
//# refresh behavior" of "True".
#[test]
fn rfc4787_req6_outbound_traffic_refreshes_inbound_does_not() {
    let nat = tnat("");
    let mut w = worker(&nat);
    let mut s = sweeper(&nat);
    let a = out(&mut w, udp(SUB_A, 5000, SERVER, 53, b""), at(0));
    let b = out(&mut w, udp(SUB_B, 5000, SERVER, 53, b""), at(0));
    // A refreshes outbound; B only receives.
    out(&mut w, udp(SUB_A, 5000, SERVER, 53, b""), at(200));
    for t in [100, 200, 290] {
        inb(&mut w, udp(SERVER, 53, b.src, b.sport, b""), at(t));
    }
    s.sweep_all(at(301));
    assert!(nat.lookup_public(a.src, a.sport).is_some(), "refreshed at 200");
    assert_eq!(nat.lookup_public(b.src, b.sport), None, "B expired despite inbound traffic");
    assert_eq!(nat.sessions().len(), 1, "inbound packets did not refresh B");
    s.sweep_all(at(499));
    assert_eq!(nat.sessions().len(), 1);
    s.sweep_all(at(501));
    assert_eq!(nat.sessions().len(), 0);
}

//= https://www.rfc-editor.org/rfc/rfc5382#section-5
//# REQ-5: If a NAT cannot determine whether the endpoints of a TCP
//# connection are active, it MAY abandon the session if it has been idle
//# for some time. In such cases, the value of the "established connection
//# idle-timeout" MUST NOT be less than 2 hours 4 minutes. The value of the
//# "transitory connection idle-timeout" MUST NOT be less than 4 minutes.
#[test]
fn rfc5382_req5_tcp_established_and_transitory_timers() {
    let nat = tnat("");
    let mut w = worker(&nat);
    let mut s = sweeper(&nat);
    // A SYN nobody answers: transitory.
    out(&mut w, tcp(SUB_A, 1, SERVER, 80, SYN, b""), at(0));
    // A full handshake: established.
    let h = out(&mut w, tcp(SUB_B, 2, SERVER, 80, SYN, b""), at(0));
    inb(&mut w, tcp(SERVER, 80, h.src, h.sport, SYN | ACK, b""), at(0));
    out(&mut w, tcp(SUB_B, 2, SERVER, 80, ACK, b""), at(0));
    assert_eq!(s.sweep_all(at(239)).sessions_expired, 0);
    assert_eq!(s.sweep_all(at(241)).sessions_expired, 1, "half-open session gone after 4 minutes");
    assert!(nat.lookup_public(h.src, h.sport).is_some());
    assert_eq!(s.sweep_all(at(7000)).sessions_expired, 0, "established survives 7000 s of silence");
    // For TCP, inbound activity counts too.
    inb(&mut w, tcp(SERVER, 80, h.src, h.sport, ACK | PSH, b"keepalive"), at(7000));
    assert_eq!(s.sweep_all(at(7000 + 7439)).sessions_expired, 0);
    assert_eq!(s.sweep_all(at(7000 + 7441)).sessions_expired, 1, "2 h 4 min idle");
    check_invariants(&nat);
}

//= https://www.rfc-editor.org/rfc/rfc7857#section-2.2
//# a NAT SHOULD NOT immediately delete the session upon receiving a TCP
//# RST; it SHOULD use the transitory connection idle-timeout
//
// RST and FIN move an established session to the transitory timer.
#[test]
fn rfc7857_rst_and_fin_make_a_session_transitory() {
    let nat = tnat("");
    let mut w = worker(&nat);
    let mut s = sweeper(&nat);
    let mut publics = Vec::new();
    for (sub, close_flags, from_outside) in [(SUB_A, RST, true), (SUB_B, FIN | ACK, false), (SUB_C, RST | ACK, false)] {
        let h = out(&mut w, tcp(sub, 1, SERVER, 80, SYN, b""), at(0));
        inb(&mut w, tcp(SERVER, 80, h.src, h.sport, SYN | ACK, b""), at(0));
        out(&mut w, tcp(sub, 1, SERVER, 80, ACK, b""), at(0));
        if from_outside {
            inb(&mut w, tcp(SERVER, 80, h.src, h.sport, close_flags, b""), at(10));
        } else {
            out(&mut w, tcp(sub, 1, SERVER, 80, close_flags, b""), at(10));
        }
        publics.push(h);
    }
    assert_eq!(s.sweep_all(at(10 + 239)).sessions_expired, 0, "not deleted at once");
    // Still translated meanwhile (a retransmitted RST must get through).
    let a = &publics[0];
    assert_eq!(inb(&mut w, tcp(SERVER, 80, a.src, a.sport, RST, b""), at(100)).dst, SUB_A);
    assert_eq!(s.sweep_all(at(100 + 241)).sessions_expired, 3);
    // An inbound SYN creating a session (EIF) with no answer is transitory.
    let u = out(&mut w, tcp(SUB_A, 7, SERVER, 80, SYN, b""), at(400));
    inb(&mut w, tcp(SERVER, 80, u.src, u.sport, SYN | ACK, b""), at(400));
    out(&mut w, tcp(SUB_A, 7, SERVER, 80, ACK, b""), at(400));
    let syn_in = inb(&mut w, tcp(SERVER2, 9, u.src, u.sport, SYN, b""), at(400));
    assert_eq!(syn_in.dport, 7);
    assert_eq!(s.sweep_all(at(400 + 241)).sessions_expired, 1, "the unanswered inbound SYN");
    assert_eq!(nat.sessions().len(), 1, "the established one stays");
    check_invariants(&nat);
}

//= https://www.rfc-editor.org/rfc/rfc5508#section-3.2
//# REQ-1: An ICMP Query session timer MUST NOT expire in less than 60
//# seconds.
#[test]
fn rfc5508_req1_icmp_query_timer_60_seconds() {
    let nat = tnat("");
    let mut w = worker(&nat);
    let mut s = sweeper(&nat);
    let e = out(&mut w, echo_request(SUB_A, SERVER, 1, 1, b""), at(0));
    assert_eq!(s.sweep_all(at(59)).sessions_expired, 0);
    inb(&mut w, echo_reply(SERVER, e.src, e.sport, 1, b""), at(59));
    assert_eq!(s.sweep_all(at(61)).sessions_expired, 1);
    assert_eq!(
        verdict(&mut w, Side::Outside, &echo_reply(SERVER, e.src, e.sport, 1, b""), at(62)),
        Verdict::Drop(DropReason::NoMapping)
    );
}

//= https://www.rfc-editor.org/rfc/rfc6888#section-3
//# REQ-8: Once an external port is deallocated, it SHOULD NOT be
//# reallocated to a new mapping until at least 120 seconds have passed
//
// The block whose last session expired is released with exactly one
// record, is not handed to anyone during the hold-down, and is handed out
// again after it.
#[test]
fn rfc6888_req8_released_block_logged_once_and_held_down() {
    // One address, two blocks.
    let nat = tnat("pool = [\"203.0.113.9/32\"]\nport_range = \"1024-1055\"\nblock_size = 16");
    let mut w = worker(&nat);
    let mut s = sweeper(&nat);
    let a = out(&mut w, udp(SUB_A, 5000, SERVER, 53, b""), at(0));
    let alloc = of_kind(w.sink_mut(), EventKind::BlockAllocated)[0];
    let st = s.sweep_all(at(301));
    assert_eq!(st.blocks_released, 1);
    let rel = of_kind(s.sink_mut(), EventKind::BlockReleased);
    assert_eq!(rel.len(), 1);
    let r = rel[0];
    assert_eq!(
        (
            r.subscriber,
            r.public_addr,
            r.first_port,
            r.last_port,
            r.reason,
            r.time,
            r.worker,
            r.seq
        ),
        (
            SUB_A,
            a.src,
            alloc.first_port,
            alloc.last_port,
            Reason::Idle,
            at(301),
            MANAGEMENT_WORKER,
            0
        )
    );
    // Sweeping again logs nothing more.
    s.sweep_all(at(302));
    assert_eq!(s.sink_mut().len(), 1);
    // B gets the other block; C finds nothing during the hold-down.
    let b = out(&mut w, udp(SUB_B, 5000, SERVER, 53, b""), at(302));
    assert!(!(alloc.first_port..=alloc.last_port).contains(&b.sport), "not the held-down block");
    for t in [303, 420] {
        assert_eq!(
            verdict(&mut w, Side::Inside, &udp(SUB_C, 5000, SERVER, 53, b""), at(t)),
            Verdict::Drop(DropReason::PoolExhausted),
            "at +{t}"
        );
    }
    // After 120 s it is reused, with a fresh allocation record.
    let c = out(&mut w, udp(SUB_C, 5000, SERVER, 53, b""), at(422));
    assert!((alloc.first_port..=alloc.last_port).contains(&c.sport));
    let allocs = of_kind(w.sink_mut(), EventKind::BlockAllocated);
    assert_eq!(allocs.len(), 3);
    assert_eq!((allocs[2].subscriber, allocs[2].first_port), (SUB_C, alloc.first_port));
    check_invariants(&nat);

    // With block_hold_down = 0 the block is reusable at once.
    let nat = tnat("pool = [\"203.0.113.9/32\"]\nport_range = \"1024-1039\"\nblock_size = 16\nblock_hold_down = 0");
    let mut w = worker(&nat);
    let mut s = sweeper(&nat);
    out(&mut w, udp(SUB_A, 5000, SERVER, 53, b""), at(0));
    s.sweep_all(at(301));
    out(&mut w, udp(SUB_B, 5000, SERVER, 53, b""), at(301));
}

/// A block keeps its subscriber while any mapping in it lives; the
/// subscriber entry goes with its last block and session.
#[test]
fn block_and_subscriber_live_while_any_mapping_lives() {
    let nat = tnat("");
    let mut w = worker(&nat);
    let mut s = sweeper(&nat);
    let a1 = out(&mut w, udp(SUB_A, 1, SERVER, 53, b""), at(0));
    let a2 = out(&mut w, tcp(SUB_A, 2, SERVER, 80, SYN, b""), at(200));
    s.sweep_all(at(301));
    assert_eq!(nat.sessions().len(), 1);
    assert!(nat.lookup_public(a1.src, a1.sport).is_some(), "block still held by the TCP mapping");
    assert!(nat.lookup_public(a1.src, a1.sport).unwrap().mappings.is_empty());
    assert_eq!(nat.subscribers().len(), 1);
    assert_eq!(of_kind(s.sink_mut(), EventKind::BlockReleased).len(), 0);
    s.sweep_all(at(200 + 241));
    assert_eq!(nat.lookup_public(a2.src, a2.sport), None);
    assert_eq!(nat.subscribers().len(), 0);
    assert_eq!(of_kind(s.sink_mut(), EventKind::BlockReleased).len(), 1);
}

/// The sweeper works in bounded slices; many small slices do the work of
/// one full sweep.
#[test]
fn bounded_sweeps_expire_everything_eventually() {
    let nat = common::nat("max_sessions = 4096\nmax_subscribers = 256\nmax_mappings = 4096");
    let mut w = worker(&nat);
    let mut s = sweeper(&nat);
    for i in 0..1000u32 {
        let sub = Ipv4Addr::from(u32::from(SUB_A) + i % 50);
        out(&mut w, udp(sub, 1000 + (i / 50) as u16, SERVER, 53, b""), at(0));
    }
    assert_eq!(nat.sessions().len(), 1000);
    let mut total = 0;
    for _ in 0..(nat.sessions().slots() / 64 + 2) {
        let st = s.sweep(at(400), 64);
        total += st.sessions_expired;
    }
    assert_eq!(total, 1000);
    for _ in 0..64 {
        s.sweep(at(400), 64);
    }
    assert_eq!((nat.sessions().len(), nat.mappings().len(), nat.subscribers().len()), (0, 0, 0));
    assert_eq!(allocated_blocks(&nat), 0);
    assert_eq!(
        of_kind(s.sink_mut(), EventKind::BlockReleased).len(),
        of_kind(w.sink_mut(), EventKind::BlockAllocated).len()
    );
}

/// Never release without a record: with a stalled log the sweeper expires
/// sessions but keeps the empty block allocated (and attributable) until
/// the release can be logged.
#[test]
fn release_deferred_while_the_log_is_stalled() {
    let nat = tnat("");
    let mut w = worker(&nat);
    let a = out(&mut w, udp(SUB_A, 1, SERVER, 53, b""), at(0));
    let mut stalled = Sweeper::new(nat.clone(), RefusingSink);
    let st = stalled.sweep_all(at(301));
    assert_eq!((st.sessions_expired, st.blocks_released), (1, 0));
    assert!(st.releases_deferred >= 1);
    assert_eq!(allocated_blocks(&nat), 1);
    assert_eq!(nat.lookup_public(a.src, a.sport).unwrap().subscriber, SUB_A, "still attributable");
    // The subscriber may use its block meanwhile.
    let again = out(&mut w, udp(SUB_A, 1, SERVER, 53, b""), at(302));
    assert_eq!(again.src, a.src);
    let mut s = sweeper(&nat);
    s.sweep_all(at(302 + 301));
    assert_eq!(of_kind(s.sink_mut(), EventKind::BlockReleased).len(), 1);
    assert_eq!(allocated_blocks(&nat), 0);
}

/// `cgnatctl clear --subscriber` / `--public`: targeted, logged with
/// reason `cleared`, nobody else touched.
#[test]
fn clear_subscriber_and_clear_public_are_targeted() {
    let nat = tnat("");
    let mut w = worker(&nat);
    let mut s = sweeper(&nat);
    let a1 = out(&mut w, udp(SUB_A, 1, SERVER, 53, b""), at(0));
    out(&mut w, udp(SUB_A, 1, SERVER2, 53, b""), at(0));
    let a2 = out(&mut w, tcp(SUB_A, 2, SERVER, 80, SYN, b""), at(0));
    let b = out(&mut w, udp(SUB_B, 1, SERVER, 53, b""), at(0));
    let c = out(&mut w, udp(SUB_C, 1, SERVER, 53, b""), at(0));
    assert_eq!(nat.sessions().len(), 5);

    // --public on one of A's ports: only the two sessions of that mapping.
    let st = s.clear_public(a1.src, a1.sport, at(10));
    assert_eq!((st.sessions_expired, st.mappings_freed, st.blocks_released), (2, 1, 0));
    assert_eq!(nat.sessions().len(), 3);
    assert_eq!(out(&mut w, tcp(SUB_A, 2, SERVER, 80, ACK, b""), at(11)).sport, a2.sport);
    assert!(s.sink_mut().is_empty(), "block still in use: no release");
    // --subscriber A: its remaining session and its block.
    let st = s.clear_subscriber(SUB_A, at(12));
    assert_eq!((st.sessions_expired, st.blocks_released), (1, 1));
    let rel = of_kind(s.sink_mut(), EventKind::BlockReleased);
    assert_eq!((rel.len(), rel[0].subscriber, rel[0].reason), (1, SUB_A, Reason::Cleared));
    assert_eq!(nat.lookup_public(a2.src, a2.sport), None);
    // B and C untouched.
    assert_eq!(nat.sessions().len(), 2);
    assert_eq!(inb(&mut w, udp(SERVER, 53, b.src, b.sport, b""), at(13)).dst, SUB_B);
    assert_eq!(inb(&mut w, udp(SERVER, 53, c.src, c.sport, b""), at(13)).dst, SUB_C);
    // Clearing what does not exist does nothing.
    assert_eq!(s.clear_subscriber(Ipv4Addr::new(100, 64, 9, 9), at(14)).sessions_expired, 0);
    assert_eq!(s.clear_public(SERVER, 80, at(14)).sessions_expired, 0);
    assert_eq!(nat.sessions().len(), 2);
    check_invariants(&nat);
}

/// Clean shutdown closes every open block in the log.
#[test]
fn shutdown_releases_every_block_with_reason_shutdown() {
    let nat = tnat("block_size = 64");
    let mut w = worker(&nat);
    let mut s = sweeper(&nat);
    for i in 0..20u32 {
        let sub = Ipv4Addr::from(u32::from(SUB_A) + i);
        for p in 0..(1 + i as u16 * 7) {
            out(&mut w, udp(sub, 1000 + p, SERVER, 53, b""), at(0));
        }
    }
    let allocs = of_kind(w.sink_mut(), EventKind::BlockAllocated);
    assert!(allocs.len() > 20, "some subscribers hold several blocks");
    let st = s.shutdown(at(50));
    assert_eq!(st.blocks_released as usize, allocs.len());
    let rel = of_kind(s.sink_mut(), EventKind::BlockReleased);
    assert_eq!(rel.len(), allocs.len());
    assert!(rel.iter().all(|e| e.reason == Reason::Shutdown && e.time == at(50)));
    let mut a: Vec<_> = allocs.iter().map(|e| (e.subscriber, e.public_addr, e.first_port)).collect();
    let mut r: Vec<_> = rel.iter().map(|e| (e.subscriber, e.public_addr, e.first_port)).collect();
    a.sort();
    r.sort();
    assert_eq!(a, r, "every allocation has its release");
    assert_eq!((nat.sessions().len(), nat.mappings().len()), (0, 0));
    assert_eq!(allocated_blocks(&nat), 0);
    check_invariants(&nat);
}
