//! Issue 15, "Lookups never mislead": each case the issue saw, as a
//! test (each failed before the fix).
//!
//! - a time without a zone was read as UTC (one hour off in Berlin);
//! - a time before the oldest log answered "nobody held" (exit 1);
//! - a non-pool address answered "nobody holds";
//! - `--log-dir` parsed every file (the daemon's log, iperf's) and wrote
//!   index files next to the legal logs.

mod common;

use std::path::{Path, PathBuf};

use common::{log_dir, lookup, run_in};

fn lab_config() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/lab.toml")
}

/// "`cgnatctl lookup … --at "2026-11-30 10:21:00"` with `TZ=Europe/Berlin`
/// searched 10:21:00Z — one hour off, no warning." Refused (exit 2), the
/// error showing both ways to write it; the same time with its offset
/// answers for the right instant.
#[test]
fn a_time_without_a_zone_is_refused() {
    let d = log_dir();
    for at in ["2023-11-14 22:05:00", "2023-11-14T22:05:00", "2023-11-14"] {
        let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_cgnatctl"));
        c.args(["lookup", "203.0.113.3:1600", "--at", at, "--log-dir"])
            .arg(d.path().join("logs"))
            .arg("--skip-malformed")
            .env("TZ", "Europe/Berlin")
            .env("HOME", d.path());
        let o = c.output().unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{at}: {err}");
        assert!(err.contains("no time zone") && err.contains("+01:00"), "{at}: {err}");
        assert!(o.stdout.is_empty(), "no answer for {at}");
    }
    // 23:05 in Berlin (UTC+1 in November) is 22:05Z: held by 100.64.1.10.
    let r = lookup(d.path(), "203.0.113.3:1600", "2023-11-14 23:05:00+01:00", &[]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stdout.contains("at 2023-11-14T22:05:00.000000Z was held by 100.64.1.10"),
        "{}",
        r.stdout
    );
}

/// "A lookup for a time before the oldest log answers 'nobody held' with
/// exit 1; only a stderr warning says older logs are needed." Its own
/// outcome now: exit 3, "no answer", and the period the logs cover, in
/// the text and the JSON.
#[test]
fn a_time_the_logs_do_not_cover_is_its_own_answer() {
    let d = log_dir();
    let r = lookup(d.path(), "203.0.113.3:1600", "2023-11-14T20:00:00Z", &[]);
    assert_eq!(r.code, Some(3), "{r:?}");
    assert!(!r.stdout.contains("nobody"), "{}", r.stdout);
    assert!(
        r.stdout.starts_with(
            "no answer for 203.0.113.3:1600 at 2023-11-14T20:00:00.000000Z: the NAT logs cover 2023-11-14T21:58:00.000000Z to 2023-11-14T22:22:00.000000Z only"
        ),
        "{}",
        r.stdout
    );
    let r = lookup(d.path(), "203.0.113.3:1600", "2023-11-14T20:00:00Z", &["--json"]);
    assert_eq!(r.code, Some(3));
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["outcome"], "not-covered");
    assert_eq!(v["found"], false);
    assert_eq!(v["covered"]["from"], "2023-11-14T21:58:00.000000Z");
    assert_eq!(v["covered"]["to"], "2023-11-14T22:22:00.000000Z");
    // After the newest record, for a port nobody held at its end: no answer either.
    let r = lookup(d.path(), "203.0.113.3:5000", "2023-11-15T10:00:00Z", &["--json"]);
    assert_eq!(r.code, Some(3), "{r:?}");
    // A block still open at the end: its holder as of then, not certain.
    let r = lookup(d.path(), "203.0.113.3:1600", "2023-11-15T10:00:00Z", &["--json"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!((v["outcome"].as_str(), v["certain"].as_bool()), (Some("held"), Some(false)));
    let r = lookup(d.path(), "203.0.113.3:1600", "2023-11-15T10:00:00Z", &[]);
    assert!(
        r.stdout
            .contains("the NAT logs end at 2023-11-14T22:22:00.000000Z: held as of then"),
        "{}",
        r.stdout
    );
}

/// "A non-pool address (8.8.8.8:53) also gets 'nobody holds'." With the
/// pool known (`--config`), it is not the NAT's address: said so, outcome
/// `not-in-pool`; without a configuration, the logs never naming the
/// address is said too.
#[test]
fn a_non_pool_address_says_so() {
    let d = log_dir();
    let cfg = lab_config();
    let r = lookup(d.path(), "8.8.8.8:53", "2023-11-14T22:05:00Z", &["--config", cfg.to_str().unwrap()]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(
        r.stdout
            .starts_with("nobody held 8.8.8.8:53 at 2023-11-14T22:05:00.000000Z: 8.8.8.8 is not a public address of this NAT"),
        "{}",
        r.stdout
    );
    assert!(
        r.stderr.contains("the pool of") && r.stderr.contains("203.0.113.0/28"),
        "{}",
        r.stderr
    );
    let r = lookup(
        d.path(),
        "8.8.8.8:53",
        "2023-11-14T22:05:00Z",
        &["--json", "--config", cfg.to_str().unwrap()],
    );
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["outcome"], "not-in-pool");
    // Without the configuration: the logs never name it.
    let r = lookup(d.path(), "8.8.8.8:53", "2023-11-14T22:05:00Z", &["--json"]);
    assert_eq!(r.code, Some(1), "{r:?}");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["outcome"], "not-in-pool");
    assert!(v["warnings"].to_string().contains("appears in no block record"), "{v}");
    // A pool address nobody held then stays "nobody" (exit 1).
    let r = lookup(
        d.path(),
        "203.0.113.3:1600",
        "2023-11-14T22:13:00Z",
        &["--json", "--config", cfg.to_str().unwrap()],
    );
    assert_eq!(r.code, Some(1), "{r:?}");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["outcome"], "nobody");
}

