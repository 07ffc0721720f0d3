//! The change log: one row per committed create, update, delete or `$ref` change of a run or a
//! process, written by [`record`] inside the same transaction as the change it records, so a change
//! and its log row commit (or roll back) together. Delta queries, the live stream and, later,
//! change notifications all read it. The design — positions, the watermark, retention — is
//! described in docs/change-tracking.md.
//!
//! # Positions and the watermark
//!
//! Every log row has a *position*. On SQLite it is the row's `seq` (one writer, so sequence order
//! is commit order). On PostgreSQL it is the id of the transaction that wrote the row
//! (`pg_current_xact_id()`), and the readable range is bounded by the oldest transaction still in
//! flight (`pg_snapshot_xmin(pg_current_snapshot())`): every transaction below that bound has
//! ended, so the set of log rows below it can no longer grow. [`watermark`] returns that bound; a
//! reader that hands out exactly the rows in `[from, watermark)` and continues from the watermark
//! never misses a change, whatever order concurrent writers commit in.

use runhub_model::{Process, ProcessKind, Run, RunKind, TenantId, Timestamp, Uuid};

use crate::StoreResult;
use crate::query::{self, changes as statements};
use crate::records::internal;
use crate::tx::{FromRow, Row, Tx};

/// The collections whose changes are tracked (what a delta query is asked on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Collection {
    /// `/industryData/runs`: runs of every kind, runGroups included.
    Runs,
    IncomingFlows,
    OutgoingFlows,
}

impl Collection {
    pub(crate) fn ordinal(self) -> i64 {
        match self {
            Collection::Runs => 0,
            Collection::IncomingFlows => 1,
            Collection::OutgoingFlows => 2,
        }
    }

    fn from_ordinal(n: i64) -> Option<Self> {
        [Collection::Runs, Collection::IncomingFlows, Collection::OutgoingFlows].get(usize::try_from(n).ok()?).copied()
    }

    /// The collection a process of this kind belongs to.
    pub fn of_process(kind: ProcessKind) -> Self {
        match kind {
            ProcessKind::IncomingFlow => Collection::IncomingFlows,
            ProcessKind::OutgoingFlow => Collection::OutgoingFlows,
        }
    }
}

/// What happened to an entity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeType {
    Created,
    Updated,
    Deleted,
}

impl ChangeType {
    pub(crate) fn ordinal(self) -> i64 {
        match self {
            ChangeType::Created => 0,
            ChangeType::Updated => 1,
            ChangeType::Deleted => 2,
        }
    }

    fn from_ordinal(n: i64) -> Option<Self> {
        [ChangeType::Created, ChangeType::Updated, ChangeType::Deleted].get(usize::try_from(n).ok()?).copied()
    }
}

/// The entity a change is about, as the log keeps it (enough for a tombstone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityKind {
    Run(RunKind),
    Process(ProcessKind),
}

impl EntityKind {
    pub fn collection(self) -> Collection {
        match self {
            EntityKind::Run(_) => Collection::Runs,
            EntityKind::Process(k) => Collection::of_process(k),
        }
    }

    /// The concrete type's unqualified name (`incomingFlowRun`, `outgoingFlow`, …).
    pub fn type_name(self) -> &'static str {
        match self {
            EntityKind::Run(k) => k.type_name(),
            EntityKind::Process(k) => k.type_name(),
        }
    }

    pub(crate) fn ordinal(self) -> i64 {
        match self {
            EntityKind::Run(k) => k.ordinal(),
            EntityKind::Process(k) => k.ordinal(),
        }
    }

    fn decode(collection: Collection, kind: i64) -> StoreResult<Self> {
        let bad = || internal(format!("stored change kind {kind} is unknown"));
        Ok(match collection {
            Collection::Runs => EntityKind::Run(RunKind::from_ordinal(kind).ok_or_else(bad)?),
            _ => EntityKind::Process(ProcessKind::from_ordinal(kind).ok_or_else(bad)?),
        })
    }
}

