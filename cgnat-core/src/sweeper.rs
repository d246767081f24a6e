//! The sweeper: runs on the management core, expires idle sessions
//! (RFC 4787 REQ-5, RFC 5382 REQ-5, RFC 5508 REQ-1 timers), frees mappings
//! whose last session ended, releases blocks with no mapping (RFC 6888
//! REQ-14: one record per release; REQ-8 hold-down starts then), removes
//! idle subscribers, and carries out the operator's targeted clears.
//!
//! It works in bounded slices so the management loop stays responsive:
//! [`Sweeper::sweep_paced`] sizes each slice from the time since the last
//! one, so every table is passed over once per period whatever its size
//! ([`Pacing`], docs/decisions/012-expiry-pacing.md). It never removes a
//! block without first queuing its release record: if the log queue is
//! full the release is deferred.

use core::net::Ipv4Addr;
use std::sync::Arc;

use crate::event::{Event, EventKind, EventSink, ProtocolScope, Reason, Sequencer, MANAGEMENT_WORKER};
use crate::flow::{MappingKey, Protocol};
use crate::pool::BlockState;
use crate::table::session::{SessionEntry, SessionValue};
use crate::tcp_state;
use crate::time::Instant;
use crate::translate::Nat;

mod pacing;

use pacing::Pacer;
pub use pacing::Pacing;

/// What one sweep did.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct SweepStats {
    /// Sessions removed.
    pub sessions_expired: u64,
    /// Mappings freed (their last session ended).
    pub mappings_freed: u64,
    /// Blocks released (and logged).
    pub blocks_released: u64,
    /// Releases put off because the log queue refused the record.
    pub releases_deferred: u64,
    /// Subscribers removed.
    pub subscribers_removed: u64,
}

impl SweepStats {
    fn add(&mut self, o: SweepStats) {
        self.sessions_expired += o.sessions_expired;
        self.mappings_freed += o.mappings_freed;
        self.blocks_released += o.blocks_released;
        self.releases_deferred += o.releases_deferred;
        self.subscribers_removed += o.subscribers_removed;
    }
}

/// Drops one session's hold on its mapping (`inbound`: a session created
/// by an inbound packet); frees the mapping (index entry, port, block
/// count) when it was the last. Returns whether it was freed.
pub(crate) fn release_mapping_ref(nat: &Nat, key: &MappingKey, pool_index: u32, port: u16, inbound: bool) -> bool {
    let Some(block) = nat.pool.block_of(pool_index, port) else {
        return false;
    };
    let entry = nat.pool.port(key.protocol, block, port);
    if !entry.release(inbound) {
        return false;
    }
    nat.mappings.remove(key, port, pool_index);
    entry.free();
    nat.pool.block_release(block);
    true
}

/// The idle timeout of a session, seconds, before the subscriber's own
/// state is considered: the protocol's timer (RFC 4787 REQ-5, RFC 5382
/// REQ-5, RFC 5508 REQ-1; a TCP session picked up mid-stream keeps the
/// transitory timer until traffic was seen both ways, RFC 7857 section 3),
/// or the short `nat.inbound.timeout` of an inbound-created session the
/// inside host has not answered.
pub fn session_timeout(nat: &Nat, protocol: Protocol, value: SessionValue) -> u32 {
    let t = nat.runtime().timeouts();
    let base = match protocol {
        Protocol::Udp => t.udp,
        Protocol::Icmp => t.icmp,
        Protocol::Tcp => tcp_state::timeout(value.tcp(), value.two_way(), &t),
    };
    if value.inbound() && !value.has(SessionValue::TWO_WAY) {
        base.min(nat.runtime().inbound_timeout())
    } else {
        base
    }
}

/// The management core's expiry engine.
pub struct Sweeper<E: EventSink> {
    nat: Arc<Nat>,
    seq: Sequencer,
    sink: E,
    session_cursor: usize,
    block_cursor: u32,
    subscriber_cursor: usize,
    mapping_cursor: usize,
    alerted: [bool; 3],
    pacing: Pacing,
    pacer: Pacer,
    /// Sessions removed, kept for an HA standby (`None`: not kept).
    removed: Option<Vec<SessionEntry>>,
}

