//! Worker pools end to end: one producer task dispatches trivial jobs to 4 workers, until the
//! last one has run; ractor-agents' pool beside ractor 0.16.5's `factory` on the same workload,
//! in the same run, with the ratio. Also the store-backed path (lease from a `MemoryStore`, run,
//! ack). See `BENCHMARKS.md` ("Worker pools").
//!
//! ```text
//! cargo bench -p ractor-agents-benches --bench pool -- [--runs 3] [--jobs 1000000] [--store-jobs 200000]
//!     [--limit 32] [--only <peer>]
//! ```
//!
//! Peers (each on a fresh 2-worker tokio runtime, Prometheus recorder installed):
//! * `pool` — `PoolSpec::new(.., 4, ..)` (least-loaded, 32 jobs per worker), `submit().await`
//!   with backpressure, detached jobs; the handler counts, as the factory's worker does.
//! * `pool-rr` — the same with round-robin routing.
//! * `pool-receipt` — every job reports through a completion closure (what a producer that
//!   wants outcomes pays: one boxed closure per job).
//! * `factory-queuer` / `factory-rr` — ractor's factory with `QueuerRouting` (factory-side queue,
//!   a job goes to a free worker) / `RoundRobinRouting`, `DefaultQueue`, 4 workers, `dispatch`.
//! * `pool-store` — tasks pre-enqueued in a `MemoryStore`; a coordinator loop leases what the
//!   pool can take (`wait_for_capacity`), submits `StoreJobs::job(lease)`; timed until every
//!   task is acked.

#[allow(dead_code)]
mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ractor::factory::{
    Factory, FactoryArguments, FactoryMessage, Job as FactoryJob, Worker, WorkerBuilder, WorkerId, queues, routing,
};
use ractor::{Actor, ActorProcessingErr, ActorRef};
use ractor_agents::pool::{DEFAULT_PER_WORKER_LIMIT, Job, PoolSpec, Routing, StoreJobs, TaskHandler, TaskInput};
use ractor_agents::tasks::{LeaseRequest, MemoryStore, Nack, Payload, Task, TaskStore};
use tokio::sync::Notify;

use common::{WORKERS, install_metrics, median, runtime};

const POOL_WORKERS: usize = 4;

struct Options {
    runs: usize,
    jobs: u64,
    store_jobs: u64,
    /// Jobs per worker (the pool's `per_worker_limit`).
    limit: usize,
    only: Option<String>,
}

fn parse_args() -> Options {
    let mut o = Options { runs: 3, jobs: 1_000_000, store_jobs: 200_000, limit: DEFAULT_PER_WORKER_LIMIT, only: None };
    let Some(mut args) = common::Args::from_env() else {
        // `cargo test --all-targets` runs this binary with no arguments: a smoke test.
        return Options { runs: 1, jobs: 20_000, store_jobs: 5_000, limit: DEFAULT_PER_WORKER_LIMIT, only: None };
    };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => o.runs = args.number("--runs").max(1) as usize,
            "--jobs" => o.jobs = args.number("--jobs"),
            "--store-jobs" => o.store_jobs = args.number("--store-jobs"),
            "--limit" => o.limit = args.number("--limit").max(1) as usize,
            "--only" => o.only = Some(args.value("--only")),
            other => panic!("unknown option {other}"),
        }
    }
    o
}

/// Counts finished jobs and wakes the producer at the last one.
struct Finish {
    done: AtomicU64,
    target: u64,
    all: Notify,
}

impl Finish {
    fn new(target: u64) -> Arc<Self> {
        Arc::new(Self { done: AtomicU64::new(0), target, all: Notify::new() })
    }
    fn one(&self) {
        if self.done.fetch_add(1, Ordering::Relaxed) + 1 == self.target {
            self.all.notify_one();
        }
    }
    async fn wait(&self) {
        self.all.notified().await;
    }
}

// --- ractor-agents ---------------------------------------------------------------------------

/// Does nothing but count (like the factory worker below).
struct Counting(Option<Arc<Finish>>);

