//! Where an OpenAI-compatible endpoint is and how to reach it, from code or environment variables.

use std::time::Duration;

/// The environment variable naming the endpoint's base URL (e.g. `https://api.openai.com/v1`).
/// When it is unset, [`OpenAiConfig::from_env`] returns `None` and callers run offline.
pub const ENV_BASE_URL: &str = "RACTOR_AGENTS_LLM_BASE_URL";
/// The environment variable naming the model (required when [`ENV_BASE_URL`] is set).
pub const ENV_MODEL: &str = "RACTOR_AGENTS_LLM_MODEL";
/// The environment variable holding the API key (optional: local servers need none).
pub const ENV_API_KEY: &str = "RACTOR_AGENTS_LLM_API_KEY";
/// The environment variable giving the whole-call timeout in seconds (optional, default 60).
pub const ENV_TIMEOUT_SECS: &str = "RACTOR_AGENTS_LLM_TIMEOUT_SECS";
/// The environment variable naming the provider in metrics and answers (optional, default: the
/// URL's host and port).
pub const ENV_NAME: &str = "RACTOR_AGENTS_LLM_NAME";

/// Why an endpoint configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LlmConfigError {
    /// The base URL does not parse, or is not `http`/`https`.
    #[error(
        "invalid LLM base URL `{url}` ({reason}); give one like https://api.openai.com/v1 or http://localhost:11434/v1"
    )]
    InvalidUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A base URL was given without a model.
    #[error("an LLM endpoint needs a model: set {ENV_MODEL} (e.g. gpt-4o-mini, llama3.2)")]
    MissingModel,
    /// The timeout is not a positive number of seconds.
    #[error("invalid LLM timeout `{value}`: give a positive number of seconds in {ENV_TIMEOUT_SECS}")]
    InvalidTimeout {
        /// The value given.
        value: String,
    },
    /// An API key or extra header cannot be sent in an HTTP header.
    #[error("invalid header `{name}` for the LLM endpoint: {reason}")]
    InvalidHeader {
        /// The header's name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The HTTP client could not be built (for instance, TLS roots could not be loaded).
    #[error("could not build the LLM HTTP client: {detail}")]
    Client {
        /// What went wrong.
        detail: String,
    },
    /// An endpoint is configured but this build has no HTTP client.
    #[error(
        "{ENV_BASE_URL} is set but ractor-agents was built without its HTTP client: enable the `llm-http` feature (cargo run --features llm-http ...) or unset it to run offline"
    )]
    HttpFeatureOff,
}

/// How to reach an OpenAI-compatible chat-completions endpoint: OpenAI, vLLM, Ollama, LM Studio,
/// Groq, Together, Mistral and others that speak `POST {base_url}/chat/completions`.
///
/// ```
/// use std::time::Duration;
/// use ractor_agents::llm::OpenAiConfig;
///
/// let config = OpenAiConfig::new("http://localhost:11434/v1", "llama3.2")
///     .unwrap()
///     .timeout(Duration::from_secs(30));
/// assert_eq!(config.endpoint(), "http://localhost:11434/v1/chat/completions");
/// assert_eq!(config.name(), "localhost:11434");
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct OpenAiConfig {
    pub(crate) base_url: String,
    pub(crate) model: String,
    pub(crate) api_key: Option<String>,
    pub(crate) name: String,
    pub(crate) timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) stream_idle_timeout: Duration,
    pub(crate) stream_usage: bool,
    pub(crate) max_completion_tokens: bool,
    pub(crate) headers: Vec<(String, String)>,
}

impl std::fmt::Debug for OpenAiConfig {
    // Never print the API key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiConfig")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("name", &self.name)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("stream_idle_timeout", &self.stream_idle_timeout)
            .field("stream_usage", &self.stream_usage)
            .field("max_completion_tokens", &self.max_completion_tokens)
            .field("headers", &self.headers.iter().map(|(name, _)| name).collect::<Vec<_>>())
            .finish()
    }
}

