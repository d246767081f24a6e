//! Events for the NAT log: plain data, no I/O.
//!
//! Workers and the sweeper describe every port-block allocation and release
//! (RFC 6888 REQ-14), every deterministic-mode epoch (RFC 7422 section 2.3)
//! and every quota or exhaustion event as an [`Event`] pushed into an
//! [`EventSink`]. The management core drains the sinks and writes the log.
//!
//! The rule that makes the log a legal record: a block is used only after its
//! allocation event was accepted by the sink. A sink that is full refuses the
//! event, and the NAT then refuses the block (see `DropReason::LogStalled`).

use core::net::Ipv4Addr;

use crate::time::Instant;

/// What happened.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventKind {
    /// A port block was allocated to a subscriber (RFC 6888 REQ-14).
    BlockAllocated,
    /// A port block was released (RFC 6888 REQ-14).
    BlockReleased,
    /// A deterministic-mode configuration is in force from `time` (RFC 7422):
    /// `subscriber` is the first inside address, `public_addr` the first
    /// pool address, `first_port..=last_port` the port range and `aux` the
    /// ports per subscriber.
    DeterministicEpoch,
    /// A subscriber reached its session limit (RFC 6888 REQ-5).
    SessionQuotaExceeded,
    /// A subscriber holds its maximum blocks and all their ports are in use
    /// (RFC 6888 REQ-4).
    BlockQuotaExceeded,
    /// The subscriber's public address has no free block (RFC 8158 "NAT
    /// addresses exhausted" / "ports exhausted").
    PoolExhausted,
    /// A preallocated table (subscribers, sessions, mappings) is full; `aux`
    /// says which ([`TableId`] as u32).
    TableFull,
    /// A table crossed its alert threshold; `aux` is the fill in percent.
    TableFillAlert,
    /// A run of `cgnatd` starts: written before any translation; `aux` is the
    /// configuration digest (the first 64 bits of the SHA-256 of the
    /// effective configuration), the record's `run` the new run id.
    DaemonStart,
    /// A run ends cleanly: the last record of the run; `aux` is the number
    /// of records of the run before this one.
    DaemonStop,
    /// The packet clock was stepped because the system clock jumped by more
    /// than the slew limit: `aux` is the size of the step in microseconds,
    /// the reason says its direction (`clock-forward`, `clock-backward`).
    ClockStep,
    /// New subscribers or blocks were refused by the admission limits
    /// during the last interval (one summarising record per interval and
    /// producer, not one per source): `aux` is how many were refused,
    /// `subscriber` the base address of the inside aggregate refused most.
    AdmissionLimited,
    /// A block still held, restated at the start of a new log file (or
    /// daily) so that one file answers lookups for its period on its own:
    /// the fields of the allocation, `aux` its allocation time in
    /// microseconds since the Unix epoch, `seq` the sequence number of the
    /// next regular record. Not part of the sequence.
    BlockInterim,
    /// One prefix of a deterministic-mode epoch (RFC 7422), following its
    /// `det-epoch` record in order: an inside prefix (`subscriber` set) or
    /// a pool prefix (`public_addr` set); `aux` is the prefix length.
    DeterministicPrefix,
    /// A PCP (RFC 6887) or NAT-PMP (RFC 6886) client mapped a subscriber's
    /// internal endpoint: `subscriber` the internal address, `public_addr`
    /// and `first_port` (= `last_port`) the external endpoint, which lies
    /// in a block the log attributes to the subscriber; `protocol` TCP or
    /// UDP; `aux` the internal port. Written when the mapping is created
    /// (not on refreshes).
    PcpMap,
    /// A PCP or NAT-PMP mapping ended: fields as [`EventKind::PcpMap`];
    /// the reason says why (`pcp-request`, `expired`, `cleared`,
    /// `shutdown`).
    PcpUnmap,
    /// This run became the active node of its HA pair in place of its peer
    /// (issue 13): after its `daemon-start` and configuration records,
    /// before the blocks it adopted (`block-alloc`, reason `ha-takeover`).
    /// `aux` is the previous active's run id (0: unknown), `public_addr`
    /// the peer's sync address; the reason says `ha-takeover` (the peer
    /// failed) or `ha-switchover` (a planned handover).
    HaTakeover,
}

impl EventKind {
    /// The lower-case name used in log formats.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::BlockAllocated => "block-alloc",
            EventKind::BlockReleased => "block-release",
            EventKind::DeterministicEpoch => "det-epoch",
            EventKind::SessionQuotaExceeded => "session-quota",
            EventKind::BlockQuotaExceeded => "block-quota",
            EventKind::PoolExhausted => "pool-exhausted",
            EventKind::TableFull => "table-full",
            EventKind::TableFillAlert => "table-fill-alert",
            EventKind::DaemonStart => "daemon-start",
            EventKind::DaemonStop => "daemon-stop",
            EventKind::ClockStep => "clock-step",
            EventKind::AdmissionLimited => "admission-limit",
            EventKind::BlockInterim => "block-interim",
            EventKind::DeterministicPrefix => "det-prefix",
            EventKind::PcpMap => "pcp-map",
            EventKind::PcpUnmap => "pcp-unmap",
            EventKind::HaTakeover => "ha-takeover",
        }
    }
}

/// Which preallocated table an event is about.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum TableId {
    /// The subscriber table.
    Subscribers = 1,
    /// The session table.
    Sessions = 2,
    /// The endpoint-independent mapping table.
    Mappings = 3,
}

