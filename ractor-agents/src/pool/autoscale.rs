//! Autoscaling: how many workers a pool should run, decided by a pure function.

use std::time::Duration;

/// When a pool adds and drains workers (between its `min` and `max`).
///
/// Every `interval` the pool decides from what it sampled `samples` times during the interval
/// (see [`ScaleSignals`]); [`AutoscalePolicy::decide`] is the whole rule:
///
/// 1. Below `min` or above `max` (after a configuration change): go straight back into range.
/// 2. `by_utilisation = ⌈workers × utilisation ÷ target_utilisation⌉`: the workers that would
///    run at the target utilisation with today's load.
/// 3. `by_backlog = ⌈(queued + backlog) ÷ backlog_per_worker⌉` when `backlog_per_worker` is set
///    (an external queue depth, such as the task store's pending count, then also counts).
/// 4. `desired = clamp(max(by_utilisation, by_backlog), min, max)`; scale up to it if the last
///    change is at least `scale_up_cooldown` old, down to it if at least `scale_down_cooldown`.
///
/// A worker is *busy* at a sample if it has any job (running or queued), so the utilisation
/// means "share of workers with work", which reads the same for 50 µs jobs and 50 s jobs.
///
/// ```
/// use ractor_agents::pool::{AutoscalePolicy, ScaleDecision, ScaleSignals};
/// use std::time::Duration;
/// let policy = AutoscalePolicy::default(); // target utilisation 0.7
/// let saturated = ScaleSignals { workers: 4, min: 2, max: 16, utilisation: 1.0, queued: 40, backlog: 0 };
/// assert_eq!(policy.decide(&saturated, None), ScaleDecision::Up(2)); // ⌈4 × 1.0 ÷ 0.7⌉ = 6
/// let quiet = ScaleSignals { utilisation: 0.1, queued: 0, ..saturated };
/// assert_eq!(policy.decide(&quiet, Some(Duration::from_secs(1))), ScaleDecision::Hold); // cooldown
/// assert_eq!(policy.decide(&quiet, Some(Duration::from_secs(60))), ScaleDecision::Down(2));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AutoscalePolicy {
    /// The share of workers with work the pool aims for (0 to 1; default 0.7).
    pub target_utilisation: f64,
    /// If set, also run at least one worker per this many waiting jobs (queued in the pool plus
    /// the external backlog). Default `None`: utilisation alone decides.
    pub backlog_per_worker: Option<u64>,
    /// No scale-up within this long of the last change (default 5 s).
    pub scale_up_cooldown: Duration,
    /// No scale-down within this long of the last change (default 30 s).
    pub scale_down_cooldown: Duration,
    /// How often the pool decides (default 1 s).
    pub interval: Duration,
    /// How many times per interval the pool samples its workers (default 10).
    pub samples: u32,
}

impl Default for AutoscalePolicy {
    fn default() -> Self {
        Self {
            target_utilisation: 0.7,
            backlog_per_worker: None,
            scale_up_cooldown: Duration::from_secs(5),
            scale_down_cooldown: Duration::from_secs(30),
            interval: Duration::from_secs(1),
            samples: 10,
        }
    }
}

/// What the pool measured over one interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScaleSignals {
    /// Routable workers now.
    pub workers: usize,
    /// The pool's minimum.
    pub min: usize,
    /// The pool's maximum.
    pub max: usize,
    /// Share of worker samples that had work (0 to 1).
    pub utilisation: f64,
    /// Jobs waiting in the pool behind a running one, now.
    pub queued: u64,
    /// Jobs waiting outside the pool (reported with [`PoolRef::set_backlog`](super::PoolRef::set_backlog)).
    pub backlog: u64,
}

/// What to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleDecision {
    /// Keep the workers as they are.
    Hold,
    /// Add this many workers.
    Up(usize),
    /// Drain this many workers.
    Down(usize),
}

