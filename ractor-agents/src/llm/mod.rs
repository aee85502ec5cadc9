//! Language-model providers: one trait for every chat model, an offline simulation of one, and
//! a fallback chain that keeps answering when a provider fails.
//!
//! * [`LlmProvider`]: chat completion ([`complete`](LlmProvider::complete)), streamed completion
//!   ([`stream`](LlmProvider::stream)), the provider's name and model. Answers carry their token
//!   [`Usage`]; failures are a typed [`LlmError`] that knows whether retrying can help
//!   (it implements [`Classify`](crate::resilience::Classify)).
//! * [`SimulatedProvider`]: answers offline, deterministic from a seed, with a configurable
//!   [`Latency`] distribution and error rate. Tests and demos use it.
//! * [`FallbackProvider`]: an ordered chain, each provider behind its own circuit breaker and
//!   retry, moving on within a time budget.
//! * [`Metered`]: records calls, latency, tokens and cost (from a [`PriceTable`]) as metrics
//!   (see `docs/observability/metrics.md`).
//!
//! ```
//! use std::time::Duration;
//! use ractor_agents::llm::{ChatRequest, FallbackProvider, LlmError, LlmProvider, SimulatedProvider};
//! use ractor_agents::resilience::{Retry, breaker::CircuitBreaker};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! // The primary is down (every call fails with HTTP 503); the backup answers.
//! let primary = SimulatedProvider::new("primary", "big-model", 1).error_rate(1.0, vec![LlmError::Server { status: 503 }]);
//! let backup = SimulatedProvider::new("backup", "small-model", 2);
//! let chain = FallbackProvider::new("chat", Duration::from_secs(10))
//!     .then(primary, CircuitBreaker::new("primary"), Retry::new("primary").max_attempts(2).seed(1))
//!     .then(backup, CircuitBreaker::new("backup"), Retry::new("backup").seed(2));
//!
//! let answer = chain.complete(ChatRequest::user("What is OTP?")).await.unwrap();
//! assert_eq!(answer.provider, "backup");
//! assert!(answer.content.ends_with("What is OTP?"));
//! assert!(answer.usage.output_tokens > 0);
//! # }
//! ```

mod config;
mod error;
mod fallback;
#[cfg(feature = "llm-http")]
mod http;
mod metered;
mod simulated;
mod types;

pub use config::{ENV_API_KEY, ENV_BASE_URL, ENV_MODEL, ENV_NAME, ENV_TIMEOUT_SECS, LlmConfigError, OpenAiConfig};
pub use error::{FailureReason, LlmError, ProviderFailure};
pub use fallback::FallbackProvider;
#[cfg(feature = "llm-http")]
pub use http::OpenAiProvider;
pub use metered::{Metered, Price, PriceTable};
pub use simulated::{Latency, SimulatedProvider};
pub use types::{ChatChunk, ChatMessage, ChatRequest, ChatResponse, FinishReason, Role, Usage, estimate_tokens};

/// The chunks of a streamed answer, in order. The sender closes after the chunk carrying
/// [`ChatChunk::finish_reason`], or after an `Err` when the stream broke midway. Dropping the
/// receiver cancels the stream.
pub type ChunkReceiver = tokio::sync::mpsc::Receiver<Result<ChatChunk, LlmError>>;

/// A chat model behind some API. Object-safe: chains hold `Arc<dyn LlmProvider>`.
#[async_trait::async_trait]
pub trait LlmProvider: Send + Sync + std::fmt::Debug {
    /// The provider's name (the `provider` label of the metrics, and
    /// [`ChatResponse::provider`]).
    fn name(&self) -> &str;

    /// The model it uses when a request does not name one.
    fn model(&self) -> &str;

    /// Sends `request` and waits for the whole answer.
    async fn complete(&self, request: ChatRequest) -> Result<ChatResponse, LlmError>;

    /// Sends `request` and returns the answer's chunks as they arrive. An `Err` here means the
    /// stream never opened; a failure midway arrives as an `Err` item.
    async fn stream(&self, request: ChatRequest) -> Result<ChunkReceiver, LlmError>;
}

#[async_trait::async_trait]
impl<P: LlmProvider + ?Sized> LlmProvider for std::sync::Arc<P> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn model(&self) -> &str {
        (**self).model()
    }

    async fn complete(&self, request: ChatRequest) -> Result<ChatResponse, LlmError> {
        (**self).complete(request).await
    }

    async fn stream(&self, request: ChatRequest) -> Result<ChunkReceiver, LlmError> {
        (**self).stream(request).await
    }
}

/// The endpoint configured by environment variables ([`OpenAiConfig::from_env`]: `RACTOR_AGENTS_LLM_BASE_URL`,
/// `RACTOR_AGENTS_LLM_MODEL`, `RACTOR_AGENTS_LLM_API_KEY`, ...) as a provider, or `Ok(None)` when
/// none is configured (run offline, with a [`SimulatedProvider`] say).
///
/// Without the `llm-http` feature a configured endpoint is an error
/// ([`LlmConfigError::HttpFeatureOff`]) rather than silently ignored.
///
/// ```
/// # fn main() -> Result<(), ractor_agents::llm::LlmConfigError> {
/// use std::sync::Arc;
/// use ractor_agents::llm::{LlmProvider, SimulatedProvider, provider_from_env};
///
/// let provider: Arc<dyn LlmProvider> = match provider_from_env()? {
///     Some(real) => real,
///     None => Arc::new(SimulatedProvider::new("simulated", "sim-1", 7)),
/// };
/// println!("answering with {} ({})", provider.name(), provider.model());
/// # Ok(()) }
/// ```
pub fn provider_from_env() -> Result<Option<std::sync::Arc<dyn LlmProvider>>, LlmConfigError> {
    let Some(config) = OpenAiConfig::from_env()? else { return Ok(None) };
    #[cfg(feature = "llm-http")]
    {
        Ok(Some(std::sync::Arc::new(OpenAiProvider::new(config)?)))
    }
    #[cfg(not(feature = "llm-http"))]
    {
        drop(config);
        Err(LlmConfigError::HttpFeatureOff)
    }
}
