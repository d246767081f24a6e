//! High availability (issue 13, `docs/decisions/021-ha-pair.md`), sans-IO:
//! the sync stream's two ends ([`SyncSender`] on the active,
//! [`SyncReceiver`] on the standby) and the role state machine
//! ([`Election`]). The daemon moves the datagrams ([`crate::wire::ha`])
//! over a UDP socket on the sync link and applies what they say to its
//! tables; everything here is driven by `now` and the peer's messages,
//! so the tests replay losses, reorderings, restarts and splits exactly.

mod election;
mod receiver;
mod sender;

pub use election::{Election, ElectionSettings, Transition};
pub use receiver::{Accept, MirrorState, ReceiverStats, SyncReceiver};
pub use sender::{SenderLimits, SenderStats, SyncSender};

use crate::wire::ha::Role;

/// The header fields every datagram of a node carries whatever its kind:
/// its role and priority (so each datagram is also a heartbeat), the
/// acknowledgement of what it received, and its own flags (in sync,
/// preempt).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Stamp {
    /// The sender's role.
    pub role: Role,
    /// The sender's priority.
    pub priority: u8,
    /// The highest sequence received in order from the peer.
    pub ack: u64,
    /// `FLAG_IN_SYNC` and `FLAG_PREEMPT` as they apply to the sender.
    pub flags: u8,
}

#[cfg(test)]
mod tests;
