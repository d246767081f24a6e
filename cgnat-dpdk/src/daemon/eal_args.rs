//! The EAL command line of `cgnatd`, built from the configuration: memory
//! (hugepages when there are free ones, else `--no-huge -m`), lcores, one
//! `-a` per PCI port or one `--vdev` per virtual port, extra arguments.

use std::path::Path;

use cgnat_core::config::{DaemonConfig, Hugepages};

/// Free 2 MiB hugepages of the system.
pub const FREE_HUGEPAGES: &str = "/sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages";

/// Free 2 MiB hugepages that DPDK can use: 0 if unknown, or if no
/// hugetlbfs is mounted (DPDK maps hugepages through one).
pub fn free_hugepages() -> u64 {
    let free = read_u64(Path::new(FREE_HUGEPAGES)).unwrap_or(0);
    if free > 0 && !hugetlbfs_mounted() {
        log::warn!(
            "{free} free hugepages but no hugetlbfs mounted \
             (mount -t hugetlbfs nodev /dev/hugepages); not using them"
        );
        return 0;
    }
    free
}

/// Whether a hugetlbfs is mounted (`/proc/mounts`).
pub fn hugetlbfs_mounted() -> bool {
    std::fs::read_to_string("/proc/mounts")
        .map(|m| m.lines().any(|l| l.split_whitespace().nth(2) == Some("hugetlbfs")))
        .unwrap_or(false)
}

fn read_u64(p: &Path) -> Option<u64> {
    std::fs::read_to_string(p).ok()?.trim().parse().ok()
}

/// The CPUs this process may run on (`Cpus_allowed_list`), ascending.
pub fn allowed_cpus() -> Vec<u32> {
    let list = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Cpus_allowed_list:"))
                .map(|l| l["Cpus_allowed_list:".len()..].trim().to_string())
        })
        .unwrap_or_else(|| "0".into());
    let mut cpus = Vec::new();
    for part in list.split(',') {
        let mut it = part.split('-').filter_map(|x| x.trim().parse::<u32>().ok());
        if let Some(a) = it.next() {
            let b = it.next().unwrap_or(a);
            cpus.extend(a..=b);
        }
    }
    if cpus.is_empty() {
        cpus.push(0);
    }
    cpus
}

/// `--lcores` for lcore 0 (management) and `workers` worker lcores
/// (1..=workers): the management lcore on the first CPU, workers
/// round-robin over the others (all on the first if there is only one).
/// Several lcores may share a CPU.
pub fn lcores_arg(workers: u16, cpus: &[u32]) -> String {
    let main = cpus[0];
    let pool: &[u32] = if cpus.len() > 1 { &cpus[1..] } else { cpus };
    let mut parts = vec![format!("0@{main}")];
    for w in 0..workers as usize {
        parts.push(format!("{}@{}", w + 1, pool[w % pool.len()]));
    }
    parts.join(",")
}

/// Whether to use hugepages under `mode` with `free` free pages.
pub fn use_hugepages(mode: Hugepages, free: u64) -> bool {
    match mode {
        Hugepages::On => true,
        Hugepages::Off => false,
        Hugepages::Auto => free > 0,
    }
}

/// The EAL arguments of live mode. `prefix` names the process's runtime
/// directory (`--file-prefix`).
pub fn live_args(cfg: &DaemonConfig, prefix: &str, free_hugepages: u64, cpus: &[u32]) -> Vec<String> {
    let d = &cfg.dataplane;
    let mut a = Vec::new();
    if use_hugepages(d.hugepages, free_hugepages) {
        // Hugepage files are unlinked once mapped: nothing is left behind
        // in /dev/hugepages, even after a crash.
        a.push("--huge-unlink".to_string());
    } else {
        a.extend([
            "--no-huge".to_string(),
            "-m".to_string(),
            d.memory_mb.to_string(),
            "--no-shconf".to_string(),
        ]);
    }
    a.push(format!("--file-prefix={prefix}"));
    let lcores = d.lcores.clone().unwrap_or_else(|| lcores_arg(d.workers, cpus));
    a.push(format!("--lcores={lcores}"));
    for p in [&d.inside, &d.outside] {
        if p.is_pci() {
            a.push("-a".to_string());
            a.push(p.device.trim().to_string());
        } else {
            a.push(format!("--vdev={}", p.device.trim()));
        }
    }
    a.extend(d.eal_args.iter().cloned());
    a
}

/// The EAL arguments of replay: no hugepages, no PCI, two net_pcap ports
/// (`net_pcap0` inside, `net_pcap1` outside) reading the input files, one
/// lcore.
pub fn replay_args(cfg: &DaemonConfig, prefix: &str, inside_rx: &Path, outside_rx: &Path, cpus: &[u32]) -> Vec<String> {
    let mut a: Vec<String> = [
        "--no-huge",
        "-m",
        &cfg.dataplane.memory_mb.to_string(),
        "--no-shconf",
        "--no-pci",
        "--no-telemetry",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.push(format!("--file-prefix={prefix}"));
    a.push(format!("--lcores=0@{}", cpus[0]));
    a.push("--log-level=lib.eal:error".into());
    a.push(format!("--vdev=net_pcap0,rx_pcap={}", inside_rx.display()));
    a.push(format!("--vdev=net_pcap1,rx_pcap={}", outside_rx.display()));
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lcores_spread_workers() {
        assert_eq!(lcores_arg(2, &[0, 1]), "0@0,1@1,2@1");
        assert_eq!(lcores_arg(3, &[4, 5, 6]), "0@4,1@5,2@6,3@5");
        assert_eq!(lcores_arg(2, &[0]), "0@0,1@0,2@0");
    }

    #[test]
    fn memory_and_devices() {
        let cfg = DaemonConfig::default();
        let a = live_args(&cfg, "p", 0, &[0, 1]);
        assert!(a.windows(2).any(|w| w == ["--no-huge", "-m"]), "{a:?}");
        assert!(a.contains(&"--vdev=net_tap0,iface=cgnat-in".to_string()), "{a:?}");
        let a = live_args(&cfg, "p", 512, &[0, 1]);
        assert!(
            !a.contains(&"--no-huge".to_string()) && a.contains(&"--huge-unlink".to_string()),
            "{a:?}"
        );
        let mut cfg = DaemonConfig::default();
        cfg.dataplane.inside.device = "0000:03:00.0".into();
        let a = live_args(&cfg, "p", 512, &[0, 1]);
        assert!(a.windows(2).any(|w| w == ["-a", "0000:03:00.0"]), "{a:?}");
    }
}
