//! The interval index of a NAT log: which subscriber held which port block
//! of which public address, and when.
//!
//! Built from a log file's block records in file order ([`Builder`]): an
//! allocation at T1 and its release at T2 become one [`Interval`]
//! `[T1, T2)`. A release whose allocation is not in the file (rotated
//! away) starts at the first record of its run in the file
//! ([`START_OPEN`]); a `block-interim` restatement of a block whose
//! allocation is not in the file starts at the allocation time it carries
//! ([`START_INTERIM`]); an allocation without release lasts to the end of
//! the log ([`END_OPEN`]); an allocation of a block that was never released
//! is closed by the next allocation of the same block ([`END_INFERRED`]).
//! Every interval carries the run that wrote it, so that a lookup can end
//! the blocks of a run that crashed ([`crate::runs`]).
//!
//! Intervals are sorted by (public address, first port, start), so that
//! the intervals covering one port are found by a binary search: a block
//! holding `port` starts at most [`IntervalIndex::max_span`] ports below it.
//! [`mod@file`] stores the index next to the log.

pub mod file;
pub mod summary;

use std::collections::HashMap;
use std::net::Ipv4Addr;

use crate::record::{Proto, Record, RecordKind};
use crate::timefmt::Micros;

pub use summary::{BadLine, DetPrefix, Epoch, RunSummary, Summary, MAX_BAD_LINES};

/// The interval begins before the file's first record: its allocation was
/// rotated away.
pub const START_OPEN: u8 = 1;
/// No release in the file: held to the end of the log (or now).
pub const END_OPEN: u8 = 2;
/// No release, but the same block was allocated again: ended there.
pub const END_INFERRED: u8 = 4;
/// The start comes from a `block-interim` record (its `aux`, the allocation
/// time); the allocation record itself is not in the file.
pub const START_INTERIM: u8 = 8;

/// One holding of a port block by a subscriber.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Interval {
    /// Public address (host order).
    pub public: u32,
    /// First port of the block.
    pub first_port: u16,
    /// Last port of the block (inclusive).
    pub last_port: u16,
    /// Allocation time (the run's first record time in the file with
    /// [`START_OPEN`]).
    pub start: Micros,
    /// Release time (the file's last record time with [`END_OPEN`]).
    pub end: Micros,
    /// The subscriber (host order).
    pub subscriber: u32,
    /// Protocols the block covers.
    pub proto: Proto,
    /// [`START_OPEN`], [`END_OPEN`], [`END_INFERRED`], [`START_INTERIM`].
    pub flags: u8,
    /// Line of the allocation record (of the interim record with
    /// [`START_INTERIM`]; 0 with [`START_OPEN`]).
    pub start_line: u32,
    /// Line of the release record (0 with [`END_OPEN`]).
    pub end_line: u32,
    /// The run that allocated the block.
    pub run: u64,
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

/// An open allocation.
#[derive(Copy, Clone, Debug)]
struct Open {
    start: Micros,
    subscriber: u32,
    line: u32,
    run: u64,
    flags: u8,
}

/// Builds intervals from a file's records, in file order.
#[derive(Debug, Default)]
pub struct Builder {
    open: HashMap<BlockKey, Open, FxBuild>,
    done: Vec<Interval>,
    summary: Summary,
}

