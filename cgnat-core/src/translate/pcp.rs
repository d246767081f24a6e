//! The NAT side of PCP MAP mappings (RFC 6887 section 11; issue 12,
//! decision 017): a mapping of a subscriber's internal endpoint that holds
//! its public port whether or not sessions use it, and that lets inbound
//! packets in whatever `nat.filtering` says.
//!
//! The mapping is the ordinary endpoint-independent one (RFC 4787 REQ-1):
//! if the endpoint already has one, MAP gets its port (the flows it has
//! keep working); otherwise a port is taken as for a first packet, from the
//! subscriber's blocks or a new one whose allocation record is logged
//! first, so the NAT log attributes every PCP port to its subscriber. The
//! hold is one reference on the port record with the record's PCP mark
//! ([`crate::pool::PortEntry::mark_pcp`]): the sweeper frees neither the
//! port nor its block while it is set. The PCP server (management core)
//! keeps lifetimes and nonces and calls [`Worker::pcp_unmap`] when a
//! mapping expires or is deleted.

use core::net::Ipv4Addr;

use super::{Verdict, Worker};
use crate::counters::DropReason;
use crate::event::{Event, EventKind, EventSink, ProtocolScope, Reason};
use crate::flow::{MappingKey, Protocol, SessionKey};
use crate::time::Instant;

/// A PCP mapping the NAT holds for an internal endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcpGrant {
    /// The subscriber's public address (paired pooling, RFC 6888 REQ-2).
    pub public_addr: Ipv4Addr,
    /// The public port, in one of the subscriber's blocks.
    pub public_port: u16,
    /// `false` when the endpoint already had a PCP mapping (a refresh).
    pub created: bool,
    /// The block whose allocation record is not durable yet, if any: the
    /// answer must wait for it (decision 008: no port is used before its
    /// record is durable).
    pub pending_block: Option<u32>,
}

/// Why the NAT did not grant a PCP mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PcpRefusal {
    /// The internal address is not in `nat.inside_prefixes`.
    NotInside,
    /// Not TCP or UDP (a PCP server answers UNSUPP_PROTOCOL).
    UnsupportedProtocol,
    /// The subscriber could not get a port, or a table was full; the
    /// reason is the one a first packet would have been dropped for.
    Refused(DropReason),
}

impl<E: EventSink> Worker<E> {
    /// Creates or refreshes the PCP mapping of `inside`:`inside_port` for
    /// `protocol` at `now` (RFC 6887 section 11.3: the mapping's external
    /// port is the endpoint's existing one, if any; else `suggested` if it
    /// lies in a block the subscriber holds and is free; else any port of
    /// its blocks or of a new one). The subscriber is created if needed,
    /// under the same admission limits as a first packet (RFC 6888
    /// section 6).
    pub fn pcp_map(
        &mut self,
        protocol: Protocol,
        inside: Ipv4Addr,
        inside_port: u16,
        suggested: Option<u16>,
        now: Instant,
    ) -> Result<PcpGrant, PcpRefusal> {
        if !self.nat.is_inside(u32::from(inside)) {
            return Err(PcpRefusal::NotInside);
        }
        if protocol == Protocol::Icmp {
            return Err(PcpRefusal::UnsupportedProtocol);
        }
        self.begin(now);
        // The mapping key ignores the remote endpoint.
        let key = SessionKey::new(protocol, u32::from(inside), inside_port, 0, 0);
        let (sub, counted) = self.subscriber_for(&key).map_err(refusal)?;
        let port = self.mapping_preferring(&key, sub, suggested.filter(|p| *p != 0));
        // A subscriber created just now counted the session a first packet
        // would open; the PCP hold is not a session. Given back after the
        // mapping, whose block keeps the subscriber from the sweeper.
        if counted {
            self.nat.subscribers.release_session(sub.index);
        }
        let port = port.map_err(refusal)?;
        let nat = &*self.nat;
        let block = nat
            .pool
            .block_of(sub.pool_index, port)
            .ok_or(PcpRefusal::Refused(DropReason::SessionRace))?;
        let entry = nat.pool.port(protocol, block, port);
        let created = match entry.mark_pcp(inside_port) {
            Some(true) => true,
            Some(false) => {
                // A refresh: the reference `mapping_for` added is not needed.
                let last = entry.release(false);
                debug_assert!(!last, "the PCP hold keeps a reference");
                false
            }
            None => {
                crate::sweeper::release_mapping_ref(nat, &key.mapping(), sub.pool_index, port, false);
                return Err(PcpRefusal::Refused(DropReason::SessionRace));
            }
        };
        Ok(PcpGrant {
            public_addr: Ipv4Addr::from(nat.pool.addr_of(sub.pool_index)),
            public_port: port,
            created,
            pending_block: self.await_block,
        })
    }

