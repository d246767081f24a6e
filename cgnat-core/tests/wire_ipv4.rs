//! IPv4 (RFC 791): byte fixtures, each `new_checked` failure, setters and
//! incremental checksum helpers, the header emitter, and the fragmenter,
//! with etherparse as the independent oracle in the property tests.

use std::net::Ipv4Addr;

use cgnat_core::wire::ipv4::{self, emit_fragment, fragment_count, Packet};
use cgnat_core::wire::{ip_protocol, Error};
use etherparse::{
    defrag::IpDefragPool, IpFragOffset, IpNumber, Ipv4Dscp, Ipv4Ecn, Ipv4Header, Ipv4HeaderSlice, Ipv4Options, Ipv4Slice, SlicedPacket,
};
use proptest::prelude::*;

/// IPv4 + UDP DNS query, 100.64.0.10 -> 8.8.8.8, DF, TTL 64, ident 0x1c46.
const IPV4_UDP_DNS: [u8; 57] = [
    0x45, 0x00, 0x00, 0x39, 0x1c, 0x46, 0x40, 0x00, 0x40, 0x11, 0xaa, 0x14, 0x64, 0x40, 0x00, 0x0a, 0x08, 0x08, 0x08, 0x08, 0xcf, 0x84,
    0x00, 0x35, 0x00, 0x25, 0x40, 0x55, 0xab, 0xcd, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x65, 0x78, 0x61,
    0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d, 0x00, 0x00, 0x01, 0x00, 0x01,
];

/// IPv4 with IHL 8: options Router Alert (0x94, copied), Record Route
/// (0x07, not copied, 7 bytes), End of Option List; UDP 5000 -> 6000 with
/// 40 bytes of data; no DF.
const IPV4_OPTIONS_UDP: [u8; 80] = [
    0x48, 0x00, 0x00, 0x50, 0x01, 0x01, 0x00, 0x00, 0x40, 0x11, 0x49, 0x0c, 0x64, 0x40, 0x00, 0x0a, 0xc6, 0x33, 0x64, 0x07, 0x94, 0x04,
    0x00, 0x00, 0x07, 0x07, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00, 0x13, 0x88, 0x17, 0x70, 0x00, 0x30, 0xc8, 0x7f, 0x00, 0x01, 0x02, 0x03,
    0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19,
    0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x21, 0x22, 0x23, 0x24, 0x25, 0x26, 0x27,
];

#[test]
fn rfc791_fixture_fields() {
    let p = Packet::new_checked(&IPV4_UDP_DNS[..]).unwrap();
    assert_eq!(p.version(), 4);
    assert_eq!(p.header_len(), 20);
    assert_eq!(p.dscp_ecn(), 0);
    assert_eq!(p.dscp(), 0);
    assert_eq!(p.ecn(), 0);
    assert_eq!(p.total_len(), 57);
    assert_eq!(p.ident(), 0x1c46);
    assert!(p.dont_frag());
    assert!(!p.more_frags());
    assert_eq!(p.frag_offset(), 0);
    assert!(!p.is_fragment());
    assert!(!p.is_non_first_fragment());
    assert_eq!(p.ttl(), 64);
    assert_eq!(p.protocol(), ip_protocol::UDP);
    assert_eq!(p.checksum(), 0xaa14);
    assert_eq!(p.src_addr(), Ipv4Addr::new(100, 64, 0, 10));
    assert_eq!(p.dst_addr(), Ipv4Addr::new(8, 8, 8, 8));
    assert_eq!(p.src_addr_u32(), 0x6440_000a);
    assert_eq!(p.dst_addr_u32(), 0x0808_0808);
    assert!(p.options().is_empty());
    assert!(p.verify_checksum());
    assert_eq!(p.payload(), &IPV4_UDP_DNS[20..]);
}

#[test]
fn rfc791_fixture_with_options_fields() {
    let p = Packet::new_checked(&IPV4_OPTIONS_UDP[..]).unwrap();
    assert_eq!(p.header_len(), 32);
    assert_eq!(p.options(), &IPV4_OPTIONS_UDP[20..32]);
    assert!(!p.dont_frag());
    assert!(p.verify_checksum());
    assert_eq!(p.payload().len(), 48);
    assert_eq!(p.payload()[..2], [0x13, 0x88]);
}

