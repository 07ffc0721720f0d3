//! Every store operation, written once for every backend, over a small [`Tx`]: the backend only
//! executes statements and hands back rows of cells. The write operations load what they change (with
//! the row locks a multi-writer engine needs), apply the domain's rules from `runhub-model`, and
//! save; a returned error rolls the operation back.
//!
//! SQLite drives these futures with `futures_executor::block_on` on its writer thread or a pooled
//! reader (its `Tx` never awaits anything, so they complete at once); PostgreSQL awaits them inside
//! a transaction. How each runs is the [`crate::backend::Backend`]'s business.
//!
//! Lock order, so that concurrent writers through different replicas do not deadlock: a member run
//! before its group; a process (shared) before the run created under it. Deleting a group locks it
//! before detaching its members — the one reversed order; PostgreSQL detects that rare deadlock
//! and the PostgreSQL store retries the operation.

use runhub_model::Code;
use runhub_model::{
    FieldError, GraphEnum, MemberCounts, MemberSummary, NewProcess, NewRun, Process, ProcessKind, ProcessPatch, Run, RunKind, RunPatch,
    RunStatus, TenantId, Timestamp, Uuid,
};
use runhub_odata::ast::Filter;
use sea_query::SelectStatement;

use crate::changes::{self, ChangeType};
use crate::columns::Table;
use crate::dialect::Dialect;
use crate::query::{self, Access, Lock, PageStatements};
use crate::records::internal;
use crate::tx::Tx;
use crate::{ListQuery, Page, Precondition, ProcessRef, RunParent, RunScope, StoreError, StoreResult, etag};
use crate::{counts, names};

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
    if scope.kind.is_some_and(|k| k != run.kind()) {
        return false;
    }
    match scope.parent {
        RunParent::All => true,
        RunParent::Process(kind, id) => run.process_id() == Some(id) && run.kind() == RunKind::for_process(kind),
        RunParent::Group(id) => run.group_id() == Some(id),
    }
}

async fn load_run<T: Tx>(tx: &mut T, tenant: &TenantId, id: Uuid, lock: Lock) -> StoreResult<Option<Run>> {
    tx.fetch_first(query::load_run(tenant, id, lock, T::DIALECT)).await
}

async fn load_process<T: Tx>(tx: &mut T, tenant: &TenantId, id: Uuid, lock: Lock) -> StoreResult<Option<Process>> {
    tx.fetch_first(query::load_process(tenant, id, lock, T::DIALECT)).await
}

// Every write of a run or process row goes through these helpers, and each appends its change to
// the change log and its delta to the stored counts in the same transaction (crate::changes,
// crate::counts).

async fn insert_run<T: Tx>(tx: &mut T, tenant: &TenantId, run: &Run) -> StoreResult<()> {
    tx.execute(query::insert_run(tenant, run)?).await?;
    counts::run_changed(tx, tenant, None, Some(run)).await?;
    changes::record_run(tx, tenant, run, ChangeType::Created, None).await
}

/// Writes what changed between two versions of a run.
async fn update_run_row<T: Tx>(tx: &mut T, tenant: &TenantId, before: &Run, after: &Run) -> StoreResult<()> {
    write_run_update(tx, tenant, before, after, None).await
}

/// Writes what changed between two versions of a run and logs it as a change. With `activity` (a
/// PATCH of a running run) `last_activity` is stamped too, even when nothing else changed — which
/// alone is no change of the entity, so nothing is logged then.
async fn write_run_update<T: Tx>(tx: &mut T, tenant: &TenantId, before: &Run, after: &Run, activity: Option<i64>) -> StoreResult<()> {
    let (stmt, is_change) = query::update_run(tenant, before, after, activity);
    if let Some(stmt) = stmt {
        tx.execute(stmt).await?;
    }
    if before.display_name != after.display_name {
        names::mark_stale(tx, tenant, &[after.id]).await?;
    }
    if is_change {
        counts::run_changed(tx, tenant, Some(before), Some(after)).await?;
        let moved_from = if before.process_id() != after.process_id() { before.process_id() } else { None };
        changes::record_run(tx, tenant, after, ChangeType::Updated, moved_from).await?;
    }
    Ok(())
}

async fn delete_run_row<T: Tx>(tx: &mut T, tenant: &TenantId, run: &Run) -> StoreResult<()> {
    names::mark_stale(tx, tenant, &[run.id]).await?;
    tx.execute(query::delete_row(Table::Runs, tenant, run.id)).await?;
    counts::run_changed(tx, tenant, Some(run), None).await?;
    changes::record_run(tx, tenant, run, ChangeType::Deleted, None).await
}

