//! Inbound filtering: RFC 4787 REQ-8 (endpoint-independent,
//! address-dependent, address-and-port-dependent) and unsolicited inbound
//! traffic.

mod common;

use std::net::Ipv4Addr;

use cgnat_core::{DropReason, Side, Verdict};
use common::*;

const FILTERS: [&str; 3] = ["endpoint-independent", "address-dependent", "address-and-port-dependent"];

fn nat_with(filtering: &str) -> std::sync::Arc<cgnat_core::Nat> {
    nat(&format!("filtering = \"{filtering}\""))
}

/// Opens SUB_A:5000 → SERVER:53 (UDP) and returns the public endpoint.
fn open<E: cgnat_core::EventSink>(w: &mut cgnat_core::Worker<E>) -> (Ipv4Addr, u16) {
    let v = out(w, udp(SUB_A, 5000, SERVER, 53, b"hello"), at(0));
    (v.src, v.sport)
}

//= https://www.rfc-editor.org/rfc/rfc4787#section-5
//# REQ-8: If application transparency is most important, it is RECOMMENDED
//# that a NAT have an "Endpoint-Independent Filtering" behavior.
//
// Endpoint-independent filtering: "the NAT filters out only packets not
// destined to the internal address and port X:x, regardless of the
// external IP address and port source (Z:z)".
#[test]
fn rfc4787_req8_endpoint_independent_filtering_lets_any_remote_in() {
    let nat = nat_with("endpoint-independent");
    let mut w = worker(&nat);
    let (public, port) = open(&mut w);
    for (i, (r, rp)) in [(SERVER, 53), (SERVER, 9999), (SERVER2, 53), (SERVER3, 1)].into_iter().enumerate() {
        let v = inb(&mut w, udp(r, rp, public, port, b"in"), at(1 + i as u64));
        assert_eq!((v.src, v.sport, v.dst, v.dport), (r, rp, SUB_A, 5000));
        assert_eq!(v.payload, b"in");
    }
    // Each remote got its own session, on the same mapping.
    assert_eq!(nat.sessions().len(), 4);
    assert_eq!(nat.mappings().len(), 1);
    // The subscriber's answer to a remote that came in unsolicited goes out
    // on the same public endpoint (the inbound session is used).
    let v = out(&mut w, udp(SUB_A, 5000, SERVER3, 1, b"back"), at(9));
    assert_eq!((v.src, v.sport), (public, port));
    assert_eq!(nat.sessions().len(), 4);
    check_invariants(&nat);
}

//= https://www.rfc-editor.org/rfc/rfc4787#section-5
//# Address-Dependent Filtering: The NAT filters out packets not destined
//# to the internal address X:x. Additionally, the NAT will filter out
//# packets from Y:y destined for the internal endpoint X:x if X:x has not
//# sent packets to Y:any previously.
#[test]
fn rfc4787_req8_address_dependent_filtering_admits_contacted_addresses_on_any_port() {
    let nat = nat_with("address-dependent");
    let mut w = worker(&nat);
    let (public, port) = open(&mut w);
    // The contacted address, any port.
    for rp in [53, 54, 9999, 1] {
        let v = inb(&mut w, udp(SERVER, rp, public, port, b"ok"), at(1));
        assert_eq!((v.dst, v.dport, v.sport), (SUB_A, 5000, rp));
    }
    // An address never contacted.
    let stranger = udp(SERVER2, 53, public, port, b"no");
    assert_eq!(
        verdict(&mut w, Side::Outside, &stranger, at(2)),
        Verdict::Drop(DropReason::Filtered)
    );
    assert_eq!(w.counters().dropped(DropReason::Filtered), 1);
    let before = nat.sessions().len();
    // Once the subscriber sends to it, it is let in (on any port).
    out(&mut w, udp(SUB_A, 5000, SERVER2, 7, b"hi"), at(3));
    assert_eq!(nat.sessions().len(), before + 1);
    let v = inb(&mut w, stranger, at(4));
    assert_eq!((v.src, v.sport, v.dst, v.dport), (SERVER2, 53, SUB_A, 5000));
    // The filter is per inside endpoint: another mapping of the same
    // subscriber that never talked to SERVER3 keeps it out.
    let v2 = out(&mut w, udp(SUB_A, 5001, SERVER2, 7, b"hi"), at(5));
    assert_eq!(
        verdict(&mut w, Side::Outside, &udp(SERVER, 53, v2.src, v2.sport, b""), at(6)),
        Verdict::Drop(DropReason::Filtered),
        "SUB_A:5001 never sent to SERVER"
    );
    check_invariants(&nat);
}

