//! The public address pool, its port blocks, and the per-port mapping
//! records that make the outside→inside lookup hash-free.
//!
//! Geometry: every public address has `blocks_per_address` blocks of
//! `block_size` ports starting at `port_range.first`. A block is identified
//! by `pool_index * blocks_per_address + n`, so (public address, port)
//! determines the block with a subtraction and a multiply-shift (the
//! reciprocal of the block size, see `layout`, no division), and the block
//! records its owner (RFC 6888 REQ-14 makes the block the unit of logging).
//!
//! Each (protocol, public port) has one 8-byte [`PortEntry`] holding the
//! inside port of the mapping and how many sessions use it. The array is
//! allocated zeroed for the whole pool, which costs address space only: the
//! kernel backs a page the first time a block's ports are touched.

pub mod deterministic;
mod layout;
mod ports;

use core::net::Ipv4Addr;

use crate::config::{Mode, NatConfig};
use crate::flow::Protocol;
use crate::mem::{table, Table};
use crate::sync::{AtomicU32, AtomicU64, Ordering};

pub use deterministic::{DeterministicMap, DeterministicRange};
pub use ports::{JoinError, PortEntry, MAX_SESSIONS_PER_MAPPING};

/// A block's state.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum BlockState {
    /// Free (possibly in hold-down since `time`).
    Free,
    /// Held by a subscriber.
    Allocated,
    /// Being allocated or released (its log record is being queued).
    Transit,
    /// Owned by configuration: static mappings or deterministic mode.
    Reserved,
}

const ST_SHIFT: u32 = 62;
const OWNER_SHIFT: u32 = 32;
const OWNER_MASK: u64 = 0x3FFF_FFFF;
const COUNT_MASK: u64 = 0xFFFF_FFFF;
/// In the count field of an allocated block: its allocation record is not
/// yet durable in every legal log target, so its ports must not carry
/// traffic yet (the packets wait). Keeps the count non-zero, so a pending
/// block is never released.
const PENDING: u64 = 1 << 31;
const MAPPINGS_MASK: u64 = PENDING - 1;

#[inline(always)]
fn state_of(w: u64) -> BlockState {
    match w >> ST_SHIFT {
        0 => BlockState::Free,
        1 => BlockState::Allocated,
        2 => BlockState::Transit,
        _ => BlockState::Reserved,
    }
}

#[inline(always)]
fn word(state: u64, owner: u32, count: u32) -> u64 {
    (state << ST_SHIFT) | ((owner as u64 & OWNER_MASK) << OWNER_SHIFT) | count as u64
}

const FREE: u64 = 0;
const ALLOCATED: u64 = 1;
const TRANSIT: u64 = 2;
const RESERVED: u64 = 3;

/// One port block. `word` = state:2 | owner subscriber slot:30 | pending:1 | live mappings:31.
struct Block {
    word: AtomicU64,
    /// The owner's inside address (written before the block is published).
    owner_addr: AtomicU32,
    /// Allocation time while allocated, release time while free (seconds).
    time: AtomicU32,
}

/// A block as read by the management core.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct BlockInfo {
    /// Block id.
    pub id: u32,
    /// State.
    pub state: BlockState,
    /// Owner's subscriber-table slot (allocated blocks).
    pub owner_slot: u32,
    /// Owner's inside address (allocated blocks).
    pub owner_addr: Ipv4Addr,
    /// Live mappings in the block.
    pub mappings: u32,
    /// Allocated, but its allocation record is not yet durable.
    pub pending: bool,
    /// Allocation time (allocated) or release time (free), in seconds.
    pub time: u32,
    /// The public address.
    pub public_addr: Ipv4Addr,
    /// First port.
    pub first_port: u16,
    /// Last port (inclusive).
    pub last_port: u16,
}

/// A located public port: its block and the index of its mapping records.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct PortSlot {
    /// The block holding the port.
    pub block: u32,
    /// Index of the port in the mapping-record arrays.
    index: usize,
}

