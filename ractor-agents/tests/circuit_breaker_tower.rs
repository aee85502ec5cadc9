//! The circuit breaker as `tower` middleware. Time is a `ManualClock`: no sleeps.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ractor_agents::resilience::breaker::{
    BreakDuration, BreakerError, CircuitBreaker, CircuitBreakerLayer, CircuitState, SlidingWindow,
};
use ractor_agents::resilience::clock::ManualClock;
use tower::{Layer, Service, ServiceExt, service_fn};

const SECOND: Duration = Duration::from_secs(1);

/// A count-window breaker judging after `minimum` calls, 50 % failures, fixed 10 s break,
/// `probes` probes of which `successes` close it.
fn breaker(clock: &ManualClock, window: u32, minimum: u32, probes: u32, successes: u32) -> CircuitBreaker {
    CircuitBreaker::builder("tower")
        .window(SlidingWindow::Count(window))
        .minimum_calls(minimum)
        .failure_rate_threshold(0.5)
        .break_duration(BreakDuration::Fixed(10 * SECOND))
        .half_open(probes, successes)
        .clock(clock.clone())
        .build()
        .unwrap()
}

#[tokio::test]
async fn the_tower_layer_rejects_while_open_and_records_the_inner_services_outcomes() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 2, 2, 1, 1);
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let mut service = CircuitBreakerLayer::new(b.clone()).failure_if(|status: &u16| *status >= 500).layer(service_fn(
        move |status: u16| {
            counted.fetch_add(1, Ordering::SeqCst);
            async move { if status == 200 { Ok("ok") } else { Err(status) } }
        },
    ));
    assert!(matches!(service.ready().await.unwrap().call(404).await, Err(BreakerError::Inner(404))));
    assert!(matches!(service.ready().await.unwrap().call(404).await, Err(BreakerError::Inner(404))));
    assert_eq!(b.state(), CircuitState::Closed, "404 is not a failure under the predicate");
    let _ = service.ready().await.unwrap().call(500).await;
    assert_eq!(b.state(), CircuitState::Open, "a 404 and a 500: 50 % failures");
    let rejected = service.ready().await.unwrap().call(200).await;
    assert!(matches!(rejected, Err(BreakerError::Open(r)) if r.state == CircuitState::Open));
    assert_eq!(calls.load(Ordering::SeqCst), 3, "the rejected call never reached the inner service");
    clock.advance(10 * SECOND);
    assert_eq!(service.ready().await.unwrap().call(200).await.unwrap(), "ok");
    assert_eq!(b.state(), CircuitState::Closed);
}

#[tokio::test]
async fn polling_the_tower_service_for_readiness_takes_no_half_open_probe() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 1, 1, 1, 1);
    let mut service = CircuitBreakerLayer::new(b.clone())
        .layer(service_fn(|ok: bool| async move { if ok { Ok(()) } else { Err("down") } }));
    let _ = service.ready().await.unwrap().call(false).await;
    clock.advance(10 * SECOND);
    for _ in 0..3 {
        let _ready = service.ready().await.unwrap();
    }
    let probe = b.try_acquire().expect("readiness polls left the only probe slot free");
    drop(probe);
    service.ready().await.unwrap().call(true).await.unwrap();
    assert_eq!(b.state(), CircuitState::Closed);
}

#[tokio::test]
async fn a_tower_response_future_dropped_before_it_resolves_gives_its_probe_back() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 1, 1, 1, 1);
    let mut service = CircuitBreakerLayer::new(b.clone()).layer(service_fn(|hang: bool| async move {
        if hang {
            std::future::pending::<()>().await;
        }
        Err::<(), _>("down")
    }));
    let _ = service.ready().await.unwrap().call(false).await;
    clock.advance(10 * SECOND);
    let hanging = service.ready().await.unwrap().call(true);
    assert!(b.try_acquire().is_err(), "the hanging call holds the probe");
    drop(hanging);
    assert!(b.try_acquire().is_ok(), "dropping it gave the probe back");
}
