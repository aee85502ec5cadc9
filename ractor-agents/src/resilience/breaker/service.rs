//! The breaker as a `tower::Service`.

use std::task::{Context, Poll};

use tower::Service;

use super::CircuitBreaker;
use super::future::ResponseFuture;
use super::outcome::FailurePredicate;
use super::permit::OwnedPermit;

/// A service whose calls pass through a circuit breaker. Made by [`CircuitBreakerLayer`](super::CircuitBreakerLayer).
#[derive(Clone, Debug)]
pub struct CircuitBreakerService<S, P> {
    inner: S,
    breaker: CircuitBreaker,
    predicate: P,
}

impl<S, P> CircuitBreakerService<S, P> {
    /// `inner` behind `breaker`, judging its errors with `predicate`.
    pub fn new(inner: S, breaker: CircuitBreaker, predicate: P) -> Self {
        Self { inner, breaker, predicate }
    }

    /// The breaker.
    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }
}

impl<S, P, Request> Service<Request> for CircuitBreakerService<S, P>
where
    S: Service<Request>,
    P: FailurePredicate<S::Error> + Clone,
{
    type Response = S::Response;
    type Error = super::BreakerError<S::Error>;
    type Future = ResponseFuture<S::Future, P>;

    /// Readiness is the inner service's only. Invariant: `poll_ready` never asks the breaker for
    /// a permit. A half-open circuit has a handful of probe slots; a permit taken here would be
    /// held by a caller that may poll for readiness and never call (load balancers do), leaving
    /// the circuit half-open with no probe running. The permit is taken in `call`, and an open
    /// circuit answers there with `BreakerError::Open` (an `Err` from `poll_ready` would tell
    /// tower the service is dead for good).
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(super::BreakerError::Inner)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match self.breaker.circuit.acquire() {
            Ok(ticket) => ResponseFuture::admitted(
                self.inner.call(request),
                OwnedPermit::new(self.breaker.circuit.clone(), ticket),
                self.predicate.clone(),
            ),
            Err(rejected) => ResponseFuture::rejected(rejected, self.predicate.clone()),
        }
    }
}
