//! [`ManagementCore`]: the management loop's state and one tick of it —
//! sweep, control commands, log pump — plus the threads it owns (control
//! socket, metrics). Used by live mode (`lifecycle`) and by tests that
//! drive a cgnat-core `Worker` without DPDK.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::Arc;

use cgnat_core::config::DaemonConfig;
use cgnat_core::counters::Counters;
use cgnat_core::event::Event;
use cgnat_core::ring::Consumer;
use cgnat_core::sweeper::{SweepStats, Sweeper};
use cgnat_core::{Instant, Nat};

use super::control::{Command, Executor};
use super::log::LogPipeline;
use super::merge::Watermark;
use super::query::QueryContext;
use super::servers::ManagementServers;
use crate::daemon::counters::DpCounters;

/// Sweeper slots per sweep.
pub const SWEEP_BUDGET: usize = 4096;
/// Packet-clock microseconds between sweeps.
pub const SWEEP_EVERY_US: u64 = 100_000;

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
    last_sweep: Option<u64>,
    nat: Arc<Nat>,
    durable: Vec<cgnat_core::natlog::LogRecord>,
}

impl ManagementCore {
    /// Opens the log targets, logs the startup records at `now`, and
    /// starts the control socket and metrics server if configured.
    pub fn start(cfg: &DaemonConfig, parts: CoreParts, now: Instant) -> io::Result<ManagementCore> {
        let log = LogPipeline::open(&cfg.log, parts.rings, parts.watermarks.clone())?;
        let ctx = Arc::new(QueryContext {
            nat: parts.nat.clone(),
            nat_counters: parts.nat_counters,
            dp_counters: parts.dp_counters,
            watermarks: parts.watermarks,
            log: log.shared().clone(),
            sinks: Default::default(),
            run_mode: parts.run_mode,
            config_source: parts
                .config_path
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "embedded".into()),
            clock: parts.clock,
            started: std::time::Instant::now(),
        });
        let exec = Executor {
            config_path: parts.config_path,
            ctx: ctx.clone(),
        };
        exec.publish_sinks(&log);
        let (tx, commands) = sync_channel(64);
        let servers = ManagementServers::start(&cfg.control, &cfg.metrics, ctx, tx)?;
        let nat = parts.nat.clone();
        let mut sweeper = Sweeper::new(parts.nat, Vec::new());
        sweeper.log_startup(now);
        Ok(ManagementCore {
            log,
            sweeper,
            exec,
            commands,
            servers,
            last_sweep: None,
            nat,
            durable: Vec::new(),
        })
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

    /// One tick at packet-clock time `now`: a sweep slice (every
    /// [`SWEEP_EVERY_US`]), pending control commands, and the log pump
    /// (events below `now` and every worker's watermark).
    pub fn tick(&mut self, now: Instant) {
        let t = now.as_micros();
        if self.last_sweep.map_or(true, |l| t.saturating_sub(l) >= SWEEP_EVERY_US) {
            self.sweeper.sweep(now, SWEEP_BUDGET);
            self.last_sweep = Some(t);
        }
        self.exec.run_pending(&self.commands, &mut self.sweeper, &mut self.log, now);
        self.log.pump(self.sweeper.sink_mut(), t);
        self.publish_durable();
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
    /// (reason `shutdown`), writes every record, stops the threads and
    /// closes the targets.
    pub fn shutdown(mut self, now: Instant) -> ShutdownReport {
        let released = self.sweeper.shutdown(now);
        let unwritten = self.log.drain_all(self.sweeper.sink_mut());
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