async fn insert_process<T: Tx>(tx: &mut T, tenant: &TenantId, process: &Process) -> StoreResult<()> {
    tx.execute(query::insert_process(tenant, process)?).await?;
    counts::process_changed(tx, tenant, None, Some(process)).await?;
    changes::record_process(tx, tenant, process, ChangeType::Created).await
}

async fn update_process_row<T: Tx>(tx: &mut T, tenant: &TenantId, before: &Process, after: &Process) -> StoreResult<()> {
    match query::update_process(tenant, before, after) {
        Some(stmt) => {
            tx.execute(stmt).await?;
            counts::process_changed(tx, tenant, Some(before), Some(after)).await?;
            changes::record_process(tx, tenant, after, ChangeType::Updated).await
        }
        None => Ok(()),
    }
}

async fn delete_process_row<T: Tx>(tx: &mut T, tenant: &TenantId, process: &Process) -> StoreResult<()> {
    tx.execute(query::delete_row(Table::Processes, tenant, process.id)).await?;
    counts::process_changed(tx, tenant, Some(process), None).await?;
    changes::record_process(tx, tenant, process, ChangeType::Deleted).await
}

async fn count<T: Tx>(tx: &mut T, stmt: sea_query::SelectStatement) -> StoreResult<u64> {
    let n: i64 = tx.fetch_first(stmt).await?.ok_or_else(|| internal("COUNT(*) returned no row"))?;
    u64::try_from(n).map_err(internal)
}

pub(crate) async fn load_process_of_kind<T: Tx>(
    tx: &mut T,
    tenant: &TenantId,
    kind: ProcessKind,
    id: Uuid,
    lock: Lock,
) -> StoreResult<Process> {
    load_process(tx, tenant, id, lock).await?.filter(|p| p.kind == kind).ok_or_else(|| not_found(kind.type_name(), id))
}

pub(crate) async fn load_group<T: Tx>(tx: &mut T, tenant: &TenantId, id: Uuid, lock: Lock) -> StoreResult<Run> {
    load_run(tx, tenant, id, lock).await?.filter(|r| r.kind() == RunKind::RunGroup).ok_or_else(|| not_found("runGroup", id))
}

pub(crate) async fn load_scoped_run<T: Tx>(tx: &mut T, tenant: &TenantId, scope: &RunScope, id: Uuid, lock: Lock) -> StoreResult<Run> {
    load_run(tx, tenant, id, lock).await?.filter(|r| in_scope(r, scope)).ok_or_else(|| not_found("run in this collection", id))
}

/// Fails with 404 when the collection's parent (a flow or a group) does not exist.
pub(crate) async fn check_parent<T: Tx>(tx: &mut T, tenant: &TenantId, parent: &RunParent) -> StoreResult<()> {
    match *parent {
        RunParent::All => Ok(()),
        RunParent::Process(kind, id) => load_process_of_kind(tx, tenant, kind, id, Lock::No).await.map(|_| ()),
        RunParent::Group(id) => load_group(tx, tenant, id, Lock::No).await.map(|_| ()),
    }
}

/// Resolves a bound process: it must exist and fit the run's kind, else 400. The
/// process stays share-locked so that it cannot be deleted before the run naming it commits.
async fn bound_process<T: Tx>(tx: &mut T, tenant: &TenantId, kind: RunKind, target: &str, process: ProcessRef) -> StoreResult<Uuid> {
    let Some(found) = load_process(tx, tenant, process.id, Lock::Share).await?.filter(|p| p.kind == process.kind) else {
        return Err(FieldError::new(
            target,
            Code::BindingTargetNotFound,
            format!("'{target}' refers to {} '{}', which does not exist", process.kind.type_name(), process.id),
        )
        .into());
    };
    match kind.process_kind() {
        Some(expected) if expected == found.kind => Ok(found.id),
        Some(expected) => Err(FieldError::new(
            target,
            Code::InvalidBinding,
            format!(
                "an {} must be caused by an {}, but '{target}' refers to an {}",
                kind.type_name(),
                expected.type_name(),
                found.kind.type_name()
            ),
        )
        .into()),
        None => Err(FieldError::new(target, Code::InvalidBinding, "a runGroup has no process").into()),
    }
}

// ---- writes -------------------------------------------------------------------------------------