/// Ethernet pads short frames to 60 bytes: the payload stops at Total
/// Length, not at the end of the buffer.
#[test]
fn payload_is_bounded_by_total_len_not_by_ethernet_padding() {
    let mut padded = IPV4_UDP_DNS.to_vec();
    padded.extend_from_slice(&[0xEE; 9]);
    let mut p = Packet::new_checked(&mut padded[..]).unwrap();
    assert_eq!(p.payload(), &IPV4_UDP_DNS[20..]);
    assert_eq!(p.payload_mut().len(), 37);
}

#[test]
fn new_checked_rejects_buffer_shorter_than_20_bytes() {
    assert_eq!(Packet::new_checked(&IPV4_UDP_DNS[..19]).unwrap_err(), Error::Truncated);
    assert_eq!(Packet::new_checked(&[][..]).unwrap_err(), Error::Truncated);
}

/// RFC 791 §3.1 "Version: 4 bits ... This document describes version 4."
#[test]
fn rfc791_new_checked_rejects_version_other_than_4() {
    let mut buf = IPV4_UDP_DNS;
    buf[0] = 0x65;
    assert_eq!(Packet::new_checked(&buf[..]).unwrap_err(), Error::Malformed);
}

/// RFC 791 §3.1 "IHL: 4 bits ... the minimum value for a correct header is
/// 5."
#[test]
fn rfc791_new_checked_rejects_ihl_below_5() {
    for ihl in 0..5u8 {
        let mut buf = IPV4_UDP_DNS;
        buf[0] = 0x40 | ihl;
        assert_eq!(Packet::new_checked(&buf[..]).unwrap_err(), Error::Malformed, "IHL {ihl}");
    }
}

#[test]
fn new_checked_rejects_header_longer_than_buffer() {
    let mut buf = [0u8; 40];
    buf[..20].copy_from_slice(&IPV4_UDP_DNS[..20]);
    buf[0] = 0x4F; // 60-byte header in a 40-byte buffer
    buf[3] = 40;
    assert_eq!(Packet::new_checked(&buf[..]).unwrap_err(), Error::Truncated);
}

/// Adversarial: header_len > total_len would make the payload range
/// inverted; it is rejected before any getter runs.
#[test]
fn new_checked_rejects_total_len_below_header_len() {
    let mut buf = [0u8; 60];
    buf[..20].copy_from_slice(&IPV4_UDP_DNS[..20]);
    buf[0] = 0x4F;
    buf[2] = 0;
    buf[3] = 40;
    assert_eq!(Packet::new_checked(&buf[..]).unwrap_err(), Error::Malformed);
    assert_eq!(Packet::new_embedded(&buf[..]).unwrap_err(), Error::Malformed);
}

#[test]
fn new_checked_rejects_total_len_beyond_buffer() {
    assert_eq!(Packet::new_checked(&IPV4_UDP_DNS[..56]).unwrap_err(), Error::Truncated);
}

/// RFC 792: an ICMP error quotes "Internet Header + 64 bits of Original
/// Data Datagram"; Total Length there describes the original datagram.
#[test]
fn rfc792_new_embedded_accepts_quoted_header_plus_64_bits() {
    let quoted = &IPV4_UDP_DNS[..28];
    assert_eq!(Packet::new_checked(quoted).unwrap_err(), Error::Truncated);
    let p = Packet::new_embedded(quoted).unwrap();
    assert_eq!(p.total_len(), 57);
    assert_eq!(p.payload(), &IPV4_UDP_DNS[20..28]);
    assert_eq!(Packet::new_embedded(&IPV4_UDP_DNS[..19]).unwrap_err(), Error::Truncated);
}

#[test]
fn setters_write_every_field() {
    let mut buf = IPV4_UDP_DNS;
    let mut p = Packet::new_checked(&mut buf[..]).unwrap();
    p.set_dscp_ecn(0xB8 | 0x01); // EF, ECT(1)
    p.set_ident(0xBEEF);
    p.set_dont_frag(false);
    p.set_more_frags(true);
    p.set_frag_offset(1480);
    p.set_ttl(1);
    p.set_protocol(ip_protocol::TCP);
    p.set_src_addr(Ipv4Addr::new(203, 0, 113, 5));
    p.set_dst_addr_u32(0xC633_6401);
    p.set_total_len(40);
    p.fill_checksum();
    assert_eq!(p.dscp(), 46);
    assert_eq!(p.ecn(), 1);
    assert_eq!(p.ident(), 0xBEEF);
    assert!(!p.dont_frag());
    assert!(p.more_frags());
    assert_eq!(p.frag_offset(), 1480);
    assert!(p.is_fragment() && p.is_non_first_fragment());
    assert_eq!(p.ttl(), 1);
    assert_eq!(p.protocol(), 6);
    assert_eq!(p.src_addr(), Ipv4Addr::new(203, 0, 113, 5));
    assert_eq!(p.dst_addr(), Ipv4Addr::new(198, 51, 100, 1));
    assert!(p.verify_checksum());
    let header = Ipv4HeaderSlice::from_slice(&buf[..]).unwrap().to_header();
    assert_eq!(header.header_checksum, header.calc_header_checksum());
    assert_eq!(header.fragment_offset.byte_offset(), 1480);
}

