//! Bodies of the fuzz targets in `fuzz_targets/`, one per parser of
//! `cgnat_core::wire`. Each one runs the checked constructor on the input
//! and, when it succeeds, every getter, then setters and checksum
//! functions on a mutable copy. The invariant under test: nothing panics
//! after a successful `new_checked` (RFC-valid or not), and a freshly
//! filled checksum verifies.
//!
//! Run with `cargo fuzz run ipv4` (nightly) from `cgnat-core/`, or build
//! on stable with `cargo build --manifest-path cgnat-core/fuzz/Cargo.toml`.

use std::net::Ipv4Addr;

use cgnat_core::wire::{arp, checksum, ethernet, icmp, ipv4, tcp, udp};

const SRC: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 10);
const DST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

/// Splits two parameter bytes off the front of the input.
fn params(data: &[u8]) -> (u16, &[u8]) {
    match data {
        [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]), rest),
        _ => (0, data),
    }
}

/// `ethernet::Frame`.
pub fn ethernet(data: &[u8]) {
    let mut buf = data.to_vec();
    if let Ok(mut f) = ethernet::Frame::new_checked(&mut buf[..]) {
        let _ = (
            f.dst_addr(),
            f.src_addr(),
            f.ethertype(),
            f.inner_ethertype(),
        );
        let _ = (
            f.vlan_id(),
            f.vlan_tci(),
            f.is_vlan_tagged(),
            f.header_len(),
        );
        let _ = (f.payload().len(), f.src_addr().to_string());
        let _ = (f.dst_addr().is_multicast(), f.dst_addr().is_broadcast());
        f.set_dst_addr(f.src_addr());
        f.set_src_addr(ethernet::EthernetAddress::BROADCAST);
        f.set_vlan_id(0x0FFF);
        f.set_inner_ethertype(ethernet::ethertype::ARP);
        let _ = f.payload_mut().len();
        let header_len = f.header_len();
        assert!(header_len <= buf.len());
    }
}

/// `arp::Packet`.
pub fn arp(data: &[u8]) {
    let mut buf = data.to_vec();
    if let Ok(mut p) = arp::Packet::new_checked(&mut buf[..]) {
        let _ = (
            p.hardware_type(),
            p.protocol_type(),
            p.hardware_len(),
            p.protocol_len(),
        );
        let _ = (
            p.operation(),
            p.sender_hardware_addr(),
            p.sender_protocol_addr(),
        );
        let _ = (p.target_hardware_addr(), p.target_protocol_addr());
        let requester = (p.sender_hardware_addr(), p.sender_protocol_addr());
        p.set_operation(arp::Operation::Reply);
        p.set_target_hardware_addr(requester.0);
        p.set_target_protocol_addr(requester.1);
        p.set_sender_hardware_addr(ethernet::EthernetAddress([2, 0, 0, 0, 0, 1]));
        p.set_sender_protocol_addr(SRC);
        assert!(p.check_len().is_ok());
    }
}

fn ipv4_getters<T: AsRef<[u8]>>(p: &ipv4::Packet<T>) {
    let _ = (p.version(), p.header_len(), p.dscp_ecn(), p.dscp(), p.ecn());
    let _ = (
        p.total_len(),
        p.ident(),
        p.dont_frag(),
        p.more_frags(),
        p.frag_offset(),
    );
    let _ = (
        p.is_fragment(),
        p.is_non_first_fragment(),
        p.ttl(),
        p.protocol(),
    );
    let _ = (
        p.checksum(),
        p.src_addr(),
        p.dst_addr(),
        p.src_addr_u32(),
        p.dst_addr_u32(),
    );
    let _ = (p.options().len(), p.payload().len(), p.verify_checksum());
}

