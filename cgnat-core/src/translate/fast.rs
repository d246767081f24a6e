//! The fast lane: a packet of an established TCP or UDP session with a
//! plain header (issue 11 item 1). [`Worker::parse`] decided from the
//! header alone that none of the general path's special cases can apply
//! (no options, not a fragment, TTL above 1, within both MTUs, ports
//! present); this lane makes the remaining address checks, finds the
//! session (from the inside: creates it, as the general path would) and
//! rewrites, and hands anything else back to the general path (`None`)
//! *before* it changed any state, so that path sees the packet as if the
//! lane did not exist. Its verdicts, rewrites, counters and events
//! are those of the general path, which `tests/translate_burst.rs` checks
//! on random traffic.

use super::prepared::Prepared;
use super::rewrite::{self, End};
use super::{Verdict, Worker};
use crate::counters::Counter;
use crate::event::EventSink;
use crate::flow::{SessionKey, Side};

impl<E: EventSink> Worker<E> {
    /// Translates `packet` if it is on the fast lane (`prep.fast`) and its
    /// session exists or, from the inside, is created here; `None`
    /// (nothing changed) for anything the general path must decide.
    #[inline(always)]
    pub(crate) fn fast_lane(&mut self, side: Side, packet: &mut [u8], prep: &Prepared) -> Option<Verdict> {
        // Copied, not borrowed: no reference to the parse escapes to an
        // out-of-line call, so it stays in registers.
        let p = *prep.header().ok()?;
        let protocol = prep.protocol;
        let (sport, dport, flags) = prep.ports()?;
        // The rewrite touches only the headers, which the parse found
        // within the packet's Total Length; no need to cut off padding.
        let pkt = packet;
        let nat = &*self.nat;
        match side {
            Side::Inside => {
                // The general path's spoofing (RFC 6598 section 7), hairpin,
                // martian and bypass (RFC 6888 REQ-6) cases stay there.
                if !nat.is_inside(p.src) || prep.dst_pool().is_some() || nat.is_inside(p.dst) || nat.is_bypass(p.dst) {
                    return None;
                }
                let key = SessionKey::new(protocol, p.src, sport, p.dst, dport);
                let hash = prep.own_hash()?;
                debug_assert_eq!(hash, nat.sessions.hash_of(&key), "a Prepared of another packet");
                let r = match nat.sessions.find_hashed(&key, hash) {
                    Some(r) if !r.value.dying() => r,
                    _ => return Some(self.fast_new_flow(pkt, key, flags)),
                };
                // RFC 4787 REQ-6: outbound packets refresh the mapping.
                self.touch(r, p.src, protocol, true, flags);
                let public = self.nat.pool.addr_of(r.pool_index);
                rewrite::rewrite_plain(pkt, protocol, End::Source, public, r.value.public_port());
                self.counters.incr(Counter::TranslatedOut);
                Some(self.lane_leave(Side::Outside))
            }
            Side::Outside => {
                // RFC 6598 section 7 / RFC 1812 section 5.3.7: spoofed
                // sources are the general path's to drop.
                let pool_index = prep.dst_pool()?;
                if nat.is_inside(p.src) || nat.pool.index_of(p.src).is_some() {
                    return None;
                }
                // The inside endpoint from the burst's second stage, or
                // resolved now. A live session of that endpoint and remote
                // whose public endpoint is this packet's proves the mapping
                // still holds it (a session keeps its mapping); anything
                // else goes back to the general path, which resolves again.
                let (inside, inside_port, hash) = match prep.session() {
                    Some(h) => (h.inside_addr, h.inside_port, Some(h.hash)),
                    None => {
                        let (a, port) = self.resolve_public(protocol, pool_index, dport)?;
                        (a, port, None)
                    }
                };
                let key = SessionKey {
                    protocol,
                    inside_addr: inside,
                    inside_port,
                    remote_addr: p.src,
                    remote_port: sport,
                };
                let r = self.find_session(&key, hash)?;
                if r.value.dying() || r.pool_index != pool_index || r.value.public_port() != dport {
                    return None;
                }
                self.touch(r, inside, protocol, false, flags);
                rewrite::rewrite_plain(pkt, protocol, End::Destination, inside, inside_port);
                self.counters.incr(Counter::TranslatedIn);
                Some(self.lane_leave(Side::Inside))
            }
        }
    }

    /// The first packet of a new flow from the inside on the fast lane:
    /// created, rewritten and counted as the general path would (its checks
    /// up to the session lookup all passed), so the lookup is not made
    /// twice. Out of line: the lane's common case keeps its registers.
    #[cold]
    #[inline(never)]
    fn fast_new_flow(&mut self, pkt: &mut [u8], key: SessionKey, flags: u8) -> Verdict {
        let (pool_index, public_port) = match self.create_outbound(&key, flags) {
            Ok(x) => x,
            Err(v) => {
                self.count_verdict(v);
                return v;
            }
        };
        let public = self.nat.pool.addr_of(pool_index);
        rewrite::rewrite_plain(pkt, key.protocol, End::Source, public, public_port);
        self.counters.incr(Counter::TranslatedOut);
        self.lane_leave(Side::Outside)
    }

    /// The counted verdict of a packet the lane translated: forwarded to
    /// `egress`, unless its block's log record is not durable yet (then it
    /// waits, as [`Worker::leave`] decides for the general path).
    #[inline(always)]
    fn lane_leave(&mut self, egress: Side) -> Verdict {
        match self.await_block {
            None => Verdict::Forward(egress),
            Some(_) => self.lane_held(egress),
        }
    }

    /// [`Self::lane_leave`] for a packet that waits for its block's record.
    #[cold]
    #[inline(never)]
    fn lane_held(&mut self, egress: Side) -> Verdict {
        let v = self.leave(egress, None);
        self.count_verdict(v);
        v
    }
}
