//! The management core's control socket and metrics endpoint, driven over
//! the real Unix socket and HTTP while two cgnat-core workers translate
//! traffic on their own threads (no DPDK needed: the same
//! `ManagementCore` that `cgnatd` runs in live mode).
//!
//! Every request of protocol v1 (`docs/control-protocol.md`) is exercised,
//! malformed ones included, the metrics are scraped while traffic runs, and
//! the NAT log written meanwhile is checked (clears and shutdown logged).

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cgnat_core::config::file::{self, ConfigSource, EMBEDDED_LAB_CONFIG};
use cgnat_core::control::{parse_response, ErrorCode, Response, ResponseEnvelope};
use cgnat_core::event::Event;
use cgnat_core::natlog::text;
use cgnat_core::ring::ring;
use cgnat_core::{EventKind, Instant, Nat, Side, Verdict, Worker};
use cgnat_dpdk::daemon::counters::DpCounters;
use cgnat_dpdk::daemon::management::{CoreParts, ManagementCore};

fn now() -> Instant {
    Instant::from_micros(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as u64)
}

fn udp(src: Ipv4Addr, sport: u16, dst: Ipv4Addr, dport: u16) -> Vec<u8> {
    let mut v = Vec::new();
    etherparse::PacketBuilder::ipv4(src.octets(), dst.octets(), 64)
        .udp(sport, dport)
        .write(&mut v, b"x")
        .unwrap();
    v
}

fn sub(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 64, 2, 0)) + i)
}

struct Client {
    out: UnixStream,
    inp: BufReader<UnixStream>,
}

impl Client {
    fn connect(p: &Path) -> Client {
        let s = UnixStream::connect(p).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Client {
            out: s.try_clone().unwrap(),
            inp: BufReader::new(s),
        }
    }

    fn send_raw(&mut self, line: &str) -> ResponseEnvelope {
        self.out.write_all(format!("{line}\n").as_bytes()).unwrap();
        self.read()
    }

    fn read(&mut self) -> ResponseEnvelope {
        let mut l = String::new();
        self.inp.read_line(&mut l).unwrap();
        parse_response(&l).unwrap_or_else(|e| panic!("bad response {l:?}: {e}"))
    }

    fn send(&mut self, id: u64, body: &str) -> Response {
        let r = self.send_raw(&format!("{{\"v\":1,\"id\":{id},{body}}}"));
        assert_eq!((r.v, r.id), (1, id));
        r.response
    }
}

fn error_code(r: &Response) -> Option<ErrorCode> {
    match r {
        Response::Error { code, .. } => Some(*code),
        _ => None,
    }
}

fn scrape(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut b = String::new();
    s.read_to_string(&mut b).unwrap();
    b
}

