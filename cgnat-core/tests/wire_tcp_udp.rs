//! TCP (RFC 9293) and UDP (RFC 768) views: byte fixtures, each
//! `new_checked` failure, the lenient embedded constructors, MSS clamping,
//! and property tests against etherparse for getters, full checksums and
//! RFC 1624 incremental updates after NAT rewrites.

use std::net::Ipv4Addr;

use cgnat_core::wire::checksum;
use cgnat_core::wire::{ipv4, tcp, udp, Error};
use etherparse::{PacketBuilder, TcpHeader, TcpOptionElement, TcpSlice, UdpHeader, UdpSlice};
use proptest::prelude::*;

/// IPv4 + TCP SYN 100.64.0.10:40000 -> 93.184.216.34:443 with Linux's
/// option layout: MSS 1460, SACK permitted, timestamps, NOP, window scale 7.
const IPV4_TCP_SYN: [u8; 60] = [
    0x45, 0x00, 0x00, 0x3c, 0x5a, 0x5a, 0x40, 0x00, 0x40, 0x06, 0x46, 0x3d, 0x64, 0x40, 0x00, 0x0a, 0x5d, 0xb8, 0xd8, 0x22, 0x9c, 0x40,
    0x01, 0xbb, 0x9e, 0x37, 0x79, 0xb9, 0x00, 0x00, 0x00, 0x00, 0xa0, 0x02, 0xfa, 0xf0, 0xc6, 0xa5, 0x00, 0x00, 0x02, 0x04, 0x05, 0xb4,
    0x04, 0x02, 0x08, 0x0a, 0x0a, 0x1b, 0x2c, 0x3d, 0x00, 0x00, 0x00, 0x00, 0x01, 0x03, 0x03, 0x07,
];

/// TCP SYN 100.64.0.10:40001 -> 93.184.216.34:80 whose options are
/// NOP, MSS 1460, NOP, NOP, NOP: the MSS value sits at an odd offset.
const TCP_SYN_ODD_MSS: [u8; 28] = [
    0x9c, 0x41, 0x00, 0x50, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x70, 0x02, 0xff, 0xff, 0x9f, 0x19, 0x00, 0x00, 0x01, 0x02,
    0x04, 0x05, 0xb4, 0x01, 0x01, 0x01,
];

/// IPv4 + UDP DNS query for example.com, 100.64.0.10:53124 -> 8.8.8.8:53.
const IPV4_UDP_DNS: [u8; 57] = [
    0x45, 0x00, 0x00, 0x39, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x11, 0xaa, 0x14, 0x64, 0x40, 0x00, 0x0a, 0x08, 0x08, 0x08, 0x08, 0xcf, 0x84,
    0x00, 0x35, 0x00, 0x25, 0x40, 0x55, 0xab, 0xcd, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x65, 0x78, 0x61,
    0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00, 0x01,
];

const SUBSCRIBER: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 10);
const SERVER: Ipv4Addr = Ipv4Addr::new(93, 184, 216, 34);
const DNS: Ipv4Addr = Ipv4Addr::new(8, 8, 8, 8);

#[test]
fn rfc9293_syn_fixture_fields() {
    let ip = ipv4::Packet::new_checked(&IPV4_TCP_SYN[..]).unwrap();
    let t = tcp::Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(t.src_port(), 40000);
    assert_eq!(t.dst_port(), 443);
    assert_eq!(t.seq_number(), 0x9e37_79b9);
    assert_eq!(t.ack_number(), 0);
    assert_eq!(t.header_len(), 40);
    assert_eq!(t.flags(), tcp::flags::SYN);
    assert!(t.syn() && !t.ack() && !t.fin() && !t.rst() && !t.psh() && !t.urg());
    assert!(!t.ece() && !t.cwr());
    assert_eq!(t.window_len(), 64240);
    assert_eq!(t.checksum(), 0xc6a5);
    assert_eq!(t.urgent_at(), 0);
    assert_eq!(t.options().len(), 20);
    assert!(t.payload().is_empty());
    assert_eq!(t.mss_option(), Some(1460));
    assert!(t.verify_checksum(SUBSCRIBER, SERVER));
    assert!(!t.verify_checksum(SUBSCRIBER, DNS));
}

