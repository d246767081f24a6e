//! systemd's service notification protocol (`sd_notify(3)`), spoken by hand
//! (one datagram per message to `$NOTIFY_SOCKET`; no libsystemd link).
//!
//! The packaged unit is `Type=notify` with `WatchdogSec=`: `cgnatd` sends
//! `READY=1` once its workers run (so `systemctl start` returns when the
//! appliance translates, and units ordered after it start then),
//! `WATCHDOG=1` from the management loop at half the watchdog interval
//! *only while every worker makes progress* (a worker stuck in a loop or a
//! wedged management core stops the pings and systemd restarts the
//! service), `STATUS=` lines, and `STOPPING=1` when it drains.
//!
//! Without `$NOTIFY_SOCKET` (not under systemd) every call is a no-op. The
//! messages are sent from the management thread only: never from a worker.

use std::io;
use std::os::unix::net::UnixDatagram;
use std::time::Duration;

/// The notification socket of the service manager, if any.
#[derive(Debug)]
pub struct Notifier {
    socket: Option<(UnixDatagram, NotifyAddr)>,
    watchdog: Option<Duration>,
}

/// Where the datagrams go: a path or an abstract-namespace name (`@name`).
#[derive(Debug, Clone)]
enum NotifyAddr {
    Path(std::path::PathBuf),
    Abstract(Vec<u8>),
}

impl Notifier {
    /// From the environment systemd sets: `NOTIFY_SOCKET`, and
    /// `WATCHDOG_USEC` (honoured only if `WATCHDOG_PID` is unset or this
    /// process, as `sd_watchdog_enabled(3)` says).
    pub fn from_env() -> Notifier {
        let socket = std::env::var_os("NOTIFY_SOCKET").and_then(|s| {
            let addr = match s.as_encoded_bytes().first() {
                Some(b'@') => NotifyAddr::Abstract(s.as_encoded_bytes()[1..].to_vec()),
                Some(b'/') => NotifyAddr::Path(s.into()),
                _ => return None,
            };
            UnixDatagram::unbound().ok().map(|u| (u, addr))
        });
        let pid_ok = std::env::var("WATCHDOG_PID")
            .ok()
            .is_none_or(|p| p.trim() == std::process::id().to_string());
        let watchdog = std::env::var("WATCHDOG_USEC")
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|&us| us > 0 && pid_ok)
            .map(Duration::from_micros);
        Notifier { socket, watchdog }
    }

    /// Whether a service manager listens.
    pub fn enabled(&self) -> bool {
        self.socket.is_some()
    }

    /// How often to send `WATCHDOG=1`: half the service's watchdog
    /// interval (`sd_watchdog_enabled(3)` advises sending at half), or
    /// `None` without a watchdog.
    pub fn watchdog_every(&self) -> Option<Duration> {
        self.watchdog.map(|w| w / 2)
    }

    /// Sends `state` (newline-separated `KEY=VALUE` assignments).
    pub fn notify(&self, state: &str) -> io::Result<()> {
        let Some((sock, addr)) = &self.socket else {
            return Ok(());
        };
        match addr {
            NotifyAddr::Path(p) => sock.send_to(state.as_bytes(), p).map(drop),
            NotifyAddr::Abstract(name) => send_abstract(sock, name, state.as_bytes()),
        }
    }
}

#[cfg(target_os = "linux")]
fn send_abstract(sock: &UnixDatagram, name: &[u8], msg: &[u8]) -> io::Result<()> {
    use std::os::linux::net::SocketAddrExt;
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
    sock.send_to_addr(msg, &addr).map(drop)
}

#[cfg(not(target_os = "linux"))]
fn send_abstract(_: &UnixDatagram, _: &[u8], _: &[u8]) -> io::Result<()> {
    Err(io::Error::new(io::ErrorKind::Unsupported, "abstract sockets are Linux-only"))
}

/// Whether every worker made progress since the last check: the workers
/// store their packet clock in a watermark on every loop (`u64::MAX` once
/// stopped); a watermark that has not moved since the previous call means a
/// stuck worker, and the watchdog must not be fed.
#[derive(Debug, Default)]
pub struct Progress {
    last: Vec<u64>,
}

impl Progress {
    /// Compares `now` (one watermark per worker) with the previous call's.
    /// The first call reports progress.
    pub fn advanced(&mut self, now: &[u64]) -> bool {
        let ok = self.last.len() != now.len() || self.last.iter().zip(now).all(|(a, b)| b > a || *b == u64::MAX);
        self.last.clear();
        self.last.extend_from_slice(now);
        ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stuck_worker_is_seen() {
        let mut p = Progress::default();
        assert!(p.advanced(&[10, 20]));
        assert!(p.advanced(&[11, 25]));
        assert!(!p.advanced(&[11, 30]), "worker 0 did not move");
        assert!(p.advanced(&[12, u64::MAX]));
        assert!(p.advanced(&[13, u64::MAX]), "a stopped worker is not stuck");
    }

    #[test]
    fn datagrams_reach_a_path_socket() {
        let dir = std::env::temp_dir().join(format!("sdn-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let _ = std::fs::remove_file(&path);
        let listener = UnixDatagram::bind(&path).unwrap();
        let n = Notifier {
            socket: Some((UnixDatagram::unbound().unwrap(), NotifyAddr::Path(path.clone()))),
            watchdog: Some(Duration::from_secs(10)),
        };
        assert!(n.enabled());
        assert_eq!(n.watchdog_every(), Some(Duration::from_secs(5)));
        n.notify("READY=1\nSTATUS=running").unwrap();
        let mut buf = [0u8; 64];
        let len = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1\nSTATUS=running");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn abstract_socket() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("cgnatd-test-{}", std::process::id());
        let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).unwrap();
        let listener = UnixDatagram::bind_addr(&addr).unwrap();
        let n = Notifier {
            socket: Some((UnixDatagram::unbound().unwrap(), NotifyAddr::Abstract(name.into_bytes()))),
            watchdog: None,
        };
        n.notify("WATCHDOG=1").unwrap();
        let mut buf = [0u8; 16];
        let len = listener.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"WATCHDOG=1");
        assert_eq!(n.watchdog_every(), None);
    }

    #[test]
    fn no_socket_is_a_no_op() {
        let n = Notifier {
            socket: None,
            watchdog: None,
        };
        assert!(!n.enabled());
        n.notify("READY=1").unwrap();
    }
}
