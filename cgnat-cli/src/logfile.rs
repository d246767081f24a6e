//! NAT log files on disk: finding them (rotated and gzip-compressed ones
//! included), reading them ([`crate::logread`]: text, JSON lines, syslog
//! and collectors' files, even mixed), and keeping one sidecar
//! [`index`](crate::index) per file.
//!
//! The index of a log file lives next to it as `DIR/.cgnat-ID.cgnatidx`,
//! where ID is a hash of the file's size, mtime and first 64 KiB: rotation
//! renames files but keeps their identity, so indexes survive it. If DIR
//! is not writable, indexes go to the cache directory
//! (`$XDG_CACHE_HOME/cgnatctl` or `~/.cache/cgnatctl`) or to `--index-dir`.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::error::CliError;
use crate::index::file::{self as ixfile, IndexFile, SourceId};
use crate::index::{Builder, IntervalIndex};
use crate::logread::{for_each_line, is_gzip, open_log, Line};
use crate::record::Record;

/// The suffix of index files.
pub const INDEX_SUFFIX: &str = ".cgnatidx";

/// Files larger than this (uncompressed) are parsed by several threads.
pub const PARALLEL_PARSE_BYTES: u64 = 32 << 20;

/// Reads a whole log file into an index.
pub fn build_index(path: &Path) -> Result<IntervalIndex, CliError> {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let size = std::fs::metadata(path).map_err(|e| io_error(path, e))?.len();
    if threads > 1 && size >= PARALLEL_PARSE_BYTES && !is_gzip(path).map_err(|e| io_error(path, e))? {
        return build_index_parallel(path, size, threads);
    }
    let reader = open_log(path).map_err(|e| io_error(path, e))?;
    let mut b = Builder::new();
    for_each_line(reader, |line, l| feed(&mut b, line, parsed(line, l))).map_err(|e| io_error(path, e))?;
    Ok(b.finish())
}

/// A line of one chunk as the builder takes it: a record, a damaged NAT
/// line (with the message), or another program's line.
type Parsed = Option<Result<Record, String>>;

/// One chunk of a file parsed by one thread: (lines read, (line, parsed)).
type Chunk = (u64, Vec<(u64, Parsed)>);

fn parsed(line: u64, l: Line) -> Parsed {
    match l {
        Line::Record(r) => Some(Ok(Record::from_log(&r, line))),
        Line::Malformed(e) => Some(Err(format!("{}: {}", e.field, e.message))),
        Line::Other => None,
    }
}

fn feed(b: &mut Builder, line: u64, p: Parsed) {
    match p {
        Some(Ok(r)) => b.push(&r),
        Some(Err(m)) => b.bad_line(line, m),
        None => b.other_line(line),
    }
}

/// Parses `threads` byte ranges of a plain file at once (each starting
/// after a newline), then feeds the records to the builder in file order.
pub fn build_index_parallel(path: &Path, size: u64, threads: usize) -> Result<IntervalIndex, CliError> {
    use std::io::{Seek, SeekFrom};
    // Chunk starts: just after the first newline at or after k * size / n.
    let mut starts = vec![0u64];
    let mut f = File::open(path).map_err(|e| io_error(path, e))?;
    for k in 1..threads as u64 {
        let at = k * size / threads as u64;
        f.seek(SeekFrom::Start(at)).map_err(|e| io_error(path, e))?;
        let mut r = BufReader::new(&mut f);
        let mut skip = Vec::new();
        let n = r.read_until(b'\n', &mut skip).map_err(|e| io_error(path, e))? as u64;
        let s = (at + n).min(size);
        if s > *starts.last().unwrap_or(&0) {
            starts.push(s);
        }
    }
    starts.push(size);
    starts.dedup();
    let chunks: Vec<(u64, u64)> = starts.windows(2).map(|w| (w[0], w[1])).collect();
    let results: Vec<std::io::Result<Chunk>> = std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|&(from, to)| {
                s.spawn(move || -> std::io::Result<Chunk> {
                    let mut f = File::open(path)?;
                    f.seek(SeekFrom::Start(from))?;
                    let reader = BufReader::with_capacity(1 << 20, f.take(to - from));
                    let mut out = Vec::with_capacity(((to - from) / 150) as usize);
                    let lines = for_each_line(reader, |line, l| out.push((line, parsed(line, l))))?;
                    Ok((lines, out))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err(std::io::Error::other("parser thread failed"))))
            .collect()
    });
    let mut b = Builder::new();
    let mut base = 0u64;
    for r in results {
        let (lines, parsed) = r.map_err(|e| io_error(path, e))?;
        for (line, mut p) in parsed {
            if let Some(Ok(rec)) = &mut p {
                rec.line += base;
            }
            feed(&mut b, base + line, p);
        }
        base += lines;
    }
    Ok(b.finish())
}

