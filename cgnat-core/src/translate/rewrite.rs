//! In-place header rewrites with incremental checksum updates (RFC 1624).
//!
//! The transport checksum covers the IPv4 pseudo-header, so an address
//! change is applied to it as well as to the IPv4 header checksum; a port
//! (or ICMP identifier) change is applied to the transport checksum only.
//! A UDP checksum of zero ("none", RFC 768) stays zero.

use crate::flow::Protocol;
use crate::wire::{icmp, ipv4, udp};

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

#[inline(always)]
fn be16(b: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([b[i], b[i + 1]])
}

#[inline(always)]
fn put16(b: &mut [u8], i: usize, v: u16) {
    b[i..i + 2].copy_from_slice(&v.to_be_bytes());
}

/// RFC 1624 eqn. 3 for several 16-bit words at once:
/// `HC' = ~(~HC + sum(~m) + sum(m'))`, folded once at the end.
#[inline(always)]
fn adjust<const N: usize>(checksum: u16, old: [u16; N], new: [u16; N]) -> u16 {
    let mut s = (!checksum) as u32;
    for k in 0..N {
        s += (!old[k]) as u32 + new[k] as u32;
    }
    s = (s >> 16) + (s & 0xFFFF);
    s = (s >> 16) + (s & 0xFFFF);
    !(s as u16)
}

/// Rewrites one end's address and port (or ICMP query identifier) of a
/// packet whose transport header is present (`pkt[header_len..]`, checked
/// by the caller to be long enough), and with `ttl` also decrements the
/// TTL (RFC 1812 section 5.3.1; the caller has checked TTL > 1). TCP and
/// UDP take the fused path: one RFC 1624 update of the IPv4 header checksum
/// for the address (and TTL), one of the transport checksum for address
/// (pseudo-header) and port together. One's complement addition is
/// associative, so the fused update gives the checksum the separate ones
/// would.
#[inline]
pub(crate) fn rewrite_endpoint(pkt: &mut [u8], p: &Parsed, protocol: Protocol, end: End, addr: u32, port: u16, ttl: bool) {
    if protocol == Protocol::Icmp {
        rewrite_addr(pkt, end, addr);
        if ttl {
            decrement_ttl(pkt);
        }
        // ICMP has no pseudo-header; only the identifier changes
        // (RFC 5508 section 3.1).
        icmp::Packet::new_unchecked(&mut pkt[p.header_len..]).rewrite_echo_ident(port);
        return;
    }
    match end {
        End::Source => rewrite_transport::<12, 0>(pkt, p.header_len, protocol, addr, port, ttl),
        End::Destination => rewrite_transport::<16, 2>(pkt, p.header_len, protocol, addr, port, ttl),
    }
}

/// The TCP/UDP part of [`rewrite_endpoint`] for the address at `ADDR` of
/// the IPv4 header and the port at `PORT` of the transport header. The
/// headers are taken as fixed-size arrays (one length check each, known
/// offsets after it): the caller checked that the IPv4 header is at least
/// 20 bytes and the transport header long enough for its ports and
/// checksum (TCP 20, UDP 8).
#[inline(always)]
fn rewrite_transport<const ADDR: usize, const PORT: usize>(
    pkt: &mut [u8],
    header_len: usize,
    protocol: Protocol,
    addr: u32,
    port: u16,
    ttl: bool,
) {
    let Some((ip, l4)) = pkt.split_at_mut_checked(header_len) else {
        debug_assert!(false, "header beyond the packet");
        return;
    };
    let Some(ip) = ip.first_chunk_mut::<{ ipv4::HEADER_LEN }>() else {
        debug_assert!(false, "IPv4 header under 20 bytes");
        return;
    };
    let (oh, ol) = (be16(ip, ADDR), be16(ip, ADDR + 2));
    let (nh, nl) = ((addr >> 16) as u16, addr as u16);
    put16(ip, ADDR, nh);
    put16(ip, ADDR + 2, nl);
    let ck = if ttl {
        let old_ttl = be16(ip, 8);
        ip[8] -= 1;
        adjust(be16(ip, 10), [oh, ol, old_ttl], [nh, nl, be16(ip, 8)])
    } else {
        adjust(be16(ip, 10), [oh, ol], [nh, nl])
    };
    put16(ip, 10, ck);
    match protocol {
        Protocol::Tcp => {
            let Some(l4) = l4.first_chunk_mut::<18>() else {
                debug_assert!(false, "TCP header under 18 bytes");
                return;
            };
            let old_port = be16(l4, PORT);
            put16(l4, PORT, port);
            let ck = adjust(be16(l4, 16), [oh, ol, old_port], [nh, nl, port]);
            put16(l4, 16, ck);
        }
        _ => {
            let Some(l4) = l4.first_chunk_mut::<{ udp::HEADER_LEN }>() else {
                debug_assert!(false, "UDP header under 8 bytes");
                return;
            };
            let old_port = be16(l4, PORT);
            put16(l4, PORT, port);
            // RFC 768: a zero UDP checksum means "none" and stays zero; a
            // computed zero is sent as all ones.
            let ck = be16(l4, 6);
            if ck != 0 {
                let c = adjust(ck, [oh, ol, old_port], [nh, nl, port]);
                put16(l4, 6, if c == 0 { 0xFFFF } else { c });
            }
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

/// Decrements the TTL (RFC 1812 section 5.3.1), updating the header
/// checksum incrementally (RFC 1624 section 4 is this very example). The
/// caller has checked TTL > 1.
#[inline]
pub(crate) fn decrement_ttl(pkt: &mut [u8]) {
    let old = be16(pkt, 8);
    pkt[8] -= 1;
    let new = be16(pkt, 8);
    put16(pkt, 10, adjust(be16(pkt, 10), [old], [new]));
}
