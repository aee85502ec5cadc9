//! The queue's conformance suite on the in-memory backend.

mod queue;

use std::sync::Arc;

use queue::conformance::Fixture;
use ractor_agents::tasks::{ManualClock, MemoryStore};

async fn memory(clock: ManualClock) -> Fixture {
    Fixture { store: Arc::new(MemoryStore::with_clock(Arc::new(clock.clone()))), clock, guard: Box::new(()) }
}

queue_conformance!(memory);
