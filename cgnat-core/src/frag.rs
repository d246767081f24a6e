//! IPv4 fragment tracking (RFC 4787 REQ-14: "A NAT MUST support receiving
//! in-order and out-of-order fragments").
//!
//! Only a datagram's first fragment carries the transport ports. When it is
//! translated, [`FragmentTracker`] remembers the datagram (source,
//! destination, protocol, identification) and the addresses it was
//! rewritten to; later fragments are rewritten from that record. A
//! non-first fragment that arrives before its first one is held by the data
//! plane in a [`FragmentStash`] and replayed once the first fragment has
//! been translated. Both structures are per worker, fixed-size and
//! allocation-free after construction, so the data plane should steer a
//! datagram's fragments to one worker (RSS on IP addresses only, which is
//! the RSS the data plane configures).
//!
//! Both face the whole internet (any host can send fragments to a pool
//! address), so (issue 9 item 5): slots are chosen by a hash keyed with a
//! per-process secret (an outsider cannot aim at one slot), each source
//! address may hold at most `max_per_source` entries of each structure, and
//! expiry costs a bounded amount of work per call (the stash expires in
//! arrival order from a FIFO; the tracker is scanned a slice at a time).

mod per_source;

use crate::flow::Side;
use crate::table::hash::KeyedHash;
use crate::time::Instant;
use per_source::PerSource;

/// Identifies a datagram as received (RFC 791: source, destination,
/// protocol and identification).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct FragmentKey {
    /// Source address as received.
    pub src: u32,
    /// Destination address as received.
    pub dst: u32,
    /// IPv4 protocol.
    pub protocol: u8,
    /// IPv4 identification.
    pub ident: u16,
    /// Received from the inside (true) or outside.
    pub from_inside: bool,
}

impl FragmentKey {
    fn hash(&self, h: &KeyedHash) -> u64 {
        h.hash2(
            ((self.src as u64) << 32) | self.dst as u64,
            ((self.ident as u64) << 16) | ((self.protocol as u64) << 1) | self.from_inside as u64,
        )
    }
}

/// How the datagram's fragments are to be rewritten.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct FragmentRewrite {
    /// New source address.
    pub src: u32,
    /// New destination address.
    pub dst: u32,
    /// Where the fragments go.
    pub side: Side,
}

#[derive(Copy, Clone, Debug)]
struct Entry {
    key: FragmentKey,
    rewrite: FragmentRewrite,
    expires: Instant,
}

/// Why [`FragmentTracker::record`] could not remember a datagram.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum RecordError {
    /// Every nearby slot holds a live datagram.
    Full,
    /// The source holds its `max_per_source` datagrams.
    SourceLimit,
}

/// A bounded table of datagrams whose first fragment was translated.
pub struct FragmentTracker {
    entries: Box<[Option<Entry>]>,
    timeout_secs: u64,
    hash: KeyedHash,
    per_source: PerSource,
    cursor: usize,
}

const PROBE: usize = 8;
/// Tracker slots examined per [`FragmentTracker::expire_some`] call.
pub const EXPIRE_SLICE: usize = 64;

impl FragmentTracker {
    /// Room for `capacity` datagrams, each remembered for `timeout_secs`,
    /// at most `max_per_source` per source address, slots keyed by `seed`.
    pub fn new(capacity: usize, timeout_secs: u32, max_per_source: u32, seed: u64) -> Self {
        let n = capacity.max(PROBE);
        FragmentTracker {
            entries: vec![None; n].into_boxed_slice(),
            timeout_secs: timeout_secs as u64,
            hash: KeyedHash::new(seed ^ 0xf7a6_0001),
            per_source: PerSource::new(n, max_per_source, seed),
            cursor: 0,
        }
    }

    fn home(&self, key: &FragmentKey) -> usize {
        crate::table::hash::reduce(key.hash(&self.hash), self.entries.len())
    }

    fn vacate(&mut self, i: usize) {
        if let Some(e) = self.entries[i].take() {
            self.per_source.give(e.key.src);
        }
    }

    /// Remembers a translated first fragment.
    pub fn record(&mut self, key: FragmentKey, rewrite: FragmentRewrite, now: Instant) -> Result<(), RecordError> {
        let n = self.entries.len();
        let home = self.home(&key);
        let mut free = None;
        for k in 0..PROBE {
            let i = (home + k) % n;
            match &self.entries[i] {
                Some(e) if e.key == key => {
                    // The same datagram again (a retransmitted first fragment).
                    self.entries[i] = Some(Entry {
                        key,
                        rewrite,
                        expires: now.plus_secs(self.timeout_secs),
                    });
                    return Ok(());
                }
                Some(e) if e.expires > now => {}
                _ => {
                    if free.is_none() {
                        free = Some(i);
                    }
                }
            }
        }
        let i = free.ok_or(RecordError::Full)?;
        self.vacate(i);
        if !self.per_source.take(key.src) {
            return Err(RecordError::SourceLimit);
        }
        self.entries[i] = Some(Entry {
            key,
            rewrite,
            expires: now.plus_secs(self.timeout_secs),
        });
        Ok(())
    }

