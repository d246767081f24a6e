//! A fixed-size, allocation-free batch of owned mbufs for rx/tx bursts.

use std::mem::MaybeUninit;
use std::ops::{Deref, DerefMut};

use crate::error::DpdkError;
use crate::ffi;
use crate::mbuf::Mbuf;
use crate::mempool::Mempool;

/// Number of mbufs in a [`Burst`] (DPDK's customary burst size).
pub const BURST_SIZE: usize = 32;

/// Up to [`BURST_SIZE`] owned mbufs, stored inline (no heap allocation, so a
/// worker can keep one on its stack and reuse it for every burst).
///
/// Derefs to `[Mbuf]` for indexing and iteration. Dropping or
/// [`clear`](Burst::clear)ing it frees the mbufs it still holds.
pub struct Burst {
    len: usize,
    slots: [MaybeUninit<Mbuf>; BURST_SIZE],
}

// Compile-time proof that `[MaybeUninit<Mbuf>]` is an array of mbuf pointers.
const _: () = assert!(std::mem::size_of::<Mbuf>() == std::mem::size_of::<*mut ffi::rte_mbuf>());

impl Burst {
    /// Maximum number of mbufs.
    pub const CAPACITY: usize = BURST_SIZE;

    /// An empty burst.
    #[inline]
    pub const fn new() -> Burst {
        Burst {
            len: 0,
            slots: [const { MaybeUninit::uninit() }; BURST_SIZE],
        }
    }

    /// Whether no more mbufs fit.
    #[inline]
    pub fn is_full(&self) -> bool {
        self.len == BURST_SIZE
    }

    /// Number of free slots.
    #[inline]
    pub fn spare(&self) -> usize {
        BURST_SIZE - self.len
    }

    /// Adds an mbuf at the end; gives it back if the burst is full.
    #[inline(always)]
    pub fn push(&mut self, m: Mbuf) -> Result<(), Mbuf> {
        if self.is_full() {
            return Err(m);
        }
        self.slots[self.len].write(m);
        self.len += 1;
        Ok(())
    }

    /// Removes the last mbuf.
    #[inline]
    pub fn pop(&mut self) -> Option<Mbuf> {
        if self.len == 0 {
            return None;
        }
        self.len -= 1;
        // SAFETY: slot `len` was initialised and is now outside the live range.
        Some(unsafe { self.slots[self.len].assume_init_read() })
    }

    /// Frees every mbuf (`rte_pktmbuf_free_bulk`).
    pub fn clear(&mut self) {
        let n = self.len;
        if n == 0 {
            return;
        }
        self.len = 0;
        // SAFETY: slots 0..n hold owned mbufs, which we hand to DPDK to free;
        // len is already 0 so they are not used again.
        unsafe { ffi::rte_pktmbuf_free_bulk(self.raw_slots(), n as u32) }
    }

    /// Keeps the mbufs for which `keep` returns true (in order) and frees
    /// the others.
    pub fn retain(&mut self, mut keep: impl FnMut(&mut Mbuf) -> bool) {
        let n = self.len;
        self.len = 0;
        let mut kept = 0;
        for i in 0..n {
            // SAFETY: slot i < n is initialised; we move it out exactly once.
            let mut m = unsafe { self.slots[i].assume_init_read() };
            if keep(&mut m) {
                self.slots[kept].write(m);
                kept += 1;
            }
        }
        self.len = kept;
    }

