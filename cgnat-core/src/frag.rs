//! IPv4 fragment tracking (RFC 4787 REQ-14: "A NAT MUST support receiving
//! in-order and out-of-order fragments").
//!
//! Only a datagram's first fragment carries the transport ports. When it is
//! translated, [`FragmentTracker`] remembers the datagram (source,
//! destination, protocol, identification) and the addresses it was
//! rewritten to; later fragments are rewritten from that record. A
//! non-first fragment that arrives before its first one is held by the data
//! plane in a [`FragmentStash`] and replayed once the first fragment has
//! been translated. Both structures are per worker, fixed-size and
//! allocation-free after construction, so the data plane should steer a
//! datagram's fragments to one worker (RSS on IP addresses only, which is
//! the RSS the data plane configures).

use crate::flow::Side;
use crate::time::Instant;

/// Identifies a datagram as received (RFC 791: source, destination,
/// protocol and identification).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct FragmentKey {
    /// Source address as received.
    pub src: u32,
    /// Destination address as received.
    pub dst: u32,
    /// IPv4 protocol.
    pub protocol: u8,
    /// IPv4 identification.
    pub ident: u16,
    /// Received from the inside (true) or outside.
    pub from_inside: bool,
}

/// How the datagram's fragments are to be rewritten.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct FragmentRewrite {
    /// New source address.
    pub src: u32,
    /// New destination address.
    pub dst: u32,
    /// Where the fragments go.
    pub side: Side,
}

#[derive(Copy, Clone, Debug)]
struct Entry {
    key: FragmentKey,
    rewrite: FragmentRewrite,
    expires: Instant,
}

/// A bounded table of datagrams whose first fragment was translated.
pub struct FragmentTracker {
    entries: Box<[Option<Entry>]>,
    timeout_secs: u64,
}

const PROBE: usize = 8;

