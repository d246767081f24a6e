//! The management core's end of the PCP exception path (issue 12, decision
//! 017): [`PcpService`] takes the requests the workers queued, runs the
//! sans-IO [`PcpServer`] on them through a NAT worker of its own, and
//! queues the answers back to the worker that received the request. An
//! answer whose mapping needed a new port block waits until the block's
//! allocation record is durable (decision 008), as a first packet would.
//!
//! The PCP worker numbers its NAT log records as producer `mgmt` with the
//! sweeper: the two share the sweeper's sequencer (swapped in around each
//! call), so one producer's records stay consecutive.

use std::sync::Arc;

use cgnat_core::config::PcpConfig;
use cgnat_core::event::{Event, MANAGEMENT_WORKER};
use cgnat_core::pcp::{PcpDatagram, PcpMapping, PcpServer, Reply};
use cgnat_core::ring::{ring, Consumer, Producer};
use cgnat_core::sweeper::Sweeper;
use cgnat_core::wire::{natpmp, pcp};
use cgnat_core::{Instant, Nat, Worker};
use parking_lot::Mutex;

use crate::daemon::router::PcpPath;

/// Requests taken from one worker's ring per tick (the rest wait for the
/// next tick, about a millisecond later).
const REQUESTS_PER_TICK: usize = 64;
/// Sources whose request budget is tracked at once; when full, the
/// table is cleared (every source starts again with a full budget).
const RATE_SOURCES: usize = 65_536;
/// How long an answer may wait for its block's record, microseconds; after
/// that it is dropped (the client retransmits, RFC 6887 section 8.1.1).
const BLOCK_WAIT_US: u64 = 5_000_000;
/// Unsolicited ANNOUNCEs after a start (RFC 6887 section 14.1.3).
const ANNOUNCEMENTS: u32 = 10;
/// The gap before the second one, doubling after each.
const FIRST_ANNOUNCE_GAP_US: u64 = 1_000_000;
/// All hosts on the link (RFC 6887 section 14.1.3).
const ALL_HOSTS: core::net::Ipv4Addr = core::net::Ipv4Addr::new(224, 0, 0, 1);

/// What a request asked for, for the per-opcode counters.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RequestKind {
    /// PCP ANNOUNCE.
    Announce,
    /// PCP MAP.
    Map,
    /// PCP PEER.
    Peer,
    /// A PCP opcode the server does not know (answered UNSUPP_OPCODE).
    OtherOpcode,
    /// PCP with another version (answered UNSUPP_VERSION or dropped).
    OtherVersion,
    /// NAT-PMP external address request (RFC 6886 section 3.2).
    NatPmpAddress,
    /// NAT-PMP mapping request (RFC 6886 section 3.3).
    NatPmpMap,
    /// NAT-PMP with an unknown opcode.
    NatPmpOther,
}

impl RequestKind {
    /// Every kind, in counter order.
    pub const ALL: [RequestKind; 8] = [
        RequestKind::Announce,
        RequestKind::Map,
        RequestKind::Peer,
        RequestKind::OtherOpcode,
        RequestKind::OtherVersion,
        RequestKind::NatPmpAddress,
        RequestKind::NatPmpMap,
        RequestKind::NatPmpOther,
    ];

    /// The name in metrics and `cgnatctl pcp`.
    pub fn name(self) -> &'static str {
        match self {
            RequestKind::Announce => "announce",
            RequestKind::Map => "map",
            RequestKind::Peer => "peer",
            RequestKind::OtherOpcode => "other",
            RequestKind::OtherVersion => "other-version",
            RequestKind::NatPmpAddress => "natpmp-address",
            RequestKind::NatPmpMap => "natpmp-map",
            RequestKind::NatPmpOther => "natpmp-other",
        }
    }

    /// The kind of a request's bytes.
    pub fn of(data: &[u8]) -> RequestKind {
        match (pcp::version_of(data), pcp::opcode_of(data)) {
            (Some(natpmp::VERSION), 0) => RequestKind::NatPmpAddress,
            (Some(natpmp::VERSION), 1 | 2) => RequestKind::NatPmpMap,
            (Some(natpmp::VERSION), _) => RequestKind::NatPmpOther,
            (Some(pcp::VERSION), pcp::opcode::ANNOUNCE) => RequestKind::Announce,
            (Some(pcp::VERSION), pcp::opcode::MAP) => RequestKind::Map,
            (Some(pcp::VERSION), pcp::opcode::PEER) => RequestKind::Peer,
            (Some(pcp::VERSION), _) => RequestKind::OtherOpcode,
            _ => RequestKind::OtherVersion,
        }
    }
}

