//! Behaviour of the code `#[agent]` generates, driven through real agents.
//!
//! Most agent types here are private, the common case. The `deny`s make a generated item left
//! undocumented, or a lint the expansion should silence, fail this test's build; they bite on
//! the message enums (always `pub`) and on `Exported`, whose handle is `pub` too.
#![deny(missing_docs, private_interfaces, private_bounds)]
// A failed unwrap is a failed test, with the error in the panic message.
#![allow(clippy::unwrap_used)]

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use ractor_agents::prelude::*;
use tokio::sync::oneshot;

const DEADLINE: Duration = Duration::from_secs(2);

/// An error with `Display`, as `record_handler_error` and `AgentFailure::fatal` need.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Refused(String);

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "refused: {}", self.0)
    }
}

/// The main test agent: one handler of every shape.
#[derive(Default)]
struct Counter {
    total: u64,
}

#[agent]
impl Counter {
    /// Adds `n` and answers the new total.
    async fn add(&mut self, n: u64) -> u64 {
        self.total += n;
        self.total
    }

    /// Answers the total.
    async fn get(&self) -> u64 {
        self.total
    }

    /// Sums a vector into the total, answering nothing.
    async fn add_all(&mut self, mut values: Vec<u64>) {
        values.retain(|v| *v > 0);
        self.total += values.iter().sum::<u64>();
    }

    /// Answers the agent's name and incarnation, seen through the context.
    async fn whoami(&self, ctx: &Ctx<Self>) -> (String, u64) {
        (ctx.name().to_owned(), ctx.incarnation())
    }

    /// Parses `text`; a bad number is answered as `Err` and the agent keeps running.
    async fn parse_add(&mut self, ctx: &Ctx<Counter>, text: String) -> Result<u64, Refused> {
        let _ = ctx;
        let n: u64 = text.parse().map_err(|_| Refused(text.clone()))?;
        self.total += n;
        Ok(self.total)
    }

    /// Takes another counter by value: `Self` in a parameter means the agent type, also in
    /// the generated enum and handle where `Self` would mean something else.
    async fn absorb(&mut self, other: Box<Self>) -> u64 {
        self.total += other.total;
        self.total
    }

    /// Waits until `gate` opens, telling `started` when it begins: keeps the agent busy.
    async fn block(&mut self, started: oneshot::Sender<()>, gate: oneshot::Receiver<()>) {
        let _ = started.send(());
        let _ = gate.await;
    }

    /// A raw identifier: the variant is `Type`, the message name `type`.
    async fn r#type(&self) -> &'static str {
        "counter"
    }

    /// Compiled out: if the `cfg` were not carried to the variant, the match arm and the
    /// handle method, the expansion would call a method that does not exist.
    #[cfg(any())]
    async fn never(&mut self) {}
}

async fn spawn_counter(name: &str) -> CounterRef {
    ractor_agents::spawn(name.to_owned(), Counter::default()).await.expect("spawn").into()
}

