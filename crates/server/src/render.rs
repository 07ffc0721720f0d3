//! Domain values → Graph JSON: `@odata.type` and `@odata.etag` on every entity, also
//! under `$select` and inside `$expand`; DateTimeOffsets in UTC with `Z`.

use runhub_model::{GraphEnum, Process, ProcessKind, Run, RunKind, Timestamp};
use runhub_store::etag;
use serde_json::{Map, Value, json};

fn time(t: Option<Timestamp>) -> Value {
    t.map_or(Value::Null, |t| Value::String(t.to_rfc3339()))
}

/// Builds an entity's members in order, skipping those `$select` leaves out (the annotations and
/// `id` always stay) before computing them: list replies render many entities.
struct Members<'a> {
    map: Map<String, Value>,
    select: Option<&'a [&'a str]>,
}

impl<'a> Members<'a> {
    fn new(odata_type: &'static str, etag: String, id: String, select: Option<&'a [&'a str]>) -> Self {
        let mut map = Map::with_capacity(12);
        map.insert("@odata.type".into(), Value::String(odata_type.to_owned()));
        map.insert("@odata.etag".into(), Value::String(etag));
        map.insert("id".into(), Value::String(id));
        Self { map, select: select.filter(|s| !s.contains(&"*")) }
    }

    fn put(&mut self, name: &str, value: impl FnOnce() -> Value) {
        if self.select.is_none_or(|s| s.contains(&name)) {
            self.map.insert(name.to_owned(), value());
        }
    }
}

pub fn run(run: &Run, select: Option<&[&str]>) -> Map<String, Value> {
    let mut m = Members::new(run_type(run.kind()), etag(run.version), run.id.to_string(), select);
    m.put("displayName", || json!(run.display_name.as_str()));
    m.put("startDateTime", || time(Some(run.start)));
    m.put("endDateTime", || time(run.end));
    m.put("status", || json!(run.status.as_str()));
    m.put("blockingError", || run.blocking_error.as_ref().map_or(Value::Null, |e| json!(e)));
    m.put("statistics", || run.statistics_json());
    m.map
}

pub fn process(p: &Process, select: Option<&[&str]>) -> Map<String, Value> {
    let tag = etag(p.version);
    let mut m = Members::new(process_type(p.kind), tag.clone(), p.id.to_string(), select);
    m.put("eTag", || Value::String(tag));
    m.put("displayName", || json!(p.display_name.as_str()));
    m.put("readinessStatus", || json!(p.readiness_status.as_str()));
    if p.kind == ProcessKind::IncomingFlow {
        m.put("dataDomain", || p.data_domain.map_or(Value::Null, |d| json!(d.as_str())));
        m.put("recurrenceEffectiveDateTime", || time(p.recurrence_start));
        m.put("recurrenceExpirationDateTime", || time(p.recurrence_end));
    }
    m.map
}

fn run_type(kind: RunKind) -> &'static str {
    match kind {
        RunKind::IncomingFlowRun => "#microsoft.graph.industryData.incomingFlowRun",
        RunKind::OutgoingFlowRun => "#microsoft.graph.industryData.outgoingFlowRun",
        RunKind::RunGroup => "#microsoft.graph.industryData.runGroup",
    }
}

fn process_type(kind: ProcessKind) -> &'static str {
    match kind {
        ProcessKind::IncomingFlow => "#microsoft.graph.industryData.incomingFlow",
        ProcessKind::OutgoingFlow => "#microsoft.graph.industryData.outgoingFlow",
    }
}
