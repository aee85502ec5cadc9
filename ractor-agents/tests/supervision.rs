//! One test per sentence of `docs/supervision.md` (S1–S22); each name is the sentence.

// Test code: a panic on an unexpected `Err` is the failure report.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use ractor_agents::prelude::*;
use ractor_agents::supervisor::{SupervisorError, SupervisorExit};
use support::{Log, Probe, ProbeMsg, ping};

fn probe(id: &'static str, log: &Log) -> ChildSpec {
    ChildSpec::agent(id, Probe::factory(id, log))
}

fn agent(root: &SupervisorRef, path: &str) -> AgentRef<Probe> {
    root.agent(path).expect("child exists")
}

async fn crash(root: &SupervisorRef, path: &str) {
    agent(root, path).try_tell(ProbeMsg::Panic).expect("mailbox has room");
}

async fn running(root: &SupervisorRef, id: &str) -> bool {
    root.children().await.expect("supervisor runs").iter().any(|c| &*c.id == id && c.running)
}

fn three(strategy: Strategy, log: &Log) -> Supervisor {
    Supervisor::new(format!("{strategy:?}"), strategy)
        .intensity(10, Duration::from_secs(5))
        .child(probe("a", log))
        .child(probe("b", log))
        .child(probe("c", log))
}

#[tokio::test]
async fn s1_children_start_in_the_order_they_were_added() {
    let log = Log::default();
    let root = three(Strategy::OneForOne, &log).start().await.unwrap();
    assert_eq!(log.events(), ["start:a:1", "start:b:1", "start:c:1"]);
    root.stop().await;
}

#[tokio::test]
async fn s2_a_child_that_fails_to_start_stops_the_ones_started_before_it() {
    let log = Log::default();
    let err = Supervisor::new("s2", Strategy::OneForOne)
        .child(probe("a", &log))
        .child(ChildSpec::agent("b", Probe::failing_start("b", &log)))
        .child(probe("c", &log))
        .start()
        .await
        .unwrap_err();
    assert!(matches!(&err, StartError::ChildStartFailed { child, .. } if &**child == "b"), "{err}");
    assert_eq!(log.events(), ["start:a:1", "stop:a"]);
    support::eventually("no probe alive", || log.live() == 0).await;
}

#[tokio::test]
async fn s3_two_children_cannot_share_an_id() {
    let log = Log::default();
    let err = Supervisor::new("s3", Strategy::OneForOne).child(probe("a", &log)).child(probe("a", &log)).start().await;
    assert!(matches!(err, Err(StartError::DuplicateChild { .. })), "{err:?}");
}

#[tokio::test]
async fn s4_stopping_a_supervisor_stops_every_descendant_in_reverse_start_order_and_runs_on_stop() {
    let log = Log::default();
    let root = Supervisor::new("s4", Strategy::OneForOne)
        .child(probe("a", &log))
        .child(ChildSpec::supervisor(
            Supervisor::new("sub", Strategy::OneForOne)
                .child(probe("b", &log))
                .child(ChildSpec::supervisor(Supervisor::new("subsub", Strategy::OneForOne).child(probe("c", &log)))),
        ))
        .child(probe("d", &log))
        .start()
        .await
        .unwrap();
    log.take();
    root.stop().await;
    assert_eq!(log.events(), ["stop:d", "stop:c", "stop:b", "stop:a"]);
    assert_eq!(root.wait().await, SupervisorExit::Stopped);
    assert_eq!(log.live(), 0);
}

#[tokio::test]
async fn s5_a_permanent_child_is_restarted_even_after_a_normal_exit() {
    let log = Log::default();
    let root = Supervisor::new("s5", Strategy::OneForOne).child(probe("a", &log)).start().await.unwrap();
    agent(&root, "a").try_tell(ProbeMsg::Exit).unwrap();
    assert_eq!(ping(&agent(&root, "a")).await, Ok(2));
    root.stop().await;
}

