//! The interval index of a NAT log: which subscriber held which port block
//! of which public address, and when.
//!
//! Built from a log file's block records in file order ([`Builder`]): an
//! allocation at T1 and its release at T2 become one [`Interval`]
//! `[T1, T2)`. A release whose allocation is not in the file (rotated
//! away) starts at the file's first record ([`START_OPEN`]); an allocation
//! without release lasts to the end of the log ([`END_OPEN`]); an
//! allocation of a block that was never released is closed by the next
//! allocation of the same block ([`END_INFERRED`]).
//!
//! Intervals are sorted by (public address, first port, start), so that
//! the intervals covering one port are found by a binary search: a block
//! holding `port` starts at most [`IntervalIndex::max_span`] ports below it.
//! [`mod@file`] stores the index next to the log.

pub mod file;

use std::collections::HashMap;
use std::net::Ipv4Addr;

use serde::Serialize;

use crate::record::{Proto, Record, RecordKind};
use crate::timefmt::Micros;

/// The interval begins before the file's first record: its allocation was
/// rotated away.
pub const START_OPEN: u8 = 1;
/// No release in the file: held to the end of the log (or now).
pub const END_OPEN: u8 = 2;
/// No release, but the same block was allocated again: ended there.
pub const END_INFERRED: u8 = 4;

/// One holding of a port block by a subscriber.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Interval {
    /// Public address (host order).
    pub public: u32,
    /// First port of the block.
    pub first_port: u16,
    /// Last port of the block (inclusive).
    pub last_port: u16,
    /// Allocation time (the file's first record time with [`START_OPEN`]).
    pub start: Micros,
    /// Release time (the file's last record time with [`END_OPEN`]).
    pub end: Micros,
    /// The subscriber (host order).
    pub subscriber: u32,
    /// Protocols the block covers.
    pub proto: Proto,
    /// [`START_OPEN`], [`END_OPEN`], [`END_INFERRED`].
    pub flags: u8,
    /// Line of the allocation record (0 with [`START_OPEN`]).
    pub start_line: u32,
    /// Line of the release record (0 with [`END_OPEN`]).
    pub end_line: u32,
}

impl Interval {
    /// Whether the block holds `port`.
    pub fn covers_port(&self, port: u16) -> bool {
        self.first_port <= port && port <= self.last_port
    }

    /// The sort key.
    pub fn key(&self) -> (u32, u16, Micros) {
        (self.public, self.first_port, self.start)
    }

    /// The public address.
    pub fn public_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.public)
    }

    /// The subscriber address.
    pub fn subscriber_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.subscriber)
    }
}

/// A deterministic-mode epoch record (RFC 7422 section 2.3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
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
}

/// A line of the log that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct BadLine {
    /// 1-based line number.
    pub line: u64,
    /// The parser's message.
    pub message: String,
}

/// Most bad lines remembered per file (all are counted).
pub const MAX_BAD_LINES: usize = 100;

/// Everything the index knows about one log file besides its intervals.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Summary {
    /// Time of the first record.
    pub first_time: Option<Micros>,
    /// Time of the last record.
    pub last_time: Option<Micros>,
    /// Lines read.
    pub lines: u64,
    /// Block records (allocations and releases).
    pub block_records: u64,
    /// Lines that did not parse (count).
    pub bad_line_count: u64,
    /// The first [`MAX_BAD_LINES`] of them.
    pub bad_lines: Vec<BadLine>,
    /// Deterministic epochs.
    pub epochs: Vec<Epoch>,
}

/// A fast hasher for the builder's small fixed keys (FxHash's multiply
/// and rotate; the keys come from the operator's own logs).
#[derive(Default, Clone, Copy)]
pub struct FxHasher(u64);

impl std::fmt::Debug for FxHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FxHasher")
    }
}

