//! Agents: bounded mailboxes, asks with deadlines, errors vs crashes, handles across restarts,
//! and messages that carry meta.

// Test code: a panic on an unexpected `Err` is the failure report.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ractor_agents::agent::{Meta, TraceContext};
use ractor_agents::prelude::*;
use tokio::sync::Notify;

/// An agent whose handler blocks on a gate, so tests can fill its mailbox.
struct Gated {
    gate: Arc<Notify>,
    seen: Arc<Mutex<Vec<u32>>>,
}

enum GatedMsg {
    Wait,
    Item(u32),
    Get(Reply<Vec<u32>>),
    Divide(u32, Reply<Result<u32, String>>),
    Record(u32, Reply<()>),
}

impl Agent for Gated {
    type Msg = GatedMsg;
    async fn handle(&mut self, _ctx: &Ctx<Self>, msg: GatedMsg) -> Result<(), AgentFailure> {
        match msg {
            GatedMsg::Wait => self.gate.notified().await,
            GatedMsg::Item(n) => self.seen.lock().unwrap().push(n),
            GatedMsg::Get(reply) => {
                reply.send(self.seen.lock().unwrap().clone());
            }
            GatedMsg::Record(n, reply) => {
                self.seen.lock().unwrap().push(n);
                reply.send(());
            }
            GatedMsg::Divide(n, reply) => {
                reply.send(100u32.checked_div(n).ok_or_else(|| "division by zero".to_string()));
            }
        }
        Ok(())
    }
}

async fn gated(capacity: usize) -> (AgentRef<Gated>, Arc<Notify>, Arc<Mutex<Vec<u32>>>) {
    let gate = Arc::new(Notify::new());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let agent = ractor_agents::spawn_with(
        "gated",
        Gated { gate: gate.clone(), seen: seen.clone() },
        AgentOptions { mailbox_capacity: capacity },
    )
    .await
    .unwrap();
    (agent, gate, seen)
}

/// Waits until the gated agent has taken the `Wait` message (its mailbox is empty again).
async fn until_blocked(agent: &AgentRef<Gated>) {
    support::eventually("agent blocked in its handler", || agent.queued() == 0).await;
}

#[tokio::test]
async fn try_tell_answers_mailbox_full_at_once_and_gives_the_message_back() {
    let (agent, gate, seen) = gated(2).await;
    agent.try_tell(GatedMsg::Wait).unwrap();
    until_blocked(&agent).await;
    // Capacity counts the message in the handler too: one slot is left.
    agent.try_tell(GatedMsg::Item(1)).unwrap();
    let err = agent.try_tell(GatedMsg::Item(2)).unwrap_err();
    assert!(err.to_string().contains("is full (2 messages)"), "{err}");
    assert!(matches!(err.into_message(), GatedMsg::Item(2)));
    gate.notify_one();
    let got = agent.call(GatedMsg::Get).await.unwrap();
    assert_eq!(got, vec![1]);
    assert_eq!(*seen.lock().unwrap(), vec![1]);
}

#[tokio::test]
async fn tell_waits_for_room_when_the_mailbox_is_full() {
    let (agent, gate, _) = gated(2).await;
    agent.try_tell(GatedMsg::Wait).unwrap();
    until_blocked(&agent).await;
    agent.try_tell(GatedMsg::Item(1)).unwrap();
    let sender = {
        let agent = agent.clone();
        tokio::spawn(async move { agent.tell(GatedMsg::Item(2)).await.is_ok() })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!sender.is_finished(), "tell must wait while the mailbox is full");
    gate.notify_one();
    assert!(sender.await.unwrap());
    assert_eq!(agent.call(GatedMsg::Get).await.unwrap(), vec![1, 2]);
}

#[tokio::test]
async fn ask_waits_for_room_only_until_its_deadline() {
    let (agent, gate, _) = gated(1).await;
    agent.try_tell(GatedMsg::Wait).unwrap();
    until_blocked(&agent).await;
    let err = agent.call(GatedMsg::Get).deadline(Duration::from_millis(50)).await.unwrap_err();
    assert!(matches!(err, AskError::DeadlineExceeded { .. }), "{err}");
    gate.notify_one();
    assert_eq!(agent.call(GatedMsg::Get).await.unwrap(), Vec::<u32>::new());
}

