//! Request bodies → domain values. Every mistake names the property and the reason; nothing here
//! touches storage, so a refused body cannot have changed anything.

use serde_json::{Map, Value};

use crate::Code;
use crate::enums::{GraphEnum, IncomingDomain, ReadinessStatus, RunStatus};
use crate::error::{FieldError, json_kind};
use crate::process::{NewProcess, ProcessKind, ProcessPatch};
use crate::public_error::{ErrorJson, PublicError};
use crate::run::{NewRun, RunKind, RunPatch};
use crate::statistics::Statistics;
use crate::text::DisplayName;
use crate::time::Timestamp;

pub const NAMESPACE: &str = "microsoft.graph.industryData";
/// The navigation binding a run body may carry.
pub const PROCESS_BIND: &str = "process@odata.bind";

/// Instance annotations a client may echo back from what it read; they carry no data.
const IGNORED_ANNOTATIONS: [&str; 3] = ["@odata.context", "@odata.etag", "@odata.id"];

/// Parses a request body that must be one JSON object.
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, FieldError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| FieldError::new("", Code::MalformedJson, format!("the request body is not valid JSON: {e}")))?;
    match value {
        Value::Object(map) => Ok(map),
        other => {
            Err(FieldError::new("", Code::InvalidRequestBody, format!("the request body must be a JSON object, got {}", json_kind(&other))))
        }
    }
}

fn string<'a>(property: &str, value: &'a Value) -> Result<&'a str, FieldError> {
    value.as_str().ok_or_else(|| {
        FieldError::new(property, Code::InvalidPropertyType, format!("'{property}' must be a string, got {}", json_kind(value)))
    })
}

fn not_null<'a>(property: &str, value: &'a Value) -> Result<&'a Value, FieldError> {
    if value.is_null() {
        return Err(FieldError::new(property, Code::NullNotAllowed, format!("'{property}' cannot be null")));
    }
    Ok(value)
}

fn nullable<T>(value: &Value, parse: impl FnOnce(&Value) -> Result<T, FieldError>) -> Result<Option<T>, FieldError> {
    if value.is_null() { Ok(None) } else { parse(value).map(Some) }
}

fn display_name(value: &Value) -> Result<DisplayName, FieldError> {
    DisplayName::parse("displayName", string("displayName", not_null("displayName", value)?)?)
}

fn timestamp(property: &str, value: &Value) -> Result<Timestamp, FieldError> {
    Timestamp::parse_property(property, string(property, value)?)
}

fn enum_member<E: GraphEnum>(property: &str, value: &Value) -> Result<E, FieldError> {
    E::parse_input(property, string(property, value)?)
}

fn unknown(property: &str, type_name: &str) -> FieldError {
    FieldError::new(property, Code::UnknownProperty, format!("'{property}' is not a property of {NAMESPACE}.{type_name}"))
}

fn read_only(property: &str) -> FieldError {
    FieldError::new(property, Code::ReadOnlyProperty, format!("'{property}' is read-only: the server sets it"))
}

fn required(property: &str, type_name: &str) -> FieldError {
    FieldError::new(property, Code::MissingProperty, format!("'{property}' is required to create a {NAMESPACE}.{type_name}"))
}

/// Reads `@odata.type` (with or without `#`) as an unqualified name in our namespace.
fn odata_type(value: &Value) -> Result<&str, FieldError> {
    let name = string("@odata.type", value)?;
    name.trim_start_matches('#')
        .strip_prefix(NAMESPACE)
        .and_then(|rest| rest.strip_prefix('.'))
        .ok_or_else(|| FieldError::new("@odata.type", Code::InvalidType, format!("'{name}' is not a type of the {NAMESPACE} namespace")))
}

/// Resolves `@odata.type` of a run body to a concrete run kind.
pub fn run_kind(value: &Value) -> Result<RunKind, FieldError> {
    let name = odata_type(value)?;
    if name == "run" {
        return Err(FieldError::new(
            "@odata.type",
            Code::AbstractType,
            format!("{NAMESPACE}.run is abstract; use incomingFlowRun, outgoingFlowRun or runGroup"),
        ));
    }
    RunKind::from_type_name(name).ok_or_else(|| {
        FieldError::new(
            "@odata.type",
            Code::InvalidType,
            format!("'{NAMESPACE}.{name}' is not a run type; expected incomingFlowRun, outgoingFlowRun or runGroup"),
        )
    })
}

