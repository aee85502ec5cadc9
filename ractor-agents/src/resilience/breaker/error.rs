//! Why a call did not reach the dependency, or how it failed there.

use std::time::Duration;

use super::state::CircuitState;

/// A call the breaker did not let through.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("circuit breaker is {state}: call rejected{}; serve a fallback or try later", match retry_after {
    Some(d) => format!(", probes allowed in {d:?}"),
    None => String::new(),
})]
pub struct Rejected {
    /// The state that rejected it: `Open`, `HalfOpen` (all probes taken) or `Isolated`.
    pub state: CircuitState,
    /// While `Open`: how long until probes are let through. `None` when half-open (wait for the
    /// probes' outcome) or isolated (until someone resets it).
    pub retry_after: Option<Duration>,
}

/// The error of a call through a breaker.
#[derive(Debug, thiserror::Error)]
pub enum BreakerError<E> {
    /// The breaker rejected the call; the dependency was not called.
    #[error(transparent)]
    Open(Rejected),
    /// The dependency was called and failed with this error.
    #[error(transparent)]
    Inner(E),
}

impl<E> BreakerError<E> {
    /// The rejection, if the breaker rejected the call.
    pub fn rejected(&self) -> Option<&Rejected> {
        match self {
            Self::Open(r) => Some(r),
            Self::Inner(_) => None,
        }
    }

    /// The dependency's error, if it was called.
    pub fn into_inner(self) -> Option<E> {
        match self {
            Self::Open(_) => None,
            Self::Inner(e) => Some(e),
        }
    }
}

impl<E> From<Rejected> for BreakerError<E> {
    fn from(rejected: Rejected) -> Self {
        Self::Open(rejected)
    }
}