#[tokio::test]
async fn ask_tell_and_try_tell_through_the_handle() {
    let counter = spawn_counter("counter").await;
    assert_eq!(counter.add(2).await.unwrap(), 2);
    counter.add(3).tell().await.unwrap();
    counter.add(4).try_tell().unwrap();
    counter.add_all(vec![10, 0, 20]).tell().await.unwrap();
    assert_eq!(counter.get().deadline(DEADLINE).await.unwrap(), 39);
    let other = Box::new(Counter { total: 1 });
    assert_eq!(counter.absorb(other).await.unwrap(), 40);
    assert_eq!(counter.r#type().await.unwrap(), "counter");
}

#[tokio::test]
async fn the_handle_is_an_agent_ref() {
    let counter = spawn_counter("named").await;
    // Deref reaches the AgentRef methods.
    assert_eq!(counter.name(), "named");
    assert!(!counter.is_closed());
    assert_eq!(format!("{counter:?}"), r#"CounterRef { name: "named" }"#);

    let raw: AgentRef<Counter> = counter.clone().into();
    assert!(raw.same_agent(counter.agent_ref()));
    let again = CounterRef::from_agent_ref(raw.clone());
    again.add(5).await.unwrap();
    // The raw handle takes the generated messages.
    let total = raw.call(|reply| CounterMsg::Get { reply }).deadline(DEADLINE).await.unwrap();
    assert_eq!(total, 5);

    counter.stop().await;
}

#[tokio::test]
async fn try_tell_refuses_when_the_mailbox_is_full_and_hands_the_message_back() {
    let options = AgentOptions { mailbox_capacity: 2 };
    let counter: CounterRef = ractor_agents::spawn_with("full", Counter::default(), options).await.unwrap().into();
    let (started_tx, started_rx) = oneshot::channel();
    let (gate_tx, gate_rx) = oneshot::channel();
    counter.block(started_tx, gate_rx).tell().await.unwrap();
    started_rx.await.unwrap();

    // The agent is stuck in `block`: the mailbox fills up, whatever it counts exactly.
    let mut accepted = 0;
    let mut refused = None;
    for n in 100..110 {
        match counter.add(n).try_tell() {
            Ok(()) => accepted += n,
            Err(TellError::MailboxFull { message: CounterMsg::Add { n: back, .. }, .. }) => {
                refused = Some((n, back));
                break;
            }
            Err(other) => panic!("expected MailboxFull, got {other:?}"),
        }
    }
    let (sent, back) = refused.expect("a bounded mailbox refuses at some point");
    assert_eq!(back, sent, "the refused message is handed back");
    assert!(accepted <= 100 + 101, "at most 2 messages fit, accepted a total of {accepted}");
    gate_tx.send(()).unwrap();
    assert_eq!(counter.get().deadline(DEADLINE).await.unwrap(), accepted);
}

#[tokio::test]
async fn handlers_get_the_context() {
    let counter = spawn_counter("ctx-user").await;
    assert_eq!(counter.whoami().await.unwrap(), ("ctx-user".to_owned(), 1));
}

#[tokio::test]
async fn an_err_is_answered_counted_and_the_agent_keeps_running() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    // Counter handles are resolved when the mailbox is built, which `ChildSpec::agent` does
    // at once: building it under a local recorder routes this agent's metrics there.
    let spec = metrics::with_local_recorder(&recorder, || ChildSpec::agent("c", Counter::default));
    let root = Supervisor::new("errors", Strategy::OneForOne).child(spec).start().await.unwrap();
    let counter: CounterRef = root.get("c").unwrap();

    assert_eq!(counter.parse_add("2".into()).await.unwrap(), Ok(2));
    assert_eq!(counter.parse_add("two".into()).await.unwrap(), Err(Refused("two".into())));
    assert_eq!(counter.parse_add("3".into()).deadline(DEADLINE).await.unwrap(), Ok(5));
    assert_eq!(counter.whoami().await.unwrap().1, 1, "a handler error must not restart the agent");

    let errors: u64 = snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .filter(|(key, ..)| key.key().name() == "ractor_agents_agent_handler_errors_total")
        .map(|(.., value)| match value {
            DebugValue::Counter(n) => n,
            other => panic!("not a counter: {other:?}"),
        })
        .sum();
    assert_eq!(errors, 1);
    root.stop().await;
}

/// A store whose writes fail fatally on a bad value.
#[derive(Default)]
struct Store {
    values: Vec<String>,
}

#[agent]
impl Store {
    /// Stores `value`; an empty one is a fatal error.
    #[handler(fatal)]
    async fn put(&mut self, value: String) -> Result<usize, Refused> {
        if value.is_empty() {
            return Err(Refused("empty value".into()));
        }
        self.values.push(value);
        Ok(self.values.len())
    }

    /// A non-fatal error, for contrast.
    #[handler]
    async fn check(&self, value: String) -> Result<(), Refused> {
        if value.is_empty() { Err(Refused("empty".into())) } else { Ok(()) }
    }

    /// How many values, and which incarnation answers.
    async fn stats(&self, ctx: &Ctx<Self>) -> (usize, u64) {
        (self.values.len(), ctx.incarnation())
    }
}

#[tokio::test]
async fn a_fatal_err_is_answered_then_the_agent_fails_and_is_restarted() {
    let root =
        Supervisor::new("s", Strategy::OneForOne).child(ChildSpec::agent("c", Store::default)).start().await.unwrap();
    let store = root.get::<StoreRef>("c").unwrap();
    assert_eq!(store.put("a".into()).await.unwrap(), Ok(1));
    assert_eq!(store.check(String::new()).await.unwrap(), Err(Refused("empty".into())));
    assert_eq!(store.stats().await.unwrap(), (1, 1), "a non-fatal error does not restart");

    // The asker gets the handler's own `Err`, not a `NoReply` from the crash.
    assert_eq!(store.put(String::new()).await.unwrap(), Err(Refused("empty value".into())));
    // The next ask waits in the mailbox and is answered by a fresh incarnation.
    assert_eq!(store.stats().deadline(DEADLINE).await.unwrap(), (0, 2));
    let children = root.children().await.unwrap();
    assert_eq!(children.len(), 1);
    assert_eq!(children[0].restarts, 1);
    root.stop().await;
}

/// Records its lifecycle into a shared log.
struct Lifecycle {
    log: Arc<Mutex<Vec<String>>>,
    ready: bool,
    fail_start: bool,
}

#[agent]
impl Lifecycle {
    /// Whether `on_start` ran before this first message.
    async fn ready(&self) -> bool {
        self.ready
    }

    #[on_start]
    async fn init(&mut self, ctx: &Ctx<Self>) -> Result<(), AgentFailure> {
        self.log.lock().unwrap().push(format!("start {} #{}", ctx.name(), ctx.incarnation()));
        if self.fail_start {
            return Err(AgentFailure::new("no database"));
        }
        self.ready = true;
        Ok(())
    }

    #[on_stop]
    async fn shutdown(&mut self) {
        self.log.lock().unwrap().push("stop".to_owned());
    }
}

#[tokio::test]
async fn on_start_and_on_stop_hooks_run() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let agent = Lifecycle { log: log.clone(), ready: false, fail_start: false };
    let handle: LifecycleRef = ractor_agents::spawn("life", agent).await.unwrap().into();
    assert!(handle.ready().await.unwrap());
    handle.stop().await;
    assert_eq!(*log.lock().unwrap(), ["start life #1", "stop"]);
}

