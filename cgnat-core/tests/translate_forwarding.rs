//! Router duties and packet classes around translation: TTL (RFC 1812),
//! MTU and DF (RFC 4787 REQ-13, RFC 1191), other protocols, anti-spoofing,
//! packets for the appliance itself, bypass (RFC 6888 REQ-6), static port
//! mappings, and malformed input.

mod common;

use std::net::Ipv4Addr;

use cgnat_core::event::{EventKind, ProtocolScope, Reason};
use cgnat_core::wire::{icmp, ipv4};
use cgnat_core::{Counter, DropReason, Side, Verdict};
use common::*;

//= https://www.rfc-editor.org/rfc/rfc1812#section-5.3.1
//# When a router forwards a packet, it MUST reduce the TTL by at least one.
//# (...) If the TTL is reduced to zero (or less), the packet MUST be
//# discarded, and (...) an ICMP Time Exceeded message
#[test]
fn rfc1812_ttl_decremented_and_expiry_answered_with_time_exceeded() {
    let nat = nat("");
    let mut w = worker(&nat);
    let o = out(&mut w, with_ttl(udp(SUB_A, 5000, SERVER, 53, b"x"), 2), at(0));
    assert_eq!(o.ttl, 1);
    let i = inb(&mut w, with_ttl(udp(SERVER, 53, o.src, o.sport, b"y"), 200), at(0));
    assert_eq!(i.ttl, 199);
    let sessions = nat.sessions().len();
    for ttl in [1u8, 0] {
        for (side, pkt) in [
            (Side::Inside, with_ttl(udp(SUB_A, 5000, SERVER, 53, b"x"), ttl)),
            (Side::Inside, with_ttl(udp(SUB_B, 7000, SERVER, 53, b"new flow"), ttl)),
            (Side::Outside, with_ttl(udp(SERVER, 53, o.src, o.sport, b"y"), ttl)),
        ] {
            let mut p = pkt.clone();
            let v = w.process(side, &mut p, at(1));
            assert_eq!(
                v,
                Verdict::IcmpError {
                    reason: DropReason::TtlExpired,
                    icmp_type: 11,
                    code: 0,
                    mtu: 0
                },
                "TTL {ttl} from {side:?}"
            );
            assert_eq!(p, pkt, "the packet is left as received, to be quoted");
            // The data plane can build the error from it, quoting it verbatim.
            let mut e = [0u8; 600];
            let n = icmp::emit_error(&mut e, Ipv4Addr::new(203, 0, 113, 1), &p, 11, 0, 0, 64).unwrap();
            let err = parse(&e[..n]);
            assert_eq!((err.dst, err.icmp_type), (parse(&pkt).src, 11));
            assert_eq!(err.quoted.unwrap().ttl, ttl);
        }
    }
    assert_eq!(nat.sessions().len(), sessions, "an expired packet creates no session");
    assert_eq!(w.counters().dropped(DropReason::TtlExpired), 6);
    assert_eq!(w.counters().get(Counter::IcmpErrorsRequested), 6);
}

//= https://www.rfc-editor.org/rfc/rfc4787#section-11
//# REQ-13: If the packet received on an internal IPv4 interface has DF=1,
//# the NAT MUST send back an ICMP message "Fragmentation needed and DF
//# set" to the host, as described in [RFC0792].
#[test]
fn rfc4787_req13_df_and_too_big_gets_frag_needed_with_the_mtu() {
    let nat = nat("outside_mtu = 1400\ninside_mtu = 1280");
    let mut w = worker(&nat);
    let big = with_df(udp(SUB_A, 5000, SERVER, 53, &[1u8; 1400 - 28 + 1]), true);
    let mut p = big.clone();
    assert_eq!(
        w.process(Side::Inside, &mut p, at(0)),
        Verdict::IcmpError {
            reason: DropReason::FragmentationNeeded,
            icmp_type: 3,
            code: 4,
            mtu: 1400
        }
    );
    assert_eq!(p, big, "untouched");
    assert_eq!(nat.sessions().len(), 0, "no session for a packet that was not sent");
    // Exactly the MTU passes.
    let fits = with_df(udp(SUB_A, 5000, SERVER, 53, &[1u8; 1400 - 28]), true);
    let o = out(&mut w, fits, at(0));
    // Inbound uses the inside MTU.
    let big_in = with_df(udp(SERVER, 53, o.src, o.sport, &[2u8; 1281 - 28]), true);
    assert_eq!(
        verdict(&mut w, Side::Outside, &big_in, at(0)),
        Verdict::IcmpError {
            reason: DropReason::FragmentationNeeded,
            icmp_type: 3,
            code: 4,
            mtu: 1280
        }
    );
    let mut e = [0u8; 600];
    let n = icmp::emit_error(&mut e, Ipv4Addr::new(203, 0, 113, 1), &big, 3, 4, 1400, 64).unwrap();
    assert_eq!(parse(&e[..n]).icmp_rest, [0, 0, 0x05, 0x78], "next-hop MTU 1400");
}

