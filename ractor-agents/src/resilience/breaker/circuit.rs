//! The breaker's shared state and its transitions.
//!
//! Hot path (a closed circuit): admitting a call is one atomic load of the state word (plus a
//! clock read when slow calls are detected); recording it is one load, the window's atomic
//! updates and a comparison. Half-open probes are claimed with a compare-exchange on the same
//! word. Only a *state change* takes a mutex: it serialises the change with its metric and
//! event, and keeps the count of consecutive trips the exponential break grows with. Calls never
//! wait on it except the one that makes the change (and a call racing it).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::telemetry::metrics::BreakerMetrics;

use super::config::BreakerConfig;
use super::error::Rejected;
use super::outcome::Outcome;
use super::state::{CircuitState, StateWord};
use super::window::{Sample, Window, WindowCounts};
use crate::resilience::clock::Clock;

/// What an admitted call carries until its outcome is recorded.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ticket {
    generation: u32,
    /// Clock reading at admission (0 when slow calls are not detected: nobody reads it).
    started_nanos: u64,
}

pub(crate) struct Circuit {
    pub(crate) name: Arc<str>,
    pub(crate) config: BreakerConfig,
    /// The slow-call duration in ns, if slow calls are detected.
    slow_nanos: Option<u64>,
    word: AtomicU64,
    /// While open: the clock reading (ns) at which probes may start.
    open_until: AtomicU64,
    window: Window,
    clock: Arc<dyn Clock>,
    metrics: BreakerMetrics,
    /// Held only while changing state.
    transitions: Mutex<Transitions>,
}

struct Transitions {
    /// Trips since the circuit last closed (1 after the first), for the exponential break.
    consecutive_trips: u32,
}

impl Circuit {
    pub(crate) fn new(name: Arc<str>, config: BreakerConfig, clock: Arc<dyn Clock>) -> Self {
        let metrics = BreakerMetrics::new(&name, CircuitState::ALL.map(CircuitState::as_str));
        metrics.state[0].set(1.0);
        for gauge in &metrics.state[1..] {
            gauge.set(0.0);
        }
        Self {
            slow_nanos: config.slow_calls.map(|s| u64::try_from(s.duration.as_nanos()).unwrap_or(u64::MAX)),
            window: Window::new(config.window),
            name,
            config,
            word: AtomicU64::new(StateWord::new(CircuitState::Closed, 0).0),
            open_until: AtomicU64::new(0),
            clock,
            metrics,
            transitions: Mutex::new(Transitions { consecutive_trips: 0 }),
        }
    }

    pub(crate) fn state(&self) -> CircuitState {
        self.load().state()
    }

    fn load(&self) -> StateWord {
        StateWord(self.word.load(Ordering::Acquire))
    }

    fn start_time(&self) -> u64 {
        if self.slow_nanos.is_some() { self.clock.now_nanos() } else { 0 }
    }

    fn reject(&self, state: CircuitState, retry_after: Option<std::time::Duration>) -> Rejected {
        self.metrics.rejected.increment(1);
        Rejected { state, retry_after }
    }

    pub(crate) fn acquire(&self) -> Result<Ticket, Rejected> {
        let mut word = self.load();
        loop {
            match word.state() {
                CircuitState::Closed => {
                    return Ok(Ticket { generation: word.generation(), started_nanos: self.start_time() });
                }
                CircuitState::Open => {
                    let now = self.clock.now_nanos();
                    let until = self.open_until.load(Ordering::Acquire);
                    if now < until {
                        let wait = std::time::Duration::from_nanos(until - now);
                        return Err(self.reject(CircuitState::Open, Some(wait)));
                    }
                    self.change(Some(word), CircuitState::HalfOpen, "break elapsed");
                    word = self.load();
                }
                CircuitState::HalfOpen => {
                    let probes = word.probes();
                    if probes >= self.config.half_open_probes {
                        return Err(self.reject(CircuitState::HalfOpen, None));
                    }
                    let claimed = word.with_probes(probes + 1);
                    match self.word.compare_exchange(word.0, claimed.0, Ordering::AcqRel, Ordering::Acquire) {
                        Ok(_) => return Ok(Ticket { generation: word.generation(), started_nanos: self.start_time() }),
                        Err(current) => word = StateWord(current),
                    }
                }
                CircuitState::Isolated => return Err(self.reject(CircuitState::Isolated, None)),
            }
        }
    }

