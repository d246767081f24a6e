//! `cgnatctl lookup PUBLIC_IP:PORT [--at TIME]`: live, from the NAT logs,
//! or by formula (deterministic mode).
//!
//! From the logs: every file is indexed ([`files`]), the intervals of the
//! port are stitched across files ([`history::stitch`]), the blocks left
//! open by runs that ended are ended ([`history::end_runs`]), and the
//! holder at the time is read off ([`history::at_time`]). In deterministic
//! mode the formula of the epoch in force answers ([`deterministic`]).

pub mod files;
pub mod render;

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Instant as Clock;

use serde::Serialize;

use cgnat_core::config::DaemonConfig;
use cgnat_core::control::{Request, Response};

use crate::cli::{LookupArgs, ProtoArg};
use crate::client::{unexpected, Client};
use crate::deterministic::{self, DetAnswer, InForce};
use crate::error::{CliError, CmdResult, EXIT_NOT_COVERED, EXIT_NOT_FOUND, EXIT_OK};
use crate::history::{self, AtTime, FileIntervals, Holding, LiveHolding};
use crate::live::parse_endpoint;
use crate::logfile;
use crate::output::{emit, Format};
use crate::record::Proto;
use crate::runs::RunTable;
use crate::timefmt::{format_time, parse_time, Micros};

pub use files::{index_all, index_cmd, log_files, FileInfo};
pub use render::render;

/// What a lookup concluded (`outcome` in `--json`; the exit code).
#[derive(Copy, Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Someone held the port (exit 0).
    Held,
    /// Nobody held the port at that time, and the logs cover it (exit 1).
    Nobody,
    /// The address is not one of the NAT's public addresses (exit 1).
    NotInPool,
    /// The logs do not cover the time: no answer either way (exit 3).
    NotCovered,
}

impl Outcome {
    /// The exit code of the outcome.
    pub fn exit_code(self) -> i32 {
        match self {
            Outcome::Held => EXIT_OK,
            Outcome::Nobody | Outcome::NotInPool => EXIT_NOT_FOUND,
            Outcome::NotCovered => EXIT_NOT_COVERED,
        }
    }
}

/// The period the NAT logs of a lookup cover.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Coverage {
    /// The oldest record.
    #[serde(serialize_with = "crate::timefmt::serialize_time")]
    pub from: Micros,
    /// The newest record.
    #[serde(serialize_with = "crate::timefmt::serialize_time")]
    pub to: Micros,
}

/// What a lookup found: one schema for live, historical and deterministic
/// answers (issue 15: "live and historical `--json` share one schema").
#[derive(Clone, Debug, Serialize)]
pub struct LookupReport {
    /// The public address asked about.
    pub public: Ipv4Addr,
    /// The port asked about.
    pub port: u16,
    /// The time asked about (UTC).
    pub at: String,
    /// The protocol asked about (`null`: any).
    pub protocol: Option<Proto>,
    /// `live`, `logs` or `deterministic`.
    pub source: &'static str,
    /// What the lookup concluded.
    pub outcome: Outcome,
    /// Whether someone held it.
    pub found: bool,
    /// Whether the answer is certain: `false` when the holder's run
    /// crashed and the time is after its last record (nobody else can have
    /// held the port, but the block may have been gone already).
    pub certain: bool,
    /// The period the logs cover (`null` for a live lookup).
    pub covered: Option<Coverage>,
    /// Holders, previous and next holders.
    #[serde(flatten)]
    pub history: AtTime,
    /// Deterministic mode: the formula's answer.
    pub deterministic: Option<DetAnswer>,
    /// The log files read.
    pub logs: Vec<FileInfo>,
    /// Malformed lines, skipped files and coverage notes.
    pub warnings: Vec<String>,
}

fn proto_of(p: Option<ProtoArg>) -> Option<Proto> {
    p.map(|p| match p {
        ProtoArg::Tcp => Proto::Tcp,
        ProtoArg::Udp => Proto::Udp,
        ProtoArg::Icmp => Proto::Icmp,
    })
}

