//! The control socket: a Unix stream socket (mode 0600) speaking the
//! versioned JSON-lines protocol of [`cgnat_core::control`]
//! (`docs/control-protocol.md`).
//!
//! [`bind`] creates the socket; [`super::control_server`] serves its
//! connections on the management plane's async runtime and calls
//! [`answer`] (on the runtime's blocking pool) for each request. Read-only
//! requests are answered directly ([`QueryContext`]). Requests that change
//! state or touch the log (`clear`, `reload`, `events`) are sent to the
//! management loop as [`Command`]s and executed there by
//! [`Executor::execute`] between two log pumps, so the sweeper and the log
//! keep a single owner. The data plane never waits on any of this.

use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::time::Duration;

use cgnat_core::config::file;
use cgnat_core::control::{ClearResult, ErrorCode, JsonRecord, Request, Response};
use cgnat_core::event::Event;
use cgnat_core::sweeper::{SweepStats, Sweeper};
use cgnat_core::Instant;

use super::log::{Follower, LogPipeline};
use super::query::QueryContext;

/// How long a request waits for the management loop.
const LOOP_TIMEOUT: Duration = Duration::from_secs(30);

/// A request for the management loop.
pub enum Command {
    /// `clear`.
    Clear(ClearTarget, SyncSender<Response>),
    /// `reload`.
    Reload(Option<PathBuf>, SyncSender<Response>),
    /// `events` without follow: the last `n` records.
    Recent(usize, SyncSender<Response>),
    /// `events --follow`: the last `n` records, then every record written
    /// from now on, into the follower.
    Follow(Follower, usize, SyncSender<Response>),
    /// `ha-switchover`: executed by the management core's HA node.
    HaSwitchover(SyncSender<Response>),
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

/// The answer when the management loop is gone or did not answer.
pub fn unavailable() -> Response {
    Response::Error {
        code: ErrorCode::Unavailable,
        message: "the management loop did not answer (shutting down?)".into(),
    }
}

/// Sends a command to the management loop and waits (at most 30 s) for its
/// answer. Blocking: the async servers call it on the blocking pool.
pub fn ask(tx: &SyncSender<Command>, make: impl FnOnce(SyncSender<Response>) -> Command) -> Response {
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
/// Blocking (table scans, the management loop): run it off the runtime.
/// On the read-only socket (`readonly`), requests that change state are
/// refused with [`ErrorCode::Forbidden`].
pub fn answer(ctx: &QueryContext, tx: &SyncSender<Command>, req: &Request, readonly: bool) -> Response {
    if readonly && matches!(req, Request::Clear { .. } | Request::Reload { .. } | Request::HaSwitchover) {
        return Response::Error {
            code: ErrorCode::Forbidden,
            message: "this is the read-only control socket (control.readonly_socket): it answers queries only; clear, reload and ha switchover need the control socket (control.socket)".into(),
        };
    }
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
        Request::Subscribers { sort, limit } => Response::Subscribers(ctx.subscribers(*sort, *limit)),
        Request::Pcp { subscriber, limit } => Response::Pcp(ctx.pcp_list(*subscriber, *limit)),
        Request::Events { last, .. } => {
            let n = last.unwrap_or(100).min(1_000_000) as usize;
            ask(tx, |r| Command::Recent(n, r))
        }
        Request::Clear { .. } => match clear_target(req) {
            Ok(t) => ask(tx, |r| Command::Clear(t, r)),
            Err(m) => bad(m),
        },
        Request::Reload { path } => ask(tx, |r| Command::Reload(path.clone(), r)),
        Request::Ha => Response::Ha(ctx.ha.lock().clone()),
        Request::HaSwitchover => {
            if !ctx.ha.lock().enabled {
                return bad("this node is not part of an HA pair ([ha] enabled = false)");
            }
            ask(tx, Command::HaSwitchover)
        }
    }
}

/// Binds the control socket at `path` (replacing a stale one, creating
/// the directory 0700 if missing) and sets mode 0600. The listener is
/// non-blocking, ready for the async runtime.
pub fn bind(path: &Path) -> io::Result<UnixListener> {
    bind_mode(path, 0o600, None)
}

/// Binds a control socket at `path` with `mode`; with `group`, the socket
/// gets that group and its directory (if it is the daemon's own and not
/// writable by others) becomes traversable by the group, so its members
/// can reach the socket (the read-only socket: mode 0660).
pub fn bind_mode(path: &Path, mode: u32, group: Option<u32>) -> io::Result<UnixListener> {
    use std::os::unix::fs::MetadataExt;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        std::fs::create_dir_all(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    if let (Some(gid), Some(dir)) = (group, path.parent().filter(|d| !d.as_os_str().is_empty())) {
        let m = std::fs::metadata(dir)?;
        // SAFETY: geteuid has no preconditions.
        let mine = m.uid() == unsafe { libc::geteuid() };
        if mine && m.mode() & 0o002 == 0 && m.mode() & 0o010 == 0 {
            let c = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()).map_err(io::Error::other)?;
            // SAFETY: a NUL-terminated path; -1 keeps the owner.
            if unsafe { libc::chown(c.as_ptr(), u32::MAX, gid) } != 0 {
                return Err(io::Error::last_os_error());
            }
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode((m.mode() & 0o7777) | 0o010))?;
        }
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
    if let Some(gid) = group {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).map_err(io::Error::other)?;
        // SAFETY: a NUL-terminated path; -1 keeps the owner.
        if unsafe { libc::chown(c.as_ptr(), u32::MAX, gid) } != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// The management loop's side: executes [`Command`]s.
pub struct Executor {
    /// The configuration file `reload` reads by default.
    pub config_path: Option<PathBuf>,
    /// The NAT's shared state and the query context (sinks list updated on reload).
    pub ctx: Arc<QueryContext>,
    /// The `[pcp]` table in force (`enabled` and `queue` need a restart;
    /// the rest reloads).
    pub pcp: parking_lot::Mutex<cgnat_core::config::PcpConfig>,
}

/// What [`Executor::run_pending`] did that the management loop acts on.
#[derive(Debug, Default)]
pub struct Executed {
    /// A `clear` ran (the PCP server forgets the mappings it removed).
    pub cleared: bool,
    /// A reload brought a new `[pcp]` table.
    pub pcp: Option<cgnat_core::config::PcpConfig>,
    /// A planned switchover was asked for (answered by the HA node).
    pub switchover: Option<SyncSender<Response>>,
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
        *self.ctx.sinks.lock() = list;
    }

    /// Runs every queued command (non-blocking).
    ///
    /// Returns what the loop must act on: a `clear` ran, a reload brought
    /// a new `[pcp]` table.
    pub fn run_pending(&self, rx: &Receiver<Command>, sweeper: &mut Sweeper<Vec<Event>>, log: &mut LogPipeline, now: Instant) -> Executed {
        let mut done = Executed::default();
        while let Ok(c) = rx.try_recv() {
            done.cleared |= matches!(c, Command::Clear(..));
            if let Command::HaSwitchover(reply) = c {
                done.switchover = Some(reply);
                continue;
            }
            let reload = matches!(c, Command::Reload(..));
            self.execute(c, sweeper, log, now);
            if reload {
                done.pcp = Some(self.pcp.lock().clone());
            }
        }
        done
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
            Command::Follow(f, last, reply) => {
                // The answer first, then the records: the server reads the
                // answer before it drains the follower.
                let _ = reply.send(Response::Following);
                log.follow(f, last);
            }
            Command::HaSwitchover(reply) => {
                let _ = reply.send(Response::Error {
                    code: ErrorCode::Unavailable,
                    message: "this management loop has no HA node".into(),
                });
            }
        }
    }

