//! ARP for IPv4 over Ethernet (RFC 826).
//!
//! Only the combination the appliance uses is accepted: hardware type 1
//! (Ethernet), protocol type `0x0800` (IPv4), 6-byte hardware and 4-byte
//! protocol addresses, which makes the packet 28 bytes:
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Hardware type (ar$hrd = 1)  | Protocol type (ar$pro=0x0800) |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | ar$hln = 6    | ar$pln = 4    | Operation (ar$op) 1=req 2=rep |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |             Sender hardware address (ar$sha) ...              |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |        ... (ar$sha)           |  Sender protocol addr (ar$spa)|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  ... (ar$spa)                 |  Target hardware addr (ar$tha)|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       ... (ar$tha)                            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                Target protocol address (ar$tpa)               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The buffer may be longer than 28 bytes (Ethernet padding); the extra
//! bytes are ignored.

use core::net::Ipv4Addr;

use super::ethernet::{ethertype, EthernetAddress};
use super::{get_u16, get_u32, set_u16, set_u32, Error, Result};

mod field {
    use crate::wire::Field;

    pub const HTYPE: Field = 0..2;
    pub const PTYPE: Field = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Field = 6..8;
    pub const SHA: Field = 8..14;
    pub const SPA: Field = 14..18;
    pub const THA: Field = 18..24;
    pub const TPA: Field = 24..28;
}

/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = 28;

/// ARP hardware type for Ethernet (RFC 826 "ar$hrd", IANA ARP parameters).
pub const HARDWARE_ETHERNET: u16 = 1;

/// The ARP operation code (RFC 826 "ar$op").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Operation {
    /// `ares_op$REQUEST` (1).
    Request,
    /// `ares_op$REPLY` (2).
    Reply,
    /// Any other value (RARP, InARP, ...), not handled by the appliance.
    Unknown(u16),
}

impl From<u16> for Operation {
    #[inline]
    fn from(value: u16) -> Self {
        match value {
            1 => Operation::Request,
            2 => Operation::Reply,
            other => Operation::Unknown(other),
        }
    }
}

impl From<Operation> for u16 {
    #[inline]
    fn from(value: Operation) -> Self {
        match value {
            Operation::Request => 1,
            Operation::Reply => 2,
            Operation::Unknown(other) => other,
        }
    }
}

