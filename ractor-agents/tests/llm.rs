//! LLM providers: the simulated provider, the fallback chain and usage metrics. Time is tokio's
//! paused clock (the breaker's is a `ManualClock`): no real sleeps.

use std::time::Duration;

use ractor_agents::llm::{
    ChatRequest, FailureReason, FallbackProvider, Latency, LlmError, LlmProvider, Metered, PriceTable,
    SimulatedProvider,
};
use ractor_agents::resilience::breaker::{BreakDuration, CircuitBreaker, CircuitState, SlidingWindow};
use ractor_agents::resilience::clock::ManualClock;
use ractor_agents::resilience::{Classify, Retry, RetryClass};
use tokio::time::Instant;

mod support;

use support::metrics::{Value, metric, recorder};

const MS: Duration = Duration::from_millis(1);

fn jittery(name: &str, seed: u64, error_rate: f64) -> SimulatedProvider {
    SimulatedProvider::new(name, "sim-1", seed)
        .latency(Latency::Exponential { base: 20 * MS, mean: 80 * MS })
        .error_rate(error_rate, vec![LlmError::Server { status: 502 }, LlmError::Timeout])
}

/// A breaker that opens when half of its last 4 calls (at least 4) failed, for a fixed minute.
fn breaker(name: &str, clock: &ManualClock) -> CircuitBreaker {
    CircuitBreaker::builder(name)
        .window(SlidingWindow::Count(4))
        .minimum_calls(4)
        .failure_rate_threshold(0.5)
        .break_duration(BreakDuration::Fixed(Duration::from_secs(60)))
        .clock(clock.clone())
        .build()
        .expect("a valid breaker configuration")
}

fn retry(name: &'static str, attempts: u32) -> Retry {
    Retry::new(name).max_attempts(attempts).backoff(MS, 10 * MS).without_budget().seed(3)
}

async fn outcomes(provider: &SimulatedProvider, calls: usize) -> Vec<(Duration, Result<String, LlmError>)> {
    let mut out = Vec::new();
    for i in 0..calls {
        let started = Instant::now();
        let result = provider.complete(ChatRequest::user(format!("question {i}"))).await;
        out.push((started.elapsed(), result.map(|r| r.content)));
    }
    out
}

#[tokio::test(start_paused = true)]
async fn the_same_seed_and_requests_give_the_same_latencies_failures_and_answers() {
    let first = outcomes(&jittery("sim", 7, 0.3), 30).await;
    let again = outcomes(&jittery("sim", 7, 0.3), 30).await;
    let other_seed = outcomes(&jittery("sim", 8, 0.3), 30).await;
    assert_eq!(first, again);
    assert_ne!(first, other_seed);
    assert!(first.iter().any(|(_, r)| r.is_err()) && first.iter().any(|(_, r)| r.is_ok()));
}

#[tokio::test(start_paused = true)]
async fn the_error_rate_is_honoured_over_many_calls() {
    let provider = SimulatedProvider::new("rate", "sim-1", 42).error_rate(0.2, vec![]);
    let mut failures = 0;
    for _ in 0..1000 {
        if let Err(e) = provider.complete(ChatRequest::user("hi")).await {
            assert_eq!(e, LlmError::Server { status: 503 }, "the default simulated failure");
            failures += 1;
        }
    }
    assert_eq!(failures, FAILURES_FOR_SEED_42);
    assert!((150..=250).contains(&failures), "{failures} failures in 1000 calls at a 20 % rate");
}
/// What seed 42 draws: 18.5 %, a plausible sample of a 20 % rate.
const FAILURES_FOR_SEED_42: usize = 185;

