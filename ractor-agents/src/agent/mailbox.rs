//! The bounded mailbox that outlives any one incarnation of an agent.
//!
//! Senders push envelopes here; the ractor actor (the *executor*) only receives a [`Wake`]
//! when the mailbox goes from idle to busy. The wake-up protocol is the subtle part:
//!
//! * `scheduled` is only ever changed with `swap`. Whoever swaps it from `false` to `true`
//!   owns the duty to make a drain happen (by casting `Wake`, or by draining itself).
//! * A drain that finds the queue empty clears the flag with a swap, then re-checks the
//!   queue; if a message slipped in, it takes the flag back (swap) and keeps draining, unless
//!   a sender won the flag first (that sender's `Wake` is on its way).
//! * Each new incarnation publishes itself, takes the flag and wakes itself once, so nothing
//!   queued during a restart is stranded.
//!
//! Capacity is a counter of free slots: a slot is reserved before a push and released only
//! when the message has been handled (or dropped), so queued + in-batch never exceeds it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use ractor::ActorRef;
use tokio::sync::Notify;
use tokio::time::Instant;

use super::envelope::Envelope;
use crate::telemetry::metrics::AgentMetrics;

/// The one message the executor actor receives: "there is work in your mailbox".
#[derive(Debug, Clone, Copy)]
pub(crate) struct Wake;

/// Why a slot could not be reserved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReserveError {
    Closed,
    DeadlineExceeded,
}

struct Inner<M> {
    queue: VecDeque<Envelope<M>>,
    executor: Option<ActorRef<Wake>>,
}

pub(crate) struct Mailbox<M> {
    inner: Mutex<Inner<M>>,
    /// Free slots (capacity minus queued minus taken-but-unfinished).
    free: AtomicUsize,
    /// Senders parked in `reserve`; `release` only touches `room` when this is non-zero.
    waiting: AtomicUsize,
    room: Notify,
    capacity: usize,
    scheduled: AtomicBool,
    stop_requested: AtomicBool,
    /// Written only under the queue lock, so a push that checks it under the lock cannot race a
    /// close; read without the lock by senders' fast paths.
    closed: AtomicBool,
    incarnations: AtomicU64,
    /// How many times the mailbox was closed; an asker compares it to tell "closed under me"
    /// from "the handler dropped my reply" even if the mailbox was reopened since.
    closures: AtomicU64,
    /// Started by `spawn` (no supervisor): it closes as soon as its incarnation ends.
    standalone: AtomicBool,
    pub(crate) name: Arc<str>,
    pub(crate) metrics: AgentMetrics,
    /// Test-only fault switch: drain with a plain store and no re-check (the lost-wakeup bug).
    #[cfg(test)]
    pub(crate) broken_wake_protocol: AtomicBool,
}

