//! The subscriber table: inside address → public address (paired pooling,
//! RFC 4787 REQ-2 and RFC 6888 REQ-2), held port blocks, session count.
//!
//! ```text
//! ctrl       : state:2 | version:30 | inside address:32
//! pool index : index of the public address in the pool
//! meta       : dying:1 | pinned:1 | .. | blocks:8 | sessions:32
//! blocks[]   : max_blocks_per_subscriber block ids (+1; 0 = none), kept in
//!              a separate array so a slot stays 24 bytes
//! ```
//!
//! Limits (RFC 6888 REQ-4, REQ-5) are enforced with a compare-and-swap on
//! `meta`, so two workers can never together exceed them.

use crate::mem::{prefault, table, Table};
use crate::sync::{AtomicU32, AtomicU64, Ordering};

use super::hash::KeyedHash;
use super::probe::{self, Claim, Found, Slot, LIVE};

const T: u32 = 32;

const DYING: u64 = 1 << 63;
const PINNED: u64 = 1 << 62;
const BLOCKS_SHIFT: u32 = 32;
const BLOCKS_MASK: u64 = 0xFF << BLOCKS_SHIFT;
const SESSIONS_MASK: u64 = 0xFFFF_FFFF;

/// One subscriber slot.
pub(crate) struct SubscriberSlot {
    ctrl: AtomicU64,
    meta: AtomicU64,
    pool_index: AtomicU32,
}

impl Slot for SubscriberSlot {
    #[inline(always)]
    fn ctrl(&self) -> &AtomicU64 {
        &self.ctrl
    }
}

/// A subscriber as found in the table.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct SubscriberRef {
    /// Slot index (stable while the subscriber is live).
    pub index: u32,
    /// Index of its public address in the pool.
    pub pool_index: u32,
}

/// A subscriber's state as read by the management core.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct SubscriberEntry {
    /// Slot index.
    pub index: u32,
    /// Inside address (host order).
    pub addr: u32,
    /// Index of its public address in the pool.
    pub pool_index: u32,
    /// Live sessions.
    pub sessions: u32,
    /// Blocks held (or being allocated).
    pub blocks: u32,
    /// Held permanently (static mappings, deterministic mode).
    pub pinned: bool,
    ctrl: u64,
}

/// The outcome of [`SubscriberTable::insert`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SubscriberInsert {
    /// Created.
    Inserted(SubscriberRef),
    /// Already there.
    Exists(SubscriberRef),
    /// Being created by another worker, or being removed.
    Race,
    /// At `max_subscribers` or probe limit.
    Full,
}

/// Why a reservation on a subscriber failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum LimitError {
    /// At its limit.
    Limit,
    /// The sweeper is removing the subscriber.
    Dying,
}

/// The subscriber table.
pub struct SubscriberTable {
    slots: Table<SubscriberSlot>,
    blocks: Table<AtomicU32>,
    max_blocks: usize,
    hash: KeyedHash,
    live: AtomicU32,
    max: u32,
}

impl SubscriberTable {
    /// A table for `max_subscribers`, each holding up to `max_blocks` blocks.
    pub fn new(max_subscribers: u32, max_blocks: u16, seed: u64) -> Self {
        let n = (max_subscribers as usize * 5 / 4).max(16);
        // SAFETY: zeroed atomics: EMPTY slots and empty block lists.
        let (slots, blocks) = unsafe {
            (
                table(n, || SubscriberSlot {
                    ctrl: AtomicU64::new(0),
                    meta: AtomicU64::new(0),
                    pool_index: AtomicU32::new(0),
                }),
                table(n * max_blocks as usize, || AtomicU32::new(0)),
            )
        };
        prefault(&slots, |s| s.ctrl.store(0, Ordering::Relaxed));
        prefault(&blocks, |b| b.store(0, Ordering::Relaxed));
        SubscriberTable {
            slots,
            blocks,
            max_blocks: max_blocks as usize,
            hash: KeyedHash::new(seed ^ 0x50b5_c41b),
            live: AtomicU32::new(0),
            max: max_subscribers,
        }
    }

    #[inline(always)]
    fn locate(&self, addr: u32) -> (usize, u64) {
        (probe::home(self.hash.hash1(addr as u64), self.slots.len()), addr as u64)
    }

