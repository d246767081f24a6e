//! Deterministic mode (RFC 7422): reverse lookups by formula, with the
//! configuration of the epoch in force at the time asked.
//!
//! A `det-epoch` log record names the first inside address, the first pool
//! address, the port range and the ports per subscriber of the
//! configuration that came into force. That is not enough to reverse the
//! mapping (it lacks the prefix lengths), so the configuration files are
//! given with `--config` (one per epoch if the configuration changed); the
//! epoch in force at the time selects the file whose formula matches it.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::Serialize;

use cgnat_core::config::{file, DaemonConfig, Mode};
use cgnat_core::pool::DeterministicMap;

use crate::error::CliError;
use crate::index::Epoch;
use crate::timefmt::{format_time, Micros};

/// A configuration file and its RFC 7422 map.
#[derive(Clone, Debug)]
pub struct DetConfig {
    /// The file.
    pub path: PathBuf,
    /// Its map.
    pub map: DeterministicMap,
}

/// Loads a configuration file as cgnatd would (`CGNAT_*` overrides too).
pub fn load_config(path: &Path) -> Result<DaemonConfig, CliError> {
    file::load(Some(path)).map_err(|e| CliError::usage(e.to_string()))
}

/// The deterministic-mode configurations among `configs`.
pub fn det_configs(configs: &[(PathBuf, DaemonConfig)]) -> Vec<DetConfig> {
    configs
        .iter()
        .filter(|(_, c)| c.nat.mode == Mode::Deterministic)
        .filter_map(|(p, c)| DeterministicMap::new(&c.nat).map(|map| DetConfig { path: p.clone(), map }))
        .collect()
}

/// Whether a map is the one an epoch record describes.
pub fn matches_epoch(m: &DeterministicMap, e: &Epoch) -> bool {
    m.first_inside() == e.first_inside
        && m.first_public() == e.first_public
        && m.port_range().first == e.first_port
        && m.port_range().last == e.last_port
        && m.ports_per_subscriber() == e.ports_per_subscriber
}

/// The formula's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DetAnswer {
    /// The subscriber, if the port belongs to one.
    pub subscriber: Option<Ipv4Addr>,
    /// The subscriber's range on the public address.
    pub first_port: Option<u16>,
    /// Last port of that range.
    pub last_port: Option<u16>,
    /// The configuration file used.
    pub config: String,
    /// The epoch record checked, if logs were given.
    pub epoch: Option<EpochRef>,
}

/// An epoch record, for output.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EpochRef {
    /// When it came into force.
    pub since: String,
    /// The log file.
    pub file: String,
    /// Its line.
    pub line: u64,
}

/// Answers `public:port` at `t` with the configuration in force then.
/// `epochs` are (file, epoch) pairs from the logs (may be empty: then the
/// single configuration given is used as is).
pub fn reverse(configs: &[DetConfig], epochs: &[(String, Epoch)], public: Ipv4Addr, port: u16, t: Micros) -> Result<DetAnswer, CliError> {
    let in_force = epochs.iter().filter(|(_, e)| e.time <= t).max_by_key(|(_, e)| (e.time, e.line));
    let (cfg, epoch) = match in_force {
        Some((file, e)) => {
            let c = configs.iter().find(|c| matches_epoch(&c.map, e)).ok_or_else(|| {
                CliError::usage(format!(
                    "the deterministic epoch in force at {} ({file}:{}: inside from {}, pool from {}, ports {}-{}, {} per subscriber) matches none of the --config files",
                    format_time(t), e.line, e.first_inside, e.first_public, e.first_port, e.last_port, e.ports_per_subscriber
                ))
                .with_hint("pass the configuration that was in force then with --config (repeatable)")
            })?;
            (
                c,
                Some(EpochRef {
                    since: format_time(e.time),
                    file: file.clone(),
                    line: e.line,
                }),
            )
        }
        None if !epochs.is_empty() => {
            return Err(CliError::not_found(format!(
                "the logs show no deterministic epoch in force at {} (the first starts at {})",
                format_time(t),
                epochs.iter().map(|(_, e)| e.time).min().map(format_time).unwrap_or_default()
            )))
        }
        None if configs.len() == 1 => (&configs[0], None),
        None => {
            return Err(
                CliError::usage("several deterministic --config files but no det-epoch records to choose between them")
                    .with_hint("add --log-dir/--log with the NAT logs of the period"),
            )
        }
    };
    let subscriber = cfg.map.reverse(public, port);
    let range = subscriber.and_then(|s| cfg.map.forward(s));
    Ok(DetAnswer {
        subscriber,
        first_port: range.map(|r| r.first_port),
        last_port: range.map(|r| r.last_port),
        config: cfg.path.display().to_string(),
        epoch,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cgnat_core::config::NatConfig;

    fn cfg(pool: &str) -> DetConfig {
        let mut c = NatConfig {
            mode: Mode::Deterministic,
            ..Default::default()
        };
        c.inside_prefixes = vec!["100.64.0.0/22".parse().unwrap()];
        c.pool = vec![pool.parse().unwrap()];
        DetConfig {
            path: PathBuf::from(pool),
            map: DeterministicMap::new(&c).unwrap(),
        }
    }

    fn epoch(c: &DetConfig, time: Micros) -> Epoch {
        Epoch {
            time,
            first_inside: c.map.first_inside(),
            first_public: c.map.first_public(),
            first_port: c.map.port_range().first,
            last_port: c.map.port_range().last,
            ports_per_subscriber: c.map.ports_per_subscriber(),
            line: 1,
        }
    }

    #[test]
    fn epoch_selects_the_configuration() {
        let a = cfg("198.51.100.0/30");
        let b = cfg("203.0.113.0/28");
        let epochs = vec![("l".to_string(), epoch(&a, 100)), ("l".to_string(), epoch(&b, 200))];
        let configs = [a.clone(), b.clone()];
        let r = a.map.forward("100.64.1.7".parse().unwrap()).unwrap();
        let ans = reverse(&configs, &epochs, r.public_addr, r.first_port + 3, 150).unwrap();
        assert_eq!(ans.subscriber, Some("100.64.1.7".parse().unwrap()));
        assert_eq!(ans.first_port, Some(r.first_port));
        // At 250 the other pool is in force: the same address means nothing.
        assert_eq!(
            reverse(&configs, &epochs, r.public_addr, r.first_port, 250).unwrap().subscriber,
            None
        );
        assert_eq!(reverse(&configs, &epochs, r.public_addr, r.first_port, 50).unwrap_err().code, 1);
        assert_eq!(
            reverse(std::slice::from_ref(&a), &epochs, r.public_addr, r.first_port, 250)
                .unwrap_err()
                .code,
            2
        );
        // No logs: the one configuration.
        assert!(reverse(&[a], &[], r.public_addr, r.first_port, 0).unwrap().subscriber.is_some());
    }
}
