//! `cgnatctl log verify` (issue 10 item 7): a clean log with a crash, a
//! clean stop and a live run, rotated under both namings, gzip and mixed
//! formats, passes; each kind of damage is caught with its file:line.

mod common;

use std::path::{Path, PathBuf};

use cgnat_cli::verify::{verify_files, FindingKind, VerifyOptions};
use common::natlog::{crash_scenario, ip, write, Fmt, Run, HIGH, LOW, PUBLIC, RUN_A, RUN_B, SEC, T0};
use common::run_in;

const A: u64 = RUN_A;
const B: u64 = RUN_B;
const P: &str = PUBLIC;

fn verify(dir: &Path, args: &[&str]) -> (common::Run, serde_json::Value) {
    let mut a = vec!["--json", "log", "verify"];
    a.extend_from_slice(args);
    let r = run_in(dir, &a);
    let v = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {r:?}"));
    (r, v)
}

#[test]
fn crash_restart_rotation_gzip_and_mixed_formats_verify_clean() {
    let d = tempfile::tempdir().unwrap();
    let files = crash_scenario(d.path());
    let (r, v) = verify(d.path(), &["--log-dir", d.path().to_str().unwrap()]);
    assert_eq!(r.code, Some(0), "{}", serde_json::to_string_pretty(&v).unwrap());
    assert_eq!(v["clean"], true);
    let runs = v["runs"].as_array().unwrap();
    let ends: Vec<(&str, &str)> = runs
        .iter()
        .map(|r| (r["run"].as_str().unwrap(), r["ended"].as_str().unwrap()))
        .collect();
    assert_eq!(
        ends,
        [
            ("aaaa000000000001", "crash"),
            ("bbbb000000000002", "clean-stop"),
            ("cccc000000000003", "live")
        ]
    );
    assert_eq!(runs[0]["next_start"], "2023-11-14T22:15:00.000000Z");
    assert_eq!(runs[0]["open_blocks"], 2, "the crash left LOW (.3) and HIGH (.2) open");
    assert_eq!(runs[0]["interim_records"], 1);
    assert_eq!(v["open_blocks_total"], 1);
    assert_eq!(v["open_blocks"][0]["subscriber"], "100.64.1.5");
    // The same through the library, file order shuffled (names never
    // decide the order).
    let rev: Vec<PathBuf> = files.iter().rev().cloned().collect();
    let rep = verify_files(&rev, &VerifyOptions::default()).unwrap();
    assert!(rep.is_clean(), "{rep}");
    let human = run_in(
        d.path(),
        &[
            "log",
            "verify",
            files[0].to_str().unwrap(),
            files[1].to_str().unwrap(),
            files[2].to_str().unwrap(),
        ],
    );
    assert_eq!(human.code, Some(0), "{human:?}");
    assert!(human.stdout.contains("verdict    clean"), "{}", human.stdout);
    assert!(
        human.stdout.contains("crash (next run at 2023-11-14T22:15:00.000000Z)"),
        "{}",
        human.stdout
    );
}

/// A one-file log of `records` lines (text) in a fresh directory.
fn one_file(records: &[cgnat_core::natlog::LogRecord]) -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("nat.log");
    write(&p, records, Fmt::Text, false);
    (d, p)
}

/// Verifies `records` and expects exactly one failing finding of `kind`
/// at `line` of the file.
fn expect_finding(name: &str, records: &[cgnat_core::natlog::LogRecord], kind: FindingKind, line: u64) {
    let (_d, p) = one_file(records);
    let rep = verify_files(std::slice::from_ref(&p), &VerifyOptions::default()).unwrap();
    assert_eq!(rep.exit_code, 1, "{name}: {rep}");
    let failing: Vec<_> = rep.findings.iter().filter(|f| !f.tolerated).collect();
    assert_eq!(failing.len(), 1, "{name}: {rep}");
    assert_eq!((failing[0].kind, failing[0].line), (kind, line), "{name}: {rep}");
    assert_eq!(failing[0].file, p.display().to_string());
}

