//! The answer to `ha` on the control socket (`cgnatctl ha`): the pair's
//! roles, the sync link and the stream's counters (issue 13 item 6).

use core::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// The HA state of one node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HaStatus {
    /// `[ha] enabled`: false on a single node (then nothing else applies).
    pub enabled: bool,
    /// `init`, `standby` or `active`.
    pub role: String,
    /// This node's sync address.
    pub local: Ipv4Addr,
    /// The peer's sync address.
    pub peer: Ipv4Addr,
    /// This node's priority.
    pub priority: u8,
    /// Whether this node preempts.
    pub preempt: bool,
    /// The peer's role as last heard within the dead interval (`None`:
    /// the peer is silent).
    pub peer_role: Option<String>,
    /// Milliseconds since the peer was last heard (`None`: never).
    pub peer_silence_ms: Option<u64>,
    /// The peer answered on the inside segment within the dead interval
    /// while the sync link was silent (the split-brain guard holds this
    /// node back).
    pub peer_on_segment: bool,
    /// The standby's mirror: `empty`, `bulk-sync` or `in-sync`.
    pub mirror: String,
    /// Blocks in the mirror (standby).
    pub mirrored_blocks: u64,
    /// Sessions in the mirror (standby).
    pub mirrored_sessions: u64,
    /// Blocks adopted at the last takeover.
    pub adopted_blocks: u64,
    /// Sessions adopted at the last takeover.
    pub adopted_sessions: u64,
    /// Mirrored blocks or sessions that could not be adopted at the last
    /// takeover (the daemon log says why).
    pub adopt_failures: u64,
    /// How long the last takeover's adoption took, microseconds.
    pub adopt_us: u64,
    /// How long the oldest unacknowledged sync datagram has waited (the
    /// standby's lag as the active sees it), milliseconds.
    pub sync_lag_ms: u64,
    /// Records queued or unacknowledged (active).
    pub backlog: u64,
    /// Role changes since start.
    pub transitions: u64,
    /// Datagrams sent on the sync link.
    pub datagrams_sent: u64,
    /// Valid datagrams received from the peer.
    pub datagrams_received: u64,
    /// Datagrams refused as malformed.
    pub malformed: u64,
    /// Datagrams refused: not from the peer's address.
    pub foreign: u64,
    /// Sends that failed.
    pub send_errors: u64,
    /// UDP payload bytes sent on the sync link.
    pub bytes_sent: u64,
    /// UDP payload bytes received from the peer.
    pub bytes_received: u64,
    /// Records streamed (first transmissions).
    pub records_sent: u64,
    /// Datagrams sent again.
    pub retransmits: u64,
    /// Bulk syncs sent.
    pub bulk_syncs_sent: u64,
    /// Times the stream's queue overflowed (each repaired by a bulk sync).
    pub overflows: u64,
    /// Gaps the standby detected.
    pub gaps: u64,
    /// Resync requests the standby sent.
    pub resync_requests: u64,
    /// Bulk syncs the standby completed.
    pub bulk_syncs_received: u64,
    /// Restarts of the peer seen.
    pub peer_restarts: u64,
}

impl Default for HaStatus {
    fn default() -> Self {
        HaStatus {
            enabled: false,
            role: "single".into(),
            local: Ipv4Addr::UNSPECIFIED,
            peer: Ipv4Addr::UNSPECIFIED,
            priority: 0,
            preempt: false,
            peer_role: None,
            peer_silence_ms: None,
            peer_on_segment: false,
            mirror: "empty".into(),
            mirrored_blocks: 0,
            mirrored_sessions: 0,
            adopted_blocks: 0,
            adopted_sessions: 0,
            adopt_failures: 0,
            adopt_us: 0,
            sync_lag_ms: 0,
            backlog: 0,
            transitions: 0,
            datagrams_sent: 0,
            datagrams_received: 0,
            malformed: 0,
            foreign: 0,
            send_errors: 0,
            bytes_sent: 0,
            bytes_received: 0,
            records_sent: 0,
            retransmits: 0,
            bulk_syncs_sent: 0,
            overflows: 0,
            gaps: 0,
            resync_requests: 0,
            bulk_syncs_received: 0,
            peer_restarts: 0,
        }
    }
}
