//! `cgnatctl lookup` and `log verify` on the files real syslog collectors
//! write from cgnatd's RFC 5424 stream (issue 10 item 6).
//!
//! The real rsyslog (Debian's package) and syslog-ng run as non-daemon
//! processes of the test, each with its own configuration, work directory
//! and pid file, listening on a loopback TCP port; they receive RFC 6587
//! octet-counted frames formatted by `cgnat_core::natlog::syslog` (as
//! cgnatd sends them), plus another program's message, and write files with
//! their common templates: rsyslog's TraditionalFileFormat, FileFormat and
//! SyslogProtocol23Format (rotated mid-stream with a HUP, the rotated file
//! gzip-compressed), syslog-ng's default file template and its ISO-date
//! variant. Then every lookup on those files must give the holder of a
//! model of the scenario, and verify must find the log clean.
//!
//! rsyslog and syslog-ng conflict as Debian packages; `scripts/install-deps.sh`
//! installs rsyslog and unpacks syslog-ng-core under
//! `/opt/cgnat-test/syslog-ng` (its libraries as packages). A missing
//! collector skips its test, or fails it when `CGNAT_COLLECTORS_REQUIRE=1`
//! or `CGNAT_DPDK_REQUIRE=1` (CI requires everything).

mod common;

use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cgnat_core::natlog::{syslog, LogRecord};
use common::natlog::{Run, SEC, T0};
use common::run_in;

const RUN_A: u64 = 0x5157_0000_0000_00a1;
const RUN_B: u64 = 0x5157_0000_0000_00b2;
const PUBLIC: &str = "198.51.100.1";
/// Subscribers of run A: `i` holds block `i % 16` from `T0 + i s`;
/// `i < 50` release it 10 s later, the others are open when A crashes.
const A_SUBS: u64 = 60;
/// Run A's last record.
const A_LAST: u64 = T0 + 59 * SEC + 500_000;
/// Run B starts (after A crashed).
const B_START: u64 = T0 + 100 * SEC;

fn ports(block: u64) -> (u16, u16) {
    let first = 1024 + 512 * block as u16;
    (first, first + 511)
}

/// The scenario: run A's records before and after a rotation (with the
/// restatements of the blocks then held), then run B.
fn scenario() -> (Vec<LogRecord>, Vec<LogRecord>) {
    let mut events: Vec<(u64, bool, u64)> = Vec::new();
    for i in 0..A_SUBS {
        events.push((T0 + i * SEC, true, i));
        if i < 50 {
            events.push((T0 + (i + 10) * SEC, false, i));
        }
    }
    events.sort();
    let mut a = Run::start(RUN_A, T0 - SEC);
    let rotate_at = T0 + 30 * SEC + 500_000;
    let mut first = Vec::new();
    let mut open: Vec<(u64, u64)> = Vec::new();
    for (t, alloc, i) in events {
        if t > rotate_at && first.is_empty() {
            first = a.take();
            for &(k, at) in &open {
                a.interim(rotate_at, &format!("100.64.2.{k}"), PUBLIC, ports(k % 16), at);
            }
        }
        let sub = format!("100.64.2.{i}");
        if alloc {
            a.alloc(t, &sub, PUBLIC, ports(i % 16));
            open.push((i, t));
        } else {
            a.release(t, &sub, PUBLIC, ports(i % 16));
            open.retain(|(k, _)| *k != i);
        }
    }
    a.push(
        A_LAST,
        cgnat_core::event::EventKind::AdmissionLimited,
        common::natlog::ip("100.64.0.0"),
        std::net::Ipv4Addr::UNSPECIFIED,
        (0, 0),
        cgnat_core::event::Reason::Limit,
        3,
    );
    let mut second = a.take();
    let mut b = Run::start(RUN_B, B_START);
    for j in 0..5u64 {
        b.alloc(B_START + (1 + j) * SEC, &format!("100.64.3.{j}"), PUBLIC, ports(j));
    }
    for j in 0..5u64 {
        b.release(B_START + (10 + j) * SEC, &format!("100.64.3.{j}"), PUBLIC, ports(j));
    }
    b.stop(B_START + 20 * SEC);
    second.extend(b.take());
    (first, second)
}

