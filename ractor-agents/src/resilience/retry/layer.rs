//! [`Retry`] as a tower layer.

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::task::{Context, Poll};

use tower::{Layer, Service};

use super::{Classify, Retry, RetryClass};

/// How a [`RetryService`] classifies its inner service's errors.
pub trait Classifier<E> {
    /// The class of `error`.
    fn classify(&self, error: &E) -> RetryClass;
}

/// Classifies with the error's own [`Classify`] implementation (the default).
#[derive(Debug, Clone, Copy, Default)]
pub struct ByClassify;

impl<E: Classify> Classifier<E> for ByClassify {
    fn classify(&self, error: &E) -> RetryClass {
        error.retry_class()
    }
}

impl<E, F: Fn(&E) -> RetryClass> Classifier<E> for F {
    fn classify(&self, error: &E) -> RetryClass {
        self(error)
    }
}

/// Wraps a service in a [`Retry`] policy. The request must be `Clone` (each attempt sends a
/// copy) and so must the service (each attempt drives a clone to readiness, then calls it).
#[derive(Debug, Clone)]
pub struct RetryLayer<C = ByClassify> {
    retry: Retry,
    classify: C,
}

impl RetryLayer {
    /// A layer applying `retry`, classifying errors with [`Classify`].
    pub fn new(retry: Retry) -> Self {
        Self { retry, classify: ByClassify }
    }

    /// Classifies errors with `classify` instead.
    pub fn classify_with<C>(self, classify: C) -> RetryLayer<C> {
        RetryLayer { retry: self.retry, classify }
    }
}

impl<S, C: Clone> Layer<S> for RetryLayer<C> {
    type Service = RetryService<S, C>;

    fn layer(&self, inner: S) -> Self::Service {
        RetryService { inner, retry: self.retry.clone(), classify: self.classify.clone() }
    }
}

/// A service whose calls are retried by a [`Retry`] policy.
#[derive(Debug, Clone)]
pub struct RetryService<S, C = ByClassify> {
    inner: S,
    retry: Retry,
    classify: C,
}

impl<S, C, Req> Service<Req> for RetryService<S, C>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Future: Send,
    S::Response: Send,
    S::Error: Send,
    C: Classifier<S::Error> + Clone + Send + Sync + 'static,
    Req: Clone + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    /// Always ready: each attempt waits for its own clone of the inner service to be ready.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let inner = self.inner.clone();
        let retry = self.retry.clone();
        let classify = self.classify.clone();
        // A loop of its own rather than `Retry::run_classified`: that one's closure would borrow
        // the service across awaits, which would require `S: Sync` (most services are not).
        Box::pin(async move {
            let mut attempt = 1;
            loop {
                let mut service = inner.clone();
                let outcome = match poll_fn(|cx| service.poll_ready(cx)).await {
                    Ok(()) => service.call(request.clone()).await,
                    Err(error) => Err(error),
                };
                match outcome {
                    Ok(response) => {
                        retry.record_success();
                        return Ok(response);
                    }
                    Err(error) => match retry.after_failure(attempt, classify.classify(&error)) {
                        Some(delay) => {
                            tokio::time::sleep(delay).await;
                            attempt += 1;
                        }
                        None => return Err(error),
                    },
                }
            }
        })
    }
}
