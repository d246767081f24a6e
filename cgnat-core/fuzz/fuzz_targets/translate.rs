//! Fuzz target: the whole translate path (`Worker::process`) with the
//! data-plane glue around it (fragment stash, ICMP errors, echo replies,
//! fragmentation) and the sweeper, on a small NAT.
//!
//! Input: a sequence of records `[control, length, bytes...]`:
//!
//! - control bit 0: side (0 inside, 1 outside);
//! - bits 1-3: seconds the packet clock advances before the packet (x 37);
//! - bit 4: run a bounded sweep after the packet;
//! - bit 5: template mode: `bytes[0]` picks a valid packet (UDP, TCP,
//!   echo, ICMP error, fragment, towards a subscriber's mapping...) and
//!   the remaining bytes are XORed into it from offset `bytes[1]`;
//! - bit 6: repair the IPv4 header checksum before processing (so the
//!   corrupted packet gets past the checksum check);
//! - bit 7: process with a worker whose event sink refuses everything.
//!
//! The first record's control bit 3 also turns on durable-before-use (new
//! blocks wait for `Nat::block_logged`; the target logs a waiting block
//! when a later record has bit 4 set, so held and released paths both run).
//!
//! Invariants: nothing panics, and every packet forwarded carries a valid
//! IPv4 header checksum.
#![no_main]

use std::net::Ipv4Addr;
use std::sync::Arc;

use cgnat_core::event::{Event, RefusingSink};
use cgnat_core::frag::FragmentStash;
use cgnat_core::sweeper::Sweeper;
use cgnat_core::wire::{icmp, ipv4, udp};
use cgnat_core::{EventSink, Instant, Nat, NatConfig, Side, Verdict, Worker};

const SUB: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 1);
const REMOTE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);

/// A minimal IPv4 packet: header + `l4` (checksums filled for UDP/ICMP).
fn packet(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, l4: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; 20 + l4.len()];
    ipv4::emit_header(&mut p, src, dst, protocol, l4.len() as u16, 64, 0x1234);
    p[20..].copy_from_slice(l4);
    match protocol {
        17 => udp::Packet::new_unchecked(&mut p[20..]).fill_checksum(src, dst),
        1 => icmp::Packet::new_unchecked(&mut p[20..]).fill_checksum(),
        _ => {}
    }
    p
}

fn udp_packet(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16) -> Vec<u8> {
    let mut l4 = [0u8; 16];
    l4[..2].copy_from_slice(&sport.to_be_bytes());
    l4[2..4].copy_from_slice(&dport.to_be_bytes());
    l4[4..6].copy_from_slice(&16u16.to_be_bytes());
    packet(src, dst, 17, &l4)
}

fn template(which: u8, public: Option<(Ipv4Addr, u16)>) -> Vec<u8> {
    let (pa, pp) = public.unwrap_or((Ipv4Addr::new(203, 0, 113, 2), 1500));
    match which % 10 {
        0 => udp_packet(SUB, 5000, REMOTE, 53),
        1 => {
            let mut l4 = [0u8; 20];
            l4[..2].copy_from_slice(&40000u16.to_be_bytes());
            l4[2..4].copy_from_slice(&443u16.to_be_bytes());
            l4[12] = 0x50;
            l4[13] = 0x02;
            packet(SUB, REMOTE, 6, &l4)
        }
        2 => packet(SUB, REMOTE, 1, &[8, 0, 0, 0, 0x12, 0x34, 0, 1, 1, 2, 3, 4]),
        3 => udp_packet(REMOTE, 53, pa, pp),
        4 => packet(REMOTE, pa, 1, &[0, 0, 0, 0, (pp >> 8) as u8, pp as u8, 0, 1]),
        5 => {
            let quoted = udp_packet(pa, pp, REMOTE, 53);
            let mut l4 = vec![3, 3, 0, 0, 0, 0, 0, 0];
            l4.extend_from_slice(&quoted);
            packet(REMOTE, pa, 1, &l4)
        }
        6 => {
            let quoted = udp_packet(REMOTE, 53, SUB, 5000);
            let mut l4 = vec![11, 0, 0, 0, 0, 0, 0, 0];
            l4.extend_from_slice(&quoted);
            packet(SUB, REMOTE, 1, &l4)
        }
        7 => {
            // A non-first fragment, then (via XOR) anything near it.
            let mut p = udp_packet(SUB, 5000, REMOTE, 53);
            let mut ip = ipv4::Packet::new_unchecked(&mut p[..]);
            ip.set_frag_offset(8);
            ip.fill_checksum();
            p
        }
        8 => {
            let mut p = udp_packet(SUB, 5000, REMOTE, 53);
            let mut ip = ipv4::Packet::new_unchecked(&mut p[..]);
            ip.set_more_frags(true);
            ip.set_dont_frag(false);
            ip.fill_checksum();
            p
        }
        _ => {
            // Towards the static mapping, or the bypass prefix.
            let mut l4 = [0u8; 20];
            l4[..2].copy_from_slice(&5555u16.to_be_bytes());
            l4[2..4].copy_from_slice(&1100u16.to_be_bytes());
            l4[12] = 0x50;
            l4[13] = 0x02;
            packet(REMOTE, Ipv4Addr::new(203, 0, 113, 1), 6, &l4)
        }
    }
}

