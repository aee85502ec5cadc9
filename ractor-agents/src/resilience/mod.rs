//! Resilience policies: what keeps an agent up when the things it calls fail.
//!
//! * [`breaker`]: a circuit breaker, so a failing dependency is left alone until it recovers
//!   instead of being hammered (and making every caller wait for its errors).
//! * [`stale_cache`]: reads that answer from a cache, flagged stale and within a bound, when
//!   the store is down.
//! * [`clock`]: the injectable time source the policies read, so tests advance time by hand.
//!
//! Each policy is usable as a plain async wrapper around a closure that returns a future, and as
//! a `tower` 0.5 `Layer` that stacks with the clients you already have.
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
pub mod clock;
pub mod stale_cache;
