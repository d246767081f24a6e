//! `cgnatctl lookup PUBLIC_IP:PORT [--at TIME]`: live, from the NAT logs,
//! or by formula (deterministic mode).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant as Clock;

use serde::Serialize;

use cgnat_core::config::DaemonConfig;
use cgnat_core::control::{Request, Response};

use crate::cli::{LogArgs, LookupArgs, ProtoArg};
use crate::client::{unexpected, Client};
use crate::deterministic::{self, DetAnswer};
use crate::error::{CliError, CmdResult, EXIT_NOT_FOUND, EXIT_OK};
use crate::history::{self, AtTime, FileIntervals, Holding};
use crate::index::Epoch;
use crate::live::parse_endpoint;
use crate::logfile::{self, IndexPolicy, IndexState, Indexed};
use crate::output::{emit, Format};
use crate::record::Proto;
use crate::timefmt::{format_time, parse_time, Micros};

/// One log file as used by a lookup.
#[derive(Clone, Debug, Serialize)]
pub struct FileInfo {
    /// The file.
    pub path: String,
    /// Its first record.
    pub first_time: Option<String>,
    /// Its last record.
    pub last_time: Option<String>,
    /// Lines read.
    pub lines: u64,
    /// Lines that did not parse.
    pub bad_lines: u64,
    /// `reused`, `built` or `in-memory`.
    pub index: &'static str,
}

impl FileInfo {
    fn new(path: String, s: &crate::index::Summary, st: IndexState) -> Self {
        FileInfo {
            path,
            first_time: s.first_time.map(format_time),
            last_time: s.last_time.map(format_time),
            lines: s.lines,
            bad_lines: s.bad_line_count,
            index: match st {
                IndexState::Reused => "reused",
                IndexState::Built => "built",
                IndexState::InMemory => "in-memory",
            },
        }
    }
}

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

/// The log files named by `--log` / `--log-dir`.
pub fn log_files(a: &LogArgs) -> Result<Vec<PathBuf>, CliError> {
    let mut files = a.logs.clone();
    if let Some(d) = &a.log_dir {
        files.extend(logfile::files_in_dir(d)?);
    }
    Ok(files)
}

/// Indexes the logs of `a`, then drops the indexes of files that are gone
/// when a whole directory was read.
fn index_logs(files: &[PathBuf], a: &LogArgs, whole_dir: bool) -> Result<Vec<(PathBuf, Indexed, IndexState)>, CliError> {
    let p = policy(a);
    let r = index_all(files, &p)?;
    if whole_dir && !p.no_index {
        logfile::remove_stale_indexes(files, &p);
    }
    Ok(r)
}

/// Indexes every file (in parallel, one thread per core).
pub fn index_all(files: &[PathBuf], policy: &IndexPolicy) -> Result<Vec<(PathBuf, Indexed, IndexState)>, CliError> {
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(files.len())
        .max(1);
    let next = AtomicUsize::new(0);
    type Slot = Option<Result<(Indexed, IndexState), CliError>>;
    let results: Mutex<Vec<Slot>> = Mutex::new((0..files.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= files.len() {
                    break;
                }
                let r = logfile::indexed(&files[i], policy);
                if let Ok(mut v) = results.lock() {
                    v[i] = Some(r);
                }
            });
        }
    });
    let results = results.into_inner().unwrap_or_default();
    files
        .iter()
        .zip(results)
        .map(|(p, r)| {
            let (ix, st) = r.unwrap_or_else(|| Err(CliError::usage(format!("indexing {} failed", p.display()))))?;
            Ok((p.clone(), ix, st))
        })
        .collect()
}

fn proto_of(p: Option<ProtoArg>) -> Option<Proto> {
    p.map(|p| match p {
        ProtoArg::Tcp => Proto::Tcp,
        ProtoArg::Udp => Proto::Udp,
        ProtoArg::Icmp => Proto::Icmp,
    })
}

