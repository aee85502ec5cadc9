//! The resilience policies (retry, timeout, bulkhead, rate limit, fallback), alone and composed,
//! as async wrappers and as tower layers. Time is tokio's paused clock; jitter is seeded.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use ractor_agents::resilience::{
    Bulkhead, BulkheadLayer, BulkheadRejected, Classify, Elapsed, Fallback, FallbackError, FallbackLayer, FullJitter,
    RateLimitLayer, RateLimiter, Retry, RetryBudget, RetryClass, RetryLayer, Timeout, TimeoutLayer,
};
use ractor_agents::telemetry::metrics::resilience_names;
use rand::SeedableRng;
use rand::rngs::SmallRng;
use tokio::time::Instant;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt, service_fn};

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

// ---- rate limit ----

/// A clock the test moves by hand.
#[derive(Clone)]
struct ManualClock {
    base: Instant,
    offset_ns: Arc<AtomicU64>,
}

impl ManualClock {
    fn new() -> Self {
        Self { base: Instant::now(), offset_ns: Arc::default() }
    }
    fn advance(&self, by: Duration) {
        self.offset_ns.fetch_add(by.as_nanos() as u64, Ordering::SeqCst);
    }
    fn limiter(&self, rate: u32, period: Duration, burst: u32) -> RateLimiter {
        let clock = self.clone();
        RateLimiter::with_clock("r", rate, period, burst, move || {
            clock.base + Duration::from_nanos(clock.offset_ns.load(Ordering::SeqCst))
        })
    }
}

#[test]
fn gcra_admits_a_burst_then_one_call_per_emission_interval_with_exact_retry_after() {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let _guard = runtime.enter();
    let clock = ManualClock::new();
    let limiter = clock.limiter(10, Duration::from_secs(1), 3); // T = 100 ms, τ = 200 ms
    for _ in 0..3 {
        assert!(limiter.try_acquire().is_ok());
    }
    assert_eq!(limiter.try_acquire().unwrap_err().retry_after, ms(100));
    clock.advance(ms(40));
    assert_eq!(limiter.try_acquire().unwrap_err().retry_after, ms(60));
    clock.advance(ms(60));
    assert!(limiter.try_acquire().is_ok());
    assert_eq!(limiter.try_acquire().unwrap_err().retry_after, ms(100));

    // At exactly the rate, every call is admitted, for as long as it lasts.
    for _ in 0..1000 {
        clock.advance(ms(100));
        assert!(limiter.try_acquire().is_ok());
    }
    // A long idle period restores the burst, and no more than the burst.
    clock.advance(Duration::from_secs(60));
    for _ in 0..3 {
        assert!(limiter.try_acquire().is_ok());
    }
    let refused = limiter.try_acquire().unwrap_err();
    assert_eq!(refused.retry_after, ms(100));
    assert!(refused.to_string().contains("try again in 100ms"));
}

#[tokio::test(start_paused = true)]
async fn a_waiting_acquire_takes_exactly_the_time_the_rate_requires() {
    let limiter = RateLimiter::new("r", 10, Duration::from_secs(1), 1);
    let started = Instant::now();
    for _ in 0..5 {
        limiter.acquire().await;
    }
    assert_eq!(started.elapsed(), ms(400));
}

#[tokio::test(start_paused = true)]
async fn the_rate_limit_layer_waits_in_poll_ready_for_capacity() {
    let limiter = RateLimiter::new("r", 10, Duration::from_secs(1), 2);
    let mut service = ServiceBuilder::new()
        .layer(RateLimitLayer::new(limiter.clone()))
        .service(service_fn(|n: u32| async move { Ok::<_, CallError>(n * 2) }));
    let started = Instant::now();
    for n in 0..4 {
        assert_eq!(service.ready().await.unwrap().call(n).await.unwrap(), n * 2);
    }
    assert_eq!(started.elapsed(), ms(200), "two at once (the burst), then one per 100 ms");
    assert!(limiter.try_acquire().is_err(), "the layer took its capacity from the shared limiter");
}

// ---- fallback ----

#[tokio::test]
async fn fallback_tries_steps_in_order_and_the_first_success_answers() {
    let order = Arc::new(Mutex::new(Vec::new()));
    let step = |name: &'static str, answer: Result<u32, CallError>| {
        let order = order.clone();
        move || async move {
            order.lock().unwrap().push(name);
            answer
        }
    };
    let answer = Fallback::new("f")
        .step("primary", step("primary", Err(CallError::Transient)))
        .step("secondary", step("secondary", Err(CallError::Transient)))
        .step("cache", step("cache", Ok(3)))
        .step("default", step("default", Ok(0)))
        .run()
        .await;
    assert_eq!(answer.unwrap(), 3);
    assert_eq!(*order.lock().unwrap(), ["primary", "secondary", "cache"]);
}

