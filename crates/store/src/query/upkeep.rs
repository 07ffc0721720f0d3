//! The statements of background upkeep ([`crate::upkeep`]): picking the batches of the stale-run
//! reaper and of retention.

use runhub_model::{GraphEnum, RunKind, RunStatus};
use sea_query::{Alias, Expr, ExprTrait, LockBehavior, LockType, Query, SelectStatement};

use super::col;
use crate::columns::kind_in;
use crate::dialect::Dialect;

/// `FOR UPDATE SKIP LOCKED` where the dialect has row locks: replicas claim disjoint rows.
fn claim(q: &mut SelectStatement, dialect: Dialect) {
    if dialect == Dialect::Postgres {
        q.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
}

/// Up to `limit` running flow runs with no activity since `cutoff` (microseconds), the longest
/// idle first: `tenant, id, last_activity`.
pub(crate) fn stale_runs(cutoff: i64, limit: u32, dialect: Dialect) -> SelectStatement {
    let mut q = Query::select();
    q.columns([Alias::new("tenant"), Alias::new("id"), Alias::new("last_activity")])
        .from(Alias::new("runs"))
        // A literal (our own enum's ordinal), so that the planner can use the partial index.
        .and_where(Expr::cust(format!("\"status\" = {}", RunStatus::Running.ordinal())))
        .and_where(kind_in(&[RunKind::IncomingFlowRun.ordinal(), RunKind::OutgoingFlowRun.ordinal()]))
        .and_where(col("last_activity").lt(cutoff))
        .order_by(Alias::new("last_activity"), sea_query::Order::Asc)
        .limit(u64::from(limit));
    claim(&mut q, dialect);
    q
}

/// Up to `limit` runs of `kinds` that ended before `cutoff` (microseconds): `tenant, id, end_time`.
pub(crate) fn ended_runs(kinds: &[RunKind], cutoff: i64, limit: u64, dialect: Dialect) -> SelectStatement {
    let mut q = Query::select();
    q.columns([Alias::new("tenant"), Alias::new("id"), Alias::new("end_time")])
        .from(Alias::new("runs"))
        .and_where(kind_in(&kinds.iter().map(|k| k.ordinal()).collect::<Vec<_>>()))
        .and_where(col("end_time").is_not_null())
        .and_where(col("end_time").lt(cutoff))
        .limit(limit);
    claim(&mut q, dialect);
    q
}
