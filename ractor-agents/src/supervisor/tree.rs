//! [`Supervisor`] (the specification of a supervision tree) and [`SupervisorRef`] (its handle).

use std::any::{Any, type_name};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use ractor::{ActorCell, ActorRef};
use tokio::sync::{oneshot, watch};

use super::actor::{SupervisorMsg, spawn_supervisor};
use super::error::{LookupError, StartError, SupervisorError, SupervisorExit};
use super::spec::ChildRuntime;
use super::{Backoff, ChildKind, ChildSpec, RestartIntensity, Strategy};
use crate::agent::{Agent, AgentRef, TypedRef};

/// State shared by a supervisor's specification, every handle to it and every incarnation.
pub(crate) struct Shared {
    pub(crate) name: Arc<str>,
    /// Children by id, for handle lookups that need no message to the actor.
    /// Only the runtime is kept (what a handle comes from), not the whole spec: a dynamic
    /// supervisor may list 100,000 children.
    pub(crate) directory: RwLock<HashMap<Arc<str>, Arc<dyn ChildRuntime>>>,
    pub(crate) current: Mutex<Option<ActorRef<SupervisorMsg>>>,
    pub(crate) exit: watch::Sender<Option<SupervisorExit>>,
    pub(crate) generation: AtomicU64,
    /// Why the last start failed, so `start` can return the typed error.
    pub(crate) start_error: Mutex<Option<StartError>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Shared {
    pub(crate) fn current(&self) -> Option<ActorRef<SupervisorMsg>> {
        lock(&self.current).clone()
    }

    pub(crate) fn set_current(&self, actor: Option<ActorRef<SupervisorMsg>>) {
        *lock(&self.current) = actor;
    }

    pub(crate) fn set_start_error(&self, err: StartError) {
        *lock(&self.start_error) = Some(err);
    }

    pub(crate) fn take_start_error(&self) -> Option<StartError> {
        lock(&self.start_error).take()
    }

    pub(crate) fn register(&self, spec: &ChildSpec) {
        self.directory.write().unwrap_or_else(|p| p.into_inner()).insert(spec.id.clone(), spec.runtime.clone());
    }

    pub(crate) fn unregister(&self, id: &str) {
        self.directory.write().unwrap_or_else(|p| p.into_inner()).remove(id);
    }

    fn lookup(&self, id: &str) -> Option<Arc<dyn ChildRuntime>> {
        self.directory.read().unwrap_or_else(|p| p.into_inner()).get(id).cloned()
    }
}

/// The specification of a supervisor: its strategy, restart intensity, default backoff and
/// children in start order. [`Supervisor::start`] runs it as a root; [`ChildSpec::supervisor`]
/// nests it under another supervisor.
///
/// ```
/// use ractor_agents::prelude::*;
/// use std::time::Duration;
/// # #[derive(Default)] struct Worker;
/// # impl Agent for Worker { type Msg = (); async fn handle(&mut self, _: &Ctx<Self>, _: ()) -> Result<(), AgentFailure> { Ok(()) } }
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), StartError> {
/// let root = Supervisor::new("root", Strategy::OneForOne)
///     .intensity(5, Duration::from_secs(10))
///     .backoff(Backoff::exponential(Duration::from_millis(10), Duration::from_secs(5)))
///     .child(ChildSpec::agent("a", Worker::default))
///     .child(ChildSpec::supervisor(
///         Supervisor::new("pool", Strategy::OneForAll).child(ChildSpec::agent("b", Worker::default)),
///     ))
///     .start()
///     .await?;
/// let b: AgentRef<Worker> = root.agent("pool/b").expect("b is in the pool");
/// root.stop().await;
/// assert!(b.is_closed());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Supervisor {
    pub(crate) strategy: Strategy,
    pub(crate) intensity: RestartIntensity,
    pub(crate) backoff: Backoff,
    pub(crate) children: Vec<ChildSpec>,
    pub(crate) max_children: Option<usize>,
    pub(crate) dynamic: bool,
    pub(crate) seed: u64,
    pub(crate) duplicate: Option<Arc<str>>,
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervisor")
            .field("name", &self.shared.name)
            .field("strategy", &self.strategy)
            .field("intensity", &self.intensity)
            .field("backoff", &self.backoff)
            .field("children", &self.children)
            .finish()
    }
}

