//! Every statement the stores run, built once as sea-query statements and rendered for a
//! [`Dialect`] when a [`crate::tx::Tx`] runs it: SQLite and PostgreSQL execute the same SQL shape
//! with the same bound values. Runs and processes (pages, counts, loads and saves) are here; the
//! change log, webhooks, scheduling and upkeep each have a module of their own, so the operations
//! ([`crate::ops`], [`crate::changes`], …) read as steps over named statements.

use std::borrow::Cow;
use std::sync::OnceLock;

use runhub_model::{GraphEnum, Process, ProcessKind, Run, RunKind, RunStatus, TenantId, Uuid};
use runhub_odata::ast::{Filter, OrderKey, Value};
use sea_query::{
    Alias, DeleteStatement, Expr, ExprTrait, InsertStatement, LockType, OnConflict, PostgresQueryBuilder, Query, QueryStatementWriter,
    SelectStatement, SqliteQueryBuilder, UpdateStatement, Values,
};

use crate::columns::{Table, column, kind_in};
use crate::dialect::Dialect;
use crate::filter_sql::Compiler;
use crate::records::{PROCESS_COLUMNS, RUN_COLUMNS, internal, process_values, run_values};
use crate::{ListQuery, RunParent, RunScope, StoreResult, default_order};

pub(crate) mod changes;
pub(crate) mod counts;
pub(crate) mod names;
pub(crate) mod schedule;
pub(crate) mod upkeep;
pub(crate) mod webhooks;

/// A rendered statement: SQL text with placeholders, and the values bound to them.
pub(crate) struct Sql {
    pub text: Cow<'static, str>,
    pub values: Values,
}

impl Sql {
    /// A statement written as SQL text, without bound values (for the few that sea-query cannot
    /// express, each for one dialect).
    pub fn text(text: &str) -> Self {
        Self { text: Cow::Owned(text.to_owned()), values: Values(Vec::new()) }
    }
}

/// A statement a [`crate::tx::Tx`] can run: rendered for the backend's dialect when it is run.
pub(crate) trait Statement {
    fn render(self, dialect: Dialect) -> Sql;
}

impl<S: QueryStatementWriter> Statement for S {
    fn render(self, dialect: Dialect) -> Sql {
        let (text, values) = match dialect {
            Dialect::Sqlite => self.build(SqliteQueryBuilder),
            Dialect::Postgres => self.build(PostgresQueryBuilder),
        };
        Sql { text: Cow::Owned(text), values }
    }
}

impl Statement for Sql {
    fn render(self, _: Dialect) -> Sql {
        self
    }
}

fn col(name: &str) -> Expr {
    Expr::col(Alias::new(name))
}

pub(crate) fn tenant_is(tenant: &TenantId) -> Expr {
    col("tenant").eq(tenant.as_str())
}

fn key_is(tenant: &TenantId, id: Uuid) -> [Expr; 2] {
    let [tenant, id] = key_values(tenant, id);
    [col("tenant").eq(tenant), col("id").eq(id)]
}

/// The values [`key_is`] binds, in its order.
fn key_values(tenant: &TenantId, id: Uuid) -> [sea_query::Value; 2] {
    [tenant.as_str().into(), id.to_string().into()]
}

/// A row lock held to the end of the transaction, where the dialect has row locks (PostgreSQL).
/// SQLite needs none: its single writer already runs every write alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lock {
    /// A plain read.
    No,
    /// `FOR SHARE`: the row may not change or vanish, but other writers may share it (a process
    /// that runs are being created under).
    Share,
    /// `FOR UPDATE`: this transaction is about to change the row.
    Update,
}

fn apply_lock(q: &mut SelectStatement, lock: Lock, dialect: Dialect) {
    if dialect == Dialect::Postgres {
        match lock {
            Lock::No => {}
            Lock::Share => {
                q.lock(LockType::Share);
            }
            Lock::Update => {
                q.lock(LockType::Update);
            }
        }
    }
}

/// One run by id.
pub(crate) fn load_run(tenant: &TenantId, id: Uuid, lock: Lock, dialect: Dialect) -> Sql {
    static TEXTS: KeyReadTexts = KeyReadTexts::new();
    TEXTS.sql(tenant, id, lock, dialect, || select_by_key("runs", &RUN_COLUMNS, tenant, id, lock, dialect))
}

