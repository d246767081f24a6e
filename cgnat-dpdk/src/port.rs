//! Ethernet ports: configuration, queues, start/stop, bursts.
//!
//! Lifecycle: [`Port::by_name`] → [`Port::configure`] →
//! [`Port::rx_queue_setup`]/[`Port::tx_queue_setup`] for every queue →
//! [`Port::start`] → bursts → [`Port::stop`]/[`Port::close`] (or drop).
//!
//! Bursts either go through the `Port` itself (`&mut self`, single thread),
//! or through per-queue handles ([`Port::rx_queue`], [`Port::tx_queue`])
//! that can be moved to worker lcores; while such handles are alive the port
//! cannot be stopped or reconfigured, and the port is closed only when the
//! last of them (or the `Port`) is dropped.

use std::cell::Cell;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::burst::Burst;
use crate::eal::{Eal, EalToken};
use crate::error::{check, cstring, DpdkError};
use crate::ffi;
use crate::mempool::Mempool;
use crate::port_info::{self, DevInfo, Link, MacAddr, PortStats};
use crate::queue::{RxQueue, TxQueue};

/// Port ids that have a live [`Port`] handle.
static CLAIMED: Mutex<[bool; ffi::RTE_MAX_ETHPORTS as usize]> = Mutex::new([false; ffi::RTE_MAX_ETHPORTS as usize]);

/// Port-wide settings for [`Port::configure`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortConf {
    /// MTU (L3 payload size); `None` keeps the PMD default (1500).
    pub mtu: Option<u16>,
    /// Spread packets over the RX queues by hashing the IPv4/IPv6 source
    /// and destination addresses (`RTE_ETH_RSS_IP`). Enabled only when
    /// there is more than one RX queue and the PMD advertises IP hashing in
    /// `flow_type_rss_offloads`; see [`Port::rss_enabled`].
    pub rss: bool,
    /// Promiscuous mode (applied at [`Port::start`]; ignored by PMDs that do
    /// not support it, such as net_ring/net_null).
    pub promisc: bool,
    /// Ask the PMD to timestamp received packets
    /// (`RTE_ETH_RX_OFFLOAD_TIMESTAMP`), if it advertises the offload; read
    /// with [`RxTimestamp`](crate::RxTimestamp). net_pcap timestamps every
    /// packet regardless of this setting.
    pub rx_timestamp: bool,
}

impl Default for PortConf {
    fn default() -> Self {
        PortConf {
            mtu: None,
            rss: true,
            promisc: true,
            rx_timestamp: false,
        }
    }
}

/// Default RX ring size used when `nb_desc` is 0 in [`Port::rx_queue_setup`].
pub const DEFAULT_RX_DESC: u16 = 1024;
/// Default TX ring size used when `nb_desc` is 0 in [`Port::tx_queue_setup`].
pub const DEFAULT_TX_DESC: u16 = 1024;

/// An owned DPDK ethdev port (one live handle per port id).
///
/// `Send` but not `Sync`: one thread drives it; hand queues to other lcores
/// with [`Port::rx_queue`]/[`Port::tx_queue`].
pub struct Port {
    inner: Arc<PortInner>,
    _single_thread: PhantomData<Cell<()>>,
}

/// State shared between a `Port` and its queue handles.
pub(crate) struct PortInner {
    pub(crate) id: u16,
    name: String,
    n_rx: u16,
    n_tx: u16,
    configured: bool,
    started: bool,
    closed: bool,
    rss: bool,
    rx_timestamp: bool,
    promisc: bool,
    rx_ready: Vec<bool>,
    tx_ready: Vec<bool>,
    pub(crate) rx_taken: Box<[AtomicBool]>,
    pub(crate) tx_taken: Box<[AtomicBool]>,
    /// Every mempool given to an RX queue since the port was opened. Kept
    /// until the port is closed: after a reconfigure, the PMD may still hold
    /// (and later release into) the pools of the previous queues.
    pools: Vec<Mempool>,
    _eal: EalToken,
}

