//! The children of one supervisor, in start order, indexed by id and by running actor.
//!
//! A dynamic supervisor may hold 100,000 children, so every lookup an exit or a `start_child`
//! needs is a hash lookup, and removal is O(log n). Each child keeps the sequence number it was
//! added with: iteration in sequence order is start order, whatever was removed in between.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use ractor::{ActorCell, ActorId};
use tokio::time::Instant;

use super::ChildSpec;

/// A child's position in start order; stable for the child's lifetime in the table.
pub(crate) type Seq = u64;

pub(crate) struct Child {
    pub(crate) spec: ChildSpec,
    /// The running incarnation; change it only through [`ChildTable::set_cell`] / `take_cell`.
    cell: Option<ActorCell>,
    pub(crate) started_at: Instant,
    /// Consecutive restarts without a stable run in between (drives backoff).
    pub(crate) consecutive: u32,
    pub(crate) restarts: u64,
    /// Waiting for a (possibly delayed) restart.
    pub(crate) pending: bool,
}

impl Child {
    pub(crate) fn is_running(&self) -> bool {
        self.cell.is_some()
    }
}

#[derive(Default)]
pub(crate) struct ChildTable {
    by_seq: BTreeMap<Seq, Child>,
    by_id: HashMap<Arc<str>, Seq>,
    by_actor: HashMap<ActorId, Seq>,
    next_seq: Seq,
}

impl ChildTable {
    pub(crate) fn len(&self) -> usize {
        self.by_seq.len()
    }

    pub(crate) fn contains_id(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    /// Adds a child whose first incarnation has just started, after all others.
    pub(crate) fn push_started(&mut self, spec: ChildSpec, cell: ActorCell) -> Seq {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.by_id.insert(spec.id.clone(), seq);
        self.by_actor.insert(cell.get_id(), seq);
        let child =
            Child { spec, cell: Some(cell), started_at: Instant::now(), consecutive: 0, restarts: 0, pending: false };
        self.by_seq.insert(seq, child);
        seq
    }

    pub(crate) fn get(&self, seq: Seq) -> Option<&Child> {
        self.by_seq.get(&seq)
    }

    pub(crate) fn get_mut(&mut self, seq: Seq) -> Option<&mut Child> {
        self.by_seq.get_mut(&seq)
    }

    pub(crate) fn seq_of(&self, id: &str) -> Option<Seq> {
        self.by_id.get(id).copied()
    }

    /// The child whose running incarnation is `actor`.
    pub(crate) fn seq_of_actor(&self, actor: &ActorId) -> Option<Seq> {
        self.by_actor.get(actor).copied()
    }

    /// Every child, in start order.
    pub(crate) fn seqs(&self) -> Vec<Seq> {
        self.by_seq.keys().copied().collect()
    }

    /// `seq` and every child started after it, in start order.
    pub(crate) fn seqs_from(&self, seq: Seq) -> Vec<Seq> {
        self.by_seq.range(seq..).map(|(s, _)| *s).collect()
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Child> {
        self.by_seq.values()
    }

    pub(crate) fn set_cell(&mut self, seq: Seq, cell: ActorCell) {
        if let Some(child) = self.by_seq.get_mut(&seq) {
            self.by_actor.insert(cell.get_id(), seq);
            if let Some(old) = child.cell.replace(cell) {
                self.by_actor.remove(&old.get_id());
            }
        }
    }

    pub(crate) fn take_cell(&mut self, seq: Seq) -> Option<ActorCell> {
        let cell = self.by_seq.get_mut(&seq)?.cell.take()?;
        self.by_actor.remove(&cell.get_id());
        Some(cell)
    }

    pub(crate) fn remove(&mut self, seq: Seq) -> Option<Child> {
        let mut child = self.by_seq.remove(&seq)?;
        self.by_id.remove(&child.spec.id);
        if let Some(cell) = child.cell.take() {
            self.by_actor.remove(&cell.get_id());
        }
        Some(child)
    }
}
