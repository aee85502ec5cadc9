//! Worker pools: routing, intake, crash recovery with a task store, leases, autoscaling,
//! draining, supervision trees, tracing and stats. Each test's name is the sentence it proves.
#![allow(missing_docs, unreachable_pub, clippy::unwrap_used)]

mod intake;
mod lifecycle;
mod recovery;
mod routing;
#[path = "../support/metrics.rs"]
mod shared_metrics;
mod stats;
mod support;
