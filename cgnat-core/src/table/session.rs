//! The session table: one entry per 5-tuple flow.
//!
//! A slot is 24 bytes:
//!
//! ```text
//! ctrl  : state:2 | version:14 | fingerprint:14 | protocol:2 | inside port:16 | remote port:16
//! addrs : inside address:32 | remote address:32
//! value : pool index:16 | dying:1 | inbound:1 | tcp:6 | seen in:1 | two-way:1 | pending:1
//!         | last seen (s, mod 2^21):21 | public port:16
//! ```
//!
//! `seen in`: an inbound packet was seen; `two-way`: an outbound packet
//! came after an inbound one (the inside host showed it can receive);
//! `pending`: the session's port block was allocated but its log record is
//! not yet durable, so its packets wait (the NAT log rule).
//!
//! The control word's 48-bit tag holds the ports and protocol of the key
//! plus a 14-bit fingerprint of the hash, so a tag match leaves only the
//! address word to compare. The key never changes while a slot is live;
//! `value` is updated by workers with a compare-and-swap, so a refresh
//! never overwrites the sweeper's `DYING` mark.

use crate::flow::{Protocol, SessionKey};
use crate::mem::{prefault, table, Table};
use crate::sync::{AtomicU32, AtomicU64, Ordering};

use super::hash::KeyedHash;
use super::probe::{self, Claim, Found, Layout, Slot, LIVE};

const T: u32 = 48;
type L = Layout<T>;

/// One session slot.
#[repr(C)]
pub(crate) struct SessionSlot {
    ctrl: AtomicU64,
    addrs: AtomicU64,
    value: AtomicU64,
}

impl Slot for SessionSlot {
    #[inline(always)]
    fn ctrl(&self) -> &AtomicU64 {
        &self.ctrl
    }
}

/// Tag bits holding the remote port (left out of address-dependent matches).
const REMOTE_PORT_MASK: u64 = 0xFFFF;
/// Tag bits holding the fingerprint.
const FP_SHIFT: u32 = 34;

/// Seconds are kept modulo 2^21 (24 days), far beyond any timeout (at most
/// 7 days, `nat.timeouts.tcp_established`) plus a sweep.
pub const SECONDS_MASK: u32 = (1 << 21) - 1;

/// The mutable part of a session, packed in one word.
#[derive(Copy, Clone, PartialEq, Eq, Hash)]
pub struct SessionValue(pub u64);

impl SessionValue {
    /// Set by the sweeper when it decided the session expired.
    pub const DYING: u64 = 1 << 47;
    /// The session was created by an inbound packet (EIF/ADF filtering) and
    /// counts against the inbound budget (`nat.inbound`).
    pub const INBOUND: u64 = 1 << 46;
    /// An inbound packet was seen on the session.
    pub const SEEN_IN: u64 = 1 << 39;
    /// An outbound packet followed an inbound one: traffic both ways.
    pub const TWO_WAY: u64 = 1 << 38;
    /// The port's block awaits its durable log record: hold the packets.
    pub const PENDING: u64 = 1 << 37;
    const FLAGS: u64 = Self::DYING | Self::INBOUND | Self::SEEN_IN | Self::TWO_WAY | Self::PENDING;
    const TCP_SHIFT: u32 = 40;
    const SEEN_SHIFT: u32 = 16;
    const POOL_SHIFT: u32 = 48;

    /// A fresh value (the pool index is added by the table on insert).
    #[inline]
    pub fn new(public_port: u16, now_secs: u32, tcp: u8, flags: u64) -> Self {
        SessionValue(
            (flags & Self::FLAGS)
                | (((tcp & 0x3F) as u64) << Self::TCP_SHIFT)
                | (((now_secs & SECONDS_MASK) as u64) << Self::SEEN_SHIFT)
                | public_port as u64,
        )
    }

    /// The public port (or ICMP identifier) of the flow.
    #[inline(always)]
    pub fn public_port(self) -> u16 {
        self.0 as u16
    }

    /// Packet-clock second of the last refresh, modulo 2^21.
    #[inline(always)]
    pub fn last_seen(self) -> u32 {
        (self.0 >> Self::SEEN_SHIFT) as u32 & SECONDS_MASK
    }