/// The configuration file `cgnatctl` reads for the pool when no
/// `--config` is given (the packaged one, as `cgnatd` does).
pub const DEFAULT_CONFIG: &str = "/etc/cgnat/cgnatd.toml";

/// The pool a lookup checks addresses against: (where it came from, the
/// configuration), from `--config` or the packaged file if readable.
fn pool_config(configs: &[(PathBuf, DaemonConfig)]) -> Option<(String, cgnat_core::config::NatConfig)> {
    if let Some((p, c)) = configs.iter().find(|(_, c)| c.nat.mode == cgnat_core::config::Mode::Dynamic) {
        return Some((p.display().to_string(), c.nat.clone()));
    }
    if !configs.is_empty() {
        return None;
    }
    let p = Path::new(DEFAULT_CONFIG);
    let c = cgnat_core::config::file::load(Some(p)).ok()?;
    (c.nat.mode == cgnat_core::config::Mode::Dynamic).then(|| (p.display().to_string(), c.nat))
}

/// The NAT logs named by `--log` and `--log-dir` (only NAT logs of the
/// directory: a note about the others goes to `warnings`); whether a
/// whole directory was read.
fn named_logs(a: &LookupArgs, warnings: &mut Vec<String>) -> Result<(Vec<PathBuf>, bool), CliError> {
    let mut paths = a.logs.logs.clone();
    if let Some(d) = &a.logs.log_dir {
        let n = logfile::nat_logs_in_dir(d)?;
        warnings.extend(n.skipped_note(d));
        paths.extend(n.files);
    }
    Ok((paths, a.logs.logs.is_empty() && a.logs.log_dir.is_some()))
}

