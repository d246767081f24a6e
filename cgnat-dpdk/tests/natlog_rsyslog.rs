//! Issue 10 "How it must be shown" (collector part): the real rsyslog
//! (Debian's package, run in the foreground with its own configuration:
//! imtcp on a loopback port, omfile) is the RFC 5424 / RFC 6587 TCP
//! collector of a real `cgnatd` in live mode while subscribers send through
//! the NAT. rsyslog is stopped mid-stream and started again; records keep
//! being made meanwhile. Every `seq` of the run (from cgnatd's own text
//! log) must arrive in rsyslog's file — duplicates are allowed (at least
//! once; `seq` and `run` let a collector deduplicate).
//!
//! The collected file is kept apart ([`Collector::file`]) so that further
//! checks on it (`cgnatctl lookup`, `cgnatctl log verify` reading rsyslog's
//! own file) can be added where marked below.

mod common;
mod live;

use std::collections::BTreeSet;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use cgnat_core::natlog::{parse_run, text};
use common::{is_root, skip};
use live::Live;

/// A foreground rsyslogd with its own configuration, work directory and
/// pid file; killed when dropped.
struct Collector {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Collector {
    fn new(dir: &Path) -> Collector {
        let dir = dir.to_path_buf();
        std::fs::create_dir_all(dir.join("work")).unwrap();
        // A free loopback port (rsyslog binds it with SO_REUSEADDR).
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let conf = format!(
            "global(workDirectory=\"{d}/work\")\n\
             module(load=\"imtcp\")\n\
             input(type=\"imtcp\" address=\"127.0.0.1\" port=\"{port}\")\n\
             *.* action(type=\"omfile\" file=\"{d}/collected.log\")\n",
            d = dir.display()
        );
        std::fs::write(dir.join("rsyslog.conf"), conf).unwrap();
        Collector { dir, port, child: None }
    }

    fn file(&self) -> PathBuf {
        self.dir.join("collected.log")
    }

    fn start(&mut self) {
        let child = Command::new("rsyslogd")
            .arg("-n")
            .arg("-f")
            .arg(self.dir.join("rsyslog.conf"))
            .arg("-i")
            .arg(self.dir.join("rsyslogd.pid"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join("rsyslogd.err")).unwrap())
            .spawn()
            .expect("start rsyslogd");
        self.child = Some(child);
        let t = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(t.elapsed() < Duration::from_secs(10), "rsyslogd does not listen on {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM (rsyslog writes what it received, then exits).
    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
            let t = Instant::now();
            while c.try_wait().ok().flatten().is_none() {
                if t.elapsed() > Duration::from_secs(15) {
                    let _ = c.kill();
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = c.wait();
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// (run, seq) of every record line rsyslog stored (its traditional file
/// format: `TIMESTAMP HOST TAG MSG`, MSG = cgnatd's text line).
fn collected(p: &Path) -> BTreeSet<(u64, u64)> {
    let s = std::fs::read_to_string(p).unwrap_or_default();
    s.lines()
        .filter_map(|l| {
            let seq = l.split(" seq=").nth(1)?.split(' ').next()?.parse().ok()?;
            let run = parse_run(l.split(" run=").nth(1)?.split_whitespace().next()?)?;
            Some((run, seq))
        })
        .collect()
}

#[test]
fn rsyslog_stopped_and_restarted_mid_stream_gets_every_seq() {
    if !is_root() {
        return skip("natlog_rsyslog", "cgnatd live mode needs root");
    }
    if Command::new("rsyslogd").arg("-v").output().is_err() {
        return skip("natlog_rsyslog", "rsyslog is not installed (scripts/install-deps.sh)");
    }
    let cdir = std::env::temp_dir().join(format!("cgnat-rsyslog-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&cdir);
    let mut rs = Collector::new(&cdir);
    rs.start();
    let tables = format!(
        "[log]\nfile = \"@DIR@/nat.log\"\n\
         [[log.targets]]\nformat = \"text\"\nfile = \"@DIR@/nat.log\"\n\
         [[log.targets]]\nformat = \"syslog\"\ntransport = \"tcp\"\naddress = \"127.0.0.1:{}\"\nhostname = \"cgnat-test\"\n",
        rs.port
    );
    let mut d = Live::start("rsyslog", &tables);
    d.subscribers_send(40, Duration::from_millis(800));
    rs.stop();
    // Records keep coming while the collector is down.
    d.subscribers_send(40, Duration::from_millis(800));
    rs.start();
    d.subscribers_send(40, Duration::from_millis(800));
    let st = d.signal("INT", Duration::from_secs(30)).expect("cgnatd stopped");
    assert!(st.success(), "clean stop: {st}\n{}", d.stderr());
    rs.stop();

    let own = text::parse_str(&std::fs::read_to_string(&d.log).unwrap()).unwrap();
    let run = own[0].run;
    let got = collected(&rs.file());
    let missing: Vec<u64> = own.iter().filter(|r| !got.contains(&(run, r.seq))).map(|r| r.seq).collect();
    let lines = std::fs::read_to_string(rs.file()).unwrap_or_default().lines().count();
    eprintln!(
        "cgnatd wrote {} records; rsyslog stored {lines} lines ({} distinct), {} duplicates",
        own.len(),
        got.len(),
        lines.saturating_sub(got.len())
    );
    assert!(own.len() >= 123, "the run made its records: {}", own.len());
    assert!(
        missing.is_empty(),
        "seqs that never reached rsyslog's file: {missing:?}\n{}",
        d.stderr()
    );
    assert!(
        d.stderr().contains("syslog-tcp"),
        "the target was reported while the collector was down"
    );
    // cgnatctl reads rsyslog's own file: it verifies (duplicates from the
    // re-sent frames allowed), and answers a lookup of every allocation
    // with the subscriber cgnatd's own log names.
    common::natlog::assert_verifies(std::slice::from_ref(&d.log), false);
    common::natlog::assert_verifies(&[rs.file()], true);
    let ctl = common::natlog::cgnatctl();
    let mut checked = 0;
    for r in own
        .iter()
        .filter(|r| r.event == cgnat_core::EventKind::BlockAllocated && r.reason.name() == "new-mapping")
    {
        let at = cgnat_core::Instant::from_micros(r.time.as_micros() + 1).to_string();
        let o = Command::new(&ctl)
            .args([
                "--json",
                "lookup",
                &format!("{}:{}", r.public_addr, r.first_port),
                "--at",
                &at,
                "--no-index",
                "--log",
            ])
            .arg(rs.file())
            .output()
            .expect("run cgnatctl");
        let out = String::from_utf8_lossy(&o.stdout);
        assert_eq!(
            o.status.code(),
            Some(0),
            "lookup from rsyslog's file: {out}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(out.contains(&format!("\"{}\"", r.subscriber)), "{out}");
        checked += 1;
    }
    assert!(checked >= 40, "every subscriber looked up: {checked}");
    drop(d);
    drop(rs);
    let _ = std::fs::remove_dir_all(&cdir);
}
