//! The NAT log's files are a legal record naming subscribers (issue 15
//! item 2, "the legal log is protected"):
//!
//! - **modes and owners**: every file cgnatd creates for the log (the
//!   active file, rotated and gzipped ones, their lock files) gets
//!   `log.file_mode` (default 0640: no access for others) and, if set,
//!   `log.owner` / `log.group` ([`FilePerms`]);
//! - **one writer**: an exclusive `flock` on a lock file beside each log
//!   file (`.NAME.lock`, which rotation never renames) is taken before the
//!   EAL and the ports, so a second `cgnatd` pointed at the same log
//!   refuses to start and touches nothing of the first one's files
//!   ([`lock_log_files`]). The locks are process-wide ([`LogLock`]): the
//!   file targets take the same lock again (counted) and a reload to a
//!   new file locks it before opening it.

use std::collections::HashMap;
use std::ffi::CString;
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use cgnat_core::config::{LogConfig, Transport};
use parking_lot::Mutex;

/// Mode, owner and group of the log files.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub struct FilePerms {
    /// Permission bits (0o640 by default).
    pub mode: u32,
    /// Owner to set, if any.
    pub uid: Option<u32>,
    /// Group to set, if any.
    pub gid: Option<u32>,
}

impl Default for FilePerms {
    fn default() -> Self {
        FilePerms {
            mode: 0o640,
            uid: None,
            gid: None,
        }
    }
}

impl FilePerms {
    /// The permissions `log` asks for (names resolved to ids).
    pub fn of(log: &LogConfig) -> io::Result<FilePerms> {
        Ok(FilePerms {
            mode: log.mode(),
            uid: log.owner.as_deref().map(resolve_user).transpose()?,
            gid: log.group.as_deref().map(resolve_group).transpose()?,
        })
    }

    /// Opens `path` for appending, creating it with these permissions, and
    /// sets mode, owner and group (also on a file that existed: a log
    /// created by an older version with 0644 is tightened).
    pub fn open_append(&self, path: &Path) -> io::Result<File> {
        let f = OpenOptions::new().create(true).append(true).mode(self.mode).open(path)?;
        self.apply(&f)?;
        Ok(f)
    }

    /// Creates (truncates) `path` with these permissions.
    pub fn create(&self, path: &Path) -> io::Result<File> {
        let f = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .mode(self.mode)
            .open(path)?;
        self.apply(&f)?;
        Ok(f)
    }

    /// Sets mode, owner and group of an open file.
    pub fn apply(&self, f: &File) -> io::Result<()> {
        if self.uid.is_some() || self.gid.is_some() {
            let uid = self.uid.map_or(u32::MAX, |u| u);
            let gid = self.gid.map_or(u32::MAX, |g| g);
            // SAFETY: a valid open descriptor; -1 (u32::MAX) leaves an id unchanged.
            if unsafe { libc::fchown(f.as_raw_fd(), uid, gid) } != 0 {
                return Err(io::Error::last_os_error());
            }
        }
        f.set_permissions(std::fs::Permissions::from_mode(self.mode))
    }
}

fn numeric_or<F: FnOnce(&CString) -> Option<u32>>(name: &str, what: &str, lookup: F) -> io::Result<u32> {
    if let Ok(n) = name.parse::<u32>() {
        return Ok(n);
    }
    let c = CString::new(name).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("{what} {name:?}")))?;
    lookup(&c).ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no {what} named {name:?} on this system")))
}

/// The uid of a user name (or a numeric uid).
pub fn resolve_user(name: &str) -> io::Result<u32> {
    numeric_or(name, "user", |c| {
        // SAFETY: getpwnam with a NUL-terminated name; the result is read at once (single-threaded start-up).
        let p = unsafe { libc::getpwnam(c.as_ptr()) };
        // SAFETY: non-null pointer from getpwnam.
        (!p.is_null()).then(|| unsafe { (*p).pw_uid })
    })
}

/// The gid of a group name (or a numeric gid).
pub fn resolve_group(name: &str) -> io::Result<u32> {
    numeric_or(name, "group", |c| {
        // SAFETY: getgrnam with a NUL-terminated name; the result is read at once.
        let g = unsafe { libc::getgrnam(c.as_ptr()) };
        // SAFETY: non-null pointer from getgrnam.
        (!g.is_null()).then(|| unsafe { (*g).gr_gid })
    })
}

/// The lock file of a log file: `.NAME.lock` beside it.
pub fn lock_path(log: &Path) -> PathBuf {
    let name = log.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    log.with_file_name(format!(".{name}.lock"))
}

struct Held {
    file: File,
    users: usize,
}

