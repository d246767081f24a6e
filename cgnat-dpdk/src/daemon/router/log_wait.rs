//! Packets waiting for the NAT log: a packet translated with a port of a
//! block whose allocation record is not yet durable in every legal log
//! target waits here (bounded in count and time, like a packet waiting for
//! ARP) until the management core marks the block logged
//! (`Nat::block_logged`), then goes on to its next hop. The worker never
//! blocks: housekeeping polls the block's state.

use cgnat_core::{Instant, Side};

use super::Router;
use crate::daemon::counters::DpCounter;
use crate::Mbuf;

/// One waiting packet.
struct Waiting {
    ingress: Side,
    egress: Side,
    l2: u8,
    mtu: u16,
    block: u32,
    deadline: u64,
    m: Mbuf,
}

/// The fixed-size waiting area of one worker (no allocation after `new`).
pub(super) struct LogWait {
    slots: Box<[Option<Waiting>]>,
    count: usize,
}

impl LogWait {
    pub(super) fn new(capacity: usize) -> Self {
        LogWait {
            slots: (0..capacity).map(|_| None).collect(),
            count: 0,
        }
    }

    pub(super) fn len(&self) -> usize {
        self.count
    }
}

impl Router {
    /// Verdict::HoldUntilLogged: keeps the translated packet until its
    /// block's record is durable.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn wait_for_log(&mut self, ingress: Side, egress: Side, m: Mbuf, l2: usize, mtu: u16, block: u32, now: Instant) {
        let w = &mut self.log_wait;
        if w.count < w.slots.len() {
            if let Some(slot) = w.slots.iter_mut().find(|s| s.is_none()) {
                *slot = Some(Waiting {
                    ingress,
                    egress,
                    l2: l2 as u8,
                    mtu,
                    block,
                    deadline: now.as_micros() + self.shared.log_hold_us,
                    m,
                });
                w.count += 1;
                self.counters.incr(DpCounter::LogWaitHeld);
                return;
            }
        }
        self.counters.incr(DpCounter::LogWaitDropped);
    }

    /// Sends the waiting packets whose block is now logged; drops those
    /// that waited past their deadline. Cost: one load per waiting packet.
    pub(super) fn release_logged<E: super::Egress>(&mut self, now: Instant, eg: &mut E) {
        if self.log_wait.count == 0 {
            return;
        }
        for i in 0..self.log_wait.slots.len() {
            let Some(w) = &self.log_wait.slots[i] else { continue };
            let logged = !self.nat.pool().is_pending(w.block);
            if !logged && now.as_micros() < w.deadline {
                continue;
            }
            let Some(w) = self.log_wait.slots[i].take() else { continue };
            self.log_wait.count -= 1;
            if !logged {
                self.counters.incr(DpCounter::LogWaitDropped);
                continue;
            }
            self.counters.incr(DpCounter::LogWaitReleased);
            if w.mtu != 0 {
                self.fragment(w.egress, w.m, w.l2 as usize, w.mtu, now, eg);
            } else {
                self.forward(w.ingress, w.egress, w.m, w.l2 as usize, now, eg);
            }
        }
    }

    /// Drops every waiting packet (at shutdown), counting them.
    pub(super) fn drop_log_waiting(&mut self) {
        for s in self.log_wait.slots.iter_mut() {
            if s.take().is_some() {
                self.counters.incr(DpCounter::LogWaitDropped);
            }
        }
        self.log_wait.count = 0;
    }
}
