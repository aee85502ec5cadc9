//! The outbox against a bus that fails on command: deferral, in-order replay, crash recovery,
//! deduplication and compaction.

mod support;

use support::eventually;

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ractor_agents::bus::outbox::{
    Deduplicator, MessageId, Outbox, OutboxMessage, OutboxOptions, PublishError, Publisher, Sent,
};
use tokio::sync::Semaphore;

/// A bus that is up or down on command, records what it took, and can be told to hang after
/// taking a message (a crash before the outbox records the delivery).
struct Bus {
    up: AtomicBool,
    hang_after_taking: AtomicBool,
    /// Publishes wait for a permit: a closed gate holds the replay task back.
    gate: Semaphore,
    received: Mutex<Vec<OutboxMessage>>,
    /// Messages to this topic are refused for good.
    refused_topic: Mutex<Option<&'static str>>,
}

impl Bus {
    fn new(up: bool) -> Arc<Self> {
        Arc::new(Self {
            up: AtomicBool::new(up),
            hang_after_taking: AtomicBool::new(false),
            gate: Semaphore::new(Semaphore::MAX_PERMITS),
            received: Mutex::new(Vec::new()),
            refused_topic: Mutex::new(None),
        })
    }

    fn refuse_topic(&self, topic: Option<&'static str>) {
        *self.refused_topic.lock().expect("bus config") = topic;
    }

    fn set_up(&self, up: bool) {
        self.up.store(up, Ordering::SeqCst);
    }

    fn received_ids(&self) -> Vec<MessageId> {
        self.received.lock().expect("bus log").iter().map(|m| m.id).collect()
    }
}

#[async_trait::async_trait]
impl Publisher for Bus {
    async fn publish(&self, message: &OutboxMessage) -> Result<(), PublishError> {
        let _permit = self.gate.acquire().await.map_err(|_| PublishError::new("gate closed for good"))?;
        if !self.up.load(Ordering::SeqCst) {
            return Err(PublishError::new("connection refused"));
        }
        if *self.refused_topic.lock().expect("bus config") == Some(message.topic.as_str()) {
            return Err(PublishError::rejected(format!("no such topic `{}`", message.topic)));
        }
        self.received.lock().expect("bus log").push(message.clone());
        if self.hang_after_taking.load(Ordering::SeqCst) {
            std::future::pending::<()>().await;
        }
        Ok(())
    }
}

fn options() -> OutboxOptions {
    OutboxOptions {
        retry_initial: Duration::from_millis(1),
        retry_max: Duration::from_millis(20),
        ..Default::default()
    }
}

fn messages(count: usize) -> Vec<OutboxMessage> {
    (0..count).map(|i| OutboxMessage::new("orders", format!("order {i}").into_bytes())).collect()
}

fn ids(messages: &[OutboxMessage]) -> Vec<MessageId> {
    messages.iter().map(|m| m.id).collect()
}

/// Whether the outbox log in `dir` has been compacted into a snapshot.
fn has_snapshot(dir: &std::path::Path) -> bool {
    std::fs::read_dir(dir)
        .expect("list the outbox dir")
        .any(|entry| entry.is_ok_and(|e| e.path().extension().is_some_and(|ext| ext == "snap")))
}

#[tokio::test]
async fn a_healthy_bus_gets_each_message_directly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bus = Bus::new(true);
    let outbox = Outbox::open(dir.path(), bus.clone(), options()).expect("open");
    let sent = messages(2);
    for message in &sent {
        assert_eq!(outbox.send(message.clone()).await.expect("send"), Sent::Published);
    }
    assert_eq!(bus.received_ids(), ids(&sent));
    assert_eq!(outbox.pending(), 0);
    outbox.close().await.expect("close");
}

#[tokio::test]
async fn messages_sent_during_an_outage_are_deferred_then_delivered_in_order_after_recovery() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bus = Bus::new(false);
    let outbox = Outbox::open(dir.path(), bus.clone(), options()).expect("open");
    let sent = messages(20);
    for message in &sent {
        assert_eq!(outbox.send(message.clone()).await.expect("send"), Sent::Deferred);
    }
    assert!(bus.received_ids().is_empty());
    bus.set_up(true);
    tokio::time::timeout(Duration::from_secs(10), outbox.drained()).await.expect("the backlog is delivered");
    assert_eq!(bus.received_ids(), ids(&sent));
    outbox.close().await.expect("close");
}

#[tokio::test]
async fn a_new_message_never_overtakes_queued_ones_even_once_the_bus_is_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bus = Bus::new(false);
    let outbox = Outbox::open(dir.path(), bus.clone(), options()).expect("open");
    let sent = messages(4);
    for message in &sent[..2] {
        assert_eq!(outbox.send(message.clone()).await.expect("send"), Sent::Deferred);
    }
    // The bus is back but the replay task is held at the gate: two messages still wait.
    let held = bus.gate.acquire_many(Semaphore::MAX_PERMITS as u32).await.expect("gate");
    bus.set_up(true);
    assert_eq!(outbox.send(sent[2].clone()).await.expect("send"), Sent::Deferred, "queued behind older messages");
    drop(held);
    eventually("the backlog is delivered", || outbox.pending() == 0).await;
    assert_eq!(outbox.send(sent[3].clone()).await.expect("send"), Sent::Published, "nothing waits any more");
    assert_eq!(bus.received_ids(), ids(&sent));
    outbox.close().await.expect("close");
}