    pub(crate) fn record(&self, ticket: Ticket, outcome: Outcome) {
        if outcome == Outcome::Ignored {
            self.metrics.ignored.increment(1);
            self.give_back_probe(ticket);
            return;
        }
        let now = if self.slow_nanos.is_some() || self.window.needs_time() { self.clock.now_nanos() } else { 0 };
        let slow = self.slow_nanos.is_some_and(|limit| now.saturating_sub(ticket.started_nanos) >= limit);
        let failed = outcome == Outcome::Failure;
        match (failed, slow) {
            (true, _) => self.metrics.failure.increment(1),
            (false, true) => self.metrics.slow.increment(1),
            (false, false) => self.metrics.success.increment(1),
        }
        let mut word = self.load();
        if word.generation() != ticket.generation {
            return; // admitted in an earlier state: says nothing about this one
        }
        match word.state() {
            CircuitState::Closed => {
                let counts = self.window.record(Sample { failed, slow }, now);
                if let Some(reason) = self.trip_reason(counts) {
                    self.change(Some(word), CircuitState::Open, reason);
                }
            }
            CircuitState::HalfOpen if failed || slow => {
                let reason = if failed { "probe failed" } else { "probe slow" };
                self.change(Some(word), CircuitState::Open, reason);
            }
            CircuitState::HalfOpen => loop {
                let successes = word.successes() + 1;
                let next = word.with_successes(successes);
                match self.word.compare_exchange(word.0, next.0, Ordering::AcqRel, Ordering::Acquire) {
                    Ok(_) => {
                        if successes >= self.config.half_open_successes {
                            self.change(Some(next), CircuitState::Closed, "probes succeeded");
                        }
                        return;
                    }
                    Err(current) => {
                        word = StateWord(current);
                        if word.generation() != ticket.generation {
                            return;
                        }
                    }
                }
            },
            CircuitState::Open | CircuitState::Isolated => {}
        }
    }

    /// A half-open probe that ended without saying anything frees its slot for another probe.
    fn give_back_probe(&self, ticket: Ticket) {
        let mut word = self.load();
        while word.state() == CircuitState::HalfOpen && word.generation() == ticket.generation && word.probes() > 0 {
            let freed = word.with_probes(word.probes() - 1);
            match self.word.compare_exchange(word.0, freed.0, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return,
                Err(current) => word = StateWord(current),
            }
        }
    }

    fn trip_reason(&self, counts: WindowCounts) -> Option<&'static str> {
        if counts.calls < u64::from(self.config.minimum_calls) {
            return None;
        }
        let calls = counts.calls as f64;
        if counts.failures as f64 / calls >= self.config.failure_rate_threshold {
            return Some("failure rate reached its threshold");
        }
        match self.config.slow_calls {
            Some(slow) if counts.slow as f64 / calls >= slow.rate_threshold => {
                Some("slow-call rate reached its threshold")
            }
            _ => None,
        }
    }

    /// Moves to `to`, unless `expected` is given and the circuit has changed state since it was
    /// read (another call made the change first).
    pub(crate) fn change(&self, expected: Option<StateWord>, to: CircuitState, reason: &'static str) {
        let mut transitions = self.transitions.lock().unwrap_or_else(PoisonError::into_inner);
        let current = self.load();
        if expected.is_some_and(|e| e.generation() != current.generation()) {
            return;
        }
        let from = current.state();
        let mut break_ms = None;
        match to {
            CircuitState::Open => {
                transitions.consecutive_trips = transitions.consecutive_trips.saturating_add(1);
                let pause = self.config.break_duration.after_trip(transitions.consecutive_trips);
                let pause_nanos = u64::try_from(pause.as_nanos()).unwrap_or(u64::MAX);
                self.open_until.store(self.clock.now_nanos().saturating_add(pause_nanos), Ordering::Release);
                break_ms = Some(pause.as_millis());
            }
            CircuitState::Closed => transitions.consecutive_trips = 0,
            CircuitState::HalfOpen | CircuitState::Isolated => {}
        }
        self.window.reset();
        let generation = current.generation().wrapping_add(1);
        self.word.store(StateWord::new(to, generation).0, Ordering::Release);
        for (state, gauge) in CircuitState::ALL.iter().zip(&self.metrics.state) {
            gauge.set(if *state == to { 1.0 } else { 0.0 });
        }
        let (name, from, to_label) = (&*self.name, from.as_str(), to.as_str());
        if to == CircuitState::Open || to == CircuitState::Isolated {
            tracing::warn!(target: "ractor_agents::resilience::breaker", breaker = name, from, to = to_label, reason, break_ms, "circuit opened");
        } else {
            tracing::info!(target: "ractor_agents::resilience::breaker", breaker = name, from, to = to_label, reason, "circuit state changed");
        }
    }
}

impl std::fmt::Debug for Circuit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Circuit").field("name", &self.name).field("state", &self.state()).finish_non_exhaustive()
    }
}
