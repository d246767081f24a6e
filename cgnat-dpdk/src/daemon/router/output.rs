//! Output: next hop, neighbour resolution, holding while unresolved,
//! fragmentation, ICMP errors, transmission.

use cgnat_core::wire::ethernet::{self, EthernetAddress};
use cgnat_core::wire::{icmp, ipv4};
use cgnat_core::{Instant, Side};

use super::{side_index, Held, Router};
use crate::daemon::counters::DpCounter;
use crate::daemon::neighbour::Resolution;
use crate::{Burst, Mbuf};

/// TTL of ICMP errors the appliance originates.
const ICMP_ERROR_TTL: u8 = 64;

/// Where frames leave: TX queues live, pcap files in replay.
pub trait Egress {
    /// Sends the frames of `burst` out of `side` at `now`; frames that were
    /// not accepted stay in `burst` (the caller counts and frees them).
    fn transmit(&mut self, side: Side, burst: &mut Burst, now: Instant);
}

/// The Ethernet header last sent to a resolved next hop out of one side,
/// copied whole onto the following frames to that next hop while the packet
/// clock reads the same microsecond (in practice: for the rest of the RX
/// burst). Every frame the router sends through [`Router::output`] has the
/// same header but for the destination MAC address (the link's MAC, its
/// VLAN tag, EtherType IPv4), so one next-hop resolution and one header
/// build serve the burst (issue 11 item 1).
#[derive(Clone, Copy, Default)]
pub(super) struct L2Cache {
    now_us: u64,
    next_hop: u32,
    len: u8,
    valid: bool,
    header: [u8; ethernet::VLAN_HEADER_LEN],
}

/// Writes the first `len` bytes of a cached link-layer header over the
/// frame `d`. The two lengths a link has (14 bytes, 18 with a VLAN tag) are
/// written as 8-byte words (overlapping for 14), so no per-packet call to
/// `memcpy` for a length the compiler cannot see (it merges plain
/// fixed-size array copies back into one).
#[inline(always)]
fn copy_l2_header(d: &mut [u8], header: &[u8; ethernet::VLAN_HEADER_LEN], len: usize) {
    let word = |at: usize| u64::from_ne_bytes(header[at..at + 8].try_into().expect("8 bytes"));
    match len {
        ethernet::HEADER_LEN if d.len() >= ethernet::HEADER_LEN => {
            let (a, b) = (word(0), word(6));
            d[..8].copy_from_slice(&a.to_ne_bytes());
            d[6..14].copy_from_slice(&b.to_ne_bytes());
        }
        ethernet::VLAN_HEADER_LEN if d.len() >= ethernet::VLAN_HEADER_LEN => {
            let (a, b, c) = (word(0), word(8), word(10));
            d[..8].copy_from_slice(&a.to_ne_bytes());
            d[8..16].copy_from_slice(&b.to_ne_bytes());
            d[10..18].copy_from_slice(&c.to_ne_bytes());
        }
        _ => d[..len].copy_from_slice(&header[..len]),
    }
}

impl Router {
    /// Queues a complete frame for `side`, flushing the burst when full.
    #[inline(always)]
    pub(super) fn push<E: Egress>(&mut self, side: Side, m: Mbuf, now: Instant, eg: &mut E) {
        let i = side_index(side);
        if self.tx[i].is_full() {
            self.flush_side(side, now, eg);
        }
        // Cannot fail: the burst was just flushed (unsent frames freed).
        let _ = self.tx[i].push(m);
    }

    fn flush_side<E: Egress>(&mut self, side: Side, now: Instant, eg: &mut E) {
        let i = side_index(side);
        let burst = &mut self.tx[i];
        let n = burst.len();
        if n == 0 {
            return;
        }
        eg.transmit(side, burst, now);
        let unsent = burst.len();
        burst.clear();
        let (sent_c, drop_c) = match side {
            Side::Inside => (DpCounter::TxInside, DpCounter::TxDropInside),
            Side::Outside => (DpCounter::TxOutside, DpCounter::TxDropOutside),
        };
        self.counters.add(sent_c, (n - unsent) as u64);
        if unsent > 0 {
            self.counters.add(drop_c, unsent as u64);
        }
    }

