//! Gratuitous ARP after an HA takeover (issue 13 item 3): one worker
//! announces the inside address (the subscribers' gateway), the outside
//! address and, with `dataplane.proxy_arp_pool`, the pool addresses, so
//! that the segments' neighbours send to this node's MAC addresses at once
//! instead of after their ARP entries for the failed node expire. The same
//! worker probes the inside segment for the peer when the sync link is
//! silent, and every worker of a node that is not active watches the
//! frames it drops for the peer's answer (the split-brain guard,
//! `docs/decisions/021-ha-pair.md`).

use std::sync::atomic::Ordering;

use cgnat_core::wire::{arp, ethernet};
use cgnat_core::{Instant, Side};

use super::{Egress, Router};
use crate::Mbuf;

/// Pool addresses announced at most (a larger pool is normally routed to
/// the outside address, which is announced; proxy ARP for a huge pool
/// would flood the segment).
pub const MAX_ANNOUNCED_POOL: u32 = 4096;

impl Router {
    /// Makes this router the one that announces the addresses when the
    /// management core asks ([`super::Shared::ha_announce`]).
    pub fn set_announcer(&mut self) {
        self.announced = Some(self.shared.ha_announce.load(Ordering::Acquire));
        self.probed = self.shared.ha_probe.load(Ordering::Acquire);
    }

    /// A not-active node's look at a frame it drops on the inside: an ARP
    /// packet for the shared inside address from another MAC address (the
    /// peer's answer to a probe, or its announcement) says the peer is
    /// alive on the segment ([`super::Shared::ha_peer_seen`]).
    pub(super) fn watch_for_peer(&self, m: &Mbuf) {
        let link = self.shared.link(Side::Inside);
        let d = m.data();
        let Ok(f) = ethernet::Frame::new_checked(d) else { return };
        if f.inner_ethertype() != ethernet::ethertype::ARP || f.header_len() != link.l2_len {
            return;
        }
        let Ok(p) = arp::Packet::new_checked(&d[link.l2_len..]) else {
            return;
        };
        if u32::from(p.sender_protocol_addr()) == link.addr && p.sender_hardware_addr().0 != link.mac {
            self.shared.ha_peer_seen.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Probes the inside segment for the shared inside address if the
    /// management core asked since the last call (housekeeping): a live
    /// peer answers it.
    pub(super) fn probe_if_asked<E: Egress>(&mut self, now: Instant, eg: &mut E) {
        if self.announced.is_none() {
            return;
        }
        let asked = self.shared.ha_probe.load(Ordering::Acquire);
        if asked == self.probed {
            return;
        }
        self.probed = asked;
        let target = self.shared.link(Side::Inside).addr;
        if self.arp_emit(Side::Inside, 0, target, None, now, eg) {
            self.counters.incr(crate::daemon::counters::DpCounter::ArpProbesSent);
        }
    }

    /// Sends the announcements if the management core asked for new ones
    /// since the last call (housekeeping).
    pub(super) fn announce_if_asked<E: Egress>(&mut self, now: Instant, eg: &mut E) {
        let Some(seen) = self.announced else { return };
        let asked = self.shared.ha_announce.load(Ordering::Acquire);
        if asked == seen || self.shared.ha_standby.load(Ordering::Relaxed) {
            return;
        }
        self.announced = Some(asked);
        let inside = self.shared.link(Side::Inside).addr;
        let outside = self.shared.link(Side::Outside).addr;
        self.arp_announce(Side::Inside, inside, now, eg);
        self.arp_announce(Side::Outside, outside, now, eg);
        if self.shared.proxy_arp_pool {
            let nat = self.nat.clone();
            for i in 0..nat.pool().size().min(MAX_ANNOUNCED_POOL) {
                let a = nat.pool().addr_of(i);
                if a != outside {
                    self.arp_announce(Side::Outside, a, now, eg);
                }
            }
        }
    }
}