pub(crate) async fn create_process<T: Tx>(tx: &mut T, tenant: &TenantId, new: NewProcess) -> StoreResult<Process> {
    let process = new.into_process(runhub_model::new_id())?;
    insert_process(tx, tenant, &process).await?;
    Ok(process)
}

pub(crate) async fn update_process<T: Tx>(
    tx: &mut T,
    tenant: &TenantId,
    kind: ProcessKind,
    id: Uuid,
    patch: ProcessPatch,
    pre: Option<Precondition>,
) -> StoreResult<Process> {
    let current = load_process_of_kind(tx, tenant, kind, id, Lock::Update).await?;
    check(&pre, current.version)?;
    let next = current.apply(patch)?;
    update_process_row(tx, tenant, &current, &next).await?;
    Ok(next)
}

pub(crate) async fn delete_process<T: Tx>(
    tx: &mut T,
    tenant: &TenantId,
    kind: ProcessKind,
    id: Uuid,
    pre: Option<Precondition>,
) -> StoreResult<()> {
    // The update lock waits for run creations holding the process shared, so the count below
    // (a new statement, a new snapshot) sees their runs.
    let current = load_process_of_kind(tx, tenant, kind, id, Lock::Update).await?;
    check(&pre, current.version)?;
    let runs = count(tx, query::count_process_runs(tenant, id)).await?;
    if runs > 0 {
        return Err(FieldError::new(
            "runs",
            Code::ProcessHasRuns,
            format!("the {} still has {runs} run(s); delete them first so that no history is lost by accident", kind.type_name()),
        )
        .into());
    }
    delete_process_row(tx, tenant, &current).await
}

pub(crate) async fn create_run<T: Tx>(
    tx: &mut T,
    tenant: &TenantId,
    scope: &RunScope,
    new: NewRun,
    process: Option<ProcessRef>,
) -> StoreResult<Run> {
    let kind = new.kind;
    let (process_id, group_id) = match scope.parent {
        RunParent::Process(pkind, pid) => {
            load_process_of_kind(tx, tenant, pkind, pid, Lock::Share).await?;
            if let Some(p) = process.filter(|p| p.id != pid) {
                return Err(FieldError::new(
                    BIND,
                    Code::InvalidBinding,
                    format!("this run is created under {} '{pid}'; '{BIND}' names '{}'", pkind.type_name(), p.id),
                )
                .into());
            }
            (Some(pid), None)
        }
        RunParent::Group(gid) => {
            // Locked now (it is recomputed below anyway) so that a concurrent delete of the group
            // cannot leave this new member pointing at nothing.
            load_group(tx, tenant, gid, Lock::Update).await?;
            new.check_can_join_group()?;
            (None, Some(gid))
        }
        RunParent::All => (None, None),
    };
    let process_id = match (process_id, process) {
        (Some(id), _) => Some(id),
        (None, Some(p)) => Some(bound_process(tx, tenant, kind, BIND, p).await?),
        // A flow run without its flow is refused by the model.
        (None, None) => None,
    };
    let run = new.into_run(runhub_model::new_id(), process_id, group_id, Timestamp::now())?;
    insert_run(tx, tenant, &run).await?;
    if let Some(gid) = group_id {
        recompute_group(tx, tenant, gid).await?;
    }
    Ok(run)
}

pub(crate) async fn update_run<T: Tx>(
    tx: &mut T,
    tenant: &TenantId,
    scope: &RunScope,
    id: Uuid,
    patch: RunPatch,
    pre: Option<Precondition>,
) -> StoreResult<Run> {
    // Locked before `If-Match` is checked: of two writers holding the same tag, the second reads
    // the first one's committed version and gets 412.
    let current = load_scoped_run(tx, tenant, scope, id, Lock::Update).await?;
    check(&pre, current.version)?;
    let now = Timestamp::now();
    let next = current.apply(patch, now)?;
    // Any PATCH of a running run — even one that changes nothing — is activity.
    let activity = (current.status == RunStatus::Running).then(|| now.micros());
    write_run_update(tx, tenant, &current, &next, activity).await?;
    note_finished(tx, &current, &next);
    if let Some(gid) = next.group_id() {
        recompute_group(tx, tenant, gid).await?;
    }
    Ok(next)
}

