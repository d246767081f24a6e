//! The packet clock.
//!
//! cgnat-core never reads a clock: every function that needs the time takes
//! `now` as an [`Instant`]. Live, the data plane passes a coarse clock read
//! once per burst; in pcap replay it passes the packet timestamp, which is
//! what makes a replay (and its NAT log) deterministic.

use core::fmt;

/// A point in time on the packet clock, in microseconds since the Unix epoch
/// (or any fixed epoch the data plane chooses; replay uses the pcap's).
#[derive(Copy, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

impl Instant {
    /// The epoch itself.
    pub const ZERO: Instant = Instant(0);

    /// An instant `micros` microseconds after the epoch.
    #[inline]
    pub const fn from_micros(micros: u64) -> Self {
        Instant(micros)
    }

    /// An instant `secs` seconds after the epoch.
    #[inline]
    pub const fn from_secs(secs: u64) -> Self {
        Instant(secs * 1_000_000)
    }

    /// Microseconds since the epoch.
    #[inline]
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// Whole seconds since the epoch.
    #[inline]
    pub const fn as_secs(self) -> u64 {
        self.0 / 1_000_000
    }

    /// Whole seconds since the epoch, truncated to 32 bits: the resolution the
    /// tables store timers in (it wraps in the year 2106).
    #[inline]
    pub const fn secs32(self) -> u32 {
        self.as_secs() as u32
    }

    /// This instant plus `secs` seconds.
    #[inline]
    pub const fn plus_secs(self, secs: u64) -> Self {
        Instant(self.0 + secs * 1_000_000)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:06}s", self.0 / 1_000_000, self.0 % 1_000_000)
    }
}

/// Formats an instant as RFC 3339 UTC with microseconds,
/// e.g. `2026-11-21T10:05:00.000123Z` (the NAT log's timestamp format).
impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let secs = self.as_secs();
        let micros = self.0 % 1_000_000;
        let (y, mo, d) = civil_from_days((secs / 86_400) as i64);
        let rem = secs % 86_400;
        write!(
            f,
            "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}.{micros:06}Z",
            rem / 3600,
            (rem / 60) % 60,
            rem % 60
        )
    }
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
/// Howard Hinnant's `civil_from_days` algorithm.
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// (year, month, day) to days since 1970-01-01; inverse of [`civil_from_days`].
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn displays_rfc3339_utc_with_micros() {
        // 2026-11-21T10:05:00Z is 1_795_255_500 s after the epoch.
        let t = Instant::from_micros(1_795_255_500_000_123);
        assert_eq!(t.to_string(), "2026-11-21T10:05:00.000123Z");
        assert_eq!(Instant::ZERO.to_string(), "1970-01-01T00:00:00.000000Z");
    }

    #[test]
    fn civil_round_trip() {
        for days in [-1000, 0, 59, 60, 365, 10_957, 20_000, 50_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }
}