#[tokio::test(start_paused = true)]
async fn the_fallback_reaches_provider_b_when_a_fails_within_its_budget() {
    let clock = ManualClock::new();
    let a = SimulatedProvider::new("a-down", "big", 1).latency(Latency::Fixed(100 * MS)).error_rate(1.0, vec![]);
    let b = SimulatedProvider::new("b-up", "small", 2).latency(Latency::Fixed(100 * MS));
    let budget = Duration::from_secs(2);
    let chain = FallbackProvider::new("chat", budget)
        .then(a.clone(), breaker("a-down", &clock), retry("a-down", 3))
        .then(b.clone(), breaker("b-up", &clock), retry("b-up", 3));

    let started = Instant::now();
    let answer = chain.complete(ChatRequest::user("hello")).await.unwrap();
    assert_eq!(answer.provider, "b-up");
    assert_eq!(answer.model, "small");
    assert_eq!(a.calls(), 3, "A was retried to its maximum before the chain moved on");
    assert_eq!(b.calls(), 1);
    assert!(started.elapsed() <= budget);
}

#[tokio::test(start_paused = true)]
async fn a_chain_out_of_budget_stops_and_lists_every_providers_failure() {
    let clock = ManualClock::new();
    let a = SimulatedProvider::new("a-slow", "big", 1).latency(Latency::Fixed(Duration::from_secs(30)));
    let b = SimulatedProvider::new("b-never", "small", 2);
    let chain = FallbackProvider::new("chat", Duration::from_secs(1))
        .then(a, breaker("a-slow", &clock), retry("a-slow", 1))
        .then(b.clone(), breaker("b-never", &clock), retry("b-never", 1));

    let started = Instant::now();
    let error = chain.complete(ChatRequest::user("hello")).await.unwrap_err();
    assert_eq!(started.elapsed(), Duration::from_secs(1));
    let LlmError::Exhausted { failures } = &error else { panic!("expected Exhausted, got {error:?}") };
    let names: Vec<&str> = failures.iter().map(|f| &*f.provider).collect();
    assert_eq!(names, ["a-slow", "b-never"]);
    assert!(failures.iter().all(|f| f.reason == FailureReason::OutOfBudget));
    assert_eq!(b.calls(), 0);
    assert!(error.to_string().contains("a-slow: the time budget ran out"), "{error}");
}

#[tokio::test(start_paused = true)]
async fn a_breaker_opens_after_its_threshold_and_its_provider_is_then_skipped_at_once() {
    let clock = ManualClock::new();
    let a = SimulatedProvider::new("a-tripping", "big", 1).latency(Latency::Fixed(100 * MS)).error_rate(1.0, vec![]);
    let b = SimulatedProvider::new("b-backup", "small", 2).latency(Latency::Fixed(10 * MS));
    let chain = FallbackProvider::new("chat", Duration::from_secs(5))
        .then(a.clone(), breaker("a-tripping", &clock), retry("a-tripping", 1))
        .then(b, breaker("b-backup", &clock), retry("b-backup", 1));

    for _ in 0..4 {
        assert_eq!(chain.complete(ChatRequest::user("q")).await.unwrap().provider, "b-backup");
    }
    assert_eq!(chain.breaker("a-tripping").unwrap().state(), CircuitState::Open);
    assert_eq!(a.calls(), 4);

    let started = Instant::now();
    assert_eq!(chain.complete(ChatRequest::user("q")).await.unwrap().provider, "b-backup");
    assert_eq!(a.calls(), 4, "A was not called while its breaker is open");
    assert_eq!(started.elapsed(), 10 * MS, "only B's latency: A was skipped without waiting");
}

#[tokio::test(start_paused = true)]
async fn a_retry_after_from_provider_a_is_honoured_by_its_retry() {
    let clock = ManualClock::new();
    let a = SimulatedProvider::new("a-limited", "big", 1).latency(Latency::Fixed(10 * MS));
    a.fail_next(LlmError::RateLimited { retry_after: Some(Duration::from_secs(3)) });
    let chain = FallbackProvider::new("chat", Duration::from_secs(10)).then(
        a.clone(),
        breaker("a-limited", &clock),
        retry("a-limited", 2),
    );

    let started = Instant::now();
    let answer = chain.complete(ChatRequest::user("q")).await.unwrap();
    assert_eq!(answer.provider, "a-limited");
    assert_eq!(a.calls(), 2);
    assert!(started.elapsed() >= Duration::from_secs(3) + 20 * MS, "waited {:?}", started.elapsed());
}

