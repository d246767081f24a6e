//! Transport translation: TCP (RFC 5382), UDP (RFC 4787, RFC 768 checksum
//! rules), ICMP echo (RFC 5508 section 3), checksums (RFC 1624) checked by
//! etherparse from scratch.

mod common;

use cgnat_core::{DropReason, Side, Verdict};
use common::*;
use etherparse::{Ipv4Header, UdpHeader};

//= https://www.rfc-editor.org/rfc/rfc5382#section-2
//# a NAT (...) translates the IP addresses and TCP ports (...)
//
// A whole TCP connection (handshake, data both ways, close) keeps every
// field but the subscriber's address and port, and every checksum verifies.
#[test]
fn rfc5382_tcp_connection_translated_both_ways() {
    let nat = nat("");
    let mut w = worker(&nat);
    let syn = out(&mut w, tcp(SUB_A, 40_000, SERVER, 443, SYN, b""), at(0));
    assert_eq!((syn.dst, syn.dport, syn.tcp_flags, syn.ttl), (SERVER, 443, SYN, 63));
    let (public, port) = (syn.src, syn.sport);
    assert!(nat.pool().index_of(u32::from(public)).is_some());
    let synack = inb(&mut w, tcp(SERVER, 443, public, port, SYN | ACK, b""), at(0));
    assert_eq!((synack.src, synack.sport, synack.dst, synack.dport), (SERVER, 443, SUB_A, 40_000));
    assert_eq!(synack.tcp_flags, SYN | ACK);
    let body = vec![0xa5u8; 1000];
    let d = out(&mut w, tcp(SUB_A, 40_000, SERVER, 443, ACK | PSH, &body), at(1));
    assert_eq!((d.src, d.sport), (public, port));
    assert_eq!(d.payload, body);
    let r = inb(&mut w, tcp(SERVER, 443, public, port, ACK | PSH, b"HTTP/1.1 200 OK\r\n"), at(1));
    assert_eq!(r.payload, b"HTTP/1.1 200 OK\r\n");
    let f = out(&mut w, tcp(SUB_A, 40_000, SERVER, 443, FIN | ACK, b""), at(2));
    assert_eq!(f.tcp_flags, FIN | ACK);
    let f2 = inb(&mut w, tcp(SERVER, 443, public, port, FIN | ACK, b""), at(2));
    assert_eq!(f2.dport, 40_000);
    assert_eq!(nat.sessions().len(), 1);
    assert_eq!(w.counters().get(cgnat_core::Counter::TranslatedOut), 3);
    assert_eq!(w.counters().get(cgnat_core::Counter::TranslatedIn), 3);
    assert_eq!(w.counters().total_dropped(), 0);
}

/// TCP options (MSS, SACK, timestamps, window scale) and an odd-length
/// payload are carried as they are, with a correct checksum.
#[test]
fn tcp_options_and_odd_payload_keep_a_valid_checksum() {
    let nat = nat("");
    let mut w = worker(&nat);
    let mut h = etherparse::TcpHeader::new(40_001, 80, 7, 1000);
    h.syn = true;
    h.set_options(&[
        etherparse::TcpOptionElement::MaximumSegmentSize(1460),
        etherparse::TcpOptionElement::SelectiveAcknowledgementPermitted,
        etherparse::TcpOptionElement::Timestamp(1, 0),
        etherparse::TcpOptionElement::Noop,
        etherparse::TcpOptionElement::WindowScale(7),
    ])
    .unwrap();
    let mut pkt = Vec::new();
    etherparse::PacketBuilder::ipv4(SUB_A.octets(), SERVER.octets(), 64)
        .tcp_header(h)
        .write(&mut pkt, b"odd")
        .unwrap();
    let v = out(&mut w, pkt, at(0));
    assert_eq!(v.payload, b"odd");
    assert_eq!(v.tcp_flags, SYN);
}

