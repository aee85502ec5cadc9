//! Rate limit by GCRA (the generic cell rate algorithm): `rate` calls per `period` on average,
//! with bursts of up to `burst` calls at once.
//!
//! GCRA keeps one number, the theoretical arrival time (TAT) of the next call if calls came
//! exactly at the rate. With `T = period / rate` (the emission interval) and `τ = T · (burst - 1)`
//! (the tolerance), a call at `now` is admitted when `max(TAT, now) - now ≤ τ`, and then
//! `TAT = max(TAT, now) + T`; otherwise it must wait `max(TAT, now) - τ - now`. One atomic
//! compare-and-swap per call, no background refill and no per-call allocation. Written here
//! rather than taken from `governor`: it is ~40 lines, and it reads the clock through an
//! injected function (tokio's by default) so tests advance time exactly.
//!
//! ```
//! use ractor_agents::resilience::RateLimiter;
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() {
//! let limiter = RateLimiter::new("llm", 10, Duration::from_secs(1), 2); // 10/s, bursts of 2
//! assert!(limiter.try_acquire().is_ok());
//! assert!(limiter.try_acquire().is_ok());
//! let refused = limiter.try_acquire().unwrap_err();
//! assert_eq!(refused.retry_after, Duration::from_millis(100));
//! limiter.acquire().await; // waits those 100 ms
//! # }
//! ```

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use tokio::time::{Instant, Sleep};
use tower::{BoxError, Layer, Service};

use crate::telemetry::metrics::resilience_names;

/// A rate limiter refused a call.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rate limit `{limiter}` reached; try again in {retry_after:?} or slow down")]
pub struct RateLimited {
    /// The limiter's name.
    pub limiter: &'static str,
    /// When capacity for one call returns (exact under GCRA, if nobody else takes it first).
    pub retry_after: Duration,
}

/// Where a limiter reads the time.
type Clock = Arc<dyn Fn() -> Instant + Send + Sync>;

/// A GCRA rate limiter. Cheap to clone; clones share the limit.
#[derive(Clone)]
pub struct RateLimiter {
    shared: Arc<Gcra>,
}

struct Gcra {
    name: &'static str,
    /// `T`, in nanoseconds.
    emission_ns: u64,
    /// `τ`, in nanoseconds.
    tolerance_ns: u64,
    /// The theoretical arrival time, in nanoseconds since `epoch`.
    tat_ns: AtomicU64,
    epoch: Instant,
    clock: Clock,
    rejections: metrics::Counter,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("name", &self.shared.name)
            .field("emission_interval", &Duration::from_nanos(self.shared.emission_ns))
            .field("tolerance", &Duration::from_nanos(self.shared.tolerance_ns))
            .finish_non_exhaustive()
    }
}

impl RateLimiter {
    /// A limiter named `name` (its metric's `policy` label) of `rate` calls per `period`
    /// (`rate` at least 1) with bursts of `burst` (at least 1), on tokio's clock.
    pub fn new(name: &'static str, rate: u32, period: Duration, burst: u32) -> Self {
        Self::with_clock(name, rate, period, burst, Instant::now)
    }

    /// The same, reading the time from `clock` (which must not go backwards).
    pub fn with_clock(
        name: &'static str,
        rate: u32,
        period: Duration,
        burst: u32,
        clock: impl Fn() -> Instant + Send + Sync + 'static,
    ) -> Self {
        let emission_ns = u64::try_from(period.as_nanos() / u128::from(rate.max(1))).unwrap_or(u64::MAX).max(1);
        let epoch = clock();
        Self {
            shared: Arc::new(Gcra {
                name,
                emission_ns,
                tolerance_ns: emission_ns.saturating_mul(u64::from(burst.max(1) - 1)),
                tat_ns: AtomicU64::new(0),
                epoch,
                clock: Arc::new(clock),
                rejections: metrics::counter!(resilience_names::RATE_LIMIT_REJECTIONS, "policy" => name),
            }),
        }
    }

    /// Takes capacity for one call now, or says how long until there is some (counted as a rejection).
    pub fn try_acquire(&self) -> Result<(), RateLimited> {
        self.admit().inspect_err(|_| self.shared.rejections.increment(1))
    }

