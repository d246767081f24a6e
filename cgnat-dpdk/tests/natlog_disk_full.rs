//! Issue 10 "How it must be shown": a full disk (a small tmpfs) during
//! rotation. The real management-core log pipeline writes a rolling text
//! log (rotated every 8 KiB, gzipped in the background) on a 1 MiB tmpfs
//! while a cgnat-core worker allocates blocks; the test fills the tmpfs
//! just before a rotation is due.
//!
//! - The failed writes and rotation are reported (error counter, last
//!   error naming ENOSPC) and the log fails closed: it stalls, new blocks
//!   are refused (`log_stalled`), existing flows keep translating.
//! - When space returns, writing resumes by itself.
//! - Across the active and rotated files (gzipped or not) every record
//!   numbered is there exactly once — nothing lost, nothing duplicated —
//!   and each rotated-to file begins by restating the blocks still held
//!   (`block-interim`).

mod common;

use std::io::{Read, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant as WallInstant};

use cgnat_core::config::{LogConfig, LogTarget, NatConfig};
use cgnat_core::event::Event;
use cgnat_core::natlog::{text, LogRecord};
use cgnat_core::ring::ring;
use cgnat_core::{DropReason, EventKind, Instant, Nat, Side, Verdict, Worker};
use cgnat_dpdk::daemon::management::LogPipeline;

const T0: u64 = 1_700_000_000_000_000;

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0")))
        .unwrap_or(false)
}

/// A tmpfs mounted for the test; unmounted (and its directory removed)
/// however the test ends.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let d = std::env::temp_dir().join(format!("cgnat-full-{}", std::process::id()));
        std::fs::create_dir_all(&d).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&d)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            let _ = std::fs::remove_dir(&d);
            return None;
        }
        Some(Tmpfs(d))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazily if a writer thread of a failed test still holds a file.
        let ok = Command::new("umount").arg(&self.0).status().is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn udp(src: Ipv4Addr, sport: u16) -> Vec<u8> {
    let mut v = Vec::new();
    etherparse::PacketBuilder::ipv4(src.octets(), [198, 51, 100, 1], 64)
        .udp(sport, 53)
        .write(&mut v, b"x")
        .unwrap();
    v
}

/// Fills the file system of `dir` with `filler` until it is full.
fn fill(filler: &Path) {
    let mut f = std::fs::File::create(filler).unwrap();
    let chunk = vec![0xAAu8; 4096];
    while f.write_all(&chunk).is_ok() {}
    let _ = f.sync_all();
}

/// Every record in `dir`'s log files: (regular records, interim records per file).
fn read_all(dir: &Path) -> (Vec<LogRecord>, Vec<(String, Vec<LogRecord>)>) {
    let mut regular = Vec::new();
    let mut files = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if !name.starts_with("nat.log") || name.ends_with(".tmp") {
            continue;
        }
        let mut s = String::new();
        if name.ends_with(".gz") {
            flate2::read::GzDecoder::new(std::fs::File::open(&p).unwrap())
                .read_to_string(&mut s)
                .unwrap();
        } else {
            s = std::fs::read_to_string(&p).unwrap();
        }
        let recs = text::parse_str(&s).unwrap_or_else(|e| panic!("{name}: {e}"));
        regular.extend(recs.iter().filter(|r| r.event != EventKind::BlockInterim).copied());
        files.push((name, recs));
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    (regular, files)
}

/// A worker and the log pipeline, driven one new subscriber at a time.
struct Driver<S: cgnat_core::event::EventSink> {
    w: Worker<S>,
    log: LogPipeline,
    extra: Vec<Event>,
    i: u32,
    t: u64,
    flows: Vec<(Ipv4Addr, Vec<u8>)>,
}

impl<S: cgnat_core::event::EventSink> Driver<S> {
    /// One packet of a new subscriber, then a pump.
    fn send(&mut self) -> Verdict {
        let sub = Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 64, 0, 0)) + self.i);
        self.i += 1;
        self.t += 1000;
        let mut p = udp(sub, 4000);
        let v = self.w.process(Side::Inside, &mut p, Instant::from_micros(self.t));
        if v == Verdict::Forward(Side::Outside) {
            self.flows.push((sub, udp(sub, 4000)));
        }
        self.log.pump(&mut self.extra, self.t);
        std::thread::sleep(Duration::from_micros(200));
        v
    }
}

