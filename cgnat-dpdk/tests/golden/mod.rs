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

/// `frame` (untagged Ethernet) with an 802.1Q tag of VLAN `vid` inserted.
pub fn tag(mut frame: Vec<u8>, vid: u16) -> Vec<u8> {
    let tci = vid.to_be_bytes();
    frame.splice(12..12, [0x81, 0x00, tci[0], tci[1]]);
    frame
}

/// The `n`-th of the fragments of at most `mtu` bytes of the untagged
/// Ethernet/IPv4 frame `dgram`.
fn fragment_of(dgram: &[u8], mtu: usize, n: usize) -> Vec<u8> {
    let mut f = vec![0u8; 14 + mtu];
    f[..14].copy_from_slice(&dgram[..14]);
    let len = ipv4::emit_fragment(&dgram[14..], mtu, n, &mut f[14..]).unwrap();
    f.truncate(14 + len);
    f
}

/// Pushes frames onto one input, 1 ms apart unless moved with `at`.
struct Feed<'a> {
    frames: &'a mut Vec<Frame>,
    t: u64,
}

impl Feed<'_> {
    fn at(&mut self, micros_after_t0: u64) -> &mut Self {
        self.t = T0 + micros_after_t0;
        self
    }

    fn push(&mut self, data: Vec<u8>) -> &mut Self {
        self.frames.push(Frame { micros: self.t, data });
        self.t += 1000;
        self
    }
}

/// The "vlan" scenario (`vlan.toml`: inside VLAN 100, outside VLAN 200):
/// tagged ARP, UDP both ways, echo to cgnatd, TTL expiry, fragmentation,
/// an unresolved on-link next hop, out-of-order inbound fragments; all
/// output tagged with the port's VLAN. Frames with another VLAN id, or
/// untagged, are dropped (`vlan_mismatch`).
pub fn vlan(cfg: &NatConfig) -> Scenario {
    const IN: u16 = 100;
    const OUT: u16 = 200;
    let nat = Arc::new(Nat::new(cfg.clone(), cfg.seed.expect("replay config pins nat.seed")).unwrap());
    let mut w = Worker::new(nat, 0, Vec::<Event>::new());
    let mut s = Scenario::default();
    let (m1, c, a1) = (SUB1_MAC, CGN_IN_MAC, SUB1);
    let mut inside = Feed {
        frames: &mut s.inside,
        t: T0,
    };
    inside.push(tag(arp_frame(Operation::Request, SUB1_MAC, [0xff; 6], SUB1, [0; 6], CGN_IN), IN));
    inside.push(tag(arp_frame(Operation::Request, SUB2_MAC, [0xff; 6], SUB2, [0; 6], CGN_IN), IN));
    let q = udp(m1, c, a1, SERVER, 40000, 53, 64, b"tagged udp query", false);
    let q_out = predict(&mut w, &q, inside.t);
    inside.push(tag(q, IN));
    inside.push(tag(echo(m1, c, a1, CGN_IN, 0x4321, false), IN));
    let ttl1 = udp(m1, c, a1, SERVER, 40010, 33434, 1, b"traceroute", false);
    predict(&mut w, &ttl1, inside.t);
    inside.push(tag(ttl1, IN));
    let big = udp(m1, c, a1, SERVER, 40002, 9, 64, &[0xaa; 1422], false);
    predict(&mut w, &big, inside.t);
    inside.push(tag(big, IN));
    let onlink = udp(m1, c, a1, HOST7, 40003, 9, 64, b"to an on-link host", false);
    predict(&mut w, &onlink, inside.t);
    inside.push(tag(onlink, IN));
    // Dropped (vlan_mismatch): another VLAN (IPv4 and ARP), and untagged.
    inside.push(tag(udp(m1, c, a1, SERVER, 40020, 53, 64, b"vlan 101", false), 101));
    inside.push(tag(arp_frame(Operation::Request, SUB1_MAC, [0xff; 6], SUB1, [0; 6], CGN_IN), 101));
    inside.push(udp(m1, c, a1, SERVER, 40021, 53, 64, b"untagged", false));

    let mut outside = Feed {
        frames: &mut s.outside,
        t: T0 + 100_000,
    };
    outside.push(tag(arp_frame(Operation::Request, GW_MAC, [0xff; 6], GW, [0; 6], CGN_OUT), OUT));
    let (pub1, port1) = src_of(&q_out);
    outside.push(tag(
        udp(GW_MAC, CGN_OUT_MAC, SERVER, pub1, 53, port1, 60, b"tagged udp answer", false),
        OUT,
    ));
    outside.push(tag(
        arp_frame(Operation::Reply, HOST7_MAC, CGN_OUT_MAC, HOST7, CGN_OUT_MAC, CGN_OUT),
        OUT,
    ));
    // Inbound to the static mapping, fragmented, second fragment first:
    // held with its 18-byte header, then translated and re-tagged.
    let dgram = udp(GW_MAC, CGN_OUT_MAC, SERVER, STATIC_PUB, 6000, 5000, 60, &[0x5f; 1000], false);
    outside.push(tag(fragment_of(&dgram, 600, 1), OUT));
    outside.push(tag(fragment_of(&dgram, 600, 0), OUT));
    // Dropped: the inside VLAN on the outside port.
    outside.push(tag(udp(GW_MAC, CGN_OUT_MAC, SERVER, pub1, 53, port1, 60, b"wrong vlan", false), IN));
    s
}

