//! Read-only answers of the control protocol (`cgnat_core::control`):
//! status, stats, subscriber detail, live reverse lookup, session listing.
//! They read the lock-free tables and counters and never wait on a worker,
//! so any thread may run them.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use cgnat_core::config::StaticProtocol;
use cgnat_core::control::{
    BlockDetail, Limits, LogStats, LookupResult, Owner, PortCounters, ProtocolCounts, ProtocolName, SessionFilter, SessionInfo,
    SessionList, SinkStats, Stats, Status, SubscriberDetail, SubscriberList, SubscriberSort, SubscriberSummary, TableFill, WorkerStats,
};
use cgnat_core::counters::{CounterSnapshot, Counters};
use cgnat_core::pool::{BlockInfo, BlockState};
use cgnat_core::sweeper::session_timeout;
use cgnat_core::{Counter, DropReason, Instant, Nat, Protocol};
use parking_lot::Mutex;

use super::log::LogShared;
use super::merge::Watermark;
use super::sink::SinkCounters;
use crate::daemon::counters::{DpCounter, DpCounters};

/// The default and maximum `sessions` limits.
pub const SESSIONS_DEFAULT: u32 = 1000;
/// The maximum `sessions` limit.
pub const SESSIONS_MAX: u32 = 100_000;
/// The default `subscribers` limit.
pub const SUBSCRIBERS_DEFAULT: u32 = 100;
/// The maximum `subscribers` limit.
pub const SUBSCRIBERS_MAX: u32 = 100_000;

/// Everything the read-only answers need, shared by the management
/// threads.
pub struct QueryContext {
    /// The NAT.
    pub nat: Arc<Nat>,
    /// Per worker NAT counters.
    pub nat_counters: Vec<Arc<Counters>>,
    /// Per worker data-plane counters.
    pub dp_counters: Vec<Arc<DpCounters>>,
    /// Per worker packet clocks.
    pub watermarks: Vec<Watermark>,
    /// NAT log counters.
    pub log: Arc<LogShared>,
    /// The log targets' names and counters (replaced on reload).
    pub sinks: Mutex<Vec<(String, Arc<SinkCounters>, u64)>>,
    /// `live` or `replay`.
    pub run_mode: &'static str,
    /// The run id of the NAT log records.
    pub run: std::sync::atomic::AtomicU64,
    /// The configuration file in force (the one a reload read last).
    pub config_source: Mutex<String>,
    /// The NIC counters of the ports, published by the management loop
    /// (about once a second; empty where there are no DPDK ports).
    pub ports: Mutex<Vec<PortCounters>>,
    /// The packet clock.
    pub clock: Box<dyn Fn() -> Instant + Send + Sync>,
    /// Wall-clock start.
    pub started: std::time::Instant,
    /// The PCP server's mappings and counters, published by the
    /// management loop.
    pub pcp: Arc<Mutex<super::pcp::PcpStatus>>,
    /// The HA pair's state (`enabled: false` on a single node).
    pub ha: Arc<Mutex<cgnat_core::control::HaStatus>>,
}

fn protocol_name(p: Protocol) -> ProtocolName {
    match p {
        Protocol::Tcp => ProtocolName::Tcp,
        Protocol::Udp => ProtocolName::Udp,
        Protocol::Icmp => ProtocolName::Icmp,
    }
}

fn secs_to_rfc3339(secs: u32) -> String {
    let s = Instant::from_secs(secs as u64).to_string();
    // Second resolution: drop the fraction.
    format!("{}Z", &s[..19])
}

fn block_detail(b: &BlockInfo) -> BlockDetail {
    BlockDetail {
        public: b.public_addr,
        first_port: b.first_port,
        last_port: b.last_port,
        allocated_at: secs_to_rfc3339(b.time),
        mappings: b.mappings,
        static_port: false,
    }
}

/// Counter name → value of a snapshot (drops as `drop.REASON`).
pub fn nat_map(s: &CounterSnapshot) -> BTreeMap<String, u64> {
    let mut m = BTreeMap::new();
    for c in Counter::ALL {
        m.insert(c.name().to_string(), s.get(*c));
    }
    for r in DropReason::ALL {
        m.insert(format!("drop.{}", r.name()), s.dropped(*r));
    }
    m
}

