//! The write operations, as functions over one connection inside the writer's transaction. They load
//! what they change, apply the domain's rules, and save; a returned error rolls the operation back.

use runhub_model::{
    FieldError, GraphEnum, MemberCounts, MemberSummary, NewProcess, NewRun, Process, ProcessKind, ProcessPatch, Run,
    RunKind, RunPatch, RunStatus, TenantId, Timestamp, Uuid,
};
use rusqlite::{Connection, params};

use super::rows::{internal, load_process, load_run, save_process, save_run};
use crate::{Precondition, ProcessRef, RunParent, RunScope, StoreError, StoreResult, etag};

pub(crate) const BIND: &str = "process@odata.bind";

fn not_found(what: &str, id: Uuid) -> StoreError {
    StoreError::NotFound(format!("no {what} with id '{id}'"))
}

fn check(pre: &Option<Precondition>, version: i64) -> StoreResult<()> {
    match pre {
        Some(p) if !p.holds(version) => Err(StoreError::PreconditionFailed { current: etag(version) }),
        _ => Ok(()),
    }
}

/// Whether a run belongs to the collection a URL addresses it through.
pub(crate) fn in_scope(run: &Run, scope: &RunScope) -> bool {
    if scope.kind.is_some_and(|k| k != run.kind) {
        return false;
    }
    match scope.parent {
        RunParent::All => true,
        RunParent::Process(kind, id) => run.process_id == Some(id) && run.kind == RunKind::for_process(kind),
        RunParent::Group(id) => run.group_id == Some(id),
    }
}

pub(crate) fn load_process_of_kind(conn: &Connection, tenant: &TenantId, kind: ProcessKind, id: Uuid) -> StoreResult<Process> {
    load_process(conn, tenant, id)?.filter(|p| p.kind == kind).ok_or_else(|| not_found(kind.type_name(), id))
}

pub(crate) fn load_group(conn: &Connection, tenant: &TenantId, id: Uuid) -> StoreResult<Run> {
    load_run(conn, tenant, id)?.filter(|r| r.kind == RunKind::RunGroup).ok_or_else(|| not_found("runGroup", id))
}

pub(crate) fn load_scoped_run(conn: &Connection, tenant: &TenantId, scope: &RunScope, id: Uuid) -> StoreResult<Run> {
    load_run(conn, tenant, id)?.filter(|r| in_scope(r, scope)).ok_or_else(|| not_found("run in this collection", id))
}

/// Fails with 404 when the collection's parent (a flow or a group) does not exist.
pub(crate) fn check_parent(conn: &Connection, tenant: &TenantId, parent: &RunParent) -> StoreResult<()> {
    match *parent {
        RunParent::All => Ok(()),
        RunParent::Process(kind, id) => load_process_of_kind(conn, tenant, kind, id).map(|_| ()),
        RunParent::Group(id) => load_group(conn, tenant, id).map(|_| ()),
    }
}

/// Resolves a bound process: it must exist and fit the run's kind, else 400 (SPEC §2–3).
fn bound_process(conn: &Connection, tenant: &TenantId, kind: RunKind, target: &str, process: ProcessRef) -> StoreResult<Uuid> {
    let Some(found) = load_process(conn, tenant, process.id)?.filter(|p| p.kind == process.kind) else {
        return Err(FieldError::invalid(
            target,
            "bindingTargetNotFound",
            format!("'{target}' refers to {} '{}', which does not exist", process.kind.type_name(), process.id),
        )
        .into());
    };
    match kind.process_kind() {
        Some(expected) if expected == found.kind => Ok(found.id),
        Some(expected) => Err(FieldError::invalid(
            target,
            "invalidBinding",
            format!("an {} must be caused by an {}, but '{target}' refers to an {}", kind.type_name(), expected.type_name(), found.kind.type_name()),
        )
        .into()),
        None => Err(FieldError::invalid(target, "invalidBinding", "a runGroup has no process").into()),
    }
}

pub(crate) fn create_process(conn: &Connection, tenant: &TenantId, new: NewProcess) -> StoreResult<Process> {
    let process = new.into_process(runhub_model::new_id())?;
    save_process(conn, tenant, &process)?;
    Ok(process)
}