    /// Seconds idle at `now_secs` (modulo arithmetic on the 21-bit clock).
    /// A refresh stamped after `now_secs` (a worker read its clock after
    /// the sweeper read its own, across a second boundary) is idle 0, not
    /// 24 days: no timeout reaches half the clock's range.
    #[inline(always)]
    pub fn idle(self, now_secs: u32) -> u32 {
        let idle = now_secs.wrapping_sub(self.last_seen()) & SECONDS_MASK;
        if idle > SECONDS_MASK / 2 {
            0
        } else {
            idle
        }
    }

    /// TCP tracking bits (see `crate::tcp_state`).
    #[inline(always)]
    pub fn tcp(self) -> u8 {
        (self.0 >> Self::TCP_SHIFT) as u8 & 0x3F
    }

    /// Index of the subscriber's public address in the pool.
    #[inline(always)]
    pub fn pool_index(self) -> u32 {
        (self.0 >> Self::POOL_SHIFT) as u32
    }

    /// Whether the sweeper is removing it.
    #[inline(always)]
    pub fn dying(self) -> bool {
        self.0 & Self::DYING != 0
    }

    /// Whether an inbound packet created it.
    #[inline(always)]
    pub fn inbound(self) -> bool {
        self.0 & Self::INBOUND != 0
    }

    /// Whether any of the `flags` bits is set.
    #[inline(always)]
    pub fn has(self, flags: u64) -> bool {
        self.0 & flags != 0
    }

    /// Whether traffic has been seen in both directions: an inbound packet
    /// on a session the inside host opened, or an outbound packet on one
    /// an inbound packet opened (RFC 7857 section 3 / RFC 5382 section 5:
    /// what a mid-stream pickup must show before it gets the long timer).
    #[inline(always)]
    pub fn two_way(self) -> bool {
        self.0 & Self::TWO_WAY != 0 || (self.0 & Self::SEEN_IN != 0 && self.0 & Self::INBOUND == 0)
    }

    /// The same value with `flags` set and cleared.
    #[inline(always)]
    pub fn with_flags(self, set: u64, clear: u64) -> Self {
        SessionValue((self.0 | (set & Self::FLAGS)) & !(clear & Self::FLAGS))
    }

    /// The same value with a new last-seen time and TCP bits.
    #[inline(always)]
    pub fn refreshed(self, now_secs: u32, tcp: u8) -> Self {
        let keep = self.0 & !((0x3F << Self::TCP_SHIFT) | ((SECONDS_MASK as u64) << Self::SEEN_SHIFT));
        SessionValue(keep | (((tcp & 0x3F) as u64) << Self::TCP_SHIFT) | (((now_secs & SECONDS_MASK) as u64) << Self::SEEN_SHIFT))
    }

    #[inline(always)]
    fn with_pool(self, pool_index: u32) -> Self {
        SessionValue((self.0 & !(0xFFFF << Self::POOL_SHIFT)) | ((pool_index as u64 & 0xFFFF) << Self::POOL_SHIFT))
    }
}

impl core::fmt::Debug for SessionValue {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SessionValue")
            .field("pool_index", &self.pool_index())
            .field("public_port", &self.public_port())
            .field("last_seen", &self.last_seen())
            .field("tcp", &self.tcp())
            .field("dying", &self.dying())
            .field("inbound", &self.inbound())
            .field("seen_in", &self.has(Self::SEEN_IN))
            .field("two_way", &self.has(Self::TWO_WAY))
            .field("pending", &self.has(Self::PENDING))
            .finish()
    }
}

/// A live session as read from the table.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct SessionRef {
    /// Slot index (stable while the session lives).
    pub index: u32,
    /// Index of the subscriber's public address in the pool.
    pub pool_index: u32,
    /// The value word when read.
    pub value: SessionValue,
}

/// A session as seen by an iterating reader (the sweeper or the CLI).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct SessionEntry {
    /// Slot index.
    pub index: u32,
    /// The flow.
    pub key: SessionKey,
    /// Index of the public address in the pool.
    pub pool_index: u32,
    /// The value word.
    pub value: SessionValue,
    ctrl: u64,
}

