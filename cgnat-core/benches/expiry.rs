//! Expiry at 16 Mi sessions (issue 11 item 2, docs/decisions/012-expiry-pacing.md).
//! `cargo bench -p cgnat-core --bench expiry` prints, for the paced sweeper
//! (`Sweeper::sweep_paced` every 2 ms, the management loop's idle tick) and
//! for the fixed slice it replaced (`sweep(now, 4096)` every 100 ms):
//!
//! - (a) overstay: 16 Mi UDP sessions created over 120 simulated seconds,
//!   each falling due 120 s after its packet; the time from a session
//!   falling due to its removal (max, p99, median), found by watching
//!   every slot the sweeper visited after each call;
//! - (b) churn: 60 simulated seconds of new sessions at a stated rate
//!   (`CGNAT_BENCH_RATE`, default 1 M/s) from subscribers that never get
//!   a reply, so the 10 s `nat.unconfirmed.timeout` expires them; the
//!   table's fill every 5 s and the sessions refused.
//!
//! The core is sans-IO: time is simulated, the sweeper's own cost is
//! measured as the thread's CPU time around each call (the share of the
//! management core it takes, and the longest call). `CGNAT_BENCH_SMALL=1`: 64 Ki
//! sessions and 4 Ki new sessions/s, a few seconds.

mod fixture;

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant as Wall};

/// This thread's CPU time: what the sweeper itself used, without the
/// time the (shared) machine gave to others.
fn cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec to write to.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

use cgnat_core::event::Event;
use cgnat_core::flow::SessionKey;
use cgnat_core::sweeper::Sweeper;
use cgnat_core::{Instant, Nat, Protocol, Side, Verdict, Worker};

/// Simulated microseconds between management ticks (its idle tick).
const TICK_US: u64 = 2_000;
/// Simulated start, seconds.
const T0: u64 = 1_700_000_000;
/// "Not watched" in [`Watch::due`].
const NONE: u32 = u32::MAX;

#[derive(Copy, Clone, PartialEq, Eq)]
enum Mode {
    /// `sweep_paced` every tick.
    Paced,
    /// main's sweeper: `sweep(now, 4096)` every 100 ms.
    Fixed,
}

impl Mode {
    fn name(self) -> &'static str {
        match self {
            Mode::Paced => "paced (this branch)",
            Mode::Fixed => "fixed 4096 slots / 100 ms (main)",
        }
    }
}

/// Drives the sweeper as the management loop does and times it.
struct Driver {
    sweeper: Sweeper<Vec<Event>>,
    mode: Mode,
    last_fixed: Option<u64>,
    busy: Duration,
    longest: Duration,
    most_slots: usize,
    /// Calls by duration, 1 µs buckets.
    calls: Vec<u64>,
}

impl Driver {
    fn new(nat: Arc<Nat>, mode: Mode) -> Self {
        Driver {
            sweeper: Sweeper::new(nat, Vec::new()),
            mode,
            last_fixed: None,
            busy: Duration::ZERO,
            longest: Duration::ZERO,
            most_slots: 0,
            calls: vec![0; 100_000],
        }
    }

    /// One management tick at `now_us`: the session slots visited, as a
    /// `(from, count)` range.
    fn tick(&mut self, now_us: u64, slots: usize) -> (usize, usize) {
        let from = self.sweeper.session_cursor();
        let now = Instant::from_micros(now_us);
        let w = cpu_time();
        match self.mode {
            Mode::Paced => {
                self.sweeper.sweep_paced(now);
            }
            Mode::Fixed => {
                if self.last_fixed.is_some_and(|l| now_us - l < 100_000) {
                    return (from, 0);
                }
                self.sweeper.sweep(now, 4096);
                self.last_fixed = Some(now_us);
            }
        }
        let d = cpu_time().saturating_sub(w);
        self.busy += d;
        self.longest = self.longest.max(d);
        let top = self.calls.len() - 1;
        self.calls[(d.as_micros() as usize).min(top)] += 1;
        // Release records would go to the log pipeline: not measured here.
        self.sweeper.sink_mut().clear();
        let count = (self.sweeper.session_cursor() + slots - from) % slots;
        self.most_slots = self.most_slots.max(count);
        (from, count)
    }

    /// The call duration (µs) below which `q` of the calls took.
    fn call_quantile(&self, q: f64) -> usize {
        let total: u64 = self.calls.iter().sum();
        let target = (total as f64 * q).ceil() as u64;
        let mut seen = 0;
        for (us, c) in self.calls.iter().enumerate() {
            seen += c;
            if seen >= target {
                return us + 1;
            }
        }
        self.calls.len()
    }

    fn report(&self, sim_secs: f64) -> String {
        format!(
            "sweeper {:.2}% of a core ({:.3} s busy per {sim_secs:.0} simulated s); calls: p99 < {} µs, p99.99 < {} µs, \
             longest {} µs (thread CPU time); most session slots in one call {}",
            self.busy.as_secs_f64() * 100.0 / sim_secs,
            self.busy.as_secs_f64(),
            self.call_quantile(0.99),
            self.call_quantile(0.9999),
            self.longest.as_micros(),
            self.most_slots
        )
    }
}

