//! "Never translate without a record" through the real management-core
//! log pipeline (no DPDK needed): a cgnat-core `Worker` feeds its event
//! ring, the daemon's `LogPipeline` writes a text file and an RFC 5424
//! syslog stream over TCP (RFC 6587 octet counting) to a collector that
//! accepts the connection but does not read.
//!
//! - The TCP target stalls: the pipeline stops taking events, the ring
//!   fills, new blocks are refused and counted (`log_stalled`), while every
//!   flow that already has a block keeps translating both ways.
//! - Every translated packet's public address:port lies in a block whose
//!   allocation record was queued before the packet was translated, and no
//!   refused block appears anywhere.
//! - When the collector starts reading, every record arrives, in order,
//!   without gaps, identical in the file and on the stream.

mod common;

use std::io::Read;
use std::net::{Ipv4Addr, TcpListener};
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::time::Duration;

use cgnat_core::config::{LogConfig, LogTarget, NatConfig, TargetFormat, Transport};
use cgnat_core::event::Event;
use cgnat_core::natlog::{text, LogRecord};
use cgnat_core::ring::ring;
use cgnat_core::{DropReason, EventKind, Instant, Nat, Side, Verdict, Worker};
use cgnat_dpdk::daemon::management::LogPipeline;

const T0: u64 = 1_700_000_000_000_000;

fn udp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16) -> Vec<u8> {
    let mut v = Vec::new();
    etherparse::PacketBuilder::ipv4(src.octets(), dst.octets(), 64)
        .udp(sport, dport)
        .write(&mut v, b"x")
        .unwrap();
    v
}

fn endpoints(p: &[u8]) -> (Ipv4Addr, u16, Ipv4Addr, u16) {
    let s = etherparse::SlicedPacket::from_ip(p).unwrap();
    let Some(etherparse::NetSlice::Ipv4(ip)) = s.net else { panic!() };
    let Some(etherparse::TransportSlice::Udp(u)) = s.transport else {
        panic!()
    };
    (
        ip.header().source_addr(),
        u.source_port(),
        ip.header().destination_addr(),
        u.destination_port(),
    )
}

/// Parses RFC 6587 octet-counted frames; returns the messages.
fn frames(mut b: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(sp) = b.iter().position(|c| *c == b' ') {
        let n: usize = std::str::from_utf8(&b[..sp]).unwrap().parse().unwrap();
        out.push(String::from_utf8(b[sp + 1..sp + 1 + n].to_vec()).unwrap());
        b = &b[sp + 1 + n..];
    }
    assert!(b.is_empty(), "trailing partial frame");
    out
}