#[test]
fn each_kind_of_damage_is_caught_with_file_and_line() {
    // Gap: seq 2 lost.
    let mut r = Run::start(A, T0);
    r.alloc(T0 + 1, "100.64.1.1", P, LOW);
    r.alloc(T0 + 2, "100.64.1.2", P, HIGH);
    r.release(T0 + 3, "100.64.1.1", P, LOW);
    let mut v = r.take();
    v.remove(2);
    expect_finding("gap", &v, FindingKind::Gap, 3);

    // Order: time goes backwards along seq.
    let mut r = Run::start(A, T0);
    r.alloc(T0 + 5 * SEC, "100.64.1.1", P, LOW);
    r.release(T0 + 4 * SEC, "100.64.1.1", P, LOW);
    expect_finding("order", &r.take(), FindingKind::Order, 3);

    // Overlapping holders (RFC 6888 REQ-3): .2 gets 1024-2047 while .1
    // holds 1024-1535.
    let mut r = Run::start(A, T0);
    r.alloc(T0 + 1, "100.64.1.1", P, LOW);
    r.alloc(T0 + 2, "100.64.1.2", P, (1024, 2047));
    expect_finding("overlap", &r.take(), FindingKind::Overlap, 3);

    // The same block to another subscriber without a release.
    let mut r = Run::start(A, T0);
    r.alloc(T0 + 1, "100.64.1.1", P, LOW);
    r.alloc(T0 + 2, "100.64.1.2", P, LOW);
    expect_finding("double allocation", &r.take(), FindingKind::DoubleAllocation, 3);

    // Released for someone who does not hold it.
    let mut r = Run::start(A, T0);
    r.alloc(T0 + 1, "100.64.1.1", P, LOW);
    r.release(T0 + 2, "100.64.1.2", P, LOW);
    expect_finding("release mismatch", &r.take(), FindingKind::ReleaseMismatch, 3);

    // A release the run never allocated (its start is in the file).
    let mut r = Run::start(A, T0);
    r.release(T0 + 2, "100.64.1.2", P, LOW);
    expect_finding("release without allocation", &r.take(), FindingKind::ReleaseWithoutAllocation, 2);

    // A restatement that contradicts the allocation.
    let mut r = Run::start(A, T0);
    r.alloc(T0 + 1, "100.64.1.1", P, LOW);
    r.interim(T0 + 2, "100.64.1.1", P, LOW, T0 + 7);
    expect_finding("interim time", &r.take(), FindingKind::Interim, 3);
    let mut r = Run::start(A, T0);
    r.alloc(T0 + 1, "100.64.1.1", P, LOW);
    r.interim(T0 + 2, "100.64.1.2", P, LOW, T0 + 1);
    expect_finding("interim subscriber", &r.take(), FindingKind::Interim, 3);

    // A record after the clean stop; a stop that miscounts.
    let mut r = Run::start(A, T0);
    r.stop(T0 + 1);
    r.alloc(T0 + 2, "100.64.1.1", P, LOW);
    expect_finding("after stop", &r.take(), FindingKind::RunStop, 3);
    let mut r = Run::start(A, T0);
    r.alloc(T0 + 1, "100.64.1.1", P, LOW);
    r.stop(T0 + 2);
    let mut v = r.take();
    v.last_mut().unwrap().aux = 7;
    expect_finding("stop count", &v, FindingKind::RunStop, 3);

    // Two runs overlapping in time.
    let mut a = Run::start(A, T0);
    a.alloc(T0 + 10 * SEC, "100.64.1.1", P, LOW);
    let b = Run::start(B, T0 + 5 * SEC);
    let v: Vec<_> = a.take().into_iter().chain(b.records).collect();
    expect_finding("runs overlap", &v, FindingKind::RunsOverlap, 3);

    // A deterministic epoch whose prefixes do not rebuild it (RFC 7422
    // section 2.3).
    let mut r = Run::start(A, T0);
    r.det_epoch(T0 + 1, &[("100.64.0.0", 22)], &[("192.0.2.0", 30)], (1024, 65535), 100);
    expect_finding("det-prefix", &r.take(), FindingKind::DetPrefix, 2);
    let mut r = Run::start(A, T0);
    r.det_epoch(T0 + 1, &[("100.64.0.0", 22)], &[("192.0.2.0", 30)], (1024, 65535), 252);
    let (_d, p) = one_file(&r.take());
    let rep = verify_files(&[p], &VerifyOptions::default()).unwrap();
    assert!(rep.is_clean(), "the right prefixes: {rep}");

    // Issue 12: a PCP mapping's port lies in a block of its subscriber.
    use cgnat_core::event::{EventKind, Reason};
    let pcp = |r: &mut Run, t: u64, sub: &str, port: u16| {
        r.push(t, EventKind::PcpMap, ip(sub), ip(P), (port, port), Reason::PcpRequest, 8080);
    };
    let mut r = Run::start(A, T0);
    r.alloc(T0 + 1, "100.64.1.1", P, LOW);
    pcp(&mut r, T0 + 2, "100.64.1.1", 1100);
    let (_d, p) = one_file(&r.take());
    let rep = verify_files(&[p], &VerifyOptions::default()).unwrap();
    assert!(rep.is_clean(), "a pcp-map in its own block: {rep}");
    let mut r = Run::start(A, T0);
    r.alloc(T0 + 1, "100.64.1.1", P, LOW);
    pcp(&mut r, T0 + 2, "100.64.1.2", 1100);
    expect_finding("pcp-map in another's block", &r.take(), FindingKind::PcpOutsideBlock, 3);
    let mut r = Run::start(A, T0);
    r.alloc(T0 + 1, "100.64.1.1", P, LOW);
    r.release(T0 + 2, "100.64.1.1", P, LOW);
    pcp(&mut r, T0 + 3, "100.64.1.1", 1100);
    expect_finding("pcp-map in a released block", &r.take(), FindingKind::PcpOutsideBlock, 4);
    // Deterministic mode: the subscriber's RFC 7422 range is its block.
    let mut r = Run::start(A, T0);
    r.det_epoch(T0 + 1, &[("100.64.0.0", 22)], &[("192.0.2.0", 30)], (1024, 65535), 252);
    let mut v = r.take();
    let first = cgnat_core::natlog::LogRecord {
        seq: v.len() as u64,
        time: cgnat_core::Instant::from_micros(T0 + 2),
        event: EventKind::PcpMap,
        subscriber: ip("100.64.0.0"),
        public_addr: ip("192.0.2.0"),
        first_port: 1024,
        last_port: 1024,
        protocol: cgnat_core::event::ProtocolScope::Udp,
        reason: Reason::PcpRequest,
        aux: 5060,
        ..v[1]
    };
    v.push(first);
    let (_d, p) = one_file(&v);
    let rep = verify_files(&[p], &VerifyOptions::default()).unwrap();
    assert!(rep.is_clean(), "a pcp-map in the first subscriber's deterministic range: {rep}");
    v.last_mut().unwrap().first_port = 65000;
    v.last_mut().unwrap().last_port = 65000;
    expect_finding(
        "pcp-map outside the deterministic range",
        &v,
        FindingKind::PcpOutsideBlock,
        v.len() as u64,
    );
}

