//! GCRA's arithmetic on a hand-moved clock, waiting acquires and the layer's `poll_ready`.

use super::*;

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
    // Bounded (in paused time): a limiter that never admits fails the test instead of hanging it.
    let admitted = tokio::time::timeout(Duration::from_secs(60), async {
        for _ in 0..5 {
            limiter.acquire().await;
        }
    });
    admitted.await.expect("the limiter admits five calls within a minute");
    assert_eq!(started.elapsed(), ms(400));
}

#[tokio::test(start_paused = true)]
async fn the_rate_limit_layer_waits_in_poll_ready_for_capacity() {
    let limiter = RateLimiter::new("r", 10, Duration::from_secs(1), 2);
    let mut service = ServiceBuilder::new()
        .layer(RateLimitLayer::new(limiter.clone()))
        .service(service_fn(|n: u32| async move { Ok::<_, CallError>(n * 2) }));
    let started = Instant::now();
    let served = tokio::time::timeout(Duration::from_secs(60), async {
        for n in 0..4 {
            assert_eq!(service.ready().await.unwrap().call(n).await.unwrap(), n * 2);
        }
    });
    served.await.expect("the layer lets four calls through within a minute");
    assert_eq!(started.elapsed(), ms(200), "two at once (the burst), then one per 100 ms");
    assert!(limiter.try_acquire().is_err(), "the layer took its capacity from the shared limiter");
}
