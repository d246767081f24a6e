//! The answers' payloads of the control protocol (`docs/control-protocol.md`):
//! status, stats, subscribers, lookups, sessions, clears.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::ProtocolName;

/// `status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    /// `cgnatd` version.
    pub version: String,
    /// Process id.
    pub pid: u32,
    /// `live` or `replay`.
    pub run_mode: String,
    /// `dynamic` or `deterministic` (RFC 7422).
    pub nat_mode: String,
    /// Seconds since start.
    pub uptime_secs: u64,
    /// The packet clock now (RFC 3339 UTC).
    pub now: String,
    /// Worker count.
    pub workers: u16,
    /// Where the configuration came from.
    pub config_source: String,
    /// Next global log sequence number.
    pub log_seq: u64,
    /// Log targets (`text:/var/log/cgnat/nat.log`, ...).
    pub log_targets: Vec<String>,
    /// Whether the log path is stalled now (new blocks refused).
    pub log_stalled: bool,
    /// The run id (the `run=` of this run's NAT log records).
    #[serde(default)]
    pub run: String,
}

/// How full one preallocated table is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableFill {
    /// `subscribers`, `sessions`, `mappings`, `blocks`.
    pub name: String,
    /// Entries in use.
    pub used: u64,
    /// Capacity.
    pub capacity: u64,
    /// Memory the table reserves (its preallocated entries; for `blocks`,
    /// the pool's per-port records, backed by memory only where a block
    /// has been used). Pages are faulted in when first touched, so
    /// resident memory grows towards this as the table fills, and never
    /// beyond it.
    #[serde(default)]
    pub bytes: u64,
}

/// One worker's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkerStats {
    /// Worker id.
    pub id: u16,
    /// NAT counters (cgnat-core `Counter` names; drops as `drop.REASON`).
    pub nat: BTreeMap<String, u64>,
    /// Data-plane counters.
    pub dataplane: BTreeMap<String, u64>,
    /// The worker's packet clock at its last burst, microseconds.
    pub watermark_us: u64,
    /// Events queued in its ring, not yet written.
    pub ring_pending: u64,
}

/// One log target's counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkStats {
    /// `text:/path`, `syslog-tcp:host:port`, ...
    pub name: String,
    /// Records handed to the sink.
    pub written: u64,
    /// Write or send errors.
    pub errors: u64,
    /// Records buffered, not yet written.
    pub pending: u64,
    /// Whether the sink is stalled (its buffer is full).
    pub stalled: bool,
    /// Whether its last write or rotation failed (a blocking target then
    /// fails closed: new blocks wait, existing flows continue).
    #[serde(default)]
    pub failing: bool,
    /// Whether its writer thread died (the target fails closed until a
    /// restart).
    #[serde(default)]
    pub dead: bool,
    /// The last error it met, if any (`ENOSPC` during rotation, a refused
    /// TCP connection, ...).
    #[serde(default)]
    pub last_error: Option<String>,
}

/// NAT log counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogStats {
    /// Records written (global sequence numbers assigned).
    pub records: u64,
    /// Events refused by a full ring (new blocks refused: `log_stalled`).
    pub refused: u64,
    /// Events queued in rings, not yet ordered.
    pub pending: u64,
    /// Per target.
    pub sinks: Vec<SinkStats>,
}

/// `stats`: every counter.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    /// NAT counters summed over workers.
    pub nat: BTreeMap<String, u64>,
    /// Data-plane counters summed over workers.
    pub dataplane: BTreeMap<String, u64>,
    /// Per worker.
    pub workers: Vec<WorkerStats>,
    /// Table fill.
    pub tables: Vec<TableFill>,
    /// The NAT log.
    pub log: LogStats,
    /// The NIC counters of each port (read by the management core, about
    /// once a second).
    #[serde(default)]
    pub ports: Vec<PortCounters>,
}

/// One port's NIC counters (`rte_eth_stats_get`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortCounters {
    /// `inside` or `outside`.
    pub port: String,
    /// The DPDK device (`net_tap0`, `0000:03:00.0`).
    pub device: String,
    /// Packets received.
    pub rx_packets: u64,
    /// Packets transmitted.
    pub tx_packets: u64,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Bytes transmitted.
    pub tx_bytes: u64,
    /// Packets the NIC dropped because the RX queues were full (the
    /// workers did not keep up).
    pub rx_missed: u64,
    /// Erroneous packets received.
    pub rx_errors: u64,
    /// Failed transmissions.
    pub tx_errors: u64,
    /// RX mbuf allocation failures (the mbuf pool ran dry).
    pub rx_nombuf: u64,
}

/// One line of `subscribers`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriberSummary {
    /// The inside address.
    pub subscriber: Ipv4Addr,
    /// Its public address.
    pub public: Ipv4Addr,
    /// `dynamic` or `static`.
    pub kind: String,
    /// Live sessions (counted against its limit).
    pub sessions: u32,
    /// Blocks held.
    pub blocks: u32,
    /// Ports held (blocks × block size, plus static ports).
    pub ports: u32,
    /// Whether it has shown it can receive.
    pub confirmed: bool,
}

/// `subscribers`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriberList {
    /// The largest first.
    pub subscribers: Vec<SubscriberSummary>,
    /// Subscribers with state in all.
    pub total: u64,
    /// How they are sorted.
    pub sort: super::SubscriberSort,
}

