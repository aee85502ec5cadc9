//! [`AgentRef`]: the stable, typed handle to an agent, and the [`Call`] builder.

use std::fmt;
use std::future::{Future, IntoFuture};
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

use super::Agent;
use super::envelope::{Envelope, Meta};
use super::error::{AskError, TellError};
use super::mailbox::{Mailbox, ReserveError};
use super::reply::Reply;

/// How long an `ask` waits when no deadline is given.
pub const DEFAULT_ASK_TIMEOUT: Duration = Duration::from_secs(5);

/// A handle to an agent. Cheap to clone; stays valid across restarts of the agent, because it
/// points at the agent's mailbox, which outlives every incarnation.
///
/// ```
/// use ractor_agents::prelude::*;
///
/// struct Echo;
/// impl Agent for Echo {
///     type Msg = (String, Reply<String>);
///     async fn handle(&mut self, _ctx: &Ctx<Self>, (text, reply): Self::Msg) -> Result<(), AgentFailure> {
///         reply.send(text);
///         Ok(())
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let echo: AgentRef<Echo> = ractor_agents::spawn("echo", Echo).await?;
/// let answer = echo.call(|reply| ("hi".to_string(), reply)).deadline(std::time::Duration::from_secs(1)).await?;
/// assert_eq!(answer, "hi");
/// # Ok(()) }
/// ```
pub struct AgentRef<A: Agent> {
    pub(crate) mailbox: Arc<Mailbox<A::Msg>>,
}

impl<A: Agent> Clone for AgentRef<A> {
    fn clone(&self) -> Self {
        Self { mailbox: self.mailbox.clone() }
    }
}

impl<A: Agent> fmt::Debug for AgentRef<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AgentRef").field("name", &self.name()).finish()
    }
}

impl<A: Agent> AgentRef<A> {
    pub(crate) fn from_mailbox(mailbox: Arc<Mailbox<A::Msg>>) -> Self {
        Self { mailbox }
    }

    /// The agent's name.
    pub fn name(&self) -> &str {
        &self.mailbox.name
    }

    /// The mailbox capacity.
    pub fn capacity(&self) -> usize {
        self.mailbox.capacity()
    }

    /// Messages waiting in the mailbox now.
    pub fn queued(&self) -> usize {
        self.mailbox.len()
    }

    /// `true` once the agent has stopped for good; every send then fails with `Unavailable`.
    pub fn is_closed(&self) -> bool {
        self.mailbox.is_closed()
    }

    /// `true` if both handles point at the same agent.
    pub fn same_agent(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.mailbox, &other.mailbox)
    }

    /// Sends without waiting: `MailboxFull` at once if there is no room.
    pub fn try_tell(&self, msg: A::Msg) -> Result<(), TellError<A::Msg>> {
        if self.mailbox.is_closed() {
            return Err(self.unavailable(msg));
        }
        if !self.mailbox.try_reserve() {
            self.mailbox.metrics.mailbox_full.increment(1);
            return Err(TellError::MailboxFull {
                agent: self.mailbox.name.clone(),
                capacity: self.mailbox.capacity(),
                message: msg,
            });
        }
        self.push(msg)
    }

    /// Sends, waiting for room when the mailbox is full (backpressure).
    pub async fn tell(&self, msg: A::Msg) -> Result<(), TellError<A::Msg>> {
        match self.mailbox.reserve(None).await {
            Ok(()) => self.push(msg),
            Err(_) => Err(self.unavailable(msg)),
        }
    }

    /// Builds a request from a message constructor that receives the [`Reply`]: await it to
    /// `ask` (with [`Call::deadline`]), or fire it with [`Call::tell`] / [`Call::try_tell`].
    pub fn call<R, F>(&self, make: F) -> Call<'_, A, R, F>
    where
        F: FnOnce(Reply<R>) -> A::Msg,
    {
        Call { agent: self, make, timeout: None, _reply: PhantomData }
    }

    /// Asks the current incarnation to stop gracefully (after the message it is handling) and
    /// waits until it has. A supervised agent is then restarted or not according to its
    /// restart type, as for any normal exit; an unsupervised one closes its mailbox.
    pub async fn stop(&self) {
        self.mailbox.request_stop();
        if let Some(executor) = self.mailbox.current_executor() {
            let _ = executor.stop_and_wait(None, None).await;
        }
    }

    /// Pushes a tell (no deadline) into a reserved slot.
    fn push(&self, msg: A::Msg) -> Result<(), TellError<A::Msg>> {
        let env = Envelope { msg, meta: Meta::outgoing(None) };
        self.mailbox.push(env).map_err(|env| self.unavailable(env.msg))
    }

    fn unavailable(&self, msg: A::Msg) -> TellError<A::Msg> {
        TellError::Unavailable { agent: self.mailbox.name.clone(), message: msg }
    }

    async fn ask<R, F>(&self, make: F, timeout: Duration) -> Result<R, AskError>
    where
        F: FnOnce(Reply<R>) -> A::Msg,
    {
        let deadline = Instant::now() + timeout;
        let exceeded = || AskError::DeadlineExceeded { agent: self.mailbox.name.clone(), deadline: timeout };
        let unavailable = || AskError::Unavailable { agent: self.mailbox.name.clone() };
        let (reply, rx) = Reply::channel();
        let msg = make(reply);
        match self.mailbox.reserve(Some(deadline)).await {
            Ok(()) => {}
            Err(ReserveError::Closed) => return Err(unavailable()),
            Err(ReserveError::DeadlineExceeded) => return Err(exceeded()),
        }
        let closures = self.mailbox.closures();
        if self.mailbox.push(Envelope { msg, meta: Meta::outgoing(Some(deadline)) }).is_err() {
            return Err(unavailable());
        }
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(_dropped)) if self.mailbox.is_closed() || self.mailbox.closures() != closures => Err(unavailable()),
            Ok(Err(_dropped)) if Instant::now() >= deadline => Err(exceeded()),
            Ok(Err(_dropped)) => Err(AskError::NoReply { agent: self.mailbox.name.clone() }),
            Err(_elapsed) => Err(exceeded()),
        }
    }
}