/// Malformed-line warnings of one file (the first few, then a count).
fn bad_line_warnings(path: &Path, s: &crate::index::Summary, out: &mut Vec<String>) {
    for b in s.bad_lines.iter().take(5) {
        out.push(format!("{}:{}: malformed line skipped: {}", path.display(), b.line, b.message));
    }
    if s.bad_line_count > 5 {
        out.push(format!("{}: {} malformed lines in all", path.display(), s.bad_line_count));
    }
}

fn policy(a: &LogArgs) -> IndexPolicy {
    IndexPolicy {
        index_dir: a.index_dir.clone(),
        no_index: a.no_index,
        rebuild: a.rebuild_index,
    }
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
    let mut files = log_files(&a.logs)?;
    let mut whole_dir = a.logs.logs.is_empty() && a.logs.log_dir.is_some();
    let historical = a.at.as_deref().is_some_and(|t| !t.eq_ignore_ascii_case("now"));
    if files.is_empty() && det.is_empty() {
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
        files = logfile::files_in_dir(&dir)?;
        whole_dir = true;
    }
    let at: Micros = match &a.at {
        Some(t) => parse_time(t).map_err(CliError::usage)?,
        None => crate::timefmt::now(),
    };
    let t0 = Clock::now();
    let indexed = index_logs(&files, &a.logs, whole_dir)?;
    let t1 = Clock::now();
    let mut warnings = Vec::new();
    let mut per_file = Vec::new();
    let mut infos = Vec::new();
    let mut epochs: Vec<(String, Epoch)> = Vec::new();
    for (path, ix, st) in &indexed {
        let s = ix.summary();
        bad_line_warnings(path, s, &mut warnings);
        let name = path.display().to_string();
        epochs.extend(s.epochs.iter().map(|e| (name.clone(), e.clone())));
        infos.push(FileInfo::new(name.clone(), s, *st));
        if let Some(first) = s.first_time {
            let intervals = ix
                .query(public, port)
                .map_err(|e| CliError::usage(format!("cannot read the index of {name}: {e}")))?;
            per_file.push(FileIntervals {
                file: name,
                first_time: first,
                intervals,
            });
        }
    }
    let holdings: Vec<Holding> = history::stitch(per_file);
    let answer = history::at_time(&holdings, at, proto);
    let t2 = Clock::now();
    if timing {
        eprintln!(
            "timing: index {:.1} ms ({} files), query {:.3} ms",
            (t1 - t0).as_secs_f64() * 1e3,
            files.len(),
            (t2 - t1).as_secs_f64() * 1e3
        );
    }
    let first = indexed.iter().filter_map(|(_, i, _)| i.summary().first_time).min();
    let last = indexed.iter().filter_map(|(_, i, _)| i.summary().last_time).max();
    let mut report = LookupReport {
        public,
        port,
        at: format_time(at),
        protocol: proto,
        source: "logs",
        found: !answer.holders.is_empty(),
        history: answer,
        deterministic: None,
        logs: infos,
        warnings,
    };
    if !det.is_empty() && !report.found {
        let d = deterministic::reverse(&det, &epochs, public, port, at)?;
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
    if let Some(l) = last.filter(|l| at > *l && report.found && report.source == "logs") {
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

fn holding_line(h: &Holding) -> String {
    let rel = match h.released {
        Some(r) => format!(
            "{}{}",
            format_time(r),
            if h.release_inferred { " (inferred: no release record)" } else { "" }
        ),
        None => "still held at the end of the log".into(),
    };
    format!(
        "{} ports {}-{} ({}) from {}{} until {}",
        h.subscriber,
        h.first_port,
        h.last_port,
        h.protocol.name(),
        if h.allocated_before_logs { "before " } else { "" },
        format_time(h.allocated),
        rel
    )
}

fn ev(e: &Option<crate::history::Evidence>) -> String {
    e.as_ref().map(|e| format!("  [{}:{}]", e.file, e.line)).unwrap_or_default()
}

/// The human form of a lookup.
pub fn render(r: &LookupReport) -> String {
    let what = format!("{}:{}", r.public, r.port);
    let mut s = String::new();
    if let Some(d) = &r.deterministic {
        match d.subscriber {
            Some(sub) => s.push_str(&format!("{what} at {} was held by {sub}\n", r.at)),
            None => s.push_str(&format!("nobody held {what} at {}\n", r.at)),
        }
        if let (Some(a), Some(b)) = (d.first_port, d.last_port) {
            s.push_str(&format!("  range      {} ports {a}-{b} (deterministic, RFC 7422)\n", r.public));
        }
        s.push_str(&format!("  formula    {}\n", d.config));
        if let Some(e) = &d.epoch {
            s.push_str(&format!("  epoch      since {}  [{}:{}]\n", e.since, e.file, e.line));
        }
        return s;
    }
    if r.history.holders.is_empty() {
        s.push_str(&format!("nobody held {what} at {}\n", r.at));
    }
    for h in &r.history.holders {
        s.push_str(&format!("{what} at {} was held by {}\n", r.at, h.subscriber));
        s.push_str(&format!(
            "  block      {} ports {}-{} ({})\n",
            h.public,
            h.first_port,
            h.last_port,
            h.protocol.name()
        ));
        let alloc = if h.allocated_before_logs {
            format!("before {} (allocation rotated out of the logs)", format_time(h.allocated))
        } else {
            format_time(h.allocated)
        };
        s.push_str(&format!("  allocated  {alloc}{}\n", ev(&h.allocation_record)));
        let rel = match h.released {
            Some(t) if h.release_inferred => format!("{} (inferred: next allocation of the block)", format_time(t)),
            Some(t) => format_time(t),
            None => "not released (held at the end of the log)".into(),
        };
        s.push_str(&format!("  released   {rel}{}\n", ev(&h.release_record)));
    }
    if r.history.holders.is_empty() {
        if let Some(p) = &r.history.previous {
            s.push_str(&format!("  previous   {}{}\n", holding_line(p), ev(&p.release_record)));
        }
        if let Some(n) = &r.history.next {
            s.push_str(&format!("  next       {}{}\n", holding_line(n), ev(&n.allocation_record)));
        }
    }
    let files = r.logs.len();
    s.push_str(&format!("  searched   {files} NAT log file{}\n", if files == 1 { "" } else { "s" }));
    s
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

/// `cgnatctl index`: build or refresh the indexes now.
pub fn index_cmd(a: &LogArgs, f: Format) -> CmdResult {
    let files = log_files(a)?;
    if files.is_empty() {
        return Err(CliError::usage("name the NAT logs with --log FILE or --log-dir DIR"));
    }
    let t0 = Clock::now();
    let indexed = index_logs(&files, a, a.logs.is_empty())?;
    let mut infos = Vec::new();
    let mut warnings = Vec::new();
    for (p, ix, st) in &indexed {
        let s = ix.summary();
        bad_line_warnings(p, s, &mut warnings);
        infos.push(FileInfo::new(p.display().to_string(), s, *st));
    }
    if f == Format::Human {
        for w in &warnings {
            eprintln!("warning: {w}");
        }
    }
    let secs = t0.elapsed().as_secs_f64();
    emit(f, &serde_json::json!({"files": infos, "warnings": warnings}), || {
        let mut t = crate::output::Table::new(["FILE", "LINES", "BAD", "FIRST", "LAST", "INDEX"]);
        for i in &infos {
            t.row([
                i.path.clone(),
                i.lines.to_string(),
                i.bad_lines.to_string(),
                i.first_time.clone().unwrap_or_default(),
                i.last_time.clone().unwrap_or_default(),
                i.index.to_string(),
            ]);
        }
        format!("{}{} files in {secs:.2} s\n", t.render(), infos.len())
    })?;
    Ok(EXIT_OK)
}
