//! Packet-buffer pools (`rte_pktmbuf_pool_create`).

use std::ptr::NonNull;
use std::sync::Arc;

use crate::eal::{Eal, EalToken};
use crate::error::{cstring, DpdkError};
use crate::ffi;

/// Default data room of an mbuf: 2048 bytes of packet plus
/// [`HEADROOM`] (DPDK's `RTE_MBUF_DEFAULT_BUF_SIZE`).
pub const DEFAULT_DATA_ROOM: u16 = (ffi::RTE_MBUF_DEFAULT_DATAROOM + ffi::RTE_PKTMBUF_HEADROOM) as u16;

/// Headroom reserved in front of the packet data of a fresh mbuf
/// (`RTE_PKTMBUF_HEADROOM`).
pub const HEADROOM: u16 = ffi::RTE_PKTMBUF_HEADROOM as u16;

/// "Any NUMA socket" (`SOCKET_ID_ANY`).
pub const SOCKET_ANY: i32 = ffi::SOCKET_ID_ANY;

/// A pool of packet mbufs. Cheap to clone (reference counted); the pool is
/// freed when the last clone is dropped.
///
/// Ports keep a clone of the pool of each RX queue, so a pool cannot be
/// freed under a running port. If mbufs of the pool are still in use when
/// the last clone goes away (held by the application or sitting in a ring),
/// the pool is deliberately leaked instead of freed, and so is the EAL
/// (freeing it would leave those mbufs dangling).
#[derive(Clone)]
pub struct Mempool {
    inner: Arc<PoolInner>,
}

struct PoolInner {
    ptr: NonNull<ffi::rte_mempool>,
    name: String,
    size: u32,
    token: Option<EalToken>,
}

// SAFETY: the default mempool ops (ring_mp_mc) are multi-producer /
// multi-consumer and the per-lcore caches are indexed by the calling lcore;
// DPDK documents mempools as usable from any lcore concurrently. We only
// pass the pointer to DPDK functions that are thread-safe.
unsafe impl Send for PoolInner {}
// SAFETY: see above; no interior state is touched from Rust.
unsafe impl Sync for PoolInner {}

impl Mempool {
    /// Creates a packet mbuf pool (`rte_pktmbuf_pool_create`).
    ///
    /// - `name`: unique among pools (DPDK memzone name, < 26 bytes).
    /// - `n_mbufs`: number of mbufs; `2^q - 1` is optimal for the ring.
    /// - `cache`: per-lcore cache size (0..=512, and at most `n_mbufs / 1.5`).
    /// - `data_room`: buffer size including headroom, e.g. [`DEFAULT_DATA_ROOM`].
    /// - `socket`: NUMA socket, or [`SOCKET_ANY`].
    ///
    /// With `--no-huge -m 512`, a few thousand mbufs of the default size fit.
    pub fn new(eal: &Eal, name: &str, n_mbufs: u32, cache: u32, data_room: u16, socket: i32) -> Result<Mempool, DpdkError> {
        let cname = cstring("mempool name", name)?;
        // SAFETY: valid C string; EAL initialised (we hold &Eal).
        let ptr = unsafe { ffi::rte_pktmbuf_pool_create(cname.as_ptr(), n_mbufs, cache, 0, data_room, socket) };
        let Some(ptr) = NonNull::new(ptr) else {
            let err = DpdkError::from_rte_errno(format!(
                "rte_pktmbuf_pool_create({name:?}, {n_mbufs} mbufs, cache {cache}, \
                 data room {data_room})"
            ));
            return Err(match err.errno() {
                Some(12) => DpdkError::Call {
                    op: format!("mempool {name:?} of {n_mbufs} mbufs x {data_room} bytes"),
                    errno: 12,
                    reason: "not enough DPDK memory: use fewer/smaller mbufs or give the EAL \
                             more (-m, hugepages)"
                        .into(),
                },
                _ => err,
            });
        };
        Ok(Mempool {
            inner: Arc::new(PoolInner {
                ptr,
                name: name.to_string(),
                size: n_mbufs,
                token: Some(eal.token()),
            }),
        })
    }

    /// The pool's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Number of mbufs the pool was created with.
    pub fn size(&self) -> u32 {
        self.inner.size
    }

    /// Number of free mbufs (including those in per-lcore caches).
    pub fn avail_count(&self) -> u32 {
        // SAFETY: valid pool pointer; read-only statistics.
        unsafe { ffi::rte_mempool_avail_count(self.inner.ptr.as_ptr()) }
    }

    /// Number of mbufs currently allocated from the pool.
    pub fn in_use_count(&self) -> u32 {
        // SAFETY: valid pool pointer; read-only statistics.
        unsafe { ffi::rte_mempool_in_use_count(self.inner.ptr.as_ptr()) }
    }

    /// The raw `rte_mempool` pointer (valid while this handle lives).
    pub fn as_ptr(&self) -> *mut ffi::rte_mempool {
        self.inner.ptr.as_ptr()
    }
}

impl std::fmt::Debug for Mempool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mempool")
            .field("name", &self.inner.name)
            .field("size", &self.inner.size)
            .field("avail", &self.avail_count())
            .finish()
    }
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        // SAFETY: valid pool pointer; statistics read.
        let in_use = unsafe { ffi::rte_mempool_in_use_count(self.ptr.as_ptr()) };
        if in_use == 0 {
            // SAFETY: no mbuf of the pool is outstanding and no port queue
            // refers to it (ports hold a Mempool clone), so nothing uses it.
            unsafe { ffi::rte_mempool_free(self.ptr.as_ptr()) };
        } else {
            // Mbufs still point into the pool: keep the pool and the EAL.
            std::mem::forget(self.token.take());
        }
    }
}