/// Slots of each table one call visits.
#[derive(Copy, Clone, Debug)]
struct Steps {
    sessions: usize,
    max_expired: usize,
    mappings: usize,
    blocks: u32,
    subscribers: usize,
}

/// What a session scan did.
#[derive(Copy, Clone, Debug, Default)]
struct Scan {
    /// Session slots visited.
    visited: usize,
    /// Live sessions among them.
    live: u64,
    stats: SweepStats,
}

impl<E: EventSink> Sweeper<E> {
    /// A sweeper logging into `sink` as producer [`MANAGEMENT_WORKER`].
    pub fn new(nat: Arc<Nat>, sink: E) -> Self {
        Sweeper {
            nat,
            seq: Sequencer::new(MANAGEMENT_WORKER),
            sink,
            session_cursor: 0,
            block_cursor: 0,
            subscriber_cursor: 0,
            mapping_cursor: 0,
            alerted: [false; 3],
            pacing: Pacing::default(),
            pacer: Pacer::default(),
            removed: None,
        }
    }

    /// Keeps every session removed from now on for
    /// [`Sweeper::take_removed`] (an HA active tells its standby).
    pub fn track_removed(&mut self) {
        self.removed.get_or_insert_with(Vec::new);
    }

    /// The sessions removed since the last call.
    pub fn take_removed(&mut self, out: &mut Vec<SessionEntry>) {
        if let Some(r) = &mut self.removed {
            out.append(r);
        }
    }

    /// The sink.
    pub fn sink_mut(&mut self) -> &mut E {
        &mut self.sink
    }

    /// The sequencer (the management core stamps its other records with it).
    pub fn sequencer(&mut self) -> &mut Sequencer {
        &mut self.seq
    }

    /// Queues the records that describe the configuration at start (RFC
    /// 7422 epoch, static mappings). Returns how many were refused.
    pub fn log_startup(&mut self, now: Instant) -> usize {
        let events = self.nat.startup_events(now);
        events.into_iter().filter(|e| !self.seq.emit(&mut self.sink, *e)).count()
    }

    /// Whether a session has been idle past its timeout at `now`: its
    /// protocol's ([`session_timeout`]), or the short one of a subscriber
    /// that never showed it can receive (`nat.unconfirmed.timeout`, issue 9
    /// item 2; the subscriber is looked up only for sessions idle that long).
    pub fn is_expired(&self, e: &SessionEntry, now: Instant) -> bool {
        let idle = e.value.idle(now.secs32());
        let timeout = session_timeout(&self.nat, e.key.protocol, e.value);
        if idle >= timeout {
            return true;
        }
        let nat = &*self.nat;
        idle >= nat.runtime().unconfirmed_timeout()
            && nat
                .subscribers
                .find(e.key.inside_addr)
                .is_some_and(|s| !nat.subscribers.is_confirmed(s.index))
    }

    /// Removes one session and drops its holds. Returns the stats.
    pub fn expire(&mut self, e: &SessionEntry) -> SweepStats {
        let mut s = SweepStats::default();
        let nat = &*self.nat;
        if !nat.sessions.mark_dying(e) {
            return s;
        }
        let Some(dying) = nat.sessions.entry(e.index) else {
            return s;
        };
        if !nat.sessions.remove(&dying) {
            return s;
        }
        s.sessions_expired = 1;
        if let Some(r) = &mut self.removed {
            r.push(*e);
        }
        let inbound = e.value.inbound();
        if let Some(sub) = nat.subscribers.find(e.key.inside_addr) {
            if inbound {
                nat.subscribers.release_inbound(sub.index);
            } else {
                nat.subscribers.release_session(sub.index);
            }
        }
        if release_mapping_ref(nat, &e.key.mapping(), e.pool_index, e.value.public_port(), inbound) {
            s.mappings_freed = 1;
        }
        s
    }

