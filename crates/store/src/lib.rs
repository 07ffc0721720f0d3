//! Storage for runhub: the [`Store`] trait the HTTP layer talks to, implemented once
//! ([`backend`]) for two backends — embedded SQLite and PostgreSQL. A backend only says how an
//! operation gets its transaction and runs statements; every operation ([`ops`], [`changes`],
//! [`webhooks`], …) is written once over [`tx::Tx`], every statement once in [`query`], and rows
//! are decoded once per stored type ([`tx::FromRow`]). docs/architecture.md has the picture.
//!
//! Every method takes the caller's [`TenantId`]; every statement is scoped by it, so tenancy is not
//! something a caller can forget. Lifecycle rules come from `runhub-model`; the store
//! only loads, applies and saves, inside one transaction per operation.

mod backend;
pub mod changes;
mod columns;
mod counts;
mod dialect;
mod filter_sql;
mod names;
mod ops;
pub mod postgres;
mod query;
mod records;
mod schedule;
pub mod sqlite;
pub mod telemetry;
mod tx;
mod upkeep;
pub mod webhooks;

use std::sync::Arc;

use async_trait::async_trait;
use runhub_model::{
    FieldError, NewProcess, NewRun, Process, ProcessKind, ProcessPatch, Run, RunKind, RunPatch, Subscription, SubscriptionPatch, TenantId,
    Uuid,
};
use runhub_odata::ast::{Filter, OrderKey, Type, Value};

pub use changes::{ChangeRange, ChangeRecord, ChangeType, Collection, Entity, EntityChange, EntityKind};
pub use columns::Table;
pub use upkeep::{ReapedRun, idle_words};
pub use webhooks::{Delivery, FanoutCursor, OutboxBatch, Settle};

/// Where a run is addressed from: which collection it must belong to.
#[derive(Debug, Clone, PartialEq)]
pub struct RunScope {
    pub parent: RunParent,
    /// A cast segment (or the runGroups set): only runs of this kind.
    pub kind: Option<RunKind>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RunParent {
    /// `/industryData/runs`, `/industryData/runGroups`.
    All,
    /// `/industryData/{incomingFlows|outgoingFlows}/{id}/runs`.
    Process(ProcessKind, Uuid),
    /// `/industryData/runGroups/{id}/runs`: the group's members.
    Group(Uuid),
}

impl RunScope {
    pub fn all() -> Self {
        Self { parent: RunParent::All, kind: None }
    }
}

/// A reference to a process, resolved from `process@odata.bind` or a `$ref` body.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProcessRef {
    pub kind: ProcessKind,
    pub id: Uuid,
}

/// `If-Match`: the version the client last saw, or `*`.
#[derive(Debug, Clone, PartialEq)]
pub enum Precondition {
    Any,
    /// One or more entity tags, as sent (quotes included).
    Tags(Vec<String>),
}

impl Precondition {
    fn holds(&self, version: i64) -> bool {
        match self {
            Precondition::Any => true,
            Precondition::Tags(tags) => tags.iter().any(|t| *t == etag(version)),
        }
    }
}

/// The strong entity tag of a stored version: the `ETag` header, `@odata.etag` and a process's `eTag`.
pub fn etag(version: i64) -> String {
    format!("\"{version}\"")
}

/// A page request over a collection.
#[derive(Debug, Clone, PartialEq)]
pub struct ListQuery {
    pub filter: Option<Filter>,
    /// The ordering; empty means the collection's default. `id asc` always breaks ties.
    pub orderby: Vec<OrderKey>,
    pub top: u32,
    pub skip: u64,
    /// The order-key values of the last row already returned (keyset cursor), `id` last.
    pub after: Option<Vec<Value>>,
    pub count: bool,
}

impl ListQuery {
    pub fn first_page(top: u32) -> Self {
        Self { filter: None, orderby: Vec::new(), top, skip: 0, after: None, count: false }
    }
}

