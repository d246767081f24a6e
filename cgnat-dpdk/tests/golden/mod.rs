//! The generator of the golden replay fixtures (`tests/pcap/`): frames are
//! built with etherparse and cgnat-core's wire emitters (ARP, fragments).
//! Inbound replies must name the public address:port cgnatd will choose;
//! the generator learns them by running the same inside packets through a
//! cgnat-core `Worker` built from the same configuration and seed (the
//! NAT is sans-IO and deterministic), in the same order as the daemon.
#![allow(dead_code, clippy::too_many_arguments)]

use std::sync::Arc;

use cgnat_core::config::NatConfig;
use cgnat_core::event::Event;
use cgnat_core::wire::arp::{self, Operation};
use cgnat_core::wire::ethernet::{self, EthernetAddress};
use cgnat_core::wire::ipv4;
use cgnat_core::{Instant, Nat, Side, Verdict, Worker};
use etherparse::PacketBuilder;

/// 2023-11-14T22:13:20Z, in microseconds.
pub const T0: u64 = 1_700_000_000_000_000;

pub const CGN_IN_MAC: [u8; 6] = [0x02, 0xc6, 0x0a, 0, 0, 1];
pub const CGN_OUT_MAC: [u8; 6] = [0x02, 0xc6, 0x0a, 0, 0, 2];
pub const SUB1_MAC: [u8; 6] = [2, 0, 0, 0, 1, 10];
pub const SUB2_MAC: [u8; 6] = [2, 0, 0, 0, 1, 20];
pub const GW_MAC: [u8; 6] = [2, 0, 0, 0, 2, 1];
pub const HOST7_MAC: [u8; 6] = [2, 0, 0, 0, 2, 7];
pub const OTHER_MAC: [u8; 6] = [2, 0, 0, 0, 9, 9];

pub const SUB1: [u8; 4] = [100, 64, 1, 10];
pub const SUB2: [u8; 4] = [100, 64, 1, 20];
pub const CGN_IN: [u8; 4] = [100, 64, 0, 1];
pub const CGN_OUT: [u8; 4] = [198, 51, 100, 2];
pub const GW: [u8; 4] = [198, 51, 100, 1];
pub const HOST7: [u8; 4] = [198, 51, 100, 7];
pub const SERVER: [u8; 4] = [192, 0, 2, 80];
pub const STATIC_PUB: [u8; 4] = [203, 0, 113, 14];

/// One frame with its capture time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub micros: u64,
    pub data: Vec<u8>,
}

/// The two inputs of a replay.
#[derive(Default)]
pub struct Scenario {
    pub inside: Vec<Frame>,
    pub outside: Vec<Frame>,
}

fn arp_frame(op: Operation, src_mac: [u8; 6], dst_mac: [u8; 6], spa: [u8; 4], tha: [u8; 6], tpa: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0u8; 60];
    ethernet::emit_header(
        &mut f,
        EthernetAddress(dst_mac),
        EthernetAddress(src_mac),
        None,
        ethernet::ethertype::ARP,
    );
    arp::emit(
        &mut f[14..],
        op,
        EthernetAddress(src_mac),
        spa.into(),
        EthernetAddress(tha),
        tpa.into(),
    );
    f
}

/// Sets DF and TTL in a built Ethernet/IPv4 frame and fixes its checksum.
fn patch_ip(mut f: Vec<u8>, df: bool, ident: u16) -> Vec<u8> {
    let mut ip = ipv4::Packet::new_unchecked(&mut f[14..]);
    ip.set_dont_frag(df);
    ip.set_ident(ident);
    ip.fill_checksum();
    f
}

pub fn udp(src_mac: [u8; 6], dst_mac: [u8; 6], src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16, ttl: u8, payload: &[u8], df: bool) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(src_mac, dst_mac).ipv4(src, dst, ttl).udp(sp, dp);
    let mut f = Vec::new();
    b.write(&mut f, payload).unwrap();
    patch_ip(f, df, sp ^ dp)
}

