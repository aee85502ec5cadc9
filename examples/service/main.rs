//! The service: tasks flow from a producer through a durable queue to two supervised worker
//! pools, on embedded defaults (no external service), and resume after a restart.
//!
//! ```text
//!            submit_batch (idempotency key doc-N)          ┌ pool "analyze" (4-32 workers)┐
//! producer ─────────────────────▶ DurableStore ◀─lease─ Coordinator ─▶│ word statistics, summary  │──▶ LLM chain
//!  (cursor file)                  (data dir,     ──────▶ dispatchers   │ (LLM); enqueues an "index"│   primary ▸ backup
//!                                  journal)                            │ task per doc              │
//!                                                                      └───────────────────────────┘
//!                                     ▲                                ┌ pool "index" (2 workers) ┐
//!                                     └──── index-N tasks ────────────▶│ totals per top word      │
//!                                                                      └──────────────────────────┘
//! ```
//!
//! One document in 97 makes its analyzer panic on the first attempt (a flaky bug): the task
//! goes back to the queue with its attempt counted, the pool's supervisor restarts the worker,
//! and the retry succeeds. One in 499 is poisoned for good: after 3 attempts it is
//! dead-lettered. Stop it (Ctrl-C, or `--run-for N`) and start it again: tasks left in the
//! queue are done, and the producer continues where it stopped (documents it may have sent
//! twice are deduplicated by their idempotency key).
//!
//! Each analyzer also asks a language model for a one-sentence summary of its document,
//! through a chain of two providers, each behind its own retry and circuit breaker
//! ([`summary_chain`]). Offline (the default) both are simulated, and every 10 s the primary has
//! a 2 s outage (HTTP 503s) and the backup half a second of its own inside it: the report shows
//! the primary's breaker opening, the backup answering, and, while both are down, documents
//! analyzed without a summary ("degraded": the pipeline does not wait for the model).
//!
//! Run: `cargo run --example service` (`-- --run-for 10` stops by itself after 10 s;
//! `--data-dir DIR` or `RACTOR_AGENTS_DATA_DIR` chooses where the queue lives, default
//! `./data/service`).
//!
//! With a real OpenAI-compatible endpoint as the primary (the simulated backup stays):
//! `RACTOR_AGENTS_LLM_BASE_URL=http://localhost:11434/v1 RACTOR_AGENTS_LLM_MODEL=llama3.2 cargo
//! run --features llm-http --example service` (see the README for the other variables). The
//! producer then sends 1 document a second, not thousands: each one is a paid (or GPU-bound)
//! model call, and providers rate-limit. `RACTOR_AGENTS_LLM_RPS` sets the documents per second
//! (offline too; unset offline means as fast as the producer goes, ~2,000 a second).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod llm;

use llm::{Summaries, summary_chain};
use ractor_agents::dispatch::Coordinator;
use ractor_agents::llm::provider_from_env;
use ractor_agents::pool::{AutoscalePolicy, PoolSpec, TaskHandler, TaskInput};
use ractor_agents::prelude::*;
use ractor_agents::tasks::{DurableStore, Nack, Payload, RetryPolicy, Task, TaskStatus, TaskStore};
use serde::{Deserialize, Serialize};

/// One document in this many panics its analyzer on the first attempt.
const FLAKY_EVERY: u64 = 97;
/// One document in this many panics it on every attempt (dead-lettered after 3).
const POISON_EVERY: u64 = 499;
const WORDS: &[&str] =
    &["agent", "actor", "supervisor", "mailbox", "restart", "trace", "deadline", "queue", "pool", "breaker"];

#[derive(Serialize, Deserialize)]
struct Document {
    id: u64,
    text: String,
}

#[derive(Serialize, Deserialize)]
struct Analysis {
    doc: u64,
    words: usize,
    top_word: String,
    /// The model's one-sentence summary; `None` when no provider could answer (degraded).
    /// (`default`: analyses journaled by earlier versions of this example have neither field.)
    #[serde(default)]
    summary: Option<String>,
    /// The provider that wrote the summary.
    #[serde(default)]
    summarized_by: Option<String>,
}

/// Computes word statistics and asks for a summary, then enqueues the document's "index" task.
struct Analyzer {
    store: Arc<dyn TaskStore>,
    summaries: Arc<Summaries>,
}

