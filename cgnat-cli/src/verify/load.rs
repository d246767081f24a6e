//! Reading every record of the files to verify into memory (about 90
//! bytes a record), with where each came from.

use std::path::PathBuf;

use cgnat_core::natlog::LogRecord;
use serde::Serialize;

use crate::error::CliError;
use crate::logfile::io_error;
use crate::logread::{for_each_line, open_log, Line};

use super::{Finding, FindingKind};

/// One record and where it is.
#[derive(Copy, Clone, Debug)]
pub struct Entry {
    /// The record.
    pub rec: LogRecord,
    /// Index of its file in [`Loaded::files`].
    pub file: u32,
    /// 1-based line.
    pub line: u64,
}

/// What was read from one file.
#[derive(Clone, Debug, Serialize)]
pub struct FileStat {
    /// The file.
    pub path: String,
    /// Lines read.
    pub lines: u64,
    /// NAT log records.
    pub records: u64,
    /// Lines of other programs (a shared syslog file), skipped.
    pub other_lines: u64,
    /// Lines that look like NAT records but do not parse.
    pub bad_lines: u64,
}

/// Every record of the files, in file order.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The files, in the order given.
    pub files: Vec<FileStat>,
    /// The records.
    pub entries: Vec<Entry>,
    /// Damaged lines and files without a NAT record.
    pub unparseable: Vec<Finding>,
    /// How many damaged lines in all (the first ones are in `unparseable`).
    pub unparseable_total: u64,
}

/// Most damaged lines listed (all are counted).
pub const MAX_UNPARSEABLE: usize = 100;

/// Reads `files`; an unreadable file is an error (exit 2).
pub fn load(files: &[PathBuf]) -> Result<Loaded, CliError> {
    let mut out = Loaded::default();
    for (k, path) in files.iter().enumerate() {
        let name = path.display().to_string();
        let reader = open_log(path).map_err(|e| io_error(path, e))?;
        let mut stat = FileStat {
            path: name.clone(),
            lines: 0,
            records: 0,
            other_lines: 0,
            bad_lines: 0,
        };
        let mut first_other = None;
        let entries = &mut out.entries;
        let unparseable = &mut out.unparseable;
        let total = &mut out.unparseable_total;
        stat.lines = for_each_line(reader, |line, l| match l {
            Line::Record(rec) => {
                stat.records += 1;
                entries.push(Entry { rec, file: k as u32, line });
            }
            Line::Malformed(e) => {
                stat.bad_lines += 1;
                *total += 1;
                if unparseable.len() < MAX_UNPARSEABLE {
                    unparseable.push(Finding::new(
                        FindingKind::Unparseable,
                        &name,
                        line,
                        format!("not a valid NAT log record: {}: {}", e.field, e.message),
                    ));
                }
            }
            Line::Other => {
                stat.other_lines += 1;
                first_other.get_or_insert(line);
            }
        })
        .map_err(|e| io_error(path, e))?;
        if stat.records == 0 && stat.bad_lines == 0 && stat.other_lines > 0 {
            out.unparseable_total += 1;
            out.unparseable.push(Finding::new(
                FindingKind::NotANatLog,
                &name,
                first_other.unwrap_or(1),
                format!(
                    "no NAT log record in the file's {} lines: not a NAT log, or not one cgnatctl can read",
                    stat.other_lines
                ),
            ));
        }
        out.files.push(stat);
    }
    Ok(out)
}
