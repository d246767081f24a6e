//! Parse once: what the prefetch stage of a burst learns about a packet
//! (its validated IPv4 header, transport ports, destination pool index and
//! the hash of the session key it will look up) is kept in a [`Prepared`]
//! and handed to [`Worker::process_prepared`], so a packet's headers are
//! parsed and its session key hashed once (issue 11 item 1).
//!
//! A `Prepared` only describes bytes; it holds no table state. The session
//! hash it carries is used only if the key the translation looks up equals
//! the key it was computed for (the inside endpoint read from the tables
//! is compared; the rest of the key comes from the same parsed header), so a table change between the prefetch and
//! the translation (another packet of the burst created a mapping, the
//! sweeper removed one) cannot make the translation differ from
//! [`Worker::process`].

use super::rewrite::Parsed;
use super::Worker;
use crate::counters::DropReason;
use crate::event::EventSink;
use crate::flow::{Protocol, SessionKey, Side};
use crate::wire::{icmp, ipv4, tcp, udp};

/// A packet's parsed headers and session hash, from [`Worker::prepare`].
/// Valid only for the unchanged bytes it was made from.
#[derive(Copy, Clone, Debug)]
pub struct Prepared {
    /// The IPv4 header, or why the packet is dropped before translation.
    pub(crate) header: Result<Parsed, DropReason>,
    /// (source port, destination port, TCP flags), or the ICMP identifier
    /// as both ports: present for whole packets and first fragments of TCP,
    /// UDP and ICMP long enough to hold them.
    pub(crate) ports: Option<(u16, u16, u8)>,
    /// Pool index of the destination address.
    pub(crate) dst_pool: Option<u32>,
    /// The hash of the session key the packet's flow is expected to have.
    pub(crate) session: Option<SessionHint>,
}

/// The hash of a packet's session key, and the inside endpoint it was
/// computed with. The rest of the key (protocol, remote endpoint; from the
/// inside, the inside endpoint too) is read from the packet, so the hash
/// is that of the key looked up whenever the inside endpoint matches.
#[derive(Copy, Clone, Debug)]
pub(crate) struct SessionHint {
    /// Inside address of the key hashed.
    pub inside_addr: u32,
    /// Inside port (or ICMP identifier) of the key hashed.
    pub inside_port: u16,
    /// [`crate::table::session::SessionTable::hash_of`] the key.
    pub hash: u64,
}

impl SessionHint {
    /// The hash, if the key looked up has this inside endpoint.
    #[inline(always)]
    pub(crate) fn hash_for(hint: Option<SessionHint>, inside_addr: u32, inside_port: u16) -> Option<u64> {
        match hint {
            Some(h) if h.inside_addr == inside_addr && h.inside_port == inside_port => Some(h.hash),
            _ => None,
        }
    }
}

impl Default for Prepared {
    fn default() -> Self {
        Prepared {
            header: Err(DropReason::Malformed),
            ports: None,
            dst_pool: None,
            session: None,
        }
    }
}

/// The ports of a transport header read through its `wire` view, `None`
/// if `l4` is too short for them.
#[inline(always)]
fn ports(l4: &[u8], protocol: Protocol) -> Option<(u16, u16, u8)> {
    match protocol {
        Protocol::Tcp if l4.len() >= tcp::HEADER_LEN => {
            let t = tcp::Packet::new_unchecked(l4);
            Some((t.src_port(), t.dst_port(), t.flags()))
        }
        Protocol::Udp if l4.len() >= udp::HEADER_LEN => {
            let u = udp::Packet::new_unchecked(l4);
            Some((u.src_port(), u.dst_port(), 0))
        }
        Protocol::Icmp if l4.len() >= icmp::HEADER_LEN => {
            let id = icmp::Packet::new_unchecked(l4).echo_ident();
            Some((id, id, 0))
        }
        _ => None,
    }
}