/// One process by id.
pub(crate) fn load_process(tenant: &TenantId, id: Uuid, lock: Lock, dialect: Dialect) -> Sql {
    static TEXTS: KeyReadTexts = KeyReadTexts::new();
    TEXTS.sql(tenant, id, lock, dialect, || select_by_key("processes", &PROCESS_COLUMNS, tenant, id, lock, dialect))
}

fn select_by_key(table: &str, columns: &[&str], tenant: &TenantId, id: Uuid, lock: Lock, dialect: Dialect) -> SelectStatement {
    let mut q = Query::select();
    q.columns(columns.iter().map(|c| Alias::new(*c))).from(Alias::new(table));
    for e in key_is(tenant, id) {
        q.and_where(e);
    }
    apply_lock(&mut q, lock, dialect);
    q
}

/// The text of a read of one row by key, rendered once per dialect and lock: between calls only
/// the key's bound values change, and building the statement again cost more than a point read
/// on SQLite takes.
struct KeyReadTexts([OnceLock<String>; 6]);

impl KeyReadTexts {
    const fn new() -> Self {
        Self([const { OnceLock::new() }; 6])
    }

    fn sql(&'static self, tenant: &TenantId, id: Uuid, lock: Lock, dialect: Dialect, build: impl FnOnce() -> SelectStatement) -> Sql {
        let dialect_at = match dialect {
            Dialect::Sqlite => 0,
            Dialect::Postgres => 3,
        };
        let lock_at = match lock {
            Lock::No => 0,
            Lock::Share => 1,
            Lock::Update => 2,
        };
        let slot = &self.0[dialect_at + lock_at];
        if let Some(text) = slot.get() {
            return Sql { text: Cow::Borrowed(text.as_str()), values: Values(key_values(tenant, id).into()) };
        }
        let sql = build().render(dialect);
        let _ = slot.set(sql.text.clone().into_owned());
        sql
    }
}

