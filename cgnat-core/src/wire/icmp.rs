//! ICMP for IPv4 (RFC 792), with the next-hop MTU of RFC 1191 and the
//! router rules of RFC 1812 §4.3.
//!
//! RFC 792: every message starts with Type, Code and Checksum; the next 32
//! bits depend on the type; then comes the data.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Type      |     Code      |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Identifier          |        Sequence Number        |  echo, timestamp,
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  information
//! |           unused = 0          |         Next-Hop MTU          |  unreachable
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  (RFC 1191 §4)
//! |    Pointer    |                   unused = 0                  |  parameter problem
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 Gateway Internet Address                      |  redirect
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Data: for errors, Internet Header + 64 bits of Original   |
//! |     Data Datagram (RFC 792); for echo, arbitrary data ...     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The checksum covers the whole ICMP message (no pseudo-header). The
//! view's buffer is the whole message: the IPv4 payload. An ICMP echo
//! quoted inside an ICMP error is also read with [`Packet::new_checked`]:
//! its 8-byte header is exactly what RFC 792 guarantees is quoted.

use core::net::Ipv4Addr;

use super::{checksum, get_u16, get_u32, ip_protocol, ipv4, set_u16, set_u32, Error, Result};

/// ICMP message types (RFC 792; RFC 950 for address mask; RFC 1256 for
/// router discovery).
pub mod msg_type {
    /// Echo Reply.
    pub const ECHO_REPLY: u8 = 0;
    /// Destination Unreachable (error).
    pub const DEST_UNREACHABLE: u8 = 3;
    /// Source Quench (error; deprecated by RFC 6633).
    pub const SOURCE_QUENCH: u8 = 4;
    /// Redirect (error).
    pub const REDIRECT: u8 = 5;
    /// Echo Request.
    pub const ECHO_REQUEST: u8 = 8;
    /// Router Advertisement (RFC 1256).
    pub const ROUTER_ADVERTISEMENT: u8 = 9;
    /// Router Solicitation (RFC 1256).
    pub const ROUTER_SOLICITATION: u8 = 10;
    /// Time Exceeded (error).
    pub const TIME_EXCEEDED: u8 = 11;
    /// Parameter Problem (error).
    pub const PARAMETER_PROBLEM: u8 = 12;
    /// Timestamp request.
    pub const TIMESTAMP: u8 = 13;
    /// Timestamp Reply.
    pub const TIMESTAMP_REPLY: u8 = 14;
    /// Information Request (obsolete, RFC 6918).
    pub const INFO_REQUEST: u8 = 15;
    /// Information Reply (obsolete, RFC 6918).
    pub const INFO_REPLY: u8 = 16;
    /// Address Mask Request (RFC 950).
    pub const ADDRESS_MASK_REQUEST: u8 = 17;
    /// Address Mask Reply (RFC 950).
    pub const ADDRESS_MASK_REPLY: u8 = 18;
}

/// Destination Unreachable codes (RFC 792, RFC 1122 §3.2.2.1, RFC 1812
/// §5.2.7.1).
pub mod dest_unreachable {
    /// Net unreachable.
    pub const NET: u8 = 0;
    /// Host unreachable.
    pub const HOST: u8 = 1;
    /// Protocol unreachable.
    pub const PROTOCOL: u8 = 2;
    /// Port unreachable.
    pub const PORT: u8 = 3;
    /// Fragmentation needed and DF set (carries the next-hop MTU, RFC 1191).
    pub const FRAG_NEEDED: u8 = 4;
    /// Source route failed.
    pub const SOURCE_ROUTE_FAILED: u8 = 5;
    /// Destination network unknown.
    pub const NET_UNKNOWN: u8 = 6;
    /// Destination host unknown.
    pub const HOST_UNKNOWN: u8 = 7;
    /// Source host isolated.
    pub const SOURCE_HOST_ISOLATED: u8 = 8;
    /// Communication with destination network administratively prohibited.
    pub const NET_ADMIN_PROHIBITED: u8 = 9;
    /// Communication with destination host administratively prohibited.
    pub const HOST_ADMIN_PROHIBITED: u8 = 10;
    /// Network unreachable for type of service.
    pub const NET_UNREACHABLE_TOS: u8 = 11;
    /// Host unreachable for type of service.
    pub const HOST_UNREACHABLE_TOS: u8 = 12;
    /// Communication administratively prohibited (RFC 1812 §5.2.7.1).
    pub const COMM_ADMIN_PROHIBITED: u8 = 13;
    /// Host precedence violation.
    pub const HOST_PRECEDENCE_VIOLATION: u8 = 14;
    /// Precedence cutoff in effect.
    pub const PRECEDENCE_CUTOFF: u8 = 15;
}

