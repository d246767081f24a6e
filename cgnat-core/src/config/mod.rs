//! Typed configuration of the NAT (the `[nat]` table of `cgnatd`'s TOML file).
//!
//! Everything here is plain serde data with defaults that run the lab. Call
//! [`NatConfig::validate`] after deserialising: every error it returns names
//! the key, the bad value and what is allowed.

mod daemon_log;
mod dataplane;
pub mod file;
mod ha;
mod hostile;
pub mod log;
mod management;
mod pcp;
mod prefix;
mod validate;

use core::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

pub use daemon_log::{DaemonLogConfig, DaemonLogLevel};
pub use dataplane::{is_pci_address, DataplaneConfig, Hugepages, InterfaceAddress, MacAddress, PortConfig, StaticNeighbour, MAX_WORKERS};
pub use file::{DaemonConfig, LoadError};
pub use ha::{HaConfig, DEFAULT_SYNC_PORT};
pub use hostile::{Admission, Fairness, Inbound, Unconfirmed};
pub use log::{ClockConfig, Fsync, LogConfig, LogTarget, OnStall, TargetFormat, Transport};
pub use management::{ControlConfig, MetricsConfig};
pub use pcp::PcpConfig;
pub use prefix::{Ipv4Prefix, PortRange, PrefixParseError};
pub use validate::ConfigError;

/// How public ports are assigned to subscribers.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Port blocks are allocated on demand and logged (RFC 6888 REQ-14).
    #[default]
    Dynamic,
    /// Inside address → (public address, port range) by formula
    /// (RFC 7422); only the configuration epoch is logged.
    Deterministic,
}

/// Inbound filtering behaviour (RFC 4787 section 5, REQ-8).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Filtering {
    /// Any external endpoint may send to a mapping (the default, RFC 4787
    /// REQ-8 recommends it for transparency).
    #[default]
    EndpointIndependent,
    /// Only external addresses the subscriber has sent to.
    AddressDependent,
    /// Only external address:port pairs the subscriber has sent to.
    AddressAndPortDependent,
}

/// What to do with IPv4 protocols other than TCP, UDP and ICMP.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum OtherProtocols {
    /// Drop silently (counted).
    #[default]
    Drop,
    /// Drop and answer ICMP protocol unreachable (type 3 code 2).
    Reject,
}

/// Idle timeouts in seconds (RFC 4787 REQ-5, RFC 5382 REQ-5, RFC 5508 REQ-1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Timeouts {
    /// UDP mapping idle timeout; RFC 4787 REQ-5: at least 120 s, 300 s recommended.
    pub udp: u32,
    /// TCP established idle timeout; RFC 5382 REQ-5: at least 2 h 4 min (7440 s).
    pub tcp_established: u32,
    /// TCP transitory (partially open or closed) timeout; RFC 5382 REQ-5: at least 4 min.
    pub tcp_transitory: u32,
    /// ICMP query idle timeout; RFC 5508 REQ-1: at least 60 s.
    pub icmp: u32,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            udp: 300,
            tcp_established: 7440,
            tcp_transitory: 240,
            icmp: 60,
        }
    }
}

/// Bounds of the IPv4 fragment-tracking cache (RFC 4787 REQ-14).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Fragments {
    /// Datagrams whose first fragment was seen, tracked per worker.
    pub max_tracked: u32,
    /// Non-first fragments held per worker while waiting for the first one.
    pub max_held: u32,
    /// How long a tracked datagram or held fragment lives, in seconds.
    pub timeout: u32,
    /// Tracked datagrams plus held fragments one source address may have
    /// per worker (a fragment flood from one host cannot fill the caches).
    pub max_per_source: u32,
}

impl Default for Fragments {
    fn default() -> Self {
        Fragments {
            max_tracked: 4096,
            max_held: 256,
            timeout: 2,
            max_per_source: 64,
        }
    }
}

/// The transport protocol of a static mapping.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StaticProtocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// A static inbound port mapping (port forward) to one subscriber.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StaticMapping {
    /// TCP or UDP.
    pub protocol: StaticProtocol,
    /// Public address; must be in the pool.
    pub public_addr: Ipv4Addr,
    /// Public port; must be in `nat.port_range`.
    pub public_port: u16,
    /// Subscriber address; must be in `nat.inside_prefixes`.
    pub inside_addr: Ipv4Addr,
    /// Subscriber port.
    pub inside_port: u16,
}

