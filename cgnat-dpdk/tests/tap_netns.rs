//! Real DPDK, net_tap PMD: the kernel interface appears, is moved into a
//! network namespace made by the test, and traffic flows both ways between
//! the kernel stack in that namespace and DPDK.
//!
//! Addresses are TEST-NET-1 (192.0.2.0/24) inside the test's own namespace.

mod common;

use std::process::{Command, Output};
use std::time::Duration;

use cgnat_dpdk::{Burst, Port, PortConf};
use common::{init_eal, mbuf_with, skip, small_pool, start_simple, udp_frame};

const IFACE: &str = "cgtaptest0";
const KERNEL_IP: &str = "192.0.2.1";
const PEER_IP: &str = "192.0.2.2";
const PEER_MAC: &str = "02:00:00:00:00:02";
const PROBE: &[u8] = b"cgnat-tap-probe";

fn run(args: &[&str]) -> Output {
    Command::new(args[0])
        .args(&args[1..])
        .output()
        .unwrap_or_else(|e| panic!("cannot run {args:?}: {e}"))
}

fn run_ok(args: &[&str]) -> String {
    let out = run(args);
    assert!(out.status.success(), "{args:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Deletes the namespace (and with it the TAP interface, if still inside) in
/// all cases, including a failing assertion.
struct Netns(String);

impl Netns {
    fn create() -> Netns {
        let name = format!("cgnat-dpdk-tap-{}", std::process::id());
        run_ok(&["ip", "netns", "add", &name]);
        Netns(name)
    }

    fn ip(&self, args: &[&str]) -> String {
        let mut full = vec!["ip", "-n", &self.0];
        full.extend_from_slice(args);
        run_ok(&full)
    }

    fn exec(&self, args: &[&str]) -> Output {
        let mut full = vec!["ip", "netns", "exec", &self.0];
        full.extend_from_slice(args);
        run(&full)
    }

    fn iface_counter(&self, name: &str) -> u64 {
        let path = format!("/sys/class/net/{IFACE}/statistics/{name}");
        let out = self.exec(&["cat", &path]);
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = run(&["ip", "netns", "del", &self.0]);
    }
}

#[test]
fn tap_in_netns() {
    if run(&["ip", "-V"]).status.code().is_none() {
        skip("tap_in_netns", "the `ip` command (iproute2) is missing");
        return;
    }
    // Declared before the port: dropped after it (reverse order), so the
    // port is closed before the namespace goes away, even on panic.
    let netns;
    let vdevs = [format!("net_tap0,iface={IFACE}")];
    let Some(eal) = init_eal("tap_in_netns", &vdevs) else {
        return;
    };
    let pool = small_pool(&eal, "tap_pool");
    let mut port = Port::by_name(&eal, "net_tap0").unwrap();
    assert_eq!(port.info().unwrap().driver, "net_tap");
    start_simple(&mut port, &pool, &PortConf::default());
    let link = run_ok(&["ip", "link", "show", IFACE]);
    assert!(link.contains(IFACE), "{link}");

    netns = Netns::create();
    run_ok(&["ip", "link", "set", IFACE, "netns", &netns.0]);
    netns.ip(&["link", "set", "lo", "up"]);
    netns.ip(&["addr", "add", &format!("{KERNEL_IP}/24"), "dev", IFACE]);
    netns.ip(&["link", "set", IFACE, "up"]);
    netns.ip(&["neigh", "add", PEER_IP, "lladdr", PEER_MAC, "dev", IFACE, "nud", "permanent"]);
    assert!(
        !run(&["ip", "link", "show", IFACE]).status.success(),
        "{IFACE} left the root namespace"
    );

    // Kernel → DPDK: a UDP datagram to the static neighbour.
    let script = format!("printf '%s' {} > /dev/udp/{PEER_IP}/9", String::from_utf8_lossy(PROBE));
    let mut burst = Burst::new();
    let mut found = false;
    let mut seen = 0;
    'outer: for _attempt in 0..20 {
        let _ = netns.exec(&["bash", "-c", &script]);
        for _ in 0..50 {
            port.rx_burst(0, &mut burst);
            for m in burst.drain() {
                seen += 1;
                let d = m.data();
                if d.len() >= 42 + PROBE.len()
                    && d[0..6] == [0x02, 0, 0, 0, 0, 0x02]
                    && d[12..14] == [0x08, 0x00]
                    && d[23] == 17
                    && d[30..34] == [192, 0, 2, 2]
                    && d[42..42 + PROBE.len()] == *PROBE
                {
                    found = true;
                }
            }
            if found {
                break 'outer;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    assert!(found, "UDP probe from the namespace arrived on rx_burst ({seen} other frames)");

    // DPDK → kernel: broadcast frames show up in the interface's counters.
    let before = netns.iface_counter("rx_packets");
    let mut tx = Burst::new();
    for i in 0..4u8 {
        let mut f = udp_frame([192, 0, 2, 2], [192, 0, 2, 255], &[i; 32]);
        f[0..6].copy_from_slice(&[0xff; 6]);
        tx.push(mbuf_with(&pool, &f)).unwrap();
    }
    let mut sent = 0;
    for _ in 0..100 {
        sent += port.tx_burst(0, &mut tx);
        if tx.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(sent, 4);
    let mut after = before;
    for _ in 0..100 {
        after = netns.iface_counter("rx_packets");
        if after >= before + 4 {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(after >= before + 4, "kernel saw {} of 4 frames", after - before);

    let stats = port.stats().unwrap();
    assert!(stats.ipackets >= 1 && stats.opackets >= 4, "{stats:?}");
    port.close().unwrap();
    let name = netns.0.clone();
    drop(netns);
    assert!(!run_ok(&["ip", "netns", "list"]).contains(&name), "namespace {name} removed");
    eprintln!("tap_in_netns: kernel→DPDK and DPDK→kernel traffic seen");
}