/// A view over an Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; getters may panic if it is
    /// shorter than [`PACKET_LEN`].
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

    /// Checks the packet: [`Error::Truncated`] if shorter than
    /// [`PACKET_LEN`]; [`Error::Malformed`] unless hardware type is Ethernet
    /// (1), protocol type IPv4 (`0x0800`), hardware length 6 and protocol
    /// length 4 (RFC 826: a receiver checks `ar$hrd` and `ar$pro` and drops
    /// what it does not speak).
    #[inline]
    pub fn check_len(&self) -> Result<()> {
        let data = self.buffer.as_ref();
        if data.len() < PACKET_LEN {
            return Err(Error::Truncated);
        }
        if self.hardware_type() != HARDWARE_ETHERNET
            || self.protocol_type() != ethertype::IPV4
            || self.hardware_len() != 6
            || self.protocol_len() != 4
        {
            return Err(Error::Malformed);
        }
        Ok(())
    }

    /// Returns the buffer.
    #[inline]
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// Hardware address space (`ar$hrd`).
    #[inline]
    pub fn hardware_type(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::HTYPE)
    }

    /// Protocol address space (`ar$pro`), an EtherType.
    #[inline]
    pub fn protocol_type(&self) -> u16 {
        get_u16(self.buffer.as_ref(), field::PTYPE)
    }

    /// Hardware address length in bytes (`ar$hln`).
    #[inline]
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    /// Protocol address length in bytes (`ar$pln`).
    #[inline]
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    /// Operation (`ar$op`).
    #[inline]
    pub fn operation(&self) -> Operation {
        Operation::from(get_u16(self.buffer.as_ref(), field::OPER))
    }

    /// Sender hardware address (`ar$sha`).
    #[inline]
    pub fn sender_hardware_addr(&self) -> EthernetAddress {
        EthernetAddress::from_bytes(&self.buffer.as_ref()[field::SHA])
    }

    /// Sender protocol address (`ar$spa`).
    #[inline]
    pub fn sender_protocol_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(get_u32(self.buffer.as_ref(), field::SPA))
    }

    /// Target hardware address (`ar$tha`); zero or ignored in requests.
    #[inline]
    pub fn target_hardware_addr(&self) -> EthernetAddress {
        EthernetAddress::from_bytes(&self.buffer.as_ref()[field::THA])
    }

    /// Target protocol address (`ar$tpa`).
    #[inline]
    pub fn target_protocol_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(get_u32(self.buffer.as_ref(), field::TPA))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets `ar$hrd`.
    #[inline]
    pub fn set_hardware_type(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::HTYPE, value);
    }

    /// Sets `ar$pro`.
    #[inline]
    pub fn set_protocol_type(&mut self, value: u16) {
        set_u16(self.buffer.as_mut(), field::PTYPE, value);
    }

    /// Sets `ar$hln`.
    #[inline]
    pub fn set_hardware_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::HLEN] = value;
    }

    /// Sets `ar$pln`.
    #[inline]
    pub fn set_protocol_len(&mut self, value: u8) {
        self.buffer.as_mut()[field::PLEN] = value;
    }

    /// Sets `ar$op`.
    #[inline]
    pub fn set_operation(&mut self, op: Operation) {
        set_u16(self.buffer.as_mut(), field::OPER, op.into());
    }

    /// Sets `ar$sha`.
    #[inline]
    pub fn set_sender_hardware_addr(&mut self, addr: EthernetAddress) {
        self.buffer.as_mut()[field::SHA].copy_from_slice(&addr.0);
    }

    /// Sets `ar$spa`.
    #[inline]
    pub fn set_sender_protocol_addr(&mut self, addr: Ipv4Addr) {
        set_u32(self.buffer.as_mut(), field::SPA, addr.into());
    }

    /// Sets `ar$tha`.
    #[inline]
    pub fn set_target_hardware_addr(&mut self, addr: EthernetAddress) {
        self.buffer.as_mut()[field::THA].copy_from_slice(&addr.0);
    }

    /// Sets `ar$tpa`.
    #[inline]
    pub fn set_target_protocol_addr(&mut self, addr: Ipv4Addr) {
        set_u32(self.buffer.as_mut(), field::TPA, addr.into());
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// Writes a complete Ethernet/IPv4 ARP packet at the start of `buf` and
/// returns its length, [`PACKET_LEN`].
///
/// For a reply to a request (RFC 826 "Packet Reception": "swap hardware and
/// protocol fields, putting the local hardware and protocol addresses in the
/// sender fields"), pass `op = Reply`, our address as `sha`/`spa` and the
/// requester's `sha`/`spa` as `tha`/`tpa`. For a request, `tha` is
/// conventionally all zeros.
///
/// # Panics
/// If `buf` is shorter than [`PACKET_LEN`].
#[inline]
pub fn emit(buf: &mut [u8], op: Operation, sha: EthernetAddress, spa: Ipv4Addr, tha: EthernetAddress, tpa: Ipv4Addr) -> usize {
    let mut packet = Packet::new_unchecked(&mut buf[..PACKET_LEN]);
    packet.set_hardware_type(HARDWARE_ETHERNET);
    packet.set_protocol_type(ethertype::IPV4);
    packet.set_hardware_len(6);
    packet.set_protocol_len(4);
    packet.set_operation(op);
    packet.set_sender_hardware_addr(sha);
    packet.set_sender_protocol_addr(spa);
    packet.set_target_hardware_addr(tha);
    packet.set_target_protocol_addr(tpa);
    PACKET_LEN
}
