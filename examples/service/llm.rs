//! The service's LLM side: the analyzers' provider chain, what it answered, and the offline
//! outages that show its breakers and fallback at work.

use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ractor_agents::llm::{
    ChatMessage, ChatRequest, ChatResponse, ChunkReceiver, FallbackProvider, Latency, LlmError, LlmProvider, Metered,
    PriceTable, SimulatedProvider,
};
use ractor_agents::resilience::Retry;
use ractor_agents::resilience::breaker::{BreakDuration, CircuitBreaker, SlidingWindow};

/// The analyzers' summarizer: a provider chain and the tally the report reads.
pub(crate) struct Summaries {
    chain: Arc<dyn LlmProvider>,
    primary_breaker: CircuitBreaker,
    prices: PriceTable,
    tally: Mutex<LlmTally>,
    /// The simulated providers, to say in the report which are down on schedule.
    outages: Vec<Arc<ScheduledOutage>>,
}

/// What the chain answered this run.
#[derive(Default)]
struct LlmTally {
    /// Summaries written, by the provider that wrote them (in chain order).
    answers: Vec<(String, u64)>,
    /// Documents analyzed without a summary because every provider failed.
    degraded: u64,
    input_tokens: u64,
    output_tokens: u64,
    usd: f64,
}

impl Summaries {
    /// A one-sentence summary of `text`, or `None` when the whole chain failed (counted as
    /// degraded; the reason is a DEBUG event).
    pub(crate) async fn summarize(&self, text: &str) -> Option<ChatResponse> {
        let request = ChatRequest {
            messages: vec![
                ChatMessage::system("Summarize the document in one sentence. Answer with the sentence only."),
                ChatMessage::user(text),
            ],
            max_tokens: Some(40),
            temperature: Some(0.0),
            ..ChatRequest::default()
        };
        let result = self.chain.complete(request).await;
        let mut tally = self.tally.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(answer) => {
                match tally.answers.iter_mut().find(|(p, _)| *p == answer.provider) {
                    Some((_, n)) => *n += 1,
                    None => tally.answers.push((answer.provider.clone(), 1)),
                }
                tally.input_tokens += u64::from(answer.usage.input_tokens);
                tally.output_tokens += u64::from(answer.usage.output_tokens);
                tally.usd += self.prices.cost(&answer.model, &answer.usage).unwrap_or(0.0);
                Some(answer)
            }
            Err(error) => {
                tally.degraded += 1;
                tracing::debug!(%error, "no summary: analyzing without one");
                None
            }
        }
    }

    /// The report's llm part: answers by provider, degraded documents, the primary's breaker.
    pub(crate) fn report(&self) -> String {
        let tally = self.tally.lock().unwrap_or_else(|e| e.into_inner());
        let answers: Vec<String> = tally.answers.iter().map(|(p, n)| format!("{p} {n}")).collect();
        let down: Vec<&str> = self.outages.iter().filter(|o| o.is_down()).map(|o| o.name()).collect();
        format!(
            "llm: answered by {} | degraded {} | primary breaker {}{}",
            answers.join(", "),
            tally.degraded,
            self.primary_breaker.state(),
            if down.is_empty() { String::new() } else { format!(" | scheduled outage: {} down", down.join(", ")) },
        )
    }

    /// The primary provider's name.
    pub(crate) fn primary(&self) -> &str {
        self.primary_breaker.name()
    }

    /// The final line's llm part: tokens and their cost.
    pub(crate) fn spent(&self) -> String {
        let tally = self.tally.lock().unwrap_or_else(|e| e.into_inner());
        format!(
            "llm: {} summaries, {} degraded, {} input + {} output tokens, ${:.4}",
            tally.answers.iter().map(|(_, n)| n).sum::<u64>(),
            tally.degraded,
            tally.input_tokens,
            tally.output_tokens,
            tally.usd,
        )
    }
}

/// A simulated provider that is down at set times: during `down` of every `every` (measured
/// from when it was built), each call is scripted to fail with HTTP 503 ([`SimulatedProvider::fail_next`])
/// just before it is made, so failures take the provider's usual latency.
#[derive(Debug)]
struct ScheduledOutage {
    inner: SimulatedProvider,
    since: Instant,
    every: Duration,
    down: Range<Duration>,
}