pub(crate) async fn delete_run<T: Tx>(
    tx: &mut T,
    tenant: &TenantId,
    scope: &RunScope,
    id: Uuid,
    pre: Option<Precondition>,
) -> StoreResult<()> {
    let current = load_scoped_run(tx, tenant, scope, id, Lock::Update).await?;
    check(&pre, current.version)?;
    if current.kind() == RunKind::RunGroup {
        // Deleting a group keeps its members; they simply belong to no group now.
        changes::record_detached_members(tx, tenant, id).await?;
        tx.execute(query::detach_members(tenant, id)).await?;
    }
    delete_run_row(tx, tenant, &current).await?;
    if let Some(gid) = current.group_id() {
        recompute_group(tx, tenant, gid).await?;
    }
    Ok(())
}

pub(crate) async fn set_run_process<T: Tx>(
    tx: &mut T,
    tenant: &TenantId,
    scope: &RunScope,
    id: Uuid,
    process: ProcessRef,
) -> StoreResult<Run> {
    let current = load_scoped_run(tx, tenant, scope, id, Lock::Update).await?;
    current.check_repointable()?;
    let next = current.repoint_process(bound_process(tx, tenant, current.kind(), "@odata.id", process).await?)?;
    update_run_row(tx, tenant, &current, &next).await?;
    Ok(next)
}

pub(crate) async fn add_group_member<T: Tx>(tx: &mut T, tenant: &TenantId, group: Uuid, member: Uuid) -> StoreResult<()> {
    load_group(tx, tenant, group, Lock::No).await?;
    let Some(run) = load_run(tx, tenant, member, Lock::Update).await? else {
        return Err(FieldError::new(
            "@odata.id",
            Code::BindingTargetNotFound,
            format!("'@odata.id' refers to run '{member}', which does not exist"),
        )
        .into());
    };
    let Some(next) = run.join_group(group)? else { return Ok(()) };
    // The member is locked; now the group, which must still exist when the member joins it.
    load_group(tx, tenant, group, Lock::Update).await?;
    update_run_row(tx, tenant, &run, &next).await?;
    recompute_group(tx, tenant, group).await
}

pub(crate) async fn remove_group_member<T: Tx>(tx: &mut T, tenant: &TenantId, group: Uuid, member: Uuid) -> StoreResult<()> {
    load_group(tx, tenant, group, Lock::No).await?;
    let run = load_scoped_run(tx, tenant, &RunScope { parent: RunParent::Group(group), kind: None }, member, Lock::Update).await?;
    update_run_row(tx, tenant, &run, &run.leave_group()).await?;
    recompute_group(tx, tenant, group).await
}

pub(crate) async fn run_now<T: Tx>(tx: &mut T, tenant: &TenantId, flow: Uuid) -> StoreResult<Run> {
    let process = load_process_of_kind(tx, tenant, ProcessKind::IncomingFlow, flow, Lock::Share).await?;
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
    insert_run(tx, tenant, &run).await?;
    Ok(run)
}

/// Re-derives a group's status, times and member counts from its members, in the same transaction
/// as the change that affected them. The group row is locked *before* its members are summed: two
/// members finishing at once through different replicas take turns here, and the second sums
/// (in a fresh statement snapshot) with the first one's change committed — no lost update.
pub(crate) async fn recompute_group<T: Tx>(tx: &mut T, tenant: &TenantId, group: Uuid) -> StoreResult<()> {
    let Some(run) = load_run(tx, tenant, group, Lock::Update).await? else { return Ok(()) };
    let mut summary = MemberSummary { counts: MemberCounts::default(), earliest_start: None, latest_end: None };
    let rows: Vec<(i64, i64, i64, Option<i64>)> = tx.fetch(query::member_summary(tenant, group)).await?;
    for (status, n, min_start, max_end) in rows {
        let status = RunStatus::from_ordinal(status).ok_or_else(|| internal(format!("stored status {status} is unknown")))?;
        summary.counts.add(status, n);
        let start = Timestamp::from_micros(min_start);
        summary.earliest_start = Some(summary.earliest_start.map_or(start, |s| s.min(start)));
        if let Some(end) = max_end.map(Timestamp::from_micros) {
            summary.latest_end = Some(summary.latest_end.map_or(end, |e| e.max(end)));
        }
    }
    let next = run.derive_group(summary);
    update_run_row(tx, tenant, &run, &next).await?;
    note_finished(tx, &run, &next);
    Ok(())
}

/// Counts a run that went from running to a terminal status, once the transaction commits.
fn note_finished<T: Tx>(tx: &mut T, before: &Run, after: &Run) {
    if let Some(sample) = crate::telemetry::finished(before, after) {
        tx.after_commit(sample);
    }
}

