//! The log files of a lookup (or `cgnatctl index`): naming them, indexing
//! them in parallel, and refusing logs that cannot be read as NAT logs.
//!
//! Issue 10: a log `cgnatctl` cannot parse is an error (exit 2) naming the
//! file and line, never "nobody held" (exit 1). So a file with no NAT
//! record at all (the wrong file, or a format it does not read) and a line
//! that looks like a NAT record but does not parse stop the lookup, unless
//! `--skip-malformed` accepts damaged lines (they are listed). Lines of
//! other programs in a shared syslog file are skipped and counted.

use std::path::{Path, PathBuf};
use std::time::Instant as Clock;

use rayon::prelude::*;
use serde::Serialize;

use crate::cli::LogArgs;
use crate::error::{CliError, CmdResult, EXIT_OK};
use crate::index::Summary;
use crate::logfile::{self, IndexPolicy, IndexState, Indexed};
use crate::output::{emit, Format};
use crate::timefmt::format_time;

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
    /// NAT log records read.
    pub records: u64,
    /// Lines that look like NAT records but do not parse.
    pub bad_lines: u64,
    /// Lines of other programs (a shared syslog file), skipped.
    pub other_lines: u64,
    /// `reused`, `built` or `in-memory`.
    pub index: &'static str,
}

impl FileInfo {
    /// The description of a file from its summary.
    pub fn new(path: String, s: &Summary, st: IndexState) -> Self {
        FileInfo {
            path,
            first_time: s.first_time.map(format_time),
            last_time: s.last_time.map(format_time),
            lines: s.lines,
            records: s.records,
            bad_lines: s.bad_line_count,
            other_lines: s.other_lines,
            index: match st {
                IndexState::Reused => "reused",
                IndexState::Built => "built",
                IndexState::InMemory => "in-memory",
            },
        }
    }
}

/// The log files named by `--log` / `--log-dir`.
pub fn log_files(a: &LogArgs) -> Result<Vec<PathBuf>, CliError> {
    let mut files = a.logs.clone();
    if let Some(d) = &a.log_dir {
        files.extend(logfile::files_in_dir(d)?);
    }
    Ok(files)
}

/// An indexed log file.
pub type IndexedFile = (PathBuf, Indexed, IndexState);

/// Indexes the logs of `a`, then drops the indexes of files that are gone
/// when a whole directory was read.
pub fn index_logs(files: &[PathBuf], a: &LogArgs, whole_dir: bool) -> Result<Vec<IndexedFile>, CliError> {
    let p = policy(a);
    let r = index_all(files, &p)?;
    if whole_dir && !p.no_index {
        logfile::remove_stale_indexes(files, &p);
    }
    Ok(r)
}

/// Indexes every file: files at once, and each file's chunks at once, on
/// rayon's pool (one thread per core); a progress line on a terminal if it
/// takes more than a second ([`crate::progress`]).
pub fn index_all(files: &[PathBuf], policy: &IndexPolicy) -> Result<Vec<IndexedFile>, CliError> {
    let total = files.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
    let results: Vec<_> = crate::progress::with_progress("indexing NAT logs", total, |done| {
        files.par_iter().map(|p| logfile::indexed(p, policy, done)).collect()
    });
    files
        .iter()
        .zip(results)
        .map(|(p, r)| {
            let (ix, st) = r?;
            Ok((p.clone(), ix, st))
        })
        .collect()
}

/// Damaged-line warnings of one file (the first few, then a count).
pub fn bad_line_warnings(path: &Path, s: &Summary, out: &mut Vec<String>) {
    for b in s.bad_lines.iter().take(5) {
        out.push(format!("{}:{}: malformed line skipped: {}", path.display(), b.line, b.message));
    }
    if s.bad_line_count > 5 {
        out.push(format!("{}: {} malformed lines in all", path.display(), s.bad_line_count));
    }
}

const FORMATS_HINT: &str =
    "cgnatctl reads cgnatd's text, JSON-lines and syslog files, and what rsyslog and syslog-ng store from its syslog stream";

/// Refuses logs that cannot be read as NAT logs (see the module docs);
/// with `skip_malformed`, damaged lines become warnings instead.
pub fn check_readable(indexed: &[IndexedFile], skip_malformed: bool, warnings: &mut Vec<String>) -> Result<(), CliError> {
    for (path, ix, _) in indexed {
        let s = ix.summary();
        if s.records == 0 && s.other_lines > 0 && s.bad_line_count == 0 {
            return Err(CliError::usage(format!(
                "{}:{}: not a NAT log record, nor is any of the file's {} lines: not a NAT log, or not one cgnatctl can read",
                path.display(),
                s.first_other_line.unwrap_or(1),
                s.other_lines
            ))
            .with_hint(FORMATS_HINT));
        }
        if s.bad_line_count == 0 {
            continue;
        }
        if skip_malformed {
            bad_line_warnings(path, s, warnings);
            continue;
        }
        let first = &s.bad_lines[0];
        let more = if s.bad_line_count > 1 {
            format!(" ({} damaged NAT log lines in this file)", s.bad_line_count)
        } else {
            String::new()
        };
        return Err(CliError::usage(format!(
            "{}:{}: a damaged NAT log record: {}{more}",
            path.display(),
            first.line,
            first.message
        ))
        .with_hint(
            "an answer could depend on it: repair the line, or pass --skip-malformed to answer from the other records (each skipped line is listed)",
        ));
    }
    Ok(())
}

fn policy(a: &LogArgs) -> IndexPolicy {
    IndexPolicy {
        index_dir: a.index_dir.clone(),
        no_index: a.no_index,
        rebuild: a.rebuild_index,
    }
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
        let mut t = crate::output::Table::new(["FILE", "LINES", "RECORDS", "BAD", "OTHER", "FIRST", "LAST", "INDEX"]);
        for i in &infos {
            t.row([
                i.path.clone(),
                i.lines.to_string(),
                i.records.to_string(),
                i.bad_lines.to_string(),
                i.other_lines.to_string(),
                i.first_time.clone().unwrap_or_default(),
                i.last_time.clone().unwrap_or_default(),
                i.index.to_string(),
            ]);
        }
        format!("{}{} files in {secs:.2} s\n", t.render(), infos.len())
    })?;
    Ok(EXIT_OK)
}
