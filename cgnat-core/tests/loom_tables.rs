//! Model-checked interleavings of the table slot protocol (loom).
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p cgnat-core --test loom_tables --release`
//! (the CI script does, with its own target directory). Each model explores
//! every interleaving of the atomic operations of a few threads, up to the
//! preemption bound. Readers racing a writer and tombstone cleanup racing an
//! insert are covered by the real-thread stress tests in `tables_stress.rs`
//! (loom 0.7 did not explore the reader-before-publish orders of those
//! models, so they were moved rather than left passing vacuously).
#![cfg(loom)]

use cgnat_core::flow::{MappingKey, Protocol, SessionKey};
use cgnat_core::table::mapping::{MappingInsert, MappingTable};
use cgnat_core::table::session::{SessionInsert, SessionTable, SessionValue};
use loom::sync::Arc;
use loom::thread;

fn key(port: u16) -> SessionKey {
    SessionKey {
        protocol: Protocol::Udp,
        inside_addr: 0x6440_0001,
        inside_port: port,
        remote_addr: 0x0808_0808,
        remote_port: 53,
    }
}

/// Runs a model and checks that loom really explored several
/// interleavings (a model that runs once proves nothing).
fn model(f: impl Fn() + Sync + Send + 'static) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let runs = std::sync::Arc::new(AtomicUsize::new(0));
    let r = runs.clone();
    loom::model(move || {
        r.fetch_add(1, Ordering::Relaxed);
        f()
    });
    let n = runs.load(Ordering::Relaxed);
    assert!(n > 1, "loom explored only {n} interleaving");
}

/// Two workers create the same flow at once: either both see one entry,
/// or the loser is told it raced; never two live entries, never a lost one.
#[test]
fn concurrent_inserts_of_one_key_leave_exactly_one_entry() {
    model(|| {
        let t = Arc::new(SessionTable::new(4, 1, true));
        let handles: Vec<_> = (0..2u16)
            .map(|i| {
                let t = t.clone();
                thread::spawn(move || t.insert(&key(7), 0, SessionValue::new(100 + i, 1, 0, 0)))
            })
            .collect();
        let results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let inserted = results.iter().filter(|r| matches!(r, SessionInsert::Inserted(_))).count();
        assert_eq!(inserted, 1, "{results:?}");
        for r in &results {
            assert!(
                matches!(r, SessionInsert::Inserted(_) | SessionInsert::Exists(_) | SessionInsert::Race),
                "{r:?}"
            );
        }
        let found = t.find(&key(7)).expect("the winner is findable");
        let winner = results.iter().find_map(|r| match r {
            SessionInsert::Inserted(s) => Some(s.value.public_port()),
            _ => None,
        });
        assert_eq!(Some(found.value.public_port()), winner);
        assert_eq!(t.len(), 1);
    });
}

/// Mappings carry their whole key in the control word: two workers racing
/// to create one mapping agree on a single public port.
#[test]
fn concurrent_mapping_creation_agrees_on_one_port() {
    model(|| {
        let t = Arc::new(MappingTable::new(4, 4));
        let mk = MappingKey {
            protocol: Protocol::Tcp,
            inside_addr: 0x6440_0002,
            inside_port: 5555,
        };
        let hs: Vec<_> = (0..2u16)
            .map(|i| {
                let t = t.clone();
                thread::spawn(move || t.insert(&mk, 2000 + i, 0))
            })
            .collect();
        let rs: Vec<_> = hs.into_iter().map(|h| h.join().unwrap()).collect();
        let ports: Vec<u16> = rs
            .iter()
            .filter_map(|r| match r {
                MappingInsert::Inserted(m) | MappingInsert::Exists(m) => Some(m.public_port),
                _ => None,
            })
            .collect();
        assert!(ports.windows(2).all(|w| w[0] == w[1]), "{rs:?}");
        assert_eq!(t.find(&mk).map(|m| m.public_port), ports.first().copied());
        assert_eq!(t.len(), 1);
    });
}

/// Issue 10 item 8: a worker holding a subscriber reference across the
/// sweeper's removal of that subscriber and another worker's insert into
/// the same slot must not charge (or take ports for) the new subscriber.
/// Worker 1 finds A and reserves a session through its reference; the
/// sweeper removes A (idle); worker 2 inserts B, which homes to A's slot.
/// In every interleaving B's counts stay untouched: the generation in the
/// reference is checked in the same compare-and-swap as the reservation.
#[test]
fn a_reference_across_removal_and_reuse_never_charges_the_next_subscriber() {
    use cgnat_core::table::subscriber::{Limits, SubscriberInsert, SubscriberTable};
    const A: u32 = 0x6440_0001;
    const SEED: u64 = 3;
    // Find (in one plain run) an address B that takes A's slot once A is gone.
    let found = std::sync::Arc::new(std::sync::atomic::AtomicU32::new(0));
    let f = found.clone();
    loom::model(move || {
        let t = SubscriberTable::new(1, 1, SEED);
        let SubscriberInsert::Inserted(a) = t.insert(A, 0, false, None) else {
            panic!()
        };
        assert!(t.try_remove(&t.entry(a.index).unwrap()));
        for b in A + 1..A + 10_000 {
            if let SubscriberInsert::Inserted(s) = t.insert(b, 0, false, None) {
                if s.index == a.index {
                    f.store(b, std::sync::atomic::Ordering::Relaxed);
                    return;
                }
                assert!(t.try_remove(&t.entry(s.index).unwrap()));
            }
        }
    });
    let b = found.load(std::sync::atomic::Ordering::Relaxed);
    assert_ne!(b, 0, "no address shares A's slot");
    let lim = Limits {
        confirmed: 8,
        unconfirmed: 8,
    };
    model(move || {
        let t = Arc::new(SubscriberTable::new(1, 1, SEED));
        let SubscriberInsert::Inserted(a) = t.insert(A, 0, false, None) else {
            panic!()
        };
        let slot = a.index;
        let w1 = {
            let t = t.clone();
            thread::spawn(move || t.find(A).map(|r| t.reserve_session(r, lim).is_ok()).unwrap_or(false))
        };
        let sweeper = {
            let t = t.clone();
            thread::spawn(move || t.entry(slot).is_some_and(|e| t.try_remove(&e)))
        };
        let w2 = {
            let t = t.clone();
            thread::spawn(move || t.insert(b, 0, false, None))
        };
        let reserved = w1.join().unwrap();
        let removed = sweeper.join().unwrap();
        let _ = w2.join().unwrap();
        if let Some(e) = t.entry(slot) {
            if e.addr == b {
                assert_eq!(e.sessions, 0, "B charged with A's session (reserved={reserved}, removed={removed})");
            } else {
                assert_eq!(e.addr, A);
                assert_eq!(e.sessions, reserved as u32);
            }
        }
        assert!(!(reserved && removed), "A removed while holding a session");
    });
}
