//! Benchmarks of ractor-agents; the code is in `messaging.rs` (criterion) and `scenarios.rs`
//! (whole scenarios), and the durable task queue workload in [`queue_workload`] (run by
//! `durable_tasks.rs`). See `BENCHMARKS.md` at the repository root.

pub mod queue_workload;