/// `cgnatctl lookup`. `socket`: `--socket` if given (else the `--config`
/// file's `control.socket`, else the default).
pub fn run(socket: Option<&Path>, a: &LookupArgs, f: Format, timing: bool) -> CmdResult {
    let (public, port) = parse_endpoint(&a.target, false)?;
    let port = port.unwrap_or(0);
    let proto = proto_of(a.proto);
    let configs: Vec<(PathBuf, DaemonConfig)> = a
        .configs
        .iter()
        .map(|p| deterministic::load_config(p).map(|c| (p.clone(), c)))
        .collect::<Result<_, _>>()?;
    let det = deterministic::det_configs(&configs);
    let mut warnings = Vec::new();
    // A time is read (and a bad one refused) before anything else.
    let at: Micros = match &a.at {
        Some(t) => parse_time(t).map_err(CliError::usage)?,
        None => crate::timefmt::now(),
    };
    let (mut paths, mut whole_dir) = named_logs(a, &mut warnings)?;
    let historical = a.at.as_deref().is_some_and(|t| !t.eq_ignore_ascii_case("now"));
    if paths.is_empty() && det.is_empty() {
        if !historical {
            let socket = match (socket, configs.first()) {
                (Some(s), _) => s.to_path_buf(),
                (None, Some((_, c))) => c.control.socket.clone(),
                (None, None) => crate::client::socket_path(None),
            };
            let mut c = Client::connect(&socket)?;
            return live(&mut c, public, port, proto, f);
        }
        // A past time and no logs named: the configured log's directory.
        let cfg_log = configs
            .first()
            .map(|(_, c)| c.log.file.clone())
            .unwrap_or_else(|| DaemonConfig::default().log.file);
        let dir = cfg_log.parent().map(Path::to_path_buf).unwrap_or_default();
        if !dir.is_dir() {
            return Err(CliError::usage(format!(
                "a lookup at a past time reads the NAT logs, and {} does not exist",
                dir.display()
            ))
            .with_hint("name them with --log-dir DIR or --log FILE (rotated and .gz files are read too)"));
        }
        let n = logfile::nat_logs_in_dir(&dir)?;
        warnings.extend(n.skipped_note(&dir));
        paths = n.files;
        whole_dir = true;
    }
    let t0 = Clock::now();
    let indexed = files::index_logs(&paths, &a.logs, whole_dir)?;
    let t1 = Clock::now();
    files::check_readable(&indexed, a.skip_malformed, &mut warnings)?;
    let names: Vec<String> = indexed.iter().map(|(p, _, _)| p.display().to_string()).collect();
    let summaries: Vec<(&str, &crate::index::Summary)> = names
        .iter()
        .map(String::as_str)
        .zip(indexed.iter().map(|(_, ix, _)| ix.summary()))
        .collect();
    let runs = RunTable::from_summaries(summaries.iter().map(|(_, s)| *s));
    let epochs = deterministic::log_epochs(summaries.iter().copied());
    let mut per_file = Vec::new();
    let mut infos = Vec::new();
    let mut address_logged = false;
    for ((path, ix, st), name) in indexed.iter().zip(&names) {
        let s = ix.summary();
        infos.push(FileInfo::new(name.clone(), s, *st));
        let ix_err = |e: std::io::Error| CliError::usage(format!("cannot read the index of {}: {e}", path.display()));
        address_logged = address_logged || ix.knows_address(public).map_err(ix_err)?;
        if let Some(first) = s.first_time {
            let intervals = ix.query(public, port).map_err(ix_err)?;
            per_file.push(FileIntervals {
                file: name.clone(),
                first_time: first,
                intervals,
            });
        }
    }
    let mut holdings: Vec<Holding> = history::stitch(per_file);
    history::end_runs(&mut holdings, &runs);
    let answer = history::at_time(&holdings, at, proto);
    let t2 = Clock::now();
    if timing {
        eprintln!(
            "timing: index {:.1} ms ({} files), query {:.3} ms",
            (t1 - t0).as_secs_f64() * 1e3,
            paths.len(),
            (t2 - t1).as_secs_f64() * 1e3
        );
    }
    let first = summaries.iter().filter_map(|(_, s)| s.first_time).min();
    let last = summaries.iter().filter_map(|(_, s)| s.last_time).max();
    let found = !answer.holders.is_empty();
    let mut report = LookupReport {
        public,
        port,
        at: format_time(at),
        protocol: proto,
        source: "logs",
        outcome: if found { Outcome::Held } else { Outcome::Nobody },
        found,
        certain: answer.holders.iter().all(|h| h.certain_at(at)),
        covered: first.zip(last).map(|(from, to)| Coverage { from, to }),
        history: answer,
        deterministic: None,
        logs: infos,
        warnings,
    };
    let in_force = deterministic::in_force(&epochs, &runs, at);
    if let (false, InForce::Ended(e, end)) = (report.found, &in_force) {
        report.warnings.push(format!(
            "the deterministic epoch of {}:{} ended with its run {} at {}",
            e.file,
            e.epoch.line,
            cgnat_core::natlog::run_name(e.epoch.run),
            format_time(*end)
        ));
    }
    let det_in_force = matches!(in_force, InForce::Epoch(_));
    if !report.found && (!det.is_empty() || det_in_force) {
        let d = deterministic::reverse(&det, &epochs, &runs, public, port, at)?;
        report.source = "deterministic";
        report.found = d.subscriber.is_some();
        report.outcome = if report.found { Outcome::Held } else { Outcome::Nobody };
        report.deterministic = Some(d);
    } else if !report.found {
        report.outcome = not_found_outcome(&mut report, pool_config(&configs), address_logged, at);
    }
    let live_holder = report.history.holders.iter().any(|h| h.released.is_none());
    if let Some(l) = last.filter(|l| at > *l && live_holder && report.source == "logs") {
        // The holder at the end of the logs; after it, not certain.
        report.certain = false;
        report.warnings.push(format!(
            "{} is after the last NAT log record ({}): held as of then",
            format_time(at),
            format_time(l)
        ));
    }
    for w in &report.warnings {
        if f == Format::Human {
            eprintln!("warning: {w}");
        }
    }
    emit(f, &report, || render(&report))?;
    Ok(report.outcome.exit_code())
}

