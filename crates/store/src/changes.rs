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
use sea_query::{Alias, Expr, ExprTrait, Func, OnConflict, Order, Query, SelectStatement};

use crate::StoreResult;
use crate::dialect::Dialect;
use crate::query::{self, Sql};
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
    fn ordinal(self) -> i64 {
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
    fn ordinal(self) -> i64 {
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

    fn ordinal(self) -> i64 {
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
struct Logged {
    id: Uuid,
    kind: EntityKind,
    change: ChangeType,
    version: i64,
    process_id: Option<Uuid>,
    moved_from: Option<Uuid>,
    group_id: Option<Uuid>,
}

/// Appends a change to the log, in the transaction of the change. The one place log rows are made.
async fn record<T: Tx>(tx: &mut T, tenant: &TenantId, entry: Logged) -> StoreResult<()> {
    let Logged { id, kind, change, version, process_id, moved_from, group_id } = entry;
    let mut q = Query::insert();
    q.into_table(Alias::new("changes"))
        .columns(["tenant", "collection", "id", "kind", "change", "version", "process_id", "moved_from", "group_id", "at"].map(Alias::new))
        .values([
            tenant.as_str().into(),
            kind.collection().ordinal().into(),
            id.to_string().into(),
            kind.ordinal().into(),
            change.ordinal().into(),
            version.into(),
            process_id.map(|p| p.to_string()).into(),
            moved_from.map(|p| p.to_string()).into(),
            group_id.map(|g| g.to_string()).into(),
            Timestamp::now().micros().into(),
        ])
        .map_err(internal)?;
    tx.execute(q).await
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
            kind: EntityKind::Run(run.kind),
            change,
            version: run.version,
            process_id: run.process_id,
            moved_from,
            group_id: run.group_id,
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
    let mut members = Query::select();
    members
        .expr(Expr::col(Alias::new("tenant")))
        .expr(Expr::val(Collection::Runs.ordinal()))
        .expr(Expr::col(Alias::new("id")))
        .expr(Expr::col(Alias::new("kind")))
        .expr(Expr::val(ChangeType::Updated.ordinal()))
        .expr(Expr::col(Alias::new("version")).add(1))
        .expr(Expr::col(Alias::new("process_id")))
        .expr(Expr::val(Timestamp::now().micros()))
        .from(Alias::new("runs"))
        .and_where(query::tenant_is(tenant))
        .and_where(Expr::col(Alias::new("group_id")).eq(group.to_string()));
    let mut q = Query::insert();
    q.into_table(Alias::new("changes"))
        .columns(["tenant", "collection", "id", "kind", "change", "version", "process_id", "at"].map(Alias::new))
        .select_from(members)
        .map_err(internal)?;
    tx.execute(q).await
}

/// The column that holds a row's position in this dialect.
fn position_column(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => "seq",
        Dialect::Postgres => "xid",
    }
}

fn col(name: &str) -> Expr {
    Expr::col(Alias::new(name))
}

/// The readable bound: every change at a position below it has committed (or never will), so
/// the rows below it are final. Handing out `[from, watermark)` and continuing from the watermark
/// misses nothing.
pub(crate) async fn watermark<T: Tx>(tx: &mut T) -> StoreResult<u64> {
    let text = match T::DIALECT {
        // The next sequence number (AUTOINCREMENT never reuses one, even after pruning).
        Dialect::Sqlite => "SELECT COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'changes'), 0) + 1",
        // Every transaction with a smaller id has ended.
        Dialect::Postgres => "SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint",
    };
    let w: i64 = tx.fetch_first(Sql::text(text)).await?.ok_or_else(|| internal("the watermark query returned no row"))?;
    u64::try_from(w).map_err(internal)
}

/// The lowest position a reader may still start from: changes below it may have been pruned.
pub(crate) async fn horizon<T: Tx>(tx: &mut T) -> StoreResult<u64> {
    let mut q = Query::select();
    q.column(Alias::new("position")).from(Alias::new("change_horizon"));
    let position: Option<i64> = tx.fetch_first(q).await?;
    Ok(position.and_then(|p| u64::try_from(p).ok()).unwrap_or(0))
}

fn position_value(p: u64) -> i64 {
    i64::try_from(p).unwrap_or(i64::MAX)
}

fn in_range(q: &mut SelectStatement, dialect: Dialect, range: &ChangeRange) {
    let pos = position_column(dialect);
    q.and_where(col(pos).gte(position_value(range.from))).and_where(col(pos).lt(position_value(range.to)));
}

const RECORD_COLUMNS: [&str; 12] =
    ["seq", "pos", "tenant", "id", "kind", "change", "version", "process_id", "moved_from", "at", "collection", "group_id"];

fn record_select(dialect: Dialect) -> SelectStatement {
    let mut q = Query::select();
    for c in RECORD_COLUMNS {
        if c == "pos" {
            q.expr_as(col(position_column(dialect)), Alias::new("pos"));
        } else {
            q.column(Alias::new(c));
        }
    }
    q.from(Alias::new("changes"));
    q
}

impl FromRow for ChangeRecord {
    /// A row of [`RECORD_COLUMNS`].
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
    let mut q = record_select(T::DIALECT);
    in_range(&mut q, T::DIALECT, &range);
    if let Some(after) = range.after_seq {
        q.and_where(col("seq").gt(after));
    }
    q.order_by(Alias::new("seq"), Order::Asc).limit(u64::from(range.limit));
    tx.fetch(q).await
}

/// One page of a delta round: the entities of `collection` changed in the range, each once (by
/// its last change there), in the order of their last change; and whether more remain.
pub(crate) async fn entity_changes<T: Tx>(
    tx: &mut T,
    tenant: &TenantId,
    collection: Collection,
    range: ChangeRange,
) -> StoreResult<(Vec<EntityChange>, bool)> {
    let mut page = Query::select();
    page.column(Alias::new("id"))
        .expr_as(Func::max(col("seq")), Alias::new("last"))
        .from(Alias::new("changes"))
        .and_where(query::tenant_is(tenant))
        .and_where(col("collection").eq(collection.ordinal()));
    in_range(&mut page, T::DIALECT, &range);
    // An entity not handed out yet has its last change after `after_seq`, so only rows after it are
    // grouped: a page reads what is left of the round, not the whole round again.
    if let Some(after) = range.after_seq {
        page.and_where(col("seq").gt(after));
    }
    page.group_by_col(Alias::new("id"));
    page.order_by(Alias::new("last"), Order::Asc).limit(u64::from(range.limit) + 1);
    let mut ids: Vec<String> = tx.fetch(page).await?;
    let more = ids.len() > range.limit as usize;
    ids.truncate(range.limit as usize);
    if ids.is_empty() {
        return Ok((Vec::new(), more));
    }
    let mut rows = record_select(T::DIALECT);
    rows.and_where(query::tenant_is(tenant))
        .and_where(col("collection").eq(collection.ordinal()))
        .and_where(col("id").is_in(ids.iter().cloned()));
    in_range(&mut rows, T::DIALECT, &range);
    rows.order_by(Alias::new("seq"), Order::Asc);
    let records: Vec<ChangeRecord> = tx.fetch(rows).await?;
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
    // The oldest rows by seq (the primary key: no scan), of which those old enough go.
    let mut oldest = Query::select();
    oldest.column(Alias::new("seq")).from(Alias::new("changes")).order_by(Alias::new("seq"), Order::Asc).limit(u64::from(limit));
    let mut delete = Query::delete();
    delete
        .from_table(Alias::new("changes"))
        .and_where(col("seq").in_subquery(oldest))
        .and_where(col("at").lt(before.micros()))
        .returning(Query::returning().expr(col(position_column(T::DIALECT))));
    let gone: Vec<i64> = tx.fetch(delete).await?;
    let Some(max) = gone.iter().copied().max() else { return Ok(0) };
    let next = max.saturating_add(1);
    // The horizon only moves up: made once, then raised by a conditional update.
    let mut insert = Query::insert();
    insert
        .into_table(Alias::new("change_horizon"))
        .columns([Alias::new("one"), Alias::new("position")])
        .values([1i64.into(), 0i64.into()])
        .map_err(internal)?
        .on_conflict(OnConflict::column(Alias::new("one")).do_nothing().to_owned());
    tx.execute(insert).await?;
    let mut raise = Query::update();
    raise
        .table(Alias::new("change_horizon"))
        .value(Alias::new("position"), Expr::val(next))
        .and_where(col("one").eq(1i64))
        .and_where(col("position").lt(next));
    tx.execute(raise).await?;
    Ok(gone.len())
}
