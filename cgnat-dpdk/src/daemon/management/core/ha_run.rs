//! The management core as one node of an HA pair (issue 13,
//! `docs/decisions/021-ha-pair.md`): what it streams, and what it does
//! when its role changes.
//!
//! - Active: the block records the log wrote, the sessions the workers
//!   created (their sync rings) and a walk of the session table that
//!   restates every session once per `ha.refresh_secs` go to the standby;
//!   a worker's full sync ring asks for a bulk sync.
//! - Becoming active: a new run starts (`daemon-start`, the configuration
//!   records, an `ha-takeover` record naming the previous active's run),
//!   the mirrored blocks and sessions are adopted (each block logged as a
//!   `block-alloc` with reason `ha-takeover`), the workers' gate opens and
//!   one worker announces the addresses by gratuitous ARP.
//! - Giving the role up (planned switchover, preempt, a healed split): the
//!   gate closes, every block is released (reason `ha-switchover`) and the
//!   run ends with its `daemon-stop`, durable before the handover is sent,
//!   so the next run (on the peer) starts after it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;

use cgnat_core::config::DaemonConfig;
use cgnat_core::control::{ErrorCode, Response};
use cgnat_core::counters::Counter;
use cgnat_core::event::{Event, EventKind, ProtocolScope, Reason, MANAGEMENT_WORKER};
use cgnat_core::ha::Transition;
use cgnat_core::natlog::LogRecord;
use cgnat_core::ring::Consumer;
use cgnat_core::translate::entry_record;
use cgnat_core::wire::ha::{Record, Role, SessionRecord};
use cgnat_core::{Instant, Nat, Worker};

use super::super::ha::{block_record, Adoption, HaNode};
use super::super::run;
use super::{ManagementCore, START_DEADLINE};

/// How long a node giving up the active role waits for the workers'
/// bursts in flight to finish after the gate closed.
const GATE_SETTLE: std::time::Duration = std::time::Duration::from_millis(5);

/// The data plane's HA controls (`router::Shared`); `None` in tests
/// without a data plane.
pub struct Dataplane {
    /// The workers' gate: set while this node is not active.
    pub gate: Option<Arc<AtomicBool>>,
    /// Bumped to announce the addresses (gratuitous ARP).
    pub announce: Option<Arc<AtomicU64>>,
    /// Bumped to probe the inside segment for the peer.
    pub probe: Option<Arc<AtomicU64>>,
    /// When the workers last saw the peer on the inside segment.
    pub peer_seen: Option<Arc<AtomicU64>>,
}

/// The HA node and what the management core keeps for it.
pub struct HaGlue {
    node: HaNode,
    nat: Arc<Nat>,
    written: Vec<LogRecord>,
    sessions: Vec<Record>,
    removed: Vec<cgnat_core::table::session::SessionEntry>,
    rings: Vec<Consumer<SessionRecord>>,
    gate: Option<Arc<AtomicBool>>,
    announce: Option<Arc<AtomicU64>>,
    probe: Option<Arc<AtomicU64>>,
    peer_seen: Option<Arc<AtomicU64>>,
    seen_last: u64,
    last_probe: Instant,
    heartbeat_us: u64,
    /// The election's clock: monotonic, so that a step of the system
    /// clock (which the packet clock follows) never makes a live peer look
    /// dead.
    origin: std::time::Instant,
    /// A handover in progress: since when (monotonic), and the operator's
    /// reply if a `switchover` asked for it. The gate is closed and the
    /// stream drains before the role goes.
    handover: Option<(Instant, Option<SyncSender<Response>>)>,
    last_reannounce: Instant,
    adopt: Worker<Vec<Event>>,
    run_open: bool,
    runs: u64,
    digest: u64,
    refresh_us: u64,
    walk_cursor: usize,
    walk_last: Instant,
    ring_full_seen: u64,
}

impl HaGlue {
    /// The glue of `node`; the node starts with no run (it writes nothing
    /// until it is active).
    pub fn new(
        node: HaNode,
        cfg: &DaemonConfig,
        nat: Arc<Nat>,
        rings: Vec<Consumer<SessionRecord>>,
        dataplane: Dataplane,
        now: Instant,
    ) -> HaGlue {
        HaGlue {
            node,
            adopt: Worker::new(nat.clone(), MANAGEMENT_WORKER, Vec::new()),
            nat,
            written: Vec::new(),
            sessions: Vec::new(),
            removed: Vec::new(),
            rings,
            gate: dataplane.gate,
            announce: dataplane.announce,
            probe: dataplane.probe,
            peer_seen: dataplane.peer_seen,
            seen_last: 0,
            last_probe: Instant::from_micros(0),
            heartbeat_us: cfg.ha.heartbeat_ms as u64 * 1000,
            origin: std::time::Instant::now(),
            handover: None,
            last_reannounce: Instant::from_micros(0),
            run_open: false,
            runs: 0,
            digest: run::config_digest(cfg),
            refresh_us: cfg.ha.refresh_secs as u64 * 1_000_000,
            walk_cursor: 0,
            walk_last: now,
            ring_full_seen: 0,
        }
    }

