//! One client, one server: what comes back for each way the server answers.

use std::time::Duration;

use ractor_agents::llm::{
    ChatMessage, ChatRequest, FinishReason, LlmError, LlmProvider, OpenAiConfig, OpenAiProvider, Usage,
};

use super::server::{Reply, TestServer};
use super::{client, eventually};

/// Reads a stream to its end: the text, the last chunk's finish reason and usage, or the error
/// that ended it (with the text before it).
async fn read_all(mut rx: ractor_agents::llm::ChunkReceiver) -> (String, Result<(FinishReason, Usage), LlmError>) {
    let mut text = String::new();
    while let Some(item) = rx.recv().await {
        match item {
            Ok(chunk) => {
                text.push_str(&chunk.delta);
                if let (Some(finish), Some(usage)) = (chunk.finish_reason, chunk.usage) {
                    assert!(rx.recv().await.is_none(), "nothing may follow the last chunk");
                    return (text, Ok((finish, usage)));
                }
            }
            Err(e) => {
                assert!(rx.recv().await.is_none(), "nothing may follow an error");
                return (text, Err(e));
            }
        }
    }
    panic!("the stream closed without a last chunk or an error (text so far: {text:?})")
}

#[tokio::test]
async fn a_completion_carries_the_answer_model_and_usage_and_the_request_is_openai_shaped() {
    let server = TestServer::start(Reply::Answer("OTP is a set of Erlang libraries")).await;
    let config = OpenAiConfig::new(server.url(), "test-model")
        .unwrap()
        .provider_name("local")
        .api_key("sk-test")
        .header("OpenAI-Organization", "org-42");
    let llm = OpenAiProvider::new(config).unwrap();
    let request = ChatRequest {
        messages: vec![ChatMessage::system("Be brief."), ChatMessage::user("What is OTP?")],
        max_tokens: Some(32),
        temperature: Some(0.2),
        ..ChatRequest::default()
    };
    let answer = llm.complete(request).await.unwrap();

    assert_eq!(answer.content, "OTP is a set of Erlang libraries");
    assert_eq!(answer.provider, "local");
    assert_eq!(answer.model, "test-model-2026-01-01", "the model the server says answered");
    assert_eq!(answer.finish_reason, FinishReason::Stop);
    assert_eq!(answer.usage, Usage { input_tokens: 5, output_tokens: 7 }, "the server's counts, not estimates");

    let seen = &server.seen()[0];
    assert_eq!(seen.authorization.as_deref(), Some("Bearer sk-test"));
    assert_eq!(seen.headers["openai-organization"], "org-42");
    assert_eq!(seen.body["model"], "test-model");
    assert_eq!(seen.body["messages"][0]["role"], "system");
    assert_eq!(seen.body["messages"][1]["content"], "What is OTP?");
    assert_eq!(seen.body["max_tokens"], 32);
    assert!(seen.body.get("stream").is_none(), "a completion is not a stream: {}", seen.body);
}

#[tokio::test]
async fn a_stream_arrives_word_by_word_and_its_last_chunk_carries_finish_and_usage() {
    let server = TestServer::start(Reply::Answer("one two three four")).await;
    let llm = client(&server, "local");
    let rx = llm.stream(ChatRequest::user("count")).await.unwrap();
    let (text, end) = read_all(rx).await;
    assert_eq!(text, "one two three four");
    assert_eq!(end.unwrap(), (FinishReason::Stop, Usage { input_tokens: 1, output_tokens: 4 }));
    let body = &server.seen()[0].body;
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
    eventually("the server finished the stream", || server.finished_streams() == 1).await;
}

#[tokio::test]
async fn a_stream_without_reported_usage_gets_an_estimate() {
    let server = TestServer::start(Reply::Answer("twelve chars")).await;
    let config = OpenAiConfig::new(server.url(), "m").unwrap().stream_usage(false);
    let llm = OpenAiProvider::new(config).unwrap();
    let (text, end) = read_all(llm.stream(ChatRequest::user("abcdefgh")).await.unwrap()).await;
    assert_eq!(text, "twelve chars");
    assert!(server.seen()[0].body.get("stream_options").is_none());
    assert_eq!(end.unwrap().1, Usage { input_tokens: 2, output_tokens: 3 }, "a token per four characters");
}

