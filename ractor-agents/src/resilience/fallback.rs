//! Fallback chain: try steps in order (a primary, then alternatives) until one succeeds; a
//! predicate decides which errors fall through to the next step and which end the chain.
//!
//! ```
//! use ractor_agents::resilience::Fallback;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let answer = Fallback::new("quote")
//!     .step("live", || async { Err::<u32, String>("upstream down".into()) })
//!     .step("cache", || async { Ok(41) })
//!     .run()
//!     .await;
//! assert_eq!(answer.unwrap(), 41);
//! # }
//! ```

use std::fmt;
use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tower::{BoxError, Layer, Service};

use crate::telemetry::metrics::resilience_names;

/// What one step of a fallback chain returned.
#[derive(Debug)]
pub struct StepFailure<E> {
    /// The step's name.
    pub step: &'static str,
    /// Its error.
    pub error: E,
}

/// Every step of a fallback chain that ran failed (or one failed with an error that does not
/// fall through). Lists each step's error, in order.
#[derive(Debug)]
pub struct FallbackError<E> {
    /// The chain's name.
    pub policy: &'static str,
    /// What each step that ran returned, in order.
    pub failures: Vec<StepFailure<E>>,
    /// True when a step's error did not fall through, so later steps did not run.
    pub stopped_early: bool,
}

// By hand rather than with thiserror: the message lists every step, which its format strings cannot.
impl<E: fmt::Display> fmt::Display for FallbackError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "fallback `{}` found no answer:", self.policy)?;
        for failure in &self.failures {
            write!(f, " `{}` failed: {};", failure.step, failure.error)?;
        }
        if self.stopped_early {
            write!(f, " the last error does not fall through, so later steps did not run;")?;
        }
        write!(f, " fix the first step's dependency or end the chain with a step that cannot fail (a cache, a default)")
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for FallbackError<E> {}

type BoxedStep<'a, T, E> = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = Result<T, E>> + Send + 'a>> + Send + 'a>;

/// A fallback chain for one call, built step by step and consumed by [`run`](Fallback::run).
pub struct Fallback<'a, T, E> {
    name: &'static str,
    steps: Vec<(&'static str, BoxedStep<'a, T, E>)>,
    falls_through: Box<dyn Fn(&E) -> bool + Send + Sync + 'a>,
}

impl<T, E> fmt::Debug for Fallback<'_, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let steps: Vec<&str> = self.steps.iter().map(|(name, _)| *name).collect();
        f.debug_struct("Fallback").field("name", &self.name).field("steps", &steps).finish_non_exhaustive()
    }
}

impl<'a, T, E> Fallback<'a, T, E> {
    /// An empty chain named `name` (its metric's `policy` label) where every error falls through.
    pub fn new(name: &'static str) -> Self {
        Self { name, steps: Vec::new(), falls_through: Box::new(|_| true) }
    }

    /// Adds a step, tried after the ones before it have failed.
    pub fn step<F, Fut>(mut self, name: &'static str, step: F) -> Self
    where
        F: FnOnce() -> Fut + Send + 'a,
        Fut: Future<Output = Result<T, E>> + Send + 'a,
    {
        self.steps.push((name, Box::new(move || Box::pin(step()))));
        self
    }

    /// Only errors for which `predicate` is true move on to the next step; others end the chain.
    pub fn falls_through_when(mut self, predicate: impl Fn(&E) -> bool + Send + Sync + 'a) -> Self {
        self.falls_through = Box::new(predicate);
        self
    }

    /// Runs the steps in order; the first success is the answer.
    pub async fn run(self) -> Result<T, FallbackError<E>> {
        let mut failures = Vec::new();
        for (index, (step, call)) in self.steps.into_iter().enumerate() {
            if index > 0 {
                metrics::counter!(resilience_names::FALLBACKS, "policy" => self.name, "step" => step).increment(1);
            }
            match call().await {
                Ok(value) => return Ok(value),
                Err(error) => {
                    let stop = !(self.falls_through)(&error);
                    failures.push(StepFailure { step, error });
                    if stop {
                        return Err(FallbackError { policy: self.name, failures, stopped_early: true });
                    }
                }
            }
        }
        Err(FallbackError { policy: self.name, failures, stopped_early: false })
    }
}

/// Wraps a primary service so that its calls fall back to `secondary` (with a clone of the
/// request) when they fail with an error the predicate lets through. Errors are [`BoxError`];
/// when both fail it is a [`FallbackError<BoxError>`] naming `primary` and `secondary`.
#[derive(Clone)]
pub struct FallbackLayer<F> {
    name: &'static str,
    secondary: F,
    falls_through: Arc<dyn Fn(&BoxError) -> bool + Send + Sync>,
}

impl<F: fmt::Debug> fmt::Debug for FallbackLayer<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackLayer").field("name", &self.name).field("secondary", &self.secondary).finish()
    }
}

impl<F> FallbackLayer<F> {
    /// Falls back to `secondary` on every error of the primary.
    pub fn new(name: &'static str, secondary: F) -> Self {
        Self { name, secondary, falls_through: Arc::new(|_| true) }
    }

    /// Falls back only on errors for which `predicate` is true.
    pub fn falls_through_when(mut self, predicate: impl Fn(&BoxError) -> bool + Send + Sync + 'static) -> Self {
        self.falls_through = Arc::new(predicate);
        self
    }
}

impl<S, F: Clone> Layer<S> for FallbackLayer<F> {
    type Service = FallbackService<S, F>;

    fn layer(&self, primary: S) -> Self::Service {
        FallbackService {
            name: self.name,
            primary,
            secondary: self.secondary.clone(),
            falls_through: self.falls_through.clone(),
        }
    }
}

/// A primary service with a fallback.
#[derive(Clone)]
pub struct FallbackService<S, F> {
    name: &'static str,
    primary: S,
    secondary: F,
    falls_through: Arc<dyn Fn(&BoxError) -> bool + Send + Sync>,
}

impl<S: fmt::Debug, F: fmt::Debug> fmt::Debug for FallbackService<S, F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackService")
            .field("name", &self.name)
            .field("primary", &self.primary)
            .field("secondary", &self.secondary)
            .finish()
    }
}

impl<S, F, Req> Service<Req> for FallbackService<S, F>
where
    S: Service<Req>,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    F: Service<Req, Response = S::Response> + Clone + Send + 'static,
    F::Future: Send,
    F::Error: Into<BoxError>,
    Req: Clone + Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    /// Ready when the primary is; the secondary is driven to readiness only when needed.
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.primary.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let primary = self.primary.call(request.clone());
        let mut secondary = self.secondary.clone();
        let falls_through = self.falls_through.clone();
        let name = self.name;
        Box::pin(async move {
            let first: BoxError = match primary.await {
                Ok(answer) => return Ok(answer),
                Err(error) => error.into(),
            };
            let mut failures = vec![StepFailure { step: "primary", error: first }];
            if !falls_through(&failures[0].error) {
                return Err(FallbackError { policy: name, failures, stopped_early: true }.into());
            }
            metrics::counter!(resilience_names::FALLBACKS, "policy" => name, "step" => "secondary").increment(1);
            let ready: Result<(), BoxError> = poll_fn(|cx| secondary.poll_ready(cx)).await.map_err(Into::into);
            let second = match ready {
                Ok(()) => secondary.call(request).await.map_err(Into::into),
                Err(error) => Err(error),
            };
            match second {
                Ok(answer) => Ok(answer),
                Err(error) => {
                    failures.push(StepFailure { step: "secondary", error });
                    Err(FallbackError { policy: name, failures, stopped_early: false }.into())
                }
            }
        })
    }
}
