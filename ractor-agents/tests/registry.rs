//! The agent registry: every operation, lookup order, events, heartbeats (paused time),
//! metrics, supervised agents (`registry/supervised.rs`) and concurrent use
//! (`registry/concurrency.rs`). Each test's name is the sentence it proves.

// Test code: a panic on an unexpected `Err` is the failure report.
#![allow(clippy::unwrap_used)]

#[path = "registry/concurrency.rs"]
mod concurrency;
#[path = "registry/events.rs"]
mod events;
#[path = "registry/supervised.rs"]
mod supervised;
mod support;

use std::time::Duration;

use ractor_agents::registry::{
    AgentRegistry, AgentStatus, Capabilities, Capability, MAX_CONCURRENCY, Registration, RegistryError,
};

fn summarizer(id: &str, max: u32) -> Registration {
    Registration::new(id, "Summarizer")
        .capabilities(Capabilities::new().tag("summarize").tool("web_search").intent("digest"))
        .max_concurrency(max)
}

fn ids(entries: &[ractor_agents::registry::AgentEntry]) -> Vec<&str> {
    entries.iter().map(|e| e.id.as_str()).collect()
}

#[test]
fn a_registered_agent_is_found_by_id_type_and_each_of_its_capabilities() {
    let registry = AgentRegistry::new();
    registry.register(summarizer("s1", 4)).unwrap();
    let entry = registry.get("s1").unwrap();
    assert_eq!((entry.status, entry.load, entry.max_concurrency), (AgentStatus::Available, 0, 4));
    assert_eq!(&*entry.agent_type, "Summarizer");
    assert!(entry.capabilities.has("summarize"));
    assert_eq!(ids(&registry.by_type("Summarizer")), ["s1"]);
    for capability in [Capability::tag("summarize"), Capability::tool("web_search"), Capability::intent("digest")] {
        assert_eq!(registry.best(capability).map(|e| e.id), Some("s1".into()), "{capability}");
        assert_eq!(ids(&registry.find(capability)), ["s1"], "{capability}");
    }
    assert!(registry.contains("s1"));
    assert_eq!(registry.len(), 1);
}

#[test]
fn tags_tools_and_intents_are_separate_namespaces() {
    let registry = AgentRegistry::new();
    registry.register(Registration::new("searcher", "S").capabilities(Capabilities::new().tool("search"))).unwrap();
    assert!(registry.best("search").is_none(), "a tag lookup must not find a tool");
    assert!(registry.best(Capability::intent("search")).is_none());
    assert!(registry.best(Capability::tool("search")).is_some());
}

#[test]
fn registering_an_id_twice_fails_with_duplicate_agent_and_keeps_the_first() {
    let registry = AgentRegistry::new();
    registry.register(summarizer("s1", 4)).unwrap();
    let err = registry.register(Registration::new("s1", "Other")).unwrap_err();
    assert_eq!(err, RegistryError::DuplicateAgent { id: "s1".into() });
    assert_eq!(&*registry.get("s1").unwrap().agent_type, "Summarizer");
    assert!(registry.by_type("Other").is_empty());
}

#[test]
fn a_max_concurrency_of_zero_or_beyond_the_limit_is_refused_at_registration_and_update() {
    let registry = AgentRegistry::new();
    for max in [0, MAX_CONCURRENCY + 1] {
        let err = registry.register(summarizer("s", max)).unwrap_err();
        assert!(matches!(err, RegistryError::InvalidMaxConcurrency { max: m, .. } if m == max), "{err}");
    }
    assert!(registry.is_empty(), "a refused registration leaves nothing behind");
    registry.register(summarizer("s", MAX_CONCURRENCY)).unwrap();
    assert!(matches!(registry.set_max_concurrency("s", 0), Err(RegistryError::InvalidMaxConcurrency { .. })));
    assert!(matches!(registry.set_load("s", MAX_CONCURRENCY + 1), Err(RegistryError::InvalidLoad { .. })));
    assert_eq!(registry.get("s").unwrap().max_concurrency, MAX_CONCURRENCY);
}

#[test]
fn every_update_of_an_unknown_id_fails_with_unknown_agent() {
    let registry = AgentRegistry::new();
    let unknown = RegistryError::UnknownAgent { id: "ghost".into() };
    assert_eq!(registry.set_status("ghost", AgentStatus::Busy).unwrap_err(), unknown);
    assert_eq!(registry.set_load("ghost", 1).unwrap_err(), unknown);
    assert_eq!(registry.adjust_load("ghost", 1).unwrap_err(), unknown);
    assert_eq!(registry.set_max_concurrency("ghost", 1).unwrap_err(), unknown);
    assert_eq!(registry.heartbeat("ghost").unwrap_err(), unknown);
    assert_eq!(registry.unregister("ghost").unwrap_err(), unknown);
    assert_eq!(registry.registration("ghost").unwrap_err(), unknown);
    assert!(registry.get("ghost").is_none());
}

