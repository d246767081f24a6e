//! `cgnatctl ha`: the HA pair as this node sees it — role, peer, sync lag
//! and the sync stream's counters — and `cgnatctl ha switchover`, the
//! planned handover of the active role for maintenance (issue 13 item 6).

use cgnat_core::control::{HaStatus, Request, Response};

use crate::client::{unexpected, Client};
use crate::error::{CmdResult, EXIT_OK};
use crate::output::{emit, key_values, Format};

/// The human form of `ha`.
pub fn render_ha(s: &HaStatus) -> String {
    if !s.enabled {
        return "this node is not part of an HA pair ([ha] enabled = false)\n".into();
    }
    let ms = |v: Option<u64>| v.map(|m| format!("{m} ms ago")).unwrap_or_else(|| "never heard".into());
    key_values(&[
        ("role", s.role.clone()),
        (
            "node",
            format!(
                "{} (priority {}, preempt {})",
                s.local,
                s.priority,
                if s.preempt { "on" } else { "off" }
            ),
        ),
        (
            "peer",
            format!(
                "{} ({}, last heard {})",
                s.peer,
                s.peer_role.clone().unwrap_or_else(|| "silent".into()),
                ms(s.peer_silence_ms)
            ),
        ),
        (
            "split-brain guard",
            if s.peer_on_segment {
                "sync link silent, peer answers on the inside segment: no takeover".to_string()
            } else {
                "idle".to_string()
            },
        ),
        (
            "mirror",
            format!("{} ({} blocks, {} sessions)", s.mirror, s.mirrored_blocks, s.mirrored_sessions),
        ),
        (
            "last takeover",
            format!(
                "{} blocks and {} sessions adopted in {} ms, {} not adoptable",
                s.adopted_blocks,
                s.adopted_sessions,
                s.adopt_us / 1000,
                s.adopt_failures
            ),
        ),
        ("sync lag", format!("{} ms, {} records waiting", s.sync_lag_ms, s.backlog)),
        ("role changes", s.transitions.to_string()),
        (
            "datagrams",
            format!(
                "{} sent ({} B), {} received ({} B), {} malformed, {} foreign, {} send errors",
                s.datagrams_sent, s.bytes_sent, s.datagrams_received, s.bytes_received, s.malformed, s.foreign, s.send_errors
            ),
        ),
        (
            "stream out",
            format!(
                "{} records, {} retransmits, {} bulk syncs, {} overflows",
                s.records_sent, s.retransmits, s.bulk_syncs_sent, s.overflows
            ),
        ),
        (
            "stream in",
            format!(
                "{} gaps, {} resync requests, {} bulk syncs, {} peer restarts",
                s.gaps, s.resync_requests, s.bulk_syncs_received, s.peer_restarts
            ),
        ),
    ])
}

/// `cgnatctl ha [switchover]`.
pub fn ha(client: &mut Client, switchover: bool, f: Format) -> CmdResult {
    let req = if switchover { Request::HaSwitchover } else { Request::Ha };
    match client.call(req)? {
        Response::Ha(s) => {
            emit(f, &s, || render_ha(&s))?;
            Ok(EXIT_OK)
        }
        r => Err(unexpected(&r)),
    }
}
