//! Atomics used by the shared tables: `std`'s normally, `loom`'s under
//! `--cfg loom` so the model checker can explore their interleavings.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
