//! PCP options (RFC 6887 section 7.3) and the three the base protocol
//! defines: THIRD_PARTY (13.1), PREFER_FAILURE (13.2), FILTER (13.3).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Option Code  |  Reserved     |       Option Length           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! :                       (optional) Data                         :
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Option Length counts the data only; the data is padded to a multiple
//! of four octets. Codes 0–127 are mandatory to process, 128–255 optional.
//! FILTER's data:
//!
//! ```text
//! |    Reserved   | Prefix Length |      Remote Peer Port         |
//! |               Remote Peer IP Address (128 bits)               |
//! ```

use core::net::Ipv6Addr;

use super::{get_addr, opcode, set_addr, ResultCode};
use crate::wire::{get_u16, set_u16};

mod field {
    use crate::wire::Field;

    pub const CODE: usize = 0;
    pub const RESERVED: usize = 1;
    pub const LENGTH: Field = 2..4;
    pub const FILTER_RESERVED: usize = 0;
    pub const FILTER_PREFIX: usize = 1;
    pub const FILTER_PORT: Field = 2..4;
    pub const FILTER_ADDR: usize = 4;
}

/// Length of an option header.
const OPTION_HEADER_LEN: usize = 4;
/// THIRD_PARTY's data length.
pub const THIRD_PARTY_LEN: usize = 16;
/// FILTER's data length.
pub const FILTER_LEN: usize = 20;

/// Option codes (RFC 6887 section 19.3).
pub mod code {
    /// THIRD_PARTY: the request is for another host (MAP, PEER; once).
    pub const THIRD_PARTY: u8 = 1;
    /// PREFER_FAILURE: no other port than the suggested one (MAP; once).
    pub const PREFER_FAILURE: u8 = 2;
    /// FILTER: only these remote peers may use the mapping (MAP; many).
    pub const FILTER: u8 = 3;
}

/// Codes of 128 and above may be skipped when not understood.
const OPTIONAL_BIT: u8 = 0x80;

/// A FILTER option: remote peers inside `remote_addr/prefix_len` (and, if
/// `remote_port` is not 0, only from that port) may reach the mapping.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Filter {
    /// Prefix length over the 128-bit (IPv4-mapped) address; 0 means every
    /// peer (RFC 6887 section 13.3: removes the filters).
    pub prefix_len: u8,
    /// The remote peer's port; 0 means every port.
    pub remote_port: u16,
    /// The remote peer's address (IPv4-mapped).
    pub remote_addr: Ipv6Addr,
}

impl Filter {
    /// Whether a remote endpoint passes this filter (RFC 6887 section
    /// 13.3: address within the prefix, port equal unless 0).
    pub fn admits(&self, addr: Ipv6Addr, port: u16) -> bool {
        let bits = u32::from(self.prefix_len.min(128));
        let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
        let same_net = u128::from(addr) & mask == u128::from(self.remote_addr) & mask;
        same_net && (self.remote_port == 0 || self.remote_port == port)
    }
}

/// The options of a request or response that this codec understands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Options {
    /// THIRD_PARTY's internal address, if present.
    pub third_party: Option<Ipv6Addr>,
    /// Whether PREFER_FAILURE is present.
    pub prefer_failure: bool,
    /// FILTER options, in order.
    pub filters: Vec<Filter>,
}

/// The padded length of `len` data octets.
fn padded(len: usize) -> usize {
    len.div_ceil(4) * 4
}

impl Options {
    /// Parses the options that follow the opcode data of an `op` message
    /// (RFC 6887 section 7.3): an option running past the message, a known
    /// option of the wrong length, THIRD_PARTY or PREFER_FAILURE twice, or a
    /// FILTER prefix longer than 128 bits: MALFORMED_OPTION; a
    /// mandatory-to-process option this server does not implement or that
    /// is not valid for the opcode: UNSUPP_OPTION; such an optional one
    /// (code >= 128) is skipped.
    pub fn parse(mut data: &[u8], op: u8) -> Result<Options, ResultCode> {
        let mut out = Options::default();
        while !data.is_empty() {
            if data.len() < OPTION_HEADER_LEN {
                return Err(ResultCode::MalformedOption);
            }
            let code = data[field::CODE];
            let len = usize::from(get_u16(data, field::LENGTH));
            let total = OPTION_HEADER_LEN + padded(len);
            if total > data.len() {
                return Err(ResultCode::MalformedOption);
            }
            let body = &data[OPTION_HEADER_LEN..OPTION_HEADER_LEN + len];
            let valid_here = match code {
                code::THIRD_PARTY => op == opcode::MAP || op == opcode::PEER,
                code::PREFER_FAILURE | code::FILTER => op == opcode::MAP,
                _ => false,
            };
            if !valid_here {
                if code & OPTIONAL_BIT == 0 {
                    return Err(ResultCode::UnsuppOption);
                }
                data = &data[total..];
                continue;
            }
            match code {
                code::THIRD_PARTY => {
                    if len != THIRD_PARTY_LEN || out.third_party.is_some() {
                        return Err(ResultCode::MalformedOption);
                    }
                    out.third_party = Some(get_addr(body, 0));
                }
                code::PREFER_FAILURE => {
                    if len != 0 || out.prefer_failure {
                        return Err(ResultCode::MalformedOption);
                    }
                    out.prefer_failure = true;
                }
                _ => {
                    if len != FILTER_LEN || body[field::FILTER_PREFIX] > 128 {
                        return Err(ResultCode::MalformedOption);
                    }
                    out.filters.push(Filter {
                        prefix_len: body[field::FILTER_PREFIX],
                        remote_port: get_u16(body, field::FILTER_PORT),
                        remote_addr: get_addr(body, field::FILTER_ADDR),
                    });
                }
            }
            data = &data[total..];
        }
        Ok(out)
    }

    /// Length of these options on the wire.
    pub fn len(&self) -> usize {
        let third = if self.third_party.is_some() {
            OPTION_HEADER_LEN + THIRD_PARTY_LEN
        } else {
            0
        };
        let prefer = if self.prefer_failure { OPTION_HEADER_LEN } else { 0 };
        third + prefer + self.filters.len() * (OPTION_HEADER_LEN + FILTER_LEN)
    }

    /// Whether there are no options.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the options at the start of `d` (which holds
    /// [`Options::len`] bytes): THIRD_PARTY, PREFER_FAILURE, then FILTERs.
    pub fn emit(&self, mut d: &mut [u8]) {
        if let Some(a) = self.third_party {
            put_header(d, code::THIRD_PARTY, THIRD_PARTY_LEN);
            set_addr(d, OPTION_HEADER_LEN, a);
            d = &mut d[OPTION_HEADER_LEN + THIRD_PARTY_LEN..];
        }
        if self.prefer_failure {
            put_header(d, code::PREFER_FAILURE, 0);
            d = &mut d[OPTION_HEADER_LEN..];
        }
        for f in &self.filters {
            put_header(d, code::FILTER, FILTER_LEN);
            let body = &mut d[OPTION_HEADER_LEN..OPTION_HEADER_LEN + FILTER_LEN];
            body[field::FILTER_RESERVED] = 0;
            body[field::FILTER_PREFIX] = f.prefix_len;
            set_u16(body, field::FILTER_PORT, f.remote_port);
            set_addr(body, field::FILTER_ADDR, f.remote_addr);
            d = &mut d[OPTION_HEADER_LEN + FILTER_LEN..];
        }
    }
}

/// Writes an option header.
fn put_header(d: &mut [u8], code: u8, len: usize) {
    d[field::CODE] = code;
    d[field::RESERVED] = 0;
    set_u16(d, field::LENGTH, len as u16);
}