impl<E: EventSink> Worker<E> {
    /// Parses `packet` (an IPv4 packet received on `side`): header checks,
    /// ports, destination pool index and, from the inside, the session
    /// key's hash. No prefetch.
    #[inline(always)]
    pub(crate) fn parse(&self, side: Side, packet: &[u8]) -> Prepared {
        let mut out = Prepared::default();
        let ip = match ipv4::Packet::new_checked(packet) {
            Ok(ip) => ip,
            Err(_) => return out,
        };
        // RFC 1812 section 5.2.2: a packet with a wrong header checksum is dropped.
        if !ip.verify_checksum() {
            out.header = Err(DropReason::BadChecksum);
            return out;
        }
        let p = Parsed {
            header_len: ip.header_len(),
            total_len: ip.total_len() as usize,
            protocol: ip.protocol(),
            src: ip.src_addr_u32(),
            dst: ip.dst_addr_u32(),
            ttl: ip.ttl(),
            dont_frag: ip.dont_frag(),
            more_frags: ip.more_frags(),
            frag_offset: ip.frag_offset(),
            ident: ip.ident(),
        };
        out.header = Ok(p);
        out.dst_pool = self.nat.pool.index_of(p.dst);
        let Some(protocol) = Protocol::from_ip(p.protocol) else {
            return out;
        };
        if p.frag_offset != 0 {
            return out;
        }
        out.ports = ports(&packet[p.header_len..p.total_len], protocol);
        if side == Side::Inside {
            if let Some((sport, dport, _)) = out.ports {
                let key = SessionKey {
                    protocol,
                    inside_addr: p.src,
                    inside_port: sport,
                    remote_addr: p.dst,
                    remote_port: if protocol == Protocol::Icmp { 0 } else { dport },
                };
                out.session = Some(SessionHint {
                    inside_addr: p.src,
                    inside_port: sport,
                    hash: self.nat.sessions.hash_of(&key),
                });
            }
        }
        out
    }

    /// First stage of a burst: parses `packet` once (see [`Prepared`]) and
    /// hints the CPU to fetch the table lines its translation will need:
    /// from the inside the session's home slot; from the outside the block
    /// and port records, which [`Worker::prepare_session`] reads once the
    /// whole burst went through this stage. The cache misses of a burst
    /// then overlap instead of adding up. Never fails: a packet that cannot
    /// be parsed gets a `Prepared` that makes the translation drop it.
    #[inline]
    pub fn prepare(&self, side: Side, packet: &[u8]) -> Prepared {
        let prep = self.parse(side, packet);
        match (side, prep.session) {
            (Side::Inside, Some(h)) => self.nat.sessions.prefetch_hash(h.hash),
            (Side::Outside, _) => {
                if let (Ok(p), Some(pool_index), Some((_, dport, _))) = (&prep.header, prep.dst_pool, prep.ports) {
                    if let Some(protocol) = Protocol::from_ip(p.protocol) {
                        self.nat.pool.prefetch(protocol, pool_index, dport);
                    }
                }
            }
            _ => {}
        }
        prep
    }

    /// Second stage of a burst, for packets from the outside: once
    /// [`Worker::prepare`] has brought in the burst's block and port
    /// records, this reads them to learn each flow's inside endpoint,
    /// hashes its session key and prefetches its home slot. A no-op for
    /// inside packets.
    #[inline]
    pub fn prepare_session(&self, side: Side, prep: &mut Prepared) {
        if side == Side::Inside {
            return;
        }
        let (Ok(p), Some(pool_index), Some((sport, dport, _))) = (&prep.header, prep.dst_pool, prep.ports) else {
            return;
        };
        let Some(protocol) = Protocol::from_ip(p.protocol) else { return };
        if let Some((inside, inside_port)) = self.resolve_public(protocol, pool_index, dport) {
            let key = SessionKey {
                protocol,
                inside_addr: inside,
                inside_port,
                remote_addr: p.src,
                remote_port: if protocol == Protocol::Icmp { 0 } else { sport },
            };
            let h = self.nat.sessions.hash_of(&key);
            self.nat.sessions.prefetch_hash(h);
            prep.session = Some(SessionHint {
                inside_addr: inside,
                inside_port,
                hash: h,
            });
        }
    }
}
