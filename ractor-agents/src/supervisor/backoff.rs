//! Restart backoff: exponential with jitter, bounded, reset after a stable period.

use std::time::Duration;

use rand::{Rng, RngExt};

/// How long a supervisor waits before restarting a child that exited.
///
/// The `n`-th consecutive restart of a child (counting from 0) waits
/// `clamp(min · factor^n, min, max)`, minus a random share of up to `jitter` of it (never
/// below `min`). A child that ran for at least `reset_after` before exiting starts again at
/// `n = 0`. OTP has no backoff (it restarts at once, which is [`Backoff::none`], the default);
/// Akka does. Here both apply: intensity bounds *how many* restarts, backoff *how fast*.
///
/// ```
/// use ractor_agents::supervisor::Backoff;
/// use std::time::Duration;
/// let backoff = Backoff::exponential(Duration::from_millis(10), Duration::from_secs(1))
///     .jitter(0.0)
///     .reset_after(Duration::from_secs(30));
/// let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
/// # use rand::SeedableRng;
/// assert_eq!(backoff.delay(0, &mut rng), Duration::from_millis(10));
/// assert_eq!(backoff.delay(3, &mut rng), Duration::from_millis(80));
/// assert_eq!(backoff.delay(30, &mut rng), Duration::from_secs(1));
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    factor: f64,
    jitter: f64,
    reset_after: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self::none()
    }
}

impl Backoff {
    /// Restart at once (OTP's behaviour).
    pub const fn none() -> Self {
        Self {
            min: Duration::ZERO,
            max: Duration::ZERO,
            factor: 2.0,
            jitter: 0.0,
            reset_after: Duration::from_secs(60),
        }
    }

    /// Doubling delays from `min` to `max`, with 20 % jitter, reset after 60 s of stable running.
    pub fn exponential(min: Duration, max: Duration) -> Self {
        Self { min, max: max.max(min), factor: 2.0, jitter: 0.2, reset_after: Duration::from_secs(60) }
    }

    /// The growth factor per consecutive restart (at least 1).
    pub fn factor(mut self, factor: f64) -> Self {
        self.factor = if factor.is_finite() { factor.max(1.0) } else { 2.0 };
        self
    }

    /// The largest share of a delay removed at random (0 to 1).
    pub fn jitter(mut self, jitter: f64) -> Self {
        self.jitter = if jitter.is_finite() { jitter.clamp(0.0, 1.0) } else { 0.0 };
        self
    }

    /// After running this long, a child's consecutive-restart count goes back to 0.
    pub fn reset_after(mut self, period: Duration) -> Self {
        self.reset_after = period;
        self
    }

    /// The stable period after which the count resets.
    pub fn reset_period(&self) -> Duration {
        self.reset_after
    }

    /// The delay before restart number `consecutive` (0-based).
    pub fn delay<R: Rng + ?Sized>(&self, consecutive: u32, rng: &mut R) -> Duration {
        if self.max.is_zero() {
            return Duration::ZERO;
        }
        let exp = self.factor.powi(consecutive.min(1024) as i32);
        let base = self.min.as_secs_f64() * exp;
        let capped = if base.is_finite() { base.min(self.max.as_secs_f64()) } else { self.max.as_secs_f64() };
        let cut = if self.jitter > 0.0 { capped * self.jitter * rng.random::<f64>() } else { 0.0 };
        Duration::from_secs_f64((capped - cut).max(self.min.as_secs_f64()))
    }
}
