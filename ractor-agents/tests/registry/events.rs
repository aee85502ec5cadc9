//! Watch events, heartbeat expiry under paused time, and the registry's metrics.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use metrics_util::debugging::DebugValue;
use ractor_agents::registry::{AgentRegistry, AgentStatus, RegistryEvent, RegistryWatch, StatusReason, WatchError};
use ractor_agents::telemetry::metrics::names;
use tokio::time::Instant;

use super::summarizer;

/// The next event, failing the test if none comes within 10 s (of paused time, where used).
pub(crate) async fn next(watch: &mut RegistryWatch) -> RegistryEvent {
    tokio::time::timeout(Duration::from_secs(10), watch.recv())
        .await
        .expect("an event within 10 s")
        .expect("the registry is alive")
}

fn status_changed(id: &str, from: AgentStatus, to: AgentStatus, reason: StatusReason) -> RegistryEvent {
    RegistryEvent::StatusChanged { id: id.into(), from, to, reason }
}

#[tokio::test]
async fn a_watcher_sees_registration_status_changes_and_unregistration_in_order() {
    let registry = AgentRegistry::new();
    let mut watch = registry.watch();
    registry.register(summarizer("s", 1)).unwrap();
    registry.set_load("s", 1).unwrap();
    registry.set_status("s", AgentStatus::Draining).unwrap();
    registry.unregister("s").unwrap();
    assert_eq!(
        next(&mut watch).await,
        RegistryEvent::Registered { id: "s".into(), agent_type: "Summarizer".into(), status: AgentStatus::Available }
    );
    assert_eq!(
        next(&mut watch).await,
        status_changed("s", AgentStatus::Available, AgentStatus::Busy, StatusReason::AtCapacity)
    );
    assert_eq!(
        next(&mut watch).await,
        status_changed("s", AgentStatus::Busy, AgentStatus::Draining, StatusReason::Requested)
    );
    assert_eq!(
        next(&mut watch).await,
        RegistryEvent::Unregistered { id: "s".into(), last_status: AgentStatus::Draining }
    );
    assert_eq!(watch.try_recv(), Ok(None), "no load event for a plain watcher, nothing else");
}

#[tokio::test]
async fn load_changes_reach_only_the_watchers_that_asked_for_them() {
    let registry = AgentRegistry::new();
    registry.register(summarizer("s", 4)).unwrap();
    let mut plain = registry.watch();
    let mut with_load = registry.watch_with_load();
    registry.adjust_load("s", 1).unwrap();
    registry.set_max_concurrency("s", 1).unwrap();
    assert_eq!(next(&mut with_load).await, RegistryEvent::LoadChanged { id: "s".into(), load: 1, max_concurrency: 4 });
    assert_eq!(
        next(&mut with_load).await,
        status_changed("s", AgentStatus::Available, AgentStatus::Busy, StatusReason::AtCapacity)
    );
    assert_eq!(next(&mut with_load).await, RegistryEvent::LoadChanged { id: "s".into(), load: 1, max_concurrency: 1 });
    assert_eq!(
        next(&mut plain).await,
        status_changed("s", AgentStatus::Available, AgentStatus::Busy, StatusReason::AtCapacity)
    );
    assert_eq!(plain.try_recv(), Ok(None));
}

#[tokio::test]
async fn a_watcher_that_falls_behind_is_told_how_many_events_it_missed_then_gets_the_newest() {
    let registry = AgentRegistry::builder().event_capacity(4).build();
    let mut watch = registry.watch();
    for n in 0..10 {
        registry.register(summarizer(&format!("a{n}"), 1)).unwrap();
    }
    assert_eq!(watch.recv().await, Err(WatchError::Lagged { missed: 6 }));
    assert_eq!(next(&mut watch).await.id(), &"a6");
}

#[tokio::test]
async fn watchers_are_closed_when_the_registry_is_dropped() {
    let registry = AgentRegistry::new();
    let mut watch = registry.watch();
    drop(registry);
    assert_eq!(watch.recv().await, Err(WatchError::Closed));
}

fn heartbeat_registry(name: &str) -> AgentRegistry {
    AgentRegistry::builder().name(name).heartbeat_check(Duration::from_millis(100)).build()
}

#[tokio::test(start_paused = true)]
async fn an_agent_that_misses_its_heartbeats_becomes_unavailable_with_a_heartbeat_missed_event() {
    let registry = heartbeat_registry("hb-miss");
    let timeout = Duration::from_secs(1);
    let agent = registry.register(summarizer("s", 1).heartbeat_timeout(timeout)).unwrap();
    let mut watch = registry.watch();
    tokio::time::sleep(Duration::from_millis(500)).await;
    agent.heartbeat().unwrap();
    let last = Instant::now();
    match next(&mut watch).await {
        RegistryEvent::HeartbeatMissed { id, last_heartbeat, timeout: t } => {
            assert_eq!((id.as_str(), last_heartbeat, t), ("s", last, timeout));
        }
        other => panic!("expected HeartbeatMissed, got {other:?}"),
    }
    // Paused time: exact, and within the documented bound (timeout + one check period).
    let late = Instant::now() - last;
    assert!(late > timeout && late <= timeout + Duration::from_millis(100), "marked after {late:?}");
    assert_eq!(
        next(&mut watch).await,
        status_changed("s", AgentStatus::Available, AgentStatus::Unavailable, StatusReason::HeartbeatMissed)
    );
    assert_eq!(registry.get("s").unwrap().status, AgentStatus::Unavailable);
    assert!(registry.best("summarize").is_none());
}

