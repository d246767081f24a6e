//! [`Worker`]: translates packets in place. One per data-plane lcore; it
//! owns its counters, event sequence, port randomiser and fragment cache,
//! and shares the tables through [`Nat`].
//!
//! The hot path (a packet of a known session) is: parse, one session-table
//! lookup (outbound) or a direct block/port index plus one lookup (inbound),
//! rewrite, done: no lock, no allocation, no system call.

use std::sync::Arc;

use super::prepared::Prepared;
use super::rewrite::{self, End, Parsed};
use super::{Nat, Verdict};
use crate::admission::RefusalTally;
use crate::config::OtherProtocols;
use crate::counters::{Counter, Counters, DropReason};
use crate::event::{Event, EventKind, EventSink, ProtocolScope, Reason, Sequencer, TableId};
use crate::flow::{Protocol, SessionKey, Side};
use crate::frag::{FragmentKey, FragmentRewrite, FragmentTracker, RecordError};
use crate::table::hash::splitmix64;
use crate::table::session::{SessionRef, SessionValue};
use crate::tcp_state;
use crate::time::Instant;
use crate::wire::{icmp, ipv4};
use core::net::Ipv4Addr;

/// ICMP "destination unreachable".
const UNREACHABLE: u8 = 3;
/// ICMP "time exceeded".
const TIME_EXCEEDED: u8 = 11;

/// How long identical quota events from one worker are suppressed.
const QUOTA_EVENT_INTERVAL_SECS: u32 = 10;

/// A translating worker.
pub struct Worker<E: EventSink> {
    pub(crate) nat: Arc<Nat>,
    pub(crate) counters: Arc<Counters>,
    pub(crate) seq: Sequencer,
    pub(crate) sink: E,
    rng: u64,
    frags: FragmentTracker,
    held_key: FragmentKey,
    resolved: Option<FragmentKey>,
    recent_quota: [(u32, u8, u32); 64],
    /// The block this packet's port belongs to when that block's log record
    /// is not durable yet (the packet must wait); reset per packet.
    pub(crate) await_block: Option<u32>,
    /// Admission refusals since the last `admission-limit` record.
    pub(crate) refusals: RefusalTally,
    pub(crate) now: Instant,
    /// `now` in the session table's seconds (`secs32() & SECONDS_MASK`),
    /// computed when the clock moves rather than per packet (a burst
    /// shares one clock reading).
    pub(crate) now_secs: u32,
    /// Whether established packets take the fast lane (see `fast.rs`).
    fast_lane: bool,
    /// The HA sync ring of new sessions (`None`: no pair).
    pub(crate) ha_sync: Option<crate::ring::Producer<crate::wire::ha::SessionRecord>>,
}

impl<E: EventSink> Worker<E> {
    /// Worker `id` over `nat`, logging block events into `sink`.
    pub fn new(nat: Arc<Nat>, id: u16, sink: E) -> Self {
        let mut s = nat.seed ^ ((id as u64) << 48) ^ 0x7a11_0c8e;
        let rng = splitmix64(&mut s);
        let f = &nat.config.fragments;
        let frags = FragmentTracker::new(f.max_tracked as usize, f.timeout, f.max_per_source, nat.seed ^ id as u64);
        Worker {
            counters: Arc::new(Counters::default()),
            seq: Sequencer::new(id),
            sink,
            rng,
            frags,
            held_key: FragmentKey::default(),
            resolved: None,
            recent_quota: [(0, 0, 0); 64],
            await_block: None,
            refusals: RefusalTally::default(),
            now: Instant::ZERO,
            now_secs: 0,
            fast_lane: true,
            nat,
            ha_sync: None,
        }
    }

    /// Turns the fast lane for established TCP/UDP packets on (the
    /// default) or off. Off, every packet takes the general path: for tests
    /// that hold the lane to the general path's results, and for A/B
    /// benchmarks.
    pub fn set_fast_lane(&mut self, on: bool) {
        self.fast_lane = on;
    }

    /// This worker's counters (share the `Arc` with the management core).
    pub fn counters(&self) -> &Arc<Counters> {
        &self.counters
    }

    /// The shared NAT.
    pub fn nat(&self) -> &Arc<Nat> {
        &self.nat
    }

    /// The event sink.
    pub fn sink_mut(&mut self) -> &mut E {
        &mut self.sink
    }

