//! `cgnat_bench`: the DPDK fast-path benchmark of cgnatd.
//!
//! Runs the REAL worker loop ([`worker_loop::run`] with its [`Router`]) on
//! one lcore, between two ethdev ports of the ring PMD (`net_ring`, created
//! with `rte_eth_from_rings` so that each port's RX and TX rings are
//! distinct and shared with the generator). The main lcore is the traffic
//! generator: it writes 64-byte frames (UDP or TCP) into the RX ring of a
//! port, takes the translated frames back from the other port's TX ring,
//! checks them, rewrites them into the next flow's frame and sends them
//! again (mbufs are recycled: no allocation per packet on either core).
//!
//! Phases, one NAT per run:
//! 1. create `--sessions` sessions through the worker (UDP: first packets;
//!    TCP: SYN out, SYN-ACK in, ACK out) — the new-session rate;
//! 2. steady state inside → outside, then outside → inside, `--seconds`
//!    each, visiting the flows in a fixed pseudo-random order — Mpps of the
//!    worker core and ns (TSC cycles) per packet;
//! 3. resident memory added by the sessions (RSS), and the sweeper's
//!    expiry rate (every session expired at once, measured on the main core).
//!
//! ```sh
//! cargo build --release -p cgnat-dpdk --example cgnat_bench
//! target/release/examples/cgnat_bench --sessions 65536 --proto udp --seconds 3
//! ```
//!
//! `--harness` runs the harness limit instead ([`harness`]): the same
//! generator and ports with a forwarder that does no NAT on the worker
//! lcore, `RESULT kind=harness` per direction.
//!
//! Output: human-readable lines and one `RESULT key=value ...` line per
//! measurement (parsed by `scripts/bench.sh`).

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::os::raw::{c_char, c_int, c_uint};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use cgnat_core::config::file::{self, ConfigSource};
use cgnat_core::config::DaemonConfig;
use cgnat_core::event::Event;
use cgnat_core::ring::{ring, Consumer};
use cgnat_core::sweeper::Sweeper;
use cgnat_core::{Instant, Nat, Worker};
use cgnat_dpdk::daemon::clock::PacketClock;
use cgnat_dpdk::daemon::counters::DpCounter;
use cgnat_dpdk::daemon::router::{Router, Shared};
use cgnat_dpdk::daemon::worker_loop::{self, QueueEgress, WorkerContext};
use cgnat_dpdk::{ffi, tsc_cycles, tsc_hz, Eal, Mbuf, Mempool, Port, PortConf, DEFAULT_DATA_ROOM, SOCKET_ANY};

#[link(name = "rte_net_ring")]
extern "C" {
    /// `rte_eth_from_rings` of the ring PMD (rte_eth_ring.h).
    fn rte_eth_from_rings(
        name: *const c_char,
        rx_queues: *const *mut ffi::rte_ring,
        nb_rx_queues: c_uint,
        tx_queues: *const *mut ffi::rte_ring,
        nb_tx_queues: c_uint,
        numa_node: c_uint,
    ) -> c_int;
}

/// Frame length without FCS: a 64-byte Ethernet frame.
const FRAME: usize = 60;
const L3: usize = 14;
const L4: usize = 34;
const RING_SIZE: u32 = 4096;
/// Frames in flight between generator and worker.
const IN_FLIGHT: usize = 3072;
const BURST: usize = 32;
const INSIDE_MAC: [u8; 6] = [0x02, 0xc6, 0x0a, 0, 0, 1];
const OUTSIDE_MAC: [u8; 6] = [0x02, 0xc6, 0x0a, 0, 0, 2];
const PEER_MAC: [u8; 6] = [0x02, 0xc6, 0x0a, 0, 0, 0x99];
const REMOTE_PORT: u16 = 443;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Proto {
    Udp,
    Tcp,
}

struct Args {
    sessions: u32,
    proto: Proto,
    seconds: f64,
    memory_mb: u32,
    harness: bool,
}