//= https://www.rfc-editor.org/rfc/rfc768
//# An all zero transmitted checksum value means that the transmitter
//# generated no checksum
//
// A UDP datagram sent without a checksum must not get a (wrong) one from
// the incremental update, in either direction.
#[test]
fn rfc768_udp_checksum_zero_stays_zero_both_ways() {
    let nat = nat("");
    let mut w = worker(&nat);
    let mut pkt = udp(SUB_A, 5000, SERVER, 53, b"no checksum");
    pkt[26..28].copy_from_slice(&[0, 0]);
    let v = out(&mut w, pkt, at(0));
    assert_eq!(v.udp_checksum, 0, "outbound: zero checksum stays zero");
    assert_eq!(v.payload, b"no checksum");
    let mut reply = udp(SERVER, 53, v.src, v.sport, b"reply");
    reply[26..28].copy_from_slice(&[0, 0]);
    let r = inb(&mut w, reply, at(0));
    assert_eq!(r.udp_checksum, 0, "inbound: zero checksum stays zero");
    assert_eq!((r.dst, r.dport), (SUB_A, 5000));
    // And a datagram with a checksum keeps one.
    let v = out(&mut w, udp(SUB_A, 5000, SERVER, 53, b"with"), at(1));
    assert_ne!(v.udp_checksum, 0);
}

//= https://www.rfc-editor.org/rfc/rfc768
//# If the computed checksum is zero, it is transmitted as all ones
//
// A payload is chosen so that the translated datagram's checksum computes
// to zero: the NAT must send 0xFFFF, not 0x0000 (which would mean "no
// checksum" and silently disable the receiver's check).
#[test]
fn rfc768_translated_checksum_that_computes_to_zero_is_sent_as_all_ones() {
    let nat = nat("");
    let mut w = worker(&nat);
    let first = out(&mut w, udp(SUB_A, 5000, SERVER, 53, &[0, 0]), at(0));
    let (public, port) = (first.src, first.sport);
    // Search the two payload bytes that make the translated checksum 0.
    let ip = Ipv4Header::new(10, 63, etherparse::IpNumber::UDP, public.octets(), SERVER.octets()).unwrap();
    let payload = (0..=u16::MAX)
        .map(|x| x.to_be_bytes())
        .find(|p| {
            let h = UdpHeader {
                source_port: port,
                destination_port: 53,
                length: 10,
                checksum: 0,
            };
            // etherparse returns 0xFFFF when the sum is zero.
            h.calc_checksum_ipv4(&ip, p).unwrap() == 0xFFFF
        })
        .expect("some payload sums to zero");
    let original = udp(SUB_A, 5000, SERVER, 53, &payload);
    assert_ne!(&original[26..28], &[0, 0], "the original has a checksum");
    let v = out(&mut w, original, at(1));
    assert_eq!((v.src, v.sport), (public, port));
    assert_eq!(v.udp_checksum, 0xFFFF, "computed zero is transmitted as all ones");
    // The reverse direction of the same trick.
    let inside_ip = Ipv4Header::new(10, 63, etherparse::IpNumber::UDP, SERVER.octets(), SUB_A.octets()).unwrap();
    let payload = (0..=u16::MAX)
        .map(|x| x.to_be_bytes())
        .find(|p| {
            let h = UdpHeader {
                source_port: 53,
                destination_port: 5000,
                length: 10,
                checksum: 0,
            };
            h.calc_checksum_ipv4(&inside_ip, p).unwrap() == 0xFFFF
        })
        .unwrap();
    let r = inb(&mut w, udp(SERVER, 53, public, port, &payload), at(1));
    assert_eq!(r.udp_checksum, 0xFFFF);
}

/// A UDP flow carries large and empty payloads with valid checksums.
#[test]
fn udp_payload_sizes() {
    let nat = nat("");
    let mut w = worker(&nat);
    for len in [0usize, 1, 2, 7, 8, 9, 511, 1472] {
        let payload: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
        let v = out(&mut w, udp(SUB_B, 6000, SERVER2, 5353, &payload), at(0));
        assert_eq!(v.payload, payload);
        let r = inb(&mut w, udp(SERVER2, 5353, v.src, v.sport, &payload), at(0));
        assert_eq!((r.dst, r.dport, r.payload.len()), (SUB_B, 6000, len));
    }
    assert_eq!(nat.sessions().len(), 1);
}

