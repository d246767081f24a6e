//! Paced expiry (issue 11 item 2, docs/decisions/012-expiry-pacing.md):
//! with [`Sweeper::sweep_paced`] called at irregular intervals no longer
//! than a gap, every expired session is removed within
//! [`Pacing::overstay_bound_us`] of its timeout and never before it
//! (RFC 4787 REQ-5: the timer must not expire early), and every block is
//! released, with its record, a pass later. Simulated time: nothing here
//! is timed.

mod common;

use std::net::Ipv4Addr;
use std::sync::Arc;

use cgnat_core::event::EventKind;
use cgnat_core::flow::SessionKey;
use cgnat_core::pool::BlockState;
use cgnat_core::sweeper::{Pacing, Sweeper};
use cgnat_core::{Instant, Nat, Protocol, Side, Verdict};
use common::*;
use proptest::prelude::*;

/// One scenario: `sessions` UDP sessions from subscribers that never get
/// a reply (so they expire after `timeout` s), created over `spread_ms`,
/// in a table of `table` sessions; the sweeper called after gaps taken in
/// turn from `gaps_us`.
struct Case {
    sessions: u32,
    table: u32,
    timeout: u32,
    spread_ms: u64,
    gaps_us: Vec<u64>,
    pacing: Pacing,
}

fn run(c: &Case) {
    let mut cfg = common::config(&format!(
        "max_sessions = {0}\nmax_mappings = {0}\nmax_subscribers = 1024\n",
        c.table
    ));
    cfg.unconfirmed.timeout = c.timeout;
    let nat = Arc::new(Nat::new(cfg, 1).expect("valid"));
    let mut w = worker(&nat);
    let mut s = Sweeper::new(nat.clone(), Vec::new());
    s.set_pacing(c.pacing);
    let max_gap = *c.gaps_us.iter().max().expect("gaps");
    let bound = c.pacing.overstay_bound_us(nat.sessions().slots(), max_gap);

    let start = T0.as_micros();
    let mut t = start;
    let mut created = 0u32;
    // (key, due in µs) of the sessions not yet removed.
    let mut pending: Vec<(SessionKey, u64)> = Vec::new();
    let mut last_due = 0;
    for i in 0.. {
        // The sessions whose creation time has come.
        while created < c.sessions && start + c.spread_ms * 1000 * created as u64 / c.sessions as u64 <= t {
            let src = Ipv4Addr::from(u32::from(SUB_A) + created % 64);
            let sport = 1000 + (created / 64) as u16;
            assert_eq!(
                verdict(&mut w, Side::Inside, &udp(src, sport, SERVER, 53, b""), Instant::from_micros(t)),
                Verdict::Forward(Side::Outside)
            );
            let key = SessionKey {
                protocol: Protocol::Udp,
                inside_addr: u32::from(src),
                inside_port: sport,
                remote_addr: u32::from(SERVER),
                remote_port: 53,
            };
            let due = (t / 1_000_000 + c.timeout as u64) * 1_000_000;
            last_due = due;
            pending.push((key, due));
            created += 1;
        }
        let removed = s.sweep_paced(Instant::from_micros(t)).sessions_expired;
        if removed > 0 {
            let before = pending.len();
            pending.retain(|(key, due)| {
                if nat.sessions().find(key).is_some() {
                    return true;
                }
                assert!(t >= *due, "removed {} µs before its timeout", due - t);
                assert!(t - due <= bound, "removed {} µs after its timeout, bound {bound}", t - due);
                false
            });
            assert_eq!((before - pending.len()) as u64, removed);
        }
        if created == c.sessions && pending.is_empty() {
            break;
        }
        assert!(t <= last_due + bound, "{} sessions left past the bound", pending.len());
        t += c.gaps_us[i % c.gaps_us.len()];
    }
    // A block goes once its last mapping did, within another pass, with
    // its release record (RFC 6888 REQ-14); its subscriber within the next.
    // Those passes are over the block and subscriber tables, whose size
    // (not the session table's) sets their length.
    let other = nat.subscribers().slots().max(nat.pool().block_count() as usize);
    let end = t + 2 * bound.max(c.pacing.overstay_bound_us(other, max_gap));
    let mut i = 0;
    while t < end {
        t += c.gaps_us[i % c.gaps_us.len()];
        s.sweep_paced(Instant::from_micros(t));
        i += 1;
    }
    let allocated = (0..nat.pool().block_count())
        .filter(|b| nat.pool().block_info(*b).state == BlockState::Allocated)
        .count();
    assert_eq!((nat.sessions().len(), nat.mappings().len(), allocated), (0, 0, 0));
    assert_eq!(nat.subscribers().len(), 0);
    let count = |v: &[cgnat_core::Event], k| v.iter().filter(|e| e.kind == k).count();
    assert_eq!(
        count(s.sink_mut(), EventKind::BlockReleased),
        count(w.sink_mut(), EventKind::BlockAllocated)
    );
}