fn parse_args() -> Args {
    let mut a = Args {
        sessions: 65_536,
        proto: Proto::Udp,
        seconds: 3.0,
        memory_mb: 256,
        harness: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let mut v = || it.next().unwrap_or_else(|| usage(&format!("{k} needs a value")));
        match k.as_str() {
            "--sessions" => a.sessions = parse_count(&v()),
            "--proto" => {
                a.proto = match v().as_str() {
                    "udp" => Proto::Udp,
                    "tcp" => Proto::Tcp,
                    o => usage(&format!("unknown protocol {o}")),
                }
            }
            "--seconds" => a.seconds = v().parse().unwrap_or_else(|_| usage("bad --seconds")),
            "--memory-mb" => a.memory_mb = v().parse().unwrap_or_else(|_| usage("bad --memory-mb")),
            "--harness" => a.harness = true,
            "-h" | "--help" => usage(""),
            o => usage(&format!("unknown argument {o}")),
        }
    }
    a
}

fn parse_count(s: &str) -> u32 {
    let (n, mul) = match s.chars().last() {
        Some('K' | 'k') => (&s[..s.len() - 1], 1024),
        Some('M' | 'm') => (&s[..s.len() - 1], 1024 * 1024),
        _ => (s, 1),
    };
    n.parse::<u32>().map(|x| x * mul).unwrap_or_else(|_| usage("bad --sessions"))
}

fn usage(msg: &str) -> ! {
    if !msg.is_empty() {
        eprintln!("cgnat_bench: {msg}");
    }
    eprintln!("usage: cgnat_bench [--sessions N|64K|1M|16M] [--proto udp|tcp] [--seconds S] [--memory-mb MB] [--harness]");
    std::process::exit(2)
}

/// Subscribers and flows per subscriber for `n` sessions: 16 flows per
/// subscriber, up to 65 536 subscribers (then more flows each).
fn shape(n: u32) -> (u32, u32) {
    let subs = (n / 16).clamp(1, 65_536);
    (subs, n.div_ceil(subs))
}

fn config(sessions: u32, subscribers: u32, flows: u32) -> DaemonConfig {
    let table = sessions + sessions / 64 + 4096;
    let text = format!(
        r#"
[nat]
mode = "dynamic"
inside_prefixes = ["100.64.0.0/10"]
pool = ["198.18.0.0/22"]
block_size = 512
max_blocks_per_subscriber = 8
max_sessions_per_subscriber = {per_sub}
max_subscribers = {subs}
max_sessions = {table}
max_mappings = {table}
filtering = "endpoint-independent"
# The hostile-traffic limits stay in the code path but never limit: the
# bench creates {subs} subscribers in one go (docs/decisions/009).
[nat.admission]
subscriber_rate = 10000000
subscriber_burst = 1000000
subscriber_rate_per_aggregate = 10000000
subscriber_burst_per_aggregate = 1000000
block_rate = 10000000
block_burst = 1000000
block_rate_per_aggregate = 10000000
block_burst_per_aggregate = 1000000
[nat.unconfirmed]
max_subscribers_percent = 100
max_sessions = {per_sub}
max_blocks = 8
[nat.fairness]
pressure_percent = 100
[dataplane]
workers = 1
memory_mb = 256
idle_sleep_us = 0
icmp_errors_per_sec = 0
[dataplane.inside]
device = "bench_in"
address = "10.255.0.1/30"
gateway = "10.255.0.2"
gateway_mac = "02:c6:0a:00:00:99"
mac = "02:c6:0a:00:00:01"
[dataplane.outside]
device = "bench_out"
address = "192.0.2.1/24"
gateway = "192.0.2.254"
gateway_mac = "02:c6:0a:00:00:99"
mac = "02:c6:0a:00:00:02"
[log]
file = "/dev/null"
ring_capacity = 65536
"#,
        per_sub = (flows * 2).max(64),
        subs = subscribers + 1024,
    );
    file::parse(&text, ConfigSource::Embedded, Some(HashMap::new())).unwrap_or_else(|e| {
        eprintln!("cgnat_bench: configuration: {e}");
        std::process::exit(1)
    })
}

