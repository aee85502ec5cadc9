//! Admission to call the dependency, for callers that cannot wrap the call in a closure.

use std::sync::Arc;

use super::circuit::{Circuit, Ticket};
use super::outcome::{FailurePredicate, Outcome, judge};

/// Leave to make one call. Record how it went with [`record`](Self::record); a permit dropped
/// unrecorded counts as [`Outcome::Ignored`] (so a cancelled half-open probe frees its slot).
#[must_use = "a permit dropped unrecorded counts as Ignored; record the call's outcome"]
#[derive(Debug)]
pub struct Permit<'a> {
    circuit: &'a Circuit,
    ticket: Ticket,
    recorded: bool,
}

impl<'a> Permit<'a> {
    pub(crate) fn new(circuit: &'a Circuit, ticket: Ticket) -> Self {
        Self { circuit, ticket, recorded: false }
    }

    /// Records the call's outcome.
    pub fn record(mut self, outcome: Outcome) {
        self.recorded = true;
        self.circuit.record(self.ticket, outcome);
    }

    /// Records a call's result: `Ok` is a success, `Err` a failure if `predicate` says so.
    pub fn record_result<T, E, P: FailurePredicate<E>>(self, result: &Result<T, E>, predicate: &P) {
        self.record(judge(result, predicate));
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.recorded {
            self.circuit.record(self.ticket, Outcome::Ignored);
        }
    }
}

/// A permit that owns a handle on its breaker, for futures that outlive the borrow (the tower
/// service's response future).
#[derive(Debug)]
pub(crate) struct OwnedPermit {
    circuit: Arc<Circuit>,
    ticket: Ticket,
    recorded: bool,
}

impl OwnedPermit {
    pub(crate) fn new(circuit: Arc<Circuit>, ticket: Ticket) -> Self {
        Self { circuit, ticket, recorded: false }
    }

    pub(crate) fn record(mut self, outcome: Outcome) {
        self.recorded = true;
        self.circuit.record(self.ticket, outcome);
    }
}

impl Drop for OwnedPermit {
    fn drop(&mut self) {
        if !self.recorded {
            self.circuit.record(self.ticket, Outcome::Ignored);
        }
    }
}
