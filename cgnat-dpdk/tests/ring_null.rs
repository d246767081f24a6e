//! Real DPDK, in-memory PMDs: net_ring (loopback), net_null; lcores, rings,
//! mbuf operations, error paths. One #[test]: the EAL starts once per process.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use cgnat_dpdk::{
    available_ports, current_lcore, ring, tsc_cycles, tsc_hz, Burst, DpdkError, Eal, Mbuf, Mempool, Port, PortConf, DEFAULT_DATA_ROOM,
    HEADROOM, LAUNCH_PANICKED, SOCKET_ANY,
};
use common::{init_eal, mbuf_with, poll_until, small_pool, start_simple, udp_frame};

#[test]
fn ring_and_null_vdevs() {
    let vdevs = ["net_ring0".to_string(), "net_null0".to_string()];
    let Some(eal) = init_eal("ring_and_null_vdevs", &vdevs) else {
        return;
    };
    eal_basics(&eal);
    let pool = small_pool(&eal, "ring_null_pool");
    mbuf_operations(&eal, &pool);
    ring_loopback(&eal, &pool);
    workers_and_queue_handles(&eal, &pool);
    null_port(&eal, &pool);
    spsc_rings(&eal, &pool);
    assert_eq!(pool.in_use_count(), 0, "every mbuf went back to the pool");
    eprintln!("ring_and_null_vdevs: all scenarios passed");
}

fn eal_basics(eal: &Eal) {
    // Once per process.
    assert!(matches!(Eal::init(&["--no-huge"]), Err(DpdkError::EalAlreadyInitialized)));
    assert_eq!(eal.lcore_count(), 2);
    assert_eq!(eal.main_lcore(), 0);
    assert_eq!(eal.worker_lcores(), vec![1]);
    assert_eq!(current_lcore(), Some(0), "the test thread is the main lcore");
    assert!(tsc_hz() > 0);
    let t0 = tsc_cycles();
    std::thread::sleep(std::time::Duration::from_millis(2));
    assert!(tsc_cycles() > t0);

    let ports = available_ports(eal);
    let drivers: Vec<(&str, &str)> = ports.iter().map(|p| (p.name.as_str(), p.driver.as_str())).collect();
    assert!(drivers.contains(&("net_ring0", "net_ring")), "{ports:?}");
    assert!(drivers.contains(&("net_null0", "net_null")), "{ports:?}");

    let err = Port::by_name(eal, "net_nope0").unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("net_nope0") && msg.contains("net_ring0"), "{msg}");
}

fn mbuf_operations(eal: &Eal, pool: &Mempool) {
    let mut m = Mbuf::alloc(pool).unwrap();
    assert!(m.is_empty() && m.is_contiguous());
    assert_eq!(m.headroom(), HEADROOM as usize);
    assert_eq!(m.tailroom(), (DEFAULT_DATA_ROOM - HEADROOM) as usize);
    m.extend_from_slice(b"world").unwrap();
    m.prepend(6).unwrap().copy_from_slice(b"hello ");
    assert_eq!(m.data(), b"hello world");
    assert_eq!(m.len(), 11);
    m.adj(6).unwrap();
    m.trim(1).unwrap();
    assert_eq!(m.data(), b"worl");
    m.data_mut()[0] = b'W';
    assert_eq!(m.data(), b"Worl");
    m.set_len(2).unwrap();
    assert_eq!(m.data(), b"Wo");
    assert!(matches!(m.append(100_000), Err(DpdkError::NoRoom { op: "append", .. })));
    assert!(matches!(m.trim(3), Err(DpdkError::NoRoom { .. })));
    m.reset().unwrap();
    assert!(m.is_empty());
    let raw = m.into_raw();
    // SAFETY: `raw` came from into_raw just above and is owned by nobody else.
    let m = unsafe { Mbuf::from_raw(raw) };
    drop(m);

    // Bursts: push/pop/retain/drain/alloc_bulk without leaks.
    let mut b = Burst::new();
    b.alloc_bulk(pool, 10).unwrap();
    assert_eq!(b.len(), 10);
    for (i, m) in b.iter_mut().enumerate() {
        m.extend_from_slice(&[i as u8]).unwrap();
    }
    b.retain(|m| m.data()[0] % 2 == 0);
    assert_eq!(b.iter().map(|m| m.data()[0]).collect::<Vec<_>>(), [0, 2, 4, 6, 8]);
    let last = b.pop().unwrap();
    assert_eq!(last.data(), [8]);
    b.push(last).unwrap();
    let drained: Vec<u8> = b.drain().take(2).map(|m| m.data()[0]).collect();
    assert_eq!(drained, [0, 2]);
    assert!(b.is_empty());
    assert!(b.alloc_bulk(pool, 33).is_err());
    assert_eq!(pool.in_use_count(), 0);

    // A tiny pool runs dry with a clear error and refills on drop.
    let tiny = Mempool::new(eal, "tiny_pool", 15, 0, DEFAULT_DATA_ROOM, SOCKET_ANY).unwrap();
    let mut held = Vec::new();
    let err = loop {
        match Mbuf::alloc(&tiny) {
            Ok(m) => held.push(m),
            Err(e) => break e,
        }
        assert!(held.len() <= 64, "pool of 15 never ran dry");
    };
    assert!(err.to_string().contains("tiny_pool"), "{err}");
    assert_eq!(held.len(), 15);
    drop(held);
    assert_eq!(tiny.avail_count(), 15);
}

