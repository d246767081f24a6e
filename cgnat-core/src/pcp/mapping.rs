//! What the PCP server holds and answers with: its bounds
//! ([`PcpLimits`]), its mappings ([`PcpMapping`], [`PcpKind`],
//! [`FilterSet`]) and what to do with an answer ([`Reply`]).

use core::net::Ipv4Addr;

use super::{PeerFilter, MAX_FILTERS};
use crate::config::Ipv4Prefix;
use crate::flow::Protocol;
use crate::time::Instant;
use crate::wire::pcp::{self, ResultCode};

/// The server's bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcpLimits {
    /// Shortest lifetime granted, seconds (RFC 6887 section 15: servers
    /// should allow at least 120 s).
    pub min_lifetime: u32,
    /// Longest lifetime granted, seconds.
    pub max_lifetime: u32,
    /// PCP and NAT-PMP mappings one subscriber may hold at once.
    pub max_mappings_per_subscriber: u32,
    /// Inside prefixes of trusted clients (an operator's PCP proxy) that
    /// may ask for another host with THIRD_PARTY; empty: refused.
    pub third_party_from: Vec<Ipv4Prefix>,
}

impl Default for PcpLimits {
    fn default() -> Self {
        PcpLimits {
            min_lifetime: 120,
            max_lifetime: 86_400,
            max_mappings_per_subscriber: 16,
            third_party_from: Vec::new(),
        }
    }
}

/// What kind of mapping a [`PcpMapping`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PcpKind {
    /// A MAP mapping (RFC 6887 section 11): inbound from any peer, or from
    /// those its FILTER options name.
    Map,
    /// A PEER mapping (section 12): the outbound mapping towards one
    /// remote peer, kept for the lifetime; that peer may send to it.
    Peer {
        /// The remote peer's address.
        remote: Ipv4Addr,
        /// The remote peer's port.
        remote_port: u16,
    },
    /// A NAT-PMP mapping (RFC 6886), kept like MAP.
    NatPmp,
}

impl PcpKind {
    /// `map`, `peer` or `nat-pmp`.
    pub fn name(self) -> &'static str {
        match self {
            PcpKind::Map => "map",
            PcpKind::Peer { .. } => "peer",
            PcpKind::NatPmp => "nat-pmp",
        }
    }
}

/// The FILTER options of a MAP mapping (at most [`MAX_FILTERS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FilterSet {
    rules: [Option<PeerFilter>; MAX_FILTERS],
}

impl FilterSet {
    /// The filters, in the order the client sent them.
    pub fn iter(&self) -> impl Iterator<Item = &PeerFilter> {
        self.rules.iter().flatten()
    }

    /// Whether there are none (every peer may reach the mapping).
    pub fn is_empty(&self) -> bool {
        self.rules[0].is_none()
    }

    pub(super) fn to_vec(self) -> Vec<PeerFilter> {
        self.iter().copied().collect()
    }
}

/// A mapping the server holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcpMapping {
    /// TCP or UDP.
    pub protocol: Protocol,
    /// The subscriber's internal address.
    pub inside: Ipv4Addr,
    /// The internal port.
    pub inside_port: u16,
    /// The public address.
    pub public_addr: Ipv4Addr,
    /// The public port.
    pub public_port: u16,
    /// The client's mapping nonce (all zeros for NAT-PMP, which has none).
    pub nonce: [u8; 12],
    /// When the lifetime runs out.
    pub expires: Instant,
    /// MAP, PEER or NAT-PMP.
    pub kind: PcpKind,
    /// A MAP mapping's FILTER options (RFC 6887 section 13.3).
    pub filters: FilterSet,
}

/// What to do with an answer the server wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reply {
    /// Nothing to send (the request is dropped silently).
    None,
    /// Send the first `len` bytes of the output now.
    Send(usize),
    /// Send them once `block`'s allocation record is durable (decision 008:
    /// no port is handed out before its record).
    AfterBlock {
        /// Bytes of the answer.
        len: usize,
        /// The block the mapping's port lies in.
        block: u32,
    },
}

/// A MAP request's FILTER options as the workers apply them (section
/// 13.3): `None` without any (the mapping keeps its filters), an empty
/// set if one has prefix length 0 (remove them all).
pub(super) fn filter_set(filters: &[pcp::Filter]) -> Result<Option<FilterSet>, ResultCode> {
    if filters.is_empty() {
        return Ok(None);
    }
    if filters.iter().any(|f| f.prefix_len == 0) {
        return Ok(Some(FilterSet::default()));
    }
    if filters.len() > MAX_FILTERS {
        return Err(ResultCode::ExcessiveRemotePeers);
    }
    let mut set = FilterSet::default();
    for (slot, f) in set.rules.iter_mut().zip(filters) {
        // An IPv4 peer: an IPv4-mapped address, prefix over its last 32 bits.
        let addr = pcp::unmapped(f.remote_addr).ok_or(ResultCode::MalformedOption)?;
        if f.prefix_len < 96 {
            return Err(ResultCode::MalformedOption);
        }
        *slot = Some(PeerFilter {
            addr: u32::from(addr),
            prefix_len: f.prefix_len - 96,
            port: f.remote_port,
        });
    }
    Ok(Some(set))
}