#[tokio::test]
async fn a_429_is_rate_limited_with_the_servers_retry_after() {
    let server = TestServer::start(Reply::RateLimited(Some("7"))).await;
    let llm = client(&server, "local");
    let error = llm.complete(ChatRequest::user("hi")).await.unwrap_err();
    assert_eq!(error, LlmError::RateLimited { retry_after: Some(Duration::from_secs(7)) });
    // Opening a stream fails the same way.
    let error = llm.stream(ChatRequest::user("hi")).await.unwrap_err();
    assert_eq!(error, LlmError::RateLimited { retry_after: Some(Duration::from_secs(7)) });

    server.answer_by_default(Reply::RateLimited(None));
    let error = llm.complete(ChatRequest::user("hi")).await.unwrap_err();
    assert_eq!(error, LlmError::RateLimited { retry_after: None });
}

#[tokio::test]
async fn server_errors_are_typed_by_status_and_client_errors_carry_the_servers_message() {
    let server = TestServer::start(Reply::Status(500, "internal error")).await;
    let llm = client(&server, "local");
    assert_eq!(llm.complete(ChatRequest::user("hi")).await.unwrap_err(), LlmError::Server { status: 500 });
    server.then(Reply::Status(503, "overloaded"));
    assert_eq!(llm.stream(ChatRequest::user("hi")).await.unwrap_err(), LlmError::Server { status: 503 });

    server.then(Reply::Status(401, "Incorrect API key provided"));
    let error = llm.complete(ChatRequest::user("hi")).await.unwrap_err();
    let LlmError::InvalidRequest { detail } = &error else { panic!("expected InvalidRequest, got {error:?}") };
    assert!(detail.contains("401") && detail.contains("Incorrect API key provided"), "{detail}");
    assert!(!error.is_provider_failure(), "the caller's mistake does not count against the provider");

    server.then(Reply::Status(408, "request timeout"));
    assert_eq!(llm.complete(ChatRequest::user("hi")).await.unwrap_err(), LlmError::Timeout);
}

#[tokio::test]
async fn a_hanging_server_times_out_for_completions_and_for_streams_that_never_open() {
    let server = TestServer::start(Reply::Hang).await;
    let config = OpenAiConfig::new(server.url(), "m").unwrap().timeout(Duration::from_millis(200));
    let llm = OpenAiProvider::new(config).unwrap();
    assert_eq!(llm.complete(ChatRequest::user("hi")).await.unwrap_err(), LlmError::Timeout);
    assert_eq!(llm.stream(ChatRequest::user("hi")).await.unwrap_err(), LlmError::Timeout);
    assert_eq!(server.requests(), 2);
}