impl Builder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Notes a line that looks like a NAT record but did not parse.
    pub fn bad_line(&mut self, line: u64, message: String) {
        self.summary.bad_line(line, message);
    }

    /// Notes a line of another program (a shared syslog file).
    pub fn other_line(&mut self, line: u64) {
        self.summary.other_line(line);
    }

    /// Feeds one record (records must come in file order).
    pub fn push(&mut self, r: &Record) {
        self.summary.record(r);
        let line = r.line.min(u32::MAX as u64) as u32;
        let key = (r.public, r.first_port, r.last_port, r.proto);
        let opened = |start: Micros, flags: u8| Open {
            start,
            subscriber: r.subscriber,
            line,
            run: r.run,
            flags,
        };
        match r.kind {
            RecordKind::Alloc => {
                if let Some(o) = self.open.insert(key, opened(r.time, 0)) {
                    self.close(key, o, r.time, 0, END_INFERRED);
                }
            }
            RecordKind::Interim => {
                // A restatement of a block still held: the allocation time
                // is in aux (a nonsensical one is not believed beyond the
                // record itself).
                let alloc = Micros::try_from(r.aux).ok().filter(|t| (1..=r.time).contains(t)).unwrap_or(r.time);
                match self.open.get(&key) {
                    Some(o) if o.subscriber == r.subscriber => {}
                    _ => {
                        if let Some(o) = self.open.insert(key, opened(alloc, START_INTERIM)) {
                            self.close(key, o, r.time, 0, END_INFERRED);
                        }
                    }
                }
            }
            RecordKind::Release => match self.open.remove(&key) {
                Some(o) if o.subscriber == r.subscriber => self.close(key, o, r.time, line, 0),
                other => {
                    if let Some(o) = other {
                        // Released by someone else: the open one ended unseen.
                        self.close(key, o, r.time, 0, END_INFERRED);
                    }
                    let first = self.summary.run_first_time(r.run).unwrap_or(r.time);
                    let o = Open {
                        start: first,
                        subscriber: r.subscriber,
                        line: 0,
                        run: r.run,
                        flags: START_OPEN,
                    };
                    self.close(key, o, r.time, line, 0);
                }
            },
            _ => {}
        }
    }

    fn close(&mut self, key: BlockKey, o: Open, end: Micros, end_line: u32, flags: u8) {
        self.done.push(Interval {
            public: key.0,
            first_port: key.1,
            last_port: key.2,
            start: o.start,
            end,
            subscriber: o.subscriber,
            proto: key.3,
            flags: o.flags | flags,
            start_line: o.line,
            end_line,
            run: o.run,
        });
    }

    /// The sorted index.
    pub fn finish(mut self) -> IntervalIndex {
        let end = self.summary.last_time.unwrap_or(0);
        let open: Vec<_> = self.open.drain().collect();
        for (key, o) in open {
            self.close(key, o, end, 0, END_OPEN);
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

    /// Whether any block record of the file names `public`.
    pub fn knows_address(&self, public: Ipv4Addr) -> bool {
        let a = u32::from(public);
        let i = self.intervals.partition_point(|x| x.public < a);
        self.intervals.get(i).is_some_and(|x| x.public == a)
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
            run: 0,
            seq: line,
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

    #[test]
    fn interim_restatements_and_runs() {
        use RecordKind::*;
        let p = [203, 0, 113, 3];
        let mut b = Builder::new();
        // Issue 10 item 11: the file starts by restating block A (allocated
        // at 50, before this file) and block B.
        let mut a = rec(1, 100, Interim, [100, 64, 0, 1], p, 1024, 1535);
        a.aux = 50;
        a.run = 9;
        b.push(&a);
        let mut x = rec(2, 110, Alloc, [100, 64, 0, 2], p, 1536, 2047);
        x.run = 9;
        b.push(&x);
        let mut y = rec(3, 120, Interim, [100, 64, 0, 2], p, 1536, 2047);
        y.aux = 110;
        y.run = 9;
        b.push(&y);
        let mut r = rec(4, 200, Release, [100, 64, 0, 1], p, 1024, 1535);
        r.run = 9;
        b.push(&r);
        // A later run releases a block it allocated before this file: held
        // from that run's first record here, not the file's.
        let mut s = rec(5, 300, DaemonStart, [0, 0, 0, 0], [0, 0, 0, 0], 0, 0);
        s.run = 10;
        b.push(&s);
        let mut t = rec(6, 400, Release, [100, 64, 0, 3], p, 2048, 2559);
        t.run = 10;
        b.push(&t);
        let idx = b.finish();
        let q = idx.query(Ipv4Addr::from(p), 1100);
        assert_eq!(q.len(), 1);
        assert_eq!(
            (q[0].start, q[0].end, q[0].flags, q[0].start_line, q[0].end_line, q[0].run),
            (50, 200, START_INTERIM, 1, 4, 9)
        );
        let q = idx.query(Ipv4Addr::from(p), 1600);
        assert_eq!(
            (q[0].start, q[0].flags, q[0].start_line),
            (110, END_OPEN, 2),
            "an interim of an open block changes nothing"
        );
        let q = idx.query(Ipv4Addr::from(p), 2100);
        assert_eq!((q[0].start, q[0].flags, q[0].run), (300, START_OPEN, 10));
        let runs = &idx.summary().runs;
        assert_eq!(runs.len(), 2);
        assert_eq!((runs[1].run, runs[1].start, runs[1].stop), (10, Some((300, 5)), None));
        assert_eq!(idx.summary().block_records, 5);
        assert_eq!(idx.summary().records, 6);
    }
}
