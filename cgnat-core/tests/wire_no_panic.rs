//! Robustness: the checked constructors never panic on arbitrary bytes,
//! and after a successful `new_checked` (or `new_embedded`, for the getters
//! it documents) no getter, setter or checksum function panics, whatever
//! the bytes are. The same functions back the fuzz targets in
//! `cgnat-core/fuzz`.

use std::net::Ipv4Addr;

use cgnat_core::wire::{arp, ethernet, icmp, ipv4, tcp, udp};
use proptest::prelude::*;

const SRC: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 10);
const DST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

fn exercise_ethernet(data: &mut [u8]) {
    if let Ok(mut f) = ethernet::Frame::new_checked(&mut *data) {
        let _ = (f.dst_addr(), f.src_addr(), f.ethertype(), f.inner_ethertype());
        let _ = (f.vlan_id(), f.vlan_tci(), f.is_vlan_tagged(), f.header_len());
        let _ = f.payload().len();
        let _ = f.src_addr().to_string();
        f.set_dst_addr(ethernet::EthernetAddress::BROADCAST);
        f.set_src_addr(f.dst_addr());
        f.set_vlan_id(4095);
        f.set_inner_ethertype(ethernet::ethertype::IPV4);
        let _ = f.payload_mut().len();
    }
}

fn exercise_arp(data: &mut [u8]) {
    if let Ok(mut p) = arp::Packet::new_checked(&mut *data) {
        let _ = (p.hardware_type(), p.protocol_type(), p.hardware_len(), p.protocol_len());
        let _ = (p.operation(), p.sender_hardware_addr(), p.sender_protocol_addr());
        let _ = (p.target_hardware_addr(), p.target_protocol_addr());
        p.set_operation(arp::Operation::Reply);
        p.set_target_hardware_addr(p.sender_hardware_addr());
        p.set_target_protocol_addr(p.sender_protocol_addr());
        p.set_sender_protocol_addr(Ipv4Addr::UNSPECIFIED);
    }
}

fn ipv4_getters<T: AsRef<[u8]>>(p: &ipv4::Packet<T>) {
    let _ = (p.version(), p.header_len(), p.dscp_ecn(), p.dscp(), p.ecn());
    let _ = (p.total_len(), p.ident(), p.dont_frag(), p.more_frags(), p.frag_offset());
    let _ = (p.is_fragment(), p.is_non_first_fragment(), p.ttl(), p.protocol());
    let _ = (p.checksum(), p.src_addr(), p.dst_addr(), p.src_addr_u32(), p.dst_addr_u32());
    let _ = (p.options().len(), p.payload().len(), p.verify_checksum());
}

fn exercise_ipv4(data: &mut [u8], mtu: usize, index: usize) {
    if let Ok(p) = ipv4::Packet::new_embedded(&*data) {
        ipv4_getters(&p);
    }
    let _ = icmp::may_send_error_for(data);
    let mut out = [0u8; 1600];
    let _ = ipv4::emit_fragment(data, mtu, index, &mut out);
    let _ = icmp::emit_error(&mut out[..mtu.min(1600)], SRC, data, 3, 4, 1280, 64);
    let mut copy = data.to_vec();
    let _ = icmp::echo_reply_in_place(&mut copy);
    if let Ok(mut p) = ipv4::Packet::new_checked(&mut *data) {
        ipv4_getters(&p);
        p.decrement_ttl();
        p.rewrite_src_addr(0x0A00_0001);
        p.rewrite_dst_addr(0x0A00_0002);
        p.set_frag_offset(0xFFFF);
        p.set_more_frags(true);
        p.set_dont_frag(true);
        p.fill_checksum();
        let _ = (p.options_mut().len(), p.payload_mut().len());
        ipv4_getters(&p);
    }
}