#[tokio::test]
async fn reopening_after_a_drop_without_close_redelivers_the_undelivered_messages_in_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let sent = messages(5);
    {
        let bus = Bus::new(false);
        let outbox = Outbox::open(dir.path(), bus.clone(), options()).expect("open");
        for message in &sent {
            assert_eq!(outbox.send(message.clone()).await.expect("send"), Sent::Deferred);
        }
        drop(outbox);
        assert!(bus.received_ids().is_empty());
    }
    let bus = Bus::new(true);
    let outbox = Outbox::open(dir.path(), bus.clone(), options()).expect("reopen");
    eventually("the replayed backlog is delivered", || outbox.pending() == 0).await;
    assert_eq!(bus.received_ids(), ids(&sent));
    assert_eq!(bus.received.lock().expect("bus log")[0], sent[0], "topic, payload and headers survive the log");
    outbox.close().await.expect("close");

    let outbox = Outbox::open(dir.path(), bus.clone(), options()).expect("reopen again");
    assert_eq!(outbox.pending(), 0, "delivered messages are not replayed again");
    outbox.close().await.expect("close");
}

#[tokio::test]
async fn a_crash_between_publish_and_record_republishes_and_the_deduplicator_passes_each_id_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bus = Bus::new(false);
    let sent = messages(3);
    let outbox = Outbox::open(dir.path(), bus.clone(), options()).expect("open");
    for message in &sent {
        assert_eq!(outbox.send(message.clone()).await.expect("send"), Sent::Deferred);
    }
    bus.hang_after_taking.store(true, Ordering::SeqCst);
    bus.set_up(true);
    eventually("the bus took the first message", || bus.received_ids().len() == 1).await;
    drop(outbox); // the "crash": the delivery of the first message is never recorded

    bus.hang_after_taking.store(false, Ordering::SeqCst);
    let outbox = Outbox::open(dir.path(), bus.clone(), options()).expect("reopen");
    eventually("the backlog is delivered", || outbox.pending() == 0).await;
    let raw = bus.received_ids();
    assert_eq!(raw, [sent[0].id, sent[0].id, sent[1].id, sent[2].id], "the first message was published twice");

    let mut subscriber = Deduplicator::new(100);
    let seen: Vec<MessageId> = raw.into_iter().filter(|id| subscriber.first_time(*id)).collect();
    assert_eq!(seen, ids(&sent));
    outbox.close().await.expect("close");
}

#[tokio::test]
async fn the_log_is_compacted_once_deliveries_dominate_and_still_replays_what_waits() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bus = Bus::new(false);
    let outbox = Outbox::open(dir.path(), bus.clone(), OutboxOptions { compact_after: 4, ..options() }).expect("open");
    for message in messages(10) {
        outbox.send(message).await.expect("send");
    }
    bus.set_up(true);
    eventually("the backlog is delivered", || outbox.pending() == 0).await;
    eventually("a snapshot replaced the delivered records", || has_snapshot(dir.path())).await;

    bus.set_up(false);
    let waiting = messages(2);
    for message in &waiting {
        assert_eq!(outbox.send(message.clone()).await.expect("send"), Sent::Deferred);
    }
    drop(outbox);
    let bus = Bus::new(true);
    let outbox = Outbox::open(dir.path(), bus.clone(), options()).expect("reopen");
    eventually("the waiting messages are delivered", || outbox.pending() == 0).await;
    assert_eq!(bus.received_ids(), ids(&waiting));
    outbox.close().await.expect("close");
}