/// What the control socket and the metrics read of the PCP server,
/// published by the management loop.
#[derive(Clone, Debug, Default)]
pub struct PcpStatus {
    /// Whether the server runs.
    pub enabled: bool,
    /// When its epoch began (the daemon's start).
    pub started: Instant,
    /// The mappings.
    pub mappings: Vec<PcpMapping>,
    /// Requests by [`RequestKind`].
    pub requests: [u64; RequestKind::ALL.len()],
    /// PCP answers by result code.
    pub results: [u64; pcp::ResultCode::COUNT],
    /// Answers not sent: the worker's answer ring was full, or the block
    /// the mapping needed did not become durable in time.
    pub unanswered: u64,
    /// Mappings ended because their lifetime ran out.
    pub expired: u64,
    /// Requests dropped unanswered: their source exceeded
    /// `pcp.requests_per_sec`.
    pub rate_limited: u64,
    /// Unsolicited ANNOUNCEs sent.
    pub announcements: u64,
}

/// The management core's end of one worker's PCP rings.
pub struct PcpLink {
    /// The worker's requests.
    pub requests: Consumer<PcpDatagram>,
    /// Answers to it.
    pub answers: Producer<PcpDatagram>,
}

/// The rings of `workers` workers, `capacity` datagrams each way: the
/// workers' ends and the management core's.
pub fn pcp_rings(workers: usize, capacity: usize) -> (Vec<PcpPath>, Vec<PcpLink>) {
    (0..workers)
        .map(|_| {
            let (req_tx, req_rx) = ring(capacity);
            let (ans_tx, ans_rx) = ring(capacity);
            (
                PcpPath {
                    requests: req_tx,
                    answers: ans_rx,
                },
                PcpLink {
                    requests: req_rx,
                    answers: ans_tx,
                },
            )
        })
        .unzip()
}

/// Runs `f` with the PCP worker numbering its records as producer `mgmt`:
/// the sweeper's sequencer is swapped in for the call, and the records go
/// into the sweeper's sink after it.
fn as_mgmt<R>(worker: &mut Worker<Vec<Event>>, sweeper: &mut Sweeper<Vec<Event>>, f: impl FnOnce(&mut Worker<Vec<Event>>) -> R) -> R {
    std::mem::swap(worker.sequencer_mut(), sweeper.sequencer());
    let r = f(worker);
    std::mem::swap(worker.sequencer_mut(), sweeper.sequencer());
    sweeper.sink_mut().append(worker.sink_mut());
    r
}

/// An answer waiting for its block's allocation record.
struct Waiting {
    link: usize,
    block: u32,
    since: Instant,
    answer: PcpDatagram,
}

/// The PCP server in the management loop.
pub struct PcpService {
    server: PcpServer,
    worker: Worker<Vec<Event>>,
    links: Vec<PcpLink>,
    waiting: Vec<Waiting>,
    out: Vec<u8>,
    status: PcpStatus,
    /// When the next unsolicited ANNOUNCE goes, and the gap after it.
    announce: Option<(Instant, u64)>,
    announced: u32,
    announce_enabled: bool,
    shared: Arc<Mutex<PcpStatus>>,
    dirty: bool,
    /// Per source address: (tokens in thousandths, last refill µs).
    budgets: std::collections::HashMap<core::net::Ipv4Addr, (u64, u64)>,
    rate: u64,
}