//= https://www.rfc-editor.org/rfc/rfc791#section-2.3
//# If the datagram is too big and DF is clear, it is fragmented
//
// The packet is translated and the data plane told to fragment it; the
// fragments (cut by wire::ipv4::emit_fragment) reassemble to a datagram
// whose checksum verifies.
#[test]
fn too_big_without_df_is_translated_then_fragmented() {
    let nat = nat("outside_mtu = 576");
    let mut w = worker(&nat);
    let payload: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
    let mut p = with_df(udp(SUB_A, 5000, SERVER, 53, &payload), false);
    assert_eq!(
        w.process(Side::Inside, &mut p, at(0)),
        Verdict::Fragment {
            side: Side::Outside,
            mtu: 576
        }
    );
    let t = parse(&p);
    assert!(nat.pool().index_of(u32::from(t.src)).is_some(), "translated before fragmentation");
    assert_eq!(t.payload, payload);
    let count = ipv4::fragment_count(p.len() - 20, 20, 576);
    assert_eq!(count, 2);
    let mut data = Vec::new();
    for i in 0..count {
        let mut f = [0u8; 576];
        let n = ipv4::emit_fragment(&p, 576, i, &mut f).unwrap();
        assert!(n <= 576);
        let fv = parse(&f[..n]);
        assert_eq!((fv.src, fv.dst, fv.frag_offset), (t.src, SERVER, data.len()));
        data.extend_from_slice(&fv.payload);
    }
    let mut whole = p[..20].to_vec();
    whole.extend_from_slice(&data);
    assert_eq!(parse(&whole).payload, payload);
    assert_eq!(w.counters().get(Counter::NeedsFragmentation), 1);
}

/// Protocols other than TCP, UDP and ICMP: dropped (counted) by default,
/// or refused with protocol unreachable with `other_protocols = "reject"`.
#[test]
fn other_protocols_dropped_or_rejected() {
    let gre = raw_ip(SUB_A, SERVER, 47, &[0, 0, 0x08, 0, 1, 2, 3, 4]);
    let nat1 = nat("");
    let mut w = worker(&nat1);
    assert_eq!(
        verdict(&mut w, Side::Inside, &gre, at(0)),
        Verdict::Drop(DropReason::UnsupportedProtocol)
    );
    let o = out(&mut w, udp(SUB_A, 1, SERVER, 1, b""), at(0));
    let gre_in = raw_ip(SERVER, o.src, 47, &[0; 8]);
    assert_eq!(
        verdict(&mut w, Side::Outside, &gre_in, at(0)),
        Verdict::Drop(DropReason::UnsupportedProtocol)
    );
    for proto in [0u8, 2, 41, 50, 132, 255] {
        assert_eq!(
            verdict(&mut w, Side::Inside, &raw_ip(SUB_A, SERVER, proto, &[0; 8]), at(0)),
            Verdict::Drop(DropReason::UnsupportedProtocol),
            "protocol {proto}"
        );
    }
    assert_eq!(w.counters().dropped(DropReason::UnsupportedProtocol), 8);

    let nat2 = nat("other_protocols = \"reject\"");
    let mut w = worker(&nat2);
    let mut p = gre.clone();
    assert_eq!(
        w.process(Side::Inside, &mut p, at(0)),
        Verdict::IcmpError {
            reason: DropReason::UnsupportedProtocol,
            icmp_type: 3,
            code: 2,
            mtu: 0
        }
    );
    assert_eq!(p, gre);
    assert_eq!(nat2.sessions().len(), 0);
}

