//! Retry: exponential backoff with full jitter, a cap on attempts, a shared retry budget, and
//! respect for the dependency's `Retry-After`.
//!
//! The `n`-th retry (counting from 0) waits a uniformly random delay in
//! `[0, min(cap, base · 2ⁿ)]` ("full jitter", as AWS recommends: it spreads clients that failed
//! together better than any fixed share of jitter). An error decides whether another attempt
//! is allowed through [`Classify`] (or a closure):
//!
//! | [`RetryClass`] | what happens |
//! |---|---|
//! | `Retryable` | retried after the backoff, while attempts and budget last |
//! | `RetryAfter(d)` | retried after `max(backoff, d)`; given up at once when `d` exceeds `max_retry_after` |
//! | `Permanent` | returned at once |
//! | `Cancelled` | returned at once, never retried |
//!
//! On `Retry-After` the policy waits `max(backoff, d)`, not exactly `d`: `d` is the server's
//! floor ("not before"), and a jittered backoff above it keeps the clients that all got the
//! same `d` from returning in the same instant; our own growth still applies when it is the
//! larger. When the policy gives up it returns the last error unchanged (as tower's and Polly's
//! retries do); why it gave up is a `DEBUG` event on this module's target.
//!
//! ```
//! use ractor_agents::resilience::{Retry, RetryClass};
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let retry = Retry::new("inventory").max_attempts(3).backoff(Duration::from_millis(10), Duration::from_secs(1));
//! let calls = AtomicU32::new(0);
//! let answer: Result<u32, &str> = retry
//!     .run_classified(
//!         |_e: &&str| RetryClass::Retryable,
//!         || async { if calls.fetch_add(1, Ordering::Relaxed) < 2 { Err("reset") } else { Ok(7) } },
//!     )
//!     .await;
//! assert_eq!(answer, Ok(7));
//! assert_eq!(calls.load(Ordering::Relaxed), 3);
//! # }
//! ```

mod budget;
mod classify;
mod layer;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

pub use budget::RetryBudget;
pub use classify::{Classify, RetryClass};
pub use layer::{ByClassify, Classifier, RetryLayer, RetryService};

use crate::telemetry::metrics::resilience_names;

/// A retry policy. Cheap to clone; clones share the budget and the random generator.
#[derive(Clone)]
pub struct Retry {
    name: &'static str,
    max_attempts: u32,
    backoff: FullJitter,
    max_retry_after: Duration,
    budget: Option<Arc<RetryBudget>>,
    rng: Arc<Mutex<SmallRng>>,
    retries: metrics::Counter,
}

impl std::fmt::Debug for Retry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retry")
            .field("name", &self.name)
            .field("max_attempts", &self.max_attempts)
            .field("backoff", &self.backoff)
            .field("max_retry_after", &self.max_retry_after)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

/// Exponential backoff with full jitter: retry `n` waits uniformly in `[0, min(cap, base · 2ⁿ)]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FullJitter {
    /// The ceiling of the first retry's delay.
    pub base: Duration,
    /// The largest ceiling any retry's delay may have.
    pub cap: Duration,
}

impl FullJitter {
    /// The upper bound of retry `n`'s delay: `min(cap, base · 2ⁿ)`.
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry).unwrap_or(u32::MAX);
        self.base.checked_mul(factor).map_or(self.cap, |d| d.min(self.cap))
    }

    /// A delay for retry `n`, uniform in `[0, ceiling(n)]` (nanosecond resolution).
    pub fn delay<R: rand::Rng + ?Sized>(&self, retry: u32, rng: &mut R) -> Duration {
        let ceiling = u64::try_from(self.ceiling(retry).as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rng.random_range(0..=ceiling))
    }
}

/// Why a retry policy stopped (reported in its `DEBUG` event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GiveUp {
    NotRetryable,
    AttemptsSpent,
    RetryAfterTooLong,
    BudgetSpent,
}

