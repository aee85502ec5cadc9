//! Every peer of the durable queue comparison keeps the queue's contract, so the benchmark compares
//! like with like: priority then FIFO order, one holder per lease, tokens checked on ack, waiting
//! leases woken by enqueues, expired leases handed out again, and (embedded peers) tasks that
//! survive a reopen while leases do not.
// Test helpers outside `#[test]` functions unwrap too: a failure here is a failed test.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use ractor_agents_benches::queue_peers::postgres_queue::{PostgresOptions, PostgresQueue};
use ractor_agents_benches::queue_peers::workload::{self, Workload};
use ractor_agents_benches::queue_peers::{Ack, DurableQueue, QueueError, QueueOptions};
use ractor_agents_benches::queue_peers::{fjall_queue, redb_queue, sqlite_queue};

const LONG: Duration = Duration::from_secs(300);
/// Generous bound for a wait that should end at once (the machine is shared and slow at times).
const PATIENCE: Duration = Duration::from_secs(20);
const NO_WAIT: Duration = Duration::from_millis(50);

#[derive(Clone, Copy)]
enum Peer {
    Redb,
    Sqlite,
    Fjall,
    Postgres,
}

/// The peer's queue, or `None` when PostgreSQL does not answer and services are not required.
async fn open(peer: Peer, dir: &Path) -> Option<Arc<dyn DurableQueue>> {
    let options = QueueOptions::default();
    let queue: Result<Arc<dyn DurableQueue>, QueueError> = match peer {
        Peer::Redb => redb_queue::open(dir, options).map(|q| Arc::new(q) as _),
        Peer::Sqlite => sqlite_queue::open(dir, options).map(|q| Arc::new(q) as _),
        Peer::Fjall => fjall_queue::open(dir, options).map(|q| Arc::new(q) as _),
        Peer::Postgres => PostgresQueue::open(&PostgresOptions::from_env(), options).await.map(|q| Arc::new(q) as _),
    };
    match queue {
        Ok(queue) => Some(queue),
        Err(QueueError::Postgres(error)) if std::env::var_os("RACTOR_AGENTS_REQUIRE_SERVICES").is_none() => {
            println!("skipped: PostgreSQL does not answer ({error})");
            None
        }
        Err(error) => panic!("opening the queue failed: {error}"),
    }
}

async fn payloads_of(queue: &dyn DurableQueue, max: usize, wait: Duration) -> Vec<Vec<u8>> {
    queue.lease(max, LONG, wait).await.unwrap().into_iter().map(|t| t.payload).collect()
}

async fn leases_take_the_highest_priority_first_then_the_earliest(queue: Arc<dyn DurableQueue>) {
    for (payload, priority) in [("a", 0), ("b", 5), ("c", 0), ("d", 5), ("e", 9)] {
        queue.enqueue(payload.as_bytes().to_vec(), priority).await.unwrap();
    }
    let leased = queue.lease(10, LONG, PATIENCE).await.unwrap();
    let order: Vec<&[u8]> = leased.iter().map(|t| t.payload.as_slice()).collect();
    assert_eq!(order, [b"e", b"b", b"d", b"a", b"c"]);
    queue.ack(leased.iter().map(|t| t.ack()).collect()).await.unwrap();
    assert!(payloads_of(&*queue, 10, NO_WAIT).await.is_empty(), "acked tasks are gone");
}

async fn a_leased_task_is_not_leased_again_while_its_lease_holds(queue: Arc<dyn DurableQueue>) {
    queue.enqueue(b"only".to_vec(), 1).await.unwrap();
    let first = queue.lease(5, LONG, PATIENCE).await.unwrap();
    assert_eq!(first.len(), 1);
    assert!(payloads_of(&*queue, 5, NO_WAIT).await.is_empty());
    queue.ack(vec![first[0].ack()]).await.unwrap();
}

async fn an_ack_under_a_wrong_token_is_refused(queue: Arc<dyn DurableQueue>) {
    queue.enqueue(b"task".to_vec(), 1).await.unwrap();
    let leased = queue.lease(1, LONG, PATIENCE).await.unwrap();
    let forged = Ack { id: leased[0].id, token: leased[0].token.wrapping_add(1) };
    assert!(matches!(queue.ack(vec![forged]).await, Err(QueueError::LeaseNotHeld { .. })));
    queue.ack(vec![leased[0].ack()]).await.unwrap();
}

