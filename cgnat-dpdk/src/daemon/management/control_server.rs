//! Serving the control socket (`docs/control-protocol.md`) on the
//! management plane's async runtime ([`super::servers`]).
//!
//! Issue 9 item 6, "the control socket bounds a request before buffering
//! it and never lets a slow or stuck client block others":
//! - lines are framed by tokio-util's [`AnyDelimiterCodec`] with a maximum
//!   length, so no more than about twice `control.max_request_bytes` of a
//!   line is ever buffered (the read buffer grows by doubling); a longer
//!   line is answered `bad-request` and the connection closed;
//! - `control.max_connections` connections at once; more are answered
//!   `unavailable` and closed;
//! - a connection must complete each request line within
//!   `control.idle_timeout_secs` (idle and byte-at-a-time clients alike);
//! - an answer, or a batch of follow records, the client does not read
//!   within `control.write_timeout_secs` drops the connection; a follower
//!   lagging `control.follow_queue` records is dropped by the log;
//! - requests are answered on the blocking pool ([`control::answer`]),
//!   never on the I/O thread.

use crate::daemon::daemon_log::Throttled;
use std::future::poll_fn;
use std::pin::Pin;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender, TryRecvError};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cgnat_core::config::ControlConfig;
use cgnat_core::control::{format_response, parse_request, ErrorCode, JsonRecord, Request, Response, ResponseEnvelope};
use cgnat_core::natlog::LogRecord;
use futures_core::Stream;
use tokio::io::AsyncWriteExt;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::time::timeout;
use tokio_util::codec::{AnyDelimiterCodec, AnyDelimiterCodecError, FramedRead};

use super::control::{self, Command};
use super::log::{Follower, FOLLOW_ENDED, FOLLOW_OPEN};
use super::query::QueryContext;
use super::servers::{Limiter, ServerCounters, ACCEPT_BACKOFF};

/// How often a follower's queue is drained.
const FOLLOW_POLL: Duration = Duration::from_millis(50);
/// Most follow records written in one batch.
const FOLLOW_BATCH: usize = 4096;

type Lines = FramedRead<OwnedReadHalf, AnyDelimiterCodec>;

/// The control socket's server state, shared by its connection tasks.
pub struct ControlServer {
    ctx: Arc<QueryContext>,
    tx: SyncSender<Command>,
    counters: Arc<ServerCounters>,
    slots: Arc<Limiter>,
    max_request: usize,
    idle: Duration,
    write: Duration,
    follow_queue: usize,
    readonly: bool,
}

fn line(r: &ResponseEnvelope) -> String {
    let mut s = format_response(r);
    s.push('\n');
    s
}

async fn next_line(lines: &mut Lines) -> Option<Result<Bytes, AnyDelimiterCodecError>> {
    poll_fn(|cx| Pin::new(&mut *lines).poll_next(cx)).await
}

impl ControlServer {
    /// The server for `cfg`; `slots` bounds its connections.
    /// With `readonly`, it serves the read-only socket: state changes are
    /// refused.
    pub fn new(
        cfg: &ControlConfig,
        ctx: Arc<QueryContext>,
        tx: SyncSender<Command>,
        counters: Arc<ServerCounters>,
        slots: Arc<Limiter>,
        readonly: bool,
    ) -> ControlServer {
        ControlServer {
            ctx,
            tx,
            counters,
            slots,
            max_request: cfg.max_request_bytes as usize,
            idle: Duration::from_secs(cfg.idle_timeout_secs.into()),
            write: Duration::from_secs(cfg.write_timeout_secs.into()),
            follow_queue: cfg.follow_queue as usize,
            readonly,
        }
    }

