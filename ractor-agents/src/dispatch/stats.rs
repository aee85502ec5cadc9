//! What the coordinator reports about itself.

use std::sync::atomic::AtomicU64;

use crate::tasks::QueueCounts;

#[derive(Default)]
pub(crate) struct RouteCounters {
    pub(crate) dispatched: AtomicU64,
    pub(crate) refused: AtomicU64,
}

/// One route's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteStats {
    /// The capability it serves.
    pub capability: String,
    /// Tasks handed to it so far.
    pub dispatched: u64,
    /// Hand-overs it refused (the task went straight back to the queue).
    pub refused: u64,
    /// How many more it can take now.
    pub free: usize,
}

/// The coordinator's view: the queue's counts and each route's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoordinatorStats {
    /// Tasks by status and priority.
    pub queue: QueueCounts,
    /// One entry per route, in the order they were added.
    pub routes: Vec<RouteStats>,
}
