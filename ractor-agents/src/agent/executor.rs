//! The executor: the ractor actor that runs one incarnation of an agent.
//!
//! Its only ractor message is [`Wake`]; the work is in the agent's [`Mailbox`]. A drain handles
//! at most [`DRAIN_BUDGET`] messages per `Wake`, then wakes itself again, so ractor's stop and
//! kill signals and supervision events interleave between batches.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use ractor::{Actor, ActorProcessingErr, ActorRef, SupervisionEvent};
use tokio::time::Instant;
use tracing::Instrument;

use super::envelope::{CURRENT, Envelope, TraceScope};
use super::mailbox::{Mailbox, Wake};
use super::{Agent, AgentFailure, AgentRef, Ctx};
use crate::registry::{Placement, RegisteredAgent};

/// Messages handled per `Wake` before yielding back to ractor's loop.
pub(crate) const DRAIN_BUDGET: usize = 256;

pub(crate) struct Executor<A>(PhantomData<fn() -> A>);

impl<A> Executor<A> {
    pub(crate) fn new() -> Self {
        Self(PhantomData)
    }
}

pub(crate) type AgentFactory<A> = Box<dyn FnOnce() -> A + Send>;

pub(crate) struct ExecutorArgs<A: Agent> {
    pub(crate) mailbox: Arc<Mailbox<A::Msg>>,
    pub(crate) make: AgentFactory<A>,
    /// Where to register, for an agent whose supervisor has a registry.
    pub(crate) placement: Option<Placement>,
}

pub(crate) struct Incarnation<A: Agent> {
    agent: A,
    ctx: Ctx<A>,
    batch: VecDeque<Envelope<A::Msg>>,
    /// The agent's registry entry, which this incarnation keeps in step with its life.
    registered: Option<RegisteredAgent>,
}

impl<A: Agent> Drop for Incarnation<A> {
    /// An agent started without a supervisor closes when its incarnation ends, however it
    /// ends (stop, panic or kill all drop the state), so nothing waits on it in vain. A kill is
    /// the one ending nothing else reports to the registry: a graceful stop marked the entry
    /// in `post_stop`, a crash in `handle`; those make this a no-op, and so does a successor
    /// that is already up (the entry's status then belongs to it).
    fn drop(&mut self) {
        let mailbox = &self.ctx.myself().mailbox;
        if mailbox.is_standalone() {
            mailbox.close();
        }
        if let Some(registered) = &self.registered {
            registered.killed(self.ctx.incarnation());
        }
    }
}

impl<A: Agent> Actor for Executor<A> {
    type Msg = Wake;
    type State = Incarnation<A>;
    type Arguments = ExecutorArgs<A>;

    async fn pre_start(
        &self,
        myself: ActorRef<Wake>,
        args: ExecutorArgs<A>,
    ) -> Result<Incarnation<A>, ActorProcessingErr> {
        let incarnation = args.mailbox.next_incarnation();
        let registered = match &args.placement {
            Some(placement) => Some(placement.register::<A>(&args.mailbox, incarnation)?),
            None => None,
        };
        let ctx = Ctx::new(AgentRef::from_mailbox(args.mailbox), myself.get_cell(), incarnation);
        let mut agent = (args.make)();
        let started = match &registered {
            Some(registered) => CrashWatch::new(Box::pin(agent.on_start(&ctx)), registered, incarnation).await,
            None => agent.on_start(&ctx).await,
        };
        if let Err(failure) = started {
            if let Some(registered) = &registered {
                registered.crashed(incarnation);
            }
            return Err(failure.into());
        }
        // Publish now, not in post_start: `spawn` returns after pre_start, and a `stop` issued
        // right then must find this incarnation. The self-wake queues until the loop runs.
        ctx.myself().mailbox.attach(myself);
        if let Some(registered) = &registered {
            registered.came_up(incarnation);
        }
        Ok(Incarnation { agent, ctx, batch: VecDeque::new(), registered })
    }

    async fn handle(
        &self,
        myself: ActorRef<Wake>,
        _wake: Wake,
        state: &mut Incarnation<A>,
    ) -> Result<(), ActorProcessingErr> {
        let Incarnation { agent, ctx, batch, registered } = state;
        // Boxed per Wake: ractor keeps each actor's loop future for the actor's whole life, and
        // inlining the drain (with the user's handler future inside) would make every idle
        // agent pay that size (~1.3 KB) instead of one short-lived allocation per batch.
        let batch = Box::pin(CURRENT.scope(RefCell::new(None), drain(agent, ctx, batch, &myself)));
        let drained = match registered {
            Some(registered) => CrashWatch::new(batch, registered, ctx.incarnation()).await,
            None => batch.await,
        };
        if let (Err(_), Some(registered)) = (&drained, registered) {
            registered.crashed(ctx.incarnation());
        }
        drained.map_err(|failure| Box::new(failure) as ActorProcessingErr)
    }