    /// Releases an allocated block that holds no mapping, queuing its
    /// release record first. `None` if it is not releasable now.
    pub fn release_block(&mut self, block: u32, reason: Reason, now: Instant) -> SweepStats {
        let mut s = SweepStats::default();
        let nat = self.nat.clone();
        let Some(owner_slot) = nat.pool.begin_release(block) else {
            return s;
        };
        let info = nat.pool.block_info(block);
        let e = Event {
            seq: 0,
            worker: MANAGEMENT_WORKER,
            time: now,
            kind: EventKind::BlockReleased,
            subscriber: info.owner_addr,
            public_addr: info.public_addr,
            first_port: info.first_port,
            last_port: info.last_port,
            protocol: ProtocolScope::All,
            reason,
            aux: 0,
        };
        if !self.seq.emit(&mut self.sink, e) {
            nat.pool.abort_release(block, owner_slot);
            s.releases_deferred = 1;
            return s;
        }
        nat.pool.finish_release(block, now.secs32());
        nat.subscribers.remove_block(owner_slot, block);
        s.blocks_released = 1;
        s
    }

    /// One bounded slice of housekeeping: up to `budget` session slots,
    /// and proportionally blocks and subscribers. A fixed slice per call;
    /// the management loop uses [`Sweeper::sweep_paced`] instead.
    pub fn sweep(&mut self, now: Instant, budget: usize) -> SweepStats {
        let nat = &*self.nat;
        let count = budget.min(nat.sessions.slots());
        let steps = Steps {
            sessions: count,
            max_expired: usize::MAX,
            mappings: count.min(nat.mappings.slots()),
            blocks: ((budget / 4).max(64) as u32).min(nat.pool.block_count()),
            subscribers: (budget / 4).max(64).min(nat.subscribers.slots()),
        };
        self.run(now, steps).stats
    }

    /// One paced slice of housekeeping, for a loop that calls it every
    /// millisecond or so: every table is passed over once per pacing
    /// period (shorter under pressure), each call visiting the share of
    /// each table due since the previous call, within the per-call caps of
    /// [`Pacing`]. An expired session is thus removed within
    /// [`Pacing::overstay_bound_us`] of its timeout (RFC 4787 REQ-5 and
    /// RFC 5382 REQ-5 set the timers' minimum; this bounds how long past
    /// them state, ports and blocks stay held).
    pub fn sweep_paced(&mut self, now: Instant) -> SweepStats {
        let nat = self.nat.clone();
        let p = self.pacing;
        let dt = self.pacer.elapsed(now.as_micros());
        let period = self.pacer.period(&p, nat.sessions.len(), nat.sessions.capacity());
        let n = nat.sessions.slots();
        let [ls, lm, lb, lsub] = &mut self.pacer.lanes;
        let steps = Steps {
            sessions: ls.step(&p, n, dt, period, p.min_slots),
            max_expired: p.max_expired,
            mappings: lm.step(&p, nat.mappings.slots(), dt, period, p.min_slots),
            blocks: lb.step(&p, nat.pool.block_count() as usize, dt, period, 0) as u32,
            subscribers: lsub.step(&p, nat.subscribers.slots(), dt, period, 0),
        };
        let scan = self.run(now, steps);
        self.pacer.lanes[0].give_back(steps.sessions - scan.visited, n);
        self.pacer
            .record(&p, n, scan.visited, scan.live, scan.stats.sessions_expired, period);
        scan.stats
    }

    /// The pacing [`Sweeper::sweep_paced`] follows.
    pub fn pacing(&self) -> Pacing {
        self.pacing
    }

    /// Changes the pacing (benchmarks and tests compare settings).
    pub fn set_pacing(&mut self, p: Pacing) {
        self.pacing = p;
    }

    /// The next session slot a sweep visits (a benchmark watches which
    /// slots each call covered).
    pub fn session_cursor(&self) -> usize {
        self.session_cursor
    }

