//! A rolling log file: size- and time-based rotation on the packet clock;
//! gzip and retention in a background thread ([`super::compress`]) so the
//! writer never waits for them (issue 10 item 5).
//!
//! The active file keeps its name; a rotated file becomes
//! `NAME.YYYYMMDDTHHMMSSZ` — the UTC time of its first record — with `.N`
//! appended if that name is taken (several rotations in one second), and
//! `.gz` once compressed.
//!
//! Appending only buffers. [`RollingFile::flush`] appends the buffer with
//! one `write_all`; if that fails (disk full) the file is truncated back to
//! its last good length and the buffer kept, so a retry neither tears nor
//! duplicates a record. [`RollingFile::rotate`] is resumable: a failure
//! after the rename leaves it knowing the rename was done, so a retry does
//! not rotate twice. The directory is fsynced after a rename or a create,
//! so a crash does not lose a file name.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use cgnat_core::natlog::parse_time;

use super::compress::{Housekeeper, Report};
use super::files::{FilePerms, LogLock};

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
    /// Rotated files whose period ended more than this many seconds (of
    /// packet clock) before the newest record are removed (0: never).
    pub max_age_secs: u64,
    /// Gzip rotated files.
    pub compress: bool,
    /// Mode, owner and group of every file created (active, rotated, gzip).
    pub perms: FilePerms,
}

/// `YYYYMMDDTHHMMSSZ` of `secs` since the Unix epoch (UTC).
pub fn stamp(secs: u64) -> String {
    let (y, m, d) = cgnat_core::time::civil_from_days((secs / 86_400) as i64);
    let s = secs % 86_400;
    format!("{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z", s / 3600, s / 60 % 60, s % 60)
}

/// Parses [`stamp`]'s output back to seconds.
pub fn parse_stamp(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let t = format!(
        "{}-{}-{}T{}:{}:{}.000000Z",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[9..11],
        &s[11..13],
        &s[13..15]
    );
    parse_time(&t).map(|i| i.as_secs())
}

/// The first record time (seconds) on a line of any of the file formats:
/// the first RFC 3339 timestamp the line holds.
fn first_time_in(line: &str) -> Option<u64> {
    (0..line.len().saturating_sub(26))
        .filter(|i| line.is_char_boundary(*i) && line.is_char_boundary(i + 27))
        .find_map(|i| parse_time(&line[i..i + 27]))
        .map(|t| t.as_secs())
}

/// Where a rotation stands (it can fail half-way and be resumed).
#[derive(Debug)]
enum Rotation {
    /// Not rotating.
    Idle,
    /// The active file was renamed; the new one is not open yet.
    Renamed,
}

/// An append-only file with rotation.
pub struct RollingFile {
    path: PathBuf,
    file: File,
    /// Bytes appended to the file (its good length).
    committed: u64,
    /// Bytes of regular records in the active file (written or buffered):
    /// what `max_bytes` limits; restated blocks come on top.
    regular_bytes: u64,
    /// Whether everything committed was fsynced.
    synced: bool,
    /// Formatted bytes not yet appended.
    buf: Vec<u8>,
    period: Option<u64>,
    /// Packet time (s) of the active file's first record.
    first_secs: Option<u64>,
    policy: RollPolicy,
    rotations: u64,
    state: Rotation,
    housekeeper: Housekeeper,
    /// This process's hold of the log's exclusive lock.
    _lock: LogLock,
}

