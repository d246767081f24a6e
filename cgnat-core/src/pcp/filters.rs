//! [`PcpFilters`]: the FILTER options of PCP MAP mappings (RFC 6887 section
//! 13.3) where the workers read them, decision 017.
//!
//! The management core (the only writer) keeps, per filtered mapping
//! (protocol, public address, public port), up to [`MAX_FILTERS`] remote
//! peer prefixes; a worker reads them only when a new inbound session
//! would be created on a PCP-held port. No lock: each slot is a sequence
//! lock of atomics — the writer makes the sequence odd, writes, makes it
//! even; a reader retries while it is odd or changed — and the table is an
//! open-addressed array allocated once.

use crate::flow::Protocol;
use crate::sync::{AtomicU32, AtomicU64, Ordering};

/// Filters one mapping may have (more: EXCESSIVE_REMOTE_PEERS, RFC 6887
/// section 13.3 "... the server MAY limit the number of remote peers").
pub const MAX_FILTERS: usize = 4;
/// Filtered mappings the table holds (about 48 bytes each); a filtered
/// MAP beyond that is answered NO_RESOURCES.
pub const CAPACITY: usize = 16_384;
/// Slots probed from a key's home slot.
const PROBES: usize = 16;
/// A slot never used.
const EMPTY: u64 = 0;
/// A slot whose mapping was removed (probing goes on past it).
const REMOVED: u64 = u64::MAX;
/// Marks a used key and a used rule.
const USED: u64 = 1 << 63;
/// Marks a rule that admits its peer without shutting others out (a PEER
/// mapping's remote, RFC 6887 section 12); without it the mapping's rules
/// are FILTER options, which admit only their peers (section 13.3).
const ADDITIVE: u64 = 1 << 62;

/// What a mapping's rules say of a remote peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerVerdict {
    /// The mapping has no rules: every peer may reach it (a MAP without
    /// FILTER).
    Unfiltered,
    /// A rule names the peer.
    Admitted,
    /// The mapping's FILTER options do not name the peer: refused.
    Refused,
    /// Only PEER remotes are named, not this one: the NAT's filtering
    /// behaviour decides.
    NotNamed,
}

/// One remote peer prefix a filtered mapping admits (RFC 6887 section
/// 13.3): an IPv4 prefix and a port (0: any port).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerFilter {
    /// The prefix's address (host order).
    pub addr: u32,
    /// The prefix length, 0 to 32.
    pub prefix_len: u8,
    /// The remote port, 0 for any.
    pub port: u16,
}

impl PeerFilter {
    fn encode(self) -> u64 {
        USED | (u64::from(self.prefix_len.min(32)) << 48) | (u64::from(self.port) << 32) | u64::from(self.addr)
    }

    fn admits_encoded(rule: u64, addr: u32, port: u16) -> bool {
        if rule & USED == 0 {
            return false;
        }
        let len = ((rule >> 48) & 0x3f) as u32;
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        let rport = (rule >> 32) as u16;
        (addr & mask) == (rule as u32 & mask) && (rport == 0 || rport == port)
    }
}

struct Slot {
    seq: AtomicU32,
    key: AtomicU64,
    rules: [AtomicU64; MAX_FILTERS],
}

/// The table of filtered mappings.
pub struct PcpFilters {
    slots: Box<[Slot]>,
    seed: u64,
}

/// Why a filter set was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterError {
    /// More than [`MAX_FILTERS`] filters.
    TooMany,
    /// The table has no room near the key's slot.
    Full,
}

fn key_of(protocol: Protocol, pool_index: u32, port: u16) -> u64 {
    USED | ((protocol as u64) << 48) | (u64::from(pool_index) << 16) | u64::from(port)
}

impl PcpFilters {
    /// An empty table keyed by `seed`.
    pub fn new(seed: u64) -> PcpFilters {
        let slots = (0..CAPACITY)
            .map(|_| Slot {
                seq: AtomicU32::new(0),
                key: AtomicU64::new(EMPTY),
                rules: Default::default(),
            })
            .collect();
        PcpFilters { slots, seed }
    }

    fn home(&self, key: u64) -> usize {
        let h = (key ^ self.seed).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (h >> 32) as usize & (CAPACITY - 1)
    }

    /// What the rules of the mapping of public (`pool_index`, `port`) say
    /// of the remote `addr`:`rport`. Called by workers.
    pub fn admits(&self, protocol: Protocol, pool_index: u32, port: u16, addr: u32, rport: u16) -> PeerVerdict {
        let key = key_of(protocol, pool_index, port);
        let home = self.home(key);
        for i in 0..PROBES {
            let s = &self.slots[(home + i) & (CAPACITY - 1)];
            // A slot being rewritten is read again (a few tries), then
            // taken as unfiltered-for-now: its writer is about to finish.
            for _ in 0..4 {
                let before = s.seq.load(Ordering::Acquire);
                if before & 1 == 1 {
                    core::hint::spin_loop();
                    continue;
                }
                let k = s.key.load(Ordering::Relaxed);
                let mut rules = [0u64; MAX_FILTERS];
                for (r, a) in rules.iter_mut().zip(&s.rules) {
                    *r = a.load(Ordering::Relaxed);
                }
                crate::sync::fence(Ordering::Acquire);
                if s.seq.load(Ordering::Relaxed) != before {
                    continue;
                }
                if k == EMPTY {
                    return PeerVerdict::Unfiltered;
                }
                if k == key {
                    if rules.iter().any(|&r| PeerFilter::admits_encoded(r, addr, rport)) {
                        return PeerVerdict::Admitted;
                    }
                    let restrictive = rules.iter().any(|&r| r & (USED | ADDITIVE) == USED);
                    return if restrictive { PeerVerdict::Refused } else { PeerVerdict::NotNamed };
                }
                break;
            }
        }
        PeerVerdict::Unfiltered
    }

