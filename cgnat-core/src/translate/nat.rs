//! [`Nat`]: the state shared by every worker and the management core.

use core::net::Ipv4Addr;

use crate::config::{ConfigError, Filtering, Ipv4Prefix, Mode, NatConfig, StaticProtocol};
use crate::event::{Event, EventKind, ProtocolScope, Reason};
use crate::flow::{MappingKey, Protocol};
use crate::pool::{BlockInfo, BlockState, DeterministicMap, Pool};
use crate::table::mapping::{MappingInsert, MappingTable};
use crate::table::session::SessionTable;
use crate::table::subscriber::{SubscriberInsert, SubscriberTable};
use crate::time::Instant;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

pub use super::runtime::Runtime;
use crate::admission::AdmissionControl;

/// Who holds a public address:port right now (the live `cgnatctl lookup`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicOwner {
    /// The subscriber's inside address.
    pub subscriber: Ipv4Addr,
    /// The block (dynamic), the subscriber's range (deterministic) or the
    /// static mapping's block.
    pub block: BlockInfo,
    /// The mapping on that port, if one is live: (protocol, inside port).
    pub mappings: Vec<(Protocol, u16)>,
    /// How the port is assigned: `dynamic`, `deterministic` or `static`.
    pub kind: &'static str,
}

/// The shared NAT state.
pub struct Nat {
    pub(crate) config: NatConfig,
    pub(crate) runtime: Runtime,
    pub(crate) pool: Pool,
    pub(crate) subscribers: SubscriberTable,
    pub(crate) mappings: MappingTable,
    pub(crate) sessions: SessionTable,
    pub(crate) deterministic: Option<DeterministicMap>,
    /// Static mappings: ((protocol, pool index, public port) packed, inside address), sorted.
    pub(crate) statics: Vec<(u64, u32)>,
    pub(crate) seed: u64,
    pub(crate) admission: AdmissionControl,
    /// Whether a new block waits for [`Nat::block_logged`] before its ports
    /// carry traffic (the daemon's NAT log rule; off for sans-IO use).
    durable_log: AtomicBool,
    /// When the static mappings' allocation records were made (packet
    /// clock, seconds; 0 until [`Nat::startup_events`]).
    statics_since: AtomicU32,
    /// The first of `config.inside_prefixes` as (network, mask): the
    /// per-packet spoofing and martian checks test it without a loop (most
    /// deployments have one prefix) and do not recompute masks.
    inside_first: (u32, u32),
    /// The other inside prefixes as (network, mask) pairs.
    inside_rest: Box<[(u32, u32)]>,
    /// `config.bypass` as (network, mask) pairs.
    bypass_nets: Box<[(u32, u32)]>,
    /// The smaller of the two MTUs: a packet within it needs no
    /// fragmentation check on either side.
    min_mtu: usize,
    /// The FILTER options of PCP mappings (RFC 6887 section 13.3), written
    /// by the PCP server, read by inbound packets to PCP-held ports.
    pub(crate) pcp_filters: crate::pcp::PcpFilters,
}

#[inline(always)]
fn in_any(nets: &[(u32, u32)], a: u32) -> bool {
    nets.iter().any(|&(net, mask)| a & mask == net)
}

/// Prefixes as (network, mask) pairs for [`in_any`].
fn nets_of(prefixes: &[Ipv4Prefix]) -> Box<[(u32, u32)]> {
    prefixes.iter().map(|p| (p.addr_u32(), p.mask_u32())).collect()
}

#[inline(always)]
pub(crate) fn static_key(protocol: Protocol, pool_index: u32, port: u16) -> u64 {
    ((protocol as u64) << 48) | ((pool_index as u64) << 16) | port as u64
}

impl Nat {
    /// Builds the NAT from a configuration, allocating every table. `seed`
    /// keys the hashes and the port randomiser unless `config.seed` is set.
    pub fn new(config: NatConfig, seed: u64) -> Result<Nat, ConfigError> {
        config.validate()?;
        let seed = config.seed.unwrap_or(seed);
        let deterministic = match config.mode {
            Mode::Deterministic => DeterministicMap::new(&config),
            Mode::Dynamic => None,
        };
        let nat = Nat {
            runtime: Runtime::new(&config),
            pool: Pool::new(&config),
            subscribers: SubscriberTable::new(config.max_subscribers, config.max_blocks_per_subscriber, seed),
            mappings: MappingTable::new(config.max_mappings, seed),
            sessions: SessionTable::new(config.max_sessions, seed, config.filtering != Filtering::AddressDependent),
            deterministic,
            statics: Vec::new(),
            seed,
            admission: AdmissionControl::new(&config.admission, seed),
            durable_log: AtomicBool::new(false),
            statics_since: AtomicU32::new(0),
            inside_first: nets_of(&config.inside_prefixes).first().copied().unwrap_or((1, 0)),
            inside_rest: nets_of(config.inside_prefixes.get(1..).unwrap_or(&[])),
            bypass_nets: nets_of(&config.bypass),
            min_mtu: config.inside_mtu.min(config.outside_mtu) as usize,
            pcp_filters: crate::pcp::PcpFilters::new(seed ^ 0x9c9f_11e7),
            config,
        };
        nat.install_statics()
    }

