//! The PostgreSQL store: the same schema and the very same operations ([`crate::ops`]) as the
//! SQLite store, over a pool of connections (as a [`Backend`]: only how an operation gets its
//! transaction is its own). Any number of runhub replicas may share one database:
//! nothing lives in a replica's memory — not even the `$skiptoken` secret, which is in `meta` —
//! and each write is one transaction whose row locks (`FOR UPDATE`, `FOR SHARE`) serialize exactly
//! the writers that touch the same rows.
//!
//! Every operation is bounded by the configured timeout: while the database is unreachable, callers
//! get [`StoreError::Unavailable`] (503 with `Retry-After`) within that time instead of hanging,
//! and the pool reconnects by itself once the database answers again.

mod schema;

/// The schema version this build migrates a database to.
pub const SCHEMA_VERSION: usize = schema::KNOWN;

use runhub_model::Code;
use std::str::FromStr;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime};
use rand::RngCore;
use runhub_model::{Process, Run, TenantId};
use sea_query_postgres::{PostgresValue, PostgresValues};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{NoTls, Row};

use crate::backend::{Backend, Op, OpArgs, OpOutput};
use crate::dialect::Dialect;
use crate::ops;
use crate::query::Sql;
use crate::records::internal;
use crate::tx::{Cell, Tx};
use crate::{StoreError, StoreResult};

#[derive(Debug, Clone)]
pub struct Options {
    /// Connections in the pool (per replica).
    pub pool_size: usize,
    /// The longest any one store operation may take — connecting, waiting for a pooled connection
    /// or for row locks, and running — before it fails with `Unavailable`.
    pub timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Self { pool_size: 16, timeout: Duration::from_secs(5) }
    }
}

/// How often an operation that lost a serialization race (deadlock victim, serialization
/// failure) is tried again before the caller gets 503.
const MAX_RETRIES: u32 = 5;

/// The most prepared statements one pooled connection keeps (client side in deadpool's statement
/// cache, server side as named statements). The fixed statements number far fewer than this, but
/// a statement text also embeds the length of every `IN` list and the shape of every `$filter`,
/// so a connection can see any number of distinct texts. When a new one takes the cache past
/// this, the whole cache is cleared (dropping a statement closes it on the server): unlike a
/// cache that stops admitting new texts once full, that can never leave a hot statement
/// unprepared for good, and it costs only one extra round trip per statement still in use.
const MAX_CACHED_STATEMENTS: usize = 256;

/// Statements with more bound values than this are not prepared but sent as before, parsed and
/// planned for each run: past this size they are the variable ones (an `IN` list of a page's or a
/// bulk import's ids), which would mostly take a cache place and a round trip for one use. And a
/// plan kept for one of those can go badly wrong: PostgreSQL settles on a generic plan after a
/// few runs and keeps it until the table's statistics change, so an import's `id IN (1000 ids)`
/// planned on a near-empty table kept scanning all of a tenant's rows (a bulk load took six
/// times as long).
const MAX_CACHED_VALUES: usize = 64;

/// How long a pool keeps its prepared statements before preparing them again. A generic plan is
/// made again only when the statistics of its tables change, that is after an ANALYZE (which
/// autovacuum runs as tables grow, but a server may run without it): this bounds how long a plan
/// made when a table was small outlives that. Preparing again costs each connection one round
/// trip per statement in use.
const PLAN_MAX_AGE: Duration = Duration::from_secs(60);

pub struct PgStore {
    pool: Pool,
    secret: Vec<u8>,
    timeout: Duration,
    /// Grows after every committed write through this instance (the change log's wake-up).
    committed: tokio::sync::watch::Sender<u64>,
    /// When the prepared statements of every connection were last dropped, in milliseconds since
    /// `opened`; they are dropped again once they are older than `plan_max_age`.
    plans_made: std::sync::atomic::AtomicU64,
    opened: std::time::Instant,
    plan_max_age: Duration,
}

/// A database error in words, without the connection details (the URL may carry a password).
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

/// Whether an error means "try the whole transaction again".
fn retryable(e: &tokio_postgres::Error) -> bool {
    matches!(e.code(), Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED) || stale_statement(e)
}

