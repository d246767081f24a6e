//! ICMP (RFC 792, RFC 1191) and the router duties built on it (RFC 1812
//! §4.3): byte fixtures, echo replies, error generation, the rules on when
//! not to send an error, and property tests against etherparse.

use std::net::Ipv4Addr;

use cgnat_core::wire::icmp::{self, dest_unreachable, echo_reply_in_place, emit_error, may_send_error_for, msg_type, time_exceeded};
use cgnat_core::wire::{ip_protocol, ipv4, udp, Error};
use etherparse::icmpv4::{DestUnreachableHeader, TimeExceededCode};
use etherparse::{IcmpEchoHeader, Icmpv4Slice, Icmpv4Type, Ipv4Header, NetSlice, PacketBuilder, SlicedPacket, TransportSlice};
use proptest::prelude::*;

/// IPv4 + ICMP echo request 100.64.0.10 -> 100.64.0.1, identifier 0x1f2e,
/// sequence 1, 48 bytes of data as `ping -s 48` sends them (timestamp
/// then 0x10..0x37).
const IPV4_ICMP_ECHO_REQUEST: [u8; 76] = [
    0x45, 0x00, 0x00, 0x4c, 0xb1, 0xe5, 0x40, 0x00, 0x40, 0x01, 0xc0, 0x40, 0x64, 0x40, 0x00, 0x0a, 0x64, 0x40, 0x00, 0x01, 0x08, 0x00,
    0xd3, 0xfe, 0x1f, 0x2e, 0x00, 0x01, 0x65, 0xf1, 0xa2, 0xb3, 0x00, 0x0c, 0x3d, 0x4e, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
    0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2a, 0x2b, 0x2c, 0x2d,
    0x2e, 0x2f, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37,
];

/// IPv4 + UDP DNS query, 100.64.0.10:53124 -> 8.8.8.8:53, DF, TTL 64.
const IPV4_UDP_DNS: [u8; 57] = [
    0x45, 0x00, 0x00, 0x39, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x11, 0xaa, 0x14, 0x64, 0x40, 0x00, 0x0a, 0x08, 0x08, 0x08, 0x08, 0xcf, 0x84,
    0x00, 0x35, 0x00, 0x25, 0x40, 0x55, 0xab, 0xcd, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x65, 0x78, 0x61,
    0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00, 0x01,
];

const ROUTER: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);
const SUBSCRIBER: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 10);

/// Parses an IPv4 + ICMP packet with etherparse, checking both checksums.
fn etherparse_icmp(bytes: &[u8]) -> (Ipv4Header, Icmpv4Slice<'_>) {
    let sliced = SlicedPacket::from_ip(bytes).unwrap();
    let ip = match sliced.net {
        Some(NetSlice::Ipv4(ip)) => ip.header().to_header(),
        other => panic!("not IPv4: {other:?}"),
    };
    assert_eq!(ip.header_checksum, ip.calc_header_checksum(), "IPv4 checksum");
    let icmp = match sliced.transport {
        Some(TransportSlice::Icmpv4(icmp)) => icmp,
        other => panic!("not ICMP: {other:?}"),
    };
    assert_eq!(icmp.checksum(), icmp.icmp_type().calc_checksum(icmp.payload()), "ICMP checksum");
    (ip, icmp)
}

fn with_ip_header(mut packet: [u8; 76], edit: impl FnOnce(&mut ipv4::Packet<&mut [u8]>)) -> [u8; 76] {
    let mut ip = ipv4::Packet::new_checked(&mut packet[..]).unwrap();
    edit(&mut ip);
    ip.fill_checksum();
    packet
}

#[test]
fn rfc792_echo_request_fixture_fields() {
    let ip = ipv4::Packet::new_checked(&IPV4_ICMP_ECHO_REQUEST[..]).unwrap();
    assert_eq!(ip.protocol(), ip_protocol::ICMP);
    let m = icmp::Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(m.msg_type(), msg_type::ECHO_REQUEST);
    assert_eq!(m.code(), 0);
    assert_eq!(m.checksum(), 0xd3fe);
    assert_eq!(m.echo_ident(), 0x1f2e);
    assert_eq!(m.echo_seq_no(), 1);
    assert_eq!(m.rest_of_header(), 0x1f2e_0001);
    assert_eq!(m.data().len(), 48);
    assert!(m.is_query() && !m.is_error());
    assert!(m.verify_checksum());
}

