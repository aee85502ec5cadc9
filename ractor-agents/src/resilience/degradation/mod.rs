//! Graceful degradation: shed optional work while dependencies struggle, restore it when they
//! recover, without flapping.
//!
//! A [`Degradation`] controller holds the service's current [`Level`] — by default
//! `normal` < `degraded` < `minimal`, or your own [`Levels`]. Health signals each demand a level:
//!
//! | signal | demands its level while |
//! |---|---|
//! | [`breaker_signal`](DegradationBuilder::breaker_signal) | the circuit breaker is not closed (open, half-open, isolated) |
//! | [`error_rate_signal`](DegradationBuilder::error_rate_signal) | the rate reached a [`Threshold`]'s `enter` and has not fallen below its `exit` |
//! | [`queue_depth_signal`](DegradationBuilder::queue_depth_signal) | likewise, for a queue depth |
//! | [`custom_signal`](DegradationBuilder::custom_signal) | its closure says so (it returns the level) |
//!
//! Each [`evaluate`](Degradation::evaluate) (called by you, or by the controller's own interval
//! task with [`evaluate_every`](DegradationBuilder::evaluate_every)) reads every signal; the
//! worst demand wins. The level then moves with **hysteresis**:
//!
//! * **escalate** to a worse demand only once it has held for `escalate_after` (default 5 s), to
//!   the level that was demanded throughout that time;
//! * **recover** one level at a time, each step only after a better demand has held for
//!   `recover_after` (default 30 s);
//! * a demand that returns to the current level, even at one evaluation, restarts the wait, so
//!   a signal that oscillates faster than the hold times never moves the level;
//! * numeric thresholds have separate enter and exit values, so a value hovering near one
//!   number does not toggle its demand.
//!
//! Why these defaults: 5 s to escalate ignores blips shorter than that (a burst of errors that
//! clears, a queue spike that drains), yet sheds work well before a caller's typical 30 s
//! timeout; recovery is six times slower, one level at a time, because a dependency
//! that gets its full load back the moment it answers again is the classic way to knock it over
//! a second time. `docs/guides/graceful-degradation.md` compares them with Kubernetes'
//! autoscaler, which makes the same asymmetric choice.
//!
//! Code asks [`is_enabled`](Degradation::is_enabled) for features registered with the worst
//! level at which they stay on, or branches on [`level`](Degradation::level) (one atomic load).
//! Changes are sent on a [`watch`](tokio::sync::watch) channel ([`subscribe`](Degradation::subscribe)),
//! logged as a `tracing` event (target `ractor_agents::resilience::degradation`) and set the
//! gauge `ractor_agents_degradation_level{controller}`; `ractor_agents_degradation_transitions_total{controller,direction}`
//! counts them. [`health`](Degradation::health) is a serializable snapshot for health output.
//!
//! # Reduced-functionality mode
//!
//! Optional features go off and policies relax while a dependency is down, and come back on
//! their own when it recovers. Here an agent picker matches capabilities strictly at `normal`
//! and, while the embeddings service's breaker is open, also accepts agents that only have the
//! fallback capability:
//!
//! ```
//! use ractor_agents::resilience::breaker::CircuitBreaker;
//! use ractor_agents::resilience::clock::ManualClock;
//! use ractor_agents::resilience::degradation::{Degradation, Level};
//! use std::time::Duration;
//!
//! /// How strictly a task's capability must match an agent's.
//! #[derive(Debug, PartialEq)]
//! enum CapabilityMatch {
//!     /// Only agents with exactly the wanted capability.
//!     Strict,
//!     /// Also agents with the fallback capability.
//!     Relaxed { fallback: &'static str },
//! }
//!
//! impl CapabilityMatch {
//!     fn for_level(degradation: &Degradation) -> Self {
//!         if degradation.level() >= Level::DEGRADED { Self::Relaxed { fallback: "general" } } else { Self::Strict }
//!     }
//!
//!     fn accepts(&self, agent_capabilities: &[&str], wanted: &str) -> bool {
//!         agent_capabilities.iter().any(|c| *c == wanted || matches!(self, Self::Relaxed { fallback } if c == fallback))
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let clock = ManualClock::new();
//! let embeddings = CircuitBreaker::builder("embeddings").clock(clock.clone()).build()?;
//! let degradation = Degradation::builder("search")
//!     .breaker_signal("embeddings-breaker", &embeddings, Level::DEGRADED)
//!     .feature("semantic-rerank", Level::NORMAL)
//!     .feature("summaries", Level::DEGRADED)
//!     .clock(clock.clone())
//!     .build()?;
//! let generalist = ["general"];
//!
//! assert!(degradation.is_enabled("semantic-rerank"));
//! assert!(!CapabilityMatch::for_level(&degradation).accepts(&generalist, "rerank"));
//!
//! embeddings.isolate(); // the breaker opens (here by hand; normally after failed calls)
//! degradation.evaluate();
//! clock.advance(Duration::from_secs(5)); // escalate_after
//! assert_eq!(degradation.evaluate(), Level::DEGRADED);
//! assert!(!degradation.is_enabled("semantic-rerank"));
//! assert!(degradation.is_enabled("summaries"));
//! assert!(CapabilityMatch::for_level(&degradation).accepts(&generalist, "rerank"));
//!
//! embeddings.reset(); // closes again
//! degradation.evaluate();
//! clock.advance(Duration::from_secs(30)); // recover_after
//! assert_eq!(degradation.evaluate(), Level::NORMAL);
//! assert_eq!(CapabilityMatch::for_level(&degradation), CapabilityMatch::Strict);
//! assert!(degradation.is_enabled("semantic-rerank"));
//! # Ok(()) }
//! ```

mod builder;
mod controller;
mod hysteresis;
mod level;
mod signal;

pub use builder::{DegradationBuilder, DegradationError};
pub use controller::Degradation;
pub use hysteresis::HoldTimes;
pub use level::{Level, Levels};
pub use signal::{DegradationHealth, NumberKind, SignalHealth, SignalValue, Threshold};
