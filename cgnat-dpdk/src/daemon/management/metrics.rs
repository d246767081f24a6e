//! Prometheus metrics: the text exposition format (version 0.0.4, written
//! by [`super::exposition`], every metric in `docs/metrics.md`) served by
//! hyper (`GET /metrics`) on the management plane's async runtime
//! ([`super::servers`]).
//!
//! Everything is read from atomics and the lock-free tables at scrape
//! time; a scrape never waits on the data plane. Issue 9 item 6: scrapes
//! are served concurrently (`metrics.max_connections`), a client must send
//! its request head within `metrics.header_timeout_secs` (slowloris) and
//! be done within `metrics.connection_timeout_secs`, and the rendering runs
//! on the blocking pool so the I/O thread never stalls.

use crate::daemon::daemon_log::Throttled;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use cgnat_core::config::MetricsConfig;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::time::timeout;

use super::exposition::{self, Exposition};
use super::query::QueryContext;
use super::servers::{Limiter, ServerCounters, ACCEPT_BACKOFF};

/// Largest request head (request line and headers) buffered, bytes.
const MAX_REQUEST_HEAD: usize = 16 * 1024;

/// The answer to a connection over `metrics.max_connections`.
fn busy(max: usize) -> Vec<u8> {
    let body = format!("too many connections (metrics.max_connections = {max})\n");
    format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// The metrics endpoint's server state, shared by its connection tasks.
pub struct MetricsServer {
    ctx: Arc<QueryContext>,
    counters: Arc<ServerCounters>,
    control_slots: Arc<Limiter>,
    slots: Arc<Limiter>,
    busy: Vec<u8>,
    header_timeout: Duration,
    connection_timeout: Duration,
    per_address: bool,
}

type Reply = Response<Full<Bytes>>;

fn reply(status: StatusCode, ctype: &'static str, body: String) -> Reply {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    if status == StatusCode::METHOD_NOT_ALLOWED {
        r.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET"));
    }
    r
}

impl MetricsServer {
    /// The server for `cfg`; `control_slots` is the control socket's bound
    /// (exported with the rest).
    pub fn new(cfg: &MetricsConfig, ctx: Arc<QueryContext>, counters: Arc<ServerCounters>, control_slots: Arc<Limiter>) -> MetricsServer {
        MetricsServer {
            ctx,
            counters,
            control_slots,
            slots: Arc::new(Limiter::new(cfg.max_connections)),
            busy: busy(cfg.max_connections as usize),
            header_timeout: Duration::from_secs(cfg.header_timeout_secs.into()),
            connection_timeout: Duration::from_secs(cfg.connection_timeout_secs.into()),
            per_address: cfg.per_address,
        }
    }

    /// The whole exposition: the NAT's metrics and the servers' own.
    pub fn exposition(&self) -> String {
        let mut x = Exposition::default();
        exposition::render(&self.ctx, self.per_address, &mut x);
        super::pcp::render_pcp(&mut x, &self.ctx.pcp.lock());
        super::ha::render_ha(&mut x, &self.ctx.ha.lock());
        exposition::render_servers(&mut x, &self.counters, &self.control_slots, &self.slots);
        x.finish()
    }

    async fn respond(self: Arc<Self>, req: Request<Incoming>) -> Result<Reply, Infallible> {
        self.counters.metrics_requests.inc();
        const TEXT: &str = "text/plain; charset=utf-8";
        Ok(match (req.method(), req.uri().path()) {
            (&Method::GET, "/metrics") => {
                // Table scans: on the blocking pool, not the I/O thread.
                let me = self.clone();
                match tokio::task::spawn_blocking(move || me.exposition()).await {
                    Ok(body) => reply(StatusCode::OK, "text/plain; version=0.0.4; charset=utf-8", body),
                    Err(_) => reply(StatusCode::INTERNAL_SERVER_ERROR, TEXT, "metrics unavailable\n".into()),
                }
            }
            (&Method::GET, "/") => reply(StatusCode::OK, TEXT, "cgnatd: metrics at /metrics\n".into()),
            (&Method::GET, _) => reply(StatusCode::NOT_FOUND, TEXT, "not found\n".into()),
            _ => reply(StatusCode::METHOD_NOT_ALLOWED, TEXT, "only GET\n".into()),
        })
    }

    /// Accepts connections until the runtime stops. Each is served by
    /// hyper (HTTP/1.0 and 1.1, one request per connection) within the
    /// header and connection timeouts.
    pub async fn run(self: Arc<Self>, listener: TcpListener) {
        let timer = TokioTimer::new();
        loop {
            let stream = match listener.accept().await {
                Ok((s, _)) => s,
                Err(e) => {
                    static ACCEPT: Throttled = Throttled::new(std::time::Duration::from_secs(60));
                    ACCEPT.log(log::Level::Error, format_args!("metrics listener: accept failed: {e}; retrying"));
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                    continue;
                }
            };
            let Some(permit) = self.slots.try_enter() else {
                self.counters.metrics_refused.inc();
                // Best effort: a new socket's buffer is empty; never wait.
                let _ = stream.try_write(&self.busy);
                continue;
            };
            self.counters.metrics_accepted.inc();
            let me = self.clone();
            let timer = timer.clone();
            tokio::spawn(async move {
                let svc = me.clone();
                let conn = http1::Builder::new()
                    .timer(timer)
                    .header_read_timeout(me.header_timeout)
                    .keep_alive(false)
                    // `printf 'GET ...' | nc -N` shuts down its side first.
                    .half_close(true)
                    .max_buf_size(MAX_REQUEST_HEAD)
                    .serve_connection(TokioIo::new(stream), service_fn(move |req| svc.clone().respond(req)));
                match timeout(me.connection_timeout, conn).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) if e.is_timeout() => me.counters.metrics_header_timeouts.inc(),
                    Ok(Err(_)) => me.counters.metrics_errors.inc(),
                    Err(_) => me.counters.metrics_connection_timeouts.inc(),
                }
                drop(permit);
            });
        }
    }
}
