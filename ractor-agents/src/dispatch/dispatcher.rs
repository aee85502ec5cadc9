//! The agents that move work: one dispatcher per route (lease while the route has room, hand
//! over, wait for work without polling) and a timekeeper (run lease expiries, retry times and
//! deadlines when they fall due).
//!
//! Each loop runs as a task owned by an agent under the coordinator's supervisor: if the loop
//! fails, its agent fails and is restarted; when the agent stops or is killed, the loop is
//! aborted with it.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::route::Route;
use super::stats::RouteCounters;
use crate::agent::{Agent, AgentFailure, Ctx};
use crate::tasks::{LeaseRequest, TaskStore};

/// Settings every dispatcher shares.
#[derive(Clone)]
pub(crate) struct DispatchConfig {
    pub(crate) store: Arc<dyn TaskStore>,
    pub(crate) lease_for: Duration,
    pub(crate) batch: usize,
    pub(crate) name: Arc<str>,
}

/// Aborts the loop when the agent that owns it goes (stop, crash or kill).
struct LoopTask(JoinHandle<Result<(), String>>);

impl Drop for LoopTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The loop's end, reported to its agent so a failure becomes a supervised restart.
pub(crate) enum LoopMsg {
    Ended(String),
}

/// Owns one route's dispatch loop.
pub(crate) struct Dispatcher {
    pub(crate) config: DispatchConfig,
    pub(crate) route: Arc<dyn Route>,
    pub(crate) counters: Arc<RouteCounters>,
    task: Option<LoopTask>,
}

impl Dispatcher {
    pub(crate) fn new(config: DispatchConfig, route: Arc<dyn Route>, counters: Arc<RouteCounters>) -> Self {
        Self { config, route, counters, task: None }
    }
}

impl Agent for Dispatcher {
    type Msg = LoopMsg;

    async fn on_start(&mut self, ctx: &Ctx<Self>) -> Result<(), AgentFailure> {
        let (config, route, counters) = (self.config.clone(), self.route.clone(), self.counters.clone());
        self.task = Some(spawn_reporting(ctx, dispatch_loop(config, route, counters)));
        Ok(())
    }

    async fn handle(&mut self, _: &Ctx<Self>, msg: LoopMsg) -> Result<(), AgentFailure> {
        let LoopMsg::Ended(reason) = msg;
        Err(AgentFailure::new(format!("dispatch loop for `{}` ended: {reason}", self.route.capability())))
    }
}

/// Owns the timekeeper loop.
pub(crate) struct Timekeeper {
    pub(crate) store: Arc<dyn TaskStore>,
    task: Option<LoopTask>,
}

impl Timekeeper {
    pub(crate) fn new(store: Arc<dyn TaskStore>) -> Self {
        Self { store, task: None }
    }
}

impl Agent for Timekeeper {
    type Msg = LoopMsg;

    async fn on_start(&mut self, ctx: &Ctx<Self>) -> Result<(), AgentFailure> {
        self.task = Some(spawn_reporting(ctx, timekeeper_loop(self.store.clone())));
        Ok(())
    }

    async fn handle(&mut self, _: &Ctx<Self>, msg: LoopMsg) -> Result<(), AgentFailure> {
        let LoopMsg::Ended(reason) = msg;
        Err(AgentFailure::new(format!("timekeeper loop ended: {reason}")))
    }
}

/// Spawns `fut`; if it ends (it only ends by failing) or panics, tells the agent.
fn spawn_reporting<A: Agent<Msg = LoopMsg>>(
    ctx: &Ctx<A>,
    fut: impl Future<Output = Result<(), String>> + Send + 'static,
) -> LoopTask {
    let me = ctx.myself().clone();
    let inner = tokio::spawn(fut);
    LoopTask(tokio::spawn(async move {
        let reason = match inner.await {
            Ok(Ok(())) => "returned".to_owned(),
            Ok(Err(e)) => e,
            Err(e) if e.is_panic() => "panicked".to_owned(),
            Err(_) => return Ok(()), // aborted: the agent is going away
        };
        let _ = me.try_tell(LoopMsg::Ended(reason.clone()));
        Err(reason)
    }))
}

/// Storage errors are retried after this pause instead of spinning (the store may be
/// recovering); the loop itself never gives up on them.
const STORE_ERROR_PAUSE: Duration = Duration::from_millis(100);

async fn dispatch_loop(
    config: DispatchConfig,
    route: Arc<dyn Route>,
    counters: Arc<RouteCounters>,
) -> Result<(), String> {
    let mut changes = config.store.changes();
    let worker: Arc<str> = format!("{}/{}", config.name, route.capability()).into();
    loop {
        if route.has_room().await.is_err() {
            // Closed for now (a pool restarting under its supervisor): look again shortly.
            tokio::time::sleep(STORE_ERROR_PAUSE).await;
            continue;
        }
        let free = route.free();
        if free == 0 {
            continue;
        }
        // Mark the current version seen *before* leasing: work enqueued after this point
        // changes it again, so the wait below cannot miss it.
        changes.borrow_and_update();
        let request = LeaseRequest::new(route.capability())
            .max(free.min(config.batch))
            .lease_for(config.lease_for)
            .worker(worker.clone());
        let leases = match config.store.lease(request).await {
            Ok(leases) => leases,
            Err(e) => {
                tracing::warn!(capability = route.capability(), error = %e, "lease failed; retrying");
                tokio::time::sleep(STORE_ERROR_PAUSE).await;
                continue;
            }
        };
        if leases.is_empty() {
            if changes.changed().await.is_err() {
                return Err("the store was dropped".into());
            }
            continue;
        }
        for lease in leases {
            counters.dispatched.fetch_add(1, Ordering::Relaxed);
            // Refusal (the route filled up between `free` and now, e.g. another producer):
            // the route has given the task back itself.
            if route.dispatch(lease).is_err() {
                counters.refused.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

async fn timekeeper_loop(store: Arc<dyn TaskStore>) -> Result<(), String> {
    let mut changes = store.changes();
    let clock = store.clock();
    loop {
        changes.borrow_and_update();
        if let Err(e) = store.expire_due().await {
            tracing::warn!(error = %e, "expiring due tasks failed; retrying");
            tokio::time::sleep(STORE_ERROR_PAUSE).await;
            continue;
        }
        let wait = store.next_due().map(|due| due.since(clock.now()));
        tokio::select! {
            changed = changes.changed() => if changed.is_err() { return Err("the store was dropped".into()) },
            () = sleep_or_forever(wait) => {}
        }
    }
}

async fn sleep_or_forever(wait: Option<Duration>) {
    match wait {
        // Timestamps are in µs; sleep at least 1 ms so a due time a hair away does not spin.
        Some(d) => tokio::time::sleep(d.max(Duration::from_millis(1))).await,
        None => std::future::pending().await,
    }
}
