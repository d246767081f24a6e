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

// `value`, `number` and `addr` are inlined so that each key is a constant
// at its call and compared without a call to `memcmp` (12 fields a line).
#[inline(always)]
fn value<'a>(tok: &'a str, key: &str) -> Result<&'a str, ParseError> {
    match tok.as_bytes().get(key.len()) {
        Some(b'=') if tok.as_bytes()[..key.len()] == *key.as_bytes() => Ok(&tok[key.len() + 1..]),
        _ => Err(ParseError::new(key, format!("expected `{key}=...`, found `{tok}`"))),
    }
}

#[inline(always)]
fn number(tok: &str, key: &str, what: &str) -> Result<u64, ParseError> {
    let v = value(tok, key)?;
    parse_u64(v).ok_or_else(|| ParseError::new(key, format!("`{v}` is not {what}")))
}

/// A decimal `u64`: digits only (no sign), no overflow.
fn parse_u64(v: &str) -> Option<u64> {
    if v.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for b in v.bytes() {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(d as u64)?;
    }
    Some(n)
}

/// A dotted-quad IPv4 address with exactly the rules of
/// `Ipv4Addr::from_str` (four decimal octets up to 255, no leading zero),
/// without its general-purpose parser's cost (every line has two).
fn parse_ipv4(v: &str) -> Option<Ipv4Addr> {
    let b = v.as_bytes();
    if !(7..=15).contains(&b.len()) {
        return None;
    }
    let mut octets = [0u8; 4];
    let (mut k, mut n, mut digits) = (0, 0u32, 0);
    for &c in b {
        if c == b'.' {
            if digits == 0 || k == 3 {
                return None;
            }
            octets[k] = n as u8;
            (k, n, digits) = (k + 1, 0, 0);
            continue;
        }
        let d = c.wrapping_sub(b'0');
        // Not a digit, a fourth digit, or a digit after a leading zero.
        if d > 9 || digits == 3 || (digits == 1 && n == 0) {
            return None;
        }
        n = n * 10 + d as u32;
        digits += 1;
        if n > 255 {
            return None;
        }
    }
    if k != 3 || digits == 0 {
        return None;
    }
    octets[3] = n as u8;
    Some(Ipv4Addr::from(octets))
}

/// The positions of the spaces of `b` (the first [`FIELDS`] of them in
/// `at`), and how many there are: eight bytes at a time (spaces are rare).
fn spaces(b: &[u8], at: &mut [usize; FIELDS]) -> usize {
    const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
    let mut n = 0;
    let mut i = 0;
    while i + 8 <= b.len() {
        let mut word = [0u8; 8];
        word.copy_from_slice(&b[i..i + 8]);
        let v = u64::from_le_bytes(word) ^ 0x2020_2020_2020_2020;
        // The high bit of every byte of `v` that is zero (a space), and
        // of no other byte (no carry crosses a byte).
        let mut zero = !(((v & LOW7) + LOW7) | v) & !LOW7;
        while zero != 0 {
            if n < FIELDS {
                at[n] = i + (zero.trailing_zeros() >> 3) as usize;
            }
            n += 1;
            zero &= zero - 1;
        }
        i += 8;
    }
    while i < b.len() {
        if b[i] == b' ' {
            if n < FIELDS {
                at[n] = i;
            }
            n += 1;
        }
        i += 1;
    }
    n
}

#[inline(always)]
fn addr(tok: &str, key: &str) -> Result<Ipv4Addr, ParseError> {
    let v = value(tok, key)?;
    parse_ipv4(v).ok_or_else(|| ParseError::new(key, format!("`{v}` is not an IPv4 address")))
}

/// Parses one line (without its newline). Errors carry line 0: use
/// [`ParseError::at`] to place them.
pub fn parse_line(line: &str) -> Result<LogRecord, ParseError> {
    let line = line.strip_suffix('\r').unwrap_or(line);
    // The fields, without collecting them (no allocation per line).
    let mut at = [0; FIELDS];
    let n = spaces(line.as_bytes(), &mut at) + 1;
    let mut t = [""; FIELDS];
    if n == FIELDS || n == LEGACY_FIELDS {
        let mut start = 0;
        for (tok, &end) in t.iter_mut().zip(at[..n - 1].iter().chain([&line.len()])) {
            *tok = &line[start..end];
            start = end + 1;
        }
    }
    if n != FIELDS && n != LEGACY_FIELDS {
        return Err(ParseError::new(
            "line",
            format!("expected {FIELDS} space-separated fields, found {n}"),
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
    let dash = ports.bytes().position(|c| c == b'-').ok_or_else(bad_ports)?;
    let (a, b) = (&ports[..dash], &ports[dash + 1..]);
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
    let run = match (n == FIELDS).then_some(t[11]) {
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
    fn number_and_address_rules_are_the_standard_ones() {
        let mut cases: Vec<String> = [
            "",
            "0",
            "00",
            "01",
            "9",
            "255",
            "256",
            "1.2.3.4",
            "0.0.0.0",
            "255.255.255.255",
            "256.1.1.1",
            "1.2.3",
            "1.2.3.4.",
            ".1.2.3.4",
            "1..2.3",
            "01.2.3.4",
            "1.2.3.04",
            "1.2.3.4 ",
            "+1.2.3.4",
            "1.2.3.+4",
            "1.2.3.4a",
            "1.2.3.1000",
            "1.2.3.0000",
            "1.2.3.-1",
            "100.64.1.10",
            "198.18.116.88",
            "18446744073709551615",
            "18446744073709551616",
            "+5",
            "-0",
            "12a",
            "1_000",
            "0x10",
            "99999999999999999999999",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        // Every short string over the characters that matter.
        let alphabet = ['0', '1', '2', '5', '9', '.', 'a'];
        let mut frontier = vec![String::new()];
        for _ in 0..5 {
            frontier = frontier
                .iter()
                .flat_map(|p| alphabet.iter().map(move |c| format!("{p}{c}")))
                .collect();
            cases.extend(frontier.iter().cloned());
        }
        for quad in ["1.2.3.4", "255.0.10.200", "0.0.0.0"] {
            for i in 0..quad.len() {
                for c in ['0', '.', '9'] {
                    let mut s = quad.to_string();
                    s.insert(i, c);
                    cases.push(s);
                }
            }
        }
        for c in &cases {
            assert_eq!(parse_ipv4(c), c.parse::<Ipv4Addr>().ok(), "{c:?}");
            let std_u64 = if !c.is_empty() && c.bytes().all(|b| b.is_ascii_digit()) {
                c.parse::<u64>().ok()
            } else {
                None
            };
            assert_eq!(parse_u64(c), std_u64, "{c:?}");
        }
    }

    #[test]
    fn spaces_are_found_wherever_they_are() {
        for len in 0..40 {
            for mask in [0u64, 1, 0b1010_0110_0001, u64::MAX, 0x8000_0000_0000_0001, 0x5555_5555_5555_5555] {
                // Spaces, and bytes one bit from a space (`!`, `0`, 0xa0).
                let b: Vec<u8> = (0..len)
                    .map(|i| {
                        if mask >> (i % 64) & 1 == 1 {
                            b' '
                        } else {
                            [b'!', b'0', 0xa0, b'a'][i % 4]
                        }
                    })
                    .collect();
                let want: Vec<usize> = (0..len).filter(|&i| b[i] == b' ').collect();
                let mut at = [0; FIELDS];
                let n = spaces(&b, &mut at);
                assert_eq!(n, want.len(), "{b:?}");
                assert_eq!(&at[..n.min(FIELDS)], &want[..n.min(FIELDS)], "{b:?}");
            }
        }
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
