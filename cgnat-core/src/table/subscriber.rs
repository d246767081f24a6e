//! The subscriber table: inside address → public address (paired pooling,
//! RFC 4787 REQ-2 and RFC 6888 REQ-2), held port blocks, session counts,
//! confirmation.
//!
//! ```text
//! ctrl       : state:2 | version:30 | inside address:32
//! pool index : index of the public address in the pool
//! meta       : dying:1 | pinned:1 | received:1 | confirmed:1 | - | generation:16 | blocks:8
//!              | inbound sessions:16 | sessions:16
//! blocks[]   : max_blocks_per_subscriber block ids (+1; 0 = none), kept in
//!              a separate array so a slot stays 24 bytes
//! ```
//!
//! Limits (RFC 6888 REQ-4, REQ-5) are enforced with a compare-and-swap on
//! `meta`, so two workers can never together exceed them. Sessions created
//! by inbound packets are counted apart (`nat.inbound`): they never take
//! the subscriber's own budget. A subscriber is *confirmed* once it sent a
//! packet after one was delivered to it (an outbound packet on a session
//! that saw an inbound one, or a new session opened after any inbound
//! packet reached it): it showed it can receive, which a spoofed source
//! cannot. Until then its limits are those of `nat.unconfirmed`, and
//! unconfirmed subscribers may occupy only part of the table.
//!
//! The **generation** counts the subscribers a slot has held. A
//! [`SubscriberRef`] carries the generation it was found with, and every
//! reservation checks it in the same compare-and-swap: a worker that found
//! subscriber A, lost the race to the sweeper removing A and to another
//! worker inserting B into the same slot, fails instead of charging B's
//! counts or handing A's flow a port of B's block (issue 10, item 8).

use crate::mem::{prefault, table, Table};
use crate::sync::{AtomicU32, AtomicU64, Ordering};

use super::hash::KeyedHash;
use super::probe::{self, Claim, Found, Slot, LIVE};

const T: u32 = 32;

const DYING: u64 = 1 << 63;
const PINNED: u64 = 1 << 62;
const RECEIVED: u64 = 1 << 61;
const CONFIRMED: u64 = 1 << 60;
const GEN_SHIFT: u32 = 40;
const GEN_MASK: u64 = 0xFFFF << GEN_SHIFT;
const BLOCKS_SHIFT: u32 = 32;
const BLOCKS_MASK: u64 = 0xFF << BLOCKS_SHIFT;
const INBOUND_SHIFT: u32 = 16;
const INBOUND_MASK: u64 = 0xFFFF << INBOUND_SHIFT;
const SESSIONS_MASK: u64 = 0xFFFF;

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
    /// The slot's generation when found: reservations through this
    /// reference fail once the slot holds another subscriber.
    pub generation: u16,
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
    /// Live sessions it opened (or that joined its mappings from inside).
    pub sessions: u32,
    /// Live sessions created by inbound packets (`nat.inbound`).
    pub inbound_sessions: u32,
    /// Blocks held (or being allocated).
    pub blocks: u32,
    /// Held permanently (static mappings, deterministic mode).
    pub pinned: bool,
    /// Has shown it can receive (see the module documentation).
    pub confirmed: bool,
    /// The slot's generation.
    pub generation: u16,
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
    /// Unconfirmed subscribers hold their share of the table
    /// (`nat.unconfirmed.max_subscribers_percent`).
    UnconfirmedFull,
}

/// Why a reservation on a subscriber failed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum LimitError {
    /// At its limit (RFC 6888 REQ-4/REQ-5, or the inbound budget).
    Limit,
    /// At the tighter limit of an unconfirmed subscriber (`nat.unconfirmed`).
    Unconfirmed,
    /// The sweeper is removing the subscriber, or the slot now holds
    /// another subscriber (the reference is stale).
    Dying,
}

/// The per-subscriber limits in force (reloadable, read per reservation).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Limit of a confirmed subscriber.
    pub confirmed: u32,
    /// Limit of an unconfirmed one.
    pub unconfirmed: u32,
}

