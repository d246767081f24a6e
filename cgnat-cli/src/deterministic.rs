//! Deterministic mode (RFC 7422): reverse lookups by formula, with the
//! configuration of the epoch in force at the time asked.
//!
//! A `det-epoch` log record names the first inside address, the first pool
//! address, the port range and the ports per subscriber of the
//! configuration that came into force; the `det-prefix` records that follow
//! it (by sequence number) list every inside prefix, then every pool
//! prefix, in numbering order. Together they rebuild the formula
//! ([`DeterministicMap`], the daemon's own) from the log alone (RFC 7422
//! section 2.3). Logs written before `det-prefix` existed need the
//! configuration files instead (`--config`, one per epoch if the
//! configuration changed): the epoch in force at the time selects the file
//! whose formula matches it. An epoch is in force from its record until
//! the next epoch or the end of its run (a clean stop, or the next run's
//! start after a crash).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::Serialize;

use cgnat_core::config::{file, DaemonConfig, Ipv4Prefix, Mode, NatConfig, PortRange};
use cgnat_core::natlog::run_name;
use cgnat_core::pool::DeterministicMap;

use crate::error::CliError;
use crate::index::{DetPrefix, Epoch, Summary};
use crate::runs::RunTable;
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

/// A `det-epoch` record of the logs, with the formula its `det-prefix`
/// records give.
#[derive(Clone, Debug)]
pub struct LogEpoch {
    /// The log file.
    pub file: String,
    /// The epoch record.
    pub epoch: Epoch,
    /// The formula from its prefixes: `None` if the log has no
    /// `det-prefix` record for it (written before they existed), an error
    /// if they do not make a valid formula matching the epoch.
    pub map: Option<Result<DeterministicMap, String>>,
}

impl LogEpoch {
    fn place(&self) -> String {
        format!("{}:{}", self.file, self.epoch.line)
    }
}

/// The deterministic epochs of the logs, each with its prefixes: those
/// of the same run whose sequence numbers follow the epoch's without a
/// gap (run 0: in the same file). `files`: (file name, summary).
pub fn log_epochs<'a>(files: impl IntoIterator<Item = (&'a str, &'a Summary)> + Clone) -> Vec<LogEpoch> {
    let prefixes: Vec<(&str, &DetPrefix)> = files
        .clone()
        .into_iter()
        .flat_map(|(f, s)| s.det_prefixes.iter().map(move |p| (f, p)))
        .collect();
    let mut out = Vec::new();
    for (file, s) in files {
        for e in &s.epochs {
            let mut mine: Vec<&(&str, &DetPrefix)> = prefixes
                .iter()
                .filter(|(f, p)| p.run == e.run && (e.run != 0 || *f == file) && p.seq > e.seq)
                .collect();
            mine.sort_by_key(|(_, p)| p.seq);
            mine.dedup_by_key(|(_, p)| p.seq);
            let run: Vec<&DetPrefix> = mine
                .iter()
                .enumerate()
                .take_while(|(k, (_, p))| p.seq == e.seq + 1 + *k as u64)
                .map(|(_, (_, p))| *p)
                .collect();
            let map = (!run.is_empty()).then(|| map_of(file, e, &run));
            out.push(LogEpoch {
                file: file.to_string(),
                epoch: e.clone(),
                map,
            });
        }
    }
    out.sort_by_key(|e| (e.epoch.time, e.epoch.run, e.epoch.seq));
    out
}

/// The formula of an epoch from its prefix records.
pub(crate) fn map_of(file: &str, e: &Epoch, prefixes: &[&DetPrefix]) -> Result<DeterministicMap, String> {
    let mut c = NatConfig {
        mode: Mode::Deterministic,
        port_range: PortRange {
            first: e.first_port,
            last: e.last_port,
        },
        ..NatConfig::default()
    };
    c.inside_prefixes.clear();
    c.pool.clear();
    for p in prefixes {
        let prefix = u8::try_from(p.len)
            .ok()
            .and_then(|len| Ipv4Prefix::new(p.addr, len))
            .ok_or_else(|| format!("{file}:{}: det-prefix {}/{} is not a prefix", p.line, p.addr, p.len))?;
        if p.inside {
            c.inside_prefixes.push(prefix);
        } else {
            c.pool.push(prefix);
        }
    }
    let at = format!("{file}:{}", e.line);
    let m = DeterministicMap::new(&c).ok_or_else(|| {
        format!("the det-prefix records of the det-epoch at {at} give no formula (no inside or no pool prefix, or no port per subscriber)")
    })?;
    if !matches_epoch(&m, e) {
        return Err(format!(
            "the det-prefix records of the det-epoch at {at} give a formula (inside from {}, pool from {}, {} ports per subscriber) that is not the epoch's (inside from {}, pool from {}, {} per subscriber)",
            m.first_inside(),
            m.first_public(),
            m.ports_per_subscriber(),
            e.first_inside,
            e.first_public,
            e.ports_per_subscriber
        ));
    }
    Ok(m)
}

