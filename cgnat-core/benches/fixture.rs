//! Shared setup for the benchmarks: a NAT filled with a given number of
//! live sessions, and 64-byte-frame UDP packets for them.

#![allow(dead_code)]

use std::net::Ipv4Addr;
use std::sync::Arc;

use cgnat_core::event::Event;
use cgnat_core::wire::{checksum, ipv4, udp};
use cgnat_core::{Instant, Nat, NatConfig, Side, Verdict, Worker};

/// IPv4 packet length of a 64-byte Ethernet frame (14 + 46 + 4 FCS).
pub const PACKET_LEN: usize = 46;

/// A UDP packet with valid checksums.
pub fn udp_packet(src: u32, sport: u16, dst: u32, dport: u16) -> [u8; PACKET_LEN] {
    let mut b = [0u8; PACKET_LEN];
    let payload = (PACKET_LEN - 28) as u16;
    ipv4::emit_header(&mut b, Ipv4Addr::from(src), Ipv4Addr::from(dst), 17, payload + 8, 64, 1);
    udp::emit_header(&mut b[20..], sport, dport, payload);
    for (i, x) in b[28..].iter_mut().enumerate() {
        *x = i as u8;
    }
    let mut u = udp::Packet::new_unchecked(&mut b[20..]);
    u.fill_checksum(Ipv4Addr::from(src), Ipv4Addr::from(dst));
    let _ = checksum::sum(&[]);
    b
}

/// A NAT whose tables hold `subscribers * flows` sessions, the worker that
/// created them, and for every flow its outbound packet and the inbound
/// reply to its public endpoint.
pub struct Filled {
    pub nat: Arc<Nat>,
    pub worker: Worker<Vec<Event>>,
    pub outbound: Vec<[u8; PACKET_LEN]>,
    pub inbound: Vec<[u8; PACKET_LEN]>,
}

/// The configuration used: a /16 of subscribers on a /22 pool.
pub fn config(max_sessions: u32) -> NatConfig {
    toml::from_str(&format!(
        "inside_prefixes = [\"100.64.0.0/16\"]\npool = [\"198.18.0.0/22\"]\nblock_size = 512\n\
         max_blocks_per_subscriber = 8\nmax_sessions_per_subscriber = 4096\nmax_subscribers = 70000\n\
         max_sessions = {max_sessions}\nmax_mappings = {max_sessions}\nseed = 1\n"
    ))
    .expect("bench config")
}

pub fn fill(subscribers: u32, flows: u32) -> Filled {
    let total = subscribers * flows;
    let nat = Arc::new(Nat::new(config(total + total / 64 + 1024), 1).expect("valid"));
    let mut worker = Worker::new(nat.clone(), 0, Vec::new());
    let now = Instant::from_secs(1_700_000_000);
    let mut outbound = Vec::with_capacity(total as usize);
    let mut inbound = Vec::with_capacity(total as usize);
    for s in 0..subscribers {
        let src = u32::from(Ipv4Addr::new(100, 64, 0, 0)) + s;
        for f in 0..flows {
            let sport = 10_000 + f as u16;
            let dst = u32::from(Ipv4Addr::new(8, 8, 0, 0)) + (s.wrapping_mul(7919) + f) % 65_536;
            let pkt = udp_packet(src, sport, dst, 443);
            let mut p = pkt;
            let v = worker.process(Side::Inside, &mut p, now);
            assert_eq!(v, Verdict::Forward(Side::Outside), "setup flow {s}/{f}");
            let ip = ipv4::Packet::new_unchecked(&p[..]);
            let public = ip.src_addr_u32();
            let pport = u16::from_be_bytes([p[20], p[21]]);
            outbound.push(pkt);
            inbound.push(udp_packet(dst, 443, public, pport));
        }
        worker.sink_mut().clear();
    }
    Filled {
        nat,
        worker,
        outbound,
        inbound,
    }
}

/// A fixed pseudo-random visiting order, so consecutive packets hit
/// unrelated cache lines as on a real link.
pub fn shuffled(n: usize) -> Vec<u32> {
    let mut v: Vec<u32> = (0..n as u32).collect();
    let mut s = 0x1234_5678_9abc_def0u64;
    for i in (1..n).rev() {
        let j = (cgnat_core::table::hash::splitmix64(&mut s) % (i as u64 + 1)) as usize;
        v.swap(i, j);
    }
    v
}

/// Resident set size of this process, bytes.
pub fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = s.split_whitespace().nth(1).and_then(|x| x.parse().ok()).unwrap_or(0);
    pages * 4096
}