/// Which session the bench put in each slot and when it falls due, and the
/// overstays seen (histogram in 1 ms buckets).
struct Watch {
    due: Vec<u32>,
    who: Vec<u32>,
    pending: u64,
    hist: Vec<u64>,
    max_us: u64,
    removed: u64,
    early: u64,
}

impl Watch {
    fn new(slots: usize) -> Self {
        Watch {
            due: vec![NONE; slots],
            who: vec![0; slots],
            pending: 0,
            hist: vec![0; 2_000_000],
            max_us: 0,
            removed: 0,
            early: 0,
        }
    }

    fn id(key: &SessionKey) -> u32 {
        (key.inside_addr << 16) | key.inside_port as u32
    }

    /// Watches the session of `key`, due at simulated second `due` (since `T0`).
    fn add(&mut self, nat: &Nat, key: &SessionKey, due: u32) {
        let r = nat.sessions().find(key).expect("the session just created");
        let i = r.index as usize;
        assert_eq!(self.due[i], NONE, "slot {i} watched twice");
        self.due[i] = due;
        self.who[i] = Self::id(key);
        self.pending += 1;
    }

    /// Looks at `count` slots from `from` after a sweep at `now_us`.
    fn observe(&mut self, nat: &Nat, from: usize, count: usize, now_us: u64) {
        let n = self.due.len();
        for k in 0..count {
            let i = (from + k) % n;
            if self.due[i] == NONE {
                continue;
            }
            if nat.sessions().entry(i as u32).is_some_and(|e| Self::id(&e.key) == self.who[i]) {
                continue;
            }
            let due_us = (T0 + self.due[i] as u64) * 1_000_000;
            if now_us < due_us {
                self.early += 1;
            } else {
                let o = now_us - due_us;
                self.max_us = self.max_us.max(o);
                let top = self.hist.len() - 1;
                self.hist[((o / 1000) as usize).min(top)] += 1;
            }
            self.removed += 1;
            self.due[i] = NONE;
            self.pending -= 1;
        }
    }

    /// The overstay (seconds) below which `q` of the removals were.
    fn quantile(&self, q: f64) -> f64 {
        let target = (self.removed as f64 * q).ceil() as u64;
        let mut seen = 0;
        for (ms, c) in self.hist.iter().enumerate() {
            seen += c;
            if seen >= target {
                return (ms + 1) as f64 / 1000.0;
            }
        }
        f64::NAN
    }

    fn report(&self) -> String {
        format!(
            "overstay max {:.3} s, p99 {:.3} s, median {:.3} s ({} removed, {} removed early, {} still live at the end)",
            self.max_us as f64 / 1e6,
            self.quantile(0.99),
            self.quantile(0.5),
            self.removed,
            self.early,
            self.pending
        )
    }
}

/// A NAT for `sessions` sessions from `/16` subscribers (the fixture's
/// configuration), with `unconfirmed_timeout` for subscribers that never
/// got a reply.
fn nat(sessions: u32, unconfirmed_timeout: u32) -> Arc<Nat> {
    let mut cfg = fixture::config(sessions + sessions / 64 + 1024);
    cfg.unconfirmed.timeout = unconfirmed_timeout;
    Arc::new(Nat::new(cfg, 1).expect("valid"))
}

/// Sends the first packet of flow (`sub`, `sport`) at `now_us`; its key if
/// a session was created.
fn open(worker: &mut Worker<Vec<Event>>, sub: u32, sport: u16, k: u64, now_us: u64) -> Option<SessionKey> {
    let src = u32::from(Ipv4Addr::new(100, 64, 0, 0)) + sub;
    let dst = u32::from(Ipv4Addr::new(8, 8, 0, 0)) + (k.wrapping_mul(7919) % 65_536) as u32;
    let mut p = fixture::udp_packet(src, sport, dst, 443);
    let v = worker.process(Side::Inside, &mut p, Instant::from_micros(now_us));
    worker.sink_mut().clear();
    (v == Verdict::Forward(Side::Outside)).then_some(SessionKey {
        protocol: Protocol::Udp,
        inside_addr: src,
        inside_port: sport,
        remote_addr: dst,
        remote_port: 443,
    })
}

