//! Real DPDK, net_pcap PMD: replay a pcap written by the test, check bytes
//! and capture timestamps, transmit the packets into a second pcap, close
//! the port (flushes the file) and verify its contents.

mod common;

use std::path::PathBuf;

use cgnat_dpdk::{Burst, Port, PortConf, RxTimestamp};
use common::pcap::{self, Record};
use common::{init_eal, poll_until, small_pool, start_simple, udp_frame};

/// Removes the test's temporary directory in all cases.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn pcap_replay_roundtrip() {
    let dir = TempDir(std::env::temp_dir().join(format!("cgnat-dpdk-pcap-{}", std::process::id())));
    std::fs::create_dir_all(&dir.0).unwrap();
    let rx_path = dir.0.join("in.pcap");
    let tx_path = dir.0.join("out.pcap");

    let records: Vec<Record> = (0..5u32)
        .map(|i| Record {
            sec: 1_700_000_000 + i,
            frac: 123_456 + i * 100_001,
            data: udp_frame(
                [100, 64, 0, 10 + i as u8],
                [198, 51, 100, 1],
                &vec![0x5a ^ i as u8; 18 + 97 * i as usize],
            ),
        })
        .collect();
    pcap::write(&rx_path, &records);

    let vdev = format!("net_pcap0,rx_pcap={},tx_pcap={}", rx_path.display(), tx_path.display());
    let Some(eal) = init_eal("pcap_replay_roundtrip", &[vdev]) else {
        return;
    };
    let pool = small_pool(&eal, "pcap_pool");
    let mut port = Port::by_name(&eal, "net_pcap0").unwrap();
    assert_eq!(port.info().unwrap().driver, "net_pcap");
    let conf = PortConf {
        rx_timestamp: true,
        ..PortConf::default()
    };
    start_simple(&mut port, &pool, &conf);

    let ts = RxTimestamp::lookup().expect("net_pcap registers the rx timestamp dynfield");

    let mut burst = Burst::new();
    let got = poll_until(records.len(), 200, &mut burst, |b| port.rx_burst(0, b));
    assert_eq!(got, records.len(), "every pcap record is received");
    assert_eq!(port.rx_burst(0, &mut burst), 0, "nothing after the end of file");
    for (m, r) in burst.iter().zip(&records) {
        assert!(m.is_contiguous());
        assert_eq!(m.data(), r.data.as_slice());
        // net_pcap stores the capture time in microseconds since the epoch.
        let want = u64::from(r.sec) * 1_000_000 + u64::from(r.frac);
        assert_eq!(m.rx_timestamp(&ts), Some(want), "timestamp of record");
    }

    let sent = port.tx_burst(0, &mut burst);
    assert_eq!(sent, records.len());
    assert!(burst.is_empty());
    let stats = port.stats().unwrap();
    assert_eq!(stats.ipackets, records.len() as u64, "{stats:?}");
    assert_eq!(stats.opackets, records.len() as u64, "{stats:?}");
    port.close().unwrap();

    let (_nanos, out) = pcap::read(&tx_path);
    assert_eq!(out.len(), records.len(), "tx pcap holds every packet");
    for (o, r) in out.iter().zip(&records) {
        assert_eq!(o.data, r.data);
    }
    assert_eq!(pool.in_use_count(), 0);
    eprintln!("pcap_replay_roundtrip: {} packets replayed and written", out.len());
}
