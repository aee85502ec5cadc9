//! [`Ctx`]: what a handler knows about the agent it runs in.

use std::sync::Mutex;

use super::envelope::{TraceContext, current_trace};
use super::{Agent, AgentRef};
use crate::supervisor::{StartError, Supervisor, SupervisorRef};

/// The context handed to every handler and lifecycle hook: the agent's own handle, its name,
/// which incarnation this is, and a way to start supervised children tied to this incarnation.
pub struct Ctx<A: Agent> {
    myself: AgentRef<A>,
    cell: ractor::ActorCell,
    incarnation: u64,
    children: Mutex<Vec<SupervisorRef>>,
}

impl<A: Agent> Ctx<A> {
    pub(crate) fn new(myself: AgentRef<A>, cell: ractor::ActorCell, incarnation: u64) -> Self {
        Self { myself, cell, incarnation, children: Mutex::new(Vec::new()) }
    }

    /// This agent's own handle (stable across restarts).
    pub fn myself(&self) -> &AgentRef<A> {
        &self.myself
    }

    /// This agent's name.
    pub fn name(&self) -> &str {
        self.myself.name()
    }

    /// 1 for the first start, incremented by every restart.
    pub fn incarnation(&self) -> u64 {
        self.incarnation
    }

    /// This agent's entry in its supervisor's registry, if the supervisor has one: report
    /// load or heartbeats through it (`ctx.registration().map(|r| r.adjust_load(1))`).
    pub fn registration(&self) -> Option<crate::registry::RegisteredAgent> {
        self.myself.mailbox.registration()
    }

    /// The trace context of the message being handled (`None` outside a handler).
    pub fn trace(&self) -> Option<TraceContext> {
        current_trace()
    }

    /// Stops this incarnation gracefully after the current message: a *normal* exit, which
    /// its supervisor handles by the child's restart type (a permanent child is restarted, a
    /// transient or temporary one is not). Does not wait (it cannot: the caller is the agent).
    pub fn stop(&self) {
        self.myself.mailbox.request_stop();
        self.cell.stop(None);
    }

    /// Counts a handler error that was answered to the caller without stopping the agent.
    /// The `#[agent]` macro calls this for every `Err` a handler returns.
    pub fn record_handler_error(&self, handler: &'static str, error: &dyn std::fmt::Display) {
        self.myself.mailbox.metrics.handler_errors.increment(1);
        tracing::debug!(agent = %self.name(), handler, %error, "handler returned an error");
    }

    /// Starts a supervision tree as a child of this incarnation. It is stopped (gracefully, in
    /// reverse start order, after `on_stop`) when this incarnation stops; if it fails (its
    /// restart intensity is exceeded) this agent fails too and its own supervisor decides.
    pub async fn start_supervisor(&self, supervisor: Supervisor) -> Result<SupervisorRef, StartError> {
        // A registered agent's subtree continues its path and registry ("root/a/sub/...").
        let lineage = self.registration().and_then(|registered| registered.lineage());
        let child = supervisor.start_linked(self.cell.clone(), lineage).await?;
        self.children.lock().unwrap_or_else(|p| p.into_inner()).push(child.clone());
        Ok(child)
    }

    /// Stops the children started with [`Ctx::start_supervisor`], newest first.
    pub(crate) async fn stop_children(&self) {
        let children = std::mem::take(&mut *self.children.lock().unwrap_or_else(|p| p.into_inner()));
        for child in children.into_iter().rev() {
            child.stop().await;
        }
    }
}
