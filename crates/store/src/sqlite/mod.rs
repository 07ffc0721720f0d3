//! The embedded store: one SQLite database file in WAL mode. Writes go through one writer thread
//! that commits in groups ([`writer`]); reads run on a small pool of connections in parallel. It is a
//! [`Backend`]: it says how an operation gets a connection, and the shared `Store` methods do the rest.

pub mod backup;
mod schema;
mod tx;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_executor::block_on;
use rand::RngCore;
use runhub_model::{Process, Run, TenantId};
use rusqlite::config::DbConfig;
use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use tokio::sync::Semaphore;

use self::tx::SqliteTx;
use self::writer::Writer;
use crate::backend::{Backend, Op, OpArgs, OpOutput};
use crate::dialect::Dialect;
use crate::ops;
use crate::query::Statement;
use crate::records::internal;
use crate::{ListQuery, RunScope, StoreError, StoreResult};

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

impl Options {
    /// The most a store opened with these options holds in page caches: one cache of
    /// [`PAGE_CACHE_KIB`] per read connection and one for the writer.
    pub fn page_cache_bytes(&self) -> usize {
        (self.readers + 1) * PAGE_CACHE_KIB * 1024
    }
}

pub const DATABASE_FILE: &str = "runhub.sqlite3";

/// Each connection's page cache, in KiB (`PRAGMA cache_size`). The binary sizes SQLite's page pool
/// from it.
pub const PAGE_CACHE_KIB: usize = 4000;

struct Readers {
    conns: Mutex<Vec<Reader>>,
    permits: Semaphore,
}

/// A read connection, and what stops a read on it whose caller has gone away (the request timed
/// out, the client disconnected): a scan over millions of runs would otherwise hold the connection
/// for as long as it takes, after its reply was given up.
struct Reader {
    tx: SqliteTx,
    uses: Arc<ReaderUses>,
}

/// Which use of a reader is running, and which one was abandoned; each use has its own number, so
/// that a use abandoned just as it ended cannot stop the next one.
#[derive(Default)]
struct ReaderUses {
    current: AtomicU64,
    abandoned: AtomicU64,
}

/// How many SQLite virtual-machine steps run between checks for an abandoned read.
const ABANDON_CHECK_STEPS: i32 = 10_000;

static NEXT_READ: AtomicU64 = AtomicU64::new(1);

/// Marks a use of a reader abandoned when dropped before [`Abandon::disarm`].
struct Abandon {
    uses: Arc<ReaderUses>,
    id: u64,
    armed: bool,
}

