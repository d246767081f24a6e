//! Mapping behaviour: RFC 4787 REQ-1 (endpoint-independent mapping), REQ-2
//! (paired address pooling), REQ-3 (no port overloading), RFC 6888 REQ-15
//! (unpredictable ports) and REQ-14 (one log record per port block).

mod common;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::net::Ipv4Addr;

use cgnat_core::event::{EventKind, ProtocolScope, Reason};
use cgnat_core::flow::Protocol;
use cgnat_core::Side;
use common::*;

//= https://www.rfc-editor.org/rfc/rfc4787#section-4.1
//# REQ-1: A NAT MUST have an "Endpoint-Independent Mapping" behavior.
#[test]
fn rfc4787_req1_same_inside_endpoint_same_public_endpoint_for_every_destination() {
    let nat = nat("");
    let mut w = worker(&nat);
    let dests = [(SERVER, 53), (SERVER2, 53), (SERVER3, 4000), (SERVER, 54), (SERVER2, 65535)];
    let mut seen = BTreeSet::new();
    for (i, (d, dp)) in dests.into_iter().enumerate() {
        let payload = format!("query {i}");
        let v = out(&mut w, udp(SUB_A, 5000, d, dp, payload.as_bytes()), at(i as u64));
        assert_eq!((v.dst, v.dport), (d, dp), "destination untouched");
        assert_eq!(v.payload, payload.as_bytes(), "payload untouched");
        assert!(nat.pool().index_of(u32::from(v.src)).is_some(), "source is a pool address");
        seen.insert((v.src, v.sport));
    }
    assert_eq!(seen.len(), 1, "one public endpoint for five destinations: {seen:?}");
    // A different inside port of the same subscriber is a different mapping.
    let other = out(&mut w, udp(SUB_A, 5001, SERVER, 53, b"x"), at(10));
    assert_ne!(Some(&(other.src, other.sport)), seen.first());
    // The mapping survives the first session's direction: each of the
    // destinations can answer on the common public endpoint.
    let (public, port) = *seen.first().unwrap();
    for (d, dp) in dests {
        let v = inb(&mut w, udp(d, dp, public, port, b"answer"), at(11));
        assert_eq!((v.dst, v.dport, v.src, v.sport), (SUB_A, 5000, d, dp));
    }
}

//= https://www.rfc-editor.org/rfc/rfc4787#section-4.1
//# REQ-1 applies per transport: TCP and ICMP query identifiers have their
//# own endpoint-independent mappings too (RFC 5382 REQ-1, RFC 5508 REQ-3).
#[test]
fn rfc5382_req1_and_rfc5508_tcp_and_icmp_mappings_are_endpoint_independent() {
    let nat = nat("");
    let mut w = worker(&nat);
    let t1 = out(&mut w, tcp(SUB_A, 40000, SERVER, 443, SYN, b""), at(0));
    let t2 = out(&mut w, tcp(SUB_A, 40000, SERVER2, 80, SYN, b""), at(0));
    assert_eq!((t1.src, t1.sport), (t2.src, t2.sport));
    let i1 = out(&mut w, echo_request(SUB_A, SERVER, 77, 1, b"ping"), at(0));
    let i2 = out(&mut w, echo_request(SUB_A, SERVER3, 77, 1, b"ping"), at(0));
    assert_eq!((i1.src, i1.sport), (i2.src, i2.sport));
    assert_eq!(i1.icmp_seq, 1, "sequence number untouched");
}

//= https://www.rfc-editor.org/rfc/rfc4787#section-4.1
//# REQ-2: A NAT MUST support "IP address pooling" behavior of "Paired"
//# (...) "Paired" pooling behavior: the NAT will use the same external IP
//# address mapping for all sessions associated with the same internal IP
//# address.
#[test]
fn rfc4787_req2_paired_pooling_one_public_address_per_subscriber() {
    let nat = nat("");
    let mut w = worker(&nat);
    let mut addr_of: HashMap<Ipv4Addr, HashSet<Ipv4Addr>> = HashMap::new();
    for s in 0..40u32 {
        let sub = Ipv4Addr::from(u32::from(SUB_A) + s * 7);
        for f in 0..12u16 {
            let dst = Ipv4Addr::from(u32::from(SERVER) + f as u32);
            let pkt = match f % 3 {
                0 => udp(sub, 2000 + f, dst, 53, b"q"),
                1 => tcp(sub, 2000 + f, dst, 443, SYN, b""),
                _ => echo_request(sub, dst, 2000 + f, 0, b"p"),
            };
            let v = out(&mut w, pkt, at(f as u64));
            addr_of.entry(sub).or_default().insert(v.src);
        }
    }
    let mut used = HashSet::new();
    for (sub, addrs) in &addr_of {
        assert_eq!(addrs.len(), 1, "RFC 4787 REQ-2: subscriber {sub} used {addrs:?}");
        let public = *addrs.iter().next().unwrap();
        let s = nat.subscribers().find(u32::from(*sub)).expect("subscriber entry");
        assert_eq!(nat.pool().addr_of(s.pool_index), u32::from(public));
        used.insert(public);
    }
    // 40 subscribers over a /28: the choice spreads over the pool.
    assert!(used.len() >= 8, "subscribers spread over the pool: {used:?}");
    check_invariants(&nat);
}

