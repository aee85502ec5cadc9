//! An LLM-backed agent: a supervised `Summarizer` that asks a chain of model providers, falls
//! back when the first one fails, and keeps count of tokens and cost.
//!
//! ```text
//!  Supervisor "llm" (one-for-one) ── Summarizer (permanent) ── Metered ── FallbackProvider "summaries"
//!                                                                          ├ primary: Retry ▸ CircuitBreaker ▸ provider
//!                                                                          └ backup:  Retry ▸ CircuitBreaker ▸ provider
//! ```
//!
//! What the run shows, offline by default (two simulated providers with exponentially
//! distributed latency): a few summaries from the primary; then the primary has an outage (a
//! scripted burst of HTTP 503s), its retry gives up, its circuit breaker opens and the backup
//! answers; the first probe after the break meets the outage's last failure and re-opens the
//! breaker for a longer break; the next probe succeeds, the breaker closes, and the primary
//! answers again. Each line says who answered, the primary's breaker state, the tokens used and
//! their cost (from a `PriceTable`); the breaker's own state changes are logged as they happen.
//! A streamed summary (printed chunk by chunk as it arrives) comes first and last, and the
//! metrics `Metered` and the breakers recorded close the run. (A simulated provider has no
//! model: its "summary" is the text it was given, cut at `max_tokens`.)
//!
//! Run: `cargo run --example llm_agent` (a few seconds, no network).
//!
//! Against a real OpenAI-compatible endpoint, build with the HTTP client and name the endpoint:
//!
//! ```text
//! RACTOR_AGENTS_LLM_BASE_URL=http://localhost:11434/v1 RACTOR_AGENTS_LLM_MODEL=llama3.2 \
//!     cargo run --features llm-http --example llm_agent
//! RACTOR_AGENTS_LLM_BASE_URL=https://api.openai.com/v1 RACTOR_AGENTS_LLM_MODEL=gpt-4o-mini \
//!     RACTOR_AGENTS_LLM_API_KEY=sk-... cargo run --features llm-http --example llm_agent
//! ```
//!
//! (optional: `RACTOR_AGENTS_LLM_TIMEOUT_SECS`, `RACTOR_AGENTS_LLM_NAME`). The endpoint is then
//! the primary, a simulated provider stays the backup, and no outage is scripted: each document
//! is summarized once. With the variable set but without `--features llm-http`, the example
//! stops with the configuration error rather than silently simulating.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use ractor_agents::llm::{
    ChatMessage, ChatRequest, FallbackProvider, Latency, LlmError, LlmProvider, Metered, PriceTable, SimulatedProvider,
    Usage, provider_from_env,
};
use ractor_agents::prelude::*;
use ractor_agents::resilience::Retry;
use ractor_agents::resilience::breaker::{BreakDuration, CircuitBreaker, SlidingWindow};

const DOCUMENTS: &[&str] = &[
    "Erlang's OTP structures programs as supervision trees: workers do the work, supervisors restart them when they crash, so a fault stays local.",
    "An actor owns its state and changes it only in response to messages; no locks are needed because nothing else can touch that state.",
    "A circuit breaker stops calling a dependency that keeps failing, fails fast instead, and lets a few probe calls through later to learn whether it recovered.",
    "Retries with exponential backoff and full jitter spread out clients that failed together, so they do not return to a recovering server in one wave.",
    "A bounded mailbox applies backpressure: a producer that outruns its consumer waits instead of filling memory.",
    "Idempotency keys let a producer resend a batch after a crash without creating duplicate work downstream.",
    "Graceful degradation turns off optional features while a dependency struggles and keeps the essential path fast.",
    "A durable queue journals every task, so work accepted before a restart is still done after it.",
];

/// A one-sentence summary and where it came from.
#[derive(Debug, Clone)]
struct Summary {
    text: String,
    /// The provider of the chain that answered (for a stream: the chain, which does not say).
    provider: String,
    model: String,
    usage: Usage,
}

/// Summarizes documents with whatever provider chain it is given.
struct Summarizer {
    llm: Arc<dyn LlmProvider>,
    summarized: u64,
}

/// The request every summary sends: an instruction and the document, with a short answer.
fn summary_request(text: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![
            ChatMessage::system("Summarize the user's text in one short sentence. Answer with the sentence only."),
            ChatMessage::user(text),
        ],
        max_tokens: Some(48),
        temperature: Some(0.2),
        ..ChatRequest::default()
    }
}

#[agent]
impl Summarizer {
    /// Summarizes `text` with one complete answer. A failure of the whole chain is the answer
    /// (an `Err`), not a crash: the agent keeps serving.
    async fn summarize(&mut self, text: String) -> Result<Summary, LlmError> {
        let answer = self.llm.complete(summary_request(&text)).await?;
        self.summarized += 1;
        Ok(Summary { text: answer.content, provider: answer.provider, model: answer.model, usage: answer.usage })
    }

