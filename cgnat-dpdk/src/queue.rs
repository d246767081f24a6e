//! Per-queue handles for worker lcores, and the burst calls themselves.

use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::burst::Burst;
use crate::error::DpdkError;
use crate::ffi;
use crate::port::PortInner;

/// Exclusive handle to one RX queue of a started port.
///
/// `Send` (move it to the worker lcore that polls the queue) but not `Sync`:
/// DPDK queues are single-consumer. While it lives the port stays started.
pub struct RxQueue {
    port: Arc<PortInner>,
    queue: u16,
    _not_sync: PhantomData<Cell<()>>,
}

/// Exclusive handle to one TX queue of a started port (see [`RxQueue`]).
pub struct TxQueue {
    port: Arc<PortInner>,
    queue: u16,
    _not_sync: PhantomData<Cell<()>>,
}

impl RxQueue {
    pub(crate) fn take(port: Arc<PortInner>, queue: u16) -> Result<RxQueue, DpdkError> {
        take_flag(&port, "rx", queue, port.n_rx(), &port.rx_taken)?;
        Ok(RxQueue {
            port,
            queue,
            _not_sync: PhantomData,
        })
    }

    /// Port id.
    pub fn port_id(&self) -> u16 {
        self.port.id
    }

    /// Queue id.
    pub fn queue_id(&self) -> u16 {
        self.queue
    }

    /// Receives up to `burst.spare()` packets into the free tail of `burst`;
    /// returns how many were added. Never allocates.
    #[inline]
    pub fn rx_burst(&mut self, burst: &mut Burst) -> usize {
        // SAFETY: the port is started and stays so while this handle lives
        // (stop/reconfigure need exclusive access to PortInner); the queue
        // id was range-checked in `take` and is used by this handle only.
        unsafe { rx_into(self.port.id, self.queue, burst) }
    }
}

impl TxQueue {
    pub(crate) fn take(port: Arc<PortInner>, queue: u16) -> Result<TxQueue, DpdkError> {
        take_flag(&port, "tx", queue, port.n_tx(), &port.tx_taken)?;
        Ok(TxQueue {
            port,
            queue,
            _not_sync: PhantomData,
        })
    }

    /// Port id.
    pub fn port_id(&self) -> u16 {
        self.port.id
    }

    /// Queue id.
    pub fn queue_id(&self) -> u16 {
        self.queue
    }

    /// Transmits the mbufs of `burst`; returns how many the PMD accepted.
    /// Accepted mbufs leave the burst; **unsent ones stay in it**, in order
    /// (retry, or drop them with [`Burst::clear`]). Never allocates.
    #[inline]
    pub fn tx_burst(&mut self, burst: &mut Burst) -> usize {
        // SAFETY: as in RxQueue::rx_burst.
        unsafe { tx_from(self.port.id, self.queue, burst) }
    }
}

impl Drop for RxQueue {
    fn drop(&mut self) {
        self.port.rx_taken[self.queue as usize].store(false, Ordering::Release);
    }
}

impl Drop for TxQueue {
    fn drop(&mut self) {
        self.port.tx_taken[self.queue as usize].store(false, Ordering::Release);
    }
}

fn take_flag(port: &PortInner, kind: &'static str, queue: u16, n: u16, flags: &[std::sync::atomic::AtomicBool]) -> Result<(), DpdkError> {
    if queue >= n {
        return Err(DpdkError::QueueOutOfRange {
            port: port.id,
            kind,
            requested: queue,
            available: n,
        });
    }
    if flags[queue as usize].swap(true, Ordering::AcqRel) {
        return Err(DpdkError::QueueTaken {
            port: port.id,
            kind,
            queue,
        });
    }
    Ok(())
}

/// `rte_eth_rx_burst` into the free tail of `burst`.
///
/// # Safety
/// `port` must be started, `queue` a set-up RX queue, used by no other
/// thread concurrently.
#[inline]
pub(crate) unsafe fn rx_into(port: u16, queue: u16, burst: &mut Burst) -> usize {
    let (tail, spare) = burst.spare_raw();
    if spare == 0 {
        return 0;
    }
    // SAFETY: `tail` has room for `spare` (<= 32) pointers; the caller
    // guarantees the port/queue state. DPDK writes n owned mbufs.
    let n = unsafe { ffi::cgnat_rx_burst(port, queue, tail, spare as u16) } as usize;
    // SAFETY: DPDK filled exactly n slots after the live ones.
    unsafe { burst.filled(n) };
    n
}

/// `rte_eth_tx_burst` of the mbufs of `burst`; unsent ones stay.
///
/// # Safety
/// `port` must be started, `queue` a set-up TX queue, used by no other
/// thread concurrently.
#[inline]
pub(crate) unsafe fn tx_from(port: u16, queue: u16, burst: &mut Burst) -> usize {
    let (pkts, len) = burst.live_raw();
    if len == 0 {
        return 0;
    }
    // SAFETY: `pkts` holds `len` owned mbufs; the caller guarantees the
    // port/queue state. DPDK takes ownership of the first n it returns.
    let n = unsafe { ffi::cgnat_tx_burst(port, queue, pkts, len as u16) } as usize;
    // SAFETY: the first n mbufs now belong to the PMD.
    unsafe { burst.consumed_front(n) };
    n
}
