//! Log targets as the management loop sees them: one writer thread per
//! target ([`super::writer`]), fed through a bounded queue.
//!
//! The management loop hands batches of [`LogRecord`]s to [`Sink::offer`]
//! and never blocks on I/O: a slow, failing or dead target only fills its
//! own buffer, [`Sink::room`] reaches 0, and the loop stops taking events
//! from the rings (the "never translate without a record" rule). A target
//! counts a record as pending until it is durable there, so a collector
//! that does not acknowledge fills the buffer as a full disk does.
//!
//! A writer thread that ended without being closed (a panic) is detected
//! ([`Sink::check`]): it is reported, and a blocking target then has no
//! room for good — the log fails closed instead of losing records while
//! reporting room.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant as WallInstant};

use cgnat_core::config::{Fsync, LogConfig, LogTarget, OnStall, TargetFormat, Transport};
use cgnat_core::natlog::LogRecord;

use super::compress::Report;
use super::interim::OpenBlocks;
use super::output::{self, Output};
pub use super::writer::SinkCounters;
use super::writer::{self, Policy};

/// A log target and its writer thread.
pub struct Sink {
    name: String,
    on_stall: OnStall,
    legal: bool,
    capacity: u64,
    tx: Option<SyncSender<Vec<LogRecord>>>,
    counters: Arc<SinkCounters>,
    thread: Option<JoinHandle<()>>,
}

impl Sink {
    /// Opens target `t` (file created, sockets bound; a TCP collector is
    /// connected at the first commit) and starts its writer thread. Its
    /// first record will be `start_seq`; `held` are the blocks held so far
    /// (restated at the start of its file).
    pub fn open(t: &LogTarget, log: &LogConfig, start_seq: u64, held: &OpenBlocks) -> io::Result<Sink> {
        let name = t.name();
        let counters = Arc::new(SinkCounters::new(&name, start_seq));
        let c = counters.clone();
        let report: Report = Arc::new(move |m: String| c.report(m));
        let out = output::open(t, super::files::FilePerms::of(log)?, report)?;
        let policy = Policy {
            immediate: t.on_stall == OnStall::Block,
            records: log.flush_records as u64,
            interval: Duration::from_millis(log.flush_interval_ms as u64),
            fsync: log.fsync != Fsync::Never,
        };
        let legal = t.on_stall == OnStall::Block && t.transport != Transport::Udp;
        Sink::spawn(
            name,
            t.on_stall,
            legal,
            log.sink_buffer as u64,
            out,
            policy,
            counters,
            held.clone(),
            t.format,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn spawn(
        name: String,
        on_stall: OnStall,
        legal: bool,
        capacity: u64,
        out: Box<dyn Output>,
        policy: Policy,
        counters: Arc<SinkCounters>,
        held: OpenBlocks,
        format: TargetFormat,
    ) -> io::Result<Sink> {
        let (tx, rx) = sync_channel(capacity as usize + 1);
        let c = counters.clone();
        let thread = std::thread::Builder::new()
            .name(format!("cgnat-log-{}", format_name(format)))
            .spawn(move || writer::run(out, rx, c, policy, held))?;
        Ok(Sink {
            name,
            on_stall,
            legal,
            capacity,
            tx: Some(tx),
            counters,
            thread: Some(thread),
        })
    }

    /// The target's name (`text:/path`, ...).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Records this sink may buffer (`log.sink_buffer`).
    pub fn capacity(&self) -> u64 {
        self.capacity
    }

    /// Counters.
    pub fn counters(&self) -> &Arc<SinkCounters> {
        &self.counters
    }

    /// Whether the target is part of the legal record: `on_stall =
    /// "block"` and not UDP (whose datagrams nobody acknowledges).
    pub fn legal(&self) -> bool {
        self.legal
    }

    /// Every record with a smaller `seq` is durable in this target.
    pub fn durable_seq(&self) -> u64 {
        self.counters.durable_seq.load(Ordering::Acquire)
    }

    /// Whether the writer thread is alive; a thread that ended without
    /// being closed is reported the first time it is found.
    pub fn check(&self) -> bool {
        let c = &self.counters;
        if c.dead.load(Ordering::Acquire) {
            return false;
        }
        let ended = self.thread.as_ref().is_none_or(|t| t.is_finished());
        if ended && self.tx.is_some() {
            c.dead.store(true, Ordering::Release);
            c.report("writer thread ended; the log fails closed until cgnatd restarts".into());
            return false;
        }
        true
    }

    /// Records this sink can take now without exceeding its buffer
    /// (`u64::MAX` for `drop` targets: they never hold the log back; 0 for
    /// a dead blocking target: fail closed).
    pub fn room(&self) -> u64 {
        match self.on_stall {
            OnStall::Drop => u64::MAX,
            OnStall::Block if !self.check() => 0,
            OnStall::Block => self.capacity.saturating_sub(self.counters.pending.load(Ordering::Relaxed)),
        }
    }

    /// Whether the buffer is full (or the writer dead).
    pub fn stalled(&self) -> bool {
        self.room() == 0
    }

    /// Whether everything offered is durable.
    pub fn drained(&self) -> bool {
        self.counters.pending.load(Ordering::Relaxed) == 0
    }

    /// Queues `records`. A `block` target is only offered what
    /// [`Sink::room`] allows; a `drop` target drops what does not fit.
    pub fn offer(&self, records: Vec<LogRecord>) {
        let n = records.len() as u64;
        let c = &self.counters;
        if self.on_stall == OnStall::Drop && (c.pending.load(Ordering::Relaxed) + n > self.capacity || !self.check()) {
            c.dropped.fetch_add(n, Ordering::Relaxed);
            return;
        }
        let Some(tx) = &self.tx else { return };
        c.pending.fetch_add(n, Ordering::Relaxed);
        match tx.try_send(records) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                // Only a dead writer or an over-full drop target gets here.
                c.pending.fetch_sub(n, Ordering::Relaxed);
                c.dropped.fetch_add(n, Ordering::Relaxed);
                c.report(format!("{n} record(s) could not be queued"));
            }
        }
    }