/// Time Exceeded codes (RFC 792).
pub mod time_exceeded {
    /// Time to live exceeded in transit.
    pub const TTL_EXCEEDED: u8 = 0;
    /// Fragment reassembly time exceeded.
    pub const FRAG_REASSEMBLY: u8 = 1;
}

/// Parameter Problem codes (RFC 792, RFC 1122 §3.2.2.5).
pub mod parameter_problem {
    /// The pointer indicates the error.
    pub const POINTER: u8 = 0;
    /// Missing a required option.
    pub const MISSING_OPTION: u8 = 1;
    /// Bad length.
    pub const BAD_LENGTH: u8 = 2;
}

mod field {
    use crate::wire::Field;

    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    /// Type and Code form one 16-bit checksum word.
    pub const TYPE_CODE: Field = 0..2;
    pub const CHECKSUM: Field = 2..4;
    pub const REST_OF_HEADER: Field = 4..8;
    pub const ECHO_IDENT: Field = 4..6;
    pub const ECHO_SEQNO: Field = 6..8;
    pub const POINTER: usize = 4;
    pub const NEXT_HOP_MTU: Field = 6..8;
}

/// Length of the ICMP header (type, code, checksum and 32 type-specific
/// bits).
pub const HEADER_LEN: usize = 8;

/// Largest ICMP error datagram a router sends (RFC 1812 §4.3.2.3: "as much
/// of the original datagram as possible without the length of the ICMP
/// datagram exceeding 576 bytes").
pub const MAX_ERROR_LEN: usize = 576;

/// TTL of the echo replies written by [`echo_reply_in_place`].
pub const ECHO_REPLY_TTL: u8 = 64;

/// Whether `msg_type` is an ICMP error message (RFC 1122 §3.2.2: Destination
/// Unreachable, Source Quench, Redirect, Time Exceeded, Parameter Problem).
#[inline]
pub const fn is_error_type(msg_type: u8) -> bool {
    matches!(msg_type, 3 | 4 | 5 | 11 | 12)
}

/// Whether `msg_type` is an ICMP query message carrying an Identifier
/// (RFC 792 echo, timestamp, information; RFC 950 address mask), the kind a
/// NAPT translates by identifier (RFC 5508 §3.1).
#[inline]
pub const fn is_query_type(msg_type: u8) -> bool {
    matches!(msg_type, 0 | 8 | 13..=18)
}