#[test]
fn version_and_header_len_setters() {
    let mut buf = [0u8; 24];
    let mut p = Packet::new_unchecked(&mut buf[..]);
    p.set_version(4);
    p.set_header_len(24);
    p.set_total_len(24);
    p.options_mut().copy_from_slice(&[0x94, 0x04, 0, 0]);
    assert_eq!(p.version(), 4);
    assert_eq!(p.header_len(), 24);
    assert_eq!(p.check_len(), Ok(()));
    assert_eq!(p.options(), &[0x94, 0x04, 0, 0]);
}

#[test]
fn verify_checksum_detects_a_flipped_bit() {
    let mut buf = IPV4_UDP_DNS;
    buf[15] ^= 0x01;
    assert!(!Packet::new_checked(&buf[..]).unwrap().verify_checksum());
}

/// RFC 1812 §5.3.1 TTL decrement with the RFC 1624 incremental update.
#[test]
fn rfc1624_decrement_ttl_matches_full_recompute() {
    let mut buf = IPV4_UDP_DNS;
    let mut p = Packet::new_checked(&mut buf[..]).unwrap();
    assert_eq!(p.decrement_ttl(), 63);
    let incremental = p.checksum();
    p.fill_checksum();
    assert_eq!(incremental, p.checksum());

    p.set_ttl(0);
    p.fill_checksum();
    let before = p.checksum();
    assert_eq!(p.decrement_ttl(), 0, "TTL 0 is left alone");
    assert_eq!(p.checksum(), before);
}

#[test]
fn rewrite_addresses_return_old_and_keep_checksum_valid() {
    let mut buf = IPV4_UDP_DNS;
    let mut p = Packet::new_checked(&mut buf[..]).unwrap();
    let old = p.rewrite_src_addr(u32::from(Ipv4Addr::new(192, 0, 2, 33)));
    assert_eq!(old, 0x6440_000a);
    let old = p.rewrite_dst_addr(0x0101_0101);
    assert_eq!(old, 0x0808_0808);
    assert!(p.verify_checksum());
    assert_eq!(p.src_addr(), Ipv4Addr::new(192, 0, 2, 33));
}

#[test]
fn emit_header_writes_a_valid_20_byte_header() {
    let mut buf = [0u8; 20];
    let n = ipv4::emit_header(
        &mut buf,
        Ipv4Addr::new(100, 64, 0, 10),
        Ipv4Addr::new(8, 8, 8, 8),
        ip_protocol::UDP,
        37,
        64,
        0x1c46,
    );
    assert_eq!(n, 20);
    let header = Ipv4HeaderSlice::from_slice(&buf).unwrap().to_header();
    assert_eq!(header.header_checksum, header.calc_header_checksum());
    assert_eq!(header.total_len, 57);
    assert_eq!(header.identification, 0x1c46);
    assert!(!header.dont_fragment);
    assert!(Packet::new_unchecked(&buf[..]).verify_checksum());
}

/// RFC 791 §3.2: "the fragment offset is measured in units of 8 octets";
/// NFB = (MTU - IHL*4) / 8 blocks per fragment.
#[test]
fn rfc791_fragment_count_uses_8_octet_blocks() {
    assert_eq!(fragment_count(1480, 20, 1500), 1);
    assert_eq!(fragment_count(1481, 20, 1500), 2);
    assert_eq!(fragment_count(1480, 20, 576), 3); // 552 + 552 + 376
    assert_eq!(fragment_count(100, 20, 67), 3); // 40 per fragment
    assert_eq!(fragment_count(100, 60, 67), 0); // 7 bytes: cannot fragment
    assert_eq!(fragment_count(0, 60, 60), 1);
}