    fn install_statics(mut self) -> Result<Nat, ConfigError> {
        let mut statics = Vec::new();
        for (i, m) in self.config.static_mappings.iter().enumerate() {
            let key = |f: &str| format!("nat.static_mappings[{i}].{f}");
            let protocol = match m.protocol {
                StaticProtocol::Tcp => Protocol::Tcp,
                StaticProtocol::Udp => Protocol::Udp,
            };
            let pool_index = self.pool.index_of(u32::from(m.public_addr)).expect("validated");
            let Some(block) = self.pool.block_of(pool_index, m.public_port) else {
                return Err(ConfigError::new(
                    key("public_port"),
                    m.public_port,
                    "a port inside a whole block of nat.port_range",
                ));
            };
            self.pool.reserve(block);
            // The claim's session count of one is never given back: the mapping is permanent.
            if !self.pool.port(protocol, block, m.public_port).try_claim(m.inside_port) {
                return Err(ConfigError::new(
                    key("public_port"),
                    m.public_port,
                    "a public port not used by another static mapping",
                ));
            }
            let inside = u32::from(m.inside_addr);
            match self.subscribers.insert(inside, pool_index, true, None) {
                SubscriberInsert::Inserted(_) | SubscriberInsert::Exists(_) => {}
                _ => {
                    return Err(ConfigError::new(
                        "nat.max_subscribers",
                        self.config.max_subscribers,
                        "room for every static mapping's subscriber",
                    ))
                }
            }
            let mk = MappingKey {
                protocol,
                inside_addr: inside,
                inside_port: m.inside_port,
            };
            if !matches!(self.mappings.insert(&mk, m.public_port, pool_index), MappingInsert::Inserted(_)) {
                return Err(ConfigError::new(
                    "nat.max_mappings",
                    self.config.max_mappings,
                    "room for every static mapping",
                ));
            }
            statics.push((static_key(protocol, pool_index, m.public_port), inside));
        }
        statics.sort_unstable();
        self.statics = statics;
        Ok(self)
    }

    /// The configuration the NAT was built from (with reloads applied to
    /// the reloadable parts).
    pub fn config(&self) -> &NatConfig {
        &self.config
    }

    /// Timers and limits in force.
    pub fn runtime(&self) -> &Runtime {
        &self.runtime
    }

    /// Applies a new configuration's timers and limits without touching any
    /// session (RFC 6888 REQ-4/5 limits, RFC 4787/5382 timers). Everything
    /// else must be unchanged; the error names the first key that differs.
    pub fn reload(&self, new: &NatConfig) -> Result<(), ConfigError> {
        new.validate()?;
        let old = &self.config;
        let fixed: [(&str, bool, String); 12] = [
            ("nat.mode", old.mode == new.mode, format!("{:?}", new.mode)),
            (
                "nat.inside_prefixes",
                old.inside_prefixes == new.inside_prefixes,
                format!("{:?}", new.inside_prefixes),
            ),
            ("nat.pool", old.pool == new.pool, format!("{:?}", new.pool)),
            (
                "nat.pool_exclude",
                old.pool_exclude == new.pool_exclude,
                format!("{:?}", new.pool_exclude),
            ),
            ("nat.port_range", old.port_range == new.port_range, new.port_range.to_string()),
            ("nat.block_size", old.block_size == new.block_size, new.block_size.to_string()),
            (
                "nat.max_subscribers",
                old.max_subscribers == new.max_subscribers,
                new.max_subscribers.to_string(),
            ),
            (
                "nat.max_sessions",
                old.max_sessions == new.max_sessions,
                new.max_sessions.to_string(),
            ),
            (
                "nat.max_mappings",
                old.max_mappings == new.max_mappings,
                new.max_mappings.to_string(),
            ),
            ("nat.filtering", old.filtering == new.filtering, format!("{:?}", new.filtering)),
            ("nat.fragments", old.fragments == new.fragments, format!("{:?}", new.fragments)),
            (
                "nat.static_mappings",
                old.static_mappings == new.static_mappings,
                format!("[{} entries]", new.static_mappings.len()),
            ),
        ];
        if let Some((key, _, value)) = fixed.iter().find(|(_, same, _)| !same) {
            return Err(ConfigError::new(*key, value, "the running value: changing it needs a restart (timeouts, per-subscriber limits, hold-down, icmp_on_exhaustion and the rates, caps and timers of nat.admission, nat.unconfirmed, nat.inbound and nat.fairness reload)"));
        }
        if new.max_blocks_per_subscriber > old.max_blocks_per_subscriber {
            return Err(ConfigError::new(
                "nat.max_blocks_per_subscriber",
                new.max_blocks_per_subscriber,
                format!(
                    "at most {} (the value at start sized the tables) without a restart",
                    old.max_blocks_per_subscriber
                ),
            ));
        }
        for (key, same, value) in [
            (
                "nat.admission.aggregate_prefix_len",
                old.admission.aggregate_prefix_len == new.admission.aggregate_prefix_len,
                new.admission.aggregate_prefix_len.to_string(),
            ),
            (
                "nat.admission.aggregate_buckets",
                old.admission.aggregate_buckets == new.admission.aggregate_buckets,
                new.admission.aggregate_buckets.to_string(),
            ),
            (
                "nat.admission.refused_memory",
                old.admission.refused_memory == new.admission.refused_memory,
                new.admission.refused_memory.to_string(),
            ),
        ] {
            if !same {
                return Err(ConfigError::new(
                    key,
                    value,
                    "the running value: it sizes the admission tables, so changing it needs a restart",
                ));
            }
        }
        self.runtime.store(new);
        self.admission.reload(&new.admission);
        Ok(())
    }

