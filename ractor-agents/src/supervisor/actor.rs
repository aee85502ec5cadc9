//! The supervisor actor: starts children, watches their exits and applies the strategy.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, RactorErr, SupervisionEvent};
use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::error::{StartError, SupervisorError, SupervisorExit};
use super::intensity::RestartWindow;
use super::tree::{ChildInfo, Supervisor, SupervisorRef};
use super::{ChildSpec, Restart, Shutdown, Strategy};
use crate::telemetry::metrics::names;

pub(crate) enum SupervisorMsg {
    /// A backoff delay ran out: start these children (those still waiting) in order.
    RestartDue(Vec<Arc<str>>),
    StartChild(ChildSpec, oneshot::Sender<Result<(), SupervisorError>>),
    TerminateChild(String, oneshot::Sender<Result<(), SupervisorError>>),
    Children(oneshot::Sender<Vec<ChildInfo>>),
}

/// How a child's incarnation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ChildExit {
    Normal,
    Failed(String),
    Killed,
    Abnormal(String),
}

impl ChildExit {
    fn from_event(event: &SupervisionEvent) -> Option<(ractor::ActorId, Self)> {
        match event {
            SupervisionEvent::ActorFailed(cell, err) => Some((cell.get_id(), Self::Failed(err.to_string()))),
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                let exit = match reason.as_deref() {
                    None => Self::Normal,
                    Some(r) if ["normal", "shutdown", "drained"].contains(&r.to_ascii_lowercase().as_str()) => {
                        Self::Normal
                    }
                    Some(r) if r.to_ascii_lowercase().contains("kill") => Self::Killed,
                    Some(r) => Self::Abnormal(r.to_owned()),
                };
                Some((cell.get_id(), exit))
            }
            _ => None,
        }
    }

    fn label(&self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Failed(_) => "failed",
            Self::Killed => "killed",
            Self::Abnormal(_) => "abnormal",
        }
    }

    fn is_abnormal(&self) -> bool {
        !matches!(self, Self::Normal)
    }
}

impl std::fmt::Display for ChildExit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Normal => f.write_str("exited normally"),
            Self::Failed(reason) => write!(f, "failed: {reason}"),
            Self::Killed => f.write_str("was killed"),
            Self::Abnormal(reason) => write!(f, "stopped abnormally: {reason}"),
        }
    }
}

struct Child {
    spec: ChildSpec,
    cell: Option<ActorCell>,
    started_at: Instant,
    /// Consecutive restarts without a stable run in between (drives backoff).
    consecutive: u32,
    restarts: u64,
    /// Waiting for a (possibly delayed) restart.
    pending: bool,
}

impl Child {
    /// A child whose first incarnation has just started.
    fn started(spec: ChildSpec, cell: ActorCell) -> Self {
        Self { spec, cell: Some(cell), started_at: Instant::now(), consecutive: 0, restarts: 0, pending: false }
    }
}

pub(crate) struct SupervisorActor;

pub(crate) struct Args {
    spec: Supervisor,
    has_parent: bool,
}

pub(crate) struct State {
    spec: Supervisor,
    children: Vec<Child>,
    window: RestartWindow,
    rng: SmallRng,
    has_parent: bool,
}

