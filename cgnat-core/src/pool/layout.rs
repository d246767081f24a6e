//! Where a public port lives: its block on the address and its offset in
//! the block, without a division on the packet path.
//!
//! A public address has `blocks_per_address` blocks of `block_size` ports
//! starting at `port_first`. The block of a port is `(port - port_first) /
//! block_size`; the division is replaced by a multiply with the reciprocal
//! `ceil(2^32 / block_size)` and a shift, which is exact for every dividend
//! below 2^16 (so for every port offset): with `m = (2^32 + e) / d`,
//! `0 <= e < d`, the error `x * e / (d * 2^32)` stays below `1 / d` because
//! `x * e < 2^16 * 2^16`.

/// The port geometry of one public address, with the reciprocal of the
/// block size precomputed.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct Layout {
    port_first: u16,
    block_size: u32,
    blocks_per_address: u32,
    /// `ceil(2^32 / block_size)`.
    reciprocal: u64,
}

impl Layout {
    /// The layout of `blocks_per_address` blocks of `block_size` (1..=65536)
    /// ports from `port_first` on.
    pub(crate) fn new(port_first: u16, block_size: u32, blocks_per_address: u32) -> Layout {
        assert!((1..=1 << 16).contains(&block_size), "block size {block_size}");
        Layout {
            port_first,
            block_size,
            blocks_per_address,
            reciprocal: (1u64 << 32).div_ceil(block_size as u64),
        }
    }

    /// The first port of the first block.
    #[inline(always)]
    pub(crate) fn port_first(&self) -> u16 {
        self.port_first
    }

    /// Ports per block.
    #[inline(always)]
    pub(crate) fn block_size(&self) -> u32 {
        self.block_size
    }

    /// Blocks per public address.
    #[inline(always)]
    pub(crate) fn blocks_per_address(&self) -> u32 {
        self.blocks_per_address
    }

    /// `offset / block_size` for an offset below 2^16.
    #[inline(always)]
    fn div(&self, offset: u32) -> u32 {
        ((offset as u64 * self.reciprocal) >> 32) as u32
    }

    /// The block number on its address (`0..blocks_per_address`) of
    /// `port` and the port's offset from the address's first port
    /// (`port - port_first`), or `None` if no block holds it. Block `n`
    /// holds offsets `n * block_size ..`, so the offset indexes the
    /// address's ports directly, without the in-block remainder.
    #[inline(always)]
    pub(crate) fn locate(&self, port: u16) -> Option<(u32, u32)> {
        let offset = port.checked_sub(self.port_first)? as u32;
        let n = self.div(offset);
        (n < self.blocks_per_address).then_some((n, offset))
    }

    /// The offset of `port` in its block (`port` must be in a block).
    #[inline(always)]
    pub(crate) fn offset_in_block(&self, port: u16) -> u32 {
        let offset = port.wrapping_sub(self.port_first) as u32;
        offset - self.div(offset) * self.block_size
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The arithmetic this layout replaces: the block by a division, the
    /// offset on the address, and the offset in the block by a remainder.
    fn reference(first: u16, size: u32, per_address: u32, port: u16) -> Option<(u32, u32, u32)> {
        let off = (port as u32).wrapping_sub(first as u32);
        let n = off / size;
        if port < first || n >= per_address {
            return None;
        }
        Some((n, off, off % size))
    }

    fn check_every_port(first: u16, size: u32) {
        let per_address = (65_536 - first as u32) / size;
        let l = Layout::new(first, size, per_address);
        for port in 0..=u16::MAX {
            let want = reference(first, size, per_address, port);
            assert_eq!(
                l.locate(port),
                want.map(|(n, off, _)| (n, off)),
                "first {first}, block size {size}, port {port}"
            );
            if let Some((_, _, in_block)) = want {
                assert_eq!(l.offset_in_block(port), in_block, "first {first}, block size {size}, port {port}");
            }
        }
    }

    #[test]
    fn equals_division_for_every_port() {
        for size in [1, 2, 3, 7, 64, 100, 500, 512, 1000, 1024, 4093, 4096, 32_768, 64_512, 65_535] {
            for first in [0, 1, 1024, 5000] {
                if (size as u64) <= 65_536 - first as u64 {
                    check_every_port(first, size);
                }
            }
        }
        check_every_port(0, 65_536);
    }

    proptest! {
        #[test]
        fn equals_division_on_random_layouts(first in 0u16..=65_535, size in 1u32..=65_536, port: u16) {
            let room = 65_536 - first as u32;
            let size = size.min(room);
            let per_address = room / size;
            let l = Layout::new(first, size, per_address);
            let want = reference(first, size, per_address, port);
            prop_assert_eq!(l.locate(port), want.map(|(n, off, _)| (n, off)));
            if let Some((_, _, in_block)) = want {
                prop_assert_eq!(l.offset_in_block(port), in_block);
            }
        }
    }
}
