//! The router around the NAT: everything a worker does with a frame besides
//! translating it.
//!
//! Per received frame: Ethernet and 802.1Q checks → ARP (replies for our
//! addresses and, on the outside, proxy ARP for the pool; learning) or IPv4
//! → the appliance's own interface addresses (echo replies; UDP answered
//! with ICMP port unreachable; anything else dropped) → cgnat-core
//! [`Worker::process`] → act on the [`Verdict`]: forward (next hop, ARP
//! resolution with neighbour aging, hold while unresolved), fragment, ICMP
//! error (rate-limited, RFC 1812 section 4.3.2.8), echo reply for pool
//! addresses, hold an out-of-order fragment (processed again with
//! [`Worker::process_again`] once its first fragment is translated, so it
//! is counted as received once).
//!
//! No locks, no heap allocation, no system call: mbufs come from the
//! worker's mempool, the hold and fragment areas are preallocated, the
//! neighbour tables are lock-free, transmission goes through an [`Egress`].

mod announce;
mod arp;
mod log_wait;
mod output;
mod pcp;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use cgnat_core::config::{DaemonConfig, PortConfig};
use cgnat_core::event::Event;
use cgnat_core::frag::{FragmentStash, HoldError};
use cgnat_core::ring::Producer;
use cgnat_core::wire::{ethernet, icmp, ip_protocol, ipv4, udp};
use cgnat_core::{Instant, Nat, Prepared, Side, Verdict, Worker};

use super::counters::{DpCounter, DpCounters};
use super::neighbour::{NeighbourTable, NeighbourTimers};
use crate::{Burst, Mbuf, Mempool, BURST_SIZE};

pub use output::Egress;
pub use pcp::PcpPath;

/// The NAT worker type of the daemon: events go into an SPSC ring.
pub type NatWorker = Worker<Producer<Event>>;

/// One port as the router sees it (shared, read-only, by every worker).
pub struct Link {
    /// Which side.
    pub side: Side,
    /// The MAC address used as source and accepted as destination.
    pub mac: [u8; 6],
    /// The appliance's address on the link (host order).
    pub addr: u32,
    net: u32,
    mask: u32,
    /// Next hop for off-link destinations (host order), 0 for none.
    pub gateway: u32,
    /// 802.1Q TCI to tag frames with (VLAN id), if the port is tagged.
    pub vlan: Option<u16>,
    /// Ethernet header length on this link (14, or 18 when tagged).
    pub l2_len: usize,
    /// The link's neighbour table.
    pub neighbours: NeighbourTable,
}

impl Link {
    /// The link of `cfg` on `side`, whose port has MAC address `port_mac`
    /// (overridden by `cfg.mac`), with a neighbour table of `table_size`
    /// entries aging by `timers`. Installs the static neighbours.
    pub fn new(side: Side, cfg: &PortConfig, port_mac: [u8; 6], table_size: usize, timers: NeighbourTimers) -> Link {
        let net = cfg.address.network();
        let len = cfg.address.prefix_len as u32;
        let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
        let neighbours = NeighbourTable::new(table_size, timers);
        for n in &cfg.static_neighbours {
            neighbours.insert_static(u32::from(n.ip), n.mac.0);
        }
        if let (Some(g), Some(m)) = (cfg.gateway, cfg.gateway_mac) {
            neighbours.insert_static(u32::from(g), m.0);
        }
        Link {
            side,
            mac: cfg.mac.map(|m| m.0).unwrap_or(port_mac),
            addr: u32::from(cfg.address.addr),
            net: net.addr_u32(),
            mask,
            gateway: cfg.gateway.map(u32::from).unwrap_or(0),
            vlan: cfg.vlan,
            l2_len: if cfg.vlan.is_some() {
                ethernet::VLAN_HEADER_LEN
            } else {
                ethernet::HEADER_LEN
            },
            neighbours,
        }
    }

