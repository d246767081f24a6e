//! The active's end of the sync stream: records batched into sequenced
//! datagrams, kept until acknowledged, sent again after a timeout or a
//! [`Kind::Resync`] from the standby, and replaced by a bulk sync when the
//! standby (re)joins, asks for one, or falls so far behind that the window
//! and queue overflow. Nothing is ever dropped without a bulk sync that
//! restates it (issue 13 item 2: "never a silent drop").

use std::collections::VecDeque;

use crate::time::Instant;
use crate::wire::ha::{Header, Kind, Record, FLAG_BULK, FLAG_BULK_END, FLAG_BULK_START, MAX_RECORDS};

use super::Stamp;

/// Limits of the sender.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct SenderLimits {
    /// Datagrams in flight (sent, not acknowledged) at most.
    pub window: usize,
    /// Records per datagram at most (≤ [`MAX_RECORDS`]).
    pub batch: usize,
    /// Records queued behind a full window at most; beyond, the stream is
    /// restarted with a bulk sync.
    pub max_queue: usize,
    /// Resend what is unacknowledged after this long, microseconds.
    pub retransmit_us: u64,
}

/// What the sender counted.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct SenderStats {
    /// Data datagrams sent (first transmissions).
    pub datagrams: u64,
    /// Records sent (first transmissions).
    pub records: u64,
    /// Datagrams sent again (timeout or resync request).
    pub retransmits: u64,
    /// Resync requests received from the standby.
    pub resync_requests: u64,
    /// Bulk syncs started.
    pub bulk_syncs: u64,
    /// Times the queue overflowed behind a full window (each led to a bulk
    /// sync).
    pub overflows: u64,
}

struct Sent {
    seq: u64,
    flags: u8,
    records: Vec<Record>,
    first_sent: Instant,
    last_sent: Instant,
}

/// The active's sync stream.
pub struct SyncSender {
    incarnation: u64,
    limits: SenderLimits,
    next_seq: u64,
    acked: u64,
    unacked: VecDeque<Sent>,
    /// Index into `unacked` of the next datagram to send again.
    resend: usize,
    ready: VecDeque<(u8, Vec<Record>)>,
    queue: VecDeque<Record>,
    need_bulk: bool,
    stats: SenderStats,
}

impl SyncSender {
    /// A sender for this node's run `incarnation`. It starts needing a bulk
    /// sync: the standby's mirror is empty until one completes.
    pub fn new(incarnation: u64, limits: SenderLimits) -> Self {
        SyncSender {
            incarnation,
            limits: SenderLimits {
                batch: limits.batch.clamp(1, MAX_RECORDS),
                window: limits.window.max(1),
                ..limits
            },
            next_seq: 1,
            acked: 0,
            unacked: VecDeque::new(),
            resend: 0,
            ready: VecDeque::new(),
            queue: VecDeque::new(),
            need_bulk: true,
            stats: SenderStats::default(),
        }
    }

    /// Queues one change. Past [`SenderLimits::max_queue`] the queue is
    /// emptied and a bulk sync requested instead (counted).
    pub fn push(&mut self, r: Record) {
        if self.need_bulk {
            // The bulk sync about to start restates the whole state.
            return;
        }
        if self.queue.len() >= self.limits.max_queue {
            self.queue.clear();
            self.stats.overflows += 1;
            self.need_bulk = true;
            return;
        }
        self.queue.push_back(r);
    }

    /// Asks for a bulk sync (the owner lost track of changes: a worker's
    /// sync ring overflowed).
    pub fn request_bulk(&mut self) {
        self.need_bulk = true;
    }

    /// Whether the owner must call [`SyncSender::start_bulk`] with a
    /// snapshot of the state.
    pub fn needs_bulk(&self) -> bool {
        self.need_bulk
    }

    /// Starts a bulk sync with `snapshot` (every record that describes the
    /// state now): everything queued or unacknowledged is superseded. The
    /// first datagram says "start" (the standby empties its mirror), the
    /// last "end" (the standby is in sync after it).
    pub fn start_bulk<I: IntoIterator<Item = Record>>(&mut self, snapshot: I) {
        self.stats.bulk_syncs += 1;
        self.need_bulk = false;
        self.queue.clear();
        self.unacked.clear();
        self.resend = 0;
        self.ready.clear();
        let mut chunk = Vec::with_capacity(self.limits.batch);
        let mut first = true;
        for r in snapshot {
            chunk.push(r);
            if chunk.len() == self.limits.batch {
                let flags = FLAG_BULK | if first { FLAG_BULK_START } else { 0 };
                self.ready.push_back((flags, std::mem::take(&mut chunk)));
                first = false;
            }
        }
        let flags = FLAG_BULK | FLAG_BULK_END | if first { FLAG_BULK_START } else { 0 };
        self.ready.push_back((flags, chunk));
    }

