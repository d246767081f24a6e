//! `cgnatd` command line: `--check` on the shipped configurations, errors
//! that name the key, the value and what is allowed, environment
//! overrides, and clear messages when DPDK cannot start (not root, no such
//! device). Runs the real binary.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use common::is_root;

const CGNATD: &str = env!("CARGO_BIN_EXE_cgnatd");

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(p)
}

fn cgnatd(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let mut c = Command::new(CGNATD);
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    let Output { status, stdout, stderr } = c.output().expect("run cgnatd");
    let text = format!("{}{}", String::from_utf8_lossy(&stdout), String::from_utf8_lossy(&stderr));
    (status.code().unwrap_or(-1), text)
}

#[test]
fn shipped_configs_are_valid() {
    for f in [
        "configs/lab.toml",
        "configs/bare-metal.toml",
        "configs/sidebyside.toml",
        "tests/pcap/replay.toml",
    ] {
        let path = repo(f);
        let (rc, out) = cgnatd(&["--config", path.to_str().unwrap(), "--check"], &[]);
        assert_eq!(rc, 0, "{f}: {out}");
        assert!(out.contains("configuration is valid"), "{out}");
    }
    let (rc, out) = cgnatd(&["--lab", "--check"], &[]);
    assert_eq!(rc, 0, "embedded: {out}");
    assert!(out.contains("embedded lab configuration"), "{out}");
    // The side by side's AF_XDP ports (docs/decisions/014-af-xdp-ports.md):
    // one worker per veth queue, said by key before DPDK is started.
    let path = repo("configs/sidebyside.toml");
    let xdp = [
        ("CGNAT_DATAPLANE__INSIDE__DEVICE", "net_af_xdp0,iface=x-in,busy_budget=0"),
        ("CGNAT_DATAPLANE__OUTSIDE__DEVICE", "net_af_xdp1,iface=x-out,busy_budget=0"),
    ];
    let (rc, out) = cgnatd(&["--config", path.to_str().unwrap(), "--check"], &xdp);
    assert_eq!(rc, 0, "{out}");
    let two = [xdp[0], xdp[1], ("CGNAT_DATAPLANE__WORKERS", "2")];
    let (rc, out) = cgnatd(&["--config", path.to_str().unwrap(), "--check"], &two);
    assert_ne!(rc, 0, "{out}");
    assert!(out.contains("dataplane.workers") && out.contains("queue_count=2"), "{out}");
}

/// Issue 15: "`cgnatd` without `--config` silently runs the lab
/// configuration (TAP devices, proxy ARP, the legal log under /tmp)". It
/// reads the packaged /etc/cgnat/cgnatd.toml, and says so if it is
/// missing; the lab is asked for with --lab.
#[test]
fn without_config_the_packaged_file_is_read() {
    let packaged = Path::new("/etc/cgnat/cgnatd.toml");
    let (rc, out) = cgnatd(&["--check"], &[]);
    if packaged.exists() {
        assert!(out.contains("/etc/cgnat/cgnatd.toml"), "{out}");
    } else {
        assert_eq!(rc, 1, "{out}");
        assert!(
            out.contains("no configuration: /etc/cgnat/cgnatd.toml does not exist") && out.contains("--lab"),
            "{out}"
        );
        assert!(!out.contains("embedded"), "{out}");
    }
    let (rc, out) = cgnatd(&["--lab", "--config", "x.toml"], &[]);
    assert_eq!(rc, 2, "{out}");
}

#[test]
fn embedded_default_is_configs_lab_toml() {
    let file = std::fs::read_to_string(repo("configs/lab.toml")).unwrap();
    assert_eq!(file, cgnat_core::config::file::EMBEDDED_LAB_CONFIG);
}

