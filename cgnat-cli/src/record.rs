//! The part of a NAT log record that lookups need, independent of the log
//! format: the parsers of `cgnat_core::natlog` produce the records, and
//! [`crate::logfile`] converts them to [`Record`].

use serde::Serialize;

use cgnat_core::event::{EventKind, ProtocolScope};
use cgnat_core::natlog::LogRecord;

use crate::timefmt::Micros;

/// The protocols a block covers.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
#[repr(u8)]
pub enum Proto {
    /// TCP, UDP and ICMP (a dynamic port block).
    All = 0,
    /// TCP only (a static mapping).
    Tcp = 6,
    /// UDP only.
    Udp = 17,
    /// ICMP only.
    Icmp = 1,
}

impl Proto {
    /// From its log name (`all`, `tcp`, `udp`, `icmp`).
    pub fn from_name(s: &str) -> Option<Proto> {
        match s.to_ascii_lowercase().as_str() {
            "all" => Some(Proto::All),
            "tcp" => Some(Proto::Tcp),
            "udp" => Some(Proto::Udp),
            "icmp" => Some(Proto::Icmp),
            _ => None,
        }
    }

    /// The scope of a log record.
    pub fn of(p: ProtocolScope) -> Proto {
        match p {
            ProtocolScope::All => Proto::All,
            ProtocolScope::Tcp => Proto::Tcp,
            ProtocolScope::Udp => Proto::Udp,
            ProtocolScope::Icmp => Proto::Icmp,
        }
    }

    /// From its stored byte.
    pub fn from_u8(v: u8) -> Proto {
        match v {
            6 => Proto::Tcp,
            17 => Proto::Udp,
            1 => Proto::Icmp,
            _ => Proto::All,
        }
    }

    /// The log name.
    pub fn name(self) -> &'static str {
        match self {
            Proto::All => "all",
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Icmp => "icmp",
        }
    }

    /// Whether a block of this scope applies to a lookup for `wanted`
    /// (`None`: any protocol).
    pub fn matches(self, wanted: Option<Proto>) -> bool {
        match wanted {
            None => true,
            Some(w) => self == Proto::All || w == Proto::All || self == w,
        }
    }
}

/// What a record says.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RecordKind {
    /// A block was allocated.
    Alloc,
    /// A block was released.
    Release,
    /// A block still held, restated at the start of a log file (`aux`: its
    /// allocation time).
    Interim,
    /// A deterministic configuration epoch.
    DetEpoch,
    /// One prefix of a deterministic epoch (`aux`: its length).
    DetPrefix,
    /// A run of the daemon started.
    DaemonStart,
    /// A run of the daemon stopped cleanly.
    DaemonStop,
    /// Anything else (quota, exhaustion, clock and admission events).
    Other,
}

impl RecordKind {
    /// The kind of a log record's event.
    pub fn of(e: EventKind) -> RecordKind {
        match e {
            EventKind::BlockAllocated => RecordKind::Alloc,
            EventKind::BlockReleased => RecordKind::Release,
            EventKind::BlockInterim => RecordKind::Interim,
            EventKind::DeterministicEpoch => RecordKind::DetEpoch,
            EventKind::DeterministicPrefix => RecordKind::DetPrefix,
            EventKind::DaemonStart => RecordKind::DaemonStart,
            EventKind::DaemonStop => RecordKind::DaemonStop,
            _ => RecordKind::Other,
        }
    }
}

/// One record, as the index needs it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// 1-based line in its file.
    pub line: u64,
    /// Record time, microseconds since the Unix epoch.
    pub time: Micros,
    /// What it says.
    pub kind: RecordKind,
    /// Subscriber address (host order).
    pub subscriber: u32,
    /// Public address (host order).
    pub public: u32,
    /// First port.
    pub first_port: u16,
    /// Last port (inclusive).
    pub last_port: u16,
    /// Protocol scope.
    pub proto: Proto,
    /// The kind-specific value (ports per subscriber for an epoch, prefix
    /// length, allocation time of an interim record, ...).
    pub aux: u64,
    /// The daemon run that wrote it (0: written before runs were recorded).
    pub run: u64,
    /// The log sequence number within the run.
    pub seq: u64,
}

impl Record {
    /// Converts a parsed log record found at `line`.
    pub fn from_log(r: &LogRecord, line: u64) -> Record {
        Record {
            line,
            time: r.time.as_micros() as Micros,
            kind: RecordKind::of(r.event),
            subscriber: u32::from(r.subscriber),
            public: u32::from(r.public_addr),
            first_port: r.first_port,
            last_port: r.last_port,
            proto: Proto::of(r.protocol),
            aux: r.aux,
            run: r.run,
            seq: r.seq,
        }
    }
}
