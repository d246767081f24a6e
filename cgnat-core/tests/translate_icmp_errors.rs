//! ICMP error translation (RFC 5508 section 4) and RFC 4787 REQ-12 (an
//! ICMP error never ends a mapping). Every checksum of the translated
//! error is recomputed by etherparse: outer IPv4 header, ICMP over the
//! whole message, the quoted IPv4 header and the quoted transport header.

mod common;

use cgnat_core::{Counter, DropReason, Side, Verdict};
use common::*;

/// What the server receives: the translated packet with the TTL it has
/// after the NAT's decrement (the quote of an ICMP error is this packet).
fn as_received(pkt: &[u8]) -> Vec<u8> {
    let (h, _) = etherparse::Ipv4Header::from_slice(pkt).unwrap();
    pkt[..h.total_len as usize].to_vec()
}

/// Processes an outbound packet and returns the translated bytes.
fn translate_out<E: cgnat_core::EventSink>(w: &mut cgnat_core::Worker<E>, mut pkt: Vec<u8>) -> Vec<u8> {
    assert_eq!(w.process(Side::Inside, &mut pkt, at(0)), Verdict::Forward(Side::Outside));
    as_received(&pkt)
}

/// Asserts that a quote, translated back, is the original packet except
/// for the TTL the NAT took off (and so the IPv4 header checksum).
fn assert_quote_restores(quoted: &View, original: &[u8]) {
    let orig = parse(original);
    assert_eq!((quoted.src, quoted.dst, quoted.protocol), (orig.src, orig.dst, orig.protocol));
    assert_eq!((quoted.sport, quoted.dport), (orig.sport, orig.dport), "quoted ports / identifier");
    assert_eq!(quoted.ttl, orig.ttl - 1, "the quote is the packet after our TTL decrement");
    assert_eq!(quoted.ident, orig.ident);
    if orig.protocol == 17 {
        assert_eq!(quoted.udp_checksum, orig.udp_checksum, "quoted UDP checksum restored");
    }
}

//= https://www.rfc-editor.org/rfc/rfc5508#section-4.2
//# REQ-4: If a NAT device receives an ICMP Error packet from an external
//# realm, and the NAT device does not have an active mapping for the
//# embedded payload, the NAT SHOULD silently drop the ICMP Error packet.
//# (...) the NAT device MUST translate the ICMP error (...) embedded
//# payload
#[test]
fn rfc5508_port_unreachable_about_outbound_udp_reaches_the_subscriber() {
    let nat = nat("");
    let mut w = worker(&nat);
    let original = udp(SUB_A, 5000, SERVER, 53, b"dns query payload");
    let sent = translate_out(&mut w, original.clone());
    let t = parse(&sent);
    let err = icmp_error(SERVER, t.src, 3, 3, &sent);
    let v = inb(&mut w, err, at(1));
    assert_eq!((v.src, v.dst, v.icmp_type, v.icmp_code, v.ttl), (SERVER, SUB_A, 3, 3, 63));
    let q = v.quoted.as_ref().expect("quoted packet");
    assert_quote_restores(q, &original);
    assert_eq!(q.payload, b"dns query payload", "whole datagram quoted, UDP checksum verified");
    assert_eq!(w.counters().get(Counter::IcmpErrorsTranslated), 1);
}

/// Time exceeded from a router on the path about a TCP SYN (the traceroute
/// case), with the full TCP header quoted.
#[test]
fn rfc5508_time_exceeded_about_tcp_from_a_router_on_the_path() {
    let nat = nat("");
    let mut w = worker(&nat);
    let original = tcp(SUB_A, 40_000, SERVER, 443, SYN, b"");
    let sent = translate_out(&mut w, original.clone());
    let public = parse(&sent).src;
    let v = inb(&mut w, icmp_error(ROUTER, public, 11, 0, &sent), at(1));
    assert_eq!((v.src, v.dst, v.icmp_type), (ROUTER, SUB_A, 11));
    let q = v.quoted.as_ref().unwrap();
    assert_quote_restores(q, &original);
    assert_eq!(q.tcp_flags, SYN, "quoted TCP header complete and its checksum verified");
}

/// Fragmentation needed (RFC 1191) keeps its next-hop MTU and is
/// translated like any error: path MTU discovery works through the NAT.
#[test]
fn rfc1191_frag_needed_from_the_internet_keeps_its_mtu() {
    let nat = nat("");
    let mut w = worker(&nat);
    let original = tcp(SUB_A, 40_001, SERVER, 443, ACK | PSH, &[7u8; 1400]);
    let sent = translate_out(&mut w, original.clone());
    let public = parse(&sent).src;
    // Quote: header + 8 bytes only (RFC 792 minimum).
    let mut e = Vec::new();
    etherparse::PacketBuilder::ipv4(ROUTER.octets(), public.octets(), 64)
        .icmpv4_raw(3, 4, [0, 0, 0x05, 0x78])
        .write(&mut e, &sent[..28])
        .unwrap();
    let v = inb(&mut w, e, at(1));
    assert_eq!((v.dst, v.icmp_type, v.icmp_code, v.icmp_rest), (SUB_A, 3, 4, [0, 0, 0x05, 0x78]));
    let q = v.quoted.as_ref().unwrap();
    assert_eq!((q.src, q.sport, q.dst, q.dport), (SUB_A, 40_001, SERVER, 443));
}

