//! The PCP server (RFC 6887) and its NAT-PMP side (RFC 6886) against the
//! real NAT (issue 12 items 1, 2 and 4): requests written out byte by byte
//! from the RFCs' diagrams, answers checked at their RFC offsets, and the
//! mappings checked with real packets through a worker.

mod common;

use std::net::Ipv4Addr;

use cgnat_core::pcp::{PcpLimits, PcpServer, Reply};
use cgnat_core::wire::pcp::{self, Response, ResultCode};
use cgnat_core::{DropReason, Side, Verdict};
use common::*;

/// A PCP request, RFC 6887 figure 2 (header) + figure 9 (MAP), built by
/// hand: version 2, `opcode`, `lifetime`, client address `client`,
/// nonce, `protocol`, internal port, suggested external port, suggested
/// external address zero, then `options` (already in wire form).
fn map_request(client: Ipv4Addr, lifetime: u32, nonce: u8, protocol: u8, internal: u16, suggested: u16, options: &[u8]) -> Vec<u8> {
    let mut m = vec![2, 1, 0, 0];
    m.extend_from_slice(&lifetime.to_be_bytes());
    m.extend_from_slice(&[0; 10]);
    m.extend_from_slice(&[0xff, 0xff]);
    m.extend_from_slice(&client.octets());
    m.extend_from_slice(&[nonce; 12]);
    m.extend_from_slice(&[protocol, 0, 0, 0]);
    m.extend_from_slice(&internal.to_be_bytes());
    m.extend_from_slice(&suggested.to_be_bytes());
    m.extend_from_slice(&[0; 16]);
    m.extend_from_slice(options);
    m
}

/// Runs one request and returns the answer's bytes.
fn ask(s: &mut PcpServer, w: &mut cgnat_core::Worker<Vec<cgnat_core::Event>>, src: Ipv4Addr, req: &[u8], secs: u64) -> Vec<u8> {
    let mut out = [0u8; pcp::MAX_LEN];
    match s.handle(w, src, req, at(secs), &mut out) {
        Reply::Send(n) => out[..n].to_vec(),
        other => panic!("expected an answer to send, got {other:?}"),
    }
}

/// The result code byte of a PCP answer (RFC 6887 figure 3, octet 3).
fn result(a: &[u8]) -> u8 {
    a[3]
}

/// The lifetime of a PCP answer (octets 4-7).
fn lifetime(a: &[u8]) -> u32 {
    u32::from_be_bytes([a[4], a[5], a[6], a[7]])
}

/// The assigned external port and address of a MAP answer (octets 24+18
/// and 24+20).
fn assigned(a: &[u8]) -> (Ipv4Addr, u16) {
    let port = u16::from_be_bytes([a[42], a[43]]);
    let addr = Ipv4Addr::new(a[56], a[57], a[58], a[59]);
    assert_eq!(a[44..56], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff], "IPv4-mapped");
    (addr, port)
}

fn server() -> PcpServer {
    PcpServer::new(PcpLimits::default(), T0)
}

fn strict() -> std::sync::Arc<cgnat_core::Nat> {
    nat("filtering = \"address-and-port-dependent\"")
}

//= https://www.rfc-editor.org/rfc/rfc6887#section-11.3
//# If the PCP-controlled device can create the mapping, it does so and
//# sends a MAP response with a SUCCESS result code.
#[test]
fn map_grants_a_mapping_that_lets_a_stranger_in() {
    let nat = strict();
    let mut w = worker(&nat);
    let mut s = server();
    let a = ask(&mut s, &mut w, SUB_A, &map_request(SUB_A, 3600, 7, 6, 8080, 0, &[]), 5);
    assert_eq!(a.len(), 60);
    assert_eq!((a[0], a[1], result(&a)), (2, 0x81, 0), "version 2, R bit, MAP, SUCCESS");
    assert_eq!(lifetime(&a), 3600);
    assert_eq!(
        u32::from_be_bytes([a[8], a[9], a[10], a[11]]),
        5,
        "epoch: seconds since the server started"
    );
    assert_eq!(a[24..36], [7; 12], "nonce echoed");
    let (public, port) = assigned(&a);
    let v = inb(&mut w, tcp(SERVER3, 33333, public, port, SYN, b""), at(6));
    assert_eq!((v.dst, v.dport), (SUB_A, 8080));
    assert_eq!(s.mappings().count(), 1);
    check_invariants(&nat);
}