/// Who held `block` at `t` in the scenario, and whether for certain.
fn model(block: u64, t: u64) -> Option<(String, bool)> {
    for i in 0..A_SUBS {
        let start = T0 + i * SEC;
        if i % 16 != block || t < start {
            continue;
        }
        if i < 50 && t < start + 10 * SEC {
            return Some((format!("100.64.2.{i}"), true));
        }
        if i >= 50 && t < B_START {
            return Some((format!("100.64.2.{i}"), t <= A_LAST));
        }
    }
    if block < 5 {
        let j = block;
        if t >= B_START + (1 + j) * SEC && t < B_START + (10 + j) * SEC {
            return Some((format!("100.64.3.{j}"), true));
        }
    }
    None
}

/// Times asked: inside and between holdings, in the crash window, after it.
const TIMES: [u64; 8] = [5, 12, 27, 45, 58, 80, 100, 104];

/// Every lookup on `files` agrees with the model; verify finds them clean.
fn check_files(dir: &Path, what: &str, files: &[PathBuf]) {
    let mut logs: Vec<String> = Vec::new();
    for f in files {
        logs.push("--log".into());
        logs.push(f.display().to_string());
    }
    let mut asked = 0;
    for block in [0u64, 3, 7, 13] {
        for s in TIMES {
            let t = T0 + s * SEC + 500_000;
            let when = format!("@{}.5", t / SEC);
            let target = format!("{PUBLIC}:{}", ports(block).0 + 100);
            let mut args = vec!["--json", "lookup", target.as_str(), "--at", when.as_str()];
            args.extend(logs.iter().map(String::as_str));
            let r = run_in(dir, &args);
            let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{what}: {e}: {r:?}"));
            match model(block, t) {
                Some((sub, certain)) => {
                    assert_eq!(r.code, Some(0), "{what} block {block} at +{s}s: {r:?}");
                    assert_eq!(v["holders"][0]["subscriber"], sub.as_str(), "{what} block {block} at +{s}s");
                    assert_eq!(v["certain"], certain, "{what} block {block} at +{s}s: {v}");
                }
                None => assert_eq!(r.code, Some(1), "{what} block {block} at +{s}s: {r:?}"),
            }
            asked += 1;
        }
    }
    assert_eq!(asked, 32);
    let rep = cgnat_cli::verify::verify_files(files, &Default::default()).unwrap();
    assert!(rep.is_clean(), "{what}: {rep}");
    let ends: Vec<&str> = rep.runs.iter().map(|r| r.ended).collect();
    assert_eq!(ends, ["crash", "clean-stop"], "{what}: {rep}");
    assert_eq!(rep.records, {
        let (a, b) = scenario();
        (a.len() + b.len()) as u64
    });
}

fn required() -> bool {
    ["CGNAT_COLLECTORS_REQUIRE", "CGNAT_DPDK_REQUIRE"]
        .iter()
        .any(|k| std::env::var(k).as_deref() == Ok("1"))
}

fn skip(test: &str, why: &str) {
    if required() {
        panic!("{test}: cannot run ({why}) and CGNAT_COLLECTORS_REQUIRE/CGNAT_DPDK_REQUIRE=1");
    }
    eprintln!("SKIPPED {test}: {why}");
}

/// A collector process of the test: killed (and reaped) when dropped.
struct Collector {
    child: Child,
    name: &'static str,
}