/// (a): `subs * flows` sessions created over 120 s, each due 120 s later.
fn overstay(mode: Mode, subs: u32, flows: u32) {
    let total = subs as u64 * flows as u64;
    let nat = nat(total as u32, 120);
    let slots = nat.sessions().slots();
    let mut worker = Worker::new(nat.clone(), 0, Vec::new());
    let mut d = Driver::new(nat.clone(), mode);
    let mut watch = Watch::new(slots);
    let spread_us = 120_000_000u64;
    let start = T0 * 1_000_000;
    let mut t = start;
    let mut k = 0u64;
    let mut scan_only = None;
    let wall = Wall::now();
    // Long enough for main's sweeper to finish its pass (41 Ki slots/s).
    let limit = start + spread_us + 120_000_000 + (slots as u64 / 40_960 + 60) * 1_000_000;
    while t < limit && (k < total || watch.pending > 0) {
        let want = (total * (t - start) / spread_us).min(total);
        while k < want {
            let (f, s) = ((k / subs as u64) as u32, (k % subs as u64) as u32);
            let key = open(&mut worker, s, 10_000 + f as u16, k, t).expect("fill: a session");
            watch.add(&nat, &key, (t / 1_000_000 - T0) as u32 + 120);
            k += 1;
        }
        let (from, count) = d.tick(t, slots);
        watch.observe(&nat, from, count, t);
        t += TICK_US;
        if t == start + spread_us {
            scan_only = Some(d.busy);
        }
    }
    let sim = (t - start) as f64 / 1e6;
    let scan_only = scan_only.unwrap_or_default();
    println!("  {}", mode.name());
    println!("    {}", watch.report());
    println!("    {}", d.report(sim));
    println!(
        "    of which the first 120 s (filling, nothing due): {:.2}% of a core; the rest (the removals): {:.2}%",
        scan_only.as_secs_f64() * 100.0 / (spread_us as f64 / 1e6),
        (d.busy - scan_only).as_secs_f64() * 100.0 / (sim - spread_us as f64 / 1e6)
    );
    println!(
        "    {sim:.0} simulated s in {:.1} s; bound stated for this table with calls 2 ms apart: {:.3} s",
        wall.elapsed().as_secs_f64(),
        d.sweeper.pacing().overstay_bound_us(slots, TICK_US) as f64 / 1e6
    );
}

/// (b): `rate` new sessions per simulated second for `secs` seconds from
/// `subs` subscribers that never get a reply (10 s timeout).
fn churn(mode: Mode, max: u32, subs: u32, rate: u64, secs: u64) {
    let timeout = 10u32;
    let nat = nat(max, timeout);
    let slots = nat.sessions().slots();
    let cap = nat.sessions().capacity();
    let mut worker = Worker::new(nat.clone(), 0, Vec::new());
    let mut d = Driver::new(nat.clone(), mode);
    let mut watch = Watch::new(slots);
    let start = T0 * 1_000_000;
    let end = start + secs * 1_000_000;
    let (mut t, mut k, mut refused, mut refused_shown) = (start, 0u64, 0u64, 0u64);
    let mut fills = Vec::new();
    let mut worker_time = Duration::ZERO;
    let wall = Wall::now();
    println!("  {}", mode.name());
    while t < end {
        let want = rate * (t - start) / 1_000_000;
        let w = Wall::now();
        while k < want {
            let sub = (k % subs as u64) as u32;
            let sport = 1024 + ((k / subs as u64) % 64_000) as u16;
            match open(&mut worker, sub, sport, k, t) {
                Some(key) => watch.add(&nat, &key, (t / 1_000_000 - T0) as u32 + timeout),
                None => refused += 1,
            }
            k += 1;
        }
        worker_time += w.elapsed();
        let (from, count) = d.tick(t, slots);
        watch.observe(&nat, from, count, t);
        t += TICK_US;
        if (t - start) % 5_000_000 == 0 {
            let live = nat.sessions().len();
            fills.push(live);
            println!(
                "    t={:>2} s  live {live:>9} ({:>5.1}% of {cap})  refused in the last 5 s {}",
                (t - start) / 1_000_000,
                live as f64 * 100.0 / cap as f64,
                refused - refused_shown
            );
            refused_shown = refused;
        }
    }
    // Flat once the first sessions expire (timeout + a pass): from 20 s on.
    let steady = &fills[3.min(fills.len())..];
    let (lo, hi) = (steady.iter().min().copied().unwrap_or(0), steady.iter().max().copied().unwrap_or(0));
    println!(
        "    from t=20 s: live between {lo} and {hi} ({:.1}% spread); {k} new sessions at {rate}/simulated s, {refused} refused",
        (hi - lo) as f64 * 100.0 / hi.max(1) as f64
    );
    println!("    {}", watch.report());
    println!("    {}", d.report(secs as f64));
    println!(
        "    {secs} simulated s in {:.1} s; the worker created sessions at {:.2} M/s of real time",
        wall.elapsed().as_secs_f64(),
        k as f64 / worker_time.as_secs_f64() / 1e6
    );
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let small = std::env::var_os("CGNAT_BENCH_SMALL").is_some();
    let (subs, flows, churn_subs) = if small { (256, 256, 256) } else { (65_536, 256, 65_536) };
    let rate: u64 = std::env::var("CGNAT_BENCH_RATE")
        .ok()
        .and_then(|r| r.parse().ok())
        .unwrap_or(if small { 4_096 } else { 1_000_000 });
    let sessions = subs * flows;
    println!("(a) overstay: {sessions} sessions, UDP timeout 120 s, created over 120 s");
    for m in [Mode::Paced, Mode::Fixed] {
        overstay(m, subs, flows);
    }
    println!("(b) churn: {rate} new sessions per simulated second for 60 s, 10 s timeout, table of {sessions}");
    for m in [Mode::Paced, Mode::Fixed] {
        churn(m, sessions, churn_subs, rate, 60);
    }
}
