//! Building a breaker: settings checked once, up front.

use std::sync::Arc;
use std::time::Duration;

use super::CircuitBreaker;
use super::circuit::Circuit;
use super::config::{BreakDuration, BreakerConfig, BreakerConfigError, SlidingWindow, SlowCalls};
use crate::resilience::clock::{Clock, MonotonicClock};

/// Builds a [`CircuitBreaker`]; start from [`CircuitBreaker::builder`]. Unset settings keep
/// [`BreakerConfig`]'s defaults.
#[must_use]
pub struct CircuitBreakerBuilder {
    name: Arc<str>,
    config: BreakerConfig,
    clock: Option<Arc<dyn Clock>>,
}

impl CircuitBreakerBuilder {
    pub(crate) fn new(name: Arc<str>) -> Self {
        Self { name, config: BreakerConfig::default(), clock: None }
    }

    /// Replaces every setting.
    pub fn config(mut self, config: BreakerConfig) -> Self {
        self.config = config;
        self
    }

    /// Failure rate (0 < rate ≤ 1) at or above which the circuit opens.
    pub fn failure_rate_threshold(mut self, rate: f64) -> Self {
        self.config.failure_rate_threshold = rate;
        self
    }

    /// Calls taking at least `duration` are slow; a slow rate at or above `rate` opens the circuit.
    pub fn slow_calls(mut self, duration: Duration, rate: f64) -> Self {
        self.config.slow_calls = Some(SlowCalls { duration, rate_threshold: rate });
        self
    }

    /// The window the rates are computed over.
    pub fn window(mut self, window: SlidingWindow) -> Self {
        self.config.window = window;
        self
    }

    /// Calls the window must hold before the rates are judged.
    pub fn minimum_calls(mut self, calls: u32) -> Self {
        self.config.minimum_calls = calls;
        self
    }

    /// How long the circuit stays open.
    pub fn break_duration(mut self, duration: BreakDuration) -> Self {
        self.config.break_duration = duration;
        self
    }

    /// Probes let through while half-open, and the successes among them that close the circuit.
    pub fn half_open(mut self, probes: u32, successes: u32) -> Self {
        self.config.half_open_probes = probes;
        self.config.half_open_successes = successes;
        self
    }

    /// The time source (default: [`MonotonicClock`]); tests pass a
    /// [`ManualClock`](crate::resilience::clock::ManualClock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// The breaker, closed. Install your metrics recorder before: the breaker resolves its metric
    /// handles here.
    pub fn build(self) -> Result<CircuitBreaker, BreakerConfigError> {
        self.config.validate()?;
        let clock = self.clock.unwrap_or_else(|| Arc::new(MonotonicClock::new()));
        Ok(CircuitBreaker { circuit: Arc::new(Circuit::new(self.name, self.config, clock)) })
    }
}
