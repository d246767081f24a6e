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
use crate::error::{CliError, CmdResult, EXIT_NOT_FOUND, EXIT_OK};
use crate::history::{self, AtTime, FileIntervals, Holding};
use crate::live::parse_endpoint;
use crate::logfile;
use crate::output::{emit, Format};
use crate::record::Proto;
use crate::runs::RunTable;
use crate::timefmt::{format_time, parse_time, Micros};

pub use files::{index_all, index_cmd, log_files, FileInfo};
pub use render::render;

/// What a lookup found.
#[derive(Clone, Debug, Serialize)]
pub struct LookupReport {
    /// The public address asked about.
    pub public: Ipv4Addr,
    /// The port asked about.
    pub port: u16,
    /// The time asked about.
    pub at: String,
    /// The protocol asked about (`null`: any).
    pub protocol: Option<Proto>,
    /// `logs`, `deterministic` or `live`.
    pub source: &'static str,
    /// Whether someone held it.
    pub found: bool,
    /// Whether the answer is certain: `false` when the holder's run
    /// crashed and the time is after its last record (nobody else can have
    /// held the port, but the block may have been gone already).
    pub certain: bool,
    /// From the logs: holders, previous and next holders.
    #[serde(flatten)]
    pub history: AtTime,
    /// Deterministic mode: the formula's answer.
    pub deterministic: Option<DetAnswer>,
    /// The log files read.
    pub logs: Vec<FileInfo>,
    /// Malformed lines and coverage problems.
    pub warnings: Vec<String>,
}

fn proto_of(p: Option<ProtoArg>) -> Option<Proto> {
    p.map(|p| match p {
        ProtoArg::Tcp => Proto::Tcp,
        ProtoArg::Udp => Proto::Udp,
        ProtoArg::Icmp => Proto::Icmp,
    })
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
    let mut paths = log_files(&a.logs)?;
    let mut whole_dir = a.logs.logs.is_empty() && a.logs.log_dir.is_some();
    let historical = a.at.as_deref().is_some_and(|t| !t.eq_ignore_ascii_case("now"));
    if paths.is_empty() && det.is_empty() {
        if !historical {
            let socket = match (socket, configs.first()) {
                (Some(s), _) => s.to_path_buf(),
                (None, Some((_, c))) => c.control.socket.clone(),
                (None, None) => crate::client::socket_path(None),
            };
            let mut c = Client::connect(&socket)?;
            return live(&mut c, public, port, f);
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
        paths = logfile::files_in_dir(&dir)?;
        whole_dir = true;
    }
    let at: Micros = match &a.at {
        Some(t) => parse_time(t).map_err(CliError::usage)?,
        None => crate::timefmt::now(),
    };
    let t0 = Clock::now();
    let indexed = files::index_logs(&paths, &a.logs, whole_dir)?;
    let t1 = Clock::now();
    let mut warnings = Vec::new();
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
    for ((path, ix, st), name) in indexed.iter().zip(&names) {
        let s = ix.summary();
        infos.push(FileInfo::new(name.clone(), s, *st));
        if let Some(first) = s.first_time {
            let intervals = ix
                .query(public, port)
                .map_err(|e| CliError::usage(format!("cannot read the index of {}: {e}", path.display())))?;
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
    let mut report = LookupReport {
        public,
        port,
        at: format_time(at),
        protocol: proto,
        source: "logs",
        found: !answer.holders.is_empty(),
        certain: answer.holders.iter().all(|h| h.certain_at(at)),
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
        report.deterministic = Some(d);
    } else if !report.found {
        match (first, last) {
            (None, _) => report.warnings.push("the NAT logs hold no record".into()),
            (Some(first), _) if at < first => report.warnings.push(format!(
                "{} is before the oldest NAT log record ({}): older logs are needed to answer",
                format_time(at),
                format_time(first)
            )),
            _ => {}
        }
    }
    let live_holder = report.history.holders.iter().any(|h| h.released.is_none());
    if let Some(l) = last.filter(|l| at > *l && live_holder && report.source == "logs") {
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
    Ok(if report.found { EXIT_OK } else { EXIT_NOT_FOUND })
}

/// Live lookup through the daemon.
fn live(c: &mut Client, public: Ipv4Addr, port: u16, f: Format) -> CmdResult {
    let r = match c.call(Request::Lookup { public, port })? {
        Response::Lookup(r) => r,
        r => return Err(unexpected(&r)),
    };
    emit(f, &r, || match &r.owner {
        None => format!("nobody holds {public}:{port} now\n"),
        Some(o) => {
            let mut s = format!("{public}:{port} is held by {} ({}, live)\n", o.subscriber, o.kind);
            s.push_str(&format!(
                "  block      {} ports {}-{}, allocated {}, {} mappings\n",
                o.block.public, o.block.first_port, o.block.last_port, o.block.allocated_at, o.block.mappings
            ));
            for (p, inside) in &o.mappings {
                let p = serde_json::to_value(p)
                    .ok()
                    .and_then(|v| v.as_str().map(String::from))
                    .unwrap_or_default();
                s.push_str(&format!("  mapping    {p} {}:{inside} -> {public}:{port}\n", o.subscriber));
            }
            s
        }
    })?;
    Ok(if r.owner.is_some() { EXIT_OK } else { EXIT_NOT_FOUND })
}
