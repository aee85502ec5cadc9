//! The durable task queue's engine comparison (issue 3): the project's own `DurableStore` (an
//! append-only journal with group commit), PostgreSQL `FOR UPDATE SKIP LOCKED`, redb, SQLite and
//! fjall each behind their best batching, and the in-memory store as a ceiling, on one workload,
//! beside the disk's raw `fdatasync` rate. See `BENCHMARKS.md` ("Durable task queue: engine comparison").
//!
//! ```text
//! cargo bench -p ractor-agents-benches --bench durable_queue -- <peer>...
//!     peers: ractor-agents postgres redb sqlite fjall ractor-agents-memory disk, or all (the default)
//!     [--tasks 2000000] [--seconds 15] [--producers 16] [--in-flight 64] [--consumers 4]
//!     [--lease-batch 1024] [--runs 3] [--sync-leases] [--dir <data dir parent>] [--pg-inserters 4]
//! ```
//!
//! Each run opens a fresh queue (a new data directory under `--dir`, default the system temp dir,
//! which must be on the disk being measured, not tmpfs; a new PostgreSQL table) on a fresh tokio
//! runtime with 2 workers; the runs go round robin over the peers, then each peer's line gives the
//! median of its `--runs` runs. With no
//! argument at all (what `cargo test --all-targets` does) every peer runs once on a tiny workload,
//! as a smoke test of the harness.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ractor_agents_benches::queue_peers::postgres_queue::{PostgresOptions, PostgresQueue};
use ractor_agents_benches::queue_peers::workload::{self, RunError, RunReport, Workload};
use ractor_agents_benches::queue_peers::{DurableQueue, QueueError, QueueOptions, disk_sync};
use ractor_agents_benches::queue_peers::{fjall_queue, ractor_agents_queue, redb_queue, sqlite_queue};

const QUEUE_PEERS: [&str; 6] = ["ractor-agents", "postgres", "redb", "sqlite", "fjall", "ractor-agents-memory"];
const TARGET_TASKS_PER_SECOND: f64 = 100_000.0;
const WORKERS: usize = 2;

struct Options {
    peers: Vec<String>,
    workload: Workload,
    runs: usize,
    queue: QueueOptions,
    dir: PathBuf,
    postgres: PostgresOptions,
    smoke: bool,
}

fn parse_args() -> Options {
    let mut o = Options {
        peers: Vec::new(),
        workload: Workload::default(),
        runs: 3,
        queue: QueueOptions::default(),
        dir: std::env::temp_dir(),
        postgres: PostgresOptions::from_env(),
        smoke: false,
    };
    let all_args: Vec<String> = std::env::args().skip(1).collect();
    if all_args.is_empty() {
        // `cargo test --all-targets` runs this binary with no arguments (`cargo bench` passes
        // `--bench`): check the harness on every peer, fast.
        o.smoke = true;
        o.runs = 1;
        o.workload = Workload { tasks: 2_000, producers: 4, in_flight: 8, consumers: 2, ..Workload::default() };
        o.peers.extend(["disk"].into_iter().chain(QUEUE_PEERS).map(String::from));
        return o;
    }
    let mut args = all_args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().unwrap_or_else(|| panic!("{name} needs a value"));
        let mut number = |name: &str| -> u64 {
            let text = value(name);
            text.replace('_', "").parse().unwrap_or_else(|_| panic!("{name} needs a number, not {text:?}"))
        };
        let w = &mut o.workload;
        match arg.as_str() {
            "--bench" => {}
            "--tasks" => w.tasks = number("--tasks"),
            "--seconds" => w.max_enqueue_time = Duration::from_secs(number("--seconds")),
            "--producers" => w.producers = number("--producers") as usize,
            "--in-flight" => w.in_flight = number("--in-flight") as usize,
            "--consumers" => w.consumers = number("--consumers") as usize,
            "--lease-batch" => w.lease_batch = number("--lease-batch") as usize,
            "--runs" => o.runs = (number("--runs") as usize).max(1),
            "--pg-inserters" => o.postgres.inserters = number("--pg-inserters") as usize,
            "--sync-leases" => o.queue.sync_leases = true,
            "--dir" => o.dir = PathBuf::from(value("--dir")),
            "all" => o.peers.extend(["disk"].into_iter().chain(QUEUE_PEERS).map(String::from)),
            peer if peer == "disk" || QUEUE_PEERS.contains(&peer) => o.peers.push(peer.to_owned()),
            other => panic!("unknown argument {other:?}: peers are {QUEUE_PEERS:?}, disk or all"),
        }
    }
    if o.peers.is_empty() {
        o.peers.extend(["disk"].into_iter().chain(QUEUE_PEERS).map(String::from));
    }
    o
}

