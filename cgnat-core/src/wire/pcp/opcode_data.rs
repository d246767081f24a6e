//! The opcode-specific data of MAP and PEER (RFC 6887 sections 11.1 and
//! 12.1); the same layout in requests (suggested external endpoint) and
//! responses (assigned external endpoint).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 Mapping Nonce (96 bits)                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |   Protocol    |          Reserved (24 bits)                   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |        Internal Port          |    Suggested External Port    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Suggested External IP Address (128 bits)            |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!   PEER only:
//! |       Remote Peer Port        |     Reserved (16 bits)        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |               Remote Peer IP Address (128 bits)               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```

use core::net::Ipv6Addr;

use super::{get_addr, set_addr};
use crate::wire::{get_u16, set_u16};

mod field {
    use crate::wire::Field;

    pub const NONCE: Field = 0..12;
    pub const PROTOCOL: usize = 12;
    pub const RESERVED: Field = 13..16;
    pub const INTERNAL_PORT: Field = 16..18;
    pub const EXTERNAL_PORT: Field = 18..20;
    pub const EXTERNAL_ADDR: usize = 20;
    pub const REMOTE_PORT: Field = 36..38;
    pub const PEER_RESERVED: Field = 38..40;
    pub const REMOTE_ADDR: usize = 40;
}

/// Length of MAP's opcode-specific data.
pub const MAP_LEN: usize = 36;
/// Length of PEER's opcode-specific data.
pub const PEER_LEN: usize = 56;

/// MAP's data (and the first 36 bytes of PEER's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MapData {
    /// Mapping Nonce: a client's proof that it owns the mapping it
    /// refreshes or deletes (section 11.2).
    pub nonce: [u8; 12],
    /// IANA protocol number (6 TCP, 17 UDP); 0 means all protocols.
    pub protocol: u8,
    /// The internal port (0: all ports, only with protocol 0).
    pub internal_port: u16,
    /// Suggested (request) or assigned (response) external port.
    pub external_port: u16,
    /// Suggested (request) or assigned (response) external address;
    /// IPv4-mapped, or all zeros / `::ffff:0.0.0.0` for "no preference".
    pub external_addr: Ipv6Addr,
}

impl MapData {
    /// Reads the data from the first [`MAP_LEN`] bytes of `d` (the caller
    /// checked the length). Reserved bits are ignored (section 7).
    pub fn parse(d: &[u8]) -> MapData {
        let mut nonce = [0u8; 12];
        nonce.copy_from_slice(&d[field::NONCE]);
        MapData {
            nonce,
            protocol: d[field::PROTOCOL],
            internal_port: get_u16(d, field::INTERNAL_PORT),
            external_port: get_u16(d, field::EXTERNAL_PORT),
            external_addr: get_addr(d, field::EXTERNAL_ADDR),
        }
    }

    /// Writes the data into the first [`MAP_LEN`] bytes of `d`, reserved
    /// bits zero.
    pub fn emit(&self, d: &mut [u8]) {
        d[field::NONCE].copy_from_slice(&self.nonce);
        d[field::PROTOCOL] = self.protocol;
        d[field::RESERVED].fill(0);
        set_u16(d, field::INTERNAL_PORT, self.internal_port);
        set_u16(d, field::EXTERNAL_PORT, self.external_port);
        set_addr(d, field::EXTERNAL_ADDR, self.external_addr);
    }
}

/// PEER's data: MAP's and the remote peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerData {
    /// Nonce, protocol, internal and external endpoint as in MAP.
    pub map: MapData,
    /// The remote peer's port.
    pub remote_port: u16,
    /// The remote peer's address (IPv4-mapped).
    pub remote_addr: Ipv6Addr,
}

impl PeerData {
    /// Reads the data from the first [`PEER_LEN`] bytes of `d`.
    pub fn parse(d: &[u8]) -> PeerData {
        PeerData {
            map: MapData::parse(d),
            remote_port: get_u16(d, field::REMOTE_PORT),
            remote_addr: get_addr(d, field::REMOTE_ADDR),
        }
    }

    /// Writes the data into the first [`PEER_LEN`] bytes of `d`.
    pub fn emit(&self, d: &mut [u8]) {
        self.map.emit(d);
        set_u16(d, field::REMOTE_PORT, self.remote_port);
        d[field::PEER_RESERVED].fill(0);
        set_addr(d, field::REMOTE_ADDR, self.remote_addr);
    }
}
