//! The packet clock of live mode: the TSC, read once per burst, mapped to
//! time by parameters that the management core re-anchors to the system's
//! realtime clock (and so NTP) every `log.clock.interval_ms`
//! ([`super::discipline`] decides them; issue 10 item 1).
//!
//! The parameters live in a [`ClockCell`], a seqlock: one writer (the
//! management core) bumps a version to odd, stores the fields, bumps it to
//! even. A worker's [`PacketClock`] loads the version once per burst; only
//! when it changed does it read the fields and the version again, and it
//! takes them only if the version did not move. Otherwise it keeps its
//! cached copy and tries again at the next burst: no lock, no spinning, no
//! syscall, no allocation on the worker's path. Each reader also never
//! returns a time below one it returned before (a worker that picks up new
//! parameters a little late could otherwise see a few ns go back).

use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use cgnat_core::Instant;

use super::discipline::{ClockParams, Sample};
use crate::{tsc_cycles, tsc_hz};

/// The shared, versioned clock parameters (a seqlock of atomics).
#[derive(Debug, Default)]
pub struct ClockCell {
    version: AtomicU64,
    base_tsc: AtomicU64,
    base_us: AtomicU64,
    mult: AtomicU64,
}

impl ClockCell {
    /// A cell holding `p` (version 2).
    pub fn new(p: ClockParams) -> ClockCell {
        let c = ClockCell::default();
        c.publish(p);
        c
    }

    /// Publishes `p`. Single writer (the management core).
    pub fn publish(&self, p: ClockParams) {
        let v = self.version.load(Ordering::Relaxed);
        self.version.store(v.wrapping_add(1), Ordering::Relaxed);
        // The odd version is visible before any field changes.
        fence(Ordering::Release);
        self.base_tsc.store(p.base_tsc, Ordering::Relaxed);
        self.base_us.store(p.base_us, Ordering::Relaxed);
        self.mult.store(p.mult, Ordering::Relaxed);
        self.version.store(v.wrapping_add(2), Ordering::Release);
    }

    /// The current version (even: stable; odd: being written).
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// The parameters if they differ from version `known` and could be
    /// read consistently in one attempt; `None` otherwise (never waits).
    #[inline]
    pub fn try_read(&self, known: u64) -> Option<(u64, ClockParams)> {
        let v1 = self.version.load(Ordering::Acquire);
        if v1 == known || v1 & 1 == 1 {
            return None;
        }
        let p = ClockParams {
            base_tsc: self.base_tsc.load(Ordering::Relaxed),
            base_us: self.base_us.load(Ordering::Relaxed),
            mult: self.mult.load(Ordering::Relaxed),
        };
        // The field loads happen before the second version load.
        fence(Ordering::Acquire);
        (self.version.load(Ordering::Relaxed) == v1).then_some((v1, p))
    }

    /// A consistent read, retrying a bounded number of times (management
    /// threads only; workers use [`PacketClock`]).
    pub fn read(&self) -> ClockParams {
        for _ in 0..1000 {
            if let Some((_, p)) = self.try_read(u64::MAX) {
                return p;
            }
            std::hint::spin_loop();
        }
        // A writer stopped half-way is impossible (it never blocks); keep
        // the fields as they are.
        ClockParams {
            base_tsc: self.base_tsc.load(Ordering::Relaxed),
            base_us: self.base_us.load(Ordering::Relaxed),
            mult: self.mult.load(Ordering::Relaxed),
        }
    }
}

/// One reader of the packet clock (each worker and the management core
/// hold their own).
#[derive(Clone, Debug)]
pub struct PacketClock {
    cell: Arc<ClockCell>,
    version: u64,
    params: ClockParams,
    last_us: u64,
}

impl PacketClock {
    /// A reader of `cell` that never returns a time below `floor_us`.
    pub fn new(cell: Arc<ClockCell>, floor_us: u64) -> PacketClock {
        let params = cell.read();
        PacketClock {
            version: cell.version(),
            cell,
            params,
            last_us: floor_us,
        }
    }