pub(crate) async fn spawn_supervisor(spec: Supervisor, parent: Option<ActorCell>) -> Result<SupervisorRef, StartError> {
    let handle = spec.handle();
    let shared = spec.shared.clone();
    if let Some(child) = spec.duplicate.clone() {
        return Err(StartError::DuplicateChild { supervisor: shared.name.clone(), child });
    }
    let generation = shared.generation.fetch_add(1, Ordering::AcqRel) + 1;
    shared.exit.send_replace(None);
    let args = Args { spec, has_parent: parent.is_some() };
    let spawned = match parent {
        Some(parent) => Actor::spawn_linked(None, SupervisorActor, args, parent).await,
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
        let Args { spec, has_parent } = args;
        let mut state = State {
            children: Vec::with_capacity(spec.children.len()),
            window: RestartWindow::default(),
            rng: SmallRng::seed_from_u64(spec.seed),
            has_parent,
            spec,
        };
        state.spec.shared.set_current(Some(myself.clone()));
        let specs = std::mem::take(&mut state.spec.children);
        for spec in specs.iter().cloned() {
            match spec.runtime.start(myself.get_cell()).await {
                Ok(cell) => state.children.push(Child::started(spec, cell)),
                Err(err) => {
                    tracing::error!(supervisor = %state.name(), child = %spec.id, error = %err, "child failed to start; stopping the ones already started");
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
        let Some(idx) = state.children.iter().position(|c| c.cell.as_ref().is_some_and(|cell| cell.get_id() == id))
        else {
            // An incarnation this supervisor stopped itself, or one that was replaced already.
            return Ok(());
        };
        state.on_child_exit(&myself, idx, exit).await
    }
}

impl State {
    fn name(&self) -> &str {
        self.spec.name()
    }

    fn child_infos(&self) -> Vec<ChildInfo> {
        self.children
            .iter()
            .map(|c| ChildInfo {
                id: c.spec.id.clone(),
                kind: c.spec.kind(),
                running: c.cell.is_some(),
                restarts: c.restarts,
            })
            .collect()
    }

    async fn on_child_exit(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        idx: usize,
        exit: ChildExit,
    ) -> Result<(), ActorProcessingErr> {
        let supervisor = self.spec.name_arc();
        let child = &mut self.children[idx];
        child.cell = None;
        let id = child.spec.id.clone();
        metrics::counter!(names::SUPERVISOR_CHILD_EXITS, "supervisor" => supervisor.to_string(), "child" => id.to_string(), "reason" => exit.label()).increment(1);
        let restart = match child.spec.restart {
            Restart::Permanent => true,
            Restart::Transient => exit.is_abnormal(),
            Restart::Temporary => false,
        };
        if !restart {
            tracing::info!(supervisor = %supervisor, child = %id, %exit, restart = ?child.spec.restart, "child exited and is not restarted");
            child.spec.runtime.close();
            if self.spec.dynamic || child.spec.restart == Restart::Temporary {
                self.remove(idx);
            }
            return Ok(());
        }
        if exit.is_abnormal() {
            tracing::warn!(supervisor = %supervisor, child = %id, %exit, "child exited");
        } else {
            tracing::info!(supervisor = %supervisor, child = %id, %exit, "permanent child exited");
        }
        if !self.window.try_record(self.spec.intensity, Instant::now()) {
            return Err(self.give_up(&id, &exit).await);
        }
        let child = &mut self.children[idx];
        if child.started_at.elapsed() >= self.backoff_of(idx).reset_period() {
            self.children[idx].consecutive = 0;
        }
        let group: Vec<usize> = match self.spec.strategy {
            Strategy::OneForOne => vec![idx],
            Strategy::OneForAll => (0..self.children.len()).collect(),
            Strategy::RestForOne => (idx..self.children.len()).collect(),
        };
        for &sibling in group.iter().rev() {
            if sibling != idx {
                self.stop_child(sibling, false).await;
            }
        }
        // Temporary siblings stopped by the strategy are not restarted (as in OTP).
        let mut ids = Vec::with_capacity(group.len());
        for &i in &group {
            let c = &mut self.children[i];
            if i != idx && c.spec.restart == Restart::Temporary {
                c.spec.runtime.close();
                continue;
            }
            c.pending = true;
            ids.push(c.spec.id.clone());
        }
        let dropped: Vec<Arc<str>> = self
            .children
            .iter()
            .filter(|c| !c.pending && c.cell.is_none() && c.spec.restart == Restart::Temporary)
            .map(|c| c.spec.id.clone())
            .collect();
        for gone in dropped {
            if let Some(i) = self.children.iter().position(|c| c.spec.id == gone) {
                self.remove(i);
            }
        }
        let reason = exit.label();
        for restarted in &ids {
            let why = if *restarted == id { reason } else { "sibling" };
            metrics::counter!(names::SUPERVISOR_RESTARTS, "supervisor" => supervisor.to_string(), "child" => restarted.to_string(), "reason" => why).increment(1);
        }
        self.schedule(myself, ids, &id);
        Ok(())
    }

    fn backoff_of(&self, idx: usize) -> super::Backoff {
        self.children[idx].spec.backoff.unwrap_or(self.spec.backoff)
    }

    /// Restarts `ids` now, or after the backoff of `trigger` (the child whose exit caused it).
    fn schedule(&mut self, myself: &ActorRef<SupervisorMsg>, ids: Vec<Arc<str>>, trigger: &Arc<str>) {
        let delay = match self.children.iter().position(|c| &c.spec.id == trigger) {
            Some(i) => {
                let backoff = self.backoff_of(i);
                let n = self.children[i].consecutive;
                self.children[i].consecutive = n.saturating_add(1);
                backoff.delay(n, &mut self.rng)
            }
            None => std::time::Duration::ZERO,
        };
        if delay.is_zero() {
            let _ = myself.cast(SupervisorMsg::RestartDue(ids));
        } else {
            tracing::debug!(supervisor = %self.name(), child = %trigger, ?delay, "restart delayed by backoff");
            let myself = myself.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = myself.cast(SupervisorMsg::RestartDue(ids));
            });
        }
    }

    async fn restart_group(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        ids: Vec<Arc<str>>,
    ) -> Result<(), ActorProcessingErr> {
        for (n, id) in ids.iter().enumerate() {
            let Some(idx) = self.children.iter().position(|c| &c.spec.id == id && c.pending && c.cell.is_none()) else {
                continue;
            };
            match self.children[idx].spec.runtime.start(myself.get_cell()).await {
                Ok(cell) => {
                    let child = &mut self.children[idx];
                    child.cell = Some(cell);
                    child.pending = false;
                    child.started_at = Instant::now();
                    child.restarts += 1;
                    tracing::info!(supervisor = %self.spec.name(), child = %id, restarts = child.restarts, "child restarted");
                }
                Err(err) => {
                    // A failed restart counts as another restart attempt, as in OTP.
                    let supervisor = self.spec.name_arc();
                    tracing::warn!(supervisor = %supervisor, child = %id, error = %err, "child failed to restart");
                    metrics::counter!(names::SUPERVISOR_RESTARTS, "supervisor" => supervisor.to_string(), "child" => id.to_string(), "reason" => "start_failed").increment(1);
                    if !self.window.try_record(self.spec.intensity, Instant::now()) {
                        return Err(self.give_up(id, &ChildExit::Failed(err.to_string())).await);
                    }
                    self.schedule(myself, ids[n..].to_vec(), id);
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Intensity exceeded: stop every child (reverse order), then fail. A supervisor with a
    /// parent escalates (its parent sees it fail); a root gives up.
    async fn give_up(&mut self, child: &str, exit: &ChildExit) -> ActorProcessingErr {
        let supervisor = self.spec.name_arc();
        let limit = self.spec.intensity;
        let reason = format!(
            "supervisor `{supervisor}` exceeded its restart intensity ({} restarts in {:?}); last: child `{child}` {exit}",
            limit.max_restarts, limit.period
        );
        let metric = if self.has_parent { names::SUPERVISOR_ESCALATIONS } else { names::SUPERVISOR_GIVE_UPS };
        metrics::counter!(metric, "supervisor" => supervisor.to_string(), "child" => child.to_owned(), "reason" => exit.label()).increment(1);
        if self.has_parent {
            tracing::error!(supervisor = %supervisor, child, %exit, "restart intensity exceeded; escalating to parent");
        } else {
            tracing::error!(supervisor = %supervisor, child, %exit, "restart intensity exceeded; root supervisor gives up");
        }
        self.stop_all(true).await;
        self.spec.shared.set_current(None);
        self.spec.shared.exit.send_replace(Some(SupervisorExit::Failed(reason.clone())));
        reason.into()
    }

    /// Stops every child in reverse start order.
    async fn stop_all(&mut self, close: bool) {
        for idx in (0..self.children.len()).rev() {
            self.stop_child(idx, close).await;
            if close {
                self.children[idx].pending = false;
            }
        }
    }

    /// Stops one child by its shutdown policy. `close` also closes its mailbox for good.
    async fn stop_child(&mut self, idx: usize, close: bool) {
        let supervisor = self.spec.name_arc();
        let child = &mut self.children[idx];
        if let Some(cell) = child.cell.take() {
            child.spec.runtime.request_stop();
            match child.spec.shutdown {
                Shutdown::Brutal => {
                    let _ = cell.kill_and_wait(None).await;
                }
                Shutdown::Infinity => {
                    let _ = cell.stop_and_wait(None, None).await;
                }
                Shutdown::Timeout(timeout) => {
                    if let Err(RactorErr::Timeout) = cell.stop_and_wait(None, Some(timeout)).await {
                        tracing::warn!(supervisor = %supervisor, child = %child.spec.id, ?timeout, "child did not stop in time; killing it");
                        metrics::counter!(names::SUPERVISOR_SHUTDOWN_KILLS, "supervisor" => supervisor.to_string(), "child" => child.spec.id.to_string()).increment(1);
                        let _ = cell.kill_and_wait(None).await;
                    }
                }
            }
        }
        if close {
            child.spec.runtime.close();
        }
    }

    fn remove(&mut self, idx: usize) {
        let child = self.children.remove(idx);
        self.spec.shared.unregister(&child.spec.id);
    }

    async fn start_child(&mut self, myself: &ActorRef<SupervisorMsg>, spec: ChildSpec) -> Result<(), SupervisorError> {
        let supervisor = self.spec.name_arc();
        if let Some(max) = self.spec.max_children
            && self.children.len() >= max
        {
            return Err(SupervisorError::MaxChildren { supervisor, max });
        }
        if self.children.iter().any(|c| c.spec.id == spec.id) {
            return Err(SupervisorError::AlreadyExists { supervisor, child: spec.id.clone() });
        }
        let cell = spec.runtime.start(myself.get_cell()).await?;
        self.spec.shared.register(&spec);
        self.children.push(Child::started(spec, cell));
        Ok(())
    }

    async fn terminate_child(&mut self, id: &str) -> Result<(), SupervisorError> {
        let Some(idx) = self.children.iter().position(|c| &*c.spec.id == id) else {
            return Err(SupervisorError::NoSuchChild { supervisor: self.spec.name_arc(), child: id.to_owned() });
        };
        self.stop_child(idx, true).await;
        self.remove(idx);
        Ok(())
    }
}
