//! Session refresh: what a packet of a known session changes on it (its
//! last-seen second and TCP state, the directions seen, the block it must
//! wait for) and what that means for its subscriber (received, confirmed;
//! issue 9 item 2). The common case — same second, same TCP state, nothing
//! to note — is one comparison in the fast lane.

use super::Worker;
use crate::counters::Counter;
use crate::event::EventSink;
use crate::flow::Protocol;
use crate::table::session::{SessionRef, SessionValue};
use crate::table::subscriber::SubscriberRef;
use crate::tcp_state;

impl<E: EventSink> Worker<E> {
    /// Refreshes a session for a packet in direction `outbound` (RFC 4787
    /// REQ-6: outbound refresh; TCP state per RFC 5382 in both directions),
    /// notes the directions seen (an outbound packet after an inbound one
    /// confirms the subscriber: it can receive), and makes the packet wait
    /// while the session's block awaits its durable log record. The common
    /// case (same second, same TCP state, nothing to note) returns at once.
    #[inline(always)]
    pub(crate) fn touch(&mut self, r: SessionRef, inside_addr: u32, protocol: Protocol, outbound: bool, flags: u8) {
        let v = r.value;
        let (tcp, seen) = Self::refresh_of(v, self.now_secs, protocol, outbound, flags);
        let flag_work = if outbound {
            v.0 & SessionValue::PENDING != 0 || v.0 & (SessionValue::SEEN_IN | SessionValue::TWO_WAY) == SessionValue::SEEN_IN
        } else {
            v.0 & SessionValue::SEEN_IN == 0
        };
        if seen != v.last_seen() || tcp != v.tcp() || flag_work {
            self.touch_slow(r, inside_addr, protocol, outbound, flags);
        }
    }

    /// The TCP bits and the last-seen second a packet leaves on a session
    /// (RFC 4787 REQ-6: outbound packets refresh; TCP also inbound, RFC 7857
    /// section 2.2: the 4-minute wait after a RST runs from the RST, so a
    /// RST refreshes too).
    #[inline(always)]
    fn refresh_of(v: SessionValue, now: u32, protocol: Protocol, outbound: bool, flags: u8) -> (u8, u32) {
        let tcp = if protocol == Protocol::Tcp {
            tcp_state::advance(v.tcp(), outbound, flags)
        } else {
            v.tcp()
        };
        let seen = if outbound || protocol == Protocol::Tcp {
            now
        } else {
            v.last_seen()
        };
        (tcp, seen)
    }

    #[cold]
    #[inline(never)]
    fn touch_slow(&mut self, r: SessionRef, inside_addr: u32, protocol: Protocol, outbound: bool, flags: u8) {
        let now = self.now_secs;
        let mut v = r.value;
        for _ in 0..2 {
            let (tcp, seen) = Self::refresh_of(v, now, protocol, outbound, flags);
            let (mut set, mut clear) = (0, 0);
            if outbound {
                if v.has(SessionValue::PENDING) {
                    match self.nat.pool.block_of(r.pool_index, v.public_port()) {
                        Some(b) if self.nat.pool.is_pending(b) => self.await_block = Some(b),
                        _ => clear |= SessionValue::PENDING,
                    }
                }
                if v.has(SessionValue::SEEN_IN) && !v.has(SessionValue::TWO_WAY) {
                    set |= SessionValue::TWO_WAY;
                }
            } else if !v.has(SessionValue::SEEN_IN) {
                set |= SessionValue::SEEN_IN;
            }
            let new = v.refreshed(seen, tcp).with_flags(set, clear);
            if new == v || v.dying() {
                return;
            }
            if self.nat.sessions.update(r.index, v, new) {
                if set & (SessionValue::TWO_WAY | SessionValue::SEEN_IN) != 0 {
                    self.note_direction(inside_addr, set & SessionValue::TWO_WAY != 0);
                }
                return;
            }
            v = self.nat.sessions.value_at(r.index);
        }
    }

    /// A session of subscriber `inside_addr` saw its first inbound packet
    /// (`two_way` false: the subscriber received something) or an outbound
    /// packet after one (`two_way`: it showed it can receive, issue 9 item
    /// 2, and from now on its confirmed limits and timers apply). Once per
    /// session at most.
    #[cold]
    fn note_direction(&mut self, inside_addr: u32, two_way: bool) {
        let subs = &self.nat.subscribers;
        let Some(s) = subs.find(inside_addr) else { return };
        if subs.is_confirmed(s.index) {
            return;
        }
        if !two_way {
            subs.mark_received(s);
        } else if subs.confirm(s) {
            self.counters.incr(Counter::SubscribersConfirmed);
        }
    }

    /// A subscriber opens a new session: if a packet was delivered to it
    /// before, it has shown it can receive (issue 9 item 2).
    #[inline]
    pub(crate) fn confirm_on_new_session(&mut self, sub: SubscriberRef) {
        if !self.nat.subscribers.is_confirmed(sub.index) && self.nat.subscribers.confirm_if_received(sub) {
            self.counters.incr(Counter::SubscribersConfirmed);
        }
    }
}