impl TaskHandler for Analyzer {
    async fn handle(&mut self, task: &TaskInput) -> Result<Payload, Nack> {
        let doc: Document = task.payload.decode().map_err(|e| Nack::permanent(e.to_string()))?;
        if doc.id % POISON_EVERY == POISON_EVERY - 1 || (doc.id.is_multiple_of(FLAKY_EVERY) && task.attempt == 1) {
            panic!("analyzer hit a bad document {}", doc.id);
        }
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for word in doc.text.split_whitespace() {
            *counts.entry(word).or_default() += 1;
        }
        let top_word = counts.iter().max_by_key(|(w, n)| (**n, *w)).map(|(w, _)| w.to_string()).unwrap_or_default();
        // Degrades rather than fails: without a summary the document is still analyzed.
        let answer = self.summaries.summarize(&doc.text).await;
        let analysis = Analysis {
            doc: doc.id,
            words: doc.text.split_whitespace().count(),
            top_word,
            summarized_by: answer.as_ref().map(|a| a.provider.clone()),
            summary: answer.map(|a| a.content),
        };
        // Same key on a retry: the follow-up is enqueued once however often this runs.
        let index = Task::json("index", &analysis)
            .map_err(|e| Nack::permanent(e.to_string()))?
            .idempotency_key(format!("index-{}", doc.id));
        self.store.enqueue(index).await.map_err(|e| Nack::transient(e.to_string()))?;
        Payload::json(&analysis).map_err(|e| Nack::permanent(e.to_string()))
    }
}

/// Keeps totals per top word (in memory: this run's share).
#[derive(Default)]
struct Totals {
    documents: u64,
    /// Documents indexed with a summary (the rest were analyzed while no model answered).
    summarized: u64,
    words: u64,
    top_words: HashMap<String, u64>,
}

struct Indexer {
    totals: Arc<Mutex<Totals>>,
}

impl TaskHandler for Indexer {
    async fn handle(&mut self, task: &TaskInput) -> Result<Payload, Nack> {
        let analysis: Analysis = task.payload.decode().map_err(|e| Nack::permanent(e.to_string()))?;
        let mut totals = self.totals.lock().unwrap_or_else(|e| e.into_inner());
        totals.documents += 1;
        totals.summarized += u64::from(analysis.summary.is_some());
        totals.words += analysis.words as u64;
        *totals.top_words.entry(analysis.top_word).or_default() += 1;
        Ok(Payload::default())
    }
}

fn document(id: u64) -> Document {
    // A cheap deterministic generator: the same id always gives the same text.
    let mut x = id.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let len = 5 + (x % 35) as usize;
    let words: Vec<&str> = (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            WORDS[(x % WORDS.len() as u64) as usize]
        })
        .collect();
    Document { id, text: words.join(" ") }
}

struct Args {
    run_for: Option<Duration>,
    data_dir: PathBuf,
}

/// The environment variable capping the documents the producer sends per second.
const ENV_RPS: &str = "RACTOR_AGENTS_LLM_RPS";

/// Documents per second from [`ENV_RPS`]; unset: `default`. `None`: as fast as the producer goes.
fn docs_per_sec(default: Option<f64>) -> Result<Option<f64>, String> {
    match std::env::var(ENV_RPS) {
        Ok(value) => match value.trim().parse::<f64>() {
            Ok(rps) if rps.is_finite() && rps > 0.0 => Ok(Some(rps)),
            _ => Err(format!("{ENV_RPS}=`{value}`: give a positive number of documents per second, e.g. 1 or 0.5")),
        },
        Err(_) => Ok(default),
    }
}

fn args() -> Args {
    let args: Vec<String> = std::env::args().collect();
    let value = |flag: &str| args.iter().position(|a| a == flag).and_then(|i| args.get(i + 1)).cloned();
    let data_dir = value("--data-dir")
        .or_else(|| std::env::var("RACTOR_AGENTS_DATA_DIR").ok())
        .unwrap_or_else(|| "data/service".into());
    Args {
        run_for: value("--run-for").and_then(|s| s.parse().ok()).map(Duration::from_secs),
        data_dir: data_dir.into(),
    }
}

