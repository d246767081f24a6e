//! Start, run and stop `cgnatd` in live mode: EAL, mempool, ports, workers
//! on their lcores, the management core ([`super::management`]: sweeper,
//! ordered NAT log, control socket, metrics) on the main lcore, signal
//! handling, clean shutdown.
//!
//! Start order (issue 10 item 3): EAL, ports, the packet clock, the
//! workers' rings and contexts; then the management core, which opens the
//! log targets and makes the run's `daemon-start` and configuration
//! records durable; only then are the workers launched. A failure before
//! that launches no worker. The management loop re-anchors the packet
//! clock to the system clock every `log.clock.interval_ms`
//! ([`super::discipline`]) and ticks every 1–2 ms.
//!
//! Shutdown order (SIGINT/SIGTERM set a flag, nothing else): workers stop
//! polling, send what is queued and drop what is held; the management core
//! runs the sweeper's `shutdown()` so every open block gets its release
//! record, writes every queued record to every log target and syncs them,
//! stops the control and metrics threads, prints the counters and closes
//! the ports.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cgnat_core::config::{DaemonConfig, LoadError, PortConfig};
use cgnat_core::counters::{CounterSnapshot, Counters};
use cgnat_core::event::Event;
use cgnat_core::ring::{ring, Consumer};
use cgnat_core::{Instant, Nat, Worker};

use super::clock::{self, ClockCell, PacketClock};
use super::counters::{DpCounter, DpCounters};
use super::daemon_log::Throttled;
use super::discipline::{self as disc, Discipline};
use super::eal_args;
use super::management::{run, CoreParts, ManagementCore};
use super::router::{Router, Shared};
use super::sd_notify::{Notifier, Progress};
use super::worker_loop::{self, QueueEgress, WorkerContext};
use crate::{DpdkError, Eal, Mempool, Port, PortConf, PortStats, DEFAULT_DATA_ROOM, HEADROOM, SOCKET_ANY};

/// New sessions one worker may have queued for the HA standby; a full ring
/// is counted and answered with a bulk sync.
pub const HA_SESSION_RING: usize = 8192;

/// Set by SIGINT/SIGTERM.
static STOP: AtomicBool = AtomicBool::new(false);

/// The discipline settings of `cfg` (`[log.clock]`).
pub fn discipline_settings(cfg: &DaemonConfig) -> disc::Settings {
    let c = &cfg.log.clock;
    disc::Settings {
        slew_ppm: c.slew_ppm,
        step_threshold_us: c.step_threshold_ms as u64 * 1000,
        backward_slew_ppm: c.backward_slew_ppm,
        interval_us: c.interval_ms as u64 * 1000,
    }
}

/// Why the daemon could not start or run.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// The configuration is not valid.
    #[error("configuration: {0}")]
    Config(#[from] LoadError),
    /// The NAT refused the configuration.
    #[error("configuration: {0}")]
    Nat(#[from] cgnat_core::config::ConfigError),
    /// Not running as root.
    #[error("cgnatd must run as root (DPDK needs hugepage/VFIO/TAP access); running as uid {0}")]
    NotRoot(u32),
    /// A DPDK step failed.
    #[error("{context}: {source}")]
    Dpdk {
        /// What was being done.
        context: String,
        /// The error.
        source: DpdkError,
    },
    /// A file could not be written.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: std::io::Error,
    },
    /// Not enough lcores for the workers.
    #[error("dataplane.workers = {workers} needs {workers} worker lcores but the EAL has {have} (check dataplane.lcores)")]
    Lcores {
        /// Workers configured.
        workers: u16,
        /// Worker lcores available.
        have: usize,
    },
}

pub(crate) fn dpdk(context: impl Into<String>) -> impl FnOnce(DpdkError) -> DaemonError {
    let context = context.into();
    move |source| DaemonError::Dpdk { context, source }
}

pub(crate) fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> DaemonError {
    let context = context.into();
    move |source| DaemonError::Io { context, source }
}

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Installs the SIGINT/SIGTERM handlers (they only set a flag).
pub fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: a zeroed sigaction is valid; the handler is
        // async-signal-safe (one atomic store).
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// Whether a stop was requested.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Fails unless running as root.
pub fn require_root() -> Result<(), DaemonError> {
    match crate::eal::effective_uid() {
        Some(0) | None => Ok(()),
        Some(uid) => Err(DaemonError::NotRoot(uid)),
    }
}