    /// The rewrite for a later fragment of a known datagram.
    pub fn lookup(&self, key: &FragmentKey, now: Instant) -> Option<FragmentRewrite> {
        let n = self.entries.len();
        let home = self.home(key);
        for k in 0..PROBE {
            if let Some(e) = &self.entries[(home + k) % n] {
                if e.key == *key && e.expires > now {
                    return Some(e.rewrite);
                }
            }
        }
        None
    }

    /// Frees the expired entries among the next [`EXPIRE_SLICE`] slots
    /// (so their sources' budgets come back). Bounded work per call.
    pub fn expire_some(&mut self, now: Instant) {
        let n = self.entries.len();
        for _ in 0..EXPIRE_SLICE.min(n) {
            let i = self.cursor;
            self.cursor = if i + 1 == n { 0 } else { i + 1 };
            if matches!(&self.entries[i], Some(e) if e.expires <= now) {
                self.vacate(i);
            }
        }
    }
}

const NONE: u32 = u32::MAX;
/// Held fragments expired per [`FragmentStash::expire`] call at most.
pub const EXPIRE_BUDGET: usize = 64;

struct Held<T> {
    key: FragmentKey,
    expires: Instant,
    /// Next slot in the same hash bucket.
    next: u32,
    item: T,
}

/// A bounded holding area for out-of-order fragments, generic over what the
/// data plane holds (an mbuf). Fixed capacity, no allocation after `new`:
/// held items sit in slots chained per keyed-hash bucket (for
/// [`FragmentStash::release`]) and are expired in arrival order from a FIFO
/// of slot indices (every item lives the same time, so arrival order is
/// expiry order).
pub struct FragmentStash<T> {
    slots: Vec<Option<Held<T>>>,
    free: Vec<u32>,
    buckets: Box<[u32]>,
    fifo: std::collections::VecDeque<(u32, Instant)>,
    held: usize,
    timeout_secs: u64,
    hash: KeyedHash,
    per_source: PerSource,
}

/// Why [`FragmentStash::hold`] gave the item back.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum HoldError {
    /// Every slot is taken.
    Full,
    /// The source holds its `max_per_source` fragments.
    SourceLimit,
}

impl<T> FragmentStash<T> {
    /// Room for `capacity` fragments, each held at most `timeout_secs`
    /// (one source may hold a quarter of it; keyed with a fixed seed: see
    /// [`FragmentStash::with_limits`] for the data plane).
    pub fn new(capacity: usize, timeout_secs: u32) -> Self {
        Self::with_limits(capacity, timeout_secs, (capacity as u32 / 4).max(1), 0)
    }

    /// Room for `capacity` fragments, each held at most `timeout_secs`, at
    /// most `max_per_source` per source address, hashed with `seed`.
    pub fn with_limits(capacity: usize, timeout_secs: u32, max_per_source: u32, seed: u64) -> Self {
        FragmentStash {
            slots: (0..capacity).map(|_| None).collect(),
            free: (0..capacity as u32).rev().collect(),
            buckets: vec![NONE; capacity.next_power_of_two().max(16)].into_boxed_slice(),
            // A slot can be in the FIFO twice (released, then reused before
            // its old entry reached the front): room for twice the slots.
            fifo: std::collections::VecDeque::with_capacity(2 * capacity + 1),
            held: 0,
            timeout_secs: timeout_secs as u64,
            hash: KeyedHash::new(seed ^ 0xf7a6_0002),
            per_source: PerSource::new(capacity, max_per_source, seed),
        }
    }

    fn bucket(&self, key: &FragmentKey) -> usize {
        key.hash(&self.hash) as usize & (self.buckets.len() - 1)
    }

    /// Holds `item` for datagram `key`; gives it back if the stash is full
    /// or the source holds its share.
    pub fn hold(&mut self, key: FragmentKey, item: T, now: Instant) -> Result<(), (HoldError, T)> {
        if self.fifo.len() == self.fifo.capacity() {
            self.trim_fifo();
        }
        if self.free.is_empty() || self.fifo.len() == self.fifo.capacity() {
            return Err((HoldError::Full, item));
        }
        if !self.per_source.take(key.src) {
            return Err((HoldError::SourceLimit, item));
        }
        let i = self.free.pop().expect("checked") as usize;
        let b = self.bucket(&key);
        let expires = now.plus_secs(self.timeout_secs);
        self.slots[i] = Some(Held {
            key,
            expires,
            next: self.buckets[b],
            item,
        });
        self.buckets[b] = i as u32;
        self.fifo.push_back((i as u32, expires));
        self.held += 1;
        Ok(())
    }

