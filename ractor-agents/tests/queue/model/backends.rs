//! The backends under test, behind one synchronous interface the harness drives.
//!
//! * [`Journaled`]: `QueueState` itself, every event it emits appended to a journal; a crash
//!   throws the state away and rebuilds it by replaying the journal (whole, compacted to a
//!   snapshot, or with a snapshot appended) through `QueueState::apply` — the path the durable
//!   store recovers by.
//! * [`Store`]: any `TaskStore` through its public async API, on a current-thread runtime, with
//!   a crash that drops the store without closing it and opens it again from its directory
//!   when the store is durable ([`OpenStore::DURABLE`]).

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ractor_agents::tasks::{
    Clock, Enqueued, Event, Lease, LeaseRequest, LeaseToken, ManualClock, MemoryStore, Nack, NackOutcome, Payload,
    QueueCounts, QueueError, QueueState, Task, TaskId, TaskRecord, TaskStore, Timestamp,
};

use tokio::sync::watch;

use super::reference::START_US;
use super::transitions::Journal;

/// A queue backend as the harness sees it: the `TaskStore` operations, made synchronous.
pub trait Queue: Sized + 'static {
    /// Whether the backend can crash and reopen with its tasks (else crashes are not generated).
    const RESTARTS: bool;
    fn fresh() -> Self;
    fn enqueue(&mut self, task: Task) -> Result<Enqueued, QueueError>;
    fn enqueue_batch(&mut self, tasks: Vec<Task>) -> Result<Vec<Enqueued>, QueueError>;
    fn lease(&mut self, request: LeaseRequest) -> Result<Vec<Lease>, QueueError>;
    fn start(&mut self, id: TaskId, token: LeaseToken) -> Result<(), QueueError>;
    fn extend(&mut self, id: TaskId, token: LeaseToken, by: Duration) -> Result<Timestamp, QueueError>;
    fn ack(&mut self, id: TaskId, token: LeaseToken, result: Payload) -> Result<(), QueueError>;
    fn nack(&mut self, id: TaskId, token: LeaseToken, nack: Nack) -> Result<NackOutcome, QueueError>;
    fn cancel(&mut self, id: TaskId) -> Result<TaskRecord, QueueError>;
    fn redrive(&mut self, id: TaskId) -> Result<(), QueueError>;
    fn expire_due(&mut self) -> Result<usize, QueueError>;
    fn purge_finished(&mut self, older_than: Duration) -> Result<usize, QueueError>;
    fn get(&self, id: TaskId) -> Result<Option<TaskRecord>, QueueError>;
    fn counts(&self) -> Result<QueueCounts, QueueError>;
    fn dead_letters(&self, after: Option<TaskId>, limit: usize) -> Result<Vec<TaskRecord>, QueueError>;
    fn next_due(&self) -> Option<Timestamp>;
    fn now(&self) -> Timestamp;
    fn advance(&mut self, by: Duration);
    fn crash_and_reopen(&mut self, journal: Journal);
    /// Whether consumers were told, since the last call, that tasks may have become leasable.
    fn take_wakeup(&mut self) -> Wakeup;
    /// `QueueState::has_ready`, where the backend exposes it.
    fn has_ready(&self, _capability: &str) -> Option<bool> {
        None
    }
    /// Events the live state ignored because they named a task it does not hold (always a bug).
    fn ignored_events(&self) -> u64 {
        0
    }
}

/// What a backend says about waking consumers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wakeup {
    /// `QueueState::take_became_ready`: exactly whether a leasable set went from empty to not.
    BecameReady(bool),
    /// Whether a store's `changes()` ticked: it must when a leasable set went from empty to not
    /// (else a consumer waiting for work sleeps on), and may for other reasons.
    Ticked(bool),
}

/// `QueueState` with an event journal; a crash replays the journal into a fresh state.
pub struct Journaled {
    state: QueueState,
    journal: Vec<Event>,
    clock: ManualClock,
}

impl Journaled {
    /// Runs `op` at the clock's time, appending its events to the journal.
    fn run<T>(&mut self, op: impl FnOnce(&mut QueueState, Timestamp, &mut dyn FnMut(&Event)) -> T) -> T {
        let now = self.clock.now();
        let journal = &mut self.journal;
        op(&mut self.state, now, &mut |e: &Event| journal.push(e.clone()))
    }
}

impl Queue for Journaled {
    const RESTARTS: bool = true;