    /// The peer acknowledged every sequence up to `ack`.
    pub fn on_ack(&mut self, ack: u64) {
        if ack <= self.acked || ack >= self.next_seq {
            return;
        }
        self.acked = ack;
        while self.unacked.front().is_some_and(|s| s.seq <= ack) {
            self.unacked.pop_front();
            self.resend = self.resend.saturating_sub(1);
        }
    }

    /// The standby asked to resend from `from` (0: a bulk sync). A point
    /// no longer held, or one it already acknowledged (it lost its state),
    /// also leads to a bulk sync.
    pub fn on_resync(&mut self, from: u64) {
        self.stats.resync_requests += 1;
        if from == 0 {
            self.need_bulk = true;
            return;
        }
        let oldest = self.unacked.front().map(|s| s.seq).unwrap_or(self.next_seq);
        if from == self.next_seq {
            // It has everything sent: nothing to resend.
            self.on_ack(from - 1);
        } else if from < oldest || from > self.next_seq {
            self.need_bulk = true;
        } else {
            self.on_ack(from - 1);
            self.resend = 0;
        }
    }

    /// The next datagram to send, if any, written into `out`: a due
    /// retransmission first (go-back-N from the oldest unacknowledged),
    /// then the bulk sync, then queued records while the window has room.
    /// `stamp` fills the header's role, priority and acknowledgement.
    pub fn poll_transmit(&mut self, now: Instant, stamp: Stamp, out: &mut Vec<u8>) -> bool {
        let overdue = |s: &Sent| now.as_micros().saturating_sub(s.last_sent.as_micros()) >= self.limits.retransmit_us;
        if self.resend >= self.unacked.len() && self.unacked.front().is_some_and(overdue) {
            self.resend = 0;
        }
        let incarnation = self.incarnation;
        if let Some(s) = self.unacked.get_mut(self.resend) {
            s.last_sent = now;
            self.resend += 1;
            self.stats.retransmits += 1;
            emit(incarnation, s.seq, s.flags, stamp, &s.records, out);
            return true;
        }
        if self.need_bulk || self.unacked.len() >= self.limits.window {
            return false;
        }
        let (flags, records) = match self.ready.pop_front() {
            Some(r) => r,
            None if !self.queue.is_empty() => {
                let n = self.queue.len().min(self.limits.batch);
                (0, self.queue.drain(..n).collect())
            }
            None => return false,
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        self.stats.datagrams += 1;
        self.stats.records += records.len() as u64;
        emit(incarnation, seq, flags, stamp, &records, out);
        self.unacked.push_back(Sent {
            seq,
            flags,
            records,
            first_sent: now,
            last_sent: now,
        });
        self.resend = self.unacked.len();
        true
    }

    /// Records not yet acknowledged or not yet sent.
    pub fn backlog(&self) -> usize {
        self.queue.len() + self.ready.iter().map(|r| r.1.len()).sum::<usize>() + self.unacked.iter().map(|s| s.records.len()).sum::<usize>()
    }

    /// How long the oldest unacknowledged datagram has waited, microseconds
    /// (0 when everything is acknowledged): the standby's lag.
    pub fn lag_us(&self, now: Instant) -> u64 {
        self.unacked
            .front()
            .map(|s| now.as_micros().saturating_sub(s.first_sent.as_micros()))
            .unwrap_or(0)
    }

    /// This node's run id, stamped on its datagrams.
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// What was counted.
    pub fn stats(&self) -> SenderStats {
        self.stats
    }
}

fn emit(incarnation: u64, sequence: u64, flags: u8, stamp: Stamp, records: &[Record], out: &mut Vec<u8>) {
    let h = Header {
        kind: Kind::Data,
        incarnation,
        sequence,
        role: stamp.role,
        priority: stamp.priority,
        flags: flags | stamp.flags,
        ack: stamp.ack,
    };
    // At most `batch` ≤ MAX_RECORDS records and known flags: cannot fail.
    let _ = h.emit(records, out);
}