/// "`--log-dir` parses every file in the directory as a NAT log (daemon
/// log, iperf logs: ~20 warnings) and writes index files next to the
/// legal logs." Only NAT logs are read (one note names the others), and
/// the indexes go to the cache directory.
#[test]
fn log_dir_reads_only_nat_logs_and_writes_nothing_beside_them() {
    let d = log_dir();
    let logs = d.path().join("logs");
    std::fs::write(
        logs.join("cgnatd.log"),
        "cgnatd: configuration from configs/lab.toml\ncgnatd: starting DPDK with no hugepages\ncgnatd: 2 worker(s) running\n",
    )
    .unwrap();
    std::fs::write(
        logs.join("iperf3.log"),
        "Connecting to host 198.51.100.1, port 5201\n[  5] local 100.64.1.10 port 40000 connected to 198.51.100.1 port 5201\n",
    )
    .unwrap();
    std::fs::write(logs.join("http.json"), "{\"client\":\"203.0.113.3\"}\n").unwrap();
    let before: Vec<_> = std::fs::read_dir(&logs).unwrap().map(|e| e.unwrap().file_name()).collect();
    let r = lookup(d.path(), "203.0.113.3:1600", "2023-11-14T22:05:00Z", &["--json"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    let read: Vec<&str> = v["logs"].as_array().unwrap().iter().map(|f| f["path"].as_str().unwrap()).collect();
    assert_eq!(read.len(), 3, "{read:?}");
    assert!(read.iter().all(|p| p.contains("/nat.log")), "{read:?}");
    let w: Vec<&str> = v["warnings"].as_array().unwrap().iter().map(|w| w.as_str().unwrap()).collect();
    let notes: Vec<&&str> = w.iter().filter(|w| w.contains("not read")).collect();
    assert_eq!(notes.len(), 1, "one note for the skipped files: {w:?}");
    assert!(notes[0].contains("cgnatd.log, http.json, iperf3.log"), "{w:?}");
    assert!(!w.iter().any(|w| w.contains("cgnatd.log:") || w.contains("iperf3.log:")), "{w:?}");
    let after: Vec<_> = std::fs::read_dir(&logs).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(before.len(), after.len(), "nothing written beside the logs: {after:?}");
    // log verify --log-dir reads the same files.
    let r = run_in(d.path(), &["log", "verify", "--log-dir", logs.to_str().unwrap()]);
    assert!(!r.stderr.contains("cgnatd.log") || r.stderr.contains("not read"), "{}", r.stderr);
}