impl RollingFile {
    /// Opens (appends to) `path`, creating it and its directory; problems
    /// of the background housekeeping go to `report`.
    pub fn open(path: &Path, policy: RollPolicy, report: Report) -> io::Result<RollingFile> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        // One writer per log (issue 15): the lock before the file.
        let lock = LogLock::acquire(path, &policy.perms)?;
        let file = policy.perms.open_append(path)?;
        let committed = file.metadata()?.len();
        let mut first_secs = None;
        if committed > 0 {
            let mut head = vec![0u8; 4096];
            let n = File::open(path)?.read(&mut head)?;
            let head = String::from_utf8_lossy(&head[..n]);
            first_secs = head.lines().next().and_then(first_time_in);
        }
        let housekeeper = Housekeeper::start(path, &policy, report)?;
        housekeeper.run(None);
        Ok(RollingFile {
            path: path.to_path_buf(),
            file,
            committed,
            regular_bytes: committed,
            synced: true,
            buf: Vec::with_capacity(64 * 1024),
            // A file holds one period: the first record's is the file's.
            period: first_secs.and_then(|s| s.checked_div(policy.period_secs)),
            first_secs,
            policy,
            rotations: 0,
            state: Rotation::Idle,
            housekeeper,
            _lock: lock,
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

    /// Whether the active file is empty (nothing written or buffered).
    pub fn is_empty(&self) -> bool {
        self.committed == 0 && self.buf.is_empty()
    }

    /// Bytes buffered, not yet written.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Whether a record of `len` bytes at `time_secs` must go to a new file
    /// (its period began, or it would make the regular records of the file
    /// exceed the size limit), or a failed rotation is still to be
    /// finished. A file without a regular record never rotates (however
    /// many blocks its start restates).
    pub fn rotation_due(&mut self, len: usize, time_secs: u64) -> bool {
        if matches!(self.state, Rotation::Renamed) {
            return true;
        }
        if self.regular_bytes == 0 {
            return false;
        }
        let p = time_secs.checked_div(self.policy.period_secs);
        let new_period = p.is_some() && self.period.is_some_and(|q| Some(q) != p);
        new_period || (self.policy.max_bytes > 0 && self.regular_bytes + len as u64 > self.policy.max_bytes)
    }

    /// Buffers one record's bytes, stamped `time_secs` on the packet clock
    /// (call [`RollingFile::rotation_due`] and [`RollingFile::rotate`]
    /// first); `regular`: not a restatement.
    pub fn append(&mut self, bytes: &[u8], time_secs: u64, regular: bool) {
        if let Some(p) = time_secs.checked_div(self.policy.period_secs) {
            self.period = Some(p);
        }
        self.first_secs.get_or_insert(time_secs);
        self.buf.extend_from_slice(bytes);
        if regular {
            self.regular_bytes += bytes.len() as u64;
        }
    }

    /// Appends the buffered bytes to the file; with `fsync`, also syncs.
    /// On error nothing is half-written and the bytes stay buffered.
    pub fn flush(&mut self, fsync: bool) -> io::Result<()> {
        if !self.buf.is_empty() {
            if let Err(e) = self.file.write_all(&self.buf) {
                // Undo a partial append so the retry does not duplicate bytes.
                let _ = self.file.set_len(self.committed);
                return Err(e);
            }
            self.committed += self.buf.len() as u64;
            self.synced = false;
            self.buf.clear();
        }
        if fsync && !self.synced {
            self.file.sync_data()?;
            self.synced = true;
        }
        Ok(())
    }

    /// The name the active file gets when rotated.
    fn rotated_name(&self) -> PathBuf {
        let secs = self.first_secs.unwrap_or(0);
        let base = format!("{}.{}", self.path.display(), stamp(secs));
        let mut p = PathBuf::from(&base);
        let mut n = 1;
        while p.exists() || PathBuf::from(format!("{}.gz", p.display())).exists() {
            p = PathBuf::from(format!("{base}.{n}"));
            n += 1;
        }
        p
    }

    /// Closes the active file under its rotated name and starts a new one
    /// whose first record is at `next_secs`; compression and retention are
    /// handed to the background thread. Resumable after an error.
    pub fn rotate(&mut self, next_secs: u64) -> io::Result<()> {
        if matches!(self.state, Rotation::Idle) {
            self.flush(true)?;
            let to = self.rotated_name();
            std::fs::rename(&self.path, &to)?;
            self.state = Rotation::Renamed;
            sync_dir(&self.path);
        }
        let file = self.policy.perms.open_append(&self.path)?;
        sync_dir(&self.path);
        self.file = file;
        self.committed = 0;
        self.regular_bytes = 0;
        self.synced = true;
        self.first_secs = None;
        self.rotations += 1;
        self.state = Rotation::Idle;
        self.housekeeper.run(Some(next_secs));
        Ok(())
    }

    /// Waits until the background thread has done what it was given
    /// (tests, clean shutdown).
    pub fn settle(&self) {
        self.housekeeper.settle();
    }
}

/// fsyncs the directory of `path` (best effort: a file system that cannot
/// is not an error worth failing the log for).
fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    pub(crate) fn dir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("cgnat-roll-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// The log files (not the hidden lock file).
    fn names(d: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect();
        v.sort();
        v
    }

    fn quiet() -> Report {
        Arc::new(|_: String| {})
    }

    #[test]
    fn stamps_round_trip() {
        assert_eq!(stamp(1_700_000_000), "20231114T221320Z");
        assert_eq!(parse_stamp("20231114T221320Z"), Some(1_700_000_000));
        assert_eq!(parse_stamp("20231114T221320"), None);
        assert_eq!(first_time_in("<134>1 2023-11-14T22:13:20.001000Z h"), Some(1_700_000_000));
        assert_eq!(
            first_time_in("{\"seq\":1,\"time\":\"2023-11-14T22:13:20.001000Z\"}"),
            Some(1_700_000_000)
        );
    }

    #[test]
    fn rotated_files_are_named_by_their_first_record_and_uncompressed_when_asked() {
        let d = dir("names");
        let p = d.join("nat.log");
        let policy = RollPolicy {
            max_bytes: 20,
            ..RollPolicy::default()
        };
        let mut f = RollingFile::open(&p, policy, quiet()).unwrap();
        for (i, t) in [1_700_000_000u64, 1_700_000_000, 1_700_000_001].iter().enumerate() {
            let line = format!("record-{i}-abcdefgh\n");
            if f.rotation_due(line.len(), *t) {
                f.rotate(*t).unwrap();
            }
            f.append(line.as_bytes(), *t, true);
            f.flush(false).unwrap();
        }
        f.settle();
        assert_eq!(
            names(&d),
            ["nat.log", "nat.log.20231114T221320Z", "nat.log.20231114T221320Z.1"],
            "same second: .1 appended"
        );
        assert_eq!(
            std::fs::read_to_string(d.join("nat.log.20231114T221320Z")).unwrap(),
            "record-0-abcdefgh\n"
        );
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "record-2-abcdefgh\n");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn rotates_by_packet_clock_period_and_resumes_after_a_restart() {
        let d = dir("time");
        let p = d.join("nat.log");
        let policy = RollPolicy {
            period_secs: 86_400,
            ..RollPolicy::default()
        };
        let day = 86_400 * 19_000;
        let mut f = RollingFile::open(&p, policy.clone(), quiet()).unwrap();
        for (line, t) in [
            ("2022-01-08T00:00:05.000000Z a\n", day + 5),
            ("2022-01-08T23:59:59.000000Z b\n", day + 86_399),
        ] {
            assert!(!f.rotation_due(line.len(), t));
            f.append(line.as_bytes(), t, true);
        }
        f.flush(true).unwrap();
        drop(f);
        // A restart on the same day appends; the next day rotates, under
        // the first record's time read back from the file.
        let mut f = RollingFile::open(&p, policy, quiet()).unwrap();
        let c = "2022-01-09T00:00:00.000000Z c\n";
        f.append(b"2022-01-08T23:59:59.500000Z b2\n", day + 86_399, true);
        assert!(f.rotation_due(c.len(), day + 86_400));
        f.rotate(day + 86_400).unwrap();
        f.append(c.as_bytes(), day + 86_400, true);
        f.flush(true).unwrap();
        f.settle();
        assert_eq!(names(&d), ["nat.log", "nat.log.20220108T000005Z"]);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), c);
        let _ = std::fs::remove_dir_all(&d);
    }
}
