//! Handlers and helpers for the pool tests.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use ractor_agents::pool::{Job, JobOutcome, JobReceipt, PoolRef, TaskHandler, TaskInput};
use ractor_agents::tasks::{Nack, Payload};
use tokio::sync::Semaphore;

/// A generous bound for anything the tests wait for.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// What the workers of a test did: which worker ran which payload, in order.
#[derive(Clone, Default)]
pub struct Log {
    runs: Arc<Mutex<Vec<(u64, String)>>>,
    workers_built: Arc<AtomicU64>,
}

impl Log {
    pub fn runs(&self) -> Vec<(u64, String)> {
        self.runs.lock().unwrap().clone()
    }
    /// The worker that ran `payload` (the last time it ran).
    pub fn worker_of(&self, payload: &str) -> Option<u64> {
        self.runs().iter().rev().find(|(_, p)| p == payload).map(|(w, _)| *w)
    }
}

/// A handler whose behaviour is in the payload:
/// `block…` waits for a permit of the gate, `panic…` panics, `fail…` nacks, anything else
/// echoes. Every run is logged with the worker's number (the order the factory built it).
pub struct Scripted {
    worker: u64,
    log: Log,
    gate: Arc<Semaphore>,
    capabilities: Vec<Arc<str>>,
}

impl TaskHandler for Scripted {
    async fn handle(&mut self, task: &TaskInput) -> Result<Payload, Nack> {
        let text = String::from_utf8(task.payload.as_bytes().to_vec()).unwrap();
        self.log.runs.lock().unwrap().push((self.worker, text.clone()));
        if text.starts_with("block") {
            self.gate.acquire().await.unwrap().forget();
        }
        if text.starts_with("panic") {
            panic!("simulated crash on {text}");
        }
        if text.starts_with("fail") {
            return Err(Nack::transient(format!("failed {text}")));
        }
        Ok(task.payload.clone())
    }

    fn capabilities(&self) -> Vec<Arc<str>> {
        self.capabilities.clone()
    }
}

/// A factory of [`Scripted`] handlers sharing one log and one gate (closed: no permits).
/// `capabilities(n)` gives the n-th built worker its capabilities.
pub fn scripted(
    log: &Log,
    gate: &Arc<Semaphore>,
    capabilities: impl Fn(u64) -> Vec<&'static str> + Send + Sync + 'static,
) -> impl Fn() -> Scripted + Send + Sync + 'static {
    let (log, gate) = (log.clone(), gate.clone());
    move || {
        let worker = log.workers_built.fetch_add(1, Ordering::SeqCst);
        let capabilities = capabilities(worker).into_iter().map(Arc::from).collect();
        Scripted { worker, log: log.clone(), gate: gate.clone(), capabilities }
    }
}

pub fn closed_gate() -> Arc<Semaphore> {
    Arc::new(Semaphore::new(0))
}

/// A job running `payload`, and its receipt.
pub fn job(payload: &str) -> (Job, JobReceipt) {
    Job::with_receipt(TaskInput::new("test", payload))
}

/// Submits `payload` (backpressure) and returns its receipt.
pub async fn submit(pool: &PoolRef, payload: &str) -> JobReceipt {
    let (job, receipt) = job(payload);
    pool.submit(job).await.unwrap();
    receipt
}

/// Awaits a receipt, within [`PATIENCE`].
pub async fn outcome(receipt: JobReceipt) -> JobOutcome {
    tokio::time::timeout(PATIENCE, receipt).await.expect("the job ended")
}

/// Polls `future` once: `Pending` if it had to wait.
pub async fn poll_once<F: std::future::Future>(future: std::pin::Pin<&mut F>) -> std::task::Poll<F::Output> {
    let mut future = Some(future);
    std::future::poll_fn(|cx| std::task::Poll::Ready(future.take().unwrap().poll(cx))).await
}

/// Waits (polling, bounded) until `cond` holds.
pub async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// Keeps simulated crashes from printing a panic message and backtrace each (slow under
/// RUST_BACKTRACE=1); other panics print as usual.
pub fn quiet_simulated_crashes() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or("");
            if !message.starts_with("simulated crash") {
                default(info);
            }
        }));
    });
}
