//! Validation of [`NatConfig`]: every error names the key, the bad value and
//! what is allowed.

use core::fmt;
use std::collections::HashMap;

use super::{Ipv4Prefix, Mode, NatConfig, Timeouts};

/// A configuration value that is not allowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The dotted key, e.g. `nat.timeouts.udp`.
    pub key: String,
    /// The offending value as written.
    pub value: String,
    /// What would have been accepted, and why.
    pub allowed: String,
}

impl ConfigError {
    /// An error for `key` holding `value`, with what is `allowed`.
    pub fn new(key: impl Into<String>, value: impl fmt::Display, allowed: impl Into<String>) -> Self {
        ConfigError {
            key: key.into(),
            value: value.to_string(),
            allowed: allowed.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} = {}: {}", self.key, self.value, self.allowed)
    }
}

impl std::error::Error for ConfigError {}

/// Most public addresses a pool may hold (sessions store the pool index in 16 bits).
pub const MAX_POOL_ADDRESSES: u64 = 1 << 16;
/// Most subscribers (table slots are addressed with 30 bits).
pub const MAX_SUBSCRIBERS: u32 = 1 << 26;
/// Most sessions or mappings.
pub const MAX_TABLE_ENTRIES: u32 = 1 << 28;
/// Smallest port block.
pub const MIN_BLOCK_SIZE: u16 = 16;
/// Largest port block (so a block's mapping count fits in 16 bits per protocol).
pub const MAX_BLOCK_SIZE: u16 = 16384;
/// Smallest per-subscriber port range accepted in deterministic mode.
pub const MIN_DETERMINISTIC_PORTS: u32 = 16;

pub(super) fn range_check(key: &str, v: u64, lo: u64, hi: u64, why: &str) -> Result<(), ConfigError> {
    if v < lo || v > hi {
        return Err(ConfigError::new(key, v, format!("must be between {lo} and {hi}{why}")));
    }
    Ok(())
}

fn list(ps: &[Ipv4Prefix]) -> String {
    let v: Vec<String> = ps.iter().map(|p| format!("\"{p}\"")).collect();
    format!("[{}]", v.join(", "))
}

fn no_overlap(key: &str, ps: &[Ipv4Prefix]) -> Result<(), ConfigError> {
    for (i, a) in ps.iter().enumerate() {
        for b in &ps[i + 1..] {
            if a.overlaps(b) {
                return Err(ConfigError::new(
                    key,
                    list(ps),
                    format!("prefixes must not overlap ({a} and {b} do)"),
                ));
            }
        }
    }
    Ok(())
}

impl Timeouts {
    fn validate(&self) -> Result<(), ConfigError> {
        range_check(
            "nat.timeouts.udp",
            self.udp as u64,
            120,
            86_400,
            " seconds (RFC 4787 REQ-5: at least 2 minutes)",
        )?;
        range_check(
            "nat.timeouts.tcp_established",
            self.tcp_established as u64,
            7440,
            7 * 86_400,
            " seconds (RFC 5382 REQ-5: at least 2 hours 4 minutes)",
        )?;
        range_check(
            "nat.timeouts.tcp_transitory",
            self.tcp_transitory as u64,
            240,
            86_400,
            " seconds (RFC 5382 REQ-5: at least 4 minutes)",
        )?;
        range_check(
            "nat.timeouts.icmp",
            self.icmp as u64,
            60,
            86_400,
            " seconds (RFC 5508 REQ-1: at least 60 seconds)",
        )
    }
}

