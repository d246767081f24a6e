//! Counters for every verdict and drop reason.
//!
//! Each worker owns one [`Counters`]; only that worker writes it (a relaxed
//! load and store, no read-modify-write, no lock), and the management core
//! reads it at any time for `cgnatctl stats` and the metrics endpoint.

use std::sync::atomic::{AtomicU64, Ordering};

/// Declares a counter enum: `#[repr(u8)]` variants (one byte: `Option<DropReason>` and verdicts stay small) with a snake_case
/// name each, plus `ALL`, `COUNT` and `name()`. Used for the NAT's counters
/// here and for the data plane's in `cgnat-dpdk`, which store their values
/// in a [`CounterArray`] indexed by the variant.
#[macro_export]
macro_rules! named_counters {
    ($(#[$m:meta])* pub enum $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal,)* }) => {
        $(#[$m])*
        #[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum $name { $($(#[$vm])* $v,)* }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$v,)*];
            /// Number of variants.
            pub const COUNT: usize = Self::ALL.len();
            /// The snake_case name used in `cgnatctl stats` and metrics labels.
            pub fn name(self) -> &'static str {
                match self { $($name::$v => $s,)* }
            }
        }
    };
}

named_counters! {
    /// Why a packet was dropped.
    pub enum DropReason {
        /// Not a well-formed IPv4 packet (or its L4 header is truncated).
        Malformed = "malformed",
        /// IPv4 header checksum wrong (RFC 1812 section 5.2.2).
        BadChecksum = "bad_checksum",
        /// TTL would reach 0 (RFC 1812 section 5.3.1); a time-exceeded error may be sent.
        TtlExpired = "ttl_expired",
        /// Source on the inside port is not a subscriber address.
        SpoofedSource = "spoofed_source",
        /// Packet on the outside port not addressed to the pool.
        NotForPool = "not_for_pool",
        /// Shared address space (or a pool address) where it must not appear:
        /// from the internet with a subscriber or pool source, or from a
        /// subscriber to another subscriber's private address (RFC 6598
        /// section 7: such packets must not cross the provider boundary).
        Martian = "martian",
        /// IPv4 protocol other than TCP, UDP, ICMP.
        UnsupportedProtocol = "unsupported_protocol",
        /// ICMP type the NAT does not translate (RFC 5508 section 3).
        UnsupportedIcmp = "unsupported_icmp",
        /// Inbound packet for a public address:port with no mapping.
        NoMapping = "no_mapping",
        /// Inbound packet refused by the filtering behaviour (RFC 4787 REQ-8).
        Filtered = "filtered",
        /// Subscriber at its session limit (RFC 6888 REQ-5).
        SessionLimit = "session_limit",
        /// Subscriber at its block limit with every port in use (RFC 6888 REQ-4).
        BlockLimit = "block_limit",
        /// The subscriber's public address has no free block.
        PoolExhausted = "pool_exhausted",
        /// The subscriber table is full.
        SubscriberTableFull = "subscriber_table_full",
        /// The session table is full (or the probe limit was reached).
        SessionTableFull = "session_table_full",
        /// The mapping table is full (or the probe limit was reached).
        MappingTableFull = "mapping_table_full",
        /// A block was needed but the NAT log queue refused its record.
        LogStalled = "log_stalled",
        /// DF set and larger than the egress MTU (RFC 4787 REQ-13); frag-needed may be sent.
        FragmentationNeeded = "fragmentation_needed",
        /// The fragment-tracking cache is full.
        FragmentCacheFull = "fragment_cache_full",
        /// The source holds its share of the fragment caches
        /// (`nat.fragments.max_per_source`).
        FragmentSourceLimit = "fragment_source_limit",
        /// A non-first fragment whose first fragment never came (or no room to hold it).
        FragmentOrphan = "fragment_orphan",
        /// A first fragment too short to hold the transport ports (RFC 1858).
        TinyFragment = "tiny_fragment",
        /// Two workers created the same flow at the same instant; the loser drops.
        SessionRace = "session_race",
        /// An ICMP error whose embedded packet matches no mapping (RFC 5508 REQ-4... section 4.2).
        IcmpErrorNoMapping = "icmp_error_no_mapping",
        /// ICMP error about an ICMP error, or otherwise not to be translated (RFC 5508).
        IcmpErrorRefused = "icmp_error_refused",
        /// A new subscriber refused by the admission limits (`nat.admission`).
        AdmissionLimited = "admission_limited",
        /// A further block refused by the admission limits (`nat.admission`).
        BlockAdmissionLimited = "block_admission_limited",
        /// An unconfirmed subscriber at its tighter caps, or unconfirmed
        /// subscribers at their share of the table (`nat.unconfirmed`).
        UnconfirmedLimit = "unconfirmed_limit",
        /// Inbound-created sessions at their budget (`nat.inbound`), per
        /// subscriber or per mapping.
        InboundSessionLimit = "inbound_session_limit",
        /// The session or mapping table is under pressure and the subscriber
        /// holds its fair share (`nat.fairness`).
        FairShare = "fair_share",
    }
}

