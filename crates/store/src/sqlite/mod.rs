//! The embedded store: one SQLite database file in WAL mode. Writes go through one writer thread
//! that commits in groups ([`writer`]); reads run on a small pool of connections in parallel.

pub mod backup;
mod schema;
mod tx;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures_executor::block_on;
use rand::RngCore;
use runhub_model::{
    NewProcess, NewRun, Process, ProcessKind, ProcessPatch, Run, RunPatch, Subscription, SubscriptionPatch, TenantId, Timestamp, Uuid,
};
use runhub_odata::ast::Filter;
use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use tokio::sync::Semaphore;

use self::tx::SqliteTx;
use self::writer::Writer;
use crate::changes::{self, ChangeRange, ChangeRecord, Collection};
use crate::dialect::Dialect;
use crate::query::Statement;
use crate::records::internal;
use crate::upkeep;
use crate::webhooks::{self, Delivery, FanoutCursor, OutboxBatch, Settle};
use crate::{ChangePage, ops, schedule};
use crate::{ListQuery, Page, Precondition, ProcessRef, RunScope, Store, StoreError, StoreResult};

/// How much an acknowledged write is worth.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// fsync on every commit: an acknowledged write survives power loss (the default).
    #[default]
    Full,
    /// fsync only at WAL checkpoints: survives a crash of runhub, not of the machine.
    Relaxed,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub durability: Durability,
    /// Read connections in the pool.
    pub readers: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self { durability: Durability::Full, readers: 4 }
    }
}

pub const DATABASE_FILE: &str = "runhub.sqlite3";

struct Readers {
    conns: Mutex<Vec<SqliteTx>>,
    permits: Semaphore,
}

pub struct SqliteStore {
    writer: Writer,
    readers: Arc<Readers>,
    secret: Vec<u8>,
    path: PathBuf,
}

fn open_connection(path: &Path, options: &Options, read_only: bool) -> StoreResult<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags).map_err(|e| StoreError::Unavailable(format!("{}: {e}", path.display())))?;
    let synchronous = match options.durability {
        Durability::Full => "FULL",
        Durability::Relaxed => "NORMAL",
    };
    conn.execute_batch(&format!(
        "PRAGMA busy_timeout = 5000; PRAGMA synchronous = {synchronous}; PRAGMA cache_size = -4000; PRAGMA temp_store = MEMORY;"
    ))
    .map_err(internal)?;
    // OData's tolower/toupper fold all of Unicode; SQLite's lower()/upper() only ASCII.
    for (name, fold) in [("rh_lower", str::to_lowercase as fn(&str) -> String), ("rh_upper", str::to_uppercase)] {
        conn.create_scalar_function(name, 1, FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC, move |ctx| {
            Ok(ctx.get::<Option<String>>(0)?.map(|s: String| fold(s.as_str())))
        })
        .map_err(internal)?;
    }
    // OData's startswith/endswith/contains over the whole string (SQLite's length() and substr()
    // stop at a NUL character); NULL when either argument is.
    for (name, test) in [
        ("rh_startswith", (|h, n| h.starts_with(n)) as fn(&str, &str) -> bool),
        ("rh_endswith", |h, n| h.ends_with(n)),
        ("rh_contains", |h, n| h.contains(n)),
    ] {
        conn.create_scalar_function(name, 2, FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC, move |ctx| {
            let (h, n) = (ctx.get_raw(0), ctx.get_raw(1));
            match (h.as_str_or_null()?, n.as_str_or_null()?) {
                (Some(h), Some(n)) => Ok(Some(i64::from(test(h, n)))),
                _ => Ok(None),
            }
        })
        .map_err(internal)?;
    }
    Ok(conn)
}

impl SqliteStore {
    pub async fn open(data_dir: &Path, options: Options) -> StoreResult<Self> {
        let data_dir = data_dir.to_owned();
        tokio::task::spawn_blocking(move || Self::open_blocking(&data_dir, options)).await.map_err(internal)?
    }

