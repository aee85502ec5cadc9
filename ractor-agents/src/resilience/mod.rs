//! Resilience policies: what keeps an agent up when the things it calls fail.
//!
//! * [`breaker`]: a circuit breaker, so a failing dependency is left alone until it recovers
//!   instead of being hammered (and making every caller wait for its errors).
//! * [`degradation`]: a controller that sheds optional work when health signals (breakers,
//!   error rates, queue depth) say the service is struggling, and restores it when they recover.
//! * [`stale_cache`]: reads that answer from a cache, flagged stale and within a bound, when
//!   the store is down.
//! * [`clock`]: the injectable time source the policies read, so tests advance time by hand.
//!
//! The call policies:
//!
//! | policy | protects against | gives up with |
//! |---|---|---|
//! | [`Retry`] | transient failures | the last error |
//! | [`Timeout`] | calls that hang | [`Elapsed`] |
//! | [`Bulkhead`] | one dependency taking every task | [`BulkheadRejected`] |
//! | [`RateLimiter`] | outrunning a quota | [`RateLimited`] |
//! | [`Fallback`] | a dependency being down | [`FallbackError`] listing every step |
//! | [`breaker::CircuitBreaker`] | calling a dependency that is failing | [`breaker::BreakerError::Open`] with when to retry |
//!
//! Each is a plain async wrapper around a future (or a closure making one, for the policies
//! that call more than once) and a `tower` [`Layer`](tower::Layer), so it stacks with the
//! reqwest/hyper/tonic clients a service already has. The call policies read tokio's clock (tests
//! pause it), the breaker and the degradation controller read [`clock`];
//! the retry's jitter comes from a seedable generator and the rate limiter's clock can be
//! injected, so every policy is deterministic under test.
//!
//! Order matters when they compose. The usual stack, outermost first: rate limit (pace what
//! leaves the process), bulkhead (bound what is in flight, retries included), retry, timeout
//! (each attempt gets its own deadline):
//!
//! ```
//! use ractor_agents::resilience::{Bulkhead, Elapsed, Retry, Timeout, BulkheadRejected};
//! use std::time::Duration;
//!
//! #[derive(Debug, thiserror::Error)]
//! enum CallError {
//!     #[error(transparent)]
//!     TimedOut(#[from] Elapsed),
//!     #[error(transparent)]
//!     Rejected(#[from] BulkheadRejected),
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let bulkhead = Bulkhead::new("search", 8, 16);
//! let retry = Retry::new("search").max_attempts(3).seed(1);
//! let timeout = Timeout::new("search", Duration::from_millis(200));
//! let answer: Result<u32, CallError> = bulkhead
//!     .run(retry.run_classified(
//!         |e: &CallError| match e {
//!             CallError::TimedOut(_) => ractor_agents::resilience::RetryClass::Retryable,
//!             CallError::Rejected(_) => ractor_agents::resilience::RetryClass::Permanent,
//!         },
//!         || timeout.run(async { Ok(42) }),
//!     ))
//!     .await;
//! assert_eq!(answer.unwrap(), 42);
//! # }
//! ```

//!
//! A circuit breaker around one call:
//!
//! ```
//! use ractor_agents::resilience::breaker::{BreakerError, CircuitBreaker};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let breaker = CircuitBreaker::new("weather-api");
//! let forecast: Result<&str, BreakerError<std::io::Error>> = breaker.call(|| async { Ok("sunny") }).await;
//! match forecast {
//!     Ok(answer) => println!("{answer}"),
//!     Err(BreakerError::Open(rejected)) => println!("not calling a failing service: {rejected}"),
//!     Err(BreakerError::Inner(error)) => println!("the service failed: {error}"),
//! }
//! # }
//! ```

pub mod breaker;
pub mod bulkhead;
pub mod clock;
pub mod degradation;
pub mod fallback;
pub mod rate_limit;
pub mod retry;
pub mod stale_cache;
pub mod timeout;

pub use bulkhead::{Bulkhead, BulkheadLayer, BulkheadPermit, BulkheadRejected, BulkheadService};
pub use fallback::{Fallback, FallbackError, FallbackLayer, FallbackService, StepFailure};
pub use rate_limit::{RateLimitLayer, RateLimitService, RateLimited, RateLimiter};
pub use retry::{
    ByClassify, Classifier, Classify, FullJitter, Retry, RetryBudget, RetryClass, RetryLayer, RetryService,
};
pub use timeout::{Elapsed, Timeout, TimeoutLayer, TimeoutService};
