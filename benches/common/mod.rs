//! Shared pieces of the benchmarks: the runtime, the metrics recorder, and the same two
//! workloads written four ways (ractor-agents, raw ractor, kameo, a tokio channel + task).
//!
//! Every peer is built the way its own documentation shows; none is tuned beyond that. The
//! agents are written by hand against the `Agent` trait (no `#[agent]` macro).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use ractor_agents::prelude::*;

/// A bench binary's arguments after its name, read flag by flag. `cargo bench` passes `--bench`
/// to every bench binary (skipped here); `cargo test --all-targets` runs them with no arguments,
/// which each bench takes as a smoke run.
pub(crate) struct Args(std::vec::IntoIter<String>);

impl Args {
    /// The process's arguments, or `None` when there are none (a smoke run).
    pub(crate) fn from_env() -> Option<Self> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        (!args.is_empty()).then(|| Self(args.into_iter()))
    }

    /// The value after `flag`.
    pub(crate) fn value(&mut self, flag: &str) -> String {
        self.0.next().unwrap_or_else(|| panic!("{flag} needs a value"))
    }

    /// The number after `flag` (underscores allowed: `1_000_000`).
    pub(crate) fn number(&mut self, flag: &str) -> u64 {
        let text = self.value(flag);
        text.replace('_', "").parse().unwrap_or_else(|_| panic!("{flag} needs a number, not {text:?}"))
    }
}

impl Iterator for Args {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        self.0.by_ref().find(|arg| arg != "--bench")
    }
}

/// Worker threads of every runtime the benchmarks build (what a small service would run on the
/// 2-core benchmark machine).
pub(crate) const WORKERS: usize = 2;

/// A multi-thread tokio runtime with [`WORKERS`] workers.
pub(crate) fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(WORKERS).enable_all().build().expect("tokio runtime")
}

/// Installs a real Prometheus recorder (once per process), so the agents' counters are live
/// `metrics` handles and not the no-op recorder.
pub(crate) fn install_metrics() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| PrometheusBuilder::new().install_recorder().expect("install the Prometheus recorder"))
}

/// The value of `ractor_agents_agent_messages_handled_total` for `agent_type` in the
/// recorder's rendering: proof that metrics were on while measuring.
pub(crate) fn handled_metric(agent_type: &str) -> Option<f64> {
    let text = install_metrics().render();
    let needle = format!("ractor_agents_agent_messages_handled_total{{agent_type=\"{agent_type}\"}}");
    text.lines().find(|l| l.starts_with(&needle)).and_then(|l| l.rsplit(' ').next()).and_then(|v| v.parse().ok())
}

/// Replaces the default panic hook (which prints a message per panic to stderr) by a silent
/// one: the restart scenarios panic thousands of times on purpose, the same for every peer.
pub(crate) fn silence_panics() {
    std::panic::set_hook(Box::new(|_| {}));
}

/// How long the benchmarks wait for any single answer before calling it failed.
pub(crate) const ASK_DEADLINE: Duration = Duration::from_secs(5);

// ---------------------------------------------------------------------------------------------
// Workload 1: a counter (one-way messages, and an ask that returns the count).
// ---------------------------------------------------------------------------------------------

/// ractor-agents: the counter agent.
#[derive(Default)]
pub(crate) struct Counter {
    count: u64,
}

pub(crate) enum CounterMsg {
    Inc,
    Get(Reply<u64>),
}

impl Agent for Counter {
    type Msg = CounterMsg;
    async fn handle(&mut self, _ctx: &Ctx<Self>, msg: CounterMsg) -> Result<(), AgentFailure> {
        match msg {
            CounterMsg::Inc => self.count += 1,
            CounterMsg::Get(reply) => {
                reply.send(self.count);
            }
        }
        Ok(())
    }
}

/// Raw ractor: the same counter.
pub(crate) struct RactorCounter;

pub(crate) enum RactorCounterMsg {
    Inc,
    Get(ractor::RpcReplyPort<u64>),
}

impl ractor::Actor for RactorCounter {
    type Msg = RactorCounterMsg;
    type State = u64;
    type Arguments = ();

