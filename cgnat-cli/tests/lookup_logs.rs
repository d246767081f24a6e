//! `cgnatctl lookup` against NAT log fixtures: rotated, gzip, text and
//! JSON lines, malformed lines, a lookup between a release and a
//! re-allocation, deterministic mode.
//!
//! The fixtures hold damaged lines on purpose: those lookups pass
//! `--skip-malformed`, and `damaged_lines_are_an_error` checks that
//! without it the lookup refuses to answer (issue 10).

mod common;

use common::{log_dir, lookup, lookup_file, normalize, run_in, snapshot};

#[test]
fn damaged_lines_are_an_error() {
    // Issue 10: "a log it cannot parse is an error (exit 2), never 'nobody held'".
    let d = log_dir();
    let logs = d.path().join("logs");
    for at in ["2023-11-14T22:05:00Z", "2023-11-14T22:13:00Z"] {
        let r = run_in(
            d.path(),
            &["lookup", "203.0.113.3:1600", "--at", at, "--log-dir", logs.to_str().unwrap()],
        );
        assert_eq!(r.code, Some(2), "{r:?}");
        let err = normalize(&r.stderr, d.path());
        assert!(
            err.contains("$DIR/logs/nat.log:6: a damaged NAT log record: reason: unknown reason `bogus`")
                || err.contains("$DIR/logs/nat.log.1:3: a damaged NAT log record: json:"),
            "{err}"
        );
        assert!(err.contains("--skip-malformed"), "{err}");
        assert!(r.stdout.is_empty(), "no answer: {}", r.stdout);
    }
    // A record cut short (a crash during a write) is damage too.
    std::fs::write(
        logs.join("nat.log"),
        "2023-11-14T22:20:00.000000Z seq=7 block-release subscriber=100.64.1.30 public=203.0.113.3 ports=1536-20\n",
    )
    .unwrap();
    let r = lookup_file(d.path(), "203.0.113.3:1600", "2023-11-14T22:05:00Z", &logs.join("nat.log"), &[]);
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(r.stderr.contains("nat.log:1: a damaged NAT log record"), "{}", r.stderr);
}

#[test]
fn holder_across_rotation_and_gzip() {
    let d = log_dir();
    // Allocated in nat.log.2.gz (gzip), released in nat.log.1 (JSON).
    let r = lookup(d.path(), "203.0.113.3:1600", "2023-11-14T22:05:00Z", &[]);
    assert_eq!(r.code, Some(0), "{r:?}");
    let out = normalize(&r.stdout, d.path());
    assert!(out.contains("was held by 100.64.1.10"), "{out}");
    assert!(
        out.contains("[$DIR/logs/nat.log.2.gz:3]") && out.contains("[$DIR/logs/nat.log.1:2]"),
        "{out}"
    );
    snapshot("lookup_found.txt", &out);
    let r = lookup(d.path(), "203.0.113.3:1600", "2023-11-14T22:05:00Z", &["--json"]);
    assert_eq!(r.code, Some(0));
    snapshot("lookup_found.json", &normalize(&r.stdout, d.path()));
}

#[test]
fn between_release_and_reallocation_is_nobody() {
    let d = log_dir();
    let r = lookup(d.path(), "203.0.113.3:1600", "2023-11-14T22:13:00Z", &[]);
    assert_eq!(r.code, Some(1), "{r:?}");
    let out = normalize(&r.stdout, d.path());
    assert!(
        out.starts_with("nobody held 203.0.113.3:1600 at 2023-11-14T22:13:00.000000Z"),
        "{out}"
    );
    assert!(
        out.contains("previous   100.64.1.10") && out.contains("next       100.64.1.30"),
        "{out}"
    );
    snapshot("lookup_nobody.txt", &out);
    let r = lookup(d.path(), "203.0.113.3:1600", "2023-11-14T22:13:00Z", &["--json"]);
    assert_eq!(r.code, Some(1));
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["found"], false);
    assert_eq!(v["holders"].as_array().unwrap().len(), 0);
    assert_eq!(v["previous"]["subscriber"], "100.64.1.10");
    assert_eq!(v["next"]["subscriber"], "100.64.1.30");
    snapshot("lookup_nobody.json", &normalize(&r.stdout, d.path()));
    // The boundaries: [alloc, release) is half-open.
    assert_eq!(lookup(d.path(), "203.0.113.3:1600", "2023-11-14T22:12:00Z", &[]).code, Some(1));
    let r = lookup(d.path(), "203.0.113.3:1600", "2023-11-14T22:11:59.999999Z", &[]);
    assert!(r.stdout.contains("100.64.1.10"), "{r:?}");
    let r = lookup(d.path(), "203.0.113.3:1600", "2023-11-14T22:15:00Z", &[]);
    assert!(r.stdout.contains("held by 100.64.1.30"), "{r:?}");
}

