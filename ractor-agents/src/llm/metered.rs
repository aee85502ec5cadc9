//! Usage accounting: calls, latency, tokens and cost of a provider, as metrics.

use std::collections::HashMap;
use std::sync::Arc;

use super::types::{ChatRequest, ChatResponse, Usage};
use super::{ChunkReceiver, LlmError, LlmProvider};
use crate::telemetry::metrics::llm_names;

/// What a model costs, in USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Price {
    /// USD per million prompt tokens.
    pub input_per_million: f64,
    /// USD per million answer tokens.
    pub output_per_million: f64,
}

impl Price {
    /// What `usage` costs at this price, in USD.
    pub fn cost(&self, usage: &Usage) -> f64 {
        (f64::from(usage.input_tokens) * self.input_per_million
            + f64::from(usage.output_tokens) * self.output_per_million)
            / 1_000_000.0
    }
}

/// Prices by model name. A model without a price costs nothing in the metrics (and a `DEBUG`
/// event says so), so add every model you pay for.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceTable {
    prices: HashMap<String, Price>,
}

impl PriceTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Prices `model` at `input` and `output` USD per million tokens.
    pub fn with(mut self, model: &str, input: f64, output: f64) -> Self {
        self.prices.insert(model.to_owned(), Price { input_per_million: input, output_per_million: output });
        self
    }

    /// The price of `model`, if the table has one: its own, or else that of the longest priced
    /// name it extends with a version or tag — providers answer with dated or tagged names
    /// (`gpt-4o-mini` prices `gpt-4o-mini-2024-07-18`, `llama3.2` prices `llama3.2:latest`).
    pub fn price(&self, model: &str) -> Option<Price> {
        if let Some(price) = self.prices.get(model) {
            return Some(*price);
        }
        self.prices
            .iter()
            .filter(|(name, _)| {
                model.strip_prefix(name.as_str()).is_some_and(|rest| rest.starts_with(['-', ':', '@', '/']))
            })
            .max_by_key(|(name, _)| name.len())
            .map(|(_, price)| *price)
    }

    /// What `usage` on `model` cost in USD, if the table prices it.
    pub fn cost(&self, model: &str, usage: &Usage) -> Option<f64> {
        self.price(model).map(|p| p.cost(usage))
    }
}

/// A provider whose calls are recorded as metrics: `ractor_agents_llm_calls_total`,
/// `ractor_agents_llm_call_duration_seconds`, `ractor_agents_llm_tokens_total` and
/// `ractor_agents_llm_cost_usd_total` (see `docs/observability/metrics.md`).
///
/// The `provider` label is the provider that answered (for a [`FallbackProvider`](super::FallbackProvider),
/// the one in the chain), the `model` label the model that answered (or, for a failed call, the
/// one asked for). Durations are read from tokio's clock.
#[derive(Debug, Clone)]
pub struct Metered<P> {
    inner: P,
    prices: Arc<PriceTable>,
}

impl<P: LlmProvider> Metered<P> {
    /// Records `inner`'s calls, costed by `prices`.
    pub fn new(inner: P, prices: PriceTable) -> Self {
        Self { inner, prices: Arc::new(prices) }
    }

    /// The wrapped provider.
    pub fn inner(&self) -> &P {
        &self.inner
    }

    fn requested_model(&self, request: &ChatRequest) -> String {
        request.model.clone().unwrap_or_else(|| self.inner.model().to_owned())
    }
}

/// Records one call: its outcome and how long it took.
fn record_call(provider: &str, model: &str, outcome: &'static str, seconds: f64) {
    let (provider, model) = (provider.to_owned(), model.to_owned());
    metrics::counter!(llm_names::CALLS, "provider" => provider.clone(), "model" => model.clone(), "outcome" => outcome)
        .increment(1);
    metrics::histogram!(llm_names::CALL_DURATION, "provider" => provider, "model" => model).record(seconds);
}

