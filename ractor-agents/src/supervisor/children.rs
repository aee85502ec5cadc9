//! The children a supervisor runs, and how it restarts, stops and escalates them.

use std::sync::Arc;

use ractor::{ActorCell, ActorProcessingErr, ActorRef, RactorErr};
use rand::rngs::SmallRng;
use tokio::time::Instant;

use super::actor::SupervisorMsg;
use super::error::{SupervisorError, SupervisorExit};
use super::exit::ChildExit;
use super::intensity::RestartWindow;
use super::tree::{ChildInfo, Supervisor};
use super::{ChildSpec, Restart, Shutdown, Strategy};
use crate::telemetry::metrics::names;

pub(crate) struct Child {
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
    pub(crate) fn started(spec: ChildSpec, cell: ActorCell) -> Self {
        Self { spec, cell: Some(cell), started_at: Instant::now(), consecutive: 0, restarts: 0, pending: false }
    }
}

pub(crate) struct State {
    pub(crate) spec: Supervisor,
    pub(crate) children: Vec<Child>,
    pub(crate) window: RestartWindow,
    pub(crate) rng: SmallRng,
    pub(crate) has_parent: bool,
}

impl State {
    pub(crate) fn name(&self) -> &str {
        self.spec.name()
    }

    /// The index of the child whose current incarnation is the actor `id`.
    pub(crate) fn running_child(&self, id: &ractor::ActorId) -> Option<usize> {
        self.children.iter().position(|c| c.cell.as_ref().is_some_and(|cell| cell.get_id() == *id))
    }

    pub(crate) fn child_infos(&self) -> Vec<ChildInfo> {
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

    pub(crate) async fn on_child_exit(
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

    pub(crate) async fn restart_group(
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
    pub(crate) async fn stop_all(&mut self, close: bool) {
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

    pub(crate) async fn start_child(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        spec: ChildSpec,
    ) -> Result<(), SupervisorError> {
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

    pub(crate) async fn terminate_child(&mut self, id: &str) -> Result<(), SupervisorError> {
        let Some(idx) = self.children.iter().position(|c| &*c.spec.id == id) else {
            return Err(SupervisorError::NoSuchChild { supervisor: self.spec.name_arc(), child: id.to_owned() });
        };
        self.stop_child(idx, true).await;
        self.remove(idx);
        Ok(())
    }
}