/// RFC 791 §3.1 "Options": "The copied flag indicates that this option is
/// copied into all fragments on fragmentation." Router Alert (copied) stays
/// in every fragment; Record Route (not copied) becomes NOPs after the
/// first.
#[test]
fn rfc791_fragmenter_copies_only_copied_options_after_first_fragment() {
    let mtu = 48; // 32-byte header + 16 bytes of data
    let count = fragment_count(48, 32, mtu);
    assert_eq!(count, 3);
    let mut out = [0u8; 64];
    let mut data = Vec::new();
    for index in 0..count {
        let n = emit_fragment(&IPV4_OPTIONS_UDP, mtu, index, &mut out).unwrap();
        let f = Packet::new_checked(&out[..n]).unwrap();
        assert!(f.verify_checksum());
        assert_eq!(usize::from(f.total_len()), n);
        assert_eq!(usize::from(f.frag_offset()), index * 16);
        assert_eq!(f.more_frags(), index + 1 < count);
        assert_eq!(f.ident(), 0x0101);
        if index == 0 {
            assert_eq!(f.options(), &IPV4_OPTIONS_UDP[20..32]);
        } else {
            assert_eq!(f.options(), &[0x94, 0x04, 0x00, 0x00, 1, 1, 1, 1, 1, 1, 1, 0x00],);
        }
        data.extend_from_slice(f.payload());
    }
    assert_eq!(data, &IPV4_OPTIONS_UDP[32..]);
}

/// RFC 791: "If the Don't Fragment flag is set, then internet
/// fragmentation of this datagram is NOT permitted".
#[test]
fn rfc791_fragmenter_refuses_df_datagram() {
    let mut out = [0u8; 64];
    assert_eq!(emit_fragment(&IPV4_UDP_DNS, 40, 0, &mut out), Err(Error::Malformed));
    // It fits: copied unchanged, DF or not.
    assert_eq!(emit_fragment(&IPV4_UDP_DNS, 1500, 0, &mut out), Ok(57));
    assert_eq!(&out[..57], &IPV4_UDP_DNS[..]);
}

#[test]
fn fragmenter_error_cases() {
    let mut out = [0u8; 80];
    // MTU leaves less than 8 bytes of data.
    assert_eq!(emit_fragment(&IPV4_OPTIONS_UDP, 39, 0, &mut out), Err(Error::Malformed));
    // Index past the last fragment.
    assert_eq!(emit_fragment(&IPV4_OPTIONS_UDP, 48, 3, &mut out), Err(Error::Malformed));
    // Output too short.
    assert_eq!(emit_fragment(&IPV4_OPTIONS_UDP, 48, 0, &mut out[..47]), Err(Error::Truncated));
    // Not an IPv4 packet.
    assert_eq!(emit_fragment(&IPV4_OPTIONS_UDP[..19], 48, 0, &mut out), Err(Error::Truncated));
    // Malformed option length.
    let mut bad = IPV4_OPTIONS_UDP;
    bad[25] = 1; // Record Route length 1
    assert_eq!(emit_fragment(&bad, 48, 1, &mut out), Err(Error::Malformed));
}

/// One IPv4 option for the generator: (kind, body bytes).
fn option_strategy() -> impl Strategy<Value = (u8, Vec<u8>)> {
    (
        prop::sample::select(vec![0x01u8, 0x07, 0x44, 0x83, 0x94, 0x89]),
        proptest::collection::vec(any::<u8>(), 0..6),
    )
}

/// Serialises options (kind, len, body), padded with End of Option List;
/// also returns what a non-first fragment must carry.
fn build_options(items: &[(u8, Vec<u8>)]) -> (Vec<u8>, Vec<u8>) {
    let mut original = Vec::new();
    let mut non_first = Vec::new();
    for (kind, body) in items {
        let bytes = if *kind == 1 {
            vec![1]
        } else {
            let mut b = vec![*kind, (body.len() + 2) as u8];
            b.extend_from_slice(body);
            b
        };
        if original.len() + bytes.len() > 40 {
            break;
        }
        let copied = *kind & 0x80 != 0 || *kind == 1;
        non_first.extend(bytes.iter().map(|&x| if copied { x } else { 1 }));
        original.extend_from_slice(&bytes);
    }
    while original.len() % 4 != 0 {
        original.push(0);
        non_first.push(0);
    }
    (original, non_first)
}

