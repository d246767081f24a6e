//! The burst API (`Worker::prepare`, `Worker::prepare_session`,
//! `Worker::process_prepared`, as the data plane runs a burst) gives the
//! same results as `Worker::process` one packet at a time: on random
//! traffic (new and known flows of TCP, UDP and ICMP echo from the inside,
//! replies, unsolicited and misdirected packets from the outside,
//! fragments, low TTLs, damaged bytes), two NATs built alike, one fed each
//! way, forward the same bytes with the same verdicts, emit the same
//! events and count the same counters. Packets of one burst may depend on
//! each other (a reply that an earlier packet of the burst opened), which
//! is what the prefetch stage cannot know.
//!
//! A third NAT runs with the fast lane off (`Worker::set_fast_lane`), so
//! the fast lane's verdicts, bytes, counters and events are checked against
//! the general path's on the same traffic.

mod common;

use std::net::Ipv4Addr;
use std::sync::Arc;

use cgnat_core::event::Event;
use cgnat_core::{Instant, Nat, Prepared, Side, Verdict, Worker};
use common::*;
use proptest::prelude::*;

const CONFIG: &str = "pool = [\"203.0.113.1/32\"]\nmax_sessions = 512\nmax_mappings = 512\nmax_subscribers = 32\nblock_size = 64";
const POOL: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);

/// One packet to make: `(kind, a, b, c)`, interpreted by [`make`].
type Op = (u8, u16, u16, u8);

fn sub(a: u16) -> Ipv4Addr {
    Ipv4Addr::new(100, 64, 0, 10 + (a % 4) as u8)
}

fn remote(b: u16) -> Ipv4Addr {
    [SERVER, SERVER2, SERVER3][(b % 3) as usize]
}

/// A public endpoint the NAT forwarded from: (protocol, remote, remote
/// port, public port, ICMP).
type Seen = (u8, Ipv4Addr, u16, u16);

/// The packet of one op, received on the returned side.
fn make(op: Op, seen: &[Seen]) -> (Side, Vec<u8>) {
    let (kind, a, b, c) = op;
    let sport = 1000 + a % 8;
    let dport = 80 + b % 3;
    let flags = [SYN, ACK, ACK | PSH, FIN | ACK, RST][(c % 5) as usize];
    match kind % 10 {
        0 => (Side::Inside, udp(sub(a), sport, remote(b), dport, b"payload")),
        1 => (Side::Inside, tcp(sub(a), sport, remote(b), dport, flags, b"tcp")),
        2 => (Side::Inside, echo_request(sub(a), remote(b), sport, b, b"ping")),
        3 | 4 if !seen.is_empty() => {
            // A reply to a flow seen leaving (or from another remote port).
            let (proto, r, rport, public) = seen[a as usize % seen.len()];
            let rport = if c % 4 == 0 { rport.wrapping_add(1) } else { rport };
            let pkt = match proto {
                6 => tcp(r, rport, POOL, public, flags, b"r"),
                17 => udp(r, rport, POOL, public, b"reply"),
                _ => echo_reply(r, POOL, public, b, b"pong"),
            };
            (Side::Outside, pkt)
        }
        5 => (Side::Outside, udp(remote(b), dport, POOL, 1024 + a % 256, b"unsolicited")),
        6 => (Side::Outside, tcp(remote(b), dport, Ipv4Addr::new(203, 0, 113, 9), a, flags, b"x")),
        7 => {
            let p = with_ttl(udp(sub(a), sport, remote(b), dport, b"ttl"), c % 3);
            (Side::Inside, p)
        }
        8 => {
            // A fragment of a UDP datagram (first or later part).
            let d = with_df(udp(sub(a), sport, remote(b), dport, &[7u8; 40]), false);
            let parts = fragments(&d, &[24]);
            let side = Side::Inside;
            (side, parts[(c % 2) as usize].clone())
        }
        _ => {
            // Damaged bytes: one byte of a valid packet changed, or cut short.
            let mut p = udp(sub(a), sport, remote(b), dport, b"damaged");
            let i = b as usize % p.len();
            p[i] ^= c | 1;
            if c % 3 == 0 {
                p.truncate(b as usize % 30);
            }
            (if c % 2 == 0 { Side::Inside } else { Side::Outside }, p)
        }
    }
}

/// Three NATs built alike and a worker of each: `a` one packet at a time,
/// `b` by bursts, `c` one packet at a time without the fast lane.
struct Trio {
    a: Worker<Vec<Event>>,
    b: Worker<Vec<Event>>,
    c: Worker<Vec<Event>>,
}

