//! IPv4 packets (RFC 791) and fragmentation (RFC 791 §2.3, §3.2).
//!
//! RFC 791 §3.1 "Internet Header Format":
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version|  IHL  |Type of Service|          Total Length         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Identification        |Flags|      Fragment Offset    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Time to Live |    Protocol   |         Header Checksum       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       Source Address                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Destination Address                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Options                    |    Padding    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Flags (3 bits): bit 0 reserved (must be zero), bit 1 DF (Don't
//! Fragment), bit 2 MF (More Fragments). The Type of Service octet is the
//! DSCP (6 bits, RFC 2474) and ECN (2 bits, RFC 3168) field today.
//!
//! The buffer may be longer than Total Length (Ethernet pads frames to 60
//! bytes); [`Packet::payload`] stops at Total Length.

use core::net::Ipv4Addr;

use super::{checksum, get_u16, get_u32, set_u16, set_u32, Error, Result};

pub(crate) mod field {
    use crate::wire::Field;

    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const IDENT: Field = 4..6;
    pub const FLG_OFF: Field = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Field = 10..12;
    pub const SRC_ADDR: Field = 12..16;
    pub const DST_ADDR: Field = 16..20;
    /// The TTL and Protocol octets form one 16-bit checksum word.
    pub const TTL_PROTOCOL: Field = 8..10;
}

/// Flag and offset bits of the 16-bit word at offset 6.
mod flags {
    pub const DONT_FRAG: u16 = 0x4000;
    pub const MORE_FRAGS: u16 = 0x2000;
    pub const OFFSET_MASK: u16 = 0x1FFF;
}

/// The 16-bit flags and fragment offset word of an IPv4 header (RFC 791
/// §3.1: "Flags: 3 bits", "Fragment Offset: 13 bits"), read once by
/// [`Packet::frag_field`] and kept by value.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq)]
pub struct FragField(pub u16);

impl FragField {
    /// The DF (Don't Fragment) flag.
    #[inline]
    pub fn dont_frag(self) -> bool {
        self.0 & flags::DONT_FRAG != 0
    }

    /// The MF (More Fragments) flag.
    #[inline]
    pub fn more_frags(self) -> bool {
        self.0 & flags::MORE_FRAGS != 0
    }

    /// Fragment Offset in bytes (the field counts 8-byte units).
    #[inline]
    pub fn offset(self) -> u16 {
        (self.0 & flags::OFFSET_MASK) << 3
    }

    /// MF set or a non-zero offset: part of a fragmented datagram.
    #[inline]
    pub fn is_fragment(self) -> bool {
        self.0 & (flags::MORE_FRAGS | flags::OFFSET_MASK) != 0
    }
}

/// Length of an IPv4 header without options (IHL = 5).
pub const HEADER_LEN: usize = 20;
/// Length of the longest IPv4 header (IHL = 15).
pub const MAX_HEADER_LEN: usize = 60;
/// Largest fragment offset in bytes (13 bits of 8-byte units).
pub const MAX_FRAG_OFFSET: usize = (flags::OFFSET_MASK as usize) * 8;

/// A view over an IPv4 packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; getters may panic if it is too
    /// short.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer and checks it with [`Packet::check_len`]: the
    /// constructor for untrusted input.
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Wraps the IPv4 header quoted in an ICMP error (RFC 792: "Internet
    /// Header + 64 bits of Original Data Datagram") and checks it with
    /// [`Packet::check_embedded_len`]. Total Length describes the original
    /// datagram, not what was quoted, so it is not checked against the
    /// buffer; [`Packet::payload`] returns what is there.
    #[inline]
    pub fn new_embedded(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_embedded_len()?;
        Ok(packet)
    }

    /// Checks the header of a possibly truncated packet:
    ///
    /// - [`Error::Truncated`] if the buffer is shorter than 20 bytes or than
    ///   the header length;
    /// - [`Error::Malformed`] if Version is not 4, IHL < 5 (RFC 791 §3.1:
    ///   "the minimum value for a correct header is 5") or Total Length is
    ///   less than the header length.
    #[inline]
    pub fn check_embedded_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let header_len = self.header_len();
        if self.version() != 4 || header_len < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if header_len > len {
            return Err(Error::Truncated);
        }
        if usize::from(self.total_len()) < header_len {
            return Err(Error::Malformed);
        }
        Ok(())
    }

    /// [`Packet::check_embedded_len`], and also that Total Length fits in
    /// the buffer ([`Error::Truncated`] otherwise), so that
    /// `20 <= header_len <= total_len <= buffer length`. The header checksum
    /// is not verified: see [`Packet::verify_checksum`].
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        self.check_embedded_len()?;
        if usize::from(self.total_len()) > self.buffer.as_ref().len() {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Returns the buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Version (4).
    #[inline]
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// Header length in bytes: IHL × 4 (20 to 60; options allowed).
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0F) * 4
    }

    /// The former Type of Service octet: DSCP (RFC 2474) and ECN (RFC 3168).
    #[inline]
    pub fn dscp_ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN]
    }

    /// Differentiated Services Code Point (upper 6 bits, RFC 2474 §3).
    #[inline]
    pub fn dscp(&self) -> u8 {
        self.dscp_ecn() >> 2
    }

    /// Explicit Congestion Notification (lower 2 bits, RFC 3168 §5).
    #[inline]
    pub fn ecn(&self) -> u8 {
        self.dscp_ecn() & 0x03
    }

    /// Total Length: header and data, in bytes.
    #[inline]
    pub fn total_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Identification, used to reassemble fragments (RFC 791, RFC 6864).
    #[inline]
    pub fn ident(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::IDENT)
    }

    /// The flags and fragment offset word (RFC 791 §3.1), as a
    /// [`FragField`] to keep beside the parsed header.
    #[inline]
    pub fn frag_field(&self) -> FragField {
        FragField(get_u16(self.buffer.as_ref(), field::FLG_OFF))
    }

    /// The DF (Don't Fragment) flag.
    #[inline]
    pub fn dont_frag(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLG_OFF) & flags::DONT_FRAG != 0
    }

    /// The MF (More Fragments) flag.
    #[inline]
    pub fn more_frags(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLG_OFF) & flags::MORE_FRAGS != 0
    }

    /// Fragment Offset in bytes (the field counts 8-byte units).
    #[inline]
    pub fn frag_offset(&self) -> u16 {
        (get_u16(self.buffer.as_ref(), field::FLG_OFF) & flags::OFFSET_MASK) << 3
    }

    /// Whether this packet is a fragment: MF set or a non-zero offset
    /// (RFC 791 §3.2 "Fragmentation and Reassembly").
    #[inline]
    pub fn is_fragment(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLG_OFF) & (flags::MORE_FRAGS | flags::OFFSET_MASK) != 0
    }

    /// Whether this is a fragment other than the first (offset non-zero):
    /// it carries no transport header.
    #[inline]
    pub fn is_non_first_fragment(&self) -> bool {
        get_u16(self.buffer.as_ref(), field::FLG_OFF) & flags::OFFSET_MASK != 0
    }

    /// Time to Live.
    #[inline]
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// Protocol of the payload (see [`crate::wire::ip_protocol`]).
    #[inline]
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    /// Header Checksum.
    #[inline]
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Source Address.
    #[inline]
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.src_addr_u32())
    }

    /// Destination Address.
    #[inline]
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.dst_addr_u32())
    }

    /// Source Address as a host-order `u32`.
    #[inline]
    pub fn src_addr_u32(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::SRC_ADDR)
    }

    /// Destination Address as a host-order `u32`.
    #[inline]
    pub fn dst_addr_u32(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::DST_ADDR)
    }

    /// The options and padding (empty when IHL = 5).
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// Whether the header checksum is correct (RFC 791 §3.1 "Header
    /// Checksum", RFC 1071): the header, checksum included, sums to -0.
    #[inline]
    pub fn verify_checksum(&self) -> bool {
        let data = self.buffer.as_ref();
        // The common header without options is summed as a fixed-size
        // array (unrolled, no bounds checks).
        if let Some(h) = data.first_chunk::<HEADER_LEN>() {
            if self.header_len() == HEADER_LEN {
                return checksum::verifies_20(h);
            }
        }
        let header = &data[..self.header_len()];
        checksum::fold(checksum::sum(header)) == 0xFFFF
    }

    /// Whether this is an IPv4 header without options (version 4, IHL 5):
    /// the case the fast path parses as a fixed-size header.
    #[inline]
    pub fn is_plain_v4(&self) -> bool {
        self.buffer.as_ref()[field::VER_IHL] == 0x45
    }

    /// The data after the header, up to Total Length (or up to the end of
    /// the buffer if that is shorter, for an embedded packet).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let data = self.buffer.as_ref();
        let end = usize::from(self.total_len()).min(data.len());
        &data[self.header_len()..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the Version nibble.
    #[inline]
    pub fn set_version(&mut self, version: u8) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0x0F) | (version << 4);
    }

    /// Sets IHL from a header length in bytes (rounded down to 4).
    #[inline]
    pub fn set_header_len(&mut self, len: usize) {
        let b = &mut self.buffer.as_mut()[field::VER_IHL];
        *b = (*b & 0xF0) | ((len / 4) as u8 & 0x0F);
    }

    /// Sets the DSCP/ECN octet.
    #[inline]
    pub fn set_dscp_ecn(&mut self, value: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = value;
    }

    /// Sets Total Length.
    #[inline]
    pub fn set_total_len(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::LENGTH, value);
    }

    /// Sets Identification.
    #[inline]
    pub fn set_ident(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::IDENT, value);
    }

    #[inline]
    fn set_flag(&mut self, bit: u16, on: bool) {
        let word = get_u16(self.buffer.as_ref(), field::FLG_OFF);
        let word = if on { word | bit } else { word & !bit };
        set_u16(self.buffer.as_mut(), field::FLG_OFF, word);
    }

    /// Sets or clears DF.
    #[inline]
    pub fn set_dont_frag(&mut self, on: bool) {
        self.set_flag(flags::DONT_FRAG, on);
    }

    /// Sets or clears MF.
    #[inline]
    pub fn set_more_frags(&mut self, on: bool) {
        self.set_flag(flags::MORE_FRAGS, on);
    }

    /// Sets Fragment Offset from a byte offset, which must be a multiple of
    /// 8 (the low three bits are dropped).
    #[inline]
    pub fn set_frag_offset(&mut self, bytes: u16) {
        let word = get_u16(self.buffer.as_ref(), field::FLG_OFF);
        let word = (word & !flags::OFFSET_MASK) | (bytes >> 3);
        set_u16(self.buffer.as_mut(), field::FLG_OFF, word);
    }

    /// Sets Time to Live.
    #[inline]
    pub fn set_ttl(&mut self, value: u8) {
        self.buffer.as_mut()[field::TTL] = value;
    }

    /// Sets Protocol.
    #[inline]
    pub fn set_protocol(&mut self, value: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = value;
    }

    /// Sets Header Checksum.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    /// Sets Source Address (the checksum is not touched).
    #[inline]
    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        self.set_src_addr_u32(addr.into());
    }

    /// Sets Destination Address (the checksum is not touched).
    #[inline]
    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        self.set_dst_addr_u32(addr.into());
    }

    /// Sets Source Address from a host-order `u32`.
    #[inline]
    pub fn set_src_addr_u32(&mut self, addr: u32) {
        set_u32(self.buffer.as_mut(), field::SRC_ADDR, addr);
    }

    /// Sets Destination Address from a host-order `u32`.
    #[inline]
    pub fn set_dst_addr_u32(&mut self, addr: u32) {
        set_u32(self.buffer.as_mut(), field::DST_ADDR, addr);
    }

    /// Computes and stores the header checksum (RFC 791 §3.1: "the checksum
    /// field is the 16 bit one's complement of the one's complement sum of
    /// all 16 bit words in the header", computed with the field at zero).
    #[inline]
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let header_len = self.header_len();
        let sum = checksum::sum(&self.buffer.as_ref()[..header_len]);
        self.set_checksum(checksum::finish(sum));
    }

    /// Rewrites Source Address and updates the header checksum
    /// incrementally (RFC 1624 eqn. 3). Returns the old address as a
    /// host-order `u32`, for the caller's transport checksum update
    /// (the pseudo-header includes it).
    #[inline]
    pub fn rewrite_src_addr(&mut self, addr: u32) -> u32 {
        let old = self.src_addr_u32();
        self.set_src_addr_u32(addr);
        self.set_checksum(checksum::update32(self.checksum(), old, addr));
        old
    }

    /// Rewrites Destination Address and updates the header checksum
    /// incrementally (RFC 1624 eqn. 3). Returns the old address.
    #[inline]
    pub fn rewrite_dst_addr(&mut self, addr: u32) -> u32 {
        let old = self.dst_addr_u32();
        self.set_dst_addr_u32(addr);
        self.set_checksum(checksum::update32(self.checksum(), old, addr));
        old
    }

    /// Decrements TTL by one and updates the checksum incrementally
    /// (RFC 1812 §5.3.1; RFC 1624 §4 is this exact example). Returns the new
    /// TTL. A TTL of 0 is left unchanged; a router must not forward a
    /// packet whose TTL is 0 or 1 on arrival but send ICMP Time Exceeded
    /// (RFC 1812 §5.3.1).
    #[inline]
    pub fn decrement_ttl(&mut self) -> u8 {
        let old_word = get_u16(self.buffer.as_ref(), field::TTL_PROTOCOL);
        let ttl = self.ttl();
        if ttl == 0 {
            return 0;
        }
        self.set_ttl(ttl - 1);
        let new_word = get_u16(self.buffer.as_ref(), field::TTL_PROTOCOL);
        self.set_checksum(checksum::update16(self.checksum(), old_word, new_word));
        ttl - 1
    }

    /// The options, mutable.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }

    /// The data after the header up to Total Length, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        let end = usize::from(self.total_len()).min(self.buffer.as_ref().len());
        &mut self.buffer.as_mut()[start..end]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// Writes a 20-byte IPv4 header (no options, DSCP/ECN 0, no flags, offset
