//! The `[ha]` table of `cgnatd`'s configuration: an active/standby pair
//! (issue 13, `docs/decisions/021-ha-pair.md`). Validation errors name the
//! key, the value and what is allowed.

use core::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::ConfigError;

/// The UDP port of the sync link when none is configured.
pub const DEFAULT_SYNC_PORT: u16 = 7420;

/// The `[ha]` table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HaConfig {
    /// Run as one node of an active/standby pair. Off: a single node (the
    /// rest of the table is not used).
    pub enabled: bool,
    /// This node's address on the sync link (a kernel interface, normally
    /// a dedicated management or back-to-back link).
    pub local_address: Ipv4Addr,
    /// The peer's address on the sync link.
    pub peer_address: Ipv4Addr,
    /// The UDP port both nodes use for sync and heartbeats.
    pub sync_port: u16,
    /// Election priority, 1–254: of two live nodes, the higher becomes
    /// active (equal priorities: the lower `local_address`).
    pub priority: u8,
    /// Heartbeat period, milliseconds.
    pub heartbeat_ms: u32,
    /// A peer unheard for this long is dead, milliseconds (at least three
    /// heartbeats). The standby takes over after it; the failover time is
    /// this plus one management tick plus the gratuitous ARP.
    pub dead_ms: u32,
    /// A returning node of higher priority takes the active role back from
    /// a live active peer (after it has bulk-synced). Off: it stays standby
    /// until a manual switchover or the active's failure.
    pub preempt: bool,
    /// Sync messages sent but not acknowledged, at most; a slower standby
    /// is resynced from a bulk sync rather than buffered without bound.
    pub window: u32,
    /// Records one sync datagram carries at most (a datagram stays under
    /// the link MTU: 1400 bytes at the most).
    pub batch_records: u16,
    /// A datagram not acknowledged after this long is sent again,
    /// milliseconds.
    pub retransmit_ms: u32,
    /// The active restates every session to the standby once per this
    /// many seconds (its timers; sessions it no longer restates leave the
    /// standby's mirror after their idle timeout). Sync bandwidth:
    /// sessions / refresh_secs × 32 bytes per second, plus new sessions.
    pub refresh_secs: u32,
}

impl Default for HaConfig {
    fn default() -> Self {
        HaConfig {
            enabled: false,
            local_address: Ipv4Addr::UNSPECIFIED,
            peer_address: Ipv4Addr::UNSPECIFIED,
            sync_port: DEFAULT_SYNC_PORT,
            priority: 100,
            heartbeat_ms: 100,
            dead_ms: 500,
            preempt: false,
            window: 1024,
            batch_records: 32,
            retransmit_ms: 50,
            refresh_secs: 10,
        }
    }
}

impl HaConfig {
    /// Whether the table is left at "no pair" (then it is not part of the
    /// configuration digest, so single nodes keep their digest).
    pub fn is_disabled(&self) -> bool {
        !self.enabled
    }

    /// Checks every value (only when enabled: a disabled table is inert).
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        for (key, a) in [("ha.local_address", self.local_address), ("ha.peer_address", self.peer_address)] {
            if a.is_unspecified() || a.is_broadcast() || a.is_multicast() {
                return Err(ConfigError::new(
                    key,
                    a,
                    "a unicast IPv4 address of the sync link (required when ha.enabled)",
                ));
            }
        }
        if self.local_address == self.peer_address {
            return Err(ConfigError::new(
                "ha.peer_address",
                self.peer_address,
                "the other node's address, not ha.local_address",
            ));
        }
        if self.sync_port == 0 {
            return Err(ConfigError::new("ha.sync_port", 0, "a UDP port between 1 and 65535"));
        }
        if !(1..=254).contains(&self.priority) {
            return Err(ConfigError::new("ha.priority", self.priority, "between 1 and 254 (higher wins)"));
        }
        if !(10..=10_000).contains(&self.heartbeat_ms) {
            return Err(ConfigError::new(
                "ha.heartbeat_ms",
                self.heartbeat_ms,
                "between 10 and 10000 milliseconds",
            ));
        }
        let min_dead = self.heartbeat_ms.saturating_mul(3);
        if !(min_dead..=60_000).contains(&self.dead_ms) {
            return Err(ConfigError::new(
                "ha.dead_ms",
                self.dead_ms,
                format!("between three heartbeats ({min_dead}) and 60000 milliseconds"),
            ));
        }
        if !self.window.is_power_of_two() || !(16..=65_536).contains(&self.window) {
            return Err(ConfigError::new("ha.window", self.window, "a power of two between 16 and 65536"));
        }
        if !(1..=crate::wire::ha::MAX_RECORDS as u16).contains(&self.batch_records) {
            return Err(ConfigError::new(
                "ha.batch_records",
                self.batch_records,
                format!("between 1 and {} (one datagram under 1400 bytes)", crate::wire::ha::MAX_RECORDS),
            ));
        }
        if !(5..=self.dead_ms).contains(&self.retransmit_ms) {
            return Err(ConfigError::new(
                "ha.retransmit_ms",
                self.retransmit_ms,
                format!("between 5 and ha.dead_ms ({})", self.dead_ms),
            ));
        }
        if !(1..=300).contains(&self.refresh_secs) {
            return Err(ConfigError::new("ha.refresh_secs", self.refresh_secs, "between 1 and 300 seconds"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> HaConfig {
        HaConfig {
            enabled: true,
            local_address: Ipv4Addr::new(192, 168, 77, 1),
            peer_address: Ipv4Addr::new(192, 168, 77, 2),
            ..HaConfig::default()
        }
    }

    #[test]
    fn a_disabled_table_is_inert_and_a_pair_validates() {
        assert_eq!(HaConfig::default().validate(), Ok(()));
        assert_eq!(pair().validate(), Ok(()));
    }

    #[test]
    fn each_bad_value_names_its_key() {
        let cases: Vec<(HaConfig, &str)> = vec![
            (
                HaConfig {
                    local_address: Ipv4Addr::UNSPECIFIED,
                    ..pair()
                },
                "ha.local_address",
            ),
            (
                HaConfig {
                    peer_address: Ipv4Addr::new(192, 168, 77, 1),
                    ..pair()
                },
                "ha.peer_address",
            ),
            (HaConfig { sync_port: 0, ..pair() }, "ha.sync_port"),
            (HaConfig { priority: 255, ..pair() }, "ha.priority"),
            (HaConfig { heartbeat_ms: 5, ..pair() }, "ha.heartbeat_ms"),
            (HaConfig { dead_ms: 250, ..pair() }, "ha.dead_ms"),
            (HaConfig { window: 1000, ..pair() }, "ha.window"),
            (
                HaConfig {
                    batch_records: 0,
                    ..pair()
                },
                "ha.batch_records",
            ),
            (
                HaConfig {
                    retransmit_ms: 600,
                    ..pair()
                },
                "ha.retransmit_ms",
            ),
            (HaConfig { refresh_secs: 0, ..pair() }, "ha.refresh_secs"),
        ];
        for (c, key) in cases {
            let e = c.validate().unwrap_err();
            assert_eq!(e.key, key, "{e}");
            assert!(!e.allowed.is_empty());
        }
    }
}
