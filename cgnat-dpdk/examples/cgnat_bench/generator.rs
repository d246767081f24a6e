//! The generator lcore and the ring PMD ports it shares with the worker.

use super::*;

/// The generator's side of one port: the RX ring it fills, the TX ring it
/// drains.
#[derive(Clone, Copy)]
pub(crate) struct Rings {
    pub(crate) rx: *mut ffi::rte_ring,
    pub(crate) tx: *mut ffi::rte_ring,
}

pub(crate) struct Gen {
    pub(crate) pool: Mempool,
    pub(crate) inside: Rings,
    pub(crate) outside: Rings,
    pub(crate) events: Consumer<Event>,
    pub(crate) hz: f64,
}

/// What one pump run did.
#[derive(Default, Debug)]
pub(crate) struct Pumped {
    pub(crate) sent: u64,
    pub(crate) received: u64,
    pub(crate) cycles: u64,
    /// Samples of the worker's RX backlog (frames waiting), summed.
    pub(crate) backlog_sum: u64,
    pub(crate) samples: u64,
}

impl Pumped {
    pub(crate) fn mpps(&self, hz: f64) -> f64 {
        self.received as f64 / (self.cycles as f64 / hz) / 1e6
    }
    pub(crate) fn backlog(&self) -> f64 {
        self.backlog_sum as f64 / self.samples.max(1) as f64
    }
}

impl Gen {
    pub(crate) fn drain_events(&mut self) {
        for _ in 0..4096 {
            if self.events.pop().is_none() {
                break;
            }
        }
    }

    /// Sends frames built by `make(k, frame)` for k = 0.. into `to`'s RX
    /// ring and receives them from `from`'s TX ring (handing each to
    /// `seen`), recycling the mbufs, until `total` were sent and came back
    /// (or were dropped: no progress for 50 ms), or `max_cycles` passed.
    pub(crate) fn pump(
        &mut self,
        to: Rings,
        from: Rings,
        total: u64,
        max_cycles: u64,
        mut make: impl FnMut(u64, &mut [u8]),
        mut seen: impl FnMut(&[u8]),
    ) -> Pumped {
        let mut p = Pumped::default();
        let mut out: [*mut ffi::rte_mbuf; BURST] = [std::ptr::null_mut(); BURST];
        let mut pending: Vec<*mut ffi::rte_mbuf> = Vec::with_capacity(IN_FLIGHT + BURST);
        let mut in_flight = 0usize;
        let start = tsc_cycles();
        let stall_limit = (self.hz * 0.05) as u64;
        let mut last_progress = start;
        let mut iter = 0u64;
        loop {
            // Take back what the worker sent.
            // SAFETY: `from.tx` is a ring of mbufs this thread alone dequeues.
            let n = unsafe { ffi::cgnat_ring_sc_dequeue_burst(from.tx, out.as_mut_ptr().cast(), BURST as c_uint) } as usize;
            let now = tsc_cycles();
            if n > 0 {
                last_progress = now;
            }
            p.received += n as u64;
            in_flight -= n.min(in_flight);
            for &raw in &out[..n] {
                // SAFETY: an mbuf the worker transmitted, now owned here.
                let mut m = unsafe { Mbuf::from_raw(NonNull::new_unchecked(raw)) };
                seen(m.data());
                if p.sent < total {
                    if m.data_len() != FRAME && m.set_len(FRAME).is_err() {
                        continue;
                    }
                    make(p.sent, m.data_mut());
                    p.sent += 1;
                    pending.push(m.into_raw().as_ptr());
                }
            }
            // Top up the frames in flight with fresh mbufs.
            while p.sent < total && in_flight + pending.len() < IN_FLIGHT {
                let Ok(mut m) = Mbuf::alloc(&self.pool) else { break };
                if m.append(FRAME).is_err() {
                    break;
                }
                make(p.sent, m.data_mut());
                p.sent += 1;
                pending.push(m.into_raw().as_ptr());
            }
            if !pending.is_empty() {
                // SAFETY: `to.rx` is a ring this thread alone enqueues to;
                // ownership of the enqueued mbufs passes to the worker.
                let k = unsafe { ffi::cgnat_ring_sp_enqueue_burst(to.rx, pending.as_ptr().cast(), pending.len() as c_uint) } as usize;
                pending.drain(..k);
                in_flight += k;
            }
            iter += 1;
            if iter & 63 == 0 {
                // SAFETY: read-only count of a live ring.
                p.backlog_sum += u64::from(unsafe { ffi::cgnat_ring_count(to.rx) });
                p.samples += 1;
                self.drain_events();
            }
            let done = p.sent >= total && pending.is_empty() && in_flight == 0;
            if done || now - start > max_cycles {
                break;
            }
            if now - last_progress > stall_limit {
                // The worker dropped what is still counted in flight.
                if p.sent >= total && pending.is_empty() {
                    break;
                }
                in_flight = 0;
                last_progress = now;
            }
        }
        p.cycles = tsc_cycles() - start;
        // Whatever is still queued is freed when it comes back.
        for raw in pending {
            // SAFETY: owned, never enqueued.
            drop(unsafe { Mbuf::from_raw(NonNull::new_unchecked(raw)) });
        }
        p
    }

    /// Frees everything still in the worker's TX rings (after a phase).
    pub(crate) fn settle(&mut self) {
        let t0 = tsc_cycles();
        let mut out: [*mut ffi::rte_mbuf; BURST] = [std::ptr::null_mut(); BURST];
        while (tsc_cycles() - t0) < (self.hz * 0.05) as u64 {
            for r in [self.inside.tx, self.outside.tx] {
                // SAFETY: as in `pump`.
                let n = unsafe { ffi::cgnat_ring_sc_dequeue_burst(r, out.as_mut_ptr().cast(), BURST as c_uint) } as usize;
                for &raw in &out[..n] {
                    // SAFETY: owned here now.
                    drop(unsafe { Mbuf::from_raw(NonNull::new_unchecked(raw)) });
                }
            }
            self.drain_events();
        }
    }
}

pub(crate) fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    s.split_whitespace().nth(1).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0) * 4096
}

pub(crate) fn make_ring(name: &str) -> *mut ffi::rte_ring {
    let c = std::ffi::CString::new(name).expect("ring name");
    let flags = ffi::RING_F_SP_ENQ | ffi::RING_F_SC_DEQ;
    // SAFETY: valid C string, EAL initialised.
    let r = unsafe { ffi::rte_ring_create(c.as_ptr(), RING_SIZE, ffi::SOCKET_ID_ANY, flags) };
    assert!(!r.is_null(), "rte_ring_create({name})");
    r
}

pub(crate) fn open_port(eal: &Eal, name: &str, pool: &Mempool) -> (Port, Rings) {
    let rings = Rings {
        rx: make_ring(&format!("{name}_rx")),
        tx: make_ring(&format!("{name}_tx")),
    };
    let c = std::ffi::CString::new(name).expect("port name");
    // SAFETY: valid name and one RX and one TX ring, which outlive the port.
    let id = unsafe { rte_eth_from_rings(c.as_ptr(), &rings.rx, 1, &rings.tx, 1, 0) };
    assert!(id >= 0, "rte_eth_from_rings({name}) failed");
    let mut port = Port::by_id(eal, id as u16).expect("port");
    let conf = PortConf {
        rss: false,
        promisc: false,
        ..PortConf::default()
    };
    port.configure(1, 1, &conf).expect("configure");
    port.rx_queue_setup(0, 1024, pool).expect("rx queue");
    port.tx_queue_setup(0, 1024).expect("tx queue");
    port.start().expect("start");
    (port, rings)
}