    async fn pre_start(&self, _: ractor::ActorRef<Self::Msg>, _: ()) -> Result<u64, ractor::ActorProcessingErr> {
        Ok(0)
    }

    async fn handle(
        &self,
        _: ractor::ActorRef<Self::Msg>,
        msg: Self::Msg,
        count: &mut u64,
    ) -> Result<(), ractor::ActorProcessingErr> {
        match msg {
            RactorCounterMsg::Inc => *count += 1,
            RactorCounterMsg::Get(reply) => {
                let _ = reply.send(*count);
            }
        }
        Ok(())
    }
}

/// kameo: the same counter.
pub(crate) struct KameoCounter {
    count: u64,
}

pub(crate) struct KInc;
pub(crate) struct KGet;

impl kameo::Actor for KameoCounter {
    type Args = ();
    type Error = kameo::error::Infallible;
    async fn on_start(_: (), _: kameo::actor::ActorRef<Self>) -> Result<Self, Self::Error> {
        Ok(Self { count: 0 })
    }
}

impl kameo::message::Message<KInc> for KameoCounter {
    type Reply = ();
    async fn handle(&mut self, _: KInc, _: &mut kameo::message::Context<Self, ()>) {
        self.count += 1;
    }
}

impl kameo::message::Message<KGet> for KameoCounter {
    type Reply = u64;
    async fn handle(&mut self, _: KGet, _: &mut kameo::message::Context<Self, u64>) -> u64 {
        self.count
    }
}

/// tokio: a bounded channel drained by one task.
pub(crate) enum ChanMsg {
    Inc,
    Get(tokio::sync::oneshot::Sender<u64>),
}

/// One peer of the one-way and ask benchmarks, started and ready.
#[derive(Clone)]
pub(crate) enum Peer {
    /// `tell(..).await` (backpressure), default mailbox.
    OursTell(AgentRef<Counter>),
    /// `tell(..).await` (backpressure) into a larger mailbox.
    OursTellLarge(AgentRef<Counter>),
    /// `try_tell` into a larger mailbox; on `MailboxFull` the producer yields and retries.
    OursTryTell(AgentRef<Counter>),
    /// `cast` into ractor's unbounded mailbox.
    Ractor(ractor::ActorRef<RactorCounterMsg>),
    /// `tell(..).await` into a bounded kameo mailbox.
    Kameo(kameo::actor::ActorRef<KameoCounter>),
    /// `send(..).await` on a bounded `tokio::sync::mpsc` channel.
    Tokio(tokio::sync::mpsc::Sender<ChanMsg>),
}

/// Mailbox capacity used for the `try_tell` peer.
pub(crate) const LARGE_MAILBOX: usize = 65_536;
/// Capacity of the bounded kameo mailbox and tokio channel (the same as our default).
pub(crate) const PEER_CAPACITY: usize = ractor_agents::agent::DEFAULT_MAILBOX_CAPACITY;

impl Peer {
    /// Starts the peer named `which` (must run inside the runtime).
    pub(crate) async fn start(which: &str) -> Peer {
        match which {
            "ours-tell" => Peer::OursTell(ractor_agents::spawn("bench-tell", Counter::default()).await.expect("spawn")),
            "ours-tell-64k" => Peer::OursTellLarge(
                ractor_agents::spawn_with(
                    "bench-tell-large",
                    Counter::default(),
                    AgentOptions { mailbox_capacity: LARGE_MAILBOX },
                )
                .await
                .expect("spawn"),
            ),
            "ours-try_tell" => Peer::OursTryTell(
                ractor_agents::spawn_with(
                    "bench-try-tell",
                    Counter::default(),
                    AgentOptions { mailbox_capacity: LARGE_MAILBOX },
                )
                .await
                .expect("spawn"),
            ),
            "ractor" => {
                let (actor, _) = ractor::Actor::spawn(None, RactorCounter, ()).await.expect("spawn ractor");
                Peer::Ractor(actor)
            }
            "kameo" => {
                use kameo::actor::Spawn;
                Peer::Kameo(KameoCounter::spawn_with_mailbox((), kameo::mailbox::bounded(PEER_CAPACITY)))
            }
            "tokio" => {
                let (tx, mut rx) = tokio::sync::mpsc::channel::<ChanMsg>(PEER_CAPACITY);
                tokio::spawn(async move {
                    let mut count = 0u64;
                    while let Some(msg) = rx.recv().await {
                        match msg {
                            ChanMsg::Inc => count += 1,
                            ChanMsg::Get(reply) => {
                                let _ = reply.send(count);
                            }
                        }
                    }
                });
                Peer::Tokio(tx)
            }
            other => panic!("unknown peer {other}"),
        }
    }

