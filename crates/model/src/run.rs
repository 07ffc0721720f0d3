//! Runs and their lifecycle.

use crate::Code;
use uuid::Uuid;

use crate::enums::RunStatus;
use crate::error::FieldError;
use crate::process::ProcessKind;
use crate::public_error::ErrorJson;
use crate::statistics::Statistics;
use crate::text::DisplayName;
use crate::time::Timestamp;

/// The concrete run types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RunKind {
    IncomingFlowRun,
    OutgoingFlowRun,
    RunGroup,
}

impl RunKind {
    pub const ALL: [RunKind; 3] = [RunKind::IncomingFlowRun, RunKind::OutgoingFlowRun, RunKind::RunGroup];

    /// The unqualified OData type name.
    pub fn type_name(self) -> &'static str {
        match self {
            RunKind::IncomingFlowRun => "incomingFlowRun",
            RunKind::OutgoingFlowRun => "outgoingFlowRun",
            RunKind::RunGroup => "runGroup",
        }
    }

    pub fn from_type_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.type_name() == name)
    }

    /// The kind of process a run of this kind must point to; `None` for runGroups, which have none.
    pub fn process_kind(self) -> Option<ProcessKind> {
        match self {
            RunKind::IncomingFlowRun => Some(ProcessKind::IncomingFlow),
            RunKind::OutgoingFlowRun => Some(ProcessKind::OutgoingFlow),
            RunKind::RunGroup => None,
        }
    }

    /// The run kind a process of `kind` causes.
    pub fn for_process(kind: ProcessKind) -> Self {
        match kind {
            ProcessKind::IncomingFlow => RunKind::IncomingFlowRun,
            ProcessKind::OutgoingFlow => RunKind::OutgoingFlowRun,
        }
    }

    pub fn ordinal(self) -> i64 {
        self as i64
    }

    pub fn from_ordinal(n: i64) -> Option<Self> {
        Self::ALL.get(usize::try_from(n).ok()?).copied()
    }
}

/// How many member runs a runGroup has, by status: the server-owned `statistics.memberRuns`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemberCounts {
    pub total: i64,
    pub running: i64,
    pub failed: i64,
    pub completed: i64,
    pub completed_with_errors: i64,
    pub completed_with_warnings: i64,
}

impl MemberCounts {
    pub fn add(&mut self, status: RunStatus, n: i64) {
        self.total += n;
        *match status {
            RunStatus::Running => &mut self.running,
            RunStatus::Failed => &mut self.failed,
            RunStatus::Completed => &mut self.completed,
            RunStatus::CompletedWithErrors => &mut self.completed_with_errors,
            RunStatus::CompletedWithWarnings => &mut self.completed_with_warnings,
        } += n;
    }

    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "total": self.total,
            "running": self.running,
            "failed": self.failed,
            "completed": self.completed,
            "completedWithErrors": self.completed_with_errors,
            "completedWithWarnings": self.completed_with_warnings,
        })
    }

    /// The status a group with these members has; `None` without members.
    pub fn derived_status(&self) -> Option<RunStatus> {
        if self.total == 0 {
            None
        } else if self.running > 0 {
            Some(RunStatus::Running)
        } else if self.failed > 0 {
            Some(RunStatus::Failed)
        } else if self.completed_with_errors > 0 {
            Some(RunStatus::CompletedWithErrors)
        } else if self.completed_with_warnings > 0 {
            Some(RunStatus::CompletedWithWarnings)
        } else {
            Some(RunStatus::Completed)
        }
    }
}

/// What the store aggregates over a group's members to derive the group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MemberSummary {
    pub counts: MemberCounts,
    pub earliest_start: Option<Timestamp>,
    pub latest_end: Option<Timestamp>,
}

/// The values a runGroup holds of its own: what it shows while it has no members.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OwnTimes {
    pub start: Timestamp,
    pub end: Option<Timestamp>,
    pub status: RunStatus,
}

/// A runGroup's own values and its members, from which its visible values derive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupFacts {
    pub own: OwnTimes,
    pub members: MemberCounts,
}

