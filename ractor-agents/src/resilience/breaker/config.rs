//! What a breaker judges by: its window, thresholds, break durations and half-open probes.

use std::time::Duration;

/// Which recent calls the failure and slow-call rates are computed over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlidingWindow {
    /// The last `n` calls, whenever they happened.
    Count(u32),
    /// Calls that ended within the last `length`, kept in `buckets` equal slices of it: a call
    /// leaves the window when its whole slice is older than `length` (so the window covers
    /// between `length - length / buckets` and `length`).
    Time {
        /// How far back calls count.
        length: Duration,
        /// Slices of `length` (more slices: calls leave more precisely, each record reads more).
        buckets: u32,
    },
}

/// How long the circuit stays open before it lets probes through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakDuration {
    /// The same break after every trip.
    Fixed(Duration),
    /// `initial` after the first trip, doubling for each trip that follows without the circuit
    /// closing in between (a failed half-open probe re-opens it), never more than `max`.
    Exponential {
        /// Break after the first trip.
        initial: Duration,
        /// The cap.
        max: Duration,
    },
}

impl BreakDuration {
    /// The break after the `trip`-th consecutive trip (1 for the first).
    pub fn after_trip(&self, trip: u32) -> Duration {
        match *self {
            Self::Fixed(duration) => duration,
            Self::Exponential { initial, max } => {
                let doublings = trip.saturating_sub(1);
                if doublings >= 32 {
                    return max;
                }
                initial.checked_mul(1u32 << doublings).unwrap_or(max).min(max)
            }
        }
    }
}

/// A breaker's settings. Build one with [`CircuitBreaker::builder`](super::CircuitBreaker::builder).
///
/// # Defaults, next to resilience4j's and Polly's
///
/// | setting | ractor-agents | resilience4j | Polly v8 |
/// |---|---|---|---|
/// | failure rate that trips | 50 % | 50 % | 10 % |
/// | window | time, 30 s in 10 slices | last 100 calls | 30 s |
/// | minimum calls before judging | 10 | 100 | 100 |
/// | break | 5 s, doubling to 60 s | 60 s | 5 s |
/// | half-open probes | 3, all must succeed | 10, judged by rate | 1 |
/// | slow calls | off (60 s / 100 % when enabled without arguments) | 60 s / 100 % | — |
///
/// Why ours differ: agents call LLM providers and tools at a few calls per second, not
/// thousands. A minimum of 100 calls in 30 s would leave the breaker blind to a provider that is
/// down for a minute, so we judge after 10. At that sample size 10 % (Polly) trips on the
/// background rate of 429s many providers answer; 50 % (resilience4j) does not. The window is by
/// time (Polly) because a count window over a quiet provider keeps hour-old failures. Outages of
/// hosted models last minutes: a fixed 5 s break probes a dead provider twelve times a minute, a
/// fixed 60 s one leaves a recovered provider unused for a minute, so the break starts at Polly's
/// 5 s and doubles to resilience4j's 60 s. Three probes (not one) so a single lucky answer does
/// not close the circuit. Slow-call tripping is off: the slow threshold has to be a latency you
/// know for the dependency, and a [`Timeout`]-style policy inside the breaker turns hangs into
/// failures anyway.
///
/// [`Timeout`]: https://docs.rs/tower/latest/tower/timeout/index.html
#[derive(Clone, Debug, PartialEq)]
pub struct BreakerConfig {
    /// Failure rate (0 < rate ≤ 1) at or above which a closed circuit opens.
    pub failure_rate_threshold: f64,
    /// Slow-call detection: calls taking at least `duration` are slow; a slow rate at or above
    /// `rate` opens the circuit. `None`: calls are never slow.
    pub slow_calls: Option<SlowCalls>,
    /// Which calls the rates are computed over.
    pub window: SlidingWindow,
    /// Calls the window must hold before the rates are judged.
    pub minimum_calls: u32,
    /// How long the circuit stays open.
    pub break_duration: BreakDuration,
    /// Probes let through while half-open (at most this many in one half-open period).
    pub half_open_probes: u32,
    /// Successful probes that close the circuit (≤ `half_open_probes`); any failed probe opens it again.
    pub half_open_successes: u32,
}