#[test]
fn rfc9293_new_checked_rejects_short_segment() {
    let seg = &IPV4_TCP_SYN[20..];
    assert_eq!(tcp::Packet::new_checked(&seg[..19]).unwrap_err(), Error::Truncated);
    assert_eq!(tcp::Packet::new_checked(&[][..]).unwrap_err(), Error::Truncated);
}

/// RFC 9293 §3.1 "Data Offset: [...] The TCP header (even one including
/// options) is an integer multiple of 32 bits long" — at least 5 words.
#[test]
fn rfc9293_new_checked_rejects_data_offset_below_5() {
    let mut seg = TCP_SYN_ODD_MSS;
    seg[12] = 0x40;
    assert_eq!(tcp::Packet::new_checked(&seg[..]).unwrap_err(), Error::Malformed);
}

#[test]
fn rfc9293_new_checked_rejects_options_beyond_buffer() {
    let mut seg = TCP_SYN_ODD_MSS;
    seg[12] = 0xF0; // 60-byte header in 28 bytes
    assert_eq!(tcp::Packet::new_checked(&seg[..]).unwrap_err(), Error::Truncated);
}

/// RFC 792: an ICMP error quotes "the first 64 bits of the original
/// datagram's data" — ports and sequence number of a TCP segment.
#[test]
fn rfc792_tcp_embedded_view_reads_ports_and_sequence() {
    let quoted = &IPV4_TCP_SYN[20..28];
    assert_eq!(tcp::Packet::new_checked(quoted).unwrap_err(), Error::Truncated);
    let mut copy = [0u8; 8];
    copy.copy_from_slice(quoted);
    let mut t = tcp::Packet::new_embedded(&mut copy[..]).unwrap();
    assert_eq!((t.src_port(), t.dst_port(), t.seq_number()), (40000, 443, 0x9e37_79b9));
    t.set_src_port(1024);
    assert_eq!(t.src_port(), 1024);
    assert_eq!(tcp::Packet::new_embedded(&quoted[..7]).unwrap_err(), Error::Truncated);
}

#[test]
fn tcp_setters_write_every_field() {
    let mut seg = [0u8; 24];
    let mut t = tcp::Packet::new_unchecked(&mut seg[..]);
    t.set_src_port(1);
    t.set_dst_port(2);
    t.set_seq_number(3);
    t.set_ack_number(4);
    t.set_header_len(24);
    t.set_flags(tcp::flags::ACK | tcp::flags::PSH | tcp::flags::FIN | tcp::flags::URG);
    t.set_window_len(5);
    t.set_urgent_at(6);
    t.options_mut().copy_from_slice(&[2, 4, 0x05, 0xdc]);
    t.fill_checksum(SUBSCRIBER, SERVER);
    assert_eq!(t.check_len(), Ok(()));
    assert_eq!((t.src_port(), t.dst_port()), (1, 2));
    assert_eq!((t.seq_number(), t.ack_number()), (3, 4));
    assert!(t.ack() && t.psh() && t.fin() && t.urg() && !t.syn() && !t.rst());
    assert_eq!((t.window_len(), t.urgent_at()), (5, 6));
    assert_eq!(t.mss_option(), Some(1500));
    assert!(t.set_mss_option(1400));
    assert_eq!(t.mss_option(), Some(1400));
    assert!(!t.verify_checksum(SUBSCRIBER, SERVER), "set_mss_option leaves the checksum");
    t.payload_mut(); // empty, must not panic
    assert_eq!(t.into_inner().len(), 24);
}