#[tokio::test(start_paused = true)]
async fn heartbeats_in_time_keep_an_agent_available() {
    let registry = heartbeat_registry("hb-in-time");
    let agent = registry.register(summarizer("s", 1).heartbeat_timeout(Duration::from_secs(1))).unwrap();
    let mut watch = registry.watch();
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(900)).await;
        agent.heartbeat().unwrap();
    }
    assert_eq!(registry.get("s").unwrap().status, AgentStatus::Available);
    assert_eq!(watch.try_recv(), Ok(None));
}

#[tokio::test(start_paused = true)]
async fn a_heartbeat_after_a_miss_brings_the_agent_back_but_not_one_made_unavailable_otherwise() {
    let registry = heartbeat_registry("hb-back");
    let missed = registry.register(summarizer("missed", 1).heartbeat_timeout(Duration::from_secs(1))).unwrap();
    let stopped = registry.register(summarizer("stopped", 1).heartbeat_timeout(Duration::from_secs(60))).unwrap();
    stopped.set_status(AgentStatus::Unavailable).unwrap();
    let mut watch = registry.watch();
    assert!(matches!(next(&mut watch).await, RegistryEvent::HeartbeatMissed { .. }));
    assert!(matches!(next(&mut watch).await, RegistryEvent::StatusChanged { to: AgentStatus::Unavailable, .. }));
    missed.heartbeat().unwrap();
    assert_eq!(
        next(&mut watch).await,
        status_changed("missed", AgentStatus::Unavailable, AgentStatus::Available, StatusReason::HeartbeatResumed)
    );
    stopped.heartbeat().unwrap();
    assert_eq!(registry.get("stopped").unwrap().status, AgentStatus::Unavailable);
    assert_eq!(watch.try_recv(), Ok(None));
}

#[tokio::test(start_paused = true)]
async fn the_heartbeat_timer_ends_when_the_registry_is_dropped() {
    let tasks = || tokio::runtime::Handle::current().metrics().num_alive_tasks();
    let before = tasks();
    let registry = heartbeat_registry("hb-drop");
    registry.register(summarizer("s", 1).heartbeat_timeout(Duration::from_secs(1))).unwrap();
    registry.register(summarizer("t", 1).heartbeat_timeout(Duration::from_secs(1))).unwrap();
    assert_eq!(tasks(), before + 1, "one timer per registry, started by the first heartbeat agent");
    drop(registry);
    for _ in 0..100 {
        if tasks() == before {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("the heartbeat timer outlived its registry");
}

use crate::support::metrics::recorder;

/// Every metric of registry `registry` by (name, status or agent type). Snapshots reset
/// counters and gauges alike, and the registry only ever adds to or subtracts from its gauges,
/// so running totals of the snapshots are the current values of both.
fn metrics_of(registry: &str) -> HashMap<(String, String), f64> {
    /// (registry, metric name, status or agent type) → running total.
    type Totals = HashMap<(String, String, String), f64>;
    static TOTALS: OnceLock<Mutex<Totals>> = OnceLock::new();
    let mut totals = TOTALS.get_or_init(Default::default).lock().unwrap();
    for (key, _, _, value) in recorder().snapshot().into_vec() {
        let key = key.key();
        let label = |name: &str| key.labels().find(|l| l.key() == name).map(|l| l.value().to_owned());
        let Some(owner) = label("registry") else { continue };
        let detail = label("status").or_else(|| label("agent_type")).unwrap_or_default();
        let delta = match value {
            DebugValue::Counter(n) => n as f64,
            DebugValue::Gauge(v) => v.into_inner(),
            DebugValue::Histogram(_) => continue,
        };
        *totals.entry((owner, key.name().to_owned(), detail)).or_default() += delta;
    }
    totals
        .iter()
        .filter(|((owner, _, _), _)| owner == registry)
        .map(|((_, name, detail), n)| ((name.clone(), detail.clone()), *n))
        .collect()
}

fn gauge(metrics: &HashMap<(String, String), f64>, status: AgentStatus) -> f64 {
    metrics.get(&(names::REGISTRY_AGENTS.to_owned(), status.as_str().to_owned())).copied().unwrap_or(0.0)
}

#[tokio::test]
async fn the_status_gauge_counts_agents_by_status_and_forgets_them_with_the_registry() {
    recorder();
    let registry = AgentRegistry::builder().name("gauge").build();
    for id in ["a", "b", "c"] {
        registry.register(summarizer(id, 1)).unwrap();
    }
    registry.set_load("a", 1).unwrap();
    registry.set_status("b", AgentStatus::Failed).unwrap();
    let m = metrics_of("gauge");
    let expected = [(AgentStatus::Available, 1.0), (AgentStatus::Busy, 1.0), (AgentStatus::Failed, 1.0)];
    for (status, n) in expected {
        assert_eq!(gauge(&m, status), n, "{status}");
        assert_eq!(registry.count(status), n as usize, "{status}");
    }
    registry.unregister("a").unwrap();
    assert_eq!(gauge(&metrics_of("gauge"), AgentStatus::Busy), 0.0);
    drop(registry);
    let m = metrics_of("gauge");
    assert!(AgentStatus::ALL.iter().all(|s| gauge(&m, *s) == 0.0), "{m:?}");
}

#[tokio::test(start_paused = true)]
async fn every_heartbeat_expiry_is_counted_by_agent_type() {
    recorder();
    let registry = heartbeat_registry("expiries");
    registry.register(summarizer("s", 1).heartbeat_timeout(Duration::from_secs(1))).unwrap();
    let mut watch = registry.watch();
    assert!(matches!(next(&mut watch).await, RegistryEvent::HeartbeatMissed { .. }));
    let key = (names::REGISTRY_HEARTBEAT_EXPIRIES.to_owned(), "Summarizer".to_owned());
    assert_eq!(metrics_of("expiries").get(&key), Some(&1.0));
    assert_eq!(gauge(&metrics_of("expiries"), AgentStatus::Unavailable), 1.0);
}
