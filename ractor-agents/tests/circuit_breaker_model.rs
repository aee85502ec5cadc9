//! The circuit breaker against a reference model: random calls (admitted or not, finishing as
//! successes, failures, slow, ignored or dropped, in any order), clock advances, isolates and
//! resets. The model keeps every recorded call in a plain `Vec` and recomputes the window from
//! it; after every step the breaker's state and every admit/reject decision (with its retry
//! time) must match the model's.

#![allow(clippy::unwrap_used)] // test code: a failed unwrap is a failed test

use std::time::Duration;

use proptest::prelude::*;
use ractor_agents::resilience::breaker::{
    BreakDuration, BreakerConfig, CircuitBreaker, CircuitState, Outcome, Permit, Rejected, SlidingWindow, SlowCalls,
};
use ractor_agents::resilience::clock::ManualClock;

#[derive(Clone, Copy, Debug)]
enum Finish {
    Record(Outcome),
    Drop,
}

#[derive(Clone, Debug)]
enum Step {
    Acquire,
    /// Finishes the held call at this index (modulo how many are held).
    Finish(usize, Finish),
    Advance(Duration),
    Isolate,
    Reset,
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        8 => Just(Step::Acquire),
        8 => (any::<usize>(), prop_oneof![
            4 => Just(Finish::Record(Outcome::Success)),
            4 => Just(Finish::Record(Outcome::Failure)),
            1 => Just(Finish::Record(Outcome::Ignored)),
            1 => Just(Finish::Drop),
        ]).prop_map(|(i, f)| Step::Finish(i, f)),
        6 => (0u64..4_000).prop_map(|ms| Step::Advance(Duration::from_millis(ms))),
        1 => Just(Step::Isolate),
        1 => Just(Step::Reset),
    ]
}

fn config() -> impl Strategy<Value = BreakerConfig> {
    let window = prop_oneof![
        (1u32..8).prop_map(SlidingWindow::Count),
        (1u64..10, 1u32..6)
            .prop_map(|(secs, buckets)| SlidingWindow::Time { length: Duration::from_secs(secs), buckets }),
    ];
    let rate = prop_oneof![Just(0.25), Just(0.5), Just(0.75), Just(1.0)];
    let slow = proptest::option::of(
        (500u64..3_000, rate.clone())
            .prop_map(|(ms, rate_threshold)| SlowCalls { duration: Duration::from_millis(ms), rate_threshold }),
    );
    let break_duration = prop_oneof![
        (1u64..5_000).prop_map(|ms| BreakDuration::Fixed(Duration::from_millis(ms))),
        (1u64..3_000, 1u64..10_000).prop_map(|(initial, max)| BreakDuration::Exponential {
            initial: Duration::from_millis(initial),
            max: Duration::from_millis(max),
        }),
    ];
    let half_open = (1u32..4).prop_flat_map(|probes| (Just(probes), 1..=probes));
    (window, 1u32..6, rate, slow, break_duration, half_open).prop_map(
        |(window, minimum_calls, failure_rate_threshold, slow_calls, break_duration, (probes, successes))| {
            BreakerConfig {
                failure_rate_threshold,
                slow_calls,
                window,
                minimum_calls,
                break_duration,
                half_open_probes: probes,
                half_open_successes: successes,
            }
        },
    )
}

/// A call the model admitted: the state generation it was admitted in, and when.
#[derive(Clone, Copy, Debug)]
struct ModelTicket {
    generation: u64,
    started: Duration,
}

/// One recorded call: when it ended, failed or not, slow or not.
#[derive(Clone, Copy, Debug)]
struct Recorded {
    ended: Duration,
    failed: bool,
    slow: bool,
}

/// The breaker's contract, written the obvious way.
struct Model {
    config: BreakerConfig,
    state: CircuitState,
    generation: u64,
    /// Every call recorded since the last state change.
    recorded: Vec<Recorded>,
    open_until: Duration,
    consecutive_trips: u32,
    probes: u32,
    successes: u32,
}

impl Model {
    fn new(config: BreakerConfig) -> Self {
        Self {
            config,
            state: CircuitState::Closed,
            generation: 0,
            recorded: Vec::new(),
            open_until: Duration::ZERO,
            consecutive_trips: 0,
            probes: 0,
            successes: 0,
        }
    }

    fn change(&mut self, to: CircuitState, now: Duration) {
        self.generation += 1;
        self.recorded.clear();
        self.probes = 0;
        self.successes = 0;
        match to {
            CircuitState::Open => {
                self.consecutive_trips += 1;
                let pause = match self.config.break_duration {
                    BreakDuration::Fixed(d) => d,
                    BreakDuration::Exponential { initial, max } => {
                        let mut d = initial;
                        for _ in 1..self.consecutive_trips {
                            d = (d * 2).min(max);
                        }
                        d.min(max)
                    }
                };
                self.open_until = now + pause;
            }
            CircuitState::Closed => self.consecutive_trips = 0,
            _ => {}
        }
        self.state = to;
    }