#[test]
fn release_without_allocation_and_allocation_without_release() {
    let d = log_dir();
    // Released at 22:00 in the oldest file, allocated before it.
    let r = lookup(d.path(), "203.0.113.3:1100", "2023-11-14T21:59:00Z", &[]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stdout.contains("held by 100.64.1.9") && r.stdout.contains("rotated out of the logs"),
        "{}",
        r.stdout
    );
    // Before the oldest record: the logs cannot tell (issue 15: its own
    // outcome, exit 3, with the period covered).
    let r = lookup(d.path(), "203.0.113.3:1100", "2023-11-14T21:00:00Z", &[]);
    assert_eq!(r.code, Some(3), "{r:?}");
    assert!(
        r.stdout.starts_with("no answer for 203.0.113.3:1100 at 2023-11-14T21:00:00.000000Z: the NAT logs cover 2023-11-14T21:58:00.000000Z to 2023-11-14T22:22:00.000000Z only"),
        "{}",
        r.stdout
    );
    assert!(r.stderr.contains("before the period the NAT logs cover"), "{}", r.stderr);
    // Never released: held to the end of the log (and after it).
    let r = lookup(d.path(), "203.0.113.3:2047", "2023-11-15T03:00:00Z", &["--json"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["holders"][0]["subscriber"], "100.64.1.40");
    assert_eq!(v["holders"][0]["released"], serde_json::Value::Null);
    assert!(v["warnings"].to_string().contains("after the last NAT log record"));
}

#[test]
fn protocol_of_static_mappings() {
    let d = log_dir();
    let tcp = lookup(d.path(), "203.0.113.14:8080", "2023-11-14T22:21:30Z", &["--proto", "tcp"]);
    assert_eq!(tcp.code, Some(0), "{tcp:?}");
    assert!(tcp.stdout.contains("held by 100.64.1.20") && tcp.stdout.contains("(tcp)"));
    let udp = lookup(d.path(), "203.0.113.14:8080", "2023-11-14T22:21:30Z", &["--proto", "udp"]);
    assert_eq!(udp.code, Some(1), "{udp:?}");
    // After the last record the TCP holder is still answered (held as of
    // then, with a warning); nobody else can be asserted (exit 3).
    let tcp = lookup(d.path(), "203.0.113.14:8080", "2023-11-14T22:30:00Z", &["--proto", "tcp"]);
    assert_eq!(tcp.code, Some(0), "{tcp:?}");
    let udp = lookup(d.path(), "203.0.113.14:8080", "2023-11-14T22:30:00Z", &["--proto", "udp"]);
    assert_eq!(udp.code, Some(3), "{udp:?}");
}

#[test]
fn malformed_lines_are_reported_with_file_and_line() {
    let d = log_dir();
    let r = lookup(d.path(), "203.0.113.3:1600", "2023-11-14T22:05:00Z", &[]);
    let err = normalize(&r.stderr, d.path());
    assert!(
        err.contains("warning: $DIR/logs/nat.log.1:3: malformed line skipped: json:"),
        "{err}"
    );
    assert!(
        err.contains("warning: $DIR/logs/nat.log:6: malformed line skipped: reason: unknown reason `bogus`"),
        "{err}"
    );
    // "this is not a NAT log line" (line 3) is not a NAT record: skipped
    // and counted like another program's line in a shared syslog file.
    assert!(!err.contains("nat.log:3:"), "{err}");
    assert!(r.stdout.contains("(1 line of other programs skipped)"), "{}", r.stdout);
    // The blank line 4 is not an error.
    assert!(!err.contains("nat.log:4:"), "{err}");
    let r = lookup(d.path(), "203.0.113.3:1600", "2023-11-14T22:05:00Z", &["--json"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["warnings"].as_array().unwrap().len(), 2);
    let active = v["logs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with("/nat.log"))
        .unwrap();
    assert_eq!(
        (
            active["other_lines"].as_u64(),
            active["bad_lines"].as_u64(),
            active["records"].as_u64()
        ),
        (Some(1), Some(1), Some(3))
    );
}

#[test]
fn garbage_files_never_panic() {
    let d = tempfile::tempdir().unwrap();
    let logs = d.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let noise: Vec<u8> = (0..50_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(logs.join("noise.log"), &noise).unwrap();
    std::fs::write(logs.join("empty.log"), b"").unwrap();
    // A truncated gzip file.
    let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3];
    gz.extend_from_slice(&noise[..100]);
    std::fs::write(logs.join("cut.log.3.gz"), &gz).unwrap();
    let r = run_in(
        d.path(),
        &[
            "lookup",
            "203.0.113.3:1600",
            "--at",
            "2023-11-14T22:05:00Z",
            "--log-dir",
            logs.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(r.stderr.contains("cut.log.3.gz"), "{}", r.stderr);
    std::fs::remove_file(logs.join("cut.log.3.gz")).unwrap();
    // A file without a single NAT record is not a NAT log: read by name, an
    // error (exit 2) naming it, never "nobody held" (issue 10).
    let noise = logs.join("noise.log");
    let r = lookup_file(d.path(), "203.0.113.3:1600", "2023-11-14T22:05:00Z", &noise, &["--skip-malformed"]);
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(r.stderr.contains("noise.log:1: not a NAT log record"), "{}", r.stderr);
    // In a directory it is not read at all (issue 15): a directory without
    // a NAT log is an error naming the files it skipped.
    let r = run_in(
        d.path(),
        &[
            "lookup",
            "203.0.113.3:1600",
            "--at",
            "2023-11-14T22:05:00Z",
            "--log-dir",
            logs.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(
        r.stderr.contains("no NAT log files in") && r.stderr.contains("(empty.log, noise.log)"),
        "{}",
        r.stderr
    );
    // An empty file (a log just rotated) holds nothing, and says so: the
    // logs cover no time at all (exit 3).
    let r = lookup_file(d.path(), "203.0.113.3:1600", "2023-11-14T22:05:00Z", &logs.join("empty.log"), &[]);
    assert_eq!(r.code, Some(3), "{r:?}");
    assert!(r.stderr.contains("the NAT logs hold no record"), "{}", r.stderr);
}

#[test]
fn index_is_reused_and_rebuilt_when_the_log_changes() {
    let d = log_dir();
    let state = |d: &std::path::Path| {
        let r = lookup(d, "203.0.113.3:1600", "2023-11-14T22:05:00Z", &["--json"]);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        v["logs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["index"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(state(d.path()), ["built", "built", "built"]);
    assert_eq!(state(d.path()), ["reused", "reused", "reused"]);
    let active = d.path().join("logs/nat.log");
    let mut text = std::fs::read_to_string(&active).unwrap();
    text.push_str("2023-11-14T22:30:00.000000Z seq=11 block-release subscriber=100.64.1.40 public=203.0.113.3 ports=1536-2047 protocol=all reason=idle producer=mgmt pseq=4 aux=0\n");
    std::fs::write(&active, text).unwrap();
    let files: Vec<String> = {
        let r = lookup(d.path(), "203.0.113.3:1600", "2023-11-14T22:05:00Z", &["--json"]);
        let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        v["logs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                format!(
                    "{}={}",
                    f["path"].as_str().unwrap().rsplit('/').next().unwrap(),
                    f["index"].as_str().unwrap()
                )
            })
            .collect()
    };
    assert!(files.contains(&"nat.log=built".to_string()), "{files:?}");
    assert!(files.contains(&"nat.log.1=reused".to_string()), "{files:?}");
    // The new release is seen: 22:30 is its time, nobody from then.
    let r = lookup(d.path(), "203.0.113.3:1600", "2023-11-14T22:30:00Z", &[]);
    assert_eq!(r.code, Some(1), "{r:?}");
    // Rotation renames files: their indexes are still used.
    let logs = d.path().join("logs");
    std::fs::rename(logs.join("nat.log.2.gz"), logs.join("nat.log.3.gz")).unwrap();
    std::fs::rename(logs.join("nat.log.1"), logs.join("nat.log.2")).unwrap();
    std::fs::rename(logs.join("nat.log"), logs.join("nat.log.1")).unwrap();
    assert_eq!(state(d.path()), ["reused", "reused", "reused"]);
    // Only the current indexes remain, in the cache directory: none is
    // ever written beside the logs (issue 15).
    let count = |dir: &std::path::Path| {
        std::fs::read_dir(dir)
            .map(|d| {
                d.filter(|e| e.as_ref().unwrap().file_name().to_string_lossy().ends_with(".cgnatidx"))
                    .count()
            })
            .unwrap_or(0)
    };
    assert_eq!(count(&logs), 0, "no index beside the legal logs");
    let cache = d.path().join("cache/cgnatctl/indexes");
    assert_eq!(count(&cache), 3);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&cache).unwrap().permissions().mode() & 0o777,
        0o700,
        "indexes name subscribers: the cache is owner-only"
    );
    // --no-index reads the logs without writing.
    let r = lookup(d.path(), "203.0.113.3:1600", "2023-11-14T22:05:00Z", &["--no-index", "--json"]);
    assert!(r.stdout.contains("\"in-memory\""));
}

#[test]
fn read_only_log_directory_uses_the_cache() {
    let d = log_dir();
    let r = run_in(
        d.path(),
        &[
            "lookup",
            "203.0.113.3:1600",
            "--at",
            "2023-11-14T22:05:00Z",
            "--index-dir",
            d.path().join("ix").to_str().unwrap(),
            "--log",
            d.path().join("logs/nat.log.1").to_str().unwrap(),
            "--log",
            d.path().join("logs/nat.log.2.gz").to_str().unwrap(),
            "--skip-malformed",
        ],
    );
    // --index-dir must exist to be used: else the lookup still answers from memory.
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains("100.64.1.10"));
}

#[test]
fn deterministic_formula_with_epoch_check() {
    let d = log_dir();
    let cfg = d.path().join("det.toml");
    let log = d.path().join("det-epoch.log");
    let (cfg, log) = (cfg.to_str().unwrap(), log.to_str().unwrap());
    let r = run_in(
        d.path(),
        &[
            "lookup",
            "192.0.2.1:1100",
            "--config",
            cfg,
            "--log",
            log,
            "--at",
            "2023-11-14T21:00:00Z",
        ],
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    snapshot("lookup_deterministic.txt", &normalize(&r.stdout, d.path()));
    let r = run_in(
        d.path(),
        &[
            "--json",
            "lookup",
            "192.0.2.1:1100",
            "--config",
            cfg,
            "--log",
            log,
            "--at",
            "2023-11-14T21:00:00Z",
        ],
    );
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["deterministic"]["subscriber"], "100.64.1.0");
    assert_eq!(v["deterministic"]["first_port"], 1024);
    assert_eq!(v["deterministic"]["last_port"], 1275);
    // Before the epoch: not in force.
    let r = run_in(
        d.path(),
        &[
            "lookup",
            "192.0.2.1:1100",
            "--config",
            cfg,
            "--log",
            log,
            "--at",
            "2023-11-14T19:00:00Z",
        ],
    );
    assert_eq!(r.code, Some(1), "{r:?}");
    // A port outside the range: nobody.
    let r = run_in(
        d.path(),
        &["lookup", "192.0.2.1:80", "--config", cfg, "--at", "2023-11-14T21:00:00Z"],
    );
    assert_eq!(r.code, Some(1), "{r:?}");
    // An epoch the config does not match: a usage error naming the record.
    std::fs::write(
        d.path().join("other.log"),
        std::fs::read_to_string(log).unwrap().replace("aux=252", "aux=100"),
    )
    .unwrap();
    let other = d.path().join("other.log");
    let r = run_in(
        d.path(),
        &[
            "lookup",
            "192.0.2.1:1100",
            "--config",
            cfg,
            "--log",
            other.to_str().unwrap(),
            "--at",
            "2023-11-14T21:00:00Z",
        ],
    );
    assert_eq!(r.code, Some(2), "{r:?}");
    assert!(
        r.stderr.contains("other.log:1") && r.stderr.contains("matches none of the --config files"),
        "{}",
        r.stderr
    );
}

#[test]
fn usage_errors_exit_2() {
    let d = tempfile::tempdir().unwrap();
    for args in [
        &["lookup", "203.0.113.3", "--at", "2023-11-14T22:05:00Z", "--log-dir", "/nonexistent"][..],
        &["lookup", "203.0.113.3:1", "--at", "yesterday", "--log-dir", "."],
        &[
            "lookup",
            "203.0.113.3:1",
            "--at",
            "2023-11-14T22:05:00Z",
            "--log-dir",
            "/nonexistent",
        ],
        &[
            "lookup",
            "203.0.113.3:1",
            "--at",
            "2023-11-14T22:05:00Z",
            "--log",
            "/nonexistent/nat.log",
        ],
        &["lookup"],
        &["frobnicate"],
    ] {
        let r = run_in(d.path(), args);
        assert_eq!(r.code, Some(2), "{args:?}: {r:?}");
    }
}