/// What a run has by its kind: a flow run was caused by a flow and may belong to a runGroup; a
/// runGroup has values of its own and member counts, and belongs to no group (groups do not nest).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RunVariant {
    /// An incomingFlowRun or outgoingFlowRun.
    FlowRun {
        flow: ProcessKind,
        process_id: Uuid,
        group_id: Option<Uuid>,
    },
    RunGroup(GroupFacts),
}

/// A stored run of any kind. For a runGroup, `start`/`end`/`status` are the derived values.
#[derive(Debug, Clone, PartialEq)]
pub struct Run {
    pub id: Uuid,
    pub variant: RunVariant,
    pub display_name: DisplayName,
    pub start: Timestamp,
    pub end: Option<Timestamp>,
    pub status: RunStatus,
    pub blocking_error: Option<ErrorJson>,
    pub statistics: Statistics,
    /// Bumped on every change, including a group's derived values; rendered as the eTag.
    pub version: i64,
}

/// A run as a create request describes it (the server resolves `process@odata.bind` to `process_id`).
#[derive(Debug, Clone, PartialEq)]
pub struct NewRun {
    pub kind: RunKind,
    pub display_name: DisplayName,
    pub start: Option<Timestamp>,
    pub end: Option<Timestamp>,
    pub status: Option<RunStatus>,
    pub blocking_error: Option<ErrorJson>,
    pub statistics: Option<Statistics>,
}

/// The members a PATCH sets; `Some(None)` clears a nullable member.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunPatch {
    /// `@odata.type` as sent, if any: it must name the run's own kind.
    pub kind: Option<RunKind>,
    pub display_name: Option<DisplayName>,
    pub start: Option<Timestamp>,
    pub end: Option<Option<Timestamp>>,
    pub status: Option<RunStatus>,
    pub blocking_error: Option<Option<ErrorJson>>,
    pub statistics: Option<Statistics>,
}

const MEMBER_RUNS: &str = "memberRuns";

/// The body member that names a flow run's flow.
pub const PROCESS_BIND: &str = "process@odata.bind";

fn nested_group(target: &str, code: Code) -> FieldError {
    FieldError::new(target, code, "a runGroup cannot be a member of another runGroup")
}

fn end_before_start(end: Timestamp, start: Timestamp) -> FieldError {
    FieldError::new("endDateTime", Code::EndBeforeStart, format!("'endDateTime' ({end}) is before 'startDateTime' ({start})"))
}

fn end_while_running() -> FieldError {
    FieldError::new(
        "endDateTime",
        Code::EndDateTimeWhileRunning,
        "'endDateTime' cannot be set on a run whose status is 'running'; it is set when the run finishes",
    )
}

fn check_group_statistics(kind: RunKind, statistics: Option<&Statistics>) -> Result<(), FieldError> {
    if kind == RunKind::RunGroup && statistics.is_some_and(|s| s.contains_key(MEMBER_RUNS)) {
        return Err(FieldError::new(
            "statistics/memberRuns",
            Code::ReadOnlyProperty,
            "'statistics/memberRuns' of a runGroup is owned by the server and cannot be set",
        ));
    }
    Ok(())
}

impl NewRun {
    /// Refuses a runGroup as a member of a runGroup (groups do not nest).
    pub fn check_can_join_group(&self) -> Result<(), FieldError> {
        if self.kind == RunKind::RunGroup { Err(nested_group("@odata.type", Code::InvalidType)) } else { Ok(()) }
    }

