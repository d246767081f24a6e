//! The sidecar index file of one NAT log file.
//!
//! Layout (little endian):
//!
//! ```text
//! 0   magic "CGNATIX1"            8   version u32, entry size u32
//! 16  intervals u64               24  max span u16, 6 bytes zero
//! 32  source size u64             40  source mtime ns i64
//! 48  source head hash u64        56  summary offset u64
//! 64  summary length u64          72  8 bytes zero
//! 80  intervals, ENTRY_SIZE bytes each, sorted by (public, first port, start):
//!     public u32, first/last port u16, start/end i64, subscriber u32,
//!     protocol u8, flags u8, 2 bytes zero, start/end line u32, run u64
//! ..  summary (JSON: first/last time, line counts, bad lines, runs,
//!     epochs and their prefixes)
//! ```
//!
//! An index is valid for its log file while the file's size, mtime and the
//! hash of its first [`HEAD_BYTES`] bytes are those recorded; otherwise it
//! is rebuilt. A query reads the header and summary, then binary-searches
//! the intervals with positioned reads: a few KiB per lookup, whatever the
//! size of the log.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;

use super::{Interval, IntervalIndex, Summary};
use crate::record::Proto;
use crate::timefmt::Micros;

/// Magic bytes.
pub const MAGIC: &[u8; 8] = b"CGNATIX1";
/// Format version (2: intervals carry their run, summaries the runs,
/// interim starts and deterministic prefixes; older indexes are rebuilt).
pub const VERSION: u32 = 2;
/// Bytes of one stored interval.
pub const ENTRY_SIZE: usize = 48;
/// Bytes of the header.
pub const HEADER_SIZE: usize = 80;
/// Bytes of the log file's head that are hashed.
pub const HEAD_BYTES: usize = 65536;

/// What identifies the version of a log file an index was built from.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct SourceId {
    /// File size in bytes.
    pub size: u64,
    /// Modification time, ns since the Unix epoch.
    pub mtime_ns: i64,
    /// FNV-1a of the first [`HEAD_BYTES`] bytes.
    pub head_hash: u64,
}

fn fnv1a(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in data {
        h ^= *b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl SourceId {
    /// The identity of the log file at `path` now.
    pub fn of(path: &Path) -> std::io::Result<SourceId> {
        let mut f = File::open(path)?;
        let m = f.metadata()?;
        let mut head = Vec::with_capacity(HEAD_BYTES);
        (&mut f).take(HEAD_BYTES as u64).read_to_end(&mut head)?;
        Ok(SourceId {
            size: m.len(),
            mtime_ns: m.mtime() * 1_000_000_000 + m.mtime_nsec(),
            head_hash: fnv1a(&head),
        })
    }
}

fn encode(i: &Interval, out: &mut [u8]) {
    out[0..4].copy_from_slice(&i.public.to_le_bytes());
    out[4..6].copy_from_slice(&i.first_port.to_le_bytes());
    out[6..8].copy_from_slice(&i.last_port.to_le_bytes());
    out[8..16].copy_from_slice(&i.start.to_le_bytes());
    out[16..24].copy_from_slice(&i.end.to_le_bytes());
    out[24..28].copy_from_slice(&i.subscriber.to_le_bytes());
    out[28] = i.proto as u8;
    out[29] = i.flags;
    out[30..32].copy_from_slice(&[0, 0]);
    out[32..36].copy_from_slice(&i.start_line.to_le_bytes());
    out[36..40].copy_from_slice(&i.end_line.to_le_bytes());
    out[40..48].copy_from_slice(&i.run.to_le_bytes());
}

fn decode(b: &[u8]) -> Interval {
    let u16at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
    let u32at = |o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
    let u64at = |o: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[o..o + 8]);
        u64::from_le_bytes(a)
    };
    Interval {
        public: u32at(0),
        first_port: u16at(4),
        last_port: u16at(6),
        start: u64at(8) as i64,
        end: u64at(16) as i64,
        subscriber: u32at(24),
        proto: Proto::from_u8(b[28]),
        flags: b[29],
        start_line: u32at(32),
        end_line: u32at(36),
        run: u64at(40),
    }
}

/// Bytes encoded before they are written, per thread.
const WRITE_BYTES: usize = 1 << 20;