impl std::hash::Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u64(*b as u64);
        }
    }

    fn write_u8(&mut self, v: u8) {
        self.write_u64(v as u64);
    }

    fn write_u16(&mut self, v: u16) {
        self.write_u64(v as u64);
    }

    fn write_u32(&mut self, v: u32) {
        self.write_u64(v as u64);
    }

    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }

    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
}

type FxBuild = std::hash::BuildHasherDefault<FxHasher>;

/// A block's key while it is open: (public, first port, last port, protocol).
type BlockKey = (u32, u16, u16, Proto);

/// An open allocation: (start, subscriber, line).
type OpenAlloc = (Micros, u32, u32);

/// Builds intervals from a file's records, in file order.
#[derive(Debug, Default)]
pub struct Builder {
    open: HashMap<BlockKey, OpenAlloc, FxBuild>,
    done: Vec<Interval>,
    summary: Summary,
}

impl Builder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Notes a line that did not parse.
    pub fn bad_line(&mut self, line: u64, message: String) {
        self.summary.lines = self.summary.lines.max(line);
        self.summary.bad_line_count += 1;
        if self.summary.bad_lines.len() < MAX_BAD_LINES {
            self.summary.bad_lines.push(BadLine { line, message });
        }
    }

    /// Feeds one record (records must come in file order).
    pub fn push(&mut self, r: &Record) {
        let s = &mut self.summary;
        s.lines = s.lines.max(r.line);
        s.first_time = Some(s.first_time.map_or(r.time, |t| t.min(r.time)));
        s.last_time = Some(s.last_time.map_or(r.time, |t| t.max(r.time)));
        let line = r.line.min(u32::MAX as u64) as u32;
        let key = (r.public, r.first_port, r.last_port, r.proto);
        match r.kind {
            RecordKind::Alloc => {
                s.block_records += 1;
                if let Some((start, sub, start_line)) = self.open.insert(key, (r.time, r.subscriber, line)) {
                    self.close(key, start, sub, start_line, r.time, 0, END_INFERRED);
                }
            }
            RecordKind::Release => {
                s.block_records += 1;
                match self.open.remove(&key) {
                    Some((start, sub, start_line)) if sub == r.subscriber => self.close(key, start, sub, start_line, r.time, line, 0),
                    other => {
                        if let Some((start, sub, start_line)) = other {
                            // Released by someone else: the open one ended unseen.
                            self.close(key, start, sub, start_line, r.time, 0, END_INFERRED);
                        }
                        let first = self.summary.first_time.unwrap_or(r.time);
                        self.close(key, first, r.subscriber, 0, r.time, line, START_OPEN);
                    }
                }
            }
            RecordKind::DetEpoch => s.epochs.push(Epoch {
                time: r.time,
                first_inside: Ipv4Addr::from(r.subscriber),
                first_public: Ipv4Addr::from(r.public),
                first_port: r.first_port,
                last_port: r.last_port,
                ports_per_subscriber: r.aux,
                line: r.line,
            }),
            RecordKind::Other => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn close(&mut self, key: BlockKey, start: Micros, sub: u32, start_line: u32, end: Micros, end_line: u32, flags: u8) {
        self.done.push(Interval {
            public: key.0,
            first_port: key.1,
            last_port: key.2,
            start,
            end,
            subscriber: sub,
            proto: key.3,
            flags,
            start_line,
            end_line,
        });
    }

    /// The sorted index.
    pub fn finish(mut self) -> IntervalIndex {
        let end = self.summary.last_time.unwrap_or(0);
        let open: Vec<_> = self.open.drain().collect();
        for (key, (start, sub, line)) in open {
            self.close(key, start, sub, line, end, 0, END_OPEN);
        }
        IntervalIndex::new(self.done, self.summary)
    }
}

/// A log file's intervals, sorted, with its summary.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IntervalIndex {
    intervals: Vec<Interval>,
    max_span: u16,
    summary: Summary,
}

