//! The replay task: publishes waiting messages oldest first, records each delivery, compacts.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::sync::Notify;

use super::log::{self, Record};
use super::{DeadLetter, MessageId, OutboxMessage, Publisher, Shared};

/// Runs until the outbox is dropped (its `Shared` is gone) or the task is aborted.
pub(super) async fn run<P: Publisher>(shared: Weak<Shared>, publisher: Arc<P>, wake: Arc<Notify>) {
    let Some((initial, max)) = shared.upgrade().map(|s| (s.options.retry_initial, s.options.retry_max)) else {
        return;
    };
    let mut backoff = initial;
    loop {
        // Upgraded only for this statement: the outbox's drop must not wait for a publish.
        let Some(front) = shared.upgrade().map(|s| s.lock().queue.front().cloned()) else { return };
        let Some(message) = front else {
            // `notify_one` stores a permit when nobody waits, so a deferral between the check
            // above and this wait is not missed.
            wake.notified().await;
            continue;
        };
        match publisher.publish(&message).await {
            Ok(()) => {
                let Some(shared) = shared.upgrade() else { return };
                record_delivered(&shared, message.id);
                backoff = initial;
            }
            Err(error) if error.permanent => {
                let Some(shared) = shared.upgrade() else { return };
                record_dead(&shared, message, error.reason);
                backoff = initial;
            }
            Err(error) => {
                let name = shared.upgrade().map_or("outbox", |s| s.options.name);
                tracing::warn!(outbox = name, %error, retry_in_ms = backoff.as_millis() as u64, "outbox: the bus is still failing");
                tokio::time::sleep(backoff).await;
                backoff = backoff.saturating_mul(2).min(max).max(Duration::from_millis(1));
            }
        }
    }
}

/// The bus refused `message` for good: move it from the queue to the dead letters, and log it.
fn record_dead(shared: &Arc<Shared>, message: OutboxMessage, reason: String) {
    let record = log::encode(&Record::DeadLettered(message.id, reason.clone()));
    let mut state = shared.lock();
    if state.queue.front().is_some_and(|m| m.id == message.id) {
        state.queue.pop_front();
    }
    tracing::warn!(outbox = shared.options.name, id = %message.id, %reason, "outbox: the bus refused a message for good; kept as a dead letter");
    if let Err(error) =
        record.map_err(|e| e.to_string()).and_then(|r| shared.journal.append(&r).map_err(|e| e.to_string()))
    {
        // The log still says queued: a reopen tries it again, and the bus refuses it again.
        tracing::warn!(outbox = shared.options.name, %error, "outbox: could not log a dead letter");
    }
    state.dead.push(DeadLetter { message, reason });
    shared.metrics.dead_lettered.increment(1);
    shared.queue_changed(&state);
}

/// The bus took `id`: drop it from the queue and log its delivery (not waited for: if the
/// record is lost in a crash, the message is published again, which subscribers dedupe).
fn record_delivered(shared: &Arc<Shared>, id: MessageId) {
    let record = log::encode(&Record::Delivered(id));
    let mut state = shared.lock();
    if state.queue.front().is_some_and(|m| m.id == id) {
        state.queue.pop_front();
    }
    shared.metrics.replayed.increment(1);
    shared.queue_changed(&state);
    match record.map_err(|e| e.to_string()).and_then(|r| shared.journal.append(&r).map_err(|e| e.to_string())) {
        Ok(_ticket) => state.delivered_records += 1,
        Err(error) => {
            tracing::warn!(outbox = shared.options.name, %error, "outbox: could not log a delivery; a reopen will publish it again")
        }
    }
    let dominated = state.delivered_records > state.queue.len() as u64;
    if state.compacting || state.delivered_records < shared.options.compact_after || !dominated {
        return;
    }
    let cut = match shared.journal.cut() {
        Ok(cut) => cut,
        Err(error) => {
            tracing::warn!(outbox = shared.options.name, %error, "outbox: could not start a compaction");
            return;
        }
    };
    // Taken under the same lock as the cut: exactly the messages the log before it leaves
    // waiting, then the dead letters (queued, then refused).
    let waiting = state.queue.iter().map(|m| log::encode(&Record::Queued(m.clone())));
    let dead = state.dead.iter().flat_map(|d| {
        [
            log::encode(&Record::Queued(d.message.clone())),
            log::encode(&Record::DeadLettered(d.message.id, d.reason.clone())),
        ]
    });
    let live: Result<Vec<Vec<u8>>, String> = waiting.chain(dead).collect();
    state.compacting = true;
    state.delivered_records = 0;
    drop(state);
    let shared = shared.clone();
    tokio::task::spawn_blocking(move || {
        let result = live.and_then(|live| shared.journal.write_snapshot(cut, live).map_err(|e| e.to_string()));
        if let Err(error) = result {
            tracing::warn!(outbox = shared.options.name, %error, "outbox: compaction failed; the log keeps growing until the next");
        }
        shared.lock().compacting = false;
    });
}
