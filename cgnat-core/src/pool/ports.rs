//! Per-port mapping records: one 4-byte word per (protocol, public port).
//!
//! ```text
//!  31    30     29         16 15            0
//! +----+-----+---------------+---------------+
//! |used|dying|   sessions    |  inside port  |
//! +----+-----+---------------+---------------+
//! ```
//!
//! Fourteen bits of session count bound a mapping at 16383 sessions; the
//! per-subscriber session limit is capped below that (config validation), so
//! the count cannot saturate.
//!
//! This is the mapping itself: inbound packets read the inside port from it
//! (no hashing), new sessions of the mapping add one to `sessions`, expired
//! ones take one away, and the sweeper frees the port when it reaches zero.

use crate::flow::Protocol;
use crate::mem::{sparse_table, Table};
use crate::sync::{AtomicU32, Ordering};

const USED: u32 = 1 << 31;
const DYING: u32 = 1 << 30;
const COUNT_SHIFT: u32 = 16;
/// Most sessions one mapping can count.
pub const MAX_SESSIONS_PER_MAPPING: u32 = (1 << 14) - 1;
const COUNT_MAX: u32 = MAX_SESSIONS_PER_MAPPING;

/// The mapping record of one public port.
#[repr(transparent)]
pub struct PortEntry(AtomicU32);

impl PortEntry {
    /// `(inside port, sessions)` if a live mapping holds the port.
    #[inline(always)]
    pub fn mapping(&self) -> Option<(u16, u32)> {
        let w = self.0.load(Ordering::Acquire);
        if w & (USED | DYING) == USED {
            Some((w as u16, (w >> COUNT_SHIFT) & COUNT_MAX))
        } else {
            None
        }
    }

    /// Takes the port for a new mapping of `inside_port` with one session.
    #[inline]
    pub fn try_claim(&self, inside_port: u16) -> bool {
        self.0
            .compare_exchange(
                0,
                USED | (1 << COUNT_SHIFT) | inside_port as u32,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// Adds a session to the live mapping of `inside_port`. Fails if the
    /// port is free, dying, or mapped to another inside port.
    #[inline]
    pub fn acquire(&self, inside_port: u16) -> bool {
        let mut w = self.0.load(Ordering::Acquire);
        loop {
            if w & (USED | DYING) != USED || w as u16 != inside_port || (w >> COUNT_SHIFT) & COUNT_MAX == COUNT_MAX {
                return false;
            }
            match self
                .0
                .compare_exchange_weak(w, w + (1 << COUNT_SHIFT), Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return true,
                Err(a) => w = a,
            }
        }
    }

    /// Takes a session away. Returns `true` when that was the last one: the
    /// entry is then marked dying and the caller (the sweeper) must remove
    /// the mapping index entry and call [`PortEntry::free`].
    #[inline]
    pub fn release(&self) -> bool {
        let mut w = self.0.load(Ordering::Acquire);
        loop {
            let count = (w >> COUNT_SHIFT) & COUNT_MAX;
            let new = if count <= 1 {
                (w & !(COUNT_MAX << COUNT_SHIFT)) | DYING
            } else {
                w - (1 << COUNT_SHIFT)
            };
            match self.0.compare_exchange_weak(w, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return count <= 1,
                Err(a) => w = a,
            }
        }
    }

    /// Frees a dying entry for reuse.
    #[inline]
    pub fn free(&self) {
        self.0.store(0, Ordering::Release);
    }
}

/// The zero-initialised array of every port record, per protocol.
pub(super) struct PortArray {
    entries: Table<PortEntry>,
    per_protocol: usize,
}

impl PortArray {
    pub(super) fn new(per_protocol: usize) -> Self {
        // Anonymous zeroed memory: pages are backed only once a block's
        // ports are used, so a large pool costs memory only where used.
        // SAFETY: a zero PortEntry is a free port.
        let entries = unsafe { sparse_table(per_protocol * 3, || PortEntry(AtomicU32::new(0))) };
        PortArray { entries, per_protocol }
    }

    #[inline(always)]
    pub(super) fn get(&self, protocol: Protocol, i: usize) -> &PortEntry {
        &self.entries[protocol.index() * self.per_protocol + i]
    }

    pub(super) fn memory_bytes(&self) -> usize {
        self.entries.len() * 4
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn lifecycle() {
        let a = PortArray::new(4);
        let e = a.get(Protocol::Tcp, 2);
        assert!(e.try_claim(5555));
        assert!(!e.try_claim(1), "taken");
        assert_eq!(e.mapping(), Some((5555, 1)));
        assert!(!e.acquire(1), "other inside port");
        assert!(e.acquire(5555));
        assert!(!e.release());
        assert!(e.release(), "last session");
        assert_eq!(e.mapping(), None, "dying");
        assert!(!e.acquire(5555), "dying refuses new sessions");
        assert!(!e.try_claim(1), "dying is not free");
        e.free();
        assert!(e.try_claim(1));
        assert_eq!(a.get(Protocol::Udp, 2).mapping(), None);
    }
}
