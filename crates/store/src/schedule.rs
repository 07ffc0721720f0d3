//! Starting run groups — on demand (`POST …/external/industryData/runs/start`, rate-limited
//! per tenant) and by the scheduler. Written once over [`Tx`], like [`crate::ops`], so both stores
//! run the same statements.
//!
//! The scheduler's claim is a compare-and-set on a per-tenant schedule row, in the same transaction
//! that opens the group: `UPDATE run_schedules SET next_due = new WHERE tenant = ? AND next_due = old
//! RETURNING …`. Whichever replica's update changes the row starts that scheduled run; every other
//! replica's update changes nothing and it moves on (on PostgreSQL under READ COMMITTED the losing
//! UPDATE waits for the winner's commit, re-reads the row and matches nothing).

use runhub_model::{DisplayName, NewRun, Process, Run, RunKind, RunStatus, TenantId, Timestamp};

use crate::ops;
use crate::query::{Lock, schedule as statements};
use crate::records::internal;
use crate::tx::Tx;
use crate::{ScheduledStart, StartOutcome, StartPolicy, StoreResult};

/// The incomingFlows of a tenant that may start now: `ready` and inside their window.
async fn startable_flows<T: Tx>(tx: &mut T, tenant: &TenantId, now: Timestamp) -> StoreResult<Vec<Process>> {
    let flows: Vec<Process> = tx.fetch(statements::ready_incoming_flows(tenant)).await?;
    // The window rule is the model's own (the same as runNow's).
    Ok(flows.into_iter().filter(|f| f.check_can_run_now(now).is_ok()).collect())
}

/// Opens a running runGroup holding one running incomingFlowRun per startable flow, and records the
/// start. `None` when no flow can start (nothing is written).
async fn open_group<T: Tx>(tx: &mut T, tenant: &TenantId, name: &str, now: Timestamp, scheduled: bool) -> StoreResult<Option<Run>> {
    let flows = startable_flows(tx, tenant, now).await?;
    if flows.is_empty() {
        return Ok(None);
    }
    let new = |kind, display_name: DisplayName| NewRun {
        kind,
        display_name,
        start: Some(now),
        end: None,
        status: Some(RunStatus::Running),
        blocking_error: None,
        statistics: None,
    };
    let group_name = DisplayName::parse("displayName", name)?;
    let group = new(RunKind::RunGroup, group_name).into_run(runhub_model::new_id(), None, None, now)?;
    let mut runs = vec![group.clone()];
    for flow in &flows {
        runs.push(new(RunKind::IncomingFlowRun, flow.display_name.clone()).into_run(
            runhub_model::new_id(),
            Some(flow.id),
            Some(group.id),
            now,
        )?);
    }
    ops::import(tx, tenant, &[], &runs).await?;
    ops::recompute_group(tx, tenant, group.id).await?;
    tx.execute(statements::insert_start(tenant, now, group.id, scheduled)?).await?;
    let group = ops::load_group(tx, tenant, group.id, Lock::No).await?;
    Ok(Some(group))
}

/// An on-demand start: refused past `policy.max_starts` successful on-demand starts in the last
/// `policy.window`; a start less than `policy.skip_horizon` before the tenant's next scheduled run
/// makes that scheduled run skip.
pub(crate) async fn start_on_demand<T: Tx>(
    tx: &mut T,
    tenant: &TenantId,
    now: Timestamp,
    policy: &StartPolicy,
) -> StoreResult<StartOutcome> {
    // Two replicas counting at once must not both see room for one more start: the tenant's
    // on-demand starts take turns (a lock named after the tenant, held to the commit).
    tx.lock_name(&format!("runhub.start.{}", tenant.as_str())).await?;
    let since = now.micros().saturating_sub(policy.window_micros);
    let (count, oldest): (Option<i64>, Option<i64>) =
        tx.fetch_first(statements::on_demand_starts_since(tenant, since)).await?.ok_or_else(|| internal("COUNT(*) returned no row"))?;
    let count = count.unwrap_or(0);
    if count >= i64::from(policy.max_starts) {
        let free_at = oldest.unwrap_or(now.micros()).saturating_add(policy.window_micros);
        let wait = Ord::max(free_at.saturating_sub(now.micros()), 0);
        // Whole seconds, rounded up, at least 1.
        let retry_after_secs = Ord::max(u64::try_from(wait.saturating_add(999_999) / 1_000_000).unwrap_or(1), 1);
        return Ok(StartOutcome::Throttled { retry_after_secs });
    }
    let Some(group) = open_group(tx, tenant, "On-demand run", now, false).await? else { return Ok(StartOutcome::NothingToStart) };
    tx.execute(statements::skip_next_scheduled(tenant, now, policy.skip_horizon_micros)).await?;
    Ok(StartOutcome::Started(Box::new(group)))
}

/// One scheduler tick: gives every tenant with an incomingFlow a schedule row (first due one
/// interval from now), then claims each due row by compare-and-set and starts (or skips) its run.
pub(crate) async fn claim_scheduled<T: Tx>(tx: &mut T, now: Timestamp, interval_micros: i64) -> StoreResult<Vec<ScheduledStart>> {
    let interval = Ord::max(interval_micros, 1);
    tx.execute(statements::add_schedules(now.micros().saturating_add(interval))?).await?;
    let rows: Vec<(String, i64, Option<i64>)> = tx.fetch(statements::due_schedules(now)).await?;
    let mut out = Vec::new();
    for (tenant, old_due, skip_due) in rows {
        // The next due time after now, on the same grid (a replica that was down does not catch up
        // with a burst of runs).
        let behind = now.micros().saturating_sub(old_due) / interval + 1;
        let next_due = old_due.saturating_add(behind.saturating_mul(interval));
        let tenant = TenantId::from_stored(tenant);
        if tx.fetch::<i64>(statements::claim_schedule(&tenant, old_due, next_due)).await?.len() != 1 {
            continue; // another replica claimed it
        }
        let due_at = Timestamp::from_micros(old_due);
        if skip_due == Some(old_due) {
            out.push(ScheduledStart { tenant, due: due_at, group: None, skipped: true });
            continue;
        }
        let name = format!("Scheduled run {}", due_at.to_rfc3339());
        let group = open_group(tx, &tenant, &name, now, true).await?;
        out.push(ScheduledStart { tenant, due: due_at, group, skipped: false });
    }
    Ok(out)
}