/// Records the tokens and cost of one answered call.
fn record_usage(prices: &PriceTable, provider: &str, model: &str, usage: &Usage) {
    let (p, m) = (provider.to_owned(), model.to_owned());
    metrics::counter!(llm_names::TOKENS, "provider" => p.clone(), "model" => m.clone(), "direction" => "input")
        .increment(u64::from(usage.input_tokens));
    metrics::counter!(llm_names::TOKENS, "provider" => p.clone(), "model" => m.clone(), "direction" => "output")
        .increment(u64::from(usage.output_tokens));
    match prices.cost(model, usage) {
        // A gauge only ever increased: metrics counters count integers, costs are fractions of a cent.
        Some(usd) => metrics::gauge!(llm_names::COST_USD, "provider" => p, "model" => m).increment(usd),
        None => tracing::debug!(provider, model, "no price for this model: its cost is not recorded"),
    }
}

#[async_trait::async_trait]
impl<P: LlmProvider> LlmProvider for Metered<P> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn model(&self) -> &str {
        self.inner.model()
    }

    async fn complete(&self, request: ChatRequest) -> Result<ChatResponse, LlmError> {
        let requested = self.requested_model(&request);
        let started = tokio::time::Instant::now();
        let result = self.inner.complete(request).await;
        let seconds = started.elapsed().as_secs_f64();
        match &result {
            Ok(response) => {
                record_call(&response.provider, &response.model, "ok", seconds);
                record_usage(&self.prices, &response.provider, &response.model, &response.usage);
            }
            Err(error) => record_call(self.inner.name(), &requested, error.kind(), seconds),
        }
        result
    }

    /// Records the call once its outcome is known: at the last chunk, labelled by the provider
    /// and model it names (for a chain, the one that answered) with its usage and cost; at an
    /// error midway, by its kind; or `cancelled` when the caller drops the stream first. The
    /// duration is the time the stream took to open. A forwarding task relays the chunks.
    async fn stream(&self, request: ChatRequest) -> Result<ChunkReceiver, LlmError> {
        let requested = self.requested_model(&request);
        let started = tokio::time::Instant::now();
        let result = self.inner.stream(request).await;
        let seconds = started.elapsed().as_secs_f64();
        let mut upstream = match result {
            Ok(rx) => rx,
            Err(error) => {
                record_call(self.inner.name(), &requested, error.kind(), seconds);
                return Err(error);
            }
        };
        let provider = self.inner.name().to_owned();
        let (tx, rx) = tokio::sync::mpsc::channel(16);
        let prices = self.prices.clone();
        tokio::spawn(async move {
            let mut recorded = false;
            while let Some(item) = upstream.recv().await {
                match &item {
                    Ok(chunk) if chunk.is_last() && !recorded => {
                        let provider = chunk.provider.as_deref().unwrap_or(&provider);
                        let model = chunk.model.as_deref().unwrap_or(&requested);
                        record_call(provider, model, "ok", seconds);
                        if let Some(usage) = &chunk.usage {
                            record_usage(&prices, provider, model, usage);
                        }
                        recorded = true;
                    }
                    Err(error) if !recorded => {
                        record_call(&provider, &requested, error.kind(), seconds);
                        recorded = true;
                    }
                    _ => {}
                }
                if tx.send(item).await.is_err() {
                    // The caller dropped the stream: dropping `upstream` cancels it upstream too.
                    break;
                }
            }
            if !recorded {
                let outcome = if tx.is_closed() { "cancelled" } else { "interrupted" };
                record_call(&provider, &requested, outcome, seconds);
            }
        });
        Ok(rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dated_and_tagged_model_names_take_their_base_models_price() {
        let prices =
            PriceTable::new().with("gpt-4o", 2.5, 10.0).with("gpt-4o-mini", 0.15, 0.6).with("llama3.2", 0.0, 0.0);
        let input = |model: &str| prices.price(model).map(|p| p.input_per_million);
        assert_eq!(input("gpt-4o-mini"), Some(0.15));
        assert_eq!(input("gpt-4o-mini-2024-07-18"), Some(0.15), "the longest priced prefix wins");
        assert_eq!(input("gpt-4o-2024-08-06"), Some(2.5));
        assert_eq!(input("llama3.2:latest"), Some(0.0));
        assert_eq!(input("gpt-4"), None);
        assert_eq!(input("gpt-4omni"), None, "a prefix counts only before a separator");
    }
}
