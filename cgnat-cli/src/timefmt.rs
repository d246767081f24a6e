//! Times on the command line and in output: RFC 3339 in UTC, with
//! microseconds, the resolution of the NAT log.
//!
//! Accepted by [`parse_time`]:
//! - `2023-11-14T22:13:20Z`, `2023-11-14T22:13:20.001Z`,
//!   `2023-11-14 23:13:20+01:00`, `2023-11-14T23:13:20+0100`;
//! - `2023-11-14Z` (midnight UTC);
//! - `@1700000000` or `1700000000.5` (seconds since the Unix epoch);
//! - `now`.
//!
//! A date and time without a zone (`2026-11-30 10:21:00`) is refused
//! (issue 15: read as UTC it answered for the wrong hour in Berlin
//! without a word): the abuse desk's complaint says which zone, and the
//! error shows the time written both ways.

use std::time::{SystemTime, UNIX_EPOCH};

use cgnat_core::time::{civil_from_days, days_from_civil};

/// Microseconds since the Unix epoch (UTC).
pub type Micros = i64;

/// The current time.
pub fn now() -> Micros {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

/// Serialises a time as [`format_time`] writes it (serde `serialize_with`).
pub fn serialize_time<S: serde::Serializer>(t: &Micros, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(*t))
}

/// Serialises an optional time as [`format_time`] writes it, or `null`.
pub fn serialize_opt_time<S: serde::Serializer>(t: &Option<Micros>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&format_time(*t)),
        None => s.serialize_none(),
    }
}

/// Formats `t` as `2023-11-14T22:13:20.001000Z` (the NAT log's form).
pub fn format_time(t: Micros) -> String {
    let secs = t.div_euclid(1_000_000);
    let us = t.rem_euclid(1_000_000);
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{us:06}Z", s / 3600, s / 60 % 60, s % 60)
}

fn num(s: &str, what: &str, lo: u32, hi: u32) -> Result<u32, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad {what} `{s}`"));
    }
    let v: u32 = s.parse().map_err(|_| format!("bad {what} `{s}`"))?;
    if v < lo || v > hi {
        return Err(format!("{what} {v} out of range {lo}..={hi}"));
    }
    Ok(v)
}

/// Fraction digits (`"001"`) as microseconds.
fn fraction(f: &str) -> Result<i64, String> {
    if f.is_empty() || f.len() > 9 || !f.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("bad fraction of a second `.{f}`"));
    }
    let mut digits = f.to_string();
    digits.truncate(6);
    while digits.len() < 6 {
        digits.push('0');
    }
    digits.parse().map_err(|_| format!("bad fraction `.{f}`"))
}

/// Parses a time given on the command line (see the module docs).
pub fn parse_time(input: &str) -> Result<Micros, String> {
    let s = input.trim();
    let err = |why: String| format!("cannot read time `{input}`: {why} (expected e.g. 2023-11-14T22:13:20Z, @1700000000 or now)");
    if s.eq_ignore_ascii_case("now") {
        return Ok(now());
    }
    let epoch = s.strip_prefix('@').unwrap_or(s);
    if !epoch.is_empty() && epoch.bytes().all(|b| b.is_ascii_digit() || b == b'.') && !epoch.contains('-') {
        let (w, f) = epoch.split_once('.').unwrap_or((epoch, ""));
        let secs: i64 = w.parse().map_err(|_| err("bad epoch seconds".into()))?;
        let us = if f.is_empty() { 0 } else { fraction(f).map_err(err)? };
        return secs
            .checked_mul(1_000_000)
            .and_then(|v| v.checked_add(us))
            .ok_or_else(|| err("too large".into()));
    }
    parse_rfc3339(s).map_err(err)
}