/// 0) with a correct checksum at the start of `buf`; returns 20.
///
/// # Panics
/// If `buf` is shorter than 20 bytes or `payload_len` is more than
/// 65 515 (Total Length would not fit in 16 bits).
#[inline]
pub fn emit_header(buf: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, payload_len: u16, ttl: u8, ident: u16) -> usize {
    let total_len = payload_len
        .checked_add(HEADER_LEN as u16)
        .expect("IPv4 payload longer than 65515 bytes");
    let header = &mut buf[..HEADER_LEN];
    header[field::VER_IHL] = 0x45;
    header[field::DSCP_ECN] = 0;
    set_u16(header, field::FLG_OFF, 0);
    let mut packet = Packet::new_unchecked(header);
    packet.set_total_len(total_len);
    packet.set_ident(ident);
    packet.set_ttl(ttl);
    packet.set_protocol(protocol);
    packet.set_src_addr(src);
    packet.set_dst_addr(dst);
    packet.fill_checksum();
    HEADER_LEN
}

/// How many fragments [`emit_fragment`] makes of a datagram with
/// `payload_len` bytes of data and a `header_len`-byte header for a link
/// of `mtu` bytes (RFC 791 §2.3, §3.2):
///
/// - 1 if the whole datagram fits (`header_len + payload_len <= mtu`);
/// - 0 if it does not fit and the MTU leaves less than 8 bytes of data per
///   fragment (RFC 791: "the fragment offset is measured in units of 8
///   octets"), i.e. it cannot be fragmented;
/// - otherwise `ceil(payload_len / per)` where
///   `per = (mtu - header_len)` rounded down to a multiple of 8.
///
/// Every fragment keeps the original header length (see
/// [`emit_fragment`]), so `per` is the same for all of them.
#[inline]
pub fn fragment_count(payload_len: usize, header_len: usize, mtu: usize) -> usize {
    if header_len + payload_len <= mtu {
        return 1;
    }
    let per = mtu.saturating_sub(header_len) & !7;
    if per == 0 {
        return 0;
    }
    payload_len.div_ceil(per)
}

