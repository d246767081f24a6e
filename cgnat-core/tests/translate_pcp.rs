//! PCP MAP mappings on the NAT side (RFC 6887 section 11; issue 12 item
//! 2, decision 017): the port comes from the subscriber's own logged
//! blocks, an existing mapping of the endpoint is reused, the hold keeps
//! the port without sessions, inbound packets get in whatever the
//! filtering behaviour, and deleting the hold frees the port with its last
//! session.

mod common;

use std::net::Ipv4Addr;

use cgnat_core::pool::BlockState;
use cgnat_core::sweeper::Sweeper;
use cgnat_core::{DropReason, Event, EventKind, PcpRefusal, Protocol, Side, Verdict};
use common::*;

/// The strictest filtering, so that only the PCP mapping can let an
/// unsolicited packet in.
fn strict() -> std::sync::Arc<cgnat_core::Nat> {
    nat("filtering = \"address-and-port-dependent\"")
}

/// The owner of the block holding public `addr`:`port`, per the pool.
fn block_owner(nat: &cgnat_core::Nat, addr: Ipv4Addr, port: u16) -> Option<(BlockState, Ipv4Addr)> {
    let pool = nat.pool();
    let pi = pool.index_of(u32::from(addr))?;
    let b = pool.block_of(pi, port)?;
    pool.owner_of(b).map(|(s, o)| (s, Ipv4Addr::from(o)))
}

//= https://www.rfc-editor.org/rfc/rfc6887#section-11
//# The MAP Opcode allows a PCP client to create an explicit inbound
//# mapping between an Internal Address + Port and an External Address +
//# Port.
//
// RFC 6888 REQ-9: "A CGN MUST implement a protocol giving subscribers
// explicit control over NAT mappings."
#[test]
fn a_map_lets_unsolicited_inbound_traffic_reach_the_subscriber() {
    let nat = strict();
    let mut w = worker(&nat);
    // Without a mapping nothing gets in.
    let grant = w.pcp_map(Protocol::Tcp, SUB_A, 8080, at(0)).unwrap();
    assert!(grant.created);
    assert_eq!(grant.pending_block, None, "this NAT does not wait for a durable log");
    // A remote the subscriber never contacted reaches it.
    let v = inb(&mut w, tcp(SERVER3, 40000, grant.public_addr, grant.public_port, SYN, b""), at(1));
    assert_eq!((v.dst, v.dport, v.src, v.sport), (SUB_A, 8080, SERVER3, 40000));
    // The subscriber's answer leaves on the same public endpoint.
    let v = out(&mut w, tcp(SUB_A, 8080, SERVER3, 40000, SYN | ACK, b""), at(1));
    assert_eq!((v.src, v.sport), (grant.public_addr, grant.public_port));
    // Another port of the same address stays closed (the strict filtering).
    let other = tcp(SERVER3, 40000, grant.public_addr, grant.public_port.wrapping_add(1), SYN, b"");
    assert!(matches!(verdict(&mut w, Side::Outside, &other, at(2)), Verdict::Drop(_)));
    check_invariants(&nat);
}

/// Issue 12 item 2: "a MAP mapping's external port comes from the
/// subscriber's own blocks ... so the NAT log's block records still
/// attribute every port".
#[test]
fn the_port_lies_in_a_logged_block_of_the_subscriber() {
    let nat = strict();
    let mut w = worker(&nat);
    let g = w.pcp_map(Protocol::Udp, SUB_A, 5000, at(0)).unwrap();
    assert_eq!(
        block_owner(&nat, g.public_addr, g.public_port),
        Some((BlockState::Allocated, SUB_A))
    );
    let events: &Vec<Event> = w.sink_mut();
    let allocs = of_kind(events, EventKind::BlockAllocated);
    assert!(
        allocs
            .iter()
            .any(|e| e.subscriber == SUB_A && e.public_addr == g.public_addr && (e.first_port..=e.last_port).contains(&g.public_port)),
        "a block-alloc record of {SUB_A} covers {}:{}: {allocs:?}",
        g.public_addr,
        g.public_port
    );
}

//= https://www.rfc-editor.org/rfc/rfc6887#section-11.3
//# If the PCP client is requesting a mapping for an internal address and
//# port that already has an implicit dynamic mapping, the PCP server
//# uses that mapping.
#[test]
fn an_existing_mapping_of_the_endpoint_is_reused_and_a_refresh_takes_nothing_more() {
    let nat = strict();
    let mut w = worker(&nat);
    let v = out(&mut w, udp(SUB_A, 6000, SERVER, 53, b"q"), at(0));
    let g = w.pcp_map(Protocol::Udp, SUB_A, 6000, at(1)).unwrap();
    assert_eq!((g.public_addr, g.public_port), (v.src, v.sport));
    assert!(g.created);
    let again = w.pcp_map(Protocol::Udp, SUB_A, 6000, at(2)).unwrap();
    assert_eq!(
        (again.public_addr, again.public_port, again.created),
        (g.public_addr, g.public_port, false)
    );
    assert_eq!(nat.mappings().len(), 1);
    let pool = nat.pool();
    let pi = pool.index_of(u32::from(g.public_addr)).unwrap();
    let b = pool.block_of(pi, g.public_port).unwrap();
    let entry = pool.port(Protocol::Udp, b, g.public_port);
    assert!(entry.is_pcp());
    assert_eq!(entry.mapping(), Some((6000, 2)), "one session and the hold, refreshed once");
    check_invariants(&nat);
}

