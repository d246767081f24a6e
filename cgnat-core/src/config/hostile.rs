//! Limits against hostile traffic (RFC 6888 section 6 and REQ-4/5/11;
//! README "What happens under attack"): admission of new subscribers and
//! blocks, unconfirmed state, inbound-created sessions, global fair share.
//!
//! Tables `[nat.admission]`, `[nat.unconfirmed]`, `[nat.inbound]` and
//! `[nat.fairness]`. Every rate, cap and timer reloads; the sizes of the
//! limiter tables (`aggregate_prefix_len`, `aggregate_buckets`,
//! `refused_memory`) need a restart.

use serde::{Deserialize, Serialize};

use super::validate::range_check;
use super::ConfigError;

/// `[nat.admission]`: token buckets on new subscribers and new blocks, per
/// inside aggregate and globally, with a separate budget for sources that
/// were refused once and came back (a spoofer sending one packet per
/// source address never does; TCP and DNS retries do).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Admission {
    /// Prefix length of an inside aggregate (an access router's or OLT's
    /// subscriber range), 8..=32.
    pub aggregate_prefix_len: u8,
    /// Token buckets for aggregates (a power of two); aggregates are spread
    /// over them by a keyed hash, so two may share one (then they share its
    /// budget: conservative, and an outsider cannot choose the collision).
    pub aggregate_buckets: u32,
    /// New subscribers per second per aggregate (0: no per-aggregate limit).
    pub subscriber_rate_per_aggregate: u32,
    /// Burst of new subscribers per aggregate.
    pub subscriber_burst_per_aggregate: u32,
    /// New subscribers per second in all (0: no global limit).
    pub subscriber_rate: u32,
    /// Burst of new subscribers in all.
    pub subscriber_burst: u32,
    /// Further blocks (beyond a subscriber's first) per second per aggregate (0: no limit).
    pub block_rate_per_aggregate: u32,
    /// Burst of further blocks per aggregate.
    pub block_burst_per_aggregate: u32,
    /// Further blocks per second in all (0: no limit).
    pub block_rate: u32,
    /// Burst of further blocks in all.
    pub block_burst: u32,
    /// New subscribers per second admitted on a retry: a source refused
    /// earlier that sends again after `retry_min_ms` (0: retries get no
    /// preference).
    pub retry_rate: u32,
    /// Burst of retry admissions.
    pub retry_burst: u32,
    /// A packet from a refused source counts as a retry only this many
    /// milliseconds after the refusal (a burst of one spoofed flow is not a retry).
    pub retry_min_ms: u32,
    /// ... and at most this many seconds after it.
    pub retry_window_secs: u32,
    /// Refused sources remembered (a power of two; two candidate slots each).
    pub refused_memory: u32,
    /// Seconds between the summarising `admission-limit` records of one
    /// worker (one record per interval with refusals, not one per source).
    pub summary_interval_secs: u32,
}

impl Default for Admission {
    fn default() -> Self {
        Admission {
            aggregate_prefix_len: 24,
            aggregate_buckets: 4096,
            subscriber_rate_per_aggregate: 20,
            subscriber_burst_per_aggregate: 100,
            subscriber_rate: 1000,
            subscriber_burst: 4000,
            block_rate_per_aggregate: 50,
            block_burst_per_aggregate: 200,
            block_rate: 2000,
            block_burst: 8000,
            retry_rate: 200,
            retry_burst: 400,
            retry_min_ms: 200,
            retry_window_secs: 60,
            refused_memory: 65536,
            summary_interval_secs: 10,
        }
    }
}

/// `[nat.unconfirmed]`: a subscriber is *unconfirmed* until one of its
/// sessions carried an outbound packet after an inbound one (a completed
/// TCP handshake, a reply answered): until then it has shown no sign that
/// it can receive, as a spoofed source cannot. Unconfirmed subscribers have
/// tight caps and short timers and are reclaimed quickly.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Unconfirmed {
    /// Share of `nat.max_subscribers` unconfirmed subscribers may occupy,
    /// in percent (the rest is headroom for confirmed ones); retry
    /// admissions may exceed it while the table has room.
    pub max_subscribers_percent: u8,
    /// Sessions an unconfirmed subscriber may hold.
    pub max_sessions: u32,
    /// Blocks an unconfirmed subscriber may hold.
    pub max_blocks: u16,
    /// Idle timeout of an unconfirmed subscriber's sessions, seconds
    /// (applies when shorter than the protocol's own). The default, 120 s,
    /// keeps RFC 4787 REQ-5's two minutes; a shorter value reclaims a
    /// spoofing flood's state sooner at the price of that MUST for hosts
    /// that never received anything (docs/decisions/009-hostile-traffic.md).
    pub timeout: u32,
}