    fn open_blocking(data_dir: &Path, options: Options) -> StoreResult<Self> {
        std::fs::create_dir_all(data_dir).map_err(|e| StoreError::Unavailable(format!("{}: {e}", data_dir.display())))?;
        let path = data_dir.join(DATABASE_FILE);
        let conn = open_connection(&path, &options, false)?;
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(())).map_err(internal)?;
        schema::migrate(&conn)?;
        let secret = token_secret(&conn)?;
        let readers = (0..options.readers.max(1))
            .map(|_| {
                let c = open_connection(&path, &options, true)?;
                c.execute_batch("PRAGMA query_only = 1").map_err(internal)?;
                Ok(SqliteTx(c))
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let permits = Semaphore::new(readers.len());
        Ok(Self { writer: Writer::start(conn)?, readers: Arc::new(Readers { conns: Mutex::new(readers), permits }), secret, path })
    }

    /// The bulk path: stores already-valid processes and runs as they are, in one transaction through
    /// the writer (for imports and benchmark datasets). Group derivation is not re-run: import
    /// groups with their derived values, or members without groups.
    pub async fn import(&self, tenant: &TenantId, processes: Vec<Process>, runs: Vec<Run>) -> StoreResult<()> {
        let tenant = tenant.clone();
        self.writer.write(move |c| on(c, async |tx| ops::import(tx, &tenant, &processes, &runs).await)).await
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The statements a run listing executes (the page, then the count when asked for), each
    /// with its SQL and SQLite's `EXPLAIN QUERY PLAN`: which index serves it. For benchmarks and
    /// diagnosis (bench/query.sh).
    pub async fn explain_list_runs(
        &self,
        tenant: &TenantId,
        scope: &RunScope,
        query: &ListQuery,
    ) -> StoreResult<Vec<(String, Vec<String>)>> {
        let (tenant, scope, query) = (tenant.clone(), scope.clone(), query.clone());
        self.read(move |tx| {
            let stmts =
                crate::query::page_statements(crate::Table::Runs, &tenant, crate::query::scope_terms(&scope), &query, Dialect::Sqlite)?;
            let mut out = Vec::new();
            for stmt in std::iter::once(stmts.page).chain(stmts.count) {
                let sql = stmt.render(Dialect::Sqlite);
                let values = sea_query_rusqlite::RusqliteValues(sql.values.0.into_iter().map(sea_query_rusqlite::RusqliteValue).collect());
                let mut explain = tx.0.prepare(&format!("EXPLAIN QUERY PLAN {}", sql.text)).map_err(internal)?;
                let sql = sql.text;
                let plan = explain
                    .query_map(&*values.as_params(), |r| r.get::<_, String>(3))
                    .map_err(internal)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(internal)?;
                out.push((sql, plan));
            }
            Ok(out)
        })
        .await
    }

    /// Runs `op` on a pooled read connection, off the async threads.
    async fn read<T, F>(&self, op: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteTx) -> StoreResult<T> + Send + 'static,
    {
        let _permit = self.readers.permits.acquire().await.map_err(|_| StoreError::Unavailable("the store is closed".into()))?;
        let mut conn = self.readers.conns.lock().map_err(internal)?.pop().ok_or_else(|| internal("no read connection free"))?;
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let result = op(&mut conn);
            if let Ok(mut pool) = readers.conns.lock() {
                pool.push(conn);
            }
            result
        })
        .await
        .map_err(internal)?
    }

    /// Runs a point read — one row by primary key, tens of microseconds — on the calling task
    /// instead of handing it to the blocking pool: the hand-off costs more than the read. Anything
    /// whose cost grows with the data (lists, counts, scans) goes through [`Self::read`].
    async fn read_point<T, F>(&self, op: F) -> StoreResult<T>
    where
        F: FnOnce(&mut SqliteTx) -> StoreResult<T>,
    {
        let _permit = self.readers.permits.acquire().await.map_err(|_| StoreError::Unavailable("the store is closed".into()))?;
        let mut conn = self.readers.conns.lock().map_err(internal)?.pop().ok_or_else(|| internal("no read connection free"))?;
        let result = op(&mut conn);
        if let Ok(mut pool) = self.readers.conns.lock() {
            pool.push(conn);
        }
        result
    }
}

