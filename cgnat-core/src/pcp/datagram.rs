//! [`PcpDatagram`]: a PCP or NAT-PMP message crossing the exception path
//! between a worker and the management core (decision 017), and the two
//! ends of that path that touch packets: taking a request out of a
//! received IPv4 packet ([`PcpDatagram::from_request`]) and writing an
//! answer as an IPv4/UDP packet ([`PcpDatagram::emit_ipv4`]).
//!
//! Fixed size, no heap: a worker copies a request into one on its stack and
//! pushes it into an SPSC ring; no allocation or system call on its path.

use core::net::Ipv4Addr;

use crate::wire::{ip_protocol, ipv4, pcp, udp};

/// TTL of the answers the appliance sends (RFC 1122 section 3.2.1.7's
/// default for hosts; the answer crosses the subscriber's CPE).
pub const ANSWER_TTL: u8 = 64;
/// The longest IPv4 packet [`PcpDatagram::emit_ipv4`] writes.
pub const MAX_IPV4_LEN: usize = ipv4::HEADER_LEN + udp::HEADER_LEN + pcp::MAX_LEN;

/// Why a packet to the PCP port was not taken as a request.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum NotARequest {
    /// Not a well-formed IPv4/UDP packet (lengths, checksum).
    Malformed,
    /// UDP data longer than [`pcp::MAX_LEN`] (RFC 6887 section 7: a PCP
    /// message is at most 1100 octets; NAT-PMP's are shorter).
    TooLong,
}

/// A PCP or NAT-PMP message and the client's UDP endpoint: the source of a
/// request, or the destination of an answer.
#[derive(Clone)]
pub struct PcpDatagram {
    /// The client's address.
    pub peer: Ipv4Addr,
    /// The client's UDP port.
    pub peer_port: u16,
    len: u16,
    bytes: [u8; pcp::MAX_LEN],
}

impl core::fmt::Debug for PcpDatagram {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PcpDatagram")
            .field("peer", &self.peer)
            .field("peer_port", &self.peer_port)
            .field("len", &self.len)
            .finish()
    }
}

impl PcpDatagram {
    /// A datagram of `data` to or from `peer:peer_port`; `None` if `data`
    /// is longer than [`pcp::MAX_LEN`].
    pub fn new(peer: Ipv4Addr, peer_port: u16, data: &[u8]) -> Option<PcpDatagram> {
        let mut d = PcpDatagram {
            peer,
            peer_port,
            len: 0,
            bytes: [0; pcp::MAX_LEN],
        };
        d.bytes.get_mut(..data.len())?.copy_from_slice(data);
        d.len = data.len() as u16;
        Some(d)
    }

    /// The message.
    pub fn data(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The request carried by `packet`, an IPv4 packet whose header the
    /// caller checked and which is UDP to the server port: its UDP length
    /// and checksum are checked here (RFC 768; a zero checksum means none
    /// was sent).
    pub fn from_request(packet: &[u8]) -> Result<PcpDatagram, NotARequest> {
        let ip = ipv4::Packet::new_checked(packet).map_err(|_| NotARequest::Malformed)?;
        if ip.protocol() != ip_protocol::UDP || ip.is_fragment() {
            return Err(NotARequest::Malformed);
        }
        let u = udp::Packet::new_checked(ip.payload()).map_err(|_| NotARequest::Malformed)?;
        if u.checksum() != 0 && !u.verify_checksum(ip.src_addr(), ip.dst_addr()) {
            return Err(NotARequest::Malformed);
        }
        PcpDatagram::new(ip.src_addr(), u.src_port(), u.payload()).ok_or(NotARequest::TooLong)
    }

    /// Writes the datagram as an IPv4/UDP packet from `src:src_port` to the
    /// peer into `out` (at least [`MAX_IPV4_LEN`] bytes, or the packet's
    /// length); returns its length, or `None` if `out` is too short.
    pub fn emit_ipv4(&self, out: &mut [u8], src: Ipv4Addr, src_port: u16, ident: u16) -> Option<usize> {
        let data = self.data();
        let udp_len = udp::HEADER_LEN + data.len();
        let total = ipv4::HEADER_LEN + udp_len;
        let out = out.get_mut(..total)?;
        ipv4::emit_header(out, src, self.peer, ip_protocol::UDP, udp_len as u16, ANSWER_TTL, ident);
        let seg = &mut out[ipv4::HEADER_LEN..];
        udp::emit_header(seg, src_port, self.peer_port, data.len() as u16);
        seg[udp::HEADER_LEN..].copy_from_slice(data);
        udp::Packet::new_unchecked(seg).fill_checksum(src, self.peer);
        Some(total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_written_as_ipv4_reads_back_as_a_request() {
        let d = PcpDatagram::new(Ipv4Addr::new(100, 64, 0, 9), 40000, &[2, 0x81, 0, 0, 1, 2, 3, 4]).unwrap();
        let mut buf = [0u8; MAX_IPV4_LEN];
        let n = d.emit_ipv4(&mut buf, Ipv4Addr::new(100, 64, 0, 1), pcp::SERVER_PORT, 7).unwrap();
        assert_eq!(n, 20 + 8 + 8);
        // Read back as if the peer had sent it: the endpoint is the source.
        let back = PcpDatagram::from_request(&buf[..n]).unwrap();
        assert_eq!(back.peer, Ipv4Addr::new(100, 64, 0, 1));
        assert_eq!(back.peer_port, pcp::SERVER_PORT);
        assert_eq!(back.data(), d.data());
    }

    #[test]
    fn a_bad_checksum_or_an_oversized_message_is_not_a_request() {
        let d = PcpDatagram::new(Ipv4Addr::new(100, 64, 0, 9), 40000, &[0; 24]).unwrap();
        let mut buf = [0u8; MAX_IPV4_LEN];
        let n = d.emit_ipv4(&mut buf, Ipv4Addr::new(100, 64, 0, 1), 5351, 7).unwrap();
        buf[n - 1] ^= 1;
        assert_eq!(PcpDatagram::from_request(&buf[..n]).unwrap_err(), NotARequest::Malformed);
        assert!(PcpDatagram::new(Ipv4Addr::UNSPECIFIED, 1, &[0; pcp::MAX_LEN + 1]).is_none());
        assert_eq!(d.emit_ipv4(&mut buf[..30], Ipv4Addr::LOCALHOST, 1, 0), None);
    }
}