fn slot_of(key: &FragmentKey, n: usize) -> usize {
    let h = (key.src as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
        ^ (key.dst as u64).rotate_left(29).wrapping_mul(0xBF58_476D_1CE4_E5B9)
        ^ ((key.ident as u64) << 8 | key.protocol as u64).wrapping_mul(0x94D0_49BB_1331_11EB);
    crate::table::hash::reduce(h ^ (h >> 29), n)
}

impl FragmentTracker {
    /// Room for `capacity` datagrams, each remembered for `timeout_secs`.
    pub fn new(capacity: usize, timeout_secs: u32) -> Self {
        FragmentTracker {
            entries: vec![None; capacity.max(PROBE)].into_boxed_slice(),
            timeout_secs: timeout_secs as u64,
        }
    }

    /// Remembers a translated first fragment. Returns `false` if every
    /// nearby slot holds a live datagram (the cache is full there).
    pub fn record(&mut self, key: FragmentKey, rewrite: FragmentRewrite, now: Instant) -> bool {
        let n = self.entries.len();
        let home = slot_of(&key, n);
        let mut free = None;
        for k in 0..PROBE {
            let i = (home + k) % n;
            match &self.entries[i] {
                Some(e) if e.key == key => {
                    free = Some(i);
                    break;
                }
                Some(e) if e.expires > now => {}
                _ => {
                    if free.is_none() {
                        free = Some(i);
                    }
                }
            }
        }
        match free {
            Some(i) => {
                self.entries[i] = Some(Entry {
                    key,
                    rewrite,
                    expires: now.plus_secs(self.timeout_secs),
                });
                true
            }
            None => false,
        }
    }

    /// The rewrite for a later fragment of a known datagram.
    pub fn lookup(&self, key: &FragmentKey, now: Instant) -> Option<FragmentRewrite> {
        let n = self.entries.len();
        let home = slot_of(key, n);
        for k in 0..PROBE {
            if let Some(e) = &self.entries[(home + k) % n] {
                if e.key == *key && e.expires > now {
                    return Some(e.rewrite);
                }
            }
        }
        None
    }
}

/// A bounded holding area for out-of-order fragments, generic over what the
/// data plane holds (an mbuf). Fixed capacity, no allocation after `new`.
pub struct FragmentStash<T> {
    items: Vec<Option<(FragmentKey, Instant, T)>>,
    held: usize,
    timeout_secs: u64,
}

impl<T> FragmentStash<T> {
    /// Room for `capacity` fragments, each held at most `timeout_secs`.
    pub fn new(capacity: usize, timeout_secs: u32) -> Self {
        FragmentStash {
            items: (0..capacity).map(|_| None).collect(),
            held: 0,
            timeout_secs: timeout_secs as u64,
        }
    }

    /// Holds `item` for datagram `key`; gives it back if the stash is full.
    pub fn hold(&mut self, key: FragmentKey, item: T, now: Instant) -> Result<(), T> {
        match self.items.iter_mut().find(|s| s.is_none()) {
            Some(slot) => {
                *slot = Some((key, now.plus_secs(self.timeout_secs), item));
                self.held += 1;
                Ok(())
            }
            None => Err(item),
        }
    }

    /// Hands every held fragment of `key` to `f` (to be processed again).
    pub fn release(&mut self, key: &FragmentKey, mut f: impl FnMut(T)) {
        if self.held == 0 {
            return;
        }
        for slot in self.items.iter_mut() {
            if matches!(slot, Some((k, _, _)) if k == key) {
                if let Some((_, _, item)) = slot.take() {
                    self.held -= 1;
                    f(item);
                }
            }
        }
    }

    /// Hands every fragment held past its timeout to `f` (to be dropped).
    pub fn expire(&mut self, now: Instant, mut f: impl FnMut(T)) {
        if self.held == 0 {
            return;
        }
        for slot in self.items.iter_mut() {
            if matches!(slot, Some((_, exp, _)) if *exp <= now) {
                if let Some((_, _, item)) = slot.take() {
                    self.held -= 1;
                    f(item);
                }
            }
        }
    }

    /// Fragments currently held.
    pub fn len(&self) -> usize {
        self.held
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.held == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(ident: u16) -> FragmentKey {
        FragmentKey {
            src: 0x6440_0001,
            dst: 0x0808_0808,
            protocol: 17,
            ident,
            from_inside: true,
        }
    }

    #[test]
    fn records_expire() {
        let mut t = FragmentTracker::new(16, 2);
        let rw = FragmentRewrite {
            src: 1,
            dst: 2,
            side: Side::Outside,
        };
        assert!(t.record(key(1), rw, Instant::from_secs(10)));
        assert_eq!(t.lookup(&key(1), Instant::from_secs(11)), Some(rw));
        assert_eq!(t.lookup(&key(2), Instant::from_secs(11)), None);
        assert_eq!(t.lookup(&key(1), Instant::from_secs(12)), None);
    }

    #[test]
    fn bounded_when_full_of_live_entries() {
        let mut t = FragmentTracker::new(8, 60);
        let rw = FragmentRewrite {
            src: 1,
            dst: 2,
            side: Side::Outside,
        };
        let now = Instant::from_secs(1);
        let ok = (0..100).filter(|i| t.record(key(*i), rw, now)).count();
        assert_eq!(ok, 8);
    }

    #[test]
    fn stash_holds_releases_and_expires() {
        let mut s = FragmentStash::new(2, 2);
        let now = Instant::from_secs(5);
        s.hold(key(1), "a", now).unwrap();
        s.hold(key(2), "b", now).unwrap();
        assert_eq!(s.hold(key(3), "c", now), Err("c"));
        let mut got = vec![];
        s.release(&key(1), |x| got.push(x));
        assert_eq!(got, vec!["a"]);
        s.expire(Instant::from_secs(7), |x| got.push(x));
        assert_eq!(got, vec!["a", "b"]);
        assert!(s.is_empty());
    }
}
