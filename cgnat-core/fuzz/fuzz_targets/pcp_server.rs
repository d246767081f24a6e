//! Fuzz target: the PCP server (`cgnat_core::pcp::PcpServer`) with its
//! NAT-PMP side, driving a real NAT worker, fed arbitrary datagrams.
//!
//! Input: records `[control, length, bytes...]`: control bits 0-1 pick
//! the source (two subscribers, an outside address, a trusted THIRD_PARTY
//! client), bits 2-4 advance the clock (x 40 s, so lifetimes expire),
//! bit 5 runs the server's expiry, bit 6 forgets cleared mappings after a
//! sweep; bytes are the datagram (each also wrapped in an IPv4/UDP packet
//! and read back through `PcpDatagram::from_request`).
//!
//! Invariants: nothing panics; an answer fits in `pcp::MAX_LEN`, has the R
//! bit (PCP) or the +128 opcode (NAT-PMP); a subscriber never holds more
//! mappings than the limit; each mapping's port lies in a block the pool
//! says its subscriber holds.
#![no_main]

use std::net::Ipv4Addr;
use std::sync::Arc;

use cgnat_core::pcp::{PcpDatagram, PcpLimits, PcpServer, Reply};
use cgnat_core::pool::BlockState;
use cgnat_core::sweeper::Sweeper;
use cgnat_core::wire::pcp;
use cgnat_core::{Instant, Nat, NatConfig, Worker};

const SOURCES: [Ipv4Addr; 4] = [
    Ipv4Addr::new(100, 64, 0, 1),
    Ipv4Addr::new(100, 64, 0, 2),
    Ipv4Addr::new(198, 51, 100, 9),
    Ipv4Addr::new(100, 64, 9, 9),
];
const LIMIT: u32 = 5;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let config = NatConfig {
        inside_prefixes: vec!["100.64.0.0/10".parse().unwrap()],
        pool: vec!["203.0.113.0/30".parse().unwrap()],
        block_size: 256,
        max_blocks_per_subscriber: 4,
        max_subscribers: 64,
        max_sessions: 4096,
        max_mappings: 4096,
        max_sessions_per_subscriber: 512,
        seed: Some(7),
        ..NatConfig::default()
    };
    let nat = Arc::new(Nat::new(config, 1).expect("valid fuzz config"));
    let mut w = Worker::new(nat.clone(), 0, Vec::new());
    let mut sweeper = Sweeper::new(nat.clone(), Vec::new());
    let limits = PcpLimits {
        min_lifetime: 30,
        max_lifetime: 300,
        max_mappings_per_subscriber: LIMIT,
        third_party_from: vec!["100.64.9.0/24".parse().unwrap()],
    };
    let mut now = Instant::from_secs(1_700_000_000);
    let mut server = PcpServer::new(limits, now);
    let mut out = [0u8; pcp::MAX_LEN];
    let mut rest = data;
    while let [control, len, tail @ ..] = rest {
        let n = (*len as usize).min(tail.len());
        let (bytes, next) = tail.split_at(n);
        rest = next;
        let src = SOURCES[(control & 3) as usize];
        now = now.plus_secs(u64::from((control >> 2) & 7) * 40);
        // The worker's side of the exception path reads it back the same.
        if let Some(d) = PcpDatagram::new(src, 5350, bytes) {
            let mut ip = [0u8; cgnat_core::pcp::MAX_IPV4_LEN];
            let k = d.emit_ipv4(&mut ip, src, 5350, 1).expect("room");
            let back = PcpDatagram::from_request(&ip[..k]).expect("our own packet reads back");
            assert_eq!(back.data(), bytes);
        }
        let len = match server.handle(&mut w, src, bytes, now, &mut out) {
            Reply::None => None,
            Reply::Send(l) => Some(l),
            Reply::AfterBlock { len, .. } => Some(len),
        };
        if let Some(l) = len {
            assert!(l <= pcp::MAX_LEN && l >= 4);
            if out[0] == pcp::VERSION {
                assert!(out[1] & 0x80 != 0, "a PCP answer has the R bit");
            } else {
                assert!(out[1] >= 128, "a NAT-PMP answer's opcode is the request's + 128");
            }
        }
        if control & 0x20 != 0 {
            server.expire(&mut w, now);
        }
        if control & 0x40 != 0 {
            sweeper.sweep_all(now);
            server.forget_cleared(&mut w, now);
        }
        w.sink_mut().clear();
        sweeper.sink_mut().clear();
        let mut per = std::collections::HashMap::new();
        for m in server.mappings() {
            *per.entry(m.inside).or_insert(0u32) += 1;
            let pool = nat.pool();
            let pi = pool.index_of(u32::from(m.public_addr)).expect("a pool address");
            let b = pool.block_of(pi, m.public_port).expect("a port of a block");
            assert_eq!(pool.owner_of(b).map(|(s, o)| (s, Ipv4Addr::from(o))), Some((BlockState::Allocated, m.inside)));
        }
        assert!(per.values().all(|n| *n <= LIMIT), "{per:?}");
    }
});