    /// Sets the rules of a mapping (the management core only): FILTER
    /// options, or with `additive` the remote peers of PEER mappings; an
    /// empty set removes them.
    pub fn set(&self, protocol: Protocol, pool_index: u32, port: u16, filters: &[PeerFilter], additive: bool) -> Result<(), FilterError> {
        if filters.len() > MAX_FILTERS {
            return Err(FilterError::TooMany);
        }
        let key = key_of(protocol, pool_index, port);
        let home = self.home(key);
        let mut free = None;
        let mut found = None;
        for i in 0..PROBES {
            let at = (home + i) & (CAPACITY - 1);
            match self.slots[at].key.load(Ordering::Relaxed) {
                k if k == key => {
                    found = Some(at);
                    break;
                }
                EMPTY => {
                    free = free.or(Some(at));
                    break;
                }
                REMOVED => free = free.or(Some(at)),
                _ => {}
            }
        }
        if filters.is_empty() {
            if let Some(at) = found {
                self.write(at, REMOVED, &[], false);
            }
            return Ok(());
        }
        let at = found.or(free).ok_or(FilterError::Full)?;
        self.write(at, key, filters, additive);
        Ok(())
    }

    fn write(&self, at: usize, key: u64, filters: &[PeerFilter], additive: bool) {
        let s = &self.slots[at];
        let seq = s.seq.load(Ordering::Relaxed);
        s.seq.store(seq.wrapping_add(1), Ordering::Relaxed);
        crate::sync::fence(Ordering::Release);
        s.key.store(key, Ordering::Relaxed);
        for (i, r) in s.rules.iter().enumerate() {
            let mark = if additive { ADDITIVE } else { 0 };
            r.store(filters.get(i).map_or(0, |f| f.encode() | mark), Ordering::Relaxed);
        }
        s.seq.store(seq.wrapping_add(2), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_admit_their_prefixes_and_ports_only() {
        let t = PcpFilters::new(7);
        assert_eq!(
            t.admits(Protocol::Tcp, 3, 8080, 0xc633_6401, 1),
            PeerVerdict::Unfiltered,
            "no filters: anyone"
        );
        let f = [
            PeerFilter {
                addr: 0xc633_6400,
                prefix_len: 24,
                port: 0,
            },
            PeerFilter {
                addr: 0xc000_0250,
                prefix_len: 32,
                port: 443,
            },
        ];
        t.set(Protocol::Tcp, 3, 8080, &f, false).unwrap();
        assert_eq!(t.admits(Protocol::Tcp, 3, 8080, 0xc633_6409, 5), PeerVerdict::Admitted);
        assert_eq!(t.admits(Protocol::Tcp, 3, 8080, 0xc000_0250, 443), PeerVerdict::Admitted);
        assert_eq!(t.admits(Protocol::Tcp, 3, 8080, 0xc000_0250, 444), PeerVerdict::Refused);
        assert_eq!(t.admits(Protocol::Tcp, 3, 8080, 0x0a00_0001, 5), PeerVerdict::Refused);
        assert_eq!(
            t.admits(Protocol::Udp, 3, 8080, 0x0a00_0001, 5),
            PeerVerdict::Unfiltered,
            "another protocol's mapping"
        );
        t.set(Protocol::Tcp, 3, 8080, &[], false).unwrap();
        assert_eq!(t.admits(Protocol::Tcp, 3, 8080, 0x0a00_0001, 5), PeerVerdict::Unfiltered, "removed");
        assert_eq!(t.set(Protocol::Tcp, 3, 8080, &[f[0]; 5], false), Err(FilterError::TooMany));
        // PEER rules admit their peer and leave the others to the NAT.
        t.set(Protocol::Tcp, 3, 8080, &f[1..], true).unwrap();
        assert_eq!(t.admits(Protocol::Tcp, 3, 8080, 0xc000_0250, 443), PeerVerdict::Admitted);
        assert_eq!(t.admits(Protocol::Tcp, 3, 8080, 0x0a00_0001, 5), PeerVerdict::NotNamed);
    }

    #[test]
    fn removed_slots_are_reused_and_probing_passes_them() {
        let t = PcpFilters::new(0);
        let f = [PeerFilter {
            addr: 1,
            prefix_len: 32,
            port: 0,
        }];
        // Many keys: some share home slots and probe past each other.
        for p in 0..2000u16 {
            t.set(Protocol::Udp, 0, p, &f, false).unwrap();
        }
        for p in (0..2000u16).step_by(2) {
            t.set(Protocol::Udp, 0, p, &[], false).unwrap();
        }
        for p in 0..2000u16 {
            let want = if p % 2 == 1 {
                PeerVerdict::Admitted
            } else {
                PeerVerdict::Unfiltered
            };
            assert_eq!(t.admits(Protocol::Udp, 0, p, 1, 9), want, "port {p}");
        }
        for p in (0..2000u16).step_by(2) {
            t.set(Protocol::Udp, 0, p, &f, false).unwrap();
        }
        for p in 0..2000u16 {
            assert_eq!(t.admits(Protocol::Udp, 0, p, 2, 9), PeerVerdict::Refused);
        }
    }
}