    fn fresh() -> Self {
        Self { state: QueueState::new(), journal: Vec::new(), clock: ManualClock::new(Timestamp(START_US)) }
    }
    fn enqueue(&mut self, task: Task) -> Result<Enqueued, QueueError> {
        self.run(|s, now, mut sink| s.enqueue(now, task, &mut sink))
    }
    fn enqueue_batch(&mut self, tasks: Vec<Task>) -> Result<Vec<Enqueued>, QueueError> {
        self.run(|s, now, mut sink| s.enqueue_batch(now, tasks, &mut sink))
    }
    fn lease(&mut self, request: LeaseRequest) -> Result<Vec<Lease>, QueueError> {
        Ok(self.run(|s, now, mut sink| s.lease(now, &request, &mut sink)))
    }
    fn start(&mut self, id: TaskId, token: LeaseToken) -> Result<(), QueueError> {
        self.run(|s, now, mut sink| s.start(now, id, token, &mut sink))
    }
    fn extend(&mut self, id: TaskId, token: LeaseToken, by: Duration) -> Result<Timestamp, QueueError> {
        self.run(|s, now, mut sink| s.extend(now, id, token, by, &mut sink))
    }
    fn ack(&mut self, id: TaskId, token: LeaseToken, result: Payload) -> Result<(), QueueError> {
        self.run(|s, now, mut sink| s.ack(now, id, token, result, &mut sink))
    }
    fn nack(&mut self, id: TaskId, token: LeaseToken, nack: Nack) -> Result<NackOutcome, QueueError> {
        self.run(|s, now, mut sink| s.nack(now, id, token, nack, &mut sink))
    }
    fn cancel(&mut self, id: TaskId) -> Result<TaskRecord, QueueError> {
        self.run(|s, now, mut sink| s.cancel(now, id, &mut sink))
    }
    fn redrive(&mut self, id: TaskId) -> Result<(), QueueError> {
        self.run(|s, now, mut sink| s.redrive(now, id, &mut sink))
    }
    fn expire_due(&mut self) -> Result<usize, QueueError> {
        Ok(self.run(|s, now, mut sink| s.expire_due(now, &mut sink)))
    }
    fn purge_finished(&mut self, older_than: Duration) -> Result<usize, QueueError> {
        let micros = u64::try_from(older_than.as_micros()).unwrap_or(u64::MAX);
        Ok(self.run(|s, now, mut sink| s.purge_finished(Timestamp(now.0.saturating_sub(micros)), &mut sink)))
    }
    fn get(&self, id: TaskId) -> Result<Option<TaskRecord>, QueueError> {
        Ok(self.state.get(id).cloned())
    }
    fn counts(&self) -> Result<QueueCounts, QueueError> {
        Ok(self.state.counts())
    }
    fn dead_letters(&self, after: Option<TaskId>, limit: usize) -> Result<Vec<TaskRecord>, QueueError> {
        Ok(self.state.dead_letters(after, limit))
    }
    fn next_due(&self) -> Option<Timestamp> {
        self.state.next_due()
    }
    fn now(&self) -> Timestamp {
        self.clock.now()
    }
    fn advance(&mut self, by: Duration) {
        self.clock.advance(by);
    }
    fn crash_and_reopen(&mut self, journal: Journal) {
        match journal {
            Journal::Full => {}
            Journal::Snapshot => self.journal = self.state.snapshot(),
            Journal::SnapshotAfterEvents => self.journal.extend(self.state.snapshot()),
        }
        let mut state = QueueState::new();
        for event in self.journal.iter().cloned() {
            state.apply(event);
        }
        assert_eq!(state.ignored_events(), 0, "replaying the journal ignored events: it names tasks it never enqueued");
        self.state = state;
    }
    fn take_wakeup(&mut self) -> Wakeup {
        Wakeup::BecameReady(self.state.take_became_ready())
    }
    fn has_ready(&self, capability: &str) -> Option<bool> {
        Some(self.state.has_ready(capability, self.clock.now()))
    }
    fn ignored_events(&self) -> u64 {
        self.state.ignored_events()
    }
}

/// Opens a `TaskStore` backend for [`Store`].
pub trait OpenStore: 'static {
    /// True when the store keeps its tasks across a crash. A crash of a store that does not
    /// (the memory store) is not modelled: no crash is generated for it.
    const DURABLE: bool;

    /// Opens the store kept in `dir` (empty for a new store), reading `clock`. Runs inside the
    /// case's tokio runtime.
    fn open(dir: &Path, clock: ManualClock) -> Arc<dyn TaskStore>;
}

/// [`MemoryStore`].
pub struct Memory;

impl OpenStore for Memory {
    const DURABLE: bool = false;

