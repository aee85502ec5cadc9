//! The response future of [`CircuitBreakerService`](super::CircuitBreakerService).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;

use super::error::{BreakerError, Rejected};
use super::outcome::{FailurePredicate, judge};
use super::permit::OwnedPermit;

pin_project! {
    /// Resolves to the inner service's response, recording its outcome; or at once to
    /// `BreakerError::Open` when the breaker rejected the call. Dropped before it resolves, the
    /// call counts as ignored (a half-open probe slot is given back).
    #[derive(Debug)]
    pub struct ResponseFuture<F, P> {
        #[pin]
        inner: Option<F>,
        permit: Option<OwnedPermit>,
        rejected: Option<Rejected>,
        predicate: P,
    }
}

impl<F, P> ResponseFuture<F, P> {
    pub(crate) fn admitted(inner: F, permit: OwnedPermit, predicate: P) -> Self {
        Self { inner: Some(inner), permit: Some(permit), rejected: None, predicate }
    }

    pub(crate) fn rejected(rejected: Rejected, predicate: P) -> Self {
        Self { inner: None, permit: None, rejected: Some(rejected), predicate }
    }
}

impl<F, P, T, E> Future for ResponseFuture<F, P>
where
    F: Future<Output = Result<T, E>>,
    P: FailurePredicate<E>,
{
    type Output = Result<T, BreakerError<E>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(inner) = this.inner.as_pin_mut() else {
            return match this.rejected.take() {
                Some(rejected) => Poll::Ready(Err(BreakerError::Open(rejected))),
                None => panic!("ResponseFuture polled after it completed"),
            };
        };
        let result = std::task::ready!(inner.poll(cx));
        if let Some(permit) = this.permit.take() {
            permit.record(judge(&result, this.predicate));
        }
        Poll::Ready(result.map_err(BreakerError::Inner))
    }
}