#[test]
fn rfc792_new_checked_rejects_header_shorter_than_8_bytes() {
    assert_eq!(
        icmp::Packet::new_checked(&IPV4_ICMP_ECHO_REQUEST[20..27]).unwrap_err(),
        Error::Truncated
    );
    assert!(icmp::Packet::new_checked(&IPV4_ICMP_ECHO_REQUEST[20..28]).is_ok());
}

/// RFC 1122 §3.2.2: the error types are 3, 4, 5, 11, 12; RFC 792 / RFC 950
/// queries are echo, timestamp, information and address mask.
#[test]
fn rfc1122_error_and_query_classification() {
    for t in 0..=255u8 {
        let expect_error = matches!(t, 3 | 4 | 5 | 11 | 12);
        let expect_query = matches!(t, 0 | 8 | 13 | 14 | 15 | 16 | 17 | 18);
        assert_eq!(icmp::is_error_type(t), expect_error, "type {t}");
        assert_eq!(icmp::is_query_type(t), expect_query, "type {t}");
    }
}

#[test]
fn setters_write_type_specific_fields() {
    let mut buf = [0u8; 12];
    let mut m = icmp::Packet::new_unchecked(&mut buf[..]);
    m.set_msg_type(msg_type::PARAMETER_PROBLEM);
    m.set_code(0);
    m.set_pointer(9);
    assert_eq!(m.pointer(), 9);
    m.set_msg_type(msg_type::DEST_UNREACHABLE);
    m.set_code(dest_unreachable::FRAG_NEEDED);
    m.set_rest_of_header(0);
    m.set_next_hop_mtu(1492);
    assert_eq!(m.next_hop_mtu(), 1492);
    m.set_rest_of_header(u32::from(Ipv4Addr::new(192, 0, 2, 1)));
    assert_eq!(m.gateway_addr(), Ipv4Addr::new(192, 0, 2, 1));
    m.set_echo_ident(7);
    m.set_echo_seq_no(8);
    assert_eq!((m.echo_ident(), m.echo_seq_no()), (7, 8));
    m.data_mut().copy_from_slice(&[1, 2, 3, 4]);
    m.fill_checksum();
    assert!(m.verify_checksum());
    assert!(m.is_error());
    assert_eq!(m.into_inner()[8..], [1, 2, 3, 4]);
}

/// RFC 792 "Echo or Echo Reply Message": "To form an echo reply message,
/// the source and destination addresses are simply reversed, the type code
/// changed to 0, and the checksum recomputed."
#[test]
fn rfc792_echo_reply_in_place_reverses_addresses_and_changes_type() {
    let mut packet = IPV4_ICMP_ECHO_REQUEST;
    echo_reply_in_place(&mut packet).unwrap();
    let (ip, m) = etherparse_icmp(&packet);
    assert_eq!(Ipv4Addr::from(ip.source), ROUTER);
    assert_eq!(Ipv4Addr::from(ip.destination), SUBSCRIBER);
    assert_eq!(ip.time_to_live, icmp::ECHO_REPLY_TTL);
    assert_eq!(m.icmp_type(), Icmpv4Type::EchoReply(IcmpEchoHeader { id: 0x1f2e, seq: 1 }));
    assert_eq!(m.payload(), &IPV4_ICMP_ECHO_REQUEST[28..], "RFC 1122 §3.2.2.6: same data");
    assert_eq!(packet[4..8], IPV4_ICMP_ECHO_REQUEST[4..8], "ident and flags kept");
}

#[test]
fn echo_reply_in_place_ignores_ethernet_padding() {
    let mut padded = [0xAAu8; 90];
    padded[..76].copy_from_slice(&IPV4_ICMP_ECHO_REQUEST);
    echo_reply_in_place(&mut padded).unwrap();
    etherparse_icmp(&padded[..76]);
    assert_eq!(padded[76..], [0xAA; 14]);
}

