//! # cgnat-core
//!
//! The NAT444 engine of cgnat, sans-IO: no DPDK, no clock, no sockets.
//! Functions take packet bytes and the current time (`now`) and return a
//! verdict; the data plane (`cgnat-dpdk`) only moves bytes in and out.
//!
//! - [`wire`]: zero-copy typed views over packet buffers (Ethernet, ARP,
//!   IPv4, TCP, UDP, ICMP) and checksums (RFC 1071, RFC 1624).
//! - [`config`]: the typed, validated configuration.
//! - [`table`]: the lock-free session, mapping and subscriber tables.
//! - [`pool`]: public addresses, port blocks, per-port mapping records,
//!   deterministic mode (RFC 7422).
//! - [`translate`]: [`Nat`] (shared state) and [`Worker`] (per-lcore
//!   translation returning a [`Verdict`]).
//! - [`sweeper`]: expiry, block release, targeted clears.
//! - [`admission`]: token buckets on new subscribers and blocks (hostile
//!   traffic).
//! - [`event`], [`ring`]: NAT log events and the SPSC ring that carries them.
//! - [`counters`]: every verdict and drop reason, counted.
//! - [`ha`]: the active/standby pair's sync stream and election.
#![forbid(unsafe_op_in_unsafe_fn)]

pub mod admission;
pub mod config;
pub mod control;
pub mod counters;
pub mod event;
pub mod flow;
pub mod frag;
pub mod ha;
mod mem;
pub mod natlog;
pub mod pcp;
pub mod pool;
pub mod ring;
pub mod sweeper;
mod sync;
pub mod table;
pub mod tcp_state;
pub mod time;
pub mod translate;
pub mod wire;

pub use config::NatConfig;
pub use counters::{Counter, DropReason};
pub use event::{Event, EventKind, EventSink};
pub use flow::{Protocol, Side};
pub use time::Instant;
pub use translate::{Nat, PcpGrant, PcpRefusal, Prepared, RxChecksum, Verdict, Worker};