/// An error about an ICMP echo request: the quoted identifier goes back
/// to the subscriber's, with a valid quoted ICMP checksum.
#[test]
fn rfc5508_error_about_echo_request_restores_the_quoted_identifier() {
    let nat = nat("");
    let mut w = worker(&nat);
    let original = echo_request(SUB_A, SERVER, 0x1234, 3, b"ping data");
    let sent = translate_out(&mut w, original.clone());
    let t = parse(&sent);
    assert_ne!(t.sport, 0x1234, "the identifier was translated");
    let v = inb(&mut w, icmp_error(ROUTER, t.src, 11, 0, &sent), at(1));
    let q = v.quoted.as_ref().unwrap();
    assert_eq!((q.icmp_type, q.sport, q.icmp_seq), (8, 0x1234, 3));
    assert_quote_restores(q, &original);
    assert_eq!(v.dst, SUB_A);
}

//= https://www.rfc-editor.org/rfc/rfc5508#section-4.2
//# the NAT device MUST translate (...) ICMP Error packets (...) from the
//# private realm
//
// The subscriber answers an inbound packet with port unreachable: the
// error leaves with the public address as source, and the quote shows the
// public endpoint the remote sent to.
#[test]
fn rfc5508_error_from_subscriber_about_inbound_packet_carries_the_public_endpoint() {
    let nat = nat("");
    let mut w = worker(&nat);
    let o = out(&mut w, udp(SUB_A, 5000, SERVER, 53, b"q"), at(0));
    let mut inbound = udp(SERVER2, 9999, o.src, o.sport, b"unsolicited but EIF");
    let original_inbound = inbound.clone();
    assert_eq!(w.process(Side::Outside, &mut inbound, at(1)), Verdict::Forward(Side::Inside));
    let received = as_received(&inbound);
    let err = icmp_error(SUB_A, SERVER2, 3, 3, &received);
    let v = out(&mut w, err, at(2));
    assert_eq!((v.src, v.dst, v.icmp_type, v.icmp_code), (o.src, SERVER2, 3, 3));
    let q = v.quoted.as_ref().unwrap();
    let orig = parse(&original_inbound);
    assert_eq!((q.src, q.sport, q.dst, q.dport), (SERVER2, 9999, o.src, o.sport));
    assert_eq!(q.udp_checksum, orig.udp_checksum, "quoted checksum is the one the remote sent");
    assert_eq!(q.payload, b"unsolicited but EIF");
    // A TCP RST-less "host unreachable" about an inbound TCP segment.
    let t = out(&mut w, tcp(SUB_B, 80, SERVER, 1234, SYN, b""), at(3));
    let mut seg = tcp(SERVER, 1234, t.src, t.sport, SYN | ACK, b"");
    assert_eq!(w.process(Side::Outside, &mut seg, at(3)), Verdict::Forward(Side::Inside));
    let v = out(&mut w, icmp_error(SUB_B, SERVER, 3, 1, &as_received(&seg)), at(3));
    assert_eq!(v.src, t.src);
    let q = v.quoted.as_ref().unwrap();
    assert_eq!((q.dst, q.dport, q.tcp_flags), (t.src, t.sport, SYN | ACK));
}

