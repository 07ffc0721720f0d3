//! The embedded store: one SQLite database file in WAL mode. Writes go through one writer thread
//! that commits in groups ([`writer`]); reads run on a small pool of connections in parallel.

mod ops;
mod rows;
mod schedule;
mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rand::RngCore;
use runhub_model::{GraphEnum, NewProcess, NewRun, Process, ProcessKind, ProcessPatch, Run, RunKind, RunPatch, TenantId, Uuid};
use runhub_odata::ast::{Filter, Value};
use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use sea_query::{Alias, Expr, ExprTrait, Query, SelectStatement, SqliteQueryBuilder};
use sea_query_rusqlite::RusqliteBinder;
use tokio::sync::Semaphore;

use self::rows::{PROCESS_COLUMNS, RUN_COLUMNS, internal, process_from_row, run_from_row};
use self::writer::Writer;
use crate::columns::{Table, column, kind_in};
use crate::filter_sql::{Compiler, Dialect};
use crate::{ListQuery, Page, Precondition, ProcessRef, RunParent, RunScope, Store, StoreError, StoreResult, default_order};

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
    conns: Mutex<Vec<Connection>>,
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
                Ok(c)
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
        self.writer
            .write(move |c| {
                for p in &processes {
                    rows::save_process(c, &tenant, p)?;
                }
                for r in &runs {
                    rows::save_run(c, &tenant, r)?;
                }
                Ok(())
            })
            .await
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The statements a run listing executes (the page, then the count when asked for), each
    /// with its SQL and SQLite's `EXPLAIN QUERY PLAN`: which index serves it. For benchmarks and
    /// diagnosis (bench/query.sh).
    pub async fn explain_list_runs(&self, tenant: &TenantId, scope: &RunScope, query: &ListQuery) -> StoreResult<Vec<(String, Vec<String>)>> {
        let (tenant, scope, query) = (tenant.clone(), scope.clone(), query.clone());
        self.read(move |c| {
            let (mut page, count, _) = page_statements(Table::Runs, &tenant, scope_terms(&scope), &query)?;
            page.columns(RUN_COLUMNS.iter().map(|c| Alias::new(*c)));
            let mut out = Vec::new();
            for stmt in std::iter::once(page).chain(count) {
                let (sql, values) = stmt.build_rusqlite(SqliteQueryBuilder);
                let mut explain = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).map_err(internal)?;
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
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    {
        let _permit = self.readers.permits.acquire().await.map_err(|_| StoreError::Unavailable("the store is closed".into()))?;
        let conn = self.readers.conns.lock().map_err(internal)?.pop().ok_or_else(|| internal("no read connection free"))?;
        let readers = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let result = op(&conn);
            if let Ok(mut pool) = readers.conns.lock() {
                pool.push(conn);
            }
            result
        })
        .await
        .map_err(internal)?
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

fn tenant_is(tenant: &TenantId) -> Expr {
    Expr::col(Alias::new("tenant")).eq(tenant.as_str())
}

/// The WHERE terms that pick a scope's runs.
fn scope_terms(scope: &RunScope) -> Vec<Expr> {
    let mut terms = Vec::new();
    match scope.parent {
        RunParent::All => {}
        RunParent::Process(kind, id) => {
            terms.push(Expr::col(Alias::new("process_id")).eq(id.to_string()));
            terms.push(kind_in(&[RunKind::for_process(kind).ordinal()]));
        }
        RunParent::Group(id) => terms.push(Expr::col(Alias::new("group_id")).eq(id.to_string())),
    }
    if let Some(kind) = scope.kind {
        terms.push(kind_in(&[kind.ordinal()]));
    }
    terms
}

/// Builds the page query and its count query for a table, with the scope's terms.
fn page_statements(table: Table, tenant: &TenantId, terms: Vec<Expr>, query: &ListQuery) -> StoreResult<(SelectStatement, Option<SelectStatement>, Vec<runhub_odata::ast::OrderKey>)> {
    let compiler = Compiler { table, dialect: Dialect::Sqlite };
    let mut base = Query::select();
    base.from(Alias::new(table.name())).and_where(tenant_is(tenant));
    for t in terms {
        base.and_where(t);
    }
    if let Some(f) = &query.filter {
        base.and_where(compiler.filter(f)?);
    }
    let count = query.count.then(|| {
        let mut c = base.clone();
        c.expr(Expr::cust("COUNT(*)"));
        c
    });
    let keys = if query.orderby.is_empty() { default_order(table) } else { query.orderby.clone() };
    let mut page = base;
    if let Some(after) = &query.after {
        page.and_where(compiler.after(&keys, after)?);
    }
    for (expr, order, nulls) in compiler.order_by(&keys)? {
        match nulls {
            Some(n) => page.order_by_expr_with_nulls(expr, order, n),
            None => page.order_by_expr(expr, order),
        };
    }
    // SQLite integers are i64: a larger `$skip` is past every row anyway.
    page.limit(u64::from(query.top) + 1).offset(std::cmp::min(query.skip, i64::MAX as u64));
    Ok((page, count, keys))
}

/// The cursor after `row`: its order-key values, then its id.
fn cursor_of(keys: &[runhub_odata::ast::OrderKey], table: Table, get: impl Fn(&str) -> Value) -> Vec<Value> {
    let mut values: Vec<Value> = keys.iter().map(|k| if column(table, k.path).is_some() { get(k.path) } else { Value::Null }).collect();
    values.push(get("id"));
    values
}

fn run_key(run: &Run, path: &str) -> Value {
    let opt_str = |s: Option<&String>| s.map_or(Value::Null, |s| Value::String(s.clone()));
    let error = run.blocking_error.as_ref();
    match path {
        "id" => Value::String(run.id.to_string()),
        "displayName" => Value::String(run.display_name.as_str().to_owned()),
        "startDateTime" => Value::DateTime(run.start.micros()),
        "endDateTime" => run.end.map_or(Value::Null, |e| Value::DateTime(e.micros())),
        "status" => Value::Enum(Some(run.status.ordinal())),
        "blockingError/code" => opt_str(error.and_then(|e| e.code.as_ref())),
        "blockingError/message" => opt_str(error.and_then(|e| e.message.as_ref())),
        "blockingError/target" => opt_str(error.and_then(|e| e.target.as_ref())),
        "process/id" => run.process_id.map_or(Value::Null, |p| Value::String(p.to_string())),
        _ => Value::Null,
    }
}

fn process_key(p: &Process, path: &str) -> Value {
    match path {
        "id" => Value::String(p.id.to_string()),
        "displayName" => Value::String(p.display_name.as_str().to_owned()),
        "eTag" => Value::String(crate::etag(p.version)),
        "readinessStatus" => Value::Enum(Some(p.readiness_status.ordinal())),
        "dataDomain" => p.data_domain.map_or(Value::Null, |d| Value::Enum(Some(d.ordinal()))),
        "recurrenceEffectiveDateTime" => p.recurrence_start.map_or(Value::Null, |t| Value::DateTime(t.micros())),
        "recurrenceExpirationDateTime" => p.recurrence_end.map_or(Value::Null, |t| Value::DateTime(t.micros())),
        _ => Value::Null,
    }
}

fn fetch_page<T>(
    conn: &Connection,
    table: Table,
    columns: &[&str],
    (mut page, count, keys): (SelectStatement, Option<SelectStatement>, Vec<runhub_odata::ast::OrderKey>),
    top: u32,
    from_row: fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
    key: fn(&T, &str) -> Value,
) -> StoreResult<Page<T>> {
    page.columns(columns.iter().map(|c| Alias::new(*c)));
    // The page and its `@odata.count` come from one snapshot, whatever is written meanwhile.
    let snapshot = conn.unchecked_transaction().map_err(internal)?;
    let (sql, values) = page.build_rusqlite(SqliteQueryBuilder);
    let mut stmt = conn.prepare_cached(&sql).map_err(internal)?;
    let mut items = stmt.query_map(&*values.as_params(), from_row).map_err(internal)?.collect::<Result<Vec<T>, _>>().map_err(internal)?;
    let more = items.len() > top as usize;
    items.truncate(top as usize);
    let next = if more { items.last().map(|last| cursor_of(&keys, table, |p| key(last, p))) } else { None };
    let count = match count {
        Some(c) => {
            let (sql, values) = c.build_rusqlite(SqliteQueryBuilder);
            Some(conn.query_row(&sql, &*values.as_params(), |r| r.get::<_, i64>(0)).map_err(internal)? as u64)
        }
        None => None,
    };
    snapshot.finish().map_err(internal)?;
    Ok(Page { items, next, count })
}

fn count_rows(conn: &Connection, table: Table, tenant: &TenantId, terms: Vec<Expr>, filter: Option<&Filter>) -> StoreResult<u64> {
    let mut q = Query::select();
    q.expr(Expr::cust("COUNT(*)")).from(Alias::new(table.name())).and_where(tenant_is(tenant));
    for t in terms {
        q.and_where(t);
    }
    if let Some(f) = filter {
        q.and_where(Compiler { table, dialect: Dialect::Sqlite }.filter(f)?);
    }
    let (sql, values) = q.build_rusqlite(SqliteQueryBuilder);
    Ok(conn.query_row(&sql, &*values.as_params(), |r| r.get::<_, i64>(0)).map_err(internal)? as u64)
}

#[async_trait]
impl Store for SqliteStore {
    async fn health(&self) -> StoreResult<()> {
        self.read(|conn| conn.query_row("SELECT 1", [], |_| Ok(())).map_err(|e| StoreError::Unavailable(e.to_string()))).await
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
        self.writer.write(move |c| ops::create_process(c, &tenant, new)).await
    }

    async fn get_process(&self, tenant: &TenantId, kind: ProcessKind, id: Uuid) -> StoreResult<Process> {
        let tenant = tenant.clone();
        self.read(move |c| ops::load_process_of_kind(c, &tenant, kind, id)).await
    }

    async fn update_process(&self, tenant: &TenantId, kind: ProcessKind, id: Uuid, patch: ProcessPatch, pre: Option<Precondition>) -> StoreResult<Process> {
        let tenant = tenant.clone();
        self.writer.write(move |c| ops::update_process(c, &tenant, kind, id, patch, pre)).await
    }

    async fn delete_process(&self, tenant: &TenantId, kind: ProcessKind, id: Uuid, pre: Option<Precondition>) -> StoreResult<()> {
        let tenant = tenant.clone();
        self.writer.write(move |c| ops::delete_process(c, &tenant, kind, id, pre)).await
    }

    async fn list_processes(&self, tenant: &TenantId, kind: ProcessKind, query: &ListQuery) -> StoreResult<Page<Process>> {
        let (tenant, query) = (tenant.clone(), query.clone());
        self.read(move |c| {
            let terms = vec![Expr::col(Alias::new("kind")).eq(kind.ordinal())];
            let stmts = page_statements(Table::Processes, &tenant, terms, &query)?;
            fetch_page(c, Table::Processes, &PROCESS_COLUMNS, stmts, query.top, process_from_row, process_key)
        })
        .await
    }

    async fn count_processes(&self, tenant: &TenantId, kind: ProcessKind, filter: Option<&Filter>) -> StoreResult<u64> {
        let (tenant, filter) = (tenant.clone(), filter.cloned());
        self.read(move |c| {
            count_rows(c, Table::Processes, &tenant, vec![Expr::col(Alias::new("kind")).eq(kind.ordinal())], filter.as_ref())
        })
        .await
    }

    async fn processes_by_ids(&self, tenant: &TenantId, ids: &[Uuid]) -> StoreResult<Vec<Process>> {
        let tenant = tenant.clone();
        let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        self.read(move |c| {
            let mut q = Query::select();
            q.columns(PROCESS_COLUMNS.iter().map(|c| Alias::new(*c)))
                .from(Alias::new("processes"))
                .and_where(tenant_is(&tenant))
                .and_where(Expr::col(Alias::new("id")).is_in(ids));
            let (sql, values) = q.build_rusqlite(SqliteQueryBuilder);
            let mut stmt = c.prepare(&sql).map_err(internal)?;
            stmt.query_map(&*values.as_params(), process_from_row).map_err(internal)?.collect::<Result<Vec<_>, _>>().map_err(internal)
        })
        .await
    }

    async fn create_run(&self, tenant: &TenantId, scope: &RunScope, new: NewRun, process: Option<ProcessRef>) -> StoreResult<Run> {
        let (tenant, scope) = (tenant.clone(), scope.clone());
        self.writer.write(move |c| ops::create_run(c, &tenant, &scope, new, process)).await
    }

    async fn get_run(&self, tenant: &TenantId, scope: &RunScope, id: Uuid) -> StoreResult<Run> {
        let (tenant, scope) = (tenant.clone(), scope.clone());
        self.read(move |c| ops::load_scoped_run(c, &tenant, &scope, id)).await
    }

    async fn update_run(&self, tenant: &TenantId, scope: &RunScope, id: Uuid, patch: RunPatch, pre: Option<Precondition>) -> StoreResult<Run> {
        let (tenant, scope) = (tenant.clone(), scope.clone());
        self.writer.write(move |c| ops::update_run(c, &tenant, &scope, id, patch, pre)).await
    }

    async fn delete_run(&self, tenant: &TenantId, scope: &RunScope, id: Uuid, pre: Option<Precondition>) -> StoreResult<()> {
        let (tenant, scope) = (tenant.clone(), scope.clone());
        self.writer.write(move |c| ops::delete_run(c, &tenant, &scope, id, pre)).await
    }

    async fn list_runs(&self, tenant: &TenantId, scope: &RunScope, query: &ListQuery) -> StoreResult<Page<Run>> {
        let (tenant, scope, query) = (tenant.clone(), scope.clone(), query.clone());
        self.read(move |c| {
            ops::check_parent(c, &tenant, &scope.parent)?;
            let stmts = page_statements(Table::Runs, &tenant, scope_terms(&scope), &query)?;
            fetch_page(c, Table::Runs, &RUN_COLUMNS, stmts, query.top, run_from_row, run_key)
        })
        .await
    }

    async fn list_runs_of_parents(&self, tenant: &TenantId, scopes: &[RunScope], query: &ListQuery) -> StoreResult<Vec<Vec<Run>>> {
        let parents: Vec<(&'static str, String, Option<i64>)> = scopes
            .iter()
            .map(|s| match s.parent {
                RunParent::Process(kind, id) => Ok(("process_id", id.to_string(), Some(RunKind::for_process(kind).ordinal()))),
                RunParent::Group(id) => Ok(("group_id", id.to_string(), None)),
                RunParent::All => Err(internal("expanding runs needs a parent")),
            })
            .collect::<StoreResult<_>>()?;
        let Some((parent_col, _, kind)) = parents.first().cloned() else { return Ok(Vec::new()) };
        if parents.iter().any(|p| p.0 != parent_col) {
            return Err(internal("cannot expand runs of mixed parents"));
        }
        let (tenant, query) = (tenant.clone(), query.clone());
        let ids: Vec<String> = parents.into_iter().map(|p| p.1).collect();
        self.read(move |c| {
            let compiler = Compiler { table: Table::Runs, dialect: Dialect::Sqlite };
            let keys = if query.orderby.is_empty() { default_order(Table::Runs) } else { query.orderby.clone() };
            // Column names come from the fixed schema map, never from the request.
            let order = keys
                .iter()
                .filter_map(|k| column(Table::Runs, k.path).map(|c| format!("{} {}", c.name, if k.descending { "DESC" } else { "ASC" })))
                .chain(std::iter::once("id ASC".to_owned()))
                .collect::<Vec<_>>()
                .join(", ");
            let mut inner = Query::select();
            inner
                .columns(RUN_COLUMNS.iter().map(|c| Alias::new(*c)))
                .expr_as(Expr::cust(format!("ROW_NUMBER() OVER (PARTITION BY {parent_col} ORDER BY {order})")), Alias::new("rn"))
                .from(Alias::new("runs"))
                .and_where(tenant_is(&tenant))
                .and_where(Expr::col(Alias::new(parent_col)).is_in(ids.clone()));
            if let Some(kind) = kind {
                inner.and_where(kind_in(&[kind]));
            }
            if let Some(f) = &query.filter {
                inner.and_where(compiler.filter(f)?);
            }
            let mut outer = Query::select();
            outer
                .columns(RUN_COLUMNS.iter().map(|c| Alias::new(*c)))
                .from_subquery(inner, Alias::new("ranked"))
                .and_where(Expr::col(Alias::new("rn")).lte(i64::from(query.top)))
                .order_by(Alias::new("rn"), sea_query::Order::Asc);
            let (sql, values) = outer.build_rusqlite(SqliteQueryBuilder);
            let mut stmt = c.prepare_cached(&sql).map_err(internal)?;
            let runs = stmt.query_map(&*values.as_params(), run_from_row).map_err(internal)?.collect::<Result<Vec<_>, _>>().map_err(internal)?;
            let mut out: Vec<Vec<Run>> = vec![Vec::new(); ids.len()];
            for run in runs {
                let parent = if parent_col == "process_id" { run.process_id } else { run.group_id };
                if let Some(i) = parent.and_then(|p| ids.iter().position(|id| *id == p.to_string())) {
                    out[i].push(run);
                }
            }
            Ok(out)
        })
        .await
    }

    async fn count_runs(&self, tenant: &TenantId, scope: &RunScope, filter: Option<&Filter>) -> StoreResult<u64> {
        let (tenant, scope, filter) = (tenant.clone(), scope.clone(), filter.cloned());
        self.read(move |c| {
            ops::check_parent(c, &tenant, &scope.parent)?;
            count_rows(c, Table::Runs, &tenant, scope_terms(&scope), filter.as_ref())
        })
        .await
    }

    async fn set_run_process(&self, tenant: &TenantId, scope: &RunScope, id: Uuid, process: ProcessRef) -> StoreResult<Run> {
        let (tenant, scope) = (tenant.clone(), scope.clone());
        self.writer.write(move |c| ops::set_run_process(c, &tenant, &scope, id, process)).await
    }

    async fn add_group_member(&self, tenant: &TenantId, group: Uuid, run: Uuid) -> StoreResult<()> {
        let tenant = tenant.clone();
        self.writer.write(move |c| ops::add_group_member(c, &tenant, group, run)).await
    }

    async fn remove_group_member(&self, tenant: &TenantId, group: Uuid, run: Uuid) -> StoreResult<()> {
        let tenant = tenant.clone();
        self.writer.write(move |c| ops::remove_group_member(c, &tenant, group, run)).await
    }

    async fn run_now(&self, tenant: &TenantId, flow: Uuid) -> StoreResult<Run> {
        let tenant = tenant.clone();
        self.writer.write(move |c| ops::run_now(c, &tenant, flow)).await
    }

    async fn group_problem_runs(&self, tenant: &TenantId, group: Uuid) -> StoreResult<Vec<Run>> {
        let tenant = tenant.clone();
        self.read(move |c| {
            ops::load_group(c, &tenant, group)?;
            let sql = format!(
                "SELECT {} FROM runs WHERE tenant = ?1 AND group_id = ?2 AND status IN (?3, ?4, ?5) ORDER BY start_time, id",
                RUN_COLUMNS.join(", ")
            );
            use runhub_model::RunStatus as S;
            let mut stmt = c.prepare_cached(&sql).map_err(internal)?;
            stmt.query_map(
                params![tenant.as_str(), group.to_string(), S::Failed.ordinal(), S::CompletedWithErrors.ordinal(), S::CompletedWithWarnings.ordinal()],
                run_from_row,
            )
            .map_err(internal)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(internal)
        })
        .await
    }

    async fn start_run_group(&self, tenant: &TenantId, now: runhub_model::Timestamp, policy: &crate::StartPolicy) -> StoreResult<crate::StartOutcome> {
        let (tenant, policy) = (tenant.clone(), policy.clone());
        self.writer.write(move |c| schedule::start_on_demand(c, &tenant, now, &policy)).await
    }

    async fn claim_scheduled_runs(&self, now: runhub_model::Timestamp, interval_micros: i64) -> StoreResult<Vec<crate::ScheduledStart>> {
        self.writer.write(move |c| schedule::claim_scheduled(c, now, interval_micros)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn synchronous_of(durability: Durability) -> i64 {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(dir.path(), Options { durability, ..Options::default() }).await.unwrap();
        store.writer.write(|c| c.query_row("PRAGMA synchronous", [], |r| r.get::<_, i64>(0)).map_err(internal)).await.unwrap()
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
        let tenant = TenantId::default_tenant();
        let mut tasks = Vec::new();
        for i in 0..200 {
            let (store, tenant) = (store.clone(), tenant.clone());
            tasks.push(tokio::spawn(async move {
                store
                    .writer
                    .write(move |c| {
                        c.execute("INSERT INTO meta (key, value) VALUES (?1, x'00')", params![format!("k{i}")]).map_err(internal)?;
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
            .read(|c| c.query_row("SELECT COUNT(*) FROM meta WHERE key LIKE 'k%'", [], |r| r.get(0)).map_err(internal))
            .await
            .unwrap();
        assert_eq!(ok, 133);
        assert_eq!(stored, 133, "exactly the acknowledged operations are stored");
    }
}
