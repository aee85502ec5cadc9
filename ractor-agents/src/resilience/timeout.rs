//! Timeout: a deadline per call; at the deadline the call's future is dropped (cancelled).
//!
//! ```
//! use ractor_agents::resilience::{Elapsed, Timeout};
//! use std::time::Duration;
//!
//! #[derive(Debug, thiserror::Error)]
//! enum LookupError {
//!     #[error(transparent)]
//!     TimedOut(#[from] Elapsed),
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let timeout = Timeout::new("lookup", Duration::from_millis(50));
//! let slow = async {
//!     tokio::time::sleep(Duration::from_secs(1)).await;
//!     Ok::<_, LookupError>(1)
//! };
//! assert!(matches!(timeout.run(slow).await, Err(LookupError::TimedOut(_))));
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tower::{BoxError, Layer, Service};

use crate::telemetry::metrics::resilience_names;

/// A call did not finish within its timeout and was cancelled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{policy}` did not finish within {after:?} and was cancelled; \
     retry later, raise the timeout, or find why the dependency is slow"
)]
pub struct Elapsed {
    /// The timeout policy's name.
    pub policy: &'static str,
    /// The deadline the call missed.
    pub after: Duration,
}

/// A per-call deadline. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Timeout {
    name: &'static str,
    after: Duration,
    timeouts: metrics::Counter,
}

impl Timeout {
    /// A timeout named `name` (its metric's `policy` label) of `after` per call.
    pub fn new(name: &'static str, after: Duration) -> Self {
        Self { name, after, timeouts: metrics::counter!(resilience_names::TIMEOUTS, "policy" => name) }
    }

    /// The deadline per call.
    pub fn after(&self) -> Duration {
        self.after
    }

    /// Runs `call`, or drops it and returns [`Elapsed`] (through `E: From<Elapsed>`) at the deadline.
    pub async fn run<T, E, F>(&self, call: F) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
        E: From<Elapsed>,
    {
        self.within(call).await?
    }

    /// Runs `call`, or drops it at the deadline; its output is returned as it is.
    pub async fn within<F: Future>(&self, call: F) -> Result<F::Output, Elapsed> {
        // `tokio::time::timeout` owns `call`; returning from here drops it, which cancels it.
        tokio::time::timeout(self.after, call).await.map_err(|_| {
            self.timeouts.increment(1);
            Elapsed { policy: self.name, after: self.after }
        })
    }
}

/// Wraps a service in a [`Timeout`]; its error becomes a [`BoxError`] holding either the
/// service's error or [`Elapsed`].
#[derive(Debug, Clone)]
pub struct TimeoutLayer {
    timeout: Timeout,
}

impl TimeoutLayer {
    /// A layer applying `timeout`.
    pub fn new(timeout: Timeout) -> Self {
        Self { timeout }
    }
}

impl<S> Layer<S> for TimeoutLayer {
    type Service = TimeoutService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TimeoutService { inner, timeout: self.timeout.clone() }
    }
}

/// A service whose calls have a deadline.
#[derive(Debug, Clone)]
pub struct TimeoutService<S> {
    inner: S,
    timeout: Timeout,
}

impl<S, Req> Service<Req> for TimeoutService<S>
where
    S: Service<Req>,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let call = self.inner.call(request);
        let timeout = self.timeout.clone();
        Box::pin(async move {
            match timeout.within(call).await {
                Ok(answer) => answer.map_err(Into::into),
                Err(elapsed) => Err(elapsed.into()),
            }
        })
    }
}
