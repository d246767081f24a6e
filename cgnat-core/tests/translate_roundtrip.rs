//! Property tests of the whole translate path:
//!
//! - round trip: for random subscribers, remotes, protocols (TCP, UDP,
//!   ICMP echo), ports, flags, payloads and TTLs, the outbound packet is
//!   translated, the remote's reply (endpoints swapped, as a server would
//!   send it) is translated back, and every original field is restored;
//!   an ICMP error about the outbound packet comes back with its quote
//!   restored. Every packet out of the NAT is parsed by etherparse and all
//!   its checksums recomputed from scratch.
//! - robustness: random bytes, and valid packets with random corruption,
//!   never make `process` panic on either side, and whatever is forwarded
//!   keeps a valid IPv4 header checksum if it arrived with one.

mod common;

use std::net::Ipv4Addr;
use std::sync::Arc;

use cgnat_core::sweeper::Sweeper;
use cgnat_core::{Nat, Side, Verdict};
use common::*;
use proptest::prelude::*;

const SMALL: &str = "max_sessions = 256\nmax_mappings = 256\nmax_subscribers = 64\nblock_size = 64";

fn small_nat() -> Arc<Nat> {
    nat(SMALL)
}

/// A subscriber address in 100.64.0.0/10.
fn subscriber() -> impl Strategy<Value = Ipv4Addr> {
    (0u32..(1 << 22)).prop_map(|x| Ipv4Addr::from(0x6440_0000 | x))
}

/// A remote address: neither a subscriber nor a pool address.
fn remote() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>()
        .prop_filter("not inside, not the pool", |a| {
            a & 0xFFC0_0000 != 0x6440_0000 && a & 0xFFFF_FFF0 != 0xCB00_7100
        })
        .prop_map(Ipv4Addr::from)
}

#[derive(Clone, Debug)]
enum Kind {
    Udp { zero_checksum: bool },
    Tcp { flags: u8 },
    Echo { seq: u16 },
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        any::<bool>().prop_map(|z| Kind::Udp { zero_checksum: z }),
        (0u8..0x20).prop_map(|f| Kind::Tcp { flags: f }),
        any::<u16>().prop_map(|s| Kind::Echo { seq: s }),
    ]
}