    /// Sends every queued frame (call after each RX burst).
    #[inline]
    pub fn flush<E: Egress>(&mut self, now: Instant, eg: &mut E) {
        self.flush_side(Side::Inside, now, eg);
        self.flush_side(Side::Outside, now, eg);
    }

    /// Rewrites the Ethernet header of the IPv4 packet at offset `l2_in`
    /// of `m` for the `egress` link and sends it to its next hop.
    #[inline(always)]
    pub(super) fn forward<E: Egress>(&mut self, _ingress: Side, egress: Side, mut m: Mbuf, l2_in: usize, now: Instant, eg: &mut E) {
        let link = self.shared.link(egress);
        let l2_out = link.l2_len;
        let ok = if l2_out > l2_in {
            m.prepend(l2_out - l2_in).is_ok()
        } else if l2_out < l2_in {
            m.adj(l2_in - l2_out).is_ok()
        } else {
            true
        };
        if !ok {
            self.counters.incr(DpCounter::BadFrame);
            return;
        }
        let (mac, vlan) = (link.mac, link.vlan);
        let d = m.data_mut();
        // The NAT forwards only packets whose IPv4 header it checked; the
        // destination is read through the view without checking it again.
        let Some(dst) = d
            .get(l2_out..)
            .and_then(|ip| ip.first_chunk::<{ ipv4::HEADER_LEN }>())
            .map(|h| ipv4::Packet::new_unchecked(&h[..]).dst_addr_u32())
        else {
            self.counters.incr(DpCounter::BadFrame);
            return;
        };
        let c = &self.l2_cache[side_index(egress)];
        if c.valid && c.now_us == now.as_micros() && c.len as usize == l2_out && link.next_hop(dst) == Some(c.next_hop) {
            copy_l2_header(d, &c.header, l2_out);
            self.push(egress, m, now, eg);
            return;
        }
        ethernet::emit_header(d, EthernetAddress([0; 6]), EthernetAddress(mac), vlan, ethernet::ethertype::IPV4);
        self.output(egress, m, dst, now, eg);
    }

    /// Sends a frame whose header (but the destination MAC) is written to
    /// the next hop of IPv4 destination `dst` on `side`: resolved → queued;
    /// stale → queued to the known MAC address plus a unicast ARP probe;
    /// unresolved (or just expired after unanswered probes) → broadcast ARP
    /// request and hold; no route or no room → dropped.
    pub(super) fn output<E: Egress>(&mut self, side: Side, mut m: Mbuf, dst: u32, now: Instant, eg: &mut E) {
        let link = self.shared.link(side);
        let Some(next_hop) = link.next_hop(dst) else {
            self.counters.incr(DpCounter::NoRoute);
            return;
        };
        match link.neighbours.resolve(next_hop, now.as_micros()) {
            Resolution::Resolved(mac) => {
                let l2 = link.l2_len;
                let d = m.data_mut();
                d[..6].copy_from_slice(&mac);
                if let (Some(h), Ok(len)) = (d.get(..l2), u8::try_from(l2)) {
                    let mut header = [0; ethernet::VLAN_HEADER_LEN];
                    header[..l2].copy_from_slice(h);
                    self.l2_cache[side_index(side)] = L2Cache {
                        now_us: now.as_micros(),
                        next_hop,
                        len,
                        valid: true,
                        header,
                    };
                }
                self.push(side, m, now, eg);
            }
            Resolution::Probe(mac) => {
                m.data_mut()[..6].copy_from_slice(&mac);
                self.push(side, m, now, eg);
                self.arp_request(side, next_hop, Some(mac), now, eg);
            }
            Resolution::Pending { request } => {
                if request {
                    self.arp_request(side, next_hop, None, now, eg);
                }
                self.hold(side, next_hop, m, now);
            }
            Resolution::Expired => {
                self.counters.incr(DpCounter::NeighbourExpired);
                self.arp_request(side, next_hop, None, now, eg);
                self.hold(side, next_hop, m, now);
            }
            Resolution::Full => self.counters.incr(DpCounter::NeighbourTableFull),
        }
    }

