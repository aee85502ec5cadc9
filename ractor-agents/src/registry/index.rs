//! The per-capability index: the agents that declare one capability, and a tournament tree
//! over their routing keys that answers "the least-loaded available one" in O(1).
//!
//! ```text
//!                 nodes[1] = min of all        ← best(): one atomic load
//!               /                     \
//!        nodes[2] = min(4,5)     nodes[3] = min(6,7)
//!         /        \              /        \
//!   leaf slot 0  leaf slot 1  leaf slot 2  leaf slot 3     leaves at nodes[cap + slot]
//! ```
//!
//! Every node is an `AtomicU64` holding a routing key (`State::routing_key`: status rank, load
//! ratio, slot), so the root names the best agent by its slot. Readers only load atomics.
//! Writers (a load or status change of a member) recompute one leaf and walk up, stopping as
//! soon as a node does not change: O(log n) worst case. They are serialized per capability by
//! a mutex that readers never take, so the tree is consistent after every writer; a reader
//! racing a writer sees the tree as it was before or after that writer's leaf, which for
//! routing is as good as reading a moment earlier.
//!
//! Membership changes (register, unregister, growing the tree) need `&mut self`: the index
//! sits in a `DashMap`, so they hold that shard's write lock for a moment. Load, status and
//! heartbeat updates never do.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::state::Record;

const EMPTY: u64 = u64::MAX;
const INITIAL_LEAVES: usize = 4;

pub(crate) struct CapabilityIndex {
    /// Slot → member. A freed slot is `None` until reused.
    members: Vec<Option<Arc<Record>>>,
    free: Vec<u32>,
    len: usize,
    /// `2 * leaves` nodes; `nodes[1]` is the root, leaves start at `nodes[leaves]`.
    nodes: Box<[AtomicU64]>,
    /// Serializes writers of `nodes`; readers never take it.
    writer: Mutex<()>,
}

impl CapabilityIndex {
    pub(crate) fn new() -> Self {
        Self {
            members: Vec::new(),
            free: Vec::new(),
            len: 0,
            nodes: (0..2 * INITIAL_LEAVES).map(|_| AtomicU64::new(EMPTY)).collect(),
            writer: Mutex::new(()),
        }
    }

