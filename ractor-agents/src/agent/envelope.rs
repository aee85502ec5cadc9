//! The envelope every message travels in, and the meta it carries.

use std::cell::{Cell, RefCell};
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::time::Instant;

/// W3C trace context (`traceparent`): the trace a message belongs to and the span that sent it.
///
/// Ids are kept binary so building an envelope allocates nothing; [`TraceContext::traceparent`]
/// renders the header form and [`TraceContext::parse_traceparent`] reads it back.
///
/// ```
/// use ractor_agents::agent::TraceContext;
/// let ctx = TraceContext::parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")?;
/// assert_eq!(ctx.traceparent(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
/// # Ok::<(), ractor_agents::agent::TraceParseError>(())
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct TraceContext {
    /// The 128-bit trace id shared by every hop of one logical operation.
    pub trace_id: u128,
    /// The 64-bit id of the span that sent the message (the receiver's parent span).
    pub span_id: u64,
    /// W3C trace flags; bit 0 is "sampled".
    pub flags: u8,
}

/// A `traceparent` header that does not follow the W3C format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed traceparent `{header}`: {reason}; expected `00-<32 hex>-<16 hex>-<2 hex>`")]
pub struct TraceParseError {
    header: String,
    reason: &'static str,
}

impl TraceContext {
    /// A fresh trace: new random trace id and span id, sampled.
    pub fn new_root() -> Self {
        let trace_id = (u128::from(next_id()) << 64) | u128::from(next_id());
        Self { trace_id, span_id: next_id(), flags: 1 }
    }

    /// The same trace, one hop further: a new span id whose parent is `self.span_id`.
    pub fn child(&self) -> Self {
        Self { trace_id: self.trace_id, span_id: next_id(), flags: self.flags }
    }

    /// The `traceparent` header value (version 00).
    pub fn traceparent(&self) -> String {
        format!("00-{:032x}-{:016x}-{:02x}", self.trace_id, self.span_id, self.flags)
    }

    /// Parses a `traceparent` header value. All-zero ids are invalid, as the W3C spec says.
    pub fn parse_traceparent(header: &str) -> Result<Self, TraceParseError> {
        let err = |reason| TraceParseError { header: header.to_owned(), reason };
        let parts: Vec<&str> = header.trim().split('-').collect();
        let [version, trace, span, flags] = parts.as_slice() else {
            return Err(err("expected four dash-separated fields"));
        };
        let hex = |s: &str, len: usize| s.len() == len && s.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex(version, 2) || *version == "ff" {
            return Err(err("bad version"));
        }
        if !hex(trace, 32) || !hex(span, 16) || !hex(flags, 2) {
            return Err(err("bad field length or non-hex digit"));
        }
        let trace_id = u128::from_str_radix(trace, 16).map_err(|_| err("bad trace id"))?;
        let span_id = u64::from_str_radix(span, 16).map_err(|_| err("bad parent id"))?;
        let flags = u8::from_str_radix(flags, 16).map_err(|_| err("bad flags"))?;
        if trace_id == 0 || span_id == 0 {
            return Err(err("all-zero ids are invalid"));
        }
        Ok(Self { trace_id, span_id, flags })
    }
}

impl fmt::Debug for TraceContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.traceparent())
    }
}

/// Everything a message carries besides its payload.
///
/// `Meta` is serde-serializable so it can cross nodes and hit disk unchanged. Instants do not
/// cross processes, so the deadline travels as the time left (µs) and `enqueued_at` is reset
/// to the moment of deserialization.
#[derive(Clone, Serialize, Deserialize)]
pub struct Meta {
    /// W3C trace context of the sender.
    pub trace: TraceContext,
    /// W3C `tracestate` (vendor-specific trace data), passed through untouched.
    pub tracestate: Option<Arc<str>>,
    /// Correlation id shared by every message caused by one root message.
    pub correlation_id: u64,
    /// When this message stops being worth handling; it is discarded (and an `ask` answered
    /// with `DeadlineExceeded`) if it is dequeued after that.
    #[serde(with = "deadline_as_remaining")]
    pub deadline: Option<Instant>,
    /// When the message was sent, on the TSC clock (`quanta`): read for every message, so it
    /// must be cheap; it decides nothing, it only measures queueing (see [`Meta::queued_for`]).
    #[serde(skip, default = "quanta::Instant::now")]
    enqueued_at: quanta::Instant,
    /// The sender's `tracing` span, so the handler's span is its child within this process.
    /// Boxed and only present when DEBUG spans are on: it would otherwise add 40 bytes to every
    /// envelope, and envelopes are moved several times between sender and handler.
    #[serde(skip)]
    pub(crate) span: Option<Box<tracing::Span>>,
}

