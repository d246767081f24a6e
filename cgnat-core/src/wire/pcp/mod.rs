//! Port Control Protocol messages (RFC 6887), the mapping-control protocol
//! RFC 6888 REQ-9 requires of a CGN.
//!
//! RFC 6887 section 7.1, "Request Header":
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Version = 2  |R|   Opcode    |         Reserved              |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                 Requested Lifetime (32 bits)                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |            PCP Client's IP Address (128 bits)                 |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! :             (optional) Opcode-specific information            :
//! :             (optional) PCP Options                            :
//! ```
//!
//! RFC 6887 section 7.2, "Response Header":
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Version = 2  |R|   Opcode    |   Reserved    |  Result Code  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      Lifetime (32 bits)                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     Epoch Time (32 bits)                      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                      Reserved (96 bits)                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! :             (optional) Opcode-specific response data          :
//! :             (optional) Options                                :
//! ```
//!
//! Addresses are 128 bits; an IPv4 address is carried IPv4-mapped
//! (`::ffff:a.b.c.d`, RFC 6887 section 5). The views here are the wire
//! format only: [`Request::parse`] applies the request checks of RFC 6887
//! sections 7 and 8.1 that need nothing but the bytes, and names the result
//! code (or the silent drop) the server must answer with; what a request
//! may do to the NAT's state is the server's to decide.

use core::net::{Ipv4Addr, Ipv6Addr};

use super::{get_u32, set_u32, Error, Result};

mod opcode_data;
mod options;

pub use opcode_data::{MapData, PeerData, MAP_LEN, PEER_LEN};
pub use options::{Filter, Options, FILTER_LEN, THIRD_PARTY_LEN};

mod field {
    use crate::wire::Field;

    pub const VERSION: usize = 0;
    pub const R_OPCODE: usize = 1;
    /// A request's 16 reserved bits; a response's first 8 of them.
    pub const RESERVED: Field = 2..4;
    pub const RESULT_CODE: usize = 3;
    /// Requested Lifetime (requests) or Lifetime (responses).
    pub const LIFETIME: Field = 4..8;
    pub const CLIENT_ADDR: Field = 8..24;
    pub const EPOCH: Field = 8..12;
    pub const RESPONSE_RESERVED: Field = 12..24;
}

/// The PCP version this server speaks (RFC 6887 section 7).
pub const VERSION: u8 = 2;
/// The UDP port PCP servers listen on (RFC 6887 section 19.1).
pub const SERVER_PORT: u16 = 5351;
/// The UDP port clients listen on for ANNOUNCE (RFC 6887 section 19.1).
pub const CLIENT_PORT: u16 = 5350;
/// Length of the request and of the response header.
pub const HEADER_LEN: usize = 24;
/// The longest PCP message (RFC 6887 section 7: "1100 octets").
pub const MAX_LEN: usize = 1100;
/// The R bit: set in responses (RFC 6887 section 7.1).
const RESPONSE_BIT: u8 = 0x80;

/// PCP opcodes (RFC 6887 section 19.2).
pub mod opcode {
    /// ANNOUNCE (section 14.1): no data; tells clients the server restarted.
    pub const ANNOUNCE: u8 = 0;
    /// MAP (section 11): an inbound mapping.
    pub const MAP: u8 = 1;
    /// PEER (section 12): a mapping for one remote peer.
    pub const PEER: u8 = 2;
}

/// PCP result codes (RFC 6887 section 7.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ResultCode {
    /// Success.
    Success = 0,
    /// The version number at the start of the message is not supported.
    UnsuppVersion = 1,
    /// The requested operation is disabled for this client.
    NotAuthorized = 2,
    /// The request could not be parsed.
    MalformedRequest = 3,
    /// Unsupported opcode.
    UnsuppOpcode = 4,
    /// A mandatory-to-process option is not supported.
    UnsuppOption = 5,
    /// An option is malformed (length, repetition, opcode).
    MalformedOption = 6,
    /// A network failure; the client may retry.
    NetworkFailure = 7,
    /// Out of resources (a short-lifetime error).
    NoResources = 8,
    /// Unsupported transport protocol.
    UnsuppProtocol = 9,
    /// The subscriber's quota of mappings is used up.
    UserExQuota = 10,
    /// The suggested external port or address cannot be provided (with
    /// PREFER_FAILURE, or an address the server does not have).
    CannotProvideExternal = 11,
    /// The client's address in the request differs from the packet's
    /// source (a NAT between client and server).
    AddressMismatch = 12,
    /// Too many remote peers (FILTER options) for the server.
    ExcessiveRemotePeers = 13,
}

