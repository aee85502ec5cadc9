//! Bulkhead: at most `max_concurrent` calls at once, at most `max_queue` more waiting; anything
//! beyond is rejected at once, so one slow dependency cannot take every task of the process.
//!
//! | state when a call arrives | what happens |
//! |---|---|
//! | a permit is free | the call runs now |
//! | all busy, fewer than `max_queue` waiting | the call waits (first come, first served), up to `max_wait` if set |
//! | all busy, queue full | [`BulkheadRejected::Full`] at once |
//! | waited `max_wait` without a permit | [`BulkheadRejected::QueueTimeout`] |
//!
//! A permit is released when the call finishes or is dropped (cancelled), never later.
//!
//! ```
//! use ractor_agents::resilience::{Bulkhead, BulkheadRejected};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let bulkhead = Bulkhead::new("db", 1, 0);
//! let held = bulkhead.acquire().await.unwrap();
//! assert!(matches!(bulkhead.acquire().await, Err(BulkheadRejected::Full { .. })));
//! drop(held);
//! let answer: Result<u8, BulkheadRejected> = bulkhead.run(async { Ok(1) }).await;
//! assert_eq!(answer, Ok(1));
//! # }
//! ```

use std::future::{Future, poll_fn};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tower::{BoxError, Layer, Service};

use crate::telemetry::metrics::resilience_names;

/// A bulkhead turned a call away.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BulkheadRejected {
    /// Every permit was taken and the wait queue was full.
    #[error(
        "bulkhead `{bulkhead}` is full ({max_concurrent} running, {max_queue} waiting); \
         shed this call or retry after a backoff"
    )]
    Full {
        /// The bulkhead's name.
        bulkhead: &'static str,
        /// Its concurrency limit.
        max_concurrent: usize,
        /// Its wait queue's bound.
        max_queue: usize,
    },
    /// The call waited its longest allowed wait without getting a permit.
    #[error(
        "bulkhead `{bulkhead}`: no permit within {waited:?}; the calls inside are slow, \
         so shed load or raise the limit"
    )]
    QueueTimeout {
        /// The bulkhead's name.
        bulkhead: &'static str,
        /// How long the call waited.
        waited: Duration,
    },
}

/// A concurrency limit with a bounded wait queue. Cheap to clone; clones share the limit.
#[derive(Debug, Clone)]
pub struct Bulkhead {
    shared: Arc<Shared>,
    /// Per handle: callers sharing one limit may be willing to wait differently.
    max_wait: Option<Duration>,
}

#[derive(Debug)]
struct Shared {
    name: &'static str,
    permits: Arc<Semaphore>,
    max_concurrent: usize,
    max_queue: usize,
    /// Calls waiting for a permit now (at most `max_queue`).
    waiting: AtomicUsize,
    rejected_full: metrics::Counter,
    rejected_timeout: metrics::Counter,
}

/// The right to run one call; dropping it frees the slot.
#[derive(Debug)]
pub struct BulkheadPermit {
    _permit: OwnedSemaphorePermit,
}

/// Takes a queue place back when its waiter leaves, whether it got a permit, timed out or was dropped.
struct QueuePlace<'a>(&'a AtomicUsize);

impl Drop for QueuePlace<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Bulkhead {
    /// A bulkhead named `name` (its metric's `policy` label) admitting `max_concurrent` calls
    /// (at least 1) with up to `max_queue` waiting.
    pub fn new(name: &'static str, max_concurrent: usize, max_queue: usize) -> Self {
        let max_concurrent = max_concurrent.max(1);
        let counter = |reason: &'static str| metrics::counter!(resilience_names::BULKHEAD_REJECTIONS, "policy" => name, "reason" => reason);
        Self {
            shared: Arc::new(Shared {
                name,
                permits: Arc::new(Semaphore::new(max_concurrent)),
                max_concurrent,
                max_queue,
                waiting: AtomicUsize::new(0),
                rejected_full: counter("queue_full"),
                rejected_timeout: counter("queue_timeout"),
            }),
            max_wait: None,
        }
    }

    /// Rejects a call through this handle that has waited `max_wait` in the queue without a permit.
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = Some(max_wait);
        self
    }

    /// Permits free now.
    pub fn available(&self) -> usize {
        self.shared.permits.available_permits()
    }

    /// Calls waiting for a permit now.
    pub fn waiting(&self) -> usize {
        self.shared.waiting.load(Ordering::Acquire)
    }

    /// Takes a permit, waiting in the queue if there is room, or says why not.
    pub async fn acquire(&self) -> Result<BulkheadPermit, BulkheadRejected> {
        let shared = &*self.shared;
        if let Ok(permit) = shared.permits.clone().try_acquire_owned() {
            return Ok(BulkheadPermit { _permit: permit });
        }
        let joined = shared
            .waiting
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |w| (w < shared.max_queue).then_some(w + 1));
        if joined.is_err() {
            shared.rejected_full.increment(1);
            return Err(self.full());
        }
        let _place = QueuePlace(&shared.waiting);
        let wait = shared.permits.clone().acquire_owned();
        let permit = match self.max_wait {
            None => wait.await,
            Some(max_wait) => match tokio::time::timeout(max_wait, wait).await {
                Ok(permit) => permit,
                Err(_) => {
                    shared.rejected_timeout.increment(1);
                    return Err(BulkheadRejected::QueueTimeout { bulkhead: shared.name, waited: max_wait });
                }
            },
        };
        // The semaphore is never closed, so `acquire_owned` cannot fail; answer "full" rather than panic.
        permit.map(|permit| BulkheadPermit { _permit: permit }).map_err(|_| self.full())
    }

    /// Runs `call` holding a permit (through `E: From<BulkheadRejected>` when none is given).
    pub async fn run<T, E, F>(&self, call: F) -> Result<T, E>
    where
        F: Future<Output = Result<T, E>>,
        E: From<BulkheadRejected>,
    {
        let _permit = self.acquire().await?;
        call.await
    }

    fn full(&self) -> BulkheadRejected {
        BulkheadRejected::Full {
            bulkhead: self.shared.name,
            max_concurrent: self.shared.max_concurrent,
            max_queue: self.shared.max_queue,
        }
    }
}

/// Wraps a service in a [`Bulkhead`]. The permit is taken inside the call's future (so a full
/// queue answers at once instead of stalling `poll_ready`) and held until the inner call ends.
#[derive(Debug, Clone)]
pub struct BulkheadLayer {
    bulkhead: Bulkhead,
}

impl BulkheadLayer {
    /// A layer applying `bulkhead` (all services it wraps share the limit).
    pub fn new(bulkhead: Bulkhead) -> Self {
        Self { bulkhead }
    }
}

impl<S> Layer<S> for BulkheadLayer {
    type Service = BulkheadService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        BulkheadService { inner, bulkhead: self.bulkhead.clone() }
    }
}

/// A service whose calls go through a [`Bulkhead`].
#[derive(Debug, Clone)]
pub struct BulkheadService<S> {
    inner: S,
    bulkhead: Bulkhead,
}

impl<S, Req> Service<Req> for BulkheadService<S>
where
    S: Service<Req> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Into<BoxError>,
    Req: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    /// Always ready: admission is decided per call, in its future.
    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Req) -> Self::Future {
        let mut inner = self.inner.clone();
        let bulkhead = self.bulkhead.clone();
        Box::pin(async move {
            let _permit = bulkhead.acquire().await?;
            poll_fn(|cx| inner.poll_ready(cx)).await.map_err(Into::into)?;
            inner.call(request).await.map_err(Into::into)
        })
    }
}
