//! Translation fast path and new-session rate (criterion).
//!
//! `cargo bench -p cgnat-core --bench translate` runs 64 Ki and 16 Mi live
//! sessions; `CGNAT_BENCH_SMALL=1` skips the 16 Mi case (it needs ~2 GB and
//! a minute of setup). Each measured packet is first copied from its
//! template (translation rewrites it in place); `copy_only` measures that
//! copy alone so it can be subtracted. Templates are read in order and
//! consecutive ones belong to different subscribers (see the fixture).

// criterion_group! generates an undocumented `pub fn benches`.
#![allow(missing_docs)]

mod fixture;

use std::sync::Arc;

use cgnat_core::event::Event;
use cgnat_core::sweeper::Sweeper;
use cgnat_core::{Instant, Nat, Prepared, Side, Verdict, Worker};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use fixture::{fill, udp_packet, PACKET_LEN};

fn fast_path(c: &mut Criterion) {
    let mut sizes = vec![("64K", 256u32, 256u32)];
    if std::env::var_os("CGNAT_BENCH_SMALL").is_none() {
        sizes.push(("16M", 65_536, 256));
    }
    for (name, subs, flows) in sizes {
        let mut f = fill(subs, flows);
        let order: Vec<u32> = (0..f.outbound.len() as u32).collect();
        let now = Instant::from_secs(1_700_000_001);
        let mut g = c.benchmark_group(format!("translate_{name}"));
        g.throughput(Throughput::Elements(1));
        let mut i = 0usize;
        g.bench_function("copy_only", |b| {
            b.iter(|| {
                let mut p = f.outbound[order[i] as usize];
                i = (i + 1) % order.len();
                std::hint::black_box(&mut p);
            })
        });
        g.bench_function("outbound_udp", |b| {
            b.iter(|| {
                let mut p = f.outbound[order[i] as usize];
                i = (i + 1) % order.len();
                let v = f.worker.process(Side::Inside, &mut p, now);
                debug_assert_eq!(v, Verdict::Forward(Side::Outside));
                std::hint::black_box(v)
            })
        });
        g.bench_function("inbound_udp", |b| {
            b.iter(|| {
                let mut p = f.inbound[order[i] as usize];
                i = (i + 1) % order.len();
                let v = f.worker.process(Side::Outside, &mut p, now);
                debug_assert_eq!(v, Verdict::Forward(Side::Inside));
                std::hint::black_box(v)
            })
        });
        // Bursts of 32 as the data plane runs them: parse every packet and
        // prefetch its table lines, then translate them all.
        g.throughput(Throughput::Elements(BURST as u64));
        for (label, side, pkts) in [
            ("outbound_udp_burst32", Side::Inside, &f.outbound),
            ("inbound_udp_burst32", Side::Outside, &f.inbound),
        ] {
            g.bench_function(label, |b| {
                let mut burst = [[0u8; PACKET_LEN]; BURST];
                b.iter(|| {
                    for p in burst.iter_mut() {
                        *p = pkts[order[i] as usize];
                        i = (i + 1) % order.len();
                    }
                    let mut prep = [Prepared::default(); BURST];
                    for (p, pr) in burst.iter().zip(prep.iter_mut()) {
                        *pr = f.worker.prepare(side, p);
                    }
                    for pr in prep.iter_mut() {
                        f.worker.prepare_session(side, pr);
                    }
                    for (p, pr) in burst.iter_mut().zip(prep.iter()) {
                        std::hint::black_box(f.worker.process_prepared(side, p, pr, now));
                    }
                })
            });
        }
        g.finish();
        drop(f);
    }
}

const BURST: usize = 32;

fn new_sessions(c: &mut Criterion) {
    let mut g = c.benchmark_group("new_sessions");
    g.throughput(Throughput::Elements(1));
    const PER_NAT: u32 = 1 << 20;
    g.bench_function("udp_first_packet", |b| {
        b.iter_custom(|iters| {
            let mut total = std::time::Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(PER_NAT as u64) as u32;
                let nat = Arc::new(Nat::new(fixture::config(PER_NAT + 4096), 1).unwrap());
                let mut w: Worker<Vec<Event>> = Worker::new(nat, 0, Vec::with_capacity(8192));
                let pkts: Vec<[u8; PACKET_LEN]> = (0..n)
                    .map(|k| udp_packet(0x6440_0000 + (k >> 8), 10_000 + (k & 0xFF) as u16, 0x0808_0000 + k % 4096, 53))
                    .collect();
                let now = Instant::from_secs(1_700_000_000);
                let start = std::time::Instant::now();
                for mut p in pkts {
                    let v = w.process(Side::Inside, &mut p, now);
                    debug_assert_eq!(v, Verdict::Forward(Side::Outside));
                    std::hint::black_box(v);
                }
                total += start.elapsed();
                left -= n as u64;
            }
            total
        })
    });
    g.finish();
}

fn expiry(c: &mut Criterion) {
    let mut g = c.benchmark_group("expiry");
    g.throughput(Throughput::Elements(1 << 16));
    g.sample_size(10);
    g.bench_function("sweep_64K_expired_sessions", |b| {
        b.iter_batched(
            || fill(256, 256),
            |f| {
                let mut s = Sweeper::new(f.nat.clone(), Vec::new());
                let stats = s.sweep_all(Instant::from_secs(1_700_000_000 + 3600));
                assert_eq!(stats.sessions_expired, 1 << 16);
                f
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, fast_path, new_sessions, expiry);
criterion_main!(benches);
