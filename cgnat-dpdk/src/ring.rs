//! Single-producer/single-consumer rings of owned pointers (`rte_ring`).
//!
//! [`spsc`] returns a [`Producer`] and a [`Consumer`]: each is `Send` but not
//! `Sync` and not `Clone`, so the type system enforces DPDK's SP/SC
//! contract. Items are anything that converts to a pointer without
//! allocation on the ring path ([`Mbuf`], or `Box<T>` allocated by the
//! producer). Items left in the ring when both halves are gone are dropped.

use std::cell::Cell;
use std::ffi::c_void;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::Arc;

use crate::burst::Burst;
use crate::eal::{Eal, EalToken};
use crate::error::{cstring, DpdkError};
use crate::ffi;
use crate::mbuf::Mbuf;

/// A value that can travel through a ring as one pointer.
///
/// # Safety
/// `from_ptr(into_ptr(x))` must give back `x` (ownership included), and
/// the type must be safe to send to another thread.
pub unsafe trait RingItem: Send {
    /// Gives up ownership as a pointer.
    fn into_ptr(self) -> NonNull<c_void>;
    /// Takes ownership back.
    ///
    /// # Safety
    /// `p` must come from [`RingItem::into_ptr`] of the same type, once.
    unsafe fn from_ptr(p: NonNull<c_void>) -> Self;
}

// SAFETY: Mbuf is a uniquely owned pointer; into/from_raw round-trip.
unsafe impl RingItem for Mbuf {
    fn into_ptr(self) -> NonNull<c_void> {
        self.into_raw().cast()
    }
    unsafe fn from_ptr(p: NonNull<c_void>) -> Self {
        // SAFETY: `p` came from `into_ptr` of an Mbuf (trait contract).
        unsafe { Mbuf::from_raw(p.cast()) }
    }
}

// SAFETY: Box::into_raw/from_raw round-trip; T: Send.
unsafe impl<T: Send> RingItem for Box<T> {
    fn into_ptr(self) -> NonNull<c_void> {
        // SAFETY: Box::into_raw never returns null.
        unsafe { NonNull::new_unchecked(Box::into_raw(self).cast()) }
    }
    unsafe fn from_ptr(p: NonNull<c_void>) -> Self {
        // SAFETY: `p` came from `into_ptr` of a Box<T> (trait contract).
        unsafe { Box::from_raw(p.as_ptr().cast()) }
    }
}

struct RingInner<T: RingItem> {
    ptr: NonNull<ffi::rte_ring>,
    capacity: u32,
    _items: PhantomData<T>,
    _eal: EalToken,
}

// SAFETY: the ring is only touched through the SP/SC halves (one thread
// each, enforced by !Sync halves) and in Drop (no half left); items are Send.
unsafe impl<T: RingItem> Send for RingInner<T> {}
// SAFETY: shared references only read immutable fields or call DPDK's
// thread-safe count functions.
unsafe impl<T: RingItem> Sync for RingInner<T> {}

impl<T: RingItem> RingInner<T> {
    fn count(&self) -> u32 {
        // SAFETY: valid ring; reads head/tail indices.
        unsafe { ffi::cgnat_ring_count(self.ptr.as_ptr()) }
    }

    fn free_count(&self) -> u32 {
        // SAFETY: valid ring; reads head/tail indices.
        unsafe { ffi::cgnat_ring_free_count(self.ptr.as_ptr()) }
    }
}

impl<T: RingItem> Drop for RingInner<T> {
    fn drop(&mut self) {
        let mut buf = [std::ptr::null_mut::<c_void>(); 32];
        loop {
            // SAFETY: no producer/consumer half is left, so this is the
            // only consumer; buf has room for 32 pointers.
            let n = unsafe { ffi::cgnat_ring_sc_dequeue_burst(self.ptr.as_ptr(), buf.as_mut_ptr(), 32) } as usize;
            if n == 0 {
                break;
            }
            for &p in &buf[..n] {
                if let Some(p) = NonNull::new(p) {
                    // SAFETY: every pointer in the ring came from into_ptr.
                    drop(unsafe { T::from_ptr(p) });
                }
            }
        }
        // SAFETY: the ring is empty and unused.
        unsafe { ffi::rte_ring_free(self.ptr.as_ptr()) }
    }
}

