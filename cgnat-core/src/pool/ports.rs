//! Per-port mapping records: one 8-byte word per (protocol, public port).
//!
//! ```text
//!  63    62    61   60      48 47            32 31           16 15            0
//! +----+-----+---+----------+----------------+---------------+---------------+
//! |used|dying|pcp|    -     |inbound sessions|   sessions    |  inside port  |
//! +----+-----+---+----------+----------------+---------------+---------------+
//! ```
//!
//! `pcp`: a PCP MAP mapping (RFC 6887 section 11, decision 017) holds the
//! port. It counts as one of `sessions`, like a static mapping's reference,
//! so the sweeper never frees the port (nor its block) while it is set;
//! inbound packets may create sessions on it whatever the filtering
//! behaviour (that is what MAP asks for).
//!
//! `sessions` counts every session of the mapping (at most
//! [`MAX_SESSIONS_PER_MAPPING`]; the per-subscriber session limit is capped
//! below that by config validation, so the count cannot saturate);
//! `inbound sessions` the part of them created by inbound packets, which
//! have their own budget per mapping (`nat.inbound.max_sessions_per_mapping`)
//! so that a spray at one mapping cannot take its subscriber's sessions.
//!
//! This is the mapping itself: inbound packets read the inside port from it
//! (no hashing), new sessions of the mapping add one to `sessions`, expired
//! ones take one away, and the sweeper frees the port when it reaches zero.

use crate::flow::Protocol;
use crate::mem::{sparse_table, Table};
use crate::sync::{AtomicU64, Ordering};

const USED: u64 = 1 << 63;
const DYING: u64 = 1 << 62;
const PCP: u64 = 1 << 61;
const COUNT_SHIFT: u32 = 16;
const INBOUND_SHIFT: u32 = 32;
const FIELD: u64 = 0xFFFF;
/// Most sessions one mapping can count.
pub const MAX_SESSIONS_PER_MAPPING: u32 = (1 << 14) - 1;
const COUNT_MAX: u64 = MAX_SESSIONS_PER_MAPPING as u64;

/// Why a session could not join a mapping.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum JoinError {
    /// The port is free, dying, or mapped to another inside port.
    Gone,
    /// The mapping holds its maximum of (inbound) sessions.
    Full,
}

/// The mapping record of one public port.
#[repr(transparent)]
pub struct PortEntry(AtomicU64);

impl PortEntry {
    /// `(inside port, sessions)` if a live mapping holds the port.
    #[inline(always)]
    pub fn mapping(&self) -> Option<(u16, u32)> {
        let w = self.0.load(Ordering::Acquire);
        if w & (USED | DYING) == USED {
            Some((w as u16, ((w >> COUNT_SHIFT) & FIELD) as u32))
        } else {
            None
        }
    }

    /// Inbound-created sessions of the live mapping (0 if none).
    #[inline]
    pub fn inbound_sessions(&self) -> u32 {
        ((self.0.load(Ordering::Acquire) >> INBOUND_SHIFT) & FIELD) as u32
    }

    /// Takes the port for a new mapping of `inside_port` with one session.
    #[inline]
    pub fn try_claim(&self, inside_port: u16) -> bool {
        self.0
            .compare_exchange(
                0,
                USED | (1 << COUNT_SHIFT) | inside_port as u64,
                Ordering::AcqRel,
                Ordering::Relaxed,
            )
            .is_ok()
    }

    /// Adds a session to the live mapping of `inside_port`. Fails if the
    /// port is free, dying, or mapped to another inside port.
    #[inline]
    pub fn acquire(&self, inside_port: u16) -> bool {
        self.join(inside_port, None).is_ok()
    }

    /// Adds a session created by an inbound packet, unless the mapping
    /// already holds `inbound_limit` of them (`nat.inbound`).
    #[inline]
    pub fn acquire_inbound(&self, inside_port: u16, inbound_limit: u32) -> Result<(), JoinError> {
        self.join(inside_port, Some(inbound_limit))
    }

    fn join(&self, inside_port: u16, inbound_limit: Option<u32>) -> Result<(), JoinError> {
        let mut w = self.0.load(Ordering::Acquire);
        loop {
            if w & (USED | DYING) != USED || w as u16 != inside_port {
                return Err(JoinError::Gone);
            }
            if (w >> COUNT_SHIFT) & FIELD >= COUNT_MAX {
                return Err(JoinError::Full);
            }
            let mut new = w + (1 << COUNT_SHIFT);
            if let Some(limit) = inbound_limit {
                if (w >> INBOUND_SHIFT) & FIELD >= limit as u64 {
                    return Err(JoinError::Full);
                }
                new += 1 << INBOUND_SHIFT;
            }
            match self.0.compare_exchange_weak(w, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(()),
                Err(a) => w = a,
            }
        }
    }

    /// Takes a session away (`inbound`: one created by an inbound packet).
    /// Returns `true` when that was the last one: the entry is then marked
    /// dying and the caller (the sweeper) must remove the mapping index
    /// entry and call [`PortEntry::free`].
    #[inline]
    pub fn release(&self, inbound: bool) -> bool {
        let mut w = self.0.load(Ordering::Acquire);
        loop {
            let count = (w >> COUNT_SHIFT) & FIELD;
            let mut new = if count <= 1 {
                (w & !(FIELD << COUNT_SHIFT)) | DYING
            } else {
                w - (1 << COUNT_SHIFT)
            };
            if inbound && (new >> INBOUND_SHIFT) & FIELD > 0 {
                new -= 1 << INBOUND_SHIFT;
            }
            match self.0.compare_exchange_weak(w, new, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return count <= 1,
                Err(a) => w = a,
            }
        }
    }