#[test]
fn invalid_values_name_key_value_and_allowed() {
    let (rc, out) = cgnatd(&["--lab", "--check"], &[("CGNAT_NAT__BLOCK_SIZE", "8")]);
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains("nat.block_size = 8: must be between 16"), "{out}");
    assert!(out.contains("environment variable CGNAT_NAT__BLOCK_SIZE"), "{out}");

    // Issue 15: a typo in a variable names the variable, an unknown table
    // in the environment is an error.
    let (rc, out) = cgnatd(&["--lab", "--check"], &[("CGNAT_NAT__BLOK_SIZE", "256")]);
    assert_eq!(rc, 1, "{out}");
    assert!(
        out.contains("environment variable CGNAT_NAT__BLOK_SIZE=256") && out.contains("blok_size"),
        "{out}"
    );
    let (rc, out) = cgnatd(&["--lab", "--check"], &[("CGNAT_NTA__BLOCK_SIZE", "256")]);
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains("CGNAT_NTA__BLOCK_SIZE: no configuration table `nta`"), "{out}");

    let (rc, out) = cgnatd(&["--lab", "--check"], &[("CGNAT_DATAPLANE__OUTSIDE__GATEWAY", "10.9.9.9")]);
    assert_eq!(rc, 1, "{out}");
    assert!(
        out.contains("dataplane.outside.gateway = 10.9.9.9: another address on the link 198.51.100.0/24"),
        "{out}"
    );

    let (rc, out) = cgnatd(&["--lab", "--check"], &[("CGNAT_DATAPLANE__WORKERS", "many")]);
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains("dataplane.workers"), "{out}");

    let dir = std::env::temp_dir().join(format!("cgnatd-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.toml");
    std::fs::write(&bad, "[nat]\nblock_sise = 512\n").unwrap();
    let (rc, out) = cgnatd(&["--config", bad.to_str().unwrap(), "--check"], &[]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains("block_sise"), "{out}");

    let (rc, out) = cgnatd(&["--config", "/nonexistent/cgnat.toml", "--check"], &[]);
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains("cannot read /nonexistent/cgnat.toml"), "{out}");
}

#[test]
fn env_overrides_apply_and_unrelated_vars_are_ignored() {
    let (rc, out) = cgnatd(
        &["--lab", "--check"],
        &[
            ("CGNAT_NAT__BLOCK_SIZE", "256"),
            ("CGNAT_DPDK_REQUIRE", "1"),
            ("CGNAT_DATAPLANE__WORKERS", "4"),
        ],
    );
    assert_eq!(rc, 0, "{out}");
}

#[test]
fn usage_errors() {
    let (rc, out) = cgnatd(&["--bogus"], &[]);
    assert_eq!(rc, 2, "{out}");
    assert!(out.contains("unexpected argument '--bogus'"), "{out}");
    let (rc, out) = cgnatd(&["--replay", "--inside-rx", "a.pcap"], &[]);
    assert_eq!(rc, 2, "{out}");
    assert!(out.contains("--outside-rx"), "{out}");
    let (rc, out) = cgnatd(&["--help"], &[]);
    assert_eq!(rc, 0);
    assert!(out.contains("--replay"), "{out}");
}

#[test]
fn clear_errors_when_dpdk_cannot_start() {
    if !is_root() {
        let (rc, out) = cgnatd(&["--lab"], &[]);
        assert_eq!(rc, 1, "{out}");
        assert!(out.contains("must run as root"), "{out}");
        return;
    }
    // As another user (setpriv from util-linux), if available.
    if Command::new("setpriv").arg("--help").output().is_ok() {
        let out = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", CGNATD, "--lab"])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{text}");
        assert!(text.contains("must run as root"), "{text}");
    }
    // A device that does not exist: the error names it and lists the ports.
    let (rc, out) = cgnatd(
        &["--lab", "--log", "/tmp/cgnatd-cli-test-nat.log"],
        &[
            ("CGNAT_DATAPLANE__INSIDE__DEVICE", "net_null0"),
            ("CGNAT_DATAPLANE__OUTSIDE__DEVICE", "0000:ff:1f.7"),
            ("CGNAT_DATAPLANE__EAL_ARGS", "--no-telemetry"),
            ("CGNAT_DATAPLANE__WORKERS", "1"),
        ],
    );
    let _ = std::fs::remove_file("/tmp/cgnatd-cli-test-nat.log");
    let _ = std::fs::remove_file("/tmp/.cgnatd-cli-test-nat.log.lock");
    assert_eq!(rc, 1, "{out}");
    assert!(out.contains("0000:ff:1f.7"), "{out}");
    assert!(out.contains("no DPDK port named") || out.contains("EAL"), "{out}");
}
