//! The resilience policies (retry, timeout, bulkhead, rate limit, fallback), alone and composed,
//! as async wrappers and as tower layers. Time is tokio's paused clock; jitter is seeded.
//! Rate limit, fallback, composition and metrics tests are in `resilience_policies/`.

mod support;

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ractor_agents::resilience::{
    Bulkhead, BulkheadLayer, BulkheadRejected, Classify, Elapsed, Fallback, FallbackError, FallbackLayer, FullJitter,
    RateLimitLayer, RateLimiter, Retry, RetryBudget, RetryClass, RetryLayer, Timeout, TimeoutLayer,
};
use ractor_agents::telemetry::metrics::resilience_names;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::time::Instant;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt, service_fn};

#[path = "resilience_policies/composition.rs"]
mod composition;
#[path = "resilience_policies/fallback.rs"]
mod fallback;
#[path = "resilience_policies/metrics.rs"]
mod metrics_counted;
#[path = "resilience_policies/rate_limit.rs"]
mod rate_limit;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum CallError {
    #[error("transient failure")]
    Transient,
    #[error("permanent failure")]
    Permanent,
    #[error("cancelled")]
    Cancelled,
    #[error("throttled for {0:?}")]
    Throttled(Duration),
    #[error(transparent)]
    TimedOut(#[from] Elapsed),
    #[error(transparent)]
    Rejected(#[from] BulkheadRejected),
}

impl Classify for CallError {
    fn retry_class(&self) -> RetryClass {
        match self {
            CallError::Transient | CallError::TimedOut(_) => RetryClass::Retryable,
            CallError::Permanent | CallError::Rejected(_) => RetryClass::Permanent,
            CallError::Cancelled => RetryClass::Cancelled,
            CallError::Throttled(after) => RetryClass::RetryAfter(*after),
        }
    }
}

/// Calls `fail_first` times with `error`, then succeeds; remembers when each attempt started.
#[derive(Clone, Default)]
struct Flaky {
    attempts: Arc<Mutex<Vec<Instant>>>,
}

impl Flaky {
    async fn call(&self, fail_first: usize, error: CallError) -> Result<u32, CallError> {
        let mut attempts = self.attempts.lock().expect("not poisoned");
        attempts.push(Instant::now());
        if attempts.len() <= fail_first { Err(error) } else { Ok(attempts.len() as u32) }
    }

    fn count(&self) -> usize {
        self.attempts.lock().expect("not poisoned").len()
    }

    fn gaps(&self) -> Vec<Duration> {
        self.attempts.lock().expect("not poisoned").windows(2).map(|w| w[1] - w[0]).collect()
    }
}

/// Sets its flag when dropped, so a test sees that a future was cancelled.
struct DropFlag(Arc<AtomicBool>);

impl Drop for DropFlag {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

async fn until(mut condition: impl FnMut() -> bool) {
    for _ in 0..10_000 {
        if condition() {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("condition not reached after 10 000 yields");
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

// ---- retry ----

#[tokio::test(start_paused = true)]
async fn retry_makes_at_most_max_attempts_calls_then_returns_the_last_error() {
    let flaky = Flaky::default();
    let retry = Retry::new("t").max_attempts(4).without_budget().seed(1);
    let answer = retry.run(|| flaky.call(usize::MAX, CallError::Transient)).await;
    assert_eq!(answer, Err(CallError::Transient));
    assert_eq!(flaky.count(), 4);

    let recovers = Flaky::default();
    assert_eq!(retry.run(|| recovers.call(2, CallError::Transient)).await, Ok(3));
}

#[tokio::test(start_paused = true)]
async fn retry_waits_are_full_jitter_within_zero_and_the_capped_exponential_ceiling() {
    let flaky = Flaky::default();
    let (base, cap) = (ms(10), ms(50));
    let retry = Retry::new("t").max_attempts(8).backoff(base, cap).without_budget().seed(7);
    let _ = retry.run(|| flaky.call(usize::MAX, CallError::Transient)).await;
    let gaps = flaky.gaps();
    assert_eq!(gaps.len(), 7);
    let schedule = FullJitter { base, cap };
    let ceilings: Vec<Duration> = (0..7).map(|n| schedule.ceiling(n)).collect();
    assert_eq!(ceilings, [ms(10), ms(20), ms(40), ms(50), ms(50), ms(50), ms(50)]);
    for (gap, ceiling) in gaps.iter().zip(&ceilings) {
        assert!(gap <= ceiling, "waited {gap:?}, ceiling {ceiling:?}");
    }

    // The same seed gives the same waits; the delays cover the whole range [0, cap].
    let again = Flaky::default();
    let _ = Retry::new("t")
        .max_attempts(8)
        .backoff(base, cap)
        .without_budget()
        .seed(7)
        .run(|| again.call(usize::MAX, CallError::Transient))
        .await;
    assert_eq!(again.gaps(), gaps);
    let mut rng = SmallRng::seed_from_u64(3);
    let samples: Vec<Duration> = (0..2000).map(|_| schedule.delay(10, &mut rng)).collect();
    assert!(samples.iter().all(|d| *d <= cap));
    assert!(samples.iter().any(|d| *d < cap / 10), "no delay in the lowest tenth");
    assert!(samples.iter().any(|d| *d > cap * 9 / 10), "no delay in the highest tenth");
}

#[tokio::test(start_paused = true)]
async fn an_exhausted_budget_stops_retries_until_successes_earn_more() {
    // No per-second floor: only successes earn retries, half a retry each.
    let budget = Arc::new(RetryBudget::new(0.5, 0));
    let retry = Retry::new("t").max_attempts(10).budget(budget.clone()).seed(1);
    let failing = Flaky::default();
    assert!(retry.run(|| failing.call(usize::MAX, CallError::Transient)).await.is_err());
    assert_eq!(failing.count(), 1, "an empty budget allows no retry");

    let healthy = Flaky::default();
    for _ in 0..4 {
        healthy.attempts.lock().unwrap().clear();
        retry.run(|| healthy.call(0, CallError::Transient)).await.unwrap();
    }
    let failing = Flaky::default();
    assert!(retry.run(|| failing.call(usize::MAX, CallError::Transient)).await.is_err());
    assert_eq!(failing.count(), 3, "four successes earn two retries");
}

#[tokio::test(start_paused = true)]
async fn the_budgets_per_second_floor_allows_a_few_retries_and_refills_with_time() {
    let budget = RetryBudget::new(0.0, 2);
    assert!(budget.withdraw());
    assert!(budget.withdraw());
    assert!(!budget.withdraw());
    tokio::time::advance(ms(500)).await;
    assert!(budget.withdraw(), "half a second refills one retry at 2 per second");
    assert!(!budget.withdraw());
}

#[tokio::test(start_paused = true)]
async fn permanent_errors_and_cancellation_are_never_retried() {
    let retry = Retry::new("t").max_attempts(5).without_budget().seed(1);
    for error in [CallError::Permanent, CallError::Cancelled] {
        let flaky = Flaky::default();
        assert_eq!(retry.run(|| flaky.call(usize::MAX, error.clone())).await, Err(error));
        assert_eq!(flaky.count(), 1);
    }
    // A closure classifier overrules the error's own class.
    let flaky = Flaky::default();
    let answer =
        retry.run_classified(|_: &CallError| RetryClass::Permanent, || flaky.call(1, CallError::Transient)).await;
    assert_eq!(answer, Err(CallError::Transient));
    assert_eq!(flaky.count(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_dropped_retry_makes_no_further_attempts() {
    let flaky = Flaky::default();
    let retry = Retry::new("t").max_attempts(100).backoff(ms(100), ms(100)).without_budget().seed(1);
    let outer = Timeout::new("outer", ms(1000));
    let answer = outer.within(retry.run(|| flaky.call(usize::MAX, CallError::Transient))).await;
    assert!(answer.is_err());
    let made = flaky.count();
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(flaky.count(), made);
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured_as_the_floor_of_the_wait_and_too_long_a_one_ends_the_retries() {
    let flaky = Flaky::default();
    let retry = Retry::new("t").max_attempts(3).backoff(ms(1), ms(1)).without_budget().seed(1);
    assert_eq!(retry.run(|| flaky.call(1, CallError::Throttled(Duration::from_secs(3)))).await, Ok(2));
    assert_eq!(flaky.gaps(), [Duration::from_secs(3)], "max(backoff ≤ 1 ms, retry-after 3 s) = 3 s");

    let flaky = Flaky::default();
    let impatient = retry.clone().max_retry_after(Duration::from_secs(2));
    let answer = impatient.run(|| flaky.call(1, CallError::Throttled(Duration::from_secs(3)))).await;
    assert_eq!(answer, Err(CallError::Throttled(Duration::from_secs(3))));
    assert_eq!(flaky.count(), 1);
}

// ---- timeout ----

#[tokio::test(start_paused = true)]
async fn a_timeout_drops_the_inner_future_at_the_deadline() {
    let dropped = Arc::new(AtomicBool::new(false));
    let flag = DropFlag(dropped.clone());
    let timeout = Timeout::new("t", ms(100));
    let started = Instant::now();
    let answer: Result<(), CallError> = timeout
        .run(async move {
            let _flag = flag;
            tokio::time::sleep(Duration::from_secs(10)).await;
            Ok(())
        })
        .await;
    assert_eq!(answer, Err(CallError::TimedOut(Elapsed { policy: "t", after: ms(100) })));
    assert_eq!(started.elapsed(), ms(100));
    assert!(dropped.load(Ordering::SeqCst), "the inner future was not dropped at the deadline");
    assert!(answer.unwrap_err().to_string().contains("did not finish within 100ms"));
}

#[tokio::test(start_paused = true)]
async fn a_call_that_finishes_in_time_passes_through_the_timeout_unchanged() {
    let timeout = Timeout::new("t", ms(100));
    assert_eq!(timeout.run(async { Err::<(), _>(CallError::Permanent) }).await, Err(CallError::Permanent));
    assert_eq!(timeout.within(async { 5 }).await, Ok(5));
}

// ---- bulkhead ----

#[tokio::test(start_paused = true)]
async fn a_full_bulkhead_queue_rejects_at_once_and_a_queued_call_runs_when_a_permit_frees() {
    let bulkhead = Bulkhead::new("b", 1, 1);
    let running = bulkhead.acquire().await.unwrap();
    let queued = tokio::spawn({
        let bulkhead = bulkhead.clone();
        async move { bulkhead.run(async { Ok::<_, CallError>("queued ran") }).await }
    });
    until(|| bulkhead.waiting() == 1).await;
    let started = Instant::now();
    let rejected = bulkhead.acquire().await.unwrap_err();
    assert_eq!(rejected, BulkheadRejected::Full { bulkhead: "b", max_concurrent: 1, max_queue: 1 });
    assert_eq!(started.elapsed(), Duration::ZERO);
    drop(running);
    assert_eq!(queued.await.unwrap(), Ok("queued ran"));
    assert_eq!((bulkhead.available(), bulkhead.waiting()), (1, 0));
}

#[tokio::test(start_paused = true)]
async fn a_cancelled_call_releases_its_bulkhead_permit_and_a_cancelled_waiter_its_queue_place() {
    let bulkhead = Bulkhead::new("b", 1, 1);
    let cancel = Timeout::new("cancel", ms(10));
    let hung = bulkhead.run(async { std::future::pending::<Result<(), CallError>>().await });
    assert!(cancel.within(hung).await.is_err());
    assert_eq!(bulkhead.available(), 1);

    let _running = bulkhead.acquire().await.unwrap();
    assert!(cancel.within(bulkhead.acquire()).await.is_err(), "the waiter was cancelled");
    assert_eq!(bulkhead.waiting(), 0);
    // The queue place is free again: the next waiter queues instead of being rejected.
    let waiter = tokio::spawn({
        let bulkhead = bulkhead.clone();
        async move { bulkhead.acquire().await.map(drop) }
    });
    until(|| bulkhead.waiting() == 1).await;
    waiter.abort();
}

#[tokio::test(start_paused = true)]
async fn a_queued_call_gives_up_after_the_bulkheads_max_wait() {
    let bulkhead = Bulkhead::new("b", 1, 4).max_wait(ms(50));
    let _running = bulkhead.acquire().await.unwrap();
    let started = Instant::now();
    let rejected = bulkhead.acquire().await.unwrap_err();
    assert_eq!(rejected, BulkheadRejected::QueueTimeout { bulkhead: "b", waited: ms(50) });
    assert_eq!(started.elapsed(), ms(50));
    assert_eq!(bulkhead.waiting(), 0);
}