fn main() {
    let o = parse_args();
    let w = &o.workload;
    println!(
        "durable queue comparison: {} producers x {} in flight, {} consumers (lease batch {}), {} tasks of {} bytes \
         (enqueueing stops after {} s), {} priorities; leases {}; {} run(s) each; tokio {WORKERS} workers",
        w.producers,
        w.in_flight,
        w.consumers,
        w.lease_batch,
        w.tasks,
        w.payload_bytes,
        w.max_enqueue_time.as_secs(),
        w.priorities,
        if o.queue.sync_leases { "answered once durable" } else { "answered before their commit's fsync" },
        o.runs,
    );
    println!("data under {} ({}); load average {}", o.dir.display(), file_system(&o.dir), load_average());
    let mut medians: Vec<(String, f64)> = Vec::new();
    if o.peers.iter().any(|peer| peer == "disk") {
        disk(&o);
    }
    // Round robin (run 1 of every peer, then run 2, ...): a burst of load from the machine's
    // other users then hits every peer alike rather than all runs of one.
    let queue_peers: Vec<&String> = o.peers.iter().filter(|peer| *peer != "disk").collect();
    let mut reports: Vec<Vec<RunReport>> = vec![Vec::new(); queue_peers.len()];
    let mut skipped = vec![false; queue_peers.len()];
    for run in 1..=o.runs {
        for (index, peer) in queue_peers.iter().enumerate() {
            if skipped[index] {
                continue;
            }
            match run_once(peer, &o) {
                Ok(report) => {
                    println!("  run {run}: {report}");
                    reports[index].push(report);
                }
                Err(RunError::Queue(QueueError::Postgres(error))) if o.smoke && !services_required() => {
                    println!(
                        "  {peer}: skipped, PostgreSQL does not answer ({error}); set {} to choose a server",
                        ractor_agents_benches::queue_peers::postgres_queue::URL_VARIABLE
                    );
                    skipped[index] = true;
                }
                Err(error) => panic!("{peer} run {run} failed: {error}"),
            }
        }
    }
    for (peer, reports) in queue_peers.iter().zip(&reports) {
        if let Some(median) = print_median(peer, reports) {
            medians.push(((*peer).clone(), median));
        }
    }
    summarize(&medians);
    println!("load average at end: {}", load_average());
}

/// One fresh queue, one workload, on a fresh runtime.
fn run_once(peer: &str, o: &Options) -> Result<RunReport, RunError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKERS)
        .enable_all()
        .build()
        .map_err(|source| QueueError::Io { path: "<tokio runtime>".into(), source })?;
    let dir = tempfile::Builder::new()
        .prefix("qbench-")
        .tempdir_in(&o.dir)
        .map_err(|source| QueueError::Io { path: o.dir.clone(), source })?;
    runtime.block_on(async {
        let queue: Arc<dyn DurableQueue> = match peer {
            "postgres" => Arc::new(PostgresQueue::open(&o.postgres, o.queue).await?),
            "ractor-agents" => Arc::new(ractor_agents_queue::open_durable(dir.path(), o.queue)?),
            "ractor-agents-memory" => Arc::new(ractor_agents_queue::open_memory()),
            "redb" => Arc::new(redb_queue::open(dir.path(), o.queue)?),
            "sqlite" => Arc::new(sqlite_queue::open(dir.path(), o.queue)?),
            "fjall" => Arc::new(fjall_queue::open(dir.path(), o.queue)?),
            other => unreachable!("peer names are checked when parsed: {other}"),
        };
        let report = workload::run(queue.clone(), &o.workload).await;
        queue.close().await?;
        report
    })
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Prints each figure's median over the runs; returns the median tasks/s.
fn print_median(peer: &str, reports: &[RunReport]) -> Option<f64> {
    if reports.is_empty() {
        return None;
    }
    let of = |f: &dyn Fn(&RunReport) -> f64| median(reports.iter().map(f).collect());
    let ms = |q: f64| of(&|r: &RunReport| r.latency_at(q).as_secs_f64() * 1e3);
    let tasks = of(&|r| r.tasks_per_second());
    let commits = match (reports[0].commits_per_second(), reports[0].records_per_commit()) {
        (Some(_), Some(_)) => format!(
            "{:>6.0} commits/s  {:>6.1} records/commit",
            of(&|r| r.commits_per_second().unwrap_or(f64::NAN)),
            of(&|r| r.records_per_commit().unwrap_or(f64::NAN))
        ),
        _ => "commits not counted".to_owned(),
    };
    println!(
        "{peer:<9} median of {}: {tasks:>8.0} tasks/s  (enqueue {:>8.0}/s)  e2e p50 {:>7.2} ms  p99 {:>7.2} ms  \
         p999 {:>7.2} ms  {commits}",
        reports.len(),
        of(&|r| r.enqueues_per_second()),
        ms(0.5),
        ms(0.99),
        ms(0.999),
    );
    Some(tasks)
}