impl PcpService {
    /// A server for `nat` started at `now`, answering through `links`,
    /// publishing its status to `shared`.
    pub fn new(cfg: &PcpConfig, nat: Arc<Nat>, links: Vec<PcpLink>, now: Instant, shared: Arc<Mutex<PcpStatus>>) -> PcpService {
        let status = PcpStatus {
            enabled: true,
            started: now,
            ..PcpStatus::default()
        };
        PcpService {
            server: PcpServer::new(cfg.limits(), now),
            worker: Worker::new(nat, MANAGEMENT_WORKER, Vec::new()),
            links,
            waiting: Vec::new(),
            out: vec![0; pcp::MAX_LEN],
            status,
            announce: cfg.announce.then_some((now, FIRST_ANNOUNCE_GAP_US)),
            announced: 0,
            announce_enabled: cfg.announce,
            shared,
            dirty: true,
            budgets: std::collections::HashMap::new(),
            rate: u64::from(cfg.requests_per_sec),
        }
    }

    /// One tick at `now`: serves the queued requests, sends the answers
    /// whose blocks became durable, ends expired mappings, sends a due
    /// ANNOUNCE and publishes the status if it changed. The NAT log
    /// records the PCP worker made go into the sweeper's sink.
    pub fn tick(&mut self, sweeper: &mut Sweeper<Vec<Event>>, now: Instant) {
        for i in 0..self.links.len() {
            for _ in 0..REQUESTS_PER_TICK {
                let Some(d) = self.links[i].requests.pop() else { break };
                self.serve(i, &d, sweeper, now);
            }
        }
        self.send_durable(now);
        let expired = as_mgmt(&mut self.worker, sweeper, |w| self.server.expire(w, now));
        if expired > 0 {
            self.status.expired += expired as u64;
            self.dirty = true;
        }
        self.announce(now);
        if self.dirty {
            self.publish();
        }
    }

    /// After an operator's `clear`: forgets the mappings it removed (their
    /// `pcp-unmap` records go into the sweeper's sink).
    pub fn after_clear(&mut self, sweeper: &mut Sweeper<Vec<Event>>, now: Instant) {
        let n = as_mgmt(&mut self.worker, sweeper, |w| self.server.forget_cleared(w, now));
        if n > 0 {
            self.dirty = true;
            self.publish();
        }
    }

    /// At a clean shutdown, before the sweeper releases the blocks: ends
    /// every mapping (`pcp-unmap`, reason `shutdown`).
    pub fn shutdown(&mut self, sweeper: &mut Sweeper<Vec<Event>>, now: Instant) {
        as_mgmt(&mut self.worker, sweeper, |w| self.server.shutdown(w, now));
        self.publish();
    }

    /// Applies a reloaded `[pcp]` table: lifetimes, limits, THIRD_PARTY
    /// and the request rate hold for the next requests (mappings keep the
    /// lifetimes they were granted).
    pub fn reload(&mut self, cfg: &PcpConfig) {
        self.server.set_limits(cfg.limits());
        self.rate = u64::from(cfg.requests_per_sec);
    }

    /// Answers waiting for their blocks' records.
    pub fn waiting(&self) -> usize {
        self.waiting.len()
    }

    /// Whether `src` may have one more request served at `now` (a token
    /// bucket of `rate` per second, bursts of twice that).
    fn within_budget(&mut self, src: core::net::Ipv4Addr, now: Instant) -> bool {
        if self.rate == 0 {
            return true;
        }
        if self.budgets.len() >= RATE_SOURCES && !self.budgets.contains_key(&src) {
            self.budgets.clear();
        }
        let cap = self.rate * 2 * 1000;
        let t = now.as_micros();
        let (tokens, last) = self.budgets.entry(src).or_insert((cap, t));
        *tokens = (*tokens + t.saturating_sub(*last) * self.rate / 1000).min(cap);
        *last = t;
        if *tokens >= 1000 {
            *tokens -= 1000;
            true
        } else {
            false
        }
    }