    /// Marks the live mapping of `inside_port` as held by PCP, taking one
    /// of its session references for the hold (the caller added it, as for
    /// a new session). `Some(true)`: marked now, the reference is the
    /// hold's; `Some(false)`: already marked, the caller gives its
    /// reference back with [`PortEntry::release`]; `None`: the port is
    /// free, dying or mapped to another inside port.
    #[inline]
    pub fn mark_pcp(&self, inside_port: u16) -> Option<bool> {
        let mut w = self.0.load(Ordering::Acquire);
        loop {
            if w & (USED | DYING) != USED || w as u16 != inside_port {
                return None;
            }
            if w & PCP != 0 {
                return Some(false);
            }
            match self.0.compare_exchange_weak(w, w | PCP, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Some(true),
                Err(a) => w = a,
            }
        }
    }

    /// Clears the PCP mark of the live mapping of `inside_port`; `true` if
    /// it was set (the caller then gives the hold's reference back with
    /// [`PortEntry::release`]). A port mapped to another inside port keeps
    /// its mark.
    #[inline]
    pub fn unmark_pcp(&self, inside_port: u16) -> bool {
        let mut w = self.0.load(Ordering::Acquire);
        loop {
            if w & (USED | DYING | PCP) != USED | PCP || w as u16 != inside_port {
                return false;
            }
            match self.0.compare_exchange_weak(w, w & !PCP, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return true,
                Err(a) => w = a,
            }
        }
    }

    /// Whether a live mapping holds the port for PCP.
    #[inline]
    pub fn is_pcp(&self) -> bool {
        self.0.load(Ordering::Acquire) & (USED | DYING | PCP) == USED | PCP
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
    /// Where each protocol's records start, indexed by the protocol's code
    /// (1..=3; a load instead of a multiplication per packet).
    base: [usize; 4],
}

impl PortArray {
    pub(super) fn new(per_protocol: usize) -> Self {
        // Anonymous zeroed memory: pages are backed only once a block's
        // ports are used, so a large pool costs memory only where used.
        // SAFETY: a zero PortEntry is a free port.
        let entries = unsafe { sparse_table(per_protocol * 3, || PortEntry(AtomicU64::new(0))) };
        PortArray {
            entries,
            base: [0, 0, per_protocol, 2 * per_protocol],
        }
    }

    #[inline(always)]
    pub(super) fn get(&self, protocol: Protocol, i: usize) -> &PortEntry {
        debug_assert_eq!(self.base[protocol as usize], protocol.index() * self.base[Protocol::Udp as usize]);
        &self.entries[self.base[protocol as usize] + i]
    }

    pub(super) fn memory_bytes(&self) -> usize {
        self.entries.len() * 8
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_pcp_mark_holds_one_reference() {
        let a = PortArray::new(4);
        let e = a.get(Protocol::Udp, 1);
        assert_eq!(e.mark_pcp(7000), None, "a free port has nothing to mark");
        assert!(e.try_claim(7000), "the mapping, with the hold's reference");
        assert_eq!(e.mark_pcp(7001), None, "another inside port");
        assert_eq!(e.mark_pcp(7000), Some(true));
        assert!(e.is_pcp());
        assert!(e.acquire(7000), "a session joins");
        assert_eq!(e.mark_pcp(7000), Some(false), "a refresh does not take a second reference");
        assert!(!e.release(false), "the session leaves; the hold keeps the port");
        assert_eq!(e.mapping(), Some((7000, 1)));
        assert!(!e.unmark_pcp(7001), "another inside port's mark is not this one's");
        assert!(e.unmark_pcp(7000));
        assert!(!e.unmark_pcp(7000), "once");
        assert!(!e.is_pcp());
        assert!(e.release(false), "the hold's reference was the last");
        assert!(!e.is_pcp() && e.mapping().is_none(), "dying");
        e.free();
        assert!(e.try_claim(1) && !e.is_pcp(), "free again, unmarked");
    }

    #[test]
    fn lifecycle() {
        let a = PortArray::new(4);
        let e = a.get(Protocol::Tcp, 2);
        assert!(e.try_claim(5555));
        assert!(!e.try_claim(1), "taken");
        assert_eq!(e.mapping(), Some((5555, 1)));
        assert!(!e.acquire(1), "other inside port");
        assert!(e.acquire(5555));
        assert!(!e.release(false));
        assert!(e.release(false), "last session");
        assert_eq!(e.mapping(), None, "dying");
        assert!(!e.acquire(5555), "dying refuses new sessions");
        assert!(!e.try_claim(1), "dying is not free");
        e.free();
        assert!(e.try_claim(1));
        assert_eq!(a.get(Protocol::Udp, 2).mapping(), None);
    }

    #[test]
    fn inbound_sessions_have_their_own_budget_per_mapping() {
        let a = PortArray::new(1);
        let e = a.get(Protocol::Udp, 0);
        assert!(e.try_claim(4000));
        for _ in 0..3 {
            assert_eq!(e.acquire_inbound(4000, 3), Ok(()));
        }
        assert_eq!(
            e.acquire_inbound(4000, 3),
            Err(JoinError::Full),
            "the mapping's inbound budget is spent"
        );
        assert!(e.acquire(4000), "the subscriber's own sessions still join");
        assert_eq!(e.mapping(), Some((4000, 5)));
        assert_eq!(e.inbound_sessions(), 3);
        assert!(!e.release(true));
        assert_eq!(
            e.acquire_inbound(4000, 3),
            Ok(()),
            "an expired inbound session gives its place back"
        );
        assert_eq!(e.acquire_inbound(4001, 3), Err(JoinError::Gone));
    }
}