    fn acquire(&mut self, now: Duration) -> Result<ModelTicket, Rejected> {
        if self.state == CircuitState::Open {
            if now < self.open_until {
                return Err(Rejected { state: CircuitState::Open, retry_after: Some(self.open_until - now) });
            }
            self.change(CircuitState::HalfOpen, now);
        }
        let ticket = ModelTicket { generation: self.generation, started: now };
        match self.state {
            CircuitState::Closed => Ok(ticket),
            CircuitState::HalfOpen if self.probes < self.config.half_open_probes => {
                self.probes += 1;
                Ok(ticket)
            }
            state => Err(Rejected { state, retry_after: None }),
        }
    }

    /// The recorded calls still in the window at `now`.
    fn window(&self, now: Duration) -> Vec<Recorded> {
        match self.config.window {
            SlidingWindow::Count(n) => self.recorded.iter().rev().take(n as usize).copied().collect(),
            SlidingWindow::Time { length, buckets } => {
                let slice = (length.as_nanos() / u128::from(buckets)).max(1);
                let period = |t: Duration| t.as_nanos() / slice;
                self.recorded.iter().filter(|r| period(r.ended) + u128::from(buckets) > period(now)).copied().collect()
            }
        }
    }

    fn should_trip(&self, now: Duration) -> bool {
        let window = self.window(now);
        let calls = window.len();
        if calls < self.config.minimum_calls as usize {
            return false;
        }
        let rate = |n: usize| n as f64 / calls as f64;
        let failures = window.iter().filter(|r| r.failed).count();
        let slow = window.iter().filter(|r| r.slow).count();
        rate(failures) >= self.config.failure_rate_threshold
            || self.config.slow_calls.is_some_and(|s| rate(slow) >= s.rate_threshold)
    }

    fn record(&mut self, ticket: ModelTicket, outcome: Outcome, now: Duration) {
        let same_state = ticket.generation == self.generation;
        if outcome == Outcome::Ignored {
            if same_state && self.state == CircuitState::HalfOpen {
                self.probes -= 1;
            }
            return;
        }
        if !same_state {
            return;
        }
        let failed = outcome == Outcome::Failure;
        let slow = self.config.slow_calls.is_some_and(|s| now - ticket.started >= s.duration);
        match self.state {
            CircuitState::Closed => {
                self.recorded.push(Recorded { ended: now, failed, slow });
                if self.should_trip(now) {
                    self.change(CircuitState::Open, now);
                }
            }
            CircuitState::HalfOpen if failed || slow => self.change(CircuitState::Open, now),
            CircuitState::HalfOpen => {
                self.successes += 1;
                if self.successes >= self.config.half_open_successes {
                    self.change(CircuitState::Closed, now);
                }
            }
            _ => {}
        }
    }
}

fn run(config: BreakerConfig, steps: Vec<Step>) -> Result<(), TestCaseError> {
    let clock = ManualClock::new();
    let breaker = CircuitBreaker::builder("model").config(config.clone()).clock(clock.clone()).build().unwrap();
    let mut model = Model::new(config);
    let mut held: Vec<(Permit<'_>, ModelTicket)> = Vec::new();
    let mut now = Duration::ZERO;
    for (i, step) in steps.into_iter().enumerate() {
        match step {
            Step::Acquire => match (breaker.try_acquire(), model.acquire(now)) {
                (Ok(permit), Ok(ticket)) => held.push((permit, ticket)),
                (Err(real), Err(expected)) => prop_assert_eq!(real, expected, "step {}", i),
                (real, expected) => {
                    return Err(TestCaseError::fail(format!(
                        "step {i}: breaker admitted: {}, model admitted: {}",
                        real.is_ok(),
                        expected.is_ok()
                    )));
                }
            },
            Step::Finish(index, finish) => {
                if held.is_empty() {
                    continue;
                }
                let (permit, ticket) = held.swap_remove(index % held.len());
                match finish {
                    Finish::Record(outcome) => {
                        permit.record(outcome);
                        model.record(ticket, outcome, now);
                    }
                    Finish::Drop => {
                        drop(permit);
                        model.record(ticket, Outcome::Ignored, now);
                    }
                }
            }
            Step::Advance(by) => {
                clock.advance(by);
                now += by;
            }
            Step::Isolate => {
                breaker.isolate();
                model.change(CircuitState::Isolated, now);
            }
            Step::Reset => {
                breaker.reset();
                model.change(CircuitState::Closed, now);
            }
        }
        prop_assert_eq!(breaker.state(), model.state, "after step {}", i);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1_000, ..ProptestConfig::default() })]

    #[test]
    fn the_breaker_admits_rejects_and_changes_state_exactly_as_the_reference_model(
        config in config(),
        steps in proptest::collection::vec(step(), 1..200),
    ) {
        run(config, steps)?;
    }
}
