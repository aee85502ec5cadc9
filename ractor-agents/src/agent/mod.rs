//! Agents: actor types with typed handles, bounded mailboxes and messages that carry meta.
//!
//! An agent is a plain struct that implements [`Agent`]: a message type and an async
//! `handle`. Usually the `#[agent]` macro writes that impl, a message enum and a typed handle
//! from an `impl` block of async handler methods; everything it generates can also be written
//! by hand, as below.
//!
//! # How an agent runs
//!
//! ```text
//!  AgentRef ──push──▶ Mailbox (bounded, outlives incarnations) ──Wake──▶ executor (ractor actor)
//!     ▲  tell / try_tell / ask                                              │ drains ≤256 per Wake
//!     └───────────────────────── Reply ◀────────────────────────────────────┘
//! ```
//!
//! * **Bounded mailbox.** `try_tell` fails with `MailboxFull` at once; `tell(..).await` waits for
//!   room; an `ask` waits for room, the queue and the handler within its deadline.
//! * **Meta.** Every message travels in an [`Envelope`] with a W3C [`TraceContext`], a
//!   correlation id, an optional deadline and its enqueue instant. The handler runs in a span
//!   named `agent.handle`, child of the sender's span, labelled with the *receiving* agent.
//!   A message dequeued after its deadline is not handled.
//! * **Errors are answers, panics are crashes.** A handler's `Err` goes back to the asker; a
//!   panic (or an [`AgentFailure`] returned by `handle`) kills the incarnation and reaches the
//!   supervisor.
//! * **Handles survive restarts.** The mailbox belongs to the agent, not to the incarnation: a
//!   restarted agent drains the same queue, so messages sent during the restart wait, and asks
//!   queued behind a crashing message are still answered.
//!
//! # Example (by hand, without the macro)
//!
//! ```
//! use ractor_agents::prelude::*;
//!
//! #[derive(Default)]
//! struct Counter { total: u64 }
//!
//! enum CounterMsg {
//!     Add(u64),
//!     Get(Reply<u64>),
//! }
//!
//! impl Agent for Counter {
//!     type Msg = CounterMsg;
//!     async fn handle(&mut self, _ctx: &Ctx<Self>, msg: CounterMsg) -> Result<(), AgentFailure> {
//!         match msg {
//!             CounterMsg::Add(n) => self.total += n,
//!             CounterMsg::Get(reply) => { reply.send(self.total); }
//!         }
//!         Ok(())
//!     }
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let counter = ractor_agents::spawn("counter", Counter::default()).await?;
//! counter.tell(CounterMsg::Add(2)).await?;
//! counter.try_tell(CounterMsg::Add(3))?;
//! let total = counter.call(CounterMsg::Get).deadline(std::time::Duration::from_secs(1)).await?;
//! assert_eq!(total, 5);
//! # Ok(()) }
//! ```

mod context;
pub(crate) mod envelope;
mod error;
pub(crate) mod executor;
mod handle;
pub(crate) mod mailbox;
mod reply;
#[cfg(test)]
mod wake_stress;

use std::future::Future;
use std::sync::Arc;

pub use context::Ctx;
pub use envelope::{Envelope, Meta, TraceContext, TraceParseError, current_trace, in_trace};
pub use error::{AgentFailure, AskError, SpawnError, TellError};
pub use handle::{AgentRef, Call, DEFAULT_ASK_TIMEOUT, TypedRef};
pub use reply::Reply;

use executor::{AgentFactory, Executor, ExecutorArgs};
use mailbox::{Mailbox, Wake};

/// Mailbox capacity when none is configured.
pub const DEFAULT_MAILBOX_CAPACITY: usize = 1024;

/// An actor type: a message type and an async handler, plus optional lifecycle hooks.
///
/// `handle` returns `Ok(())` after handling a message, whatever the outcome for the sender
/// (answer errors through the [`Reply`]); it returns `Err(AgentFailure)` only for an error that
/// must kill this incarnation, which its supervisor then sees as a failure.
pub trait Agent: Send + Sized + 'static {
    /// The messages this agent handles.
    type Msg: Send + 'static;

    /// Handles one message.
    fn handle(&mut self, ctx: &Ctx<Self>, msg: Self::Msg) -> impl Future<Output = Result<(), AgentFailure>> + Send;

    /// Runs before the first message of every incarnation. An error fails the start.
    fn on_start(&mut self, ctx: &Ctx<Self>) -> impl Future<Output = Result<(), AgentFailure>> + Send {
        let _ = ctx;
        async { Ok(()) }
    }

    /// Runs when the incarnation stops gracefully (not after a panic or a kill).
    fn on_stop(&mut self, ctx: &Ctx<Self>) -> impl Future<Output = ()> + Send {
        let _ = ctx;
        async {}
    }

    /// The name of a message, used in spans (`message` field). The macro names each variant.
    fn message_name(msg: &Self::Msg) -> &'static str {
        let _ = msg;
        "message"
    }
}

/// Options for starting an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentOptions {
    /// Mailbox capacity in messages (at least 1).
    pub mailbox_capacity: usize,
}

impl Default for AgentOptions {
    fn default() -> Self {
        Self { mailbox_capacity: DEFAULT_MAILBOX_CAPACITY }
    }
}

/// Starts an agent outside any supervision tree. When it stops or crashes it is not restarted:
/// its mailbox closes and later sends fail with `Unavailable`.
pub async fn spawn<A: Agent>(name: impl Into<Arc<str>>, agent: A) -> Result<AgentRef<A>, SpawnError> {
    spawn_with(name, agent, AgentOptions::default()).await
}

/// [`spawn`] with options.
pub async fn spawn_with<A: Agent>(
    name: impl Into<Arc<str>>,
    agent: A,
    options: AgentOptions,
) -> Result<AgentRef<A>, SpawnError> {
    let mailbox = new_mailbox::<A>(name.into(), options.mailbox_capacity);
    mailbox.set_standalone();
    start_incarnation(mailbox.clone(), Box::new(move || agent), None).await?;
    Ok(AgentRef::from_mailbox(mailbox))
}

pub(crate) fn new_mailbox<A: Agent>(name: Arc<str>, capacity: usize) -> Arc<Mailbox<A::Msg>> {
    Arc::new(Mailbox::new(name, capacity, crate::telemetry::metrics::short_type_name::<A>()))
}

/// Starts one incarnation attached to `mailbox`, linked to `supervisor` if given.
pub(crate) async fn start_incarnation<A: Agent>(
    mailbox: Arc<Mailbox<A::Msg>>,
    make: AgentFactory<A>,
    supervisor: Option<ractor::ActorCell>,
) -> Result<ractor::ActorRef<Wake>, SpawnError> {
    mailbox.reopen();
    let name = mailbox.name.clone();
    let args = ExecutorArgs { mailbox, make };
    let spawned = match supervisor {
        Some(sup) => ractor::Actor::spawn_linked(None, Executor::<A>::new(), args, sup).await,
        None => ractor::Actor::spawn(None, Executor::<A>::new(), args).await,
    };
    // The join handle is not kept: the supervisor learns of the exit through its link, and a
    // standalone agent closes its mailbox when its incarnation's state is dropped.
    spawned.map(|(actor, _join)| actor).map_err(|err| SpawnError::StartFailed { agent: name, reason: err.to_string() })
}