    /// The sequencer that numbers this worker's events. The management
    /// core's PCP worker shares the sweeper's (producer `mgmt`) by swapping
    /// it in around each call, so the records of both are numbered
    /// consecutively as one producer.
    pub fn sequencer_mut(&mut self) -> &mut Sequencer {
        &mut self.seq
    }

    /// After [`Verdict::Hold`]: the datagram the held fragment belongs to.
    pub fn held_fragment_key(&self) -> FragmentKey {
        self.held_key
    }

    /// After a first fragment was translated: the datagram whose held
    /// fragments can now be processed again (once).
    pub fn take_resolved_fragment(&mut self) -> Option<FragmentKey> {
        self.resolved.take()
    }

    #[inline]
    pub(crate) fn random(&mut self) -> u32 {
        (splitmix64(&mut self.rng) >> 32) as u32
    }

    /// Translates the IPv4 packet `packet` (no link-layer header) received
    /// on `side`, in place. The buffer may be longer than the packet
    /// (Ethernet padding); the packet's length never changes.
    #[inline(always)]
    pub fn process(&mut self, side: Side, packet: &mut [u8], now: Instant) -> Verdict {
        self.count_rx(side);
        if self.fast_lane {
            // The parse stays in registers: the general path parses again
            // (only for packets the lane hands back, nothing changed).
            let prep = self.parse_plain(side, packet);
            if let Some(prep) = prep.filter(|p| p.fast) {
                self.begin(now);
                if let Some(v) = self.fast_lane(side, packet, &prep) {
                    return v;
                }
            }
        }
        self.process_again(side, packet, now)
    }

    /// Counts a packet received on `side`.
    #[inline(always)]
    fn count_rx(&self, side: Side) {
        self.counters.incr(match side {
            Side::Inside => Counter::RxInside,
            Side::Outside => Counter::RxOutside,
        });
    }

    /// [`Worker::process`] for a packet of a burst that went through
    /// [`Worker::prepare`] (and, from the outside, [`Worker::prepare_session`]):
    /// its headers are not parsed again nor its session key hashed again.
    /// `prep` must have been made from `packet` as it is now; the verdict,
    /// the rewritten bytes, counters and events are those `process` gives.
    #[inline(always)]
    pub fn process_prepared(&mut self, side: Side, packet: &mut [u8], prep: &Prepared, now: Instant) -> Verdict {
        self.count_rx(side);
        if prep.fast && self.fast_lane {
            self.begin(now);
            // The lane counts its own verdicts.
            if let Some(v) = self.fast_lane(side, packet, prep) {
                return v;
            }
        }
        self.finish(side, packet, prep, now)
    }

    /// Like [`Worker::process`], but the packet is not counted as received
    /// (`rx_inside`/`rx_outside`) again: for a packet that an earlier
    /// `process` call already counted and answered with [`Verdict::Hold`],
    /// i.e. a fragment the data plane held and now processes again after
    /// [`Worker::take_resolved_fragment`]. Its verdict is counted as usual.
    /// [`Worker::process`] also ends here, after counting the packet, for
    /// every packet the fast lane does not take (it parses again: the
    /// lane's parse stayed in registers).
    #[inline(never)]
    pub fn process_again(&mut self, side: Side, packet: &mut [u8], now: Instant) -> Verdict {
        let prep = self.parse(side, packet, super::prepared::RxChecksum::Unknown);
        self.finish(side, packet, &prep, now)
    }

    /// The per-packet state every translation starts from: the packet
    /// clock, and no block to wait for.
    #[inline(always)]
    pub(crate) fn begin(&mut self, now: Instant) {
        self.set_clock(now);
        self.await_block = None;
    }

    /// Sets the packet clock (and its session-table second when it moved).
    #[inline(always)]
    fn set_clock(&mut self, now: Instant) {
        if now != self.now {
            self.now = now;
            self.now_secs = now.secs32() & crate::table::session::SECONDS_MASK;
        }
    }

    /// Translates and counts the verdict (the general path: out of line,
    /// so the fast lane inlines into the caller's burst loop). A packet the
    /// lane handed back left no state, so starting again is harmless.
    #[inline(never)]
    fn finish(&mut self, side: Side, packet: &mut [u8], prep: &Prepared, now: Instant) -> Verdict {
        self.begin(now);
        let v = self.classify(side, packet, prep);
        self.count_verdict(v);
        v
    }