    /// The next hop towards `dst`: itself if on-link, else the gateway.
    #[inline]
    pub fn next_hop(&self, dst: u32) -> Option<u32> {
        if dst & self.mask == self.net {
            Some(dst)
        } else if self.gateway != 0 {
            Some(self.gateway)
        } else {
            None
        }
    }
}

/// Settings and links shared by every worker.
pub struct Shared {
    /// The inside link.
    pub inside: Link,
    /// The outside link.
    pub outside: Link,
    /// Answer ARP for pool addresses on the outside.
    pub proxy_arp_pool: bool,
    /// ICMP errors per second per worker (0: none).
    pub icmp_errors_per_sec: u32,
    /// How long a packet waits for ARP, microseconds.
    pub arp_hold_us: u64,
    /// Packets held per worker while resolving.
    pub arp_hold_packets: usize,
    /// Packets held per worker while their block's log record becomes durable.
    pub log_hold_packets: usize,
    /// How long they wait, microseconds.
    pub log_hold_us: u64,
    /// Out-of-order fragments held per worker.
    pub fragments_held: usize,
    /// How long they are held, seconds.
    pub fragment_timeout: u32,
    /// Held fragments of one source address per worker.
    pub fragments_per_source: u32,
    /// Secret key of the fragment stash's hash (per process).
    pub fragment_seed: u64,
    /// Set while this node is not the active one of its HA pair: the
    /// workers drop every frame unread (no translation, no ARP answers),
    /// so the standby stays silent on the shared segments. Written by the
    /// management core on role changes; one relaxed load per burst.
    pub ha_standby: Arc<AtomicBool>,
    /// Bumped by the management core when this node becomes active: the
    /// announcing worker sends gratuitous ARP for its addresses.
    pub ha_announce: Arc<AtomicU64>,
    /// Bumped by the management core to have the announcing worker probe
    /// the inside segment for the shared inside address (an RFC 5227 ARP
    /// probe: its sender address is 0.0.0.0, so no neighbour caches it).
    pub ha_probe: Arc<AtomicU64>,
    /// Counts the ARP packets on the inside segment that a not-active node
    /// saw from another MAC address for the inside address: the peer is
    /// alive there (the management core notes when the count moves, on its
    /// own monotonic clock).
    pub ha_peer_seen: Arc<AtomicU64>,
}

