//! `cgnatctl` against the running daemon: the real `cgnatd` (built by
//! `cargo build -p cgnat-dpdk`, found at `target/debug/cgnatd` or `$CGNATD`)
//! on two `net_null` ports without hugepages, with its control socket and
//! NAT log in a temporary directory. Skipped, with a message saying why,
//! when the binary is missing or cannot run (not root, no DPDK).
//! The connection-error tests need no daemon and always run.

mod common;

use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{run_in, snapshot};

#[test]
fn daemon_not_running_names_the_socket() {
    let d = tempfile::tempdir().unwrap();
    let sock = d.path().join("cgnatd.sock");
    for args in [
        &["status"][..],
        &["lookup", "203.0.113.3:1536"],
        &["subscriber", "100.64.1.10"],
        &["sessions"],
        &["stats"],
        &["events", "-f"],
    ] {
        let mut a = vec!["--socket", sock.to_str().unwrap()];
        a.extend_from_slice(args);
        let r = run_in(d.path(), &a);
        assert_eq!(r.code, Some(2), "{args:?}: {r:?}");
        assert!(
            r.stderr.contains("cgnatd is not running: no control socket at") && r.stderr.contains(sock.to_str().unwrap()),
            "{}",
            r.stderr
        );
        assert!(r.stderr.contains("--socket PATH"), "{}", r.stderr);
    }
    let r = run_in(d.path(), &["--json", "--socket", sock.to_str().unwrap(), "status"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["exit_code"], 2);
    assert!(v["hint"].as_str().unwrap().contains("--socket"));
    // A usage error is reported as such even without a daemon.
    let r = run_in(d.path(), &["--socket", sock.to_str().unwrap(), "clear", "--all"]);
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("--yes"), "{}", r.stderr);
}

#[test]
fn stale_socket_and_non_socket_are_explained() {
    let d = tempfile::tempdir().unwrap();
    let stale = d.path().join("stale.sock");
    drop(UnixListener::bind(&stale).unwrap());
    let r = run_in(d.path(), &["--socket", stale.to_str().unwrap(), "status"]);
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("nothing is listening"), "{}", r.stderr);
    let file = d.path().join("file.sock");
    std::fs::write(&file, b"").unwrap();
    let r = run_in(d.path(), &["--socket", file.to_str().unwrap(), "status"]);
    assert_eq!(r.code, Some(2));
    assert!(r.stderr.contains("not a socket"), "{}", r.stderr);
}

#[test]
fn permission_denied_is_explained() {
    // Needs root (to create a socket another user cannot open) and setpriv.
    if !is_root() || Command::new("setpriv").arg("--help").output().is_err() {
        eprintln!("skipped: needs root and setpriv (util-linux)");
        return;
    }
    let d = tempfile::tempdir().unwrap();
    let sock = d.path().join("cgnatd.sock");
    let _l = UnixListener::bind(&sock).unwrap();
    std::fs::set_permissions(d.path(), std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&sock, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let exe = env!("CARGO_BIN_EXE_cgnatctl");
    let out = Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            exe,
            "--socket",
            sock.to_str().unwrap(),
            "status",
        ])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("setpriv:") || !Path::new(exe).metadata().is_ok_and(|_| true) {
        eprintln!("skipped: setpriv could not run cgnatctl as nobody: {err}");
        return;
    }
    if out.status.code() == Some(126) || err.contains("Permission denied (os error 13)") && !err.contains("control socket") {
        eprintln!("skipped: nobody cannot execute {exe}: {err}");
        return;
    }
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("permission denied on the control socket"), "{err}");
    assert!(err.contains("owned by uid 0 with mode 600"), "{err}");
}

/// Kills a follower left running by a failed assertion.
struct FollowGuard(Option<Child>);

impl Drop for FollowGuard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Replaces RFC 3339 times (they vary from run to run) by `<time>`.
fn times(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        let t = &s[i..];
        let looks = t.len() >= 20 && t.as_bytes()[4] == b'-' && t.as_bytes()[10] == b'T' && t[..4].bytes().all(|c| c.is_ascii_digit());
        if looks {
            let end = t.find('Z').map(|e| e + 1).unwrap_or(20);
            out.push_str("<time>");
            i += end;
        } else {
            let c = t.chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn cgnatd_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CGNATD") {
        return Some(PathBuf::from(p));
    }
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/debug/cgnatd");
    p.exists().then_some(p)
}