#[test]
fn duplicates_are_tolerated_only_when_allowed_and_identical() {
    // A collector's file after a reconnect: seq 1..=2 delivered twice.
    let mut r = Run::start(A, T0);
    r.alloc(T0 + 1, "100.64.1.1", P, LOW);
    r.alloc(T0 + 2, "100.64.1.2", P, HIGH);
    r.release(T0 + 3, "100.64.1.1", P, LOW);
    let v = r.take();
    let with_dups: Vec<_> = v[..3].iter().chain(&v[1..]).copied().collect();
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("collector.log");
    write(&p, &with_dups, Fmt::Syslog, false);
    let (r1, j) = verify(d.path(), &[p.to_str().unwrap()]);
    assert_eq!(r1.code, Some(1), "{r1:?}");
    assert_eq!(j["duplicates"], 2);
    assert_eq!(j["findings"][0]["kind"], "duplicate");
    assert_eq!(j["findings"][0]["line"], 4);
    let (r2, j) = verify(d.path(), &["--allow-duplicates", p.to_str().unwrap()]);
    assert_eq!(r2.code, Some(0), "{r2:?}");
    assert_eq!((j["duplicates"].as_u64(), j["tolerated"].as_u64()), (Some(2), Some(2)));
    let human = run_in(d.path(), &["log", "verify", "--allow-duplicates", p.to_str().unwrap()]);
    assert!(human.stdout.contains("(tolerated: --allow-duplicates)"), "{}", human.stdout);
    // A copy that differs is never tolerated.
    let mut conflict = with_dups.clone();
    conflict[3].subscriber = common::natlog::ip("100.64.1.77");
    write(&p, &conflict, Fmt::Syslog, false);
    let (r3, j) = verify(d.path(), &["--allow-duplicates", p.to_str().unwrap()]);
    assert_eq!(r3.code, Some(1), "{r3:?}");
    assert!(
        j["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["kind"] == "conflicting-duplicate" && f["line"] == 4),
        "{j}"
    );
}

#[test]
fn unreadable_input_exits_2() {
    let d = tempfile::tempdir().unwrap();
    let mut r = Run::start(A, T0);
    r.alloc(T0 + 1, "100.64.1.1", P, LOW);
    let mut text = common::natlog::render(&r.take(), Fmt::Text);
    text.push_str("2023-11-14T22:13:21.000000Z seq=2 block-rel\n");
    let p = d.path().join("nat.log");
    std::fs::write(&p, text).unwrap();
    let (r, j) = verify(d.path(), &[p.to_str().unwrap()]);
    assert_eq!(r.code, Some(2), "{r:?}");
    assert_eq!(j["unparseable"][0]["line"], 3);
    // Not a NAT log at all.
    let q = d.path().join("syslog.log");
    std::fs::write(&q, "Nov 14 22:13:20 host sshd[1]: hello\n").unwrap();
    let r = run_in(d.path(), &["log", "verify", q.to_str().unwrap()]);
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(r.stdout.contains("syslog.log:1: not-a-nat-log"), "{}", r.stdout);
    for args in [
        &["log", "verify"][..],
        &["log", "verify", "/nonexistent/nat.log"],
        &["log", "verify", "--log-dir", "/nonexistent"],
    ] {
        assert_eq!(run_in(d.path(), args).code, Some(2), "{args:?}");
    }
}

#[test]
fn the_repository_golden_logs_verify_clean() {
    // Every log the suite keeps as a golden passes (issue 10: "cgnatctl log
    // verify clean on every log the test suite produces").
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("tests/pcap"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".nat.log"))
        .collect();
    for f in ["basic.log", "basic.jsonl", "basic.syslog"] {
        files.push(root.join("cgnat-dpdk/tests/natlog_golden").join(f));
    }
    assert!(files.len() >= 4);
    for f in files {
        let rep = verify_files(std::slice::from_ref(&f), &VerifyOptions::default()).unwrap();
        assert!(rep.is_clean(), "{}: {rep}", f.display());
    }
}

