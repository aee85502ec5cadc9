//! The service: a supervised agent service on embedded defaults (no external service).
//!
//! A producer feeds generated documents to a set of supervised `Analyzer` agents, which
//! compute word statistics and record them in a `Ledger` agent. One document in 499 carries a
//! "poison" marker that makes an analyzer panic (a simulated bug): its supervisor restarts it,
//! the producer retries the document, and the report shows the restarts. Ctrl-C stops the tree
//! cleanly (children in reverse start order).
//!
//! Run: `cargo run --example service` (add `-- --run-for 10` to stop by itself after 10 s).

use std::collections::HashMap;
use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ractor_agents::prelude::*;
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

const ANALYZERS: usize = 4;
/// One document in this many is poisoned (makes its analyzer panic).
const POISON_EVERY: u64 = 499;
const WORDS: &[&str] =
    &["agent", "actor", "supervisor", "mailbox", "restart", "trace", "deadline", "queue", "pool", "breaker"];

/// A document to analyze.
#[derive(Clone)]
struct Document {
    id: u64,
    text: String,
}

/// What an analyzer found in a document.
#[derive(Debug, Clone)]
struct Analysis {
    words: usize,
    top_word: String,
}

/// Computes word statistics. Panics on poisoned documents (a simulated bug).
#[derive(Default)]
struct Analyzer;

#[agent]
impl Analyzer {
    /// Counts the words of a document and finds the most frequent one.
    async fn analyze(&mut self, doc: Document) -> Result<Analysis, String> {
        if doc.text.is_empty() {
            return Err(format!("document {} is empty", doc.id));
        }
        if doc.text.contains("poison") {
            panic!("analyzer hit poisoned document {}", doc.id);
        }
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for word in doc.text.split_whitespace() {
            *counts.entry(word).or_default() += 1;
        }
        let top_word = counts.iter().max_by_key(|(w, n)| (**n, *w)).map(|(w, _)| w.to_string()).unwrap_or_default();
        Ok(Analysis { words: doc.text.split_whitespace().count(), top_word })
    }
}

/// Keeps the running totals.
#[derive(Default)]
struct Ledger {
    documents: u64,
    words: u64,
    top_words: HashMap<String, u64>,
}

#[agent]
impl Ledger {
    /// Records one analysis.
    async fn record(&mut self, analysis: Analysis) {
        self.documents += 1;
        self.words += analysis.words as u64;
        *self.top_words.entry(analysis.top_word).or_default() += 1;
    }

    /// Documents and words recorded so far, and the most common top word.
    async fn totals(&self) -> (u64, u64, String) {
        let top = self.top_words.iter().max_by_key(|(w, n)| (**n, *w)).map(|(w, _)| w.clone()).unwrap_or_default();
        (self.documents, self.words, top)
    }
}

fn document(id: u64, rng: &mut SmallRng) -> Document {
    let len = rng.random_range(5..40);
    let mut words: Vec<&str> = (0..len).map(|_| WORDS[rng.random_range(0..WORDS.len())]).collect();
    if id % POISON_EVERY == POISON_EVERY - 1 {
        words.push("poison");
    }
    Document { id, text: words.join(" ") }
}