#[test]
fn echo_reply_in_place_refuses_what_is_not_an_echo_request() {
    // Not ICMP.
    let mut udp = IPV4_UDP_DNS;
    assert_eq!(echo_reply_in_place(&mut udp), Err(Error::Malformed));
    // Already a reply.
    let mut reply = IPV4_ICMP_ECHO_REQUEST;
    echo_reply_in_place(&mut reply).unwrap();
    assert_eq!(echo_reply_in_place(&mut reply), Err(Error::Malformed));
    // A fragment (MF set): the reply would need reassembly.
    let mut frag = with_ip_header(IPV4_ICMP_ECHO_REQUEST, |ip| {
        ip.set_dont_frag(false);
        ip.set_more_frags(true);
    });
    assert_eq!(echo_reply_in_place(&mut frag), Err(Error::Malformed));
    // Bad IPv4 header checksum.
    let mut bad = IPV4_ICMP_ECHO_REQUEST;
    bad[11] ^= 1;
    assert_eq!(echo_reply_in_place(&mut bad), Err(Error::Malformed));
    // Truncated IPv4 packet.
    let mut short = IPV4_ICMP_ECHO_REQUEST;
    assert_eq!(echo_reply_in_place(&mut short[..75]), Err(Error::Truncated));
    // ICMP header shorter than 8 bytes.
    let mut tiny = with_ip_header(IPV4_ICMP_ECHO_REQUEST, |ip| ip.set_total_len(24));
    assert_eq!(echo_reply_in_place(&mut tiny), Err(Error::Truncated));
}

/// RFC 1624 corner case (see `checksum::update16`): an echo request with
/// identifier 0, sequence 0 and no data becomes an all-zero reply, whose
/// checksum must be 0xFFFF (RFC 1071: complement of a zero sum), not the
/// 0x0000 eqn. 3 yields.
#[test]
fn rfc1624_all_zero_echo_reply_gets_checksum_0xffff() {
    let mut packet = [0u8; 28];
    ipv4::emit_header(&mut packet, SUBSCRIBER, ROUTER, ip_protocol::ICMP, 8, 64, 1);
    let mut m = icmp::Packet::new_unchecked(&mut packet[20..]);
    m.set_msg_type(msg_type::ECHO_REQUEST);
    m.fill_checksum();
    assert_eq!(m.checksum(), 0xF7FF);
    echo_reply_in_place(&mut packet).unwrap();
    let m = icmp::Packet::new_checked(&packet[20..]).unwrap();
    assert_eq!(m.checksum(), 0xFFFF);
    assert!(m.verify_checksum());
    etherparse_icmp(&packet);
}

/// RFC 5508 §3.1: a NAPT translates the identifier of queries;
/// `rewrite_echo_ident` handles the same all-zero corner case.
#[test]
fn rfc5508_rewrite_echo_ident_to_zero_on_all_zero_reply() {
    let mut buf = [0u8; 8];
    let mut m = icmp::Packet::new_unchecked(&mut buf[..]);
    m.set_echo_ident(0x4321);
    m.fill_checksum();
    assert_eq!(m.rewrite_echo_ident(0), 0x4321);
    assert_eq!(m.checksum(), 0xFFFF);
    assert!(m.verify_checksum());
}

/// RFC 792 Time Exceeded, code 0, quoting the whole (short) datagram;
/// RFC 1812 §4.3.2.5: precedence 6 (internetwork control).
#[test]
fn rfc792_emit_time_exceeded_quotes_the_offending_datagram() {
    let mut out = [0u8; 600];
    let n = emit_error(
        &mut out,
        ROUTER,
        &IPV4_UDP_DNS,
        msg_type::TIME_EXCEEDED,
        time_exceeded::TTL_EXCEEDED,
        0,
        255,
    )
    .unwrap();
    assert_eq!(n, 20 + 8 + 57);
    let (ip, m) = etherparse_icmp(&out[..n]);
    assert_eq!(Ipv4Addr::from(ip.source), ROUTER);
    assert_eq!(Ipv4Addr::from(ip.destination), SUBSCRIBER);
    assert_eq!(ip.time_to_live, 255);
    assert_eq!(ip.dscp.value(), 48, "CS6");
    assert!(!ip.dont_fragment);
    assert_eq!(m.icmp_type(), Icmpv4Type::TimeExceeded(TimeExceededCode::TtlExceededInTransit));
    assert_eq!(m.payload(), &IPV4_UDP_DNS[..]);
}