impl fmt::Debug for Meta {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Meta")
            .field("trace", &self.trace)
            .field("correlation_id", &self.correlation_id)
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl Meta {
    /// Meta for a message sent from the current context: inside a handler the trace and
    /// correlation id are inherited from the message being handled, elsewhere a new trace starts.
    pub fn outgoing(deadline: Option<Instant>) -> Self {
        let enqueued_at = quanta::Instant::now();
        let inherited = CURRENT
            .try_with(|c| c.borrow().as_ref().map(|c| (c.trace, c.tracestate.clone(), c.correlation_id)))
            .ok()
            .flatten();
        let (trace, tracestate, correlation_id) =
            inherited.unwrap_or_else(|| (TraceContext::new_root(), None, next_id()));
        Self { trace, tracestate, correlation_id, deadline, enqueued_at, span: sender_span() }
    }

    /// How long ago the message was sent (its time in the queue, when read by the handler).
    pub fn queued_for(&self) -> Duration {
        quanta::Instant::now().saturating_duration_since(self.enqueued_at)
    }

    /// The time left before the deadline, if there is one (zero once it has passed).
    pub fn remaining(&self) -> Option<Duration> {
        self.deadline.map(|d| d.saturating_duration_since(Instant::now()))
    }
}

/// The sender's span, which only matters if the handler's span (DEBUG) can be recorded: reading
/// the current span costs ~10 ns a message, skipped when DEBUG is off globally.
fn sender_span() -> Option<Box<tracing::Span>> {
    if tracing::level_filters::LevelFilter::current() < tracing::Level::DEBUG {
        return None;
    }
    let span = tracing::Span::current();
    (!span.is_none()).then(|| Box::new(span))
}

/// A message plus its meta: what a mailbox holds.
#[derive(Debug)]
pub struct Envelope<M> {
    /// The payload.
    pub msg: M,
    /// Trace context, correlation id, deadline and enqueue instant.
    pub meta: Meta,
}

/// The trace scope of the message being handled on this task: what [`Meta::outgoing`] inherits.
#[derive(Clone)]
pub(crate) struct TraceScope {
    pub(crate) trace: TraceContext,
    pub(crate) tracestate: Option<Arc<str>>,
    pub(crate) correlation_id: u64,
}

impl TraceScope {
    /// The scope a handler runs in: the sender's trace with a new span id for the handler.
    pub(crate) fn for_handler(meta: &Meta) -> Self {
        Self { trace: meta.trace.child(), tracestate: meta.tracestate.clone(), correlation_id: meta.correlation_id }
    }
}

tokio::task_local! {
    /// Set once per drain (a task-local scope per message cost more than the rest of the
    /// handler's bookkeeping); the executor writes each message's scope before its handler runs.
    pub(crate) static CURRENT: RefCell<Option<TraceScope>>;
}

/// Runs `future` inside an existing trace, e.g. one read from an incoming request's
/// `traceparent` header: every message it sends continues that trace (with the given
/// `tracestate`), and they all share one new correlation id.
///
/// ```
/// use ractor_agents::agent::{in_trace, current_trace, TraceContext};
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let incoming = TraceContext::parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")?;
/// let seen = in_trace(incoming, None, async { current_trace() }).await;
/// assert_eq!(seen.map(|t| t.trace_id), Some(incoming.trace_id));
/// # Ok(()) }
/// ```
pub async fn in_trace<F: std::future::Future>(
    trace: TraceContext,
    tracestate: Option<Arc<str>>,
    future: F,
) -> F::Output {
    let scope = TraceScope { trace, tracestate, correlation_id: next_id() };
    CURRENT.scope(RefCell::new(Some(scope)), future).await
}

/// Makes the handler running on this task continue `trace` from here on (a pool worker
/// running a task that carries its producer's `traceparent`): what it sends, and
/// [`current_trace`], see a child of `trace` with a new correlation id. Outside a handler,
/// does nothing.
pub(crate) fn continue_trace(trace: TraceContext) {
    let _ = CURRENT.try_with(|current| {
        *current.borrow_mut() = Some(TraceScope { trace: trace.child(), tracestate: None, correlation_id: next_id() });
    });
}

/// The trace context of the message currently being handled on this task (or of the
/// [`in_trace`] scope it runs in), if any.
pub fn current_trace() -> Option<TraceContext> {
    CURRENT.try_with(|c| c.borrow().as_ref().map(|s| s.trace)).ok().flatten()
}

thread_local! {
    static ID_STATE: Cell<u64> = Cell::new(rand::random::<u64>() | 1);
}

/// A non-zero 64-bit id (wyrand on a per-thread seed). Ids identify traces; they decide no
/// behaviour, so they need not come from the injectable randomness source.
fn next_id() -> u64 {
    ID_STATE.with(|s| {
        loop {
            let x = s.get().wrapping_add(0xa076_1d64_78bd_642f);
            s.set(x);
            let t = u128::from(x) * u128::from(x ^ 0xe703_7ed1_a0b4_28db);
            let id = ((t >> 64) as u64) ^ (t as u64);
            if id != 0 {
                return id;
            }
        }
    })
}

mod deadline_as_remaining {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::time::Duration;
    use tokio::time::Instant;

    pub(super) fn serialize<S: Serializer>(d: &Option<Instant>, s: S) -> Result<S::Ok, S::Error> {
        d.map(|d| d.saturating_duration_since(Instant::now()).as_micros() as u64).serialize(s)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Instant>, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.map(|us| Instant::now() + Duration::from_micros(us)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_round_trips() {
        let ctx = TraceContext::new_root();
        assert_eq!(TraceContext::parse_traceparent(&ctx.traceparent()), Ok(ctx));
    }

    #[test]
    fn malformed_traceparent_is_a_clear_error() {
        for bad in [
            "",
            "00-xyz",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            let err = TraceContext::parse_traceparent(bad).expect_err(bad);
            assert!(err.to_string().contains("malformed traceparent"), "{err}");
        }
    }

    #[test]
    fn queued_for_measures_the_time_since_sending() {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        let meta = rt.block_on(async { Meta::outgoing(None) });
        std::thread::sleep(Duration::from_millis(20));
        let queued = meta.queued_for();
        assert!(queued >= Duration::from_millis(20) && queued < Duration::from_secs(5), "{queued:?}");
    }

    #[test]
    fn child_keeps_the_trace_and_changes_the_span() {
        let root = TraceContext::new_root();
        let child = root.child();
        assert_eq!(child.trace_id, root.trace_id);
        assert_ne!(child.span_id, root.span_id);
    }
}