/// Whether a prepared statement no longer fits its tables ("cached plan must not change result
/// type": a migration changed a column it returns). Preparing it again fixes it. The server
/// raises it from one place, named by the error's routine (unlike the message, not translated).
fn stale_statement(e: &tokio_postgres::Error) -> bool {
    e.as_db_error().is_some_and(|db| *db.code() == SqlState::FEATURE_NOT_SUPPORTED && db.routine() == Some("RevalidateCachedQuery"))
}

/// Maps a driver error: no SQLSTATE (I/O, a closed connection, a refused connect), connection
/// exceptions (class 08), operator intervention (57: shutdown, cannot connect now) and
/// insufficient resources (53: too many connections) mean the database is unavailable; a lost
/// serialization race that outlived its retries is unavailable too (try again later); anything
/// else is a bug of ours.
pub(crate) fn classify_plain(e: tokio_postgres::Error) -> StoreError {
    let Some(code) = e.code() else { return StoreError::Unavailable(format!("the database does not answer: {e}")) };
    let class = &code.code()[..2];
    if matches!(class, "08" | "57" | "53") || retryable(&e) {
        StoreError::Unavailable(describe(&e))
    } else {
        StoreError::Internal(describe(&e))
    }
}

fn classify_pool(e: PoolError) -> StoreError {
    match e {
        PoolError::Backend(e) => classify_plain(e),
        PoolError::Timeout(kind) => StoreError::Unavailable(format!("no database connection in time ({kind:?})")),
        PoolError::Closed => StoreError::Unavailable("the store is closed".into()),
        other => StoreError::Unavailable(other.to_string()),
    }
}

impl PgStore {
    /// Connects, applies the migrations, and loads (or makes) the shared `$skiptoken` secret.
    pub async fn open(url: &str, options: Options) -> StoreResult<Self> {
        let mut config = tokio_postgres::Config::from_str(url)
            .map_err(|e| StoreError::Internal(format!("the database URL is not a valid PostgreSQL URL: {e}")))?;
        config.connect_timeout(options.timeout);
        // Notice a peer that vanished without closing (a cut network) on idle pooled connections.
        config.keepalives(true).keepalives_idle(Duration::from_secs(30)).keepalives_interval(Duration::from_secs(10)).keepalives_retries(3);
        if config.get_application_name().is_none() {
            config.application_name("runhub");
        }
        let manager = Manager::from_config(config, NoTls, ManagerConfig { recycling_method: RecyclingMethod::Fast });
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.timeout))
            .create_timeout(Some(options.timeout))
            .recycle_timeout(Some(options.timeout))
            .build()
            .map_err(internal)?;
        let mut client = pool.get().await.map_err(classify_pool)?;
        schema::migrate(&mut client).await?;
        let secret = token_secret(&client).await?;
        drop(client);
        Ok(Self {
            pool,
            secret,
            timeout: options.timeout,
            committed: tokio::sync::watch::Sender::new(0),
            plans_made: 0.into(),
            opened: std::time::Instant::now(),
            plan_max_age: PLAN_MAX_AGE,
        })
    }

    /// Bounds `op` by the configured timeout. A transaction cut off here is dropped mid-way; its
    /// connection is then discarded (see [`PgTx`]'s `Drop`), which rolls it back.
    async fn bounded<T>(&self, op: impl Future<Output = StoreResult<T>>) -> StoreResult<T> {
        match tokio::time::timeout(self.timeout, op).await {
            Ok(result) => result,
            Err(_) => Err(StoreError::Unavailable(format!("the database did not answer within {:?}", self.timeout))),
        }
    }

    /// The bulk path: stores already-valid processes and runs as they are, in one transaction
    /// (imports, benchmark datasets). Group derivation is not re-run, as in the SQLite store's.
    pub async fn import(&self, tenant: &TenantId, processes: Vec<Process>, runs: Vec<Run>) -> StoreResult<()> {
        // Not bounded by the operation timeout: a large batch legitimately takes longer.
        let mut tx = self.begin().await?;
        let result = ops::import(&mut tx, tenant, &processes, &runs).await;
        tx.finish(result).await
    }

    async fn connection(&self) -> StoreResult<PgTx> {
        self.expire_plans();
        let client = self.pool.get().await.map_err(classify_pool)?;
        Ok(PgTx { client: Some(client), begin: None, open: false, in_flight: false, retry: false, after_commit: Vec::new() })
    }

    /// Drops every connection's prepared statements once they are older than `plan_max_age`
    /// (by whichever caller notices first).
    fn expire_plans(&self) {
        use std::sync::atomic::Ordering::Relaxed;
        let now = u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        let made = self.plans_made.load(Relaxed);
        if now.saturating_sub(made) >= u64::try_from(self.plan_max_age.as_millis()).unwrap_or(u64::MAX)
            && self.plans_made.compare_exchange(made, now, Relaxed, Relaxed).is_ok()
        {
            self.pool.manager().statement_caches.clear();
        }
    }

    async fn begin(&self) -> StoreResult<PgTx> {
        self.begin_with("BEGIN ISOLATION LEVEL READ COMMITTED").await
    }

    /// A read-only transaction whose statements all see one snapshot (a page and its count).
    async fn begin_snapshot(&self) -> StoreResult<PgTx> {
        self.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY").await
    }

    /// A connection whose transaction starts with its first statement: `begin` is sent then,
    /// in the same round trip when that statement allows it (see [`PgTx::query`]).
    async fn begin_with(&self, begin: &'static str) -> StoreResult<PgTx> {
        let mut tx = self.connection().await?;
        tx.begin = Some(begin);
        Ok(tx)
    }
}

