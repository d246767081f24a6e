//! Issue 10 "How it must be shown" (crash part): `kill -9` of a running
//! `cgnatd` (live mode, TAP ports, subscribers sending through the NAT
//! from a namespace) leaves a NAT log whose records up to the last durable
//! one are intact: it parses line by line, its sequence has no gap, it
//! starts with the run's `daemon-start` and the configuration records
//! (durable before the first worker started), it holds the allocation of
//! every subscriber whose record was seen on disk, and it has no
//! `daemon-stop` (the run ended in a crash). A restart on the same file
//! begins a new run (new id, sequence from 0) that a clean stop ends with
//! `daemon-stop`, the last record.
//!
//!
//! And the stronger check (issue 10 item 10): a new subscriber's first
//! packet is received by an internet host, `cgnatd` is killed at once, and
//! the block record of that packet is on disk (the worker held the packet
//! until the record was durable); after a restart, a lookup for a time
//! between the crash and the restart says the run ended without a clean
//! stop, and one after the restart's start answers nobody.

mod common;
mod live;

use std::time::{Duration, Instant};

use std::process::Command;

use cgnat_core::natlog::{text, LogRecord};
use cgnat_core::EventKind;
use common::natlog::{assert_verifies, cgnatctl};
use common::{is_root, skip};
use live::Live;

fn records(p: &std::path::Path) -> Vec<LogRecord> {
    text::parse_str(&std::fs::read_to_string(p).unwrap()).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn kill_9_leaves_an_intact_log_and_a_restart_begins_a_new_run() {
    if !is_root() {
        return skip("natlog_crash", "cgnatd live mode needs root");
    }
    let mut d = Live::start("crash", "[log]\nfile = \"@DIR@/nat.log\"\n");
    let log = d.log.clone();
    let subs = d.subscribers_send(20, Duration::from_millis(500));
    // Wait until every subscriber's allocation is on disk, then crash.
    let t = Instant::now();
    loop {
        let s = std::fs::read_to_string(&log).unwrap_or_default();
        if subs.iter().all(|a| s.contains(&format!("block-alloc subscriber={a} "))) {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "allocations not logged:\n{s}\n{}",
            d.stderr()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    d.signal("KILL", Duration::from_secs(5));
    assert_verifies(std::slice::from_ref(&log), false);
    let recs = records(&log);
    assert!(recs.iter().enumerate().all(|(i, r)| r.seq == i as u64), "gapless");
    assert_eq!(recs[0].event, EventKind::DaemonStart, "the run starts the log");
    let run = recs[0].run;
    assert_ne!(run, 0);
    assert!(recs.iter().all(|r| r.run == run));
    assert_eq!(
        (recs[1].event, recs[1].reason.name(), recs[1].first_port),
        (EventKind::BlockAllocated, "config", 8080),
        "the static mapping's record follows, before any translation"
    );
    assert!(
        !recs.iter().any(|r| r.event == EventKind::DaemonStop),
        "a crash writes no daemon-stop"
    );
    for a in &subs {
        assert!(recs
            .iter()
            .any(|r| r.event == EventKind::BlockAllocated && r.subscriber.to_string() == *a));
    }

    // A restart on the same file: a new run, ended cleanly.
    let tables = format!("[log]\nfile = \"{}\"\n", log.display());
    let mut d2 = Live::start("crash2", &tables);
    d2.subscribers_send(3, Duration::from_millis(100));
    let st = d2.signal("INT", Duration::from_secs(30)).expect("cgnatd stopped");
    assert!(st.success(), "clean stop: {st}\n{}", d2.stderr());
    let all = records(&log);
    let second: Vec<&LogRecord> = all.iter().filter(|r| r.run != run).collect();
    assert!(second.len() >= 6, "start, static mapping, 3 allocations, stop: {second:?}");
    assert_eq!(second[0].event, EventKind::DaemonStart);
    assert_eq!(second[0].seq, 0, "a run numbers from 0");
    assert!(second.iter().enumerate().all(|(i, r)| r.seq == i as u64));
    let last = second.last().unwrap();
    assert_eq!(last.event, EventKind::DaemonStop, "a clean stop ends the run");
    assert_eq!(last.aux, last.seq, "daemon-stop counts the records before it");
    assert_eq!(all.last().unwrap(), *last);
    assert_verifies(std::slice::from_ref(&log), false);
    drop(d2);
    drop(d);
}

fn utc_now() -> String {
    let us = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_micros() as u64;
    cgnat_core::Instant::from_micros(us).to_string()
}

/// `cgnatctl lookup` from the log file: (exit code, JSON answer).
fn lookup(log: &std::path::Path, public: &str, at: &str) -> (i32, serde_json::Value) {
    let o = Command::new(cgnatctl())
        .args(["--json", "lookup", public, "--at", at, "--no-index", "--log"])
        .arg(log)
        .output()
        .expect("run cgnatctl");
    let v = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| {
        panic!(
            "cgnatctl lookup {public} --at {at}: {e}\n{}\n{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    });
    (o.status.code().unwrap_or(-1), v)
}

#[test]
fn the_first_forwarded_packets_record_is_on_disk_at_kill_9() {
    if !is_root() {
        return skip("natlog_crash", "cgnatd live mode needs root");
    }
    let mut d = Live::start("first", "[log]\nfile = \"@DIR@/nat.log\"\n");
    let log = d.log.clone();
    let host = d.internet_host();
    let sub = d.subscribers_send(1, Duration::ZERO).remove(0);
    let seen = host.recv_timeout(Duration::from_secs(20)).expect("the first packet was forwarded");
    // The packet has left cgnatd: crash it now.
    d.signal("KILL", Duration::from_secs(5));
    let crashed_at = utc_now();
    let (public, port) = seen.split_once(':').unwrap();
    let port: u16 = port.parse().unwrap();
    let recs = records(&log);
    assert!(
        recs.iter().any(|r| r.event == EventKind::BlockAllocated
            && r.subscriber.to_string() == sub
            && r.public_addr.to_string() == public
            && (r.first_port..=r.last_port).contains(&port)),
        "the block of {sub}'s first forwarded packet ({seen}) is on disk:\n{}",
        std::fs::read_to_string(&log).unwrap()
    );
    assert_verifies(std::slice::from_ref(&log), false);

    // A restart, then lookups for times after the crash.
    std::thread::sleep(Duration::from_millis(1100));
    let between = utc_now();
    std::thread::sleep(Duration::from_millis(1100));
    let tables = format!("[log]\nfile = \"{}\"\n", log.display());
    let mut d2 = Live::start("first2", &tables);
    std::thread::sleep(Duration::from_millis(1100));
    let after = utc_now();
    let st = d2.signal("INT", Duration::from_secs(30)).expect("cgnatd stopped");
    assert!(st.success(), "clean stop: {st}\n{}", d2.stderr());
    assert_verifies(std::slice::from_ref(&log), false);
    let target = format!("{public}:{port}");
    let (code, v) = lookup(&log, &target, &crashed_at);
    assert_eq!(code, 0, "right after the crash: {v}");
    let (code, v) = lookup(&log, &target, &between);
    assert_eq!(
        (code, v["certain"].as_bool()),
        (0, Some(false)),
        "between the crash and the restart: {v}"
    );
    assert!(v.to_string().contains(&sub), "{v}");
    let (code, v) = lookup(&log, &target, &after);
    assert_eq!(code, 1, "after the restart nobody holds it: {v}");
    drop(d2);
    drop(d);
}
