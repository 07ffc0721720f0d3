//! Issue 7: starting run groups — on demand (`POST …/external/industryData/runs/start`, rate-limited
//! per tenant) and by the scheduler. Write operations over one connection inside the writer's
//! transaction, like [`super::ops`].
//!
//! The scheduler's claim is a compare-and-set on a per-tenant schedule row, in the same transaction
//! that opens the group: `UPDATE run_schedules SET next_due = new WHERE tenant = ? AND next_due = old`.
//! Whichever replica's update changes the row starts that scheduled run; every other replica's
//! update changes nothing and it moves on. The statements are plain SQL, so the same claim works on
//! any SQL store (on PostgreSQL under READ COMMITTED the losing UPDATE re-reads the row after the
//! winner commits and matches nothing).

use runhub_model::{DisplayName, GraphEnum, NewRun, Process, ProcessKind, ReadinessStatus, Run, RunKind, RunStatus, TenantId, Timestamp};
use rusqlite::{Connection, params};

use super::ops::recompute_group;
use super::rows::{PROCESS_COLUMNS, internal, process_from_row, save_run};
use crate::{ScheduledStart, StartOutcome, StartPolicy, StoreResult};

/// The incomingFlows of a tenant that may start now: `ready` and inside their window.
fn startable_flows(conn: &Connection, tenant: &TenantId, now: Timestamp) -> StoreResult<Vec<Process>> {
    let sql = format!(
        "SELECT {} FROM processes WHERE tenant = ?1 AND kind = ?2 AND readiness_status = ?3 ORDER BY display_name, id",
        PROCESS_COLUMNS.join(", ")
    );
    let mut stmt = conn.prepare_cached(&sql).map_err(internal)?;
    let flows = stmt
        .query_map(params![tenant.as_str(), ProcessKind::IncomingFlow.ordinal(), ReadinessStatus::Ready.ordinal()], process_from_row)
        .map_err(internal)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(internal)?;
    // The window rule is the model's own (the same as runNow's).
    Ok(flows.into_iter().filter(|f| f.check_can_run_now(now).is_ok()).collect())
}

/// Opens a running runGroup holding one running incomingFlowRun per startable flow, and records the
/// start. `None` when no flow can start (nothing is written).
fn open_group(conn: &Connection, tenant: &TenantId, name: &str, now: Timestamp, scheduled: bool) -> StoreResult<Option<Run>> {
    let flows = startable_flows(conn, tenant, now)?;
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
    save_run(conn, tenant, &group)?;
    for flow in &flows {
        let run = new(RunKind::IncomingFlowRun, flow.display_name.clone()).into_run(runhub_model::new_id(), Some(flow.id), Some(group.id), now)?;
        save_run(conn, tenant, &run)?;
    }
    recompute_group(conn, tenant, group.id)?;
    conn.execute(
        "INSERT INTO run_starts (tenant, at, group_id, scheduled) VALUES (?1, ?2, ?3, ?4)",
        params![tenant.as_str(), now.micros(), group.id.to_string(), i64::from(scheduled)],
    )
    .map_err(internal)?;
    let group = super::rows::load_run(conn, tenant, group.id)?.ok_or_else(|| internal("the new runGroup vanished"))?;
    Ok(Some(group))
}

/// An on-demand start: refused past `policy.max_starts` successful on-demand starts in the last
/// `policy.window`; a start less than `policy.skip_horizon` before the tenant's next scheduled run
/// makes that scheduled run skip.
pub(crate) fn start_on_demand(conn: &Connection, tenant: &TenantId, now: Timestamp, policy: &StartPolicy) -> StoreResult<StartOutcome> {
    let since = now.micros().saturating_sub(policy.window_micros);
    let (count, oldest): (i64, Option<i64>) = conn
        .query_row(
            "SELECT COUNT(*), MIN(at) FROM run_starts WHERE tenant = ?1 AND scheduled = 0 AND at > ?2",
            params![tenant.as_str(), since],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map_err(internal)?;
    if count >= i64::from(policy.max_starts) {
        let free_at = oldest.unwrap_or(now.micros()).saturating_add(policy.window_micros);
        let wait = free_at.saturating_sub(now.micros()).max(0);
        // Whole seconds, rounded up, at least 1.
        let retry_after_secs = u64::try_from(wait.saturating_add(999_999) / 1_000_000).unwrap_or(1).max(1);
        return Ok(StartOutcome::Throttled { retry_after_secs });
    }
    let Some(group) = open_group(conn, tenant, "On-demand run", now, false)? else { return Ok(StartOutcome::NothingToStart) };
    conn.execute(
        "UPDATE run_schedules SET skip_due = next_due WHERE tenant = ?1 AND next_due > ?2 AND next_due - ?2 < ?3",
        params![tenant.as_str(), now.micros(), policy.skip_horizon_micros],
    )
    .map_err(internal)?;
    Ok(StartOutcome::Started(group))
}

/// One scheduler tick: gives every tenant with an incomingFlow a schedule row (first due one
/// interval from now), then claims each due row by compare-and-set and starts (or skips) its run.
pub(crate) fn claim_scheduled(conn: &Connection, now: Timestamp, interval_micros: i64) -> StoreResult<Vec<ScheduledStart>> {
    let interval = interval_micros.max(1);
    conn.execute(
        "INSERT INTO run_schedules (tenant, next_due, skip_due) \
         SELECT DISTINCT p.tenant, ?1, NULL FROM processes p WHERE p.kind = ?2 \
         AND NOT EXISTS (SELECT 1 FROM run_schedules s WHERE s.tenant = p.tenant)",
        params![now.micros().saturating_add(interval), ProcessKind::IncomingFlow.ordinal()],
    )
    .map_err(internal)?;
    let due: Vec<(String, i64, Option<i64>)> = {
        let mut stmt = conn
            .prepare_cached("SELECT tenant, next_due, skip_due FROM run_schedules WHERE next_due <= ?1 ORDER BY tenant")
            .map_err(internal)?;
        let rows = stmt.query_map(params![now.micros()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).map_err(internal)?;
        rows.collect::<Result<_, _>>().map_err(internal)?
    };
    let mut out = Vec::new();
    for (tenant, old_due, skip_due) in due {
        // The next due time after now, on the same grid (a replica that was down does not catch up
        // with a burst of runs).
        let behind = now.micros().saturating_sub(old_due) / interval + 1;
        let next_due = old_due.saturating_add(behind.saturating_mul(interval));
        let claimed = conn
            .execute(
                "UPDATE run_schedules SET next_due = ?1, skip_due = NULL WHERE tenant = ?2 AND next_due = ?3",
                params![next_due, tenant, old_due],
            )
            .map_err(internal)?;
        if claimed != 1 {
            continue; // another replica claimed it
        }
        let tenant = TenantId::new(tenant);
        let due_at = Timestamp::from_micros(old_due);
        if skip_due == Some(old_due) {
            out.push(ScheduledStart { tenant, due: due_at, group: None, skipped: true });
            continue;
        }
        let name = format!("Scheduled run {}", due_at.to_rfc3339());
        let group = open_group(conn, &tenant, &name, now, true)?;
        out.push(ScheduledStart { tenant, due: due_at, group, skipped: false });
    }
    Ok(out)
}