/// Inserts a whole row, or overwrites every column of the row with the same key (an upsert both
/// engines speak: `ON CONFLICT (tenant, id) DO UPDATE`).
fn upsert(table: &str, tenant: &TenantId, values: Vec<(&'static str, sea_query::Value)>) -> StoreResult<InsertStatement> {
    let mut q = Query::insert();
    q.into_table(Alias::new(table))
        .columns(std::iter::once(Alias::new("tenant")).chain(values.iter().map(|(c, _)| Alias::new(*c))))
        .values(std::iter::once(Expr::val(tenant.as_str())).chain(values.iter().map(|(_, v)| Expr::val(v.clone()))))
        .map_err(internal)?
        .on_conflict(
            OnConflict::columns([Alias::new("tenant"), Alias::new("id")])
                .update_columns(values.iter().filter(|(c, _)| *c != "id").map(|(c, _)| Alias::new(*c)))
                .to_owned(),
        );
    Ok(q)
}

/// Inserts a new row.
fn insert(table: &str, tenant: &TenantId, values: Vec<(&'static str, sea_query::Value)>) -> StoreResult<InsertStatement> {
    let mut q = Query::insert();
    q.into_table(Alias::new(table))
        .columns(std::iter::once(Alias::new("tenant")).chain(values.iter().map(|(c, _)| Alias::new(*c))))
        .values(std::iter::once(Expr::val(tenant.as_str())).chain(values.into_iter().map(|(_, v)| Expr::val(v))))
        .map_err(internal)?;
    Ok(q)
}

/// Updates only the columns whose values differ between two versions of a row (`None` when nothing
/// did). A column left out of `SET` leaves every index on it untouched: a progress PATCH changes
/// `statistics` and `version`, not the five indexes over status, times, process and group.
fn update_changed(
    table: &str,
    tenant: &TenantId,
    id: Uuid,
    before: Vec<(&'static str, sea_query::Value)>,
    after: Vec<(&'static str, sea_query::Value)>,
) -> Option<UpdateStatement> {
    update_columns(table, tenant, id, changed_columns(before, after))
}

/// The columns whose values differ, with their values in `after`.
fn changed_columns(
    before: Vec<(&'static str, sea_query::Value)>,
    after: Vec<(&'static str, sea_query::Value)>,
) -> Vec<(&'static str, sea_query::Value)> {
    before.into_iter().zip(after).filter(|((_, b), (_, a))| a != b).map(|(_, after)| after).collect()
}

/// `UPDATE table SET` these columns of the row with this key (`None` when there are none).
fn update_columns(table: &str, tenant: &TenantId, id: Uuid, columns: Vec<(&'static str, sea_query::Value)>) -> Option<UpdateStatement> {
    if columns.is_empty() {
        return None;
    }
    let mut q = Query::update();
    q.table(Alias::new(table)).values(columns.into_iter().map(|(c, v)| (Alias::new(c), Expr::val(v))));
    for e in key_is(tenant, id) {
        q.and_where(e);
    }
    Some(q)
}

/// A run's values as a new row: its columns and `last_activity` (now).
fn new_run_values(run: &Run) -> Vec<(&'static str, sea_query::Value)> {
    let mut values = run_values(run);
    values.push(("last_activity", runhub_model::Timestamp::now().micros().into()));
    values
}

pub(crate) fn insert_run(tenant: &TenantId, run: &Run) -> StoreResult<InsertStatement> {
    insert("runs", tenant, new_run_values(run))
}

/// What to write for a run going from `before` to `after`, and whether the run itself changed.
/// With `activity` (microseconds) `last_activity` is stamped too, even when nothing else changed:
/// every PATCH of a running run is a sign of life (the stale-run reaper's clock).
pub(crate) fn update_run(tenant: &TenantId, before: &Run, after: &Run, activity: Option<i64>) -> (Option<UpdateStatement>, bool) {
    let mut changed = changed_columns(run_values(before), run_values(after));
    let is_change = !changed.is_empty();
    if let Some(at) = activity {
        changed.push(("last_activity", at.into()));
    }
    (update_columns("runs", tenant, after.id, changed), is_change)
}

pub(crate) fn insert_process(tenant: &TenantId, p: &Process) -> StoreResult<InsertStatement> {
    insert("processes", tenant, process_values(p))
}

pub(crate) fn update_process(tenant: &TenantId, before: &Process, after: &Process) -> Option<UpdateStatement> {
    update_changed("processes", tenant, after.id, process_values(before), process_values(after))
}

/// The bulk path's save: a whole row, new or not.
pub(crate) fn save_run(tenant: &TenantId, run: &Run) -> StoreResult<InsertStatement> {
    upsert("runs", tenant, new_run_values(run))
}

pub(crate) fn save_process(tenant: &TenantId, p: &Process) -> StoreResult<InsertStatement> {
    upsert("processes", tenant, process_values(p))
}

pub(crate) fn delete_row(table: Table, tenant: &TenantId, id: Uuid) -> DeleteStatement {
    let mut q = Query::delete();
    q.from_table(Alias::new(table.name()));
    for e in key_is(tenant, id) {
        q.and_where(e);
    }
    q
}

/// Detaches every member of a group (deleting a group keeps its members).
pub(crate) fn detach_members(tenant: &TenantId, group: Uuid) -> UpdateStatement {
    let mut q = Query::update();
    q.table(Alias::new("runs"))
        .value(Alias::new("group_id"), Expr::null())
        .value(Alias::new("version"), col("version").add(1))
        .and_where(tenant_is(tenant))
        .and_where(col("group_id").eq(group.to_string()));
    q
}

pub(crate) fn count_process_runs(tenant: &TenantId, process: Uuid) -> SelectStatement {
    let mut q = Query::select();
    q.expr(Expr::cust("COUNT(*)"))
        .from(Alias::new("runs"))
        .and_where(tenant_is(tenant))
        .and_where(col("process_id").eq(process.to_string()));
    q
}

/// A group's members by status: `status, COUNT(*), MIN(start_time), MAX(end_time)`.
pub(crate) fn member_summary(tenant: &TenantId, group: Uuid) -> SelectStatement {
    let mut q = Query::select();
    q.column(Alias::new("status"))
        .expr(Expr::cust("COUNT(*)"))
        .expr(Expr::cust("MIN(start_time)"))
        .expr(Expr::cust("MAX(end_time)"))
        .from(Alias::new("runs"))
        .and_where(tenant_is(tenant))
        .and_where(col("group_id").eq(group.to_string()))
        .group_by_col(Alias::new("status"));
    q
}

/// The WHERE terms that pick the processes of a kind.
pub(crate) fn process_kind_terms(kind: ProcessKind) -> Vec<Expr> {
    vec![kind_in(&[kind.ordinal()])]
}

/// The WHERE terms that pick a scope's runs.
pub(crate) fn scope_terms(scope: &RunScope) -> Vec<Expr> {
    let mut terms = Vec::new();
    match scope.parent {
        RunParent::All => {}
        RunParent::Process(kind, id) => {
            terms.push(col("process_id").eq(id.to_string()));
            terms.push(kind_in(&[RunKind::for_process(kind).ordinal()]));
        }
        RunParent::Group(id) => terms.push(col("group_id").eq(id.to_string())),
    }
    if let Some(kind) = scope.kind {
        terms.push(kind_in(&[kind.ordinal()]));
    }
    terms
}

/// Where a listing or count finds its rows.
#[derive(Clone)]
pub(crate) enum Access {
    /// Through the tenant's indexes: the one that serves the filter and the order best.
    Indexes,
    /// From a small set of candidate rows (the run-name index's: crate::names), fetched by rowid
    /// and then sorted. The tenant's indexes are kept out of the plan (`+tenant`): walking one in
    /// page order, as SQLite's planner would otherwise choose, reads every row of the tenant when
    /// few match.
    Candidates(Expr),
}

impl Access {
    /// The terms that pick the tenant's rows this way.
    fn terms(self, tenant: &TenantId) -> Vec<Expr> {
        match self {
            Access::Indexes => vec![tenant_is(tenant)],
            Access::Candidates(candidates) => vec![Expr::cust_with_values("+\"tenant\" = ?", [tenant.as_str()]), candidates],
        }
    }
}

/// A page query, its count query (when `$count=true`) and the effective ordering.
pub(crate) struct PageStatements {
    pub page: SelectStatement,
    pub count: Option<SelectStatement>,
    pub keys: Vec<OrderKey>,
}

/// Builds the page query and its count query for a table, with the scope's terms.
pub(crate) fn page_statements(
    table: Table,
    tenant: &TenantId,
    access: Access,
    terms: Vec<Expr>,
    query: &ListQuery,
    dialect: Dialect,
) -> StoreResult<PageStatements> {
    let compiler = Compiler { table, dialect };
    let mut base = Query::select();
    base.from(Alias::new(table.name()));
    for t in access.terms(tenant).into_iter().chain(terms) {
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
    let columns: &[&str] = match table {
        Table::Runs => &RUN_COLUMNS,
        Table::Processes => &PROCESS_COLUMNS,
    };
    page.columns(columns.iter().map(|c| Alias::new(*c)));
    // Integers in both engines are i64: a larger `$skip` is past every row anyway.
    page.limit(u64::from(query.top) + 1).offset(std::cmp::min(query.skip, i64::MAX as u64));
    Ok(PageStatements { page, count, keys })
}

pub(crate) fn count_rows(
    table: Table,
    tenant: &TenantId,
    access: Access,
    terms: Vec<Expr>,
    filter: Option<&Filter>,
    dialect: Dialect,
) -> StoreResult<SelectStatement> {
    let terms = access.terms(tenant).into_iter().chain(terms).collect();
    select_from("COUNT(*)", table.name(), table, terms, filter, dialect)
}

/// `SELECT what FROM from` a tenant's rows that the terms and the filter (compiled over `table`'s
/// columns) pick.
pub(crate) fn select_where(
    what: &'static str,
    from: &'static str,
    table: Table,
    tenant: &TenantId,
    terms: Vec<Expr>,
    filter: Option<&Filter>,
    dialect: Dialect,
) -> StoreResult<SelectStatement> {
    select_from(what, from, table, std::iter::once(tenant_is(tenant)).chain(terms).collect(), filter, dialect)
}

/// `SELECT what FROM from` the rows that the terms and the filter pick.
fn select_from(
    what: &'static str,
    from: &'static str,
    table: Table,
    terms: Vec<Expr>,
    filter: Option<&Filter>,
    dialect: Dialect,
) -> StoreResult<SelectStatement> {
    let mut q = Query::select();
    q.expr(Expr::cust(what)).from(Alias::new(from));
    for t in terms {
        q.and_where(t);
    }
    if let Some(f) = filter {
        q.and_where(Compiler { table, dialect }.filter(f)?);
    }
    Ok(q)
}

pub(crate) fn processes_by_ids(tenant: &TenantId, ids: &[Uuid]) -> SelectStatement {
    let mut q = Query::select();
    q.columns(PROCESS_COLUMNS.iter().map(|c| Alias::new(*c)))
        .from(Alias::new("processes"))
        .and_where(tenant_is(tenant))
        .and_where(col("id").is_in(ids.iter().map(Uuid::to_string)));
    q
}

/// The runs with these ids (any kind).
pub(crate) fn runs_by_ids(tenant: &TenantId, ids: &[Uuid]) -> SelectStatement {
    let mut q = Query::select();
    q.columns(RUN_COLUMNS.iter().map(|c| Alias::new(*c)))
        .from(Alias::new("runs"))
        .and_where(tenant_is(tenant))
        .and_where(col("id").is_in(ids.iter().map(Uuid::to_string)));
    q
}

/// The first `query.top` runs of each parent (`$expand=runs`) in one statement: `ROW_NUMBER()`
/// over a partition per parent, in the requested order.
pub(crate) fn runs_of_parents(
    tenant: &TenantId,
    parent_col: &'static str,
    ids: &[String],
    kind: Option<i64>,
    query: &ListQuery,
    dialect: Dialect,
) -> StoreResult<SelectStatement> {
    let compiler = Compiler { table: Table::Runs, dialect };
    let keys = if query.orderby.is_empty() { default_order(Table::Runs) } else { query.orderby.clone() };
    // Column names come from the fixed schema map, never from the request. Nulls sort lowest:
    // SQLite's native order, spelled out for PostgreSQL, whose native order is the opposite.
    let order = keys
        .iter()
        .filter_map(|k| {
            column(Table::Runs, k.path).map(|c| {
                let dir = if k.descending { "DESC" } else { "ASC" };
                let nulls = match (dialect, c.nullable, k.descending) {
                    (Dialect::Postgres, true, true) => " NULLS LAST",
                    (Dialect::Postgres, true, false) => " NULLS FIRST",
                    _ => "",
                };
                format!("{} {dir}{nulls}", c.name)
            })
        })
        .chain(std::iter::once("id ASC".to_owned()))
        .collect::<Vec<_>>()
        .join(", ");
    let mut inner = Query::select();
    inner
        .columns(RUN_COLUMNS.iter().map(|c| Alias::new(*c)))
        .expr_as(Expr::cust(format!("ROW_NUMBER() OVER (PARTITION BY {parent_col} ORDER BY {order})")), Alias::new("rn"))
        .from(Alias::new("runs"))
        .and_where(tenant_is(tenant))
        .and_where(col(parent_col).is_in(ids.iter().cloned()));
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
        .and_where(col("rn").lte(i64::from(query.top)))
        .order_by(Alias::new("rn"), sea_query::Order::Asc);
    Ok(outer)
}

/// A group's members that failed or completed with errors or warnings, by start then id.
pub(crate) fn group_problem_runs(tenant: &TenantId, group: Uuid) -> SelectStatement {
    use RunStatus as S;
    let mut q = Query::select();
    q.columns(RUN_COLUMNS.iter().map(|c| Alias::new(*c)))
        .from(Alias::new("runs"))
        .and_where(tenant_is(tenant))
        .and_where(col("group_id").eq(group.to_string()))
        .and_where(col("status").is_in([S::Failed.ordinal(), S::CompletedWithErrors.ordinal(), S::CompletedWithWarnings.ordinal()]))
        .order_by(Alias::new("start_time"), sea_query::Order::Asc)
        .order_by(Alias::new("id"), sea_query::Order::Asc);
    q
}

/// The cursor after `row`: its order-key values, then its id.
pub(crate) fn cursor_of(keys: &[OrderKey], table: Table, get: impl Fn(&str) -> Value) -> Vec<Value> {
    let mut values: Vec<Value> = keys.iter().map(|k| if column(table, k.path).is_some() { get(k.path) } else { Value::Null }).collect();
    values.push(get("id"));
    values
}

pub(crate) fn run_key(run: &Run, path: &str) -> Value {
    let opt_str = |s: Option<&String>| s.map_or(Value::Null, |s| Value::String(s.clone()));
    let error = run.blocking_error.as_ref().map(|e| e.error());
    let error = error.as_ref();
    match path {
        "id" => Value::String(run.id.to_string()),
        "displayName" => Value::String(run.display_name.as_str().to_owned()),
        "startDateTime" => Value::DateTime(run.start.micros()),
        "endDateTime" => run.end.map_or(Value::Null, |e| Value::DateTime(e.micros())),
        "status" => Value::Enum(Some(run.status.ordinal())),
        "blockingError/code" => opt_str(error.and_then(|e| e.code.as_ref())),
        "blockingError/message" => opt_str(error.and_then(|e| e.message.as_ref())),
        "blockingError/target" => opt_str(error.and_then(|e| e.target.as_ref())),
        "process/id" => run.process_id().map_or(Value::Null, |p| Value::String(p.to_string())),
        _ => Value::Null,
    }
}

pub(crate) fn process_key(p: &Process, path: &str) -> Value {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn text(stmt: impl Statement, dialect: Dialect) -> String {
        stmt.render(dialect).text.into_owned()
    }

    /// A key read's text is rendered once; every later call gives the same SQL with its own key.
    #[test]
    fn key_reads_render_once_with_their_own_values() {
        let tenant = TenantId::parse("other").unwrap();
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            for lock in [Lock::No, Lock::Share, Lock::Update] {
                for _ in 0..2 {
                    let id = Uuid::new_v4();
                    let expected = select_by_key("runs", &RUN_COLUMNS, &tenant, id, lock, dialect).render(dialect);
                    let got = load_run(&tenant, id, lock, dialect);
                    assert_eq!((got.text, got.values), (expected.text, expected.values));
                    let expected = select_by_key("processes", &PROCESS_COLUMNS, &tenant, id, lock, dialect).render(dialect);
                    let got = load_process(&tenant, id, lock, dialect);
                    assert_eq!((got.text, got.values), (expected.text, expected.values));
                }
            }
        }
    }

    /// Row locks are PostgreSQL's alone: SQLite's single writer needs (and knows) none.
    #[test]
    fn locks_render_for_postgres_only() {
        let (tenant, id) = (TenantId::default_tenant(), Uuid::nil());
        for (lock, clause) in [(Lock::Update, "FOR UPDATE"), (Lock::Share, "FOR SHARE")] {
            assert!(text(load_run(&tenant, id, lock, Dialect::Postgres), Dialect::Postgres).ends_with(clause));
            assert!(!text(load_run(&tenant, id, lock, Dialect::Sqlite), Dialect::Sqlite).contains(" FOR "));
        }
        assert!(!text(load_process(&tenant, id, Lock::No, Dialect::Postgres), Dialect::Postgres).contains(" FOR "));
    }

    /// One upsert for both engines, every value bound, the key never overwritten.
    #[test]
    fn saves_are_upserts_with_bound_values() {
        let process = runhub_model::NewProcess {
            kind: runhub_model::ProcessKind::OutgoingFlow,
            display_name: runhub_model::DisplayName::from_stored("it's; DROP TABLE runs".into()),
            readiness_status: runhub_model::ReadinessStatus::Ready,
            data_domain: None,
            recurrence_start: None,
            recurrence_end: None,
        }
        .into_process(Uuid::nil())
        .unwrap();
        let stmt = save_process(&TenantId::default_tenant(), &process).unwrap();
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            let sql = stmt.clone().render(dialect);
            assert!(sql.text.contains("ON CONFLICT (\"tenant\", \"id\") DO UPDATE SET"), "{}", sql.text);
            assert!(!sql.text.contains("\"id\" = \"excluded\".\"id\""), "{}", sql.text);
            assert!(!sql.text.contains("DROP TABLE"), "values are bound, never spliced: {}", sql.text);
            assert_eq!(sql.values.0.len(), 9);
        }
    }
}
