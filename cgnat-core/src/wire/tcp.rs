//! TCP segments (RFC 9293, which obsoletes RFC 793).
//!
//! RFC 9293 §3.1 "Header Format":
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Source Port          |       Destination Port        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                        Sequence Number                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Acknowledgment Number                      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Data |       |C|E|U|A|P|R|S|F|                               |
//! | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
//! |       |       |R|E|G|K|H|T|N|N|                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Checksum            |         Urgent Pointer        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                           [Options]                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                             Data ...                          :
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The view's buffer is the whole segment (use the IPv4 view's payload,
//! which stops at Total Length): its length is the "TCP Length" of the
//! checksum pseudo-header (RFC 9293 §3.1 "Checksum").
//!
//! Two ways in:
//!
//! - [`Packet::new_checked`] for a complete segment:
//!   `20 <= Data Offset × 4 <= buffer length`.
//! - [`Packet::new_embedded`] for the segment quoted in an ICMP error, of
//!   which only 8 bytes are guaranteed (RFC 792: "the first 64 bits of the
//!   original datagram's data"): only [`Packet::src_port`],
//!   [`Packet::dst_port`], [`Packet::seq_number`] and their setters may be
//!   used on such a view; the other accessors may panic.

use core::net::Ipv4Addr;

use super::{checksum, get_u16, get_u32, ip_protocol, set_u16, set_u32, Error, Result};

pub(crate) mod field {
    use crate::wire::Field;

    pub const SRC_PORT: Field = 0..2;
    pub const DST_PORT: Field = 2..4;
    pub const SEQ_NUM: Field = 4..8;
    pub const ACK_NUM: Field = 8..12;
    /// Data Offset (high nibble) and reserved bits.
    pub const DATA_OFFSET: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WIN_SIZE: Field = 14..16;
    pub const CHECKSUM: Field = 16..18;
    pub const URGENT: Field = 18..20;
}

/// Control bits (RFC 9293 §3.1, RFC 3168 §6.1 for ECE and CWR).
pub mod flags {
    /// FIN: no more data from sender.
    pub const FIN: u8 = 0x01;
    /// SYN: synchronize sequence numbers.
    pub const SYN: u8 = 0x02;
    /// RST: reset the connection.
    pub const RST: u8 = 0x04;
    /// PSH: push function.
    pub const PSH: u8 = 0x08;
    /// ACK: acknowledgment field is significant.
    pub const ACK: u8 = 0x10;
    /// URG: urgent pointer field is significant.
    pub const URG: u8 = 0x20;
    /// ECE: ECN-Echo (RFC 3168).
    pub const ECE: u8 = 0x40;
    /// CWR: Congestion Window Reduced (RFC 3168).
    pub const CWR: u8 = 0x80;
}

/// Option kinds (RFC 9293 §3.1 "Options").
mod option {
    pub const END_OF_LIST: u8 = 0;
    pub const NO_OPERATION: u8 = 1;
    pub const MSS: u8 = 2;
    pub const MSS_LEN: usize = 4;
}

/// Length of a TCP header without options.
pub const HEADER_LEN: usize = 20;
/// Length of the part of the header that an ICMP error is guaranteed to
/// quote (ports and sequence number).
pub const EMBEDDED_LEN: usize = 8;

