//! What the index keeps about a log file besides its intervals: times,
//! line counts, the runs of the daemon it holds, and the deterministic
//! epochs with their prefixes (RFC 7422 section 2.3).

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::record::{Record, RecordKind};
use crate::timefmt::Micros;

/// A deterministic-mode epoch record (RFC 7422 section 2.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Epoch {
    /// When it came into force.
    pub time: Micros,
    /// First inside address.
    pub first_inside: Ipv4Addr,
    /// First public address.
    pub first_public: Ipv4Addr,
    /// First port of the range.
    pub first_port: u16,
    /// Last port of the range.
    pub last_port: u16,
    /// Ports per subscriber.
    pub ports_per_subscriber: u32,
    /// Line in the log file.
    pub line: u64,
    /// The run that wrote it.
    pub run: u64,
    /// Its sequence number (its `det-prefix` records follow it).
    pub seq: u64,
}

/// A `det-prefix` record: one prefix of a deterministic epoch.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetPrefix {
    /// The run that wrote it.
    pub run: u64,
    /// Its sequence number.
    pub seq: u64,
    /// Line in the log file.
    pub line: u64,
    /// An inside prefix (else a pool prefix).
    pub inside: bool,
    /// The prefix address.
    pub addr: Ipv4Addr,
    /// The prefix length as logged (checked when the epoch is assembled).
    pub len: u64,
}

/// A line of the log that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BadLine {
    /// 1-based line number.
    pub line: u64,
    /// The parser's message.
    pub message: String,
}

/// What one file holds of one run of the daemon.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    /// The run id (0: lines written before runs were recorded).
    pub run: u64,
    /// Its first record in the file.
    pub first_time: Micros,
    /// Its last record in the file.
    pub last_time: Micros,
    /// Its `daemon-start` record: (time, line).
    pub start: Option<(Micros, u64)>,
    /// Its `daemon-stop` record: (time, line).
    pub stop: Option<(Micros, u64)>,
}

/// Most bad lines remembered per file (all are counted).
pub const MAX_BAD_LINES: usize = 100;

/// Everything the index knows about one log file besides its intervals.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Time of the first record.
    pub first_time: Option<Micros>,
    /// Time of the last record.
    pub last_time: Option<Micros>,
    /// Lines read.
    pub lines: u64,
    /// NAT log records read.
    pub records: u64,
    /// Block records (allocations, releases, interim restatements).
    pub block_records: u64,
    /// Lines of other programs (a shared syslog file), skipped.
    pub other_lines: u64,
    /// The first of them.
    pub first_other_line: Option<u64>,
    /// Lines that look like NAT records but do not parse (count).
    pub bad_line_count: u64,
    /// The first [`MAX_BAD_LINES`] of them.
    pub bad_lines: Vec<BadLine>,
    /// Deterministic epochs.
    pub epochs: Vec<Epoch>,
    /// The prefixes of deterministic epochs.
    pub det_prefixes: Vec<DetPrefix>,
    /// The runs of the daemon that wrote records of this file.
    pub runs: Vec<RunSummary>,
}

impl Summary {
    /// Notes a damaged NAT line.
    pub fn bad_line(&mut self, line: u64, message: String) {
        self.lines = self.lines.max(line);
        self.bad_line_count += 1;
        if self.bad_lines.len() < MAX_BAD_LINES {
            self.bad_lines.push(BadLine { line, message });
        }
    }

    /// Notes another program's line.
    pub fn other_line(&mut self, line: u64) {
        self.lines = self.lines.max(line);
        self.other_lines += 1;
        self.first_other_line.get_or_insert(line);
    }

