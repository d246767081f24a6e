//! Errors of the DPDK layer, each with a message that names the cause.

use std::ffi::CStr;

use crate::ffi;

/// Everything that can go wrong in the DPDK layer.
///
/// DPDK reports errors as (negative) `errno` values, either as a return value
/// (ethdev) or in the per-lcore `rte_errno` (EAL, mempool, ring). The
/// variants keep the number and DPDK's text for it (`rte_strerror`).
#[derive(Debug, thiserror::Error)]
pub enum DpdkError {
    /// `rte_eal_init` was already called in this process (successfully or
    /// not): DPDK allows one initialisation per process.
    #[error("the DPDK EAL is already initialised in this process (rte_eal_init runs once per process)")]
    EalAlreadyInitialized,

    /// `rte_eal_init` failed.
    #[error("DPDK EAL initialisation failed: {reason} (rte_errno {errno}){hint}")]
    EalInit {
        /// `rte_errno` after the failure.
        errno: i32,
        /// `rte_strerror(errno)`.
        reason: String,
        /// A suggestion for the usual causes, starting with "; " (or empty).
        hint: String,
    },

    /// A string argument contained an interior NUL byte.
    #[error("{what} {value:?} contains a NUL byte")]
    NulByte {
        /// What the string was (e.g. "EAL argument").
        what: &'static str,
        /// The offending string.
        value: String,
    },

    /// A DPDK call failed with an errno.
    #[error("{op} failed: {reason} (errno {errno})")]
    Call {
        /// The DPDK function (and its subject) that failed.
        op: String,
        /// Positive errno value.
        errno: i32,
        /// `rte_strerror(errno)`.
        reason: String,
    },

    /// No ethdev port with this name.
    #[error(
        "no DPDK port named {name:?} (available: {available}); check the --vdev/PCI \
         arguments given to the EAL and that the PMD was loaded"
    )]
    PortNotFound {
        /// The requested name.
        name: String,
        /// Names of the ports that exist, comma separated.
        available: String,
    },

    /// No valid ethdev port with this id.
    #[error("port id {0} is not a valid DPDK port")]
    InvalidPort(u16),

    /// The port is already owned by another [`Port`](crate::Port) handle.
    #[error("port {0} is already in use by another Port handle")]
    PortInUse(u16),

    /// A port operation was called in a state that does not allow it.
    #[error("port {port}: {op} is not allowed {state}")]
    PortState {
        /// Port id.
        port: u16,
        /// The operation attempted.
        op: &'static str,
        /// Why not (e.g. "while the port is started").
        state: &'static str,
    },

    /// More queues (or a higher queue id) than the port supports/configured.
    #[error("port {port}: {kind} queue {requested} is out of range (port has {available})")]
    QueueOutOfRange {
        /// Port id.
        port: u16,
        /// "rx" or "tx".
        kind: &'static str,
        /// Requested count or id.
        requested: u16,
        /// Limit.
        available: u16,
    },

    /// The queue handle was already taken.
    #[error("port {port}: {kind} queue {queue} is already taken by another handle")]
    QueueTaken {
        /// Port id.
        port: u16,
        /// "rx" or "tx".
        kind: &'static str,
        /// Queue id.
        queue: u16,
    },

    /// Queue handles ([`RxQueue`](crate::RxQueue)/[`TxQueue`](crate::TxQueue))
    /// are still alive; the port cannot be reconfigured/stopped under them.
    #[error("port {0}: queue handles are still alive; drop them before stopping/reconfiguring")]
    QueuesInUse(u16),

    /// The MTU is outside what the port supports.
    #[error("port {port}: MTU {mtu} outside supported range {min}..={max}")]
    InvalidMtu {
        /// Port id.
        port: u16,
        /// Requested MTU.
        mtu: u16,
        /// Minimum supported MTU.
        min: u16,
        /// Maximum supported MTU.
        max: u16,
    },

    /// The mempool has no free mbuf left.
    #[error("mbuf allocation failed: mempool {0:?} is exhausted")]
    MempoolExhausted(String),

    /// An mbuf operation needs more room than the buffer has.
    #[error("mbuf has no room: {op} of {requested} bytes, {available} available")]
    NoRoom {
        /// "append", "prepend", "trim", "adj" or "set_len".
        op: &'static str,
        /// Bytes requested.
        requested: usize,
        /// Bytes available.
        available: usize,
    },

    /// The operation needs a single-segment mbuf.
    #[error("mbuf is segmented ({0} segments); the operation needs a contiguous mbuf")]
    NotContiguous(u16),

    /// The lcore cannot run a launched function.
    #[error("lcore {lcore} cannot be launched on: {why}")]
    Lcore {
        /// The lcore id.
        lcore: u32,
        /// "not an enabled worker lcore", "busy", ...
        why: &'static str,
    },
}

impl DpdkError {
    /// An error for `op` from an errno value (sign ignored: DPDK returns
    /// `-errno` from ethdev calls).
    pub fn from_errno(op: impl Into<String>, errno: i32) -> Self {
        let errno = errno.saturating_abs();
        DpdkError::Call {
            op: op.into(),
            errno,
            reason: strerror(errno),
        }
    }

    /// An error for `op` from the calling thread's current `rte_errno`.
    pub fn from_rte_errno(op: impl Into<String>) -> Self {
        Self::from_errno(op, rte_errno())
    }

    /// The errno value of this error, if it carries one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            DpdkError::EalInit { errno, .. } | DpdkError::Call { errno, .. } => Some(*errno),
            _ => None,
        }
    }
}

/// The calling thread's `rte_errno` (a per-lcore/thread-local in DPDK).
pub fn rte_errno() -> i32 {
    // SAFETY: reads a thread-local int; no preconditions.
    unsafe { ffi::cgnat_errno() }
}

/// DPDK's text for an errno value (`rte_strerror`, which knows both libc
/// errnos and DPDK's own `E_RTE_*` codes).
pub fn strerror(errno: i32) -> String {
    // SAFETY: rte_strerror accepts any int and returns a pointer to a
    // NUL-terminated string (static, or in a per-thread buffer that stays
    // valid until the next call on this thread); we copy it immediately.
    unsafe {
        let p = ffi::rte_strerror(errno);
        if p.is_null() {
            return format!("errno {errno}");
        }
        CStr::from_ptr(p).to_string_lossy().into_owned()
    }
}

/// Turns a DPDK "0 or -errno" return value into a `Result`.
pub(crate) fn check(op: impl FnOnce() -> String, ret: i32) -> Result<(), DpdkError> {
    if ret < 0 {
        Err(DpdkError::from_errno(op(), ret))
    } else {
        Ok(())
    }
}

/// Converts a Rust string into a C string, naming it in the error.
pub(crate) fn cstring(what: &'static str, value: &str) -> Result<std::ffi::CString, DpdkError> {
    std::ffi::CString::new(value).map_err(|_| DpdkError::NulByte {
        what,
        value: value.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_name_the_cause() {
        let e = DpdkError::PortNotFound {
            name: "net_tap9".into(),
            available: "net_ring0".into(),
        };
        let msg = e.to_string();
        assert!(msg.contains("net_tap9") && msg.contains("net_ring0") && msg.contains("--vdev"));
        let e = DpdkError::NoRoom {
            op: "append",
            requested: 9000,
            available: 2048,
        };
        assert_eq!(e.to_string(), "mbuf has no room: append of 9000 bytes, 2048 available");
    }
}
