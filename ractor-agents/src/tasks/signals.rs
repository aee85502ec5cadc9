//! Wake-ups a store gives after a change: "tasks may be leasable" (a version number on a watch
//! channel) and "this task finished" (one-shot senders per waiting caller).

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{oneshot, watch};

use super::event::{Event, EventSink};
use super::model::{TaskId, TaskRecord};
use super::state::QueueState;

pub(crate) struct Signals {
    changes: watch::Sender<u64>,
    waiters: Mutex<HashMap<TaskId, Vec<oneshot::Sender<TaskRecord>>>>,
    /// How many waiters are registered, so the hot path skips the waiter lock when none are.
    waiting: AtomicUsize,
}

impl Default for Signals {
    fn default() -> Self {
        Self { changes: watch::Sender::new(0), waiters: Mutex::default(), waiting: AtomicUsize::new(0) }
    }
}

/// What a batch of events calls for. Collected as an [`EventSink`] under the state lock and
/// delivered after it is released (and, for a durable store, after the events are on disk).
#[derive(Default)]
pub(crate) struct Wakeups {
    ready: bool,
    /// True when some caller waits for a result: only then are finished tasks noted.
    track_finished: bool,
    finished: Vec<TaskId>,
    records: Vec<TaskRecord>,
}

impl EventSink for Wakeups {
    fn record(&mut self, event: &Event) {
        if self.track_finished
            && let Some(id) = event.finished()
        {
            self.finished.push(id);
        }
    }
}

impl Wakeups {
    /// Marks consumers for waking even without a ready event (a timer moved earlier).
    pub(crate) fn mark_ready(&mut self) {
        self.ready = true;
    }
}

impl Signals {
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }

    /// A sink for one operation. Call with the state lock held (waiters register under it).
    pub(crate) fn wakeups(&self) -> Wakeups {
        Wakeups { track_finished: self.waiting.load(Ordering::Acquire) > 0, ..Wakeups::default() }
    }

    /// Notes whether tasks became leasable and copies the finished tasks' records out of
    /// `state`. Call with the state lock held, after the operation.
    pub(crate) fn resolve(&self, wakeups: &mut Wakeups, state: &mut QueueState) {
        wakeups.ready |= state.take_became_ready();
        let records = wakeups.finished.iter().filter_map(|id| state.get(*id).cloned());
        wakeups.records.extend(records);
    }

    /// Wakes consumers and result waiters. Call without the state lock.
    pub(crate) fn deliver(&self, wakeups: Wakeups) {
        if wakeups.ready {
            self.changes.send_modify(|v| *v = v.wrapping_add(1));
        }
        if wakeups.records.is_empty() {
            return;
        }
        let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        for rec in wakeups.records {
            if let Some(senders) = waiters.remove(&rec.id) {
                self.waiting.fetch_sub(senders.len(), Ordering::AcqRel);
                for tx in senders {
                    let _ = tx.send(rec.clone());
                }
            }
        }
    }

    /// Registers a waiter for `id`. Call with the state lock held, after checking the task is
    /// not finished: `collect` runs under the same lock, so the finish cannot slip between.
    pub(crate) fn register(&self, id: TaskId) -> oneshot::Receiver<TaskRecord> {
        let (tx, rx) = oneshot::channel();
        let mut waiters = self.waiters.lock().unwrap_or_else(|e| e.into_inner());
        // Drop senders whose waiter gave up (timed out), so abandoned waits do not pile up.
        let list = waiters.entry(id).or_default();
        let before = list.len();
        list.retain(|tx| !tx.is_closed());
        self.waiting.fetch_sub(before - list.len(), Ordering::AcqRel);
        list.push(tx);
        self.waiting.fetch_add(1, Ordering::AcqRel);
        rx
    }
}
