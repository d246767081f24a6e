//! The management plane's network servers: one thread (`cgnat-mgmt-io`)
//! running a current-thread tokio runtime that serves the control socket
//! ([`super::control_server`]) and the Prometheus endpoint
//! ([`super::metrics`]) side by side (`docs/decisions/005-management-servers.md`).
//!
//! Issue 9 item 6: a slow or stuck client never blocks another. Every
//! connection is a task with a bounded input buffer and timeouts; the
//! number of connections is bounded per server ([`Limiter`]); work that
//! can block (table scans, waiting for the management loop) runs on the
//! runtime's small blocking pool, never on the thread that does the I/O.
//! What the servers refuse or cut off is counted ([`ServerCounters`]) and
//! exported as metrics.

use std::io;
use std::net::TcpListener;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use cgnat_core::config::{ControlConfig, MetricsConfig};
use tokio::sync::{oneshot, OwnedSemaphorePermit, Semaphore};

use super::control::{self, Command};
use super::control_server::ControlServer;
use super::metrics::MetricsServer;
use super::query::QueryContext;

/// Threads of the runtime's blocking pool (queries, waits for the
/// management loop); further blocking work queues behind them.
pub const BLOCKING_THREADS: usize = 4;
/// Pause after a failed `accept` (e.g. out of file descriptors).
pub const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);
/// How long stopping waits for blocking work still running.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// One monotonic counter.
#[derive(Debug, Default)]
pub struct Count(AtomicU64);

impl Count {
    /// Adds one.
    pub fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// What the management servers accepted, refused and cut off (exported by
/// [`super::exposition::render_servers`]).
#[derive(Debug, Default)]
pub struct ServerCounters {
    /// Control connections accepted.
    pub control_accepted: Count,
    /// Control connections refused: `control.max_connections` reached.
    pub control_refused: Count,
    /// Control requests read (complete lines).
    pub control_requests: Count,
    /// Control connections closed: a request line over `control.max_request_bytes`.
    pub control_too_long: Count,
    /// Control connections closed: no complete request within `control.idle_timeout_secs`.
    pub control_idle_timeouts: Count,
    /// Control connections dropped: an answer or follow batch unread for
    /// `control.write_timeout_secs`.
    pub control_write_timeouts: Count,
    /// Followers disconnected because they lagged `control.follow_queue` records.
    pub control_followers_lagged: Count,
    /// `events --follow` streams open now.
    pub control_followers: AtomicU64,
    /// Metrics connections accepted.
    pub metrics_accepted: Count,
    /// Metrics connections refused (503): `metrics.max_connections` reached.
    pub metrics_refused: Count,
    /// HTTP requests answered.
    pub metrics_requests: Count,
    /// Metrics connections cut: headers not received within `metrics.header_timeout_secs`.
    pub metrics_header_timeouts: Count,
    /// Metrics connections cut: not done within `metrics.connection_timeout_secs`.
    pub metrics_connection_timeouts: Count,
    /// Metrics connections ended by a protocol or I/O error (malformed
    /// request, reset by the client).
    pub metrics_errors: Count,
}

/// A bound on concurrent connections: a permit per connection, released
/// when the connection's task ends.
#[derive(Debug)]
pub struct Limiter {
    slots: Arc<Semaphore>,
    max: usize,
}

impl Limiter {
    /// At most `max` connections.
    pub fn new(max: u32) -> Limiter {
        Limiter {
            slots: Arc::new(Semaphore::new(max as usize)),
            max: max as usize,
        }
    }

    /// A slot for one more connection, if any is free.
    pub fn try_enter(&self) -> Option<OwnedSemaphorePermit> {
        self.slots.clone().try_acquire_owned().ok()
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.max - self.slots.available_permits()
    }