#[tokio::test]
async fn a_message_the_bus_refuses_for_good_is_set_aside_without_blocking_the_ones_behind_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bus = Bus::new(false);
    bus.refuse_topic(Some("audit"));
    let mut sent = messages(5);
    sent[1] = OutboxMessage::new("audit", b"refused".to_vec());
    sent[3] = OutboxMessage::new("audit", b"refused too".to_vec());
    let outbox = Outbox::open(dir.path(), bus.clone(), options()).expect("open");
    for message in &sent {
        assert_eq!(outbox.send(message.clone()).await.expect("send"), Sent::Deferred);
    }
    bus.set_up(true);
    tokio::time::timeout(Duration::from_secs(10), outbox.drained()).await.expect("the backlog is delivered");
    assert_eq!(bus.received_ids(), [sent[0].id, sent[2].id, sent[4].id], "the others in order, not held back");
    let dead = outbox.dead_letters();
    assert_eq!(dead.iter().map(|d| d.message.id).collect::<Vec<_>>(), [sent[1].id, sent[3].id]);
    assert_eq!(dead[0].message, sent[1], "kept whole");
    assert_eq!(dead[0].reason, "no such topic `audit`");

    // Sent directly while the bus is healthy: refused at once, kept the same way.
    let direct = OutboxMessage::new("audit", b"direct".to_vec());
    assert_eq!(outbox.send(direct.clone()).await.expect("send"), Sent::DeadLettered);
    assert_eq!(outbox.dead_letters().len(), 3);
    drop(outbox);

    // Dead letters survive a reopen, and nothing is retried by itself.
    let outbox = Outbox::open(dir.path(), bus.clone(), options()).expect("reopen");
    assert_eq!(outbox.pending(), 0);
    assert_eq!(
        outbox.dead_letters().iter().map(|d| d.message.id).collect::<Vec<_>>(),
        [sent[1].id, sent[3].id, direct.id]
    );
    // The topic is created; one letter is redriven, one discarded, one left.
    bus.refuse_topic(None);
    assert!(outbox.redrive(sent[3].id).await.expect("redrive"));
    assert!(outbox.discard(sent[1].id).await.expect("discard"));
    assert!(!outbox.discard(sent[1].id).await.expect("discard"), "already gone");
    assert!(!outbox.redrive(MessageId(7)).await.expect("redrive"), "no such dead letter");
    tokio::time::timeout(Duration::from_secs(10), outbox.drained()).await.expect("the redriven letter is delivered");
    assert_eq!(bus.received_ids().last(), Some(&sent[3].id));
    drop(outbox);

    let outbox = Outbox::open(dir.path(), bus.clone(), options()).expect("reopen again");
    assert_eq!(outbox.pending(), 0, "the redriven letter was delivered, not queued again");
    assert_eq!(outbox.dead_letters().iter().map(|d| d.message.id).collect::<Vec<_>>(), [direct.id]);
    outbox.close().await.expect("close");
}

#[tokio::test]
async fn compaction_keeps_the_dead_letters() {
    let dir = tempfile::tempdir().expect("temp dir");
    let bus = Bus::new(true);
    bus.refuse_topic(Some("audit"));
    let outbox = Outbox::open(dir.path(), bus.clone(), OutboxOptions { compact_after: 4, ..options() }).expect("open");
    let refused = OutboxMessage::new("audit", b"refused".to_vec());
    assert_eq!(outbox.send(refused.clone()).await.expect("send"), Sent::DeadLettered);
    bus.set_up(false);
    for message in messages(10) {
        outbox.send(message).await.expect("send");
    }
    bus.set_up(true);
    eventually("the backlog is delivered", || outbox.pending() == 0).await;
    eventually("a snapshot replaced the delivered records", || has_snapshot(dir.path())).await;
    drop(outbox);
    let outbox = Outbox::open(dir.path(), bus.clone(), options()).expect("reopen");
    let dead = outbox.dead_letters();
    assert_eq!(dead.len(), 1);
    assert_eq!((&dead[0].message, dead[0].reason.as_str()), (&refused, "no such topic `audit`"));
    outbox.close().await.expect("close");
}

#[test]
fn the_deduplicator_forgets_the_oldest_id_beyond_its_window() {
    let mut seen = Deduplicator::new(2);
    assert!(seen.first_time(MessageId(1)));
    assert!(seen.first_time(MessageId(2)));
    assert!(!seen.first_time(MessageId(1)));
    assert!(seen.first_time(MessageId(3))); // evicts 1
    assert!(!seen.first_time(MessageId(2)));
    assert!(seen.first_time(MessageId(1)), "1 fell out of the window");
}

#[test]
fn a_message_carries_the_traceparent_header() {
    let trace = ractor_agents::agent::TraceContext::new_root();
    let message = OutboxMessage::new("orders", b"x".to_vec()).traceparent(&trace);
    assert_eq!(message.header_value("TraceParent"), Some(trace.traceparent().as_str()));
}

#[tokio::test]
async fn published_deferred_and_replayed_messages_are_counted_by_outcome() {
    support::metrics::recorder();
    let dir = tempfile::tempdir().expect("temp dir");
    let bus = Bus::new(true);
    let outbox = Outbox::open(dir.path(), bus.clone(), OutboxOptions { name: "metered", ..options() }).expect("open");
    outbox.send(messages(1).remove(0)).await.expect("send");
    bus.set_up(false);
    for message in messages(2) {
        outbox.send(message).await.expect("send");
    }
    bus.set_up(true);
    tokio::time::timeout(Duration::from_secs(10), outbox.drained()).await.expect("the backlog is delivered");
    let totals = support::metrics::counters_by("ractor_agents_outbox_messages_total", ("outbox", "metered"), "outcome");
    assert_eq!(totals.get("published"), Some(&1));
    assert_eq!(totals.get("deferred"), Some(&2));
    assert_eq!(totals.get("replayed"), Some(&2));
    bus.refuse_topic(Some("audit"));
    outbox.send(OutboxMessage::new("audit", b"x".to_vec())).await.expect("send");
    let totals = support::metrics::counters_by("ractor_agents_outbox_messages_total", ("outbox", "metered"), "outcome");
    assert_eq!(totals.get("dead_lettered"), Some(&1));
    outbox.close().await.expect("close");
}
