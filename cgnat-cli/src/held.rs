//! `cgnatctl history SUBSCRIBER [--from T] [--to T]`: every public address
//! and port block a subscriber held over a period, from the NAT logs
//! ("which public address and ports did 100.64.1.10 hold yesterday?").
//!
//! The files are read whole (in parallel, one thread per file): the
//! subscriber's allocation, release and restatement records are paired
//! per block and run as a lookup pairs them ([`crate::history`]): a
//! release closes its allocation, a `block-interim` alone opens the
//! holding at the allocation time it carries, a run that ended closes what
//! it left open ([`crate::history::end_runs`]). The holdings that overlap
//! `[from, to)` are listed with the records that prove them. A period the
//! logs do not cover is its own answer (exit 3), as for `lookup`.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::path::Path;

use serde::Serialize;

use crate::cli::HistoryArgs;
use crate::error::{CliError, CmdResult, EXIT_NOT_COVERED, EXIT_NOT_FOUND, EXIT_OK};
use crate::history::{end_runs, Evidence, Holding};
use crate::logfile;
use crate::logread::{for_each_line, open_log, Line};
use crate::lookup::files::{check_readable, index_logs, FileInfo};
use crate::output::{emit, Format, Table};
use crate::record::{Record, RecordKind};
use crate::runs::RunTable;
use crate::timefmt::{format_time, parse_time, Micros};

/// What `history` found.
#[derive(Clone, Debug, Serialize)]
pub struct HistoryReport {
    /// The subscriber.
    pub subscriber: Ipv4Addr,
    /// The period asked about (start).
    #[serde(serialize_with = "crate::timefmt::serialize_time")]
    pub from: Micros,
    /// The period asked about (end, exclusive).
    #[serde(serialize_with = "crate::timefmt::serialize_time")]
    pub to: Micros,
    /// `held`, `nothing` or `not-covered`.
    pub outcome: &'static str,
    /// The period the logs cover.
    pub covered: Option<crate::lookup::Coverage>,
    /// The holdings overlapping the period, by allocation time.
    pub holdings: Vec<Holding>,
    /// The files read.
    pub logs: Vec<FileInfo>,
    /// Notes (skipped files, malformed lines, coverage).
    pub warnings: Vec<String>,
}

/// The subscriber's block records of one file, in file order.
fn scan(path: &Path, subscriber: u32) -> Result<Vec<Record>, CliError> {
    let reader = open_log(path).map_err(|e| logfile::io_error(path, e))?;
    let mut out = Vec::new();
    for_each_line(reader, |line, l| {
        if let Line::Record(r) = l {
            if u32::from(r.subscriber) == subscriber {
                let rec = Record::from_log(&r, line);
                if matches!(rec.kind, RecordKind::Alloc | RecordKind::Release | RecordKind::Interim) {
                    out.push(rec);
                }
            }
        }
    })
    .map_err(|e| logfile::io_error(path, e))?;
    Ok(out)
}

fn evidence(file: &str, line: u64) -> Option<Evidence> {
    Some(Evidence {
        file: file.to_string(),
        line: line.min(u32::MAX as u64) as u32,
    })
}

/// Pairs one subscriber's records (every file's, with the file's name)
/// into holdings.
pub fn holdings(mut records: Vec<(String, Record)>) -> Vec<Holding> {
    records.sort_by_key(|(_, r)| (r.time, r.run, r.seq, r.kind != RecordKind::Interim));
    // The same record in two files (the text and the JSON copy of one log,
    // a collector's copy) counts once.
    let mut seen = std::collections::HashSet::new();
    records.retain(|(_, r)| {
        seen.insert((
            r.run,
            r.seq,
            r.kind as u8,
            r.public,
            r.first_port,
            r.last_port,
            r.proto as u8,
            r.time,
        ))
    });
    type Key = (u64, u32, u16, u16, u8);
    let key = |r: &Record| -> Key { (r.run, r.public, r.first_port, r.last_port, r.proto as u8) };
    let mut open: HashMap<Key, Holding> = HashMap::new();
    let mut done = Vec::new();
    let start = |file: &str, r: &Record, at: Micros, restated: bool, before_logs: bool| Holding {
        subscriber: Ipv4Addr::from(r.subscriber),
        public: Ipv4Addr::from(r.public),
        first_port: r.first_port,
        last_port: r.last_port,
        protocol: r.proto,
        allocated: at,
        allocated_before_logs: before_logs,
        allocation_restated: restated,
        released: None,
        release_inferred: false,
        allocation_record: (!before_logs).then(|| evidence(file, r.line)).flatten(),
        release_record: None,
        run: r.run,
        run_ended: None,
        certain_until: None,
        live: None,
    };
    for (file, r) in &records {
        let k = key(r);
        match r.kind {
            RecordKind::Alloc => {
                if let Some(mut h) = open.remove(&k) {
                    // Allocated anew: the previous holding's release is missing.
                    h.released = Some(r.time);
                    h.release_inferred = true;
                    done.push(h);
                }
                open.insert(k, start(file, r, r.time, false, false));
            }
            RecordKind::Interim => {
                open.entry(k).or_insert_with(|| start(file, r, r.aux as Micros, true, false));
            }
            RecordKind::Release => {
                let mut h = open.remove(&k).unwrap_or_else(|| {
                    // Allocated before the oldest file.
                    start(file, r, records.first().map_or(r.time, |f| f.1.time), false, true)
                });
                h.released = Some(r.time);
                h.release_record = evidence(file, r.line);
                done.push(h);
            }
            _ => {}
        }
    }
    done.extend(open.into_values());
    done.sort_by_key(|h| (h.allocated, h.public, h.first_port));
    done
}

