//! The agent registry: which agents exist, what they can do, whether they take work and how
//! loaded they are, so that work can be routed to the least-loaded capable agent.
//!
//! An [`AgentRegistry`] holds one entry per agent: its id, type, [`Capabilities`] (free-form
//! tags, tools, intents), [`AgentStatus`], load and max concurrency, and optionally a
//! heartbeat timeout. Lookups by capability answer the agents that take work, **`Available`
//! ones first by lowest `load / max_concurrency`, then `Busy` ones**; never `Draining`,
//! `Unavailable` or `Failed` ones. Every change is an event for [`AgentRegistry::watch`].
//!
//! # Registering by hand
//!
//! ```
//! use ractor_agents::registry::{AgentRegistry, AgentStatus, Capabilities, Capability, Registration};
//!
//! let registry = AgentRegistry::new();
//! let caps = || Capabilities::new().tag("summarize").tool("web_search");
//! let a = registry.register(Registration::new("a", "Summarizer").capabilities(caps()).max_concurrency(4))?;
//! let b = registry.register(Registration::new("b", "Summarizer").capabilities(caps()).max_concurrency(2))?;
//!
//! a.set_load(1)?; // 1/4
//! b.set_load(1)?; // 1/2
//! assert_eq!(registry.best("summarize").map(|e| e.id.to_string()), Some("a".into()));
//!
//! a.set_load(4)?; // 4/4: Busy, after every Available agent
//! let order: Vec<_> = registry.find(Capability::tool("web_search")).into_iter().map(|e| e.id.to_string()).collect();
//! assert_eq!(order, ["b", "a"]);
//! assert_eq!(registry.get("a").map(|e| e.status), Some(AgentStatus::Busy));
//!
//! registry.set_status("b", AgentStatus::Draining)?; // takes no new work
//! assert_eq!(registry.best("summarize").map(|e| e.id.to_string()), Some("a".into()));
//! registry.unregister("a")?;
//! assert!(registry.best("summarize").is_none());
//! # Ok::<(), ractor_agents::registry::RegistryError>(())
//! ```
//!
//! # Agents under a supervisor register themselves
//!
//! Give a [`Supervisor`](crate::supervisor::Supervisor) (or `DynamicSupervisor`) a registry and
//! each of its agents, and those of the supervisors nested in it, registers under its
//! supervision path (`"root/pool/worker-3"`) with the capabilities its type declares
//! (`#[agent(capabilities = [..], tools = [..], intents = [..])]`, or
//! [`Agent::capabilities`](crate::agent::Agent::capabilities)), and its status follows its
//! life. An agent reports its load from a handler through
//! [`Ctx::registration`](crate::agent::Ctx::registration).
//!
//! | what happens to the agent | its entry |
//! |---|---|
//! | its incarnation starts (first start or restart) | `Available` (or `Busy` by load); registered at the first start |
//! | a graceful stop is requested (supervisor shutdown, `AgentRef::stop`, `Ctx::stop`) | `Draining` |
//! | it stops gracefully | `Unavailable` |
//! | it panics, returns a fatal error or fails to start | `Failed`, at once (before its supervisor hears of it) |
//! | it is killed (`Shutdown::Brutal`, a stop timeout, its tree killed) | `Unavailable` |
//! | its supervisor removes it (`terminate_child`; a dynamic or temporary child that ended) | unregistered |
//! | its supervisor stops or gives up | stopped as above, then unregistered |
//!
//! Why unregistered, not `Unavailable`, when the supervisor lets go: an entry lives exactly as
//! long as the agent is a child of a running supervisor. A removed child can never come back
//! under its id, and a stopped supervisor's children do not exist until it is started again
//! (they then register anew), so keeping their entries would grow the registry forever with a
//! dynamic pool that scales up and down. A child that exits and stays in its supervisor's
//! table (a transient one that exited normally) stays registered as `Unavailable`. The one case
//! a registry cannot clean up is a supervisor *killed* (not stopped): its agents are killed with
//! it and stay registered as `Unavailable`, since no one is left to unregister them.
//!
//! ```
//! use ractor_agents::prelude::*;
//!
//! #[derive(Default)]
//! struct Summarizer;
//!
//! #[agent(capabilities = ["summarize"], tools = ["web_search"])]
//! impl Summarizer {
//!     async fn summarize(&mut self, text: String) -> String { text.chars().take(10).collect() }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let registry = AgentRegistry::new();
//! let root = Supervisor::new("root", Strategy::OneForOne)
//!     .registry(registry.clone())
//!     .child(ChildSpec::supervisor(
//!         Supervisor::new("pool", Strategy::OneForOne).child(ChildSpec::agent("worker-1", Summarizer::default)),
//!     ))
//!     .start()
//!     .await?;
//! let best = registry.best("summarize").expect("one summarizer runs");
//! assert_eq!(best.id.as_str(), "root/pool/worker-1");
//! assert_eq!(&*best.agent_type, "Summarizer");
//! root.stop().await;
//! assert!(registry.is_empty());
//! # Ok(()) }
//! ```
//!
//! # Heartbeats
//!
//! An agent registered with [`Registration::heartbeat_timeout`] must call `heartbeat` at least
//! that often; otherwise the registry's timer (a Tokio task it owns, ending when it is dropped)
//! marks it `Unavailable` with a [`RegistryEvent::HeartbeatMissed`], and its next heartbeat
//! brings it back. The timer runs on tokio's clock, so `tokio::time::pause` makes tests exact.
//!
//! # Cost, and why it is built this way
//!
//! Lookups take no lock that an update takes. Status, load and max concurrency of an agent
//! share one atomic word (so a lookup never sees a torn entry) and each capability keeps a
//! tournament tree of atomics over its agents' routing keys:
//!
//! | operation | cost (n agents with the capability) |
//! |---|---|
//! | [`best`](AgentRegistry::best) | O(1): one hash lookup and the root of the tree |
//! | [`top`](AgentRegistry::top)`(k)` / [`find`](AgentRegistry::find) | O(log n + k log k) / O(n log n) |
//! | [`get`](AgentRegistry::get) | O(1) |
//! | load / status update | one CAS, then O(log n) per capability of the agent (usually fewer: the walk stops at the first unchanged node) |
//! | heartbeat | one atomic store |
//! | register / unregister | O(log n) per capability, serialized with each other |
//!
//! `BENCHMARKS.md` ("Registry") has the measured figures, beside a `RwLock<HashMap>` registry.
//!
//! # Metrics
//!
//! `ractor_agents_registry_agents{registry, status}` (gauge: agents by status) and
//! `ractor_agents_registry_heartbeat_expiries_total{registry, agent_type}` (counter); see
//! `docs/observability/metrics.md`.

mod agent_registry;
mod capability;
mod entry;
mod error;
mod event;
mod heartbeat;
mod index;
mod registered;
mod shared;
mod state;
mod supervised;
mod updates;

pub use agent_registry::{AgentRegistry, DEFAULT_EVENT_CAPACITY, RegistryBuilder};
pub use capability::{Capabilities, Capability, CapabilityKind};
pub use entry::{AgentEntry, AgentId, AgentStatus, Registration};
pub use error::RegistryError;
pub use event::{RegistryEvent, RegistryWatch, StatusReason, WatchError};
pub use heartbeat::DEFAULT_HEARTBEAT_CHECK;
pub use registered::RegisteredAgent;
pub use state::MAX_CONCURRENCY;
pub(crate) use supervised::{Lineage, Placement};