/// `ipv4::Packet`, the fragmenter and the ICMP builders that take an IPv4
/// packet. The first two input bytes choose the MTU and fragment index.
pub fn ipv4(data: &[u8]) {
    let (param, packet) = params(data);
    let mtu = usize::from(param >> 5);
    let index = usize::from(param & 0x1F);
    let mut original_valid = false;
    if let Ok(p) = ipv4::Packet::new_embedded(packet) {
        ipv4_getters(&p);
        original_valid = p.verify_checksum();
    }
    let mut out = [0u8; 2048];
    if let Ok(n) = ipv4::emit_fragment(packet, mtu, index, &mut out) {
        let fragment = ipv4::Packet::new_checked(&out[..n]).expect("fragment parses");
        // A datagram that fits is copied as is, checksum included.
        assert!(fragment.verify_checksum() || !original_valid);
    }
    let _ = icmp::may_send_error_for(packet);
    if let Ok(n) = icmp::emit_error(&mut out[..mtu], SRC, packet, 3, 4, 1280, 64) {
        assert!(n <= icmp::MAX_ERROR_LEN);
        let error = ipv4::Packet::new_checked(&out[..n]).expect("error parses");
        assert!(error.verify_checksum());
        assert!(!icmp::may_send_error_for(&out[..n]));
    }
    let mut copy = packet.to_vec();
    if icmp::echo_reply_in_place(&mut copy).is_ok() {
        assert!(ipv4::Packet::new_checked(&copy[..])
            .unwrap()
            .verify_checksum());
    }
    let mut buf = packet.to_vec();
    if let Ok(mut p) = ipv4::Packet::new_checked(&mut buf[..]) {
        ipv4_getters(&p);
        let valid = p.verify_checksum();
        p.decrement_ttl();
        p.rewrite_src_addr(0x0A00_0001);
        p.rewrite_dst_addr(param.into());
        assert_eq!(
            p.verify_checksum(),
            valid,
            "incremental updates keep validity"
        );
        p.set_frag_offset(param);
        p.set_more_frags(param & 1 == 1);
        p.set_dont_frag(param & 2 == 2);
        p.fill_checksum();
        assert!(p.verify_checksum());
        let _ = (p.options_mut().len(), p.payload_mut().len());
    }
}

/// `tcp::Packet`, including the lenient embedded view.
pub fn tcp(data: &[u8]) {
    let (param, segment) = params(data);
    if let Ok(p) = tcp::Packet::new_embedded(segment) {
        let _ = (p.src_port(), p.dst_port(), p.seq_number());
    }
    let mut buf = segment.to_vec();
    if let Ok(mut p) = tcp::Packet::new_checked(&mut buf[..]) {
        let _ = (
            p.src_port(),
            p.dst_port(),
            p.seq_number(),
            p.ack_number(),
            p.header_len(),
        );
        let _ = (
            p.flags(),
            p.fin(),
            p.syn(),
            p.rst(),
            p.psh(),
            p.ack(),
            p.urg(),
        );
        let _ = (
            p.ece(),
            p.cwr(),
            p.window_len(),
            p.checksum(),
            p.urgent_at(),
        );
        let _ = (p.options().len(), p.payload().len(), p.mss_option());
        let valid = p.verify_checksum(SRC, DST);
        p.clamp_mss(param);
        p.rewrite_src_port(param);
        p.rewrite_dst_port(!param);
        p.update_checksum_for_addr(u32::from(SRC), 0x0A00_0001);
        let moved = Ipv4Addr::new(10, 0, 0, 1);
        assert_eq!(
            p.verify_checksum(moved, DST),
            valid,
            "incremental updates keep validity"
        );
        p.set_mss_option(param);
        p.fill_checksum(SRC, DST);
        assert!(p.verify_checksum(SRC, DST));
        let _ = (p.options_mut().len(), p.payload_mut().len());
    }
}

/// `udp::Packet`, including the lenient embedded view.
pub fn udp(data: &[u8]) {
    let (param, datagram) = params(data);
    let mut buf = datagram.to_vec();
    if let Ok(mut p) = udp::Packet::new_embedded(&mut buf[..]) {
        let _ = (
            p.src_port(),
            p.dst_port(),
            p.len(),
            p.checksum(),
            p.payload().len(),
        );
        let _ = p.verify_checksum(SRC, DST);
        p.rewrite_src_port(param);
        let _ = p.payload_mut().len();
    }
    let mut buf = datagram.to_vec();
    if let Ok(mut p) = udp::Packet::new_checked(&mut buf[..]) {
        let _ = (
            p.src_port(),
            p.dst_port(),
            p.len(),
            p.checksum(),
            p.payload().len(),
        );
        let had_checksum = p.checksum() != 0;
        let valid = p.verify_checksum(SRC, DST);
        p.rewrite_src_port(param);
        p.rewrite_dst_port(!param);
        p.update_checksum_for_addr(u32::from(DST), 0x0A00_0001);
        let moved = Ipv4Addr::new(10, 0, 0, 1);
        assert_eq!(
            p.verify_checksum(SRC, moved),
            valid,
            "incremental updates keep validity"
        );
        assert_eq!(p.checksum() != 0, had_checksum, "RFC 768: zero stays zero");
        p.fill_checksum(SRC, DST);
        assert!(p.checksum() != 0 && p.verify_checksum(SRC, DST));
        let _ = p.payload_mut().len();
    }
}