    /// Sends `n` one-way messages, then asks for the count; returns the time until that answer
    /// (so every message has been handled) and the count.
    pub(crate) async fn one_way(&self, n: u64) -> (Duration, u64) {
        let start = Instant::now();
        match self {
            Peer::OursTell(agent) | Peer::OursTellLarge(agent) => {
                for _ in 0..n {
                    agent.tell(CounterMsg::Inc).await.expect("tell");
                }
            }
            Peer::OursTryTell(agent) => {
                let mut msg = CounterMsg::Inc;
                for _ in 0..n {
                    loop {
                        match agent.try_tell(msg) {
                            Ok(()) => break,
                            Err(TellError::MailboxFull { message, .. }) => {
                                msg = message;
                                tokio::task::yield_now().await;
                            }
                            Err(err) => panic!("try_tell: {err}"),
                        }
                    }
                    msg = CounterMsg::Inc;
                }
            }
            Peer::Ractor(actor) => {
                for _ in 0..n {
                    actor.cast(RactorCounterMsg::Inc).expect("cast");
                }
            }
            Peer::Kameo(actor) => {
                for _ in 0..n {
                    actor.tell(KInc).await.expect("kameo tell");
                }
            }
            Peer::Tokio(tx) => {
                for _ in 0..n {
                    tx.send(ChanMsg::Inc).await.expect("send");
                }
            }
        }
        let count = self.ask().await.expect("final ask");
        (start.elapsed(), count)
    }

    /// One ask (`None` if it failed).
    pub(crate) async fn ask(&self) -> Option<u64> {
        match self {
            Peer::OursTell(agent) | Peer::OursTellLarge(agent) | Peer::OursTryTell(agent) => {
                agent.call(CounterMsg::Get).deadline(ASK_DEADLINE).await.ok()
            }
            Peer::Ractor(actor) => match actor.call(RactorCounterMsg::Get, Some(ASK_DEADLINE)).await {
                Ok(ractor::rpc::CallResult::Success(n)) => Some(n),
                _ => None,
            },
            Peer::Kameo(actor) => actor.ask(KGet).await.ok(),
            Peer::Tokio(tx) => {
                let (reply, rx) = tokio::sync::oneshot::channel();
                tx.send(ChanMsg::Get(reply)).await.ok()?;
                rx.await.ok()
            }
        }
    }