impl AutoscalePolicy {
    /// The decision for `signals`, given how long ago the pool last scaled (`None`: never).
    pub fn decide(&self, signals: &ScaleSignals, since_last_change: Option<Duration>) -> ScaleDecision {
        let ScaleSignals { workers, min, max, .. } = *signals;
        let max = max.max(min);
        if workers < min {
            return ScaleDecision::Up(min - workers);
        }
        if workers > max {
            return ScaleDecision::Down(workers - max);
        }
        let target = if self.target_utilisation.is_finite() { self.target_utilisation.clamp(0.05, 1.0) } else { 0.7 };
        let utilisation = if signals.utilisation.is_finite() { signals.utilisation.clamp(0.0, 1.0) } else { 0.0 };
        // The small epsilon keeps 4 × 0.7 ÷ 0.7 from rounding up to 5.
        let by_utilisation = (workers as f64 * utilisation / target - 1e-9).ceil().max(0.0) as usize;
        let by_backlog = self.backlog_per_worker.filter(|b| *b > 0).map_or(0, |per| {
            let waiting = signals.queued.saturating_add(signals.backlog);
            usize::try_from(waiting.div_ceil(per)).unwrap_or(usize::MAX)
        });
        let desired = by_utilisation.max(by_backlog).clamp(min, max);
        let cooled = |cooldown: Duration| since_last_change.is_none_or(|since| since >= cooldown);
        if desired > workers && cooled(self.scale_up_cooldown) {
            ScaleDecision::Up(desired - workers)
        } else if desired < workers && cooled(self.scale_down_cooldown) {
            ScaleDecision::Down(workers - desired)
        } else {
            ScaleDecision::Hold
        }
    }

    /// The sampling period: `interval ÷ samples` (at least 1 ms).
    pub(crate) fn sample_period(&self) -> Duration {
        (self.interval / self.samples.max(1)).max(Duration::from_millis(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signals(workers: usize, utilisation: f64) -> ScaleSignals {
        ScaleSignals { workers, min: 2, max: 10, utilisation, queued: 0, backlog: 0 }
    }

    const LONG_AGO: Option<Duration> = Some(Duration::from_secs(3600));

    #[test]
    fn a_pool_at_its_target_utilisation_holds() {
        assert_eq!(AutoscalePolicy::default().decide(&signals(4, 0.7), LONG_AGO), ScaleDecision::Hold);
    }

    #[test]
    fn a_saturated_pool_grows_to_run_at_its_target_and_never_past_max() {
        let policy = AutoscalePolicy::default();
        assert_eq!(policy.decide(&signals(4, 1.0), LONG_AGO), ScaleDecision::Up(2));
        assert_eq!(policy.decide(&signals(9, 1.0), LONG_AGO), ScaleDecision::Up(1));
        assert_eq!(policy.decide(&signals(10, 1.0), LONG_AGO), ScaleDecision::Hold);
    }

    #[test]
    fn an_idle_pool_shrinks_to_min_and_never_below() {
        let policy = AutoscalePolicy::default();
        assert_eq!(policy.decide(&signals(8, 0.0), LONG_AGO), ScaleDecision::Down(6));
        assert_eq!(policy.decide(&signals(2, 0.0), LONG_AGO), ScaleDecision::Hold);
    }

    #[test]
    fn cooldowns_hold_back_changes_and_scale_down_waits_longer() {
        let policy = AutoscalePolicy::default();
        let recent = Some(Duration::from_secs(10));
        assert_eq!(policy.decide(&signals(4, 1.0), Some(Duration::from_secs(1))), ScaleDecision::Hold);
        assert_eq!(policy.decide(&signals(4, 1.0), recent), ScaleDecision::Up(2));
        assert_eq!(policy.decide(&signals(8, 0.0), recent), ScaleDecision::Hold);
    }

    #[test]
    fn a_pool_outside_its_range_goes_back_at_once_whatever_the_cooldown() {
        let policy = AutoscalePolicy::default();
        let now = Some(Duration::ZERO);
        assert_eq!(policy.decide(&signals(1, 0.0), now), ScaleDecision::Up(1));
        assert_eq!(policy.decide(&signals(12, 1.0), now), ScaleDecision::Down(2));
    }

    #[test]
    fn an_external_backlog_scales_up_when_backlog_per_worker_is_set() {
        let policy = AutoscalePolicy { backlog_per_worker: Some(10), ..AutoscalePolicy::default() };
        let backlogged = ScaleSignals { backlog: 55, queued: 5, ..signals(2, 0.5) };
        assert_eq!(policy.decide(&backlogged, LONG_AGO), ScaleDecision::Up(4)); // ⌈60 ÷ 10⌉ = 6
        assert_eq!(AutoscalePolicy::default().decide(&backlogged, LONG_AGO), ScaleDecision::Hold);
    }

    #[test]
    fn nonsense_inputs_decide_nothing_strange() {
        let policy = AutoscalePolicy { target_utilisation: f64::NAN, ..AutoscalePolicy::default() };
        assert_eq!(policy.decide(&signals(4, f64::NAN), LONG_AGO), ScaleDecision::Down(2));
        let inverted = ScaleSignals { min: 5, max: 3, ..signals(5, 1.0) };
        assert_eq!(policy.decide(&inverted, LONG_AGO), ScaleDecision::Hold);
    }
}