    /// Accepts connections until the runtime stops.
    pub async fn run(self: Arc<Self>, listener: UnixListener) {
        loop {
            let stream = match listener.accept().await {
                Ok((s, _)) => s,
                Err(e) => {
                    // EMFILE and the like: said once a minute at most.
                    static ACCEPT: Throttled = Throttled::new(std::time::Duration::from_secs(60));
                    ACCEPT.log(log::Level::Error, format_args!("control socket: accept failed: {e}; retrying"));
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            };
            let Some(permit) = self.slots.try_enter() else {
                self.counters.control_refused.inc();
                let busy = ResponseEnvelope::error(
                    0,
                    ErrorCode::Unavailable,
                    format!("too many control connections (control.max_connections = {})", self.slots.max()),
                );
                // Best effort: a new socket's buffer is empty; never wait.
                let _ = stream.try_write(line(&busy).as_bytes());
                continue;
            };
            self.counters.control_accepted.inc();
            let me = self.clone();
            tokio::spawn(async move {
                me.connection(stream).await;
                drop(permit);
            });
        }
    }

    /// Writes `text` within the write timeout; false if the connection is
    /// to be dropped.
    async fn send(&self, w: &mut OwnedWriteHalf, text: &str) -> bool {
        match timeout(self.write, w.write_all(text.as_bytes())).await {
            Ok(Ok(())) => true,
            Ok(Err(_)) => false,
            Err(_) => {
                self.counters.control_write_timeouts.inc();
                false
            }
        }
    }

    async fn connection(&self, stream: UnixStream) {
        let (r, mut w) = stream.into_split();
        let codec = AnyDelimiterCodec::new_with_max_length(b"\n".to_vec(), Vec::new(), self.max_request);
        let mut lines = FramedRead::new(r, codec);
        loop {
            let bytes = match timeout(self.idle, next_line(&mut lines)).await {
                Ok(Some(Ok(b))) => b,
                Ok(None) | Ok(Some(Err(AnyDelimiterCodecError::Io(_)))) => return,
                Ok(Some(Err(AnyDelimiterCodecError::MaxChunkLengthExceeded))) => {
                    self.counters.control_too_long.inc();
                    let e = ResponseEnvelope::error(
                        0,
                        ErrorCode::BadRequest,
                        format!(
                            "request line longer than {} bytes (control.max_request_bytes): closing the connection",
                            self.max_request
                        ),
                    );
                    self.send(&mut w, &line(&e)).await;
                    return;
                }
                Err(_) => {
                    self.counters.control_idle_timeouts.inc();
                    let e = ResponseEnvelope::error(
                        0,
                        ErrorCode::BadRequest,
                        format!(
                            "no complete request within {} s (control.idle_timeout_secs): closing the connection",
                            self.idle.as_secs()
                        ),
                    );
                    // Best effort: an idle client may not be reading either.
                    let _ = w.try_write(line(&e).as_bytes());
                    return;
                }
            };
            let text = String::from_utf8_lossy(&bytes);
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            self.counters.control_requests.inc();
            let env = match parse_request(text) {
                Ok(env) => env,
                Err(e) => {
                    if !self.send(&mut w, &line(&e)).await {
                        return;
                    }
                    continue;
                }
            };
            if let Request::Events { follow: true, last } = env.request {
                self.counters.control_followers.fetch_add(1, Ordering::AcqRel);
                self.follow(lines, w, env.id, last.unwrap_or(0) as usize).await;
                self.counters.control_followers.fetch_sub(1, Ordering::AcqRel);
                return;
            }
            let (ctx, tx, request, ro) = (self.ctx.clone(), self.tx.clone(), env.request, self.readonly);
            let r = tokio::task::spawn_blocking(move || control::answer(&ctx, &tx, &request, ro))
                .await
                .unwrap_or_else(|_| control::unavailable());
            if !self.send(&mut w, &line(&ResponseEnvelope::new(env.id, r))).await {
                return;
            }
        }
    }

    /// `events --follow`: streams the last `last` records, then every
    /// record written, until the client goes away or stops reading (write
    /// timeout), or the log ends the stream: cleanly at shutdown (every
    /// record sent, then an `end` line) or because the follower lagged (an
    /// error line saying records were lost). Issue 15: a follower never
    /// loses a record without being told.
    async fn follow(&self, mut lines: Lines, mut w: OwnedWriteHalf, id: u64, last: usize) {
        let (rec_tx, rec_rx) = sync_channel::<LogRecord>(self.follow_queue);
        let state = Arc::new(AtomicU8::new(FOLLOW_OPEN));
        let follower = Follower {
            tx: rec_tx,
            state: state.clone(),
        };
        let last = last.min(self.follow_queue / 2);
        let tx = self.tx.clone();
        let r = tokio::task::spawn_blocking(move || control::ask(&tx, |r| Command::Follow(follower, last, r)))
            .await
            .unwrap_or_else(|_| control::unavailable());
        let ok = matches!(r, Response::Following);
        if !self.send(&mut w, &line(&ResponseEnvelope::new(id, r))).await || !ok {
            return;
        }
        let mut reading = true;
        let mut batch = String::new();
        loop {
            // Wait one poll interval. Input is read and ignored (bounded by
            // the codec); a half-closed client keeps its stream.
            if reading {
                if let Ok(None | Some(Err(_))) = timeout(FOLLOW_POLL, next_line(&mut lines)).await {
                    reading = false;
                }
            } else {
                tokio::time::sleep(FOLLOW_POLL).await;
            }
            let mut ended = false;
            batch.clear();
            for _ in 0..FOLLOW_BATCH {
                match rec_rx.try_recv() {
                    Ok(rec) => {
                        let record = JsonRecord::from(&rec);
                        batch.push_str(&line(&ResponseEnvelope::new(id, Response::Record { record })));
                    }
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => {
                        ended = true;
                        break;
                    }
                }
            }
            if ended {
                let last = match state.load(Ordering::Acquire) {
                    FOLLOW_ENDED => Response::End {
                        reason: "cgnatd stopped: every record was sent, the last is its daemon-stop".into(),
                    },
                    _ => {
                        self.counters.control_followers_lagged.inc();
                        Response::Error {
                            code: ErrorCode::StreamBroken,
                            message: format!(
                                "this follower fell {} records behind the log (control.follow_queue): records after the last one received were lost to it; reconnect, and read what was missed from the NAT log",
                                self.follow_queue
                            ),
                        }
                    }
                };
                batch.push_str(&line(&ResponseEnvelope::new(id, last)));
            }
            if !batch.is_empty() && !self.send(&mut w, &batch).await {
                return;
            }
            if ended {
                let _ = w.shutdown().await;
                return;
            }
        }
    }
}
