//! The history of one public port across several log files: per-file
//! intervals stitched into holdings, and the holder at a given time.
//!
//! Files are taken in order of their first record. An allocation left open
//! at the end of one file is continued by the matching release without
//! allocation at the start of a later file (rotation split the pair); if a
//! later file allocates the block anew instead, the open holding ended
//! there (its release record is missing: the end is marked inferred).
//! A `block-interim` restatement in a later file continues the holding of
//! the same allocation; alone (the allocation's file not given), it starts
//! the holding at the allocation time it carries.
//!
//! Then [`end_runs`] ends the holdings a run left open when it ended: at
//! its `daemon-stop`, or, for a run that crashed, at the next run's start,
//! held for certain only until the crashed run's last record.

use std::net::Ipv4Addr;

use serde::Serialize;

use crate::index::{Interval, END_INFERRED, END_OPEN, START_INTERIM, START_OPEN};
use crate::record::Proto;
use crate::runs::{RunEnd, RunTable};
use crate::timefmt::Micros;

/// A place in a log file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// The log file.
    pub file: String,
    /// 1-based line.
    pub line: u32,
}

/// One subscriber's holding of a port block, over all files.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Holding {
    /// The subscriber.
    pub subscriber: Ipv4Addr,
    /// The public address.
    pub public: Ipv4Addr,
    /// First port of the block.
    pub first_port: u16,
    /// Last port of the block.
    pub last_port: u16,
    /// Protocols of the block.
    pub protocol: Proto,
    /// Allocation time, or the first record of the oldest file that
    /// mentions the holding when `allocated_before_logs`.
    #[serde(serialize_with = "crate::timefmt::serialize_time")]
    pub allocated: Micros,
    /// The allocation record is not in the logs (rotated away).
    pub allocated_before_logs: bool,
    /// The allocation time comes from a `block-interim` restatement (the
    /// allocation record itself is not among the files).
    pub allocation_restated: bool,
    /// Release time; `None`: still held at the end of the logs.
    #[serde(serialize_with = "crate::timefmt::serialize_opt_time")]
    pub released: Option<Micros>,
    /// No release record: the end is when the block was next allocated.
    pub release_inferred: bool,
    /// The allocation record.
    pub allocation_record: Option<Evidence>,
    /// The release record.
    pub release_record: Option<Evidence>,
    /// The run that allocated the block (16 hex digits; zeros: written
    /// before runs were recorded).
    #[serde(serialize_with = "ser_run")]
    pub run: u64,
    /// The run ended with the block open (no release record): how.
    pub run_ended: Option<RunEnd>,
    /// Held for certain only until then (a crashed run's last record);
    /// until `released` nobody else can have held it.
    #[serde(serialize_with = "crate::timefmt::serialize_opt_time")]
    pub certain_until: Option<Micros>,
    /// A live lookup's details (the daemon's answer); `null` from the logs.
    pub live: Option<LiveHolding>,
}

/// What only the running daemon knows about a holding.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LiveHolding {
    /// `dynamic`, `deterministic` or `static`.
    pub kind: String,
    /// Live mappings on the port: (protocol, inside port).
    pub mappings: Vec<(cgnat_core::control::ProtocolName, u16)>,
    /// Live mappings in the whole block.
    pub block_mappings: u32,
}

fn ser_run<S: serde::Serializer>(r: &u64, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&cgnat_core::natlog::run_name(*r))
}

impl Holding {
    /// Whether the holding covers time `t`.
    pub fn holds_at(&self, t: Micros) -> bool {
        self.allocated <= t && self.released.is_none_or(|r| t < r)
    }

    /// Whether the holding at `t` is certain (not in the window after a
    /// crashed run's last record).
    pub fn certain_at(&self, t: Micros) -> bool {
        self.certain_until.is_none_or(|c| t <= c)
    }

    fn same_block(&self, i: &Interval) -> bool {
        u32::from(self.public) == i.public
            && self.first_port == i.first_port
            && self.last_port == i.last_port
            && self.protocol == i.proto
            && self.run == i.run
    }

