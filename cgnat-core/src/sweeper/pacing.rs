//! How much of each table one paced sweep visits (issue 11 item 2,
//! docs/decisions/012-expiry-pacing.md).
//!
//! Every table is passed over once per *period* `P`: a call that comes
//! `dt` after the previous one is owed `slots * dt / P` slots (fractions
//! carry to the next call). The period is [`Pacing::period_us`] normally
//! and [`Pacing::fast_period_us`] while the session table is nearly full
//! or while the sweeper keeps finding many expired sessions, so dead
//! sessions hold little of the table under churn.
//!
//! One call never visits more than [`Pacing::max_slots`] slots of a table
//! nor removes more than [`Pacing::max_expired`] sessions: what a call
//! could not do is owed to the next ones (at most one pass is owed), so
//! a late call costs a bounded amount and the pass still keeps its pace
//! on average. A call also visits at least [`Pacing::min_slots`] session
//! and mapping slots, so a small table is passed over within a few calls.
//!
//! The bound: a slot is visited at least once every
//! `max(P, slots * gap / max_slots)` plus `gap`, where `gap` is the longest
//! time between two calls ([`Pacing::overstay_bound_us`]); an expired
//! session is removed on that visit unless more than `max_expired`
//! removals fell due in one call.

/// The pacing parameters.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Pacing {
    /// Microseconds per pass over every table, normally.
    pub period_us: u64,
    /// Microseconds per pass while under pressure (table fill at or above
    /// `pressure_percent`, or expired sessions at or above
    /// `expired_percent` of the live ones visited in the last segment,
    /// scaled to `period_us`).
    pub fast_period_us: u64,
    /// Session-table fill, percent of `max_sessions`, from which the fast
    /// period applies.
    pub pressure_percent: u32,
    /// Expired sessions among the live ones visited, percent, from which
    /// the fast period applies (measured over each eighth of a pass and
    /// scaled to what a pass at `period_us` would find).
    pub expired_percent: u32,
    /// Most slots of one table a call visits.
    pub max_slots: usize,
    /// Most sessions a call removes.
    pub max_expired: usize,
    /// Fewest session and mapping slots a call visits (all of a smaller
    /// table). Blocks and subscribers keep the period: removing an idle
    /// subscriber races a worker that is just giving it a new session (the
    /// worker drops that packet as a race), so a small table is not
    /// visited every tick. A subscriber the worker creates is born
    /// counting its first session, which closes that case for new ones.
    pub min_slots: usize,
}

impl Default for Pacing {
    /// A pass every 4 s (1 s under pressure from 90% fill or 50% expired),
    /// at most 64 Ki slots per table and 8 Ki removals per call, at least
    /// 1 Ki session and mapping slots per call.
    fn default() -> Self {
        Pacing {
            period_us: 4_000_000,
            fast_period_us: 1_000_000,
            pressure_percent: 90,
            expired_percent: 50,
            max_slots: 65_536,
            max_expired: 8_192,
            min_slots: 1_024,
        }
    }
}

impl Pacing {
    /// The longest a session stays after its timeout, microseconds, for a
    /// table of `slots` slots swept by calls at most `gap_us` apart, while
    /// no call has more than `max_expired` removals due: a pass takes at
    /// most `max(period, slots * gap / max_slots)`, and the visit that
    /// finds the session expired comes at most one `gap` after the pass
    /// reached its slot.
    pub fn overstay_bound_us(&self, slots: usize, gap_us: u64) -> u64 {
        let capped = (slots as u64 * gap_us).div_ceil(self.max_slots.max(1) as u64);
        self.period_us.max(self.fast_period_us).max(capped) + gap_us
    }
}

/// The pace of one table's cursor.
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct Lane {
    /// Owed slot-microseconds below one slot's worth (`< period`).
    carry: u64,
    /// Whole slots owed by earlier calls that hit a cap.
    debt: u64,
}

impl Lane {
    /// Slots to visit now for a table of `slots` slots, `dt_us` after the
    /// previous call, at `period_us` per pass, at least `floor` of them.
    pub(crate) fn step(&mut self, p: &Pacing, slots: usize, dt_us: u64, period_us: u64, floor: usize) -> usize {
        let n = slots as u64;
        let period = period_us.max(1);
        // More than a pass is never owed: one pass visits every slot.
        let acc = self.carry.min(period - 1) + n * dt_us.min(period);
        let due = (self.debt + acc / period).min(n);
        self.carry = acc % period;
        let step = due.min(p.max_slots as u64).max((floor as u64).min(n));
        self.debt = due.saturating_sub(step);
        step as usize
    }

    /// `slots` of the last step were not visited (a removal cap stopped
    /// the call): owe them to the next calls.
    pub(crate) fn give_back(&mut self, slots: usize, table: usize) {
        self.debt = (self.debt + slots as u64).min(table as u64);
    }
}

/// The session lane plus what decides the period.
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct Pacer {
    /// The previous call's time, microseconds.
    last_us: Option<u64>,
    /// Sessions, mappings, blocks, subscribers.
    pub(crate) lanes: [Lane; 4],
    /// Session slots visited in the current segment (an eighth of a pass).
    seg_slots: u64,
    /// Live sessions seen in it.
    seg_live: u64,
    /// Sessions found expired in it.
    seg_expired: u64,
    /// Percent expired among the live ones of the last full segment.
    last_expired_percent: u32,
}