    fn hold(&mut self, side: Side, next_hop: u32, m: Mbuf, now: Instant) {
        if self.held_count < self.held.len() {
            if let Some(slot) = self.held.iter_mut().find(|h| h.is_none()) {
                *slot = Some(Held {
                    side,
                    next_hop,
                    deadline: now.as_micros() + self.shared.arp_hold_us,
                    m,
                });
                self.held_count += 1;
                self.counters.incr(DpCounter::UnresolvedHeld);
                return;
            }
        }
        self.counters.incr(DpCounter::UnresolvedDropped);
    }

    /// Periodic work: sends held packets whose next hop resolved or whose
    /// block's log record became durable, drops those that waited too long,
    /// expires held fragments, sends the PCP server's answers, and runs the NAT worker's own housekeeping.
    pub fn housekeeping<E: Egress>(&mut self, now: Instant, eg: &mut E) {
        self.release_logged(now, eg);
        self.pcp_answers(now, eg);
        self.announce_if_asked(now, eg);
        self.probe_if_asked(now, eg);
        self.worker.housekeeping(now);
        if self.held_count > 0 {
            for i in 0..self.held.len() {
                let Some(h) = &self.held[i] else { continue };
                let mac = self.shared.link(h.side).neighbours.lookup(h.next_hop);
                if mac.is_none() && now.as_micros() < h.deadline {
                    continue;
                }
                let Some(mut h) = self.held[i].take() else { continue };
                self.held_count -= 1;
                match mac {
                    Some(mac) => {
                        h.m.data_mut()[..6].copy_from_slice(&mac);
                        self.counters.incr(DpCounter::UnresolvedReleased);
                        self.push(h.side, h.m, now, eg);
                    }
                    None => self.counters.incr(DpCounter::UnresolvedDropped),
                }
            }
        }
        if !self.stash.is_empty() {
            let c = &self.counters;
            self.stash.expire(now, |_| c.incr(DpCounter::FragmentsExpired));
        }
    }

    /// Packets still held (waiting for ARP, for a first fragment or for
    /// the NAT log).
    pub fn held(&self) -> usize {
        self.held_count + self.stash.len() + self.log_wait.len()
    }

    /// Drops everything held (at shutdown), counting it.
    pub fn drop_held(&mut self) {
        for h in self.held.iter_mut() {
            if h.take().is_some() {
                self.counters.incr(DpCounter::UnresolvedDropped);
            }
        }
        self.held_count = 0;
        self.drop_log_waiting();
        let c = &self.counters;
        self.stash.drain(|_| c.incr(DpCounter::FragmentsExpired));
    }