/// The error for a file that cannot be read.
pub fn io_error(path: &Path, e: std::io::Error) -> CliError {
    let hint = match e.kind() {
        std::io::ErrorKind::PermissionDenied => Some("run as a user that can read the NAT logs (e.g. in group adm), or copy them"),
        std::io::ErrorKind::NotFound => Some("check --log / --log-dir"),
        _ => None,
    };
    let err = CliError::usage(format!("cannot read {}: {e}", path.display()));
    match hint {
        Some(h) => err.with_hint(h),
        None => err,
    }
}

/// The log files of a directory: regular, non-hidden files whose name
/// contains `.log` or `.json` (`nat.log`, `nat.log.1`, `nat.log.2.gz`,
/// `nat.jsonl`, `nat.log-20231114.gz`), sorted by name.
pub fn files_in_dir(dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    let rd = std::fs::read_dir(dir).map_err(|e| io_error(dir, e))?;
    let mut out: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .map(|e| e.path())
        .filter(|p| {
            let n = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            !n.starts_with('.') && !n.ends_with(INDEX_SUFFIX) && (n.contains(".log") || n.contains(".json"))
        })
        .collect();
    out.sort();
    if out.is_empty() {
        return Err(CliError::usage(format!("no NAT log files (*.log*, *.json*) in {}", dir.display())));
    }
    Ok(out)
}

/// Where index files go.
#[derive(Clone, Debug, Default)]
pub struct IndexPolicy {
    /// Put every index here instead of next to the logs.
    pub index_dir: Option<PathBuf>,
    /// Never read or write an index: scan the logs.
    pub no_index: bool,
    /// Rebuild indexes even if they look current.
    pub rebuild: bool,
}

fn cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|d| d.join("cgnatctl"))
}

