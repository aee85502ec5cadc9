//! The policies stacked: as async wrappers and as tower layers.

use super::*;

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
