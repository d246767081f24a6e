//! A real `cgnatd` in live mode for NAT log tests: the lab configuration
//! with its own TAP interface names, control socket and log, the inside
//! TAP moved into a namespace of the test's where subscribers (addresses
//! of 100.64.9.0/24) send UDP through the NAT. The outside stays
//! unanswered: translations (and their block records) happen, the
//! translated packets wait for ARP and are dropped. Everything the harness
//! makes is removed when it is dropped, also on failure.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

static INSTANCE: AtomicU32 = AtomicU32::new(0);

pub const CGNATD: &str = env!("CARGO_BIN_EXE_cgnatd");

/// The running daemon and its namespace.
pub struct Live {
    pub dir: PathBuf,
    pub child: Option<Child>,
    pub ns: String,
    pub iface: String,
    /// The outside TAP interface (left in the root namespace unless
    /// [`Live::internet`] moves it into one).
    pub out_iface: String,
    /// The internet namespace, once [`Live::internet`] made it.
    pub inet_ns: Option<String>,
    /// The internet host's UDP listener ([`Live::internet_host`]).
    host: Option<Child>,
    pub log: PathBuf,
    pub stderr: PathBuf,
    daemon_pid: u32,
    next_sub: u32,
}

fn run(args: &[&str]) -> bool {
    Command::new(args[0])
        .args(&args[1..])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `[log]` tables for the configuration: `text` is placed after the lab's
/// `[nat]` and `[dataplane]` tables (the lab's `[log]` is dropped).
pub fn config(dir: &Path, log_tables: &str) -> PathBuf {
    let base = cgnat_core::config::file::EMBEDDED_LAB_CONFIG;
    let base = base.split("\n[log]").next().unwrap();
    let p = dir.join("cgnatd.toml");
    std::fs::write(&p, format!("{base}\n{log_tables}\n[metrics]\nenabled = false\n")).unwrap();
    p
}

impl Live {
    /// Starts `cgnatd` with `log_tables` and waits until its workers run.
    pub fn start(name: &str, log_tables: &str) -> Live {
        let k = INSTANCE.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id() % 10_000 * 10 + k % 10;
        let dir = std::env::temp_dir().join(format!("cgnat-{name}-{}-{k}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = config(&dir, &log_tables.replace("@DIR@", &dir.display().to_string()));
        let iface = format!("cgl{}", pid % 100_000);
        let out_iface = format!("cgo{}", pid % 100_000);
        let stderr = dir.join("cgnatd.err");
        let child = Command::new(CGNATD)
            .arg("--config")
            .arg(&cfg)
            .env("CGNAT_DATAPLANE__WORKERS", "1")
            .env("CGNAT_DATAPLANE__INSIDE__DEVICE", format!("net_tap0,iface={iface}"))
            .env("CGNAT_DATAPLANE__OUTSIDE__DEVICE", format!("net_tap1,iface={out_iface}"))
            .env("CGNAT_CONTROL__SOCKET", dir.join("cgnatd.sock"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&stderr).unwrap())
            .spawn()
            .expect("start cgnatd");
        let mut live = Live {
            log: dir.join("nat.log"),
            dir,
            daemon_pid: child.id(),
            child: Some(child),
            ns: format!("cgl-{pid}"),
            iface,
            out_iface,
            inet_ns: None,
            host: None,
            stderr,
            next_sub: 1,
        };
        live.wait_for("worker(s) running", Duration::from_secs(60));
        assert!(run(&["ip", "netns", "add", &live.ns]), "ip netns add");
        let ns = live.ns.clone();
        let i = live.iface.clone();
        for a in [
            vec!["ip", "link", "set", &i, "netns", &ns],
            vec!["ip", "-n", &ns, "link", "set", "lo", "up"],
            vec!["ip", "-n", &ns, "addr", "add", "100.64.9.254/10", "dev", &i],
            vec!["ip", "-n", &ns, "link", "set", &i, "up"],
            vec!["ip", "-n", &ns, "route", "add", "default", "via", "100.64.0.1"],
        ] {
            assert!(run(&a), "{a:?}");
        }
        // Complete checksums on the wire (the NAT updates them incrementally).
        run(&["ip", "netns", "exec", &ns, "ethtool", "-K", &i, "tx", "off", "rx", "off"]);
        live
    }

    /// Waits until `cgnatd`'s stderr contains `what`.
    pub fn wait_for(&mut self, what: &str, limit: Duration) {
        let t = Instant::now();
        loop {
            let s = std::fs::read_to_string(&self.stderr).unwrap_or_default();
            if s.contains(what) {
                return;
            }
            if let Some(st) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("cgnatd exited ({st}) before {what:?}:\n{s}");
            }
            assert!(t.elapsed() < limit, "cgnatd: no {what:?} within {limit:?}:\n{s}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `n` new subscribers each send one UDP datagram through the NAT,
    /// spread over `over`. Returns their addresses.
    pub fn subscribers_send(&mut self, n: u32, over: Duration) -> Vec<String> {
        let first = self.next_sub;
        self.next_sub += n;
        assert!(self.next_sub < 250 * 200, "address space of the harness");
        let addrs: Vec<String> = (first..first + n)
            .map(|k| format!("100.64.{}.{}", 10 + k / 250, 1 + k % 250))
            .collect();
        for a in &addrs {
            assert!(run(&["ip", "-n", &self.ns, "addr", "add", &format!("{a}/32"), "dev", &self.iface]));
        }
        let gap = over.as_secs_f64() / n.max(1) as f64;
        let script = format!(
            "import socket,time\nfor a in {addrs:?}:\n    s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n    s.bind((a,0))\n    s.sendto(b'x',('198.51.100.1',9))\n    s.close()\n    time.sleep({gap})\n"
        );
        let ok = Command::new("timeout")
            .args(["60", "ip", "netns", "exec", &self.ns, "python3", "-c", &script])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "sending from the subscribers failed");
        addrs
    }

    /// Moves the outside TAP into a namespace of its own as the internet
    /// host 198.51.100.1/24 (cgnatd's gateway), so translated packets
    /// really leave and can be received there. Returns the namespace.
    pub fn internet(&mut self) -> String {
        let pid = self.ns.trim_start_matches("cgl-").to_string();
        let ns = format!("cgi-{pid}");
        assert!(run(&["ip", "netns", "add", &ns]), "ip netns add {ns}");
        self.inet_ns = Some(ns.clone());
        let o = self.out_iface.clone();
        for a in [
            vec!["ip", "link", "set", &o, "netns", &ns],
            vec!["ip", "-n", &ns, "link", "set", "lo", "up"],
            vec!["ip", "-n", &ns, "addr", "add", "198.51.100.1/24", "dev", &o],
            vec!["ip", "-n", &ns, "link", "set", &o, "up"],
            vec!["ip", "-n", &ns, "route", "add", "203.0.113.0/28", "dev", &o],
        ] {
            assert!(run(&a), "{a:?}");
        }
        run(&["ip", "netns", "exec", &ns, "ethtool", "-K", &o, "tx", "off", "rx", "off"]);
        ns
    }

    /// An internet host (198.51.100.1, in [`Live::internet`]'s namespace)
    /// listening on UDP port 9: every datagram it receives is reported as
    /// `SOURCE:PORT` on the returned channel, from the moment it arrived.
    /// Waits until the host listens.
    pub fn internet_host(&mut self) -> std::sync::mpsc::Receiver<String> {
        use std::io::{BufRead, BufReader};
        let ns = match &self.inet_ns {
            Some(ns) => ns.clone(),
            None => self.internet(),
        };
        let script = "import socket\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind(('198.51.100.1',9))\nprint('ready',flush=True)\nwhile True:\n    d,a=s.recvfrom(2048)\n    print('%s:%d'%a,flush=True)\n";
        let mut host = Command::new("timeout")
            .args(["120", "ip", "netns", "exec", &ns, "python3", "-u", "-c", script])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the internet host");
        let (tx, rx) = std::sync::mpsc::channel();
        let out = host.stdout.take().unwrap();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(l);
            }
        });
        self.host = Some(host);
        assert_eq!(rx.recv_timeout(Duration::from_secs(20)).ok().as_deref(), Some("ready"));
        rx
    }

    /// Sends `sig` to cgnatd and waits (bounded) for it to exit.
    pub fn signal(&mut self, sig: &str, limit: Duration) -> Option<std::process::ExitStatus> {
        let c = self.child.as_mut()?;
        run(&["kill", &format!("-{sig}"), &c.id().to_string()]);
        let t = Instant::now();
        loop {
            if let Ok(Some(st)) = c.try_wait() {
                self.child = None;
                return Some(st);
            }
            if t.elapsed() > limit {
                let _ = c.kill();
                let st = c.wait().ok();
                self.child = None;
                return st;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// cgnatd's stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        if let Some(mut h) = self.host.take() {
            let _ = h.kill();
            let _ = h.wait();
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        // Anything left in the namespace goes with it.
        if let Ok(o) = Command::new("ip").args(["netns", "pids", &self.ns]).output() {
            for p in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                run(&["kill", "-KILL", p]);
            }
        }
        run(&["ip", "netns", "del", &self.ns]);
        if let Some(ns) = self.inet_ns.take() {
            if let Ok(o) = Command::new("ip").args(["netns", "pids", &ns]).output() {
                for p in String::from_utf8_lossy(&o.stdout).split_whitespace() {
                    run(&["kill", "-KILL", p]);
                }
            }
            run(&["ip", "netns", "del", &ns]);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        let _ = std::fs::remove_dir_all(format!("/var/run/dpdk/cgnatd-{}", self.daemon_pid));
    }
}