    /// Whether this node has a run open (it is, or was until a crash,
    /// active).
    pub fn run_open(&self) -> bool {
        self.run_open
    }

    /// The monotonic clock of the election and the sync stream.
    fn mono(&self) -> Instant {
        Instant::from_micros(self.origin.elapsed().as_micros() as u64)
    }

    fn set_gate(&self, closed: bool) {
        if let Some(g) = &self.gate {
            g.store(closed, Ordering::Release);
        }
    }

    /// The split-brain guard: while the sync link is silent, probe the
    /// inside segment once per heartbeat and tell the node when the
    /// workers saw the peer answer there.
    fn watch_segment(&mut self, now: Instant) {
        if let Some(seen) = &self.peer_seen {
            let v = seen.load(Ordering::Relaxed);
            if v != self.seen_last {
                self.seen_last = v;
                self.node.on_segment_seen(now);
            }
        }
        let due = now.as_micros().saturating_sub(self.last_probe.as_micros()) >= self.heartbeat_us;
        if due && self.node.wants_probe(now) {
            self.last_probe = now;
            if let Some(p) = &self.probe {
                p.fetch_add(1, Ordering::AcqRel);
            }
        }
    }

    /// The part of the session table due for restating since the last
    /// call: every slot once per refresh period.
    fn walk(&mut self, now: Instant) {
        let table = self.nat.sessions();
        let slots = table.slots();
        let elapsed = now.as_micros().saturating_sub(self.walk_last.as_micros());
        self.walk_last = now;
        let n = ((slots as u128 * elapsed as u128) / self.refresh_us.max(1) as u128).min(slots as u128) as usize;
        for _ in 0..n {
            let i = self.walk_cursor;
            self.walk_cursor = (i + 1) % slots;
            if let Some(e) = table.entry(i as u32) {
                if !e.value.dying() {
                    self.sessions.push(Record::SessionUp(entry_record(&self.nat, &e, now)));
                }
            }
        }
    }
}

/// Every record describing the state now: the blocks held (with their log
/// identity), every live session, the log's position.
fn snapshot(nat: &Nat, held: Vec<LogRecord>, run: u64, next_seq: u64, now: Instant) -> Vec<Record> {
    let mut v: Vec<Record> = held.iter().filter_map(block_record).collect();
    let table = nat.sessions();
    for i in 0..table.slots() as u32 {
        if let Some(e) = table.entry(i) {
            if !e.value.dying() {
                v.push(Record::SessionUp(entry_record(nat, &e, now)));
            }
        }
    }
    v.push(Record::LogCursor { run, next_seq });
    v
}