    /// Summarizes `text` as a stream, printing each chunk as it arrives, and answers the whole
    /// summary once the stream ends.
    async fn summarize_streaming(&mut self, text: String) -> Result<Summary, LlmError> {
        let mut chunks = self.llm.stream(summary_request(&text)).await?;
        let mut summary = Summary {
            text: String::new(),
            provider: self.llm.name().to_owned(),
            model: self.llm.model().to_owned(),
            usage: Usage::default(),
        };
        print!("  streaming: ");
        while let Some(chunk) = chunks.recv().await {
            let chunk = chunk?;
            print!("{}", chunk.delta);
            // Flushing per chunk is the point of streaming: show text as soon as it exists.
            let _ = std::io::stdout().flush();
            summary.text.push_str(&chunk.delta);
            if let Some(usage) = chunk.usage {
                summary.usage = usage;
            }
            // The last chunk says who answered (for a chain, which provider of it).
            if let (Some(provider), Some(model)) = (chunk.provider, chunk.model) {
                (summary.provider, summary.model) = (provider, model);
            }
        }
        println!();
        self.summarized += 1;
        Ok(summary)
    }

    /// How many summaries this incarnation wrote.
    async fn summarized(&self) -> u64 {
        self.summarized
    }
}

/// The provider chain and the handles the demo reads and scripts.
struct Chain {
    llm: Arc<dyn LlmProvider>,
    primary_breaker: CircuitBreaker,
    /// The simulated primary, to script its outage (`None` with a real endpoint).
    simulated_primary: Option<SimulatedProvider>,
    /// The chain's whole-call budget, so asks can wait a little longer than it.
    budget: Duration,
}

/// `Metered(FallbackProvider[primary, backup])`, each provider behind its own breaker and retry.
/// The primary is the endpoint configured by the environment, or a simulated one.
fn build_chain(prices: PriceTable) -> Result<Chain, Box<dyn std::error::Error>> {
    // A configured endpoint without the HTTP client is an error here, not a quiet simulation.
    let (primary, simulated_primary, budget): (Arc<dyn LlmProvider>, _, _) = match provider_from_env()? {
        Some(real) => (real, None, Duration::from_secs(60)),
        None => {
            let sim = SimulatedProvider::new("primary", "sim-large", 1)
                .latency(Latency::Exponential { base: Duration::from_millis(40), mean: Duration::from_millis(30) });
            (Arc::new(sim.clone()), Some(sim), Duration::from_secs(2))
        }
    };
    let backup = SimulatedProvider::new("backup", "sim-small", 2)
        .latency(Latency::Exponential { base: Duration::from_millis(20), mean: Duration::from_millis(15) });
    // Small numbers so a handful of calls shows every state: judge the last 4 calls, open at 50 %
    // failures, break 0.5 s doubling on each failed probe, one successful probe closes it.
    let primary_breaker = CircuitBreaker::builder(primary.name())
        .window(SlidingWindow::Count(4))
        .minimum_calls(4)
        .failure_rate_threshold(0.5)
        .break_duration(BreakDuration::Exponential { initial: Duration::from_millis(500), max: Duration::from_secs(4) })
        .half_open(1, 1)
        .build()?;
    let chain = FallbackProvider::new("summaries", budget)
        .then(
            primary,
            primary_breaker.clone(),
            Retry::new("llm-primary").max_attempts(2).backoff(Duration::from_millis(20), Duration::from_millis(200)),
        )
        .then(backup, CircuitBreaker::new("backup"), Retry::new("llm-backup").max_attempts(3));
    Ok(Chain { llm: Arc::new(Metered::new(chain, prices)), primary_breaker, simulated_primary, budget })
}

/// What the demo has spent, per the price table.
#[derive(Default)]
struct Spent {
    input_tokens: u64,
    output_tokens: u64,
    usd: f64,
}

impl Spent {
    fn add(&mut self, prices: &PriceTable, summary: &Summary) -> Option<f64> {
        self.input_tokens += u64::from(summary.usage.input_tokens);
        self.output_tokens += u64::from(summary.usage.output_tokens);
        let usd = prices.cost(&summary.model, &summary.usage);
        self.usd += usd.unwrap_or(0.0);
        usd
    }
}

/// A stream's last chunk says which provider of the chain answered, and its model prices it.
fn report_stream(summary: &Summary, usd: Option<f64>) {
    println!(
        "  streamed by {}: {} + {} tokens, {}",
        summary.provider,
        summary.usage.input_tokens,
        summary.usage.output_tokens,
        cost(usd)
    );
}

fn cost(usd: Option<f64>) -> String {
    usd.map_or_else(|| "no price for this model".to_owned(), |usd| format!("${usd:.6}"))
}

