//! Admission of new state under hostile traffic (RFC 6888 section 6,
//! REQ-11; issue 9 item 1): lock-free token buckets on new subscribers and
//! new blocks, per inside aggregate and globally, and a memory of refused
//! sources so that one that comes back (a TCP SYN or DNS retry, seconds
//! later) is preferred over a flood of one-packet spoofed sources.
//!
//! Everything here is on the slow path of a worker (a packet that would
//! create a subscriber or a block): a few atomic compare-and-swaps on
//! preallocated words, no lock, no allocation, no system call.
//!
//! ```text
//! bucket   : tokens (1/1000 token):30 | last refill (ms since the epoch, mod 2^34):34
//! refused  : inside address:32 | refusal time (ms, mod 2^32, never 0):32
//! ```

// Plain std atomics: the loom models cover the tables, not the limiter.
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use crate::mem::CachePadded;
use crate::table::hash::KeyedHash;
use crate::time::Instant;

const MILLI: u64 = 1000;
const TOKENS_SHIFT: u32 = 34;
const TIME_MASK: u64 = (1 << TOKENS_SHIFT) - 1;
/// Largest burst a bucket can hold, in tokens (30 bits of milli-tokens).
pub const MAX_BURST: u32 = ((1u64 << 30) / MILLI) as u32 - 1;

/// A token bucket in one atomic word: `rate` tokens per second up to
/// `burst`. A fresh (zero) bucket is full.
#[derive(Debug, Default)]
pub struct TokenBucket(AtomicU64);

impl TokenBucket {
    /// Takes one token at `now_ms` if there is one. `rate == 0`: no limit.
    pub fn try_take(&self, now_ms: u64, rate: u32, burst: u32) -> bool {
        if rate == 0 {
            return true;
        }
        let cap = burst.clamp(1, MAX_BURST) as u64 * MILLI;
        let now = now_ms & TIME_MASK;
        let mut w = self.0.load(Ordering::Relaxed);
        loop {
            let tokens = if w == 0 {
                cap
            } else {
                let elapsed = now.wrapping_sub(w & TIME_MASK) & TIME_MASK;
                // elapsed ms * rate tokens/s = elapsed * rate milli-tokens.
                ((w >> TOKENS_SHIFT) + elapsed.saturating_mul(rate as u64)).min(cap)
            };
            if tokens < MILLI {
                return false;
            }
            let new = ((tokens - MILLI) << TOKENS_SHIFT) | now | (w == 0 && now == 0) as u64;
            match self.0.compare_exchange_weak(w, new, Ordering::AcqRel, Ordering::Relaxed) {
                Ok(_) => return true,
                Err(a) => w = a,
            }
        }
    }

    /// Gives back one token taken with [`TokenBucket::try_take`] (another
    /// bucket of the same admission refused).
    pub fn give_back(&self, burst: u32) {
        let cap = burst.clamp(1, MAX_BURST) as u64 * MILLI;
        let _ = self.0.fetch_update(Ordering::AcqRel, Ordering::Relaxed, |w| {
            let tokens = ((w >> TOKENS_SHIFT) + MILLI).min(cap);
            Some((tokens << TOKENS_SHIFT) | (w & TIME_MASK))
        });
    }
}

/// Rates and bursts in force (reloadable: relaxed atomics, read per
/// admission on the slow path).
#[derive(Debug, Default)]
pub struct AdmissionRates {
    values: [AtomicU32; 12],
}

/// Indices into [`AdmissionRates`].
#[derive(Copy, Clone, Debug)]
#[repr(usize)]
enum R {
    SubAggRate,
    SubAggBurst,
    SubRate,
    SubBurst,
    BlockAggRate,
    BlockAggBurst,
    BlockRate,
    BlockBurst,
    RetryRate,
    RetryBurst,
    RetryMinMs,
    RetryWindowSecs,
}

impl AdmissionRates {
    /// Stores the values of `c`.
    pub fn store(&self, c: &crate::config::Admission) {
        let v = [
            c.subscriber_rate_per_aggregate,
            c.subscriber_burst_per_aggregate,
            c.subscriber_rate,
            c.subscriber_burst,
            c.block_rate_per_aggregate,
            c.block_burst_per_aggregate,
            c.block_rate,
            c.block_burst,
            c.retry_rate,
            c.retry_burst,
            c.retry_min_ms,
            c.retry_window_secs,
        ];
        for (a, v) in self.values.iter().zip(v) {
            a.store(v, Ordering::Relaxed);
        }
    }

