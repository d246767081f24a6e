//! Ethernet II / 802.1Q frames and ARP (RFC 826): byte fixtures, checked
//! constructor failures, setters, emitters, and property tests against
//! etherparse.

use std::net::Ipv4Addr;

use cgnat_core::wire::arp::{self, Operation};
use cgnat_core::wire::ethernet::{self, ethertype, EthernetAddress, Frame};
use cgnat_core::wire::Error;
use etherparse::{PacketBuilder, SlicedPacket, VlanId};
use proptest::prelude::*;

/// Ethernet + IPv4 + UDP DNS query for example.com, 100.64.0.10 -> 8.8.8.8.
const ETH_IPV4_UDP_DNS: [u8; 71] = [
    0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x02, 0x42, 0xac, 0x11, 0x00, 0x02, 0x08, 0x00, 0x45, 0x00, 0x00, 0x39, 0x1c, 0x46, 0x40, 0x00,
    0x40, 0x11, 0xaa, 0x14, 0x64, 0x40, 0x00, 0x0a, 0x08, 0x08, 0x08, 0x08, 0xcf, 0x84, 0x00, 0x35, 0x00, 0x25, 0x40, 0x55, 0xab, 0xcd,
    0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x07, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x03, 0x63, 0x6f, 0x6d,
    0x00, 0x00, 0x01, 0x00, 0x01,
];

/// Broadcast ARP request "who has 100.64.0.1? tell 100.64.0.10" on VLAN
/// 100 with PCP 3, padded to the 64-byte minimum (FCS stripped).
const ETH_VLAN_ARP_REQUEST: [u8; 64] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x42, 0xac, 0x11, 0x00, 0x02, 0x81, 0x00, 0x60, 0x64, 0x08, 0x06, 0x00, 0x01, 0x08, 0x00,
    0x06, 0x04, 0x00, 0x01, 0x02, 0x42, 0xac, 0x11, 0x00, 0x02, 0x64, 0x40, 0x00, 0x0a, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x64, 0x40,
    0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];

/// ARP reply "100.64.0.1 is at 52:54:00:12:34:56" to 100.64.0.10.
const ARP_REPLY: [u8; 28] = [
    0x00, 0x01, 0x08, 0x00, 0x06, 0x04, 0x00, 0x02, 0x52, 0x54, 0x00, 0x12, 0x34, 0x56, 0x64, 0x40, 0x00, 0x01, 0x02, 0x42, 0xac, 0x11,
    0x00, 0x02, 0x64, 0x40, 0x00, 0x0a,
];