#[test]
fn unregistering_removes_the_agent_from_every_lookup_and_its_handle_stops_working() {
    let registry = AgentRegistry::new();
    let handle = registry.register(summarizer("s1", 4)).unwrap();
    registry.register(summarizer("s2", 4)).unwrap();
    let last = registry.unregister("s1").unwrap();
    assert_eq!((last.id.as_str(), last.status), ("s1", AgentStatus::Available));
    assert!(registry.get("s1").is_none());
    assert_eq!(ids(&registry.find("summarize")), ["s2"]);
    assert_eq!(ids(&registry.find(Capability::tool("web_search"))), ["s2"]);
    assert_eq!(ids(&registry.by_type("Summarizer")), ["s2"]);
    assert!(!handle.is_registered());
    assert!(matches!(handle.set_load(1), Err(RegistryError::UnknownAgent { .. })));
    // The id is free again; the old handle must not reach the new agent.
    registry.register(summarizer("s1", 8)).unwrap();
    assert!(handle.set_load(1).is_err());
    assert!(handle.unregister().is_err());
    assert_eq!(registry.get("s1").unwrap().load, 0);
}

#[test]
fn lookups_by_capability_put_available_agents_by_lowest_load_ratio_first_then_busy_ones() {
    let registry = AgentRegistry::new();
    for (id, max, load) in [("half", 4, 2), ("full", 2, 2), ("quarter", 8, 2), ("idle", 1, 0), ("over", 1, 3)] {
        registry.register(summarizer(id, max)).unwrap();
        registry.set_load(id, load).unwrap();
    }
    assert_eq!(ids(&registry.find("summarize")), ["idle", "quarter", "half", "full", "over"]);
    assert_eq!(registry.best("summarize").unwrap().id, "idle");
    assert_eq!(ids(&registry.top("summarize", 2)), ["idle", "quarter"]);
    let statuses: Vec<_> = registry.find("summarize").iter().map(|e| e.status).collect();
    assert_eq!(statuses[3..], [AgentStatus::Busy, AgentStatus::Busy]);
    registry.set_load("idle", 1).unwrap(); // 1/1: now busy, ratio 1 like `full`, registered before it
    assert_eq!(ids(&registry.find("summarize")), ["quarter", "half", "full", "idle", "over"]);
}

#[test]
fn agents_with_the_same_load_ratio_are_returned_in_registration_order() {
    let registry = AgentRegistry::new();
    for id in ["a", "b", "c"] {
        registry.register(summarizer(id, 2)).unwrap();
    }
    registry.set_load("a", 1).unwrap();
    assert_eq!(ids(&registry.find("summarize")), ["b", "c", "a"]);
}

#[test]
fn lookups_by_capability_never_return_draining_unavailable_or_failed_agents() {
    let registry = AgentRegistry::new();
    for id in ["draining", "unavailable", "failed", "busy"] {
        registry.register(summarizer(id, 1)).unwrap();
    }
    registry.set_status("draining", AgentStatus::Draining).unwrap();
    registry.set_status("unavailable", AgentStatus::Unavailable).unwrap();
    registry.set_status("failed", AgentStatus::Failed).unwrap();
    registry.set_load("busy", 1).unwrap();
    assert_eq!(ids(&registry.find("summarize")), ["busy"]);
    assert_eq!(registry.best("summarize").unwrap().id, "busy");
    registry.set_status("busy", AgentStatus::Unavailable).unwrap();
    assert!(registry.best("summarize").is_none());
    assert!(registry.find("summarize").is_empty());
    assert_eq!(registry.list().len(), 4, "they are still listed");
}

#[test]
fn the_load_moves_an_agent_between_available_and_busy_at_its_max_concurrency() {
    let registry = AgentRegistry::new();
    let s = registry.register(summarizer("s", 2)).unwrap();
    assert_eq!(s.adjust_load(1).unwrap(), 1);
    assert_eq!(registry.get("s").unwrap().status, AgentStatus::Available);
    assert_eq!(s.adjust_load(1).unwrap(), 2);
    assert_eq!(registry.get("s").unwrap().status, AgentStatus::Busy);
    registry.set_max_concurrency("s", 3).unwrap();
    assert_eq!(registry.get("s").unwrap().status, AgentStatus::Available);
    assert_eq!(s.adjust_load(-10).unwrap(), 0, "saturates at zero");
    // Asking for Busy or Available gives whichever the load says.
    assert_eq!(registry.set_status("s", AgentStatus::Busy).unwrap(), AgentStatus::Available);
    assert_eq!(registry.get("s").unwrap().status, AgentStatus::Available);
    // The load of an agent that takes no work is kept, and counts again when it is back.
    registry.set_status("s", AgentStatus::Draining).unwrap();
    registry.set_load("s", 3).unwrap();
    assert_eq!(registry.get("s").unwrap().status, AgentStatus::Draining);
    registry.set_status("s", AgentStatus::Available).unwrap();
    assert_eq!(registry.get("s").unwrap().status, AgentStatus::Busy);
}