#[allow(clippy::too_many_arguments)]
fn etherparse_ipv4(
    payload: &[u8],
    options: &[u8],
    dscp: u8,
    ecn: u8,
    ident: u16,
    flags: (bool, bool),
    offset_blocks: u16,
    ttl: u8,
    protocol: u8,
    src: [u8; 4],
    dst: [u8; 4],
) -> Vec<u8> {
    let mut h = Ipv4Header::new(0, ttl, IpNumber(protocol), src, dst).unwrap();
    h.dscp = Ipv4Dscp::try_new(dscp).unwrap();
    h.ecn = Ipv4Ecn::try_new(ecn).unwrap();
    h.identification = ident;
    h.dont_fragment = flags.0;
    h.more_fragments = flags.1;
    h.fragment_offset = IpFragOffset::try_new(offset_blocks).unwrap();
    h.options = Ipv4Options::try_from(options).unwrap();
    h.set_payload_len(payload.len()).unwrap();
    h.header_checksum = h.calc_header_checksum();
    let mut bytes = h.to_bytes().to_vec();
    bytes.extend_from_slice(payload);
    bytes
}

proptest! {
    /// Our getters agree with etherparse's parser on headers it writes.
    #[test]
    fn rfc791_getters_match_etherparse(
        payload in proptest::collection::vec(any::<u8>(), 0..100),
        options in proptest::collection::vec(option_strategy(), 0..6),
        dscp in 0u8..64, ecn in 0u8..4, ident in any::<u16>(),
        flags in any::<(bool, bool)>(), offset_blocks in 0u16..8192,
        ttl in any::<u8>(),
        // etherparse parses an IPsec AH (51) header inside the payload.
        protocol in any::<u8>().prop_filter("not AH", |p| *p != 51),
        src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(),
        padding in 0usize..20,
    ) {
        let (options, _) = build_options(&options);
        let mut bytes = etherparse_ipv4(&payload, &options, dscp, ecn, ident, flags, offset_blocks, ttl, protocol, src, dst);
        bytes.extend(std::iter::repeat_n(0, padding));
        let theirs = Ipv4Slice::from_slice(&bytes).unwrap();
        let h = theirs.header();
        let p = Packet::new_checked(&bytes[..]).unwrap();
        prop_assert_eq!(p.version(), h.version());
        prop_assert_eq!(p.header_len(), usize::from(h.ihl()) * 4);
        prop_assert_eq!(p.dscp(), h.dcp().value());
        prop_assert_eq!(p.ecn(), h.ecn().value());
        prop_assert_eq!(p.total_len(), h.total_len());
        prop_assert_eq!(p.ident(), h.identification());
        prop_assert_eq!(p.dont_frag(), h.dont_fragment());
        prop_assert_eq!(p.more_frags(), h.more_fragments());
        prop_assert_eq!(p.frag_offset(), h.fragments_offset().byte_offset());
        prop_assert_eq!(p.is_fragment(), h.is_fragmenting_payload());
        prop_assert_eq!(p.ttl(), h.ttl());
        prop_assert_eq!(p.protocol(), h.protocol().0);
        prop_assert_eq!(p.checksum(), h.header_checksum());
        prop_assert_eq!(p.src_addr(), h.source_addr());
        prop_assert_eq!(p.dst_addr(), h.destination_addr());
        prop_assert_eq!(p.options(), h.options());
        prop_assert_eq!(p.payload(), theirs.payload().payload);
        prop_assert!(p.verify_checksum());
    }

    /// fill_checksum computes what etherparse computes.
    #[test]
    fn rfc791_fill_checksum_matches_etherparse(
        payload in proptest::collection::vec(any::<u8>(), 0..40),
        options in proptest::collection::vec(option_strategy(), 0..6),
        ident in any::<u16>(), ttl in any::<u8>(), protocol in any::<u8>(),
        src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(),
        garbage in any::<u16>(),
    ) {
        let (options, _) = build_options(&options);
        let mut bytes = etherparse_ipv4(&payload, &options, 0, 0, ident, (true, false), 0, ttl, protocol, src, dst);
        let expected = u16::from_be_bytes([bytes[10], bytes[11]]);
        let mut p = Packet::new_checked(&mut bytes[..]).unwrap();
        p.set_checksum(garbage);
        p.fill_checksum();
        prop_assert_eq!(p.checksum(), expected);
    }

    /// RFC 1624: after NAT rewrites of both addresses (update32) and a TTL
    /// decrement (update16), the header checksum equals etherparse's full
    /// recomputation.
    #[test]
    fn rfc1624_incremental_address_rewrite_matches_etherparse(
        payload in proptest::collection::vec(any::<u8>(), 0..40),
        ident in any::<u16>(), ttl in 1u8..=255, protocol in any::<u8>(),
        src in any::<[u8; 4]>(), dst in any::<[u8; 4]>(),
        new_src in any::<u32>(), new_dst in any::<u32>(),
    ) {
        let mut bytes = etherparse_ipv4(&payload, &[], 0, 0, ident, (false, false), 0, ttl, protocol, src, dst);
        let mut p = Packet::new_checked(&mut bytes[..]).unwrap();
        prop_assert_eq!(p.rewrite_src_addr(new_src), u32::from_be_bytes(src));
        prop_assert_eq!(p.rewrite_dst_addr(new_dst), u32::from_be_bytes(dst));
        prop_assert_eq!(p.decrement_ttl(), ttl - 1);
        prop_assert!(p.verify_checksum());
        let h = Ipv4HeaderSlice::from_slice(&bytes).unwrap().to_header();
        prop_assert_eq!(h.header_checksum, h.calc_header_checksum());
        prop_assert_eq!(h.source, new_src.to_be_bytes());
        prop_assert_eq!(h.time_to_live, ttl - 1);
    }

    /// RFC 791 §3.2 fragmentation: every fragment fits the MTU, parses and
    /// verifies with etherparse, carries the right options, and
    /// etherparse's reassembly gives back the original payload. An
    /// original that is itself a non-last fragment keeps MF on its last
    /// piece, and offsets add up.
    #[test]
    fn rfc791_fragments_reassemble_to_original_payload(
        payload in proptest::collection::vec(any::<u8>(), 0..3000),
        options in proptest::collection::vec(option_strategy(), 0..6),
        mtu in 68usize..1500,
        ident in any::<u16>(),
        original_fragment in proptest::option::of(0u16..64),
    ) {
        let (options, non_first_options) = build_options(&options);
        let (mf, offset_blocks) = match original_fragment {
            Some(blocks) => (true, blocks),
            None => (false, 0),
        };
        let original = etherparse_ipv4(&payload, &options, 10, 0, ident, (false, mf), offset_blocks, 64, 17, [100, 64, 1, 2], [192, 0, 2, 9]);
        let header_len = 20 + options.len();
        let count = fragment_count(payload.len(), header_len, mtu);
        prop_assert!(count >= 1);
        let mut pool = IpDefragPool::<(), ()>::new();
        let mut reassembled = None;
        let mut by_offset = vec![None; payload.len()];
        let mut out = vec![0u8; 1600];
        for index in 0..count {
            let n = emit_fragment(&original, mtu, index, &mut out).unwrap();
            let frag = &out[..n];
            prop_assert!(n <= mtu.max(original.len()));
            let h = Ipv4HeaderSlice::from_slice(frag).unwrap().to_header();
            prop_assert_eq!(h.header_checksum, h.calc_header_checksum());
            prop_assert_eq!(usize::from(h.total_len), n);
            prop_assert_eq!(h.identification, ident);
            let last = index + 1 == count;
            prop_assert_eq!(h.more_fragments, !last || mf);
            if count > 1 {
                prop_assert!(n <= mtu);
            }
            let expected_options: &[u8] = if index == 0 { &options } else { &non_first_options };
            prop_assert_eq!(h.options.as_slice(), expected_options);
            let ours = Packet::new_checked(frag).unwrap();
            prop_assert!(ours.verify_checksum());
            let start = usize::from(ours.frag_offset()) - usize::from(offset_blocks) * 8;
            for (i, b) in ours.payload().iter().enumerate() {
                prop_assert!(by_offset[start + i].is_none(), "fragments overlap");
                by_offset[start + i] = Some(*b);
            }
            if original_fragment.is_none() && count > 1 {
                let sliced = SlicedPacket::from_ip(frag).unwrap();
                if let Some(done) = pool.process_sliced_packet(&sliced, (), ()).unwrap() {
                    reassembled = Some(done.payload);
                }
            }
        }
        let ours: Vec<u8> = by_offset.into_iter().map(|b| b.unwrap()).collect();
        prop_assert_eq!(&ours, &payload);
        if original_fragment.is_none() && count > 1 {
            prop_assert_eq!(reassembled.as_ref(), Some(&payload));
        }
    }
}