impl Pacer {
    /// Microseconds since the previous call (0 on the first).
    pub(crate) fn elapsed(&mut self, now_us: u64) -> u64 {
        let dt = self.last_us.map_or(0, |l| now_us.saturating_sub(l));
        self.last_us = Some(self.last_us.map_or(now_us, |l| l.max(now_us)));
        dt
    }

    /// The period in force: fast under pressure (`len` of `capacity`
    /// sessions live) or when the last segment found many expired.
    pub(crate) fn period(&self, p: &Pacing, len: u32, capacity: u32) -> u64 {
        let fill = len as u64 * 100 / capacity.max(1) as u64;
        if fill >= p.pressure_percent as u64 || self.last_expired_percent >= p.expired_percent {
            p.fast_period_us
        } else {
            p.period_us
        }
    }

    /// Accounts one call's session scan over a table of `slots` slots,
    /// made at `period_us` per pass. The expired share is scaled to the
    /// normal period (a pass twice as fast finds half as many expired per
    /// visit), so the fast period holds while churn would leave that many
    /// dead sessions at the normal one, instead of flapping.
    pub(crate) fn record(&mut self, p: &Pacing, slots: usize, visited: usize, live: u64, expired: u64, period_us: u64) {
        self.seg_slots += visited as u64;
        self.seg_live += live;
        self.seg_expired += expired;
        if self.seg_slots >= (slots as u64 / 8).max(1) {
            let scaled = self.seg_expired as u128 * 100 * p.period_us as u128;
            let per = self.seg_live.max(1) as u128 * period_us.max(1) as u128;
            self.last_expired_percent = (scaled / per).min(u32::MAX as u128) as u32;
            self.seg_slots = 0;
            self.seg_live = 0;
            self.seg_expired = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_per_period_at_any_call_rate() {
        let p = Pacing::default();
        let n = 20_000_000usize;
        for gap in [1_000u64, 1_700, 2_000, 9_999] {
            let mut l = Lane::default();
            let mut sum = 0u64;
            let calls = p.period_us / gap;
            for _ in 0..calls {
                sum += l.step(&p, n, gap, p.period_us, p.min_slots) as u64;
            }
            // Within one call's worth of a whole pass.
            let one = n as u64 * gap / p.period_us + 1;
            assert!(sum + one >= n as u64 && sum <= n as u64 + one, "gap {gap}: {sum}");
        }
    }

    #[test]
    fn a_late_call_is_capped_and_the_rest_owed() {
        let p = Pacing::default();
        let n = 20_000_000usize;
        let mut l = Lane::default();
        let first = l.step(&p, n, 1_000_000, p.period_us, p.min_slots);
        assert_eq!(first, p.max_slots);
        // 5 M owed in all: the following calls pay at the cap.
        let mut paid = first as u64;
        while paid < 5_000_000 {
            let s = l.step(&p, n, 0, p.period_us, p.min_slots);
            assert!(s <= p.max_slots && s > 0);
            paid += s as u64;
        }
        assert_eq!(paid, 5_000_000);
        assert_eq!(l.step(&p, n, 0, p.period_us, p.min_slots), p.min_slots);
    }

    #[test]
    fn never_more_than_one_pass_owed() {
        let p = Pacing::default();
        let mut l = Lane::default();
        let n = 100_000;
        l.step(&p, n, 3_600_000_000, p.period_us, p.min_slots);
        let mut paid = p.max_slots;
        while l.debt > 0 {
            paid += l.step(&p, n, 0, p.period_us, p.min_slots);
        }
        assert_eq!(paid, n);
    }

    #[test]
    fn small_tables_are_visited_whole() {
        let p = Pacing::default();
        let mut l = Lane::default();
        assert_eq!(l.step(&p, 300, 0, p.period_us, p.min_slots), 300);
        assert_eq!(l.step(&p, 5_000, 10, p.period_us, p.min_slots), p.min_slots);
        // Without a floor, a small table keeps the period.
        let mut l = Lane::default();
        assert_eq!(l.step(&p, 300, 0, p.period_us, 0), 0);
        let per_ms: usize = (0..4000).map(|_| l.step(&p, 300, 1_000, p.period_us, 0)).sum();
        assert_eq!(per_ms, 300);
    }

    #[test]
    fn pressure_shortens_the_period() {
        let p = Pacing::default();
        let mut c = Pacer::default();
        assert_eq!(c.period(&p, 50, 100), p.period_us);
        assert_eq!(c.period(&p, 90, 100), p.fast_period_us);
        c.record(&p, 800, 100, 100, 60, p.period_us);
        assert_eq!(c.last_expired_percent, 60);
        assert_eq!(c.period(&p, 50, 100), p.fast_period_us);
        // At the fast period a quarter as many per visit is the same churn.
        c.record(&p, 800, 100, 100, 14, p.fast_period_us);
        assert_eq!(c.last_expired_percent, 56);
        assert_eq!(c.period(&p, 50, 100), p.fast_period_us);
        c.record(&p, 800, 100, 100, 10, p.fast_period_us);
        assert_eq!(c.period(&p, 50, 100), p.period_us);
    }

    #[test]
    fn the_bound_grows_when_calls_are_too_sparse_for_the_cap() {
        let p = Pacing::default();
        // 16 Mi sessions: 20 971 520 slots.
        assert_eq!(p.overstay_bound_us(20_971_520, 2_000), 4_002_000);
        assert_eq!(p.overstay_bound_us(20_971_520, 100_000), 32_000_000 + 100_000);
    }
}