/// Creates a single-producer/single-consumer ring holding up to `capacity`
/// items (`rte_ring_create` with `RING_F_SP_ENQ | RING_F_SC_DEQ |
/// RING_F_EXACT_SZ`). `name` must be unique among rings (< 29 bytes).
pub fn spsc<T: RingItem>(eal: &Eal, name: &str, capacity: u32) -> Result<(Producer<T>, Consumer<T>), DpdkError> {
    let c = cstring("ring name", name)?;
    let flags = ffi::RING_F_SP_ENQ | ffi::RING_F_SC_DEQ | ffi::RING_F_EXACT_SZ;
    // SAFETY: valid C string; EAL initialised.
    let ptr = unsafe { ffi::rte_ring_create(c.as_ptr(), capacity, ffi::SOCKET_ID_ANY, flags) };
    let ptr = NonNull::new(ptr).ok_or_else(|| DpdkError::from_rte_errno(format!("rte_ring_create({name:?}, {capacity})")))?;
    let inner = Arc::new(RingInner {
        ptr,
        capacity,
        _items: PhantomData,
        _eal: eal.token(),
    });
    Ok((
        Producer {
            inner: inner.clone(),
            _not_sync: PhantomData,
        },
        Consumer {
            inner,
            _not_sync: PhantomData,
        },
    ))
}

/// The enqueue half of an [`spsc`] ring.
pub struct Producer<T: RingItem> {
    inner: Arc<RingInner<T>>,
    _not_sync: PhantomData<Cell<()>>,
}

/// The dequeue half of an [`spsc`] ring.
pub struct Consumer<T: RingItem> {
    inner: Arc<RingInner<T>>,
    _not_sync: PhantomData<Cell<()>>,
}

impl<T: RingItem> Producer<T> {
    /// Enqueues one item; gives it back if the ring is full.
    #[inline]
    pub fn enqueue(&mut self, item: T) -> Result<(), T> {
        let p = item.into_ptr().as_ptr();
        // SAFETY: single producer (&mut self, !Sync); one valid pointer.
        let n = unsafe { ffi::cgnat_ring_sp_enqueue_burst(self.inner.ptr.as_ptr(), &p, 1) };
        if n == 1 {
            Ok(())
        } else {
            // SAFETY: the ring did not take the pointer; it is still ours.
            Err(unsafe { T::from_ptr(NonNull::new_unchecked(p)) })
        }
    }

    /// Items currently in the ring.
    pub fn len(&self) -> u32 {
        self.inner.count()
    }

    /// Whether the ring is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Free slots.
    pub fn free(&self) -> u32 {
        self.inner.free_count()
    }

    /// Capacity given at creation.
    pub fn capacity(&self) -> u32 {
        self.inner.capacity
    }
}

impl Producer<Mbuf> {
    /// Enqueues as many mbufs of `burst` as fit (front first); the rest stay
    /// in `burst`. Returns how many were enqueued.
    #[inline]
    pub fn enqueue_burst(&mut self, burst: &mut Burst) -> usize {
        let (pkts, len) = burst.live_raw();
        // SAFETY: single producer; `pkts` holds `len` owned mbuf pointers.
        let n = unsafe { ffi::cgnat_ring_sp_enqueue_burst(self.inner.ptr.as_ptr(), pkts.cast(), len as u32) } as usize;
        // SAFETY: the ring owns the first n mbufs now.
        unsafe { burst.consumed_front(n) };
        n
    }
}

impl<T: RingItem> Consumer<T> {
    /// Dequeues one item.
    #[inline]
    pub fn dequeue(&mut self) -> Option<T> {
        let mut p = std::ptr::null_mut::<c_void>();
        // SAFETY: single consumer (&mut self, !Sync); room for one pointer.
        let n = unsafe { ffi::cgnat_ring_sc_dequeue_burst(self.inner.ptr.as_ptr(), &mut p, 1) };
        if n == 1 {
            // SAFETY: every pointer in the ring came from into_ptr.
            NonNull::new(p).map(|p| unsafe { T::from_ptr(p) })
        } else {
            None
        }
    }

    /// Items currently in the ring.
    pub fn len(&self) -> u32 {
        self.inner.count()
    }

    /// Whether the ring is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Consumer<Mbuf> {
    /// Dequeues up to `burst.spare()` mbufs into the tail of `burst`.
    #[inline]
    pub fn dequeue_burst(&mut self, burst: &mut Burst) -> usize {
        let (tail, spare) = burst.spare_raw();
        // SAFETY: single consumer; `tail` has room for `spare` pointers.
        let n = unsafe { ffi::cgnat_ring_sc_dequeue_burst(self.inner.ptr.as_ptr(), tail.cast(), spare as u32) } as usize;
        // SAFETY: the ring wrote n owned mbuf pointers.
        unsafe { burst.filled(n) };
        n
    }
}
