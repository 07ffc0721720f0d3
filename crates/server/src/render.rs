//! Domain values → Graph JSON (SPEC §1): `@odata.type` and `@odata.etag` on every entity, also
//! under `$select` and inside `$expand`; DateTimeOffsets in UTC with `Z`.

use runhub_model::{Process, ProcessKind, Run, Timestamp};
use runhub_store::etag;
use serde_json::{Map, Value, json};

const NS: &str = "#microsoft.graph.industryData.";

fn time(t: Option<Timestamp>) -> Value {
    t.map_or(Value::Null, |t| Value::String(t.to_rfc3339()))
}

/// Keeps the always-present members and those `$select` names (all when `select` is `None`).
fn selected(mut full: Map<String, Value>, select: Option<&[&str]>) -> Map<String, Value> {
    if let Some(select) = select.filter(|s| !s.contains(&"*")) {
        full.retain(|k, _| k.starts_with('@') || k == "id" || select.contains(&k.as_str()));
    }
    full
}

pub fn run(run: &Run, select: Option<&[&str]>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("@odata.type".into(), json!(format!("{NS}{}", run.kind.type_name())));
    m.insert("@odata.etag".into(), json!(etag(run.version)));
    m.insert("id".into(), json!(run.id.to_string()));
    m.insert("displayName".into(), json!(run.display_name.as_str()));
    m.insert("startDateTime".into(), time(Some(run.start)));
    m.insert("endDateTime".into(), time(run.end));
    m.insert("status".into(), json!(run.status.to_string()));
    m.insert("blockingError".into(), run.blocking_error.as_ref().map_or(Value::Null, |e| json!(e)));
    m.insert("statistics".into(), run.statistics_json());
    selected(m, select)
}

pub fn process(p: &Process, select: Option<&[&str]>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("@odata.type".into(), json!(format!("{NS}{}", p.kind.type_name())));
    m.insert("@odata.etag".into(), json!(etag(p.version)));
    m.insert("id".into(), json!(p.id.to_string()));
    m.insert("eTag".into(), json!(etag(p.version)));
    m.insert("displayName".into(), json!(p.display_name.as_str()));
    m.insert("readinessStatus".into(), json!(p.readiness_status.to_string()));
    if p.kind == ProcessKind::IncomingFlow {
        m.insert("dataDomain".into(), p.data_domain.map_or(Value::Null, |d| json!(d.to_string())));
        m.insert("recurrenceEffectiveDateTime".into(), time(p.recurrence_start));
        m.insert("recurrenceExpirationDateTime".into(), time(p.recurrence_end));
    }
    selected(m, select)
}