/// RFC 1191 §4: "the router MUST include the MTU of that next-hop network
/// in the low-order 16 bits of the ICMP header field that is labelled
/// 'unused' in the ICMP specification". RFC 1812 §4.3.2.3: the error
/// datagram does not exceed 576 bytes.
#[test]
fn rfc1191_frag_needed_carries_next_hop_mtu_and_respects_576_bytes() {
    let mut big = vec![0u8; 1500];
    PacketBuilder::ipv4(SUBSCRIBER.octets(), [203, 0, 113, 80], 64)
        .tcp(40000, 443, 1, 1000)
        .write(&mut &mut big[..], &[0x5A; 1460])
        .unwrap();
    assert!(ipv4::Packet::new_checked(&big[..]).unwrap().dont_frag());
    let mut out = [0u8; 1500];
    let n = emit_error(
        &mut out,
        ROUTER,
        &big,
        msg_type::DEST_UNREACHABLE,
        dest_unreachable::FRAG_NEEDED,
        1280,
        64,
    )
    .unwrap();
    assert_eq!(n, icmp::MAX_ERROR_LEN);
    let (_, m) = etherparse_icmp(&out[..n]);
    assert_eq!(
        m.icmp_type(),
        Icmpv4Type::DestinationUnreachable(DestUnreachableHeader::FragmentationNeeded { next_hop_mtu: 1280 })
    );
    assert_eq!(m.payload(), &big[..548]);
    // The quote is an embedded packet: its UDP/TCP length describes the
    // original, so only the lenient constructors accept it.
    let quoted = ipv4::Packet::new_embedded(m.payload()).unwrap();
    assert_eq!(quoted.total_len(), 1500);
    assert_eq!(ipv4::Packet::new_checked(m.payload()).unwrap_err(), Error::Truncated);
}

#[test]
fn rfc792_parameter_problem_carries_pointer() {
    let mut out = [0u8; 100];
    let n = emit_error(&mut out, ROUTER, &IPV4_UDP_DNS, msg_type::PARAMETER_PROBLEM, 0, 8, 64).unwrap();
    let m = icmp::Packet::new_checked(&out[20..n]).unwrap();
    assert_eq!((m.msg_type(), m.pointer()), (msg_type::PARAMETER_PROBLEM, 8));
    assert!(m.verify_checksum());
}

/// RFC 792: at least "Internet Header + 64 bits of Original Data
/// Datagram"; the quote shrinks to fit the output buffer, but not below.
#[test]
fn rfc792_emit_error_quotes_at_least_header_plus_64_bits() {
    let mut out = [0u8; 56];
    let n = emit_error(&mut out, ROUTER, &IPV4_UDP_DNS, 3, dest_unreachable::PORT, 0, 64).unwrap();
    assert_eq!(n, 56);
    let m = icmp::Packet::new_checked(&out[20..n]).unwrap();
    assert_eq!(m.data(), &IPV4_UDP_DNS[..28]);
    let quoted = ipv4::Packet::new_embedded(m.data()).unwrap();
    let u = udp::Packet::new_embedded(quoted.payload()).unwrap();
    assert_eq!((u.src_port(), u.dst_port()), (53124, 53));
    assert_eq!(udp::Packet::new_checked(quoted.payload()).unwrap_err(), Error::Truncated);

    let mut small = [0u8; 55];
    assert_eq!(emit_error(&mut small, ROUTER, &IPV4_UDP_DNS, 3, 3, 0, 64), Err(Error::Truncated));
}

#[test]
fn emit_error_rejects_invalid_offending_packet() {
    let mut out = [0u8; 600];
    assert_eq!(
        emit_error(&mut out, ROUTER, &IPV4_UDP_DNS[..56], 3, 1, 0, 64),
        Err(Error::Truncated)
    );
    let mut v6 = IPV4_UDP_DNS;
    v6[0] = 0x60;
    assert_eq!(emit_error(&mut out, ROUTER, &v6, 3, 1, 0, 64), Err(Error::Malformed));
}

