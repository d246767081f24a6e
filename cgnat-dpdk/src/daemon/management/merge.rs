//! Merging the workers' event rings into one total order: a k-way merge.
//!
//! Each worker pushes its events into its own SPSC ring in its own order
//! (packet clock non-decreasing, producer sequence increasing) and
//! publishes a *watermark*: its packet clock at its last burst (an
//! `AtomicU64`, release store after the burst's events were pushed). Every
//! event it produces later has a time at or above that watermark.
//!
//! The merger holds exactly one *head* per producer (the oldest event not
//! yet written, taken out of its ring) plus the management core's own
//! events. The next record is the smallest head by
//! `(time, producer, producer sequence)` ([`Event::order_key`]), and it is
//! released only when
//!
//! - every producer whose ring is empty has been looked at (its head slot
//!   refilled if anything arrived), so the smallest head really is the
//!   smallest event anyone holds, and
//! - its time is strictly below every producer's watermark and the
//!   caller's limit, so no producer can still produce an earlier one.
//!
//! So the output is the sorted order of everything produced, whatever the
//! backlogs: a producer with a long backlog does not get ahead of one with
//! a short one (the earlier "fill a staging heap ring 0 first" design could
//! release records out of order under backlog; issue 10 item 4).
//!
//! Reading order matters: watermarks are loaded (acquire) *before* the
//! rings are read, so every event pushed before a watermark was published
//! is seen.

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

/// Where the next record comes from.
#[derive(Copy, Clone)]
enum Source {
    Ring(usize),
    Management,
}

/// The merge of every producer's events.
pub struct Merger {
    rings: Vec<Consumer<Event>>,
    /// One head per ring: the oldest event of that producer not yet written.
    heads: Vec<Option<Event>>,
    watermarks: Vec<Watermark>,
    /// The management core's events (already in its clock's order, kept in
    /// a heap so that any order of `collect` calls is fine).
    management: BinaryHeap<Reverse<Keyed>>,
}