/// What a run create body says: the run, and the process it binds to (still a URL).
#[derive(Debug, Clone, PartialEq)]
pub struct RunCreateBody {
    pub run: NewRun,
    pub process_bind: Option<String>,
}

/// How a create endpoint decides the kind of the new run.
#[derive(Debug, Clone, Copy)]
pub enum KindRule {
    /// `@odata.type` is required (`/industryData/runs`, a runGroup's `runs`).
    Required,
    /// The URL implies the kind; `@odata.type`, if sent, must agree (a flow's `runs`, `runGroups`).
    Implied(RunKind),
}

pub fn decode_new_run(body: &Map<String, Value>, rule: KindRule) -> Result<RunCreateBody, FieldError> {
    let kind = match (rule, body.get("@odata.type")) {
        (KindRule::Required, None) => {
            return Err(FieldError::new(
                "@odata.type",
                Code::MissingType,
                "'@odata.type' is required here: run is abstract; name incomingFlowRun, outgoingFlowRun or runGroup",
            ));
        }
        (KindRule::Required, Some(t)) => run_kind(t)?,
        (KindRule::Implied(kind), None) => kind,
        (KindRule::Implied(kind), Some(t)) => {
            let given = run_kind(t)?;
            if given != kind {
                return Err(FieldError::new(
                    "@odata.type",
                    Code::TypeMismatch,
                    format!("this collection holds {}s; '@odata.type' names {}", kind.type_name(), given.type_name()),
                ));
            }
            kind
        }
    };
    let mut display = None;
    let mut run = NewRun {
        kind,
        display_name: DisplayName::from_stored(String::new()),
        start: None,
        end: None,
        status: None,
        blocking_error: None,
        statistics: None,
    };
    let mut process_bind = None;
    for (key, value) in body {
        match key.as_str() {
            "@odata.type" => {}
            k if IGNORED_ANNOTATIONS.contains(&k) => {}
            "displayName" => display = Some(display_name(value)?),
            "startDateTime" => run.start = Some(timestamp(key, not_null(key, value)?)?),
            "endDateTime" => run.end = nullable(value, |v| timestamp(key, v))?,
            "status" => run.status = Some(enum_member::<RunStatus>(key, not_null(key, value)?)?),
            "blockingError" => run.blocking_error = nullable(value, |v| PublicError::parse(key, v).map(ErrorJson::from))?,
            "statistics" => run.statistics = Some(Statistics::parse(key, not_null(key, value)?)?),
            PROCESS_BIND => {
                if kind == RunKind::RunGroup {
                    return Err(FieldError::new(key, Code::InvalidBinding, "a runGroup has no process: remove 'process@odata.bind'"));
                }
                process_bind = Some(string(key, not_null(key, value)?)?.to_owned());
            }
            "id" => return Err(read_only(key)),
            "process" | "runs" => {
                return Err(FieldError::new(
                    key,
                    Code::NavigationNotAllowed,
                    format!("'{key}' is a navigation property; bind it with '{key}@odata.bind' or its $ref"),
                ));
            }
            other => return Err(unknown(other, kind.type_name())),
        }
    }
    run.display_name = display.ok_or_else(|| required("displayName", kind.type_name()))?;
    Ok(RunCreateBody { run, process_bind })
}

