//! The control socket: a Unix stream socket (mode 0600) speaking the
//! versioned JSON-lines protocol of [`cgnat_core::control`]
//! (`docs/control-protocol.md`).
//!
//! An acceptor thread and one thread per connection parse requests and
//! answer the read-only ones directly ([`QueryContext`]). Requests that
//! change state or touch the log (`clear`, `reload`, `events`) are sent to
//! the management loop as [`Command`]s and executed there by
//! [`Executor::execute`] between two log pumps, so the sweeper and the log
//! keep a single owner. The data plane never waits on any of this.

use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use cgnat_core::config::file;
use cgnat_core::control::{
    format_response, parse_request, ClearResult, ErrorCode, JsonRecord, Request, Response, ResponseEnvelope, MAX_REQUEST_LINE,
};
use cgnat_core::event::Event;
use cgnat_core::natlog::LogRecord;
use cgnat_core::sweeper::{SweepStats, Sweeper};
use cgnat_core::Instant;

use super::log::LogPipeline;
use super::query::QueryContext;

/// How long a connection waits for the management loop.
const LOOP_TIMEOUT: Duration = Duration::from_secs(30);
/// Records a follower may lag before it is disconnected.
const FOLLOW_QUEUE: usize = 65536;
/// Concurrent connections served; more are answered `unavailable` and closed.
pub const MAX_CONNECTIONS: usize = 64;

/// A request for the management loop.
pub enum Command {
    /// `clear`.
    Clear(ClearTarget, SyncSender<Response>),
    /// `reload`.
    Reload(Option<PathBuf>, SyncSender<Response>),
    /// `events` without follow: the last `n` records.
    Recent(usize, SyncSender<Response>),
    /// `events --follow`: stream records into the sender.
    Follow(SyncSender<LogRecord>, SyncSender<Response>),
}

/// What a `clear` removes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum ClearTarget {
    /// One subscriber.
    Subscriber(std::net::Ipv4Addr),
    /// One public address:port.
    Public(std::net::Ipv4Addr, u16),
    /// Everything (explicit `all: true`).
    All,
}

fn unavailable() -> Response {
    Response::Error {
        code: ErrorCode::Unavailable,
        message: "the management loop did not answer (shutting down?)".into(),
    }
}

fn ask(tx: &SyncSender<Command>, make: impl FnOnce(SyncSender<Response>) -> Command) -> Response {
    let (rtx, rrx) = sync_channel(1);
    if tx.send(make(rtx)).is_err() {
        return unavailable();
    }
    rrx.recv_timeout(LOOP_TIMEOUT).unwrap_or_else(|_| unavailable())
}

fn clear_target(r: &Request) -> Result<ClearTarget, String> {
    let Request::Clear {
        subscriber,
        public,
        port,
        all,
    } = r
    else {
        unreachable!()
    };
    match (subscriber, public, port, all) {
        (Some(s), None, None, false) => Ok(ClearTarget::Subscriber(*s)),
        (None, Some(p), Some(port), false) => Ok(ClearTarget::Public(*p, *port)),
        (None, None, None, true) => Ok(ClearTarget::All),
        (None, Some(_), None, false) => Err("clear --public needs `port` as well".into()),
        _ => Err("clear needs exactly one of subscriber, public+port, or all=true".into()),
    }
}

fn bad(message: impl Into<String>) -> Response {
    Response::Error {
        code: ErrorCode::BadRequest,
        message: message.into(),
    }
}