impl Default for Unconfirmed {
    fn default() -> Self {
        Unconfirmed {
            max_subscribers_percent: 25,
            max_sessions: 64,
            max_blocks: 1,
            timeout: 120,
        }
    }
}

/// `[nat.inbound]`: sessions created by inbound packets (endpoint- or
/// address-dependent filtering, RFC 4787 REQ-8) have their own budget, so
/// that a spray at a mapping never takes the subscriber's own sessions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Inbound {
    /// Inbound-created sessions one subscriber may hold.
    pub max_sessions_per_subscriber: u32,
    /// Inbound-created sessions one mapping may hold.
    pub max_sessions_per_mapping: u32,
    /// Idle timeout of an inbound-created session until the inside host
    /// sends on it, seconds (then the protocol's own timer applies).
    pub timeout: u32,
}

impl Default for Inbound {
    fn default() -> Self {
        Inbound {
            max_sessions_per_subscriber: 256,
            max_sessions_per_mapping: 64,
            timeout: 30,
        }
    }
}

/// `[nat.fairness]`: a small set of subscribers at their limits cannot fill
/// a global table. Once the session (or mapping) table is `pressure_percent`
/// full, only subscribers holding fewer than `fair_share_sessions` sessions
/// may add sessions: the last `100 - pressure_percent` percent of the table
/// is kept for them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Fairness {
    /// Table fill (percent) from which the fair share applies; 100: never.
    pub pressure_percent: u8,
    /// Sessions a subscriber may still grow to while the table is under pressure.
    pub fair_share_sessions: u32,
}

impl Default for Fairness {
    fn default() -> Self {
        Fairness {
            pressure_percent: 75,
            fair_share_sessions: 128,
        }
    }
}

fn rate_pair(key: &str, rate: u32, burst_key: &str, burst: u32) -> Result<(), ConfigError> {
    range_check(key, rate as u64, 0, 10_000_000, " per second (0: no limit)")?;
    if rate > 0 {
        range_check(burst_key, burst as u64, 1, 100_000_000, " (at least one token)")?;
    }
    Ok(())
}

fn power_of_two(key: &str, v: u32, lo: u32, hi: u32) -> Result<(), ConfigError> {
    if !v.is_power_of_two() || v < lo || v > hi {
        return Err(ConfigError::new(key, v, format!("a power of two between {lo} and {hi}")));
    }
    Ok(())
}

impl Admission {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let k = |s: &str| format!("nat.admission.{s}");
        range_check(
            &k("aggregate_prefix_len"),
            self.aggregate_prefix_len as u64,
            8,
            32,
            " (an access aggregate such as /24)",
        )?;
        power_of_two(&k("aggregate_buckets"), self.aggregate_buckets, 16, 1 << 20)?;
        power_of_two(&k("refused_memory"), self.refused_memory, 16, 1 << 24)?;
        for (r, rv, b, bv) in [
            (
                "subscriber_rate_per_aggregate",
                self.subscriber_rate_per_aggregate,
                "subscriber_burst_per_aggregate",
                self.subscriber_burst_per_aggregate,
            ),
            ("subscriber_rate", self.subscriber_rate, "subscriber_burst", self.subscriber_burst),
            (
                "block_rate_per_aggregate",
                self.block_rate_per_aggregate,
                "block_burst_per_aggregate",
                self.block_burst_per_aggregate,
            ),
            ("block_rate", self.block_rate, "block_burst", self.block_burst),
            ("retry_rate", self.retry_rate, "retry_burst", self.retry_burst),
        ] {
            rate_pair(&k(r), rv, &k(b), bv)?;
        }
        range_check(&k("retry_min_ms"), self.retry_min_ms as u64, 0, 60_000, " milliseconds")?;
        range_check(&k("retry_window_secs"), self.retry_window_secs as u64, 1, 3600, " seconds")?;
        if self.retry_min_ms as u64 >= self.retry_window_secs as u64 * 1000 {
            return Err(ConfigError::new(
                k("retry_min_ms"),
                self.retry_min_ms,
                format!("less than nat.admission.retry_window_secs ({} s)", self.retry_window_secs),
            ));
        }
        range_check(&k("summary_interval_secs"), self.summary_interval_secs as u64, 1, 3600, " seconds")
    }
}