fn exercise_tcp(data: &mut [u8], value: u16) {
    if let Ok(p) = tcp::Packet::new_embedded(&*data) {
        let _ = (p.src_port(), p.dst_port(), p.seq_number());
    }
    if let Ok(mut p) = tcp::Packet::new_checked(&mut *data) {
        let _ = (p.src_port(), p.dst_port(), p.seq_number(), p.ack_number(), p.header_len());
        let _ = (p.flags(), p.fin(), p.syn(), p.rst(), p.psh(), p.ack(), p.urg(), p.ece(), p.cwr());
        let _ = (p.window_len(), p.checksum(), p.urgent_at(), p.options().len(), p.payload().len());
        let _ = (p.mss_option(), p.verify_checksum(SRC, DST));
        p.clamp_mss(value);
        p.set_mss_option(value);
        p.rewrite_src_port(value);
        p.rewrite_dst_port(value);
        p.update_checksum_for_addr(1, 2);
        p.fill_checksum(SRC, DST);
        let _ = (p.options_mut().len(), p.payload_mut().len());
        assert!(p.verify_checksum(SRC, DST));
    }
}

fn exercise_udp(data: &mut [u8], value: u16) {
    if let Ok(mut p) = udp::Packet::new_embedded(&mut *data) {
        let _ = (p.src_port(), p.dst_port(), p.len(), p.checksum(), p.payload().len());
        let _ = p.verify_checksum(SRC, DST);
        p.rewrite_src_port(value);
        let _ = p.payload_mut().len();
    }
    if let Ok(mut p) = udp::Packet::new_checked(&mut *data) {
        let _ = (p.src_port(), p.dst_port(), p.len(), p.checksum(), p.payload().len());
        let _ = p.verify_checksum(SRC, DST);
        p.rewrite_dst_port(value);
        p.update_checksum_for_addr(3, 4);
        p.fill_checksum(SRC, DST);
        assert!(p.verify_checksum(SRC, DST));
        assert_ne!(p.checksum(), 0);
    }
}

fn exercise_icmp(data: &mut [u8], value: u16) {
    if let Ok(mut p) = icmp::Packet::new_checked(&mut *data) {
        let _ = (p.msg_type(), p.code(), p.checksum(), p.is_error(), p.is_query());
        let _ = (p.rest_of_header(), p.echo_ident(), p.echo_seq_no(), p.next_hop_mtu());
        let _ = (p.pointer(), p.gateway_addr(), p.data().len(), p.verify_checksum());
        p.rewrite_echo_ident(value);
        p.set_next_hop_mtu(value);
        p.fill_checksum();
        let _ = p.data_mut().len();
        assert!(p.verify_checksum());
    }
}

/// Bytes that often get past the first checks: a random prefix length of
/// a plausible header, then anything.
fn plausible_ipv4() -> impl Strategy<Value = Vec<u8>> {
    (0x45u8..=0x4F, any::<u8>(), proptest::collection::vec(any::<u8>(), 0..200)).prop_map(|(ver_ihl, len, mut rest)| {
        rest.insert(0, ver_ihl);
        if rest.len() > 3 {
            rest[2] = 0;
            rest[3] = len;
        }
        rest
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn ethernet_and_arp_never_panic(mut data in proptest::collection::vec(any::<u8>(), 0..200)) {
        exercise_ethernet(&mut data);
        exercise_arp(&mut data);
        // ARP with valid type fields: exercise the getters, not just the check.
        if data.len() >= 6 {
            data[..6].copy_from_slice(&[0, 1, 8, 0, 6, 4]);
        }
        exercise_arp(&mut data);
    }

    #[test]
    fn ipv4_never_panics_on_arbitrary_bytes(
        mut data in proptest::collection::vec(any::<u8>(), 0..200),
        mtu in 0usize..1600, index in 0usize..40,
    ) {
        exercise_ipv4(&mut data, mtu, index);
    }

    #[test]
    fn ipv4_never_panics_on_plausible_headers(
        mut data in plausible_ipv4(), mtu in 0usize..300, index in 0usize..40,
    ) {
        exercise_ipv4(&mut data, mtu, index);
    }

    #[test]
    fn tcp_udp_icmp_never_panic(
        mut data in proptest::collection::vec(any::<u8>(), 0..200),
        value in any::<u16>(),
    ) {
        exercise_tcp(&mut data.clone(), value);
        exercise_udp(&mut data.clone(), value);
        exercise_icmp(&mut data, value);
    }
}
