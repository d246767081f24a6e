//! The `[dataplane]` table of `cgnatd`'s configuration: ports, addresses,
//! workers, EAL memory, neighbour resolution, ICMP error rate.
//!
//! Plain serde data with defaults; [`DataplaneConfig::validate`] names the
//! key, the bad value and what is allowed for every problem.

use core::fmt;
use core::net::Ipv4Addr;
use core::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{ConfigError, Ipv4Prefix, NatConfig, PrefixParseError};

/// An Ethernet MAC address as written in configuration (`02:00:5e:10:00:01`).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct MacAddress(pub [u8; 6]);

impl FromStr for MacAddress {
    type Err = PrefixParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            PrefixParseError(format!(
                "`{s}` is not a MAC address (expected six hex bytes, e.g. 02:00:5e:10:00:01)"
            ))
        };
        let mut out = [0u8; 6];
        let mut parts = s.split([':', '-']);
        for b in out.iter_mut() {
            let p = parts.next().ok_or_else(bad)?;
            if p.len() != 2 {
                return Err(bad());
            }
            *b = u8::from_str_radix(p, 16).map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        Ok(MacAddress(out))
    }
}

impl fmt::Display for MacAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
    }
}

impl Serialize for MacAddress {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for MacAddress {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// An interface address with its on-link prefix length (`100.64.0.1/10`);
/// unlike [`Ipv4Prefix`], host bits are the point.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct InterfaceAddress {
    /// The appliance's address on the link.
    pub addr: Ipv4Addr,
    /// Length of the on-link prefix (0..=32).
    pub prefix_len: u8,
}

impl InterfaceAddress {
    /// The on-link prefix (`addr` with the host bits cleared).
    pub fn network(&self) -> Ipv4Prefix {
        let mask = if self.prefix_len == 0 {
            0
        } else {
            u32::MAX << (32 - self.prefix_len as u32)
        };
        Ipv4Prefix::new(Ipv4Addr::from(u32::from(self.addr) & mask), self.prefix_len).expect("host bits cleared")
    }

    /// Whether `a` is on the link.
    pub fn on_link(&self, a: Ipv4Addr) -> bool {
        self.network().contains(a)
    }
}

impl FromStr for InterfaceAddress {
    type Err = PrefixParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            PrefixParseError(format!(
                "`{s}` is not an interface address (expected a.b.c.d/len, e.g. 100.64.0.1/10)"
            ))
        };
        let (a, l) = s.split_once('/').ok_or_else(bad)?;
        let addr = a.trim().parse().map_err(|_| bad())?;
        let prefix_len = l.trim().parse().ok().filter(|l| *l <= 32).ok_or_else(bad)?;
        Ok(InterfaceAddress { addr, prefix_len })
    }
}

impl fmt::Display for InterfaceAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

impl Serialize for InterfaceAddress {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for InterfaceAddress {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// A neighbour whose MAC address is configured rather than resolved by ARP.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticNeighbour {
    /// Its IPv4 address (on the port's link).
    pub ip: Ipv4Addr,
    /// Its MAC address.
    pub mac: MacAddress,
}

/// One Ethernet port of the appliance (`[dataplane.inside]`, `[dataplane.outside]`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortConfig {
    /// The DPDK device: a PCI address (`0000:03:00.0`, passed to the EAL as
    /// `-a`) or virtual-device arguments (`net_tap0,iface=cgnat-in`, passed
    /// as `--vdev`). The port name is the part before the first comma.
    pub device: String,
    /// The appliance's address and on-link prefix on this port.
    pub address: InterfaceAddress,
    /// Next hop for destinations that are not on the link; none: only
    /// on-link destinations are reachable.
    #[serde(default)]
    pub gateway: Option<Ipv4Addr>,
    /// The gateway's MAC address, when it must not be resolved by ARP.
    #[serde(default)]
    pub gateway_mac: Option<MacAddress>,
    /// Overrides the MAC address the appliance uses on this port (the
    /// port's own by default).
    #[serde(default)]
    pub mac: Option<MacAddress>,
    /// 802.1Q VLAN id of the port's traffic; none: untagged.
    #[serde(default)]
    pub vlan: Option<u16>,
    /// Neighbours with a configured MAC address (never resolved or replaced).
    #[serde(default)]
    pub static_neighbours: Vec<StaticNeighbour>,
}