impl TaskHandler for Counting {
    async fn handle(&mut self, task: &TaskInput) -> Result<Payload, Nack> {
        if let Some(finish) = &self.0 {
            finish.one();
        }
        Ok(task.payload.clone())
    }
}

async fn run_pool(n: u64, limit: usize, routing: Routing, receipts: bool) -> Duration {
    let finish = Finish::new(n);
    let counter = (!receipts).then(|| finish.clone());
    let pool = PoolSpec::new("bench", POOL_WORKERS, move || Counting(counter.clone()))
        .routing(routing)
        .per_worker_limit(limit)
        .start()
        .await
        .expect("pool starts");
    let input = TaskInput::new("noop", Payload::default());
    let started = Instant::now();
    for _ in 0..n {
        let job = if receipts {
            let finish = finish.clone();
            Job::new(input.clone(), move |_outcome| finish.one())
        } else {
            Job::detached(input.clone())
        };
        pool.submit(job).await.expect("accepted");
    }
    finish.wait().await;
    let elapsed = started.elapsed();
    pool.stop().await;
    elapsed
}

async fn run_pool_store(n: u64, limit: usize) -> Duration {
    let store = Arc::new(MemoryStore::new());
    for chunk in (0..n).collect::<Vec<_>>().chunks(10_000) {
        store
            .enqueue_batch(chunk.iter().map(|_| Task::new("noop", Payload::default())).collect())
            .await
            .expect("enqueue");
    }
    let pool = PoolSpec::new("bench-store", POOL_WORKERS, || Counting(None))
        .per_worker_limit(limit)
        .start()
        .await
        .expect("pool starts");
    let jobs = StoreJobs::new(store.clone());
    let started = Instant::now();
    let mut leased = 0;
    while leased < n {
        let room = pool.wait_for_capacity().await.expect("open");
        let leases = store.lease(LeaseRequest::new("noop").max(room)).await.expect("lease");
        leased += leases.len() as u64;
        for lease in leases {
            pool.submit(jobs.job(lease)).await.expect("accepted");
        }
    }
    while jobs.stats().acked < n {
        jobs.settled().await;
        tokio::task::yield_now().await;
    }
    let elapsed = started.elapsed();
    pool.stop().await;
    assert_eq!(store.counts().await.expect("counts").status(ractor_agents::tasks::TaskStatus::Succeeded), n);
    elapsed
}

// --- ractor factory --------------------------------------------------------------------------

struct FactoryWorker;

impl Worker for FactoryWorker {
    type Key = ();
    type Message = ();
    type State = Arc<Finish>;
    type Arguments = Arc<Finish>;

    async fn pre_start(
        &self,
        _wid: WorkerId,
        _factory: &ActorRef<FactoryMessage<(), ()>>,
        finish: Arc<Finish>,
    ) -> Result<Arc<Finish>, ActorProcessingErr> {
        Ok(finish)
    }

    async fn handle(
        &self,
        _wid: WorkerId,
        _factory: &ActorRef<FactoryMessage<(), ()>>,
        _job: FactoryJob<(), ()>,
        finish: &mut Arc<Finish>,
    ) -> Result<(), ActorProcessingErr> {
        finish.one();
        Ok(())
    }
}

struct FactoryWorkerBuilder(Arc<Finish>);

impl WorkerBuilder<FactoryWorker, Arc<Finish>> for FactoryWorkerBuilder {
    fn build(&mut self, _wid: WorkerId) -> (FactoryWorker, Arc<Finish>) {
        (FactoryWorker, self.0.clone())
    }
}

async fn run_factory<R>(n: u64, router: R) -> Duration
where
    R: routing::Router<(), ()> + Send + 'static,
{
    let finish = Finish::new(n);
    let factory = Factory::<(), (), Arc<Finish>, FactoryWorker, R, queues::DefaultQueue<(), ()>>::default();
    let args = FactoryArguments::builder()
        .worker_builder(Box::new(FactoryWorkerBuilder(finish.clone())))
        .queue(Default::default())
        .router(router)
        .num_initial_workers(POOL_WORKERS)
        .build();
    let (factory, handle) = Actor::spawn(None, factory, args).await.expect("factory starts");
    let started = Instant::now();
    for _ in 0..n {
        factory.dispatch((), ()).expect("dispatched");
    }
    finish.wait().await;
    let elapsed = started.elapsed();
    factory.stop(None);
    let _ = handle.await;
    elapsed
}

