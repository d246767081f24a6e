//! A rolling log file: size- and time-based rotation on the packet clock,
//! retention by count and age, gzip-compressed rotated files (flate2).
//!
//! The active file keeps its name; on rotation `NAME` becomes `NAME.1`
//! (then `NAME.1.gz` when compressing) and older files shift up by one.
//! Writes are buffered in memory and appended with one `write_all` per
//! flush; if that fails (disk full), the file is truncated back to its last
//! good length and the same bytes are retried later, so a record is never
//! half-written nor duplicated.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// Rotation and retention settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RollPolicy {
    /// Rotate before the file would exceed this many bytes (0: never).
    pub max_bytes: u64,
    /// Rotate when a record's time enters a new period of this many
    /// seconds (0: never).
    pub period_secs: u64,
    /// Rotated files kept (0: all).
    pub keep_files: u32,
    /// Rotated files older than this are removed (0: never).
    pub max_age_secs: u64,
    /// Gzip rotated files.
    pub compress: bool,
}

/// An append-only file with rotation.
pub struct RollingFile {
    path: PathBuf,
    file: File,
    /// Bytes durably appended (the file's good length).
    committed: u64,
    /// Formatted bytes not yet appended.
    buf: Vec<u8>,
    period: Option<u64>,
    policy: RollPolicy,
    rotations: u64,
}

impl RollingFile {
    /// Opens (appends to) `path`, creating it and its directory.
    pub fn open(path: &Path, policy: RollPolicy) -> io::Result<RollingFile> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let committed = file.metadata()?.len();
        Ok(RollingFile {
            path: path.to_path_buf(),
            file,
            committed,
            buf: Vec::with_capacity(64 * 1024),
            period: None,
            policy,
            rotations: 0,
        })
    }

    /// The active file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rotations done.
    pub fn rotations(&self) -> u64 {
        self.rotations
    }

    /// Bytes buffered, not yet written.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Appends one record's bytes, stamped `time_secs` on the packet clock,
    /// rotating first if its period or the size limit says so.
    pub fn append(&mut self, bytes: &[u8], time_secs: u64) -> io::Result<()> {
        let size = self.committed + self.buf.len() as u64;
        let mut rotate = false;
        if let Some(p) = time_secs.checked_div(self.policy.period_secs) {
            rotate |= size > 0 && self.period.is_some_and(|q| q != p);
            self.period = Some(p);
        }
        if self.policy.max_bytes > 0 && size > 0 && size + bytes.len() as u64 > self.policy.max_bytes {
            rotate = true;
        }
        if rotate {
            self.rotate()?;
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// Appends the buffered bytes to the file; with `fsync`, also syncs.
    pub fn flush(&mut self, fsync: bool) -> io::Result<()> {
        if !self.buf.is_empty() {
            if let Err(e) = self.file.write_all(&self.buf) {
                // Undo a partial append so the retry does not duplicate bytes.
                let _ = self.file.set_len(self.committed);
                let _ = self.file.seek(SeekFrom::End(0));
                return Err(e);
            }
            self.committed += self.buf.len() as u64;
            self.buf.clear();
        }
        if fsync {
            self.file.sync_data()?;
        }
        Ok(())
    }

    fn rotated(&self, n: u32, gz: bool) -> PathBuf {
        let mut s = self.path.as_os_str().to_owned();
        s.push(format!(".{n}{}", if gz { ".gz" } else { "" }));
        PathBuf::from(s)
    }

    /// Closes the active file as `NAME.1` (compressed if configured),
    /// shifting older files, applies retention, and starts a new file.
    pub fn rotate(&mut self) -> io::Result<()> {
        self.flush(true)?;
        let mut n = 1;
        while self.rotated(n, false).exists() || self.rotated(n, true).exists() {
            n += 1;
        }
        for k in (1..n).rev() {
            for gz in [false, true] {
                let from = self.rotated(k, gz);
                if from.exists() {
                    std::fs::rename(&from, self.rotated(k + 1, gz))?;
                }
            }
        }
        let first = self.rotated(1, false);
        std::fs::rename(&self.path, &first)?;
        self.file = OpenOptions::new().create(true).append(true).open(&self.path)?;
        self.committed = 0;
        self.rotations += 1;
        if self.policy.compress {
            compress(&first, &self.rotated(1, true))?;
        }
        self.retain(n + 1)
    }

    fn retain(&self, upto: u32) -> io::Result<()> {
        let now = SystemTime::now();
        for k in 1..=upto {
            for gz in [false, true] {
                let p = self.rotated(k, gz);
                let Ok(meta) = std::fs::metadata(&p) else { continue };
                let too_many = self.policy.keep_files > 0 && k > self.policy.keep_files;
                let too_old = self.policy.max_age_secs > 0
                    && meta
                        .modified()
                        .ok()
                        .and_then(|m| now.duration_since(m).ok())
                        .is_some_and(|age| age > Duration::from_secs(self.policy.max_age_secs));
                if too_many || too_old {
                    std::fs::remove_file(&p)?;
                }
            }
        }
        Ok(())
    }
}

/// Gzips `from` into `to` (header mtime 0: deterministic) and removes `from`.
fn compress(from: &Path, to: &Path) -> io::Result<()> {
    let mut input = File::open(from)?;
    let tmp = to.with_extension("gz.tmp");
    let out = File::create(&tmp)?;
    let mut gz = flate2::GzBuilder::new().mtime(0).write(out, flate2::Compression::default());
    io::copy(&mut input, &mut gz)?;
    gz.finish()?.sync_all()?;
    std::fs::rename(&tmp, to)?;
    std::fs::remove_file(from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("cgnat-roll-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn gunzip(p: &Path) -> String {
        let mut s = String::new();
        flate2::read::GzDecoder::new(File::open(p).unwrap()).read_to_string(&mut s).unwrap();
        s
    }

    #[test]
    fn rotates_by_size_keeps_n_and_compresses() {
        let d = dir("size");
        let p = d.join("nat.log");
        let policy = RollPolicy {
            max_bytes: 20,
            keep_files: 2,
            compress: true,
            ..RollPolicy::default()
        };
        let mut f = RollingFile::open(&p, policy).unwrap();
        for i in 0..5 {
            f.append(format!("record-{i}-abcdefgh\n").as_bytes(), 0).unwrap();
            f.flush(false).unwrap();
        }
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "record-4-abcdefgh\n");
        assert_eq!(gunzip(&d.join("nat.log.1.gz")), "record-3-abcdefgh\n");
        assert_eq!(gunzip(&d.join("nat.log.2.gz")), "record-2-abcdefgh\n");
        assert!(!d.join("nat.log.3.gz").exists());
        assert!(!d.join("nat.log.1").exists());
        assert_eq!(f.rotations(), 4);
    }

    #[test]
    fn rotates_by_packet_clock_period() {
        let d = dir("time");
        let p = d.join("nat.log");
        let policy = RollPolicy {
            period_secs: 86_400,
            ..RollPolicy::default()
        };
        let mut f = RollingFile::open(&p, policy).unwrap();
        f.append(b"a\n", 86_400 * 10 + 5).unwrap();
        f.append(b"b\n", 86_400 * 10 + 86_399).unwrap();
        f.append(b"c\n", 86_400 * 11).unwrap();
        f.flush(true).unwrap();
        assert_eq!(std::fs::read_to_string(d.join("nat.log.1")).unwrap(), "a\nb\n");
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "c\n");
    }
}