/// The protocols an event applies to.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ProtocolScope {
    /// All of TCP, UDP and ICMP (a port block covers all three).
    All,
    /// TCP only.
    Tcp,
    /// UDP only.
    Udp,
    /// ICMP only.
    Icmp,
}

impl ProtocolScope {
    /// The lower-case name used in log formats.
    pub fn name(self) -> &'static str {
        match self {
            ProtocolScope::All => "all",
            ProtocolScope::Tcp => "tcp",
            ProtocolScope::Udp => "udp",
            ProtocolScope::Icmp => "icmp",
        }
    }
}

/// Why it happened.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// A new mapping needed ports.
    NewMapping,
    /// The block's last mapping expired.
    Idle,
    /// An operator cleared it (`cgnatctl clear`).
    Cleared,
    /// The daemon is shutting down.
    Shutdown,
    /// The configuration was loaded or reloaded.
    Config,
    /// A limit was reached.
    Limit,
    /// The daemon started.
    Start,
    /// A restatement of a block still held ([`EventKind::BlockInterim`]).
    Interim,
    /// The clock was stepped forward.
    ClockForward,
    /// The clock was stepped backward (and is slewed, never set back).
    ClockBackward,
    /// A PCP or NAT-PMP request asked for it.
    PcpRequest,
    /// A PCP mapping's lifetime ran out (RFC 6887 section 15).
    Expired,
    /// An HA node took the active role because its peer failed (issue
    /// 13): its run's `ha-takeover` record and the blocks it adopted.
    HaTakeover,
    /// An HA node took or gave up the active role in a planned switchover.
    HaSwitchover,
}

impl Reason {
    /// The lower-case name used in log formats.
    pub fn name(self) -> &'static str {
        match self {
            Reason::NewMapping => "new-mapping",
            Reason::Idle => "idle",
            Reason::Cleared => "cleared",
            Reason::Shutdown => "shutdown",
            Reason::Config => "config",
            Reason::Limit => "limit",
            Reason::Start => "start",
            Reason::Interim => "interim",
            Reason::ClockForward => "clock-forward",
            Reason::ClockBackward => "clock-backward",
            Reason::PcpRequest => "pcp-request",
            Reason::Expired => "expired",
            Reason::HaTakeover => "ha-takeover",
            Reason::HaSwitchover => "ha-switchover",
        }
    }
}

/// The worker id events from the management core (sweeper, config) carry.
pub const MANAGEMENT_WORKER: u16 = u16::MAX;

/// One NAT log event.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Event {
    /// Per-producer sequence number, from 0, without gaps.
    pub seq: u64,
    /// The producer: a worker id, or [`MANAGEMENT_WORKER`].
    pub worker: u16,
    /// Packet-clock time of the event.
    pub time: Instant,
    /// What happened.
    pub kind: EventKind,
    /// The subscriber's inside address (unspecified for table events).
    pub subscriber: Ipv4Addr,
    /// The public address.
    pub public_addr: Ipv4Addr,
    /// First port of the range.
    pub first_port: u16,
    /// Last port of the range (inclusive).
    pub last_port: u16,
    /// The protocols the event applies to.
    pub protocol: ProtocolScope,
    /// Why.
    pub reason: Reason,
    /// Kind-specific extra value (see [`EventKind`]).
    pub aux: u64,
}

impl Event {
    /// The key of the log's total order: time, then producer, then sequence.
    #[inline]
    pub fn order_key(&self) -> (Instant, u16, u64) {
        (self.time, self.worker, self.seq)
    }
}

/// Where a producer puts its events. Implementations must not block and must
/// not allocate: a full sink refuses the event.
pub trait EventSink {
    /// Queues `event`, or hands it back if the sink is full or stalled.
    fn try_push(&mut self, event: Event) -> Result<(), Event>;
}

impl EventSink for crate::ring::Producer<Event> {
    #[inline]
    fn try_push(&mut self, event: Event) -> Result<(), Event> {
        self.push(event)
    }
}

/// A sink that accepts nothing: a stalled log path.
#[derive(Debug, Default)]
pub struct RefusingSink;

impl EventSink for RefusingSink {
    fn try_push(&mut self, event: Event) -> Result<(), Event> {
        Err(event)
    }
}

impl EventSink for Vec<Event> {
    fn try_push(&mut self, event: Event) -> Result<(), Event> {
        self.push(event);
        Ok(())
    }
}

/// Stamps events of one producer with consecutive sequence numbers, taking a
/// number only when the sink accepted the event (so the log has no gaps).
#[derive(Debug, Clone)]
pub struct Sequencer {
    worker: u16,
    next: u64,
}

impl Sequencer {
    /// A sequencer for producer `worker`, starting at 0.
    pub fn new(worker: u16) -> Self {
        Sequencer { worker, next: 0 }
    }

    /// The producer id.
    pub fn worker(&self) -> u16 {
        self.worker
    }

    /// The sequence number the next accepted event will get.
    pub fn next_seq(&self) -> u64 {
        self.next
    }

    /// Fills in `seq` and `worker` and pushes; `false` if the sink refused.
    #[inline]
    pub fn emit<S: EventSink + ?Sized>(&mut self, sink: &mut S, mut event: Event) -> bool {
        event.seq = self.next;
        event.worker = self.worker;
        match sink.try_push(event) {
            Ok(()) => {
                self.next += 1;
                true
            }
            Err(_) => false,
        }
    }
}
