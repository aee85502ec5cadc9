//! The circuit breaker, one test per sentence of its contract. Time is a `ManualClock`: no sleeps.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use metrics_util::debugging::DebugValue;
use ractor_agents::resilience::breaker::{
    BreakDuration, BreakerConfigError, BreakerError, CircuitBreaker, CircuitBreakerBuilder, CircuitState, Outcome,
    SlidingWindow,
};
use ractor_agents::resilience::clock::ManualClock;

mod support;

use support::metrics::recorder;

const SECOND: Duration = Duration::from_secs(1);

/// A count-window breaker judging after `minimum` calls, 50 % failures, fixed 10 s break,
/// `probes` probes of which `successes` close it.
fn breaker(clock: &ManualClock, window: u32, minimum: u32, probes: u32, successes: u32) -> CircuitBreaker {
    CircuitBreaker::builder("test")
        .window(SlidingWindow::Count(window))
        .minimum_calls(minimum)
        .failure_rate_threshold(0.5)
        .break_duration(BreakDuration::Fixed(10 * SECOND))
        .half_open(probes, successes)
        .clock(clock.clone())
        .build()
        .unwrap()
}

fn succeed(b: &CircuitBreaker) {
    b.try_acquire().expect("admitted").record(Outcome::Success);
}

fn fail(b: &CircuitBreaker) {
    b.try_acquire().expect("admitted").record(Outcome::Failure);
}

fn trip(b: &CircuitBreaker, calls: u32) {
    for _ in 0..calls {
        fail(b);
    }
    assert_eq!(b.state(), CircuitState::Open);
}

#[test]
fn a_closed_circuit_opens_when_the_failure_rate_reaches_its_threshold_after_the_minimum_calls() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 10, 4, 1, 1);
    succeed(&b);
    succeed(&b);
    fail(&b);
    assert_eq!(b.state(), CircuitState::Closed, "3 calls: below the minimum of 4");
    fail(&b);
    assert_eq!(b.state(), CircuitState::Open, "2 failures of 4 = 50 %");
}

#[test]
fn a_closed_circuit_stays_closed_below_the_minimum_calls_even_if_every_call_fails() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 100, 20, 1, 1);
    for _ in 0..19 {
        fail(&b);
    }
    assert_eq!(b.state(), CircuitState::Closed);
    fail(&b);
    assert_eq!(b.state(), CircuitState::Open);
}

#[test]
fn a_closed_circuit_stays_closed_while_the_failure_rate_is_below_its_threshold() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 10, 10, 1, 1);
    for i in 0..100 {
        if i % 3 == 0 { fail(&b) } else { succeed(&b) }
    }
    assert_eq!(b.state(), CircuitState::Closed, "a third of calls fail: below 50 %");
}

#[tokio::test]
async fn an_open_circuit_rejects_calls_with_the_remaining_break_without_calling_the_dependency() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 4, 4, 1, 1);
    trip(&b, 4);
    clock.advance(3 * SECOND);
    let called = AtomicUsize::new(0);
    let answer = b
        .call(|| async {
            called.fetch_add(1, Ordering::SeqCst);
            Ok::<_, Infallible>(())
        })
        .await;
    match answer {
        Err(BreakerError::Open(rejected)) => {
            assert_eq!(rejected.state, CircuitState::Open);
            assert_eq!(rejected.retry_after, Some(7 * SECOND));
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(called.load(Ordering::SeqCst), 0);
}

#[test]
fn an_open_circuit_turns_half_open_when_its_break_has_elapsed_and_admits_a_probe() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 4, 4, 2, 2);
    trip(&b, 4);
    clock.advance(10 * SECOND - Duration::from_nanos(1));
    assert!(b.try_acquire().is_err(), "one ns before the break ends");
    clock.advance(Duration::from_nanos(1));
    let probe = b.try_acquire().expect("a probe after the break");
    assert_eq!(b.state(), CircuitState::HalfOpen);
    drop(probe);
}

#[test]
fn a_half_open_circuit_closes_after_its_success_threshold_of_probes_succeed() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 4, 4, 3, 2);
    trip(&b, 4);
    clock.advance(10 * SECOND);
    succeed(&b);
    assert_eq!(b.state(), CircuitState::HalfOpen, "one success of two");
    succeed(&b);
    assert_eq!(b.state(), CircuitState::Closed);
    fail(&b);
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), CircuitState::Closed, "the window was emptied on closing: 3 calls < minimum 4");
}