impl ResultCode {
    /// How many result codes there are (0 to 13), e.g. for counters
    /// indexed by code.
    pub const COUNT: usize = ResultCode::ExcessiveRemotePeers as usize + 1;

    /// The result code of a number, `None` for an unassigned one.
    pub fn from_u8(v: u8) -> Option<ResultCode> {
        use ResultCode::*;
        Some(match v {
            0 => Success,
            1 => UnsuppVersion,
            2 => NotAuthorized,
            3 => MalformedRequest,
            4 => UnsuppOpcode,
            5 => UnsuppOption,
            6 => MalformedOption,
            7 => NetworkFailure,
            8 => NoResources,
            9 => UnsuppProtocol,
            10 => UserExQuota,
            11 => CannotProvideExternal,
            12 => AddressMismatch,
            13 => ExcessiveRemotePeers,
            _ => return None,
        })
    }

    /// The RFC's name of the code in lower case with dashes
    /// (`success`, `no-resources`, ...), for metrics and `cgnatctl pcp`.
    pub fn name(self) -> &'static str {
        use ResultCode::*;
        match self {
            Success => "success",
            UnsuppVersion => "unsupp-version",
            NotAuthorized => "not-authorized",
            MalformedRequest => "malformed-request",
            UnsuppOpcode => "unsupp-opcode",
            UnsuppOption => "unsupp-option",
            MalformedOption => "malformed-option",
            NetworkFailure => "network-failure",
            NoResources => "no-resources",
            UnsuppProtocol => "unsupp-protocol",
            UserExQuota => "user-ex-quota",
            CannotProvideExternal => "cannot-provide-external",
            AddressMismatch => "address-mismatch",
            ExcessiveRemotePeers => "excessive-remote-peers",
        }
    }

    /// RFC 6887 section 7.4: errors a client should retry soon
    /// ("short lifetime errors") rather than after a long time.
    pub fn is_short_lifetime(self) -> bool {
        matches!(self, ResultCode::NetworkFailure | ResultCode::NoResources | ResultCode::UserExQuota)
    }
}

/// The IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) PCP carries `a` as.
pub fn mapped(a: Ipv4Addr) -> Ipv6Addr {
    a.to_ipv6_mapped()
}

/// The IPv4 address inside an IPv4-mapped address, `None` for any other.
pub fn unmapped(a: Ipv6Addr) -> Option<Ipv4Addr> {
    a.to_ipv4_mapped()
}

/// The version octet of a datagram to the PCP port: 2 for PCP, 0 for
/// NAT-PMP (RFC 6887 Appendix A); `None` if it is empty.
pub fn version_of(data: &[u8]) -> Option<u8> {
    data.get(field::VERSION).copied()
}

/// The opcode of a datagram too short or malformed for [`Packet`] (R bit
/// cleared), for the header of its error answer; 0 if it has none.
pub fn opcode_of(data: &[u8]) -> u8 {
    data.get(field::R_OPCODE).map_or(0, |o| o & !RESPONSE_BIT)
}

/// Reads a 128-bit address field.
pub(crate) fn get_addr(data: &[u8], at: usize) -> Ipv6Addr {
    let mut b = [0u8; 16];
    b.copy_from_slice(&data[at..at + 16]);
    Ipv6Addr::from(b)
}

/// Writes a 128-bit address field.
pub(crate) fn set_addr(data: &mut [u8], at: usize, a: Ipv6Addr) {
    data[at..at + 16].copy_from_slice(&a.octets());
}

