//! The statements of the change log ([`crate::changes`]; docs/change-tracking.md).

use runhub_model::{TenantId, Timestamp};
use sea_query::{
    Alias, DeleteStatement, Expr, ExprTrait, Func, InsertStatement, OnConflict, Order, Query, SelectStatement, UpdateStatement,
};

use super::{Sql, col, tenant_is};
use crate::StoreResult;
use crate::changes::{ChangeRange, ChangeType, Collection, Logged};
use crate::dialect::Dialect;
use crate::records::internal;

/// Appends one change to the log.
pub(crate) fn insert_change(tenant: &TenantId, entry: &Logged) -> StoreResult<InsertStatement> {
    let mut q = Query::insert();
    q.into_table(Alias::new("changes"))
        .columns(["tenant", "collection", "id", "kind", "change", "version", "process_id", "moved_from", "group_id", "at"].map(Alias::new))
        .values([
            tenant.as_str().into(),
            entry.kind.collection().ordinal().into(),
            entry.id.to_string().into(),
            entry.kind.ordinal().into(),
            entry.change.ordinal().into(),
            entry.version.into(),
            entry.process_id.map(|p| p.to_string()).into(),
            entry.moved_from.map(|p| p.to_string()).into(),
            entry.group_id.map(|g| g.to_string()).into(),
            Timestamp::now().micros().into(),
        ])
        .map_err(internal)?;
    Ok(q)
}

/// Logs the detaching of every member of a group (each member's version moves by one): one
/// `INSERT … SELECT` over the members.
pub(crate) fn insert_detached_members(tenant: &TenantId, group: runhub_model::Uuid) -> StoreResult<InsertStatement> {
    let mut members = Query::select();
    members
        .expr(Expr::col(Alias::new("tenant")))
        .expr(Expr::val(Collection::Runs.ordinal()))
        .expr(Expr::col(Alias::new("id")))
        .expr(Expr::col(Alias::new("kind")))
        .expr(Expr::val(ChangeType::Updated.ordinal()))
        .expr(Expr::col(Alias::new("version")).add(1))
        .expr(Expr::col(Alias::new("process_id")))
        .expr(Expr::val(Timestamp::now().micros()))
        .from(Alias::new("runs"))
        .and_where(tenant_is(tenant))
        .and_where(Expr::col(Alias::new("group_id")).eq(group.to_string()));
    let mut q = Query::insert();
    q.into_table(Alias::new("changes"))
        .columns(["tenant", "collection", "id", "kind", "change", "version", "process_id", "at"].map(Alias::new))
        .select_from(members)
        .map_err(internal)?;
    Ok(q)
}

/// The column that holds a row's position in this dialect.
fn position_column(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "seq",
        Dialect::Postgres => "xid",
    }
}

/// The readable bound (see [`crate::changes::watermark`]), one number.
pub(crate) fn watermark(dialect: Dialect) -> Sql {
    Sql::text(match dialect {
        // The next sequence number (AUTOINCREMENT never reuses one, even after pruning).
        Dialect::Sqlite => "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'changes'), 0) + 1",
        // Every transaction with a smaller id has ended.
        Dialect::Postgres => "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
    })
}

/// The pruned-up-to position, when anything was ever pruned.
pub(crate) fn horizon() -> SelectStatement {
    let mut q = Query::select();
    q.column(Alias::new("position")).from(Alias::new("change_horizon"));
    q
}

fn position_value(p: u64) -> i64 {
    i64::try_from(p).unwrap_or(i64::MAX)
}

fn in_range(q: &mut SelectStatement, dialect: Dialect, range: &ChangeRange) {
    let pos = position_column(dialect);
    q.and_where(col(pos).gte(position_value(range.from))).and_where(col(pos).lt(position_value(range.to)));
}

/// The columns a [`crate::ChangeRecord`] is read from, in its decoding order.
const RECORD_COLUMNS: [&str; 12] =
    ["seq", "pos", "tenant", "id", "kind", "change", "version", "process_id", "moved_from", "at", "collection", "group_id"];

