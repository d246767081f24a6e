//! The management core's end of an HA pair (issue 13): a UDP socket on the
//! sync link, the election, and the sync stream of the NAT log's block
//! records with their log identity. The workers are not involved: block
//! records reach the management core through the event rings already,
//! and the sync rides on the records the log wrote (a block is streamed
//! only once its allocation record is numbered, so the standby never
//! mirrors a block the legal record does not have).
//!
//! One tick reads every datagram waiting (bounded), feeds the election and
//! the stream, sends the heartbeat when due and what the window allows.
//! Nothing here blocks: the socket is non-blocking and a full socket
//! buffer counts a send error (the stream's retransmission covers it).

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::sync::Arc;

use cgnat_core::config::HaConfig;
use cgnat_core::control::HaStatus;
use cgnat_core::event::EventKind;
use cgnat_core::ha::{Accept, Election, ElectionSettings, MirrorState, SenderLimits, Stamp, SyncReceiver, SyncSender, Transition};
use cgnat_core::natlog::LogRecord;
use cgnat_core::wire::ha::{BlockRecord, Header, Kind, Message, Record, Role, SessionRecord, FLAG_IN_SYNC, FLAG_PREEMPT, MAX_DATAGRAM};
use cgnat_core::Instant;
use parking_lot::Mutex;

mod exposition;
mod mirror;

pub use exposition::render_ha;
pub use mirror::{session_id, Mirror, SessionId};

/// Data datagrams sent per tick at most: 64 × 1.4 kB per 1–2 ms tick is
/// 45–90 MB/s, far above any session rate, and a bulk sync or a resend of
/// the whole window does not overrun the socket's send buffer in one tick
/// (a datagram the kernel refused would only be sent again).
const SEND_PER_TICK: usize = 64;

/// Datagrams read per tick at most (the rest wait for the next tick).
const RECV_PER_TICK: usize = 512;

/// What the node counted (besides the stream's own counters).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct LinkCounters {
    /// Datagrams sent.
    pub sent: u64,
    /// Datagrams received from the peer and valid.
    pub received: u64,
    /// Datagrams refused: not from the peer's address.
    pub foreign: u64,
    /// Datagrams refused: malformed (the codec's checks).
    pub malformed: u64,
    /// Sends that failed (socket buffer full, link down).
    pub send_errors: u64,
    /// UDP payload bytes sent.
    pub bytes_sent: u64,
    /// UDP payload bytes received from the peer (valid datagrams).
    pub bytes_received: u64,
}

/// A mirrored session's idle timeout on the active (its protocol's, for
/// TCP its state's: RFC 5382 REQ-5), seconds.
fn idle_timeout(r: &SessionRecord, t: &cgnat_core::config::Timeouts) -> u32 {
    match r.protocol {
        6 => cgnat_core::tcp_state::timeout(r.state, r.flags & cgnat_core::wire::ha::SESSION_TWO_WAY != 0, t),
        1 => t.icmp,
        _ => t.udp,
    }
}

/// The sync-stream record of a block log record.
pub fn block_record(r: &LogRecord) -> Option<Record> {
    let b = BlockRecord {
        subscriber: r.subscriber,
        public: r.public_addr,
        first_port: r.first_port,
        last_port: r.last_port,
        allocated_us: r.time.as_micros(),
        log_seq: r.seq,
    };
    match r.event {
        EventKind::BlockAllocated => Some(Record::BlockAllocated(b)),
        EventKind::BlockReleased => Some(Record::BlockReleased(b)),
        _ => None,
    }
}

/// What the last takeover adopted (for `cgnatctl ha` and the metrics).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct Adoption {
    /// Blocks adopted.
    pub blocks: u64,
    /// Sessions adopted.
    pub sessions: u64,
    /// Blocks or sessions that could not be.
    pub failures: u64,
    /// How long it took, microseconds.
    pub micros: u64,
}

/// One node of the pair.
pub struct HaNode {
    cfg: HaConfig,
    socket: UdpSocket,
    peer: SocketAddrV4,
    election: Election,
    sender: SyncSender,
    receiver: SyncReceiver,
    mirror: Mirror,
    counters: LinkCounters,
    last_heartbeat: Option<Instant>,
    buf: Vec<u8>,
    out: Vec<u8>,
    status: Arc<Mutex<HaStatus>>,
    limits: SenderLimits,
    adoption: Adoption,
    incarnation_base: u64,
    generation: u64,
    /// The NAT's idle timeouts: the mirror keeps a session not restated
    /// for its timeout plus two refresh periods.
    timeouts: cgnat_core::config::Timeouts,
}