/// The pool.
pub struct Pool {
    /// The first range of consecutive public addresses (first address,
    /// count; its first index is 0), kept flat: most pools are one range,
    /// and every packet maps an address to its index or back.
    first_range: (u32, u32),
    /// The other ranges: (first address, count, index of the first);
    /// `nat.pool` with `nat.pool_exclude` cut out.
    more_ranges: Box<[(u32, u32, u32)]>,
    size: u32,
    /// The port geometry of every address: first port, block size, blocks
    /// per address (and the block size's reciprocal).
    layout: layout::Layout,
    blocks: Table<Block>,
    used_per_address: Box<[AtomicU32]>,
    ports: ports::PortArray,
}

impl Pool {
    /// The pool of a validated configuration. In deterministic mode blocks
    /// are the RFC 7422 per-subscriber ranges and all of them are reserved.
    pub fn new(config: &NatConfig) -> Self {
        let mut ranges = Vec::new();
        let mut base = 0u32;
        for (first, count) in config.pool_ranges() {
            ranges.push((first, count, base));
            base += count;
        }
        let (block_size, blocks_per_address) = match config.mode {
            Mode::Dynamic => (config.block_size as u32, config.port_range.len() / config.block_size as u32),
            Mode::Deterministic => {
                let m = DeterministicMap::new(config).expect("validated configuration");
                (m.ports_per_subscriber(), m.subscribers_per_address())
            }
        };
        let total = base as usize * blocks_per_address as usize;
        // SAFETY: a zeroed block is a free, never-used block.
        let blocks = unsafe {
            table(total, || Block {
                word: AtomicU64::new(0),
                owner_addr: AtomicU32::new(0),
                time: AtomicU32::new(0),
            })
        };
        if config.mode == Mode::Deterministic {
            for b in blocks.iter() {
                b.word.store(word(RESERVED, 0, 0), Ordering::Relaxed);
            }
        }
        let first_range = ranges.first().map_or((0, 0), |&(first, count, _)| (first, count));
        Pool {
            first_range,
            more_ranges: ranges.into_iter().skip(1).collect(),
            size: base,
            layout: layout::Layout::new(config.port_range.first, block_size, blocks_per_address),
            blocks,
            used_per_address: (0..base).map(|_| AtomicU32::new(0)).collect(),
            ports: ports::PortArray::new(total * block_size as usize),
        }
    }

    /// Number of public addresses.
    #[inline]
    pub fn size(&self) -> u32 {
        self.size
    }

    /// Ports per block.
    #[inline]
    pub fn block_size(&self) -> u32 {
        self.layout.block_size()
    }

    /// Blocks per public address.
    #[inline]
    pub fn blocks_per_address(&self) -> u32 {
        self.layout.blocks_per_address()
    }

    /// Total blocks.
    #[inline]
    pub fn block_count(&self) -> u32 {
        self.blocks.len() as u32
    }

    /// Index of a public address (host order) in the pool. Inlined: every
    /// packet asks it; the first range is tested here, any others out of
    /// line.
    #[inline(always)]
    pub fn index_of(&self, addr: u32) -> Option<u32> {
        let (first, count) = self.first_range;
        if addr.wrapping_sub(first) < count {
            return Some(addr - first);
        }
        if self.more_ranges.is_empty() {
            return None;
        }
        self.index_in_more_ranges(addr)
    }

    /// [`Pool::index_of`] past the first range.
    #[inline(never)]
    fn index_in_more_ranges(&self, addr: u32) -> Option<u32> {
        for &(first, count, base) in self.more_ranges.iter() {
            if addr.wrapping_sub(first) < count {
                return Some(base + (addr - first));
            }
        }
        None
    }

    /// The public address (host order) at `index` (see [`Pool::index_of`]).
    #[inline(always)]
    pub fn addr_of(&self, index: u32) -> u32 {
        let (first, count) = self.first_range;
        if index < count {
            return first + index;
        }
        self.addr_in_more_ranges(index)
    }