fn fix_checksum(p: &mut [u8]) {
    if p.len() >= 20 {
        let hl = usize::from(p[0] & 0x0F) * 4;
        if (20..=p.len()).contains(&hl) {
            ipv4::Packet::new_unchecked(&mut p[..hl]).fill_checksum();
        }
    }
}

fn header_ok(p: &[u8]) -> bool {
    ipv4::Packet::new_checked(p).map(|ip| ip.verify_checksum()).unwrap_or(false)
}

/// Processes one packet the way the data plane does and checks the output.
fn run<E: EventSink>(
    w: &mut Worker<E>,
    stash: &mut FragmentStash<(Side, Vec<u8>)>,
    side: Side,
    mut p: Vec<u8>,
    now: Instant,
) -> Option<(Ipv4Addr, u16)> {
    let v = w.process(side, &mut p, now);
    let mut public = None;
    match v {
        Verdict::Forward(to) => {
            assert!(header_ok(&p), "forwarded a packet with a bad IPv4 header checksum");
            if side == Side::Inside && to == Side::Outside && p.len() >= 24 {
                let ip = ipv4::Packet::new_checked(&p[..]).unwrap();
                if !ip.is_fragment() && (ip.protocol() == 17 || ip.protocol() == 6) {
                    let hl = ip.header_len();
                    public = Some((ip.src_addr(), u16::from_be_bytes([p[hl], p[hl + 1]])));
                }
            }
            if let Some(k) = w.take_resolved_fragment() {
                let mut again = Vec::new();
                stash.release(&k, |f| again.push(f));
                for (s, f) in again {
                    let mut f = f;
                    if let Verdict::Forward(_) = w.process(s, &mut f, now) {
                        assert!(header_ok(&f));
                    }
                }
            }
        }
        Verdict::Fragment { mtu, .. } => {
            assert!(header_ok(&p));
            let n = ipv4::Packet::new_checked(&p[..]).map(|ip| ipv4::fragment_count(ip.payload().len(), ip.header_len(), mtu as usize));
            let mut out = vec![0u8; mtu as usize];
            for i in 0..n.unwrap_or(0) {
                if let Ok(len) = ipv4::emit_fragment(&p, mtu as usize, i, &mut out) {
                    assert!(len <= mtu as usize && header_ok(&out[..len]));
                }
            }
        }
        Verdict::IcmpError { icmp_type, code, mtu, .. } => {
            if icmp::may_send_error_for(&p) {
                let mut out = [0u8; 600];
                let _ = icmp::emit_error(&mut out, Ipv4Addr::new(203, 0, 113, 0), &p, icmp_type, code, mtu, 64);
            }
        }
        Verdict::Local => {
            let _ = icmp::echo_reply_in_place(&mut p);
        }
        Verdict::Hold => {
            let _ = stash.hold(w.held_fragment_key(), (side, p), now);
        }
        Verdict::HoldUntilLogged { block, .. } => {
            // Translated already, waiting for its block's record.
            assert!(header_ok(&p), "held a packet with a bad IPv4 header checksum");
            assert!(w.nat().pool().is_pending(block), "held for a block that is not pending");
        }
        Verdict::Drop(_) => {}
    }
    public
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some(config) = config() else {
        return;
    };
    let nat = Arc::new(Nat::new(config, 1).expect("valid fuzz config"));
    nat.require_durable_log(data.first().is_some_and(|c| c & 0x08 != 0));
    let mut w = Worker::new(nat.clone(), 0, Vec::<Event>::new());
    let mut stalled = Worker::new(nat.clone(), 1, RefusingSink);
    let mut stash = FragmentStash::new(4, 2);
    let mut sweeper = Sweeper::new(nat.clone(), Vec::<Event>::new());
    let mut now = Instant::from_secs(1_000_000);
    let mut public = None;
    let mut allocs = Vec::new();
    let mut rest = data;
    while rest.len() >= 2 {
        let control = rest[0];
        let len = usize::from(rest[1]).min(rest.len() - 2);
        let bytes = &rest[2..2 + len];
        rest = &rest[2 + len..];
        now = now.plus_secs(u64::from((control >> 1) & 7) * 37);
        let side = if control & 1 == 0 { Side::Inside } else { Side::Outside };
        let mut p = if control & 0x20 != 0 && !bytes.is_empty() {
            let mut t = template(bytes[0], public);
            let start = bytes.get(1).map_or(0, |b| usize::from(*b));
            for (i, b) in bytes.iter().skip(2).enumerate() {
                let k = (start + i) % t.len();
                t[k] ^= b;
            }
            t
        } else {
            bytes.to_vec()
        };
        if control & 0x40 != 0 {
            fix_checksum(&mut p);
        }
        let got = if control & 0x80 != 0 {
            run(&mut stalled, &mut stash, side, p, now)
        } else {
            run(&mut w, &mut stash, side, p, now)
        };
        if got.is_some() {
            public = got;
        }
        if control & 0x10 != 0 {
            sweeper.sweep(now, 64);
        }
        // The management core: queued allocations become durable when a
        // record says so (bit 4), or wait.
        allocs.extend(w.sink_mut().iter().filter(|e| e.kind == cgnat_core::EventKind::BlockAllocated).map(|e| (e.public_addr, e.first_port)));
        if control & 0x10 != 0 {
            for (a, p) in allocs.drain(..) {
                nat.block_logged(a, p);
            }
        }
        stash.expire(now, |_| {});
        w.sink_mut().clear();
    }
    sweeper.shutdown(now);
});