/// A random seed for the NAT's hashes and port randomiser.
pub fn os_seed() -> u64 {
    let mut b = [0u8; 8];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut b))
        .is_ok()
    {
        return u64::from_le_bytes(b);
    }
    use std::hash::{BuildHasher, Hasher};
    std::collections::hash_map::RandomState::new().build_hasher().finish()
}

/// The mbuf data room needed for the configured MTUs (and VLAN tags).
pub fn data_room(cfg: &DaemonConfig) -> u16 {
    let mtu = cfg.nat.inside_mtu.max(cfg.nat.outside_mtu) as u32 + 18;
    (mtu + HEADROOM as u32).max(DEFAULT_DATA_ROOM as u32).min(u16::MAX as u32) as u16
}

/// Mbufs for `workers` workers: every RX and TX ring full, plus bursts,
/// held packets and fragments, plus what the PMDs keep per queue (an AF_XDP
/// queue's fill ring); rounded to 2^n - 1.
pub fn pool_size(cfg: &DaemonConfig) -> u32 {
    let d = &cfg.dataplane;
    if d.mbufs != 0 {
        return d.mbufs;
    }
    let pmd = d.inside.pmd_mbufs_per_queue() + d.outside.pmd_mbufs_per_queue();
    let per = 2 * (d.rx_desc as u32 + d.tx_desc as u32) + 4 * 32 + d.arp_hold_packets as u32 + cfg.nat.fragments.max_held + 256 + pmd;
    ((per * d.workers as u32).max(1024) + 1).next_power_of_two() - 1
}

fn open_port(eal: &Eal, p: &PortConfig, queues: u16, cfg: &DaemonConfig, pool: &Mempool, mtu: u16) -> Result<Port, DaemonError> {
    let name = p.port_name();
    let mut port = Port::by_name(eal, name).map_err(dpdk(format!("port {name}")))?;
    let mut conf = PortConf {
        mtu: (mtu != 1500).then_some(mtu),
        rss: true,
        promisc: true,
        rx_timestamp: false,
    };
    if let Err(e) = port.configure(queues, queues, &conf) {
        log::warn!("port {name}: configure with RSS failed ({e}); retrying without RSS");
        conf.rss = false;
        port.configure(queues, queues, &conf)
            .map_err(dpdk(format!("configure port {name}")))?;
    }
    for q in 0..queues {
        port.rx_queue_setup(q, cfg.dataplane.rx_desc, pool)
            .map_err(dpdk(format!("port {name} rx queue {q}")))?;
        port.tx_queue_setup(q, cfg.dataplane.tx_desc)
            .map_err(dpdk(format!("port {name} tx queue {q}")))?;
    }
    port.start().map_err(dpdk(format!("start port {name}")))?;
    let rss = if port.rss_enabled() { "RSS on IP addresses" } else { "no RSS" };
    let mac = port.mac_addr().map(|m| m.to_string()).unwrap_or_default();
    log::info!(
        "port {name} ({}): {queues} queue pair(s), {rss}, MAC {mac}",
        port.info().map(|i| i.driver).unwrap_or_default()
    );
    Ok(port)
}

/// Counters of a finished run.
#[derive(Debug, Default)]
pub struct Summary {
    /// NAT counters summed over workers.
    pub nat: CounterSnapshot,
    /// Data-plane counters summed over workers.
    pub dataplane: Vec<u64>,
    /// (port name, port stats).
    pub ports: Vec<(String, PortStats)>,
    /// NAT log lines written.
    pub events_logged: u64,
    /// Per worker: (frames received inside, frames received outside).
    pub workers: Vec<(u64, u64)>,
}

impl Summary {
    /// Sums the counters of every worker.
    pub fn collect(nat: &[Arc<Counters>], dp: &[Arc<DpCounters>]) -> Summary {
        let mut s = Summary {
            dataplane: vec![0; DpCounter::COUNT],
            ..Summary::default()
        };
        for c in nat {
            s.nat.merge(&c.snapshot());
        }
        for c in dp {
            s.workers.push((c.get(DpCounter::RxInside), c.get(DpCounter::RxOutside)));
            for (a, b) in s.dataplane.iter_mut().zip(c.snapshot()) {
                *a += b;
            }
        }
        s
    }

