//! Child specifications: what a supervisor starts, how it restarts it and how it stops it.

use std::any::Any;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use ractor::ActorCell;

use super::{Backoff, StartError, Supervisor, SupervisorRef};
use crate::agent::mailbox::Mailbox;
use crate::agent::{Agent, AgentRef, DEFAULT_MAILBOX_CAPACITY, new_mailbox, start_incarnation};

/// When a child that exited is restarted (OTP's restart types).
///
/// | restart type | exits normally | fails (panic, fatal error) | killed |
/// |---|---|---|---|
/// | `Permanent` | restarted | restarted | restarted |
/// | `Transient` | not restarted | restarted | restarted |
/// | `Temporary` | not restarted | not restarted | not restarted |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Restart {
    /// Always restarted.
    Permanent,
    /// Restarted only after an abnormal exit.
    Transient,
    /// Never restarted.
    Temporary,
}

/// How a supervisor stops a child.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shutdown {
    /// Kill at once: the running handler is cancelled and `on_stop` does not run.
    Brutal,
    /// Ask to stop (after the message in hand; `on_stop` runs), kill if still running after this.
    Timeout(Duration),
    /// Ask to stop and wait as long as it takes (the default for supervisors).
    Infinity,
}

/// The default graceful-stop timeout for agents (OTP's default for workers).
pub const DEFAULT_SHUTDOWN: Duration = Duration::from_secs(5);

pub(crate) type StartFuture = Pin<Box<dyn Future<Output = Result<ActorCell, StartError>> + Send>>;

/// The type-erased side of a child: how to start it, stop it and hand out its handle.
pub(crate) trait ChildRuntime: Send + Sync + 'static {
    fn start(&self, supervisor: ActorCell) -> StartFuture;
    /// Tell the running incarnation to stop after the message in hand.
    fn request_stop(&self);
    /// The child will not run again (until started anew): fail what waits for it.
    fn close(&self);
    /// `AgentRef<A>` or `SupervisorRef`.
    fn handle(&self) -> Arc<dyn Any + Send + Sync>;
    fn kind(&self) -> ChildKind;
    /// The same agent child with a new, empty mailbox of `capacity` (`None` for supervisors).
    fn with_mailbox_capacity(&self, capacity: usize) -> Option<Arc<dyn ChildRuntime>>;
}

/// Whether a child is an agent, a supervisor or a worker pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChildKind {
    /// An agent (a worker, in OTP's words).
    Agent,
    /// A nested supervisor.
    Supervisor,
    /// A worker pool ([`ChildSpec::pool`]): a supervisor of workers plus routing and intake.
    Pool,
}

struct AgentChild<A: Agent> {
    factory: Arc<dyn Fn() -> A + Send + Sync>,
    mailbox: Arc<Mailbox<A::Msg>>,
}

impl<A: Agent> ChildRuntime for AgentChild<A> {
    fn start(&self, supervisor: ActorCell) -> StartFuture {
        let factory = self.factory.clone();
        let mailbox = self.mailbox.clone();
        Box::pin(async move {
            let actor = start_incarnation::<A>(mailbox, Box::new(move || factory()), Some(supervisor))
                .await
                .map_err(|err| StartError::ChildStartFailed { child: err.agent().into(), reason: err.to_string() })?;
            Ok(actor.get_cell())
        })
    }

    fn request_stop(&self) {
        self.mailbox.request_stop();
    }

    fn close(&self) {
        self.mailbox.close();
    }

    fn handle(&self) -> Arc<dyn Any + Send + Sync> {
        Arc::new(AgentRef::<A>::from_mailbox(self.mailbox.clone()))
    }

    fn kind(&self) -> ChildKind {
        ChildKind::Agent
    }

    fn with_mailbox_capacity(&self, capacity: usize) -> Option<Arc<dyn ChildRuntime>> {
        let mailbox = new_mailbox::<A>(self.mailbox.name.clone(), capacity);
        Some(Arc::new(AgentChild::<A> { factory: self.factory.clone(), mailbox }))
    }
}

struct SupervisorChild {
    spec: Supervisor,
}

impl ChildRuntime for SupervisorChild {
    fn start(&self, supervisor: ActorCell) -> StartFuture {
        let spec = self.spec.clone();
        Box::pin(async move {
            let started = spec.start_linked(supervisor).await?;
            started.current_cell().ok_or_else(|| StartError::ChildStartFailed {
                child: started.name().into(),
                reason: "supervisor stopped right after starting".into(),
            })
        })
    }

    fn request_stop(&self) {}

    fn close(&self) {}

    fn handle(&self) -> Arc<dyn Any + Send + Sync> {
        Arc::new(self.spec.handle())
    }

    fn kind(&self) -> ChildKind {
        ChildKind::Supervisor
    }

    fn with_mailbox_capacity(&self, _capacity: usize) -> Option<Arc<dyn ChildRuntime>> {
        None
    }
}

