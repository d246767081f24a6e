//! The PCP server (RFC 6887) with NAT-PMP compatibility (RFC 6886, RFC
//! 6887 Appendix A): issue 12, decision 017. Sans-IO: the management core
//! hands it each datagram a subscriber sent to the appliance's inside
//! address on port 5351 and sends back what it writes; the NAT's state
//! changes go through a [`Worker`] of the management core
//! ([`Worker::pcp_map`], [`Worker::pcp_unmap`]). The server keeps what the
//! workers do not need: nonces, lifetimes, per-subscriber counts.
//!
//! Built: ANNOUNCE (and the unsolicited one after a start); MAP and PEER
//! for TCP and UDP with nonces (section 11.2), lifetimes clamped to the
//! server's bounds and 0 to delete (section 15); FILTER (13.3: the
//! workers then admit only the named peers), PREFER_FAILURE (13.2),
//! THIRD_PARTY for trusted clients only (13.1); the client address check
//! (ADDRESS_MISMATCH); a per-subscriber limit (USER_EX_QUOTA); NAT-PMP's
//! external address and mapping requests. A suggested external port is
//! taken when the endpoint has no mapping yet and the port is free in a
//! block the subscriber holds or can get (or in its deterministic range).
//!
//! The NAT holds one PCP mark per internal endpoint (its EIM mapping); the
//! endpoint's MAP (or NAT-PMP) entry and its PEER entries share it and it
//! goes with the last of them. The rules the workers apply to inbound
//! packets are the MAP entry's FILTER options, or without a MAP entry the
//! PEER entries' remotes, which then add to the NAT's filtering behaviour
//! instead of replacing it.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use core::net::Ipv4Addr;

use crate::event::{EventKind, EventSink, Reason};
use crate::flow::Protocol;
use crate::time::Instant;
use crate::translate::{PcpGrant, PcpRefusal, Worker};
use crate::wire::pcp::{self, MapData, Operation, Options, PeerData, Request, RequestError, Response, ResultCode};
use mapping::filter_set;

mod datagram;
mod filters;
mod mapping;
mod natpmp;

pub use datagram::{NotARequest, PcpDatagram, ANSWER_TTL, MAX_IPV4_LEN};
pub use filters::{FilterError, PcpFilters, PeerFilter, PeerVerdict, CAPACITY as FILTERED_MAPPINGS, MAX_FILTERS};
pub use mapping::{FilterSet, PcpKind, PcpLimits, PcpMapping, Reply};

/// Lifetime of a short-lifetime error (RFC 6887 section 7.4: the client
/// may retry soon).
const SHORT_ERROR_LIFETIME: u32 = 30;
/// Lifetime of a long-lifetime error (section 7.4 suggests 30 minutes).
const LONG_ERROR_LIFETIME: u32 = 1800;

/// The endpoint of a mapping: protocol, internal address, internal port.
type Key = (Protocol, u32, u16);

/// A server entry: the MAP (or NAT-PMP) mapping of an endpoint, or one of
/// its PEER mappings (with the remote address and port).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Entry {
    Map(Key),
    Peer(Key, u32, u16),
}

impl Entry {
    fn key(self) -> Key {
        match self {
            Entry::Map(k) | Entry::Peer(k, ..) => k,
        }
    }
}

/// What a client asks of [`PcpServer::map_endpoint`].
struct Ask {
    /// The entry.
    entry: Entry,
    /// The client's nonce.
    nonce: [u8; 12],
    /// The requested lifetime, seconds.
    lifetime: u32,
    /// The suggested external port (0: none), taken if the subscriber's
    /// blocks have it free.
    suggested: u16,
    /// PREFER_FAILURE's suggested port and address: no other mapping.
    prefer: Option<(u16, Option<Ipv4Addr>)>,
    /// MAP, PEER or NAT-PMP.
    kind: PcpKind,
    /// New FILTER options (MAP), or `None` to keep the mapping's.
    filters: Option<FilterSet>,
}

/// The PCP server.
pub struct PcpServer {
    limits: PcpLimits,
    start: Instant,
    entries: BTreeMap<Entry, PcpMapping>,
    /// The entries by expiry, so that [`PcpServer::expire`] visits only
    /// the due ones (it runs every management tick).
    by_expiry: BTreeSet<(Instant, Entry)>,
    /// Entries per endpoint: the NAT's hold goes with the last one.
    holders: HashMap<Key, u32>,
    per_subscriber: HashMap<u32, u32>,
    results: [u64; ResultCode::COUNT],
}

