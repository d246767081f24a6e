//! `cgnatctl gen-log` (hidden): writes a synthetic NAT log with the real
//! formatters of [`cgnat_core::natlog`], for benchmarks and tests.
//!
//! Model: subscribers `100.64.0.0 + i` share public addresses of
//! 198.18.0.0/15 (RFC 2544 benchmark space), 31 to an address (each may
//! hold up to 4 blocks of 512 ports: 124 of the 126 blocks). Over the
//! period each subscriber is active 1 to 4 times, holding one block per
//! activity (a second one in 1 of 5 activities). Blocks come from the
//! address's free list, oldest release first, after a 120 s hold-down.
//! Some blocks are held from before the period (a release without
//! allocation) and activities running past its end are never released.

use std::collections::{BinaryHeap, VecDeque};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use cgnat_core::event::{EventKind, ProtocolScope, Reason};
use cgnat_core::natlog::{self, LogRecord};
use cgnat_core::Instant;

use crate::error::{CliError, CmdResult, EXIT_OK};
use crate::timefmt::{format_time, parse_time, Micros};

/// Output format of the generated log.
#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum GenFormat {
    /// The text format.
    Text,
    /// JSON lines.
    Json,
}

/// `gen-log` arguments.
#[derive(Args, Debug, Clone)]
pub struct GenLogArgs {
    /// Subscribers.
    #[arg(long, default_value_t = 1_000_000)]
    pub subscribers: u32,
    /// Length of the period, hours.
    #[arg(long, default_value_t = 24)]
    pub hours: u32,
    /// Start of the period.
    #[arg(long, default_value = "2023-11-14T00:00:00Z")]
    pub start: String,
    /// The (newest) output file; with --files K, K-1 older ones beside it
    /// (FILE.1, FILE.2[.gz], ...).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Split the period over this many rotated files.
    #[arg(long, default_value_t = 1)]
    pub files: u32,
    /// Compress rotated files from FILE.2 on (like logrotate's delaycompress).
    #[arg(long)]
    pub gzip: bool,
    /// Text or JSON lines.
    #[arg(long, value_enum, default_value = "text")]
    pub format: GenFormat,
    /// Random seed.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

const PER_ADDRESS: u32 = 31;
const BLOCK: u32 = 512;
const BLOCKS: u32 = 126;
const HOLD_DOWN: Micros = 120_000_000;

/// (time, is_release, subscriber index, public index, block)
type Raw = (Micros, bool, u32, u32, u16);

fn simulate_address(a: u32, subs: std::ops::Range<u32>, start: Micros, end: Micros, rng: &mut Rng, out: &mut Vec<Raw>) {
    let span = end - start;
    // Requests: (start, end, subscriber); end may pass the period.
    let mut req: Vec<(Micros, Micros, u32, bool)> = Vec::new();
    for s in subs {
        if rng.below(20) == 0 {
            // Held from before the period: released in its first hour.
            req.push((start - 1, start + rng.below(3_600_000_000) as i64, s, true));
        }
        let k = 1 + rng.below(4) as i64;
        let slot = span / k;
        for j in 0..k {
            let t0 = start + j * slot + rng.below((slot / 2) as u64) as i64;
            let dur = 300_000_000 + rng.below((slot - (t0 - start - j * slot) - 300_000_000).max(1) as u64) as i64;
            let t1 = if rng.below(50) == 0 { end + 1 } else { t0 + dur };
            req.push((t0, t1, s, false));
            if rng.below(5) == 0 {
                let t2 = t0 + dur / 3;
                req.push((t2, t1.min(t2 + dur / 3).max(t2 + 1), s, false));
            }
        }
    }
    req.sort_unstable();
    let mut free: VecDeque<(Micros, u16)> = (0..BLOCKS as u16).map(|b| (Micros::MIN, b)).collect();
    let mut active: BinaryHeap<std::cmp::Reverse<(Micros, u16)>> = BinaryHeap::new();
    for (t0, t1, s, before) in req {
        while let Some(std::cmp::Reverse((e, b))) = active.peek().copied() {
            if e > t0 {
                break;
            }
            active.pop();
            free.push_back((e + HOLD_DOWN, b));
        }
        let Some(&(avail, b)) = free.front() else { continue };
        if avail > t0 {
            continue;
        }
        free.pop_front();
        active.push(std::cmp::Reverse((t1, b)));
        if !before {
            out.push((t0, false, s, a, b));
        }
        if t1 <= end {
            out.push((t1, true, s, a, b));
        }
    }
}

/// The run id of generated logs.
const GENLOG_RUN: u64 = 0x6765_6e6c_6f67_0001;

fn record(seq: u64, r: &Raw, worker: u16, pseq: u64) -> LogRecord {
    let first = 1024 + r.4 as u32 * BLOCK;
    LogRecord {
        seq,
        time: Instant::from_micros(r.0 as u64),
        event: if r.1 { EventKind::BlockReleased } else { EventKind::BlockAllocated },
        subscriber: Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 64, 0, 0)) + r.2),
        public_addr: Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 0)) + r.3),
        first_port: first as u16,
        last_port: (first + BLOCK - 1) as u16,
        protocol: ProtocolScope::All,
        reason: if r.1 { Reason::Idle } else { Reason::NewMapping },
        producer: if r.1 { cgnat_core::event::MANAGEMENT_WORKER } else { worker },
        producer_seq: pseq,
        aux: 0,
        run: GENLOG_RUN,
    }
}