impl IntervalIndex {
    /// Sorts `intervals` and computes the search bound.
    pub fn new(mut intervals: Vec<Interval>, summary: Summary) -> Self {
        intervals.sort_unstable_by_key(|i| (i.key(), i.subscriber, i.end));
        let max_span = intervals
            .iter()
            .map(|i| i.last_port.saturating_sub(i.first_port))
            .max()
            .unwrap_or(0);
        IntervalIndex {
            intervals,
            max_span,
            summary,
        }
    }

    /// All intervals, sorted.
    pub fn intervals(&self) -> &[Interval] {
        &self.intervals
    }

    /// The widest block minus one: how far below a port its block may start.
    pub fn max_span(&self) -> u16 {
        self.max_span
    }

    /// The file's summary.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// Every interval (any time) of a block holding `public:port`.
    pub fn query(&self, public: Ipv4Addr, port: u16) -> Vec<Interval> {
        let a = u32::from(public);
        let lo = (a, port.saturating_sub(self.max_span), Micros::MIN);
        let start = self.intervals.partition_point(|i| i.key() < lo);
        self.intervals[start..]
            .iter()
            .take_while(|i| i.public == a && i.first_port <= port)
            .filter(|i| i.covers_port(port))
            .copied()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn rec(line: u64, time: Micros, kind: RecordKind, sub: [u8; 4], public: [u8; 4], first: u16, last: u16) -> Record {
        Record {
            line,
            time,
            kind,
            subscriber: u32::from(Ipv4Addr::from(sub)),
            public: u32::from(Ipv4Addr::from(public)),
            first_port: first,
            last_port: last,
            proto: Proto::All,
            aux: 0,
        }
    }

    #[test]
    fn alloc_release_realloc() {
        use RecordKind::*;
        let mut b = Builder::new();
        let p = [203, 0, 113, 3];
        b.push(&rec(1, 100, Release, [100, 64, 0, 9], p, 1024, 1535));
        b.push(&rec(2, 200, Alloc, [100, 64, 0, 1], p, 1536, 2047));
        b.push(&rec(3, 300, Release, [100, 64, 0, 1], p, 1536, 2047));
        b.push(&rec(4, 400, Alloc, [100, 64, 0, 2], p, 1536, 2047));
        b.push(&rec(5, 500, Alloc, [100, 64, 0, 3], p, 2048, 2048));
        let idx = b.finish();
        assert_eq!(idx.max_span(), 511);
        let q = idx.query(Ipv4Addr::from(p), 2000);
        assert_eq!(q.len(), 2);
        assert_eq!(
            (q[0].start, q[0].end, q[0].flags, q[0].start_line, q[0].end_line),
            (200, 300, 0, 2, 3)
        );
        assert_eq!((q[1].start, q[1].end, q[1].flags), (400, 500, END_OPEN));
        let q = idx.query(Ipv4Addr::from(p), 1024);
        assert_eq!((q[0].start, q[0].end, q[0].flags), (100, 100, START_OPEN));
        assert_eq!(idx.query(Ipv4Addr::from(p), 2048).len(), 1);
        assert!(idx.query(Ipv4Addr::from(p), 2049).is_empty());
        assert!(idx.query(Ipv4Addr::new(203, 0, 113, 4), 2000).is_empty());
        assert_eq!(idx.summary().first_time, Some(100));
        assert_eq!(idx.summary().block_records, 5);
    }

    #[test]
    fn double_allocation_closes_the_first() {
        use RecordKind::*;
        let mut b = Builder::new();
        let p = [203, 0, 113, 3];
        b.push(&rec(1, 100, Alloc, [100, 64, 0, 1], p, 1024, 1535));
        b.push(&rec(2, 200, Alloc, [100, 64, 0, 2], p, 1024, 1535));
        b.push(&rec(3, 300, Release, [100, 64, 0, 2], p, 1024, 1535));
        let q = b.finish().query(Ipv4Addr::from(p), 1100);
        assert_eq!(q.len(), 2);
        assert_eq!((q[0].end, q[0].flags), (200, END_INFERRED));
        assert_eq!((q[1].start, q[1].end, q[1].flags), (200, 300, 0));
    }
}