    /// Makes new blocks wait until [`Nat::block_logged`] says their
    /// allocation record is durable (RFC 6888 REQ-14, the NAT log rule of
    /// docs/nat-log-format.md): the data plane holds their packets.
    pub fn require_durable_log(&self, on: bool) {
        self.durable_log.store(on, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn durable_log(&self) -> bool {
        self.durable_log.load(Ordering::Relaxed)
    }

    /// The allocation record of the block of `public`:`first_port` is
    /// durable in every legal log target: its ports may now carry traffic.
    /// Returns whether a pending block was released for use.
    pub fn block_logged(&self, public: Ipv4Addr, first_port: u16) -> bool {
        let Some(pool_index) = self.pool.index_of(u32::from(public)) else {
            return false;
        };
        match self.pool.block_of(pool_index, first_port) {
            Some(b) => self.pool.mark_logged(b),
            None => false,
        }
    }

    /// The admission limiter.
    pub fn admission(&self) -> &AdmissionControl {
        &self.admission
    }

    #[inline(always)]
    pub(crate) fn is_inside(&self, a: u32) -> bool {
        let (net, mask) = self.inside_first;
        a & mask == net || (!self.inside_rest.is_empty() && in_any(&self.inside_rest, a))
    }

    /// The smaller of the inside and outside MTU.
    #[inline(always)]
    pub(crate) fn min_mtu(&self) -> usize {
        self.min_mtu
    }

    #[inline(always)]
    pub(crate) fn is_bypass(&self, a: u32) -> bool {
        !self.bypass_nets.is_empty() && in_any(&self.bypass_nets, a)
    }

    pub(crate) fn static_owner(&self, protocol: Protocol, pool_index: u32, port: u16) -> Option<u32> {
        let k = static_key(protocol, pool_index, port);
        self.statics.binary_search_by_key(&k, |e| e.0).ok().map(|i| self.statics[i].1)
    }

    /// The public address a new subscriber gets: paired pooling (RFC 4787
    /// REQ-2, RFC 6888 REQ-2) keeps it for the subscriber's lifetime; the
    /// choice starts at a keyed hash of the inside address and skips
    /// addresses without a free block.
    pub(crate) fn choose_address(&self, inside: u32) -> Option<u32> {
        if let Some(d) = &self.deterministic {
            return d.forward(Ipv4Addr::from(inside)).map(|r| r.pool_index);
        }
        let n = self.pool.size();
        let start = (crate::table::hash::KeyedHash::new(self.seed ^ 0xadd7).hash1(inside as u64) % n as u64) as u32;
        (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| self.pool.used_blocks(i) < self.pool.blocks_per_address())
    }

    /// Records to log at start (RFC 7422 section 2.3: the deterministic
    /// epoch; and one allocation record per static mapping, so the log
    /// alone answers who held a static port). Sequence numbers are filled
    /// in by the caller's `Sequencer`.
    pub fn startup_events(&self, now: Instant) -> Vec<Event> {
        let mut out = Vec::new();
        let blank = |kind, reason| Event {
            seq: 0,
            worker: crate::event::MANAGEMENT_WORKER,
            time: now,
            kind,
            subscriber: Ipv4Addr::UNSPECIFIED,
            public_addr: Ipv4Addr::UNSPECIFIED,
            first_port: 0,
            last_port: 0,
            protocol: ProtocolScope::All,
            reason,
            aux: 0,
        };
        if let Some(d) = &self.deterministic {
            let mut e = blank(EventKind::DeterministicEpoch, Reason::Config);
            e.subscriber = d.first_inside();
            e.public_addr = d.first_public();
            e.first_port = d.port_range().first;
            e.last_port = d.port_range().last;
            e.aux = d.ports_per_subscriber() as u64;
            out.push(e);
            // RFC 7422 section 2.3: the log alone must reverse any public
            // address:port, so the epoch lists every prefix in order.
            for p in d.inside_prefixes() {
                let mut e = blank(EventKind::DeterministicPrefix, Reason::Config);
                e.subscriber = p.addr();
                e.aux = p.len() as u64;
                out.push(e);
            }
            for p in d.pool_prefixes() {
                let mut e = blank(EventKind::DeterministicPrefix, Reason::Config);
                e.public_addr = p.addr();
                e.aux = p.len() as u64;
                out.push(e);
            }
        }
        out.extend(self.static_events(EventKind::BlockAllocated, Reason::Config, now));
        self.statics_since.store(now.secs32(), Ordering::Relaxed);
        out
    }

    /// Records to log at a clean stop: one release record per static
    /// mapping (reason `shutdown`), the counterpart of the allocation
    /// records of [`Nat::startup_events`] (RFC 6888 REQ-14: a record per
    /// allocation and per release; issue 15: static mappings never got
    /// one).
    pub fn shutdown_events(&self, now: Instant) -> Vec<Event> {
        self.static_events(EventKind::BlockReleased, Reason::Shutdown, now)
    }

    /// One record of `kind` per static mapping: its one public port, the
    /// protocol, the inside port in `aux`.
    fn static_events(&self, kind: EventKind, reason: Reason, now: Instant) -> Vec<Event> {
        self.config
            .static_mappings
            .iter()
            .map(|m| Event {
                seq: 0,
                worker: crate::event::MANAGEMENT_WORKER,
                time: now,
                kind,
                subscriber: m.inside_addr,
                public_addr: m.public_addr,
                first_port: m.public_port,
                last_port: m.public_port,
                protocol: match m.protocol {
                    StaticProtocol::Tcp => ProtocolScope::Tcp,
                    StaticProtocol::Udp => ProtocolScope::Udp,
                },
                reason,
                aux: m.inside_port as u64,
            })
            .collect()
    }

    /// When the static mappings were logged as allocated (packet clock,
    /// seconds since the epoch; 0 before [`Nat::startup_events`]).
    pub fn statics_since(&self) -> u32 {
        self.statics_since.load(Ordering::Relaxed)
    }

    /// Who holds `public:port` right now, if anyone.
    pub fn lookup_public(&self, public: Ipv4Addr, port: u16) -> Option<PublicOwner> {
        let pool_index = self.pool.index_of(u32::from(public))?;
        let block = self.pool.block_of(pool_index, port)?;
        let info = self.pool.block_info(block);
        let mappings: Vec<(Protocol, u16)> = Protocol::ALL
            .iter()
            .filter_map(|p| self.pool.port(*p, block, port).mapping().map(|(inside, _)| (*p, inside)))
            .collect();
        let (subscriber, kind) = match info.state {
            BlockState::Allocated => (u32::from(info.owner_addr), "dynamic"),
            BlockState::Reserved => match &self.deterministic {
                Some(d) => (u32::from(d.reverse(public, port)?), "deterministic"),
                None => {
                    let owner = Protocol::ALL.iter().find_map(|p| self.static_owner(*p, pool_index, port))?;
                    (owner, "static")
                }
            },
            _ => return None,
        };
        let mut block = info;
        if kind == "static" {
            // A static mapping holds one port, not the reserved block around
            // it, since its allocation record.
            block.first_port = port;
            block.last_port = port;
            block.mappings = mappings.len() as u32;
            block.time = self.statics_since();
        }
        Some(PublicOwner {
            subscriber: Ipv4Addr::from(subscriber),
            block,
            mappings,
            kind,
        })
    }

    /// The pool.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The session table.
    pub fn sessions(&self) -> &SessionTable {
        &self.sessions
    }

    /// The mapping index.
    pub fn mappings(&self) -> &MappingTable {
        &self.mappings
    }

    /// The subscriber table.
    pub fn subscribers(&self) -> &SubscriberTable {
        &self.subscribers
    }

    /// The RFC 7422 map in deterministic mode.
    pub fn deterministic(&self) -> Option<&DeterministicMap> {
        self.deterministic.as_ref()
    }

    /// Bytes held by the tables and the pool (address space; the pool's
    /// port array is backed by memory only where used).
    pub fn memory_bytes(&self) -> usize {
        self.sessions.memory_bytes() + self.mappings.memory_bytes() + self.subscribers.memory_bytes() + self.pool.memory_bytes()
    }
}