    fn from_interval(file: &str, i: &Interval) -> Holding {
        let start_open = i.flags & START_OPEN != 0;
        let end_open = i.flags & END_OPEN != 0;
        Holding {
            subscriber: Ipv4Addr::from(i.subscriber),
            public: Ipv4Addr::from(i.public),
            first_port: i.first_port,
            last_port: i.last_port,
            protocol: i.proto,
            allocated: i.start,
            allocated_before_logs: start_open,
            allocation_restated: i.flags & START_INTERIM != 0,
            released: (!end_open).then_some(i.end),
            release_inferred: i.flags & END_INFERRED != 0,
            allocation_record: if start_open { None } else { evidence(file, i.start_line) },
            release_record: evidence(file, i.end_line),
            run: i.run,
            run_ended: None,
            certain_until: None,
            live: None,
        }
    }

    fn overlaps(&self, i: &Interval) -> bool {
        u32::from(self.public) == i.public && self.first_port <= i.last_port && i.first_port <= self.last_port
    }
}

/// The intervals one file holds for the port, with the file's name and first record time.
#[derive(Clone, Debug)]
pub struct FileIntervals {
    /// The file, as shown to the user.
    pub file: String,
    /// Its first record time (orders the files).
    pub first_time: Micros,
    /// Intervals covering the port.
    pub intervals: Vec<Interval>,
}

fn evidence(file: &str, line: u32) -> Option<Evidence> {
    (line > 0).then(|| Evidence {
        file: file.to_string(),
        line,
    })
}

/// Stitches the files' intervals into holdings, sorted by allocation time.
pub fn stitch(mut files: Vec<FileIntervals>) -> Vec<Holding> {
    files.sort_by_key(|f| f.first_time);
    let mut done: Vec<Holding> = Vec::new();
    let mut open: Vec<Holding> = Vec::new();
    for f in &files {
        let mut ivs = f.intervals.clone();
        ivs.sort_by_key(|i| (i.start, i.flags & START_OPEN == 0));
        for i in &ivs {
            let h = if i.flags & START_OPEN != 0 {
                let carried = open
                    .iter()
                    .position(|h| h.same_block(i) && u32::from(h.subscriber) == i.subscriber)
                    .map(|k| open.remove(k));
                match carried {
                    Some(mut h) => {
                        h.released = Some(i.end);
                        h.release_record = evidence(&f.file, i.end_line);
                        h.release_inferred = i.flags & END_INFERRED != 0;
                        done.push(h);
                        continue;
                    }
                    None => Holding::from_interval(&f.file, i),
                }
            } else {
                // The same allocation in another file (a directory holding
                // both the text and the JSON log, or a block-interim
                // restatement in a later file): one holding.
                let dup = open
                    .iter()
                    .position(|h| h.same_block(i) && u32::from(h.subscriber) == i.subscriber && h.allocated == i.start);
                if let Some(k) = dup {
                    if i.flags & END_OPEN == 0 {
                        let mut h = open.remove(k);
                        h.released = Some(i.end);
                        h.release_record = evidence(&f.file, i.end_line);
                        h.release_inferred = i.flags & END_INFERRED != 0;
                        done.push(h);
                    }
                    continue;
                }
                // A fresh allocation ends whatever held an overlapping block.
                let mut k = 0;
                while k < open.len() {
                    // (Files overlapping in time may bring an older one.)
                    if open[k].overlaps(i) && open[k].allocated <= i.start {
                        let mut h = open.remove(k);
                        h.released = Some(i.start);
                        h.release_inferred = true;
                        done.push(h);
                    } else {
                        k += 1;
                    }
                }
                Holding::from_interval(&f.file, i)
            };
            if h.released.is_none() {
                open.push(h);
            } else {
                done.push(h);
            }
        }
    }
    done.extend(open);
    done.sort_by_key(|h| (h.allocated, h.first_port));
    let mut seen = std::collections::HashSet::new();
    done.retain(|h| {
        seen.insert((
            h.subscriber,
            h.public,
            h.first_port,
            h.last_port,
            h.protocol,
            h.allocated,
            h.released,
        ))
    });
    done
}

