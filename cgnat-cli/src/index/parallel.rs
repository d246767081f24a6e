//! Building the index of one log file on several threads (rayon), with the
//! result of [`super::Builder`] reading it line by line, exactly.
//!
//! The file is cut into chunks of whole lines: a chunk of a plain file is
//! the lines that *start* in its byte range (read with positioned reads,
//! by the thread that parses it); a compressed file is decompressed in
//! order and cut after the last newline of every `chunk_bytes`. Chunks are
//! parsed at once, each into a [`Summary`] of its own (line numbers counted
//! from the chunk's start) and its block records ([`BlockOp`]), shared out
//! among up to `partitions` [`Blocks`] by public address: each partition a
//! range of addresses, cut where a sample of the file's block records
//! splits into equal shares.
//!
//! Then, in file order, the chunks' summaries are appended to the file's
//! ([`Summary::append`], which shifts their lines by the lines before the
//! chunk), and every partition is fed its records of the chunks, all
//! partitions at once. A block's records all go to one partition and reach
//! it in file order, so its intervals are those the reference build makes;
//! the one value a block's pairing takes from other records, the first time
//! of a run so far (the start of a release whose allocation is not in the
//! file), is the minimum of the chunk's own (computed while parsing) and
//! the file's before the chunk (known when the chunk is merged). Each
//! partition's intervals are then sorted by all their fields
//! ([`Interval::order`]), on its own: the partitions being ranges of
//! addresses, they are in turn the sorted index
//! (`IntervalIndex::from_sorted_parts`), whatever the sample was.
//!
//! Chunks are read a window at a time (`window` chunks), so memory stays
//! bounded whatever the size of the file, and the next window is read
//! while the previous one is merged.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cgnat_core::natlog::canonical;
use rayon::prelude::*;

use super::{BlockKind, BlockOp, Blocks, Interval, IntervalIndex, Summary};
use crate::logread::{classify_raw, malformed_message, Line};
use crate::record::Record;
use crate::timefmt::Micros;

/// How a file is cut and shared out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Bytes of a chunk (a chunk of a plain file ends at the end of the
    /// line that crosses this bound).
    pub chunk_bytes: usize,
    /// Groups of blocks built independently.
    pub partitions: usize,
    /// Chunks read at a time.
    pub window: usize,
    /// Bytes of a plain file read at a time by a thread (its lines parsed
    /// while they are still in the core's cache).
    pub read_bytes: usize,
}

impl Options {
    /// The options for `threads` threads: 4 MiB chunks, eight chunks in
    /// flight per thread, and 32 partitions per thread (smaller maps of
    /// open blocks, which stay in cache longer: the merge took 0.37 s
    /// instead of 0.42 s with 4 per thread on the 1 GB benchmark).
    pub fn for_threads(threads: usize) -> Options {
        let threads = threads.max(1);
        Options {
            chunk_bytes: 4 << 20,
            partitions: 32 * threads,
            window: 8 * threads,
            read_bytes: 256 << 10,
        }
    }
}

/// How many records ahead of the one paired a block's state is prefetched.
const PREFETCH_AHEAD: usize = 8;

/// One chunk, parsed.
#[derive(Debug)]
struct Chunk {
    /// Lines of the chunk (blank ones included).
    lines: u64,
    /// Its summary, lines counted from 1 at the chunk's first line.
    summary: Summary,
    /// Its block records per partition, in file order; lines as in
    /// `summary`.
    ops: Vec<Vec<BlockOp>>,
}

/// Bytes of the log sampled to choose the partitions' ranges: up to
/// `SAMPLES` pieces of `SAMPLE_BYTES`, spread over the file.
const SAMPLES: u64 = 16;
const SAMPLE_BYTES: usize = 64 << 10;

/// Which partition a block goes to: ranges of public addresses, cut at
/// the quantiles of a sample of the log's block records, so that the
/// partitions' intervals, each sorted on its own, are in turn the sorted
/// index (no sort or merge of the whole), and the partitions are about
/// equal in work. Any function of a block's key would be correct; a
/// sample that misses part of the pool only costs balance.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Ranges {
    /// The first public address of partitions 1, 2, ..: ascending, distinct.
    starts: Vec<u32>,
}

