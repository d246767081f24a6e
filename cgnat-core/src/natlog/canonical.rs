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
    /// allowed, no sign), up to `stop` or the end of the line. A number of
    /// up to seven digits with eight bytes to read is read at once
    /// ([`leading_digits`]); the first nineteen digits cannot overflow a
    /// `u64` and are not checked.
    #[inline(always)]
    fn decimal(&mut self) -> Option<u64> {
        let start = self.at;
        let mut n: u64 = 0;
        if let Some(eight) = self.b.get(start..start + 8) {
            let (count, value) = leading_digits(u64::from_le_bytes(eight.try_into().ok()?));
            self.at += count;
            if count < 8 {
                return (count > 0).then_some(value);
            }
            n = value;
        }
        while let Some(&c) = self.b.get(self.at) {
            let d = c.wrapping_sub(b'0');
            if d > 9 {
                break;
            }
            n = if self.at - start < 19 {
                n * 10 + d as u64
            } else {
                n.checked_mul(10)?.checked_add(d as u64)?
            };
            self.at += 1;
        }
        (self.at > start).then_some(n)
    }

    /// The value of the digit at `i`, if there is one.
    #[inline(always)]
    fn digit_at(&self, i: usize) -> Option<u8> {
        self.b.get(i).map(|c| c.wrapping_sub(b'0')).filter(|d| *d <= 9)
    }

    /// One octet of a dotted quad: one to three digits, at most 255, no
    /// leading zero (`Ipv4Addr::from_str`'s rules).
    #[inline(always)]
    fn octet(&mut self) -> Option<u8> {
        let at = self.at;
        let d0 = self.digit_at(at)?;
        let Some(d1) = self.digit_at(at + 1) else {
            self.at = at + 1;
            return Some(d0);
        };
        if d0 == 0 {
            return None;
        }
        let Some(d2) = self.digit_at(at + 2) else {
            self.at = at + 2;
            return Some(d0 * 10 + d1);
        };
        if self.digit_at(at + 3).is_some() {
            return None;
        }
        let n = d0 as u16 * 100 + d1 as u16 * 10 + d2 as u16;
        self.at = at + 3;
        u8::try_from(n).ok()
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
        let a = self.octet()?;
        self.lit(b".")?;
        let b = self.octet()?;
        self.lit(b".")?;
        let c = self.octet()?;
        self.lit(b".")?;
        let d = self.octet()?;
        Some(Ipv4Addr::new(a, b, c, d))
    }

    /// Sixteen hex digits (either case), the last bytes of the line: by
    /// table, without a branch per digit.
    #[inline(always)]
    fn run(&mut self) -> Option<u64> {
        let hex: &[u8; 16] = self.b.get(self.at..)?.try_into().ok()?;
        let (mut n, mut bad) = (0u64, 0u8);
        for &c in hex {
            let d = HEX_DIGIT[c as usize];
            bad |= d;
            n = n << 4 | (d & 0xf) as u64;
        }
        (bad & NOT_HEX == 0).then(|| {
            self.at = self.b.len();
            n
        })
    }
}

/// How many of eight bytes (little endian: the first in the low byte) are
/// digits before the first that is not, and the number they write: eight
/// lanes at once (SWAR), with no branch per digit.
#[inline(always)]
fn leading_digits(eight: u64) -> (usize, u64) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    // Each lane less '0': a digit's lane is its value, and lanes up to the
    // first non-digit are exact (a borrow only moves to higher lanes).
    let x = eight.wrapping_sub(ONES * b'0' as u64);
    // A lane's top bit: below '0' (it wrapped) or above '9' (adding 0x76
    // reaches 0x80 from 10 up).
    let not_digit = (x | x.wrapping_add(ONES * 0x76)) & (ONES * 0x80);
    let count = (not_digit.trailing_zeros() / 8) as usize;
    if count == 0 {
        return (0, 0);
    }
    // The digits moved to the top lanes, zeros (leading zeros) below:
    // eight digits, most significant in the low lane.
    let v = x << (64 - 8 * count as u32);
    // Pairs, then fours, then all eight, each step one multiply.
    let v = (v.wrapping_mul(10) + (v >> 8)) & 0x00ff_00ff_00ff_00ff;
    let v = (v.wrapping_mul(100) + (v >> 16)) & 0x0000_ffff_0000_ffff;
    let v = (v.wrapping_mul(10_000) + (v >> 32)) & 0xffff_ffff;
    (count, v)
}

/// [`HEX_DIGIT`]'s mark of a byte that is not a hex digit.
const NOT_HEX: u8 = 0x80;

/// The value of every byte as a hex digit (either case), or [`NOT_HEX`].
static HEX_DIGIT: [u8; 256] = {
    let mut t = [NOT_HEX; 256];
    let mut c = 0;
    while c < 256 {
        t[c] = match c as u8 {
            b'0'..=b'9' => c as u8 - b'0',
            b'a'..=b'f' => c as u8 - b'a' + 10,
            b'A'..=b'F' => c as u8 - b'A' + 10,
            _ => NOT_HEX,
        };
        c += 1;
    }
    t
};

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
