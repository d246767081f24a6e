//! A fixed-size, lock-free neighbour (ARP) table shared by every worker of
//! one port, with reachability aging.
//!
//! Open addressing over a power-of-two array; a slot's address is written
//! once (compare-and-swap from 0) and never changes, its MAC word is
//! replaced atomically, so readers never see a torn entry and never wait.
//! When every slot near an address is taken, the packet is dropped and
//! counted (`neighbour_table_full`).
//!
//! # Reachability (RFC 1122 section 2.3.2.1, RFC 4861 section 7.3)
//!
//! Every dynamic entry remembers when it was last *confirmed* (on the
//! packet clock): learned from an ARP reply, or refreshed by any ARP packet
//! its neighbour sends (requests for our addresses, replies, gratuitous
//! ARP). A sender with a new MAC address replaces the old one at once
//! (gateway failover).
//!
//! ```text
//!                 ARP from the neighbour (reply, request, gratuitous)
//!   INCOMPLETE ──────────────────────────────────────────────► REACHABLE
//!   ▲ first use: broadcast request,                 ▲   ▲           │ reachable time
//!   │ packets held                                  │   │ ARP from  │ without ARP
//!   │                                               │   │ it        ▼ from it
//!   │ N probes unanswered: the MAC is        reply  │   └──────── STALE
//!   │ removed (Expired), broadcast again            │               │ next use
//!   └──────────────────────────────────────────── PROBE ◄───────────┘
//!                 unicast request every retry interval, old MAC still used
//! ```
//!
//! - REACHABLE: used as is until `reachable` after its confirmation.
//! - STALE → PROBE: the next use still sends the packet to the known MAC
//!   address and, once per retry interval over all workers, a unicast ARP
//!   request to it ([`Resolution::Probe`]).
//! - After `probes` unanswered probes, the next use removes the MAC address
//!   ([`Resolution::Expired`]): the caller broadcasts a request and holds the
//!   packet, like for an address never seen (INCOMPLETE). The slot stays
//!   reserved for the address.
//! - Configured (static) entries never age and are never replaced.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Slots probed from an address's home slot.
const PROBE: usize = 16;
/// The MAC word holds a resolved address.
const RESOLVED: u64 = 1 << 63;
/// The entry was configured (never replaced by ARP, never aged).
const STATIC: u64 = 1 << 62;
/// Bits of the solicitation word holding the number of requests sent.
const SENT_BITS: u32 = 8;
/// Largest count of requests the solicitation word records.
const SENT_MAX: u64 = (1 << SENT_BITS) - 1;

/// Timers of a neighbour table (from `[dataplane]`: `arp_reachable_secs`,
/// `arp_retry_ms`, `arp_probes`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct NeighbourTimers {
    /// How long an entry stays reachable after its last confirmation, µs.
    pub reachable_us: u64,
    /// Gap between ARP requests (and probes) for one address, µs.
    pub retry_us: u64,
    /// Unanswered probes after which a stale entry is removed (at least 1).
    pub probes: u8,
}

impl Default for NeighbourTimers {
    /// The configuration defaults: reachable 300 s, retry 500 ms, 3 probes.
    fn default() -> Self {
        NeighbourTimers {
            reachable_us: 300_000_000,
            retry_us: 500_000,
            probes: 3,
        }
    }
}

struct Slot {
    ip: AtomicU32,
    mac: AtomicU64,
    /// Packet-clock microseconds of the last confirmation.
    confirmed: AtomicU64,
    /// Solicitations since the last confirmation: packet-clock microseconds
    /// of the last one `<< SENT_BITS | count`. Updated by compare-and-swap,
    /// which elects the one worker that sends the next request.
    solicit: AtomicU64,
}

