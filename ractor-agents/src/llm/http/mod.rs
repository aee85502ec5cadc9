//! The OpenAI-compatible HTTP client (feature `llm-http`).

mod stream;
mod wire;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue};
use reqwest::{Response, StatusCode};

use super::config::{LlmConfigError, OpenAiConfig};
use super::types::{ChatChunk, ChatRequest, ChatResponse, FinishReason, Usage, estimate_tokens};
use super::{ChunkReceiver, LlmError, LlmProvider};

/// A chat model behind an OpenAI-compatible endpoint (`POST {base_url}/chat/completions`):
/// OpenAI, vLLM, Ollama, LM Studio, Groq, Together, Mistral and the like.
///
/// * Completions are bounded by the configured timeout (connect, send, and read the whole answer).
/// * Streams use server-sent events; the stream must open within the timeout, then each chunk
///   must follow the one before within the idle timeout. Dropping the [`ChunkReceiver`] closes
///   the connection (the server sees the client go away) and stops the stream's task.
/// * Failures are typed: 429 → [`LlmError::RateLimited`] with the server's `Retry-After` (or
///   `retry-after-ms`), 5xx → [`LlmError::Server`], 408 and deadlines → [`LlmError::Timeout`],
///   other 4xx → [`LlmError::InvalidRequest`] with the server's message, a body that is not a
///   completion → [`LlmError::Malformed`], a body or stream cut midway →
///   [`LlmError::Interrupted`], no connection → [`LlmError::Unavailable`]. Nothing a server
///   sends makes it panic.
/// * Token usage is the server's; a server that reports none gets an estimate
///   ([`estimate_tokens`]).
///
/// Put it behind a [`CircuitBreaker`](crate::resilience::breaker::CircuitBreaker) and a
/// [`Retry`](crate::resilience::Retry) — a [`FallbackProvider`](super::FallbackProvider) link does
/// both — and wrap it in [`Metered`](super::Metered) for metrics.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use ractor_agents::llm::{ChatRequest, LlmProvider, OpenAiConfig, OpenAiProvider};
///
/// let config = OpenAiConfig::new("https://api.openai.com/v1", "gpt-4o-mini")?
///     .api_key(std::env::var("OPENAI_API_KEY")?);
/// let openai = OpenAiProvider::new(config)?;
/// let answer = openai.complete(ChatRequest::user("Say hello")).await?;
/// println!("{} ({} tokens out)", answer.content, answer.usage.output_tokens);
///
/// let mut chunks = openai.stream(ChatRequest::user("Count to five")).await?;
/// while let Some(chunk) = chunks.recv().await {
///     print!("{}", chunk?.delta);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct OpenAiProvider {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: OpenAiConfig,
    endpoint: reqwest::Url,
    client: reqwest::Client,
    headers: HeaderMap,
    /// Learned from a server that refused `stream_options`: stop sending it.
    omit_stream_options: AtomicBool,
    /// Learned from a server that wants `max_completion_tokens` instead of `max_tokens`.
    max_completion_tokens: AtomicBool,
}

impl OpenAiProvider {
    /// A client for `config`'s endpoint, with its own connection pool.
    pub fn new(config: OpenAiConfig) -> Result<Self, LlmConfigError> {
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .build()
            .map_err(|e| LlmConfigError::Client { detail: describe(&e) })?;
        Self::with_client(config, client)
    }

