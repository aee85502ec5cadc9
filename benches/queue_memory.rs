//! In-memory task queue throughput on one core: every task is enqueued, leased and acked.
//!
//! ```text
//! cargo bench -p ractor-agents-benches --bench queue_memory [-- --tasks 2000000 --runs 3]
//! ```
//!
//! Peers in the same run: the queue's state machine driven directly (no trait object, no lock:
//! the floor of our store), and a tokio mpsc channel carrying the same payload (send = enqueue,
//! recv = lease; a channel has no ack, no priority, no leases, so it is a lower bound, not a
//! like-for-like queue). All on a current-thread runtime: one core.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ractor_agents::tasks::{LeaseRequest, MemoryStore, Payload, QueueState, Task, TaskStore, Timestamp};

const CHUNK: usize = 1024;
const LEASE_BATCH: usize = 64;

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// `purge`: drop finished tasks after every chunk (a service's retention sweep), so the store
/// stays small; without it every finished task (and its result) is kept, as a store does until
/// its retention sweep runs.
async fn store_run(tasks: usize, purge: bool) -> Duration {
    let store: Arc<dyn TaskStore> = Arc::new(MemoryStore::new());
    let payload = Payload::from(r#"{"text":"a short task payload"}"#);
    let request = LeaseRequest::new("work").max(LEASE_BATCH);
    let start = Instant::now();
    let mut done = 0;
    while done < tasks {
        for _ in 0..CHUNK {
            store.enqueue(Task::new("work", payload.clone()).priority(1)).await.expect("enqueue");
        }
        let mut acked = 0;
        while acked < CHUNK {
            let leases = store.lease(request.clone()).await.expect("lease");
            for lease in leases {
                store.ack(lease.id(), lease.token, Payload::default()).await.expect("ack");
                acked += 1;
            }
        }
        if purge {
            store.purge_finished(Duration::ZERO).await.expect("purge");
        }
        done += CHUNK;
    }
    let elapsed = start.elapsed();
    assert_eq!(store.counts().await.expect("counts").unfinished(), 0);
    elapsed
}

fn state_run(tasks: usize, purge: bool) -> Duration {
    let mut state = QueueState::new();
    let payload = Payload::from(r#"{"text":"a short task payload"}"#);
    let request = LeaseRequest::new("work").max(LEASE_BATCH);
    let now = Timestamp(1_700_000_000_000_000);
    let start = Instant::now();
    let mut done = 0;
    while done < tasks {
        for _ in 0..CHUNK {
            state.enqueue(now, Task::new("work", payload.clone()).priority(1), &mut ()).expect("enqueue");
        }
        let mut acked = 0;
        while acked < CHUNK {
            for lease in state.lease(now, &request, &mut ()) {
                state.ack(now, lease.id(), lease.token, Payload::default(), &mut ()).expect("ack");
                acked += 1;
            }
        }
        if purge {
            state.purge_finished(Timestamp(u64::MAX), &mut ());
        }
        done += CHUNK;
    }
    start.elapsed()
}

async fn channel_run(tasks: usize) -> Duration {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let payload = Payload::from(r#"{"text":"a short task payload"}"#);
    let start = Instant::now();
    let mut done = 0;
    while done < tasks {
        for i in 0..CHUNK {
            tx.send((i as u64, 1u8, payload.clone())).expect("send");
        }
        for _ in 0..CHUNK {
            std::hint::black_box(rx.recv().await.expect("recv"));
        }
        done += CHUNK;
    }
    start.elapsed()
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let tasks = arg("--tasks", 2_000_000);
    let runs = arg("--runs", 3);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    println!("in-memory queue, enqueue + lease({LEASE_BATCH}) + ack, {tasks} tasks per run, one core");
    for run in 1..=runs {
        for purge in [false, true] {
            let store = rt.block_on(store_run(tasks, purge));
            let state = state_run(tasks, purge);
            let channel = rt.block_on(channel_run(tasks));
            let rate = |d: Duration| tasks as f64 / d.as_secs_f64() / 1e6;
            let mode = if purge { "purged per chunk" } else { "all kept      " };
            println!(
                "run {run} ({mode}): MemoryStore {:.2} M tasks/s | QueueState {:.2} M/s | tokio mpsc {:.2} M/s | \
                 store/channel {:.3}x, store/state {:.2}x",
                rate(store),
                rate(state),
                rate(channel),
                rate(store) / rate(channel),
                rate(store) / rate(state),
            );
        }
    }
}
