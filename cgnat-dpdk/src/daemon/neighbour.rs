//! A fixed-size, lock-free neighbour (ARP) table shared by every worker of
//! one port.
//!
//! Open addressing over a power-of-two array; a slot's address is written
//! once (compare-and-swap from 0) and never changes, its MAC word is
//! replaced atomically, so readers never see a torn entry and never wait.
//! Entries are not aged: a neighbour that changes its MAC address is
//! re-learned from its ARP traffic (requests for our addresses, replies,
//! gratuitous ARP). When every slot near an address is taken, the packet
//! is dropped and counted (`neighbour_table_full`).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Slots probed from an address's home slot.
const PROBE: usize = 16;
/// The MAC word holds a resolved address.
const RESOLVED: u64 = 1 << 63;
/// The entry was configured (never replaced by ARP).
const STATIC: u64 = 1 << 62;

struct Slot {
    ip: AtomicU32,
    mac: AtomicU64,
    /// Packet-clock microseconds of the last ARP request for this address.
    requested: AtomicU64,
}

/// What a lookup found.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// The neighbour's MAC address.
    Resolved([u8; 6]),
    /// Not resolved yet; `request` says whether this caller should send an
    /// ARP request now (at most one per retry interval over all workers).
    Pending {
        /// Send an ARP request.
        request: bool,
    },
    /// No room for the address.
    Full,
}

/// The neighbour table of one port.
pub struct NeighbourTable {
    slots: Box<[Slot]>,
    mask: usize,
    shift: u32,
}

fn pack(mac: [u8; 6]) -> u64 {
    let mut b = [0u8; 8];
    b[2..].copy_from_slice(&mac);
    u64::from_be_bytes(b)
}

fn unpack(w: u64) -> [u8; 6] {
    let b = w.to_be_bytes();
    [b[2], b[3], b[4], b[5], b[6], b[7]]
}

impl NeighbourTable {
    /// A table of at least `capacity` slots (rounded up to a power of two).
    pub fn new(capacity: usize) -> NeighbourTable {
        let n = capacity.max(PROBE).next_power_of_two();
        let slots = (0..n)
            .map(|_| Slot {
                ip: AtomicU32::new(0),
                mac: AtomicU64::new(0),
                requested: AtomicU64::new(0),
            })
            .collect();
        NeighbourTable {
            slots,
            mask: n - 1,
            shift: 32 - n.trailing_zeros(),
        }
    }

    #[inline]
    fn home(&self, ip: u32) -> usize {
        if self.shift >= 32 {
            return 0;
        }
        (ip.wrapping_mul(0x9E37_79B1) >> self.shift) as usize
    }

    /// The slot holding `ip`, inserting it if `insert` and there is room.
    #[inline]
    fn find(&self, ip: u32, insert: bool) -> Option<(&Slot, bool)> {
        debug_assert!(ip != 0);
        let home = self.home(ip);
        for k in 0..PROBE {
            let s = &self.slots[(home + k) & self.mask];
            let cur = s.ip.load(Ordering::Acquire);
            if cur == ip {
                return Some((s, false));
            }
            if cur == 0 {
                if !insert {
                    return None;
                }
                match s.ip.compare_exchange(0, ip, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => return Some((s, true)),
                    Err(winner) if winner == ip => return Some((s, false)),
                    Err(_) => continue,
                }
            }
        }
        None
    }

    /// Resolves `ip` (host order, non-zero) at packet-clock time `now_us`,
    /// creating a pending entry if it is unknown. `retry_us` is the gap
    /// between ARP requests for one address.
    #[inline]
    pub fn resolve(&self, ip: u32, now_us: u64, retry_us: u64) -> Resolution {
        let Some((slot, fresh)) = self.find(ip, true) else {
            return Resolution::Full;
        };
        let w = slot.mac.load(Ordering::Acquire);
        if w & RESOLVED != 0 {
            return Resolution::Resolved(unpack(w));
        }
        if fresh {
            slot.requested.store(now_us, Ordering::Relaxed);
            return Resolution::Pending { request: true };
        }
        let last = slot.requested.load(Ordering::Relaxed);
        let request = now_us.saturating_sub(last) >= retry_us
            && slot
                .requested
                .compare_exchange(last, now_us, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok();
        Resolution::Pending { request }
    }

    /// The MAC address of `ip`, if resolved (never inserts).
    #[inline]
    pub fn lookup(&self, ip: u32) -> Option<[u8; 6]> {
        let (slot, _) = self.find(ip, false)?;
        let w = slot.mac.load(Ordering::Acquire);
        (w & RESOLVED != 0).then(|| unpack(w))
    }

    /// Records that `ip` is at `mac` (from ARP). Updates an existing
    /// dynamic entry; creates one only if `create`. Returns whether the
    /// table changed or was refreshed.
    pub fn learn(&self, ip: u32, mac: [u8; 6], create: bool) -> bool {
        if ip == 0 {
            return false;
        }
        let Some((slot, _)) = self.find(ip, create) else {
            return false;
        };
        let old = slot.mac.load(Ordering::Acquire);
        if old & STATIC != 0 {
            return false;
        }
        slot.mac
            .compare_exchange(old, pack(mac) | RESOLVED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
    }

    /// Configures `ip` at `mac` for good. Returns `false` if there is no room.
    pub fn insert_static(&self, ip: u32, mac: [u8; 6]) -> bool {
        match self.find(ip, true) {
            Some((slot, _)) => {
                slot.mac.store(pack(mac) | RESOLVED | STATIC, Ordering::Release);
                true
            }
            None => false,
        }
    }

    /// Resolved entries, for diagnostics: (address, MAC, static).
    pub fn entries(&self) -> Vec<(u32, [u8; 6], bool)> {
        self.slots
            .iter()
            .filter_map(|s| {
                let ip = s.ip.load(Ordering::Acquire);
                let w = s.mac.load(Ordering::Acquire);
                (ip != 0 && w & RESOLVED != 0).then(|| (ip, unpack(w), w & STATIC != 0))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: [u8; 6] = [2, 0, 0, 0, 0, 7];

    #[test]
    fn resolve_learn_and_retry() {
        let t = NeighbourTable::new(16);
        let ip = 0x6440_010a;
        assert_eq!(t.resolve(ip, 1_000, 500), Resolution::Pending { request: true });
        assert_eq!(t.resolve(ip, 1_200, 500), Resolution::Pending { request: false });
        assert_eq!(t.resolve(ip, 1_600, 500), Resolution::Pending { request: true });
        assert_eq!(t.lookup(ip), None);
        assert!(t.learn(ip, MAC, false));
        assert_eq!(t.resolve(ip, 2_000, 500), Resolution::Resolved(MAC));
        assert_eq!(t.lookup(ip), Some(MAC));
        assert!(!t.learn(0x0101_0101, MAC, false), "unknown address not created");
        assert_eq!(t.lookup(0x0101_0101), None);
    }

    #[test]
    fn static_entries_are_kept() {
        let t = NeighbourTable::new(16);
        assert!(t.insert_static(5, MAC));
        assert!(!t.learn(5, [2, 0, 0, 0, 0, 9], true));
        assert_eq!(t.lookup(5), Some(MAC));
        assert_eq!(t.entries(), vec![(5, MAC, true)]);
    }

    #[test]
    fn bounded() {
        let t = NeighbourTable::new(16);
        let full = (1..1000u32).filter(|ip| t.resolve(*ip, 0, 1) == Resolution::Full).count();
        assert_eq!(full, 1000 - 1 - 16);
    }
}