impl<M: Send + 'static> Mailbox<M> {
    pub(crate) fn new(name: Arc<str>, capacity: usize, agent_type: &'static str) -> Self {
        let capacity = capacity.max(1);
        Self {
            inner: Mutex::new(Inner { queue: VecDeque::new(), executor: None }),
            free: AtomicUsize::new(capacity),
            waiting: AtomicUsize::new(0),
            room: Notify::new(),
            capacity,
            scheduled: AtomicBool::new(false),
            stop_requested: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            incarnations: AtomicU64::new(0),
            closures: AtomicU64::new(0),
            standalone: AtomicBool::new(false),
            name,
            metrics: AgentMetrics::new(agent_type),
            #[cfg(test)]
            broken_wake_protocol: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<M>> {
        // A poisoned lock only means a panic happened while it was held; every critical section
        // here leaves `Inner` consistent, so keep going.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().queue.len()
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    pub(crate) fn set_standalone(&self) {
        self.standalone.store(true, Ordering::Release);
    }

    pub(crate) fn is_standalone(&self) -> bool {
        self.standalone.load(Ordering::Acquire)
    }

    pub(crate) fn closures(&self) -> u64 {
        self.closures.load(Ordering::Acquire)
    }

    pub(crate) fn next_incarnation(&self) -> u64 {
        self.incarnations.fetch_add(1, Ordering::Relaxed) + 1
    }

    /// Takes a free slot if there is one.
    pub(crate) fn try_reserve(&self) -> bool {
        self.free.fetch_update(Ordering::AcqRel, Ordering::Acquire, |f| f.checked_sub(1)).is_ok()
    }

    /// Waits for a free slot until `deadline` (forever if `None`).
    pub(crate) async fn reserve(&self, deadline: Option<Instant>) -> Result<(), ReserveError> {
        if self.is_closed() {
            return Err(ReserveError::Closed);
        }
        if self.try_reserve() {
            return Ok(());
        }
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let result = self.reserve_slow(deadline).await;
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        result
    }

    async fn reserve_slow(&self, deadline: Option<Instant>) -> Result<(), ReserveError> {
        loop {
            let notified = self.room.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.is_closed() {
                return Err(ReserveError::Closed);
            }
            if self.try_reserve() {
                return Ok(());
            }
            match deadline {
                Some(d) => {
                    if tokio::time::timeout_at(d, notified).await.is_err() {
                        return Err(ReserveError::DeadlineExceeded);
                    }
                }
                None => notified.await,
            }
        }
    }

    /// `true` while a sender is parked waiting for a slot.
    pub(crate) fn has_waiters(&self) -> bool {
        self.waiting.load(Ordering::SeqCst) > 0
    }

    /// Gives `n` slots back and wakes parked senders, if any.
    pub(crate) fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        self.free.fetch_add(n, Ordering::SeqCst);
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.room.notify_waiters();
        }
    }

    /// Pushes an envelope into a reserved slot. Gives it back if the mailbox is closed.
    // The envelope comes back by value on the rare closed path; boxing it would cost every push.
    #[allow(clippy::result_large_err)]
    pub(crate) fn push(&self, env: Envelope<M>) -> Result<(), Envelope<M>> {
        let executor = {
            let mut inner = self.lock();
            if self.is_closed() {
                return Err(env);
            }
            inner.queue.push_back(env);
            if self.scheduled.swap(true, Ordering::AcqRel) { None } else { inner.executor.clone() }
        };
        if let Some(executor) = executor {
            // A dead incarnation cannot be woken; its successor wakes itself on attach.
            let _ = executor.cast(Wake);
        }
        Ok(())
    }

    /// Moves up to `max` envelopes to `out`, oldest first. Returns how many.
    pub(crate) fn pop_batch(&self, out: &mut VecDeque<Envelope<M>>, max: usize) -> usize {
        let mut inner = self.lock();
        let n = inner.queue.len().min(max);
        if n == inner.queue.len() && out.is_empty() {
            // Take the whole queue without moving each envelope; the emptied batch buffer
            // becomes the queue's, so the two allocations trade places instead of growing.
            std::mem::swap(out, &mut inner.queue);
        } else {
            out.extend(inner.queue.drain(..n));
        }
        n
    }

    /// Puts envelopes taken but not handled back at the front, in their original order.
    pub(crate) fn restore_front(&self, batch: &mut VecDeque<Envelope<M>>) {
        let mut inner = self.lock();
        if self.is_closed() {
            // Dropped outside the lock, as in `close`: dropping a message may run code (a pool
            // job reports itself abandoned, and its completion may send to this very agent).
            drop(inner);
            batch.clear();
            return;
        }
        while let Some(env) = batch.pop_back() {
            inner.queue.push_front(env);
        }
    }

    /// Called by a drain that found the queue empty. Returns `true` if the drain must go on
    /// because a message arrived and this drain won the flag back.
    pub(crate) fn finish_drain(&self) -> bool {
        #[cfg(test)]
        if self.broken_wake_protocol.load(Ordering::Relaxed) {
            std::thread::yield_now();
            self.scheduled.store(false, Ordering::Release);
            return false;
        }
        self.scheduled.swap(false, Ordering::AcqRel);
        if self.lock().queue.is_empty() {
            return false;
        }
        !self.scheduled.swap(true, Ordering::AcqRel)
    }

    /// A new incarnation takes over: publish it, take the flag, wake it once.
    pub(crate) fn attach(&self, executor: ActorRef<Wake>) {
        {
            let mut inner = self.lock();
            inner.executor = Some(executor.clone());
        }
        self.stop_requested.store(false, Ordering::Release);
        self.scheduled.swap(true, Ordering::AcqRel);
        let _ = executor.cast(Wake);
    }

    /// Forgets `executor` if it is still the published incarnation.
    pub(crate) fn detach(&self, executor: &ractor::ActorId) {
        let mut inner = self.lock();
        if inner.executor.as_ref().is_some_and(|e| e.get_id() == *executor) {
            inner.executor = None;
        }
    }

    /// The published incarnation, if one is running.
    pub(crate) fn current_executor(&self) -> Option<ActorRef<Wake>> {
        self.lock().executor.clone()
    }

    pub(crate) fn request_stop(&self) {
        self.stop_requested.store(true, Ordering::Release);
    }

    pub(crate) fn stop_requested(&self) -> bool {
        self.stop_requested.load(Ordering::Acquire)
    }

    /// Closes the mailbox for good (until [`Mailbox::reopen`]): parked senders and later sends
    /// fail with "unavailable", queued messages are dropped (their `ask`s fail the same way).
    /// Returns how many queued messages were dropped.
    pub(crate) fn close(&self) -> usize {
        let dropped = {
            let mut inner = self.lock();
            inner.executor = None;
            self.closures.fetch_add(1, Ordering::AcqRel);
            self.closed.store(true, Ordering::Release);
            std::mem::take(&mut inner.queue)
        };
        self.room.notify_waiters();
        let n = dropped.len();
        drop(dropped);
        if n > 0 {
            self.metrics.dropped_on_stop.increment(n as u64);
        }
        n
    }

    /// Opens a closed mailbox again, empty and with every slot free.
    pub(crate) fn reopen(&self) {
        // Held so the flip cannot interleave with a push or a close.
        let _queue = self.lock();
        if self.is_closed() {
            self.free.store(self.capacity, Ordering::SeqCst);
            self.closed.store(false, Ordering::Release);
        }
    }
}
