//! End to end: `tests/lab.sh run` builds the namespace topology (two
//! subscribers behind a bridge, an internet namespace), runs the real
//! `cgnatd` with two workers on TAP PMD ports, and real programs cross the
//! NAT: ping, curl (the HTTP server logs the public address), UDP
//! request/response, iperf3 TCP and UDP both ways, unsolicited inbound
//! traffic (must not reach a subscriber), hairpinning (UDP to sub2's
//! public endpoint, TCP to its static mapping), the NAT log, clean
//! shutdown with a release record per block. The script prints PASS/FAIL
//! per check; this test asserts on them.
//!
//! Names are unique to the test run; the script's trap and this test's
//! guard remove every namespace, interface and process, even on failure.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{is_root, skip};

const CGNATD: &str = env!("CARGO_BIN_EXE_cgnatd");

struct Lab {
    script: PathBuf,
    env: Vec<(String, String)>,
}

impl Lab {
    fn new() -> Lab {
        let n = std::process::id() % 10_000;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/lab.sh");
        let env = vec![
            ("CGNATD".to_string(), CGNATD.to_string()),
            ("LAB_PREFIX".into(), format!("cgt{n}")),
            ("LAB_IF_IN".into(), format!("cgt{n}-in")),
            ("LAB_IF_OUT".into(), format!("cgt{n}-out")),
            ("LAB_DIR".into(), format!("/tmp/cgnat-lab-test-{n}")),
            ("LAB_WORKERS".into(), "2".into()),
            ("LAB_QUICK".into(), "1".into()),
        ];
        Lab { script, env }
    }

    fn run(&self, cmd: &str) -> (bool, String) {
        let out = Command::new("timeout")
            .args(["--kill-after=10", "600", "bash"])
            .arg(&self.script)
            .arg(cmd)
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .output()
            .expect("run tests/lab.sh");
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        (out.status.success(), text)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = self.run("down");
        let dir = &self.env.iter().find(|(k, _)| k == "LAB_DIR").expect("LAB_DIR").1;
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn have(cmd: &str) -> bool {
    Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {cmd}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn lab_end_to_end() {
    if !is_root() {
        skip("lab_end_to_end", "needs root (network namespaces, TAP devices, DPDK)");
        return;
    }
    if !have("ip") || !have("timeout") {
        skip("lab_end_to_end", "iproute2 or coreutils missing");
        return;
    }
    let lab = Lab::new();
    let (ok, out) = lab.run("run");
    eprintln!("{out}");
    for want in [
        "PASS sub1 pings cgnatd's inside address",
        "PASS sub1 pings 198.51.100.1 through the NAT",
        "PASS the internet pings pool address",
        "PASS TTL 1 → ICMP time exceeded",
        "PASS sub1 fetches http://192.0.2.80/",
        "PASS the server saw only pool addresses",
        "PASS sub1 UDP query answered",
        "PASS iperf3 tcp upload",
        "PASS iperf3 tcp download",
        "PASS iperf3 udp upload",
        "PASS iperf3 udp download",
        "PASS nothing from the internet reached sub1",
        "PASS UDP to sub2's public endpoint",
        "PASS sub1 fetches http://203.0.113.14:8080/",
        "PASS sub2 saw sub1 as a pool address",
        "PASS NAT log has a block allocation for 100.64.1.10",
        "PASS clean shutdown",
        // Issue 15: the check step exercises the operator's toolkit.
        "PASS cgnatctl reload configs/lab.toml",
        "PASS cgnatctl subscribers lists both subscribers",
        "PASS cgnatctl top: one frame",
        "PASS cgnatctl stats: NIC counters",
        "PASS read-only socket answers queries",
        "PASS read-only socket refuses clear",
        "PASS cgnatctl history 100.64.1.10",
        "PASS no index file written beside the NAT logs",
        // Issue 12: PCP and NAT-PMP from the subscribers' side.
        "PASS sub1 heard cgnatd's unsolicited ANNOUNCE",
        "→ sub1:8081 (PCP MAP)",
        "PASS MAP with FILTER: another peer",
        "PASS natpmpc maps UDP 9100",
        "PASS it expired: gone from cgnatctl pcp",
        "removed the PCP mapping (pcp-unmap reason=cleared)",
        // Issue 14: the daemon's own log; a real Prometheus with the rules.
        "PASS daemon log: timestamped, levelled lines",
        "PASS prometheus scraped cgnatd",
        "PASS the packaged alert rules load and evaluate in prometheus",
        "PASS events --follow got every record to daemon-stop",
        "PASS every exported metric is in docs/metrics.md",
        "PASS the NAT logs are mode 0640",
        "PASS 2 workers received on both ports",
        "lab: ALL PASSED",
    ] {
        assert!(out.contains(want), "missing {want:?} in the lab output");
    }
    assert!(ok, "tests/lab.sh failed");
    assert!(!out.contains("FAIL "), "a lab check failed");
}
