//! PostgreSQL as a task queue: `SELECT … FOR UPDATE SKIP LOCKED` leases, `synchronous_commit = on`.
//!
//! Its best shot, as a service would run it:
//! - **Enqueues are batched.** A few inserter tasks, each with its own connection, take every
//!   enqueue waiting and insert them with one `INSERT … SELECT FROM unnest(…)` (one commit);
//!   while one waits for its commit the next gathers a batch, and the server groups the WAL
//!   flushes of concurrent commits.
//! - **Leases are batched** (`LIMIT max`), served by a partial index on the ready rows in lease
//!   order, on connections with `synchronous_commit = off` (the lease's loss in a crash only
//!   means the task is leased again; `QueueOptions::sync_leases` turns that off).
//! - **Acks are batched:** one `DELETE … USING unnest(…)` per ack call.
//! - **No polling delay:** a lease that finds nothing waits for the next insert commit, signalled
//!   in process (a stand-in for `LISTEN`/`NOTIFY`, which producers in other processes would need).
//! - Statements are prepared once per connection; the table gets aggressive autovacuum, as a queue
//!   table with this churn needs. Expired leases are returned to the ready rows once a second.
//!
//! Each queue creates its own table (`qbench_<pid>_<µs>`) and drops it in
//! [`close`](DurableQueue::close).

use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use tokio::sync::{Mutex, Notify, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_postgres::{Client, NoTls, Statement};

use super::{Ack, CommitStats, DurableQueue, LeasedTask, QueueError, QueueOptions, TaskId};

/// The environment variable naming the server; [`DEFAULT_URL`] when unset.
pub const URL_VARIABLE: &str = "RACTOR_AGENTS_POSTGRES_URL";
/// The development machines' server.
pub const DEFAULT_URL: &str = "host=127.0.0.1 port=5432 user=postgres dbname=test";

/// Enqueues in one `INSERT` at most.
const MAX_INSERT_ROWS: usize = 1_024;

/// How often expired leases are returned to the ready rows, at most.
const REAP_INTERVAL: Duration = Duration::from_secs(1);

/// Where and with how many connections.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// A `tokio-postgres` connection string.
    pub url: String,
    /// Inserter tasks, one connection each.
    pub inserters: usize,
    /// Connections shared round-robin by lease calls.
    pub lease_connections: usize,
    /// Connections shared round-robin by ack calls.
    pub ack_connections: usize,
}

impl PostgresOptions {
    /// [`URL_VARIABLE`] (or [`DEFAULT_URL`]) with 4 inserters, 4 lease and 4 ack connections.
    pub fn from_env() -> PostgresOptions {
        PostgresOptions {
            url: std::env::var(URL_VARIABLE).unwrap_or_else(|_| DEFAULT_URL.to_owned()),
            inserters: 4,
            lease_connections: 4,
            ack_connections: 4,
        }
    }
}

struct Enqueue {
    payload: Vec<u8>,
    priority: u8,
    reply: oneshot::Sender<Result<TaskId, QueueError>>,
}

/// A connection and the statement prepared on it.
struct Prepared {
    client: Client,
    statement: Statement,
}

/// A queue in its own PostgreSQL table.
pub struct PostgresQueue {
    table: String,
    admin: Client,
    enqueues: std::sync::Mutex<Option<mpsc::UnboundedSender<Enqueue>>>,
    inserters: std::sync::Mutex<Vec<JoinHandle<()>>>,
    /// The inserters' connections, shared so that `commit_stats` can reach their backends.
    insert_connections: Vec<Arc<Prepared>>,
    leases: Vec<Prepared>,
    acks: Vec<Prepared>,
    round_robin: AtomicUsize,
    /// Signalled after every insert commit, to wake waiting leases.
    inserted: Arc<Notify>,
    records: Arc<AtomicU64>,
    next_token: AtomicU64,
    last_reap: Mutex<Instant>,
    wal_syncs_at_open: i64,
}

async fn connect(url: &str) -> Result<Client, QueueError> {
    let (client, connection) = tokio_postgres::connect(url, NoTls).await?;
    // The connection task ends when the client is dropped; its error then has no one to tell.
    tokio::spawn(async move { drop(connection.await) });
    Ok(client)
}

async fn prepared(url: &str, setup: &str, sql: &str) -> Result<Prepared, QueueError> {
    let client = connect(url).await?;
    client.batch_execute(setup).await?;
    let statement = client.prepare(sql).await?;
    Ok(Prepared { client, statement })
}

