//! The fast path of the text parser: a line exactly as `cgnatd` writes it.
//!
//! [`parse`] reads the twelve fields of a text-format line
//! ([`super::text`]) in one pass over its bytes, with no UTF-8 check, no
//! split into fields and no error messages. It answers only when it is
//! sure: `Some(record)` means [`super::text::parse_line`] (and
//! [`super::collected::parse_line`], which finds the record at the start
//! of such a line) returns that same record; `None` means "not the common
//! form", and the caller takes the general path, which accepts every form
//! the logs have (legacy lines without `run`, a `+` before a port, a
//! collector's header, JSON lines) and words the errors. The index builder
//! of `cgnatctl` calls it for each of a day's millions of lines.
//!
//! Every byte of an accepted line belongs to a field's grammar (digits,
//! dots, a dash, hex digits, one of the known names), so an accepted line
//! is ASCII, hence UTF-8, as the general path requires.

use core::net::Ipv4Addr;

use super::{parse_time_bytes, time_of_day, LogRecord, EVENT_KINDS, PROTOCOL_SCOPES, REASONS};
use crate::event::MANAGEMENT_WORKER;
use crate::time::Instant;

/// A cursor over the bytes of one line.
struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    /// Consumes `lit` (a field's ` key=`), or fails: compared as an
    /// array of known length, in registers rather than by `memcmp`.
    #[inline(always)]
    fn lit<const N: usize>(&mut self, lit: &[u8; N]) -> Option<()> {
        let end = self.at + N;
        let have: &[u8; N] = self.b.get(self.at..end)?.try_into().ok()?;
        (have == lit).then(|| self.at = end)
    }

    /// The bytes up to the next space or the end of the line (not
    /// consumed beyond them).
    #[inline(always)]
    fn word(&mut self) -> &'a [u8] {
        let rest = &self.b[self.at..];
        let n = memchr::memchr(b' ', rest).unwrap_or(rest.len());
        self.at += n;
        &rest[..n]
    }

    /// A decimal number of at least one digit without overflow (the
    /// general path's rule for `seq`, `pseq` and `aux`: leading zeros
    /// allowed, no sign), up to `stop` or the end of the line.
    #[inline(always)]
    fn decimal(&mut self) -> Option<u64> {
        let start = self.at;
        let mut n: u64 = 0;
        while let Some(&c) = self.b.get(self.at) {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            n = n.checked_mul(10)?.checked_add(d as u64)?;
            self.at += 1;
        }
        (self.at > start).then_some(n)
    }

    /// A port: 1 to 5 digits, at most 65535 (what `u16::from_str` takes,
    /// less its optional `+`, which sends the line to the general path).
    #[inline(always)]
    fn port(&mut self) -> Option<u16> {
        let start = self.at;
        let n = self.decimal()?;
        (self.at - start <= 5).then_some(())?;
        u16::try_from(n).ok()
    }

    /// A dotted quad with `Ipv4Addr::from_str`'s rules: four octets of one
    /// to three digits, at most 255, no leading zero.
    #[inline(always)]
    fn ipv4(&mut self) -> Option<Ipv4Addr> {
        let mut octets = [0u8; 4];
        for (k, o) in octets.iter_mut().enumerate() {
            if k > 0 {
                self.lit(b".")?;
            }
            let start = self.at;
            let n = self.decimal()?;
            let digits = self.at - start;
            if digits > 3 || n > 255 || (digits > 1 && self.b[start] == b'0') {
                return None;
            }
            *o = n as u8;
        }
        Some(Ipv4Addr::from(octets))
    }

    /// Sixteen hex digits (either case), the last bytes of the line.
    #[inline(always)]
    fn run(&mut self) -> Option<u64> {
        let hex = self.b.get(self.at..)?;
        if hex.len() != 16 {
            return None;
        }
        let mut n = 0u64;
        for &c in hex {
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => return None,
            };
            n = n << 4 | d as u64;
        }
        self.at = self.b.len();
        Some(n)
    }
}

