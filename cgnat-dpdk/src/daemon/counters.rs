//! Data-plane counters: per port and per reason, one set per worker.
//!
//! Like cgnat-core's `Counters`, each set has a single writer (its worker),
//! which bumps values with a relaxed load and store; the management core
//! reads them at any time.

use cgnat_core::counters::CounterArray;

cgnat_core::named_counters! {
    /// A data-plane event that is counted.
    pub enum DpCounter {
        /// Frames received on the inside port.
        RxInside = "rx_inside",
        /// Frames received on the outside port.
        RxOutside = "rx_outside",
        /// Frames transmitted on the inside port.
        TxInside = "tx_inside",
        /// Frames transmitted on the outside port.
        TxOutside = "tx_outside",
        /// Frames the inside TX queue did not accept (dropped).
        TxDropInside = "tx_drop_inside",
        /// Frames the outside TX queue did not accept (dropped).
        TxDropOutside = "tx_drop_outside",
        /// ARP packets received.
        ArpRx = "arp_rx",
        /// ARP replies sent for our own (or pool) addresses.
        ArpRepliesSent = "arp_replies_sent",
        /// ARP requests broadcast to resolve next hops.
        ArpRequestsSent = "arp_requests_sent",
        /// Unicast ARP probes sent to stale neighbours (RFC 1122 section 2.3.2.1).
        ArpProbesSent = "arp_probes_sent",
        /// Neighbour entries learned or refreshed from ARP.
        ArpLearned = "arp_learned",
        /// ARP packets ignored (not for us, malformed, or not Ethernet/IPv4).
        ArpIgnored = "arp_ignored",
        /// Packets held while their next hop was being resolved.
        UnresolvedHeld = "unresolved_held",
        /// Held packets sent after resolution.
        UnresolvedReleased = "unresolved_released",
        /// Packets dropped: next hop unresolved (hold full or timed out).
        UnresolvedDropped = "unresolved_dropped",
        /// Packets dropped: the neighbour table is full.
        NeighbourTableFull = "neighbour_table_full",
        /// Neighbours removed after their probes went unanswered (their
        /// packets are then held while the address is resolved again, and
        /// counted `unresolved_dropped` if that fails).
        NeighbourExpired = "neighbour_expired",
        /// Packets dropped: no route (off-link destination and no gateway).
        NoRoute = "no_route",
        /// ICMP echo replies sent (own and pool addresses).
        EchoReplies = "echo_replies",
        /// ICMP errors sent.
        IcmpErrorsSent = "icmp_errors_sent",
        /// ICMP errors suppressed by the rate limit (RFC 1812 section 4.3.2.8).
        IcmpRateLimited = "icmp_rate_limited",
        /// ICMP errors not sent because RFC 1812 section 4.3.2.7 forbids them.
        IcmpErrorsForbidden = "icmp_errors_forbidden",
        /// Packets to the appliance's own addresses dropped: not UDP, TCP or
        /// echo request, or fragmented.
        LocalDropped = "local_dropped",
        /// UDP (answered with ICMP port unreachable, rate permitting) and TCP
        /// (dropped silently) to the appliance's own addresses.
        LocalRefused = "local_refused",
        /// Fragments sent for packets larger than the egress MTU.
        FragmentsSent = "fragments_sent",
        /// Packets that could not be fragmented.
        FragmentationFailed = "fragmentation_failed",
        /// Out-of-order fragments dropped: the holding area is full.
        FragmentStashFull = "fragment_stash_full",
        /// Out-of-order fragments dropped: their source holds its share of
        /// the holding area (`nat.fragments.max_per_source`).
        FragmentSourceLimit = "fragment_source_limit",
        /// Held fragments dropped: their first fragment never came.
        FragmentsExpired = "fragments_expired",
        /// Frames dropped: neither IPv4 nor ARP.
        NotIpv4 = "not_ipv4",
        /// Frames dropped: unicast to another MAC address.
        OtherMac = "other_mac",
        /// Frames dropped: VLAN tag missing, unexpected or of another VLAN.
        VlanMismatch = "vlan_mismatch",
        /// Frames dropped: truncated Ethernet header or multi-segment mbuf.
        BadFrame = "bad_frame",
        /// Packets dropped: no mbuf for an ARP, ICMP or fragment.
        MbufAllocFailed = "mbuf_alloc_failed",
        /// Translated packets held until their block's log record was durable.
        LogWaitHeld = "log_wait_held",
        /// Held packets sent once the record was durable.
        LogWaitReleased = "log_wait_released",
        /// Held packets dropped: the record was not durable in time
        /// (`dataplane.log_hold_ms`) or the holding area was full.
        LogWaitDropped = "log_wait_dropped",
        /// PCP and NAT-PMP requests passed to the management core.
        PcpRequests = "pcp_requests",
        /// PCP requests dropped: the ring to the management core was full
        /// (`pcp.queue`).
        PcpQueueFull = "pcp_queue_full",
        /// Datagrams to the PCP port dropped: bad UDP length or checksum, or
        /// longer than 1100 bytes.
        PcpMalformed = "pcp_malformed",
        /// PCP requests dropped: their Ethernet source is not the neighbour
        /// the answer would go to (a forged inside source address).
        PcpSpoofed = "pcp_spoofed",
        /// PCP requests dropped while their source's neighbour was being
        /// resolved (the client retransmits).
        PcpUnverified = "pcp_unverified",
        /// PCP answers and ANNOUNCEs sent.
        PcpAnswersSent = "pcp_answers_sent",
        /// Gratuitous ARP announcements sent (HA takeover).
        ArpAnnouncementsSent = "arp_announcements_sent",
        /// Frames dropped unread because this node is not the active one
        /// of its HA pair (starting or standby: issue 13).
        HaNotActive = "ha_not_active",
    }
}

/// One worker's data-plane counters (single writer, see [`CounterArray`]).
#[derive(Debug, Default)]
pub struct DpCounters(CounterArray<{ DpCounter::COUNT }>);

impl DpCounters {
    /// Adds `n`. Call only from the owning worker.
    #[inline]
    pub fn add(&self, c: DpCounter, n: u64) {
        self.0.add(c as usize, n);
    }

    /// Adds one. Call only from the owning worker.
    #[inline]
    pub fn incr(&self, c: DpCounter) {
        self.add(c, 1);
    }

    /// Current value.
    pub fn get(&self, c: DpCounter) -> u64 {
        self.0.get(c as usize)
    }

    /// A plain copy of every value, by [`DpCounter`] index.
    pub fn snapshot(&self) -> [u64; DpCounter::COUNT] {
        self.0.snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_unique_and_counts() {
        let mut n: Vec<_> = DpCounter::ALL.iter().map(|c| c.name()).collect();
        n.sort();
        n.dedup();
        assert_eq!(n.len(), DpCounter::COUNT);
        let c = DpCounters::default();
        c.incr(DpCounter::ArpRx);
        c.add(DpCounter::ArpRx, 2);
        assert_eq!(c.get(DpCounter::ArpRx), 3);
        assert_eq!(c.snapshot()[DpCounter::ArpRx as usize], 3);
    }
}