pub(crate) fn update_process(
    conn: &Connection, tenant: &TenantId, kind: ProcessKind, id: Uuid, patch: ProcessPatch, pre: Option<Precondition>,
) -> StoreResult<Process> {
    let current = load_process_of_kind(conn, tenant, kind, id)?;
    check(&pre, current.version)?;
    let next = current.apply(patch)?;
    save_process(conn, tenant, &next)?;
    Ok(next)
}

pub(crate) fn delete_process(conn: &Connection, tenant: &TenantId, kind: ProcessKind, id: Uuid, pre: Option<Precondition>) -> StoreResult<()> {
    let current = load_process_of_kind(conn, tenant, kind, id)?;
    check(&pre, current.version)?;
    let runs: i64 = conn
        .query_row("SELECT COUNT(*) FROM runs WHERE tenant = ?1 AND process_id = ?2", params![tenant.as_str(), id.to_string()], |r| r.get(0))
        .map_err(internal)?;
    if runs > 0 {
        return Err(FieldError::conflict(
            "runs",
            "processHasRuns",
            format!("the {} still has {runs} run(s); delete them first so that no history is lost by accident", kind.type_name()),
        )
        .into());
    }
    conn.execute("DELETE FROM processes WHERE tenant = ?1 AND id = ?2", params![tenant.as_str(), id.to_string()]).map_err(internal)?;
    Ok(())
}

pub(crate) fn create_run(conn: &Connection, tenant: &TenantId, scope: &RunScope, new: NewRun, process: Option<ProcessRef>) -> StoreResult<Run> {
    let kind = new.kind;
    let (process_id, group_id) = match scope.parent {
        RunParent::Process(pkind, pid) => {
            load_process_of_kind(conn, tenant, pkind, pid)?;
            if let Some(p) = process.filter(|p| p.id != pid) {
                return Err(FieldError::invalid(
                    BIND,
                    "invalidBinding",
                    format!("this run is created under {} '{pid}'; '{BIND}' names '{}'", pkind.type_name(), p.id),
                )
                .into());
            }
            (Some(pid), None)
        }
        RunParent::Group(gid) => {
            load_group(conn, tenant, gid)?;
            if kind == RunKind::RunGroup {
                return Err(FieldError::invalid("@odata.type", "invalidType", "a runGroup cannot be a member of another runGroup").into());
            }
            (None, Some(gid))
        }
        RunParent::All => (None, None),
    };
    let process_id = match (process_id, process) {
        (Some(id), _) => Some(id),
        (None, Some(p)) => Some(bound_process(conn, tenant, kind, BIND, p)?),
        (None, None) if kind.process_kind().is_some() => {
            return Err(FieldError::invalid(
                BIND,
                "missingProperty",
                format!("a {} needs '{BIND}': the URL of the process that caused it", kind.type_name()),
            )
            .into());
        }
        (None, None) => None,
    };
    let run = new.into_run(runhub_model::new_id(), process_id, group_id, Timestamp::now())?;
    save_run(conn, tenant, &run)?;
    if let Some(gid) = group_id {
        recompute_group(conn, tenant, gid)?;
    }
    Ok(run)
}

pub(crate) fn update_run(
    conn: &Connection, tenant: &TenantId, scope: &RunScope, id: Uuid, patch: RunPatch, pre: Option<Precondition>,
) -> StoreResult<Run> {
    let current = load_scoped_run(conn, tenant, scope, id)?;
    check(&pre, current.version)?;
    let next = current.apply(patch, Timestamp::now())?;
    save_run(conn, tenant, &next)?;
    if let Some(gid) = next.group_id {
        recompute_group(conn, tenant, gid)?;
    }
    Ok(next)
}

pub(crate) fn delete_run(conn: &Connection, tenant: &TenantId, scope: &RunScope, id: Uuid, pre: Option<Precondition>) -> StoreResult<()> {
    let current = load_scoped_run(conn, tenant, scope, id)?;
    check(&pre, current.version)?;
    if current.kind == RunKind::RunGroup {
        // Deleting a group keeps its members (SPEC §3); they simply belong to no group now.
        conn.execute(
            "UPDATE runs SET group_id = NULL, version = version + 1 WHERE tenant = ?1 AND group_id = ?2",
            params![tenant.as_str(), id.to_string()],
        )
        .map_err(internal)?;
    }
    conn.execute("DELETE FROM runs WHERE tenant = ?1 AND id = ?2", params![tenant.as_str(), id.to_string()]).map_err(internal)?;
    if let Some(gid) = current.group_id {
        recompute_group(conn, tenant, gid)?;
    }
    Ok(())
}