//= https://www.rfc-editor.org/rfc/rfc5508#section-4.2
//# REQ-4: (...) does not have an active mapping for the embedded payload,
//# the NAT SHOULD silently drop the ICMP Error packet.
#[test]
fn rfc5508_req4_errors_without_a_session_are_dropped() {
    let nat = nat("");
    let mut w = worker(&nat);
    let sent = translate_out(&mut w, udp(SUB_A, 5000, SERVER, 53, b"q"));
    let t = parse(&sent);
    // Quote of a packet from a public port with no mapping.
    let mut other_port = sent.clone();
    let unused = if t.sport == 65_535 { t.sport - 1 } else { t.sport + 1 };
    other_port[20..22].copy_from_slice(&unused.to_be_bytes());
    // Quote of a packet of the mapping to a remote it never talked to.
    let mut other_remote = sent.clone();
    edit_ip(&mut other_remote, |h| h.destination = SERVER3.octets());
    // Quote whose source is another pool address than the error's destination.
    let mut other_public = sent.clone();
    edit_ip(&mut other_public, |h| h.source = (u32::from(t.src) ^ 1).to_be_bytes());
    for (name, q) in [
        ("unmapped port", &other_port),
        ("other remote", &other_remote),
        ("other public", &other_public),
    ] {
        assert_eq!(
            verdict(&mut w, Side::Outside, &icmp_error(SERVER, t.src, 3, 3, q), at(1)),
            Verdict::Drop(DropReason::IcmpErrorNoMapping),
            "{name}"
        );
    }
    // From the inside: about a packet that no session delivered.
    let fake = udp(SERVER2, 53, SUB_A, 5000, b"never seen");
    assert_eq!(
        verdict(&mut w, Side::Inside, &icmp_error(SUB_A, SERVER2, 3, 3, &fake), at(1)),
        Verdict::Drop(DropReason::IcmpErrorNoMapping)
    );
    assert_eq!(w.counters().dropped(DropReason::IcmpErrorNoMapping), 4);
    assert_eq!(nat.sessions().len(), 1, "nothing created");
}

//= https://www.rfc-editor.org/rfc/rfc1122#section-3.2.2
//# An ICMP error message MUST NOT be sent as the result of receiving (...)
//# an ICMP error message
//
// An error quoting an error, or quoting a non-translatable protocol, is
// refused; malformed quotes are malformed drops; nothing panics.
#[test]
fn errors_about_errors_and_malformed_quotes_are_refused() {
    let nat = nat("");
    let mut w = worker(&nat);
    let sent = translate_out(&mut w, udp(SUB_A, 5000, SERVER, 53, b"q"));
    let public = parse(&sent).src;
    let inner_err = icmp_error(public, SERVER, 3, 3, &sent);
    assert_eq!(
        verdict(&mut w, Side::Outside, &icmp_error(SERVER, public, 3, 3, &inner_err), at(1)),
        Verdict::Drop(DropReason::IcmpErrorRefused)
    );
    let gre = raw_ip(public, SERVER, 47, &[0; 8]);
    assert_eq!(
        verdict(&mut w, Side::Outside, &icmp_error(SERVER, public, 3, 2, &gre), at(1)),
        Verdict::Drop(DropReason::IcmpErrorRefused)
    );
    // Quote shorter than an IPv4 header, quote with 4 bytes of UDP.
    for q in [&sent[..12], &sent[..24]] {
        assert_eq!(
            verdict(&mut w, Side::Outside, &icmp_error(SERVER, public, 3, 3, q), at(1)),
            Verdict::Drop(DropReason::Malformed)
        );
    }
    // Nothing at all after the ICMP header.
    assert_eq!(
        verdict(&mut w, Side::Outside, &icmp_error(SERVER, public, 11, 0, &[]), at(1)),
        Verdict::Drop(DropReason::Malformed)
    );
    // Every truncation of a valid error is handled.
    let good = icmp_error(SERVER, public, 3, 3, &sent);
    for cut in 20..good.len() {
        let mut p = good[..cut].to_vec();
        edit_ip(&mut p, |h| h.total_len = cut as u16);
        let _ = verdict(&mut w, Side::Outside, &p, at(1));
    }
    assert!(nat.sessions().len() == 1);
}

//= https://www.rfc-editor.org/rfc/rfc4787#section-10
//# REQ-12: Receipt of any sort of ICMP message MUST NOT terminate the NAT
//# mapping.
#[test]
fn rfc4787_req12_icmp_errors_never_remove_a_session() {
    let nat = nat("");
    let mut w = worker(&nat);
    let mut sweeper = cgnat_core::sweeper::Sweeper::new(nat.clone(), Vec::new());
    let sent = translate_out(&mut w, udp(SUB_A, 5000, SERVER, 53, b"q"));
    let t = parse(&sent);
    let tcp_sent = translate_out(&mut w, tcp(SUB_A, 6000, SERVER, 80, SYN, b""));
    let tt = parse(&tcp_sent);
    let sessions = nat.sessions().len();
    // Every kind of unreachable and time exceeded, many times.
    for code in 0..16u8 {
        inb(&mut w, icmp_error(SERVER, t.src, 3, code, &sent), at(1));
        inb(&mut w, icmp_error(ROUTER, tt.src, 3, code, &tcp_sent), at(1));
    }
    for code in 0..2u8 {
        inb(&mut w, icmp_error(ROUTER, t.src, 11, code, &sent), at(1));
    }
    inb(&mut w, icmp_error(ROUTER, t.src, 12, 0, &sent), at(1));
    assert_eq!(nat.sessions().len(), sessions);
    assert_eq!(nat.mappings().len(), 2);
    // A sweep well within the timers removes nothing either.
    sweeper.sweep_all(at(100));
    assert_eq!(nat.sessions().len(), sessions);
    // And the flows still work both ways.
    let r = inb(&mut w, udp(SERVER, 53, t.src, t.sport, b"late answer"), at(101));
    assert_eq!((r.dst, r.dport), (SUB_A, 5000));
    let o = out(&mut w, tcp(SUB_A, 6000, SERVER, 80, SYN, b""), at(101));
    assert_eq!((o.src, o.sport), (tt.src, tt.sport));
    check_invariants(&nat);
}

