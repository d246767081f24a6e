//! [`ManagementCore`]: the management loop's state and one tick of it —
//! sweep, control commands, the PCP server, log pump — plus the threads it owns (control
//! socket, metrics). Used by live mode (`lifecycle`) and by tests that
//! drive a cgnat-core `Worker` without DPDK.
//!
//! Start (issue 10 items 2 and 3): the log targets open, the run's
//! `daemon-start` record and the configuration records (deterministic
//! epoch and prefixes, static mappings) are numbered and made durable in
//! every legal target, then the control socket and metrics start; only
//! then does `lifecycle` launch the workers. A start that fails at any
//! step returns an error and no worker ever runs. A clean shutdown ends
//! the run with its `daemon-stop` record, the last one.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;
use std::time::Duration;

use cgnat_core::config::DaemonConfig;
use cgnat_core::counters::Counters;
use cgnat_core::event::Event;
use cgnat_core::ring::Consumer;
use cgnat_core::sweeper::{SweepStats, Sweeper};
use cgnat_core::{Instant, Nat};

use super::control::{Command, Executor};
use super::ha::HaNode;

mod ha_run;
use super::log::{LogPipeline, SHUTDOWN_DEADLINE};
use super::merge::Watermark;
use super::pcp::{PcpLink, PcpService};
use super::query::QueryContext;
use super::run;
use super::servers::ManagementServers;
use crate::daemon::counters::DpCounters;

/// The management loop's period while records or events wait (for a
/// target, the merge, or durability): the added first-packet latency of a
/// new block is at most about one such tick plus the target's write and
/// fsync (or TCP acknowledgement).
pub const BUSY_TICK: Duration = Duration::from_millis(1);
/// The period while nothing waits.
pub const IDLE_TICK: Duration = Duration::from_millis(2);
/// How long a clean shutdown waits for `events --follow` clients to be
/// sent their last records.
pub const FOLLOWERS_DEADLINE: Duration = Duration::from_secs(5);
/// How long a start waits for its first records to be durable.
pub const START_DEADLINE: Duration = Duration::from_secs(10);

/// What the management core is built from.
pub struct CoreParts {
    /// The NAT.
    pub nat: Arc<Nat>,
    /// The workers' event rings.
    pub rings: Vec<Consumer<Event>>,
    /// The workers' watermarks.
    pub watermarks: Vec<Watermark>,
    /// Per worker NAT counters.
    pub nat_counters: Vec<Arc<Counters>>,
    /// Per worker data-plane counters.
    pub dp_counters: Vec<Arc<DpCounters>>,
    /// `live` (or a test's name).
    pub run_mode: &'static str,
    /// The configuration file (`reload` re-reads it).
    pub config_path: Option<PathBuf>,
    /// The packet clock.
    pub clock: Box<dyn Fn() -> Instant + Send + Sync>,
    /// The management core's ends of the workers' PCP rings (empty: no
    /// PCP server, `pcp.enabled = false`).
    pub pcp: Vec<PcpLink>,
    /// The workers' HA gate ([`crate::daemon::router::Shared::ha_standby`]):
    /// cleared when this node becomes active, set when it turns standby.
    pub ha_standby: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// The workers' HA announcement counter
    /// ([`crate::daemon::router::Shared::ha_announce`]).
    pub ha_announce: Option<Arc<std::sync::atomic::AtomicU64>>,
    /// The workers' HA segment probe request counter
    /// ([`crate::daemon::router::Shared::ha_probe`]).
    pub ha_probe: Option<Arc<std::sync::atomic::AtomicU64>>,
    /// When the workers last saw the peer on the inside segment
    /// ([`crate::daemon::router::Shared::ha_peer_seen`]).
    pub ha_peer_seen: Option<Arc<std::sync::atomic::AtomicU64>>,
    /// The management core's ends of the workers' HA session rings.
    pub ha_sessions: Vec<Consumer<cgnat_core::wire::ha::SessionRecord>>,
}

/// What a shutdown did.
#[derive(Debug, Default)]
pub struct ShutdownReport {
    /// Blocks released (each logged with reason `shutdown`).
    pub released: SweepStats,
    /// Records still queued when the deadline passed (0 on a clean stop).
    pub unwritten: usize,
    /// Targets that did not finish writing: (name, records).
    pub lost: Vec<(String, u64)>,
    /// Records written in total.
    pub records: u64,
}

/// The management loop.
pub struct ManagementCore {
    /// The NAT log.
    pub log: LogPipeline,
    /// The sweeper (its events go through `log`).
    pub sweeper: Sweeper<Vec<Event>>,
    exec: Executor,
    commands: Receiver<Command>,
    servers: ManagementServers,
    nat: Arc<Nat>,
    durable: Vec<cgnat_core::natlog::LogRecord>,
    ctx: Arc<QueryContext>,
    pcp: Option<PcpService>,
    /// The HA pair's node and its glue (`[ha] enabled`).
    ha: Option<ha_run::HaGlue>,
}