impl HaNode {
    /// Binds the sync socket on `ha.local_address:ha.sync_port`; `run` is
    /// this process's run id (the stream's incarnation); `timeouts` the
    /// NAT's idle timeouts (for how long the mirror keeps a session).
    pub fn bind(cfg: &HaConfig, run: u64, timeouts: &cgnat_core::config::Timeouts, now: Instant) -> io::Result<HaNode> {
        let local = SocketAddrV4::new(cfg.local_address, cfg.sync_port);
        let socket = UdpSocket::bind(local).map_err(|e| io::Error::new(e.kind(), format!("ha: bind the sync socket {local}: {e}")))?;
        socket.set_nonblocking(true)?;
        let election = Election::new(
            ElectionSettings {
                priority: cfg.priority,
                address: cfg.local_address,
                peer_address: cfg.peer_address,
                dead_us: cfg.dead_ms as u64 * 1000,
                preempt: cfg.preempt,
            },
            now,
        );
        let limits = SenderLimits {
            window: cfg.window as usize,
            batch: cfg.batch_records as usize,
            max_queue: cfg.window as usize * cfg.batch_records as usize * 4,
            retransmit_us: cfg.retransmit_ms as u64 * 1000,
        };
        let status = Arc::new(Mutex::new(HaStatus::default()));
        Ok(HaNode {
            cfg: cfg.clone(),
            socket,
            peer: SocketAddrV4::new(cfg.peer_address, cfg.sync_port),
            election,
            sender: SyncSender::new(run, limits),
            receiver: SyncReceiver::new(cfg.retransmit_ms as u64 * 1000),
            mirror: Mirror::default(),
            counters: LinkCounters::default(),
            last_heartbeat: None,
            buf: vec![0; 2048],
            out: Vec::with_capacity(MAX_DATAGRAM),
            status,
            limits,
            adoption: Adoption::default(),
            incarnation_base: run,
            generation: 0,
            timeouts: timeouts.clone(),
        })
    }

    /// The status the control socket and the metrics read.
    pub fn status(&self) -> Arc<Mutex<HaStatus>> {
        self.status.clone()
    }

    /// This node's role.
    pub fn role(&self) -> Role {
        self.election.role()
    }

    /// The standby's mirror.
    pub fn mirror(&self) -> &Mirror {
        &self.mirror
    }

    fn stamp(&self) -> Stamp {
        let mut flags = 0;
        if self.receiver.state() == MirrorState::InSync {
            flags |= FLAG_IN_SYNC;
        }
        if self.cfg.preempt {
            flags |= FLAG_PREEMPT;
        }
        Stamp {
            role: self.election.role(),
            priority: self.cfg.priority,
            ack: self.receiver.ack(),
            flags,
        }
    }

    fn send_out(&mut self) {
        match self.socket.send_to(&self.out, self.peer) {
            Ok(n) => {
                self.counters.sent += 1;
                self.counters.bytes_sent += n as u64;
            }
            Err(_) => self.counters.send_errors += 1,
        }
    }

    fn send_control(&mut self, kind: Kind, sequence: u64) {
        let s = self.stamp();
        let h = Header {
            kind,
            incarnation: self.incarnation(),
            sequence,
            role: s.role,
            priority: s.priority,
            flags: s.flags,
            ack: s.ack,
        };
        let mut out = std::mem::take(&mut self.out);
        let _ = h.emit(&[], &mut out);
        self.out = out;
        self.send_out();
    }

    fn incarnation(&self) -> u64 {
        self.sender.incarnation()
    }

