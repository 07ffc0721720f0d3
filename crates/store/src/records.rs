//! Rows ↔ domain values, once for every backend. A backend only hands out a row's cells; they are
//! read into a [`RunRecord`] / [`ProcessRecord`] (plain integers and strings, in [`RUN_COLUMNS`] /
//! [`PROCESS_COLUMNS`] order) and turned into runs and processes here ([`FromRow`]) — and runs and
//! processes into column values.

use runhub_model::{
    DisplayName, ErrorJson, GraphEnum, GroupFacts, IncomingDomain, MemberCounts, OwnTimes, Process, ProcessKind, ReadinessStatus, Run,
    RunKind, RunStatus, RunVariant, Statistics, Timestamp, Uuid,
};

use crate::StoreError;
use crate::tx::{FromRow, Row};

pub(crate) fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

/// The columns a run is read from, in [`RunRecord`] order.
pub(crate) const RUN_COLUMNS: [&str; 15] = [
    "id",
    "kind",
    "display_name",
    "start_time",
    "end_time",
    "status",
    "blocking_error",
    "statistics",
    "process_id",
    "group_id",
    "version",
    "own_start",
    "own_end",
    "own_status",
    "member_counts",
];

/// The columns a process is read from, in [`ProcessRecord`] order.
pub(crate) const PROCESS_COLUMNS: [&str; 8] =
    ["id", "kind", "display_name", "readiness_status", "data_domain", "recurrence_start", "recurrence_end", "version"];

/// One `runs` row as stored.
struct RunRecord {
    pub id: String,
    pub kind: i64,
    pub display_name: String,
    pub start_time: i64,
    pub end_time: Option<i64>,
    pub status: i64,
    pub blocking_error: Option<String>,
    pub statistics: String,
    pub process_id: Option<String>,
    pub group_id: Option<String>,
    pub version: i64,
    pub own_start: Option<i64>,
    pub own_end: Option<i64>,
    pub own_status: Option<i64>,
    pub member_counts: Option<String>,
}

/// One `processes` row as stored.
struct ProcessRecord {
    pub id: String,
    pub kind: i64,
    pub display_name: String,
    pub readiness_status: i64,
    pub data_domain: Option<i64>,
    pub recurrence_start: Option<i64>,
    pub recurrence_end: Option<i64>,
    pub version: i64,
}

fn uuid(text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|e| internal(format!("stored id '{text}' is not a UUID: {e}")))
}

fn status(n: i64) -> Result<RunStatus, StoreError> {
    RunStatus::from_ordinal(n).ok_or_else(|| internal(format!("stored status {n} is not a runStatus")))
}