impl ManagementCore {
    /// Opens the log targets, writes the run's `daemon-start` record and
    /// the configuration records at `now` and waits until they are durable
    /// in every legal target, then starts the control socket and metrics
    /// server if configured. Workers must not produce events before it
    /// returns (their events would precede `daemon-start`).
    pub fn start(cfg: &DaemonConfig, parts: CoreParts, now: Instant) -> io::Result<ManagementCore> {
        let mut log = LogPipeline::open(&cfg.log, parts.rings, parts.watermarks.clone())?;
        log.set_run(run::random_run_id());
        // The allocations the data plane waits for (`publish_durable`).
        log.set_durable_tracking(true);
        let mut sweeper = Sweeper::new(parts.nat.clone(), Vec::new());
        // An HA node writes nothing until it is active: its run starts then
        // (decision 021). A single node starts its run now.
        if !cfg.ha.enabled {
            open_run(&mut log, &mut sweeper, run::config_digest(cfg), now)?;
        }
        let ha = if cfg.ha.enabled {
            log.tap_blocks();
            let node = HaNode::bind(&cfg.ha, log.run(), &cfg.nat.timeouts, Instant::from_micros(0))?;
            log::info!(
                "ha: node {} (priority {}), peer {} on UDP port {}: listening for the peer",
                cfg.ha.local_address,
                cfg.ha.priority,
                cfg.ha.peer_address,
                cfg.ha.sync_port
            );
            Some(node)
        } else {
            None
        };
        let ctx = Arc::new(QueryContext {
            nat: parts.nat.clone(),
            nat_counters: parts.nat_counters,
            dp_counters: parts.dp_counters,
            watermarks: parts.watermarks,
            log: log.shared().clone(),
            sinks: Default::default(),
            run_mode: parts.run_mode,
            run: log.run().into(),
            config_source: parking_lot::Mutex::new(
                parts
                    .config_path
                    .as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_else(|| "embedded lab configuration (--lab)".into()),
            ),
            ports: Default::default(),
            clock: parts.clock,
            started: std::time::Instant::now(),
            pcp: Default::default(),
            ha: ha.as_ref().map(HaNode::status).unwrap_or_default(),
        });
        if ha.is_some() {
            sweeper.track_removed();
        }
        let ha = ha.map(|node| {
            ha_run::HaGlue::new(
                node,
                cfg,
                parts.nat.clone(),
                parts.ha_sessions,
                ha_run::Dataplane {
                    gate: parts.ha_standby.clone(),
                    announce: parts.ha_announce.clone(),
                    probe: parts.ha_probe.clone(),
                    peer_seen: parts.ha_peer_seen.clone(),
                },
                now,
            )
        });
        let exec = Executor {
            config_path: parts.config_path,
            ctx: ctx.clone(),
            pcp: parking_lot::Mutex::new(cfg.pcp.clone()),
        };
        exec.publish_sinks(&log);
        let (tx, commands) = sync_channel(64);
        let servers = ManagementServers::start(&cfg.control, &cfg.metrics, ctx.clone(), tx)?;
        let nat = parts.nat.clone();
        // After the start records: its records and ANNOUNCEs follow them.
        let mut pcp =
            (cfg.pcp.enabled && !parts.pcp.is_empty()).then(|| PcpService::new(&cfg.pcp, nat.clone(), parts.pcp, now, ctx.pcp.clone()));
        if cfg.ha.enabled {
            // Silent until active (issue 13): ANNOUNCE then.
            pcp.iter_mut().for_each(PcpService::hold_announcements);
        }
        Ok(ManagementCore {
            log,
            sweeper,
            exec,
            commands,
            servers,
            nat,
            durable: Vec::new(),
            ctx,
            pcp,
            ha,
        })
    }

    /// Publishes the ports' NIC counters for `stats` and the metrics (the
    /// management loop reads them from DPDK; the workers are not involved).
    pub fn publish_ports(&self, ports: Vec<cgnat_core::control::PortCounters>) {
        *self.ctx.ports.lock() = ports;
    }

    /// Queues one record of the management core's own (a `clock-step`,
    /// ...), numbered as producer `mgmt`.
    pub fn log_event(&mut self, e: Event) {
        let mut v = Vec::with_capacity(1);
        self.sweeper.sequencer().emit(&mut v, e);
        self.sweeper.sink_mut().append(&mut v);
    }

    /// How long the management loop should sleep before its next tick:
    /// [`BUSY_TICK`] while anything waits for the merge, a target or
    /// durability, [`IDLE_TICK`] otherwise.
    pub fn tick_interval(&mut self) -> Duration {
        let pcp_waits = self.pcp.as_ref().is_some_and(|p| p.waiting() > 0);
        if self.log.busy() || !self.sweeper.sink_mut().is_empty() || pcp_waits {
            BUSY_TICK
        } else {
            IDLE_TICK
        }
    }