/// What a lookup found.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// The neighbour's MAC address (reachable, configured, or stale with a
    /// probe already in flight).
    Resolved([u8; 6]),
    /// The entry is stale: use this MAC address and send a unicast ARP
    /// request (probe) to it now.
    Probe([u8; 6]),
    /// Not resolved yet; `request` says whether this caller should
    /// broadcast an ARP request now (at most one per retry interval over
    /// all workers).
    Pending {
        /// Send an ARP request.
        request: bool,
    },
    /// The entry was stale and did not answer its probes: its MAC address
    /// was removed just now. The caller broadcasts an ARP request and
    /// treats the packet as unresolved (it is the only caller told so).
    Expired,
    /// No room for the address.
    Full,
}

/// The neighbour table of one port.
pub struct NeighbourTable {
    slots: Box<[Slot]>,
    mask: usize,
    shift: u32,
    timers: NeighbourTimers,
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

#[inline]
fn solicit_word(now_us: u64, sent: u64) -> u64 {
    now_us << SENT_BITS | sent.min(SENT_MAX)
}

#[inline]
fn solicit_parts(w: u64) -> (u64, u64) {
    (w >> SENT_BITS, w & SENT_MAX)
}

impl NeighbourTable {
    /// A table of at least `capacity` slots (rounded up to a power of two)
    /// whose entries age by `timers`.
    pub fn new(capacity: usize, timers: NeighbourTimers) -> NeighbourTable {
        let n = capacity.max(PROBE).next_power_of_two();
        let slots = (0..n)
            .map(|_| Slot {
                ip: AtomicU32::new(0),
                mac: AtomicU64::new(0),
                confirmed: AtomicU64::new(0),
                solicit: AtomicU64::new(0),
            })
            .collect();
        NeighbourTable {
            slots,
            mask: n - 1,
            shift: 32 - n.trailing_zeros(),
            timers: NeighbourTimers {
                probes: timers.probes.max(1),
                ..timers
            },
        }
    }