/// A view over a PCP message (request or response).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; getters may panic if it is
    /// shorter than [`HEADER_LEN`].
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer that holds at least a header; after this no getter
    /// panics.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// `Truncated` if the buffer is shorter than the 24-byte header.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// The Version field.
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VERSION]
    }

    /// Whether the R bit is set (a response).
    pub fn is_response(&self) -> bool {
        self.buffer.as_ref()[field::R_OPCODE] & RESPONSE_BIT != 0
    }

    /// The Opcode (7 bits).
    pub fn opcode(&self) -> u8 {
        self.buffer.as_ref()[field::R_OPCODE] & !RESPONSE_BIT
    }

    /// Requested Lifetime (requests) or Lifetime (responses), seconds.
    pub fn lifetime(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::LIFETIME)
    }

    /// A request's PCP Client's IP Address.
    pub fn client_addr(&self) -> Ipv6Addr {
        get_addr(self.buffer.as_ref(), field::CLIENT_ADDR.start)
    }

    /// A response's Result Code byte.
    pub fn result_code(&self) -> u8 {
        self.buffer.as_ref()[field::RESULT_CODE]
    }

    /// A response's Epoch Time.
    pub fn epoch(&self) -> u32 {
        get_u32(self.buffer.as_ref(), field::EPOCH)
    }

    /// Everything after the header: opcode-specific data, then options.
    pub fn body(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Writes a response header: version 2, the R bit, `opcode`, `result`,
    /// `lifetime`, `epoch`, reserved fields zero (RFC 6887 section 7.2).
    pub fn emit_response_header(&mut self, opcode: u8, result: ResultCode, lifetime: u32, epoch: u32) {
        let d = self.buffer.as_mut();
        d[field::VERSION] = VERSION;
        d[field::R_OPCODE] = RESPONSE_BIT | (opcode & !RESPONSE_BIT);
        d[field::RESERVED.start] = 0;
        d[field::RESULT_CODE] = result as u8;
        set_u32(d, field::LIFETIME, lifetime);
        set_u32(d, field::EPOCH, epoch);
        d[field::RESPONSE_RESERVED].fill(0);
    }

    /// Writes a request header (for clients and tests).
    pub fn emit_request_header(&mut self, opcode: u8, lifetime: u32, client: Ipv6Addr) {
        let d = self.buffer.as_mut();
        d[field::VERSION] = VERSION;
        d[field::R_OPCODE] = opcode & !RESPONSE_BIT;
        d[field::RESERVED].fill(0);
        set_u32(d, field::LIFETIME, lifetime);
        set_addr(d, field::CLIENT_ADDR.start, client);
    }

    /// The body after the header, writable.
    pub fn body_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }
}

/// What a request's opcode asks, with its opcode-specific data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// ANNOUNCE (RFC 6887 section 14.1).
    Announce,
    /// MAP (section 11).
    Map(MapData),
    /// PEER (section 12).
    Peer(PeerData),
}

impl Operation {
    /// The opcode number.
    pub fn opcode(&self) -> u8 {
        match self {
            Operation::Announce => opcode::ANNOUNCE,
            Operation::Map(_) => opcode::MAP,
            Operation::Peer(_) => opcode::PEER,
        }
    }

    /// Length of the opcode-specific data.
    pub fn data_len(&self) -> usize {
        match self {
            Operation::Announce => 0,
            Operation::Map(_) => MAP_LEN,
            Operation::Peer(_) => PEER_LEN,
        }
    }

    /// Writes the opcode-specific data at the start of `buf` (which must
    /// hold [`Operation::data_len`] bytes).
    pub fn emit(&self, buf: &mut [u8]) {
        match self {
            Operation::Announce => {}
            Operation::Map(m) => m.emit(buf),
            Operation::Peer(p) => p.emit(buf),
        }
    }
}

/// Why a request is not served, per RFC 6887 section 8.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestError {
    /// Silently dropped: shorter than two octets, or the R bit set (a
    /// response sent to the server).
    Drop,
    /// Answered with this result code (and no state change, section 7.3).
    Reply(ResultCode),
}

/// A PCP request as the server sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// Requested Lifetime, seconds (0 deletes, section 15).
    pub lifetime: u32,
    /// The PCP Client's IP Address field.
    pub client: Ipv6Addr,
    /// The opcode and its data.
    pub op: Operation,
    /// The options understood (unknown optional ones are skipped).
    pub options: Options,
}

impl Request {
    /// Parses a request datagram, making the checks of RFC 6887 section 8.1
    /// in its order: fewer than two octets or the R bit set: dropped; a
    /// version other than 2: UNSUPP_VERSION (the caller hands version 0 to
    /// NAT-PMP first, Appendix A); shorter than 24 octets, longer than
    /// 1100 or not a multiple of 4: MALFORMED_REQUEST; an unknown opcode:
    /// UNSUPP_OPCODE; opcode data cut short: MALFORMED_REQUEST; then the
    /// options (section 7.3, see [`Options::parse`]).
    pub fn parse(data: &[u8]) -> core::result::Result<Request, RequestError> {
        if data.len() < 2 || data[field::R_OPCODE] & RESPONSE_BIT != 0 {
            return Err(RequestError::Drop);
        }
        if data[field::VERSION] != VERSION {
            return Err(RequestError::Reply(ResultCode::UnsuppVersion));
        }
        if data.len() < HEADER_LEN || data.len() > MAX_LEN || data.len() % 4 != 0 {
            return Err(RequestError::Reply(ResultCode::MalformedRequest));
        }
        let p = Packet::new_unchecked(data);
        let (op, rest) = split_body(p.opcode(), p.body()).map_err(|e| {
            RequestError::Reply(match e {
                BodyError::UnknownOpcode => ResultCode::UnsuppOpcode,
                BodyError::Truncated => ResultCode::MalformedRequest,
            })
        })?;
        let options = Options::parse(rest, op.opcode()).map_err(RequestError::Reply)?;
        Ok(Request {
            lifetime: p.lifetime(),
            client: p.client_addr(),
            op,
            options,
        })
    }