/// The outcome of [`SessionTable::insert`].
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum SessionInsert {
    /// Created at this slot.
    Inserted(SessionRef),
    /// Another worker created it first; use it.
    Exists(SessionRef),
    /// Another worker is creating it right now.
    Race,
    /// The table is at `max_sessions` or the probe limit was reached.
    Full,
}

/// The session table.
pub struct SessionTable {
    slots: Table<SessionSlot>,
    hash: KeyedHash,
    /// With address-dependent filtering the remote port is left out of the
    /// hash, so every session of (inside endpoint, remote address) shares one
    /// probe chain and the filter check is one walk.
    hash_remote_port: bool,
    live: AtomicU32,
    max: u32,
}

#[inline(always)]
fn pack(key: &SessionKey) -> (u64, u64) {
    let addrs = ((key.inside_addr as u64) << 32) | key.remote_addr as u64;
    let ports = ((key.protocol as u64 & 3) << 32) | ((key.inside_port as u64) << 16) | key.remote_port as u64;
    (addrs, ports)
}

impl SessionTable {
    /// A table for at most `max_sessions` sessions (slots: 5/4 of that, so
    /// the load stays at or below 80%).
    pub fn new(max_sessions: u32, seed: u64, hash_remote_port: bool) -> Self {
        let n = (max_sessions as usize * 5 / 4).max(16);
        // SAFETY: a slot of zeroed atomics is an EMPTY slot.
        let slots = unsafe {
            table(n, || SessionSlot {
                ctrl: AtomicU64::new(0),
                addrs: AtomicU64::new(0),
                value: AtomicU64::new(0),
            })
        };
        prefault(&slots, |s| s.ctrl.store(0, Ordering::Relaxed));
        SessionTable {
            slots,
            hash: KeyedHash::new(seed ^ 0x5e55_1011),
            hash_remote_port,
            live: AtomicU32::new(0),
            max: max_sessions,
        }
    }

    /// The keyed hash of a packed key.
    #[inline(always)]
    fn hash_packed(&self, addrs: u64, ports: u64) -> u64 {
        let hp = if self.hash_remote_port { ports } else { ports & !REMOTE_PORT_MASK };
        self.hash.hash2(addrs, hp)
    }

    /// Home slot and tag of a packed key whose hash is `h`.
    #[inline(always)]
    fn locate_hashed(&self, h: u64, ports: u64) -> (usize, u64) {
        let fp = (h & 0x3FFF) << FP_SHIFT;
        (probe::home(h, self.slots.len()), fp | ports)
    }

    /// Home slot and tag of a key.
    #[inline(always)]
    fn locate(&self, addrs: u64, ports: u64) -> (usize, u64) {
        self.locate_hashed(self.hash_packed(addrs, ports), ports)
    }

    /// The hash of a key, for [`SessionTable::find_hashed`] and
    /// [`SessionTable::prefetch_hash`]: computed once per packet and
    /// carried from the prefetch stage to the lookup.
    #[inline(always)]
    pub fn hash_of(&self, key: &SessionKey) -> u64 {
        let (a, p) = pack(key);
        self.hash_packed(a, p)
    }

    /// Hints the CPU to fetch the home slot of the key hashing to `h`.
    #[inline(always)]
    pub fn prefetch_hash(&self, h: u64) {
        let home = probe::home(h, self.slots.len());
        // The home slot and the next one (a chain often goes on into it:
        // linear probing at up to 80% load) are at most two cache lines;
        // past the table's last slot the second line is a harmless hint.
        crate::mem::prefetch_span(&self.slots[home], 2 * core::mem::size_of::<SessionSlot>());
    }

    /// The slot a key's probe chain starts at.
    #[inline(always)]
    pub fn home_of(&self, key: &SessionKey) -> usize {
        probe::home(self.hash_of(key), self.slots.len())
    }

    /// Looks a session up.
    #[inline(always)]
    pub fn find(&self, key: &SessionKey) -> Option<SessionRef> {
        match self.find_inner(key) {
            Found::Live { value, .. } => Some(value),
            _ => None,
        }
    }