#[tokio::test]
async fn an_error_the_predicate_rejects_ends_the_fallback_chain_and_the_error_lists_every_step() {
    let ran_second = Arc::new(AtomicBool::new(false));
    let flag = ran_second.clone();
    let stopped = Fallback::new("f")
        .step("primary", || async { Err::<u32, _>(CallError::Permanent) })
        .step("secondary", move || async move {
            flag.store(true, Ordering::SeqCst);
            Ok(1)
        })
        .falls_through_when(|e| *e == CallError::Transient)
        .run()
        .await
        .unwrap_err();
    assert!(stopped.stopped_early);
    assert_eq!(stopped.failures.len(), 1);
    assert!(!ran_second.load(Ordering::SeqCst));

    let exhausted: FallbackError<CallError> = Fallback::new("f")
        .step("primary", || async { Err::<u32, _>(CallError::Transient) })
        .step("secondary", || async { Err(CallError::Throttled(ms(5))) })
        .run()
        .await
        .unwrap_err();
    let steps: Vec<_> = exhausted.failures.iter().map(|f| (f.step, f.error.clone())).collect();
    assert_eq!(steps, [("primary", CallError::Transient), ("secondary", CallError::Throttled(ms(5)))]);
    let message = exhausted.to_string();
    assert!(message.contains("`primary` failed: transient failure"), "{message}");
    assert!(message.contains("`secondary` failed: throttled for 5ms"), "{message}");
}

#[tokio::test]
async fn the_fallback_layer_calls_the_secondary_service_when_the_primary_fails() {
    let secondary = service_fn(|n: u32| async move { Ok::<_, CallError>(n + 100) });
    let primary = service_fn(|n: u32| async move { if n == 0 { Err(CallError::Transient) } else { Ok(n) } });
    let mut service = ServiceBuilder::new().layer(FallbackLayer::new("f", secondary)).service(primary);
    assert_eq!(service.ready().await.unwrap().call(7).await.unwrap(), 7);
    assert_eq!(service.ready().await.unwrap().call(0).await.unwrap(), 100);

    let broken = service_fn(|_: u32| async { Err::<u32, _>(CallError::Permanent) });
    let mut both_fail = ServiceBuilder::new().layer(FallbackLayer::new("f", broken)).service(broken);
    let error = both_fail.ready().await.unwrap().call(1).await.unwrap_err();
    let error = error.downcast::<FallbackError<BoxError>>().unwrap();
    let steps: Vec<_> = error.failures.iter().map(|f| (f.step, f.error.to_string())).collect();
    assert_eq!(steps, [("primary", "permanent failure".to_owned()), ("secondary", "permanent failure".to_owned())]);
}

// ---- composition ----

#[tokio::test(start_paused = true)]
async fn timeout_inside_retry_gives_each_attempt_its_own_deadline() {
    let attempts = AtomicU32::new(0);
    let timeout = Timeout::new("t", ms(100));
    let retry = Retry::new("r").max_attempts(3).backoff(ms(10), ms(10)).without_budget().seed(1);
    let started = Instant::now();
    let answer: Result<u32, CallError> = retry
        .run(|| {
            let attempt = attempts.fetch_add(1, Ordering::SeqCst) + 1;
            timeout.run(async move {
                if attempt < 3 {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                }
                Ok(attempt)
            })
        })
        .await;
    assert_eq!(answer, Ok(3));
    let took = started.elapsed();
    assert!(took >= ms(200) && took <= ms(220), "two 100 ms deadlines plus two ≤ 10 ms backoffs, took {took:?}");
}

