//! Benchmarks of ractor-agents. The agent runtime's benchmarks are the bench targets
//! `messaging.rs` (criterion) and `scenarios.rs` (whole scenarios); the durable task queue's
//! engine comparison lives in [`queue_peers`] and runs from the bench target `durable_queue.rs`.
//! The LLM HTTP clients compared by the bench target `llm_http.rs`, and the OpenAI-compatible
//! server they call, live in `llm_peers` (feature `llm-http`).
//! See `BENCHMARKS.md` at the repository root for the figures.

#[cfg(feature = "llm-http")]
pub mod llm_peers;
pub mod queue_peers;