impl PortConfig {
    /// The DPDK port name: the device up to the first comma.
    pub fn port_name(&self) -> &str {
        self.device.split(',').next().unwrap_or("").trim()
    }

    /// Whether the device is a PCI address (`DDDD:BB:DD.F` or `BB:DD.F`).
    pub fn is_pci(&self) -> bool {
        is_pci_address(self.port_name())
    }

    /// The value of `key=` in the virtual-device arguments, if given.
    pub fn device_arg(&self, key: &str) -> Option<&str> {
        self.device
            .split(',')
            .skip(1)
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim())
    }

    /// Whether the device is an AF_XDP port (`net_af_xdp0,iface=...`;
    /// docs/decisions/014-af-xdp-ports.md).
    pub fn is_af_xdp(&self) -> bool {
        self.port_name().starts_with("net_af_xdp")
    }

    /// Mbufs the PMD takes from the packet pool per RX queue beyond the
    /// descriptor rings: an AF_XDP queue hands `AF_XDP_FILL_MBUFS` (2048) to the
    /// kernel's fill ring when it is set up; 0 for other PMDs.
    pub fn pmd_mbufs_per_queue(&self) -> u32 {
        if self.is_af_xdp() {
            AF_XDP_FILL_MBUFS
        } else {
            0
        }
    }

    /// The number of queues an AF_XDP device opens (`queue_count=`, 1 by
    /// default, as in DPDK); an error names the key and what is allowed.
    fn af_xdp_queues(&self, side: &str) -> Result<u16, ConfigError> {
        let key = format!("dataplane.{side}.device");
        if self.device_arg("iface").is_none_or(str::is_empty) {
            return Err(ConfigError::new(
                key,
                format!("\"{}\"", self.device),
                "AF_XDP device arguments naming the kernel interface, e.g. \"net_af_xdp0,iface=eth1\"",
            ));
        }
        match self.device_arg("queue_count") {
            None => Ok(1),
            Some(v) => v.parse::<u16>().ok().filter(|&n| (1..=MAX_WORKERS).contains(&n)).ok_or_else(|| {
                ConfigError::new(
                    key,
                    format!("\"{}\"", self.device),
                    format!("queue_count between 1 and {MAX_WORKERS}"),
                )
            }),
        }
    }
}

/// Buffers an AF_XDP RX queue puts in the kernel's fill ring at setup
/// (DPDK 22.11 `ETH_AF_XDP_DFLT_NUM_DESCS`, libxdp's default ring size);
/// the queue setup fails with EINVAL when the pool has fewer free.
pub const AF_XDP_FILL_MBUFS: u32 = 2048;

/// Whether `s` looks like a PCI address (`0000:03:00.0` or `03:00.0`).
pub fn is_pci_address(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    let hex = |p: &str, n: usize| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit());
    let (bus, devfn) = match parts.as_slice() {
        [dom, bus, devfn] if hex(dom, 4) => (*bus, *devfn),
        [bus, devfn] => (*bus, *devfn),
        _ => return false,
    };
    match devfn.split_once('.') {
        Some((dev, f)) => hex(bus, 2) && hex(dev, 2) && f.len() == 1 && f.chars().all(|c| ('0'..='7').contains(&c)),
        None => false,
    }
}

/// Whether DPDK memory comes from hugepages.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Hugepages {
    /// Hugepages when the system has free 2 MiB pages, else `--no-huge`.
    #[default]
    Auto,
    /// Hugepages only (start fails without them).
    On,
    /// Never (`--no-huge -m memory_mb`).
    Off,
}

