//! The controller: reads signals, applies hysteresis, publishes the level.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::AbortHandle;

use super::builder::DegradationBuilder;
use super::hysteresis::{HoldTimes, Hysteresis};
use super::signal::{DegradationHealth, Signal, SignalHealth};
use super::{Level, Levels};
use crate::resilience::clock::Clock;
use crate::telemetry::metrics::DegradationMetrics;

/// A graceful-degradation controller: the service's current [`Level`], computed from health
/// signals with hysteresis, and the features that level allows. Clones share one controller.
///
/// See the [module docs](super) for the rules and an example.
#[derive(Clone, Debug)]
pub struct Degradation {
    pub(super) inner: Arc<Inner>,
}

/// What an evaluation concludes (read by `health` without waiting for signals to be read).
struct Evaluation {
    hysteresis: Hysteresis,
    readings: Vec<SignalHealth>,
    demanded: Level,
}

pub(super) struct Inner {
    name: String,
    levels: Levels,
    hold: HoldTimes,
    features: HashMap<String, Level>,
    clock: Arc<dyn Clock>,
    /// The level's index, readable without the lock (`level()` and `is_enabled` are hot).
    level: AtomicUsize,
    /// Held for a whole evaluation, so evaluations are ordered; signals are read under it only.
    signals: Mutex<Vec<Signal>>,
    /// Taken after `signals`, briefly, to apply the readings.
    evaluation: Mutex<Evaluation>,
    changes: watch::Sender<Level>,
    metrics: DegradationMetrics,
    evaluator: Mutex<Option<AbortHandle>>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Degradation")
            .field("name", &self.name)
            .field("levels", &self.levels)
            .field("level", &self.level.load(Ordering::Acquire))
            .finish_non_exhaustive()
    }
}

impl Inner {
    pub(super) fn new(
        name: String,
        levels: Levels,
        hold: HoldTimes,
        signals: Vec<Signal>,
        features: HashMap<String, Level>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let metrics = DegradationMetrics::new(&name);
        metrics.level.set(0.0);
        let (changes, _) = watch::channel(Level::NORMAL);
        let evaluation =
            Evaluation { hysteresis: Hysteresis::new(Level::NORMAL), readings: Vec::new(), demanded: Level::NORMAL };
        Inner {
            name,
            levels,
            hold,
            features,
            clock,
            level: AtomicUsize::new(0),
            signals: Mutex::new(signals),
            evaluation: Mutex::new(evaluation),
            changes,
            metrics,
            evaluator: Mutex::new(None),
        }
    }

    /// Spawns the interval task. It holds only a weak reference, so it never keeps the
    /// controller alive, and `Drop` aborts it.
    pub(super) fn run_every(self: &Arc<Self>, period: Duration, runtime: &tokio::runtime::Handle) {
        let weak: Weak<Inner> = Arc::downgrade(self);
        let task = runtime.spawn(async move {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                match weak.upgrade() {
                    Some(inner) => {
                        inner.evaluate();
                    }
                    None => break,
                }
            }
        });
        *lock(&self.evaluator) = Some(task.abort_handle());
    }

    fn evaluate(&self) -> Level {
        let mut signals = lock(&self.signals);
        let worst = self.levels.worst();
        let readings: Vec<SignalHealth> = signals
            .iter_mut()
            .map(|signal| {
                let mut reading = signal.read();
                reading.demands = reading.demands.min(worst);
                reading
            })
            .collect();
        let demanded = readings.iter().map(|r| r.demands).max().unwrap_or(Level::NORMAL);
        let mut evaluation = lock(&self.evaluation);
        let from = evaluation.hysteresis.level();
        let moved = evaluation.hysteresis.step(self.clock.now(), demanded, self.hold);
        evaluation.readings = readings;
        evaluation.demanded = demanded;
        if let Some(to) = moved {
            // Published under the lock so watchers, the gauge and the atomic see changes in order.
            self.level.store(to.index(), Ordering::Release);
            self.metrics.level.set(to.index() as f64);
            let direction = if to > from { &self.metrics.escalations } else { &self.metrics.recoveries };
            direction.increment(1);
            tracing::info!(
                target: "ractor_agents::resilience::degradation",
                controller = %self.name,
                from = self.levels.name(from).unwrap_or("?"),
                to = self.levels.name(to).unwrap_or("?"),
                demanded = self.levels.name(demanded).unwrap_or("?"),
                "degradation level changed"
            );
            self.changes.send_replace(to);
        }
        let level = evaluation.hysteresis.level();
        drop(evaluation);
        drop(signals);
        level
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(task) = lock(&self.evaluator).take() {
            task.abort();
        }
    }
}

/// A poisoned lock only means a signal closure panicked mid-evaluation; the state it guards is
/// still consistent (hysteresis moves are single assignments), so carry on with it.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Degradation {
    /// Starts configuring a controller named `name` (the `controller` label of its metrics).
    pub fn builder(name: impl Into<String>) -> DegradationBuilder {
        DegradationBuilder::new(name.into())
    }

    /// The controller's name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The controller's levels.
    pub fn levels(&self) -> &Levels {
        &self.inner.levels
    }

    /// The hold times the controller was built with.
    pub fn hold_times(&self) -> HoldTimes {
        self.inner.hold
    }

    /// The current level (one atomic load).
    pub fn level(&self) -> Level {
        Level::at(self.inner.level.load(Ordering::Acquire))
    }

    /// The current level's name.
    pub fn level_name(&self) -> &str {
        self.inner.levels.name(self.level()).unwrap_or("?")
    }

    /// Whether `feature` is on at the current level: registered, and the level is at most the
    /// one it was registered with. An unregistered feature is off, so a misspelt name shows up
    /// as a missing feature instead of one that never sheds load.
    pub fn is_enabled(&self, feature: &str) -> bool {
        self.inner.features.get(feature).is_some_and(|on_up_to| self.level() <= *on_up_to)
    }

    /// Reads every signal now, feeds the worst demand to the hysteresis rule, and returns the
    /// level after it. Call it periodically (or use `evaluate_every`); hold times are measured
    /// between evaluations, so evaluate at least as often as the shortest hold time.
    pub fn evaluate(&self) -> Level {
        self.inner.evaluate()
    }

    /// A receiver that sees every level change (and the current level at once).
    pub fn subscribe(&self) -> watch::Receiver<Level> {
        self.inner.changes.subscribe()
    }

    /// The level, the demand and each signal's reading at the last evaluation.
    pub fn health(&self) -> DegradationHealth {
        let evaluation = lock(&self.inner.evaluation);
        let level = evaluation.hysteresis.level();
        DegradationHealth {
            controller: self.inner.name.clone(),
            level,
            level_name: self.inner.levels.name(level).unwrap_or("?").to_owned(),
            demanded: evaluation.demanded,
            signals: evaluation.readings.clone(),
        }
    }
}
