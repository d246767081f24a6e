//! Helpers of the integration tests: run `cgnatctl`, copy fixtures,
//! compare snapshots.

#![allow(dead_code)]

pub mod natlog;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What a run printed and returned.
#[derive(Debug)]
pub struct Run {
    /// Exit code (None: killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs cgnatctl with `args` (no CGNAT_*/CGNATCTL_* variables from the
/// environment, the cache directory inside `home`).
pub fn run_in(home: &Path, args: &[&str]) -> Run {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cgnatctl"));
    c.args(args).stdin(Stdio::null());
    for (k, _) in std::env::vars() {
        if k.starts_with("CGNAT") {
            c.env_remove(k);
        }
    }
    c.env("XDG_CACHE_HOME", home.join("cache")).env("HOME", home);
    let o = c.output().expect("run cgnatctl");
    let r = Run {
        code: o.status.code(),
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    };
    assert_ne!(r.code, Some(101), "cgnatctl panicked: {args:?}\n{}", r.stderr);
    assert!(r.code.is_some(), "cgnatctl was killed: {args:?}");
    r
}

/// `cgnatctl lookup TARGET --at AT` over the logs in `dir/logs`
/// (`--log-dir`, skipping malformed lines), then `extra`.
pub fn lookup(dir: &Path, target: &str, at: &str, extra: &[&str]) -> Run {
    let logs = dir.join("logs");
    let mut args = vec![
        "lookup",
        target,
        "--at",
        at,
        "--log-dir",
        logs.to_str().unwrap(),
        "--skip-malformed",
    ];
    args.extend_from_slice(extra);
    run_in(dir, &args)
}

/// `cgnatctl lookup TARGET --at AT --log FILE`, then `extra`.
pub fn lookup_file(dir: &Path, target: &str, at: &str, file: &Path, extra: &[&str]) -> Run {
    let mut args = vec!["lookup", target, "--at", at, "--log", file.to_str().unwrap()];
    args.extend_from_slice(extra);
    run_in(dir, &args)
}

/// The fixtures directory.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// A temporary directory with the rotated fixture logs: `nat.log` (text),
/// `nat.log.1` (JSON lines) and `nat.log.2.gz` (text, gzip), plus the
/// deterministic fixtures.
pub fn log_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    let logs = d.path().join("logs");
    std::fs::create_dir(&logs).unwrap();
    for f in ["nat.log", "nat.log.1"] {
        std::fs::copy(fixtures().join(f), logs.join(f)).unwrap();
    }
    let text = std::fs::read(fixtures().join("nat.log.2")).unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&text).unwrap();
    std::fs::write(logs.join("nat.log.2.gz"), gz.finish().unwrap()).unwrap();
    for f in ["det.toml", "det-epoch.log"] {
        std::fs::copy(fixtures().join(f), d.path().join(f)).unwrap();
    }
    d
}

/// Replaces the temporary directory's path by `$DIR`.
pub fn normalize(s: &str, dir: &Path) -> String {
    s.replace(&dir.display().to_string(), "$DIR")
}

/// Compares `actual` with `tests/snapshots/NAME`; writes the snapshot when
/// it is missing or `UPDATE_SNAPSHOTS=1`.
pub fn snapshot(name: &str, actual: &str) {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/snapshots").join(name);
    let update = std::env::var("UPDATE_SNAPSHOTS").is_ok_and(|v| v == "1");
    match std::fs::read_to_string(&p) {
        Ok(expected) if !update => assert_eq!(
            actual, expected,
            "snapshot {name} differs (UPDATE_SNAPSHOTS=1 cargo test -p cgnat-cli rewrites it)"
        ),
        _ => std::fs::write(&p, actual).unwrap(),
    }
}