impl Ranges {
    /// At most `partitions` ranges holding about equal shares of the
    /// public addresses in `sample` (one per block record sampled).
    fn of_sample(mut sample: Vec<u32>, partitions: usize) -> Ranges {
        sample.sort_unstable();
        let n = sample.len();
        if n == 0 {
            return Ranges::default();
        }
        let mut starts: Vec<u32> = (1..partitions.max(1)).map(|k| sample[k * n / partitions]).collect();
        starts.dedup();
        // An address below all of the sample's belongs to partition 0.
        starts.retain(|&s| Some(&s) != sample.first());
        Ranges { starts }
    }

    /// The number of partitions.
    fn len(&self) -> usize {
        self.starts.len() + 1
    }

    /// The partition of a block.
    fn of(&self, op: &BlockOp) -> usize {
        self.starts.partition_point(|&s| s <= op.public)
    }
}

/// The public addresses of the block records in `text` (whole lines).
fn sample_publics(text: &[u8], out: &mut Vec<u32>) {
    let one = Ranges::default();
    let mut p = ChunkParser::new(text.len(), &one, None);
    p.feed(text);
    out.extend(p.ops[0].iter().map(|op| op.public));
}

/// The lines that start in `from..from + SAMPLE_BYTES` of a plain file
/// and end in it.
fn sample_file(f: &File, from: u64, size: u64, out: &mut Vec<u32>) -> io::Result<()> {
    let mut buf = vec![0u8; SAMPLE_BYTES.min((size - from) as usize)];
    let mut got = 0;
    while got < buf.len() {
        match f.read_at(&mut buf[got..], from + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    let text = &buf[..got];
    let start = if from == 0 {
        0
    } else {
        memchr::memchr(b'\n', text).map_or(text.len(), |i| i + 1)
    };
    let end = if from + got as u64 == size {
        text.len()
    } else {
        memchr::memrchr(b'\n', text).map_or(0, |i| i + 1)
    };
    if start < end {
        sample_publics(&text[start..end], out);
    }
    Ok(())
}

/// Parses the lines of one chunk, fed in pieces of whole lines.
struct ChunkParser<'a> {
    fast: canonical::Parser,
    ranges: &'a Ranges,
    lines: u64,
    summary: Summary,
    ops: Vec<Vec<BlockOp>>,
}

impl<'a> ChunkParser<'a> {
    /// Ready for a chunk of about `bytes` bytes, its records going to
    /// `spare` (empty vectors of an earlier chunk, one per partition) if
    /// given.
    fn new(bytes: usize, ranges: &'a Ranges, spare: Option<Vec<Vec<BlockOp>>>) -> ChunkParser<'a> {
        let partitions = ranges.len();
        let per_part = bytes / 150 / partitions + 16;
        let ops = match spare {
            Some(ops) if ops.len() == partitions => ops,
            _ => (0..partitions).map(|_| Vec::with_capacity(per_part)).collect(),
        };
        ChunkParser {
            fast: canonical::Parser::default(),
            ranges,
            lines: 0,
            summary: Summary::default(),
            ops,
        }
    }

    /// One line, without its newline: first the fast path for the form
    /// `cgnatd` writes ([`canonical::Parser`]), else every form the logs
    /// have ([`classify_raw`]).
    fn line(&mut self, raw: &[u8]) {
        self.lines += 1;
        let line = self.lines;
        match self.fast.parse(raw).map(Line::Record).or_else(|| classify_raw(raw)) {
            None => {}
            Some(Line::Record(r)) => {
                let rec = Record::from_log(&r, line);
                self.summary.record(&rec);
                let s = &self.summary;
                if let Some(op) = BlockOp::of(&rec, || s.run_first_time(rec.run).unwrap_or(rec.time)) {
                    self.ops[self.ranges.of(&op)].push(op);
                }
            }
            Some(Line::Malformed(e)) => self.summary.bad_line(line, malformed_message(&e)),
            Some(Line::Other) => self.summary.other_line(line),
        }
    }

    /// Whole lines (the last one may lack its newline only at the end of
    /// the chunk).
    fn feed(&mut self, text: &[u8]) {
        let mut start = 0;
        for nl in memchr::memchr_iter(b'\n', text) {
            self.line(&text[start..nl]);
            start = nl + 1;
        }
        if start < text.len() {
            self.line(&text[start..]);
        }
    }

    fn finish(self) -> Chunk {
        Chunk {
            lines: self.lines,
            summary: self.summary,
            ops: self.ops,
        }
    }
}

/// Parses a chunk of whole lines (the last one may lack its newline).
fn parse_chunk(text: &[u8], ranges: &Ranges, spare: Option<Vec<Vec<BlockOp>>>) -> Chunk {
    let mut p = ChunkParser::new(text.len(), ranges, spare);
    p.feed(text);
    p.finish()
}

/// The file read so far: its summary, and its blocks by partition.
struct Merge {
    ranges: Ranges,
    summary: Summary,
    lines: u64,
    parts: Vec<Blocks>,
    /// The emptied record vectors of the chunks merged, one per partition
    /// each, for the next chunks: fresh ones cost a page fault every 4 KiB
    /// (the allocator gives freed memory back to the system).
    spare: Vec<Vec<Vec<BlockOp>>>,
    /// Wall time spent parsing windows and pairing their records.
    phases: [Duration; 2],
}

impl Merge {
    /// Partitions as `ranges`, each with room for about `intervals`.
    fn new(ranges: Ranges, intervals: usize) -> Merge {
        Merge {
            summary: Summary::default(),
            lines: 0,
            parts: (0..ranges.len()).map(|_| Blocks::with_capacity(intervals)).collect(),
            spare: Vec::new(),
            ranges,
            phases: [Duration::ZERO; 2],
        }
    }

    /// Takes the next chunks of the file, in file order.
    fn take(&mut self, chunks: Vec<Chunk>) {
        let t = Instant::now();
        // Per chunk: the lines before it, and the first time of every run
        // in the file before it.
        let mut before: Vec<(u64, Vec<(u64, Micros)>)> = Vec::with_capacity(chunks.len());
        let mut ops: Vec<Vec<Vec<BlockOp>>> = (0..self.parts.len()).map(|_| Vec::with_capacity(chunks.len())).collect();
        for c in chunks {
            let runs = self.summary.runs.iter().map(|r| (r.run, r.first_time)).collect();
            before.push((self.lines, runs));
            self.summary.append(c.summary, self.lines);
            self.lines += c.lines;
            for (p, o) in ops.iter_mut().zip(c.ops) {
                p.push(o);
            }
        }
        self.parts.par_iter_mut().zip(&mut ops).for_each(|(blocks, chunks)| {
            for ((base, runs), chunk) in before.iter().zip(chunks) {
                for i in 0..chunk.len() {
                    // The slot of a block a few records on is fetched
                    // while this one is paired (the misses overlap).
                    if let Some(ahead) = chunk.get(i + PREFETCH_AHEAD) {
                        blocks.prefetch(ahead);
                    }
                    let mut op = chunk[i];
                    op.line += base;
                    if op.kind == BlockKind::Release {
                        if let Some(&(_, first)) = runs.iter().find(|(r, _)| *r == op.run) {
                            op.extra = op.extra.min(first);
                        }
                    }
                    blocks.push(&op);
                }
                chunk.clear();
            }
        });
        let n = before.len();
        self.spare
            .extend((0..n).map(|c| ops.iter_mut().map(|p| std::mem::take(&mut p[c])).collect()));
        self.phases[1] += t.elapsed();
    }

    /// Record vectors for `n` chunks, recycled where there are.
    fn spare(&mut self, n: usize) -> Vec<Option<Vec<Vec<BlockOp>>>> {
        (0..n).map(|_| self.spare.pop()).collect()
    }

    fn finish(self) -> IntervalIndex {
        let t = Instant::now();
        let end = self.summary.last_time.unwrap_or(0);
        // Each partition a range of addresses: sorted apart, they are the
        // index in order.
        let parts: Vec<_> = self
            .parts
            .into_par_iter()
            .map(|b| {
                let mut v = b.finish(end);
                v.sort_unstable_by(Interval::order);
                v
            })
            .collect();
        let index = IntervalIndex::from_sorted_parts(parts, self.summary);
        if crate::timing_requested() {
            let [parse, pair] = self.phases;
            eprintln!(
                "index: parse {:.3} s, pair {:.3} s, sort {:.3} s",
                parse.as_secs_f64(),
                pair.as_secs_f64(),
                t.elapsed().as_secs_f64()
            );
        }
        index
    }
}

thread_local! {
    /// The read buffer of a thread, kept from chunk to chunk.
    static READ: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Parses chunk `from..to` of a plain file of `size` bytes: the lines that
/// start in the range, whole. It is read `read` bytes at a time into a
/// buffer that stays in the core's cache while its lines are parsed.
fn read_chunk(f: &File, from: u64, to: u64, size: u64, read: usize, p: &mut ChunkParser) -> io::Result<()> {
    READ.with(|buf| {
        let mut buf = buf.borrow_mut();
        let read = read.max(1);
        // From one byte before the range, to tell whether a line starts at
        // `from` (a line crossing `from` is the previous chunk's).
        let mut pos = from - u64::from(from > 0);
        let mut started = from == 0;
        // Bytes at the front of `buf` not yet parsed: the start of a line.
        let mut carry = 0;
        loop {
            if buf.len() < carry + read {
                buf.resize(carry + read, 0);
            }
            let want = (size.saturating_sub(pos) as usize).min(read);
            let n = if want == 0 {
                0
            } else {
                f.read_at(&mut buf[carry..carry + want], pos)?
            };
            if n == 0 {
                // The end of the file (or of `size`): the last line, whole.
                if started && carry > 0 {
                    p.feed(&buf[..carry]);
                }
                return Ok(());
            }
            let data_at = pos - carry as u64;
            pos += n as u64;
            let data = &buf[..carry + n];
            let mut start = 0;
            if !started {
                match memchr::memchr(b'\n', data) {
                    // No line starts in the range: the line crossing
                    // `from` crosses `to` too.
                    Some(i) if data_at + i as u64 + 1 >= to => return Ok(()),
                    Some(i) => (start, started) = (i + 1, true),
                    None => {
                        carry = 0;
                        continue;
                    }
                }
            }
            // The chunk's last line holds byte `to - 1` and ends at the
            // first newline from there.
            let last = (to - 1).saturating_sub(data_at) as usize;
            if last < data.len() {
                if let Some(i) = memchr::memchr(b'\n', &data[last.max(start)..]) {
                    let end = last.max(start) + i + 1;
                    if start < end {
                        p.feed(&data[start..end]);
                    }
                    return Ok(());
                }
            }
            match memchr::memrchr(b'\n', &data[start..]) {
                Some(i) => {
                    let end = start + i + 1;
                    p.feed(&data[start..end]);
                    buf.copy_within(end..carry + n, 0);
                    carry = carry + n - end;
                }
                None => {
                    buf.copy_within(start..carry + n, 0);
                    carry = carry + n - start;
                }
            }
        }
    })
}

/// Builds the index of a plain (uncompressed) file of `size` bytes (the
/// bytes beyond it, if the file grows meanwhile, are not read); `done`
/// counts the bytes parsed.
pub fn build_file(f: &File, size: u64, opts: &Options, done: &AtomicU64) -> io::Result<IntervalIndex> {
    let chunk = opts.chunk_bytes.max(1) as u64;
    let n = size.div_ceil(chunk);
    let mut sample = Vec::new();
    let samples = SAMPLES.min(size.div_ceil(SAMPLE_BYTES as u64));
    for k in 0..samples {
        sample_file(f, k * size / samples, size, &mut sample)?;
    }
    let ranges = Ranges::of_sample(sample, opts.partitions);
    // About one interval per two lines of 150 bytes, shared out (room
    // only: memory is touched as it is used).
    let intervals = (size / 300 / ranges.len() as u64).min(1 << 18) as usize;
    let mut m = Merge::new(ranges, intervals);
    let mut k = 0;
    while k < n {
        let hi = (k + opts.window.max(1) as u64).min(n);
        let t = Instant::now();
        let spare = m.spare((hi - k) as usize);
        let chunks = spare
            .into_par_iter()
            .enumerate()
            .map(|(j, spare)| {
                let i = k + j as u64;
                let (from, to) = (i * chunk, ((i + 1) * chunk).min(size));
                let mut p = ChunkParser::new((to - from) as usize, &m.ranges, spare);
                read_chunk(f, from, to, size, opts.read_bytes, &mut p)?;
                done.fetch_add(to - from, Ordering::Relaxed);
                Ok(p.finish())
            })
            .collect::<io::Result<Vec<Chunk>>>()?;
        m.phases[0] += t.elapsed();
        m.take(chunks);
        k = hi;
    }
    Ok(m.finish())
}

/// Reads the next window of chunks of a stream (empty at its end); `carry`
/// holds the start of a line cut by the previous read.
fn read_window(r: &mut impl Read, carry: &mut Vec<u8>, opts: &Options) -> io::Result<Vec<Vec<u8>>> {
    let want = opts.chunk_bytes.max(1);
    let mut texts = Vec::new();
    let mut eof = false;
    while texts.len() < opts.window.max(1) && !eof {
        let mut buf = std::mem::take(carry);
        buf.reserve(want + (64 << 10));
        let goal = buf.len() + want;
        while buf.len() < goal {
            let have = buf.len();
            buf.resize(have.max(goal).min(have + (1 << 20)), 0);
            let n = loop {
                match r.read(&mut buf[have..]) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other?,
                }
            };
            buf.truncate(have + n);
            if n == 0 {
                eof = true;
                break;
            }
        }
        if eof {
            if !buf.is_empty() {
                texts.push(buf);
            }
        } else if let Some(i) = memchr::memrchr(b'\n', &buf) {
            carry.extend_from_slice(&buf[i + 1..]);
            buf.truncate(i + 1);
            texts.push(buf);
        } else {
            // One line longer than a chunk: read on.
            *carry = buf;
        }
    }
    Ok(texts)
}

/// Builds the index of a log read from a stream (a decompressor): read in
/// order, parsed on every thread while the next window is read.
pub fn build_stream(mut r: impl Read + Send, opts: &Options) -> io::Result<IntervalIndex> {
    let mut carry = Vec::new();
    let mut next = read_window(&mut r, &mut carry, opts)?;
    // The sample: the head of every chunk of the first window.
    let mut sample = Vec::new();
    for t in &next {
        let head = if t.len() <= SAMPLE_BYTES {
            &t[..]
        } else {
            &t[..memchr::memrchr(b'\n', &t[..SAMPLE_BYTES]).map_or(0, |i| i + 1)]
        };
        sample_publics(head, &mut sample);
    }
    let mut m = Merge::new(Ranges::of_sample(sample, opts.partitions), 0);
    while !next.is_empty() {
        let texts = std::mem::take(&mut next);
        let spare = m.spare(texts.len());
        let ((), more) = rayon::join(
            || {
                let ranges = &m.ranges;
                let chunks: Vec<Chunk> = texts
                    .par_iter()
                    .zip(spare)
                    .map(|(t, spare)| parse_chunk(t, ranges, spare))
                    .collect();
                m.take(chunks);
            },
            || read_window(&mut r, &mut carry, opts),
        );
        next = more?;
    }
    Ok(m.finish())
}

#[cfg(test)]
mod tests;