    /// `name value` lines of every non-zero counter.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, st) in &self.ports {
            out.push_str(&format!(
                "port {name}: rx {} tx {} missed {} rx_errors {} tx_errors {} rx_nombuf {}\n",
                st.ipackets, st.opackets, st.imissed, st.ierrors, st.oerrors, st.rx_nombuf
            ));
        }
        for (i, (a, b)) in self.workers.iter().enumerate() {
            out.push_str(&format!("worker {i}: rx_inside {a} rx_outside {b}\n"));
        }
        for c in cgnat_core::Counter::ALL {
            if self.nat.get(*c) != 0 {
                out.push_str(&format!("nat.{} {}\n", c.name(), self.nat.get(*c)));
            }
        }
        for r in cgnat_core::DropReason::ALL {
            if self.nat.dropped(*r) != 0 {
                out.push_str(&format!("nat.drop.{} {}\n", r.name(), self.nat.dropped(*r)));
            }
        }
        for c in DpCounter::ALL {
            let v = self.dataplane[*c as usize];
            if v != 0 {
                out.push_str(&format!("dataplane.{} {v}\n", c.name()));
            }
        }
        out.push_str(&format!("natlog.events {}\n", self.events_logged));
        out
    }

    /// Prints the counters and writes them to `file` if given.
    pub fn report(&self, file: Option<&Path>) -> Result<(), DaemonError> {
        let text = self.render();
        print!("cgnatd: counters\n{text}");
        let _ = std::io::stdout().flush();
        if let Some(f) = file {
            std::fs::write(f, &text).map_err(io(format!("write {}", f.display())))?;
        }
        Ok(())
    }
}

/// How often the management loop reads the NIC counters.
pub const PORT_STATS_EVERY: Duration = Duration::from_secs(1);

/// One port's NIC counters for the control protocol.
pub fn port_counters(side: &str, cfg: &PortConfig, p: &Port) -> cgnat_core::control::PortCounters {
    let s = p.stats().unwrap_or_default();
    cgnat_core::control::PortCounters {
        port: side.into(),
        device: cfg.port_name().into(),
        rx_packets: s.ipackets,
        tx_packets: s.opackets,
        rx_bytes: s.ibytes,
        tx_bytes: s.obytes,
        rx_missed: s.imissed,
        rx_errors: s.ierrors,
        tx_errors: s.oerrors,
        rx_nombuf: s.rx_nombuf,
    }
}

/// The runtime directory DPDK creates for `prefix`; removed at exit.
pub fn runtime_dir(prefix: &str) -> PathBuf {
    PathBuf::from("/var/run/dpdk").join(prefix)
}

/// Runs the daemon in live mode until SIGINT/SIGTERM. `config_path` is
/// the file the configuration came from (what `reload` re-reads).
pub fn run_live(cfg: &DaemonConfig, config_path: Option<&Path>, stats_file: Option<&Path>) -> Result<(), DaemonError> {
    require_root()?;
    let d = &cfg.dataplane;
    let prefix = format!("cgnatd-{}", std::process::id());
    let free = eal_args::free_hugepages();
    let args = eal_args::live_args(cfg, &prefix, free, &eal_args::allowed_cpus());
    let memory = if eal_args::use_hugepages(d.hugepages, free) {
        format!("hugepages ({free} free 2 MiB pages)")
    } else {
        format!("no hugepages (--no-huge -m {})", d.memory_mb)
    };
    log::info!("starting DPDK with {memory}: {}", args.join(" "));
    let eal = match Eal::init(&args) {
        Ok(e) => e,
        Err(e) => {
            let _ = std::fs::remove_dir_all(runtime_dir(&prefix));
            return Err(dpdk("DPDK EAL initialisation")(e));
        }
    };
    // The EAL's interrupt thread exists: from here on the TAP PMD's receive
    // signals go to it, never to the management thread or the threads it
    // starts (the workers block them too; see `signals`).
    if let Err(e) = crate::signals::block_rx_signals_in_this_thread() {
        log::warn!("cannot block the PMD receive signals in the management thread ({e}); a TAP flood may delay the NAT log");
    }
    let result = live(&eal, cfg, config_path, stats_file);
    drop(eal);
    let _ = std::fs::remove_dir_all(runtime_dir(&prefix));
    result
}

