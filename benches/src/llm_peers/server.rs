//! A minimal OpenAI-compatible chat-completions server for the client benchmark: every request
//! gets the same answer at once, as one JSON completion or as a server-sent event stream of a fixed
//! number of chunks, with the token usage of the prompt it was sent.
//!
//! It runs on its **own thread with its own single-threaded tokio runtime**, so the clients
//! measured never share an executor with it: whatever the server costs is the same for every
//! client, and a client's tasks cannot delay the server's (or the other way round) beyond what the
//! operating system's scheduler does.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::serve::ListenerExt;
use serde::Deserialize;
use serde_json::json;

/// The model the server answers as (any other model gets 404, as OpenAI answers).
pub const MODEL: &str = "bench-model";
/// The API key the server expects (`Authorization: Bearer sk-bench`; anything else gets 401).
pub const API_KEY: &str = "sk-bench";
/// Seconds since the epoch in every answer's `created` field.
const CREATED: u32 = 1_767_225_600;

/// What the server answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServerSpec {
    /// Words of the whole (non-streamed) completion.
    pub answer_words: usize,
    /// Content chunks of a streamed completion (one word each), before the chunk carrying the
    /// finish reason and the usage chunk.
    pub stream_chunks: usize,
}

impl Default for ServerSpec {
    /// A completion of 60 words (a short answer, ~400 bytes) and streams of 200 chunks.
    fn default() -> Self {
        Self { answer_words: 60, stream_chunks: 200 }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// Binding 127.0.0.1:0 or building the runtime failed.
    #[error("the benchmark LLM server could not start on loopback: {0}; is 127.0.0.1 available?")]
    Start(#[from] std::io::Error),
    /// The server thread died before saying it was ready.
    #[error("the benchmark LLM server thread stopped while starting")]
    ThreadDied,
}

/// The precomputed parts of every answer, shared with the handler.
struct Answers {
    /// The whole completion's text.
    completion_text: String,
    /// `completion_text`'s word count (its `completion_tokens`).
    completion_tokens: usize,
    /// The completion's JSON up to (not including) its `usage` object.
    completion_head: String,
    /// The stream's events before the usage: the role, one per content chunk, the finish reason.
    stream_events: Vec<Bytes>,
    /// The streamed text (the deltas concatenated).
    stream_text: String,
    /// `stream_chunks` (each chunk is one word, so one token).
    stream_tokens: usize,
    /// Requests answered 200.
    served: AtomicU64,
}

/// A running benchmark server; stops (and joins its thread) when dropped.
pub struct BenchServer {
    base_url: String,
    spec: ServerSpec,
    answers: Arc<Answers>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for BenchServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BenchServer").field("base_url", &self.base_url).field("spec", &self.spec).finish()
    }
}

/// The words answers are made of (cycled).
const WORDS: [&str; 16] = [
    "actors",
    "supervise",
    "their",
    "children",
    "and",
    "restart",
    "them",
    "when",
    "a",
    "handler",
    "fails",
    "so",
    "the",
    "system",
    "keeps",
    "answering",
];

impl BenchServer {
    /// Starts the server on a free loopback port, on its own thread.
    pub fn start(spec: ServerSpec) -> Result<Self, ServerError> {
        let answers = Arc::new(Answers::new(spec));
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let base_url = format!("http://{}/v1", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready, is_ready) = std::sync::mpsc::channel::<std::io::Result<()>>();
        let shared = answers.clone();
        let thread = std::thread::Builder::new().name("llm-bench-server".into()).spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(e) => {
                    let _ = ready.send(Err(e));
                    return;
                }
            };
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(listener) => listener,
                    Err(e) => {
                        let _ = ready.send(Err(e));
                        return;
                    }
                };
                let _ = ready.send(Ok(()));
                let app = Router::new().route("/v1/chat/completions", post(chat)).with_state(shared);
                // As production servers do: without TCP_NODELAY, each streamed event after the
                // first waits for the client's delayed ACK (~40 ms on Linux loopback).
                let listener = listener.tap_io(|tcp| {
                    if let Err(e) = tcp.set_nodelay(true) {
                        eprintln!("llm-bench-server: cannot set TCP_NODELAY: {e}");
                    }
                });
                // Stopping drops the server and, with the runtime, every connection's task.
                tokio::select! {
                    _ = axum::serve(listener, app) => {}
                    _ = stopped => {}
                }
            });
        })?;
        is_ready.recv().map_err(|_| ServerError::ThreadDied)??;
        Ok(Self { base_url, spec, answers, stop: Some(stop), thread: Some(thread) })
    }

    /// The base URL to configure a client with (`http://127.0.0.1:PORT/v1`).
    pub fn url(&self) -> &str {
        &self.base_url
    }

    /// What it answers with.
    pub fn spec(&self) -> ServerSpec {
        self.spec
    }

    /// The content of every whole completion.
    pub fn completion_text(&self) -> &str {
        &self.answers.completion_text
    }

    /// The `completion_tokens` of every whole completion.
    pub fn completion_tokens(&self) -> u32 {
        u32::try_from(self.answers.completion_tokens).unwrap_or(u32::MAX)
    }

    /// The text of every stream (its deltas concatenated).
    pub fn stream_text(&self) -> &str {
        &self.answers.stream_text
    }

    /// The `completion_tokens` of every stream.
    pub fn stream_tokens(&self) -> u32 {
        u32::try_from(self.answers.stream_tokens).unwrap_or(u32::MAX)
    }

    /// The `prompt_tokens` the server reports for a request whose messages are `contents`: their
    /// whitespace-separated words.
    pub fn prompt_tokens<'a>(contents: impl IntoIterator<Item = &'a str>) -> u32 {
        u32::try_from(contents.into_iter().map(|c| c.split_whitespace().count()).sum::<usize>()).unwrap_or(u32::MAX)
    }

    /// Requests answered with 200 so far (completions and streams).
    pub fn served(&self) -> u64 {
        self.answers.served.load(Ordering::Relaxed)
    }
}

