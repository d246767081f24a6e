//! Issue 10 item 10, "durable before use", on a real `cgnatd`: the NAT
//! log has two legal targets, a local file and an RFC 5424 TCP collector.
//! While the collector is down, a record cannot be acknowledged by every
//! legal target, so a new subscriber's packets must not leave the NAT (they
//! are held, then dropped after `dataplane.log_hold_ms`), although the
//! internet host is reachable; once the collector is back, the record is
//! acknowledged and the packets go out — and the log on disk holds the
//! block of the address:port the internet host saw. (Before the hold, the
//! packet left at once and its record waited in the queue.)

mod common;
mod live;

use std::process::Command;
use std::time::Duration;

use cgnat_core::natlog::text;
use cgnat_core::EventKind;
use common::natlog::assert_verifies;
use common::{is_root, skip};
use live::Live;

/// A TCP syslog collector on loopback that reads and keeps what it gets;
/// `stop` closes the listener and every connection.
struct Collector {
    addr: std::net::SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Collector {
    fn start(addr: &str) -> Collector {
        use std::io::Read;
        use std::sync::atomic::Ordering;
        let l = std::net::TcpListener::bind(addr).expect("bind the collector");
        l.set_nonblocking(true).unwrap();
        let addr = l.local_addr().unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let s = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut conns: Vec<std::net::TcpStream> = Vec::new();
            let mut buf = [0u8; 65536];
            while !s.load(Ordering::Relaxed) {
                if let Ok((c, _)) = l.accept() {
                    c.set_nonblocking(true).unwrap();
                    conns.push(c);
                }
                conns.retain_mut(|c| !matches!(c.read(&mut buf), Ok(0)));
                std::thread::sleep(Duration::from_millis(5));
            }
            for c in conns {
                let _ = c.shutdown(std::net::Shutdown::Both);
            }
        });
        Collector {
            addr,
            stop,
            thread: Some(thread),
        }
    }

    fn stop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.stop();
    }
}

#[test]
fn no_packet_leaves_before_its_blocks_record_is_written() {
    if !is_root() {
        return skip("natlog_durable", "cgnatd live mode needs root");
    }
    let mut collector = Collector::start("127.0.0.1:0");
    let addr = collector.addr;
    let tables = format!(
        "[log]\nfile = \"@DIR@/nat.log\"\n\
         [[log.targets]]\nformat = \"text\"\n\
         [[log.targets]]\nformat = \"syslog\"\ntransport = \"tcp\"\naddress = \"{addr}\"\n"
    );
    let mut d = Live::start("durable", &tables);
    let log = d.log.clone();
    let rx = d.internet_host();
    // The network works: an early subscriber gets through.
    let early = d.subscribers_send(1, Duration::ZERO).remove(0);
    rx.recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("{early}'s datagram never arrived\n{}", d.stderr()));

    // The collector goes down: a new subscriber sends for 3 s; nothing
    // may arrive (its record is in the file, but not acknowledged by every
    // legal target).
    collector.stop();
    let sub = d.subscribers_send(1, Duration::ZERO).remove(0);
    let ns = d.ns.clone();
    let sender = Command::new("timeout")
        .args(["30", "ip", "netns", "exec", &ns, "python3", "-c"])
        .arg(format!(
            "import socket,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('{sub}',4711))\nfor i in range(200):\n    s.sendto(b'x',('198.51.100.1',9))\n    time.sleep(0.1)\n"
        ))
        .spawn()
        .expect("start the subscriber");
    let mut sender = scopeguard(sender);
    if let Ok(l) = rx.recv_timeout(Duration::from_secs(3)) {
        panic!(
            "a packet ({l}) left before its block's record was durable in every legal target:\n{}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }
    // The operator sees why: the collector target is failing, with its error.
    let o = Command::new(common::natlog::cgnatctl())
        .arg("--socket")
        .arg(d.dir.join("cgnatd.sock"))
        .args(["--json", "stats"])
        .output()
        .expect("cgnatctl stats");
    let stats: serde_json::Value = serde_json::from_slice(&o.stdout).expect("stats JSON");
    let tcp = stats["log"]["sinks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"].as_str().is_some_and(|n| n.starts_with("syslog-tcp")))
        .cloned()
        .expect("the collector target");
    assert_eq!(tcp["failing"], true, "{tcp}");
    assert!(tcp["last_error"].as_str().is_some_and(|e| !e.is_empty()), "{tcp}");
    // The collector is back on the same address: the record is
    // acknowledged, then the packets go.
    let _collector = Collector::start(&addr.to_string());
    let seen = rx
        .recv_timeout(Duration::from_secs(15))
        .unwrap_or_else(|_| panic!("no packet after the collector returned\n{}", d.stderr()));
    let _ = sender.0.kill();
    d.signal("KILL", Duration::from_secs(5));
    let (public, port) = seen.split_once(':').unwrap();
    let port: u16 = port.parse().unwrap();
    let recs = text::parse_str(&std::fs::read_to_string(&log).unwrap()).unwrap();
    assert!(
        recs.iter().any(|r| r.event == EventKind::BlockAllocated
            && r.subscriber.to_string() == sub
            && r.public_addr.to_string() == public
            && (r.first_port..=r.last_port).contains(&port)),
        "the record of {seen} is on disk"
    );
    assert_verifies(std::slice::from_ref(&log), false);
    drop(d);
}

/// Kills the child when dropped (a failing assertion must not leave it).
struct Guard(std::process::Child);

fn scopeguard(c: std::process::Child) -> Guard {
    Guard(c)
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
