//! Exact per-source accounting for the fragment caches (issue 9 item 5:
//! per-source bounds, and "legitimate fragmented traffic keeps working
//! during a fragment flood").

use crate::table::hash::KeyedHash;

/// Entries per source address, counted exactly: an open-addressing table
/// of (source, count) with linear probing from a keyed hash and
/// backward-shift deletion. It has twice as many slots as the structure it
/// counts for has entries, so every source holding an entry has its slot
/// and the table is at most half full. Sources never share a budget: a
/// flooding source at its bound takes nothing from another one (issue 9
/// item 5).
pub(super) struct PerSource {
    sources: Box<[u32]>,
    /// 0: an empty slot.
    counts: Box<[u16]>,
    max: u16,
    hash: KeyedHash,
}

impl PerSource {
    /// For a structure of `entries` entries, at most `max` per source.
    pub(super) fn new(entries: usize, max: u32, seed: u64) -> Self {
        let n = (2 * entries).next_power_of_two().max(16);
        PerSource {
            sources: vec![0; n].into_boxed_slice(),
            counts: vec![0; n].into_boxed_slice(),
            max: max.clamp(1, u16::MAX as u32) as u16,
            hash: KeyedHash::new(seed ^ 0x50c5_0c75),
        }
    }

    fn home(&self, src: u32) -> usize {
        self.hash.hash1(src as u64) as usize & (self.counts.len() - 1)
    }

    /// The slot of `src`, or the empty slot where it would go.
    fn find(&self, src: u32) -> Option<usize> {
        let mask = self.counts.len() - 1;
        let mut i = self.home(src);
        for _ in 0..self.counts.len() {
            if self.counts[i] == 0 || self.sources[i] == src {
                return Some(i);
            }
            i = (i + 1) & mask;
        }
        None
    }

    pub(super) fn take(&mut self, src: u32) -> bool {
        match self.find(src) {
            Some(i) if self.counts[i] < self.max => {
                self.sources[i] = src;
                self.counts[i] += 1;
                true
            }
            _ => false,
        }
    }

    pub(super) fn give(&mut self, src: u32) {
        let Some(i) = self.find(src) else { return };
        if self.counts[i] == 0 {
            return;
        }
        self.counts[i] -= 1;
        if self.counts[i] == 0 {
            self.remove(i);
        }
    }

    /// Empties slot `hole`, moving back the entries after it whose probe
    /// path crosses it (so that every lookup still finds its source).
    fn remove(&mut self, mut hole: usize) {
        let mask = self.counts.len() - 1;
        let mut j = hole;
        for _ in 0..self.counts.len() {
            j = (j + 1) & mask;
            if self.counts[j] == 0 {
                return;
            }
            let home = self.home(self.sources[j]);
            // The entry at j may move to the hole if the hole lies on its
            // probe path, from its home up to j.
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.sources[hole] = self.sources[j];
                self.counts[hole] = self.counts[j];
                self.counts[j] = 0;
                hole = j;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-source counts stay exact through any order of takes and
    /// gives (a model: a map of source to count), in a crowded table
    /// (removals shift entries back) and a roomy one.
    #[test]
    fn per_source_counts_match_a_model() {
        for (entries, sources) in [(4usize, 12u64), (64, 40)] {
            let mut p = PerSource::new(entries, 3, 5);
            let mut model = std::collections::HashMap::<u32, u16>::new();
            let mut x = 0x2545_f491_u64;
            for _ in 0..20_000 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let src = (x % sources) as u32 * 0x0100_0001;
                let live: usize = model.values().map(|n| *n as usize).sum();
                if x & (1 << 20) != 0 && live < entries {
                    let n = model.entry(src).or_default();
                    assert_eq!(p.take(src), *n < 3, "take {src:#x} at {n}");
                    if *n < 3 {
                        *n += 1;
                    }
                } else if model.get(&src).is_some_and(|n| *n > 0) {
                    p.give(src);
                    *model.get_mut(&src).unwrap() -= 1;
                }
            }
            for (src, n) in model {
                for _ in 0..n {
                    p.give(src);
                }
            }
            assert!(p.counts.iter().all(|c| *c == 0), "every count given back");
        }
    }
}
