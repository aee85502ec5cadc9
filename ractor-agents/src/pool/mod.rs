//! Worker pools: supervised workers that run jobs, with routing, bounded intake, autoscaling
//! and a guarantee that no job is lost when a worker crashes.
//!
//! You write a [`TaskHandler`] (how to run one task); a pool runs several workers, each an agent
//! of this crate with its own handler, under a dynamic supervisor that restarts a crashed
//! worker. Producers hand the pool [`Job`]s: a [`TaskInput`] plus where to report the
//! [`JobOutcome`].
//!
//! ```text
//!              submit / try_submit                    ┌─ w0: mailbox ─▶ handler ─┐
//! producer ──▶ PoolRef ── route (reserve a slot) ─────┼─ w1: mailbox ─▶ handler ─┼─▶ JobCompletion
//!   ▲            │ full: wait (backpressure)          └─ w2: …                   │   (ack / nack
//!   └────────────┘ or Overloaded(job) (shedding)        DynamicSupervisor restarts│    for a store job)
//!                                                       a crashed worker          │
//! ```
//!
//! * **Nothing vanishes.** A job completes exactly once. If its worker panics or is killed, the
//!   pool stops, or a drain times out, the job's `Drop` completes it as
//!   [`JobOutcome::Abandoned`]. Jobs built by [`StoreJobs`] from a [`TaskStore`] lease turn that
//!   into a nack, so the task goes back to the queue (attempt counted) while the supervisor
//!   restarts the worker — unlike ractor's factory, which loses a crashed worker's job. Queued
//!   jobs wait in the worker's mailbox, which survives the restart.
//! * **Routing** ([`Routing`]): round-robin, least-loaded (default), power of two choices
//!   (seeded), capability match, sticky by key (consistent hashing). Each worker holds at most
//!   `per_worker_limit` jobs (queued and running) and runs them one at a time.
//! * **Bounded intake.** The pool holds at most `per_worker_limit × workers` jobs.
//!   [`PoolRef::try_submit`] sheds load with [`SubmitError::Overloaded`] (the job comes back);
//!   [`PoolRef::submit`] waits under [`Overflow::Backpressure`] (the default).
//!   [`PoolRef::free_capacity`] and [`PoolRef::wait_for_capacity`] let a coordinator lease only
//!   what the pool can take.
//! * **Autoscaling** between `min..=max` workers by utilisation and backlog ([`AutoscalePolicy`],
//!   a pure rule), with cooldowns; surplus workers are drained (no new jobs, in-flight ones
//!   finish, then they stop).
//! * **Draining** ([`PoolRef::drain`]): stop intake, let in-flight jobs finish within a timeout,
//!   abandon the rest, stop.
//! * **Observability**: [`PoolStats`] (worker states, counts, p50/p99 latency and run time) and
//!   the `ractor_agents_pool_*` metrics (`docs/observability/metrics.md`). A handler runs inside
//!   its task's trace (`TaskInput::trace`), in a `pool.job` span at DEBUG.
//!
//! A pool starts on its own ([`PoolSpec::start`]) or as a child of a supervision tree
//! ([`ChildSpec::pool`](crate::supervisor::ChildSpec::pool)).
//!
//! # Example: a pool fed from a task store, surviving a crash
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use ractor_agents::pool::{PoolSpec, StoreJobs, TaskHandler, TaskInput};
//! use ractor_agents::tasks::{LeaseRequest, MemoryStore, Nack, Payload, RetryPolicy, Task, TaskStatus, TaskStore};
//!
//! /// Upper-cases text; crashes on its first attempt at "boom".
//! struct Shout;
//!
//! impl TaskHandler for Shout {
//!     async fn handle(&mut self, task: &TaskInput) -> Result<Payload, Nack> {
//!         let text = std::str::from_utf8(task.payload.as_bytes()).map_err(|_| Nack::permanent("not UTF-8"))?;
//!         if text == "boom" && task.attempt == 1 {
//!             panic!("simulated crash");
//!         }
//!         Ok(Payload::from(text.to_uppercase()))
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let store = Arc::new(MemoryStore::new());
//! let retry_at_once = RetryPolicy::exponential(3, Duration::ZERO, Duration::ZERO);
//! let boom = store.enqueue(Task::new("shout", "boom").retry(retry_at_once)).await?.id;
//! let hello = store.enqueue(Task::new("shout", "hello")).await?.id;
//!
//! let pool = PoolSpec::new("shouters", 2, || Shout).start().await?;
//! let jobs = StoreJobs::new(store.clone());
//! // A minimal coordinator: lease what the pool can take and submit it, until both tasks are
//! // done; when nothing is leasable, wait for the store to say something may be.
//! let mut changes = store.changes();
//! while store.counts().await?.unfinished() > 0 {
//!     changes.borrow_and_update();
//!     let room = pool.wait_for_capacity().await?;
//!     let leases = store.lease(LeaseRequest::new("shout").max(room)).await?;
//!     if leases.is_empty() {
//!         let _ = tokio::time::timeout(Duration::from_millis(50), changes.changed()).await;
//!     }
//!     for lease in leases {
//!         pool.submit(jobs.job(lease)).await?;
//!     }
//! }
//! let boom = store.get(boom).await?.expect("kept");
//! assert_eq!((boom.status, boom.attempts), (TaskStatus::Succeeded, 2)); // crashed once, retried
//! assert_eq!(boom.result, Some(Payload::from("BOOM")));
//! assert_eq!(store.get(hello).await?.expect("kept").status, TaskStatus::Succeeded);
//! assert_eq!(pool.stats().abandoned, 1);
//! pool.drain(Duration::from_secs(1)).await;
//! # Ok(()) }
//! ```
//!
//! [`TaskStore`]: crate::tasks::TaskStore

mod actor;
mod autoscale;
mod child;
mod core;
mod error;
mod handle;
mod input;
mod job;
mod lease_keeper;
mod ring;
mod routing;
mod slot;
mod spec;
mod stats;
mod store_job;
mod worker;

pub use autoscale::{AutoscalePolicy, ScaleDecision, ScaleSignals};
pub use error::{PoolClosed, SubmitError};
pub use handle::{DrainReport, PoolRef};
pub use input::TaskInput;
pub use job::{AbandonReason, Job, JobCompletion, JobOutcome, JobReceipt};
pub use routing::Routing;
pub use spec::{DEFAULT_DRAIN_TIMEOUT, DEFAULT_PER_WORKER_LIMIT, Overflow, PoolSpec, WorkerRange};
pub use stats::{Percentiles, PoolStats};
pub use store_job::{StoreJobStats, StoreJobs};
pub use worker::TaskHandler;
