//! OpenAI-compatible chat clients measured against each other over loopback HTTP (bench
//! `llm_http`), and the server they talk to ([`server::BenchServer`]).
//!
//! | peer | what a call goes through |
//! |---|---|
//! | [`PeerKind::Ours`] | `ractor_agents::llm::OpenAiProvider` (reqwest 0.13 + `eventsource-stream`) |
//! | [`PeerKind::Stack`] | `Metered` around a `FallbackProvider` whose first link is that provider behind its circuit breaker and retry (a second, simulated link is never reached) |
//! | [`PeerKind::Raw`] | [`raw::RawClient`]: reqwest + serde_json by hand, the least a client can do (the floor) |
//! | [`PeerKind::AsyncOpenAi`] | the `async-openai` crate 0.43 (reqwest 0.13, rustls) |
//!
//! Every peer answers the same two questions, [`Peer::complete`] and [`Peer::stream`], and
//! returns what it got from the server (text and token usage), so the caller can check it.
//!
//! ```
//! use ractor_agents_benches::llm_peers::{Peer, PeerKind, server::{BenchServer, ServerSpec}};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = BenchServer::start(ServerSpec { answer_words: 5, stream_chunks: 3 })?;
//! let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
//! runtime.block_on(async {
//!     let peer = Peer::build(PeerKind::Raw, server.url())?;
//!     let answer = peer.complete("Say hello").await?;
//!     assert_eq!(answer.content, server.completion_text());
//!     assert_eq!(answer.input_tokens, 2);
//!     let streamed = peer.stream("Count to three").await?;
//!     assert_eq!(streamed.chunks, 3);
//!     Ok::<_, ractor_agents_benches::llm_peers::PeerError>(())
//! })?;
//! # Ok(()) }
//! ```

pub mod openai_peer;
pub mod raw;
pub mod server;

use std::time::{Duration, Instant};

use ractor_agents::llm::{
    ChatRequest, FallbackProvider, LlmConfigError, LlmError, LlmProvider, Metered, OpenAiConfig, OpenAiProvider,
    PriceTable, SimulatedProvider,
};
use ractor_agents::resilience::Retry;
use ractor_agents::resilience::breaker::CircuitBreaker;

use server::{API_KEY, MODEL};

/// Which client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PeerKind {
    /// `OpenAiProvider` called directly.
    Ours,
    /// `Metered<FallbackProvider>` whose first link is the `OpenAiProvider` (breaker + retry).
    Stack,
    /// reqwest + serde_json by hand.
    Raw,
    /// The `async-openai` crate.
    AsyncOpenAi,
}

impl PeerKind {
    /// Every peer, ours first.
    pub const ALL: [PeerKind; 4] = [PeerKind::Ours, PeerKind::Stack, PeerKind::Raw, PeerKind::AsyncOpenAi];

    /// Its name in the benchmark's output (and for `--only`).
    pub fn name(self) -> &'static str {
        match self {
            PeerKind::Ours => "ours",
            PeerKind::Stack => "ours-stack",
            PeerKind::Raw => "raw-reqwest",
            PeerKind::AsyncOpenAi => "async-openai",
        }
    }
}

/// A whole completion as a peer received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The answer's text.
    pub content: String,
    /// The server's `prompt_tokens`.
    pub input_tokens: u32,
    /// The server's `completion_tokens`.
    pub output_tokens: u32,
}

/// A streamed completion as a peer received it, with its timings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Streamed {
    /// The deltas, concatenated.
    pub text: String,
    /// Chunks that carried text (empty deltas are not counted).
    pub chunks: usize,
    /// The server's `prompt_tokens`.
    pub input_tokens: u32,
    /// The server's `completion_tokens`.
    pub output_tokens: u32,
    /// From the call to the first chunk carrying text.
    pub first_chunk: Duration,
    /// From the call to the end of the stream (every chunk and the usage received).
    pub end: Duration,
}