fn metric(body: &str, name: &str) -> f64 {
    body.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[test]
fn every_control_request_and_metrics_while_traffic_runs() {
    let dir = std::env::temp_dir().join(format!("cgnat-control-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sock = dir.join("run/cgnatd.sock");
    let metrics = format!("127.0.0.1:{}", free_port());
    let config_text = EMBEDDED_LAB_CONFIG.replace("/tmp/cgnat-lab/nat.log", &dir.join("nat.log").display().to_string());
    let config_path = dir.join("cgnat.toml");
    std::fs::write(&config_path, &config_text).unwrap();
    let env: HashMap<String, String> = [
        ("CGNAT_CONTROL__SOCKET", sock.display().to_string()),
        ("CGNAT_METRICS__LISTEN", metrics.clone()),
        ("CGNAT_METRICS__PER_ADDRESS", "true".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let cfg = file::parse(&config_text, ConfigSource::File(config_path.clone()), Some(env.clone())).unwrap();
    let nat = Arc::new(Nat::new(cfg.nat.clone(), 9).unwrap());
    // As in live mode: a new block carries traffic (and can be released)
    // only once its allocation record is durable. This is also what orders
    // a release after its allocation in the log: without it, a `clear`
    // stamped at its tick's start could release a block a worker allocated
    // (and stamped) a moment later.
    nat.require_durable_log(true);

    // Two workers on their own threads, each with a ring and a watermark.
    // As in live mode, the management core starts first (the run's start
    // records, stamped t0, come before anything a worker produces: their
    // watermarks start above t0), and only then do the workers run.
    let stop = Arc::new(AtomicBool::new(false));
    let (mut rings, mut marks, mut ncs, mut dps, mut threads) = (vec![], vec![], vec![], vec![], vec![]);
    let next_sub = Arc::new(AtomicU64::new(0));
    // Set while subscriber 0 must be silent (its clear is checked).
    let quiet = Arc::new(AtomicBool::new(false));
    let t0 = now();
    let mut workers = Vec::new();
    for id in 0..2u16 {
        let (p, c) = ring::<Event>(cfg.log.ring_capacity as usize);
        let mark = Arc::new(AtomicU64::new(t0.as_micros() + 1));
        let w = Worker::new(nat.clone(), id, p);
        rings.push(c);
        marks.push(mark.clone());
        ncs.push(w.counters().clone());
        dps.push(Arc::new(DpCounters::default()));
        workers.push((w, mark));
    }
    let parts = CoreParts {
        nat: nat.clone(),
        rings,
        watermarks: marks,
        nat_counters: ncs,
        dp_counters: dps,
        run_mode: "test",
        config_path: Some(config_path.clone()),
        clock: Box::new(now),
        pcp: Vec::new(),
        ha_standby: None,
        ha_announce: None,
        ha_probe: None,
        ha_peer_seen: None,
        ha_sessions: Vec::new(),
    };
    let mut core = ManagementCore::start(&cfg, parts, t0).unwrap();
    for (mut w, mark) in workers {
        let (stop, next_sub, quiet) = (stop.clone(), next_sub.clone(), quiet.clone());
        threads.push(std::thread::spawn(move || {
            let server: Ipv4Addr = [198, 51, 100, 1].into();
            let mut k = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let t = now();
                // Existing subscribers keep talking; now and then a new one.
                let n = next_sub.load(Ordering::Relaxed) as u32;
                if k % 50 == 0 {
                    next_sub.fetch_add(1, Ordering::Relaxed);
                }
                let s = sub(k % (n + 1));
                if s == sub(0) && quiet.load(Ordering::Relaxed) {
                    k += 1;
                    continue;
                }
                let mut pkt = udp(s, 1000 + (k % 7) as u16, server, 53);
                let v = w.process(Side::Inside, &mut pkt, t);
                // A new block's first packets wait for its record (the
                // router would hold them; here they are dropped).
                assert!(
                    matches!(v, Verdict::Forward(_) | Verdict::Drop(_) | Verdict::HoldUntilLogged { .. }),
                    "{v:?}"
                );
                mark.store(t.as_micros(), Ordering::Release);
                k += 1;
                std::thread::sleep(Duration::from_micros(200));
            }
            mark.store(u64::MAX, Ordering::Release);
        }));
    }
    let mgmt_stop = Arc::new(AtomicBool::new(false));
    let ms = mgmt_stop.clone();
    let mgmt = std::thread::spawn(move || {
        while !ms.load(Ordering::Relaxed) {
            core.tick(now());
            std::thread::sleep(Duration::from_millis(5));
        }
        core
    });
    std::thread::sleep(Duration::from_millis(300));

    let mode = std::fs::metadata(&sock).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "control socket is owner-only");
    let mut c = Client::connect(&sock);

    // Malformed requests: error replies, the connection stays usable.
    let e = c.send_raw("this is not json");
    assert_eq!((e.id, error_code(&e.response)), (0, Some(ErrorCode::BadRequest)));
    let e = c.send_raw(r#"{"v":9,"id":2,"cmd":"status"}"#);
    assert_eq!((e.id, error_code(&e.response)), (2, Some(ErrorCode::UnsupportedVersion)));
    for (id, body) in [
        (3, r#""cmd":"frobnicate""#),
        (4, r#""cmd":"lookup","public":"203.0.113.300","port":1"#),
        (5, r#""cmd":"lookup","public":"203.0.113.1""#),
        (6, r#""cmd":"clear""#),
        (7, r#""cmd":"clear","public":"203.0.113.1""#),
        (8, r#""cmd":"clear","subscriber":"100.64.2.0","all":true"#),
        (9, r#""cmd":"sessions","filter":{"colour":"red"}"#),
    ] {
        assert_eq!(error_code(&c.send(id, body)), Some(ErrorCode::BadRequest), "{body}");
    }

    let Response::Status(st) = c.send(10, r#""cmd":"status""#) else {
        panic!()
    };
    assert_eq!((st.workers, st.run_mode.as_str(), st.nat_mode.as_str()), (2, "test", "dynamic"));
    assert!(st.log_targets[0].starts_with("text:"), "{:?}", st.log_targets);
    let Response::Stats(stats) = c.send(11, r#""cmd":"stats""#) else {
        panic!()
    };
    assert!(stats.nat["translated_out"] > 0 && stats.workers.len() == 2);
    assert!(stats.tables.iter().any(|t| t.name == "sessions" && t.used > 0));
    assert!(stats.log.records > 0, "{:?}", stats.log);

    // A live session, looked up and its subscriber detailed.
    let Response::Sessions(list) = c.send(
        12,
        r#""cmd":"sessions","filter":{"protocol":"udp","subscriber":"100.64.2.0"},"limit":3"#,
    ) else {
        panic!()
    };
    assert!(!list.sessions.is_empty() && list.sessions.len() <= 3);
    let s0 = &list.sessions[0];
    assert_eq!(s0.inside, sub(0));
    let Response::Sessions(all) = c.send(13, r#""cmd":"sessions","limit":1"#) else {
        panic!()
    };
    assert!(all.truncated && all.sessions.len() == 1);
    let Response::Lookup(l) = c.send(14, &format!(r#""cmd":"lookup","public":"{}","port":{}"#, s0.public, s0.public_port)) else {
        panic!()
    };
    let owner = l.owner.expect("a live port has an owner");
    assert_eq!((owner.subscriber, owner.kind.as_str()), (sub(0), "dynamic"));
    let Response::Subscriber(d) = c.send(15, r#""cmd":"subscriber","address":"100.64.2.0""#) else {
        panic!()
    };
    assert_eq!(d.public, s0.public);
    assert!(!d.blocks.is_empty() && d.sessions.udp > 0 && d.limits.max_sessions == 2048);
    assert_eq!(
        error_code(&c.send(16, r#""cmd":"subscriber","address":"100.127.0.1""#)),
        Some(ErrorCode::NotFound)
    );

    // Metrics while traffic runs.
    let m1 = scrape(&metrics, "/metrics");
    assert!(m1.starts_with("HTTP/1.0 200 OK"), "{m1}");
    assert!(metric(&m1, "cgnat_table_entries{table=\"sessions\"}") > 0.0);
    assert!(metric(&m1, "cgnat_table_capacity_entries{table=\"sessions\"}") == 65536.0);
    assert!(metric(&m1, "cgnat_log_records_total{event=\"block-alloc\"}") > 0.0);
    assert!(m1.contains("cgnat_dropped_packets_total{reason=\"log_stalled\"} "));
    assert!(m1.contains("cgnat_worker_received_frames_total{worker=\"1\",port=\"inside\"} "));
    assert!(metric(&m1, "cgnat_translated_packets_total{direction=\"out\"}") > 0.0);
    assert!(metric(&m1, "cgnat_sessions_created_total") > 0.0);
    // metrics.per_address = true (off by default): one series per address.
    assert!(m1.contains("cgnat_pool_address_blocks{address=\"203.0.113.0\"} "));
    assert_eq!(metric(&m1, "cgnat_pool_addresses"), 16.0);
    assert_eq!(metric(&m1, "cgnat_build_info{version=\"0.1.0\"}"), 1.0);
    assert!(metric(&m1, "process_start_time_seconds") > 1.6e9);
    assert_eq!(metric(&m1, "cgnat_log_stalled"), 0.0);
    // Issue 15: Prometheus conventions (promtool) and every metric documented.
    common::metrics::promtool_check(&m1);
    common::metrics::assert_documented(&m1);
    std::thread::sleep(Duration::from_millis(200));
    let m2 = scrape(&metrics, "/metrics");
    assert!(
        metric(&m2, "cgnat_worker_translated_packets_total{worker=\"0\",direction=\"out\"}")
            > metric(&m1, "cgnat_worker_translated_packets_total{worker=\"0\",direction=\"out\"}")
    );
    assert!(scrape(&metrics, "/nope").starts_with("HTTP/1.0 404"));

    // Follow on a second connection, then clear a subscriber: its release
    // record streams to the follower.
    // Subscriber 0 stops sending first: a session it opened between the
    // clear's removal of its sessions and the release of its block would
    // keep the block (and the release record) from happening.
    quiet.store(true, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(20));
    let mut f = Client::connect(&sock);
    assert!(matches!(f.send(20, r#""cmd":"events","follow":true"#), Response::Following));
    let Response::Cleared(cl) = c.send(21, r#""cmd":"clear","subscriber":"100.64.2.0""#) else {
        panic!()
    };
    assert!(cl.blocks >= 1 && cl.sessions >= 1, "{cl:?}");
    let mut saw_release = false;
    for _ in 0..10_000 {
        let r = f.read();
        let Response::Record { record } = r.response else { panic!("{r:?}") };
        if record.event == "block-release" && record.reason == "cleared" && record.subscriber == sub(0) {
            saw_release = true;
            break;
        }
    }
    assert!(saw_release);
    let Response::Records { records } = c.send(22, r#""cmd":"events","last":5"#) else {
        panic!()
    };
    assert!(!records.is_empty() && records.len() <= 5);
    let Response::Cleared(_) = c.send(23, &format!(r#""cmd":"clear","public":"{}","port":{}"#, s0.public, s0.public_port)) else {
        panic!()
    };

    // Reload: timers change, sessions stay; a fixed key is refused.
    let before = nat.sessions().len();
    std::fs::write(&config_path, config_text.replace("[nat]\n", "[nat]\ntimeouts = { udp = 600 }\n")).unwrap();
    let r = c.send(24, r#""cmd":"reload""#);
    assert!(matches!(r, Response::Reloaded { .. }), "{r:?}");
    assert_eq!(nat.runtime().timeouts().udp, 600);
    assert!(nat.sessions().len() + 50 >= before, "reload keeps sessions");
    std::fs::write(&config_path, config_text.replace("block_size = 512", "block_size = 256")).unwrap();
    let Response::Error { code, message } = c.send(25, r#""cmd":"reload""#) else {
        panic!()
    };
    assert_eq!(code, ErrorCode::InvalidConfig);
    assert!(message.contains("nat.block_size"), "{message}");
    let r = c.send(26, &format!(r#""cmd":"reload","path":"{}""#, dir.join("missing.toml").display()));
    assert_eq!(error_code(&r), Some(ErrorCode::InvalidConfig));

    let Response::Cleared(everything) = c.send(27, r#""cmd":"clear","all":true"#) else {
        panic!()
    };
    assert!(everything.sessions > 0);

    // Stop: workers first, then the management core's clean shutdown.
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().unwrap();
    }
    mgmt_stop.store(true, Ordering::SeqCst);
    let core = mgmt.join().unwrap();
    let report = core.shutdown(now());
    assert_eq!((report.unwritten, report.lost.len()), (0, 0));
    assert!(!sock.exists(), "the socket is removed at shutdown");
    common::natlog::assert_verifies(&[dir.join("nat.log")], false);
    let log = text::parse_str(&std::fs::read_to_string(dir.join("nat.log")).unwrap()).unwrap();
    assert_eq!(log.len() as u64, report.records);
    assert!(log.iter().enumerate().all(|(i, r)| r.seq == i as u64));
    assert!(
        log.windows(2)
            .all(|w| (w[0].time, w[0].producer, w[0].producer_seq) <= (w[1].time, w[1].producer, w[1].producer_seq)),
        "total order"
    );
    // Static mappings (reason config) too: released at stop (issue 15).
    let allocs = log.iter().filter(|r| r.event == EventKind::BlockAllocated).count();
    let releases = log.iter().filter(|r| r.event == EventKind::BlockReleased).count();
    assert_eq!(allocs, releases, "every block allocated is released in the log");
    assert!(log.iter().any(|r| r.reason == cgnat_core::event::Reason::Cleared));
    let _ = std::fs::remove_dir_all(&dir);
}