/// MSS clamping (RFC 9293 §3.7.1 MSS option; RFC 1624 update), with the
/// MSS value at an even offset.
#[test]
fn clamp_mss_lowers_mss_and_keeps_checksum_valid() {
    let mut seg = [0u8; 40];
    seg.copy_from_slice(&IPV4_TCP_SYN[20..]);
    let mut t = tcp::Packet::new_checked(&mut seg[..]).unwrap();
    assert!(!t.clamp_mss(1460), "equal: unchanged");
    assert!(t.clamp_mss(1400));
    assert_eq!(t.mss_option(), Some(1400));
    assert!(t.verify_checksum(SUBSCRIBER, SERVER));
    let incremental = t.checksum();
    t.fill_checksum(SUBSCRIBER, SERVER);
    assert_eq!(incremental, t.checksum());
}

/// RFC 1071 §2(B): the MSS value after a single NOP straddles two 16-bit
/// words; the update must use the byte-swapped values.
#[test]
fn rfc1071_clamp_mss_at_odd_offset_keeps_checksum_valid() {
    let mut seg = TCP_SYN_ODD_MSS;
    assert!(tcp::Packet::new_checked(&seg[..]).unwrap().verify_checksum(SUBSCRIBER, SERVER));
    let mut t = tcp::Packet::new_checked(&mut seg[..]).unwrap();
    assert_eq!(t.mss_option(), Some(1460));
    assert!(t.clamp_mss(1360));
    assert_eq!(t.mss_option(), Some(1360));
    assert!(t.verify_checksum(SUBSCRIBER, SERVER));
}

#[test]
fn mss_option_absent_or_malformed_is_none() {
    let mut seg = TCP_SYN_ODD_MSS;
    seg[21] = 0x03; // kind 3 (window scale) with length 4
    let mut t = tcp::Packet::new_checked(&mut seg[..]).unwrap();
    assert_eq!(t.mss_option(), None);
    assert!(!t.set_mss_option(1));
    assert!(!t.clamp_mss(1));
    let mut seg = TCP_SYN_ODD_MSS;
    seg[22] = 0x01; // MSS with length 1: malformed, stop
    assert_eq!(tcp::Packet::new_checked(&seg[..]).unwrap().mss_option(), None);
    let mut seg = TCP_SYN_ODD_MSS;
    seg[20] = 0x00; // End of Option List first
    assert_eq!(tcp::Packet::new_checked(&seg[..]).unwrap().mss_option(), None);
}

#[test]
fn rfc768_dns_fixture_fields() {
    let ip = ipv4::Packet::new_checked(&IPV4_UDP_DNS[..]).unwrap();
    let u = udp::Packet::new_checked(ip.payload()).unwrap();
    assert_eq!(u.src_port(), 53124);
    assert_eq!(u.dst_port(), 53);
    assert_eq!(u.len(), 37);
    assert_eq!(u.checksum(), 0x4055);
    assert_eq!(u.payload(), &IPV4_UDP_DNS[28..]);
    assert!(u.verify_checksum(SUBSCRIBER, DNS));
    assert!(!u.verify_checksum(SUBSCRIBER, SERVER));
}

#[test]
fn rfc768_new_checked_rejects_short_buffer() {
    assert_eq!(udp::Packet::new_checked(&IPV4_UDP_DNS[20..27]).unwrap_err(), Error::Truncated);
}

/// RFC 768: "Length is the length in octets of this user datagram
/// including this header and the data. (This means the minimum value of
/// the length is eight.)"
#[test]
fn rfc768_new_checked_rejects_length_below_8() {
    let mut buf = [0u8; 37];
    buf.copy_from_slice(&IPV4_UDP_DNS[20..]);
    buf[5] = 7;
    assert_eq!(udp::Packet::new_checked(&buf[..]).unwrap_err(), Error::Malformed);
}

#[test]
fn rfc768_new_checked_rejects_length_beyond_buffer() {
    assert_eq!(udp::Packet::new_checked(&IPV4_UDP_DNS[20..56]).unwrap_err(), Error::Truncated);
}