/// A view over an ICMP message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; getters may panic if it is
    /// shorter than 8 bytes.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer and checks it with [`Packet::check_len`].
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// [`Error::Truncated`] if the buffer is shorter than the 8-byte header.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// Returns the buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Type (see [`msg_type`]).
    #[inline]
    pub fn msg_type(&self) -> u8 {
        self.buffer.as_ref()[field::TYPE]
    }

    /// Code (see [`dest_unreachable`], [`time_exceeded`],
    /// [`parameter_problem`]).
    #[inline]
    pub fn code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// Checksum.
    #[inline]
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Whether this is an error message (see [`is_error_type`]).
    #[inline]
    pub fn is_error(&self) -> bool {
        is_error_type(self.msg_type())
    }

    /// Whether this is a query message (see [`is_query_type`]).
    #[inline]
    pub fn is_query(&self) -> bool {
        is_query_type(self.msg_type())
    }

    /// The 32 type-specific bits after the checksum.
    #[inline]
    pub fn rest_of_header(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::REST_OF_HEADER)
    }

    /// Identifier of a query message (RFC 792 echo).
    #[inline]
    pub fn echo_ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ECHO_IDENT)
    }

    /// Sequence Number of a query message.
    #[inline]
    pub fn echo_seq_no(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ECHO_SEQNO)
    }

    /// Next-Hop MTU of a "fragmentation needed and DF set" message
    /// (RFC 1191 §4; 0 from routers that predate it).
    #[inline]
    pub fn next_hop_mtu(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::NEXT_HOP_MTU)
    }

    /// Pointer of a Parameter Problem message: the offset of the octet
    /// where the error was found.
    #[inline]
    pub fn pointer(&self) -> u8 {
        self.buffer.as_ref()[field::POINTER]
    }

    /// Gateway Internet Address of a Redirect message.
    #[inline]
    pub fn gateway_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.rest_of_header())
    }

    /// The bytes after the 8-byte header. For an error message, the
    /// quoted original datagram (its IPv4 header: use
    /// [`ipv4::Packet::new_embedded`]).
    #[inline]
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// Whether the checksum over the whole message is correct (RFC 792).
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        checksum::fold(checksum::sum(self.buffer.as_ref())) == 0xFFFF
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets Type (the checksum is not touched).
    #[inline]
    pub fn set_msg_type(&mut self, value: u8) {
        self.buffer.as_mut()[field::TYPE] = value;
    }

    /// Sets Code.
    #[inline]
    pub fn set_code(&mut self, value: u8) {
        self.buffer.as_mut()[field::CODE] = value;
    }

    /// Sets Checksum.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    /// Sets the 32 type-specific bits.
    #[inline]
    pub fn set_rest_of_header(&mut self, value: u32) {
        set_u32(self.buffer.as_mut(), field::REST_OF_HEADER, value);
    }

    /// Sets Identifier (the checksum is not touched).
    #[inline]
    pub fn set_echo_ident(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::ECHO_IDENT, value);
    }

    /// Sets Sequence Number.
    #[inline]
    pub fn set_echo_seq_no(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::ECHO_SEQNO, value);
    }

    /// Sets Next-Hop MTU.
    #[inline]
    pub fn set_next_hop_mtu(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::NEXT_HOP_MTU, value);
    }

    /// Sets Pointer.
    #[inline]
    pub fn set_pointer(&mut self, value: u8) {
        self.buffer.as_mut()[field::POINTER] = value;
    }

    /// Computes and stores the checksum over the whole message (RFC 792:
    /// "For computing the checksum, the checksum field should be zero").
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let sum = checksum::sum(self.buffer.as_ref());
        self.set_checksum(checksum::finish(sum));
    }

    /// Updates the checksum incrementally (RFC 1624 eqn. 3) for a 16-bit
    /// word of the message (at an even offset) changing from `old` to
    /// `new`, handling the one corner case of eqn. 3: when every byte of
    /// the message is zero the checksum must be `0xFFFF`, not the `0x0000`
    /// that eqn. 3 gives (see [`checksum::update16`]).
    #[inline]
    pub fn update_checksum(&mut self, old: u16, new: u16) {
        let mut c = checksum::update16(self.checksum(), old, new);
        if c == 0 {
            let data = self.buffer.as_ref();
            let all_zero = |bytes: &[u8]| bytes.iter().all(|&b| b == 0);
            if all_zero(&data[field::TYPE_CODE]) && all_zero(&data[field::REST_OF_HEADER.start..]) {
                c = 0xFFFF;
            }
        }
        self.set_checksum(c);
    }

    /// Rewrites Identifier (the RFC 5508 §3.1 translation of a query) and
    /// updates the checksum incrementally. Returns the old identifier.
    #[inline]
    pub fn rewrite_echo_ident(&mut self, ident: u16) -> u16 {
        let old = self.echo_ident();
        self.set_echo_ident(ident);
        self.update_checksum(old, ident);
        old
    }

    /// The bytes after the 8-byte header, mutable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// Whether a router may send an ICMP error about the IPv4 packet
/// `offending` (RFC 1812 §4.3.2.7, RFC 1122 §3.2.2). It must not if the
/// packet:
///
/// - fails the IP header validation of RFC 1812 §5.2.2 (too short, version
///   not 4, IHL < 5, Total Length below the header length or beyond the
///   buffer, bad header checksum);
/// - is an ICMP error message (or an ICMP packet too short to tell);
/// - is a fragment other than the first (offset non-zero);
/// - has a source address that does not define a single host (RFC 1812
///   §5.3.7): in 0.0.0.0/8, 127.0.0.0/8, multicast (224.0.0.0/4) or class E
///   (240.0.0.0/4, including the limited broadcast 255.255.255.255);
/// - is destined to the limited broadcast or a multicast address.
///
/// Not checked here (the caller knows them): a packet received as a
/// link-layer broadcast or multicast, a directed broadcast destination, and
/// rate limiting (RFC 1812 §4.3.2.8).
pub fn may_send_error_for(offending: &[u8]) -> bool {
    let Ok(packet) = ipv4::Packet::new_checked(offending) else {
        return false;
    };
    if !packet.verify_checksum() || packet.is_non_first_fragment() {
        return false;
    }
    let src = packet.src_addr();
    let first = src.octets()[0];
    if first == 0 || src.is_loopback() || src.is_multicast() || first >= 240 {
        return false;
    }
    let dst = packet.dst_addr();
    if dst.is_broadcast() || dst.is_multicast() {
        return false;
    }
    if packet.protocol() == ip_protocol::ICMP {
        match packet.payload().first() {
            None => return false,
            Some(&t) if is_error_type(t) => return false,
            Some(_) => {}
        }
    }
    true
}