impl Unconfirmed {
    pub(super) fn validate(&self, max_sessions: u32, max_blocks: u16) -> Result<(), ConfigError> {
        range_check(
            "nat.unconfirmed.max_subscribers_percent",
            self.max_subscribers_percent as u64,
            1,
            100,
            " percent of nat.max_subscribers",
        )?;
        range_check(
            "nat.unconfirmed.max_sessions",
            self.max_sessions as u64,
            1,
            max_sessions as u64,
            " (at most nat.max_sessions_per_subscriber)",
        )?;
        range_check(
            "nat.unconfirmed.max_blocks",
            self.max_blocks as u64,
            1,
            max_blocks as u64,
            " (at most nat.max_blocks_per_subscriber)",
        )?;
        range_check("nat.unconfirmed.timeout", self.timeout as u64, 5, 86_400, " seconds")
    }
}

impl Inbound {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        range_check(
            "nat.inbound.max_sessions_per_subscriber",
            self.max_sessions_per_subscriber as u64,
            0,
            crate::pool::MAX_SESSIONS_PER_MAPPING as u64,
            " (0: inbound packets never create sessions)",
        )?;
        range_check(
            "nat.inbound.max_sessions_per_mapping",
            self.max_sessions_per_mapping as u64,
            0,
            crate::pool::MAX_SESSIONS_PER_MAPPING as u64,
            "",
        )?;
        range_check("nat.inbound.timeout", self.timeout as u64, 5, 86_400, " seconds")
    }
}

impl Fairness {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        range_check(
            "nat.fairness.pressure_percent",
            self.pressure_percent as u64,
            10,
            100,
            " percent (100: no fair share)",
        )?;
        range_check(
            "nat.fairness.fair_share_sessions",
            self.fair_share_sessions as u64,
            1,
            crate::pool::MAX_SESSIONS_PER_MAPPING as u64,
            "",
        )
    }
}

#[cfg(test)]
mod tests {
    use crate::config::NatConfig;

    fn err(toml_text: &str) -> String {
        let c: NatConfig = toml::from_str(toml_text).unwrap();
        c.validate().unwrap_err().to_string()
    }

    #[test]
    fn defaults_are_valid() {
        NatConfig::default().validate().unwrap();
    }

    #[test]
    fn errors_name_key_value_and_allowed() {
        assert_eq!(
            err("[admission]\naggregate_prefix_len = 4\n"),
            "nat.admission.aggregate_prefix_len = 4: must be between 8 and 32 (an access aggregate such as /24)"
        );
        assert_eq!(
            err("[admission]\naggregate_buckets = 1000\n"),
            "nat.admission.aggregate_buckets = 1000: a power of two between 16 and 1048576"
        );
        assert_eq!(
            err("[admission]\nsubscriber_rate = 5\nsubscriber_burst = 0\n"),
            "nat.admission.subscriber_burst = 0: must be between 1 and 100000000 (at least one token)"
        );
        assert_eq!(
            err("[unconfirmed]\nmax_blocks = 9\n"),
            "nat.unconfirmed.max_blocks = 9: must be between 1 and 4 (at most nat.max_blocks_per_subscriber)"
        );
        assert_eq!(
            err("[inbound]\ntimeout = 1\n"),
            "nat.inbound.timeout = 1: must be between 5 and 86400 seconds"
        );
        assert_eq!(
            err("[fairness]\npressure_percent = 101\n"),
            "nat.fairness.pressure_percent = 101: must be between 10 and 100 percent (100: no fair share)"
        );
        assert!(
            err("[admission]\nretry_min_ms = 5000\nretry_window_secs = 5\n").starts_with("nat.admission.retry_min_ms = 5000: less than")
        );
    }
}
