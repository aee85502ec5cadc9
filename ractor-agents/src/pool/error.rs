//! Why a pool did not take a job. Every variant hands the job back.

use std::fmt;
use std::sync::Arc;

use super::job::Job;

/// A job the pool did not accept. The job is inside: resubmit it, send it elsewhere, or drop it
/// (a dropped job completes as abandoned; a store-backed one goes back to its queue).
#[derive(thiserror::Error)]
pub enum SubmitError {
    /// Every worker that could take the job holds its `per_worker_limit` already (load
    /// shedding). Retry later, wait with [`PoolRef::wait_for_capacity`](super::PoolRef::wait_for_capacity),
    /// or submit with backpressure.
    #[error("pool `{pool}` is full ({capacity} jobs in flight); retry later, or wait for capacity")]
    Overloaded {
        /// The pool.
        pool: Arc<str>,
        /// Its capacity when it refused.
        capacity: usize,
        /// The job, handed back.
        job: Job,
    },
    /// Capability routing found no worker with the job's capability; waiting will not help.
    #[error("pool `{pool}` has no worker with capability `{capability}`; route the job to another pool")]
    NoCapableWorker {
        /// The pool.
        pool: Arc<str>,
        /// The capability asked for.
        capability: Arc<str>,
        /// The job, handed back.
        job: Job,
    },
    /// The pool is draining, stopped or not started.
    #[error("pool `{pool}` is not taking jobs (draining, stopped or not started)")]
    Closed {
        /// The pool.
        pool: Arc<str>,
        /// The job, handed back.
        job: Job,
    },
}

impl SubmitError {
    /// The job that was not accepted.
    pub fn into_job(self) -> Job {
        match self {
            Self::Overloaded { job, .. } | Self::NoCapableWorker { job, .. } | Self::Closed { job, .. } => job,
        }
    }
}

impl fmt::Debug for SubmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Overloaded { pool, capacity, .. } => {
                f.debug_struct("Overloaded").field("pool", pool).field("capacity", capacity).finish_non_exhaustive()
            }
            Self::NoCapableWorker { pool, capability, .. } => f
                .debug_struct("NoCapableWorker")
                .field("pool", pool)
                .field("capability", capability)
                .finish_non_exhaustive(),
            Self::Closed { pool, .. } => f.debug_struct("Closed").field("pool", pool).finish_non_exhaustive(),
        }
    }
}

/// The pool stopped taking jobs while a caller waited for capacity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pool `{pool}` is not taking jobs (draining, stopped or not started)")]
pub struct PoolClosed {
    /// The pool.
    pub pool: Arc<str>,
}