/// Only subscriber addresses may be translated: anything else arriving on
/// the inside port (a spoofed or misrouted source) is dropped.
#[test]
fn spoofed_inside_sources_are_dropped() {
    let nat = nat("");
    let mut w = worker(&nat);
    for src in [
        Ipv4Addr::new(10, 0, 0, 1),
        Ipv4Addr::new(100, 128, 0, 1), // just past 100.64.0.0/10
        Ipv4Addr::new(100, 63, 255, 255),
        Ipv4Addr::new(203, 0, 113, 1), // a pool address
        SERVER,
        Ipv4Addr::UNSPECIFIED,
    ] {
        assert_eq!(
            verdict(&mut w, Side::Inside, &udp(src, 5000, SERVER, 53, b""), at(0)),
            Verdict::Drop(DropReason::SpoofedSource),
            "{src}"
        );
    }
    assert_eq!(w.counters().dropped(DropReason::SpoofedSource), 6);
    assert_eq!(nat.sessions().len(), 0);
    assert_eq!(nat.subscribers().len(), 0);
}

/// An echo request to a pool address is for the appliance (Local), from
/// either side; the data plane answers it in place.
#[test]
fn echo_request_to_a_pool_address_is_local() {
    let nat = nat("");
    let mut w = worker(&nat);
    let pool_addr = Ipv4Addr::new(203, 0, 113, 7);
    for (side, src) in [(Side::Outside, SERVER), (Side::Inside, SUB_A)] {
        let req = echo_request(src, pool_addr, 99, 1, b"are you there");
        let mut p = req.clone();
        assert_eq!(w.process(side, &mut p, at(0)), Verdict::Local);
        assert_eq!(p, req, "untouched");
        icmp::echo_reply_in_place(&mut p).unwrap();
        let r = parse(&p);
        assert_eq!(
            (r.src, r.dst, r.icmp_type, r.sport, r.payload.as_slice()),
            (pool_addr, src, 0, 99, &b"are you there"[..])
        );
    }
    assert_eq!(w.counters().get(Counter::Local), 2);
    assert_eq!(nat.sessions().len(), 0);
}

//= https://www.rfc-editor.org/rfc/rfc6888#section-3
//# REQ-6: It MUST be possible to administratively turn off translation for
//# specific destination addresses and/or ports.
//
// Traffic to a bypass prefix is routed as it is, both ways, with only the
// TTL decremented.
#[test]
fn rfc6888_bypass_prefixes_are_routed_untranslated_both_ways() {
    let nat = nat("bypass = [\"192.0.2.0/24\"]");
    let mut w = worker(&nat);
    let o = out(&mut w, udp(SUB_A, 5000, SERVER3, 53, b"internal dns"), at(0));
    assert_eq!((o.src, o.sport, o.dst, o.dport, o.ttl), (SUB_A, 5000, SERVER3, 53, 63));
    let i = inb(&mut w, udp(SERVER3, 53, SUB_A, 5000, b"answer"), at(0));
    assert_eq!((i.src, i.dst, i.dport, i.ttl), (SERVER3, SUB_A, 5000, 63));
    let t = out(&mut w, tcp(SUB_B, 1, SERVER3, 2, SYN, b""), at(0));
    assert_eq!((t.src, t.sport), (SUB_B, 1));
    let g = expect_forward(&mut w, Side::Inside, &mut raw_ip(SUB_A, SERVER3, 47, &[0; 4]), at(0), Side::Outside);
    assert_eq!(g.protocol, 47, "bypass does not care about the protocol");
    assert_eq!(w.counters().get(Counter::Bypassed), 4);
    assert_eq!(nat.sessions().len(), 0, "bypass keeps no state");
    assert_eq!(nat.subscribers().len(), 0);
    // Bypass is only for the bypass prefix: the internet at large still
    // cannot reach subscribers directly, and other destinations are NATed.
    assert_eq!(
        verdict(&mut w, Side::Outside, &udp(SERVER, 53, SUB_A, 5000, b""), at(0)),
        Verdict::Drop(DropReason::NotForPool)
    );
    let n = out(&mut w, udp(SUB_A, 5000, SERVER, 53, b""), at(0));
    assert_ne!(n.src, SUB_A);
    // TTL and MTU rules apply to bypassed packets too.
    assert!(matches!(
        verdict(&mut w, Side::Inside, &with_ttl(udp(SUB_A, 5000, SERVER3, 53, b""), 1), at(0)),
        Verdict::IcmpError { icmp_type: 11, .. }
    ));
}