impl Collector {
    fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Sends `signal` to this process (by its id; it is our child, not
    /// yet reaped).
    fn signal(&self, signal: &str) {
        let _ = Command::new("kill").args(["-s", signal, &self.child.id().to_string()]).status();
    }

    /// Stops it (SIGTERM, then SIGKILL after 5 s) so that its files are complete.
    fn stop(&mut self) {
        self.signal("TERM");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if !self.alive() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Makes it reopen its files (rotation).
    fn hup(&mut self) {
        self.signal("HUP");
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if self.alive() {
            eprintln!("stopping {}", self.name);
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Waits (bounded) until `f` holds.
fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn lines_in(p: &Path) -> usize {
    std::fs::read_to_string(p).map(|s| s.lines().count()).unwrap_or(0)
}

/// Sends `records` as cgnatd does over TCP (RFC 6587 octet counting), and
/// one message of another program.
fn send(port: u16, records: &[LogRecord]) {
    let h = syslog::SyslogHeader {
        hostname: "cgnat1".into(),
        ..syslog::SyslogHeader::default()
    };
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the collector");
    s.set_write_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut buf = String::new();
    for r in records {
        buf.push_str(&syslog::octet_counted(&syslog::format(&h, r)));
    }
    buf.push_str(&syslog::octet_counted(
        "<38>1 2023-11-14T22:13:30.000000Z cgnat1 sshd 42 - - Accepted publickey for ops",
    ));
    s.write_all(buf.as_bytes()).unwrap();
    s.flush().unwrap();
}

fn gzip(p: &Path) -> PathBuf {
    let data = std::fs::read(p).unwrap();
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(&data).unwrap();
    let gz = PathBuf::from(format!("{}.gz", p.display()));
    std::fs::write(&gz, e.finish().unwrap()).unwrap();
    std::fs::remove_file(p).unwrap();
    gz
}

fn find_program(env: &str, candidates: &[&str]) -> Option<PathBuf> {
    if let Some(p) = std::env::var_os(env) {
        return Some(PathBuf::from(p));
    }
    candidates.iter().map(PathBuf::from).find(|p| p.is_file())
}

const RSYSLOG_TEMPLATES: [(&str, &str); 3] = [
    ("traditional", "RSYSLOG_TraditionalFileFormat"),
    ("fileformat", "RSYSLOG_FileFormat"),
    ("protocol23", "RSYSLOG_SyslogProtocol23Format"),
];

#[test]
fn rsyslog_files_answer_lookups_and_verify_clean() {
    let Some(rsyslogd) = find_program("CGNAT_RSYSLOGD", &["/usr/sbin/rsyslogd", "/sbin/rsyslogd"]) else {
        return skip("rsyslog", "rsyslogd not installed (apt-get install rsyslog)");
    };
    let d = tempfile::tempdir().unwrap();
    let work = d.path().join("work");
    std::fs::create_dir(&work).unwrap();
    let out = |name: &str| d.path().join(format!("{name}.log"));
    let mut conf = format!(
        "global(workDirectory=\"{}\")\nmodule(load=\"imtcp\")\ninput(type=\"imtcp\" address=\"127.0.0.1\" port=\"0\" listenPortFileName=\"{}\" ruleset=\"nat\")\nruleset(name=\"nat\") {{\n",
        work.display(),
        d.path().join("port").display()
    );
    for (name, template) in RSYSLOG_TEMPLATES {
        conf.push_str(&format!(
            "  action(type=\"omfile\" file=\"{}\" template=\"{template}\")\n",
            out(name).display()
        ));
    }
    conf.push_str("}\n");
    let conf_path = d.path().join("rsyslog.conf");
    std::fs::write(&conf_path, conf).unwrap();
    let child = Command::new(&rsyslogd)
        .args(["-n", "-f"])
        .arg(&conf_path)
        .arg("-i")
        .arg(d.path().join("rsyslogd.pid"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start rsyslogd");
    let mut c = Collector { child, name: "rsyslogd" };
    let port_file = d.path().join("port");
    wait_for("rsyslog's port", Duration::from_secs(10), || {
        std::fs::read_to_string(&port_file).is_ok_and(|s| s.trim().parse::<u16>().is_ok_and(|p| p > 0))
    });
    assert!(c.alive(), "rsyslogd exited");
    let port: u16 = std::fs::read_to_string(&port_file).unwrap().trim().parse().unwrap();
    let (first, second) = scenario();
    send(port, &first);
    // Every record (and the other program's message) is in every file,
    // then the files are rotated as logrotate does: rename, HUP.
    for (name, _) in RSYSLOG_TEMPLATES {
        wait_for(name, Duration::from_secs(10), || lines_in(&out(name)) == first.len() + 1);
        std::fs::rename(out(name), d.path().join(format!("{name}.log.1"))).unwrap();
    }
    c.hup();
    std::thread::sleep(Duration::from_millis(200));
    send(port, &second);
    for (name, _) in RSYSLOG_TEMPLATES {
        wait_for(name, Duration::from_secs(10), || lines_in(&out(name)) == second.len() + 1);
    }
    c.stop();
    let sample = std::fs::read_to_string(out("traditional")).unwrap();
    assert!(sample.starts_with("Nov 14 22:1"), "the traditional template: {sample:.200}");
    for (name, _) in RSYSLOG_TEMPLATES {
        let rotated = gzip(&d.path().join(format!("{name}.log.1")));
        check_files(d.path(), &format!("rsyslog {name}"), &[out(name), rotated]);
    }
    // All three templates mixed in one directory are still one log each
    // way: a lookup over the FileFormat and Protocol23 files together.
    let mixed = [out("fileformat"), d.path().join("protocol23.log.1.gz")];
    let rep = cgnat_cli::verify::verify_files(&mixed, &Default::default()).unwrap();
    assert!(rep.is_clean(), "rotated protocol23 then current fileformat: {rep}");
}

/// syslog-ng from the package, or unpacked by install-deps.sh.
fn syslog_ng() -> Option<(PathBuf, Option<PathBuf>)> {
    if let Some(p) = find_program("CGNAT_SYSLOG_NG", &["/usr/sbin/syslog-ng"]) {
        return Some((p, None));
    }
    let root = PathBuf::from("/opt/cgnat-test/syslog-ng");
    let bin = root.join("usr/sbin/syslog-ng");
    bin.is_file().then_some((bin, Some(root)))
}

#[test]
fn syslog_ng_files_answer_lookups_and_verify_clean() {
    let Some((bin, root)) = syslog_ng() else {
        return skip("syslog-ng", "syslog-ng not installed (scripts/install-deps.sh unpacks it)");
    };
    let d = tempfile::tempdir().unwrap();
    let out = |name: &str| d.path().join(format!("{name}.log"));
    let (first, second) = scenario();
    let all: Vec<LogRecord> = first.iter().chain(&second).copied().collect();
    // A free loopback port: syslog-ng cannot report one it chose; retried
    // if another process takes it first.
    for attempt in 0..3 {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let conf = format!(
            "@version: 3.38\noptions {{ keep-hostname(yes); }};\n\
             source s_nat {{ syslog(ip(\"127.0.0.1\") port({port}) transport(\"tcp\")); }};\n\
             destination d_default {{ file(\"{}\"); }};\n\
             destination d_iso {{ file(\"{}\" ts-format(iso)); }};\n\
             log {{ source(s_nat); destination(d_default); destination(d_iso); }};\n",
            out("default").display(),
            out("iso").display()
        );
        let conf_path = d.path().join("syslog-ng.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let mut cmd = Command::new(&bin);
        cmd.arg("-F")
            .arg("-f")
            .arg(&conf_path)
            .arg("-p")
            .arg(d.path().join("syslog-ng.pid"))
            .arg("-R")
            .arg(d.path().join("syslog-ng.persist"))
            .arg("-c")
            .arg(d.path().join("syslog-ng.ctl"))
            .arg("--no-caps")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        if let Some(root) = &root {
            let modules = std::fs::read_dir(root.join("usr/lib/syslog-ng"))
                .unwrap()
                .filter_map(|e| e.ok().map(|e| e.path()))
                .find(|p| p.is_dir() && p.join("libaffile.so").is_file())
                .expect("syslog-ng's module directory");
            cmd.arg(format!("--module-path={}", modules.display()))
                .env("LD_LIBRARY_PATH", root.join("usr/lib/syslog-ng"));
        }
        let mut c = Collector {
            child: cmd.spawn().expect("start syslog-ng"),
            name: "syslog-ng",
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while c.alive() && Instant::now() < deadline && TcpStream::connect(("127.0.0.1", port)).is_err() {
            std::thread::sleep(Duration::from_millis(20));
        }
        if !c.alive() && attempt < 2 {
            continue;
        }
        assert!(c.alive(), "syslog-ng exited");
        send(port, &all);
        for name in ["default", "iso"] {
            wait_for(name, Duration::from_secs(10), || lines_in(&out(name)) == all.len() + 1);
        }
        c.stop();
        let sample = std::fs::read_to_string(out("default")).unwrap();
        assert!(
            sample.contains(" cgnat1 cgnatd: 2023-11-14T"),
            "syslog-ng's default template: {sample:.200}"
        );
        for name in ["default", "iso"] {
            check_files(d.path(), &format!("syslog-ng {name}"), &[out(name)]);
        }
        return;
    }
}
