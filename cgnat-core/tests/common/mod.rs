//! Shared helpers of the `translate_*` integration tests.
//!
//! Packets are built with etherparse (an implementation independent of
//! `cgnat_core::wire`) and every packet the NAT hands back is parsed again
//! with etherparse, with each checksum (IPv4 header, TCP, UDP, ICMP over the
//! whole message, and those of a packet quoted inside an ICMP error)
//! recomputed from scratch by etherparse and compared with the one on the
//! wire. A translation that forgets a checksum update therefore fails here
//! even though the NAT's own incremental code thinks it is right.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::Arc;

use cgnat_core::event::{Event, EventKind};
use cgnat_core::flow::{MappingKey, Protocol};
use cgnat_core::pool::BlockState;
use cgnat_core::{Instant, Nat, NatConfig, Side, Verdict, Worker};
use etherparse::{Icmpv4Slice, IpNumber, Ipv4Header, PacketBuilder, TcpHeader, UdpHeader};

/// The packet clock of every test starts here (a realistic epoch, so no
/// "time zero" special case is hit by accident).
pub const T0: Instant = Instant::from_secs(1_700_000_000);

/// `T0` plus `secs` seconds.
pub fn at(secs: u64) -> Instant {
    T0.plus_secs(secs)
}

/// Subscribers (RFC 6598 shared address space, the default inside prefix).
pub const SUB_A: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 10);
pub const SUB_B: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 11);
pub const SUB_C: Ipv4Addr = Ipv4Addr::new(100, 64, 1, 12);
/// Internet hosts.
pub const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
pub const SERVER2: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
pub const SERVER3: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 77);
/// A router on the path that sends ICMP errors.
pub const ROUTER: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);

pub const FIN: u8 = 0x01;
pub const SYN: u8 = 0x02;
pub const RST: u8 = 0x04;
pub const PSH: u8 = 0x08;
pub const ACK: u8 = 0x10;

/// A configuration from TOML (keys of the `[nat]` table), with a fixed seed
/// unless the TOML sets one.
///
/// The limits against hostile traffic (admission rates, the tighter caps
/// and timers of unconfirmed subscribers, the inbound budget, the fair
/// share) are switched off unless the TOML names their table: the tests of
/// other behaviours (RFC 4787 timers, filtering, limits...) then see the
/// plain behaviour they quote. `translate_hostile.rs` tests those limits
/// with their defaults.
pub fn config(toml_src: &str) -> NatConfig {
    let mut c: NatConfig = toml::from_str(toml_src).unwrap_or_else(|e| panic!("test config: {e}\n{toml_src}"));
    if c.seed.is_none() {
        c.seed = Some(0x5eed_cafe);
    }
    if !toml_src.contains("[admission]") {
        let a = &mut c.admission;
        a.subscriber_rate_per_aggregate = 0;
        a.subscriber_rate = 0;
        a.block_rate_per_aggregate = 0;
        a.block_rate = 0;
    }
    if !toml_src.contains("[unconfirmed]") {
        c.unconfirmed.max_subscribers_percent = 100;
        c.unconfirmed.max_sessions = c.max_sessions_per_subscriber;
        c.unconfirmed.max_blocks = c.max_blocks_per_subscriber;
        c.unconfirmed.timeout = 86_400;
    }
    if !toml_src.contains("[inbound]") {
        c.inbound.max_sessions_per_subscriber = cgnat_core::pool::MAX_SESSIONS_PER_MAPPING;
        c.inbound.max_sessions_per_mapping = cgnat_core::pool::MAX_SESSIONS_PER_MAPPING;
        c.inbound.timeout = 86_400;
    }
    if !toml_src.contains("[fairness]") {
        c.fairness.pressure_percent = 100;
    }
    c
}

/// A NAT built from TOML.
pub fn nat(toml_src: &str) -> Arc<Nat> {
    Arc::new(Nat::new(config(toml_src), 1).unwrap_or_else(|e| panic!("test config rejected: {e}")))
}

/// Worker 0 logging into a `Vec`.
pub fn worker(nat: &Arc<Nat>) -> Worker<Vec<Event>> {
    Worker::new(nat.clone(), 0, Vec::new())
}

fn write(builder: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut v = Vec::new();
    builder(&mut v);
    v
}