pub(crate) fn set_run_process(conn: &Connection, tenant: &TenantId, scope: &RunScope, id: Uuid, process: ProcessRef) -> StoreResult<Run> {
    let mut run = load_scoped_run(conn, tenant, scope, id)?;
    if run.kind == RunKind::RunGroup {
        return Err(FieldError::invalid("@odata.id", "invalidBinding", "a runGroup has no process to re-point").into());
    }
    run.process_id = Some(bound_process(conn, tenant, run.kind, "@odata.id", process)?);
    run.version += 1;
    save_run(conn, tenant, &run)?;
    Ok(run)
}

pub(crate) fn add_group_member(conn: &Connection, tenant: &TenantId, group: Uuid, member: Uuid) -> StoreResult<()> {
    load_group(conn, tenant, group)?;
    let Some(mut run) = load_run(conn, tenant, member)? else {
        return Err(FieldError::invalid("@odata.id", "bindingTargetNotFound", format!("'@odata.id' refers to run '{member}', which does not exist")).into());
    };
    if run.kind == RunKind::RunGroup {
        return Err(FieldError::invalid("@odata.id", "invalidBinding", "a runGroup cannot be a member of another runGroup").into());
    }
    match run.group_id {
        Some(g) if g == group => return Ok(()),
        Some(g) => {
            return Err(FieldError::conflict(
                "@odata.id",
                "runAlreadyInGroup",
                format!("run '{member}' already belongs to runGroup '{g}'; a run belongs to at most one group"),
            )
            .into());
        }
        None => {}
    }
    run.group_id = Some(group);
    run.version += 1;
    save_run(conn, tenant, &run)?;
    recompute_group(conn, tenant, group)
}

pub(crate) fn remove_group_member(conn: &Connection, tenant: &TenantId, group: Uuid, member: Uuid) -> StoreResult<()> {
    load_group(conn, tenant, group)?;
    let mut run = load_scoped_run(conn, tenant, &RunScope { parent: RunParent::Group(group), kind: None }, member)?;
    run.group_id = None;
    run.version += 1;
    save_run(conn, tenant, &run)?;
    recompute_group(conn, tenant, group)
}

pub(crate) fn run_now(conn: &Connection, tenant: &TenantId, flow: Uuid) -> StoreResult<Run> {
    let process = load_process_of_kind(conn, tenant, ProcessKind::IncomingFlow, flow)?;
    let now = Timestamp::now();
    process.check_can_run_now(now)?;
    let new = NewRun {
        kind: RunKind::IncomingFlowRun,
        display_name: process.display_name.clone(),
        start: Some(now),
        end: None,
        status: Some(RunStatus::Running),
        blocking_error: None,
        statistics: None,
    };
    let run = new.into_run(runhub_model::new_id(), Some(process.id), None, now)?;
    save_run(conn, tenant, &run)?;
    Ok(run)
}

/// Re-derives a group's status, times and member counts from its members, in the same transaction
/// as the change that affected them.
pub(crate) fn recompute_group(conn: &Connection, tenant: &TenantId, group: Uuid) -> StoreResult<()> {
    let Some(mut run) = load_run(conn, tenant, group)? else { return Ok(()) };
    let mut summary = MemberSummary { counts: MemberCounts::default(), earliest_start: None, latest_end: None };
    let mut stmt = conn
        .prepare_cached(
            "SELECT status, COUNT(*), MIN(start_time), MAX(end_time) FROM runs \
             WHERE tenant = ?1 AND group_id = ?2 GROUP BY status",
        )
        .map_err(internal)?;
    let rows = stmt
        .query_map(params![tenant.as_str(), group.to_string()], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, Option<i64>>(3)?))
        })
        .map_err(internal)?;
    for row in rows {
        let (status, n, min_start, max_end) = row.map_err(internal)?;
        let status = RunStatus::from_ordinal(status).ok_or_else(|| internal("bad status"))?;
        summary.counts.add(status, n);
        let start = Timestamp::from_micros(min_start);
        summary.earliest_start = Some(summary.earliest_start.map_or(start, |s| s.min(start)));
        if let Some(end) = max_end.map(Timestamp::from_micros) {
            summary.latest_end = Some(summary.latest_end.map_or(end, |e| e.max(end)));
        }
    }
    run.derive_group(summary);
    run.version += 1;
    save_run(conn, tenant, &run)
}
