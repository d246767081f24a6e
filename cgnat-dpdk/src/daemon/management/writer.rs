//! The writer thread of one log target: takes batches from the management
//! loop, restates held blocks at each new file and each new day
//! ([`super::interim`]), commits (group commit: a batch is written and, for
//! files, fsynced as soon as it arrives when the target is part of the
//! legal record), and publishes how far the target is durable.
//!
//! Failures (disk full, collector gone) are retried with a back-off from
//! 10 ms to 1 s; nothing is written twice and nothing is dropped, the
//! target's pending count grows until its buffer is full and the log
//! stalls (fail closed), and writing resumes by itself when the target
//! recovers. Every failure is counted and kept as the target's last error;
//! stderr gets at most one line per target per [`REPORT_EVERY`]. A panic
//! ends the thread but is caught and reported: the sink is then dead and
//! reports no room.

use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant as WallInstant};

use cgnat_core::natlog::LogRecord;
use parking_lot::Mutex;

use super::interim::OpenBlocks;
use super::output::Output;

/// At most one stderr line per target per this interval.
pub const REPORT_EVERY: Duration = Duration::from_secs(10);
const BACKOFF_MIN: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// How often an output waiting for acknowledgements is polled.
const POLL: Duration = Duration::from_millis(1);

/// Counters of one sink, shared between the management loop, the control
/// socket and metrics, and its writer thread.
#[derive(Debug, Default)]
pub struct SinkCounters {
    /// The target's name, for messages.
    pub name: String,
    /// Records written and durable (fsynced, acknowledged).
    pub written: AtomicU64,
    /// Records handed to the writer, not yet durable.
    pub pending: AtomicU64,
    /// Write, rotation or send failures (each retried).
    pub errors: AtomicU64,
    /// Records dropped (`on_stall = "drop"` targets only).
    pub dropped: AtomicU64,
    /// Every record with a smaller `seq` is durable in this target.
    pub durable_seq: AtomicU64,
    /// Set when the writer thread has ended (closed or dead).
    pub done: AtomicBool,
    /// Set when the writer thread ended without being closed (a panic).
    pub dead: AtomicBool,
    /// Asks the writer to give up (a close that passed its deadline).
    pub abandon: AtomicBool,
    /// Whether the last attempt failed (cleared when writing resumes).
    pub failing: AtomicBool,
    last_error: Mutex<Option<String>>,
    last_print: Mutex<Option<(WallInstant, u64)>>,
}

impl SinkCounters {
    /// Counters of target `name` whose first record will be `start_seq`.
    pub fn new(name: &str, start_seq: u64) -> SinkCounters {
        SinkCounters {
            name: name.to_string(),
            durable_seq: AtomicU64::new(start_seq),
            ..SinkCounters::default()
        }
    }

    /// The last failure, if any.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().clone()
    }

    /// Records a failure: counted, kept as the last error, logged (the
    /// daemon's log, level error) unless a line was logged less than
    /// [`REPORT_EVERY`] ago.
    pub fn report(&self, msg: String) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.failing.store(true, Ordering::Relaxed);
        let mut p = self.last_print.lock();
        match &mut *p {
            Some((at, suppressed)) if at.elapsed() < REPORT_EVERY => *suppressed += 1,
            _ => {
                let more = p.map(|(_, s)| s).unwrap_or(0);
                let more = if more > 0 {
                    format!(" ({more} similar before)")
                } else {
                    String::new()
                };
                log::error!("NAT log target {}: {msg}{more}", self.name);
                *p = Some((WallInstant::now(), 0));
            }
        }
        *self.last_error.lock() = Some(msg);
    }

    fn recovered(&self) {
        if self.failing.swap(false, Ordering::Relaxed) {
            log::info!("NAT log target {}: writing again", self.name);
        }
    }
}

/// How a writer commits.
#[derive(Copy, Clone, Debug)]
pub struct Policy {
    /// Commit every batch at once (targets of the legal record); otherwise
    /// after `records` records or `interval`.
    pub immediate: bool,
    /// Flush after this many records (best-effort targets).
    pub records: u64,
    /// ... or after this long.
    pub interval: Duration,
    /// fsync file targets at each commit.
    pub fsync: bool,
}

