//! Agents started under a supervisor register themselves, and their entries follow their
//! lives: crash, restart, stop, kill, removal and supervisor shutdown.

use std::time::Duration;

use ractor_agents::prelude::*;
use ractor_agents::registry::{RegistryWatch, StatusReason};
use ractor_agents::supervisor::StartError;

use super::events::next;
use crate::support::{self, Log, Probe, ProbeMsg, ping};

/// An agent type with declared capabilities that can report its own load.
#[derive(Default)]
struct Summarizer;

#[agent(capabilities = ["summarize"], tools = ["web_search"])]
impl Summarizer {
    /// Reports `load` through the agent's own registry entry; answers whether it could.
    async fn report_load(&mut self, ctx: &Ctx<Self>, load: u32) -> bool {
        ctx.registration().is_some_and(|registered| registered.set_load(load).is_ok())
    }
}

/// An agent that starts a small tree of its own when it starts.
#[derive(Default)]
struct Owner;

#[agent]
impl Owner {
    async fn ping(&self) {}

    #[on_start]
    async fn start_tree(&mut self, ctx: &Ctx<Self>) -> Result<(), AgentFailure> {
        let tree = Supervisor::new("sub", Strategy::OneForOne).child(ChildSpec::agent("leaf", Summarizer::default));
        ctx.start_supervisor(tree).await.map_err(|err| AgentFailure::new(err.to_string()))?;
        Ok(())
    }
}

fn probe(id: &'static str, log: &Log) -> ChildSpec {
    ChildSpec::agent(id, Probe::factory(id, log))
}

fn status(registry: &AgentRegistry, id: &str) -> Option<AgentStatus> {
    registry.get(id).map(|e| e.status)
}

/// `(to, reason)` of each status change of `id`, and `"unregistered"`/`"registered"` marks,
/// until `stop` holds for the last one.
async fn history(
    watch: &mut RegistryWatch,
    id: &str,
    stop: impl Fn(&RegistryEvent) -> bool,
) -> Vec<(Option<AgentStatus>, Option<StatusReason>)> {
    let mut seen = Vec::new();
    loop {
        let event = next(watch).await;
        if event.id() != id {
            continue;
        }
        match &event {
            RegistryEvent::StatusChanged { to, reason, .. } => seen.push((Some(*to), Some(*reason))),
            RegistryEvent::Registered { status, .. } => seen.push((Some(*status), None)),
            RegistryEvent::Unregistered { .. } => seen.push((None, None)),
            _ => {}
        }
        if stop(&event) {
            return seen;
        }
    }
}

fn changed_to(status: AgentStatus) -> impl Fn(&RegistryEvent) -> bool {
    move |e| matches!(e, RegistryEvent::StatusChanged { to, .. } if *to == status)
}

fn unregistered(e: &RegistryEvent) -> bool {
    matches!(e, RegistryEvent::Unregistered { .. })
}

#[tokio::test]
async fn agents_under_a_supervisor_register_by_path_with_their_declared_capabilities_or_only_their_type() {
    let (registry, log) = (AgentRegistry::new(), Log::default());
    let root = Supervisor::new("root", Strategy::OneForOne)
        .registry(registry.clone())
        .child(ChildSpec::agent("front", Summarizer::default))
        .child(ChildSpec::supervisor(Supervisor::new("pool", Strategy::OneForOne).child(probe("worker-3", &log))))
        .start()
        .await
        .unwrap();
    let ids: Vec<_> = registry.list().into_iter().map(|e| e.id.to_string()).collect();
    assert_eq!(ids, ["root/front", "root/pool/worker-3"]);
    let front = registry.get("root/front").unwrap();
    assert_eq!((&*front.agent_type, front.status), ("Summarizer", AgentStatus::Available));
    assert!(front.capabilities.has("summarize") && front.capabilities.has(Capability::tool("web_search")));
    let worker = registry.get("root/pool/worker-3").unwrap();
    assert_eq!((&*worker.agent_type, worker.status), ("Probe", AgentStatus::Available));
    assert!(worker.capabilities.is_empty());
    assert_eq!(registry.best("summarize").unwrap().id, "root/front");
    root.stop().await;
}