/// The bulk path: stores already-valid processes and runs as they are (imports, benchmark
/// datasets). Group derivation is not re-run: import groups with their derived values, or members
/// without groups.
pub(crate) async fn import<T: Tx>(tx: &mut T, tenant: &TenantId, processes: &[Process], runs: &[Run]) -> StoreResult<()> {
    // The saves are upserts: what they overwrite leaves the counts.
    let replaced_processes = counts::stored_processes(tx, tenant, &processes.iter().map(|p| p.id).collect::<Vec<_>>()).await?;
    let replaced_runs = counts::stored_runs(tx, tenant, &runs.iter().map(|r| r.id).collect::<Vec<_>>()).await?;
    counts::imported(tx, tenant, (&replaced_processes, &replaced_runs), (processes, runs)).await?;
    names::mark_stale(tx, tenant, &replaced_runs.iter().map(|r| r.id).collect::<Vec<_>>()).await?;
    for p in processes {
        tx.execute(query::save_process(tenant, p)?).await?;
        changes::record_process(tx, tenant, p, ChangeType::Created).await?;
    }
    for r in runs {
        tx.execute(query::save_run(tenant, r)?).await?;
        changes::record_run(tx, tenant, r, ChangeType::Created, None).await?;
    }
    Ok(())
}

// ---- reads --------------------------------------------------------------------------------------

pub(crate) async fn get_process<T: Tx>(tx: &mut T, tenant: &TenantId, kind: ProcessKind, id: Uuid) -> StoreResult<Process> {
    load_process_of_kind(tx, tenant, kind, id, Lock::No).await
}

pub(crate) async fn get_run<T: Tx>(tx: &mut T, tenant: &TenantId, scope: &RunScope, id: Uuid) -> StoreResult<Run> {
    load_scoped_run(tx, tenant, scope, id, Lock::No).await
}

pub(crate) async fn list_processes<T: Tx>(tx: &mut T, tenant: &TenantId, kind: ProcessKind, q: &ListQuery) -> StoreResult<Page<Process>> {
    let mut stmts = query::page_statements(Table::Processes, tenant, Access::Indexes, query::process_kind_terms(kind), q, T::DIALECT)?;
    if stmts.count.is_some() {
        stmts.count = Some(process_count_statement(tenant, kind, q.filter.as_ref(), T::DIALECT)?);
    }
    let items = tx.fetch(stmts.page).await?;
    finish_page(tx, items, &stmts.keys, stmts.count, q.top, Table::Processes, query::process_key).await
}

pub(crate) async fn count_processes<T: Tx>(tx: &mut T, tenant: &TenantId, kind: ProcessKind, filter: Option<&Filter>) -> StoreResult<u64> {
    count(tx, process_count_statement(tenant, kind, filter, T::DIALECT)?).await
}

/// How the processes of a kind matching `filter` are counted: from the stored counts where they
/// answer it (crate::counts), else by scan.
fn process_count_statement(
    tenant: &TenantId,
    kind: ProcessKind,
    filter: Option<&Filter>,
    dialect: Dialect,
) -> StoreResult<SelectStatement> {
    let terms = query::process_kind_terms(kind);
    if counts::answer_processes(filter) {
        query::counts::sum(Table::Processes, tenant, terms, filter, dialect)
    } else {
        query::count_rows(Table::Processes, tenant, Access::Indexes, terms, filter, dialect)
    }
}

pub(crate) async fn processes_by_ids<T: Tx>(tx: &mut T, tenant: &TenantId, ids: &[Uuid]) -> StoreResult<Vec<Process>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    tx.fetch(query::processes_by_ids(tenant, ids)).await
}

pub(crate) async fn list_runs<T: Tx>(tx: &mut T, tenant: &TenantId, scope: &RunScope, q: &ListQuery) -> StoreResult<Page<Run>> {
    check_parent(tx, tenant, &scope.parent).await?;
    let access = run_access(tx, q.filter.as_ref()).await?;
    let stmts = run_page_statements(tenant, scope, q, access, T::DIALECT)?;
    let items = tx.fetch(stmts.page).await?;
    finish_page(tx, items, &stmts.keys, stmts.count, q.top, Table::Runs, query::run_key).await
}

pub(crate) async fn count_runs<T: Tx>(tx: &mut T, tenant: &TenantId, scope: &RunScope, filter: Option<&Filter>) -> StoreResult<u64> {
    check_parent(tx, tenant, &scope.parent).await?;
    let access = run_access(tx, filter).await?;
    count(tx, run_count_statement(tenant, scope, filter, access, T::DIALECT)?).await
}