/// Answers one parsed request (everything except the follow stream).
fn answer(ctx: &QueryContext, tx: &SyncSender<Command>, req: &Request) -> Response {
    match req {
        Request::Status => Response::Status(ctx.status()),
        Request::Stats => Response::Stats(ctx.stats()),
        Request::Subscriber { address } => match ctx.subscriber(*address) {
            Some(d) => Response::Subscriber(d),
            None => Response::Error {
                code: ErrorCode::NotFound,
                message: format!("subscriber {address} has no state (no sessions, blocks or static mapping)"),
            },
        },
        Request::Lookup { public, port } => Response::Lookup(ctx.lookup(*public, *port)),
        Request::Sessions { filter, limit } => Response::Sessions(ctx.sessions(filter, *limit)),
        Request::Events { last, .. } => {
            let n = last.unwrap_or(100).min(1_000_000) as usize;
            ask(tx, |r| Command::Recent(n, r))
        }
        Request::Clear { .. } => match clear_target(req) {
            Ok(t) => ask(tx, |r| Command::Clear(t, r)),
            Err(m) => bad(m),
        },
        Request::Reload { path } => ask(tx, |r| Command::Reload(path.clone(), r)),
    }
}

fn write_line(w: &mut UnixStream, r: &ResponseEnvelope) -> io::Result<()> {
    let mut s = format_response(r);
    s.push('\n');
    w.write_all(s.as_bytes())
}

fn connection(stream: UnixStream, ctx: Arc<QueryContext>, tx: SyncSender<Command>, stop: Arc<AtomicBool>) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_millis(200)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut out = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        match reader.read_until(b'\n', &mut line) {
            Ok(0) => return Ok(()),
            Ok(_) if line.last() != Some(&b'\n') && line.len() <= MAX_REQUEST_LINE => continue,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {
                if line.len() > MAX_REQUEST_LINE {
                    let e = ResponseEnvelope::error(0, ErrorCode::BadRequest, "request line longer than 64 KiB");
                    return write_line(&mut out, &e);
                }
                continue;
            }
            Err(e) => return Err(e),
        }
        if line.len() > MAX_REQUEST_LINE {
            let e = ResponseEnvelope::error(0, ErrorCode::BadRequest, "request line longer than 64 KiB");
            return write_line(&mut out, &e);
        }
        let text = String::from_utf8_lossy(&line).trim().to_string();
        line.clear();
        if text.is_empty() {
            continue;
        }
        let env = match parse_request(&text) {
            Ok(env) => env,
            Err(e) => {
                write_line(&mut out, &e)?;
                continue;
            }
        };
        if let Request::Events { follow: true, .. } = env.request {
            return follow(&mut out, env.id, &tx, &stop);
        }
        let r = answer(&ctx, &tx, &env.request);
        write_line(&mut out, &ResponseEnvelope::new(env.id, r))?;
    }
    Ok(())
}

fn follow(out: &mut UnixStream, id: u64, tx: &SyncSender<Command>, stop: &AtomicBool) -> io::Result<()> {
    let (rec_tx, rec_rx) = sync_channel::<LogRecord>(FOLLOW_QUEUE);
    let r = ask(tx, |r| Command::Follow(rec_tx, r));
    let ok = matches!(r, Response::Following);
    write_line(out, &ResponseEnvelope::new(id, r))?;
    if !ok {
        return Ok(());
    }
    while !stop.load(Ordering::Relaxed) {
        match rec_rx.recv_timeout(Duration::from_millis(200)) {
            Ok(rec) => {
                let record = JsonRecord::from(&rec);
                write_line(out, &ResponseEnvelope::new(id, Response::Record { record }))?;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Ok(()),
        }
    }
    Ok(())
}

/// Binds the control socket at `path` (replacing a stale one, creating
/// the directory 0700 if missing), sets mode 0600, and serves it until
/// `stop` is set.
pub fn serve(path: &Path, ctx: Arc<QueryContext>, tx: SyncSender<Command>, stop: Arc<AtomicBool>) -> io::Result<JoinHandle<()>> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    if path.exists() {
        if UnixStream::connect(path).is_ok() {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("{}: another cgnatd is serving this control socket", path.display()),
            ));
        }
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    listener.set_nonblocking(true)?;
    let path = path.to_path_buf();
    let live = Arc::new(AtomicUsize::new(0));
    std::thread::Builder::new().name("cgnat-control".into()).spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((mut s, _)) => {
                    let _ = s.set_nonblocking(false);
                    if live.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
                        let busy = ResponseEnvelope::error(0, ErrorCode::Unavailable, "too many control connections");
                        let _ = write_line(&mut s, &busy);
                        continue;
                    }
                    live.fetch_add(1, Ordering::Relaxed);
                    let (ctx, tx, stop, done) = (ctx.clone(), tx.clone(), stop.clone(), live.clone());
                    let spawned = std::thread::Builder::new().name("cgnat-control-conn".into()).spawn(move || {
                        let _ = connection(s, ctx, tx, stop);
                        done.fetch_sub(1, Ordering::Relaxed);
                    });
                    if spawned.is_err() {
                        // The thread (and its decrement) never ran.
                        live.fetch_sub(1, Ordering::Relaxed);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(50)),
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        let _ = std::fs::remove_file(&path);
    })
}

