//! Merging the workers' event rings into one total order.
//!
//! Each worker pushes its events into its own SPSC ring in its own order
//! and publishes a *watermark*: its packet clock at its last burst (an
//! `AtomicU64`, release store after the burst's events were pushed). Every
//! event it produces later has a time at or above that watermark, so an
//! event with a time strictly below the minimum watermark of all producers
//! can no longer be preceded by anything: it is written. The total order is
//! `(time, producer, producer sequence)` ([`Event::order_key`]).
//!
//! Reading order matters: watermarks are loaded (acquire) *before* the
//! rings are drained, so every event pushed before a watermark was
//! published is seen.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use cgnat_core::event::Event;
use cgnat_core::ring::Consumer;

/// A worker's published packet clock (microseconds); `u64::MAX` once the
/// worker has stopped.
pub type Watermark = Arc<AtomicU64>;

#[derive(PartialEq, Eq)]
struct Keyed(Event);

impl PartialOrd for Keyed {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}

impl Ord for Keyed {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        self.0.order_key().cmp(&o.0.order_key())
    }
}

/// The merge of every producer's events.
pub struct Merger {
    rings: Vec<Consumer<Event>>,
    watermarks: Vec<Watermark>,
    staged: BinaryHeap<Reverse<Keyed>>,
    stage_cap: usize,
}

impl Merger {
    /// Merges `rings`; `watermarks` are the producers' clocks (empty when
    /// the caller passes the limit itself, as replay does). At most
    /// `stage_cap` events are held out of the rings, so a stalled log
    /// leaves the rings to fill up.
    pub fn new(rings: Vec<Consumer<Event>>, watermarks: Vec<Watermark>, stage_cap: usize) -> Merger {
        Merger {
            rings,
            watermarks,
            staged: BinaryHeap::with_capacity(stage_cap.min(1 << 16)),
            stage_cap: stage_cap.max(1),
        }
    }

    /// The lowest watermark of all workers (`u64::MAX` with none).
    pub fn min_watermark(&self) -> u64 {
        self.watermarks.iter().map(|w| w.load(Ordering::Acquire)).min().unwrap_or(u64::MAX)
    }

    /// Each worker's watermark.
    pub fn watermarks(&self) -> Vec<u64> {
        self.watermarks.iter().map(|w| w.load(Ordering::Relaxed)).collect()
    }

    /// Each ring's backlog.
    pub fn ring_lens(&self) -> Vec<usize> {
        self.rings.iter().map(|r| r.len()).collect()
    }

    /// Events staged or still in rings.
    pub fn pending(&self) -> usize {
        self.staged.len() + self.rings.iter().map(|r| r.len()).sum::<usize>()
    }

    /// Moves events from the rings (while there is staging room) and all of
    /// `extra` (the management core's own events) into the staging heap.
    pub fn collect(&mut self, extra: &mut Vec<Event>) {
        for e in extra.drain(..) {
            self.staged.push(Reverse(Keyed(e)));
        }
        for r in &mut self.rings {
            while self.staged.len() < self.stage_cap {
                match r.pop() {
                    Some(e) => self.staged.push(Reverse(Keyed(e))),
                    None => break,
                }
            }
        }
    }

    /// The next event in total order if its time is below `limit`.
    pub fn pop_ready(&mut self, limit: u64) -> Option<Event> {
        match self.staged.peek() {
            Some(Reverse(Keyed(e))) if e.time.as_micros() < limit => self.staged.pop().map(|Reverse(Keyed(e))| e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cgnat_core::event::{EventKind, ProtocolScope, Reason, MANAGEMENT_WORKER};
    use cgnat_core::ring::ring;
    use cgnat_core::Instant;

    fn ev(worker: u16, seq: u64, t: u64) -> Event {
        Event {
            seq,
            worker,
            time: Instant::from_micros(t),
            kind: EventKind::BlockAllocated,
            subscriber: [100, 64, 0, worker as u8].into(),
            public_addr: [203, 0, 113, 1].into(),
            first_port: 1024,
            last_port: 1535,
            protocol: ProtocolScope::All,
            reason: Reason::NewMapping,
            aux: 0,
        }
    }

    #[test]
    fn emits_only_below_every_watermark_in_total_order() {
        let (mut p0, c0) = ring(16);
        let (mut p1, c1) = ring(16);
        let w: Vec<Watermark> = vec![Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0))];
        let mut m = Merger::new(vec![c0, c1], w.clone(), 64);
        p0.push(ev(0, 0, 10)).unwrap();
        p0.push(ev(0, 1, 30)).unwrap();
        w[0].store(30, Ordering::Release);
        let mut mgmt = vec![ev(MANAGEMENT_WORKER, 0, 10)];
        m.collect(&mut mgmt);
        // Worker 1 is still at 0: nothing can go.
        assert!(m.pop_ready(m.min_watermark()).is_none());
        p1.push(ev(1, 0, 10)).unwrap();
        p1.push(ev(1, 1, 20)).unwrap();
        w[1].store(25, Ordering::Release);
        let limit = m.min_watermark();
        m.collect(&mut Vec::new());
        let mut out = Vec::new();
        while let Some(e) = m.pop_ready(limit) {
            out.push((e.time.as_micros(), e.worker));
        }
        assert_eq!(out, vec![(10, 0), (10, 1), (10, MANAGEMENT_WORKER), (20, 1)]);
        assert_eq!(m.pending(), 1);
        assert_eq!(m.pop_ready(u64::MAX).map(|e| e.seq), Some(1));
    }

    #[test]
    fn staging_is_bounded_so_rings_fill() {
        let (mut p, c) = ring(4);
        let mut m = Merger::new(vec![c], Vec::new(), 2);
        for i in 0..4 {
            p.push(ev(0, i, i)).unwrap();
        }
        m.collect(&mut Vec::new());
        assert_eq!(m.ring_lens(), vec![2]);
        assert!(p.push(ev(0, 9, 9)).is_ok());
        assert!(p.push(ev(0, 10, 10)).is_ok());
        assert!(p.push(ev(0, 11, 11)).is_err(), "the ring is full: the worker refuses new blocks");
    }
}