//= https://www.rfc-editor.org/rfc/rfc5508#section-3.1
//# REQ-1: (...) NAT MUST translate the ICMP Query Identifier
//# (...) reply back to the original identifier
#[test]
fn rfc5508_icmp_echo_identifier_translated_and_restored() {
    let nat = nat("");
    let mut w = worker(&nat);
    let mut publics = Vec::new();
    for (sub, id) in [(SUB_A, 1u16), (SUB_B, 1), (SUB_A, 2)] {
        let req = out(&mut w, echo_request(sub, SERVER, id, 7, b"abcdefgh"), at(0));
        assert_eq!(
            (req.dst, req.icmp_type, req.icmp_seq, req.payload.as_slice()),
            (SERVER, 8, 7, &b"abcdefgh"[..])
        );
        assert!(nat.pool().index_of(u32::from(req.src)).is_some());
        // The identifier is the mapping's "port": in the subscriber's block.
        let owner = nat.lookup_public(req.src, req.sport).unwrap();
        assert_eq!(owner.subscriber, sub);
        assert_eq!(owner.mappings, vec![(cgnat_core::flow::Protocol::Icmp, id)]);
        publics.push((req.src, req.sport));
        let rep = inb(&mut w, echo_reply(SERVER, req.src, req.sport, 7, b"abcdefgh"), at(0));
        assert_eq!((rep.src, rep.dst, rep.icmp_type, rep.sport, rep.icmp_seq), (SERVER, sub, 0, id, 7));
        assert_eq!(rep.payload, b"abcdefgh");
    }
    // Same identifier on two subscribers: two distinct public identifiers.
    assert_ne!(publics[0], publics[1]);
    // A second ping with the same identifier to another host reuses the mapping.
    let again = out(&mut w, echo_request(SUB_A, SERVER2, 1, 8, b""), at(1));
    assert_eq!((again.src, again.sport), publics[0]);
}

/// ICMP types the NAT does not translate (RFC 5508 section 3: only queries
/// it tracks and errors).
#[test]
fn rfc5508_untracked_icmp_queries_are_dropped() {
    let nat = nat("");
    let mut w = worker(&nat);
    // Timestamp request (13) from the inside, address mask reply (18) from outside.
    let mut ts = Vec::new();
    etherparse::PacketBuilder::ipv4(SUB_A.octets(), SERVER.octets(), 64)
        .icmpv4_raw(13, 0, [0, 1, 0, 1])
        .write(&mut ts, &[0; 12])
        .unwrap();
    assert_eq!(
        verdict(&mut w, Side::Inside, &ts, at(0)),
        Verdict::Drop(DropReason::UnsupportedIcmp)
    );
    let v = out(&mut w, echo_request(SUB_A, SERVER, 5, 1, b""), at(0));
    let mut mask = Vec::new();
    etherparse::PacketBuilder::ipv4(SERVER.octets(), v.src.octets(), 64)
        .icmpv4_raw(18, 0, [0, 0, 0, 0])
        .write(&mut mask, &[255, 255, 255, 0])
        .unwrap();
    assert_eq!(
        verdict(&mut w, Side::Outside, &mask, at(0)),
        Verdict::Drop(DropReason::UnsupportedIcmp)
    );
    // An echo request from the outside to a subscriber's mapping is not a
    // reply: it is answered by the appliance (Local), never forwarded.
    assert_eq!(
        verdict(&mut w, Side::Outside, &echo_request(SERVER, v.src, v.sport, 1, b""), at(0)),
        Verdict::Local
    );
    // An echo reply from a subscriber has no outbound session to match:
    // it would create a mapping, so it is dropped.
    assert_eq!(
        verdict(&mut w, Side::Inside, &echo_reply(SUB_A, SERVER, 9, 1, b""), at(0)),
        Verdict::Drop(DropReason::UnsupportedIcmp)
    );
    assert_eq!(w.counters().dropped(DropReason::UnsupportedIcmp), 3);
}