/// The `$skiptoken` key: made by whichever replica comes first, then shared by all.
async fn token_secret(client: &Object) -> StoreResult<Vec<u8>> {
    let mut secret = vec![0u8; 32];
    rand::rng().fill_bytes(&mut secret);
    client
        .execute("INSERT INTO meta (key, value) VALUES ('token_secret', $1) ON CONFLICT (key) DO NOTHING", &[&secret])
        .await
        .map_err(classify_plain)?;
    let row = client.query_one("SELECT value FROM meta WHERE key = 'token_secret'", &[]).await.map_err(classify_plain)?;
    row.try_get(0).map_err(classify_plain)
}

/// One pooled connection, in a transaction (writes) or not (reads).
pub(crate) struct PgTx {
    /// `None` only after it was discarded.
    client: Option<Object>,
    /// The `BEGIN …` of this transaction while it is not sent yet: it goes out with the first
    /// statement. An operation that runs no statement sends neither it nor `COMMIT`.
    begin: Option<&'static str>,
    /// A transaction is open on the connection (or its `BEGIN` was sent).
    open: bool,
    /// A statement was sent and its answer not yet read (the operation was cut off by the timeout).
    in_flight: bool,
    /// The last database error was a lost serialization race: the operation may be run again.
    retry: bool,
    /// What to run once the transaction has committed.
    after_commit: Vec<Box<dyn FnOnce() + Send>>,
}

impl PgTx {
    fn client(&self) -> StoreResult<&Object> {
        self.client.as_ref().ok_or_else(|| StoreError::Unavailable("the database connection was discarded".into()))
    }

    fn fail(&mut self, e: tokio_postgres::Error) -> StoreError {
        self.retry = retryable(&e);
        classify_plain(e)
    }