#[test]
fn list_and_by_type_return_agents_in_every_status_sorted_by_id() {
    let registry = AgentRegistry::new();
    for (id, kind) in [("c", "A"), ("a", "A"), ("b", "B")] {
        registry.register(Registration::new(id, kind)).unwrap();
    }
    registry.set_status("a", AgentStatus::Failed).unwrap();
    assert_eq!(ids(&registry.list()), ["a", "b", "c"]);
    assert_eq!(ids(&registry.by_type("A")), ["a", "c"]);
    assert_eq!(registry.count(AgentStatus::Failed), 1);
    assert_eq!(registry.count(AgentStatus::Available), 2);
    assert!(registry.by_type("Z").is_empty());
}

/// A brute-force model of the lookup order, checked after every one of many random updates
/// among agents that share one capability (the tree must keep up with growth, removal, slot
/// reuse and every kind of update).
#[test]
fn best_and_find_match_a_brute_force_sort_through_random_updates_growth_and_removal() {
    use rand::{RngExt, SeedableRng, rngs::SmallRng};
    let registry = AgentRegistry::new();
    let mut rng = SmallRng::seed_from_u64(7);
    let mut next = 0u32;
    for step in 0..3000 {
        let live: Vec<_> = registry.list().into_iter().map(|e| e.id).collect();
        let pick = |rng: &mut SmallRng| live[rng.random_range(0..live.len())].clone();
        match rng.random_range(0..10) {
            0 | 1 if live.len() < 300 => {
                registry.register(summarizer(&format!("a{next:04}"), rng.random_range(1..5))).unwrap();
                next += 1;
            }
            2 if !live.is_empty() => {
                registry.unregister(pick(&mut rng).as_str()).unwrap();
            }
            3 if !live.is_empty() => {
                let status = AgentStatus::ALL[rng.random_range(0..5)];
                registry.set_status(pick(&mut rng).as_str(), status).unwrap();
            }
            4 if !live.is_empty() => {
                registry.set_max_concurrency(pick(&mut rng).as_str(), rng.random_range(1..5)).unwrap();
            }
            _ if !live.is_empty() => {
                registry.set_load(pick(&mut rng).as_str(), rng.random_range(0..6)).unwrap();
            }
            _ => {}
        }
        let mut expected: Vec<_> = registry.list().into_iter().filter(|e| e.status.takes_work()).collect();
        // Available first, then by load ratio (exactly, as fractions), ties by registration order
        // (ids are numbered in registration order, but freed slots are reused, so compare sets
        // of equals rather than one order among them).
        expected.sort_by(|a, b| {
            let rank = |e: &ractor_agents::registry::AgentEntry| e.status != AgentStatus::Available;
            (rank(a), u64::from(a.load) * u64::from(b.max_concurrency))
                .cmp(&(rank(b), u64::from(b.load) * u64::from(a.max_concurrency)))
        });
        let found = registry.find("summarize");
        let key = |e: &ractor_agents::registry::AgentEntry| (e.status, e.load * 840 / e.max_concurrency);
        assert_eq!(
            found.iter().map(key).collect::<Vec<_>>(),
            expected.iter().map(key).collect::<Vec<_>>(),
            "step {step}"
        );
        let best = registry.best("summarize");
        assert_eq!(best.as_ref().map(key), expected.first().map(key), "step {step}");
    }
}

#[test]
fn registrations_do_not_keep_the_registry_alive() {
    let registry = AgentRegistry::new();
    let handle = registry.register(summarizer("s", 1)).unwrap();
    drop(registry);
    assert!(!handle.is_registered());
    assert!(matches!(handle.heartbeat(), Err(RegistryError::UnknownAgent { .. })));
    assert!(handle.entry().is_none());
}

#[test]
fn a_heartbeat_timeout_outside_a_runtime_is_refused_with_no_runtime() {
    let registry = AgentRegistry::new();
    let err = registry.register(summarizer("s", 1).heartbeat_timeout(Duration::from_secs(1))).unwrap_err();
    assert_eq!(err, RegistryError::NoRuntime { id: "s".into() });
    let err = registry.register(summarizer("s", 1).heartbeat_timeout(Duration::ZERO)).unwrap_err();
    assert_eq!(err, RegistryError::InvalidHeartbeatTimeout { id: "s".into() });
    assert!(registry.is_empty());
}