//= https://www.rfc-editor.org/rfc/rfc6887#section-15
//# The PCP server SHOULD be configurable for permitted minimum and
//# maximum lifetime
#[test]
fn lifetimes_are_clamped_to_the_server_bounds() {
    let nat = strict();
    let mut w = worker(&nat);
    let mut s = server();
    let a = ask(&mut s, &mut w, SUB_A, &map_request(SUB_A, 10, 1, 17, 5000, 0, &[]), 0);
    assert_eq!((result(&a), lifetime(&a)), (0, 120));
    let a = ask(&mut s, &mut w, SUB_A, &map_request(SUB_A, 10_000_000, 1, 17, 5000, 0, &[]), 1);
    assert_eq!((result(&a), lifetime(&a)), (0, 86_400));
}

/// RFC 6887 section 8.1: "the PCP server compares the source IP address
/// ... with the PCP Client's IP Address field ... If they do not match,
/// ... ADDRESS_MISMATCH" (a NAT between client and server, or a spoofer
/// asking for another subscriber: issue 12 item 2).
#[test]
fn a_request_for_another_address_is_address_mismatch() {
    let nat = strict();
    let mut w = worker(&nat);
    let mut s = server();
    let a = ask(&mut s, &mut w, SUB_A, &map_request(SUB_B, 3600, 1, 6, 80, 0, &[]), 0);
    assert_eq!(result(&a), ResultCode::AddressMismatch as u8);
    assert_eq!(lifetime(&a), 1800, "a long-lifetime error");
    assert_eq!(nat.mappings().len(), 0, "nothing created");
}

//= https://www.rfc-editor.org/rfc/rfc6887#section-11.2
//# The mapping nonce ... is used to verify that a MAP request ... that
//# modifies an existing mapping comes from the same PCP client
#[test]
fn a_mapping_belongs_to_its_nonce_and_lifetime_zero_deletes_it() {
    let nat = strict();
    let mut w = worker(&nat);
    let mut s = server();
    let a = ask(&mut s, &mut w, SUB_A, &map_request(SUB_A, 600, 1, 17, 4000, 0, &[]), 0);
    let (public, port) = assigned(&a);
    let other = ask(&mut s, &mut w, SUB_A, &map_request(SUB_A, 600, 2, 17, 4000, 0, &[]), 1);
    assert_eq!(result(&other), ResultCode::NotAuthorized as u8);
    let del_other = ask(&mut s, &mut w, SUB_A, &map_request(SUB_A, 0, 2, 17, 4000, 0, &[]), 2);
    assert_eq!(result(&del_other), ResultCode::NotAuthorized as u8);
    assert_eq!(s.mappings().count(), 1);
    let del = ask(&mut s, &mut w, SUB_A, &map_request(SUB_A, 0, 1, 17, 4000, 0, &[]), 3);
    assert_eq!((result(&del), lifetime(&del)), (0, 0));
    assert_eq!(s.mappings().count(), 0);
    let late = udp(SERVER, 9, public, port, b"x");
    assert_eq!(verdict(&mut w, Side::Outside, &late, at(4)), Verdict::Drop(DropReason::NoMapping));
    check_invariants(&nat);
}

/// Issue 12 item 2: "per-subscriber limits on PCP mappings": USER_EX_QUOTA,
/// a short-lifetime error (RFC 6887 section 7.4).
#[test]
fn the_per_subscriber_limit_answers_user_ex_quota() {
    let nat = strict();
    let mut w = worker(&nat);
    let mut s = PcpServer::new(
        PcpLimits {
            max_mappings_per_subscriber: 2,
            ..PcpLimits::default()
        },
        T0,
    );
    for port in [1000, 1001] {
        assert_eq!(
            result(&ask(&mut s, &mut w, SUB_A, &map_request(SUB_A, 600, 1, 6, port, 0, &[]), 0)),
            0
        );
    }
    let a = ask(&mut s, &mut w, SUB_A, &map_request(SUB_A, 600, 1, 6, 1002, 0, &[]), 0);
    assert_eq!((result(&a), lifetime(&a)), (ResultCode::UserExQuota as u8, 30));
    // Another subscriber has its own budget; a refresh is not a new one.
    assert_eq!(
        result(&ask(&mut s, &mut w, SUB_B, &map_request(SUB_B, 600, 1, 6, 1002, 0, &[]), 0)),
        0
    );
    assert_eq!(
        result(&ask(&mut s, &mut w, SUB_A, &map_request(SUB_A, 900, 1, 6, 1000, 0, &[]), 1)),
        0
    );
}

