//! An OpenAI-compatible chat-completions server on loopback that answers as it is told: 200
//! (whole or streamed), 429 with Retry-After, any status, hang, stream slowly, cut a stream, or
//! send malformed JSON. It records every request and notices streams the client abandons.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

/// How the server answers one request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 200 with this answer: a JSON completion, or word by word as server-sent events when the
    /// request asked for a stream.
    Answer(&'static str),
    /// 429 with this `Retry-After` value (none when `None`).
    RateLimited(Option<&'static str>),
    /// This status with an OpenAI-style error body carrying `message`.
    Status(u16, &'static str),
    /// Never answers.
    Hang,
    /// Waits this long, then answers like [`Reply::Answer`].
    Slow(&'static str, Duration),
    /// Streams `text` word by word, waiting `gap` before each event.
    SlowStream(&'static str, Duration),
    /// Streams the first `after` words of `text`, then breaks the connection.
    CutStream(&'static str, usize),
    /// 200 with a body that is not JSON (or, for a stream, an event that is not JSON).
    MalformedJson,
    /// Like [`Reply::Answer`], but refuses (400, OpenAI's wording) a request carrying
    /// `stream_options` or `max_tokens`, as some servers and models do.
    Picky(&'static str),
    /// 200 with this exact JSON body (well-formed, perhaps not a completion), even to a stream
    /// request.
    Json(&'static str),
}

/// A request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub at: Instant,
    pub authorization: Option<String>,
    pub headers: HeaderMap,
    pub body: Value,
}

struct Shared {
    script: Mutex<VecDeque<Reply>>,
    default: Mutex<Reply>,
    seen: Mutex<Vec<Seen>>,
    /// Streams whose body was dropped before it was all sent: the client went away.
    abandoned: AtomicUsize,
    /// Streams sent to the end.
    finished: AtomicUsize,
    /// TCP connections accepted, and those still open.
    accepted: AtomicUsize,
    open: AtomicUsize,
}

/// The running server; stops when dropped.
pub struct TestServer {
    base_url: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl TestServer {
    /// Starts on a free loopback port, answering `default` unless told otherwise.
    pub async fn start(default: Reply) -> Self {
        let shared = Arc::new(Shared {
            script: Mutex::new(VecDeque::new()),
            default: Mutex::new(default),
            seen: Mutex::new(Vec::new()),
            abandoned: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
            accepted: AtomicUsize::new(0),
            open: AtomicUsize::new(0),
        });
        let app = Router::new().route("/v1/chat/completions", post(chat)).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
        let base_url = format!("http://{}/v1", listener.local_addr().expect("bound address"));
        let listener = CountingListener { inner: listener, shared: shared.clone() };
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("test server runs");
        });
        Self { base_url, shared, task }
    }

    /// The base URL to configure a client with (`http://127.0.0.1:PORT/v1`).
    pub fn url(&self) -> &str {
        &self.base_url
    }

    /// The next request gets `reply` (replies queue, then the default resumes).
    pub fn then(&self, reply: Reply) -> &Self {
        self.shared.script.lock().unwrap().push_back(reply);
        self
    }

    /// Requests not scripted get `reply` from now on.
    pub fn answer_by_default(&self, reply: Reply) {
        *self.shared.default.lock().unwrap() = reply;
    }

    /// Every request so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    /// How many requests arrived.
    pub fn requests(&self) -> usize {
        self.shared.seen.lock().unwrap().len()
    }

    /// Streams the client abandoned midway (their connection closed under them).
    pub fn abandoned_streams(&self) -> usize {
        self.shared.abandoned.load(Ordering::SeqCst)
    }

    /// Streams sent to their end.
    pub fn finished_streams(&self) -> usize {
        self.shared.finished.load(Ordering::SeqCst)
    }

    /// TCP connections accepted so far.
    pub fn accepted_connections(&self) -> usize {
        self.shared.accepted.load(Ordering::SeqCst)
    }

    /// TCP connections open now (the server drops one when its client closes it).
    pub fn open_connections(&self) -> usize {
        self.shared.open.load(Ordering::SeqCst)
    }
}

/// Accepts loopback connections, counting them and those still open.
struct CountingListener {
    inner: tokio::net::TcpListener,
    shared: Arc<Shared>,
}

impl axum::serve::Listener for CountingListener {
    type Io = Counted;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            if let Ok((stream, addr)) = self.inner.accept().await {
                self.shared.accepted.fetch_add(1, Ordering::SeqCst);
                self.shared.open.fetch_add(1, Ordering::SeqCst);
                return (Counted { stream, shared: self.shared.clone() }, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// A connection that counts itself closed when the server drops it.
struct Counted {
    stream: tokio::net::TcpStream,
    shared: Arc<Shared>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.shared.open.fetch_sub(1, Ordering::SeqCst);
    }
}

impl tokio::io::AsyncRead for Counted {
    fn poll_read(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().stream).poll_read(cx, buf)
    }
}

impl tokio::io::AsyncWrite for Counted {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        std::pin::Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        std::pin::Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}

async fn chat(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let authorization = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).map(str::to_owned);
    shared.seen.lock().unwrap().push(Seen { at: Instant::now(), authorization, headers, body: body.clone() });
    let reply = shared.script.lock().unwrap().pop_front().unwrap_or_else(|| shared.default.lock().unwrap().clone());
    let stream = body["stream"].as_bool().unwrap_or(false);
    let include_usage = body["stream_options"]["include_usage"].as_bool().unwrap_or(false);
    let model = body["model"].as_str().unwrap_or("unknown").to_owned();
    let prompt_tokens = body["messages"]
        .as_array()
        .map_or(0, |ms| ms.iter().map(|m| m["content"].as_str().unwrap_or("").split_whitespace().count()).sum());
    let answer = |shared: Arc<Shared>, text: &str| {
        if stream {
            event_stream(shared, answer_events(&model, text, prompt_tokens, include_usage), Duration::ZERO, None)
        } else {
            let words = text.split_whitespace().count();
            let completion = json!({
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "model": format!("{model}-2026-01-01"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": words, "total_tokens": prompt_tokens + words},
            });
            json_response(StatusCode::OK, completion.to_string())
        }
    };
    match reply {
        Reply::Answer(text) => answer(shared, text),
        Reply::Picky(_) if body.get("stream_options").is_some() => json_response(
            StatusCode::BAD_REQUEST,
            error_body("Unrecognized request argument supplied: stream_options", "invalid_request_error"),
        ),
        Reply::Picky(_) if body.get("max_tokens").is_some() => json_response(
            StatusCode::BAD_REQUEST,
            error_body(
                "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
                "invalid_request_error",
            ),
        ),
        Reply::Picky(text) => answer(shared, text),
        Reply::Slow(text, delay) => {
            tokio::time::sleep(delay).await;
            answer(shared, text)
        }
        Reply::SlowStream(text, gap) => {
            let events = answer_events(&model, text, prompt_tokens, include_usage);
            event_stream(shared, events, gap, None)
        }
        Reply::CutStream(text, after) => {
            let events = answer_events(&model, text, prompt_tokens, include_usage);
            // The role event, then `after` words.
            event_stream(shared, events, Duration::ZERO, Some(after + 1))
        }
        Reply::RateLimited(retry_after) => {
            let mut response =
                json_response(StatusCode::TOO_MANY_REQUESTS, error_body("Rate limit reached for requests", "requests"));
            if let Some(value) = retry_after {
                response.headers_mut().insert(header::RETRY_AFTER, value.parse().expect("header value"));
            }
            response
        }
        Reply::Status(status, message) => {
            json_response(StatusCode::from_u16(status).expect("a status"), error_body(message, "server_error"))
        }
        Reply::Hang => std::future::pending().await,
        Reply::MalformedJson if stream => {
            let events = vec![
                format!("data: {}\n\n", json!({"choices": [{"index": 0, "delta": {"content": "Hi"}}]})),
                "data: {\"choices\": [{\"delta\": {\"content\": \"there\"\n\n".to_owned(),
            ];
            event_stream(shared, events, Duration::ZERO, None)
        }
        Reply::MalformedJson => {
            json_response(StatusCode::OK, r#"{"id": "chatcmpl-test", "choices": [{"message": "#.into())
        }
        Reply::Json(body) => json_response(StatusCode::OK, body.into()),
    }
}

fn json_response(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn error_body(message: &str, kind: &str) -> String {
    json!({"error": {"message": message, "type": kind, "param": null, "code": null}}).to_string()
}

/// The events of a streamed answer, as OpenAI sends them: the role, one delta per word, the
/// finish reason, the usage (when asked for) and `[DONE]`.
fn answer_events(model: &str, text: &str, prompt_tokens: usize, include_usage: bool) -> Vec<String> {
    let chunk = |delta: Value, finish: Value| {
        let body = json!({"id": "chatcmpl-test", "object": "chat.completion.chunk", "model": model,
                          "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]});
        format!("data: {body}\n\n")
    };
    let mut events = vec![chunk(json!({"role": "assistant", "content": ""}), Value::Null)];
    for (i, word) in text.split(' ').enumerate() {
        let piece = if i == 0 { word.to_owned() } else { format!(" {word}") };
        events.push(chunk(json!({"content": piece}), Value::Null));
    }
    events.push(chunk(json!({}), json!("stop")));
    if include_usage {
        let words = text.split_whitespace().count();
        let usage =
            json!({"prompt_tokens": prompt_tokens, "completion_tokens": words, "total_tokens": prompt_tokens + words});
        events.push(format!("data: {}\n\n", json!({"id": "chatcmpl-test", "choices": [], "usage": usage})));
    }
    events.push("data: [DONE]\n\n".to_owned());
    events
}

/// Notes, when the body is dropped, whether it was sent to its end.
struct Watch {
    shared: Arc<Shared>,
    done: bool,
}

impl Watch {
    fn finish(&mut self) {
        self.done = true;
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let counter = if self.done { &self.shared.finished } else { &self.shared.abandoned };
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

/// A `text/event-stream` body sending `events`, each after `gap`; with `cut_after`, the
/// connection breaks after that many events.
fn event_stream(shared: Arc<Shared>, events: Vec<String>, gap: Duration, cut_after: Option<usize>) -> Response {
    let watch = Watch { shared, done: false };
    let state = (events.into_iter().enumerate(), watch);
    let body = futures_util::stream::unfold(state, move |(mut events, mut watch)| async move {
        if !gap.is_zero() {
            tokio::time::sleep(gap).await;
        }
        match events.next() {
            Some((i, _)) if cut_after == Some(i) => {
                // Let what was sent reach the client, then fail the body: the server aborts the
                // connection mid-response.
                tokio::time::sleep(Duration::from_millis(50)).await;
                Some((Err(std::io::Error::other("cut on purpose")), (events, watch)))
            }
            Some((_, event)) => Some((Ok(Bytes::from(event)), (events, watch))),
            None => {
                watch.finish();
                None
            }
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(body))
        .expect("a response")
}