fn ring_loopback(eal: &Eal, pool: &Mempool) {
    let mut port = Port::by_name(eal, "net_ring0").unwrap();
    assert!(matches!(Port::by_name(eal, "net_ring0"), Err(DpdkError::PortInUse(_))));
    let info = port.info().unwrap();
    assert_eq!(info.driver, "net_ring");
    start_simple(&mut port, pool, &PortConf::default());
    assert!(port.is_started());
    assert!(!port.rss_enabled(), "one rx queue: no RSS");
    assert!(port.link().unwrap().up);
    let _mac = port.mac_addr().unwrap();
    port.reset_stats().unwrap();

    let frames: Vec<Vec<u8>> = (0..8u8)
        .map(|i| udp_frame([100, 64, 0, i], [192, 0, 2, 1], &vec![i; 18 + i as usize * 10]))
        .collect();
    let mut tx = Burst::new();
    for f in &frames {
        tx.push(mbuf_with(pool, f)).unwrap();
    }
    assert_eq!(port.tx_burst(0, &mut tx), 8);
    assert!(tx.is_empty(), "sent mbufs leave the burst");

    let mut rx = Burst::new();
    let got = poll_until(8, 100, &mut rx, |b| port.rx_burst(0, b));
    assert_eq!(got, 8, "net_ring loops tx back to rx");
    for (m, f) in rx.iter().zip(&frames) {
        // (net_ring passes mbuf pointers through untouched: `port` stays
        // whatever the sender left, so it is not checked here.)
        assert_eq!(m.data(), f.as_slice());
    }
    assert_eq!(port.rx_burst(0, &mut rx), 0, "ring is empty now");
    rx.clear();

    let stats = port.stats().unwrap();
    assert_eq!((stats.opackets, stats.ipackets), (8, 8), "{stats:?}");
    assert_eq!(stats.oerrors, 0);

    // Reconfiguring a started port is refused with a clear message.
    let err = port.configure(1, 1, &PortConf::default()).unwrap_err();
    assert!(err.to_string().contains("started"), "{err}");
    // Out-of-range queue counts name the limit.
    port.stop().unwrap();
    let err = port.configure(64, 1, &PortConf::default()).unwrap_err();
    assert!(matches!(err, DpdkError::QueueOutOfRange { .. }), "{err}");
    // RSS is only enabled when the PMD advertises IP hashing (net_ring
    // does not), even with several RX queues.
    port.configure(2, 2, &PortConf::default()).unwrap();
    assert_eq!(info.flow_type_rss_offloads, 0);
    assert!(!port.rss_enabled());
    // Reconfigure back to one queue pair: traffic flows again.
    start_simple(&mut port, pool, &PortConf::default());
    let mut b = Burst::new();
    b.push(mbuf_with(pool, &frames[0])).unwrap();
    assert_eq!(port.tx_burst(0, &mut b), 1);
    assert_eq!(poll_until(1, 100, &mut b, |b| port.rx_burst(0, b)), 1);
    assert_eq!(b[0].data(), frames[0].as_slice());
    b.clear();

    // Closing a vdev port releases the device: it cannot be found again.
    port.close().unwrap();
    assert!(matches!(Port::by_name(eal, "net_ring0"), Err(DpdkError::PortNotFound { .. })));
}