/// The hold keeps the port while no session uses it; deleting it (RFC 6887
/// section 15: lifetime 0, or the lifetime running out) frees the port with
/// the mapping's last session.
#[test]
fn the_hold_outlives_sessions_and_its_deletion_frees_the_port() {
    let nat = strict();
    let mut w = worker(&nat);
    let mut sweeper = Sweeper::new(nat.clone(), Vec::<Event>::new());
    let g = w.pcp_map(Protocol::Udp, SUB_A, 7000, at(0)).unwrap();
    let _ = inb(&mut w, udp(SERVER, 1111, g.public_addr, g.public_port, b"x"), at(1));
    assert_eq!(nat.sessions().len(), 1);
    // Long after the session's timeout: the session is gone, the mapping
    // and its block stay.
    sweeper.sweep_all(at(10_000));
    assert_eq!(nat.sessions().len(), 0);
    assert_eq!(nat.mappings().len(), 1);
    assert_eq!(
        block_owner(&nat, g.public_addr, g.public_port),
        Some((BlockState::Allocated, SUB_A))
    );
    let v = inb(&mut w, udp(SERVER2, 2222, g.public_addr, g.public_port, b"y"), at(10_001));
    assert_eq!((v.dst, v.dport), (SUB_A, 7000));
    // Deleted while a session lives: the session keeps the port.
    assert!(w.pcp_unmap(Protocol::Udp, SUB_A, 7000));
    assert!(!w.pcp_unmap(Protocol::Udp, SUB_A, 7000), "once");
    assert_eq!(nat.mappings().len(), 1);
    check_invariants(&nat);
    // The session expires: the port is free, unsolicited traffic filtered.
    sweeper.sweep_all(at(20_000));
    assert_eq!((nat.sessions().len(), nat.mappings().len()), (0, 0));
    let late = udp(SERVER2, 2222, g.public_addr, g.public_port, b"z");
    assert_eq!(
        verdict(&mut w, Side::Outside, &late, at(20_001)),
        Verdict::Drop(DropReason::NoMapping)
    );
    check_invariants(&nat);
}

/// Issue 12 item 2: "the request's source must be the subscriber's inside
/// address (no mapping for another subscriber)": the NAT side refuses
/// addresses outside the inside prefixes and protocols without ports.
#[test]
fn outside_addresses_and_icmp_are_refused() {
    let nat = strict();
    let mut w = worker(&nat);
    assert_eq!(w.pcp_map(Protocol::Udp, SERVER, 53, at(0)), Err(PcpRefusal::NotInside));
    assert_eq!(w.pcp_map(Protocol::Icmp, SUB_A, 1, at(0)), Err(PcpRefusal::UnsupportedProtocol));
    assert_eq!(nat.mappings().len(), 0);
    assert!(!w.pcp_unmap(Protocol::Udp, SUB_B, 1), "nothing to delete");
}

/// A subscriber created by its PCP request counts no session for it (the
/// hold is not a session), and is kept by its block, not removed as idle.
#[test]
fn a_subscriber_created_by_pcp_counts_no_session_and_is_kept() {
    let nat = strict();
    let mut w = worker(&nat);
    let mut sweeper = Sweeper::new(nat.clone(), Vec::<Event>::new());
    let g = w.pcp_map(Protocol::Tcp, SUB_C, 22, at(0)).unwrap();
    let sub = nat.subscribers().find(u32::from(SUB_C)).expect("created");
    let e = nat.subscribers().entry(sub.index).unwrap();
    assert_eq!((e.sessions, e.inbound_sessions), (0, 0));
    sweeper.sweep_all(at(100_000));
    assert!(nat.subscribers().find(u32::from(SUB_C)).is_some(), "kept by its block");
    let v = inb(&mut w, tcp(SERVER, 5555, g.public_addr, g.public_port, SYN, b""), at(100_001));
    assert_eq!((v.dst, v.dport), (SUB_C, 22));
    check_invariants(&nat);
}

/// `cgnatctl clear` (issue 12 item 5: "can remove them") and a clean
/// shutdown drop PCP holds too, so every block they kept is released and
/// its release logged: the log closes every open block.
#[test]
fn clearing_and_shutdown_drop_the_holds_and_release_their_blocks() {
    let nat = strict();
    let mut w = worker(&nat);
    let a1 = w.pcp_map(Protocol::Tcp, SUB_A, 80, at(0)).unwrap();
    let a2 = w.pcp_map(Protocol::Udp, SUB_A, 81, at(0)).unwrap();
    let b = w.pcp_map(Protocol::Udp, SUB_B, 82, at(0)).unwrap();
    let mut sweeper = Sweeper::new(nat.clone(), Vec::<Event>::new());
    // One public port: only its hold goes; the block keeps the other one.
    sweeper.clear_public(a1.public_addr, a1.public_port, at(1));
    assert_eq!(nat.mappings().len(), 2);
    assert_eq!(
        block_owner(&nat, a2.public_addr, a2.public_port),
        Some((BlockState::Allocated, SUB_A))
    );
    // The whole subscriber: its block is released and logged.
    sweeper.clear_subscriber(SUB_A, at(2));
    assert_eq!(nat.mappings().len(), 1);
    let released = |s: &mut Sweeper<Vec<Event>>, who| {
        of_kind(s.sink_mut(), EventKind::BlockReleased)
            .iter()
            .filter(|e| e.subscriber == who)
            .count()
    };
    assert_eq!(released(&mut sweeper, SUB_A), 1);
    assert!(!matches!(
        block_owner(&nat, a2.public_addr, a2.public_port),
        Some((BlockState::Allocated, _))
    ));
    // Shutdown closes the last one.
    sweeper.shutdown(at(3));
    assert_eq!(nat.mappings().len(), 0);
    assert_eq!(released(&mut sweeper, SUB_B), 1);
    assert!(!matches!(
        block_owner(&nat, b.public_addr, b.public_port),
        Some((BlockState::Allocated, _))
    ));
    check_invariants(&nat);
}