/// Where a run listing or count with `filter` starts: from the run-name index's candidates when
/// its filter has a substring term they serve (crate::names), else the tenant's indexes.
pub(crate) async fn run_access<T: Tx>(tx: &mut T, filter: Option<&Filter>) -> StoreResult<Access> {
    Ok(match names::driver(tx, filter).await? {
        Some(candidates) => Access::Candidates(candidates),
        None => Access::Indexes,
    })
}

/// A run listing's statements: its page, and its count (when asked for) as
/// [`run_count_statement`] makes it.
pub(crate) fn run_page_statements(
    tenant: &TenantId,
    scope: &RunScope,
    q: &ListQuery,
    access: Access,
    dialect: Dialect,
) -> StoreResult<PageStatements> {
    let mut stmts = query::page_statements(Table::Runs, tenant, access.clone(), query::scope_terms(scope), q, dialect)?;
    if stmts.count.is_some() {
        stmts.count = Some(run_count_statement(tenant, scope, q.filter.as_ref(), access, dialect)?);
    }
    Ok(stmts)
}

/// How the runs of a scope matching `filter` are counted: from the stored counts where they answer
/// it (crate::counts), else by scan.
fn run_count_statement(
    tenant: &TenantId,
    scope: &RunScope,
    filter: Option<&Filter>,
    access: Access,
    dialect: Dialect,
) -> StoreResult<SelectStatement> {
    let terms = query::scope_terms(scope);
    if counts::answer_runs(scope, filter) {
        query::counts::sum(Table::Runs, tenant, terms, filter, dialect)
    } else {
        query::count_rows(Table::Runs, tenant, access, terms, filter, dialect)
    }
}

/// Cuts the look-ahead row off a page, makes the cursor after its last item, and counts.
async fn finish_page<T: Tx, I>(
    tx: &mut T,
    mut items: Vec<I>,
    keys: &[runhub_odata::ast::OrderKey],
    count_stmt: Option<sea_query::SelectStatement>,
    top: u32,
    table: Table,
    key: fn(&I, &str) -> runhub_odata::ast::Value,
) -> StoreResult<Page<I>> {
    let more = items.len() > top as usize;
    items.truncate(top as usize);
    let next = if more { items.last().map(|last| query::cursor_of(keys, table, |p| key(last, p))) } else { None };
    let count = match count_stmt {
        Some(c) => Some(count(tx, c).await?),
        None => None,
    };
    Ok(Page { items, next, count })
}

/// The first `q.top` runs of each scope (`$expand=runs`), in the order of `scopes`.
pub(crate) async fn list_runs_of_parents<T: Tx>(
    tx: &mut T,
    tenant: &TenantId,
    scopes: &[RunScope],
    q: &ListQuery,
) -> StoreResult<Vec<Vec<Run>>> {
    let parents: Vec<(&'static str, String, Option<i64>)> = scopes
        .iter()
        .map(|s| match s.parent {
            RunParent::Process(kind, id) => Ok(("process_id", id.to_string(), Some(RunKind::for_process(kind).ordinal()))),
            RunParent::Group(id) => Ok(("group_id", id.to_string(), None)),
            RunParent::All => Err(internal("expanding runs needs a parent")),
        })
        .collect::<StoreResult<_>>()?;
    let Some((parent_col, _, kind)) = parents.first().cloned() else { return Ok(Vec::new()) };
    if parents.iter().any(|p| p.0 != parent_col) {
        return Err(internal("cannot expand runs of mixed parents"));
    }
    let ids: Vec<String> = parents.into_iter().map(|p| p.1).collect();
    let stmt = query::runs_of_parents(tenant, parent_col, &ids, kind, q, T::DIALECT)?;
    let runs: Vec<Run> = tx.fetch(stmt).await?;
    let mut out: Vec<Vec<Run>> = vec![Vec::new(); ids.len()];
    for run in runs {
        let parent = if parent_col == "process_id" { run.process_id() } else { run.group_id() };
        if let Some(i) = parent.and_then(|p| ids.iter().position(|id| *id == p.to_string())) {
            out[i].push(run);
        }
    }
    Ok(out)
}

pub(crate) async fn group_problem_runs<T: Tx>(tx: &mut T, tenant: &TenantId, group: Uuid) -> StoreResult<Vec<Run>> {
    load_group(tx, tenant, group, Lock::No).await?;
    tx.fetch(query::group_problem_runs(tenant, group)).await
}
