//! Issue 15 item 2, "the legal log is protected", with two real `cgnatd`:
//! "a second `cgnatd` (other socket, other metrics port) appended its own
//! `seq=0 …` records into the running daemon's `nat.log`; nothing refused
//! it". Now the second refuses to start before creating its ports (it
//! never starts DPDK) and the first one's log is untouched; the log and
//! its lock are mode 0640.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{is_root, skip};

const CGNATD: &str = env!("CARGO_BIN_EXE_cgnatd");

/// A daemon stopped with SIGTERM (and reaped) when dropped.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        // SAFETY: kill on our own child's pid.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(20) {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn command(dir: &Path, name: &str, log: &Path) -> Command {
    let mut c = Command::new(CGNATD);
    c.arg("--lab")
        .env(
            "CGNAT_DATAPLANE__INSIDE__DEVICE",
            format!("net_null{},no-rx=1", if name == "a" { 0 } else { 2 }),
        )
        .env(
            "CGNAT_DATAPLANE__OUTSIDE__DEVICE",
            format!("net_null{},no-rx=1", if name == "a" { 1 } else { 3 }),
        )
        .env("CGNAT_DATAPLANE__WORKERS", "1")
        .env("CGNAT_CONTROL__SOCKET", dir.join(format!("{name}.sock")))
        .env("CGNAT_METRICS__ENABLED", "false")
        .env("CGNAT_LOG__FILE", log)
        .stdin(Stdio::null());
    c
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn a_second_daemon_on_the_same_log_refuses_to_start() {
    if !is_root() {
        return skip("log_lock", "cgnatd needs root");
    }
    let dir = TempDir(std::env::temp_dir().join(format!("cgnat-log-lock-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(dir.path());
    std::fs::create_dir_all(dir.path()).unwrap();
    let log: PathBuf = dir.path().join("nat.log");
    let out = std::fs::File::create(dir.path().join("a.out")).unwrap();
    let a = command(dir.path(), "a", &log)
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .spawn()
        .unwrap();
    let mut a = Daemon(a);
    let t = Instant::now();
    while !dir.path().join("a.sock").exists() {
        if let Ok(Some(st)) = a.0.try_wait() {
            panic!(
                "cgnatd a exited ({st}): {}",
                std::fs::read_to_string(dir.path().join("a.out")).unwrap_or_default()
            );
        }
        assert!(t.elapsed() < Duration::from_secs(60), "cgnatd a did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    // Its start records are on disk (durable before the workers run).
    let before = std::fs::read(&log).unwrap();
    assert!(String::from_utf8_lossy(&before).contains("daemon-start"));

    let b = command(dir.path(), "b", &log).output().unwrap();
    let t = text(&b);
    assert_eq!(b.status.code(), Some(1), "{t}");
    assert!(
        t.contains("is in use by another cgnatd") && t.contains(&format!("(pid {})", a.0.id())),
        "the refusal names the log and the daemon holding it: {t}"
    );
    assert!(!t.contains("starting DPDK"), "refused before the EAL and the ports: {t}");
    assert!(!dir.path().join("b.sock").exists(), "b opened no socket");
    assert_eq!(std::fs::read(&log).unwrap(), before, "a's log is untouched");
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&log), 0o640, "the legal log is not world-readable");
    assert_eq!(mode(&dir.path().join("nat.jsonl")), 0o640);
    assert_eq!(mode(&dir.path().join(".nat.log.lock")), 0o640);

    // a stops cleanly; its log is one run, and verifies.
    // SAFETY: kill on our own child's pid.
    unsafe { libc::kill(a.0.id() as i32, libc::SIGTERM) };
    let t = Instant::now();
    while a.0.try_wait().unwrap().is_none() {
        assert!(t.elapsed() < Duration::from_secs(20), "cgnatd a did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.matches("daemon-start").count(), 1, "{text}");
    assert!(text.contains("reason=shutdown"), "{text}");
    common::natlog::assert_verifies(std::slice::from_ref(&log), false);
    // With a stopped, the lock is free: a new daemon may use the log
    // (checked without starting one: the lock is a plain flock).
    let f = std::fs::File::open(dir.path().join(".nat.log.lock")).unwrap();
    // SAFETY: a valid descriptor.
    assert_eq!(
        unsafe { libc::flock(std::os::unix::io::AsRawFd::as_raw_fd(&f), libc::LOCK_EX | libc::LOCK_NB) },
        0
    );
}
