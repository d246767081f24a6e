//! In-place header rewrites with incremental checksum updates (RFC 1624).
//!
//! The transport checksum covers the IPv4 pseudo-header, so an address
//! change is applied to it as well as to the IPv4 header checksum; a port
//! (or ICMP identifier) change is applied to the transport checksum only.
//! A UDP checksum of zero ("none", RFC 768) stays zero.

use crate::flow::Protocol;
use crate::wire::{icmp, ipv4, tcp, udp};

/// The parsed facts of an IPv4 packet that translation needs, kept small
/// (16 bytes, no padding: a padding byte is copied as an undefined value
/// through every move) because every packet of a burst carries one from
/// the parse stage to the translation. The Identification, needed only
/// for fragments, is read from the packet there.
#[derive(Copy, Clone, Debug, Default)]
pub(crate) struct Parsed {
    pub src: u32,
    pub dst: u32,
    total_len: u16,
    frag: ipv4::FragField,
    header_len: u16,
    pub protocol: u8,
    pub ttl: u8,
}

const _: () = assert!(core::mem::size_of::<Parsed>() == 16);

impl Parsed {
    /// The facts of the header `ip` (checked by the caller), whose header
    /// length is `header_len` and total length `total_len`.
    #[inline(always)]
    pub fn of(ip: &ipv4::Packet<&[u8]>, header_len: usize, total_len: usize) -> Parsed {
        Parsed {
            src: ip.src_addr_u32(),
            dst: ip.dst_addr_u32(),
            total_len: total_len as u16,
            frag: ip.frag_field(),
            header_len: header_len as u16,
            protocol: ip.protocol(),
            ttl: ip.ttl(),
        }
    }

    /// IPv4 header length in bytes (20 to 60).
    #[inline(always)]
    pub fn header_len(&self) -> usize {
        self.header_len as usize
    }

    /// Total Length in bytes.
    #[inline(always)]
    pub fn total_len(&self) -> usize {
        self.total_len as usize
    }

    /// The DF flag.
    #[inline(always)]
    pub fn dont_frag(&self) -> bool {
        self.frag.dont_frag()
    }

    /// The MF flag.
    #[inline(always)]
    pub fn more_frags(&self) -> bool {
        self.frag.more_frags()
    }

    /// Fragment offset in bytes.
    #[inline(always)]
    pub fn frag_offset(&self) -> u16 {
        self.frag.offset()
    }

    /// Part of a fragmented datagram.
    #[inline(always)]
    pub fn is_fragment(&self) -> bool {
        self.frag.is_fragment()
    }
}

/// Which end of the flow a rewrite applies to.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum End {
    Source,
    Destination,
}

/// The TTL and Protocol octets form one 16-bit word of the header
/// checksum; decrementing the TTL subtracts 0x0100 from it, i.e. adds its
/// one's complement 0xFEFF (RFC 1624 section 4 works this very example).
/// Taken in machine byte order, as the rewrite sums (RFC 1071 §2(B)).
const TTL_DECREMENT_DELTA: u32 = u16::from_ne_bytes(0xFEFFu16.to_be_bytes()) as u32;

/// Rewrites one end's address and port (or ICMP query identifier) of a
/// packet whose transport header is present (`pkt[header_len..]`, checked
/// by the caller to be long enough), and with `ttl` also decrements the
/// TTL (RFC 1812 section 5.3.1; the caller has checked TTL > 1). TCP and
/// UDP take the fused path: the address's checksum difference is computed
/// once and applied to the IPv4 header checksum (with the TTL's) and to the
/// transport checksum (pseudo-header, with the port's). One's complement
/// addition is associative, so the fused update gives the checksum the
/// separate ones would.
#[inline(always)]
pub(crate) fn rewrite_endpoint(pkt: &mut [u8], p: &Parsed, protocol: Protocol, end: End, addr: u32, port: u16, ttl: bool) {
    if protocol == Protocol::Icmp {
        rewrite_icmp(pkt, p, end, addr, port, ttl);
        return;
    }
    match end {
        End::Source => rewrite_transport::<true>(pkt, p.header_len(), protocol, addr, port, ttl),
        End::Destination => rewrite_transport::<false>(pkt, p.header_len(), protocol, addr, port, ttl),
    }
}