    async fn query(&mut self, sql: &Sql) -> StoreResult<Vec<Row>> {
        // PostgreSQL text cannot hold U+0000 (the server refuses it with SQLSTATE 22021). Refuse it
        // here as the client's mistake — a 400, where the SQLite store would store or match it.
        if sql.values.0.iter().any(|v| matches!(v, sea_query::Value::String(Some(s)) if s.contains('\0'))) {
            return Err(runhub_model::FieldError::new(
                "",
                Code::UnsupportedCharacter,
                "text containing the character U+0000 cannot be stored or compared by this service's PostgreSQL store",
            )
            .into());
        }
        let values = PostgresValues(sql.values.0.iter().cloned().map(|v| PostgresValue(signed(v))).collect());
        // Prepared with the value types sea-query bound, so those are the types the server sees.
        let types = values.as_types();
        let params = values.as_params();
        let begin = self.begin.take();
        // Marked open before it is: if BEGIN never returns, the connection is discarded.
        self.open |= begin.is_some();
        self.in_flight = true;
        let client = self.client()?;
        let result = match begin {
            // BEGIN and the statement in one round trip: tokio-postgres queues requests issued
            // together on one connection without waiting for the answers in between (`biased`:
            // BEGIN is queued first). Only for a SELECT: should BEGIN fail, the statement runs on
            // its own outside any transaction, which must leave nothing behind (a SELECT's row
            // or advisory locks end with it). BEGIN's error is the one reported.
            Some(begin) if sql.text.starts_with("SELECT ") => {
                let (begun, result) = tokio::join!(biased; client.batch_execute(begin), run(client, &sql.text, &types, &params));
                begun.and(result)
            }
            Some(begin) => match client.batch_execute(begin).await {
                Ok(()) => run(client, &sql.text, &types, &params).await,
                Err(e) => Err(e),
            },
            None => run(client, &sql.text, &types, &params).await,
        };
        let result = match result {
            Err(e) if stale_statement(&e) => {
                // The schema changed under the prepared statements: forget those of every
                // connection of the pool, which were prepared against the same tables. Outside
                // a transaction nothing was undone, so run it once more (prepared anew); inside
                // one the transaction is aborted, and `retryable` makes a write start over.
                match Object::pool(client) {
                    Some(pool) => pool.manager().statement_caches.clear(),
                    None => client.statement_cache.clear(),
                }
                if self.open { Err(e) } else { run(client, &sql.text, &types, &params).await }
            }
            other => other,
        };
        self.in_flight = false;
        result.map_err(|e| self.fail(e))
    }

    /// Commits (if `result` is Ok) or rolls back, and gives the connection back to the pool.
    async fn finish<T>(&mut self, result: StoreResult<T>) -> StoreResult<T> {
        if self.begin.take().is_some() {
            // No statement ran, so no transaction was begun: nothing to end.
            if result.is_ok() {
                std::mem::take(&mut self.after_commit).into_iter().for_each(|hook| hook());
            }
            return result;
        }
        let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
        let started = std::time::Instant::now();
        let ended = self.client()?.batch_execute(end).await;
        let hooks = std::mem::take(&mut self.after_commit);
        match ended {
            Ok(()) => {
                self.open = false;
                if result.is_ok() {
                    crate::telemetry::commit_took(started.elapsed());
                    hooks.into_iter().for_each(|hook| hook());
                }
                result
            }
            // A failed COMMIT: the transaction did not commit. A failed ROLLBACK: the connection
            // is gone; the server rolls back on its own. Either way `Drop` discards it.
            Err(e) => {
                let e = self.fail(e);
                result.and(Err(e))
            }
        }
    }
}

impl Drop for PgTx {
    fn drop(&mut self) {
        if self.open || self.in_flight {
            // Never hand a connection with a transaction still open, or with a statement whose
            // answer may never come (an unreachable server), back to the pool: closing it makes
            // the server roll the transaction back, and the pool opens a fresh one when needed.
            if let Some(client) = self.client.take() {
                drop(Object::take(client));
            }
        }
    }
}

