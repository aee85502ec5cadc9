//! What a supervisor does with its children: restart them by type and strategy, stop them by
//! policy, escalate when restarts exceed the intensity.

use std::sync::Arc;
use std::time::Duration;

use ractor::{ActorId, ActorProcessingErr, ActorRef, RactorErr};
use rand::rngs::SmallRng;
use tokio::time::Instant;

use super::actor::SupervisorMsg;
use super::child_table::{ChildTable, Seq};
use super::error::{SupervisorError, SupervisorExit};
use super::exit::ChildExit;
use super::intensity::RestartWindow;
use super::tree::{ChildInfo, Supervisor};
use super::{Backoff, ChildSpec, Restart, Shutdown, Strategy};
use crate::registry::Lineage;
use crate::telemetry::metrics::names;

pub(crate) struct State {
    pub(crate) spec: Supervisor,
    pub(crate) children: ChildTable,
    pub(crate) window: RestartWindow,
    pub(crate) rng: SmallRng,
    pub(crate) has_parent: bool,
    /// This supervisor's path and registry, handed to every child it starts.
    pub(crate) lineage: Lineage,
}

impl State {
    pub(crate) fn name(&self) -> &str {
        self.spec.name()
    }

    /// The child whose current incarnation is the actor `id`.
    pub(crate) fn running_child(&self, id: &ActorId) -> Option<Seq> {
        self.children.seq_of_actor(id)
    }

    pub(crate) fn child_infos(&self) -> Vec<ChildInfo> {
        self.children
            .iter()
            .map(|c| ChildInfo {
                id: c.spec.id.clone(),
                kind: c.spec.kind(),
                running: c.is_running(),
                restarts: c.restarts,
            })
            .collect()
    }

    pub(crate) async fn on_child_exit(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        seq: Seq,
        exit: ChildExit,
    ) -> Result<(), ActorProcessingErr> {
        let supervisor = self.spec.name_arc();
        self.children.take_cell(seq);
        let Some(child) = self.children.get(seq) else { return Ok(()) };
        let (id, restart_type) = (child.spec.id.clone(), child.spec.restart);
        metrics::counter!(names::SUPERVISOR_CHILD_EXITS, "supervisor" => supervisor.clone(), "child" => id.clone(), "reason" => exit.label()).increment(1);
        let restart = match restart_type {
            Restart::Permanent => true,
            Restart::Transient => exit.is_abnormal(),
            Restart::Temporary => false,
        };
        if !restart {
            tracing::info!(supervisor = %supervisor, child = %id, %exit, restart = ?restart_type, "child exited and is not restarted");
            child.spec.runtime.close();
            if self.spec.dynamic || restart_type == Restart::Temporary {
                self.remove(seq);
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
        let reset_after = self.backoff_of(seq).reset_period();
        if let Some(child) = self.children.get_mut(seq)
            && child.started_at.elapsed() >= reset_after
        {
            child.consecutive = 0;
        }
        let group = match self.spec.strategy {
            Strategy::OneForOne => vec![seq],
            Strategy::OneForAll => self.children.seqs(),
            Strategy::RestForOne => self.children.seqs_from(seq),
        };
        for &sibling in group.iter().rev() {
            if sibling != seq {
                self.stop_child(sibling, false).await;
            }
        }
        let mut restarting = Vec::with_capacity(group.len());
        for &s in &group {
            let Some(c) = self.children.get_mut(s) else { continue };
            if s != seq && c.spec.restart == Restart::Temporary {
                // A temporary sibling stopped by the strategy is not restarted (as in OTP).
                c.spec.runtime.close();
                self.remove(s);
                continue;
            }
            c.pending = true;
            let why = if s == seq { exit.label() } else { "sibling" };
            metrics::counter!(names::SUPERVISOR_RESTARTS, "supervisor" => supervisor.clone(), "child" => c.spec.id.clone(), "reason" => why).increment(1);
            restarting.push(s);
        }
        self.schedule(myself, restarting, seq).await
    }

    fn backoff_of(&self, seq: Seq) -> Backoff {
        self.children.get(seq).and_then(|c| c.spec.backoff.as_deref().copied()).unwrap_or(self.spec.backoff)
    }

    /// Restarts `group` now, or after the backoff of `trigger` (the child whose exit caused it).
    /// A zero delay restarts inline: a restart is on the latency path of every waiting ask.
    async fn schedule(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        group: Vec<Seq>,
        trigger: Seq,
    ) -> Result<(), ActorProcessingErr> {
        let backoff = self.backoff_of(trigger);
        let delay = match self.children.get_mut(trigger) {
            Some(child) => {
                let n = child.consecutive;
                child.consecutive = n.saturating_add(1);
                backoff.delay(n, &mut self.rng)
            }
            None => Duration::ZERO,
        };
        if delay.is_zero() {
            return Box::pin(self.restart_group(myself, group)).await;
        }
        tracing::debug!(supervisor = %self.name(), ?delay, "restart delayed by backoff");
        let myself = myself.clone();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = myself.cast(SupervisorMsg::RestartDue(group));
        });
        Ok(())
    }