/// Prints the (non-zero) metrics `Metered` and the breakers recorded (a real service would
/// export them, to Prometheus say; see docs/observability/metrics.md).
fn print_metrics(snapshotter: &Snapshotter) {
    let mut lines: Vec<String> = Vec::new();
    for (key, _, _, value) in snapshotter.snapshot().into_vec() {
        let key = key.key();
        let name = key.name();
        if !(name.starts_with("ractor_agents_llm_") || name == "ractor_agents_circuit_breaker_calls_total") {
            continue;
        }
        let labels: Vec<String> = key.labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
        let value = match value {
            DebugValue::Counter(0) => continue,
            DebugValue::Counter(n) => n.to_string(),
            DebugValue::Gauge(g) => format!("{:.6}", g.0),
            DebugValue::Histogram(samples) => format!("{} samples", samples.len()),
        };
        lines.push(format!("  {name}{{{}}} {value}", labels.join(",")));
    }
    lines.sort();
    println!("metrics recorded:\n{}", lines.join("\n"));
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Installed before the chain is built: breakers take their metric handles when created.
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder.install()?;
    // The breaker logs each state change (opened at WARN, the others at INFO).
    tracing_subscriber::fmt()
        .with_env_filter(
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn,ractor_agents::resilience::breaker=info".into()),
        )
        .with_ansi(std::io::stdout().is_terminal())
        .with_target(false)
        .without_time()
        .compact()
        .init();
    // USD per million tokens. The simulated models are priced like a large and a small hosted
    // model; add the model you point this at (local models cost nothing).
    let prices = PriceTable::new()
        .with("sim-large", 2.50, 10.00)
        .with("sim-small", 0.15, 0.60)
        .with("gpt-4o", 2.50, 10.00)
        .with("gpt-4o-mini", 0.15, 0.60);
    let chain = match build_chain(prices.clone()) {
        Ok(chain) => chain,
        Err(e) => {
            // Say what is wrong in words (`main`'s `Err` would print the error's `Debug` form).
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let ask_deadline = chain.budget + Duration::from_secs(5);
    println!(
        "summarizing with {} ({}), falling back to a simulated backup{}",
        chain.primary_breaker.name(),
        chain.llm.model(),
        if chain.simulated_primary.is_some() { "; the primary is simulated and will have an outage" } else { "" },
    );

    let llm = chain.llm.clone();
    let root = Supervisor::new("llm", Strategy::OneForOne)
        .child(
            ChildSpec::agent("summarizer", move || Summarizer { llm: llm.clone(), summarized: 0 })
                .restart(Restart::Permanent),
        )
        .start()
        .await?;
    let summarizer: SummarizerRef = root.get("summarizer")?;
    let mut spent = Spent::default();

    let streamed = summarizer.summarize_streaming(DOCUMENTS[0].into()).deadline(ask_deadline).await??;
    report_stream(&streamed, spent.add(&prices, &streamed));

    // Offline: 16 calls, the outage scripted before the 4th. A real endpoint: each document once.
    let calls = if chain.simulated_primary.is_some() { 16 } else { DOCUMENTS.len() };
    for i in 0..calls {
        if i == 3
            && let Some(primary) = &chain.simulated_primary
        {
            println!("-- the primary's outage begins: its next 3 calls fail with HTTP 503 --");
            for _ in 0..3 {
                primary.fail_next(LlmError::Server { status: 503 });
            }
        }
        let started = Instant::now();
        let answer = summarizer.summarize(DOCUMENTS[i % DOCUMENTS.len()].into()).deadline(ask_deadline).await?;
        let took = started.elapsed();
        let breaker = chain.primary_breaker.state().as_str();
        match answer {
            Ok(summary) => {
                let usd = spent.add(&prices, &summary);
                println!(
                    "[{:>2}] {:<8} answered in {:>4} ms | primary breaker {breaker:<9} | {:>3} + {:>2} tokens, {} | {}",
                    i + 1,
                    summary.provider,
                    took.as_millis(),
                    summary.usage.input_tokens,
                    summary.usage.output_tokens,
                    cost(usd),
                    summary.text.chars().take(60).collect::<String>(),
                );
            }
            Err(e) => println!("[{:>2}] no summary after {} ms: {e}", i + 1, took.as_millis()),
        }
        if chain.simulated_primary.is_some() {
            // Paced like a user, so the breaker's break elapses during the run.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    let streamed = summarizer.summarize_streaming(DOCUMENTS[1].into()).deadline(ask_deadline).await??;
    report_stream(&streamed, spent.add(&prices, &streamed));

    println!(
        "done: {} summaries, {} input + {} output tokens, ${:.6} in all; primary breaker {}",
        summarizer.summarized().await?,
        spent.input_tokens,
        spent.output_tokens,
        spent.usd,
        chain.primary_breaker.state(),
    );
    print_metrics(&snapshotter);
    root.stop().await;
    Ok(())
}