impl PostgresQueue {
    /// Creates a fresh table and opens the connections.
    pub async fn open(options: &PostgresOptions, queue: QueueOptions) -> Result<PostgresQueue, QueueError> {
        let micros = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros());
        let table = format!("qbench_{}_{micros}", std::process::id());
        let admin = connect(&options.url).await?;
        admin
            .batch_execute(&format!(
                "CREATE TABLE {table} (
                    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                    priority smallint NOT NULL,
                    attempts integer NOT NULL DEFAULT 0,
                    lease_token bigint,
                    leased_until timestamptz,
                    payload bytea NOT NULL
                 ) WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000,
                         autovacuum_vacuum_insert_scale_factor = 0, autovacuum_vacuum_insert_threshold = 5000);
                 CREATE INDEX {table}_ready ON {table} (priority DESC, id) WHERE leased_until IS NULL;"
            ))
            .await?;
        let insert = format!(
            "INSERT INTO {table} (priority, payload)
             SELECT p, b FROM unnest($1::int2[], $2::bytea[]) WITH ORDINALITY AS u(p, b, n) ORDER BY n
             RETURNING id"
        );
        let lease = format!(
            "WITH next AS (
                SELECT id FROM {table} WHERE leased_until IS NULL
                ORDER BY priority DESC, id LIMIT $1 FOR UPDATE SKIP LOCKED)
             UPDATE {table} AS t
             SET leased_until = now() + make_interval(secs => $2), lease_token = $3, attempts = t.attempts + 1
             FROM next WHERE t.id = next.id
             RETURNING t.id, t.priority, t.payload"
        );
        let ack = format!(
            "DELETE FROM {table} AS t USING unnest($1::int8[], $2::int8[]) AS a(id, token)
             WHERE t.id = a.id AND t.lease_token = a.token RETURNING t.id"
        );
        let lease_setup =
            if queue.sync_leases { "SET synchronous_commit = on" } else { "SET synchronous_commit = off" };
        let mut leases = Vec::new();
        for _ in 0..options.lease_connections.max(1) {
            leases.push(prepared(&options.url, lease_setup, &lease).await?);
        }
        let mut acks = Vec::new();
        for _ in 0..options.ack_connections.max(1) {
            acks.push(prepared(&options.url, "SET synchronous_commit = on", &ack).await?);
        }
        let (enqueues, receiver) = mpsc::unbounded_channel();
        let receiver = Arc::new(Mutex::new(receiver));
        let inserted = Arc::new(Notify::new());
        let records = Arc::new(AtomicU64::new(0));
        let mut inserters = Vec::new();
        let mut insert_connections = Vec::new();
        for _ in 0..options.inserters.max(1) {
            let connection = Arc::new(prepared(&options.url, "SET synchronous_commit = on", &insert).await?);
            insert_connections.push(connection.clone());
            let inserter = Inserter {
                connection,
                receiver: receiver.clone(),
                inserted: inserted.clone(),
                records: records.clone(),
            };
            inserters.push(tokio::spawn(inserter.run()));
        }
        let wal_syncs_at_open = wal_syncs(&admin).await?;
        let first_token = u64::try_from(micros).unwrap_or(1);
        Ok(PostgresQueue {
            table,
            admin,
            enqueues: std::sync::Mutex::new(Some(enqueues)),
            inserters: std::sync::Mutex::new(inserters),
            insert_connections,
            leases,
            acks,
            round_robin: AtomicUsize::new(0),
            inserted,
            records,
            next_token: AtomicU64::new(first_token),
            last_reap: Mutex::new(Instant::now()),
            wal_syncs_at_open,
        })
    }

    fn pick<'a>(&self, pool: &'a [Prepared]) -> &'a Prepared {
        &pool[self.round_robin.fetch_add(1, Ordering::Relaxed) % pool.len()]
    }

    /// Returns tasks whose lease ran out to the ready rows, at most once a second.
    async fn reap_expired_leases(&self) -> Result<(), QueueError> {
        let Ok(mut last) = self.last_reap.try_lock() else { return Ok(()) };
        if last.elapsed() < REAP_INTERVAL {
            return Ok(());
        }
        *last = Instant::now();
        let sql = format!("UPDATE {} SET leased_until = NULL WHERE leased_until < now()", self.table);
        self.admin.execute(&sql, &[]).await?;
        Ok(())
    }
}

/// The server's WAL fsyncs so far (every backend's; the machine's other users count too).
async fn wal_syncs(client: &Client) -> Result<i64, QueueError> {
    Ok(client.query_one("SELECT wal_sync FROM pg_stat_wal", &[]).await?.get(0))
}

struct Inserter {
    connection: Arc<Prepared>,
    receiver: Arc<Mutex<mpsc::UnboundedReceiver<Enqueue>>>,
    inserted: Arc<Notify>,
    records: Arc<AtomicU64>,
}

