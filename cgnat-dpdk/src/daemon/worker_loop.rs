//! The live worker: a poll-mode loop on one lcore, run to completion.
//!
//! Each iteration reads the clock once (picking up the management core's
//! new clock parameters without a lock, see [`super::clock`]), takes a burst from its inside RX
//! queue and one from its outside RX queue, hands each burst to the
//! [`Router`] ([`Router::handle_burst`]: it parses every packet once and
//! prefetches the table entries the whole burst will need, so the session
//! lookups of the burst overlap their cache misses, then handles every
//! frame), transmits what was queued on its own TX queues, and does
//! housekeeping (held packets) when needed. No lock, no heap allocation,
//! no system call, except an optional short sleep after many empty polls
//! (`dataplane.idle_sleep_us`, for labs that share CPUs; 0 on dedicated
//! cores).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use cgnat_core::{Instant, Side};

use super::clock::PacketClock;
use super::router::{Egress, Router};
use crate::{Burst, RxQueue, TxQueue};

/// Empty polls before an idle worker starts sleeping.
const IDLE_POLLS: u32 = 256;
/// Housekeeping interval when nothing is held, microseconds.
const HOUSEKEEPING_US: u64 = 1000;
/// Attempts to hand a burst to a full TX queue before dropping the rest.
const TX_ATTEMPTS: usize = 8;

/// The worker's two TX queues.
pub struct QueueEgress {
    /// TX queue of the inside port.
    pub inside: TxQueue,
    /// TX queue of the outside port.
    pub outside: TxQueue,
}

impl Egress for QueueEgress {
    #[inline]
    fn transmit(&mut self, side: Side, burst: &mut Burst, _now: Instant) {
        let q = match side {
            Side::Inside => &mut self.inside,
            Side::Outside => &mut self.outside,
        };
        for _ in 0..TX_ATTEMPTS {
            q.tx_burst(burst);
            if burst.is_empty() {
                return;
            }
        }
    }
}

/// Everything one worker lcore owns.
pub struct WorkerContext {
    /// Worker id (0-based; also its queue index on both ports).
    pub id: u16,
    /// The router (NAT worker inside).
    pub router: Router,
    /// RX queue of the inside port.
    pub rx_inside: RxQueue,
    /// RX queue of the outside port.
    pub rx_outside: RxQueue,
    /// TX queues.
    pub egress: QueueEgress,
    /// The packet clock.
    pub clock: PacketClock,
    /// Set by the management core to stop the loop.
    pub stop: Arc<AtomicBool>,
    /// Sleep when idle, microseconds (0: never).
    pub idle_sleep_us: u32,
    /// The packet clock at the end of the last iteration, published for the
    /// NAT log merge (every later event of this worker is at or after it);
    /// `u64::MAX` once stopped.
    pub watermark: Arc<AtomicU64>,
}

/// The loop; returns 0 when stopped. At stop, queued frames are sent,
/// packets whose next hop resolved meanwhile too, and the rest is dropped.
pub fn run(mut w: WorkerContext) -> i32 {
    // PMD receive signals go to DPDK's interrupt thread, not here (see
    // `signals`); a failure only costs time, so it is not fatal.
    let _ = crate::signals::block_rx_signals_in_this_thread();
    let mut burst = Burst::new();
    let mut idle = 0u32;
    let mut last_housekeeping = 0u64;
    let mut now = w.clock.now();
    while !w.stop.load(Ordering::Relaxed) {
        now = w.clock.now();
        let mut n = w.rx_inside.rx_burst(&mut burst);
        w.router.handle_burst(Side::Inside, &mut burst, now, &mut w.egress);
        n += w.rx_outside.rx_burst(&mut burst);
        w.router.handle_burst(Side::Outside, &mut burst, now, &mut w.egress);
        if w.router.held() > 0 || now.as_micros().wrapping_sub(last_housekeeping) >= HOUSEKEEPING_US {
            w.router.housekeeping(now, &mut w.egress);
            last_housekeeping = now.as_micros();
        }
        w.router.flush(now, &mut w.egress);
        // One release store: the events pushed above are visible before it.
        w.watermark.store(now.as_micros(), Ordering::Release);
        if n == 0 {
            idle = idle.saturating_add(1);
            if w.idle_sleep_us > 0 && idle > IDLE_POLLS {
                std::thread::sleep(Duration::from_micros(w.idle_sleep_us as u64));
            }
        } else {
            idle = 0;
        }
    }
    w.router.housekeeping(now, &mut w.egress);
    w.router.flush(now, &mut w.egress);
    w.router.drop_held();
    w.watermark.store(u64::MAX, Ordering::Release);
    0
}
