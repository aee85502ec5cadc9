//! An ordered chain of providers, each behind its own circuit breaker and retry.

use std::sync::Arc;
use std::time::Duration;

use super::error::{FailureReason, ProviderFailure};
use super::types::{ChatRequest, ChatResponse};
use super::{ChunkReceiver, LlmError, LlmProvider};
use crate::resilience::breaker::{BreakerError, CircuitBreaker};
use crate::resilience::{Classify, Retry, RetryClass};

/// One provider of a chain with the policies that guard it.
#[derive(Debug)]
struct Link {
    provider: Arc<dyn LlmProvider>,
    breaker: CircuitBreaker,
    retry: Retry,
}

/// Tries its providers in order until one answers, within an overall time budget.
///
/// Each provider is called through its own [`Retry`] (which honours `Retry-After`) around its own
/// [`CircuitBreaker`] (each attempt is judged by it; an invalid request does not count against
/// it). A provider whose breaker is open is skipped without a call and without waiting. When the
/// budget runs out, the provider being tried is abandoned and the rest are not tried. The answer's
/// [`provider`](ChatResponse::provider) says who answered; [`LlmError::Exhausted`] lists every
/// provider's failure.
#[derive(Debug)]
pub struct FallbackProvider {
    name: Arc<str>,
    links: Vec<Link>,
    budget: Duration,
}

impl FallbackProvider {
    /// An empty chain named `name` whose calls may take at most `budget` in all.
    pub fn new(name: &str, budget: Duration) -> Self {
        Self { name: name.into(), links: Vec::new(), budget }
    }

    /// Appends `provider`, guarded by `breaker` and `retry` (give each provider its own).
    pub fn then(mut self, provider: impl LlmProvider + 'static, breaker: CircuitBreaker, retry: Retry) -> Self {
        self.links.push(Link { provider: Arc::new(provider), breaker, retry });
        self
    }

    /// The breaker guarding the provider named `provider`, if it is in the chain.
    pub fn breaker(&self, provider: &str) -> Option<&CircuitBreaker> {
        self.links.iter().find(|l| l.provider.name() == provider).map(|l| &l.breaker)
    }

    /// Calls one link through its retry and breaker.
    async fn try_link<T, F, Fut>(link: &Link, call: F) -> Result<T, FailureReason>
    where
        F: Fn(Arc<dyn LlmProvider>) -> Fut,
        Fut: Future<Output = Result<T, LlmError>>,
    {
        let classify = |e: &BreakerError<LlmError>| match e {
            // Open: move on to the next provider now rather than wait out the break.
            BreakerError::Open(_) => RetryClass::Permanent,
            BreakerError::Inner(e) => e.retry_class(),
        };
        let predicate = |e: &LlmError| e.is_provider_failure();
        let result = link
            .retry
            .run_classified(classify, || link.breaker.call_with(&predicate, || call(link.provider.clone())))
            .await;
        result.map_err(|e| match e {
            BreakerError::Open(rejected) => FailureReason::BreakerOpen(rejected),
            BreakerError::Inner(e) => FailureReason::Failed(e),
        })
    }

    /// Runs `call` against each link in turn until one succeeds or the budget is spent.
    async fn run<T, F, Fut>(&self, call: F) -> Result<T, LlmError>
    where
        F: Fn(Arc<dyn LlmProvider>) -> Fut,
        Fut: Future<Output = Result<T, LlmError>>,
    {
        let deadline = tokio::time::Instant::now() + self.budget;
        let mut failures = Vec::new();
        for link in &self.links {
            // `timeout_at` polls its future once even past the deadline: check first, so a spent
            // budget never starts another call.
            let reason = if tokio::time::Instant::now() >= deadline {
                FailureReason::OutOfBudget
            } else {
                match tokio::time::timeout_at(deadline, Self::try_link(link, &call)).await {
                    Ok(Ok(value)) => return Ok(value),
                    Ok(Err(reason)) => reason,
                    Err(_) => FailureReason::OutOfBudget,
                }
            };
            let provider: Arc<str> = link.provider.name().into();
            match &reason {
                // A refusal of the request itself (bad key, unknown model) or an answer that is
                // not a completion is a misconfiguration: the next provider may hide it for good.
                FailureReason::Failed(e) if e.retry_class() == RetryClass::Permanent => {
                    tracing::warn!(chain = %self.name, provider = %provider, error = %e, "fallback: provider refused or misunderstood the request; check its configuration");
                }
                _ => {
                    tracing::debug!(chain = %self.name, provider = %provider, ?reason, "fallback: provider failed, moving on")
                }
            }
            failures.push(ProviderFailure { provider, reason });
        }
        Err(LlmError::Exhausted { failures })
    }
}

#[async_trait::async_trait]
impl LlmProvider for FallbackProvider {
    fn name(&self) -> &str {
        &self.name
    }

    /// The first provider's model (the one answering while all is well), or `""` for an empty chain.
    fn model(&self) -> &str {
        self.links.first().map_or("", |l| l.provider.model())
    }

    async fn complete(&self, request: ChatRequest) -> Result<ChatResponse, LlmError> {
        self.run(|p| {
            let request = request.clone();
            async move { p.complete(request).await }
        })
        .await
    }

    /// Falls back while opening the stream; once a provider's stream is open, its chunks (and
    /// any error in them) are the caller's.
    async fn stream(&self, request: ChatRequest) -> Result<ChunkReceiver, LlmError> {
        self.run(|p| {
            let request = request.clone();
            async move { p.stream(request).await }
        })
        .await
    }
}
