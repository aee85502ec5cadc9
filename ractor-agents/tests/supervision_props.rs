//! Property test over random supervision trees and random crash sequences.
//!
//! Invariants (docs/supervision.md, "Properties"):
//! * restarts never exceed the intensity of a supervisor that has not failed;
//! * after the faults stop, if the root still runs, every permanent agent answers;
//! * shutdown order is the reverse of start order;
//! * no agent of the tree is alive after the root stops.

// Test code: a panic on an unexpected `Err` is the failure report.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use proptest::prelude::*;
use ractor_agents::prelude::{AgentRef, AskError, ChildSpec, Restart, Supervisor};
use ractor_agents::supervisor::{Strategy as SupStrategy, SupervisorExit};
use support::{Log, Probe, ProbeMsg};

#[derive(Debug, Clone)]
enum Node {
    Agent { restart: Restart },
    Sup { strategy: SupStrategy, max_restarts: u32, children: Vec<Node> },
}

#[derive(Debug, Clone, Copy)]
enum Fault {
    Panic,
    Fail,
    Exit,
}

fn restart() -> impl Strategy<Value = Restart> {
    prop_oneof![4 => Just(Restart::Permanent), 1 => Just(Restart::Transient), 1 => Just(Restart::Temporary)]
}

fn strategy() -> impl Strategy<Value = SupStrategy> {
    prop_oneof![Just(SupStrategy::OneForOne), Just(SupStrategy::OneForAll), Just(SupStrategy::RestForOne),]
}

fn node() -> impl Strategy<Value = Node> {
    let leaf = restart().prop_map(|restart| Node::Agent { restart });
    leaf.prop_recursive(2, 12, 4, |inner| {
        (strategy(), 1u32..6, prop::collection::vec(inner, 1..4))
            .prop_map(|(strategy, max_restarts, children)| Node::Sup { strategy, max_restarts, children })
    })
}

fn tree() -> impl Strategy<Value = Node> {
    (strategy(), 1u32..6, prop::collection::vec(node(), 1..4))
        .prop_map(|(strategy, max_restarts, children)| Node::Sup { strategy, max_restarts, children })
}

/// Builds the tree; returns the supervisor and, in start order, each leaf's path and restart type.
fn build(name: String, node: &Node, log: &Log, leaves: &mut Vec<(String, Restart)>, prefix: &str) -> Supervisor {
    let Node::Sup { strategy, max_restarts, children } = node else { unreachable!("the root is a supervisor") };
    let mut sup = Supervisor::new(name, *strategy).intensity(*max_restarts, Duration::from_secs(600));
    for (i, child) in children.iter().enumerate() {
        match child {
            Node::Agent { restart } => {
                let id: &'static str = Box::leak(format!("{}a{i}", prefix.replace('/', "_")).into_boxed_str());
                leaves.push((format!("{prefix}{id}"), *restart));
                sup = sup.child(ChildSpec::agent(id, Probe::factory(id, log)).restart(*restart));
            }
            Node::Sup { .. } => {
                let id = format!("s{i}");
                let nested = build(id.clone(), child, log, leaves, &format!("{prefix}{id}/"));
                sup = sup.child(ChildSpec::supervisor(nested));
            }
        }
    }
    sup
}

/// Each supervisor's intensity and, for its direct agent children, their paths.
fn supervisors(node: &Node, path: &str, out: &mut Vec<(String, SupStrategy, u32, usize)>) {
    if let Node::Sup { strategy, max_restarts, children } = node {
        out.push((path.to_owned(), *strategy, *max_restarts, children.len()));
        for (i, child) in children.iter().enumerate() {
            supervisors(child, &format!("{path}s{i}/"), out);
        }
    }
}

fn fault() -> impl Strategy<Value = Fault> {
    prop_oneof![3 => Just(Fault::Panic), 2 => Just(Fault::Fail), 1 => Just(Fault::Exit)]
}