impl Shared {
    /// From the configuration and the ports' MAC addresses.
    pub fn new(cfg: &DaemonConfig, inside_mac: [u8; 6], outside_mac: [u8; 6]) -> Shared {
        let d = &cfg.dataplane;
        let timers = NeighbourTimers {
            reachable_us: d.arp_reachable_secs as u64 * 1_000_000,
            retry_us: d.arp_retry_ms as u64 * 1000,
            probes: d.arp_probes,
        };
        Shared {
            inside: Link::new(Side::Inside, &d.inside, inside_mac, d.neighbours as usize, timers),
            outside: Link::new(Side::Outside, &d.outside, outside_mac, d.neighbours as usize, timers),
            proxy_arp_pool: d.proxy_arp_pool,
            icmp_errors_per_sec: d.icmp_errors_per_sec,
            arp_hold_us: d.arp_hold_ms as u64 * 1000,
            arp_hold_packets: d.arp_hold_packets as usize,
            log_hold_packets: d.log_hold_packets as usize,
            log_hold_us: d.log_hold_ms as u64 * 1000,
            fragments_held: cfg.nat.fragments.max_held as usize,
            fragment_timeout: cfg.nat.fragments.timeout,
            fragments_per_source: cfg.nat.fragments.max_per_source,
            fragment_seed: cfg.nat.seed.unwrap_or_else(super::lifecycle::os_seed),
            // A pair's node starts silent: the election decides.
            ha_standby: Arc::new(AtomicBool::new(cfg.ha.enabled)),
            ha_announce: Arc::new(AtomicU64::new(0)),
            ha_probe: Arc::new(AtomicU64::new(0)),
            ha_peer_seen: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The link of `side`.
    #[inline]
    pub fn link(&self, side: Side) -> &Link {
        match side {
            Side::Inside => &self.inside,
            Side::Outside => &self.outside,
        }
    }
}

/// ICMP destination unreachable code 3, port unreachable (RFC 792).
const PORT_UNREACHABLE: u8 = 3;

/// What the appliance does with a packet for one of its own addresses.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
enum Local {
    /// ICMP echo request: answered.
    Echo,
    /// UDP: answered with ICMP port unreachable.
    PortUnreachable,
    /// UDP to the inside address, port 5351: a PCP request.
    Pcp,
    /// TCP: dropped, counted as refused.
    Refuse,
    /// Anything else: dropped.
    Drop,
}

/// A packet waiting for its next hop's MAC address.
struct Held {
    side: Side,
    next_hop: u32,
    deadline: u64,
    m: Mbuf,
}

/// A fragment waiting for its first fragment.
type Stashed = (Side, u8, Mbuf);

#[inline]
fn side_index(side: Side) -> usize {
    match side {
        Side::Inside => 0,
        Side::Outside => 1,
    }
}

/// The data-plane counter of frames received on `side`.
#[inline]
fn rx_counter(side: Side) -> DpCounter {
    match side {
        Side::Inside => DpCounter::RxInside,
        Side::Outside => DpCounter::RxOutside,
    }
}

/// The IPv4 packet of frame `m` if its (inner) EtherType is IPv4 and its
/// link-layer header is `l2` bytes (14, or 18 with an 802.1Q tag) long.
#[inline]
fn ipv4_payload(m: &Mbuf, l2: usize) -> Option<&[u8]> {
    let d = m.data();
    let f = ethernet::Frame::new_checked(d).ok()?;
    let ours = f.header_len() == l2 && f.inner_ethertype() == ethernet::ethertype::IPV4;
    (ours && d.len() >= l2 + ipv4::HEADER_LEN).then(|| &d[l2..])
}

/// One worker's router: the NAT worker plus everything around it.
pub struct Router {
    shared: Arc<Shared>,
    worker: NatWorker,
    nat: Arc<Nat>,
    counters: Arc<DpCounters>,
    pool: Mempool,
    tx: [Burst; 2],
    held: Box<[Option<Held>]>,
    held_count: usize,
    stash: FragmentStash<Stashed>,
    redo: Vec<Stashed>,
    log_wait: log_wait::LogWait,
    icmp_tokens: u64,
    icmp_last: u64,
    /// What the prefetch stage of [`Router::handle_burst`] parsed of each
    /// frame of the burst, by position.
    prepared: [Prepared; BURST_SIZE],
    /// Per side (inside, outside): the Ethernet header of the burst's
    /// resolved next hop.
    l2_cache: [output::L2Cache; 2],
    /// The PCP exception path, if the server runs.
    pcp: Option<PcpPath>,
    /// IPv4 Identification of the next PCP answer.
    pcp_ident: u16,
    /// The announcer's last seen [`Shared::ha_announce`] (`None`: this
    /// worker does not announce).
    announced: Option<u64>,
    /// The announcer's last seen [`Shared::ha_probe`].
    probed: u64,
}

impl Router {
    /// A router for `worker`, taking mbufs for generated packets from `pool`.
    pub fn new(shared: Arc<Shared>, worker: NatWorker, pool: Mempool) -> Router {
        let nat = worker.nat().clone();
        let held = (0..shared.arp_hold_packets).map(|_| None).collect();
        let stash = FragmentStash::with_limits(
            shared.fragments_held,
            shared.fragment_timeout,
            shared.fragments_per_source,
            shared.fragment_seed,
        );
        let redo = Vec::with_capacity(shared.fragments_held);
        let log_wait = log_wait::LogWait::new(shared.log_hold_packets);
        Router {
            shared,
            worker,
            nat,
            counters: Arc::new(DpCounters::default()),
            pool,
            tx: [Burst::new(), Burst::new()],
            held,
            held_count: 0,
            stash,
            redo,
            log_wait,
            icmp_tokens: u64::MAX,
            icmp_last: 0,
            prepared: [Prepared::default(); BURST_SIZE],
            l2_cache: Default::default(),
            pcp: None,
            pcp_ident: 0,
            announced: None,
            probed: 0,
        }
    }

    /// This worker's data-plane counters.
    pub fn counters(&self) -> &Arc<DpCounters> {
        &self.counters
    }

    /// This worker's NAT counters.
    pub fn nat_counters(&self) -> &Arc<cgnat_core::counters::Counters> {
        self.worker.counters()
    }

    /// Handles the frames of `burst` (received on `side`) in order, like
    /// [`Router::handle`] each, after a prefetch stage over the whole burst:
    /// [`Worker::prepare`] parses every IPv4 frame once and hints the CPU to
    /// fetch its table lines, then, for the outside,
    /// [`Worker::prepare_session`] reads the block and port records the
    /// first pass fetched and prefetches the session slots. The cache misses
    /// of the burst's lookups then overlap instead of adding up, and each
    /// packet's headers are parsed and its session key hashed once (issue
    /// 11 item 1). Frames that are not IPv4 on this link's encapsulation
    /// are handled as usual. No allocation. The burst is empty afterwards.
    #[inline]
    pub fn handle_burst<E: Egress>(&mut self, side: Side, burst: &mut Burst, now: Instant, eg: &mut E) {
        let l2 = self.shared.link(side).l2_len;
        let n = burst.len();
        if self.shared.ha_standby.load(Ordering::Relaxed) {
            self.counters.add(DpCounter::HaNotActive, n as u64);
            if side == Side::Inside {
                for m in burst.iter() {
                    self.watch_for_peer(m);
                }
            }
            burst.drain().for_each(drop);
            return;
        }
        // Counted once per burst, not per frame.
        self.counters.add(rx_counter(side), n as u64);
        for (m, prep) in burst.iter().zip(self.prepared.iter_mut()) {
            *prep = match ipv4_payload(m, l2) {
                Some(p) => self.worker.prepare_offloaded(side, p, m.rx_ip_checksum()),
                None => Prepared::default(),
            };
        }
        if side == Side::Outside {
            for prep in &mut self.prepared[..n] {
                self.worker.prepare_session(side, prep);
            }
        }
        for (i, m) in burst.drain().enumerate() {
            let prep = self.prepared[i];
            self.receive(side, m, Some(&prep), now, eg);
        }
    }

    /// Handles one frame received on `side` at `now`. Frames to send are
    /// queued and go out on [`Router::flush`] (or when a burst fills).
    #[inline]
    pub fn handle<E: Egress>(&mut self, side: Side, m: Mbuf, now: Instant, eg: &mut E) {
        self.counters.incr(rx_counter(side));
        self.receive(side, m, None, now, eg);
    }

    /// [`Router::handle`] after the frame was counted as received, with
    /// what [`Router::handle_burst`] prepared of the frame's IPv4 packet (at
    /// the link's header length) if it did.
    #[inline]
    fn receive<E: Egress>(&mut self, side: Side, m: Mbuf, prep: Option<&Prepared>, now: Instant, eg: &mut E) {
        let link = self.shared.link(side);
        if !m.is_contiguous() || m.data_len() < ethernet::HEADER_LEN {
            self.counters.incr(DpCounter::BadFrame);
            return;
        }
        let d = m.data();
        let frame = ethernet::Frame::new_unchecked(d);
        if frame.check_len().is_err() {
            self.counters.incr(DpCounter::BadFrame);
            return;
        }
        let vlan_ok = match (link.vlan, frame.vlan_id()) {
            (None, None) => true,
            (Some(want), Some(got)) => want == got,
            _ => false,
        };
        if !vlan_ok {
            self.counters.incr(DpCounter::VlanMismatch);
            return;
        }
        let l2 = frame.header_len();
        let ethertype = frame.inner_ethertype();
        let to_us = d[..6] == link.mac;
        match ethertype {
            ethernet::ethertype::ARP if to_us || frame.dst_addr().is_broadcast() => self.arp(side, m, l2, now, eg),
            // The prepared packet is the one at the link's header length.
            ethernet::ethertype::IPV4 if to_us => {
                let prep = prep.filter(|_| l2 == link.l2_len);
                self.ipv4(side, m, l2, prep, now, eg)
            }
            ethernet::ethertype::IPV4 | ethernet::ethertype::ARP => self.counters.incr(DpCounter::OtherMac),
            _ => self.counters.incr(DpCounter::NotIpv4),
        }
    }

    /// An IPv4 packet at offset `l2` of `m`, received on `side`.
    #[inline(always)]
    fn ipv4<E: Egress>(&mut self, side: Side, m: Mbuf, l2: usize, prep: Option<&Prepared>, now: Instant, eg: &mut E) {
        if let Some((local, addr)) = self.to_our_address(side, &m, l2, prep) {
            return self.local(side, m, l2, local, addr, now, eg);
        }
        self.translate(side, m, l2, false, prep, now, eg);
        if let Some(key) = self.worker.take_resolved_fragment() {
            // Fragments held for this datagram are translated now, in the
            // order they came. They were counted as received when they
            // arrived, hence `again`. The list is taken out of `self` and
            // put back (no allocation: its capacity is the stash's).
            let mut redo = core::mem::take(&mut self.redo);
            self.stash.release(&key, |s| redo.push(s));
            for (s, l, f) in redo.drain(..) {
                self.translate(s, f, l as usize, true, None, now, eg);
            }
            self.redo = redo;
        }
    }

    /// Hands the IPv4 packet at offset `l2` of `m` to the NAT (`again`: a
    /// held fragment processed a second time, not counted as received;
    /// `prep`: what the burst's prefetch stage parsed of it) and acts on
    /// the verdict.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn translate<E: Egress>(&mut self, side: Side, mut m: Mbuf, l2: usize, again: bool, prep: Option<&Prepared>, now: Instant, eg: &mut E) {
        let packet = &mut m.data_mut()[l2..];
        let verdict = match (again, prep) {
            (true, _) => self.worker.process_again(side, packet, now),
            (false, Some(prep)) => self.worker.process_prepared(side, packet, prep, now),
            (false, None) => self.worker.process(side, packet, now),
        };
        match verdict {
            Verdict::Forward(egress) => self.forward(side, egress, m, l2, now, eg),
            Verdict::Fragment { side: egress, mtu } => self.fragment(egress, m, l2, mtu, now, eg),
            Verdict::Drop(_) => {}
            Verdict::IcmpError { icmp_type, code, mtu, .. } => {
                let src = self.shared.link(side).addr;
                self.icmp_error(side, m, l2, icmp_type, code, mtu, src, now, eg)
            }
            Verdict::Local => self.echo_reply(side, m, l2, now, eg),
            Verdict::HoldUntilLogged { side: egress, mtu, block } => self.wait_for_log(side, egress, m, l2, mtu, block, now),
            Verdict::Hold => {
                let key = self.worker.held_fragment_key();
                match self.stash.hold(key, (side, l2 as u8, m), now) {
                    Ok(()) => {}
                    Err((HoldError::Full, _)) => self.counters.incr(DpCounter::FragmentStashFull),
                    Err((HoldError::SourceLimit, _)) => self.counters.incr(DpCounter::FragmentSourceLimit),
                }
            }
        }
    }

    /// Whether `m`, received on `side`, is addressed to an interface
    /// address of the appliance: what to do with it and the address (host
    /// order), or `None` if it is not ours. Both addresses are ours from
    /// the inside; from the outside only the outside address is (the inside
    /// address is in subscriber space, which the internet must not reach:
    /// such packets go to the NAT, which drops them as not for the pool).
    /// `prep`: what the burst's parse read of the packet, if it did.
    #[inline(always)]
    fn to_our_address(&self, side: Side, m: &Mbuf, l2: usize, prep: Option<&Prepared>) -> Option<(Local, u32)> {
        // The burst's parse already read the destination: a packet for none
        // of our addresses is not looked at again.
        if prep.and_then(Prepared::dst_addr).is_some_and(|dst| !self.may_be_ours(side, dst)) {
            return None;
        }
        self.our_address_in(side, m, l2)
    }

    /// [`Router::to_our_address`] read from the packet's own header (out
    /// of line: burst packets for other destinations never get here).
    #[inline(never)]
    fn our_address_in(&self, side: Side, m: &Mbuf, l2: usize) -> Option<(Local, u32)> {
        let ip = ipv4::Packet::new_checked(m.data().get(l2..)?).ok()?;
        let dst = ip.dst_addr_u32();
        if !self.may_be_ours(side, dst) {
            return None;
        }
        let local = match ip.protocol() {
            // No reassembly for the appliance's own traffic.
            _ if ip.is_fragment() => Local::Drop,
            ip_protocol::ICMP if ip.payload().first() == Some(&icmp::msg_type::ECHO_REQUEST) => Local::Echo,
            ip_protocol::UDP
                if dst == self.shared.inside.addr && udp::Packet::new_checked(ip.payload()).is_ok_and(|u| self.takes_pcp(u.dst_port())) =>
            {
                Local::Pcp
            }
            ip_protocol::UDP => Local::PortUnreachable,
            ip_protocol::TCP => Local::Refuse,
            _ => Local::Drop,
        };
        Some((local, dst))
    }

    /// Whether `dst` is an interface address a packet received on `side`
    /// may reach (see [`Router::to_our_address`]).
    #[inline(always)]
    fn may_be_ours(&self, side: Side, dst: u32) -> bool {
        dst == self.shared.outside.addr || (side == Side::Inside && dst == self.shared.inside.addr)
    }

    /// A packet for the appliance's own address `addr`, received on `side`.
    /// The appliance runs no service on its interface addresses: echo
    /// requests are answered; UDP is refused with ICMP port unreachable from
    /// `addr` (RFC 1122 section 3.2.2.1, rate-limited per RFC 1812 section
    /// 4.3.2.8) and TCP silently, both counted `local_refused`; anything
    /// else (other ICMP, other protocols, fragments) is counted
    /// `local_dropped`.
    #[allow(clippy::too_many_arguments)]
    fn local<E: Egress>(&mut self, side: Side, m: Mbuf, l2: usize, local: Local, addr: u32, now: Instant, eg: &mut E) {
        match local {
            Local::Echo => self.echo_reply(side, m, l2, now, eg),
            Local::PortUnreachable => {
                self.counters.incr(DpCounter::LocalRefused);
                self.icmp_error(side, m, l2, icmp::msg_type::DEST_UNREACHABLE, PORT_UNREACHABLE, 0, addr, now, eg);
            }
            Local::Pcp => self.pcp_request(m, l2, now, eg),
            Local::Refuse => self.counters.incr(DpCounter::LocalRefused),
            Local::Drop => self.counters.incr(DpCounter::LocalDropped),
        }
    }

    /// Answers an echo request in `m` (to us or a pool address) back out of `side`.
    fn echo_reply<E: Egress>(&mut self, side: Side, mut m: Mbuf, l2: usize, now: Instant, eg: &mut E) {
        if icmp::echo_reply_in_place(&mut m.data_mut()[l2..]).is_ok() {
            self.counters.incr(DpCounter::EchoReplies);
            self.forward(side, side, m, l2, now, eg);
        } else {
            self.counters.incr(DpCounter::LocalDropped);
        }
    }
}