/// Every protocol on one subscriber, interleaved: each reply finds its flow.
#[test]
fn interleaved_protocols_on_one_subscriber() {
    let nat = nat("");
    let mut w = worker(&nat);
    let u = out(&mut w, udp(SUB_A, 1000, SERVER, 1000, b"u"), at(0));
    let t = out(&mut w, tcp(SUB_A, 1000, SERVER, 1000, SYN, b""), at(0));
    let i = out(&mut w, echo_request(SUB_A, SERVER, 1000, 0, b"i"), at(0));
    assert_eq!(u.src, t.src);
    assert_eq!(u.src, i.src);
    assert_eq!(inb(&mut w, echo_reply(SERVER, i.src, i.sport, 0, b"i"), at(0)).dst, SUB_A);
    assert_eq!(inb(&mut w, tcp(SERVER, 1000, t.src, t.sport, SYN | ACK, b""), at(0)).dport, 1000);
    assert_eq!(inb(&mut w, udp(SERVER, 1000, u.src, u.sport, b"u"), at(0)).dport, 1000);
    assert_eq!(nat.sessions().len(), 3);
    assert_eq!(nat.mappings().len(), 3);
    check_invariants(&nat);
}

//= https://www.rfc-editor.org/rfc/rfc5382#section-2
//# REQ-2: A NAT MUST support all valid sequences of TCP packets (defined
//# in [RFC0793]) for connections initiated both internally as well as
//# externally when the connection is permitted by the NAT. In particular:
//# a) In addition to handling the TCP 3-way handshake mode of connection
//# initiation, A NAT MUST handle the TCP simultaneous-open mode of
//# connection initiation.
#[test]
fn rfc5382_req2_tcp_simultaneous_open() {
    // The strictest filtering: the remote's SYN is let in only because the
    // subscriber's SYN to it created the session.
    let nat = nat("filtering = \"address-and-port-dependent\"");
    let mut w = worker(&nat);
    let syn = out(&mut w, tcp(SUB_A, 50_000, SERVER, 50_001, SYN, b""), at(0));
    let peer_syn = inb(&mut w, tcp(SERVER, 50_001, syn.src, syn.sport, SYN, b""), at(0));
    assert_eq!((peer_syn.dst, peer_syn.dport, peer_syn.tcp_flags), (SUB_A, 50_000, SYN));
    let a = out(&mut w, tcp(SUB_A, 50_000, SERVER, 50_001, SYN | ACK, b""), at(0));
    assert_eq!((a.src, a.sport), (syn.src, syn.sport));
    let b = inb(&mut w, tcp(SERVER, 50_001, syn.src, syn.sport, SYN | ACK, b""), at(0));
    assert_eq!(b.dport, 50_000);
    assert_eq!(nat.sessions().len(), 1);
    // Both SYNs were seen: the session has the established timer.
    let mut s = cgnat_core::sweeper::Sweeper::new(nat.clone(), Vec::new());
    assert_eq!(s.sweep_all(at(7000)).sessions_expired, 0);
}

/// Externally initiated TCP through an existing mapping (EIF): the
/// subscriber's SYN-ACK goes out on the same public endpoint.
#[test]
fn rfc5382_req2_externally_initiated_connection() {
    let nat = nat("");
    let mut w = worker(&nat);
    let m = out(&mut w, tcp(SUB_A, 6881, SERVER, 6881, SYN, b""), at(0));
    let syn = inb(&mut w, tcp(SERVER2, 40_000, m.src, m.sport, SYN, b""), at(1));
    assert_eq!((syn.dst, syn.dport), (SUB_A, 6881));
    let sa = out(&mut w, tcp(SUB_A, 6881, SERVER2, 40_000, SYN | ACK, b""), at(1));
    assert_eq!((sa.src, sa.sport, sa.dst, sa.dport), (m.src, m.sport, SERVER2, 40_000));
    let ack = inb(&mut w, tcp(SERVER2, 40_000, m.src, m.sport, ACK, b"data"), at(1));
    assert_eq!(ack.payload, b"data");
    assert_eq!(nat.sessions().len(), 2);
}
