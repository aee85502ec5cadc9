//! How a retry policy decides whether an error is worth another attempt.

use std::time::Duration;

/// What an error says about trying again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryClass {
    /// A transient failure (a timeout, a reset connection, a 503): try again after a backoff.
    Retryable,
    /// The dependency asked to be left alone for this long (HTTP 429/503 `Retry-After`, a rate
    /// limiter's answer): try again, but not sooner.
    RetryAfter(Duration),
    /// Trying again cannot help (a 400, a bad API key, a parse error): give up at once.
    Permanent,
    /// The work was cancelled (by the caller, a shutdown): never retried, whatever else holds.
    Cancelled,
}

/// Errors that know whether they are worth retrying.
///
/// Implement it on your error type, or pass a closure to
/// [`Retry::run_classified`](super::Retry::run_classified) instead.
pub trait Classify {
    /// Whether (and when) an operation that failed with this error may be tried again.
    fn retry_class(&self) -> RetryClass;
}

impl Classify for super::super::Elapsed {
    /// A deadline that passed may pass in time on the next attempt.
    fn retry_class(&self) -> RetryClass {
        RetryClass::Retryable
    }
}

impl Classify for super::super::BulkheadRejected {
    /// A full bulkhead is momentary local overload: the backoff gives it time to drain.
    fn retry_class(&self) -> RetryClass {
        RetryClass::Retryable
    }
}

impl Classify for super::super::RateLimited {
    /// The limiter says exactly when capacity returns.
    fn retry_class(&self) -> RetryClass {
        RetryClass::RetryAfter(self.retry_after)
    }
}

impl Classify for super::super::breaker::Rejected {
    /// Open: try again when the breaker lets probes through (its `retry_after`). Half-open with
    /// every probe taken: after a backoff, by when the probes may have closed it. Isolated: an
    /// operator shut the dependency off; only a reset reopens it, so retrying cannot help.
    fn retry_class(&self) -> RetryClass {
        use super::super::breaker::CircuitState;
        match (self.state, self.retry_after) {
            (CircuitState::Isolated, _) => RetryClass::Permanent,
            (_, Some(after)) => RetryClass::RetryAfter(after),
            (_, None) => RetryClass::Retryable,
        }
    }
}

/// A breaker inside a retry: a rejection classifies as [`Rejected`](super::super::breaker::Rejected)
/// does, the dependency's own error as it says.
impl<E: Classify> Classify for super::super::breaker::BreakerError<E> {
    fn retry_class(&self) -> RetryClass {
        match self {
            Self::Open(rejected) => rejected.retry_class(),
            Self::Inner(e) => e.retry_class(),
        }
    }
}

/// Type-erased errors, as tower stacks produce them: the policies' own errors (found by
/// downcasting) classify as above; anything else is taken as retryable, so give
/// [`RetryLayer::classify_with`](super::RetryLayer::classify_with) a closure when some of
/// your errors are permanent.
impl Classify for tower::BoxError {
    fn retry_class(&self) -> RetryClass {
        if let Some(e) = self.downcast_ref::<super::super::Elapsed>() {
            e.retry_class()
        } else if let Some(e) = self.downcast_ref::<super::super::BulkheadRejected>() {
            e.retry_class()
        } else if let Some(e) = self.downcast_ref::<super::super::RateLimited>() {
            e.retry_class()
        } else if let Some(e) = self.downcast_ref::<super::super::breaker::Rejected>() {
            e.retry_class()
        } else {
            RetryClass::Retryable
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::resilience::breaker::{BreakerError, CircuitState, Rejected};

    #[test]
    fn breaker_rejections_say_when_to_come_back() {
        let open = Rejected { state: CircuitState::Open, retry_after: Some(Duration::from_secs(3)) };
        assert_eq!(open.retry_class(), RetryClass::RetryAfter(Duration::from_secs(3)));
        let probing = Rejected { state: CircuitState::HalfOpen, retry_after: None };
        assert_eq!(probing.retry_class(), RetryClass::Retryable);
        let isolated = Rejected { state: CircuitState::Isolated, retry_after: None };
        assert_eq!(isolated.retry_class(), RetryClass::Permanent);

        let boxed: tower::BoxError = Box::new(open);
        assert_eq!(boxed.retry_class(), RetryClass::RetryAfter(Duration::from_secs(3)));
        let inner: BreakerError<crate::resilience::Elapsed> =
            BreakerError::Inner(crate::resilience::Elapsed { policy: "t", after: Duration::from_secs(1) });
        assert_eq!(inner.retry_class(), RetryClass::Retryable);
        assert_eq!(BreakerError::<crate::resilience::Elapsed>::Open(isolated).retry_class(), RetryClass::Permanent);
    }
}