fn trio() -> Trio {
    let (na, nb, nc): (Arc<Nat>, Arc<Nat>, Arc<Nat>) = (nat(CONFIG), nat(CONFIG), nat(CONFIG));
    let mut c = worker(&nc);
    c.set_fast_lane(false);
    Trio {
        a: worker(&na),
        b: worker(&nb),
        c,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    #[test]
    fn burst_api_equals_one_packet_at_a_time(
        bursts in prop::collection::vec((prop::collection::vec(any::<Op>(), 1..32), 0u64..3), 1..24),
    ) {
        let Trio { a: mut wa, b: mut wb, c: mut wc } = trio();
        let mut seen: Vec<Seen> = Vec::new();
        let mut now: Instant = T0;
        for (ops, dt) in bursts {
            now = now.plus_secs(dt);
            // A burst comes from one side: group the ops' packets by side,
            // inside first, as the worker loop polls.
            let made: Vec<(Side, Vec<u8>, bool)> = ops
                .iter()
                .map(|&op| {
                    let (side, p) = make(op, &seen);
                    (side, p, op.0 % 10 <= 2)
                })
                .collect();
            for side in [Side::Inside, Side::Outside] {
                let pkts: Vec<Vec<u8>> = made.iter().filter(|m| m.0 == side).map(|m| m.1.clone()).collect();
                let new_flow: Vec<bool> = made.iter().filter(|m| m.0 == side).map(|m| m.2).collect();
                if pkts.is_empty() {
                    continue;
                }
                let mut a = pkts.clone();
                let va: Vec<Verdict> = a.iter_mut().map(|p| wa.process(side, p, now)).collect();
                let mut c = pkts.clone();
                let vc: Vec<Verdict> = c.iter_mut().map(|p| wc.process(side, p, now)).collect();
                let mut b = pkts.clone();
                let mut prep: Vec<Prepared> = b.iter().map(|p| wb.prepare(side, p)).collect();
                for pr in prep.iter_mut() {
                    wb.prepare_session(side, pr);
                }
                let vb: Vec<Verdict> = b.iter_mut().zip(prep.iter()).map(|(p, pr)| wb.process_prepared(side, p, pr, now)).collect();
                prop_assert_eq!(&va, &vb);
                prop_assert_eq!(&a, &b);
                prop_assert_eq!(&va, &vc);
                prop_assert_eq!(&a, &c);
                for ((v, p), new) in va.iter().zip(a.iter()).zip(new_flow) {
                    if new && *v == Verdict::Forward(Side::Outside) {
                        let view = parse(p);
                        seen.push((view.protocol, view.dst, view.dport, view.sport));
                    }
                }
                prop_assert_eq!(wa.held_fragment_key(), wb.held_fragment_key());
                let resolved = wa.take_resolved_fragment();
                prop_assert_eq!(resolved, wb.take_resolved_fragment());
                prop_assert_eq!(wa.counters().snapshot(), wb.counters().snapshot());
                prop_assert_eq!(&*wa.sink_mut(), &*wb.sink_mut());
                prop_assert_eq!(wa.held_fragment_key(), wc.held_fragment_key());
                prop_assert_eq!(resolved, wc.take_resolved_fragment());
                prop_assert_eq!(wa.counters().snapshot(), wc.counters().snapshot());
                prop_assert_eq!(&*wa.sink_mut(), &*wc.sink_mut());
            }
        }
    }
}

/// RFC 1812 section 5.2.2 with checksum offload: a header the NIC reported
/// bad is dropped even though its checksum is right, and one it reported
/// good is not summed again (a damaged checksum then goes unnoticed: the
/// NIC's word is taken), while without a report the software check runs.
#[test]
fn nic_checksum_reports_are_honoured() {
    use cgnat_core::counters::DropReason;
    use cgnat_core::RxChecksum;
    let Trio { a: mut w, .. } = trio();
    let good = udp(sub(0), 1000, SERVER, 80, b"payload");
    let mut damaged = good.clone();
    damaged[10] ^= 0x40; // the IPv4 header checksum
    let run = |w: &mut Worker<Vec<Event>>, pkt: &[u8], hw: RxChecksum| {
        let mut p = pkt.to_vec();
        let prep = w.prepare_offloaded(Side::Inside, &p, hw);
        w.process_prepared(Side::Inside, &mut p, &prep, T0)
    };
    assert_eq!(run(&mut w, &good, RxChecksum::Bad), Verdict::Drop(DropReason::BadChecksum));
    assert_eq!(run(&mut w, &damaged, RxChecksum::Unknown), Verdict::Drop(DropReason::BadChecksum));
    assert_eq!(run(&mut w, &good, RxChecksum::Unknown), Verdict::Forward(Side::Outside));
    assert_eq!(run(&mut w, &damaged, RxChecksum::Good), Verdict::Forward(Side::Outside));
    assert_eq!(w.counters().dropped(DropReason::BadChecksum), 2);
}