impl Inserter {
    async fn run(self) {
        loop {
            let mut batch = Vec::new();
            {
                let mut receiver = self.receiver.lock().await;
                let Some(first) = receiver.recv().await else { return };
                batch.push(first);
                while batch.len() < MAX_INSERT_ROWS {
                    match receiver.try_recv() {
                        Ok(enqueue) => batch.push(enqueue),
                        Err(_) => break,
                    }
                }
            }
            let priorities: Vec<i16> = batch.iter().map(|e| i16::from(e.priority)).collect();
            let payloads: Vec<Vec<u8>> = batch.iter_mut().map(|e| std::mem::take(&mut e.payload)).collect();
            let (client, statement) = (&self.connection.client, &self.connection.statement);
            match client.query(statement, &[&priorities, &payloads]).await {
                Ok(rows) => {
                    // Ids are drawn in row order (`ORDER BY n`); RETURNING's order is not promised.
                    let mut ids: Vec<i64> = rows.iter().map(|row| row.get(0)).collect();
                    ids.sort_unstable();
                    self.records.fetch_add(ids.len() as u64, Ordering::Relaxed);
                    self.inserted.notify_waiters();
                    for (enqueue, id) in batch.into_iter().zip(ids) {
                        let _ = enqueue.reply.send(Ok(id as TaskId));
                    }
                }
                Err(error) => {
                    let reason = error.to_string();
                    for enqueue in batch {
                        let failed = QueueError::CommitFailed { peer: "postgres", reason: reason.clone() };
                        let _ = enqueue.reply.send(Err(failed));
                    }
                }
            }
        }
    }
}

#[async_trait]
impl DurableQueue for PostgresQueue {
    fn name(&self) -> String {
        "postgres".to_owned()
    }

    async fn enqueue(&self, payload: Vec<u8>, priority: u8) -> Result<TaskId, QueueError> {
        let (reply, answer) = oneshot::channel();
        let stopped = || QueueError::WriterStopped { peer: "postgres" };
        let sender = self.enqueues.lock().map_err(|_| stopped())?.clone().ok_or_else(stopped)?;
        sender.send(Enqueue { payload, priority, reply }).map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }

    async fn lease(&self, max: usize, lease_for: Duration, wait: Duration) -> Result<Vec<LeasedTask>, QueueError> {
        let deadline = tokio::time::Instant::now() + wait;
        let connection = self.pick(&self.leases);
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let seconds = lease_for.as_secs_f64();
        loop {
            self.reap_expired_leases().await?;
            // Registered before the query, so an insert committed while it runs still wakes us.
            let mut inserted = pin!(self.inserted.notified());
            inserted.as_mut().enable();
            let token = self.next_token.fetch_add(1, Ordering::Relaxed);
            let rows = connection.client.query(&connection.statement, &[&limit, &seconds, &(token as i64)]).await?;
            if !rows.is_empty() {
                let mut tasks: Vec<(i16, LeasedTask)> = rows
                    .iter()
                    .map(|row| {
                        (row.get(1), LeasedTask { id: row.get::<_, i64>(0) as TaskId, token, payload: row.get(2) })
                    })
                    .collect();
                tasks.sort_unstable_by_key(|(priority, task)| (std::cmp::Reverse(*priority), task.id));
                self.records.fetch_add(tasks.len() as u64, Ordering::Relaxed);
                return Ok(tasks.into_iter().map(|(_, task)| task).collect());
            }
            if tokio::time::Instant::now() >= deadline {
                return Ok(Vec::new());
            }
            // Wake for the next insert, or within a second to hand over a lease that ran out.
            let recheck = deadline.min(tokio::time::Instant::now() + REAP_INTERVAL);
            let _ = tokio::time::timeout_at(recheck, inserted).await;
        }
    }

    async fn ack(&self, acks: Vec<Ack>) -> Result<(), QueueError> {
        let ids: Vec<i64> = acks.iter().map(|a| a.id as i64).collect();
        let tokens: Vec<i64> = acks.iter().map(|a| a.token as i64).collect();
        let connection = self.pick(&self.acks);
        let rows = connection.client.query(&connection.statement, &[&ids, &tokens]).await?;
        self.records.fetch_add(rows.len() as u64, Ordering::Relaxed);
        if rows.len() < acks.len() {
            let deleted: std::collections::HashSet<i64> = rows.iter().map(|row| row.get(0)).collect();
            if let Some(missing) = acks.iter().find(|a| !deleted.contains(&(a.id as i64))) {
                return Err(QueueError::LeaseNotHeld { id: missing.id, token: missing.token });
            }
        }
        Ok(())
    }

    async fn commit_stats(&self) -> Result<Option<CommitStats>, QueueError> {
        // Backends report their WAL counters when idle, at most once a second unless asked:
        // ask each of ours, so the count includes their latest syncs.
        let ours = self.insert_connections.iter().map(|c| &**c).chain(&self.leases).chain(&self.acks);
        for connection in ours {
            connection.client.batch_execute("SELECT pg_stat_force_next_flush()").await?;
        }
        let syncs = wal_syncs(&self.admin).await? - self.wal_syncs_at_open;
        Ok(Some(CommitStats {
            commits: u64::try_from(syncs).unwrap_or(0),
            records: self.records.load(Ordering::Relaxed),
        }))
    }

    async fn close(&self) -> Result<(), QueueError> {
        // Dropping the only sender ends each inserter once the queue of enqueues is empty.
        if let Ok(mut sender) = self.enqueues.lock() {
            sender.take();
        }
        let inserters = self.inserters.lock().map(|mut all| std::mem::take(&mut *all)).unwrap_or_default();
        for inserter in inserters {
            let _ = inserter.await;
        }
        self.admin.batch_execute(&format!("DROP TABLE IF EXISTS {}", self.table)).await?;
        Ok(())
    }
}