    /// Counts a verdict (a forwarded packet was counted as translated,
    /// hairpinned or bypassed where it was decided).
    #[inline(always)]
    pub(crate) fn count_verdict(&self, v: Verdict) {
        match v {
            Verdict::Drop(r) => self.counters.count_drop(r),
            Verdict::IcmpError { reason, .. } => {
                self.counters.count_drop(reason);
                self.counters.incr(Counter::IcmpErrorsRequested);
            }
            Verdict::Local => self.counters.incr(Counter::Local),
            Verdict::Fragment { .. } => self.counters.incr(Counter::NeedsFragmentation),
            Verdict::Hold => self.counters.incr(Counter::FragmentsHeld),
            Verdict::HoldUntilLogged { .. } => self.counters.incr(Counter::HeldForLog),
            Verdict::Forward(_) => {}
        }
    }

    /// Periodic work of the worker, called by the data plane between
    /// bursts (no I/O): emits the summarising `admission-limit` record of
    /// the last interval (issue 9 item 1: one record per interval with
    /// refusals, not one per refused source).
    pub fn housekeeping(&mut self, now: Instant) {
        self.set_clock(now);
        self.frags.expire_some(now);
        let t = &mut self.refusals;
        let secs = now.secs32();
        if t.since_secs == 0 {
            t.reset(secs);
            return;
        }
        if t.refused == 0 || secs.wrapping_sub(t.since_secs) < self.nat.runtime.summary_interval() {
            return;
        }
        let e = Event {
            seq: 0,
            worker: 0,
            time: now,
            kind: EventKind::AdmissionLimited,
            subscriber: Ipv4Addr::from(t.top_aggregate()),
            public_addr: Ipv4Addr::UNSPECIFIED,
            first_port: 0,
            last_port: 0,
            protocol: ProtocolScope::All,
            reason: Reason::Limit,
            aux: t.refused,
        };
        // A full ring keeps the tally for the next try.
        if self.seq.emit(&mut self.sink, e) {
            self.refusals.reset(secs);
            self.counters.incr(Counter::AdmissionSummaries);
        }
    }

    #[inline]
    fn classify(&mut self, side: Side, packet: &mut [u8], prep: &Prepared) -> Verdict {
        let p = match prep.header() {
            Ok(p) => *p,
            Err(reason) => return Verdict::Drop(reason),
        };
        let pkt = &mut packet[..p.total_len()];
        match side {
            Side::Inside => self.handle_inside(pkt, &p, prep),
            Side::Outside => self.handle_outside(pkt, &p, prep),
        }
    }

    /// Looks up the session of `key`, with its hash `hash` if the prefetch
    /// stage computed it (see [`Prepared`]).
    #[inline(always)]
    pub(crate) fn find_session(&self, key: &SessionKey, hash: Option<u64>) -> Option<SessionRef> {
        match hash {
            Some(h) => {
                debug_assert_eq!(h, self.nat.sessions.hash_of(key), "a Prepared of another packet");
                self.nat.sessions.find_hashed(key, h)
            }
            None => self.nat.sessions.find(key),
        }
    }

    fn is_echo_request(pkt: &[u8], p: &Parsed) -> bool {
        p.protocol == crate::wire::ip_protocol::ICMP
            && !p.is_fragment()
            && pkt.len() > p.header_len()
            && pkt[p.header_len()] == icmp::msg_type::ECHO_REQUEST
    }

    /// Checks common to every forwarded packet, before any rewrite so an
    /// ICMP error quotes the packet as its sender sent it.
    #[inline]
    fn forwarding_checks(&self, p: &Parsed, egress: Side) -> Result<Option<u16>, Verdict> {
        // RFC 1812 section 5.3.1: a packet arriving with TTL <= 1 is not forwarded.
        if p.ttl <= 1 {
            return Err(Verdict::IcmpError {
                reason: DropReason::TtlExpired,
                icmp_type: TIME_EXCEEDED,
                code: 0,
                mtu: 0,
            });
        }
        let mtu = match egress {
            Side::Inside => self.nat.config.inside_mtu,
            Side::Outside => self.nat.config.outside_mtu,
        };
        if p.total_len() > mtu as usize {
            // RFC 4787 REQ-13 / RFC 1191: DF set and too big → frag needed.
            if p.dont_frag() {
                return Err(Verdict::IcmpError {
                    reason: DropReason::FragmentationNeeded,
                    icmp_type: UNREACHABLE,
                    code: 4,
                    mtu,
                });
            }
            return Ok(Some(mtu));
        }
        Ok(None)
    }