/// What the logs say about deterministic mode at `t`.
#[derive(Clone, Debug)]
pub enum InForce<'a> {
    /// No deterministic epoch in the logs.
    NoEpochs,
    /// The logs' first epoch starts after `t`.
    Before(Micros),
    /// The latest epoch before `t` ended with its run (stopped or crashed)
    /// at this time.
    Ended(&'a LogEpoch, Micros),
    /// This epoch was in force.
    Epoch(&'a LogEpoch),
}

/// The epoch in force at `t`: the latest at or before `t`, unless its run
/// had ended by then.
pub fn in_force<'a>(epochs: &'a [LogEpoch], runs: &RunTable, t: Micros) -> InForce<'a> {
    let Some(e) = epochs
        .iter()
        .filter(|e| e.epoch.time <= t)
        .max_by_key(|e| (e.epoch.time, e.epoch.seq, e.epoch.line))
    else {
        return match epochs.iter().map(|e| e.epoch.time).min() {
            Some(first) => InForce::Before(first),
            None => InForce::NoEpochs,
        };
    };
    match runs.end_of(e.epoch.run) {
        Some(end) if end.ended_by() <= t => InForce::Ended(e, end.ended_by()),
        _ => InForce::Epoch(e),
    }
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
    /// The configuration file used, or `log` (the epoch's own records).
    pub config: String,
    /// The inside prefixes of the formula, in numbering order.
    pub inside_prefixes: Vec<String>,
    /// The pool prefixes of the formula, in numbering order.
    pub pool_prefixes: Vec<String>,
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

