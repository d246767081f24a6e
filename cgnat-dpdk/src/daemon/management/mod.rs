//! The management ("CLI") core of `cgnatd`: a thread that never touches
//! packets. It merges the workers' event rings into the NAT log
//! ([`log`], [`merge`], [`sink`], [`writer`], [`output`], [`roll`],
//! [`compress`], [`syslog_tcp`], [`interim`], [`run`]), runs the sweeper, serves the
//! control socket ([`control`], [`query`]) and the Prometheus metrics
//! endpoint ([`metrics`]), and is one node of an HA pair when configured
//! ([`ha`]).
//!
//! Threads: the management loop (sweeper, log pump, requests that change
//! state), one writer per log target, and the management plane's servers
//! ([`servers`]: one async I/O thread serving the control socket and the
//! metrics endpoint, plus a small blocking pool for queries). Only the
//! management loop releases blocks or numbers log records; other threads
//! read the lock-free tables and atomics, and send state-changing requests
//! to the loop over a channel.

pub mod compress;
pub mod control;
pub mod control_server;
pub mod core;
pub mod exposition;
pub mod files;
pub mod ha;
pub mod interim;
pub mod log;
pub mod merge;
pub mod metrics;
pub mod output;
pub mod pcp;
pub mod query;
pub mod roll;
pub mod run;
pub mod servers;
pub mod sink;
pub mod syslog_tcp;
pub mod writer;

pub use self::core::{CoreParts, ManagementCore, ShutdownReport};
pub use log::{LogPipeline, LogShared};
pub use merge::{Merger, Watermark};