/// Writes a complete IPv4 + ICMP error message about `offending` (an IPv4
/// packet) into `out` and returns its length.
///
/// - IPv4 header (20 bytes, no options): source `src` (the appliance's
///   address on the interface), destination the offending packet's
///   source, TTL `ttl`, DSCP CS6 (precedence 6, "internetwork control",
///   RFC 1812 §4.3.2.5), DF clear, Identification the offending packet's
///   (deterministic output for replay tests), fresh checksum.
/// - ICMP header: `icmp_type`, `code`; for Destination Unreachable /
///   fragmentation needed, `mtu` is the Next-Hop MTU (RFC 1191 §4); for
///   Parameter Problem, its low byte is the Pointer (RFC 792); otherwise
///   the 32 bits are zero (a Redirect's gateway is not supported).
/// - Data: as much of the offending packet (up to its Total Length) as fits
///   in 576 bytes in all (RFC 1812 §4.3.2.3), and in `out`; at least its
///   header and 8 bytes of data (RFC 792), or all of it if shorter.
///
/// Call [`may_send_error_for`] first: this function does not apply those
/// rules. Errors: [`Error::Truncated`] / [`Error::Malformed`] if
/// `offending` is not a valid IPv4 packet ([`ipv4::Packet::new_checked`]);
/// [`Error::Truncated`] if `out` cannot hold the minimum quote.
pub fn emit_error(out: &mut [u8], src: Ipv4Addr, offending_ip_packet: &[u8], icmp_type: u8, code: u8, mtu: u16, ttl: u8) -> Result<usize> {
    const HEADERS: usize = ipv4::HEADER_LEN + HEADER_LEN;
    let offending = ipv4::Packet::new_checked(offending_ip_packet)?;
    let total = usize::from(offending.total_len());
    let min_quote = total.min(offending.header_len() + 8);
    let room = out.len().saturating_sub(HEADERS);
    if room < min_quote {
        return Err(Error::Truncated);
    }
    // MAX_ERROR_LEN - HEADERS = 548 >= 60 + 8, so quote >= min_quote.
    let quote = total.min(MAX_ERROR_LEN - HEADERS).min(room);
    let icmp_len = HEADER_LEN + quote;
    ipv4::emit_header(
        out,
        src,
        offending.src_addr(),
        ip_protocol::ICMP,
        icmp_len as u16,
        ttl,
        offending.ident(),
    );
    let mut ip = ipv4::Packet::new_unchecked(&mut out[..HEADERS + quote]);
    ip.set_dscp_ecn(0xC0);
    ip.fill_checksum();

    let mut icmp = Packet::new_unchecked(&mut out[ipv4::HEADER_LEN..HEADERS + quote]);
    icmp.set_msg_type(icmp_type);
    icmp.set_code(code);
    icmp.set_rest_of_header(0);
    match icmp_type {
        msg_type::DEST_UNREACHABLE if code == dest_unreachable::FRAG_NEEDED => {
            icmp.set_next_hop_mtu(mtu);
        }
        msg_type::PARAMETER_PROBLEM => icmp.set_pointer(mtu as u8),
        _ => {}
    }
    icmp.data_mut().copy_from_slice(&offending_ip_packet[..quote]);
    icmp.fill_checksum();
    Ok(HEADERS + quote)
}

/// Turns an IPv4 ICMP Echo Request addressed to us into its Echo Reply, in
/// place (RFC 792 "Echo or Echo Reply Message": "the source and destination
/// addresses are simply reversed, the type code changed to 0, and the
/// checksum recomputed"; RFC 1122 §3.2.2.6: the data is returned
/// unchanged).
///
/// Swaps the addresses, sets Type and Code to 0, updates the ICMP checksum
/// incrementally (so a corrupted request gives a reply that fails its
/// check too), sets TTL to [`ECHO_REPLY_TTL`] and writes a fresh header
/// checksum. IP options are kept as they are (RFC 1122 §3.2.2.6 asks to
/// update Record Route / Timestamp options; this appliance does not).
///
/// Errors: those of [`ipv4::Packet::new_checked`]; [`Error::Malformed`]
/// if the header checksum is wrong, the packet is a fragment, or it is not
/// an ICMP Echo Request; [`Error::Truncated`] if the ICMP header is not
/// complete.
pub fn echo_reply_in_place(ip_packet: &mut [u8]) -> Result<()> {
    let mut ip = ipv4::Packet::new_checked(&mut *ip_packet)?;
    if !ip.verify_checksum() || ip.is_fragment() || ip.protocol() != ip_protocol::ICMP {
        return Err(Error::Malformed);
    }
    let mut icmp = Packet::new_checked(ip.payload_mut())?;
    if icmp.msg_type() != msg_type::ECHO_REQUEST {
        return Err(Error::Malformed);
    }
    let old = get_u16(icmp.as_ref(), field::TYPE_CODE);
    icmp.set_msg_type(msg_type::ECHO_REPLY);
    icmp.set_code(0);
    icmp.update_checksum(old, 0);

    let src = ip.src_addr_u32();
    let dst = ip.dst_addr_u32();
    ip.set_src_addr_u32(dst);
    ip.set_dst_addr_u32(src);
    ip.set_ttl(ECHO_REPLY_TTL);
    ip.fill_checksum();
    Ok(())
}
