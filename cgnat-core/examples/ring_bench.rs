//! The worker → management event path, measured: the hand-written SPSC
//! ring ([`cgnat_core::ring`]) against `crossbeam_queue::ArrayQueue`,
//! `crossbeam_channel::bounded` and `std::sync::mpsc::sync_channel`, all
//! carrying [`Event`]s in bursts of 32 the way a worker emits them
//! (docs/decisions/019-crossbeam-parking-lot.md).
//!
//! Modes (IMPL is `ring`, `ring64`, `arrayqueue`, `channel` or `std`;
//! `ring64` is the same ring source with the 64-byte padding it had before
//! crossbeam's 128-byte `CachePadded` replaced it):
//!
//! - `ring_bench st IMPL N`: one thread pushes N events in bursts of 32 and
//!   drains each burst. For callgrind: run with N and 2 N, the difference
//!   divided by N is the instructions per event (push + pop):
//!   `valgrind --tool=callgrind --callgrind-out-file=/dev/null
//!   target/release/examples/ring_bench st ring 1000000`.
//! - `ring_bench mt N RUNS`: two threads, a producer pushing bursts of 32
//!   (spinning while the queue is full) and a consumer draining (spinning
//!   while it is empty), N events per run; every implementation once per
//!   round, RUNS rounds; prints min / median / max million events/s.
//! - `ring_bench tick N RUNS`: the same two threads taking turns as in the
//!   daemon: the producer pushes 8192 events while the consumer waits,
//!   then the consumer drains them all while the producer waits (the
//!   management core drains each ring once a tick).
//! - `ring_bench pad N RUNS`: false sharing: two threads each increment
//!   their own counter N times (`fetch_add`, which must own the line),
//!   the counters 8, 64 or 128 bytes apart (and one thread alone, the
//!   uncontended figure);
//!   prints min / median / max ns per increment.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Instant as WallInstant;

use cgnat_core::event::{EventKind, ProtocolScope, Reason};
use cgnat_core::{Event, Instant};

/// What `src/ring.rs` finds as `crate::mem` when it is compiled a second
/// time below, as [`ring64`].
#[allow(dead_code)]
mod mem {
    /// The hand-written 64-byte `CachePadded` that crossbeam's replaced.
    #[repr(align(64))]
    pub struct CachePadded<T>(T);

    impl<T> CachePadded<T> {
        pub fn new(t: T) -> Self {
            CachePadded(t)
        }
    }

    impl<T> std::ops::Deref for CachePadded<T> {
        type Target = T;
        fn deref(&self) -> &T {
            &self.0
        }
    }

    impl<T> std::ops::DerefMut for CachePadded<T> {
        fn deref_mut(&mut self) -> &mut T {
            &mut self.0
        }
    }
}

/// The ring's own source with the 64-byte padding it had before.
#[allow(dead_code)]
#[path = "../src/ring.rs"]
mod ring64;

/// Events per burst (the data plane's RX burst: at most one event per packet).
const BURST: u64 = 32;
/// Queue capacity: the daemon's default `log.ring_capacity`.
const CAPACITY: usize = 16384;

/// The producing half, whatever the queue.
trait Tx: Send + 'static {
    fn push(&mut self, e: Event) -> Result<(), Event>;
}

/// The consuming half, whatever the queue.
trait Rx: Send + 'static {
    fn pop(&mut self) -> Option<Event>;
}

impl Tx for cgnat_core::ring::Producer<Event> {
    #[inline]
    fn push(&mut self, e: Event) -> Result<(), Event> {
        cgnat_core::ring::Producer::push(self, e)
    }
}

impl Rx for cgnat_core::ring::Consumer<Event> {
    #[inline]
    fn pop(&mut self) -> Option<Event> {
        cgnat_core::ring::Consumer::pop(self)
    }
}

impl Tx for ring64::Producer<Event> {
    #[inline]
    fn push(&mut self, e: Event) -> Result<(), Event> {
        ring64::Producer::push(self, e)
    }
}

impl Rx for ring64::Consumer<Event> {
    #[inline]
    fn pop(&mut self) -> Option<Event> {
        ring64::Consumer::pop(self)
    }
}

/// `ArrayQueue` is multi-producer multi-consumer: both halves share it.
struct Aq(Arc<crossbeam_queue::ArrayQueue<Event>>);

impl Tx for Aq {
    #[inline]
    fn push(&mut self, e: Event) -> Result<(), Event> {
        self.0.push(e)
    }
}

impl Rx for Aq {
    #[inline]
    fn pop(&mut self) -> Option<Event> {
        self.0.pop()
    }
}

