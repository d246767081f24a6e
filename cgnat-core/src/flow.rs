//! Flow identities: protocols the NAT translates, the two sides of the
//! appliance, and session keys.

use core::net::Ipv4Addr;

use crate::wire::ip_protocol;

/// A transport the NAT translates (RFC 4787 for UDP, RFC 5382 for TCP,
/// RFC 5508 for ICMP queries, whose identifier plays the port's role).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum Protocol {
    /// TCP.
    Tcp = 1,
    /// UDP.
    Udp = 2,
    /// ICMP query (echo); the identifier is the "port".
    Icmp = 3,
}

impl Protocol {
    /// All three, in index order.
    pub const ALL: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Icmp];

    /// 0, 1 or 2: the index of per-protocol arrays.
    #[inline(always)]
    pub fn index(self) -> usize {
        self as usize - 1
    }

    /// From a 2-bit code (1..=3).
    #[inline(always)]
    pub fn from_code(c: u8) -> Option<Protocol> {
        match c {
            1 => Some(Protocol::Tcp),
            2 => Some(Protocol::Udp),
            3 => Some(Protocol::Icmp),
            _ => None,
        }
    }

    /// From an IPv4 protocol number.
    #[inline(always)]
    pub fn from_ip(p: u8) -> Option<Protocol> {
        match p {
            ip_protocol::TCP => Some(Protocol::Tcp),
            ip_protocol::UDP => Some(Protocol::Udp),
            ip_protocol::ICMP => Some(Protocol::Icmp),
            _ => None,
        }
    }

    /// The IPv4 protocol number.
    #[inline(always)]
    pub fn ip_number(self) -> u8 {
        match self {
            Protocol::Tcp => ip_protocol::TCP,
            Protocol::Udp => ip_protocol::UDP,
            Protocol::Icmp => ip_protocol::ICMP,
        }
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Icmp => "icmp",
        }
    }

    /// Parses `tcp`, `udp` or `icmp`.
    pub fn parse(s: &str) -> Option<Protocol> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Some(Protocol::Tcp),
            "udp" => Some(Protocol::Udp),
            "icmp" => Some(Protocol::Icmp),
            _ => None,
        }
    }
}

/// A side of the appliance.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// Towards the subscribers (private addresses).
    Inside,
    /// Towards the internet (public addresses).
    Outside,
}

/// The identity of a session: one flow between a subscriber endpoint and a
/// remote endpoint.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct SessionKey {
    /// Transport.
    pub protocol: Protocol,
    /// Subscriber address (host order).
    pub inside_addr: u32,
    /// Subscriber port or ICMP identifier.
    pub inside_port: u16,
    /// Remote address (host order).
    pub remote_addr: u32,
    /// Remote port (0 for ICMP).
    pub remote_port: u16,
}

impl SessionKey {
    /// The key of a flow between (`inside_addr`, `inside_port`) and
    /// (`remote_addr`, `remote_port`). An ICMP query has no remote port: its
    /// identifier is the inside "port" (RFC 5508 section 3.1), so the remote
    /// port is 0 whatever was passed.
    #[inline(always)]
    pub fn new(protocol: Protocol, inside_addr: u32, inside_port: u16, remote_addr: u32, remote_port: u16) -> SessionKey {
        SessionKey {
            protocol,
            inside_addr,
            inside_port,
            remote_addr,
            remote_port: if protocol == Protocol::Icmp { 0 } else { remote_port },
        }
    }

    /// The subscriber address.
    pub fn inside(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.inside_addr)
    }

    /// The remote address.
    pub fn remote(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.remote_addr)
    }

    /// The mapping this session belongs to.
    #[inline]
    pub fn mapping(&self) -> MappingKey {
        MappingKey {
            protocol: self.protocol,
            inside_addr: self.inside_addr,
            inside_port: self.inside_port,
        }
    }
}

/// The identity of an endpoint-independent mapping (RFC 4787 REQ-1): the
/// subscriber endpoint, whatever the destination.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct MappingKey {
    /// Transport.
    pub protocol: Protocol,
    /// Subscriber address (host order).
    pub inside_addr: u32,
    /// Subscriber port or ICMP identifier.
    pub inside_port: u16,
}

impl MappingKey {
    /// Packs the key into 50 bits: protocol:2 | address:32 | port:16.
    #[inline(always)]
    pub fn pack(&self) -> u64 {
        ((self.protocol as u64) << 48) | ((self.inside_addr as u64) << 16) | self.inside_port as u64
    }

    /// Inverse of [`MappingKey::pack`].
    #[inline]
    pub fn unpack(v: u64) -> Option<MappingKey> {
        Some(MappingKey {
            protocol: Protocol::from_code(((v >> 48) & 3) as u8)?,
            inside_addr: (v >> 16) as u32,
            inside_port: v as u16,
        })
    }
}