#[tokio::test]
async fn an_agent_reports_its_load_through_its_context() {
    let registry = AgentRegistry::new();
    let root = Supervisor::new("load", Strategy::OneForOne)
        .registry(registry.clone())
        .child(ChildSpec::agent("s", Summarizer::default))
        .start()
        .await
        .unwrap();
    let s: SummarizerRef = root.get("s").unwrap();
    assert!(s.report_load(1).await.unwrap());
    assert_eq!(registry.get("load/s").map(|e| (e.status, e.load)), Some((AgentStatus::Busy, 1)));
    root.stop().await;
}

#[tokio::test]
async fn a_crash_marks_the_agent_failed_before_its_restart_marks_it_available_again() {
    let (registry, log) = (AgentRegistry::new(), Log::default());
    let root = Supervisor::new("crash", Strategy::OneForOne)
        .registry(registry.clone())
        .intensity(10, Duration::from_secs(5))
        .child(probe("a", &log))
        .start()
        .await
        .unwrap();
    let a: AgentRef<Probe> = root.agent("a").unwrap();
    for poison in [ProbeMsg::Panic, ProbeMsg::Fail] {
        let mut watch = registry.watch();
        a.try_tell(poison).unwrap();
        let seen = history(&mut watch, "crash/a", changed_to(AgentStatus::Available)).await;
        assert_eq!(
            seen,
            [
                (Some(AgentStatus::Failed), Some(StatusReason::Crashed)),
                (Some(AgentStatus::Available), Some(StatusReason::Restarted))
            ]
        );
    }
    assert_eq!(ping(&a).await, Ok(3));
    root.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_crashed_agent_is_failed_and_never_found_until_its_delayed_restart() {
    let (registry, log) = (AgentRegistry::new(), Log::default());
    let root = Supervisor::new("delayed", Strategy::OneForOne)
        .registry(registry.clone())
        .backoff(Backoff::exponential(Duration::from_millis(500), Duration::from_secs(1)).jitter(0.0))
        .child(probe("a", &log))
        .start()
        .await
        .unwrap();
    let mut watch = registry.watch();
    root.agent::<Probe>("a").unwrap().try_tell(ProbeMsg::Panic).unwrap();
    history(&mut watch, "delayed/a", changed_to(AgentStatus::Failed)).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(status(&registry, "delayed/a"), Some(AgentStatus::Failed));
    assert_eq!((registry.count(AgentStatus::Available), registry.count(AgentStatus::Failed)), (0, 1));
    history(&mut watch, "delayed/a", changed_to(AgentStatus::Available)).await;
    root.stop().await;
}

#[tokio::test]
async fn a_permanent_child_that_exits_normally_drains_stops_and_comes_back_available() {
    let (registry, log) = (AgentRegistry::new(), Log::default());
    let root = Supervisor::new("exit", Strategy::OneForOne)
        .registry(registry.clone())
        .child(probe("a", &log))
        .start()
        .await
        .unwrap();
    let mut watch = registry.watch();
    root.agent::<Probe>("a").unwrap().try_tell(ProbeMsg::Exit).unwrap();
    let seen = history(&mut watch, "exit/a", changed_to(AgentStatus::Available)).await;
    assert_eq!(
        seen,
        [
            (Some(AgentStatus::Draining), Some(StatusReason::Stopping)),
            (Some(AgentStatus::Unavailable), Some(StatusReason::Stopped)),
            (Some(AgentStatus::Available), Some(StatusReason::Restarted)),
        ]
    );
    root.stop().await;
}

#[tokio::test]
async fn a_transient_child_that_exits_normally_stays_registered_as_unavailable_and_a_temporary_one_is_unregistered() {
    let (registry, log) = (AgentRegistry::new(), Log::default());
    let root = Supervisor::new("ends", Strategy::OneForOne)
        .registry(registry.clone())
        .child(probe("transient", &log).restart(Restart::Transient))
        .child(probe("temporary", &log).restart(Restart::Temporary))
        .start()
        .await
        .unwrap();
    let mut watch = registry.watch();
    root.agent::<Probe>("transient").unwrap().try_tell(ProbeMsg::Exit).unwrap();
    history(&mut watch, "ends/transient", changed_to(AgentStatus::Unavailable)).await;
    root.agent::<Probe>("temporary").unwrap().try_tell(ProbeMsg::Exit).unwrap();
    history(&mut watch, "ends/temporary", unregistered).await;
    assert_eq!(status(&registry, "ends/transient"), Some(AgentStatus::Unavailable));
    assert!(!registry.contains("ends/temporary"));
    root.stop().await;
}

#[tokio::test]
async fn terminate_child_drains_stops_and_unregisters_the_agent_of_a_dynamic_supervisor() {
    let (registry, log) = (AgentRegistry::new(), Log::default());
    let pool = DynamicSupervisor::new("pool").registry(registry.clone()).start().await.unwrap();
    pool.start_child(probe("w1", &log)).await.unwrap();
    pool.start_child(probe("w2", &log)).await.unwrap();
    assert_eq!(registry.by_type("Probe").len(), 2);
    let mut watch = registry.watch();
    pool.terminate_child("w1").await.unwrap();
    let seen = history(&mut watch, "pool/w1", unregistered).await;
    assert_eq!(
        seen,
        [
            (Some(AgentStatus::Draining), Some(StatusReason::Stopping)),
            (Some(AgentStatus::Unavailable), Some(StatusReason::Stopped)),
            (None, None),
        ]
    );
    assert_eq!(registry.list().into_iter().map(|e| e.id.to_string()).collect::<Vec<_>>(), ["pool/w2"]);
    pool.stop().await;
}

#[tokio::test]
async fn a_child_killed_by_its_supervisor_is_unavailable_until_the_supervisor_restarts_it() {
    let (registry, log) = (AgentRegistry::new(), Log::default());
    let root = Supervisor::new("kill", Strategy::OneForAll)
        .registry(registry.clone())
        .child(probe("a", &log))
        .child(probe("b", &log).shutdown(Shutdown::Brutal))
        .start()
        .await
        .unwrap();
    let mut watch = registry.watch();
    root.agent::<Probe>("a").unwrap().try_tell(ProbeMsg::Panic).unwrap();
    let seen = history(&mut watch, "kill/b", changed_to(AgentStatus::Available)).await;
    // Every shutdown policy first asks the child to stop (Draining), brutal or not.
    assert_eq!(
        seen,
        [
            (Some(AgentStatus::Draining), Some(StatusReason::Stopping)),
            (Some(AgentStatus::Unavailable), Some(StatusReason::Killed)),
            (Some(AgentStatus::Available), Some(StatusReason::Restarted)),
        ]
    );
    root.stop().await;
}

#[tokio::test]
async fn stopping_a_supervisor_leaves_none_of_its_agents_available_then_unregisters_them() {
    let (registry, log) = (AgentRegistry::new(), Log::default());
    let root = Supervisor::new("stop", Strategy::OneForOne)
        .registry(registry.clone())
        .child(probe("a", &log))
        .child(probe("b", &log).shutdown(Shutdown::Brutal))
        .child(ChildSpec::supervisor(Supervisor::new("pool", Strategy::OneForOne).child(probe("c", &log))))
        .start()
        .await
        .unwrap();
    let mut watch = registry.watch();
    root.stop().await;
    assert!(registry.is_empty());
    let mut events = Vec::new();
    while let Ok(Some(event)) = watch.try_recv() {
        events.push(event);
    }
    for id in ["stop/a", "stop/b", "stop/pool/c"] {
        let mine: Vec<_> = events.iter().filter(|e| e.id() == id).collect();
        assert!(matches!(mine.last(), Some(RegistryEvent::Unregistered { .. })), "{id}: {mine:?}");
        assert!(
            !mine.iter().any(|e| matches!(e, RegistryEvent::StatusChanged { to, .. } if to.takes_work())),
            "{id} was made available during the shutdown: {mine:?}"
        );
        assert!(
            mine.iter().any(|e| matches!(e, RegistryEvent::StatusChanged { to: AgentStatus::Unavailable, .. })),
            "{id} never went unavailable before leaving: {mine:?}"
        );
    }
    let graceful = events.iter().filter(|e| e.id() == "stop/a");
    assert!(graceful.clone().any(|e| matches!(e, RegistryEvent::StatusChanged { to: AgentStatus::Draining, .. })));
}

#[tokio::test]
async fn a_second_tree_with_the_same_paths_fails_to_start_and_leaves_the_first_registered() {
    let (registry, log) = (AgentRegistry::new(), Log::default());
    let first = Supervisor::new("twin", Strategy::OneForOne)
        .registry(registry.clone())
        .child(probe("a", &log))
        .start()
        .await
        .unwrap();
    let err = Supervisor::new("twin", Strategy::OneForOne)
        .registry(registry.clone())
        .child(probe("a", &log))
        .start()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, StartError::ChildStartFailed { child, reason } if &**child == "a" && reason.contains("already registered")),
        "{err}"
    );
    assert_eq!(status(&registry, "twin/a"), Some(AgentStatus::Available));
    first.stop().await;
    assert!(registry.is_empty());
}