    /// A client for `config`'s endpoint sharing `client` (its connection pool, proxy and TLS
    /// settings; `config`'s connect timeout is then `client`'s business).
    pub fn with_client(config: OpenAiConfig, client: reqwest::Client) -> Result<Self, LlmConfigError> {
        let endpoint = reqwest::Url::parse(&config.endpoint())
            .map_err(|e| LlmConfigError::InvalidUrl { url: config.base_url.clone(), reason: e.to_string() })?;
        let mut headers = HeaderMap::new();
        let invalid = |name: &str, reason: String| LlmConfigError::InvalidHeader { name: name.to_owned(), reason };
        if let Some(key) = &config.api_key {
            let mut value = HeaderValue::from_str(&format!("Bearer {key}"))
                .map_err(|_| invalid("Authorization", "the API key has characters a header cannot carry".into()))?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        for (name, value) in &config.headers {
            let header = HeaderName::from_bytes(name.as_bytes()).map_err(|e| invalid(name, e.to_string()))?;
            let value = HeaderValue::from_str(value).map_err(|e| invalid(name, e.to_string()))?;
            headers.insert(header, value);
        }
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let max_completion_tokens = AtomicBool::new(config.max_completion_tokens);
        let inner = Inner {
            config,
            endpoint,
            client,
            headers,
            omit_stream_options: AtomicBool::new(false),
            max_completion_tokens,
        };
        Ok(Self { inner: Arc::new(inner) })
    }

    /// Its configuration.
    pub fn config(&self) -> &OpenAiConfig {
        &self.inner.config
    }

    fn body(&self, request: &ChatRequest, stream: bool) -> Result<Vec<u8>, LlmError> {
        let inner = &self.inner;
        let completion_tokens = inner.max_completion_tokens.load(Ordering::Relaxed);
        let body = wire::Request {
            model: request.model.as_deref().unwrap_or(&inner.config.model),
            messages: &request.messages,
            max_tokens: request.max_tokens.filter(|_| !completion_tokens),
            max_completion_tokens: request.max_tokens.filter(|_| completion_tokens),
            temperature: request.temperature,
            stream,
            stream_options: (stream && self.asks_stream_usage()).then_some(wire::StreamOptions { include_usage: true }),
        };
        serde_json::to_vec(&body)
            .map_err(|e| LlmError::InvalidRequest { detail: format!("cannot encode the request: {e}") })
    }

    fn asks_stream_usage(&self) -> bool {
        self.inner.config.stream_usage && !self.inner.omit_stream_options.load(Ordering::Relaxed)
    }

    /// Posts `request` until the server accepts it; returns the successful response, or the
    /// error the server's answer means. A server that refuses a field this client sends
    /// (`stream_options`, or `max_tokens` where it wants `max_completion_tokens`) is asked once
    /// more without it, and the client remembers.
    async fn open(&self, request: &ChatRequest, stream: bool) -> Result<Response, LlmError> {
        let mut adapted = false;
        loop {
            let mut post = self.inner.client.post(self.inner.endpoint.clone()).headers(self.inner.headers.clone());
            if !stream {
                // Covers connecting, sending and reading the whole body.
                post = post.timeout(self.inner.config.timeout);
            }
            let response = post.body(self.body(request, stream)?).send().await.map_err(transport)?;
            if response.status().is_success() {
                return Ok(response);
            }
            let refused_field = matches!(response.status().as_u16(), 400 | 422);
            let error = Self::refusal(response).await;
            match &error {
                LlmError::InvalidRequest { detail }
                    if refused_field && !adapted && self.adapt(request, stream, detail) =>
                {
                    adapted = true;
                }
                _ => return Err(error),
            }
        }
    }

    /// Stops sending what the server's refusal `detail` names; whether anything changed.
    fn adapt(&self, request: &ChatRequest, stream: bool, detail: &str) -> bool {
        let inner = &self.inner;
        if stream && self.asks_stream_usage() && detail.contains("stream_options") {
            inner.omit_stream_options.store(true, Ordering::Relaxed);
            tracing::warn!(provider = %inner.config.name, "the server refuses stream_options: streams go on without it, their usage estimated");
            return true;
        }
        if request.max_tokens.is_some()
            && detail.contains("max_completion_tokens")
            && !inner.max_completion_tokens.swap(true, Ordering::Relaxed)
        {
            tracing::warn!(provider = %inner.config.name, "the server wants max_completion_tokens: sending that instead of max_tokens");
            return true;
        }
        false
    }

    /// Turns a non-success answer into its error, reading (a bounded part of) the body for the
    /// server's explanation.
    async fn refusal(response: Response) -> LlmError {
        let status = response.status();
        let retry_after = retry_after(response.headers(), SystemTime::now());
        let detail = match response.bytes().await {
            Ok(body) => wire::error_detail(&body),
            Err(e) => format!("HTTP {status}, body unreadable: {}", describe(&e)),
        };
        match status {
            StatusCode::TOO_MANY_REQUESTS => LlmError::RateLimited { retry_after },
            StatusCode::REQUEST_TIMEOUT => LlmError::Timeout,
            s if s.is_server_error() => LlmError::Server { status: s.as_u16() },
            s => LlmError::InvalidRequest { detail: format!("HTTP {}: {detail}", s.as_u16()) },
        }
    }

    /// A whole completion from its body.
    fn completion(&self, request: &ChatRequest, body: &[u8]) -> Result<ChatResponse, LlmError> {
        let malformed = |detail: String| LlmError::Malformed { detail };
        let completion: wire::Completion = serde_json::from_slice(body).map_err(|e| {
            malformed(format!(
                "not a chat completion: {e}; body starts `{}`",
                wire::cut(&String::from_utf8_lossy(body), 80)
            ))
        })?;
        if let Some(error) = &completion.error {
            let detail = wire::message_of(error).unwrap_or_else(|| error.to_string());
            return Err(LlmError::Interrupted { detail: format!("the provider reported: {detail}") });
        }
        let choice =
            completion.choices.into_iter().next().ok_or_else(|| malformed("the completion has no choices".into()))?;
        let message = choice.message.or(choice.delta).ok_or_else(|| malformed("the choice has no message".into()))?;
        let content = message.content.unwrap_or_default();
        let usage = completion.usage.map(Usage::from).unwrap_or_else(|| estimate(request, &content));
        Ok(ChatResponse {
            model: completion.model.unwrap_or_else(|| self.requested_model(request).to_owned()),
            provider: self.inner.config.name.clone(),
            usage,
            finish_reason: choice.finish_reason.as_deref().map_or(FinishReason::Stop, wire::finish_reason),
            content,
        })
    }

    fn requested_model<'a>(&'a self, request: &'a ChatRequest) -> &'a str {
        request.model.as_deref().unwrap_or(&self.inner.config.model)
    }
}

#[async_trait::async_trait]
impl LlmProvider for OpenAiProvider {
    fn name(&self) -> &str {
        &self.inner.config.name
    }

