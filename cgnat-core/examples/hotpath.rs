//! Processes packets of established flows in a loop: a target for
//! `valgrind --tool=callgrind` to count instructions per translated packet.
//! `cargo run --release -p cgnat-core --example hotpath -- 200000`

#[path = "../benches/fixture/mod.rs"]
mod fixture;

use cgnat_core::{Instant, Side};

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let mut f = fixture::fill(64, 64);
    let now = Instant::from_secs(1_700_000_001);
    let order = fixture::shuffled(f.outbound.len());
    let mut forwarded = 0u64;
    for k in 0..n {
        let mut p = f.outbound[order[k % order.len()] as usize];
        if matches!(f.worker.process(Side::Inside, &mut p, now), cgnat_core::Verdict::Forward(_)) {
            forwarded += 1;
        }
    }
    println!("{forwarded} forwarded");
}
