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
use crate::wire::{checksum, icmp, ipv4, tcp, udp};

/// A packet's parsed headers and session hash, from [`Worker::prepare`].
/// Valid only for the unchanged bytes it was made from. Kept compact
/// (every packet of a burst has one; 48 bytes instead of 72): optional
/// values are stored as flags beside plain fields and read through the
/// accessors.
#[derive(Copy, Clone, Debug)]
pub struct Prepared {
    /// The IPv4 header; meaningless when `drop` is set.
    header: Parsed,
    /// The session hint's hash and inside endpoint (a [`SessionHint`] laid
    /// out flat, so its fields pack with the others); meaningful when
    /// `hint` is not [`Hint::None`].
    hint_hash: u64,
    hint_addr: u32,
    hint_port: u16,
    /// Pool index of the destination address, or [`NO_POOL`].
    dst_pool: u32,
    /// Source and destination port, or the ICMP identifier as both.
    sport: u16,
    dport: u16,
    /// Why the packet is dropped before translation, if it is.
    drop: Option<DropReason>,
    /// TCP flags (0 for UDP and ICMP).
    tcp_flags: u8,
    /// The transport protocol; meaningful when `has_ports`.
    pub(crate) protocol: Protocol,
    /// Whether `sport`, `dport` and `tcp_flags` were read: whole packets and
    /// first fragments of TCP, UDP and ICMP long enough to hold them.
    has_ports: bool,
    hint: Hint,
    /// The fast lane applies (see [`Worker::process_prepared`]): a plain
    /// header (no options), not a fragment, TTL above 1, TCP or UDP with
    /// ports, and within both MTUs.
    pub(crate) fast: bool,
}

// The size the documentation above states (72 bytes before issue 11's
// second pass).
const _: () = assert!(core::mem::size_of::<Prepared>() == 48);

/// Where a [`Prepared`]'s session hash came from.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Hint {
    /// No hash.
    None,
    /// The packet's own key, from the inside: its inside endpoint is the
    /// packet's source (see [`Prepared::own_hash`]).
    Own,
    /// From the outside, for the inside endpoint the tables held when the
    /// burst's second stage read them (checked before use).
    Resolved,
}

/// `Prepared::dst_pool` when the destination is not a pool address (no
/// pool holds 2^32 - 1 addresses).
const NO_POOL: u32 = u32::MAX;

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
        Prepared::dropped(DropReason::Malformed)
    }
}

impl Prepared {
    /// A packet dropped before translation for `reason`.
    #[inline(always)]
    fn dropped(reason: DropReason) -> Prepared {
        Prepared {
            header: Parsed::default(),
            hint_hash: 0,
            hint_addr: 0,
            hint_port: 0,
            dst_pool: NO_POOL,
            sport: 0,
            dport: 0,
            drop: Some(reason),
            tcp_flags: 0,
            protocol: Protocol::Udp,
            has_ports: false,
            hint: Hint::None,
            fast: false,
        }
    }

    /// Records the session hint (see [`SessionHint`]).
    #[inline(always)]
    fn set_hint(&mut self, kind: Hint, inside_addr: u32, inside_port: u16, hash: u64) {
        self.hint_addr = inside_addr;
        self.hint_port = inside_port;
        self.hint_hash = hash;
        self.hint = kind;
    }

    /// A packet with a valid header but no ports to translate by (other
    /// protocols, later fragments, truncated transport headers).
    #[inline(always)]
    fn header_only(header: Parsed, dst_pool: u32) -> Prepared {
        Prepared {
            header,
            dst_pool,
            drop: None,
            ..Prepared::dropped(DropReason::Malformed)
        }
    }

    /// The IPv4 header, or why the packet is dropped before translation.
    #[inline(always)]
    pub(crate) fn header(&self) -> Result<&Parsed, DropReason> {
        match self.drop {
            None => Ok(&self.header),
            Some(r) => Err(r),
        }
    }

    /// The destination address (host order) of a packet whose IPv4 header
    /// passed the parse, so that a data plane can test it against its own
    /// addresses without parsing the header again.
    #[inline(always)]
    pub fn dst_addr(&self) -> Option<u32> {
        self.header().ok().map(|p| p.dst)
    }