impl ManagementCore {
    /// The HA node's tick after the log pump: a requested switchover, the
    /// records to stream, the node's own tick and what its role change
    /// asks for.
    pub(super) fn tick_ha(&mut self, now: Instant, switchover: Option<SyncSender<Response>>) {
        let Some(mut h) = self.ha.take() else {
            if let Some(reply) = switchover {
                let _ = reply.send(super::super::control::unavailable());
            }
            return;
        };
        let mono = h.mono();
        if let Some(reply) = switchover {
            let refused = if h.handover.is_some() {
                Err("a handover is already in progress".to_string())
            } else {
                h.node.can_switchover(mono)
            };
            match refused {
                Ok(()) => {
                    log::warn!("ha: planned switchover: draining the sync stream, then handing the role over");
                    h.handover = Some((mono, Some(reply)));
                }
                Err(message) => {
                    let _ = reply.send(Response::Error {
                        code: ErrorCode::Unavailable,
                        message: format!("switchover refused: {message}"),
                    });
                }
            }
        }
        if h.node.take_preempt() && h.handover.is_none() && h.node.can_switchover(mono).is_ok() {
            log::warn!("ha: a better, in-sync peer with preempt asks for the role: handing it over");
            h.handover = Some((mono, None));
        }
        if h.handover.is_some() {
            // No new state from here on: what is left reaches the standby.
            h.set_gate(true);
        }
        self.log.take_written_blocks(&mut h.written);
        for ring in &mut h.rings {
            while let Some(s) = ring.pop() {
                h.sessions.push(Record::SessionUp(s));
            }
        }
        // Sessions the sweeper removed (expired, cleared) leave the
        // standby's mirror at once.
        self.sweeper.take_removed(&mut h.removed);
        for e in h.removed.drain(..) {
            h.sessions.push(Record::SessionDown(entry_record(&h.nat, &e, now)));
        }
        let active = h.node.role() == Role::Active;
        if active {
            h.walk(now);
            let full: u64 = self.ctx.nat_counters.iter().map(|c| c.get(Counter::HaSyncRingFull)).sum();
            if full > h.ring_full_seen {
                log::warn!(
                    "ha: a worker's sync ring was full ({} sessions not streamed): bulk sync",
                    full - h.ring_full_seen
                );
                h.node.request_bulk();
            }
            h.ring_full_seen = full;
        }
        h.watch_segment(mono);
        let (nat, log) = (&h.nat, &self.log);
        let change = h.node.tick(mono, &mut h.written, &mut h.sessions, || {
            let (held, next) = log.held_blocks();
            snapshot(nat, held, log.run(), next, now)
        });
        match change {
            Some(Transition::Active { takeover }) => {
                if let Some((_, Some(reply))) = h.handover.take() {
                    let _ = reply.send(Response::Error {
                        code: ErrorCode::Unavailable,
                        message: "switchover abandoned: this node stays active".into(),
                    });
                }
                self.ha_begin_run(&mut h, now, mono, takeover)
            }
            Some(Transition::Standby) => {
                if let Some((_, Some(reply))) = h.handover.take() {
                    let _ = reply.send(Response::Error {
                        code: ErrorCode::Unavailable,
                        message: "switchover abandoned: the peer took the role".into(),
                    });
                }
                if h.run_open {
                    log::warn!("ha: this node gives the active role up (peer preferred)");
                    self.ha_end_run(&mut h, now, Reason::HaSwitchover);
                }
                h.node.send_handover();
            }
            None => {}
        }
        // The handover: once the standby acknowledged everything (or after
        // a second), the role goes, the run ends, then the peer is told.
        if let Some((since, _)) = &h.handover {
            let waited = mono.as_micros().saturating_sub(since.as_micros());
            if (h.node.backlog() == 0 && waited >= 2 * super::BUSY_TICK.as_micros() as u64) || waited > 1_000_000 {
                let (_, reply) = h.handover.take().expect("checked");
                let r = match h.node.yield_role(mono) {
                    Ok(_) => {
                        self.ha_end_run(&mut h, now, Reason::HaSwitchover);
                        h.node.send_handover();
                        Response::Ha(h.node.status().lock().clone())
                    }
                    Err(message) => Response::Error {
                        code: ErrorCode::Unavailable,
                        message: format!("switchover refused: {message}"),
                    },
                };
                if let Some(reply) = reply {
                    let _ = reply.send(r);
                }
            }
        }
        if h.node.take_reannounce() && h.run_open && mono.as_micros().saturating_sub(h.last_reannounce.as_micros()) >= 1_000_000 {
            h.last_reannounce = mono;
            if let Some(a) = &h.announce {
                a.fetch_add(1, Ordering::AcqRel);
            }
        }
        // Translate only while active with a run open, and not while
        // handing the role over.
        h.set_gate(h.node.role() != Role::Active || !h.run_open || h.handover.is_some());
        self.ha = Some(h);
    }

