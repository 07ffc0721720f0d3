//! Rows ↔ domain values, and the statements that read and write single rows.

use runhub_model::{
    DisplayName, GraphEnum, GroupFacts, IncomingDomain, MemberCounts, OwnTimes, Process, ProcessKind, PublicError,
    ReadinessStatus, Run, RunKind, RunStatus, Statistics, TenantId, Timestamp, Uuid,
};
use std::sync::LazyLock;

use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::{StoreError, StoreResult};

pub(crate) fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

pub(crate) const RUN_COLUMNS: [&str; 15] = [
    "id", "kind", "display_name", "start_time", "end_time", "status", "blocking_error", "statistics", "process_id",
    "group_id", "version", "own_start", "own_end", "own_status", "member_counts",
];

pub(crate) const PROCESS_COLUMNS: [&str; 8] =
    ["id", "kind", "display_name", "readiness_status", "data_domain", "recurrence_start", "recurrence_end", "version"];

fn uuid(text: &str) -> rusqlite::Result<Uuid> {
    Uuid::parse_str(text).map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

fn bad(what: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Integer, format!("bad {what}").into())
}

fn status(n: i64) -> rusqlite::Result<RunStatus> {
    RunStatus::from_ordinal(n).ok_or_else(|| bad("status"))
}

fn counts_to_text(c: &MemberCounts) -> String {
    format!("{},{},{},{},{},{}", c.total, c.running, c.failed, c.completed, c.completed_with_errors, c.completed_with_warnings)
}

fn counts_from_text(text: &str) -> MemberCounts {
    let n: Vec<i64> = text.split(',').map(|p| p.parse().unwrap_or(0)).collect();
    let at = |i: usize| n.get(i).copied().unwrap_or(0);
    MemberCounts {
        total: at(0),
        running: at(1),
        failed: at(2),
        completed: at(3),
        completed_with_errors: at(4),
        completed_with_warnings: at(5),
    }
}

pub(crate) fn run_from_row(row: &Row<'_>) -> rusqlite::Result<Run> {
    let kind = RunKind::from_ordinal(row.get(1)?).ok_or_else(|| bad("run kind"))?;
    let group = if kind == RunKind::RunGroup {
        Some(GroupFacts {
            own: OwnTimes {
                start: Timestamp::from_micros(row.get(11)?),
                end: row.get::<_, Option<i64>>(12)?.map(Timestamp::from_micros),
                status: status(row.get(13)?)?,
            },
            members: counts_from_text(&row.get::<_, String>(14)?),
        })
    } else {
        None
    };
    Ok(Run {
        id: uuid(&row.get::<_, String>(0)?)?,
        kind,
        display_name: DisplayName::from_stored(row.get(2)?),
        start: Timestamp::from_micros(row.get(3)?),
        end: row.get::<_, Option<i64>>(4)?.map(Timestamp::from_micros),
        status: status(row.get(5)?)?,
        blocking_error: row.get::<_, Option<String>>(6)?.and_then(|t| PublicError::from_stored(&t)),
        statistics: Statistics::from_stored(&row.get::<_, String>(7)?),
        process_id: row.get::<_, Option<String>>(8)?.map(|t| uuid(&t)).transpose()?,
        group_id: row.get::<_, Option<String>>(9)?.map(|t| uuid(&t)).transpose()?,
        version: row.get(10)?,
        group,
    })
}

pub(crate) fn process_from_row(row: &Row<'_>) -> rusqlite::Result<Process> {
    Ok(Process {
        id: uuid(&row.get::<_, String>(0)?)?,
        kind: ProcessKind::from_ordinal(row.get(1)?).ok_or_else(|| bad("process kind"))?,
        display_name: DisplayName::from_stored(row.get(2)?),
        readiness_status: ReadinessStatus::from_ordinal(row.get(3)?).ok_or_else(|| bad("readiness"))?,
        data_domain: row.get::<_, Option<i64>>(4)?.and_then(IncomingDomain::from_ordinal),
        recurrence_start: row.get::<_, Option<i64>>(5)?.map(Timestamp::from_micros),
        recurrence_end: row.get::<_, Option<i64>>(6)?.map(Timestamp::from_micros),
        version: row.get(7)?,
    })
}