impl Supervisor {
    /// A supervisor with no children, the default intensity (3 restarts in 5 s) and no backoff.
    pub fn new(name: impl Into<Arc<str>>, strategy: Strategy) -> Self {
        let (exit, _) = watch::channel(None);
        Self {
            strategy,
            intensity: RestartIntensity::default(),
            backoff: Backoff::none(),
            children: Vec::new(),
            max_children: None,
            dynamic: false,
            seed: rand::random(),
            duplicate: None,
            shared: Arc::new(Shared {
                name: name.into(),
                directory: RwLock::new(HashMap::new()),
                current: Mutex::new(None),
                exit,
                generation: AtomicU64::new(0),
                start_error: Mutex::new(None),
            }),
        }
    }

    /// The supervisor's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    pub(crate) fn name_arc(&self) -> Arc<str> {
        self.shared.name.clone()
    }

    /// At most `max_restarts` restarts within `period`; one more and the supervisor gives up.
    pub fn intensity(mut self, max_restarts: u32, period: Duration) -> Self {
        self.intensity = RestartIntensity { max_restarts, period };
        self
    }

    /// The backoff for children that do not set their own.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// Seeds the randomness that jitters backoff delays, so a run can be replayed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// At most this many children at once; `start_child` beyond it fails with `MaxChildren`.
    pub fn max_children(mut self, max: usize) -> Self {
        self.max_children = Some(max);
        self
    }

    /// Adds a child; children start in the order they are added and stop in reverse.
    pub fn child(mut self, spec: ChildSpec) -> Self {
        if self.shared.lookup(&spec.id).is_some() {
            self.duplicate.get_or_insert_with(|| spec.id.clone());
        }
        self.shared.register(&spec);
        self.children.push(spec);
        self
    }

    /// A handle to this supervisor; usable before it starts (lookups work at once).
    pub fn handle(&self) -> SupervisorRef {
        SupervisorRef { shared: self.shared.clone() }
    }

    /// Starts the tree as a root (no parent): children start in order before this returns.
    pub async fn start(self) -> Result<SupervisorRef, StartError> {
        spawn_supervisor(self, None).await
    }

    /// Starts the tree under `parent`, which receives its exit.
    pub(crate) async fn start_linked(self, parent: ActorCell) -> Result<SupervisorRef, StartError> {
        spawn_supervisor(self, Some(parent)).await
    }
}

/// What a supervisor reports about one child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChildInfo {
    /// The child's id.
    pub id: Arc<str>,
    /// Agent or supervisor.
    pub kind: ChildKind,
    /// Whether an incarnation is running now.
    pub running: bool,
    /// How many times it was restarted.
    pub restarts: u64,
}

/// A handle to a supervisor. Like an `AgentRef`, it stays valid across restarts.
#[derive(Clone)]
pub struct SupervisorRef {
    pub(crate) shared: Arc<Shared>,
}

impl fmt::Debug for SupervisorRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SupervisorRef").field("name", &self.shared.name).finish()
    }
}

impl SupervisorRef {
    /// The supervisor's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// `true` while an incarnation of the supervisor runs.
    pub fn is_running(&self) -> bool {
        self.shared.current().is_some()
    }

    pub(crate) fn current_cell(&self) -> Option<ActorCell> {
        self.shared.current().map(|a| a.get_cell())
    }

    fn child_handle(&self, path: &str) -> Result<Arc<dyn Any + Send + Sync>, LookupError> {
        let mut here = self.clone();
        let mut parts = path.split('/').peekable();
        while let Some(part) = parts.next() {
            let runtime = here.shared.lookup(part).ok_or_else(|| LookupError::NotFound {
                supervisor: here.shared.name.clone(),
                child: part.to_owned(),
            })?;
            let handle = runtime.handle();
            if parts.peek().is_none() {
                return Ok(handle);
            }
            here = handle
                .downcast_ref::<SupervisorRef>()
                .cloned()
                .ok_or_else(|| LookupError::WrongType { child: part.to_owned(), expected: "supervisor" })?;
        }
        Err(LookupError::NotFound { supervisor: self.shared.name.clone(), child: path.to_owned() })
    }

