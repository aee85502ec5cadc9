//! The retry budget: retries are earned by successes, so a failing dependency is not hammered.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// One retry, in the budget's fixed-point unit (thousandths of a retry).
const RETRY_COST: u64 = 1000;

/// A token bucket of retries shared by every call through one policy (or several).
///
/// Each successful call deposits `ratio` of a retry (0.2 = retries may add 20 % to the load);
/// each retry withdraws one. On top of that a reserve of `min_per_sec` retries per second is
/// always available, so a quiet service can still retry its rare failures. Savings are capped
/// at `max_saved` retries so a long healthy period does not bank an unbounded burst. When both
/// are empty the policy stops retrying and returns the error: the dependency is failing more
/// than the budget allows, and more attempts would only add to its load (the same idea as
/// Finagle's and tower's retry budgets).
#[derive(Debug)]
pub struct RetryBudget {
    /// Thousandths of a retry earned per success.
    earn_per_success: u64,
    /// Cap of `saved`, in thousandths of a retry.
    max_saved: u64,
    /// Thousandths of a retry earned by successes and not yet spent.
    saved: AtomicU64,
    min_per_sec: f64,
    reserve: Mutex<Reserve>,
}

#[derive(Debug)]
struct Reserve {
    /// Retries available from the per-second floor (at most `min_per_sec`).
    tokens: f64,
    refilled_at: Instant,
}

impl RetryBudget {
    /// A budget of `ratio` retries per success (clamped to 0..=1000) plus `min_per_sec`
    /// retries per second, saving at most 100 retries.
    pub fn new(ratio: f64, min_per_sec: u32) -> Self {
        let ratio = if ratio.is_finite() { ratio.clamp(0.0, 1000.0) } else { 0.0 };
        Self {
            earn_per_success: (ratio * RETRY_COST as f64).round() as u64,
            max_saved: 100 * RETRY_COST,
            saved: AtomicU64::new(0),
            min_per_sec: f64::from(min_per_sec),
            reserve: Mutex::new(Reserve { tokens: f64::from(min_per_sec), refilled_at: Instant::now() }),
        }
    }

    /// Caps the retries saved from successes (default 100).
    pub fn max_saved(mut self, retries: u32) -> Self {
        self.max_saved = u64::from(retries) * RETRY_COST;
        self
    }

    /// Records a successful call (one uncontended compare-and-swap: this is on every call's path).
    pub fn deposit(&self) {
        let earned = self.earn_per_success;
        let max = self.max_saved;
        // fetch_update only fails when the closure returns None, which it never does.
        let _ = self.saved.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| Some((s + earned).min(max)));
    }

    /// Takes one retry from the budget; `false` when there is none left.
    pub fn withdraw(&self) -> bool {
        let from_savings =
            self.saved.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |s| s.checked_sub(RETRY_COST)).is_ok();
        if from_savings {
            return true;
        }
        let mut reserve = self.reserve.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        let elapsed: Duration = now.saturating_duration_since(reserve.refilled_at);
        reserve.tokens = (reserve.tokens + elapsed.as_secs_f64() * self.min_per_sec).min(self.min_per_sec);
        reserve.refilled_at = now;
        if reserve.tokens >= 1.0 {
            reserve.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

impl Default for RetryBudget {
    /// 20 % extra load plus 10 retries per second, as tower's default budget.
    fn default() -> Self {
        Self::new(0.2, 10)
    }
}