#[tokio::test]
async fn a_message_dequeued_after_its_deadline_is_not_handled() {
    let (agent, gate, seen) = gated(8).await;
    agent.try_tell(GatedMsg::Wait).unwrap();
    until_blocked(&agent).await;
    let late = agent.call(|reply| GatedMsg::Record(7, reply)).deadline(Duration::from_millis(30));
    let err = late.await.unwrap_err();
    assert!(matches!(err, AskError::DeadlineExceeded { .. }), "{err}");
    gate.notify_one();
    assert_eq!(agent.call(GatedMsg::Get).await.unwrap(), Vec::<u32>::new(), "expired message was handled");
    assert!(seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_handler_error_goes_back_to_the_asker_and_the_agent_keeps_running() {
    let (agent, _, _) = gated(8).await;
    let err = agent.call(|r| GatedMsg::Divide(0, r)).await.unwrap();
    assert_eq!(err, Err("division by zero".to_string()));
    assert_eq!(agent.call(|r| GatedMsg::Divide(4, r)).await.unwrap(), Ok(25));
}

#[tokio::test]
async fn an_unsupervised_agent_that_panics_closes_its_mailbox() {
    let log = support::Log::default();
    let probe = ractor_agents::spawn("lonely", support::Probe::factory("lonely", &log)()).await.unwrap();
    assert_eq!(support::ping(&probe).await, Ok(1));
    probe.try_tell(support::ProbeMsg::Panic).unwrap();
    support::eventually("mailbox closed", || probe.is_closed()).await;
    assert!(matches!(support::ping(&probe).await, Err(AskError::Unavailable { .. })));
    assert!(matches!(probe.try_tell(support::ProbeMsg::Exit), Err(TellError::Unavailable { .. })));
}

#[tokio::test]
async fn asks_queued_behind_a_crashing_message_are_answered_by_the_next_incarnation() {
    let log = support::Log::default();
    let root = Supervisor::new("asks-survive", Strategy::OneForOne)
        .child(ChildSpec::agent("p", support::Probe::factory("p", &log)))
        .start()
        .await
        .unwrap();
    let p: AgentRef<support::Probe> = root.agent("p").unwrap();
    assert_eq!(support::ping(&p).await, Ok(1));
    p.try_tell(support::ProbeMsg::Sleep(Duration::from_millis(20))).unwrap();
    p.try_tell(support::ProbeMsg::Panic).unwrap();
    let asks: Vec<_> = (0..10)
        .map(|_| {
            let p = p.clone();
            tokio::spawn(async move { support::ping(&p).await })
        })
        .collect();
    for ask in asks {
        assert_eq!(ask.await.unwrap(), Ok(2), "every ask is answered by incarnation 2, none fails");
    }
    root.stop().await;
}

/// Counts the values it was told; panics on a poison value (0).
struct Tally {
    sum: Arc<AtomicU64>,
    handled: Arc<AtomicU64>,
}

impl Agent for Tally {
    type Msg = u64;
    async fn handle(&mut self, _ctx: &Ctx<Self>, n: u64) -> Result<(), AgentFailure> {
        if n == 0 {
            panic!("poison");
        }
        self.sum.fetch_add(n, Ordering::SeqCst);
        self.handled.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_accepted_message_is_lost_across_a_thousand_restarts_under_a_flood_of_tells() {
    let sum = Arc::new(AtomicU64::new(0));
    let handled = Arc::new(AtomicU64::new(0));
    let factory = {
        let (sum, handled) = (sum.clone(), handled.clone());
        move || Tally { sum: sum.clone(), handled: handled.clone() }
    };
    let root = Supervisor::new("flood", Strategy::OneForOne)
        .intensity(u32::MAX, Duration::from_secs(1))
        .child(ChildSpec::agent("tally", factory).mailbox_capacity(256))
        .start()
        .await
        .unwrap();
    let tally: AgentRef<Tally> = root.agent("tally").unwrap();
    const RESTARTS: u64 = 1000;
    const PER_RESTART: u64 = 50;
    let mut expected_sum = 0;
    for _ in 0..RESTARTS {
        for i in 1..=PER_RESTART {
            tally.tell(i).await.unwrap();
            expected_sum += i;
        }
        tally.tell(0).await.unwrap();
    }
    support::eventually("every accepted message handled", || handled.load(Ordering::SeqCst) == RESTARTS * PER_RESTART)
        .await;
    assert_eq!(sum.load(Ordering::SeqCst), expected_sum);
    let restarts = root.children().await.unwrap()[0].restarts;
    assert_eq!(restarts, RESTARTS);
    root.stop().await;
}

/// Forwards what it is told to `next`, and reports the trace it saw.
struct Relay {
    next: Option<AgentRef<Relay>>,
    seen: Arc<Mutex<Vec<(String, TraceContext)>>>,
}

impl Agent for Relay {
    type Msg = Reply<()>;
    async fn handle(&mut self, ctx: &Ctx<Self>, reply: Reply<()>) -> Result<(), AgentFailure> {
        let current = ctx.trace().expect("a handler runs in a trace scope");
        self.seen.lock().unwrap().push((ctx.name().to_owned(), current));
        if let Some(next) = &self.next {
            let _ = next.call(|r| r).await;
        }
        reply.send(());
        Ok(())
    }
}

#[tokio::test]
async fn a_message_sent_from_a_handler_continues_the_senders_trace() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let b = ractor_agents::spawn("b", Relay { next: None, seen: seen.clone() }).await.unwrap();
    let a = ractor_agents::spawn("a", Relay { next: Some(b), seen: seen.clone() }).await.unwrap();
    a.call(|r| r).await.unwrap();
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    let (a_trace, b_trace) = (seen[0].1, seen[1].1);
    assert_eq!(seen[0].0, "a");
    assert_eq!(seen[1].0, "b");
    assert_eq!(a_trace.trace_id, b_trace.trace_id, "one trace across the hop");
    assert_ne!(a_trace.span_id, b_trace.span_id, "each handler has its own span id");
}

#[test]
fn meta_crosses_a_serde_boundary_with_its_trace_and_remaining_deadline() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        let meta = Meta::outgoing(Some(deadline));
        let json = serde_json::to_string(&meta).unwrap();
        let back: Meta = serde_json::from_str(&json).unwrap();
        assert_eq!(back.trace, meta.trace);
        assert_eq!(back.correlation_id, meta.correlation_id);
        let left = back.remaining().unwrap();
        assert!(left > Duration::from_secs(29) && left <= Duration::from_secs(30), "{left:?}");
    });
}