impl Port {
    /// The port whose device name is `name` (e.g. `net_tap0`, from
    /// `--vdev=net_tap0,...`).
    pub fn by_name(eal: &Eal, name: &str) -> Result<Port, DpdkError> {
        let c = cstring("port name", name)?;
        let mut id = 0u16;
        // SAFETY: valid C string and out-pointer; EAL initialised.
        let ret = unsafe { ffi::rte_eth_dev_get_port_by_name(c.as_ptr(), &mut id) };
        if ret < 0 {
            let available = port_info::available_ports(eal)
                .into_iter()
                .map(|p| format!("{} ({})", p.name, p.driver))
                .collect::<Vec<_>>();
            return Err(DpdkError::PortNotFound {
                name: name.to_string(),
                available: if available.is_empty() {
                    "none".to_string()
                } else {
                    available.join(", ")
                },
            });
        }
        Port::by_id(eal, id)
    }

    /// The port with id `id`.
    pub fn by_id(eal: &Eal, id: u16) -> Result<Port, DpdkError> {
        // SAFETY: EAL initialised; validity query.
        if u32::from(id) >= ffi::RTE_MAX_ETHPORTS || unsafe { ffi::rte_eth_dev_is_valid_port(id) } == 0 {
            return Err(DpdkError::InvalidPort(id));
        }
        {
            let mut claimed = CLAIMED.lock();
            if claimed[id as usize] {
                return Err(DpdkError::PortInUse(id));
            }
            claimed[id as usize] = true;
        }
        let name = port_info::port_name(id).unwrap_or_else(|_| format!("port{id}"));
        Ok(Port {
            inner: Arc::new(PortInner {
                id,
                name,
                n_rx: 0,
                n_tx: 0,
                configured: false,
                started: false,
                closed: false,
                rss: false,
                rx_timestamp: false,
                promisc: false,
                rx_ready: Vec::new(),
                tx_ready: Vec::new(),
                rx_taken: Box::new([]),
                tx_taken: Box::new([]),
                pools: Vec::new(),
                _eal: eal.token(),
            }),
            _single_thread: PhantomData,
        })
    }

    /// Port id.
    pub fn id(&self) -> u16 {
        self.inner.id
    }

    /// Device name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Capabilities (`rte_eth_dev_info_get`).
    pub fn info(&self) -> Result<DevInfo, DpdkError> {
        port_info::dev_info(self.inner.id)
    }

    /// Exclusive access to the shared state: fails while queue handles live.
    fn inner_mut(&mut self) -> Result<&mut PortInner, DpdkError> {
        let id = self.inner.id;
        Arc::get_mut(&mut self.inner).ok_or(DpdkError::QueuesInUse(id))
    }

    fn state_err(&self, op: &'static str, state: &'static str) -> DpdkError {
        DpdkError::PortState {
            port: self.inner.id,
            op,
            state,
        }
    }

    /// Configures the number of queues and the port-wide settings
    /// (`rte_eth_dev_configure`). The port must be stopped; queues must be
    /// set up again afterwards.
    pub fn configure(&mut self, rx_queues: u16, tx_queues: u16, conf: &PortConf) -> Result<(), DpdkError> {
        if self.inner.started {
            return Err(self.state_err("configure", "while the port is started"));
        }
        if self.inner.closed {
            return Err(self.state_err("configure", "after close"));
        }
        let info = self.info()?;
        let id = self.inner.id;
        for (kind, n, max) in [("rx", rx_queues, info.max_rx_queues), ("tx", tx_queues, info.max_tx_queues)] {
            if n == 0 || n > max {
                return Err(DpdkError::QueueOutOfRange {
                    port: id,
                    kind,
                    requested: n,
                    available: max,
                });
            }
        }
        let mut c = ffi::rte_eth_conf::default();
        if let Some(mtu) = conf.mtu {
            if mtu < info.min_mtu || mtu > info.max_mtu {
                return Err(DpdkError::InvalidMtu {
                    port: id,
                    mtu,
                    min: info.min_mtu,
                    max: info.max_mtu,
                });
            }
            c.rxmode.mtu = u32::from(mtu);
        }
        // SAFETY: returns a constant.
        let rss_hf = unsafe { ffi::cgnat_eth_rss_ip() } & info.flow_type_rss_offloads;
        let rss = conf.rss && rx_queues > 1 && rss_hf != 0;
        if rss {
            c.rxmode.mq_mode = ffi::rte_eth_rx_mq_mode_RTE_ETH_MQ_RX_RSS;
            c.rx_adv_conf.rss_conf.rss_key = std::ptr::null_mut(); // PMD default key
            c.rx_adv_conf.rss_conf.rss_hf = rss_hf;
        }
        // SAFETY: returns a constant.
        let ts_flag = unsafe { ffi::cgnat_eth_rx_offload_timestamp() };
        let rx_timestamp = conf.rx_timestamp && info.rx_offload_capa & ts_flag != 0;
        if rx_timestamp {
            c.rxmode.offloads |= ts_flag;
        }
        let inner = self.inner_mut()?;
        // SAFETY: valid port id and conf pointer; the port is stopped and no
        // queue handle exists (inner_mut succeeded).
        let ret = unsafe { ffi::rte_eth_dev_configure(id, rx_queues, tx_queues, &c) };
        check(|| format!("rte_eth_dev_configure(port {id}, {rx_queues} rx, {tx_queues} tx)"), ret)?;
        inner.configured = true;
        inner.n_rx = rx_queues;
        inner.n_tx = tx_queues;
        inner.rss = rss;
        inner.rx_timestamp = rx_timestamp;
        inner.promisc = conf.promisc;
        inner.rx_ready = vec![false; rx_queues as usize];
        inner.tx_ready = vec![false; tx_queues as usize];
        inner.rx_taken = (0..rx_queues).map(|_| AtomicBool::new(false)).collect();
        inner.tx_taken = (0..tx_queues).map(|_| AtomicBool::new(false)).collect();
        Ok(())
    }