    /// Moves all mbufs out, in order (the burst is empty afterwards, even if
    /// the iterator is not consumed: the rest are then freed).
    pub fn drain(&mut self) -> Drain<'_> {
        let end = self.len;
        self.len = 0;
        Drain { burst: self, next: 0, end }
    }

    /// Fills `n` more slots from `pool` (`rte_pktmbuf_alloc_bulk`): all or
    /// nothing.
    pub fn alloc_bulk(&mut self, pool: &Mempool, n: usize) -> Result<(), DpdkError> {
        if n > self.spare() {
            return Err(DpdkError::NoRoom {
                op: "alloc_bulk",
                requested: n,
                available: self.spare(),
            });
        }
        let (tail, _) = self.spare_raw();
        // SAFETY: `tail` has room for `n` pointers (checked above); DPDK
        // either fills all n with fresh mbufs or none.
        let ret = unsafe { ffi::cgnat_pktmbuf_alloc_bulk(pool.as_ptr(), tail, n as u32) };
        if ret != 0 {
            return Err(DpdkError::MempoolExhausted(pool.name().to_string()));
        }
        self.len += n;
        Ok(())
    }

    /// Base pointer of the slots, as DPDK's `struct rte_mbuf **`.
    #[inline]
    fn raw_slots(&mut self) -> *mut *mut ffi::rte_mbuf {
        self.slots.as_mut_ptr().cast()
    }

    /// The free tail of the array (pointer, capacity) for a PMD to fill.
    #[inline]
    pub(crate) fn spare_raw(&mut self) -> (*mut *mut ffi::rte_mbuf, usize) {
        let len = self.len;
        // SAFETY: len <= BURST_SIZE, so the pointer is in bounds (or one past).
        (unsafe { self.raw_slots().add(len) }, BURST_SIZE - len)
    }

    /// Marks `n` more slots (after the current ones) as filled.
    ///
    /// # Safety
    /// The `n` slots after `len` must have been written with owned, valid
    /// mbuf pointers, and `len + n <= BURST_SIZE`.
    #[inline]
    pub(crate) unsafe fn filled(&mut self, n: usize) {
        debug_assert!(self.len + n <= BURST_SIZE);
        self.len += n;
    }

    /// The live mbufs as DPDK's `struct rte_mbuf **` and their count.
    #[inline]
    pub(crate) fn live_raw(&mut self) -> (*mut *mut ffi::rte_mbuf, usize) {
        (self.raw_slots(), self.len)
    }

    /// Forgets the first `n` mbufs (ownership went to DPDK) and moves the
    /// rest to the front, keeping their order.
    ///
    /// # Safety
    /// The first `n` mbufs must have been taken over by DPDK; `n <= len`.
    #[inline]
    pub(crate) unsafe fn consumed_front(&mut self, n: usize) {
        debug_assert!(n <= self.len);
        let rest = self.len - n;
        if rest > 0 && n > 0 {
            let base = self.slots.as_mut_ptr();
            // SAFETY: both ranges lie inside the array; `copy` handles overlap.
            unsafe { std::ptr::copy(base.add(n), base, rest) };
        }
        self.len = rest;
    }
}

impl Default for Burst {
    fn default() -> Self {
        Burst::new()
    }
}

impl Deref for Burst {
    type Target = [Mbuf];
    #[inline]
    fn deref(&self) -> &[Mbuf] {
        // SAFETY: slots 0..len are initialised Mbufs.
        unsafe { std::slice::from_raw_parts(self.slots.as_ptr().cast::<Mbuf>(), self.len) }
    }
}

impl DerefMut for Burst {
    #[inline]
    fn deref_mut(&mut self) -> &mut [Mbuf] {
        // SAFETY: slots 0..len are initialised Mbufs, borrowed exclusively.
        unsafe { std::slice::from_raw_parts_mut(self.slots.as_mut_ptr().cast::<Mbuf>(), self.len) }
    }
}

impl Drop for Burst {
    fn drop(&mut self) {
        self.clear();
    }
}

impl std::fmt::Debug for Burst {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Iterator returned by [`Burst::drain`].
pub struct Drain<'a> {
    burst: &'a mut Burst,
    next: usize,
    end: usize,
}

impl Iterator for Drain<'_> {
    type Item = Mbuf;

    #[inline]
    fn next(&mut self) -> Option<Mbuf> {
        if self.next == self.end {
            return None;
        }
        // SAFETY: slots next..end are initialised and moved out once each.
        let m = unsafe { self.burst.slots[self.next].assume_init_read() };
        self.next += 1;
        Some(m)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.end - self.next;
        (n, Some(n))
    }
}

impl ExactSizeIterator for Drain<'_> {}

impl Drop for Drain<'_> {
    fn drop(&mut self) {
        for i in self.next..self.end {
            // SAFETY: slots not yet yielded are still owned; free them.
            let p = unsafe { self.burst.slots[i].assume_init_read() };
            drop(p);
        }
    }
}