    fn serve(&mut self, link: usize, d: &PcpDatagram, sweeper: &mut Sweeper<Vec<Event>>, now: Instant) {
        if !self.within_budget(d.peer, now) {
            self.status.rate_limited += 1;
            self.dirty = true;
            return;
        }
        self.status.requests[RequestKind::ALL.iter().position(|k| *k == RequestKind::of(d.data())).unwrap_or(0)] += 1;
        let reply = as_mgmt(&mut self.worker, sweeper, |w| {
            self.server.handle(w, d.peer, d.data(), now, &mut self.out)
        });
        self.dirty = true;
        let (len, block) = match reply {
            Reply::None => return,
            Reply::Send(len) => (len, None),
            Reply::AfterBlock { len, block } => (len, Some(block)),
        };
        let Some(answer) = PcpDatagram::new(d.peer, d.peer_port, &self.out[..len]) else {
            return;
        };
        match block {
            Some(block) => self.waiting.push(Waiting {
                link,
                block,
                since: now,
                answer,
            }),
            None => self.send(link, answer),
        }
    }

    fn send(&mut self, link: usize, answer: PcpDatagram) {
        if self.links[link].answers.push(answer).is_err() {
            self.status.unanswered += 1;
        }
    }

    fn send_durable(&mut self, now: Instant) {
        if self.waiting.is_empty() {
            return;
        }
        let nat = self.worker.nat().clone();
        let mut i = 0;
        while i < self.waiting.len() {
            let w = &self.waiting[i];
            if !nat.pool().is_pending(w.block) {
                let w = self.waiting.swap_remove(i);
                self.send(w.link, w.answer);
            } else if now.as_micros().saturating_sub(w.since.as_micros()) > BLOCK_WAIT_US {
                self.waiting.swap_remove(i);
                self.status.unanswered += 1;
            } else {
                i += 1;
            }
        }
    }

    /// No ANNOUNCE until [`PcpService::restart`]: an HA node stays silent
    /// until it is active.
    pub fn hold_announcements(&mut self) {
        self.announce = None;
    }

    /// This node became the active one of its HA pair (issue 13): the PCP
    /// mappings were not synced, so a new epoch begins and the ANNOUNCEs
    /// start over (RFC 6887 sections 8.5 and 14.1.3): clients re-create
    /// their mappings on this node.
    pub fn restart(&mut self, now: Instant) {
        self.server.restart_epoch(now);
        if self.announce_enabled {
            self.announced = 0;
            self.announce = Some((now, FIRST_ANNOUNCE_GAP_US));
        }
    }

    /// RFC 6887 section 14.1.3: after a start, ANNOUNCE to all hosts on
    /// the inside link, ten times with a doubling gap, so that clients that
    /// held mappings before a restart re-create them.
    fn announce(&mut self, now: Instant) {
        let Some((at, gap)) = self.announce else { return };
        if now < at || self.links.is_empty() {
            return;
        }
        if let Some(len) = self.server.announcement(now, &mut self.out) {
            if let Some(d) = PcpDatagram::new(ALL_HOSTS, pcp::CLIENT_PORT, &self.out[..len]) {
                self.send(0, d);
                self.status.announcements += 1;
                self.dirty = true;
            }
        }
        self.announced += 1;
        self.announce = (self.announced < ANNOUNCEMENTS).then(|| (Instant::from_micros(now.as_micros() + gap), gap * 2));
    }

    fn publish(&mut self) {
        self.status.mappings.clear();
        self.status.mappings.extend(self.server.mappings().copied());
        self.status.results = *self.server.results();
        *self.shared.lock() = self.status.clone();
        self.dirty = false;
    }
}

