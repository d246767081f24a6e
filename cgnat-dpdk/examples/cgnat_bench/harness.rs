//! The harness limit (`--harness`): what the benchmark's generator and ring
//! ports move when the worker does no NAT at all.
//!
//! The same generator lcore, the same two `net_ring` ports, rings, mempool,
//! frames and flow order as the NAT runs; on the worker lcore, instead of
//! `worker_loop::run`, a minimal forwarder: receive a burst from one port,
//! write the Ethernet addresses of every frame (the least any router does),
//! send the burst on the other port. Every Mpps figure of the NAT runs is
//! also shown as a fraction of this one (`scripts/bench.sh`): a fraction
//! near 1 means the figure measures the harness, not the NAT.

use super::*;

use cgnat_dpdk::{Burst, RxQueue, TxQueue};

/// One direction of the forwarder: frames received on `rx` leave on `tx`
/// with source MAC `src`.
struct Leg {
    rx: RxQueue,
    tx: TxQueue,
    src: [u8; 6],
}

impl Leg {
    /// Forwards one burst; frames the TX ring does not take after a few
    /// attempts are dropped (as the worker loop does). Returns the frames
    /// received.
    #[inline]
    fn forward(&mut self, burst: &mut Burst) -> usize {
        let n = self.rx.rx_burst(burst);
        if n == 0 {
            return 0;
        }
        for m in burst.iter_mut() {
            let f = m.data_mut();
            if f.len() >= 12 {
                f[0..6].copy_from_slice(&PEER_MAC);
                f[6..12].copy_from_slice(&self.src);
            }
        }
        for _ in 0..8 {
            self.tx.tx_burst(burst);
            if burst.is_empty() {
                break;
            }
        }
        burst.clear();
        n
    }
}

/// The forwarding loop of the worker lcore, until `stop`.
fn forward_loop(mut out: Leg, mut back: Leg, stop: Arc<AtomicBool>) -> i32 {
    let mut burst = Burst::new();
    while !stop.load(Ordering::Relaxed) {
        out.forward(&mut burst);
        back.forward(&mut burst);
    }
    0
}

/// Runs the harness limit for `proto`: `seconds` inside → outside, then
/// outside → inside, printing `RESULT kind=harness` lines.
pub(crate) fn run(eal: &Eal, lcore: u32, pool: &Mempool, ports: (&Port, Rings, &Port, Rings), proto: Proto, seconds: f64) {
    let (inside, in_rings, outside, out_rings) = ports;
    let stop = Arc::new(AtomicBool::new(false));
    let out = Leg {
        rx: inside.rx_queue(0).expect("rxq"),
        tx: outside.tx_queue(0).expect("txq"),
        src: OUTSIDE_MAC,
    };
    let back = Leg {
        rx: outside.rx_queue(0).expect("rxq"),
        tx: inside.tx_queue(0).expect("txq"),
        src: INSIDE_MAC,
    };
    let s = stop.clone();
    eal.launch_on(lcore, move || forward_loop(out, back, s)).expect("launch forwarder");
    let hz = tsc_hz() as f64;
    // No NAT: the events ring is never written.
    let (_producer, events) = ring(16);
    let mut g = Gen {
        pool: pool.clone(),
        inside: in_rings,
        outside: out_rings,
        events,
        hz,
    };
    let pname = if proto == Proto::Udp { "udp" } else { "tcp" };
    let subs = 65_536;
    let total = 1u64 << 20;
    let stride = stride_for(total);
    for dir in ["out", "in"] {
        let (to, from) = if dir == "out" {
            (in_rings, out_rings)
        } else {
            (out_rings, in_rings)
        };
        let mut bad = 0u64;
        let p = g.pump(
            to,
            from,
            u64::MAX,
            (hz * seconds) as u64,
            |k, f| {
                let i = ((k.wrapping_mul(stride)) % total) as u32;
                let (src, sport, dst) = flow(i, subs);
                if dir == "out" {
                    build(f, INSIDE_MAC, proto, src, sport, dst, REMOTE_PORT, i, TCP_ACK, 7_000_001);
                } else {
                    let public = u32::from(Ipv4Addr::new(198, 18, 0, 0)) + (i & 1023);
                    build(
                        f,
                        OUTSIDE_MAC,
                        proto,
                        dst,
                        REMOTE_PORT,
                        public,
                        1024 + (i >> 10) as u16,
                        i,
                        TCP_ACK,
                        1,
                    );
                }
            },
            |f| bad += u64::from(f.len() < 6 || f[0..6] != PEER_MAC),
        );
        let mpps = p.mpps(hz);
        let name = if dir == "out" { "inside -> outside" } else { "outside -> inside" };
        println!(
            "harness limit {name} ({pname}, no NAT): {} frames in {:.2} s = {mpps:.2} Mpps = {:.0} TSC cycles/packet (RX backlog avg {:.0}; not forwarded {bad})",
            p.received,
            p.cycles as f64 / hz,
            hz / (mpps * 1e6),
            p.backlog()
        );
        println!(
            "RESULT kind=harness proto={pname} dir={dir} mpps={mpps:.3} cycles_per_pkt={:.0} backlog={:.0} bad={bad}",
            hz / (mpps * 1e6),
            p.backlog()
        );
        g.settle();
    }
    stop.store(true, Ordering::SeqCst);
    eal.wait(lcore);
    g.settle();
}