//= https://www.rfc-editor.org/rfc/rfc6887#section-13.2
//# the PCP server MUST NOT create an alternative mapping if it cannot
//# create the requested mapping
#[test]
fn prefer_failure_refuses_another_port_and_leaves_nothing_behind() {
    let nat = strict();
    let mut w = worker(&nat);
    let mut s = server();
    // PREFER_FAILURE: code 2, length 0.
    let a = ask(&mut s, &mut w, SUB_A, &map_request(SUB_A, 600, 1, 6, 80, 80, &[2, 0, 0, 0]), 0);
    assert_eq!(result(&a), ResultCode::CannotProvideExternal as u8);
    assert_eq!(a[60..], [2, 0, 0, 0], "the option echoed");
    assert_eq!((nat.mappings().len(), s.mappings().count()), (0, 0));
    // Without a suggested port it succeeds.
    let a = ask(&mut s, &mut w, SUB_A, &map_request(SUB_A, 600, 1, 6, 80, 0, &[2, 0, 0, 0]), 1);
    assert_eq!(result(&a), 0);
}

//= https://www.rfc-editor.org/rfc/rfc6887#section-13.1
//# A PCP server MUST be configurable to permit or to prohibit PCP
//# requests with the THIRD_PARTY option.
#[test]
fn third_party_is_refused_unless_the_client_is_trusted() {
    let nat = strict();
    let mut w = worker(&nat);
    let mut tp = vec![1, 0, 0, 16];
    tp.extend_from_slice(&pcp::mapped(SUB_B).octets());
    let mut s = server();
    let a = ask(&mut s, &mut w, SUB_A, &map_request(SUB_A, 600, 1, 6, 80, 0, &tp), 0);
    assert_eq!(result(&a), ResultCode::UnsuppOption as u8);
    let mut s = PcpServer::new(
        PcpLimits {
            third_party_from: vec!["100.64.1.0/24".parse().unwrap()],
            ..PcpLimits::default()
        },
        T0,
    );
    let a = ask(&mut s, &mut w, SUB_A, &map_request(SUB_A, 600, 1, 6, 80, 0, &tp), 0);
    assert_eq!(result(&a), ResultCode::NotAuthorized as u8, "{SUB_A} is not a trusted client");
    let a = ask(&mut s, &mut w, SUB_C, &map_request(SUB_C, 600, 1, 6, 80, 0, &tp), 0);
    assert_eq!(result(&a), 0, "{SUB_C} is");
    let (public, port) = assigned(&a);
    let v = inb(&mut w, tcp(SERVER, 1234, public, port, SYN, b""), at(1));
    assert_eq!((v.dst, v.dport), (SUB_B, 80), "the mapping is the third party's");
}

/// A FILTER option (RFC 6887 figure 15): code 3, length 20, reserved,
/// prefix length over the IPv4-mapped address, remote port, address.
fn filter_option(peer: Ipv4Addr, prefix_len: u8, port: u16) -> Vec<u8> {
    let mut f = vec![3, 0, 0, 20, 0, prefix_len];
    f.extend_from_slice(&port.to_be_bytes());
    f.extend_from_slice(&pcp::mapped(peer).octets());
    f
}

/// A PEER request (RFC 6887 figure 10): MAP's fields, then the remote
/// peer's port, two reserved octets and its address.
fn peer_request(client: Ipv4Addr, lifetime: u32, nonce: u8, protocol: u8, internal: u16, remote: Ipv4Addr, remote_port: u16) -> Vec<u8> {
    let mut m = map_request(client, lifetime, nonce, protocol, internal, 0, &[]);
    m[1] = pcp::opcode::PEER;
    m.extend_from_slice(&remote_port.to_be_bytes());
    m.extend_from_slice(&[0, 0]);
    m.extend_from_slice(&pcp::mapped(remote).octets());
    m
}