/// One child of a supervisor: an agent (built by a factory on every start) or a nested
/// supervisor, with its restart type, shutdown policy and optional backoff.
///
/// ```
/// use ractor_agents::prelude::*;
/// use std::time::Duration;
/// # struct Worker;
/// # impl Agent for Worker { type Msg = (); async fn handle(&mut self, _: &Ctx<Self>, _: ()) -> Result<(), AgentFailure> { Ok(()) } }
/// let spec = ChildSpec::agent("worker", || Worker)
///     .restart(Restart::Transient)
///     .shutdown(Shutdown::Timeout(Duration::from_secs(2)))
///     .mailbox_capacity(256);
/// assert_eq!(spec.id(), "worker");
/// ```
#[derive(Clone)]
pub struct ChildSpec {
    pub(crate) id: Arc<str>,
    pub(crate) restart: Restart,
    pub(crate) shutdown: Shutdown,
    /// Boxed: most children use their supervisor's backoff, and a supervisor may hold 100,000
    /// child specs.
    pub(crate) backoff: Option<Box<Backoff>>,
    pub(crate) runtime: Arc<dyn ChildRuntime>,
}

impl fmt::Debug for ChildSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildSpec")
            .field("id", &self.id)
            .field("kind", &self.runtime.kind())
            .field("restart", &self.restart)
            .field("shutdown", &self.shutdown)
            .field("backoff", &self.backoff)
            .finish()
    }
}

impl ChildSpec {
    /// An agent child: `factory` builds a fresh agent for every (re)start. Its handle, from
    /// [`SupervisorRef::get`] or [`ChildSpec::agent_ref`], stays valid across restarts.
    pub fn agent<A, F>(id: impl Into<Arc<str>>, factory: F) -> Self
    where
        A: Agent,
        F: Fn() -> A + Send + Sync + 'static,
    {
        Self::agent_with_ref(id, factory).0
    }

    /// [`ChildSpec::agent`] and the new child's handle, without a downcast.
    pub(crate) fn agent_with_ref<A, F>(id: impl Into<Arc<str>>, factory: F) -> (Self, AgentRef<A>)
    where
        A: Agent,
        F: Fn() -> A + Send + Sync + 'static,
    {
        let id: Arc<str> = id.into();
        let factory: Arc<dyn Fn() -> A + Send + Sync> = Arc::new(factory);
        let mailbox = new_mailbox::<A>(id.clone(), DEFAULT_MAILBOX_CAPACITY);
        let handle = AgentRef::from_mailbox(mailbox.clone());
        let spec = Self {
            runtime: Arc::new(AgentChild::<A> { factory, mailbox }),
            id,
            restart: Restart::Permanent,
            shutdown: Shutdown::Timeout(DEFAULT_SHUTDOWN),
            backoff: None,
        };
        (spec, handle)
    }

    /// A nested supervisor child (permanent, shut down with [`Shutdown::Infinity`]).
    pub fn supervisor(supervisor: Supervisor) -> Self {
        Self {
            id: supervisor.name_arc(),
            restart: Restart::Permanent,
            shutdown: Shutdown::Infinity,
            backoff: None,
            runtime: Arc::new(SupervisorChild { spec: supervisor }),
        }
    }

    /// The child's id, unique among its siblings.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Sets the restart type (default [`Restart::Permanent`]).
    pub fn restart(mut self, restart: Restart) -> Self {
        self.restart = restart;
        self
    }

    /// Sets the shutdown policy (default: 5 s timeout for agents, infinity for supervisors).
    pub fn shutdown(mut self, shutdown: Shutdown) -> Self {
        self.shutdown = shutdown;
        self
    }

    /// Overrides the supervisor's backoff for this child.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = Some(Box::new(backoff));
        self
    }

    /// Sets an agent's mailbox capacity (default 1024). Call it before taking handles: it
    /// replaces the mailbox. No effect on a supervisor child.
    pub fn mailbox_capacity(mut self, capacity: usize) -> Self {
        if let Some(runtime) = self.runtime.with_mailbox_capacity(capacity) {
            self.runtime = runtime;
        }
        self
    }

    /// Whether this child is an agent or a supervisor.
    pub fn kind(&self) -> ChildKind {
        self.runtime.kind()
    }

    /// The typed handle of an agent child (`None` if the child is not an `A`).
    pub fn agent_ref<A: Agent>(&self) -> Option<AgentRef<A>> {
        self.runtime.handle().downcast_ref::<AgentRef<A>>().cloned()
    }

    /// The handle of a worker pool child.
    pub fn pool_ref(&self) -> Option<crate::pool::PoolRef> {
        self.runtime.handle().downcast_ref::<crate::pool::PoolRef>().cloned()
    }

    /// The handle of a supervisor child.
    pub fn supervisor_ref(&self) -> Option<SupervisorRef> {
        self.runtime.handle().downcast_ref::<SupervisorRef>().cloned()
    }
}
