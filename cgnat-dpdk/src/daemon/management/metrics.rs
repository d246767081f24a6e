//! Prometheus metrics: the text exposition format (version 0.0.4) served
//! by hyper (`GET /metrics`) on the management plane's async runtime
//! ([`super::servers`]).
//!
//! Everything is read from atomics and the lock-free tables at scrape
//! time; a scrape never waits on the data plane. Issue 9 item 6: scrapes
//! are served concurrently (`metrics.max_connections`), a client must send
//! its request head within `metrics.header_timeout_secs` (slowloris) and
//! be done within `metrics.connection_timeout_secs`, and the rendering runs
//! on the blocking pool so the I/O thread never stalls.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
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

use cgnat_core::natlog::EVENT_KINDS;
use cgnat_core::{Counter, DropReason};

use super::query::QueryContext;
use super::servers::{Limiter, ServerCounters, ACCEPT_BACKOFF};
use crate::daemon::counters::DpCounter;

/// Largest request head (request line and headers) buffered, bytes.
const MAX_REQUEST_HEAD: usize = 16 * 1024;

fn metric(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// The exposition text.
pub fn render(ctx: &QueryContext) -> String {
    let mut o = String::with_capacity(16 * 1024);
    let stats = ctx.stats();
    metric(&mut o, "cgnat_table_used", "gauge", "Entries in use per preallocated table.");
    for t in &stats.tables {
        let _ = writeln!(o, "cgnat_table_used{{table=\"{}\"}} {}", t.name, t.used);
    }
    metric(&mut o, "cgnat_table_capacity", "gauge", "Capacity per preallocated table.");
    for t in &stats.tables {
        let _ = writeln!(o, "cgnat_table_capacity{{table=\"{}\"}} {}", t.name, t.capacity);
    }
    metric(
        &mut o,
        "cgnat_table_fill_ratio",
        "gauge",
        "Used / capacity; alert above 0.8 (a table-fill-alert record is also logged).",
    );
    for t in &stats.tables {
        let r = t.used as f64 / t.capacity.max(1) as f64;
        let _ = writeln!(o, "cgnat_table_fill_ratio{{table=\"{}\"}} {r:.6}", t.name);
    }
    metric(
        &mut o,
        "cgnat_public_address_blocks",
        "gauge",
        "Port blocks allocated per public address.",
    );
    for (a, n) in ctx.blocks_per_address() {
        let _ = writeln!(o, "cgnat_public_address_blocks{{address=\"{a}\"}} {n}");
    }
    metric(&mut o, "cgnat_nat_total", "counter", "NAT counters summed over workers.");
    for c in Counter::ALL {
        let _ = writeln!(o, "cgnat_nat_total{{counter=\"{}\"}} {}", c.name(), stats.nat[c.name()]);
    }
    metric(&mut o, "cgnat_drops_total", "counter", "Packets dropped by the NAT, by reason.");
    for r in DropReason::ALL {
        let _ = writeln!(
            o,
            "cgnat_drops_total{{reason=\"{}\"}} {}",
            r.name(),
            stats.nat[&format!("drop.{}", r.name())]
        );
    }
    metric(
        &mut o,
        "cgnat_log_records_total",
        "counter",
        "NAT log records written, by event (block-alloc = allocations, block-release = releases).",
    );
    for (i, k) in EVENT_KINDS.iter().enumerate() {
        let _ = writeln!(
            o,
            "cgnat_log_records_total{{event=\"{}\"}} {}",
            k.name(),
            ctx.log.by_event[i].load(Ordering::Relaxed)
        );
    }
    metric(
        &mut o,
        "cgnat_log_refused_total",
        "counter",
        "Events refused by a full ring: new blocks refused (log_stalled).",
    );
    let _ = writeln!(o, "cgnat_log_refused_total {}", stats.log.refused);
    metric(
        &mut o,
        "cgnat_log_pending",
        "gauge",
        "Events queued in rings or waiting for the merge.",
    );
    let _ = writeln!(o, "cgnat_log_pending {}", stats.log.pending);
    metric(&mut o, "cgnat_log_stalled", "gauge", "1 while a blocking log target is full.");
    let _ = writeln!(o, "cgnat_log_stalled {}", u8::from(ctx.log.stalled.load(Ordering::Relaxed)));
    metric(
        &mut o,
        "cgnat_log_target_written_total",
        "counter",
        "Records written per log target.",
    );
    for s in &stats.log.sinks {
        let _ = writeln!(o, "cgnat_log_target_written_total{{target=\"{}\"}} {}", s.name, s.written);
    }
    metric(
        &mut o,
        "cgnat_log_target_errors_total",
        "counter",
        "Write errors and dropped records per log target.",
    );
    for s in &stats.log.sinks {
        let _ = writeln!(o, "cgnat_log_target_errors_total{{target=\"{}\"}} {}", s.name, s.errors);
    }
    metric(
        &mut o,
        "cgnat_log_target_failing",
        "gauge",
        "1 while a log target's writes fail (1 also when its writer died; a blocking target then holds new blocks back).",
    );
    for s in &stats.log.sinks {
        let _ = writeln!(
            o,
            "cgnat_log_target_failing{{target=\"{}\"}} {}",
            s.name,
            u8::from(s.failing || s.dead)
        );
    }
    metric(&mut o, "cgnat_log_target_pending", "gauge", "Records buffered per log target.");
    for s in &stats.log.sinks {
        let _ = writeln!(o, "cgnat_log_target_pending{{target=\"{}\"}} {}", s.name, s.pending);
    }
    metric(
        &mut o,
        "cgnat_worker_dataplane_total",
        "counter",
        "Per-worker data-plane counters (rx_inside, tx_outside, ...).",
    );
    for w in &stats.workers {
        for c in DpCounter::ALL {
            let _ = writeln!(
                o,
                "cgnat_worker_dataplane_total{{worker=\"{}\",counter=\"{}\"}} {}",
                w.id,
                c.name(),
                w.dataplane[c.name()]
            );
        }
    }
    metric(
        &mut o,
        "cgnat_worker_translated_total",
        "counter",
        "Per-worker translated packets by direction.",
    );
    for w in &stats.workers {
        for (d, c) in [("out", "translated_out"), ("in", "translated_in")] {
            let _ = writeln!(
                o,
                "cgnat_worker_translated_total{{worker=\"{}\",direction=\"{d}\"}} {}",
                w.id, w.nat[c]
            );
        }
    }
    o
}

/// Appends the management servers' own counters and limits.
pub fn render_servers(o: &mut String, c: &ServerCounters, control: &Limiter, metrics: &Limiter) {
    metric(
        o,
        "cgnat_control_connections_total",
        "counter",
        "Control-socket connections: accepted, or refused at control.max_connections.",
    );
    let _ = writeln!(
        o,
        "cgnat_control_connections_total{{result=\"accepted\"}} {}",
        c.control_accepted.get()
    );
    let _ = writeln!(
        o,
        "cgnat_control_connections_total{{result=\"refused\"}} {}",
        c.control_refused.get()
    );
    metric(o, "cgnat_control_connections_open", "gauge", "Control-socket connections open now.");
    let _ = writeln!(o, "cgnat_control_connections_open {}", control.open());
    metric(o, "cgnat_control_connections_limit", "gauge", "control.max_connections.");
    let _ = writeln!(o, "cgnat_control_connections_limit {}", control.max());
    metric(o, "cgnat_control_requests_total", "counter", "Control requests read.");
    let _ = writeln!(o, "cgnat_control_requests_total {}", c.control_requests.get());
    metric(
        o,
        "cgnat_control_disconnects_total",
        "counter",
        "Control connections closed by the daemon: request_too_long, idle_timeout, write_timeout, follower_lagged.",
    );
    for (reason, n) in [
        ("request_too_long", &c.control_too_long),
        ("idle_timeout", &c.control_idle_timeouts),
        ("write_timeout", &c.control_write_timeouts),
        ("follower_lagged", &c.control_followers_lagged),
    ] {
        let _ = writeln!(o, "cgnat_control_disconnects_total{{reason=\"{reason}\"}} {}", n.get());
    }
    metric(
        o,
        "cgnat_metrics_connections_total",
        "counter",
        "Metrics connections: accepted, or refused (503) at metrics.max_connections.",
    );
    let _ = writeln!(
        o,
        "cgnat_metrics_connections_total{{result=\"accepted\"}} {}",
        c.metrics_accepted.get()
    );
    let _ = writeln!(
        o,
        "cgnat_metrics_connections_total{{result=\"refused\"}} {}",
        c.metrics_refused.get()
    );
    metric(
        o,
        "cgnat_metrics_connections_open",
        "gauge",
        "Metrics connections open now (this one included).",
    );
    let _ = writeln!(o, "cgnat_metrics_connections_open {}", metrics.open());
    metric(o, "cgnat_metrics_connections_limit", "gauge", "metrics.max_connections.");
    let _ = writeln!(o, "cgnat_metrics_connections_limit {}", metrics.max());
    metric(o, "cgnat_metrics_requests_total", "counter", "HTTP requests answered.");
    let _ = writeln!(o, "cgnat_metrics_requests_total {}", c.metrics_requests.get());
    metric(
        o,
        "cgnat_metrics_disconnects_total",
        "counter",
        "Metrics connections cut by the daemon: header_timeout, connection_timeout, error.",
    );
    for (reason, n) in [
        ("header_timeout", &c.metrics_header_timeouts),
        ("connection_timeout", &c.metrics_connection_timeouts),
        ("error", &c.metrics_errors),
    ] {
        let _ = writeln!(o, "cgnat_metrics_disconnects_total{{reason=\"{reason}\"}} {}", n.get());
    }
}

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
        }
    }

    /// The whole exposition: the NAT's metrics and the servers' own.
    pub fn exposition(&self) -> String {
        let mut o = render(&self.ctx);
        render_servers(&mut o, &self.counters, &self.control_slots, &self.slots);
        o
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
                Err(_) => {
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