const ROUTER_MAC: EthernetAddress = EthernetAddress([0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
const HOST_MAC: EthernetAddress = EthernetAddress([0x02, 0x42, 0xac, 0x11, 0x00, 0x02]);

#[test]
fn ethernet_untagged_fixture_fields() {
    let frame = Frame::new_checked(&ETH_IPV4_UDP_DNS[..]).unwrap();
    assert_eq!(frame.dst_addr(), ROUTER_MAC);
    assert_eq!(frame.src_addr(), HOST_MAC);
    assert_eq!(frame.ethertype(), ethertype::IPV4);
    assert_eq!(frame.inner_ethertype(), ethertype::IPV4);
    assert!(!frame.is_vlan_tagged());
    assert_eq!(frame.vlan_id(), None);
    assert_eq!(frame.vlan_tci(), None);
    assert_eq!(frame.header_len(), ethernet::HEADER_LEN);
    assert_eq!(frame.payload(), &ETH_IPV4_UDP_DNS[14..]);
    assert_eq!(frame.payload()[0], 0x45);
}

/// IEEE 802.1Q: TPID 0x8100, then PCP(3) DEI(1) VID(12), then the
/// EtherType of the payload.
#[test]
fn ethernet_8021q_fixture_fields() {
    let frame = Frame::new_checked(&ETH_VLAN_ARP_REQUEST[..]).unwrap();
    assert!(frame.dst_addr().is_broadcast());
    assert!(frame.dst_addr().is_multicast());
    assert!(frame.src_addr().is_unicast());
    assert_eq!(frame.ethertype(), ethertype::VLAN);
    assert_eq!(frame.vlan_tci(), Some(0x6064));
    assert_eq!(frame.vlan_id(), Some(100));
    assert_eq!(frame.inner_ethertype(), ethertype::ARP);
    assert_eq!(frame.header_len(), ethernet::VLAN_HEADER_LEN);
    assert_eq!(frame.payload().len(), 64 - 18);
}

#[test]
fn ethernet_new_checked_rejects_short_header() {
    assert_eq!(Frame::new_checked(&[][..]).unwrap_err(), Error::Truncated);
    assert_eq!(Frame::new_checked(&ETH_IPV4_UDP_DNS[..13]).unwrap_err(), Error::Truncated);
    assert!(Frame::new_checked(&ETH_IPV4_UDP_DNS[..14]).is_ok());
}

#[test]
fn ethernet_new_checked_rejects_tagged_frame_without_full_tag() {
    assert_eq!(Frame::new_checked(&ETH_VLAN_ARP_REQUEST[..17]).unwrap_err(), Error::Truncated);
    assert!(Frame::new_checked(&ETH_VLAN_ARP_REQUEST[..18]).is_ok());
}

#[test]
fn ethernet_address_display_and_constants() {
    assert_eq!(HOST_MAC.to_string(), "02:42:ac:11:00:02");
    assert_eq!(EthernetAddress::BROADCAST.to_string(), "ff:ff:ff:ff:ff:ff");
    assert!(EthernetAddress([0x01, 0x00, 0x5e, 0, 0, 1]).is_multicast());
    assert_eq!(EthernetAddress::from_bytes(&ARP_REPLY[8..14]), ROUTER_MAC);
    assert_eq!(ROUTER_MAC.as_bytes(), &[0x52, 0x54, 0x00, 0x12, 0x34, 0x56]);
}

#[test]
fn ethernet_setters_rewrite_in_place() {
    let mut buf = ETH_VLAN_ARP_REQUEST;
    let mut frame = Frame::new_checked(&mut buf[..]).unwrap();
    frame.set_dst_addr(HOST_MAC);
    frame.set_src_addr(ROUTER_MAC);
    assert!(frame.set_vlan_id(200));
    frame.set_inner_ethertype(ethertype::IPV4);
    frame.payload_mut()[0] = 0x45;
    assert_eq!(frame.dst_addr(), HOST_MAC);
    assert_eq!(frame.src_addr(), ROUTER_MAC);
    assert_eq!(frame.vlan_tci(), Some(0x6000 | 200), "PCP kept");
    assert_eq!(frame.inner_ethertype(), ethertype::IPV4);
    assert_eq!(frame.ethertype(), ethertype::VLAN);
    assert_eq!(buf[18], 0x45);

    let mut untagged = ETH_IPV4_UDP_DNS;
    let mut frame = Frame::new_checked(&mut untagged[..]).unwrap();
    assert!(!frame.set_vlan_id(5));
    frame.set_inner_ethertype(ethertype::ARP);
    assert_eq!(frame.ethertype(), ethertype::ARP);
    assert_eq!(frame.into_inner().len(), 71);
}

#[test]
fn ethernet_emit_header_untagged_and_tagged() {
    let mut buf = [0u8; 18];
    assert_eq!(ethernet::emit_header(&mut buf, ROUTER_MAC, HOST_MAC, None, ethertype::IPV4), 14);
    assert_eq!(&buf[..14], &ETH_IPV4_UDP_DNS[..14]);

    let n = ethernet::emit_header(&mut buf, EthernetAddress::BROADCAST, HOST_MAC, Some(0x6064), ethertype::ARP);
    assert_eq!(n, 18);
    assert_eq!(&buf[..], &ETH_VLAN_ARP_REQUEST[..18]);
}

#[test]
fn rfc826_request_fixture_fields() {
    let frame = Frame::new_checked(&ETH_VLAN_ARP_REQUEST[..]).unwrap();
    let packet = arp::Packet::new_checked(frame.payload()).unwrap();
    assert_eq!(packet.hardware_type(), 1);
    assert_eq!(packet.protocol_type(), 0x0800);
    assert_eq!(packet.hardware_len(), 6);
    assert_eq!(packet.protocol_len(), 4);
    assert_eq!(packet.operation(), Operation::Request);
    assert_eq!(packet.sender_hardware_addr(), HOST_MAC);
    assert_eq!(packet.sender_protocol_addr(), Ipv4Addr::new(100, 64, 0, 10));
    assert_eq!(packet.target_hardware_addr(), EthernetAddress([0; 6]));
    assert_eq!(packet.target_protocol_addr(), Ipv4Addr::new(100, 64, 0, 1));
}

/// RFC 826 "Packet Reception": the reply swaps sender and target and puts
/// the local hardware and protocol addresses in the sender fields.
#[test]
fn rfc826_emit_reply_to_request_matches_fixture() {
    let request = arp::Packet::new_checked(&ETH_VLAN_ARP_REQUEST[18..]).unwrap();
    let mut buf = [0u8; 28];
    let n = arp::emit(
        &mut buf,
        Operation::Reply,
        ROUTER_MAC,
        request.target_protocol_addr(),
        request.sender_hardware_addr(),
        request.sender_protocol_addr(),
    );
    assert_eq!(n, arp::PACKET_LEN);
    assert_eq!(buf, ARP_REPLY);
    let reply = arp::Packet::new_checked(&buf[..]).unwrap();
    assert_eq!(reply.operation(), Operation::Reply);
}

#[test]
fn rfc826_new_checked_rejects_truncated_packet() {
    assert_eq!(arp::Packet::new_checked(&ARP_REPLY[..27]).unwrap_err(), Error::Truncated);
    assert_eq!(arp::Packet::new_checked(&[][..]).unwrap_err(), Error::Truncated);
}

/// RFC 826: "?Do I have the hardware type in ar$hrd? [...] ?Do I speak the
/// protocol in ar$pro?" — anything but Ethernet/IPv4 is refused.
#[test]
fn rfc826_new_checked_rejects_other_hardware_and_protocols() {
    let cases: [(usize, u8); 5] = [
        (1, 6),    // ar$hrd = 6 (IEEE 802)
        (2, 0x86), // ar$pro = 0x86dd (IPv6)
        (3, 0x01), // ar$pro = 0x0801
        (4, 8),    // ar$hln = 8
        (5, 16),   // ar$pln = 16
    ];
    for (at, value) in cases {
        let mut buf = ARP_REPLY;
        buf[at] = value;
        assert_eq!(arp::Packet::new_checked(&buf[..]).unwrap_err(), Error::Malformed, "byte {at}");
    }
}

#[test]
fn rfc826_unknown_operation_is_reported() {
    let mut buf = ARP_REPLY;
    buf[7] = 3; // RARP request
    let packet = arp::Packet::new_checked(&buf[..]).unwrap();
    assert_eq!(packet.operation(), Operation::Unknown(3));
    assert_eq!(u16::from(packet.operation()), 3);
    assert_eq!(Operation::from(1), Operation::Request);
}

#[test]
fn arp_setters_round_trip() {
    let mut buf = [0u8; 28];
    let mut packet = arp::Packet::new_unchecked(&mut buf[..]);
    packet.set_hardware_type(1);
    packet.set_protocol_type(0x0800);
    packet.set_hardware_len(6);
    packet.set_protocol_len(4);
    packet.set_operation(Operation::Reply);
    packet.set_sender_hardware_addr(ROUTER_MAC);
    packet.set_sender_protocol_addr(Ipv4Addr::new(100, 64, 0, 1));
    packet.set_target_hardware_addr(HOST_MAC);
    packet.set_target_protocol_addr(Ipv4Addr::new(100, 64, 0, 10));
    assert_eq!(packet.check_len(), Ok(()));
    assert_eq!(buf, ARP_REPLY);
}

fn mac() -> impl Strategy<Value = [u8; 6]> {
    any::<[u8; 6]>()
}

proptest! {
    /// Our Ethernet getters agree with etherparse on frames it builds, with
    /// and without one 802.1Q tag.
    #[test]
    fn ethernet_getters_match_etherparse(
        src in mac(),
        dst in mac(),
        vlan in proptest::option::of(0u16..4096),
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        let builder = PacketBuilder::ethernet2(src, dst);
        let mut bytes = Vec::new();
        match vlan {
            Some(vid) => builder
                .single_vlan(VlanId::try_new(vid).unwrap())
                .ipv4([100, 64, 0, 1], [8, 8, 8, 8], 64)
                .udp(1, 2)
                .write(&mut bytes, &payload)
                .unwrap(),
            None => builder
                .ipv4([100, 64, 0, 1], [8, 8, 8, 8], 64)
                .udp(1, 2)
                .write(&mut bytes, &payload)
                .unwrap(),
        }
        let frame = Frame::new_checked(&bytes[..]).unwrap();
        let parsed = SlicedPacket::from_ethernet(&bytes).unwrap();
        let eth = match parsed.link {
            Some(etherparse::LinkSlice::Ethernet2(e)) => e,
            other => panic!("unexpected link {other:?}"),
        };
        prop_assert_eq!(frame.src_addr().0, eth.source());
        prop_assert_eq!(frame.dst_addr().0, eth.destination());
        prop_assert_eq!(frame.ethertype(), eth.ether_type().0);
        prop_assert_eq!(frame.vlan_id(), vlan);
        prop_assert_eq!(frame.inner_ethertype(), ethertype::IPV4);
        let ip_start = bytes.len() - frame.payload().len();
        prop_assert_eq!(ip_start, if vlan.is_some() { 18 } else { 14 });
        prop_assert_eq!(frame.payload()[0], 0x45);
    }

    /// emit_header then parse gives back what was emitted.
    #[test]
    fn ethernet_emit_then_parse_round_trips(
        src in mac(),
        dst in mac(),
        tci in proptest::option::of(any::<u16>()),
        et in any::<u16>().prop_filter("not the VLAN TPID", |e| *e != ethertype::VLAN),
    ) {
        let mut buf = [0u8; 18];
        let n = ethernet::emit_header(&mut buf, EthernetAddress(dst), EthernetAddress(src), tci, et);
        let frame = Frame::new_checked(&buf[..n]).unwrap();
        prop_assert_eq!(frame.dst_addr(), EthernetAddress(dst));
        prop_assert_eq!(frame.src_addr(), EthernetAddress(src));
        prop_assert_eq!(frame.vlan_tci(), tci);
        prop_assert_eq!(frame.inner_ethertype(), et);
        prop_assert_eq!(frame.header_len(), n);
    }

    /// arp::emit then parse gives back what was emitted.
    #[test]
    fn rfc826_emit_then_parse_round_trips(
        op in any::<u16>(),
        sha in mac(),
        spa in any::<u32>(),
        tha in mac(),
        tpa in any::<u32>(),
    ) {
        let mut buf = [0u8; 28];
        arp::emit(&mut buf, Operation::from(op), EthernetAddress(sha), spa.into(), EthernetAddress(tha), tpa.into());
        let packet = arp::Packet::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(u16::from(packet.operation()), op);
        prop_assert_eq!(packet.sender_hardware_addr(), EthernetAddress(sha));
        prop_assert_eq!(packet.sender_protocol_addr(), Ipv4Addr::from(spa));
        prop_assert_eq!(packet.target_hardware_addr(), EthernetAddress(tha));
        prop_assert_eq!(packet.target_protocol_addr(), Ipv4Addr::from(tpa));
    }
}