/// RFC 1812 §4.3.2.7: "An ICMP error message MUST NOT be sent as the
/// result of receiving: o An ICMP error message, or o A packet which fails
/// the IP header validation tests [...], or o A packet destined to an IP
/// broadcast or IP multicast address, or [...] o A packet whose source
/// address has a network prefix of zero or is an invalid source address
/// [...], or o Any fragment of a datagram other then the first fragment".
#[test]
fn rfc1812_4_3_2_7_no_icmp_error_about_these_packets() {
    assert!(may_send_error_for(&IPV4_UDP_DNS));
    assert!(may_send_error_for(&IPV4_ICMP_ECHO_REQUEST), "a query is fine");

    let edit = |f: &dyn Fn(&mut ipv4::Packet<&mut [u8]>)| {
        let mut p = IPV4_ICMP_ECHO_REQUEST;
        let mut ip = ipv4::Packet::new_checked(&mut p[..]).unwrap();
        f(&mut ip);
        ip.fill_checksum();
        p
    };
    let first_fragment = edit(&|ip| {
        ip.set_dont_frag(false);
        ip.set_more_frags(true);
    });
    assert!(may_send_error_for(&first_fragment), "the first fragment is fine");

    let non_first = edit(&|ip| ip.set_frag_offset(8));
    assert!(!may_send_error_for(&non_first), "non-first fragment");
    for src in ["0.0.0.0", "0.1.2.3", "127.0.0.1", "224.0.0.5", "240.0.0.1", "255.255.255.255"] {
        let addr: Ipv4Addr = src.parse().unwrap();
        let p = edit(&|ip| ip.set_src_addr(addr));
        assert!(!may_send_error_for(&p), "source {src}");
    }
    for dst in ["255.255.255.255", "224.0.0.251", "239.1.2.3"] {
        let addr: Ipv4Addr = dst.parse().unwrap();
        let p = edit(&|ip| ip.set_dst_addr(addr));
        assert!(!may_send_error_for(&p), "destination {dst}");
    }

    let mut error = [0u8; 200];
    let n = emit_error(&mut error, ROUTER, &IPV4_UDP_DNS, 11, 0, 0, 64).unwrap();
    assert!(!may_send_error_for(&error[..n]), "ICMP error");

    let mut bad_checksum = IPV4_UDP_DNS;
    bad_checksum[10] ^= 0x80;
    assert!(!may_send_error_for(&bad_checksum), "fails header validation");
    assert!(!may_send_error_for(&IPV4_UDP_DNS[..30]), "truncated");
    let empty_icmp = edit(&|ip| ip.set_total_len(20));
    assert!(!may_send_error_for(&empty_icmp[..20]), "ICMP without a type");
}

fn addr() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