    /// Notes a record (any kind): times, counts, runs, epochs.
    pub fn record(&mut self, r: &Record) {
        self.lines = self.lines.max(r.line);
        self.records += 1;
        self.first_time = Some(self.first_time.map_or(r.time, |t| t.min(r.time)));
        self.last_time = Some(self.last_time.map_or(r.time, |t| t.max(r.time)));
        let run = match self.runs.iter().rposition(|s| s.run == r.run) {
            Some(i) => &mut self.runs[i],
            None => {
                self.runs.push(RunSummary {
                    run: r.run,
                    first_time: r.time,
                    last_time: r.time,
                    start: None,
                    stop: None,
                });
                self.runs.last_mut().expect("just pushed")
            }
        };
        run.first_time = run.first_time.min(r.time);
        run.last_time = run.last_time.max(r.time);
        match r.kind {
            RecordKind::DaemonStart => run.start = Some((r.time, r.line)),
            RecordKind::DaemonStop => run.stop = Some((r.time, r.line)),
            RecordKind::Alloc | RecordKind::Release | RecordKind::Interim => self.block_records += 1,
            RecordKind::DetEpoch => self.epochs.push(Epoch {
                time: r.time,
                first_inside: Ipv4Addr::from(r.subscriber),
                first_public: Ipv4Addr::from(r.public),
                first_port: r.first_port,
                last_port: r.last_port,
                ports_per_subscriber: r.aux.min(u32::MAX as u64) as u32,
                line: r.line,
                run: r.run,
                seq: r.seq,
            }),
            RecordKind::DetPrefix => {
                let inside = r.subscriber != 0;
                self.det_prefixes.push(DetPrefix {
                    run: r.run,
                    seq: r.seq,
                    line: r.line,
                    inside,
                    addr: Ipv4Addr::from(if inside { r.subscriber } else { r.public }),
                    len: r.aux,
                });
            }
            RecordKind::Other => {}
        }
    }

    /// Appends the summary of the part of the file that follows, whose
    /// line numbers start after line `base` of this file: the summary of
    /// the two parts read one after the other ([`super::parallel`]).
    pub fn append(&mut self, later: Summary, base: u64) {
        if later.lines > 0 {
            self.lines = self.lines.max(base + later.lines);
        }
        self.records += later.records;
        self.block_records += later.block_records;
        self.other_lines += later.other_lines;
        if self.first_other_line.is_none() {
            self.first_other_line = later.first_other_line.map(|l| base + l);
        }
        self.bad_line_count += later.bad_line_count;
        let room = MAX_BAD_LINES.saturating_sub(self.bad_lines.len());
        self.bad_lines.extend(later.bad_lines.into_iter().take(room).map(|b| BadLine {
            line: base + b.line,
            message: b.message,
        }));
        let min = |a: Option<Micros>, b: Option<Micros>| a.into_iter().chain(b).min();
        let max = |a: Option<Micros>, b: Option<Micros>| a.into_iter().chain(b).max();
        self.first_time = min(self.first_time, later.first_time);
        self.last_time = max(self.last_time, later.last_time);
        self.epochs
            .extend(later.epochs.into_iter().map(|e| Epoch { line: base + e.line, ..e }));
        self.det_prefixes
            .extend(later.det_prefixes.into_iter().map(|p| DetPrefix { line: base + p.line, ..p }));
        let at = |m: Option<(Micros, u64)>| m.map(|(t, l)| (t, base + l));
        for r in later.runs {
            match self.runs.iter_mut().find(|s| s.run == r.run) {
                Some(s) => {
                    s.first_time = s.first_time.min(r.first_time);
                    s.last_time = s.last_time.max(r.last_time);
                    // The later record of each kind wins, as when read in order.
                    s.start = at(r.start).or(s.start);
                    s.stop = at(r.stop).or(s.stop);
                }
                None => self.runs.push(RunSummary {
                    start: at(r.start),
                    stop: at(r.stop),
                    ..r
                }),
            }
        }
    }

    /// The first time of `run` in this file.
    pub fn run_first_time(&self, run: u64) -> Option<Micros> {
        self.runs.iter().find(|s| s.run == run).map(|s| s.first_time)
    }
}
