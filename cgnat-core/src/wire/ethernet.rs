//! Ethernet II frames (IEEE 802.3 clause 3, RFC 894) with an optional
//! single IEEE 802.1Q VLAN tag.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 Destination MAC address (6 octets)            |
//! +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                               |                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
//! |                   Source MAC address (6 octets)               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     EtherType (or TPID 0x8100)|  802.1Q: PCP|D|     VID       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  802.1Q: inner EtherType      |  payload ...
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Without a tag the header is 14 bytes and the payload follows the
//! EtherType; with one 802.1Q tag (TPID `0x8100`) it is 18 bytes. Only one
//! tag is understood: a frame with a second tag, or with an 802.1ad S-tag
//! (`0x88A8`), reports that TPID as its [`Frame::inner_ethertype`], which the
//! caller drops as an unknown protocol. The frame check sequence is not part
//! of the buffer (NICs strip it), and the payload may contain padding up to
//! the 60-byte minimum frame size; the IPv4 view bounds itself by its total
//! length.

use core::fmt;

use super::{get_u16, set_u16, Error, Result};

/// EtherType values (IEEE 802 Numbers registry, RFC 7042 Appendix B).
pub mod ethertype {
    /// Internet Protocol version 4 (RFC 894).
    pub const IPV4: u16 = 0x0800;
    /// Address Resolution Protocol (RFC 826).
    pub const ARP: u16 = 0x0806;
    /// IEEE 802.1Q VLAN tag protocol identifier (TPID).
    pub const VLAN: u16 = 0x8100;
}

/// A 48-bit IEEE 802 MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct EthernetAddress(pub [u8; 6]);

impl EthernetAddress {
    /// The broadcast address `ff:ff:ff:ff:ff:ff`.
    pub const BROADCAST: EthernetAddress = EthernetAddress([0xFF; 6]);

    /// Builds an address from the first six bytes of `data`.
    ///
    /// # Panics
    /// If `data` is shorter than six bytes.
    #[inline]
    pub fn from_bytes(data: &[u8]) -> EthernetAddress {
        let mut a = [0u8; 6];
        a.copy_from_slice(&data[..6]);
        EthernetAddress(a)
    }

    /// The six address bytes.
    #[inline]
    pub const fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }

    /// Whether this is the broadcast address.
    #[inline]
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// Whether the I/G bit (least significant bit of the first octet) is
    /// set: a group (multicast or broadcast) address.
    #[inline]
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// Whether this is an individual (unicast) address.
    #[inline]
    pub const fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }
}

impl fmt::Display for EthernetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = &self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
    }
}

mod field {
    use crate::wire::Field;

    pub const DESTINATION: Field = 0..6;
    pub const SOURCE: Field = 6..12;
    pub const ETHERTYPE: Field = 12..14;
    /// 802.1Q Tag Control Information: PCP (3 bits), DEI (1), VID (12).
    pub const VLAN_TCI: Field = 14..16;
    pub const VLAN_ETHERTYPE: Field = 16..18;
}

/// Length of an untagged Ethernet II header.
pub const HEADER_LEN: usize = 14;
/// Length of an Ethernet II header with one 802.1Q tag.
pub const VLAN_HEADER_LEN: usize = 18;

