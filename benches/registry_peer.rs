//! The peer for the registry benchmarks: the registry most people would write first, a
//! `std::sync::RwLock` around a `HashMap` of entries plus a map from capability to ids, doing
//! the same work as `AgentRegistry`: entries that carry their type and capabilities, lookups
//! that answer the least-loaded `Available` agent first, then `Busy` ones, as an owned entry
//! (shared pointers, like `AgentEntry`), and load updates that move an agent between the two.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Available,
    Busy,
}

struct Entry {
    agent_type: Arc<str>,
    capabilities: Arc<[Arc<str>]>,
    status: Status,
    load: u32,
    max: u32,
}

#[derive(Default)]
struct Tables {
    agents: HashMap<Arc<str>, Entry>,
    by_capability: HashMap<Arc<str>, Vec<Arc<str>>>,
}

/// What a lookup answers: id, type, capabilities, load and max concurrency (owned, as
/// `AgentEntry` is).
pub(crate) type Found = (Arc<str>, Arc<str>, Arc<[Arc<str>]>, u32, u32);

#[derive(Default)]
pub(crate) struct RwLockRegistry {
    tables: RwLock<Tables>,
}

impl RwLockRegistry {
    pub(crate) fn register(&self, id: &str, agent_type: &str, capabilities: &[&str], max: u32) {
        let mut tables = self.tables.write().expect("not poisoned");
        let id: Arc<str> = Arc::from(id);
        let capabilities: Arc<[Arc<str>]> = capabilities.iter().map(|c| Arc::from(*c)).collect();
        for capability in capabilities.iter() {
            tables.by_capability.entry(capability.clone()).or_default().push(id.clone());
        }
        let entry = Entry { agent_type: Arc::from(agent_type), capabilities, status: Status::Available, load: 0, max };
        tables.agents.insert(id, entry);
    }

    /// The least-loaded agent that takes work: a scan of the capability's agents.
    pub(crate) fn best(&self, capability: &str) -> Option<Found> {
        let tables = self.tables.read().expect("not poisoned");
        let ids = tables.by_capability.get(capability)?;
        let mut best: Option<(&Arc<str>, &Entry)> = None;
        for id in ids {
            let Some(entry) = tables.agents.get(id) else { continue };
            // Compare (rank, load / max) without division: a/b < c/d ⇔ a·d < c·b.
            let better = match best {
                None => true,
                Some((_, b)) => {
                    let rank = |e: &Entry| e.status != Status::Available;
                    (rank(entry), u64::from(entry.load) * u64::from(b.max))
                        < (rank(b), u64::from(b.load) * u64::from(entry.max))
                }
            };
            if better {
                best = Some((id, entry));
            }
        }
        best.map(|(id, e)| (id.clone(), e.agent_type.clone(), e.capabilities.clone(), e.load, e.max))
    }

    pub(crate) fn set_load(&self, id: &str, load: u32) {
        let mut tables = self.tables.write().expect("not poisoned");
        if let Some(entry) = tables.agents.get_mut(id) {
            entry.load = load;
            entry.status = if load >= entry.max { Status::Busy } else { Status::Available };
        }
    }
}