//= https://www.rfc-editor.org/rfc/rfc6887#section-13.3
//# The FILTER option is used to indicate the filtering policy for
//# inbound traffic to a mapping.
//
// "... the PCP server MUST ... permit only the remote peer(s) ... and
// drop packets from other remote peers." A prefix length of 0 removes the
// filters; a refresh without FILTER keeps them.
#[test]
fn filter_admits_only_the_named_peers_even_under_endpoint_independent_filtering() {
    let nat = nat("filtering = \"endpoint-independent\"");
    let mut w = worker(&nat);
    let mut s = server();
    let a = ask(
        &mut s,
        &mut w,
        SUB_A,
        &map_request(SUB_A, 600, 1, 6, 80, 0, &filter_option(SERVER, 128, 0)),
        0,
    );
    assert_eq!(result(&a), 0, "FILTER accepted");
    assert_eq!(&a[60..64], &[3, 0, 0, 20], "the FILTER option is echoed");
    let (public, port) = assigned(&a);
    let v = inb(&mut w, tcp(SERVER, 1234, public, port, SYN, b""), at(1));
    assert_eq!((v.dst, v.dport), (SUB_A, 80), "the named peer gets in");
    let other = tcp(SERVER3, 1234, public, port, SYN, b"");
    assert_eq!(
        verdict(&mut w, Side::Outside, &other, at(1)),
        Verdict::Drop(DropReason::Filtered),
        "others do not"
    );
    // A refresh without FILTER keeps the filters.
    let a = ask(&mut s, &mut w, SUB_A, &map_request(SUB_A, 600, 1, 6, 80, 0, &[]), 2);
    assert_eq!(result(&a), 0);
    assert_eq!(verdict(&mut w, Side::Outside, &other, at(2)), Verdict::Drop(DropReason::Filtered));
    // Prefix length 0: every peer again.
    let a = ask(
        &mut s,
        &mut w,
        SUB_A,
        &map_request(SUB_A, 600, 1, 6, 80, 0, &filter_option(Ipv4Addr::UNSPECIFIED, 0, 0)),
        3,
    );
    assert_eq!(result(&a), 0);
    let v = inb(&mut w, other, at(3));
    assert_eq!((v.dst, v.dport), (SUB_A, 80));
    // More peers than the server keeps per mapping.
    let five: Vec<u8> = (1..=5).flat_map(|i| filter_option(Ipv4Addr::new(192, 0, 2, i), 128, 0)).collect();
    let a = ask(&mut s, &mut w, SUB_A, &map_request(SUB_A, 600, 1, 6, 81, 0, &five), 4);
    assert_eq!(result(&a), ResultCode::ExcessiveRemotePeers as u8);
    // A prefix shorter than the IPv4-mapped part names no IPv4 peers.
    let a = ask(
        &mut s,
        &mut w,
        SUB_A,
        &map_request(SUB_A, 600, 1, 6, 81, 0, &filter_option(SERVER, 64, 0)),
        4,
    );
    assert_eq!(result(&a), ResultCode::MalformedOption as u8);
    check_invariants(&nat);
}

//= https://www.rfc-editor.org/rfc/rfc6887#section-12
//# The PEER Opcode allows a PCP client to create a new explicit dynamic
//# outbound mapping to a remote peer, or to extend the lifetime of an
//# existing outbound mapping.
#[test]
fn peer_keeps_the_outbound_mapping_for_its_lifetime_and_lets_that_peer_reply() {
    let nat = strict();
    let mut w = worker(&nat);
    let mut s = server();
    let a = ask(&mut s, &mut w, SUB_A, &peer_request(SUB_A, 600, 4, 17, 5000, SERVER, 53), 0);
    assert_eq!(result(&a), 0);
    assert_eq!(a[1], 0x80 | pcp::opcode::PEER);
    assert_eq!(a.len(), 24 + 56, "PEER answer length");
    let (public, port) = assigned(&a);
    // The subscriber's flow to the peer leaves on the port PEER gave.
    let v = out(&mut w, udp(SUB_A, 5000, SERVER, 53, b"q"), at(1));
    assert_eq!((v.src, v.sport), (public, port));
    // Long after the UDP session timeout the mapping is still there and
    // the peer still reaches it; another remote does not (strict NAT).
    let later = 400;
    let mut sweeper = cgnat_core::sweeper::Sweeper::new(nat.clone(), Vec::new());
    sweeper.sweep_all(at(later));
    let v = inb(&mut w, udp(SERVER, 53, public, port, b"a"), at(later));
    assert_eq!((v.dst, v.dport), (SUB_A, 5000));
    let other = udp(SERVER3, 53, public, port, b"a");
    assert_eq!(
        verdict(&mut w, Side::Outside, &other, at(later)),
        Verdict::Drop(DropReason::Filtered)
    );
    // Another nonce cannot delete it; the owner can, and the hold goes.
    let a = ask(&mut s, &mut w, SUB_A, &peer_request(SUB_A, 0, 5, 17, 5000, SERVER, 53), later);
    assert_eq!(result(&a), ResultCode::NotAuthorized as u8);
    let a = ask(&mut s, &mut w, SUB_A, &peer_request(SUB_A, 0, 4, 17, 5000, SERVER, 53), later);
    assert_eq!(result(&a), 0);
    assert_eq!(s.mappings().count(), 0);
    sweeper.sweep_all(at(later + 400));
    assert_eq!(nat.mappings().len(), 0, "nothing holds the port any more");
    check_invariants(&nat);
}

