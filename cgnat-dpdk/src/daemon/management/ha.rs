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

use std::collections::BTreeMap;
use std::io;
use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::sync::Arc;

use cgnat_core::config::HaConfig;
use cgnat_core::control::HaStatus;
use cgnat_core::event::EventKind;
use cgnat_core::ha::{Accept, Election, ElectionSettings, MirrorState, SenderLimits, Stamp, SyncReceiver, SyncSender, Transition};
use cgnat_core::natlog::LogRecord;
use cgnat_core::wire::ha::{BlockRecord, Header, Kind, Message, Record, Role, FLAG_IN_SYNC, FLAG_PREEMPT, MAX_DATAGRAM};
use cgnat_core::Instant;
use parking_lot::Mutex;

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
}

/// The standby's copy of the active's blocks and log position.
#[derive(Clone, Debug, Default)]
pub struct Mirror {
    /// Blocks held by the active, by (public address, first port).
    pub blocks: BTreeMap<(Ipv4Addr, u16), BlockRecord>,
    /// The active's run and next log sequence number.
    pub cursor: Option<(u64, u64)>,
}

impl Mirror {
    fn apply(&mut self, r: &Record) {
        match r {
            Record::BlockAllocated(b) => {
                self.blocks.insert((b.public, b.first_port), *b);
            }
            Record::BlockReleased(b) => {
                self.blocks.remove(&(b.public, b.first_port));
            }
            Record::LogCursor { run, next_seq } => self.cursor = Some((*run, *next_seq)),
            // Sessions are not streamed yet (issue 13: see the closing note).
            Record::SessionUp(_) | Record::SessionDown(_) => {}
        }
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
}

impl HaNode {
    /// Binds the sync socket on `ha.local_address:ha.sync_port`; `run` is
    /// this process's run id (the stream's incarnation).
    pub fn bind(cfg: &HaConfig, run: u64, now: Instant) -> io::Result<HaNode> {
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
            Ok(_) => self.counters.sent += 1,
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
    /// since the last tick (emptied); `snapshot` gives the held blocks and
    /// the next log sequence for a bulk sync. Returns the role change, if
    /// any, for the caller to act on.
    pub fn tick(
        &mut self,
        now: Instant,
        written: &mut Vec<LogRecord>,
        snapshot: impl FnOnce() -> (Vec<LogRecord>, u64, u64),
    ) -> Option<Transition> {
        let mut change = None;
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
            let h = Header::parse(&m);
            self.receiver.on_peer_incarnation(h.incarnation);
            if let Some(t) = self.election.on_peer(now, &h) {
                change = Some(t);
            }
            match h.kind {
                Kind::Data if self.election.role() != Role::Active => match self.receiver.on_data(&h) {
                    Accept::Apply { clear_first } => {
                        if clear_first {
                            self.mirror = Mirror::default();
                        }
                        for r in &records {
                            self.mirror.apply(r);
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
        if self.election.role() == Role::Active {
            for r in written.drain(..) {
                if let Some(rec) = block_record(&r) {
                    self.sender.push(rec);
                }
            }
            if self.sender.needs_bulk() {
                let (held, run, next_seq) = snapshot();
                let mut v: Vec<Record> = held.iter().filter_map(block_record).collect();
                v.push(Record::LogCursor { run, next_seq });
                self.sender.start_bulk(v);
            }
            let stamp = self.stamp();
            let mut out = std::mem::take(&mut self.out);
            for _ in 0..self.cfg.window {
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
            if self.election.role() == Role::Standby {
                if let Some(from) = self.receiver.poll_request(now) {
                    self.send_control(Kind::Resync, from);
                }
            }
        }
        let due = self
            .last_heartbeat
            .is_none_or(|t| now.as_micros().saturating_sub(t.as_micros()) >= self.cfg.heartbeat_ms as u64 * 1000);
        if due {
            self.last_heartbeat = Some(now);
            self.send_control(self.election.heartbeat_kind(), 0);
        }
        self.publish(now);
        change
    }

    /// A planned switchover (`cgnatctl ha switchover`): only on the active
    /// with an in-sync standby; the handover is sent at once.
    pub fn switchover(&mut self, now: Instant) -> Result<Transition, String> {
        let t = self.election.switchover(now).map_err(str::to_string)?;
        self.mirror = Mirror::default();
        self.receiver.reset();
        self.send_control(Kind::Handover, 0);
        self.publish(now);
        Ok(t)
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
            mirror: self.receiver.state().name().into(),
            mirrored_blocks: self.mirror.blocks.len() as u64,
            sync_lag_ms: self.sender.lag_us(now) / 1000,
            backlog: self.sender.backlog() as u64,
            transitions: self.election.transitions(),
            datagrams_sent: self.counters.sent,
            datagrams_received: self.counters.received,
            malformed: self.counters.malformed,
            foreign: self.counters.foreign,
            send_errors: self.counters.send_errors,
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

/// The HA metrics (docs/metrics.md): role, peer, lag and the stream's
/// counters; only `cgnat_ha_enabled` on a single node.
pub fn render_ha(x: &mut super::exposition::Exposition, s: &HaStatus) {
    x.sample(
        "cgnat_ha_enabled",
        "gauge",
        "1 when this node is part of an HA pair.",
        "",
        u8::from(s.enabled),
    );
    if !s.enabled {
        return;
    }
    for role in ["init", "standby", "active"] {
        x.sample(
            "cgnat_ha_role",
            "gauge",
            "1 for this node's current HA role.",
            &format!("role=\"{role}\""),
            u8::from(s.role == role),
        );
    }
    x.sample(
        "cgnat_ha_peer_alive",
        "gauge",
        "1 while the peer is heard within ha.dead_ms.",
        "",
        u8::from(s.peer_role.is_some()),
    );
    x.sample(
        "cgnat_ha_in_sync",
        "gauge",
        "1 while this node's mirror of the active is complete (standby).",
        "",
        u8::from(s.mirror == "in-sync"),
    );
    x.sample(
        "cgnat_ha_role_changes_total",
        "counter",
        "HA role changes since start.",
        "",
        s.transitions,
    );
    x.sample(
        "cgnat_ha_sync_lag_seconds",
        "gauge",
        "Age of the oldest unacknowledged sync datagram (active).",
        "",
        s.sync_lag_ms as f64 / 1000.0,
    );
    x.sample(
        "cgnat_ha_sync_backlog_records",
        "gauge",
        "Sync records queued or unacknowledged (active).",
        "",
        s.backlog,
    );
    x.sample(
        "cgnat_ha_mirrored_blocks",
        "gauge",
        "Blocks in the standby's mirror.",
        "",
        s.mirrored_blocks,
    );
    let counters = [
        ("sent", s.datagrams_sent),
        ("received", s.datagrams_received),
        ("malformed", s.malformed),
        ("foreign", s.foreign),
        ("send_error", s.send_errors),
        ("retransmit", s.retransmits),
    ];
    for (what, n) in counters {
        x.sample(
            "cgnat_ha_datagrams_total",
            "counter",
            "Sync link datagrams, by what happened to them.",
            &format!("event=\"{what}\""),
            n,
        );
    }
    x.sample(
        "cgnat_ha_records_sent_total",
        "counter",
        "Sync records streamed (first transmissions).",
        "",
        s.records_sent,
    );
    let events = [
        ("bulk_sync_sent", s.bulk_syncs_sent),
        ("bulk_sync_received", s.bulk_syncs_received),
        ("overflow", s.overflows),
        ("gap", s.gaps),
        ("resync_request", s.resync_requests),
        ("peer_restart", s.peer_restarts),
    ];
    for (what, n) in events {
        x.sample(
            "cgnat_ha_stream_events_total",
            "counter",
            "Sync stream events: bulk syncs, overflows, gaps, resync requests, peer restarts.",
            &format!("event=\"{what}\""),
            n,
        );
    }
}

#[cfg(test)]
mod tests {
    //! Two nodes over real UDP sockets on loopback (127.0.0.1 and
    //! 127.0.0.2, ports of their own), driven by a simulated clock: the
    //! election, the block stream, a takeover after the active stops, the
    //! failed node's return as standby with a bulk sync, and a planned
    //! switchover back.
    use super::*;
    use cgnat_core::event::{ProtocolScope, Reason};

    fn cfg(me: u8, peer: u8, priority: u8, port: u16) -> HaConfig {
        HaConfig {
            enabled: true,
            local_address: Ipv4Addr::new(127, 0, 0, me),
            peer_address: Ipv4Addr::new(127, 0, 0, peer),
            sync_port: port,
            priority,
            ..HaConfig::default()
        }
    }

    fn rec(seq: u64, event: EventKind, sub: u8, port: u16) -> LogRecord {
        LogRecord {
            seq,
            time: Instant::from_micros(1_000_000 + seq),
            event,
            subscriber: Ipv4Addr::new(100, 64, 0, sub),
            public_addr: Ipv4Addr::new(203, 0, 113, 1),
            first_port: port,
            last_port: port + 255,
            protocol: ProtocolScope::All,
            reason: Reason::NewMapping,
            producer: 0,
            producer_seq: seq,
            aux: 0,
            run: 5,
        }
    }

    /// The active side's log as the node sees it: held blocks and records.
    #[derive(Default)]
    struct Log {
        held: BTreeMap<u16, LogRecord>,
        written: Vec<LogRecord>,
        next: u64,
    }

    impl Log {
        fn alloc(&mut self, sub: u8, port: u16) {
            let r = rec(self.next, EventKind::BlockAllocated, sub, port);
            self.next += 1;
            self.held.insert(port, r);
            self.written.push(r);
        }
        fn snapshot(&self) -> (Vec<LogRecord>, u64, u64) {
            (self.held.values().copied().collect(), 5, self.next)
        }
    }

    fn step(nodes: &mut [(&mut HaNode, &mut Log)], ms: u64) -> Vec<Option<Transition>> {
        nodes
            .iter_mut()
            .map(|(n, l)| {
                let snap = l.snapshot();
                n.tick(Instant::from_micros(ms * 1000), &mut l.written, || snap)
            })
            .collect()
    }

    #[test]
    fn a_pair_elects_streams_takes_over_rejoins_and_switches_back() {
        let port = 40_000 + (std::process::id() % 20_000) as u16;
        let t0 = Instant::from_micros(0);
        let mut a = HaNode::bind(&cfg(1, 2, 200, port), 11, t0).expect("bind 127.0.0.1");
        let mut b = HaNode::bind(&cfg(2, 1, 100, port), 22, t0).expect("bind 127.0.0.2");
        let (mut la, mut lb) = (Log::default(), Log::default());
        let mut ms = 0;
        while ms < 1000 {
            ms += 10;
            step(&mut [(&mut a, &mut la), (&mut b, &mut lb)], ms);
        }
        assert_eq!((a.role(), b.role()), (Role::Active, Role::Standby), "the higher priority is active");
        assert_eq!(b.status().lock().mirror, "in-sync");
        for i in 0..100u16 {
            la.alloc(i as u8, 1024 + i * 256);
        }
        for _ in 0..20 {
            ms += 10;
            step(&mut [(&mut a, &mut la), (&mut b, &mut lb)], ms);
        }
        assert_eq!(b.mirror().blocks.len(), 100, "every block reached the standby");
        assert_eq!(b.mirror().cursor, Some((5, 0)), "the cursor of the bulk sync");
        let lag = a.status().lock().sync_lag_ms;
        assert_eq!(lag, 0, "everything acknowledged");

        // The active is killed: it stops ticking and its socket closes.
        drop(a);
        let killed = ms;
        let mut took = None;
        while took.is_none() && ms < killed + 2000 {
            ms += 10;
            took = step(&mut [(&mut b, &mut lb)], ms)[0];
        }
        assert_eq!(took, Some(Transition::Active { takeover: true }));
        assert!(ms - killed <= 500 + 20, "takeover {} ms after the last heartbeat", ms - killed);
        // The new active holds the mirrored blocks as its own (what the
        // daemon installs on takeover); its log knows them.
        for b_ in b.mirror().blocks.values() {
            let r = rec(b_.log_seq, EventKind::BlockAllocated, b_.subscriber.octets()[3], b_.first_port);
            lb.held.insert(r.first_port, r);
        }
        lb.next = 100;

        // The failed node restarts (new run id) and rejoins as standby.
        let mut a = HaNode::bind(&cfg(1, 2, 200, port), 33, Instant::from_micros(ms * 1000)).expect("rebind");
        la = Log::default();
        let rejoin = ms;
        while ms < rejoin + 1500 {
            ms += 10;
            step(&mut [(&mut a, &mut la), (&mut b, &mut lb)], ms);
        }
        assert_eq!(
            (a.role(), b.role()),
            (Role::Standby, Role::Active),
            "no preempt: the recovered node stays standby"
        );
        assert_eq!(a.mirror().blocks.len(), 100, "bulk-synced on rejoin");
        assert!(a.status().lock().bulk_syncs_received >= 1);

        // Planned switchover back to a.
        assert!(
            a.switchover(Instant::from_micros(ms * 1000)).is_err(),
            "only the active can hand over"
        );
        b.switchover(Instant::from_micros(ms * 1000))
            .expect("an in-sync standby takes the role");
        for _ in 0..5 {
            ms += 10;
            step(&mut [(&mut a, &mut la), (&mut b, &mut lb)], ms);
        }
        assert_eq!((a.role(), b.role()), (Role::Active, Role::Standby));
    }

    #[test]
    fn datagrams_from_elsewhere_or_malformed_are_counted_and_ignored() {
        let port = 40_000 + (std::process::id() % 20_000) as u16 + 1;
        let mut a = HaNode::bind(&cfg(3, 4, 100, port), 1, Instant::from_micros(0)).expect("bind");
        let stranger = UdpSocket::bind("127.0.0.5:0").unwrap();
        stranger
            .send_to(b"CGHA not really", "127.0.0.3:".to_string() + &port.to_string())
            .unwrap();
        let peer = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 4), 0)).unwrap();
        peer.send_to(b"CGHA\x01\x01 short", SocketAddrV4::new(Ipv4Addr::new(127, 0, 0, 3), port))
            .unwrap();
        let mut l = Log::default();
        step(&mut [(&mut a, &mut l)], 10);
        let s = a.status().lock().clone();
        assert_eq!((s.foreign, s.malformed, s.datagrams_received), (1, 1, 0));
        assert_eq!(a.role(), Role::Init, "nothing valid was heard");
    }
}