#[tokio::test(start_paused = true)]
async fn streaming_yields_chunks_that_concatenate_to_the_full_answer() {
    let whole = SimulatedProvider::new("streamer", "sim-1", 5).complete(ChatRequest::user("tell me a story")).await;
    let mut rx =
        SimulatedProvider::new("streamer", "sim-1", 5).stream(ChatRequest::user("tell me a story")).await.unwrap();
    let whole = whole.unwrap();
    let (mut text, mut chunks, mut last) = (String::new(), 0, None);
    while let Some(chunk) = rx.recv().await {
        let chunk = chunk.unwrap();
        text.push_str(&chunk.delta);
        chunks += 1;
        last = Some(chunk);
    }
    assert_eq!(text, whole.content);
    assert!(chunks > 1, "the answer came in {chunks} chunk(s)");
    let last = last.unwrap();
    assert_eq!(last.usage, Some(whole.usage));
    assert_eq!(last.finish_reason, Some(whole.finish_reason));
}

#[test]
fn llm_errors_classify_429_as_retry_after_5xx_and_timeouts_as_retryable_and_bad_requests_as_permanent() {
    let after = Duration::from_secs(2);
    assert_eq!(LlmError::RateLimited { retry_after: Some(after) }.retry_class(), RetryClass::RetryAfter(after));
    assert_eq!(LlmError::RateLimited { retry_after: None }.retry_class(), RetryClass::Retryable);
    assert_eq!(LlmError::Server { status: 503 }.retry_class(), RetryClass::Retryable);
    assert_eq!(LlmError::Timeout.retry_class(), RetryClass::Retryable);
    assert_eq!(LlmError::Malformed { detail: "x".into() }.retry_class(), RetryClass::Permanent);
    assert_eq!(LlmError::InvalidRequest { detail: "x".into() }.retry_class(), RetryClass::Permanent);
}

#[tokio::test(start_paused = true)]
async fn usage_and_cost_metrics_are_recorded_per_provider_and_model() {
    recorder();
    let provider = SimulatedProvider::new("metered-sim", "m-1", 9);
    provider.fail_next(LlmError::Server { status: 500 });
    let metered = Metered::new(provider, PriceTable::new().with("m-1", 3.0, 15.0));

    assert!(metered.complete(ChatRequest::user("first")).await.is_err());
    let answer = metered.complete(ChatRequest::user("what does this cost?")).await.unwrap();

    let who = [("provider", "metered-sim"), ("model", "m-1")];
    let with = |extra: (&'static str, &'static str)| [who[0], who[1], extra];
    assert_eq!(metric("ractor_agents_llm_calls_total", &with(("outcome", "ok"))), Some(Value::Counter(1)));
    assert_eq!(metric("ractor_agents_llm_calls_total", &with(("outcome", "server_error"))), Some(Value::Counter(1)));
    assert_eq!(
        metric("ractor_agents_llm_tokens_total", &with(("direction", "input"))),
        Some(Value::Counter(u64::from(answer.usage.input_tokens)))
    );
    assert_eq!(
        metric("ractor_agents_llm_tokens_total", &with(("direction", "output"))),
        Some(Value::Counter(u64::from(answer.usage.output_tokens)))
    );
    let expected =
        (f64::from(answer.usage.input_tokens) * 3.0 + f64::from(answer.usage.output_tokens) * 15.0) / 1_000_000.0;
    let Some(Value::Gauge(cost)) = metric("ractor_agents_llm_cost_usd_total", &who) else { panic!("no cost recorded") };
    assert!((cost - expected).abs() < 1e-12, "cost {cost} ≠ {expected}");
    let Some(Value::Histogram(durations)) = metric("ractor_agents_llm_call_duration_seconds", &who) else {
        panic!("no durations recorded")
    };
    assert_eq!(durations.len(), 2, "both calls, failed or not, are timed");
}

