//! A probe agent that records its lifecycle into a shared log, for supervision tests.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used)]

pub mod metrics;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ractor_agents::prelude::*;

/// A shared, ordered log of lifecycle events such as `start:a:1` and `stop:a`.
#[derive(Clone, Default)]
pub struct Log {
    events: Arc<Mutex<Vec<String>>>,
    live: Arc<AtomicUsize>,
}

impl Log {
    pub fn push(&self, event: String) {
        self.events.lock().unwrap().push(event);
    }
    pub fn events(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.events.lock().unwrap())
    }
    /// Probe agents currently alive (constructed and not yet dropped), whatever killed them.
    pub fn live(&self) -> usize {
        self.live.load(Ordering::SeqCst)
    }
    pub fn count(&self, prefix: &str) -> usize {
        self.events().iter().filter(|e| e.starts_with(prefix)).count()
    }
}

pub enum ProbeMsg {
    /// Answers with the incarnation number.
    Ping(Reply<u64>),
    /// Panics in the handler.
    Panic,
    /// Returns a fatal error from the handler.
    Fail,
    /// Stops normally.
    Exit,
    /// Sleeps in the handler (a handler that ignores stop requests while it sleeps).
    Sleep(Duration),
}

pub struct Probe {
    id: &'static str,
    log: Log,
    fail_start: bool,
}

impl Probe {
    pub fn factory(id: &'static str, log: &Log) -> impl Fn() -> Probe + Send + Sync + 'static {
        let log = log.clone();
        move || {
            log.live.fetch_add(1, Ordering::SeqCst);
            Probe { id, log: log.clone(), fail_start: false }
        }
    }
    pub fn failing_start(id: &'static str, log: &Log) -> impl Fn() -> Probe + Send + Sync + 'static {
        let log = log.clone();
        move || {
            log.live.fetch_add(1, Ordering::SeqCst);
            Probe { id, log: log.clone(), fail_start: true }
        }
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.log.live.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Agent for Probe {
    type Msg = ProbeMsg;

    async fn on_start(&mut self, ctx: &Ctx<Self>) -> Result<(), AgentFailure> {
        if self.fail_start {
            return Err(AgentFailure::new("refusing to start"));
        }
        self.log.push(format!("start:{}:{}", self.id, ctx.incarnation()));
        Ok(())
    }

    async fn on_stop(&mut self, _ctx: &Ctx<Self>) {
        self.log.push(format!("stop:{}", self.id));
    }

    async fn handle(&mut self, ctx: &Ctx<Self>, msg: ProbeMsg) -> Result<(), AgentFailure> {
        match msg {
            ProbeMsg::Ping(reply) => {
                reply.send(ctx.incarnation());
            }
            ProbeMsg::Panic => panic!("probe {} told to panic", self.id),
            ProbeMsg::Fail => return Err(AgentFailure::new("told to fail")),
            ProbeMsg::Exit => ctx.stop(),
            ProbeMsg::Sleep(d) => tokio::time::sleep(d).await,
        }
        Ok(())
    }
}

/// Asks a probe for its incarnation with a generous deadline.
pub async fn ping(agent: &AgentRef<Probe>) -> Result<u64, AskError> {
    agent.call(ProbeMsg::Ping).deadline(Duration::from_secs(10)).await
}

/// Waits (polling, bounded) until `cond` holds.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..2000 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    panic!("timed out waiting for: {what}");
}