/// IPv4/UDP, TTL 64, DF set (etherparse's default), correct checksums.
pub fn udp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, payload: &[u8]) -> Vec<u8> {
    write(|v| {
        PacketBuilder::ipv4(src.octets(), dst.octets(), 64)
            .udp(sport, dport)
            .write(v, payload)
            .unwrap()
    })
}

/// IPv4/TCP with the given flags (FIN/SYN/RST/PSH/ACK bits), TTL 64.
pub fn tcp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = TcpHeader::new(sport, dport, 0x0102_0304, 64_240);
    h.fin = flags & FIN != 0;
    h.syn = flags & SYN != 0;
    h.rst = flags & RST != 0;
    h.psh = flags & PSH != 0;
    if flags & ACK != 0 {
        h.ack = true;
        h.acknowledgment_number = 0x0a0b_0c0d;
    }
    write(|v| {
        PacketBuilder::ipv4(src.octets(), dst.octets(), 64)
            .tcp_header(h)
            .write(v, payload)
            .unwrap()
    })
}

/// ICMP echo request.
pub fn echo_request(src: Ipv4Addr, dst: Ipv4Addr, id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    write(|v| {
        PacketBuilder::ipv4(src.octets(), dst.octets(), 64)
            .icmpv4_echo_request(id, seq)
            .write(v, payload)
            .unwrap()
    })
}

/// ICMP echo reply.
pub fn echo_reply(src: Ipv4Addr, dst: Ipv4Addr, id: u16, seq: u16, payload: &[u8]) -> Vec<u8> {
    write(|v| {
        PacketBuilder::ipv4(src.octets(), dst.octets(), 64)
            .icmpv4_echo_reply(id, seq)
            .write(v, payload)
            .unwrap()
    })
}

/// An ICMP error (`icmp_type`/`code`, bytes 5-8 zero) from `src` to `dst`
/// quoting `quoted` (an IPv4 packet, quoted in full).
pub fn icmp_error(src: Ipv4Addr, dst: Ipv4Addr, icmp_type: u8, code: u8, quoted: &[u8]) -> Vec<u8> {
    write(|v| {
        PacketBuilder::ipv4(src.octets(), dst.octets(), 64)
            .icmpv4_raw(icmp_type, code, [0; 4])
            .write(v, quoted)
            .unwrap()
    })
}

/// A raw IPv4 packet of any protocol number with `payload`.
pub fn raw_ip(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, payload: &[u8]) -> Vec<u8> {
    let mut h = Ipv4Header::new(payload.len() as u16, 64, IpNumber(protocol), src.octets(), dst.octets()).unwrap();
    h.header_checksum = h.calc_header_checksum();
    let mut v = h.to_bytes().to_vec();
    v.extend_from_slice(payload);
    v
}

/// Rewrites IPv4 header fields of `pkt` with `f` and refills the header
/// checksum (etherparse).
pub fn edit_ip(pkt: &mut [u8], f: impl FnOnce(&mut Ipv4Header)) {
    let (mut h, _) = Ipv4Header::from_slice(pkt).unwrap();
    f(&mut h);
    h.header_checksum = h.calc_header_checksum();
    let b = h.to_bytes();
    pkt[..b.len()].copy_from_slice(&b);
}

/// Sets the TTL (checksum refilled).
pub fn with_ttl(mut pkt: Vec<u8>, ttl: u8) -> Vec<u8> {
    edit_ip(&mut pkt, |h| h.time_to_live = ttl);
    pkt
}

/// Sets or clears DF (checksum refilled).
pub fn with_df(mut pkt: Vec<u8>, df: bool) -> Vec<u8> {
    edit_ip(&mut pkt, |h| h.dont_fragment = df);
    pkt
}