//= https://www.rfc-editor.org/rfc/rfc5508#section-4.1
//# REQ-3: When an ICMP Error packet is received, if the ICMP checksum
//# fails to validate, the NAT SHOULD silently drop the ICMP Error packet.
//# (...) a) If the IP checksum of the embedded packet fails to validate,
//# the NAT SHOULD silently drop the Error packet
#[test]
fn rfc5508_req3_errors_with_bad_checksums_are_dropped_not_laundered() {
    let nat = nat("");
    let mut w = worker(&nat);
    let sent = translate_out(&mut w, udp(SUB_A, 5000, SERVER, 53, b"q"));
    let public = parse(&sent).src;
    // Outer ICMP checksum wrong (from outside and from inside).
    let mut bad_icmp = icmp_error(SERVER, public, 3, 3, &sent);
    bad_icmp[22] ^= 0x01;
    assert_eq!(
        verdict(&mut w, Side::Outside, &bad_icmp, at(1)),
        Verdict::Drop(DropReason::IcmpErrorRefused),
        "a corrupted error must not leave with a freshly computed checksum"
    );
    let mut inbound = udp(SERVER, 53, public, parse(&sent).sport, b"r");
    assert_eq!(w.process(Side::Outside, &mut inbound, at(1)), Verdict::Forward(Side::Inside));
    let mut bad_inside = icmp_error(SUB_A, SERVER, 3, 3, &inbound);
    let n = bad_inside.len();
    bad_inside[n - 1] ^= 0x80;
    assert_eq!(
        verdict(&mut w, Side::Inside, &bad_inside, at(1)),
        Verdict::Drop(DropReason::IcmpErrorRefused)
    );
    // Quoted IPv4 header checksum wrong (outer ICMP checksum right).
    let mut bad_quote = sent.clone();
    bad_quote[10] ^= 0x01;
    assert_eq!(
        verdict(&mut w, Side::Outside, &icmp_error(SERVER, public, 3, 3, &bad_quote), at(1)),
        Verdict::Drop(DropReason::IcmpErrorRefused)
    );
    // RFC 5508 REQ-3c: the quoted transport checksum is not validated.
    let mut bad_udp = sent.clone();
    bad_udp[26] ^= 0x01;
    let mut e = icmp_error(SERVER, public, 3, 3, &bad_udp);
    assert_eq!(w.process(Side::Outside, &mut e, at(1)), Verdict::Forward(Side::Inside));
    assert_eq!(&e[16..20], &SUB_A.octets());
    assert_eq!(w.counters().dropped(DropReason::IcmpErrorRefused), 3);
}

//= https://www.rfc-editor.org/rfc/rfc5508#section-4.1
//# b) If the embedded packet includes IP options, the NAT device MUST
//# traverse past the IP options to locate the start of the transport
//# header for the embedded packet
#[test]
fn rfc5508_req3b_quoted_packet_with_ip_options() {
    let nat = nat("");
    let mut w = worker(&nat);
    let mut h = etherparse::Ipv4Header::new(8 + 5, 64, etherparse::IpNumber::UDP, SUB_A.octets(), SERVER.octets()).unwrap();
    // NOP, NOP, NOP, End of list: a 24-byte header.
    h.options = [1u8, 1, 1, 0].into();
    h.header_checksum = h.calc_header_checksum();
    let mut original = Vec::new();
    etherparse::PacketBuilder::ip(etherparse::IpHeaders::Ipv4(h, Default::default()))
        .udp(5000, 53)
        .write(&mut original, b"opts!")
        .unwrap();
    let sent = translate_out(&mut w, original.clone());
    let t = parse(&sent);
    assert_eq!(
        (t.dport, t.payload.as_slice()),
        (53, &b"opts!"[..]),
        "options skipped on the way out"
    );
    let r = inb(&mut w, udp(SERVER, 53, t.src, t.sport, b"back"), at(1));
    assert_eq!((r.dst, r.dport), (SUB_A, 5000));
    let v = inb(&mut w, icmp_error(SERVER, t.src, 3, 3, &sent), at(1));
    let q = v.quoted.as_ref().unwrap();
    assert_quote_restores(q, &original);
    assert_eq!(q.payload, b"opts!");
}
