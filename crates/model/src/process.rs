//! Processes: the flows that cause runs, and the rules for starting them.

use crate::Code;
use uuid::Uuid;

use crate::enums::{IncomingDomain, ReadinessStatus};
use crate::error::FieldError;
use crate::text::DisplayName;
use crate::time::Timestamp;

/// The concrete process types; each has its own entity set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProcessKind {
    IncomingFlow,
    OutgoingFlow,
}

impl ProcessKind {
    pub const ALL: [ProcessKind; 2] = [ProcessKind::IncomingFlow, ProcessKind::OutgoingFlow];

    /// The unqualified OData type name.
    pub fn type_name(self) -> &'static str {
        match self {
            ProcessKind::IncomingFlow => "incomingFlow",
            ProcessKind::OutgoingFlow => "outgoingFlow",
        }
    }

    /// The path segment of its entity set under `/industryData`.
    pub fn entity_set(self) -> &'static str {
        match self {
            ProcessKind::IncomingFlow => "incomingFlows",
            ProcessKind::OutgoingFlow => "outgoingFlows",
        }
    }

    pub fn from_entity_set(segment: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.entity_set() == segment)
    }

    pub fn ordinal(self) -> i64 {
        self as i64
    }

    pub fn from_ordinal(n: i64) -> Option<Self> {
        Self::ALL.get(usize::try_from(n).ok()?).copied()
    }
}

/// A stored process.
#[derive(Debug, Clone, PartialEq)]
pub struct Process {
    pub id: Uuid,
    pub kind: ProcessKind,
    pub display_name: DisplayName,
    pub readiness_status: ReadinessStatus,
    /// incomingFlow only.
    pub data_domain: Option<IncomingDomain>,
    pub recurrence_start: Option<Timestamp>,
    pub recurrence_end: Option<Timestamp>,
    /// Bumped on every update; rendered as the eTag.
    pub version: i64,
}

/// A process as a create request describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewProcess {
    pub kind: ProcessKind,
    pub display_name: DisplayName,
    pub readiness_status: ReadinessStatus,
    pub data_domain: Option<IncomingDomain>,
    pub recurrence_start: Option<Timestamp>,
    pub recurrence_end: Option<Timestamp>,
}

/// The members a PATCH sets; `Some(None)` clears a nullable member.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProcessPatch {
    pub display_name: Option<DisplayName>,
    pub readiness_status: Option<ReadinessStatus>,
    pub data_domain: Option<Option<IncomingDomain>>,
    pub recurrence_start: Option<Option<Timestamp>>,
    pub recurrence_end: Option<Option<Timestamp>>,
}

impl NewProcess {
    pub fn into_process(self, id: Uuid) -> Result<Process, FieldError> {
        let process = Process {
            id,
            kind: self.kind,
            display_name: self.display_name,
            readiness_status: self.readiness_status,
            data_domain: self.data_domain,
            recurrence_start: self.recurrence_start,
            recurrence_end: self.recurrence_end,
            version: 1,
        };
        process.check_window()?;
        Ok(process)
    }
}

impl Process {
    /// Applies a PATCH, returning the next version of the process.
    pub fn apply(&self, patch: ProcessPatch) -> Result<Process, FieldError> {
        let mut next = self.clone();
        if let Some(name) = patch.display_name {
            next.display_name = name;
        }
        if let Some(status) = patch.readiness_status {
            next.readiness_status = status;
        }
        if let Some(domain) = patch.data_domain {
            next.data_domain = domain;
        }
        if let Some(start) = patch.recurrence_start {
            next.recurrence_start = start;
        }
        if let Some(end) = patch.recurrence_end {
            next.recurrence_end = end;
        }
        next.check_window()?;
        next.version = self.version + 1;
        Ok(next)
    }

    fn check_window(&self) -> Result<(), FieldError> {
        if let (Some(start), Some(end)) = (self.recurrence_start, self.recurrence_end)
            && end < start
        {
            return Err(FieldError::new(
                "recurrenceExpirationDateTime",
                Code::InvalidRecurrenceWindow,
                format!("'recurrenceExpirationDateTime' ({end}) is before 'recurrenceEffectiveDateTime' ({start})"),
            ));
        }
        Ok(())
    }

    /// Whether `runNow` may start this flow at `now`: it must be `ready` and inside its
    /// recurrence window, when it has one.
    pub fn check_can_run_now(&self, now: Timestamp) -> Result<(), FieldError> {
        if self.readiness_status != ReadinessStatus::Ready {
            return Err(FieldError::new(
                "readinessStatus",
                Code::FlowNotReady,
                format!("the flow's readinessStatus is '{}'; only a 'ready' flow can be started", self.readiness_status),
            ));
        }
        if let Some(start) = self.recurrence_start.filter(|s| now < *s) {
            return Err(FieldError::new(
                "recurrenceEffectiveDateTime",
                Code::OutsideRecurrenceWindow,
                format!("the flow's recurrence window opens at {start}; it cannot be started before then"),
            ));
        }
        if let Some(end) = self.recurrence_end.filter(|e| now > *e) {
            return Err(FieldError::new(
                "recurrenceExpirationDateTime",
                Code::OutsideRecurrenceWindow,
                format!("the flow's recurrence window closed at {end}; it can no longer be started"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(status: ReadinessStatus, start: Option<i64>, end: Option<i64>) -> Process {
        Process {
            id: Uuid::nil(),
            kind: ProcessKind::IncomingFlow,
            display_name: DisplayName::from_stored("f".into()),
            readiness_status: status,
            data_domain: None,
            recurrence_start: start.map(Timestamp::from_micros),
            recurrence_end: end.map(Timestamp::from_micros),
            version: 1,
        }
    }

    #[test]
    fn run_now_needs_ready_and_window() {
        let now = Timestamp::from_micros(100);
        assert!(flow(ReadinessStatus::Ready, None, None).check_can_run_now(now).is_ok());
        assert!(flow(ReadinessStatus::Ready, Some(50), Some(150)).check_can_run_now(now).is_ok());
        assert!(flow(ReadinessStatus::NotReady, None, None).check_can_run_now(now).is_err());
        assert!(flow(ReadinessStatus::Ready, Some(101), None).check_can_run_now(now).is_err());
        assert!(flow(ReadinessStatus::Ready, None, Some(99)).check_can_run_now(now).is_err());
    }

    #[test]
    fn window_must_not_be_inverted() {
        let p = flow(ReadinessStatus::Ready, Some(10), None);
        let patch = ProcessPatch { recurrence_end: Some(Some(Timestamp::from_micros(5))), ..Default::default() };
        assert_eq!(p.apply(patch).unwrap_err().target, "recurrenceExpirationDateTime");
    }
}
