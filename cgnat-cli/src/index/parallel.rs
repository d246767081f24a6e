//! Building the index of one log file on several threads (rayon), with the
//! result of [`super::Builder`] reading it line by line, exactly.
//!
//! The file is cut into chunks of whole lines: a chunk of a plain file is
//! the lines that *start* in its byte range (read with positioned reads,
//! by the thread that parses it); a compressed file is decompressed in
//! order and cut after the last newline of every `chunk_bytes`. Chunks are
//! parsed at once, each into a [`Summary`] of its own (line numbers counted
//! from the chunk's start) and its block records ([`BlockOp`]), shared out
//! by key among `partitions` [`Blocks`].
//!
//! Then, in file order, the chunks' summaries are appended to the file's
//! ([`Summary::append`], which shifts their lines by the lines before the
//! chunk), and every partition is fed its records of the chunks, all
//! partitions at once. A block's records all go to one partition and reach
//! it in file order, so its intervals are those the reference build makes;
//! the one value a block's pairing takes from other records, the first time
//! of a run so far (the start of a release whose allocation is not in the
//! file), is the minimum of the chunk's own (computed while parsing) and
//! the file's before the chunk (known when the chunk is merged). The
//! intervals are then sorted by all their fields ([`IntervalIndex::new`]),
//! so their order does not depend on the partitions either.
//!
//! Chunks are read a window at a time (`window` chunks), so memory stays
//! bounded whatever the size of the file, and the next window is read
//! while the previous one is merged.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use super::{BlockKind, BlockOp, Blocks, IntervalIndex, Summary};
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
        }
    }
}

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

/// The partition of a block (any function of its key would do).
fn partition_of(op: &BlockOp, partitions: usize) -> usize {
    let h = ((op.public as u64) << 16 | op.first_port as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (((h >> 32) * partitions as u64) >> 32) as usize
}

/// Parses a chunk of whole lines (the last one may lack its newline).
fn parse_chunk(text: &[u8], partitions: usize) -> Chunk {
    let mut summary = Summary::default();
    let per_part = text.len() / 150 / partitions + 16;
    let mut ops: Vec<Vec<BlockOp>> = (0..partitions).map(|_| Vec::with_capacity(per_part)).collect();
    let mut line = 0u64;
    let mut one = |raw: &[u8], line: u64| match classify_raw(raw) {
        None => {}
        Some(Line::Record(r)) => {
            let rec = Record::from_log(&r, line);
            summary.record(&rec);
            let s = &summary;
            if let Some(op) = BlockOp::of(&rec, || s.run_first_time(rec.run).unwrap_or(rec.time)) {
                ops[partition_of(&op, partitions)].push(op);
            }
        }
        Some(Line::Malformed(e)) => summary.bad_line(line, malformed_message(&e)),
        Some(Line::Other) => summary.other_line(line),
    };
    let mut start = 0;
    for nl in memchr::memchr_iter(b'\n', text) {
        line += 1;
        one(&text[start..nl], line);
        start = nl + 1;
    }
    if start < text.len() {
        line += 1;
        one(&text[start..], line);
    }
    Chunk { lines: line, summary, ops }
}

/// The file read so far: its summary, and its blocks by partition.
struct Merge {
    summary: Summary,
    lines: u64,
    parts: Vec<Blocks>,
}

impl Merge {
    fn new(partitions: usize) -> Merge {
        Merge {
            summary: Summary::default(),
            lines: 0,
            parts: (0..partitions.max(1)).map(|_| Blocks::new()).collect(),
        }
    }

    /// Takes the next chunks of the file, in file order.
    fn take(&mut self, chunks: Vec<Chunk>) {
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
        self.parts.par_iter_mut().zip(ops).for_each(|(blocks, chunks)| {
            for ((base, runs), chunk) in before.iter().zip(chunks) {
                for mut op in chunk {
                    op.line += base;
                    if op.kind == BlockKind::Release {
                        if let Some(&(_, first)) = runs.iter().find(|(r, _)| *r == op.run) {
                            op.extra = op.extra.min(first);
                        }
                    }
                    blocks.push(&op);
                }
            }
        });
    }

    fn finish(self) -> IntervalIndex {
        let end = self.summary.last_time.unwrap_or(0);
        let parts: Vec<_> = self.parts.into_par_iter().map(|b| b.finish(end)).collect();
        IntervalIndex::new(parts.concat(), self.summary)
    }
}

thread_local! {
    /// The chunk buffer of a thread, kept from chunk to chunk: it is
    /// zeroed when it grows only, not for every chunk.
    static CHUNK: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Calls `parse` on the text of chunk `from..to` of a plain file of `size`
/// bytes: the lines that start in the range, whole.
fn with_chunk<T>(f: &File, from: u64, to: u64, size: u64, parse: impl FnOnce(&[u8]) -> T) -> io::Result<T> {
    CHUNK.with(|buf| {
        let mut buf = buf.borrow_mut();
        // One byte before the range, to tell whether a line starts at `from`.
        let lead = u64::from(from > 0);
        let mut end = (to - from + lead) as usize;
        if buf.len() < end {
            buf.resize(end, 0);
        }
        f.read_exact_at(&mut buf[..end], from - lead)?;
        // The line that crosses `to` is this chunk's: read on to its newline.
        let mut at = to;
        while buf[..end].last() != Some(&b'\n') && at < size {
            let n = ((size - at) as usize).min(4096);
            if buf.len() < end + n {
                buf.resize(end + n, 0);
            }
            f.read_exact_at(&mut buf[end..end + n], at)?;
            end += memchr::memchr(b'\n', &buf[end..end + n]).map_or(n, |i| i + 1);
            at += n as u64;
        }
        // The first line starting at or after `from` (the byte before it
        // is a newline): a line crossing `from` is the previous chunk's.
        let start = if from == 0 {
            0
        } else {
            memchr::memchr(b'\n', &buf[..end]).map_or(end, |i| i + 1)
        };
        Ok(parse(&buf[start..end]))
    })
}

/// Builds the index of a plain (uncompressed) file of `size` bytes (the
/// bytes beyond it, if the file grows meanwhile, are not read); `done`
/// counts the bytes parsed.
pub fn build_file(f: &File, size: u64, opts: &Options, done: &AtomicU64) -> io::Result<IntervalIndex> {
    let chunk = opts.chunk_bytes.max(1) as u64;
    let n = size.div_ceil(chunk);
    let mut m = Merge::new(opts.partitions);
    let mut k = 0;
    while k < n {
        let hi = (k + opts.window.max(1) as u64).min(n);
        let chunks = (k..hi)
            .into_par_iter()
            .map(|i| {
                let (from, to) = (i * chunk, ((i + 1) * chunk).min(size));
                let c = with_chunk(f, from, to, size, |text| parse_chunk(text, m.parts.len()))?;
                done.fetch_add(to - from, Ordering::Relaxed);
                Ok(c)
            })
            .collect::<io::Result<Vec<Chunk>>>()?;
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
    let mut m = Merge::new(opts.partitions);
    let mut carry = Vec::new();
    let mut next = read_window(&mut r, &mut carry, opts)?;
    while !next.is_empty() {
        let texts = std::mem::take(&mut next);
        let parts = m.parts.len();
        let ((), more) = rayon::join(
            || {
                let chunks: Vec<Chunk> = texts.par_iter().map(|t| parse_chunk(t, parts)).collect();
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
