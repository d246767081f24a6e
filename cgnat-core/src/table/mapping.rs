//! The endpoint-independent mapping index (RFC 4787 REQ-1): inside
//! (protocol, address, port) → public port on the subscriber's address.
//!
//! The mapping itself (its session count, its inside port) lives in the
//! pool's per-port array, reached from the public side without hashing; this
//! table is the inside-side index used when a subscriber endpoint opens a
//! new session, so that every destination sees the same public port.
//!
//! A slot is 16 bytes. The whole key fits in the control word's 50-bit tag,
//! so a tag match is a key match and two workers creating the same mapping
//! always meet on the same tag.
//!
//! ```text
//! ctrl  : state:2 | version:12 | protocol:2 | inside address:32 | inside port:16
//! value : pool index:24 | public port:16
//! ```

use crate::flow::MappingKey;
use crate::mem::{prefault, table, Table};
use crate::sync::{AtomicU32, AtomicU64, Ordering};

use super::hash::KeyedHash;
use super::probe::{self, Claim, Found, Slot, LIVE};

const T: u32 = 50;

/// One mapping slot.
#[repr(C, align(16))]
pub(crate) struct MappingSlot {
    ctrl: AtomicU64,
    value: AtomicU64,
}

impl Slot for MappingSlot {
    #[inline(always)]
    fn ctrl(&self) -> &AtomicU64 {
        &self.ctrl
    }
}

/// A mapping as read from the index.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct MappingRef {
    /// Slot index.
    pub index: u32,
    /// Public port (or ICMP identifier).
    pub public_port: u16,
    /// Index of the public address in the pool.
    pub pool_index: u32,
}

/// The outcome of [`MappingTable::insert`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum MappingInsert {
    /// Created.
    Inserted(MappingRef),
    /// Another worker created it first; use it and give back your port.
    Exists(MappingRef),
    /// Another worker is creating it right now.
    Race,
    /// At `max_mappings` or probe limit.
    Full,
}

/// The mapping index.
pub struct MappingTable {
    slots: Table<MappingSlot>,
    hash: KeyedHash,
    live: AtomicU32,
    max: u32,
}

#[inline(always)]
fn unpack_value(index: usize, v: u64) -> MappingRef {
    MappingRef {
        index: index as u32,
        public_port: v as u16,
        pool_index: (v >> 16) as u32 & 0xFF_FFFF,
    }
}

impl MappingTable {
    /// An index for at most `max_mappings` mappings (80% maximum load).
    pub fn new(max_mappings: u32, seed: u64) -> Self {
        let n = (max_mappings as usize * 5 / 4).max(16);
        // SAFETY: a slot of zeroed atomics is an EMPTY slot.
        let slots = unsafe {
            table(n, || MappingSlot {
                ctrl: AtomicU64::new(0),
                value: AtomicU64::new(0),
            })
        };
        prefault(&slots, |s| s.ctrl.store(0, Ordering::Relaxed));
        MappingTable {
            slots,
            hash: KeyedHash::new(seed ^ 0x3a99_1d6e),
            live: AtomicU32::new(0),
            max: max_mappings,
        }
    }

    #[inline(always)]
    fn locate(&self, key: &MappingKey) -> (usize, u64) {
        let tag = key.pack();
        (probe::home(self.hash.hash1(tag), self.slots.len()), tag)
    }

    /// Looks a mapping up.
    #[inline]
    pub fn find(&self, key: &MappingKey) -> Option<MappingRef> {
        let (home, tag) = self.locate(key);
        match probe::find::<_, _, T>(&self.slots, home, tag, |s| Some(s.value.load(Ordering::Relaxed))) {
            Found::Live { index, value } => Some(unpack_value(index, value)),
            _ => None,
        }
    }

