//! The runs of `cgnatd` seen across the log files, and how each ended.
//!
//! Every record names the run that wrote it; a run announces itself with a
//! `daemon-start` record and, when it shuts down cleanly, ends with a
//! `daemon-stop` record. A run without `daemon-stop` followed by another
//! run crashed (or lost power): its blocks left open were held for certain
//! until its last record in the logs, and by nobody after the next run
//! started (issue 10: "the honest interval, not a guess"). The last run
//! without `daemon-stop` may still be running. Run 0 (lines written before
//! runs were recorded) is never ended this way: its restarts are not
//! visible in the log.

use serde::Serialize;

use cgnat_core::natlog::run_name;

use crate::index::Summary;
use crate::timefmt::Micros;

/// One run across all files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunInfo {
    /// The run id.
    pub run: u64,
    /// Its first record in the logs.
    pub first_time: Micros,
    /// Its last record in the logs.
    pub last_time: Micros,
    /// Its `daemon-start` time, if in the logs.
    pub start: Option<Micros>,
    /// Its `daemon-stop` time, if in the logs.
    pub stop: Option<Micros>,
}

impl RunInfo {
    /// When it began: its `daemon-start`, else its first record in the logs.
    pub fn began(&self) -> Micros {
        self.start.unwrap_or(self.first_time).min(self.first_time)
    }
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RunEnd {
    /// The run (16 hex digits).
    pub run: String,
    /// `true`: a `daemon-stop` record ended it; `false`: it crashed (no
    /// `daemon-stop`, a later run started).
    pub clean: bool,
    /// Clean: the `daemon-stop` time; crash: the run's last record in the
    /// logs (the end of what is certain).
    #[serde(serialize_with = "crate::timefmt::serialize_time")]
    pub last_record: Micros,
    /// Crash: the next run's start (nothing of the crashed run can have
    /// been held after it).
    #[serde(serialize_with = "crate::timefmt::serialize_opt_time")]
    pub next_start: Option<Micros>,
}

impl RunEnd {
    /// The time after which nothing of the run was held.
    pub fn ended_by(&self) -> Micros {
        self.next_start.unwrap_or(self.last_record)
    }
}

/// Every run in the files, ordered by when it began.
#[derive(Clone, Debug, Default)]
pub struct RunTable {
    runs: Vec<RunInfo>,
}

impl RunTable {
    /// Merges the runs of every file's summary.
    pub fn from_summaries<'a>(summaries: impl IntoIterator<Item = &'a Summary>) -> RunTable {
        let mut runs: Vec<RunInfo> = Vec::new();
        for s in summaries {
            for r in &s.runs {
                match runs.iter_mut().find(|x| x.run == r.run) {
                    Some(x) => {
                        x.first_time = x.first_time.min(r.first_time);
                        x.last_time = x.last_time.max(r.last_time);
                        x.start = x.start.or(r.start.map(|s| s.0));
                        x.stop = x.stop.or(r.stop.map(|s| s.0));
                    }
                    None => runs.push(RunInfo {
                        run: r.run,
                        first_time: r.first_time,
                        last_time: r.last_time,
                        start: r.start.map(|s| s.0),
                        stop: r.stop.map(|s| s.0),
                    }),
                }
            }
        }
        runs.sort_by_key(|r| (r.began(), r.run));
        RunTable { runs }
    }

    /// The runs, by when they began.
    pub fn runs(&self) -> &[RunInfo] {
        &self.runs
    }

    /// How `run` ended, if it did (`None`: still running as far as the
    /// logs tell, unknown, or run 0).
    pub fn end_of(&self, run: u64) -> Option<RunEnd> {
        if run == 0 {
            return None;
        }
        let i = self.runs.iter().position(|r| r.run == run)?;
        let r = &self.runs[i];
        if let Some(stop) = r.stop {
            return Some(RunEnd {
                run: run_name(run).to_string(),
                clean: true,
                last_record: stop,
                next_start: None,
            });
        }
        let next = self.runs[i + 1..].iter().filter(|n| n.run != 0).map(RunInfo::began).min()?;
        Some(RunEnd {
            run: run_name(run).to_string(),
            clean: false,
            last_record: r.last_time.min(next),
            next_start: Some(next),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::index::RunSummary;

    fn summary(runs: Vec<RunSummary>) -> Summary {
        Summary {
            runs,
            ..Summary::default()
        }
    }

    fn run(run: u64, first: Micros, last: Micros, start: bool, stop: bool) -> RunSummary {
        RunSummary {
            run,
            first_time: first,
            last_time: last,
            start: start.then_some((first, 1)),
            stop: stop.then_some((last, 9)),
        }
    }

    #[test]
    fn crash_clean_stop_and_live_run() {
        // Run 1 crashed (no stop, run 2 followed), run 2 stopped cleanly,
        // run 3 is live. Run 1 is split over two files (rotation).
        let a = summary(vec![run(1, 100, 150, true, false)]);
        let b = summary(vec![run(1, 160, 200, false, false), run(2, 300, 400, true, true)]);
        let c = summary(vec![run(3, 500, 600, true, false)]);
        let t = RunTable::from_summaries([&c, &b, &a]);
        assert_eq!(t.runs().iter().map(|r| r.run).collect::<Vec<_>>(), [1, 2, 3]);
        let e = t.end_of(1).unwrap();
        assert_eq!((e.clean, e.last_record, e.next_start), (false, 200, Some(300)));
        assert_eq!(e.ended_by(), 300);
        let e = t.end_of(2).unwrap();
        assert_eq!((e.clean, e.last_record, e.next_start), (true, 400, None));
        assert_eq!(t.end_of(3), None);
        assert_eq!(t.end_of(0), None);
        assert_eq!(t.end_of(77), None);
    }
}
