//! The slot protocol shared by every table: linear probing over control
//! words, with lock-free claim/publish for inserters, wait-free reads, and
//! deletion by the sweeper only.
//!
//! A slot's control word is `state:2 | version:(62-T) | tag:T`:
//!
//! ```text
//!  63 62 61            T T-1              0
//! +-----+---------------+-----------------+
//! |state|    version    |       tag       |
//! +-----+---------------+-----------------+
//! ```
//!
//! - `EMPTY`: never used since the last cleanup; a probe stops here.
//! - `BUSY`: claimed by an inserter that is writing the key and value.
//! - `LIVE`: key and value are published.
//! - `DEAD`: a tombstone; probes go on past it and inserters may reuse it.
//!
//! Every transition bumps the version, so a reader that loads the control
//! word, reads the slot's other words and loads the control word again knows
//! the slot did not change in between (the seqlock read pattern, without a
//! writer ever waiting). The tag is either the whole key (tables whose key
//! fits) or a fingerprint of it (sessions compare the full key after a tag
//! hit).
//!
//! Races and what they cost (see docs/decisions/002-mapping-table.md):
//! two inserters of one key meet at the first free slot and the CAS picks one;
//! the other sees `BUSY` with the same tag and gives up (`Claim::Race`). Only
//! if the sweeper deletes or cleans a slot of the chain between the two
//! inserters' walks can both succeed; the duplicate is then an extra entry
//! that translates identically and expires on its own.

use super::hash::reduce;
use crate::sync::{fence, AtomicU64, Ordering};

pub(crate) const EMPTY: u64 = 0;
pub(crate) const BUSY: u64 = 1;
pub(crate) const LIVE: u64 = 2;
pub(crate) const DEAD: u64 = 3;

/// How far from its home slot an entry may live: a safety bound on every
/// walk. At the tables' 80% maximum load a chain this long essentially never
/// forms (see the `churn` test), so in practice only a full table refuses an
/// insert; the bound keeps even an adversarial case to a few microseconds.
pub(crate) const MAX_PROBE: usize = 1024;

/// Control-word layout with a `T`-bit tag.
pub(crate) struct Layout<const T: u32>;

impl<const T: u32> Layout<T> {
    pub(crate) const TAG_MASK: u64 = (1u64 << T) - 1;
    const VER_MASK: u64 = (1u64 << (62 - T)) - 1;

    #[inline(always)]
    pub(crate) fn state(w: u64) -> u64 {
        w >> 62
    }

    #[inline(always)]
    pub(crate) fn tag(w: u64) -> u64 {
        w & Self::TAG_MASK
    }

    /// `w` moved to `state` with `tag`, one version later.
    #[inline(always)]
    pub(crate) fn next(w: u64, state: u64, tag: u64) -> u64 {
        let ver = ((w >> T) + 1) & Self::VER_MASK;
        (state << 62) | (ver << T) | (tag & Self::TAG_MASK)
    }
}

/// A slot with a control word.
pub(crate) trait Slot {
    fn ctrl(&self) -> &AtomicU64;
}

/// The result of a lookup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found<V> {
    /// A live entry at `index` whose value (read consistently) is `value`.
    Live { index: usize, value: V },
    /// An inserter is writing an entry with this tag right now.
    Busy,
    /// No such entry.
    Absent,
}

/// The result of a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Claim {
    /// The caller owns slot `index` (state BUSY, control word `ctrl`); it
    /// must write the key and value, then [`publish`] or [`abandon`].
    Claimed { index: usize, ctrl: u64 },
    /// The key is already live at `index`.
    Exists { index: usize },
    /// Another inserter is creating the same key right now.
    Race,
    /// No free slot within [`MAX_PROBE`] of home.
    Full,
}

/// The home slot of hash `h` in a table of `n` slots.
#[inline(always)]
pub(crate) fn home(h: u64, n: usize) -> usize {
    reduce(h, n)
}

#[inline(always)]
fn step(i: usize, n: usize) -> usize {
    let j = i + 1;
    if j == n {
        0
    } else {
        j
    }
}

/// Looks up an entry. `read` is called on live slots whose tag matches; it
/// reads the slot's key words and returns the value if the key is the one
/// sought. The result is kept only if the control word did not change
/// meanwhile.
#[inline(always)]
pub(crate) fn find<S: Slot, V, const T: u32>(slots: &[S], home: usize, tag: u64, read: impl Fn(&S) -> Option<V>) -> Found<V> {
    let n = slots.len();
    let mut i = home;
    // Not `min(n)`: in a table smaller than MAX_PROBE with no empty slot
    // the probe wraps and sees slots again, which finds nothing new and
    // ends all the same; one comparison less per lookup.
    let mut left = MAX_PROBE;
    while left > 0 {
        left -= 1;
        let Some(s) = slots.get(i) else { break };
        let w = s.ctrl().load(Ordering::Acquire);
        let st = Layout::<T>::state(w);
        if st == EMPTY {
            return Found::Absent;
        }
        if Layout::<T>::tag(w) == tag {
            if st == LIVE {
                if let Some(value) = read(s) {
                    fence(Ordering::Acquire);
                    if s.ctrl().load(Ordering::Relaxed) == w {
                        return Found::Live { index: i, value };
                    }
                }
            } else if st == BUSY {
                return Found::Busy;
            }
        }
        i = step(i, n);
    }
    Found::Absent
}