/// `cgnatctl history`.
pub fn run(a: &HistoryArgs, f: Format) -> CmdResult {
    let parse = |t: &Option<String>, what: &str| -> Result<Option<Micros>, CliError> {
        t.as_deref()
            .map(|t| parse_time(t).map_err(|e| CliError::usage(format!("--{what}: {e}"))))
            .transpose()
    };
    let (from, to) = (parse(&a.from, "from")?, parse(&a.to, "to")?);
    if let (Some(x), Some(y)) = (from, to) {
        if y <= x {
            return Err(CliError::usage("--to must be after --from"));
        }
    }
    let mut warnings = Vec::new();
    let mut paths = a.logs.logs.clone();
    if let Some(d) = &a.logs.log_dir {
        let n = logfile::nat_logs_in_dir(d)?;
        warnings.extend(n.skipped_note(d));
        paths.extend(n.files);
    }
    if paths.is_empty() {
        return Err(CliError::usage("name the NAT logs with --log FILE or --log-dir DIR"));
    }
    let whole_dir = a.logs.logs.is_empty();
    let indexed = index_logs(&paths, &a.logs, whole_dir)?;
    check_readable(&indexed, a.skip_malformed, &mut warnings)?;
    let runs = RunTable::from_summaries(indexed.iter().map(|(_, ix, _)| ix.summary()));
    let logs: Vec<FileInfo> = indexed
        .iter()
        .map(|(p, ix, st)| FileInfo::new(p.display().to_string(), ix.summary(), *st))
        .collect();
    let first = indexed.iter().filter_map(|(_, ix, _)| ix.summary().first_time).min();
    let last = indexed.iter().filter_map(|(_, ix, _)| ix.summary().last_time).max();
    let sub = u32::from(a.subscriber);
    let scanned: Vec<Result<Vec<Record>, CliError>> = std::thread::scope(|s| {
        let hs: Vec<_> = paths.iter().map(|p| s.spawn(move || scan(p, sub))).collect();
        hs.into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(CliError::usage("a reader thread failed"))))
            .collect()
    });
    let mut records = Vec::new();
    for (p, r) in paths.iter().zip(scanned) {
        let name = p.display().to_string();
        records.extend(r?.into_iter().map(|r| (name.clone(), r)));
    }
    let mut hs = holdings(records);
    end_runs(&mut hs, &runs);
    let covered = first.zip(last).map(|(from, to)| crate::lookup::Coverage { from, to });
    let from = from.or(first).unwrap_or(0);
    let to = to.or(last.map(|l| l + 1)).unwrap_or(0);
    hs.retain(|h| h.allocated < to && h.released.is_none_or(|r| r > from));
    let outcome = match &covered {
        None => "not-covered",
        Some(c) if to <= c.from || from > c.to => "not-covered",
        _ if hs.is_empty() => "nothing",
        _ => "held",
    };
    if let (Some(c), "not-covered") = (&covered, outcome) {
        warnings.push(format!(
            "{} to {} is outside the period the NAT logs cover ({} to {})",
            format_time(from),
            format_time(to),
            format_time(c.from),
            format_time(c.to)
        ));
    } else if let Some(c) = covered.as_ref().filter(|c| from < c.from || to > c.to + 1) {
        warnings.push(format!(
            "the NAT logs cover only {} to {} of the period asked",
            format_time(c.from),
            format_time(c.to)
        ));
    }
    let report = HistoryReport {
        subscriber: a.subscriber,
        from,
        to,
        outcome,
        covered,
        holdings: hs,
        logs,
        warnings,
    };
    if f == Format::Human {
        for w in &report.warnings {
            eprintln!("warning: {w}");
        }
    }
    emit(f, &report, || render(&report))?;
    Ok(match outcome {
        "held" => EXIT_OK,
        "nothing" => EXIT_NOT_FOUND,
        _ => EXIT_NOT_COVERED,
    })
}

fn ev(e: &Option<Evidence>) -> String {
    e.as_ref().map(|e| format!("{}:{}", e.file, e.line)).unwrap_or_else(|| "-".into())
}

/// The human form of `history`.
pub fn render(r: &HistoryReport) -> String {
    let mut out = format!(
        "{} from {} to {}: {}\n",
        r.subscriber,
        format_time(r.from),
        format_time(r.to),
        match r.outcome {
            "held" => format!("{} port block{}", r.holdings.len(), if r.holdings.len() == 1 { "" } else { "s" }),
            "nothing" => "held no port block".into(),
            _ => "not covered by the NAT logs".into(),
        }
    );
    if r.holdings.is_empty() {
        return out;
    }
    let mut t = Table::new(["PUBLIC", "PORTS", "PROTO", "FROM", "UNTIL", "ALLOCATION", "RELEASE"]);
    for h in &r.holdings {
        let from = if h.allocated_before_logs {
            format!("before {}", format_time(h.allocated))
        } else {
            format_time(h.allocated)
        };
        let until = match (&h.run_ended, h.released) {
            (Some(e), Some(t)) if !e.clean => format!("{} (run crashed; certain until {})", format_time(t), format_time(e.last_record)),
            (Some(_), Some(t)) => format!("{} (run stopped)", format_time(t)),
            (None, Some(t)) if h.release_inferred => format!("{} (inferred)", format_time(t)),
            (None, Some(t)) => format_time(t),
            (_, None) => "still held at the end of the logs".into(),
        };
        t.row([
            h.public.to_string(),
            format!("{}-{}", h.first_port, h.last_port),
            h.protocol.name().to_string(),
            from,
            until,
            ev(&h.allocation_record),
            ev(&h.release_record),
        ]);
    }
    out.push_str(&t.render());
    out
}