fn live(eal: &Eal, cfg: &DaemonConfig, config_path: Option<&Path>, stats_file: Option<&Path>) -> Result<(), DaemonError> {
    let d = &cfg.dataplane;
    let lcores = eal.worker_lcores();
    if lcores.len() < d.workers as usize {
        return Err(DaemonError::Lcores {
            workers: d.workers,
            have: lcores.len(),
        });
    }
    let pool = Mempool::new(eal, "cgnatd_pool", pool_size(cfg), 256, data_room(cfg), SOCKET_ANY).map_err(dpdk("packet mempool"))?;
    let inside = open_port(eal, &d.inside, d.workers, cfg, &pool, cfg.nat.inside_mtu)?;
    let outside = open_port(eal, &d.outside, d.workers, cfg, &pool, cfg.nat.outside_mtu)?;
    let inside_mac = inside.mac_addr().map_err(dpdk("inside MAC"))?.0;
    let outside_mac = outside.mac_addr().map_err(dpdk("outside MAC"))?.0;
    let shared = Arc::new(Shared::new(cfg, inside_mac, outside_mac));
    let nat = Arc::new(Nat::new(cfg.nat.clone(), os_seed())?);
    // The NAT log rule: a new block carries traffic only once its
    // allocation record is durable (the workers hold its first packets).
    nat.require_durable_log(true);

    let stop = Arc::new(AtomicBool::new(false));
    // The packet clock: the TSC, disciplined to the system clock by this
    // (management) thread, read by the workers through the cell.
    let mut discipline = Discipline::new(discipline_settings(cfg), clock::sample(), clock::boot_hz());
    let cell = Arc::new(ClockCell::new(discipline.params()));
    let mut mgmt_clock = PacketClock::new(cell.clone(), 0);
    let start = mgmt_clock.now();
    // Every worker event comes after the run's start records.
    let floor = start.as_micros() + 1;
    let mut consumers: Vec<Consumer<Event>> = Vec::new();
    let mut watermarks = Vec::new();
    let (mut nat_counters, mut dp_counters) = (Vec::new(), Vec::new());
    let mut workers = Vec::new();
    // The PCP exception path (decision 017): two rings per worker.
    let (pcp_paths, pcp_links) = if cfg.pcp.enabled {
        super::management::pcp::pcp_rings(d.workers as usize, cfg.pcp.queue as usize)
    } else {
        (Vec::new(), Vec::new())
    };
    let mut pcp_paths = pcp_paths.into_iter();
    let mut ha_sessions = Vec::new();
    install_signal_handlers();
    for i in 0..d.workers as usize {
        let q = i as u16;
        let (producer, consumer) = ring(cfg.log.ring_capacity as usize);
        consumers.push(consumer);
        let watermark = Arc::new(AtomicU64::new(floor));
        watermarks.push(watermark.clone());
        let mut worker = Worker::new(nat.clone(), q, producer);
        if cfg.ha.enabled {
            // Issue 13: new sessions reach the management core for the
            // standby through a ring per worker, as log events do.
            let (tx, rx) = ring(HA_SESSION_RING);
            worker.set_ha_sync(tx);
            ha_sessions.push(rx);
        }
        let mut router = Router::new(shared.clone(), worker, pool.clone());
        if let Some(path) = pcp_paths.next() {
            router.set_pcp(path);
        }
        if q == 0 {
            router.set_announcer();
        }
        nat_counters.push(router.nat_counters().clone());
        dp_counters.push(router.counters().clone());
        workers.push(WorkerContext {
            id: q,
            router,
            rx_inside: inside.rx_queue(q).map_err(dpdk("inside rx queue"))?,
            rx_outside: outside.rx_queue(q).map_err(dpdk("outside rx queue"))?,
            egress: QueueEgress {
                inside: inside.tx_queue(q).map_err(dpdk("inside tx queue"))?,
                outside: outside.tx_queue(q).map_err(dpdk("outside tx queue"))?,
            },
            clock: PacketClock::new(cell.clone(), floor),
            stop: stop.clone(),
            idle_sleep_us: d.idle_sleep_us,
            watermark,
        });
    }

    // The management core first (issue 10 item 3): log targets open, the
    // run's start and configuration records durable. If that fails, no
    // worker has run and nothing was translated.
    let display = cell.clone();
    let progress_marks = watermarks.clone();
    let parts = CoreParts {
        nat: nat.clone(),
        rings: consumers,
        watermarks,
        nat_counters: nat_counters.clone(),
        dp_counters: dp_counters.clone(),
        run_mode: "live",
        config_path: config_path.map(Path::to_path_buf),
        clock: Box::new(move || Instant::from_micros(display.read().at(crate::tsc_cycles()))),
        pcp: pcp_links,
        ha_standby: Some(shared.ha_standby.clone()),
        ha_announce: Some(shared.ha_announce.clone()),
        ha_probe: Some(shared.ha_probe.clone()),
        ha_peer_seen: Some(shared.ha_peer_seen.clone()),
        ha_sessions,
    };
    let mut core = ManagementCore::start(cfg, parts, start).map_err(io("start the management core"))?;
    log::info!("NAT log targets: {}", core.log.target_names().join(", "));
    for m in ManagementCore::describe(cfg) {
        log::info!("{m}");
    }
    let mut launched = Vec::new();
    for (ctx, lcore) in workers.into_iter().zip(lcores.iter()) {
        let i = ctx.id;
        if let Err(e) = eal.launch_on(*lcore, move || worker_loop::run(ctx)) {
            stop.store(true, Ordering::SeqCst);
            for l in &launched {
                eal.wait(*l);
            }
            let _ = core.shutdown(mgmt_clock.now());
            return Err(dpdk(format!("launch worker {i} on lcore {lcore}"))(e));
        }
        launched.push(*lcore);
    }
    log::info!(
        "{} worker(s) running; inside {} on {}, outside {} on {}",
        d.workers,
        d.inside.address,
        d.inside.port_name(),
        d.outside.address,
        d.outside.port_name()
    );

    // systemd (Type=notify): ready once the workers run; the watchdog is
    // fed only while every worker makes progress.
    let notifier = Notifier::from_env();
    let mut progress = Progress::default();
    let status = format!(
        "{} worker(s); inside {}, outside {}",
        d.workers, d.inside.address, d.outside.address
    );
    if let Err(e) = notifier.notify(&format!("READY=1\nSTATUS={status}")) {
        log::warn!("cannot notify the service manager ($NOTIFY_SOCKET): {e}");
    }
    let watchdog_every = notifier.watchdog_every();
    let mut next_watchdog = std::time::Instant::now();
    let watchdog_warned = Throttled::new(Duration::from_secs(60));

    let interval = Duration::from_millis(cfg.log.clock.interval_ms as u64);
    let mut next_discipline = std::time::Instant::now() + interval;
    let mut next_ports = std::time::Instant::now();
    while !stop_requested() {
        if let Some(every) = watchdog_every.filter(|_| std::time::Instant::now() >= next_watchdog) {
            next_watchdog = std::time::Instant::now() + every;
            let marks: Vec<u64> = progress_marks.iter().map(|w| w.load(Ordering::Acquire)).collect();
            if progress.advanced(&marks) {
                let _ = notifier.notify("WATCHDOG=1");
            } else {
                watchdog_warned.log(
                    log::Level::Error,
                    format_args!("a worker made no progress for {every:?}: the systemd watchdog is not fed"),
                );
            }
        }
        if std::time::Instant::now() >= next_ports {
            // NIC counters for `stats` and metrics, read here (not by the
            // workers) about once a second.
            next_ports += PORT_STATS_EVERY;
            core.publish_ports(vec![
                port_counters("inside", &d.inside, &inside),
                port_counters("outside", &d.outside, &outside),
            ]);
        }
        if std::time::Instant::now() >= next_discipline {
            next_discipline += interval;
            if let Some(step) = discipline.update(clock::sample()) {
                let e = run::clock_step_event(Instant::from_micros(step.at_us), step.forward, step.us);
                log::warn!(
                    "the system clock stepped {} by {} µs; {}",
                    if step.forward { "forward" } else { "backward" },
                    step.us,
                    if step.forward {
                        "the packet clock follows"
                    } else {
                        "the packet clock slews, never going back"
                    }
                );
                cell.publish(discipline.params());
                // Stamped no earlier than the management clock's last reading.
                let mut e = e;
                e.time = e.time.max(mgmt_clock.now());
                core.log_event(e);
            } else {
                cell.publish(discipline.params());
            }
        }
        core.tick(mgmt_clock.now());
        std::thread::sleep(core.tick_interval());
    }
    log::info!("stopping");
    let _ = notifier.notify("STOPPING=1\nSTATUS=draining workers, releasing blocks");
    stop.store(true, Ordering::SeqCst);
    for lcore in &launched {
        let rc = eal.wait(*lcore);
        if rc != 0 {
            log::error!("worker on lcore {lcore} ended with {rc}");
        }
    }
    let report = core.shutdown(mgmt_clock.now());
    for (target, n) in &report.lost {
        log::error!("NAT log target {target}: {n} record(s) could not be written before the deadline");
    }
    if report.unwritten > 0 {
        log::error!("{} NAT log record(s) could not be written (targets stalled)", report.unwritten);
    }
    log::info!("{} block(s) released at shutdown", report.released.blocks_released);

    let mut summary = Summary::collect(&nat_counters, &dp_counters);
    summary.events_logged = report.records;
    for p in [&inside, &outside] {
        summary.ports.push((p.name().to_string(), p.stats().unwrap_or_default()));
    }
    summary.report(stats_file)?;
    inside.close().map_err(dpdk("close inside port"))?;
    outside.close().map_err(dpdk("close outside port"))?;
    Ok(())
}
