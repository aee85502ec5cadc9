//! Stacking a breaker in a `tower` service.

use tower::Layer;

use super::CircuitBreaker;
use super::outcome::EveryError;
use super::service::CircuitBreakerService;

/// Wraps services in a [`CircuitBreakerService`] sharing one breaker.
///
/// ```
/// use ractor_agents::resilience::breaker::{CircuitBreaker, CircuitBreakerLayer};
/// use tower::{Layer, Service, ServiceExt, service_fn};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let breaker = CircuitBreaker::new("search");
/// let mut service = CircuitBreakerLayer::new(breaker)
///     // 4xx: the dependency answered; only 5xx count as failures.
///     .failure_if(|status: &u16| *status >= 500)
///     .layer(service_fn(|query: &'static str| async move { if query.is_empty() { Err(400u16) } else { Ok(query.len()) } }));
/// let answer = service.ready().await.expect("service_fn is always ready").call("agents").await;
/// assert_eq!(answer.ok(), Some(6));
/// # }
/// ```
#[derive(Clone, Debug)]
pub struct CircuitBreakerLayer<P = EveryError> {
    breaker: CircuitBreaker,
    predicate: P,
}

impl CircuitBreakerLayer {
    /// Every error of the inner service counts as a failure.
    pub fn new(breaker: CircuitBreaker) -> Self {
        Self { breaker, predicate: EveryError }
    }
}

impl<P> CircuitBreakerLayer<P> {
    /// Counts an inner error as a failure only when `predicate` says so.
    pub fn failure_if<Q>(self, predicate: Q) -> CircuitBreakerLayer<Q> {
        CircuitBreakerLayer { breaker: self.breaker, predicate }
    }
}

impl<S, P: Clone> Layer<S> for CircuitBreakerLayer<P> {
    type Service = CircuitBreakerService<S, P>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreakerService::new(inner, self.breaker.clone(), self.predicate.clone())
    }
}