    /// Looks a session up, given its key's hash `h` (from
    /// [`SessionTable::hash_of`] for this very key).
    #[inline(always)]
    pub fn find_hashed(&self, key: &SessionKey, h: u64) -> Option<SessionRef> {
        let (addrs, ports) = pack(key);
        match self.find_located(addrs, self.locate_hashed(h, ports)) {
            Found::Live { value, .. } => Some(value),
            _ => None,
        }
    }

    #[inline(always)]
    fn find_inner(&self, key: &SessionKey) -> Found<SessionRef> {
        let (addrs, ports) = pack(key);
        self.find_located(addrs, self.locate(addrs, ports))
    }

    #[inline(always)]
    fn find_located(&self, addrs: u64, (home, tag): (usize, u64)) -> Found<SessionRef> {
        match probe::find::<_, _, T>(&self.slots, home, tag, |s| {
            if s.addrs.load(Ordering::Relaxed) != addrs {
                return None;
            }
            Some(SessionValue(s.value.load(Ordering::Relaxed)))
        }) {
            Found::Live { index, value } => Found::Live {
                index,
                value: SessionRef {
                    index: index as u32,
                    pool_index: value.pool_index(),
                    value,
                },
            },
            Found::Busy => Found::Busy,
            Found::Absent => Found::Absent,
        }
    }

    /// Creates a session (the caller found none).
    pub fn insert(&self, key: &SessionKey, pool_index: u32, value: SessionValue) -> SessionInsert {
        if self.live.fetch_add(1, Ordering::Relaxed) >= self.max {
            self.live.fetch_sub(1, Ordering::Relaxed);
            return match self.find_inner(key) {
                Found::Live { value, .. } => SessionInsert::Exists(value),
                Found::Busy => SessionInsert::Race,
                Found::Absent => SessionInsert::Full,
            };
        }
        let value = value.with_pool(pool_index);
        let (addrs, ports) = pack(key);
        let (home, tag) = self.locate(addrs, ports);
        let claim = probe::claim::<_, T>(&self.slots, home, tag, |s| s.addrs.load(Ordering::Relaxed) == addrs);
        match claim {
            Claim::Claimed { index, ctrl } => {
                let s = &self.slots[index];
                s.addrs.store(addrs, Ordering::Relaxed);
                s.value.store(value.0, Ordering::Relaxed);
                probe::publish::<_, T>(s, ctrl);
                SessionInsert::Inserted(SessionRef {
                    index: index as u32,
                    pool_index,
                    value,
                })
            }
            other => {
                self.live.fetch_sub(1, Ordering::Relaxed);
                match other {
                    Claim::Exists { index } => match self.entry(index as u32) {
                        Some(e) if e.key == *key => SessionInsert::Exists(SessionRef {
                            index: e.index,
                            pool_index: e.pool_index,
                            value: e.value,
                        }),
                        _ => SessionInsert::Race,
                    },
                    Claim::Race => SessionInsert::Race,
                    _ => SessionInsert::Full,
                }
            }
        }
    }

