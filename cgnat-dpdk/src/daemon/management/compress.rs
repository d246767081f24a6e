//! The background housekeeping of a rolling file: gzip of rotated files
//! and retention, on a thread of its own so that the log writer never
//! waits for them (issue 10 item 5: at a daily rotation of a large file,
//! gzip inline stalled the log and new blocks were refused).
//!
//! Each run looks at every rotated file of the log (`NAME.YYYYMMDDTHHMMSSZ
//! [.N][.gz]`, see [`super::roll`]): it compresses those not compressed yet
//! (to `.gz.tmp`, fsync, rename, fsync the directory, then remove the
//! original — so a crash or a full disk leaves either the plain file or the
//! complete `.gz`, and a failed compression is retried at the next run),
//! then removes the oldest beyond `keep_files` and those whose period ended
//! more than `max_age_secs` before the newest record. Files named the old
//! way (`NAME.N`) are left alone.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};

use super::roll::{parse_stamp, RollPolicy};

/// Where problems of the background thread are reported (the sink's
/// counters and stderr).
pub type Report = Arc<dyn Fn(String) + Send + Sync>;

/// A rotated file: its start (s), its index within the second, whether it
/// is compressed, its path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Rotated {
    /// UTC seconds of its first record.
    pub start: u64,
    /// The `.N` suffix (0: none).
    pub index: u32,
    /// Whether it ends in `.gz`.
    pub gz: bool,
    /// The file.
    pub path: PathBuf,
}

/// The rotated files of `active`, oldest first.
pub fn rotated_files(active: &Path) -> Vec<Rotated> {
    let (Some(dir), Some(name)) = (active.parent(), active.file_name()) else {
        return Vec::new();
    };
    let dir = if dir.as_os_str().is_empty() { Path::new(".") } else { dir };
    let prefix = format!("{}.", name.to_string_lossy());
    let mut v = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else { return v };
    for e in entries.flatten() {
        let f = e.file_name().to_string_lossy().into_owned();
        let Some(rest) = f.strip_prefix(&prefix) else { continue };
        let (rest, gz) = match rest.strip_suffix(".gz") {
            Some(r) => (r, true),
            None => (rest, false),
        };
        let (stamp, index) = match rest.split_once('.') {
            Some((s, n)) => match n.parse::<u32>() {
                Ok(n) if n > 0 => (s, n),
                _ => continue,
            },
            None => (rest, 0),
        };
        let Some(start) = parse_stamp(stamp) else { continue };
        v.push(Rotated {
            start,
            index,
            gz,
            path: dir.join(&f),
        });
    }
    v.sort();
    v
}

