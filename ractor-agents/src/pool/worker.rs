//! [`TaskHandler`] (what users write) and the agent that runs one inside a pool.

use std::future::Future;
use std::sync::Arc;

use tracing::Instrument;

use super::input::TaskInput;
use super::job::{Job, JobOutcome};
use crate::agent::envelope::continue_trace;
use crate::agent::{Agent, AgentFailure, Ctx};
use crate::tasks::{Nack, Payload};

/// A worker's logic: how to run one task.
///
/// A pool builds one handler per worker (and a fresh one when a crashed worker restarts); each
/// worker runs its jobs one at a time, so `handle` takes `&mut self`. Return `Ok(result)` or
/// `Err(nack)` ([`Nack::transient`] to retry, [`Nack::permanent`] not to); a panic is a crash:
/// the job ends as abandoned (a store-backed task goes back to its queue, attempt counted) and
/// the worker's supervisor restarts the worker.
///
/// ```
/// use ractor_agents::pool::{TaskHandler, TaskInput};
/// use ractor_agents::tasks::{Nack, Payload};
///
/// struct Upper;
///
/// impl TaskHandler for Upper {
///     async fn handle(&mut self, task: &TaskInput) -> Result<Payload, Nack> {
///         let text = std::str::from_utf8(task.payload.as_bytes()).map_err(|_| Nack::permanent("not UTF-8"))?;
///         Ok(Payload::from(text.to_uppercase()))
///     }
/// }
/// ```
pub trait TaskHandler: Send + 'static {
    /// Runs one task.
    fn handle(&mut self, task: &TaskInput) -> impl Future<Output = Result<Payload, Nack>> + Send;

    /// Capabilities this worker has beyond the pool's own (for [`Routing::CapabilityMatch`]).
    /// Read once, from the handler built for the worker's first start; a restarted worker keeps
    /// them, so a factory should build handlers with the same capabilities every time.
    ///
    /// [`Routing::CapabilityMatch`]: super::Routing::CapabilityMatch
    fn capabilities(&self) -> Vec<Arc<str>> {
        Vec::new()
    }
}

/// The agent a pool runs per worker: its mailbox holds assigned jobs.
pub(crate) struct WorkerAgent<H> {
    handler: H,
    pool: Arc<str>,
}

impl<H> WorkerAgent<H> {
    pub(crate) fn new(handler: H, pool: Arc<str>) -> Self {
        Self { handler, pool }
    }
}

impl<H: TaskHandler> Agent for WorkerAgent<H> {
    type Msg = Job;

    async fn handle(&mut self, ctx: &Ctx<Self>, mut job: Job) -> Result<(), AgentFailure> {
        job.begin();
        let input = job.input();
        if let Some(trace) = input.trace {
            continue_trace(trace);
        }
        // DEBUG like the executor's `agent.handle` span: a span per job at INFO would cost more
        // than a trivial job.
        let span = tracing::debug_span!(
            "pool.job",
            pool = %self.pool,
            worker = %ctx.name(),
            task = %input.id,
            kind = %input.kind,
            attempt = input.attempt,
            trace_id = tracing::field::Empty,
        );
        if let Some(trace) = input.trace
            && !span.is_disabled()
        {
            span.record("trace_id", tracing::field::display(format_args!("{:032x}", trace.trace_id)));
        }
        // If the handler panics, `job` is dropped during the unwinding and completes itself
        // as abandoned (`WorkerCrashed`); if the worker is killed, the same happens when this
        // future is dropped (`WorkerStopped`).
        let outcome = match self.handler.handle(input).instrument(span).await {
            Ok(result) => JobOutcome::Succeeded(result),
            Err(nack) => JobOutcome::Failed(nack),
        };
        job.finish(outcome);
        Ok(())
    }

    fn message_name(_job: &Job) -> &'static str {
        "job"
    }
}
