//! The NAT log: what one record holds, and its formats (pure code, no I/O).
//!
//! The management core of `cgnatd` turns every [`Event`] into a
//! [`LogRecord`] by giving it the next global log sequence number, then
//! writes it in one or more formats:
//!
//! - [`text`]: the documented one-line text format (default); formatted
//!   *and parsed* (with line-accurate errors) so `cgnatctl` reads it back;
//! - [`json`]: JSON lines, formatted and parsed;
//! - [`syslog`]: RFC 5424 messages, with RFC 6587 octet-counting framing for
//!   TCP;
//! - [`ipfix`]: RFC 7011 messages carrying the RFC 8158 NAT event
//!   information elements;
//! - [`collected`]: finding the records in the files syslog collectors
//!   write (parsing only).
//!
//! Every format is a pure function of the record, so a replay of the same
//! pcap with the same configuration gives byte-identical logs. The format
//! itself is documented in `docs/nat-log-format.md`.

use core::fmt;
use core::net::Ipv4Addr;

use crate::event::{Event, EventKind, ProtocolScope, Reason, MANAGEMENT_WORKER};
use crate::time::Instant;

pub mod canonical;
pub mod collected;
pub mod ipfix;

use std::io::BufRead;

/// Parses every line of `s` with `parse_line`; the first bad line is the
/// error, numbered from 1. Shared by the text and JSON formats.
pub(crate) fn parse_lines(s: &str, parse_line: fn(&str) -> Result<LogRecord, ParseError>) -> Result<Vec<LogRecord>, ParseError> {
    s.lines().enumerate().map(|(i, l)| parse_line(l).map_err(|e| e.at(i + 1))).collect()
}

/// Iterates over the lines of `r` parsed with `parse_line`; I/O errors
/// become [`ParseError`]s with field `io`. Lines are numbered from 1.
pub(crate) fn parse_lines_from<R: BufRead>(
    r: R,
    parse_line: fn(&str) -> Result<LogRecord, ParseError>,
) -> impl Iterator<Item = Result<LogRecord, ParseError>> {
    r.lines().enumerate().map(move |(i, l)| match l {
        Ok(l) => parse_line(&l).map_err(|e| e.at(i + 1)),
        Err(e) => Err(ParseError::new("io", e.to_string()).at(i + 1)),
    })
}
pub mod json;
pub mod syslog;
pub mod text;

/// One NAT log record: an [`Event`] plus the global sequence number the
/// log writer assigned. Plain data; every format carries every field.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct LogRecord {
    /// Global log sequence number: 0, 1, 2, ... in log order, without gaps
    /// over the daemon's lifetime (assigned by the writer).
    pub seq: u64,
    /// Packet-clock time, UTC microseconds since the Unix epoch.
    pub time: Instant,
    /// What happened.
    pub event: EventKind,
    /// The subscriber's inside address (0.0.0.0 for table events).
    pub subscriber: Ipv4Addr,
    /// The public address (0.0.0.0 when none applies).
    pub public_addr: Ipv4Addr,
    /// First port of the range.
    pub first_port: u16,
    /// Last port of the range (inclusive).
    pub last_port: u16,
    /// The protocols the record applies to.
    pub protocol: ProtocolScope,
    /// Why.
    pub reason: Reason,
    /// The producer: a worker id, or [`MANAGEMENT_WORKER`] (`mgmt`).
    pub producer: u16,
    /// The producer's own sequence number (from 0, without gaps).
    pub producer_seq: u64,
    /// Kind-specific value: the limit for quota events, the table id for
    /// `table-full`, `(table << 16) | percent` for `table-fill-alert`, the
    /// ports per subscriber for `det-epoch`, the inside port of a static
    /// mapping's `block-alloc`, and see [`EventKind`] for the run, clock,
    /// admission, interim and deterministic-prefix records; 0 otherwise.
    pub aux: u64,
    /// The run of `cgnatd` that wrote the record (a random 64-bit id drawn
    /// at start and named by its `daemon-start` record; 0 in logs written
    /// before runs were recorded).
    pub run: u64,
}

impl LogRecord {
    /// The record for `event` with global sequence number `seq` in run `run`.
    pub fn from_event(seq: u64, run: u64, e: &Event) -> LogRecord {
        LogRecord {
            seq,
            time: e.time,
            event: e.kind,
            subscriber: e.subscriber,
            public_addr: e.public_addr,
            first_port: e.first_port,
            last_port: e.last_port,
            protocol: e.protocol,
            reason: e.reason,
            producer: e.worker,
            producer_seq: e.seq,
            aux: e.aux,
            run,
        }
    }

    /// Whether `public:port` lies in this record's range on its public address.
    pub fn covers(&self, public: Ipv4Addr, port: u16) -> bool {
        self.public_addr == public && self.first_port <= port && port <= self.last_port
    }
}