impl PcpServer {
    /// A server started at `start` (its epoch, RFC 6887 section 8.5: a
    /// restart resets it, which tells clients to renew their mappings).
    pub fn new(limits: PcpLimits, start: Instant) -> PcpServer {
        PcpServer {
            limits,
            start,
            entries: BTreeMap::new(),
            by_expiry: BTreeSet::new(),
            holders: HashMap::new(),
            per_subscriber: HashMap::new(),
            results: [0; ResultCode::COUNT],
        }
    }

    /// Replaces the server's bounds (a configuration reload): they apply
    /// to the next requests; mappings keep the lifetimes they were granted.
    pub fn set_limits(&mut self, limits: PcpLimits) {
        self.limits = limits;
    }

    /// Begins a new epoch at `now`: the server lost its state (an HA node
    /// took over without the PCP mappings, issue 13), and RFC 6887
    /// section 8.5 has clients that see the epoch go back renew theirs.
    pub fn restart_epoch(&mut self, now: Instant) {
        self.start = now;
    }

    /// Seconds since the epoch began.
    pub fn epoch(&self, now: Instant) -> u32 {
        now.as_secs().saturating_sub(self.start.as_secs()).min(u64::from(u32::MAX)) as u32
    }

    /// The mappings held (MAP, PEER and NAT-PMP), by endpoint.
    pub fn mappings(&self) -> impl Iterator<Item = &PcpMapping> {
        self.entries.values()
    }

    /// PCP answers sent, by result code.
    pub fn results(&self) -> &[u64; ResultCode::COUNT] {
        &self.results
    }

    /// Handles one datagram from the subscriber address `src`, writing the
    /// answer into `out` (at least [`pcp::MAX_LEN`] bytes; a shorter one
    /// may get [`Reply::None`]).
    pub fn handle<E: EventSink>(&mut self, w: &mut Worker<E>, src: Ipv4Addr, data: &[u8], now: Instant, out: &mut [u8]) -> Reply {
        if pcp::version_of(data) == Some(crate::wire::natpmp::VERSION) {
            return self.handle_natpmp(w, src, data, now, out);
        }
        let req = match Request::parse(data) {
            Ok(r) => r,
            Err(RequestError::Drop) => return Reply::None,
            Err(RequestError::Reply(code)) => {
                // Header only: the request could not be read further.
                let Some(header) = out.get_mut(..pcp::HEADER_LEN) else {
                    return Reply::None;
                };
                let mut p = pcp::Packet::new_unchecked(header);
                p.emit_response_header(pcp::opcode_of(data), code, error_lifetime(code), self.epoch(now));
                self.results[code as usize] += 1;
                return Reply::Send(pcp::HEADER_LEN);
            }
        };
        let (result, lifetime, op, block) = match self.serve(w, src, &req, now) {
            Ok((lifetime, op, block)) => (ResultCode::Success, lifetime, op, block),
            // Section 7.3 / 11.3: an error answer carries the request's
            // opcode data; nothing changed.
            Err(code) => (code, error_lifetime(code), req.op.clone(), None),
        };
        self.results[result as usize] += 1;
        let resp = Response {
            result,
            lifetime,
            epoch: self.epoch(now),
            op,
            options: req.options.clone(),
        };
        // An output shorter than the answer (the caller's mistake) sends
        // nothing rather than a cut answer.
        let Ok(len) = resp.emit(out) else {
            return Reply::None;
        };
        match block {
            Some(block) => Reply::AfterBlock { len, block },
            None => Reply::Send(len),
        }
    }

    /// Writes an unsolicited ANNOUNCE response into `out` (RFC 6887
    /// section 14.1.3: sent after the server started or lost its state, so
    /// that clients re-create their mappings; its epoch is near 0); returns
    /// its length, or `None` if `out` is shorter than a header.
    pub fn announcement(&self, now: Instant, out: &mut [u8]) -> Option<usize> {
        let header = out.get_mut(..pcp::HEADER_LEN)?;
        let mut p = pcp::Packet::new_unchecked(header);
        p.emit_response_header(pcp::opcode::ANNOUNCE, ResultCode::Success, 0, self.epoch(now));
        Some(pcp::HEADER_LEN)
    }

