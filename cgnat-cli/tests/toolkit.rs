//! Snapshots of the new commands of issue 15, human and JSON: `subscribers`
//! (top talkers), `top` (one frame of rates), NIC counters in `stats`,
//! `history SUBSCRIBER` over the NAT logs, and the live lookup in the
//! historical lookup's schema.

mod common;

use std::collections::BTreeMap;

use cgnat_cli::held::{holdings, HistoryReport};
use cgnat_cli::live::render_ports;
use cgnat_cli::lookup::live_report;
use cgnat_cli::record::{Proto, Record, RecordKind};
use cgnat_cli::subscribers::render_subscribers;
use cgnat_cli::top::{frame, render_frame};
use cgnat_core::control::{
    BlockDetail, LogStats, LookupResult, Owner, PortCounters, ProtocolName, Stats, SubscriberList, SubscriberSort, SubscriberSummary,
    TableFill, WorkerStats,
};
use common::{log_dir, normalize, run_in, snapshot};

fn json(v: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(v).unwrap() + "\n"
}

#[test]
fn subscribers_top_talkers() {
    let s = |a: u8, sessions, blocks, kind: &str| SubscriberSummary {
        subscriber: [100, 64, 1, a].into(),
        public: [203, 0, 113, a % 16].into(),
        kind: kind.into(),
        sessions,
        blocks,
        ports: blocks * 512 + u32::from(kind == "static"),
        confirmed: a != 30,
    };
    let l = SubscriberList {
        subscribers: vec![s(10, 1842, 4, "dynamic"), s(30, 64, 1, "dynamic"), s(20, 3, 0, "static")],
        total: 812,
        sort: SubscriberSort::Sessions,
    };
    let out = render_subscribers(&l);
    assert!(out.ends_with("3 of 812 subscribers with state, by sessions\n"), "{out}");
    snapshot("subscribers.txt", &out);
    snapshot("subscribers.json", &json(&l));
}

fn stats(t: u64) -> Stats {
    let mut st = Stats::default();
    let map = |pairs: &[(&str, u64)]| pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect::<BTreeMap<_, _>>();
    st.nat = map(&[("translated_out", 1000 * t), ("drop.session_limit", 5 * t), ("drop.no_mapping", 0)]);
    st.dataplane = map(&[("tx_drop_outside", 2 * t)]);
    st.workers = (0..2)
        .map(|id| WorkerStats {
            id,
            nat: map(&[("translated_out", 500 * t), ("translated_in", 400 * t), ("drop.session_limit", t)]),
            dataplane: map(&[("rx_inside", 510 * t), ("rx_outside", 400 * t)]),
            watermark_us: 0,
            ring_pending: id as u64,
        })
        .collect();
    st.tables = vec![TableFill {
        name: "sessions".into(),
        used: 60000 + 10 * t,
        capacity: 65536,
        bytes: 65536 * 24,
    }];
    st.log = LogStats {
        records: 100 + 3 * t,
        ..Default::default()
    };
    st.ports = ["inside", "outside"]
        .iter()
        .enumerate()
        .map(|(i, p)| PortCounters {
            port: p.to_string(),
            device: format!("net_tap{i}"),
            rx_packets: 1020 * t,
            tx_packets: 1000 * t,
            rx_bytes: 1_000_000 * t,
            tx_bytes: 990_000 * t,
            rx_missed: t / 2,
            rx_errors: 0,
            tx_errors: 0,
            rx_nombuf: 0,
        })
        .collect();
    st
}

#[test]
fn top_one_frame() {
    let f = frame(&stats(10), &stats(12), 2.0);
    assert_eq!(f.workers[0].translated_out, 500.0);
    assert_eq!(f.drops["session_limit"], 5.0);
    assert!(!f.drops.contains_key("no_mapping"), "no drops, no line");
    assert_eq!(f.tables[0].change, 10.0);
    let out = render_frame(&f);
    snapshot("top.txt", &out);
    snapshot("top.json", &json(&f));
}

#[test]
fn stats_shows_nic_counters() {
    let out = render_ports(&stats(1).ports);
    assert!(out.contains("MISSED") && out.contains("NO MBUF"), "{out}");
    snapshot("stats_ports.txt", &out);
}

fn rec(line: u64, t: i64, kind: RecordKind, first: u16, run: u64, aux: u64) -> (String, Record) {
    (
        "nat.log".into(),
        Record {
            line,
            time: 1_700_000_000_000_000 + t * 1_000_000,
            kind,
            subscriber: u32::from(std::net::Ipv4Addr::new(100, 64, 1, 10)),
            public: u32::from(std::net::Ipv4Addr::new(203, 0, 113, 3)),
            first_port: first,
            last_port: first + 511,
            proto: Proto::All,
            aux,
            run,
            seq: line,
        },
    )
}