    /// One tick at `now`. `written` holds the block records the log wrote
    /// since the last tick and `sessions` the session records (created,
    /// restated, ended) since (both emptied); `snapshot` gives every record of the state for
    /// a bulk sync. Returns the role change, if any, for the caller to act
    /// on; after a change to standby no heartbeat goes out in this tick
    /// (the caller ends its run first, then the handover may be sent).
    pub fn tick(
        &mut self,
        now: Instant,
        written: &mut Vec<LogRecord>,
        sessions: &mut Vec<Record>,
        snapshot: impl FnOnce() -> Vec<Record>,
    ) -> Option<Transition> {
        let mut change = None;
        let mut applied = false;
        for _ in 0..RECV_PER_TICK {
            let (n, from) = match self.socket.recv_from(&mut self.buf) {
                Ok(x) => x,
                Err(_) => break,
            };
            if from.ip() != std::net::IpAddr::V4(*self.peer.ip()) {
                self.counters.foreign += 1;
                continue;
            }
            let Ok(m) = Message::new_checked(&self.buf[..n]) else {
                self.counters.malformed += 1;
                continue;
            };
            let records: Result<Vec<Record>, _> = (0..m.count()).map(|i| m.record(i)).collect();
            let Ok(records) = records else {
                self.counters.malformed += 1;
                continue;
            };
            self.counters.received += 1;
            self.counters.bytes_received += n as u64;
            let h = Header::parse(&m);
            self.receiver.on_peer_incarnation(h.incarnation);
            if let Some(t) = self.election.on_peer(now, &h) {
                change = Some(t);
            }
            match h.kind {
                Kind::Data if self.election.role() != Role::Active => match self.receiver.on_data(&h) {
                    Accept::Apply { clear_first } => {
                        applied = true;
                        if clear_first {
                            self.mirror = Mirror::default();
                        }
                        for r in &records {
                            self.mirror.apply(r, now);
                        }
                    }
                    Accept::Duplicate | Accept::Discard => {}
                },
                Kind::Resync if self.election.role() == Role::Active => self.sender.on_resync(h.sequence),
                _ => {}
            }
            if self.election.role() == Role::Active {
                self.sender.on_ack(h.ack);
            }
        }
        if let Some(t) = self.election.tick(now) {
            change = Some(t);
        }
        match change {
            Some(Transition::Standby) => {
                // A fresh mirror from the (new) active.
                self.mirror = Mirror::default();
                self.receiver.reset();
            }
            Some(Transition::Active { .. }) => self.receiver.reset(),
            None => {}
        }
        let became_active = matches!(change, Some(Transition::Active { .. }));
        if self.election.role() == Role::Active && !became_active {
            for r in written.drain(..) {
                if let Some(rec) = block_record(&r) {
                    self.sender.push(rec);
                }
            }
            for r in sessions.drain(..) {
                self.sender.push(r);
            }
            // Data only to a live peer: to a dead one it would be resent
            // without end, and a bulk snapshot would be taken for nobody.
            // Changes meanwhile pile up until the queue overflows, which
            // asks for the bulk sync the returning peer gets anyway.
            let peer_alive = self.election.peer_role(now).is_some();
            if peer_alive && self.sender.needs_bulk() {
                self.sender.start_bulk(snapshot());
            }
            let stamp = self.stamp();
            let mut out = std::mem::take(&mut self.out);
            for _ in 0..if peer_alive { SEND_PER_TICK } else { 0 } {
                if !self.sender.poll_transmit(now, stamp, &mut out) {
                    break;
                }
                std::mem::swap(&mut self.out, &mut out);
                self.send_out();
                std::mem::swap(&mut self.out, &mut out);
            }
            self.out = out;
        } else {
            written.clear();
            sessions.clear();
            let (t, slack) = (&self.timeouts, self.cfg.refresh_secs as u64 * 2);
            self.mirror.prune(now, |r| (u64::from(idle_timeout(r, t)) + slack) * 1_000_000);
            if self.election.role() == Role::Standby {
                if let Some(from) = self.receiver.poll_request(now) {
                    self.send_control(Kind::Resync, from);
                }
            }
        }
        let yielded = matches!(change, Some(Transition::Standby));
        // A node that just became active says so at once (before its run
        // starts), so that the peer hears an active peer.
        let due = became_active
            || !yielded
                && self
                    .last_heartbeat
                    .is_none_or(|t| now.as_micros().saturating_sub(t.as_micros()) >= self.cfg.heartbeat_ms as u64 * 1000);
        // The standby acknowledges what it applied in this tick at once (not
        // with the next heartbeat), so the active resends nothing needlessly.
        if due || (applied && !yielded) {
            self.last_heartbeat = Some(now);
            self.send_control(self.election.heartbeat_kind(), 0);
        }
        self.publish(now);
        change
    }

    /// A planned switchover (`cgnatctl ha switchover`) or a preempting
    /// peer: only on the active with a live, in-sync standby. This node
    /// turns standby at once; the caller ends its run, then calls
    /// [`HaNode::send_handover`].
    pub fn yield_role(&mut self, now: Instant) -> Result<Transition, String> {
        let t = self.election.switchover(now).map_err(str::to_string)?;
        self.mirror = Mirror::default();
        self.receiver.reset();
        self.publish(now);
        Ok(t)
    }