fn build(kind: &Kind, src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16, payload: &[u8], reply: bool) -> Vec<u8> {
    match kind {
        Kind::Udp { zero_checksum } => {
            let mut p = udp(src, sport, dst, dport, payload);
            if *zero_checksum {
                p[26..28].copy_from_slice(&[0, 0]);
            }
            p
        }
        Kind::Tcp { flags } => tcp(src, sport, dst, dport, *flags, payload),
        Kind::Echo { seq } => {
            if reply {
                echo_reply(src, dst, dport, *seq, payload)
            } else {
                echo_request(src, dst, sport, *seq, payload)
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Outbound, reply, ICMP error: every field restored, every checksum valid.
    #[test]
    fn roundtrip_restores_every_field(
        sub in subscriber(),
        sport in any::<u16>(),
        rem in remote(),
        rport in any::<u16>(),
        kind in kind(),
        payload in proptest::collection::vec(any::<u8>(), 0..300),
        ttl in 2u8..=255,
        error_type in prop_oneof![Just((3u8, 3u8)), Just((3, 1)), Just((11, 0))],
    ) {
        let nat = small_nat();
        let mut w = worker(&nat);
        let original = with_ttl(build(&kind, sub, sport, rem, rport, &payload, false), ttl);
        let mut pkt = original.clone();
        prop_assert_eq!(w.process(Side::Inside, &mut pkt, at(0)), Verdict::Forward(Side::Outside));
        prop_assert_eq!(pkt.len(), original.len());
        let o = parse(&pkt);
        let orig = parse(&original);
        prop_assert!(nat.pool().index_of(u32::from(o.src)).is_some());
        prop_assert_eq!((o.dst, o.protocol, o.ttl), (rem, orig.protocol, ttl - 1));
        prop_assert_eq!(&o.payload, &payload);
        prop_assert_eq!(o.icmp_seq, orig.icmp_seq);
        prop_assert_eq!(o.tcp_flags, orig.tcp_flags);
        if matches!(kind, Kind::Echo { .. }) {
            prop_assert_eq!(o.sport, o.dport, "identifier only");
        } else {
            prop_assert_eq!(o.dport, rport);
        }
        if let Kind::Udp { zero_checksum: true } = kind {
            prop_assert_eq!(o.udp_checksum, 0);
        } else if orig.protocol == 17 {
            prop_assert_ne!(o.udp_checksum, 0);
        }
        let owner = nat.lookup_public(o.src, o.sport).expect("live owner");
        prop_assert_eq!(owner.subscriber, sub);

        // The remote's reply.
        let reply_port = if matches!(kind, Kind::Echo { .. }) { o.sport } else { rport };
        let reply = build(&kind, rem, reply_port, o.src, o.sport, &payload, true);
        let mut r = reply.clone();
        prop_assert_eq!(w.process(Side::Outside, &mut r, at(1)), Verdict::Forward(Side::Inside));
        let back = parse(&r);
        prop_assert_eq!((back.src, back.dst), (rem, sub));
        match kind {
            Kind::Echo { seq } => {
                prop_assert_eq!((back.icmp_type, back.sport, back.icmp_seq), (0, sport, seq));
            }
            _ => prop_assert_eq!((back.sport, back.dport), (rport, sport)),
        }
        prop_assert_eq!(&back.payload, &payload);
        prop_assert_eq!(back.ttl, 63);

        // An ICMP error about what the remote received.
        let (t, c) = error_type;
        let err = icmp_error(rem, o.src, t, c, &pkt);
        let mut e = err.clone();
        prop_assert_eq!(w.process(Side::Outside, &mut e, at(2)), Verdict::Forward(Side::Inside));
        let ev = parse(&e);
        prop_assert_eq!((ev.src, ev.dst, ev.icmp_type, ev.icmp_code), (rem, sub, t, c));
        let q = ev.quoted.expect("quote");
        prop_assert_eq!((q.src, q.dst, q.sport), (sub, rem, sport));
        prop_assert_eq!(q.udp_checksum, orig.udp_checksum);
        prop_assert_eq!(&q.payload, &payload);
        prop_assert_eq!(nat.sessions().len(), 1, "the error neither added nor removed a session");
        check_invariants(&nat);
    }

    /// Random bytes never panic, on either side, in any state.
    #[test]
    fn random_bytes_never_panic(packets in proptest::collection::vec(
        (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..96)), 1..16)
    ) {
        let nat = small_nat();
        let mut w = worker(&nat);
        out(&mut w, udp(SUB_A, 5000, SERVER, 53, b""), at(0));
        for (i, (inside, mut bytes)) in packets.into_iter().enumerate() {
            // Make most of them look like IPv4 so the deeper paths run.
            if bytes.len() >= 20 && i % 4 != 0 {
                bytes[0] = 0x45;
                let len = bytes.len() as u16;
                bytes[2..4].copy_from_slice(&len.to_be_bytes());
                if i % 2 == 0 {
                    // Towards a pool address from the outside.
                    let last = bytes[19] & 0x0F;
                    bytes[16..20].copy_from_slice(&[203, 0, 113, last]);
                } else {
                    // From a subscriber on the inside.
                    bytes[12..14].copy_from_slice(&[100, 64]);
                }
                fix_ip_checksum(&mut bytes);
            }
            let side = if inside { Side::Inside } else { Side::Outside };
            let _ = w.process(side, &mut bytes, at(i as u64));
        }
    }

    /// Valid packets of every kind with random corruption (and, half of the
    /// time, a repaired IPv4 checksum so that they get past it) never panic;
    /// a forwarded packet keeps a valid header checksum.
    #[test]
    fn corrupted_packets_never_panic(
        which in 0usize..8,
        flips in proptest::collection::vec((any::<u16>(), 1u8..=255), 1..6),
        truncate in proptest::option::of(any::<u16>()),
        fix in any::<bool>(),
        inside in any::<bool>(),
    ) {
        let nat = small_nat();
        let mut w = worker(&nat);
        let o = out(&mut w, udp(SUB_A, 5000, SERVER, 53, b"q"), at(0));
        let e = out(&mut w, echo_request(SUB_A, SERVER, 9, 1, b"p"), at(0));
        let samples = [
            udp(SUB_A, 5000, SERVER, 53, b"payload"),
            tcp(SUB_B, 1, SERVER, 80, SYN, b"x"),
            echo_request(SUB_A, SERVER, 9, 2, b"ping"),
            udp(SERVER, 53, o.src, o.sport, b"answer"),
            echo_reply(SERVER, e.src, e.sport, 1, b"p"),
            icmp_error(SERVER, o.src, 3, 3, &udp(o.src, o.sport, SERVER, 53, b"q")),
            icmp_error(SUB_A, SERVER, 3, 3, &udp(SERVER, 53, SUB_A, 5000, b"q")),
            fragments(&udp(SUB_A, 5000, SERVER, 53, &[1; 64]), &[32])[1].clone(),
        ];
        let mut p = samples[which].clone();
        for (at_, x) in flips {
            let i = at_ as usize % p.len();
            p[i] ^= x;
        }
        if let Some(t) = truncate {
            let n = t as usize % (p.len() + 1);
            p.truncate(n);
        }
        if fix {
            fix_ip_checksum(&mut p);
        }
        let had_valid_header = header_checksum_ok(&p);
        let side = if inside { Side::Inside } else { Side::Outside };
        let v = w.process(side, &mut p, at(1));
        if let Verdict::Forward(_) | Verdict::Fragment { .. } = v {
            prop_assert!(had_valid_header, "forwarded a packet with a bad header checksum");
            prop_assert!(header_checksum_ok(&p), "forwarded header checksum invalid");
        }
        // And the tables stay consistent after a sweep.
        Sweeper::new(nat.clone(), Vec::new()).sweep_all(at(1000));
        check_invariants(&nat);
    }
}

/// Recomputes the IPv4 header checksum if the IHL is plausible.
fn fix_ip_checksum(p: &mut [u8]) {
    if p.len() < 20 {
        return;
    }
    let hl = ((p[0] & 0x0F) as usize) * 4;
    if hl < 20 || hl > p.len() {
        return;
    }
    p[10] = 0;
    p[11] = 0;
    let ck = ones_complement(&p[..hl]);
    p[10..12].copy_from_slice(&ck.to_be_bytes());
}

fn header_checksum_ok(p: &[u8]) -> bool {
    if p.len() < 20 {
        return false;
    }
    let hl = ((p[0] & 0x0F) as usize) * 4;
    hl >= 20 && hl <= p.len() && ones_complement(&p[..hl]) == 0
}

/// RFC 1071 checksum, written here independently of `cgnat_core::wire`.
fn ones_complement(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        sum += w as u32;
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !(sum as u16)
}