/// When a call is slow, and how many slow calls trip the circuit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SlowCalls {
    /// A call that takes at least this long is slow (success or failure).
    pub duration: Duration,
    /// Slow rate (0 < rate ≤ 1) at or above which a closed circuit opens.
    pub rate_threshold: f64,
}

impl Default for SlowCalls {
    /// resilience4j's: 60 s, 100 %.
    fn default() -> Self {
        Self { duration: Duration::from_secs(60), rate_threshold: 1.0 }
    }
}

impl Default for BreakerConfig {
    fn default() -> Self {
        Self {
            failure_rate_threshold: 0.5,
            slow_calls: None,
            window: SlidingWindow::Time { length: Duration::from_secs(30), buckets: 10 },
            minimum_calls: 10,
            break_duration: BreakDuration::Exponential {
                initial: Duration::from_secs(5),
                max: Duration::from_secs(60),
            },
            half_open_probes: 3,
            half_open_successes: 3,
        }
    }
}

/// The largest count window (the packed window counters are 21 bits wide).
pub const MAX_WINDOW_CALLS: u32 = (1 << 20) - 1;
/// The most half-open probes (the packed state word's field width).
pub const MAX_HALF_OPEN_PROBES: u32 = (1 << 15) - 1;
/// The most slices of a time window.
pub const MAX_TIME_BUCKETS: u32 = 1024;

/// A breaker setting that cannot work.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum BreakerConfigError {
    /// A rate threshold outside (0, 1].
    #[error("{which} threshold {value} is not a rate in (0, 1]; use e.g. 0.5 for 50 %")]
    Rate {
        /// Which threshold (`failure rate` or `slow-call rate`).
        which: &'static str,
        /// The value given.
        value: f64,
    },
    /// A count window of zero calls or more than [`MAX_WINDOW_CALLS`].
    #[error("a count window holds 1..={MAX_WINDOW_CALLS} calls, not {0}")]
    CountWindow(u32),
    /// A time window of zero length, or with zero or more than [`MAX_TIME_BUCKETS`] slices, or
    /// slices shorter than a nanosecond.
    #[error(
        "a time window needs a length of at least `buckets` ns and 1..={MAX_TIME_BUCKETS} buckets (got {length:?} in {buckets})"
    )]
    TimeWindow {
        /// The length given.
        length: Duration,
        /// The slices given.
        buckets: u32,
    },
    /// Half-open probes of zero or more than [`MAX_HALF_OPEN_PROBES`], or a success threshold
    /// of zero or above the probes.
    #[error(
        "half-open needs 1..={MAX_HALF_OPEN_PROBES} probes and 1..=probes successes (got {probes} probes, {successes} successes)"
    )]
    HalfOpen {
        /// Probes given.
        probes: u32,
        /// Successes given.
        successes: u32,
    },
    /// A zero minimum number of calls (the rates of an empty window are undefined).
    #[error("minimum calls must be at least 1")]
    MinimumCalls,
}

impl BreakerConfig {
    /// Checks that every setting can work.
    pub fn validate(&self) -> Result<(), BreakerConfigError> {
        let rate_ok = |r: f64| r > 0.0 && r <= 1.0;
        if !rate_ok(self.failure_rate_threshold) {
            return Err(BreakerConfigError::Rate { which: "failure rate", value: self.failure_rate_threshold });
        }
        if let Some(slow) = self.slow_calls
            && !rate_ok(slow.rate_threshold)
        {
            return Err(BreakerConfigError::Rate { which: "slow-call rate", value: slow.rate_threshold });
        }
        match self.window {
            SlidingWindow::Count(n) if n == 0 || n > MAX_WINDOW_CALLS => {
                return Err(BreakerConfigError::CountWindow(n));
            }
            SlidingWindow::Time { length, buckets }
                if buckets == 0 || buckets > MAX_TIME_BUCKETS || length.as_nanos() < u128::from(buckets) =>
            {
                return Err(BreakerConfigError::TimeWindow { length, buckets });
            }
            _ => {}
        }
        if self.minimum_calls == 0 {
            return Err(BreakerConfigError::MinimumCalls);
        }
        let (probes, successes) = (self.half_open_probes, self.half_open_successes);
        if probes == 0 || probes > MAX_HALF_OPEN_PROBES || successes == 0 || successes > probes {
            return Err(BreakerConfigError::HalfOpen { probes, successes });
        }
        Ok(())
    }
}
