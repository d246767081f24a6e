//! The open allocations of one [`super::Blocks`]: a hash table with open
//! addressing (linear probing, deletion by backward shift) whose slots can
//! be prefetched.
//!
//! Pairing a day of records is a stream of random accesses to the blocks
//! open at the time (a million subscribers: tens of MB, far beyond the
//! caches), one cache miss per record; with a standard map that miss is
//! waited for record after record (three quarters of the pairing's time in
//! one load on the 1 GB benchmark). Here the caller prefetches the slot of
//! a record a few records ahead ([`OpenTable::prefetch`]), so the misses
//! overlap. A slot is 40 bytes, the key and the open allocation side by
//! side: one line holds what a record needs.

use crate::record::Proto;
use crate::timefmt::Micros;

/// A block's key: its public address and ports in one number, and its
/// protocol scope.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct BlockKey {
    /// Public address << 32 | first port << 16 | last port.
    bits: u64,
    /// Protocol scope.
    proto: Proto,
}

impl BlockKey {
    /// The key of a block.
    pub fn new(public: u32, first_port: u16, last_port: u16, proto: Proto) -> BlockKey {
        BlockKey {
            bits: (public as u64) << 32 | (first_port as u64) << 16 | last_port as u64,
            proto,
        }
    }

    /// Public address (host order).
    pub fn public(&self) -> u32 {
        (self.bits >> 32) as u32
    }

    /// First port.
    pub fn first_port(&self) -> u16 {
        (self.bits >> 16) as u16
    }

    /// Last port.
    pub fn last_port(&self) -> u16 {
        self.bits as u16
    }

    /// Protocol scope.
    pub fn proto(&self) -> Proto {
        self.proto
    }

    /// A hash whose top bits are well mixed (Fibonacci hashing).
    fn hash(&self) -> u64 {
        (self.bits ^ (self.proto as u64) << 56 ^ (self.proto as u64)).wrapping_mul(0x9e37_79b9_7f4a_7c15)
    }
}

/// An allocation whose release has not been read yet.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Open {
    /// Allocation time.
    pub start: Micros,
    /// The subscriber (host order).
    pub subscriber: u32,
    /// Line of the allocation record.
    pub line: u32,
    /// The run that allocated it.
    pub run: u64,
    /// Interval flags so far.
    pub flags: u8,
}

/// One slot: a key and its open allocation, or nothing.
#[derive(Copy, Clone, Debug)]
struct Slot {
    bits: u64,
    start: Micros,
    run: u64,
    subscriber: u32,
    line: u32,
    proto: Proto,
    flags: u8,
    used: bool,
}

const EMPTY: Slot = Slot {
    bits: 0,
    start: 0,
    run: 0,
    subscriber: 0,
    line: 0,
    proto: Proto::All,
    flags: 0,
    used: false,
};

impl Slot {
    fn key(&self) -> BlockKey {
        BlockKey {
            bits: self.bits,
            proto: self.proto,
        }
    }

    fn open(&self) -> Open {
        Open {
            start: self.start,
            subscriber: self.subscriber,
            line: self.line,
            run: self.run,
            flags: self.flags,
        }
    }

    fn holding(key: BlockKey, o: Open) -> Slot {
        Slot {
            bits: key.bits,
            start: o.start,
            run: o.run,
            subscriber: o.subscriber,
            line: o.line,
            proto: key.proto,
            flags: o.flags,
            used: true,
        }
    }
}

/// Open allocations by block key.
#[derive(Clone, Debug, Default)]
pub struct OpenTable {
    /// A power of two of slots (none before the first insert).
    slots: Vec<Slot>,
    /// Slots used.
    len: usize,
    /// 64 minus log2 of the slot count: the hash's top bits index.
    shift: u32,
}

impl OpenTable {
    /// Empty.
    pub fn new() -> OpenTable {
        OpenTable::default()
    }

    /// Number of open allocations.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether none is open.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// The slot where the probe for `key` starts.
    fn home(&self, key: &BlockKey) -> usize {
        (key.hash() >> self.shift) as usize
    }

    /// The slot holding `key`, or the empty slot where it would go.
    fn probe(&self, key: &BlockKey) -> (usize, bool) {
        let mask = self.mask();
        let mut i = self.home(key);
        loop {
            let s = &self.slots[i];
            if !s.used {
                return (i, false);
            }
            if s.bits == key.bits && s.proto == key.proto {
                return (i, true);
            }
            i = (i + 1) & mask;
        }
    }