    /// Visits `steps` slots of each table from its cursor.
    fn run(&mut self, now: Instant, steps: Steps) -> Scan {
        let nat = self.nat.clone();
        let mut scan = self.scan_sessions(now, steps.sessions, steps.max_expired);
        let s = &mut scan.stats;

        let mn = nat.mappings.slots();
        nat.mappings.clean(self.mapping_cursor, steps.mappings);
        self.mapping_cursor = (self.mapping_cursor + steps.mappings) % mn;

        let nb = nat.pool.block_count();
        for k in 0..steps.blocks {
            let b = (self.block_cursor + k) % nb;
            let info = nat.pool.block_info(b);
            if info.state == BlockState::Allocated && info.mappings == 0 {
                s.add(self.release_block(b, Reason::Idle, now));
            }
        }
        self.block_cursor = (self.block_cursor + steps.blocks) % nb.max(1);

        let ns = nat.subscribers.slots();
        for k in 0..steps.subscribers {
            let i = (self.subscriber_cursor + k) % ns;
            if let Some(e) = nat.subscribers.entry(i as u32) {
                if e.sessions == 0 && e.blocks == 0 && !e.pinned && nat.subscribers.try_remove(&e) {
                    s.subscribers_removed += 1;
                }
            }
        }
        nat.subscribers.clean(self.subscriber_cursor, steps.subscribers);
        self.subscriber_cursor = (self.subscriber_cursor + steps.subscribers) % ns;
        self.fill_alerts(now);
        scan
    }

    /// Visits up to `count` session slots from the cursor, removing the
    /// expired sessions; stops early after `max_expired` removals.
    fn scan_sessions(&mut self, now: Instant, count: usize, max_expired: usize) -> Scan {
        let nat = self.nat.clone();
        let n = nat.sessions.slots();
        let start = self.session_cursor;
        let mut scan = Scan::default();
        while scan.visited < count && (scan.stats.sessions_expired as usize) < max_expired {
            let i = (start + scan.visited) % n;
            scan.visited += 1;
            if let Some(e) = nat.sessions.entry(i as u32) {
                scan.live += 1;
                if self.is_expired(&e, now) {
                    scan.stats.add(self.expire(&e));
                }
            }
        }
        nat.sessions.clean(start, scan.visited);
        self.session_cursor = (start + scan.visited) % n;
        scan
    }

    /// Sweeps every slot once.
    pub fn sweep_all(&mut self, now: Instant) -> SweepStats {
        let n = self
            .nat
            .sessions
            .slots()
            .max(self.nat.subscribers.slots() * 4)
            .max(self.nat.pool.block_count() as usize * 4);
        self.sweep(now, n)
    }

    /// Logs a `TableFillAlert` when a table crosses 80% full (re-armed
    /// below 75%).
    fn fill_alerts(&mut self, now: Instant) {
        let nat = self.nat.clone();
        let fills = [
            (nat.subscribers.len(), nat.subscribers.capacity()),
            (nat.sessions.len(), nat.sessions.capacity()),
            (nat.mappings.len(), nat.mappings.capacity()),
        ];
        for (i, (len, cap)) in fills.into_iter().enumerate() {
            let pct = (len as u64 * 100 / cap.max(1) as u64) as u32;
            if pct >= 80 && !self.alerted[i] {
                let e = Event {
                    seq: 0,
                    worker: MANAGEMENT_WORKER,
                    time: now,
                    kind: EventKind::TableFillAlert,
                    subscriber: Ipv4Addr::UNSPECIFIED,
                    public_addr: Ipv4Addr::UNSPECIFIED,
                    first_port: 0,
                    last_port: 0,
                    protocol: ProtocolScope::All,
                    reason: Reason::Limit,
                    aux: ((i as u64 + 1) << 16) | pct as u64,
                };
                self.alerted[i] = self.seq.emit(&mut self.sink, e);
            } else if pct < 75 {
                self.alerted[i] = false;
            }
        }
    }

