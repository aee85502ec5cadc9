//! The subscriber's half of at-least-once delivery: dropping redeliveries by id.

use std::collections::{HashSet, VecDeque};

use super::message::MessageId;

/// Subscriber-side filter of at-least-once duplicates: remembers the last `window` ids seen.
///
/// ```
/// use ractor_agents::bus::outbox::{Deduplicator, MessageId};
///
/// let mut seen = Deduplicator::new(1_000);
/// assert!(seen.first_time(MessageId(7)));
/// assert!(!seen.first_time(MessageId(7)), "a redelivery is dropped");
/// ```
///
/// The window must cover the redeliveries: the outbox republishes at most the messages that
/// were in flight or not yet recorded as delivered when it crashed, so a window of a few times
/// the outbox's backlog is enough.
#[derive(Debug, Clone)]
pub struct Deduplicator {
    window: usize,
    seen: HashSet<MessageId>,
    order: VecDeque<MessageId>,
}

impl Deduplicator {
    /// Remembers up to `window` ids (at least one); the oldest is forgotten first.
    pub fn new(window: usize) -> Self {
        let window = window.max(1);
        Self { window, seen: Default::default(), order: Default::default() }
    }

    /// Whether `id` is new (then it is remembered); `false` for a duplicate within the window.
    pub fn first_time(&mut self, id: MessageId) -> bool {
        if !self.seen.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > self.window
            && let Some(oldest) = self.order.pop_front()
        {
            self.seen.remove(&oldest);
        }
        true
    }
}