    #[inline]
    fn get(&self, r: R) -> u32 {
        self.values[r as usize].load(Ordering::Relaxed)
    }
}

/// How a new subscriber was admitted, or why not.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Admit {
    /// Within its aggregate's and the global budget.
    Yes,
    /// Over budget, but a source refused earlier that came back: admitted
    /// from the retry budget (and past the unconfirmed share of the table).
    Retry,
    /// Refused (and remembered, so that a retry is preferred).
    No,
}

/// The admission limiter shared by every worker.
pub struct AdmissionControl {
    rates: AdmissionRates,
    aggregate_mask: u32,
    subscribers_by_aggregate: Box<[TokenBucket]>,
    blocks_by_aggregate: Box<[TokenBucket]>,
    subscribers: CachePadded<TokenBucket>,
    blocks: CachePadded<TokenBucket>,
    retries: CachePadded<TokenBucket>,
    refused: Box<[AtomicU64]>,
    hash: KeyedHash,
}

impl AdmissionControl {
    /// A limiter for configuration `c`, its hashes keyed with `seed` (a
    /// per-process secret: an outsider cannot aim at one bucket or slot).
    pub fn new(c: &crate::config::Admission, seed: u64) -> Self {
        let rates = AdmissionRates::default();
        rates.store(c);
        let buckets = || (0..c.aggregate_buckets).map(|_| TokenBucket::default()).collect();
        AdmissionControl {
            rates,
            aggregate_mask: if c.aggregate_prefix_len == 0 {
                0
            } else {
                u32::MAX << (32 - c.aggregate_prefix_len as u32)
            },
            subscribers_by_aggregate: buckets(),
            blocks_by_aggregate: buckets(),
            subscribers: CachePadded::default(),
            blocks: CachePadded::default(),
            retries: CachePadded::default(),
            refused: (0..c.refused_memory).map(|_| AtomicU64::new(0)).collect(),
            hash: KeyedHash::new(seed ^ 0xad31_5510),
        }
    }

    /// Applies reloaded rates (the table sizes need a restart).
    pub fn reload(&self, c: &crate::config::Admission) {
        self.rates.store(c);
    }

    /// The inside aggregate (its base address) of `addr`.
    #[inline]
    pub fn aggregate_of(&self, addr: u32) -> u32 {
        addr & self.aggregate_mask
    }