async fn run_case(tree: Node, faults: Vec<(usize, Fault)>) -> Result<(), TestCaseError> {
    let log = Log::default();
    let mut leaves = Vec::new();
    let spec = build("root".into(), &tree, &log, &mut leaves, "");
    let root = spec.start().await.map_err(|e| TestCaseError::fail(e.to_string()))?;
    let handles: Vec<AgentRef<Probe>> = leaves.iter().map(|(path, _)| root.agent(path).expect("leaf exists")).collect();

    for (target, fault) in faults {
        let agent = &handles[target % handles.len()];
        let msg = match fault {
            Fault::Panic => ProbeMsg::Panic,
            Fault::Fail => ProbeMsg::Fail,
            Fault::Exit => ProbeMsg::Exit,
        };
        let _ = agent.try_tell(msg);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    // Let the faults play out. A fault still being handled (a panic that prints a backtrace
    // takes milliseconds) may be escalating: the subtree's mailboxes are closed until its parent
    // restarts it, so a permanent agent answers `Unavailable` for a while, but not for ever.
    let mut permanent_answers = Vec::new();
    for ((path, restart), agent) in leaves.iter().zip(&handles) {
        if *restart != Restart::Permanent {
            continue;
        }
        let mut answer = agent.call(ProbeMsg::Ping).deadline(Duration::from_secs(5)).await;
        for _ in 0..500 {
            if !matches!(answer, Err(AskError::Unavailable { .. })) || !root.is_running() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            answer = agent.call(ProbeMsg::Ping).deadline(Duration::from_secs(5)).await;
        }
        permanent_answers.push((path, answer));
    }

    if root.is_running() {
        // Invariant: restarts never exceed the intensity of a supervisor that still runs.
        let mut sups = Vec::new();
        supervisors(&tree, "", &mut sups);
        for (path, strategy, max, _) in &sups {
            let sup = if path.is_empty() {
                root.clone()
            } else {
                root.supervisor(path.trim_end_matches('/')).expect("nested supervisor")
            };
            let Ok(children) = sup.children().await else { continue };
            let most = children.iter().map(|c| c.restarts).max().unwrap_or(0);
            prop_assert!(most <= u64::from(*max), "`{path}` restarted a child {most} times, intensity {max}");
            if *strategy == SupStrategy::OneForOne {
                let total: u64 = children.iter().map(|c| c.restarts).sum();
                prop_assert!(total <= u64::from(*max), "`{path}` made {total} restarts, intensity {max}");
            }
        }
        // Invariant: every permanent agent answers once the faults stop.
        for (path, answer) in &permanent_answers {
            prop_assert!(answer.is_ok(), "permanent `{path}` did not answer: {answer:?}");
        }
        // Invariant: shutdown order is the reverse of start order.
        let mut running = Vec::new();
        for ((path, _), agent) in leaves.iter().zip(&handles) {
            if agent.call(ProbeMsg::Ping).deadline(Duration::from_millis(500)).await.is_ok() {
                running.push(format!("stop:{}", path.rsplit('/').next().unwrap_or(path)));
            }
        }
        if root.is_running() {
            log.take();
            root.stop().await;
            running.reverse();
            prop_assert_eq!(log.events(), running);
        }
    } else {
        prop_assert!(matches!(root.wait().await, SupervisorExit::Failed(_)));
    }
    root.stop().await;
    // Invariant: nothing of the tree is alive after the root stops.
    for _ in 0..400 {
        if log.live() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    prop_assert_eq!(log.live(), 0, "agents alive after the root stopped");
    for agent in &handles {
        prop_assert!(agent.is_closed(), "`{}` still open after the root stopped", agent.name());
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn random_trees_under_random_crashes_keep_the_supervision_invariants(
        tree in tree(),
        faults in prop::collection::vec((0usize..64, fault()), 0..10),
    ) {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        rt.block_on(run_case(tree, faults))?;
    }
}
