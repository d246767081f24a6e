//! pcap replay: the inside and outside inputs are read through two net_pcap
//! ports, merged in capture-time order (inside first on a tie), and handed
//! to a single worker on the main lcore whose clock is the packet
//! timestamp. The sweeper runs on the same clock, once per packet-clock
//! second. Output frames are written by cgnatd itself (see
//! [`super::pcap`]) with the packet clock as their timestamp. When both
//! inputs are exhausted, held packets are dropped, the sweeper's
//! `shutdown()` releases every block at the last packet's time, and the
//! run ends: the same input and configuration always give byte-identical
//! output pcaps and NAT log.
//!
//! The run's `daemon-start` record and the configuration records are
//! stamped 1 µs before the first packet (so they come before anything the
//! worker logs for it) and written before it is translated; the run id is
//! derived from the configuration digest (`management::run`), and the
//! `daemon-stop` record ends the log.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;

use cgnat_core::config::DaemonConfig;
use cgnat_core::event::Event;
use cgnat_core::ring::ring;
use cgnat_core::sweeper::Sweeper;
use cgnat_core::{Instant, Nat, Side, Worker};

use super::cli::ReplayPaths;
use super::eal_args;
use super::lifecycle::{data_room, dpdk, io, require_root, runtime_dir, stop_requested, DaemonError, Summary};
use super::management::{run, LogPipeline};
use super::pcap::PcapWriter;
use super::router::{Egress, Router, Shared};
use crate::{Burst, Eal, Mbuf, Mempool, Port, PortConf, RxTimestamp, SOCKET_ANY};

/// Consecutive empty polls after which an input counts as exhausted.
const EOF_POLLS: u32 = 3;
/// Sweeper slots per packet-clock second.
const SWEEP_BUDGET: usize = 4096;

/// Replay egress: frames go to the output pcaps, stamped with the packet clock.
struct PcapEgress {
    inside: PcapWriter,
    outside: PcapWriter,
    error: Option<std::io::Error>,
}

impl Egress for PcapEgress {
    fn transmit(&mut self, side: Side, burst: &mut Burst, now: Instant) {
        let w = match side {
            Side::Inside => &mut self.inside,
            Side::Outside => &mut self.outside,
        };
        for m in burst.drain() {
            if let Err(e) = w.write(now.as_micros(), m.data()) {
                self.error.get_or_insert(e);
            }
        }
    }
}

/// Runs a replay to the end of both inputs.
pub fn run_replay(cfg: &DaemonConfig, paths: &ReplayPaths, stats_file: Option<&Path>) -> Result<(), DaemonError> {
    require_root()?;
    for p in [&paths.inside_rx, &paths.outside_rx] {
        std::fs::metadata(p).map_err(io(format!("replay input {}", p.display())))?;
    }
    let prefix = format!("cgnatd-replay-{}", std::process::id());
    let args = eal_args::replay_args(cfg, &prefix, &paths.inside_rx, &paths.outside_rx, &eal_args::allowed_cpus());
    let eal = match Eal::init(&args) {
        Ok(e) => e,
        Err(e) => {
            let _ = std::fs::remove_dir_all(runtime_dir(&prefix));
            return Err(dpdk("DPDK EAL initialisation")(e));
        }
    };
    let result = replay(&eal, cfg, paths, stats_file);
    drop(eal);
    let _ = std::fs::remove_dir_all(runtime_dir(&prefix));
    result
}

fn open(eal: &Eal, name: &str, pool: &Mempool) -> Result<Port, DaemonError> {
    let mut port = Port::by_name(eal, name).map_err(dpdk(format!("port {name}")))?;
    let conf = PortConf {
        mtu: None,
        rss: false,
        promisc: false,
        rx_timestamp: true,
    };
    port.configure(1, 1, &conf).map_err(dpdk(format!("configure {name}")))?;
    port.rx_queue_setup(0, 0, pool).map_err(dpdk(format!("{name} rx queue")))?;
    port.tx_queue_setup(0, 0).map_err(dpdk(format!("{name} tx queue")))?;
    port.start().map_err(dpdk(format!("start {name}")))?;
    Ok(port)
}

/// One input: frames read ahead, with their capture times.
struct Input {
    port: Port,
    side: Side,
    queue: VecDeque<(u64, Mbuf)>,
    empty_polls: u32,
}

impl Input {
    fn exhausted(&self) -> bool {
        self.empty_polls >= EOF_POLLS
    }

    /// Reads ahead if nothing is queued; `false` while the input may still
    /// deliver frames but has none queued yet.
    fn fill(&mut self, burst: &mut Burst, ts: Option<&RxTimestamp>, last: u64) -> bool {
        if !self.queue.is_empty() || self.exhausted() {
            return true;
        }
        if self.port.rx_burst(0, burst) == 0 {
            self.empty_polls += 1;
            return self.exhausted();
        }
        self.empty_polls = 0;
        for m in burst.drain() {
            let t = ts.and_then(|t| m.rx_timestamp(t)).unwrap_or(last);
            self.queue.push_back((t, m));
        }
        true
    }
}