    /// Removes every session matching `pred`, drops the PCP holds
    /// (decision 017) on the ports of `blocks` that `ports` accepts, then
    /// releases the blocks left empty among `blocks` with `reason`.
    fn clear_where(
        &mut self,
        now: Instant,
        reason: Reason,
        pred: impl Fn(&SessionEntry) -> bool,
        blocks: impl Fn(&BlockStateView) -> bool,
        ports: impl Fn(u16) -> bool,
    ) -> SweepStats {
        let mut s = SweepStats::default();
        let nat = self.nat.clone();
        for i in 0..nat.sessions.slots() {
            if let Some(e) = nat.sessions.entry(i as u32) {
                if pred(&e) {
                    s.add(self.expire(&e));
                }
            }
        }
        for b in 0..nat.pool.block_count() {
            let info = nat.pool.block_info(b);
            let v = BlockStateView {
                owner: u32::from(info.owner_addr),
                public: u32::from(info.public_addr),
                first_port: info.first_port,
                last_port: info.last_port,
            };
            if info.state == BlockState::Allocated && blocks(&v) {
                // With its sessions gone, a block still holding mappings
                // holds them for PCP.
                if info.mappings > 0 {
                    drop_pcp_holds(&nat, b, v.owner, &ports);
                }
                s.add(self.release_block(b, reason, now));
            }
        }
        s
    }

    /// `cgnatctl clear --subscriber`: removes every session of one
    /// subscriber and releases its blocks (logged with reason `cleared`).
    pub fn clear_subscriber(&mut self, subscriber: Ipv4Addr, now: Instant) -> SweepStats {
        let a = u32::from(subscriber);
        self.clear_where(now, Reason::Cleared, |e| e.key.inside_addr == a, |b| b.owner == a, |_| true)
    }

    /// `cgnatctl clear --public IP:PORT`: removes the sessions using one
    /// public address:port, and releases its block if that left it empty.
    pub fn clear_public(&mut self, public: Ipv4Addr, port: u16, now: Instant) -> SweepStats {
        let nat = self.nat.clone();
        let Some(pool_index) = nat.pool.index_of(u32::from(public)) else {
            return SweepStats::default();
        };
        let p = u32::from(public);
        self.clear_where(
            now,
            Reason::Cleared,
            |e| e.pool_index == pool_index && e.value.public_port() == port,
            |b| b.public == p && b.first_port <= port && port <= b.last_port,
            |q| q == port,
        )
    }

    /// `cgnatctl clear --all --yes`: removes every session and releases
    /// every block (reason `cleared`).
    pub fn clear_all(&mut self, now: Instant) -> SweepStats {
        self.clear_where(now, Reason::Cleared, |_| true, |_| true, |_| true)
    }

    /// Clean shutdown: removes every session and releases every block with
    /// reason `shutdown`, and logs the release of every static mapping, so
    /// the log closes every open block.
    pub fn shutdown(&mut self, now: Instant) -> SweepStats {
        self.end_run(now, Reason::Shutdown)
    }

    /// The end of a run with `reason` (a shutdown, or an HA node giving up
    /// the active role: `ha-switchover`): as [`Sweeper::shutdown`].
    pub fn end_run(&mut self, now: Instant, reason: Reason) -> SweepStats {
        let s = self.clear_where(now, reason, |_| true, |_| true, |_| true);
        // The static mappings' release records (their allocation records
        // were logged at start).
        for e in self.nat.shutdown_events(now) {
            self.seq.emit(&mut self.sink, e);
        }
        s
    }
}

/// Drops the PCP holds on the ports of `block` (owned by `owner`) that
/// `ports` accepts: each port is freed with its mapping's last session
/// (here, with none left, at once).
fn drop_pcp_holds(nat: &Nat, block: u32, owner: u32, ports: &impl Fn(u16) -> bool) {
    let (first, last) = nat.pool.block_ports(block);
    let pool_index = nat.pool.block_address(block);
    for port in (first..=last).filter(|p| ports(*p)) {
        for protocol in [Protocol::Tcp, Protocol::Udp] {
            let entry = nat.pool.port(protocol, block, port);
            let Some((inside_port, _)) = entry.mapping() else { continue };
            if entry.unmark_pcp(inside_port) {
                let key = MappingKey {
                    protocol,
                    inside_addr: owner,
                    inside_port,
                };
                release_mapping_ref(nat, &key, pool_index, port, false);
            }
        }
    }
}

/// What `clear_where`'s block filter sees.
struct BlockStateView {
    owner: u32,
    public: u32,
    first_port: u16,
    last_port: u16,
}