    fn open(_dir: &Path, clock: ManualClock) -> Arc<dyn TaskStore> {
        Arc::new(MemoryStore::with_clock(Arc::new(clock)))
    }
}

/// A `TaskStore` driven through its async API.
pub struct Store<O: OpenStore> {
    rt: tokio::runtime::Runtime,
    store: Arc<dyn TaskStore>,
    changes: watch::Receiver<u64>,
    clock: ManualClock,
    /// Where a durable store keeps its files; removed with the case.
    dir: tempfile::TempDir,
    _backend: std::marker::PhantomData<O>,
}

impl<O: OpenStore> Store<O> {
    fn on<T>(&self, op: impl AsyncFnOnce(&dyn TaskStore) -> T) -> T {
        self.rt.block_on(op(&*self.store))
    }
}

impl<O: OpenStore> Queue for Store<O> {
    const RESTARTS: bool = O::DURABLE;

    fn fresh() -> Self {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let clock = ManualClock::new(Timestamp(START_US));
        let store = {
            let _in_runtime = rt.enter();
            O::open(dir.path(), clock.clone())
        };
        let changes = store.changes();
        Self { rt, store, changes, clock, dir, _backend: std::marker::PhantomData }
    }
    fn enqueue(&mut self, task: Task) -> Result<Enqueued, QueueError> {
        self.on(async |s| s.enqueue(task).await)
    }
    fn enqueue_batch(&mut self, tasks: Vec<Task>) -> Result<Vec<Enqueued>, QueueError> {
        self.on(async |s| s.enqueue_batch(tasks).await)
    }
    fn lease(&mut self, request: LeaseRequest) -> Result<Vec<Lease>, QueueError> {
        self.on(async |s| s.lease(request).await)
    }
    fn start(&mut self, id: TaskId, token: LeaseToken) -> Result<(), QueueError> {
        self.on(async |s| s.start(id, token).await)
    }
    fn extend(&mut self, id: TaskId, token: LeaseToken, by: Duration) -> Result<Timestamp, QueueError> {
        self.on(async |s| s.extend(id, token, by).await)
    }
    fn ack(&mut self, id: TaskId, token: LeaseToken, result: Payload) -> Result<(), QueueError> {
        self.on(async |s| s.ack(id, token, result).await)
    }
    fn nack(&mut self, id: TaskId, token: LeaseToken, nack: Nack) -> Result<NackOutcome, QueueError> {
        self.on(async |s| s.nack(id, token, nack).await)
    }
    fn cancel(&mut self, id: TaskId) -> Result<TaskRecord, QueueError> {
        self.on(async |s| s.cancel(id).await)
    }
    fn redrive(&mut self, id: TaskId) -> Result<(), QueueError> {
        self.on(async |s| s.redrive(id).await)
    }
    fn expire_due(&mut self) -> Result<usize, QueueError> {
        self.on(async |s| s.expire_due().await)
    }
    fn purge_finished(&mut self, older_than: Duration) -> Result<usize, QueueError> {
        self.on(async |s| s.purge_finished(older_than).await)
    }
    fn get(&self, id: TaskId) -> Result<Option<TaskRecord>, QueueError> {
        self.on(async |s| s.get(id).await)
    }
    fn counts(&self) -> Result<QueueCounts, QueueError> {
        self.on(async |s| s.counts().await)
    }
    fn dead_letters(&self, after: Option<TaskId>, limit: usize) -> Result<Vec<TaskRecord>, QueueError> {
        self.on(async |s| s.dead_letters(after, limit).await)
    }
    fn next_due(&self) -> Option<Timestamp> {
        self.store.next_due()
    }
    fn now(&self) -> Timestamp {
        self.store.clock().now()
    }
    fn advance(&mut self, by: Duration) {
        self.clock.advance(by);
    }
    fn crash_and_reopen(&mut self, _journal: Journal) {
        assert!(O::DURABLE, "crashes are generated only for a store that restarts");
        // Drop the only handle without closing: whatever it had not made durable is gone.
        let placeholder = Arc::new(MemoryStore::new()) as Arc<dyn TaskStore>;
        drop(std::mem::replace(&mut self.store, placeholder));
        let _in_runtime = self.rt.enter();
        self.store = O::open(self.dir.path(), self.clock.clone());
        self.changes = self.store.changes();
    }
    fn take_wakeup(&mut self) -> Wakeup {
        // An error means the store dropped its sender: as good as a tick for a waiting consumer.
        let ticked = self.changes.has_changed().unwrap_or(true);
        self.changes.mark_unchanged();
        Wakeup::Ticked(ticked)
    }
}
