//! Reads that fall back to a cache, within a staleness bound, when the store is down.
//!
//! A [`StaleCache`] sits in front of a read (`async fn(key) -> Result<V, E>`). Every successful
//! read refreshes the cached value and its fetch time. When a read fails, the cache answers
//! instead, but only with a value younger than `max_staleness`, and flagged: the caller gets
//! [`Answer::Stale`] with the value's age, never a stale value passed off as
//! [`Answer::Fresh`]. A value older than the bound (or none) is no answer: the read's own error
//! comes back, typed as it was.
//!
//! | the read    | cached value, age ≤ bound | cached value, age > bound | nothing cached |
//! |-------------|---------------------------|---------------------------|----------------|
//! | succeeds    | `Fresh(new)`, cache refreshed | `Fresh(new)`, refreshed | `Fresh(new)`, cached |
//! | fails       | `Stale { value, age }`    | `Err(error)`              | `Err(error)`   |
//!
//! To skip the store while a circuit breaker is open, read through
//! [`CircuitBreaker::call`](crate::resilience::breaker::CircuitBreaker::call): the breaker's
//! immediate `BreakerError::Open` is a failed read like any other, so the cache answers without
//! the store being touched. [`StaleCache::read_if`] falls back only on the errors a predicate
//! picks (an error that says "no such key" should not be hidden behind an old value).
//!
//! The cache holds at most `capacity` keys; a new key evicts the one refreshed longest ago.
//! Reads are counted in `ractor_agents_stale_cache_reads_total{cache,answer}` (`fresh`, `stale`,
//! `miss`: the read failed and nothing young enough was cached).
//!
//! ```
//! use ractor_agents::resilience::clock::ManualClock;
//! use ractor_agents::resilience::stale_cache::{Answer, StaleCache};
//! use std::time::Duration;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let clock = ManualClock::new();
//! let profiles = StaleCache::new("profiles", 1_000, Duration::from_secs(60)).with_clock(clock.clone());
//!
//! let fresh = profiles.read("ada", |_| async { Ok::<_, &str>("Ada Lovelace") }).await;
//! assert_eq!(fresh, Ok(Answer::Fresh("Ada Lovelace")));
//!
//! clock.advance(Duration::from_secs(30));
//! let store_down = profiles.read("ada", |_| async { Err::<&str, _>("connection refused") }).await;
//! assert_eq!(store_down, Ok(Answer::Stale { value: "Ada Lovelace", age: Duration::from_secs(30) }));
//!
//! clock.advance(Duration::from_secs(31));
//! let too_old = profiles.read("ada", |_| async { Err::<&str, _>("connection refused") }).await;
//! assert_eq!(too_old, Err("connection refused"));
//! # }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics::Counter;

use super::clock::{Clock, MonotonicClock};
use crate::telemetry::metrics::names;

/// What a [`StaleCache`] read answered: a value just read, or a cached one and how old it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer<V> {
    /// The store answered: the value is current.
    Fresh(V),
    /// The store failed; this is the value it gave `age` ago (never more than the bound).
    Stale {
        /// The cached value.
        value: V,
        /// Time since the store returned it.
        age: Duration,
    },
}

impl<V> Answer<V> {
    /// The value, fresh or not.
    pub fn into_value(self) -> V {
        match self {
            Answer::Fresh(value) | Answer::Stale { value, .. } => value,
        }
    }

    /// Whether the value came from the cache because the store failed.
    pub fn is_stale(&self) -> bool {
        matches!(self, Answer::Stale { .. })
    }
}

struct Entry<V> {
    value: V,
    /// Clock reading (ns) when the store returned `value`.
    fetched_at: u64,
    /// Position in `State::order`.
    refresh: u64,
}

struct State<K, V> {
    entries: HashMap<K, Entry<V>>,
    /// Keys by refresh number, oldest first: the front is evicted when the cache is full.
    order: BTreeMap<u64, K>,
    next_refresh: u64,
}

struct CacheMetrics {
    fresh: Counter,
    stale: Counter,
    miss: Counter,
}

/// A read-through cache that answers with flagged, bounded-staleness values when the read fails.
/// Clones share one cache.
pub struct StaleCache<K, V> {
    state: Arc<Mutex<State<K, V>>>,
    capacity: usize,
    max_staleness: Duration,
    clock: Arc<dyn Clock>,
    metrics: Arc<CacheMetrics>,
}

