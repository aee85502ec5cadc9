//! What the outbox carries and the publisher it carries it to.

use serde::{Deserialize, Serialize};

use crate::agent::TraceContext;

/// A message's unique id: subscribers deduplicate by it. 128 random bits unless the caller
/// gives one (an idempotency key it already has).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct MessageId(pub u128);

impl MessageId {
    /// A fresh random id (collision odds about 2⁻⁶⁴ after billions of messages).
    pub fn random() -> Self {
        Self(rand::random())
    }
}

impl std::fmt::Display for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

impl std::fmt::Debug for MessageId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MessageId({self})")
    }
}

/// A message to publish: id, topic, payload bytes and headers (the W3C `traceparent` among them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxMessage {
    /// Unique id; subscribers deduplicate by it.
    pub id: MessageId,
    /// Where it goes (a NATS subject, a Kafka topic).
    pub topic: String,
    /// The body, opaque to the outbox.
    pub payload: Vec<u8>,
    /// Headers, in the order given.
    pub headers: Vec<(String, String)>,
}

impl OutboxMessage {
    /// A message with a random id, no headers.
    pub fn new(topic: impl Into<String>, payload: impl Into<Vec<u8>>) -> Self {
        Self { id: MessageId::random(), topic: topic.into(), payload: payload.into(), headers: Vec::new() }
    }

    /// Replaces the id (with an idempotency key the caller already has).
    pub fn with_id(mut self, id: MessageId) -> Self {
        self.id = id;
        self
    }

    /// Adds a header.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Adds the W3C `traceparent` header of `trace`, so the subscriber's span joins the trace.
    pub fn traceparent(self, trace: &TraceContext) -> Self {
        self.header("traceparent", trace.traceparent())
    }

    /// The value of the first header called `name` (ASCII case-insensitive, as in HTTP).
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Publishing failed. Usually the bus is unavailable and the outbox keeps the message and
/// retries; a bus that refuses *this message* for good ([`PublishError::rejected`]: too large,
/// a topic that does not exist, a schema the broker refuses) gets it set aside as a dead letter
/// instead, so it cannot hold back the messages behind it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", if *.permanent {
    format!("the bus refused the message: {reason}; it will never take it as is")
} else {
    format!("publishing failed: {reason}; the outbox keeps the message and retries")
})]
pub struct PublishError {
    /// What the bus client said.
    pub reason: String,
    /// Whether the bus refused this message for good (retrying cannot help).
    pub permanent: bool,
}

impl PublishError {
    /// A failure that may pass (the bus is down, a timeout): the message is retried.
    pub fn new(reason: impl Into<String>) -> Self {
        Self { reason: reason.into(), permanent: false }
    }

    /// The bus refused this message for good: it becomes a dead letter.
    pub fn rejected(reason: impl Into<String>) -> Self {
        Self { reason: reason.into(), permanent: true }
    }
}

/// A message the bus refused for good, set aside with the bus's reason. Kept in the log until
/// [`Outbox::redrive`](super::Outbox::redrive) or [`Outbox::discard`](super::Outbox::discard).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetter {
    /// The message, as it was sent.
    pub message: OutboxMessage,
    /// Why the bus refused it.
    pub reason: String,
}

/// Sends messages to the bus. `Ok` means the bus has the message (it may still be delivered
/// twice if the outbox crashes before recording that: subscribers deduplicate by id).
#[async_trait::async_trait]
pub trait Publisher: Send + Sync + 'static {
    /// Publishes one message.
    async fn publish(&self, message: &OutboxMessage) -> Result<(), PublishError>;
}

/// A shared publisher publishes (so a test or the caller can keep a handle on the bus).
#[async_trait::async_trait]
impl<P: Publisher + ?Sized> Publisher for std::sync::Arc<P> {
    async fn publish(&self, message: &OutboxMessage) -> Result<(), PublishError> {
        (**self).publish(message).await
    }
}