    /// The bound.
    pub fn max(&self) -> usize {
        self.max
    }
}

/// The running servers; stopping (or dropping) them closes every
/// connection and removes the control socket.
pub struct ManagementServers {
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    socket: Option<PathBuf>,
    readonly_socket: Option<PathBuf>,
    /// What the servers counted.
    pub counters: Arc<ServerCounters>,
}

impl ManagementServers {
    /// Binds the control socket and the metrics listener (each if enabled;
    /// an error names which) and starts serving them on their own thread.
    /// Commands that change state go to the management loop over `tx`.
    pub fn start(
        control_cfg: &ControlConfig,
        metrics_cfg: &MetricsConfig,
        ctx: Arc<QueryContext>,
        tx: SyncSender<Command>,
    ) -> io::Result<ManagementServers> {
        let counters = Arc::new(ServerCounters::default());
        let mut servers = ManagementServers {
            stop: None,
            thread: None,
            socket: None,
            readonly_socket: None,
            counters: counters.clone(),
        };
        let control_listener = if control_cfg.enabled {
            let l = control::bind(&control_cfg.socket)
                .map_err(|e| io::Error::new(e.kind(), format!("control socket {}: {e}", control_cfg.socket.display())))?;
            servers.socket = Some(control_cfg.socket.clone());
            Some(l)
        } else {
            None
        };
        // On an error from here on, dropping `servers` removes the socket.
        let readonly_listener = match (&control_cfg.readonly_socket, control_cfg.enabled) {
            (Some(p), true) => {
                let named = |e: io::Error| io::Error::new(e.kind(), format!("read-only control socket {}: {e}", p.display()));
                let gid = match &control_cfg.readonly_group {
                    Some(g) => {
                        Some(super::files::resolve_group(g).map_err(|e| io::Error::new(e.kind(), format!("control.readonly_group: {e}")))?)
                    }
                    None => None,
                };
                let l = control::bind_mode(p, 0o660, gid).map_err(named)?;
                servers.readonly_socket = Some(p.clone());
                Some(l)
            }
            _ => None,
        };
        let metrics_listener = if metrics_cfg.enabled {
            let l = TcpListener::bind(&metrics_cfg.listen)
                .and_then(|l| l.set_nonblocking(true).map(|()| l))
                .map_err(|e| io::Error::new(e.kind(), format!("metrics listener {}: {e}", metrics_cfg.listen)))?;
            Some(l)
        } else {
            None
        };
        if control_listener.is_none() && readonly_listener.is_none() && metrics_listener.is_none() {
            return Ok(servers);
        }
        let limiter = Arc::new(Limiter::new(control_cfg.max_connections));
        let readonly = Arc::new(ControlServer::new(
            control_cfg,
            ctx.clone(),
            tx.clone(),
            counters.clone(),
            limiter.clone(),
            true,
        ));
        let control = Arc::new(ControlServer::new(
            control_cfg,
            ctx.clone(),
            tx,
            counters.clone(),
            limiter.clone(),
            false,
        ));
        let metrics = Arc::new(MetricsServer::new(metrics_cfg, ctx, counters, limiter));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_io()
            .enable_time()
            .max_blocking_threads(BLOCKING_THREADS)
            .thread_name("cgnat-mgmt-blocking")
            .build()?;
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new().name("cgnat-mgmt-io".into()).spawn(move || {
            rt.block_on(serve(
                [(control_listener, control), (readonly_listener, readonly)],
                metrics_listener,
                metrics,
                stop_rx,
            ));
            rt.shutdown_timeout(SHUTDOWN_GRACE);
        })?;
        servers.stop = Some(stop_tx);
        servers.thread = Some(thread);
        Ok(servers)
    }

    /// Stops serving: closes every connection, removes the control socket.
    pub fn stop(self) {
        drop(self);
    }

    /// Waits (at most `deadline`) until every `events --follow` stream has
    /// sent what it was given and closed (after the log ended them).
    pub fn wait_followers(&self, deadline: Duration) {
        let start = std::time::Instant::now();
        while self.counters.control_followers.load(Ordering::Acquire) > 0 && start.elapsed() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for ManagementServers {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        for p in [self.socket.take(), self.readonly_socket.take()].into_iter().flatten() {
            let _ = std::fs::remove_file(p);
        }
    }
}

async fn serve(
    controls: [(Option<UnixListener>, Arc<ControlServer>); 2],
    metrics_listener: Option<TcpListener>,
    metrics: Arc<MetricsServer>,
    stop: oneshot::Receiver<()>,
) {
    for (listener, server) in controls {
        if let Some(l) = listener {
            match tokio::net::UnixListener::from_std(l) {
                Ok(l) => drop(tokio::spawn(server.run(l))),
                Err(e) => log::error!("control socket: cannot serve it: {e}"),
            }
        }
    }
    if let Some(l) = metrics_listener {
        match tokio::net::TcpListener::from_std(l) {
            Ok(l) => drop(tokio::spawn(metrics.run(l))),
            Err(e) => log::error!("metrics listener: cannot serve it: {e}"),
        }
    }
    // Until stopped (or the owner is gone); dropping the runtime then
    // cancels every connection task.
    let _ = stop.await;
}
