//! The pool actor: owns the workers' supervisor, adds and drains workers, samples them for
//! the gauges and the autoscaler, and drains the pool when it stops.
//!
//! ```text
//! parent (a Supervisor, or none) ── PoolActor ── DynamicSupervisor ── w0, w1, … (WorkerAgent<H>)
//!                                    │ ticks: sample → gauges, autoscale
//!                                    └ post_stop: close intake → wait in-flight ≤ drain timeout → stop workers
//! ```

use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::autoscale::{ScaleDecision, ScaleSignals};
use super::core::PoolCore;
use super::job::AbandonReason;
use super::slot::WorkerSlot;
use super::spec::HandlerFactory;
use super::worker::{TaskHandler, WorkerAgent};
use crate::agent::executor::DRAIN_BUDGET;
use crate::supervisor::{ChildSpec, DynamicSupervisor, Restart, Shutdown, StartError, SupervisorError, SupervisorRef};

pub(crate) enum PoolMsg {
    /// Sample the workers; every `samples` ticks, let the autoscaler decide.
    Tick,
}

pub(crate) struct PoolActor<H>(PhantomData<fn() -> H>);

pub(crate) struct PoolArgs<H> {
    core: Arc<PoolCore>,
    factory: HandlerFactory<H>,
}

pub(crate) struct PoolState<H> {
    core: Arc<PoolCore>,
    generation: u64,
    supervisor: SupervisorRef,
    factory: HandlerFactory<H>,
    ticker: Option<JoinHandle<()>>,
    /// Busy-worker samples and worker samples since the last decision.
    busy_samples: u64,
    worker_samples: u64,
    ticks: u32,
    last_change: Option<Instant>,
}

/// Starts a pool incarnation (linked to `parent` if given). The error is a reason to report.
pub(crate) async fn spawn_pool<H: TaskHandler>(
    core: Arc<PoolCore>,
    factory: HandlerFactory<H>,
    parent: Option<ActorCell>,
) -> Result<ActorRef<PoolMsg>, String> {
    let args = PoolArgs { core, factory };
    let actor = PoolActor::<H>(PhantomData);
    let spawned = match parent {
        Some(parent) => Actor::spawn_linked(None, actor, args, parent).await,
        None => Actor::spawn(None, actor, args).await,
    };
    spawned.map(|(actor, _join)| actor).map_err(|err| err.to_string())
}

impl<H: TaskHandler> Actor for PoolActor<H> {
    type Msg = PoolMsg;
    type State = PoolState<H>;
    type Arguments = PoolArgs<H>;

    async fn pre_start(
        &self,
        myself: ActorRef<PoolMsg>,
        args: PoolArgs<H>,
    ) -> Result<PoolState<H>, ActorProcessingErr> {
        let PoolArgs { core, factory } = args;
        let generation = core.generation.fetch_add(1, Ordering::SeqCst) + 1;
        core.retire_stopped();
        let (max_restarts, period) = core.config.intensity;
        let supervisor = DynamicSupervisor::new(format!("{}-workers", core.name))
            .intensity(max_restarts, period)
            .backoff(core.config.backoff)
            .into_supervisor()
            .start_linked(myself.get_cell())
            .await?;
        let mut state = PoolState {
            core: core.clone(),
            generation,
            supervisor,
            factory,
            ticker: None,
            busy_samples: 0,
            worker_samples: 0,
            ticks: 0,
            last_change: None,
        };
        for _ in 0..core.config.min {
            if let Err(err) = state.add_worker().await {
                state.supervisor.stop().await;
                return Err(Box::new(err));
            }
        }
        core.set_actor(Some(myself.clone()));
        state.ticker = Some(spawn_ticker(myself, core.config.sample_period));
        core.open();
        tracing::debug!(pool = %core.name, workers = core.config.min, "pool started");
        Ok(state)
    }

    async fn handle(
        &self,
        _myself: ActorRef<PoolMsg>,
        msg: PoolMsg,
        state: &mut PoolState<H>,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            PoolMsg::Tick => state.tick().await,
        }
        Ok(())
    }

    async fn post_stop(&self, _myself: ActorRef<PoolMsg>, state: &mut PoolState<H>) -> Result<(), ActorProcessingErr> {
        let core = &state.core;
        core.close_intake();
        let requested = core.requested_drain.lock().unwrap_or_else(|p| p.into_inner()).take();
        let timeout = requested.unwrap_or(core.config.drain_timeout);
        let finished = core.wait_idle(timeout).await;
        let reason = if finished { AbandonReason::PoolStopped } else { AbandonReason::DrainTimedOut };
        if !finished {
            tracing::warn!(pool = %core.name, ?timeout, in_flight = core.in_flight(), "drain timed out; abandoning the rest");
        }
        core.signals.set_stop_reason(Some(reason));
        if let Some(ticker) = state.ticker.take() {
            ticker.abort();
        }
        // Workers stop brutally: the pool has already given them their grace period.
        state.supervisor.stop().await;
        core.shut_down(state.generation, reason);
        tracing::debug!(pool = %core.name, "pool stopped");
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<PoolMsg>,
        event: SupervisionEvent,
        state: &mut PoolState<H>,
    ) -> Result<(), ActorProcessingErr> {
        // The only child is the workers' supervisor: if it ends, the pool cannot work.
        match event {
            SupervisionEvent::ActorFailed(_, err) => {
                Err(format!("the workers' supervisor of pool `{}` failed: {err}", state.core.name).into())
            }
            SupervisionEvent::ActorTerminated(..) => {
                Err(format!("the workers' supervisor of pool `{}` stopped", state.core.name).into())
            }
            _ => Ok(()),
        }
    }
}

