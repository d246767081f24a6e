//! The DPDK layer of cgnat: a thin, safe wrapper over a bindgen binding to
//! the system DPDK 22.11 (found with pkg-config), plus a small C shim for
//! DPDK's `static inline` fast path (rx/tx burst, mbuf alloc/free,
//! `rte_errno`, `rte_lcore_id`, TSC, rings).
//!
//! Capsule's ideas, kept: a runtime handle that owns the EAL and the lcores
//! ([`Eal`]), ports with explicit queues ([`Port`], [`RxQueue`],
//! [`TxQueue`]), an owned [`Mbuf`] that frees itself, pcap replay through
//! the net_pcap PMD with the capture timestamps ([`RxTimestamp`]).
//!
//! ```no_run
//! use cgnat_dpdk::{Burst, Eal, Mempool, Port, PortConf, DEFAULT_DATA_ROOM, SOCKET_ANY};
//!
//! # fn main() -> Result<(), cgnat_dpdk::DpdkError> {
//! let eal = Eal::init(&["--no-huge", "-m", "512", "--no-pci", "--vdev=net_ring0"])?;
//! let pool = Mempool::new(&eal, "pool0", 2047, 64, DEFAULT_DATA_ROOM, SOCKET_ANY)?;
//! let mut port = Port::by_name(&eal, "net_ring0")?;
//! port.configure(1, 1, &PortConf::default())?;
//! port.rx_queue_setup(0, 256, &pool)?;
//! port.tx_queue_setup(0, 256)?;
//! port.start()?;
//! let mut burst = Burst::new();
//! let n = port.rx_burst(0, &mut burst);
//! # let _ = n;
//! # Ok(()) }
//! ```
//!
//! # Safety boundary
//! All `unsafe` code lives in this crate, each block with a `SAFETY:`
//! comment. Ownership rules that make the API sound:
//! - objects in DPDK memory (mempools, ports, rings) hold a token that keeps
//!   the EAL alive; `rte_eal_cleanup` runs after the last one is dropped;
//! - a port keeps the mempools of its RX queues; a mempool with mbufs still
//!   in use is leaked rather than freed;
//! - queues are used by one thread at a time (`&mut` + `!Sync` handles);
//! - the burst paths never allocate ([`Burst`] is a fixed inline array).

pub mod burst;
pub mod daemon;
pub mod dpdk_log;
pub mod eal;
pub mod error;
pub mod ffi;
pub mod mbuf;
pub mod mempool;
pub mod port;
pub mod port_info;
pub mod queue;
pub mod ring;
pub mod signals;

pub use burst::{Burst, BURST_SIZE};
pub use eal::{current_lcore, tsc_cycles, tsc_hz, Eal, LAUNCH_PANICKED};
pub use error::DpdkError;
pub use mbuf::{Mbuf, RxTimestamp};
pub use mempool::{Mempool, DEFAULT_DATA_ROOM, HEADROOM, SOCKET_ANY};
pub use port::{Port, PortConf};
pub use port_info::{available_ports, port_count, DevInfo, Link, MacAddr, PortInfo, PortStats};
pub use queue::{RxQueue, TxQueue};