fn summarize(medians: &[(String, f64)]) {
    if medians.len() < 2 && medians.iter().all(|(peer, _)| peer != "postgres") {
        return;
    }
    let postgres = medians.iter().find(|(peer, _)| peer == "postgres").map(|(_, tasks)| *tasks);
    println!("summary (median tasks/s; ratios to PostgreSQL, measured in this run, and to the 100,000 target):");
    for (peer, tasks) in medians {
        let vs_postgres = postgres.map_or("-".to_owned(), |pg| format!("{:.2}x", tasks / pg));
        println!(
            "  {peer:<9} {tasks:>8.0} tasks/s  {vs_postgres:>6} PostgreSQL  {:.2}x target",
            tasks / TARGET_TASKS_PER_SECOND
        );
    }
}

fn disk(o: &Options) {
    let span = if o.smoke { Duration::from_millis(200) } else { Duration::from_secs(3) };
    let mut appends = Vec::new();
    let mut overwrites = Vec::new();
    for run in 1..=o.runs {
        let dir = tempfile::Builder::new().prefix("qbench-disk-").tempdir_in(&o.dir).expect("a temp dir under --dir");
        let append = disk_sync::append_then_fdatasync(dir.path(), span).expect("appending to a file in --dir");
        let overwrite = disk_sync::overwrite_then_fdatasync(dir.path(), span).expect("writing a file in --dir");
        println!(
            "  run {run}: append+fdatasync {:>6.0}/s ({:.0} µs each)  overwrite+fdatasync {:>6.0}/s ({:.0} µs each)",
            append.per_second(),
            append.mean().as_secs_f64() * 1e6,
            overwrite.per_second(),
            overwrite.mean().as_secs_f64() * 1e6
        );
        appends.push(append.per_second());
        overwrites.push(overwrite.per_second());
    }
    println!(
        "{:<9} median of {}: {} B append+fdatasync {:>6.0}/s  overwrite of written space+fdatasync {:>6.0}/s",
        "disk",
        o.runs,
        disk_sync::RECORD_BYTES,
        median(appends),
        median(overwrites)
    );
}

fn services_required() -> bool {
    std::env::var_os("RACTOR_AGENTS_REQUIRE_SERVICES").is_some()
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map_or_else(|_| "?".into(), |s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

/// The file system type and device of the mount holding `dir` (from `/proc/self/mounts`).
fn file_system(dir: &Path) -> String {
    let dir = dir.canonicalize().unwrap_or_else(|_| dir.to_owned());
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let best = mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (device, point, kind) = (fields.next()?, fields.next()?, fields.next()?);
            dir.starts_with(point).then(|| (point.len(), format!("{kind} on {device}")))
        })
        .max_by_key(|(len, _)| *len);
    match best {
        Some((_, fs)) if fs.starts_with("tmpfs") => format!("{fs}: NOT A DISK, fsync figures are meaningless"),
        Some((_, fs)) => fs,
        None => "file system unknown".to_owned(),
    }
}