    /// [`Pool::addr_of`] past the first range.
    #[inline(never)]
    fn addr_in_more_ranges(&self, index: u32) -> u32 {
        for &(first, count, base) in self.more_ranges.iter() {
            if index < base + count {
                return first + (index - base);
            }
        }
        0
    }

    /// The block holding `port` on address `pool_index`.
    #[inline(always)]
    pub fn block_of(&self, pool_index: u32, port: u16) -> Option<u32> {
        self.locate(pool_index, port).map(|slot| slot.block)
    }

    /// The block holding `port` on address `pool_index` and the index of
    /// the port's mapping records ([`Pool::port_at`]): [`Pool::block_of`]
    /// and [`Pool::port`] with the port located once (one multiplication by
    /// the block size's reciprocal instead of two).
    #[inline(always)]
    pub fn locate(&self, pool_index: u32, port: u16) -> Option<PortSlot> {
        let (n, offset) = self.layout.locate(port)?;
        let per_address = self.layout.blocks_per_address();
        // Block b's records start at b * block_size; those of block
        // pool_index * per_address + n at the address's start plus
        // n * block_size, which with the in-block offset is `offset`.
        Some(PortSlot {
            block: pool_index * per_address + n,
            index: pool_index as usize * (per_address * self.layout.block_size()) as usize + offset as usize,
        })
    }

    /// The mapping record of `protocol` at a located port.
    #[inline(always)]
    pub fn port_at(&self, protocol: Protocol, slot: PortSlot) -> &PortEntry {
        self.ports.get(protocol, slot.index)
    }

    /// The address index of a block.
    #[inline(always)]
    pub fn block_address(&self, block: u32) -> u32 {
        block / self.layout.blocks_per_address()
    }

    /// First and last port of a block.
    #[inline]
    pub fn block_ports(&self, block: u32) -> (u16, u16) {
        let first = self.layout.port_first() as u32 + (block % self.layout.blocks_per_address()) * self.layout.block_size();
        (first as u16, (first + self.layout.block_size() - 1) as u16)
    }

    /// Blocks in use on address `pool_index`.
    #[inline]
    pub fn used_blocks(&self, pool_index: u32) -> u32 {
        self.used_per_address[pool_index as usize].load(Ordering::Relaxed)
    }

    /// Reads a block.
    pub fn block_info(&self, block: u32) -> BlockInfo {
        let b = &self.blocks[block as usize];
        let w = b.word.load(Ordering::Acquire);
        let (first_port, last_port) = self.block_ports(block);
        BlockInfo {
            id: block,
            state: state_of(w),
            owner_slot: ((w >> OWNER_SHIFT) & OWNER_MASK) as u32,
            owner_addr: Ipv4Addr::from(b.owner_addr.load(Ordering::Relaxed)),
            mappings: (w & MAPPINGS_MASK) as u32,
            pending: w & PENDING != 0,
            time: b.time.load(Ordering::Relaxed),
            public_addr: Ipv4Addr::from(self.addr_of(self.block_address(block))),
            first_port,
            last_port,
        }
    }

    /// The inside address owning `block` if it is an allocated dynamic
    /// block whose allocation record is durable: [`Pool::owner_of`]'s common
    /// case, one masked comparison.
    #[inline(always)]
    pub fn allocated_owner(&self, block: u32) -> Option<u32> {
        let b = &self.blocks[block as usize];
        let w = b.word.load(Ordering::Acquire);
        (w & (3 << ST_SHIFT | PENDING) == ALLOCATED << ST_SHIFT).then(|| b.owner_addr.load(Ordering::Relaxed))
    }

    /// Outside→inside, step 1: the inside address owning a dynamic block, or
    /// `None` if the block is not allocated (or its allocation record is not
    /// durable yet: nothing has left through it). No hashing.
    #[inline(always)]
    pub fn owner_of(&self, block: u32) -> Option<(BlockState, u32)> {
        if let Some(a) = self.allocated_owner(block) {
            return Some((BlockState::Allocated, a));
        }
        let w = self.blocks[block as usize].word.load(Ordering::Acquire);
        (state_of(w) == BlockState::Reserved).then_some((BlockState::Reserved, 0))
    }

