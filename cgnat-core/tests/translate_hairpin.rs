//! Hairpinning (RFC 4787 REQ-9, RFC 5382 REQ-8): two subscribers behind
//! the NAT reach each other through their public endpoints.

mod common;

use cgnat_core::{Counter, DropReason, Side, Verdict};
use common::*;

/// A packet from the inside that the NAT sends back inside.
#[track_caller]
fn hairpin<E: cgnat_core::EventSink>(w: &mut cgnat_core::Worker<E>, mut pkt: Vec<u8>) -> View {
    expect_forward(w, Side::Inside, &mut pkt, at(1), Side::Inside)
}

//= https://www.rfc-editor.org/rfc/rfc4787#section-6
//# REQ-9: A NAT MUST support "Hairpinning".
//# (...) the NAT (...) MUST forward it to X2:x2 (...) with the source
//# address and port of the packet being X1':x1' (the external mapping of
//# X1:x1)
#[test]
fn rfc4787_req9_udp_hairpin_both_ways_with_public_sources() {
    let nat = nat("");
    let mut w = worker(&nat);
    // B has a mapping (it talked to a server); A has one to the internet.
    let b = out(&mut w, udp(SUB_B, 2222, SERVER, 3478, b"stun"), at(0));
    let a = out(&mut w, udp(SUB_A, 1111, SERVER, 3478, b"stun"), at(0));
    // A sends to B's public endpoint.
    let v = hairpin(&mut w, udp(SUB_A, 1111, b.src, b.sport, b"hello B"));
    assert_eq!((v.src, v.sport), (a.src, a.sport), "seen from A's public endpoint");
    assert_eq!((v.dst, v.dport), (SUB_B, 2222), "delivered to B's inside endpoint");
    assert_eq!(v.payload, b"hello B");
    assert_eq!(v.ttl, 63, "one hop");
    // B answers A's public endpoint, as it saw it.
    let r = hairpin(&mut w, udp(SUB_B, 2222, a.src, a.sport, b"hello A"));
    assert_eq!((r.src, r.sport, r.dst, r.dport), (b.src, b.sport, SUB_A, 1111));
    assert_eq!(r.payload, b"hello A");
    assert_eq!(w.counters().get(Counter::Hairpinned), 2);
    // The internet view of both mappings is unchanged (REQ-1).
    let a2 = out(&mut w, udp(SUB_A, 1111, SERVER2, 1, b""), at(2));
    assert_eq!((a2.src, a2.sport), (a.src, a.sport));
    check_invariants(&nat);
}

/// The sender needs no prior mapping: hairpinning creates it, with the
/// same public endpoint the internet will see.
#[test]
fn rfc4787_req9_hairpin_creates_the_senders_mapping() {
    let nat = nat("");
    let mut w = worker(&nat);
    let b = out(&mut w, udp(SUB_B, 2222, SERVER, 3478, b""), at(0));
    let v = hairpin(&mut w, udp(SUB_C, 3333, b.src, b.sport, b"first packet"));
    assert_eq!((v.dst, v.dport), (SUB_B, 2222));
    assert_ne!(v.src, SUB_C, "never the private source");
    assert!(nat.pool().index_of(u32::from(v.src)).is_some());
    let c = out(&mut w, udp(SUB_C, 3333, SERVER, 1, b""), at(2));
    assert_eq!((c.src, c.sport), (v.src, v.sport), "same mapping towards the internet");
    assert_eq!(nat.lookup_public(v.src, v.sport).unwrap().subscriber, SUB_C);
}

//= https://www.rfc-editor.org/rfc/rfc5382#section-6
//# REQ-8: A NAT MUST support "hairpinning" for TCP.
#[test]
fn rfc5382_req8_tcp_hairpin_handshake() {
    let nat = nat("");
    let mut w = worker(&nat);
    // B listens behind a mapping opened by an outbound connection.
    let b = out(&mut w, tcp(SUB_B, 8000, SERVER, 443, SYN, b""), at(0));
    let syn = hairpin(&mut w, tcp(SUB_A, 40_000, b.src, b.sport, SYN, b""));
    assert_eq!((syn.dst, syn.dport, syn.tcp_flags), (SUB_B, 8000, SYN));
    let synack = hairpin(&mut w, tcp(SUB_B, 8000, syn.src, syn.sport, SYN | ACK, b""));
    assert_eq!(
        (synack.src, synack.sport, synack.dst, synack.dport),
        (b.src, b.sport, SUB_A, 40_000)
    );
    let data = hairpin(&mut w, tcp(SUB_A, 40_000, b.src, b.sport, ACK | PSH, &[9u8; 333]));
    assert_eq!((data.dst, data.payload.len()), (SUB_B, 333));
    check_invariants(&nat);
}

