//! ARP (RFC 826): replies for the appliance's addresses (and proxy ARP for
//! the pool on the outside), learning, and requests for next hops.

use cgnat_core::wire::arp::{self, Operation};
use cgnat_core::wire::ethernet::{self, EthernetAddress};
use cgnat_core::{Instant, Side};

use super::{Egress, Router};
use crate::daemon::counters::DpCounter;
use crate::Mbuf;

/// Minimum Ethernet frame without FCS: short frames are padded to it.
const MIN_FRAME: usize = 60;

impl Router {
    /// Whether `ip` is an address the appliance answers ARP for on `side`.
    fn arp_ours(&self, side: Side, ip: u32) -> bool {
        let link = self.shared.link(side);
        ip == link.addr || (side == Side::Outside && self.shared.proxy_arp_pool && self.nat.pool().index_of(ip).is_some())
    }

    /// An ARP packet at offset `l2` of `m`, received on `side`.
    pub(super) fn arp<E: Egress>(&mut self, side: Side, mut m: Mbuf, l2: usize, now: Instant, eg: &mut E) {
        self.counters.incr(DpCounter::ArpRx);
        let Ok(p) = arp::Packet::new_checked(&m.data()[l2..]) else {
            self.counters.incr(DpCounter::ArpIgnored);
            return;
        };
        if p.hardware_type() != arp::HARDWARE_ETHERNET
            || p.protocol_type() != ethernet::ethertype::IPV4
            || p.hardware_len() != 6
            || p.protocol_len() != 4
        {
            self.counters.incr(DpCounter::ArpIgnored);
            return;
        }
        let op = p.operation();
        let sha = p.sender_hardware_addr();
        let spa = u32::from(p.sender_protocol_addr());
        let tpa = u32::from(p.target_protocol_addr());
        let link = self.shared.link(side);
        let ours = self.arp_ours(side, tpa);
        // RFC 826 "Packet Reception": update the sender if known (a new MAC
        // address replaces the old one: failover, gratuitous ARP; any ARP
        // from it confirms its reachability); add it if the packet is for
        // us. Only on-link unicast senders.
        if sha.is_unicast()
            && spa != 0
            && spa != link.addr
            && link.next_hop(spa) == Some(spa)
            && link.neighbours.learn(spa, sha.0, ours, now.as_micros())
        {
            self.counters.incr(DpCounter::ArpLearned);
        }
        if op != Operation::Request || !ours || !sha.is_unicast() || spa == tpa {
            if op != Operation::Reply {
                self.counters.incr(DpCounter::ArpIgnored);
            }
            return;
        }
        // Turn the request into the reply, in place.
        let our_mac = EthernetAddress(link.mac);
        let d = m.data_mut();
        {
            let mut f = ethernet::Frame::new_unchecked(&mut *d);
            f.set_dst_addr(sha);
            f.set_src_addr(our_mac);
        }
        let mut r = arp::Packet::new_unchecked(&mut d[l2..l2 + arp::PACKET_LEN]);
        r.set_operation(Operation::Reply);
        r.set_target_hardware_addr(sha);
        r.set_target_protocol_addr(spa.into());
        r.set_sender_hardware_addr(our_mac);
        r.set_sender_protocol_addr(tpa.into());
        self.counters.incr(DpCounter::ArpRepliesSent);
        self.push(side, m, now, eg);
    }

    /// Sends an ARP request for `target` on `side`: broadcast, or unicast to
    /// `probe`, the MAC address of a stale entry (RFC 1122 section 2.3.2.1
    /// unicast poll; the target hardware address stays zero).
    pub(super) fn arp_request<E: Egress>(&mut self, side: Side, target: u32, probe: Option<[u8; 6]>, now: Instant, eg: &mut E) {
        let sender = self.shared.link(side).addr;
        if self.arp_emit(side, sender, target, probe, now, eg) {
            self.counters.incr(match probe {
                Some(_) => DpCounter::ArpProbesSent,
                None => DpCounter::ArpRequestsSent,
            });
        }
    }

    /// Announces `addr` on `side` with a gratuitous ARP request (RFC 5227
    /// section 3 "ARP Announcement": sender and target address both
    /// `addr`, broadcast), so that neighbours move the address to this
    /// node's MAC address (an HA takeover, issue 13).
    pub(super) fn arp_announce<E: Egress>(&mut self, side: Side, addr: u32, now: Instant, eg: &mut E) {
        if self.arp_emit(side, addr, addr, None, now, eg) {
            self.counters.incr(DpCounter::ArpAnnouncementsSent);
        }
    }

    pub(super) fn arp_emit<E: Egress>(
        &mut self,
        side: Side,
        sender: u32,
        target: u32,
        to: Option<[u8; 6]>,
        now: Instant,
        eg: &mut E,
    ) -> bool {
        let link = self.shared.link(side);
        let (mac, vlan, l2) = (link.mac, link.vlan, link.l2_len);
        let Ok(mut m) = Mbuf::alloc(&self.pool) else {
            self.counters.incr(DpCounter::MbufAllocFailed);
            return false;
        };
        let len = (l2 + arp::PACKET_LEN).max(MIN_FRAME);
        let Ok(buf) = m.append(len) else {
            self.counters.incr(DpCounter::MbufAllocFailed);
            return false;
        };
        buf.fill(0);
        ethernet::emit_header(
            buf,
            to.map(EthernetAddress).unwrap_or(EthernetAddress::BROADCAST),
            EthernetAddress(mac),
            vlan,
            ethernet::ethertype::ARP,
        );
        arp::emit(
            &mut buf[l2..],
            Operation::Request,
            EthernetAddress(mac),
            sender.into(),
            EthernetAddress([0; 6]),
            target.into(),
        );
        self.push(side, m, now, eg);
        true
    }
}