#[test]
fn stalled_syslog_collector_refuses_new_blocks_keeps_flows_and_loses_nothing() {
    let dir = std::env::temp_dir().join(format!("cgnat-natlog-stall-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    // A tiny receive window so the collector stalls the stream quickly.
    let small: libc::c_int = 2048;
    // SAFETY: setsockopt on a valid socket with a c_int option value.
    unsafe {
        libc::setsockopt(
            listener.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            &small as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
    let addr = listener.local_addr().unwrap();

    let nat_cfg: NatConfig = toml::from_str(
        // Thousands of new subscribers per second from one aggregate: the
        // admission limits (tested in hostile tests) are off here.
        "pool = [\"203.0.113.0/24\"]\nblock_size = 64\nseed = 7\nmax_subscribers = 65536\nmax_sessions = 65536\nmax_mappings = 65536\n\
         [admission]\nsubscriber_rate = 0\nsubscriber_rate_per_aggregate = 0\n",
    )
    .unwrap();
    let nat = Arc::new(Nat::new(nat_cfg, 1).unwrap());
    let (producer, consumer) = ring::<Event>(64);
    let mut w = Worker::new(nat.clone(), 0, producer);
    let log_cfg = LogConfig {
        file: dir.join("unused.log"),
        ring_capacity: 64,
        sink_buffer: 16,
        flush_records: 1,
        flush_interval_ms: 10,
        targets: vec![
            LogTarget::text_file(dir.join("nat.log")),
            LogTarget {
                format: TargetFormat::Syslog,
                transport: Transport::Tcp,
                address: Some(addr.to_string()),
                hostname: "cgnat-test".into(),
                ..LogTarget::default()
            },
        ],
        ..LogConfig::default()
    };
    log_cfg.validate().unwrap();
    let mut log = LogPipeline::open(&log_cfg, vec![consumer], Vec::new()).unwrap();
    {
        // The writer connects on its first flush; accept in the background.
        let l = listener.try_clone().unwrap();
        let h = std::thread::spawn(move || l.accept().unwrap());
        let mut extra = Vec::new();
        let mut t = T0;
        // Subscribers until the log stalls and blocks are refused.
        let server: Ipv4Addr = [198, 51, 100, 1].into();
        let mut flows: Vec<(Ipv4Addr, u16, Ipv4Addr, u16, u64)> = Vec::new();
        let mut refused = Vec::new();
        let mut i = 0u32;
        while refused.len() < 20 {
            assert!(i < 20_000, "the log never stalled");
            let sub = Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 64, 0, 0)) + i);
            let mut p = udp(sub, 4000, server, 53);
            t += 1000;
            match w.process(Side::Inside, &mut p, Instant::from_micros(t)) {
                Verdict::Forward(Side::Outside) => {
                    let (pa, pp, _, _) = endpoints(&p);
                    flows.push((sub, 4000, pa, pp, t));
                }
                Verdict::Drop(DropReason::LogStalled) => refused.push(sub),
                v => panic!("unexpected {v:?}"),
            }
            log.pump(&mut extra, t);
            if i % 50 == 0 {
                std::thread::sleep(Duration::from_millis(2));
            }
            i += 1;
        }
        assert!(
            log.shared().stalled.load(std::sync::atomic::Ordering::Relaxed),
            "the pipeline reports the stall"
        );
        assert!(w.counters().dropped(DropReason::LogStalled) >= 20);
        // Existing flows keep working both ways while stalled.
        for (sub, sport, pa, pp, _) in &flows {
            let mut o = udp(*sub, *sport, server, 53);
            t += 10;
            assert_eq!(
                w.process(Side::Inside, &mut o, Instant::from_micros(t)),
                Verdict::Forward(Side::Outside)
            );
            assert_eq!(endpoints(&o).0, *pa);
            let mut r = udp(server, 53, *pa, *pp);
            assert_eq!(
                w.process(Side::Outside, &mut r, Instant::from_micros(t)),
                Verdict::Forward(Side::Inside)
            );
            assert_eq!(endpoints(&r).2, *sub);
        }
        eprintln!(
            "{} flows translated, {} new blocks refused while stalled",
            flows.len(),
            refused.len()
        );
        let (sock, peer) = h.join().unwrap();
        // The collector starts reading: everything drains.
        let reader = std::thread::spawn(move || {
            let mut s = sock;
            let mut all = Vec::new();
            let _ = s.read_to_end(&mut all);
            all
        });
        let mut extra = Vec::new();
        for _ in 0..2000 {
            log.pump(&mut extra, u64::MAX);
            if log.merger().pending() == 0 {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        // New blocks are allocated again.
        let late: Ipv4Addr = [100, 65, 0, 1].into();
        let mut p = udp(late, 1, server, 53);
        assert_eq!(
            w.process(Side::Inside, &mut p, Instant::from_micros(t + 10)),
            Verdict::Forward(Side::Outside)
        );
        assert_eq!(log.drain_all(&mut extra), 0);
        assert!(log.close().is_empty(), "every target wrote everything");
        let _ = peer;
        let stream = reader.join().unwrap();
        common::natlog::assert_verifies(&[dir.join("nat.log")], false);
        common::natlog::assert_verifies(&[dir.join("nat.log")], false);
        let records = text::parse_str(&std::fs::read_to_string(dir.join("nat.log")).unwrap()).unwrap();
        // Gapless, ordered, identical on both targets.
        assert!(records.iter().enumerate().all(|(i, r)| r.seq == i as u64));
        let msgs = frames(&stream);
        assert_eq!(msgs.len(), records.len());
        for (m, r) in msgs.iter().zip(&records) {
            assert!(m.ends_with(&text::format(r)), "{m}");
        }
        // Every translated flow's port is covered by an allocation record
        // queued before (at or before) its first packet; refused
        // subscribers have no record.
        let allocs: Vec<&LogRecord> = records.iter().filter(|r| r.event == EventKind::BlockAllocated).collect();
        for (sub, _, pa, pp, first) in &flows {
            let rec = allocs
                .iter()
                .find(|r| r.subscriber == *sub && r.covers(*pa, *pp))
                .unwrap_or_else(|| panic!("no allocation record for {sub} -> {pa}:{pp}"));
            assert!(rec.time.as_micros() <= *first);
        }
        for s in &refused {
            assert!(!records.iter().any(|r| r.subscriber == *s), "refused {s} must not be logged");
        }
        assert_eq!(allocs.len(), flows.len() + 1);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// The sweeper's table-fill alert (table > 80% full) reaches the NAT log
/// through the management pipeline, ordered after the worker's records.
#[test]
fn table_fill_alert_reaches_the_log() {
    let dir = std::env::temp_dir().join(format!("cgnat-natlog-alert-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let nat_cfg: NatConfig = toml::from_str(
        "pool = [\"203.0.113.0/24\"]\nblock_size = 64\nseed = 3\nmax_subscribers = 4096\nmax_sessions = 1024\nmax_mappings = 4096\n\
         [admission]\nsubscriber_rate = 0\nsubscriber_rate_per_aggregate = 0\n[fairness]\npressure_percent = 100\n",
    )
    .unwrap();
    let nat = Arc::new(Nat::new(nat_cfg, 1).unwrap());
    let (producer, consumer) = ring::<Event>(4096);
    let mut w = Worker::new(nat.clone(), 0, producer);
    let log_cfg = LogConfig {
        file: dir.join("nat.log"),
        ..LogConfig::default()
    };
    let mut log = LogPipeline::open(&log_cfg, vec![consumer], Vec::new()).unwrap();
    let mut sweeper = cgnat_core::sweeper::Sweeper::new(nat.clone(), Vec::<Event>::new());
    let server: Ipv4Addr = [198, 51, 100, 1].into();
    let mut t = T0;
    for i in 0..900u32 {
        let mut p = udp(Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 64, 0, 0)) + i), 7, server, 53);
        assert_eq!(
            w.process(Side::Inside, &mut p, Instant::from_micros(t)),
            Verdict::Forward(Side::Outside)
        );
    }
    t += 1_000_000;
    sweeper.sweep(Instant::from_micros(t), 64);
    log.pump(sweeper.sink_mut(), u64::MAX);
    assert_eq!(log.drain_all(&mut Vec::new()), 0);
    assert!(log.close().is_empty());
    let records = text::parse_str(&std::fs::read_to_string(dir.join("nat.log")).unwrap()).unwrap();
    let alert = records
        .iter()
        .find(|r| r.event == EventKind::TableFillAlert)
        .expect("a table-fill-alert record");
    assert_eq!(alert.aux >> 16, 2, "the session table");
    assert!(alert.aux & 0xffff >= 80);
    assert_eq!(alert.seq as usize, records.len() - 1, "after the 900 allocations");
    let _ = std::fs::remove_dir_all(&dir);
}
