//! The outbox: publishing that survives the bus being down.
//!
//! [`Outbox::send`] publishes straight to the bus while it is healthy and nothing is waiting.
//! When publishing fails, or older messages are still waiting (a new message must not overtake
//! them), the message is appended to a local durable log and `send` answers
//! [`Sent::Deferred`] once it is on disk. A replay task owned by the outbox publishes the
//! waiting messages oldest first, retrying with exponential backoff, and records each delivery
//! in the log. Reopening the directory after a crash replays what was not recorded delivered.
//!
//! | the bus    | messages waiting | `send`                                        |
//! |------------|------------------|-----------------------------------------------|
//! | up         | none             | publishes now: `Sent::Published`              |
//! | down       | none             | logs the message: `Sent::Deferred`            |
//! | up or down | some             | logs it behind them: `Sent::Deferred`         |
//!
//! A message the bus refuses for good ([`PublishError::rejected`]) does not block the ones
//! behind it: it is set aside as a [`DeadLetter`] (kept in the log, listed by
//! [`Outbox::dead_letters`]) until someone [redrives](Outbox::redrive) or
//! [discards](Outbox::discard) it.
//!
//! Delivery is **at least once**: a crash after the bus took a message but before its delivery
//! was recorded publishes it again after the reopen. Subscribers drop the duplicates by
//! [`MessageId`] with a [`Deduplicator`]. Order: messages from sends that do not overlap in
//! time reach the bus in the order sent (concurrent sends have no order between them).
//!
//! The log is the crate's journal (group commit, torn-tail recovery); once delivered records
//! outnumber the waiting ones (and there are at least `compact_after` of them), the log is
//! compacted to a snapshot of the waiting messages.
//!
//! `send` waits as long as the publisher does: put a timeout on the bus client (or wrap it in
//! a policy from [`resilience`](crate::resilience)) so a hanging bus fails fast and defers.
//!
//! Metrics: `ractor_agents_outbox_messages_total{outbox,outcome}` (`published`, `deferred`,
//! `replayed`, `dead_lettered`) and the gauges `ractor_agents_outbox_pending{outbox}` and
//! `ractor_agents_outbox_dead_letters{outbox}`.
//!
//! ```
//! use ractor_agents::bus::outbox::{Outbox, OutboxMessage, OutboxOptions, PublishError, Publisher, Sent};
//! use std::sync::atomic::{AtomicBool, Ordering};
//! use std::sync::Arc;
//!
//! struct Bus { up: AtomicBool }
//!
//! #[async_trait::async_trait]
//! impl Publisher for Bus {
//!     async fn publish(&self, message: &OutboxMessage) -> Result<(), PublishError> {
//!         if self.up.load(Ordering::SeqCst) { Ok(()) } else { Err(PublishError::new("connection refused")) }
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let bus = Arc::new(Bus { up: AtomicBool::new(false) });
//! let outbox = Outbox::open(dir.path(), bus.clone(), OutboxOptions::default())?;
//!
//! let sent = outbox.send(OutboxMessage::new("orders.created", b"order 42".to_vec())).await?;
//! assert_eq!(sent, Sent::Deferred); // the bus is down: kept on disk
//!
//! bus.up.store(true, Ordering::SeqCst);
//! outbox.drained().await; // the replay task delivered it
//! outbox.close().await?;
//! # Ok(()) }
//! ```

mod dedup;
mod error;
mod log;
mod message;
mod replay;

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

pub use dedup::Deduplicator;
pub use error::OutboxError;
pub use message::{DeadLetter, MessageId, OutboxMessage, PublishError, Publisher};

use crate::journal::{Journal, JournalOptions};
use crate::telemetry::metrics::OutboxMetrics;
use log::Record;

/// How [`Outbox::send`] handled a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sent {
    /// The bus took it now.
    Published,
    /// It is in the durable log; the replay task publishes it once the bus is back.
    Deferred,
    /// The bus refused it for good; it is kept as a [`DeadLetter`].
    DeadLettered,
}

/// Options of [`Outbox::open`].
#[derive(Debug, Clone)]
pub struct OutboxOptions {
    /// The `outbox` label of the metrics (and the journal's `journal` label).
    pub name: &'static str,
    /// First wait before republishing after a failure (100 ms by default); doubles per failure.
    pub retry_initial: Duration,
    /// Longest wait between republishing attempts (30 s by default).
    pub retry_max: Duration,
    /// Compact the log once it holds at least this many delivery records (1024 by default)
    /// and they outnumber the waiting messages.
    pub compact_after: u64,
}

impl Default for OutboxOptions {
    fn default() -> Self {
        Self {
            name: "outbox",
            retry_initial: Duration::from_millis(100),
            retry_max: Duration::from_secs(30),
            compact_after: 1024,
        }
    }
}