    /// Becomes active: a new run, the takeover record, the adopted state,
    /// then the gate opens and the addresses are announced.
    fn ha_begin_run(&mut self, h: &mut HaGlue, now: Instant, mono: Instant, takeover: bool) {
        let began = std::time::Instant::now();
        if h.runs > 0 {
            if let Err(e) = self.log.begin_new_run(run::random_run_id()) {
                log::error!("ha: cannot start a new run: {e}; staying silent");
                return;
            }
        }
        h.runs += 1;
        let mirror = h.node.mirror().clone();
        let peer = h.node.peer_address();
        let peer_run = h.node.peer_run();
        let had_peer = peer_run.is_some() || !mirror.blocks.is_empty() || !mirror.sessions.is_empty();
        let reason = if takeover { Reason::HaTakeover } else { Reason::HaSwitchover };
        let mut adoption = Adoption::default();
        let adopt = &mut h.adopt;
        let result = open_run_numbered(&mut self.log, &mut self.sweeper, h.digest, now, |sweeper| {
            // The adoption's records are numbered as producer `mgmt`.
            std::mem::swap(adopt.sequencer_mut(), sweeper.sequencer());
            if had_peer {
                let record = Event {
                    seq: 0,
                    worker: 0,
                    time: now,
                    kind: EventKind::HaTakeover,
                    subscriber: std::net::Ipv4Addr::UNSPECIFIED,
                    public_addr: peer,
                    first_port: 0,
                    last_port: 0,
                    protocol: ProtocolScope::All,
                    reason,
                    aux: peer_run.unwrap_or(0),
                };
                let mut v = Vec::with_capacity(1);
                adopt.sequencer_mut().emit(&mut v, record);
                adopt.sink_mut().append(&mut v);
            }
            let mut failures: std::collections::BTreeMap<&'static str, u64> = Default::default();
            for b in mirror.blocks.values() {
                match adopt.ha_adopt_block(b.subscriber, b.public, b.first_port, now) {
                    Ok(_) => adoption.blocks += 1,
                    Err(e) => *failures.entry(e.name()).or_default() += 1,
                }
            }
            for s in mirror.sessions_to_adopt() {
                match adopt.ha_adopt_session(&s, now) {
                    Ok(_) => adoption.sessions += 1,
                    Err(e) => *failures.entry(e.name()).or_default() += 1,
                }
            }
            adoption.failures = failures.values().sum();
            if !failures.is_empty() {
                log::warn!("ha: mirrored state not adopted: {failures:?}");
            }
            std::mem::swap(adopt.sequencer_mut(), sweeper.sequencer());
            sweeper.sink_mut().append(adopt.sink_mut());
        });
        if let Err(e) = result {
            log::error!(
                "ha: the new run's records are not durable within {} s: {e}",
                START_DEADLINE.as_secs()
            );
        }
        self.ctx.run.store(self.log.run(), Ordering::Relaxed);
        adoption.micros = began.elapsed().as_micros() as u64;
        h.run_open = true;
        h.node.restart_stream();
        h.node.adopted(adoption, mono);
        h.walk_last = now;
        h.ring_full_seen = self.ctx.nat_counters.iter().map(|c| c.get(Counter::HaSyncRingFull)).sum();
        h.set_gate(false);
        if let Some(pcp) = &mut self.pcp {
            pcp.restart(now);
        }
        if let Some(a) = &h.announce {
            a.fetch_add(1, Ordering::AcqRel);
        }
        log::warn!(
            "ha: active ({}), run {}: adopted {} blocks and {} sessions ({} not) in {} ms",
            if takeover { "takeover" } else { "elected or handed over" },
            cgnat_core::natlog::run_name(self.log.run()),
            adoption.blocks,
            adoption.sessions,
            adoption.failures,
            adoption.micros / 1000
        );
    }

    /// Gives the active role up: the gate closes, every block is released
    /// with `reason`, the run ends with its `daemon-stop`, all durable.
    fn ha_end_run(&mut self, h: &mut HaGlue, now: Instant, reason: Reason) {
        h.set_gate(true);
        std::thread::sleep(GATE_SETTLE);
        self.log.drain_all(self.sweeper.sink_mut());
        self.log.wait_durable(&mut Vec::new(), u64::MAX, START_DEADLINE);
        self.publish_durable();
        let now = Instant::from_micros(now.as_micros().max(self.log.last_time()));
        if let Some(pcp) = &mut self.pcp {
            pcp.shutdown(&mut self.sweeper, now);
        }
        let released = self.sweeper.end_run(now, reason);
        self.log.drain_all(self.sweeper.sink_mut());
        let at = Instant::from_micros(now.as_micros().max(self.log.last_time()));
        let stop = run::stop_event(at, self.log.written());
        self.log_event(stop);
        self.log.drain_all(self.sweeper.sink_mut());
        self.log.wait_durable(&mut Vec::new(), u64::MAX, START_DEADLINE);
        h.run_open = false;
        log::warn!(
            "ha: run {} ended: {} blocks released ({}), standby now",
            cgnat_core::natlog::run_name(self.log.run()),
            released.blocks_released,
            reason.name()
        );
    }
}

/// Queues a new run's first records ([`super::queue_run_start`], then
/// `more`: the takeover record and the adopted blocks) and waits only until they are
/// numbered, at most `START_DEADLINE`: the gate may open then, because no
/// port carries traffic before its block's record is durable and records
/// become durable in order. Waiting for durability here would stop the
/// heartbeat of a node that just took the role (decision 021).
fn open_run_numbered(
    log: &mut super::LogPipeline,
    sweeper: &mut cgnat_core::sweeper::Sweeper<Vec<Event>>,
    digest: u64,
    now: Instant,
    more: impl FnOnce(&mut cgnat_core::sweeper::Sweeper<Vec<Event>>),
) -> std::io::Result<()> {
    super::queue_run_start(sweeper, digest, now);
    more(sweeper);
    let began = std::time::Instant::now();
    loop {
        log.pump(sweeper.sink_mut(), now.as_micros() + 1);
        if sweeper.sink_mut().is_empty() && log.merger().pending() == 0 {
            return Ok(());
        }
        if began.elapsed() > START_DEADLINE {
            return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "the log did not take them"));
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}