impl super::query::QueryContext {
    /// `pcp`: the PCP server's mappings (of `subscriber`), at most `limit`
    /// (default 1000), with its counters.
    pub fn pcp_list(&self, subscriber: Option<core::net::Ipv4Addr>, limit: Option<u32>) -> cgnat_core::control::PcpList {
        use cgnat_core::control::{PcpList, PcpMappingInfo, ProtocolName};
        use cgnat_core::pcp::PcpKind;
        let now = (self.clock)();
        let s = self.pcp.lock();
        let mut mine: Vec<&PcpMapping> = s.mappings.iter().filter(|m| subscriber.is_none_or(|a| m.inside == a)).collect();
        mine.sort_by_key(|m| (m.inside, m.inside_port, m.protocol as u8));
        let mappings = mine
            .iter()
            .take(limit.unwrap_or(1000) as usize)
            .map(|m| PcpMappingInfo {
                subscriber: m.inside,
                kind: m.kind.name().into(),
                protocol: match m.protocol {
                    cgnat_core::Protocol::Tcp => ProtocolName::Tcp,
                    cgnat_core::Protocol::Udp => ProtocolName::Udp,
                    cgnat_core::Protocol::Icmp => ProtocolName::Icmp,
                },
                internal_port: m.inside_port,
                public: m.public_addr,
                public_port: m.public_port,
                lifetime_left: m.expires.as_secs().saturating_sub(now.as_secs()),
                remote: match m.kind {
                    PcpKind::Peer { remote, remote_port } => Some(format!("{remote}:{remote_port}")),
                    _ => None,
                },
                filters: m
                    .filters
                    .iter()
                    .map(|f| format!("{}/{}:{}", core::net::Ipv4Addr::from(f.addr), f.prefix_len, f.port))
                    .collect(),
            })
            .collect();
        PcpList {
            enabled: s.enabled,
            epoch: now.as_secs().saturating_sub(s.started.as_secs()),
            mappings,
            total: mine.len() as u64,
            requests: RequestKind::ALL
                .iter()
                .zip(s.requests)
                .map(|(k, n)| (k.name().to_string(), n))
                .collect(),
            results: s
                .results
                .iter()
                .enumerate()
                .filter_map(|(c, n)| pcp::ResultCode::from_u8(c as u8).map(|r| (r.name().to_string(), *n)))
                .collect(),
        }
    }
}

/// The PCP server's metrics (issue 12 item 5): requests by opcode, answers
/// by result code, mappings, expiries, unanswered requests.
pub fn render_pcp(x: &mut super::exposition::Exposition, s: &PcpStatus) {
    use cgnat_core::wire::pcp::ResultCode;
    x.sample(
        "cgnat_pcp_enabled",
        "gauge",
        "1 while the PCP server runs.",
        "",
        u8::from(s.enabled),
    );
    if !s.enabled {
        return;
    }
    for (k, n) in RequestKind::ALL.iter().zip(s.requests) {
        x.sample(
            "cgnat_pcp_requests_total",
            "counter",
            "PCP and NAT-PMP requests served, by opcode.",
            &format!("opcode=\"{}\"", k.name()),
            n,
        );
    }
    for (code, n) in s.results.iter().enumerate() {
        let Some(r) = ResultCode::from_u8(code as u8) else { continue };
        x.sample(
            "cgnat_pcp_results_total",
            "counter",
            "PCP answers, by result code (RFC 6887 section 7.4).",
            &format!("result=\"{}\"", r.name()),
            n,
        );
    }
    x.sample(
        "cgnat_pcp_mappings",
        "gauge",
        "PCP and NAT-PMP mappings held.",
        "",
        s.mappings.len(),
    );
    x.sample(
        "cgnat_pcp_expired_mappings_total",
        "counter",
        "PCP mappings ended by their lifetime.",
        "",
        s.expired,
    );
    x.sample(
        "cgnat_pcp_unanswered_requests_total",
        "counter",
        "Requests served but not answered: the answer ring was full or the mapping's block was not durable within 5 s.",
        "",
        s.unanswered,
    );
    x.sample(
        "cgnat_pcp_announcements_total",
        "counter",
        "Unsolicited PCP ANNOUNCEs sent.",
        "",
        s.announcements,
    );
    x.sample(
        "cgnat_pcp_rate_limited_requests_total",
        "counter",
        "PCP requests dropped unanswered: their source exceeded pcp.requests_per_sec.",
        "",
        s.rate_limited,
    );
}