    fn leaves(&self) -> usize {
        self.nodes.len() / 2
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds a member; answers its slot.
    pub(crate) fn insert(&mut self, record: Arc<Record>) -> u32 {
        let slot = match self.free.pop() {
            Some(slot) => slot as usize,
            None => {
                if self.members.len() == self.leaves() {
                    self.grow();
                }
                self.members.push(None);
                self.members.len() - 1
            }
        };
        self.members[slot] = Some(record);
        self.len += 1;
        let slot = slot as u32;
        self.refresh(slot);
        slot
    }

    /// Removes `record` from `slot` (if it is still the member there).
    pub(crate) fn remove(&mut self, slot: u32, record: &Arc<Record>) {
        let Some(member) = self.members.get_mut(slot as usize) else { return };
        if member.as_ref().is_some_and(|m| Arc::ptr_eq(m, record)) {
            *member = None;
            self.len -= 1;
            self.free.push(slot);
            self.refresh(slot);
        }
    }

    /// Doubles the leaves and rebuilds the tree from the members' current keys.
    fn grow(&mut self) {
        let leaves = self.leaves() * 2;
        let mut nodes: Box<[AtomicU64]> = (0..2 * leaves).map(|_| AtomicU64::new(EMPTY)).collect();
        for (slot, member) in self.members.iter().enumerate() {
            if let Some(record) = member {
                *nodes[leaves + slot].get_mut() = record.state().routing_key(slot as u32);
            }
        }
        for i in (1..leaves).rev() {
            let key = nodes[2 * i].load(Ordering::Relaxed).min(nodes[2 * i + 1].load(Ordering::Relaxed));
            nodes[i].store(key, Ordering::Relaxed);
        }
        self.nodes = nodes;
    }

    /// Recomputes the leaf of `slot` from its member's current state, then its ancestors.
    /// Called after every change of a member's state; because it reads the state after taking
    /// the writer lock, the last refresh always writes the latest state.
    pub(crate) fn refresh(&self, slot: u32) {
        let _writer = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let key = match self.members.get(slot as usize) {
            Some(Some(record)) => record.state().routing_key(slot),
            _ => EMPTY,
        };
        let mut i = self.leaves() + slot as usize;
        if self.nodes[i].load(Ordering::Relaxed) == key {
            return;
        }
        self.nodes[i].store(key, Ordering::Release);
        while i > 1 {
            let parent = i / 2;
            let sibling = i ^ 1;
            let min = self.nodes[i].load(Ordering::Relaxed).min(self.nodes[sibling].load(Ordering::Relaxed));
            // Writers are serialized, so every node above an unchanged one is already right.
            if self.nodes[parent].load(Ordering::Relaxed) == min {
                return;
            }
            self.nodes[parent].store(min, Ordering::Release);
            i = parent;
        }
    }

    /// The member the root names, with the key the root holds for it. O(1).
    pub(crate) fn best(&self) -> Option<&Arc<Record>> {
        let key = self.nodes[1].load(Ordering::Acquire);
        if key == EMPTY {
            return None;
        }
        self.members.get(key as u32 as usize)?.as_ref()
    }

    /// Up to `k` members that take work, best first, by a best-first walk of the tree:
    /// O(k log k) node visits plus O(log n) to reach the first leaf.
    pub(crate) fn top(&self, k: usize) -> Vec<Arc<Record>> {
        let mut out = Vec::with_capacity(k.min(self.len));
        let leaves = self.leaves();
        let mut heap = BinaryHeap::new();
        let root = self.nodes[1].load(Ordering::Acquire);
        if root != EMPTY && k > 0 {
            heap.push(Reverse((root, 1usize)));
        }
        while let Some(Reverse((_, node))) = heap.pop() {
            if node >= leaves {
                if let Some(Some(record)) = self.members.get(node - leaves) {
                    out.push(record.clone());
                    if out.len() == k {
                        break;
                    }
                }
                continue;
            }
            for child in [2 * node, 2 * node + 1] {
                let key = self.nodes[child].load(Ordering::Acquire);
                if key != EMPTY {
                    heap.push(Reverse((key, child)));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::state::State;
    use crate::registry::{AgentStatus, Capabilities};

    fn record(id: &str, status: AgentStatus, load: u32, max: u32) -> Arc<Record> {
        Arc::new(Record::new(id.into(), "T".into(), Capabilities::new(), State::new(status, load, max), None, 0))
    }

    fn ids(records: &[Arc<Record>]) -> Vec<&str> {
        records.iter().map(|r| r.id.as_str()).collect()
    }

    #[test]
    fn the_root_names_the_least_loaded_available_member_through_growth_and_removal() {
        let mut index = CapabilityIndex::new();
        let mut all = Vec::new();
        for n in 0..37u32 {
            let r = record(&format!("a{n}"), AgentStatus::Available, 37 - n, 64);
            index.insert(r.clone());
            all.push(r);
        }
        assert_eq!(index.best().map(|r| r.id.as_str()), Some("a36"));
        index.remove(36, &all[36]);
        assert_eq!(index.best().map(|r| r.id.as_str()), Some("a35"));
        let _ = all[3].update(|s| Some(s.with_load(0)));
        index.refresh(3);
        assert_eq!(index.best().map(|r| r.id.as_str()), Some("a3"));
        assert_eq!(index.len(), 36);
    }

    #[test]
    fn top_walks_available_then_busy_in_key_order_and_skips_the_rest() {
        let mut index = CapabilityIndex::new();
        for (id, status, load) in [
            ("busy", AgentStatus::Busy, 1),
            ("half", AgentStatus::Available, 2),
            ("failed", AgentStatus::Failed, 0),
            ("idle", AgentStatus::Available, 0),
            ("draining", AgentStatus::Draining, 0),
        ] {
            index.insert(record(id, status, load, 4));
        }
        assert_eq!(ids(&index.top(10)), ["idle", "half", "busy"]);
        assert_eq!(ids(&index.top(2)), ["idle", "half"]);
        assert!(index.top(0).is_empty());
    }
}
