//! The one-line text format of the NAT log (the default format).
//!
//! One record per line, fields separated by one space, always in this order
//! (documented in `docs/nat-log-format.md`):
//!
//! ```text
//! 2023-11-14T22:13:20.001000Z seq=42 block-alloc subscriber=100.64.1.10 public=203.0.113.3 ports=1536-2047 protocol=all reason=new-mapping producer=1 pseq=3 aux=0 run=0123456789abcdef
//! ```
//!
//! The timestamp is RFC 3339 UTC with microseconds; `seq` is the global log
//! sequence number; `producer` the worker id or `mgmt`; `pseq` the
//! producer's own sequence number; `run` the id of the daemon run (lines of
//! logs written before runs were recorded end at `aux` and parse with run
//! 0). The format is grep-friendly
//! (`grep 'public=203.0.113.3 '`) and parsed back by [`parse_line`] /
//! [`parse_reader`] with line-accurate errors.

use core::fmt::Write as _;
use core::net::Ipv4Addr;
use std::io::BufRead;

use super::{
    parse_event_kind, parse_producer, parse_protocol, parse_reason, parse_run, parse_time, producer_name, run_name, LogRecord, ParseError,
};

/// The number of space-separated fields of a line.
pub const FIELDS: usize = 12;
/// The fields of a line written before the `run` field existed.
pub const LEGACY_FIELDS: usize = 11;

/// Appends the line for `r` (with its trailing `\n`) to `out`.
pub fn format_into(r: &LogRecord, out: &mut String) {
    let _ = writeln!(
        out,
        "{} seq={} {} subscriber={} public={} ports={}-{} protocol={} reason={} producer={} pseq={} aux={} run={}",
        r.time,
        r.seq,
        r.event.name(),
        r.subscriber,
        r.public_addr,
        r.first_port,
        r.last_port,
        r.protocol.name(),
        r.reason.name(),
        producer_name(r.producer),
        r.producer_seq,
        r.aux,
        run_name(r.run)
    );
}

/// The line for `r`, without the trailing newline.
pub fn format(r: &LogRecord) -> String {
    let mut s = String::with_capacity(180);
    format_into(r, &mut s);
    s.pop();
    s
}

fn value<'a>(tok: &'a str, key: &str) -> Result<&'a str, ParseError> {
    tok.strip_prefix(key)
        .and_then(|t| t.strip_prefix('='))
        .ok_or_else(|| ParseError::new(key, format!("expected `{key}=...`, found `{tok}`")))
}

fn number<T: core::str::FromStr>(tok: &str, key: &str, what: &str) -> Result<T, ParseError> {
    let v = value(tok, key)?;
    if v.is_empty() || !v.bytes().all(|c| c.is_ascii_digit()) {
        return Err(ParseError::new(key, format!("`{v}` is not {what}")));
    }
    v.parse().map_err(|_| ParseError::new(key, format!("`{v}` is not {what}")))
}

fn addr(tok: &str, key: &str) -> Result<Ipv4Addr, ParseError> {
    let v = value(tok, key)?;
    v.parse().map_err(|_| ParseError::new(key, format!("`{v}` is not an IPv4 address")))
}