/// A publisher with a durable outbox in front of it. Dropping it stops the replay task;
/// undelivered messages stay in the log for the next [`Outbox::open`].
pub struct Outbox<P: Publisher> {
    shared: Arc<Shared>,
    publisher: Arc<P>,
    replay: JoinHandle<()>,
}

impl<P: Publisher> std::fmt::Debug for Outbox<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbox").field("dir", &self.shared.dir).field("pending", &self.pending()).finish()
    }
}

/// What the outbox and its replay task share. The replay task holds it only weakly (and never
/// across an await), so dropping the outbox closes the log at once.
struct Shared {
    journal: Journal,
    state: Mutex<State>,
    wake: Arc<Notify>,
    /// The queue's length, for [`Outbox::drained`].
    pending: watch::Sender<usize>,
    metrics: OutboxMetrics,
    options: OutboxOptions,
    dir: PathBuf,
}

struct State {
    /// Messages not yet recorded delivered, oldest first.
    queue: VecDeque<OutboxMessage>,
    /// Messages the bus refused for good.
    dead: Vec<DeadLetter>,
    /// `Delivered` records in the log since the last snapshot's cut.
    delivered_records: u64,
    compacting: bool,
}

impl Shared {
    /// Publishes the queue's new length (gauges and `drained` waiters); called under the lock.
    fn queue_changed(&self, state: &State) {
        self.metrics.pending.set(state.queue.len() as f64);
        self.metrics.dead_letters.set(state.dead.len() as f64);
        self.pending.send_replace(state.queue.len());
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update under the lock completes without panicking points in between.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl<P: Publisher> Outbox<P> {
    /// Opens (or creates) the outbox log in `dir` and starts replaying what it holds through
    /// `publisher`. Must be called inside a Tokio runtime.
    pub fn open(dir: impl AsRef<Path>, publisher: P, options: OutboxOptions) -> Result<Self, OutboxError> {
        let dir = dir.as_ref().to_path_buf();
        // Small segments, not preallocated: an outbox holds little, most of the time nothing.
        let journal_options = JournalOptions::default().name(options.name).segment_bytes(4 << 20).preallocate(false);
        let (journal, replayed) = Journal::open(&dir, journal_options).map_err(OutboxError::log("open"))?;
        let log::Rebuilt { queue, dead, delivered_records } =
            log::rebuild(replayed.iter()).map_err(|reason| OutboxError::Corrupt { dir: dir.clone(), reason })?;
        if !dead.is_empty() {
            tracing::warn!(outbox = options.name, dead_letters = dead.len(), "outbox: the log holds dead letters");
        }
        if !queue.is_empty() {
            tracing::info!(outbox = options.name, pending = queue.len(), "outbox: replaying undelivered messages");
        }
        let metrics = OutboxMetrics::new(options.name);
        metrics.pending.set(queue.len() as f64);
        metrics.dead_letters.set(dead.len() as f64);
        let (pending, _) = watch::channel(queue.len());
        let wake = Arc::new(Notify::new());
        let shared = Arc::new(Shared {
            journal,
            state: Mutex::new(State { queue, dead, delivered_records, compacting: false }),
            wake: wake.clone(),
            pending,
            metrics,
            options,
            dir,
        });
        let publisher = Arc::new(publisher);
        let replay = tokio::spawn(replay::run(Arc::downgrade(&shared), publisher.clone(), wake));
        Ok(Self { shared, publisher, replay })
    }

    /// Publishes `message`, or keeps it durably for the replay task if the bus fails or older
    /// messages are still waiting. An error means the log failed: the message may not be kept.
    pub async fn send(&self, message: OutboxMessage) -> Result<Sent, OutboxError> {
        if self.shared.lock().queue.is_empty() {
            match self.publisher.publish(&message).await {
                Ok(()) => {
                    self.shared.metrics.published.increment(1);
                    return Ok(Sent::Published);
                }
                Err(error) if error.permanent => return self.set_aside(message, error.reason).await,
                Err(error) => tracing::debug!(outbox = self.shared.options.name, %error, "outbox: deferring"),
            }
        }
        self.defer(message).await
    }

    async fn defer(&self, message: OutboxMessage) -> Result<Sent, OutboxError> {
        self.enqueue(message).await?;
        self.shared.metrics.deferred.increment(1);
        Ok(Sent::Deferred)
    }

    /// Logs `message` at the back of the queue, wakes the replay task, waits until it is durable.
    async fn enqueue(&self, message: OutboxMessage) -> Result<(), OutboxError> {
        let record = log::encode(&Record::Queued(message.clone())).map_err(|reason| OutboxError::Encode { reason })?;
        let ticket = {
            let mut state = self.shared.lock();
            // Appended under the lock so the log's order is the queue's order.
            let ticket = self.shared.journal.append(&record).map_err(OutboxError::log("append a message"))?;
            state.queue.push_back(message);
            self.shared.queue_changed(&state);
            ticket
        };
        self.shared.wake.notify_one();
        self.shared.journal.wait_durable(ticket).await.map_err(OutboxError::log("make a message durable"))
    }

    /// Keeps a message the bus refused on the direct path as a dead letter.
    async fn set_aside(&self, message: OutboxMessage, reason: String) -> Result<Sent, OutboxError> {
        let encode = |record: &Record| log::encode(record).map_err(|reason| OutboxError::Encode { reason });
        let queued = encode(&Record::Queued(message.clone()))?;
        let dead = encode(&Record::DeadLettered(message.id, reason.clone()))?;
        let ticket = {
            let mut state = self.shared.lock();
            // The log is written in order: the second record durable means the first is too.
            let _first = self.shared.journal.append(&queued).map_err(OutboxError::log("append a dead letter"))?;
            let ticket = self.shared.journal.append(&dead).map_err(OutboxError::log("append a dead letter"))?;
            tracing::warn!(outbox = self.shared.options.name, id = %message.id, %reason, "outbox: the bus refused a message for good; kept as a dead letter");
            state.dead.push(DeadLetter { message, reason });
            self.shared.metrics.dead_lettered.increment(1);
            self.shared.queue_changed(&state);
            ticket
        };
        self.shared.journal.wait_durable(ticket).await.map_err(OutboxError::log("make a dead letter durable"))?;
        Ok(Sent::DeadLettered)
    }

    /// The messages the bus refused for good, in the order it refused them.
    pub fn dead_letters(&self) -> Vec<DeadLetter> {
        self.shared.lock().dead.clone()
    }

    /// Queues the dead letter `id` again, behind the messages waiting now (after fixing what the
    /// bus objected to on its side: creating the topic, raising a size limit). `Ok(false)` if
    /// there is no such dead letter.
    pub async fn redrive(&self, id: MessageId) -> Result<bool, OutboxError> {
        let Some(letter) = self.take_dead(id) else { return Ok(false) };
        match self.enqueue(letter.message.clone()).await {
            Ok(()) => Ok(true),
            Err(error) => {
                // Not logged as queued: it is still a dead letter.
                self.shared.lock().dead.push(letter);
                Err(error)
            }
        }
    }

    /// Drops the dead letter `id` for good. `Ok(false)` if there is no such dead letter.
    pub async fn discard(&self, id: MessageId) -> Result<bool, OutboxError> {
        let Some(letter) = self.take_dead(id) else { return Ok(false) };
        let record = log::encode(&Record::Delivered(id)).map_err(|reason| OutboxError::Encode { reason })?;
        let appended = {
            let mut state = self.shared.lock();
            let appended = self.shared.journal.append(&record);
            match &appended {
                Ok(_) => state.delivered_records += 1,
                Err(_) => state.dead.push(letter),
            }
            self.shared.queue_changed(&state);
            appended.map_err(OutboxError::log("discard a dead letter"))?
        };
        self.shared.journal.wait_durable(appended).await.map_err(OutboxError::log("discard a dead letter"))?;
        Ok(true)
    }

    fn take_dead(&self, id: MessageId) -> Option<DeadLetter> {
        let mut state = self.shared.lock();
        let index = state.dead.iter().position(|d| d.message.id == id)?;
        let letter = state.dead.remove(index);
        self.shared.queue_changed(&state);
        Some(letter)
    }

    /// Messages waiting for the bus (deferred and not yet recorded delivered).
    pub fn pending(&self) -> usize {
        self.shared.lock().queue.len()
    }

    /// Resolves once no message waits (everything deferred so far reached the bus): use it
    /// before a planned shutdown, with a timeout of your choosing.
    pub async fn drained(&self) {
        let mut pending = self.shared.pending.subscribe();
        // `wait_for` only fails when the sender is gone, and `self` keeps it alive.
        let _ = pending.wait_for(|&count| count == 0).await;
    }

    /// Stops the replay task and closes the log, syncing what it holds. Undelivered messages
    /// stay for the next [`Outbox::open`].
    pub async fn close(mut self) -> Result<(), OutboxError> {
        self.replay.abort();
        // Wait until the task is gone so no publish runs after `close` returns; its result is
        // the cancellation we just asked for.
        let _ = (&mut self.replay).await;
        self.shared.journal.close().map_err(OutboxError::log("close"))
    }
}

impl<P: Publisher> Drop for Outbox<P> {
    fn drop(&mut self) {
        self.replay.abort();
        // Closed here rather than when the last `Arc<Shared>` goes: a compaction on a blocking
        // thread may hold one a while longer, and the directory must be free to reopen now.
        if let Err(error) = self.shared.journal.close() {
            tracing::warn!(outbox = self.shared.options.name, %error, "outbox: closing the log failed");
        }
    }
}
