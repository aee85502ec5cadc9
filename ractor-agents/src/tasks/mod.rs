//! The task queue: tasks flow from producers through a queue to workers, and nothing is lost
//! when anything crashes.
//!
//! A [`Task`] has a kind, a payload, the capability a worker needs, a priority (higher first,
//! FIFO within a priority), an optional idempotency key, deadline and [`RetryPolicy`]. Producers
//! [`enqueue`](TaskStore::enqueue) it; workers [`lease`](TaskStore::lease) tasks of their
//! capability for a while, then [`ack`](TaskStore::ack) with a result or
//! [`nack`](TaskStore::nack) with a failure. A lease that runs out gives the task back (its
//! attempt counted); attempts spent or a passed deadline send it to the dead letters, from which
//! it can be [`redrive`](TaskStore::redrive)n.
//!
//! | operation | from | to |
//! |---|---|---|
//! | enqueue | — | Pending (or the existing task, same idempotency key) |
//! | lease | Pending (available now) | Leased, `attempts + 1` |
//! | start | Leased | Running |
//! | ack | Leased, Running | Succeeded |
//! | nack (transient, crash) / lease expiry | Leased, Running | Pending after backoff, or DeadLettered when `attempts == max_attempts` |
//! | nack (permanent) | Leased, Running | Failed |
//! | deadline passes | Pending, Leased, Running | DeadLettered |
//! | release (never ran) | Leased, Running | Pending, `attempts - 1` |
//! | cancel | Pending, Leased, Running | Cancelled |
//! | redrive | DeadLettered, Failed | Pending, `attempts = 0`, no deadline |
//!
//! Every lease has a [`LeaseToken`]; only its holder can report on the task, so a worker whose
//! lease expired cannot complete a task someone else now holds (it gets
//! [`QueueError::LeaseLost`]). An acked task is never handed out again.
//!
//! Backends implement [`TaskStore`]. Services use [`DurableStore`] (`DurableStore::open(dir)`):
//! every change is in an embedded journal on local disk before it is acknowledged, and a
//! restart finds every acknowledged task. [`MemoryStore`] is for tests and work that may be lost.
//! Both run the rules of [`QueueState`], a plain state machine whose every change is an
//! [`Event`]; the durable store journals those events and replays them on open.
//!
//! ```
//! use ractor_agents::tasks::{LeaseRequest, MemoryStore, Nack, NackOutcome, Payload, Task, TaskStatus, TaskStore};
//! use std::time::Duration;
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), ractor_agents::tasks::QueueError> {
//! let queue = MemoryStore::new();
//! let low = queue.enqueue(Task::new("resize", "a.png")).await?.id;
//! let high = queue.enqueue(Task::new("resize", "b.png").priority(9)).await?.id;
//!
//! // Highest priority first.
//! let lease = queue.lease(LeaseRequest::new("resize").lease_for(Duration::from_secs(30))).await?.remove(0);
//! assert_eq!(lease.id(), high);
//! let outcome = queue.nack(lease.id(), lease.token, Nack::transient("disk busy")).await?;
//! assert!(matches!(outcome, NackOutcome::Retrying { .. }));
//!
//! let lease = queue.lease(LeaseRequest::new("resize")).await?.remove(0);
//! assert_eq!(lease.id(), low);
//! queue.ack(lease.id(), lease.token, Payload::from("ok")).await?;
//! assert_eq!(queue.wait(low, Duration::from_secs(1)).await?.status, TaskStatus::Succeeded);
//! # Ok(()) }
//! ```

mod durable;
mod error;
mod event;
mod index;
mod memory;
mod model;
mod ops;
mod payload;
mod retry;
mod signals;
mod state;
mod store;
mod time;

pub use durable::{DurableOptions, DurableStats, DurableStore};
pub use error::QueueError;
pub use event::{Event, EventSink};
pub use index::QueueCounts;
pub use memory::MemoryStore;
pub use model::{
    Enqueued, FailureInfo, FailureKind, Lease, LeaseInfo, LeaseRequest, LeaseToken, Nack, NackOutcome, Task, TaskId,
    TaskRecord, TaskStatus,
};
pub use payload::Payload;
pub use retry::RetryPolicy;
pub use state::QueueState;
pub use store::TaskStore;
pub use time::{Clock, ManualClock, SystemClock, Timestamp};