    /// One ractor `call` without a timeout (only for the ractor peer).
    pub(crate) async fn ask_no_timeout(&self) -> Option<u64> {
        match self {
            Peer::Ractor(actor) => match actor.call(RactorCounterMsg::Get, None).await {
                Ok(ractor::rpc::CallResult::Success(n)) => Some(n),
                _ => None,
            },
            other => other.ask().await,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Workload 2: a fragile worker (counts `Work` in a counter that outlives incarnations, panics
// on `Poison`, answers `Ping` with its incarnation number).
// ---------------------------------------------------------------------------------------------

/// Counters shared by every incarnation of a fragile worker.
#[derive(Default, Debug)]
pub(crate) struct Shared {
    /// `Work` messages handled, over all incarnations.
    pub(crate) handled: AtomicU64,
    /// Incarnations started.
    pub(crate) incarnations: AtomicU64,
}

/// ractor-agents: the fragile worker.
pub(crate) struct Fragile {
    shared: Arc<Shared>,
    incarnation: u64,
}

impl Fragile {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        let incarnation = shared.incarnations.fetch_add(1, Ordering::Relaxed) + 1;
        Self { shared, incarnation }
    }
}

pub(crate) enum FragileMsg {
    Work,
    Poison,
    Ping(Reply<u64>),
}

impl Agent for Fragile {
    type Msg = FragileMsg;
    async fn handle(&mut self, _ctx: &Ctx<Self>, msg: FragileMsg) -> Result<(), AgentFailure> {
        match msg {
            FragileMsg::Work => {
                self.shared.handled.fetch_add(1, Ordering::Relaxed);
            }
            FragileMsg::Poison => panic!("poison"),
            FragileMsg::Ping(reply) => {
                reply.send(self.incarnation);
            }
        }
        Ok(())
    }
}

/// Raw ractor: the same fragile worker.
pub(crate) struct RactorFragile;

pub(crate) enum RactorFragileMsg {
    Work,
    Poison,
    Ping(ractor::RpcReplyPort<u64>),
}

impl ractor::Actor for RactorFragile {
    type Msg = RactorFragileMsg;
    type State = (Arc<Shared>, u64);
    type Arguments = Arc<Shared>;

    async fn pre_start(
        &self,
        _: ractor::ActorRef<Self::Msg>,
        shared: Arc<Shared>,
    ) -> Result<Self::State, ractor::ActorProcessingErr> {
        let incarnation = shared.incarnations.fetch_add(1, Ordering::Relaxed) + 1;
        Ok((shared, incarnation))
    }

    async fn handle(
        &self,
        _: ractor::ActorRef<Self::Msg>,
        msg: Self::Msg,
        (shared, incarnation): &mut Self::State,
    ) -> Result<(), ractor::ActorProcessingErr> {
        match msg {
            RactorFragileMsg::Work => {
                shared.handled.fetch_add(1, Ordering::Relaxed);
            }
            RactorFragileMsg::Poison => panic!("poison"),
            RactorFragileMsg::Ping(reply) => {
                let _ = reply.send(*incarnation);
            }
        }
        Ok(())
    }
}

/// The current incarnation of the hand-written ractor supervisor's child, published by the
/// supervisor: its generation number (1 for the first) and its `ActorRef`.
pub(crate) type RactorSlot = tokio::sync::watch::Receiver<(u64, ractor::ActorRef<RactorFragileMsg>)>;

/// A minimal hand-written ractor supervisor: spawns one linked child and respawns it whenever
/// it fails, publishing the new `ActorRef` on a `watch` channel. Callers must re-resolve the
/// ref after a failure: the old ref is dead and the messages queued in it are gone.
pub(crate) struct RactorSupervisor;

type Publish = tokio::sync::watch::Sender<(u64, ractor::ActorRef<RactorFragileMsg>)>;

impl ractor::Actor for RactorSupervisor {
    type Msg = ();
    type State = (Arc<Shared>, Publish);
    type Arguments = (Arc<Shared>, tokio::sync::oneshot::Sender<RactorSlot>);

    async fn pre_start(
        &self,
        myself: ractor::ActorRef<()>,
        (shared, ready): Self::Arguments,
    ) -> Result<Self::State, ractor::ActorProcessingErr> {
        let (child, _) = ractor::Actor::spawn_linked(None, RactorFragile, shared.clone(), myself.get_cell()).await?;
        let (publish, slot) = tokio::sync::watch::channel((1, child));
        let _ = ready.send(slot);
        Ok((shared, publish))
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ractor::ActorRef<()>,
        event: ractor::SupervisionEvent,
        (shared, publish): &mut Self::State,
    ) -> Result<(), ractor::ActorProcessingErr> {
        if let ractor::SupervisionEvent::ActorFailed(..) = event {
            let (child, _) =
                ractor::Actor::spawn_linked(None, RactorFragile, shared.clone(), myself.get_cell()).await?;
            publish.send_modify(|(generation, current)| {
                *generation += 1;
                *current = child;
            });
        }
        Ok(())
    }
}

/// The hand-written supervisor's current child.
pub(crate) fn resolve(slot: &RactorSlot) -> (u64, ractor::ActorRef<RactorFragileMsg>) {
    slot.borrow().clone()
}

/// After a failed send or call to generation `failed`: waits until the supervisor has published
/// a newer child, and returns it (what a careful caller of raw ractor has to do).
pub(crate) async fn re_resolve(slot: &mut RactorSlot, failed: u64) -> (u64, ractor::ActorRef<RactorFragileMsg>) {
    slot.wait_for(|(generation, _)| *generation > failed).await.expect("supervisor alive").clone()
}

/// kameo: the same fragile worker (state rebuilt by kameo's supervisor from `Args`).
pub(crate) struct KameoFragile {
    shared: Arc<Shared>,
    incarnation: u64,
}

pub(crate) struct KWork;
pub(crate) struct KPoison;
pub(crate) struct KPing;

impl kameo::Actor for KameoFragile {
    type Args = Arc<Shared>;
    type Error = kameo::error::Infallible;
    async fn on_start(shared: Arc<Shared>, _: kameo::actor::ActorRef<Self>) -> Result<Self, Self::Error> {
        let incarnation = shared.incarnations.fetch_add(1, Ordering::Relaxed) + 1;
        Ok(Self { shared, incarnation })
    }
}

impl kameo::message::Message<KWork> for KameoFragile {
    type Reply = ();
    async fn handle(&mut self, _: KWork, _: &mut kameo::message::Context<Self, ()>) {
        self.shared.handled.fetch_add(1, Ordering::Relaxed);
    }
}

impl kameo::message::Message<KPoison> for KameoFragile {
    type Reply = ();
    async fn handle(&mut self, _: KPoison, _: &mut kameo::message::Context<Self, ()>) {
        panic!("poison");
    }
}

impl kameo::message::Message<KPing> for KameoFragile {
    type Reply = u64;
    async fn handle(&mut self, _: KPing, _: &mut kameo::message::Context<Self, u64>) -> u64 {
        self.incarnation
    }
}

/// kameo's supervisor: a parent actor whose children are started with `supervise`.
pub(crate) struct KameoSupervisor;

impl kameo::Actor for KameoSupervisor {
    type Args = ();
    type Error = kameo::error::Infallible;
    async fn on_start(_: (), _: kameo::actor::ActorRef<Self>) -> Result<Self, Self::Error> {
        Ok(Self)
    }
}

/// Starts a kameo supervisor with one fragile child (same mailbox capacity as ours).
pub(crate) async fn start_kameo_fragile(
    shared: Arc<Shared>,
) -> (kameo::actor::ActorRef<KameoSupervisor>, kameo::actor::ActorRef<KameoFragile>) {
    use kameo::actor::Spawn;
    let supervisor = KameoSupervisor::spawn(());
    let child = KameoFragile::supervise(&supervisor, shared)
        .restart_limit(u32::MAX, Duration::from_secs(1))
        .spawn_with_mailbox(kameo::mailbox::bounded(PEER_CAPACITY))
        .await;
    (supervisor, child)
}

/// Starts our supervisor with one fragile child; returns the root and the child's handle.
pub(crate) async fn start_ours_fragile(shared: Arc<Shared>) -> (SupervisorRef, AgentRef<Fragile>) {
    let root = Supervisor::new("bench-root", Strategy::OneForOne)
        .intensity(u32::MAX, Duration::from_secs(1))
        .child(ChildSpec::agent("fragile", move || Fragile::new(shared.clone())))
        .start()
        .await
        .expect("start supervisor");
    let agent = root.agent::<Fragile>("fragile").expect("fragile child");
    (root, agent)
}

/// Starts the hand-written ractor supervisor; returns it and the slot with its current child.
pub(crate) async fn start_ractor_fragile(shared: Arc<Shared>) -> (ractor::ActorRef<()>, RactorSlot) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let (sup, _) = ractor::Actor::spawn(None, RactorSupervisor, (shared, tx)).await.expect("spawn supervisor");
    (sup, rx.await.expect("slot"))
}

/// Median of a non-empty list.
pub(crate) fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