    #[inline]
    fn done(&mut self, pkt: &mut [u8], egress: Side, fragment_to: Option<u16>) -> Verdict {
        ipv4::Packet::new_unchecked(&mut *pkt).decrement_ttl();
        self.leave(egress, fragment_to)
    }

    /// The verdict of a packet ready to leave (its TTL decremented).
    #[inline]
    pub(crate) fn leave(&mut self, egress: Side, fragment_to: Option<u16>) -> Verdict {
        if let Some(block) = self.await_block.take() {
            return Verdict::HoldUntilLogged {
                side: egress,
                mtu: fragment_to.unwrap_or(0),
                block,
            };
        }
        match fragment_to {
            Some(mtu) => Verdict::Fragment { side: egress, mtu },
            None => Verdict::Forward(egress),
        }
    }

    fn handle_inside(&mut self, pkt: &mut [u8], p: &Parsed, prep: &Prepared) -> Verdict {
        if !self.nat.is_inside(p.src) {
            return Verdict::Drop(DropReason::SpoofedSource);
        }
        let to_pool = prep.dst_pool();
        if to_pool.is_some() && Self::is_echo_request(pkt, p) {
            return Verdict::Local;
        }
        // RFC 6598 section 7: shared address space is not routed onwards;
        // subscribers reach each other through their public endpoints.
        if to_pool.is_none() && self.nat.is_inside(p.dst) && !self.nat.is_bypass(p.dst) {
            return Verdict::Drop(DropReason::Martian);
        }
        if to_pool.is_none() && self.nat.is_bypass(p.dst) {
            // RFC 6888 REQ-6: bypass destinations are routed untranslated.
            let frag = match self.forwarding_checks(p, Side::Outside) {
                Ok(f) => f,
                Err(v) => return v,
            };
            self.counters.incr(Counter::Bypassed);
            return self.done(pkt, Side::Outside, frag);
        }
        let egress = if to_pool.is_some() { Side::Inside } else { Side::Outside };
        let frag = match self.forwarding_checks(p, egress) {
            Ok(f) => f,
            Err(v) => return v,
        };
        if p.frag_offset() != 0 {
            return self.later_fragment(pkt, p, true, frag);
        }
        let Some(protocol) = Protocol::from_ip(p.protocol) else {
            return self.other_protocol();
        };
        let l4 = &pkt[p.header_len()..];
        let Some((sport, dport, flags)) = prep.ports() else {
            return Verdict::Drop(if p.is_fragment() {
                DropReason::TinyFragment
            } else {
                DropReason::Malformed
            });
        };
        if protocol == Protocol::Icmp {
            let t = l4[0];
            if t == icmp::msg_type::ECHO_REQUEST {
                // query: translated below with the identifier as the port
            } else if icmp::Packet::new_unchecked(l4).is_error() {
                let r = self.icmp_error_from_inside(pkt, p).and_then(|()| match to_pool {
                    // RFC 5508 REQ-7a: a hairpinned error (about a packet from
                    // another subscriber's public endpoint) goes back inside,
                    // addressed to the quoted packet's source after translation.
                    Some(dst_index) => self.icmp_error_from_outside(pkt, p, dst_index),
                    None => Ok(()),
                });
                return match r {
                    Ok(()) => self.done(pkt, egress, frag),
                    Err(v) => v,
                };
            } else {
                return Verdict::Drop(DropReason::UnsupportedIcmp);
            }
        }
        let (pool_index, public_port) = match self.outbound(protocol, p.src, sport, p.dst, dport, flags, prep.session()) {
            Ok(x) => x,
            Err(v) => return v,
        };
        let public = self.nat.pool.addr_of(pool_index);
        // The last rewrite also decrements the TTL (one header checksum update).
        rewrite::rewrite_endpoint(pkt, p, protocol, End::Source, public, public_port, to_pool.is_none());
        let mut new_dst = p.dst;
        if let Some(dst_index) = to_pool {
            // RFC 4787 REQ-9 hairpinning: the packet goes back inside,
            // seen as coming from the sender's public address and port.
            let (inside, inside_port) = match self.inbound(protocol, dst_index, dport, public, public_port, flags, None) {
                Ok(x) => x,
                Err(v) => return v,
            };
            rewrite::rewrite_endpoint(pkt, p, protocol, End::Destination, inside, inside_port, true);
            new_dst = inside;
            self.counters.incr(Counter::Hairpinned);
        } else {
            self.counters.incr(Counter::TranslatedOut);
        }
        if p.more_frags() {
            self.record_first_fragment(pkt, p, true, public, new_dst, egress);
        }
        self.leave(egress, frag)
    }