fn rotated_name(out: &Path, k: u32, gzip: bool) -> PathBuf {
    if k == 0 {
        return out.to_path_buf();
    }
    let mut s = out.as_os_str().to_owned();
    s.push(format!(".{k}"));
    if gzip && k >= 2 {
        s.push(".gz");
    }
    PathBuf::from(s)
}

/// `cgnatctl gen-log`.
pub fn run(a: &GenLogArgs) -> CmdResult {
    let start = parse_time(&a.start).map_err(CliError::usage)?;
    if a.hours == 0 || a.files == 0 || a.subscribers == 0 {
        return Err(CliError::usage("--subscribers, --hours and --files must be at least 1"));
    }
    if a.hours > 24 * 366 {
        return Err(CliError::usage("--hours: at most 8784 (a year)"));
    }
    if a.subscribers > 4_000_000 {
        return Err(CliError::usage("--subscribers: at most 4000000 (the /15 pool)"));
    }
    let end = start + a.hours as i64 * 3_600_000_000;
    let mut rng = Rng(a.seed);
    let mut raw: Vec<Raw> = Vec::with_capacity(a.subscribers as usize * 6);
    let addresses = a.subscribers.div_ceil(PER_ADDRESS);
    for addr in 0..addresses {
        let subs = addr * PER_ADDRESS..((addr + 1) * PER_ADDRESS).min(a.subscribers);
        simulate_address(addr, subs, start, end, &mut rng, &mut raw);
    }
    raw.sort_unstable_by_key(|r| (r.0, r.1, r.3, r.4));
    let n = raw.len();
    let per_file = n.div_ceil(a.files as usize).max(1);
    let io = |p: &Path, e: std::io::Error| CliError::usage(format!("cannot write {}: {e}", p.display()));
    let mut pseq = [0u64; 3];
    let mut line = String::with_capacity(1 << 16);
    for (i, chunk) in raw.chunks(per_file).enumerate() {
        let k = a.files - 1 - i as u32;
        let path = rotated_name(&a.out, k, a.gzip);
        let f = File::create(&path).map_err(|e| io(&path, e))?;
        let mut w: Box<dyn Write> = if a.gzip && k >= 2 {
            Box::new(flate2::write::GzEncoder::new(
                BufWriter::with_capacity(1 << 20, f),
                flate2::Compression::fast(),
            ))
        } else {
            Box::new(BufWriter::with_capacity(1 << 20, f))
        };
        for (j, r) in chunk.iter().enumerate() {
            let seq = (i * per_file + j) as u64;
            let worker = (r.2 % 2) as u16;
            let slot = if r.1 { 2 } else { worker as usize };
            let rec = record(seq, r, worker, pseq[slot]);
            pseq[slot] += 1;
            match a.format {
                GenFormat::Text => natlog::text::format_into(&rec, &mut line),
                GenFormat::Json => natlog::json::format_into(&rec, &mut line),
            }
            if line.len() > 60_000 {
                w.write_all(line.as_bytes()).map_err(|e| io(&path, e))?;
                line.clear();
            }
        }
        w.write_all(line.as_bytes()).and_then(|_| w.flush()).map_err(|e| io(&path, e))?;
        line.clear();
        drop(w);
    }
    // A sample for benchmarks: the middle allocation, looked up mid-way.
    let sample = raw.iter().skip(n / 2).find(|r| !r.1).copied();
    let s = sample.map(|r| {
        let q = r.0 + 1_000_000;
        format!(
            "{}:{} --at {}",
            Ipv4Addr::from(u32::from(Ipv4Addr::new(198, 18, 0, 0)) + r.3),
            1024 + r.4 as u32 * BLOCK + 7,
            format_time(q)
        )
    });
    crate::output::print_json(&serde_json::json!({
        "records": n,
        "subscribers": a.subscribers,
        "public_addresses": addresses,
        "files": a.files,
        "from": format_time(start),
        "to": format_time(end),
        "sample_lookup": s,
        "sample_subscriber": sample.map(|r| Ipv4Addr::from(u32::from(Ipv4Addr::new(100, 64, 0, 0)) + r.2).to_string()),
    }))?;
    Ok(EXIT_OK)
}