/// The first fragment of a fragmented datagram, or the quote in an ICMP
/// error, has a Length larger than what is present: the embedded view
/// still reads the header and bounds the payload by the buffer.
#[test]
fn udp_embedded_view_reads_header_of_partial_datagram() {
    let partial = &IPV4_UDP_DNS[20..30];
    let u = udp::Packet::new_embedded(partial).unwrap();
    assert_eq!((u.src_port(), u.dst_port(), u.len()), (53124, 53, 37));
    assert_eq!(u.payload(), &IPV4_UDP_DNS[28..30]);
    assert!(!u.verify_checksum(SUBSCRIBER, DNS), "cannot verify, must not panic");
    assert_eq!(udp::Packet::new_embedded(&partial[..7]).unwrap_err(), Error::Truncated);
}

/// RFC 768: "An all zero transmitted checksum value means that the
/// transmitter generated no checksum".
#[test]
fn rfc768_zero_checksum_verifies_and_survives_rewrites() {
    let mut buf = [0u8; 37];
    buf.copy_from_slice(&IPV4_UDP_DNS[20..]);
    let mut u = udp::Packet::new_checked(&mut buf[..]).unwrap();
    u.set_checksum(0);
    assert!(u.verify_checksum(SUBSCRIBER, DNS));
    assert_eq!(u.rewrite_src_port(2000), 53124);
    assert_eq!(u.rewrite_dst_port(5353), 53);
    u.update_checksum_for_addr(u32::from(SUBSCRIBER), 0xC000_0201);
    assert_eq!(u.checksum(), 0);
}

/// RFC 768: "If the computed checksum is zero, it is transmitted as all
/// ones". The DNS id is chosen so that the computed checksum is zero.
#[test]
fn rfc768_computed_zero_checksum_is_sent_as_all_ones() {
    let mut buf = [0u8; 37];
    buf.copy_from_slice(&IPV4_UDP_DNS[20..]);
    buf[6] = 0;
    buf[7] = 0;
    let id = u16::from_be_bytes([buf[8], buf[9]]);
    let all = checksum::pseudo_header_v4(SUBSCRIBER, DNS, 17, 37) + checksum::sum(&buf);
    let without_id = checksum::fold(all + u32::from(!id));
    let new_id = !without_id;
    buf[8..10].copy_from_slice(&new_id.to_be_bytes());
    let mut u = udp::Packet::new_checked(&mut buf[..]).unwrap();
    u.fill_checksum(SUBSCRIBER, DNS);
    assert_eq!(u.checksum(), 0xFFFF);
    assert!(u.verify_checksum(SUBSCRIBER, DNS));
    let (h, payload) = UdpHeader::from_slice(&buf).unwrap();
    let expected = h.calc_checksum_ipv4_raw(SUBSCRIBER.octets(), DNS.octets(), payload).unwrap();
    assert_eq!(expected, 0xFFFF, "etherparse agrees");
}

#[test]
fn udp_emit_header_then_fill_checksum_matches_fixture() {
    let mut buf = [0u8; 37];
    buf[8..].copy_from_slice(&IPV4_UDP_DNS[28..]);
    assert_eq!(udp::emit_header(&mut buf, 53124, 53, 29), udp::HEADER_LEN);
    let mut u = udp::Packet::new_checked(&mut buf[..]).unwrap();
    u.fill_checksum(SUBSCRIBER, DNS);
    assert_eq!(u.payload_mut().len(), 29);
    assert_eq!(&buf[..], &IPV4_UDP_DNS[20..]);

    let mut u = udp::Packet::new_unchecked(&mut buf[..]);
    u.set_len(8);
    assert!(u.payload().is_empty());
}

fn addr() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

