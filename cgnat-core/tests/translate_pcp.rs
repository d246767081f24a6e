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
    let grant = w.pcp_map(Protocol::Tcp, SUB_A, 8080, None, at(0)).unwrap();
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
    let g = w.pcp_map(Protocol::Udp, SUB_A, 5000, None, at(0)).unwrap();
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
    let g = w.pcp_map(Protocol::Udp, SUB_A, 6000, None, at(1)).unwrap();
    assert_eq!((g.public_addr, g.public_port), (v.src, v.sport));
    assert!(g.created);
    let again = w.pcp_map(Protocol::Udp, SUB_A, 6000, None, at(2)).unwrap();
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
    let g = w.pcp_map(Protocol::Udp, SUB_A, 7000, None, at(0)).unwrap();
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
    assert_eq!(w.pcp_map(Protocol::Udp, SERVER, 53, None, at(0)), Err(PcpRefusal::NotInside));
    assert_eq!(
        w.pcp_map(Protocol::Icmp, SUB_A, 1, None, at(0)),
        Err(PcpRefusal::UnsupportedProtocol)
    );
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
    let g = w.pcp_map(Protocol::Tcp, SUB_C, 22, None, at(0)).unwrap();
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
    let a1 = w.pcp_map(Protocol::Tcp, SUB_A, 80, None, at(0)).unwrap();
    let a2 = w.pcp_map(Protocol::Udp, SUB_A, 81, None, at(0)).unwrap();
    let b = w.pcp_map(Protocol::Udp, SUB_B, 82, None, at(0)).unwrap();
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

/// Issue 12 item 2: "suggested port honoured when it is in a block the
/// subscriber holds"; never a port of another subscriber's block.
#[test]
fn a_suggested_port_is_taken_from_the_subscribers_own_blocks_only() {
    // One public address: both subscribers' blocks are on it.
    let nat = nat("filtering = \"address-and-port-dependent\"\npool = [\"203.0.113.1/32\"]");
    let mut w = worker(&nat);
    // SUB_A's first flow gives it a block; SUB_B's gives it another.
    let a = out(&mut w, udp(SUB_A, 1, SERVER, 53, b"q"), at(0));
    let b = out(&mut w, udp(SUB_B, 1, SERVER, 53, b"q"), at(0));
    let pool = nat.pool();
    let own = |v: &View| {
        let pi = pool.index_of(u32::from(v.src)).unwrap();
        pool.block_ports(pool.block_of(pi, v.sport).unwrap())
    };
    let (a_first, a_last) = own(&a);
    let want = if a.sport == a_last { a_first } else { a.sport + 1 };
    let g = w.pcp_map(Protocol::Tcp, SUB_A, 8080, Some(want), at(1)).unwrap();
    assert_eq!((g.public_addr, g.public_port), (a.src, want), "a free port of its own block");
    // Taken now: the next suggestion of the same port gets another one.
    let g2 = w.pcp_map(Protocol::Tcp, SUB_A, 8081, Some(want), at(1)).unwrap();
    assert_ne!(g2.public_port, want);
    // A port of SUB_B's block is never SUB_A's, even when suggested.
    let (b_first, b_last) = own(&b);
    let theirs = if b.sport == b_last { b_first } else { b.sport + 1 };
    let g3 = w.pcp_map(Protocol::Tcp, SUB_A, 8082, Some(theirs), at(1)).unwrap();
    assert_eq!(a.src, b.src);
    assert!(
        !(b_first..=b_last).contains(&g3.public_port),
        "{g3:?} in {SUB_B}'s block {b_first}-{b_last}"
    );
    assert_eq!(
        block_owner(&nat, g3.public_addr, g3.public_port),
        Some((BlockState::Allocated, SUB_A))
    );
    check_invariants(&nat);
}

