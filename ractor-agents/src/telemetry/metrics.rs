//! Metric names (the catalogue) and the per-agent counter handles.
//!
//! Conventions: every name starts with `ractor_agents_`; counters end in `_total`, durations
//! are `_seconds`; labels are low-cardinality (an agent's *type*, a supervisor's and child's
//! *name*, a closed set of reasons) — never a message id or an incarnation number.

use metrics::{Counter, Histogram};

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
    /// Counter: batches a journal wrote, each with one fdatasync (unless its sync mode is off).
    /// Labels: `journal`.
    pub const JOURNAL_SYNCS: &str = "ractor_agents_journal_syncs_total";
    /// Counter: bytes a journal wrote to its segments (frames and batch headers). Labels: `journal`.
    pub const JOURNAL_WRITTEN_BYTES: &str = "ractor_agents_journal_written_bytes_total";
    /// Histogram: records per batch (per fdatasync): the group-commit factor. Labels: `journal`.
    pub const JOURNAL_RECORDS_PER_SYNC: &str = "ractor_agents_journal_records_per_sync";
    /// Histogram: seconds one batch took to write and fdatasync. Labels: `journal`.
    pub const JOURNAL_SYNC_DURATION: &str = "ractor_agents_journal_sync_duration_seconds";
    /// Counter: records read back when a journal was opened. Labels: `journal`.
    pub const JOURNAL_RECOVERED_RECORDS: &str = "ractor_agents_journal_recovered_records_total";
    /// Counter: bytes of a torn or corrupt tail dropped when a journal was opened. Labels: `journal`.
    pub const JOURNAL_TRUNCATED_BYTES: &str = "ractor_agents_journal_truncated_bytes_total";
    /// Counter: snapshots a journal wrote (each followed by deleting the segments it covers).
    /// Labels: `journal`.
    pub const JOURNAL_SNAPSHOTS: &str = "ractor_agents_journal_snapshots_total";
    /// Gauge: registered agents by status. Labels: `registry` (the registry's name), `status`
    /// (`available`, `busy`, `draining`, `unavailable`, `failed`).
    pub const REGISTRY_AGENTS: &str = "ractor_agents_registry_agents";
    /// Counter: agents marked unavailable because they missed their heartbeats.
    /// Labels: `registry`, `agent_type`.
    pub const REGISTRY_HEARTBEAT_EXPIRIES: &str = "ractor_agents_registry_heartbeat_expiries_total";
    /// Gauge: a circuit breaker's state, 1 for the current state and 0 for the others.
    /// Labels: `name` (the breaker's), `state` (`closed`, `open`, `half_open`, `isolated`).
    pub const CIRCUIT_BREAKER_STATE: &str = "ractor_agents_circuit_breaker_state";
    /// Counter: calls through a circuit breaker by outcome. Labels: `name`, `outcome`
    /// (`success`, `failure`, `slow` (a slow success), `rejected`, `ignored`).
    pub const CIRCUIT_BREAKER_CALLS: &str = "ractor_agents_circuit_breaker_calls_total";
    /// Gauge: a degradation controller's level index (0 = normal, higher = more degraded).
    /// Labels: `controller`.
    pub const DEGRADATION_LEVEL: &str = "ractor_agents_degradation_level";
    /// Counter: level changes of a degradation controller. Labels: `controller`, `direction`
    /// (`escalate`, `recover`).
    pub const DEGRADATION_TRANSITIONS: &str = "ractor_agents_degradation_transitions_total";
    /// Counter: reads through a stale cache by answer. Labels: `cache`, `answer` (`fresh`: the
    /// store answered; `stale`: it failed and a cached value within the bound answered; `miss`:
    /// it failed and nothing young enough was cached, so the error went back).
    pub const STALE_CACHE_READS: &str = "ractor_agents_stale_cache_reads_total";
    /// Counter: messages through an outbox by outcome. Labels: `outbox`, `outcome` (`published`:
    /// straight to the bus; `deferred`: kept in the log; `replayed`: published from the log;
    /// `dead_lettered`: refused by the bus for good and set aside).
    pub const OUTBOX_MESSAGES: &str = "ractor_agents_outbox_messages_total";
    /// Gauge: messages in an outbox's log waiting for the bus. Labels: `outbox`.
    pub const OUTBOX_PENDING: &str = "ractor_agents_outbox_pending";
    /// Gauge: messages the bus refused for good, kept in an outbox's log. Labels: `outbox`.
    pub const OUTBOX_DEAD_LETTERS: &str = "ractor_agents_outbox_dead_letters";
}

