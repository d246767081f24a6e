//! The NAT log pipeline of the management core: merge ([`Merger`]) →
//! global sequence number ([`LogRecord`]) → every target ([`Sink`]), plus
//! an in-memory history and live followers for `cgnatctl events`, and the
//! durability watermark the data plane waits for.
//!
//! Records leave the rings only while every blocking target has room, so a
//! stalled target makes the rings fill and the workers refuse new blocks
//! (RFC 6888 REQ-14: no block without its record); nothing is dropped.
//!
//! **Durability** (issue 10 item 10): a record is durable when every
//! *legal* target (`on_stall = "block"`, not UDP) has it on stable storage
//! — a file target wrote and fsynced it (`log.fsync = "never"`: wrote it),
//! a TCP syslog target's peer acknowledged it. [`LogPipeline::durable_seq`]
//! says how far that is; [`LogPipeline::take_durable`] hands out, in order,
//! the `block-alloc` records that became durable. With no legal target
//! every record is durable as soon as it is numbered.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant as WallInstant};

use cgnat_core::config::LogConfig;
use cgnat_core::event::{Event, EventKind};
use cgnat_core::natlog::{LogRecord, EVENT_KINDS};
use cgnat_core::ring::Consumer;

use super::interim::OpenBlocks;
use super::merge::{Merger, Watermark};
use super::sink::Sink;

/// How long a clean shutdown waits for the targets to take every record.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);
/// How long a reload waits for the old targets to make everything durable.
pub const RELOAD_DEADLINE: Duration = Duration::from_secs(5);

/// A follower's stream is open.
pub const FOLLOW_OPEN: u8 = 0;
/// A follower was dropped because it lagged `control.follow_queue`
/// records: its stream is broken (records were lost to it).
pub const FOLLOW_LAGGED: u8 = 1;
/// The log ended the stream cleanly (the daemon stops): every record,
/// `daemon-stop` included, is in the follower's queue.
pub const FOLLOW_ENDED: u8 = 2;

/// An `events --follow` client as the log sees it: a bounded queue of
/// records and how its stream ended (read by the server when the queue
/// disconnects).
#[derive(Clone, Debug)]
pub struct Follower {
    /// The records.
    pub tx: SyncSender<LogRecord>,
    /// [`FOLLOW_OPEN`], [`FOLLOW_LAGGED`] or [`FOLLOW_ENDED`].
    pub state: Arc<AtomicU8>,
}

/// Log counters readable from other threads (control socket, metrics).
#[derive(Debug, Default)]
pub struct LogShared {
    /// Records numbered and handed to the targets.
    pub records: AtomicU64,
    /// Every record with a smaller `seq` is durable in every legal target.
    pub durable: AtomicU64,
    /// Events staged or in rings, not yet ordered.
    pub pending: AtomicU64,
    /// Whether a blocking target is full (or dead) right now.
    pub stalled: AtomicBool,
    /// Times the log was found stalled by the management loop.
    pub stalls: AtomicU64,
    /// Records written per event kind (`cgnat_core::natlog::EVENT_KINDS` order).
    pub by_event: [AtomicU64; EVENT_KINDS.len()],
}

/// The log pipeline.
pub struct LogPipeline {
    merger: Merger,
    sinks: Vec<Sink>,
    /// The configuration of `sinks` (restored if a reload fails).
    cfg: LogConfig,
    /// No working targets (a reload failed and the old ones could not be
    /// reopened): the log is stalled.
    broken: bool,
    next_seq: u64,
    last_time: u64,
    history: VecDeque<LogRecord>,
    history_cap: usize,
    followers: Vec<Follower>,
    batch: Vec<LogRecord>,
    shared: Arc<LogShared>,
    run: u64,
    held: OpenBlocks,
    durable: u64,
    track_durable: bool,
    /// `block-alloc` records not yet handed out by `take_durable`.
    awaiting: VecDeque<LogRecord>,
    /// Block records written since the last `take_written_blocks`, for the
    /// HA sync stream (`None`: no pair).
    ha_tap: Option<Vec<LogRecord>>,
}

/// Opens every target of `cfg`; the first record they get is `start_seq`.
pub fn open_sinks(cfg: &LogConfig, start_seq: u64, held: &OpenBlocks) -> io::Result<Vec<Sink>> {
    cfg.effective_targets()
        .iter()
        .map(|t| Sink::open(t, cfg, start_seq, held).map_err(|e| io::Error::new(e.kind(), format!("log target {}: {e}", t.name()))))
        .collect()
}