#[tokio::test]
async fn a_nested_supervisor_with_its_own_registry_registers_its_agents_there() {
    let (outer, inner, log) = (AgentRegistry::new(), AgentRegistry::new(), Log::default());
    let root = Supervisor::new("root", Strategy::OneForOne)
        .registry(outer.clone())
        .child(probe("a", &log))
        .child(ChildSpec::supervisor(
            Supervisor::new("own", Strategy::OneForOne).registry(inner.clone()).child(probe("b", &log)),
        ))
        .start()
        .await
        .unwrap();
    assert!(outer.contains("root/a") && !outer.contains("root/own/b"));
    assert!(inner.contains("root/own/b"));
    root.stop().await;
}

#[tokio::test]
async fn a_supervisor_started_by_an_agent_registers_its_agents_below_the_agent_path() {
    let registry = AgentRegistry::new();
    let root = Supervisor::new("root", Strategy::OneForOne)
        .registry(registry.clone())
        .child(ChildSpec::agent("owner", Owner::default))
        .start()
        .await
        .unwrap();
    assert_eq!(registry.best("summarize").unwrap().id, "root/owner/sub/leaf");
    root.stop().await;
    assert!(registry.is_empty());
}

#[tokio::test]
async fn a_subtree_restarted_by_its_parent_registers_its_agents_again() {
    let (registry, log) = (AgentRegistry::new(), Log::default());
    let root = Supervisor::new("up", Strategy::OneForOne)
        .registry(registry.clone())
        .intensity(10, Duration::from_secs(5))
        .child(ChildSpec::supervisor(
            Supervisor::new("sub", Strategy::OneForOne).intensity(0, Duration::from_secs(5)).child(probe("leaf", &log)),
        ))
        .start()
        .await
        .unwrap();
    let mut watch = registry.watch();
    root.agent::<Probe>("sub/leaf").unwrap().try_tell(ProbeMsg::Panic).unwrap();
    let seen = history(&mut watch, "up/sub/leaf", changed_to(AgentStatus::Available)).await;
    assert_eq!(seen.first(), Some(&(Some(AgentStatus::Failed), Some(StatusReason::Crashed))));
    assert!(seen.contains(&(None, None)), "the escalating subtree let its agent go: {seen:?}");
    assert_eq!(status(&registry, "up/sub/leaf"), Some(AgentStatus::Available));
    root.stop().await;
}

#[tokio::test]
async fn a_supervisor_killed_by_its_parent_leaves_its_agents_unavailable_not_available() {
    let (registry, log) = (AgentRegistry::new(), Log::default());
    let root = Supervisor::new("brutal", Strategy::OneForOne)
        .registry(registry.clone())
        .child(
            ChildSpec::supervisor(Supervisor::new("sub", Strategy::OneForOne).child(probe("leaf", &log)))
                .shutdown(Shutdown::Brutal),
        )
        .start()
        .await
        .unwrap();
    root.stop().await;
    support::eventually("the killed leaf is marked", || {
        status(&registry, "brutal/sub/leaf") == Some(AgentStatus::Unavailable)
    })
    .await;
}
