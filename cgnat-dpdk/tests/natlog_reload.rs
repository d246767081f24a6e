//! Issue 10 item 5 (reload) and item 10 (durability), through the real
//! log pipeline with a cgnat-core worker:
//!
//! - `reload` to a new file: the old target writes and syncs everything
//!   first, the new one starts by restating the blocks held; across both
//!   files every record is there exactly once.
//! - A reload whose new target cannot open restores the previous targets
//!   and says so; records keep flowing to them.
//! - A reload while the old target cannot finish (collector not
//!   acknowledging) is refused and the old target stays.
//! - `take_durable` hands out the `block-alloc` records only once they are
//!   durable in every legal target: not while the TCP collector has not
//!   acknowledged them.

mod common;

use std::io::Read;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::Arc;
use std::time::{Duration, Instant as WallInstant};

use cgnat_core::config::{LogConfig, LogTarget, NatConfig, TargetFormat, Transport};
use cgnat_core::event::Event;
use cgnat_core::natlog::text;
use cgnat_core::ring::{ring, Producer};
use cgnat_core::{EventKind, Instant, Nat, Side, Verdict, Worker};
use cgnat_dpdk::daemon::management::LogPipeline;

const T0: u64 = 1_700_000_000_000_000;

fn nat() -> Arc<Nat> {
    let c: NatConfig = toml::from_str(
        "pool = [\"203.0.113.0/24\"]\nblock_size = 64\nseed = 9\nmax_subscribers = 4096\nmax_sessions = 4096\nmax_mappings = 4096\n[admission]\nsubscriber_rate = 0\nsubscriber_rate_per_aggregate = 0\n",
    )
    .unwrap();
    Arc::new(Nat::new(c, 1).unwrap())
}

fn send(w: &mut Worker<Producer<Event>>, i: u32, t: u64) {
    let mut p = Vec::new();
    etherparse::PacketBuilder::ipv4([100, 64, 1, i as u8], [198, 51, 100, 1], 64)
        .udp(4000, 53)
        .write(&mut p, b"x")
        .unwrap();
    assert_eq!(
        w.process(Side::Inside, &mut p, Instant::from_micros(t)),
        Verdict::Forward(Side::Outside)
    );
}

