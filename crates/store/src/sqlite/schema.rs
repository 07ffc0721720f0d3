//! Versioned migrations for the SQLite store, applied in order at start-up and recorded in
//! `PRAGMA user_version`.

use rusqlite::Connection;

use crate::{StoreError, StoreResult};

/// Migration N (1-based) is `MIGRATIONS[N - 1]`. Never edit one that has shipped; append.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);

-- Both flow kinds. Every row belongs to a tenant; every key starts with it.
CREATE TABLE processes (
    tenant           TEXT    NOT NULL,
    id               TEXT    NOT NULL,
    kind             INTEGER NOT NULL,   -- ProcessKind ordinal
    display_name     TEXT    NOT NULL,
    readiness_status INTEGER NOT NULL,   -- member order = sort order
    data_domain      INTEGER,
    recurrence_start INTEGER,            -- microseconds since the epoch, UTC
    recurrence_end   INTEGER,
    version          INTEGER NOT NULL,
    PRIMARY KEY (tenant, id)
) WITHOUT ROWID;
CREATE INDEX processes_by_name ON processes (tenant, kind, display_name, id);

-- Every run kind, runGroups included (they are runs too).
CREATE TABLE runs (
    tenant         TEXT    NOT NULL,
    id             TEXT    NOT NULL,
    kind           INTEGER NOT NULL,     -- RunKind ordinal
    display_name   TEXT    NOT NULL,
    start_time     INTEGER NOT NULL,     -- for a runGroup: the derived value
    end_time       INTEGER,
    status         INTEGER NOT NULL,
    blocking_error TEXT,                 -- publicError as JSON
    error_code     TEXT,                 -- blockingError/code etc., for $filter
    error_message  TEXT,
    error_target   TEXT,
    statistics     TEXT    NOT NULL,     -- the client's object, compact JSON
    process_id     TEXT,
    group_id       TEXT,
    version        INTEGER NOT NULL,
    own_start      INTEGER,              -- runGroup only: its own values and member counts
    own_end        INTEGER,
    own_status     INTEGER,
    member_counts  TEXT,
    PRIMARY KEY (tenant, id)
);
CREATE INDEX runs_by_start   ON runs (tenant, start_time DESC, id);
CREATE INDEX runs_by_status  ON runs (tenant, status, start_time DESC, id);
CREATE INDEX runs_by_process ON runs (tenant, process_id, start_time DESC, id);
CREATE INDEX runs_by_group   ON runs (tenant, group_id, start_time DESC, id);
CREATE INDEX runs_by_kind    ON runs (tenant, kind, start_time DESC, id);
"#,
    r#"
-- Partial indexes: most runs are in no group, and only runGroups are listed by kind, so every
-- other insert skips these two B-trees. The planner proves `kind = 2` from the literal the query
-- carries (kinds are inlined, never bound) and `group_id IS NOT NULL` from `group_id = ?`.
DROP INDEX runs_by_group;
DROP INDEX runs_by_kind;
CREATE INDEX runs_by_group ON runs (tenant, group_id, start_time DESC, id) WHERE group_id IS NOT NULL;
CREATE INDEX run_groups_by_start ON runs (tenant, start_time DESC, id) WHERE kind = 2;
"#,
    r#"
-- Run groups started on demand (rate limit) or by the scheduler, and the per-tenant
-- schedule row whose next_due a replica advances by compare-and-set to claim a scheduled run.
CREATE TABLE run_starts (
    tenant    TEXT    NOT NULL,
    at        INTEGER NOT NULL,          -- microseconds since the epoch, UTC
    group_id  TEXT    NOT NULL,
    scheduled INTEGER NOT NULL,          -- 1: by the scheduler, 0: on demand
    PRIMARY KEY (tenant, at, group_id)
);
CREATE TABLE run_schedules (
    tenant   TEXT    PRIMARY KEY,
    next_due INTEGER NOT NULL,           -- microseconds since the epoch, UTC
    skip_due INTEGER                     -- the due time an on-demand start made skip
);
"#,
    r#"
-- The change log (docs/change-tracking.md): one row per change of a run or process, written in the
-- change's own transaction. A row's position is its seq (one writer: seq order is commit order);
-- AUTOINCREMENT never hands out a seq again, even after pruning the newest rows.
CREATE TABLE changes (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    tenant     TEXT    NOT NULL,
    collection INTEGER NOT NULL,         -- 0 runs, 1 incomingFlows, 2 outgoingFlows
    id         TEXT    NOT NULL,
    kind       INTEGER NOT NULL,         -- RunKind / ProcessKind ordinal
    change     INTEGER NOT NULL,         -- 0 created, 1 updated, 2 deleted
    version    INTEGER NOT NULL,         -- after the change; a deletion's: the last one
    process_id TEXT,                     -- a run's process after the change
    moved_from TEXT,                     -- a run's process before a $ref change
    at         INTEGER NOT NULL          -- microseconds since the epoch, UTC (retention)
);
CREATE INDEX changes_by_collection ON changes (tenant, collection, seq);
-- Positions below this may have been pruned (one row).
CREATE TABLE change_horizon (
    one      INTEGER PRIMARY KEY,
    position INTEGER NOT NULL
);
"#,
    r#"
