//! Helpers shared by the DPDK integration tests. Each test binary holds one
//! `#[test]` because the EAL can be initialised once per process.
#![allow(dead_code)]

pub mod metrics;
pub mod natlog;
pub mod pcap;

use std::time::Duration;

use cgnat_dpdk::{Burst, Eal, Mbuf, Mempool, Port};

/// Set to `1` to turn a skip (not root, EAL cannot start) into a failure,
/// e.g. in CI on a machine that is known to run DPDK.
pub const REQUIRE_ENV: &str = "CGNAT_DPDK_REQUIRE";

/// Whether the process runs as root.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .and_then(|l| l.split_whitespace().nth(2).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// Prints why the test is skipped (or panics when skips are not allowed).
pub fn skip(test: &str, why: &str) {
    if std::env::var(REQUIRE_ENV).as_deref() == Ok("1") {
        panic!("{test}: cannot run ({why}) and {REQUIRE_ENV}=1");
    }
    eprintln!("SKIPPED {test}: {why}");
}

/// EAL arguments for tests: no NIC, no hugepages, no shared config,
/// two lcores (main 0, worker 1, on distinct CPUs when there are two).
pub fn eal_args(vdevs: &[String]) -> Vec<String> {
    let cpus = cgnat_dpdk::daemon::eal_args::allowed_cpus();
    let (a, b) = (cpus[0], *cpus.get(1).unwrap_or(&cpus[0]));
    let mut args: Vec<String> = [
        "--no-huge",
        "-m",
        "512",
        "--no-pci",
        "--no-shconf",
        "--no-telemetry",
        "--log-level=lib.eal:notice",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // A private runtime directory, so concurrent test runs do not collide.
    args.push(format!("--file-prefix=cgnat-test-{}", std::process::id()));
    args.push(format!("--lcores=0@{a},1@{b}"));
    for v in vdevs {
        args.push(format!("--vdev={v}"));
    }
    args
}

/// The EAL of a test; removes the test's private runtime directory
/// (`/var/run/dpdk/<file-prefix>`) when dropped.
pub struct TestEal {
    eal: Option<Eal>,
}

impl std::ops::Deref for TestEal {
    type Target = Eal;
    fn deref(&self) -> &Eal {
        self.eal.as_ref().expect("eal")
    }
}

impl Drop for TestEal {
    fn drop(&mut self) {
        drop(self.eal.take());
        let dir = format!("/var/run/dpdk/cgnat-test-{}", std::process::id());
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Initialises the EAL for `test`, or explains why the test is skipped.
pub fn init_eal(test: &str, vdevs: &[String]) -> Option<TestEal> {
    if !is_root() {
        skip(test, "DPDK tests need root (hugepage-less EAL, TAP devices)");
        return None;
    }
    let args = eal_args(vdevs);
    eprintln!("{test}: EAL args: {}", args.join(" "));
    match Eal::init(&args) {
        Ok(eal) => Some(TestEal { eal: Some(eal) }),
        Err(e) => {
            skip(test, &format!("DPDK could not start: {e}"));
            None
        }
    }
}

/// A pool sized for `-m 512`.
pub fn small_pool(eal: &Eal, name: &str) -> Mempool {
    Mempool::new(eal, name, 2047, 64, cgnat_dpdk::DEFAULT_DATA_ROOM, cgnat_dpdk::SOCKET_ANY).expect("mempool")
}

/// An mbuf holding a copy of `bytes`.
pub fn mbuf_with(pool: &Mempool, bytes: &[u8]) -> Mbuf {
    let mut m = Mbuf::alloc(pool).expect("alloc");
    m.extend_from_slice(bytes).expect("append");
    m
}

/// Polls `rx` until `want` packets are in `burst`, at most `max_polls`
/// times with 1 ms pauses. Returns the number received.
pub fn poll_until(want: usize, max_polls: usize, burst: &mut Burst, mut rx: impl FnMut(&mut Burst) -> usize) -> usize {
    for _ in 0..max_polls {
        rx(burst);
        if burst.len() >= want {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    burst.len()
}

/// Configures 1 RX + 1 TX queue with `conf` and starts the port.
pub fn start_simple(port: &mut Port, pool: &Mempool, conf: &cgnat_dpdk::PortConf) {
    port.configure(1, 1, conf).expect("configure");
    port.rx_queue_setup(0, 256, pool).expect("rx queue");
    port.tx_queue_setup(0, 256).expect("tx queue");
    port.start().expect("start");
}

/// An Ethernet/IPv4/UDP frame (checksums zero: PMDs under test do not care)
/// whose payload is `payload`.
pub fn udp_frame(src_ip: [u8; 4], dst_ip: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(42 + payload.len());
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x02]); // dst MAC
    f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01]); // src MAC
    f.extend_from_slice(&[0x08, 0x00]);
    let ip_len = (20 + 8 + payload.len()) as u16;
    f.extend_from_slice(&[0x45, 0, (ip_len >> 8) as u8, ip_len as u8, 0, 0, 0x40, 0, 64, 17, 0, 0]);
    f.extend_from_slice(&src_ip);
    f.extend_from_slice(&dst_ip);
    let udp_len = (8 + payload.len()) as u16;
    f.extend_from_slice(&[0x30, 0x39, 0x00, 0x35, (udp_len >> 8) as u8, udp_len as u8, 0, 0]);
    f.extend_from_slice(payload);
    f
}
