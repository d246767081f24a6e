//! The part of a NAT log record that lookups need, independent of the log
//! format: the parsers of `cgnat_core::natlog` produce the records, and
//! [`crate::logfile`] converts them to [`Record`].

use serde::Serialize;

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
    /// A deterministic configuration epoch.
    DetEpoch,
    /// Anything else (quota and exhaustion events).
    Other,
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
    /// The kind-specific value (ports per subscriber for an epoch).
    pub aux: u32,
}