    fn check_queue(&self, kind: &'static str, queue: u16, n: u16) -> Result<(), DpdkError> {
        if !self.inner.configured {
            return Err(self.state_err("queue setup", "before configure"));
        }
        if self.inner.started {
            return Err(self.state_err("queue setup", "while the port is started"));
        }
        if queue >= n {
            return Err(DpdkError::QueueOutOfRange {
                port: self.inner.id,
                kind,
                requested: queue,
                available: n,
            });
        }
        Ok(())
    }

    /// Sets up RX queue `queue` with `nb_desc` descriptors (0: default,
    /// adjusted to the PMD's limits) receiving into mbufs from `pool`.
    /// The port keeps a clone of `pool` until it is closed.
    pub fn rx_queue_setup(&mut self, queue: u16, nb_desc: u16, pool: &Mempool) -> Result<(), DpdkError> {
        self.check_queue("rx", queue, self.inner.n_rx)?;
        let id = self.inner.id;
        let mut rx = if nb_desc == 0 { DEFAULT_RX_DESC } else { nb_desc };
        let mut tx = DEFAULT_TX_DESC;
        // SAFETY: valid out-pointers; configured port.
        let ret = unsafe { ffi::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut rx, &mut tx) };
        check(|| format!("rte_eth_dev_adjust_nb_rx_tx_desc(port {id})"), ret)?;
        let socket = port_socket(id);
        let inner = self.inner_mut()?;
        // SAFETY: configured, stopped port; queue < n_rx; NULL rxconf means
        // PMD defaults; the pool stays alive (stored below) as long as the
        // port can use it.
        let ret = unsafe { ffi::rte_eth_rx_queue_setup(id, queue, rx, socket, std::ptr::null(), pool.as_ptr()) };
        check(
            || {
                format!(
                    "rte_eth_rx_queue_setup(port {id}, queue {queue}, {rx} desc, pool {:?})",
                    pool.name()
                )
            },
            ret,
        )?;
        inner.rx_ready[queue as usize] = true;
        if !inner.pools.iter().any(|p| p.as_ptr() == pool.as_ptr()) {
            inner.pools.push(pool.clone());
        }
        Ok(())
    }

    /// Sets up TX queue `queue` with `nb_desc` descriptors (0: default,
    /// adjusted to the PMD's limits).
    pub fn tx_queue_setup(&mut self, queue: u16, nb_desc: u16) -> Result<(), DpdkError> {
        self.check_queue("tx", queue, self.inner.n_tx)?;
        let id = self.inner.id;
        let mut rx = DEFAULT_RX_DESC;
        let mut tx = if nb_desc == 0 { DEFAULT_TX_DESC } else { nb_desc };
        // SAFETY: valid out-pointers; configured port.
        let ret = unsafe { ffi::rte_eth_dev_adjust_nb_rx_tx_desc(id, &mut rx, &mut tx) };
        check(|| format!("rte_eth_dev_adjust_nb_rx_tx_desc(port {id})"), ret)?;
        let socket = port_socket(id);
        let inner = self.inner_mut()?;
        // SAFETY: configured, stopped port; queue < n_tx; NULL txconf means
        // PMD defaults.
        let ret = unsafe { ffi::rte_eth_tx_queue_setup(id, queue, tx, socket, std::ptr::null()) };
        check(|| format!("rte_eth_tx_queue_setup(port {id}, queue {queue}, {tx} desc)"), ret)?;
        inner.tx_ready[queue as usize] = true;
        Ok(())
    }

    /// Starts the port (`rte_eth_dev_start`); every configured queue must
    /// have been set up. Enables promiscuous mode if configured.
    pub fn start(&mut self) -> Result<(), DpdkError> {
        if !self.inner.configured {
            return Err(self.state_err("start", "before configure"));
        }
        if self.inner.started {
            return Ok(());
        }
        if self.inner.rx_ready.iter().chain(&self.inner.tx_ready).any(|r| !r) {
            return Err(self.state_err("start", "before every queue is set up"));
        }
        let id = self.inner.id;
        let inner = self.inner_mut()?;
        // SAFETY: configured port with all queues set up.
        let ret = unsafe { ffi::rte_eth_dev_start(id) };
        check(|| format!("rte_eth_dev_start(port {id})"), ret)?;
        inner.started = true;
        if inner.promisc {
            // SAFETY: started port. net_ring/net_null answer -ENOTSUP.
            let ret = unsafe { ffi::rte_eth_promiscuous_enable(id) };
            if ret < 0 && ret != -95 {
                return Err(DpdkError::from_errno(format!("rte_eth_promiscuous_enable(port {id})"), ret));
            }
        }
        Ok(())
    }

    /// Stops the port (`rte_eth_dev_stop`). Fails while queue handles live.
    pub fn stop(&mut self) -> Result<(), DpdkError> {
        let inner = self.inner_mut()?;
        inner.stop()
    }

    /// Stops (if needed) and closes the port (`rte_eth_dev_close`), which
    /// releases the device (for net_pcap this flushes and closes the TX pcap
    /// file). If queue handles are still alive, this fails and the close
    /// happens when the last of them is dropped.
    pub fn close(mut self) -> Result<(), DpdkError> {
        let inner = self.inner_mut()?;
        inner.stop()?;
        inner.close()
    }

    /// Whether the port is started.
    pub fn is_started(&self) -> bool {
        self.inner.started
    }

    /// Number of configured RX queues.
    pub fn rx_queues(&self) -> u16 {
        self.inner.n_rx
    }

    /// Number of configured TX queues.
    pub fn tx_queues(&self) -> u16 {
        self.inner.n_tx
    }

    /// Whether RSS was enabled by [`Port::configure`].
    pub fn rss_enabled(&self) -> bool {
        self.inner.rss
    }

    /// Whether the RX timestamp offload was enabled by [`Port::configure`].
    pub fn rx_timestamp_enabled(&self) -> bool {
        self.inner.rx_timestamp
    }

    /// The port's MAC address.
    pub fn mac_addr(&self) -> Result<MacAddr, DpdkError> {
        port_info::mac_addr(self.inner.id)
    }

    /// Port counters.
    pub fn stats(&self) -> Result<PortStats, DpdkError> {
        port_info::stats(self.inner.id)
    }

    /// Resets the port counters.
    pub fn reset_stats(&self) -> Result<(), DpdkError> {
        let id = self.inner.id;
        // SAFETY: valid port id; control-path call.
        let ret = unsafe { ffi::rte_eth_stats_reset(id) };
        check(|| format!("rte_eth_stats_reset(port {id})"), ret)
    }

    /// Current link state, without waiting.
    pub fn link(&self) -> Result<Link, DpdkError> {
        port_info::link(self.inner.id)
    }

    /// Receives up to `burst.spare()` packets from RX queue `queue` into the
    /// free tail of `burst`; returns how many were added. Never allocates.
    ///
    /// # Panics
    /// If the port is not started, `queue` is out of range, or the queue was
    /// handed out with [`Port::rx_queue`].
    #[inline]
    pub fn rx_burst(&mut self, queue: u16, burst: &mut Burst) -> usize {
        let inner = &*self.inner;
        assert!(
            inner.started && queue < inner.n_rx && !inner.rx_taken[queue as usize].load(Ordering::Acquire),
            "rx_burst on port {} queue {queue}: port not started, queue out of range or handed out",
            inner.id
        );
        // SAFETY: started port, valid queue, exclusive use (&mut Port and
        // no RxQueue handle for it).
        unsafe { crate::queue::rx_into(inner.id, queue, burst) }
    }

    /// Transmits the mbufs of `burst` on TX queue `queue`; returns how many
    /// the PMD accepted. Accepted mbufs leave the burst (the PMD frees them
    /// once sent); **unsent mbufs stay in `burst`**, in order, for the
    /// caller to retry or drop ([`Burst::clear`]). Never allocates.
    ///
    /// # Panics
    /// If the port is not started, `queue` is out of range, or the queue was
    /// handed out with [`Port::tx_queue`].
    #[inline]
    pub fn tx_burst(&mut self, queue: u16, burst: &mut Burst) -> usize {
        let inner = &*self.inner;
        assert!(
            inner.started && queue < inner.n_tx && !inner.tx_taken[queue as usize].load(Ordering::Acquire),
            "tx_burst on port {} queue {queue}: port not started, queue out of range or handed out",
            inner.id
        );
        // SAFETY: started port, valid queue, exclusive use.
        unsafe { crate::queue::tx_from(inner.id, queue, burst) }
    }

    /// A handle to RX queue `queue` that can be moved to a worker lcore.
    /// The port must be started; each queue can be handed out once at a time.
    pub fn rx_queue(&self, queue: u16) -> Result<RxQueue, DpdkError> {
        if !self.inner.started {
            return Err(self.state_err("rx_queue", "before start"));
        }
        RxQueue::take(self.inner.clone(), queue)
    }

    /// A handle to TX queue `queue` that can be moved to a worker lcore.
    /// The port must be started; each queue can be handed out once at a time.
    pub fn tx_queue(&self, queue: u16) -> Result<TxQueue, DpdkError> {
        if !self.inner.started {
            return Err(self.state_err("tx_queue", "before start"));
        }
        TxQueue::take(self.inner.clone(), queue)
    }
}

