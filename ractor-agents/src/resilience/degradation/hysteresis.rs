//! The hold-time rule that keeps a controller from flapping.
//!
//! Invariant: the level moves only when a demand has held *continuously* for its hold time, as
//! seen by the evaluations in between. A demand that returns to the current level even once
//! restarts the wait, so a signal oscillating faster than the hold time never moves the level.

use std::time::Duration;

use super::Level;

/// Hold times of a controller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HoldTimes {
    /// How long a worse demand must hold before the level escalates to it.
    pub escalate_after: Duration,
    /// How long a better demand must hold before the level recovers by one step.
    pub recover_after: Duration,
}

impl Default for HoldTimes {
    /// 5 s to escalate, 30 s per recovery step: see the module docs for why.
    fn default() -> Self {
        HoldTimes { escalate_after: Duration::from_secs(5), recover_after: Duration::from_secs(30) }
    }
}

/// A run of demands on one side of the current level.
#[derive(Clone, Copy, Debug)]
struct Run {
    since: Duration,
    /// For a worse run, the best demand seen in it (held throughout); for a better run, the worst.
    bound: Level,
}

/// The level and the demand runs in progress.
#[derive(Debug)]
pub(super) struct Hysteresis {
    level: Level,
    worse: Option<Run>,
    better: Option<Run>,
}

impl Hysteresis {
    pub(super) fn new(level: Level) -> Self {
        Hysteresis { level, worse: None, better: None }
    }

    pub(super) fn level(&self) -> Level {
        self.level
    }

    /// Feeds one evaluation's demand at `now`; returns the new level if it moved.
    pub(super) fn step(&mut self, now: Duration, demand: Level, hold: HoldTimes) -> Option<Level> {
        if demand > self.level {
            self.better = None;
            let run = self.worse.get_or_insert(Run { since: now, bound: demand });
            run.bound = run.bound.min(demand);
            if now.saturating_sub(run.since) >= hold.escalate_after {
                // Jump to the level demanded throughout the run, not to a peak seen once.
                self.level = run.bound;
                self.worse = (demand > self.level).then_some(Run { since: now, bound: demand });
                return Some(self.level);
            }
        } else if demand < self.level {
            self.worse = None;
            let run = self.better.get_or_insert(Run { since: now, bound: demand });
            run.bound = run.bound.max(demand);
            if now.saturating_sub(run.since) >= hold.recover_after {
                // One step at a time: each step down waits a full recover_after again.
                self.level = Level::at(self.level.index() - 1);
                self.better = (demand < self.level).then_some(Run { since: now, bound: demand });
                return Some(self.level);
            }
        } else {
            self.worse = None;
            self.better = None;
        }
        None
    }
}