#[tokio::test(flavor = "current_thread")]
async fn stopping_an_unsupervised_agent_right_after_spawn_closes_it_and_runs_on_stop() {
    let log = support::Log::default();
    let probe = ractor_agents::spawn("short-lived", support::Probe::factory("short-lived", &log)()).await.unwrap();
    probe.stop().await;
    assert!(probe.is_closed());
    assert_eq!(log.events(), ["start:short-lived:1", "stop:short-lived"]);
    assert!(matches!(support::ping(&probe).await, Err(AskError::Unavailable { .. })));
}

/// Sleeps `per_message` in its handler.
struct Slow {
    per_message: Duration,
}

impl Agent for Slow {
    type Msg = u32;
    async fn handle(&mut self, _ctx: &Ctx<Self>, _n: u32) -> Result<(), AgentFailure> {
        tokio::time::sleep(self.per_message).await;
        Ok(())
    }
}

#[tokio::test(start_paused = true)]
async fn a_sender_parked_on_a_full_mailbox_gets_a_slot_soon_after_one_slow_message_not_after_the_whole_batch() {
    let per_message = Duration::from_millis(30);
    let slow =
        ractor_agents::spawn_with("slow", Slow { per_message }, AgentOptions { mailbox_capacity: 4 }).await.unwrap();
    for n in 0..4 {
        slow.try_tell(n).unwrap();
    }
    let started = tokio::time::Instant::now();
    slow.tell(4).await.unwrap();
    let waited = started.elapsed();
    // The four queued messages form one batch (120 ms of handling); the parked sender must get
    // the slot freed by the first of them, about one message (30 ms) later.
    assert!(waited < per_message * 2, "waited {waited:?}");
}

#[tokio::test]
async fn messages_sent_inside_in_trace_continue_an_incoming_w3c_trace() {
    let incoming = TraceContext::parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let b = ractor_agents::spawn("b-traced", Relay { next: None, seen: seen.clone() }).await.unwrap();
    let a = ractor_agents::spawn("a-traced", Relay { next: Some(b), seen: seen.clone() }).await.unwrap();
    ractor_agents::agent::in_trace(incoming, Some("vendor=1".into()), async { a.call(|r| r).await.unwrap() }).await;
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|(_, trace)| trace.trace_id == incoming.trace_id), "{seen:?}");
    assert!(seen.iter().all(|(_, trace)| trace.span_id != incoming.span_id), "each handler has its own span");
}