impl LogPipeline {
    /// Opens the targets of `cfg` and merges `rings` (with the workers'
    /// `watermarks`; empty if the caller passes limits itself).
    pub fn open(cfg: &LogConfig, rings: Vec<Consumer<Event>>, watermarks: Vec<Watermark>) -> io::Result<LogPipeline> {
        let sinks = open_sinks(cfg, 0, &OpenBlocks::default())?;
        Ok(LogPipeline {
            merger: Merger::new(rings, watermarks),
            sinks,
            cfg: cfg.clone(),
            broken: false,
            next_seq: 0,
            last_time: 0,
            history: VecDeque::with_capacity((cfg.history as usize).min(1 << 16)),
            history_cap: cfg.history as usize,
            followers: Vec::new(),
            batch: Vec::with_capacity(4096),
            shared: Arc::new(LogShared::default()),
            run: 0,
            held: OpenBlocks::default(),
            durable: 0,
            track_durable: false,
            awaiting: VecDeque::new(),
            ha_tap: None,
        })
    }

    /// Keeps the block records written from now on for
    /// [`LogPipeline::take_written_blocks`] (an HA pair streams them).
    pub fn tap_blocks(&mut self) {
        self.ha_tap.get_or_insert_with(Vec::new);
    }

    /// The block records written since the last call (allocations and
    /// releases, in log order).
    pub fn take_written_blocks(&mut self, out: &mut Vec<LogRecord>) {
        if let Some(tap) = &mut self.ha_tap {
            out.append(tap);
        }
    }

    /// The allocation records of the blocks held now, and the next log
    /// sequence number: a snapshot for an HA bulk sync.
    pub fn held_blocks(&self) -> (Vec<LogRecord>, u64) {
        (self.held.records().copied().collect(), self.next_seq)
    }

    /// Starts run `run` in this process (an HA node becoming active again
    /// after it gave the role up): the previous run ended with its
    /// `daemon-stop` and everything is durable; the targets are reopened
    /// (fresh durability tracking) and the sequence starts at 0.
    pub fn begin_new_run(&mut self, run: u64) -> io::Result<()> {
        let lost = self.close();
        if !lost.is_empty() {
            log::error!("new run: log targets closed with records not durable: {lost:?}");
        }
        self.next_seq = 0;
        self.durable = 0;
        self.held = OpenBlocks::default();
        self.awaiting.clear();
        self.run = run;
        self.shared.records.store(0, Ordering::Relaxed);
        self.shared.durable.store(0, Ordering::Release);
        self.sinks = open_sinks(&self.cfg, 0, &self.held)?;
        Ok(())
    }

    /// Sets the run id stamped on every record from now on.
    pub fn set_run(&mut self, run: u64) {
        self.run = run;
    }

    /// The run id stamped on records.
    pub fn run(&self) -> u64 {
        self.run
    }

    /// Shared counters.
    pub fn shared(&self) -> &Arc<LogShared> {
        &self.shared
    }

    /// The targets.
    pub fn sinks(&self) -> &[Sink] {
        &self.sinks
    }

    /// The merger (watermarks, ring backlogs).
    pub fn merger(&self) -> &Merger {
        &self.merger
    }

    /// Records numbered so far (the next global sequence number).
    pub fn written(&self) -> u64 {
        self.next_seq
    }

    /// The time (µs) of the last record numbered (0 before the first).
    pub fn last_time(&self) -> u64 {
        self.last_time
    }

    /// Records the targets can take now (0: the log is stalled).
    pub fn room(&self) -> u64 {
        if self.broken {
            return 0;
        }
        self.sinks.iter().map(Sink::room).min().unwrap_or(u64::MAX)
    }