async fn a_waiting_lease_gets_a_task_enqueued_while_it_waits(queue: Arc<dyn DurableQueue>) {
    let waiter = tokio::spawn({
        let queue = queue.clone();
        async move { queue.lease(1, LONG, PATIENCE).await }
    });
    queue.enqueue(b"late".to_vec(), 1).await.unwrap();
    let leased = waiter.await.unwrap().unwrap();
    assert_eq!(leased.len(), 1, "the waiting lease was answered empty after {PATIENCE:?}");
    assert_eq!(leased[0].payload, b"late");
}

async fn an_expired_lease_hands_the_task_out_again_under_a_new_token(queue: Arc<dyn DurableQueue>) {
    let id = queue.enqueue(b"slow".to_vec(), 1).await.unwrap();
    let first = queue.lease(1, Duration::from_millis(100), PATIENCE).await.unwrap();
    let second = queue.lease(1, LONG, PATIENCE).await.unwrap();
    assert_eq!(second.len(), 1, "the expired lease was not handed out within {PATIENCE:?}");
    assert_eq!((second[0].id, first[0].id), (id, id));
    assert_ne!(second[0].token, first[0].token);
    queue.ack(vec![second[0].ack()]).await.unwrap();
}

async fn the_workload_completes_every_task_once(queue: Arc<dyn DurableQueue>) {
    let shape =
        Workload { tasks: 3_000, producers: 4, in_flight: 16, consumers: 2, lease_batch: 64, ..Default::default() };
    let report = workload::run(queue, &shape).await.unwrap();
    assert_eq!((report.enqueued, report.completed), (3_000, 3_000));
    assert_eq!(report.latency.len(), 3_000);
    let commits = report.commits.expect("every peer counts its commits");
    assert!(commits.records >= 3 * 3_000, "each task is enqueued, leased and acked: {commits:?}");
}

/// Embedded peers: a reopened queue has every task not acked, ready again (leases end with the
/// process), in the same order.
async fn tasks_outlive_a_reopen_and_leases_do_not(peer: Peer) {
    let dir = tempfile::tempdir().unwrap();
    let queue = open(peer, dir.path()).await.unwrap();
    for payload in ["a", "b", "c"] {
        queue.enqueue(payload.as_bytes().to_vec(), 3).await.unwrap();
    }
    let leased = queue.lease(2, LONG, PATIENCE).await.unwrap();
    queue.ack(vec![leased[0].ack()]).await.unwrap();
    queue.close().await.unwrap();
    drop(queue);
    let reopened = open(peer, dir.path()).await.unwrap();
    assert_eq!(payloads_of(&*reopened, 10, PATIENCE).await, [b"b".to_vec(), b"c".to_vec()]);
    let id = reopened.enqueue(b"d".to_vec(), 3).await.unwrap();
    assert!(id > leased[1].id, "ids are not reused after a reopen");
    reopened.close().await.unwrap();
}

macro_rules! contract {
    ($peer:ident, $variant:expr, [$($property:ident),*]) => {
        mod $peer {
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $property() {
                    let dir = tempfile::tempdir().unwrap();
                    let Some(queue) = open($variant, dir.path()).await else { return };
                    super::$property(queue.clone()).await;
                    queue.close().await.unwrap();
                }
            )*
        }
    };
}

macro_rules! every_property {
    ($peer:ident, $variant:expr) => {
        contract!(
            $peer,
            $variant,
            [
                leases_take_the_highest_priority_first_then_the_earliest,
                a_leased_task_is_not_leased_again_while_its_lease_holds,
                an_ack_under_a_wrong_token_is_refused,
                a_waiting_lease_gets_a_task_enqueued_while_it_waits,
                an_expired_lease_hands_the_task_out_again_under_a_new_token,
                the_workload_completes_every_task_once
            ]
        );
    };
}

every_property!(redb, Peer::Redb);
every_property!(sqlite, Peer::Sqlite);
every_property!(fjall, Peer::Fjall);
every_property!(postgres, Peer::Postgres);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redb_tasks_outlive_a_reopen_and_leases_do_not() {
    tasks_outlive_a_reopen_and_leases_do_not(Peer::Redb).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_tasks_outlive_a_reopen_and_leases_do_not() {
    tasks_outlive_a_reopen_and_leases_do_not(Peer::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fjall_tasks_outlive_a_reopen_and_leases_do_not() {
    tasks_outlive_a_reopen_and_leases_do_not(Peer::Fjall).await;
}