/// A typed handle to an agent: [`AgentRef`] itself, or the `XRef` the `#[agent]` macro
/// generates. [`SupervisorRef::get`](crate::supervisor::SupervisorRef::get) returns any of them.
pub trait TypedRef: Clone + Send + Sync + 'static {
    /// The agent type behind the handle.
    type Agent: Agent;
    /// Wraps a raw handle.
    fn from_agent_ref(agent: AgentRef<Self::Agent>) -> Self;
    /// The raw handle.
    fn agent_ref(&self) -> &AgentRef<Self::Agent>;
}

impl<A: Agent> TypedRef for AgentRef<A> {
    type Agent = A;
    fn from_agent_ref(agent: AgentRef<A>) -> Self {
        agent
    }
    fn agent_ref(&self) -> &AgentRef<A> {
        self
    }
}

/// A request to an agent, not yet sent. Await it to `ask`; or call [`Call::tell`] /
/// [`Call::try_tell`] to send it without waiting for the answer.
#[must_use = "a Call does nothing until it is awaited or told"]
pub struct Call<'a, A: Agent, R, F> {
    agent: &'a AgentRef<A>,
    make: F,
    timeout: Option<Duration>,
    _reply: PhantomData<fn() -> R>,
}

impl<'a, A: Agent, R, F> Call<'a, A, R, F>
where
    F: FnOnce(Reply<R>) -> A::Msg,
{
    /// How long the `ask` may take in all: waiting for room, in the queue, and in the handler.
    /// Defaults to [`DEFAULT_ASK_TIMEOUT`].
    pub fn deadline(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sends without waiting for the answer, waiting for room if the mailbox is full.
    pub async fn tell(self) -> Result<(), TellError<A::Msg>> {
        self.agent.tell((self.make)(Reply::detached())).await
    }

    /// Sends without waiting at all: `MailboxFull` at once if there is no room.
    pub fn try_tell(self) -> Result<(), TellError<A::Msg>> {
        self.agent.try_tell((self.make)(Reply::detached()))
    }
}

impl<'a, A: Agent, R, F> IntoFuture for Call<'a, A, R, F>
where
    F: FnOnce(Reply<R>) -> A::Msg + Send + 'a,
    R: Send + 'a,
{
    type Output = Result<R, AskError>;
    type IntoFuture = Pin<Box<dyn Future<Output = Self::Output> + Send + 'a>>;

    fn into_future(self) -> Self::IntoFuture {
        let timeout = self.timeout.unwrap_or(DEFAULT_ASK_TIMEOUT);
        Box::pin(self.agent.ask(self.make, timeout))
    }
}