    /// Writes every event whose time is below `limit` and below every
    /// worker's watermark, in total order, while the targets have room;
    /// `extra` (the management core's events, stamped at or after `limit`
    /// by the caller's clock) is emptied into the merge. Returns the
    /// records written.
    pub fn pump(&mut self, extra: &mut Vec<Event>, limit: u64) -> usize {
        // Watermarks first, then the rings (see `merge`).
        let limit = limit.min(self.merger.min_watermark());
        self.merger.collect(extra);
        let room = self.room();
        let mut n = 0u64;
        while n < room {
            let Some(e) = self.merger.pop_ready(limit) else { break };
            let r = LogRecord::from_event(self.next_seq, self.run, &e);
            self.next_seq += 1;
            self.last_time = self.last_time.max(r.time.as_micros());
            self.batch.push(r);
            n += 1;
        }
        // Only blocking targets hold the log back (drop targets report u64::MAX room).
        let stalled = room == 0;
        if stalled && !self.shared.stalled.load(Ordering::Relaxed) {
            self.shared.stalls.fetch_add(1, Ordering::Relaxed);
        }
        self.shared.stalled.store(stalled, Ordering::Relaxed);
        self.publish();
        self.update_durable();
        self.shared.pending.store(self.merger.pending() as u64, Ordering::Relaxed);
        n as usize
    }

