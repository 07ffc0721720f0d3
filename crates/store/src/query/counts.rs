//! The statements of the stored counts ([`crate::counts`]): delta rows written beside every change
//! of a run or process row, their sums read for `$count`, and their compaction.

use runhub_model::TenantId;
use runhub_odata::ast::Filter;
use sea_query::{Alias, Expr, ExprTrait, InsertStatement, Query, SelectStatement};

use super::{col, tenant_is};
use crate::StoreResult;
use crate::columns::Table;
use crate::dialect::Dialect;
use crate::records::internal;

/// The table holding a collection's delta rows.
pub(crate) fn counts_table(table: Table) -> &'static str {
    match table {
        Table::Runs => "run_counts",
        Table::Processes => "process_counts",
    }
}

/// The columns a table is counted by: each delta row stands for `n` rows with these values.
pub(crate) fn dimensions(table: Table) -> &'static [&'static str] {
    match table {
        Table::Runs => &["kind", "status", "process_id"],
        Table::Processes => &["kind"],
    }
}

/// One delta row per key: `(dimension values, n)`, the values in [`dimensions`] order.
pub(crate) type Delta = (Vec<sea_query::Value>, i64);

/// Inserts delta rows. Plain inserts: no two writers ever wait for each other here.
pub(crate) fn insert_deltas(table: Table, tenant: &TenantId, deltas: &[Delta]) -> StoreResult<InsertStatement> {
    let dims = dimensions(table);
    let mut q = Query::insert();
    q.into_table(Alias::new(counts_table(table)))
        .columns(std::iter::once("tenant").chain(dims.iter().copied()).chain(std::iter::once("n")).map(Alias::new));
    for (values, n) in deltas {
        let row =
            std::iter::once(Expr::val(tenant.as_str())).chain(values.iter().cloned().map(Expr::val)).chain(std::iter::once(Expr::val(*n)));
        q.values(row).map_err(internal)?;
    }
    Ok(q)
}

/// The sum of the delta rows a scope's terms and a filter select: a filter over the counted
/// columns alone picks whole delta rows, so this is the number of rows it matches in the table.
pub(crate) fn sum(
    table: Table,
    tenant: &TenantId,
    terms: Vec<Expr>,
    filter: Option<&Filter>,
    dialect: Dialect,
) -> StoreResult<SelectStatement> {
    super::select_where("CAST(COALESCE(SUM(n), 0) AS BIGINT)", counts_table(table), table, tenant, terms, filter, dialect)
}

/// Every tenant's runs by status from the delta rows: `status, SUM(n)`.
pub(crate) fn runs_by_status() -> SelectStatement {
    let mut q = Query::select();
    q.column(Alias::new("status"))
        .expr(Expr::cust("CAST(SUM(n) AS BIGINT)"))
        .from(Alias::new("run_counts"))
        .group_by_col(Alias::new("status"));
    q
}

/// Up to `limit` keys held by more than one delta row: `tenant`, then the dimensions.
pub(crate) fn keys_to_compact(table: Table, limit: u32) -> SelectStatement {
    let columns: Vec<Alias> = std::iter::once("tenant").chain(dimensions(table).iter().copied()).map(Alias::new).collect();
    let mut q = Query::select();
    q.columns(columns.clone())
        .from(Alias::new(counts_table(table)))
        .group_by_columns(columns)
        .and_having(Expr::cust("COUNT(*) > 1"))
        .limit(u64::from(limit));
    q
}

/// Deletes a key's delta rows and returns their `n`: what was deleted is summed and written back
/// as one row in the same transaction, so the total is kept whatever else runs meanwhile.
pub(crate) fn take_key(table: Table, tenant: &TenantId, values: &[sea_query::Value]) -> sea_query::DeleteStatement {
    let mut q = Query::delete();
    q.from_table(Alias::new(counts_table(table))).and_where(tenant_is(tenant));
    for (name, value) in dimensions(table).iter().zip(values) {
        q.and_where(match value {
            sea_query::Value::String(None) => col(name).is_null(),
            v => col(name).eq(Expr::val(v.clone())),
        });
    }
    q.returning(Query::returning().column(Alias::new("n")));
    q
}
