//! Supervision trees with OTP's semantics, plus backoff.
//!
//! A [`Supervisor`] starts its children in order, watches them, and when one exits decides by
//! the child's [`Restart`] type whether to restart, and by its [`Strategy`] which siblings
//! restart with it. If restarts come faster than its [`RestartIntensity`] allows, it stops all
//! its children (in reverse start order) and fails; its parent then treats that like any child
//! failure (escalation). The full statement, with every difference from OTP, is in
//! `docs/supervision.md`; each sentence there has a test in `tests/supervision.rs`.
//!
//! | strategy | a child exits and is to be restarted → who restarts |
//! |---|---|
//! | `OneForOne` | only that child |
//! | `OneForAll` | every child: the others are stopped in reverse order, then all start in order |
//! | `RestForOne` | that child and the ones started after it (stopped in reverse, started in order) |
//!
//! ```text
//! root (OneForOne, 3 restarts / 5 s)
//! ├── summarizer            Permanent, shutdown 5 s
//! └── pool (OneForAll)      a nested supervisor: Permanent, shutdown infinity
//!     ├── fetcher
//!     └── parser
//! ```
//!
//! ```
//! use ractor_agents::prelude::*;
//! use std::time::Duration;
//! # #[derive(Default)] struct Fetcher;
//! # impl Agent for Fetcher { type Msg = (); async fn handle(&mut self, _: &Ctx<Self>, _: ()) -> Result<(), AgentFailure> { Ok(()) } }
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), StartError> {
//! let root = Supervisor::new("root", Strategy::OneForOne)
//!     .intensity(3, Duration::from_secs(5))
//!     .child(ChildSpec::supervisor(
//!         Supervisor::new("pool", Strategy::OneForAll)
//!             .child(ChildSpec::agent("fetcher", Fetcher::default))
//!             .child(ChildSpec::agent("parser", Fetcher::default).restart(Restart::Transient)),
//!     ))
//!     .start()
//!     .await?;
//! root.stop().await; // parser, then fetcher, then pool, each gracefully
//! # Ok(()) }
//! ```
//!
//! # Dynamic supervisors
//!
//! [`DynamicSupervisor`] starts empty and takes children at run time with
//! [`SupervisorRef::start_child`] / [`SupervisorRef::start_agent`], up to `max_children`;
//! [`SupervisorRef::terminate_child`] stops and removes one. Children that end without being
//! restarted are removed.

mod actor;
mod backoff;
mod child_table;
mod children;
mod error;
mod exit;
mod intensity;
mod spec;
mod tree;

use std::sync::Arc;
use std::time::Duration;

pub use backoff::Backoff;
pub use error::{LookupError, StartError, SupervisorError, SupervisorExit};
pub use intensity::RestartIntensity;
pub use spec::{ChildKind, ChildSpec, DEFAULT_SHUTDOWN, Restart, Shutdown};
pub(crate) use spec::{ChildRuntime, StartFuture};
pub use tree::{ChildInfo, Supervisor, SupervisorRef};

/// Which siblings restart together when one child is restarted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Strategy {
    /// Only the child that exited.
    OneForOne,
    /// All children.
    OneForAll,
    /// The child that exited and every child started after it.
    RestForOne,
}

/// A supervisor for many children started at run time (OTP's `simple_one_for_one`, Elixir's
/// `DynamicSupervisor`): strategy one-for-one, children removed once they end for good.
///
/// ```
/// use ractor_agents::prelude::*;
/// # #[derive(Default)] struct Worker;
/// # impl Agent for Worker { type Msg = (); async fn handle(&mut self, _: &Ctx<Self>, _: ()) -> Result<(), AgentFailure> { Ok(()) } }
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = DynamicSupervisor::new("workers").max_children(2).start().await?;
/// let w1: AgentRef<Worker> = pool.start_agent("w1", Worker::default).await?;
/// pool.start_agent("w2", Worker::default).await?;
/// assert!(pool.start_agent("w3", Worker::default).await.is_err()); // max_children
/// pool.terminate_child("w1").await?;
/// assert!(w1.is_closed());
/// pool.stop().await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct DynamicSupervisor {
    inner: Supervisor,
}

impl DynamicSupervisor {
    /// An empty dynamic supervisor.
    pub fn new(name: impl Into<Arc<str>>) -> Self {
        let mut inner = Supervisor::new(name, Strategy::OneForOne);
        inner.dynamic = true;
        Self { inner }
    }

    /// At most this many children at once.
    pub fn max_children(mut self, max: usize) -> Self {
        self.inner = self.inner.max_children(max);
        self
    }

    /// Restart intensity (default 3 restarts in 5 s).
    pub fn intensity(mut self, max_restarts: u32, period: Duration) -> Self {
        self.inner = self.inner.intensity(max_restarts, period);
        self
    }

    /// Default backoff for children.
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.inner = self.inner.backoff(backoff);
        self
    }

    /// Starts it as a root supervisor.
    pub async fn start(self) -> Result<SupervisorRef, StartError> {
        self.inner.start().await
    }

    /// The specification, to nest it with [`ChildSpec::supervisor`].
    pub fn into_supervisor(self) -> Supervisor {
        self.inner
    }
}