    /// The current time: picks up new parameters if they can be read at
    /// once, then one `rdtsc`, a multiply and a shift.
    #[inline]
    pub fn now(&mut self) -> Instant {
        if let Some((v, p)) = self.cell.try_read(self.version) {
            self.version = v;
            self.params = p;
        }
        let t = self.params.at(tsc_cycles()).max(self.last_us);
        self.last_us = t;
        Instant::from_micros(t)
    }

    /// A clock with its own cell, calibrated once against the system clock
    /// and never disciplined (benchmarks, tools).
    pub fn calibrate() -> PacketClock {
        let s = sample();
        let p = ClockParams {
            base_tsc: s.tsc,
            base_us: s.real_us,
            mult: ClockParams::mult_for(1e6 / boot_hz() as f64),
        };
        PacketClock::new(Arc::new(ClockCell::new(p)), 0)
    }

    /// The cell this reader follows.
    pub fn cell(&self) -> &Arc<ClockCell> {
        &self.cell
    }
}

/// The system's realtime clock, µs since the Unix epoch.
pub fn realtime_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// A (TSC, realtime) sample: realtime read between two TSC reads, the TSC
/// taken as their midpoint; the tightest of three tries (so a preemption
/// between the reads does not become an offset).
pub fn sample() -> Sample {
    let mut best: Option<(u64, Sample)> = None;
    for _ in 0..3 {
        let a = tsc_cycles();
        let real_us = realtime_us();
        let b = tsc_cycles();
        let width = b.wrapping_sub(a);
        if best.is_none_or(|(w, _)| width < w) {
            best = Some((
                width,
                Sample {
                    tsc: a + width / 2,
                    real_us,
                },
            ));
        }
    }
    best.map(|(_, s)| s).expect("three samples")
}

/// The TSC frequency the EAL measured at start (after `Eal::init`).
pub fn boot_hz() -> u64 {
    tsc_hz().max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_picks_up_new_parameters_and_never_goes_back() {
        let p = ClockParams {
            base_tsc: 0,
            base_us: 1_000_000,
            mult: 1 << super::super::discipline::SHIFT,
        };
        let cell = Arc::new(ClockCell::new(p));
        let mut r = PacketClock::new(cell.clone(), 0);
        assert_eq!(r.params, p);
        // The parameters move the clock back by 10 s: the reader holds.
        let back = ClockParams { base_us: 0, ..p };
        let before = r.now();
        cell.publish(back);
        assert_ne!(r.version, cell.version());
        let after = r.now();
        assert_eq!(r.params, back, "picked up");
        assert!(after >= before);
        // A version being written (odd) is not read.
        cell.version.fetch_add(1, Ordering::SeqCst);
        assert!(cell.try_read(0).is_none());
    }

    /// The seqlock under a concurrent writer: a reader only ever sees
    /// parameter sets that were published together.
    #[test]
    fn readers_see_only_whole_parameter_sets() {
        let cell = Arc::new(ClockCell::new(ClockParams {
            base_tsc: 0,
            base_us: 0,
            mult: 0,
        }));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let w = {
            let (cell, stop) = (cell.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut i = 1u64;
                while !stop.load(Ordering::Relaxed) {
                    cell.publish(ClockParams {
                        base_tsc: i,
                        base_us: i * 3,
                        mult: i * 7,
                    });
                    i += 1;
                    if i % 64 == 0 {
                        std::thread::yield_now();
                    }
                }
            })
        };
        let mut seen = 0;
        let mut known = 0;
        let start = std::time::Instant::now();
        // Bounded in time and count; a busy machine may let few reads through.
        while seen < 1000 && start.elapsed() < std::time::Duration::from_secs(5) {
            if let Some((v, p)) = cell.try_read(known) {
                known = v;
                assert_eq!((p.base_us, p.mult), (p.base_tsc * 3, p.base_tsc * 7), "torn read");
                seen += 1;
            }
        }
        stop.store(true, Ordering::Relaxed);
        w.join().unwrap();
        assert!(seen > 0);
    }
}