/// One row of the change log.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRecord {
    /// Unique and increasing in write order (not commit order on PostgreSQL).
    pub seq: i64,
    /// The row's position (see the module docs): `seq` on SQLite, the writing transaction on PostgreSQL.
    pub position: u64,
    pub tenant: TenantId,
    pub id: Uuid,
    pub kind: EntityKind,
    pub change: ChangeType,
    /// The entity's version after the change; for a deletion, its last version.
    pub version: i64,
    /// A run's process after the change (at deletion, the one it had).
    pub process_id: Option<Uuid>,
    /// A run's process before the change, when the change re-pointed it (`$ref`).
    pub moved_from: Option<Uuid>,
    /// A run's group after the change.
    pub group_id: Option<Uuid>,
    pub at: Timestamp,
}

/// A page request over the log: positions `[from, to)`, the changes after `after_seq` (the `seq`
/// of the last one already handed out), at most `limit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeRange {
    pub from: u64,
    pub to: u64,
    pub after_seq: Option<i64>,
    pub limit: u32,
}

/// The current state of a changed entity.
#[derive(Debug, Clone, PartialEq)]
pub enum Entity {
    Run(Box<Run>),
    Process(Process),
}

/// Everything a delta round needs to know about one entity that changed in a range of positions:
/// its latest change there, every process it was moved away from there, and its current state
/// (`None` once it is deleted).
#[derive(Debug, Clone, PartialEq)]
pub struct EntityChange {
    pub id: Uuid,
    /// The `seq` of the entity's last change in the range: the paging cursor within a round.
    pub last_seq: i64,
    pub kind: EntityKind,
    /// The last change in the range was its deletion (or it no longer exists).
    pub deleted: bool,
    /// The version of the last change (the tombstone's etag for a deletion).
    pub version: i64,
    /// A run's process as of its last change in the range.
    pub process_id: Option<Uuid>,
    /// The processes a `$ref` change in the range moved the run away from.
    pub moved_from: Vec<Uuid>,
    /// The entity as it is now (possibly newer than the range), `None` when it no longer exists.
    pub current: Option<Entity>,
}

/// One change as the log records it.
pub(crate) struct Logged {
    pub id: Uuid,
    pub kind: EntityKind,
    pub change: ChangeType,
    pub version: i64,
    pub process_id: Option<Uuid>,
    pub moved_from: Option<Uuid>,
    pub group_id: Option<Uuid>,
}

/// Appends a change to the log, in the transaction of the change. The one place log rows are made.
async fn record<T: Tx>(tx: &mut T, tenant: &TenantId, entry: Logged) -> StoreResult<()> {
    tx.execute(statements::insert_change(tenant, &entry)?).await
}

/// Logs a run's change.
pub(crate) async fn record_run<T: Tx>(
    tx: &mut T,
    tenant: &TenantId,
    run: &Run,
    change: ChangeType,
    moved_from: Option<Uuid>,
) -> StoreResult<()> {
    record(
        tx,
        tenant,
        Logged {
            id: run.id,
            kind: EntityKind::Run(run.kind()),
            change,
            version: run.version,
            process_id: run.process_id(),
            moved_from,
            group_id: run.group_id(),
        },
    )
    .await
}

/// Logs a process's change.
pub(crate) async fn record_process<T: Tx>(tx: &mut T, tenant: &TenantId, p: &Process, change: ChangeType) -> StoreResult<()> {
    record(
        tx,
        tenant,
        Logged {
            id: p.id,
            kind: EntityKind::Process(p.kind),
            change,
            version: p.version,
            process_id: None,
            moved_from: None,
            group_id: None,
        },
    )
    .await
}

/// Logs the detaching of every member of a group (each member's version moves by one), before the
/// members are detached: one `INSERT … SELECT` over the members.
pub(crate) async fn record_detached_members<T: Tx>(tx: &mut T, tenant: &TenantId, group: Uuid) -> StoreResult<()> {
    tx.execute(statements::insert_detached_members(tenant, group)?).await
}

/// The readable bound: every change at a position below it has committed (or never will), so
/// the rows below it are final. Handing out `[from, watermark)` and continuing from the watermark
/// misses nothing.
pub(crate) async fn watermark<T: Tx>(tx: &mut T) -> StoreResult<u64> {
    let w: i64 = tx.fetch_first(statements::watermark(T::DIALECT)).await?.ok_or_else(|| internal("the watermark query returned no row"))?;
    u64::try_from(w).map_err(internal)
}

/// The lowest position a reader may still start from: changes below it may have been pruned.
pub(crate) async fn horizon<T: Tx>(tx: &mut T) -> StoreResult<u64> {
    let position: Option<Option<i64>> = tx.fetch_first(statements::horizon()).await?;
    Ok(position.flatten().and_then(|p| u64::try_from(p).ok()).unwrap_or(0))
}

