//! # ractor-agents
//!
//! OTP for agents, on [`ractor`]: agents are actor types with typed handles and bounded
//! mailboxes; supervisors restart them by OTP's rules (strategies, restart types, intensity)
//! plus backoff; every message carries trace context, a correlation id and a deadline.
//!
//! * [`agent`](mod@agent): define agents, send them messages (`tell`, `try_tell`, `ask` with a deadline).
//! * [`supervisor`]: supervision trees and dynamic supervisors.
//! * [`pool`]: supervised worker pools that run tasks (routing, bounded intake, autoscaling).
//! * [`registry`]: which agents exist, what they can do and how loaded they are; lookups by
//!   capability, least-loaded first.
//! * [`resilience`]: circuit breaker, retry, timeout, bulkhead, rate limit and fallback policies
//!   (each also a tower layer), stale-cache reads, and graceful degradation.
//! * [`bus`]: the message bus's outbox, which keeps publishing through a bus outage.
//! * [`telemetry`]: the metric catalogue.
//!
//! ```
//! use ractor_agents::prelude::*;
//! use std::time::Duration;
//!
//! #[derive(Default)]
//! struct Greeter { greeted: u64 }
//!
//! #[agent]
//! impl Greeter {
//!     async fn greet(&mut self, name: String) -> String {
//!         self.greeted += 1;
//!         format!("hello, {name} (#{})", self.greeted)
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let root = Supervisor::new("root", Strategy::OneForOne)
//!     .child(ChildSpec::agent("greeter", Greeter::default))
//!     .start()
//!     .await?;
//! let greeter: GreeterRef = root.get("greeter")?;
//! assert_eq!(greeter.greet("ada".into()).deadline(Duration::from_secs(1)).await?, "hello, ada (#1)");
//! root.stop().await;
//! # Ok(()) }
//! ```

// Lets `#[agent]` expansions (which name `::ractor_agents`) compile inside this crate's own tests.
extern crate self as ractor_agents;

pub mod agent;
pub mod bus;
pub mod dispatch;
mod journal;
pub mod llm;
pub mod pool;
pub mod registry;
pub mod resilience;
pub mod supervisor;
pub mod tasks;
pub mod telemetry;

pub use agent::{spawn, spawn_with};
pub use agents_macros::agent;

/// The names most programs need.
pub mod prelude {
    pub use crate::agent::TypedRef;
    pub use crate::agent::{Agent, AgentFailure, AgentOptions, AgentRef, AskError, Ctx, Reply, SpawnError, TellError};
    pub use crate::pool::{Job, JobOutcome, Overflow, PoolRef, PoolSpec, Routing, SubmitError, TaskHandler, TaskInput};
    pub use crate::registry::{
        AgentEntry, AgentId, AgentRegistry, AgentStatus, Capabilities, Capability, RegisteredAgent, Registration,
        RegistryError, RegistryEvent,
    };
    pub use crate::supervisor::{
        Backoff, ChildSpec, DynamicSupervisor, Restart, Shutdown, StartError, Strategy, Supervisor, SupervisorRef,
    };
    pub use agents_macros::agent;
}

#[doc(hidden)]
pub mod agents_macros_support;

/// The README's Rust code blocks, compiled and run as doc tests so the quick start stays true.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// The circuit-breaker guide's snippets, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/guides/circuit-breakers.md")]
pub struct CircuitBreakerGuideDoctests;

/// The LLM-provider guide's snippets, compiled and run as doc tests (one needs the HTTP client).
#[cfg(all(doctest, feature = "llm-http"))]
#[doc = include_str!("../../docs/guides/llm-providers.md")]
pub struct LlmProviderGuideDoctests;

/// The graceful-degradation guide's snippets, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/guides/graceful-degradation.md")]
pub struct GracefulDegradationGuideDoctests;
