//! `cgnatctl log verify FILES...`: is this NAT log a sound legal record?
//!
//! Issue 10: "checks sequence continuity per run, order, duplicates, every
//! allocation released or its run ended, and no port held by two
//! subscribers at once; exit non-zero on any finding, with file:line".
//!
//! The files (any format, plain or gzip, rotated under any name, mixed)
//! are read whole ([`load`]); their records are grouped by run and ordered
//! by `seq`, never by file name. Each run is checked along its sequence
//! ([`check`]); then the runs are put in time order: runs must not overlap
//! in time, and a run without `daemon-stop` followed by another run
//! crashed (its open blocks ended with it). The last run may still be
//! live: its open blocks are listed. Lines written before runs were
//! recorded (run 0) are split into runs where `seq` restarts at 0.
//!
//! Verify one target's files at a time: the text and JSON copies of the
//! same log are duplicates of each other.
//!
//! Exit codes: 0 clean, 1 findings, 2 usage, unreadable or unparseable
//! (damaged lines, a file without a NAT record). [`verify_files`] is the
//! library entry point for tests across the workspace.

pub mod check;
pub mod load;
pub mod render;

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::Serialize;

use cgnat_core::event::EventKind;
use cgnat_core::natlog::run_name;

use crate::error::{CliError, CmdResult, EXIT_ERROR, EXIT_NOT_FOUND, EXIT_OK};
use crate::output::{emit, Format};
use crate::timefmt::format_time;

use check::{check_run, RunOutcome};
use load::{FileStat, Loaded};

/// What a finding is about.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FindingKind {
    /// A line looks like a NAT record but does not parse.
    Unparseable,
    /// A file holds no NAT record at all.
    NotANatLog,
    /// Sequence numbers are missing within a run.
    Gap,
    /// Time decreases along the sequence.
    Order,
    /// The same record twice (a collector's at-least-once delivery).
    Duplicate,
    /// Two different records with the same run and sequence number.
    ConflictingDuplicate,
    /// A `daemon-start` out of place.
    RunStart,
    /// A `daemon-stop` out of place or miscounting.
    RunStop,
    /// Two runs overlap in time.
    RunsOverlap,
    /// A block allocated while still held.
    DoubleAllocation,
    /// Ports held by two subscribers at once.
    Overlap,
    /// A block released by someone who did not hold it.
    ReleaseMismatch,
    /// A release of a block the run never allocated.
    ReleaseWithoutAllocation,
    /// A `block-interim` that disagrees with the allocation.
    Interim,
    /// A `det-epoch` whose `det-prefix` records are missing or wrong.
    DetPrefix,
    /// A `pcp-map` whose external port lies in no block of the subscriber.
    PcpOutsideBlock,
}

/// One thing wrong, and where.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What kind of problem.
    pub kind: FindingKind,
    /// The file.
    pub file: String,
    /// The 1-based line.
    pub line: u64,
    /// What is wrong.
    pub message: String,
    /// Reported but accepted (identical duplicates with `--allow-duplicates`).
    pub tolerated: bool,
}

impl Finding {
    /// A finding at `file:line`.
    pub fn new(kind: FindingKind, file: &str, line: u64, message: String) -> Self {
        Finding {
            kind,
            file: file.to_string(),
            line,
            message,
            tolerated: false,
        }
    }
}

/// Most findings kept for the report (all are counted).
pub const MAX_FINDINGS: usize = 1000;
/// Most open blocks of the live run listed (all are counted).
pub const MAX_OPEN_LISTED: usize = 1000;

/// Collects findings (the first [`MAX_FINDINGS`]) and counts.
#[derive(Debug, Default)]
pub struct Sink {
    /// The findings kept.
    pub findings: Vec<Finding>,
    /// Findings that fail the log, in all.
    pub failing: u64,
    /// Tolerated findings, in all.
    pub tolerated: u64,
    /// Identical duplicate records.
    pub duplicates: u64,
}

impl Sink {
    /// Records a finding.
    pub fn push(&mut self, f: Finding) {
        if f.tolerated {
            self.tolerated += 1;
        } else {
            self.failing += 1;
        }
        if self.findings.len() < MAX_FINDINGS {
            self.findings.push(f);
        }
    }
}

/// Options of a verification.
#[derive(Copy, Clone, Debug, Default)]
pub struct VerifyOptions {
    /// Accept identical copies of a record (collector files from
    /// at-least-once TCP delivery); they are still counted and listed.
    pub allow_duplicates: bool,
}

