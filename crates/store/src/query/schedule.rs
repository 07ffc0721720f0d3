//! The statements of starting run groups, on demand and by the scheduler ([`crate::schedule`]).

use runhub_model::{GraphEnum, ProcessKind, ReadinessStatus, TenantId, Timestamp, Uuid};
use sea_query::{Alias, Expr, ExprTrait, InsertStatement, OnConflict, Query, SelectStatement, UpdateStatement};

use super::{col, tenant_is};
use crate::StoreResult;
use crate::columns::kind_in;
use crate::records::{PROCESS_COLUMNS, internal};

/// A tenant's `ready` incomingFlows, by name then id (the window rule is applied after).
pub(crate) fn ready_incoming_flows(tenant: &TenantId) -> SelectStatement {
    let mut q = Query::select();
    q.columns(PROCESS_COLUMNS.iter().map(|c| Alias::new(*c)))
        .from(Alias::new("processes"))
        .and_where(tenant_is(tenant))
        .and_where(kind_in(&[ProcessKind::IncomingFlow.ordinal()]))
        .and_where(col("readiness_status").eq(ReadinessStatus::Ready.ordinal()))
        .order_by(Alias::new("display_name"), sea_query::Order::Asc)
        .order_by(Alias::new("id"), sea_query::Order::Asc);
    q
}

/// Records a start of a group (on demand or scheduled).
pub(crate) fn insert_start(tenant: &TenantId, at: Timestamp, group: Uuid, scheduled: bool) -> StoreResult<InsertStatement> {
    let mut q = Query::insert();
    q.into_table(Alias::new("run_starts"))
        .columns([Alias::new("tenant"), Alias::new("at"), Alias::new("group_id"), Alias::new("scheduled")])
        .values([tenant.as_str().into(), at.micros().into(), group.to_string().into(), i64::from(scheduled).into()])
        .map_err(internal)?;
    Ok(q)
}

/// A tenant's on-demand starts after `since` (microseconds): `COUNT(*), MIN(at)`.
pub(crate) fn on_demand_starts_since(tenant: &TenantId, since: i64) -> SelectStatement {
    let mut q = Query::select();
    q.expr(Expr::cust("COUNT(*)"))
        .expr(Expr::cust("MIN(at)"))
        .from(Alias::new("run_starts"))
        .and_where(tenant_is(tenant))
        .and_where(col("scheduled").eq(0i64))
        .and_where(col("at").gt(since));
    q
}

/// Marks the tenant's next scheduled run to be skipped when it is due less than `horizon`
/// (microseconds) after `now`.
pub(crate) fn skip_next_scheduled(tenant: &TenantId, now: Timestamp, horizon: i64) -> UpdateStatement {
    let mut q = Query::update();
    q.table(Alias::new("run_schedules"))
        .value(Alias::new("skip_due"), col("next_due"))
        .and_where(tenant_is(tenant))
        .and_where(col("next_due").gt(now.micros()))
        .and_where(col("next_due").sub(now.micros()).lt(horizon));
    q
}

/// Gives every tenant with an incomingFlow a schedule row, first due at `first_due`.
pub(crate) fn add_schedules(first_due: i64) -> StoreResult<InsertStatement> {
    let mut tenants = Query::select();
    tenants
        .distinct()
        .column(Alias::new("tenant"))
        .expr(Expr::val(first_due))
        .from(Alias::new("processes"))
        .and_where(kind_in(&[ProcessKind::IncomingFlow.ordinal()]));
    let mut q = Query::insert();
    q.into_table(Alias::new("run_schedules"))
        .columns([Alias::new("tenant"), Alias::new("next_due")])
        .select_from(tenants)
        .map_err(internal)?
        // Replicas ticking at once may both insert a tenant's first row: the first one stands.
        .on_conflict(OnConflict::column(Alias::new("tenant")).do_nothing().to_owned());
    Ok(q)
}

/// The schedule rows due at `now`: `tenant, next_due, skip_due`.
pub(crate) fn due_schedules(now: Timestamp) -> SelectStatement {
    let mut q = Query::select();
    q.columns([Alias::new("tenant"), Alias::new("next_due"), Alias::new("skip_due")])
        .from(Alias::new("run_schedules"))
        .and_where(col("next_due").lte(now.micros()))
        .order_by(Alias::new("tenant"), sea_query::Order::Asc);
    q
}

/// The claim's compare-and-set: moves the tenant's schedule from `old_due` to `next_due`, returning
/// a row only when it was still at `old_due`.
pub(crate) fn claim_schedule(tenant: &TenantId, old_due: i64, next_due: i64) -> UpdateStatement {
    let mut q = Query::update();
    q.table(Alias::new("run_schedules"))
        .value(Alias::new("next_due"), Expr::val(next_due))
        .value(Alias::new("skip_due"), Expr::null())
        .and_where(tenant_is(tenant))
        .and_where(col("next_due").eq(old_due))
        .returning_col(Alias::new("next_due"));
    q
}