    /// Applies the create rules: status defaults to running, start to now — or to the
    /// given end when that is earlier, so a client whose clock runs a little behind the server's can
    /// say "it ended now" without the run ending before it started; a run created in a terminal status
    /// ends at the later of now and its start unless told otherwise.
    pub fn into_run(self, id: Uuid, process_id: Option<Uuid>, group_id: Option<Uuid>, now: Timestamp) -> Result<Run, FieldError> {
        check_group_statistics(self.kind, self.statistics.as_ref())?;
        let status = self.status.unwrap_or(RunStatus::Running);
        let start = self.start.unwrap_or_else(|| self.end.map_or(now, |end| end.min(now)));
        let end = match (status.is_terminal(), self.end) {
            (false, Some(_)) => return Err(end_while_running()),
            (false, None) => None,
            (true, Some(end)) => Some(end),
            (true, None) => Some(now.max(start)),
        };
        if let Some(end) = end.filter(|e| *e < start) {
            return Err(end_before_start(end, start));
        }
        let variant = match (self.kind.process_kind(), process_id) {
            (Some(flow), Some(process_id)) => RunVariant::FlowRun { flow, process_id, group_id },
            (Some(_), None) => {
                return Err(FieldError::new(
                    PROCESS_BIND,
                    Code::MissingProperty,
                    format!("a {} needs '{PROCESS_BIND}': the URL of the process that caused it", self.kind.type_name()),
                ));
            }
            (None, _) if group_id.is_some() => return Err(nested_group("@odata.type", Code::InvalidType)),
            (None, _) => RunVariant::RunGroup(GroupFacts { own: OwnTimes { start, end, status }, members: MemberCounts::default() }),
        };
        Ok(Run {
            id,
            variant,
            display_name: self.display_name,
            start,
            end,
            status,
            blocking_error: self.blocking_error,
            statistics: self.statistics.unwrap_or_default(),
            version: 1,
        })
    }
}

impl Run {
    pub fn kind(&self) -> RunKind {
        match self.variant {
            RunVariant::FlowRun { flow, .. } => RunKind::for_process(flow),
            RunVariant::RunGroup(_) => RunKind::RunGroup,
        }
    }

    /// The flow that caused it (flow runs).
    pub fn process_id(&self) -> Option<Uuid> {
        match self.variant {
            RunVariant::FlowRun { process_id, .. } => Some(process_id),
            RunVariant::RunGroup(_) => None,
        }
    }

    /// The runGroup it belongs to (flow runs).
    pub fn group_id(&self) -> Option<Uuid> {
        match self.variant {
            RunVariant::FlowRun { group_id, .. } => group_id,
            RunVariant::RunGroup(_) => None,
        }
    }

    /// A runGroup's own values and member counts.
    pub fn group(&self) -> Option<&GroupFacts> {
        match &self.variant {
            RunVariant::RunGroup(facts) => Some(facts),
            RunVariant::FlowRun { .. } => None,
        }
    }

    fn has_members(&self) -> bool {
        self.group().is_some_and(|g| g.members.total > 0)
    }

    /// Refuses to re-point a runGroup's process: it has none.
    pub fn check_repointable(&self) -> Result<(), FieldError> {
        self.repoint_process(self.id).map(|_| ())
    }

    /// The next version, pointing at another flow (`process/$ref`).
    pub fn repoint_process(&self, to: Uuid) -> Result<Run, FieldError> {
        let RunVariant::FlowRun { flow, group_id, .. } = self.variant else {
            return Err(FieldError::new("@odata.id", Code::InvalidBinding, "a runGroup has no process to re-point"));
        };
        Ok(Run { variant: RunVariant::FlowRun { flow, process_id: to, group_id }, version: self.version + 1, ..self.clone() })
    }

    /// The next version, a member of `group`; `None` when it already is one. A run belongs to at
    /// most one group, and a runGroup to none.
    pub fn join_group(&self, group: Uuid) -> Result<Option<Run>, FieldError> {
        let RunVariant::FlowRun { flow, process_id, group_id } = self.variant else {
            return Err(nested_group("@odata.id", Code::InvalidBinding));
        };
        match group_id {
            Some(g) if g == group => Ok(None),
            Some(g) => Err(FieldError::new(
                "@odata.id",
                Code::RunAlreadyInGroup,
                format!("run '{}' already belongs to runGroup '{g}'; a run belongs to at most one group", self.id),
            )),
            None => Ok(Some(Run {
                variant: RunVariant::FlowRun { flow, process_id, group_id: Some(group) },
                version: self.version + 1,
                ..self.clone()
            })),
        }
    }

    /// The next version, in no group.
    pub fn leave_group(&self) -> Run {
        let variant = match self.variant {
            RunVariant::FlowRun { flow, process_id, .. } => RunVariant::FlowRun { flow, process_id, group_id: None },
            group => group,
        };
        Run { variant, version: self.version + 1, ..self.clone() }
    }

