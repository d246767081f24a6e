//! Two nodes over real UDP sockets on loopback (127.0.0.1 and
//! 127.0.0.2, ports of their own), driven by a simulated clock: the
//! election, the block stream, a takeover after the active stops, the
//! failed node's return as standby with a bulk sync, and a planned
//! switchover back.
use std::collections::BTreeMap;

use super::*;
use cgnat_core::config::Timeouts;
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
    sessions: Vec<Record>,
    live: Vec<SessionRecord>,
    next: u64,
}

impl Log {
    fn alloc(&mut self, sub: u8, port: u16) {
        let r = rec(self.next, EventKind::BlockAllocated, sub, port);
        self.next += 1;
        self.held.insert(port, r);
        self.written.push(r);
    }
    fn session(&mut self, sub: u8, port: u16) {
        let r = SessionRecord {
            protocol: 6,
            state: 3,
            flags: 0,
            subscriber: Ipv4Addr::new(100, 64, 0, sub),
            inside_port: 40_000,
            public: Ipv4Addr::new(203, 0, 113, 1),
            public_port: port,
            remote: Ipv4Addr::new(198, 51, 100, 1),
            remote_port: 443,
            last_seen_us: 0,
        };
        self.live.push(r);
        self.sessions.push(Record::SessionUp(r));
    }
    fn snapshot(&self) -> Vec<Record> {
        let mut v: Vec<Record> = self.held.values().filter_map(block_record).collect();
        v.extend(self.live.iter().map(|s| Record::SessionUp(*s)));
        v.push(Record::LogCursor {
            run: 5,
            next_seq: self.next,
        });
        v
    }
}

fn step(nodes: &mut [(&mut HaNode, &mut Log)], ms: u64) -> Vec<Option<Transition>> {
    nodes
        .iter_mut()
        .map(|(n, l)| {
            let snap = l.snapshot();
            n.tick(Instant::from_micros(ms * 1000), &mut l.written, &mut l.sessions, || snap)
        })
        .collect()
}

#[test]
fn a_pair_elects_streams_takes_over_rejoins_and_switches_back() {
    let port = 40_000 + (std::process::id() % 20_000) as u16;
    let t0 = Instant::from_micros(0);
    let mut a = HaNode::bind(&cfg(1, 2, 200, port), 11, &Timeouts::default(), t0).expect("bind 127.0.0.1");
    let mut b = HaNode::bind(&cfg(2, 1, 100, port), 22, &Timeouts::default(), t0).expect("bind 127.0.0.2");
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
        la.session(i as u8, 1024 + i * 256 + 7);
    }
    for _ in 0..20 {
        ms += 10;
        step(&mut [(&mut a, &mut la), (&mut b, &mut lb)], ms);
    }
    assert_eq!(b.mirror().blocks.len(), 100, "every block reached the standby");
    assert_eq!(b.mirror().sessions.len(), 100, "every session reached the standby");
    // Ten sessions end on the active (its sweeper): they leave the mirror.
    for r in la.live.drain(..10) {
        la.sessions.push(Record::SessionDown(r));
    }
    for _ in 0..5 {
        ms += 10;
        step(&mut [(&mut a, &mut la), (&mut b, &mut lb)], ms);
    }
    assert_eq!(b.mirror().sessions.len(), 90, "ended sessions left the mirror");
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
    b.restart_stream();
    // Alone, the new active sends heartbeats only: no data to a dead peer.
    let sent = b.status().lock().datagrams_sent;
    for i in 0..50u16 {
        lb.session(200, 30_000 + i);
    }
    for _ in 0..100 {
        ms += 10;
        step(&mut [(&mut b, &mut lb)], ms);
    }
    let more = b.status().lock().datagrams_sent - sent;
    assert!(more <= 11, "{more} datagrams in 1 s to a dead peer: heartbeats only");

    // The failed node restarts (new run id) and rejoins as standby.
    let mut a = HaNode::bind(&cfg(1, 2, 200, port), 33, &Timeouts::default(), Instant::from_micros(ms * 1000)).expect("rebind");
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
        a.yield_role(Instant::from_micros(ms * 1000)).is_err(),
        "only the active can hand over"
    );
    b.yield_role(Instant::from_micros(ms * 1000))
        .expect("an in-sync standby takes the role");
    b.send_handover();
    for _ in 0..5 {
        ms += 10;
        step(&mut [(&mut a, &mut la), (&mut b, &mut lb)], ms);
    }
    assert_eq!((a.role(), b.role()), (Role::Active, Role::Standby));
}

#[test]
fn datagrams_from_elsewhere_or_malformed_are_counted_and_ignored() {
    let port = 40_000 + (std::process::id() % 20_000) as u16 + 1;
    let mut a = HaNode::bind(&cfg(3, 4, 100, port), 1, &Timeouts::default(), Instant::from_micros(0)).expect("bind");
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
