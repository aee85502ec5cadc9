//! The durable task queue on the issue's workload, beside its peers in the same run: the same
//! store with leases that do not wait for their own record, without preallocated segments
//! (appending), with fdatasync off (what the disk costs), and the memory store (the queue's own
//! CPU cost, the ceiling). See `BENCHMARKS.md`, section "Durable task queue".
//!
//! ```text
//! cargo bench -p ractor-agents-benches --bench durable_tasks -- [--tasks 300000] [--runs 3]
//!     [--producers 16] [--in-flight 64] [--consumers 4] [--lease-batch 1024] [--dir /path/on/the/disk/to/measure]
//!     [--only durable|leases|append|nosync|memory] [--rate <tasks/s offered, open loop>]
//! ```
//!
//! Every figure is the median (by tasks/s) of `--runs` runs, each on a fresh runtime with 2
//! workers and a fresh data directory. With no argument (as `cargo test --all-targets` runs it)
//! it does one tiny run of each peer, as a smoke test.

use std::sync::Arc;

use ractor_agents::tasks::{DurableOptions, DurableStore, MemoryStore};
use ractor_agents_benches::queue_workload::{QueueUnderTest, Report, TaskStoreQueue, Workload, run};

struct Options {
    workload: Workload,
    runs: usize,
    dir: Option<std::path::PathBuf>,
    /// Run only the peers whose key contains this (for profiling one).
    only: Option<String>,
}

fn parse_args() -> Options {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| a != "--bench").collect();
    let smoke = args.is_empty();
    let mut options = Options {
        workload: Workload { tasks: if smoke { 5_000 } else { 300_000 }, ..Workload::default() },
        runs: if smoke { 1 } else { 3 },
        dir: None,
        only: None,
    };
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let mut value = || args.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        let number = |v: String| v.parse::<u64>().unwrap_or_else(|_| panic!("not a number: {v}"));
        match flag.as_str() {
            "--tasks" => options.workload.tasks = number(value()),
            "--runs" => options.runs = number(value()) as usize,
            "--producers" => options.workload.producers = number(value()) as usize,
            "--in-flight" => options.workload.in_flight = number(value()) as usize,
            "--consumers" => options.workload.consumers = number(value()) as usize,
            "--lease-batch" => options.workload.lease_batch = number(value()) as usize,
            "--dir" => options.dir = Some(value().into()),
            "--only" => options.only = Some(value()),
            "--rate" => options.workload.rate = Some(number(value()) as f64),
            other => panic!("unknown option {other}"),
        }
    }
    options
}

type Peer = fn(&std::path::Path) -> Arc<dyn QueueUnderTest>;

fn durable(dir: &std::path::Path) -> Arc<dyn QueueUnderTest> {
    let store = DurableStore::open(dir).expect("open the durable store");
    Arc::new(TaskStoreQueue::durable("durable (fdatasync)", Arc::new(store)))
}

fn durable_no_sync(dir: &std::path::Path) -> Arc<dyn QueueUnderTest> {
    let store = DurableStore::open_with(dir, DurableOptions::default().fsync(false)).expect("open the durable store");
    Arc::new(TaskStoreQueue::durable("durable (no fsync)", Arc::new(store)))
}

fn leases_not_awaited(dir: &std::path::Path) -> Arc<dyn QueueUnderTest> {
    let store =
        DurableStore::open_with(dir, DurableOptions::default().durable_leases(false)).expect("open the durable store");
    Arc::new(TaskStoreQueue::durable("durable (leases not awaited)", Arc::new(store)))
}

fn durable_append(dir: &std::path::Path) -> Arc<dyn QueueUnderTest> {
    let store =
        DurableStore::open_with(dir, DurableOptions::default().preallocate(false)).expect("open the durable store");
    Arc::new(TaskStoreQueue::durable("durable (fdatasync, append)", Arc::new(store)))
}

fn memory(_: &std::path::Path) -> Arc<dyn QueueUnderTest> {
    Arc::new(TaskStoreQueue::new("memory", Arc::new(MemoryStore::new())))
}

fn main() {
    let options = parse_args();
    let w = &options.workload;
    let load = w.rate.map_or("closed loop".to_owned(), |rate| format!("open loop at {rate:.0} tasks/s"));
    println!(
        "durable task queue: {} tasks, {} producers x {} in flight, {} consumers (lease batch {}), {}-byte payloads, {load}, median of {} runs",
        w.tasks, w.producers, w.in_flight, w.consumers, w.lease_batch, w.payload_bytes, options.runs
    );
    let peers: [(&str, Peer); 5] = [
        ("durable", durable),
        ("leases", leases_not_awaited),
        ("append", durable_append),
        ("nosync", durable_no_sync),
        ("memory", memory),
    ];
    let mut medians = Vec::new();
    for (key, open) in peers {
        if options.only.as_ref().is_some_and(|only| !key.contains(only.as_str())) {
            continue;
        }
        let mut reports: Vec<Report> = (0..options.runs)
            .map(|_| {
                let dir = match &options.dir {
                    Some(base) => tempfile::tempdir_in(base),
                    None => tempfile::tempdir(),
                }
                .expect("data directory");
                let runtime = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                    .expect("runtime");
                let report = runtime.block_on(async {
                    let queue = open(dir.path());
                    run(queue, &options.workload).await.expect("workload")
                });
                println!("  run: {report}");
                report
            })
            .collect();
        reports.sort_by(|a, b| a.tasks_per_second().total_cmp(&b.tasks_per_second()));
        let median = reports.swap_remove(reports.len() / 2);
        medians.push(median);
    }
    println!("medians:");
    for report in &medians {
        println!("  {report}");
    }
    if let [durable, _leases, _append, no_sync, memory] = &medians[..] {
        println!(
            "ratios: durable / memory = {:.2}, durable / no-fsync = {:.2}, target 100,000 tasks/s: {}",
            durable.tasks_per_second() / memory.tasks_per_second(),
            durable.tasks_per_second() / no_sync.tasks_per_second(),
            if durable.tasks_per_second() >= 100_000.0 { "met" } else { "missed" }
        );
    }
}