/// Splits an unfragmented IPv4 datagram into fragments carrying the
/// payload byte ranges `cuts` (each a multiple of 8 but the last), with
/// etherparse computing every header.
pub fn fragments(datagram: &[u8], cuts: &[usize]) -> Vec<Vec<u8>> {
    let (h, rest) = Ipv4Header::from_slice(datagram).unwrap();
    let payload = &rest[..h.total_len as usize - h.header_len()];
    let mut out = Vec::new();
    let mut start = 0;
    for (i, &end) in cuts.iter().chain(std::iter::once(&payload.len())).enumerate() {
        assert!(i == cuts.len() || (end - start) % 8 == 0 || end == payload.len());
        let mut f = h.clone();
        f.dont_fragment = false;
        f.more_fragments = end < payload.len();
        f.fragment_offset = etherparse::IpFragOffset::try_new((start / 8) as u16).unwrap();
        f.total_len = (f.header_len() + end - start) as u16;
        f.header_checksum = f.calc_header_checksum();
        let mut v = f.to_bytes().to_vec();
        v.extend_from_slice(&payload[start..end]);
        out.push(v);
        start = end;
    }
    out
}

/// What etherparse sees in a packet (after every checksum was verified).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: u8,
    pub ttl: u8,
    pub ident: u16,
    pub dont_frag: bool,
    pub more_frags: bool,
    /// In bytes.
    pub frag_offset: usize,
    /// TCP/UDP ports; ICMP echo: the identifier as both.
    pub sport: u16,
    pub dport: u16,
    pub tcp_flags: u8,
    /// UDP checksum as transmitted (0 = none).
    pub udp_checksum: u16,
    pub icmp_type: u8,
    pub icmp_code: u8,
    pub icmp_seq: u16,
    /// ICMP bytes 5-8 (next-hop MTU of frag-needed in the low half).
    pub icmp_rest: [u8; 4],
    /// Transport payload (or, for fragments, the IP payload).
    pub payload: Vec<u8>,
    /// The packet quoted in an ICMP error.
    pub quoted: Option<Box<View>>,
}

/// Parses `pkt` (an IPv4 packet; bytes past Total Length ignored) with
/// etherparse and verifies every checksum; panics with a description on
/// any mismatch.
pub fn parse(pkt: &[u8]) -> View {
    parse_inner(pkt, false)
}

fn parse_inner(pkt: &[u8], embedded: bool) -> View {
    let (ip, _) = Ipv4Header::from_slice(pkt).unwrap_or_else(|e| panic!("etherparse rejects the IPv4 header: {e:?}"));
    assert_eq!(
        ip.header_checksum,
        ip.calc_header_checksum(),
        "IPv4 header checksum (embedded: {embedded}) of {pkt:02x?}"
    );
    let hl = ip.header_len();
    let end = if embedded {
        pkt.len()
    } else {
        assert!(ip.total_len as usize <= pkt.len(), "total length beyond the buffer");
        ip.total_len as usize
    };
    // A quoted datagram is complete when the whole of it was quoted.
    let complete = ip.total_len as usize <= pkt.len();
    let l4 = &pkt[hl..end];
    let mut v = View {
        src: Ipv4Addr::from(ip.source),
        dst: Ipv4Addr::from(ip.destination),
        protocol: ip.protocol.0,
        ttl: ip.time_to_live,
        ident: ip.identification,
        dont_frag: ip.dont_fragment,
        more_frags: ip.more_fragments,
        frag_offset: ip.fragment_offset.value() as usize * 8,
        sport: 0,
        dport: 0,
        tcp_flags: 0,
        udp_checksum: 0,
        icmp_type: 0,
        icmp_code: 0,
        icmp_seq: 0,
        icmp_rest: [0; 4],
        payload: l4.to_vec(),
        quoted: None,
    };
    if ip.is_fragmenting_payload() {
        return v;
    }
    match ip.protocol {
        IpNumber::UDP => {
            let (u, rest) = UdpHeader::from_slice(l4).unwrap_or_else(|e| panic!("UDP header: {e:?}"));
            v.sport = u.source_port;
            v.dport = u.destination_port;
            v.udp_checksum = u.checksum;
            let data_len = (u.length as usize).saturating_sub(8);
            if complete {
                assert_eq!(u.length as usize, l4.len(), "UDP length");
                v.payload = rest[..data_len].to_vec();
                if u.checksum != 0 {
                    let want = u.calc_checksum_ipv4(&ip, &rest[..data_len]).unwrap();
                    assert_eq!(u.checksum, want, "UDP checksum (embedded: {embedded})");
                }
            } else {
                v.payload = rest.to_vec();
            }
        }
        IpNumber::TCP => {
            if !complete && l4.len() < 20 {
                v.sport = u16::from_be_bytes([l4[0], l4[1]]);
                v.dport = u16::from_be_bytes([l4[2], l4[3]]);
                return v;
            }
            let (t, rest) = TcpHeader::from_slice(l4).unwrap_or_else(|e| panic!("TCP header: {e:?}"));
            v.sport = t.source_port;
            v.dport = t.destination_port;
            v.tcp_flags = (t.fin as u8) | (t.syn as u8) << 1 | (t.rst as u8) << 2 | (t.psh as u8) << 3 | (t.ack as u8) << 4;
            v.payload = rest.to_vec();
            if complete {
                let want = t.calc_checksum_ipv4(&ip, rest).unwrap();
                assert_eq!(t.checksum, want, "TCP checksum (embedded: {embedded})");
            }
        }
        IpNumber::ICMP => {
            let s = Icmpv4Slice::from_slice(l4).unwrap_or_else(|e| panic!("ICMP: {e:?}"));
            v.icmp_type = s.type_u8();
            v.icmp_code = s.code_u8();
            v.icmp_rest = s.bytes5to8();
            v.payload = s.payload().to_vec();
            if complete {
                let want = s.icmp_type().calc_checksum(s.payload());
                assert_eq!(s.checksum(), want, "ICMP checksum (embedded: {embedded}) over {} bytes", l4.len());
            }
            match v.icmp_type {
                0 | 8 => {
                    v.sport = u16::from_be_bytes([v.icmp_rest[0], v.icmp_rest[1]]);
                    v.dport = v.sport;
                    v.icmp_seq = u16::from_be_bytes([v.icmp_rest[2], v.icmp_rest[3]]);
                }
                3 | 11 | 12 if !embedded => {
                    v.quoted = Some(Box::new(parse_inner(s.payload(), true)));
                }
                _ => {}
            }
        }
        _ => {}
    }
    v
}

