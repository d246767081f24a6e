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

pub mod blocks;
pub mod file;
pub mod open_table;
pub mod parallel;
pub mod summary;

use std::net::Ipv4Addr;

use rayon::slice::ParallelSliceMut;

use crate::record::{Proto, Record};
use crate::timefmt::Micros;

pub use blocks::{BlockKind, BlockOp, Blocks};
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

    /// [`Self::key`] in one number, in the same order (the start's sign
    /// bit flipped): comparing it is one instruction pair where the tuple
    /// takes three comparisons and branches.
    fn packed_key(&self) -> u128 {
        (self.public as u128) << 96 | (self.first_port as u128) << 64 | (self.start as u64 ^ 1 << 63) as u128
    }

    /// The order of an index: by [`Self::key`], then every other field,
    /// a total order (the packed key first: the other fields decide only
    /// between intervals of one block starting at the same time, rare).
    pub fn order(a: &Interval, b: &Interval) -> std::cmp::Ordering {
        a.packed_key().cmp(&b.packed_key()).then_with(|| a.full_key().cmp(&b.full_key()))
    }

    /// The sort key and then every other field: a total order.
    #[allow(clippy::type_complexity)]
    fn full_key(&self) -> ((u32, u16, Micros), u32, Micros, u16, Proto, u8, u32, u32, u64) {
        (
            self.key(),
            self.subscriber,
            self.end,
            self.last_port,
            self.proto,
            self.flags,
            self.start_line,
            self.end_line,
            self.run,
        )
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

/// Builds intervals from a file's records, in file order: the reference
/// build, one record after the other ([`parallel`] splits the same work
/// among threads and gives the same index).
#[derive(Debug, Default)]
pub struct Builder {
    blocks: Blocks,
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
        let summary = &self.summary;
        if let Some(op) = BlockOp::of(r, || summary.run_first_time(r.run).unwrap_or(r.time)) {
            self.blocks.push(&op);
        }
    }

    /// The sorted index.
    pub fn finish(self) -> IntervalIndex {
        let end = self.summary.last_time.unwrap_or(0);
        IntervalIndex::new(self.blocks.finish(end), self.summary)
    }
}

/// A log file's intervals, sorted, with its summary.
///
/// Held as parts: each part sorted by [`Interval::order`], and every
/// public address of one part below every public address of the next, so
/// that the parts in turn are the whole index in order. A parallel build
/// ([`parallel`]) sorts each of its partitions, ranges of public
/// addresses, on its own and never the whole.
#[derive(Clone, Debug, Default)]
pub struct IntervalIndex {
    parts: Vec<Vec<Interval>>,
    max_span: u16,
    summary: Summary,
}

impl PartialEq for IntervalIndex {
    /// The same intervals in the same order, however they are split.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.max_span == other.max_span && self.summary == other.summary && self.iter().eq(other.iter())
    }
}

impl Eq for IntervalIndex {}

impl IntervalIndex {
    /// Sorts `intervals` ([`Interval::order`], so the order does not
    /// depend on the order they come in) and computes the search bound.
    pub fn new(mut intervals: Vec<Interval>, summary: Summary) -> Self {
        intervals.par_sort_unstable_by(Interval::order);
        Self::from_sorted_parts(vec![intervals], summary)
    }

    /// The index of `parts`, each sorted by [`Interval::order`] and each
    /// holding only public addresses above those of the parts before it.
    pub(crate) fn from_sorted_parts(mut parts: Vec<Vec<Interval>>, summary: Summary) -> Self {
        parts.retain(|p| !p.is_empty());
        debug_assert!(parts.iter().all(|p| p.is_sorted_by(|a, b| Interval::order(a, b).is_le())));
        debug_assert!(parts.windows(2).all(|w| w[0][w[0].len() - 1].public < w[1][0].public));
        let max_span = parts
            .iter()
            .flatten()
            .map(|i| i.last_port.saturating_sub(i.first_port))
            .max()
            .unwrap_or(0);
        IntervalIndex { parts, max_span, summary }
    }

    /// Number of intervals.
    pub fn len(&self) -> usize {
        self.parts.iter().map(Vec::len).sum()
    }

    /// Whether there is no interval.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// All intervals, in order.
    pub fn iter(&self) -> impl Iterator<Item = &Interval> + '_ {
        self.parts.iter().flatten()
    }

    /// The sorted parts (see the type's documentation), none empty.
    pub fn parts(&self) -> &[Vec<Interval>] {
        &self.parts
    }

    /// The widest block minus one: how far below a port its block may start.
    pub fn max_span(&self) -> u16 {
        self.max_span
    }

    /// The file's summary.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// The part that holds the intervals of `public`, if any may.
    fn part_of(&self, public: u32) -> &[Interval] {
        let p = self.parts.partition_point(|p| p[p.len() - 1].public < public);
        self.parts.get(p).map_or(&[], |p| &p[..])
    }

    /// Whether any block record of the file names `public`.
    pub fn knows_address(&self, public: Ipv4Addr) -> bool {
        let a = u32::from(public);
        let part = self.part_of(a);
        let i = part.partition_point(|x| x.public < a);
        part.get(i).is_some_and(|x| x.public == a)
    }

    /// Every interval (any time) of a block holding `public:port`.
    pub fn query(&self, public: Ipv4Addr, port: u16) -> Vec<Interval> {
        let a = u32::from(public);
        let part = self.part_of(a);
        let lo = (a, port.saturating_sub(self.max_span), Micros::MIN);
        let start = part.partition_point(|i| i.key() < lo);
        part[start..]
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
    use crate::record::RecordKind;

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
    fn the_packed_key_orders_as_the_key() {
        let mut all = Vec::new();
        for public in [0, 1, 0xc612_0001, u32::MAX] {
            for first_port in [0, 1, 1024, u16::MAX] {
                for start in [Micros::MIN, -1, 0, 1, 1_700_000_000_000_000, Micros::MAX] {
                    all.push(Interval {
                        public,
                        first_port,
                        last_port: first_port,
                        start,
                        end: 0,
                        subscriber: 0,
                        proto: Proto::All,
                        flags: 0,
                        start_line: 0,
                        end_line: 0,
                        run: 0,
                    });
                }
            }
        }
        for a in &all {
            for b in &all {
                assert_eq!(a.packed_key().cmp(&b.packed_key()), a.key().cmp(&b.key()), "{a:?} {b:?}");
            }
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