    /// Looks a subscriber up by inside address.
    #[inline]
    pub fn find(&self, addr: u32) -> Option<SubscriberRef> {
        let (home, tag) = self.locate(addr);
        match probe::find::<_, _, T>(&self.slots, home, tag, |s| Some(s.pool_index.load(Ordering::Relaxed))) {
            Found::Live { index, value } => Some(SubscriberRef {
                index: index as u32,
                pool_index: value,
            }),
            _ => None,
        }
    }

    /// Creates a subscriber bound to public address `pool_index`.
    pub fn insert(&self, addr: u32, pool_index: u32, pinned: bool) -> SubscriberInsert {
        if self.live.fetch_add(1, Ordering::Relaxed) >= self.max {
            self.live.fetch_sub(1, Ordering::Relaxed);
            return self.find(addr).map_or(SubscriberInsert::Full, SubscriberInsert::Exists);
        }
        let (home, tag) = self.locate(addr);
        match probe::claim::<_, T>(&self.slots, home, tag, |_| true) {
            Claim::Claimed { index, ctrl } => {
                let s = &self.slots[index];
                s.pool_index.store(pool_index, Ordering::Relaxed);
                s.meta.store(if pinned { PINNED } else { 0 }, Ordering::Relaxed);
                for b in self.block_list(index as u32) {
                    b.store(0, Ordering::Relaxed);
                }
                probe::publish::<_, T>(s, ctrl);
                SubscriberInsert::Inserted(SubscriberRef {
                    index: index as u32,
                    pool_index,
                })
            }
            other => {
                self.live.fetch_sub(1, Ordering::Relaxed);
                match other {
                    Claim::Exists { .. } => self.find(addr).map_or(SubscriberInsert::Race, SubscriberInsert::Exists),
                    Claim::Race => SubscriberInsert::Race,
                    _ => SubscriberInsert::Full,
                }
            }
        }
    }

    #[inline]
    fn block_list(&self, index: u32) -> &[AtomicU32] {
        let start = index as usize * self.max_blocks;
        &self.blocks[start..start + self.max_blocks]
    }

    fn update_meta(&self, index: u32, f: impl Fn(u64) -> Result<u64, LimitError>) -> Result<(), LimitError> {
        let m = &self.slots[index as usize].meta;
        let mut cur = m.load(Ordering::Acquire);
        loop {
            if cur & DYING != 0 {
                return Err(LimitError::Dying);
            }
            let new = f(cur)?;
            match m.compare_exchange_weak(cur, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(()),
                Err(actual) => cur = actual,
            }
        }
    }

    /// Counts one more session unless the subscriber has `limit` already
    /// (RFC 6888 REQ-5).
    #[inline]
    pub fn reserve_session(&self, index: u32, limit: u32) -> Result<(), LimitError> {
        self.update_meta(index, |m| {
            if (m & SESSIONS_MASK) as u32 >= limit {
                Err(LimitError::Limit)
            } else {
                Ok(m + 1)
            }
        })
    }

    /// Counts one session less.
    #[inline]
    pub fn release_session(&self, index: u32) {
        self.slots[index as usize].meta.fetch_sub(1, Ordering::AcqRel);
    }

    /// Reserves room for one more block unless it holds `limit` (RFC 6888 REQ-4).
    pub fn reserve_block(&self, index: u32, limit: u16) -> Result<(), LimitError> {
        self.update_meta(index, |m| {
            if ((m & BLOCKS_MASK) >> BLOCKS_SHIFT) as u16 >= limit {
                Err(LimitError::Limit)
            } else {
                Ok(m + (1 << BLOCKS_SHIFT))
            }
        })
    }

    /// Gives back a block reservation (the block was not obtained, or was released).
    pub fn unreserve_block(&self, index: u32) {
        self.slots[index as usize].meta.fetch_sub(1 << BLOCKS_SHIFT, Ordering::AcqRel);
    }

    /// Records `block` in the subscriber's list (after `reserve_block`).
    pub fn add_block(&self, index: u32, block: u32) {
        for b in self.block_list(index) {
            if b.compare_exchange(0, block + 1, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
                return;
            }
        }
        debug_assert!(false, "reserve_block guarantees a free entry");
    }

    /// Removes `block` from the list and its reservation.
    pub fn remove_block(&self, index: u32, block: u32) -> bool {
        for b in self.block_list(index) {
            if b.compare_exchange(block + 1, 0, Ordering::AcqRel, Ordering::Relaxed).is_ok() {
                self.unreserve_block(index);
                return true;
            }
        }
        false
    }