/// The NAT's configuration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NatConfig {
    /// Dynamic port blocks or deterministic (RFC 7422).
    pub mode: Mode,
    /// Subscriber prefixes (RFC 6598 shared address space by default).
    pub inside_prefixes: Vec<Ipv4Prefix>,
    /// Public address pool.
    pub pool: Vec<Ipv4Prefix>,
    /// Addresses of `pool` never handed out (a router's or a broadcast
    /// address, one kept for the appliance's own services): prefixes or
    /// single addresses (`"203.0.113.0/32"`) inside the pool. Not
    /// translated to, not answered by proxy ARP, not counted in the pool.
    pub pool_exclude: Vec<Ipv4Prefix>,
    /// Ports of each public address that the NAT hands out.
    pub port_range: PortRange,
    /// Ports per block (dynamic mode).
    pub block_size: u16,
    /// Blocks one subscriber may hold at once (RFC 6888 REQ-4).
    pub max_blocks_per_subscriber: u16,
    /// Sessions one subscriber may hold at once (RFC 6888 REQ-5).
    pub max_sessions_per_subscriber: u32,
    /// Subscribers tracked at once (preallocated).
    pub max_subscribers: u32,
    /// Sessions (5-tuple flows) tracked at once (preallocated).
    pub max_sessions: u32,
    /// Endpoint-independent mappings tracked at once (preallocated).
    pub max_mappings: u32,
    /// Seconds a released block waits before it is handed out again
    /// (RFC 6888 REQ-8 port reuse hold-down).
    pub block_hold_down: u32,
    /// Inbound filtering behaviour.
    pub filtering: Filtering,
    /// Idle timeouts.
    pub timeouts: Timeouts,
    /// Destinations that are routed without translation (RFC 6888 REQ-6).
    pub bypass: Vec<Ipv4Prefix>,
    /// Static inbound port mappings.
    pub static_mappings: Vec<StaticMapping>,
    /// What to do with protocols other than TCP, UDP and ICMP.
    pub other_protocols: OtherProtocols,
    /// Answer ICMP host unreachable when a packet is dropped for lack of
    /// ports or sessions (RFC 6888 REQ-11 allows it; off by default).
    pub icmp_on_exhaustion: bool,
    /// MTU towards the subscribers (bytes of IPv4 packet).
    pub inside_mtu: u16,
    /// MTU towards the internet (bytes of IPv4 packet).
    pub outside_mtu: u16,
    /// Fragment-tracking bounds.
    pub fragments: Fragments,
    /// Seed of the port randomiser and table hash keys. Unset: the daemon
    /// draws one from the OS at start; set it only for reproducible replays.
    pub seed: Option<u64>,
    /// Admission of new subscribers and blocks (hostile traffic).
    pub admission: Admission,
    /// Caps and timers of subscribers that never showed they can receive.
    pub unconfirmed: Unconfirmed,
    /// The budget of sessions created by inbound packets.
    pub inbound: Inbound,
    /// Global fair share of the session and mapping tables.
    pub fairness: Fairness,
}

impl Default for NatConfig {
    fn default() -> Self {
        NatConfig {
            mode: Mode::Dynamic,
            inside_prefixes: vec![Ipv4Prefix::new(Ipv4Addr::new(100, 64, 0, 0), 10).unwrap()],
            pool: vec![Ipv4Prefix::new(Ipv4Addr::new(203, 0, 113, 0), 28).unwrap()],
            pool_exclude: Vec::new(),
            port_range: PortRange { first: 1024, last: 65535 },
            block_size: 512,
            max_blocks_per_subscriber: 4,
            max_sessions_per_subscriber: 2048,
            max_subscribers: 65536,
            max_sessions: 1 << 20,
            max_mappings: 1 << 20,
            block_hold_down: 120,
            filtering: Filtering::EndpointIndependent,
            timeouts: Timeouts::default(),
            bypass: Vec::new(),
            static_mappings: Vec::new(),
            other_protocols: OtherProtocols::Drop,
            icmp_on_exhaustion: false,
            inside_mtu: 1500,
            outside_mtu: 1500,
            fragments: Fragments::default(),
            seed: None,
            admission: Admission::default(),
            unconfirmed: Unconfirmed::default(),
            inbound: Inbound::default(),
            fairness: Fairness::default(),
        }
    }
}

impl NatConfig {
    /// Total number of public addresses in the pool (exclusions left out).
    pub fn pool_size(&self) -> u64 {
        self.pool_ranges().iter().map(|r| r.1 as u64).sum()
    }

    /// The pool as ranges of consecutive addresses (first, count), in the
    /// order of `pool`, with `pool_exclude` cut out.
    pub fn pool_ranges(&self) -> Vec<(u32, u32)> {
        let mut out = Vec::new();
        for p in &self.pool {
            let (first, last) = (p.addr_u32() as u64, p.addr_u32() as u64 + p.size() - 1);
            let mut cuts: Vec<(u64, u64)> = self
                .pool_exclude
                .iter()
                .map(|x| (x.addr_u32() as u64, x.addr_u32() as u64 + x.size() - 1))
                .filter(|(a, b)| *a <= last && *b >= first)
                .collect();
            cuts.sort_unstable();
            let mut next = first;
            for (a, b) in cuts {
                if a > next {
                    out.push((next as u32, (a - next) as u32));
                }
                next = next.max(b + 1);
            }
            if next <= last {
                out.push((next as u32, (last + 1 - next) as u32));
            }
        }
        out
    }

    /// Whether `a` is a public address of the pool (in `pool`, not in
    /// `pool_exclude`).
    pub fn is_pool_address(&self, a: Ipv4Addr) -> bool {
        self.pool.iter().any(|p| p.contains(a)) && !self.pool_exclude.iter().any(|x| x.contains(a))
    }

    /// Total number of inside addresses.
    pub fn inside_size(&self) -> u64 {
        self.inside_prefixes.iter().map(|p| p.size()).sum()
    }
}