#[test]
fn a_failed_probe_opens_the_circuit_again() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 4, 4, 3, 3);
    trip(&b, 4);
    clock.advance(10 * SECOND);
    succeed(&b);
    fail(&b);
    assert_eq!(b.state(), CircuitState::Open);
    assert_eq!(b.try_acquire().unwrap_err().retry_after, Some(10 * SECOND));
}

#[test]
fn a_half_open_circuit_admits_no_more_than_its_probe_limit() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 4, 4, 2, 2);
    trip(&b, 4);
    clock.advance(10 * SECOND);
    let first = b.try_acquire().expect("probe 1");
    let second = b.try_acquire().expect("probe 2");
    let third = b.try_acquire().unwrap_err();
    assert_eq!((third.state, third.retry_after), (CircuitState::HalfOpen, None));
    first.record(Outcome::Success);
    assert!(b.try_acquire().is_err(), "a finished probe does not free a slot: the limit is per half-open period");
    second.record(Outcome::Success);
    assert_eq!(b.state(), CircuitState::Closed);
}

#[test]
fn a_half_open_probe_dropped_unrecorded_gives_its_slot_back() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 4, 4, 1, 1);
    trip(&b, 4);
    clock.advance(10 * SECOND);
    let probe = b.try_acquire().expect("probe");
    assert!(b.try_acquire().is_err());
    drop(probe);
    b.try_acquire().expect("the slot is free again").record(Outcome::Success);
    assert_eq!(b.state(), CircuitState::Closed);
}

#[test]
fn slow_calls_open_the_circuit_when_the_slow_rate_reaches_its_threshold() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("slow")
        .window(SlidingWindow::Count(4))
        .minimum_calls(4)
        .slow_calls(2 * SECOND, 0.75)
        .clock(clock.clone())
        .build()
        .unwrap();
    let call = |took: Duration| {
        let permit = b.try_acquire().expect("admitted");
        clock.advance(took);
        permit.record(Outcome::Success);
    };
    call(2 * SECOND);
    call(3 * SECOND);
    call(SECOND);
    call(2 * SECOND - Duration::from_nanos(1));
    assert_eq!(b.state(), CircuitState::Closed, "2 of 4 slow: below 75 %");
    call(5 * SECOND);
    assert_eq!(b.state(), CircuitState::Closed, "the window holds 3, 1, 1.99, 5 s: 2 slow of 4");
    call(2 * SECOND);
    assert_eq!(b.state(), CircuitState::Closed, "1, 1.99, 5, 2 s: 2 slow of 4");
    call(4 * SECOND);
    assert_eq!(b.state(), CircuitState::Open, "1.99, 5, 2, 4 s: 3 slow of 4 = 75 %");
}

#[test]
fn a_slow_probe_opens_the_circuit_again() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("slow-probe")
        .window(SlidingWindow::Count(2))
        .minimum_calls(2)
        .slow_calls(SECOND, 1.0)
        .break_duration(BreakDuration::Fixed(SECOND))
        .half_open(1, 1)
        .clock(clock.clone())
        .build()
        .unwrap();
    fail(&b);
    fail(&b);
    clock.advance(SECOND);
    let probe = b.try_acquire().expect("probe");
    clock.advance(SECOND);
    probe.record(Outcome::Success);
    assert_eq!(b.state(), CircuitState::Open);
}

#[test]
fn an_exponential_break_doubles_on_each_consecutive_trip_up_to_its_cap() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("growing")
        .window(SlidingWindow::Count(1))
        .minimum_calls(1)
        .break_duration(BreakDuration::Exponential { initial: SECOND, max: 5 * SECOND })
        .half_open(1, 1)
        .clock(clock.clone())
        .build()
        .unwrap();
    fail(&b);
    let mut breaks = Vec::new();
    for _ in 0..5 {
        let pause = b.try_acquire().unwrap_err().retry_after.expect("open");
        breaks.push(pause);
        clock.advance(pause);
        fail(&b); // the probe fails: open again, longer
    }
    assert_eq!(breaks, [SECOND, 2 * SECOND, 4 * SECOND, 5 * SECOND, 5 * SECOND]);
}

#[test]
fn closing_the_circuit_starts_the_next_exponential_break_from_its_initial_duration() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("growing-then-closed")
        .window(SlidingWindow::Count(1))
        .minimum_calls(1)
        .break_duration(BreakDuration::Exponential { initial: SECOND, max: 60 * SECOND })
        .half_open(1, 1)
        .clock(clock.clone())
        .build()
        .unwrap();
    fail(&b);
    clock.advance(SECOND);
    fail(&b);
    assert_eq!(b.try_acquire().unwrap_err().retry_after, Some(2 * SECOND));
    clock.advance(2 * SECOND);
    succeed(&b);
    assert_eq!(b.state(), CircuitState::Closed);
    fail(&b);
    assert_eq!(b.try_acquire().unwrap_err().retry_after, Some(SECOND));
}