/// A small NAT: one /30 pool, 1024 ports in blocks of 64, tiny tables (so
/// limits and exhaustion are reached), a narrow outside MTU, a bypass
/// prefix and one static mapping.
fn config() -> Option<NatConfig> {
    Some(NatConfig {
        pool: vec!["203.0.113.0/30".parse().ok()?],
        port_range: "1024-2047".parse().ok()?,
        block_size: 64,
        max_blocks_per_subscriber: 2,
        max_sessions_per_subscriber: 32,
        max_subscribers: 16,
        max_sessions: 128,
        max_mappings: 128,
        outside_mtu: 600,
        inside_mtu: 1280,
        bypass: vec!["192.0.2.0/24".parse().ok()?],
        seed: Some(7),
        // Within this config's per-subscriber limits (the defaults are
        // larger than 32 sessions and 2 blocks, which validation refuses).
        unconfirmed: cgnat_core::config::Unconfirmed {
            max_sessions: 16,
            max_blocks: 1,
            ..Default::default()
        },
        fragments: cgnat_core::config::Fragments {
            max_tracked: 8,
            max_held: 4,
            timeout: 2,
            max_per_source: 2,
        },
        static_mappings: vec![cgnat_core::config::StaticMapping {
            protocol: cgnat_core::config::StaticProtocol::Tcp,
            public_addr: Ipv4Addr::new(203, 0, 113, 1),
            public_port: 1100,
            inside_addr: Ipv4Addr::new(100, 64, 0, 9),
            inside_port: 80,
        }],
        ..NatConfig::default()
    })
}