/// A MAP and a PEER of one internal endpoint share its mapping: ending one
/// leaves the other's hold; the MAP's openness (no FILTER) wins while it lasts.
#[test]
fn map_and_peer_of_one_endpoint_share_the_mapping() {
    let nat = strict();
    let mut w = worker(&nat);
    let mut s = server();
    let p = ask(&mut s, &mut w, SUB_A, &peer_request(SUB_A, 600, 4, 6, 80, SERVER, 443), 0);
    let m = ask(&mut s, &mut w, SUB_A, &map_request(SUB_A, 600, 9, 6, 80, 0, &[]), 0);
    assert_eq!((result(&p), result(&m)), (0, 0));
    assert_eq!(assigned(&p), assigned(&m), "one endpoint, one external port");
    let (public, port) = assigned(&m);
    let v = inb(&mut w, tcp(SERVER3, 7, public, port, SYN, b""), at(1));
    assert_eq!(v.dst, SUB_A, "MAP admits anyone");
    let a = ask(&mut s, &mut w, SUB_A, &map_request(SUB_A, 0, 9, 6, 80, 0, &[]), 2);
    assert_eq!(result(&a), 0);
    assert!(!nat.mappings().is_empty(), "the PEER still holds the mapping");
    let other = tcp(SERVER2, 7, public, port, SYN, b"");
    assert_eq!(
        verdict(&mut w, Side::Outside, &other, at(3)),
        Verdict::Drop(DropReason::Filtered),
        "only the PEER's remote now"
    );
    let v = inb(&mut w, tcp(SERVER, 443, public, port, SYN, b""), at(3));
    assert_eq!(v.dst, SUB_A);
    check_invariants(&nat);
}

/// Protocols other than TCP and UDP are refused (UNSUPP_PROTOCOL), an
/// unknown opcode gets UNSUPP_OPCODE; ANNOUNCE succeeds.
#[test]
fn other_protocols_and_opcodes_are_refused_announce_succeeds() {
    let nat = strict();
    let mut w = worker(&nat);
    let mut s = server();
    let a = ask(&mut s, &mut w, SUB_A, &map_request(SUB_A, 600, 1, 0, 0, 0, &[]), 0);
    assert_eq!(result(&a), ResultCode::UnsuppProtocol as u8);
    let mut unknown = map_request(SUB_A, 600, 1, 6, 80, 0, &[]);
    unknown[1] = 9;
    let a = ask(&mut s, &mut w, SUB_A, &unknown, 0);
    assert_eq!(result(&a), ResultCode::UnsuppOpcode as u8);
    let mut announce = map_request(SUB_A, 0, 0, 0, 0, 0, &[]);
    announce.truncate(24);
    announce[1] = pcp::opcode::ANNOUNCE;
    let a = ask(&mut s, &mut w, SUB_A, &announce, 9);
    assert_eq!((a.len(), a[1], result(&a)), (24, 0x80, 0));
    assert_eq!(nat.mappings().len(), 0);
}