    /// Forgets the mappings whose hold the NAT no longer has (an operator's
    /// `cgnatctl clear` dropped them with their sessions and blocks), each
    /// endpoint logged `pcp-unmap` (reason `cleared`); returns how many.
    pub fn forget_cleared<E: EventSink>(&mut self, w: &mut Worker<E>, now: Instant) -> usize {
        let gone: Vec<(Entry, PcpMapping)> = self
            .entries
            .iter()
            .filter(|(e, _)| {
                let (p, a, port) = e.key();
                !w.pcp_mapped(p, Ipv4Addr::from(a), port)
            })
            .map(|(e, m)| (*e, *m))
            .collect();
        for (e, m) in &gone {
            self.entries.remove(e);
            self.by_expiry.remove(&(m.expires, *e));
            self.uncount(e.key().1);
            let _ = w.pcp_filter(m.protocol, m.public_addr, m.public_port, &[], false);
            if self.holders.remove(&e.key()).is_some() {
                let _ = w.log_pcp(EventKind::PcpUnmap, Reason::Cleared, m, now);
            }
        }
        gone.len()
    }

    /// Ends every mapping at a clean shutdown (logged `pcp-unmap`, reason
    /// `shutdown`, before the blocks' releases); returns how many.
    pub fn shutdown<E: EventSink>(&mut self, w: &mut Worker<E>, now: Instant) -> usize {
        let all: Vec<Entry> = self.entries.keys().copied().collect();
        for e in &all {
            self.remove(w, *e, Reason::Shutdown, now);
        }
        all.len()
    }

    /// Ends every mapping whose lifetime ran out by `now` (RFC 6887 section
    /// 15); returns how many.
    pub fn expire<E: EventSink>(&mut self, w: &mut Worker<E>, now: Instant) -> usize {
        let mut n = 0;
        while let Some(&(at, entry)) = self.by_expiry.first() {
            if at > now {
                break;
            }
            self.remove(w, entry, Reason::Expired, now);
            n += 1;
        }
        n
    }

    /// A request checked against its source, served.
    fn serve<E: EventSink>(
        &mut self,
        w: &mut Worker<E>,
        src: Ipv4Addr,
        req: &Request,
        now: Instant,
    ) -> Result<(u32, Operation, Option<u32>), ResultCode> {
        // Section 8.1: the client's address field must be the packet's
        // source (else a NAT sits between them).
        if pcp::unmapped(req.client) != Some(src) {
            return Err(ResultCode::AddressMismatch);
        }
        let (m, peer) = match &req.op {
            Operation::Announce => return Ok((0, Operation::Announce, None)),
            Operation::Peer(p) => (&p.map, Some(p)),
            Operation::Map(m) => (m, None),
        };
        let internal = self.internal_host(src, &req.options)?;
        let protocol = match m.protocol {
            crate::wire::ip_protocol::TCP => Protocol::Tcp,
            crate::wire::ip_protocol::UDP => Protocol::Udp,
            _ => return Err(ResultCode::UnsuppProtocol),
        };
        // Section 11.1: internal port 0 is only for protocol 0 (all).
        if m.internal_port == 0 {
            return Err(ResultCode::MalformedRequest);
        }
        let key = (protocol, u32::from(internal), m.internal_port);
        let (entry, kind) = match peer {
            None => (Entry::Map(key), PcpKind::Map),
            Some(p) => {
                // Section 12.1: a PEER names one remote endpoint (IPv4 here).
                let remote = pcp::unmapped(p.remote_addr)
                    .filter(|a| !a.is_unspecified())
                    .ok_or(ResultCode::MalformedRequest)?;
                if p.remote_port == 0 {
                    return Err(ResultCode::MalformedRequest);
                }
                (
                    Entry::Peer(key, u32::from(remote), p.remote_port),
                    PcpKind::Peer {
                        remote,
                        remote_port: p.remote_port,
                    },
                )
            }
        };
        if req.lifetime == 0 {
            self.unmap_entry(w, entry, m.nonce, now)?;
            return Ok((0, req.op.clone(), None));
        }
        let filters = filter_set(&req.options.filters)?;
        let prefer = req
            .options
            .prefer_failure
            .then(|| (m.external_port, pcp::unmapped(m.external_addr).filter(|a| !a.is_unspecified())));
        let ask = Ask {
            entry,
            nonce: m.nonce,
            lifetime: req.lifetime,
            suggested: m.external_port,
            prefer,
            kind,
            filters,
        };
        let (lifetime, g) = self.map_endpoint(w, ask, now)?;
        let assigned = MapData {
            external_port: g.public_port,
            external_addr: pcp::mapped(g.public_addr),
            ..*m
        };
        let op = match peer {
            None => Operation::Map(assigned),
            Some(p) => Operation::Peer(PeerData { map: assigned, ..*p }),
        };
        Ok((lifetime, op, g.pending_block))
    }