impl Retry {
    /// A policy named `name` (the `policy` label of its metrics): 3 attempts, backoff 100 ms
    /// doubling to 10 s, `Retry-After` honoured up to 60 s, the default [`RetryBudget`].
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            max_attempts: 3,
            backoff: FullJitter { base: Duration::from_millis(100), cap: Duration::from_secs(10) },
            max_retry_after: Duration::from_secs(60),
            budget: Some(Arc::new(RetryBudget::default())),
            rng: Arc::new(Mutex::new(rand::make_rng())),
            retries: metrics::counter!(resilience_names::RETRY_ATTEMPTS, "policy" => name),
        }
    }

    /// Total attempts, the first included (at least 1).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts.max(1);
        self
    }

    /// The backoff's base (first retry's ceiling) and cap.
    pub fn backoff(mut self, base: Duration, cap: Duration) -> Self {
        self.backoff = FullJitter { base, cap };
        self
    }

    /// The longest `Retry-After` worth waiting for; a longer one ends the retries at once
    /// (the caller learns sooner, and can degrade, instead of hanging).
    pub fn max_retry_after(mut self, limit: Duration) -> Self {
        self.max_retry_after = limit;
        self
    }

    /// Shares `budget` (several policies may draw on one budget per dependency).
    pub fn budget(mut self, budget: Arc<RetryBudget>) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Retries without a budget: only `max_attempts` limits them.
    pub fn without_budget(mut self) -> Self {
        self.budget = None;
        self
    }

    /// Seeds the jitter's generator, so delays are reproducible (tests, simulations).
    pub fn seed(mut self, seed: u64) -> Self {
        self.rng = Arc::new(Mutex::new(SmallRng::seed_from_u64(seed)));
        self
    }

    /// The policy's name (its metrics' `policy` label).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The backoff schedule.
    pub fn full_jitter(&self) -> FullJitter {
        self.backoff
    }

    /// Runs `op` until it succeeds or the policy gives up, classifying errors with [`Classify`].
    pub async fn run<T, E, F, Fut>(&self, op: F) -> Result<T, E>
    where
        E: Classify,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.run_classified(E::retry_class, op).await
    }

    /// Runs `op` until it succeeds or the policy gives up, classifying errors with `classify`.
    pub async fn run_classified<T, E, F, Fut, C>(&self, classify: C, mut op: F) -> Result<T, E>
    where
        C: Fn(&E) -> RetryClass,
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let mut attempt = 1;
        loop {
            match op().await {
                Ok(value) => {
                    self.record_success();
                    return Ok(value);
                }
                Err(error) => match self.after_failure(attempt, classify(&error)) {
                    Some(delay) => {
                        tokio::time::sleep(delay).await;
                        attempt += 1;
                    }
                    None => return Err(error),
                },
            }
        }
    }

    pub(crate) fn record_success(&self) {
        if let Some(budget) = &self.budget {
            budget.deposit();
        }
    }

    /// The wait before attempt `attempt + 1`, or `None` (and a `DEBUG` event saying why) when
    /// the policy gives up.
    pub(crate) fn after_failure(&self, attempt: u32, class: RetryClass) -> Option<Duration> {
        self.next_delay(attempt, class)
            .inspect_err(|reason| tracing::debug!(policy = self.name, attempt, ?reason, "retry policy gave up"))
            .ok()
    }

    /// The wait before attempt `attempt + 1`, or why there is none. The budget is drawn last,
    /// so a give-up for another reason does not spend it.
    fn next_delay(&self, attempt: u32, class: RetryClass) -> Result<Duration, GiveUp> {
        let floor = match class {
            RetryClass::Permanent | RetryClass::Cancelled => return Err(GiveUp::NotRetryable),
            RetryClass::Retryable => Duration::ZERO,
            RetryClass::RetryAfter(after) if after > self.max_retry_after => return Err(GiveUp::RetryAfterTooLong),
            RetryClass::RetryAfter(after) => after,
        };
        if attempt >= self.max_attempts {
            return Err(GiveUp::AttemptsSpent);
        }
        if let Some(budget) = &self.budget
            && !budget.withdraw()
        {
            return Err(GiveUp::BudgetSpent);
        }
        let backoff = {
            let mut rng = self.rng.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
            self.backoff.delay(attempt - 1, &mut *rng)
        };
        self.retries.increment(1);
        Ok(backoff.max(floor))
    }
}
