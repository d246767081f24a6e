//! NAT Port Mapping Protocol messages (RFC 6886), which a PCP server also
//! answers for clients that speak only NAT-PMP: both use UDP port 5351 and
//! a NAT-PMP request starts with version 0 (RFC 6887 Appendix A).
//!
//! RFC 6886 section 3.2 (external address) and 3.3 (mapping) requests:
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Vers = 0      | OP = 0        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//!
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Vers = 0      | OP = x        | Reserved                      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Internal Port                 | Suggested External Port       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! | Requested Port Mapping Lifetime in Seconds                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! x is 1 for UDP, 2 for TCP. Responses set the opcode's top bit (OP =
//! 128 + x) and carry a 16-bit result code and the server's epoch
//! ("Seconds Since Start of Epoch"), then the external address (12 bytes
//! in all) or Internal Port, Mapped External Port and the granted lifetime
//! (16 bytes in all).

use core::net::Ipv4Addr;

use super::{get_u16, get_u32, set_u16, set_u32, Error, Result};

mod field {
    use crate::wire::Field;

    pub const VERSION: usize = 0;
    pub const OPCODE: usize = 1;
    pub const RESULT: Field = 2..4;
    pub const INTERNAL_PORT: Field = 4..6;
    pub const SUGGESTED_PORT: Field = 6..8;
    pub const REQUESTED_LIFETIME: Field = 8..12;
    pub const EPOCH: Field = 4..8;
    pub const EXTERNAL_ADDR: Field = 8..12;
    pub const MAPPED_INTERNAL_PORT: Field = 8..10;
    pub const MAPPED_EXTERNAL_PORT: Field = 10..12;
    pub const MAPPED_LIFETIME: Field = 12..16;
}

/// The NAT-PMP version (RFC 6886 section 3).
pub const VERSION: u8 = 0;
/// Length of a mapping request.
pub const MAP_REQUEST_LEN: usize = 12;
/// Length of an error response or of the common response header.
pub const HEADER_RESPONSE_LEN: usize = 8;
/// Length of the external address response.
pub const ADDRESS_RESPONSE_LEN: usize = 12;
/// Length of a mapping response.
pub const MAP_RESPONSE_LEN: usize = 16;
/// The opcode bit that marks a response.
const RESPONSE_BIT: u8 = 0x80;

/// NAT-PMP opcodes (RFC 6886 section 3).
pub mod opcode {
    /// Determine the external address (section 3.2).
    pub const EXTERNAL_ADDRESS: u8 = 0;
    /// Map a UDP port (section 3.3).
    pub const MAP_UDP: u8 = 1;
    /// Map a TCP port (section 3.3).
    pub const MAP_TCP: u8 = 2;
}

/// NAT-PMP result codes (RFC 6886 section 3.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum ResultCode {
    /// Success.
    Success = 0,
    /// Unsupported version.
    UnsupportedVersion = 1,
    /// Not authorized / refused (e.g. mapping disabled).
    NotAuthorized = 2,
    /// Network failure (e.g. no external address yet).
    NetworkFailure = 3,
    /// Out of resources (no ports, or the per-subscriber limit).
    OutOfResources = 4,
    /// Unsupported opcode.
    UnsupportedOpcode = 5,
}

impl ResultCode {
    /// The result code of a number, `None` for an unassigned one.
    pub fn from_u16(v: u16) -> Option<ResultCode> {
        use ResultCode::*;
        Some(match v {
            0 => Success,
            1 => UnsupportedVersion,
            2 => NotAuthorized,
            3 => NetworkFailure,
            4 => OutOfResources,
            5 => UnsupportedOpcode,
            _ => return None,
        })
    }
}

/// The transport protocol of a NAT-PMP mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MapProtocol {
    /// Opcode 1.
    Udp,
    /// Opcode 2.
    Tcp,
}

impl MapProtocol {
    /// The request opcode.
    pub fn opcode(self) -> u8 {
        match self {
            MapProtocol::Udp => opcode::MAP_UDP,
            MapProtocol::Tcp => opcode::MAP_TCP,
        }
    }

