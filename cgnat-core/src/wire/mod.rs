//! Zero-copy typed views over packet buffers, in the style of smoltcp's
//! `wire` module.
//!
//! Every protocol lives in its own module and exposes a view type
//! (`Packet<T>` or, for Ethernet, `Frame<T>`) that wraps any buffer
//! `T: AsRef<[u8]>` (read access) or `T: AsRef<[u8]> + AsMut<[u8]>` (read and
//! write access). A DPDK mbuf's data area, a `Vec<u8>` and a `&[u8]` from a
//! pcap file are all just buffers; nothing is copied and nothing is
//! allocated.
//!
//! Constructors:
//!
//! - `new_unchecked(buffer)` wraps the buffer without any validation. Getters
//!   may then panic on a buffer that is too short. Use it only on bytes you
//!   produced yourself.
//! - `new_checked(buffer)` = `new_unchecked` + `check_len()`: validates every
//!   length field against the buffer (and version / type fields where the
//!   protocol has them) and returns [`Error`] instead. After a successful
//!   `new_checked`, no getter panics, whatever the bytes are. This is the
//!   constructor for untrusted input.
//! - `new_embedded(buffer)` (IPv4, TCP, UDP, ICMP): the lenient constructor
//!   for the packet quoted inside an ICMP error message, of which RFC 792
//!   only guarantees "the internet header plus the first 64 bits of the
//!   original datagram's data". See each module for which getters are safe
//!   on such a view.
//!
//! Field offsets are named constants in a private `mod field` of each
//! module, and each module's documentation carries the header diagram of the
//! RFC it implements.

use core::fmt;
use core::ops::Range;

pub mod arp;
pub mod checksum;
pub mod ethernet;
pub mod ha;
pub mod icmp;
pub mod ipv4;
pub mod natpmp;
pub mod pcp;
pub mod tcp;
pub mod udp;

/// Why a buffer could not be viewed as a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Error {
    /// The buffer is shorter than the header, or shorter than a length field
    /// in the header says it is.
    Truncated,
    /// A field has a value that the view does not accept (wrong version,
    /// header length below the minimum, unsupported hardware type, ...), or a
    /// builder was asked for something impossible (MTU too small, index out
    /// of range).
    Malformed,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Truncated => f.write_str("truncated packet"),
            Error::Malformed => f.write_str("malformed packet"),
        }
    }
}

impl std::error::Error for Error {}

/// The result type of the `wire` module.
pub type Result<T> = core::result::Result<T, Error>;

/// IP protocol numbers (the IPv4 "Protocol" field), from the IANA
/// "Assigned Internet Protocol Numbers" registry (RFC 790, RFC 5237).
pub mod ip_protocol {
    /// Internet Control Message Protocol (RFC 792).
    pub const ICMP: u8 = 1;
    /// Transmission Control Protocol (RFC 9293).
    pub const TCP: u8 = 6;
    /// User Datagram Protocol (RFC 768).
    pub const UDP: u8 = 17;
}

/// A fixed field: a byte range inside a header.
pub(crate) type Field = Range<usize>;

/// Reads a 16-bit field as it lies in memory (machine byte order): for
/// checksum arithmetic, which RFC 1071 §2(B) makes byte-order independent,
/// so fields that only take part in a sum need no swapping.
#[inline(always)]
pub(crate) fn get_ne16(data: &[u8], field: Field) -> u16 {
    let b = &data[field];
    u16::from_ne_bytes([b[0], b[1]])
}

/// Reads a 32-bit field in machine byte order (see [`get_ne16`]).
#[inline(always)]
pub(crate) fn get_ne32(data: &[u8], field: Field) -> u32 {
    let b = &data[field];
    u32::from_ne_bytes([b[0], b[1], b[2], b[3]])
}

/// Writes a 16-bit field from its machine-byte-order image (see [`get_ne16`]).
#[inline(always)]
pub(crate) fn set_ne16(data: &mut [u8], field: Field, value: u16) {
    data[field].copy_from_slice(&value.to_ne_bytes());
}

/// Writes a 32-bit field from its machine-byte-order image.
#[inline(always)]
pub(crate) fn set_ne32(data: &mut [u8], field: Field, value: u32) {
    data[field].copy_from_slice(&value.to_ne_bytes());
}

/// Reads a big-endian ("network byte order", RFC 791 Appendix B) `u16`.
#[inline(always)]
pub(crate) fn get_u16(data: &[u8], field: Field) -> u16 {
    u16::from_be(get_ne16(data, field))
}

/// Reads a big-endian `u32`.
#[inline(always)]
pub(crate) fn get_u32(data: &[u8], field: Field) -> u32 {
    u32::from_be(get_ne32(data, field))
}

/// Writes a big-endian `u16`.
#[inline(always)]
pub(crate) fn set_u16(data: &mut [u8], field: Field, value: u16) {
    set_ne16(data, field, value.to_be());
}

/// Writes a big-endian `u32`.
#[inline(always)]
pub(crate) fn set_u32(data: &mut [u8], field: Field, value: u32) {
    set_ne32(data, field, value.to_be());
}
