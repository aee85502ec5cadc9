//! The client under the resilience policies, over real HTTP: the breaker opens and probes, a
//! retry waits out Retry-After, and the fallback chain reaches the second provider within its
//! budget (graceful degradation strategy 1, end to end).

use std::time::{Duration, Instant};

use ractor_agents::llm::{
    ChatRequest, FailureReason, FallbackProvider, LlmError, LlmProvider, Metered, OpenAiConfig, OpenAiProvider,
    PriceTable,
};
use ractor_agents::resilience::Retry;
use ractor_agents::resilience::breaker::{BreakDuration, BreakerError, CircuitBreaker, CircuitState, SlidingWindow};
use ractor_agents::resilience::clock::ManualClock;

use super::server::{Reply, TestServer};
use super::{client, metrics};

const BREAK: Duration = Duration::from_secs(30);

/// Judges after 4 calls at 50 % failures; opens for [`BREAK`] on `clock`; one probe closes it.
fn breaker(name: &str, clock: &ManualClock) -> CircuitBreaker {
    CircuitBreaker::builder(name)
        .window(SlidingWindow::Count(10))
        .minimum_calls(4)
        .failure_rate_threshold(0.5)
        .break_duration(BreakDuration::Fixed(BREAK))
        .half_open(1, 1)
        .clock(clock.clone())
        .build()
        .unwrap()
}

fn provider_failure(e: &LlmError) -> bool {
    e.is_provider_failure()
}

#[tokio::test]
async fn the_breaker_opens_after_its_threshold_and_probes_in_half_open() {
    let server = TestServer::start(Reply::Status(500, "boom")).await;
    let llm = client(&server, "a");
    let clock = ManualClock::new();
    let breaker = breaker("a", &clock);
    let call = || breaker.call_with(&provider_failure, || llm.complete(ChatRequest::user("hi")));

    for _ in 0..4 {
        assert!(matches!(call().await, Err(BreakerError::Inner(LlmError::Server { status: 500 }))));
    }
    assert_eq!(breaker.state(), CircuitState::Open);
    for _ in 0..10 {
        assert!(matches!(call().await, Err(BreakerError::Open(_))));
    }
    assert_eq!(server.requests(), 4, "an open breaker sends nothing");

    // The break ends while the server is still failing: the one probe fails and re-opens it.
    clock.advance(BREAK);
    assert!(matches!(call().await, Err(BreakerError::Inner(LlmError::Server { status: 500 }))));
    assert_eq!(breaker.state(), CircuitState::Open);
    assert!(matches!(call().await, Err(BreakerError::Open(_))));
    assert_eq!(server.requests(), 5);

    // The server recovers. After the next break, of three concurrent callers only one probes
    // (half_open(1, ..)); its success closes the circuit.
    server.answer_by_default(Reply::Slow("back", Duration::from_millis(200)));
    clock.advance(BREAK);
    let (first, second, third) = tokio::join!(call(), call(), call());
    let results = [first, second, third];
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1, "{results:?}");
    assert_eq!(results.iter().filter(|r| matches!(r, Err(BreakerError::Open(_)))).count(), 2, "{results:?}");
    assert_eq!(server.requests(), 6);
    assert_eq!(breaker.state(), CircuitState::Closed);
    assert_eq!(call().await.unwrap().content, "back");
}

#[tokio::test]
async fn a_retry_waits_out_the_servers_retry_after_and_gives_up_when_it_is_too_long() {
    let server = TestServer::start(Reply::Answer("worth the wait")).await;
    server.then(Reply::RateLimited(Some("1")));
    let llm = client(&server, "a");
    // Backoff of at most 1 ms: any wait near a second is the server's Retry-After.
    let retry = Retry::new("llm-http-retry-after")
        .max_attempts(3)
        .backoff(Duration::from_millis(1), Duration::from_millis(1))
        .seed(3);
    let answer = retry.run(|| llm.complete(ChatRequest::user("hi"))).await.unwrap();
    assert_eq!(answer.content, "worth the wait");
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    let waited = seen[1].at - seen[0].at;
    assert!(waited >= Duration::from_secs(1), "retried after {waited:?}, before the server's Retry-After: 1");

    // A Retry-After longer than the policy accepts ends the retries at once.
    server.then(Reply::RateLimited(Some("3600")));
    let patient_enough = Retry::new("llm-http-retry-after-cap").max_attempts(3).max_retry_after(Duration::from_secs(5));
    let error = patient_enough.run(|| llm.complete(ChatRequest::user("hi"))).await.unwrap_err();
    assert_eq!(error, LlmError::RateLimited { retry_after: Some(Duration::from_secs(3600)) });
    assert_eq!(server.requests(), 3, "no second attempt");
}