impl NatConfig {
    /// Checks every value; the first problem found is returned.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.inside_prefixes.is_empty() {
            return Err(ConfigError::new(
                "nat.inside_prefixes",
                "[]",
                "at least one subscriber prefix, e.g. [\"100.64.0.0/10\"]",
            ));
        }
        no_overlap("nat.inside_prefixes", &self.inside_prefixes)?;
        if self.pool.is_empty() {
            return Err(ConfigError::new(
                "nat.pool",
                "[]",
                "at least one public prefix, e.g. [\"203.0.113.0/28\"]",
            ));
        }
        no_overlap("nat.pool", &self.pool)?;
        for x in &self.pool_exclude {
            if !self.pool.iter().any(|p| p.contains(x.addr()) && p.len() <= x.len()) {
                return Err(ConfigError::new(
                    "nat.pool_exclude",
                    list(&self.pool_exclude),
                    format!("addresses inside nat.pool {} ({x} is not)", list(&self.pool)),
                ));
            }
        }
        if !self.pool_exclude.is_empty() && self.mode == Mode::Deterministic {
            return Err(ConfigError::new(
                "nat.pool_exclude",
                list(&self.pool_exclude),
                "empty in deterministic mode (RFC 7422's formula maps whole pool prefixes: leave the address out of nat.pool instead)",
            ));
        }
        if self.pool_size() == 0 {
            return Err(ConfigError::new(
                "nat.pool_exclude",
                list(&self.pool_exclude),
                format!("at least one address of nat.pool {} left to hand out", list(&self.pool)),
            ));
        }
        if self.pool_size() > MAX_POOL_ADDRESSES {
            return Err(ConfigError::new(
                "nat.pool",
                list(&self.pool),
                format!(
                    "at most {MAX_POOL_ADDRESSES} public addresses in all (this pool has {})",
                    self.pool_size()
                ),
            ));
        }
        for p in &self.pool {
            if let Some(i) = self.inside_prefixes.iter().find(|i| i.overlaps(p)) {
                return Err(ConfigError::new(
                    "nat.pool",
                    list(&self.pool),
                    format!("must not overlap nat.inside_prefixes ({p} overlaps {i})"),
                ));
            }
            if let Some(b) = self.bypass.iter().find(|b| b.overlaps(p)) {
                return Err(ConfigError::new(
                    "nat.bypass",
                    list(&self.bypass),
                    format!("must not overlap nat.pool ({b} overlaps {p})"),
                ));
            }
        }
        let r = self.port_range;
        if r.first == 0 || r.is_empty() {
            return Err(ConfigError::new(
                "nat.port_range",
                r,
                "FIRST-LAST with 1 <= FIRST <= LAST <= 65535, e.g. 1024-65535",
            ));
        }
        if self.mode == Mode::Dynamic {
            range_check(
                "nat.block_size",
                self.block_size as u64,
                MIN_BLOCK_SIZE as u64,
                (MAX_BLOCK_SIZE as u32).min(r.len()) as u64,
                &format!(" ports (and at most the {} ports of nat.port_range)", r.len()),
            )?;
        }
        range_check("nat.max_blocks_per_subscriber", self.max_blocks_per_subscriber as u64, 1, 255, "")?;
        range_check(
            "nat.max_sessions_per_subscriber",
            self.max_sessions_per_subscriber as u64,
            1,
            crate::pool::MAX_SESSIONS_PER_MAPPING as u64,
            " (a mapping counts its sessions in 14 bits)",
        )?;
        range_check("nat.max_subscribers", self.max_subscribers as u64, 1, MAX_SUBSCRIBERS as u64, "")?;
        range_check("nat.max_sessions", self.max_sessions as u64, 1, MAX_TABLE_ENTRIES as u64, "")?;
        range_check("nat.max_mappings", self.max_mappings as u64, 1, MAX_TABLE_ENTRIES as u64, "")?;
        range_check(
            "nat.block_hold_down",
            self.block_hold_down as u64,
            0,
            86_400,
            " seconds (RFC 6888 REQ-8 recommends 120)",
        )?;
        self.timeouts.validate()?;
        range_check("nat.inside_mtu", self.inside_mtu as u64, 576, 9216, " bytes")?;
        range_check("nat.outside_mtu", self.outside_mtu as u64, 576, 9216, " bytes")?;
        range_check("nat.fragments.max_tracked", self.fragments.max_tracked as u64, 1, 1 << 20, "")?;
        range_check("nat.fragments.max_held", self.fragments.max_held as u64, 0, 1 << 16, "")?;
        range_check("nat.fragments.timeout", self.fragments.timeout as u64, 1, 60, " seconds")?;
        range_check(
            "nat.fragments.max_per_source",
            self.fragments.max_per_source as u64,
            1,
            1 << 20,
            " (tracked datagrams + held fragments of one source, per worker)",
        )?;
        self.admission.validate()?;
        self.unconfirmed
            .validate(self.max_sessions_per_subscriber, self.max_blocks_per_subscriber)?;
        self.inbound.validate()?;
        self.fairness.validate()?;
        if self.mode == Mode::Deterministic {
            let ports = self.deterministic_ports_per_subscriber();
            if ports < MIN_DETERMINISTIC_PORTS {
                return Err(ConfigError::new(
                    "nat.pool",
                    list(&self.pool),
                    format!(
                        "deterministic mode gives each of {} subscribers {} ports ({} ports of nat.port_range / {} subscribers per public address); \
                         at least {MIN_DETERMINISTIC_PORTS} are needed: add public addresses or shrink nat.inside_prefixes",
                        self.inside_size(),
                        ports,
                        r.len(),
                        self.inside_size().div_ceil(self.pool_size()),
                    ),
                ));
            }
            if !self.static_mappings.is_empty() {
                return Err(ConfigError::new(
                    "nat.static_mappings",
                    format!("[{} entries]", self.static_mappings.len()),
                    "static mappings are only available with nat.mode = \"dynamic\"",
                ));
            }
        }
        self.validate_static_mappings()
    }

    fn validate_static_mappings(&self) -> Result<(), ConfigError> {
        let mut public = HashMap::new();
        let mut inside = HashMap::new();
        let mut paired = HashMap::new();
        for (i, m) in self.static_mappings.iter().enumerate() {
            let key = |f: &str| format!("nat.static_mappings[{i}].{f}");
            if !self.is_pool_address(m.public_addr) {
                return Err(ConfigError::new(
                    key("public_addr"),
                    m.public_addr,
                    format!("an address of nat.pool {}", list(&self.pool)),
                ));
            }
            if !self.port_range.contains(m.public_port) {
                return Err(ConfigError::new(
                    key("public_port"),
                    m.public_port,
                    format!("a port in nat.port_range {}", self.port_range),
                ));
            }
            if !self.inside_prefixes.iter().any(|p| p.contains(m.inside_addr)) {
                return Err(ConfigError::new(
                    key("inside_addr"),
                    m.inside_addr,
                    format!("an address of nat.inside_prefixes {}", list(&self.inside_prefixes)),
                ));
            }
            if let Some(j) = public.insert((m.protocol, m.public_addr, m.public_port), i) {
                return Err(ConfigError::new(
                    key("public_port"),
                    m.public_port,
                    format!("a public address:port not already used by nat.static_mappings[{j}]"),
                ));
            }
            if let Some(j) = inside.insert((m.protocol, m.inside_addr, m.inside_port), i) {
                return Err(ConfigError::new(
                    key("inside_port"),
                    m.inside_port,
                    format!("an inside address:port not already mapped by nat.static_mappings[{j}]"),
                ));
            }
            // RFC 4787 REQ-2 / RFC 6888 REQ-2 (paired pooling): one subscriber, one public address.
            if let Some(&(j, addr)) = paired.get(&m.inside_addr) {
                if addr != m.public_addr {
                    return Err(ConfigError::new(
                        key("public_addr"),
                        m.public_addr,
                        format!(
                            "{addr}, the address nat.static_mappings[{j}] gives {} (paired pooling: one public address per subscriber)",
                            m.inside_addr
                        ),
                    ));
                }
            } else {
                paired.insert(m.inside_addr, (i, m.public_addr));
            }
        }
        Ok(())
    }

    /// Ports each subscriber gets in deterministic mode (RFC 7422 section 2):
    /// the port range split evenly among the subscribers that share one
    /// public address.
    pub fn deterministic_ports_per_subscriber(&self) -> u32 {
        let per_addr = self.inside_size().div_ceil(self.pool_size().max(1)).max(1);
        (self.port_range.len() as u64 / per_addr) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{StaticMapping, StaticProtocol};

    fn err_of(toml_text: &str) -> ConfigError {
        let c: NatConfig = toml::from_str(toml_text).expect("parses");
        c.validate().expect_err("invalid")
    }

    #[test]
    fn default_is_valid() {
        NatConfig::default().validate().unwrap();
    }

    #[test]
    fn rfc4787_req5_udp_timeout_at_least_two_minutes() {
        // RFC 4787 REQ-5: "A NAT UDP mapping timer MUST NOT expire in less than two minutes"
        let e = err_of("[timeouts]\nudp = 60\n");
        assert_eq!(e.key, "nat.timeouts.udp");
        assert_eq!(e.value, "60");
        assert!(e.allowed.contains("RFC 4787 REQ-5"), "{e}");
    }

    #[test]
    fn rfc5382_req5_tcp_timeouts() {
        // RFC 5382 REQ-5: established idle-timeout MUST NOT be less than 2 hours 4 minutes,
        // transitory MUST NOT be less than 4 minutes.
        assert_eq!(err_of("[timeouts]\ntcp_established = 3600\n").key, "nat.timeouts.tcp_established");
        assert_eq!(err_of("[timeouts]\ntcp_transitory = 30\n").key, "nat.timeouts.tcp_transitory");
    }

    #[test]
    fn errors_name_key_value_and_allowed() {
        let e = err_of("block_size = 4\n");
        assert_eq!(
            e.to_string(),
            "nat.block_size = 4: must be between 16 and 16384 ports (and at most the 64512 ports of nat.port_range)"
        );
        let e = err_of("pool = [\"100.64.0.0/24\"]\n");
        assert_eq!(e.key, "nat.pool");
        assert!(e.allowed.contains("overlap"));
        let e = err_of("port_range = \"2000-1000\"\n");
        assert_eq!(e.key, "nat.port_range");
    }

    #[test]
    fn unknown_keys_are_rejected_by_the_parser() {
        let e = toml::from_str::<NatConfig>("block_sise = 512\n").unwrap_err();
        assert!(e.to_string().contains("block_sise"), "{e}");
    }

    #[test]
    fn rfc7422_deterministic_needs_enough_ports() {
        // 100.64.0.0/10 (4M subscribers) onto 16 addresses leaves 0 ports each.
        let e = err_of("mode = \"deterministic\"\n");
        assert_eq!(e.key, "nat.pool");
        assert!(e.allowed.contains("deterministic"), "{e}");
        let ok: NatConfig =
            toml::from_str("mode = \"deterministic\"\ninside_prefixes = [\"100.64.0.0/20\"]\npool = [\"203.0.113.0/26\"]\n").unwrap();
        ok.validate().unwrap();
        // 4096 subscribers over 64 addresses: 64 per address, 64512/64 = 1008 ports each.
        assert_eq!(ok.deterministic_ports_per_subscriber(), 1008);
    }

    #[test]
    fn rfc6888_req2_static_mappings_keep_paired_pooling() {
        let mut c = NatConfig::default();
        let m = |addr: [u8; 4], port| StaticMapping {
            protocol: StaticProtocol::Tcp,
            public_addr: addr.into(),
            public_port: port,
            inside_addr: [100, 64, 0, 5].into(),
            inside_port: port,
        };
        c.static_mappings = vec![m([203, 0, 113, 1], 8080), m([203, 0, 113, 2], 8081)];
        let e = c.validate().unwrap_err();
        assert_eq!(e.key, "nat.static_mappings[1].public_addr");
        assert!(e.allowed.contains("paired pooling"), "{e}");
        c.static_mappings = vec![m([198, 51, 100, 1], 8080)];
        assert_eq!(c.validate().unwrap_err().key, "nat.static_mappings[0].public_addr");
    }
}
