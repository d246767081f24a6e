//! The checks of one run: its records in sequence order, the blocks it
//! allocated and released, its start and stop, its deterministic epochs.
//!
//! A run's regular records are sorted by `seq`; each `block-interim`
//! restatement sits just before the regular record whose `seq` it carries
//! (it is not part of the sequence). Then, along the sequence:
//!
//! - identical copies of one `seq` are duplicates (a collector fed at
//!   least once); differing copies are a conflict;
//! - a jump of `seq` is a gap; the sequence runs from the `daemon-start`
//!   (seq 0) if the files hold it, else from the first record present;
//! - time never decreases;
//! - nothing follows `daemon-stop`, whose `aux` counts the records before it;
//! - a block is allocated only while free, released by its holder, and
//!   never overlaps a block of another subscriber (RFC 6888 REQ-3: no port
//!   overloading); a release or restatement of a block never allocated is
//!   a finding when the run's start is in the files;
//! - a `block-interim` agrees with the open allocation (subscriber and
//!   allocation time);
//! - a `det-epoch` is followed by `det-prefix` records that rebuild its
//!   formula (RFC 7422 section 2.3);
//! - a `pcp-map`'s external port lies in a block the subscriber holds at
//!   that point, or in its range of the deterministic epoch in force
//!   (issue 12: a PCP mapping outside a logged block must not exist).

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

use cgnat_core::event::{EventKind, ProtocolScope};
use cgnat_core::natlog::LogRecord;

use crate::deterministic::map_of;
use crate::index::{DetPrefix, Epoch};

use super::load::{Entry, Loaded};
use super::{Finding, FindingKind, Sink, VerifyOptions};

/// A block's identity: public address, ports, protocols.
type BlockKey = (Ipv4Addr, u16, u16, ProtocolScope);

/// A block held at this point of the sequence.
#[derive(Copy, Clone, Debug)]
pub struct OpenBlock {
    /// The subscriber.
    pub subscriber: Ipv4Addr,
    /// Its allocation time (µs since the epoch).
    pub allocated: u64,
    /// The record that opened it (an allocation, or a restatement).
    pub entry: usize,
    /// Opened by a `block-interim` restatement.
    pub restated: bool,
}

fn key(r: &LogRecord) -> BlockKey {
    (r.public_addr, r.first_port, r.last_port, r.protocol)
}

fn protocols_overlap(a: ProtocolScope, b: ProtocolScope) -> bool {
    a == ProtocolScope::All || b == ProtocolScope::All || a == b
}

/// What one run's check found, besides its findings.
#[derive(Debug, Default)]
pub struct RunOutcome {
    /// Regular records (each `seq` once).
    pub records: u64,
    /// Restatements.
    pub interim: u64,
    /// First and last `seq`.
    pub seqs: Option<(u64, u64)>,
    /// Its `daemon-start` entry.
    pub start: Option<usize>,
    /// Its `daemon-stop` entry.
    pub stop: Option<usize>,
    /// Earliest and latest records, restatements included (entry indices).
    pub first: Option<usize>,
    /// See `first`.
    pub last: Option<usize>,
    /// Blocks held at the end of the run's records.
    pub open: Vec<OpenBlock>,
}

/// Checks one run. `entries`: its records (indices into `loaded`),
/// sorted by (seq, restatements first, file, line).
pub fn check_run(loaded: &Loaded, entries: &[usize], opts: &VerifyOptions, sink: &mut Sink) -> RunOutcome {
    let mut c = RunCheck {
        loaded,
        opts,
        sink,
        open: HashMap::new(),
        by_public: HashMap::new(),
        out: RunOutcome::default(),
        covered: false,
        seen_interim: HashSet::new(),
        epochs: Vec::new(),
        prefixes: Vec::new(),
        pcp_unplaced: Vec::new(),
        det_maps: Vec::new(),
    };
    c.out.start = entries
        .iter()
        .copied()
        .find(|&i| loaded.entries[i].rec.event == EventKind::DaemonStart);
    c.covered = c.out.start.is_some();
    if let Some(s) = c.out.start {
        let e = &loaded.entries[s];
        if e.rec.seq != 0 {
            c.find(
                s,
                FindingKind::RunStart,
                format!("daemon-start has seq={}: a run starts at 0", e.rec.seq),
            );
        }
    }
    let mut prev: Option<usize> = None;
    for &i in entries {
        let e = &loaded.entries[i];
        if e.rec.event == EventKind::BlockInterim {
            c.interim(i);
            continue;
        }
        if let Some(p) = prev {
            let pe = &loaded.entries[p];
            if e.rec.seq == pe.rec.seq {
                c.duplicate(p, i);
                continue;
            }
            if e.rec.seq > pe.rec.seq + 1 {
                let (a, b) = (pe.rec.seq + 1, e.rec.seq - 1);
                let n = b - a + 1;
                c.find(
                    i,
                    FindingKind::Gap,
                    format!(
                        "seq {} missing ({n} record{}) after seq={} at {}",
                        if a == b { a.to_string() } else { format!("{a}..={b}") },
                        if n == 1 { "" } else { "s" },
                        pe.rec.seq,
                        c.place(p)
                    ),
                );
            }
            if e.rec.time < pe.rec.time {
                c.find(
                    i,
                    FindingKind::Order,
                    format!(
                        "time {} is before {} of seq={} at {}",
                        e.rec.time,
                        pe.rec.time,
                        pe.rec.seq,
                        c.place(p)
                    ),
                );
            }
        }
        if let Some(s) = c.out.stop {
            c.find(
                i,
                FindingKind::RunStop,
                format!("seq={} comes after the run's daemon-stop at {}", e.rec.seq, c.place(s)),
            );
        }
        c.regular(i);
        prev = Some(i);
    }
    c.check_epochs();
    c.check_pcp_in_epochs();
    c.out.open = c.open.into_values().collect();
    c.out.open.sort_by_key(|o| o.entry);
    c.out
}

