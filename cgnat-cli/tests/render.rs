//! Snapshots of the human and JSON forms of the live commands' answers,
//! rendered from control-protocol values (the live daemon in the lab has
//! no traffic, so sessions and blocks are shown here with data).

mod common;

use cgnat_cli::live::{render_record, render_sessions, render_stats, render_subscriber};
use cgnat_core::control::{
    BlockDetail, JsonRecord, Limits, LogStats, ProtocolCounts, ProtocolName, SessionInfo, SessionList, SinkStats, Stats, SubscriberDetail,
    TableFill, WorkerStats,
};
use common::snapshot;

fn subscriber() -> SubscriberDetail {
    SubscriberDetail {
        subscriber: [100, 64, 1, 10].into(),
        public: [203, 0, 113, 3].into(),
        kind: "dynamic".into(),
        blocks: vec![
            BlockDetail {
                public: [203, 0, 113, 3].into(),
                first_port: 1536,
                last_port: 2047,
                allocated_at: "2023-11-14T22:13:20Z".into(),
                mappings: 310,
                static_port: false,
            },
            BlockDetail {
                public: [203, 0, 113, 3].into(),
                first_port: 9728,
                last_port: 10239,
                allocated_at: "2023-11-14T22:40:01Z".into(),
                mappings: 12,
                static_port: false,
            },
        ],
        sessions: ProtocolCounts {
            tcp: 1800,
            udp: 40,
            icmp: 2,
        },
        sessions_used: 1842,
        inbound_sessions: 3,
        confirmed: true,
        limits: Limits {
            max_sessions: 2048,
            max_blocks: 4,
            block_size: 512,
        },
    }
}

#[test]
fn subscriber_near_its_limits() {
    let d = subscriber();
    let out = render_subscriber(&d);
    assert!(out.contains("1842 of 2048 used (89.9%)  near the limit"), "{out}");
    snapshot("subscriber.txt", &out);
    snapshot("subscriber.json", &(serde_json::to_string_pretty(&d).unwrap() + "\n"));
}

#[test]
fn sessions_table() {
    let s = |p, port, remote: [u8; 4], state: &str| SessionInfo {
        protocol: p,
        inside: [100, 64, 1, 10].into(),
        inside_port: port,
        public: [203, 0, 113, 3].into(),
        public_port: port - 38000,
        remote: remote.into(),
        remote_port: if p == ProtocolName::Icmp { 0 } else { 443 },
        state: state.into(),
        idle_secs: 3,
        expires_in_secs: 7437,
    };
    let list = SessionList {
        sessions: vec![
            s(ProtocolName::Tcp, 40000, [198, 51, 100, 1], "established"),
            s(ProtocolName::Udp, 40001, [198, 51, 100, 53], "-"),
            s(ProtocolName::Icmp, 40002, [198, 51, 100, 1], "-"),
        ],
        truncated: true,
    };
    let out = render_sessions(&list, 3);
    assert!(out.ends_with("3 sessions (truncated at --limit 3)\n"), "{out}");
    snapshot("sessions.txt", &out);
    snapshot("sessions.json", &(serde_json::to_string_pretty(&list).unwrap() + "\n"));
}

#[test]
fn stats_and_table_fill() {
    let mut st = Stats::default();
    st.nat.insert("translated_out".into(), 123456);
    st.nat.insert("drop.no_ports".into(), 3);
    st.nat.insert("drop.never".into(), 0);
    st.dataplane.insert("rx_packets".into(), 250000);
    st.tables = [
        "subscribers:812:1024",
        "sessions:60000:65536",
        "mappings:41000:65536",
        "blocks:900:2016",
    ]
    .iter()
    .map(|t| {
        let v: Vec<&str> = t.split(':').collect();
        TableFill {
            name: v[0].into(),
            used: v[1].parse().unwrap(),
            capacity: v[2].parse().unwrap(),
            bytes: 0,
        }
    })
    .collect();
    st.log = LogStats {
        records: 4242,
        refused: 0,
        pending: 2,
        sinks: vec![
            SinkStats {
                name: "text:/var/log/cgnat/nat.log".into(),
                written: 4240,
                errors: 0,
                pending: 2,
                stalled: false,
                failing: false,
                dead: false,
                last_error: None,
            },
            SinkStats {
                name: "syslog-tcp:192.0.2.10:514".into(),
                written: 4100,
                errors: 3,
                pending: 142,
                stalled: false,
                failing: true,
                dead: false,
                last_error: Some("connect 192.0.2.10:514: Connection refused (os error 111)".into()),
            },
        ],
    };
    st.workers = vec![WorkerStats {
        id: 0,
        nat: [("translated_out".to_string(), 123456)].into_iter().collect(),
        dataplane: Default::default(),
        watermark_us: 1_700_000_000_000_000,
        ring_pending: 0,
    }];
    let out = render_stats(&st, false, false);
    assert!(out.contains("sessions     60000  65536     91.6%"), "{out}");
    assert!(!out.contains("drop.never"), "zero counters are not shown: {out}");
    snapshot("stats.txt", &out);
    snapshot("stats_count.txt", &render_stats(&st, false, true));
    snapshot("stats_workers.txt", &render_stats(&st, true, false));
}

#[test]
fn event_records() {
    let r = JsonRecord {
        seq: 17,
        time: "2023-11-14T22:13:20.001000Z".into(),
        time_us: 1_700_000_000_001_000,
        event: "block-alloc".into(),
        subscriber: [100, 64, 1, 10].into(),
        public: [203, 0, 113, 3].into(),
        first_port: 1536,
        last_port: 2047,
        protocol: "all".into(),
        reason: "new-mapping".into(),
        producer: "1".into(),
        pseq: 3,
        aux: 0,
        run: "0123456789abcdef".into(),
    };
    snapshot("event.txt", &render_record(&r));
}