/// Processes `pkt` and expects it forwarded out of `side`; returns the
/// verified view of the translated packet.
#[track_caller]
pub fn expect_forward<E: cgnat_core::EventSink>(w: &mut Worker<E>, from: Side, pkt: &mut [u8], now: Instant, to: Side) -> View {
    let v = w.process(from, pkt, now);
    assert_eq!(v, Verdict::Forward(to), "verdict for a packet from {from:?}");
    parse(pkt)
}

/// Sends `pkt` from the inside and expects it out of the outside port.
#[track_caller]
pub fn out<E: cgnat_core::EventSink>(w: &mut Worker<E>, mut pkt: Vec<u8>, now: Instant) -> View {
    expect_forward(w, Side::Inside, &mut pkt, now, Side::Outside)
}

/// Sends `pkt` from the outside and expects it out of the inside port.
#[track_caller]
pub fn inb<E: cgnat_core::EventSink>(w: &mut Worker<E>, mut pkt: Vec<u8>, now: Instant) -> View {
    expect_forward(w, Side::Outside, &mut pkt, now, Side::Inside)
}

/// The verdict of one packet (the bytes are processed on a copy).
pub fn verdict<E: cgnat_core::EventSink>(w: &mut Worker<E>, side: Side, pkt: &[u8], now: Instant) -> Verdict {
    let mut p = pkt.to_vec();
    w.process(side, &mut p, now)
}

/// Events of one kind.
pub fn of_kind(events: &[Event], kind: EventKind) -> Vec<Event> {
    events.iter().filter(|e| e.kind == kind).copied().collect()
}

/// Number of live sessions found by walking the table.
pub fn live_sessions(nat: &Nat) -> Vec<cgnat_core::table::session::SessionEntry> {
    (0..nat.sessions().slots() as u32)
        .filter_map(|i| nat.sessions().entry(i))
        .filter(|e| !e.value.dying())
        .collect()
}