//= https://www.rfc-editor.org/rfc/rfc4787#section-4.1
//# REQ-3: A NAT MUST NOT have a "Port assignment" behavior of "Port
//# overloading".
#[test]
fn rfc4787_req3_no_two_inside_endpoints_share_a_public_port() {
    // One public address, so every subscriber competes for its ports.
    let nat = nat("pool = [\"203.0.113.5/32\"]\nblock_size = 64\nmax_blocks_per_subscriber = 8");
    let mut w = worker(&nat);
    let mut owner: HashMap<(u8, Ipv4Addr, u16), (Ipv4Addr, u16)> = HashMap::new();
    let mut endpoints = Vec::new();
    for s in 0..16u32 {
        let sub = Ipv4Addr::from(u32::from(SUB_A) + s);
        for p in 0..40u16 {
            // The same inside ports on every subscriber, and every
            // subscriber talks to the same server port.
            let inside_port = 1000 + p;
            for (proto, pkt) in [
                (17u8, udp(sub, inside_port, SERVER, 53, b"u")),
                (6u8, tcp(sub, inside_port, SERVER, 53, SYN, b"")),
            ] {
                let v = out(&mut w, pkt, at(0));
                assert_eq!(v.src, Ipv4Addr::new(203, 0, 113, 5));
                let prev = owner.insert((proto, v.src, v.sport), (sub, inside_port));
                assert!(
                    prev.is_none() || prev == Some((sub, inside_port)),
                    "RFC 4787 REQ-3: {proto}/{}:{} given to {prev:?} and {sub}:{inside_port}",
                    v.src,
                    v.sport
                );
                endpoints.push((proto, sub, inside_port, v.sport));
            }
        }
    }
    assert_eq!(owner.len(), 16 * 40 * 2);
    // And the reverse direction reaches exactly the right endpoint.
    for (proto, sub, inside_port, public_port) in endpoints {
        let public = Ipv4Addr::new(203, 0, 113, 5);
        let pkt = if proto == 17 {
            udp(SERVER, 53, public, public_port, b"r")
        } else {
            tcp(SERVER, 53, public, public_port, SYN | ACK, b"")
        };
        let v = inb(&mut w, pkt, at(1));
        assert_eq!((v.dst, v.dport), (sub, inside_port));
    }
    check_invariants(&nat);
}

//= https://www.rfc-editor.org/rfc/rfc6888#section-5
//# REQ-15: A CGN's port allocation scheme SHOULD make it hard for attackers
//# to guess port numbers.
#[test]
fn rfc6888_req15_ports_are_not_sequential() {
    let nat = nat("");
    let mut w = worker(&nat);
    let ports: Vec<u16> = (0..256u16)
        .map(|i| out(&mut w, udp(SUB_A, 10_000 + i, SERVER, 443, b""), at(0)).sport)
        .collect();
    let distinct: HashSet<u16> = ports.iter().copied().collect();
    assert_eq!(distinct.len(), 256);
    let sequential = ports.windows(2).filter(|p| p[1] == p[0].wrapping_add(1)).count();
    assert!(sequential < 26, "{sequential} of 255 consecutive ports are sequential: {ports:?}");
    let deltas: HashSet<i32> = ports.windows(2).map(|p| p[1] as i32 - p[0] as i32).collect();
    assert!(deltas.len() > 100, "only {} distinct steps between ports", deltas.len());
    // Another seed picks other ports for the same traffic.
    let nat2 = common::nat("seed = 987654321");
    let mut w2 = worker(&nat2);
    let ports2: Vec<u16> = (0..16u16)
        .map(|i| out(&mut w2, udp(SUB_A, 10_000 + i, SERVER, 443, b""), at(0)).sport)
        .collect();
    assert_ne!(ports[..16], ports2[..], "the port choice depends on the secret seed");
}