    /// The host a MAP or PEER is for: the source, or with THIRD_PARTY
    /// (section 13.1) the named host, for trusted clients only.
    fn internal_host(&self, src: Ipv4Addr, options: &Options) -> Result<Ipv4Addr, ResultCode> {
        let Some(tp) = options.third_party else {
            return Ok(src);
        };
        if self.limits.third_party_from.is_empty() {
            return Err(ResultCode::UnsuppOption);
        }
        if !self.limits.third_party_from.iter().any(|p| p.contains(src)) {
            return Err(ResultCode::NotAuthorized);
        }
        pcp::unmapped(tp).ok_or(ResultCode::MalformedOption)
    }

    /// Creates or refreshes an entry as `ask` says (section 11.3: a
    /// mapping belongs to the nonce that made it); returns the lifetime
    /// granted and the NAT's grant.
    fn map_endpoint<E: EventSink>(&mut self, w: &mut Worker<E>, ask: Ask, now: Instant) -> Result<(u32, PcpGrant), ResultCode> {
        let Ask {
            entry,
            nonce,
            lifetime,
            suggested,
            prefer,
            kind,
            filters,
        } = ask;
        let key = entry.key();
        let (protocol, inside, port) = key;
        let existing = self.entries.get(&entry).copied();
        if existing.is_some_and(|e| e.nonce != nonce) {
            return Err(ResultCode::NotAuthorized);
        }
        if existing.is_none() && self.per_subscriber.get(&inside).copied().unwrap_or(0) >= self.limits.max_mappings_per_subscriber {
            return Err(ResultCode::UserExQuota);
        }
        let held = self.holders.get(&key).copied().unwrap_or(0) > 0;
        let g = w
            .pcp_map(protocol, Ipv4Addr::from(inside), port, Some(suggested), now)
            .map_err(|r| match r {
                PcpRefusal::NotInside => ResultCode::NotAuthorized,
                PcpRefusal::UnsupportedProtocol => ResultCode::UnsuppProtocol,
                PcpRefusal::Refused(_) => ResultCode::NoResources,
            })?;
        // The NAT's hold is the endpoint's, shared by its entries.
        let undo = |w: &mut Worker<E>| {
            if !held {
                w.pcp_unmap(protocol, Ipv4Addr::from(inside), port);
            }
        };
        if let Some((want_port, want_addr)) = prefer {
            let port_ok = want_port == 0 || want_port == g.public_port;
            let addr_ok = want_addr.is_none_or(|a| a == g.public_addr);
            if !(port_ok && addr_ok) {
                // Section 13.2: no other mapping than the one asked for.
                undo(w);
                return Err(ResultCode::CannotProvideExternal);
            }
        }
        let lifetime = lifetime.clamp(self.limits.min_lifetime, self.limits.max_lifetime);
        let m = PcpMapping {
            protocol,
            inside: Ipv4Addr::from(inside),
            inside_port: port,
            public_addr: g.public_addr,
            public_port: g.public_port,
            nonce,
            expires: now.plus_secs(u64::from(lifetime)),
            kind,
            filters: filters.or(existing.map(|e| e.filters)).unwrap_or_default(),
        };
        let old = self.entries.insert(entry, m);
        if let Err(code) = self.sync_rules(w, key) {
            match old {
                Some(o) => {
                    self.entries.insert(entry, o);
                }
                None => {
                    self.entries.remove(&entry);
                    undo(w);
                }
            }
            let _ = self.sync_rules(w, key);
            return Err(code);
        }
        // The NAT log first: no PCP mapping without its record.
        if !held && !w.log_pcp(EventKind::PcpMap, Reason::PcpRequest, &m, now) {
            self.entries.remove(&entry);
            undo(w);
            let _ = self.sync_rules(w, key);
            return Err(ResultCode::NoResources);
        }
        match old {
            Some(o) => {
                self.by_expiry.remove(&(o.expires, entry));
            }
            None => {
                *self.per_subscriber.entry(inside).or_default() += 1;
                *self.holders.entry(key).or_default() += 1;
            }
        }
        self.by_expiry.insert((m.expires, entry));
        Ok((lifetime, g))
    }