fn workers_and_queue_handles(eal: &Eal, pool: &Mempool) {
    // A worker lcore reports its id and its return value.
    eal.launch_on(1, || current_lcore().map_or(-1, |id| id as i32)).unwrap();
    assert_eq!(eal.wait(1), 1);
    // The main lcore cannot be launched on.
    assert!(matches!(eal.launch_on(0, || 0), Err(DpdkError::Lcore { .. })));
    // A panic is caught at the FFI boundary (its message is kept out of the
    // test output by a temporary hook).
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|info| {
        if !info.to_string().contains("expected test panic") {
            eprintln!("{info}");
        }
    }));
    eal.launch_on(1, || panic!("expected test panic on a worker lcore")).unwrap();
    let ret = eal.wait(1);
    std::panic::set_hook(default_hook);
    assert_eq!(ret, LAUNCH_PANICKED);

    // Queue handles: the worker receives what the main lcore sends, on a
    // port hot-plugged at run time.
    eal.probe_device("net_ring1").unwrap();
    let mut port = Port::by_name(eal, "net_ring1").unwrap();
    start_simple(&mut port, pool, &PortConf::default());
    let mut rxq = port.rx_queue(0).unwrap();
    assert!(matches!(port.rx_queue(0), Err(DpdkError::QueueTaken { .. })));
    let mut txq = port.tx_queue(0).unwrap();
    let received = Arc::new(AtomicUsize::new(0));
    let r = received.clone();
    eal.launch_on(1, move || {
        let mut b = Burst::new();
        let n = poll_until(16, 2000, &mut b, |b| rxq.rx_burst(b));
        let ok = b.iter().enumerate().all(|(i, m)| m.data()[0] == i as u8);
        r.store(n, Ordering::SeqCst);
        i32::from(ok)
    })
    .unwrap();
    assert!(matches!(port.stop(), Err(DpdkError::QueuesInUse(_))));
    let mut b = Burst::new();
    for i in 0..16u8 {
        b.push(mbuf_with(pool, &[i; 64])).unwrap();
    }
    let mut sent = 0;
    for _ in 0..100 {
        sent += txq.tx_burst(&mut b);
        if b.is_empty() {
            break;
        }
    }
    assert_eq!(sent, 16);
    assert_eq!(eal.wait(1), 1, "worker saw the packets in order");
    assert_eq!(received.load(Ordering::SeqCst), 16);
    drop(txq);
    port.close().expect("close after the handles are gone");
}

fn null_port(eal: &Eal, pool: &Mempool) {
    let mut port = Port::by_name(eal, "net_null0").unwrap();
    start_simple(&mut port, pool, &PortConf::default());
    let mut b = Burst::new();
    let n = port.rx_burst(0, &mut b);
    assert!(n > 0, "net_null generates packets on rx");
    assert_eq!(pool.in_use_count() as usize, n);
    for m in b.iter_mut() {
        m.data_mut().fill(0xab);
    }
    let sent = port.tx_burst(0, &mut b);
    assert_eq!(sent, n, "net_null accepts every packet");
    let s = port.stats().unwrap();
    assert_eq!((s.ipackets, s.opackets), (n as u64, n as u64), "{s:?}");
    port.close().unwrap();
}

fn spsc_rings(eal: &Eal, pool: &Mempool) {
    struct Counted(Arc<AtomicUsize>);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let drops = Arc::new(AtomicUsize::new(0));
    let (mut p, mut c) = ring::spsc::<Box<Counted>>(eal, "test_ring_box", 4).unwrap();
    assert_eq!(p.capacity(), 4);
    for _ in 0..4 {
        assert!(p.enqueue(Box::new(Counted(drops.clone()))).is_ok());
    }
    let back = p.enqueue(Box::new(Counted(drops.clone())));
    assert!(back.is_err(), "full ring gives the item back");
    drop(back);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert_eq!(c.len(), 4);
    drop(c.dequeue().unwrap());
    assert_eq!(drops.load(Ordering::SeqCst), 2);
    drop((p, c)); // 3 items left in the ring are dropped with it
    assert_eq!(drops.load(Ordering::SeqCst), 5);

    // Mbufs through a ring to a worker lcore and back via a second ring.
    let (mut to_w, mut from_main) = ring::spsc::<Mbuf>(eal, "test_ring_to_w", 64).unwrap();
    let (mut to_main, mut from_w) = ring::spsc::<Mbuf>(eal, "test_ring_from_w", 64).unwrap();
    eal.launch_on(1, move || {
        let mut b = Burst::new();
        let mut moved = 0;
        for _ in 0..5000 {
            if from_main.dequeue_burst(&mut b) > 0 {
                for m in b.iter_mut() {
                    m.data_mut()[0] += 1;
                }
                moved += to_main.enqueue_burst(&mut b);
            }
            if moved == 20 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
        moved as i32
    })
    .unwrap();
    let mut b = Burst::new();
    for i in 0..20u8 {
        b.push(mbuf_with(pool, &[i])).unwrap();
    }
    assert_eq!(to_w.enqueue_burst(&mut b), 20);
    assert_eq!(eal.wait(1), 20);
    let got = poll_until(20, 100, &mut b, |b| from_w.dequeue_burst(b));
    assert_eq!(got, 20);
    assert!(b.iter().enumerate().all(|(i, m)| m.data()[0] == i as u8 + 1));
}
