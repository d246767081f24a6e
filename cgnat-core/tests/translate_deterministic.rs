//! Deterministic NAT (RFC 7422): the public address and port range of a
//! subscriber follow from the configuration, so the log holds only the
//! configuration epoch and any public address:port at any time can be
//! reversed to its subscriber from the configuration alone.

mod common;

use std::collections::HashSet;
use std::net::Ipv4Addr;

use cgnat_core::event::{EventKind, Reason};
use cgnat_core::sweeper::Sweeper;
use cgnat_core::{DropReason, Side, Verdict};
use common::*;

const CFG: &str = "mode = \"deterministic\"\ninside_prefixes = [\"100.64.0.0/24\"]\npool = [\"203.0.113.0/30\"]\n";

//= https://www.rfc-editor.org/rfc/rfc7422#section-2
//# the CGN (...) maps each subscriber's internal address to an external
//# address and a range of ports by an algorithm (...) the reverse mapping
//# can be computed from the external address and port alone.
#[test]
fn rfc7422_translated_port_lies_in_the_subscribers_range_and_reverses() {
    let nat = nat(CFG);
    let map = nat.deterministic().expect("deterministic map").clone();
    // 256 subscribers over 4 addresses: 64 each, 64512 / 64 = 1008 ports.
    assert_eq!((map.subscribers_per_address(), map.ports_per_subscriber()), (64, 1008));
    let mut w = worker(&nat);
    let mut ranges = HashSet::new();
    for i in [0u32, 1, 63, 64, 100, 200, 255] {
        let sub = Ipv4Addr::new(100, 64, 0, i as u8);
        let r = map.forward(sub).unwrap();
        assert!(ranges.insert((r.public_addr, r.first_port)), "ranges are disjoint");
        for (k, pkt) in [
            udp(sub, 5000, SERVER, 53, b"q"),
            tcp(sub, 40_000, SERVER, 443, SYN, b""),
            echo_request(sub, SERVER, 7, 1, b""),
            udp(sub, 5001, SERVER2, 53, b"q"),
        ]
        .into_iter()
        .enumerate()
        {
            let v = out(&mut w, pkt, at(0));
            assert_eq!(v.src, r.public_addr, "{sub} flow {k}: the formula's address");
            assert!(
                (r.first_port..=r.last_port).contains(&v.sport),
                "{sub} flow {k}: port {} outside {}-{}",
                v.sport,
                r.first_port,
                r.last_port
            );
            assert_eq!(map.reverse(v.src, v.sport), Some(sub), "offline reverse");
            let owner = nat.lookup_public(v.src, v.sport).unwrap();
            assert_eq!((owner.subscriber, owner.kind), (sub, "deterministic"));
        }
    }
    // Even a port with no mapping is attributable.
    let r = map.forward(Ipv4Addr::new(100, 64, 0, 9)).unwrap();
    assert_eq!(
        nat.lookup_public(r.public_addr, r.last_port).unwrap().subscriber,
        Ipv4Addr::new(100, 64, 0, 9)
    );
    check_invariants(&nat);
}

//= https://www.rfc-editor.org/rfc/rfc7422#section-2.3
//# the CGN only needs to log the configuration (...) when it changes
#[test]
fn rfc7422_only_the_epoch_is_logged() {
    let nat = nat(CFG);
    let mut w = worker(&nat);
    for i in 0..50u8 {
        out(&mut w, udp(Ipv4Addr::new(100, 64, 0, i), 1000, SERVER, 53, b""), at(0));
    }
    assert!(w.sink_mut().is_empty(), "no per-block records: {:?}", w.sink_mut());
    let start = nat.startup_events(T0);
    // The epoch, then every prefix in numbering order (section 2.3: the log
    // alone reverses the mapping).
    assert_eq!(start.len(), 3);
    assert_eq!(
        start[1..]
            .iter()
            .map(|e| (e.kind, e.subscriber, e.public_addr, e.aux))
            .collect::<Vec<_>>(),
        vec![
            (
                EventKind::DeterministicPrefix,
                Ipv4Addr::new(100, 64, 0, 0),
                Ipv4Addr::UNSPECIFIED,
                24
            ),
            (
                EventKind::DeterministicPrefix,
                Ipv4Addr::UNSPECIFIED,
                Ipv4Addr::new(203, 0, 113, 0),
                30
            ),
        ]
    );
    let e = start[0];
    assert_eq!(e.kind, EventKind::DeterministicEpoch);
    assert_eq!(e.reason, Reason::Config);
    assert_eq!(
        (e.subscriber, e.public_addr, e.first_port, e.last_port, e.aux),
        (Ipv4Addr::new(100, 64, 0, 0), Ipv4Addr::new(203, 0, 113, 0), 1024, 65535, 1008)
    );
    let mut s = Sweeper::new(nat.clone(), Vec::new());
    assert_eq!(s.log_startup(T0), 0);
    // Expiry releases nothing to log either.
    s.sweep_all(at(1000));
    s.shutdown(at(1001));
    let kinds: Vec<EventKind> = s.sink_mut().iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![
            EventKind::DeterministicEpoch,
            EventKind::DeterministicPrefix,
            EventKind::DeterministicPrefix
        ]
    );
    assert_eq!(nat.sessions().len(), 0);
    // The ranges stay with their subscribers after expiry.
    let a = Ipv4Addr::new(100, 64, 0, 3);
    let r = nat.deterministic().unwrap().forward(a).unwrap();
    let v = out(&mut w, udp(a, 1, SERVER, 53, b""), at(1002));
    assert!((r.first_port..=r.last_port).contains(&v.sport));
}

