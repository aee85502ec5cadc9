//! Every policy's counters, under its own name.

use super::*;

use crate::support::metrics::{counter, recorder};

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
