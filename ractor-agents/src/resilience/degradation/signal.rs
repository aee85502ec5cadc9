//! Health signals: what a controller reads, and the level each reading demands.

use std::fmt;

use serde::Serialize;

use super::Level;
use crate::resilience::breaker::{CircuitBreaker, CircuitState};

/// A numeric threshold with separate enter and exit values, so a value hovering around one
/// number does not toggle the demand. The demand turns on when the value reaches `enter` and off
/// only once it falls below `exit` (`exit <= enter`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Threshold {
    /// The value at or above which the signal demands `demands`.
    pub enter: f64,
    /// The value below which it stops demanding it.
    pub exit: f64,
    /// The level demanded while the threshold is crossed.
    pub demands: Level,
}

impl Threshold {
    /// A threshold entered at `enter` and left below the same value (no band).
    pub fn at(enter: f64, demands: Level) -> Threshold {
        Threshold { enter, exit: enter, demands }
    }

    /// The same threshold, left only below `exit`.
    pub fn exit_below(self, exit: f64) -> Threshold {
        Threshold { exit, ..self }
    }
}

type ReadNumber = Box<dyn Fn() -> f64 + Send + Sync>;
type ReadDemand = Box<dyn Fn() -> Level + Send + Sync>;

/// Where a signal's reading comes from.
pub(super) enum Source {
    /// Unhealthy while the breaker is not closed (open, half-open or isolated).
    Breaker { breaker: CircuitBreaker, demands: Level },
    /// A number (error rate, queue depth) against thresholds; `crossed[i]` is threshold i's state.
    Number { kind: NumberKind, read: ReadNumber, thresholds: Vec<Threshold>, crossed: Vec<bool> },
    /// A closure that returns the demanded level itself.
    Custom(ReadDemand),
}

/// What a numeric signal measures (shown in health output).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NumberKind {
    /// A failure fraction (0.0–1.0) or a failure count, as the reader defines it.
    ErrorRate,
    /// Items waiting (messages, tasks).
    QueueDepth,
}

/// One named signal of a controller.
pub(super) struct Signal {
    pub(super) name: String,
    pub(super) source: Source,
}

impl Signal {
    /// Reads the signal now and returns its demand and the value it read.
    pub(super) fn read(&mut self) -> SignalHealth {
        let (demands, value) = match &mut self.source {
            Source::Breaker { breaker, demands } => {
                let state = breaker.state();
                let demand = if state == CircuitState::Closed { Level::NORMAL } else { *demands };
                (demand, SignalValue::Breaker { state })
            }
            Source::Number { kind, read, thresholds, crossed } => {
                let value = read();
                let mut demand = Level::NORMAL;
                for (threshold, crossed) in thresholds.iter().zip(crossed.iter_mut()) {
                    // A NaN reading compares false both ways: it keeps the threshold as it was.
                    if value >= threshold.enter {
                        *crossed = true;
                    } else if value < threshold.exit {
                        *crossed = false;
                    }
                    if *crossed {
                        demand = demand.max(threshold.demands);
                    }
                }
                (demand, SignalValue::Number { kind: *kind, value })
            }
            Source::Custom(read) => (read(), SignalValue::Custom),
        };
        SignalHealth { name: self.name.clone(), demands, value }
    }

    /// The highest level this signal can demand (checked against the controller's levels).
    pub(super) fn worst_demand(&self) -> Level {
        match &self.source {
            Source::Breaker { demands, .. } => *demands,
            Source::Number { thresholds, .. } => thresholds.iter().map(|t| t.demands).max().unwrap_or(Level::NORMAL),
            Source::Custom(_) => Level::NORMAL,
        }
    }
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal").field("name", &self.name).finish_non_exhaustive()
    }
}

/// What a signal read at the last evaluation.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SignalValue {
    /// The watched circuit breaker's state.
    Breaker {
        /// Its state when read.
        #[serde(serialize_with = "state_label")]
        state: CircuitState,
    },
    /// A numeric reading.
    Number {
        /// What the number measures.
        #[serde(rename = "measures")]
        kind: NumberKind,
        /// The number read.
        value: f64,
    },
    /// A custom signal: only its demand is known.
    Custom,
}

/// One signal in a [`DegradationHealth`] snapshot.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SignalHealth {
    /// The signal's name.
    pub name: String,
    /// The level it demanded at the last evaluation.
    pub demands: Level,
    /// What it read.
    pub value: SignalValue,
}

/// A controller's state for health output (serializable with serde).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DegradationHealth {
    /// The controller's name.
    pub controller: String,
    /// The current level.
    pub level: Level,
    /// The current level's name.
    pub level_name: String,
    /// The worst demand at the last evaluation (the level the controller is moving toward).
    pub demanded: Level,
    /// Each signal's last reading, in registration order.
    pub signals: Vec<SignalHealth>,
}

fn state_label<S: serde::Serializer>(state: &CircuitState, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(state.as_str())
}