fn dp_map(v: &[u64]) -> BTreeMap<String, u64> {
    DpCounter::ALL.iter().map(|c| (c.name().to_string(), v[*c as usize])).collect()
}

impl QueryContext {
    /// `status`.
    pub fn status(&self) -> Status {
        let nat = &self.nat;
        Status {
            version: env!("CARGO_PKG_VERSION").into(),
            pid: std::process::id(),
            run_mode: self.run_mode.into(),
            nat_mode: if nat.deterministic().is_some() {
                "deterministic"
            } else {
                "dynamic"
            }
            .into(),
            uptime_secs: self.started.elapsed().as_secs(),
            now: (self.clock)().to_string(),
            workers: self.nat_counters.len() as u16,
            config_source: self.config_source.lock().clone(),
            log_seq: self.log.records.load(Ordering::Relaxed),
            log_targets: self.sinks.lock().iter().map(|s| s.0.clone()).collect(),
            log_stalled: self.log.stalled.load(Ordering::Relaxed),
            run: cgnat_core::natlog::run_name(self.run.load(std::sync::atomic::Ordering::Relaxed)).to_string(),
        }
    }

    /// Table fill: subscribers, sessions, mappings, blocks.
    pub fn tables(&self) -> Vec<TableFill> {
        let nat = &self.nat;
        let pool = nat.pool();
        let used_blocks: u64 = (0..pool.size()).map(|i| pool.used_blocks(i) as u64).sum();
        [
            (
                "subscribers",
                nat.subscribers().len() as u64,
                nat.subscribers().capacity() as u64,
                nat.subscribers().memory_bytes(),
            ),
            (
                "unconfirmed_subscribers",
                nat.subscribers().unconfirmed() as u64,
                nat.runtime().unconfirmed_subscribers() as u64,
                0,
            ),
            (
                "sessions",
                nat.sessions().len() as u64,
                nat.sessions().capacity() as u64,
                nat.sessions().memory_bytes(),
            ),
            (
                "mappings",
                nat.mappings().len() as u64,
                nat.mappings().capacity() as u64,
                nat.mappings().memory_bytes(),
            ),
            ("blocks", used_blocks, pool.block_count() as u64, pool.memory_bytes()),
        ]
        .into_iter()
        .map(|(n, used, capacity, bytes)| TableFill {
            name: n.into(),
            used,
            capacity,
            bytes: bytes as u64,
        })
        .collect()
    }

    /// `stats`.
    pub fn stats(&self) -> Stats {
        let mut total = CounterSnapshot::default();
        let mut dp_total = vec![0u64; DpCounter::COUNT];
        let mut workers = Vec::new();
        for (i, c) in self.nat_counters.iter().enumerate() {
            let s = c.snapshot();
            total.merge(&s);
            let dp = self.dp_counters.get(i).map(|d| d.snapshot()).unwrap_or([0; DpCounter::COUNT]);
            for (a, b) in dp_total.iter_mut().zip(&dp) {
                *a += b;
            }
            workers.push(WorkerStats {
                id: i as u16,
                nat: nat_map(&s),
                dataplane: dp_map(&dp),
                watermark_us: self.watermarks.get(i).map(|w| w.load(Ordering::Relaxed)).unwrap_or(0),
                ring_pending: 0,
            });
        }
        let sinks = self
            .sinks
            .lock()
            .iter()
            .map(|(name, c, cap)| SinkStats {
                name: name.clone(),
                written: c.written.load(Ordering::Relaxed),
                errors: c.errors.load(Ordering::Relaxed) + c.dropped.load(Ordering::Relaxed),
                pending: c.pending.load(Ordering::Relaxed),
                stalled: c.pending.load(Ordering::Relaxed) >= *cap,
                failing: c.failing.load(Ordering::Relaxed),
                dead: c.dead.load(Ordering::Relaxed),
                last_error: c.last_error(),
            })
            .collect();
        Stats {
            nat: nat_map(&total),
            dataplane: dp_map(&dp_total),
            workers,
            tables: self.tables(),
            log: LogStats {
                records: self.log.records.load(Ordering::Relaxed),
                refused: total.dropped(DropReason::LogStalled),
                pending: self.log.pending.load(Ordering::Relaxed),
                sinks,
            },
            ports: self.ports.lock().clone(),
        }
    }

