use std::sync::Arc;

use super::*;

#[test]
fn concurrent_appenders_share_syncs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (journal, _) = open(dir.path(), options().segment_bytes(1 << 20));
    let journal = Arc::new(journal);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().expect("runtime");
    let (appenders, each) = (32, 40);
    runtime.block_on(async {
        let tasks: Vec<_> = (0..appenders)
            .map(|a| {
                let journal = journal.clone();
                tokio::spawn(async move {
                    for i in 0..each {
                        let ticket = journal.append(&record(a * each + i)).expect("append");
                        journal.wait_durable(ticket).await.expect("durable");
                        assert!(journal.is_durable(ticket));
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("appender");
        }
    });
    let stats = journal.stats();
    assert_eq!(stats.records, (appenders * each) as u64);
    assert!(
        stats.batches < stats.records / 2,
        "{} syncs for {} records: appenders waiting together should share syncs",
        stats.batches,
        stats.records
    );
}

#[test]
fn a_waiter_resolves_only_once_its_record_is_durable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (journal, _) = open(dir.path(), options());
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    for i in 0..200 {
        let ticket = journal.append(&record(i)).expect("append");
        runtime.block_on(journal.wait_durable(ticket)).expect("durable");
        assert!(journal.durable_records() > i as u64);
    }
}

#[test]
fn a_cancelled_waiter_leaves_nothing_behind_and_others_still_resolve() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (journal, _) = open(dir.path(), options());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    runtime.block_on(async {
        let tickets: Vec<Ticket> = (0..100).map(|i| journal.append(&record(i)).expect("append")).collect();
        // Poll half of the waits once (registering them) and drop them.
        for ticket in tickets.iter().step_by(2) {
            let _ = tokio::time::timeout(std::time::Duration::ZERO, journal.wait_durable(*ticket)).await;
        }
        for ticket in &tickets {
            journal.wait_durable(*ticket).await.expect("durable");
        }
    });
    assert!(journal.shared.durability.waiters_registered() == 0);
}