named_counters! {
    /// Things that happened to packets and state, other than drops.
    pub enum Counter {
        /// Packets received on the inside port.
        RxInside = "rx_inside",
        /// Packets received on the outside port.
        RxOutside = "rx_outside",
        /// Inside→outside packets translated.
        TranslatedOut = "translated_out",
        /// Outside→inside packets translated.
        TranslatedIn = "translated_in",
        /// Subscriber→subscriber packets hairpinned (RFC 4787 REQ-9).
        Hairpinned = "hairpinned",
        /// Packets routed untranslated to a bypass prefix (RFC 6888 REQ-6).
        Bypassed = "bypassed",
        /// Packets addressed to the appliance itself.
        Local = "local",
        /// ICMP errors whose embedded packet was translated (RFC 5508).
        IcmpErrorsTranslated = "icmp_errors_translated",
        /// Non-first fragments translated via the fragment cache (RFC 4787 REQ-14).
        FragmentsTranslated = "fragments_translated",
        /// Non-first fragments held until their first fragment arrives.
        FragmentsHeld = "fragments_held",
        /// Packets too big for the egress MTU without DF, to be fragmented.
        NeedsFragmentation = "needs_fragmentation",
        /// Sessions created.
        SessionsCreated = "sessions_created",
        /// Mappings created.
        MappingsCreated = "mappings_created",
        /// Port blocks allocated.
        BlocksAllocated = "blocks_allocated",
        /// Subscribers that became active.
        SubscribersCreated = "subscribers_created",
        /// ICMP errors the NAT asked the data plane to generate.
        IcmpErrorsRequested = "icmp_errors_requested",
        /// New subscribers admitted from the retry budget (refused once, came back).
        AdmittedOnRetry = "admitted_on_retry",
        /// Subscribers that showed they can receive (outbound after inbound).
        SubscribersConfirmed = "subscribers_confirmed",
        /// Translated packets held until their block's log record is durable.
        HeldForLog = "held_for_log",
        /// `admission-limit` summary records emitted.
        AdmissionSummaries = "admission_summaries",
        /// New sessions the HA sync ring had no room for (the management
        /// core resyncs the standby from the table).
        HaSyncRingFull = "ha_sync_ring_full",
    }
}

/// One producer's counters.
/// A fixed set of counters with a single writer: the writer bumps a value
/// with a relaxed load and store (no locked read-modify-write, no lock); any
/// thread may read at any time. Indexed by a `named_counters!` enum.
#[derive(Debug)]
pub struct CounterArray<const N: usize> {
    values: [AtomicU64; N],
}

impl<const N: usize> Default for CounterArray<N> {
    fn default() -> Self {
        CounterArray {
            values: [const { AtomicU64::new(0) }; N],
        }
    }
}

