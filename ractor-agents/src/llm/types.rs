//! What goes to a model and what comes back.

use serde::{Deserialize, Serialize};

/// Who wrote a message in a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Instructions that frame the conversation.
    System,
    /// The person (or agent) asking.
    User,
    /// The model's earlier answers.
    Assistant,
}

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Who wrote it.
    pub role: Role,
    /// What it says.
    pub content: String,
}

impl ChatMessage {
    /// A message from the user.
    pub fn user(content: impl Into<String>) -> Self {
        Self { role: Role::User, content: content.into() }
    }

    /// A system instruction.
    pub fn system(content: impl Into<String>) -> Self {
        Self { role: Role::System, content: content.into() }
    }
}

/// A chat completion request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ChatRequest {
    /// The conversation so far, oldest first.
    pub messages: Vec<ChatMessage>,
    /// The model to use instead of the provider's own ([`LlmProvider::model`](super::LlmProvider::model)).
    pub model: Option<String>,
    /// The most tokens the answer may have; a longer answer is cut and ends with
    /// [`FinishReason::Length`].
    pub max_tokens: Option<u32>,
    /// Sampling temperature (0 = most deterministic).
    pub temperature: Option<f32>,
}

impl ChatRequest {
    /// A request holding one user message.
    pub fn user(content: impl Into<String>) -> Self {
        Self { messages: vec![ChatMessage::user(content)], ..Self::default() }
    }
}

/// Tokens a call consumed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    /// Tokens of the prompt (every message sent).
    pub input_tokens: u32,
    /// Tokens of the answer.
    pub output_tokens: u32,
}

/// Why the model stopped writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FinishReason {
    /// It finished its answer.
    Stop,
    /// It hit `max_tokens`: the answer is cut.
    Length,
    /// The provider's content filter stopped it.
    ContentFilter,
}

/// A complete answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatResponse {
    /// The answer's text.
    pub content: String,
    /// The model that wrote it.
    pub model: String,
    /// The provider that answered (its [`LlmProvider::name`](super::LlmProvider::name)): behind a
    /// [`FallbackProvider`](super::FallbackProvider), which one of the chain it was.
    pub provider: String,
    /// Tokens consumed.
    pub usage: Usage,
    /// Why it stopped.
    pub finish_reason: FinishReason,
}

/// A piece of a streamed answer. The pieces' `delta`s, concatenated, are the answer; the last
/// piece carries `finish_reason`, `usage`, and who answered (`provider`, `model`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChatChunk {
    /// The next part of the answer's text.
    pub delta: String,
    /// Set on the last chunk only.
    pub finish_reason: Option<FinishReason>,
    /// Set on the last chunk only.
    pub usage: Option<Usage>,
    /// Set on the last chunk only: the provider that answered (behind a
    /// [`FallbackProvider`](super::FallbackProvider), which one of the chain it was).
    pub provider: Option<String>,
    /// Set on the last chunk only: the model that answered.
    pub model: Option<String>,
}

impl ChatChunk {
    /// A chunk of text that is not the last.
    pub fn text(delta: impl Into<String>) -> Self {
        Self { delta: delta.into(), finish_reason: None, usage: None, provider: None, model: None }
    }

    /// Whether this is the last chunk (it carries the finish reason).
    pub fn is_last(&self) -> bool {
        self.finish_reason.is_some()
    }
}

/// An estimate of the tokens in `text`: one per four characters, rounded up (the usual rule of
/// thumb for English with BPE tokenizers; exact counts need the model's tokenizer).
pub fn estimate_tokens(text: &str) -> u32 {
    u32::try_from(text.chars().count().div_ceil(4)).unwrap_or(u32::MAX)
}
