//! Background upkeep, written once over [`Tx`] for both stores (docs/operations.md): the stale-run
//! reaper, retention, and the run counts behind the `runhub_runs` gauge (read from the stored counts).
//!
//! Both write tasks go through the normal write operations ([`ops::update_run`],
//! [`ops::delete_run`]), so a group re-derives and every change is an ordinary change. Each call
//! handles one bounded batch in one short transaction. Replicas never work on the same rows: on
//! PostgreSQL the batch is claimed with `FOR UPDATE SKIP LOCKED` (a row another replica — or a
//! client's PATCH — holds is skipped, not waited for), and a claimed row is checked again under its
//! lock; SQLite's single writer runs one batch at a time anyway.

use runhub_model::{GraphEnum, PublicError, RunKind, RunPatch, RunStatus, TenantId, Timestamp, Uuid};

use crate::ops;
use crate::query::upkeep as statements;
use crate::records::internal;
use crate::tx::Tx;
use crate::{RunScope, StoreError, StoreResult};

/// A run the reaper finished.
#[derive(Debug, Clone, PartialEq)]
pub struct ReapedRun {
    pub tenant: TenantId,
    pub id: Uuid,
    /// How long it had been idle, in microseconds.
    pub idle_micros: i64,
}

/// `(tenant, id, integer)` rows.
fn keyed_rows(rows: Vec<(String, Uuid, i64)>) -> Vec<(TenantId, Uuid, i64)> {
    rows.into_iter().map(|(tenant, id, n)| (TenantId::from_stored(tenant), id, n)).collect()
}

/// Says how long a run was idle, in words (`1h 5m 3s`).
pub fn idle_words(micros: i64) -> String {
    let secs = u64::try_from(micros / 1_000_000).unwrap_or(0);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m {s}s"),
        _ => format!("{h}h {m}m {s}s"),
    }
}

/// Finishes up to `limit` runs that are still running with no activity (creation or PATCH) for
/// longer than `timeout_micros`: `failed`, with `blockingError.code = "runTimedOut"`. runGroups
/// are not timed out themselves: they follow their members.
pub(crate) async fn reap<T: Tx>(tx: &mut T, now: Timestamp, timeout_micros: i64, limit: u32) -> StoreResult<Vec<ReapedRun>> {
    let cutoff = now.micros().saturating_sub(timeout_micros);
    let candidates = keyed_rows(tx.fetch(statements::stale_runs(cutoff, limit, T::DIALECT)).await?);
    let mut reaped = Vec::new();
    for (tenant, id, last_activity) in candidates {
        let idle = now.micros().saturating_sub(last_activity);
        let mut error = PublicError::default();
        error.code = Some("runTimedOut".into());
        error.message = Some(format!(
            "the run was still running with no activity (no PATCH) for {}, longer than the service's run timeout of {}; it was marked failed",
            idle_words(idle),
            idle_words(timeout_micros)
        ));
        let patch = RunPatch { status: Some(RunStatus::Failed), blocking_error: Some(Some(error.into())), ..RunPatch::default() };
        match ops::update_run(tx, &tenant, &RunScope::all(), id, patch, None).await {
            Ok(_) => reaped.push(ReapedRun { tenant, id, idle_micros: idle }),
            // Finished or deleted meanwhile (a rule refusing leaves the transaction usable).
            Err(StoreError::NotFound(_) | StoreError::Rule(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(reaped)
}

/// Deletes up to `limit` finished runs whose `endDateTime` is before `now - age_micros`, through
/// the normal delete. runGroups go first: a group that ended that long ago has members that ended
/// no later, and deleting it first (its members are kept, detached) means no group is ever left
/// memberless and re-derived from its own values. Running runs have no end and are never chosen.
pub(crate) async fn expire<T: Tx>(tx: &mut T, now: Timestamp, age_micros: i64, limit: u32) -> StoreResult<u64> {
    let cutoff = now.micros().saturating_sub(age_micros);
    let mut deleted = 0u64;
    for kinds in [&[RunKind::RunGroup][..], &[RunKind::IncomingFlowRun, RunKind::OutgoingFlowRun]] {
        let room = u64::from(limit).saturating_sub(deleted);
        if room == 0 {
            break;
        }
        let batch = tx.fetch(statements::ended_runs(kinds, cutoff, room, T::DIALECT)).await?;
        for (tenant, id, _) in keyed_rows(batch) {
            match ops::delete_run(tx, &tenant, &RunScope::all(), id, None).await {
                Ok(()) => deleted += 1,
                Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
    }
    Ok(deleted)
}

/// How many runs (of every kind and tenant) have each status, from the stored counts.
pub(crate) async fn runs_by_status<T: Tx>(tx: &mut T) -> StoreResult<Vec<(RunStatus, u64)>> {
    let mut out: Vec<(RunStatus, u64)> = RunStatus::ALL.iter().map(|s| (*s, 0)).collect();
    for (status, n) in tx.fetch::<(Option<i64>, Option<i64>)>(crate::query::counts::runs_by_status()).await? {
        if let (Some(status), Some(n)) = (status, n) {
            let status = RunStatus::from_ordinal(status).ok_or_else(|| internal(format!("stored status {status} is unknown")))?;
            if let Some(slot) = out.iter_mut().find(|(s, _)| *s == status) {
                slot.1 = u64::try_from(n).unwrap_or(0);
            }
        }
    }
    Ok(out)
}
