//! Table memory: zero-filled, allocated once, on transparent huge pages.
//!
//! Every table is a large array probed at random; with 4 KiB pages nearly
//! every probe also misses the TLB, and on virtual machines a TLB miss costs
//! a two-dimensional page walk. The arrays are therefore mapped anonymously
//! (so untouched parts cost no memory), aligned to 2 MiB and advised
//! `MADV_HUGEPAGE`. This runs at start-up only: the packet path never
//! allocates.

use core::ops::Deref;
use core::ptr::NonNull;

const HUGE: usize = 2 << 20;

/// A fixed-length, zero-initialised array of `T`.
pub(crate) struct Region<T> {
    ptr: NonNull<T>,
    len: usize,
    mapped: usize,
}

// SAFETY: a Region owns its elements like a Box<[T]> does.
unsafe impl<T: Send> Send for Region<T> {}
// SAFETY: shared access only hands out &T.
unsafe impl<T: Sync> Sync for Region<T> {}

impl<T> Region<T> {
    /// `len` elements, all bytes zero.
    ///
    /// # Safety
    /// The all-zero bit pattern must be a valid `T` (true of atomics and of
    /// structs made only of them).
    pub(crate) unsafe fn zeroed(len: usize, huge: bool) -> Self {
        let bytes = (len.max(1) * core::mem::size_of::<T>()).next_multiple_of(HUGE);
        // SAFETY: an anonymous private mapping with no address hint; the
        // kernel returns zero-filled pages on first touch.
        let p = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                bytes + HUGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        assert!(p != libc::MAP_FAILED, "cannot map {bytes} bytes of table memory");
        // Align to 2 MiB inside the mapping and give back the slack.
        let base = p as usize;
        let aligned = base.next_multiple_of(HUGE);
        // SAFETY: both ranges lie inside the mapping we just made.
        unsafe {
            if aligned > base {
                libc::munmap(p, aligned - base);
            }
            let tail = base + bytes + HUGE - (aligned + bytes);
            if tail > 0 {
                libc::munmap((aligned + bytes) as *mut libc::c_void, tail);
            }
            // Advice only: without transparent huge pages it is a no-op.
            libc::madvise(
                aligned as *mut libc::c_void,
                bytes,
                if huge { libc::MADV_HUGEPAGE } else { libc::MADV_NOHUGEPAGE },
            );
        }
        Region {
            ptr: NonNull::new(aligned as *mut T).expect("non-null mapping"),
            len,
            mapped: bytes,
        }
    }
}

impl<T> Deref for Region<T> {
    type Target = [T];

    #[inline(always)]
    fn deref(&self) -> &[T] {
        // SAFETY: ptr points to len initialised (zeroed, valid per the
        // constructor's contract) elements that live as long as self.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl<T> Drop for Region<T> {
    fn drop(&mut self) {
        // SAFETY: drop the elements in place, then unmap what we mapped.
        unsafe {
            core::ptr::drop_in_place(core::ptr::slice_from_raw_parts_mut(self.ptr.as_ptr(), self.len));
            libc::munmap(self.ptr.as_ptr() as *mut libc::c_void, self.mapped);
        }
    }
}

/// The storage type of table arrays (`Box` under loom, whose atomics are
/// not plain memory).
#[cfg(not(loom))]
pub(crate) type Table<T> = Region<T>;
/// The storage type of table arrays (`Box` under loom, whose atomics are
/// not plain memory).
#[cfg(loom)]
pub(crate) type Table<T> = Box<[T]>;

/// A table array of `n` elements, each equal to `init()`.
///
/// # Safety
/// `init()` must return the all-zero bit pattern of `T`: outside loom the
/// array is zero-filled memory and `init` is not called.
#[cfg(not(loom))]
pub(crate) unsafe fn table<T>(n: usize, _init: impl Fn() -> T) -> Table<T> {
    // SAFETY: forwarded to the caller.
    unsafe { Region::zeroed(n, true) }
}

/// Like [`table`], on normal pages: for arrays touched sparsely (the pool's
/// per-port records), where a 2 MiB page per touched block would cost more
/// memory than the TLB misses cost time.
///
/// # Safety
/// As for [`table`].
#[cfg(not(loom))]
pub(crate) unsafe fn sparse_table<T>(n: usize, _init: impl Fn() -> T) -> Table<T> {
    // SAFETY: forwarded to the caller.
    unsafe { Region::zeroed(n, false) }
}

/// Like [`table`], on normal pages.
///
/// # Safety
/// As for [`table`].
#[cfg(loom)]
pub(crate) unsafe fn sparse_table<T>(n: usize, init: impl Fn() -> T) -> Table<T> {
    (0..n).map(|_| init()).collect()
}

/// A table array of `n` elements, each equal to `init()`.
///
/// # Safety
/// See the non-loom version.
#[cfg(loom)]
pub(crate) unsafe fn table<T>(n: usize, init: impl Fn() -> T) -> Table<T> {
    (0..n).map(|_| init()).collect()
}

/// Faults in every page of a table array by calling `touch` (a store of
/// the value already there) on one element per 4 KiB page, so the packet
/// path never takes a page fault. Called by constructors, before any
/// concurrent use.
pub(crate) fn prefault<T>(t: &[T], touch: impl Fn(&T)) {
    let step = (4096 / core::mem::size_of::<T>().max(1)).max(1);
    for x in t.iter().step_by(step) {
        touch(x);
    }
}

/// Asks the CPU to bring the cache line holding `x` closer (a hint; no
/// effect on correctness).
#[inline(always)]
pub(crate) fn prefetch<T>(x: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch never faults; the pointer comes from a reference.
    unsafe {
        core::arch::x86_64::_mm_prefetch(x as *const T as *const i8, core::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = x;
}

/// [`prefetch`] for `bytes` bytes starting at `x`, which may run past
/// `x` into the values after it: the first and the last line (so at most
/// two lines, `bytes` <= 64). The span may run past the end of its array:
/// the address is only computed (`wrapping_add`), never dereferenced, and a
/// prefetch never faults.
#[inline(always)]
pub(crate) fn prefetch_span<T>(x: &T, bytes: usize) {
    debug_assert!((1..=64).contains(&bytes));
    prefetch(x);
    #[cfg(target_arch = "x86_64")]
    // SAFETY: prefetch never faults, whatever the address.
    unsafe {
        let last = (x as *const T as *const i8).wrapping_add(bytes - 1);
        core::arch::x86_64::_mm_prefetch(last, core::arch::x86_64::_MM_HINT_T0);
    }
}

/// A value on its own cache line pair: crossbeam's `CachePadded`, which
/// aligns to 128 bytes on x86_64 and aarch64 because the spatial
/// prefetcher of Intel cores since Sandy Bridge fetches 64-byte lines in
/// pairs, so two words 64 bytes apart can still false-share (the
/// hand-written 64-byte version it replaces did not cover that; measured in
/// docs/decisions/019-crossbeam-parking-lot.md).
pub(crate) use crossbeam_utils::CachePadded;

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn zeroed_aligned_and_writable() {
        // SAFETY: AtomicU64 is valid when zero.
        let r: Region<AtomicU64> = unsafe { Region::zeroed(1 << 20, true) };
        assert_eq!(r.len(), 1 << 20);
        assert_eq!(r.as_ptr() as usize % HUGE, 0);
        assert!(r.iter().all(|a| a.load(Ordering::Relaxed) == 0));
        r[12345].store(7, Ordering::Relaxed);
        assert_eq!(r[12345].load(Ordering::Relaxed), 7);
    }
}
