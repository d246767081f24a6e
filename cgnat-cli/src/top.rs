//! `cgnatctl top`: live rates from two `stats` answers `--interval` apart
//! (per worker, per drop reason, per table, per NIC port, the log),
//! redrawn in place on a terminal until interrupted; one frame (or
//! `--count N`) otherwise, so scripts and tests can read it.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use serde::Serialize;

use cgnat_core::control::{Request, Response, Stats};

use crate::cli::TopArgs;
use crate::client::{unexpected, Client};
use crate::error::{CliError, CmdResult, EXIT_OK};
use crate::output::{print, Format, Table};

/// One worker's rates, per second.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WorkerRates {
    /// Worker id.
    pub id: u16,
    /// Frames received on the inside port.
    pub rx_inside: f64,
    /// Frames received on the outside port.
    pub rx_outside: f64,
    /// Packets translated inside → outside.
    pub translated_out: f64,
    /// Packets translated outside → inside.
    pub translated_in: f64,
    /// Packets the NAT dropped.
    pub dropped: f64,
    /// Events waiting in its ring.
    pub ring_pending: u64,
}

/// One table's fill and its change.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TableRates {
    /// The table.
    pub name: String,
    /// Entries in use.
    pub used: u64,
    /// Capacity.
    pub capacity: u64,
    /// Entries added (negative: removed) per second.
    pub change: f64,
}

/// One NIC port's rates, per second.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PortRates {
    /// `inside` or `outside`.
    pub port: String,
    /// Packets received.
    pub rx_packets: f64,
    /// Packets transmitted.
    pub tx_packets: f64,
    /// Received bits per second.
    pub rx_bits: f64,
    /// Transmitted bits per second.
    pub tx_bits: f64,
    /// Missed (RX queue full), errors and mbuf failures.
    pub missed: f64,
    /// Receive and transmit errors.
    pub errors: f64,
    /// RX mbuf allocation failures.
    pub no_mbuf: f64,
}

/// One frame of `top`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TopFrame {
    /// Seconds the rates are over.
    pub interval_secs: f64,
    /// Per worker.
    pub workers: Vec<WorkerRates>,
    /// NAT drops per reason (only reasons with drops in the interval).
    pub drops: BTreeMap<String, f64>,
    /// Data-plane drops per counter (only those with drops).
    pub dataplane_drops: BTreeMap<String, f64>,
    /// The tables.
    pub tables: Vec<TableRates>,
    /// The NIC ports.
    pub ports: Vec<PortRates>,
    /// NAT log records written per second.
    pub log_records: f64,
    /// Events waiting to be logged.
    pub log_pending: u64,
}

fn rate(a: u64, b: u64, secs: f64) -> f64 {
    b.saturating_sub(a) as f64 / secs
}

fn get(m: &BTreeMap<String, u64>, k: &str) -> u64 {
    m.get(k).copied().unwrap_or(0)
}

/// Data-plane counters that count dropped frames or packets.
const DP_DROPS: &[&str] = &[
    "tx_drop_inside",
    "tx_drop_outside",
    "unresolved_dropped",
    "neighbour_table_full",
    "no_route",
    "local_dropped",
    "fragmentation_failed",
    "fragment_stash_full",
    "fragment_source_limit",
    "fragments_expired",
    "not_ipv4",
    "other_mac",
    "vlan_mismatch",
    "bad_frame",
    "mbuf_alloc_failed",
    "log_wait_dropped",
];

/// The rates between two `stats` answers `secs` apart.
pub fn frame(a: &Stats, b: &Stats, secs: f64) -> TopFrame {
    let secs = secs.max(1e-3);
    let workers = b
        .workers
        .iter()
        .map(|w| {
            let p = a.workers.iter().find(|x| x.id == w.id);
            let d = |m: fn(&cgnat_core::control::WorkerStats) -> &BTreeMap<String, u64>, k: &str| {
                rate(p.map_or(0, |p| get(m(p), k)), get(m(w), k), secs)
            };
            let drops =
                |x: &cgnat_core::control::WorkerStats| x.nat.iter().filter(|(k, _)| k.starts_with("drop.")).map(|(_, v)| *v).sum::<u64>();
            WorkerRates {
                id: w.id,
                rx_inside: d(|x| &x.dataplane, "rx_inside"),
                rx_outside: d(|x| &x.dataplane, "rx_outside"),
                translated_out: d(|x| &x.nat, "translated_out"),
                translated_in: d(|x| &x.nat, "translated_in"),
                dropped: rate(p.map_or(0, drops), drops(w), secs),
                ring_pending: w.ring_pending,
            }
        })
        .collect();
    let drops = b
        .nat
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix("drop.")?.to_string(), rate(get(&a.nat, k), *v, secs))))
        .filter(|(_, r)| *r > 0.0)
        .collect();
    let dataplane_drops = DP_DROPS
        .iter()
        .map(|k| (k.to_string(), rate(get(&a.dataplane, k), get(&b.dataplane, k), secs)))
        .filter(|(_, r)| *r > 0.0)
        .collect();
    let tables = b
        .tables
        .iter()
        .map(|t| {
            let before = a.tables.iter().find(|x| x.name == t.name).map_or(t.used, |x| x.used);
            TableRates {
                name: t.name.clone(),
                used: t.used,
                capacity: t.capacity,
                change: (t.used as f64 - before as f64) / secs,
            }
        })
        .collect();
    let ports = b
        .ports
        .iter()
        .map(|p| {
            let q = a.ports.iter().find(|x| x.port == p.port).cloned().unwrap_or_default();
            PortRates {
                port: p.port.clone(),
                rx_packets: rate(q.rx_packets, p.rx_packets, secs),
                tx_packets: rate(q.tx_packets, p.tx_packets, secs),
                rx_bits: rate(q.rx_bytes, p.rx_bytes, secs) * 8.0,
                tx_bits: rate(q.tx_bytes, p.tx_bytes, secs) * 8.0,
                missed: rate(q.rx_missed, p.rx_missed, secs),
                errors: rate(q.rx_errors + q.tx_errors, p.rx_errors + p.tx_errors, secs),
                no_mbuf: rate(q.rx_nombuf, p.rx_nombuf, secs),
            }
        })
        .collect();
    TopFrame {
        interval_secs: secs,
        workers,
        drops,
        dataplane_drops,
        tables,
        ports,
        log_records: rate(a.log.records, b.log.records, secs),
        log_pending: b.log.pending,
    }
}