    /// Replaces a session's value if it is still `old` (a refresh or TCP
    /// state change). Fails if the sweeper marked it dying meanwhile.
    #[inline]
    pub fn update(&self, index: u32, old: SessionValue, new: SessionValue) -> bool {
        if old.dying() {
            return false;
        }
        self.slots[index as usize]
            .value
            .compare_exchange(old.0, new.0, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// The current value of a slot (for retrying an update).
    #[inline]
    pub fn value_at(&self, index: u32) -> SessionValue {
        SessionValue(self.slots[index as usize].value.load(Ordering::Acquire))
    }

    /// Address-dependent filtering (RFC 4787 REQ-8): whether any live
    /// session links the inside endpoint of `key` to its remote address, on
    /// any remote port. Needs a table built with `hash_remote_port = false`.
    pub fn any_to_remote_addr(&self, key: &SessionKey) -> bool {
        debug_assert!(!self.hash_remote_port);
        let (addrs, ports) = pack(key);
        let (home, tag) = self.locate(addrs, ports);
        let want = tag & !REMOTE_PORT_MASK;
        let n = self.slots.len();
        let mut i = home;
        for _ in 0..probe::MAX_PROBE.min(n) {
            let s = &self.slots[i];
            let (st, w) = probe::ctrl_of::<_, T>(s);
            if st == probe::EMPTY {
                return false;
            }
            if st == LIVE && L::tag(w) & !REMOTE_PORT_MASK == want {
                let a = s.addrs.load(Ordering::Relaxed);
                let v = SessionValue(s.value.load(Ordering::Relaxed));
                if a == addrs && !v.dying() && probe::unchanged(s, w) {
                    return true;
                }
            }
            i = if i + 1 == n { 0 } else { i + 1 };
        }
        false
    }

    /// Reads slot `index` if it holds a live session.
    pub fn entry(&self, index: u32) -> Option<SessionEntry> {
        let s = self.slots.get(index as usize)?;
        let (st, w) = probe::ctrl_of::<_, T>(s);
        if st != LIVE {
            return None;
        }
        let a = s.addrs.load(Ordering::Relaxed);
        let v = SessionValue(s.value.load(Ordering::Relaxed));
        if !probe::unchanged(s, w) {
            return None;
        }
        let tag = L::tag(w);
        Some(SessionEntry {
            index,
            key: SessionKey {
                protocol: Protocol::from_code((tag >> 32) as u8 & 3)?,
                inside_addr: (a >> 32) as u32,
                inside_port: (tag >> 16) as u16,
                remote_addr: a as u32,
                remote_port: tag as u16,
            },
            pool_index: v.pool_index(),
            value: v,
            ctrl: w,
        })
    }

    /// Sweeper: marks a session dying if its value is still the one read.
    /// Afterwards no worker refreshes it.
    pub fn mark_dying(&self, e: &SessionEntry) -> bool {
        self.slots[e.index as usize]
            .value
            .compare_exchange(e.value.0, e.value.0 | SessionValue::DYING, Ordering::AcqRel, Ordering::Relaxed)
            .is_ok()
    }

    /// Sweeper: deletes a session previously marked dying.
    pub fn remove(&self, e: &SessionEntry) -> bool {
        let ok = probe::remove::<_, T>(&self.slots[e.index as usize], e.ctrl);
        if ok {
            self.live.fetch_sub(1, Ordering::Relaxed);
        }
        ok
    }

    /// Sweeper: clears tombstones at the end of chains in `start..start+count`.
    pub fn clean(&self, start: usize, count: usize) -> usize {
        probe::clean_tombstones::<_, T>(&self.slots, start, count)
    }

    /// Number of slots.
    pub fn slots(&self) -> usize {
        self.slots.len()
    }

    /// Live sessions.
    pub fn len(&self) -> u32 {
        self.live.load(Ordering::Relaxed)
    }

    /// Whether no session is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The configured maximum.
    pub fn capacity(&self) -> u32 {
        self.max
    }

    /// Bytes of memory the table holds.
    pub fn memory_bytes(&self) -> usize {
        self.slots.len() * core::mem::size_of::<SessionSlot>()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn key(i: u32) -> SessionKey {
        SessionKey {
            protocol: Protocol::Udp,
            inside_addr: 0x6440_0000 | (i >> 8),
            inside_port: 1000 + (i & 0xFF) as u16,
            remote_addr: 0x0808_0808,
            remote_port: 53,
        }
    }

    #[test]
    fn slot_is_24_bytes() {
        assert_eq!(core::mem::size_of::<SessionSlot>(), 24);
    }

    #[test]
    fn insert_find_remove_reinsert() {
        let t = SessionTable::new(1000, 7, true);
        for i in 0..1000 {
            let r = t.insert(&key(i), i % 5, SessionValue::new(i as u16, 10, 0, 0));
            assert!(matches!(r, SessionInsert::Inserted(_)), "{i}: {r:?}");
        }
        assert_eq!(t.len(), 1000);
        assert_eq!(t.insert(&key(5000), 0, SessionValue::new(1, 1, 0, 0)), SessionInsert::Full);
        for i in 0..1000 {
            let r = t.find(&key(i)).expect("found");
            assert_eq!(r.value.public_port(), i as u16);
            assert_eq!(r.pool_index, i % 5);
            assert_eq!(t.entry(r.index).unwrap().key, key(i));
        }
        assert!(matches!(
            t.insert(&key(3), 0, SessionValue::new(9, 1, 0, 0)),
            SessionInsert::Exists(_)
        ));
        // Expire the even ones.
        for i in (0..1000).step_by(2) {
            let r = t.find(&key(i)).unwrap();
            let e = t.entry(r.index).unwrap();
            assert!(t.mark_dying(&e));
            let e = t.entry(r.index).unwrap();
            assert!(t.remove(&e));
        }
        assert_eq!(t.len(), 500);
        for i in 0..1000 {
            assert_eq!(t.find(&key(i)).is_some(), i % 2 == 1, "{i}");
        }
        t.clean(0, t.slots());
        for i in 0..1000 {
            assert_eq!(t.find(&key(i)).is_some(), i % 2 == 1, "{i} after clean");
        }
        for i in (0..1000).step_by(2) {
            assert!(matches!(
                t.insert(&key(i), 0, SessionValue::new(1, 1, 0, 0)),
                SessionInsert::Inserted(_)
            ));
        }
        assert_eq!(t.len(), 1000);
    }

    #[test]
    fn dying_sessions_refuse_refresh() {
        let t = SessionTable::new(10, 1, true);
        let SessionInsert::Inserted(r) = t.insert(&key(1), 0, SessionValue::new(7, 5, 0, 0)) else {
            panic!()
        };
        assert!(t.update(r.index, r.value, r.value.refreshed(6, 0)));
        let e = t.entry(r.index).unwrap();
        assert!(t.mark_dying(&e));
        let v = t.value_at(r.index);
        assert!(v.dying());
        assert!(!t.update(r.index, v, v.refreshed(7, 0)));
    }

    #[test]
    fn rfc4787_req8_address_dependent_filter_lookup() {
        let t = SessionTable::new(100, 3, false);
        let k = key(1);
        t.insert(&k, 0, SessionValue::new(7, 5, 0, 0));
        let mut other_port = k;
        other_port.remote_port = 9999;
        assert!(t.any_to_remote_addr(&other_port));
        let mut other_addr = k;
        other_addr.remote_addr = 0x0101_0101;
        assert!(!t.any_to_remote_addr(&other_addr));
    }
}

#[cfg(all(test, not(loom)))]
mod churn {
    use super::*;
    use crate::table::hash::splitmix64;

    /// Steady churn at the maximum load: 20 table-fulls of inserts, each
    /// followed by deleting a random live session, with tombstone cleanup as
    /// the sweeper does it. No insert may fail short of the limit, and the
    /// longest chain must stay far below the probe bound.
    #[test]
    fn churn_at_full_load_never_fails_and_keeps_chains_short() {
        let max = 50_000u32;
        let t = SessionTable::new(max, 99, true);
        let mut rng = 1u64;
        let mut live: Vec<SessionKey> = Vec::new();
        let mk = |r: u64| SessionKey {
            protocol: Protocol::Tcp,
            inside_addr: 0x6440_0000 | (r as u32 & 0x3F_FFFF),
            inside_port: (r >> 22) as u16,
            remote_addr: (r >> 38) as u32,
            remote_port: 443,
        };
        for round in 0..(max as usize * 20) {
            let k = mk(splitmix64(&mut rng));
            if live.len() as u32 == max {
                let victim = (splitmix64(&mut rng) % live.len() as u64) as usize;
                let v = live.swap_remove(victim);
                let r = t.find(&v).expect("live key found");
                let e = t.entry(r.index).unwrap();
                assert!(t.mark_dying(&e));
                assert!(t.remove(&t.entry(r.index).unwrap()));
            }
            match t.insert(&k, 0, SessionValue::new(1, 1, 0, 0)) {
                SessionInsert::Inserted(_) => live.push(k),
                SessionInsert::Exists(_) => {}
                other => panic!("round {round}: {other:?} with {} live", live.len()),
            }
            if round % 4096 == 0 {
                t.clean(round % t.slots(), 8192);
            }
        }
        // Longest probe distance of a live key.
        let n = t.slots();
        let mut worst = 0;
        for k in &live {
            let r = t.find(k).unwrap();
            let home = t.home_of(k);
            worst = worst.max((r.index as usize + n - home) % n);
        }
        eprintln!("longest chain after churn: {worst} slots");
        assert!(worst < probe::MAX_PROBE / 2, "longest chain {worst}");
    }
}