#[test]
fn a_full_disk_during_rotation_loses_and_duplicates_nothing_and_fails_closed() {
    if !is_root() {
        assert!(
            std::env::var("CGNAT_DPDK_REQUIRE").as_deref() != Ok("1"),
            "needs root to mount a tmpfs"
        );
        eprintln!("SKIPPED natlog_disk_full: mounting a tmpfs needs root");
        return;
    }
    let Some(fs) = Tmpfs::mount("1m") else {
        panic!("cannot mount a tmpfs");
    };
    let dir = fs.0.clone();
    let nat_cfg: NatConfig = toml::from_str(
        "pool = [\"203.0.113.0/24\"]\nblock_size = 64\nseed = 5\nmax_subscribers = 65536\nmax_sessions = 65536\nmax_mappings = 65536\n\
         [admission]\nsubscriber_rate = 0\nsubscriber_rate_per_aggregate = 0\n",
    )
    .unwrap();
    let nat = Arc::new(Nat::new(nat_cfg, 1).unwrap());
    let (producer, consumer) = ring::<Event>(256);
    let w = Worker::new(nat.clone(), 0, producer);
    let log_cfg = LogConfig {
        file: dir.join("unused.log"),
        ring_capacity: 256,
        sink_buffer: 64,
        targets: vec![LogTarget {
            rotate_bytes: 8192,
            compress: true,
            ..LogTarget::text_file(dir.join("nat.log"))
        }],
        ..LogConfig::default()
    };
    log_cfg.validate().unwrap();
    let log = LogPipeline::open(&log_cfg, vec![consumer], Vec::new()).unwrap();
    let counters = log.sinks()[0].counters().clone();
    let mut d = Driver {
        w,
        log,
        extra: Vec::new(),
        i: 0,
        t: T0,
        flows: Vec::new(),
    };
    let mut refused = 0u64;
    // Records flow until the active file is one record short of rotating.
    let active = dir.join("nat.log");
    let deadline = WallInstant::now() + Duration::from_secs(30);
    while std::fs::metadata(&active).map(|m| m.len()).unwrap_or(0) < 8192 - 400 {
        assert!(WallInstant::now() < deadline, "the log did not grow");
        assert_eq!(d.send(), Verdict::Forward(Side::Outside));
    }
    // The disk fills up; the rotation that follows fails.
    let filler = dir.join("filler");
    fill(&filler);
    let stalled_at = WallInstant::now();
    loop {
        assert!(stalled_at.elapsed() < Duration::from_secs(30), "the log never stalled");
        if d.send() == Verdict::Drop(DropReason::LogStalled) {
            refused += 1;
        }
        if refused >= 10 {
            break;
        }
    }
    assert!(d.log.shared().stalled.load(Ordering::Relaxed), "the log reports the stall");
    assert!(counters.errors.load(Ordering::Relaxed) > 0, "the failures are counted");
    let err = counters.last_error().unwrap_or_default();
    assert!(err.contains("No space left") || err.contains("os error 28"), "last error: {err}");
    eprintln!("stalled: {refused} new blocks refused; last error: {err}");
    // Existing flows keep translating while stalled.
    for (_, p) in d.flows.iter().take(20) {
        let mut p = p.clone();
        d.t += 10;
        assert_eq!(
            d.w.process(Side::Inside, &mut p, Instant::from_micros(d.t)),
            Verdict::Forward(Side::Outside)
        );
    }
    // Space returns: writing resumes by itself.
    std::fs::remove_file(&filler).unwrap();
    let resumed = WallInstant::now();
    loop {
        d.log.pump(&mut d.extra, u64::MAX);
        if d.log.merger().pending() == 0 && counters.pending.load(Ordering::Relaxed) == 0 {
            break;
        }
        if resumed.elapsed() > Duration::from_secs(30) {
            let ls = Command::new("ls").arg("-la").arg(&dir).output().unwrap();
            let df = Command::new("df").arg(&dir).output().unwrap();
            panic!(
                "writing did not resume: {}\n{}{}",
                counters.last_error().unwrap_or_default(),
                String::from_utf8_lossy(&ls.stdout),
                String::from_utf8_lossy(&df.stdout)
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // New blocks are allocated again, and more rotations happen.
    for _ in 0..60 {
        assert_eq!(d.send(), Verdict::Forward(Side::Outside));
    }
    assert_eq!(d.log.drain_all(&mut d.extra), 0);
    let numbered = d.log.written();
    assert!(d.log.close().is_empty(), "every record was made durable");
    common::natlog::assert_verifies(&common::natlog::log_files(&dir.join("nat.log")), false);
    let (mut regular, files) = read_all(&dir);
    regular.sort_by_key(|r| r.seq);
    let seqs: Vec<u64> = regular.iter().map(|r| r.seq).collect();
    assert_eq!(
        seqs,
        (0..numbered).collect::<Vec<_>>(),
        "every record exactly once across {} files",
        files.len()
    );
    assert!(
        files.len() >= 3,
        "rotations happened: {:?}",
        files.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    // Each file after the first begins with the blocks still held.
    for (name, recs) in files.iter().filter(|(n, _)| n != "nat.log") {
        let interim = recs.iter().take_while(|r| r.event == EventKind::BlockInterim).count();
        let first = recs.iter().map(|r| r.seq).min().unwrap();
        if first > 0 {
            assert!(interim > 0, "{name} does not restate the blocks held");
        }
    }
    let (name, recs) = files.iter().find(|(n, _)| n == "nat.log").unwrap();
    assert!(
        recs.first().is_some_and(|r| r.event == EventKind::BlockInterim),
        "{name} starts with interim records"
    );
    assert_eq!(
        d.flows.len() as u64,
        regular.iter().filter(|r| r.event == EventKind::BlockAllocated).count() as u64,
        "one allocation record per translated subscriber, none for refused ones"
    );
    drop(fs);
}