    /// Applies a PATCH under lifecycle rules (docs/api.md), returning the next version.
    pub fn apply(&self, patch: RunPatch, now: Timestamp) -> Result<Run, FieldError> {
        if let Some(kind) = patch.kind.filter(|k| *k != self.kind()) {
            return Err(FieldError::new(
                "@odata.type",
                Code::TypeMismatch,
                format!("this run is a {}; '@odata.type' cannot change it to {}", self.kind().type_name(), kind.type_name()),
            ));
        }
        check_group_statistics(self.kind(), patch.statistics.as_ref())?;
        let mut next = self.clone();
        next.version = self.version + 1;
        if let Some(name) = patch.display_name {
            next.display_name = name;
        }

        if self.has_members() {
            for (present, target) in
                [(patch.status.is_some(), "status"), (patch.start.is_some(), "startDateTime"), (patch.end.is_some(), "endDateTime")]
            {
                if present {
                    return Err(FieldError::new(
                        target,
                        Code::DerivedProperty,
                        format!("'{target}' of a runGroup with member runs is derived from its members and cannot be set"),
                    ));
                }
            }
        }

        if self.status.is_terminal() {
            // A finished run is a closed record: only its name may change. Re-sending a value it
            // already has is not a change.
            if patch.status.is_some_and(|s| s != self.status) {
                return Err(FieldError::new(
                    "status",
                    Code::InvalidStatusTransition,
                    format!("the run finished with status '{}'; a finished run cannot change its status", self.status),
                ));
            }
            let closed = [
                ("startDateTime", patch.start.is_some_and(|s| s != self.start)),
                ("endDateTime", patch.end.is_some_and(|e| e != self.end)),
                ("statistics", patch.statistics.as_ref().is_some_and(|s| *s != self.statistics)),
                ("blockingError", patch.blocking_error.as_ref().is_some_and(|b| *b != self.blocking_error)),
            ];
            if let Some((target, _)) = closed.into_iter().find(|(_, changed)| *changed) {
                return Err(FieldError::new(
                    target,
                    Code::RunClosed,
                    format!("the run finished with status '{}'; its '{target}' can no longer change", self.status),
                ));
            }
            return Ok(next);
        }

        if let Some(start) = patch.start {
            next.start = start;
        }
        if let Some(error) = patch.blocking_error {
            next.blocking_error = error;
        }
        if let Some(statistics) = patch.statistics {
            next.statistics = statistics;
        }
        match patch.status.unwrap_or(RunStatus::Running) {
            RunStatus::Running => {
                if patch.end.is_some_and(|e| e.is_some()) {
                    return Err(end_while_running());
                }
            }
            terminal => {
                next.status = terminal;
                next.end = Some(patch.end.flatten().unwrap_or_else(|| now.max(next.start)));
            }
        }
        if let Some(end) = next.end.filter(|e| *e < next.start) {
            return Err(end_before_start(end, next.start));
        }
        if let RunVariant::RunGroup(group) = &mut next.variant
            && group.members.total == 0
        {
            group.own = OwnTimes { start: next.start, end: next.end, status: next.status };
        }
        Ok(next)
    }

    /// Re-derives a runGroup's visible values from its members: status running while any
    /// member runs, else the worst member outcome; start the earliest of its own and its members';
    /// end the latest member end once all members are terminal. Without members, its own values.
    /// The next version (a flow run is returned as it is).
    pub fn derive_group(&self, summary: MemberSummary) -> Run {
        let mut next = self.clone();
        let RunVariant::RunGroup(group) = &mut next.variant else { return next };
        next.version += 1;
        group.members = summary.counts;
        match summary.counts.derived_status() {
            None => {
                next.start = group.own.start;
                next.end = group.own.end;
                next.status = group.own.status;
            }
            Some(status) => {
                next.status = status;
                next.start = summary.earliest_start.map_or(group.own.start, |s| s.min(group.own.start));
                next.end = if status.is_terminal() { summary.latest_end } else { None };
            }
        }
        next
    }

    /// The `statistics` as rendered: the client's members, plus `memberRuns` on a runGroup.
    pub fn statistics_view(&self) -> StatisticsView<'_> {
        StatisticsView(self)
    }
}

/// A run's `statistics` as replies show them, written straight from the stored members.
pub struct StatisticsView<'a>(&'a Run);