impl FromRow for ChangeRecord {
    /// A row of the log, its columns in this order.
    fn from_row(mut row: Row) -> StoreResult<Self> {
        let seq = row.take()?;
        let position: i64 = row.take()?;
        let tenant = TenantId::from_stored(row.take::<String>()?);
        let id = row.take()?;
        let kind: i64 = row.take()?;
        let change: i64 = row.take()?;
        let (version, process_id, moved_from, at) = (row.take()?, row.take()?, row.take()?, row.take()?);
        let collection = Collection::from_ordinal(row.take()?).ok_or_else(|| internal("stored collection is unknown"))?;
        Ok(ChangeRecord {
            seq,
            position: u64::try_from(position).map_err(internal)?,
            tenant,
            id,
            kind: EntityKind::decode(collection, kind)?,
            change: ChangeType::from_ordinal(change).ok_or_else(|| internal("stored change type is unknown"))?,
            version,
            process_id,
            moved_from,
            group_id: row.take()?,
            at: Timestamp::from_micros(at),
        })
    }
}

/// The raw log of every tenant in the range, in `seq` order (for change notifications).
pub(crate) async fn log<T: Tx>(tx: &mut T, range: ChangeRange) -> StoreResult<Vec<ChangeRecord>> {
    tx.fetch(statements::log(&range, T::DIALECT)).await
}

/// One page of a delta round: the entities of `collection` changed in the range, each once (by
/// its last change there), in the order of their last change; and whether more remain.
pub(crate) async fn entity_changes<T: Tx>(
    tx: &mut T,
    tenant: &TenantId,
    collection: Collection,
    range: ChangeRange,
) -> StoreResult<(Vec<EntityChange>, bool)> {
    let mut ids: Vec<String> = tx.fetch(statements::changed_ids(tenant, collection, &range, T::DIALECT)).await?;
    let more = ids.len() > range.limit as usize;
    ids.truncate(range.limit as usize);
    if ids.is_empty() {
        return Ok((Vec::new(), more));
    }
    let records: Vec<ChangeRecord> = tx.fetch(statements::changes_of(tenant, collection, &ids, &range, T::DIALECT)).await?;
    let uuids: Vec<Uuid> = ids.iter().filter_map(|i| Uuid::parse_str(i).ok()).collect();
    let current: Vec<Entity> = match collection {
        Collection::Runs => tx.fetch(query::runs_by_ids(tenant, &uuids)).await?.into_iter().map(|r| Entity::Run(Box::new(r))).collect(),
        _ => tx.fetch(query::processes_by_ids(tenant, &uuids)).await?.into_iter().map(Entity::Process).collect(),
    };
    let mut out = Vec::with_capacity(uuids.len());
    for id in uuids {
        let mine: Vec<&ChangeRecord> = records.iter().filter(|r| r.id == id).collect();
        let Some(last) = mine.last() else { continue };
        let current = current.iter().find(|e| match e {
            Entity::Run(r) => r.id == id,
            Entity::Process(p) => p.id == id,
        });
        out.push(EntityChange {
            id,
            last_seq: last.seq,
            kind: last.kind,
            deleted: last.change == ChangeType::Deleted || current.is_none(),
            version: last.version,
            process_id: last.process_id,
            moved_from: mine.iter().filter_map(|r| r.moved_from).collect(),
            current: current.cloned(),
        });
    }
    out.sort_by_key(|c| c.last_seq);
    Ok((out, more))
}

/// Deletes up to `limit` of the oldest log rows written before `before`, and moves the horizon
/// past them. Returns how many were deleted. Small batches, oldest first: it never holds the
/// writers up for long.
pub(crate) async fn prune<T: Tx>(tx: &mut T, before: Timestamp, limit: u32) -> StoreResult<usize> {
    let gone: Vec<i64> = tx.fetch(statements::prune(before, limit, T::DIALECT)).await?;
    let Some(max) = gone.iter().copied().max() else { return Ok(0) };
    let next = max.saturating_add(1);
    // The horizon only moves up: made once, then raised by a conditional update.
    tx.execute(statements::add_horizon()?).await?;
    tx.execute(statements::raise_horizon(next)).await?;
    Ok(gone.len())
}