#[test]
fn history_pairs_records_per_block() {
    let h = holdings(vec![
        rec(1, 0, RecordKind::Alloc, 1536, 7, 0),
        rec(2, 10, RecordKind::Alloc, 2048, 7, 0),
        rec(3, 60, RecordKind::Release, 1536, 7, 0),
        rec(4, 100, RecordKind::Interim, 2048, 7, 1_700_000_010_000_000),
        rec(5, 120, RecordKind::Release, 2048, 7, 0),
        rec(6, 130, RecordKind::Interim, 4096, 7, 1_699_999_000_000_000),
        // The JSON copy of the log: the same records again.
        rec(1, 0, RecordKind::Alloc, 1536, 7, 0),
        rec(3, 60, RecordKind::Release, 1536, 7, 0),
    ]);
    let spans: Vec<(u16, i64, Option<i64>, bool)> = h
        .iter()
        .map(|h| (h.first_port, h.allocated, h.released, h.allocation_restated))
        .collect();
    assert_eq!(
        spans,
        [
            (4096, 1_699_999_000_000_000, None, true),
            (1536, 1_700_000_000_000_000, Some(1_700_000_060_000_000), false),
            (2048, 1_700_000_010_000_000, Some(1_700_000_120_000_000), false),
        ]
    );
}

/// `history` over the fixture logs: 100.64.1.10 held 203.0.113.3
/// 1536-2047 from 22:01 (nat.log.2.gz) to 22:12 (nat.log.1).
#[test]
fn history_from_the_logs() {
    let d = log_dir();
    let logs = d.path().join("logs");
    let args = |extra: &[&'static str]| {
        let mut v = vec!["history", "100.64.1.10", "--log-dir", logs.to_str().unwrap(), "--skip-malformed"];
        v.extend_from_slice(extra);
        v
    };
    let r = run_in(d.path(), &args(&["--from", "2023-11-14T22:00:00Z", "--to", "2023-11-14T22:30:00Z"]));
    assert_eq!(r.code, Some(0), "{r:?}");
    let out = normalize(&r.stdout, d.path());
    assert!(out.contains("203.0.113.3  1536-2047"), "{out}");
    snapshot("history.txt", &out);
    let r = run_in(
        d.path(),
        &args(&["--json", "--from", "2023-11-14T22:00:00Z", "--to", "2023-11-14T22:30:00Z"]),
    );
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["outcome"], "held");
    assert_eq!(v["holdings"][0]["allocation_record"]["line"], 3);
    snapshot("history.json", &normalize(&r.stdout, d.path()));
    // A subscriber that held nothing then: exit 1; a period the logs do
    // not cover: exit 3.
    let r = run_in(
        d.path(),
        &["history", "100.64.9.9", "--log-dir", logs.to_str().unwrap(), "--skip-malformed"],
    );
    assert_eq!(r.code, Some(1), "{r:?}");
    let r = run_in(d.path(), &args(&["--from", "2023-11-13T00:00:00Z", "--to", "2023-11-13T12:00:00Z"]));
    assert_eq!(r.code, Some(3), "{r:?}");
    // A time without a zone is refused here too.
    let r = run_in(d.path(), &args(&["--from", "2023-11-14 22:00:00"]));
    assert_eq!(r.code, Some(2), "{r:?}");
    let _: Option<HistoryReport> = None;
}

/// Issue 15: "live and historical `--json` share one schema": the live
/// answer has every top-level key of the historical one.
#[test]
fn live_lookup_has_the_historical_schema() {
    let live = live_report(
        &LookupResult {
            public: [203, 0, 113, 14].into(),
            port: 8080,
            owner: Some(Owner {
                subscriber: [100, 64, 1, 20].into(),
                kind: "static".into(),
                block: BlockDetail {
                    public: [203, 0, 113, 14].into(),
                    first_port: 8080,
                    last_port: 8080,
                    allocated_at: "2023-11-14T22:13:20Z".into(),
                    mappings: 1,
                    static_port: false,
                },
                mappings: vec![(ProtocolName::Tcp, 80)],
            }),
            in_pool: true,
            run: 0x0123_4567_89ab_cdef,
        },
        None,
        1_700_000_100_000_000,
    );
    let v = serde_json::to_value(&live).unwrap();
    let d = log_dir();
    let r = run_in(
        d.path(),
        &[
            "--json",
            "lookup",
            "203.0.113.3:1600",
            "--at",
            "2023-11-14T22:05:00Z",
            "--log-dir",
            d.path().join("logs").to_str().unwrap(),
            "--skip-malformed",
        ],
    );
    let h: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let keys = |v: &serde_json::Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&v), keys(&h));
    assert_eq!(keys(&v["holders"][0]), keys(&h["holders"][0]));
    assert_eq!(v["holders"][0]["allocated"], "2023-11-14T22:13:20.000000Z");
    assert_eq!(v["holders"][0]["protocol"], "tcp");
    snapshot("lookup_live.json", &json(&live));
    snapshot("lookup_live.txt", &cgnat_cli::lookup::render(&live));
    let nobody = live_report(
        &LookupResult {
            public: [8, 8, 8, 8].into(),
            port: 53,
            owner: None,
            in_pool: false,
            run: 1,
        },
        None,
        1_700_000_100_000_000,
    );
    assert_eq!(
        cgnat_cli::lookup::render(&nobody),
        "nobody holds 8.8.8.8:53: 8.8.8.8 is not a public address of this NAT (not in its pool)\n"
    );
}