/// Writes intervals starting at byte `at` of `f`.
fn write_part(f: &File, part: &[Interval], at: u64) -> std::io::Result<()> {
    let mut buf = vec![0u8; WRITE_BYTES.min(part.len() * ENTRY_SIZE)];
    let mut at = at;
    for piece in part.chunks(WRITE_BYTES / ENTRY_SIZE) {
        let bytes = &mut buf[..piece.len() * ENTRY_SIZE];
        for (i, e) in piece.iter().zip(bytes.chunks_exact_mut(ENTRY_SIZE)) {
            encode(i, e);
        }
        f.write_all_at(bytes, at)?;
        at += bytes.len() as u64;
    }
    Ok(())
}

/// Writes `index` for a log file identified by `source` to `path`
/// (through a temporary file renamed into place, so readers never see a
/// half-written index).
pub fn write(path: &Path, index: &IntervalIndex, source: SourceId) -> std::io::Result<()> {
    let summary = serde_json::to_vec(index.summary()).map_err(std::io::Error::other)?;
    let n = index.len() as u64;
    let summary_off = HEADER_SIZE as u64 + n * ENTRY_SIZE as u64;
    let mut h = [0u8; HEADER_SIZE];
    h[0..8].copy_from_slice(MAGIC);
    h[8..12].copy_from_slice(&VERSION.to_le_bytes());
    h[12..16].copy_from_slice(&(ENTRY_SIZE as u32).to_le_bytes());
    h[16..24].copy_from_slice(&n.to_le_bytes());
    h[24..26].copy_from_slice(&index.max_span().to_le_bytes());
    h[32..40].copy_from_slice(&source.size.to_le_bytes());
    h[40..48].copy_from_slice(&source.mtime_ns.to_le_bytes());
    h[48..56].copy_from_slice(&source.head_hash.to_le_bytes());
    h[56..64].copy_from_slice(&summary_off.to_le_bytes());
    h[64..72].copy_from_slice(&(summary.len() as u64).to_le_bytes());
    let mut offsets = Vec::with_capacity(index.parts().len());
    let mut at = HEADER_SIZE as u64;
    for p in index.parts() {
        offsets.push(at);
        at += (p.len() * ENTRY_SIZE) as u64;
    }
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let result = (|| {
        // Owner-only: an index names subscribers, like the log it indexes.
        let f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        f.set_len(summary_off + summary.len() as u64)?;
        // One writer: threads writing one file take turns on its inode
        // lock (measured: no faster, more CPU).
        for (p, at) in index.parts().iter().zip(offsets) {
            write_part(&f, p, at)?;
        }
        f.write_all_at(&summary, summary_off)?;
        f.write_all_at(&h, 0)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// An index file opened for queries.
#[derive(Debug)]
pub struct IndexFile {
    file: File,
    count: u64,
    max_span: u16,
    source: SourceId,
    summary: Summary,
}

fn bad(msg: &str) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, msg.to_string())
}

impl IndexFile {
    /// Opens and checks an index file.
    pub fn open(path: &Path) -> std::io::Result<IndexFile> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        let mut h = [0u8; HEADER_SIZE];
        file.read_exact_at(&mut h, 0)?;
        let u64at = |o: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&h[o..o + 8]);
            u64::from_le_bytes(a)
        };
        if &h[0..8] != MAGIC || u32::from_le_bytes([h[8], h[9], h[10], h[11]]) != VERSION {
            return Err(bad("not a cgnatctl index of this version"));
        }
        if u32::from_le_bytes([h[12], h[13], h[14], h[15]]) as usize != ENTRY_SIZE {
            return Err(bad("unexpected index entry size"));
        }
        let count = u64at(16);
        let (off, slen) = (u64at(56), u64at(64));
        let expected = count.checked_mul(ENTRY_SIZE as u64).and_then(|v| v.checked_add(HEADER_SIZE as u64));
        if expected != Some(off) || off.checked_add(slen) != Some(len) || slen > 64 << 20 {
            return Err(bad("truncated or corrupt index"));
        }
        let mut s = vec![0u8; slen as usize];
        file.read_exact_at(&mut s, off)?;
        let summary: Summary = serde_json::from_slice(&s).map_err(|_| bad("corrupt index summary"))?;
        Ok(IndexFile {
            file,
            count,
            max_span: u16::from_le_bytes([h[24], h[25]]),
            source: SourceId {
                size: u64at(32),
                mtime_ns: u64at(40) as i64,
                head_hash: u64at(48),
            },
            summary,
        })
    }

    /// The log file version this index was built from.
    pub fn source(&self) -> SourceId {
        self.source
    }

    /// The log file's summary.
    pub fn summary(&self) -> &Summary {
        &self.summary
    }

    /// Number of intervals.
    pub fn len(&self) -> u64 {
        self.count
    }

    /// Whether the index holds no interval.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn entry(&self, i: u64) -> std::io::Result<Interval> {
        let mut b = [0u8; ENTRY_SIZE];
        self.file.read_exact_at(&mut b, HEADER_SIZE as u64 + i * ENTRY_SIZE as u64)?;
        Ok(decode(&b))
    }

    /// Whether any block record of the file names `public` (a binary search).
    pub fn knows_address(&self, public: u32) -> std::io::Result<bool> {
        let (mut lo, mut hi) = (0u64, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.entry(mid)?.public < public {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(lo < self.count && self.entry(lo)?.public == public)
    }

    /// Every interval (any time) of a block holding `public:port`: a binary
    /// search, then a short forward scan.
    pub fn query(&self, public: u32, port: u16) -> std::io::Result<Vec<Interval>> {
        let lo_key = (public, port.saturating_sub(self.max_span), Micros::MIN);
        let (mut lo, mut hi) = (0u64, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.entry(mid)?.key() < lo_key {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * ENTRY_SIZE];
        let mut i = lo;
        'scan: while i < self.count {
            let n = (self.count - i).min(64) as usize;
            let chunk = &mut buf[..n * ENTRY_SIZE];
            self.file.read_exact_at(chunk, HEADER_SIZE as u64 + i * ENTRY_SIZE as u64)?;
            for e in chunk.chunks_exact(ENTRY_SIZE).map(decode) {
                if e.public != public || e.first_port > port {
                    break 'scan;
                }
                if e.covers_port(port) {
                    out.push(e);
                }
            }
            i += n as u64;
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Builder, END_OPEN};
    use super::*;
    use crate::record::{Record, RecordKind};

    #[test]
    fn write_open_query_matches_memory() {
        let dir = std::env::temp_dir().join(format!("cgnatctl-ix-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut b = Builder::new();
        let mut line = 0;
        for a in 0..50u32 {
            for blk in 0..8u16 {
                line += 1;
                b.push(&Record {
                    line,
                    time: line as i64 * 10,
                    kind: if (a + blk as u32) % 3 == 0 {
                        RecordKind::Release
                    } else {
                        RecordKind::Alloc
                    },
                    subscriber: 0x6440_0000 + a * 8 + blk as u32,
                    public: 0xcb00_7100 + a / 10,
                    first_port: 1024 + blk * 512,
                    last_port: 1024 + blk * 512 + 511,
                    proto: Proto::All,
                    aux: 0,
                    run: 0x0123_4567_89ab_cdef + a as u64,
                    seq: line,
                });
            }
        }
        b.bad_line(9999, "line 9999: time: bad".into());
        b.other_line(10_000);
        let idx = b.finish();
        let path = dir.join("x.idx");
        let src = SourceId {
            size: 1,
            mtime_ns: -2,
            head_hash: 3,
        };
        write(&path, &idx, src).unwrap();
        let f = IndexFile::open(&path).unwrap();
        assert_eq!(f.source(), src);
        assert_eq!(f.len(), idx.len() as u64);
        assert_eq!(f.summary(), idx.summary());
        for a in 0..6u32 {
            for port in [0u16, 1024, 1500, 2047, 2048, 4000, 5119, 65535] {
                let p = 0xcb00_7100 + a;
                assert_eq!(f.query(p, port).unwrap(), idx.query(p.into(), port), "{a} {port}");
            }
        }
        assert!(f.query(0xcb00_7101, 1024).unwrap().iter().any(|i| i.flags & END_OPEN != 0));
        // An index of the previous version is refused (and so rebuilt).
        let mut old = std::fs::read(&path).unwrap();
        old[8..12].copy_from_slice(&1u32.to_le_bytes());
        std::fs::write(&path, &old).unwrap();
        assert!(IndexFile::open(&path).is_err());
        std::fs::write(&path, b"garbage").unwrap();
        assert!(IndexFile::open(&path).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