/// The `[dataplane]` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataplaneConfig {
    /// Worker lcores; each polls one RX queue of each port (and owns one TX
    /// queue of each).
    pub workers: u16,
    /// The EAL `--lcores` value; unset: lcore 0 (management) and one lcore
    /// per worker, spread over the CPUs the process may use.
    pub lcores: Option<String>,
    /// Hugepage use.
    pub hugepages: Hugepages,
    /// MiB of memory given to DPDK without hugepages (`-m`).
    pub memory_mb: u32,
    /// Extra EAL arguments (e.g. `--no-pci`, `--log-level=...`).
    pub eal_args: Vec<String>,
    /// Mbufs in the packet pool; 0: sized from workers and ring sizes.
    pub mbufs: u32,
    /// RX descriptors per queue.
    pub rx_desc: u16,
    /// TX descriptors per queue.
    pub tx_desc: u16,
    /// When a worker found no packet for a while, it sleeps this many
    /// microseconds between polls (0: pure polling, for dedicated cores; a
    /// small value lets a lab share CPUs with the programs it carries).
    pub idle_sleep_us: u32,
    /// ICMP errors each worker may send per second (RFC 1812 section
    /// 4.3.2.8 rate limiting); 0 disables them.
    pub icmp_errors_per_sec: u32,
    /// Answer ARP for every pool address on the outside port (proxy ARP),
    /// for upstream routers that treat the pool as on-link.
    pub proxy_arp_pool: bool,
    /// Entries of each port's neighbour (ARP) table.
    pub neighbours: u32,
    /// Packets each worker holds while their next hop is being resolved.
    pub arp_hold_packets: u16,
    /// How long a packet waits for its next hop to resolve, milliseconds.
    pub arp_hold_ms: u32,
    /// Gap between ARP requests for the same address, milliseconds.
    pub arp_retry_ms: u32,
    /// Translated packets each worker holds while their new port block's
    /// allocation record becomes durable (the NAT log rule).
    pub log_hold_packets: u16,
    /// How long such a packet waits before it is dropped, milliseconds.
    pub log_hold_ms: u32,
    /// How long a learned neighbour stays reachable after its last
    /// confirmation (an ARP packet from it), seconds (RFC 4861 section
    /// 6.3.2 REACHABLE_TIME, RFC 1122 section 2.3.2.1 cache validation).
    /// After that the entry is stale: it is still used, but its next use
    /// sends a unicast ARP probe. Configured MACs never age.
    pub arp_reachable_secs: u32,
    /// Unanswered probes (one every `arp_retry_ms`) after which a stale
    /// neighbour is removed; its next use resolves it again by broadcast
    /// (RFC 4861 section 7.3.3 MAX_UNICAST_SOLICIT).
    pub arp_probes: u8,
    /// The subscriber-side port.
    pub inside: PortConfig,
    /// The internet-side port.
    pub outside: PortConfig,
}

impl Default for DataplaneConfig {
    fn default() -> Self {
        DataplaneConfig {
            workers: 1,
            lcores: None,
            hugepages: Hugepages::Auto,
            memory_mb: 512,
            eal_args: Vec::new(),
            mbufs: 0,
            rx_desc: 512,
            tx_desc: 512,
            idle_sleep_us: 0,
            icmp_errors_per_sec: 100,
            proxy_arp_pool: true,
            neighbours: 4096,
            arp_hold_packets: 64,
            arp_hold_ms: 1000,
            arp_retry_ms: 500,
            log_hold_packets: 512,
            log_hold_ms: 1000,
            arp_reachable_secs: 300,
            arp_probes: 3,
            inside: PortConfig {
                device: "net_tap0,iface=cgnat-in".into(),
                address: InterfaceAddress {
                    addr: Ipv4Addr::new(100, 64, 0, 1),
                    prefix_len: 10,
                },
                gateway: None,
                gateway_mac: None,
                mac: None,
                vlan: None,
                static_neighbours: Vec::new(),
            },
            outside: PortConfig {
                device: "net_tap1,iface=cgnat-out".into(),
                address: InterfaceAddress {
                    addr: Ipv4Addr::new(198, 51, 100, 2),
                    prefix_len: 24,
                },
                gateway: Some(Ipv4Addr::new(198, 51, 100, 1)),
                gateway_mac: None,
                mac: None,
                vlan: None,
                static_neighbours: Vec::new(),
            },
        }
    }
}