impl<K, V> Clone for StaleCache<K, V> {
    fn clone(&self) -> Self {
        Self {
            state: self.state.clone(),
            capacity: self.capacity,
            max_staleness: self.max_staleness,
            clock: self.clock.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

impl<K, V> std::fmt::Debug for StaleCache<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaleCache")
            .field("capacity", &self.capacity)
            .field("max_staleness", &self.max_staleness)
            .finish_non_exhaustive()
    }
}

impl<K, V> StaleCache<K, V>
where
    K: Eq + Hash + Clone,
    V: Clone,
{
    /// A cache named `name` (its metric label) holding at most `capacity` keys (at least one)
    /// and answering for a failed read with values at most `max_staleness` old.
    pub fn new(name: &str, capacity: usize, max_staleness: Duration) -> Self {
        let answers = |answer: &'static str| metrics::counter!(names::STALE_CACHE_READS, "cache" => name.to_owned(), "answer" => answer);
        Self {
            state: Arc::new(Mutex::new(State { entries: HashMap::new(), order: BTreeMap::new(), next_refresh: 0 })),
            capacity: capacity.max(1),
            max_staleness,
            clock: Arc::new(MonotonicClock::new()),
            metrics: Arc::new(CacheMetrics { fresh: answers("fresh"), stale: answers("stale"), miss: answers("miss") }),
        }
    }

    /// Reads time from `clock` instead of the real monotonic clock (for tests).
    pub fn with_clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The staleness bound.
    pub fn max_staleness(&self) -> Duration {
        self.max_staleness
    }

    /// Number of keys cached.
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Reads `key` with `read`; on any error, answers from the cache within the bound.
    pub async fn read<E, F, Fut>(&self, key: K, read: F) -> Result<Answer<V>, E>
    where
        F: FnOnce(&K) -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        self.read_if(key, |_: &E| true, read).await
    }

    /// Reads `key` with `read`; answers from the cache only for the errors `falls_back` picks
    /// (an outage, say), and returns the others as they are.
    pub async fn read_if<E, P, F, Fut>(&self, key: K, falls_back: P, read: F) -> Result<Answer<V>, E>
    where
        P: FnOnce(&E) -> bool,
        F: FnOnce(&K) -> Fut,
        Fut: Future<Output = Result<V, E>>,
    {
        match read(&key).await {
            Ok(value) => {
                self.store(key, value.clone());
                self.metrics.fresh.increment(1);
                Ok(Answer::Fresh(value))
            }
            Err(error) if falls_back(&error) => match self.cached(&key) {
                Some((value, age)) => {
                    self.metrics.stale.increment(1);
                    tracing::debug!(
                        age_ms = age.as_millis() as u64,
                        "stale cache: the read failed, answering from the cache"
                    );
                    Ok(Answer::Stale { value, age })
                }
                None => {
                    self.metrics.miss.increment(1);
                    Err(error)
                }
            },
            Err(error) => Err(error),
        }
    }

    /// The cached value of `key` and its age, if it is within the bound.
    pub fn cached(&self, key: &K) -> Option<(V, Duration)> {
        let now = self.clock.now_nanos();
        let state = self.lock();
        let entry = state.entries.get(key)?;
        let age = Duration::from_nanos(now.saturating_sub(entry.fetched_at));
        (age <= self.max_staleness).then(|| (entry.value.clone(), age))
    }

    /// Forgets `key` (its value is known to be wrong, say after a write).
    pub fn invalidate(&self, key: &K) {
        let mut state = self.lock();
        if let Some(entry) = state.entries.remove(key) {
            state.order.remove(&entry.refresh);
        }
    }

    fn store(&self, key: K, value: V) {
        let fetched_at = self.clock.now_nanos();
        let mut state = self.lock();
        let refresh = state.next_refresh;
        state.next_refresh += 1;
        if let Some(old) = state.entries.insert(key.clone(), Entry { value, fetched_at, refresh }) {
            state.order.remove(&old.refresh);
        }
        state.order.insert(refresh, key);
        while state.entries.len() > self.capacity {
            let Some((_, oldest)) = state.order.pop_first() else { break };
            state.entries.remove(&oldest);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<K, V>> {
        // The state is consistent after every statement that holds the lock: a panic elsewhere
        // cannot leave it half-updated, so a poisoned lock is safe to use.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}