impl Merger {
    /// Merges `rings`; `watermarks` are the producers' clocks (empty when
    /// the caller passes the limit itself, as replay does). Only one event
    /// per ring is held out of it, so a stalled log leaves the rings to
    /// fill up (and the workers to refuse new blocks).
    pub fn new(rings: Vec<Consumer<Event>>, watermarks: Vec<Watermark>) -> Merger {
        Merger {
            heads: vec![None; rings.len()],
            rings,
            watermarks,
            management: BinaryHeap::new(),
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

    /// Each ring's backlog (its head included).
    pub fn ring_lens(&self) -> Vec<usize> {
        self.rings
            .iter()
            .zip(&self.heads)
            .map(|(r, h)| r.len() + usize::from(h.is_some()))
            .collect()
    }

    /// Events held or still in rings.
    pub fn pending(&self) -> usize {
        self.management.len() + self.ring_lens().iter().sum::<usize>()
    }

    /// The management core's events not yet written.
    pub fn management_pending(&self) -> usize {
        self.management.len()
    }

    /// Takes the management core's own events (`extra` is emptied).
    pub fn collect(&mut self, extra: &mut Vec<Event>) {
        for e in extra.drain(..) {
            self.management.push(Reverse(Keyed(e)));
        }
    }

    /// The smallest head and where it is, after refilling every empty head
    /// slot from its ring.
    fn smallest(&mut self) -> Option<(Source, Event)> {
        let mut best: Option<(Source, Event)> = None;
        for (i, (slot, ring)) in self.heads.iter_mut().zip(&mut self.rings).enumerate() {
            if slot.is_none() {
                *slot = ring.pop();
            }
            if let Some(e) = slot {
                if best.as_ref().is_none_or(|(_, b)| e.order_key() < b.order_key()) {
                    best = Some((Source::Ring(i), *e));
                }
            }
        }
        if let Some(Reverse(Keyed(e))) = self.management.peek() {
            if best.as_ref().is_none_or(|(_, b)| e.order_key() < b.order_key()) {
                best = Some((Source::Management, *e));
            }
        }
        best
    }

    /// The next event in total order if its time is below `limit` (which
    /// the caller takes as the minimum of its own clock and
    /// [`Merger::min_watermark`], loaded before this call).
    pub fn pop_ready(&mut self, limit: u64) -> Option<Event> {
        let (src, e) = self.smallest()?;
        if e.time.as_micros() >= limit {
            return None;
        }
        match src {
            Source::Ring(i) => self.heads[i] = None,
            Source::Management => {
                self.management.pop();
            }
        }
        Some(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cgnat_core::event::{EventKind, ProtocolScope, Reason, MANAGEMENT_WORKER};
    use cgnat_core::ring::{ring, Producer};
    use cgnat_core::Instant;
    use proptest::prelude::*;

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
        let mut m = Merger::new(vec![c0, c1], w.clone());
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
        let mut out = Vec::new();
        while let Some(e) = m.pop_ready(limit) {
            out.push((e.time.as_micros(), e.worker));
        }
        assert_eq!(out, vec![(10, 0), (10, 1), (10, MANAGEMENT_WORKER), (20, 1)]);
        assert_eq!(m.pending(), 1);
        assert_eq!(m.pop_ready(u64::MAX).map(|e| e.seq), Some(1));
    }

    /// Issue 10 item 4, the case that broke the staging heap: ring 0 has a
    /// backlog of late events, ring 1 one early event; the early one goes
    /// first although ring 0 is read first.
    #[test]
    fn a_backlog_on_one_ring_does_not_overtake_an_earlier_event_on_another() {
        let (mut p0, c0) = ring(64);
        let (mut p1, c1) = ring(64);
        let mut m = Merger::new(vec![c0, c1], Vec::new());
        for i in 0..40 {
            p0.push(ev(0, i, 100 + i)).unwrap();
        }
        p1.push(ev(1, 0, 50)).unwrap();
        let first = m.pop_ready(u64::MAX).unwrap();
        assert_eq!((first.worker, first.time.as_micros()), (1, 50));
    }

    #[test]
    fn only_one_event_per_ring_is_held_so_rings_fill() {
        let (mut p, c) = ring(4);
        let mut m = Merger::new(vec![c], Vec::new());
        for i in 0..4 {
            p.push(ev(0, i, i)).unwrap();
        }
        assert!(m.pop_ready(0).is_none(), "limit 0: nothing goes");
        assert_eq!(m.ring_lens(), vec![4]);
        assert!(p.push(ev(0, 4, 4)).is_ok(), "one slot freed by the head");
        assert!(p.push(ev(0, 5, 5)).is_err(), "the ring is full: the worker refuses new blocks");
    }

    /// A model of the live system: producers with their own clocks push
    /// events into bounded rings (an event the full ring refuses is not
    /// produced, as a worker refuses the block: the backlog is the ring),
    /// publish watermarks at random moments, and the merger is pumped at
    /// random moments with a random budget (0: a stalled target) and a
    /// lagging limit. The output must be exactly the sorted order of
    /// everything produced, nothing lost or duplicated.
    #[derive(Clone, Debug)]
    enum Step {
        /// Producer `p` advances its clock by `dt` and tries to push `n` events.
        Produce { p: usize, dt: u64, n: usize },
        /// Producer `p` publishes its watermark.
        Publish { p: usize },
        /// The management core pumps up to `budget` records with its clock
        /// lagging by `lag`.
        Pump { budget: usize, lag: u64 },
        /// The management core queues one event of its own.
        Management { dt: u64 },
    }

    fn step(producers: usize) -> impl Strategy<Value = Step> {
        prop_oneof![
            4 => (0..producers, 0u64..5, 1usize..12).prop_map(|(p, dt, n)| Step::Produce { p, dt, n }),
            2 => (0..producers).prop_map(|p| Step::Publish { p }),
            2 => (0usize..20, 0u64..10).prop_map(|(budget, lag)| Step::Pump { budget, lag }),
            1 => (0u64..5).prop_map(|dt| Step::Management { dt }),
        ]
    }

    fn run(producers: usize, ring_cap: usize, steps: Vec<Step>) -> Result<(), TestCaseError> {
        let mut consumers = Vec::new();
        // (ring, clock, next producer sequence)
        let mut prods: Vec<(Producer<Event>, u64, u64)> = Vec::new();
        let mut watermarks: Vec<Watermark> = Vec::new();
        for _ in 0..producers {
            let (p, c) = ring(ring_cap);
            consumers.push(c);
            prods.push((p, 0, 0));
            watermarks.push(Arc::new(AtomicU64::new(0)));
        }
        let (mut mgmt_clock, mut mgmt_seq) = (0u64, 0u64);
        let mut produced = Vec::new();
        let mut m = Merger::new(consumers, watermarks.clone());
        let mut out: Vec<Event> = Vec::new();
        let mut extra = Vec::new();
        for s in steps {
            match s {
                Step::Produce { p, dt, n } => {
                    let (ring, clock, seq) = &mut prods[p];
                    *clock += dt;
                    for _ in 0..n {
                        let e = ev(p as u16, *seq, *clock);
                        if ring.push(e).is_ok() {
                            *seq += 1;
                            produced.push(e);
                        }
                    }
                }
                Step::Publish { p } => watermarks[p].store(prods[p].1, Ordering::Release),
                Step::Pump { budget, lag } => {
                    let limit = mgmt_clock.saturating_sub(lag).min(m.min_watermark());
                    m.collect(&mut extra);
                    for _ in 0..budget {
                        match m.pop_ready(limit) {
                            Some(e) => out.push(e),
                            None => break,
                        }
                    }
                    prop_assert!(m.heads.iter().flatten().count() <= producers, "bounded staging");
                }
                Step::Management { dt } => {
                    // The management clock runs at least as far as the workers'.
                    let max = prods.iter().map(|p| p.1).max().unwrap_or(0);
                    mgmt_clock = mgmt_clock.max(max) + dt;
                    let e = ev(MANAGEMENT_WORKER, mgmt_seq, mgmt_clock);
                    mgmt_seq += 1;
                    extra.push(e);
                    produced.push(e);
                }
            }
        }
        // Everyone stops (watermarks to MAX) and the log drains.
        for w in &watermarks {
            w.store(u64::MAX, Ordering::Release);
        }
        m.collect(&mut extra);
        while let Some(e) = m.pop_ready(u64::MAX) {
            out.push(e);
        }
        prop_assert_eq!(m.pending(), 0);
        let mut expected = produced.clone();
        expected.sort_by_key(|e| e.order_key());
        prop_assert_eq!(out.len(), expected.len(), "nothing lost or duplicated");
        prop_assert!(out == expected, "output is exactly the sorted order");
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn k_producers_random_delays_and_backlogs_give_the_sorted_order(
            producers in 1usize..6,
            ring_cap in 2usize..16,
            steps in proptest::collection::vec(step(5), 1..300),
        ) {
            let steps = steps
                .into_iter()
                .filter(|s| match s {
                    Step::Produce { p, .. } | Step::Publish { p } => *p < producers,
                    _ => true,
                })
                .collect();
            run(producers, ring_cap, steps)?;
        }
    }
}
