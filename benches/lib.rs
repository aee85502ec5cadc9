//! Benchmarks of ractor-agents; the code is in `messaging.rs` (criterion) and `scenarios.rs`
//! (whole scenarios). See `BENCHMARKS.md` at the repository root.