    /// (source port, destination port, TCP flags), or the ICMP identifier
    /// as both ports.
    #[inline(always)]
    pub(crate) fn ports(&self) -> Option<(u16, u16, u8)> {
        self.has_ports.then_some((self.sport, self.dport, self.tcp_flags))
    }

    /// Pool index of the destination address.
    #[inline(always)]
    pub(crate) fn dst_pool(&self) -> Option<u32> {
        (self.dst_pool != NO_POOL).then_some(self.dst_pool)
    }

    /// From the inside: the hash of the packet's own session key. Its
    /// inside endpoint is the packet's source, read from the same header
    /// as the rest of the key, so no comparison is needed (unlike a hint
    /// from the outside, which [`SessionHint::hash_for`] checks; a
    /// `Prepared` made on the other side has no own hash).
    #[inline(always)]
    pub(crate) fn own_hash(&self) -> Option<u64> {
        (self.hint == Hint::Own).then_some(self.hint_hash)
    }

    /// The hash of the session key the packet's flow is expected to have.
    #[inline(always)]
    pub(crate) fn session(&self) -> Option<SessionHint> {
        (self.hint != Hint::None).then_some(SessionHint {
            inside_addr: self.hint_addr,
            inside_port: self.hint_port,
            hash: self.hint_hash,
        })
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

/// What the receiving NIC reported about a packet's IPv4 header checksum
/// (DPDK's `RTE_MBUF_F_RX_IP_CKSUM_*` flags, where the PMD sets them).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum RxChecksum {
    /// Nothing reported: the checksum is verified in software.
    #[default]
    Unknown,
    /// The NIC verified the header checksum: no software check.
    Good,
    /// The NIC found the header checksum wrong: dropped as
    /// [`DropReason::BadChecksum`] (RFC 1812 section 5.2.2).
    Bad,
}

/// The plain IPv4 header of `packet` (no options; the common case, read as
/// a fixed 20-byte array), `None` for anything else, which
/// [`parse_header_general`] handles; `Err` if its checksum is wrong. `hw`:
/// what the NIC reported of the header checksum.
#[inline(always)]
fn parse_plain_header(packet: &[u8], hw: RxChecksum) -> Option<Result<Parsed, DropReason>> {
    let h = packet.first_chunk::<{ ipv4::HEADER_LEN }>()?;
    let ip = ipv4::Packet::new_unchecked(&h[..]);
    let total_len = ip.total_len() as usize;
    if !(ip.is_plain_v4() && total_len >= ipv4::HEADER_LEN && total_len <= packet.len()) {
        return None;
    }
    // RFC 1812 section 5.2.2: a packet with a wrong header checksum is dropped.
    let good = match hw {
        RxChecksum::Good => true,
        RxChecksum::Bad => false,
        RxChecksum::Unknown => checksum::verifies_20(h),
    };
    Some(match good {
        true => Ok(Parsed::of(&ip, ipv4::HEADER_LEN, total_len)),
        false => Err(DropReason::BadChecksum),
    })
}

/// The IPv4 header of a packet [`parse_plain_header`] does not take:
/// headers with options, and malformed packets.
#[inline(always)]
fn parse_header_general(packet: &[u8], hw: RxChecksum) -> Result<Parsed, DropReason> {
    let ip = ipv4::Packet::new_checked(packet).map_err(|_| DropReason::Malformed)?;
    // RFC 1812 section 5.2.2: a packet with a wrong header checksum is dropped.
    if hw == RxChecksum::Bad || (hw == RxChecksum::Unknown && !ip.verify_checksum()) {
        return Err(DropReason::BadChecksum);
    }
    Ok(Parsed::of(&ip, ip.header_len(), ip.total_len() as usize))
}

impl<E: EventSink> Worker<E> {
    /// Parses `packet` (an IPv4 packet received on `side`): header checks,
    /// ports, destination pool index, whether the fast lane applies and,
    /// from the inside, the session key's hash. No prefetch. The plain
    /// header is parsed inline, with its length a constant; the rest out
    /// of line.
    #[inline(always)]
    pub(crate) fn parse(&self, side: Side, packet: &[u8], hw: RxChecksum) -> Prepared {
        match parse_plain_header(packet, hw) {
            Some(Ok(p)) => self.parse_transport(side, packet, p),
            Some(Err(reason)) => Prepared::dropped(reason),
            None => self.parse_general(side, packet, hw),
        }
    }

