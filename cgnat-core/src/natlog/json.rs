//! JSON lines: one JSON object per record and line, keys always in the same
//! order so the output is byte-for-byte deterministic.
//!
//! ```text
//! {"seq":42,"time":"2023-11-14T22:13:20.001000Z","time_us":1700000000001000,"event":"block-alloc","subscriber":"100.64.1.10","public":"203.0.113.3","first_port":1536,"last_port":2047,"protocol":"all","reason":"new-mapping","producer":"1","pseq":3,"aux":0,"run":"0123456789abcdef"}
//! ```
//!
//! Field meanings are those of the text format (`docs/nat-log-format.md`);
//! `time_us` repeats `time` as microseconds since the Unix epoch. Parsing
//! ignores unknown keys (later versions may add some) and checks that
//! `time` and `time_us` agree.

use core::net::Ipv4Addr;
use std::io::BufRead;

use serde::{Deserialize, Serialize};

use super::{
    parse_event_kind, parse_producer, parse_protocol, parse_reason, parse_run, parse_time, producer_name, run_name, LogRecord, ParseError,
};
use crate::time::Instant;

/// The JSON shape of a record (field order is the output order); also the
/// `record` of the control protocol's `record` responses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct JsonRecord {
    /// Global log sequence number.
    pub seq: u64,
    /// RFC 3339 UTC time with microseconds.
    pub time: String,
    /// The same time, microseconds since the Unix epoch.
    pub time_us: u64,
    /// Event name (`block-alloc`, ...).
    pub event: String,
    /// Subscriber (inside) address.
    pub subscriber: Ipv4Addr,
    /// Public address.
    pub public: Ipv4Addr,
    /// First port.
    pub first_port: u16,
    /// Last port (inclusive).
    pub last_port: u16,
    /// Protocol scope name.
    pub protocol: String,
    /// Reason name.
    pub reason: String,
    /// Worker id or `mgmt`.
    pub producer: String,
    /// Producer sequence number.
    pub pseq: u64,
    /// Kind-specific value.
    pub aux: u64,
    /// Run id (16 hex digits); absent in logs written before runs were recorded.
    #[serde(default = "legacy_run")]
    pub run: String,
}

fn legacy_run() -> String {
    "0000000000000000".into()
}

impl From<&LogRecord> for JsonRecord {
    fn from(r: &LogRecord) -> Self {
        JsonRecord {
            seq: r.seq,
            time: r.time.to_string(),
            time_us: r.time.as_micros(),
            event: r.event.name().into(),
            subscriber: r.subscriber,
            public: r.public_addr,
            first_port: r.first_port,
            last_port: r.last_port,
            protocol: r.protocol.name().into(),
            reason: r.reason.name().into(),
            producer: producer_name(r.producer).to_string(),
            pseq: r.producer_seq,
            aux: r.aux,
            run: run_name(r.run).to_string(),
        }
    }
}

impl TryFrom<JsonRecord> for LogRecord {
    type Error = ParseError;

    fn try_from(j: JsonRecord) -> Result<Self, ParseError> {
        to_record(j)
    }
}

/// Appends the JSON line for `r` (with its trailing `\n`) to `out`.
pub fn format_into(r: &LogRecord, out: &mut String) {
    out.push_str(&format(r));
    out.push('\n');
}

/// The JSON object for `r`, without the trailing newline.
pub fn format(r: &LogRecord) -> String {
    serde_json::to_string(&JsonRecord::from(r)).expect("plain data serialises")
}

/// Parses one JSON line. Errors carry line 0: use [`ParseError::at`].
pub fn parse_line(line: &str) -> Result<LogRecord, ParseError> {
    let j: JsonRecord = serde_json::from_str(line).map_err(|e| ParseError::new("json", e.to_string()))?;
    to_record(j)
}

fn to_record(j: JsonRecord) -> Result<LogRecord, ParseError> {
    let time = parse_time(&j.time)
        .ok_or_else(|| ParseError::new("time", format!("`{}` is not an RFC 3339 UTC time with microseconds", j.time)))?;
    if time != Instant::from_micros(j.time_us) {
        return Err(ParseError::new(
            "time_us",
            format!("{} does not match time `{}`", j.time_us, j.time),
        ));
    }
    let event = parse_event_kind(&j.event).ok_or_else(|| ParseError::new("event", format!("unknown event `{}`", j.event)))?;
    let protocol =
        parse_protocol(&j.protocol).ok_or_else(|| ParseError::new("protocol", format!("unknown protocol scope `{}`", j.protocol)))?;
    let reason = parse_reason(&j.reason).ok_or_else(|| ParseError::new("reason", format!("unknown reason `{}`", j.reason)))?;
    let producer =
        parse_producer(&j.producer).ok_or_else(|| ParseError::new("producer", format!("`{}` is not a worker id or `mgmt`", j.producer)))?;
    let run = parse_run(&j.run).ok_or_else(|| ParseError::new("run", format!("`{}` is not a run id (16 hex digits)", j.run)))?;
    if j.first_port > j.last_port {
        return Err(ParseError::new(
            "first_port",
            format!("{} is above last_port {}", j.first_port, j.last_port),
        ));
    }
    Ok(LogRecord {
        seq: j.seq,
        time,
        event,
        subscriber: j.subscriber,
        public_addr: j.public,
        first_port: j.first_port,
        last_port: j.last_port,
        protocol,
        reason,
        producer,
        producer_seq: j.pseq,
        aux: j.aux,
        run,
    })
}

/// Parses a whole JSON-lines text; the first bad line is the error (1-based).
pub fn parse_str(s: &str) -> Result<Vec<LogRecord>, ParseError> {
    super::parse_lines(s, parse_line)
}

/// Iterates over the records of a JSON-lines log read from `r`.
pub fn parse_reader<R: BufRead>(r: R) -> impl Iterator<Item = Result<LogRecord, ParseError>> {
    super::parse_lines_from(r, parse_line)
}

#[cfg(test)]
mod tests {
    use super::super::tests::sample;
    use super::*;

    #[test]
    fn formats_documented_line() {
        assert_eq!(
            format(&sample()),
            r#"{"seq":42,"time":"2023-11-14T22:13:20.001000Z","time_us":1700000000001000,"event":"block-alloc","subscriber":"100.64.1.10","public":"203.0.113.3","first_port":1536,"last_port":2047,"protocol":"all","reason":"new-mapping","producer":"1","pseq":3,"aux":0,"run":"0123456789abcdef"}"#
        );
    }

    #[test]
    fn round_trips_and_reports_lines() {
        let mut s = String::new();
        format_into(&sample(), &mut s);
        assert_eq!(parse_str(&s).unwrap(), vec![sample()]);
        let bad = format(&sample()).replace("\"all\"", "\"sctp\"");
        let e = parse_str(&format!("{s}{bad}\n")).unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (2, "protocol"));
        let e = parse_line("{\"seq\":1}").unwrap_err();
        assert_eq!(e.field, "json");
        let bad = format(&sample()).replace("1700000000001000", "1");
        assert_eq!(parse_line(&bad).unwrap_err().field, "time_us");
        assert_eq!(parse_reader(s.as_bytes()).count(), 1);
    }
}
