//! The worker's end of the PCP exception path (issue 12 item 1, decision
//! 017): UDP to the inside address on port 5351 is copied into a ring to
//! the management core, which runs the PCP server; its answers come back
//! through a second ring and leave on the inside link from the inside
//! address, port 5351. No lock, allocation or system call: the rings are
//! SPSC and preallocated, a datagram is a fixed-size copy, mbufs come from
//! the worker's pool.

use cgnat_core::pcp::{PcpDatagram, MAX_IPV4_LEN};
use cgnat_core::ring::{Consumer, Producer};
use cgnat_core::wire::ethernet::{self, EthernetAddress};
use cgnat_core::wire::pcp;
use cgnat_core::{Instant, Side};

use super::{Egress, Router};
use crate::daemon::counters::DpCounter;
use crate::daemon::neighbour::Resolution;
use crate::Mbuf;

/// Answers sent per call of [`Router::pcp_answers`] (per housekeeping
/// tick), so a burst of answers cannot hold up the packet loop.
const ANSWERS_PER_TICK: usize = 32;

/// A worker's two rings of the PCP exception path.
pub struct PcpPath {
    /// Requests to the management core.
    pub requests: Producer<PcpDatagram>,
    /// Answers (and ANNOUNCEs) from it.
    pub answers: Consumer<PcpDatagram>,
}

/// The Ethernet address of an IPv4 multicast group (RFC 1112 section 6.4).
fn multicast_mac(group: u32) -> [u8; 6] {
    let [_, b, c, d] = group.to_be_bytes();
    [0x01, 0x00, 0x5e, b & 0x7f, c, d]
}

impl Router {
    /// Connects the PCP exception path: from now on UDP to the inside
    /// address on port 5351 goes to the management core.
    pub fn set_pcp(&mut self, path: PcpPath) {
        self.pcp = Some(path);
    }

    /// Whether a UDP datagram to the inside address for `dst_port` is a
    /// PCP request this worker passes on.
    #[inline]
    pub(super) fn takes_pcp(&self, dst_port: u16) -> bool {
        dst_port == pcp::SERVER_PORT && self.pcp.is_some()
    }

    /// Copies the PCP request in the IPv4 packet at `l2` of `m` into the
    /// ring to the management core (full: dropped, counted), if it passes
    /// the source check ([`Router::pcp_source_ok`]).
    pub(super) fn pcp_request<E: Egress>(&mut self, m: Mbuf, l2: usize, now: Instant, eg: &mut E) {
        if self.pcp.is_none() {
            return;
        }
        let d = match PcpDatagram::from_request(&m.data()[l2..]) {
            Ok(d) => d,
            Err(_) => return self.counters.incr(DpCounter::PcpMalformed),
        };
        let frame_src: [u8; 6] = m.data()[6..12].try_into().expect("an Ethernet header was checked");
        if !self.pcp_source_ok(u32::from(d.peer), frame_src, now, eg) {
            return;
        }
        let Some(path) = self.pcp.as_mut() else { return };
        match path.requests.push(d) {
            Ok(()) => self.counters.incr(DpCounter::PcpRequests),
            Err(_) => self.counters.incr(DpCounter::PcpQueueFull),
        }
    }

    /// A reverse-path check at layer 2 (decision 017): a PCP request must
    /// come from the neighbour its answer would go to — the source address
    /// itself when it is on the inside link, else the next hop towards it.
    /// A request whose Ethernet source is another neighbour's (a subscriber
    /// forging another inside address on a shared segment) is dropped and
    /// counted `pcp_spoofed`; one whose neighbour is not resolved yet is
    /// dropped (`pcp_unverified`) while an ARP request resolves it, and the
    /// client's retransmission (RFC 6887 section 8.1.1) gets through.
    fn pcp_source_ok<E: Egress>(&mut self, src: u32, frame_src: [u8; 6], now: Instant, eg: &mut E) -> bool {
        let link = &self.shared.inside;
        let Some(hop) = link.next_hop(src) else {
            self.counters.incr(DpCounter::PcpSpoofed);
            return false;
        };
        match link.neighbours.lookup(hop) {
            Some(mac) if mac == frame_src => true,
            Some(_) => {
                self.counters.incr(DpCounter::PcpSpoofed);
                false
            }
            None => {
                self.counters.incr(DpCounter::PcpUnverified);
                if let Resolution::Pending { request: true } | Resolution::Expired = link.neighbours.resolve(hop, now.as_micros()) {
                    self.arp_request(Side::Inside, hop, None, now, eg);
                }
                false
            }
        }
    }

    /// Sends up to 32 answers the management core queued (per tick):
    /// from the inside address, port 5351, to the client (or, for an
    /// ANNOUNCE to a multicast group, to the group's Ethernet address).
    pub fn pcp_answers<E: Egress>(&mut self, now: Instant, eg: &mut E) {
        for _ in 0..ANSWERS_PER_TICK {
            let Some(d) = self.pcp.as_mut().and_then(|p| p.answers.pop()) else {
                return;
            };
            let link = &self.shared.inside;
            let (l2, mac, vlan, src) = (link.l2_len, link.mac, link.vlan, link.addr);
            let Ok(mut m) = Mbuf::alloc(&self.pool) else {
                self.counters.incr(DpCounter::MbufAllocFailed);
                continue;
            };
            let room = l2 + MAX_IPV4_LEN;
            let Ok(buf) = m.append(room) else {
                self.counters.incr(DpCounter::MbufAllocFailed);
                continue;
            };
            self.pcp_ident = self.pcp_ident.wrapping_add(1);
            let Some(n) = d.emit_ipv4(&mut buf[l2..], src.into(), pcp::SERVER_PORT, self.pcp_ident) else {
                continue;
            };
            ethernet::emit_header(buf, EthernetAddress([0; 6]), EthernetAddress(mac), vlan, ethernet::ethertype::IPV4);
            if m.trim(room - l2 - n).is_err() {
                continue;
            }
            self.counters.incr(DpCounter::PcpAnswersSent);
            let dst = u32::from(d.peer);
            if d.peer.is_multicast() {
                m.data_mut()[..6].copy_from_slice(&multicast_mac(dst));
                self.push(Side::Inside, m, now, eg);
            } else {
                self.output(Side::Inside, m, dst, now, eg);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_hosts_maps_to_its_rfc_1112_mac() {
        assert_eq!(multicast_mac(0xe000_0001), [0x01, 0x00, 0x5e, 0, 0, 1]);
        assert_eq!(multicast_mac(0xef80_0203), [0x01, 0x00, 0x5e, 0, 2, 3]);
    }
}