impl<const N: usize> CounterArray<N> {
    /// Adds `n` to value `i`. Call only from the owning writer.
    #[inline]
    pub fn add(&self, i: usize, n: u64) {
        let a = &self.values[i];
        a.store(a.load(Ordering::Relaxed).wrapping_add(n), Ordering::Relaxed);
    }

    /// Current value `i`.
    #[inline]
    pub fn get(&self, i: usize) -> u64 {
        self.values[i].load(Ordering::Relaxed)
    }

    /// A plain copy of every value.
    pub fn snapshot(&self) -> [u64; N] {
        core::array::from_fn(|i| self.get(i))
    }
}

/// One producer's counters.
#[derive(Debug, Default)]
pub struct Counters {
    drops: CounterArray<{ DropReason::COUNT }>,
    counts: CounterArray<{ Counter::COUNT }>,
}

impl Counters {
    /// Counts one drop. Call only from the owning producer.
    #[inline]
    pub fn count_drop(&self, reason: DropReason) {
        self.drops.add(reason as usize, 1);
    }

    /// Adds `n` to a counter. Call only from the owning producer.
    #[inline]
    pub fn add(&self, c: Counter, n: u64) {
        self.counts.add(c as usize, n);
    }

    /// Adds one to a counter. Call only from the owning producer.
    #[inline]
    pub fn incr(&self, c: Counter) {
        self.add(c, 1);
    }

    /// Current value of a drop counter.
    pub fn dropped(&self, reason: DropReason) -> u64 {
        self.drops.get(reason as usize)
    }

    /// Current value of a counter.
    pub fn get(&self, c: Counter) -> u64 {
        self.counts.get(c as usize)
    }

    /// Total drops over every reason.
    pub fn total_dropped(&self) -> u64 {
        DropReason::ALL.iter().map(|r| self.dropped(*r)).sum()
    }

    /// A plain copy of every value.
    pub fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            drops: self.drops.snapshot(),
            counts: self.counts.snapshot(),
        }
    }
}

/// A plain copy of [`Counters`], summable across workers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CounterSnapshot {
    /// Drops by [`DropReason`] index.
    pub drops: [u64; DropReason::COUNT],
    /// Counts by [`Counter`] index.
    pub counts: [u64; Counter::COUNT],
}

impl Default for CounterSnapshot {
    fn default() -> Self {
        CounterSnapshot {
            drops: [0; DropReason::COUNT],
            counts: [0; Counter::COUNT],
        }
    }
}

impl CounterSnapshot {
    /// Adds another snapshot into this one.
    pub fn merge(&mut self, o: &CounterSnapshot) {
        for (a, b) in self.drops.iter_mut().zip(o.drops.iter()) {
            *a += b;
        }
        for (a, b) in self.counts.iter_mut().zip(o.counts.iter()) {
            *a += b;
        }
    }

    /// Value of a drop counter.
    pub fn dropped(&self, r: DropReason) -> u64 {
        self.drops[r as usize]
    }

    /// Value of a counter.
    pub fn get(&self, c: Counter) -> u64 {
        self.counts[c as usize]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique() {
        let mut n: Vec<_> = DropReason::ALL.iter().map(|r| r.name()).collect();
        n.extend(Counter::ALL.iter().map(|c| c.name()));
        let len = n.len();
        n.sort();
        n.dedup();
        assert_eq!(n.len(), len);
    }

    #[test]
    fn counts_and_merges() {
        let c = Counters::default();
        c.count_drop(DropReason::NoMapping);
        c.count_drop(DropReason::NoMapping);
        c.incr(Counter::TranslatedOut);
        let mut s = c.snapshot();
        s.merge(&c.snapshot());
        assert_eq!(s.dropped(DropReason::NoMapping), 4);
        assert_eq!(s.get(Counter::TranslatedOut), 2);
        assert_eq!(c.total_dropped(), 2);
    }
}