/// The management loop's side: executes [`Command`]s.
pub struct Executor {
    /// The configuration file `reload` reads by default.
    pub config_path: Option<PathBuf>,
    /// The NAT's shared state and the query context (sinks list updated on reload).
    pub ctx: Arc<QueryContext>,
}

fn cleared(s: SweepStats) -> Response {
    Response::Cleared(ClearResult {
        sessions: s.sessions_expired,
        mappings: s.mappings_freed,
        blocks: s.blocks_released,
        deferred: s.releases_deferred,
    })
}

impl Executor {
    /// Publishes the pipeline's targets to the query context.
    pub fn publish_sinks(&self, log: &LogPipeline) {
        let list = log
            .sinks()
            .iter()
            .map(|s| (s.name().to_string(), s.counters().clone(), s.capacity()))
            .collect();
        *self.ctx.sinks.lock().unwrap() = list;
    }

    /// Runs every queued command (non-blocking).
    pub fn run_pending(&self, rx: &Receiver<Command>, sweeper: &mut Sweeper<Vec<Event>>, log: &mut LogPipeline, now: Instant) {
        while let Ok(c) = rx.try_recv() {
            self.execute(c, sweeper, log, now);
        }
    }

    /// Executes one command at packet-clock time `now`.
    pub fn execute(&self, c: Command, sweeper: &mut Sweeper<Vec<Event>>, log: &mut LogPipeline, now: Instant) {
        match c {
            Command::Clear(t, reply) => {
                let s = match t {
                    ClearTarget::Subscriber(a) => sweeper.clear_subscriber(a, now),
                    ClearTarget::Public(a, p) => sweeper.clear_public(a, p, now),
                    ClearTarget::All => sweeper.clear_all(now),
                };
                let _ = reply.send(cleared(s));
            }
            Command::Reload(path, reply) => {
                let _ = reply.send(self.reload(path, log));
            }
            Command::Recent(n, reply) => {
                let records = log.recent(n).iter().map(JsonRecord::from).collect();
                let _ = reply.send(Response::Records { records });
            }
            Command::Follow(tx, reply) => {
                log.follow(tx);
                let _ = reply.send(Response::Following);
            }
        }
    }

    fn reload(&self, path: Option<PathBuf>, log: &mut LogPipeline) -> Response {
        let Some(path) = path.or_else(|| self.config_path.clone()) else {
            return Response::Error {
                code: ErrorCode::BadRequest,
                message: "cgnatd runs the embedded configuration: give `path`".into(),
            };
        };
        let invalid = |m: String| Response::Error {
            code: ErrorCode::InvalidConfig,
            message: m,
        };
        let cfg = match file::load(Some(&path)) {
            Ok(c) => c,
            Err(e) => return invalid(e.to_string()),
        };
        if let Err(e) = self.ctx.nat.reload(&cfg.nat) {
            return invalid(e.to_string());
        }
        if let Err(e) = log.reopen(&cfg.log) {
            return invalid(format!("log targets: {e}"));
        }
        self.publish_sinks(log);
        Response::Reloaded {
            path,
            log_targets: log.target_names(),
        }
    }
}