    /// Ends the PCP mapping of `inside`:`inside_port` for `protocol` (its
    /// lifetime ran out, or a request with lifetime 0 deleted it, RFC 6887
    /// section 15). Sessions of the mapping go on until they expire; the
    /// port is freed with the last one. `false` if there was none.
    pub fn pcp_unmap(&mut self, protocol: Protocol, inside: Ipv4Addr, inside_port: u16) -> bool {
        let nat = &*self.nat;
        let mk = MappingKey {
            protocol,
            inside_addr: u32::from(inside),
            inside_port,
        };
        let Some(m) = nat.mappings.find(&mk) else {
            return false;
        };
        let Some(block) = nat.pool.block_of(m.pool_index, m.public_port) else {
            return false;
        };
        if !nat.pool.port(protocol, block, m.public_port).unmark_pcp(inside_port) {
            return false;
        }
        crate::sweeper::release_mapping_ref(nat, &mk, m.pool_index, m.public_port, false);
        true
    }

    /// Queues a `pcp-map` or `pcp-unmap` record of `m` at `now` (issue 12
    /// item 5: the NAT log tells who mapped what and when; the port lies in
    /// a block the log attributes to the subscriber). `false` if the log
    /// refused it (stalled): a mapping is then not created.
    pub fn log_pcp(&mut self, kind: EventKind, reason: Reason, m: &crate::pcp::PcpMapping, now: Instant) -> bool {
        let e = Event {
            seq: 0,
            worker: 0,
            time: now,
            kind,
            subscriber: m.inside,
            public_addr: m.public_addr,
            first_port: m.public_port,
            last_port: m.public_port,
            protocol: match m.protocol {
                Protocol::Tcp => ProtocolScope::Tcp,
                _ => ProtocolScope::Udp,
            },
            reason,
            aux: u64::from(m.inside_port),
        };
        self.seq.emit(&mut self.sink, e)
    }

    /// Sets the rules of the PCP mapping on public `public_addr`:
    /// `public_port`: its FILTER options (RFC 6887 section 13.3), or with
    /// `additive` its PEER mappings' remotes (section 12); empty: none.
    pub fn pcp_filter(
        &self,
        protocol: Protocol,
        public_addr: Ipv4Addr,
        public_port: u16,
        filters: &[crate::pcp::PeerFilter],
        additive: bool,
    ) -> Result<(), crate::pcp::FilterError> {
        match self.nat.pool.index_of(u32::from(public_addr)) {
            Some(pi) => self.nat.pcp_filters.set(protocol, pi, public_port, filters, additive),
            None => Ok(()),
        }
    }

    /// Whether `inside`:`inside_port` has a PCP mapping for `protocol` in
    /// the NAT (an operator's `clear` removes it under the server's feet).
    pub fn pcp_mapped(&self, protocol: Protocol, inside: Ipv4Addr, inside_port: u16) -> bool {
        let nat = &*self.nat;
        let mk = MappingKey {
            protocol,
            inside_addr: u32::from(inside),
            inside_port,
        };
        nat.mappings.find(&mk).is_some_and(|m| {
            nat.pool
                .block_of(m.pool_index, m.public_port)
                .is_some_and(|b| nat.pool.port(protocol, b, m.public_port).is_pcp())
        })
    }

    /// The public address `inside` has, or would get now (paired pooling,
    /// RFC 6888 REQ-2: chosen once per subscriber), for NAT-PMP's external
    /// address request (RFC 6886 section 3.2). `None` outside the inside
    /// prefixes or with no address left.
    pub fn pcp_external_address(&self, inside: Ipv4Addr) -> Option<Ipv4Addr> {
        let a = u32::from(inside);
        if !self.nat.is_inside(a) {
            return None;
        }
        let index = match self.nat.subscribers.find(a) {
            Some(s) => s.pool_index,
            None => self.nat.choose_address(a)?,
        };
        Some(Ipv4Addr::from(self.nat.pool.addr_of(index)))
    }

    /// Whether the public port is held by a PCP mapping (inbound packets
    /// may then create sessions whatever the filtering behaviour).
    pub(crate) fn pcp_holds(&self, protocol: Protocol, pool_index: u32, port: u16) -> bool {
        let pool = &self.nat.pool;
        pool.block_of(pool_index, port)
            .is_some_and(|b| pool.port(protocol, b, port).is_pcp())
    }
}

/// The refusal for a verdict the first-packet path gave.
fn refusal(v: Verdict) -> PcpRefusal {
    PcpRefusal::Refused(match v {
        Verdict::Drop(r) | Verdict::IcmpError { reason: r, .. } => r,
        _ => DropReason::SessionRace,
    })
}