fn r(v: f64) -> String {
    if v >= 1_000_000.0 {
        format!("{:.1}M", v / 1e6)
    } else if v >= 10_000.0 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.0}")
    }
}

/// The human form of a frame.
pub fn render_frame(f: &TopFrame) -> String {
    let mut out = format!("rates per second over {:.1} s\n\n", f.interval_secs);
    let mut t = Table::new(["WORKER", "RX IN", "RX OUT", "XLATE OUT", "XLATE IN", "DROPPED", "RING"]);
    for w in &f.workers {
        t.row([
            w.id.to_string(),
            r(w.rx_inside),
            r(w.rx_outside),
            r(w.translated_out),
            r(w.translated_in),
            r(w.dropped),
            w.ring_pending.to_string(),
        ]);
    }
    out.push_str(&t.render());
    out.push('\n');
    let mut t = Table::new(["TABLE", "USED", "CAPACITY", "FILL", "CHANGE/S"]);
    for x in &f.tables {
        t.row([
            x.name.clone(),
            x.used.to_string(),
            x.capacity.to_string(),
            crate::live::pct(x.used, x.capacity),
            format!("{:+.0}", x.change),
        ]);
    }
    out.push_str(&t.render());
    if !f.ports.is_empty() {
        out.push('\n');
        let mut t = Table::new(["PORT", "RX PPS", "TX PPS", "RX BIT/S", "TX BIT/S", "MISSED", "ERRORS", "NO MBUF"]);
        for p in &f.ports {
            t.row([
                p.port.clone(),
                r(p.rx_packets),
                r(p.tx_packets),
                r(p.rx_bits),
                r(p.tx_bits),
                r(p.missed),
                r(p.errors),
                r(p.no_mbuf),
            ]);
        }
        out.push_str(&t.render());
    }
    out.push('\n');
    if f.drops.is_empty() && f.dataplane_drops.is_empty() {
        out.push_str("no drops\n");
    } else {
        let mut t = Table::new(["DROP REASON", "PER SECOND"]);
        for (k, v) in &f.drops {
            t.row([format!("nat.{k}"), r(*v)]);
        }
        for (k, v) in &f.dataplane_drops {
            t.row([format!("dataplane.{k}"), r(*v)]);
        }
        out.push_str(&t.render());
    }
    out.push_str(&format!("\nlog: {} records/s, {} pending\n", r(f.log_records), f.log_pending));
    out
}

fn stats(c: &mut Client) -> Result<Stats, CliError> {
    match c.call(Request::Stats)? {
        Response::Stats(s) => Ok(s),
        r => Err(unexpected(&r)),
    }
}

/// `cgnatctl top`.
pub fn top(client: &mut Client, a: &TopArgs, f: Format) -> CmdResult {
    if !(0.1..=3600.0).contains(&a.interval) {
        return Err(CliError::usage(format!("--interval {}: between 0.1 and 3600 seconds", a.interval)));
    }
    let tty = std::io::stdout().is_terminal() && f == Format::Human;
    let frames = a.count.unwrap_or(if tty { u32::MAX } else { 1 });
    let mut prev = stats(client)?;
    let mut t0 = Instant::now();
    for i in 0..frames {
        std::thread::sleep(Duration::from_secs_f64(a.interval));
        let cur = stats(client)?;
        let t1 = Instant::now();
        let fr = frame(&prev, &cur, (t1 - t0).as_secs_f64());
        match f {
            Format::Json => print(&(serde_json::to_string(&fr).unwrap_or_default() + "\n"))?,
            Format::Human if tty => print(&format!("\x1b[H\x1b[2J{}", render_frame(&fr)))?,
            Format::Human => {
                if i > 0 {
                    print("\n")?;
                }
                print(&render_frame(&fr))?
            }
        }
        (prev, t0) = (cur, t1);
    }
    Ok(EXIT_OK)
}