impl serde::Serialize for StatisticsView<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error;
        let members = self.0.statistics.members_json();
        let mut text = String::with_capacity(members.len() + 96);
        text.push_str("{\"@odata.type\":\"");
        text.push_str(crate::statistics::STATISTICS_ODATA_TYPE);
        text.push('"');
        if !members.is_empty() {
            text.push(',');
            text.push_str(members);
        }
        if let Some(group) = self.0.group() {
            text.push_str(",\"");
            text.push_str(MEMBER_RUNS);
            text.push_str("\":");
            text.push_str(&group.members.to_json().to_string());
        }
        text.push('}');
        serde_json::value::RawValue::from_string(text).map_err(S::Error::custom)?.serialize(serializer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: i64) -> Timestamp {
        Timestamp::from_micros(n)
    }

    fn new_run(status: Option<RunStatus>, start: Option<i64>, end: Option<i64>) -> NewRun {
        NewRun {
            kind: RunKind::IncomingFlowRun,
            display_name: DisplayName::from_stored("r".into()),
            start: start.map(t),
            end: end.map(t),
            status,
            blocking_error: None,
            statistics: None,
        }
    }

    #[test]
    fn statistics_render_with_their_type_first_and_member_runs_on_groups() {
        let mut new = new_run(None, None, None);
        new.statistics = Some(Statistics::parse("statistics", &serde_json::json!({"people": 3, "note": "x"})).unwrap());
        let run = new.into_run(Uuid::nil(), Some(Uuid::nil()), None, t(100)).unwrap();
        let text = serde_json::to_string(&run.statistics_view()).unwrap();
        assert_eq!(text, r##"{"@odata.type":"#microsoft.graph.industryData.runStatistics","people":3,"note":"x"}"##);
        let group = NewRun { kind: RunKind::RunGroup, ..new_run(None, None, None) }.into_run(Uuid::nil(), None, None, t(100)).unwrap();
        let text = serde_json::to_string(&group.statistics_view()).unwrap();
        assert!(text.starts_with(r##"{"@odata.type":"#microsoft.graph.industryData.runStatistics","memberRuns":{"total":0,"##), "{text}");
    }

    #[test]
    fn create_defaults() {
        let r = new_run(None, None, None).into_run(Uuid::nil(), Some(Uuid::nil()), None, t(100)).unwrap();
        assert_eq!((r.status, r.start, r.end), (RunStatus::Running, t(100), None));
        let r = new_run(Some(RunStatus::Completed), Some(50), None).into_run(Uuid::nil(), Some(Uuid::nil()), None, t(100)).unwrap();
        assert_eq!(r.end, Some(t(100)));
        let r = new_run(Some(RunStatus::Completed), Some(500), None).into_run(Uuid::nil(), Some(Uuid::nil()), None, t(100)).unwrap();
        assert_eq!(r.end, Some(t(500)), "a future start ends no earlier than it starts");
    }

    #[test]
    fn an_end_without_a_start_starts_no_later_than_it_ends() {
        let r = new_run(Some(RunStatus::Completed), None, Some(90)).into_run(Uuid::nil(), Some(Uuid::nil()), None, t(100)).unwrap();
        assert_eq!((r.start, r.end), (t(90), Some(t(90))), "an end behind the server's clock");
        let r = new_run(Some(RunStatus::Completed), None, Some(500)).into_run(Uuid::nil(), Some(Uuid::nil()), None, t(100)).unwrap();
        assert_eq!((r.start, r.end), (t(100), Some(t(500))), "an end in the future starts now");
    }

    #[test]
    fn create_rejects_inconsistent_times() {
        let e = new_run(None, Some(1), Some(2)).into_run(Uuid::nil(), Some(Uuid::nil()), None, t(100)).unwrap_err();
        assert_eq!(e.code, "endDateTimeWhileRunning");
        let e = new_run(Some(RunStatus::Failed), Some(10), Some(5)).into_run(Uuid::nil(), Some(Uuid::nil()), None, t(100)).unwrap_err();
        assert_eq!(e.code, "endBeforeStart");
    }

    #[test]
    fn finishing_sets_end_and_closes_the_record() {
        let r = new_run(None, Some(10), None).into_run(Uuid::nil(), Some(Uuid::nil()), None, t(100)).unwrap();
        let done = r.apply(RunPatch { status: Some(RunStatus::Failed), ..Default::default() }, t(200)).unwrap();
        assert_eq!((done.status, done.end, done.version), (RunStatus::Failed, Some(t(200)), 2));
        let e = done.apply(RunPatch { status: Some(RunStatus::Running), ..Default::default() }, t(300)).unwrap_err();
        assert_eq!((e.code, e.code.status()), (Code::InvalidStatusTransition, 409));
        let e = done
            .apply(
                RunPatch { statistics: Some(Statistics::parse("statistics", &serde_json::json!({"a": 1})).unwrap()), ..Default::default() },
                t(300),
            )
            .unwrap_err();
        assert_eq!(e.target, "statistics");
        let renamed =
            done.apply(RunPatch { display_name: Some(DisplayName::from_stored("x".into())), ..Default::default() }, t(300)).unwrap();
        assert_eq!(renamed.display_name.as_str(), "x");
    }

    #[test]
    fn group_derivation() {
        let g = NewRun { kind: RunKind::RunGroup, ..new_run(None, Some(50), None) }.into_run(Uuid::nil(), None, None, t(100)).unwrap();
        let mut counts = MemberCounts::default();
        counts.add(RunStatus::Running, 1);
        counts.add(RunStatus::CompletedWithWarnings, 1);
        let g = g.derive_group(MemberSummary { counts, earliest_start: Some(t(20)), latest_end: Some(t(90)) });
        assert_eq!((g.status, g.start, g.end), (RunStatus::Running, t(20), None));
        let mut counts = MemberCounts::default();
        counts.add(RunStatus::Completed, 1);
        counts.add(RunStatus::CompletedWithErrors, 1);
        let g = g.derive_group(MemberSummary { counts, earliest_start: Some(t(60)), latest_end: Some(t(90)) });
        assert_eq!((g.status, g.start, g.end), (RunStatus::CompletedWithErrors, t(50), Some(t(90))));
        let e = g.apply(RunPatch { status: Some(RunStatus::Failed), ..Default::default() }, t(1)).unwrap_err();
        assert_eq!(e.code, "derivedProperty");
        let g = g.derive_group(MemberSummary::default());
        assert_eq!((g.status, g.start, g.end), (RunStatus::Running, t(50), None));
        assert_eq!(g.version, 4, "each derivation is a new version");
    }

    #[test]
    fn what_each_kind_has() {
        let (flow, group) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let run = new_run(None, None, None).into_run(Uuid::nil(), Some(flow), None, t(100)).unwrap();
        assert_eq!((run.kind(), run.process_id(), run.group_id(), run.group()), (RunKind::IncomingFlowRun, Some(flow), None, None));
        let e = new_run(None, None, None).into_run(Uuid::nil(), None, None, t(100)).unwrap_err();
        assert_eq!((e.code, e.target.as_str()), (Code::MissingProperty, PROCESS_BIND), "a flow run needs its flow");
        let as_group = || NewRun { kind: RunKind::RunGroup, ..new_run(None, None, None) };
        assert_eq!(as_group().into_run(Uuid::nil(), None, Some(group), t(100)).unwrap_err().code, Code::InvalidType, "groups do not nest");
        assert_eq!(as_group().check_can_join_group().unwrap_err().code, Code::InvalidType);
        let g = as_group().into_run(group, None, None, t(100)).unwrap();
        assert!(g.group().is_some() && g.process_id().is_none());
        // Joining, joining again, another group, leaving: each change a new version.
        let member = run.join_group(group).unwrap().unwrap();
        assert_eq!((member.group_id(), member.version), (Some(group), 2));
        assert_eq!(member.join_group(group).unwrap(), None, "already a member");
        assert_eq!(member.join_group(Uuid::from_u128(3)).unwrap_err().code, Code::RunAlreadyInGroup);
        assert_eq!(g.join_group(Uuid::from_u128(3)).unwrap_err().code, Code::InvalidBinding);
        let left = member.leave_group();
        assert_eq!((left.group_id(), left.version), (None, 3));
        let moved = left.repoint_process(Uuid::from_u128(4)).unwrap();
        assert_eq!((moved.process_id(), moved.version), (Some(Uuid::from_u128(4)), 4));
        assert_eq!(g.repoint_process(flow).unwrap_err().code, Code::InvalidBinding);
    }
}