    /// `subscriber`; `None` if the NAT does not know it.
    pub fn subscriber(&self, addr: Ipv4Addr) -> Option<SubscriberDetail> {
        let nat = &self.nat;
        let a = u32::from(addr);
        let r = nat.runtime();
        let limits = Limits {
            max_sessions: r.max_sessions_per_subscriber(),
            max_blocks: r.max_blocks_per_subscriber(),
            block_size: nat.pool().block_size(),
        };
        let entry = nat.subscribers().find(a).and_then(|s| nat.subscribers().entry(s.index));
        let mut blocks = Vec::new();
        let (public, kind) = if let Some(d) = nat.deterministic() {
            let range = d.forward(addr)?;
            blocks.push(BlockDetail {
                public: range.public_addr,
                first_port: range.first_port,
                last_port: range.last_port,
                allocated_at: "-".into(),
                mappings: 0,
                static_port: false,
            });
            (range.public_addr, "deterministic")
        } else {
            let e = entry?;
            for b in nat.subscribers().blocks(e.index) {
                blocks.push(block_detail(&nat.pool().block_info(b)));
            }
            // Its static mappings: one port each, held since the run's start
            // (their allocation records).
            for m in nat.config().static_mappings.iter().filter(|m| m.inside_addr == addr) {
                let p = match m.protocol {
                    StaticProtocol::Tcp => Protocol::Tcp,
                    StaticProtocol::Udp => Protocol::Udp,
                };
                let live = nat
                    .lookup_public(m.public_addr, m.public_port)
                    .map_or(0, |o| o.mappings.iter().filter(|x| x.0 == p).count());
                blocks.push(BlockDetail {
                    public: m.public_addr,
                    first_port: m.public_port,
                    last_port: m.public_port,
                    allocated_at: secs_to_rfc3339(nat.statics_since()),
                    mappings: live as u32,
                    static_port: true,
                });
            }
            let kind = if e.pinned { "static" } else { "dynamic" };
            (Ipv4Addr::from(nat.pool().addr_of(e.pool_index)), kind)
        };
        let mut sessions = ProtocolCounts::default();
        for i in 0..nat.sessions().slots() {
            if let Some(s) = nat.sessions().entry(i as u32) {
                if s.key.inside_addr == a {
                    match s.key.protocol {
                        Protocol::Tcp => sessions.tcp += 1,
                        Protocol::Udp => sessions.udp += 1,
                        Protocol::Icmp => sessions.icmp += 1,
                    }
                }
            }
        }
        Some(SubscriberDetail {
            subscriber: addr,
            public,
            kind: kind.into(),
            blocks,
            sessions,
            sessions_used: entry.map(|e| e.sessions).unwrap_or(0),
            inbound_sessions: entry.map(|e| e.inbound_sessions).unwrap_or(0),
            confirmed: entry.map(|e| e.confirmed).unwrap_or(true),
            limits,
        })
    }

