//! A provider that answers offline: deterministic from a seed, with latency and failures drawn
//! from configurable distributions.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use tokio::sync::mpsc;

use super::types::{ChatChunk, ChatRequest, ChatResponse, FinishReason, Usage, estimate_tokens};
use super::{ChunkReceiver, LlmError, LlmProvider};

/// How long a simulated call takes: `base` plus a random jitter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Latency {
    /// Always `base`.
    Fixed(Duration),
    /// `base` plus a jitter uniform in `[0, spread]`.
    Uniform {
        /// The least a call takes.
        base: Duration,
        /// The widest jitter.
        spread: Duration,
    },
    /// `base` plus an exponentially distributed jitter of mean `mean`: mostly fast, with a long
    /// tail, like real model endpoints.
    Exponential {
        /// The least a call takes.
        base: Duration,
        /// The jitter's mean.
        mean: Duration,
    },
}

impl Latency {
    fn draw(&self, rng: &mut SmallRng) -> Duration {
        match *self {
            Self::Fixed(base) => base,
            Self::Uniform { base, spread } => base + spread.mul_f64(rng.random::<f64>()),
            Self::Exponential { base, mean } => {
                // Inverse-transform sampling; 1 - u is in (0, 1], so the logarithm is finite.
                let u: f64 = rng.random();
                base + mean.mul_f64(-(1.0 - u).ln())
            }
        }
    }
}

/// A provider that answers offline, for tests and runs without a model endpoint.
///
/// Each call draws, in this order, from one seeded generator: its latency (slept on tokio's
/// clock, so tests with paused time take none), whether it fails (with probability
/// `error_rate`, one of `errors` picked uniformly). The answer is derived from the last
/// message; token counts are [`estimate_tokens`] of the prompt and answer. The same seed and the
/// same sequence of requests give the same outcomes. Failures queued with
/// [`fail_next`](Self::fail_next) come first and draw nothing.
#[derive(Debug, Clone)]
pub struct SimulatedProvider {
    name: Arc<str>,
    model: Arc<str>,
    latency: Latency,
    error_rate: f64,
    errors: Arc<[LlmError]>,
    state: Arc<Mutex<State>>,
    calls: Arc<AtomicU64>,
}

#[derive(Debug)]
struct State {
    rng: SmallRng,
    scripted: VecDeque<LlmError>,
}

impl SimulatedProvider {
    /// A provider named `name` serving `model`, seeded with `seed`: 50 ms latency, no failures.
    pub fn new(name: &str, model: &str, seed: u64) -> Self {
        Self {
            name: name.into(),
            model: model.into(),
            latency: Latency::Fixed(Duration::from_millis(50)),
            error_rate: 0.0,
            errors: Arc::from([LlmError::Server { status: 503 }]),
            state: Arc::new(Mutex::new(State { rng: SmallRng::seed_from_u64(seed), scripted: VecDeque::new() })),
            calls: Arc::new(AtomicU64::new(0)),
        }
    }

    /// How long calls take.
    pub fn latency(mut self, latency: Latency) -> Self {
        self.latency = latency;
        self
    }

    /// The share of calls that fail (clamped to `[0, 1]`), each with one of `errors` (none
    /// given: HTTP 503).
    pub fn error_rate(mut self, rate: f64, errors: Vec<LlmError>) -> Self {
        self.error_rate = rate.clamp(0.0, 1.0);
        if !errors.is_empty() {
            self.errors = errors.into();
        }
        self
    }

    /// Makes the next call fail with `error` (after its latency), before any random failure.
    /// Calls queue: each consumes one.
    pub fn fail_next(&self, error: LlmError) {
        self.lock().scripted.push_back(error);
    }

    /// Calls it has received (completions and streams, failed or not), across its clones.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Draws one call's latency and outcome, sleeps the latency, and answers.
    async fn answer(&self, request: &ChatRequest) -> Result<ChatResponse, LlmError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let (latency, failure) = {
            let mut state = self.lock();
            let latency = self.latency.draw(&mut state.rng);
            let failure = match state.scripted.pop_front() {
                Some(error) => Some(error),
                None if state.rng.random::<f64>() < self.error_rate => {
                    let pick = state.rng.random_range(0..self.errors.len());
                    Some(self.errors[pick].clone())
                }
                None => None,
            };
            (latency, failure)
        };
        tokio::time::sleep(latency).await;
        if let Some(error) = failure {
            return Err(error);
        }
        let model = request.model.as_deref().unwrap_or(&self.model).to_owned();
        let question = request.messages.last().map_or("", |m| m.content.as_str());
        let mut content = format!("{} ({model}) answers: {question}", self.name);
        let mut finish_reason = FinishReason::Stop;
        if let Some(max) = request.max_tokens
            && estimate_tokens(&content) > max
        {
            // Four characters per token, the same rule `estimate_tokens` counts by.
            content = content.chars().take(max as usize * 4).collect();
            finish_reason = FinishReason::Length;
        }
        let input_tokens = request.messages.iter().map(|m| estimate_tokens(&m.content)).sum();
        let usage = Usage { input_tokens, output_tokens: estimate_tokens(&content) };
        Ok(ChatResponse { content, model, provider: self.name.to_string(), usage, finish_reason })
    }
}

#[async_trait::async_trait]
impl LlmProvider for SimulatedProvider {
    fn name(&self) -> &str {
        &self.name
    }

    fn model(&self) -> &str {
        &self.model
    }

    async fn complete(&self, request: ChatRequest) -> Result<ChatResponse, LlmError> {
        self.answer(&request).await
    }

    /// Answers like [`complete`](LlmProvider::complete), then streams the answer word by word
    /// (each word with the whitespace before it), the last chunk carrying usage.
    async fn stream(&self, request: ChatRequest) -> Result<ChunkReceiver, LlmError> {
        let response = self.answer(&request).await?;
        let mut pieces: Vec<String> = Vec::new();
        for (i, word) in response.content.split(' ').enumerate() {
            pieces.push(if i == 0 { word.to_owned() } else { format!(" {word}") });
        }
        let (tx, rx) = mpsc::channel(pieces.len() + 1);
        let last = pieces.len() - 1;
        for (i, delta) in pieces.into_iter().enumerate() {
            let done = i == last;
            let chunk = ChatChunk {
                delta,
                finish_reason: done.then_some(response.finish_reason),
                usage: done.then_some(response.usage),
                provider: done.then(|| response.provider.clone()),
                model: done.then(|| response.model.clone()),
            };
            // The channel holds every chunk, and `rx` is alive: this cannot fail.
            let _ = tx.try_send(Ok(chunk));
        }
        Ok(rx)
    }
}