/// The "local" scenario (`local.toml`: 2 ICMP errors per second): packets
/// for cgnatd's own interface addresses. UDP is answered with ICMP port
/// unreachable from the address it was sent to, TCP is dropped silently
/// (both `local_refused`); other ICMP and fragments are dropped
/// (`local_dropped`); echo is answered; the third error within a few
/// milliseconds is rate-limited (RFC 1812 section 4.3.2.8). From the
/// outside, the inside address (subscriber space) is not cgnatd's: the NAT
/// drops such packets (`not_for_pool`), nothing answers.
pub fn local(_cfg: &NatConfig) -> Scenario {
    let mut s = Scenario::default();
    let (m1, c, a1) = (SUB1_MAC, CGN_IN_MAC, SUB1);
    let mut inside = Feed {
        frames: &mut s.inside,
        t: T0,
    };
    inside.push(arp_frame(Operation::Request, SUB1_MAC, [0xff; 6], SUB1, [0; 6], CGN_IN));
    inside.push(udp(m1, c, a1, CGN_IN, 40000, 53, 64, b"dns to cgnatd", false));
    inside.push(tcp(m1, c, a1, CGN_IN, 40001, 22, None));
    inside.push(udp(m1, c, a1, CGN_OUT, 40002, 161, 64, b"snmp to the outside address", false));
    inside.push(udp(m1, c, a1, CGN_IN, 40003, 123, 64, b"rate-limited", false));
    // ICMP timestamp request (type 13): not answered.
    let mut ts = echo(m1, c, a1, CGN_IN, 0x1313, false);
    let ip_len = ts.len() - 14;
    let mut msg = cgnat_core::wire::icmp::Packet::new_unchecked(&mut ts[34..14 + ip_len]);
    msg.set_msg_type(13);
    msg.fill_checksum();
    inside.push(ts);
    // A UDP fragment for cgnatd (no reassembly): dropped.
    let big = udp(m1, c, a1, CGN_IN, 40004, 53, 64, &[0x11; 1200], false);
    inside.push(fragment_of(&big, 600, 0));
    inside.push(echo(m1, c, a1, CGN_IN, 0x4321, false));

    let mut outside = Feed {
        frames: &mut s.outside,
        t: T0 + 100_000,
    };
    outside.push(arp_frame(Operation::Request, GW_MAC, [0xff; 6], GW, [0; 6], CGN_OUT));
    outside.at(1_000_000);
    outside.push(udp(GW_MAC, CGN_OUT_MAC, SERVER, CGN_OUT, 5353, 53, 60, b"dns to cgnatd", false));
    outside.push(tcp(GW_MAC, CGN_OUT_MAC, SERVER, CGN_OUT, 40179, 179, None));
    outside.push(udp(
        GW_MAC,
        CGN_OUT_MAC,
        SERVER,
        CGN_IN,
        5354,
        53,
        60,
        b"to the inside address",
        false,
    ));
    s
}

