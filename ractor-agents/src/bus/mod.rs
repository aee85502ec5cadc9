//! The message bus: how agents publish events to subscribers outside the process.
//!
//! The bus itself (NATS-backed publishing and subscriptions) arrives with a later issue. What is
//! here already is the part that keeps publishing working while the bus is down:
//!
//! * [`outbox`]: when publishing fails, messages go to a local durable outbox and are replayed
//!   in order once the bus is back; subscribers drop the at-least-once duplicates by id with a
//!   [`Deduplicator`](outbox::Deduplicator).
//!
//! A bus client plugs in by implementing [`outbox::Publisher`].

pub mod outbox;
