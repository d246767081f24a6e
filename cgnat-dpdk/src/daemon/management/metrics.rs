//! Prometheus metrics: the text exposition format (version 0.0.4) over a
//! minimal HTTP/1.0 server (`GET /metrics`) on its own thread.
//!
//! Everything is read from atomics and the lock-free tables at scrape
//! time; a scrape never waits on the data plane.

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use cgnat_core::natlog::EVENT_KINDS;
use cgnat_core::{Counter, DropReason};

use super::query::QueryContext;
use crate::daemon::counters::DpCounter;

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

fn respond(mut s: TcpStream, ctx: &QueryContext) -> io::Result<()> {
    s.set_read_timeout(Some(Duration::from_secs(2)))?;
    s.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut req = Vec::new();
    let mut buf = [0u8; 1024];
    while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 8192 {
        let n = s.read(&mut buf)?;
        if n == 0 {
            break;
        }
        req.extend_from_slice(&buf[..n]);
    }
    let line = String::from_utf8_lossy(&req);
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, ctype, body) = match (method, path.split('?').next().unwrap_or("")) {
        ("GET", "/metrics") => ("200 OK", "text/plain; version=0.0.4; charset=utf-8", render(ctx)),
        ("GET", "/") => ("200 OK", "text/plain; charset=utf-8", "cgnatd: metrics at /metrics\n".into()),
        ("GET", _) => ("404 Not Found", "text/plain; charset=utf-8", "not found\n".into()),
        _ => ("405 Method Not Allowed", "text/plain; charset=utf-8", "only GET\n".into()),
    };
    let head = format!(
        "HTTP/1.0 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())?;
    s.write_all(body.as_bytes())
}

/// Listens on `addr` and serves scrapes until `stop` is set.
pub fn serve(addr: &str, ctx: Arc<QueryContext>, stop: Arc<AtomicBool>) -> io::Result<JoinHandle<()>> {
    let listener = TcpListener::bind(addr)?;
    listener.set_nonblocking(true)?;
    std::thread::Builder::new().name("cgnat-metrics".into()).spawn(move || {
        while !stop.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((s, _)) => {
                    let _ = s.set_nonblocking(false);
                    let _ = respond(s, &ctx);
                }
                Err(_) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    })
}
