//! ICMP error translation (RFC 5508 section 4): the outer header is
//! translated like any packet of the flow, and so is the packet quoted
//! inside the error (whose direction is the reverse of the error's), with
//! every checksum fixed up: the quoted IPv4 header's, the quoted transport
//! header's if it was quoted, and the ICMP checksum over the whole message.
//! RFC 5508 REQ-12 (via RFC 4787 REQ-12): an ICMP error never ends a
//! mapping or session.

use super::rewrite::Parsed;
use super::{Verdict, Worker};
use crate::counters::{Counter, DropReason};
use crate::event::EventSink;
use crate::flow::{Protocol, SessionKey};
use crate::wire::{checksum, icmp, ipv4};

/// The quoted packet of an ICMP error.
struct Quoted {
    /// Offset of the quoted IPv4 header in the outer packet.
    ip: usize,
    /// Offset of the quoted transport header.
    l4: usize,
    /// Bytes of transport header quoted.
    l4_len: usize,
    protocol: Protocol,
    src: u32,
    dst: u32,
    sport: u16,
    dport: u16,
}

const BAD: Verdict = Verdict::Drop(DropReason::IcmpErrorRefused);

fn quoted(pkt: &[u8], p: &Parsed) -> Result<Quoted, Verdict> {
    if p.is_fragment() {
        return Err(BAD);
    }
    // RFC 5508 REQ-3: "if the ICMP checksum fails to validate, the NAT
    // SHOULD silently drop the ICMP Error packet" (the checksum is
    // recomputed below, which would otherwise launder a corrupted message).
    if !icmp::Packet::new_unchecked(&pkt[p.header_len()..]).verify_checksum() {
        return Err(BAD);
    }
    let ip = p.header_len() + icmp::HEADER_LEN;
    let e = ipv4::Packet::new_embedded(pkt.get(ip..).ok_or(Verdict::Drop(DropReason::Malformed))?)
        .map_err(|_| Verdict::Drop(DropReason::Malformed))?;
    // RFC 5508 REQ-3a: "If the IP checksum of the embedded packet fails to
    // validate, the NAT SHOULD silently drop the Error packet".
    if !e.verify_checksum() {
        return Err(BAD);
    }
    let protocol = Protocol::from_ip(e.protocol()).ok_or(BAD)?;
    let l4 = ip + e.header_len();
    let l4_len = pkt.len().saturating_sub(l4);
    // RFC 792: at least 64 bits of the original datagram's data are quoted.
    if l4_len < 8 {
        return Err(Verdict::Drop(DropReason::Malformed));
    }
    let be = |i: usize| u16::from_be_bytes([pkt[l4 + i], pkt[l4 + i + 1]]);
    let (sport, dport) = match protocol {
        Protocol::Icmp => {
            // Only errors about queries are translated; never an error
            // about an error (RFC 1122 section 3.2.2).
            let t = pkt[l4];
            if t != icmp::msg_type::ECHO_REQUEST && t != icmp::msg_type::ECHO_REPLY {
                return Err(BAD);
            }
            (be(4), be(4))
        }
        _ => (be(0), be(2)),
    };
    Ok(Quoted {
        ip,
        l4,
        l4_len,
        protocol,
        src: e.src_addr_u32(),
        dst: e.dst_addr_u32(),
        sport,
        dport,
    })
}

/// Rewrites the quoted packet's source (`source = true`) or destination
/// address and port, with its checksums.
fn rewrite_quoted(pkt: &mut [u8], q: &Quoted, source: bool, addr: u32, port: u16) {
    let old_addr = {
        let mut e = ipv4::Packet::new_unchecked(&mut pkt[q.ip..]);
        if source {
            e.rewrite_src_addr(addr)
        } else {
            e.rewrite_dst_addr(addr)
        }
    };
    let l4 = &mut pkt[q.l4..];
    let (port_at, ck_at) = match q.protocol {
        Protocol::Udp => (if source { 0 } else { 2 }, Some(6)),
        Protocol::Tcp => (if source { 0 } else { 2 }, (q.l4_len >= 18).then_some(16)),
        Protocol::Icmp => (4, Some(2)),
    };
    let old_port = u16::from_be_bytes([l4[port_at], l4[port_at + 1]]);
    l4[port_at..port_at + 2].copy_from_slice(&port.to_be_bytes());
    if let Some(c) = ck_at {
        let ck = u16::from_be_bytes([l4[c], l4[c + 1]]);
        let new = match q.protocol {
            Protocol::Udp => checksum::update16_udp(checksum::update32_udp(ck, old_addr, addr), old_port, port),
            Protocol::Tcp => checksum::update16(checksum::update32(ck, old_addr, addr), old_port, port),
            Protocol::Icmp => checksum::update16(ck, old_port, port),
        };
        l4[c..c + 2].copy_from_slice(&new.to_be_bytes());
    }
}

fn refill_icmp(pkt: &mut [u8], p: &Parsed) {
    icmp::Packet::new_unchecked(&mut pkt[p.header_len()..]).fill_checksum();
}

impl<E: EventSink> Worker<E> {
    /// An ICMP error from the internet about a packet a subscriber sent: the
    /// quoted packet's source is our public endpoint.
    pub(crate) fn icmp_error_from_outside(&mut self, pkt: &mut [u8], p: &Parsed, pool_index: u32) -> Result<(), Verdict> {
        let q = quoted(pkt, p)?;
        if q.src != p.dst {
            return Err(Verdict::Drop(DropReason::IcmpErrorNoMapping));
        }
        let (inside, inside_port) = self
            .resolve_public(q.protocol, pool_index, q.sport)
            .ok_or(Verdict::Drop(DropReason::IcmpErrorNoMapping))?;
        // RFC 5508 section 4.2: translate only errors about a live session.
        let key = SessionKey::new(q.protocol, inside, inside_port, q.dst, q.dport);
        if self.nat.sessions.find(&key).is_none() {
            return Err(Verdict::Drop(DropReason::IcmpErrorNoMapping));
        }
        ipv4::Packet::new_unchecked(&mut *pkt).rewrite_dst_addr(inside);
        rewrite_quoted(pkt, &q, true, inside, inside_port);
        refill_icmp(pkt, p);
        self.counters.incr(Counter::IcmpErrorsTranslated);
        Ok(())
    }

    /// An ICMP error from a subscriber about a packet it received: the
    /// quoted packet's destination is the subscriber's endpoint.
    pub(crate) fn icmp_error_from_inside(&mut self, pkt: &mut [u8], p: &Parsed) -> Result<(), Verdict> {
        let q = quoted(pkt, p)?;
        if !self.nat.is_inside(q.dst) {
            return Err(Verdict::Drop(DropReason::IcmpErrorNoMapping));
        }
        let key = SessionKey::new(q.protocol, q.dst, q.dport, q.src, q.sport);
        let r = self.nat.sessions.find(&key).ok_or(Verdict::Drop(DropReason::IcmpErrorNoMapping))?;
        let public = self.nat.pool.addr_of(r.pool_index);
        ipv4::Packet::new_unchecked(&mut *pkt).rewrite_src_addr(public);
        rewrite_quoted(pkt, &q, false, public, r.value.public_port());
        refill_icmp(pkt, p);
        self.counters.incr(Counter::IcmpErrorsTranslated);
        Ok(())
    }
}