    /// Writes the rules the workers apply to the endpoint's public port:
    /// its MAP mapping's FILTER options (section 13.3; none: every peer),
    /// or without a MAP mapping its PEER mappings' remotes (section 12).
    fn sync_rules<E: EventSink>(&self, w: &Worker<E>, key: Key) -> Result<(), ResultCode> {
        let lo = Entry::Peer(key, 0, 0);
        let hi = Entry::Peer(key, u32::MAX, u16::MAX);
        let map = self.entries.get(&Entry::Map(key));
        let any = map.or_else(|| self.entries.range(lo..=hi).next().map(|(_, m)| m));
        let Some(first) = any else { return Ok(()) };
        let (rules, additive) = match map {
            Some(m) => (m.filters.to_vec(), false),
            None => {
                let peers: Vec<PeerFilter> = self
                    .entries
                    .range(lo..=hi)
                    .filter_map(|(_, m)| match m.kind {
                        PcpKind::Peer { remote, remote_port } => Some(PeerFilter {
                            addr: u32::from(remote),
                            prefix_len: 32,
                            port: remote_port,
                        }),
                        _ => None,
                    })
                    .collect();
                (peers, true)
            }
        };
        w.pcp_filter(first.protocol, first.public_addr, first.public_port, &rules, additive)
            .map_err(|e| match e {
                FilterError::TooMany => ResultCode::ExcessiveRemotePeers,
                FilterError::Full => ResultCode::NoResources,
            })
    }

    /// Deletes an entry if `nonce` owns it (section 15: a delete of a
    /// mapping that does not exist succeeds).
    fn unmap_entry<E: EventSink>(&mut self, w: &mut Worker<E>, entry: Entry, nonce: [u8; 12], now: Instant) -> Result<(), ResultCode> {
        match self.entries.get(&entry) {
            Some(e) if e.nonce != nonce => Err(ResultCode::NotAuthorized),
            Some(_) => {
                self.remove(w, entry, Reason::PcpRequest, now);
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// Forgets an entry; the NAT's hold on the endpoint goes with its last
    /// (logged `pcp-unmap` with `reason`).
    fn remove<E: EventSink>(&mut self, w: &mut Worker<E>, entry: Entry, reason: Reason, now: Instant) {
        let Some(m) = self.entries.remove(&entry) else { return };
        let key = entry.key();
        self.by_expiry.remove(&(m.expires, entry));
        self.uncount(key.1);
        let last = match self.holders.get_mut(&key) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            _ => {
                self.holders.remove(&key);
                true
            }
        };
        if last {
            let _ = w.pcp_filter(m.protocol, m.public_addr, m.public_port, &[], false);
            w.pcp_unmap(key.0, Ipv4Addr::from(key.1), key.2);
            let _ = w.log_pcp(EventKind::PcpUnmap, reason, &m, now);
        } else {
            let _ = self.sync_rules(w, key);
        }
    }

    /// One mapping fewer for subscriber `inside`.
    fn uncount(&mut self, inside: u32) {
        if let Some(n) = self.per_subscriber.get_mut(&inside) {
            *n -= 1;
            if *n == 0 {
                self.per_subscriber.remove(&inside);
            }
        }
    }
}

/// The lifetime an error answer carries (RFC 6887 section 7.4).
fn error_lifetime(code: ResultCode) -> u32 {
    if code.is_short_lifetime() {
        SHORT_ERROR_LIFETIME
    } else {
        LONG_ERROR_LIFETIME
    }
}