/// Ends the holdings that a run left open when it ended (see
/// [`crate::runs`]): at its `daemon-stop`, or, after a crash, at the next
/// run's start, certain only until the crashed run's last record. A
/// release inferred later than the run's end is moved to it.
pub fn end_runs(holdings: &mut [Holding], runs: &RunTable) {
    for h in holdings.iter_mut() {
        let Some(end) = runs.end_of(h.run) else { continue };
        let after = end.ended_by();
        let open = match h.released {
            None => true,
            Some(r) => h.release_inferred && r > after,
        };
        if !open || h.allocated > after {
            continue;
        }
        h.released = Some(after);
        h.release_inferred = true;
        h.release_record = None;
        if !end.clean {
            h.certain_until = Some(end.last_record);
        }
        h.run_ended = Some(end);
    }
}

/// The answer for one time.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct AtTime {
    /// Holdings covering the time (normally one).
    pub holders: Vec<Holding>,
    /// The last holding that ended at or before the time.
    pub previous: Option<Holding>,
    /// The first holding that started after the time.
    pub next: Option<Holding>,
}

/// The holders of the port at `t`, for lookups of protocol `proto`.
pub fn at_time(history: &[Holding], t: Micros, proto: Option<Proto>) -> AtTime {
    let hs: Vec<&Holding> = history.iter().filter(|h| h.protocol.matches(proto)).collect();
    AtTime {
        holders: hs.iter().filter(|h| h.holds_at(t)).map(|h| (*h).clone()).collect(),
        previous: hs
            .iter()
            .filter(|h| h.released.is_some_and(|r| r <= t))
            .max_by_key(|h| h.released)
            .map(|h| (*h).clone()),
        next: hs
            .iter()
            .filter(|h| h.allocated > t)
            .min_by_key(|h| h.allocated)
            .map(|h| (*h).clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(start: Micros, end: Micros, sub: u32, flags: u8, lines: (u32, u32)) -> Interval {
        Interval {
            public: 0xcb00_7103,
            first_port: 1536,
            last_port: 2047,
            start,
            end,
            subscriber: 0x6440_0100 + sub,
            proto: Proto::All,
            flags,
            start_line: lines.0,
            end_line: lines.1,
            run: 0,
        }
    }

    fn file(name: &str, first: Micros, intervals: Vec<Interval>) -> FileIntervals {
        FileIntervals {
            file: name.into(),
            first_time: first,
            intervals,
        }
    }

    #[test]
    fn rotation_split_pair_is_joined() {
        let h = stitch(vec![
            file(
                "nat.log",
                500,
                vec![iv(500, 600, 1, START_OPEN, (0, 3)), iv(700, 900, 2, END_OPEN, (9, 0))],
            ),
            file("nat.log.1.gz", 100, vec![iv(200, 400, 1, END_OPEN, (7, 0))]),
        ]);
        assert_eq!(h.len(), 2);
        assert_eq!((h[0].allocated, h[0].released, h[0].allocated_before_logs), (200, Some(600), false));
        assert_eq!(h[0].allocation_record.as_ref().unwrap().file, "nat.log.1.gz");
        assert_eq!(h[0].release_record.as_ref().unwrap().line, 3);
        assert_eq!((h[1].allocated, h[1].released), (700, None));
        let a = at_time(&h, 650, None);
        assert!(a.holders.is_empty());
        assert_eq!(a.previous.unwrap().subscriber, Ipv4Addr::new(100, 64, 1, 1));
        assert_eq!(a.next.unwrap().subscriber, Ipv4Addr::new(100, 64, 1, 2));
        assert_eq!(at_time(&h, 599, None).holders.len(), 1);
        assert_eq!(at_time(&h, 600, None).holders.len(), 0);
        assert_eq!(at_time(&h, 10_000, None).holders[0].subscriber, Ipv4Addr::new(100, 64, 1, 2));
    }

    #[test]
    fn missing_release_is_inferred_from_next_allocation() {
        let h = stitch(vec![
            file("a", 100, vec![iv(100, 150, 1, END_OPEN, (1, 0))]),
            file("b", 300, vec![iv(300, 400, 2, 0, (1, 2))]),
        ]);
        assert_eq!((h[0].released, h[0].release_inferred), (Some(300), true));
        let h = stitch(vec![file("a", 50, vec![iv(50, 80, 3, START_OPEN, (0, 4))])]);
        assert!(h[0].allocated_before_logs && h[0].allocation_record.is_none());
    }

    #[test]
    fn the_same_records_in_two_files_give_one_holding() {
        let a = vec![iv(100, 200, 1, 0, (1, 2)), iv(300, 300, 2, END_OPEN, (3, 0))];
        let h = stitch(vec![file("nat.log", 100, a.clone()), file("nat.jsonl", 100, a)]);
        assert_eq!(h.len(), 2, "{h:?}");
        assert_eq!(at_time(&h, 150, None).holders.len(), 1);
        let now = at_time(&h, 400, None);
        assert_eq!(now.holders.len(), 1);
        assert_eq!(now.holders[0].released, None);
    }

    #[test]
    fn protocol_filter() {
        let mut i = iv(100, 200, 1, 0, (1, 2));
        i.proto = Proto::Tcp;
        let h = stitch(vec![file("a", 100, vec![i])]);
        assert_eq!(at_time(&h, 150, Some(Proto::Tcp)).holders.len(), 1);
        assert_eq!(at_time(&h, 150, Some(Proto::Udp)).holders.len(), 0);
        assert_eq!(at_time(&h, 150, None).holders.len(), 1);
    }

    #[test]
    fn interim_restatement_continues_or_starts_the_holding() {
        // Issue 10 item 11: a later file restates a block still held, so
        // that file alone answers for its period.
        let older = file("nat.log.20231114T000000Z", 100, vec![iv(200, 400, 1, END_OPEN, (7, 0))]);
        let newer = file("nat.log", 500, vec![iv(200, 600, 1, START_INTERIM, (2, 5))]);
        let h = stitch(vec![newer.clone(), older]);
        assert_eq!(h.len(), 1, "{h:?}");
        assert_eq!((h[0].allocated, h[0].released), (200, Some(600)));
        assert!(!h[0].allocation_restated);
        assert_eq!(h[0].allocation_record.as_ref().unwrap().line, 7);
        assert_eq!(h[0].release_record.as_ref().unwrap().file, "nat.log");
        // The newest file alone: held from the restated allocation time.
        let h = stitch(vec![newer]);
        assert!(h[0].allocation_restated && !h[0].allocated_before_logs);
        assert_eq!(h[0].allocation_record.as_ref().unwrap().line, 2);
        assert_eq!(at_time(&h, 250, None).holders.len(), 1);
        assert_eq!(at_time(&h, 150, None).holders.len(), 0);
    }

    #[test]
    fn a_crashed_run_ends_its_open_blocks_honestly() {
        use crate::index::{RunSummary, Summary};
        // Run 1 allocated at 150 and crashed after its last record at 300;
        // run 2 started at 400 and gave the block to subscriber 2 at 500.
        let mut a = iv(150, 300, 1, END_OPEN, (3, 0));
        a.run = 1;
        let mut b = iv(500, 600, 2, END_OPEN, (4, 0));
        b.run = 2;
        let mut h = stitch(vec![file("nat.log", 100, vec![a, b])]);
        assert_eq!(h[0].released, Some(500), "inferred from the next allocation");
        let run = |run, first, last| RunSummary {
            run,
            first_time: first,
            last_time: last,
            start: Some((first, 1)),
            stop: None,
        };
        let s = Summary {
            runs: vec![run(1, 100, 300), run(2, 400, 600)],
            ..Summary::default()
        };
        end_runs(&mut h, &RunTable::from_summaries([&s]));
        assert_eq!((h[0].released, h[0].certain_until), (Some(400), Some(300)));
        let end = h[0].run_ended.as_ref().unwrap();
        assert!(!end.clean);
        assert_eq!(end.next_start, Some(400));
        // Certain until the last record, possible until the next start,
        // then nobody until the next holder.
        let t = at_time(&h, 250, None);
        assert!(t.holders[0].certain_at(250));
        let t = at_time(&h, 350, None);
        assert_eq!(t.holders.len(), 1);
        assert!(!t.holders[0].certain_at(350));
        let t = at_time(&h, 450, None);
        assert!(t.holders.is_empty());
        assert_eq!(t.previous.unwrap().subscriber, Ipv4Addr::new(100, 64, 1, 1));
        assert_eq!(t.next.unwrap().subscriber, Ipv4Addr::new(100, 64, 1, 2));
        // The live run 2 keeps its block open.
        assert_eq!(h[1].released, None);
    }
}