/// RFC 6887 section 8.1: short messages and responses are dropped
/// silently; another version gets a bare UNSUPP_VERSION header.
#[test]
fn malformed_requests_get_header_only_answers() {
    let nat = strict();
    let mut w = worker(&nat);
    let mut s = server();
    let mut out = [0u8; pcp::MAX_LEN];
    assert_eq!(s.handle(&mut w, SUB_A, &[2], at(0), &mut out), Reply::None);
    let mut v3 = map_request(SUB_A, 600, 1, 6, 80, 0, &[]);
    v3[0] = 3;
    let a = ask(&mut s, &mut w, SUB_A, &v3, 0);
    assert_eq!((a.len(), a[0], result(&a)), (24, 2, ResultCode::UnsuppVersion as u8));
    assert_eq!(s.results()[ResultCode::UnsuppVersion as usize], 1);
}

/// RFC 6887 section 15: a mapping whose lifetime ran out is deleted.
#[test]
fn expired_mappings_are_removed() {
    let nat = strict();
    let mut w = worker(&nat);
    let mut s = server();
    let a = ask(&mut s, &mut w, SUB_A, &map_request(SUB_A, 200, 1, 17, 6000, 0, &[]), 0);
    let (public, port) = assigned(&a);
    // A refresh moves the expiry: the old time no longer ends it.
    let b = ask(&mut s, &mut w, SUB_A, &map_request(SUB_A, 150, 1, 17, 6001, 0, &[]), 0);
    assert_eq!(lifetime(&b), 150);
    let _ = ask(&mut s, &mut w, SUB_A, &map_request(SUB_A, 400, 1, 17, 6001, 0, &[]), 100);
    assert_eq!(s.expire(&mut w, at(199)), 0, "6001 was refreshed at 100 s for 400 s");
    assert_eq!(s.expire(&mut w, at(200)), 1);
    assert_eq!(s.mappings().count(), 1);
    assert_eq!(s.expire(&mut w, at(499)), 0);
    assert_eq!(s.expire(&mut w, at(500)), 1);
    let late = udp(SERVER, 9, public, port, b"x");
    assert_eq!(verdict(&mut w, Side::Outside, &late, at(201)), Verdict::Drop(DropReason::NoMapping));
    assert_eq!(nat.mappings().len(), 0);
}