/// Static port mappings (port forwarding to one subscriber): reachable from
/// outside without prior traffic, used by the subscriber's outbound
/// traffic from that port, logged at start, and permanent.
#[test]
fn static_mappings_forward_inbound_and_are_used_outbound() {
    let cfg = r#"
        [[static_mappings]]
        protocol = "tcp"
        public_addr = "203.0.113.3"
        public_port = 8080
        inside_addr = "100.64.0.10"
        inside_port = 80

        [[static_mappings]]
        protocol = "udp"
        public_addr = "203.0.113.3"
        public_port = 8080
        inside_addr = "100.64.0.11"
        inside_port = 5060
    "#;
    let nat = nat(cfg);
    let mut w = worker(&nat);
    let public = Ipv4Addr::new(203, 0, 113, 3);
    let start = nat.startup_events(T0);
    assert_eq!(start.len(), 2);
    let e = start.iter().find(|e| e.protocol == ProtocolScope::Tcp).unwrap();
    assert_eq!(
        (e.kind, e.subscriber, e.public_addr, e.first_port, e.last_port, e.aux, e.reason),
        (EventKind::BlockAllocated, SUB_A, public, 8080, 8080, 80, Reason::Config)
    );
    let owner = nat.lookup_public(public, 8080).unwrap();
    assert_eq!((owner.kind, owner.subscriber), ("static", SUB_A));
    // The live answer names the one static port, like the log record does.
    assert_eq!((owner.block.first_port, owner.block.last_port), (8080, 8080));
    assert_eq!(owner.block.mappings as usize, owner.mappings.len());

    // Inbound with no prior traffic.
    let v = inb(&mut w, tcp(SERVER, 5555, public, 8080, SYN, b""), at(0));
    assert_eq!((v.src, v.sport, v.dst, v.dport), (SERVER, 5555, SUB_A, 80));
    let u = inb(&mut w, udp(SERVER2, 5060, public, 8080, b"INVITE"), at(0));
    assert_eq!(
        (u.dst, u.dport),
        (SUB_B, 5060),
        "same public port, other protocol, other subscriber"
    );
    // The reply, and a new outbound flow from the same inside port.
    let r = out(&mut w, tcp(SUB_A, 80, SERVER, 5555, SYN | ACK, b""), at(0));
    assert_eq!((r.src, r.sport), (public, 8080));
    let n = out(&mut w, tcp(SUB_A, 80, SERVER2, 443, SYN, b""), at(0));
    assert_eq!((n.src, n.sport), (public, 8080));
    // Paired pooling: the subscriber's dynamic flows use the same address.
    let d = out(&mut w, tcp(SUB_A, 40_000, SERVER, 443, SYN, b""), at(0));
    assert_eq!(d.src, public);
    assert_ne!(d.sport, 8080);
    // No mapping for the ports around it.
    assert_eq!(
        verdict(&mut w, Side::Outside, &tcp(SERVER, 1, public, 8081, SYN, b""), at(0)),
        Verdict::Drop(DropReason::NoMapping)
    );
    check_invariants(&nat);
    // Every session expires; the static mapping stays.
    let mut sweeper = cgnat_core::sweeper::Sweeper::new(nat.clone(), Vec::new());
    sweeper.sweep_all(at(100_000));
    assert_eq!(nat.sessions().len(), 0);
    let v = inb(&mut w, tcp(SERVER3, 1, public, 8080, SYN, b""), at(100_001));
    assert_eq!((v.dst, v.dport), (SUB_A, 80));
    assert_eq!(nat.lookup_public(public, 8080).unwrap().subscriber, SUB_A);
    // Even a clear of the subscriber does not remove it.
    sweeper.clear_subscriber(SUB_A, at(100_002));
    let v = inb(&mut w, tcp(SERVER3, 2, public, 8080, SYN, b""), at(100_003));
    assert_eq!((v.dst, v.dport), (SUB_A, 80));
    check_invariants(&nat);
}

