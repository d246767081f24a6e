//! The coarse packet clock of live mode: the TSC, calibrated once against
//! the system clock at start, read once per burst.

use std::time::{SystemTime, UNIX_EPOCH};

use cgnat_core::Instant;

use crate::{tsc_cycles, tsc_hz};

/// TSC → microseconds since the Unix epoch. `Copy`, so each worker holds
/// its own; reading it is one `rdtsc`, a multiply and a shift (no syscall).
#[derive(Copy, Clone, Debug)]
pub struct TscClock {
    base_us: u64,
    base_tsc: u64,
    /// Microseconds per cycle, as a 32.32 fixed-point number.
    mult: u64,
}

impl TscClock {
    /// Calibrates against the system clock (after `Eal::init`, which
    /// measures the TSC frequency).
    pub fn calibrate() -> TscClock {
        let hz = tsc_hz().max(1);
        let base_tsc = tsc_cycles();
        let base_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros() as u64)
            .unwrap_or(0);
        TscClock {
            base_us,
            base_tsc,
            mult: ((1_000_000u128 << 32) / hz as u128) as u64,
        }
    }

    /// The current time.
    #[inline]
    pub fn now(&self) -> Instant {
        let d = tsc_cycles().wrapping_sub(self.base_tsc);
        Instant::from_micros(self.base_us + ((d as u128 * self.mult as u128) >> 32) as u64)
    }
}