pub fn decode_run_patch(body: &Map<String, Value>) -> Result<RunPatch, FieldError> {
    let mut patch = RunPatch::default();
    for (key, value) in body {
        match key.as_str() {
            "@odata.type" => patch.kind = Some(run_kind(value)?),
            k if IGNORED_ANNOTATIONS.contains(&k) => {}
            "displayName" => patch.display_name = Some(display_name(value)?),
            "startDateTime" => patch.start = Some(timestamp(key, not_null(key, value)?)?),
            "endDateTime" => patch.end = Some(nullable(value, |v| timestamp(key, v))?),
            "status" => patch.status = Some(enum_member::<RunStatus>(key, not_null(key, value)?)?),
            "blockingError" => patch.blocking_error = Some(nullable(value, |v| PublicError::parse(key, v).map(ErrorJson::from))?),
            "statistics" => patch.statistics = Some(Statistics::parse(key, not_null(key, value)?)?),
            "id" => return Err(read_only(key)),
            PROCESS_BIND | "process" | "runs" => {
                return Err(FieldError::new(
                    key,
                    Code::NavigationNotAllowed,
                    format!("'{key}' cannot be changed by PATCH; use the run's process/$ref or the group's runs/$ref"),
                ));
            }
            other => return Err(unknown(other, "run")),
        }
    }
    Ok(patch)
}

fn check_process_type(body: &Map<String, Value>, kind: ProcessKind) -> Result<(), FieldError> {
    if let Some(t) = body.get("@odata.type") {
        let name = odata_type(t)?;
        if name != kind.type_name() {
            return Err(FieldError::new(
                "@odata.type",
                Code::TypeMismatch,
                format!("this collection holds {}s; '@odata.type' names '{name}'", kind.type_name()),
            ));
        }
    }
    Ok(())
}

/// One process member from a body, shared by create and PATCH.
enum ProcessField {
    DisplayName(DisplayName),
    Readiness(ReadinessStatus),
    DataDomain(Option<IncomingDomain>),
    RecurrenceStart(Option<Timestamp>),
    RecurrenceEnd(Option<Timestamp>),
    Skip,
}

fn process_field(kind: ProcessKind, key: &str, value: &Value) -> Result<ProcessField, FieldError> {
    let incoming = kind == ProcessKind::IncomingFlow;
    Ok(match key {
        "@odata.type" => ProcessField::Skip,
        k if IGNORED_ANNOTATIONS.contains(&k) => ProcessField::Skip,
        "displayName" => ProcessField::DisplayName(display_name(value)?),
        "readinessStatus" => ProcessField::Readiness(enum_member(key, not_null(key, value)?)?),
        "dataDomain" if incoming => ProcessField::DataDomain(nullable(value, |v| enum_member(key, v))?),
        "recurrenceEffectiveDateTime" if incoming => ProcessField::RecurrenceStart(nullable(value, |v| timestamp(key, v))?),
        "recurrenceExpirationDateTime" if incoming => ProcessField::RecurrenceEnd(nullable(value, |v| timestamp(key, v))?),
        "id" | "eTag" => return Err(read_only(key)),
        "runs" => {
            return Err(FieldError::new(
                key,
                Code::NavigationNotAllowed,
                "'runs' is read-only: create runs through the flow's runs collection",
            ));
        }
        other => return Err(unknown(other, kind.type_name())),
    })
}

pub fn decode_new_process(body: &Map<String, Value>, kind: ProcessKind) -> Result<NewProcess, FieldError> {
    check_process_type(body, kind)?;
    let (mut name, mut readiness) = (None, None);
    let mut process = NewProcess {
        kind,
        display_name: DisplayName::from_stored(String::new()),
        readiness_status: ReadinessStatus::NotReady,
        // The only domain there is; a flow that does not say is a rostering flow.
        data_domain: (kind == ProcessKind::IncomingFlow).then_some(IncomingDomain::EducationRostering),
        recurrence_start: None,
        recurrence_end: None,
    };
    for (key, value) in body {
        match process_field(kind, key, value)? {
            ProcessField::DisplayName(n) => name = Some(n),
            ProcessField::Readiness(r) => readiness = Some(r),
            ProcessField::DataDomain(d) => process.data_domain = d,
            ProcessField::RecurrenceStart(s) => process.recurrence_start = s,
            ProcessField::RecurrenceEnd(e) => process.recurrence_end = e,
            ProcessField::Skip => {}
        }
    }
    process.display_name = name.ok_or_else(|| required("displayName", kind.type_name()))?;
    process.readiness_status = readiness.ok_or_else(|| required("readinessStatus", kind.type_name()))?;
    Ok(process)
}

