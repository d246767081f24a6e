//! The HA sync link's bandwidth for a rate of new sessions (issue 13,
//! BENCHMARKS.md): two real `HaNode`s on loopback UDP sockets (127.0.0.31
//! and 127.0.0.32), the active fed `RATE` new sessions per second for ten
//! seconds of a simulated management clock ticking every `TICK_US`
//! (cgnatd's busy tick is 1 ms, its idle tick 2 ms), the standby
//! acknowledging. Prints the bytes each way per second, with and without
//! the 42 bytes of Ethernet, IPv4 and UDP headers per datagram, and the
//! standby's mirror at the end (it must hold every session).
//!
//! `cargo run --release -p cgnat-dpdk --example ha_sync_bandwidth -- [RATE...] [--tick-us N]`
//! (default rates 1000 10000 100000, tick 1000 µs). The periodic restating
//! of every session (`ha.refresh_secs`) adds sessions × 32 bytes per
//! refresh period on top (in datagrams of up to 32 records).

use std::net::Ipv4Addr;

use cgnat_core::config::{HaConfig, Timeouts};
use cgnat_core::wire::ha::{Record, SessionRecord};
use cgnat_core::Instant;
use cgnat_dpdk::daemon::management::ha::HaNode;

const SECONDS: u64 = 10;
const L2_L3_L4: u64 = 14 + 20 + 8;

fn node(me: u8, peer: u8, priority: u8, port: u16) -> HaNode {
    let cfg = HaConfig {
        enabled: true,
        local_address: Ipv4Addr::new(127, 0, 0, me),
        peer_address: Ipv4Addr::new(127, 0, 0, peer),
        sync_port: port,
        priority,
        ..HaConfig::default()
    };
    HaNode::bind(&cfg, u64::from(me), &Timeouts::default(), Instant::from_micros(0)).expect("bind a loopback address")
}

fn session(i: u64) -> SessionRecord {
    SessionRecord {
        protocol: 17,
        state: 0,
        flags: 0,
        subscriber: Ipv4Addr::from(0x6440_0000 + (i / 16) as u32),
        inside_port: 10_000 + (i % 16) as u16,
        public: Ipv4Addr::new(203, 0, 113, (i % 200) as u8),
        public_port: 1024 + (i % 60_000) as u16,
        remote: Ipv4Addr::from(0x0808_0000 + (i % 65_536) as u32),
        remote_port: 443,
        last_seen_us: i,
    }
}

fn run(rate: u64, tick_us: u64, port: u16) {
    let mut a = node(31, 32, 200, port);
    let mut b = node(32, 31, 100, port);
    let (mut wa, mut wb) = (Vec::new(), Vec::new());
    let (mut sa, mut sb) = (Vec::new(), Vec::new());
    let mut t = 0u64;
    // Elect and finish the first (empty) bulk sync.
    while t < 1_500_000 {
        t += tick_us;
        a.tick(Instant::from_micros(t), &mut wa, &mut sa, Vec::new);
        b.tick(Instant::from_micros(t), &mut wb, &mut sb, Vec::new);
    }
    let (sent0, recv0) = {
        let s = a.status().lock().clone();
        (s.bytes_sent + s.datagrams_sent * L2_L3_L4, s.datagrams_sent)
    };
    let back0 = {
        let s = b.status().lock().clone();
        (s.bytes_sent, s.datagrams_sent)
    };
    let start = t;
    let mut made = 0u64;
    while t < start + SECONDS * 1_000_000 {
        t += tick_us;
        let due = (t - start) * rate / 1_000_000;
        while made < due {
            sa.push(Record::SessionUp(session(made)));
            made += 1;
        }
        a.tick(Instant::from_micros(t), &mut wa, &mut sa, Vec::new);
        b.tick(Instant::from_micros(t), &mut wb, &mut sb, Vec::new);
    }
    for _ in 0..100 {
        t += tick_us;
        a.tick(Instant::from_micros(t), &mut wa, &mut sa, Vec::new);
        b.tick(Instant::from_micros(t), &mut wb, &mut sb, Vec::new);
    }
    let sa_ = a.status().lock().clone();
    let sb_ = b.status().lock().clone();
    let fwd_payload = (sa_.bytes_sent - (sent0 - recv0 * L2_L3_L4)) / SECONDS;
    let fwd_dgrams = (sa_.datagrams_sent - recv0) / SECONDS;
    let back_payload = (sb_.bytes_sent - back0.0) / SECONDS;
    let back_dgrams = (sb_.datagrams_sent - back0.1) / SECONDS;
    println!(
        "{rate:>7} new sessions/s, tick {tick_us} us: active->standby {:>6} datagrams/s, {:>9} B/s payload, {:>9} B/s on the wire ({:.2} Mbit/s); standby->active {:>5} datagrams/s, {:>7} B/s on the wire; retransmits {}; mirror {} of {made} sessions",
        fwd_dgrams,
        fwd_payload,
        fwd_payload + fwd_dgrams * L2_L3_L4,
        (fwd_payload + fwd_dgrams * L2_L3_L4) as f64 * 8.0 / 1e6,
        back_dgrams,
        back_payload + back_dgrams * L2_L3_L4,
        sa_.retransmits,
        b.mirror().sessions.len(),
    );
}

fn main() {
    let mut rates = Vec::new();
    let mut tick_us = 1000;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if a == "--tick-us" {
            tick_us = args.next().and_then(|v| v.parse().ok()).unwrap_or(tick_us);
        } else if let Ok(r) = a.parse() {
            rates.push(r);
        }
    }
    if rates.is_empty() {
        rates = vec![1000, 10_000, 100_000];
    }
    for (i, r) in rates.into_iter().enumerate() {
        run(r, tick_us, 47_400 + i as u16);
    }
}