// The statements below are built once: they sit on the hot path of every write.
static LOAD_RUN: LazyLock<String> = LazyLock::new(|| format!("SELECT {} FROM runs WHERE tenant = ?1 AND id = ?2", RUN_COLUMNS.join(", ")));
static LOAD_PROCESS: LazyLock<String> =
    LazyLock::new(|| format!("SELECT {} FROM processes WHERE tenant = ?1 AND id = ?2", PROCESS_COLUMNS.join(", ")));

pub(crate) fn load_run(conn: &Connection, tenant: &TenantId, id: Uuid) -> StoreResult<Option<Run>> {
    conn.prepare_cached(&LOAD_RUN)
        .and_then(|mut s| s.query_row(params![tenant.as_str(), id.to_string()], run_from_row).optional())
        .map_err(internal)
}

pub(crate) fn load_process(conn: &Connection, tenant: &TenantId, id: Uuid) -> StoreResult<Option<Process>> {
    conn.prepare_cached(&LOAD_PROCESS)
        .and_then(|mut s| s.query_row(params![tenant.as_str(), id.to_string()], process_from_row).optional())
        .map_err(internal)
}

/// `SET col = excluded.col, …` for an upsert: an existing row is updated in place, so only the
/// indexes whose columns changed are touched (`INSERT OR REPLACE` would delete and re-insert).
fn upsert_set(columns: &[&str]) -> String {
    columns.iter().filter(|c| **c != "id").map(|c| format!("{c} = excluded.{c}")).collect::<Vec<_>>().join(", ")
}

/// Inserts a run, or updates the whole row of an existing one.
pub(crate) fn save_run(conn: &Connection, tenant: &TenantId, run: &Run) -> StoreResult<()> {
    static SAVE_RUN: LazyLock<String> = LazyLock::new(|| format!(
        "INSERT INTO runs (tenant, {}, error_code, error_message, error_target) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19) \
         ON CONFLICT (tenant, id) DO UPDATE SET {}, error_code = excluded.error_code, \
         error_message = excluded.error_message, error_target = excluded.error_target",
        RUN_COLUMNS.join(", "),
        upsert_set(&RUN_COLUMNS)
    ));
    let error = run.blocking_error.as_ref();
    conn.prepare_cached(&SAVE_RUN)
        .and_then(|mut s| {
            s.execute(params![
                tenant.as_str(),
                run.id.to_string(),
                run.kind.ordinal(),
                run.display_name.as_str(),
                run.start.micros(),
                run.end.map(Timestamp::micros),
                run.status.ordinal(),
                error.map(PublicError::to_json),
                run.statistics.to_json(),
                run.process_id.map(|p| p.to_string()),
                run.group_id.map(|g| g.to_string()),
                run.version,
                run.group.map(|g| g.own.start.micros()),
                run.group.and_then(|g| g.own.end.map(Timestamp::micros)),
                run.group.map(|g| g.own.status.ordinal()),
                run.group.map(|g| counts_to_text(&g.members)),
                error.and_then(|e| e.code.clone()),
                error.and_then(|e| e.message.clone()),
                error.and_then(|e| e.target.clone()),
            ])
        })
        .map(|_| ())
        .map_err(internal)
}

pub(crate) fn save_process(conn: &Connection, tenant: &TenantId, p: &Process) -> StoreResult<()> {
    static SAVE_PROCESS: LazyLock<String> = LazyLock::new(|| format!(
        "INSERT INTO processes (tenant, {}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
         ON CONFLICT (tenant, id) DO UPDATE SET {}",
        PROCESS_COLUMNS.join(", "),
        upsert_set(&PROCESS_COLUMNS)
    ));
    conn.prepare_cached(&SAVE_PROCESS)
        .and_then(|mut s| {
            s.execute(params![
                tenant.as_str(),
                p.id.to_string(),
                p.kind.ordinal(),
                p.display_name.as_str(),
                p.readiness_status.ordinal(),
                p.data_domain.map(|d| d.ordinal()),
                p.recurrence_start.map(Timestamp::micros),
                p.recurrence_end.map(Timestamp::micros),
                p.version,
            ])
        })
        .map(|_| ())
        .map_err(internal)
}