/// Largest number of workers (RX/TX queue pairs per port).
pub const MAX_WORKERS: u16 = 64;

fn range(key: &str, v: u64, lo: u64, hi: u64, why: &str) -> Result<(), ConfigError> {
    if v < lo || v > hi {
        return Err(ConfigError::new(key, v, format!("must be between {lo} and {hi}{why}")));
    }
    Ok(())
}

impl PortConfig {
    fn validate(&self, side: &str, nat: &NatConfig) -> Result<(), ConfigError> {
        let key = |f: &str| format!("dataplane.{side}.{f}");
        if self.port_name().is_empty() {
            return Err(ConfigError::new(
                key("device"),
                format!("\"{}\"", self.device),
                "a PCI address (\"0000:03:00.0\") or vdev arguments (\"net_tap0,iface=cgnat-in\")",
            ));
        }
        let a = self.address.addr;
        if self.address.prefix_len > 31 || a.is_unspecified() || a.is_multicast() || a.is_broadcast() || a.is_loopback() {
            return Err(ConfigError::new(
                key("address"),
                self.address,
                "a unicast address with an on-link prefix of /0 to /31, e.g. \"198.51.100.2/24\"",
            ));
        }
        if nat.pool.iter().any(|p| p.contains(a)) {
            return Err(ConfigError::new(key("address"), self.address, "an address outside nat.pool"));
        }
        if let Some(g) = self.gateway {
            if !self.address.on_link(g) || g == a {
                return Err(ConfigError::new(
                    key("gateway"),
                    g,
                    format!("another address on the link {}", self.address.network()),
                ));
            }
        }
        if self.gateway_mac.is_some() && self.gateway.is_none() {
            return Err(ConfigError::new(
                key("gateway_mac"),
                self.gateway_mac.unwrap_or_default(),
                "only with a gateway",
            ));
        }
        if let Some(v) = self.vlan {
            range(&key("vlan"), v as u64, 1, 4094, " (802.1Q VLAN id)")?;
        }
        for (i, n) in self.static_neighbours.iter().enumerate() {
            if !self.address.on_link(n.ip) || n.ip == a {
                return Err(ConfigError::new(
                    format!("dataplane.{side}.static_neighbours[{i}].ip"),
                    n.ip,
                    format!("another address on the link {}", self.address.network()),
                ));
            }
            if n.mac.0[0] & 1 == 1 {
                return Err(ConfigError::new(
                    format!("dataplane.{side}.static_neighbours[{i}].mac"),
                    n.mac,
                    "a unicast MAC address",
                ));
            }
        }
        Ok(())
    }
}