    /// The IANA protocol number (17 or 6).
    pub fn ip_protocol(self) -> u8 {
        match self {
            MapProtocol::Udp => crate::wire::ip_protocol::UDP,
            MapProtocol::Tcp => crate::wire::ip_protocol::TCP,
        }
    }
}

/// A NAT-PMP mapping request (section 3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapRequest {
    /// UDP or TCP.
    pub protocol: MapProtocol,
    /// The client's port (0 with lifetime 0: all its mappings).
    pub internal_port: u16,
    /// The external port the client would like (0: no preference).
    pub suggested_port: u16,
    /// Requested lifetime, seconds (0 deletes; RFC 6886 recommends 7200).
    pub lifetime: u32,
}

/// A NAT-PMP request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Request {
    /// "What is my external address?" (section 3.2).
    ExternalAddress,
    /// Create, refresh or (lifetime 0) delete a mapping (section 3.3).
    Map(MapRequest),
}

/// Why a request is not served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    /// Silently ignored: shorter than two bytes, a response (opcode 128 or
    /// more, section 3.5), or a mapping request cut short.
    Drop,
    /// Answered with an 8-byte error response for `opcode`: a version
    /// other than 0 (UnsupportedVersion) or an unknown opcode below 128
    /// (UnsupportedOpcode).
    Reply {
        /// The request's opcode (the response sets its top bit).
        opcode: u8,
        /// The result code.
        result: ResultCode,
    },
}

impl Request {
    /// Parses a request datagram (RFC 6886 sections 3.2, 3.3 and 3.5).
    pub fn parse(data: &[u8]) -> core::result::Result<Request, RequestError> {
        let (version, op) = match data {
            [v, o, ..] => (*v, *o),
            _ => return Err(RequestError::Drop),
        };
        if op & RESPONSE_BIT != 0 {
            return Err(RequestError::Drop);
        }
        if version != VERSION {
            return Err(RequestError::Reply {
                opcode: op,
                result: ResultCode::UnsupportedVersion,
            });
        }
        let protocol = match op {
            opcode::EXTERNAL_ADDRESS => return Ok(Request::ExternalAddress),
            opcode::MAP_UDP => MapProtocol::Udp,
            opcode::MAP_TCP => MapProtocol::Tcp,
            _ => {
                return Err(RequestError::Reply {
                    opcode: op,
                    result: ResultCode::UnsupportedOpcode,
                })
            }
        };
        if data.len() < MAP_REQUEST_LEN {
            return Err(RequestError::Drop);
        }
        Ok(Request::Map(MapRequest {
            protocol,
            internal_port: get_u16(data, field::INTERNAL_PORT),
            suggested_port: get_u16(data, field::SUGGESTED_PORT),
            lifetime: get_u32(data, field::REQUESTED_LIFETIME),
        }))
    }

    /// Writes the request into `buf` (for clients and tests).
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        match *self {
            Request::ExternalAddress => {
                let d = buf.get_mut(..2).ok_or(Error::Truncated)?;
                d.copy_from_slice(&[VERSION, opcode::EXTERNAL_ADDRESS]);
                Ok(2)
            }
            Request::Map(m) => {
                let d = buf.get_mut(..MAP_REQUEST_LEN).ok_or(Error::Truncated)?;
                d[field::VERSION] = VERSION;
                d[field::OPCODE] = m.protocol.opcode();
                set_u16(d, field::RESULT, 0);
                set_u16(d, field::INTERNAL_PORT, m.internal_port);
                set_u16(d, field::SUGGESTED_PORT, m.suggested_port);
                set_u32(d, field::REQUESTED_LIFETIME, m.lifetime);
                Ok(MAP_REQUEST_LEN)
            }
        }
    }
}