/// A view over an Ethernet II frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wraps a buffer without checking it; getters may panic if it is too
    /// short.
    #[inline]
    pub const fn new_unchecked(buffer: T) -> Frame<T> {
        Frame { buffer }
    }

    /// Wraps a buffer and checks it with [`Frame::check_len`].
    #[inline]
    pub fn new_checked(buffer: T) -> Result<Frame<T>> {
        let frame = Self::new_unchecked(buffer);
        frame.check_len()?;
        Ok(frame)
    }

    /// Checks that the buffer holds the whole header: 14 bytes, or 18 if
    /// the outer EtherType is the 802.1Q TPID. Returns
    /// [`Error::Truncated`] otherwise.
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let data = self.buffer.as_ref();
        if data.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if get_u16(data, field::ETHERTYPE) == ethertype::VLAN && data.len() < VLAN_HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Returns the buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Destination MAC address.
    #[inline]
    pub fn dst_addr(&self) -> EthernetAddress {
        EthernetAddress::from_bytes(&self.buffer.as_ref()[field::DESTINATION])
    }

    /// Source MAC address.
    #[inline]
    pub fn src_addr(&self) -> EthernetAddress {
        EthernetAddress::from_bytes(&self.buffer.as_ref()[field::SOURCE])
    }

    /// The outer EtherType field (`0x8100` for a tagged frame).
    #[inline]
    pub fn ethertype(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::ETHERTYPE)
    }

    /// Whether the frame carries an 802.1Q tag.
    #[inline]
    pub fn is_vlan_tagged(&self) -> bool {
        self.ethertype() == ethertype::VLAN
    }

    /// The 802.1Q Tag Control Information (PCP, DEI, VID), if tagged.
    #[inline]
    pub fn vlan_tci(&self) -> Option<u16> {
        if self.is_vlan_tagged() {
            Some(get_u16(self.buffer.as_ref(), field::VLAN_TCI))
        } else {
            None
        }
    }

    /// The 12-bit 802.1Q VLAN identifier, if tagged.
    #[inline]
    pub fn vlan_id(&self) -> Option<u16> {
        self.vlan_tci().map(|tci| tci & 0x0FFF)
    }

    /// The EtherType of the payload: after the 802.1Q tag if there is one,
    /// else the outer EtherType.
    #[inline]
    pub fn inner_ethertype(&self) -> u16 {
        if self.is_vlan_tagged() {
            get_u16(self.buffer.as_ref(), field::VLAN_ETHERTYPE)
        } else {
            self.ethertype()
        }
    }

    /// Header length: [`HEADER_LEN`] or, with an 802.1Q tag,
    /// [`VLAN_HEADER_LEN`].
    #[inline]
    pub fn header_len(&self) -> usize {
        if self.is_vlan_tagged() {
            VLAN_HEADER_LEN
        } else {
            HEADER_LEN
        }
    }

    /// The payload (everything after the header, padding included).
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// Sets the destination MAC address.
    #[inline]
    pub fn set_dst_addr(&mut self, addr: EthernetAddress) {
        self.buffer.as_mut()[field::DESTINATION].copy_from_slice(&addr.0);
    }

    /// Sets the source MAC address.
    #[inline]
    pub fn set_src_addr(&mut self, addr: EthernetAddress) {
        self.buffer.as_mut()[field::SOURCE].copy_from_slice(&addr.0);
    }

    /// Sets the outer EtherType field. Changing it to or from `0x8100`
    /// changes [`Frame::header_len`]; the caller is responsible for the
    /// buffer layout.
    #[inline]
    pub fn set_ethertype(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::ETHERTYPE, value);
    }

    /// Sets the EtherType of the payload (after the tag if tagged).
    #[inline]
    pub fn set_inner_ethertype(&mut self, value: u16) {
        if self.is_vlan_tagged() {
            set_u16(self.buffer.as_mut(), field::VLAN_ETHERTYPE, value);
        } else {
            self.set_ethertype(value);
        }
    }

    /// Sets the 12-bit VLAN identifier, keeping PCP and DEI. Returns
    /// `false` (and changes nothing) if the frame is untagged.
    #[inline]
    pub fn set_vlan_id(&mut self, vid: u16) -> bool {
        match self.vlan_tci() {
            Some(tci) => {
                let tci = (tci & 0xF000) | (vid & 0x0FFF);
                set_u16(self.buffer.as_mut(), field::VLAN_TCI, tci);
                true
            }
            None => false,
        }
    }

    /// The payload, mutable.
    #[inline]
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Frame<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// Writes an Ethernet II header at the start of `buf` and returns its
/// length (14, or 18 with a VLAN tag). `vlan` is the 802.1Q TCI: the VLAN
/// identifier in the low 12 bits, PCP and DEI (usually 0) in the high 4.
///
/// # Panics
/// If `buf` is shorter than the header.
#[inline]
pub fn emit_header(buf: &mut [u8], dst: EthernetAddress, src: EthernetAddress, vlan: Option<u16>, ethertype: u16) -> usize {
    buf[field::DESTINATION].copy_from_slice(&dst.0);
    buf[field::SOURCE].copy_from_slice(&src.0);
    match vlan {
        Some(tci) => {
            set_u16(buf, field::ETHERTYPE, self::ethertype::VLAN);
            set_u16(buf, field::VLAN_TCI, tci);
            set_u16(buf, field::VLAN_ETHERTYPE, ethertype);
            VLAN_HEADER_LEN
        }
        None => {
            set_u16(buf, field::ETHERTYPE, ethertype);
            HEADER_LEN
        }
    }
}
