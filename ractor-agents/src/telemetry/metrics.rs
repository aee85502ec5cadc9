//! Metric names (the catalogue) and the per-agent counter handles.
//!
//! Conventions: every name starts with `ractor_agents_`; counters end in `_total`, durations
//! are `_seconds`; labels are low-cardinality (an agent's *type*, a supervisor's and child's
//! *name*, a closed set of reasons) — never a message id or an incarnation number.

use metrics::Counter;

/// Metric names, one constant per metric. See `docs/observability/metrics.md`.
pub mod names {
    /// Counter: messages handled by agents. Labels: `agent_type`.
    pub const AGENT_MESSAGES_HANDLED: &str = "ractor_agents_agent_messages_handled_total";
    /// Counter: handler calls that returned `Err` (answered to the asker, agent kept running).
    /// Labels: `agent_type`.
    pub const AGENT_HANDLER_ERRORS: &str = "ractor_agents_agent_handler_errors_total";
    /// Counter: messages discarded because their deadline had passed when dequeued.
    /// Labels: `agent_type`.
    pub const AGENT_MESSAGES_EXPIRED: &str = "ractor_agents_agent_messages_expired_total";
    /// Counter: `try_tell`s refused because the mailbox was full. Labels: `agent_type`.
    pub const AGENT_MAILBOX_FULL: &str = "ractor_agents_agent_mailbox_full_total";
    /// Counter: queued messages dropped because the agent stopped for good. Labels: `agent_type`.
    pub const AGENT_MESSAGES_DROPPED: &str = "ractor_agents_agent_messages_dropped_total";
    /// Counter: child exits seen by a supervisor. Labels: `supervisor`, `child`, `reason`
    /// (`normal`, `shutdown`, `failed`, `killed`).
    pub const SUPERVISOR_CHILD_EXITS: &str = "ractor_agents_supervisor_child_exits_total";
    /// Counter: child restarts. Labels: `supervisor`, `child`, `reason`.
    pub const SUPERVISOR_RESTARTS: &str = "ractor_agents_supervisor_restarts_total";
    /// Counter: a supervisor exceeded its restart intensity and failed to its parent.
    /// Labels: `supervisor`, `child` (the child whose exit tripped it), `reason`.
    pub const SUPERVISOR_ESCALATIONS: &str = "ractor_agents_supervisor_escalations_total";
    /// Counter: a root supervisor exceeded its restart intensity and shut down (nobody above it
    /// to escalate to). Labels: `supervisor`, `child`, `reason`.
    pub const SUPERVISOR_GIVE_UPS: &str = "ractor_agents_supervisor_give_ups_total";
    /// Counter: children killed because they did not stop within their shutdown timeout.
    /// Labels: `supervisor`, `child`.
    pub const SUPERVISOR_SHUTDOWN_KILLS: &str = "ractor_agents_supervisor_shutdown_kills_total";
    /// Gauge: registered agents by status. Labels: `registry` (the registry's name), `status`
    /// (`available`, `busy`, `draining`, `unavailable`, `failed`).
    pub const REGISTRY_AGENTS: &str = "ractor_agents_registry_agents";
    /// Counter: agents marked unavailable because they missed their heartbeats.
    /// Labels: `registry`, `agent_type`.
    pub const REGISTRY_HEARTBEAT_EXPIRIES: &str = "ractor_agents_registry_heartbeat_expiries_total";
}

/// Counter handles an agent's mailbox resolves once, so the hot path is one atomic add.
pub(crate) struct AgentMetrics {
    pub(crate) handled: Counter,
    pub(crate) handler_errors: Counter,
    pub(crate) expired: Counter,
    pub(crate) mailbox_full: Counter,
    pub(crate) dropped_on_stop: Counter,
}

impl AgentMetrics {
    pub(crate) fn new(agent_type: &'static str) -> Self {
        let labels = [("agent_type", agent_type)];
        Self {
            handled: metrics::counter!(names::AGENT_MESSAGES_HANDLED, &labels),
            handler_errors: metrics::counter!(names::AGENT_HANDLER_ERRORS, &labels),
            expired: metrics::counter!(names::AGENT_MESSAGES_EXPIRED, &labels),
            mailbox_full: metrics::counter!(names::AGENT_MAILBOX_FULL, &labels),
            dropped_on_stop: metrics::counter!(names::AGENT_MESSAGES_DROPPED, &labels),
        }
    }
}

/// The short name of a type (`my_crate::agents::Summarizer` → `Summarizer`), used as the
/// `agent_type` label.
pub(crate) fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}