impl DataplaneConfig {
    /// Checks every value; the first problem found is returned.
    pub fn validate(&self, nat: &NatConfig) -> Result<(), ConfigError> {
        range("dataplane.workers", self.workers as u64, 1, MAX_WORKERS as u64, "")?;
        range("dataplane.memory_mb", self.memory_mb as u64, 64, 1 << 20, " MiB")?;
        if self.mbufs != 0 {
            range("dataplane.mbufs", self.mbufs as u64, 1024, 1 << 24, " (0: automatic)")?;
        }
        for (k, v) in [("dataplane.rx_desc", self.rx_desc), ("dataplane.tx_desc", self.tx_desc)] {
            range(k, v as u64, 64, 8192, " descriptors")?;
        }
        range("dataplane.idle_sleep_us", self.idle_sleep_us as u64, 0, 100_000, " microseconds")?;
        range("dataplane.icmp_errors_per_sec", self.icmp_errors_per_sec as u64, 0, 1_000_000, "")?;
        range("dataplane.neighbours", self.neighbours as u64, 16, 1 << 20, " entries")?;
        range("dataplane.arp_hold_packets", self.arp_hold_packets as u64, 0, 4096, " packets")?;
        range("dataplane.arp_hold_ms", self.arp_hold_ms as u64, 1, 60_000, " milliseconds")?;
        range("dataplane.log_hold_packets", self.log_hold_packets as u64, 1, 16384, " packets")?;
        range("dataplane.log_hold_ms", self.log_hold_ms as u64, 1, 60_000, " milliseconds")?;
        range("dataplane.arp_retry_ms", self.arp_retry_ms as u64, 1, 60_000, " milliseconds")?;
        range(
            "dataplane.arp_reachable_secs",
            self.arp_reachable_secs as u64,
            1,
            86_400,
            " seconds",
        )?;
        range("dataplane.arp_probes", self.arp_probes as u64, 1, 10, " probes")?;
        if let Some(l) = &self.lcores {
            if l.trim().is_empty() {
                return Err(ConfigError::new(
                    "dataplane.lcores",
                    "\"\"",
                    "an EAL --lcores list such as \"0@0,1@1,2@1\", or no key",
                ));
            }
        }
        self.inside.validate("inside", nat)?;
        self.outside.validate("outside", nat)?;
        for (side, p) in [("inside", &self.inside), ("outside", &self.outside)] {
            if !p.is_af_xdp() {
                continue;
            }
            // One RX/TX queue pair per worker on each port; an AF_XDP port
            // binds exactly queue_count kernel queues (a veth has one).
            let q = p.af_xdp_queues(side)?;
            if q != self.workers {
                return Err(ConfigError::new(
                    "dataplane.workers",
                    self.workers,
                    format!(
                        "the number of queues of the AF_XDP port dataplane.{side}.device ({q}: queue_count, 1 unless given); \
                         set queue_count={} in its arguments (the interface needs as many combined channels; a veth has none: 1 worker)",
                        self.workers
                    ),
                ));
            }
        }
        let held = (self.inside.pmd_mbufs_per_queue() + self.outside.pmd_mbufs_per_queue()) * self.workers as u32;
        if self.mbufs != 0 && held > 0 && self.mbufs < held + 1024 {
            return Err(ConfigError::new(
                "dataplane.mbufs",
                self.mbufs,
                format!(
                    "0 (automatic) or at least {}: the AF_XDP ports keep {held} buffers in their fill rings",
                    held + 1024
                ),
            ));
        }
        if self.inside.port_name() == self.outside.port_name() {
            return Err(ConfigError::new(
                "dataplane.outside.device",
                format!("\"{}\"", self.outside.device),
                "a different device than dataplane.inside.device",
            ));
        }
        if self.outside.address.on_link(self.inside.address.addr) || self.inside.address.on_link(self.outside.address.addr) {
            return Err(ConfigError::new(
                "dataplane.outside.address",
                self.outside.address,
                format!("a link that does not overlap the inside link {}", self.inside.address.network()),
            ));
        }
        if nat.inside_prefixes.iter().any(|p| p.contains(self.outside.address.addr)) {
            return Err(ConfigError::new(
                "dataplane.outside.address",
                self.outside.address,
                "an address outside nat.inside_prefixes",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_mac_interface_and_pci() {
        let m: MacAddress = "02:00:5E:10:00:01".parse().unwrap();
        assert_eq!(m.to_string(), "02:00:5e:10:00:01");
        assert!("02:00:5e:10:00".parse::<MacAddress>().is_err());
        assert!("02:00:5e:10:00:01:02".parse::<MacAddress>().is_err());
        let a: InterfaceAddress = "100.64.0.1/10".parse().unwrap();
        assert_eq!(a.network().to_string(), "100.64.0.0/10");
        assert!(a.on_link(Ipv4Addr::new(100, 127, 1, 1)));
        assert!("100.64.0.1".parse::<InterfaceAddress>().is_err());
        assert!(is_pci_address("0000:03:00.0"));
        assert!(is_pci_address("af:00.1"));
        assert!(!is_pci_address("net_tap0"));
        assert!(!is_pci_address("0000:03:00.9"));
    }

    #[test]
    fn af_xdp_ports_name_their_interface_and_queues() {
        // docs/decisions/014-af-xdp-ports.md: one queue per worker, the
        // kernel interface named, room in the pool for the fill rings.
        let nat = NatConfig::default();
        let mut d = DataplaneConfig::default();
        d.inside.device = "net_af_xdp0,iface=x-in,busy_budget=0".into();
        assert!(d.inside.is_af_xdp() && !d.outside.is_af_xdp());
        assert_eq!(d.inside.device_arg("iface"), Some("x-in"));
        assert_eq!(d.inside.device_arg("busy_budget"), Some("0"));
        assert_eq!(d.inside.device_arg("queue_count"), None);
        assert_eq!(d.inside.pmd_mbufs_per_queue(), AF_XDP_FILL_MBUFS);
        assert_eq!(d.outside.pmd_mbufs_per_queue(), 0);
        d.validate(&nat).unwrap();
        d.workers = 2;
        let e = d.validate(&nat).unwrap_err();
        assert_eq!(e.key, "dataplane.workers");
        assert!(e.to_string().contains("queue_count=2"), "{e}");
        d.inside.device = "net_af_xdp0,iface=x-in,queue_count=2".into();
        d.validate(&nat).unwrap();
        d.inside.device = "net_af_xdp0,iface=x-in,queue_count=two".into();
        let e = d.validate(&nat).unwrap_err();
        assert_eq!(e.key, "dataplane.inside.device");
        assert!(e.to_string().contains("queue_count between 1 and"), "{e}");
        d.workers = 1;
        d.inside.device = "net_af_xdp0".into();
        let e = d.validate(&nat).unwrap_err();
        assert_eq!(e.key, "dataplane.inside.device");
        assert!(e.to_string().contains("iface="), "{e}");
        d.inside.device = "net_af_xdp0,iface=x-in".into();
        d.mbufs = 2047;
        let e = d.validate(&nat).unwrap_err();
        assert_eq!(e.key, "dataplane.mbufs");
        assert!(e.to_string().contains("at least 3072"), "{e}");
        d.mbufs = 3072;
        d.validate(&nat).unwrap();
    }

    #[test]
    fn default_is_valid_and_errors_name_the_key() {
        let nat = NatConfig::default();
        DataplaneConfig::default().validate(&nat).unwrap();
        let mut d = DataplaneConfig::default();
        d.outside.gateway = Some(Ipv4Addr::new(10, 0, 0, 1));
        let e = d.validate(&nat).unwrap_err();
        assert_eq!(e.key, "dataplane.outside.gateway");
        assert!(e.allowed.contains("198.51.100.0/24"), "{e}");
        let mut d = DataplaneConfig::default();
        d.inside.vlan = Some(4095);
        assert_eq!(d.validate(&nat).unwrap_err().key, "dataplane.inside.vlan");
        let mut d = DataplaneConfig::default();
        d.outside.device = "net_tap0".into();
        assert_eq!(d.validate(&nat).unwrap_err().key, "dataplane.outside.device");
    }

    #[test]
    fn neighbour_aging_keys() {
        let nat = NatConfig::default();
        let d = DataplaneConfig::default();
        assert_eq!((d.arp_reachable_secs, d.arp_probes), (300, 3));
        let d = DataplaneConfig {
            arp_reachable_secs: 0,
            ..DataplaneConfig::default()
        };
        let e = d.validate(&nat).unwrap_err();
        assert_eq!(e.key, "dataplane.arp_reachable_secs");
        assert_eq!(e.value, "0");
        assert!(e.allowed.contains("between 1 and 86400 seconds"), "{e}");
        let d = DataplaneConfig {
            arp_probes: 11,
            ..DataplaneConfig::default()
        };
        let e = d.validate(&nat).unwrap_err();
        assert_eq!(e.key, "dataplane.arp_probes");
        assert_eq!(e.value, "11");
        assert!(e.allowed.contains("between 1 and 10 probes"), "{e}");
    }
}