/// Every event kind, in declaration order.
pub const EVENT_KINDS: [EventKind; 17] = [
    EventKind::BlockAllocated,
    EventKind::BlockReleased,
    EventKind::DeterministicEpoch,
    EventKind::SessionQuotaExceeded,
    EventKind::BlockQuotaExceeded,
    EventKind::PoolExhausted,
    EventKind::TableFull,
    EventKind::TableFillAlert,
    EventKind::DaemonStart,
    EventKind::DaemonStop,
    EventKind::ClockStep,
    EventKind::AdmissionLimited,
    EventKind::BlockInterim,
    EventKind::DeterministicPrefix,
    EventKind::PcpMap,
    EventKind::PcpUnmap,
    EventKind::HaTakeover,
];

/// Every protocol scope.
pub const PROTOCOL_SCOPES: [ProtocolScope; 4] = [ProtocolScope::All, ProtocolScope::Tcp, ProtocolScope::Udp, ProtocolScope::Icmp];

/// Every reason.
pub const REASONS: [Reason; 14] = [
    Reason::NewMapping,
    Reason::Idle,
    Reason::Cleared,
    Reason::Shutdown,
    Reason::Config,
    Reason::Limit,
    Reason::Start,
    Reason::Interim,
    Reason::ClockForward,
    Reason::ClockBackward,
    Reason::PcpRequest,
    Reason::Expired,
    Reason::HaTakeover,
    Reason::HaSwitchover,
];

/// The event kind named `s` ([`EventKind::name`]).
pub fn parse_event_kind(s: &str) -> Option<EventKind> {
    EVENT_KINDS.into_iter().find(|k| k.name() == s)
}

/// The protocol scope named `s` ([`ProtocolScope::name`]).
pub fn parse_protocol(s: &str) -> Option<ProtocolScope> {
    PROTOCOL_SCOPES.into_iter().find(|k| k.name() == s)
}

/// The reason named `s` ([`Reason::name`]).
pub fn parse_reason(s: &str) -> Option<Reason> {
    REASONS.into_iter().find(|k| k.name() == s)
}

/// The producer as the logs write it: the worker id, or `mgmt`.
pub fn producer_name(p: u16) -> ProducerName {
    ProducerName(p)
}

/// Displays a producer id (see [`producer_name`]).
#[derive(Copy, Clone, Debug)]
pub struct ProducerName(u16);

impl fmt::Display for ProducerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == MANAGEMENT_WORKER {
            f.write_str("mgmt")
        } else {
            write!(f, "{}", self.0)
        }
    }
}

/// A run id as the logs write it: 16 lower-case hex digits.
pub fn run_name(run: u64) -> RunName {
    RunName(run)
}

/// Displays a run id (see [`run_name`]).
#[derive(Copy, Clone, Debug)]
pub struct RunName(u64);

impl fmt::Display for RunName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// Parses a run id as written by [`run_name`] (exactly 16 hex digits).
pub fn parse_run(s: &str) -> Option<u64> {
    if s.len() != 16 {
        return None;
    }
    s.bytes().try_fold(0u64, |n, c| {
        let d = match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            b'A'..=b'F' => c - b'A' + 10,
            _ => return None,
        };
        Some(n << 4 | d as u64)
    })
}

/// Parses a producer as written by [`producer_name`].
pub fn parse_producer(s: &str) -> Option<u16> {
    if s == "mgmt" {
        return Some(MANAGEMENT_WORKER);
    }
    s.parse::<u16>().ok().filter(|p| *p != MANAGEMENT_WORKER)
}

/// Parses an RFC 3339 UTC timestamp as the logs write it
/// (`2023-11-14T22:13:20.001000Z`: exactly six fraction digits, `Z`).
pub fn parse_time(s: &str) -> Option<Instant> {
    parse_time_bytes(s.as_bytes())
}

/// [`parse_time`] on bytes (the fast path of [`canonical`] has no `str`).
pub fn parse_time_bytes(b: &[u8]) -> Option<Instant> {
    let b: &[u8; 27] = b.try_into().ok()?;
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let tod = time_of_day(b[10..].try_into().ok()?)?;
    let y = two_digits(b, 0)? * 100 + two_digits(b, 2)?;
    let (mo, d) = (two_digits(b, 5)?, two_digits(b, 8)?);
    if !(1970..=9999).contains(&y) || !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) {
        return None;
    }
    let days = crate::time::days_from_civil(y as i64, mo as u32, d as u32);
    Some(Instant::from_micros(days as u64 * 86_400_000_000 + tod))
}