#[tokio::test]
async fn an_on_start_error_fails_the_start() {
    let log = Arc::new(Mutex::new(Vec::new()));
    let agent = Lifecycle { log: log.clone(), ready: false, fail_start: true };
    let error = ractor_agents::spawn("broken", agent).await.expect_err("on_start failed");
    let SpawnError::StartFailed { reason, .. } = &error;
    assert!(reason.contains("no database"), "{error}");
    assert_eq!(*log.lock().unwrap(), ["start broken #1"], "on_stop does not run after a failed start");
}

#[test]
fn message_names_and_variants() {
    let name = |msg: CounterMsg| <Counter as Agent>::message_name(&msg);
    assert_eq!(name(CounterMsg::Add { n: 1, reply: Reply::detached() }), "add");
    assert_eq!(name(CounterMsg::Get { reply: Reply::detached() }), "get");
    assert_eq!(name(CounterMsg::AddAll { values: vec![], reply: Reply::detached() }), "add_all");
    assert_eq!(name(CounterMsg::Whoami { reply: Reply::detached() }), "whoami");
    assert_eq!(name(CounterMsg::ParseAdd { text: String::new(), reply: Reply::detached() }), "parse_add");
    assert_eq!(name(CounterMsg::Type { reply: Reply::detached() }), "type");
    let put = StoreMsg::Put { value: String::new(), reply: Reply::detached() };
    assert_eq!(<Store as Agent>::message_name(&put), "put");
}

/// The handle is private by default: without `vis`, the test below could not name it from
/// outside this module.
mod restricted {
    use ractor_agents::prelude::*;

    /// An agent whose generated items are `pub(crate)`.
    #[derive(Default)]
    pub(crate) struct Hidden;

    #[agent(vis = pub(crate))]
    impl Hidden {
        /// Answers 42.
        async fn answer(&self) -> u32 {
            42
        }
    }
}

#[tokio::test]
async fn vis_sets_the_visibility_of_generated_items() {
    let hidden: restricted::HiddenRef = ractor_agents::spawn("hidden", restricted::Hidden).await.unwrap().into();
    assert_eq!(hidden.answer().await.unwrap(), 42);
}

/// No handlers at all. The expansion must still compile (an empty message enum).
struct Idle;

#[agent]
impl Idle {}

#[tokio::test]
async fn an_agent_without_handlers_still_runs() {
    let idle: IdleRef = ractor_agents::spawn("idle", Idle).await.unwrap().into();
    assert_eq!(idle.name(), "idle");
    idle.stop().await;
}

/// A public agent with public generated items (`vis = pub`).
#[derive(Default)]
pub struct Exported;

#[agent(vis = pub)]
impl Exported {
    async fn undocumented(&self, refused: Refused) -> String {
        refused.0
    }

    /// Documented.
    async fn documented(&self) {}
}

#[tokio::test]
async fn public_generated_items_work() {
    let exported: ExportedRef = ractor_agents::spawn("exported", Exported).await.unwrap().into();
    assert_eq!(exported.undocumented(Refused("x".into())).await.unwrap(), "x");
    exported.documented().await.unwrap();
}

/// A public agent with the default visibility: the message enum must be `pub` for its
/// `Agent` impl to compile; the handle is private.
#[derive(Default)]
pub struct PublicDefault;

#[agent]
impl PublicDefault {
    /// Answers its argument.
    async fn echo(&self, n: i32) -> i32 {
        n
    }
}

#[tokio::test]
async fn a_public_agent_with_the_default_visibility_works() {
    let agent: PublicDefaultRef = ractor_agents::spawn("public", PublicDefault).await.unwrap().into();
    assert_eq!(agent.echo(-3).await.unwrap(), -3);
}

/// `Send` but not `Sync`: fine with `&mut self` handlers, which only need the agent `Send`.
#[derive(Default)]
struct Unshared {
    hits: std::cell::Cell<u64>,
}

#[agent]
impl Unshared {
    /// Counts a hit and answers the count.
    async fn hit(&mut self, ctx: &Ctx<Self>) -> u64 {
        self.hits.set(self.hits.get() + ctx.incarnation());
        self.hits.get()
    }
}

#[tokio::test]
async fn an_agent_that_is_not_sync_works_with_mut_self_handlers() {
    let unshared: UnsharedRef = ractor_agents::spawn("unshared", Unshared::default()).await.unwrap().into();
    unshared.hit().tell().await.unwrap();
    assert_eq!(unshared.hit().await.unwrap(), 2);
}