/// Checks the options of a header copied into a fragment and, unless
/// `first`, replaces every option whose copied flag is clear by NOPs
/// (RFC 791 §3.1 "Options": "The copied flag indicates that this option is
/// copied into all fragments on fragmentation"), the way Linux's
/// `ip_options_fragment` does: the header keeps its length, so every
/// fragment carries the same amount of data.
fn scrub_options(options: &mut [u8], first: bool) -> Result<()> {
    const END_OF_LIST: u8 = 0;
    const NO_OPERATION: u8 = 1;
    const COPIED: u8 = 0x80;
    let mut i = 0;
    while i < options.len() {
        match options[i] {
            END_OF_LIST => {
                // The rest is padding (RFC 791: "The internet header padding
                // is used [...] The padding is zero").
                if !first {
                    options[i..].fill(0);
                }
                break;
            }
            NO_OPERATION => i += 1,
            kind => {
                let len = match options.get(i + 1) {
                    Some(&len) => usize::from(len),
                    None => return Err(Error::Malformed),
                };
                if len < 2 || i + len > options.len() {
                    return Err(Error::Malformed);
                }
                if !first && kind & COPIED == 0 {
                    options[i..i + len].fill(NO_OPERATION);
                }
                i += len;
            }
        }
    }
    Ok(())
}