    /// Starts, in order, the children of `group` still waiting for a restart.
    pub(crate) async fn restart_group(
        &mut self,
        myself: &ActorRef<SupervisorMsg>,
        group: Vec<Seq>,
    ) -> Result<(), ActorProcessingErr> {
        for (n, &seq) in group.iter().enumerate() {
            let Some(child) = self.children.get(seq).filter(|c| c.pending && !c.is_running()) else {
                continue;
            };
            let id = child.spec.id.clone();
            match child.spec.runtime.start(myself.get_cell(), &self.lineage).await {
                Ok(cell) => {
                    self.children.set_cell(seq, cell);
                    if let Some(child) = self.children.get_mut(seq) {
                        child.pending = false;
                        child.started_at = Instant::now();
                        child.restarts += 1;
                        tracing::info!(supervisor = %self.spec.name(), child = %id, restarts = child.restarts, "child restarted");
                    }
                }
                Err(err) => {
                    // A failed restart counts as another restart attempt, as in OTP.
                    let supervisor = self.spec.name_arc();
                    tracing::warn!(supervisor = %supervisor, child = %id, error = %err, "child failed to restart");
                    metrics::counter!(names::SUPERVISOR_RESTARTS, "supervisor" => supervisor, "child" => id.clone(), "reason" => "start_failed").increment(1);
                    if !self.window.try_record(self.spec.intensity, Instant::now()) {
                        return Err(self.give_up(&id, &ChildExit::Failed(err.to_string())).await);
                    }
                    return Box::pin(self.schedule(myself, group[n..].to_vec(), seq)).await;
                }
            }
        }
        Ok(())
    }

    /// Intensity exceeded: stop every child (reverse order), then fail. A supervisor with a
    /// parent escalates (its parent sees it fail); a root gives up.
    async fn give_up(&mut self, child: &Arc<str>, exit: &ChildExit) -> ActorProcessingErr {
        let supervisor = self.spec.name_arc();
        let limit = self.spec.intensity;
        let reason = format!(
            "supervisor `{supervisor}` exceeded its restart intensity ({} restarts in {:?}); last: child `{child}` {exit}",
            limit.max_restarts, limit.period
        );
        let metric = if self.has_parent { names::SUPERVISOR_ESCALATIONS } else { names::SUPERVISOR_GIVE_UPS };
        metrics::counter!(metric, "supervisor" => supervisor.clone(), "child" => child.clone(), "reason" => exit.label()).increment(1);
        if self.has_parent {
            tracing::error!(supervisor = %supervisor, child = %child, %exit, "restart intensity exceeded; escalating to parent");
        } else {
            tracing::error!(supervisor = %supervisor, child = %child, %exit, "restart intensity exceeded; root supervisor gives up");
        }
        self.stop_all(true).await;
        self.spec.shared.set_current(None);
        self.spec.shared.exit.send_replace(Some(SupervisorExit::Failed(reason.clone())));
        reason.into()
    }

    /// Stops every child in reverse start order; `close` (the supervisor itself is stopping)
    /// also closes their mailboxes and takes them out of the registry.
    pub(crate) async fn stop_all(&mut self, close: bool) {
        for seq in self.children.seqs().into_iter().rev() {
            self.stop_child(seq, close).await;
            if close && let Some(child) = self.children.get_mut(seq) {
                child.pending = false;
                child.spec.runtime.unregister();
            }
        }
    }

    /// Stops one child by its shutdown policy. `close` also closes its mailbox for good.
    async fn stop_child(&mut self, seq: Seq, close: bool) {
        let cell = self.children.take_cell(seq);
        let Some(child) = self.children.get(seq) else { return };
        if let Some(cell) = cell {
            child.spec.runtime.request_stop();
            match child.spec.shutdown {
                Shutdown::Brutal => {
                    let _ = cell.kill_and_wait(None).await;
                    child.spec.runtime.killed();
                }
                Shutdown::Infinity => {
                    let _ = cell.stop_and_wait(None, None).await;
                }
                Shutdown::Timeout(timeout) => {
                    if let Err(RactorErr::Timeout) = cell.stop_and_wait(None, Some(timeout)).await {
                        let supervisor = self.spec.name_arc();
                        tracing::warn!(supervisor = %supervisor, child = %child.spec.id, ?timeout, "child did not stop in time; killing it");
                        metrics::counter!(names::SUPERVISOR_SHUTDOWN_KILLS, "supervisor" => supervisor, "child" => child.spec.id.clone()).increment(1);
                        let _ = cell.kill_and_wait(None).await;
                        child.spec.runtime.killed();
                    }
                }
            }
        }
        if close {
            child.spec.runtime.close();
        }
    }

    fn remove(&mut self, seq: Seq) {
        if let Some(child) = self.children.remove(seq) {
            self.spec.shared.unregister(&child.spec.id);
            child.spec.runtime.unregister();
        }
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
        if self.children.contains_id(&spec.id) {
            return Err(SupervisorError::AlreadyExists { supervisor, child: spec.id.clone() });
        }
        let cell = match spec.runtime.start(myself.get_cell(), &self.lineage).await {
            Ok(cell) => cell,
            Err(err) => {
                spec.runtime.unregister();
                return Err(err.into());
            }
        };
        self.spec.shared.register(&spec);
        self.children.push_started(spec, cell);
        Ok(())
    }

    pub(crate) async fn terminate_child(&mut self, id: &str) -> Result<(), SupervisorError> {
        let Some(seq) = self.children.seq_of(id) else {
            return Err(SupervisorError::NoSuchChild { supervisor: self.spec.name_arc(), child: id.to_owned() });
        };
        self.stop_child(seq, true).await;
        self.remove(seq);
        Ok(())
    }
}