/// The daemon, stopped with SIGTERM when dropped.
struct Daemon {
    child: Child,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_daemon(dir: &Path) -> Result<Daemon, String> {
    let exe = cgnatd_path().ok_or("no target/debug/cgnatd (cargo build -p cgnat-dpdk) and no $CGNATD")?;
    if !is_root() {
        return Err("cgnatd needs root".into());
    }
    let sock = dir.join("cgnatd.sock");
    let out = std::fs::File::create(dir.join("cgnatd.out")).map_err(|e| e.to_string())?;
    // The lab configuration, asked for explicitly (issue 15: cgnatd
    // without --config reads /etc/cgnat/cgnatd.toml).
    let child = Command::new(&exe)
        .arg("--lab")
        .env("CGNAT_CONTROL__READONLY_SOCKET", dir.join("ro.sock"))
        .env("CGNAT_DATAPLANE__INSIDE__DEVICE", "net_null0,no-rx=1")
        .env("CGNAT_DATAPLANE__OUTSIDE__DEVICE", "net_null1,no-rx=1")
        .env("CGNAT_DATAPLANE__WORKERS", "1")
        .env("CGNAT_CONTROL__SOCKET", &sock)
        .env("CGNAT_METRICS__ENABLED", "false")
        .env("CGNAT_LOG__FILE", dir.join("nat.log"))
        .stdin(Stdio::null())
        .stdout(out.try_clone().map_err(|e| e.to_string())?)
        .stderr(out)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", exe.display()))?;
    let mut d = Daemon { child };
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if sock.exists() {
            return Ok(d);
        }
        if let Ok(Some(st)) = d.child.try_wait() {
            let log = std::fs::read_to_string(dir.join("cgnatd.out")).unwrap_or_default();
            return Err(format!("cgnatd exited ({st}) before opening its socket:\n{log}"));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err("cgnatd did not open its control socket within 60 s".into())
}

#[test]
fn live_daemon_workflows() {
    let dir = tempfile::tempdir().unwrap();
    let daemon = match start_daemon(dir.path()) {
        Ok(d) => d,
        Err(why) => {
            assert!(
                std::env::var_os("CGNAT_DPDK_REQUIRE").is_none() || !is_root() || cgnatd_path().is_none(),
                "live cgnatd tests could not start cgnatd: {why}"
            );
            eprintln!("skipped: live cgnatd tests: {why}");
            return;
        }
    };
    let sock = dir.path().join("cgnatd.sock");
    let s = sock.to_str().unwrap();
    let ctl = |args: &[&str]| {
        let mut a = vec!["--socket", s];
        a.extend_from_slice(args);
        run_in(dir.path(), &a)
    };
    let st = ctl(&["--json", "status"]);
    assert_eq!(st.code, Some(0), "{st:?}");
    let v: serde_json::Value = serde_json::from_str(&st.stdout).unwrap();
    assert_eq!(v["run_mode"], "live");
    assert_eq!(v["config_source"], "embedded lab configuration (--lab)");
    // The lab configuration's static mapping: held now, live, since the
    // run's start (issue 15: it showed 1970-01-01).
    let r = ctl(&["lookup", "203.0.113.14:8080"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains("held by 100.64.1.20 (static, live)"), "{}", r.stdout);
    assert!(!r.stdout.contains("1970"), "{}", r.stdout);
    let r = ctl(&["--json", "lookup", "203.0.113.14:8080"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["holders"][0]["subscriber"], "100.64.1.20");
    assert_eq!((v["source"].as_str(), v["outcome"].as_str()), (Some("live"), Some("held")));
    let year: u32 = v["holders"][0]["allocated"].as_str().unwrap()[..4].parse().unwrap();
    assert!(year >= 2024, "{v}");
    // A non-pool address says so (issue 15).
    let r = ctl(&["lookup", "8.8.8.8:53"]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stdout.contains("8.8.8.8 is not a public address of this NAT"), "{}", r.stdout);
    // A pool port nobody holds.
    assert_eq!(ctl(&["lookup", "203.0.113.3:1536"]).code, Some(1));
    // The same port from the daemon's own NAT log, once flushed (every
    // `log.flush_interval_ms`: the control socket may answer sooner).
    let log = dir.path().join("nat.log");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::fs::metadata(&log).map_or(true, |m| m.len() == 0) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let r = run_in(
        dir.path(),
        &[
            "lookup",
            "--log",
            log.to_str().unwrap(),
            "203.0.113.14:8080",
            "--at",
            "now",
            "--proto",
            "tcp",
        ],
    );
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains("held by 100.64.1.20"), "{}", r.stdout);
    // subscriber: known (static mapping) and unknown.
    let r = ctl(&["subscriber", "100.64.1.20"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    snapshot("live_subscriber.txt", &times(&r.stdout));
    let r = ctl(&["--json", "subscriber", "100.64.1.20"]);
    snapshot("live_subscriber.json", &times(&r.stdout));
    // subscribers: the static one is listed.
    let r = ctl(&["subscribers", "--sort", "ports"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains("100.64.1.20") && r.stdout.contains("static"), "{}", r.stdout);
    // top: one frame (not a terminal), with the NIC counters.
    let r = ctl(&["top", "--interval", "0.3"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains("WORKER") && r.stdout.contains("inside"), "{}", r.stdout);
    let r = ctl(&["--json", "stats"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["ports"][0]["device"], "net_null0", "{v}");
    // The legal log is 0640, the control socket 0600, the read-only one 0660.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir.path().join("nat.log")), 0o640);
    assert_eq!(mode(&dir.path().join("nat.jsonl")), 0o640);
    assert_eq!(mode(&sock), 0o600);
    let ro = dir.path().join("ro.sock");
    assert_eq!(mode(&ro), 0o660);
    // The read-only socket answers queries and refuses state changes.
    let ro_ctl = |args: &[&str]| {
        let mut a = vec!["--socket", ro.to_str().unwrap()];
        a.extend_from_slice(args);
        run_in(dir.path(), &a)
    };
    assert_eq!(ro_ctl(&["status"]).code, Some(0));
    assert_eq!(ro_ctl(&["lookup", "203.0.113.14:8080"]).code, Some(0));
    for args in [&["clear", "--subscriber", "100.64.1.20"][..], &["reload"]] {
        let r = ro_ctl(args);
        assert_eq!(r.code, Some(2), "{args:?}: {r:?}");
        assert!(
            r.stderr.contains("read-only control socket") && r.stderr.contains("(forbidden)"),
            "{}",
            r.stderr
        );
    }
    // reload: from a file; status then names it (issue 15: it kept saying
    // "embedded").
    let cfg = dir.path().join("reload.toml");
    std::fs::copy(Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/lab.toml"), &cfg).unwrap();
    let r = ctl(&["reload", cfg.to_str().unwrap()]);
    assert_eq!(r.code, Some(0), "{r:?}");
    let v: serde_json::Value = serde_json::from_str(&ctl(&["--json", "status"]).stdout).unwrap();
    assert_eq!(v["config_source"], cfg.to_str().unwrap());
    // A reload that needs a restart is refused, naming the key (exit 1).
    std::fs::write(
        &cfg,
        std::fs::read_to_string(&cfg)
            .unwrap()
            .replace("block_size = ", "block_size = 1024 #"),
    )
    .unwrap();
    let r = ctl(&["reload", cfg.to_str().unwrap()]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stderr.contains("nat.block_size"), "{}", r.stderr);
    let r = ctl(&["subscriber", "100.64.9.9"]);
    assert_eq!(r.code, Some(1), "{r:?}");
    // sessions: none match (exit 1), filters accepted.
    let r = ctl(&[
        "sessions",
        "--subscriber",
        "100.64.1.10",
        "--proto",
        "tcp",
        "--public",
        "203.0.113.3",
        "--destination",
        "198.51.100.1:80",
        "--limit",
        "5",
    ]);
    assert_eq!(r.code, Some(1), "{r:?}");
    assert!(r.stdout.contains("0 sessions"), "{}", r.stdout);
    // stats and the table fill (conntrack -S / -C).
    let r = ctl(&["stats"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(r.stdout.contains("sessions") && r.stdout.contains("65536"), "{}", r.stdout);
    let r = ctl(&["--json", "stats", "-C"]);
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(v.as_array().unwrap().iter().any(|t| t["name"] == "sessions"), "{v}");
    // events: the start-up record of the static mapping.
    let r = ctl(&["events", "--last", "10"]);
    assert_eq!(r.code, Some(0), "{r:?}");
    assert!(
        r.stdout
            .contains("block-alloc subscriber=100.64.1.20 public=203.0.113.14 ports=8080-8080"),
        "{}",
        r.stdout
    );
    // events --follow stays connected until the daemon stops (below).
    let follow = Command::new(env!("CARGO_BIN_EXE_cgnatctl"))
        .args(["--socket", s, "--json", "events", "--follow", "--last", "100"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut follow = FollowGuard(Some(follow));
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        follow.0.as_mut().unwrap().try_wait().unwrap().is_none(),
        "events --follow ended early"
    );
    // clear: targeted, and --all only with --yes.
    let r = ctl(&["clear", "--subscriber", "100.64.1.10"]);
    assert_eq!(r.code, Some(1), "nothing to clear: {r:?}");
    assert_eq!(ctl(&["clear", "--all"]).code, Some(2));
    let r = ctl(&["--json", "clear", "--public", "203.0.113.3:1536"]);
    assert!(matches!(r.code, Some(0 | 1)), "{r:?}");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert!(v["sessions"].is_u64(), "{v}");
    drop(daemon);
    assert!(!sock.exists(), "cgnatd removes its socket at shutdown");
    // The follower got every record to the last, daemon-stop, then the end
    // of the stream (exit 0). Issue 15: it missed the last record and
    // exited 0 anyway.
    let out = follow.0.take().unwrap().wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    let records: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(
        records.first().unwrap()["event"],
        "daemon-start",
        "--last 100 starts at the run's start"
    );
    assert_eq!(records.last().unwrap()["event"], "daemon-stop", "{text}");
    let log_lines = std::fs::read_to_string(&log)
        .unwrap()
        .lines()
        .filter(|l| !l.contains("block-interim"))
        .count();
    assert_eq!(records.len(), log_lines, "the follower saw every record of the log");
    // The static mapping's release record came before daemon-stop.
    assert!(
        text.contains("\"event\":\"block-release\",\"subscriber\":\"100.64.1.20\",\"public\":\"203.0.113.14\",\"first_port\":8080"),
        "{text}"
    );
    // The run's log passes `cgnatctl log verify` (the daemon stopped cleanly).
    let r = run_in(dir.path(), &["log", "verify", log.to_str().unwrap()]);
    assert_eq!(r.code, Some(0), "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("clean-stop"), "{}", r.stdout);
}

/// Issue 15: "`events --follow` ... exited 0" when the stream ended
/// abnormally. A daemon killed with SIGKILL ends the stream without its
/// end line: the follower exits 2 and says the stream broke.
#[test]
fn follow_fails_loudly_when_the_stream_breaks() {
    let dir = tempfile::tempdir().unwrap();
    let mut daemon = match start_daemon(dir.path()) {
        Ok(d) => d,
        Err(why) => {
            assert!(
                std::env::var_os("CGNAT_DPDK_REQUIRE").is_none() || !is_root() || cgnatd_path().is_none(),
                "live cgnatd tests could not start cgnatd: {why}"
            );
            eprintln!("skipped: {why}");
            return;
        }
    };
    let sock = dir.path().join("cgnatd.sock");
    let follow = Command::new(env!("CARGO_BIN_EXE_cgnatctl"))
        .args(["--socket", sock.to_str().unwrap(), "events", "--follow"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut follow = FollowGuard(Some(follow));
    std::thread::sleep(Duration::from_millis(800));
    daemon.child.kill().unwrap();
    let _ = daemon.child.wait();
    let out = follow.0.take().unwrap().wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("the event stream from cgnatd broke"), "{err}");
    // The dead daemon's DPDK files go with the test.
    let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/cgnatd-{}", daemon.child.id()));
}