#[tokio::test]
async fn s6_a_transient_child_is_restarted_after_failing_but_not_after_exiting_normally() {
    let log = Log::default();
    let root = Supervisor::new("s6", Strategy::OneForOne)
        .child(probe("t", &log).restart(Restart::Transient))
        .start()
        .await
        .unwrap();
    let t = agent(&root, "t");
    t.try_tell(ProbeMsg::Panic).unwrap();
    assert_eq!(ping(&t).await, Ok(2), "restarted after a failure");
    t.try_tell(ProbeMsg::Exit).unwrap();
    support::eventually("transient child closed", || t.is_closed()).await;
    assert!(!running(&root, "t").await);
    assert_eq!(log.count("start:t"), 2);
    root.stop().await;
}

#[tokio::test]
async fn s7_a_temporary_child_is_never_restarted_and_is_removed() {
    let log = Log::default();
    let root = Supervisor::new("s7", Strategy::OneForOne)
        .child(probe("t", &log).restart(Restart::Temporary))
        .child(probe("k", &log))
        .start()
        .await
        .unwrap();
    let t = agent(&root, "t");
    t.try_tell(ProbeMsg::Panic).unwrap();
    support::eventually("temporary child closed", || t.is_closed()).await;
    let ids: Vec<_> = root.children().await.unwrap().into_iter().map(|c| c.id.to_string()).collect();
    assert_eq!(ids, ["k"]);
    assert!(root.agent::<Probe>("t").is_err(), "a removed child cannot be looked up");
    root.stop().await;
}

#[tokio::test]
async fn s8_a_child_that_is_not_restarted_closes_its_mailbox() {
    let log = Log::default();
    let root = Supervisor::new("s8", Strategy::OneForOne)
        .child(probe("t", &log).restart(Restart::Transient))
        .start()
        .await
        .unwrap();
    let t = agent(&root, "t");
    t.try_tell(ProbeMsg::Sleep(Duration::from_millis(20))).unwrap();
    t.try_tell(ProbeMsg::Exit).unwrap();
    let queued = ping(&t);
    assert!(matches!(queued.await, Err(AskError::Unavailable { .. })));
    assert!(matches!(t.try_tell(ProbeMsg::Exit), Err(TellError::Unavailable { .. })));
    root.stop().await;
}

#[tokio::test]
async fn s9_one_for_one_restarts_only_the_child_that_exited() {
    let log = Log::default();
    let root = three(Strategy::OneForOne, &log).start().await.unwrap();
    crash(&root, "b").await;
    assert_eq!(ping(&agent(&root, "b")).await, Ok(2));
    assert_eq!(ping(&agent(&root, "a")).await, Ok(1));
    assert_eq!(ping(&agent(&root, "c")).await, Ok(1));
    root.stop().await;
}

#[tokio::test]
async fn s10_one_for_all_stops_the_siblings_in_reverse_order_then_starts_all_in_order() {
    let log = Log::default();
    let root = three(Strategy::OneForAll, &log).start().await.unwrap();
    log.take();
    crash(&root, "b").await;
    assert_eq!(ping(&agent(&root, "b")).await, Ok(2));
    assert_eq!(ping(&agent(&root, "c")).await, Ok(2));
    assert_eq!(log.events(), ["stop:c", "stop:a", "start:a:2", "start:b:2", "start:c:2"]);
    root.stop().await;
}

#[tokio::test]
async fn s11_rest_for_one_restarts_only_the_younger_siblings_in_order() {
    let log = Log::default();
    let root = three(Strategy::RestForOne, &log).start().await.unwrap();
    log.take();
    crash(&root, "b").await;
    assert_eq!(ping(&agent(&root, "b")).await, Ok(2));
    assert_eq!(ping(&agent(&root, "c")).await, Ok(2));
    assert_eq!(ping(&agent(&root, "a")).await, Ok(1), "the older sibling keeps running");
    assert_eq!(log.events(), ["stop:c", "start:b:2", "start:c:2"]);
    root.stop().await;
}