#[tokio::test(start_paused = true)]
async fn retry_inside_a_bulkhead_holds_one_permit_across_all_its_attempts() {
    let bulkhead = Bulkhead::new("b", 1, 0);
    let retry = Retry::new("r").max_attempts(3).backoff(ms(50), ms(50)).without_budget().seed(1);
    let flaky = Flaky::default();
    let call = bulkhead.run(retry.run(|| flaky.call(2, CallError::Transient)));
    let intruder = async {
        until(|| flaky.count() == 1).await;
        bulkhead.run(async { Ok::<u32, CallError>(0) }).await
    };
    let (answer, intruder) = tokio::join!(call, intruder);
    assert_eq!(answer, Ok(3));
    assert!(matches!(intruder, Err(CallError::Rejected(BulkheadRejected::Full { .. }))));
    assert_eq!(bulkhead.available(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_same_stack_as_tower_layers_retries_timeouts_inside_a_bulkhead_and_rate_limit() {
    let attempts = Arc::new(AtomicU32::new(0));
    let inner = service_fn({
        let attempts = attempts.clone();
        move |n: u32| {
            let attempt = attempts.fetch_add(1, Ordering::SeqCst) + 1;
            async move {
                if attempt < 3 {
                    tokio::time::sleep(Duration::from_secs(10)).await;
                }
                Ok::<_, CallError>(n + attempt)
            }
        }
    });
    let bulkhead = Bulkhead::new("b", 1, 0);
    let retry = Retry::new("r").max_attempts(3).backoff(ms(10), ms(10)).without_budget().seed(1);
    let mut service = ServiceBuilder::new()
        .layer(RateLimitLayer::new(RateLimiter::new("rl", 100, Duration::from_secs(1), 10)))
        .layer(BulkheadLayer::new(bulkhead.clone()))
        .layer(RetryLayer::new(retry))
        .layer(TimeoutLayer::new(Timeout::new("t", ms(100))))
        .service(inner);
    let started = Instant::now();
    let first = service.ready().await.unwrap().call(10);
    let mut second_service = service.clone();
    let second = async {
        until(|| attempts.load(Ordering::SeqCst) >= 1).await;
        second_service.ready().await.unwrap().call(0).await
    };
    let (first, second) = tokio::join!(first, second);
    assert_eq!(first.unwrap(), 13, "two attempts timed out, the third answered");
    assert!(started.elapsed() >= ms(200));
    let rejected = second.unwrap_err().downcast::<BulkheadRejected>().unwrap();
    assert!(matches!(*rejected, BulkheadRejected::Full { .. }), "retries held the bulkhead's only permit");

    // A permanent error, classified by a closure, is not retried by the layer.
    let calls = Arc::new(AtomicU32::new(0));
    let permanent = service_fn({
        let calls = calls.clone();
        move |_: u32| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err::<u32, BoxError>(Box::new(CallError::Permanent)) }
        }
    });
    let retry = Retry::new("r").max_attempts(5).without_budget().seed(1);
    let layer = RetryLayer::new(retry).classify_with(|e: &BoxError| {
        e.downcast_ref::<CallError>().map_or(RetryClass::Retryable, Classify::retry_class)
    });
    let mut service = ServiceBuilder::new().layer(layer).service(permanent);
    assert!(service.ready().await.unwrap().call(1).await.is_err());
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

// ---- metrics ----

fn recorder() -> &'static Snapshotter {
    static SNAPSHOTTER: OnceLock<Snapshotter> = OnceLock::new();
    SNAPSHOTTER.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder.install().expect("first recorder in this test binary");
        snapshotter
    })
}

/// The total of a counter since the recorder was installed (snapshots drain counters).
fn counter(name: &str, labels: &[(&str, &str)]) -> u64 {
    static TOTALS: OnceLock<Mutex<HashMap<metrics::Key, u64>>> = OnceLock::new();
    let mut totals = TOTALS.get_or_init(Default::default).lock().expect("not poisoned");
    for (key, _, _, value) in recorder().snapshot().into_vec() {
        if let DebugValue::Counter(n) = value {
            *totals.entry(key.key().clone()).or_default() += n;
        }
    }
    totals
        .iter()
        .filter(|(key, _)| {
            key.name() == name && labels.iter().all(|(k, v)| key.labels().any(|l| l.key() == *k && l.value() == *v))
        })
        .map(|(_, n)| *n)
        .sum()
}

#[tokio::test(start_paused = true)]
async fn every_policy_counts_what_it_did_under_its_own_name() {
    recorder();
    let flaky = Flaky::default();
    let retry = Retry::new("m-retry").max_attempts(5).without_budget().seed(1);
    retry.run(|| flaky.call(2, CallError::Transient)).await.unwrap();
    assert_eq!(counter(resilience_names::RETRY_ATTEMPTS, &[("policy", "m-retry")]), 2);

    let timeout = Timeout::new("m-timeout", ms(1));
    assert!(timeout.within(std::future::pending::<()>()).await.is_err());
    assert_eq!(counter(resilience_names::TIMEOUTS, &[("policy", "m-timeout")]), 1);

    let bulkhead = Bulkhead::new("m-bulkhead", 1, 0);
    let _held = bulkhead.acquire().await.unwrap();
    assert!(bulkhead.acquire().await.is_err());
    let labels = [("policy", "m-bulkhead"), ("reason", "queue_full")];
    assert_eq!(counter(resilience_names::BULKHEAD_REJECTIONS, &labels), 1);

    let limiter = RateLimiter::new("m-limit", 1, Duration::from_secs(1), 1);
    limiter.acquire().await;
    limiter.acquire().await; // waits: not a rejection
    assert!(limiter.try_acquire().is_err());
    assert_eq!(counter(resilience_names::RATE_LIMIT_REJECTIONS, &[("policy", "m-limit")]), 1);

    let answer = Fallback::new("m-fallback")
        .step("live", || async { Err::<u32, _>(CallError::Transient) })
        .step("cache", || async { Ok(1) })
        .run()
        .await;
    assert_eq!(answer.unwrap(), 1);
    assert_eq!(counter(resilience_names::FALLBACKS, &[("policy", "m-fallback"), ("step", "cache")]), 1);
}
