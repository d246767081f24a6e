//! In-place header rewrites with incremental checksum updates (RFC 1624).
//!
//! The transport checksum covers the IPv4 pseudo-header, so an address
//! change is applied to it as well as to the IPv4 header checksum; a port
//! (or ICMP identifier) change is applied to the transport checksum only.
//! A UDP checksum of zero ("none", RFC 768) stays zero.

use crate::flow::Protocol;
use crate::wire::{icmp, ipv4, tcp, udp};

/// The parsed facts of an IPv4 packet that translation needs.
#[derive(Copy, Clone, Debug)]
pub(crate) struct Parsed {
    pub header_len: usize,
    pub total_len: usize,
    pub protocol: u8,
    pub src: u32,
    pub dst: u32,
    pub ttl: u8,
    pub dont_frag: bool,
    pub more_frags: bool,
    pub frag_offset: u16,
    pub ident: u16,
}

impl Parsed {
    /// Part of a fragmented datagram.
    #[inline(always)]
    pub fn is_fragment(&self) -> bool {
        self.more_frags || self.frag_offset != 0
    }
}

/// Which end of the flow a rewrite applies to.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum End {
    Source,
    Destination,
}

/// Rewrites one end's address and port (or ICMP query identifier) of a
/// packet whose transport header is present (`pkt[header_len..]`, checked
/// by the caller to be long enough).
#[inline]
pub(crate) fn rewrite_endpoint(pkt: &mut [u8], p: &Parsed, protocol: Protocol, end: End, addr: u32, port: u16) {
    let old_addr = {
        let mut ip = ipv4::Packet::new_unchecked(&mut *pkt);
        match end {
            End::Source => ip.rewrite_src_addr(addr),
            End::Destination => ip.rewrite_dst_addr(addr),
        }
    };
    let l4 = &mut pkt[p.header_len..];
    match protocol {
        Protocol::Tcp => {
            let mut t = tcp::Packet::new_unchecked(l4);
            t.update_checksum_for_addr(old_addr, addr);
            match end {
                End::Source => t.rewrite_src_port(port),
                End::Destination => t.rewrite_dst_port(port),
            };
        }
        Protocol::Udp => {
            let mut u = udp::Packet::new_unchecked(l4);
            u.update_checksum_for_addr(old_addr, addr);
            match end {
                End::Source => u.rewrite_src_port(port),
                End::Destination => u.rewrite_dst_port(port),
            };
        }
        Protocol::Icmp => {
            // ICMP has no pseudo-header; only the identifier changes
            // (RFC 5508 section 3.1).
            icmp::Packet::new_unchecked(l4).rewrite_echo_ident(port);
        }
    }
}

/// Rewrites only an address (non-first fragments, bypass never calls it).
#[inline]
pub(crate) fn rewrite_addr(pkt: &mut [u8], end: End, addr: u32) {
    let mut ip = ipv4::Packet::new_unchecked(pkt);
    match end {
        End::Source => ip.rewrite_src_addr(addr),
        End::Destination => ip.rewrite_dst_addr(addr),
    };
}

/// Decrements the TTL (RFC 1812 section 5.3.1), updating the checksum.
#[inline]
pub(crate) fn decrement_ttl(pkt: &mut [u8]) {
    ipv4::Packet::new_unchecked(pkt).decrement_ttl();
}

/// The (source port, destination port, TCP flags) of a TCP or UDP header,
/// or the ICMP identifier as both ports. `None` if too short.
#[inline]
pub(crate) fn ports(l4: &[u8], protocol: Protocol) -> Option<(u16, u16, u8)> {
    let be = |i: usize| u16::from_be_bytes([l4[i], l4[i + 1]]);
    match protocol {
        Protocol::Tcp if l4.len() >= tcp::HEADER_LEN => Some((be(0), be(2), l4[13])),
        Protocol::Udp if l4.len() >= udp::HEADER_LEN => Some((be(0), be(2), 0)),
        Protocol::Icmp if l4.len() >= icmp::HEADER_LEN => Some((be(4), be(4), 0)),
        _ => None,
    }
}
