//! Circuit breaker: stop calling a dependency that is failing, and find out when it is back.
//!
//! A breaker watches the outcomes of recent calls in a sliding window (the last N calls, or
//! the calls of the last T seconds). While **closed** it lets every call through. Once the
//! window holds a minimum number of calls and the failure rate (or the slow-call rate) reaches
//! its threshold, it **opens**: calls fail at once with [`BreakerError::Open`], without touching
//! the dependency, for a break (fixed, or doubling on each trip up to a cap). After the break
//! it is **half-open**: a few probes go through; enough successes close it, one failure opens it
//! again. An operator can [`isolate`](CircuitBreaker::isolate) it (forced open) and
//! [`reset`](CircuitBreaker::reset) it.
//!
//! ```text
//!            rate ≥ threshold               break elapsed
//!  Closed ─────────────────────▶ Open ──────────────────────▶ HalfOpen
//!    ▲                            ▲                              │ │
//!    │                            └──────── a probe fails ───────┘ │
//!    └──────────────────────── enough probes succeed ──────────────┘
//! ```
//!
//! Use it three ways: [`CircuitBreaker::call`] around a future-returning closure;
//! [`CircuitBreaker::try_acquire`] and [`Permit::record`] when the call cannot be wrapped; or
//! [`CircuitBreakerLayer`] as `tower` middleware in front of any `Service`. Clones of a breaker
//! share one circuit.
//!
//! Cost: admitting and recording a call is lock-free (one atomic load of a packed state word to
//! admit; the window's atomic counters to record; a compare-exchange to claim a half-open probe),
//! ~35–47 ns closed (see BENCHMARKS.md). Only a state change takes a mutex, to order the change
//! with its metric and event; calls do not wait on it except the one making the change.
//!
//! Every state change is a `tracing` event (target `ractor_agents::resilience::breaker`) and
//! moves the gauge `ractor_agents_circuit_breaker_state{name,state}`; every call is counted in
//! `ractor_agents_circuit_breaker_calls_total{name,outcome}`.
//!
//! ```
//! use ractor_agents::resilience::breaker::{BreakDuration, BreakerError, CircuitBreaker, CircuitState, SlidingWindow};
//! use ractor_agents::resilience::clock::ManualClock;
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let clock = ManualClock::new();
//! let breaker = CircuitBreaker::builder("llm")
//!     .window(SlidingWindow::Count(4))
//!     .minimum_calls(4)
//!     .break_duration(BreakDuration::Fixed(Duration::from_secs(5)))
//!     .half_open(1, 1)
//!     .clock(clock.clone())
//!     .build()?;
//!
//! for _ in 0..4 {
//!     let answer: Result<(), _> = breaker.call(|| async { Err("503 Service Unavailable") }).await;
//!     assert!(matches!(answer, Err(BreakerError::Inner(_))));
//! }
//! assert_eq!(breaker.state(), CircuitState::Open);
//! let rejected = breaker.call(|| async { Ok::<_, &str>("never called") }).await;
//! assert!(matches!(rejected, Err(BreakerError::Open(r)) if r.retry_after == Some(Duration::from_secs(5))));
//!
//! clock.advance(Duration::from_secs(5));
//! let probe = breaker.call(|| async { Ok::<_, &str>("recovered") }).await;
//! assert_eq!(probe.ok(), Some("recovered"));
//! assert_eq!(breaker.state(), CircuitState::Closed);
//! # Ok(()) }
//! ```

mod builder;
mod circuit;
mod config;
mod error;
mod future;
mod layer;
mod outcome;
mod permit;
mod service;
mod state;
mod window;

use std::future::Future;
use std::sync::Arc;

pub use builder::CircuitBreakerBuilder;
pub use config::{
    BreakDuration, BreakerConfig, BreakerConfigError, MAX_HALF_OPEN_PROBES, MAX_TIME_BUCKETS, MAX_WINDOW_CALLS,
    SlidingWindow, SlowCalls,
};
pub use error::{BreakerError, Rejected};
pub use future::ResponseFuture;
pub use layer::CircuitBreakerLayer;
pub use outcome::{EveryError, FailurePredicate, Outcome};
pub use permit::Permit;
pub use service::CircuitBreakerService;
pub use state::CircuitState;

use circuit::Circuit;
use outcome::judge;

/// A circuit breaker. Cheap to clone; clones share one circuit.
///
/// The default settings, and why they differ from resilience4j's and Polly's, are on
/// [`BreakerConfig`].
#[derive(Clone, Debug)]
pub struct CircuitBreaker {
    pub(crate) circuit: Arc<Circuit>,
}

impl CircuitBreaker {
    /// A breaker named `name` (the `name` label of its metrics) to configure and
    /// [`build`](CircuitBreakerBuilder::build).
    pub fn builder(name: impl Into<Arc<str>>) -> CircuitBreakerBuilder {
        CircuitBreakerBuilder::new(name.into())
    }

    /// A breaker with the default settings (see [`BreakerConfig`]) and the real clock.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        let circuit = Circuit::new(
            name.into(),
            BreakerConfig::default(),
            Arc::new(crate::resilience::clock::MonotonicClock::new()),
        );
        Self { circuit: Arc::new(circuit) }
    }

    /// The breaker's name.
    pub fn name(&self) -> &str {
        &self.circuit.name
    }

    /// Its settings.
    pub fn config(&self) -> &BreakerConfig {
        &self.circuit.config
    }

    /// Where the circuit is now. An `Open` circuit whose break has elapsed reads `Open` until
    /// the next call turns it half-open.
    pub fn state(&self) -> CircuitState {
        self.circuit.state()
    }

    /// Leave for one call, or why not. Record the call's outcome on the permit.
    pub fn try_acquire(&self) -> Result<Permit<'_>, Rejected> {
        self.circuit.acquire().map(|ticket| Permit::new(&self.circuit, ticket))
    }

    /// Runs `call` if the circuit lets it through; every `Err` counts as a failure.
    pub async fn call<T, E, F, Fut>(&self, call: F) -> Result<T, BreakerError<E>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.call_with(&EveryError, call).await
    }

    /// Runs `call` if the circuit lets it through; an `Err` counts as a failure only if
    /// `predicate` says so (otherwise as a success: the dependency answered).
    pub async fn call_with<T, E, P, F, Fut>(&self, predicate: &P, call: F) -> Result<T, BreakerError<E>>
    where
        P: FailurePredicate<E>,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let permit = self.try_acquire()?;
        let result = call().await;
        permit.record(judge(&result, predicate));
        result.map_err(BreakerError::Inner)
    }

    /// Forces the circuit open until [`reset`](Self::reset): every call is rejected, no probes.
    pub fn isolate(&self) {
        self.circuit.change(None, CircuitState::Isolated, "isolated by request");
    }

    /// Closes the circuit with an empty window and forgets past trips (the next break starts
    /// from the initial duration).
    pub fn reset(&self) {
        self.circuit.change(None, CircuitState::Closed, "reset by request");
    }
}