proptest! {
    /// Our getters agree with etherparse on echo messages it builds.
    #[test]
    fn rfc792_echo_getters_match_etherparse(
        src in addr(), dst in addr(), id in any::<u16>(), seq in any::<u16>(),
        request in any::<bool>(),
        payload in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let b = PacketBuilder::ipv4(src.octets(), dst.octets(), 64);
        let b = if request { b.icmpv4_echo_request(id, seq) } else { b.icmpv4_echo_reply(id, seq) };
        let mut bytes = Vec::new();
        b.write(&mut bytes, &payload).unwrap();
        let (_, theirs) = etherparse_icmp(&bytes);
        let m = icmp::Packet::new_checked(&bytes[20..]).unwrap();
        prop_assert_eq!(m.msg_type(), theirs.type_u8());
        prop_assert_eq!(m.code(), theirs.code_u8());
        prop_assert_eq!(m.checksum(), theirs.checksum());
        prop_assert_eq!((m.echo_ident(), m.echo_seq_no()), (id, seq));
        prop_assert_eq!(m.data(), theirs.payload());
        prop_assert!(m.is_query());
        prop_assert!(m.verify_checksum());
    }

    /// fill_checksum and the RFC 1624 identifier rewrite (RFC 5508 §3.1)
    /// both give etherparse's full recomputation.
    #[test]
    fn rfc1624_echo_ident_rewrite_matches_etherparse(
        id in any::<u16>(), seq in any::<u16>(), new_id in any::<u16>(),
        request in any::<bool>(),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let b = PacketBuilder::ipv4(SUBSCRIBER.octets(), ROUTER.octets(), 64);
        let b = if request { b.icmpv4_echo_request(id, seq) } else { b.icmpv4_echo_reply(id, seq) };
        let mut bytes = Vec::new();
        b.write(&mut bytes, &payload).unwrap();
        let mut m = icmp::Packet::new_checked(&mut bytes[20..]).unwrap();
        prop_assert_eq!(m.rewrite_echo_ident(new_id), id);
        let incremental = m.checksum();
        m.fill_checksum();
        prop_assert_eq!(incremental, m.checksum());
        let (_, theirs) = etherparse_icmp(&bytes);
        prop_assert_eq!(theirs.icmp_type().calc_checksum(theirs.payload()), incremental);
    }

    /// echo_reply_in_place on any echo request gives a reply etherparse
    /// accepts, with the same identifier, sequence number and data.
    #[test]
    fn rfc792_echo_reply_in_place_matches_etherparse(
        src in addr(), dst in addr(), id in any::<u16>(), seq in any::<u16>(),
        payload in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut bytes = Vec::new();
        PacketBuilder::ipv4(src.octets(), dst.octets(), 9).icmpv4_echo_request(id, seq).write(&mut bytes, &payload).unwrap();
        echo_reply_in_place(&mut bytes).unwrap();
        let (ip, theirs) = etherparse_icmp(&bytes);
        prop_assert_eq!(Ipv4Addr::from(ip.source), dst);
        prop_assert_eq!(Ipv4Addr::from(ip.destination), src);
        prop_assert_eq!(theirs.icmp_type(), Icmpv4Type::EchoReply(IcmpEchoHeader { id, seq }));
        prop_assert_eq!(theirs.payload(), &payload[..]);
    }

    /// emit_error on any UDP datagram: etherparse accepts the result, the
    /// quote is the start of the datagram, and it is as long as RFC 1812
    /// §4.3.2.3 allows (576 bytes in all) and the output buffer permits.
    #[test]
    fn rfc1812_emit_error_quotes_as_much_as_fits(
        src in addr(), dst in addr(),
        payload in proptest::collection::vec(any::<u8>(), 0..1400),
        out_len in 56usize..700,
        code in 0u8..16,
    ) {
        let mut bytes = Vec::new();
        PacketBuilder::ipv4(src.octets(), dst.octets(), 1).udp(1, 2).write(&mut bytes, &payload).unwrap();
        let mut out = vec![0u8; out_len];
        let n = emit_error(&mut out, ROUTER, &bytes, msg_type::DEST_UNREACHABLE, code, 1400, 64).unwrap();
        let expected_quote = bytes.len().min(548).min(out_len - 28);
        prop_assert_eq!(n, 28 + expected_quote);
        let (ip, theirs) = etherparse_icmp(&out[..n]);
        prop_assert_eq!(Ipv4Addr::from(ip.destination), src);
        prop_assert_eq!(theirs.type_u8(), msg_type::DEST_UNREACHABLE);
        prop_assert_eq!(theirs.code_u8(), code);
        prop_assert_eq!(theirs.payload(), &bytes[..expected_quote]);
        prop_assert!(!may_send_error_for(&out[..n]));
    }

    /// RFC 5508 §4.2: translating the packet embedded in an ICMP error
    /// (here its destination address) with incremental updates of the
    /// outer ICMP checksum gives etherparse's full recomputation.
    #[test]
    fn rfc5508_embedded_rewrite_updates_outer_checksum(
        src in addr(), dst in addr(), new_dst in addr(),
        payload in proptest::collection::vec(any::<u8>(), 0..100),
    ) {
        let mut bytes = Vec::new();
        PacketBuilder::ipv4(src.octets(), dst.octets(), 1).udp(1, 2).write(&mut bytes, &payload).unwrap();
        let mut out = [0u8; 576];
        let n = emit_error(&mut out, ROUTER, &bytes, 11, 0, 0, 64).unwrap();
        let mut m = icmp::Packet::new_checked(&mut out[20..n]).unwrap();
        let mut quoted = ipv4::Packet::new_embedded(m.data_mut()).unwrap();
        let old = quoted.rewrite_dst_addr(new_dst.into());
        let new = u32::from(new_dst);
        let old_ip_checksum = u16::from_be_bytes([bytes[10], bytes[11]]);
        let new_ip_checksum = quoted.checksum();
        // Four 16-bit words of the ICMP message changed: two address halves
        // and the quoted header checksum.
        m.update_checksum((old >> 16) as u16, (new >> 16) as u16);
        m.update_checksum(old as u16, new as u16);
        m.update_checksum(old_ip_checksum, new_ip_checksum);
        prop_assert!(m.verify_checksum());
        etherparse_icmp(&out[..n]);
    }
}
