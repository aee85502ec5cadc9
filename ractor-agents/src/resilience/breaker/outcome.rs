//! How a finished call is judged.

/// What a call's result means to the breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// The dependency answered (slow if it took at least the slow-call duration).
    Success,
    /// The dependency failed.
    Failure,
    /// Says nothing about the dependency (a cancelled call, a caller's own mistake): not
    /// recorded in the window; a half-open probe that ends so is given back.
    Ignored,
}

/// Decides which errors count as failures of the dependency. An error that does not (a 404 for
/// a missing document, a validation error) counts as a success: the dependency answered.
///
/// Any `Fn(&E) -> bool` is one:
///
/// ```
/// use ractor_agents::resilience::breaker::FailurePredicate;
/// let only_server_errors = |status: &u16| *status >= 500;
/// assert!(only_server_errors.is_failure(&503));
/// assert!(!only_server_errors.is_failure(&404));
/// ```
pub trait FailurePredicate<E> {
    /// Whether `error` counts as a failure.
    fn is_failure(&self, error: &E) -> bool;
}

impl<E, F: Fn(&E) -> bool> FailurePredicate<E> for F {
    fn is_failure(&self, error: &E) -> bool {
        self(error)
    }
}

/// The default predicate: every error is a failure.
#[derive(Clone, Copy, Debug, Default)]
pub struct EveryError;

impl<E> FailurePredicate<E> for EveryError {
    fn is_failure(&self, _: &E) -> bool {
        true
    }
}

/// The outcome of a result under `predicate`.
pub(crate) fn judge<T, E, P: FailurePredicate<E>>(result: &Result<T, E>, predicate: &P) -> Outcome {
    match result {
        Ok(_) => Outcome::Success,
        Err(e) if predicate.is_failure(e) => Outcome::Failure,
        Err(_) => Outcome::Success,
    }
}
