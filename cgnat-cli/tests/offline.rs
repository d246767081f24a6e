//! Offline commands: `capacity`, `config check`, `index`, `gen-log` (and a
//! lookup round trip through a generated, rotated, gzip, JSON-lines log).

mod common;

use common::{normalize, run_in, snapshot};

#[test]
fn capacity_shows_the_arithmetic() {
    let d = tempfile::tempdir().unwrap();
    let r = run_in(
        d.path(),
        &[
            "capacity",
            "--subscribers",
            "1000000",
            "--ports-per-subscriber",
            "2000",
            "--pool",
            "198.18.0.0/15",
        ],
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    snapshot("capacity.txt", &r.stdout);
    let r = run_in(
        d.path(),
        &[
            "--json",
            "capacity",
            "--subscribers",
            "1000000",
            "--ports-per-subscriber",
            "2000",
            "--block-size",
            "256",
            "--port-range",
            "1024-65535",
        ],
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    snapshot("capacity.json", &r.stdout);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["blocks_per_address"], 252);
    assert_eq!(v["blocks_per_subscriber"], 8);
    assert_eq!(v["subscribers_per_address"], 31);
    // A pool too small: exit 1, with how many more addresses.
    let r = run_in(
        d.path(),
        &[
            "capacity",
            "--subscribers",
            "10000",
            "--ports-per-subscriber",
            "1000",
            "--pool",
            "203.0.113.0/28",
        ],
    );
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stdout.contains("NOT enough for 10000: 143 more addresses needed"), "{}", r.stdout);
    for bad in [
        &["--subscribers", "1", "--ports-per-subscriber", "1", "--pool", "10.0.0.1/8"][..],
        &["--subscribers", "1", "--ports-per-subscriber", "1", "--port-range", "9-1"],
        &["--subscribers", "x", "--ports-per-subscriber", "1"],
    ] {
        let mut a = vec!["capacity"];
        a.extend_from_slice(bad);
        assert_eq!(run_in(d.path(), &a).code, Some(2), "{bad:?}");
    }
}

#[test]
fn config_check_uses_the_daemon_loader() {
    let d = tempfile::tempdir().unwrap();
    let lab = concat!(env!("CARGO_MANIFEST_DIR"), "/../configs/lab.toml");
    let r = run_in(d.path(), &["config", "check", lab]);
    assert_eq!(r.code, Some(0), "{r:?}");
    snapshot("config_check_ok.txt", &r.stdout.replace(lab, "configs/lab.toml"));
    let bad = d.path().join("bad.toml");
    std::fs::write(&bad, "[nat]\nblock_size = 8\n").unwrap();
    let r = run_in(d.path(), &["config", "check", bad.to_str().unwrap()]);
    assert_eq!(r.code, Some(1), "{r:?}");
    let out = normalize(&r.stdout, d.path());
    assert!(out.contains("nat.block_size = 8: must be between 16"), "{out}");
    snapshot("config_check_invalid.txt", &out);
    let r = run_in(d.path(), &["--json", "config", "check", bad.to_str().unwrap()]);
    assert_eq!(r.code, Some(1));
    snapshot("config_check_invalid.json", &normalize(&r.stdout, d.path()));
    std::fs::write(&bad, "[nat]\nblock_sise = 512\n").unwrap();
    let r = run_in(d.path(), &["config", "check", bad.to_str().unwrap()]);
    assert_eq!(r.code, Some(1));
    assert!(r.stdout.contains("block_sise"), "{}", r.stdout);
    let r = run_in(d.path(), &["config", "check", "/nonexistent/cgnat.toml"]);
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("/nonexistent/cgnat.toml"), "{}", r.stderr);
}

#[test]
fn generated_rotated_gzip_json_log_round_trip() {
    let d = tempfile::tempdir().unwrap();
    let logs = d.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let out = logs.join("nat.log");
    let r = run_in(
        d.path(),
        &[
            "gen-log",
            "--subscribers",
            "3000",
            "--hours",
            "6",
            "--files",
            "4",
            "--gzip",
            "--format",
            "json",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    let g: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    for f in ["nat.log", "nat.log.1", "nat.log.2.gz", "nat.log.3.gz"] {
        assert!(logs.join(f).exists(), "{f}");
    }
    let sample = g["sample_lookup"].as_str().unwrap().to_string();
    let (target, at) = sample.split_once(" --at ").unwrap();
    let r = run_in(d.path(), &["index", "--log-dir", logs.to_str().unwrap()]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains("built") && r.stdout.contains("4 files"), "{}", r.stdout);
    let r = run_in(
        d.path(),
        &["--json", "lookup", target, "--at", at, "--log-dir", logs.to_str().unwrap()],
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["holders"][0]["subscriber"], g["sample_subscriber"]);
    assert!(
        v["logs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["index"] == "reused" && f["bad_lines"] == 0),
        "{v}"
    );
}

#[test]
fn help_and_version() {
    let d = tempfile::tempdir().unwrap();
    let r = run_in(d.path(), &["--help"]);
    assert_eq!(r.code, Some(0));
    for cmd in ["lookup", "subscriber", "sessions", "stats", "events", "clear", "config", "capacity"] {
        assert!(r.stdout.contains(cmd), "{cmd}: {}", r.stdout);
    }
    assert!(!r.stdout.contains("gen-log"), "gen-log is hidden");
    assert_eq!(run_in(d.path(), &["--version"]).code, Some(0));
    let r = run_in(d.path(), &["lookup", "--help"]);
    assert!(r.stdout.contains("--log-dir") && r.stdout.contains("--at"), "{}", r.stdout);
}

#[test]
fn text_and_json_logs_of_the_same_records_in_one_directory() {
    // The lab writes nat.log and nat.jsonl side by side.
    let d = tempfile::tempdir().unwrap();
    let logs = d.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    let mut sample = String::new();
    for (name, format) in [("nat.log", "text"), ("nat.jsonl", "json")] {
        let out = logs.join(name);
        let r = run_in(
            d.path(),
            &[
                "gen-log",
                "--subscribers",
                "500",
                "--hours",
                "2",
                "--format",
                format,
                "--out",
                out.to_str().unwrap(),
            ],
        );
        assert_eq!(r.code, Some(0), "{r:?}");
        let g: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
        sample = g["sample_lookup"].as_str().unwrap().to_string();
    }
    let (target, at) = sample.split_once(" --at ").unwrap();
    let r = run_in(
        d.path(),
        &["--json", "lookup", target, "--at", at, "--log-dir", logs.to_str().unwrap()],
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["holders"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["logs"].as_array().unwrap().len(), 2);
}