    /// The table's timers.
    pub fn timers(&self) -> NeighbourTimers {
        self.timers
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

    /// Resolves `ip` (host order, non-zero) for a packet about to be sent
    /// at packet-clock time `now_us`, creating an incomplete entry if it is
    /// unknown, and driving the entry's aging (see the module docs).
    #[inline]
    pub fn resolve(&self, ip: u32, now_us: u64) -> Resolution {
        let Some((slot, fresh)) = self.find(ip, true) else {
            return Resolution::Full;
        };
        let t = &self.timers;
        if fresh {
            slot.solicit.store(solicit_word(now_us, 1), Ordering::Relaxed);
            return Resolution::Pending { request: true };
        }
        let w = slot.mac.load(Ordering::Acquire);
        let s = slot.solicit.load(Ordering::Relaxed);
        let (last, sent) = solicit_parts(s);
        let due = now_us.saturating_sub(last) >= t.retry_us;
        if w & RESOLVED == 0 {
            // INCOMPLETE: one broadcast request per retry interval.
            let request = due
                && slot
                    .solicit
                    .compare_exchange(s, solicit_word(now_us, sent + 1), Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok();
            return Resolution::Pending { request };
        }
        let mac = unpack(w);
        if w & STATIC != 0 || now_us.saturating_sub(slot.confirmed.load(Ordering::Relaxed)) < t.reachable_us {
            return Resolution::Resolved(mac);
        }
        // STALE / PROBE: the known MAC address is still used.
        if sent != 0 && !due {
            return Resolution::Resolved(mac);
        }
        if sent < t.probes as u64 {
            let won = slot
                .solicit
                .compare_exchange(s, solicit_word(now_us, sent + 1), Ordering::Relaxed, Ordering::Relaxed)
                .is_ok();
            return if won { Resolution::Probe(mac) } else { Resolution::Resolved(mac) };
        }
        // Every probe went unanswered: remove the MAC address. The
        // solicitation word elects the worker that does it (and whose
        // broadcast request counts as the first of the new resolution).
        // A confirmation of the same MAC address racing with this removal
        // may be lost; the next use then resolves the address again.
        if slot
            .solicit
            .compare_exchange(s, solicit_word(now_us, 1), Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return Resolution::Resolved(mac);
        }
        match slot.mac.compare_exchange(w, 0, Ordering::AcqRel, Ordering::Relaxed) {
            Ok(_) => Resolution::Expired,
            // Confirmed or replaced meanwhile: the packet waits for the
            // held-packet pass, which finds the new address.
            Err(_) => Resolution::Pending { request: false },
        }
    }

    /// The MAC address of `ip`, if resolved (stale or not; never inserts,
    /// never ages the entry).
    #[inline]
    pub fn lookup(&self, ip: u32) -> Option<[u8; 6]> {
        let (slot, _) = self.find(ip, false)?;
        let w = slot.mac.load(Ordering::Acquire);
        (w & RESOLVED != 0).then(|| unpack(w))
    }

    /// Records that `ip` is at `mac` at packet-clock time `now_us` (an ARP
    /// packet from it): resolves an incomplete entry, confirms a known one,
    /// replaces a changed MAC address. Creates the entry only if `create`.
    /// Configured entries are left alone. Returns whether the table was
    /// updated.
    pub fn learn(&self, ip: u32, mac: [u8; 6], create: bool, now_us: u64) -> bool {
        if ip == 0 {
            return false;
        }
        let Some((slot, _)) = self.find(ip, create) else {
            return false;
        };
        if slot.mac.load(Ordering::Acquire) & STATIC != 0 {
            return false;
        }
        // Confirmation first, then the MAC word (release): a reader that
        // sees the new MAC address also sees it confirmed.
        slot.confirmed.store(now_us, Ordering::Relaxed);
        slot.solicit.store(0, Ordering::Relaxed);
        slot.mac.store(pack(mac) | RESOLVED, Ordering::Release);
        true
    }

    /// Configures `ip` at `mac` for good (before the workers start).
    /// Returns `false` if there is no room.
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
    const MAC2: [u8; 6] = [2, 0, 0, 0, 0, 8];
    const IP: u32 = 0xc633_6401;
    const S: u64 = 1_000_000;
    const TIMERS: NeighbourTimers = NeighbourTimers {
        reachable_us: 300 * S,
        retry_us: 500_000,
        probes: 3,
    };

    fn table() -> NeighbourTable {
        NeighbourTable::new(16, TIMERS)
    }

    #[test]
    fn resolve_learn_and_retry() {
        let t = NeighbourTable::new(16, NeighbourTimers { retry_us: 500, ..TIMERS });
        let ip = 0x6440_010a;
        assert_eq!(t.resolve(ip, 1_000), Resolution::Pending { request: true });
        assert_eq!(t.resolve(ip, 1_200), Resolution::Pending { request: false });
        assert_eq!(t.resolve(ip, 1_600), Resolution::Pending { request: true });
        assert_eq!(t.lookup(ip), None);
        assert!(t.learn(ip, MAC, false, 1_700));
        assert_eq!(t.resolve(ip, 2_000), Resolution::Resolved(MAC));
        assert_eq!(t.lookup(ip), Some(MAC));
        assert!(!t.learn(0x0101_0101, MAC, false, 2_000), "unknown address not created");
        assert_eq!(t.lookup(0x0101_0101), None);
    }

    #[test]
    fn reachable_then_stale_probe_answered() {
        let t = table();
        let t0 = 1_700_000_000 * S;
        assert!(t.learn(IP, MAC, true, t0));
        assert_eq!(t.resolve(IP, t0 + 300 * S - 1), Resolution::Resolved(MAC), "reachable");
        // Stale: the next use probes (unicast, old MAC still used) ...
        assert_eq!(t.resolve(IP, t0 + 300 * S), Resolution::Probe(MAC));
        // ... once per retry interval.
        assert_eq!(t.resolve(IP, t0 + 300 * S + 1), Resolution::Resolved(MAC));
        assert_eq!(t.resolve(IP, t0 + 300 * S + 499_999), Resolution::Resolved(MAC));
        // The neighbour answers: reachable again for a full period.
        assert!(t.learn(IP, MAC, false, t0 + 300 * S + 100));
        assert_eq!(t.resolve(IP, t0 + 300 * S + 600_000), Resolution::Resolved(MAC));
        assert_eq!(t.resolve(IP, t0 + 600 * S + 99), Resolution::Resolved(MAC));
        assert_eq!(t.resolve(IP, t0 + 600 * S + 100), Resolution::Probe(MAC));
    }

    #[test]
    fn unanswered_probes_remove_the_entry() {
        let t = table();
        assert!(t.learn(IP, MAC, true, 0));
        let stale = 300 * S;
        let r = |dt: u64| t.resolve(IP, stale + dt);
        assert_eq!(r(0), Resolution::Probe(MAC));
        assert_eq!(r(400_000), Resolution::Resolved(MAC));
        assert_eq!(r(500_000), Resolution::Probe(MAC));
        assert_eq!(r(1_000_000), Resolution::Probe(MAC));
        assert_eq!(r(1_200_000), Resolution::Resolved(MAC), "waiting for the third probe's answer");
        assert_eq!(r(1_500_000), Resolution::Expired, "three probes unanswered");
        assert_eq!(t.lookup(IP), None, "the MAC address is gone");
        assert!(t.entries().is_empty());
        // Now INCOMPLETE: broadcast requests once per retry interval, the
        // expiry's own request counting as the first.
        assert_eq!(r(1_600_000), Resolution::Pending { request: false });
        assert_eq!(r(2_000_000), Resolution::Pending { request: true });
        assert_eq!(r(2_100_000), Resolution::Pending { request: false });
        // A reply (from a new MAC address, e.g. after a failover) resolves it.
        assert!(t.learn(IP, MAC2, false, stale + 2_200_000));
        assert_eq!(r(2_300_000), Resolution::Resolved(MAC2));
        assert_eq!(t.lookup(IP), Some(MAC2));
    }

    #[test]
    fn new_mac_replaces_the_old_one_and_confirms() {
        let t = table();
        assert!(t.learn(IP, MAC, true, 0));
        // Gratuitous ARP / reply from another MAC while reachable: replaced.
        assert!(t.learn(IP, MAC2, false, 100 * S));
        assert_eq!(t.resolve(IP, 100 * S), Resolution::Resolved(MAC2));
        assert_eq!(t.resolve(IP, 399 * S), Resolution::Resolved(MAC2), "confirmed at 100 s");
        assert_eq!(t.resolve(IP, 400 * S), Resolution::Probe(MAC2));
        // While probing: a new MAC address ends the probing at once.
        assert!(t.learn(IP, MAC, false, 400 * S + 10));
        assert_eq!(t.resolve(IP, 400 * S + 20), Resolution::Resolved(MAC));
        assert_eq!(t.entries(), vec![(IP, MAC, false)]);
    }

    #[test]
    fn static_entries_never_age_nor_change() {
        let t = table();
        assert!(t.insert_static(5, MAC));
        assert!(!t.learn(5, MAC2, true, 0));
        assert_eq!(t.lookup(5), Some(MAC));
        for now in [0, 300 * S, 10_000 * S, u64::MAX >> SENT_BITS] {
            assert_eq!(t.resolve(5, now), Resolution::Resolved(MAC));
        }
        assert_eq!(t.entries(), vec![(5, MAC, true)]);
    }

    #[test]
    fn one_probe_per_interval_over_all_workers() {
        let t = std::sync::Arc::new(table());
        assert!(t.learn(IP, MAC, true, 0));
        let now = 300 * S;
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let t = t.clone();
                std::thread::spawn(move || (0..1000).filter(|i| t.resolve(IP, now + i % 3) == Resolution::Probe(MAC)).count())
            })
            .collect();
        let probes: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(probes, 1);
    }

    #[test]
    fn bounded() {
        let t = table();
        let full = (1..1000u32).filter(|ip| t.resolve(*ip, 0) == Resolution::Full).count();
        assert_eq!(full, 1000 - 1 - 16);
    }
}
