//! `cgnatctl capacity`: port-budget arithmetic for sizing a pool.
//!
//! A public address offers `port_range` ports; they are handed out in
//! blocks of `block_size`, so only whole blocks count:
//! `blocks_per_address = floor(range / block_size)`,
//! `usable_ports_per_address = blocks_per_address * block_size`.
//! A subscriber that needs M ports holds `ceil(M / block_size)` blocks,
//! so `subscribers_per_address = floor(blocks_per_address / blocks_per_subscriber)`
//! and `addresses_needed = ceil(N / subscribers_per_address)`.

use serde::Serialize;

use cgnat_core::config::{Ipv4Prefix, PortRange};

use crate::error::CliError;

/// The inputs of the arithmetic.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CapacityInput {
    /// Subscribers to serve (N).
    pub subscribers: u64,
    /// Ports each subscriber must be able to hold at once (M).
    pub ports_per_subscriber: u32,
    /// Ports per block.
    pub block_size: u16,
    /// Ports of each public address handed out.
    pub port_range: PortRange,
    /// The pool to check, if any.
    pub pool: Vec<Ipv4Prefix>,
}

/// What a given pool supports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PoolCapacity {
    /// The pool prefixes.
    pub prefixes: Vec<String>,
    /// Public addresses in the pool.
    pub addresses: u64,
    /// Subscribers the pool serves at M ports each.
    pub subscribers_supported: u64,
    /// Whether that covers N.
    pub sufficient: bool,
    /// Ports each of the N subscribers can get from this pool (whole blocks).
    pub ports_per_subscriber_for_n: u64,
    /// Blocks each of the N subscribers can get from this pool.
    pub blocks_per_subscriber_for_n: u64,
    /// Deterministic mode (RFC 7422) with this pool: ports per subscriber.
    pub deterministic_ports_per_subscriber: u64,
}

/// The result of the arithmetic.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Capacity {
    /// N.
    pub subscribers: u64,
    /// M.
    pub ports_per_subscriber: u32,
    /// Block size.
    pub block_size: u16,
    /// The port range, `first-last`.
    pub port_range: String,
    /// Ports in the range.
    pub range_ports: u32,
    /// Whole blocks per public address.
    pub blocks_per_address: u32,
    /// Ports per address that blocks can use (`blocks * block_size`).
    pub usable_ports_per_address: u32,
    /// Ports of the range left over by the block rounding.
    pub wasted_ports_per_address: u32,
    /// Blocks a subscriber needs for M ports.
    pub blocks_per_subscriber: u32,
    /// Ports a subscriber actually holds (`blocks * block_size`).
    pub ports_held_per_subscriber: u32,
    /// Subscribers sharing one address at M ports each.
    pub subscribers_per_address: u32,
    /// Public addresses needed for N subscribers.
    pub addresses_needed: u64,
    /// The smallest IPv4 prefix holding that many addresses (length).
    pub smallest_prefix_len: u8,
    /// What the given pool supports, if one was given.
    pub pool: Option<PoolCapacity>,
}

/// Does the arithmetic; errors name the bad input.
pub fn compute(i: &CapacityInput) -> Result<Capacity, CliError> {
    if i.block_size == 0 {
        return Err(CliError::usage("--block-size must be at least 1"));
    }
    if i.ports_per_subscriber == 0 {
        return Err(CliError::usage("--ports-per-subscriber must be at least 1"));
    }
    let range = i.port_range.len();
    let bs = i.block_size as u32;
    let blocks_per_address = range / bs;
    if blocks_per_address == 0 {
        return Err(CliError::usage(format!(
            "a block of {bs} ports does not fit in the port range {} ({range} ports)",
            i.port_range
        )));
    }
    let blocks_per_subscriber = i.ports_per_subscriber.div_ceil(bs);
    let subscribers_per_address = blocks_per_address / blocks_per_subscriber;
    if subscribers_per_address == 0 {
        return Err(CliError::not_found(format!(
            "{} ports per subscriber ({blocks_per_subscriber} blocks of {bs}) do not fit on one address ({blocks_per_address} blocks)",
            i.ports_per_subscriber
        )));
    }
    let addresses_needed = i.subscribers.div_ceil(subscribers_per_address as u64);
    let smallest_prefix_len = (0..=32u8)
        .rev()
        .find(|l| (1u64 << (32 - *l as u32)) >= addresses_needed)
        .unwrap_or(0);
    let pool = if i.pool.is_empty() {
        None
    } else {
        let addresses: u64 = i.pool.iter().map(|p| p.size()).sum();
        let total_blocks = addresses * blocks_per_address as u64;
        let blocks_for_n = total_blocks.checked_div(i.subscribers).unwrap_or(total_blocks);
        let subs_per_addr_det = i.subscribers.div_ceil(addresses).max(1);
        Some(PoolCapacity {
            prefixes: i.pool.iter().map(|p| p.to_string()).collect(),
            addresses,
            subscribers_supported: addresses * subscribers_per_address as u64,
            sufficient: addresses >= addresses_needed,
            ports_per_subscriber_for_n: blocks_for_n * bs as u64,
            blocks_per_subscriber_for_n: blocks_for_n,
            deterministic_ports_per_subscriber: range as u64 / subs_per_addr_det,
        })
    };
    Ok(Capacity {
        subscribers: i.subscribers,
        ports_per_subscriber: i.ports_per_subscriber,
        block_size: i.block_size,
        port_range: i.port_range.to_string(),
        range_ports: range,
        blocks_per_address,
        usable_ports_per_address: blocks_per_address * bs,
        wasted_ports_per_address: range - blocks_per_address * bs,
        blocks_per_subscriber,
        ports_held_per_subscriber: blocks_per_subscriber * bs,
        subscribers_per_address,
        addresses_needed,
        smallest_prefix_len,
        pool,
    })
}