/// One run, as verified.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    /// The run id (16 hex digits; zeros: written before runs were recorded).
    pub run: String,
    /// For run 0: which of its restarts (0, 1, ...) in time order.
    pub legacy_part: Option<u32>,
    /// Its first record.
    pub first_time: Option<String>,
    /// Its last record.
    pub last_time: Option<String>,
    /// Records (each sequence number once).
    pub records: u64,
    /// `block-interim` restatements.
    pub interim_records: u64,
    /// First and last sequence numbers.
    pub seq: Option<(u64, u64)>,
    /// Its `daemon-start` is in the files.
    pub started: bool,
    /// `clean-stop`, `crash` (no stop, a later run started), `live` (the
    /// last run, no stop), or `restart` (run 0: seq restarted at 0).
    pub ended: &'static str,
    /// When the next run began (after a crash).
    pub next_start: Option<String>,
    /// Blocks still held at the run's last record.
    pub open_blocks: u64,
}

/// A block still held by the live run.
#[derive(Clone, Debug, Serialize)]
pub struct OpenBlockReport {
    /// The run.
    pub run: String,
    /// The subscriber.
    pub subscriber: Ipv4Addr,
    /// The public address.
    pub public: Ipv4Addr,
    /// First port.
    pub first_port: u16,
    /// Last port.
    pub last_port: u16,
    /// Protocols.
    pub protocol: &'static str,
    /// Allocated (or restated allocation time).
    pub allocated: String,
    /// The record.
    pub file: String,
    /// Its line.
    pub line: u64,
}

/// The result of a verification.
#[derive(Clone, Debug, Serialize)]
pub struct VerifyReport {
    /// The files read.
    pub files: Vec<FileStat>,
    /// NAT records read.
    pub records: u64,
    /// The runs, in time order.
    pub runs: Vec<RunReport>,
    /// Identical duplicate records.
    pub duplicates: u64,
    /// Lines that look like NAT records but do not parse, and files
    /// without a NAT record (exit 2).
    pub unparseable: Vec<Finding>,
    /// How many of those in all.
    pub unparseable_total: u64,
    /// Problems found (the first [`MAX_FINDINGS`]), tolerated ones included.
    pub findings: Vec<Finding>,
    /// Failing findings in all.
    pub failing: u64,
    /// Tolerated findings in all.
    pub tolerated: u64,
    /// Blocks held by the live run (the first [`MAX_OPEN_LISTED`]).
    pub open_blocks: Vec<OpenBlockReport>,
    /// How many in all.
    pub open_blocks_total: u64,
    /// Clean: no failing finding, everything parsed.
    pub clean: bool,
    /// 0 clean, 1 findings, 2 unparseable.
    pub exit_code: i32,
}

impl VerifyReport {
    /// No finding (tolerated ones aside) and every line parsed.
    pub fn is_clean(&self) -> bool {
        self.clean
    }
}

impl std::fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&render::render(self))
    }
}

/// One run's records before checking: the run, its part (run 0), entry
/// indices.
struct Group {
    run: u64,
    part: Option<u32>,
    entries: Vec<usize>,
}

/// Splits the records into runs, each sorted for [`check_run`].
fn groups(loaded: &Loaded) -> Vec<Group> {
    // Files in order of their first record (names are never trusted).
    let mut first = vec![i64::MAX; loaded.files.len()];
    for e in &loaded.entries {
        let f = &mut first[e.file as usize];
        *f = (*f).min(e.rec.time.as_micros() as i64);
    }
    let mut order: Vec<usize> = (0..loaded.files.len()).collect();
    order.sort_by_key(|&k| (first[k], k));
    let mut rank = vec![0u32; loaded.files.len()];
    for (r, &k) in order.iter().enumerate() {
        rank[k] = r as u32;
    }
    let mut by_run: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, e) in loaded.entries.iter().enumerate() {
        by_run.entry(e.rec.run).or_default().push(i);
    }
    let sort_key = |i: &usize| {
        let e = &loaded.entries[*i];
        (e.rec.seq, e.rec.event != EventKind::BlockInterim, rank[e.file as usize], e.line)
    };
    let mut out = Vec::new();
    for (run, mut v) in by_run {
        if run != 0 {
            v.sort_by_key(sort_key);
            out.push(Group {
                run,
                part: None,
                entries: v,
            });
            continue;
        }
        // Run 0: in file order, a new part wherever seq restarts at 0.
        v.sort_by_key(|&i| (rank[loaded.entries[i].file as usize], loaded.entries[i].line));
        let mut parts: Vec<Vec<usize>> = Vec::new();
        for i in v {
            let e = &loaded.entries[i];
            let restart = e.rec.seq == 0 && e.rec.event != EventKind::BlockInterim;
            match parts.last_mut() {
                Some(p) if !restart || p.is_empty() => p.push(i),
                _ => parts.push(vec![i]),
            }
        }
        for (k, mut p) in parts.into_iter().enumerate() {
            p.sort_by_key(sort_key);
            out.push(Group {
                run: 0,
                part: Some(k as u32),
                entries: p,
            });
        }
    }
    out
}