/// RFC 6886 via RFC 6887 Appendix A: NAT-PMP's external address and UDP
/// mapping requests, bytes as `natpmpc` sends them.
#[test]
fn natpmp_external_address_and_mapping() {
    let nat = strict();
    let mut w = worker(&nat);
    let mut s = server();
    let a = ask(&mut s, &mut w, SUB_A, &[0, 0], 30);
    assert_eq!(a.len(), 12);
    assert_eq!((a[1], u16::from_be_bytes([a[2], a[3]])), (128, 0));
    assert_eq!(u32::from_be_bytes([a[4], a[5], a[6], a[7]]), 30, "seconds since the epoch");
    let said = Ipv4Addr::new(a[8], a[9], a[10], a[11]);
    // Map UDP 8080 for 7200 s.
    let a = ask(&mut s, &mut w, SUB_A, &[0, 1, 0, 0, 0x1f, 0x90, 0x1f, 0x90, 0, 0, 0x1c, 0x20], 31);
    assert_eq!(a.len(), 16);
    assert_eq!((a[1], u16::from_be_bytes([a[2], a[3]])), (129, 0));
    assert_eq!(u16::from_be_bytes([a[8], a[9]]), 8080);
    let port = u16::from_be_bytes([a[10], a[11]]);
    assert_eq!(u32::from_be_bytes([a[12], a[13], a[14], a[15]]), 7200);
    // The address it announced is the one the mapping uses.
    let v = inb(&mut w, udp(SERVER2, 777, said, port, b"hi"), at(32));
    assert_eq!((v.dst, v.dport), (SUB_A, 8080));
    // Lifetime 0 with internal port 0 deletes all of the client's UDP mappings.
    let a = ask(&mut s, &mut w, SUB_A, &[0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 33);
    assert_eq!(u16::from_be_bytes([a[2], a[3]]), 0);
    assert_eq!(s.mappings().count(), 0);
    // An opcode NAT-PMP does not have: 8-byte "unsupported opcode".
    let a = ask(&mut s, &mut w, SUB_A, &[0, 9], 34);
    assert_eq!((a.len(), a[1], u16::from_be_bytes([a[2], a[3]])), (8, 137, 5));
    // From outside the inside prefixes: refused.
    let a = ask(&mut s, &mut w, SERVER, &[0, 0], 35);
    assert_eq!(u16::from_be_bytes([a[2], a[3]]), 2);
}

/// The server's answers parse with the codec, and a PCP client cannot
/// take over a NAT-PMP mapping (different nonce).
#[test]
fn answers_parse_and_natpmp_mappings_are_not_pcp_clients_to_take() {
    let nat = strict();
    let mut w = worker(&nat);
    let mut s = server();
    let _ = ask(&mut s, &mut w, SUB_A, &[0, 2, 0, 0, 0, 22, 0, 22, 0, 0, 0x0e, 0x10], 0);
    let a = ask(&mut s, &mut w, SUB_A, &map_request(SUB_A, 600, 5, 6, 22, 0, &[]), 1);
    let r = Response::parse(&a).unwrap();
    assert_eq!(r.result, ResultCode::NotAuthorized);
    assert_eq!(r.epoch, 1);
    assert_eq!(s.mappings().count(), 1, "the NAT-PMP mapping only");
}

/// RFC 6887 section 11.3 / 13.2 with issue 12 item 2: a suggested port
/// free in a block the subscriber holds is granted, so PREFER_FAILURE
/// succeeds with it.
#[test]
fn a_suggested_port_in_the_subscribers_block_is_granted_with_prefer_failure() {
    let nat = strict();
    let mut w = worker(&nat);
    let mut s = server();
    let v = out(&mut w, udp(SUB_A, 1, SERVER, 53, b"q"), at(0));
    let want = v.sport ^ 1; // the neighbouring port, in the same block (blocks are even-sized and aligned)
    let a = ask(&mut s, &mut w, SUB_A, &map_request(SUB_A, 600, 1, 17, 9000, want, &[2, 0, 0, 0]), 1);
    assert_eq!(result(&a), 0);
    assert_eq!(assigned(&a), (v.src, want));
}

/// Issue 12 item 5: "events in the NAT log's event stream where the format
/// needs them (a PCP mapping outside any logged block must not exist)":
/// `pcp-map` when an endpoint's mapping is created (after the record of
/// the block its port lies in), `pcp-unmap` when it ends, with the reason.
#[test]
fn mappings_are_logged_when_created_and_when_they_end() {
    use cgnat_core::event::{EventKind, Reason};
    let nat = strict();
    let mut w = worker(&nat);
    let mut s = server();
    let a = ask(&mut s, &mut w, SUB_A, &map_request(SUB_A, 600, 1, 17, 5060, 0, &[]), 0);
    let (public, port) = assigned(&a);
    // A refresh is not logged again; a second endpoint is.
    ask(&mut s, &mut w, SUB_A, &map_request(SUB_A, 600, 1, 17, 5060, 0, &[]), 5);
    ask(&mut s, &mut w, SUB_A, &map_request(SUB_A, 120, 2, 6, 22, 0, &[]), 5);
    let events: Vec<_> = w.sink_mut().clone();
    let alloc = events
        .iter()
        .position(|e| e.kind == EventKind::BlockAllocated)
        .expect("block record");
    let maps: Vec<_> = events.iter().enumerate().filter(|(_, e)| e.kind == EventKind::PcpMap).collect();
    assert_eq!(maps.len(), 2, "{events:?}");
    let (i, m) = maps[0];
    assert!(i > alloc, "the block's record comes first");
    assert_eq!(
        (m.subscriber, m.public_addr, m.first_port, m.last_port, m.aux),
        (SUB_A, public, port, port, 5060)
    );
    assert_eq!(m.reason, Reason::PcpRequest);
    let b = events[alloc];
    assert!(b.subscriber == SUB_A && b.public_addr == public && (b.first_port..=b.last_port).contains(&port));
    // Deleted by the client, and expired.
    w.sink_mut().clear();
    ask(&mut s, &mut w, SUB_A, &map_request(SUB_A, 0, 1, 17, 5060, 0, &[]), 10);
    s.expire(&mut w, at(5 + 121));
    let ends: Vec<_> = w
        .sink_mut()
        .iter()
        .filter(|e| e.kind == EventKind::PcpUnmap)
        .map(|e| (e.aux, e.reason))
        .collect();
    assert_eq!(ends, vec![(5060, Reason::PcpRequest), (22, Reason::Expired)]);
    assert_eq!(s.mappings().count(), 0);
}