/// The sweeper reads its clock before a worker refreshes a session across
/// a second boundary: the refresh is newer than the sweeper's `now`, and
/// the session is not idle (it read as 24 days idle and was removed, live,
/// which the paced sweeper's frequent visits made likely).
#[test]
fn a_refresh_newer_than_the_sweep_is_not_idle() {
    let mut cfg = common::config("max_sessions = 1024\nmax_mappings = 1024\nmax_subscribers = 64\n");
    cfg.unconfirmed.timeout = 5;
    let nat = Arc::new(Nat::new(cfg, 1).expect("valid"));
    let mut w = worker(&nat);
    let mut s = Sweeper::new(nat.clone(), Vec::new());
    let sweep_at = T0.as_micros() + 999_999;
    let pkt = udp(SUB_A, 4000, SERVER, 53, b"");
    assert_eq!(
        verdict(&mut w, Side::Inside, &pkt, Instant::from_micros(sweep_at + 1)),
        Verdict::Forward(Side::Outside)
    );
    assert_eq!(s.sweep_paced(Instant::from_micros(sweep_at)).sessions_expired, 0);
    assert_eq!(s.sweep_all(Instant::from_micros(sweep_at)).sessions_expired, 0);
    assert_eq!(nat.sessions().len(), 1);
    assert_eq!(s.sweep_all(T0.plus_secs(6)).sessions_expired, 1);
}

/// At the defaults, a modest table is passed over within a few calls: the
/// bound is the period plus a gap.
#[test]
fn defaults_remove_every_session_within_the_period() {
    run(&Case {
        sessions: 3000,
        table: 4096,
        timeout: 5,
        spread_ms: 2500,
        gaps_us: vec![1000, 2000, 1500],
        pacing: Pacing::default(),
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Any pacing, table fill and call pattern: removal within the bound,
    /// never early. The per-call removal cap is out of the bound's scope
    /// (its condition: no call has more removals due than the cap).
    #[test]
    fn every_expired_session_goes_within_the_bound(
        sessions in 50u32..1500,
        spare in 0u32..600,
        timeout in 5u32..12,
        spread_ms in 0u64..4000,
        gaps_us in proptest::collection::vec(1_000u64..30_000, 1..8),
        period_ms in 200u64..3000,
        fast_ms in 50u64..3000,
        max_slots in 32usize..512,
        min_slots in 1usize..64,
        pressure in 50u32..101,
        expired in 1u32..100,
    ) {
        run(&Case {
            sessions,
            table: sessions + spare,
            timeout,
            spread_ms,
            gaps_us,
            pacing: Pacing {
                period_us: period_ms * 1000,
                fast_period_us: fast_ms.min(period_ms) * 1000,
                pressure_percent: pressure,
                expired_percent: expired,
                max_slots,
                max_expired: usize::MAX,
                min_slots,
            },
        });
    }
}