    async fn post_stop(&self, myself: ActorRef<Wake>, state: &mut Incarnation<A>) -> Result<(), ActorProcessingErr> {
        state.agent.on_stop(&state.ctx).await;
        state.ctx.stop_children().await;
        state.ctx.myself().mailbox.detach(&myself.get_id());
        if let Some(registered) = &state.registered {
            registered.stopped(state.ctx.incarnation());
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        _myself: ActorRef<Wake>,
        event: SupervisionEvent,
        _state: &mut Incarnation<A>,
    ) -> Result<(), ActorProcessingErr> {
        // Children started through `Ctx::start_supervisor` are linked to this incarnation:
        // their failure (an escalation) is ours; their normal exit is not.
        match event {
            SupervisionEvent::ActorFailed(_, err) => {
                Err(Box::new(AgentFailure::new(format!("a child supervisor failed: {err}"))))
            }
            _ => Ok(()),
        }
    }
}

/// Puts back what a batch did not get to (a panic, a kill or a stop request cut it short) and
/// frees the slots of what it did, so nothing taken from the mailbox is lost.
struct BatchGuard<'a, M: Send + 'static> {
    mailbox: &'a Mailbox<M>,
    batch: &'a mut VecDeque<Envelope<M>>,
    /// Messages taken out of `batch` (handled, or crashed in their handler).
    finished: usize,
    /// Of those, how many slots were already given back to senders.
    released: usize,
    /// When slots were last given back mid-batch (`None`: not yet in this batch).
    last_release: Option<Instant>,
}

impl<M: Send + 'static> BatchGuard<'_, M> {
    /// Frees slots mid-batch, but only for parked senders, and only in chunks: at once when a
    /// parked sender is first seen, then when half the mailbox can be refilled at once (a fast
    /// handler: one wake-up per half mailbox, not per message), or when 1 ms has passed (a slow
    /// handler: senders do not wait for a whole batch of slow messages).
    fn release_for_waiters(&mut self) {
        if !self.mailbox.has_waiters() {
            return;
        }
        let pending = self.finished - self.released;
        let now = Instant::now();
        // The first time a parked sender is seen, it gets what is finished so far at once.
        let due = self.last_release.is_none_or(|last| now.duration_since(last) >= SLOW_RELEASE);
        if pending >= self.mailbox.capacity().div_ceil(2) || due {
            self.mailbox.release(pending);
            self.released = self.finished;
            self.last_release = Some(now);
        }
    }
}

impl<M: Send + 'static> Drop for BatchGuard<'_, M> {
    fn drop(&mut self) {
        if !self.batch.is_empty() {
            self.mailbox.restore_front(self.batch);
        }
        self.mailbox.release(self.finished - self.released);
        self.mailbox.metrics.handled.increment(self.finished as u64);
    }
}

/// How long parked senders wait at most for slots freed by a slow handler.
const SLOW_RELEASE: std::time::Duration = std::time::Duration::from_millis(1);

async fn drain<A: Agent>(
    agent: &mut A,
    ctx: &Ctx<A>,
    batch: &mut VecDeque<Envelope<A::Msg>>,
    myself: &ActorRef<Wake>,
) -> Result<(), AgentFailure> {
    let mailbox = ctx.myself().mailbox.clone();
    let mut budget = DRAIN_BUDGET;
    loop {
        if mailbox.stop_requested() {
            return Ok(());
        }
        if mailbox.pop_batch(batch, budget) == 0 {
            if mailbox.finish_drain() {
                continue;
            }
            return Ok(());
        }
        let mut guard = BatchGuard { mailbox: &mailbox, batch, finished: 0, released: 0, last_release: None };
        while let Some(env) = guard.batch.pop_front() {
            // Counted before handling: a message whose handler panics is finished too (its
            // slot is freed); only the ones after it are put back.
            guard.finished += 1;
            budget -= 1;
            handle_one(agent, ctx, env).await?;
            guard.release_for_waiters();
            if mailbox.stop_requested() {
                break;
            }
        }
        drop(guard);
        if budget == 0 {
            // Still holding the flag: the next drain is this Wake, after ractor's signals.
            let _ = myself.cast(Wake);
            return Ok(());
        }
    }
}

async fn handle_one<A: Agent>(agent: &mut A, ctx: &Ctx<A>, env: Envelope<A::Msg>) -> Result<(), AgentFailure> {
    let Envelope { msg, meta } = env;
    if meta.deadline.is_some_and(|deadline| Instant::now() >= deadline) {
        ctx.myself().mailbox.metrics.expired.increment(1);
        return Ok(());
    }
    let scope = TraceScope::for_handler(&meta);
    // DEBUG, not INFO: a span per message is the dominant cost of a hot agent under a
    // subscriber at INFO (4x slower); enable `ractor_agents=debug` to trace every handler.
    let span = tracing::debug_span!(
        parent: meta.span.as_ref().and_then(|span| span.id()),
        "agent.handle",
        otel.name = %format_args!("{} {}", ctx.name(), A::message_name(&msg)),
        agent = %ctx.name(),
        message = A::message_name(&msg),
        trace_id = %format_args!("{:032x}", scope.trace.trace_id),
        correlation_id = scope.correlation_id,
    );
    CURRENT.with(|current| *current.borrow_mut() = Some(scope));
    agent.handle(ctx, msg).instrument(span).await
}

/// Polls a boxed future and marks the agent `Failed` in its registry if a poll panics, from
/// inside the unwinding poll, i.e. before ractor catches the panic and tells the supervisor,
/// so a router never picks an agent whose incarnation is already dead.
struct CrashWatch<'a, F: ?Sized> {
    inner: Pin<Box<F>>,
    registered: &'a RegisteredAgent,
    incarnation: u64,
}

impl<'a, F: Future + ?Sized> CrashWatch<'a, F> {
    fn new(inner: Pin<Box<F>>, registered: &'a RegisteredAgent, incarnation: u64) -> Self {
        Self { inner, registered, incarnation }
    }
}

impl<F: Future + ?Sized> Future for CrashWatch<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // A stack guard of this poll: dropped with `panicking()` true only while a panic from
        // the inner poll unwinds through here.
        struct OnUnwind<'a>(&'a RegisteredAgent, u64);
        impl Drop for OnUnwind<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    self.0.crashed(self.1);
                }
            }
        }
        let this = &mut *self;
        let _guard = OnUnwind(this.registered, this.incarnation);
        this.inner.as_mut().poll(cx)
    }
}