    fn handle_outside(&mut self, pkt: &mut [u8], p: &Parsed, prep: &Prepared) -> Verdict {
        // RFC 6598 section 7 / RFC 1812 section 5.3.7: a subscriber or pool
        // source arriving from the internet is spoofed.
        if self.nat.is_inside(p.src) || self.nat.pool.index_of(p.src).is_some() {
            return Verdict::Drop(DropReason::Martian);
        }
        let Some(pool_index) = prep.dst_pool() else {
            if self.nat.is_inside(p.dst) && self.nat.is_bypass(p.src) {
                let frag = match self.forwarding_checks(p, Side::Inside) {
                    Ok(f) => f,
                    Err(v) => return v,
                };
                self.counters.incr(Counter::Bypassed);
                return self.done(pkt, Side::Inside, frag);
            }
            return Verdict::Drop(DropReason::NotForPool);
        };
        if Self::is_echo_request(pkt, p) {
            return Verdict::Local;
        }
        let frag = match self.forwarding_checks(p, Side::Inside) {
            Ok(f) => f,
            Err(v) => return v,
        };
        if p.frag_offset() != 0 {
            return self.later_fragment(pkt, p, false, frag);
        }
        let Some(protocol) = Protocol::from_ip(p.protocol) else {
            return self.other_protocol();
        };
        let l4 = &pkt[p.header_len()..];
        let Some((sport, dport, flags)) = prep.ports() else {
            return Verdict::Drop(if p.is_fragment() {
                DropReason::TinyFragment
            } else {
                DropReason::Malformed
            });
        };
        if protocol == Protocol::Icmp {
            let t = l4[0];
            if t == icmp::msg_type::ECHO_REPLY {
                // query reply: the identifier is the public "port"
            } else if icmp::Packet::new_unchecked(l4).is_error() {
                return match self.icmp_error_from_outside(pkt, p, pool_index) {
                    Ok(()) => self.done(pkt, Side::Inside, frag),
                    Err(v) => v,
                };
            } else {
                return Verdict::Drop(DropReason::UnsupportedIcmp);
            }
        }
        let remote_port = if protocol == Protocol::Icmp { 0 } else { sport };
        let (inside, inside_port) = match self.inbound(protocol, pool_index, dport, p.src, remote_port, flags, prep.session()) {
            Ok(x) => x,
            Err(v) => return v,
        };
        rewrite::rewrite_endpoint(pkt, p, protocol, End::Destination, inside, inside_port, true);
        self.counters.incr(Counter::TranslatedIn);
        if p.more_frags() {
            self.record_first_fragment(pkt, p, false, p.src, inside, Side::Inside);
        }
        self.leave(Side::Inside, frag)
    }

    fn other_protocol(&self) -> Verdict {
        match self.nat.config.other_protocols {
            OtherProtocols::Drop => Verdict::Drop(DropReason::UnsupportedProtocol),
            OtherProtocols::Reject => Verdict::IcmpError {
                reason: DropReason::UnsupportedProtocol,
                icmp_type: UNREACHABLE,
                code: 2,
                mtu: 0,
            },
        }
    }

    /// Remembers how the first fragment `pkt` (its header `p` as received;
    /// the Identification is not rewritten) was translated.
    fn record_first_fragment(&mut self, pkt: &[u8], p: &Parsed, from_inside: bool, src: u32, dst: u32, side: Side) {
        let key = Self::fragment_key(pkt, p, from_inside);
        match self.frags.record(key, FragmentRewrite { src, dst, side }, self.now) {
            Ok(()) => self.resolved = Some(key),
            Err(RecordError::Full) => self.counters.count_drop(DropReason::FragmentCacheFull),
            Err(RecordError::SourceLimit) => self.counters.count_drop(DropReason::FragmentSourceLimit),
        }
    }