/// Runs a statement on `client`, prepared once per connection (but for those with many values):
/// the first time its text is seen there it is prepared (one round trip more), after that only
/// bound and executed — one round trip, and the server does not parse it again (nor plan it, once
/// it settles on a generic plan).
async fn run(client: &Object, text: &str, types: &[Type], params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>, tokio_postgres::Error> {
    if params.len() > MAX_CACHED_VALUES {
        // Unnamed: parsed and planned for these values, in one round trip.
        let typed: Vec<(&(dyn ToSql + Sync), Type)> = params.iter().copied().zip(types.iter().cloned()).collect();
        return client.query_typed(text, &typed).await;
    }
    let statement = client.prepare_typed_cached(text, types).await?;
    if client.statement_cache.size() > MAX_CACHED_STATEMENTS {
        // `statement` stays alive (and prepared on the server) until it has run.
        client.statement_cache.clear();
    }
    client.query(&statement, params).await
}

/// PostgreSQL has no unsigned integers, and sea-query-postgres declares a `u64` (`LIMIT`, `OFFSET`)
/// as NUMERIC while sending it as an int8 — which the server misreads. Bind them as BIGINT.
fn signed(value: sea_query::Value) -> sea_query::Value {
    use sea_query::Value as V;
    match value {
        V::BigUnsigned(v) => V::BigInt(v.map(|v| i64::try_from(v).unwrap_or(i64::MAX))),
        V::Unsigned(v) => V::BigInt(v.map(i64::from)),
        other => other,
    }
}

/// A PostgreSQL row as cells: the schema holds only TEXT and BIGINT values.
fn cells(row: &Row) -> StoreResult<crate::tx::Row> {
    (0..row.len())
        .map(|i| {
            let cell = if *row.columns()[i].type_() == Type::TEXT {
                row.try_get::<_, Option<String>>(i).map(|v| v.map_or(Cell::Null, Cell::Text))
            } else {
                row.try_get::<_, Option<i64>>(i).map(|v| v.map_or(Cell::Null, Cell::Int))
            };
            cell.map_err(internal)
        })
        .collect::<StoreResult<Vec<Cell>>>()
        .map(crate::tx::Row::new)
}

impl Tx for PgTx {
    const DIALECT: Dialect = Dialect::Postgres;

    async fn query_rendered(&mut self, sql: Sql) -> StoreResult<Vec<crate::tx::Row>> {
        self.query(&sql).await?.iter().map(cells).collect()
    }

    async fn execute_rendered(&mut self, sql: Sql) -> StoreResult<()> {
        self.query(&sql).await.map(|_| ())
    }

    fn after_commit(&mut self, f: Box<dyn FnOnce() + Send>) {
        self.after_commit.push(f);
    }

    async fn lock_name(&mut self, name: &str) -> StoreResult<()> {
        let values = sea_query::Values(vec![name.into()]);
        self.query(&Sql { text: "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))".into(), values }).await.map(|_| ())
    }
}

impl Backend for PgStore {
    type Tx = PgTx;

    const SNAPSHOTS_ARE_FREE: bool = false;

    /// On a pooled connection, within the store's timeout.
    async fn read<A: OpArgs, T: OpOutput>(&self, args: A, op: Op<PgTx, A, T>) -> StoreResult<T> {
        self.bounded(async {
            let mut tx = self.connection().await?;
            op(&mut tx, &args).await
        })
        .await
    }

    /// In a read-only REPEATABLE READ transaction, within the store's timeout.
    async fn read_snapshot<A: OpArgs, T: OpOutput>(&self, args: A, op: Op<PgTx, A, T>) -> StoreResult<T> {
        self.bounded(async {
            let mut tx = self.begin_snapshot().await?;
            let result = op(&mut tx, &args).await;
            tx.finish(result).await
        })
        .await
    }

    /// In a transaction of its own, again (up to [`MAX_RETRIES`]) when it lost a serialization
    /// race, all within the store's timeout.
    async fn write<A: OpArgs, T: OpOutput>(&self, args: A, op: Op<PgTx, A, T>) -> StoreResult<T> {
        self.bounded(async {
            let mut attempt = 0;
            loop {
                let mut tx = self.begin().await?;
                let result = op(&mut tx, &args).await;
                let result = tx.finish(result).await;
                match result {
                    Err(_) if tx.retry && attempt < MAX_RETRIES => {
                        attempt += 1;
                        tracing::debug!(attempt, "retrying a write that lost a serialization race");
                    }
                    other => break other,
                }
            }
        })
        .await
        .inspect(|_| self.committed.send_modify(|n| *n = n.wrapping_add(1)))
    }

    async fn health(&self) -> StoreResult<()> {
        self.bounded(async { self.connection().await?.query(&Sql::text("SELECT 1")).await.map(|_| ()) }).await
    }

    fn token_secret(&self) -> &[u8] {
        &self.secret
    }

    async fn close(&self) {
        self.pool.close();
    }

    fn change_signal(&self) -> tokio::sync::watch::Receiver<u64> {
        self.committed.subscribe()
    }
}

#[cfg(test)]
mod tests;