impl Tx for crossbeam_channel::Sender<Event> {
    #[inline]
    fn push(&mut self, e: Event) -> Result<(), Event> {
        self.try_send(e).map_err(|e| e.into_inner())
    }
}

impl Rx for crossbeam_channel::Receiver<Event> {
    #[inline]
    fn pop(&mut self) -> Option<Event> {
        self.try_recv().ok()
    }
}

impl Tx for std::sync::mpsc::SyncSender<Event> {
    #[inline]
    fn push(&mut self, e: Event) -> Result<(), Event> {
        self.try_send(e).map_err(|e| match e {
            std::sync::mpsc::TrySendError::Full(e) | std::sync::mpsc::TrySendError::Disconnected(e) => e,
        })
    }
}

impl Rx for std::sync::mpsc::Receiver<Event> {
    #[inline]
    fn pop(&mut self) -> Option<Event> {
        self.try_recv().ok()
    }
}

fn event(seq: u64) -> Event {
    Event {
        seq,
        worker: 1,
        time: Instant::from_micros(seq),
        kind: EventKind::BlockAllocated,
        subscriber: [100, 64, 0, 1].into(),
        public_addr: [192, 0, 2, 1].into(),
        first_port: 1024,
        last_port: 1535,
        protocol: ProtocolScope::All,
        reason: Reason::Start,
        aux: 0,
    }
}

/// One thread: `n` events pushed in bursts, each burst drained. Returns a
/// checksum so nothing is optimised away.
#[inline(never)]
fn single<P: Tx, C: Rx>(mut p: P, mut c: C, n: u64) -> u64 {
    let mut sum = 0u64;
    let mut seq = 0;
    while seq < n {
        for _ in 0..BURST {
            if p.push(event(seq)).is_err() {
                panic!("full");
            }
            seq += 1;
        }
        while let Some(e) = c.pop() {
            sum = sum.wrapping_add(e.seq);
        }
    }
    sum
}

/// Two threads; returns the seconds the consumer took to receive `n`
/// events in order.
fn two_threads<P: Tx, C: Rx>(mut p: P, mut c: C, n: u64) -> f64 {
    let go = Arc::new(Barrier::new(2));
    let go2 = go.clone();
    let t = std::thread::spawn(move || {
        go2.wait();
        let mut seq = 0;
        while seq < n {
            for _ in 0..BURST {
                let mut e = event(seq);
                while let Err(back) = p.push(e) {
                    e = back;
                    std::hint::spin_loop();
                }
                seq += 1;
            }
        }
    });
    go.wait();
    let start = WallInstant::now();
    let mut expect = 0;
    while expect < n {
        match c.pop() {
            Some(e) => {
                assert_eq!(e.seq, expect, "out of order");
                expect += 1;
            }
            None => std::hint::spin_loop(),
        }
    }
    let s = start.elapsed().as_secs_f64();
    t.join().expect("producer");
    s
}

/// Two threads taking turns, the way the daemon uses the ring: the
/// producer pushes `TICK` events (in bursts), then the consumer, which
/// was waiting, drains them all, and so on (the management core drains
/// each ring once a tick). Returns the seconds for `n` events; the
/// consumer reads the producer's lines once per drain, not once per event.
fn ticks<P: Tx, C: Rx>(mut p: P, mut c: C, n: u64) -> f64 {
    const TICK: u64 = 8192;
    let turn = Arc::new(AtomicU64::new(0));
    let turn2 = turn.clone();
    let t = std::thread::spawn(move || {
        let mut seq = 0;
        let mut round = 0;
        while seq < n {
            while turn2.load(Ordering::Acquire) != round * 2 {
                std::hint::spin_loop();
            }
            for _ in 0..TICK {
                if p.push(event(seq)).is_err() {
                    panic!("full");
                }
                seq += 1;
            }
            turn2.store(round * 2 + 1, Ordering::Release);
            round += 1;
        }
    });
    let start = WallInstant::now();
    let mut expect = 0;
    let mut round = 0;
    while expect < n {
        while turn.load(Ordering::Acquire) != round * 2 + 1 {
            std::hint::spin_loop();
        }
        while let Some(e) = c.pop() {
            assert_eq!(e.seq, expect, "out of order");
            expect += 1;
        }
        round += 1;
        turn.store(round * 2, Ordering::Release);
    }
    let s = start.elapsed().as_secs_f64();
    t.join().expect("producer");
    s
}