impl Abandon {
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for Abandon {
    fn drop(&mut self) {
        if self.armed {
            self.uses.abandoned.store(self.id, Ordering::Relaxed);
        }
    }
}

pub struct SqliteStore {
    writer: Writer,
    readers: Arc<Readers>,
    secret: Vec<u8>,
    path: PathBuf,
}

/// Prepared statements kept per connection.
const STATEMENT_CACHE_CAPACITY: usize = 64;

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
        "PRAGMA busy_timeout = 5000; PRAGMA synchronous = {synchronous}; PRAGMA cache_size = -{PAGE_CACHE_KIB}; PRAGMA temp_store = MEMORY;"
    ))
    .map_err(internal)?;
    // Every statement shape the service runs stays prepared (rusqlite keeps 16 by default; the
    // writer alone runs more than that across creates, patches, finishes and the change log).
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
    // A plan chosen once per statement, whatever its bound values: otherwise SQLite looks at a
    // bound `LIMIT` (and at values compared with partial indexes) while planning, and prepares the
    // statement again every time it is run with new values — a tenth of a list request's work.
    conn.set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true).map_err(internal)?;
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
                let uses = Arc::new(ReaderUses::default());
                let seen = uses.clone();
                // Returning true interrupts the running statement (SQLITE_INTERRUPT).
                c.progress_handler(
                    ABANDON_CHECK_STEPS,
                    Some(move || {
                        let current = seen.current.load(Ordering::Relaxed);
                        current != 0 && seen.abandoned.load(Ordering::Relaxed) == current
                    }),
                )
                .map_err(internal)?;
                Ok(Reader { tx: SqliteTx(c), uses })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let permits = Semaphore::new(readers.len());
        Ok(Self { writer: Writer::start(conn)?, readers: Arc::new(Readers { conns: Mutex::new(readers), permits }), secret, path })
    }

    /// The bulk path: stores already-valid processes and runs as they are, in one transaction through
    /// the writer (for imports and benchmark datasets). Group derivation is not re-run: import
    /// groups with their derived values, or members without groups.
    pub async fn import(&self, tenant: &TenantId, processes: Vec<Process>, runs: Vec<Run>) -> StoreResult<()> {
        Backend::write(self, (tenant.clone(), processes, runs), |tx, (tenant, processes, runs)| {
            Box::pin(ops::import(tx, tenant, processes, runs))
        })
        .await
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
        self.with_reader(move |tx| {
            let access = block_on(ops::run_access(tx, query.filter.as_ref()))?;
            let stmts = ops::run_page_statements(&tenant, &scope, &query, access, Dialect::Sqlite)?;
            let mut out = Vec::new();
            for stmt in std::iter::once(stmts.page).chain(stmts.count) {
                let sql = stmt.render(Dialect::Sqlite);
                let values = sea_query_rusqlite::RusqliteValues(sql.values.0.into_iter().map(sea_query_rusqlite::RusqliteValue).collect());
                let mut explain = tx.0.prepare(&format!("EXPLAIN QUERY PLAN {}", sql.text)).map_err(internal)?;
                let sql = sql.text.into_owned();
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
    async fn with_reader<T, F>(&self, op: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqliteTx) -> StoreResult<T> + Send + 'static,
    {
        let permit = self.readers.permits.acquire().await.map_err(|_| StoreError::Unavailable("the store is closed".into()))?;
        let mut reader = self.readers.conns.lock().map_err(internal)?.pop().ok_or_else(|| internal("no read connection free"))?;
        // The permit goes back with the connection, not when this future ends: a caller that
        // gives up early must not let another take a permit while the pool is still empty.
        permit.forget();
        let id = NEXT_READ.fetch_add(1, Ordering::Relaxed);
        let abandon = Abandon { uses: reader.uses.clone(), id, armed: true };
        let readers = self.readers.clone();
        let result = tokio::task::spawn_blocking(move || {
            reader.uses.current.store(id, Ordering::Relaxed);
            let result = op(&mut reader.tx);
            reader.uses.current.store(0, Ordering::Relaxed);
            if let Ok(mut pool) = readers.conns.lock() {
                pool.push(reader);
            }
            readers.permits.add_permits(1);
            result
        })
        .await
        .map_err(internal)?;
        abandon.disarm();
        result
    }

    /// Runs a point read — one row by primary key, tens of microseconds — on the calling task
    /// instead of handing it to the blocking pool: the hand-off costs more than the read. Anything
    /// whose cost grows with the data (lists, counts, scans) goes through [`Self::with_reader`].
    async fn with_reader_here<T, F>(&self, op: F) -> StoreResult<T>
    where
        F: FnOnce(&mut SqliteTx) -> StoreResult<T>,
    {
        let _permit = self.readers.permits.acquire().await.map_err(|_| StoreError::Unavailable("the store is closed".into()))?;
        let mut reader = self.readers.conns.lock().map_err(internal)?.pop().ok_or_else(|| internal("no read connection free"))?;
        let result = op(&mut reader.tx);
        if let Ok(mut pool) = self.readers.conns.lock() {
            pool.push(reader);
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

/// Shared operations run on a connection with `block_on`: a [`SqliteTx`]'s futures never wait
/// (see [`tx`]), so it returns at once.
impl Backend for SqliteStore {
    type Tx = SqliteTx;

    const SNAPSHOTS_ARE_FREE: bool = true;

    async fn read<A: OpArgs, T: OpOutput>(&self, args: A, op: Op<SqliteTx, A, T>) -> StoreResult<T> {
        self.with_reader(move |tx| block_on(op(tx, &args))).await
    }

    async fn read_point<A: OpArgs, T: OpOutput>(&self, args: A, op: Op<SqliteTx, A, T>) -> StoreResult<T> {
        self.with_reader_here(move |tx| block_on(op(tx, &args))).await
    }

    /// Inside one read transaction: a page and its `@odata.count` come from one snapshot,
    /// whatever is written meanwhile.
    async fn read_snapshot<A: OpArgs, T: OpOutput>(&self, args: A, op: Op<SqliteTx, A, T>) -> StoreResult<T> {
        self.with_reader(move |tx| {
            tx.0.execute_batch("BEGIN DEFERRED").map_err(internal)?;
            let result = block_on(op(tx, &args));
            // Nothing was written: ending the read transaction either way is the same.
            let ended = tx.0.execute_batch("ROLLBACK").map_err(internal);
            let result = result?;
            ended?;
            Ok(result)
        })
        .await
    }

    async fn write<A: OpArgs, T: OpOutput>(&self, args: A, op: Op<SqliteTx, A, T>) -> StoreResult<T> {
        self.writer.write(move |tx| block_on(op(tx, &args))).await
    }

    async fn health(&self) -> StoreResult<()> {
        self.with_reader(|tx| tx.0.query_row("SELECT 1", [], |_| Ok(())).map_err(|e| StoreError::Unavailable(e.to_string()))).await
    }

    fn token_secret(&self) -> &[u8] {
        &self.secret
    }

    async fn close(&self) {
        self.readers.permits.close();
        let writer = &self.writer;
        tokio::task::block_in_place(|| writer.close());
    }

    fn change_signal(&self) -> tokio::sync::watch::Receiver<u64> {
        self.writer.committed()
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

    /// A read whose caller has gone (its request timed out) is interrupted: the connection comes
    /// back for the next read instead of running on — here, forever — for a reply nobody awaits.
    /// The runtime is built by hand so that a read left running cannot hold up the test's end.
    #[test]
    fn an_abandoned_read_is_interrupted_and_its_connection_comes_back() {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let outcome = runtime.block_on(async {
            let store = SqliteStore::open(dir.path(), Options { readers: 1, ..Options::default() }).await.unwrap();
            let endless = store.with_reader(|tx| {
                let sql = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c";
                tx.0.query_row(sql, [], |r| r.get::<_, i64>(0)).map_err(internal)
            });
            if tokio::time::timeout(std::time::Duration::from_millis(200), endless).await.is_ok() {
                return Err("an endless read ended".to_owned());
            }
            // There is one reader: this read waits for the abandoned one to give it back.
            let next = store.with_reader(|tx| tx.0.query_row("SELECT 7", [], |r| r.get::<_, i64>(0)).map_err(internal));
            let answer = tokio::time::timeout(std::time::Duration::from_secs(60), next).await;
            let answer = answer.map_err(|_| "the abandoned read kept the only reader".to_owned())?.map_err(|e| e.to_string())?;
            crate::Store::close(&store).await;
            Ok(answer)
        });
        runtime.shutdown_timeout(std::time::Duration::from_secs(1));
        assert_eq!(outcome, Ok(7));
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
            .with_reader(|tx| tx.0.query_row("SELECT COUNT(*) FROM meta WHERE key LIKE 'k%'", [], |r| r.get(0)).map_err(internal))
            .await
            .unwrap();
        assert_eq!(ok, 133);
        assert_eq!(stored, 133, "exactly the acknowledged operations are stored");
    }

    /// Every key's count as the rows say it (a scan) or as the delta rows sum it, zeros left out.
    type Counted = Vec<(String, i64, i64, Option<String>, i64)>;

    async fn counts_of(store: &SqliteStore, from: &'static str) -> (Counted, Vec<(String, i64, i64)>) {
        let (runs, processes) = match from {
            "rows" => (
                "SELECT tenant, kind, status, process_id, COUNT(*) FROM runs GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4",
                "SELECT tenant, kind, COUNT(*) FROM processes GROUP BY 1, 2 ORDER BY 1, 2",
            ),
            _ => (
                "SELECT tenant, kind, status, process_id, SUM(n) FROM run_counts GROUP BY 1, 2, 3, 4 HAVING SUM(n) <> 0 ORDER BY 1, 2, 3, 4",
                "SELECT tenant, kind, SUM(n) FROM process_counts GROUP BY 1, 2 HAVING SUM(n) <> 0 ORDER BY 1, 2",
            ),
        };
        store
            .with_reader(move |tx| {
                let mut q = tx.0.prepare(runs).map_err(internal)?;
                let runs = q
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)))
                    .map_err(internal)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(internal)?;
                let mut q = tx.0.prepare(processes).map_err(internal)?;
                let processes = q
                    .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                    .map_err(internal)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(internal)?;
                Ok((runs, processes))
            })
            .await
            .unwrap()
    }

    /// The counts the writes keep one by one equal a scan, before and after compaction, and equal
    /// what the migration backfills from the same rows.
    #[tokio::test(flavor = "multi_thread")]
    async fn stored_counts_equal_the_backfill() {
        use runhub_model::{DisplayName, NewProcess, NewRun, ProcessKind, ReadinessStatus, RunKind, RunPatch, RunStatus, Timestamp};

        use crate::{ProcessRef, RunParent, Store};

        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), Options::default()).await.unwrap();
        let flow = |kind| NewProcess {
            kind,
            display_name: DisplayName::from_stored("flow".into()),
            readiness_status: ReadinessStatus::Ready,
            data_domain: None,
            recurrence_start: None,
            recurrence_end: None,
        };
        let run = |kind, status| NewRun {
            kind,
            display_name: DisplayName::from_stored("run".into()),
            start: Some(Timestamp::now()),
            end: None,
            status: Some(status),
            blocking_error: None,
            statistics: None,
        };
        let patch = |status| RunPatch { status: Some(status), end: Some(Some(Timestamp::now())), ..RunPatch::default() };
        for tenant in [TenantId::default_tenant(), TenantId::from_stored("other")] {
            let incoming = store.create_process(&tenant, flow(ProcessKind::IncomingFlow)).await.unwrap();
            let outgoing = store.create_process(&tenant, flow(ProcessKind::OutgoingFlow)).await.unwrap();
            let spare = store.create_process(&tenant, flow(ProcessKind::OutgoingFlow)).await.unwrap();
            store.delete_process(&tenant, ProcessKind::OutgoingFlow, spare.id, None).await.unwrap();
            let under = |p: &Process| RunScope { parent: RunParent::Process(p.kind, p.id), kind: None };
            let group = store.create_run(&tenant, &RunScope::all(), run(RunKind::RunGroup, RunStatus::Running), None).await.unwrap();
            let mut runs = Vec::new();
            for i in 0..6 {
                let (p, kind) = if i % 2 == 0 { (&incoming, RunKind::IncomingFlowRun) } else { (&outgoing, RunKind::OutgoingFlowRun) };
                runs.push(store.create_run(&tenant, &under(p), run(kind, RunStatus::Running), None).await.unwrap());
            }
            let members = RunScope { parent: RunParent::Group(group.id), kind: None };
            let bound = Some(ProcessRef { kind: ProcessKind::IncomingFlow, id: incoming.id });
            let member = store.create_run(&tenant, &members, run(RunKind::IncomingFlowRun, RunStatus::Running), bound).await.unwrap();
            store.add_group_member(&tenant, group.id, runs[0].id).await.unwrap();
            store.update_run(&tenant, &RunScope::all(), runs[0].id, patch(RunStatus::Failed), None).await.unwrap();
            // The last running member finishes: the group derives `failed`.
            store.update_run(&tenant, &RunScope::all(), member.id, patch(RunStatus::Completed), None).await.unwrap();
            assert_eq!(store.get_run(&tenant, &RunScope::all(), group.id).await.unwrap().status, RunStatus::Failed);
            store.update_run(&tenant, &RunScope::all(), runs[1].id, patch(RunStatus::Completed), None).await.unwrap();
            store.delete_run(&tenant, &RunScope::all(), runs[2].id, None).await.unwrap();
            store.run_now(&tenant, incoming.id).await.unwrap();
            if tenant.as_str() == "other" {
                store.delete_run(&tenant, &RunScope::all(), group.id, None).await.unwrap();
            }
            // The bulk path, overwriting a stored run with another status.
            let mut replaced = store.get_run(&tenant, &RunScope::all(), runs[3].id).await.unwrap();
            replaced.status = RunStatus::Completed;
            store.import(&tenant, Vec::new(), vec![replaced]).await.unwrap();
        }
        let incremental = counts_of(&store, "counts").await;
        assert_eq!(incremental, counts_of(&store, "rows").await, "the deltas sum to what the rows say");
        assert!(incremental.0.len() > 8, "{incremental:?}");
        assert!(store.compact_counts(1000).await.unwrap() > 0);
        assert_eq!(store.compact_counts(1000).await.unwrap(), 0, "one row per key after one pass");
        assert_eq!(counts_of(&store, "counts").await, incremental, "compaction keeps every count");
        Store::close(&store).await;

        // Undo the migration (and the run-name index's, which came after it) and open again: it
        // runs once more and backfills from the rows.
        let conn = Connection::open(dir.path().join(DATABASE_FILE)).unwrap();
        conn.execute_batch(&format!(
            "DROP TABLE run_counts; DROP TABLE process_counts; DROP TABLE run_names; DROP TABLE run_names_indexed; \
             DROP TABLE run_names_stale; PRAGMA user_version = {};",
            schema::KNOWN - 2
        ))
        .unwrap();
        drop(conn);
        let store = SqliteStore::open(dir.path(), Options::default()).await.unwrap();
        assert_eq!(counts_of(&store, "counts").await, incremental);
        Store::close(&store).await;
    }

    /// Substring filters on a run's name answer exactly what a scan does whatever the run-name index
    /// has caught up with: runs not indexed yet, renamed, overwritten by the bulk path, deleted —
    /// also when SQLite gives a deleted run's rowid to the next run — and at every batch boundary.
    #[tokio::test(flavor = "multi_thread")]
    async fn substring_filters_agree_with_a_scan_at_every_stage_of_the_name_index() {
        use std::collections::HashMap;

        use runhub_model::{DisplayName, NewRun, RunKind, RunPatch, RunStatus, Timestamp, Uuid};
        use runhub_odata::EntitySet;

        use crate::{ListQuery, Store};

        const NEEDLES: [&str; 9] = ["alpha", "pha", "lph", "Alp", "zzz", "日本語", "語 x", "a\"b", "ta r"];
        const FUNCS: [&str; 3] = ["contains", "startswith", "endswith"];
        let tenant = TenantId::default_tenant();
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), Options::default()).await.unwrap();
        let mut names: HashMap<Uuid, String> = HashMap::new();
        let all = RunScope::all();

        async fn create(store: &SqliteStore, names: &mut HashMap<Uuid, String>, name: &str) -> Uuid {
            let new = NewRun {
                kind: RunKind::RunGroup,
                display_name: DisplayName::from_stored(name.into()),
                start: Some(Timestamp::now()),
                end: None,
                status: Some(RunStatus::Running),
                blocking_error: None,
                statistics: None,
            };
            let run = store.create_run(&TenantId::default_tenant(), &RunScope::all(), new, None).await.unwrap();
            names.insert(run.id, name.to_owned());
            run.id
        }
        // Every needle with every function: the listing (and its count) against the names held
        // here. Returns how many listings the index drove.
        async fn check(store: &SqliteStore, names: &HashMap<Uuid, String>, stage: &str) -> usize {
            let mut driven = 0;
            for needle in NEEDLES {
                for func in FUNCS {
                    let text = format!("{func}(displayName,'{}')", needle.replace('\'', "''"));
                    let filter = runhub_odata::parse_filter(EntitySet::Runs, &text).unwrap();
                    let query = ListQuery { filter: Some(filter.clone()), count: true, ..ListQuery::first_page(1000) };
                    let page = store.list_runs(&TenantId::default_tenant(), &RunScope::all(), &query).await.unwrap();
                    let mut got: Vec<Uuid> = page.items.iter().map(|r| r.id).collect();
                    let mut want: Vec<Uuid> = names
                        .iter()
                        .filter(|(_, n)| match func {
                            "contains" => n.contains(needle),
                            "startswith" => n.starts_with(needle),
                            _ => n.ends_with(needle),
                        })
                        .map(|(id, _)| *id)
                        .collect();
                    got.sort();
                    want.sort();
                    assert_eq!(got, want, "{stage}: {text}");
                    assert_eq!(page.count, Some(want.len() as u64), "{stage}: {text}, $count");
                    let counted = store.count_runs(&TenantId::default_tenant(), &RunScope::all(), Some(&filter)).await.unwrap();
                    assert_eq!(counted, want.len() as u64, "{stage}: {text}, /$count");
                    let plans = store.explain_list_runs(&TenantId::default_tenant(), &RunScope::all(), &query).await.unwrap();
                    if plans[0].1.iter().any(|step| step.contains("json_each")) {
                        driven += 1;
                    }
                }
            }
            driven
        }
        async fn catch_up(store: &SqliteStore, batch: u32) {
            while store.index_run_names(batch).await.unwrap() >= batch as usize {}
        }

        let vocabulary = ["alpha", "Alpha beta", "beta run", "日本語 x", "a\"b alpha", "gamma", "alp", "zeta run"];
        for i in 0..40 {
            create(&store, &mut names, vocabulary[i % vocabulary.len()]).await;
        }
        assert_eq!(check(&store, &names, "nothing indexed yet").await, 27, "40 unindexed runs are few candidates");

        // Half, in batches that end between runs.
        for _ in 0..4 {
            assert_eq!(store.index_run_names(5).await.unwrap(), 5);
        }
        check(&store, &names, "half indexed").await;
        catch_up(&store, 7).await;
        assert_eq!(store.index_run_names(100).await.unwrap(), 0, "caught up");
        check(&store, &names, "all indexed").await;

        // Renamed: stale until the index redoes them.
        let ids: Vec<Uuid> = names.keys().copied().take(6).collect();
        for (i, id) in ids.iter().enumerate() {
            let name = ["zzz", "renamed alpha", "gamma"][i % 3];
            let patch = RunPatch { display_name: Some(DisplayName::from_stored(name.into())), ..RunPatch::default() };
            store.update_run(&tenant, &all, *id, patch, None).await.unwrap();
            names.insert(*id, name.to_owned());
        }
        check(&store, &names, "renamed").await;
        catch_up(&store, 4).await;
        check(&store, &names, "renamed, indexed again").await;

        // The newest run is deleted; the next run gets its rowid — after the index has caught up
        // with the delete, and before.
        for (caught_up, name) in [(true, "alpha zzz"), (false, "zzz alpha")] {
            let newest = create(&store, &mut names, "gamma").await;
            catch_up(&store, 100).await;
            store.delete_run(&tenant, &all, newest, None).await.unwrap();
            names.remove(&newest);
            if caught_up {
                catch_up(&store, 100).await;
            }
            create(&store, &mut names, name).await;
            check(&store, &names, &format!("a deleted run's rowid reused (index caught up with the delete: {caught_up})")).await;
            catch_up(&store, 100).await;
            check(&store, &names, "reused rowid indexed").await;
        }

        // The bulk path overwrites a stored run under another name.
        let id = *names.keys().next().unwrap();
        let mut run = store.get_run(&tenant, &all, id).await.unwrap();
        run.display_name = DisplayName::from_stored("imported alpha".into());
        store.import(&tenant, Vec::new(), vec![run]).await.unwrap();
        names.insert(id, "imported alpha".into());
        check(&store, &names, "overwritten by the bulk path").await;
        catch_up(&store, 100).await;
        assert_eq!(check(&store, &names, "overwritten, indexed").await, 27, "every needle of three or more characters");
        Store::close(&store).await;
    }
}
