//! Versioned migrations for the PostgreSQL store, applied in order at start-up and recorded in the
//! `runhub_migrations` table (one row per applied version). Replicas starting at the same moment
//! take turns through a transaction-scoped advisory lock, so each migration runs exactly once.
//!
//! The schema is the SQLite store's (`../sqlite/schema.rs`): tenant first in every key, times as
//! integer microseconds, enums as their ordinals. Every text column is `COLLATE "C"`, so that
//! comparison and ordering are by code point, as in SQLite.

use tokio_postgres::Client;

use crate::{StoreError, StoreResult};

/// Migration N (1-based) is `MIGRATIONS[N - 1]`. Never edit one that has shipped; append.
const MIGRATIONS: &[&str] = &[
    r#"
-- OData's tolower/toupper fold all of Unicode, with Unicode's full case mappings (as Rust's
-- str::to_lowercase does for the SQLite store). Under COLLATE "C" PostgreSQL's lower()/upper()
-- fold ASCII only, so the case functions run under this ICU root collation (see filter_sql.rs).
CREATE COLLATION runhub_fold (provider = icu, locale = 'und');

CREATE TABLE meta (
    key   TEXT COLLATE "C" PRIMARY KEY,
    value BYTEA NOT NULL
);

-- Both flow kinds. Every row belongs to a tenant; every key starts with it.
CREATE TABLE processes (
    tenant           TEXT COLLATE "C" NOT NULL,
    id               TEXT COLLATE "C" NOT NULL,
    kind             BIGINT NOT NULL,    -- ProcessKind ordinal
    display_name     TEXT COLLATE "C" NOT NULL,
    readiness_status BIGINT NOT NULL,    -- member order = sort order
    data_domain      BIGINT,
    recurrence_start BIGINT,             -- microseconds since the epoch, UTC
    recurrence_end   BIGINT,
    version          BIGINT NOT NULL,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX processes_by_name ON processes (tenant, kind, display_name, id);

-- Every run kind, runGroups included (they are runs too).
CREATE TABLE runs (
    tenant         TEXT COLLATE "C" NOT NULL,
    id             TEXT COLLATE "C" NOT NULL,
    kind           BIGINT NOT NULL,      -- RunKind ordinal
    display_name   TEXT COLLATE "C" NOT NULL,
    start_time     BIGINT NOT NULL,      -- for a runGroup: the derived value
    end_time       BIGINT,
    status         BIGINT NOT NULL,
    blocking_error TEXT COLLATE "C",     -- publicError as JSON
    error_code     TEXT COLLATE "C",     -- blockingError/code etc., for $filter
    error_message  TEXT COLLATE "C",
    error_target   TEXT COLLATE "C",
    statistics     TEXT COLLATE "C" NOT NULL,  -- the client's object, compact JSON, kept verbatim
    process_id     TEXT COLLATE "C",
    group_id       TEXT COLLATE "C",
    version        BIGINT NOT NULL,
    own_start      BIGINT,               -- runGroup only: its own values and member counts
    own_end        BIGINT,
    own_status     BIGINT,
    member_counts  TEXT COLLATE "C",
    PRIMARY KEY (tenant, id)
);
CREATE INDEX runs_by_start   ON runs (tenant, start_time DESC, id);
CREATE INDEX runs_by_status  ON runs (tenant, status, start_time DESC, id);
CREATE INDEX runs_by_process ON runs (tenant, process_id, start_time DESC, id);
-- Partial indexes, as in the SQLite store's migration 2: most runs are in no group, and only
-- runGroups are listed by kind (kinds are inlined as literals, so the planner can match them).
CREATE INDEX runs_by_group   ON runs (tenant, group_id, start_time DESC, id) WHERE group_id IS NOT NULL;
CREATE INDEX run_groups_by_start ON runs (tenant, start_time DESC, id) WHERE kind = 2;

-- The SQLite store's migration 3: run groups started on demand (rate limit) or by the
-- scheduler, and the per-tenant schedule row whose next_due a replica advances by compare-and-set
-- to claim a scheduled run.
CREATE TABLE run_starts (
    tenant    TEXT COLLATE "C" NOT NULL,
    at        BIGINT NOT NULL,           -- microseconds since the epoch, UTC
    group_id  TEXT COLLATE "C" NOT NULL,
    scheduled BIGINT NOT NULL,           -- 1: by the scheduler, 0: on demand
    PRIMARY KEY (tenant, at, group_id)
);
CREATE TABLE run_schedules (
    tenant   TEXT COLLATE "C" PRIMARY KEY,
    next_due BIGINT NOT NULL,            -- microseconds since the epoch, UTC
    skip_due BIGINT                      -- the due time an on-demand start made skip
);
"#,
    r#"
-- The change log (docs/change-tracking.md; the SQLite store's migration 4). A row's position is
-- the id of the transaction that wrote it (xid): readers hand out only positions below the
-- oldest transaction still in flight, so a transaction that commits late is never skipped.
CREATE TABLE changes (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    xid        BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    tenant     TEXT COLLATE "C" NOT NULL,
    collection BIGINT NOT NULL,          -- 0 runs, 1 incomingFlows, 2 outgoingFlows
    id         TEXT COLLATE "C" NOT NULL,
    kind       BIGINT NOT NULL,          -- RunKind / ProcessKind ordinal
    change     BIGINT NOT NULL,          -- 0 created, 1 updated, 2 deleted
    version    BIGINT NOT NULL,          -- after the change; a deletion's: the last one
    process_id TEXT COLLATE "C",         -- a run's process after the change
    moved_from TEXT COLLATE "C",         -- a run's process before a $ref change
    at         BIGINT NOT NULL           -- microseconds since the epoch, UTC (retention)
);
CREATE INDEX changes_by_collection ON changes (tenant, collection, xid);
CREATE INDEX changes_by_position ON changes (xid, seq);
CREATE TABLE change_horizon (
    one      BIGINT PRIMARY KEY,
    position BIGINT NOT NULL
);
"#,
    r#"
-- Operations (the SQLite store's migration 5; docs/operations.md): when a run was created or last
-- PATCHed, for the stale-run reaper (a partial index over running runs only), and finished runs
-- by end across tenants, for retention.
ALTER TABLE runs ADD COLUMN last_activity BIGINT;
UPDATE runs SET last_activity = (extract(epoch FROM now()) * 1000000)::bigint WHERE status = 0;
CREATE INDEX runs_running_by_activity ON runs (last_activity) WHERE status = 0;
CREATE INDEX runs_by_end ON runs (kind, end_time) WHERE end_time IS NOT NULL;
"#,
    r#"
-- Change notifications (docs/webhooks.md); the SQLite migration 6 explains each table.
ALTER TABLE changes ADD COLUMN group_id TEXT COLLATE "C";
CREATE TABLE subscriptions (
    id               TEXT COLLATE "C" PRIMARY KEY,
    tenant           TEXT COLLATE "C" NOT NULL,
    resource         TEXT NOT NULL,
    change_types     BIGINT NOT NULL,
    notification_url TEXT NOT NULL,
    lifecycle_url    TEXT,
    client_state     TEXT,
    expiration       BIGINT NOT NULL,
    application_id   TEXT,
    creator_id       TEXT,
    start_position   BIGINT NOT NULL
);
CREATE INDEX subscriptions_by_tenant ON subscriptions (tenant);
CREATE TABLE webhook_outbox (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscription_id TEXT COLLATE "C" NOT NULL,
    lifecycle       BIGINT NOT NULL,
    count           BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    next_at         BIGINT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    lease_until     BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_at);
CREATE INDEX webhook_outbox_by_subscription ON webhook_outbox (subscription_id);
CREATE TABLE webhook_payloads (
    seq   BIGINT PRIMARY KEY,
    items TEXT NOT NULL
);
CREATE TABLE webhook_cursor (
    one       BIGINT PRIMARY KEY,
    from_pos  BIGINT NOT NULL,
    to_pos    BIGINT,
    after_seq BIGINT
);
"#,
    r#"
-- Substring search on run names (docs/api.md, "Substring search"): a trigram index (contrib's
-- pg_trgm) that `display_name LIKE '%…%'` can use. The extension is created in `public` when the
-- role may; where it may not, substring filters scan the runs as before (same results, slower).
DO $$
BEGIN
    CREATE EXTENSION IF NOT EXISTS pg_trgm SCHEMA public;
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'pg_trgm is not available (%); substring filters on displayName will scan', SQLERRM;
END $$;
DO $$
DECLARE
    trgm_schema TEXT := (SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pg_trgm');
BEGIN
    IF trgm_schema IS NOT NULL THEN
        EXECUTE format('CREATE INDEX runs_by_name_trigrams ON runs USING gin (display_name %s.gin_trgm_ops)', trgm_schema);
    END IF;
END $$;
"#,
    r#"
-- Stored counts (the SQLite store's migration of the same name explains them): delta rows that
-- writers only ever insert, so concurrent writes of one flow's runs never wait for a shared
-- counter row; backfilled here from the rows already stored.
CREATE TABLE run_counts (
    tenant     TEXT COLLATE "C" NOT NULL,
    kind       BIGINT NOT NULL,
    status     BIGINT NOT NULL,
    process_id TEXT COLLATE "C",
    n          BIGINT NOT NULL
);
CREATE INDEX run_counts_by_key ON run_counts (tenant, process_id, kind, status, n);
CREATE TABLE process_counts (
    tenant TEXT COLLATE "C" NOT NULL,
    kind   BIGINT NOT NULL,
    n      BIGINT NOT NULL
);
CREATE INDEX process_counts_by_key ON process_counts (tenant, kind, n);
INSERT INTO run_counts (tenant, kind, status, process_id, n)
    SELECT tenant, kind, status, process_id, COUNT(*) FROM runs GROUP BY tenant, kind, status, process_id;
INSERT INTO process_counts (tenant, kind, n) SELECT tenant, kind, COUNT(*) FROM processes GROUP BY tenant, kind;
"#,
];

/// How many migrations this build knows: the newest schema version it makes.
pub const KNOWN: usize = MIGRATIONS.len();

/// An arbitrary constant naming runhub's migration lock among the database's advisory locks.
const MIGRATION_LOCK: i64 = 0x7275_6e68_7562; // "runhub"

pub(crate) async fn migrate(client: &mut Client) -> StoreResult<()> {
    let fail = |e: tokio_postgres::Error| StoreError::Internal(format!("migration failed: {}", super::describe(&e)));
    let tx = client.transaction().await.map_err(super::classify_plain)?;
    // Taken first, so that even creating the bookkeeping table happens once among racing replicas.
    tx.query("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(super::classify_plain)?;
    tx.batch_execute(
        "CREATE TABLE IF NOT EXISTS runhub_migrations (
             version    INTEGER PRIMARY KEY,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )",
    )
    .await
    .map_err(fail)?;
    let current: i32 = tx.query_one("SELECT COALESCE(MAX(version), 0) FROM runhub_migrations", &[]).await.map_err(fail)?.get(0);
    for i in crate::pending_migrations(i64::from(current), MIGRATIONS.len())? {
        let (sql, version) = (MIGRATIONS[i], i32::try_from(i + 1).map_err(|e| StoreError::Internal(e.to_string()))?);
        tx.batch_execute(sql).await.map_err(fail)?;
        tx.execute("INSERT INTO runhub_migrations (version) VALUES ($1)", &[&version]).await.map_err(fail)?;
        tracing::info!(version, "applied PostgreSQL migration");
    }
    tx.commit().await.map_err(fail)
}
