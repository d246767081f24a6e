//! Hardening: martian sources and destinations (RFC 6598 section 7), TCP
//! sessions opened from outside without a SYN, RST handling (RFC 7857),
//! and deterministic-mode validation that ignores block_size.

mod common;

use cgnat_core::sweeper::Sweeper;
use cgnat_core::{DropReason, Event, NatConfig, Side, Verdict};
use common::*;

const TABLES: &str = "max_sessions = 4096\nmax_mappings = 4096\nmax_subscribers = 256\n";

//= https://www.rfc-editor.org/rfc/rfc6598#section-7
//# Shared Address Space ... packets with Shared Address Space source or
//# destination addresses MUST NOT be forwarded across Service Provider
//# boundaries.
#[test]
fn rfc6598_shared_address_space_never_crosses_the_boundary() {
    let nat = nat(TABLES);
    let mut w = worker(&nat);
    // From the internet with a subscriber source: spoofed.
    let v = verdict(
        &mut w,
        Side::Outside,
        &udp(SUB_A, 53, "203.0.113.3".parse().unwrap(), 4000, b"x"),
        at(0),
    );
    assert_eq!(v, Verdict::Drop(DropReason::Martian));
    // From the internet with a pool source: spoofed too.
    let v = verdict(
        &mut w,
        Side::Outside,
        &udp("203.0.113.9".parse().unwrap(), 53, "203.0.113.3".parse().unwrap(), 4000, b"x"),
        at(0),
    );
    assert_eq!(v, Verdict::Drop(DropReason::Martian));
    // Subscriber to another subscriber's private address: not routed.
    let v = verdict(&mut w, Side::Inside, &udp(SUB_A, 5000, SUB_B, 53, b"x"), at(0));
    assert_eq!(v, Verdict::Drop(DropReason::Martian));
    assert_eq!(w.counters().dropped(DropReason::Martian), 3);
    // ...unless the operator lists it as a bypass prefix.
    let nat = common::nat(&format!("{TABLES}bypass = [\"100.64.0.0/24\"]\n"));
    let mut w = worker(&nat);
    let v = verdict(&mut w, Side::Inside, &udp(SUB_A, 5000, SUB_B, 53, b"x"), at(0));
    assert_eq!(v, Verdict::Forward(Side::Outside));
}

/// An outsider spraying bare ACKs at a subscriber's public endpoint creates
/// sessions (endpoint-independent filtering) but they stay transitory, so
/// they cannot hold the subscriber's session quota for two hours.
#[test]
fn inbound_sessions_without_syn_expire_on_the_transitory_timer() {
    let nat = nat(TABLES);
    let mut w = worker(&nat);
    let mut s = Sweeper::new(nat.clone(), Vec::<Event>::new());
    let o = out(&mut w, tcp(SUB_A, 40_000, SERVER, 443, SYN, b""), at(0));
    inb(&mut w, tcp(SERVER, 443, o.src, o.sport, SYN | ACK, b""), at(0));
    out(&mut w, tcp(SUB_A, 40_000, SERVER, 443, ACK, b""), at(0));
    for port in 0..20u16 {
        let v = verdict(&mut w, Side::Outside, &tcp(SERVER2, 10_000 + port, o.src, o.sport, ACK, b""), at(1));
        assert_eq!(v, Verdict::Forward(Side::Inside));
    }
    assert_eq!(nat.sessions().len(), 21);
    // 4 minutes later the sprayed sessions are gone, the real one stays.
    let st = s.sweep_all(at(1 + 241));
    assert_eq!(st.sessions_expired, 20);
    assert_eq!(nat.sessions().len(), 1);
}

//= https://www.rfc-editor.org/rfc/rfc7857#section-2.2
//# the NAT SHOULD wait for 4 minutes before deleting the session and
//# removing any state associated with it if no packets are received during
//# that 4-minute timeout.
#[test]
fn rfc7857_rst_starts_a_four_minute_wait() {
    let nat = nat(TABLES);
    let mut w = worker(&nat);
    let mut s = Sweeper::new(nat.clone(), Vec::<Event>::new());
    let o = out(&mut w, tcp(SUB_A, 40_001, SERVER, 443, SYN, b""), at(0));
    inb(&mut w, tcp(SERVER, 443, o.src, o.sport, SYN | ACK, b""), at(0));
    out(&mut w, tcp(SUB_A, 40_001, SERVER, 443, ACK, b""), at(100));
    // The RST at 200 s: kept for 4 minutes from then, gone after.
    out(&mut w, tcp(SUB_A, 40_001, SERVER, 443, RST | ACK, b""), at(200));
    assert_eq!(s.sweep_all(at(439)).sessions_expired, 0);
    assert_eq!(s.sweep_all(at(441)).sessions_expired, 1);
}

/// In deterministic mode block_size plays no part (RFC 7422 ranges come
/// from the prefix sizes), so a narrow port range must not be refused over it.
#[test]
fn rfc7422_deterministic_ignores_block_size() {
    let c: NatConfig = toml::from_str(
        "mode = \"deterministic\"\ninside_prefixes = [\"100.64.0.0/26\"]\npool = [\"203.0.113.0/30\"]\nport_range = \"1024-1535\"\nblock_size = 4096\n",
    )
    .unwrap();
    // 64 subscribers on 4 addresses: 16 per address, 512 / 16 = 32 ports each.
    c.validate().expect("block_size is not checked in deterministic mode");
    let mut dynamic = c.clone();
    dynamic.mode = cgnat_core::config::Mode::Dynamic;
    assert_eq!(dynamic.validate().unwrap_err().key, "nat.block_size", "but it is in dynamic mode");
}