#[test]
fn lines_without_run_are_split_where_seq_restarts() {
    // Logs written before runs were recorded (run 0): a restart shows only
    // as seq going back to 0; each part is checked on its own.
    let mut a = Run::without_start(0, 0);
    a.alloc(T0, "100.64.1.1", P, LOW);
    a.alloc(T0 + SEC, "100.64.1.2", P, HIGH);
    let mut b = Run::without_start(0, 0);
    b.alloc(T0 + 10 * SEC, "100.64.1.3", P, LOW);
    b.release(T0 + 11 * SEC, "100.64.1.3", P, LOW);
    let v: Vec<_> = a.take().into_iter().chain(b.take()).collect();
    let text = common::natlog::render(&v, Fmt::Text).replace(" run=0000000000000000", "");
    let d = tempfile::tempdir().unwrap();
    let p = d.path().join("nat.log");
    std::fs::write(&p, text).unwrap();
    let rep = verify_files(std::slice::from_ref(&p), &VerifyOptions::default()).unwrap();
    assert!(rep.is_clean(), "{rep}");
    let parts: Vec<_> = rep.runs.iter().map(|r| (r.legacy_part, r.ended, r.open_blocks)).collect();
    assert_eq!(parts, [(Some(0), "restart", 2), (Some(1), "live", 0)]);
    // Within a part the rules still hold: .3 overlapping .1's block in the
    // first part is caught.
    let mut a = Run::without_start(0, 0);
    a.alloc(T0, "100.64.1.1", P, LOW);
    a.alloc(T0 + SEC, "100.64.1.3", P, (1500, 1600));
    write(&p, &a.take(), Fmt::Text, false);
    let rep = verify_files(std::slice::from_ref(&p), &VerifyOptions::default()).unwrap();
    assert_eq!(rep.findings[0].kind, FindingKind::Overlap, "{rep}");
    assert_eq!(rep.findings[0].line, 2);
}
