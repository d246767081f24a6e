//! Owned packet buffers (`struct rte_mbuf`).

use std::ffi::CStr;
use std::ptr::NonNull;

use crate::error::DpdkError;
use crate::ffi;
use crate::mempool::Mempool;

/// An owned DPDK packet buffer. Dropping it returns it to its pool
/// (`rte_pktmbuf_free`, which frees every segment).
///
/// `#[repr(transparent)]` over a non-null `*mut rte_mbuf`, so a slice of
/// `Mbuf` is an array of mbuf pointers as DPDK's burst functions use them.
///
/// The packet data of a single-segment mbuf ([`Mbuf::is_contiguous`]) is
/// [`Mbuf::data`]; for a chained mbuf it is the first segment only.
#[repr(transparent)]
pub struct Mbuf(NonNull<ffi::rte_mbuf>);

// SAFETY: an Mbuf is uniquely owned; DPDK allows an mbuf to be used and
// freed on any lcore/thread (mempool ops are MP/MC).
unsafe impl Send for Mbuf {}
// SAFETY: `&Mbuf` only allows reads of the mbuf.
unsafe impl Sync for Mbuf {}

impl Mbuf {
    /// Allocates an mbuf from `pool` (`rte_pktmbuf_alloc`), empty, with the
    /// default headroom.
    #[inline]
    pub fn alloc(pool: &Mempool) -> Result<Mbuf, DpdkError> {
        // SAFETY: valid pool pointer (the Mempool handle keeps it alive).
        let m = unsafe { ffi::cgnat_pktmbuf_alloc(pool.as_ptr()) };
        NonNull::new(m)
            .map(Mbuf)
            .ok_or_else(|| DpdkError::MempoolExhausted(pool.name().to_string()))
    }

    /// Takes ownership of a raw mbuf.
    ///
    /// # Safety
    /// `m` must be a valid mbuf that nobody else owns or frees, whose pool
    /// stays alive at least as long as the returned `Mbuf`.
    #[inline]
    pub unsafe fn from_raw(m: NonNull<ffi::rte_mbuf>) -> Mbuf {
        Mbuf(m)
    }

    /// Gives up ownership: the caller must free the mbuf (or pass it to DPDK).
    #[inline]
    pub fn into_raw(self) -> NonNull<ffi::rte_mbuf> {
        let p = self.0;
        std::mem::forget(self);
        p
    }

    /// The raw pointer (still owned by `self`).
    #[inline]
    pub fn as_ptr(&self) -> *mut ffi::rte_mbuf {
        self.0.as_ptr()
    }

    #[inline]
    fn raw(&self) -> &ffi::rte_mbuf {
        // SAFETY: we own a valid mbuf.
        unsafe { self.0.as_ref() }
    }

    /// Total packet length over all segments (`pkt_len`).
    #[inline]
    pub fn len(&self) -> usize {
        self.raw().pkt_len as usize
    }