impl OpenAiConfig {
    /// An endpoint at `base_url` (the part before `/chat/completions`, usually ending in `/v1`)
    /// serving `model`, with no API key, named after the URL's host, a 60 s call timeout, a 10 s
    /// connect timeout and a 30 s limit on the silence between two chunks of a stream.
    pub fn new(base_url: &str, model: &str) -> Result<Self, LlmConfigError> {
        let base_url = base_url.trim().trim_end_matches('/').to_owned();
        let invalid = |reason: &str| LlmConfigError::InvalidUrl { url: base_url.clone(), reason: reason.into() };
        let rest = base_url
            .strip_prefix("http://")
            .or_else(|| base_url.strip_prefix("https://"))
            .ok_or_else(|| invalid("it must start with http:// or https://"))?;
        let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = host.rsplit('@').next().unwrap_or_default();
        if host.is_empty() {
            return Err(invalid("it has no host"));
        }
        if base_url.contains(['?', '#']) {
            return Err(invalid("it must not have a query or fragment"));
        }
        let model = model.trim();
        if model.is_empty() {
            return Err(LlmConfigError::MissingModel);
        }
        Ok(Self {
            name: host.to_owned(),
            base_url,
            model: model.to_owned(),
            api_key: None,
            timeout: Duration::from_secs(60),
            connect_timeout: Duration::from_secs(10),
            stream_idle_timeout: Duration::from_secs(30),
            stream_usage: true,
            max_completion_tokens: false,
            headers: Vec::new(),
        })
    }

    /// Reads the endpoint from the environment: [`ENV_BASE_URL`], [`ENV_MODEL`], and optionally
    /// [`ENV_API_KEY`], [`ENV_TIMEOUT_SECS`] and [`ENV_NAME`]. `Ok(None)` when no base URL is set
    /// (run offline); an error when one is set but the rest is missing or invalid.
    pub fn from_env() -> Result<Option<Self>, LlmConfigError> {
        Self::from_vars(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
    }

    /// [`from_env`](Self::from_env) reading variables through `var` (for tests and other sources).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Option<Self>, LlmConfigError> {
        let Some(base_url) = var(ENV_BASE_URL) else { return Ok(None) };
        let model = var(ENV_MODEL).ok_or(LlmConfigError::MissingModel)?;
        let mut config = Self::new(&base_url, &model)?;
        if let Some(key) = var(ENV_API_KEY) {
            config = config.api_key(key.trim());
        }
        if let Some(name) = var(ENV_NAME) {
            config = config.provider_name(name.trim());
        }
        if let Some(value) = var(ENV_TIMEOUT_SECS) {
            let timeout = value
                .trim()
                .parse::<f64>()
                .ok()
                .filter(|s| *s > 0.0)
                .and_then(|s| Duration::try_from_secs_f64(s).ok())
                .ok_or(LlmConfigError::InvalidTimeout { value })?;
            config = config.timeout(timeout);
        }
        Ok(Some(config))
    }

    /// Sends `key` as `Authorization: Bearer <key>`.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Names the provider (the `provider` label of metrics, [`ChatResponse::provider`](super::ChatResponse::provider)).
    pub fn provider_name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }

    /// The most a whole completion may take, and the most a stream may take to open.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The most connecting (TCP and TLS) may take.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The longest silence allowed between two chunks of a stream before it fails with
    /// [`LlmError::Timeout`](super::LlmError::Timeout).
    pub fn stream_idle_timeout(mut self, timeout: Duration) -> Self {
        self.stream_idle_timeout = timeout;
        self
    }

    /// Whether streams ask for token usage (`stream_options.include_usage`, on by default). A
    /// server that refuses the option (naming it in a 400 or 422) is asked again without it, and
    /// the client stops sending it; streams without usage get an estimate
    /// ([`estimate_tokens`](super::estimate_tokens)).
    pub fn stream_usage(mut self, ask: bool) -> Self {
        self.stream_usage = ask;
        self
    }

    /// Sends [`ChatRequest::max_tokens`](super::ChatRequest::max_tokens) as `max_completion_tokens`
    /// (OpenAI's newer name, the only one its reasoning models accept) instead of `max_tokens`
    /// (which every compatible server knows). Off by default; the client also switches by
    /// itself when a server refuses `max_tokens` and names `max_completion_tokens`.
    pub fn max_completion_tokens(mut self, send: bool) -> Self {
        self.max_completion_tokens = send;
        self
    }

    /// Adds a header sent with every request (an organisation or project id, say).
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The provider's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The model.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The URL completions are posted to.
    pub fn endpoint(&self) -> String {
        format!("{}/chat/completions", self.base_url)
    }
}