/// Malformed input of every kind is dropped and counted, never a panic.
#[test]
fn malformed_packets_are_counted_drops() {
    let nat = nat("");
    let mut w = worker(&nat);
    let good = udp(SUB_A, 5000, SERVER, 53, b"0123456789");
    let mut cases: Vec<(&str, Vec<u8>, DropReason)> = vec![
        ("empty", vec![], DropReason::Malformed),
        ("19 bytes", good[..19].to_vec(), DropReason::Malformed),
        (
            "truncated below total length",
            good[..good.len() - 1].to_vec(),
            DropReason::Malformed,
        ),
    ];
    let mut bad_ck = good.clone();
    bad_ck[10] ^= 0x55;
    cases.push(("bad IPv4 checksum", bad_ck, DropReason::BadChecksum));
    let mut v6 = good.clone();
    v6[0] = 0x65;
    cases.push(("version 6", v6, DropReason::Malformed));
    for ihl in [0u8, 4] {
        let mut p = good.clone();
        p[0] = 0x40 | ihl;
        cases.push(("IHL below 5", p, DropReason::Malformed));
    }
    let mut ihl_long = good.clone();
    ihl_long[0] = 0x4F; // 60-byte header in a 38-byte packet
    cases.push(("IHL beyond the packet", ihl_long, DropReason::Malformed));
    let mut short_total = good.clone();
    edit_ip(&mut short_total, |h| h.total_len = 10);
    cases.push(("total length below the header", short_total, DropReason::Malformed));
    for (name, pkt, reason) in &cases {
        assert_eq!(verdict(&mut w, Side::Inside, pkt, at(0)), Verdict::Drop(*reason), "inside: {name}");
        assert_eq!(
            verdict(&mut w, Side::Outside, pkt, at(0)),
            Verdict::Drop(*reason),
            "outside: {name}"
        );
    }
    // Truncated transport headers, from the inside and (to a pool address
    // holding a mapping) from the outside.
    let o = out(&mut w, udp(SUB_A, 5000, SERVER, 53, b""), at(0));
    let (public, port) = (o.src, o.sport);
    let cut = |p: Vec<u8>, len: usize| {
        let mut c = p[..len].to_vec();
        edit_ip(&mut c, |h| h.total_len = len as u16);
        c
    };
    let l4_cases = [
        (
            "4 bytes of UDP",
            cut(udp(SUB_A, 5000, SERVER, 53, b""), 24),
            cut(udp(SERVER, 53, public, port, b""), 24),
        ),
        (
            "10 bytes of TCP",
            cut(tcp(SUB_A, 1, SERVER, 2, SYN, b""), 30),
            cut(tcp(SERVER, 2, public, port, SYN, b""), 30),
        ),
        (
            "4 bytes of ICMP",
            cut(echo_request(SUB_A, SERVER, 1, 1, b""), 24),
            cut(echo_reply(SERVER, public, port, 1, b""), 24),
        ),
    ];
    for (name, inside, outside) in &l4_cases {
        assert_eq!(
            verdict(&mut w, Side::Inside, inside, at(0)),
            Verdict::Drop(DropReason::Malformed),
            "inside: {name}"
        );
        assert_eq!(
            verdict(&mut w, Side::Outside, outside, at(0)),
            Verdict::Drop(DropReason::Malformed),
            "outside: {name}"
        );
    }
    let malformed = cases.iter().filter(|c| c.2 == DropReason::Malformed).count() as u64 * 2 + 6;
    assert_eq!(w.counters().dropped(DropReason::Malformed), malformed);
    assert_eq!(w.counters().dropped(DropReason::BadChecksum), 2);
    assert_eq!(nat.sessions().len(), 1);
    // Ethernet padding after Total Length is ignored and left alone.
    let mut padded = good.clone();
    padded.extend_from_slice(&[0xEE; 20]);
    let v = w.process(Side::Inside, &mut padded, at(0));
    assert_eq!(v, Verdict::Forward(Side::Outside));
    assert_eq!(&padded[good.len()..], &[0xEE; 20]);
    assert_eq!(parse(&padded).payload, b"0123456789");
    // Every prefix of valid packets, from both sides: no panic.
    let t = tcp(SUB_A, 1, SERVER, 2, SYN, b"");
    let e = echo_request(SUB_A, SERVER, 1, 1, b"");
    for p in [good, t, e, icmp_error(SERVER, SUB_A, 3, 3, &udp(SUB_A, 1, SERVER, 2, b"q"))] {
        for cut in 0..=p.len() {
            for side in [Side::Inside, Side::Outside] {
                let _ = verdict(&mut w, side, &p[..cut], at(1));
            }
        }
    }
}
