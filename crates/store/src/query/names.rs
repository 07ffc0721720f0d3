//! The statements of the run-name index ([`crate::names`]). SQLite only: FTS5 has no sea-query
//! form, and PostgreSQL keeps its trigram index itself.

use std::borrow::Cow;

use sea_query::{Expr, Values};

use super::Sql;

fn sql(text: &'static str, values: Vec<sea_query::Value>) -> Sql {
    Sql { text: Cow::Borrowed(text), values: Values(values) }
}

/// `n` as a bound integer.
fn int(n: u64) -> sea_query::Value {
    i64::try_from(n).unwrap_or(i64::MAX).into()
}

/// The rowids of the runs a substring filter with this needle can match, at most `limit`: those
/// the index holds the needle's trigrams for, those not indexed yet, and those whose entry is
/// stale (a rowid may come twice).
pub(crate) fn candidates(fts_query: &str, limit: u64) -> Sql {
    sql(
        "SELECT rowid FROM run_names WHERE run_names MATCH ?1 \
         UNION ALL SELECT rowid FROM runs WHERE rowid > (SELECT through FROM run_names_indexed) \
         UNION ALL SELECT run FROM run_names_stale LIMIT ?2",
        vec![fts_query.into(), int(limit)],
    )
}

/// The WHERE term that keeps only these rows: `rowids` is a JSON array of them, bound as one
/// value, so that the statement's text (and its prepared form) is the same for any number.
pub(crate) fn rowid_in(rowids: String) -> Expr {
    Expr::cust_with_values("\"rowid\" IN (SELECT value FROM json_each(?))", [rowids])
}

/// Marks a tenant's run (by id) as needing its index entry redone.
pub(crate) fn mark_stale(tenant: &str, id: &str) -> Sql {
    sql("INSERT OR IGNORE INTO run_names_stale (run) SELECT rowid FROM runs WHERE tenant = ?1 AND id = ?2", vec![tenant.into(), id.into()])
}

/// `through`, the highest rowid indexed, and whether any entry is stale.
pub(crate) fn progress() -> Sql {
    sql(
        "SELECT through, COALESCE((SELECT MAX(rowid) FROM runs), 0), EXISTS (SELECT 1 FROM run_names_stale) FROM run_names_indexed",
        Vec::new(),
    )
}

/// Up to `limit` stale rowids, lowest first.
pub(crate) fn stale(limit: u64) -> Sql {
    sql("SELECT run FROM run_names_stale ORDER BY run LIMIT ?1", vec![int(limit)])
}

/// Removes a run's index entry (a no-op when it has none).
pub(crate) fn forget(rowid: i64) -> Sql {
    sql("DELETE FROM run_names WHERE rowid = ?1", vec![rowid.into()])
}

pub(crate) fn unmark(rowid: i64) -> Sql {
    sql("DELETE FROM run_names_stale WHERE run = ?1", vec![rowid.into()])
}

/// The highest rowid among the next `limit` runs past `through` (NULL when there are none), and
/// how many there are.
pub(crate) fn next_range(through: i64, limit: u64) -> Sql {
    sql(
        "SELECT MAX(rowid), COUNT(*) FROM (SELECT rowid FROM runs WHERE rowid > ?1 ORDER BY rowid LIMIT ?2)",
        vec![through.into(), int(limit)],
    )
}

/// Indexes the runs with rowids in `(from, to]`.
pub(crate) fn index_range(from: i64, to: i64) -> Sql {
    sql(
        "INSERT INTO run_names (rowid, display_name) SELECT rowid, display_name FROM runs WHERE rowid > ?1 AND rowid <= ?2",
        vec![from.into(), to.into()],
    )
}

pub(crate) fn set_through(through: i64) -> Sql {
    sql("UPDATE run_names_indexed SET through = ?1", vec![through.into()])
}

/// Empties the index, to be rebuilt from the start (after a copy that may renumber rowids).
pub(crate) const RESET: &str =
    "INSERT INTO run_names (run_names) VALUES ('delete-all'); DELETE FROM run_names_stale; UPDATE run_names_indexed SET through = 0;";
