//! A task pipeline, step by step: a durable queue, a coordinator and two worker pools, and what
//! happens to tasks that succeed, fail for a while, fail for good, crash their worker, are
//! submitted twice, cancelled, or dead-lettered and redriven.
//!
//! Run: `cargo run --example task_pipeline`

use std::sync::Arc;
use std::time::Duration;

use ractor_agents::dispatch::{Coordinator, DispatchError};
use ractor_agents::pool::{PoolSpec, TaskHandler, TaskInput};
use ractor_agents::tasks::{DurableStore, LeaseRequest, Nack, Payload, RetryPolicy, Task, TaskStatus, TaskStore};

/// "Fetches" a page: the payload names it. `flaky:` pages answer 503 twice (with a
/// Retry-After); `crash:` pages panic the worker on the first attempt; `missing:` is a 404.
struct Fetcher;

impl TaskHandler for Fetcher {
    async fn handle(&mut self, task: &TaskInput) -> Result<Payload, Nack> {
        let url: String = task.payload.decode().map_err(|e| Nack::permanent(e.to_string()))?;
        if url.starts_with("flaky:") && task.attempt <= 2 {
            return Err(Nack::transient("503 from upstream").retry_after(Duration::from_millis(20)));
        }
        if url.starts_with("crash:") && task.attempt == 1 {
            panic!("fetcher bug on {url}");
        }
        if url.starts_with("missing:") {
            return Err(Nack::permanent("404: no such page"));
        }
        Payload::json(&format!("contents of {url}")).map_err(|e| Nack::permanent(e.to_string()))
    }
}

/// Summarizes text: keeps its first three words. Refuses text that mentions "poison".
struct Summarizer;

impl TaskHandler for Summarizer {
    async fn handle(&mut self, task: &TaskInput) -> Result<Payload, Nack> {
        let text: String = task.payload.decode().map_err(|e| Nack::permanent(e.to_string()))?;
        if text.contains("poison") {
            return Err(Nack::transient("summarizer choked"));
        }
        let summary: Vec<&str> = text.split_whitespace().take(3).collect();
        Payload::json(&summary.join(" ")).map_err(|e| Nack::permanent(e.to_string()))
    }
}

fn show(what: &str, result: Result<Payload, DispatchError>) {
    match result {
        Ok(payload) => println!("  {what:<34} → {}", String::from_utf8_lossy(payload.as_bytes())),
        Err(e) => println!("  {what:<34} ✗ {e}"),
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    std::panic::set_hook(Box::new(|_| {})); // the crash below is on purpose
    let dir = std::env::temp_dir().join(format!("task-pipeline-{}", std::process::id()));
    let store: Arc<dyn TaskStore> = Arc::new(DurableStore::open(&dir)?);
    let fetchers = PoolSpec::new("fetchers", 3, || Fetcher).start().await?;
    let summarizers = PoolSpec::new("summarizers", 2, || Summarizer).start().await?;
    let coordinator = Coordinator::builder(store.clone())
        .pool("fetch", fetchers.clone())
        .pool("summarize", summarizers.clone())
        .start()
        .await?;
    let quick = RetryPolicy::exponential(3, Duration::from_millis(10), Duration::from_millis(100));

    println!("1. fetches: plain, flaky (retried after Retry-After), crashing (worker restarted), missing");
    let mut fetches = Vec::new();
    for url in ["https://a.example", "flaky:https://b.example", "crash:https://c.example", "missing:https://d.example"]
    {
        fetches.push((url, coordinator.submit(Task::json("fetch", url)?.retry(quick)).await?));
    }
    for (url, id) in &fetches {
        show(url, coordinator.result(*id).timeout(Duration::from_secs(5)).await);
        println!("  {:<34}   attempts {}", "", coordinator.task(*id).await?.attempts);
    }

    println!("2. the same idempotency key twice is one task");
    let first = coordinator.submit(Task::json("summarize", "one two three four")?.idempotency_key("doc-1")).await?;
    let again = coordinator.submit(Task::json("summarize", "one two three four")?.idempotency_key("doc-1")).await?;
    println!("  ids {first} and {again}: same task = {}", first == again);
    show("summary of doc-1", coordinator.result(first).await);

    println!("3. priorities: higher first, FIFO within one (tasks no pool serves yet, leased by hand)");
    for (name, priority) in [("nightly", 1), ("page-oncall", 9), ("weekly", 1), ("backup", 5)] {
        store.enqueue(Task::json("archive", name)?.priority(priority)).await?;
    }
    let leases = store.lease(LeaseRequest::new("archive").max(10)).await?;
    let order: Vec<String> = leases.iter().map(|l| l.task.payload.decode::<String>()).collect::<Result<_, _>>()?;
    println!("  lease order: {}", order.join(", "));
    for lease in leases {
        store.ack(lease.id(), lease.token, Payload::default()).await?;
    }

    println!("4. a task that keeps failing is dead-lettered; redrive would give it a fresh budget");
    let bad = coordinator.submit(Task::json("summarize", "poison pill")?.retry(quick)).await?;
    show("poison pill", coordinator.result(bad).await);
    let dead = store.dead_letters(None, 10).await?;
    println!("  dead letters: {:?}", dead.iter().map(|r| r.id).collect::<Vec<_>>());
    // It would fail again, so redrive it into a cancel rather than back to the summarizers.
    store.redrive(bad).await?;
    let _ = coordinator.cancel(bad).await;
    println!("  status now: {}", coordinator.status(bad).await?);

    println!("5. a batch, then the counts");
    let batch: Vec<Task> = (0..100)
        .map(|i| Task::json("summarize", &format!("batch item {i} of one hundred")))
        .collect::<Result<_, _>>()?;
    let ids = coordinator.submit_batch(batch).await?;
    for e in &ids {
        coordinator.result(e.id).await?;
    }
    let stats = coordinator.stats().await?;
    println!(
        "  succeeded {}, failed {}, dead-lettered {}, cancelled {}",
        stats.queue.status(TaskStatus::Succeeded),
        stats.queue.status(TaskStatus::Failed),
        stats.queue.status(TaskStatus::DeadLettered),
        stats.queue.status(TaskStatus::Cancelled),
    );
    for route in &stats.routes {
        println!("  route {:<10} dispatched {}", route.capability, route.dispatched);
    }

    coordinator.stop().await;
    fetchers.drain(Duration::from_secs(2)).await;
    summarizers.drain(Duration::from_secs(2)).await;
    drop(store);
    std::fs::remove_dir_all(&dir)?;
    println!("done");
    Ok(())
}