/// Verifies `files` (see the module docs). An unreadable file is an
/// error; everything else is in the report.
pub fn verify_files(files: &[PathBuf], opts: &VerifyOptions) -> Result<VerifyReport, CliError> {
    if files.is_empty() {
        return Err(CliError::usage("name the NAT log files to verify (FILES... or --log-dir DIR)"));
    }
    let loaded = load::load(files)?;
    let mut sink = Sink::default();
    let mut checked: Vec<(Group, RunOutcome)> = groups(&loaded)
        .into_iter()
        .map(|g| {
            let o = check_run(&loaded, &g.entries, opts, &mut sink);
            (g, o)
        })
        .collect();
    let time = |i: Option<usize>| i.map(|i| loaded.entries[i].rec.time.as_micros() as i64);
    let began = |_: &Group, o: &RunOutcome| time(o.start.or(o.first)).unwrap_or(i64::MAX).min(time(o.first).unwrap_or(i64::MAX));
    checked.sort_by_key(|(g, o)| (began(g, o), g.run, g.part));
    let place = |i: usize| {
        let e = &loaded.entries[i];
        format!("{}:{}", loaded.files[e.file as usize].path, e.line)
    };
    // Runs never overlap in time: each began after the previous one's last record.
    for w in checked.windows(2) {
        let ((a, ao), (b, bo)) = (&w[0], &w[1]);
        let (Some(al), Some(bf)) = (ao.last, bo.first) else { continue };
        let (at, bt) = (time(Some(al)).unwrap_or(0), time(Some(bf)).unwrap_or(0));
        if at > bt {
            let e = &loaded.entries[bf];
            sink.push(Finding::new(
                FindingKind::RunsOverlap,
                &loaded.files[e.file as usize].path,
                e.line,
                format!(
                    "run {} begins at {} before run {} ended: its last record at {} is at {}",
                    run_label(b.run, b.part),
                    format_time(bt),
                    run_label(a.run, a.part),
                    place(al),
                    format_time(at)
                ),
            ));
        }
    }
    let mut runs = Vec::new();
    let mut open_blocks = Vec::new();
    let mut open_total = 0u64;
    for (k, (g, o)) in checked.iter().enumerate() {
        let next = checked.get(k + 1).map(|(ng, no)| began(ng, no));
        let ended = match (o.stop, next, g.run) {
            (Some(_), _, _) => "clean-stop",
            (None, Some(_), 0) => "restart",
            (None, Some(_), _) => "crash",
            (None, None, _) => "live",
        };
        if ended == "live" {
            open_total += o.open.len() as u64;
            for b in o.open.iter().take(MAX_OPEN_LISTED.saturating_sub(open_blocks.len())) {
                let e = &loaded.entries[b.entry];
                open_blocks.push(OpenBlockReport {
                    run: run_name(g.run).to_string(),
                    subscriber: b.subscriber,
                    public: e.rec.public_addr,
                    first_port: e.rec.first_port,
                    last_port: e.rec.last_port,
                    protocol: e.rec.protocol.name(),
                    allocated: format_time(b.allocated as i64),
                    file: loaded.files[e.file as usize].path.clone(),
                    line: e.line,
                });
            }
        }
        runs.push(RunReport {
            run: run_name(g.run).to_string(),
            legacy_part: g.part,
            first_time: time(o.first).map(format_time),
            last_time: time(o.last).map(format_time),
            records: o.records,
            interim_records: o.interim,
            seq: o.seqs,
            started: o.start.is_some(),
            ended,
            next_start: if ended == "crash" { next.map(format_time) } else { None },
            open_blocks: o.open.len() as u64,
        });
    }
    let exit_code = if loaded.unparseable_total > 0 {
        EXIT_ERROR
    } else if sink.failing > 0 {
        EXIT_NOT_FOUND
    } else {
        EXIT_OK
    };
    sink.findings.sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
    Ok(VerifyReport {
        records: loaded.entries.len() as u64,
        files: loaded.files,
        runs,
        duplicates: sink.duplicates,
        unparseable: loaded.unparseable,
        unparseable_total: loaded.unparseable_total,
        findings: sink.findings,
        failing: sink.failing,
        tolerated: sink.tolerated,
        open_blocks,
        open_blocks_total: open_total,
        clean: exit_code == EXIT_OK,
        exit_code,
    })
}

/// A run as shown to the user.
pub fn run_label(run: u64, part: Option<u32>) -> String {
    match part {
        Some(p) => format!("{} (before runs were recorded, part {p})", run_name(run)),
        None => run_name(run).to_string(),
    }
}

/// `cgnatctl log verify`.
pub fn run(a: &crate::cli::VerifyArgs, f: Format) -> CmdResult {
    let mut files = a.files.clone();
    if let Some(d) = &a.log_dir {
        files.extend(crate::logfile::files_in_dir(d)?);
    }
    let opts = VerifyOptions {
        allow_duplicates: a.allow_duplicates,
    };
    let r = verify_files(&files, &opts)?;
    emit(f, &r, || render::render(&r))?;
    Ok(r.exit_code)
}
