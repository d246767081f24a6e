//! Issue 9 item 6, "Management plane": hostile clients against the real
//! control socket and metrics endpoint of `ManagementCore` (the servers
//! `cgnatd` runs in live mode), over the real Unix socket and TCP.
//!
//! "The control socket bounds a request before buffering it and never lets
//! a slow or stuck client block others; the metrics endpoint serves
//! concurrent scrapes and times out slow clients."
//!
//! Tests hold one lock so that the memory measurement of one is not
//! disturbed by another. Every loop is bounded in count and time; each
//! harness stops its threads and removes its files when dropped.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use cgnat_core::config::file::{self, ConfigSource, EMBEDDED_LAB_CONFIG};
use cgnat_core::control::{parse_response, ErrorCode, Response, ResponseEnvelope};
use cgnat_core::event::Event;
use cgnat_core::ring::ring;
use cgnat_core::{Instant, Nat, Side, Verdict, Worker};
use cgnat_dpdk::daemon::counters::DpCounters;
use cgnat_dpdk::daemon::management::{CoreParts, ManagementCore};

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn now() -> Instant {
    Instant::from_micros(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as u64)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A `/proc/self/status` field in KiB (`VmRSS`, `VmHWM`).
fn status_kib(field: &str) -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap();
    let l = s.lines().find(|l| l.starts_with(field)).unwrap();
    l.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Resets the peak resident memory (`VmHWM`) to the current one.
fn reset_peak_rss() {
    std::fs::write("/proc/self/clear_refs", "5").unwrap();
}

/// A `ManagementCore` with one cgnat-core worker the test drives, its
/// control socket and metrics endpoint, ticking on its own thread.
struct Harness {
    dir: PathBuf,
    sock: PathBuf,
    metrics: String,
    worker: Worker<cgnat_core::ring::Producer<Event>>,
    mark: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    mgmt: Option<JoinHandle<ManagementCore>>,
}

impl Harness {
    fn start(name: &str, vars: &[(&str, &str)]) -> Harness {
        let dir = std::env::temp_dir().join(format!("cgnat-mgmt-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("cgnatd.sock");
        let metrics = format!("127.0.0.1:{}", free_port());
        let text = EMBEDDED_LAB_CONFIG.replace("/tmp/cgnat-lab/nat.log", &dir.join("nat.log").display().to_string());
        let mut env: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        env.insert("CGNAT_CONTROL__SOCKET".into(), sock.display().to_string());
        env.insert("CGNAT_METRICS__LISTEN".into(), metrics.clone());
        let cfg = file::parse(&text, ConfigSource::Embedded, Some(env)).unwrap();
        let nat = Arc::new(Nat::new(cfg.nat.clone(), 9).unwrap());
        let (p, c) = ring::<Event>(cfg.log.ring_capacity as usize);
        // The run's start records are stamped at `t0`; the worker's
        // watermark starts above them (as in live mode), so they are written
        // before anything the worker produces.
        let t0 = now();
        let mark = Arc::new(AtomicU64::new(t0.as_micros() + 1));
        let worker = Worker::new(nat.clone(), 0, p);
        let parts = CoreParts {
            nat,
            rings: vec![c],
            watermarks: vec![mark.clone()],
            nat_counters: vec![worker.counters().clone()],
            dp_counters: vec![Arc::new(DpCounters::default())],
            run_mode: "test",
            config_path: None,
            clock: Box::new(now),
            pcp: Vec::new(),
            ha_standby: None,
            ha_announce: None,
            ha_probe: None,
            ha_peer_seen: None,
            ha_sessions: Vec::new(),
        };
        let mut core = ManagementCore::start(&cfg, parts, t0).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let s = stop.clone();
        let mgmt = std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                core.tick(now());
                std::thread::sleep(Duration::from_millis(5));
            }
            core
        });
        Harness {
            dir,
            sock,
            metrics,
            worker,
            mark,
            stop,
            mgmt: Some(mgmt),
        }
    }

    /// `n` new subscribers (100.64.100.0 + `first` ...) each send one UDP
    /// packet: one `block-alloc` record each.
    fn new_subscribers(&mut self, first: u32, n: u32) {
        let base = u32::from(Ipv4Addr::new(100, 64, 100, 0)) + first;
        for i in 0..n {
            let mut pkt = Vec::new();
            etherparse::PacketBuilder::ipv4(Ipv4Addr::from(base + i).octets(), [198, 51, 100, 1], 64)
                .udp(1000, 53)
                .write(&mut pkt, b"x")
                .unwrap();
            let t = now();
            let v = self.worker.process(Side::Inside, &mut pkt, t);
            // A new block's first packet waits for its record to be durable.
            assert!(matches!(v, Verdict::Forward(_) | Verdict::HoldUntilLogged { .. }), "{v:?}");
            self.mark.store(t.as_micros(), Ordering::Release);
        }
        // Nothing older will come: let the merge emit everything.
        self.mark.store(now().as_micros() + 1, Ordering::Release);
    }

    fn client(&self) -> Client {
        Client::connect(&self.sock)
    }

    fn scrape(&self) -> String {
        scrape(&self.metrics)
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(Ok(core)) = self.mgmt.take().map(JoinHandle::join) {
            self.mark.store(u64::MAX, Ordering::Release);
            core.shutdown(now());
            if !std::thread::panicking() {
                common::natlog::assert_verifies(&[self.dir.join("nat.log")], false);
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Client {
    out: UnixStream,
    inp: BufReader<UnixStream>,
}

impl Client {
    fn connect(p: &std::path::Path) -> Client {
        let s = UnixStream::connect(p).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.set_write_timeout(Some(Duration::from_secs(10))).unwrap();
        Client {
            out: s.try_clone().unwrap(),
            inp: BufReader::new(s),
        }
    }

    /// One response line, or `None` at the end of the stream.
    fn read(&mut self) -> Option<ResponseEnvelope> {
        let mut l = String::new();
        match self.inp.read_line(&mut l) {
            Ok(0) => None,
            Ok(_) => Some(parse_response(&l).unwrap_or_else(|e| panic!("bad response {l:?}: {e}"))),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => None,
            Err(e) => panic!("read: {e}"),
        }
    }

    fn status(&mut self, id: u64) -> Response {
        writeln!(self.out, "{{\"v\":1,\"id\":{id},\"cmd\":\"status\"}}").unwrap();
        let r = self.read().expect("an answer");
        assert_eq!(r.id, id);
        r.response
    }
}

fn error(r: &Response) -> (ErrorCode, String) {
    match r {
        Response::Error { code, message } => (*code, message.clone()),
        r => panic!("expected an error, got {r:?}"),
    }
}

/// A complete HTTP/1.1 scrape of `/metrics`: the body.
fn scrape(addr: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(s, "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: text/plain\r\n\r\n").unwrap();
    let mut b = String::new();
    s.read_to_string(&mut b).unwrap();
    assert!(b.starts_with("HTTP/1.1 200 OK\r\n"), "{b}");
    let (head, body) = b.split_once("\r\n\r\n").unwrap();
    assert!(head.contains("content-type: text/plain; version=0.0.4"), "{head}");
    body.to_string()
}

fn metric(body: &str, name: &str) -> u64 {
    body.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{name} missing"))
}

/// Waits (at most `secs`) until the peer closes `s`; false if it did not.
fn closed_within(s: &mut impl Read, secs: u64) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    let mut buf = [0u8; 4096];
    while std::time::Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => return true,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => panic!("read: {e}"),
        }
    }
    false
}

/// Issue 9: "the control socket reads a request line without a bound
/// before checking its length". A 10 MB line without a newline is refused
/// after at most `control.max_request_bytes`: the client gets an error, the
/// connection is closed, the daemon's memory does not grow with the line.
#[test]
fn a_10_mb_control_line_is_refused_before_it_is_buffered() {
    let _g = serial();
    let h = Harness::start("long", &[]);
    let mut c = h.client();
    assert!(matches!(c.status(1), Response::Status(_)));
    reset_peak_rss();
    let rss_before = status_kib("VmRSS:");

    let chunk = vec![b'x'; 64 * 1024];
    let mut sent = 0usize;
    for _ in 0..160 {
        match c.out.write(&chunk) {
            Ok(n) => sent += n,
            Err(e) if matches!(e.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset) => break,
            Err(e) => panic!("write after {sent} bytes: {e}"),
        }
    }
    let (code, message) = error(&c.read().expect("an error line").response);
    assert_eq!(code, ErrorCode::BadRequest);
    assert!(message.contains("longer than 65536 bytes (control.max_request_bytes)"), "{message}");
    assert!(c.read().is_none(), "the connection is closed after the error");
    // The daemon stopped reading after the limit: the kernel's socket
    // buffers took the rest of what the client could write.
    assert!(
        sent < 4 << 20,
        "the daemon read {sent} bytes of a line it should have refused at 64 KiB"
    );
    // The peak, not the RSS after: a buffer freed after the refusal would
    // not show in the latter.
    let grown = status_kib("VmHWM:").saturating_sub(rss_before);
    assert!(grown < 4096, "peak RSS grew by {grown} KiB while a 10 MB line was refused");

    // Others are served; the refusal is counted.
    assert!(matches!(h.client().status(2), Response::Status(_)));
    let m = h.scrape();
    assert_eq!(metric(&m, "cgnat_control_disconnects_total{reason=\"request_too_long\"}"), 1);
    eprintln!("10 MB line: client wrote {sent} bytes before the close; peak RSS grew {grown} KiB");
}

/// Issue 9: a slow or stuck client never blocks the others. Idle clients
/// and clients dripping a request byte by byte hold connections; another
/// client is still answered, the connection bound refuses the excess with
/// an error, and the idle timeout frees every held connection.
#[test]
fn slow_and_idle_control_clients_do_not_block_others() {
    let _g = serial();
    let h = Harness::start(
        "slow",
        &[("CGNAT_CONTROL__MAX_CONNECTIONS", "16"), ("CGNAT_CONTROL__IDLE_TIMEOUT_SECS", "2")],
    );
    let mut idle: Vec<Client> = (0..7).map(|_| h.client()).collect();
    let mut drip: Vec<Client> = (0..7).map(|_| h.client()).collect();
    let stop_drip = Arc::new(AtomicBool::new(false));
    let writers: Vec<UnixStream> = drip.iter().map(|c| c.out.try_clone().unwrap()).collect();
    let s = stop_drip.clone();
    // One byte of `{"v":1,"id":9,"cmd":"status"` per client every 100 ms,
    // never the newline; at most 60 rounds (6 s).
    let dripper = std::thread::spawn(move || {
        let req = br#"{"v":1,"id":9,"cmd":"status" "#;
        for round in 0..60 {
            if s.load(Ordering::Relaxed) {
                break;
            }
            for mut w in &writers {
                let _ = w.write_all(&req[round % req.len()..][..1]);
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    });
    std::thread::sleep(Duration::from_millis(300));

    // 14 held: a new client is answered while they are (well before
    // their idle timeout).
    let mut fresh = h.client();
    fresh.inp.get_ref().set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    assert!(matches!(fresh.status(1), Response::Status(_)));
    // 16 held: the 17th is refused with an error naming the limit.
    let extra = h.client();
    let mut refused = h.client();
    let (code, message) = error(&refused.read().expect("a refusal").response);
    assert_eq!(code, ErrorCode::Unavailable);
    assert!(message.contains("control.max_connections = 16"), "{message}");
    assert!(refused.read().is_none());

    // The idle timeout closes every held connection, the dripping ones too
    // (their line never completes), each with an error line.
    for c in idle.iter_mut().chain(drip.iter_mut()) {
        let (code, message) = error(&c.read().expect("an idle-timeout error").response);
        assert_eq!(code, ErrorCode::BadRequest);
        assert!(message.contains("control.idle_timeout_secs"), "{message}");
        assert!(c.read().is_none());
    }
    stop_drip.store(true, Ordering::Relaxed);
    dripper.join().unwrap();
    drop((fresh, extra));
    assert!(matches!(h.client().status(2), Response::Status(_)));
    let m = h.scrape();
    assert!(metric(&m, "cgnat_control_disconnects_total{reason=\"idle_timeout\"}") >= 14);
    assert_eq!(metric(&m, "cgnat_control_connections_total{result=\"refused\"}"), 1);
    assert_eq!(metric(&m, "cgnat_control_connections_limit"), 16);
}

/// Issue 9: a follower of `events --follow` that stops reading is dropped
/// without affecting the others: a reading follower gets every record,
/// requests are answered meanwhile.
#[test]
fn a_stuck_follower_is_dropped_and_others_keep_streaming() {
    let _g = serial();
    let mut h = Harness::start(
        "follow",
        &[
            ("CGNAT_CONTROL__WRITE_TIMEOUT_SECS", "1"),
            ("CGNAT_CONTROL__FOLLOW_QUEUE", "1024"),
            ("CGNAT_NAT__MAX_SUBSCRIBERS", "4096"),
            ("CGNAT_NAT__POOL", "203.0.113.0/26"),
            // 3000 new subscribers in 1.5 s from a few /24s: no admission
            // limit here (this test is about the log's followers).
            ("CGNAT_NAT__ADMISSION__SUBSCRIBER_RATE_PER_AGGREGATE", "0"),
            ("CGNAT_NAT__ADMISSION__SUBSCRIBER_RATE", "0"),
            ("CGNAT_NAT__UNCONFIRMED__MAX_SUBSCRIBERS_PERCENT", "100"),
        ],
    );
    let follow = r#"{"v":1,"id":7,"cmd":"events","follow":true}"#;
    let mut stuck = h.client();
    writeln!(stuck.out, "{follow}").unwrap();
    assert!(matches!(stuck.read().unwrap().response, Response::Following));
    let mut good = h.client();
    writeln!(good.out, "{follow}").unwrap();
    assert!(matches!(good.read().unwrap().response, Response::Following));
    // The good follower reads on its own thread.
    let reader = std::thread::spawn(move || {
        let mut allocs = 0u32;
        for _ in 0..100_000 {
            let Some(r) = good.read() else { break };
            let Response::Record { record } = r.response else { panic!("{r:?}") };
            if record.event == "block-alloc" {
                allocs += 1;
                if allocs == 3000 {
                    break;
                }
            }
        }
        allocs
    });

    // 3000 subscribers, one block-alloc record each (about 1 MB of JSON
    // lines: more than the stuck follower's socket buffers and queue).
    let mut c = h.client();
    for round in 0..5 {
        h.new_subscribers(round * 600, 600);
        assert!(matches!(c.status(round as u64), Response::Status(_)));
        std::thread::sleep(Duration::from_millis(300));
    }
    assert_eq!(reader.join().unwrap(), 3000, "the reading follower got every record");

    // The stuck follower was disconnected: what it finally reads ends
    // (its last line may be cut short where the write timed out).
    stuck.inp.get_ref().set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut lines = 0;
    let mut l = Vec::new();
    while lines < 100_000 {
        l.clear();
        match stuck.inp.read_until(b'\n', &mut l) {
            Ok(0) => break,
            Ok(_) if l.ends_with(b"\n") => lines += 1,
            Ok(_) => {}
            Err(e) => panic!("the stuck follower's stream did not end: {e}"),
        }
    }
    assert!(lines < 3000, "the stuck follower was dropped, not fed everything ({lines} lines)");
    let m = h.scrape();
    let dropped = metric(&m, "cgnat_control_disconnects_total{reason=\"write_timeout\"}")
        + metric(&m, "cgnat_control_disconnects_total{reason=\"follower_lagged\"}");
    assert_eq!(dropped, 1, "{m}");
    assert!(matches!(c.status(99), Response::Status(_)));
}

/// Issue 9: "the metrics server serves one client at a time with blocking
/// reads (one slow client stops scrapes)". 40 slowloris clients send
/// their headers one byte at a time; concurrent scrapes succeed meanwhile,
/// and the slowloris clients are cut off at the header timeout.
#[test]
fn metrics_scrapes_succeed_while_slowloris_clients_hold_connections() {
    let _g = serial();
    let h = Harness::start("slowloris", &[("CGNAT_METRICS__HEADER_TIMEOUT_SECS", "2")]);
    const N: usize = 40;
    let mut loris: Vec<TcpStream> = (0..N)
        .map(|_| {
            let mut s = TcpStream::connect(&h.metrics).unwrap();
            s.write_all(b"GET /metrics HTTP/1.1\r\n").unwrap();
            s
        })
        .collect();
    let writers: Vec<TcpStream> = loris.iter().map(|s| s.try_clone().unwrap()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    // One header byte per client every 200 ms, for at most 8 s.
    let dripper = std::thread::spawn(move || {
        let header = b"X-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
        for round in 0..40 {
            if s.load(Ordering::Relaxed) {
                break;
            }
            for mut w in &writers {
                let _ = w.write_all(&header[round % header.len()..][..1]);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    std::thread::sleep(Duration::from_millis(300));

    let addr = h.metrics.clone();
    let scrapes: Vec<_> = (0..4)
        .map(|_| {
            let a = addr.clone();
            std::thread::spawn(move || scrape(&a))
        })
        .collect();
    let bodies: Vec<String> = scrapes.into_iter().map(|t| t.join().unwrap()).collect();
    for b in &bodies {
        // The slowloris connections were open while this scrape was served.
        assert!(metric(b, "cgnat_metrics_connections_open") > N as u64, "{b}");
        assert!(b.contains("cgnat_table_entries{table=\"sessions\"}"));
    }
    common::metrics::promtool_check(&bodies[0]);
    common::metrics::assert_documented(&bodies[0]);

    // Cut off at the header timeout, before the dripper is done.
    for s in loris.iter_mut() {
        s.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        assert!(closed_within(s, 5), "a slowloris client was not cut off");
    }
    stop.store(true, Ordering::Relaxed);
    dripper.join().unwrap();
    let m = h.scrape();
    assert!(
        metric(&m, "cgnat_metrics_disconnects_total{reason=\"header_timeout\"}") >= N as u64,
        "{m}"
    );
    assert_eq!(metric(&m, "cgnat_metrics_connections_open"), 1);
}

/// Issue 9: a metrics client that never sends its request is timed out;
/// connections over `metrics.max_connections` are answered 503 and do not
/// stop scrapes once the idle ones are cut.
#[test]
fn a_metrics_client_that_never_sends_is_timed_out() {
    let _g = serial();
    let h = Harness::start(
        "silent",
        &[("CGNAT_METRICS__HEADER_TIMEOUT_SECS", "1"), ("CGNAT_METRICS__MAX_CONNECTIONS", "4")],
    );
    let mut silent: Vec<TcpStream> = (0..4).map(|_| TcpStream::connect(&h.metrics).unwrap()).collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut over = TcpStream::connect(&h.metrics).unwrap();
    over.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut answer = String::new();
    let _ = over.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer:?}");
    assert!(answer.ends_with("(metrics.max_connections = 4)\n"), "{answer:?}");

    for s in silent.iter_mut() {
        s.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
        assert!(closed_within(s, 5), "a silent client was not timed out");
    }
    let m = h.scrape();
    assert_eq!(metric(&m, "cgnat_metrics_disconnects_total{reason=\"header_timeout\"}"), 4);
    assert_eq!(metric(&m, "cgnat_metrics_connections_total{result=\"refused\"}"), 1);
    assert_eq!(metric(&m, "cgnat_metrics_connections_limit"), 4);

    // HTTP/1.0 (as before), other paths and methods.
    let mut s = TcpStream::connect(&h.metrics).unwrap();
    write!(s, "POST /metrics HTTP/1.0\r\n\r\n").unwrap();
    let mut b = String::new();
    s.read_to_string(&mut b).unwrap();
    assert!(b.starts_with("HTTP/1.0 405 Method Not Allowed\r\n"), "{b}");
    let mut s = TcpStream::connect(&h.metrics).unwrap();
    write!(s, "GET /other HTTP/1.0\r\n\r\n").unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut b = String::new();
    s.read_to_string(&mut b).unwrap();
    assert!(b.starts_with("HTTP/1.0 404 Not Found\r\n"), "{b}");
}
