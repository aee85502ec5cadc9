//! The OpenAI chat-completions wire format: what is posted and what comes back, leniently read
//! (servers that call themselves compatible differ in what they leave out).

use serde::{Deserialize, Serialize};

use crate::llm::types::{ChatMessage, FinishReason, Usage};

/// The body of `POST /chat/completions`.
#[derive(Debug, Serialize)]
pub(super) struct Request<'a> {
    pub(super) model: &'a str,
    pub(super) messages: &'a [ChatMessage],
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) max_tokens: Option<u32>,
    /// OpenAI's newer name for `max_tokens` (its reasoning models accept only this one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) temperature: Option<f32>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(super) stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) stream_options: Option<StreamOptions>,
}

#[derive(Debug, Serialize)]
pub(super) struct StreamOptions {
    pub(super) include_usage: bool,
}

/// A completion, or one chunk of a streamed one (`delta` instead of `message`).
#[derive(Debug, Deserialize)]
pub(super) struct Completion {
    #[serde(default)]
    pub(super) model: Option<String>,
    #[serde(default)]
    pub(super) choices: Vec<Choice>,
    #[serde(default)]
    pub(super) usage: Option<WireUsage>,
    /// Some servers report a failure inside a 200 stream.
    #[serde(default)]
    pub(super) error: Option<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Choice {
    #[serde(default)]
    pub(super) message: Option<Message>,
    #[serde(default)]
    pub(super) delta: Option<Message>,
    #[serde(default)]
    pub(super) finish_reason: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct Message {
    /// `null` when the model answered with tool calls only.
    #[serde(default)]
    pub(super) content: Option<String>,
}

#[derive(Debug, Deserialize)]
pub(super) struct WireUsage {
    #[serde(default)]
    pub(super) prompt_tokens: u32,
    #[serde(default)]
    pub(super) completion_tokens: u32,
}

impl From<WireUsage> for Usage {
    fn from(u: WireUsage) -> Self {
        Usage { input_tokens: u.prompt_tokens, output_tokens: u.completion_tokens }
    }
}

/// `stop`, `length`, `content_filter`; anything else (`tool_calls`, a server's own word) is a
/// finished answer.
pub(super) fn finish_reason(reason: &str) -> FinishReason {
    match reason {
        "length" => FinishReason::Length,
        "content_filter" => FinishReason::ContentFilter,
        _ => FinishReason::Stop,
    }
}

/// The human-readable part of an error body, whatever shape the server gives it:
/// `{"error": {"message": ..}}` (OpenAI, Groq, Ollama), `{"error": ".."}`, `{"message": ..}`
/// (vLLM), `{"detail": ..}`, or the body itself, cut to a readable length.
pub(super) fn error_detail(body: &[u8]) -> String {
    let from_json = serde_json::from_slice::<serde_json::Value>(body).ok().and_then(|v| message_of(&v));
    let text = from_json.unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned());
    cut(&text, 300)
}

/// The message inside an error value (an object or a string).
pub(super) fn message_of(value: &serde_json::Value) -> Option<String> {
    let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
    match value {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Object(map) => map
            .get("error")
            .and_then(|e| e.get("message").and_then(text).or_else(|| text(e)))
            .or_else(|| map.get("message").and_then(text))
            .or_else(|| map.get("detail").and_then(text)),
        _ => None,
    }
}

/// `text` cut to at most `max` characters, marked when cut.
pub(super) fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_owned(),
    }
}