pub fn decode_process_patch(body: &Map<String, Value>, kind: ProcessKind) -> Result<ProcessPatch, FieldError> {
    check_process_type(body, kind)?;
    let mut patch = ProcessPatch::default();
    for (key, value) in body {
        match process_field(kind, key, value)? {
            ProcessField::DisplayName(n) => patch.display_name = Some(n),
            ProcessField::Readiness(r) => patch.readiness_status = Some(r),
            ProcessField::DataDomain(d) => patch.data_domain = Some(d),
            ProcessField::RecurrenceStart(s) => patch.recurrence_start = Some(s),
            ProcessField::RecurrenceEnd(e) => patch.recurrence_end = Some(e),
            ProcessField::Skip => {}
        }
    }
    Ok(patch)
}

/// Reads a `$ref` body: `{"@odata.id": "<url>"}`.
pub fn decode_reference(body: &Map<String, Value>) -> Result<String, FieldError> {
    for key in body.keys() {
        if key != "@odata.id" && key != "@odata.context" {
            return Err(FieldError::new(key, Code::UnknownProperty, format!("a reference body holds only '@odata.id', not '{key}'")));
        }
    }
    let value = body
        .get("@odata.id")
        .ok_or_else(|| FieldError::new("@odata.id", Code::MissingProperty, "'@odata.id' is required in a reference body"))?;
    Ok(string("@odata.id", not_null("@odata.id", value)?)?.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn run_body_errors_name_the_property() {
        let cases = [
            (json!({"displayName": "x", "foo": 1}), "foo", "unknownProperty"),
            (json!({"displayName": "x", "id": "1"}), "id", "readOnlyProperty"),
            (json!({"displayName": 5}), "displayName", "invalidPropertyType"),
            (json!({"displayName": "x", "status": "nope"}), "status", "invalidEnumValue"),
            (json!({"displayName": "x", "status": "unknownFutureValue"}), "status", "unknownFutureValueNotAllowed"),
            (json!({"displayName": "x", "startDateTime": "today"}), "startDateTime", "invalidDateTimeOffset"),
            (json!({"displayName": "x", "statistics": []}), "statistics", "invalidPropertyType"),
            (json!({"displayName": "  "}), "displayName", "invalidProperty"),
            (json!({}), "displayName", "missingProperty"),
            (json!({"displayName": "x", "blockingError": {"bogus": 1}}), "blockingError", "invalidProperty"),
        ];
        for (body, target, code) in cases {
            let e = decode_new_run(&obj(body.clone()), KindRule::Implied(RunKind::IncomingFlowRun)).unwrap_err();
            assert_eq!((e.target.as_str(), e.code.as_str()), (target, code), "{body}");
        }
    }

    #[test]
    fn run_type_rules() {
        let e = decode_new_run(&obj(json!({"displayName": "x"})), KindRule::Required).unwrap_err();
        assert_eq!(e.code, "missingType");
        let e = decode_new_run(&obj(json!({"displayName": "x", "@odata.type": "#microsoft.graph.industryData.run"})), KindRule::Required)
            .unwrap_err();
        assert_eq!(e.code, "abstractType");
        let e = decode_new_run(&obj(json!({"displayName": "x", "@odata.type": "#microsoft.graph.industryData.zap"})), KindRule::Required)
            .unwrap_err();
        assert_eq!(e.code, "invalidType");
        let ok =
            decode_new_run(&obj(json!({"displayName": "x", "@odata.type": "microsoft.graph.industryData.runGroup"})), KindRule::Required)
                .unwrap();
        assert_eq!(ok.run.kind, RunKind::RunGroup);
    }

    #[test]
    fn process_bodies() {
        let p = decode_new_process(&obj(json!({"displayName": " a ", "readinessStatus": "ready"})), ProcessKind::IncomingFlow).unwrap();
        assert_eq!(p.display_name.as_str(), "a");
        let e =
            decode_new_process(&obj(json!({"displayName": "a", "readinessStatus": "ready", "dataDomain": "x"})), ProcessKind::OutgoingFlow)
                .unwrap_err();
        assert_eq!(e.code, "unknownProperty");
        let e = decode_process_patch(&obj(json!({"eTag": "1"})), ProcessKind::OutgoingFlow).unwrap_err();
        assert_eq!(e.code, "readOnlyProperty");
    }
}