#[tokio::test]
async fn s12_a_child_exit_never_stops_its_supervisor_by_itself() {
    let log = Log::default();
    let root = Supervisor::new("s12", Strategy::OneForOne)
        .child(probe("t", &log).restart(Restart::Temporary))
        .child(probe("a", &log))
        .start()
        .await
        .unwrap();
    agent(&root, "t").try_tell(ProbeMsg::Panic).unwrap();
    support::eventually("temporary child gone", || agent(&root, "a").is_closed() || root.agent::<Probe>("t").is_err())
        .await;
    assert!(root.is_running());
    assert_eq!(ping(&agent(&root, "a")).await, Ok(1));
    root.stop().await;
}

#[tokio::test]
async fn s13_a_temporary_sibling_stopped_by_one_for_all_is_not_restarted() {
    let log = Log::default();
    let root = Supervisor::new("s13", Strategy::OneForAll)
        .child(probe("a", &log))
        .child(probe("t", &log).restart(Restart::Temporary))
        .start()
        .await
        .unwrap();
    let t = agent(&root, "t");
    crash(&root, "a").await;
    assert_eq!(ping(&agent(&root, "a")).await, Ok(2));
    assert!(t.is_closed());
    assert_eq!(log.count("start:t"), 1);
    root.stop().await;
}

#[tokio::test(start_paused = true)]
async fn s14_restarts_spread_over_time_never_trip_the_intensity() {
    let log = Log::default();
    let root = Supervisor::new("s14", Strategy::OneForOne)
        .intensity(2, Duration::from_secs(10))
        .child(probe("a", &log))
        .start()
        .await
        .unwrap();
    for n in 2..=8 {
        crash(&root, "a").await;
        assert_eq!(ping(&agent(&root, "a")).await, Ok(n));
        tokio::time::sleep(Duration::from_secs(6)).await;
    }
    assert!(root.is_running());
    root.stop().await;
}

#[tokio::test]
async fn s15_a_burst_beyond_the_intensity_stops_all_children_in_reverse_and_the_root_gives_up() {
    let log = Log::default();
    let root = Supervisor::new("s15", Strategy::OneForOne)
        .intensity(2, Duration::from_secs(60))
        .child(probe("a", &log))
        .child(probe("b", &log))
        .child(probe("c", &log))
        .start()
        .await
        .unwrap();
    for n in 2..=3 {
        crash(&root, "b").await;
        assert_eq!(ping(&agent(&root, "b")).await, Ok(n));
    }
    log.take();
    crash(&root, "b").await;
    let exit = root.wait().await;
    assert!(
        matches!(&exit, SupervisorExit::Failed(reason) if reason.contains("exceeded its restart intensity")),
        "{exit:?}"
    );
    assert_eq!(log.events(), ["stop:c", "stop:a"]);
    assert!(agent(&root, "a").is_closed() && agent(&root, "c").is_closed());
    assert!(!root.is_running());
}

fn chain(level3_leaf: &Log, top_intensity: u32) -> Supervisor {
    let l3 = Supervisor::new("l3", Strategy::OneForOne)
        .intensity(0, Duration::from_secs(60))
        .child(probe("leaf", level3_leaf));
    let l2 = Supervisor::new("l2", Strategy::OneForOne)
        .intensity(0, Duration::from_secs(60))
        .child(ChildSpec::supervisor(l3));
    Supervisor::new("l1", Strategy::OneForOne)
        .intensity(top_intensity, Duration::from_secs(60))
        .child(ChildSpec::supervisor(l2))
}

#[tokio::test]
async fn s16_escalation_goes_up_three_levels_until_a_supervisor_may_restart() {
    // Nobody may restart: the failure reaches the root, which gives up.
    let log = Log::default();
    let root = chain(&log, 0).start().await.unwrap();
    crash(&root, "l2/l3/leaf").await;
    let exit = root.wait().await;
    assert!(
        matches!(&exit, SupervisorExit::Failed(reason) if reason.contains("`l1`") && reason.contains("`l2`")),
        "{exit:?}"
    );
    support::eventually("no probe alive", || log.live() == 0).await;

    // The root may restart: the failure escalates through l3 and l2, l1 restarts l2's subtree,
    // and the leaf answers through the handle taken before the crash.
    let log = Log::default();
    let root = chain(&log, 5).start().await.unwrap();
    let leaf = agent(&root, "l2/l3/leaf");
    crash(&root, "l2/l3/leaf").await;
    support::eventually("l1 restarted the subtree", || log.count("start:leaf") == 2).await;
    assert_eq!(ping(&leaf).await, Ok(2));
    assert!(root.supervisor("l2").unwrap().is_running());
    root.stop().await;
}

