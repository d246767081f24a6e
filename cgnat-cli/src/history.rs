//! The history of one public port across several log files: per-file
//! intervals stitched into holdings, and the holder at a given time.
//!
//! Files are taken in order of their first record. An allocation left open
//! at the end of one file is continued by the matching release without
//! allocation at the start of a later file (rotation split the pair); if a
//! later file allocates the block anew instead, the open holding ended
//! there (its release record is missing: the end is marked inferred).

use std::net::Ipv4Addr;

use serde::Serialize;

use crate::index::{Interval, END_INFERRED, END_OPEN, START_OPEN};
use crate::record::Proto;
use crate::timefmt::{format_time, Micros};

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
    #[serde(serialize_with = "ser_time")]
    pub allocated: Micros,
    /// The allocation record is not in the logs (rotated away).
    pub allocated_before_logs: bool,
    /// Release time; `None`: still held at the end of the logs.
    #[serde(serialize_with = "ser_opt_time")]
    pub released: Option<Micros>,
    /// No release record: the end is when the block was next allocated.
    pub release_inferred: bool,
    /// The allocation record.
    pub allocation_record: Option<Evidence>,
    /// The release record.
    pub release_record: Option<Evidence>,
}

fn ser_time<S: serde::Serializer>(t: &Micros, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&format_time(*t))
}

fn ser_opt_time<S: serde::Serializer>(t: &Option<Micros>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&format_time(*t)),
        None => s.serialize_none(),
    }
}

impl Holding {
    /// Whether the holding covers time `t`.
    pub fn holds_at(&self, t: Micros) -> bool {
        self.allocated <= t && self.released.map_or(true, |r| t < r)
    }

    fn same_block(&self, i: &Interval) -> bool {
        u32::from(self.public) == i.public && self.first_port == i.first_port && self.last_port == i.last_port && self.protocol == i.proto
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
                    None => Holding {
                        subscriber: Ipv4Addr::from(i.subscriber),
                        public: Ipv4Addr::from(i.public),
                        first_port: i.first_port,
                        last_port: i.last_port,
                        protocol: i.proto,
                        allocated: i.start,
                        allocated_before_logs: true,
                        released: Some(i.end),
                        release_inferred: i.flags & END_INFERRED != 0,
                        allocation_record: None,
                        release_record: evidence(&f.file, i.end_line),
                    },
                }
            } else {
                // The same allocation in another file (a directory holding
                // both the text and the JSON log): one holding.
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
                Holding {
                    subscriber: Ipv4Addr::from(i.subscriber),
                    public: Ipv4Addr::from(i.public),
                    first_port: i.first_port,
                    last_port: i.last_port,
                    protocol: i.proto,
                    allocated: i.start,
                    allocated_before_logs: false,
                    released: (i.flags & END_OPEN == 0).then_some(i.end),
                    release_inferred: i.flags & END_INFERRED != 0,
                    allocation_record: evidence(&f.file, i.start_line),
                    release_record: evidence(&f.file, i.end_line),
                }
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
}
