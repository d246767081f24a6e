//! A bounded, lock-free single-producer single-consumer ring.
//!
//! The event path from each worker to the management core. Memory is
//! allocated once at construction; `push` and `pop` never allocate, never
//! block and never make a syscall.
//!
//! It stays hand-written rather than `crossbeam_queue::ArrayQueue`: with one
//! producer and one consumer a slot needs no compare-and-swap and no
//! per-slot stamp, and each side caches the other's index. Measured
//! (`examples/ring_bench.rs`, docs/decisions/019-crossbeam-parking-lot.md):
//! 46.8 instructions per event pushed and popped against 101.9 for
//! `ArrayQueue` and 192.0 for `crossbeam_channel::bounded`.

use std::cell::UnsafeCell;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::mem::CachePadded;

struct Shared<T> {
    buf: Box<[UnsafeCell<MaybeUninit<T>>]>,
    mask: usize,
    /// Next slot the consumer reads (only the consumer writes it).
    head: CachePadded<AtomicUsize>,
    /// Next slot the producer writes (only the producer writes it).
    tail: CachePadded<AtomicUsize>,
}

// SAFETY: slots are handed between exactly one producer and one consumer with
// release/acquire on `tail` and `head`; a slot is never accessed by both at once.
unsafe impl<T: Send> Sync for Shared<T> {}
// SAFETY: see above; the values themselves are `Send`.
unsafe impl<T: Send> Send for Shared<T> {}

impl<T> Drop for Shared<T> {
    fn drop(&mut self) {
        let head = *self.head.get_mut();
        let tail = *self.tail.get_mut();
        for i in head..tail {
            // SAFETY: slots in head..tail were written and not yet read.
            unsafe { self.buf[i & self.mask].get_mut().assume_init_drop() };
        }
    }
}

/// The producing half.
pub struct Producer<T> {
    shared: Arc<Shared<T>>,
    /// Cached copy of `head`, refreshed only when the ring looks full.
    head_cache: usize,
}

/// The consuming half.
pub struct Consumer<T> {
    shared: Arc<Shared<T>>,
    /// Cached copy of `tail`, refreshed only when the ring looks empty.
    tail_cache: usize,
}

/// Creates a ring holding at least `capacity` items (rounded up to a power of two).
pub fn ring<T>(capacity: usize) -> (Producer<T>, Consumer<T>) {
    let cap = capacity.max(2).next_power_of_two();
    let buf = (0..cap).map(|_| UnsafeCell::new(MaybeUninit::uninit())).collect();
    let shared = Arc::new(Shared {
        buf,
        mask: cap - 1,
        head: CachePadded::new(AtomicUsize::new(0)),
        tail: CachePadded::new(AtomicUsize::new(0)),
    });
    (
        Producer {
            shared: shared.clone(),
            head_cache: 0,
        },
        Consumer { shared, tail_cache: 0 },
    )
}

impl<T> Producer<T> {
    /// Appends `value`, or returns it if the ring is full.
    #[inline]
    pub fn push(&mut self, value: T) -> Result<(), T> {
        let s = &*self.shared;
        let tail = s.tail.load(Ordering::Relaxed);
        if tail.wrapping_sub(self.head_cache) > s.mask {
            self.head_cache = s.head.load(Ordering::Acquire);
            if tail.wrapping_sub(self.head_cache) > s.mask {
                return Err(value);
            }
        }
        // SAFETY: the slot at `tail` is outside head..tail, so the consumer
        // does not touch it until we publish the new tail below.
        unsafe { (*s.buf[tail & s.mask].get()).write(value) };
        s.tail.store(tail.wrapping_add(1), Ordering::Release);
        Ok(())
    }

    /// Items queued and not yet consumed.
    pub fn len(&self) -> usize {
        let s = &*self.shared;
        s.tail.load(Ordering::Relaxed).wrapping_sub(s.head.load(Ordering::Acquire))
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many items the ring holds at most.
    pub fn capacity(&self) -> usize {
        self.shared.mask + 1
    }
}

impl<T> Consumer<T> {
    /// Removes the oldest item, if any.
    #[inline]
    pub fn pop(&mut self) -> Option<T> {
        let s = &*self.shared;
        let head = s.head.load(Ordering::Relaxed);
        if head == self.tail_cache {
            self.tail_cache = s.tail.load(Ordering::Acquire);
            if head == self.tail_cache {
                return None;
            }
        }
        // SAFETY: head < tail, so the producer wrote this slot and published it
        // with the release store of `tail` that we acquired.
        let v = unsafe { (*s.buf[head & s.mask].get()).assume_init_read() };
        s.head.store(head.wrapping_add(1), Ordering::Release);
        Some(v)
    }

    /// The oldest item without removing it.
    pub fn peek(&mut self) -> Option<&T> {
        let s = &*self.shared;
        let head = s.head.load(Ordering::Relaxed);
        if head == self.tail_cache {
            self.tail_cache = s.tail.load(Ordering::Acquire);
            if head == self.tail_cache {
                return None;
            }
        }
        // SAFETY: as in `pop`; the slot stays valid until we advance head.
        Some(unsafe { (*s.buf[head & s.mask].get()).assume_init_ref() })
    }

    /// Items queued and not yet consumed.
    pub fn len(&self) -> usize {
        let s = &*self.shared;
        s.tail.load(Ordering::Acquire).wrapping_sub(s.head.load(Ordering::Relaxed))
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_and_full() {
        let (mut p, mut c) = ring::<u32>(4);
        for i in 0..4 {
            p.push(i).unwrap();
        }
        assert_eq!(p.push(9), Err(9));
        assert_eq!(c.peek(), Some(&0));
        for i in 0..4 {
            assert_eq!(c.pop(), Some(i));
        }
        assert_eq!(c.pop(), None);
    }

    #[test]
    fn two_threads_deliver_everything_in_order() {
        let (mut p, mut c) = ring::<u64>(64);
        const N: u64 = 200_000;
        let t = std::thread::spawn(move || {
            let mut i = 0;
            while i < N {
                if p.push(i).is_ok() {
                    i += 1;
                } else {
                    std::hint::spin_loop();
                }
            }
        });
        let mut expect = 0;
        while expect < N {
            if let Some(v) = c.pop() {
                assert_eq!(v, expect);
                expect += 1;
            }
        }
        t.join().unwrap();
    }

    #[test]
    fn drops_unconsumed_items() {
        let (mut p, c) = ring::<Arc<()>>(8);
        let a = Arc::new(());
        p.push(a.clone()).unwrap();
        p.push(a.clone()).unwrap();
        drop(p);
        drop(c);
        assert_eq!(Arc::strong_count(&a), 1);
    }
}