/// The cross-table invariants of a quiescent NAT (no worker running):
///
/// - every live session's public port holds a live mapping record for the
///   session's inside port, counting exactly the sessions that use it
///   (plus one for a static mapping), and the inside-side mapping index
///   points at the same public port;
/// - `sessions().len()` equals the live entries;
/// - no two different inside endpoints share a public (address, port,
///   protocol) (RFC 4787 REQ-3);
/// - every subscriber's session counts (own and inbound-created) equal its
///   live sessions of each kind;
/// - every allocated block is owned by a live subscriber that lists it,
///   and its mapping count equals its mapped ports.
pub fn check_invariants(nat: &Nat) {
    let sessions = live_sessions(nat);
    assert_eq!(nat.sessions().len() as usize, sessions.len(), "session count vs live entries");
    let statics: HashSet<(Protocol, Ipv4Addr, u16)> = nat
        .config()
        .static_mappings
        .iter()
        .map(|m| {
            let p = match m.protocol {
                cgnat_core::config::StaticProtocol::Tcp => Protocol::Tcp,
                cgnat_core::config::StaticProtocol::Udp => Protocol::Udp,
            };
            (p, m.public_addr, m.public_port)
        })
        .collect();
    let pool = nat.pool();
    let mut owners: HashMap<(Protocol, u32, u16), (u32, u16)> = HashMap::new();
    let mut users: HashMap<(Protocol, u32, u16), u64> = HashMap::new();
    let mut per_sub: HashMap<u32, u32> = HashMap::new();
    for e in &sessions {
        let port = e.value.public_port();
        let k = (e.key.protocol, e.pool_index, port);
        let inside = (e.key.inside_addr, e.key.inside_port);
        if let Some(prev) = owners.insert(k, inside) {
            assert_eq!(prev, inside, "RFC 4787 REQ-3: public {k:?} shared by two inside endpoints");
        }
        *users.entry(k).or_default() += 1;
        *per_sub.entry(e.key.inside_addr).or_default() += 1;
        let block = pool.block_of(e.pool_index, port).expect("public port inside a block");
        let m = pool.port(e.key.protocol, block, port).mapping();
        assert_eq!(m.map(|m| m.0), Some(e.key.inside_port), "port record of session {e:?}");
        let mk = MappingKey {
            protocol: e.key.protocol,
            inside_addr: e.key.inside_addr,
            inside_port: e.key.inside_port,
        };
        let idx = nat
            .mappings()
            .find(&mk)
            .unwrap_or_else(|| panic!("no mapping index entry for {e:?}"));
        assert_eq!((idx.pool_index, idx.public_port), (e.pool_index, port), "mapping index of {e:?}");
    }
    for (k @ (proto, pi, port), n) in &users {
        let block = pool.block_of(*pi, *port).unwrap();
        let entry = pool.port(*proto, block, *port);
        let (_, count) = entry.mapping().unwrap();
        // A static mapping and a PCP hold each count one reference.
        let extra = statics.contains(&(*proto, Ipv4Addr::from(pool.addr_of(*pi)), *port)) as u64 + entry.is_pcp() as u64;
        assert_eq!(u64::from(count), n + extra, "sessions counted on the mapping record {k:?}");
    }
    for i in 0..nat.subscribers().slots() as u32 {
        if let Some(s) = nat.subscribers().entry(i) {
            assert_eq!(
                s.sessions + s.inbound_sessions,
                per_sub.get(&s.addr).copied().unwrap_or(0),
                "session count (own + inbound-created) of subscriber {}",
                Ipv4Addr::from(s.addr)
            );
            let inbound = sessions.iter().filter(|e| e.key.inside_addr == s.addr && e.value.inbound()).count() as u32;
            assert_eq!(
                s.inbound_sessions,
                inbound,
                "inbound-created sessions of {}",
                Ipv4Addr::from(s.addr)
            );
        }
    }
    for b in 0..pool.block_count() {
        let info = pool.block_info(b);
        assert_ne!(info.state, BlockState::Transit, "block {b} left in transit");
        if info.state != BlockState::Allocated {
            continue;
        }
        let sub = nat
            .subscribers()
            .entry(info.owner_slot)
            .unwrap_or_else(|| panic!("block {b} owned by a dead subscriber slot"));
        assert_eq!(Ipv4Addr::from(sub.addr), info.owner_addr, "owner of block {b}");
        assert!(
            nat.subscribers().blocks(info.owner_slot).any(|x| x == b),
            "subscriber {} does not list its block {b}",
            info.owner_addr
        );
        let mapped = (info.first_port..=info.last_port)
            .flat_map(|p| Protocol::ALL.map(move |pr| (pr, p)))
            .filter(|(pr, p)| pool.port(*pr, b, *p).mapping().is_some())
            .count();
        assert_eq!(info.mappings as usize, mapped, "mapping count of block {b}");
    }
}
