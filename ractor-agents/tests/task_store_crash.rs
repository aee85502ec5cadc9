//! Crash safety of the durable store, with real `kill -9`s.
//!
//! The test re-runs its own binary as a child process that enqueues, leases and acks under load
//! on a data directory, printing `E <id>` after each acknowledged enqueue and `A <id>` after each
//! acknowledged ack. The parent kills it with SIGKILL at seeded random moments, reopens the store
//! after each kill and checks: every acknowledged enqueue is there, every acknowledged ack left
//! its task Succeeded (never Pending or Leased again), and no task was completed twice across
//! all the children. Every other child runs with leases that do not wait for their own record.
//! Seed: `RACTOR_AGENTS_CRASH_SEED` (printed on failure).

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use ractor_agents::tasks::{
    DurableOptions, DurableStore, LeaseRequest, Payload, QueueError, Task, TaskId, TaskStatus, TaskStore,
};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};

const TEST_NAME: &str = "acknowledged_work_survives_repeated_kill_9";
/// Set in the child's environment: the data directory it works on.
const CHILD_DIR: &str = "RACTOR_AGENTS_CRASH_CHILD_DIR";
/// Set in the child's environment: `1` when its leases must not wait for their own record
/// (every other child), so both lease modes are killed under load.
const CHILD_LEASES_NOT_AWAITED: &str = "RACTOR_AGENTS_CRASH_LEASES_NOT_AWAITED";
const KILLS: usize = 24;
/// The child stops by itself after this, in case the parent never kills it.
const CHILD_LIFETIME: Duration = Duration::from_secs(20);
/// A killed child's leases run out after this, and the next child's consumers get the tasks.
const LEASE: Duration = Duration::from_secs(1);

fn options() -> DurableOptions {
    // Small segments and an early compaction threshold: kills land during rotations and
    // compactions too.
    DurableOptions::default().segment_bytes(1 << 20).compact_after_bytes(512 << 10)
}

#[test]
fn acknowledged_work_survives_repeated_kill_9() {
    match std::env::var(CHILD_DIR) {
        Ok(dir) => child(Path::new(&dir)),
        Err(_) => parent(),
    }
}

/// What the children said they were told.
#[derive(Default)]
struct Acknowledged {
    enqueued: HashSet<u64>,
    /// Task → the child (kill round) whose ack was acknowledged.
    acked: HashMap<u64, usize>,
}

