//! The stale cache: serves flagged stale values within the bound when the store fails, and the
//! store's own error beyond it.

mod support;

use std::time::Duration;

use ractor_agents::resilience::breaker::{BreakDuration, BreakerError, CircuitBreaker, SlidingWindow};
use ractor_agents::resilience::clock::ManualClock;
use ractor_agents::resilience::stale_cache::{Answer, StaleCache};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
enum StoreError {
    #[error("the store is down")]
    Down,
    #[error("no such key")]
    NotFound,
}

fn cache(clock: &ManualClock, capacity: usize) -> StaleCache<&'static str, u32> {
    StaleCache::new("test", capacity, Duration::from_secs(10)).with_clock(clock.clone())
}

#[tokio::test]
async fn a_successful_read_is_fresh_and_refreshes_the_cache() {
    let clock = ManualClock::new();
    let cache = cache(&clock, 4);
    assert_eq!(cache.read("k", |_| async { Ok::<_, StoreError>(1) }).await, Ok(Answer::Fresh(1)));
    clock.advance(Duration::from_secs(8));
    assert_eq!(cache.read("k", |_| async { Ok::<_, StoreError>(2) }).await, Ok(Answer::Fresh(2)));
    clock.advance(Duration::from_secs(8));
    // 16 s after the first read but 8 s after the refresh: still within the 10 s bound.
    let answer = cache.read("k", |_| async { Err::<u32, _>(StoreError::Down) }).await;
    assert_eq!(answer, Ok(Answer::Stale { value: 2, age: Duration::from_secs(8) }));
    assert!(answer.is_ok_and(|a| a.is_stale()));
}

#[tokio::test]
async fn a_failed_read_is_answered_stale_up_to_the_bound_inclusive() {
    let clock = ManualClock::new();
    let cache = cache(&clock, 4);
    let _ = cache.read("k", |_| async { Ok::<_, StoreError>(7) }).await;
    clock.advance(Duration::from_secs(10));
    let answer = cache.read("k", |_| async { Err::<u32, _>(StoreError::Down) }).await;
    assert_eq!(answer, Ok(Answer::Stale { value: 7, age: Duration::from_secs(10) }));
}

#[tokio::test]
async fn a_failed_read_beyond_the_bound_returns_the_stores_typed_error() {
    let clock = ManualClock::new();
    let cache = cache(&clock, 4);
    let _ = cache.read("k", |_| async { Ok::<_, StoreError>(7) }).await;
    clock.advance(Duration::from_secs(10) + Duration::from_nanos(1));
    assert_eq!(cache.read("k", |_| async { Err::<u32, _>(StoreError::Down) }).await, Err(StoreError::Down));
}

#[tokio::test]
async fn a_failed_read_of_a_key_never_cached_returns_the_stores_error() {
    let clock = ManualClock::new();
    let cache = cache(&clock, 4);
    let _ = cache.read("other", |_| async { Ok::<_, StoreError>(7) }).await;
    assert_eq!(cache.read("k", |_| async { Err::<u32, _>(StoreError::Down) }).await, Err(StoreError::Down));
}

#[tokio::test]
async fn errors_the_predicate_does_not_pick_are_never_answered_from_the_cache() {
    let clock = ManualClock::new();
    let cache = cache(&clock, 4);
    let _ = cache.read("k", |_| async { Ok::<_, StoreError>(7) }).await;
    let outage = |e: &StoreError| *e == StoreError::Down;
    let not_found = cache.read_if("k", outage, |_| async { Err::<u32, _>(StoreError::NotFound) }).await;
    assert_eq!(not_found, Err(StoreError::NotFound));
    let down = cache.read_if("k", outage, |_| async { Err::<u32, _>(StoreError::Down) }).await;
    assert_eq!(down, Ok(Answer::Stale { value: 7, age: Duration::ZERO }));
}

#[tokio::test]
async fn a_full_cache_evicts_the_key_refreshed_longest_ago() {
    let clock = ManualClock::new();
    let cache = cache(&clock, 2);
    for (key, value) in [("a", 1), ("b", 2)] {
        let _ = cache.read(key, |_| async move { Ok::<_, StoreError>(value) }).await;
    }
    let _ = cache.read("a", |_| async { Ok::<_, StoreError>(10) }).await; // "b" is now the oldest
    let _ = cache.read("c", |_| async { Ok::<_, StoreError>(3) }).await;
    assert_eq!(cache.len(), 2);
    assert_eq!(cache.cached(&"b"), None);
    assert_eq!(cache.cached(&"a"), Some((10, Duration::ZERO)));
    assert_eq!(cache.cached(&"c"), Some((3, Duration::ZERO)));
}

#[tokio::test]
async fn an_open_breaker_is_answered_from_the_cache_without_calling_the_store() {
    let clock = ManualClock::new();
    let cache = cache(&clock, 4);
    let breaker = CircuitBreaker::builder("store")
        .window(SlidingWindow::Count(2))
        .minimum_calls(2)
        .break_duration(BreakDuration::Fixed(Duration::from_secs(30)))
        .clock(clock.clone())
        .build()
        .expect("a valid breaker configuration");
    let calls = std::sync::atomic::AtomicU32::new(0);
    let store = |fail: bool| {
        let (breaker, calls) = (&breaker, &calls);
        move |_: &&str| async move {
            breaker
                .call(|| async {
                    calls.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if fail { Err(StoreError::Down) } else { Ok(5) }
                })
                .await
        }
    };
    assert_eq!(cache.read("k", store(false)).await.ok(), Some(Answer::Fresh(5)));
    for _ in 0..2 {
        assert!(cache.read("k", store(true)).await.is_ok_and(|a| a.is_stale()));
    }
    let before = calls.load(std::sync::atomic::Ordering::SeqCst);
    clock.advance(Duration::from_secs(3));
    let answer = cache.read("k", store(false)).await;
    assert_eq!(answer.ok(), Some(Answer::Stale { value: 5, age: Duration::from_secs(3) }));
    assert_eq!(calls.load(std::sync::atomic::Ordering::SeqCst), before, "the open breaker kept the store untouched");
    clock.advance(Duration::from_secs(8));
    assert!(matches!(cache.read("k", store(false)).await, Err(BreakerError::Open(_))));
}

#[tokio::test]
async fn fresh_stale_and_missed_reads_are_counted_by_answer() {
    support::metrics::recorder();
    let clock = ManualClock::new();
    let cache: StaleCache<&str, u32> = StaleCache::new("metered", 4, Duration::from_secs(10)).with_clock(clock.clone());
    let _ = cache.read("k", |_| async { Ok::<_, StoreError>(1) }).await;
    let _ = cache.read("k", |_| async { Err::<u32, _>(StoreError::Down) }).await;
    let _ = cache.read("k", |_| async { Err::<u32, _>(StoreError::Down) }).await;
    let _ = cache.read("never", |_| async { Err::<u32, _>(StoreError::Down) }).await;
    let totals = support::metrics::counters_by("ractor_agents_stale_cache_reads_total", ("cache", "metered"), "answer");
    assert_eq!(totals.get("fresh"), Some(&1));
    assert_eq!(totals.get("stale"), Some(&2));
    assert_eq!(totals.get("miss"), Some(&1));
}