#[tokio::test]
async fn the_fallback_reaches_provider_b_within_its_budget_and_returns_to_a_once_it_recovers() {
    metrics::recorder();
    let (a, b) = (TestServer::start(Reply::Hang).await, TestServer::start(Reply::Answer("from b")).await);
    let impatient = OpenAiConfig::new(a.url(), "big").unwrap().provider_name("a").timeout(Duration::from_millis(150));
    let clock = ManualClock::new();
    let budget = Duration::from_secs(3);
    let chain = FallbackProvider::new("chat", budget)
        .then(
            OpenAiProvider::new(impatient).unwrap(),
            breaker("a", &clock),
            Retry::new("llm-http-a")
                .max_attempts(2)
                .backoff(Duration::from_millis(5), Duration::from_millis(20))
                .seed(1),
        )
        .then(client(&b, "b"), breaker("b", &clock), Retry::new("llm-http-b").seed(2));
    let chain = Metered::new(chain, PriceTable::new().with("test-model", 1.0, 2.0));

    // a hangs: each call tries it twice (150 ms timeouts), then b answers, well within budget.
    for round in 1..=2 {
        let started = Instant::now();
        let answer = chain.complete(ChatRequest::user("hi")).await.unwrap();
        assert_eq!((answer.provider.as_str(), answer.content.as_str()), ("b", "from b"));
        assert!(started.elapsed() < budget, "round {round} took {:?}", started.elapsed());
        assert_eq!(a.requests(), 2 * round);
    }
    // Four timeouts opened a's breaker: a is skipped without a call.
    assert_eq!(chain.inner().breaker("a").unwrap().state(), CircuitState::Open);
    assert_eq!(chain.complete(ChatRequest::user("hi")).await.unwrap().provider, "b");
    assert_eq!(a.requests(), 4);

    // a recovers; after its break, the next call probes it, closes its breaker, and a answers again.
    a.answer_by_default(Reply::Answer("from a"));
    clock.advance(BREAK);
    let answer = chain.complete(ChatRequest::user("hi")).await.unwrap();
    assert_eq!((answer.provider.as_str(), answer.content.as_str()), ("a", "from a"));
    assert_eq!(chain.inner().breaker("a").unwrap().state(), CircuitState::Closed);
    assert_eq!(b.requests(), 3);

    // The answers were metered by the provider that gave them.
    let calls =
        |provider| metrics::counter("ractor_agents_llm_calls_total", &[("provider", provider), ("outcome", "ok")]);
    assert_eq!((calls("b"), calls("a")), (3, 1));
    assert!(metrics::counter("ractor_agents_llm_tokens_total", &[("provider", "b"), ("direction", "output")]) >= 6);
}

#[tokio::test]
async fn when_every_provider_hangs_the_chain_fails_when_its_budget_runs_out() {
    let (a, b) = (TestServer::start(Reply::Hang).await, TestServer::start(Reply::Hang).await);
    let clock = ManualClock::new();
    let budget = Duration::from_millis(400);
    let chain = FallbackProvider::new("chat", budget)
        .then(client(&a, "a"), breaker("a", &clock), Retry::new("llm-http-hang-a"))
        .then(client(&b, "b"), breaker("b", &clock), Retry::new("llm-http-hang-b"));
    let started = Instant::now();
    let error = chain.complete(ChatRequest::user("hi")).await.unwrap_err();
    let LlmError::Exhausted { failures } = error else { panic!("expected Exhausted, got {error:?}") };
    assert_eq!(failures.len(), 2);
    assert!(failures.iter().all(|f| f.reason == FailureReason::OutOfBudget), "{failures:?}");
    // The clients' own timeouts are 5 s: only the budget can have ended this.
    assert!(started.elapsed() < Duration::from_secs(5), "took {:?}", started.elapsed());
    assert_eq!((a.requests(), b.requests()), (1, 0), "a spent the budget; b was never tried");
}

#[tokio::test]
async fn a_streaming_chain_falls_back_while_opening_and_then_streams_from_b() {
    let (a, b) =
        (TestServer::start(Reply::Status(503, "down")).await, TestServer::start(Reply::Answer("streamed by b")).await);
    let clock = ManualClock::new();
    let chain = FallbackProvider::new("chat", Duration::from_secs(5))
        .then(client(&a, "a"), breaker("a", &clock), Retry::new("llm-http-stream-a").max_attempts(1))
        .then(client(&b, "b"), breaker("b", &clock), Retry::new("llm-http-stream-b"));
    let mut rx = chain.stream(ChatRequest::user("hi")).await.unwrap();
    let mut text = String::new();
    while let Some(chunk) = rx.recv().await {
        text.push_str(&chunk.unwrap().delta);
    }
    assert_eq!(text, "streamed by b");
    assert_eq!((a.requests(), b.requests()), (1, 1));
}