/// Answers `public:port` at `t` with the formula in force then: from the
/// `--config` file matching the epoch in force, else from the epoch's own
/// records. `epochs` come from the logs (may be empty: then the single
/// configuration given is used as is).
pub fn reverse(
    configs: &[DetConfig],
    epochs: &[LogEpoch],
    runs: &RunTable,
    public: Ipv4Addr,
    port: u16,
    t: Micros,
) -> Result<DetAnswer, CliError> {
    let (map, config, epoch) = match in_force(epochs, runs, t) {
        InForce::Epoch(e) if !configs.is_empty() => {
            let c = configs.iter().find(|c| matches_epoch(&c.map, &e.epoch)).ok_or_else(|| {
                let ep = &e.epoch;
                CliError::usage(format!(
                    "the deterministic epoch in force at {} ({}: inside from {}, pool from {}, ports {}-{}, {} per subscriber) matches none of the --config files",
                    format_time(t), e.place(), ep.first_inside, ep.first_public, ep.first_port, ep.last_port, ep.ports_per_subscriber
                ))
                .with_hint("pass the configuration that was in force then with --config (repeatable), or none: logs with det-prefix records answer alone")
            })?;
            (c.map.clone(), c.path.display().to_string(), Some(e))
        }
        InForce::Epoch(e) => match &e.map {
            Some(Ok(m)) => (m.clone(), "log".to_string(), Some(e)),
            Some(Err(why)) => return Err(CliError::usage(why.clone())),
            None => {
                return Err(CliError::usage(format!(
                    "the deterministic epoch in force at {} ({}) has no det-prefix records (written before they were logged)",
                    format_time(t),
                    e.place()
                ))
                .with_hint("pass the configuration that was in force then with --config"))
            }
        },
        InForce::Ended(e, at) => {
            return Err(CliError::not_found(format!(
                "the deterministic epoch of {} ended with its run {} at {} (nothing was translated by it at {})",
                e.place(),
                run_name(e.epoch.run),
                format_time(at),
                format_time(t)
            )))
        }
        InForce::Before(first) => {
            return Err(CliError::not_found(format!(
                "the logs show no deterministic epoch in force at {} (the first starts at {})",
                format_time(t),
                format_time(first)
            )))
        }
        InForce::NoEpochs if configs.len() == 1 => (configs[0].map.clone(), configs[0].path.display().to_string(), None),
        InForce::NoEpochs if configs.is_empty() => {
            return Err(CliError::usage(
                "no deterministic configuration and no det-epoch record in the logs",
            ))
        }
        InForce::NoEpochs => {
            return Err(
                CliError::usage("several deterministic --config files but no det-epoch records to choose between them")
                    .with_hint("add --log-dir/--log with the NAT logs of the period"),
            )
        }
    };
    let subscriber = map.reverse(public, port);
    let range = subscriber.and_then(|s| map.forward(s));
    Ok(DetAnswer {
        subscriber,
        first_port: range.map(|r| r.first_port),
        last_port: range.map(|r| r.last_port),
        config,
        inside_prefixes: map.inside_prefixes().iter().map(|p| p.to_string()).collect(),
        pool_prefixes: map.pool_prefixes().iter().map(|p| p.to_string()).collect(),
        epoch: epoch.map(|e| EpochRef {
            since: format_time(e.epoch.time),
            file: e.file.clone(),
            line: e.epoch.line,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::RunSummary;

    fn nat(inside: &[&str], pool: &[&str]) -> NatConfig {
        let mut c = NatConfig {
            mode: Mode::Deterministic,
            ..Default::default()
        };
        c.inside_prefixes = inside.iter().map(|p| p.parse().unwrap()).collect();
        c.pool = pool.iter().map(|p| p.parse().unwrap()).collect();
        c
    }

    fn cfg(pool: &str) -> DetConfig {
        DetConfig {
            path: PathBuf::from(pool),
            map: DeterministicMap::new(&nat(&["100.64.0.0/22"], &[pool])).unwrap(),
        }
    }

    fn epoch(m: &DeterministicMap, time: Micros, run: u64, seq: u64) -> Epoch {
        Epoch {
            time,
            first_inside: m.first_inside(),
            first_public: m.first_public(),
            first_port: m.port_range().first,
            last_port: m.port_range().last,
            ports_per_subscriber: m.ports_per_subscriber(),
            line: seq + 1,
            run,
            seq,
        }
    }

    /// A log summary as the daemon writes an epoch: the det-epoch record,
    /// then one det-prefix per inside prefix, then per pool prefix.
    fn logged(m: &DeterministicMap, time: Micros, run: u64, seq: u64) -> Summary {
        let mut s = Summary {
            epochs: vec![epoch(m, time, run, seq)],
            ..Summary::default()
        };
        let all = m
            .inside_prefixes()
            .iter()
            .map(|p| (true, p))
            .chain(m.pool_prefixes().iter().map(|p| (false, p)));
        for (k, (inside, p)) in all.enumerate() {
            let seq = seq + 1 + k as u64;
            s.det_prefixes.push(DetPrefix {
                run,
                seq,
                line: seq + 1,
                inside,
                addr: p.addr(),
                len: p.len() as u64,
            });
        }
        s
    }

    fn legacy(c: &DetConfig, time: Micros) -> LogEpoch {
        LogEpoch {
            file: "l".into(),
            epoch: epoch(&c.map, time, 0, 0),
            map: None,
        }
    }

    #[test]
    fn epoch_selects_the_configuration() {
        let a = cfg("198.51.100.0/30");
        let b = cfg("203.0.113.0/28");
        let epochs = vec![legacy(&a, 100), legacy(&b, 200)];
        let runs = RunTable::default();
        let configs = [a.clone(), b.clone()];
        let r = a.map.forward("100.64.1.7".parse().unwrap()).unwrap();
        let ans = reverse(&configs, &epochs, &runs, r.public_addr, r.first_port + 3, 150).unwrap();
        assert_eq!(ans.subscriber, Some("100.64.1.7".parse().unwrap()));
        assert_eq!(ans.first_port, Some(r.first_port));
        // At 250 the other pool is in force: the same address means nothing.
        assert_eq!(
            reverse(&configs, &epochs, &runs, r.public_addr, r.first_port, 250)
                .unwrap()
                .subscriber,
            None
        );
        assert_eq!(
            reverse(&configs, &epochs, &runs, r.public_addr, r.first_port, 50).unwrap_err().code,
            1
        );
        assert_eq!(
            reverse(std::slice::from_ref(&a), &epochs, &runs, r.public_addr, r.first_port, 250)
                .unwrap_err()
                .code,
            2
        );
        // No logs: the one configuration.
        assert!(reverse(std::slice::from_ref(&a), &[], &runs, r.public_addr, r.first_port, 0)
            .unwrap()
            .subscriber
            .is_some());
        // A legacy epoch (no det-prefix records) without --config: exit 2, naming it.
        let e = reverse(&[], &epochs, &runs, r.public_addr, r.first_port, 150).unwrap_err();
        assert_eq!(e.code, 2);
        assert!(e.message.contains("l:1") && e.message.contains("no det-prefix"), "{e}");
    }

    #[test]
    fn rfc7422_reversed_from_the_log_alone() {
        // RFC 7422 section 2.3: the log must let the operator reverse the
        // mapping; here from det-epoch and det-prefix records, no --config.
        let m = DeterministicMap::new(&nat(&["100.64.0.0/23", "100.65.4.0/24"], &["198.51.100.0/30", "203.0.113.8/31"])).unwrap();
        let s = logged(&m, 100, 7, 3);
        let epochs = log_epochs([("nat.log", &s)]);
        assert_eq!(epochs.len(), 1);
        assert!(matches!(epochs[0].map, Some(Ok(_))), "{:?}", epochs[0].map);
        let runs = RunTable::from_summaries([&s]);
        let mut checked = 0;
        for p in m.inside_prefixes() {
            for i in (0..p.size() as u32).step_by(13) {
                let a = Ipv4Addr::from(p.addr_u32() + i);
                let r = m.forward(a).unwrap();
                for port in [r.first_port, r.last_port] {
                    let ans = reverse(&[], &epochs, &runs, r.public_addr, port, 200).unwrap();
                    assert_eq!(ans.subscriber, Some(a));
                    assert_eq!((ans.first_port, ans.last_port), (Some(r.first_port), Some(r.last_port)));
                    assert_eq!(ans.config, "log");
                    checked += 1;
                }
            }
        }
        assert!(checked > 100);
        let ans = reverse(&[], &epochs, &runs, "203.0.113.9".parse().unwrap(), 1024, 200).unwrap();
        assert_eq!(ans.inside_prefixes, ["100.64.0.0/23", "100.65.4.0/24"]);
        assert_eq!(ans.pool_prefixes, ["198.51.100.0/30", "203.0.113.8/31"]);
    }

    #[test]
    fn bad_or_missing_prefixes_and_ended_runs() {
        let m = DeterministicMap::new(&nat(&["100.64.0.0/22"], &["192.0.2.0/30"])).unwrap();
        // A prefix record that contradicts the epoch.
        let mut s = logged(&m, 100, 7, 0);
        s.det_prefixes[0].len = 23;
        let e = &log_epochs([("nat.log", &s)])[0];
        assert!(matches!(&e.map, Some(Err(m)) if m.contains("nat.log:1")), "{:?}", e.map);
        s.det_prefixes[0].len = 40;
        let e = &log_epochs([("nat.log", &s)])[0];
        assert!(matches!(&e.map, Some(Err(m)) if m.contains("is not a prefix")), "{:?}", e.map);
        // A gap in the sequence: the prefixes after it are not the epoch's.
        let mut s = logged(&m, 100, 7, 0);
        s.det_prefixes[1].seq = 9;
        let e = &log_epochs([("nat.log", &s)])[0];
        assert!(matches!(&e.map, Some(Err(_))), "only the inside prefix: no pool");
        // Its run stopped at 300: not in force after.
        let mut s = logged(&m, 100, 7, 0);
        s.runs.push(RunSummary {
            run: 7,
            first_time: 100,
            last_time: 300,
            start: Some((100, 1)),
            stop: Some((300, 9)),
        });
        let epochs = log_epochs([("nat.log", &s)]);
        let runs = RunTable::from_summaries([&s]);
        assert!(matches!(in_force(&epochs, &runs, 200), InForce::Epoch(_)));
        assert!(matches!(in_force(&epochs, &runs, 300), InForce::Ended(_, 300)));
        assert!(matches!(in_force(&epochs, &runs, 50), InForce::Before(100)));
        let e = reverse(&[], &epochs, &runs, "192.0.2.0".parse().unwrap(), 1024, 400).unwrap_err();
        assert_eq!(e.code, 1);
        assert!(e.message.contains("ended with its run 0000000000000007"), "{e}");
    }
}