/// Why a peer's call failed.
#[derive(Debug, thiserror::Error)]
pub enum PeerError {
    /// `OpenAiProvider` (or the stack around it) failed.
    #[error("ractor-agents' client failed: {0}")]
    Ours(#[from] LlmError),
    /// `OpenAiProvider` could not be configured.
    #[error("ractor-agents' client could not be configured: {0}")]
    Config(#[from] LlmConfigError),
    /// The raw client's HTTP call failed.
    #[error("the raw reqwest client failed: {0}")]
    Http(#[from] reqwest::Error),
    /// The server answered with an error status.
    #[error("the server answered HTTP {status}: {body}")]
    Status {
        /// The status code.
        status: u16,
        /// The body it sent.
        body: String,
    },
    /// The body was not the JSON expected.
    #[error("the server's answer is not a chat completion: {0}")]
    Decode(#[from] serde_json::Error),
    /// `async-openai` failed.
    #[error("async-openai failed: {0}")]
    AsyncOpenAi(#[from] async_openai::error::OpenAIError),
    /// The answer lacks a part every answer of the benchmark server has.
    #[error("incomplete answer: {0}; is the server OpenAI-compatible?")]
    Incomplete(&'static str),
}

/// One client, ready to call the server at a base URL.
#[derive(Debug)]
pub enum Peer {
    /// `OpenAiProvider` directly.
    Ours(OpenAiProvider),
    /// The resilience stack around it.
    Stack(Metered<FallbackProvider>),
    /// The hand-written floor.
    Raw(raw::RawClient),
    /// `async-openai`.
    AsyncOpenAi(openai_peer::AsyncOpenAiClient),
}

impl Peer {
    /// Builds `kind` for the server at `base_url` (`http://host:port/v1`), each with its own
    /// connection pool, configured as its documentation shows (defaults otherwise).
    pub fn build(kind: PeerKind, base_url: &str) -> Result<Self, PeerError> {
        let ours = || -> Result<OpenAiProvider, PeerError> {
            let config = OpenAiConfig::new(base_url, MODEL)?.api_key(API_KEY).provider_name("bench");
            Ok(OpenAiProvider::new(config)?)
        };
        Ok(match kind {
            PeerKind::Ours => Peer::Ours(ours()?),
            PeerKind::Stack => {
                let chain = FallbackProvider::new("bench-chain", Duration::from_secs(60))
                    .then(ours()?, CircuitBreaker::new("bench"), Retry::new("bench-llm"))
                    .then(
                        SimulatedProvider::new("backup", "sim-1", 1),
                        CircuitBreaker::new("backup"),
                        Retry::new("bench-backup"),
                    );
                Peer::Stack(Metered::new(chain, PriceTable::new().with(MODEL, 0.15, 0.6)))
            }
            PeerKind::Raw => Peer::Raw(raw::RawClient::new(base_url, MODEL, API_KEY)?),
            PeerKind::AsyncOpenAi => Peer::AsyncOpenAi(openai_peer::AsyncOpenAiClient::new(base_url, MODEL, API_KEY)),
        })
    }

    /// Asks for a whole completion of the user message `prompt`.
    pub async fn complete(&self, prompt: &str) -> Result<Answer, PeerError> {
        match self {
            Peer::Ours(provider) => complete_ours(provider, prompt).await,
            Peer::Stack(stack) => complete_ours(stack, prompt).await,
            Peer::Raw(client) => client.complete(prompt).await,
            Peer::AsyncOpenAi(client) => client.complete(prompt).await,
        }
    }

    /// Streams a completion of the user message `prompt` to its end.
    pub async fn stream(&self, prompt: &str) -> Result<Streamed, PeerError> {
        match self {
            Peer::Ours(provider) => stream_ours(provider, prompt).await,
            Peer::Stack(stack) => stream_ours(stack, prompt).await,
            Peer::Raw(client) => client.stream(prompt).await,
            Peer::AsyncOpenAi(client) => client.stream(prompt).await,
        }
    }
}

async fn complete_ours(provider: &impl LlmProvider, prompt: &str) -> Result<Answer, PeerError> {
    let answer = provider.complete(ChatRequest::user(prompt)).await?;
    Ok(Answer {
        content: answer.content,
        input_tokens: answer.usage.input_tokens,
        output_tokens: answer.usage.output_tokens,
    })
}

async fn stream_ours(provider: &impl LlmProvider, prompt: &str) -> Result<Streamed, PeerError> {
    let started = Instant::now();
    let mut chunks = provider.stream(ChatRequest::user(prompt)).await?;
    let mut timing = StreamTiming::new(started);
    let mut usage = None;
    while let Some(chunk) = chunks.recv().await {
        let chunk = chunk?;
        timing.text(&chunk.delta);
        if let Some(u) = chunk.usage {
            usage = Some(u);
        }
    }
    let usage = usage.ok_or(PeerError::Incomplete("the stream ended without its usage"))?;
    Ok(timing.finish(usage.input_tokens, usage.output_tokens))
}

/// Collects a stream's text and times its first chunk and its end.
pub(crate) struct StreamTiming {
    started: Instant,
    first_chunk: Option<Duration>,
    text: String,
    chunks: usize,
}

impl StreamTiming {
    pub(crate) fn new(started: Instant) -> Self {
        Self { started, first_chunk: None, text: String::new(), chunks: 0 }
    }

    /// A chunk's delta arrived.
    pub(crate) fn text(&mut self, delta: &str) {
        if delta.is_empty() {
            return;
        }
        if self.first_chunk.is_none() {
            self.first_chunk = Some(self.started.elapsed());
        }
        self.chunks += 1;
        self.text.push_str(delta);
    }

    /// The stream ended with this usage.
    pub(crate) fn finish(self, input_tokens: u32, output_tokens: u32) -> Streamed {
        let end = self.started.elapsed();
        Streamed {
            text: self.text,
            chunks: self.chunks,
            input_tokens,
            output_tokens,
            first_chunk: self.first_chunk.unwrap_or(end),
            end,
        }
    }
}