    /// Closes the queue, lets the writer write and sync everything, and
    /// waits up to `deadline` for it (then tells it to give up). Returns
    /// the records not made durable.
    pub fn close(mut self, deadline: Duration) -> u64 {
        self.tx = None;
        let start = WallInstant::now();
        while !self.counters.done.load(Ordering::Acquire) && start.elapsed() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
        if !self.counters.done.load(Ordering::Acquire) {
            self.counters.abandon.store(true, Ordering::Release);
        }
        let lost = self.counters.pending.load(Ordering::Relaxed);
        if self.counters.done.load(Ordering::Acquire) {
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
        lost
    }
}

fn format_name(f: TargetFormat) -> &'static str {
    match f {
        TargetFormat::Text => "text",
        TargetFormat::Json => "json",
        TargetFormat::Syslog => "syslog",
        TargetFormat::Ipfix => "ipfix",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cgnat_core::event::{EventKind, ProtocolScope, Reason};
    use cgnat_core::Instant;

    /// An output with a bug: it panics on its third record.
    struct Buggy(u64);

    impl Output for Buggy {
        fn append(&mut self, _: &LogRecord) {
            self.0 += 1;
            assert!(self.0 < 3, "formatting bug");
        }
        fn commit(&mut self, _: bool) -> io::Result<()> {
            Ok(())
        }
        fn durable_count(&mut self) -> u64 {
            self.0
        }
    }

    fn rec(seq: u64) -> LogRecord {
        LogRecord {
            seq,
            time: Instant::from_micros(1_700_000_000_000_000),
            event: EventKind::BlockAllocated,
            subscriber: [100, 64, 0, 1].into(),
            public_addr: [203, 0, 113, 1].into(),
            first_port: 1024,
            last_port: 1535,
            protocol: ProtocolScope::All,
            reason: Reason::NewMapping,
            producer: 0,
            producer_seq: seq,
            aux: 0,
            run: 1,
        }
    }

    /// Issue 10 item 5: a dead writer is detected and fails closed — no
    /// room, durability stops where it was, the death is reported — never
    /// "reporting room" while losing records.
    #[test]
    fn a_dead_writer_fails_closed_and_is_reported() {
        let policy = Policy {
            immediate: true,
            records: 1,
            interval: Duration::from_millis(10),
            fsync: true,
        };
        let counters = Arc::new(SinkCounters::new("buggy", 0));
        let s = Sink::spawn(
            "buggy".into(),
            OnStall::Block,
            true,
            16,
            Box::new(Buggy(0)),
            policy,
            counters.clone(),
            OpenBlocks::default(),
            TargetFormat::Text,
        )
        .unwrap();
        s.offer(vec![rec(0), rec(1)]);
        let t = WallInstant::now();
        while s.durable_seq() < 2 {
            assert!(t.elapsed() < Duration::from_secs(5));
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(s.room(), 16, "durable records leave the buffer");
        s.offer(vec![rec(2), rec(3)]);
        while !counters.done.load(Ordering::Acquire) {
            assert!(t.elapsed() < Duration::from_secs(5));
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(s.room(), 0, "a dead blocking target has no room");
        assert!(s.stalled());
        assert_eq!(s.durable_seq(), 2, "nothing after the death is durable");
        assert!(counters.dead.load(Ordering::Acquire));
        let e = counters.last_error().unwrap();
        assert!(e.contains("writer thread died") && e.contains("formatting bug"), "{e}");
        assert!(counters.errors.load(Ordering::Relaxed) >= 1);
        assert_eq!(s.close(Duration::from_millis(100)), 2, "two records were not made durable");
    }
}