/// The arithmetic, shown step by step.
pub fn render(c: &Capacity) -> String {
    let bs = c.block_size;
    let mut s = String::new();
    s.push_str(&format!(
        "port range            {} = {} ports per public address\n",
        c.port_range, c.range_ports
    ));
    s.push_str(&format!(
        "blocks per address    floor({} / {bs}) = {}  ->  usable ports {} * {bs} = {} ({} left over)\n",
        c.range_ports, c.blocks_per_address, c.blocks_per_address, c.usable_ports_per_address, c.wasted_ports_per_address
    ));
    s.push_str(&format!(
        "blocks per subscriber ceil({} / {bs}) = {}  ->  {} ports held each\n",
        c.ports_per_subscriber, c.blocks_per_subscriber, c.ports_held_per_subscriber
    ));
    s.push_str(&format!(
        "subscribers/address   floor({} / {}) = {}\n",
        c.blocks_per_address, c.blocks_per_subscriber, c.subscribers_per_address
    ));
    s.push_str(&format!(
        "addresses needed      ceil({} / {}) = {}  (a /{} holds {})\n",
        c.subscribers,
        c.subscribers_per_address,
        c.addresses_needed,
        c.smallest_prefix_len,
        1u64 << (32 - c.smallest_prefix_len as u32)
    ));
    if let Some(p) = &c.pool {
        s.push_str(&format!("\npool {} ({} addresses):\n", p.prefixes.join(", "), p.addresses));
        s.push_str(&format!(
            "  {:<28}{} * {} = {}  ({})\n",
            format!("subscribers at {} ports", c.ports_per_subscriber),
            p.addresses,
            c.subscribers_per_address,
            p.subscribers_supported,
            if p.sufficient {
                format!("enough for {}", c.subscribers)
            } else {
                format!(
                    "NOT enough for {}: {} more addresses needed",
                    c.subscribers,
                    c.addresses_needed - p.addresses
                )
            }
        ));
        s.push_str(&format!(
            "  {:<28}floor({} * {} / {}) = {} blocks = {} ports each for {} subscribers\n",
            "ports per subscriber",
            p.addresses,
            c.blocks_per_address,
            c.subscribers,
            p.blocks_per_subscriber_for_n,
            p.ports_per_subscriber_for_n,
            c.subscribers
        ));
        s.push_str(&format!(
            "  {:<28}floor({} / ceil({} / {})) = {} ports each\n",
            "deterministic (RFC 7422)", c.range_ports, c.subscribers, p.addresses, p.deterministic_ports_per_subscriber
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(n: u64, m: u32, b: u16) -> CapacityInput {
        CapacityInput {
            subscribers: n,
            ports_per_subscriber: m,
            block_size: b,
            port_range: PortRange { first: 1024, last: 65535 },
            pool: vec![],
        }
    }

    #[test]
    fn million_subscribers_at_2000_ports() {
        let c = compute(&input(1_000_000, 2000, 512)).unwrap();
        assert_eq!(c.blocks_per_address, 126);
        assert_eq!(c.usable_ports_per_address, 64512);
        assert_eq!(c.blocks_per_subscriber, 4);
        assert_eq!(c.subscribers_per_address, 31);
        assert_eq!(c.addresses_needed, 32259);
        assert_eq!(c.smallest_prefix_len, 17);
    }

    #[test]
    fn rounding_waste_and_pool() {
        let mut i = input(1000, 1000, 1000);
        i.pool = vec!["203.0.113.0/28".parse().unwrap()];
        let c = compute(&i).unwrap();
        assert_eq!(c.blocks_per_address, 64);
        assert_eq!(c.wasted_ports_per_address, 512);
        let p = c.pool.unwrap();
        assert_eq!(p.addresses, 16);
        assert_eq!(p.subscribers_supported, 1024);
        assert!(p.sufficient);
        assert_eq!(p.blocks_per_subscriber_for_n, 1);
        assert_eq!(p.deterministic_ports_per_subscriber, 64512 / 63);
    }

    #[test]
    fn impossible_inputs_are_errors() {
        assert_eq!(compute(&input(1, 70000, 512)).unwrap_err().code, 1);
        assert_eq!(compute(&input(1, 0, 512)).unwrap_err().code, 2);
        assert_eq!(compute(&input(1, 10, 0)).unwrap_err().code, 2);
    }
}
