//! Read-only views of ethdev ports: listing, capabilities, stats, link, MAC.

use std::ffi::{c_char, CStr};
use std::fmt;

use crate::eal::Eal;
use crate::error::{check, DpdkError};
use crate::ffi;

/// A port as listed by [`available_ports`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortInfo {
    /// Port id.
    pub id: u16,
    /// Device name (e.g. `net_tap0`, `0000:03:00.0`).
    pub name: String,
    /// PMD driver name (e.g. `net_tap`).
    pub driver: String,
}

/// Capabilities of a port (`rte_eth_dev_info_get`), the fields cgnat uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DevInfo {
    /// PMD driver name.
    pub driver: String,
    /// Kernel interface index (0 if none).
    pub if_index: u32,
    /// Maximum number of RX queues.
    pub max_rx_queues: u16,
    /// Maximum number of TX queues.
    pub max_tx_queues: u16,
    /// Minimum MTU.
    pub min_mtu: u16,
    /// Maximum MTU.
    pub max_mtu: u16,
    /// RSS hash functions the PMD supports (`RTE_ETH_RSS_*` bits).
    pub flow_type_rss_offloads: u64,
    /// RX offloads (`RTE_ETH_RX_OFFLOAD_*` bits).
    pub rx_offload_capa: u64,
    /// TX offloads (`RTE_ETH_TX_OFFLOAD_*` bits).
    pub tx_offload_capa: u64,
}

/// Basic port counters (`rte_eth_stats_get`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortStats {
    /// Packets received.
    pub ipackets: u64,
    /// Packets transmitted.
    pub opackets: u64,
    /// Bytes received.
    pub ibytes: u64,
    /// Bytes transmitted.
    pub obytes: u64,
    /// Packets dropped by the hardware/PMD because RX queues were full.
    pub imissed: u64,
    /// Erroneous received packets.
    pub ierrors: u64,
    /// Failed transmissions.
    pub oerrors: u64,
    /// RX mbuf allocation failures.
    pub rx_nombuf: u64,
}

/// Link state (`rte_eth_link_get_nowait`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    /// Link is up.
    pub up: bool,
    /// Speed in Mbit/s (0 if unknown).
    pub speed_mbps: u32,
    /// Full duplex.
    pub full_duplex: bool,
}

/// An Ethernet MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct MacAddr(pub [u8; 6]);

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
    }
}

/// Every port DPDK knows (probed from `--vdev`/PCI or hot-plugged), with its
/// driver (`rte_eth_find_next`, `rte_eth_dev_count_avail`).
pub fn available_ports(_eal: &Eal) -> Vec<PortInfo> {
    let mut out = Vec::new();
    // SAFETY: EAL initialised; control-path query.
    let mut id = unsafe { ffi::rte_eth_find_next(0) };
    while u32::from(id) < ffi::RTE_MAX_ETHPORTS {
        let name = port_name(id).unwrap_or_default();
        let driver = dev_info(id).map(|i| i.driver).unwrap_or_default();
        out.push(PortInfo { id, name, driver });
        // SAFETY: as above.
        id = unsafe { ffi::rte_eth_find_next(id + 1) };
    }
    out
}

/// Number of usable ports (`rte_eth_dev_count_avail`).
pub fn port_count(_eal: &Eal) -> u16 {
    // SAFETY: EAL initialised; control-path query.
    unsafe { ffi::rte_eth_dev_count_avail() }
}

pub(crate) fn port_name(id: u16) -> Result<String, DpdkError> {
    let mut buf = [0 as c_char; ffi::RTE_ETH_NAME_MAX_LEN as usize];
    // SAFETY: the buffer has RTE_ETH_NAME_MAX_LEN bytes, as DPDK requires.
    let ret = unsafe { ffi::rte_eth_dev_get_name_by_port(id, buf.as_mut_ptr()) };
    check(|| format!("rte_eth_dev_get_name_by_port({id})"), ret)?;
    // SAFETY: DPDK wrote a NUL-terminated name into the buffer.
    Ok(unsafe { CStr::from_ptr(buf.as_ptr()) }.to_string_lossy().into_owned())
}

pub(crate) fn dev_info(id: u16) -> Result<DevInfo, DpdkError> {
    let mut info = ffi::rte_eth_dev_info::default();
    // SAFETY: valid out-pointer; DPDK validates the port id.
    let ret = unsafe { ffi::rte_eth_dev_info_get(id, &mut info) };
    check(|| format!("rte_eth_dev_info_get(port {id})"), ret)?;
    let driver = if info.driver_name.is_null() {
        String::new()
    } else {
        // SAFETY: driver_name points to the PMD's static name string.
        unsafe { CStr::from_ptr(info.driver_name) }.to_string_lossy().into_owned()
    };
    Ok(DevInfo {
        driver,
        if_index: info.if_index,
        max_rx_queues: info.max_rx_queues,
        max_tx_queues: info.max_tx_queues,
        min_mtu: info.min_mtu,
        max_mtu: info.max_mtu,
        flow_type_rss_offloads: info.flow_type_rss_offloads,
        rx_offload_capa: info.rx_offload_capa,
        tx_offload_capa: info.tx_offload_capa,
    })
}

pub(crate) fn stats(id: u16) -> Result<PortStats, DpdkError> {
    let mut s = ffi::rte_eth_stats::default();
    // SAFETY: valid out-pointer; DPDK validates the port id.
    let ret = unsafe { ffi::rte_eth_stats_get(id, &mut s) };
    check(|| format!("rte_eth_stats_get(port {id})"), ret)?;
    Ok(PortStats {
        ipackets: s.ipackets,
        opackets: s.opackets,
        ibytes: s.ibytes,
        obytes: s.obytes,
        imissed: s.imissed,
        ierrors: s.ierrors,
        oerrors: s.oerrors,
        rx_nombuf: s.rx_nombuf,
    })
}

pub(crate) fn link(id: u16) -> Result<Link, DpdkError> {
    let mut l = ffi::rte_eth_link::default();
    // SAFETY: valid out-pointer; DPDK validates the port id.
    let ret = unsafe { ffi::rte_eth_link_get_nowait(id, &mut l) };
    check(|| format!("rte_eth_link_get_nowait(port {id})"), ret)?;
    Ok(Link {
        up: u32::from(l.link_status()) == ffi::RTE_ETH_LINK_UP,
        speed_mbps: if l.link_speed == u32::MAX { 0 } else { l.link_speed },
        full_duplex: u32::from(l.link_duplex()) == ffi::RTE_ETH_LINK_FULL_DUPLEX,
    })
}

pub(crate) fn mac_addr(id: u16) -> Result<MacAddr, DpdkError> {
    let mut a = ffi::rte_ether_addr::default();
    // SAFETY: valid out-pointer; DPDK validates the port id.
    let ret = unsafe { ffi::rte_eth_macaddr_get(id, &mut a) };
    check(|| format!("rte_eth_macaddr_get(port {id})"), ret)?;
    Ok(MacAddr(a.addr_bytes))
}

#[cfg(test)]
mod tests {
    use super::MacAddr;

    #[test]
    fn mac_display() {
        let m = MacAddr([0x02, 0x70, 0x63, 0x61, 0x70, 0x0a]);
        assert_eq!(m.to_string(), "02:70:63:61:70:0a");
    }
}
