//! UDP datagrams (RFC 768).
//!
//! RFC 768 "Format":
//!
//! ```text
//!  0      7 8     15 16    23 24    31
//! +--------+--------+--------+--------+
//! |     Source      |   Destination   |
//! |      Port       |      Port       |
//! +--------+--------+--------+--------+
//! |                 |                 |
//! |     Length      |    Checksum     |
//! +--------+--------+--------+--------+
//! |
//! |          data octets ...
//! +---------------- ...
//! ```
//!
//! Length counts the header and the data. The checksum covers the IPv4
//! pseudo-header ([`checksum::pseudo_header_v4`]), the header and the data;
//! a transmitted checksum of 0 means "no checksum", and a computed 0 is
//! sent as `0xFFFF`.
//!
//! Two ways in:
//!
//! - [`Packet::new_checked`] for a complete datagram (the IPv4 payload of an
//!   unfragmented packet): `8 <= Length <= buffer length`.
//! - [`Packet::new_embedded`] when only the 8-byte header is guaranteed: the
//!   datagram quoted in an ICMP error (RFC 792 quotes the first 64 bits of
//!   data) or the first fragment of a fragmented datagram, whose Length
//!   describes the whole datagram. Ports, Length and Checksum can be read
//!   and written; [`Packet::payload`] returns what is there;
//!   [`Packet::verify_checksum`] and [`Packet::fill_checksum`] need the
//!   whole datagram and must not be used.

use core::net::Ipv4Addr;

use super::{checksum, get_u16, ip_protocol, set_u16, Error, Result};

pub(crate) mod field {
    use crate::wire::Field;

    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const LENGTH: Field = 4..6;
    pub const CHECKSUM: Field = 6..8;
}

/// Length of the UDP header.
pub const HEADER_LEN: usize = 8;

/// A view over a UDP datagram.
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

    /// Wraps a buffer of which only the header is guaranteed (see the
    /// module documentation) and checks it with
    /// [`Packet::check_embedded_len`].
    #[inline]
    pub fn new_embedded(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_embedded_len()?;
        Ok(packet)
    }

    /// [`Error::Truncated`] if the buffer is shorter than the 8-byte header.
    #[inline]
    pub fn check_embedded_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// Checks a complete datagram: [`Error::Truncated`] if the buffer is
    /// shorter than 8 bytes or than Length; [`Error::Malformed`] if Length
    /// is below 8 (RFC 768: "the minimum value of the length is eight").
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        self.check_embedded_len()?;
        let len = usize::from(self.len());
        if len < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if len > self.buffer.as_ref().len() {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Returns the buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Source Port.
    #[inline]
    pub fn src_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::SRC_PORT)
    }

    /// Destination Port.
    #[inline]
    pub fn dst_port(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::DST_PORT)
    }

    /// Length of header and data in bytes.
    #[inline]
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::LENGTH)
    }

    /// Checksum (0: none was computed).
    #[inline]
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// The data: bytes 8 to Length, bounded by the end of the buffer (for
    /// an embedded datagram).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        let data = self.buffer.as_ref();
        let end = usize::from(self.len()).clamp(HEADER_LEN, data.len());
        &data[HEADER_LEN..end]
    }

    /// Whether the checksum is correct or absent (RFC 768: 0 means the
    /// transmitter generated no checksum; RFC 1122 §4.1.3.4 lets the
    /// receiver accept it). Returns `false` if the buffer is shorter than
    /// Length (an embedded datagram cannot be verified).
    #[inline]
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let len = self.len();
        let Some(data) = self.buffer.as_ref().get(..usize::from(len)) else {
            return false;
        };
        let sum = checksum::pseudo_header_v4(src, dst, ip_protocol::UDP, len) + checksum::sum(data);
        checksum::fold(sum) == 0xFFFF
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets Source Port (the checksum is not touched).
    #[inline]
    pub fn set_src_port(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::SRC_PORT, value);
    }

    /// Sets Destination Port (the checksum is not touched).
    #[inline]
    pub fn set_dst_port(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::DST_PORT, value);
    }

    /// Sets Length.
    #[inline]
    pub fn set_len(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::LENGTH, value);
    }

    /// Sets Checksum.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    /// Rewrites Source Port and updates the checksum incrementally with
    /// [`checksum::update16_udp`] (a 0 checksum stays 0). Returns the old
    /// port.
    #[inline]
    pub fn rewrite_src_port(&mut self, port: u16) -> u16 {
        let old = self.src_port();
        self.set_src_port(port);
        self.set_checksum(checksum::update16_udp(self.checksum(), old, port));
        old
    }

    /// Rewrites Destination Port and updates the checksum incrementally
    /// with [`checksum::update16_udp`]. Returns the old port.
    #[inline]
    pub fn rewrite_dst_port(&mut self, port: u16) -> u16 {
        let old = self.dst_port();
        self.set_dst_port(port);
        self.set_checksum(checksum::update16_udp(self.checksum(), old, port));
        old
    }

    /// Updates the checksum for an IPv4 address of the pseudo-header
    /// changing from `old` to `new` (host-order `u32`s), with
    /// [`checksum::update32_udp`].
    #[inline]
    pub fn update_checksum_for_addr(&mut self, old: u32, new: u32) {
        self.set_checksum(checksum::update32_udp(self.checksum(), old, new));
    }

    /// Computes and stores the checksum over the pseudo-header, header and
    /// data (RFC 768), storing `0xFFFF` for a computed 0.
    ///
    /// # Panics
    /// If the buffer is shorter than Length, which [`Packet::new_checked`]
    /// rules out.
    #[inline]
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let len = self.len();
        let data = &self.buffer.as_ref()[..usize::from(len)];
        let sum = checksum::pseudo_header_v4(src, dst, ip_protocol::UDP, len) + checksum::sum(data);
        self.set_checksum(checksum::udp_transmitted(checksum::finish(sum)));
    }

    /// The data, mutable (see [`Packet::payload`]).
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let len = self.buffer.as_ref().len();
        let end = usize::from(self.len()).clamp(HEADER_LEN, len);
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// Writes a UDP header at the start of `buf` with Length = 8 +
/// `payload_len` and a zero checksum, and returns 8. Call
/// [`Packet::fill_checksum`] once the data is in place.
///
/// # Panics
/// If `buf` is shorter than 8 bytes or `payload_len > 65527`.
#[inline]
pub fn emit_header(buf: &mut [u8], src_port: u16, dst_port: u16, payload_len: u16) -> usize {
    let len = payload_len
        .checked_add(HEADER_LEN as u16)
        .expect("UDP payload longer than 65527 bytes");
    let mut packet = Packet::new_unchecked(&mut buf[..HEADER_LEN]);
    packet.set_src_port(src_port);
    packet.set_dst_port(dst_port);
    packet.set_len(len);
    packet.set_checksum(0);
    HEADER_LEN
}