struct RunCheck<'a> {
    loaded: &'a Loaded,
    opts: &'a VerifyOptions,
    sink: &'a mut Sink,
    open: HashMap<BlockKey, OpenBlock>,
    by_public: HashMap<Ipv4Addr, Vec<BlockKey>>,
    out: RunOutcome,
    /// The run's `daemon-start` is in the files: every block it allocated is too.
    covered: bool,
    seen_interim: HashSet<(u64, BlockKey, Ipv4Addr, u64)>,
    epochs: Vec<usize>,
    prefixes: Vec<usize>,
    /// `pcp-map` records no held block covers: checked against the
    /// deterministic epochs once they are rebuilt.
    pcp_unplaced: Vec<usize>,
    /// The run's deterministic epochs, rebuilt: (seq of the epoch, map).
    det_maps: Vec<(u64, cgnat_core::pool::DeterministicMap)>,
}

impl RunCheck<'_> {
    fn entry(&self, i: usize) -> &Entry {
        &self.loaded.entries[i]
    }

    fn place(&self, i: usize) -> String {
        let e = self.entry(i);
        format!("{}:{}", self.loaded.files[e.file as usize].path, e.line)
    }

    fn find(&mut self, i: usize, kind: FindingKind, message: String) {
        let e = self.loaded.entries[i];
        self.sink
            .push(Finding::new(kind, &self.loaded.files[e.file as usize].path, e.line, message));
    }

    fn duplicate(&mut self, first: usize, copy: usize) {
        let (a, b) = (self.entry(first).rec, self.entry(copy).rec);
        if a == b {
            self.sink.duplicates += 1;
            let msg = format!("seq={} again (identical to {})", b.seq, self.place(first));
            let e = self.loaded.entries[copy];
            let mut f = Finding::new(FindingKind::Duplicate, &self.loaded.files[e.file as usize].path, e.line, msg);
            f.tolerated = self.opts.allow_duplicates;
            self.sink.push(f);
        } else {
            self.find(
                copy,
                FindingKind::ConflictingDuplicate,
                format!("seq={} again but different from {}", b.seq, self.place(first)),
            );
        }
    }

    /// Widens the run's time span to record `i`.
    fn span(&mut self, i: usize) {
        let t = self.entry(i).rec.time;
        if self.out.first.is_none_or(|f| t < self.entry(f).rec.time) {
            self.out.first = Some(i);
        }
        if self.out.last.is_none_or(|l| t >= self.entry(l).rec.time) {
            self.out.last = Some(i);
        }
    }

    fn regular(&mut self, i: usize) {
        let r = self.entry(i).rec;
        self.out.records += 1;
        self.out.seqs = Some(match self.out.seqs {
            None => (r.seq, r.seq),
            Some((a, _)) => (a, r.seq),
        });
        self.span(i);
        match r.event {
            EventKind::BlockAllocated => self.alloc(i),
            EventKind::BlockReleased => self.release(i),
            EventKind::DaemonStart if Some(i) != self.out.start => {
                let s = self.out.start.map(|s| self.place(s)).unwrap_or_default();
                self.find(
                    i,
                    FindingKind::RunStart,
                    format!("a second daemon-start in the run (the first at {s})"),
                );
            }
            EventKind::DaemonStop => {
                self.out.stop = Some(i);
                if r.aux != r.seq {
                    self.find(
                        i,
                        FindingKind::RunStop,
                        format!("daemon-stop counts aux={} records before it, but its seq is {}", r.aux, r.seq),
                    );
                }
            }
            EventKind::DeterministicEpoch => self.epochs.push(i),
            EventKind::DeterministicPrefix => self.prefixes.push(i),
            EventKind::PcpMap => self.pcp_map(i),
            _ => {}
        }
    }

    fn holder(&self, o: &OpenBlock) -> String {
        format!(
            "{} ({} at {})",
            o.subscriber,
            if o.restated { "restated" } else { "allocated" },
            self.place(o.entry)
        )
    }

    /// RFC 6888 REQ-3 (no port overloading): no port of the block may be
    /// held by another subscriber at the same time.
    fn overlaps(&mut self, i: usize) {
        let r = self.entry(i).rec;
        let k = key(&r);
        let clashes: Vec<(BlockKey, OpenBlock)> = self
            .by_public
            .get(&r.public_addr)
            .into_iter()
            .flatten()
            .filter(|o| **o != k && o.1 <= r.last_port && r.first_port <= o.2 && protocols_overlap(o.3, r.protocol))
            .filter_map(|o| self.open.get(o).map(|b| (*o, *b)))
            .filter(|(_, b)| b.subscriber != r.subscriber)
            .collect();
        for (o, b) in clashes {
            let msg = format!(
                "{} ports {}-{} ({}) for {} overlap ports {}-{} ({}) still held by {}",
                r.public_addr,
                r.first_port,
                r.last_port,
                r.protocol.name(),
                r.subscriber,
                o.1,
                o.2,
                o.3.name(),
                self.holder(&b)
            );
            self.find(i, FindingKind::Overlap, msg);
        }
    }

    fn hold(&mut self, i: usize, allocated: u64, restated: bool) {
        let r = self.entry(i).rec;
        let k = key(&r);
        self.overlaps(i);
        let b = OpenBlock {
            subscriber: r.subscriber,
            allocated,
            entry: i,
            restated,
        };
        if self.open.insert(k, b).is_none() {
            self.by_public.entry(r.public_addr).or_default().push(k);
        }
    }

    fn unhold(&mut self, k: &BlockKey) -> Option<OpenBlock> {
        let b = self.open.remove(k)?;
        if let Some(v) = self.by_public.get_mut(&k.0) {
            v.retain(|x| x != k);
        }
        Some(b)
    }

    fn alloc(&mut self, i: usize) {
        let r = self.entry(i).rec;
        if let Some(o) = self.open.get(&key(&r)).copied() {
            let msg = if o.subscriber == r.subscriber {
                format!(
                    "block allocated again to {} without a release since {}",
                    r.subscriber,
                    self.place(o.entry)
                )
            } else {
                format!(
                    "block allocated to {} while still held by {} (no release)",
                    r.subscriber,
                    self.holder(&o)
                )
            };
            self.find(i, FindingKind::DoubleAllocation, msg);
        }
        self.hold(i, r.time.as_micros(), false);
    }

    fn release(&mut self, i: usize) {
        let r = self.entry(i).rec;
        match self.unhold(&key(&r)) {
            Some(o) if o.subscriber == r.subscriber => {}
            Some(o) => {
                let msg = format!("block released for {} but held by {}", r.subscriber, self.holder(&o));
                self.find(i, FindingKind::ReleaseMismatch, msg);
            }
            None if self.covered => {
                let s = self.out.start.map(|s| self.place(s)).unwrap_or_default();
                self.find(
                    i,
                    FindingKind::ReleaseWithoutAllocation,
                    format!("no allocation of this block in the run (which starts at {s})"),
                );
            }
            None => {}
        }
    }

    fn interim(&mut self, i: usize) {
        let r = self.entry(i).rec;
        // Restatements may be repeated across files: each once.
        if !self.seen_interim.insert((r.seq, key(&r), r.subscriber, r.aux)) {
            return;
        }
        self.out.interim += 1;
        self.span(i);
        match self.open.get(&key(&r)).copied() {
            Some(o) if o.subscriber != r.subscriber => {
                let msg = format!(
                    "block-interim restates the block for {} but it is held by {}",
                    r.subscriber,
                    self.holder(&o)
                );
                self.find(i, FindingKind::Interim, msg);
            }
            Some(o) if o.allocated != r.aux => {
                let msg = format!(
                    "block-interim restates allocation time aux={} but {} says {}",
                    r.aux,
                    self.place(o.entry),
                    o.allocated
                );
                self.find(i, FindingKind::Interim, msg);
            }
            Some(_) => {}
            None if self.covered => {
                self.find(
                    i,
                    FindingKind::Interim,
                    "block-interim restates a block the run does not hold (no open allocation)".into(),
                );
            }
            None => self.hold(i, r.aux, true),
        }
    }

    /// RFC 7422 section 2.3: the log alone must reverse the mapping, so
    /// every epoch's prefixes follow it and rebuild its formula.
    fn check_epochs(&mut self) {
        let last_seq = self.out.seqs.map_or(0, |s| s.1);
        for k in 0..self.epochs.len() {
            let ei = self.epochs[k];
            let e = self.entry(ei);
            let (run, seq) = (e.rec.run, e.rec.seq);
            let mut mine: Vec<(u64, usize)> = self
                .prefixes
                .iter()
                .map(|&p| (self.entry(p).rec.seq, p))
                .filter(|(s, _)| *s > seq)
                .collect();
            mine.sort_unstable();
            let follow: Vec<usize> = mine
                .iter()
                .enumerate()
                .take_while(|(n, (s, _))| *s == seq + 1 + *n as u64)
                .map(|(_, (_, p))| *p)
                .collect();
            if follow.is_empty() {
                if run != 0 && last_seq > seq {
                    self.find(
                        ei,
                        FindingKind::DetPrefix,
                        "det-epoch is not followed by its det-prefix records: the log alone cannot reverse it".into(),
                    );
                }
                continue;
            }
            let file = self.loaded.files[e.file as usize].path.clone();
            let epoch = Epoch {
                time: e.rec.time.as_micros() as i64,
                first_inside: e.rec.subscriber,
                first_public: e.rec.public_addr,
                first_port: e.rec.first_port,
                last_port: e.rec.last_port,
                ports_per_subscriber: e.rec.aux.min(u32::MAX as u64) as u32,
                line: e.line,
                run,
                seq,
            };
            let prefixes: Vec<DetPrefix> = follow
                .iter()
                .map(|&p| {
                    let x = self.entry(p);
                    let inside = !x.rec.subscriber.is_unspecified();
                    DetPrefix {
                        run,
                        seq: x.rec.seq,
                        line: x.line,
                        inside,
                        addr: if inside { x.rec.subscriber } else { x.rec.public_addr },
                        len: x.rec.aux,
                    }
                })
                .collect();
            let refs: Vec<&DetPrefix> = prefixes.iter().collect();
            match map_of(&file, &epoch, &refs) {
                Ok(map) => self.det_maps.push((seq, map)),
                Err(why) => self.find(ei, FindingKind::DetPrefix, why),
            }
        }
    }

    /// A `pcp-map`: its external port must lie in a block the subscriber
    /// holds now; one held by another subscriber is a finding at once,
    /// none at all is looked for in the deterministic epochs later.
    fn pcp_map(&mut self, i: usize) {
        let r = self.entry(i).rec;
        let port = r.first_port;
        let holders: Vec<OpenBlock> = self
            .by_public
            .get(&r.public_addr)
            .into_iter()
            .flatten()
            .filter(|k| k.1 <= port && port <= k.2 && protocols_overlap(k.3, r.protocol))
            .filter_map(|k| self.open.get(k).copied())
            .collect();
        if holders.iter().any(|b| b.subscriber == r.subscriber) {
            return;
        }
        match holders.first() {
            Some(b) => {
                let msg = format!(
                    "pcp-map of {} on {}:{} lies in a block held by {}",
                    r.subscriber,
                    r.public_addr,
                    port,
                    self.holder(b)
                );
                self.find(i, FindingKind::PcpOutsideBlock, msg);
            }
            None => self.pcp_unplaced.push(i),
        }
    }

    /// The `pcp-map` records no block covered: in the subscriber's range of
    /// the deterministic epoch in force (RFC 7422), or a finding.
    fn check_pcp_in_epochs(&mut self) {
        for i in std::mem::take(&mut self.pcp_unplaced) {
            let r = self.entry(i).rec;
            let in_range = self
                .det_maps
                .iter()
                .filter(|(seq, _)| *seq < r.seq)
                .max_by_key(|(seq, _)| *seq)
                .and_then(|(_, m)| m.forward(r.subscriber))
                .is_some_and(|d| d.public_addr == r.public_addr && (d.first_port..=d.last_port).contains(&r.first_port));
            if !in_range {
                let msg = format!(
                    "pcp-map of {} on {}:{} lies in no block the log attributes to it",
                    r.subscriber, r.public_addr, r.first_port
                );
                self.find(i, FindingKind::PcpOutsideBlock, msg);
            }
        }
    }
}