    /// Asks the processor to bring `key`'s slot into its cache: a hint,
    /// with no effect on the table.
    #[inline(always)]
    pub fn prefetch(&self, key: &BlockKey) {
        if let Some(s) = self.slots.get(self.home(key)) {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: SSE is part of x86_64, and a prefetch only hints the
            // cache: it reads nothing and cannot fault, whatever the address.
            unsafe {
                core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T0 }>((s as *const Slot).cast());
            }
            #[cfg(not(target_arch = "x86_64"))]
            let _ = s;
        }
    }

    /// The open allocation of `key`.
    pub fn get(&self, key: &BlockKey) -> Option<Open> {
        if self.slots.is_empty() {
            return None;
        }
        match self.probe(key) {
            (i, true) => Some(self.slots[i].open()),
            _ => None,
        }
    }

    /// Opens `key` with `o`, returning the allocation it replaces.
    pub fn insert(&mut self, key: BlockKey, o: Open) -> Option<Open> {
        // At most five eighths full: short probes.
        if (self.len + 1) * 8 > self.slots.len() * 5 {
            self.grow();
        }
        let (i, found) = self.probe(&key);
        let old = found.then(|| self.slots[i].open());
        self.slots[i] = Slot::holding(key, o);
        self.len += usize::from(!found);
        old
    }

    /// Closes `key`, returning its allocation.
    pub fn remove(&mut self, key: &BlockKey) -> Option<Open> {
        if self.slots.is_empty() {
            return None;
        }
        let (mut hole, found) = self.probe(key);
        if !found {
            return None;
        }
        let old = self.slots[hole].open();
        // Backward shift: every later slot of the run that may live in
        // the hole moves into it, so no probe ever stops short.
        let mask = self.mask();
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            if !self.slots[j].used {
                break;
            }
            let home = self.home(&self.slots[j].key());
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.slots[hole] = self.slots[j];
                hole = j;
            }
        }
        self.slots[hole] = EMPTY;
        self.len -= 1;
        Some(old)
    }

    fn grow(&mut self) {
        let n = (self.slots.len() * 2).max(64);
        let old = std::mem::replace(&mut self.slots, vec![EMPTY; n]);
        self.shift = 64 - n.trailing_zeros();
        for s in old.into_iter().filter(|s| s.used) {
            let (i, _) = self.probe(&s.key());
            self.slots[i] = s;
        }
    }

    /// Every open allocation, the table left empty.
    pub fn drain(&mut self) -> impl Iterator<Item = (BlockKey, Open)> {
        self.len = 0;
        std::mem::take(&mut self.slots)
            .into_iter()
            .filter(|s| s.used)
            .map(|s| (s.key(), s.open()))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn open(n: u64) -> Open {
        Open {
            start: n as Micros,
            subscriber: n as u32 ^ 0x6440_0000,
            line: n as u32,
            run: n * 3,
            flags: (n % 16) as u8,
        }
    }

    #[test]
    fn a_slot_is_forty_bytes() {
        assert_eq!(std::mem::size_of::<Slot>(), 40);
    }

    #[test]
    fn keys_round_trip() {
        let k = BlockKey::new(0xc612_0001, 1024, 1535, Proto::Udp);
        assert_eq!(
            (k.public(), k.first_port(), k.last_port(), k.proto()),
            (0xc612_0001, 1024, 1535, Proto::Udp)
        );
    }

    /// The table answers as the standard map under a random mix of
    /// inserts, replacements, lookups and removals, on few keys (long
    /// probe runs, wrapping around the end) and on many (growth).
    #[test]
    fn it_behaves_as_a_map() {
        for (keys, steps) in [(40u64, 20_000u64), (5_000, 60_000)] {
            let mut t = OpenTable::new();
            let mut m: HashMap<(u64, u8), Open> = HashMap::new();
            let mut x: u64 = 0x2545_f491_4f6c_dd1d;
            for step in 0..steps {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let n = x % keys;
                let proto = [Proto::All, Proto::Tcp, Proto::Udp][(x >> 40) as usize % 3];
                let key = BlockKey::new(
                    (n / 7) as u32 | 0xc600_0000,
                    (n % 7) as u16 * 512,
                    (n % 7) as u16 * 512 + 511,
                    proto,
                );
                let mk = (key.bits, proto as u8);
                match (x >> 50) % 3 {
                    0 => assert_eq!(t.insert(key, open(step)), m.insert(mk, open(step))),
                    1 => assert_eq!(t.remove(&key), m.remove(&mk)),
                    _ => assert_eq!(t.get(&key), m.get(&mk).copied()),
                }
                t.prefetch(&key);
                assert_eq!(t.len(), m.len());
            }
            let mut drained: Vec<_> = t.drain().map(|(k, o)| ((k.bits, k.proto as u8), o)).collect();
            let mut want: Vec<_> = m.into_iter().collect();
            drained.sort_by_key(|(k, _)| *k);
            want.sort_by_key(|(k, _)| *k);
            assert_eq!(drained, want);
            assert!(t.is_empty() && t.get(&BlockKey::new(1, 2, 3, Proto::All)).is_none());
        }
    }
}