    /// Whether the packet is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.raw().pkt_len == 0
    }

    /// Length of the first segment (`data_len`).
    #[inline]
    pub fn data_len(&self) -> usize {
        self.raw().data_len as usize
    }

    /// Number of segments.
    #[inline]
    pub fn segments(&self) -> u16 {
        self.raw().nb_segs
    }

    /// Whether the whole packet is in one segment (`rte_pktmbuf_is_contiguous`).
    #[inline]
    pub fn is_contiguous(&self) -> bool {
        self.raw().nb_segs == 1
    }

    /// Input port id set by the receiving PMD.
    #[inline]
    pub fn port(&self) -> u16 {
        self.raw().port
    }

    /// What the PMD reported of the IPv4 header checksum
    /// (`RTE_MBUF_F_RX_IP_CKSUM_MASK` of `ol_flags`). `NONE` (the field is
    /// not valid but the header was checked by other means) is treated as
    /// unknown: the translation updates the checksum incrementally, so it
    /// must be right to begin with.
    #[inline]
    pub fn rx_ip_checksum(&self) -> cgnat_core::RxChecksum {
        match self.ol_flags() & ffi::RTE_MBUF_F_RX_IP_CKSUM_MASK as u64 {
            f if f == ffi::RTE_MBUF_F_RX_IP_CKSUM_GOOD as u64 => cgnat_core::RxChecksum::Good,
            f if f == ffi::RTE_MBUF_F_RX_IP_CKSUM_BAD as u64 => cgnat_core::RxChecksum::Bad,
            _ => cgnat_core::RxChecksum::Unknown,
        }
    }

    /// Offload flags (`ol_flags`).
    #[inline]
    pub fn ol_flags(&self) -> u64 {
        self.raw().ol_flags
    }

    /// RSS hash, when the PMD set one.
    #[inline]
    pub fn rss_hash(&self) -> u32 {
        // SAFETY: reading a plain u32 from a C union of plain integers.
        unsafe { self.raw().__bindgen_anon_2.hash.rss }
    }

    /// The packet data of the first segment (`rte_pktmbuf_mtod`, `data_len`
    /// bytes): the whole packet when [`Mbuf::is_contiguous`].
    #[inline]
    pub fn data(&self) -> &[u8] {
        let m = self.raw();
        // SAFETY: buf_addr + data_off .. + data_len lies inside the mbuf's
        // buffer (DPDK invariant), which we own for the lifetime of &self.
        unsafe { std::slice::from_raw_parts(m.buf_addr.cast::<u8>().add(m.data_off as usize), m.data_len as usize) }
    }

    /// Mutable packet data of the first segment (see [`Mbuf::data`]).
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let m = self.raw();
        let (base, off, len) = (m.buf_addr.cast::<u8>(), m.data_off, m.data_len);
        // SAFETY: as in `data`; &mut self gives exclusive access. Mbufs with
        // refcnt > 1 or external buffers are never created by this crate.
        unsafe { std::slice::from_raw_parts_mut(base.add(off as usize), len as usize) }
    }

    /// Free bytes in front of the data.
    #[inline]
    pub fn headroom(&self) -> usize {
        // `rte_pktmbuf_headroom`: the data starts `data_off` bytes into the buffer.
        self.raw().data_off as usize
    }

    /// Free bytes after the data of the first segment (the whole buffer for
    /// a contiguous mbuf).
    #[inline]
    pub fn tailroom(&self) -> usize {
        // SAFETY: valid mbuf.
        unsafe { ffi::cgnat_pktmbuf_tailroom(self.as_ptr()) as usize }
    }

    /// Grows the packet by `n` bytes at the end (`rte_pktmbuf_append`) and
    /// returns the new (uninitialised-content, zero-copy) tail area.
    pub fn append(&mut self, n: usize) -> Result<&mut [u8], DpdkError> {
        let available = self.tailroom();
        let too_big = || DpdkError::NoRoom {
            op: "append",
            requested: n,
            available,
        };
        let len = u16::try_from(n).map_err(|_| too_big())?;
        // SAFETY: valid mbuf; DPDK checks the room and returns NULL if short.
        let p = unsafe { ffi::cgnat_pktmbuf_append(self.as_ptr(), len) };
        if p.is_null() {
            return Err(too_big());
        }
        // SAFETY: DPDK returned a pointer to `n` bytes inside our buffer.
        Ok(unsafe { std::slice::from_raw_parts_mut(p.cast::<u8>(), n) })
    }

    /// Appends a copy of `bytes` at the end of the packet.
    pub fn extend_from_slice(&mut self, bytes: &[u8]) -> Result<(), DpdkError> {
        self.append(bytes.len())?.copy_from_slice(bytes);
        Ok(())
    }

    /// Grows the packet by `n` bytes at the front (`rte_pktmbuf_prepend`)
    /// and returns the new head area.
    pub fn prepend(&mut self, n: usize) -> Result<&mut [u8], DpdkError> {
        let available = self.headroom();
        match u16::try_from(n) {
            Ok(len) if n <= available => {
                // What `rte_pktmbuf_prepend` does, in Rust (issue 11: no C
                // call per packet to push a VLAN tag): the headroom was
                // checked above.
                // SAFETY: valid mbuf, exclusively owned through &mut self.
                let m = unsafe { self.0.as_mut() };
                m.data_off -= len;
                m.data_len += len;
                m.pkt_len += u32::from(len);
                Ok(&mut self.data_mut()[..n])
            }
            _ => Err(DpdkError::NoRoom {
                op: "prepend",
                requested: n,
                available,
            }),
        }
    }

    /// Removes `n` bytes from the front of the packet (`rte_pktmbuf_adj`).
    pub fn adj(&mut self, n: usize) -> Result<(), DpdkError> {
        let available = self.data_len();
        match u16::try_from(n) {
            Ok(len) if n <= available => {
                // What `rte_pktmbuf_adj` does, in Rust (issue 11: no C call
                // per packet to pop a VLAN tag).
                // SAFETY: valid mbuf, exclusively owned through &mut self.
                let m = unsafe { self.0.as_mut() };
                m.data_off += len;
                m.data_len -= len;
                m.pkt_len -= u32::from(len);
                Ok(())
            }
            _ => Err(DpdkError::NoRoom {
                op: "adj",
                requested: n,
                available,
            }),
        }
    }

    /// Removes `n` bytes from the end of the packet (`rte_pktmbuf_trim`;
    /// only from the last segment).
    pub fn trim(&mut self, n: usize) -> Result<(), DpdkError> {
        let available = self.data_len();
        let err = || DpdkError::NoRoom {
            op: "trim",
            requested: n,
            available,
        };
        let len = u16::try_from(n).map_err(|_| err())?;
        // SAFETY: valid mbuf; DPDK checks len against the last segment.
        if unsafe { ffi::cgnat_pktmbuf_trim(self.as_ptr(), len) } != 0 {
            return Err(err());
        }
        Ok(())
    }

    /// Sets the length of a single-segment packet, growing into the tailroom
    /// or shrinking. New bytes keep whatever the buffer held.
    pub fn set_len(&mut self, len: usize) -> Result<(), DpdkError> {
        if !self.is_contiguous() {
            return Err(DpdkError::NotContiguous(self.segments()));
        }
        let cur = self.data_len();
        if len >= cur {
            self.append(len - cur).map(|_| ())
        } else {
            self.trim(cur - len)
        }
    }

    /// Empties a single-segment packet and restores the default headroom
    /// (`rte_pktmbuf_reset`), keeping the buffer. Segmented mbufs are
    /// rejected (a reset would leak the chained segments).
    pub fn reset(&mut self) -> Result<(), DpdkError> {
        if !self.is_contiguous() {
            return Err(DpdkError::NotContiguous(self.segments()));
        }
        // SAFETY: valid, uniquely owned, single-segment mbuf.
        unsafe { ffi::cgnat_pktmbuf_reset(self.as_ptr()) };
        Ok(())
    }

    /// The RX timestamp written by the PMD, if it set one (see
    /// [`RxTimestamp`]).
    #[inline]
    pub fn rx_timestamp(&self, ts: &RxTimestamp) -> Option<u64> {
        ts.get(self)
    }
}