    /// Reserves a block for configuration (a static mapping's block).
    pub fn reserve(&self, block: u32) {
        let b = &self.blocks[block as usize];
        if state_of(b.word.load(Ordering::Relaxed)) != BlockState::Reserved {
            b.word.store(word(RESERVED, 0, 0), Ordering::Release);
            self.used_per_address[self.block_address(block) as usize].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Claims a free block on `pool_index` for a subscriber, starting the
    /// scan at `start` (random, RFC 6888 REQ-15 spirit) and skipping blocks
    /// released less than `hold_down` seconds ago (RFC 6888 REQ-8). The block
    /// is left in `Transit` with one mapping reserved; the caller queues the
    /// allocation record and then calls [`Pool::publish_block`] or
    /// [`Pool::cancel_block`].
    pub fn claim_block(&self, pool_index: u32, start: u32, now: u32, hold_down: u32) -> Option<u32> {
        let n = self.layout.blocks_per_address();
        let base = pool_index * n;
        for k in 0..n {
            let id = base + (start.wrapping_add(k)) % n;
            let b = &self.blocks[id as usize];
            let w = b.word.load(Ordering::Acquire);
            if w != word(FREE, 0, 0) {
                continue;
            }
            let released = b.time.load(Ordering::Relaxed);
            if released != 0 && now.wrapping_sub(released) < hold_down {
                continue;
            }
            if b.word
                .compare_exchange(w, word(TRANSIT, 0, 1), Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                self.used_per_address[pool_index as usize].fetch_add(1, Ordering::Relaxed);
                return Some(id);
            }
        }
        None
    }

    /// Claims block `id` as [`Pool::claim_block`] would if it is free and
    /// out of its hold-down (for a PCP client's suggested port, RFC 6887
    /// section 11.3); `false` otherwise.
    pub fn claim_block_at(&self, id: u32, now: u32, hold_down: u32) -> bool {
        let Some(b) = self.blocks.get(id as usize) else {
            return false;
        };
        let w = b.word.load(Ordering::Acquire);
        if w != word(FREE, 0, 0) {
            return false;
        }
        let released = b.time.load(Ordering::Relaxed);
        if released != 0 && now.wrapping_sub(released) < hold_down {
            return false;
        }
        if b.word
            .compare_exchange(w, word(TRANSIT, 0, 1), Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return false;
        }
        self.used_per_address[self.block_address(id) as usize].fetch_add(1, Ordering::Relaxed);
        true
    }

    /// Makes a claimed block the subscriber's: from now on inbound packets
    /// find `owner_addr` through it. With `pending`, it waits for
    /// [`Pool::mark_logged`] first (its allocation record is queued but not
    /// durable yet): its owner may map ports in it, but packets using them
    /// are held and none is let in.
    pub fn publish_block(&self, block: u32, owner_slot: u32, owner_addr: u32, now: u32, pending: bool) {
        let b = &self.blocks[block as usize];
        b.owner_addr.store(owner_addr, Ordering::Relaxed);
        b.time.store(now, Ordering::Relaxed);
        let count = b.word.load(Ordering::Relaxed) & COUNT_MASK;
        let count = count as u32 | if pending { PENDING as u32 } else { 0 };
        b.word.store(word(ALLOCATED, owner_slot, count), Ordering::Release);
    }

    /// The block's allocation record is durable in every legal log target:
    /// its ports may carry traffic (RFC 6888 REQ-14 and the NAT log rule,
    /// docs/nat-log-format.md). Returns whether the block was pending.
    pub fn mark_logged(&self, block: u32) -> bool {
        let b = &self.blocks[block as usize];
        let mut w = b.word.load(Ordering::Acquire);
        loop {
            if state_of(w) != BlockState::Allocated || w & PENDING == 0 {
                return false;
            }
            match b.word.compare_exchange_weak(w, w & !PENDING, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return true,
                Err(a) => w = a,
            }
        }
    }

    /// Whether the block waits for its allocation record to be durable.
    #[inline]
    pub fn is_pending(&self, block: u32) -> bool {
        self.blocks[block as usize].word.load(Ordering::Acquire) & PENDING != 0
    }

    /// Returns a claimed block that could not be logged; it was never used,
    /// so it needs no hold-down.
    pub fn cancel_block(&self, block: u32) {
        self.blocks[block as usize].word.store(word(FREE, 0, 0), Ordering::Release);
        self.used_per_address[self.block_address(block) as usize].fetch_sub(1, Ordering::Relaxed);
    }

    /// Counts one more mapping in a block owned by `owner_slot`.
    #[inline]
    pub fn block_acquire(&self, block: u32, owner_slot: u32) -> bool {
        let b = &self.blocks[block as usize];
        let mut w = b.word.load(Ordering::Acquire);
        loop {
            let st = state_of(w);
            let owned = match st {
                BlockState::Allocated => ((w >> OWNER_SHIFT) & OWNER_MASK) as u32 == owner_slot,
                BlockState::Reserved => true,
                _ => false,
            };
            if !owned {
                return false;
            }
            match b.word.compare_exchange_weak(w, w + 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return true,
                Err(a) => w = a,
            }
        }
    }

    /// Counts one mapping less.
    #[inline]
    pub fn block_release(&self, block: u32) {
        self.blocks[block as usize].word.fetch_sub(1, Ordering::AcqRel);
    }

    /// Sweeper: starts releasing an allocated block with no mapping; the
    /// caller queues the release record, then [`Pool::finish_release`] or
    /// [`Pool::abort_release`]. Returns the owner's slot.
    pub fn begin_release(&self, block: u32) -> Option<u32> {
        let b = &self.blocks[block as usize];
        let w = b.word.load(Ordering::Acquire);
        // A pending block counts as in use (PENDING is in the count field).
        if state_of(w) != BlockState::Allocated || w & COUNT_MASK != 0 {
            return None;
        }
        let owner = ((w >> OWNER_SHIFT) & OWNER_MASK) as u32;
        b.word
            .compare_exchange(w, word(TRANSIT, owner, 0), Ordering::AcqRel, Ordering::Relaxed)
            .ok()
            .map(|_| owner)
    }

    /// Sweeper: the release record is queued; the block enters hold-down.
    pub fn finish_release(&self, block: u32, now: u32) {
        let b = &self.blocks[block as usize];
        b.time.store(now.max(1), Ordering::Relaxed);
        b.word.store(word(FREE, 0, 0), Ordering::Release);
        self.used_per_address[self.block_address(block) as usize].fetch_sub(1, Ordering::Relaxed);
    }

    /// Sweeper: the release record could not be queued; keep the block.
    pub fn abort_release(&self, block: u32, owner_slot: u32) {
        self.blocks[block as usize]
            .word
            .store(word(ALLOCATED, owner_slot, 0), Ordering::Release);
    }

    /// The mapping record of (protocol, block, port).
    #[inline(always)]
    pub fn port(&self, protocol: Protocol, block: u32, port: u16) -> &PortEntry {
        let off = self.layout.offset_in_block(port);
        self.ports
            .get(protocol, block as usize * self.layout.block_size() as usize + off as usize)
    }

    /// Hints the CPU to fetch what an inbound packet to (`pool_index`,
    /// `port`) will read: the block and the port's mapping record.
    #[inline(always)]
    pub fn prefetch(&self, protocol: Protocol, pool_index: u32, port: u16) {
        if let Some(slot) = self.locate(pool_index, port) {
            crate::mem::prefetch(&self.blocks[slot.block as usize]);
            crate::mem::prefetch(self.port_at(protocol, slot));
        }
    }

    /// Claims a free port in `block` for a new mapping of `inside_port`,
    /// scanning from offset `start` (random: RFC 6888 REQ-15). The entry
    /// starts with one session.
    #[inline]
    pub fn claim_port(&self, protocol: Protocol, block: u32, start: u32, inside_port: u16) -> Option<u16> {
        let bs = self.layout.block_size();
        let (first, _) = self.block_ports(block);
        let base = block as usize * bs as usize;
        for k in 0..bs {
            let off = (start.wrapping_add(k)) % bs;
            if self.ports.get(protocol, base + off as usize).try_claim(inside_port) {
                return Some(first + off as u16);
            }
        }
        None
    }

    /// Bytes of memory the pool reserves (most of the port array is only
    /// address space until used).
    pub fn memory_bytes(&self) -> usize {
        self.blocks.len() * core::mem::size_of::<Block>() + self.ports.memory_bytes()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn pool() -> Pool {
        let c: NatConfig = toml::from_str("pool = [\"203.0.113.0/30\", \"198.51.100.7/32\"]\nblock_size = 1000\n").unwrap();
        c.validate().unwrap();
        Pool::new(&c)
    }

    #[test]
    fn geometry() {
        let p = pool();
        assert_eq!(p.size(), 5);
        assert_eq!(p.blocks_per_address(), 64); // 64512 / 1000
        assert_eq!(p.index_of(u32::from(Ipv4Addr::new(198, 51, 100, 7))), Some(4));
        assert_eq!(p.addr_of(4), u32::from(Ipv4Addr::new(198, 51, 100, 7)));
        assert_eq!(p.block_of(1, 1023), None);
        assert_eq!(p.block_of(1, 1024), Some(64));
        assert_eq!(p.block_of(1, 2023), Some(64));
        assert_eq!(p.block_of(1, 2024), Some(65));
        assert_eq!(p.block_of(1, 65_524), None, "past the last whole block");
        assert_eq!(p.block_ports(65), (2024, 3023));
    }

    /// `locate` (one reciprocal multiply, records indexed by the port's
    /// offset on its address) finds, on every address and port, the block
    /// of that address whose port range holds the port (none outside the
    /// whole blocks), and the mapping record that `port` finds from the
    /// block; the flat first range maps addresses as the range list does.
    #[test]
    fn locate_agrees_with_block_ports_and_port() {
        let p = pool();
        let (first, last) = (p.block_ports(0).0, p.block_ports(p.blocks_per_address() - 1).1);
        for pool_index in 0..p.size() {
            assert_eq!(p.index_of(p.addr_of(pool_index)), Some(pool_index));
            for port in 0..=u16::MAX {
                let slot = p.locate(pool_index, port);
                assert_eq!(slot.is_some(), (first..=last).contains(&port), "{pool_index}:{port}");
                if let Some(slot) = slot {
                    assert_eq!(p.block_address(slot.block), pool_index);
                    let (lo, hi) = p.block_ports(slot.block);
                    assert!((lo..=hi).contains(&port), "{pool_index}:{port} in block {}", slot.block);
                    for protocol in [Protocol::Tcp, Protocol::Udp, Protocol::Icmp] {
                        assert!(core::ptr::eq(p.port_at(protocol, slot), p.port(protocol, slot.block, port)));
                    }
                }
            }
        }
        assert_eq!(p.index_of(u32::from(Ipv4Addr::new(203, 0, 113, 4))), None);
    }

    /// Issue 15: "the pool can exclude addresses" — an excluded address
    /// has no pool index (never handed out, no proxy ARP), the others keep
    /// consecutive indexes.
    #[test]
    fn excluded_addresses_are_not_in_the_pool() {
        let c: NatConfig =
            toml::from_str("pool = [\"203.0.113.0/29\", \"198.51.100.7/32\"]\npool_exclude = [\"203.0.113.0/32\", \"203.0.113.4/31\"]\n")
                .unwrap();
        c.validate().unwrap();
        assert_eq!(c.pool_size(), 6);
        let p = Pool::new(&c);
        assert_eq!(p.size(), 6);
        let a = |d: u8| u32::from(Ipv4Addr::new(203, 0, 113, d));
        for x in [0, 4, 5] {
            assert_eq!(p.index_of(a(x)), None, "203.0.113.{x} is excluded");
            assert!(!c.is_pool_address(Ipv4Addr::from(a(x))));
        }
        let kept: Vec<u32> = (0..p.size()).map(|i| p.addr_of(i)).collect();
        assert_eq!(kept, [a(1), a(2), a(3), a(6), a(7), u32::from(Ipv4Addr::new(198, 51, 100, 7))]);
        for (i, x) in kept.iter().enumerate() {
            assert_eq!(p.index_of(*x), Some(i as u32));
        }
        for (bad, needle) in [
            (
                "pool_exclude = [\"192.0.2.1/32\"]",
                "nat.pool_exclude = [\"192.0.2.1/32\"]: addresses inside nat.pool",
            ),
            ("pool_exclude = [\"203.0.113.0/28\"]", "addresses inside nat.pool"),
            ("pool_exclude = [\"203.0.113.0/29\"]", "at least one address of nat.pool"),
        ] {
            let c: NatConfig = toml::from_str(&format!("pool = [\"203.0.113.0/29\"]\n{bad}\n")).unwrap();
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn rfc6888_req8_hold_down_before_reuse() {
        let p = pool();
        let b = p.claim_block(0, 0, 100, 120).unwrap();
        p.publish_block(b, 5, 0x6440_0001, 100, false);
        assert_eq!(p.owner_of(b), Some((BlockState::Allocated, 0x6440_0001)));
        p.block_release(b); // the reserved first mapping goes away
        assert_eq!(p.begin_release(b), Some(5));
        p.finish_release(b, 200);
        assert_eq!(p.owner_of(b), None);
        // Within hold-down the block is skipped even though the scan starts at it.
        let b2 = p.claim_block(0, b % 64, 250, 120).unwrap();
        assert_ne!(b2, b);
        // After hold-down it can be had again.
        p.cancel_block(b2);
        assert_eq!(p.claim_block(0, b % 64, 320, 120), Some(b));
    }

    #[test]
    fn a_pending_block_lets_nothing_in_and_is_never_released() {
        let p = pool();
        let b = p.claim_block(0, 0, 100, 120).unwrap();
        p.publish_block(b, 5, 0x6440_0001, 100, true);
        assert!(p.is_pending(b));
        assert_eq!(p.owner_of(b), None, "no inbound packet before the record is durable");
        assert!(p.block_acquire(b, 5), "its owner maps ports in it meanwhile");
        p.block_release(b);
        p.block_release(b); // the first mapping's reservation
        assert_eq!(p.begin_release(b), None, "pending: not releasable");
        assert!(p.mark_logged(b));
        assert!(!p.mark_logged(b), "once");
        assert_eq!(p.owner_of(b), Some((BlockState::Allocated, 0x6440_0001)));
        assert_eq!(p.block_info(b).mappings, 0);
        assert_eq!(p.begin_release(b), Some(5));
    }

    #[test]
    fn claim_port_fills_block_then_fails() {
        let p = pool();
        let b = p.claim_block(2, 7, 1, 0).unwrap();
        let mut seen = std::collections::HashSet::new();
        for i in 0..1000u32 {
            let port = p.claim_port(Protocol::Udp, b, i * 7919, i as u16).unwrap();
            assert!(seen.insert(port));
            assert_eq!(p.block_of(2, port), Some(b));
            assert_eq!(p.port(Protocol::Udp, b, port).mapping().map(|m| m.0), Some(i as u16));
        }
        assert_eq!(p.claim_port(Protocol::Udp, b, 0, 1), None);
        // Other protocols have their own port space.
        assert!(p.claim_port(Protocol::Tcp, b, 0, 1).is_some());
    }
}
