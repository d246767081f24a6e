//! NAT logs written by tests: every one passes `cgnatctl log verify`
//! (sequence per run, order, duplicates, releases or run ends, no port held
//! by two subscribers at once), and `cgnatctl` itself for lookups.

use std::path::{Path, PathBuf};
use std::process::Command;

use cgnat_cli::verify::{verify_files, VerifyOptions};

/// Verifies `files` as one target's log with `cgnatctl log verify`'s
/// library; panics with the findings. `allow_duplicates` for a collector's
/// file (at-least-once delivery).
#[track_caller]
pub fn assert_verifies(files: &[PathBuf], allow_duplicates: bool) {
    let report = verify_files(files, &VerifyOptions { allow_duplicates }).unwrap_or_else(|e| panic!("cgnatctl log verify {files:?}: {e}"));
    assert!(report.is_clean(), "cgnatctl log verify {files:?}:\n{report}");
}

/// Every file of the log whose active file is `active` (rotated ones beside
/// it: `NAME.*`, gzip included).
pub fn log_files(active: &Path) -> Vec<PathBuf> {
    let dir = active.parent().expect("a log file in a directory");
    let name = active.file_name().unwrap().to_string_lossy().to_string();
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    let f = p.file_name().unwrap().to_string_lossy();
                    (f == name || f.starts_with(&format!("{name}."))) && !f.ends_with(".tmp") && !f.contains("cgnatidx")
                })
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// The `cgnatctl` binary of this build, built if the test run did not
/// build it (`cargo test -p cgnat-dpdk` alone).
pub fn cgnatctl() -> PathBuf {
    let cgnatd = PathBuf::from(env!("CARGO_BIN_EXE_cgnatd"));
    let ctl = cgnatd.with_file_name("cgnatctl");
    if !ctl.exists() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let ok = Command::new(cargo)
            .args(["build", "-q", "-p", "cgnat-cli", "--bin", "cgnatctl"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok && ctl.exists(), "cannot build cgnatctl at {}", ctl.display());
    }
    ctl
}