impl std::fmt::Debug for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Port")
            .field("id", &self.inner.id)
            .field("name", &self.inner.name)
            .field("rx_queues", &self.inner.n_rx)
            .field("tx_queues", &self.inner.n_tx)
            .field("started", &self.inner.started)
            .finish()
    }
}

fn port_socket(id: u16) -> u32 {
    // SAFETY: valid port id; returns -1 (SOCKET_ID_ANY) when unknown.
    let s = unsafe { ffi::rte_eth_dev_socket_id(id) };
    // DPDK takes the socket as unsigned; SOCKET_ID_ANY (-1) maps to u32::MAX
    // exactly as in C.
    s as u32
}

impl PortInner {
    pub(crate) fn n_rx(&self) -> u16 {
        self.n_rx
    }

    pub(crate) fn n_tx(&self) -> u16 {
        self.n_tx
    }

    fn stop(&mut self) -> Result<(), DpdkError> {
        if !self.started {
            return Ok(());
        }
        let id = self.id;
        // SAFETY: started port, no queue handles (exclusive &mut).
        let ret = unsafe { ffi::rte_eth_dev_stop(id) };
        check(|| format!("rte_eth_dev_stop(port {id})"), ret)?;
        self.started = false;
        Ok(())
    }

    fn close(&mut self) -> Result<(), DpdkError> {
        if self.closed {
            return Ok(());
        }
        let id = self.id;
        // SAFETY: stopped port, no queue handles.
        let ret = unsafe { ffi::rte_eth_dev_close(id) };
        self.closed = true;
        check(|| format!("rte_eth_dev_close(port {id})"), ret)
    }
}

impl Drop for PortInner {
    fn drop(&mut self) {
        // Best effort: errors cannot be reported from drop.
        let _ = self.stop();
        let _ = self.close();
        let mut claimed = CLAIMED.lock();
        claimed[self.id as usize] = false;
        // `pools` (and then the EAL token) are dropped after this body, i.e.
        // after the port released its queues.
    }
}