#[test]
fn reload_loses_and_duplicates_nothing_and_restores_on_failure() {
    let dir = std::env::temp_dir().join(format!("cgnat-reload-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let (producer, consumer) = ring::<Event>(1024);
    let mut w = Worker::new(nat(), 0, producer);
    let cfg = |f: &str| LogConfig {
        file: dir.join(f),
        ..LogConfig::default()
    };
    let mut log = LogPipeline::open(&cfg("a.log"), vec![consumer], Vec::new()).unwrap();
    let mut extra = Vec::new();
    for i in 0..10 {
        send(&mut w, i, T0 + i as u64);
        log.pump(&mut extra, T0 + 100);
    }
    log.reopen(&cfg("b.log")).unwrap();
    for i in 10..20 {
        send(&mut w, i, T0 + 200 + i as u64);
    }
    log.pump(&mut extra, T0 + 300);
    // A target that cannot open (its directory is a file): restored.
    std::fs::write(dir.join("not-a-dir"), "x").unwrap();
    let e = log.reopen(&cfg("not-a-dir/c.log")).unwrap_err().to_string();
    assert!(e.contains("previous log targets were reopened"), "{e}");
    assert_eq!(log.target_names(), [format!("text:{}", dir.join("b.log").display())]);
    for i in 20..25 {
        send(&mut w, i, T0 + 400 + i as u64);
    }
    assert_eq!(log.drain_all(&mut extra), 0);
    assert!(log.close().is_empty());
    let a = text::parse_str(&std::fs::read_to_string(dir.join("a.log")).unwrap()).unwrap();
    let b = text::parse_str(&std::fs::read_to_string(dir.join("b.log")).unwrap()).unwrap();
    assert_eq!(a.len(), 10);
    let interim = b.iter().take_while(|r| r.event == EventKind::BlockInterim).count();
    assert_eq!(interim, 10, "the new file restates the 10 blocks held");
    assert!(b[..interim].iter().all(|r| r.seq == 10 && r.aux >= T0));
    let seqs: Vec<u64> = a.iter().chain(&b[interim..]).map(|r| r.seq).collect();
    assert_eq!(seqs, (0..25).collect::<Vec<_>>(), "every record once, in order, across the reload");
    // The two files are one target's log across the reload.
    common::natlog::assert_verifies(&[dir.join("a.log"), dir.join("b.log")], false);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A pipeline with two legal targets, a text file and a TCP syslog
/// collector (the returned listener), tracking durability; and a worker
/// feeding it.
fn file_and_collector(
    name: &str,
) -> (
    std::path::PathBuf,
    TcpListener,
    Worker<cgnat_core::ring::Producer<Event>>,
    LogConfig,
    LogPipeline,
) {
    let dir = std::env::temp_dir().join(format!("cgnat-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (producer, consumer) = ring::<Event>(1024);
    let w = Worker::new(nat(), 0, producer);
    let cfg = LogConfig {
        file: dir.join("nat.log"),
        targets: vec![
            LogTarget::text_file(dir.join("nat.log")),
            LogTarget {
                format: TargetFormat::Syslog,
                transport: Transport::Tcp,
                address: Some(listener.local_addr().unwrap().to_string()),
                ..LogTarget::default()
            },
        ],
        ..LogConfig::default()
    };
    let mut log = LogPipeline::open(&cfg, vec![consumer], Vec::new()).unwrap();
    log.set_durable_tracking(true);
    (dir, listener, w, cfg, log)
}

#[test]
fn durability_waits_for_the_collector_and_a_stuck_target_refuses_reload() {
    let (dir, listener, mut w, cfg, mut log) = file_and_collector("durable");
    let mut extra = Vec::new();
    // The collector is gone: nothing can be acknowledged.
    drop(listener);
    for i in 0..5 {
        send(&mut w, i, T0 + i as u64);
    }
    log.pump(&mut extra, T0 + 100);
    let mut got = Vec::new();
    std::thread::sleep(Duration::from_millis(200));
    log.take_durable(&mut got);
    assert!(got.is_empty(), "not durable while the collector is away: {got:?}");
    assert_eq!(log.durable_seq(), 0);
    let e = log.reopen(&cfg).unwrap_err().to_string();
    assert!(e.contains("reload refused") && e.contains("syslog-tcp"), "{e}");
    // The file target alone made them durable; the pipeline waits for both.
    let file_durable = log.sinks()[0].durable_seq();
    assert_eq!(file_durable, 5, "the file target made all 5 durable");
    drop(log);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn take_durable_hands_out_allocations_once_acknowledged() {
    let (dir, listener, mut w, _cfg, mut log) = file_and_collector("take");
    let mut extra = Vec::new();
    for i in 0..5 {
        send(&mut w, i, T0 + i as u64);
    }
    log.pump(&mut extra, T0 + 100);
    let (mut s, _) = listener.accept().unwrap();
    s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
    let mut got = Vec::new();
    let t = WallInstant::now();
    let mut buf = [0u8; 65536];
    while got.len() < 5 {
        assert!(t.elapsed() < Duration::from_secs(10), "not durable: {got:?}");
        let _ = s.read(&mut buf);
        log.pump(&mut extra, T0 + 100);
        log.take_durable(&mut got);
    }
    assert!(got.iter().all(|r| r.event == EventKind::BlockAllocated));
    assert_eq!(got.iter().map(|r| r.seq).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
    assert_eq!(got[0].subscriber, Ipv4Addr::new(100, 64, 1, 0));
    assert_eq!(log.durable_seq(), 5);
    assert_eq!(log.drain_all(&mut extra), 0);
    drop(log);
    let _ = std::fs::remove_dir_all(&dir);
}