#[tokio::test]
async fn malformed_bodies_are_typed_errors_never_panics() {
    let server = TestServer::start(Reply::MalformedJson).await;
    let llm = client(&server, "local");
    let error = llm.complete(ChatRequest::user("hi")).await.unwrap_err();
    assert!(matches!(&error, LlmError::Malformed { detail } if detail.contains("not a chat completion")), "{error:?}");

    // A stream whose second event is cut-off JSON: the text before it, then the error.
    let (text, end) = read_all(llm.stream(ChatRequest::user("hi")).await.unwrap()).await;
    assert_eq!(text, "Hi");
    assert!(matches!(end, Err(LlmError::Malformed { .. })), "{end:?}");

    // Well-formed JSON that is not a completion.
    for body in
        [r#"{"choices": []}"#, r#"{"object": "list", "data": []}"#, "[1, 2, 3]", r#"{"choices": [{"index": 0}]}"#]
    {
        server.then(Reply::Json(body));
        let error = llm.complete(ChatRequest::user("hi")).await.unwrap_err();
        assert!(matches!(error, LlmError::Malformed { .. }), "{body}: {error:?}");
    }
    // An error object inside a 200.
    server.then(Reply::Json(r#"{"error": {"message": "model overloaded"}}"#));
    let error = llm.complete(ChatRequest::user("hi")).await.unwrap_err();
    assert!(matches!(&error, LlmError::Interrupted { detail } if detail.contains("model overloaded")), "{error:?}");
}

#[tokio::test]
async fn a_server_that_ignores_stream_true_still_gives_a_one_chunk_stream() {
    let server = TestServer::start(Reply::Json(
        r#"{"model": "m", "choices": [{"message": {"content": "whole answer"}, "finish_reason": "length"}], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}"#,
    ))
    .await;
    let llm = client(&server, "local");
    let (text, end) = read_all(llm.stream(ChatRequest::user("hi")).await.unwrap()).await;
    assert_eq!(text, "whole answer");
    assert_eq!(end.unwrap(), (FinishReason::Length, Usage { input_tokens: 3, output_tokens: 2 }));
}

#[tokio::test]
async fn a_server_refusing_a_field_is_asked_again_without_it_and_the_client_remembers() {
    let server = TestServer::start(Reply::Picky("fine then")).await;
    let llm = client(&server, "local");
    let (text, end) = read_all(llm.stream(ChatRequest::user("abcdefgh")).await.unwrap()).await;
    assert_eq!(text, "fine then");
    assert_eq!(end.unwrap().1, Usage { input_tokens: 2, output_tokens: 3 }, "estimated: the server gave none");
    assert_eq!(server.requests(), 2, "refused once, then accepted without stream_options");
    read_all(llm.stream(ChatRequest::user("again")).await.unwrap()).await.1.unwrap();
    assert_eq!(server.requests(), 3, "remembered: no refusal the second time");

    let capped = ChatRequest { max_tokens: Some(16), ..ChatRequest::user("hi") };
    assert_eq!(llm.complete(capped.clone()).await.unwrap().content, "fine then");
    let seen = server.seen();
    assert_eq!(seen.len(), 5);
    assert_eq!(seen[4].body["max_completion_tokens"], 16);
    assert!(seen[4].body.get("max_tokens").is_none());
    llm.complete(capped).await.unwrap();
    assert_eq!(server.requests(), 6, "remembered");

    // A refusal naming nothing it can drop is the caller's error, after one request.
    server.then(Reply::Status(400, "messages must not be empty"));
    let error = llm.complete(ChatRequest::default()).await.unwrap_err();
    assert!(matches!(&error, LlmError::InvalidRequest { detail } if detail.contains("messages must not be empty")));
    assert_eq!(server.requests(), 7);
}

#[tokio::test]
async fn a_slow_stream_is_fine_within_the_idle_timeout_and_times_out_past_it() {
    let server = TestServer::start(Reply::SlowStream("slow but steady", Duration::from_millis(30))).await;
    let llm = client(&server, "local");
    let (text, end) = read_all(llm.stream(ChatRequest::user("hi")).await.unwrap()).await;
    assert_eq!(text, "slow but steady");
    assert!(end.is_ok(), "{end:?}");

    // Events 300 ms apart against a 100 ms idle limit (the stream opens on its headers, sent at once).
    server.then(Reply::SlowStream("too slow", Duration::from_millis(300)));
    let config = OpenAiConfig::new(server.url(), "m").unwrap().stream_idle_timeout(Duration::from_millis(100));
    let impatient = OpenAiProvider::new(config).unwrap();
    let (text, end) = read_all(impatient.stream(ChatRequest::user("hi")).await.unwrap()).await;
    assert_eq!(text, "");
    assert_eq!(end, Err(LlmError::Timeout));
    eventually("the server saw the timed-out stream go away", || server.abandoned_streams() == 1).await;
}

#[tokio::test]
async fn a_stream_cut_midway_ends_with_interrupted_after_the_text_that_arrived() {
    let server = TestServer::start(Reply::CutStream("alpha beta gamma delta", 2)).await;
    let llm = client(&server, "local");
    let (text, end) = read_all(llm.stream(ChatRequest::user("hi")).await.unwrap()).await;
    assert_eq!(text, "alpha beta");
    assert!(matches!(end, Err(LlmError::Interrupted { .. })), "{end:?}");
}

#[tokio::test]
async fn a_stream_cancelled_midway_frees_its_connection() {
    let words = "a b c d e f g h i j k l m n o p q r s t u v w x y z";
    let server = TestServer::start(Reply::SlowStream(words, Duration::from_millis(20))).await;
    let llm = client(&server, "local");
    for cancelled in 1..=3 {
        let mut rx = llm.stream(ChatRequest::user("hi")).await.unwrap();
        let first = rx.recv().await.unwrap().unwrap();
        assert_eq!(first.delta, "a");
        drop(rx);
        // The client's task closes the connection: the server's body is dropped before its end,
        // and its side of the connection closes.
        eventually("the server saw the cancelled stream go", || server.abandoned_streams() == cancelled).await;
        eventually("the cancelled stream's connection closed", || server.open_connections() == 0).await;
    }
    assert_eq!(server.accepted_connections(), 3, "a cut connection is never reused");
    assert_eq!(server.finished_streams(), 0);

    // The client is not wedged: the next call gets through, on a new connection.
    server.answer_by_default(Reply::Answer("still here"));
    assert_eq!(llm.complete(ChatRequest::user("hi")).await.unwrap().content, "still here");
    assert_eq!(server.accepted_connections(), 4);
}

#[tokio::test]
async fn a_refused_connection_is_unavailable() {
    // A port that was free a moment ago and has no listener now.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let config = OpenAiConfig::new(&format!("http://127.0.0.1:{port}/v1"), "m").unwrap();
    let llm = OpenAiProvider::new(config).unwrap();
    let error = llm.complete(ChatRequest::user("hi")).await.unwrap_err();
    assert!(matches!(&error, LlmError::Unavailable { .. }), "{error:?}");
    let error = llm.stream(ChatRequest::user("hi")).await.unwrap_err();
    assert!(matches!(&error, LlmError::Unavailable { .. }), "{error:?}");
}

#[test]
fn bad_configuration_is_refused_with_a_clear_error() {
    use ractor_agents::llm::LlmConfigError;
    let url_error = |url: &str| OpenAiConfig::new(url, "m").unwrap_err();
    assert!(matches!(url_error("localhost:11434/v1"), LlmConfigError::InvalidUrl { .. }));
    assert!(matches!(url_error("http:///v1"), LlmConfigError::InvalidUrl { .. }));
    assert!(matches!(url_error("https://api.openai.com/v1?x=1"), LlmConfigError::InvalidUrl { .. }));
    assert_eq!(OpenAiConfig::new("http://localhost:8000/v1", " ").unwrap_err(), LlmConfigError::MissingModel);
    let config = OpenAiConfig::new("http://localhost:8000/v1/", "m").unwrap().api_key("bad\nkey");
    assert!(matches!(OpenAiProvider::new(config).unwrap_err(), LlmConfigError::InvalidHeader { .. }));

    let env = |vars: &'static [(&'static str, &'static str)]| {
        OpenAiConfig::from_vars(move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| (*v).to_owned()))
    };
    assert_eq!(env(&[]).unwrap(), None, "no base URL: run offline");
    assert_eq!(env(&[("RACTOR_AGENTS_LLM_BASE_URL", "http://localhost:11434/v1")]), Err(LlmConfigError::MissingModel));
    let config = env(&[
        ("RACTOR_AGENTS_LLM_BASE_URL", "http://localhost:11434/v1"),
        ("RACTOR_AGENTS_LLM_MODEL", "llama3.2"),
        ("RACTOR_AGENTS_LLM_TIMEOUT_SECS", "2.5"),
    ])
    .unwrap()
    .unwrap();
    assert_eq!((config.name(), config.model()), ("localhost:11434", "llama3.2"));
    assert_eq!(config.endpoint(), "http://localhost:11434/v1/chat/completions");
    assert!(!format!("{config:?}").contains("sk-"), "no key to leak here");
    let error = env(&[
        ("RACTOR_AGENTS_LLM_BASE_URL", "http://localhost:11434/v1"),
        ("RACTOR_AGENTS_LLM_MODEL", "llama3.2"),
        ("RACTOR_AGENTS_LLM_TIMEOUT_SECS", "-1"),
    ])
    .unwrap_err();
    assert!(matches!(error, LlmConfigError::InvalidTimeout { .. }));
    let error = env(&[
        ("RACTOR_AGENTS_LLM_BASE_URL", "http://localhost:11434/v1"),
        ("RACTOR_AGENTS_LLM_MODEL", "llama3.2"),
        ("RACTOR_AGENTS_LLM_TIMEOUT_SECS", "1e300"),
    ])
    .unwrap_err();
    assert!(matches!(error, LlmConfigError::InvalidTimeout { .. }), "too large for a Duration: refused, no panic");
    let keyed = OpenAiConfig::new("https://api.openai.com/v1", "m").unwrap().api_key("sk-secret");
    assert!(!format!("{keyed:?}").contains("sk-secret"), "Debug never prints the key");
}
