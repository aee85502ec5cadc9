//! The durable position and the tasks waiting for it.
//!
//! The writer publishes how many records are durable after every sync and wakes exactly the
//! waiters whose record that covers (a map ordered by ticket: no thundering herd when thousands
//! of producers wait on consecutive batches).

use std::collections::BTreeMap;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};

use super::error::JournalError;

/// A record's place in the journal, returned by `append`; pass it to `wait_durable`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[must_use = "a record is durable only once `wait_durable` returns Ok for its ticket"]
pub(crate) struct Ticket(pub(super) u64);

/// Key of a waiter: its ticket (records needed) then a unique id.
type WaiterKey = (u64, u64);

/// Durable position shared by the writer and waiters.
#[derive(Debug, Default)]
pub(crate) struct Durability {
    /// Number of records durable (every LSN below it): a ticket `t` is durable when `t <= durable`.
    durable: AtomicU64,
    waiters: Mutex<BTreeMap<WaiterKey, Waker>>,
    next_waiter: AtomicU64,
    failure: OnceLock<Arc<io::Error>>,
    closed: OnceLock<()>,
}

impl Durability {
    pub(crate) fn starting_at(durable: u64) -> Self {
        Self { durable: AtomicU64::new(durable), ..Self::default() }
    }

    /// Whether the record of `ticket` is durable.
    pub(crate) fn is_durable(&self, ticket: Ticket) -> bool {
        ticket.0 <= self.durable.load(Ordering::Acquire)
    }

    /// Number of records durable.
    #[cfg(test)]
    pub(crate) fn durable(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }

    /// The writer made every record below `lsn` durable.
    pub(crate) fn publish(&self, lsn: u64) {
        // Store before taking the lock: a waiter checks the position under the lock, so it
        // either sees the new position or is in the map when we drain it.
        self.durable.store(lsn, Ordering::Release);
        let ready = {
            let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
            let pending = waiters.split_off(&(lsn + 1, 0));
            std::mem::replace(&mut *waiters, pending)
        };
        ready.into_values().for_each(Waker::wake);
    }

    /// The writer failed: every waiter not yet durable gets the error.
    pub(crate) fn fail(&self, error: Arc<io::Error>) {
        let _ = self.failure.set(error);
        self.wake_all();
    }

    /// The journal closed: waiters not yet durable get [`JournalError::Closed`].
    pub(crate) fn close(&self) {
        let _ = self.closed.set(());
        self.wake_all();
    }

    fn wake_all(&self) {
        let all = std::mem::take(&mut *self.waiters.lock().unwrap_or_else(|e| e.into_inner()));
        all.into_values().for_each(Waker::wake);
    }

    /// The error a non-durable ticket ends with, if the journal can no longer make it durable.
    pub(crate) fn terminal_error(&self) -> Option<JournalError> {
        if let Some(source) = self.failure.get() {
            return Some(JournalError::Failed { source: source.clone() });
        }
        self.closed.get().map(|()| JournalError::Closed)
    }

    /// Waiters registered and not yet woken (for tests: none may leak).
    #[cfg(test)]
    pub(crate) fn waiters_registered(&self) -> usize {
        self.waiters.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Resolves once `ticket` is durable.
    pub(crate) fn wait(&self, ticket: Ticket) -> WaitDurable<'_> {
        WaitDurable { durability: self, ticket, key: None }
    }
}

/// Future of [`Journal::wait_durable`](super::Journal::wait_durable).
#[derive(Debug)]
pub(crate) struct WaitDurable<'a> {
    durability: &'a Durability,
    ticket: Ticket,
    key: Option<WaiterKey>,
}

impl Future for WaitDurable<'_> {
    type Output = Result<(), JournalError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let durability = self.durability;
        // A registered waker whose ticket became durable is drained by `publish`: no removal
        // needed on the ready paths, only on cancellation (see `Drop`).
        if durability.is_durable(self.ticket) {
            self.key = None;
            return Poll::Ready(Ok(()));
        }
        let mut waiters = durability.waiters.lock().unwrap_or_else(|e| e.into_inner());
        if durability.is_durable(self.ticket) {
            drop(waiters);
            self.key = None;
            return Poll::Ready(Ok(()));
        }
        if let Some(error) = durability.terminal_error() {
            drop(waiters);
            self.key = None;
            return Poll::Ready(Err(error));
        }
        let ticket = self.ticket.0;
        let key = *self.key.get_or_insert_with(|| (ticket, durability.next_waiter.fetch_add(1, Ordering::Relaxed)));
        match waiters.get_mut(&key) {
            Some(waker) => waker.clone_from(cx.waker()),
            None => {
                waiters.insert(key, cx.waker().clone());
            }
        }
        Poll::Pending
    }
}

impl Drop for WaitDurable<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.filter(|_| !self.durability.is_durable(self.ticket)) {
            self.durability.waiters.lock().unwrap_or_else(|e| e.into_inner()).remove(&key);
        }
    }
}
