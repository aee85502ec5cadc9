//! Two threads at once: updates never block or tear what lookups read.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;

use ractor_agents::registry::{AgentEntry, AgentRegistry, AgentStatus, Capabilities, Registration};

/// What any entry must satisfy, whatever moment it was read at: `Busy` exactly when the load
/// has reached the max concurrency. Status, load and max are written together, so an entry
/// read half before and half after an update would break it.
fn consistent(entry: &AgentEntry) -> bool {
    !entry.status.takes_work() || (entry.status == AgentStatus::Busy) == (entry.load >= entry.max_concurrency)
}

#[test]
fn lookups_on_one_thread_never_see_a_torn_entry_while_another_thread_updates() {
    let registry = AgentRegistry::new();
    let caps = Capabilities::new().tag("work");
    for n in 0..64 {
        registry
            .register(Registration::new(format!("w{n}"), "W").capabilities(caps.clone()).max_concurrency(4))
            .unwrap();
    }
    let done = Arc::new(AtomicBool::new(false));
    let writer = {
        let (registry, done) = (registry.clone(), done.clone());
        thread::spawn(move || {
            let mut i: u32 = 0;
            while !done.load(Ordering::Relaxed) {
                let id = format!("w{}", i % 64);
                // Every combination: below, at and over the max, with the max itself moving.
                registry.set_load(&id, (i / 64) % 7).unwrap();
                registry.set_max_concurrency(&id, 1 + (i / 7) % 5).unwrap();
                if i.is_multiple_of(97) {
                    registry.set_status(&id, AgentStatus::Draining).unwrap();
                    registry.set_status(&id, AgentStatus::Available).unwrap();
                }
                i = i.wrapping_add(1);
            }
            i
        })
    };
    let mut seen = 0u64;
    for round in 0..20_000 {
        let best = registry.best("work");
        let top = registry.top("work", 8);
        let one = registry.get(&format!("w{}", round % 64));
        for entry in best.iter().chain(top.iter()).chain(one.iter()) {
            assert!(consistent(entry), "torn entry: {entry:?}");
            seen += 1;
        }
        assert!(best.is_none_or(|e| e.status.takes_work()));
        // The list a lookup answers is ordered by the entries it holds.
        let keys: Vec<_> =
            top.iter().map(|e| (e.status, u64::from(e.load) * 60 / u64::from(e.max_concurrency))).collect();
        assert!(keys.windows(2).all(|w| w[0] <= w[1]), "out of order: {keys:?}");
    }
    done.store(true, Ordering::Relaxed);
    let updates = writer.join().unwrap();
    assert!(updates > 0 && seen > 0);
}

#[test]
fn load_adjustments_from_two_threads_all_count() {
    let registry = AgentRegistry::new();
    registry.register(Registration::new("shared", "W").max_concurrency(1_000_000)).unwrap();
    let handle = registry.registration("shared").unwrap();
    let threads: Vec<_> = (0..2)
        .map(|_| {
            let handle = handle.clone();
            thread::spawn(move || {
                for _ in 0..50_000 {
                    handle.adjust_load(3).unwrap();
                    handle.adjust_load(-1).unwrap();
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert_eq!(registry.get("shared").unwrap().load, 2 * 50_000 * 2);
}

#[test]
fn lookups_during_registration_churn_only_return_agents_that_take_work() {
    let registry = AgentRegistry::new();
    let caps = Capabilities::new().tag("churn");
    registry.register(Registration::new("anchor", "W").capabilities(caps.clone())).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let churner = {
        let (registry, done, caps) = (registry.clone(), done.clone(), caps.clone());
        thread::spawn(move || {
            let mut n = 0u64;
            while !done.load(Ordering::Relaxed) {
                let id = format!("c{}", n % 500);
                let status = if n.is_multiple_of(3) { AgentStatus::Failed } else { AgentStatus::Available };
                registry
                    .register(Registration::new(id.as_str(), "W").capabilities(caps.clone()).status(status))
                    .unwrap();
                if n >= 100 {
                    registry.unregister(&format!("c{}", (n - 100) % 500)).unwrap();
                }
                n += 1;
            }
        })
    };
    for _ in 0..20_000 {
        for entry in registry.top("churn", 16) {
            assert!(entry.status.takes_work(), "{entry:?}");
        }
        assert!(registry.best("churn").is_some(), "the anchor is always there");
    }
    done.store(true, Ordering::Relaxed);
    churner.join().unwrap();
}
