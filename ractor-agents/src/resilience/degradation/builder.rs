//! Building a [`Degradation`] controller: levels, signals, features, hold times.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::controller::Inner;
use super::hysteresis::HoldTimes;
use super::signal::{NumberKind, Signal, Source, Threshold};
use super::{Degradation, Level, Levels};
use crate::resilience::breaker::CircuitBreaker;
use crate::resilience::clock::{Clock, MonotonicClock};

/// Why a controller could not be built. Each says what to change in the builder.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum DegradationError {
    /// `Levels::new` got no names; give at least one (the normal level).
    #[error("a degradation controller needs at least one level")]
    NoLevels,
    /// The same level name was given twice; level names must be unique.
    #[error("level name {0:?} is given twice; give each level a distinct name")]
    DuplicateLevel(String),
    /// A signal or feature refers to a level the controller does not have.
    #[error("level index {index} does not exist: the controller has {levels} levels (indices 0..{levels})")]
    UnknownLevel {
        /// The index referred to.
        index: usize,
        /// How many levels there are.
        levels: usize,
    },
    /// A threshold's exit value is above its enter value, so it could never be left.
    #[error("signal {signal:?}: exit value {exit} is above enter value {enter}; set exit <= enter")]
    ExitAboveEnter {
        /// The signal's name.
        signal: String,
        /// The enter value.
        enter: f64,
        /// The exit value.
        exit: f64,
    },
    /// Two signals share a name, which would make health output ambiguous.
    #[error("two signals are named {0:?}; give each signal a distinct name")]
    DuplicateSignal(String),
    /// `evaluate_every` needs a tokio runtime to run its task on.
    #[error("evaluate_every needs a tokio runtime: build the controller inside one, or call evaluate() yourself")]
    NoRuntime,
    /// `evaluate_every` got a zero period.
    #[error("the evaluation period must be above zero")]
    ZeroPeriod,
}

/// Configures a [`Degradation`] controller. Start with [`Degradation::builder`].
pub struct DegradationBuilder {
    name: String,
    levels: Levels,
    hold: HoldTimes,
    signals: Vec<Signal>,
    features: HashMap<String, Level>,
    clock: Option<Arc<dyn Clock>>,
    period: Option<Duration>,
}

impl DegradationBuilder {
    pub(super) fn new(name: String) -> Self {
        DegradationBuilder {
            name,
            levels: Levels::standard(),
            hold: HoldTimes::default(),
            signals: Vec::new(),
            features: HashMap::new(),
            clock: None,
            period: None,
        }
    }

    /// Use these levels instead of `normal`, `degraded`, `minimal`.
    pub fn levels(mut self, levels: Levels) -> Self {
        self.levels = levels;
        self
    }

    /// How long a worse demand must hold before the level escalates (default 5 s; zero = at once).
    pub fn escalate_after(mut self, hold: Duration) -> Self {
        self.hold.escalate_after = hold;
        self
    }

    /// How long a better demand must hold before each one-level recovery step (default 30 s).
    pub fn recover_after(mut self, hold: Duration) -> Self {
        self.hold.recover_after = hold;
        self
    }

    /// While `breaker` is not closed (open, half-open or isolated), demand `demands`.
    pub fn breaker_signal(mut self, name: impl Into<String>, breaker: &CircuitBreaker, demands: Level) -> Self {
        let source = Source::Breaker { breaker: breaker.clone(), demands };
        self.signals.push(Signal { name: name.into(), source });
        self
    }

    /// An error rate read by `read`, demanding each crossed threshold's level.
    pub fn error_rate_signal<I>(
        self,
        name: impl Into<String>,
        read: impl Fn() -> f64 + Send + Sync + 'static,
        thresholds: I,
    ) -> Self
    where
        I: IntoIterator<Item = Threshold>,
    {
        self.number_signal(name.into(), NumberKind::ErrorRate, Box::new(read), thresholds.into_iter().collect())
    }

    /// A queue depth read by `read`, demanding each crossed threshold's level.
    pub fn queue_depth_signal<I>(
        self,
        name: impl Into<String>,
        read: impl Fn() -> f64 + Send + Sync + 'static,
        thresholds: I,
    ) -> Self
    where
        I: IntoIterator<Item = Threshold>,
    {
        self.number_signal(name.into(), NumberKind::QueueDepth, Box::new(read), thresholds.into_iter().collect())
    }

    fn number_signal(
        mut self,
        name: String,
        kind: NumberKind,
        read: Box<dyn Fn() -> f64 + Send + Sync>,
        thresholds: Vec<Threshold>,
    ) -> Self {
        let crossed = vec![false; thresholds.len()];
        self.signals.push(Signal { name, source: Source::Number { kind, read, thresholds, crossed } });
        self
    }

    /// A signal whose closure returns the level it demands (a level the controller lacks is
    /// clamped to the worst one).
    ///
    /// Signal closures run inside an evaluation, which holds the controller's signal lock: keep
    /// them quick, do not panic, and do not call `evaluate` of the same controller from them
    /// (`level`, `is_enabled` and `health` are fine: they do not wait for signals).
    pub fn custom_signal(
        mut self,
        name: impl Into<String>,
        demand: impl Fn() -> Level + Send + Sync + 'static,
    ) -> Self {
        self.signals.push(Signal { name: name.into(), source: Source::Custom(Box::new(demand)) });
        self
    }

    /// Registers `feature`, on while the level is at most `on_up_to`.
    pub fn feature(mut self, feature: impl Into<String>, on_up_to: Level) -> Self {
        self.features.insert(feature.into(), on_up_to);
        self
    }

    /// The time source for hold times (default: the monotonic clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// Evaluate on a tokio interval task every `period`. The task belongs to the controller and
    /// ends when the last clone of it is dropped. Without this, call [`Degradation::evaluate`].
    pub fn evaluate_every(mut self, period: Duration) -> Self {
        self.period = Some(period);
        self
    }

    /// Checks the configuration and builds the controller, evaluating its signals once (which
    /// only starts hold times, unless `escalate_after` is zero).
    pub fn build(self) -> Result<Degradation, DegradationError> {
        for (i, signal) in self.signals.iter().enumerate() {
            if self.signals[..i].iter().any(|s| s.name == signal.name) {
                return Err(DegradationError::DuplicateSignal(signal.name.clone()));
            }
            self.levels.check(signal.worst_demand())?;
            if let Source::Number { thresholds, .. } = &signal.source {
                for t in thresholds {
                    if t.exit > t.enter {
                        let (enter, exit) = (t.enter, t.exit);
                        return Err(DegradationError::ExitAboveEnter { signal: signal.name.clone(), enter, exit });
                    }
                }
            }
        }
        for level in self.features.values() {
            self.levels.check(*level)?;
        }
        let runtime = match self.period {
            Some(period) if period.is_zero() => return Err(DegradationError::ZeroPeriod),
            Some(period) => {
                Some((period, tokio::runtime::Handle::try_current().map_err(|_| DegradationError::NoRuntime)?))
            }
            None => None,
        };
        let clock = self.clock.unwrap_or_else(|| Arc::new(MonotonicClock::new()));
        let inner = Arc::new(Inner::new(self.name, self.levels, self.hold, self.signals, self.features, clock));
        let degradation = Degradation { inner };
        degradation.evaluate();
        if let Some((period, runtime)) = runtime {
            degradation.inner.run_every(period, &runtime);
        }
        Ok(degradation)
    }
}