/// The `$skiptoken` key, made once per database so that every replica on it agrees.
fn token_secret(conn: &Connection) -> StoreResult<Vec<u8>> {
    let existing: Option<Vec<u8>> =
        conn.query_row("SELECT value FROM meta WHERE key = 'token_secret'", [], |r| r.get(0)).optional().map_err(internal)?;
    if let Some(secret) = existing {
        return Ok(secret);
    }
    let mut secret = vec![0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    conn.execute("INSERT INTO meta (key, value) VALUES ('token_secret', ?1)", params![secret]).map_err(internal)?;
    Ok(secret)
}

/// Runs a shared operation on a connection: its futures never wait (see [`tx`]), so `block_on`
/// returns at once.
fn on<T>(tx: &mut SqliteTx, op: impl AsyncFnOnce(&mut SqliteTx) -> StoreResult<T>) -> StoreResult<T> {
    block_on(op(tx))
}

/// Like [`on`], inside one read transaction: a page and its `@odata.count` come from one
/// snapshot, whatever is written meanwhile.
fn on_snapshot<T>(tx: &mut SqliteTx, op: impl AsyncFnOnce(&mut SqliteTx) -> StoreResult<T>) -> StoreResult<T> {
    tx.0.execute_batch("BEGIN DEFERRED").map_err(internal)?;
    let result = on(tx, op);
    // Nothing was written: ending the read transaction either way is the same.
    let ended = tx.0.execute_batch("ROLLBACK").map_err(internal);
    let result = result?;
    ended?;
    Ok(result)
}

#[async_trait]
impl Store for SqliteStore {
    async fn health(&self) -> StoreResult<()> {
        self.read(|tx| tx.0.query_row("SELECT 1", [], |_| Ok(())).map_err(|e| StoreError::Unavailable(e.to_string()))).await
    }

    fn token_secret(&self) -> &[u8] {
        &self.secret
    }

    async fn close(&self) {
        self.readers.permits.close();
        let writer = &self.writer;
        tokio::task::block_in_place(|| writer.close());
    }

    async fn create_process(&self, tenant: &TenantId, new: NewProcess) -> StoreResult<Process> {
        let tenant = tenant.clone();
        self.writer.write(move |c| on(c, async |tx| ops::create_process(tx, &tenant, new).await)).await
    }

    async fn get_process(&self, tenant: &TenantId, kind: ProcessKind, id: Uuid) -> StoreResult<Process> {
        let tenant = tenant.clone();
        self.read_point(move |c| on(c, async |tx| ops::get_process(tx, &tenant, kind, id).await)).await
    }

    async fn update_process(
        &self,
        tenant: &TenantId,
        kind: ProcessKind,
        id: Uuid,
        patch: ProcessPatch,
        pre: Option<Precondition>,
    ) -> StoreResult<Process> {
        let tenant = tenant.clone();
        self.writer.write(move |c| on(c, async |tx| ops::update_process(tx, &tenant, kind, id, patch, pre).await)).await
    }

    async fn delete_process(&self, tenant: &TenantId, kind: ProcessKind, id: Uuid, pre: Option<Precondition>) -> StoreResult<()> {
        let tenant = tenant.clone();
        self.writer.write(move |c| on(c, async |tx| ops::delete_process(tx, &tenant, kind, id, pre).await)).await
    }

    async fn list_processes(&self, tenant: &TenantId, kind: ProcessKind, query: &ListQuery) -> StoreResult<Page<Process>> {
        let (tenant, query) = (tenant.clone(), query.clone());
        self.read(move |c| on_snapshot(c, async |tx| ops::list_processes(tx, &tenant, kind, &query).await)).await
    }

    async fn count_processes(&self, tenant: &TenantId, kind: ProcessKind, filter: Option<&Filter>) -> StoreResult<u64> {
        let (tenant, filter) = (tenant.clone(), filter.cloned());
        self.read(move |c| on(c, async |tx| ops::count_processes(tx, &tenant, kind, filter.as_ref()).await)).await
    }

    async fn processes_by_ids(&self, tenant: &TenantId, ids: &[Uuid]) -> StoreResult<Vec<Process>> {
        let (tenant, ids) = (tenant.clone(), ids.to_vec());
        self.read(move |c| on(c, async |tx| ops::processes_by_ids(tx, &tenant, &ids).await)).await
    }

    async fn create_run(&self, tenant: &TenantId, scope: &RunScope, new: NewRun, process: Option<ProcessRef>) -> StoreResult<Run> {
        let (tenant, scope) = (tenant.clone(), scope.clone());
        self.writer.write(move |c| on(c, async |tx| ops::create_run(tx, &tenant, &scope, new, process).await)).await
    }

    async fn get_run(&self, tenant: &TenantId, scope: &RunScope, id: Uuid) -> StoreResult<Run> {
        let (tenant, scope) = (tenant.clone(), scope.clone());
        self.read_point(move |c| on(c, async |tx| ops::get_run(tx, &tenant, &scope, id).await)).await
    }

    async fn update_run(
        &self,
        tenant: &TenantId,
        scope: &RunScope,
        id: Uuid,
        patch: RunPatch,
        pre: Option<Precondition>,
    ) -> StoreResult<Run> {
        let (tenant, scope) = (tenant.clone(), scope.clone());
        self.writer.write(move |c| on(c, async |tx| ops::update_run(tx, &tenant, &scope, id, patch, pre).await)).await
    }

    async fn delete_run(&self, tenant: &TenantId, scope: &RunScope, id: Uuid, pre: Option<Precondition>) -> StoreResult<()> {
        let (tenant, scope) = (tenant.clone(), scope.clone());
        self.writer.write(move |c| on(c, async |tx| ops::delete_run(tx, &tenant, &scope, id, pre).await)).await
    }

    async fn list_runs(&self, tenant: &TenantId, scope: &RunScope, query: &ListQuery) -> StoreResult<Page<Run>> {
        let (tenant, scope, query) = (tenant.clone(), scope.clone(), query.clone());
        self.read(move |c| on_snapshot(c, async |tx| ops::list_runs(tx, &tenant, &scope, &query).await)).await
    }

    async fn list_runs_of_parents(&self, tenant: &TenantId, scopes: &[RunScope], query: &ListQuery) -> StoreResult<Vec<Vec<Run>>> {
        let (tenant, scopes, query) = (tenant.clone(), scopes.to_vec(), query.clone());
        self.read(move |c| on(c, async |tx| ops::list_runs_of_parents(tx, &tenant, &scopes, &query).await)).await
    }

    async fn count_runs(&self, tenant: &TenantId, scope: &RunScope, filter: Option<&Filter>) -> StoreResult<u64> {
        let (tenant, scope, filter) = (tenant.clone(), scope.clone(), filter.cloned());
        self.read(move |c| on(c, async |tx| ops::count_runs(tx, &tenant, &scope, filter.as_ref()).await)).await
    }

    async fn set_run_process(&self, tenant: &TenantId, scope: &RunScope, id: Uuid, process: ProcessRef) -> StoreResult<Run> {
        let (tenant, scope) = (tenant.clone(), scope.clone());
        self.writer.write(move |c| on(c, async |tx| ops::set_run_process(tx, &tenant, &scope, id, process).await)).await
    }

    async fn add_group_member(&self, tenant: &TenantId, group: Uuid, run: Uuid) -> StoreResult<()> {
        let tenant = tenant.clone();
        self.writer.write(move |c| on(c, async |tx| ops::add_group_member(tx, &tenant, group, run).await)).await
    }

    async fn remove_group_member(&self, tenant: &TenantId, group: Uuid, run: Uuid) -> StoreResult<()> {
        let tenant = tenant.clone();
        self.writer.write(move |c| on(c, async |tx| ops::remove_group_member(tx, &tenant, group, run).await)).await
    }

    async fn run_now(&self, tenant: &TenantId, flow: Uuid) -> StoreResult<Run> {
        let tenant = tenant.clone();
        self.writer.write(move |c| on(c, async |tx| ops::run_now(tx, &tenant, flow).await)).await
    }

    async fn group_problem_runs(&self, tenant: &TenantId, group: Uuid) -> StoreResult<Vec<Run>> {
        let tenant = tenant.clone();
        self.read(move |c| on(c, async |tx| ops::group_problem_runs(tx, &tenant, group).await)).await
    }

    async fn change_watermark(&self) -> StoreResult<u64> {
        self.read_point(|c| on(c, async |tx| changes::watermark(tx).await)).await
    }

    async fn change_horizon(&self) -> StoreResult<u64> {
        self.read_point(|c| on(c, async |tx| changes::horizon(tx).await)).await
    }

    async fn entity_changes(&self, tenant: &TenantId, collection: Collection, range: ChangeRange) -> StoreResult<ChangePage> {
        let tenant = tenant.clone();
        let (items, more) = self.read(move |c| on(c, async |tx| changes::entity_changes(tx, &tenant, collection, range).await)).await?;
        Ok(ChangePage { items, more })
    }

    async fn change_log(&self, range: ChangeRange) -> StoreResult<Vec<ChangeRecord>> {
        self.read(move |c| on(c, async |tx| changes::log(tx, range).await)).await
    }

    async fn prune_changes(&self, before: runhub_model::Timestamp, limit: u32) -> StoreResult<usize> {
        self.writer.write(move |c| on(c, async |tx| changes::prune(tx, before, limit).await)).await
    }

    fn change_signal(&self) -> tokio::sync::watch::Receiver<u64> {
        self.writer.committed()
    }

    async fn create_subscription(&self, sub: Subscription, limit: u64) -> StoreResult<Subscription> {
        self.writer.write(move |c| on(c, async |tx| webhooks::create(tx, sub, limit).await)).await
    }

    async fn get_subscription(&self, tenant: &TenantId, id: Uuid) -> StoreResult<Subscription> {
        let tenant = tenant.clone();
        self.read_point(move |c| on(c, async |tx| webhooks::get(tx, &tenant, id).await)).await
    }

    async fn list_subscriptions(&self, tenant: &TenantId) -> StoreResult<Vec<Subscription>> {
        let tenant = tenant.clone();
        self.read(move |c| on(c, async |tx| webhooks::list(tx, &tenant).await)).await
    }

    async fn update_subscription(&self, tenant: &TenantId, id: Uuid, patch: SubscriptionPatch) -> StoreResult<Subscription> {
        let tenant = tenant.clone();
        self.writer.write(move |c| on(c, async |tx| webhooks::update(tx, &tenant, id, patch).await)).await
    }

    async fn delete_subscription(&self, tenant: &TenantId, id: Uuid) -> StoreResult<()> {
        let tenant = tenant.clone();
        self.writer.write(move |c| on(c, async |tx| webhooks::delete(tx, &tenant, id).await)).await
    }

    async fn pending_notifications(&self, id: Uuid) -> StoreResult<u64> {
        self.read_point(move |c| on(c, async |tx| webhooks::pending(tx, id).await)).await
    }

    async fn active_subscriptions(&self, now: Timestamp) -> StoreResult<Vec<Subscription>> {
        self.read(move |c| on(c, async |tx| webhooks::active(tx, now).await)).await
    }

    async fn remove_expired_subscriptions(&self, now: Timestamp) -> StoreResult<usize> {
        self.writer.write(move |c| on(c, async |tx| webhooks::remove_expired(tx, now).await)).await
    }

    async fn webhook_cursor(&self, start: u64) -> StoreResult<FanoutCursor> {
        match self.read_point(|c| on(c, async |tx| webhooks::cursor(tx).await)).await? {
            Some(cursor) => Ok(cursor),
            None => self.writer.write(move |c| on(c, async |tx| webhooks::cursor_or_start(tx, start).await)).await,
        }
    }

    async fn enqueue_notifications(
        &self,
        expected: FanoutCursor,
        next: FanoutCursor,
        batches: Vec<OutboxBatch>,
        now: Timestamp,
    ) -> StoreResult<bool> {
        self.writer.write(move |c| on(c, async |tx| webhooks::enqueue(tx, expected, next, &batches, now).await)).await
    }

    async fn claim_deliveries(&self, now: Timestamp, lease_until: Timestamp, limit: u32, skip: &[Uuid]) -> StoreResult<Vec<Delivery>> {
        let skip = skip.to_vec();
        self.writer.write(move |c| on(c, async |tx| webhooks::claim(tx, now, lease_until, limit, &skip).await)).await
    }

    async fn settle_deliveries(&self, outcomes: Vec<(i64, Settle)>, now: Timestamp) -> StoreResult<()> {
        self.writer.write(move |c| on(c, async |tx| webhooks::settle(tx, outcomes, now).await)).await
    }

    async fn start_run_group(
        &self,
        tenant: &TenantId,
        now: runhub_model::Timestamp,
        policy: &crate::StartPolicy,
    ) -> StoreResult<crate::StartOutcome> {
        let (tenant, policy) = (tenant.clone(), policy.clone());
        self.writer.write(move |c| on(c, async |tx| schedule::start_on_demand(tx, &tenant, now, &policy).await)).await
    }

    async fn claim_scheduled_runs(&self, now: runhub_model::Timestamp, interval_micros: i64) -> StoreResult<Vec<crate::ScheduledStart>> {
        self.writer.write(move |c| on(c, async |tx| schedule::claim_scheduled(tx, now, interval_micros).await)).await
    }

    async fn reap_stale_runs(&self, now: runhub_model::Timestamp, timeout_micros: i64, limit: u32) -> StoreResult<Vec<crate::ReapedRun>> {
        self.writer.write(move |c| on(c, async |tx| upkeep::reap(tx, now, timeout_micros, limit).await)).await
    }

    async fn expire_runs(&self, now: runhub_model::Timestamp, age_micros: i64, limit: u32) -> StoreResult<u64> {
        self.writer.write(move |c| on(c, async |tx| upkeep::expire(tx, now, age_micros, limit).await)).await
    }

    async fn runs_by_status(&self) -> StoreResult<Vec<(runhub_model::RunStatus, u64)>> {
        self.read(move |c| on(c, async |tx| upkeep::runs_by_status(tx).await)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn synchronous_of(durability: Durability) -> i64 {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), Options { durability, ..Options::default() }).await.unwrap();
        store.writer.write(|tx| tx.0.query_row("PRAGMA synchronous", [], |r| r.get::<_, i64>(0)).map_err(internal)).await.unwrap()
    }

    /// The default acknowledges only what is fsync'd (survives power loss, not just kill -9):
    /// SQLite's FULL (2) syncs the WAL on every commit; `relaxed` is NORMAL (1).
    #[tokio::test(flavor = "multi_thread")]
    async fn default_durability_syncs_every_commit() {
        assert_eq!(Options::default().durability, Durability::Full);
        assert_eq!(synchronous_of(Durability::Full).await, 2);
        assert_eq!(synchronous_of(Durability::Relaxed).await, 1);
    }

    /// Concurrent writes share transactions (group commit) and each still gets its own answer;
    /// a refused operation in a batch does not undo its neighbours.
    #[tokio::test(flavor = "multi_thread")]
    async fn batched_writes_are_isolated() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(dir.path(), Options::default()).await.unwrap());
        let mut tasks = Vec::new();
        for i in 0..200 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .writer
                    .write(move |tx| {
                        tx.0.execute("INSERT INTO meta (key, value) VALUES (?1, x'00')", params![format!("k{i}")]).map_err(internal)?;
                        if i % 3 == 0 { Err(StoreError::Internal("refused".into())) } else { Ok(i) }
                    })
                    .await
            }));
        }
        let mut ok = 0;
        for t in tasks {
            if t.await.unwrap().is_ok() {
                ok += 1;
            }
        }
        let stored: i64 = store
            .read(|tx| tx.0.query_row("SELECT COUNT(*) FROM meta WHERE key LIKE 'k%'", [], |r| r.get(0)).map_err(internal))
            .await
            .unwrap();
        assert_eq!(ok, 133);
        assert_eq!(stored, 133, "exactly the acknowledged operations are stored");
    }
}