    /// A typed handle (an `AgentRef<A>` or a macro-generated `XRef`) to the agent at `path`
    /// (`"child"`, or `"sub/child"` through nested supervisors).
    pub fn get<R: TypedRef>(&self, path: &str) -> Result<R, LookupError> {
        self.agent::<R::Agent>(path).map(R::from_agent_ref)
    }

    /// The `AgentRef<A>` of the agent at `path`.
    pub fn agent<A: Agent>(&self, path: &str) -> Result<AgentRef<A>, LookupError> {
        self.child_handle(path)?
            .downcast_ref::<AgentRef<A>>()
            .cloned()
            .ok_or_else(|| LookupError::WrongType { child: path.to_owned(), expected: type_name::<A>() })
    }

    /// The handle of the worker pool at `path` (started with [`ChildSpec::pool`]).
    pub fn pool(&self, path: &str) -> Result<crate::pool::PoolRef, LookupError> {
        self.child_handle(path)?
            .downcast_ref::<crate::pool::PoolRef>()
            .cloned()
            .ok_or_else(|| LookupError::WrongType { child: path.to_owned(), expected: "pool" })
    }

    /// The handle of the nested supervisor at `path`.
    pub fn supervisor(&self, path: &str) -> Result<SupervisorRef, LookupError> {
        self.child_handle(path)?
            .downcast_ref::<SupervisorRef>()
            .cloned()
            .ok_or_else(|| LookupError::WrongType { child: path.to_owned(), expected: "supervisor" })
    }

    async fn request<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> SupervisorMsg) -> Result<T, SupervisorError> {
        let not_running = || SupervisorError::NotRunning { supervisor: self.shared.name.clone() };
        let actor = self.shared.current().ok_or_else(not_running)?;
        let (tx, rx) = oneshot::channel();
        actor.cast(make(tx)).map_err(|_| not_running())?;
        rx.await.map_err(|_| not_running())
    }

    /// Starts a new child (appended, so it stops first). Fails if the id is taken or
    /// `max_children` children run already.
    pub async fn start_child(&self, spec: ChildSpec) -> Result<(), SupervisorError> {
        self.request(|reply| SupervisorMsg::StartChild(spec, reply)).await?
    }

    /// Starts a new agent child and returns its handle.
    pub async fn start_agent<A, F>(&self, id: impl Into<Arc<str>>, factory: F) -> Result<AgentRef<A>, SupervisorError>
    where
        A: Agent,
        F: Fn() -> A + Send + Sync + 'static,
    {
        let (spec, handle) = ChildSpec::agent_with_ref(id, factory);
        self.start_child(spec).await?;
        Ok(handle)
    }

    /// Stops a child by its shutdown policy and removes it; it is not restarted.
    pub async fn terminate_child(&self, id: &str) -> Result<(), SupervisorError> {
        let id = id.to_owned();
        self.request(|reply| SupervisorMsg::TerminateChild(id, reply)).await?
    }

    /// The children, in start order.
    pub async fn children(&self) -> Result<Vec<ChildInfo>, SupervisorError> {
        self.request(SupervisorMsg::Children).await
    }

    /// Stops the supervisor: its children stop in reverse start order, each by its shutdown
    /// policy (their `on_stop` runs), then the supervisor. Returns when all have stopped.
    pub async fn stop(&self) {
        if let Some(actor) = self.shared.current() {
            let _ = actor.stop_and_wait(None, None).await;
        }
        self.wait().await;
    }

    /// Waits until the running incarnation ends, and says how.
    pub async fn wait(&self) -> SupervisorExit {
        let mut rx = self.shared.exit.subscribe();
        match rx.wait_for(Option::is_some).await {
            Ok(exit) => exit.clone().unwrap_or(SupervisorExit::Killed),
            Err(_) => SupervisorExit::Killed,
        }
    }
}