fn run_for() -> Option<Duration> {
    let args: Vec<String> = std::env::args().collect();
    let secs = args.iter().position(|a| a == "--run-for").and_then(|i| args.get(i + 1)).and_then(|s| s.parse().ok());
    secs.map(Duration::from_secs)
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Analyzers crash on purpose; the supervisor logs each exit with the panic message.
    std::panic::set_hook(Box::new(|_| {}));
    // Supervisor events (child exits with their reason, restarts) are logged at INFO/WARN.
    tracing_subscriber::fmt()
        .with_env_filter(std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
        .with_ansi(std::io::stdout().is_terminal())
        .with_target(false)
        .compact()
        .init();
    let mut analyzers =
        Supervisor::new("analyzers", Strategy::OneForOne).intensity(30, Duration::from_secs(10)).backoff(
            Backoff::exponential(Duration::from_millis(10), Duration::from_millis(500))
                .reset_after(Duration::from_secs(2)),
        );
    for i in 0..ANALYZERS {
        analyzers = analyzers.child(ChildSpec::agent(format!("analyzer-{i}"), Analyzer::default));
    }
    let root = Supervisor::new("service", Strategy::OneForOne)
        .child(ChildSpec::agent("ledger", Ledger::default))
        .child(ChildSpec::supervisor(analyzers))
        .start()
        .await?;
    println!("service started: ledger + {ANALYZERS} analyzers under supervision (Ctrl-C to stop)");

    let ledger: LedgerRef = root.get("ledger")?;
    let workers: Vec<AnalyzerRef> =
        (0..ANALYZERS).map(|i| root.get(&format!("analyzers/analyzer-{i}"))).collect::<Result<_, _>>()?;
    let analyzers_sup = root.supervisor("analyzers")?;

    // Eight concurrent clients submit documents round-robin, so one analyzer's restart
    // (and its backoff) does not stall the others.
    let next_id = Arc::new(AtomicU64::new(0));
    let retried = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let clients: Vec<_> = (0..8)
        .map(|_| {
            let (ledger, workers) = (ledger.clone(), workers.clone());
            let (next_id, retried, failed) = (next_id.clone(), retried.clone(), failed.clone());
            tokio::spawn(async move {
                let mut rng = SmallRng::seed_from_u64(next_id.load(Ordering::Relaxed));
                loop {
                    let id = next_id.fetch_add(1, Ordering::Relaxed);
                    let doc = document(id, &mut rng);
                    let worker = &workers[id as usize % workers.len()];
                    let mut answer = worker.analyze(doc.clone()).deadline(Duration::from_secs(2)).await;
                    if let Err(AskError::NoReply { .. }) = answer {
                        // The analyzer crashed on this document and is being restarted; the
                        // analysis is idempotent, so retry once without the poison.
                        retried.fetch_add(1, Ordering::Relaxed);
                        let clean = Document { id: doc.id, text: doc.text.replace("poison", "") };
                        answer = worker.analyze(clean).deadline(Duration::from_secs(2)).await;
                    }
                    match answer {
                        Ok(Ok(analysis)) => {
                            if ledger.record(analysis).tell().await.is_err() {
                                return;
                            }
                        }
                        Ok(Err(_)) | Err(_) => {
                            failed.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
            })
        })
        .collect();

    let started = Instant::now();
    let limit = run_for();
    let mut ticker = tokio::time::interval(Duration::from_secs(2));
    ticker.tick().await;
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => { println!("Ctrl-C: stopping"); break; }
            exit = root.wait() => {
                // The tree gave up (restart intensity exceeded at the root): report and fail.
                for client in &clients {
                    client.abort();
                }
                return Err(format!("the supervision tree gave up: {exit:?}").into());
            }
            _ = ticker.tick() => {
                let (docs, words, top) = ledger.totals().deadline(Duration::from_secs(1)).await?;
                let restarts: u64 = analyzers_sup.children().await?.iter().map(|c| c.restarts).sum();
                println!(
                    "[{:>5.1}s] documents {docs}, words {words}, most common top word `{top}`, retried {}, failed {}, analyzer restarts {restarts}",
                    started.elapsed().as_secs_f64(),
                    retried.load(Ordering::Relaxed),
                    failed.load(Ordering::Relaxed),
                );
                if limit.is_some_and(|l| started.elapsed() >= l) { println!("run time reached: stopping"); break; }
            }
        }
    }
    for client in &clients {
        client.abort();
    }
    let (docs, words, _) = ledger.totals().deadline(Duration::from_secs(1)).await?;
    root.stop().await;
    println!("stopped cleanly after {docs} documents ({words} words)");
    Ok(())
}