#[tokio::test]
async fn only_errors_the_predicate_names_count_as_failures() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 4, 4, 1, 1);
    let server_errors = |status: &u16| *status >= 500;
    for _ in 0..10 {
        let answer: Result<(), _> = b.call_with(&server_errors, || async { Err(404u16) }).await;
        assert!(matches!(answer, Err(BreakerError::Inner(404))));
    }
    assert_eq!(b.state(), CircuitState::Closed, "404s are answers, not failures");
    for _ in 0..2 {
        let _: Result<(), _> = b.call_with(&server_errors, || async { Err(503u16) }).await;
    }
    assert_eq!(b.state(), CircuitState::Open, "2 of the last 4 were 503s");
}

#[test]
fn an_isolated_circuit_rejects_every_call_until_reset_even_after_any_break() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 4, 4, 1, 1);
    b.isolate();
    let rejected = b.try_acquire().unwrap_err();
    assert_eq!((rejected.state, rejected.retry_after), (CircuitState::Isolated, None));
    clock.advance(3600 * SECOND);
    assert!(b.try_acquire().is_err());
    b.reset();
    assert_eq!(b.state(), CircuitState::Closed);
    succeed(&b);
}

#[test]
fn reset_closes_an_open_circuit_with_an_empty_window() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 4, 4, 1, 1);
    trip(&b, 4);
    b.reset();
    assert_eq!(b.state(), CircuitState::Closed);
    for _ in 0..3 {
        fail(&b);
    }
    assert_eq!(b.state(), CircuitState::Closed, "3 calls since the reset: below the minimum");
}

#[test]
fn an_outcome_of_a_call_admitted_before_a_trip_is_not_counted_after_it() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 2, 2, 1, 1);
    let late = b.try_acquire().expect("admitted while closed");
    trip(&b, 2);
    clock.advance(10 * SECOND);
    let probe = b.try_acquire().expect("probe");
    late.record(Outcome::Failure);
    assert_eq!(b.state(), CircuitState::HalfOpen, "the late failure says nothing about the probe");
    probe.record(Outcome::Success);
    assert_eq!(b.state(), CircuitState::Closed);
}

#[test]
fn a_count_window_forgets_calls_older_than_its_size() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 4, 4, 1, 1);
    fail(&b);
    for _ in 0..4 {
        succeed(&b);
    }
    fail(&b);
    assert_eq!(b.state(), CircuitState::Closed, "the first failure left: 1 of the last 4");
    fail(&b);
    assert_eq!(b.state(), CircuitState::Open);
}

#[test]
fn a_time_window_forgets_calls_older_than_its_length() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("timed")
        .window(SlidingWindow::Time { length: 10 * SECOND, buckets: 10 })
        .minimum_calls(3)
        .clock(clock.clone())
        .build()
        .unwrap();
    fail(&b);
    fail(&b);
    clock.advance(10 * SECOND);
    succeed(&b);
    assert_eq!(b.state(), CircuitState::Closed, "the failures' slice left the window");
    clock.advance(5 * SECOND);
    fail(&b);
    fail(&b);
    assert_eq!(b.state(), CircuitState::Open, "2 failures of 3 within 10 s");
}

#[test]
fn settings_that_cannot_work_are_refused_when_building() {
    let build = |f: fn(CircuitBreakerBuilder) -> CircuitBreakerBuilder| {
        f(CircuitBreaker::builder("bad")).build().map(|_| ()).unwrap_err()
    };
    assert!(matches!(build(|b| b.failure_rate_threshold(0.0)), BreakerConfigError::Rate { .. }));
    assert!(matches!(build(|b| b.failure_rate_threshold(1.5)), BreakerConfigError::Rate { .. }));
    assert_eq!(build(|b| b.window(SlidingWindow::Count(0))), BreakerConfigError::CountWindow(0));
    assert!(matches!(
        build(|b| b.window(SlidingWindow::Time { length: SECOND, buckets: 0 })),
        BreakerConfigError::TimeWindow { .. }
    ));
    assert_eq!(build(|b| b.half_open(2, 3)), BreakerConfigError::HalfOpen { probes: 2, successes: 3 });
    assert_eq!(build(|b| b.minimum_calls(0)), BreakerConfigError::MinimumCalls);
}