    /// Drops FIFO entries at the front whose slots were released already.
    fn trim_fifo(&mut self) {
        while let Some(&(i, expires)) = self.fifo.front() {
            match &self.slots[i as usize] {
                Some(h) if h.expires == expires => break,
                _ => {
                    self.fifo.pop_front();
                }
            }
        }
    }

    /// Unlinks slot `i` from its bucket chain and frees it.
    fn take(&mut self, i: usize) -> Option<T> {
        let h = self.slots[i].take()?;
        let b = self.bucket(&h.key);
        if self.buckets[b] == i as u32 {
            self.buckets[b] = h.next;
        } else {
            let mut j = self.buckets[b];
            while j != NONE {
                let next = self.slots[j as usize].as_ref().map_or(NONE, |s| s.next);
                if next == i as u32 {
                    if let Some(s) = self.slots[j as usize].as_mut() {
                        s.next = h.next;
                    }
                    break;
                }
                j = next;
            }
        }
        self.free.push(i as u32);
        self.held -= 1;
        self.per_source.give(h.key.src);
        Some(h.item)
    }

    /// Hands every held fragment of `key` to `f` (to be processed again),
    /// in arrival order.
    pub fn release(&mut self, key: &FragmentKey, mut f: impl FnMut(T)) {
        if self.held == 0 {
            return;
        }
        // The chain is newest first; collect matching slots (bounded by the
        // capacity) and hand them out oldest first.
        let mut found: [u32; 64] = [NONE; 64];
        loop {
            let mut n = 0;
            let mut j = self.buckets[self.bucket(key)];
            while j != NONE {
                let s = self.slots[j as usize].as_ref().expect("chained slots are held");
                if s.key == *key {
                    if n == found.len() {
                        found.copy_within(1.., 0);
                        n -= 1;
                    }
                    found[n] = j;
                    n += 1;
                }
                j = s.next;
            }
            if n == 0 {
                return;
            }
            for k in (0..n).rev() {
                if let Some(item) = self.take(found[k] as usize) {
                    f(item);
                }
            }
        }
    }

    /// Hands at most [`EXPIRE_BUDGET`] fragments held past their timeout to
    /// `f` (to be dropped), oldest first: bounded work per call.
    pub fn expire(&mut self, now: Instant, mut f: impl FnMut(T)) {
        for _ in 0..EXPIRE_BUDGET {
            let Some(&(i, expires)) = self.fifo.front() else { return };
            let live = matches!(&self.slots[i as usize], Some(h) if h.expires == expires);
            if live && expires > now {
                return;
            }
            self.fifo.pop_front();
            if live {
                if let Some(item) = self.take(i as usize) {
                    f(item);
                }
            }
        }
    }

    /// Hands every held fragment to `f` (at shutdown).
    pub fn drain(&mut self, mut f: impl FnMut(T)) {
        for i in 0..self.slots.len() {
            if let Some(item) = self.take(i) {
                f(item);
            }
        }
        self.fifo.clear();
    }

    /// Fragments currently held.
    pub fn len(&self) -> usize {
        self.held
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.held == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ident: u16) -> FragmentKey {
        FragmentKey {
            src: 0x6440_0001,
            dst: 0x0808_0808,
            protocol: 17,
            ident,
            from_inside: true,
        }
    }

    fn from(src: u32, ident: u16) -> FragmentKey {
        FragmentKey { src, ..key(ident) }
    }

    const RW: FragmentRewrite = FragmentRewrite {
        src: 1,
        dst: 2,
        side: Side::Outside,
    };

    #[test]
    fn records_expire() {
        let mut t = FragmentTracker::new(16, 2, 16, 1);
        assert_eq!(t.record(key(1), RW, Instant::from_secs(10)), Ok(()));
        assert_eq!(t.lookup(&key(1), Instant::from_secs(11)), Some(RW));
        assert_eq!(t.lookup(&key(2), Instant::from_secs(11)), None);
        assert_eq!(t.lookup(&key(1), Instant::from_secs(12)), None);
    }

    #[test]
    fn bounded_when_full_of_live_entries() {
        let mut t = FragmentTracker::new(8, 60, 100, 1);
        let now = Instant::from_secs(1);
        let ok = (0..100).filter(|i| t.record(from(*i, 1), RW, now).is_ok()).count();
        assert_eq!(ok, 8);
    }