    fn reload(&self, path: Option<PathBuf>, log: &mut LogPipeline) -> Response {
        let Some(path) = path.or_else(|| self.config_path.clone()) else {
            return Response::Error {
                code: ErrorCode::BadRequest,
                message: "cgnatd runs the embedded lab configuration (--lab): give `path`".into(),
            };
        };
        let invalid = |m: String| {
            log::warn!("reload from {} refused: {m}", path.display());
            Response::Error {
                code: ErrorCode::InvalidConfig,
                message: m,
            }
        };
        // A FIFO or device would block the management loop on its read.
        if std::fs::metadata(&path).is_ok_and(|m| !m.is_file()) {
            return invalid(format!("{}: not a regular file (reload reads a TOML file)", path.display()));
        }
        let cfg = match file::load(Some(&path)) {
            Ok(c) => c,
            Err(e) => return invalid(e.to_string()),
        };
        {
            let running = self.pcp.lock();
            if cfg.pcp.enabled != running.enabled {
                return invalid(format!(
                    "pcp.enabled = {}: the running value is {}; turning the PCP server on or off needs a restart",
                    cfg.pcp.enabled, running.enabled
                ));
            }
            if cfg.pcp.queue != running.queue {
                return invalid(format!(
                    "pcp.queue = {}: the running value is {}; the rings are sized at start, so changing it needs a restart",
                    cfg.pcp.queue, running.queue
                ));
            }
        }
        if let Err(e) = self.ctx.nat.reload(&cfg.nat) {
            return invalid(e.to_string());
        }
        if let Err(e) = log.reopen(&cfg.log) {
            return invalid(format!("log targets: {e}"));
        }
        // Lifetimes, limits, THIRD_PARTY and the request rate apply to
        // the next requests (the loop hands them to the server).
        *self.pcp.lock() = cfg.pcp.clone();
        self.publish_sinks(log);
        // `status` shows the file in force (issue 15: it kept saying
        // "embedded" after a reload from a file).
        *self.ctx.config_source.lock() = path.display().to_string();
        log::info!(
            "configuration reloaded from {}; NAT log targets: {}",
            path.display(),
            log.target_names().join(", ")
        );
        Response::Reloaded {
            path,
            log_targets: log.target_names(),
        }
    }
}
