//! Pairing the block records of one log file into intervals: the state
//! machine of [`super::Builder`], on its own so that the parallel build
//! ([`super::parallel`]) runs the very same code on a share of the blocks.
//!
//! Every decision here depends only on the earlier records *of the same
//! block* (the open allocation of its key) and on one value the caller
//! computes from the records of the whole file, the first time of a run so
//! far ([`BlockOp::extra`] of a release). So the blocks can be split by key
//! among several [`Blocks`], each fed its blocks' records in file order,
//! and their intervals together are those of one [`Blocks`] fed them all.

use super::open_table::{BlockKey, Open, OpenTable};
use super::{Interval, END_INFERRED, END_OPEN, START_INTERIM, START_OPEN};
use crate::record::{Proto, Record, RecordKind};
use crate::timefmt::Micros;

/// What a block record does.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum BlockKind {
    /// `block-alloc`.
    Alloc,
    /// `block-release`.
    Release,
    /// `block-interim`.
    Interim,
}

/// One block record, as the pairing needs it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct BlockOp {
    /// What it does.
    pub kind: BlockKind,
    /// Protocol scope.
    pub proto: Proto,
    /// First port.
    pub first_port: u16,
    /// Last port.
    pub last_port: u16,
    /// Public address (host order).
    pub public: u32,
    /// Subscriber (host order).
    pub subscriber: u32,
    /// Record time.
    pub time: Micros,
    /// An interim record: the allocation time it states (a nonsensical one
    /// replaced by the record's time). A release: the first time of its
    /// run in the file up to and including this record (the start of a
    /// [`START_OPEN`] interval). Else 0.
    pub extra: Micros,
    /// The run that wrote it.
    pub run: u64,
    /// Its line in the file.
    pub line: u64,
}

impl BlockOp {
    /// The block operation of a record (`None` for other records);
    /// `run_first` is the first time of the record's run in the file up to
    /// and including this record (called for a release only).
    pub fn of(r: &Record, run_first: impl FnOnce() -> Micros) -> Option<BlockOp> {
        let (kind, extra) = match r.kind {
            RecordKind::Alloc => (BlockKind::Alloc, 0),
            // A restatement of a block still held: the allocation time is
            // in aux (a nonsensical one is not believed beyond the record
            // itself).
            RecordKind::Interim => (
                BlockKind::Interim,
                Micros::try_from(r.aux).ok().filter(|t| (1..=r.time).contains(t)).unwrap_or(r.time),
            ),
            RecordKind::Release => (BlockKind::Release, run_first()),
            _ => return None,
        };
        Some(BlockOp {
            kind,
            proto: r.proto,
            first_port: r.first_port,
            last_port: r.last_port,
            public: r.public,
            subscriber: r.subscriber,
            time: r.time,
            extra,
            run: r.run,
            line: r.line,
        })
    }

    /// The key of its block.
    pub fn key(&self) -> BlockKey {
        BlockKey::new(self.public, self.first_port, self.last_port, self.proto)
    }
}

/// Pairs block records (in file order) into intervals.
#[derive(Debug, Default)]
pub struct Blocks {
    open: OpenTable,
    done: Vec<Interval>,
}

impl Blocks {
    /// Nothing open, nothing done.
    pub fn new() -> Self {
        Self::default()
    }

    /// Nothing open, room for `intervals` done.
    pub fn with_capacity(intervals: usize) -> Self {
        Blocks {
            open: OpenTable::new(),
            done: Vec::with_capacity(intervals),
        }
    }

    /// Asks for the state of `op`'s block to be brought into the cache,
    /// a few records before it is pushed.
    #[inline(always)]
    pub fn prefetch(&self, op: &BlockOp) {
        self.open.prefetch(&op.key());
    }

    /// Feeds one block record (records of a block must come in file order).
    pub fn push(&mut self, op: &BlockOp) {
        let line = op.line.min(u32::MAX as u64) as u32;
        let key = op.key();
        let opened = |start: Micros, flags: u8| Open {
            start,
            subscriber: op.subscriber,
            line,
            run: op.run,
            flags,
        };
        match op.kind {
            BlockKind::Alloc => {
                if let Some(o) = self.open.insert(key, opened(op.time, 0)) {
                    self.close(key, o, op.time, 0, END_INFERRED);
                }
            }
            BlockKind::Interim => match self.open.get(&key) {
                Some(o) if o.subscriber == op.subscriber => {}
                _ => {
                    if let Some(o) = self.open.insert(key, opened(op.extra, START_INTERIM)) {
                        self.close(key, o, op.time, 0, END_INFERRED);
                    }
                }
            },
            BlockKind::Release => match self.open.remove(&key) {
                Some(o) if o.subscriber == op.subscriber => self.close(key, o, op.time, line, 0),
                other => {
                    if let Some(o) = other {
                        // Released by someone else: the open one ended unseen.
                        self.close(key, o, op.time, 0, END_INFERRED);
                    }
                    let o = Open {
                        start: op.extra,
                        subscriber: op.subscriber,
                        line: 0,
                        run: op.run,
                        flags: START_OPEN,
                    };
                    self.close(key, o, op.time, line, 0);
                }
            },
        }
    }

    fn close(&mut self, key: BlockKey, o: Open, end: Micros, end_line: u32, flags: u8) {
        self.done.push(Interval {
            public: key.public(),
            first_port: key.first_port(),
            last_port: key.last_port(),
            start: o.start,
            end,
            subscriber: o.subscriber,
            proto: key.proto(),
            flags: o.flags | flags,
            start_line: o.line,
            end_line,
            run: o.run,
        });
    }

    /// The intervals (unsorted), the blocks still open ending at `end`
    /// (the file's last record time) with [`END_OPEN`].
    pub fn finish(mut self, end: Micros) -> Vec<Interval> {
        let open: Vec<_> = self.open.drain().collect();
        for (key, o) in open {
            self.close(key, o, end, 0, END_OPEN);
        }
        self.done
    }
}