    fn bucket<'a>(&self, buckets: &'a [TokenBucket], addr: u32) -> &'a TokenBucket {
        let h = self.hash.hash1(self.aggregate_of(addr) as u64);
        &buckets[(h as usize) & (buckets.len() - 1)]
    }

    /// Takes one token from the aggregate's bucket and one from the global
    /// one, or neither.
    fn take_pair(&self, agg: &TokenBucket, global: &TokenBucket, now_ms: u64, r: [R; 4]) -> bool {
        let g = |i: usize| self.rates.get(r[i]);
        if !agg.try_take(now_ms, g(0), g(1)) {
            return false;
        }
        if global.try_take(now_ms, g(2), g(3)) {
            return true;
        }
        if g(0) != 0 {
            agg.give_back(g(1));
        }
        false
    }

    /// Whether a new subscriber `addr` may be created at `now`. A source
    /// refused earlier that comes back within the retry window is admitted
    /// from the retry budget first ([`Admit::Retry`]: it also passes the
    /// unconfirmed share of the table, which may have been its refusal).
    pub fn admit_subscriber(&self, addr: u32, now: Instant) -> Admit {
        let ms = now.as_micros() / 1000;
        let (retry_rate, retry_burst) = (self.rates.get(R::RetryRate), self.rates.get(R::RetryBurst));
        if retry_rate > 0 && self.is_retry(addr, ms) && self.retries.try_take(ms, retry_rate, retry_burst) {
            self.forget(addr);
            return Admit::Retry;
        }
        let agg = self.bucket(&self.subscribers_by_aggregate, addr);
        if self.take_pair(agg, &self.subscribers, ms, [R::SubAggRate, R::SubAggBurst, R::SubRate, R::SubBurst]) {
            return Admit::Yes;
        }
        self.remember(addr, ms);
        Admit::No
    }

    /// Records that `addr` was refused at `now` for another reason (the
    /// unconfirmed share of the table is full), so that its retry is
    /// preferred like that of a source the buckets refused.
    pub fn refuse(&self, addr: u32, now: Instant) {
        self.remember(addr, now.as_micros() / 1000);
    }

    /// Whether subscriber `addr` may take a further block at `now`.
    pub fn admit_block(&self, addr: u32, now: Instant) -> bool {
        let ms = now.as_micros() / 1000;
        let agg = self.bucket(&self.blocks_by_aggregate, addr);
        self.take_pair(
            agg,
            &self.blocks,
            ms,
            [R::BlockAggRate, R::BlockAggBurst, R::BlockRate, R::BlockBurst],
        )
    }

    /// The two candidate slots of `addr` in the refused memory.
    #[inline]
    fn slots(&self, addr: u32) -> [&AtomicU64; 2] {
        let h = self.hash.hash1(addr as u64 ^ 0x5eed);
        let m = self.refused.len() - 1;
        [&self.refused[h as usize & m], &self.refused[(h >> 32) as usize & m]]
    }

    fn is_retry(&self, addr: u32, now_ms: u64) -> bool {
        let min = self.rates.get(R::RetryMinMs);
        let window = self.rates.get(R::RetryWindowSecs).saturating_mul(1000);
        self.slots(addr).iter().any(|s| {
            let w = s.load(Ordering::Relaxed);
            let age = (now_ms as u32).wrapping_sub(w as u32);
            w != 0 && (w >> 32) as u32 == addr && age >= min && age <= window
        })
    }

    /// Remembers a refusal of `addr` (keeping the first refusal's time
    /// while it is within the retry window, so a burst is not a retry).
    fn remember(&self, addr: u32, now_ms: u64) {
        let now32 = (now_ms as u32).max(1);
        let window = self.rates.get(R::RetryWindowSecs).saturating_mul(1000);
        let [a, b] = self.slots(addr);
        let age = |w: u64| now32.wrapping_sub(w as u32);
        for s in [a, b] {
            let w = s.load(Ordering::Relaxed);
            if w != 0 && (w >> 32) as u32 == addr {
                if age(w) > window {
                    s.store(((addr as u64) << 32) | now32 as u64, Ordering::Relaxed);
                }
                return;
            }
        }
        // Replace the empty or older of the two.
        let (wa, wb) = (a.load(Ordering::Relaxed), b.load(Ordering::Relaxed));
        let victim = if wa == 0 || (wb != 0 && age(wa) >= age(wb)) { a } else { b };
        victim.store(((addr as u64) << 32) | now32 as u64, Ordering::Relaxed);
    }

    fn forget(&self, addr: u32) {
        for s in self.slots(addr) {
            let w = s.load(Ordering::Relaxed);
            if (w >> 32) as u32 == addr {
                let _ = s.compare_exchange(w, 0, Ordering::Relaxed, Ordering::Relaxed);
            }
        }
    }
}

/// One worker's tally of refusals for the summarising `admission-limit`
/// record (one per interval, not one per source): how many, and the
/// aggregate refused most (a majority vote: exact when one aggregate has
/// more than half of the refusals).
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct RefusalTally {
    /// Refusals since the last record.
    pub refused: u64,
    candidate: u32,
    votes: u64,
    /// Packet-clock second of the last record (0: none yet).
    pub since_secs: u32,
}

impl RefusalTally {
    /// Counts a refusal of a source in aggregate `aggregate`.
    pub fn add(&mut self, aggregate: u32) {
        self.refused += 1;
        if self.votes == 0 {
            self.candidate = aggregate;
            self.votes = 1;
        } else if self.candidate == aggregate {
            self.votes += 1;
        } else {
            self.votes -= 1;
        }
    }

    /// The aggregate refused most (see the type's documentation).
    pub fn top_aggregate(&self) -> u32 {
        self.candidate
    }