fn record_select(dialect: Dialect) -> SelectStatement {
    let mut q = Query::select();
    for c in RECORD_COLUMNS {
        if c == "pos" {
            q.expr_as(col(position_column(dialect)), Alias::new("pos"));
        } else {
            q.column(Alias::new(c));
        }
    }
    q.from(Alias::new("changes"));
    q
}

/// The raw log of every tenant in the range, in `seq` order.
pub(crate) fn log(range: &ChangeRange, dialect: Dialect) -> SelectStatement {
    let mut q = record_select(dialect);
    in_range(&mut q, dialect, range);
    if let Some(after) = range.after_seq {
        q.and_where(col("seq").gt(after));
    }
    q.order_by(Alias::new("seq"), Order::Asc).limit(u64::from(range.limit));
    q
}

/// One page of a delta round: the ids of the entities of `collection` changed in the range, by
/// their last change there (one more than the page holds, to tell whether more remain).
pub(crate) fn changed_ids(tenant: &TenantId, collection: Collection, range: &ChangeRange, dialect: Dialect) -> SelectStatement {
    let mut q = Query::select();
    q.column(Alias::new("id"))
        .expr_as(Func::max(col("seq")), Alias::new("last"))
        .from(Alias::new("changes"))
        .and_where(tenant_is(tenant))
        .and_where(col("collection").eq(collection.ordinal()));
    in_range(&mut q, dialect, range);
    // An entity not handed out yet has its last change after `after_seq`, so only rows after it are
    // grouped: a page reads what is left of the round, not the whole round again.
    if let Some(after) = range.after_seq {
        q.and_where(col("seq").gt(after));
    }
    q.group_by_col(Alias::new("id"));
    q.order_by(Alias::new("last"), Order::Asc).limit(u64::from(range.limit) + 1);
    q
}

/// The log rows in the range of these entities of `collection`, in `seq` order.
pub(crate) fn changes_of(
    tenant: &TenantId,
    collection: Collection,
    ids: &[String],
    range: &ChangeRange,
    dialect: Dialect,
) -> SelectStatement {
    let mut q = record_select(dialect);
    q.and_where(tenant_is(tenant)).and_where(col("collection").eq(collection.ordinal())).and_where(col("id").is_in(ids.iter().cloned()));
    in_range(&mut q, dialect, range);
    q.order_by(Alias::new("seq"), Order::Asc);
    q
}

/// Deletes those of the `limit` oldest log rows (by seq, the primary key: no scan) written before
/// `before`, returning their positions.
pub(crate) fn prune(before: Timestamp, limit: u32, dialect: Dialect) -> DeleteStatement {
    let mut oldest = Query::select();
    oldest.column(Alias::new("seq")).from(Alias::new("changes")).order_by(Alias::new("seq"), Order::Asc).limit(u64::from(limit));
    let mut q = Query::delete();
    q.from_table(Alias::new("changes"))
        .and_where(col("seq").in_subquery(oldest))
        .and_where(col("at").lt(before.micros()))
        .returning(Query::returning().expr(col(position_column(dialect))));
    q
}

/// Makes the horizon row (at 0) unless it exists.
pub(crate) fn add_horizon() -> StoreResult<InsertStatement> {
    let mut q = Query::insert();
    q.into_table(Alias::new("change_horizon"))
        .columns([Alias::new("one"), Alias::new("position")])
        .values([1i64.into(), 0i64.into()])
        .map_err(internal)?
        .on_conflict(OnConflict::column(Alias::new("one")).do_nothing().to_owned());
    Ok(q)
}

/// Raises the horizon to `next`; never lowers it.
pub(crate) fn raise_horizon(next: i64) -> UpdateStatement {
    let mut q = Query::update();
    q.table(Alias::new("change_horizon"))
        .value(Alias::new("position"), Expr::val(next))
        .and_where(col("one").eq(1i64))
        .and_where(col("position").lt(next));
    q
}