    /// Waits until there is capacity for one call, then takes it. Waiters are not queued in
    /// order: each retries when its computed wait ends (on tokio's timer, whatever the clock).
    pub async fn acquire(&self) {
        while let Err(refused) = self.admit() {
            tokio::time::sleep(refused.retry_after).await;
        }
    }

    /// Waits for capacity, then runs `call`.
    pub async fn run<F: Future>(&self, call: F) -> F::Output {
        self.acquire().await;
        call.await
    }

    /// Runs `call` if there is capacity now, else returns [`RateLimited`] (through `E: From<RateLimited>`).
    pub async fn run_or_reject<T, E, F>(&self, call: F) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
        E: From<RateLimited>,
    {
        self.try_acquire()?;
        call.await
    }

    /// GCRA's test-and-set (the arithmetic is in the module docs).
    fn admit(&self) -> Result<(), RateLimited> {
        let gcra = &*self.shared;
        let now = u64::try_from((gcra.clock)().saturating_duration_since(gcra.epoch).as_nanos()).unwrap_or(u64::MAX);
        let mut tat = gcra.tat_ns.load(Ordering::Acquire);
        loop {
            let start = tat.max(now);
            if start - now > gcra.tolerance_ns {
                let retry_after = Duration::from_nanos(start - gcra.tolerance_ns - now);
                return Err(RateLimited { limiter: gcra.name, retry_after });
            }
            let next = start.saturating_add(gcra.emission_ns);
            match gcra.tat_ns.compare_exchange_weak(tat, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(()),
                Err(current) => tat = current,
            }
        }
    }
}

/// Wraps a service in a [`RateLimiter`]: `poll_ready` waits until the limiter has capacity
/// (and reserves it), then until the inner service is ready.
#[derive(Debug, Clone)]
pub struct RateLimitLayer {
    limiter: RateLimiter,
}

impl RateLimitLayer {
    /// A layer applying `limiter` (all services it wraps share the limit).
    pub fn new(limiter: RateLimiter) -> Self {
        Self { limiter }
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimitService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService { inner, limiter: self.limiter.clone(), state: Reservation::None }
    }
}

/// A service whose calls are paced by a [`RateLimiter`].
#[derive(Debug)]
pub struct RateLimitService<S> {
    inner: S,
    limiter: RateLimiter,
    state: Reservation,
}

#[derive(Debug)]
enum Reservation {
    None,
    Waiting(Pin<Box<Sleep>>),
    /// Capacity for the next `call` was taken in `poll_ready`.
    Held,
}

impl<S: Clone> Clone for RateLimitService<S> {
    /// A clone holds no reservation: it must be polled ready itself.
    fn clone(&self) -> Self {
        Self { inner: self.inner.clone(), limiter: self.limiter.clone(), state: Reservation::None }
    }
}

impl<S, Req> Service<Req> for RateLimitService<S>
where
    S: Service<Req>,
    S::Response: Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        loop {
            match &mut self.state {
                Reservation::Held => return self.inner.poll_ready(cx).map_err(Into::into),
                Reservation::Waiting(sleep) => {
                    ready!(sleep.as_mut().poll(cx));
                    self.state = Reservation::None;
                }
                Reservation::None => match self.limiter.admit() {
                    Ok(()) => self.state = Reservation::Held,
                    Err(refused) => {
                        self.state = Reservation::Waiting(Box::pin(tokio::time::sleep(refused.retry_after)))
                    }
                },
            }
        }
    }

    /// Without a reservation from `poll_ready` (a contract breach in tower) the call is
    /// admitted only if there is capacity now, and refused with [`RateLimited`] otherwise.
    fn call(&mut self, request: Req) -> Self::Future {
        if !matches!(std::mem::replace(&mut self.state, Reservation::None), Reservation::Held)
            && let Err(refused) = self.limiter.try_acquire()
        {
            return Box::pin(std::future::ready(Err(refused.into())));
        }
        let call = self.inner.call(request);
        Box::pin(async move { call.await.map_err(Into::into) })
    }
}