/// Claims a free slot for a new entry, unless the key turns out to exist or
/// to be in creation. `is_key` compares a live slot's key (for fingerprint
/// tags; return `true` when the tag is the whole key).
#[inline]
pub(crate) fn claim<S: Slot, const T: u32>(slots: &[S], home: usize, tag: u64, is_key: impl Fn(&S) -> bool) -> Claim {
    let n = slots.len();
    // A few retries when the chosen slot changes under us; then give up.
    for _attempt in 0..4 {
        let mut free: Option<(usize, u64)> = None;
        let mut i = home;
        for _ in 0..MAX_PROBE.min(n) {
            let s = &slots[i];
            let w = s.ctrl().load(Ordering::Acquire);
            let st = Layout::<T>::state(w);
            if Layout::<T>::tag(w) == tag {
                if st == BUSY {
                    return Claim::Race;
                }
                if st == LIVE && is_key(s) {
                    fence(Ordering::Acquire);
                    if s.ctrl().load(Ordering::Relaxed) == w {
                        return Claim::Exists { index: i };
                    }
                }
            }
            if (st == DEAD || st == EMPTY) && free.is_none() {
                free = Some((i, w));
            }
            if st == EMPTY {
                break;
            }
            i = step(i, n);
        }
        let Some((index, w)) = free else {
            return Claim::Full;
        };
        let busy = Layout::<T>::next(w, BUSY, tag);
        if slots[index]
            .ctrl()
            .compare_exchange(w, busy, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
        {
            // Seqlock writer: the key/value stores that follow must not be
            // seen before BUSY by a reader that re-checks the control word.
            fence(Ordering::Release);
            return Claim::Claimed { index, ctrl: busy };
        }
    }
    Claim::Race
}

/// Makes a claimed slot's entry visible to readers.
#[inline]
pub(crate) fn publish<S: Slot, const T: u32>(slot: &S, busy: u64) -> u64 {
    let live = Layout::<T>::next(busy, LIVE, Layout::<T>::tag(busy));
    slot.ctrl().store(live, Ordering::Release);
    live
}

/// Deletes the live entry at `slot` if its control word is still `live`.
/// Sweeper only.
#[inline]
pub(crate) fn remove<S: Slot, const T: u32>(slot: &S, live: u64) -> bool {
    let dead = Layout::<T>::next(live, DEAD, Layout::<T>::tag(live));
    slot.ctrl()
        .compare_exchange(live, dead, Ordering::AcqRel, Ordering::Relaxed)
        .is_ok()
}

/// Turns tombstones that end a chain back into `EMPTY` for slots
/// `start..start+count` (walking backwards so a run of tombstones before an
/// empty slot is cleared in one pass). Sweeper only. Returns how many.
pub(crate) fn clean_tombstones<S: Slot, const T: u32>(slots: &[S], start: usize, count: usize) -> usize {
    let n = slots.len();
    let mut cleaned = 0;
    for k in (0..count.min(n)).rev() {
        let i = (start + k) % n;
        let s = &slots[i];
        let w = s.ctrl().load(Ordering::Acquire);
        if Layout::<T>::state(w) != DEAD {
            continue;
        }
        let next = &slots[step(i, n)];
        let nw = next.ctrl().load(Ordering::Acquire);
        if Layout::<T>::state(nw) != EMPTY {
            continue;
        }
        let empty = Layout::<T>::next(w, EMPTY, 0);
        if s.ctrl().compare_exchange(w, empty, Ordering::AcqRel, Ordering::Relaxed).is_err() {
            continue;
        }
        // If an inserter claimed the next slot meanwhile, this slot must
        // stay non-empty or that entry's chain would be cut: put the
        // tombstone back (unless someone already reused this slot).
        if next.ctrl().load(Ordering::Acquire) != nw {
            let back = Layout::<T>::next(empty, DEAD, 0);
            let _ = s.ctrl().compare_exchange(empty, back, Ordering::AcqRel, Ordering::Relaxed);
        } else {
            cleaned += 1;
        }
    }
    cleaned
}

/// Reads a slot's control word for iteration: `(state, word)`.
#[inline]
pub(crate) fn ctrl_of<S: Slot, const T: u32>(slot: &S) -> (u64, u64) {
    let w = slot.ctrl().load(Ordering::Acquire);
    (Layout::<T>::state(w), w)
}

/// Re-checks, after reading a slot's words, that it did not change.
#[inline]
pub(crate) fn unchanged<S: Slot>(slot: &S, w: u64) -> bool {
    fence(Ordering::Acquire);
    slot.ctrl().load(Ordering::Relaxed) == w
}