#[tokio::test(start_paused = true)]
async fn invalid_requests_are_not_retried_and_do_not_open_the_providers_breaker() {
    let clock = ManualClock::new();
    let a = SimulatedProvider::new("a-picky", "big", 1);
    let chain = FallbackProvider::new("chat", Duration::from_secs(5)).then(
        a.clone(),
        breaker("a-picky", &clock),
        retry("a-picky", 3),
    );
    for _ in 0..6 {
        a.fail_next(LlmError::InvalidRequest { detail: "unknown model".into() });
        let error = chain.complete(ChatRequest::user("q")).await.unwrap_err();
        assert_eq!(error.retry_class(), RetryClass::Permanent, "a chain failing only permanently: {error}");
    }
    assert_eq!(a.calls(), 6, "one call per request: a permanent error is not retried");
    assert_eq!(chain.breaker("a-picky").unwrap().state(), CircuitState::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_metered_stream_relays_every_chunk_and_records_its_tokens() {
    recorder();
    let metered = Metered::new(SimulatedProvider::new("metered-stream", "m-2", 4), PriceTable::new());
    let mut rx = metered.stream(ChatRequest::user("stream this answer please")).await.unwrap();
    let (mut text, mut usage) = (String::new(), None);
    while let Some(chunk) = rx.recv().await {
        let chunk = chunk.unwrap();
        text.push_str(&chunk.delta);
        usage = chunk.usage.or(usage);
    }
    let usage = usage.expect("the last chunk carries usage");
    assert!(text.ends_with("stream this answer please"), "{text}");
    // The forwarding task records after relaying the last chunk: wait for it (paused time).
    let output = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let tokens = [("provider", "metered-stream"), ("direction", "output")];
            if let Some(value) = metric("ractor_agents_llm_tokens_total", &tokens) {
                return value;
            }
            tokio::time::sleep(MS).await;
        }
    });
    assert_eq!(output.await.unwrap(), Value::Counter(u64::from(usage.output_tokens)));
}

#[tokio::test(start_paused = true)]
async fn a_metered_chain_streams_labels_the_provider_that_answered_and_counts_cancelled_streams() {
    recorder();
    let clock = ManualClock::new();
    let primary = SimulatedProvider::new("stream-primary", "big", 1);
    primary.fail_next(LlmError::Server { status: 503 });
    let chain = FallbackProvider::new("stream-chain", Duration::from_secs(5))
        .then(primary.clone(), breaker("stream-primary", &clock), Retry::new("stream-primary").max_attempts(1))
        .then(
            SimulatedProvider::new("stream-backup", "small", 2),
            breaker("stream-backup", &clock),
            Retry::new("stream-backup"),
        );
    let metered = Metered::new(chain, PriceTable::new().with("small", 1.0, 1.0));

    let mut rx = metered.stream(ChatRequest::user("who answers?")).await.unwrap();
    let mut last = None;
    while let Some(chunk) = rx.recv().await {
        last = Some(chunk.unwrap());
    }
    let last = last.unwrap();
    assert_eq!((last.provider.as_deref(), last.model.as_deref()), (Some("stream-backup"), Some("small")));

    // The primary answers this one, at length (more chunks than the relay buffers); the caller
    // walks away after the first chunk.
    let long_question = "why ".repeat(100);
    let mut rx = metered.stream(ChatRequest::user(long_question)).await.unwrap();
    rx.recv().await.unwrap().unwrap();
    drop(rx);

    let calls = |provider: &str, outcome: &str| {
        let labels = [("provider", provider), ("outcome", outcome)];
        metric("ractor_agents_llm_calls_total", &labels)
    };
    let settled = tokio::time::timeout(Duration::from_secs(10), async {
        while calls("stream-chain", "cancelled").is_none() {
            tokio::time::sleep(MS).await;
        }
    });
    settled.await.expect("the cancelled stream is recorded");
    assert_eq!(calls("stream-backup", "ok"), Some(Value::Counter(1)), "labelled by who answered, not the chain");
    assert_eq!(calls("stream-chain", "cancelled"), Some(Value::Counter(1)));
    assert_eq!(calls("stream-chain", "ok"), None);
    let cost = metric("ractor_agents_llm_cost_usd_total", &[("provider", "stream-backup"), ("model", "small")]);
    assert!(matches!(cost, Some(Value::Gauge(usd)) if usd > 0.0), "{cost:?}");
}