/// Gzips `from` into `from.gz` (header mtime 0: deterministic archives)
/// and removes `from`.
fn compress(from: &Path, perms: &super::files::FilePerms) -> io::Result<()> {
    let to = PathBuf::from(format!("{}.gz", from.display()));
    let tmp = PathBuf::from(format!("{}.gz.tmp", from.display()));
    let result = (|| {
        let mut input = File::open(from)?;
        let out = perms.create(&tmp)?;
        let mut gz = flate2::GzBuilder::new().mtime(0).write(out, flate2::Compression::default());
        io::copy(&mut input, &mut gz)?;
        gz.finish()?.sync_all()?;
        std::fs::rename(&tmp, &to)?;
        if let Some(d) = to.parent().and_then(|d| File::open(d).ok()) {
            let _ = d.sync_all();
        }
        std::fs::remove_file(from)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// One housekeeping run over the rotated files of `active`; `now` is the
/// packet time (s) of the newest record, for age retention.
pub fn housekeep(active: &Path, policy: &RollPolicy, now: Option<u64>, report: &Report) {
    if policy.compress {
        for r in rotated_files(active).into_iter().filter(|r| !r.gz) {
            if let Err(e) = compress(&r.path, &policy.perms) {
                report(format!("gzip {}: {e} (kept uncompressed, retried later)", r.path.display()));
            }
        }
    }
    let files = rotated_files(active);
    let n = files.len();
    for (i, r) in files.iter().enumerate() {
        let too_many = policy.keep_files > 0 && n - i > policy.keep_files as usize;
        // A file's period ends where the next one (or the active file) begins.
        let end = files.get(i + 1).map(|f| f.start).or(now);
        let too_old = policy.max_age_secs > 0 && now.zip(end).is_some_and(|(now, end)| end + policy.max_age_secs < now);
        if too_many || too_old {
            if let Err(e) = std::fs::remove_file(&r.path) {
                report(format!("remove {}: {e}", r.path.display()));
            }
        }
    }
}

/// Work handed to the thread, and how much of it is done.
#[derive(Default)]
struct Progress {
    asked: u64,
    done: u64,
}

/// The housekeeping thread of one rolling file.
pub struct Housekeeper {
    tx: Option<Sender<Option<u64>>>,
    progress: Arc<(Mutex<Progress>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Housekeeper {
    /// Starts the thread for the rotated files of `active`.
    pub fn start(active: &Path, policy: &RollPolicy, report: Report) -> io::Result<Housekeeper> {
        let (tx, rx): (Sender<Option<u64>>, Receiver<Option<u64>>) = channel();
        let progress: Arc<(Mutex<Progress>, Condvar)> = Arc::default();
        let (p, active, policy) = (progress.clone(), active.to_path_buf(), policy.clone());
        let thread = std::thread::Builder::new().name("cgnat-log-gzip".into()).spawn(move || {
            while let Ok(mut now) = rx.recv() {
                let mut runs = 1;
                // Coalesce what queued up meanwhile: one run does it all.
                while let Ok(n) = rx.try_recv() {
                    now = now.max(n);
                    runs += 1;
                }
                housekeep(&active, &policy, now, &report);
                let (m, c) = &*p;
                m.lock().done += runs;
                c.notify_all();
            }
        })?;
        Ok(Housekeeper {
            tx: Some(tx),
            progress,
            thread: Some(thread),
        })
    }

    /// Asks for a run (never waits).
    pub fn run(&self, now: Option<u64>) {
        if let Some(tx) = &self.tx {
            if tx.send(now).is_ok() {
                self.progress.0.lock().asked += 1;
            }
        }
    }

    /// Waits until every run asked for is done.
    pub fn settle(&self) {
        let (m, c) = &*self.progress;
        let mut g = m.lock();
        while g.done < g.asked && self.thread.as_ref().is_some_and(|t| !t.is_finished()) {
            c.wait_for(&mut g, std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for Housekeeper {
    /// Lets the thread finish what it was given (so a clean shutdown or
    /// the end of a replay leaves the files final).
    fn drop(&mut self) {
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn gunzip(p: &Path) -> String {
        let mut s = String::new();
        flate2::read::GzDecoder::new(File::open(p).unwrap()).read_to_string(&mut s).unwrap();
        s
    }

    #[test]
    fn compresses_and_keeps_the_newest_n_and_leaves_old_names_alone() {
        let d = std::env::temp_dir().join(format!("cgnat-gzip-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let a = d.join("nat.log");
        for (n, body) in [
            ("nat.log.20231114T221320Z", "one\n"),
            ("nat.log.20231114T221320Z.1", "two\n"),
            ("nat.log.20231114T221321Z", "three\n"),
            ("nat.log.1", "legacy\n"),
            ("nat.log", "active\n"),
        ] {
            std::fs::write(d.join(n), body).unwrap();
        }
        let policy = RollPolicy {
            keep_files: 2,
            compress: true,
            ..RollPolicy::default()
        };
        let errors = Arc::new(Mutex::new(Vec::new()));
        let e2 = errors.clone();
        housekeep(&a, &policy, None, &(Arc::new(move |m: String| e2.lock().push(m)) as Report));
        assert!(errors.lock().is_empty());
        let left: Vec<_> = rotated_files(&a)
            .into_iter()
            .map(|r| r.path.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left, ["nat.log.20231114T221320Z.1.gz", "nat.log.20231114T221321Z.gz"]);
        assert_eq!(gunzip(&d.join("nat.log.20231114T221321Z.gz")), "three\n");
        assert!(d.join("nat.log.1").exists() && d.join("nat.log").exists());
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn age_retention_uses_the_packet_clock_and_the_end_of_each_file() {
        let d = std::env::temp_dir().join(format!("cgnat-age-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        let a = d.join("nat.log");
        let t0 = 1_700_000_000u64;
        for s in [t0, t0 + 100, t0 + 200] {
            std::fs::write(PathBuf::from(format!("{}.{}", a.display(), super::super::roll::stamp(s))), "x\n").unwrap();
        }
        let policy = RollPolicy {
            max_age_secs: 150,
            ..RollPolicy::default()
        };
        // Now t0 + 260: the first file ended at t0 + 100 (> 150 s ago), the
        // second at t0 + 200 (60 s ago).
        housekeep(&a, &policy, Some(t0 + 260), &(Arc::new(|_: String| {}) as Report));
        let left: Vec<u64> = rotated_files(&a).iter().map(|r| r.start).collect();
        assert_eq!(left, [t0 + 100, t0 + 200]);
        let _ = std::fs::remove_dir_all(&d);
    }
}