/// [`rewrite_endpoint`] for a TCP or UDP packet with a plain 20-byte IPv4
/// header whose TTL is decremented too: the fast lane's case, with the
/// header length a constant.
#[inline(always)]
pub(crate) fn rewrite_plain(pkt: &mut [u8], protocol: Protocol, end: End, addr: u32, port: u16) {
    debug_assert!(protocol != Protocol::Icmp);
    match end {
        End::Source => rewrite_transport::<true>(pkt, ipv4::HEADER_LEN, protocol, addr, port, true),
        End::Destination => rewrite_transport::<false>(pkt, ipv4::HEADER_LEN, protocol, addr, port, true),
    }
}

/// The ICMP query part of [`rewrite_endpoint`].
#[inline(never)]
fn rewrite_icmp(pkt: &mut [u8], p: &Parsed, end: End, addr: u32, ident: u16, ttl: bool) {
    rewrite_addr(pkt, end, addr);
    if ttl {
        ipv4::Packet::new_unchecked(&mut *pkt).decrement_ttl();
    }
    // ICMP has no pseudo-header; only the identifier changes
    // (RFC 5508 section 3.1).
    icmp::Packet::new_unchecked(&mut pkt[p.header_len()..]).rewrite_echo_ident(ident);
}

/// The TCP/UDP part of [`rewrite_endpoint`] for the source (`SOURCE`) or
/// destination address and port. The headers are taken as fixed-size
/// arrays (one length check each, the `wire` field offsets after it): the
/// caller checked that the IPv4 header is at least 20 bytes and the
/// transport header long enough for its ports and checksum (TCP 20, UDP 8).
#[inline(always)]
fn rewrite_transport<const SOURCE: bool>(pkt: &mut [u8], header_len: usize, protocol: Protocol, addr: u32, port: u16, ttl: bool) {
    use crate::wire::checksum::{apply_delta, delta16, delta32, udp_transmitted};
    use crate::wire::{get_ne16, get_ne32, set_ne16, set_ne32};
    let addr_field = if SOURCE { ipv4::field::SRC_ADDR } else { ipv4::field::DST_ADDR };
    // TCP and UDP put their ports at the same offsets.
    let port_field = if SOURCE { udp::field::SRC_PORT } else { udp::field::DST_PORT };
    let Some((ip, l4)) = pkt.split_at_mut_checked(header_len) else {
        debug_assert!(false, "header beyond the packet");
        return;
    };
    let Some(ip) = ip.first_chunk_mut::<{ ipv4::HEADER_LEN }>() else {
        debug_assert!(false, "IPv4 header under 20 bytes");
        return;
    };
    // The sums run on the fields' in-memory images (RFC 1071 §2(B): the
    // one's complement sum is byte-order independent), so only the new
    // values are converted, once, to network order.
    let addr = u32::from_ne_bytes(addr.to_be_bytes());
    let port = u16::from_ne_bytes(port.to_be_bytes());
    let old = get_ne32(ip, addr_field.clone());
    set_ne32(ip, addr_field, addr);
    let d = delta32(old, addr);
    let mut ip_delta = d;
    if ttl {
        ip[ipv4::field::TTL] -= 1;
        ip_delta += TTL_DECREMENT_DELTA;
    }
    let ck = apply_delta(get_ne16(ip, ipv4::field::CHECKSUM), ip_delta);
    set_ne16(ip, ipv4::field::CHECKSUM, ck);
    match protocol {
        Protocol::Tcp => {
            let Some(l4) = l4.first_chunk_mut::<{ tcp::field::CHECKSUM.end }>() else {
                debug_assert!(false, "TCP header under 18 bytes");
                return;
            };
            let old_port = get_ne16(l4, port_field.clone());
            set_ne16(l4, port_field, port);
            let ck = apply_delta(get_ne16(l4, tcp::field::CHECKSUM), d + delta16(old_port, port));
            set_ne16(l4, tcp::field::CHECKSUM, ck);
        }
        _ => {
            let Some(l4) = l4.first_chunk_mut::<{ udp::HEADER_LEN }>() else {
                debug_assert!(false, "UDP header under 8 bytes");
                return;
            };
            let old_port = get_ne16(l4, port_field.clone());
            set_ne16(l4, port_field, port);
            // RFC 768: a zero UDP checksum means "none" and stays zero; a
            // computed zero is sent as all ones (0 and 0xFFFF read the same
            // in either byte order).
            let ck = get_ne16(l4, udp::field::CHECKSUM);
            if ck != 0 {
                let c = apply_delta(ck, d + delta16(old_port, port));
                set_ne16(l4, udp::field::CHECKSUM, udp_transmitted(c));
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