-- Operations (docs/operations.md). last_activity: when a run was created or last PATCHed (any
-- PATCH of a running run counts); the stale-run reaper finds running runs idle too long through
-- a small partial index over running runs only (status 0). Runs already running when this
-- migration runs count as active now. runs_by_end: finished runs by end, across tenants, for
-- retention (kind first, so runGroups are found apart from the flows' runs).
ALTER TABLE runs ADD COLUMN last_activity INTEGER;
UPDATE runs SET last_activity = CAST(strftime('%s', 'now') AS INTEGER) * 1000000 WHERE status = 0;
CREATE INDEX runs_running_by_activity ON runs (last_activity) WHERE status = 0;
CREATE INDEX runs_by_end ON runs (kind, end_time) WHERE end_time IS NOT NULL;
"#,
    r#"
-- Change notifications (docs/webhooks.md). changes.group_id: a run's group after the change, for
-- subscriptions on a group's runs. subscriptions: one row per subscription; start_position is the
-- change-log position it hears changes from. webhook_outbox: what is owed to receivers, one row per
-- POST (up to 100 notifications, or one 'missed' lifecycle event), written in the same transaction
-- that advances webhook_cursor (the log position up to which notifications are derived), so
-- nothing owed lives only in memory. A replica leases a row (lease_until) while it delivers it.
ALTER TABLE changes ADD COLUMN group_id TEXT;
CREATE TABLE subscriptions (
    id               TEXT    PRIMARY KEY,
    tenant           TEXT    NOT NULL,
    resource         TEXT    NOT NULL,
    change_types     INTEGER NOT NULL,  -- bits: 1 created, 2 updated, 4 deleted
    notification_url TEXT    NOT NULL,
    lifecycle_url    TEXT,
    client_state     TEXT,
    expiration       INTEGER NOT NULL,  -- microseconds since the epoch, UTC
    application_id   TEXT,
    creator_id       TEXT,
    start_position   INTEGER NOT NULL
);
CREATE INDEX subscriptions_by_tenant ON subscriptions (tenant);
CREATE TABLE webhook_outbox (
    seq             INTEGER PRIMARY KEY AUTOINCREMENT,
    subscription_id TEXT    NOT NULL,
    lifecycle       INTEGER NOT NULL,   -- 0 notifications (notificationUrl), 1 'missed' (lifecycleNotificationUrl)
    count           INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    next_at         INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    lease_until     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_at);
CREATE INDEX webhook_outbox_by_subscription ON webhook_outbox (subscription_id);
-- What each outbox row carries, apart from its delivery state (leases rewrite only the small row).
CREATE TABLE webhook_payloads (
    seq   INTEGER PRIMARY KEY,          -- webhook_outbox.seq
    items TEXT    NOT NULL              -- the notifications, compact (the server renders them)
);
CREATE TABLE webhook_cursor (
    one       INTEGER PRIMARY KEY,
    from_pos  INTEGER NOT NULL,
    to_pos    INTEGER,
    after_seq INTEGER
);
"#,
    r#"
-- Stored counts (docs/architecture.md, "Counts"), so that $count need not scan: delta rows, each
-- standing for n runs (or processes) with these values; a row's count is the sum of its key's rows.
-- Every write of a run or process row inserts its deltas in its own transaction; a background
-- task sums each key's rows into one. Backfilled here from the rows already stored.
CREATE TABLE run_counts (
    tenant     TEXT    NOT NULL,
    kind       INTEGER NOT NULL,         -- RunKind ordinal
    status     INTEGER NOT NULL,         -- RunStatus ordinal (a runGroup's derived status)
    process_id TEXT,                     -- NULL for a runGroup
    n          INTEGER NOT NULL
);
CREATE INDEX run_counts_by_key ON run_counts (tenant, process_id, kind, status, n);
CREATE TABLE process_counts (
    tenant TEXT    NOT NULL,
    kind   INTEGER NOT NULL,             -- ProcessKind ordinal
    n      INTEGER NOT NULL
);
CREATE INDEX process_counts_by_key ON process_counts (tenant, kind, n);
INSERT INTO run_counts (tenant, kind, status, process_id, n)
    SELECT tenant, kind, status, process_id, COUNT(*) FROM runs GROUP BY tenant, kind, status, process_id;
INSERT INTO process_counts (tenant, kind, n) SELECT tenant, kind, COUNT(*) FROM processes GROUP BY tenant, kind;
"#,
    r#"
-- The run-name index (docs/architecture.md, "Substring search"): runs' display names in an FTS5
-- trigram index (case-sensitive, like the filter functions), kept up to date by a background task
-- after writes commit. Every run with rowid <= through is indexed under its current name unless
-- its rowid is in run_names_stale; nothing past through is indexed. It starts empty and catches
-- up with the runs already stored in the background.
CREATE VIRTUAL TABLE run_names USING fts5(
    display_name, content = '', contentless_delete = 1, tokenize = 'trigram case_sensitive 1'
);
CREATE TABLE run_names_indexed (
    one     INTEGER PRIMARY KEY CHECK (one = 1),
    through INTEGER NOT NULL
);
INSERT INTO run_names_indexed (one, through) VALUES (1, 0);
CREATE TABLE run_names_stale (run INTEGER PRIMARY KEY);
"#,
];

/// How many migrations this build knows: the newest schema version it can open.
pub(crate) const KNOWN: usize = MIGRATIONS.len();

pub(crate) fn migrate(conn: &Connection) -> StoreResult<()> {
    let fail = |e: rusqlite::Error| StoreError::Internal(format!("migration failed: {e}"));
    let current: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).map_err(fail)?;
    for i in crate::pending_migrations(current, MIGRATIONS.len())? {
        let (sql, version) = (MIGRATIONS[i], i + 1);
        conn.execute_batch(&format!("BEGIN IMMEDIATE; {sql}; PRAGMA user_version = {version}; COMMIT;")).map_err(fail)?;
        tracing::info!(version, "applied migration");
    }
    Ok(())
}