mod frames;
mod generator;
mod harness;

use frames::*;
use generator::*;

/// A fixed pseudo-random permutation step: visits every flow once per
/// round, consecutive packets from unrelated flows.
fn stride_for(n: u64) -> u64 {
    let mut s = (n as f64 * 0.618_033_988_7) as u64 | 1;
    while gcd(s, n) != 1 {
        s += 2;
    }
    s
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 {
        a
    } else {
        gcd(b, a % b)
    }
}

fn main() {
    let args = parse_args();
    let n = args.sessions;
    let (subs, flows) = shape(n);
    let cfg = config(n, subs, flows);
    let prefix = format!("cgnat-bench-{}", std::process::id());
    let eal_args = [
        "--no-huge".to_string(),
        "-m".into(),
        args.memory_mb.to_string(),
        "--no-pci".into(),
        "--no-telemetry".into(),
        "--file-prefix".into(),
        prefix.clone(),
        "-l".into(),
        "0-1".into(),
        "--log-level=lib.eal:error".into(),
    ];
    let eal = Eal::init(&eal_args).unwrap_or_else(|e| {
        eprintln!("cgnat_bench: EAL: {e}");
        std::process::exit(1)
    });
    let lcores = eal.worker_lcores();
    let Some(&lcore) = lcores.first() else {
        eprintln!("cgnat_bench: needs 2 lcores");
        std::process::exit(1)
    };
    let pool = Mempool::new(&eal, "bench_pool", 16_383, 256, DEFAULT_DATA_ROOM, SOCKET_ANY).expect("mempool");
    let (inside, in_rings) = open_port(&eal, "bench_in", &pool);
    let (outside, out_rings) = open_port(&eal, "bench_out", &pool);
    if args.harness {
        println!(
            "cgnat_bench: harness limit, {} frames, forwarder on lcore {lcore}, generator on lcore {}",
            if args.proto == Proto::Udp { "UDP" } else { "TCP" },
            eal.main_lcore()
        );
        harness::run(
            &eal,
            lcore,
            &pool,
            (&inside, in_rings, &outside, out_rings),
            args.proto,
            args.seconds,
        );
        let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/{prefix}"));
        std::process::exit(0);
    }
    let hz = tsc_hz() as f64;
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_string())
        })
        .unwrap_or_default();
    let proto = args.proto;
    let pname = if proto == Proto::Udp { "udp" } else { "tcp" };
    println!(
        "cgnat_bench: {n} {pname} sessions ({subs} subscribers x {flows} flows), worker on lcore {lcore}, generator on lcore {}; {cpu}, TSC {:.2} GHz",
        eal.main_lcore(),
        hz / 1e9
    );

    // RSS before the NAT exists (the generator's per-flow state, allocated
    // and touched below, is not counted).
    let public_bytes = n as u64 * 8;
    let rss0 = rss_bytes() + public_bytes;
    let shared = Arc::new(Shared::new(&cfg, INSIDE_MAC, OUTSIDE_MAC));
    let nat = Arc::new(Nat::new(cfg.nat.clone(), 1).expect("NAT"));
    let (producer, events) = ring(cfg.log.ring_capacity as usize);
    let router = Router::new(shared, Worker::new(nat.clone(), 0, producer), pool.clone());
    let nat_counters = router.nat_counters().clone();
    let dp = router.counters().clone();
    let stop = Arc::new(AtomicBool::new(false));
    let mut clock = PacketClock::calibrate();
    let ctx = WorkerContext {
        id: 0,
        router,
        rx_inside: inside.rx_queue(0).expect("rxq"),
        rx_outside: outside.rx_queue(0).expect("rxq"),
        egress: QueueEgress {
            inside: inside.tx_queue(0).expect("txq"),
            outside: outside.tx_queue(0).expect("txq"),
        },
        clock: clock.clone(),
        stop: stop.clone(),
        idle_sleep_us: 0,
        watermark: Arc::new(AtomicU64::new(0)),
    };
    eal.launch_on(lcore, move || worker_loop::run(ctx)).expect("launch worker");

    let mut g = Gen {
        pool: pool.clone(),
        inside: in_rings,
        outside: out_rings,
        events,
        hz,
    };
    let max = |secs: f64| (hz * secs) as u64;
    // Public endpoint of every flow, learnt from the translated frames.
    let mut public: Vec<(u32, u16)> = vec![(1, 1); n as usize];
    let total = u64::from(n);

    // Phase 1: create the sessions.
    let learn = |public: &mut Vec<(u32, u16)>, f: &[u8]| {
        let (tag, src, sport, _, _) = parse_out(f, proto);
        if let Some(e) = public.get_mut(tag as usize) {
            *e = (src, sport);
        }
    };
    let create_budget = max(60.0 + f64::from(n) / 200_000.0);
    let p1 = g.pump(
        in_rings,
        out_rings,
        total,
        create_budget,
        |k, f| {
            let (src, sport, dst) = flow(k as u32, subs);
            build(f, INSIDE_MAC, proto, src, sport, dst, REMOTE_PORT, k as u32, TCP_SYN, 0);
        },
        |f| learn(&mut public, f),
    );
    let mut create_cycles = p1.cycles;
    let mut created = p1.received;
    // The worker's RX backlog while creating: near the frames in flight
    // means the worker, not the generator, set the pace.
    let mut create_backlog = p1.backlog();
    if proto == Proto::Tcp {
        // SYN-ACK from the outside, then the subscriber's ACK.
        let pubs = public.clone();
        let p2 = g.pump(
            out_rings,
            in_rings,
            total,
            create_budget,
            |k, f| {
                let (_, _, dst) = flow(k as u32, subs);
                let (pa, pp) = pubs[k as usize];
                build(
                    f,
                    OUTSIDE_MAC,
                    proto,
                    dst,
                    REMOTE_PORT,
                    pa,
                    pp,
                    7_000_000,
                    TCP_SYN | TCP_ACK,
                    k as u32 + 1,
                );
            },
            |_| {},
        );
        let p3 = g.pump(
            in_rings,
            out_rings,
            total,
            create_budget,
            |k, f| {
                let (src, sport, dst) = flow(k as u32, subs);
                build(f, INSIDE_MAC, proto, src, sport, dst, REMOTE_PORT, k as u32 + 1, TCP_ACK, 7_000_001);
            },
            |_| {},
        );
        create_cycles += p2.cycles + p3.cycles;
        create_backlog = create_backlog.min(p2.backlog()).min(p3.backlog());
        created = created.min(p2.received).min(p3.received);
    }
    g.settle();
    let live = nat.sessions().len();
    let rss1 = rss_bytes();
    let create_rate = created as f64 / (create_cycles as f64 / hz);
    let what = if proto == Proto::Udp {
        "UDP first packets"
    } else {
        "TCP handshakes (SYN, SYN-ACK, ACK)"
    };
    println!(
        "new sessions: {created} {what} in {:.3} s = {:.3} M sessions/s ({live} live sessions; worker RX backlog avg {create_backlog:.0} frames)",
        create_cycles as f64 / hz,
        create_rate / 1e6
    );
    println!(
        "RESULT kind=create proto={pname} sessions={n} created={created} live={live} rate_mps={:.3} backlog={create_backlog:.0}",
        create_rate / 1e6
    );
    let bytes_per = (rss1.saturating_sub(rss0)) as f64 / live.max(1) as f64;
    println!(
        "memory: RSS +{:.1} MB for {live} sessions = {bytes_per:.1} B/session",
        (rss1 - rss0.min(rss1)) as f64 / 1e6
    );
    println!(
        "RESULT kind=memory proto={pname} sessions={live} rss_added={} bytes_per_session={bytes_per:.1}",
        rss1.saturating_sub(rss0)
    );

    // Phase 2: steady state, both directions.
    let stride = stride_for(total);
    let order = move |k: u64| ((k.wrapping_mul(stride)) % total) as u32;
    let drops_before = nat_counters.snapshot();
    let tcp_seq = |i: u32| i.wrapping_add(1);
    for dir in ["out", "in"] {
        let mut bad = 0u64;
        let (to, from) = if dir == "out" {
            (in_rings, out_rings)
        } else {
            (out_rings, in_rings)
        };
        let public = &public;
        let p = g.pump(
            to,
            from,
            u64::MAX,
            max(args.seconds),
            |k, f| {
                let i = order(k);
                let (src, sport, dst) = flow(i, subs);
                if dir == "out" {
                    build(
                        f,
                        INSIDE_MAC,
                        proto,
                        src,
                        sport,
                        dst,
                        REMOTE_PORT,
                        if proto == Proto::Udp { i } else { tcp_seq(i) },
                        TCP_ACK,
                        7_000_001,
                    );
                } else {
                    let (pa, pp) = public[i as usize];
                    build(
                        f,
                        OUTSIDE_MAC,
                        proto,
                        dst,
                        REMOTE_PORT,
                        pa,
                        pp,
                        if proto == Proto::Udp { i } else { 7_000_001 },
                        TCP_ACK,
                        tcp_seq(i),
                    );
                }
            },
            |f| {
                // Spot check: the translated source (out) / destination (in).
                let (_, s, _, d, _) = parse_out(f, proto);
                let ok = if dir == "out" {
                    s >> 10 == u32::from(Ipv4Addr::new(198, 18, 0, 0)) >> 10
                } else {
                    d >> 22 == u32::from(Ipv4Addr::new(100, 64, 0, 0)) >> 22
                };
                bad += u64::from(!ok);
            },
        );
        let mpps = p.mpps(hz);
        let ns = 1e3 / mpps;
        let name = if dir == "out" { "inside -> outside" } else { "outside -> inside" };
        println!(
            "{name}: {} frames in {:.2} s = {mpps:.2} Mpps on one worker core = {ns:.1} ns = {:.0} TSC cycles/packet (worker RX backlog avg {:.0} frames; untranslated {bad})",
            p.received,
            p.cycles as f64 / hz,
            hz / (mpps * 1e6),
            p.backlog()
        );
        println!(
            "RESULT kind=fastpath proto={pname} dir={dir} sessions={live} mpps={mpps:.3} ns_per_pkt={ns:.1} cycles_per_pkt={:.0} backlog={:.0} bad={bad}",
            hz / (mpps * 1e6),
            p.backlog()
        );
        g.settle();
    }
    let after = nat_counters.snapshot();
    let mut dropped = 0u64;
    for r in cgnat_core::DropReason::ALL {
        dropped += after.dropped(*r) - drops_before.dropped(*r);
    }
    println!(
        "worker: rx_inside {} rx_outside {} tx_inside {} tx_outside {}; NAT drops during the steady phases: {dropped}",
        dp.get(DpCounter::RxInside),
        dp.get(DpCounter::RxOutside),
        dp.get(DpCounter::TxInside),
        dp.get(DpCounter::TxOutside)
    );

    stop.store(true, Ordering::SeqCst);
    eal.wait(lcore);
    g.settle();

    // Phase 3: expiry of every session by the sweeper (management core).
    let mut sweeper = Sweeper::new(nat.clone(), Vec::<Event>::with_capacity(1 << 20));
    let later = Instant::from_micros(clock.now().as_micros() + 86_400 * 1_000_000);
    let t0 = tsc_cycles();
    let st = sweeper.sweep_all(later);
    let secs = (tsc_cycles() - t0) as f64 / hz;
    let rate = st.sessions_expired as f64 / secs;
    println!(
        "expiry: {} sessions, {} mappings, {} blocks in {secs:.3} s = {:.2} M sessions/s",
        st.sessions_expired,
        st.mappings_freed,
        st.blocks_released,
        rate / 1e6
    );
    println!(
        "RESULT kind=expiry proto={pname} sessions={} rate_mps={:.3}",
        st.sessions_expired,
        rate / 1e6
    );
    // Ports and rings are left to process exit; the EAL's runtime
    // directory is removed.
    let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/{prefix}"));
    std::process::exit(0);
}