    fn model(&self) -> &str {
        &self.inner.config.model
    }

    async fn complete(&self, request: ChatRequest) -> Result<ChatResponse, LlmError> {
        let response = self.open(&request, false).await?;
        let body = response.bytes().await.map_err(transport)?;
        self.completion(&request, &body)
    }

    async fn stream(&self, request: ChatRequest) -> Result<ChunkReceiver, LlmError> {
        let timeout = self.inner.config.timeout;
        let response =
            tokio::time::timeout(timeout, self.open(&request, true)).await.map_err(|_| LlmError::Timeout)??;
        let is_event_stream = response
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim_start().starts_with("text/event-stream"));
        if !is_event_stream {
            // A server that ignored `stream: true` answers with one whole completion: pass it on
            // as a single chunk.
            let body = tokio::time::timeout(timeout, response.bytes()).await.map_err(|_| LlmError::Timeout)?;
            let answer = self.completion(&request, &body.map_err(transport)?)?;
            let (tx, rx) = tokio::sync::mpsc::channel(1);
            let last = ChatChunk {
                delta: answer.content,
                finish_reason: Some(answer.finish_reason),
                usage: Some(answer.usage),
                provider: Some(answer.provider),
                model: Some(answer.model),
            };
            // The channel has room for it and `rx` is alive.
            let _ = tx.try_send(Ok(last));
            return Ok(rx);
        }
        let prompt_tokens = request.messages.iter().map(|m| estimate_tokens(&m.content)).sum();
        let answered_by = (self.inner.config.name.clone(), self.requested_model(&request).to_owned());
        Ok(stream::spawn(response, self.inner.config.stream_idle_timeout, prompt_tokens, answered_by))
    }
}

/// Estimated usage for a server that reported none.
fn estimate(request: &ChatRequest, answer: &str) -> Usage {
    Usage {
        input_tokens: request.messages.iter().map(|m| estimate_tokens(&m.content)).sum(),
        output_tokens: estimate_tokens(answer),
    }
}

/// How long the server asked us to wait: `retry-after-ms` (milliseconds, sent by some OpenAI
/// deployments), else `Retry-After` as seconds or as an HTTP date (`now` to count from).
pub(crate) fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim);
    let seconds = |s: &str, scale: f64| {
        // `try_`: a value too large for a Duration is ignored, not a panic.
        s.parse::<f64>().ok().filter(|x| *x >= 0.0).and_then(|x| Duration::try_from_secs_f64(x / scale).ok())
    };
    if let Some(ms) = text("retry-after-ms").and_then(|s| seconds(s, 1000.0)) {
        return Some(ms);
    }
    let value = text("retry-after")?;
    seconds(value, 1.0).or_else(|| {
        let at = httpdate::parse_http_date(value).ok()?;
        Some(at.duration_since(now).unwrap_or(Duration::ZERO))
    })
}

/// A transport failure as an [`LlmError`].
pub(super) fn transport(error: reqwest::Error) -> LlmError {
    let detail = describe(&error);
    if error.is_timeout() {
        LlmError::Timeout
    } else if error.is_body() || error.is_decode() {
        LlmError::Interrupted { detail }
    } else {
        LlmError::Unavailable { detail }
    }
}