fn parent() {
    let seed = std::env::var("RACTOR_AGENTS_CRASH_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x5eed_u64);
    let mut rng = SmallRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().expect("tempdir");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let mut seen = Acknowledged::default();
    let started = Instant::now();
    for round in 0..KILLS {
        let run_for = Duration::from_millis(rng.random_range(20..250));
        let lines = run_child_until_killed(dir.path(), run_for, seed, round);
        for line in lines {
            let (tag, id) = match line.split_once(' ').map(|(t, id)| (t, id.parse::<u64>())) {
                Some((tag, Ok(id))) => (tag, id),
                _ => continue,
            };
            match tag {
                "E" => {
                    seen.enqueued.insert(id);
                }
                "A" => {
                    if let Some(earlier) = seen.acked.insert(id, round) {
                        panic!("seed {seed}: task {id} was completed twice (children {earlier} and {round})");
                    }
                }
                _ => {}
            }
        }
        let store = DurableStore::open_with(dir.path(), options())
            .unwrap_or_else(|e| panic!("seed {seed}, kill {round}: reopening after the kill failed: {e}"));
        runtime.block_on(check(&store, &seen, seed, round));
        store.close().expect("close");
    }
    assert!(
        seen.enqueued.len() > 500 && seen.acked.len() > 200,
        "seed {seed}: the children did too little to prove anything ({} enqueues, {} acks acknowledged)",
        seen.enqueued.len(),
        seen.acked.len()
    );
    println!(
        "{KILLS} kills in {:.1} s: {} acknowledged enqueues and {} acknowledged acks all survived",
        started.elapsed().as_secs_f64(),
        seen.enqueued.len(),
        seen.acked.len()
    );
}

async fn check(store: &DurableStore, seen: &Acknowledged, seed: u64, round: usize) {
    for &id in &seen.enqueued {
        let found = store.get(TaskId(id)).await.expect("get");
        assert!(found.is_some(), "seed {seed}, kill {round}: acknowledged enqueue of task {id} was lost");
    }
    for &id in seen.acked.keys() {
        let status = store.get(TaskId(id)).await.expect("get").map(|r| r.status);
        assert_eq!(
            status,
            Some(TaskStatus::Succeeded),
            "seed {seed}, kill {round}: task {id}'s acknowledged ack was lost (it would be handed out again)"
        );
    }
}

/// Starts a child on `dir`, lets it work for `run_for` after it is ready, SIGKILLs it and
/// returns every line it printed.
fn run_child_until_killed(dir: &Path, run_for: Duration, seed: u64, round: usize) -> Vec<String> {
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir)
        .env(CHILD_LEASES_NOT_AWAITED, if round % 2 == 1 { "1" } else { "0" })
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the child");
    let stdout = child.stdout.take().expect("child stdout");
    let (tx, rx) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let ready_by = Instant::now() + Duration::from_secs(60);
    loop {
        match rx.recv_timeout(ready_by.saturating_duration_since(Instant::now())) {
            // libtest prints "test <name> ... " before the test's own first line.
            Ok(line) if line.ends_with("READY") => break,
            Ok(line) => lines.push(line),
            Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                let _ = child.kill();
                panic!("seed {seed}, kill {round}: the child never became ready (it could not open the store)");
            }
        }
    }
    let kill_at = Instant::now() + run_for;
    while let Ok(line) = rx.recv_timeout(kill_at.saturating_duration_since(Instant::now())) {
        lines.push(line);
    }
    child.kill().expect("SIGKILL the child");
    let _ = child.wait();
    // What the child wrote before dying is still in the pipe: read it to the end.
    lines.extend(rx.iter());
    let _ = reader.join();
    lines
}

fn child(dir: &Path) {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    runtime.block_on(async {
        let not_awaited = std::env::var(CHILD_LEASES_NOT_AWAITED).is_ok_and(|v| v == "1");
        let options = options().durable_leases(!not_awaited);
        let store = Arc::new(DurableStore::open_with(dir, options).expect("child: open"));
        say("READY");
        let mut workers = tokio::task::JoinSet::new();
        for producer in 0..16 {
            let store = store.clone();
            workers.spawn(async move {
                for n in 0u64.. {
                    let task = Task::new("crash", format!("producer {producer} task {n}"));
                    let id = store.enqueue(task).await.expect("child: enqueue").id;
                    say(&format!("E {}", id.0));
                }
            });
        }
        for _ in 0..4 {
            let store = store.clone();
            workers.spawn(async move {
                let mut changes = store.changes();
                loop {
                    let request = LeaseRequest::new("crash").max(16).lease_for(LEASE);
                    let leases = store.lease(request).await.expect("child: lease");
                    if leases.is_empty() {
                        let _ = tokio::time::timeout(Duration::from_millis(20), changes.changed()).await;
                    }
                    for lease in leases {
                        match store.ack(lease.id(), lease.token, Payload::from("ok")).await {
                            Ok(()) => say(&format!("A {}", lease.id().0)),
                            // The lease ran out under load and the task went back: not acked.
                            Err(QueueError::LeaseLost { .. }) => {}
                            Err(error) => panic!("child: ack: {error}"),
                        }
                    }
                }
            });
        }
        let _ = tokio::time::timeout(CHILD_LIFETIME, workers.join_next()).await;
        std::process::exit(0);
    });
}

/// One line to the parent, flushed: once printed, the parent holds the store to it.
fn say(line: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}