fn fnv(bytes: &[u8], mut h: u64) -> u64 {
    for b in bytes {
        h = (h ^ *b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    h
}

const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

fn dir_of(log: &Path) -> PathBuf {
    let d = log.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::canonicalize(d).unwrap_or_else(|_| d.to_path_buf())
}

fn dir_hash(log: &Path) -> u64 {
    fnv(dir_of(log).as_os_str().as_encoded_bytes(), FNV_START)
}

/// The content identity of a log file version, as a number.
fn ident(id: &SourceId) -> u64 {
    let mut h = fnv(&id.size.to_le_bytes(), FNV_START);
    h = fnv(&id.mtime_ns.to_le_bytes(), h);
    fnv(&id.head_hash.to_le_bytes(), h)
}

/// The places an index of the log file version `id` at `log` may live, in
/// order of preference. Names are derived from the file's identity (size,
/// mtime, head hash), not its name, so an index stays valid when rotation
/// renames `nat.log.1.gz` to `nat.log.2.gz`.
pub fn index_candidates(log: &Path, id: &SourceId, policy: &IndexPolicy) -> Vec<PathBuf> {
    let cached = format!("{:016x}-{:016x}{INDEX_SUFFIX}", dir_hash(log), ident(id));
    if let Some(d) = &policy.index_dir {
        return vec![d.join(cached)];
    }
    let mut v = vec![dir_of(log).join(format!(".cgnat-{:016x}{INDEX_SUFFIX}", ident(id)))];
    if let Some(c) = cache_dir() {
        v.push(c.join(cached));
    }
    v
}

/// Removes the index files of log file versions that are gone (rotated
/// out, or superseded by a newer version of the active file), in the
/// places the indexes of `logs` (all files of one directory) live.
pub fn remove_stale_indexes(logs: &[PathBuf], policy: &IndexPolicy) {
    let Some(first) = logs.first() else { return };
    let ids: Vec<SourceId> = logs.iter().filter_map(|l| SourceId::of(l).ok()).collect();
    if ids.len() != logs.len() {
        return;
    }
    let mut keep = std::collections::HashSet::new();
    let mut dirs = std::collections::HashSet::new();
    for (l, id) in logs.iter().zip(&ids) {
        for c in index_candidates(l, id, policy) {
            if let Some(d) = c.parent() {
                dirs.insert(d.to_path_buf());
            }
            keep.insert(c);
        }
    }
    let prefix = format!("{:016x}-", dir_hash(first));
    for d in dirs {
        let Ok(rd) = std::fs::read_dir(&d) else { continue };
        for e in rd.filter_map(|e| e.ok()) {
            let n = e.file_name().to_string_lossy().into_owned();
            let ours = n.ends_with(INDEX_SUFFIX) && (n.starts_with(".cgnat-") || n.starts_with(&prefix));
            if ours && !keep.contains(&e.path()) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// How a log file's index was obtained.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum IndexState {
    /// A current index file was reused.
    Reused,
    /// The index was (re)built and saved.
    Built,
    /// Built in memory only (`--no-index`, or nowhere writable).
    InMemory,
}

/// One log file, ready for queries.
#[derive(Debug)]
pub enum Indexed {
    /// An index file.
    File(IndexFile),
    /// An in-memory index.
    Memory(IntervalIndex),
}

impl Indexed {
    /// The file's summary.
    pub fn summary(&self) -> &crate::index::Summary {
        match self {
            Indexed::File(f) => f.summary(),
            Indexed::Memory(m) => m.summary(),
        }
    }

    /// Intervals of blocks holding `public:port`.
    pub fn query(&self, public: std::net::Ipv4Addr, port: u16) -> std::io::Result<Vec<crate::index::Interval>> {
        match self {
            Indexed::File(f) => f.query(u32::from(public), port),
            Indexed::Memory(m) => Ok(m.query(public, port)),
        }
    }
}

/// Opens the current index of `log`, building (and saving) it if needed.
pub fn indexed(log: &Path, policy: &IndexPolicy) -> Result<(Indexed, IndexState), CliError> {
    if policy.no_index {
        return Ok((Indexed::Memory(build_index(log)?), IndexState::InMemory));
    }
    let id = SourceId::of(log).map_err(|e| io_error(log, e))?;
    let candidates = index_candidates(log, &id, policy);
    if !policy.rebuild {
        for c in &candidates {
            if let Ok(f) = IndexFile::open(c) {
                if f.source() == id {
                    return Ok((Indexed::File(f), IndexState::Reused));
                }
            }
        }
    }
    let index = build_index(log)?;
    // The identity taken before reading: if the log grew meanwhile, the
    // next run sees a different one and rebuilds.
    for c in &candidates {
        if let Some(d) = c.parent() {
            let _ = std::fs::create_dir_all(d);
        }
        if ixfile::write(c, &index, id).is_ok() {
            if let Ok(f) = IndexFile::open(c) {
                return Ok((Indexed::File(f), IndexState::Built));
            }
        }
    }
    Ok((Indexed::Memory(index), IndexState::InMemory))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parallel_parse_matches_sequential() {
        let dir = std::env::temp_dir().join(format!("cgnatctl-par-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("nat.log");
        let mut text = String::new();
        for i in 0..500u32 {
            let kind = if i % 3 == 2 { "block-release" } else { "block-alloc" };
            let port = 1024 + (i % 7) * 512;
            text.push_str(&format!(
                "2023-11-14T22:{:02}:{:02}.000000Z seq={i} {kind} subscriber=100.64.0.{} public=203.0.113.{} ports={port}-{} protocol=all reason=idle producer=0 pseq={i} aux=0\n",
                i / 60 % 60, i % 60, i % 200, i % 5, port + 511
            ));
            if i % 97 == 0 {
                text.push_str("garbage\n\n2023-11-14T22:00:00.000000Z seq=1 block-al\n");
            }
        }
        std::fs::write(&p, &text).unwrap();
        let seq = build_index(&p).unwrap();
        for threads in [2, 3, 7] {
            let par = build_index_parallel(&p, text.len() as u64, threads).unwrap();
            assert_eq!(par, seq, "{threads} threads");
        }
        assert_eq!(seq.summary().bad_line_count, 6);
        assert_eq!(seq.summary().other_lines, 6);
        assert_eq!(seq.summary().records, 500);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