/// Runs `f` on a fresh queue of kind `imp`.
fn with_queue<R>(imp: &str, f: impl Fns<R>) -> R {
    match imp {
        "ring" => {
            let (p, c) = cgnat_core::ring::ring::<Event>(CAPACITY);
            f.call(p, c)
        }
        "ring64" => {
            let (p, c) = ring64::ring::<Event>(CAPACITY);
            f.call(p, c)
        }
        "arrayqueue" => {
            let q = Arc::new(crossbeam_queue::ArrayQueue::new(CAPACITY));
            f.call(Aq(q.clone()), Aq(q))
        }
        "channel" => {
            let (p, c) = crossbeam_channel::bounded(CAPACITY);
            f.call(p, c)
        }
        "std" => {
            let (p, c) = std::sync::mpsc::sync_channel(CAPACITY);
            f.call(p, c)
        }
        other => panic!("unknown queue {other:?} (ring, ring64, arrayqueue, channel, std)"),
    }
}

/// A generic closure over the two halves (closures cannot be generic).
trait Fns<R> {
    fn call<P: Tx, C: Rx>(self, p: P, c: C) -> R;
}

struct Single(u64);

impl Fns<u64> for Single {
    fn call<P: Tx, C: Rx>(self, p: P, c: C) -> u64 {
        single(p, c, self.0)
    }
}

struct Two(u64);

struct Ticks(u64);

impl Fns<f64> for Ticks {
    fn call<P: Tx, C: Rx>(self, p: P, c: C) -> f64 {
        ticks(p, c, self.0)
    }
}

impl Fns<f64> for Two {
    fn call<P: Tx, C: Rx>(self, p: P, c: C) -> f64 {
        two_threads(p, c, self.0)
    }
}

/// Two threads, each incrementing its own counter `n` times, the counters
/// `dist` bytes apart; ns per increment.
fn false_sharing(dist: usize, n: u64) -> f64 {
    #[repr(align(256))]
    struct Block([AtomicU64; 32]);
    let b = Arc::new(Block(std::array::from_fn(|_| AtomicU64::new(0))));
    let go = Arc::new(Barrier::new(2));
    let (b2, go2) = (b.clone(), go.clone());
    let other = dist / 8;
    let t = std::thread::spawn(move || {
        go2.wait();
        let c = &b2.0[other];
        // Distance 0: the second thread stays idle (the uncontended figure).
        for _ in 0..if dist == 0 { 0 } else { n } {
            c.fetch_add(1, Ordering::Relaxed);
        }
    });
    go.wait();
    let start = WallInstant::now();
    let c = &b.0[0];
    for _ in 0..n {
        c.fetch_add(1, Ordering::Relaxed);
    }
    t.join().expect("second thread");
    let s = start.elapsed().as_secs_f64();
    assert_eq!(b.0[other].load(Ordering::Relaxed), n);
    s * 1e9 / n as f64
}

fn summary(mut v: Vec<f64>) -> String {
    v.sort_by(f64::total_cmp);
    format!("{:8.2} {:8.2} {:8.2}", v[0], v[v.len() / 2], v[v.len() - 1])
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |i: usize, d: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(d);
    match args.first().map(String::as_str) {
        Some("st") => {
            let imp = args.get(1).map(String::as_str).unwrap_or("ring");
            let n = arg(2, 1_000_000);
            let sum = with_queue(imp, Single(n));
            println!("{imp}: {n} events of {} bytes, checksum {sum}", std::mem::size_of::<Event>());
        }
        Some(mode @ ("mt" | "tick")) => {
            let (n, runs) = (arg(1, 20_000_000), arg(2, 9));
            let imps = ["ring", "ring64", "arrayqueue", "channel", "std"];
            let mut rates = vec![Vec::new(); imps.len()];
            for _ in 0..runs {
                for (i, imp) in imps.iter().enumerate() {
                    let s = if mode == "mt" {
                        with_queue(imp, Two(n))
                    } else {
                        with_queue(imp, Ticks(n))
                    };
                    rates[i].push(n as f64 / s / 1e6);
                }
            }
            println!("{mode}: {n} events per run, {runs} rounds; million events/s: min median max");
            for (imp, r) in imps.iter().zip(rates) {
                println!("{imp:>10} {}", summary(r));
            }
        }
        Some("pad") => {
            let (n, runs) = (arg(1, 100_000_000), arg(2, 9));
            let dists = [0, 8, 64, 128];
            let mut t = vec![Vec::new(); dists.len()];
            for _ in 0..runs {
                for (i, d) in dists.iter().enumerate() {
                    t[i].push(false_sharing(*d, n));
                }
            }
            println!("{n} increments per thread, {runs} rounds; ns per increment: min median max");
            for (d, v) in dists.iter().zip(t) {
                let what = if *d == 0 {
                    "one thread alone".to_string()
                } else {
                    format!("{d} B apart")
                };
                println!("{what:>16} {}", summary(v));
            }
        }
        _ => eprintln!("usage: ring_bench st IMPL N | mt N RUNS | tick N RUNS | pad N RUNS (see the source)"),
    }
}
