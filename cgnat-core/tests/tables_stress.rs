//! Real-thread stress tests of the lock-free tables: workers insert and look
//! up while a sweeper deletes and cleans tombstones, with invariants checked
//! during and after. Bounded in operations (a few seconds in debug builds).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;

use cgnat_core::flow::{Protocol, SessionKey};
use cgnat_core::table::hash::splitmix64;
use cgnat_core::table::session::{SessionInsert, SessionTable, SessionValue};

fn key(i: u32) -> SessionKey {
    SessionKey {
        protocol: if i % 2 == 0 { Protocol::Udp } else { Protocol::Tcp },
        inside_addr: 0x6440_0000 | (i >> 10),
        inside_port: 1024 + (i & 0x3FF) as u16,
        remote_addr: 0xC633_6400 | (i % 7),
        remote_port: 443,
    }
}

/// The value a key is always inserted with, so readers can check it.
fn port_of(i: u32) -> u16 {
    (i.wrapping_mul(2_654_435_761) >> 16) as u16
}

/// Readers racing writers never see a partially written entry: whenever a
/// lookup finds a key, its value and pool index are the ones it was
/// inserted with. Every key a writer inserted is found afterwards.
#[test]
fn readers_see_only_complete_entries() {
    const KEYS: u32 = 40_000;
    let t = Arc::new(SessionTable::new(KEYS, 11, true));
    let done = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..2u32)
        .map(|w| {
            let t = t.clone();
            thread::spawn(move || {
                for i in (w..KEYS).step_by(2) {
                    let r = t.insert(&key(i), i % 13, SessionValue::new(port_of(i), i, 0, 0));
                    assert!(matches!(r, SessionInsert::Inserted(_)), "{i}: {r:?}");
                }
            })
        })
        .collect();
    let readers: Vec<_> = (0..2u64)
        .map(|seed| {
            let t = t.clone();
            let done = done.clone();
            thread::spawn(move || {
                let mut rng = seed;
                let mut hits = 0u64;
                while !done.load(Ordering::Relaxed) || hits == 0 {
                    let i = (splitmix64(&mut rng) % KEYS as u64) as u32;
                    if let Some(r) = t.find(&key(i)) {
                        assert_eq!(r.value.public_port(), port_of(i), "torn value for key {i}");
                        assert_eq!(r.value.last_seen(), i);
                        assert_eq!(r.pool_index, i % 13);
                        hits += 1;
                    }
                }
                hits
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    let hits: u64 = readers.into_iter().map(|r| r.join().unwrap()).sum();
    assert!(hits > 0);
    for i in 0..KEYS {
        assert!(t.find(&key(i)).is_some(), "key {i} lost");
    }
    assert_eq!(t.len(), KEYS);
}

/// Workers insert fresh keys while the sweeper deletes old ones and cleans
/// tombstones continuously. No inserted key is ever unreachable (a cleaned
/// tombstone must never cut a chain), and the live count matches.
#[test]
fn tombstone_cleanup_never_hides_concurrent_inserts() {
    const MAX: u32 = 20_000;
    const ROUNDS: u32 = 6;
    let t = Arc::new(SessionTable::new(MAX, 5, true));
    // Pre-fill half the table with keys the sweeper will delete.
    let victims: Vec<u32> = (0..MAX / 2).map(|i| 1_000_000 + i).collect();
    for &v in &victims {
        t.insert(&key(v), 0, SessionValue::new(1, 1, 0, 0));
    }
    let sweeper = {
        let t = t.clone();
        thread::spawn(move || {
            for chunk in victims.chunks(500) {
                for &v in chunk {
                    let r = t.find(&key(v)).expect("victim present");
                    let e = t.entry(r.index).unwrap();
                    assert!(t.mark_dying(&e));
                    assert!(t.remove(&t.entry(r.index).unwrap()));
                }
                t.clean(0, t.slots());
            }
        })
    };
    let workers: Vec<_> = (0..2u32)
        .map(|w| {
            let t = t.clone();
            thread::spawn(move || {
                let mut mine = Vec::new();
                for r in 0..ROUNDS {
                    for i in 0..(MAX / 2 / ROUNDS / 2) {
                        let k = w * 100_000 + r * 10_000 + i;
                        match t.insert(&key(k), 0, SessionValue::new(2, 2, 0, 0)) {
                            SessionInsert::Inserted(_) => mine.push(k),
                            other => panic!("{k}: {other:?}"),
                        }
                        // Every key this worker inserted so far stays reachable.
                        if i % 64 == 0 {
                            for &m in &mine {
                                assert!(t.find(&key(m)).is_some(), "key {m} became unreachable");
                            }
                        }
                    }
                }
                mine
            })
        })
        .collect();
    sweeper.join().unwrap();
    let inserted: Vec<u32> = workers.into_iter().flat_map(|w| w.join().unwrap()).collect();
    t.clean(0, t.slots());
    for k in &inserted {
        assert!(t.find(&key(*k)).is_some(), "key {k} lost after cleanup");
    }
    let live = (0..t.slots() as u32).filter(|i| t.entry(*i).is_some()).count() as u32;
    assert_eq!(live, t.len());
    assert_eq!(t.len(), inserted.len() as u32);
}

/// Four workers create the same flows at the same time: each flow ends up
/// inserted exactly once, every other attempt sees it or reports the race.
#[test]
fn same_flow_from_many_workers_is_created_once() {
    const KEYS: u32 = 20_000;
    // Headroom: at exactly the limit, concurrent inserts may transiently see it reached.
    let t = Arc::new(SessionTable::new(KEYS + 64, 8, true));
    let hs: Vec<_> = (0..4u16)
        .map(|w| {
            let t = t.clone();
            thread::spawn(move || {
                let mut inserted = 0u32;
                for i in 0..KEYS {
                    match t.insert(&key(i), 0, SessionValue::new(w, 1, 0, 0)) {
                        SessionInsert::Inserted(_) => inserted += 1,
                        SessionInsert::Exists(_) | SessionInsert::Race => {}
                        SessionInsert::Full => panic!("full at {i}"),
                    }
                }
                inserted
            })
        })
        .collect();
    let total: u32 = hs.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(total, KEYS, "each flow inserted exactly once");
    assert_eq!(t.len(), KEYS);
}