    fn publish(&mut self) {
        if self.batch.is_empty() {
            return;
        }
        for s in &self.sinks {
            s.offer(self.batch.clone());
        }
        for r in &self.batch {
            let k = EVENT_KINDS.iter().position(|k| *k == r.event).unwrap_or(0);
            self.shared.by_event[k].fetch_add(1, Ordering::Relaxed);
            if self.history_cap > 0 {
                if self.history.len() == self.history_cap {
                    self.history.pop_front();
                }
                self.history.push_back(*r);
            }
            self.held.observe(r);
            if self.track_durable && r.event == EventKind::BlockAllocated {
                self.awaiting.push_back(*r);
            }
            if let Some(tap) = &mut self.ha_tap {
                if matches!(r.event, EventKind::BlockAllocated | EventKind::BlockReleased) {
                    tap.push(*r);
                }
            }
        }
        // A follower that cannot keep up is disconnected (its stream is
        // broken, and it is told so), never waited for.
        self.followers.retain(|f| {
            self.batch.iter().all(|r| match f.tx.try_send(*r) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) => {
                    f.state.store(FOLLOW_LAGGED, Ordering::Release);
                    false
                }
                Err(TrySendError::Disconnected(_)) => false,
            })
        });
        self.shared.records.store(self.next_seq, Ordering::Relaxed);
        self.batch.clear();
    }

    fn update_durable(&mut self) {
        if self.broken {
            return;
        }
        let d = self
            .sinks
            .iter()
            .filter(|s| s.legal())
            .map(Sink::durable_seq)
            .min()
            .unwrap_or(self.next_seq)
            .min(self.next_seq);
        self.durable = self.durable.max(d);
        self.shared.durable.store(self.durable, Ordering::Release);
    }

    /// Every record with a smaller `seq` is durable in every legal target
    /// (`on_stall = "block"`, not UDP); with none, every record numbered.
    pub fn durable_seq(&mut self) -> u64 {
        self.update_durable();
        self.durable
    }

    /// Keeps `block-alloc` records for [`LogPipeline::take_durable`] from
    /// now on (off by default, so that nothing piles up unread).
    pub fn set_durable_tracking(&mut self, on: bool) {
        self.track_durable = on;
        if !on {
            self.awaiting.clear();
        }
    }

    /// Appends to `out`, in order, the `block-alloc` records that became
    /// durable since the last call (see [`LogPipeline::set_durable_tracking`]).
    pub fn take_durable(&mut self, out: &mut Vec<LogRecord>) {
        let d = self.durable_seq();
        while self.awaiting.front().is_some_and(|r| r.seq < d) {
            out.extend(self.awaiting.pop_front());
        }
    }

    /// Whether records or events wait for a target or the merge (the
    /// management loop then ticks fast).
    pub fn busy(&mut self) -> bool {
        self.merger.pending() > 0 || self.durable_seq() < self.next_seq
    }

    /// Pumps (with `limit`) until the management core's events queued so
    /// far are numbered and every record up to them is durable, or
    /// `deadline` passes. Returns whether they are.
    pub fn wait_durable(&mut self, extra: &mut Vec<Event>, limit: u64, deadline: Duration) -> bool {
        let start = WallInstant::now();
        let mut target = None;
        loop {
            self.pump(extra, limit);
            if target.is_none() && self.merger.management_pending() == 0 {
                target = Some(self.next_seq);
            }
            if target.is_some_and(|t| self.durable_seq() >= t) {
                return true;
            }
            if start.elapsed() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Writes everything still queued (workers stopped): waits for the
    /// targets to take it, up to [`SHUTDOWN_DEADLINE`]. Returns the events
    /// that could not be written.
    pub fn drain_all(&mut self, extra: &mut Vec<Event>) -> usize {
        let start = WallInstant::now();
        self.merger.collect(extra);
        loop {
            self.pump(&mut Vec::new(), u64::MAX);
            let left = self.merger.pending();
            if left == 0 || start.elapsed() > SHUTDOWN_DEADLINE {
                return left;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Closes every target after it wrote and synced what it was given.
    /// Returns (target, records not made durable) for targets that did not
    /// finish.
    pub fn close(&mut self) -> Vec<(String, u64)> {
        let mut lost = Vec::new();
        for s in self.sinks.drain(..) {
            let name = s.name().to_string();
            let n = s.close(SHUTDOWN_DEADLINE);
            if n > 0 {
                lost.push((name, n));
            }
        }
        lost
    }

    /// Replaces the targets (`reload`) without losing or duplicating a
    /// record: the old targets first make everything they were given
    /// durable (up to [`RELOAD_DEADLINE`]; if one cannot, the reload is
    /// refused and the old targets stay), then close, then the new ones
    /// open. If a new one cannot open, the old configuration is reopened
    /// and an error returned; if even that fails, the log stays stalled
    /// (fail closed) and the error says so.
    pub fn reopen(&mut self, cfg: &LogConfig) -> io::Result<()> {
        let start = WallInstant::now();
        while !self.sinks.iter().all(Sink::drained) {
            if start.elapsed() > RELOAD_DEADLINE {
                let stuck: Vec<String> = self
                    .sinks
                    .iter()
                    .filter(|s| !s.drained())
                    .map(|s| {
                        let c = s.counters();
                        let why = c.last_error().map(|e| format!(", last error: {e}")).unwrap_or_default();
                        format!(
                            "{} has {} record(s) not yet written{why}",
                            s.name(),
                            c.pending.load(Ordering::Relaxed)
                        )
                    })
                    .collect();
                return Err(io::Error::other(format!(
                    "reload refused, the old log targets stay in use: {}",
                    stuck.join("; ")
                )));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let lost = self.close();
        if !lost.is_empty() {
            // Drained targets close at once; anything else is a bug worth saying.
            log::error!("reload: log targets closed with records not durable: {lost:?}");
        }
        match open_sinks(cfg, self.next_seq, &self.held) {
            Ok(new) => {
                self.sinks = new;
                self.cfg = cfg.clone();
                self.history_cap = cfg.history as usize;
                self.broken = false;
                Ok(())
            }
            Err(e) => match open_sinks(&self.cfg, self.next_seq, &self.held) {
                Ok(old) => {
                    self.sinks = old;
                    Err(io::Error::new(e.kind(), format!("{e}; the previous log targets were reopened")))
                }
                Err(e2) => {
                    self.broken = true;
                    Err(io::Error::new(
                        e.kind(),
                        format!("{e}; the previous log targets could not be reopened either ({e2}): the log is stalled"),
                    ))
                }
            },
        }
    }

    /// Streams the last `last` records (at most what the follower's queue
    /// holds), then every record written from now on, into `f`: one
    /// stream without a gap.
    pub fn follow(&mut self, f: Follower, last: usize) {
        for r in self.recent(last) {
            if f.tx.try_send(r).is_err() {
                f.state.store(FOLLOW_LAGGED, Ordering::Release);
                return;
            }
        }
        self.followers.push(f);
    }

    /// Ends every follow stream cleanly (clean shutdown, after the last
    /// record): each follower's queue holds every record up to it.
    pub fn end_followers(&mut self) {
        for f in self.followers.drain(..) {
            f.state.store(FOLLOW_ENDED, Ordering::Release);
        }
    }

    /// The last `n` records written (oldest first).
    pub fn recent(&self, n: usize) -> Vec<LogRecord> {
        self.history.iter().skip(self.history.len().saturating_sub(n)).copied().collect()
    }

    /// The target names.
    pub fn target_names(&self) -> Vec<String> {
        self.sinks.iter().map(|s| s.name().to_string()).collect()
    }
}

impl Drop for LogPipeline {
    fn drop(&mut self) {
        self.close();
    }
}