/// Counter totals (snapshots drain counters, so they are folded into running totals) and the
/// latest gauge values of the breaker `name`, keyed by the other label's value.
fn breaker_metrics(name: &str) -> (HashMap<String, u64>, HashMap<String, f64>) {
    static TOTALS: OnceLock<Mutex<HashMap<(String, String), u64>>> = OnceLock::new();
    let mut totals = TOTALS.get_or_init(Default::default).lock().unwrap();
    let mut gauges = HashMap::new();
    for (key, _, _, value) in recorder().snapshot().into_vec() {
        let key = key.key();
        let label = |k: &str| key.labels().find(|l| l.key() == k).map(|l| l.value().to_owned());
        if label("name").as_deref() != Some(name) {
            continue;
        }
        match value {
            DebugValue::Counter(n) if key.name() == "ractor_agents_circuit_breaker_calls_total" => {
                *totals.entry((name.to_owned(), label("outcome").unwrap())).or_default() += n;
            }
            DebugValue::Gauge(v) if key.name() == "ractor_agents_circuit_breaker_state" => {
                gauges.insert(label("state").unwrap(), v.into_inner());
            }
            _ => {}
        }
    }
    let counters = totals.iter().filter(|((n, _), _)| n == name).map(|((_, o), v)| (o.clone(), *v)).collect();
    (counters, gauges)
}

#[test]
fn the_state_gauge_marks_the_current_state_and_calls_are_counted_by_outcome() {
    recorder();
    let clock = ManualClock::new();
    let b = CircuitBreaker::builder("metered")
        .failure_rate_threshold(1.0)
        .window(SlidingWindow::Count(2))
        .minimum_calls(2)
        .slow_calls(SECOND, 1.0)
        .break_duration(BreakDuration::Fixed(SECOND))
        .half_open(1, 1)
        .clock(clock.clone())
        .build()
        .unwrap();
    let one_hot = |state: &str| {
        let (_, gauges) = breaker_metrics("metered");
        for s in ["closed", "open", "half_open", "isolated"] {
            assert_eq!(gauges.get(s), Some(&if s == state { 1.0 } else { 0.0 }), "gauge {s} while {state}");
        }
    };
    one_hot("closed");
    succeed(&b);
    let slow = b.try_acquire().unwrap();
    clock.advance(SECOND);
    slow.record(Outcome::Success); // slow, 1 of 2: the slow rate is 50 %, below 100 %
    b.try_acquire().unwrap().record(Outcome::Ignored);
    fail(&b);
    fail(&b);
    one_hot("open");
    let _ = b.try_acquire().unwrap_err();
    clock.advance(SECOND);
    let probe = b.try_acquire().unwrap();
    one_hot("half_open");
    probe.record(Outcome::Success);
    one_hot("closed");
    b.isolate();
    one_hot("isolated");
    let (calls, _) = breaker_metrics("metered");
    let expected: HashMap<String, u64> = [("success", 2), ("slow", 1), ("ignored", 1), ("failure", 2), ("rejected", 1)]
        .map(|(k, v)| (k.to_owned(), v))
        .into();
    assert_eq!(calls, expected);
}

#[test]
fn two_threads_hammering_a_half_open_circuit_never_get_more_than_its_probe_limit() {
    for _ in 0..20 {
        let clock = ManualClock::new();
        let b = breaker(&clock, 1, 1, 3, 3);
        trip(&b, 1);
        clock.advance(10 * SECOND);
        let admitted = AtomicUsize::new(0);
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    let mut held = Vec::new();
                    for _ in 0..20_000 {
                        if let Ok(permit) = b.try_acquire() {
                            admitted.fetch_add(1, Ordering::SeqCst);
                            held.push(permit);
                        }
                    }
                    // Held permits are never recorded: every probe stays taken.
                    std::mem::forget(held);
                });
            }
        });
        assert_eq!(admitted.load(Ordering::SeqCst), 3);
        assert_eq!(b.state(), CircuitState::HalfOpen);
    }
}

#[test]
fn two_threads_recording_concurrently_close_a_half_open_circuit_exactly_once() {
    let clock = ManualClock::new();
    let b = breaker(&clock, 1, 1, 4, 4);
    trip(&b, 1);
    clock.advance(10 * SECOND);
    let permits: Vec<_> = (0..4).map(|_| b.try_acquire().expect("probe")).collect();
    let (left, right): (Vec<_>, Vec<_>) = permits.into_iter().enumerate().partition(|(i, _)| i % 2 == 0);
    std::thread::scope(|s| {
        s.spawn(|| left.into_iter().for_each(|(_, p)| p.record(Outcome::Success)));
        s.spawn(|| right.into_iter().for_each(|(_, p)| p.record(Outcome::Success)));
    });
    assert_eq!(b.state(), CircuitState::Closed);
}