    /// `lookup` (live).
    pub fn lookup(&self, public: Ipv4Addr, port: u16) -> LookupResult {
        let owner = self.nat.lookup_public(public, port).map(|o| {
            let mut block = block_detail(&o.block);
            if o.kind == "deterministic" {
                if let Some(r) = self.nat.deterministic().and_then(|d| d.forward(o.subscriber)) {
                    block.first_port = r.first_port;
                    block.last_port = r.last_port;
                    block.allocated_at = "-".into();
                }
            }
            Owner {
                subscriber: o.subscriber,
                kind: o.kind.into(),
                block,
                mappings: o.mappings.iter().map(|(p, inside)| (protocol_name(*p), *inside)).collect(),
            }
        });
        LookupResult {
            public,
            port,
            owner,
            in_pool: self.nat.pool().index_of(u32::from(public)).is_some(),
            run: self.run.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// `sessions`.
    pub fn sessions(&self, f: &SessionFilter, limit: Option<u32>) -> SessionList {
        let nat = &self.nat;
        let limit = limit.unwrap_or(SESSIONS_DEFAULT).min(SESSIONS_MAX) as usize;
        let now = (self.clock)().secs32();
        let public_index = f.public.map(|p| nat.pool().index_of(u32::from(p)));
        let mut out = SessionList::default();
        for i in 0..nat.sessions().slots() {
            let Some(e) = nat.sessions().entry(i as u32) else { continue };
            let k = &e.key;
            let ok = f.subscriber.is_none_or(|s| u32::from(s) == k.inside_addr)
                && public_index.is_none_or(|p| p == Some(e.pool_index))
                && f.public_port.is_none_or(|p| p == e.value.public_port())
                && f.destination.is_none_or(|d| u32::from(d) == k.remote_addr)
                && f.destination_port.is_none_or(|p| p == k.remote_port)
                && f.protocol.is_none_or(|p| p == protocol_name(k.protocol))
                && f.subscriber_prefix.is_none_or(|p| p.contains_u32(k.inside_addr))
                && f.destination_prefix.is_none_or(|p| p.contains_u32(k.remote_addr));
            if !ok {
                continue;
            }
            let state = if k.protocol == Protocol::Tcp {
                cgnat_core::tcp_state::name(e.value.tcp())
            } else {
                "-"
            };
            if f.state.as_deref().is_some_and(|want| !want.eq_ignore_ascii_case(state)) {
                continue;
            }
            if out.sessions.len() == limit {
                out.truncated = true;
                break;
            }
            let idle = e.value.idle(now);
            let timeout = session_timeout(nat, k.protocol, e.value);
            out.sessions.push(SessionInfo {
                protocol: protocol_name(k.protocol),
                inside: k.inside(),
                inside_port: k.inside_port,
                public: Ipv4Addr::from(nat.pool().addr_of(e.pool_index)),
                public_port: e.value.public_port(),
                remote: k.remote(),
                remote_port: k.remote_port,
                state: state.into(),
                idle_secs: idle,
                expires_in_secs: timeout.saturating_sub(idle),
            });
        }
        out
    }

    /// `subscribers`: every subscriber with state, the largest `limit` by
    /// `sort` (ties: by address). One pass over the subscriber table.
    pub fn subscribers(&self, sort: SubscriberSort, limit: Option<u32>) -> SubscriberList {
        let nat = &self.nat;
        let limit = limit.unwrap_or(SUBSCRIBERS_DEFAULT).min(SUBSCRIBERS_MAX) as usize;
        let block_size = nat.pool().block_size();
        let mut statics: BTreeMap<u32, u32> = BTreeMap::new();
        for m in &nat.config().static_mappings {
            *statics.entry(u32::from(m.inside_addr)).or_default() += 1;
        }
        let mut all = Vec::new();
        let subs = nat.subscribers();
        for i in 0..subs.slots() {
            let Some(e) = subs.entry(i as u32) else { continue };
            let fixed = statics.get(&e.addr).copied().unwrap_or(0);
            all.push(SubscriberSummary {
                subscriber: Ipv4Addr::from(e.addr),
                public: Ipv4Addr::from(nat.pool().addr_of(e.pool_index)),
                kind: if fixed > 0 { "static" } else { "dynamic" }.into(),
                sessions: e.sessions,
                blocks: e.blocks,
                ports: e.blocks.saturating_mul(block_size).saturating_add(fixed),
                confirmed: e.confirmed,
            });
        }
        let key = |s: &SubscriberSummary| match sort {
            SubscriberSort::Sessions => (s.sessions, s.ports),
            SubscriberSort::Ports => (s.ports, s.sessions),
            SubscriberSort::Blocks => (s.blocks, s.sessions),
        };
        all.sort_unstable_by(|a, b| key(b).cmp(&key(a)).then(a.subscriber.cmp(&b.subscriber)));
        let total = all.len() as u64;
        all.truncate(limit);
        SubscriberList {
            subscribers: all,
            total,
            sort,
        }
    }

    /// Blocks allocated per public address (for metrics).
    pub fn blocks_per_address(&self) -> Vec<(Ipv4Addr, u32)> {
        let pool = self.nat.pool();
        (0..pool.size())
            .map(|i| (Ipv4Addr::from(pool.addr_of(i)), pool.used_blocks(i)))
            .collect()
    }

    /// Whether a block is allocated (for tests).
    pub fn allocated_blocks(&self) -> u64 {
        let pool = self.nat.pool();
        (0..pool.block_count())
            .filter(|b| pool.block_info(*b).state == BlockState::Allocated)
            .count() as u64
    }
}
