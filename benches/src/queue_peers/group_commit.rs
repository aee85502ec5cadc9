//! One writer thread that batches every request waiting for it into one transaction per commit:
//! the group commit shared by the embedded peers (redb, SQLite, fjall).
//!
//! Each turn the writer takes every request queued (up to 8,192), writes
//! the enqueues, the leases and the acks into one transaction, commits it (one fsync), and then
//! answers. A task becomes ready for leasing only after its enqueue's commit, so no consumer ever
//! sees a task that a crash could take back. A lease request that finds nothing ready waits in the
//! writer (up to its `wait`) and is served right after the next commit that makes tasks ready.

use std::collections::VecDeque;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use tokio::sync::oneshot;

use super::schedule::Schedule;
use super::{Ack, CommitStats, DurableQueue, LeasedTask, QueueError, QueueOptions, TaskId};

/// Requests beyond this wait for the next commit, bounding one transaction's size.
pub(crate) const MAX_REQUESTS_PER_COMMIT: usize = 8_192;

/// A lease written into the current transaction. The marks of one lease call are adjacent and
/// share their token and deadline.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LeaseMark {
    pub(crate) id: TaskId,
    pub(crate) token: u64,
    /// Milliseconds since the Unix epoch.
    pub(crate) deadline_ms: u64,
}

/// What one commit writes. The three lists name disjoint tasks.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    /// New tasks: id, priority, payload.
    pub(crate) inserts: Vec<(TaskId, u8, Vec<u8>)>,
    pub(crate) leases: Vec<LeaseMark>,
    /// Acked tasks, removed.
    pub(crate) deletes: Vec<TaskId>,
}

impl Batch {
    fn records(&self) -> usize {
        self.inserts.len() + self.leases.len() + self.deletes.len()
    }
}

/// A storage engine driven by the writer thread.
pub(crate) trait CommitEngine: Send + 'static {
    /// Every stored task as (id, priority), read once at open.
    fn recover(&mut self) -> Result<Vec<(TaskId, u8)>, QueueError>;
    /// Writes `batch` into a new transaction, not yet durable; returns the payloads of
    /// `batch.leases`, in order.
    fn write(&mut self, batch: &Batch) -> Result<Vec<Vec<u8>>, QueueError>;
    /// Makes the transaction `write` began durable (one fsync).
    fn commit(&mut self) -> Result<(), QueueError>;
}

type Reply<T> = oneshot::Sender<Result<T, QueueError>>;

enum Request {
    Enqueue { payload: Vec<u8>, priority: u8, reply: Reply<TaskId> },
    Lease { max: usize, lease_for: Duration, until: Instant, reply: Reply<Vec<LeasedTask>> },
    Ack { acks: Vec<Ack>, reply: Reply<()> },
    Shutdown { reply: Reply<()> },
}

#[derive(Default)]
struct Counters {
    commits: AtomicU64,
    records: AtomicU64,
}

/// A [`DurableQueue`] whose every write goes through one group-committing writer thread.
pub struct GroupCommitQueue {
    peer: &'static str,
    requests: mpsc::Sender<Request>,
    counters: Arc<Counters>,
    thread: std::sync::Mutex<Option<JoinHandle<()>>>,
}

impl GroupCommitQueue {
    /// Recovers the engine's tasks and starts its writer thread.
    pub(crate) fn start<E: CommitEngine>(
        peer: &'static str,
        mut engine: E,
        options: QueueOptions,
    ) -> Result<GroupCommitQueue, QueueError> {
        // Tokens of an earlier process must not match this one's: start from the clock (µs).
        let first_token = SystemTime::now().duration_since(UNIX_EPOCH).map_or(1, |d| d.as_micros() as u64);
        let mut schedule = Schedule::new(first_token);
        let mut next_id = 1;
        for (id, priority) in engine.recover()? {
            schedule.add_ready(id, priority);
            next_id = next_id.max(id + 1);
        }
        let (requests, receiver) = mpsc::channel();
        let counters = Arc::new(Counters::default());
        let writer = Writer { peer, engine, schedule, next_id, options, counters: counters.clone() };
        let thread = std::thread::Builder::new()
            .name(format!("{peer}-writer"))
            .spawn(move || writer.run(receiver))
            .map_err(|source| QueueError::Io { path: Path::new("<writer thread>").into(), source })?;
        Ok(GroupCommitQueue { peer, requests, counters, thread: std::sync::Mutex::new(Some(thread)) })
    }