/// The one of `all` named `name`: the full comparison only for the name
/// of the same length and first and last bytes (names are short and few;
/// comparing each in turn cost a `memcmp` call apiece).
#[inline(always)]
fn named<T: Copy>(all: &[T], name_of: impl Fn(T) -> &'static str, name: &[u8]) -> Option<T> {
    let (&first, &last) = (name.first()?, name.last()?);
    all.iter().copied().find(|&k| {
        let n = name_of(k).as_bytes();
        n.len() == name.len() && n[0] == first && n[n.len() - 1] == last && n == name
    })
}

/// The record of `line` (without its newline) when it is a twelve-field
/// text-format line in the exact grammar of [`super::text`]; `None` for
/// anything else, including lines the general path accepts (see the module
/// documentation).
pub fn parse(line: &[u8]) -> Option<LogRecord> {
    Parser::default().parse(line)
}

/// [`parse`] for the lines of one file in turn: it remembers the date of
/// the last line, so that the lines of one day convert their date to a
/// day number once (the calendar arithmetic was a tenth of the parse).
#[derive(Clone, Debug, Default)]
pub struct Parser {
    /// The date (`YYYY-MM-DD`) of the last line and its midnight.
    day: Option<([u8; 10], Instant)>,
}

impl Parser {
    /// The timestamp at the start of `line`, the date from the last line
    /// when it is the same.
    #[inline(always)]
    fn time(&mut self, line: &[u8]) -> Option<Instant> {
        let stamp: &[u8; 27] = line.get(..27)?.try_into().ok()?;
        let (date, rest) = stamp.split_at(10);
        let tod = time_of_day(rest.try_into().ok()?)?;
        match self.day {
            Some((d, midnight)) if d == *date => Some(Instant::from_micros(midnight.as_micros() + tod)),
            _ => {
                let t = parse_time_bytes(stamp)?;
                let midnight = Instant::from_micros(t.as_micros() - tod);
                self.day = Some((date.try_into().ok()?, midnight));
                Some(t)
            }
        }
    }

    /// [`parse`], remembering the line's date for the next.
    pub fn parse(&mut self, line: &[u8]) -> Option<LogRecord> {
        let time = self.time(line)?;
        parse_fields(line, time)
    }
}

/// The fields after the timestamp.
#[inline(always)]
fn parse_fields(line: &[u8], time: Instant) -> Option<LogRecord> {
    let mut c = Cursor { b: line, at: 27 };
    c.lit(b" seq=")?;
    let seq = c.decimal()?;
    c.lit(b" ")?;
    let name = c.word();
    let event = named(&EVENT_KINDS, |k| k.name(), name)?;
    c.lit(b" subscriber=")?;
    let subscriber = c.ipv4()?;
    c.lit(b" public=")?;
    let public_addr = c.ipv4()?;
    c.lit(b" ports=")?;
    let first_port = c.port()?;
    c.lit(b"-")?;
    let last_port = c.port()?;
    if first_port > last_port {
        return None;
    }
    c.lit(b" protocol=")?;
    let name = c.word();
    let protocol = named(&PROTOCOL_SCOPES, |k| k.name(), name)?;
    c.lit(b" reason=")?;
    let name = c.word();
    let reason = named(&REASONS, |k| k.name(), name)?;
    c.lit(b" producer=")?;
    let producer = if c.lit(b"mgmt").is_some() {
        MANAGEMENT_WORKER
    } else {
        Some(c.port()?).filter(|p| *p != MANAGEMENT_WORKER)?
    };
    c.lit(b" pseq=")?;
    let producer_seq = c.decimal()?;
    c.lit(b" aux=")?;
    let aux = c.decimal()?;
    c.lit(b" run=")?;
    let run = c.run()?;
    Some(LogRecord {
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

#[cfg(test)]
mod tests;