fn tcp(src_mac: [u8; 6], dst_mac: [u8; 6], src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16, syn_ack: Option<u32>) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(src_mac, dst_mac)
        .ipv4(src, dst, 64)
        .tcp(sp, dp, 1000, 64240)
        .syn();
    let b = match syn_ack {
        Some(ack) => b.ack(ack),
        None => b,
    };
    let mut f = Vec::new();
    b.write(&mut f, &[]).unwrap();
    patch_ip(f, true, 7)
}

fn echo(src_mac: [u8; 6], dst_mac: [u8; 6], src: [u8; 4], dst: [u8; 4], id: u16, reply: bool) -> Vec<u8> {
    let b = PacketBuilder::ethernet2(src_mac, dst_mac).ipv4(src, dst, 64);
    let b = if reply {
        b.icmpv4_echo_reply(id, 1)
    } else {
        b.icmpv4_echo_request(id, 1)
    };
    let mut f = Vec::new();
    b.write(&mut f, b"cgnat-golden-ping").unwrap();
    patch_ip(f, false, id)
}

/// An IPv4 frame with protocol 47 (GRE), answered with protocol unreachable.
fn gre(src_mac: [u8; 6], dst_mac: [u8; 6], src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
    let mut f = vec![0u8; 14 + 20 + 8];
    ethernet::emit_header(
        &mut f,
        EthernetAddress(dst_mac),
        EthernetAddress(src_mac),
        None,
        ethernet::ethertype::IPV4,
    );
    ipv4::emit_header(&mut f[14..], src.into(), dst.into(), 47, 8, 64, 0x4747);
    f
}

/// Translates an inside frame with the predicting worker; the IPv4 packet after translation.
fn predict(w: &mut Worker<Vec<Event>>, frame: &[u8], now: u64) -> Vec<u8> {
    let mut ip = frame[14..].to_vec();
    let v = w.process(Side::Inside, &mut ip, Instant::from_micros(now));
    assert!(
        matches!(
            v,
            Verdict::Forward(_) | Verdict::Fragment { .. } | Verdict::IcmpError { .. } | Verdict::Drop(_)
        ),
        "{v:?}"
    );
    ip
}

fn src_of(ip: &[u8]) -> ([u8; 4], u16) {
    ([ip[12], ip[13], ip[14], ip[15]], u16::from_be_bytes([ip[20], ip[21]]))
}