/// A NAT-PMP response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response {
    /// The external address (section 3.2).
    ExternalAddress {
        /// The result.
        result: ResultCode,
        /// Seconds since the server's epoch began (section 3.6).
        epoch: u32,
        /// The subscriber's public address.
        addr: Ipv4Addr,
    },
    /// A mapping (section 3.3); on error its port and lifetime are 0.
    Map {
        /// UDP or TCP.
        protocol: MapProtocol,
        /// The result.
        result: ResultCode,
        /// Seconds since the server's epoch began.
        epoch: u32,
        /// The client's port, echoed.
        internal_port: u16,
        /// The external port assigned.
        external_port: u16,
        /// The lifetime granted, seconds.
        lifetime: u32,
    },
    /// The 8-byte error response to an unsupported version or opcode.
    Error {
        /// The request's opcode.
        opcode: u8,
        /// The result.
        result: ResultCode,
        /// Seconds since the server's epoch began.
        epoch: u32,
    },
}

impl Response {
    /// Length on the wire.
    pub fn len(&self) -> usize {
        match self {
            Response::ExternalAddress { .. } => ADDRESS_RESPONSE_LEN,
            Response::Map { .. } => MAP_RESPONSE_LEN,
            Response::Error { .. } => HEADER_RESPONSE_LEN,
        }
    }

    /// Never empty.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the response into `buf` and returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let n = self.len();
        let d = buf.get_mut(..n).ok_or(Error::Truncated)?;
        let (op, result, epoch) = match *self {
            Response::ExternalAddress { result, epoch, .. } => (opcode::EXTERNAL_ADDRESS, result, epoch),
            Response::Map {
                protocol, result, epoch, ..
            } => (protocol.opcode(), result, epoch),
            Response::Error { opcode, result, epoch } => (opcode, result, epoch),
        };
        d[field::VERSION] = VERSION;
        d[field::OPCODE] = op | RESPONSE_BIT;
        set_u16(d, field::RESULT, result as u16);
        set_u32(d, field::EPOCH, epoch);
        match *self {
            Response::ExternalAddress { addr, .. } => set_u32(d, field::EXTERNAL_ADDR, u32::from(addr)),
            Response::Map {
                internal_port,
                external_port,
                lifetime,
                ..
            } => {
                set_u16(d, field::MAPPED_INTERNAL_PORT, internal_port);
                set_u16(d, field::MAPPED_EXTERNAL_PORT, external_port);
                set_u32(d, field::MAPPED_LIFETIME, lifetime);
            }
            Response::Error { .. } => {}
        }
        Ok(n)
    }

    /// Parses a response (for clients and tests).
    pub fn parse(data: &[u8]) -> Result<Response> {
        if data.len() < HEADER_RESPONSE_LEN {
            return Err(Error::Truncated);
        }
        let op = data[field::OPCODE];
        if data[field::VERSION] != VERSION || op & RESPONSE_BIT == 0 {
            return Err(Error::Malformed);
        }
        let result = ResultCode::from_u16(get_u16(data, field::RESULT)).ok_or(Error::Malformed)?;
        let epoch = get_u32(data, field::EPOCH);
        let protocol = match op & !RESPONSE_BIT {
            opcode::EXTERNAL_ADDRESS if data.len() >= ADDRESS_RESPONSE_LEN => {
                let addr = Ipv4Addr::from(get_u32(data, field::EXTERNAL_ADDR));
                return Ok(Response::ExternalAddress { result, epoch, addr });
            }
            opcode::MAP_UDP if data.len() >= MAP_RESPONSE_LEN => MapProtocol::Udp,
            opcode::MAP_TCP if data.len() >= MAP_RESPONSE_LEN => MapProtocol::Tcp,
            other => {
                return Ok(Response::Error {
                    opcode: other,
                    result,
                    epoch,
                })
            }
        };
        Ok(Response::Map {
            protocol,
            result,
            epoch,
            internal_port: get_u16(data, field::MAPPED_INTERNAL_PORT),
            external_port: get_u16(data, field::MAPPED_EXTERNAL_PORT),
            lifetime: get_u32(data, field::MAPPED_LIFETIME),
        })
    }
}
