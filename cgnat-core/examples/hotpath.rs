//! Processes packets of established flows in a loop: a target for
//! `valgrind --tool=callgrind` to count instructions per translated packet
//! (repeatable, unlike wall time). Run twice with different counts and
//! divide the difference by the extra packets:
//! `cargo build --release -p cgnat-core --example hotpath &&
//!  valgrind --tool=callgrind target/release/examples/hotpath out 100000`
//!
//! A third argument `burst` hands the packets over in bursts of 32 the way
//! the DPDK worker loop does (`Worker::prepare` every packet of the burst,
//! `Worker::prepare_session` each, then `Worker::process_prepared`), instead of one `Worker::process` call each.
//!
//! A third argument `new` creates `n` sessions instead (the first packets of
//! new flows, 16 per subscriber), for `--toggle-collect='*create_one'`.
//!
//! A third argument `new-ha` does the same with an HA sync ring attached
//! (issue 13: every new session is also pushed to the standby's ring), so
//! the two counts give the sync's cost per new session.
//!
//! A third argument `copy` runs only the harness: the same packet copies
//! and loop, no translation. Its count per packet is what the harness
//! itself adds to the figures above.

#[path = "../benches/fixture/mod.rs"]
mod fixture;

use cgnat_core::{Instant, Prepared, Side, Verdict};

/// Packets per burst in `burst` mode (the data plane's RX burst size).
const BURST: usize = 32;

/// The packet templates, handed out in a cycle (no division per packet).
struct Cycle<'a> {
    pkts: &'a [[u8; fixture::PACKET_LEN]],
    j: usize,
}

impl Cycle<'_> {
    #[inline(always)]
    fn next(&mut self) -> [u8; fixture::PACKET_LEN] {
        let p = self.pkts[self.j];
        self.j += 1;
        if self.j == self.pkts.len() {
            self.j = 0;
        }
        p
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let side = match args.next().as_deref() {
        Some("in") => Side::Outside,
        _ => Side::Inside,
    };
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let mode = args.next();
    if mode.as_deref() == Some("new") {
        // New flows: `n` first packets (16 flows per subscriber, every
        // 16th creates its subscriber and block) through `Worker::process`;
        // count with --toggle-collect='*create_one'.
        let f = fixture::fill(n.div_ceil(16) as u32, 16);
        println!("{} sessions created", f.nat.sessions().len());
        return;
    }
    if mode.as_deref() == Some("new-ha") {
        let (tx, mut rx) = cgnat_core::ring::ring::<cgnat_core::wire::ha::SessionRecord>(n.next_power_of_two());
        let f = fixture::fill_with(n.div_ceil(16) as u32, 16, |w| w.set_ha_sync(tx));
        let mut synced = 0;
        while rx.pop().is_some() {
            synced += 1;
        }
        println!("{} sessions created, {synced} streamed to the standby", f.nat.sessions().len());
        return;
    }
    let burst = mode.as_deref() == Some("burst");
    let copy_only = mode.as_deref() == Some("copy");
    let mut f = fixture::fill(64, 64);
    let now = Instant::from_secs(1_700_000_001);
    let pkts = if side == Side::Inside { &f.outbound } else { &f.inbound };
    let pkts = pkts.clone();
    let mut forwarded = 0u64;
    let mut templates = Cycle { pkts: &pkts, j: 0 };
    if copy_only {
        for _ in 0..n {
            let mut p = templates.next();
            // Keeps the copy: the translation would read and write it.
            std::hint::black_box(&mut p);
            forwarded += 1;
        }
    } else if burst {
        let mut frames = [[0u8; fixture::PACKET_LEN]; BURST];
        // Kept across bursts, as the data plane's router keeps its array.
        let mut prep = [Prepared::default(); BURST];
        let mut k = 0;
        while k < n {
            let len = BURST.min(n - k);
            for fr in frames[..len].iter_mut() {
                *fr = templates.next();
            }
            for (fr, pr) in frames[..len].iter().zip(prep.iter_mut()) {
                *pr = f.worker.prepare(side, fr);
            }
            for pr in &mut prep[..len] {
                f.worker.prepare_session(side, pr);
            }
            for (fr, pr) in frames[..len].iter_mut().zip(prep.iter()) {
                if matches!(f.worker.process_prepared(side, fr, pr, now), Verdict::Forward(_)) {
                    forwarded += 1;
                }
            }
            k += len;
        }
    } else {
        for _ in 0..n {
            let mut p = templates.next();
            if matches!(f.worker.process(side, &mut p, now), Verdict::Forward(_)) {
                forwarded += 1;
            }
        }
    }
    println!("{forwarded} of {n} forwarded");
}