//= https://www.rfc-editor.org/rfc/rfc6888#section-5
//# REQ-14: A CGN's port allocation scheme SHOULD minimize log volume.
//
// Ports are allocated in blocks and each block is logged once, when it is
// allocated (and once when released).
#[test]
fn rfc6888_req14_one_block_allocated_record_per_block_and_ports_stay_in_it() {
    let nat = nat("");
    let mut w = worker(&nat);
    let mut public = None;
    let mut ports = Vec::new();
    for i in 0..600u16 {
        let v = out(&mut w, udp(SUB_A, 20_000 + i, SERVER, 53, b""), at(5));
        assert!(public.is_none() || public == Some(v.src), "REQ-2");
        public = Some(v.src);
        ports.push(v.sport);
        if i == 0 {
            assert_eq!(
                of_kind(w.sink_mut(), EventKind::BlockAllocated).len(),
                1,
                "first mapping logs its block"
            );
        }
    }
    let public = public.unwrap();
    // A TCP and an ICMP mapping of the same subscriber use its blocks too:
    // a block covers all three protocols.
    let t = out(&mut w, tcp(SUB_A, 1, SERVER, 80, SYN, b""), at(5));
    let e = out(&mut w, echo_request(SUB_A, SERVER, 9, 9, b""), at(5));
    ports.push(t.sport);
    ports.push(e.sport);
    let allocs = of_kind(w.sink_mut(), EventKind::BlockAllocated);
    assert_eq!(allocs.len(), 2, "600 UDP mappings need exactly two blocks of 512: {allocs:?}");
    let mut ranges = Vec::new();
    for (i, a) in allocs.iter().enumerate() {
        assert_eq!(a.seq, i as u64, "gapless sequence numbers");
        assert_eq!(a.subscriber, SUB_A);
        assert_eq!(a.public_addr, public);
        assert_eq!(a.reason, Reason::NewMapping);
        assert_eq!(a.protocol, ProtocolScope::All);
        assert_eq!(a.time, at(5));
        assert_eq!(a.last_port as u32 - a.first_port as u32 + 1, 512);
        assert_eq!((a.first_port - 1024) % 512, 0, "block aligned on the port range");
        ranges.push(a.first_port..=a.last_port);
    }
    assert_ne!(ranges[0], ranges[1]);
    for p in &ports {
        assert!(
            ranges.iter().any(|r| r.contains(p)),
            "port {p} outside the subscriber's blocks {ranges:?}"
        );
        let owner = nat.lookup_public(public, *p).expect("live owner");
        assert_eq!(owner.subscriber, SUB_A);
        assert_eq!(owner.kind, "dynamic");
    }
    // The first block was filled before the second was taken.
    assert_eq!(ports[..512].iter().filter(|p| ranges[0].contains(p)).count(), 512);
    assert!(w.sink_mut().iter().all(|e| e.kind == EventKind::BlockAllocated), "no other event");
    // Another subscriber gets its own blocks, never one of these.
    let b = out(&mut w, udp(SUB_B, 20_000, SERVER, 53, b""), at(6));
    let allocs = of_kind(w.sink_mut(), EventKind::BlockAllocated);
    assert_eq!(allocs.len(), 3);
    assert_eq!(allocs[2].subscriber, SUB_B);
    assert!((allocs[2].first_port..=allocs[2].last_port).contains(&b.sport));
    if allocs[2].public_addr == public {
        assert!(ranges.iter().all(|r| !r.contains(&b.sport)));
    }
    check_invariants(&nat);
}

/// The live lookup (`cgnatctl lookup`) agrees with the translation.
#[test]
fn lookup_public_names_the_mapping_and_its_subscriber() {
    let nat = nat("");
    let mut w = worker(&nat);
    let v = out(&mut w, udp(SUB_C, 3333, SERVER, 53, b""), at(0));
    let owner = nat.lookup_public(v.src, v.sport).unwrap();
    assert_eq!(owner.subscriber, SUB_C);
    assert_eq!(owner.mappings, vec![(Protocol::Udp, 3333)]);
    assert!(owner.block.first_port <= v.sport && v.sport <= owner.block.last_port);
    // A port of the same block with no mapping still names the block owner.
    let other = if v.sport == owner.block.first_port {
        v.sport + 1
    } else {
        v.sport - 1
    };
    let o2 = nat.lookup_public(v.src, other).unwrap();
    assert_eq!(o2.subscriber, SUB_C);
    assert!(o2.mappings.is_empty());
    // A block nobody holds, and an address outside the pool.
    let far = if owner.block.first_port > 30_000 { 1024 } else { 60_000 };
    assert_eq!(nat.lookup_public(v.src, far), None);
    assert_eq!(nat.lookup_public(SERVER, v.sport), None);
    assert_eq!(
        common::verdict(&mut w, Side::Outside, &udp(SERVER, 53, v.src, far, b""), at(1)),
        cgnat_core::Verdict::Drop(cgnat_core::DropReason::NoMapping)
    );
}