/// TCP options etherparse can write, in random order.
fn tcp_options() -> impl Strategy<Value = Vec<TcpOptionElement>> {
    proptest::collection::vec(
        prop_oneof![
            Just(TcpOptionElement::Noop),
            any::<u16>().prop_map(TcpOptionElement::MaximumSegmentSize),
            any::<u8>().prop_map(TcpOptionElement::WindowScale),
            Just(TcpOptionElement::SelectiveAcknowledgementPermitted),
            any::<(u32, u32)>().prop_map(|(a, b)| TcpOptionElement::Timestamp(a, b)),
        ],
        0..5,
    )
}

#[allow(clippy::too_many_arguments)]
fn build_tcp(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ports: (u16, u16),
    seq: u32,
    ack: Option<u32>,
    flags: u8,
    window: u16,
    options: &[TcpOptionElement],
    payload: &[u8],
) -> Vec<u8> {
    let mut b = PacketBuilder::ipv4(src.octets(), dst.octets(), 64).tcp(ports.0, ports.1, seq, window);
    if flags & tcp::flags::SYN != 0 {
        b = b.syn();
    }
    if flags & tcp::flags::FIN != 0 {
        b = b.fin();
    }
    if flags & tcp::flags::RST != 0 {
        b = b.rst();
    }
    if flags & tcp::flags::PSH != 0 {
        b = b.psh();
    }
    if flags & tcp::flags::URG != 0 {
        b = b.urg(0x1234);
    }
    if flags & tcp::flags::ECE != 0 {
        b = b.ece();
    }
    if flags & tcp::flags::CWR != 0 {
        b = b.cwr();
    }
    if let Some(ack) = ack {
        b = b.ack(ack);
    }
    let b = b.options(options).unwrap();
    let mut bytes = Vec::new();
    b.write(&mut bytes, payload).unwrap();
    bytes
}

fn etherparse_tcp_checksum(segment: &[u8], src: Ipv4Addr, dst: Ipv4Addr) -> u16 {
    let (h, payload) = TcpHeader::from_slice(segment).unwrap();
    h.calc_checksum_ipv4_raw(src.octets(), dst.octets(), payload).unwrap()
}

fn etherparse_udp_checksum(datagram: &[u8], src: Ipv4Addr, dst: Ipv4Addr) -> u16 {
    let (h, payload) = UdpHeader::from_slice(datagram).unwrap();
    h.calc_checksum_ipv4_raw(src.octets(), dst.octets(), payload).unwrap()
}