/// Parses one line (without its newline). Errors carry line 0: use
/// [`ParseError::at`] to place them.
pub fn parse_line(line: &str) -> Result<LogRecord, ParseError> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    let t: Vec<&str> = line.split(' ').collect();
    if t.len() != FIELDS && t.len() != LEGACY_FIELDS {
        return Err(ParseError::new(
            "line",
            format!("expected {FIELDS} space-separated fields, found {}", t.len()),
        ));
    }
    let time = parse_time(t[0]).ok_or_else(|| {
        ParseError::new(
            "time",
            format!("`{}` is not an RFC 3339 UTC time like 2023-11-14T22:13:20.001000Z", t[0]),
        )
    })?;
    let seq = number(t[1], "seq", "a sequence number")?;
    let event = parse_event_kind(t[2]).ok_or_else(|| ParseError::new("event", format!("unknown event `{}`", t[2])))?;
    let subscriber = addr(t[3], "subscriber")?;
    let public_addr = addr(t[4], "public")?;
    let ports = value(t[5], "ports")?;
    let bad_ports = || ParseError::new("ports", format!("`{ports}` is not a port range FIRST-LAST"));
    let (a, b) = ports.split_once('-').ok_or_else(bad_ports)?;
    let first_port: u16 = a.parse().map_err(|_| bad_ports())?;
    let last_port: u16 = b.parse().map_err(|_| bad_ports())?;
    if first_port > last_port {
        return Err(bad_ports());
    }
    let p = value(t[6], "protocol")?;
    let protocol = parse_protocol(p).ok_or_else(|| ParseError::new("protocol", format!("unknown protocol scope `{p}`")))?;
    let r = value(t[7], "reason")?;
    let reason = parse_reason(r).ok_or_else(|| ParseError::new("reason", format!("unknown reason `{r}`")))?;
    let pr = value(t[8], "producer")?;
    let producer = parse_producer(pr).ok_or_else(|| ParseError::new("producer", format!("`{pr}` is not a worker id or `mgmt`")))?;
    let producer_seq = number(t[9], "pseq", "a sequence number")?;
    let aux = number(t[10], "aux", "a 64-bit number")?;
    let run = match t.get(11) {
        Some(tok) => {
            let v = value(tok, "run")?;
            parse_run(v).ok_or_else(|| ParseError::new("run", format!("`{v}` is not a run id (16 hex digits)")))?
        }
        None => 0,
    };
    Ok(LogRecord {
        seq,
        time,
        event,
        subscriber,
        public_addr,
        first_port,
        last_port,
        protocol,
        reason,
        producer,
        producer_seq,
        aux,
        run,
    })
}

/// Parses a whole log text; the first bad line is the error (1-based).
pub fn parse_str(s: &str) -> Result<Vec<LogRecord>, ParseError> {
    super::parse_lines(s, parse_line)
}

/// Iterates over the records of a log read from `r`. I/O errors become
/// [`ParseError`]s with field `io`.
pub fn parse_reader<R: BufRead>(r: R) -> impl Iterator<Item = Result<LogRecord, ParseError>> {
    super::parse_lines_from(r, parse_line)
}

#[cfg(test)]
mod tests {
    use super::super::tests::sample;
    use super::*;
    use crate::event::{EventKind, MANAGEMENT_WORKER};

    #[test]
    fn formats_documented_line() {
        assert_eq!(
            format(&sample()),
            "2023-11-14T22:13:20.001000Z seq=42 block-alloc subscriber=100.64.1.10 public=203.0.113.3 \
             ports=1536-2047 protocol=all reason=new-mapping producer=1 pseq=3 aux=0 run=0123456789abcdef"
        );
        // A line written before runs were recorded still parses (run 0).
        let legacy = format(&sample()).replace(" run=0123456789abcdef", "");
        assert_eq!(parse_line(&legacy).map(|r| r.run), Ok(0));
    }

    #[test]
    fn round_trips() {
        let mut r = sample();
        r.producer = MANAGEMENT_WORKER;
        r.event = EventKind::TableFillAlert;
        r.aux = u64::MAX;
        assert_eq!(parse_line(&format(&r)), Ok(r));
        let mut s = String::new();
        format_into(&sample(), &mut s);
        format_into(&r, &mut s);
        assert_eq!(parse_str(&s).unwrap(), vec![sample(), r]);
        let v: Vec<_> = parse_reader(s.as_bytes()).collect::<Result<_, _>>().unwrap();
        assert_eq!(v.len(), 2);
    }

    #[test]
    fn errors_name_line_and_field() {
        let good = format(&sample());
        let bad = good.replace("public=203.0.113.3", "public=203.0.113.300");
        let e = parse_str(&format!("{good}\n{bad}\n")).unwrap_err();
        assert_eq!((e.line, e.field.as_str()), (2, "public"));
        assert!(e.to_string().starts_with("line 2: public: `203.0.113.300`"), "{e}");
        for (from, to, field) in [
            ("seq=42", "seq=-1", "seq"),
            ("block-alloc", "block-eaten", "event"),
            ("ports=1536-2047", "ports=2047-1536", "ports"),
            ("protocol=all", "protocol=sctp", "protocol"),
            ("reason=new-mapping", "reason=whim", "reason"),
            ("producer=1", "producer=65535", "producer"),
            ("pseq=3", "pseq=x", "pseq"),
            ("aux=0", "aux=18446744073709551616", "aux"),
            ("run=0123456789abcdef", "run=0123", "run"),
            ("2023-11-14T", "2023-13-14T", "time"),
            (" pseq=3 aux=0", "", "line"),
        ] {
            let e = parse_line(&good.replace(from, to)).unwrap_err();
            assert_eq!(e.field, field, "{from} -> {to}: {e}");
        }
    }
}