    /// The socket path, for messages.
    pub fn describe(cfg: &DaemonConfig) -> Vec<String> {
        let mut v = Vec::new();
        if cfg.control.enabled {
            v.push(format!("control socket {}", Path::new(&cfg.control.socket).display()));
        }
        if cfg.metrics.enabled {
            v.push(format!("metrics on http://{}/metrics", cfg.metrics.listen));
        }
        v
    }

    /// One tick at packet-clock time `now`: a paced sweep slice (its size
    /// follows the time since the last tick, so every table is passed
    /// over once per pacing period and an expired session goes within
    /// seconds: docs/decisions/012-expiry-pacing.md), pending control
    /// commands, and the log pump (events below `now` and every worker's
    /// watermark).
    pub fn tick(&mut self, now: Instant) {
        let t = now.as_micros();
        self.sweeper.sweep_paced(now);
        let done = self.exec.run_pending(&self.commands, &mut self.sweeper, &mut self.log, now);
        if let Some(pcp) = &mut self.pcp {
            if done.cleared {
                pcp.after_clear(&mut self.sweeper, now);
            }
            if let Some(cfg) = &done.pcp {
                pcp.reload(cfg);
            }
            pcp.tick(&mut self.sweeper, now);
        }
        self.log.pump(self.sweeper.sink_mut(), t);
        self.publish_durable();
        self.tick_ha(now, done.switchover);
    }

    /// Lets the blocks whose allocation records are durable carry traffic
    /// (the workers hold their first packets until then).
    pub fn publish_durable(&mut self) {
        self.log.take_durable(&mut self.durable);
        for r in self.durable.drain(..) {
            self.nat.block_logged(r.public_addr, r.first_port);
        }
    }

    /// Clean shutdown after the workers stopped: releases every block
    /// (reason `shutdown`), writes every record, ends the run with its
    /// `daemon-stop` record (the last; aux = the records before it), stops
    /// the threads and closes the targets.
    pub fn shutdown(mut self, now: Instant) -> ShutdownReport {
        // The workers have stopped. Blocks whose allocation records are
        // still on their way are pending, and a pending block cannot be
        // released: write those records and wait until they are durable
        // (bounded), so that every block gets its release record. Each
        // release is stamped no earlier than the last record written.
        self.log.drain_all(self.sweeper.sink_mut());
        self.log.wait_durable(&mut Vec::new(), u64::MAX, SHUTDOWN_DEADLINE);
        self.publish_durable();
        let now = Instant::from_micros(now.as_micros().max(self.log.last_time()));
        if self.ha.as_ref().is_some_and(|h| !h.run_open()) {
            // An HA node that is not active has no run: nothing to close.
            self.servers.stop();
            let lost = self.log.close();
            return ShutdownReport {
                lost,
                ..ShutdownReport::default()
            };
        }
        if let Some(pcp) = &mut self.pcp {
            pcp.shutdown(&mut self.sweeper, now);
        }
        let released = self.sweeper.shutdown(now);
        let mut unwritten = self.log.drain_all(self.sweeper.sink_mut());
        if unwritten == 0 {
            let at = Instant::from_micros(now.as_micros().max(self.log.last_time()));
            let stop = run::stop_event(at, self.log.written());
            self.log_event(stop);
            unwritten = self.log.drain_all(self.sweeper.sink_mut());
        }
        // Every follower has every record (`daemon-stop` last): end their
        // streams and let them send it all before the servers stop
        // (issue 15: `events --follow` missed the last record).
        self.log.end_followers();
        self.servers.wait_followers(FOLLOWERS_DEADLINE);
        self.servers.stop();
        let lost = self.log.close();
        ShutdownReport {
            released,
            unwritten,
            lost,
            records: self.log.written(),
        }
    }
}

/// Queues a run's first records at `now`: `daemon-start` (configuration
/// digest `digest`) and the configuration records.
pub(super) fn queue_run_start(sweeper: &mut Sweeper<Vec<Event>>, digest: u64, now: Instant) {
    let mut first = Vec::new();
    sweeper.sequencer().emit(&mut first, run::start_event(now, digest));
    sweeper.sink_mut().append(&mut first);
    sweeper.log_startup(now);
}

/// Queues a run's first records ([`queue_run_start`]) and waits until they
/// are durable in every legal target.
fn open_run(log: &mut LogPipeline, sweeper: &mut Sweeper<Vec<Event>>, digest: u64, now: Instant) -> io::Result<()> {
    queue_run_start(sweeper, digest, now);
    if log.wait_durable(sweeper.sink_mut(), now.as_micros() + 1, START_DEADLINE) {
        return Ok(());
    }
    let why: Vec<String> = log
        .sinks()
        .iter()
        .filter_map(|s| s.counters().last_error().map(|e| format!("{}: {e}", s.name())))
        .collect();
    Err(io::Error::new(
        io::ErrorKind::TimedOut,
        format!(
            "the NAT log targets did not make the start records durable within {} s{}",
            START_DEADLINE.as_secs(),
            if why.is_empty() {
                String::new()
            } else {
                format!(" ({})", why.join("; "))
            }
        ),
    ))
}