/// The producer's position, written after each acknowledged batch (then renamed into place,
/// so a crash leaves the old or the new value, never half of one).
fn read_cursor(dir: &Path) -> u64 {
    std::fs::read_to_string(dir.join("producer.cursor")).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0)
}

fn write_cursor(dir: &Path, next: u64) -> std::io::Result<()> {
    let tmp = dir.join("producer.cursor.tmp");
    std::fs::write(&tmp, next.to_string())?;
    std::fs::rename(tmp, dir.join("producer.cursor"))
}

#[tokio::main]
async fn main() {
    if let Err(e) = run().await {
        // In words: returning the error from `main` would print its `Debug` form.
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    // Analyzers crash on purpose; the report counts them (RUST_LOG=info shows each exit and
    // restart the pool's supervisor logs).
    std::panic::set_hook(Box::new(|_| {}));
    tracing_subscriber::fmt()
        .with_env_filter(
            std::env::var("RUST_LOG").unwrap_or_else(|_| "warn,ractor_agents::supervisor::children=error".into()),
        )
        .with_ansi(std::io::stdout().is_terminal())
        .with_target(false)
        .compact()
        .init();
    let args = args();
    // A configured endpoint without the `llm-http` feature is an error, not a quiet simulation.
    let real = provider_from_env()?;
    // A real endpoint gets 1 document a second unless told otherwise: every document is a model
    // call that costs money or GPU time, and providers rate-limit.
    let rps = docs_per_sec(real.is_some().then_some(1.0))?;
    std::fs::create_dir_all(&args.data_dir)?;
    let store: Arc<dyn TaskStore> = Arc::new(DurableStore::open(args.data_dir.join("queue"))?);
    let before = store.counts().await?;
    let cursor = read_cursor(&args.data_dir);
    println!(
        "service started on {}: queue holds {} pending, {} leased, {} succeeded, {} dead-lettered; producer continues at document {cursor}",
        args.data_dir.display(),
        before.status(TaskStatus::Pending),
        before.status(TaskStatus::Leased) + before.status(TaskStatus::Running),
        before.status(TaskStatus::Succeeded),
        before.status(TaskStatus::DeadLettered),
    );

    let summaries = Arc::new(summary_chain(real)?);
    println!(
        "summaries by {} (falling back to the simulated backup); producer: {}",
        summaries.primary(),
        rps.map_or_else(|| "as fast as it goes".to_owned(), |r| format!("{r} documents a second ({ENV_RPS})")),
    );

    let totals = Arc::new(Mutex::new(Totals::default()));
    let (analyzer_store, analyzer_summaries) = (store.clone(), summaries.clone());
    let indexer_totals = totals.clone();
    // Every agent of the tree (pool workers included) registers here under its path, and is
    // marked Failed the moment it crashes, Available again once restarted.
    let registry = AgentRegistry::new();
    let root = Supervisor::new("service", Strategy::OneForOne)
        .registry(registry.clone())
        .child(ChildSpec::pool(
            // Each analysis waits for a model call: more workers when the queue backs up.
            PoolSpec::new("analyze", 4..=32, move || Analyzer {
                store: analyzer_store.clone(),
                summaries: analyzer_summaries.clone(),
            })
            .autoscale(AutoscalePolicy {
                backlog_per_worker: Some(64),
                scale_up_cooldown: Duration::from_secs(1),
                ..AutoscalePolicy::default()
            })
            // The crashes are planned: 1 document in 97 once, 1 in 499 three times — about 20 a
            // second at full speed. The limit sits well above that, so only a crash storm (a
            // real bug) escalates to the root, which then restarts the whole pool.
            .intensity(600, Duration::from_secs(10)),
        ))
        .child(ChildSpec::pool(PoolSpec::new("index", 2, move || Indexer { totals: indexer_totals.clone() })))
        .start()
        .await?;
    let (analyze, index) = (root.pool("analyze")?, root.pool("index")?);
    let (coordinator, dispatch) = Coordinator::builder(store.clone())
        .pool("analyze", analyze.clone())
        .pool("index", index.clone())
        .lease_for(Duration::from_secs(10))
        .build()?;
    // Started last, so it stops first: no new dispatches while the pools drain.
    root.start_child(ChildSpec::supervisor(dispatch)).await?;

    // The producer: batches of 20 documents, about 2,000 a second; or paced at `rps`.
    let (batch, pause) = match rps {
        None => (20, Duration::from_millis(10)),
        Some(rps) => {
            let batch = (rps / 100.0).ceil().clamp(1.0, 20.0);
            // A rate so low the pause overflows a Duration waits a day between batches.
            (batch as u64, Duration::try_from_secs_f64(batch / rps).unwrap_or(Duration::from_secs(86_400)))
        }
    };
    let stop = Arc::new(AtomicBool::new(false));
    let (submitted, deduplicated) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let producer = {
        let (coordinator, stop, dir) = (coordinator.clone(), stop.clone(), args.data_dir.clone());
        let (submitted, deduplicated) = (submitted.clone(), deduplicated.clone());
        tokio::spawn(async move {
            let mut next = cursor;
            let retry = RetryPolicy::exponential(3, Duration::from_millis(50), Duration::from_secs(1));
            while !stop.load(Ordering::Relaxed) {
                let tasks: Vec<Task> = (next..next + batch)
                    .map(|id| {
                        Task::json("analyze", &document(id))
                            .map(|t| t.idempotency_key(format!("doc-{id}")).retry(retry))
                    })
                    .collect::<Result<_, _>>()?;
                let done = coordinator.submit_batch(tasks).await?;
                submitted.fetch_add(done.len() as u64, Ordering::Relaxed);
                deduplicated.fetch_add(done.iter().filter(|e| e.deduplicated).count() as u64, Ordering::Relaxed);
                next += batch;
                write_cursor(&dir, next)?;
                tokio::time::sleep(pause).await;
            }
            Ok::<u64, Box<dyn std::error::Error + Send + Sync>>(next)
        })
    };

    let started = Instant::now();
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    ticker.tick().await;
    let mut last_purge = Instant::now();
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => { println!("Ctrl-C: stopping"); break; }
            exit = root.wait() => return Err(format!("the supervision tree gave up: {exit:?}").into()),
            _ = ticker.tick() => {
                let q = store.counts().await?;
                let (a, i) = (analyze.stats(), index.stats());
                let (indexed, summarized) = {
                    let t = totals.lock().unwrap_or_else(|e| e.into_inner());
                    (t.documents, t.summarized)
                };
                println!(
                    "[{:>5.1}s] submitted {} (deduplicated {}) | queue pending {}, leased {}, succeeded {}, dead-lettered {} | analyze: {} workers, {} busy, crashed tasks {} | index: {} busy | indexed this run {indexed} ({summarized} with a summary) | registry: {} agents available | {}",
                    started.elapsed().as_secs_f64(),
                    submitted.load(Ordering::Relaxed),
                    deduplicated.load(Ordering::Relaxed),
                    q.status(TaskStatus::Pending),
                    q.status(TaskStatus::Leased) + q.status(TaskStatus::Running),
                    q.status(TaskStatus::Succeeded),
                    q.status(TaskStatus::DeadLettered),
                    a.workers, a.busy, a.abandoned, i.busy,
                    registry.count(AgentStatus::Available),
                    summaries.report(),
                );
                if last_purge.elapsed() > Duration::from_secs(10) {
                    // Retention: results are kept a minute, then dropped (the journal compacts).
                    store.purge_finished(Duration::from_secs(60)).await?;
                    last_purge = Instant::now();
                }
                if args.run_for.is_some_and(|l| started.elapsed() >= l) { println!("run time reached: stopping"); break; }
            }
        }
    }
    stop.store(true, Ordering::Relaxed);
    let next = producer.await?.map_err(|e| e.to_string())?;
    root.stop().await;
    let left = store.counts().await?;
    let (words, top) = {
        let t = totals.lock().unwrap_or_else(|e| e.into_inner());
        (t.words, t.top_words.iter().max_by_key(|(w, n)| (**n, *w)).map(|(w, _)| w.clone()).unwrap_or_default())
    };
    println!(
        "stopped cleanly: producer at document {next}; {} tasks left in the queue for the next run; indexed {words} words this run, most common top word `{top}`; {}",
        left.unfinished(),
        summaries.spent(),
    );
    Ok(())
}