    /// [`Worker::parse`] for a packet with a plain header (the fast lane's
    /// only candidates); `None` for any other (and for a plain header with
    /// a wrong checksum), which the general path parses. No out-of-line
    /// call, so the result can live in registers.
    #[inline(always)]
    pub(crate) fn parse_plain(&self, side: Side, packet: &[u8]) -> Option<Prepared> {
        match parse_plain_header(packet, RxChecksum::Unknown) {
            Some(Ok(p)) => Some(self.parse_transport(side, packet, p)),
            _ => None,
        }
    }

    /// [`Worker::parse`] for headers with options and malformed packets.
    #[inline(never)]
    fn parse_general(&self, side: Side, packet: &[u8], hw: RxChecksum) -> Prepared {
        match parse_header_general(packet, hw) {
            Ok(p) => self.parse_transport(side, packet, p),
            Err(reason) => Prepared::dropped(reason),
        }
    }

    /// The rest of [`Worker::parse`] once the IPv4 header `p` is checked.
    #[inline(always)]
    fn parse_transport(&self, side: Side, packet: &[u8], p: Parsed) -> Prepared {
        let dst_pool = self.nat.pool.index_of(p.dst).unwrap_or(NO_POOL);
        let protocol = match Protocol::from_ip(p.protocol) {
            Some(protocol) if p.frag_offset() == 0 => protocol,
            _ => return Prepared::header_only(p, dst_pool),
        };
        let Some((sport, dport, flags)) = ports(&packet[p.header_len()..p.total_len()], protocol) else {
            return Prepared::header_only(p, dst_pool);
        };
        let mut out = Prepared {
            header: p,
            hint_hash: 0,
            hint_addr: 0,
            hint_port: 0,
            dst_pool,
            sport,
            dport,
            drop: None,
            tcp_flags: flags,
            protocol,
            has_ports: true,
            hint: Hint::None,
            fast: protocol != Protocol::Icmp
                && p.header_len() == ipv4::HEADER_LEN
                && !p.more_frags()
                && p.ttl > 1
                && p.total_len() <= self.nat.min_mtu(),
        };
        if side == Side::Inside {
            let key = SessionKey::new(protocol, p.src, sport, p.dst, dport);
            out.set_hint(Hint::Own, p.src, sport, self.nat.sessions.hash_of(&key));
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
        self.prepare_offloaded(side, packet, RxChecksum::Unknown)
    }

    /// [`Worker::prepare`] for a packet whose header checksum the NIC
    /// already checked (`hw`): a verified header is not summed again.
    #[inline]
    pub fn prepare_offloaded(&self, side: Side, packet: &[u8], hw: RxChecksum) -> Prepared {
        let prep = self.parse(side, packet, hw);
        match side {
            Side::Inside if prep.hint == Hint::Own => self.nat.sessions.prefetch_hash(prep.hint_hash),
            Side::Outside if prep.has_ports && prep.dst_pool != NO_POOL => {
                self.nat.pool.prefetch(prep.protocol, prep.dst_pool, prep.dport);
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
        if side == Side::Inside || !prep.has_ports || prep.dst_pool == NO_POOL || prep.drop.is_some() {
            return;
        }
        let p = &prep.header;
        let protocol = prep.protocol;
        if let Some((inside, inside_port)) = self.resolve_public(protocol, prep.dst_pool, prep.dport) {
            let key = SessionKey::new(protocol, inside, inside_port, p.src, prep.sport);
            let h = self.nat.sessions.hash_of(&key);
            self.nat.sessions.prefetch_hash(h);
            prep.set_hint(Hint::Resolved, inside, inside_port, h);
        }
    }
}