/// Metric handles of one degradation controller, resolved when it is built.
pub(crate) struct DegradationMetrics {
    pub(crate) level: metrics::Gauge,
    pub(crate) escalations: Counter,
    pub(crate) recoveries: Counter,
}

impl DegradationMetrics {
    pub(crate) fn new(controller: &str) -> Self {
        let transitions = |direction: &'static str| metrics::counter!(names::DEGRADATION_TRANSITIONS, "controller" => controller.to_owned(), "direction" => direction);
        Self {
            level: metrics::gauge!(names::DEGRADATION_LEVEL, "controller" => controller.to_owned()),
            escalations: transitions("escalate"),
            recoveries: transitions("recover"),
        }
    }
}

/// Metric handles of one circuit breaker, resolved when it is built.
pub(crate) struct BreakerMetrics {
    /// One gauge per state, in the order of `CircuitState::ALL`.
    pub(crate) state: [metrics::Gauge; 4],
    pub(crate) success: Counter,
    pub(crate) failure: Counter,
    pub(crate) slow: Counter,
    pub(crate) rejected: Counter,
    pub(crate) ignored: Counter,
}

impl BreakerMetrics {
    pub(crate) fn new(name: &str, states: [&'static str; 4]) -> Self {
        let gauge = |state: &'static str| metrics::gauge!(names::CIRCUIT_BREAKER_STATE, "name" => name.to_owned(), "state" => state);
        let calls = |outcome: &'static str| metrics::counter!(names::CIRCUIT_BREAKER_CALLS, "name" => name.to_owned(), "outcome" => outcome);
        Self {
            state: states.map(gauge),
            success: calls("success"),
            failure: calls("failure"),
            slow: calls("slow"),
            rejected: calls("rejected"),
            ignored: calls("ignored"),
        }
    }
}

/// Metric handles of one outbox, resolved when it opens.
pub(crate) struct OutboxMetrics {
    pub(crate) published: Counter,
    pub(crate) deferred: Counter,
    pub(crate) replayed: Counter,
    pub(crate) dead_lettered: Counter,
    pub(crate) pending: metrics::Gauge,
    pub(crate) dead_letters: metrics::Gauge,
}

impl OutboxMetrics {
    pub(crate) fn new(outbox: &'static str) -> Self {
        let messages =
            |outcome: &'static str| metrics::counter!(names::OUTBOX_MESSAGES, "outbox" => outbox, "outcome" => outcome);
        Self {
            published: messages("published"),
            deferred: messages("deferred"),
            replayed: messages("replayed"),
            dead_lettered: messages("dead_lettered"),
            pending: metrics::gauge!(names::OUTBOX_PENDING, "outbox" => outbox),
            dead_letters: metrics::gauge!(names::OUTBOX_DEAD_LETTERS, "outbox" => outbox),
        }
    }
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

/// Metric handles of one journal, resolved when it opens.
pub(crate) struct JournalMetrics {
    pub(crate) syncs: Counter,
    pub(crate) written_bytes: Counter,
    pub(crate) records_per_sync: Histogram,
    pub(crate) sync_duration: Histogram,
    pub(crate) recovered_records: Counter,
    pub(crate) truncated_bytes: Counter,
    pub(crate) snapshots: Counter,
}

impl JournalMetrics {
    pub(crate) fn new(journal: &'static str) -> Self {
        let labels = [("journal", journal)];
        Self {
            syncs: metrics::counter!(names::JOURNAL_SYNCS, &labels),
            written_bytes: metrics::counter!(names::JOURNAL_WRITTEN_BYTES, &labels),
            records_per_sync: metrics::histogram!(names::JOURNAL_RECORDS_PER_SYNC, &labels),
            sync_duration: metrics::histogram!(names::JOURNAL_SYNC_DURATION, &labels),
            recovered_records: metrics::counter!(names::JOURNAL_RECOVERED_RECORDS, &labels),
            truncated_bytes: metrics::counter!(names::JOURNAL_TRUNCATED_BYTES, &labels),
            snapshots: metrics::counter!(names::JOURNAL_SNAPSHOTS, &labels),
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

/// Metric names of the task queue. See `docs/observability/metrics.md`.
pub mod queue_names {
    /// Gauge: tasks in the queue by status and priority. Labels: `status`, `priority`.
    pub const QUEUE_TASKS: &str = "ractor_agents_queue_tasks";
    /// Counter: tasks enqueued (deduplicated enqueues not counted). Labels: `capability`.
    pub const QUEUE_ENQUEUED: &str = "ractor_agents_queue_enqueued_total";
    /// Counter: leases handed out (each is an attempt). Labels: `capability`.
    pub const QUEUE_LEASED: &str = "ractor_agents_queue_leased_total";
    /// Counter: tasks acked (succeeded). Labels: `capability`.
    pub const QUEUE_ACKED: &str = "ractor_agents_queue_acked_total";
    /// Counter: attempts given back by workers (nacks, crashes included). Labels: `capability`.
    pub const QUEUE_NACKED: &str = "ractor_agents_queue_nacked_total";
    /// Counter: tasks failed permanently. Labels: `capability`.
    pub const QUEUE_FAILED: &str = "ractor_agents_queue_failed_total";
    /// Counter: leases that ran out before an ack. Labels: `capability`.
    pub const QUEUE_LEASES_EXPIRED: &str = "ractor_agents_queue_leases_expired_total";
    /// Counter: tasks dead-lettered. Labels: `reason` (`attempts_spent`, `deadline`).
    pub const QUEUE_DEAD_LETTERED: &str = "ractor_agents_queue_dead_lettered_total";
    /// Histogram (seconds): from leasable to leased. Labels: `capability`.
    pub const QUEUE_WAIT: &str = "ractor_agents_queue_wait_seconds";
    /// Histogram (seconds): from lease to ack of the successful attempt. Labels: `capability`.
    pub const TASK_DURATION: &str = "ractor_agents_task_duration_seconds";
    /// Histogram: attempts a task took to succeed. Labels: `capability`.
    pub const TASK_ATTEMPTS: &str = "ractor_agents_task_attempts";
}

/// Handles for one capability's queue metrics.
pub(crate) struct CapabilityMetrics {
    pub(crate) enqueued: metrics::Counter,
    pub(crate) leased: metrics::Counter,
    pub(crate) acked: metrics::Counter,
    pub(crate) nacked: metrics::Counter,
    pub(crate) failed: metrics::Counter,
    pub(crate) lease_expired: metrics::Counter,
    wait: metrics::Histogram,
    duration: metrics::Histogram,
    attempts: metrics::Histogram,
}

impl CapabilityMetrics {
    pub(crate) fn new(capability: &str) -> Self {
        use queue_names::*;
        let labels = [("capability", capability.to_owned())];
        Self {
            enqueued: metrics::counter!(QUEUE_ENQUEUED, &labels),
            leased: metrics::counter!(QUEUE_LEASED, &labels),
            acked: metrics::counter!(QUEUE_ACKED, &labels),
            nacked: metrics::counter!(QUEUE_NACKED, &labels),
            failed: metrics::counter!(QUEUE_FAILED, &labels),
            lease_expired: metrics::counter!(QUEUE_LEASES_EXPIRED, &labels),
            wait: metrics::histogram!(QUEUE_WAIT, &labels),
            duration: metrics::histogram!(TASK_DURATION, &labels),
            attempts: metrics::histogram!(TASK_ATTEMPTS, &labels),
        }
    }

    pub(crate) fn record_lease(&self, waited: std::time::Duration) {
        self.leased.increment(1);
        self.wait.record(waited.as_secs_f64());
    }

    pub(crate) fn record_success(&self, took: std::time::Duration, attempts: u32) {
        self.acked.increment(1);
        self.duration.record(took.as_secs_f64());
        self.attempts.record(f64::from(attempts));
    }
}

/// Counts a dead-lettered task.
pub(crate) fn dead_letter(reason: &'static str) {
    metrics::counter!(queue_names::QUEUE_DEAD_LETTERED, "reason" => reason).increment(1);
}

/// Depth gauges by (status, priority), created on first use so idle priorities add no series.
pub(crate) struct DepthGauges {
    /// Indexed by `status * 256 + priority`.
    gauges: Vec<Option<metrics::Gauge>>,
}

impl Default for DepthGauges {
    fn default() -> Self {
        Self { gauges: vec![None; 7 * 256] }
    }
}

impl DepthGauges {
    pub(crate) fn set(&mut self, status: crate::tasks::TaskStatus, priority: u8, n: u64) {
        let slot = &mut self.gauges[(status as usize) * 256 + usize::from(priority)];
        let gauge = slot.get_or_insert_with(|| {
            metrics::gauge!(queue_names::QUEUE_TASKS, "status" => status.as_str(), "priority" => priority.to_string())
        });
        gauge.set(n as f64);
    }
}

/// Metric names of worker pools. See `docs/observability/metrics.md`.
pub mod pool_names {
    /// Gauge: a pool's workers by state. Labels: `pool`, `state` (`idle`, `busy`, `draining`).
    /// Sampled by the pool every tick (100 ms by default), not on every job.
    pub const POOL_WORKERS: &str = "ractor_agents_pool_workers";
    /// Counter: jobs that ended. Labels: `pool`, `outcome` (`succeeded`, `failed`, `abandoned`).
    pub const POOL_JOBS: &str = "ractor_agents_pool_jobs_total";
    /// Histogram (seconds): how long a job's handler ran (succeeded and failed jobs). Labels: `pool`.
    pub const POOL_JOB_DURATION: &str = "ractor_agents_pool_job_duration_seconds";
    /// Counter: jobs refused at submit and handed back to the caller. Labels: `pool`, `reason`
    /// (`overloaded`, `no_capable_worker`, `closed`).
    pub const POOL_JOBS_REJECTED: &str = "ractor_agents_pool_jobs_rejected_total";
    /// Counter: workers added or drained by the autoscaler. Labels: `pool`, `direction` (`up`, `down`).
    pub const POOL_SCALE_EVENTS: &str = "ractor_agents_pool_scale_events_total";
    /// Counter: a store-backed job's report found its lease gone (it expired and the task was
    /// handed out again, or it was cancelled). Labels: `capability`, `operation` (`ack`, `nack`, `extend`).
    pub const POOL_LEASE_LOST: &str = "ractor_agents_pool_lease_lost_total";
    /// Counter: a store-backed job's report failed for another reason (storage down, store closed);
    /// the lease runs out and the task is retried. Labels: `capability`, `operation`.
    pub const POOL_STORE_REPORT_ERRORS: &str = "ractor_agents_pool_store_report_errors_total";
}

/// Metric names of the resilience policies (`crate::resilience`). See `docs/observability/metrics.md`.
/// The `policy` label is the name given to the policy when it was built.
pub mod resilience_names {
    /// Counter: retries a retry policy made (first attempts not counted). Labels: `policy`.
    pub const RETRY_ATTEMPTS: &str = "ractor_agents_retry_attempts_total";
    /// Counter: calls a bulkhead turned away. Labels: `policy`, `reason` (`queue_full`, `queue_timeout`).
    pub const BULKHEAD_REJECTIONS: &str = "ractor_agents_bulkhead_rejections_total";
    /// Counter: `try_acquire`s a rate limiter refused (waiting acquires are not counted). Labels: `policy`.
    pub const RATE_LIMIT_REJECTIONS: &str = "ractor_agents_rate_limit_rejections_total";
    /// Counter: calls a timeout cancelled at their deadline. Labels: `policy`.
    pub const TIMEOUTS: &str = "ractor_agents_timeouts_total";
    /// Counter: fallback steps taken (a step after the first one ran). Labels: `policy`, `step`.
    pub const FALLBACKS: &str = "ractor_agents_fallbacks_total";
}

/// Metric names of the language-model providers (`crate::llm`). See `docs/observability/metrics.md`.
pub mod llm_names {
    /// Counter: calls to a provider. Labels: `provider`, `model`, `outcome` (`ok` or an
    /// [`LlmError::kind`](crate::llm::LlmError::kind): `rate_limited`, `server_error`, `timeout`,
    /// `malformed`, `unavailable`, `invalid_request`, `exhausted`).
    pub const CALLS: &str = "ractor_agents_llm_calls_total";
    /// Histogram: seconds a call took (for a stream: until it opened). Labels: `provider`, `model`.
    pub const CALL_DURATION: &str = "ractor_agents_llm_call_duration_seconds";
    /// Counter: tokens of answered calls. Labels: `provider`, `model`, `direction` (`input`, `output`).
    pub const TOKENS: &str = "ractor_agents_llm_tokens_total";
    /// Gauge, only ever increased: USD spent on answered calls, by the price table. Labels:
    /// `provider`, `model`.
    pub const COST_USD: &str = "ractor_agents_llm_cost_usd_total";
}