#[tokio::test(start_paused = true)]
async fn s17_backoff_delays_grow_exponentially_and_are_observed_under_paused_time() {
    let log = Log::default();
    let root = Supervisor::new("s17", Strategy::OneForOne)
        .intensity(10, Duration::from_secs(60))
        .backoff(Backoff::exponential(Duration::from_millis(100), Duration::from_secs(1)).jitter(0.0))
        .child(probe("a", &log))
        .start()
        .await
        .unwrap();
    for expected in [100, 200, 400] {
        crash(&root, "a").await;
        support::eventually("crash seen", || log.count("start:a") > 0).await;
        tokio::time::sleep(Duration::from_millis(expected - 1)).await;
        assert!(!running(&root, "a").await, "restarted before {expected} ms");
        tokio::time::sleep(Duration::from_millis(2)).await;
        assert!(running(&root, "a").await, "not restarted after {expected} ms");
    }
    root.stop().await;
}

#[tokio::test(start_paused = true)]
async fn s18_asks_sent_during_a_delayed_restart_wait_and_are_answered_by_the_new_incarnation() {
    let log = Log::default();
    let root = Supervisor::new("s18", Strategy::OneForOne)
        .backoff(Backoff::exponential(Duration::from_millis(500), Duration::from_secs(1)).jitter(0.0))
        .child(probe("a", &log))
        .start()
        .await
        .unwrap();
    let a = agent(&root, "a");
    a.try_tell(ProbeMsg::Panic).unwrap();
    let started = tokio::time::Instant::now();
    assert_eq!(ping(&a).await, Ok(2));
    assert!(started.elapsed() >= Duration::from_millis(500));
    root.stop().await;
}

#[tokio::test(start_paused = true)]
async fn s19_a_child_that_ignores_stop_is_killed_after_its_timeout_and_a_graceful_one_runs_on_stop() {
    let log = Log::default();
    let root = Supervisor::new("s19", Strategy::OneForOne)
        .child(probe("graceful", &log))
        .child(probe("stuck", &log).shutdown(Shutdown::Timeout(Duration::from_millis(300))))
        .start()
        .await
        .unwrap();
    agent(&root, "stuck").try_tell(ProbeMsg::Sleep(Duration::from_secs(3600))).unwrap();
    support::eventually("stuck in its handler", || agent(&root, "stuck").queued() == 0).await;
    let started = tokio::time::Instant::now();
    root.stop().await;
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(3600), "{took:?}");
    assert_eq!(log.count("stop:stuck"), 0, "a killed child's on_stop does not run");
    assert_eq!(log.count("stop:graceful"), 1);
}

#[tokio::test]
async fn s20_brutal_shutdown_kills_without_on_stop() {
    let log = Log::default();
    let root = Supervisor::new("s20", Strategy::OneForOne)
        .child(probe("brutal", &log).shutdown(Shutdown::Brutal))
        .child(probe("infinity", &log).shutdown(Shutdown::Infinity))
        .start()
        .await
        .unwrap();
    root.stop().await;
    assert_eq!(log.events(), ["start:brutal:1", "start:infinity:1", "stop:infinity"]);
    support::eventually("no probe alive", || log.live() == 0).await;
}

#[tokio::test]
async fn s21_a_dynamic_supervisor_starts_and_terminates_children_up_to_its_maximum() {
    let log = Log::default();
    let pool = DynamicSupervisor::new("s21").max_children(2).start().await.unwrap();
    let w1 = pool.start_agent("w1", Probe::factory("w1", &log)).await.unwrap();
    pool.start_child(probe("w2", &log)).await.unwrap();
    assert!(matches!(pool.start_child(probe("w3", &log)).await, Err(SupervisorError::MaxChildren { max: 2, .. })));
    pool.terminate_child("w2").await.unwrap();
    assert!(matches!(pool.start_child(probe("w1", &log)).await, Err(SupervisorError::AlreadyExists { .. })));
    assert!(matches!(pool.terminate_child("nope").await, Err(SupervisorError::NoSuchChild { .. })));
    w1.try_tell(ProbeMsg::Panic).unwrap();
    assert_eq!(ping(&w1).await, Ok(2), "dynamic children are restarted like any other");
    pool.terminate_child("w1").await.unwrap();
    assert!(w1.is_closed());
    assert!(pool.children().await.unwrap().is_empty());
    pool.stop().await;
    assert_eq!(log.live(), 0);
}