/// Why nobody was found: the address is not the NAT's, the logs do not
/// cover the time, or nobody held the port then (issue 15: each its own
/// answer). The reason is added to the report's warnings.
fn not_found_outcome(
    r: &mut LookupReport,
    pool: Option<(String, cgnat_core::config::NatConfig)>,
    address_logged: bool,
    at: Micros,
) -> Outcome {
    let a = r.public;
    if let Some((file, nat)) = &pool {
        if !nat.is_pool_address(a) {
            let pool: Vec<String> = nat.pool.iter().map(|p| p.to_string()).collect();
            r.warnings.push(format!(
                "{a} is not a public address of this NAT (the pool of {file}: {})",
                pool.join(" ")
            ));
            return Outcome::NotInPool;
        }
    }
    let Some(c) = r.covered.clone() else {
        r.warnings.push("the NAT logs hold no record".into());
        return Outcome::NotCovered;
    };
    if at < c.from || at > c.to {
        let (side, need) = if at < c.from {
            ("before", "older logs")
        } else {
            ("after", "newer logs, or the running daemon (lookup without --at)")
        };
        r.warnings.push(format!(
            "{} is {side} the period the NAT logs cover ({} to {}): {need} are needed to answer",
            format_time(at),
            format_time(c.from),
            format_time(c.to)
        ));
        return Outcome::NotCovered;
    }
    if pool.is_none() && !address_logged {
        r.warnings.push(format!(
            "{a} appears in no block record of these NAT logs: not a public address of this NAT, or one none of whose ports was allocated in the period they cover (--config FILE checks it against the pool)"
        ));
        return Outcome::NotInPool;
    }
    Outcome::Nobody
}

/// Live lookup through the daemon, in the schema of the historical one.
fn live(c: &mut Client, public: Ipv4Addr, port: u16, proto: Option<Proto>, f: Format) -> CmdResult {
    let r = match c.call(Request::Lookup { public, port })? {
        Response::Lookup(r) => r,
        r => return Err(unexpected(&r)),
    };
    let report = live_report(&r, proto, crate::timefmt::now());
    emit(f, &report, || render(&report))?;
    Ok(report.outcome.exit_code())
}

/// The report of a live lookup (the daemon's answer `r` at `now`).
pub fn live_report(r: &cgnat_core::control::LookupResult, proto: Option<Proto>, now: Micros) -> LookupReport {
    let holder = r.owner.as_ref().map(|o| {
        let static_proto = (o.kind == "static" && o.mappings.len() == 1).then(|| match o.mappings[0].0 {
            cgnat_core::control::ProtocolName::Tcp => Proto::Tcp,
            cgnat_core::control::ProtocolName::Udp => Proto::Udp,
            cgnat_core::control::ProtocolName::Icmp => Proto::Icmp,
        });
        Holding {
            subscriber: o.subscriber,
            public: o.block.public,
            first_port: o.block.first_port,
            last_port: o.block.last_port,
            protocol: static_proto.unwrap_or(Proto::All),
            allocated: parse_time(&o.block.allocated_at).unwrap_or(0),
            allocated_before_logs: false,
            allocation_restated: false,
            released: None,
            release_inferred: false,
            allocation_record: None,
            release_record: None,
            run: r.run,
            run_ended: None,
            certain_until: None,
            live: Some(LiveHolding {
                kind: o.kind.clone(),
                mappings: o.mappings.clone(),
                block_mappings: o.block.mappings,
            }),
        }
    });
    let holders: Vec<Holding> = holder.into_iter().filter(|h| h.protocol.matches(proto)).collect();
    let found = !holders.is_empty();
    let mut warnings = Vec::new();
    let outcome = if found {
        Outcome::Held
    } else if !r.in_pool {
        warnings.push(format!("{} is not a public address of this NAT (not in its pool)", r.public));
        Outcome::NotInPool
    } else {
        Outcome::Nobody
    };
    LookupReport {
        public: r.public,
        port: r.port,
        at: format_time(now),
        protocol: proto,
        source: "live",
        outcome,
        found,
        certain: true,
        covered: None,
        history: AtTime {
            holders,
            previous: None,
            next: None,
        },
        deterministic: None,
        logs: Vec::new(),
        warnings,
    }
}