proptest! {
    /// Our TCP getters agree with etherparse on segments it builds.
    #[test]
    fn rfc9293_getters_match_etherparse(
        src in addr(), dst in addr(), ports in any::<(u16, u16)>(),
        seq in any::<u32>(), ack in proptest::option::of(any::<u32>()),
        flags in any::<u8>(), window in any::<u16>(),
        options in tcp_options(),
        payload in proptest::collection::vec(any::<u8>(), 0..200),
    ) {
        let bytes = build_tcp(src, dst, ports, seq, ack, flags, window, &options, &payload);
        let ip = ipv4::Packet::new_checked(&bytes[..]).unwrap();
        let t = tcp::Packet::new_checked(ip.payload()).unwrap();
        let theirs = TcpSlice::from_slice(ip.payload()).unwrap();
        prop_assert_eq!(t.src_port(), theirs.source_port());
        prop_assert_eq!(t.dst_port(), theirs.destination_port());
        prop_assert_eq!(t.seq_number(), theirs.sequence_number());
        prop_assert_eq!(t.ack_number(), theirs.acknowledgment_number());
        prop_assert_eq!(t.header_len(), usize::from(theirs.data_offset()) * 4);
        prop_assert_eq!(t.fin(), theirs.fin());
        prop_assert_eq!(t.syn(), theirs.syn());
        prop_assert_eq!(t.rst(), theirs.rst());
        prop_assert_eq!(t.psh(), theirs.psh());
        prop_assert_eq!(t.ack(), theirs.ack());
        prop_assert_eq!(t.urg(), theirs.urg());
        prop_assert_eq!(t.ece(), theirs.ece());
        prop_assert_eq!(t.cwr(), theirs.cwr());
        prop_assert_eq!(t.window_len(), theirs.window_size());
        prop_assert_eq!(t.checksum(), theirs.checksum());
        prop_assert_eq!(t.urgent_at(), theirs.urgent_pointer());
        prop_assert_eq!(t.options(), theirs.options());
        prop_assert_eq!(t.payload(), theirs.payload());
        let mss = theirs.options_iterator().find_map(|o| match o {
            Ok(TcpOptionElement::MaximumSegmentSize(m)) => Some(m),
            _ => None,
        });
        prop_assert_eq!(t.mss_option(), mss);
        prop_assert!(t.verify_checksum(src, dst));
    }

    /// fill_checksum computes what etherparse computes (RFC 9293 §3.1).
    #[test]
    fn rfc9293_fill_checksum_matches_etherparse(
        src in addr(), dst in addr(), ports in any::<(u16, u16)>(),
        seq in any::<u32>(), flags in any::<u8>(), options in tcp_options(),
        payload in proptest::collection::vec(any::<u8>(), 0..200),
        garbage in any::<u16>(),
    ) {
        let mut bytes = build_tcp(src, dst, ports, seq, None, flags, 1000, &options, &payload);
        let mut t = tcp::Packet::new_checked(&mut bytes[20..]).unwrap();
        let expected = t.checksum();
        t.set_checksum(garbage);
        t.fill_checksum(src, dst);
        prop_assert_eq!(t.checksum(), expected);
    }

    /// RFC 1624: a NAT rewrite of source address and port (outbound) or
    /// destination address and port (inbound), with incremental updates of
    /// the IPv4 and TCP checksums, gives what etherparse recomputes.
    #[test]
    fn rfc1624_tcp_nat_rewrite_matches_etherparse(
        src in addr(), dst in addr(), ports in any::<(u16, u16)>(),
        seq in any::<u32>(), flags in any::<u8>(), options in tcp_options(),
        payload in proptest::collection::vec(any::<u8>(), 0..200),
        new_addr in addr(), new_port in any::<u16>(), outbound in any::<bool>(),
    ) {
        let mut bytes = build_tcp(src, dst, ports, seq, None, flags, 1000, &options, &payload);
        let mut ip = ipv4::Packet::new_checked(&mut bytes[..]).unwrap();
        let old_addr = if outbound {
            ip.rewrite_src_addr(new_addr.into())
        } else {
            ip.rewrite_dst_addr(new_addr.into())
        };
        let mut t = tcp::Packet::new_checked(ip.payload_mut()).unwrap();
        t.update_checksum_for_addr(old_addr, new_addr.into());
        if outbound {
            t.rewrite_src_port(new_port);
        } else {
            t.rewrite_dst_port(new_port);
        }
        let (s, d) = if outbound { (new_addr, dst) } else { (src, new_addr) };
        prop_assert!(t.verify_checksum(s, d));
        prop_assert_eq!(t.checksum(), etherparse_tcp_checksum(&bytes[20..], s, d));
        prop_assert!(ipv4::Packet::new_checked(&bytes[..]).unwrap().verify_checksum());
    }

    /// MSS clamping at any alignment (k leading NOPs) keeps the checksum
    /// equal to etherparse's full recomputation.
    #[test]
    fn rfc1624_clamp_mss_matches_etherparse_at_any_alignment(
        nops in 0usize..4, mss in any::<u16>(), max in any::<u16>(),
        payload in proptest::collection::vec(any::<u8>(), 0..50),
    ) {
        let mut options = vec![TcpOptionElement::Noop; nops];
        options.push(TcpOptionElement::MaximumSegmentSize(mss));
        let mut bytes = build_tcp(SUBSCRIBER, SERVER, (1, 2), 3, None, tcp::flags::SYN, 4, &options, &payload);
        let mut t = tcp::Packet::new_checked(&mut bytes[20..]).unwrap();
        let changed = t.clamp_mss(max);
        prop_assert_eq!(changed, mss > max);
        prop_assert_eq!(t.mss_option(), Some(mss.min(max)));
        prop_assert_eq!(t.checksum(), etherparse_tcp_checksum(&bytes[20..], SUBSCRIBER, SERVER));
    }

    /// Our UDP getters agree with etherparse.
    #[test]
    fn rfc768_getters_match_etherparse(
        src in addr(), dst in addr(), ports in any::<(u16, u16)>(),
        payload in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let mut bytes = Vec::new();
        PacketBuilder::ipv4(src.octets(), dst.octets(), 64).udp(ports.0, ports.1).write(&mut bytes, &payload).unwrap();
        let ip = ipv4::Packet::new_checked(&bytes[..]).unwrap();
        let u = udp::Packet::new_checked(ip.payload()).unwrap();
        let theirs = UdpSlice::from_slice(ip.payload()).unwrap();
        prop_assert_eq!(u.src_port(), theirs.source_port());
        prop_assert_eq!(u.dst_port(), theirs.destination_port());
        prop_assert_eq!(u.len(), theirs.length());
        prop_assert_eq!(u.checksum(), theirs.checksum());
        prop_assert_eq!(u.payload(), theirs.payload());
        prop_assert!(u.verify_checksum(src, dst));
    }

    /// fill_checksum computes what etherparse computes (RFC 768, including
    /// the 0 -> 0xFFFF rule).
    #[test]
    fn rfc768_fill_checksum_matches_etherparse(
        src in addr(), dst in addr(), ports in any::<(u16, u16)>(),
        payload in proptest::collection::vec(any::<u8>(), 0..300),
        garbage in any::<u16>(),
    ) {
        let mut bytes = Vec::new();
        PacketBuilder::ipv4(src.octets(), dst.octets(), 64).udp(ports.0, ports.1).write(&mut bytes, &payload).unwrap();
        let mut u = udp::Packet::new_checked(&mut bytes[20..]).unwrap();
        u.set_checksum(garbage);
        u.fill_checksum(src, dst);
        let ours = u.checksum();
        prop_assert_eq!(ours, etherparse_udp_checksum(&bytes[20..], src, dst));
    }

    /// RFC 1624 + RFC 768: NAT rewrites with update32_udp/update16_udp give
    /// etherparse's recomputation, and a zero checksum stays zero.
    #[test]
    fn rfc1624_udp_nat_rewrite_matches_etherparse_and_keeps_zero(
        src in addr(), dst in addr(), ports in any::<(u16, u16)>(),
        payload in proptest::collection::vec(any::<u8>(), 0..300),
        new_addr in addr(), new_port in any::<u16>(), outbound in any::<bool>(),
        no_checksum in any::<bool>(),
    ) {
        let mut bytes = Vec::new();
        PacketBuilder::ipv4(src.octets(), dst.octets(), 64).udp(ports.0, ports.1).write(&mut bytes, &payload).unwrap();
        if no_checksum {
            bytes[26] = 0;
            bytes[27] = 0;
        }
        let mut ip = ipv4::Packet::new_checked(&mut bytes[..]).unwrap();
        let old_addr = if outbound {
            ip.rewrite_src_addr(new_addr.into())
        } else {
            ip.rewrite_dst_addr(new_addr.into())
        };
        let mut u = udp::Packet::new_checked(ip.payload_mut()).unwrap();
        u.update_checksum_for_addr(old_addr, new_addr.into());
        if outbound {
            u.rewrite_src_port(new_port);
        } else {
            u.rewrite_dst_port(new_port);
        }
        let (s, d) = if outbound { (new_addr, dst) } else { (src, new_addr) };
        prop_assert!(u.verify_checksum(s, d));
        if no_checksum {
            prop_assert_eq!(u.checksum(), 0);
        } else {
            prop_assert_eq!(u.checksum(), etherparse_udp_checksum(&bytes[20..], s, d));
        }
    }
}
