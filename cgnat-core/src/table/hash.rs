//! A keyed hash for table indices.
//!
//! Remote addresses and ports are chosen by the internet, so the hash is
//! keyed with a secret seed: an attacker who cannot learn the key cannot aim
//! flows at one probe chain. The mixing is the folded 64×64→128-bit multiply
//! used by foldhash/wyhash: two multiplies per key, no table, no branches.

/// A seeded hash of two 64-bit words.
#[derive(Copy, Clone, Debug)]
pub struct KeyedHash {
    k0: u64,
    k1: u64,
    k2: u64,
}

#[inline(always)]
fn folded_multiply(a: u64, b: u64) -> u64 {
    let r = (a as u128).wrapping_mul(b as u128);
    (r as u64) ^ ((r >> 64) as u64)
}

/// SplitMix64 step: expands a seed into independent-looking words.
#[inline]
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl KeyedHash {
    /// A hash keyed from `seed` (different seeds give unrelated hashes).
    pub fn new(seed: u64) -> Self {
        let mut s = seed;
        KeyedHash {
            k0: splitmix64(&mut s) | 1,
            k1: splitmix64(&mut s) | 1,
            k2: splitmix64(&mut s) | 1,
        }
    }

    /// Hashes two words.
    #[inline(always)]
    pub fn hash2(&self, a: u64, b: u64) -> u64 {
        let h = folded_multiply(a ^ self.k0, b ^ self.k1);
        folded_multiply(h, self.k2)
    }

    /// Hashes one word.
    #[inline(always)]
    pub fn hash1(&self, a: u64) -> u64 {
        self.hash2(a, 0)
    }
}

/// Maps a hash onto `0..n` without a division (Lemire's multiply-shift).
#[inline(always)]
pub fn reduce(h: u64, n: usize) -> usize {
    ((h as u128 * n as u128) >> 64) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeds_change_everything() {
        let a = KeyedHash::new(1);
        let b = KeyedHash::new(2);
        assert_ne!(a.hash2(7, 9), b.hash2(7, 9));
        assert_eq!(a.hash2(7, 9), KeyedHash::new(1).hash2(7, 9));
    }

    #[test]
    fn spreads_sequential_keys() {
        // 64 Ki sequential keys into 1024 buckets: no bucket should be wildly over-full.
        let h = KeyedHash::new(42);
        let mut buckets = vec![0u32; 1024];
        for i in 0..65_536u64 {
            buckets[reduce(h.hash2(0x6440_0000_0000_0000 | i, 17), 1024)] += 1;
        }
        let max = *buckets.iter().max().unwrap();
        assert!(max < 64 * 2, "max bucket {max} for a mean of 64");
    }
}
