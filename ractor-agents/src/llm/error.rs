//! How a call to a model fails, and whether trying again can help.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::resilience::breaker::Rejected;
use crate::resilience::{Classify, RetryClass};

/// Why a call to a model failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LlmError {
    /// The provider is over its quota for us (HTTP 429): wait `retry_after` (when it said) and
    /// try again, or use another provider.
    #[error("rate limited by the provider{}; slow down or use another provider", match retry_after {
        Some(d) => format!(", retry after {d:?}"),
        None => String::new(),
    })]
    RateLimited {
        /// How long the provider asked us to wait (its `Retry-After`).
        retry_after: Option<Duration>,
    },
    /// The provider failed (HTTP 5xx): usually transient, retry with backoff.
    #[error("provider failed with HTTP {status}; retry later or use another provider")]
    Server {
        /// The HTTP status.
        status: u16,
    },
    /// No answer arrived within the deadline: retry, perhaps with a longer deadline.
    #[error("the provider did not answer within the deadline; retry or raise the timeout")]
    Timeout,
    /// The answer could not be understood: a provider bug or an incompatible endpoint.
    #[error("malformed answer from the provider ({detail}); check the endpoint is OpenAI-compatible")]
    Malformed {
        /// What was wrong with it.
        detail: String,
    },
    /// The answer broke off midway: the connection was cut, or the provider reported an error
    /// in the middle of a stream. Usually transient: retry.
    #[error("the answer broke off midway ({detail}); retry or use another provider")]
    Interrupted {
        /// What happened.
        detail: String,
    },
    /// The provider could not be reached (connection refused, DNS, TLS).
    #[error("provider unavailable ({detail}); check its address or use another provider")]
    Unavailable {
        /// What went wrong.
        detail: String,
    },
    /// The provider rejected the request itself (HTTP 400/401/403/404): fix the request, model
    /// name or API key; retrying cannot help.
    #[error("request rejected by the provider ({detail}); fix the request, model or API key")]
    InvalidRequest {
        /// The provider's explanation.
        detail: String,
    },
    /// Every provider of a [`FallbackProvider`](super::FallbackProvider) failed.
    #[error("every provider failed: {}", Failures(failures))]
    Exhausted {
        /// Each provider's failure, in chain order.
        failures: Vec<ProviderFailure>,
    },
}

impl LlmError {
    /// A short, fixed name for this kind of error (the `outcome` label of the metrics).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::RateLimited { .. } => "rate_limited",
            Self::Server { .. } => "server_error",
            Self::Timeout => "timeout",
            Self::Malformed { .. } => "malformed",
            Self::Interrupted { .. } => "interrupted",
            Self::Unavailable { .. } => "unavailable",
            Self::InvalidRequest { .. } => "invalid_request",
            Self::Exhausted { .. } => "exhausted",
        }
    }

    /// Whether the error says the provider is unhealthy (so it counts against its circuit
    /// breaker). An invalid request is the caller's fault, not the provider's.
    pub fn is_provider_failure(&self) -> bool {
        !matches!(self, Self::InvalidRequest { .. })
    }
}

impl Classify for LlmError {
    fn retry_class(&self) -> RetryClass {
        match self {
            Self::RateLimited { retry_after: Some(after) } => RetryClass::RetryAfter(*after),
            Self::RateLimited { retry_after: None }
            | Self::Server { .. }
            | Self::Timeout
            | Self::Interrupted { .. }
            | Self::Unavailable { .. } => RetryClass::Retryable,
            Self::Malformed { .. } | Self::InvalidRequest { .. } => RetryClass::Permanent,
            // A chain that failed only on permanent errors fails the same way next time.
            Self::Exhausted { failures } => {
                let all_permanent = failures.iter().all(|f| match &f.reason {
                    FailureReason::Failed(e) => e.retry_class() == RetryClass::Permanent,
                    FailureReason::BreakerOpen(_) | FailureReason::OutOfBudget => false,
                });
                if all_permanent && !failures.is_empty() { RetryClass::Permanent } else { RetryClass::Retryable }
            }
        }
    }
}

/// How one provider of a fallback chain failed.
#[derive(Debug, Clone, PartialEq)]
pub struct ProviderFailure {
    /// The provider's name.
    pub provider: Arc<str>,
    /// What happened.
    pub reason: FailureReason,
}

/// Why a provider of a fallback chain gave no answer.
#[derive(Debug, Clone, PartialEq)]
pub enum FailureReason {
    /// It was called (perhaps several times, by its retry) and failed with this last error.
    Failed(LlmError),
    /// Its circuit breaker was open: it was skipped without a call.
    BreakerOpen(Rejected),
    /// The chain's time budget ran out before or while it was tried.
    OutOfBudget,
}

impl fmt::Display for ProviderFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            FailureReason::Failed(e) => write!(f, "{}: {e}", self.provider),
            FailureReason::BreakerOpen(r) => write!(f, "{}: skipped, {r}", self.provider),
            FailureReason::OutOfBudget => write!(f, "{}: the time budget ran out", self.provider),
        }
    }
}

struct Failures<'a>(&'a [ProviderFailure]);

impl fmt::Display for Failures<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, failure) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{failure}")?;
        }
        Ok(())
    }
}