/// Inbound traffic reaches the subscriber owning the port by formula.
#[test]
fn rfc7422_inbound_and_filtering() {
    let nat = nat(CFG);
    let mut w = worker(&nat);
    let sub = Ipv4Addr::new(100, 64, 0, 77);
    let o = out(&mut w, udp(sub, 5000, SERVER, 53, b"q"), at(0));
    let v = inb(&mut w, udp(SERVER, 53, o.src, o.sport, b"a"), at(0));
    assert_eq!((v.dst, v.dport), (sub, 5000));
    // EIF: another remote too.
    let v = inb(&mut w, udp(SERVER2, 1, o.src, o.sport, b"a"), at(0));
    assert_eq!(v.dst, sub);
    // Another port of the same range without a mapping: no mapping.
    let r = nat.deterministic().unwrap().forward(sub).unwrap();
    let unused = if o.sport == r.first_port { r.last_port } else { r.first_port };
    assert_eq!(
        verdict(&mut w, Side::Outside, &udp(SERVER, 53, o.src, unused, b""), at(0)),
        Verdict::Drop(DropReason::NoMapping)
    );
    // Ping reply with the translated identifier.
    let e = out(&mut w, echo_request(sub, SERVER, 0xabcd, 1, b""), at(0));
    assert!((r.first_port..=r.last_port).contains(&e.sport));
    assert_eq!(inb(&mut w, echo_reply(SERVER, e.src, e.sport, 1, b""), at(0)).sport, 0xabcd);
}

/// A subscriber's range is its port limit (RFC 6888 REQ-4 by formula):
/// when every port of the range is mapped, new mappings are refused.
#[test]
fn rfc7422_range_exhaustion_is_a_block_limit() {
    // 4 subscribers on one address and 64 ports: 16 ports each.
    // (block_size has no meaning in deterministic mode, but validation
    // still requires it to fit in the port range.)
    let nat = nat("mode = \"deterministic\"\ninside_prefixes = [\"100.64.0.0/30\"]\npool = [\"203.0.113.5/32\"]\nport_range = \"1024-1087\"\nblock_size = 16");
    let mut w = worker(&nat);
    let sub = Ipv4Addr::new(100, 64, 0, 2);
    let r = nat.deterministic().unwrap().forward(sub).unwrap();
    assert_eq!((r.first_port, r.last_port), (1056, 1071));
    let mut ports = HashSet::new();
    for p in 0..16u16 {
        ports.insert(out(&mut w, udp(sub, 2000 + p, SERVER, 53, b""), at(0)).sport);
    }
    assert_eq!(ports, (1056..=1071).collect());
    assert_eq!(
        verdict(&mut w, Side::Inside, &udp(sub, 3000, SERVER, 53, b""), at(0)),
        Verdict::Drop(DropReason::BlockLimit)
    );
    assert_eq!(of_kind(w.sink_mut(), EventKind::BlockQuotaExceeded).len(), 1);
    // The neighbours are unaffected.
    let n = out(&mut w, udp(Ipv4Addr::new(100, 64, 0, 3), 1, SERVER, 53, b""), at(0));
    assert!((1072..=1087).contains(&n.sport));
    check_invariants(&nat);
}