use support::metrics::{counter, recorder};

#[tokio::test]
async fn s22_every_exit_restart_and_give_up_is_a_labelled_counter() {
    use ractor_agents::telemetry::metrics::names;
    recorder();
    let log = Log::default();
    let root = Supervisor::new("s22", Strategy::OneForOne)
        .intensity(1, Duration::from_secs(60))
        .child(probe("a", &log))
        .start()
        .await
        .unwrap();
    crash(&root, "a").await;
    assert_eq!(ping(&agent(&root, "a")).await, Ok(2));
    let labels = [("supervisor", "s22"), ("child", "a"), ("reason", "failed")];
    assert_eq!(counter(names::SUPERVISOR_RESTARTS, &labels), 1);
    assert_eq!(counter(names::SUPERVISOR_CHILD_EXITS, &labels), 1);
    crash(&root, "a").await;
    root.wait().await;
    assert_eq!(counter(names::SUPERVISOR_GIVE_UPS, &labels), 1);
}

/// An agent that owns a small supervision tree of its own, started through its `Ctx`.
struct Owner {
    log: Log,
    tree: Option<SupervisorRef>,
}

impl Agent for Owner {
    /// Answers its incarnation and the handle of the probe in the tree it owns.
    type Msg = Reply<(u64, AgentRef<Probe>)>;

    async fn on_start(&mut self, ctx: &Ctx<Self>) -> Result<(), AgentFailure> {
        let tree = Supervisor::new("owned", Strategy::OneForOne)
            .intensity(0, Duration::from_secs(60))
            .child(probe("owned", &self.log));
        self.tree = Some(ctx.start_supervisor(tree).await.map_err(|e| AgentFailure::new(e.to_string()))?);
        Ok(())
    }

    async fn handle(&mut self, ctx: &Ctx<Self>, reply: Self::Msg) -> Result<(), AgentFailure> {
        let tree = self.tree.as_ref().ok_or_else(|| AgentFailure::new("no tree"))?;
        let probe = tree.agent("owned").map_err(|e| AgentFailure::new(e.to_string()))?;
        reply.send((ctx.incarnation(), probe));
        Ok(())
    }
}

#[tokio::test]
async fn children_started_through_ctx_stop_with_their_agent_and_their_failure_is_its_failure() {
    let log = Log::default();
    let factory = {
        let log = log.clone();
        move || Owner { log: log.clone(), tree: None }
    };
    let root =
        Supervisor::new("owners", Strategy::OneForOne).child(ChildSpec::agent("owner", factory)).start().await.unwrap();
    let owner: AgentRef<Owner> = root.agent("owner").unwrap();
    let (incarnation, owned) = owner.call(|r| r).await.unwrap();
    assert_eq!(incarnation, 1);
    assert_eq!(ping(&owned).await, Ok(1));

    // The owned tree may not restart anything: its probe's crash fails the tree, which fails
    // the owner, which the root restarts; the new incarnation starts a new tree.
    owned.try_tell(ProbeMsg::Panic).unwrap();
    support::eventually("old owned tree closed", || owned.is_closed()).await;
    support::eventually("owner restarted", || log.count("start:owned") == 2).await;
    let (incarnation, owned) = owner.call(|r| r).await.unwrap();
    assert_eq!(incarnation, 2);
    assert_eq!(ping(&owned).await, Ok(1));

    log.take();
    root.stop().await;
    assert_eq!(log.events(), ["stop:owned"], "the owned tree stops with its owner");
    assert_eq!(log.live(), 0);
}
