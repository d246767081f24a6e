//! Deterministic NAT (RFC 7422): each inside address gets a fixed public
//! address and port range computed from the configuration, so the mapping
//! can be reversed offline from the configuration alone and only the
//! configuration epoch needs logging (RFC 7422 section 2.3).
//!
//! The algorithm (RFC 7422 section 2.1): number the inside addresses
//! `0..S` across the inside prefixes in order, and the public addresses
//! `0..P` across the pool prefixes in order. `R = ceil(S / P)` subscribers
//! share a public address, each getting `N = floor(ports / R)` consecutive
//! ports. Subscriber `s` gets public address `s / R` and ports
//! `first + (s % R) * N ..= first + (s % R) * N + N - 1`.

use core::net::Ipv4Addr;

use crate::config::{Ipv4Prefix, NatConfig, PortRange};

/// The forward and reverse RFC 7422 functions for one configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeterministicMap {
    inside: Vec<Ipv4Prefix>,
    pool: Vec<Ipv4Prefix>,
    ports: PortRange,
    inside_size: u64,
    pool_size: u64,
    per_address: u64,
    ports_per_subscriber: u32,
}

/// Where a subscriber's traffic goes in deterministic mode.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct DeterministicRange {
    /// Index of the public address in the pool.
    pub pool_index: u32,
    /// The public address.
    pub public_addr: Ipv4Addr,
    /// Index of the subscriber among those sharing the address.
    pub slot: u32,
    /// First port.
    pub first_port: u16,
    /// Last port (inclusive).
    pub last_port: u16,
}

fn nth(prefixes: &[Ipv4Prefix], mut n: u64) -> Option<u32> {
    for p in prefixes {
        if n < p.size() {
            return Some(p.addr_u32() + n as u32);
        }
        n -= p.size();
    }
    None
}

fn ordinal(prefixes: &[Ipv4Prefix], a: u32) -> Option<u64> {
    let mut base = 0;
    for p in prefixes {
        if p.contains_u32(a) {
            return Some(base + (a - p.addr_u32()) as u64);
        }
        base += p.size();
    }
    None
}

impl DeterministicMap {
    /// The map of a configuration (validated or not; a configuration that
    /// leaves no port per subscriber gives `None`).
    pub fn new(config: &NatConfig) -> Option<Self> {
        let inside_size = config.inside_size();
        let pool_size = config.pool_size();
        if pool_size == 0 || inside_size == 0 {
            return None;
        }
        let per_address = inside_size.div_ceil(pool_size);
        let ports_per_subscriber = (config.port_range.len() as u64 / per_address) as u32;
        if ports_per_subscriber == 0 {
            return None;
        }
        Some(DeterministicMap {
            inside: config.inside_prefixes.clone(),
            pool: config.pool.clone(),
            ports: config.port_range,
            inside_size,
            pool_size,
            per_address,
            ports_per_subscriber,
        })
    }

    /// Subscribers sharing one public address (`R`).
    pub fn subscribers_per_address(&self) -> u32 {
        self.per_address as u32
    }

    /// Ports each subscriber gets (`N`).
    pub fn ports_per_subscriber(&self) -> u32 {
        self.ports_per_subscriber
    }

    /// The inside prefixes, in the order inside addresses are numbered.
    pub fn inside_prefixes(&self) -> &[Ipv4Prefix] {
        &self.inside
    }

    /// The pool prefixes, in the order public addresses are numbered.
    pub fn pool_prefixes(&self) -> &[Ipv4Prefix] {
        &self.pool
    }

    /// The first inside address (of the first inside prefix).
    pub fn first_inside(&self) -> Ipv4Addr {
        self.inside[0].addr()
    }

    /// The first configured pool address.
    pub fn first_public(&self) -> Ipv4Addr {
        self.pool[0].addr()
    }

    /// The configured port range.
    pub fn port_range(&self) -> PortRange {
        self.ports
    }

    /// Forward function: the public address and ports of an inside address.
    pub fn forward(&self, inside: Ipv4Addr) -> Option<DeterministicRange> {
        let s = ordinal(&self.inside, u32::from(inside))?;
        let pool_index = s / self.per_address;
        if pool_index >= self.pool_size {
            return None;
        }
        let slot = (s % self.per_address) as u32;
        let first = self.ports.first as u32 + slot * self.ports_per_subscriber;
        Some(DeterministicRange {
            pool_index: pool_index as u32,
            public_addr: Ipv4Addr::from(nth(&self.pool, pool_index)?),
            slot,
            first_port: first as u16,
            last_port: (first + self.ports_per_subscriber - 1) as u16,
        })
    }

    /// Reverse function: the inside address that owns `public:port`, if any.
    pub fn reverse(&self, public: Ipv4Addr, port: u16) -> Option<Ipv4Addr> {
        let a = ordinal(&self.pool, u32::from(public))?;
        self.reverse_index(a as u32, port).map(Ipv4Addr::from)
    }

    /// Reverse function by pool index; the hot-path form.
    #[inline]
    pub fn reverse_index(&self, pool_index: u32, port: u16) -> Option<u32> {
        if !self.ports.contains(port) {
            return None;
        }
        let slot = (port - self.ports.first) as u64 / self.ports_per_subscriber as u64;
        if slot >= self.per_address {
            return None;
        }
        let s = pool_index as u64 * self.per_address + slot;
        if s >= self.inside_size {
            return None;
        }
        nth(&self.inside, s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map() -> DeterministicMap {
        let c: NatConfig = toml::from_str(
            "mode = \"deterministic\"\ninside_prefixes = [\"100.64.0.0/22\", \"100.65.0.0/24\"]\npool = [\"198.51.100.0/30\", \"203.0.113.8/30\"]\n",
        )
        .unwrap();
        c.validate().unwrap();
        DeterministicMap::new(&c).unwrap()
    }

    #[test]
    fn rfc7422_forward_then_reverse_is_identity() {
        // RFC 7422 section 2: "the CGN ... reverse the mapping ... from the
        // external address and port alone".
        let m = map();
        // 1280 subscribers over 8 addresses: 160 each, 64512/160 = 403 ports.
        assert_eq!(m.subscribers_per_address(), 160);
        assert_eq!(m.ports_per_subscriber(), 403);
        let mut seen = std::collections::HashSet::new();
        for p in ["100.64.0.0/22", "100.65.0.0/24"] {
            let p: Ipv4Prefix = p.parse().unwrap();
            for i in 0..p.size() as u32 {
                let a = Ipv4Addr::from(p.addr_u32() + i);
                let r = m.forward(a).unwrap();
                assert!(seen.insert((r.public_addr, r.first_port)), "ranges must not overlap");
                for port in [r.first_port, r.last_port, r.first_port + 200] {
                    assert_eq!(m.reverse(r.public_addr, port), Some(a));
                }
            }
        }
        // The last subscriber lands on the 8th address.
        let last = m.forward("100.65.0.255".parse().unwrap()).unwrap();
        assert_eq!(last.public_addr, "203.0.113.11".parse::<Ipv4Addr>().unwrap());
    }

    #[test]
    fn reverse_outside_any_range_is_none() {
        let m = map();
        assert_eq!(m.reverse("198.51.100.0".parse().unwrap(), 80), None);
        assert_eq!(m.reverse("192.0.2.1".parse().unwrap(), 2000), None);
        // 160 * 403 = 64480 ports used: 1024 + 64480 = 65504.. is past the last slot.
        assert_eq!(m.reverse("198.51.100.0".parse().unwrap(), 65_504), None);
        assert!(m.forward("100.66.0.1".parse().unwrap()).is_none());
    }
}