/// A view over a TCP segment.
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

    /// Wraps a buffer and checks it with [`Packet::check_len`].
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Wraps the start of a segment quoted in an ICMP error and checks it
    /// with [`Packet::check_embedded_len`] (see the module documentation
    /// for what may be accessed).
    #[inline]
    pub fn new_embedded(buffer: T) -> Result<Packet<T>> {
        let packet = Self::new_unchecked(buffer);
        packet.check_embedded_len()?;
        Ok(packet)
    }

    /// [`Error::Truncated`] if fewer than 8 bytes (ports and sequence
    /// number) are present.
    #[inline]
    pub fn check_embedded_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < EMBEDDED_LEN {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }

    /// Checks a complete segment: [`Error::Truncated`] if the buffer is
    /// shorter than 20 bytes or than the header length; [`Error::Malformed`]
    /// if Data Offset is below 5 (RFC 9293 §3.1: "The TCP header (even one
    /// including options) is an integer multiple of 32 bits long", and the
    /// fixed part is five of them).
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let header_len = self.header_len();
        if header_len < HEADER_LEN {
            return Err(Error::Malformed);
        }
        if header_len > len {
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

    /// Sequence Number.
    #[inline]
    pub fn seq_number(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::SEQ_NUM)
    }

    /// Acknowledgment Number.
    #[inline]
    pub fn ack_number(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::ACK_NUM)
    }

    /// Header length in bytes: Data Offset × 4.
    #[inline]
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::DATA_OFFSET] >> 4) * 4
    }

    /// The eight control bits (see [`flags`]).
    #[inline]
    pub fn flags(&self) -> u8 {
        self.buffer.as_ref()[field::FLAGS]
    }

    /// FIN control bit.
    #[inline]
    pub fn fin(&self) -> bool {
        self.flags() & flags::FIN != 0
    }

    /// SYN control bit.
    #[inline]
    pub fn syn(&self) -> bool {
        self.flags() & flags::SYN != 0
    }

    /// RST control bit.
    #[inline]
    pub fn rst(&self) -> bool {
        self.flags() & flags::RST != 0
    }

    /// PSH control bit.
    #[inline]
    pub fn psh(&self) -> bool {
        self.flags() & flags::PSH != 0
    }

    /// ACK control bit.
    #[inline]
    pub fn ack(&self) -> bool {
        self.flags() & flags::ACK != 0
    }

    /// URG control bit.
    #[inline]
    pub fn urg(&self) -> bool {
        self.flags() & flags::URG != 0
    }

    /// ECE control bit (RFC 3168).
    #[inline]
    pub fn ece(&self) -> bool {
        self.flags() & flags::ECE != 0
    }

    /// CWR control bit (RFC 3168).
    #[inline]
    pub fn cwr(&self) -> bool {
        self.flags() & flags::CWR != 0
    }

    /// Window.
    #[inline]
    pub fn window_len(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::WIN_SIZE)
    }

    /// Checksum.
    #[inline]
    pub fn checksum(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::CHECKSUM)
    }

    /// Urgent Pointer.
    #[inline]
    pub fn urgent_at(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::URGENT)
    }

    /// The options (empty when Data Offset is 5).
    #[inline]
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// The data after the header.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// Offset from the start of the segment of the 2-byte value of the
    /// Maximum Segment Size option (RFC 9293 §3.2: kind 2, length 4), if
    /// present. Walks the options as RFC 9293 §3.1 lays them out (kind 0
    /// ends the list, kind 1 is a single byte, every other option has a
    /// length byte); stops at the first malformed length.
    fn mss_option_offset(&self) -> Option<usize> {
        let options = self.options();
        let mut i = 0;
        while i < options.len() {
            match options[i] {
                option::END_OF_LIST => return None,
                option::NO_OPERATION => i += 1,
                kind => {
                    let len = usize::from(*options.get(i + 1)?);
                    if len < 2 || i + len > options.len() {
                        return None;
                    }
                    if kind == option::MSS && len == option::MSS_LEN {
                        return Some(HEADER_LEN + i + 2);
                    }
                    i += len;
                }
            }
        }
        None
    }

    /// The Maximum Segment Size option value, if present (RFC 9293 §3.7.1;
    /// only meaningful in a SYN segment).
    #[inline]
    pub fn mss_option(&self) -> Option<u16> {
        let at = self.mss_option_offset()?;
        Some(get_u16(self.buffer.as_ref(), at..at + 2))
    }

    /// Whether the checksum is correct (RFC 9293 §3.1 "Checksum": over the
    /// pseudo-header, the header and the data). Returns `false` for a
    /// buffer longer than 65 535 bytes, which no IPv4 packet carries.
    #[inline]
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        let data = self.buffer.as_ref();
        let Ok(len) = u16::try_from(data.len()) else {
            return false;
        };
        let sum = checksum::pseudo_header_v4(src, dst, ip_protocol::TCP, len) + checksum::sum(data);
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

    /// Sets Sequence Number.
    #[inline]
    pub fn set_seq_number(&mut self, value: u32) {
        set_u32(self.buffer.as_mut(), field::SEQ_NUM, value);
    }

    /// Sets Acknowledgment Number.
    #[inline]
    pub fn set_ack_number(&mut self, value: u32) {
        set_u32(self.buffer.as_mut(), field::ACK_NUM, value);
    }

    /// Sets Data Offset from a header length in bytes (rounded down to 4),
    /// keeping the reserved bits.
    #[inline]
    pub fn set_header_len(&mut self, len: usize) {
        let b = &mut self.buffer.as_mut()[field::DATA_OFFSET];
        *b = (*b & 0x0F) | (((len / 4) as u8) << 4);
    }

    /// Sets the eight control bits.
    #[inline]
    pub fn set_flags(&mut self, value: u8) {
        self.buffer.as_mut()[field::FLAGS] = value;
    }

    /// Sets Window.
    #[inline]
    pub fn set_window_len(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::WIN_SIZE, value);
    }

    /// Sets Checksum.
    #[inline]
    pub fn set_checksum(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::CHECKSUM, value);
    }

    /// Sets Urgent Pointer.
    #[inline]
    pub fn set_urgent_at(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::URGENT, value);
    }

    /// Rewrites Source Port and updates the checksum incrementally
    /// (RFC 1624 eqn. 3). Returns the old port.
    #[inline]
    pub fn rewrite_src_port(&mut self, port: u16) -> u16 {
        let old = self.src_port();
        self.set_src_port(port);
        self.set_checksum(checksum::update16(self.checksum(), old, port));
        old
    }

    /// Rewrites Destination Port and updates the checksum incrementally
    /// (RFC 1624 eqn. 3). Returns the old port.
    #[inline]
    pub fn rewrite_dst_port(&mut self, port: u16) -> u16 {
        let old = self.dst_port();
        self.set_dst_port(port);
        self.set_checksum(checksum::update16(self.checksum(), old, port));
        old
    }

    /// Updates the checksum for an IPv4 address of the pseudo-header
    /// changing from `old` to `new` (host-order `u32`s).
    #[inline]
    pub fn update_checksum_for_addr(&mut self, old: u32, new: u32) {
        self.set_checksum(checksum::update32(self.checksum(), old, new));
    }

    /// Overwrites the value of the MSS option if there is one, without
    /// touching the checksum. Returns whether an MSS option was found.
    #[inline]
    pub fn set_mss_option(&mut self, mss: u16) -> bool {
        match self.mss_option_offset() {
            Some(at) => {
                set_u16(self.buffer.as_mut(), at..at + 2, mss);
                true
            }
            None => false,
        }
    }

    /// MSS clamping: if the segment has an MSS option larger than `max`,
    /// lowers it to `max` and updates the checksum incrementally. Returns
    /// whether the segment changed. The option value may start at an odd
    /// offset (after a single NOP); its bytes then fall in two different
    /// 16-bit words and the update uses the byte-swapped values (RFC 1071
    /// §2(B)).
    #[inline]
    pub fn clamp_mss(&mut self, max: u16) -> bool {
        let Some(at) = self.mss_option_offset() else {
            return false;
        };
        let old = get_u16(self.buffer.as_ref(), at..at + 2);
        if old <= max {
            return false;
        }
        set_u16(self.buffer.as_mut(), at..at + 2, max);
        let (o, n) = if at % 2 == 0 {
            (old, max)
        } else {
            (old.swap_bytes(), max.swap_bytes())
        };
        self.set_checksum(checksum::update16(self.checksum(), o, n));
        true
    }

    /// Computes and stores the checksum over the pseudo-header, header and
    /// data (RFC 9293 §3.1). The buffer must be the whole segment
    /// (at most 65 535 bytes).
    #[inline]
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let data = self.buffer.as_ref();
        let len = data.len() as u16;
        let sum = checksum::pseudo_header_v4(src, dst, ip_protocol::TCP, len) + checksum::sum(data);
        self.set_checksum(checksum::finish(sum));
    }

    /// The options, mutable.
    #[inline]
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }

    /// The data after the header, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}