/// The "basic" scenario: ARP, UDP/TCP/ICMP both ways, echo to own and pool
/// addresses, TTL expiry, DF too big, fragmentation, unresolved next hop,
/// protocol reject, hairpinning, out-of-order inbound fragments, an ICMP
/// error from outside (RFC 5508), unsolicited inbound drops, and expiry by
/// the sweeper after the timeouts.
pub fn basic(cfg: &NatConfig) -> Scenario {
    let nat = Arc::new(Nat::new(cfg.clone(), cfg.seed.expect("replay config pins nat.seed")).unwrap());
    let mut w = Worker::new(nat, 0, Vec::<Event>::new());
    let mut s = Scenario::default();
    let mut t = T0;
    let inside = |s: &mut Scenario, t: &mut u64, data: Vec<u8>| {
        s.inside.push(Frame { micros: *t, data });
        *t += 1000;
    };
    // ARP for the gateway address from both subscribers (cgnatd learns them).
    inside(
        &mut s,
        &mut t,
        arp_frame(Operation::Request, SUB1_MAC, [0xff; 6], SUB1, [0; 6], CGN_IN),
    );
    inside(
        &mut s,
        &mut t,
        arp_frame(Operation::Request, SUB2_MAC, [0xff; 6], SUB2, [0; 6], CGN_IN),
    );
    let to_cgn = |src_mac, src| (src_mac, CGN_IN_MAC, src);
    let (m1, c, a1) = to_cgn(SUB1_MAC, SUB1);

    let q = udp(m1, c, a1, SERVER, 40000, 53, 64, b"golden udp query", false);
    let q_out = predict(&mut w, &q, t);
    inside(&mut s, &mut t, q);
    let syn = tcp(m1, c, a1, SERVER, 40001, 80, None);
    let syn_out = predict(&mut w, &syn, t);
    inside(&mut s, &mut t, syn);
    let ping = echo(m1, c, a1, SERVER, 0x1234, false);
    let ping_out = predict(&mut w, &ping, t);
    inside(&mut s, &mut t, ping);
    // Echo to cgnatd's own inside address (answered, not translated).
    inside(&mut s, &mut t, echo(m1, c, a1, CGN_IN, 0x4321, false));
    // TTL 1: ICMP time exceeded from 100.64.0.1.
    let ttl1 = udp(m1, c, a1, SERVER, 40010, 33434, 1, b"traceroute", false);
    predict(&mut w, &ttl1, t);
    inside(&mut s, &mut t, ttl1);
    // 1450 bytes with DF over a 1400-byte outside MTU: fragmentation needed.
    let big_df = udp(m1, c, a1, SERVER, 40011, 9, 64, &[0xdf; 1422], true);
    predict(&mut w, &big_df, t);
    inside(&mut s, &mut t, big_df);
    // The same without DF: sent as two fragments.
    let big = udp(m1, c, a1, SERVER, 40002, 9, 64, &[0xaa; 1422], false);
    predict(&mut w, &big, t);
    inside(&mut s, &mut t, big);
    // To an on-link host nobody resolved yet: ARP request, held, released
    // when the ARP reply arrives (outside input below).
    let onlink = udp(m1, c, a1, HOST7, 40003, 9, 64, b"to an on-link host", false);
    predict(&mut w, &onlink, t);
    inside(&mut s, &mut t, onlink);
    // Protocol 47 with other_protocols = "reject": protocol unreachable.
    let g = gre(m1, c, a1, SERVER);
    predict(&mut w, &g, t);
    inside(&mut s, &mut t, g);
    // Hairpin: sub1 → sub2's static public endpoint 203.0.113.14:5000.
    let hp = udp(m1, c, a1, STATIC_PUB, 40004, 5000, 64, b"hairpin", false);
    predict(&mut w, &hp, t);
    inside(&mut s, &mut t, hp);
    // sub2 from its statically mapped port.
    let (m2, _, a2) = to_cgn(SUB2_MAC, SUB2);
    let s2 = udp(m2, c, a2, SERVER, 5000, 3478, 64, b"sub2 hello", false);
    predict(&mut w, &s2, t);
    inside(&mut s, &mut t, s2);
    // A frame for another MAC address (dropped).
    inside(&mut s, &mut t, udp(m1, OTHER_MAC, a1, SERVER, 40005, 53, 64, b"not for us", false));

    let mut t = T0 + 100_000;
    let outside = |s: &mut Scenario, t: &mut u64, data: Vec<u8>| {
        s.outside.push(Frame { micros: *t, data });
        *t += 1000;
    };
    let g_out = |dst: [u8; 4], sp: u16, dp: u16, payload: &[u8]| udp(GW_MAC, CGN_OUT_MAC, SERVER, dst, sp, dp, 60, payload, false);
    outside(
        &mut s,
        &mut t,
        arp_frame(Operation::Request, GW_MAC, [0xff; 6], GW, [0; 6], CGN_OUT),
    );
    outside(
        &mut s,
        &mut t,
        arp_frame(Operation::Request, GW_MAC, [0xff; 6], GW, [0; 6], [203, 0, 113, 9]),
    );
    let (pub1, port1) = src_of(&q_out);
    outside(&mut s, &mut t, g_out(pub1, 53, port1, b"golden udp answer"));
    let (pub_syn, port_syn) = src_of(&syn_out);
    outside(&mut s, &mut t, tcp(GW_MAC, CGN_OUT_MAC, SERVER, pub_syn, 80, port_syn, Some(1001)));
    let ping_id = u16::from_be_bytes([ping_out[24], ping_out[25]]);
    outside(
        &mut s,
        &mut t,
        echo(
            GW_MAC,
            CGN_OUT_MAC,
            SERVER,
            [ping_out[12], ping_out[13], ping_out[14], ping_out[15]],
            ping_id,
            true,
        ),
    );
    // Port unreachable about the translated query (RFC 5508: translated back).
    let mut err = vec![0u8; 14 + 576];
    ethernet::emit_header(
        &mut err,
        EthernetAddress(CGN_OUT_MAC),
        EthernetAddress(GW_MAC),
        None,
        ethernet::ethertype::IPV4,
    );
    let n = cgnat_core::wire::icmp::emit_error(&mut err[14..], SERVER.into(), &q_out, 3, 3, 0, 60).unwrap();
    err.truncate(14 + n);
    outside(&mut s, &mut t, err);
    // The on-link host answers cgnatd's ARP request.
    outside(
        &mut s,
        &mut t,
        arp_frame(Operation::Reply, HOST7_MAC, CGN_OUT_MAC, HOST7, CGN_OUT_MAC, CGN_OUT),
    );
    // Echo to a pool address and to cgnatd's outside address.
    outside(&mut s, &mut t, echo(GW_MAC, CGN_OUT_MAC, GW, [203, 0, 113, 3], 0x0303, false));
    outside(&mut s, &mut t, echo(GW_MAC, CGN_OUT_MAC, GW, CGN_OUT, 0x0202, false));
    // Unsolicited: a port nobody mapped, and a subscriber address.
    outside(&mut s, &mut t, g_out(pub1, 53, port1 ^ 0x11, b"unsolicited"));
    outside(&mut s, &mut t, g_out(SUB1, 53, 40000, b"to a private address"));
    // Inbound to the static mapping, fragmented, second fragment first.
    let dgram = udp(GW_MAC, CGN_OUT_MAC, SERVER, STATIC_PUB, 6000, 5000, 60, &[0x5f; 1000], false);
    let mut frags = Vec::new();
    for i in 0..2 {
        let mut f = vec![0u8; 14 + 600];
        f[..14].copy_from_slice(&dgram[..14]);
        let n = ipv4::emit_fragment(&dgram[14..], 600, i, &mut f[14..]).unwrap();
        f.truncate(14 + n);
        frags.push(f);
    }
    outside(&mut s, &mut t, frags[1].clone());
    outside(&mut s, &mut t, frags[0].clone());
    // TTL 1 towards the static mapping: time exceeded from 198.51.100.2.
    outside(
        &mut s,
        &mut t,
        udp(GW_MAC, CGN_OUT_MAC, SERVER, STATIC_PUB, 6001, 5000, 1, b"ttl", false),
    );
    // sub1 resets its TCP connection: the session becomes transitory
    // (RFC 7857 section 2.2) and can expire with the others.
    let rst = PacketBuilder::ethernet2(SUB1_MAC, CGN_IN_MAC)
        .ipv4(SUB1, SERVER, 64)
        .tcp(40001, 80, 1001, 0)
        .rst();
    let mut f = Vec::new();
    rst.write(&mut f, &[]).unwrap();
    s.inside.push(Frame {
        micros: T0 + 150_000,
        data: patch_ip(f, true, 8),
    });
    // Much later: every dynamic session has expired; the sweeper releases
    // sub1's block (reason idle) on the packet clock.
    t = T0 + 400_000_000;
    outside(
        &mut s,
        &mut t,
        arp_frame(Operation::Request, GW_MAC, [0xff; 6], GW, [0; 6], CGN_OUT),
    );
    t = T0 + 402_000_000;
    outside(
        &mut s,
        &mut t,
        arp_frame(Operation::Request, GW_MAC, [0xff; 6], GW, [0; 6], CGN_OUT),
    );
    s
}