impl ScheduledOutage {
    fn is_down(&self) -> bool {
        let into_period = self.since.elapsed().as_nanos() % self.every.as_nanos().max(1);
        self.down.contains(&Duration::from_nanos(u64::try_from(into_period).unwrap_or(u64::MAX)))
    }

    fn script(&self) {
        if self.is_down() {
            self.inner.fail_next(LlmError::Server { status: 503 });
        }
    }
}

#[async_trait::async_trait]
impl LlmProvider for ScheduledOutage {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn model(&self) -> &str {
        self.inner.model()
    }

    async fn complete(&self, request: ChatRequest) -> Result<ChatResponse, LlmError> {
        self.script();
        self.inner.complete(request).await
    }

    async fn stream(&self, request: ChatRequest) -> Result<ChunkReceiver, LlmError> {
        self.script();
        self.inner.stream(request).await
    }
}

/// The analyzers' provider chain: `Metered(FallbackProvider[primary, backup])`, each provider
/// behind its own retry and circuit breaker.
///
/// `real` (the endpoint configured by `RACTOR_AGENTS_LLM_*`, if any) is the primary, and the
/// backup is simulated. Offline both are simulated, on a schedule of outages: the primary is
/// down from 1 s to 3 s of every 10 s, the backup from 2 s to 2.5 s, so both are sometimes down
/// at once.
pub(crate) fn summary_chain(real: Option<Arc<dyn LlmProvider>>) -> Result<Summaries, Box<dyn std::error::Error>> {
    let offline = real.is_none();
    let simulated = |name: &str, model: &str, seed: u64, down_ms: Range<u64>| {
        Arc::new(ScheduledOutage {
            // Fast enough that ~32 workers keep up with ~2,000 documents a second.
            inner: SimulatedProvider::new(name, model, seed)
                .latency(Latency::Exponential { base: Duration::from_millis(2), mean: Duration::from_millis(3) }),
            since: Instant::now(),
            every: Duration::from_secs(10),
            down: if offline {
                Duration::from_millis(down_ms.start)..Duration::from_millis(down_ms.end)
            } else {
                Duration::ZERO..Duration::ZERO
            },
        })
    };
    let backup = simulated("backup", "sim-small", 2, 2000..2500);
    let mut outages = vec![backup.clone()];
    let (primary, budget): (Arc<dyn LlmProvider>, Duration) = match real {
        Some(real) => (real, Duration::from_secs(30)),
        None => {
            let primary = simulated("primary", "sim-large", 1, 1000..3000);
            outages.insert(0, primary.clone());
            (primary, Duration::from_millis(250))
        }
    };
    // The default breaker is made for a few calls a second (it judges 30 s of calls). Offline
    // there are thousands a second: judge the last 100 calls instead, so an outage trips it
    // within milliseconds; break 1 s, doubling while probes keep failing.
    let breaker = |name: &str| {
        if offline {
            CircuitBreaker::builder(name)
                .window(SlidingWindow::Count(100))
                .minimum_calls(20)
                .break_duration(BreakDuration::Exponential {
                    initial: Duration::from_secs(1),
                    max: Duration::from_secs(8),
                })
                .build()
        } else {
            Ok(CircuitBreaker::new(name))
        }
    };
    let primary_name = primary.name().to_owned();
    let primary_breaker = breaker(&primary_name)?;
    let (base, cap) = if offline {
        (Duration::from_millis(5), Duration::from_millis(50))
    } else {
        (Duration::from_millis(500), Duration::from_secs(5))
    };
    let retry = |name| Retry::new(name).max_attempts(2).backoff(base, cap);
    let chain = FallbackProvider::new("summaries", budget)
        .then(primary, primary_breaker.clone(), retry("llm-primary"))
        .then(backup, breaker("backup")?, retry("llm-backup"));
    // USD per million tokens; the simulated models are priced like a large and a small hosted model.
    let prices = PriceTable::new()
        .with("sim-large", 2.50, 10.00)
        .with("sim-small", 0.15, 0.60)
        .with("gpt-4o", 2.50, 10.00)
        .with("gpt-4o-mini", 0.15, 0.60);
    Ok(Summaries {
        chain: Arc::new(Metered::new(chain, prices.clone())),
        primary_breaker,
        prices,
        tally: Mutex::new(LlmTally { answers: vec![(primary_name, 0), ("backup".into(), 0)], ..LlmTally::default() }),
        outages,
    })
}