//= https://www.rfc-editor.org/rfc/rfc4787#section-5
//# Address and Port-Dependent Filtering: (...) the NAT will filter out
//# packets from Y:y destined for the internal endpoint X:x if X:x has not
//# sent packets to Y:y previously.
#[test]
fn rfc4787_req8_address_and_port_dependent_filtering_admits_exact_endpoints_only() {
    let nat = nat_with("address-and-port-dependent");
    let mut w = worker(&nat);
    let (public, port) = open(&mut w);
    let v = inb(&mut w, udp(SERVER, 53, public, port, b"reply"), at(1));
    assert_eq!((v.dst, v.dport), (SUB_A, 5000));
    for (r, rp) in [(SERVER, 54), (SERVER2, 53), (SERVER3, 5000)] {
        assert_eq!(
            verdict(&mut w, Side::Outside, &udp(r, rp, public, port, b""), at(2)),
            Verdict::Drop(DropReason::Filtered),
            "{r}:{rp} was never contacted"
        );
    }
    assert_eq!(w.counters().dropped(DropReason::Filtered), 3);
    assert_eq!(nat.sessions().len(), 1, "a filtered packet creates no session");
    // TCP: a SYN from a port that was not contacted is filtered too.
    let t = out(&mut w, tcp(SUB_A, 6000, SERVER, 443, SYN, b""), at(3));
    assert_eq!(
        verdict(&mut w, Side::Outside, &tcp(SERVER, 444, t.src, t.sport, SYN, b""), at(3)),
        Verdict::Drop(DropReason::Filtered)
    );
    let v = inb(&mut w, tcp(SERVER, 443, t.src, t.sport, SYN | ACK, b""), at(3));
    assert_eq!((v.dst, v.dport, v.tcp_flags), (SUB_A, 6000, SYN | ACK));
    // ICMP echo replies come only from the address pinged.
    let e = out(&mut w, echo_request(SUB_A, SERVER, 42, 1, b"p"), at(4));
    assert_eq!(
        verdict(&mut w, Side::Outside, &echo_reply(SERVER2, e.src, e.sport, 1, b"p"), at(4)),
        Verdict::Drop(DropReason::Filtered)
    );
    let r = inb(&mut w, echo_reply(SERVER, e.src, e.sport, 1, b"p"), at(4));
    assert_eq!((r.dst, r.sport, r.icmp_seq), (SUB_A, 42, 1));
    check_invariants(&nat);
}

//= https://www.rfc-editor.org/rfc/rfc4787#section-5
//# a NAT MUST filter out (...) packets not destined to an existing mapping
//
// Unsolicited inbound traffic (no mapping on the public port) is dropped
// whatever the filtering behaviour, and creates nothing.
#[test]
fn unsolicited_inbound_without_mapping_is_dropped_in_every_filtering_mode() {
    for f in FILTERS {
        let nat = nat_with(f);
        let mut w = worker(&nat);
        let (public, port) = open(&mut w);
        let block = nat.lookup_public(public, port).unwrap().block;
        let sessions = nat.sessions().len();
        let mappings = nat.mappings().len();
        // Another port in the subscriber's own block, a port of a block no
        // one holds, another pool address, each protocol.
        let unused_in_block = if port == block.last_port { port - 1 } else { port + 1 };
        let other_addr = Ipv4Addr::from(u32::from(public) ^ 1);
        let probes = [
            udp(SERVER, 53, public, unused_in_block, b""),
            udp(SERVER, 53, public, if block.first_port > 2000 { 1500 } else { 65000 }, b""),
            udp(SERVER, 53, other_addr, port, b""),
            tcp(SERVER, 53, public, port, SYN, b""),
            echo_reply(SERVER, public, port, 0, b""),
            tcp(SERVER, 80, public, 1023, SYN, b""),
        ];
        for (i, p) in probes.iter().enumerate() {
            assert_eq!(
                verdict(&mut w, Side::Outside, p, at(1)),
                Verdict::Drop(DropReason::NoMapping),
                "{f}: probe {i}"
            );
        }
        assert_eq!(w.counters().dropped(DropReason::NoMapping), probes.len() as u64);
        assert_eq!((nat.sessions().len(), nat.mappings().len()), (sessions, mappings), "{f}");
        // Traffic to an address that is not ours at all.
        assert_eq!(
            verdict(&mut w, Side::Outside, &udp(SERVER, 53, SERVER2, port, b""), at(1)),
            Verdict::Drop(DropReason::NotForPool)
        );
        // Nor may an outsider reach a subscriber's inside address directly.
        assert_eq!(
            verdict(&mut w, Side::Outside, &udp(SERVER, 53, SUB_A, 5000, b""), at(1)),
            Verdict::Drop(DropReason::NotForPool)
        );
    }
}

/// The filtering state follows the sessions: once the session to a remote
/// expires, address-dependent filtering closes again.
#[test]
fn rfc4787_req8_address_dependent_filter_closes_when_sessions_expire() {
    let nat = nat_with("address-dependent");
    let mut w = worker(&nat);
    let mut sweeper = cgnat_core::sweeper::Sweeper::new(nat.clone(), Vec::new());
    let (public, port) = open(&mut w);
    // Keep the mapping alive through a second session to SERVER2.
    out(&mut w, udp(SUB_A, 5000, SERVER2, 53, b""), at(200));
    sweeper.sweep_all(at(301));
    assert_eq!(nat.sessions().len(), 1, "the SERVER session expired, the SERVER2 one lives");
    assert_eq!(
        verdict(&mut w, Side::Outside, &udp(SERVER, 53, public, port, b""), at(302)),
        Verdict::Drop(DropReason::Filtered)
    );
    let v = inb(&mut w, udp(SERVER2, 1234, public, port, b""), at(302));
    assert_eq!(v.dst, SUB_A);
}