/// Issue 12 item 3: "Deterministic mode: MAP answers with a port from the
/// subscriber's deterministic range" (RFC 7422), a suggested one included
/// when it lies there.
#[test]
fn deterministic_mode_maps_inside_the_subscribers_range() {
    let nat = nat("mode = \"deterministic\"\ninside_prefixes = [\"100.64.0.0/24\"]\npool = [\"203.0.113.0/30\"]\n");
    let map = nat.deterministic().expect("deterministic map").clone();
    let mut w = worker(&nat);
    let r = map.forward(SUB_A).unwrap();
    let g = w.pcp_map(Protocol::Udp, SUB_A, 5060, None, at(0)).unwrap();
    assert_eq!(g.public_addr, r.public_addr);
    assert!((r.first_port..=r.last_port).contains(&g.public_port), "{g:?} outside {r:?}");
    let g = w.pcp_map(Protocol::Udp, SUB_A, 5061, Some(r.last_port), at(0)).unwrap();
    assert_eq!(g.public_port, r.last_port);
    // Another subscriber's range is not SUB_A's to take.
    let other = map.forward(SUB_B).unwrap();
    let g = w.pcp_map(Protocol::Udp, SUB_A, 5062, Some(other.first_port), at(0)).unwrap();
    assert!((r.first_port..=r.last_port).contains(&g.public_port) && g.public_addr == r.public_addr);
    let v = inb(&mut w, udp(SERVER, 9, g.public_addr, g.public_port, b"x"), at(1));
    assert_eq!((v.dst, v.dport), (SUB_A, 5062));
}

/// A static mapping's block is reserved by configuration, not the
/// subscriber's: a suggested port inside it is never granted (its ports
/// are not attributed to the subscriber by any block record).
#[test]
fn a_suggested_port_in_a_static_mappings_block_is_not_granted() {
    let nat = nat(concat!(
        "filtering = \"address-and-port-dependent\"\npool = [\"203.0.113.1/32\"]\n",
        "[[static_mappings]]\nprotocol = \"tcp\"\npublic_addr = \"203.0.113.1\"\npublic_port = 1100\n",
        "inside_addr = \"100.64.0.9\"\ninside_port = 80\n"
    ));
    let mut w = worker(&nat);
    let g = w.pcp_map(Protocol::Tcp, SUB_A, 8080, Some(1101), at(0)).unwrap();
    assert_ne!(g.public_port, 1101);
    assert_eq!(
        block_owner(&nat, g.public_addr, g.public_port),
        Some((BlockState::Allocated, SUB_A))
    );
    check_invariants(&nat);
}

/// Issue 12 item 2: "suggested port honoured when it is in a block the
/// subscriber holds or can get". RFC 6887 section 11.3: "If the PCP
/// server can honor the suggested external port and address, it SHOULD
/// do so." A free block holding the suggested port becomes the
/// subscriber's, with its allocation record first; past the subscriber's
/// block limit the suggestion is not honoured (another port is given).
#[test]
fn a_suggested_port_in_a_free_block_brings_that_block_logged() {
    let nat = nat(concat!(
        "filtering = \"address-and-port-dependent\"\npool = [\"203.0.113.1/32\"]\n",
        "block_size = 512\nmax_blocks_per_subscriber = 2\n"
    ));
    let mut w = worker(&nat);
    let a = out(&mut w, udp(SUB_A, 1, SERVER, 53, b"q"), at(0));
    let pool = nat.pool();
    let pi = pool.index_of(u32::from(a.src)).unwrap();
    let own = pool.block_ports(pool.block_of(pi, a.sport).unwrap());
    // A port in another block, free.
    let want = if own.0 > 20_000 { 10_007 } else { 50_007 };
    assert_eq!(block_owner(&nat, a.src, want), None, "the block of {want} is free");
    let g = w.pcp_map(Protocol::Tcp, SUB_A, 8080, Some(want), at(1)).unwrap();
    assert_eq!((g.public_addr, g.public_port), (a.src, want));
    assert_eq!(block_owner(&nat, a.src, want), Some((BlockState::Allocated, SUB_A)));
    let events: &Vec<Event> = w.sink_mut();
    let allocs = of_kind(events, EventKind::BlockAllocated);
    assert!(
        allocs
            .iter()
            .any(|e| e.subscriber == SUB_A && (e.first_port..=e.last_port).contains(&want)),
        "the block of {want} was logged for {SUB_A}: {allocs:?}"
    );
    // SUB_A holds its two blocks now: a third block's port is not given.
    let third = if want > 30_000 { 30_007 } else { 40_007 };
    let g = w.pcp_map(Protocol::Tcp, SUB_A, 8081, Some(third), at(1)).unwrap();
    assert_ne!(g.public_port, third);
    assert_eq!(block_owner(&nat, a.src, third), None);
    assert_eq!(
        block_owner(&nat, g.public_addr, g.public_port),
        Some((BlockState::Allocated, SUB_A))
    );
    check_invariants(&nat);
}