    async fn call<T>(&self, request: impl FnOnce(Reply<T>) -> Request) -> Result<T, QueueError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || QueueError::WriterStopped { peer: self.peer };
        self.requests.send(request(reply)).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

#[async_trait]
impl DurableQueue for GroupCommitQueue {
    fn name(&self) -> String {
        self.peer.to_owned()
    }

    async fn enqueue(&self, payload: Vec<u8>, priority: u8) -> Result<TaskId, QueueError> {
        self.call(|reply| Request::Enqueue { payload, priority, reply }).await
    }

    async fn lease(&self, max: usize, lease_for: Duration, wait: Duration) -> Result<Vec<LeasedTask>, QueueError> {
        let until = Instant::now() + wait;
        self.call(|reply| Request::Lease { max, lease_for, until, reply }).await
    }

    async fn ack(&self, acks: Vec<Ack>) -> Result<(), QueueError> {
        self.call(|reply| Request::Ack { acks, reply }).await
    }

    async fn commit_stats(&self) -> Result<Option<CommitStats>, QueueError> {
        Ok(Some(CommitStats {
            commits: self.counters.commits.load(Ordering::Relaxed),
            records: self.counters.records.load(Ordering::Relaxed),
        }))
    }

    async fn close(&self) -> Result<(), QueueError> {
        let thread = self.thread.lock().map_or(None, |mut slot| slot.take());
        let Some(thread) = thread else { return Ok(()) };
        // A writer that already stopped has answered every request; it only needs joining.
        let _ = self.call(|reply| Request::Shutdown { reply }).await;
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .map_err(|_| QueueError::WriterStopped { peer: self.peer })?
            .map_err(|_| QueueError::WriterStopped { peer: self.peer })
    }
}

struct LeaseWaiter {
    max: usize,
    lease_for: Duration,
    until: Instant,
    reply: Reply<Vec<LeasedTask>>,
}

/// Leases served in the current batch: whom to answer, with which of `Batch::leases`.
struct Served {
    reply: Reply<Vec<LeasedTask>>,
    marks: std::ops::Range<usize>,
}

struct Writer<E> {
    peer: &'static str,
    engine: E,
    schedule: Schedule,
    next_id: TaskId,
    options: QueueOptions,
    counters: Arc<Counters>,
}

impl<E: CommitEngine> Writer<E> {
    fn run(mut self, receiver: mpsc::Receiver<Request>) {
        let mut waiting: VecDeque<LeaseWaiter> = VecDeque::new();
        let mut shutdown: Option<Reply<()>> = None;
        while shutdown.is_none() {
            let Some(requests) = self.gather(&receiver, &waiting) else { break };
            let now = Instant::now();
            self.schedule.reclaim_expired(now);
            let mut batch = Batch::default();
            let mut enqueued = Vec::new();
            let mut acked = Vec::new();
            for request in requests {
                match request {
                    Request::Enqueue { payload, priority, reply } => {
                        let id = self.next_id;
                        self.next_id += 1;
                        batch.inserts.push((id, priority, payload));
                        enqueued.push(reply);
                    }
                    Request::Lease { max, lease_for, until, reply } => {
                        waiting.push_back(LeaseWaiter { max, lease_for, until, reply })
                    }
                    Request::Ack { acks, reply } => {
                        let mut refused = None;
                        for ack in acks {
                            match self.schedule.complete(ack) {
                                Ok(()) => batch.deletes.push(ack.id),
                                Err(error) => refused = refused.or(Some(error)),
                            }
                        }
                        acked.push((reply, refused));
                    }
                    Request::Shutdown { reply } => shutdown = Some(reply),
                }
            }
            let served = self.serve_waiters(&mut waiting, &mut batch, now);
            if batch.records() == 0 {
                // Nothing to write: only refused acks (and no enqueue) can be waiting for an answer.
                for (reply, refused) in acked {
                    let _ = reply.send(refused.map_or(Ok(()), Err));
                }
                continue;
            }
            if self.commit(batch, served, enqueued, acked).is_err() {
                for waiter in waiting {
                    let _ = waiter.reply.send(Err(QueueError::WriterStopped { peer: self.peer }));
                }
                return;
            }
        }
        for waiter in waiting {
            let _ = waiter.reply.send(Ok(Vec::new()));
        }
        if let Some(reply) = shutdown {
            let _ = reply.send(Ok(()));
        }
    }

