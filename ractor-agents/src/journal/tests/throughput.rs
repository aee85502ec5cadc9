//! The raw journal's throughput with 1, 16 and 1024 concurrent appenders, each appending a
//! 150-byte record and waiting for it to be durable, in a loop. A measurement, not a check:
//!
//! ```text
//! cargo test --release -p ractor-agents --lib journal::tests::throughput -- --ignored --nocapture
//! ```
//!
//! `RACTOR_AGENTS_JOURNAL_DIR` picks the directory (default: the system temp dir).

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;

fn measure(appenders: usize, preallocate: bool, sync: SyncMode) {
    let base = std::env::var_os("RACTOR_AGENTS_JOURNAL_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let dir = tempfile::tempdir_in(base).expect("tempdir");
    let options = JournalOptions::default().preallocate(preallocate).sync(sync);
    let (journal, _) = Journal::open(dir.path(), options).expect("open");
    let journal = Arc::new(journal);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().expect("runtime");
    let run_for = Duration::from_secs(3);
    let started = Instant::now();
    let before = journal.stats();
    runtime.block_on(async {
        let tasks: Vec<_> = (0..appenders)
            .map(|_| {
                let journal = journal.clone();
                tokio::spawn(async move {
                    let record = [7u8; 150];
                    while started.elapsed() < run_for {
                        let ticket = journal.append(&record).expect("append");
                        journal.wait_durable(ticket).await.expect("durable");
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("appender");
        }
    });
    let elapsed = started.elapsed().as_secs_f64();
    let stats = journal.stats();
    let (batches, records) = (stats.batches - before.batches, stats.records - before.records);
    println!(
        "{appenders:>5} appenders, preallocate {preallocate:<5}, {sync:?}: {:>8.0} records/s, {:>6.0} syncs/s, {:>6.1} records/sync",
        records as f64 / elapsed,
        batches as f64 / elapsed,
        records as f64 / batches.max(1) as f64
    );
}

#[test]
#[ignore = "a measurement; run it explicitly in release mode"]
fn raw_journal_throughput() {
    for appenders in [1, 16, 1024] {
        for preallocate in [true, false] {
            measure(appenders, preallocate, SyncMode::EveryBatch);
        }
    }
    measure(1024, true, SyncMode::Never);
}