/// Writes fragment number `index` (0-based) of the IPv4 datagram
/// `original` for a link of `mtu` bytes into `out`, and returns its length
/// (RFC 791 §3.2 "An Example Fragmentation Procedure"; RFC 1812 §4.2.2.7).
///
/// - Data is cut in pieces of `per` bytes (see [`fragment_count`]); the
///   fragment offset is `original offset + index × per` (so an original
///   that was itself a fragment is fragmented further correctly).
/// - MF is set on every fragment but the last, and on the last too if the
///   original had MF set (it was itself a non-last fragment).
/// - The first fragment copies the header with all its options; the others
///   keep only the options with the copied flag, the rest being replaced by
///   NOP options (header length unchanged).
/// - Total Length and a fresh header checksum are written; Identification,
///   DSCP/ECN, TTL, Protocol and addresses are copied.
///
/// If the datagram fits in `mtu`, `index` 0 copies it unchanged (trimmed
/// to Total Length).
///
/// Errors: whatever [`Packet::new_checked`] returns for `original`;
/// [`Error::Malformed`] if it must be fragmented but has DF set (RFC 791:
/// "If the Don't Fragment flag is set, then internet fragmentation of this
/// datagram is NOT permitted"; send ICMP fragmentation-needed instead,
/// RFC 1191), if `mtu` is too small for 8 bytes of data, if `index` is not
/// below [`fragment_count`], if the options are malformed, or if the
/// resulting offset would not fit in 13 bits; [`Error::Truncated`] if `out`
/// is too short for the fragment.
pub fn emit_fragment(original: &[u8], mtu: usize, index: usize, out: &mut [u8]) -> Result<usize> {
    let packet = Packet::new_checked(original)?;
    let header_len = packet.header_len();
    let payload = packet.payload();
    let count = fragment_count(payload.len(), header_len, mtu);
    if index >= count {
        return Err(Error::Malformed);
    }
    if count == 1 {
        let total = header_len + payload.len();
        let dst = out.get_mut(..total).ok_or(Error::Truncated)?;
        dst.copy_from_slice(&original[..total]);
        return Ok(total);
    }
    if packet.dont_frag() {
        return Err(Error::Malformed);
    }
    let per = (mtu - header_len) & !7;
    let start = index * per;
    let end = (start + per).min(payload.len());
    let offset = usize::from(packet.frag_offset()) + start;
    if offset > MAX_FRAG_OFFSET {
        return Err(Error::Malformed);
    }
    let frag_len = header_len + (end - start);
    let frag = out.get_mut(..frag_len).ok_or(Error::Truncated)?;
    frag[..header_len].copy_from_slice(&original[..header_len]);
    scrub_options(&mut frag[HEADER_LEN..header_len], index == 0)?;
    frag[header_len..].copy_from_slice(&payload[start..end]);

    let mut fragment = Packet::new_unchecked(frag);
    // frag_len <= header_len + payload.len() = total_len, so it fits a u16;
    // offset <= MAX_FRAG_OFFSET was checked above.
    fragment.set_total_len(frag_len as u16);
    fragment.set_frag_offset(offset as u16);
    fragment.set_more_frags(index + 1 < count || packet.more_frags());
    fragment.fill_checksum();
    Ok(frag_len)
}
