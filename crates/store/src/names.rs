//! The run-name index: substring filters on runs' `displayName` (`contains`, `startswith`,
//! `endswith`) answered from an index instead of by reading every run (docs/architecture.md,
//! "Substring search").
//!
//! PostgreSQL keeps a `pg_trgm` index itself. On SQLite the index is an FTS5 table with the trigram
//! tokenizer, and it is kept **off the write path**: a create writes nothing to it. A background
//! task ([`index`]) brings it up to date after writes commit, in short batches. So that a reader
//! never misses a run the index has not caught up with, the index says how far it got:
//!
//! - every run whose rowid is at most `run_names_indexed.through` is in `run_names` under its
//!   current name, unless its rowid is in `run_names_stale`;
//! - a write that renames, overwrites or deletes a run marks its rowid stale in the same
//!   transaction ([`mark_stale`]) — which also covers SQLite giving a deleted run's rowid to a new
//!   run;
//! - `run_names` holds nothing past `through`.
//!
//! The runs a substring filter can match are then those the index holds the needle's trigrams
//! for, those past `through` and the stale ones (`query::names::candidates`); the filter itself
//! is still applied to each, so results are exactly a scan's. A listing is driven from those
//! candidates only when there are few of them ([`driver`]); a common needle is found quickly by
//! walking the runs in page order, as before.

use runhub_model::{TenantId, Uuid};
use runhub_odata::ast::{Filter, Operand, Value};
use sea_query::Expr;

use crate::StoreResult;
use crate::dialect::Dialect;
use crate::query::names as statements;
use crate::tx::Tx;

/// Beyond this many candidates a listing walks the runs in page order instead: fetching each
/// candidate costs a few microseconds, and a needle this common fills a page quickly anyway.
const MOST_CANDIDATES: u64 = 5_000;

/// The trigram tokenizer indexes every run of three characters; a shorter needle has none.
const SHORTEST_NEEDLE: usize = 3;

/// The needles of the substring filters on `displayName` that every match must pass (the filter's
/// top-level `and` terms), that the index can serve.
fn needles(filter: &Filter) -> Vec<&str> {
    let mut out = Vec::new();
    let mut stack = vec![filter];
    while let Some(f) = stack.pop() {
        match f {
            Filter::And(a, b) => stack.extend([a.as_ref(), b.as_ref()]),
            Filter::StringMatch {
                haystack: Operand::Property { path: "displayName", .. },
                needle: Operand::Literal(Value::String(s)),
                ..
            } if s.chars().count() >= SHORTEST_NEEDLE && !s.contains('\0') => out.push(s.as_str()),
            _ => {}
        }
    }
    out
}

/// The needle as an FTS5 phrase: every run of three characters in it, in order.
fn phrase(needle: &str) -> String {
    format!("\"{}\"", needle.replace('"', "\"\""))
}

/// The term that restricts a run listing (or count) to the index's candidates, when its filter has
/// a substring term the index serves and that term's candidates are few; `None` otherwise. The
/// candidates are read here, once, and handed to the listing by rowid: the index lookup is most
/// of the cost of a rare needle, and the listing runs in the same read transaction.
pub(crate) async fn driver<T: Tx>(tx: &mut T, filter: Option<&Filter>) -> StoreResult<Option<Expr>> {
    let Some(filter) = filter.filter(|_| T::DIALECT == Dialect::Sqlite) else { return Ok(None) };
    let mut best: Option<Vec<i64>> = None;
    for needle in needles(filter) {
        let rowids: Vec<i64> = tx.fetch(statements::candidates(&phrase(needle), MOST_CANDIDATES + 1)).await?;
        if rowids.len() as u64 <= MOST_CANDIDATES && best.as_ref().is_none_or(|b| rowids.len() < b.len()) {
            best = Some(rowids);
        }
    }
    // Were the list not to serialize, the listing would read in page order instead.
    Ok(best.and_then(|rowids| serde_json::to_string(&rowids).ok()).map(statements::rowid_in))
}

/// Marks runs whose index entry a write is about to make wrong (renamed, overwritten, deleted).
pub(crate) async fn mark_stale<T: Tx>(tx: &mut T, tenant: &TenantId, ids: &[Uuid]) -> StoreResult<()> {
    if T::DIALECT != Dialect::Sqlite {
        return Ok(());
    }
    for id in ids {
        tx.execute(statements::mark_stale(tenant.as_str(), &id.to_string())).await?;
    }
    Ok(())
}

/// Whether the index has anything to catch up on.
pub(crate) async fn behind<T: Tx>(tx: &mut T) -> StoreResult<bool> {
    if T::DIALECT != Dialect::Sqlite {
        return Ok(false);
    }
    let rows: Vec<(i64, i64, i64)> = tx.fetch(statements::progress()).await?;
    Ok(rows.first().is_some_and(|(through, max, stale)| *stale != 0 || max != through))
}

/// One batch of catching up, in the caller's transaction: redoes up to `limit` stale entries, then
/// indexes up to `limit` runs past `through`. How many runs it handled: less than `limit` when it
/// has caught up.
pub(crate) async fn index<T: Tx>(tx: &mut T, limit: u32) -> StoreResult<usize> {
    if T::DIALECT != Dialect::Sqlite {
        return Ok(0);
    }
    let limit = u64::from(limit);
    let Some((through, max, _)) = tx.fetch::<(i64, i64, i64)>(statements::progress()).await?.into_iter().next() else {
        return Ok(0);
    };
    let stale: Vec<i64> = tx.fetch(statements::stale(limit)).await?;
    for &rowid in &stale {
        tx.execute(statements::forget(rowid)).await?;
        // A run past `through` is indexed when the indexed range reaches it.
        if rowid <= through {
            tx.execute(statements::index_range(rowid - 1, rowid)).await?;
        }
        tx.execute(statements::unmark(rowid)).await?;
    }
    let mut handled = stale.len();
    let next: Vec<(Option<i64>, i64)> = tx.fetch(statements::next_range(through, limit)).await?;
    match next.first().and_then(|&(end, n)| end.map(|end| (end, n))) {
        Some((end, n)) => {
            tx.execute(statements::index_range(through, end)).await?;
            tx.execute(statements::set_through(end)).await?;
            handled += usize::try_from(n).unwrap_or(0);
        }
        // Nothing past `through`. When the runs at the top were deleted, `through` comes down to
        // the highest stored rowid, so that a new run given one of their rowids counts as not yet
        // indexed — only once every stale entry is redone, since until then a reused rowid is
        // still a candidate through its stale mark.
        None if max < through && stale.len() < limit as usize => tx.execute(statements::set_through(max)).await?,
        None => {}
    }
    Ok(handled)
}
