//! The `[pcp]` table of `cgnatd`'s configuration: the PCP server (RFC
//! 6887) and NAT-PMP (RFC 6886) on the inside address (issue 12 item 6,
//! `docs/decisions/017-pcp-mappings.md`). Validation errors name the key,
//! the value and what is allowed.

use serde::{Deserialize, Serialize};

use super::{ConfigError, Ipv4Prefix, NatConfig};
use crate::pcp::PcpLimits;

/// The `[pcp]` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PcpConfig {
    /// Serve PCP and NAT-PMP on the inside address, UDP port 5351 (RFC
    /// 6888 REQ-9: a CGN MUST give subscribers control over their
    /// mappings). Off: such requests get ICMP port unreachable.
    pub enabled: bool,
    /// Shortest lifetime granted, seconds; a shorter request gets this
    /// (RFC 6887 section 15: at least 120 s is recommended).
    pub min_lifetime: u32,
    /// Longest lifetime granted, seconds; a longer request gets this.
    pub max_lifetime: u32,
    /// PCP and NAT-PMP mappings one subscriber may hold at once (more are
    /// answered USER_EX_QUOTA).
    pub max_mappings_per_subscriber: u32,
    /// Inside prefixes of trusted PCP clients (an operator's PCP proxy)
    /// that may ask for another host with the THIRD_PARTY option (RFC 6887
    /// section 13.1); empty: THIRD_PARTY is refused (UNSUPP_OPTION).
    pub third_party_from: Vec<Ipv4Prefix>,
    /// PCP requests each worker may queue for the management core (a power
    /// of two); more are dropped and counted `pcp_queue_full`.
    pub queue: u32,
    /// Requests one source address may have served per second (bursts of
    /// twice that); more are dropped unanswered and counted, so a flooding
    /// client cannot keep the management core from the others (RFC 6887
    /// section 8.1.1: clients retransmit from 3 s on). 0: no limit.
    pub requests_per_sec: u32,
    /// Send ANNOUNCE (RFC 6887 section 14.1.3) to 224.0.0.1:5350 on the
    /// inside link at start, so that clients re-create their mappings
    /// after a restart.
    pub announce: bool,
}

impl Default for PcpConfig {
    fn default() -> Self {
        let l = PcpLimits::default();
        PcpConfig {
            enabled: true,
            min_lifetime: l.min_lifetime,
            max_lifetime: l.max_lifetime,
            max_mappings_per_subscriber: l.max_mappings_per_subscriber,
            third_party_from: Vec::new(),
            queue: 256,
            requests_per_sec: 20,
            announce: true,
        }
    }
}

impl PcpConfig {
    /// Checks every value; trusted THIRD_PARTY clients must lie in
    /// `nat.inside_prefixes`.
    pub fn validate(&self, nat: &NatConfig) -> Result<(), ConfigError> {
        if !(1..=604_800).contains(&self.min_lifetime) {
            return Err(ConfigError::new(
                "pcp.min_lifetime",
                self.min_lifetime,
                "between 1 and 604800 seconds",
            ));
        }
        if !(self.min_lifetime..=604_800).contains(&self.max_lifetime) {
            return Err(ConfigError::new(
                "pcp.max_lifetime",
                self.max_lifetime,
                format!("between pcp.min_lifetime ({}) and 604800 seconds", self.min_lifetime),
            ));
        }
        if !(1..=65_536).contains(&self.max_mappings_per_subscriber) {
            return Err(ConfigError::new(
                "pcp.max_mappings_per_subscriber",
                self.max_mappings_per_subscriber,
                "between 1 and 65536",
            ));
        }
        if !self.queue.is_power_of_two() || !(8..=65_536).contains(&self.queue) {
            return Err(ConfigError::new("pcp.queue", self.queue, "a power of two between 8 and 65536"));
        }
        if self.requests_per_sec > 100_000 {
            return Err(ConfigError::new(
                "pcp.requests_per_sec",
                self.requests_per_sec,
                "between 0 (no limit) and 100000",
            ));
        }
        for p in &self.third_party_from {
            let inside = nat.inside_prefixes.iter().any(|i| i.len() <= p.len() && i.contains(p.addr()));
            if !inside {
                return Err(ConfigError::new(
                    "pcp.third_party_from",
                    p,
                    "prefixes inside nat.inside_prefixes (trusted PCP clients are subscribers' side)",
                ));
            }
        }
        Ok(())
    }

    /// The server's limits.
    pub fn limits(&self) -> PcpLimits {
        PcpLimits {
            min_lifetime: self.min_lifetime,
            max_lifetime: self.max_lifetime,
            max_mappings_per_subscriber: self.max_mappings_per_subscriber,
            third_party_from: self.third_party_from.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_name_the_key() {
        let nat = NatConfig::default();
        let ok = PcpConfig::default();
        assert!(ok.validate(&nat).is_ok());
        let e = PcpConfig {
            max_lifetime: 10,
            ..ok.clone()
        }
        .validate(&nat)
        .unwrap_err();
        assert!(e.to_string().contains("pcp.max_lifetime"), "{e}");
        let e = PcpConfig { queue: 100, ..ok.clone() }.validate(&nat).unwrap_err();
        assert!(e.to_string().contains("pcp.queue"), "{e}");
        let e = PcpConfig {
            third_party_from: vec!["192.0.2.0/24".parse().unwrap()],
            ..ok.clone()
        }
        .validate(&nat)
        .unwrap_err();
        assert!(e.to_string().contains("pcp.third_party_from"), "{e}");
        let tp = PcpConfig {
            third_party_from: vec![nat.inside_prefixes[0]],
            ..ok
        };
        assert!(tp.validate(&nat).is_ok());
    }
}