/// The default ordering of a collection when no `$orderby` is given.
pub fn default_order(table: Table) -> Vec<OrderKey> {
    match table {
        Table::Runs => vec![OrderKey { path: "startDateTime", ty: Type::DateTimeOffset, descending: true }],
        Table::Processes => vec![OrderKey { path: "displayName", ty: Type::String, descending: false }],
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// When more rows remain: the cursor after the last item (its order-key values, then `id`).
    pub next: Option<Vec<Value>>,
    /// The total number of matching rows, when asked for.
    pub count: Option<u64>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The addressed resource does not exist (for this tenant, in this scope).
    #[error("{0}")]
    NotFound(String),
    /// `If-Match` did not match the stored version.
    #[error("the entity tag does not match the current version {current}")]
    PreconditionFailed { current: String },
    /// A rule of the domain refused the change (400 or 409, by its kind).
    #[error(transparent)]
    Rule(#[from] FieldError),
    /// The database cannot be reached or is shutting down.
    #[error("the store is unavailable: {0}")]
    Unavailable(String),
    /// A quota is used up (403).
    #[error("{0}")]
    LimitReached(String),
    #[error("store failure: {0}")]
    Internal(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The rules of an on-demand `start` of a run group.
#[derive(Debug, Clone, PartialEq)]
pub struct StartPolicy {
    /// Successful on-demand starts allowed per tenant per `window_micros` (Graph: 5 per 12 h).
    pub max_starts: u32,
    pub window_micros: i64,
    /// A start less than this before the tenant's next scheduled run makes that run skip (10 h).
    pub skip_horizon_micros: i64,
}

impl Default for StartPolicy {
    fn default() -> Self {
        const HOUR: i64 = 3_600_000_000;
        Self { max_starts: 5, window_micros: 12 * HOUR, skip_horizon_micros: 10 * HOUR }
    }
}

/// How an on-demand `start` went.
#[derive(Debug, Clone, PartialEq)]
pub enum StartOutcome {
    /// A new running runGroup, with one running incomingFlowRun per ready flow inside its window.
    Started(Box<Run>),
    /// Over the limit: retry after this many seconds (429).
    Throttled { retry_after_secs: u64 },
    /// No incomingFlow is ready and inside its window: nothing was started (and nothing counted).
    NothingToStart,
}

/// One scheduled run this store instance claimed in a scheduler tick.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduledStart {
    pub tenant: TenantId,
    /// The time the run was due.
    pub due: runhub_model::Timestamp,
    /// The group opened; `None` when skipped or when no flow could start.
    pub group: Option<Run>,
    /// An on-demand start shortly before made this scheduled run skip.
    pub skipped: bool,
}

/// One page of a delta round over the change log: see [`Store::entity_changes`].
#[derive(Debug, Clone, PartialEq)]
pub struct ChangePage {
    /// One entry per changed entity, in the order of its last change in the range.
    pub items: Vec<EntityChange>,
    /// More entities changed in the range after the last one here.
    pub more: bool,
}

/// The operations the HTTP layer needs, implemented once for every backend ([`backend`]): SQLite
/// (embedded, the default) and PostgreSQL.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Whether the database answers.
    async fn health(&self) -> StoreResult<()>;
    /// The secret that authenticates `$skiptoken`s; the same for every replica on one database.
    fn token_secret(&self) -> &[u8];
    /// Flushes and closes; later calls fail with `Unavailable`.
    async fn close(&self);

    async fn create_process(&self, tenant: &TenantId, new: NewProcess) -> StoreResult<Process>;
    async fn get_process(&self, tenant: &TenantId, kind: ProcessKind, id: Uuid) -> StoreResult<Process>;
    async fn update_process(
        &self,
        tenant: &TenantId,
        kind: ProcessKind,
        id: Uuid,
        patch: ProcessPatch,
        pre: Option<Precondition>,
    ) -> StoreResult<Process>;
    /// Refuses (409) while the process still has runs.
    async fn delete_process(&self, tenant: &TenantId, kind: ProcessKind, id: Uuid, pre: Option<Precondition>) -> StoreResult<()>;
    async fn list_processes(&self, tenant: &TenantId, kind: ProcessKind, query: &ListQuery) -> StoreResult<Page<Process>>;
    async fn count_processes(&self, tenant: &TenantId, kind: ProcessKind, filter: Option<&Filter>) -> StoreResult<u64>;
    /// The processes with these ids (any kind), for `$expand=process`; missing ones are skipped.
    async fn processes_by_ids(&self, tenant: &TenantId, ids: &[Uuid]) -> StoreResult<Vec<Process>>;

    /// Creates a run in `scope` (a flow's runs, a group's members, or the top-level sets).
    async fn create_run(&self, tenant: &TenantId, scope: &RunScope, new: NewRun, process: Option<ProcessRef>) -> StoreResult<Run>;
    async fn get_run(&self, tenant: &TenantId, scope: &RunScope, id: Uuid) -> StoreResult<Run>;
    async fn update_run(
        &self,
        tenant: &TenantId,
        scope: &RunScope,
        id: Uuid,
        patch: RunPatch,
        pre: Option<Precondition>,
    ) -> StoreResult<Run>;
    async fn delete_run(&self, tenant: &TenantId, scope: &RunScope, id: Uuid, pre: Option<Precondition>) -> StoreResult<()>;
    async fn list_runs(&self, tenant: &TenantId, scope: &RunScope, query: &ListQuery) -> StoreResult<Page<Run>>;
    /// The first `query.top` runs of each scope (`$expand=runs`), in one query for all of them.
    /// The scopes are all flows or all groups; the result is in the order of `scopes`.
    async fn list_runs_of_parents(&self, tenant: &TenantId, scopes: &[RunScope], query: &ListQuery) -> StoreResult<Vec<Vec<Run>>>;
    async fn count_runs(&self, tenant: &TenantId, scope: &RunScope, filter: Option<&Filter>) -> StoreResult<u64>;
    /// Re-points a run's `process` (`$ref`).
    async fn set_run_process(&self, tenant: &TenantId, scope: &RunScope, id: Uuid, process: ProcessRef) -> StoreResult<Run>;
    /// Adds an existing run to a group; 409 if it is in another group.
    async fn add_group_member(&self, tenant: &TenantId, group: Uuid, run: Uuid) -> StoreResult<()>;
    async fn remove_group_member(&self, tenant: &TenantId, group: Uuid, run: Uuid) -> StoreResult<()>;
    /// Starts a new running incomingFlowRun of a ready flow inside its window.
    async fn run_now(&self, tenant: &TenantId, flow: Uuid) -> StoreResult<Run>;
    /// The group's members that failed or completed with errors or warnings, by start then id.
    async fn group_problem_runs(&self, tenant: &TenantId, group: Uuid) -> StoreResult<Vec<Run>>;

    // ---- the change log (crate::changes; docs/change-tracking.md) ------------------------------
    //
    // How to follow the log (delta, the live stream, change notifications): keep a position `p`
    // (start from `change_watermark()` for "from now on"). Each time, read `w = change_watermark()`;
    // every change at a position in `[p, w)` has committed and that set can no longer grow, so
    // hand out `entity_changes`/`change_log` over `[p, w)` (paging with `after_seq`), then continue
    // from `w`. Wait for `change_signal()` to change (a commit through this store instance) or
    // poll the watermark (commits through other replicas) before reading again. A `p` below
    // `change_horizon()` was pruned: start over.

    /// The change log's readable bound: every change at a position below it has committed.
    async fn change_watermark(&self) -> StoreResult<u64>;
    /// The lowest position still fully in the log; below it changes were pruned (retention).
    async fn change_horizon(&self) -> StoreResult<u64>;
    /// The entities of a tenant's `collection` changed in the range's positions, each once with
    /// its last change there and its current state, ordered by that change's `seq`.
    async fn entity_changes(&self, tenant: &TenantId, collection: Collection, range: ChangeRange) -> StoreResult<ChangePage>;
    /// The raw log rows of every tenant in the range, in `seq` order (for change notifications).
    async fn change_log(&self, range: ChangeRange) -> StoreResult<Vec<ChangeRecord>>;
    /// Deletes at most `limit` of the oldest log rows written before `before` (retention); returns
    /// how many. Call it repeatedly in small batches.
    async fn prune_changes(&self, before: runhub_model::Timestamp, limit: u32) -> StoreResult<usize>;
    /// Changes (its value grows) after every commit of a write through this store instance: the
    /// in-process wake-up for followers of the log. Commits through other replicas do not show
    /// here; poll [`Store::change_watermark`] for those.
    fn change_signal(&self) -> tokio::sync::watch::Receiver<u64>;

    /// An on-demand start at `now` (see [`StartPolicy`]), counted and recorded atomically.
    async fn start_run_group(&self, _tenant: &TenantId, _now: runhub_model::Timestamp, _policy: &StartPolicy) -> StoreResult<StartOutcome> {
        Err(StoreError::Internal("this store does not implement start_run_group".into()))
    }
    /// One scheduler tick at `now`, for every tenant that has an incomingFlow. Each due
    /// scheduled run is claimed with a compare-and-set on the tenant's schedule row inside the write
    /// transaction that starts it, so with several replicas on one database exactly one starts it.
    async fn claim_scheduled_runs(&self, _now: runhub_model::Timestamp, _interval_micros: i64) -> StoreResult<Vec<ScheduledStart>> {
        Err(StoreError::Internal("this store does not implement claim_scheduled_runs".into()))
    }

    /// The stale-run reaper's batch: finishes up to `limit` running runs (of any tenant) idle for
    /// longer than `timeout_micros` as `failed` / `runTimedOut`, in one transaction; replicas
    /// claim disjoint rows.
    async fn reap_stale_runs(&self, _now: runhub_model::Timestamp, _timeout_micros: i64, _limit: u32) -> StoreResult<Vec<ReapedRun>> {
        Err(StoreError::Internal("this store does not implement reap_stale_runs".into()))
    }
    /// Retention's batch: deletes up to `limit` finished runs (of any tenant) that ended more than
    /// `age_micros` before `now`, in one transaction; replicas claim disjoint rows. How many.
    async fn expire_runs(&self, _now: runhub_model::Timestamp, _age_micros: i64, _limit: u32) -> StoreResult<u64> {
        Err(StoreError::Internal("this store does not implement expire_runs".into()))
    }
    /// How many runs of every tenant have each status (for metrics; a sum of the stored counts).
    async fn runs_by_status(&self) -> StoreResult<Vec<(runhub_model::RunStatus, u64)>> {
        Err(StoreError::Internal("this store does not implement runs_by_status".into()))
    }
    /// Compacts the stored counts' delta rows: up to `limit` keys of each counted table, each
    /// key's rows summed into one, in one transaction. How many keys (fewer than `limit`
    /// when no more need it). Counts are exact either way; this keeps reading them cheap.
    async fn compact_counts(&self, _limit: u32) -> StoreResult<usize> {
        Err(StoreError::Internal("this store does not implement compact_counts".into()))
    }
    /// Brings the run-name index (behind substring filters on SQLite) up to date by one batch of
    /// up to `limit` runs, in one transaction; reads first and writes nothing when it is already
    /// up to date. How many runs it indexed: less than `limit` once it has caught up.
    async fn index_run_names(&self, _limit: u32) -> StoreResult<usize> {
        Err(StoreError::Internal("this store does not implement index_run_names".into()))
    }
    // ---- change notifications (crate::webhooks; docs/webhooks.md) ---------------------------------

    /// Stores a subscription (its `start_position` becomes the change log's watermark) unless its
    /// tenant holds `limit` already ([`StoreError::LimitReached`]).
    async fn create_subscription(&self, sub: Subscription, limit: u64) -> StoreResult<Subscription>;
    async fn get_subscription(&self, tenant: &TenantId, id: Uuid) -> StoreResult<Subscription>;
    async fn list_subscriptions(&self, tenant: &TenantId) -> StoreResult<Vec<Subscription>>;
    async fn update_subscription(&self, tenant: &TenantId, id: Uuid, patch: SubscriptionPatch) -> StoreResult<Subscription>;
    /// Deletes it and whatever is still owed for it.
    async fn delete_subscription(&self, tenant: &TenantId, id: Uuid) -> StoreResult<()>;
    /// How many notifications are still owed for it.
    async fn pending_notifications(&self, id: Uuid) -> StoreResult<u64>;
    /// Every tenant's unexpired subscriptions.
    async fn active_subscriptions(&self, now: runhub_model::Timestamp) -> StoreResult<Vec<Subscription>>;
    /// Deletes the subscriptions expired at `now` and what they were still owed; how many.
    async fn remove_expired_subscriptions(&self, now: runhub_model::Timestamp) -> StoreResult<usize>;
    /// Where deriving notifications from the change log has got to; created at `start` (the
    /// earliest subscription's start position) the first time.
    async fn webhook_cursor(&self, start: u64) -> StoreResult<FanoutCursor>;
    /// Enqueues `batches` and moves the cursor from `expected` to `next`, atomically; `false` (and
    /// nothing written) when the cursor was not at `expected`.
    async fn enqueue_notifications(
        &self,
        expected: FanoutCursor,
        next: FanoutCursor,
        batches: Vec<OutboxBatch>,
        now: runhub_model::Timestamp,
    ) -> StoreResult<bool>;
    /// Leases up to `limit` due outbox rows until `lease_until`, none of the subscriptions in `skip`.
    async fn claim_deliveries(
        &self,
        now: runhub_model::Timestamp,
        lease_until: runhub_model::Timestamp,
        limit: u32,
        skip: &[Uuid],
    ) -> StoreResult<Vec<Delivery>>;
    /// Records how delivery attempts ended (`(outbox row, outcome)` each), in one transaction.
    async fn settle_deliveries(&self, outcomes: Vec<(i64, Settle)>, now: runhub_model::Timestamp) -> StoreResult<()>;
}

/// Opens the embedded SQLite store in `data_dir`.
pub async fn open(data_dir: &std::path::Path, options: sqlite::Options) -> StoreResult<Arc<dyn Store>> {
    Ok(Arc::new(sqlite::SqliteStore::open(data_dir, options).await?))
}

/// Opens the PostgreSQL store a `postgres://` URL names, applying its migrations.
pub async fn open_postgres(url: &str, options: postgres::Options) -> StoreResult<Arc<dyn Store>> {
    Ok(Arc::new(postgres::PgStore::open(url, options).await?))
}

/// Which migrations a database at schema version `current` still needs, of the `known` this build
/// ships (migration N is the Nth, 1-based); a database newer than this build is refused.
pub(crate) fn pending_migrations(current: i64, known: usize) -> StoreResult<std::ops::Range<usize>> {
    let Ok(applied) = usize::try_from(current) else {
        return Err(StoreError::Internal(format!("the database reports schema version {current}")));
    };
    if applied > known {
        return Err(StoreError::Internal(format!("the database is at schema version {current}, newer than this runhub knows ({known})")));
    }
    Ok(applied..known)
}
