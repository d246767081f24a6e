//! A flood on a TAP port never stops the NAT log (found by the side-by-side
//! benchmark, `tests/bench/sidebyside.sh`): DPDK's TAP PMD has the kernel
//! queue a signal to the process for every frame that reaches a TAP queue.
//! The kernel hands it to the main thread first, which in `cgnatd` is the
//! management thread; under a flood its sleep between ticks was
//! interrupted at once and restarted with its full time, over and over, so
//! the NAT log was not written while the flood lasted, and new blocks,
//! whose first packets wait until their records are durable (issue 10,
//! "durable before use"), carried no traffic: 4 096 subscribers were
//! blackholed for the 37–41 s of the benchmark's blast.
//!
//! Here subscribers flood the inside TAP with UDP as fast as an AF_PACKET
//! sender can (`tests/bench/udpgen.c`) and the test requires their block
//! records to be on disk while the flood still runs, then the log to
//! verify.

mod common;
mod live;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::natlog::assert_verifies;
use common::{is_root, skip};
use live::Live;

/// The flood's subscribers: 100.64.20.1 .. 100.64.20.SUBS.
const SUBS: u32 = 64;
const FLOOD_SECS: u32 = 10;

#[test]
fn block_records_are_written_while_a_tap_port_is_flooded() {
    if !is_root() {
        return skip("tap_flood_log", "cgnatd live mode needs root");
    }
    let mut d = Live::start("tapflood", "[log]\nfile = \"@DIR@/nat.log\"\n");
    let gen = d.dir.join("udpgen");
    let src = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/bench/udpgen.c");
    let ok = Command::new("gcc")
        .args(["-O2", "-o"])
        .arg(&gen)
        .arg(src)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "gcc could not build {src}");
    // Frames go to cgnatd's inside MAC, as the namespace resolves it.
    let ns = d.ns.clone();
    let _ = Command::new("ip")
        .args(["netns", "exec", &ns, "ping", "-c", "1", "-W", "2", "100.64.0.1"])
        .stdout(Stdio::null())
        .status();
    let neigh = Command::new("ip")
        .args(["-n", &ns, "neigh", "show", "100.64.0.1"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
    let mac = neigh
        .split_whitespace()
        .skip_while(|w| *w != "lladdr")
        .nth(1)
        .map(str::to_string)
        .unwrap_or_else(|| panic!("the namespace did not resolve cgnatd's inside MAC: {neigh:?}\n{}", d.stderr()));
    let iface = d.iface.clone();
    let mut flood = Command::new("timeout")
        .args(["60", "ip", "netns", "exec", &ns])
        .arg(&gen)
        .args([
            "--iface",
            &iface,
            "--dst-mac",
            &mac,
            "--src",
            "100.64.20.1",
            "--subs",
            &SUBS.to_string(),
        ])
        .args([
            "--dst",
            "198.51.100.1",
            "--dport",
            "9",
            "--mode",
            "steady",
            "--flows",
            &SUBS.to_string(),
        ])
        .args(["--seconds", &FLOOD_SECS.to_string()])
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the flood");
    let t = Instant::now();
    let mut written_during_flood = None;
    while flood.try_wait().expect("the flood's status").is_none() {
        let log = std::fs::read_to_string(&d.log).unwrap_or_default();
        let n = log.lines().filter(|l| l.contains("block-alloc subscriber=100.64.20.")).count();
        if n > 0 && written_during_flood.is_none() {
            written_during_flood = Some((n, t.elapsed()));
        }
        if t.elapsed() > Duration::from_secs(FLOOD_SECS as u64 + 30) {
            let _ = flood.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = flood.wait_with_output().expect("the flood's report");
    let report = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let stats = Command::new(common::natlog::cgnatctl())
        .arg("--socket")
        .arg(d.dir.join("cgnatd.sock"))
        .arg("stats")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
    let (n, at) = written_during_flood.unwrap_or_else(|| {
        panic!(
            "no block record of the flood's subscribers was written while the flood ran ({report}): \
             the NAT log stalled under a TAP flood\n{stats}\n{}",
            d.stderr()
        )
    });
    eprintln!("tap_flood_log: {n} block record(s) on disk {at:?} into the flood; flood: {report}");
    d.signal("INT", Duration::from_secs(20));
    assert_verifies(std::slice::from_ref(&d.log), false);
}