// --- harness ---------------------------------------------------------------------------------

fn on_fresh_runtime<F: std::future::Future<Output = Duration> + Send + 'static>(f: F) -> Duration {
    let rt = runtime();
    let out = rt.block_on(async move { tokio::spawn(f).await.expect("benchmark task") });
    rt.shutdown_timeout(Duration::from_secs(1));
    out
}

fn main() {
    let o = parse_args();
    install_metrics();
    println!(
        "pool scenario: {POOL_WORKERS} pool workers ({} jobs each at most) on a tokio multi-thread runtime with \
         {WORKERS} threads; medians of {} runs; Prometheus recorder installed",
        o.limit, o.runs
    );
    println!("load average at start: {}", loadavg());
    let peers = ["pool", "pool-rr", "pool-receipt", "factory-queuer", "factory-rr", "pool-store"];
    let mut rates: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    for run in 0..o.runs {
        for peer in peers.into_iter().filter(|p| o.only.as_deref().is_none_or(|only| p == &only)) {
            let (n, jobs) = if peer == "pool-store" { (o.store_jobs, o.store_jobs) } else { (o.jobs, o.jobs) };
            // Warm-up on the same runtime shape, then the measured run on a fresh one.
            let warm = (n / 10).max(1);
            let limit = o.limit;
            let measure = move |n: u64| -> Duration {
                match peer {
                    "pool" => on_fresh_runtime(run_pool(n, limit, Routing::LeastLoaded, false)),
                    "pool-rr" => on_fresh_runtime(run_pool(n, limit, Routing::RoundRobin, false)),
                    "pool-receipt" => on_fresh_runtime(run_pool(n, limit, Routing::LeastLoaded, true)),
                    "factory-queuer" => on_fresh_runtime(run_factory(n, routing::QueuerRouting::default())),
                    "factory-rr" => on_fresh_runtime(run_factory(n, routing::RoundRobinRouting::default())),
                    "pool-store" => on_fresh_runtime(run_pool_store(n, limit)),
                    _ => unreachable!(),
                }
            };
            measure(warm);
            let elapsed = measure(jobs);
            let rate = jobs as f64 / elapsed.as_secs_f64();
            println!("  run {}: {peer:<15} {:>7.3} M jobs/s", run + 1, rate / 1e6);
            rates.entry(peer).or_default().push(rate);
        }
    }
    println!("load average at end: {}", loadavg());
    if o.only.is_some() {
        return;
    }
    let mut m = |p: &str| median(rates.get_mut(p).expect("peer ran"));
    let (pool, pool_rr, receipt, queuer, factory_rr, store) =
        (m("pool"), m("pool-rr"), m("pool-receipt"), m("factory-queuer"), m("factory-rr"), m("pool-store"));
    let factory = queuer.max(factory_rr);
    println!("\n== worker pools: {} trivial jobs, {POOL_WORKERS} workers, one producer (medians) ==", o.jobs);
    println!("pool (least-loaded)        {:>7.3} M jobs/s   {:.2}x the better factory", pool / 1e6, pool / factory);
    println!("pool (round-robin)         {:>7.3} M jobs/s   {:.2}x", pool_rr / 1e6, pool_rr / factory);
    println!("pool (completion per job)  {:>7.3} M jobs/s   {:.2}x", receipt / 1e6, receipt / factory);
    println!("factory (QueuerRouting)    {:>7.3} M jobs/s", queuer / 1e6);
    println!("factory (RoundRobinRouting){:>7.3} M jobs/s", factory_rr / 1e6);
    println!("pool + MemoryStore ({} tasks: lease, run, ack) {:>7.3} M tasks/s", o.store_jobs, store / 1e6);
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").map(|s| s.trim().to_owned()).unwrap_or_default()
}