pub(crate) fn counts_to_text(c: &MemberCounts) -> String {
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

impl FromRow for Run {
    fn from_row(mut row: Row) -> Result<Self, StoreError> {
        RunRecord {
            id: row.take()?,
            kind: row.take()?,
            display_name: row.take()?,
            start_time: row.take()?,
            end_time: row.take()?,
            status: row.take()?,
            blocking_error: row.take()?,
            statistics: row.take()?,
            process_id: row.take()?,
            group_id: row.take()?,
            version: row.take()?,
            own_start: row.take()?,
            own_end: row.take()?,
            own_status: row.take()?,
            member_counts: row.take()?,
        }
        .into_run()
    }
}

impl FromRow for Process {
    fn from_row(mut row: Row) -> Result<Self, StoreError> {
        ProcessRecord {
            id: row.take()?,
            kind: row.take()?,
            display_name: row.take()?,
            readiness_status: row.take()?,
            data_domain: row.take()?,
            recurrence_start: row.take()?,
            recurrence_end: row.take()?,
            version: row.take()?,
        }
        .into_process()
    }
}

impl RunRecord {
    fn into_run(self) -> Result<Run, StoreError> {
        let kind = RunKind::from_ordinal(self.kind).ok_or_else(|| internal(format!("stored run kind {} is unknown", self.kind)))?;
        let variant = match kind.process_kind() {
            Some(flow) => RunVariant::FlowRun {
                flow,
                process_id: uuid(self.process_id.as_deref().ok_or_else(|| internal(format!("flow run {} has no process", self.id)))?)?,
                group_id: self.group_id.map(|t| uuid(&t)).transpose()?,
            },
            None => RunVariant::RunGroup(GroupFacts {
                own: OwnTimes {
                    start: Timestamp::from_micros(self.own_start.unwrap_or(self.start_time)),
                    end: self.own_end.map(Timestamp::from_micros),
                    status: status(self.own_status.unwrap_or(self.status))?,
                },
                members: counts_from_text(self.member_counts.as_deref().unwrap_or("")),
            }),
        };
        Ok(Run {
            id: uuid(&self.id)?,
            variant,
            display_name: DisplayName::from_stored(self.display_name),
            start: Timestamp::from_micros(self.start_time),
            end: self.end_time.map(Timestamp::from_micros),
            status: status(self.status)?,
            blocking_error: self.blocking_error.and_then(ErrorJson::from_stored),
            statistics: Statistics::from_stored(self.statistics),
            version: self.version,
        })
    }
}

impl ProcessRecord {
    fn into_process(self) -> Result<Process, StoreError> {
        Ok(Process {
            id: uuid(&self.id)?,
            kind: ProcessKind::from_ordinal(self.kind).ok_or_else(|| internal(format!("stored process kind {} is unknown", self.kind)))?,
            display_name: DisplayName::from_stored(self.display_name),
            readiness_status: ReadinessStatus::from_ordinal(self.readiness_status)
                .ok_or_else(|| internal(format!("stored readinessStatus {} is unknown", self.readiness_status)))?,
            data_domain: self.data_domain.and_then(IncomingDomain::from_ordinal),
            recurrence_start: self.recurrence_start.map(Timestamp::from_micros),
            recurrence_end: self.recurrence_end.map(Timestamp::from_micros),
            version: self.version,
        })
    }
}

/// The column values a run is saved as: `(column, value)` in table order, `tenant` excluded.
pub(crate) fn run_values(run: &Run) -> Vec<(&'static str, sea_query::Value)> {
    // The fields a filter can test are stored beside the error's JSON.
    let error = run.blocking_error.as_ref().map(|e| e.error());
    let error = error.as_ref();
    vec![
        ("id", run.id.to_string().into()),
        ("kind", run.kind().ordinal().into()),
        ("display_name", run.display_name.as_str().to_owned().into()),
        ("start_time", run.start.micros().into()),
        ("end_time", run.end.map(Timestamp::micros).into()),
        ("status", run.status.ordinal().into()),
        ("blocking_error", run.blocking_error.as_ref().map(|e| e.as_json().to_owned()).into()),
        ("statistics", run.statistics.as_json().into()),
        ("process_id", run.process_id().map(|p| p.to_string()).into()),
        ("group_id", run.group_id().map(|g| g.to_string()).into()),
        ("version", run.version.into()),
        ("own_start", run.group().map(|g| g.own.start.micros()).into()),
        ("own_end", run.group().and_then(|g| g.own.end.map(Timestamp::micros)).into()),
        ("own_status", run.group().map(|g| g.own.status.ordinal()).into()),
        ("member_counts", run.group().map(|g| counts_to_text(&g.members)).into()),
        ("error_code", error.and_then(|e| e.code.clone()).into()),
        ("error_message", error.and_then(|e| e.message.clone()).into()),
        ("error_target", error.and_then(|e| e.target.clone()).into()),
    ]
}

/// The column values a process is saved as, `tenant` excluded.
pub(crate) fn process_values(p: &Process) -> Vec<(&'static str, sea_query::Value)> {
    vec![
        ("id", p.id.to_string().into()),
        ("kind", p.kind.ordinal().into()),
        ("display_name", p.display_name.as_str().to_owned().into()),
        ("readiness_status", p.readiness_status.ordinal().into()),
        ("data_domain", p.data_domain.map(|d| d.ordinal()).into()),
        ("recurrence_start", p.recurrence_start.map(Timestamp::micros).into()),
        ("recurrence_end", p.recurrence_end.map(Timestamp::micros).into()),
        ("version", p.version.into()),
    ]
}
