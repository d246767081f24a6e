//! The HA metrics (docs/metrics.md).

use cgnat_core::control::HaStatus;

/// The HA metrics (docs/metrics.md): role, peer, lag and the stream's
/// counters; only `cgnat_ha_enabled` on a single node.
pub fn render_ha(x: &mut super::super::exposition::Exposition, s: &HaStatus) {
    x.sample(
        "cgnat_ha_enabled",
        "gauge",
        "1 when this node is part of an HA pair.",
        "",
        u8::from(s.enabled),
    );
    if !s.enabled {
        return;
    }
    for role in ["init", "standby", "active"] {
        x.sample(
            "cgnat_ha_role",
            "gauge",
            "1 for this node's current HA role.",
            &format!("role=\"{role}\""),
            u8::from(s.role == role),
        );
    }
    x.sample(
        "cgnat_ha_peer_alive",
        "gauge",
        "1 while the peer is heard within ha.dead_ms.",
        "",
        u8::from(s.peer_role.is_some()),
    );
    x.sample(
        "cgnat_ha_peer_on_segment",
        "gauge",
        "1 while the sync link is silent but the peer answers on the inside segment (no takeover).",
        "",
        u8::from(s.peer_on_segment),
    );
    x.sample(
        "cgnat_ha_in_sync",
        "gauge",
        "1 while this node's mirror of the active is complete (standby).",
        "",
        u8::from(s.mirror == "in-sync"),
    );
    x.sample(
        "cgnat_ha_role_changes_total",
        "counter",
        "HA role changes since start.",
        "",
        s.transitions,
    );
    x.sample(
        "cgnat_ha_sync_lag_seconds",
        "gauge",
        "Age of the oldest unacknowledged sync datagram (active).",
        "",
        s.sync_lag_ms as f64 / 1000.0,
    );
    x.sample(
        "cgnat_ha_sync_backlog_records",
        "gauge",
        "Sync records queued or unacknowledged (active).",
        "",
        s.backlog,
    );
    x.sample(
        "cgnat_ha_mirrored_blocks",
        "gauge",
        "Blocks in the standby's mirror.",
        "",
        s.mirrored_blocks,
    );
    for (direction, n) in [("sent", s.bytes_sent), ("received", s.bytes_received)] {
        x.sample(
            "cgnat_ha_sync_bytes_total",
            "counter",
            "UDP payload bytes on the sync link, by direction.",
            &format!("direction=\"{direction}\""),
            n,
        );
    }
    x.sample(
        "cgnat_ha_mirrored_sessions",
        "gauge",
        "Sessions in the standby's mirror.",
        "",
        s.mirrored_sessions,
    );
    x.sample(
        "cgnat_ha_adopted_sessions",
        "gauge",
        "Sessions adopted at the last takeover.",
        "",
        s.adopted_sessions,
    );
    x.sample(
        "cgnat_ha_adopt_failures",
        "gauge",
        "Mirrored blocks or sessions not adoptable at the last takeover.",
        "",
        s.adopt_failures,
    );
    let counters = [
        ("sent", s.datagrams_sent),
        ("received", s.datagrams_received),
        ("malformed", s.malformed),
        ("foreign", s.foreign),
        ("send_error", s.send_errors),
        ("retransmit", s.retransmits),
    ];
    for (what, n) in counters {
        x.sample(
            "cgnat_ha_datagrams_total",
            "counter",
            "Sync link datagrams, by what happened to them.",
            &format!("event=\"{what}\""),
            n,
        );
    }
    x.sample(
        "cgnat_ha_records_sent_total",
        "counter",
        "Sync records streamed (first transmissions).",
        "",
        s.records_sent,
    );
    let events = [
        ("bulk_sync_sent", s.bulk_syncs_sent),
        ("bulk_sync_received", s.bulk_syncs_received),
        ("overflow", s.overflows),
        ("gap", s.gaps),
        ("resync_request", s.resync_requests),
        ("peer_restart", s.peer_restarts),
    ];
    for (what, n) in events {
        x.sample(
            "cgnat_ha_stream_events_total",
            "counter",
            "Sync stream events: bulk syncs, overflows, gaps, resync requests, peer restarts.",
            &format!("event=\"{what}\""),
            n,
        );
    }
}