    /// Blocks for the next request (unless waiting leases can be served now), then takes every
    /// request already queued. `None` once every sender is gone.
    fn gather(&self, receiver: &mpsc::Receiver<Request>, waiting: &VecDeque<LeaseWaiter>) -> Option<Vec<Request>> {
        let mut requests = Vec::new();
        let servable = !waiting.is_empty() && self.schedule.has_ready();
        if !servable {
            // A waiting lease is answered when its wait ends, or earlier when a lease runs out and
            // its task can be handed over.
            let wake = waiting.iter().map(|w| w.until).min().map(|until| match self.schedule.next_deadline() {
                Some(deadline) => until.min(deadline),
                None => until,
            });
            let first = match wake {
                Some(until) => match receiver.recv_timeout(until.saturating_duration_since(Instant::now())) {
                    Ok(request) => Some(request),
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    Err(mpsc::RecvTimeoutError::Disconnected) => return None,
                },
                None => Some(receiver.recv().ok()?),
            };
            requests.extend(first);
        }
        while requests.len() < MAX_REQUESTS_PER_COMMIT {
            match receiver.try_recv() {
                Ok(request) => requests.push(request),
                Err(_) => break,
            }
        }
        Some(requests)
    }

    /// Leases ready tasks to waiting consumers in arrival order; answers empty those whose wait
    /// is over.
    fn serve_waiters(&mut self, waiting: &mut VecDeque<LeaseWaiter>, batch: &mut Batch, now: Instant) -> Vec<Served> {
        let mut served = Vec::new();
        let wall_now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        while self.schedule.has_ready() {
            let Some(waiter) = waiting.pop_front() else { break };
            let start = batch.leases.len();
            let deadline_ms = wall_now_ms + waiter.lease_for.as_millis() as u64;
            let (token, ids) = self.schedule.take(waiter.max, waiter.lease_for, now);
            batch.leases.extend(ids.into_iter().map(|id| LeaseMark { id, token, deadline_ms }));
            served.push(Served { reply: waiter.reply, marks: start..batch.leases.len() });
        }
        let mut still_waiting = VecDeque::with_capacity(waiting.len());
        for waiter in waiting.drain(..) {
            if waiter.until <= now {
                let _ = waiter.reply.send(Ok(Vec::new()));
            } else {
                still_waiting.push_back(waiter);
            }
        }
        *waiting = still_waiting;
        served
    }

    /// Writes and commits one batch, then answers its requests. On failure every request in the
    /// batch is answered with the error and the writer must stop: what the engine holds is unknown.
    fn commit(
        &mut self,
        batch: Batch,
        served: Vec<Served>,
        enqueued: Vec<Reply<TaskId>>,
        acked: Vec<(Reply<()>, Option<QueueError>)>,
    ) -> Result<(), QueueError> {
        let outcome = self.engine.write(&batch).and_then(|payloads| {
            let mut payloads = payloads.into_iter();
            let leases: Vec<(Reply<Vec<LeasedTask>>, Vec<LeasedTask>)> = served
                .into_iter()
                .map(|s| {
                    let tasks = batch.leases[s.marks]
                        .iter()
                        .zip(payloads.by_ref())
                        .map(|(mark, payload)| LeasedTask { id: mark.id, token: mark.token, payload })
                        .collect();
                    (s.reply, tasks)
                })
                .collect();
            // A lease lost in a crash only means the task is leased again: answer before the fsync
            // unless told otherwise.
            let leases = if self.options.sync_leases {
                leases
            } else {
                leases.into_iter().for_each(|(reply, tasks)| drop(reply.send(Ok(tasks))));
                Vec::new()
            };
            self.engine.commit().map(|()| leases)
        });
        match outcome {
            Ok(leases) => {
                self.counters.commits.fetch_add(1, Ordering::Relaxed);
                self.counters.records.fetch_add(batch.records() as u64, Ordering::Relaxed);
                for ((id, priority, _), reply) in batch.inserts.iter().zip(enqueued) {
                    self.schedule.add_ready(*id, *priority);
                    let _ = reply.send(Ok(*id));
                }
                for (reply, refused) in acked {
                    let _ = reply.send(refused.map_or(Ok(()), Err));
                }
                for (reply, tasks) in leases {
                    let _ = reply.send(Ok(tasks));
                }
                Ok(())
            }
            Err(error) => {
                let failed = || QueueError::CommitFailed { peer: self.peer, reason: error.to_string() };
                enqueued.into_iter().for_each(|reply| drop(reply.send(Err(failed()))));
                acked.into_iter().for_each(|(reply, _)| drop(reply.send(Err(failed()))));
                Err(failed())
            }
        }
    }
}
