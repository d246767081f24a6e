//! The NAT log pipeline of the management core: merge ([`Merger`]) →
//! global sequence number ([`LogRecord`]) → every target ([`Sink`]), plus
//! an in-memory history and live followers for `cgnatctl events`.
//!
//! Records leave the rings only while every blocking target has room, so a
//! stalled target makes the rings fill and the workers refuse new blocks
//! (RFC 6888 REQ-14: no block without its record); nothing is dropped.

use std::collections::VecDeque;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::Arc;
use std::time::Duration;

use cgnat_core::config::LogConfig;
use cgnat_core::event::Event;
use cgnat_core::natlog::{LogRecord, EVENT_KINDS};
use cgnat_core::ring::Consumer;

use super::merge::{Merger, Watermark};
use super::sink::Sink;

/// How long a clean shutdown waits for the targets to take every record.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(10);

/// Log counters readable from other threads (control socket, metrics).
#[derive(Debug, Default)]
pub struct LogShared {
    /// Records numbered and handed to the targets.
    pub records: AtomicU64,
    /// Events staged or in rings, not yet ordered.
    pub pending: AtomicU64,
    /// Whether a blocking target is full right now.
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
    next_seq: u64,
    history: VecDeque<LogRecord>,
    history_cap: usize,
    followers: Vec<SyncSender<LogRecord>>,
    batch: Vec<LogRecord>,
    shared: Arc<LogShared>,
    run: u64,
    durable: Vec<LogRecord>,
}

/// Opens every target of `cfg`.
pub fn open_sinks(cfg: &LogConfig) -> io::Result<Vec<Sink>> {
    cfg.effective_targets()
        .iter()
        .map(|t| Sink::open(t, cfg).map_err(|e| io::Error::new(e.kind(), format!("log target {}: {e}", t.name()))))
        .collect()
}

impl LogPipeline {
    /// Opens the targets of `cfg` and merges `rings` (with the workers'
    /// `watermarks`; empty if the caller passes limits itself).
    pub fn open(cfg: &LogConfig, rings: Vec<Consumer<Event>>, watermarks: Vec<Watermark>) -> io::Result<LogPipeline> {
        let sinks = open_sinks(cfg)?;
        Ok(LogPipeline {
            merger: Merger::new(rings, watermarks),
            sinks,
            next_seq: 0,
            history: VecDeque::with_capacity((cfg.history as usize).min(1 << 16)),
            history_cap: cfg.history as usize,
            followers: Vec::new(),
            batch: Vec::with_capacity(4096),
            shared: Arc::new(LogShared::default()),
            run: 0,
            durable: Vec::new(),
        })
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

    /// Writes every event whose time is below `limit` and below every
    /// worker's watermark, in total order, while the targets have room;
    /// `extra` (the management core's events, stamped at or after `limit`
    /// by the caller's clock) is emptied into the merge. Returns the
    /// records written.
    pub fn pump(&mut self, extra: &mut Vec<Event>, limit: u64) -> usize {
        // Watermarks first, then the rings (see `merge`).
        let limit = limit.min(self.merger.min_watermark());
        self.merger.collect(extra);
        let room = self.sinks.iter().map(Sink::room).min().unwrap_or(u64::MAX);
        let mut n = 0u64;
        while n < room {
            let Some(e) = self.merger.pop_ready(limit) else { break };
            let r = LogRecord::from_event(self.next_seq, self.run, &e);
            self.next_seq += 1;
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
        self.durable
            .extend(self.batch.iter().filter(|r| r.event == cgnat_core::EventKind::BlockAllocated));
        for r in &self.batch {
            let k = EVENT_KINDS.iter().position(|k| *k == r.event).unwrap_or(0);
            self.shared.by_event[k].fetch_add(1, Ordering::Relaxed);
            if self.history_cap > 0 {
                if self.history.len() == self.history_cap {
                    self.history.pop_front();
                }
                self.history.push_back(*r);
            }
        }
        // A follower that cannot keep up is disconnected, never waited for.
        self.followers.retain(|f| {
            self.batch.iter().all(|r| match f.try_send(*r) {
                Ok(()) => true,
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => false,
            })
        });
        self.shared.records.store(self.next_seq, Ordering::Relaxed);
        self.batch.clear();
    }

    /// Writes everything still queued (workers stopped): waits for the
    /// targets to take it, up to [`SHUTDOWN_DEADLINE`]. Returns the events
    /// that could not be written.
    pub fn drain_all(&mut self, extra: &mut Vec<Event>) -> usize {
        let start = std::time::Instant::now();
        self.merger.collect(extra);
        loop {
            self.pump(&mut Vec::new(), u64::MAX);
            let left = self.merger.pending();
            if left == 0 || start.elapsed() > SHUTDOWN_DEADLINE {
                return left;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Closes every target after it wrote and synced what it was given.
    /// Returns (target, records lost) for targets that did not finish.
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

    /// Replaces the targets (`reload`): the old ones write and sync what
    /// they hold first, so no record is lost or duplicated.
    pub fn reopen(&mut self, cfg: &LogConfig) -> io::Result<()> {
        let new = open_sinks(cfg)?;
        self.close();
        self.sinks = new;
        self.history_cap = cfg.history as usize;
        Ok(())
    }

    /// Moves into `out`, in log order, the `block-alloc` records that became
    /// durable in every legal target since the last call, so that the
    /// management core can let their blocks carry traffic
    /// (`Nat::block_logged`).
    pub fn take_durable(&mut self, out: &mut Vec<LogRecord>) {
        out.append(&mut self.durable);
    }

    /// Streams every record written from now on into `tx`.
    pub fn follow(&mut self, tx: SyncSender<LogRecord>) {
        self.followers.push(tx);
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