fn parse_rfc3339(s: &str) -> Result<Micros, String> {
    let (date, rest) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => match s.strip_suffix(['Z', 'z']) {
            Some(d) => (d, "Z"),
            None => (s, ""),
        },
    };
    let mut dp = date.splitn(3, '-');
    let y = num(dp.next().unwrap_or(""), "year", 1970, 9999)?;
    let m = num(dp.next().unwrap_or(""), "month", 1, 12)?;
    let d = num(dp.next().unwrap_or(""), "day", 1, 31)?;
    let days = days_from_civil(y as i64, m, d);
    if civil_from_days(days) != (y as i64, m, d) {
        return Err(format!("{date} is not a date"));
    }
    let mut t = days * 86_400 * 1_000_000;
    if rest.is_empty() {
        return Err(no_zone(s));
    }
    if rest.eq_ignore_ascii_case("z") {
        return Ok(t);
    }
    // Split the zone off: Z, +HH:MM or -HH:MM after the clock.
    let (clock, offset) = if let Some(c) = rest.strip_suffix(['Z', 'z']) {
        (c, 0i64)
    } else if let Some(i) = rest.rfind(['+', '-']) {
        let z = &rest[i + 1..];
        let (hh, mm) = z.split_once(':').unwrap_or((z.get(..2).unwrap_or(z), z.get(2..).unwrap_or("0")));
        let off = (num(hh, "zone hours", 0, 23)? * 60 + num(mm, "zone minutes", 0, 59)?) as i64 * 60;
        (&rest[..i], if &rest[i..=i] == "+" { off } else { -off })
    } else {
        return Err(no_zone(s));
    };
    let (hms, frac) = clock.split_once('.').unwrap_or((clock, ""));
    let mut parts = hms.split(':');
    let h = num(parts.next().unwrap_or(""), "hour", 0, 23)?;
    let mi = num(parts.next().unwrap_or("0"), "minute", 0, 59)?;
    let se = num(parts.next().unwrap_or("0"), "second", 0, 60)?;
    if parts.next().is_some() {
        return Err(format!("bad clock `{clock}`"));
    }
    t += ((h * 3600 + mi * 60 + se) as i64 - offset) * 1_000_000;
    if !frac.is_empty() {
        t += fraction(frac)?;
    }
    Ok(t)
}

/// The error for a date (and time) without a zone.
fn no_zone(s: &str) -> String {
    let t = s.replacen(' ', "T", 1);
    let example = if t.contains('T') { t } else { format!("{t}T00:00:00") };
    format!(
        "no time zone: a time without one could be read an hour or more off; write it in UTC ({example}Z) or with its offset from UTC ({example}+01:00 for Central European Time)"
    )
}

/// A duration in seconds as `1d 2h 3m 4s` (for humans).
pub fn format_duration(us: i64) -> String {
    let s = us.max(0) / 1_000_000;
    let (d, h, m, s) = (s / 86_400, s / 3600 % 24, s / 60 % 60, s % 60);
    let mut out = String::new();
    for (v, u) in [(d, "d"), (h, "h"), (m, "m")] {
        if v > 0 || !out.is_empty() {
            out.push_str(&format!("{v}{u} "));
        }
    }
    out.push_str(&format!("{s}s"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_the_log_format() {
        let t = parse_time("2023-11-14T22:13:20.001000Z").unwrap();
        assert_eq!(t, 1_700_000_000_001_000);
        assert_eq!(format_time(t), "2023-11-14T22:13:20.001000Z");
        assert_eq!(parse_time("@1700000000").unwrap(), 1_700_000_000_000_000);
        assert_eq!(parse_time("1700000000.5").unwrap(), 1_700_000_000_500_000);
        assert_eq!(parse_time("2023-11-14 22:13:20Z").unwrap(), 1_700_000_000_000_000);
        assert_eq!(parse_time("2023-11-14T23:13:20+01:00").unwrap(), 1_700_000_000_000_000);
        assert_eq!(parse_time("2023-11-14T21:13:20-0100").unwrap(), 1_700_000_000_000_000);
        assert_eq!(parse_time("2023-11-14Z").unwrap(), 1_699_920_000_000_000);
        assert_eq!(format_time(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(format_time(951_782_400_000_000), "2000-02-29T00:00:00.000000Z");
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        for bad in [
            "",
            "yesterday",
            "2023-13-01",
            "2023-02-30",
            "2023-11-14T25:00",
            "2023-11-14T10:00:00.x",
            "99999999999999999999",
            "-",
            "T",
            "2023-11-14T1:2:3:4",
            "@",
            "2023-11-14T10:00+99",
        ] {
            assert!(parse_time(bad).is_err(), "{bad}");
        }
    }

    /// Issue 15: "`--at \"2026-11-30 10:21:00\"` with TZ=Europe/Berlin
    /// searched 10:21:00Z — one hour off, no warning". A time without a
    /// zone is refused, naming both ways to write it.
    #[test]
    fn a_time_without_a_zone_is_refused() {
        for t in ["2026-11-30 10:21:00", "2026-11-30T10:21:00", "2026-11-30T10:21", "2026-11-30"] {
            let e = parse_time(t).unwrap_err();
            assert!(e.contains("no time zone") && e.contains("Z)") && e.contains("+01:00"), "{t}: {e}");
        }
        let e = parse_time("2026-11-30 10:21:00").unwrap_err();
        assert!(e.contains("2026-11-30T10:21:00Z"), "{e}");
    }

    #[test]
    fn durations() {
        assert_eq!(format_duration(0), "0s");
        assert_eq!(format_duration(3_723_000_000), "1h 2m 3s");
        assert_eq!(format_duration(86_400_000_000), "1d 0h 0m 0s");
    }
}