/// One port block of a subscriber.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockDetail {
    /// The public address.
    pub public: Ipv4Addr,
    /// First port.
    pub first_port: u16,
    /// Last port (inclusive).
    pub last_port: u16,
    /// When it was allocated (RFC 3339 UTC, second resolution).
    pub allocated_at: String,
    /// Live mappings in it.
    pub mappings: u32,
    /// A static mapping's one port (not counted against the block limit).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub static_port: bool,
}

/// Sessions per protocol.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtocolCounts {
    /// TCP sessions.
    pub tcp: u64,
    /// UDP sessions.
    pub udp: u64,
    /// ICMP sessions.
    pub icmp: u64,
}

/// Per-subscriber limits in force (RFC 6888 REQ-4, REQ-5).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Sessions allowed.
    pub max_sessions: u32,
    /// Blocks allowed.
    pub max_blocks: u16,
    /// Ports per block.
    pub block_size: u32,
}

/// `subscriber`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriberDetail {
    /// The inside address.
    pub subscriber: Ipv4Addr,
    /// Its public address (paired pooling, RFC 4787 REQ-2).
    pub public: Ipv4Addr,
    /// `dynamic`, `deterministic` or `static`.
    pub kind: String,
    /// Its blocks (deterministic mode: its range).
    pub blocks: Vec<BlockDetail>,
    /// Live sessions by protocol.
    pub sessions: ProtocolCounts,
    /// Sessions counted against the limit.
    pub sessions_used: u32,
    /// Sessions created by inbound packets (their own budget, `nat.inbound`).
    #[serde(default)]
    pub inbound_sessions: u32,
    /// Whether it has shown it can receive (sent after a packet was
    /// delivered to it); until then `nat.unconfirmed` limits apply.
    #[serde(default = "yes")]
    pub confirmed: bool,
    /// Limits.
    pub limits: Limits,
}

fn yes() -> bool {
    true
}

/// The holder of a public address:port.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Owner {
    /// The subscriber.
    pub subscriber: Ipv4Addr,
    /// `dynamic`, `deterministic` or `static`.
    pub kind: String,
    /// The block (or range) containing the port.
    pub block: BlockDetail,
    /// Live mappings on that port: (protocol, inside port).
    pub mappings: Vec<(ProtocolName, u16)>,
}

/// `lookup`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupResult {
    /// The address asked about.
    pub public: Ipv4Addr,
    /// The port asked about.
    pub port: u16,
    /// The holder, if any.
    pub owner: Option<Owner>,
    /// Whether the address is one of the NAT's public addresses (a
    /// non-pool address is nobody's, and the answer says so).
    #[serde(default = "yes")]
    pub in_pool: bool,
    /// The daemon's run id (the `run=` of its NAT log records).
    #[serde(default)]
    pub run: u64,
}

/// One live session.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    /// Protocol.
    pub protocol: ProtocolName,
    /// Inside address.
    pub inside: Ipv4Addr,
    /// Inside port (ICMP: identifier).
    pub inside_port: u16,
    /// Public address.
    pub public: Ipv4Addr,
    /// Public port.
    pub public_port: u16,
    /// Remote address.
    pub remote: Ipv4Addr,
    /// Remote port (0 when filtering does not track it).
    pub remote_port: u16,
    /// TCP state name, or `-`.
    pub state: String,
    /// Seconds since the last packet.
    pub idle_secs: u32,
    /// Seconds until expiry.
    pub expires_in_secs: u32,
}

/// `sessions`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionList {
    /// Matching sessions (at most `limit`).
    pub sessions: Vec<SessionInfo>,
    /// Whether more matched than were returned.
    pub truncated: bool,
}

/// `clear`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClearResult {
    /// Sessions removed.
    pub sessions: u64,
    /// Mappings freed.
    pub mappings: u64,
    /// Blocks released (each logged with reason `cleared`).
    pub blocks: u64,
    /// Releases deferred because the log was stalled (retried by the sweeper).
    pub deferred: u64,
}

/// One PCP or NAT-PMP mapping (`pcp`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PcpMappingInfo {
    /// The subscriber (internal address).
    pub subscriber: Ipv4Addr,
    /// `map`, `peer` or `nat-pmp`.
    pub kind: String,
    /// `tcp` or `udp`.
    pub protocol: ProtocolName,
    /// The internal port.
    pub internal_port: u16,
    /// The public address.
    pub public: Ipv4Addr,
    /// The public port.
    pub public_port: u16,
    /// Seconds of lifetime left.
    pub lifetime_left: u64,
    /// A PEER mapping's remote peer (`address:port`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<String>,
    /// A MAP mapping's FILTER options (`prefix/len:port`, port 0: any).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub filters: Vec<String>,
}

/// `pcp`: the PCP server's mappings and counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PcpList {
    /// Whether the PCP server runs (`pcp.enabled`).
    pub enabled: bool,
    /// The server's epoch (seconds since it started, RFC 6887 section 8.5).
    pub epoch: u64,
    /// The mappings, by subscriber and internal port.
    pub mappings: Vec<PcpMappingInfo>,
    /// Mappings that match (before the limit).
    pub total: u64,
    /// Requests served, by opcode (`map`, `peer`, `announce`, `natpmp-map`, ...).
    pub requests: Vec<(String, u64)>,
    /// Answers, by result code (`success`, `not-authorized`, ...).
    pub results: Vec<(String, u64)>,
}
