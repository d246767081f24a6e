//! NAT log files on disk: finding them (rotated and gzip-compressed ones
//! included), reading them ([`crate::logread`]: text, JSON lines, syslog
//! and collectors' files, even mixed), and keeping one
//! [`index`](crate::index) per file.
//!
//! A directory (`--log-dir`) holds more than NAT logs (the daemon's own
//! log, rsyslog's other files, a tool's output): only files whose name
//! looks like a log (`*.log*`, `*.json*`, `*.syslog*`, not hidden) *and*
//! whose first lines hold a NAT record are read; the others are skipped
//! and listed once ([`NatLogFiles::skipped`]), never parsed line by line
//! (issue 15).
//!
//! Indexes never go into the log directory (the legal record's directory
//! is not cgnatctl's to write): they live in a cache directory of their
//! own, `--index-dir` or `$XDG_CACHE_HOME/cgnatctl/indexes` (else
//! `~/.cache/cgnatctl/indexes`), named by the log directory and the
//! file's identity (size, mtime, first 64 KiB): rotation renames files but
//! keeps their identity, so indexes survive it.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::CliError;
use crate::index::file::{self as ixfile, IndexFile, SourceId};
use crate::index::{parallel, Builder, IntervalIndex};
use crate::logread::{for_each_line, is_gzip, malformed_message, open_log, Line};

use crate::record::Record;

/// The suffix of index files.
pub const INDEX_SUFFIX: &str = ".cgnatidx";

/// Reads a whole log file into an index: on every thread of rayon's pool
/// ([`crate::index::parallel`]), or with one thread the reference build
/// ([`build_index_sequential`]); the two give the same index. `done`
/// counts the bytes read (compressed bytes of a compressed file).
pub fn build_index(path: &Path, done: &AtomicU64) -> Result<IntervalIndex, CliError> {
    let err = |e| io_error(path, e);
    let threads = rayon::current_num_threads();
    if threads <= 1 {
        let size = std::fs::metadata(path).map_err(err)?.len();
        let index = build_index_sequential(path)?;
        done.fetch_add(size, Ordering::Relaxed);
        return Ok(index);
    }
    let opts = parallel::Options::for_threads(threads);
    let f = File::open(path).map_err(err)?;
    if is_gzip(path).map_err(err)? {
        let counted = Counted { inner: f, done };
        let gz = flate2::read::MultiGzDecoder::new(BufReader::with_capacity(1 << 20, counted));
        parallel::build_stream(gz, &opts).map_err(err)
    } else {
        let size = f.metadata().map_err(err)?.len();
        parallel::build_file(&f, size, &opts, done).map_err(err)
    }
}

/// A reader that counts the bytes read through it.
struct Counted<'a, R> {
    inner: R,
    done: &'a AtomicU64,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// The reference build: every line in file order into one [`Builder`].
pub fn build_index_sequential(path: &Path) -> Result<IntervalIndex, CliError> {
    let reader = open_log(path).map_err(|e| io_error(path, e))?;
    build_sequential(reader).map_err(|e| io_error(path, e))
}

/// The reference build of a log read from `reader`.
pub fn build_sequential(reader: impl BufRead) -> std::io::Result<IntervalIndex> {
    let mut b = Builder::new();
    for_each_line(reader, |line, l| match l {
        Line::Record(r) => b.push(&Record::from_log(&r, line)),
        Line::Malformed(e) => b.bad_line(line, malformed_message(&e)),
        Line::Other => b.other_line(line),
    })?;
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

/// Lines (or bytes) of a file's head searched for a NAT record when a
/// directory is read.
pub const SNIFF_LINES: usize = 2000;
/// Bytes of a file's head (uncompressed) searched for a NAT record.
pub const SNIFF_BYTES: u64 = 4 << 20;

/// The NAT logs of a directory, and the files skipped.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NatLogFiles {
    /// The NAT logs, sorted by name.
    pub files: Vec<PathBuf>,
    /// Log-like files without a NAT record in their head (the daemon's own
    /// log, another program's), sorted by name.
    pub skipped: Vec<PathBuf>,
}

impl NatLogFiles {
    /// One line for the operator about the skipped files, if any.
    pub fn skipped_note(&self, dir: &Path) -> Option<String> {
        if self.skipped.is_empty() {
            return None;
        }
        let names: Vec<String> = self
            .skipped
            .iter()
            .take(10)
            .map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
            .collect();
        let more = if self.skipped.len() > 10 {
            format!(", and {} more", self.skipped.len() - 10)
        } else {
            String::new()
        };
        Some(format!(
            "{} file{} of {} not read: no NAT log record in {} ({}{more}); name a file with --log to read it anyway",
            self.skipped.len(),
            if self.skipped.len() == 1 { "" } else { "s" },
            dir.display(),
            if self.skipped.len() == 1 {
                "its first lines"
            } else {
                "their first lines"
            },
            names.join(", ")
        ))
    }
}

/// Whether a name looks like a log file: not hidden, not an index, and
/// `.log`, `.json` or `.syslog` in it (`nat.log`, `nat.log.1`,
/// `nat.log.2.gz`, `nat.jsonl`, `nat.log-20231114.gz`, `cgnat.syslog`).
pub fn log_like_name(n: &str) -> bool {
    !n.starts_with('.')
        && !n.ends_with(INDEX_SUFFIX)
        && !n.ends_with(".lock")
        && (n.contains(".log") || n.contains(".json") || n.contains(".syslog"))
}