/// A subscriber reaching its own other mapping through its public address.
#[test]
fn rfc4787_req9_hairpin_to_own_public_endpoint() {
    let nat = nat("");
    let mut w = worker(&nat);
    let m2 = out(&mut w, udp(SUB_A, 2000, SERVER, 1, b""), at(0));
    let m1 = out(&mut w, udp(SUB_A, 1000, SERVER, 1, b""), at(0));
    let v = hairpin(&mut w, udp(SUB_A, 1000, m2.src, m2.sport, b"self"));
    assert_eq!((v.src, v.sport, v.dst, v.dport), (m1.src, m1.sport, SUB_A, 2000));
}

/// Hairpinning obeys filtering and the absence of a mapping like any
/// inbound packet; nothing is left half-translated.
#[test]
fn hairpin_to_unmapped_or_filtered_endpoints_is_dropped() {
    let nat = nat("");
    let mut w = worker(&nat);
    let b = out(&mut w, udp(SUB_B, 2222, SERVER, 1, b""), at(0));
    let unused = if b.sport == 65_535 { b.sport - 1 } else { b.sport + 1 };
    assert_eq!(
        verdict(&mut w, Side::Inside, &udp(SUB_A, 1111, b.src, unused, b""), at(1)),
        Verdict::Drop(DropReason::NoMapping)
    );
    check_invariants(&nat);

    let nat = common::nat("filtering = \"address-and-port-dependent\"");
    let mut w = worker(&nat);
    let b = out(&mut w, udp(SUB_B, 2222, SERVER, 1, b""), at(0));
    assert_eq!(
        verdict(&mut w, Side::Inside, &udp(SUB_A, 1111, b.src, b.sport, b""), at(1)),
        Verdict::Drop(DropReason::Filtered),
        "B never sent to A's public endpoint"
    );
    check_invariants(&nat);
}

/// TTL expiry and ICMP echo on the hairpin path.
#[test]
fn hairpin_ttl_and_echo_to_pool_address() {
    let nat = nat("");
    let mut w = worker(&nat);
    let b = out(&mut w, udp(SUB_B, 2222, SERVER, 1, b""), at(0));
    let mut p = with_ttl(udp(SUB_A, 1111, b.src, b.sport, b""), 1);
    assert!(matches!(
        w.process(Side::Inside, &mut p, at(1)),
        Verdict::IcmpError { icmp_type: 11, .. }
    ));
    // A ping to a public address from the inside is answered by the NAT.
    assert_eq!(
        verdict(&mut w, Side::Inside, &echo_request(SUB_A, b.src, 1, 1, b""), at(1)),
        Verdict::Local
    );
}

//= https://www.rfc-editor.org/rfc/rfc5508#section-6
//# REQ-7: (...) All NAT devices (i.e., Basic NAT as well as NAPT devices)
//# MUST support the traversal of hairpinned ICMP Error messages.
//# a) When forwarding a hairpinned ICMP Error message, the NAT device MUST
//# translate the destination IP address of the outer IP header to be same
//# as the source IP address of the embedded IP packet after the
//# translation.
#[test]
fn rfc5508_req7_hairpinned_icmp_error_goes_back_inside() {
    let nat = nat("");
    let mut w = worker(&nat);
    let b = out(&mut w, udp(SUB_B, 2222, SERVER, 1, b""), at(0));
    // A → B through B's public endpoint; what B receives:
    let mut h = udp(SUB_A, 1111, b.src, b.sport, b"to B");
    assert_eq!(w.process(Side::Inside, &mut h, at(1)), Verdict::Forward(Side::Inside));
    let seen_by_b = parse(&h);
    // B's port is closed after all: port unreachable to A's public address.
    let err = icmp_error(SUB_B, seen_by_b.src, 3, 3, &h);
    let mut e = err.clone();
    assert_eq!(
        w.process(Side::Inside, &mut e, at(2)),
        Verdict::Forward(Side::Inside),
        "hairpinned, not sent to the internet"
    );
    let v = parse(&e);
    assert_eq!((v.src, v.dst, v.icmp_type, v.icmp_code), (b.src, SUB_A, 3, 3));
    let q = v.quoted.as_ref().unwrap();
    assert_eq!((q.src, q.sport, q.dst, q.dport), (SUB_A, 1111, b.src, b.sport), "what A sent");
    assert_eq!(q.payload, b"to B");
    assert_eq!(nat.sessions().len(), 3, "no session added or removed");
}