impl Drop for Mbuf {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: we own the mbuf; its pool outlives it (Mempool contract).
        unsafe { ffi::cgnat_pktmbuf_free(self.0.as_ptr()) }
    }
}

impl std::fmt::Debug for Mbuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mbuf")
            .field("len", &self.len())
            .field("segments", &self.segments())
            .field("port", &self.port())
            .finish()
    }
}

/// Access to the RX timestamp dynamic mbuf field.
///
/// PMDs that timestamp packets (net_pcap: the capture time of each record,
/// in microseconds since the Unix epoch; NICs: their clock) register the
/// dynamic field `rte_dynfield_timestamp` and set the flag
/// `rte_dynflag_rx_timestamp` on each stamped mbuf. Look the field up once,
/// after the port was configured ([`RxTimestamp::lookup`]), then read it per
/// packet without any further lookup.
#[derive(Debug, Clone, Copy)]
pub struct RxTimestamp {
    offset: usize,
    flag: u64,
}

impl RxTimestamp {
    /// Looks up the timestamp field and flag; `None` if no PMD registered
    /// them (yet).
    pub fn lookup() -> Option<RxTimestamp> {
        let field = CStr::from_bytes_with_nul(ffi::RTE_MBUF_DYNFIELD_TIMESTAMP_NAME).ok()?;
        let flag = CStr::from_bytes_with_nul(ffi::RTE_MBUF_DYNFLAG_RX_TIMESTAMP_NAME).ok()?;
        // SAFETY: valid C strings; a NULL params pointer is allowed.
        let offset = unsafe { ffi::rte_mbuf_dynfield_lookup(field.as_ptr(), std::ptr::null_mut()) };
        // SAFETY: as above.
        let bit = unsafe { ffi::rte_mbuf_dynflag_lookup(flag.as_ptr(), std::ptr::null_mut()) };
        let offset = usize::try_from(offset).ok()?;
        let bit = u32::try_from(bit).ok().filter(|&b| b < 64)?;
        // The field must lie inside the mbuf and be 8-byte aligned.
        if offset % 8 != 0 || offset + 8 > std::mem::size_of::<ffi::rte_mbuf>() {
            return None;
        }
        Some(RxTimestamp { offset, flag: 1u64 << bit })
    }

    /// The timestamp of `m`, if the PMD set the RX timestamp flag on it.
    #[inline]
    pub fn get(&self, m: &Mbuf) -> Option<u64> {
        if m.ol_flags() & self.flag == 0 {
            return None;
        }
        // SAFETY: `offset` was registered by DPDK for an 8-byte, 8-aligned
        // field inside struct rte_mbuf (checked in lookup).
        Some(unsafe { m.as_ptr().cast::<u8>().add(self.offset).cast::<u64>().read() })
    }
}
