//! Group commit: one thread owns the write connection. Concurrent write operations queue up; the
//! thread runs everything queued in one transaction (each operation inside its own savepoint, so one
//! refused operation does not undo the others), commits once — one fsync for the whole batch — and
//! only then answers each caller. An answered write is therefore on disk.

use std::cell::RefCell;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::Instant;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot, watch};

use super::tx::SqliteTx;
use crate::{StoreError, StoreResult};

/// The largest number of operations one transaction takes; bounds the latency of the first caller.
const MAX_BATCH: usize = 512;

type Reply = Box<dyn FnOnce(StoreResult<()>) + Send>;
/// An operation: runs against the connection inside the batch, returns whether it succeeded and
/// how to answer its caller once the batch's fate is known.
type Job = Box<dyn FnOnce(&mut SqliteTx) -> (bool, Reply) + Send>;

thread_local! {
    /// What the operations of the batch being written asked to run once it commits.
    static AFTER_COMMIT: RefCell<Vec<Box<dyn FnOnce() + Send>>> = const { RefCell::new(Vec::new()) };
}

/// Runs `f` once the batch of the operation calling this (on the writer thread) has committed;
/// never when the operation is refused or the commit fails.
pub(crate) fn after_commit(f: Box<dyn FnOnce() + Send>) {
    AFTER_COMMIT.with(|hooks| hooks.borrow_mut().push(f));
}

pub(crate) struct Writer {
    /// `None` once closed.
    jobs: std::sync::RwLock<Option<mpsc::UnboundedSender<Job>>>,
    thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Grows after every commit that carried a successful operation (the change log's wake-up).
    committed: watch::Sender<u64>,
}

impl Writer {
    pub fn start(conn: Connection) -> StoreResult<Self> {
        let (tx, rx) = mpsc::unbounded_channel();
        let committed = watch::Sender::new(0);
        let signal = committed.clone();
        let handle = std::thread::Builder::new()
            .name("runhub-writer".into())
            .spawn(move || run(SqliteTx(conn), rx, signal))
            .map_err(|e| StoreError::Internal(format!("cannot start the writer thread: {e}")))?;
        Ok(Self { jobs: std::sync::RwLock::new(Some(tx)), thread: std::sync::Mutex::new(Some(handle)), committed })
    }

    /// A receiver that sees a new value after every commit of a successful write.
    pub fn committed(&self) -> watch::Receiver<u64> {
        self.committed.subscribe()
    }

    /// Stops taking writes, lets the queued ones finish, and waits for the thread to close the
    /// connection.
    pub fn close(&self) {
        if let Ok(mut jobs) = self.jobs.write() {
            jobs.take();
        }
        let handle = self.thread.lock().ok().and_then(|mut h| h.take());
        if let Some(handle) = handle {
            let _ = handle.join();
        }
    }

    /// Runs `op` in the next batch and answers after the batch is durable.
    pub async fn write<T, F>(&self, op: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteTx) -> StoreResult<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<StoreResult<T>>();
        let job: Job = Box::new(move |conn| {
            let result = match catch_unwind(AssertUnwindSafe(|| op(conn))) {
                Ok(r) => r,
                Err(_) => Err(StoreError::Internal("a write operation panicked".into())),
            };
            let ok = result.is_ok();
            let reply: Reply = Box::new(move |commit: StoreResult<()>| {
                let _ = tx.send(commit.and(result));
            });
            (ok, reply)
        });
        let sent = match self.jobs.read() {
            Ok(jobs) => jobs.as_ref().is_some_and(|j| j.send(job).is_ok()),
            Err(_) => false,
        };
        if !sent {
            return Err(StoreError::Unavailable("the store is closed".into()));
        }
        rx.await.map_err(|_| StoreError::Unavailable("the store closed before answering".into()))?
    }
}

/// Runs one of the writer's fixed control statements, prepared once and cached.
fn exec(conn: &Connection, sql: &str) -> StoreResult<()> {
    conn.prepare_cached(sql).and_then(|mut s| s.raw_execute()).map(|_| ()).map_err(|e| StoreError::Internal(format!("{sql}: {e}")))
}

fn run(mut tx: SqliteTx, mut rx: mpsc::UnboundedReceiver<Job>, committed_signal: watch::Sender<u64>) {
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    while let Some(first) = rx.blocking_recv() {
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut replies = Vec::with_capacity(batch.len());
        if let Err(e) = exec(&tx.0, "BEGIN IMMEDIATE") {
            tracing::error!(error = %e, "cannot begin a write transaction");
            // Dropping a job drops its reply channel: its caller gets `Unavailable`.
            batch.clear();
            continue;
        }
        let mut any_ok = false;
        for job in batch.drain(..) {
            let savepoint = exec(&tx.0, "SAVEPOINT op");
            let mark = AFTER_COMMIT.with(|hooks| hooks.borrow().len());
            let (ok, reply) = job(&mut tx);
            any_ok |= ok;
            if !ok {
                AFTER_COMMIT.with(|hooks| hooks.borrow_mut().truncate(mark));
            }
            if savepoint.is_ok() {
                let _ = if ok { exec(&tx.0, "RELEASE op") } else { exec(&tx.0, "ROLLBACK TO op").and_then(|()| exec(&tx.0, "RELEASE op")) };
            }
            replies.push(reply);
        }
        let started = Instant::now();
        let committed = exec(&tx.0, "COMMIT").inspect_err(|_| {
            let _ = exec(&tx.0, "ROLLBACK");
        });
        let hooks = AFTER_COMMIT.with(|hooks| std::mem::take(&mut *hooks.borrow_mut()));
        if committed.is_ok() {
            crate::telemetry::commit_took(started.elapsed());
            hooks.into_iter().for_each(|hook| hook());
        }
        if committed.is_ok() && any_ok {
            committed_signal.send_modify(|n| *n = n.wrapping_add(1));
        }
        for reply in replies {
            reply(committed.as_ref().map(|_| ()).map_err(|e| StoreError::Unavailable(e.to_string())));
        }
    }
    // Channel closed: every sender is gone. Checkpoint so the next start has little WAL to replay.
    let _ = tx.0.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)");
}
