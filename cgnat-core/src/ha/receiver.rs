//! The standby's end of the sync stream: data applied strictly in sequence,
//! a gap answered with a resync request from the first missing sequence,
//! a new incarnation of the peer (it restarted) or a request it cannot
//! serve answered with a bulk sync (issue 13 item 2).

use crate::time::Instant;
use crate::wire::ha::{Header, Kind, FLAG_BULK_END, FLAG_BULK_START};

/// How complete the standby's mirror is.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum MirrorState {
    /// Nothing usable: waiting for a bulk sync.
    Empty,
    /// A bulk sync is arriving.
    Bulk,
    /// Every change of the active up to the acknowledged sequence is applied.
    InSync,
}

impl MirrorState {
    /// The lower-case name (`cgnatctl ha`).
    pub fn name(self) -> &'static str {
        match self {
            MirrorState::Empty => "empty",
            MirrorState::Bulk => "bulk-sync",
            MirrorState::InSync => "in-sync",
        }
    }
}

/// What to do with a data message.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Accept {
    /// Apply its records, after emptying the mirror if `clear_first`.
    Apply {
        /// The message starts a bulk sync.
        clear_first: bool,
    },
    /// Already applied (a retransmission): acknowledge again, apply nothing.
    Duplicate,
    /// Out of order or not usable now: apply nothing (a resync is due).
    Discard,
}

/// What the receiver counted.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct ReceiverStats {
    /// Data messages applied.
    pub applied: u64,
    /// Retransmissions already applied.
    pub duplicates: u64,
    /// Gaps detected (a sequence skipped).
    pub gaps: u64,
    /// Resync requests sent.
    pub resync_requests: u64,
    /// Bulk syncs completed.
    pub bulk_syncs: u64,
    /// The peer restarted (a new incarnation).
    pub peer_restarts: u64,
}

/// The standby's sync state.
pub struct SyncReceiver {
    peer: Option<u64>,
    expected: u64,
    state: MirrorState,
    /// The resync to ask for: `Some(0)` a bulk sync, `Some(n)` from n.
    want: Option<u64>,
    last_request: Option<Instant>,
    request_interval_us: u64,
    stats: ReceiverStats,
}

impl SyncReceiver {
    /// An empty mirror; requests are repeated at most every
    /// `request_interval_us` while unanswered.
    pub fn new(request_interval_us: u64) -> Self {
        SyncReceiver {
            peer: None,
            expected: 1,
            state: MirrorState::Empty,
            want: Some(0),
            last_request: None,
            request_interval_us,
            stats: ReceiverStats::default(),
        }
    }

    /// Forgets the mirror (this node became active, or is starting over):
    /// the next stream must begin with a bulk sync.
    pub fn reset(&mut self) {
        self.state = MirrorState::Empty;
        self.want = Some(0);
        self.last_request = None;
    }

    /// Judges a data message `h` of the peer (already checked by the codec).
    pub fn on_data(&mut self, h: &Header) -> Accept {
        debug_assert_eq!(h.kind, Kind::Data);
        if self.peer != Some(h.incarnation) {
            if self.peer.is_some() {
                self.stats.peer_restarts += 1;
            }
            self.peer = Some(h.incarnation);
            self.reset();
        }
        let start = h.flags & FLAG_BULK_START != 0;
        if start && (self.state == MirrorState::Empty || h.sequence >= self.expected) {
            // A bulk sync supersedes everything before it, gaps included.
            // A forged sequence near u64::MAX must not overflow.
            self.expected = h.sequence.saturating_add(1);
            self.state = if h.flags & FLAG_BULK_END != 0 {
                self.stats.bulk_syncs += 1;
                MirrorState::InSync
            } else {
                MirrorState::Bulk
            };
            self.want = None;
            self.stats.applied += 1;
            return Accept::Apply { clear_first: true };
        }
        if self.state == MirrorState::Empty {
            self.want = Some(0);
            return Accept::Discard;
        }
        if h.sequence < self.expected {
            self.stats.duplicates += 1;
            return Accept::Duplicate;
        }
        if h.sequence > self.expected {
            if self.want.is_none() {
                self.stats.gaps += 1;
                self.want = Some(self.expected);
            }
            return Accept::Discard;
        }
        self.expected = self.expected.saturating_add(1);
        self.want = None;
        if h.flags & FLAG_BULK_END != 0 && self.state == MirrorState::Bulk {
            self.state = MirrorState::InSync;
            self.stats.bulk_syncs += 1;
        }
        self.stats.applied += 1;
        Accept::Apply { clear_first: false }
    }

    /// The peer's incarnation from any message: a new one empties the
    /// mirror (its state is gone with its process).
    pub fn on_peer_incarnation(&mut self, incarnation: u64) {
        if self.peer.is_some_and(|p| p != incarnation) {
            self.stats.peer_restarts += 1;
            self.peer = Some(incarnation);
            self.reset();
        } else if self.peer.is_none() {
            self.peer = Some(incarnation);
        }
    }

    /// A resync request to send now, if one is due: `Some(0)` for a bulk
    /// sync, `Some(n)` to resend from sequence n. Repeated every
    /// `request_interval_us` until answered.
    pub fn poll_request(&mut self, now: Instant) -> Option<u64> {
        let want = self.want?;
        if self
            .last_request
            .is_some_and(|t| now.as_micros().saturating_sub(t.as_micros()) < self.request_interval_us)
        {
            return None;
        }
        self.last_request = Some(now);
        self.stats.resync_requests += 1;
        Some(want)
    }

    /// The cumulative acknowledgement to put in every message: the highest
    /// sequence applied in order (0: none).
    pub fn ack(&self) -> u64 {
        self.expected.saturating_sub(1)
    }

    /// How complete the mirror is.
    pub fn state(&self) -> MirrorState {
        self.state
    }

    /// What was counted.
    pub fn stats(&self) -> ReceiverStats {
        self.stats
    }
}
