//! The event sink of a durable operation: each event is encoded and appended to the journal
//! (under the state lock, so the journal's order is the state's) and noted for the wake-ups.

use crate::journal::Journal;
use crate::tasks::event::{Event, EventSink};
use crate::tasks::signals::Wakeups;

use super::codec;

pub(super) struct JournalSink<'a> {
    journal: &'a Journal,
    scratch: &'a mut Vec<u8>,
    pub(super) wakeups: Wakeups,
    logged_bytes: u64,
    /// The first event that could not be logged; later events are not logged either.
    error: Option<String>,
}

impl<'a> JournalSink<'a> {
    pub(super) fn new(journal: &'a Journal, scratch: &'a mut Vec<u8>, wakeups: Wakeups) -> Self {
        Self { journal, scratch, wakeups, logged_bytes: 0, error: None }
    }

    /// Marks consumers for waking even without a ready event (retry times that came).
    pub(crate) fn mark_ready(&mut self) {
        self.wakeups.mark_ready();
    }

    /// The wake-ups, bytes logged and the logging error, if any.
    pub(super) fn finish(self) -> (Wakeups, u64, Option<String>) {
        (self.wakeups, self.logged_bytes, self.error)
    }
}

impl EventSink for JournalSink<'_> {
    fn record(&mut self, event: &Event) {
        self.wakeups.record(event);
        if self.error.is_some() {
            return;
        }
        let logged = codec::encode(event, self.scratch)
            .and_then(|()| self.journal.append(self.scratch).map_err(|e| e.to_string()));
        match logged {
            Ok(_ticket) => self.logged_bytes += self.scratch.len() as u64,
            Err(error) => self.error = Some(error),
        }
    }
}