    /// Length of the request on the wire.
    pub fn len(&self) -> usize {
        message_len(&self.op, &self.options)
    }

    /// Never empty: a request has at least its header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the request into `buf` and returns its length, `Err` if
    /// `buf` is too short.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        emit_message(buf, &self.op, &self.options, |p| {
            p.emit_request_header(self.op.opcode(), self.lifetime, self.client)
        })
    }
}

/// A PCP response as a server sends it and a client reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The result.
    pub result: ResultCode,
    /// Lifetime granted (success) or how long the error holds, seconds.
    pub lifetime: u32,
    /// The server's Epoch Time (section 8.5).
    pub epoch: u32,
    /// The opcode and its data (for MAP and PEER, the assigned external
    /// address and port).
    pub op: Operation,
    /// The options the server processed, echoed (section 7.3).
    pub options: Options,
}

impl Response {
    /// Length of the response on the wire.
    pub fn len(&self) -> usize {
        message_len(&self.op, &self.options)
    }

    /// Never empty: a response has at least its header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Writes the response into `buf` and returns its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        emit_message(buf, &self.op, &self.options, |p| {
            p.emit_response_header(self.op.opcode(), self.result, self.lifetime, self.epoch)
        })
    }

    /// Parses a response (for clients and tests): version 2, the R bit,
    /// a known opcode and result code, its data and options whole.
    pub fn parse(data: &[u8]) -> Result<Response> {
        let p = Packet::new_checked(data)?;
        if p.version() != VERSION || !p.is_response() || data.len() > MAX_LEN || data.len() % 4 != 0 {
            return Err(Error::Malformed);
        }
        let result = ResultCode::from_u8(p.result_code()).ok_or(Error::Malformed)?;
        let (op, rest) = split_body(p.opcode(), p.body()).map_err(|e| match e {
            BodyError::UnknownOpcode => Error::Malformed,
            BodyError::Truncated => Error::Truncated,
        })?;
        let options = Options::parse(rest, op.opcode()).map_err(|_| Error::Malformed)?;
        Ok(Response {
            result,
            lifetime: p.lifetime(),
            epoch: p.epoch(),
            op,
            options,
        })
    }
}

/// Why [`split_body`] found no opcode data.
enum BodyError {
    /// Not ANNOUNCE, MAP or PEER.
    UnknownOpcode,
    /// Shorter than the opcode's data.
    Truncated,
}

/// The opcode data of `opcode` at the start of `body` (what follows a
/// header, in requests and responses alike), and the bytes after it (the
/// options).
fn split_body(opcode: u8, body: &[u8]) -> core::result::Result<(Operation, &[u8]), BodyError> {
    let len = match opcode {
        opcode::ANNOUNCE => 0,
        opcode::MAP => MAP_LEN,
        opcode::PEER => PEER_LEN,
        _ => return Err(BodyError::UnknownOpcode),
    };
    let d = body.get(..len).ok_or(BodyError::Truncated)?;
    let op = match opcode {
        opcode::MAP => Operation::Map(MapData::parse(d)),
        opcode::PEER => Operation::Peer(PeerData::parse(d)),
        _ => Operation::Announce,
    };
    Ok((op, &body[len..]))
}

/// Length on the wire of a message of `op` with `options`.
fn message_len(op: &Operation, options: &Options) -> usize {
    HEADER_LEN + op.data_len() + options.len()
}

/// Writes a message of `op` with `options` into `buf` after the header
/// `header` writes; returns its length, `Err` if `buf` is too short.
fn emit_message(buf: &mut [u8], op: &Operation, options: &Options, header: impl FnOnce(&mut Packet<&mut [u8]>)) -> Result<usize> {
    let n = message_len(op, options);
    let out = buf.get_mut(..n).ok_or(Error::Truncated)?;
    let mut p = Packet::new_unchecked(out);
    header(&mut p);
    let body = p.body_mut();
    op.emit(body);
    options.emit(&mut body[op.data_len()..]);
    Ok(n)
}