    /// The datagram a fragment belongs to (RFC 791: source, destination,
    /// protocol and Identification), read from the packet's header `p` and,
    /// for the Identification, its bytes (the fast path never needs it).
    fn fragment_key(pkt: &[u8], p: &Parsed, from_inside: bool) -> FragmentKey {
        FragmentKey {
            src: p.src,
            dst: p.dst,
            protocol: p.protocol,
            ident: ipv4::Packet::new_unchecked(pkt).ident(),
            from_inside,
        }
    }

    /// RFC 4787 REQ-14: a non-first fragment is rewritten like its first
    /// fragment was, or held until that first fragment arrives.
    fn later_fragment(&mut self, pkt: &mut [u8], p: &Parsed, from_inside: bool, frag: Option<u16>) -> Verdict {
        // RFC 1858 section 3: a TCP fragment at offset 8 can overwrite the
        // flags of the first one; drop it.
        if p.protocol == crate::wire::ip_protocol::TCP && p.frag_offset() == 8 {
            return Verdict::Drop(DropReason::TinyFragment);
        }
        let key = Self::fragment_key(pkt, p, from_inside);
        match self.frags.lookup(&key, self.now) {
            Some(rw) => {
                if rw.src != p.src {
                    rewrite::rewrite_addr(pkt, End::Source, rw.src);
                }
                if rw.dst != p.dst {
                    rewrite::rewrite_addr(pkt, End::Destination, rw.dst);
                }
                self.counters.incr(Counter::FragmentsTranslated);
                self.done(pkt, rw.side, frag)
            }
            None => {
                self.held_key = key;
                Verdict::Hold
            }
        }
    }

    /// The verdict for a resource or quota failure (RFC 6888 REQ-11: drop,
    /// count, and optionally answer ICMP host unreachable).
    pub(crate) fn exhausted(&self, reason: DropReason) -> Verdict {
        if self.nat.runtime.icmp_on_exhaustion() {
            Verdict::IcmpError {
                reason,
                icmp_type: UNREACHABLE,
                code: 1,
                mtu: 0,
            }
        } else {
            Verdict::Drop(reason)
        }
    }

    /// Emits a quota or exhaustion event, at most one per subscriber and kind
    /// every few seconds per worker so a flood cannot flood the log. A full
    /// table and an exhausted pool are limited per table and per public
    /// address instead (not per subscriber): a flood of new sources would
    /// otherwise log one record each (issue 9).
    pub(crate) fn quota_event(&mut self, kind: EventKind, subscriber: u32, public: u32, protocol: Protocol, aux: u32) {
        let key = match kind {
            EventKind::TableFull => aux,
            EventKind::PoolExhausted => public,
            _ => subscriber,
        };
        let aux = aux as u64;
        let now = self.now.secs32();
        let i = (key.wrapping_mul(0x9E37_79B9) >> 26) as usize;
        let (s, k, t) = self.recent_quota[i];
        if s == key && k == kind as u8 && now.wrapping_sub(t) < QUOTA_EVENT_INTERVAL_SECS && t != 0 {
            return;
        }
        self.recent_quota[i] = (key, kind as u8, now.max(1));
        let scope = match protocol {
            Protocol::Tcp => ProtocolScope::Tcp,
            Protocol::Udp => ProtocolScope::Udp,
            Protocol::Icmp => ProtocolScope::Icmp,
        };
        let e = Event {
            seq: 0,
            worker: 0,
            time: self.now,
            kind,
            subscriber: Ipv4Addr::from(subscriber),
            public_addr: Ipv4Addr::from(public),
            first_port: 0,
            last_port: 0,
            protocol: scope,
            reason: Reason::Limit,
            aux,
        };
        let _ = self.seq.emit(&mut self.sink, e);
    }

    /// Emits a table-full event (rate-limited like quota events).
    pub(crate) fn table_full(&mut self, table: TableId, subscriber: u32, protocol: Protocol) {
        self.quota_event(EventKind::TableFull, subscriber, 0, protocol, table as u32);
    }

    #[inline]
    pub(crate) fn new_value(&self, public_port: u16, protocol: Protocol, outbound: bool, flags: u8, extra: u64) -> SessionValue {
        let tcp = if protocol == Protocol::Tcp {
            tcp_state::initial(outbound, flags)
        } else {
            0
        };
        SessionValue::new(public_port, self.now.secs32(), tcp, extra)
    }
}
