//! How agents started by a supervisor find their registry and their id.
//!
//! Each running supervisor knows its [`Lineage`]: its path from the root (`"root/pool"`) and
//! the registry its agents register in (its own, else its parent's). An agent child gets a
//! [`Placement`] from it (registry + `"root/pool/worker-3"`), which its executor uses at every
//! start: the first start registers the agent, later starts find the entry the agent's
//! mailbox already holds and mark it up again.

use std::sync::Arc;

use super::{AgentId, AgentRegistry, AgentStatus, RegisteredAgent, Registration, RegistryError};
use crate::agent::Agent;
use crate::agent::mailbox::Mailbox;
use crate::telemetry::metrics::short_type_name;

/// A running supervisor's place in its tree.
#[derive(Clone)]
pub(crate) struct Lineage {
    pub(crate) registry: Option<AgentRegistry>,
    /// `"root"` for a root, `"root/pool"` below it.
    pub(crate) path: Arc<str>,
}

impl Lineage {
    /// The lineage of a supervisor named `name`, below `parent` if it has one; its own
    /// registry wins over the inherited one.
    pub(crate) fn of(name: &str, own: Option<&AgentRegistry>, parent: Option<&Lineage>) -> Self {
        match parent {
            None => Self { registry: own.cloned(), path: Arc::from(name) },
            Some(parent) => Self {
                registry: own.or(parent.registry.as_ref()).cloned(),
                path: Arc::from(format!("{}/{name}", parent.path)),
            },
        }
    }

    /// Where the agent child `child` registers, if this supervisor has a registry.
    pub(crate) fn placement(&self, child: &str) -> Option<Placement> {
        let registry = self.registry.clone()?;
        Some(Placement { registry, id: AgentId::from(format!("{}/{child}", self.path)) })
    }
}

/// Where one supervised agent registers.
#[derive(Clone)]
pub(crate) struct Placement {
    pub(crate) registry: AgentRegistry,
    pub(crate) id: AgentId,
}

impl Placement {
    /// The entry of the agent behind `mailbox`, for its incarnation `incarnation`: the one it
    /// holds if still registered, else a new one, `Unavailable` until the incarnation is up.
    /// Registering before the agent is built makes a duplicate id fail the start at once.
    pub(crate) fn register<A: Agent>(
        &self,
        mailbox: &Mailbox<A::Msg>,
        incarnation: u64,
    ) -> Result<RegisteredAgent, RegistryError> {
        if let Some(registered) = mailbox.registration().filter(RegisteredAgent::is_registered) {
            return Ok(registered);
        }
        let registration = Registration::new(self.id.clone(), short_type_name::<A>())
            .capabilities(A::capabilities())
            .status(AgentStatus::Unavailable);
        let registered = self.registry.register_incarnation(registration, incarnation)?;
        mailbox.set_registration(Some(registered.clone()));
        Ok(registered)
    }
}