    /// The blocks the subscriber holds, in list order (at most `max_blocks`).
    #[inline]
    pub fn blocks(&self, index: u32) -> impl Iterator<Item = u32> + '_ {
        self.block_list(index).iter().filter_map(|b| match b.load(Ordering::Acquire) {
            0 => None,
            v => Some(v - 1),
        })
    }

    /// Reads slot `index` if it holds a live subscriber.
    pub fn entry(&self, index: u32) -> Option<SubscriberEntry> {
        let s = self.slots.get(index as usize)?;
        let (st, w) = probe::ctrl_of::<_, T>(s);
        if st != LIVE {
            return None;
        }
        let meta = s.meta.load(Ordering::Relaxed);
        let pool_index = s.pool_index.load(Ordering::Relaxed);
        if !probe::unchanged(s, w) {
            return None;
        }
        Some(SubscriberEntry {
            index,
            addr: probe::Layout::<T>::tag(w) as u32,
            pool_index,
            sessions: (meta & SESSIONS_MASK) as u32,
            blocks: ((meta & BLOCKS_MASK) >> BLOCKS_SHIFT) as u32,
            pinned: meta & PINNED != 0,
            ctrl: w,
        })
    }

    /// Sweeper: removes a subscriber that holds no session and no block and
    /// is not pinned. Returns whether it was removed.
    pub fn try_remove(&self, e: &SubscriberEntry) -> bool {
        let s = &self.slots[e.index as usize];
        if s.meta.compare_exchange(0, DYING, Ordering::AcqRel, Ordering::Relaxed).is_err() {
            return false;
        }
        if probe::remove::<_, T>(s, e.ctrl) {
            self.live.fetch_sub(1, Ordering::Relaxed);
            true
        } else {
            s.meta.store(0, Ordering::Release);
            false
        }
    }

    /// Sweeper: clears tombstones at the end of chains in `start..start+count`.
    pub fn clean(&self, start: usize, count: usize) -> usize {
        probe::clean_tombstones::<_, T>(&self.slots, start, count)
    }

    /// Number of slots.
    pub fn slots(&self) -> usize {
        self.slots.len()
    }

    /// Live subscribers.
    pub fn len(&self) -> u32 {
        self.live.load(Ordering::Relaxed)
    }

    /// Whether no subscriber is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The configured maximum.
    pub fn capacity(&self) -> u32 {
        self.max
    }

    /// Bytes of memory the table holds.
    pub fn memory_bytes(&self) -> usize {
        self.slots.len() * core::mem::size_of::<SubscriberSlot>() + self.blocks.len() * 4
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn rfc6888_req4_req5_limits_are_enforced() {
        let t = SubscriberTable::new(10, 2, 1);
        let SubscriberInsert::Inserted(s) = t.insert(0x6440_0001, 3, false) else {
            panic!()
        };
        assert_eq!(t.find(0x6440_0001), Some(s));
        for _ in 0..5 {
            t.reserve_session(s.index, 5).unwrap();
        }
        assert_eq!(t.reserve_session(s.index, 5), Err(LimitError::Limit));
        t.reserve_block(s.index, 2).unwrap();
        t.add_block(s.index, 40);
        t.reserve_block(s.index, 2).unwrap();
        t.add_block(s.index, 41);
        assert_eq!(t.reserve_block(s.index, 2), Err(LimitError::Limit));
        assert_eq!(t.blocks(s.index).collect::<Vec<_>>(), vec![40, 41]);
        assert!(!t.try_remove(&t.entry(s.index).unwrap()), "busy subscriber stays");
        assert!(t.remove_block(s.index, 40));
        assert!(t.remove_block(s.index, 41));
        for _ in 0..5 {
            t.release_session(s.index);
        }
        let e = t.entry(s.index).unwrap();
        assert_eq!((e.sessions, e.blocks, e.addr, e.pool_index), (0, 0, 0x6440_0001, 3));
        assert!(t.try_remove(&e));
        assert!(t.find(0x6440_0001).is_none());
    }

    #[test]
    fn pinned_subscribers_are_never_removed() {
        let t = SubscriberTable::new(10, 1, 1);
        let SubscriberInsert::Inserted(s) = t.insert(7, 0, true) else {
            panic!()
        };
        assert!(!t.try_remove(&t.entry(s.index).unwrap()));
    }
}
