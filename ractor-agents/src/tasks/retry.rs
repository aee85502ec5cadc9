//! How often a task is tried and how long it waits between attempts.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::model::TaskId;

/// Attempt limit and exponential backoff with jitter, stored with each task.
///
/// The delay before attempt `n + 1` (after `n` failed attempts, `n ≥ 1`) is
/// `min(initial · factor^(n-1), max)`, minus up to `jitter` of it. The jitter is a hash of the
/// task id and attempt, not a random draw: the same task retries at the same times in every
/// replay (DESIGN: decisions come from injectable or deterministic sources), while different
/// tasks that failed together still spread out.
///
/// ```
/// use ractor_agents::tasks::{RetryPolicy, TaskId};
/// use std::time::Duration;
/// let policy = RetryPolicy::exponential(4, Duration::from_millis(100), Duration::from_secs(1)).jitter(0.0);
/// assert_eq!(policy.delay(TaskId(1), 1), Duration::from_millis(100));
/// assert_eq!(policy.delay(TaskId(1), 3), Duration::from_millis(400));
/// assert_eq!(policy.delay(TaskId(1), 9), Duration::from_secs(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// Delay after the first failure, in microseconds.
    pub initial_us: u64,
    /// Largest delay, in microseconds.
    pub max_us: u64,
    /// Growth per failed attempt.
    pub factor: f64,
    /// Largest share of a delay removed (0 to 1).
    pub jitter: f64,
}

// `f64` fields are always finite (the setters clamp them), so equality is reflexive.
impl Eq for RetryPolicy {}

impl Default for RetryPolicy {
    /// 3 attempts, 1 s doubling to 60 s, 20 % jitter.
    fn default() -> Self {
        Self::exponential(3, Duration::from_secs(1), Duration::from_secs(60))
    }
}

impl RetryPolicy {
    /// `max_attempts` in all, delays doubling from `initial` to `max`, 20 % jitter.
    pub fn exponential(max_attempts: u32, initial: Duration, max: Duration) -> Self {
        let initial_us = micros(initial);
        Self { max_attempts, initial_us, max_us: micros(max).max(initial_us), factor: 2.0, jitter: 0.2 }
    }

    /// No retries: one attempt.
    pub fn none() -> Self {
        Self::exponential(1, Duration::ZERO, Duration::ZERO)
    }

    /// Growth factor per failed attempt (at least 1).
    pub fn factor(mut self, factor: f64) -> Self {
        self.factor = if factor.is_finite() { factor.max(1.0) } else { 2.0 };
        self
    }

    /// Largest share of a delay removed (clamped to 0..=1).
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = if jitter.is_finite() { jitter.clamp(0.0, 1.0) } else { 0.0 };
        self
    }

    /// The wait after `failed_attempts` (≥ 1) failed attempts of task `id`.
    pub fn delay(&self, id: TaskId, failed_attempts: u32) -> Duration {
        let exp = self.factor.powi(failed_attempts.saturating_sub(1).min(1024) as i32);
        let base = self.initial_us as f64 * exp;
        let capped = if base.is_finite() { base.min(self.max_us as f64) } else { self.max_us as f64 };
        let cut = capped * self.jitter * unit_hash(id.0, failed_attempts);
        Duration::from_micros((capped - cut).max(0.0) as u64)
    }
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

/// A well-mixed value in [0, 1) from (id, attempt): splitmix64's finaliser.
fn unit_hash(id: u64, attempt: u32) -> f64 {
    let mut z = id.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ u64::from(attempt).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}