    /// Records a new mapping (the caller already holds `public_port`).
    pub fn insert(&self, key: &MappingKey, public_port: u16, pool_index: u32) -> MappingInsert {
        if self.live.fetch_add(1, Ordering::Relaxed) >= self.max {
            self.live.fetch_sub(1, Ordering::Relaxed);
            return self.find(key).map_or(MappingInsert::Full, MappingInsert::Exists);
        }
        let (home, tag) = self.locate(key);
        let value = ((pool_index as u64 & 0xFF_FFFF) << 16) | public_port as u64;
        match probe::claim::<_, T>(&self.slots, home, tag, |_| true) {
            Claim::Claimed { index, ctrl } => {
                let s = &self.slots[index];
                s.value.store(value, Ordering::Relaxed);
                probe::publish::<_, T>(s, ctrl);
                MappingInsert::Inserted(unpack_value(index, value))
            }
            other => {
                self.live.fetch_sub(1, Ordering::Relaxed);
                match other {
                    Claim::Exists { .. } => match self.find(key) {
                        Some(r) => MappingInsert::Exists(r),
                        None => MappingInsert::Race,
                    },
                    Claim::Race => MappingInsert::Race,
                    _ => MappingInsert::Full,
                }
            }
        }
    }

    /// Sweeper: removes the mapping of `key` if it still points at
    /// `public_port` on `pool_index`.
    pub fn remove(&self, key: &MappingKey, public_port: u16, pool_index: u32) -> bool {
        let (home, tag) = self.locate(key);
        let n = self.slots.len();
        let mut i = home;
        for _ in 0..probe::MAX_PROBE.min(n) {
            let s = &self.slots[i];
            let (st, w) = probe::ctrl_of::<_, T>(s);
            if st == probe::EMPTY {
                return false;
            }
            if st == LIVE && probe::Layout::<T>::tag(w) == tag {
                let r = unpack_value(i, s.value.load(Ordering::Relaxed));
                if probe::unchanged(s, w) && r.public_port == public_port && r.pool_index == pool_index && probe::remove::<_, T>(s, w) {
                    self.live.fetch_sub(1, Ordering::Relaxed);
                    return true;
                }
            }
            i = if i + 1 == n { 0 } else { i + 1 };
        }
        false
    }

    /// Sweeper: clears tombstones at the end of chains in `start..start+count`.
    pub fn clean(&self, start: usize, count: usize) -> usize {
        probe::clean_tombstones::<_, T>(&self.slots, start, count)
    }

    /// Number of slots.
    pub fn slots(&self) -> usize {
        self.slots.len()
    }

    /// Live mappings.
    pub fn len(&self) -> u32 {
        self.live.load(Ordering::Relaxed)
    }

    /// Whether no mapping is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The configured maximum.
    pub fn capacity(&self) -> u32 {
        self.max
    }

    /// Bytes of memory the table holds.
    pub fn memory_bytes(&self) -> usize {
        self.slots.len() * core::mem::size_of::<MappingSlot>()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::flow::Protocol;

    fn key(i: u32) -> MappingKey {
        MappingKey {
            protocol: Protocol::Tcp,
            inside_addr: 0x6440_0000 + i,
            inside_port: 40_000,
        }
    }

    #[test]
    fn insert_exists_remove() {
        let t = MappingTable::new(100, 9);
        for i in 0..100 {
            assert!(matches!(t.insert(&key(i), i as u16, 3), MappingInsert::Inserted(_)));
        }
        assert_eq!(t.insert(&key(500), 1, 1), MappingInsert::Full);
        match t.insert(&key(7), 99, 3) {
            MappingInsert::Exists(r) => assert_eq!(r.public_port, 7),
            other => panic!("{other:?}"),
        }
        assert!(!t.remove(&key(7), 8, 3), "wrong port must not remove");
        assert!(t.remove(&key(7), 7, 3));
        assert!(t.find(&key(7)).is_none());
        assert_eq!(t.find(&key(8)).unwrap().public_port, 8);
        assert_eq!(t.len(), 99);
    }
}