    /// Verdict::Fragment: cuts the IPv4 packet at `l2_in` of `m` into
    /// fragments of at most `mtu` bytes (RFC 791) and sends them out of `egress`.
    pub(super) fn fragment<E: Egress>(&mut self, egress: Side, m: Mbuf, l2_in: usize, mtu: u16, now: Instant, eg: &mut E) {
        let ip = &m.data()[l2_in..];
        let Ok(p) = ipv4::Packet::new_checked(ip) else {
            self.counters.incr(DpCounter::FragmentationFailed);
            return;
        };
        let total = p.total_len() as usize;
        let count = ipv4::fragment_count(total - p.header_len(), p.header_len(), mtu as usize);
        let dst = p.dst_addr_u32();
        let link = self.shared.link(egress);
        let (l2, mac, vlan) = (link.l2_len, link.mac, link.vlan);
        if count == 0 {
            self.counters.incr(DpCounter::FragmentationFailed);
            return;
        }
        for i in 0..count {
            let Ok(mut f) = Mbuf::alloc(&self.pool) else {
                self.counters.incr(DpCounter::MbufAllocFailed);
                return;
            };
            let room = (l2 + mtu as usize).min(f.tailroom());
            let Ok(buf) = f.append(room) else {
                self.counters.incr(DpCounter::MbufAllocFailed);
                return;
            };
            let n = match ipv4::emit_fragment(&ip[..total], mtu as usize, i, &mut buf[l2..]) {
                Ok(n) => n,
                Err(_) => {
                    self.counters.incr(DpCounter::FragmentationFailed);
                    return;
                }
            };
            ethernet::emit_header(buf, EthernetAddress([0; 6]), EthernetAddress(mac), vlan, ethernet::ethertype::IPV4);
            if f.trim(room - l2 - n).is_err() {
                self.counters.incr(DpCounter::FragmentationFailed);
                return;
            }
            self.counters.incr(DpCounter::FragmentsSent);
            self.output(egress, f, dst, now, eg);
        }
    }

    /// RFC 1812 section 4.3.2.8 rate limit: a token bucket of one second
    /// of `icmp_errors_per_sec`, on the packet clock.
    fn icmp_token(&mut self, now: Instant) -> bool {
        let rate = self.shared.icmp_errors_per_sec as u64;
        if rate == 0 {
            return false;
        }
        let cap = rate * 1_000_000;
        let t = now.as_micros();
        let refill = t.saturating_sub(self.icmp_last).saturating_mul(rate);
        self.icmp_last = t;
        self.icmp_tokens = self.icmp_tokens.saturating_add(refill).min(cap);
        if self.icmp_tokens >= 1_000_000 {
            self.icmp_tokens -= 1_000_000;
            true
        } else {
            false
        }
    }

    /// Answers the (untranslated) packet at `l2_in` of `m`, received on
    /// `side`, with an ICMP error from address `src` (host order) back out
    /// of `side` (Verdict::IcmpError, and refused packets to the
    /// appliance's own addresses).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn icmp_error<E: Egress>(
        &mut self,
        side: Side,
        m: Mbuf,
        l2_in: usize,
        icmp_type: u8,
        code: u8,
        mtu: u16,
        src: u32,
        now: Instant,
        eg: &mut E,
    ) {
        let offending = &m.data()[l2_in..];
        if !icmp::may_send_error_for(offending) {
            self.counters.incr(DpCounter::IcmpErrorsForbidden);
            return;
        }
        if !self.icmp_token(now) {
            self.counters.incr(DpCounter::IcmpRateLimited);
            return;
        }
        let link = self.shared.link(side);
        let (l2, mac, vlan) = (link.l2_len, link.mac, link.vlan);
        let Ok(mut e) = Mbuf::alloc(&self.pool) else {
            self.counters.incr(DpCounter::MbufAllocFailed);
            return;
        };
        let room = l2 + icmp::MAX_ERROR_LEN;
        let Ok(buf) = e.append(room) else {
            self.counters.incr(DpCounter::MbufAllocFailed);
            return;
        };
        let Ok(n) = icmp::emit_error(&mut buf[l2..], src.into(), offending, icmp_type, code, mtu, ICMP_ERROR_TTL) else {
            self.counters.incr(DpCounter::IcmpErrorsForbidden);
            return;
        };
        ethernet::emit_header(buf, EthernetAddress([0; 6]), EthernetAddress(mac), vlan, ethernet::ethertype::IPV4);
        if e.trim(room - l2 - n).is_err() {
            return;
        }
        // The error goes to the offending packet's source (checked by emit_error).
        let to = ipv4::Packet::new_unchecked(offending).src_addr_u32();
        self.counters.incr(DpCounter::IcmpErrorsSent);
        drop(m);
        self.output(side, e, to, now, eg);
    }
}
