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
//! (The stronger check — the record of the first *forwarded* packet is on
//! disk before the packet leaves — needs the workers to hold a packet until
//! its block's record is durable; see `LogPipeline::take_durable`.)

mod common;
mod live;

use std::time::{Duration, Instant};

use cgnat_core::natlog::{text, LogRecord};
use cgnat_core::EventKind;
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
    drop(d2);
    drop(d);
}
