//! Address prefixes and port ranges as they appear in configuration.

use core::fmt;
use core::net::Ipv4Addr;
use core::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An IPv4 prefix such as `100.64.0.0/10`, with no host bits set.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct Ipv4Prefix {
    addr: u32,
    len: u8,
}

impl Ipv4Prefix {
    /// The prefix `addr/len`; `None` if `len > 32` or host bits are set.
    pub fn new(addr: Ipv4Addr, len: u8) -> Option<Self> {
        if len > 32 {
            return None;
        }
        let a = u32::from(addr);
        if a & !Self::mask_of(len) != 0 {
            return None;
        }
        Some(Ipv4Prefix { addr: a, len })
    }

    #[inline]
    const fn mask_of(len: u8) -> u32 {
        if len == 0 {
            0
        } else {
            u32::MAX << (32 - len)
        }
    }

    /// The network address.
    #[inline]
    pub fn addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.addr)
    }

    /// The network address as a host-order integer.
    #[inline]
    pub fn addr_u32(&self) -> u32 {
        self.addr
    }

    /// The prefix length in bits.
    #[inline]
    pub fn len(&self) -> u8 {
        self.len
    }

    /// The number of addresses the prefix covers (2^(32-len)).
    #[inline]
    pub fn size(&self) -> u64 {
        1u64 << (32 - self.len as u32)
    }

    /// Always false: a prefix covers at least one address.
    #[inline]
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The netmask (host order): `len` leading one bits.
    #[inline]
    pub fn mask_u32(&self) -> u32 {
        Self::mask_of(self.len)
    }

    /// Whether `a` (host order) lies inside the prefix.
    #[inline]
    pub fn contains_u32(&self, a: u32) -> bool {
        a & Self::mask_of(self.len) == self.addr
    }

    /// Whether `a` lies inside the prefix.
    #[inline]
    pub fn contains(&self, a: Ipv4Addr) -> bool {
        self.contains_u32(u32::from(a))
    }

    /// Whether the two prefixes share any address.
    pub fn overlaps(&self, other: &Ipv4Prefix) -> bool {
        let len = self.len.min(other.len);
        let m = Self::mask_of(len);
        self.addr & m == other.addr & m
    }
}

/// Why a prefix string did not parse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrefixParseError(pub String);

impl fmt::Display for PrefixParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PrefixParseError {}

impl FromStr for Ipv4Prefix {
    type Err = PrefixParseError;

    /// Parses `a.b.c.d/len`; a bare address means `/32`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, l) = match s.split_once('/') {
            Some((a, l)) => (a, l),
            None => (s, "32"),
        };
        let addr: Ipv4Addr = a
            .trim()
            .parse()
            .map_err(|_| PrefixParseError(format!("`{s}` is not an IPv4 prefix (expected a.b.c.d/len)")))?;
        let len: u8 = l
            .trim()
            .parse()
            .ok()
            .filter(|l| *l <= 32)
            .ok_or_else(|| PrefixParseError(format!("`{s}`: prefix length must be 0..=32")))?;
        Ipv4Prefix::new(addr, len).ok_or_else(|| {
            let net = Ipv4Addr::from(u32::from(addr) & Self::mask_of(len));
            PrefixParseError(format!("`{s}` has host bits set (did you mean {net}/{len}?)"))
        })
    }
}

impl fmt::Display for Ipv4Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr(), self.len)
    }
}

impl Serialize for Ipv4Prefix {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ipv4Prefix {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// An inclusive range of ports such as `1024-65535`.
#[derive(Copy, Clone, PartialEq, Eq, Hash, Debug)]
pub struct PortRange {
    /// The first port of the range.
    pub first: u16,
    /// The last port of the range (inclusive).
    pub last: u16,
}

impl PortRange {
    /// How many ports the range holds.
    #[inline]
    pub fn len(&self) -> u32 {
        (self.last as u32 + 1).saturating_sub(self.first as u32)
    }

    /// Whether the range holds no port (`first > last`).
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.first > self.last
    }

    /// Whether `port` lies in the range.
    #[inline]
    pub fn contains(&self, port: u16) -> bool {
        self.first <= port && port <= self.last
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

impl FromStr for PortRange {
    type Err = PrefixParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || PrefixParseError(format!("`{s}` is not a port range (expected FIRST-LAST, e.g. 1024-65535)"));
        let (a, b) = s.split_once('-').ok_or_else(bad)?;
        let first = a.trim().parse().map_err(|_| bad())?;
        let last = b.trim().parse().map_err(|_| bad())?;
        Ok(PortRange { first, last })
    }
}

impl Serialize for PortRange {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for PortRange {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects_host_bits() {
        let p: Ipv4Prefix = "100.64.0.0/10".parse().unwrap();
        assert_eq!(p.size(), 1 << 22);
        assert!(p.contains("100.127.255.255".parse().unwrap()));
        assert!(!p.contains("100.128.0.0".parse().unwrap()));
        let e = "100.64.0.1/10".parse::<Ipv4Prefix>().unwrap_err();
        assert!(e.0.contains("did you mean 100.64.0.0/10"), "{e}");
        assert!("1.2.3.4/33".parse::<Ipv4Prefix>().is_err());
        assert_eq!("192.0.2.1".parse::<Ipv4Prefix>().unwrap().len(), 32);
    }

    #[test]
    fn overlap() {
        let a: Ipv4Prefix = "10.0.0.0/8".parse().unwrap();
        let b: Ipv4Prefix = "10.1.0.0/16".parse().unwrap();
        let c: Ipv4Prefix = "11.0.0.0/8".parse().unwrap();
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(!a.overlaps(&c));
    }

    #[test]
    fn port_range() {
        let r: PortRange = "1024-65535".parse().unwrap();
        assert_eq!(r.len(), 64512);
        assert!("1024".parse::<PortRange>().is_err());
    }
}