/// `icmp::Packet`.
pub fn icmp(data: &[u8]) {
    let (param, message) = params(data);
    let mut buf = message.to_vec();
    if let Ok(mut p) = icmp::Packet::new_checked(&mut buf[..]) {
        let _ = (
            p.msg_type(),
            p.code(),
            p.checksum(),
            p.is_error(),
            p.is_query(),
        );
        let _ = (
            p.rest_of_header(),
            p.echo_ident(),
            p.echo_seq_no(),
            p.next_hop_mtu(),
        );
        let _ = (p.pointer(), p.gateway_addr(), p.data().len());
        let valid = p.verify_checksum();
        p.rewrite_echo_ident(param);
        // Only this direction: the all-zero corner case of RFC 1624 eqn. 3
        // (see `checksum::update16`) may also repair a wrong checksum.
        assert!(
            !valid || p.verify_checksum(),
            "incremental update keeps validity"
        );
        p.set_echo_seq_no(param);
        p.set_next_hop_mtu(param);
        p.fill_checksum();
        assert!(p.verify_checksum());
        assert_eq!(checksum::fold(checksum::sum(p.as_ref())), 0xFFFF);
        let _ = p.data_mut().len();
    }
}

/// `pcp::Request`, `pcp::Response` and the `pcp::Packet` view: every
/// request the parser accepts emits back to bytes that parse to the same
/// request (RFC 6887 messages are fully determined by their fields), and a
/// server's response to it (its data and options echoed) parses back.
pub fn pcp(data: &[u8]) {
    use cgnat_core::wire::pcp;
    if let Ok(p) = pcp::Packet::new_checked(data) {
        let _ = (p.version(), p.is_response(), p.opcode(), p.lifetime());
        let _ = (p.client_addr(), p.result_code(), p.epoch(), p.body().len());
    }
    let _ = pcp::Response::parse(data);
    if let Ok(r) = pcp::Request::parse(data) {
        let mut buf = vec![0u8; r.len()];
        assert_eq!(r.emit(&mut buf), Ok(r.len()));
        assert_eq!(pcp::Request::parse(&buf).as_ref(), Ok(&r));
        let resp = pcp::Response {
            result: pcp::ResultCode::Success,
            lifetime: r.lifetime,
            epoch: 1,
            op: r.op.clone(),
            options: r.options.clone(),
        };
        let mut out = vec![0u8; resp.len()];
        assert_eq!(resp.emit(&mut out), Ok(resp.len()));
        assert_eq!(pcp::Response::parse(&out), Ok(resp));
    }
}

/// `natpmp::Request` and `natpmp::Response`: accepted requests emit back
/// to the same request.
pub fn natpmp(data: &[u8]) {
    use cgnat_core::wire::natpmp;
    let _ = natpmp::Response::parse(data);
    if let Ok(r) = natpmp::Request::parse(data) {
        let mut buf = [0u8; natpmp::MAP_REQUEST_LEN];
        let n = r.emit(&mut buf).unwrap();
        assert_eq!(natpmp::Request::parse(&buf[..n]), Ok(r));
    }
}

/// `wire::ha` and the standby's sync receiver: a checked datagram
/// re-emits to the same bytes, and any sequence of datagrams (the input
/// cut into pieces at 0xff bytes) leaves the receiver consistent: its
/// acknowledgement never goes back, and a mirror is in sync only after a
/// bulk sync.
pub fn ha_sync(data: &[u8]) {
    use cgnat_core::ha::{Accept, MirrorState, SyncReceiver};
    use cgnat_core::wire::ha::{Header, Message};
    use cgnat_core::Instant;
    let mut rx = SyncReceiver::new(1000);
    let mut ack = rx.ack();
    for (i, piece) in data.split(|b| *b == 0xff).enumerate() {
        let Ok(m) = Message::new_checked(piece) else { continue };
        let h = Header::parse(&m);
        let records: Result<Vec<_>, _> = (0..m.count()).map(|i| m.record(i)).collect();
        if let Ok(records) = &records {
            let mut out = Vec::new();
            h.emit(records, &mut out).expect("a parsed message re-emits");
            let again = Message::new_checked(&out[..]).expect("re-emitted bytes are valid");
            assert_eq!(Header::parse(&again), h);
        }
        if h.kind == cgnat_core::wire::ha::Kind::Data {
            let a = rx.on_data(&h);
            if rx.state() == MirrorState::InSync {
                assert!(rx.stats().bulk_syncs > 0);
            }
            if matches!(a, Accept::Apply { clear_first: false }) {
                assert!(rx.ack() > ack || rx.stats().peer_restarts > 0);
            }
        } else {
            rx.on_peer_incarnation(h.incarnation);
        }
        if rx.stats().peer_restarts == 0 {
            assert!(rx.ack() >= ack, "the acknowledgement went back");
        }
        ack = rx.ack();
        let _ = rx.poll_request(Instant::from_micros(i as u64 * 500));
    }
}