/// Whether the head of `path` (plain or gzip) holds a NAT log record, or
/// a damaged one (so a damaged log is still read and reported): a line
/// that does not parse counts only if it carries a NAT record's marks
/// (`seq=`, `"seq":` with `"event":`, `[nat@`), not any JSON object.
pub fn looks_like_nat_log(path: &Path) -> std::io::Result<bool> {
    let reader = open_log(path)?;
    let mut r = BufReader::new(std::io::Read::take(reader, SNIFF_BYTES));
    let mut buf = Vec::with_capacity(512);
    for _ in 0..SNIFF_LINES {
        buf.clear();
        match r.read_until(b'\n', &mut buf) {
            Ok(0) => return Ok(false),
            Ok(_) => {}
            // A gzip file cut short says what it is by its error.
            Err(e) => return Err(e),
        }
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        match crate::logread::classify(&buf) {
            Line::Record(_) => return Ok(true),
            Line::Malformed(_) => {
                let t = String::from_utf8_lossy(&buf);
                if t.contains(" seq=") || t.contains("[nat@") || (t.contains("\"seq\"") && t.contains("\"event\"")) {
                    return Ok(true);
                }
            }
            Line::Other => {}
        }
    }
    Ok(false)
}

/// The NAT logs of a directory (see the module docs), sorted by name. An
/// error if there is none.
pub fn nat_logs_in_dir(dir: &Path) -> Result<NatLogFiles, CliError> {
    let rd = std::fs::read_dir(dir).map_err(|e| io_error(dir, e))?;
    let mut candidates: Vec<PathBuf> = rd
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
        .map(|e| e.path())
        .filter(|p| log_like_name(p.file_name().and_then(|n| n.to_str()).unwrap_or("")))
        .collect();
    candidates.sort();
    let mut out = NatLogFiles::default();
    for p in candidates {
        match looks_like_nat_log(&p) {
            Ok(true) => out.files.push(p),
            Ok(false) => out.skipped.push(p),
            Err(e) => return Err(io_error(&p, e)),
        }
    }
    if out.files.is_empty() {
        let mut e = CliError::usage(format!("no NAT log files in {}", dir.display()));
        if let Some(n) = out.skipped_note(dir) {
            e = e.with_hint(n);
        }
        return Err(e);
    }
    Ok(out)
}

/// The NAT log files of a directory ([`nat_logs_in_dir`] without the list
/// of skipped files).
pub fn files_in_dir(dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    nat_logs_in_dir(dir).map(|n| n.files)
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

/// The index cache directory: `$XDG_CACHE_HOME/cgnatctl/indexes`, else
/// `~/.cache/cgnatctl/indexes`.
pub fn cache_dir() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".cache"))
        })
        .map(|d| d.join("cgnatctl").join("indexes"))
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

/// Where the index of the log file version `id` at `log` lives: in
/// `--index-dir` or the cache directory, never beside the log. Named by
/// the log's directory and the file's identity (size, mtime, head hash),
/// not its name, so an index stays valid when rotation renames
/// `nat.log.1.gz` to `nat.log.2.gz`. Empty if there is no cache directory
/// (no `$HOME`): the index is then kept in memory only.
pub fn index_candidates(log: &Path, id: &SourceId, policy: &IndexPolicy) -> Vec<PathBuf> {
    let name = format!("{:016x}-{:016x}{INDEX_SUFFIX}", dir_hash(log), ident(id));
    match &policy.index_dir {
        Some(d) => vec![d.join(name)],
        None => cache_dir().map(|c| vec![c.join(name)]).unwrap_or_default(),
    }
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
            let ours = n.ends_with(INDEX_SUFFIX) && n.starts_with(&prefix);
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

    /// Whether any block record of the file names `public`.
    pub fn knows_address(&self, public: std::net::Ipv4Addr) -> std::io::Result<bool> {
        match self {
            Indexed::File(f) => f.knows_address(u32::from(public)),
            Indexed::Memory(m) => Ok(m.knows_address(public)),
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

/// Opens the current index of `log`, building (and saving) it if needed;
/// `done` counts the bytes of the log read (all of them if the index is
/// reused).
pub fn indexed(log: &Path, policy: &IndexPolicy, done: &AtomicU64) -> Result<(Indexed, IndexState), CliError> {
    if policy.no_index {
        return Ok((Indexed::Memory(build_index(log, done)?), IndexState::InMemory));
    }
    let id = SourceId::of(log).map_err(|e| io_error(log, e))?;
    let candidates = index_candidates(log, &id, policy);
    if !policy.rebuild {
        for c in &candidates {
            if let Ok(f) = IndexFile::open(c) {
                if f.source() == id {
                    done.fetch_add(id.size, Ordering::Relaxed);
                    return Ok((Indexed::File(f), IndexState::Reused));
                }
            }
        }
    }
    let index = build_index(log, done)?;
    // The identity taken before reading: if the log grew meanwhile, the
    // next run sees a different one and rebuilds.
    for c in &candidates {
        if let Some(d) = c.parent() {
            // Owner-only, like the indexes in it.
            let _ = std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700).create(d);
        }
        let t = std::time::Instant::now();
        let written = ixfile::write(c, &index, id);
        if crate::timing_requested() {
            eprintln!("index: write {:.3} s", t.elapsed().as_secs_f64());
        }
        if written.is_ok() {
            if let Ok(f) = IndexFile::open(c) {
                return Ok((Indexed::File(f), IndexState::Built));
            }
        }
    }
    Ok((Indexed::Memory(index), IndexState::InMemory))
}