    /// Starts a new interval at `now_secs`.
    pub fn reset(&mut self, now_secs: u32) {
        *self = RefusalTally {
            since_secs: now_secs.max(1),
            ..RefusalTally::default()
        };
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::config::Admission;

    fn cfg() -> Admission {
        Admission {
            aggregate_prefix_len: 24,
            subscriber_rate_per_aggregate: 10,
            subscriber_burst_per_aggregate: 5,
            subscriber_rate: 100,
            subscriber_burst: 20,
            retry_rate: 10,
            retry_burst: 2,
            retry_min_ms: 200,
            retry_window_secs: 60,
            ..Admission::default()
        }
    }

    fn at(ms: u64) -> Instant {
        Instant::from_micros((1_700_000_000_000 + ms) * 1000)
    }

    #[test]
    fn bucket_refills_at_its_rate_up_to_its_burst() {
        let b = TokenBucket::default();
        let t0 = 1_700_000_000_000;
        assert_eq!(
            (0..10).filter(|_| b.try_take(t0, 4, 3)).count(),
            3,
            "a fresh bucket holds its burst"
        );
        assert!(!b.try_take(t0 + 249, 4, 3), "4/s: one token per 250 ms");
        assert!(b.try_take(t0 + 250, 4, 3));
        assert_eq!(
            (0..10).filter(|_| b.try_take(t0 + 60_000, 4, 3)).count(),
            3,
            "never above the burst"
        );
        assert!(TokenBucket::default().try_take(t0, 0, 0), "rate 0: no limit");
    }

    /// Issue 9 item 1: a flood from one aggregate cannot consume the
    /// admissions of others.
    #[test]
    fn one_aggregate_cannot_spend_another_aggregates_budget() {
        let a = AdmissionControl::new(&cfg(), 1);
        let flood = 0x6440_0100; // 100.64.1.0/24
        let admitted = (0..1000)
            .filter(|i| a.admit_subscriber(flood + (i % 256), at(0)) == Admit::Yes)
            .count();
        assert_eq!(admitted, 5, "the aggregate's burst");
        let other = 0x6440_2000; // 100.64.32.0/24
        assert_eq!(a.admit_subscriber(other + 7, at(0)), Admit::Yes);
    }

    /// Issue 9 item 1: a global limit bounds a flood spread over every
    /// aggregate, and a refused source that retries is preferred.
    #[test]
    fn global_limit_and_retry_preference() {
        let a = AdmissionControl::new(&cfg(), 2);
        // Spoofed sources spread over many aggregates, one packet each, one
        // per millisecond for two seconds (10x the global rate of 100/s);
        // a genuine newcomer sends its SYN at 0.5 s and retransmits at 1.5 s.
        let spoofed = |i: u64| 0x6440_0001 + ((i as u32) << 8);
        let newcomer = 0x6470_0a0a;
        let (mut flood_in, mut newcomer_first, mut newcomer_retry) = (0, None, None);
        for ms in 0..2000u64 {
            if a.admit_subscriber(spoofed(ms), at(ms)) == Admit::Yes {
                flood_in += 1;
            }
            if ms == 500 {
                newcomer_first = Some(a.admit_subscriber(newcomer, at(ms)));
            }
            if ms == 1500 {
                newcomer_retry = Some(a.admit_subscriber(newcomer, at(ms)));
            }
        }
        assert!(flood_in <= 20 + 200 + 1, "burst + 2 s at 100/s: {flood_in}");
        assert_eq!(newcomer_first, Some(Admit::No), "the flood holds the global budget");
        assert_eq!(newcomer_retry, Some(Admit::Retry), "its retry gets in");
        // Not a retry within retry_min_ms of the refusal (a burst of one flow).
        let quick = 0x6471_0000;
        assert_eq!(a.admit_subscriber(quick, at(1990)), Admit::No);
        assert_eq!(a.admit_subscriber(quick, at(1999)), Admit::No);
        // The retry budget is its own bucket: it bounds retries too.
        let retried = (0..50u32)
            .filter(|i| {
                let s = 0x6480_0000 + i;
                a.admit_subscriber(s, at(3000));
                a.admit_subscriber(s, at(3500)) == Admit::Retry
            })
            .count();
        assert!(retried <= 2 + 5 + 1, "retry burst 2 plus 10/s over 0.5 s: {retried}");
    }

    #[test]
    fn refusal_tally_names_the_dominant_aggregate() {
        let mut t = RefusalTally::default();
        for i in 0..100u32 {
            t.add(if i % 3 == 0 { 0x6440_0500 + (i << 8) } else { 0x6440_0100 });
        }
        assert_eq!(t.refused, 100);
        assert_eq!(t.top_aggregate(), 0x6440_0100);
        t.reset(5);
        assert_eq!((t.refused, t.since_secs), (0, 5));
    }
}