fn replay(eal: &Eal, cfg: &DaemonConfig, paths: &ReplayPaths, stats_file: Option<&Path>) -> Result<(), DaemonError> {
    let pool = Mempool::new(eal, "replay_pool", 4095, 0, data_room(cfg), SOCKET_ANY).map_err(dpdk("packet mempool"))?;
    let mut inputs = [
        Input {
            port: open(eal, "net_pcap0", &pool)?,
            side: Side::Inside,
            queue: VecDeque::with_capacity(64),
            empty_polls: 0,
        },
        Input {
            port: open(eal, "net_pcap1", &pool)?,
            side: Side::Outside,
            queue: VecDeque::with_capacity(64),
            empty_polls: 0,
        },
    ];
    let ts = RxTimestamp::lookup();
    let mac = |i: usize| inputs[i].port.mac_addr().map(|m| m.0).map_err(dpdk("port MAC"));
    let shared = Arc::new(Shared::new(cfg, mac(0)?, mac(1)?));
    let nat = Arc::new(Nat::new(cfg.nat.clone(), cfg.nat.seed.unwrap_or(0))?);
    let (producer, consumer) = ring(cfg.log.ring_capacity as usize);
    let mut router = Router::new(shared, Worker::new(nat.clone(), 0, producer), pool.clone());
    let mut eg = PcapEgress {
        inside: PcapWriter::create(&paths.inside_tx).map_err(io(format!("create {}", paths.inside_tx.display())))?,
        outside: PcapWriter::create(&paths.outside_tx).map_err(io(format!("create {}", paths.outside_tx.display())))?,
        error: None,
    };
    let mut drain = LogPipeline::open(&cfg.log, vec![consumer], Vec::new()).map_err(io("open NAT log"))?;
    let digest = run::config_digest(cfg);
    drain.set_run(run::replay_run_id(digest));
    let mut sweeper = Sweeper::new(nat, Vec::<Event>::new());

    let mut burst = Burst::new();
    let mut now = Instant::ZERO;
    let mut started = false;
    let mut next_sweep = 0u64;
    let mut frames = 0u64;
    while !stop_requested() {
        let mut ready = true;
        for i in inputs.iter_mut() {
            ready &= i.fill(&mut burst, ts.as_ref(), now.as_micros());
        }
        if !ready {
            continue;
        }
        let pick = match (inputs[0].queue.front(), inputs[1].queue.front()) {
            (Some(a), Some(b)) => usize::from(b.0 < a.0),
            (Some(_), None) => 0,
            (None, Some(_)) => 1,
            (None, None) => break,
        };
        let side = inputs[pick].side;
        let Some((t, m)) = inputs[pick].queue.pop_front() else { break };
        now = Instant::from_micros(t.max(now.as_micros()));
        if !started {
            let at = Instant::from_micros(now.as_micros().saturating_sub(1));
            let mut first = Vec::new();
            sweeper.sequencer().emit(&mut first, run::start_event(at, digest));
            sweeper.sink_mut().append(&mut first);
            sweeper.log_startup(at);
            drain.pump(sweeper.sink_mut(), now.as_micros());
            started = true;
        }
        if now.as_micros() >= next_sweep {
            sweeper.sweep(now, SWEEP_BUDGET);
            next_sweep = now.as_micros() + 1_000_000;
        }
        router.handle(side, m, now, &mut eg);
        router.housekeeping(now, &mut eg);
        router.flush(now, &mut eg);
        frames += 1;
        drain.pump(sweeper.sink_mut(), now.as_micros());
    }
    router.housekeeping(now, &mut eg);
    router.flush(now, &mut eg);
    router.drop_held();
    sweeper.shutdown(now);
    drain.drain_all(sweeper.sink_mut());
    if started {
        let at = Instant::from_micros(now.as_micros().max(drain.last_time()));
        let mut stop = Vec::new();
        sweeper.sequencer().emit(&mut stop, run::stop_event(at, drain.written()));
        sweeper.sink_mut().append(&mut stop);
        drain.drain_all(sweeper.sink_mut());
    }
    if let Some((target, n)) = drain.close().into_iter().next() {
        return Err(DaemonError::Io {
            context: format!("NAT log target {target}"),
            source: std::io::Error::other(format!("{n} record(s) not written")),
        });
    }
    if let Some(e) = eg.error.take() {
        return Err(DaemonError::Io {
            context: "write replay output".into(),
            source: e,
        });
    }
    let out_in = eg.inside.finish().map_err(io("write inside output pcap"))?;
    let out_out = eg.outside.finish().map_err(io("write outside output pcap"))?;
    log::info!("replay: {frames} frames in, {out_in} out inside, {out_out} out outside");

    let mut summary = Summary::collect(&[router.nat_counters().clone()], &[router.counters().clone()]);
    summary.events_logged = drain.written();
    drop(router);
    let [a, b] = inputs;
    for i in [a, b] {
        summary.ports.push((i.port.name().to_string(), i.port.stats().unwrap_or_default()));
        drop(i.queue);
        i.port.close().map_err(dpdk("close replay port"))?;
    }
    summary.report(stats_file)
}