    /// Issue 9 item 5: one source cannot fill the tracker; its budget comes
    /// back as its entries expire (bounded work per call).
    #[test]
    fn tracker_bounds_each_source_and_expires_in_slices() {
        let mut t = FragmentTracker::new(1024, 2, 4, 7);
        let now = Instant::from_secs(1);
        let flood = (0..100).filter(|i| t.record(key(*i), RW, now).is_ok()).count();
        assert_eq!(flood, 4);
        assert_eq!(t.record(key(999), RW, now), Err(RecordError::SourceLimit));
        assert_eq!(t.record(from(0x6440_0002, 1), RW, now), Ok(()), "another source is served");
        let later = Instant::from_secs(10);
        for _ in 0..1024 / EXPIRE_SLICE {
            t.expire_some(later);
        }
        assert_eq!(t.record(key(999), RW, later), Ok(()), "expired entries gave the budget back");
    }

    #[test]
    fn stash_holds_releases_and_expires() {
        let mut s = FragmentStash::with_limits(2, 2, 2, 3);
        let now = Instant::from_secs(5);
        s.hold(key(1), "a", now).unwrap();
        s.hold(key(2), "b", now).unwrap();
        assert_eq!(s.hold(key(3), "c", now), Err((HoldError::Full, "c")));
        let mut got = vec![];
        s.release(&key(1), |x| got.push(x));
        assert_eq!(got, vec!["a"]);
        s.expire(Instant::from_secs(7), |x| got.push(x));
        assert_eq!(got, vec!["a", "b"]);
        assert!(s.is_empty());
    }

    #[test]
    fn stash_releases_a_datagrams_fragments_in_arrival_order() {
        let mut s = FragmentStash::with_limits(16, 2, 16, 3);
        let now = Instant::from_secs(5);
        for (k, v) in [(1, "a1"), (2, "b1"), (1, "a2"), (1, "a3")] {
            s.hold(key(k), v, now).unwrap();
        }
        let mut got = vec![];
        s.release(&key(1), |x| got.push(x));
        assert_eq!(got, vec!["a1", "a2", "a3"]);
        assert_eq!(s.len(), 1);
        // Slots are reused; the FIFO skips what was released.
        for i in 0..15 {
            s.hold(from(100 + i, 9), "x", Instant::from_secs(6)).unwrap();
        }
        let mut expired = 0;
        s.expire(Instant::from_secs(7), |_| expired += 1);
        assert_eq!(expired, 1, "b1 (held at 5 s) expires at 7 s; the rest at 8 s");
        s.expire(Instant::from_secs(8), |_| expired += 1);
        assert_eq!(expired, 16);
    }

    /// Issue 9 item 5: "legitimate fragmented traffic keeps working during
    /// a fragment flood". A flooding source at its bound takes nothing from
    /// any other source, whatever the hash key: sources never share a
    /// budget (tests/hostile/04-fragment-flood.sh lost a host's out-of-order
    /// fragments about once in ten runs when they did).
    #[test]
    fn a_source_at_its_bound_takes_no_other_sources_budget() {
        let now = Instant::from_secs(1);
        for seed in 0..16 {
            let mut s = FragmentStash::with_limits(64, 2, 16, seed);
            let mut t = FragmentTracker::new(256, 2, 16, seed);
            for flood in [0x0909_0909u32, 0x0a0a_0a0a] {
                assert_eq!((0..100).filter(|i| s.hold(from(flood, *i), (), now).is_ok()).count(), 16);
                assert_eq!((0..100).filter(|i| t.record(from(flood, *i), RW, now).is_ok()).count(), 16);
            }
            for src in 1..=32u32 {
                assert_eq!(s.hold(from(src, 1), (), now), Ok(()), "stash, seed {seed}, source {src}");
                assert_ne!(
                    t.record(from(src, 1), RW, now),
                    Err(RecordError::SourceLimit),
                    "tracker, seed {seed}, source {src}"
                );
            }
        }
    }

    /// Issue 9 item 5: a flood of orphan fragments from one host takes at
    /// most its share; another host's out-of-order fragments are still held.
    #[test]
    fn stash_bounds_each_source_and_expiry_work_per_call() {
        let mut s = FragmentStash::with_limits(256, 2, 16, 3);
        let now = Instant::from_secs(1);
        let flood = 0x0909_0909;
        let held = (0..1000).filter(|i| s.hold(from(flood, *i), (), now).is_ok()).count();
        assert_eq!(held, 16);
        assert!(s.hold(from(0x0a0a_0a0a, 1), (), now).is_ok());
        // Many sources fill it; expiry then works in bounded slices.
        for src in 0..1000u32 {
            let _ = s.hold(from(src, 1), (), now);
        }
        assert_eq!(s.len(), 256);
        let mut n = 0;
        s.expire(Instant::from_secs(10), |_| n += 1);
        assert_eq!(n, EXPIRE_BUDGET);
    }
}