/// The subscriber table.
pub struct SubscriberTable {
    slots: Table<SubscriberSlot>,
    blocks: Table<AtomicU32>,
    max_blocks: usize,
    hash: KeyedHash,
    live: AtomicU32,
    unconfirmed: AtomicU32,
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
            unconfirmed: AtomicU32::new(0),
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
        match probe::find::<_, _, T>(&self.slots, home, tag, |s| {
            Some((s.pool_index.load(Ordering::Relaxed), s.meta.load(Ordering::Relaxed)))
        }) {
            Found::Live {
                index,
                value: (pool_index, meta),
            } => Some(SubscriberRef {
                index: index as u32,
                pool_index,
                generation: generation_of(meta),
            }),
            _ => None,
        }
    }

    /// Creates a subscriber bound to public address `pool_index`. A pinned
    /// one (static mapping, deterministic mode) is confirmed from the start;
    /// any other starts unconfirmed and is refused while unconfirmed
    /// subscribers number `unconfirmed_cap` (`None`: no cap, for a retry
    /// admission).
    pub fn insert(&self, addr: u32, pool_index: u32, pinned: bool, unconfirmed_cap: Option<u32>) -> SubscriberInsert {
        self.insert_counting(addr, pool_index, pinned, unconfirmed_cap, 0)
    }

    /// [`SubscriberTable::insert`] for a worker's new session: the
    /// subscriber is published already counting that session, so the
    /// sweeper never sees it empty and removes it between its creation and
    /// the session's (the worker then dropped the first packet as a race).
    /// The caller undoes the count with [`SubscriberTable::release_session`]
    /// if the session is not created after all.
    pub fn insert_with_session(&self, addr: u32, pool_index: u32, unconfirmed_cap: Option<u32>) -> SubscriberInsert {
        self.insert_counting(addr, pool_index, false, unconfirmed_cap, 1)
    }

    fn insert_counting(&self, addr: u32, pool_index: u32, pinned: bool, unconfirmed_cap: Option<u32>, sessions: u64) -> SubscriberInsert {
        if self.live.fetch_add(1, Ordering::Relaxed) >= self.max {
            self.live.fetch_sub(1, Ordering::Relaxed);
            return self.find(addr).map_or(SubscriberInsert::Full, SubscriberInsert::Exists);
        }
        if !pinned {
            let n = self.unconfirmed.fetch_add(1, Ordering::Relaxed);
            if unconfirmed_cap.is_some_and(|cap| n >= cap) {
                self.unconfirmed.fetch_sub(1, Ordering::Relaxed);
                self.live.fetch_sub(1, Ordering::Relaxed);
                return self.find(addr).map_or(SubscriberInsert::UnconfirmedFull, SubscriberInsert::Exists);
            }
        }
        let (home, tag) = self.locate(addr);
        match probe::claim::<_, T>(&self.slots, home, tag, |_| true) {
            Claim::Claimed { index, ctrl } => {
                let s = &self.slots[index];
                s.pool_index.store(pool_index, Ordering::Relaxed);
                // The slot keeps its generation across removals (meta is
                // never zeroed): the new subscriber gets the next one.
                let generation = generation_of(s.meta.load(Ordering::Relaxed)).wrapping_add(1);
                let flags = if pinned { PINNED | CONFIRMED } else { 0 };
                s.meta
                    .store(flags | ((generation as u64) << GEN_SHIFT) | sessions, Ordering::Release);
                for b in self.block_list(index as u32) {
                    b.store(0, Ordering::Relaxed);
                }
                probe::publish::<_, T>(s, ctrl);
                SubscriberInsert::Inserted(SubscriberRef {
                    index: index as u32,
                    pool_index,
                    generation,
                })
            }
            other => {
                self.live.fetch_sub(1, Ordering::Relaxed);
                if !pinned {
                    self.unconfirmed.fetch_sub(1, Ordering::Relaxed);
                }
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

    /// Applies `f` to the meta word of the subscriber `sub` refers to, in
    /// one compare-and-swap that also checks the generation.
    fn update_meta(&self, sub: SubscriberRef, f: impl Fn(u64) -> Result<u64, LimitError>) -> Result<(), LimitError> {
        let m = &self.slots[sub.index as usize].meta;
        let mut cur = m.load(Ordering::Acquire);
        loop {
            if cur & DYING != 0 || generation_of(cur) != sub.generation {
                return Err(LimitError::Dying);
            }
            let new = f(cur)?;
            match m.compare_exchange_weak(cur, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(()),
                Err(actual) => cur = actual,
            }
        }
    }

    /// Counts one more session of the subscriber's own unless it holds its
    /// limit already (RFC 6888 REQ-5; the unconfirmed limit until confirmed).
    #[inline]
    pub fn reserve_session(&self, sub: SubscriberRef, limit: Limits) -> Result<(), LimitError> {
        self.update_meta(sub, |m| {
            let confirmed = m & CONFIRMED != 0;
            let n = (m & SESSIONS_MASK) as u32;
            if n >= limit.confirmed || n >= SESSIONS_MASK as u32 {
                Err(LimitError::Limit)
            } else if !confirmed && n >= limit.unconfirmed {
                Err(LimitError::Unconfirmed)
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

    /// Counts one more session created by an inbound packet unless the
    /// subscriber holds `limit` of them (`nat.inbound`).
    #[inline]
    pub fn reserve_inbound(&self, sub: SubscriberRef, limit: u32) -> Result<(), LimitError> {
        self.update_meta(sub, |m| {
            if ((m & INBOUND_MASK) >> INBOUND_SHIFT) as u32 >= limit.min(0xFFFF) {
                Err(LimitError::Limit)
            } else {
                Ok(m + (1 << INBOUND_SHIFT))
            }
        })
    }

    /// Counts one inbound-created session less.
    #[inline]
    pub fn release_inbound(&self, index: u32) {
        self.slots[index as usize].meta.fetch_sub(1 << INBOUND_SHIFT, Ordering::AcqRel);
    }

    /// Marks the subscriber confirmed (it showed it can receive). Returns
    /// whether this call confirmed it.
    pub fn confirm(&self, sub: SubscriberRef) -> bool {
        let done = self
            .update_meta(sub, |m| {
                if m & CONFIRMED != 0 {
                    Err(LimitError::Limit)
                } else {
                    Ok(m | CONFIRMED)
                }
            })
            .is_ok();
        if done {
            self.unconfirmed.fetch_sub(1, Ordering::Relaxed);
        }
        done
    }

    /// Notes that a packet was delivered to the subscriber (its next new
    /// outbound session confirms it, [`SubscriberTable::confirm_if_received`]).
    pub fn mark_received(&self, sub: SubscriberRef) {
        let _ = self.update_meta(sub, |m| {
            if m & (RECEIVED | CONFIRMED) != 0 {
                Err(LimitError::Limit)
            } else {
                Ok(m | RECEIVED)
            }
        });
    }

    /// Confirms the subscriber if a packet was delivered to it before
    /// (called when it opens a new session). Returns whether this call
    /// confirmed it.
    pub fn confirm_if_received(&self, sub: SubscriberRef) -> bool {
        let m = self.slots[sub.index as usize].meta.load(Ordering::Relaxed);
        m & (RECEIVED | CONFIRMED) == RECEIVED && self.confirm(sub)
    }

    /// Whether the subscriber in slot `index` is confirmed (or pinned).
    #[inline]
    pub fn is_confirmed(&self, index: u32) -> bool {
        self.slots[index as usize].meta.load(Ordering::Relaxed) & CONFIRMED != 0
    }

    /// Reserves room for one more block unless it holds its limit (RFC 6888
    /// REQ-4; the unconfirmed limit until confirmed).
    pub fn reserve_block(&self, sub: SubscriberRef, limit: Limits) -> Result<(), LimitError> {
        self.update_meta(sub, |m| {
            let n = ((m & BLOCKS_MASK) >> BLOCKS_SHIFT) as u32;
            if n >= limit.confirmed {
                Err(LimitError::Limit)
            } else if m & CONFIRMED == 0 && n >= limit.unconfirmed {
                Err(LimitError::Unconfirmed)
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
            inbound_sessions: ((meta & INBOUND_MASK) >> INBOUND_SHIFT) as u32,
            blocks: ((meta & BLOCKS_MASK) >> BLOCKS_SHIFT) as u32,
            pinned: meta & PINNED != 0,
            confirmed: meta & CONFIRMED != 0,
            generation: generation_of(meta),
            ctrl: w,
        })
    }

    /// Sweeper: removes a subscriber that holds no session and no block and
    /// is not pinned. Returns whether it was removed.
    pub fn try_remove(&self, e: &SubscriberEntry) -> bool {
        let s = &self.slots[e.index as usize];
        let cur = s.meta.load(Ordering::Acquire);
        let busy = SESSIONS_MASK | INBOUND_MASK | BLOCKS_MASK | PINNED | DYING;
        if cur & busy != 0 || generation_of(cur) != e.generation {
            return false;
        }
        if s.meta
            .compare_exchange(cur, cur | DYING, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        if probe::remove::<_, T>(s, e.ctrl) {
            self.live.fetch_sub(1, Ordering::Relaxed);
            if cur & CONFIRMED == 0 {
                self.unconfirmed.fetch_sub(1, Ordering::Relaxed);
            }
            true
        } else {
            s.meta.store(cur, Ordering::Release);
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

    /// Live subscribers that are not confirmed yet.
    pub fn unconfirmed(&self) -> u32 {
        self.unconfirmed.load(Ordering::Relaxed)
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

#[inline(always)]
fn generation_of(meta: u64) -> u16 {
    ((meta & GEN_MASK) >> GEN_SHIFT) as u16
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    const ANY: Limits = Limits {
        confirmed: 5,
        unconfirmed: 5,
    };

    fn confirmed(t: &SubscriberTable, addr: u32, pool_index: u32) -> SubscriberRef {
        let SubscriberInsert::Inserted(s) = t.insert(addr, pool_index, false, None) else {
            panic!()
        };
        assert!(t.confirm(s));
        s
    }

    /// The sweeper visiting a subscriber a worker has just created for a
    /// new session must not find it empty (it would remove it, and the
    /// worker drop the packet as a race): created with its session counted.
    #[test]
    fn a_subscriber_created_for_a_session_is_never_empty_to_the_sweeper() {
        let t = SubscriberTable::new(10, 2, 1);
        let SubscriberInsert::Inserted(s) = t.insert_with_session(0x6440_0001, 0, None) else {
            panic!()
        };
        let e = t.entry(s.index).unwrap();
        assert_eq!(e.sessions, 1);
        assert!(!t.try_remove(&e), "a subscriber counting a session stays");
        t.release_session(s.index);
        let e = t.entry(s.index).unwrap();
        assert!(t.try_remove(&e), "once the count is undone it is idle");
        // What the plain insert left open: empty from the moment it is found.
        let SubscriberInsert::Inserted(p) = t.insert(0x6440_0002, 0, false, None) else {
            panic!()
        };
        assert!(t.try_remove(&t.entry(p.index).unwrap()));
    }

    #[test]
    fn rfc6888_req4_req5_limits_are_enforced() {
        let t = SubscriberTable::new(10, 2, 1);
        let s = confirmed(&t, 0x6440_0001, 3);
        assert_eq!(t.find(0x6440_0001), Some(s));
        for _ in 0..5 {
            t.reserve_session(s, ANY).unwrap();
        }
        assert_eq!(t.reserve_session(s, ANY), Err(LimitError::Limit));
        let two = Limits {
            confirmed: 2,
            unconfirmed: 1,
        };
        t.reserve_block(s, two).unwrap();
        t.add_block(s.index, 40);
        t.reserve_block(s, two).unwrap();
        t.add_block(s.index, 41);
        assert_eq!(t.reserve_block(s, two), Err(LimitError::Limit));
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
        let SubscriberInsert::Inserted(s) = t.insert(7, 0, true, Some(0)) else {
            panic!()
        };
        assert!(t.is_confirmed(s.index), "configured subscribers are confirmed");
        assert!(!t.try_remove(&t.entry(s.index).unwrap()));
    }

    /// Issue 9 item 2: until it shows it can receive, a subscriber has the
    /// tighter limits, and unconfirmed subscribers have a share of the table.
    #[test]
    fn unconfirmed_subscribers_have_tight_caps_and_a_share_of_the_table() {
        let t = SubscriberTable::new(10, 4, 1);
        let lim = Limits {
            confirmed: 4,
            unconfirmed: 1,
        };
        let SubscriberInsert::Inserted(a) = t.insert(1, 0, false, Some(2)) else {
            panic!()
        };
        assert!(matches!(t.insert(2, 0, false, Some(2)), SubscriberInsert::Inserted(_)));
        assert_eq!(t.insert(3, 0, false, Some(2)), SubscriberInsert::UnconfirmedFull);
        assert!(
            matches!(t.insert(3, 0, false, None), SubscriberInsert::Inserted(_)),
            "a retry admission passes"
        );
        assert_eq!(t.unconfirmed(), 3);
        t.reserve_block(a, lim).unwrap();
        assert_eq!(t.reserve_block(a, lim), Err(LimitError::Unconfirmed));
        t.reserve_session(a, lim).unwrap();
        assert_eq!(t.reserve_session(a, lim), Err(LimitError::Unconfirmed));
        assert!(!t.confirm_if_received(a), "nothing delivered to it yet");
        t.mark_received(a);
        assert!(t.confirm_if_received(a), "a packet after one was delivered");
        assert!(!t.confirm(a), "once");
        assert_eq!(t.unconfirmed(), 2);
        t.reserve_block(a, lim).unwrap();
        t.reserve_session(a, lim).unwrap();
    }

    /// Issue 9 item 3: inbound-created sessions have their own budget.
    #[test]
    fn inbound_sessions_never_take_the_subscribers_own_budget() {
        let t = SubscriberTable::new(10, 1, 1);
        let s = confirmed(&t, 9, 0);
        for _ in 0..3 {
            t.reserve_inbound(s, 3).unwrap();
        }
        assert_eq!(t.reserve_inbound(s, 3), Err(LimitError::Limit));
        for _ in 0..5 {
            t.reserve_session(s, ANY).unwrap();
        }
        let e = t.entry(s.index).unwrap();
        assert_eq!((e.sessions, e.inbound_sessions), (5, 3));
        t.release_inbound(s.index);
        t.reserve_inbound(s, 3).unwrap();
    }

    /// Issue 10 item 8, the interleaving that attributed a flow to the
    /// wrong subscriber: worker 1 finds A; the sweeper removes A (idle);
    /// worker 2 inserts B into the same slot; worker 1 then reserves through
    /// its reference. Without generations the reservation succeeded on B's
    /// counts and worker 1 went on to take a port of B's block for A's flow.
    #[test]
    fn a_stale_reference_cannot_reserve_on_the_slots_next_subscriber() {
        let t = SubscriberTable::new(1, 1, 1);
        let a = confirmed(&t, 0x6440_0001, 0);
        let found_by_worker1 = t.find(0x6440_0001).unwrap();
        assert!(t.try_remove(&t.entry(a.index).unwrap()));
        // The only slot for a table of one is reused after cleanup.
        t.clean(0, t.slots());
        let b = (0..t.slots() as u32 * 64)
            .map(|k| 0x6440_1000 + k)
            .find_map(|addr| match t.insert(addr, 0, false, None) {
                SubscriberInsert::Inserted(b) if b.index == a.index => Some(b),
                SubscriberInsert::Inserted(other) => {
                    t.try_remove(&t.entry(other.index).unwrap());
                    t.clean(0, t.slots());
                    None
                }
                _ => None,
            })
            .expect("some address lands in A's old slot");
        assert_ne!(b.generation, found_by_worker1.generation);
        assert_eq!(t.reserve_session(found_by_worker1, ANY), Err(LimitError::Dying));
        assert_eq!(
            t.reserve_block(
                found_by_worker1,
                Limits {
                    confirmed: 1,
                    unconfirmed: 1
                }
            ),
            Err(LimitError::Dying)
        );
        assert!(!t.confirm(found_by_worker1));
        assert_eq!(t.entry(b.index).unwrap().sessions, 0, "B's counts untouched");
        t.reserve_session(b, ANY).unwrap();
    }
}