/// Two decimal digits (no sign) at `b[i..i + 2]`.
#[inline(always)]
fn two_digits(b: &[u8], i: usize) -> Option<u64> {
    let (h, l) = (b[i].wrapping_sub(b'0'), b[i + 1].wrapping_sub(b'0'));
    (h <= 9 && l <= 9).then_some(h as u64 * 10 + l as u64)
}

/// Microseconds since midnight of the time part of a timestamp
/// (`THH:MM:SS.ffffffZ`, its last 17 bytes).
#[inline(always)]
pub(crate) fn time_of_day(t: &[u8; 17]) -> Option<u64> {
    if t[0] != b'T' || t[3] != b':' || t[6] != b':' || t[9] != b'.' || t[16] != b'Z' {
        return None;
    }
    let (h, mi, se) = (two_digits(t, 1)?, two_digits(t, 4)?, two_digits(t, 7)?);
    let us = two_digits(t, 10)? * 10_000 + two_digits(t, 12)? * 100 + two_digits(t, 14)?;
    if h > 23 || mi > 59 || se > 59 {
        return None;
    }
    Some((h * 3600 + mi * 60 + se) * 1_000_000 + us)
}

/// Days of month `mo` (1..=12) of year `y` in the Gregorian calendar.
fn days_in_month(y: u64, mo: u64) -> u64 {
    match mo {
        2 if y % 4 == 0 && (y % 100 != 0 || y % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Why a log line could not be parsed: the 1-based line number, the field
/// and what was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    /// 1-based line number (0 when parsing a single line out of context).
    pub line: usize,
    /// The field (`time`, `seq`, `subscriber`, ...) or `line`.
    pub field: String,
    /// What was found and what is allowed.
    pub message: String,
}

impl ParseError {
    /// An error about `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ParseError {
            line: 0,
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same error at 1-based line `line`.
    pub fn at(mut self, line: usize) -> Self {
        self.line = line;
        self
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.field, self.message)
    }
}

impl std::error::Error for ParseError {}

/// The log formats `cgnatd` can write.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// [`text`]: one line per record (default).
    Text,
    /// [`json`]: JSON lines.
    Json,
    /// [`syslog`]: RFC 5424.
    Syslog,
    /// [`ipfix`]: RFC 7011 / RFC 8158.
    Ipfix,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A record with every field set.
    pub(crate) fn sample() -> LogRecord {
        LogRecord {
            seq: 42,
            time: Instant::from_micros(1_700_000_000_001_000),
            event: EventKind::BlockAllocated,
            subscriber: [100, 64, 1, 10].into(),
            public_addr: [203, 0, 113, 3].into(),
            first_port: 1536,
            last_port: 2047,
            protocol: ProtocolScope::All,
            reason: Reason::NewMapping,
            producer: 1,
            producer_seq: 3,
            aux: 0,
            run: 0x0123_4567_89ab_cdef,
        }
    }

    #[test]
    fn names_round_trip() {
        for k in EVENT_KINDS {
            assert_eq!(parse_event_kind(k.name()), Some(k));
        }
        for k in PROTOCOL_SCOPES {
            assert_eq!(parse_protocol(k.name()), Some(k));
        }
        for k in REASONS {
            assert_eq!(parse_reason(k.name()), Some(k));
        }
        assert_eq!(parse_producer("mgmt"), Some(MANAGEMENT_WORKER));
        assert_eq!(parse_producer("65535"), None);
        assert_eq!(producer_name(7).to_string(), "7");
    }

    #[test]
    fn time_round_trip() {
        for us in [0u64, 1_700_000_000_001_000, 951_782_400_123_456, 4_102_444_799_999_999] {
            let t = Instant::from_micros(us);
            assert_eq!(parse_time(&t.to_string()), Some(t), "{t}");
        }
        // The calendar check is the round trip through the day number.
        for y in 1970..=2500u64 {
            for mo in 1..=12u64 {
                for d in 1..=31u64 {
                    let days = crate::time::days_from_civil(y as i64, mo as u32, d as u32);
                    let valid = crate::time::civil_from_days(days) == (y as i64, mo as u32, d as u32);
                    assert_eq!(d <= days_in_month(y, mo), valid, "{y}-{mo}-{d}");
                }
            }
        }
        for bad in [
            "2023-02-30T00:00:00.000000Z",
            "2023-11-14T24:00:00.000000Z",
            "2023-11-14T22:60:00.000000Z",
            "2023-11-14T22:13:60.000000Z",
            "2023-11-14T22:13:20.00000aZ",
            "2023-00-14T22:13:20.000000Z",
            "2023-11-00T22:13:20.000000Z",
            "1969-12-31T23:59:59.999999Z",
            "2023-11-14T22:13:20.000000z",
            "+023-11-14T22:13:20.000000Z",
            "2023-11-14T22:13:20.001Z",
            "2023-11-14 22:13:20.001000Z",
            "x",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }
}