/// Runs the writer until its queue is closed and everything is durable
/// (or it is abandoned); a panic is caught and reported.
pub fn run(out: Box<dyn Output>, rx: Receiver<Vec<LogRecord>>, c: Arc<SinkCounters>, p: Policy, seed: OpenBlocks) {
    let c2 = c.clone();
    if let Err(panic) = catch_unwind(AssertUnwindSafe(move || write_loop(out, rx, &c2, p, seed))) {
        let msg = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        c.dead.store(true, Ordering::Release);
        c.report(format!("writer thread died ({msg}); the log fails closed until cgnatd restarts"));
    }
    c.done.store(true, Ordering::Release);
}

fn write_loop(mut out: Box<dyn Output>, rx: Receiver<Vec<LogRecord>>, c: &SinkCounters, p: Policy, seed: OpenBlocks) {
    let mut open = seed;
    // A writer that starts with blocks held (after a reload) restates them
    // at the start of its file.
    let mut restate = !open.is_empty() && out.fresh();
    let mut queue: VecDeque<LogRecord> = VecDeque::new();
    // (append index, seq) of regular records appended, not yet durable.
    let mut inflight: VecDeque<(u64, u64)> = VecDeque::new();
    let mut appended = 0u64;
    let mut dirty = false;
    let mut since: Option<WallInstant> = None;
    let mut closed = false;
    let mut failing = false;
    let mut backoff = BACKOFF_MIN;
    loop {
        if c.abandon.load(Ordering::Acquire) {
            return;
        }
        let wait = if failing {
            backoff
        } else if out.busy() {
            POLL
        } else if dirty {
            since.map_or(POLL, |s| p.interval.saturating_sub(s.elapsed()))
        } else {
            Duration::from_secs(1)
        };
        if !closed {
            match rx.recv_timeout(wait) {
                Ok(b) => {
                    queue.extend(b);
                    if out.coalesce() {
                        while let Ok(b) = rx.try_recv() {
                            queue.extend(b);
                        }
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => closed = true,
            }
        } else if failing || out.busy() {
            std::thread::sleep(wait.min(Duration::from_millis(100)));
        }
        let mut error = None;
        while let Some(r) = queue.front().copied() {
            if out.rotation_due(&r) {
                if let Err(e) = out.rotate(&r) {
                    error = Some(format!("rotation: {e}"));
                    break;
                }
                restate = true;
            }
            if restate || open.new_day(&r) {
                for i in open.restate(&r) {
                    out.append(&i);
                    appended += 1;
                }
                restate = false;
            }
            out.append(&r);
            inflight.push_back((appended, r.seq));
            appended += 1;
            open.observe(&r);
            queue.pop_front();
            dirty = true;
            since.get_or_insert_with(WallInstant::now);
        }
        let due =
            dirty && (p.immediate || closed || inflight.len() as u64 >= p.records || since.is_some_and(|s| s.elapsed() >= p.interval));
        if due || out.busy() {
            match out.commit(p.fsync) {
                Ok(()) => {
                    dirty = false;
                    since = None;
                }
                Err(e) => {
                    error.get_or_insert(format!("write: {e}"));
                }
            }
        }
        match error {
            Some(e) => {
                c.report(e);
                failing = true;
                backoff = (backoff * 2).min(BACKOFF_MAX);
            }
            // A target waiting to reconnect (its commit is a no-op during
            // the back-off) is still failing until nothing waits on it.
            None if failing && out.busy() => {}
            None => {
                if failing {
                    c.recovered();
                }
                failing = false;
                backoff = BACKOFF_MIN;
            }
        }
        let durable = out.durable_count();
        let mut n = 0;
        while let Some((_, seq)) = inflight.front().copied().filter(|(i, _)| *i < durable) {
            inflight.pop_front();
            c.durable_seq.store(seq + 1, Ordering::Release);
            n += 1;
        }
        if n > 0 {
            c.written.fetch_add(n, Ordering::Relaxed);
            c.pending.fetch_sub(n, Ordering::Relaxed);
        }
        if closed && queue.is_empty() && inflight.is_empty() && !out.busy() {
            out.settle();
            return;
        }
    }
}
