//! Gratuitous ARP after an HA takeover (issue 13 item 3): one worker
//! announces the inside address (the subscribers' gateway), the outside
//! address and, with `dataplane.proxy_arp_pool`, the pool addresses, so
//! that the segments' neighbours send to this node's MAC addresses at once
//! instead of after their ARP entries for the failed node expire.

use std::sync::atomic::Ordering;

use cgnat_core::{Instant, Side};

use super::{Egress, Router};

/// Pool addresses announced at most (a larger pool is normally routed to
/// the outside address, which is announced; proxy ARP for a huge pool
/// would flood the segment).
pub const MAX_ANNOUNCED_POOL: u32 = 4096;

impl Router {
    /// Makes this router the one that announces the addresses when the
    /// management core asks ([`super::Shared::ha_announce`]).
    pub fn set_announcer(&mut self) {
        self.announced = Some(self.shared.ha_announce.load(Ordering::Acquire));
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