/// The locks this process holds, by lock file.
static LOCKS: Mutex<Option<HashMap<PathBuf, Held>>> = Mutex::new(None);

/// One hold of the exclusive lock of a log file; the lock is released when
/// the last hold of the process is dropped.
#[derive(Debug)]
pub struct LogLock {
    path: PathBuf,
}

impl LogLock {
    /// Takes (or shares, within this process) the exclusive lock of the
    /// log file `log`, creating its directory and lock file. Another
    /// process holding it is an error naming the file and that process.
    pub fn acquire(log: &Path, perms: &FilePerms) -> io::Result<LogLock> {
        let dir = log.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir)?;
        let key = std::fs::canonicalize(dir)?.join(lock_path(log).file_name().unwrap_or_default());
        let mut locks = LOCKS.lock();
        let map = locks.get_or_insert_with(HashMap::new);
        if let Some(h) = map.get_mut(&key) {
            h.users += 1;
            return Ok(LogLock { path: key });
        }
        let mut f = OpenOptions::new().read(true).write(true).create(true).mode(perms.mode).open(&key)?;
        // SAFETY: a valid descriptor; LOCK_NB never blocks.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let mut owner = String::new();
                let _ = f.read_to_string(&mut owner);
                let owner = owner.trim();
                return Err(io::Error::new(
                    io::ErrorKind::AddrInUse,
                    format!(
                        "the NAT log {} is in use by another cgnatd{} (lock {}): two daemons must never write one legal log; give this one its own log.file",
                        log.display(),
                        if owner.is_empty() { String::new() } else { format!(" (pid {owner})") },
                        key.display()
                    ),
                ));
            }
            return Err(e);
        }
        // Ours: say who holds it (for the refusal message of the next one).
        let _ = perms.apply(&f);
        let _ = f
            .set_len(0)
            .and_then(|_| f.rewind())
            .and_then(|_| writeln!(f, "{}", std::process::id()));
        map.insert(key.clone(), Held { file: f, users: 1 });
        Ok(LogLock { path: key })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LogLock {
    fn drop(&mut self) {
        let mut locks = LOCKS.lock();
        if let Some(map) = locks.as_mut() {
            if let Some(h) = map.get_mut(&self.path) {
                h.users -= 1;
                if h.users == 0 {
                    // Closing the descriptor releases the flock; the lock
                    // file stays (removing it would race the next holder).
                    let h = map.remove(&self.path);
                    drop(h.map(|h| h.file));
                }
            }
        }
    }
}

/// The files of `log`'s file targets.
pub fn log_files(log: &LogConfig) -> Vec<PathBuf> {
    log.effective_targets()
        .into_iter()
        .filter(|t| t.transport == Transport::File)
        .filter_map(|t| t.file)
        .collect()
}

/// Locks every file target of `log` (before the EAL and the ports: a
/// second daemon on the same log stops here, having created nothing).
pub fn lock_log_files(log: &LogConfig) -> io::Result<Vec<Arc<LogLock>>> {
    let perms = FilePerms::of(log)?;
    log_files(log).iter().map(|f| LogLock::acquire(f, &perms).map(Arc::new)).collect()
}

/// The mode bits of `path` (for messages and tests).
pub fn mode_of(path: &Path) -> io::Result<u32> {
    Ok(std::fs::metadata(path)?.mode() & 0o7777)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lock_is_shared_in_the_process_and_refused_to_another() {
        let dir = std::env::temp_dir().join(format!("cgnat-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let log = dir.join("nat.log");
        let perms = FilePerms::default();
        let a = LogLock::acquire(&log, &perms).unwrap();
        let b = LogLock::acquire(&log, &perms).unwrap();
        assert_eq!(mode_of(a.path()).unwrap(), 0o640);
        // Another open file description is another holder (as another
        // process would be): refused.
        let f = File::open(a.path()).unwrap();
        // SAFETY: a valid descriptor.
        assert_ne!(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }, 0);
        drop(a);
        // SAFETY: as above.
        assert_ne!(
            unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) },
            0,
            "b still holds it"
        );
        drop(b);
        // SAFETY: as above.
        assert_eq!(unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) }, 0, "released");
        assert!(!log.exists(), "locking creates no log file");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn files_get_the_mode() {
        let dir = std::env::temp_dir().join(format!("cgnat-perms-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("x.log");
        std::fs::write(&p, b"old\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        FilePerms::default().open_append(&p).unwrap();
        assert_eq!(mode_of(&p).unwrap(), 0o640, "an existing world-readable log is tightened");
        assert_eq!(resolve_group("0").unwrap(), 0);
        assert_eq!(resolve_user("root").unwrap(), 0);
        assert!(resolve_group("no-such-group-cgnat").is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