    /// Sends the handover now (after the caller ended its run: the peer's
    /// run starts after this one's last record).
    pub fn send_handover(&mut self) {
        self.send_control(self.election.heartbeat_kind(), 0);
    }

    /// The peer answered on the inside segment at `at` (split-brain
    /// guard: it is alive although the sync link is silent).
    pub fn on_segment_seen(&mut self, at: Instant) {
        self.election.on_segment_seen(at);
    }

    /// Whether the inside segment should be probed for the peer now.
    pub fn wants_probe(&self, now: Instant) -> bool {
        self.election.probing(now)
    }

    /// Whether a planned switchover may start now.
    pub fn can_switchover(&self, now: Instant) -> Result<(), String> {
        self.election.can_switchover(now).map_err(str::to_string)
    }

    /// Whether a preempting peer wants the role; cleared by the call.
    pub fn take_preempt(&mut self) -> bool {
        self.election.take_preempt()
    }

    /// Sync records not yet acknowledged by the standby (or not yet sent).
    pub fn backlog(&self) -> usize {
        self.sender.backlog()
    }

    /// Whether the addresses must be announced again (this node stayed
    /// active when two were); cleared by the call.
    pub fn take_reannounce(&mut self) -> bool {
        self.election.take_reannounce()
    }

    /// Asks for a bulk sync of the standby (a worker's sync ring overflowed).
    pub fn request_bulk(&mut self) {
        self.sender.request_bulk();
    }

    /// Starts a new sync stream as the active under a new incarnation
    /// (`base + generation`, never reused by this process, so the standby
    /// cannot take the new stream's first sequences for the old one's):
    /// the standby gets a bulk sync of the new state.
    pub fn restart_stream(&mut self) {
        self.generation += 1;
        self.sender = SyncSender::new(self.incarnation_base.wrapping_add(self.generation), self.limits);
    }

    /// The peer's run id as its stream said (its incarnation), if heard.
    pub fn peer_run(&self) -> Option<u64> {
        self.mirror.cursor.map(|c| c.0)
    }

    /// The peer's sync address.
    pub fn peer_address(&self) -> Ipv4Addr {
        self.cfg.peer_address
    }

    /// Records what the last takeover adopted; the mirror is emptied (the
    /// state is the node's own now).
    pub fn adopted(&mut self, a: Adoption, now: Instant) {
        self.adoption = a;
        self.mirror = Mirror::default();
        self.publish(now);
    }

    fn publish(&self, now: Instant) {
        let tx = self.sender.stats();
        let rx = self.receiver.stats();
        let mut s = self.status.lock();
        *s = HaStatus {
            enabled: true,
            role: self.election.role().name().into(),
            local: self.cfg.local_address,
            peer: self.cfg.peer_address,
            priority: self.cfg.priority,
            preempt: self.cfg.preempt,
            peer_role: self.election.peer_role(now).map(|r| r.name().to_string()),
            peer_silence_ms: self.election.peer_silence_us(now).map(|u| u / 1000),
            peer_on_segment: self.election.segment_alive(now),
            mirror: self.receiver.state().name().into(),
            mirrored_blocks: self.mirror.blocks.len() as u64,
            mirrored_sessions: self.mirror.sessions.len() as u64,
            adopted_blocks: self.adoption.blocks,
            adopted_sessions: self.adoption.sessions,
            adopt_failures: self.adoption.failures,
            adopt_us: self.adoption.micros,
            sync_lag_ms: self.sender.lag_us(now) / 1000,
            backlog: self.sender.backlog() as u64,
            transitions: self.election.transitions(),
            datagrams_sent: self.counters.sent,
            datagrams_received: self.counters.received,
            malformed: self.counters.malformed,
            foreign: self.counters.foreign,
            send_errors: self.counters.send_errors,
            bytes_sent: self.counters.bytes_sent,
            bytes_received: self.counters.bytes_received,
            records_sent: tx.records,
            retransmits: tx.retransmits,
            bulk_syncs_sent: tx.bulk_syncs,
            overflows: tx.overflows,
            gaps: rx.gaps,
            resync_requests: rx.resync_requests,
            bulk_syncs_received: rx.bulk_syncs,
            peer_restarts: rx.peer_restarts,
        };
    }
}

#[cfg(test)]
mod tests;