/// An error with its causes (reqwest's own message leaves out why).
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).expect("test header"));
        }
        map
    }

    #[test]
    fn retry_after_reads_seconds_milliseconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_445_412_480); // Wed, 21 Oct 2015 07:28:00 GMT
        assert_eq!(retry_after(&headers(&[("retry-after", "2")]), now), Some(Duration::from_secs(2)));
        assert_eq!(retry_after(&headers(&[("retry-after", "1.5")]), now), Some(Duration::from_millis(1500)));
        assert_eq!(
            retry_after(&headers(&[("retry-after", "2"), ("retry-after-ms", "250")]), now),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            retry_after(&headers(&[("retry-after", "Wed, 21 Oct 2015 07:28:30 GMT")]), now),
            Some(Duration::from_secs(30))
        );
        // A date in the past means now.
        assert_eq!(
            retry_after(&headers(&[("retry-after", "Wed, 21 Oct 2015 07:27:00 GMT")]), now),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after(&headers(&[("retry-after", "soon")]), now), None);
        assert_eq!(retry_after(&headers(&[("retry-after", "-1")]), now), None);
        assert_eq!(retry_after(&headers(&[("retry-after", "1e300")]), now), None, "too large: ignored, no panic");
        assert_eq!(retry_after(&headers(&[("retry-after", "NaN")]), now), None);
        assert_eq!(retry_after(&headers(&[("retry-after-ms", "inf")]), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
    }

    #[test]
    fn error_details_are_found_in_every_common_shape() {
        assert_eq!(wire::error_detail(br#"{"error":{"message":"bad key","type":"auth"}}"#), "bad key");
        assert_eq!(wire::error_detail(br#"{"error":"model not found"}"#), "model not found");
        assert_eq!(wire::error_detail(br#"{"object":"error","message":"too long"}"#), "too long");
        assert_eq!(wire::error_detail(br#"{"detail":"Not Found"}"#), "Not Found");
        assert_eq!(wire::error_detail(b"<html>gateway</html>"), "<html>gateway</html>");
        let long = "x".repeat(1000);
        assert_eq!(wire::error_detail(long.as_bytes()).chars().count(), 301);
    }

    /// One client for every case (building one loads TLS roots).
    fn provider() -> &'static OpenAiProvider {
        static PROVIDER: std::sync::OnceLock<OpenAiProvider> = std::sync::OnceLock::new();
        PROVIDER.get_or_init(|| {
            OpenAiProvider::new(OpenAiConfig::new("http://127.0.0.1:9/v1", "m").expect("config")).expect("client")
        })
    }

    /// JSON values shaped roughly like completions, with the wrong types in the right places.
    fn completion_like() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            "[a-z_]{0,8}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(serde_json::Value::from),
                proptest::collection::hash_map(
                    prop_oneof![
                        Just("choices".to_owned()),
                        Just("message".to_owned()),
                        Just("content".to_owned()),
                        Just("usage".to_owned()),
                        Just("prompt_tokens".to_owned()),
                        Just("finish_reason".to_owned()),
                        Just("error".to_owned()),
                        Just("model".to_owned()),
                    ],
                    inner,
                    0..4
                )
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// A 200 body is an answer from this provider, or an error about the body — never another
    /// kind of error, never a panic.
    fn answer_or_body_error(body: &[u8]) -> Result<(), proptest::test_runner::TestCaseError> {
        match provider().completion(&ChatRequest::user("hi"), body) {
            Ok(answer) => proptest::prop_assert_eq!(answer.provider, "127.0.0.1:9"),
            Err(e) => {
                proptest::prop_assert!(matches!(e, LlmError::Malformed { .. } | LlmError::Interrupted { .. }), "{e:?}")
            }
        }
        Ok(())
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 512, failure_persistence: None, ..Default::default() })]

        /// Whatever a server answers with a 200, the result is an answer or a typed error.
        #[test]
        fn any_body_is_an_answer_or_a_typed_error(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            answer_or_body_error(&bytes)?;
        }

        #[test]
        fn any_json_is_an_answer_or_a_typed_error(value in completion_like()) {
            answer_or_body_error(&serde_json::to_vec(&value).expect("encodable"))?;
        }

        #[test]
        fn any_retry_after_header_parses_or_is_ignored(value in "[ -~]{0,40}|[0-9]{1,30}(\\.[0-9]{0,5})?(e[0-9]{1,3})?") {
            if let Ok(header) = HeaderValue::from_str(&value) {
                let mut map = HeaderMap::new();
                map.insert("retry-after", header);
                let _ = retry_after(&map, SystemTime::now());
            }
        }
    }
}