impl Drop for BenchServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Answers {
    fn new(spec: ServerSpec) -> Self {
        let words = |n: usize| (0..n).map(|i| WORDS[i % WORDS.len()]).collect::<Vec<_>>();
        let completion_text = words(spec.answer_words).join(" ");
        let completion = json!({
            "id": "chatcmpl-bench",
            "object": "chat.completion",
            "created": CREATED,
            "model": MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": completion_text},
                         "logprobs": null, "finish_reason": "stop"}],
        })
        .to_string();
        // Reopen the object to append `"usage": {..}}` per request.
        let completion_head = format!("{},", completion.strip_suffix('}').unwrap_or(&completion));
        let chunk = |delta: serde_json::Value, finish: serde_json::Value| {
            let body = json!({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": CREATED,
                              "model": MODEL, "choices": [{"index": 0, "delta": delta, "logprobs": null,
                              "finish_reason": finish}]});
            Bytes::from(format!("data: {body}\n\n"))
        };
        let mut stream_events = vec![chunk(json!({"role": "assistant", "content": ""}), serde_json::Value::Null)];
        let mut stream_text = String::new();
        for (i, word) in words(spec.stream_chunks).into_iter().enumerate() {
            let piece = if i == 0 { word.to_owned() } else { format!(" {word}") };
            stream_text.push_str(&piece);
            stream_events.push(chunk(json!({"content": piece}), serde_json::Value::Null));
        }
        stream_events.push(chunk(json!({}), json!("stop")));
        Self {
            completion_tokens: spec.answer_words,
            completion_text,
            completion_head,
            stream_events,
            stream_text,
            stream_tokens: spec.stream_chunks,
            served: AtomicU64::new(0),
        }
    }
}

/// The request fields the server reads (the rest are ignored).
#[derive(Deserialize)]
struct ChatBody {
    model: String,
    messages: Vec<MessageBody>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    stream_options: Option<StreamOptionsBody>,
}

#[derive(Deserialize)]
struct MessageBody {
    #[serde(default)]
    content: String,
}

#[derive(Deserialize)]
struct StreamOptionsBody {
    #[serde(default)]
    include_usage: bool,
}

async fn chat(State(answers): State<Arc<Answers>>, headers: HeaderMap, body: Bytes) -> Response {
    let authorized = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|key| key == API_KEY);
    if !authorized {
        return error(StatusCode::UNAUTHORIZED, "Incorrect API key provided", "invalid_request_error");
    }
    let request: ChatBody = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("invalid body: {e}"), "invalid_request_error"),
    };
    if request.model != MODEL {
        return error(StatusCode::NOT_FOUND, &format!("The model `{}` does not exist", request.model), "not_found");
    }
    let prompt_tokens = BenchServer::prompt_tokens(request.messages.iter().map(|m| m.content.as_str()));
    answers.served.fetch_add(1, Ordering::Relaxed);
    if request.stream {
        let mut events = answers.stream_events.clone();
        if request.stream_options.is_some_and(|o| o.include_usage) {
            let usage = usage(prompt_tokens, answers.stream_tokens);
            let last = format!(
                r#"data: {{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":{CREATED},"model":"{MODEL}","choices":[],"usage":{usage}}}"#
            );
            events.push(Bytes::from(last + "\n\n"));
        }
        events.push(Bytes::from_static(b"data: [DONE]\n\n"));
        let body = futures::stream::iter(events.into_iter().map(Ok::<_, std::convert::Infallible>));
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "text/event-stream")
            .header(header::CACHE_CONTROL, "no-cache")
            .body(Body::from_stream(body))
            .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
    } else {
        let body =
            format!(r#"{}"usage":{}}}"#, answers.completion_head, usage(prompt_tokens, answers.completion_tokens));
        (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], body).into_response()
    }
}

fn usage(prompt: u32, completion: usize) -> String {
    format!(
        r#"{{"prompt_tokens":{prompt},"completion_tokens":{completion},"total_tokens":{}}}"#,
        prompt as usize + completion
    )
}

fn error(status: StatusCode, message: &str, kind: &str) -> Response {
    let body = json!({"error": {"message": message, "type": kind, "param": null, "code": null}}).to_string();
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}
