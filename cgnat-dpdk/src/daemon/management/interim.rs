//! Interim records (issue 10 item 11): each log target tracks the blocks
//! still held from the records it writes, and re-states them as
//! `block-interim` records at the start of every new file and at least
//! once per UTC day of record time, so that any one file (or day of an
//! archive) answers "who held P:p at T" for its period without the file,
//! possibly months old, that holds the original allocation.
//!
//! A `block-interim` record carries the allocation's subscriber, public
//! address, ports, protocol, producer and producer sequence; `aux` is the
//! allocation time (µs since the epoch), `reason` is `interim`, `time` and
//! `seq` are those of the next regular record (interim records are not
//! part of the sequence), `run` the current run.

use std::collections::BTreeMap;

use cgnat_core::event::{EventKind, Reason};
use cgnat_core::natlog::LogRecord;

/// The key of a block: public address, ports, protocol scope.
type BlockKey = (u32, u16, u16, &'static str);

fn key(r: &LogRecord) -> BlockKey {
    (u32::from(r.public_addr), r.first_port, r.last_port, r.protocol.name())
}

/// The blocks held, as known from the records written.
#[derive(Clone, Debug, Default)]
pub struct OpenBlocks {
    blocks: BTreeMap<BlockKey, LogRecord>,
    /// The UTC day (days since the epoch) of the last restatement or of
    /// the first record seen.
    day: Option<u64>,
}

fn day_of(r: &LogRecord) -> u64 {
    r.time.as_secs() / 86_400
}

impl OpenBlocks {
    /// Follows one written record: allocations add a block, releases
    /// remove it, a `daemon-start` begins a run with none.
    pub fn observe(&mut self, r: &LogRecord) {
        match r.event {
            EventKind::BlockAllocated => {
                self.blocks.insert(key(r), *r);
            }
            EventKind::BlockReleased => {
                self.blocks.remove(&key(r));
            }
            EventKind::DaemonStart => self.blocks.clear(),
            _ => {}
        }
        self.day.get_or_insert(day_of(r));
    }

    /// Whether `next` is the first record of a new UTC day since the last
    /// restatement (a daily restatement is due before it).
    pub fn new_day(&self, next: &LogRecord) -> bool {
        self.day.is_some_and(|d| day_of(next) > d)
    }

    /// The `block-interim` records to write before `next`, in block order;
    /// marks the restatement done (for [`OpenBlocks::new_day`]).
    pub fn restate(&mut self, next: &LogRecord) -> Vec<LogRecord> {
        self.day = Some(day_of(next));
        self.blocks
            .values()
            .map(|a| LogRecord {
                seq: next.seq,
                time: next.time,
                event: EventKind::BlockInterim,
                reason: Reason::Interim,
                aux: a.time.as_micros(),
                run: next.run,
                ..*a
            })
            .collect()
    }

    /// The allocation records of the blocks held, in block order.
    pub fn records(&self) -> impl Iterator<Item = &LogRecord> {
        self.blocks.values()
    }

    /// Blocks held.
    pub fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Whether no block is held.
    pub fn is_empty(&self) -> bool {
        self.blocks.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cgnat_core::event::ProtocolScope;
    use cgnat_core::Instant;

    fn rec(seq: u64, t: u64, event: EventKind, port: u16) -> LogRecord {
        LogRecord {
            seq,
            time: Instant::from_micros(t),
            event,
            subscriber: [100, 64, 0, 1].into(),
            public_addr: [203, 0, 113, 1].into(),
            first_port: port,
            last_port: port + 511,
            protocol: ProtocolScope::All,
            reason: Reason::NewMapping,
            producer: 0,
            producer_seq: seq,
            aux: 0,
            run: 7,
        }
    }

    #[test]
    fn restates_what_is_held_with_the_allocation_time() {
        let day = 86_400_000_000u64 * 19_000;
        let mut o = OpenBlocks::default();
        o.observe(&rec(0, day + 10, EventKind::BlockAllocated, 1024));
        o.observe(&rec(1, day + 20, EventKind::BlockAllocated, 2048));
        o.observe(&rec(2, day + 30, EventKind::BlockReleased, 1024));
        let next = rec(3, day + 86_400_000_000, EventKind::BlockAllocated, 4096);
        assert!(o.new_day(&next));
        let i = o.restate(&next);
        assert!(!o.new_day(&next));
        assert_eq!(i.len(), 1);
        assert_eq!((i[0].event, i[0].reason), (EventKind::BlockInterim, Reason::Interim));
        assert_eq!((i[0].seq, i[0].time, i[0].aux), (3, next.time, day + 20));
        assert_eq!((i[0].first_port, i[0].producer_seq), (2048, 1));
        o.observe(&rec(4, day + 86_400_000_001, EventKind::DaemonStart, 0));
        assert!(o.is_empty(), "a new run holds nothing");
    }
}
