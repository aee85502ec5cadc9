//! The supervisor actor: starts children, watches their exits and applies the strategy.

use std::sync::atomic::Ordering;

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, SupervisionEvent};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::sync::oneshot;

use super::ChildSpec;
use super::child_table::{ChildTable, Seq};
use super::children::State;
use super::error::{StartError, SupervisorError, SupervisorExit};
use super::exit::ChildExit;
use super::intensity::RestartWindow;
use super::tree::{ChildInfo, Supervisor, SupervisorRef};
use crate::registry::Lineage;

pub(crate) enum SupervisorMsg {
    /// A backoff delay ran out: start these children (those still waiting) in order.
    RestartDue(Vec<Seq>),
    StartChild(ChildSpec, oneshot::Sender<Result<(), SupervisorError>>),
    TerminateChild(String, oneshot::Sender<Result<(), SupervisorError>>),
    Children(oneshot::Sender<Vec<ChildInfo>>),
}

pub(crate) struct SupervisorActor;

pub(crate) struct Args {
    spec: Supervisor,
    has_parent: bool,
    lineage: Lineage,
}

/// Spawns a supervisor: a root (`parent` is `None`), or linked to a parent actor whose own
/// place in a tree, if it has one, the supervisor's path and registry continue.
pub(crate) async fn spawn_supervisor(
    spec: Supervisor,
    parent: Option<(ActorCell, Option<Lineage>)>,
) -> Result<SupervisorRef, StartError> {
    let handle = spec.handle();
    let shared = spec.shared.clone();
    if let Some(child) = spec.duplicate.clone() {
        return Err(StartError::DuplicateChild { supervisor: shared.name.clone(), child });
    }
    let generation = shared.generation.fetch_add(1, Ordering::AcqRel) + 1;
    shared.exit.send_replace(None);
    let lineage = Lineage::of(&shared.name, spec.registry.as_ref(), parent.as_ref().and_then(|(_, l)| l.as_ref()));
    let args = Args { spec, has_parent: parent.is_some(), lineage };
    let spawned = match parent {
        Some((parent, _)) => Actor::spawn_linked(None, SupervisorActor, args, parent).await,
        None => Actor::spawn(None, SupervisorActor, args).await,
    };
    let (actor, join) = spawned.map_err(|err| {
        shared.take_start_error().unwrap_or_else(|| StartError::SupervisorStartFailed {
            supervisor: shared.name.clone(),
            reason: err.to_string(),
        })
    })?;
    let watched = shared.clone();
    let id = actor.get_id();
    tokio::spawn(async move {
        let _ = join.await;
        if watched.generation.load(Ordering::Acquire) != generation {
            return;
        }
        if watched.current().is_some_and(|a| a.get_id() == id) {
            watched.set_current(None);
        }
        watched.exit.send_if_modified(|exit| {
            let unset = exit.is_none();
            if unset {
                *exit = Some(SupervisorExit::Killed);
            }
            unset
        });
    });
    Ok(handle)
}

impl Actor for SupervisorActor {
    type Msg = SupervisorMsg;
    type State = State;
    type Arguments = Args;

    async fn pre_start(&self, myself: ActorRef<SupervisorMsg>, args: Args) -> Result<State, ActorProcessingErr> {
        let Args { spec, has_parent, lineage } = args;
        let mut state = State {
            children: ChildTable::default(),
            window: RestartWindow::default(),
            rng: SmallRng::seed_from_u64(spec.seed),
            has_parent,
            lineage,
            spec,
        };
        state.spec.shared.set_current(Some(myself.clone()));
        let specs = std::mem::take(&mut state.spec.children);
        for spec in specs.iter().cloned() {
            match spec.runtime.start(myself.get_cell(), &state.lineage).await {
                Ok(cell) => {
                    state.children.push_started(spec, cell);
                }
                Err(err) => {
                    tracing::error!(supervisor = %state.name(), child = %spec.id, error = %err, "child failed to start; stopping the ones already started");
                    spec.runtime.unregister();
                    state.stop_all(true).await;
                    state.spec.shared.set_current(None);
                    state.spec.shared.set_start_error(err.clone());
                    return Err(Box::new(err));
                }
            }
        }
        state.spec.children = specs;
        tracing::debug!(supervisor = %state.name(), children = state.children.len(), "supervisor started");
        Ok(state)
    }

    async fn post_stop(&self, _myself: ActorRef<SupervisorMsg>, state: &mut State) -> Result<(), ActorProcessingErr> {
        state.stop_all(true).await;
        state.spec.shared.set_current(None);
        state.spec.shared.exit.send_replace(Some(SupervisorExit::Stopped));
        tracing::debug!(supervisor = %state.name(), "supervisor stopped");
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<SupervisorMsg>,
        msg: SupervisorMsg,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            SupervisorMsg::RestartDue(ids) => state.restart_group(&myself, ids).await,
            SupervisorMsg::StartChild(spec, reply) => {
                let _ = reply.send(state.start_child(&myself, spec).await);
                Ok(())
            }
            SupervisorMsg::TerminateChild(id, reply) => {
                let _ = reply.send(state.terminate_child(&id).await);
                Ok(())
            }
            SupervisorMsg::Children(reply) => {
                let _ = reply.send(state.child_infos());
                Ok(())
            }
        }
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<SupervisorMsg>,
        event: SupervisionEvent,
        state: &mut State,
    ) -> Result<(), ActorProcessingErr> {
        // Overrides ractor's default, which stops the supervisor on any child exit: here only
        // the strategy decides what happens.
        let Some((id, exit)) = ChildExit::from_event(&event) else {
            return Ok(());
        };
        let Some(idx) = state.running_child(&id) else {
            // An incarnation this supervisor stopped itself, or one that was replaced already.
            return Ok(());
        };
        state.on_child_exit(&myself, idx, exit).await
    }
}