/// The "neighbour" scenario (`neighbour.toml`: the gateway is resolved by
/// ARP; reachable 300 s, retry 500 ms, 3 probes): the gateway is resolved
/// (packet held until the reply); once stale, its next use sends a unicast
/// probe while still using its MAC (answered: reachable again; the
/// subscriber is probed the same way on the inside); later the probes go
/// unanswered, the entry is removed and resolved again by broadcast, and a
/// new router answers (failover); a gratuitous ARP and an unsolicited reply
/// move it again; finally the gateway disappears: probes, removal,
/// broadcast requests, held packets dropped (`unresolved_dropped`).
pub fn neighbour(cfg: &NatConfig) -> Scenario {
    const S: u64 = 1_000_000;
    const MS: u64 = 1000;
    const GW2_MAC: [u8; 6] = [2, 0, 0, 0, 2, 2];
    const GW3_MAC: [u8; 6] = [2, 0, 0, 0, 2, 3];
    let nat = Arc::new(Nat::new(cfg.clone(), cfg.seed.expect("replay config pins nat.seed")).unwrap());
    let mut w = Worker::new(nat, 0, Vec::<Event>::new());
    let mut s = Scenario::default();
    let q = |n: u32| {
        let payload = format!("query {n}");
        udp(SUB1_MAC, CGN_IN_MAC, SUB1, SERVER, 40000, 53, 64, payload.as_bytes(), false)
    };
    let mut inside = Vec::new();
    let mut outside = Vec::new();
    let at = |v: &mut Vec<Frame>, t: u64, data: Vec<u8>| v.push(Frame { micros: T0 + t, data });

    at(
        &mut inside,
        0,
        arp_frame(Operation::Request, SUB1_MAC, [0xff; 6], SUB1, [0; 6], CGN_IN),
    );
    // The gateway is unknown: broadcast request, the query is held until
    // the reply at 100 ms.
    let first = q(1);
    let q_out = predict(&mut w, &first, T0 + MS);
    at(&mut inside, MS, first);
    let gw_reply = |mac: [u8; 6]| arp_frame(Operation::Reply, mac, CGN_OUT_MAC, GW, CGN_OUT_MAC, CGN_OUT);
    at(&mut outside, 100 * MS, gw_reply(GW_MAC));
    // Reachable (confirmed at 100 ms): straight to the gateway. The
    // queries every 100 s also keep the UDP mapping alive.
    for (n, t) in [(2, 200 * MS), (3, 100 * S), (4, 200 * S)] {
        at(&mut inside, t, q(n));
    }
    // 300.2 s: stale since 300.1 s: sent to the known MAC plus a unicast
    // probe; the answer to the subscriber probes the subscriber (stale
    // since 300 s) the same way; both answer.
    at(&mut inside, 300 * S + 200 * MS, q(5));
    let (pub1, port1) = src_of(&q_out);
    at(
        &mut outside,
        300 * S + 300 * MS,
        udp(GW_MAC, CGN_OUT_MAC, SERVER, pub1, 53, port1, 60, b"answer", false),
    );
    at(&mut outside, 300 * S + 400 * MS, gw_reply(GW_MAC));
    at(
        &mut inside,
        300 * S + 500 * MS,
        arp_frame(Operation::Reply, SUB1_MAC, CGN_IN_MAC, SUB1, CGN_IN_MAC, CGN_IN),
    );
    // Reachable again until 600.4 s: no probe.
    for (n, t) in [(6, 300 * S + 600 * MS), (7, 400 * S), (8, 500 * S), (9, 600 * S)] {
        at(&mut inside, t, q(n));
    }
    // 700 s: stale; the old router is gone: probes at 700, 700.5 and
    // 701 s go unanswered (the queries still go to its MAC), at 701.5 s
    // the entry is removed: broadcast request, the query is held, and the
    // new router's reply releases it.
    for (n, t) in [(10, 700 * S), (11, 700 * S + 500 * MS), (12, 701 * S), (13, 701 * S + 200 * MS)] {
        at(&mut inside, t, q(n));
    }
    at(&mut inside, 701 * S + 500 * MS, q(14));
    at(&mut outside, 701 * S + 600 * MS, gw_reply(GW2_MAC));
    at(&mut inside, 701 * S + 700 * MS, q(15));
    // A gratuitous ARP (request for its own address) moves the gateway to
    // another MAC address; an unsolicited broadcast reply moves it back.
    at(
        &mut outside,
        710 * S,
        arp_frame(Operation::Request, GW3_MAC, [0xff; 6], GW, [0; 6], GW),
    );
    at(&mut inside, 710 * S + 100 * MS, q(16));
    at(
        &mut outside,
        720 * S,
        arp_frame(Operation::Reply, GW_MAC, [0xff; 6], GW, [0xff; 6], GW),
    );
    at(&mut inside, 720 * S + 100 * MS, q(17));
    for (n, t) in [(18, 800 * S), (19, 900 * S), (20, 1000 * S)] {
        at(&mut inside, t, q(n));
    }
    // 1030 s: stale (confirmed at 720 s) and gone for good: three probes,
    // removal at 1031.5 s, broadcast requests every 500 ms while queries
    // keep coming; each held query is dropped after arp_hold_ms (1 s), the
    // rest when the replay ends.
    for (n, t) in [
        (21, 1030 * S),
        (22, 1030 * S + 500 * MS),
        (23, 1031 * S),
        (24, 1031 * S + 500 * MS),
        (25, 1032 * S),
        (26, 1032 * S + 600 * MS),
    ] {
        at(&mut inside, t, q(n));
    }
    s.inside = inside;
    s.outside = outside;
    s
}