impl<H> Drop for PoolState<H> {
    /// However the incarnation ends (stop, failure, kill), its workers' queues are abandoned and
    /// waiters woken; after a normal stop `post_stop` has done this already.
    fn drop(&mut self) {
        if let Some(ticker) = self.ticker.take() {
            ticker.abort();
        }
        self.core.shut_down(self.generation, AbandonReason::PoolStopped);
    }
}

fn spawn_ticker(pool: ActorRef<PoolMsg>, period: std::time::Duration) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        interval.tick().await;
        loop {
            interval.tick().await;
            if pool.cast(PoolMsg::Tick).is_err() {
                return;
            }
        }
    })
}

impl<H: TaskHandler> PoolState<H> {
    /// Starts one more worker under the pool's supervisor and makes it routable.
    async fn add_worker(&mut self) -> Result<(), SupervisorError> {
        let core = &self.core;
        let number = core.next_worker.fetch_add(1, Ordering::Relaxed);
        let id: Arc<str> = format!("w{number}").into();
        let first = (self.factory)();
        let mut capabilities = core.config.capabilities.clone();
        capabilities.extend(first.capabilities());
        // The handler built to read the capabilities serves the first start; restarts build anew.
        let first = Mutex::new(Some(first));
        let (factory, pool) = (self.factory.clone(), core.name.clone());
        let limit = core.config.per_worker_limit;
        let spec = ChildSpec::agent(id.clone(), move || {
            let handler = first.lock().unwrap_or_else(|p| p.into_inner()).take().unwrap_or_else(|| factory());
            WorkerAgent::new(handler, pool.clone())
        })
        .restart(Restart::Permanent)
        .shutdown(Shutdown::Brutal)
        // Room for `limit` jobs plus the slots a drain frees only at the end of its batch.
        .mailbox_capacity(limit + DRAIN_BUDGET);
        let Some(handle) = spec.agent_ref::<WorkerAgent<H>>() else {
            return Err(SupervisorError::Start(StartError::ChildStartFailed {
                child: id,
                reason: "the worker child has no agent handle".into(),
            }));
        };
        self.supervisor.start_child(spec).await?;
        let slot =
            WorkerSlot::new(id, number, capabilities.into(), handle.mailbox.clone(), limit, core.signals.clone());
        core.add_slot(Arc::new(slot));
        Ok(())
    }

    /// Takes `slot` out of routing; once its jobs are done (or the drain timeout passes) it is
    /// stopped and forgotten.
    fn drain_worker(&self, slot: Arc<WorkerSlot>) {
        let core = self.core.clone();
        let supervisor = self.supervisor.clone();
        core.start_draining(&slot);
        tokio::spawn(async move {
            let timeout = core.config.drain_timeout;
            if !core.wait_slot_idle(&slot, timeout).await {
                tracing::warn!(pool = %core.name, worker = %slot.id, ?timeout, "worker drain timed out; abandoning its jobs");
            }
            let _ = supervisor.terminate_child(&slot.id).await;
            core.retire(&slot);
        });
    }

    async fn tick(&mut self) {
        let core = self.core.clone();
        let (workers, busy, queued, draining) = {
            let roster = core.roster();
            let mut busy = 0usize;
            let mut queued = 0u64;
            for slot in &roster.routable {
                let outstanding = slot.outstanding();
                if outstanding > 0 {
                    busy += 1;
                    queued += (outstanding - 1) as u64;
                }
            }
            (roster.routable.len(), busy, queued, roster.draining.len())
        };
        let metrics = &core.signals.metrics;
        metrics.idle.set((workers - busy) as f64);
        metrics.busy.set(busy as f64);
        metrics.draining.set(draining as f64);
        if !core.config.autoscales() {
            return;
        }
        self.busy_samples += busy as u64;
        self.worker_samples += workers as u64;
        self.ticks += 1;
        if self.ticks < core.config.autoscale.samples.max(1) {
            return;
        }
        let utilisation =
            if self.worker_samples == 0 { 0.0 } else { self.busy_samples as f64 / self.worker_samples as f64 };
        (self.busy_samples, self.worker_samples, self.ticks) = (0, 0, 0);
        let signals = ScaleSignals {
            workers,
            min: core.config.min,
            max: core.config.max,
            utilisation,
            queued,
            backlog: core.backlog.load(Ordering::Relaxed),
        };
        let decision = core.config.autoscale.decide(&signals, self.last_change.map(|at| at.elapsed()));
        self.apply(decision, &signals).await;
    }

    async fn apply(&mut self, decision: ScaleDecision, signals: &ScaleSignals) {
        let core = self.core.clone();
        match decision {
            ScaleDecision::Hold => return,
            ScaleDecision::Up(n) => {
                let mut added = 0;
                for _ in 0..n {
                    if let Err(err) = self.add_worker().await {
                        tracing::warn!(pool = %core.name, error = %err, "could not add a worker");
                        break;
                    }
                    added += 1;
                }
                core.signals.metrics.scaled_up.increment(added);
                tracing::info!(pool = %core.name, added, utilisation = signals.utilisation, queued = signals.queued, backlog = signals.backlog, "pool scaled up");
            }
            ScaleDecision::Down(n) => {
                // Drain the least busy workers; among equals, the newest.
                let mut candidates: Vec<Arc<WorkerSlot>> = core.roster().routable.clone();
                candidates.sort_by_key(|s| (s.outstanding(), std::cmp::Reverse(s.number)));
                let n = n.min(candidates.len().saturating_sub(core.config.min));
                for slot in candidates.into_iter().take(n) {
                    self.drain_worker(slot);
                }
                core.signals.metrics.scaled_down.increment(n as u64);
                tracing::info!(pool = %core.name, drained = n, utilisation = signals.utilisation, "pool scaled down");
            }
        }
        self.last_change = Some(Instant::now());
    }
}
