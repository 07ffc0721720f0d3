//! Domain values → Graph JSON: `@odata.type` and `@odata.etag` on every entity, also under
//! `$select` and inside `$expand`; DateTimeOffsets in UTC with `Z`.
//!
//! An [`Entity`] is a list of members that borrow from the run or process they describe, written
//! straight into the reply by serde: no intermediate `serde_json::Map` per entity, no copies of
//! names, ids or statistics. A page of 100 runs is most of a list reply's work.

use std::fmt::Display;

use runhub_model::{ErrorJson, GraphEnum, Process, ProcessKind, Run, RunKind, Timestamp, Uuid};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

/// One member's value.
pub enum Member<'a> {
    Null,
    Str(&'a str),
    Text(String),
    Id(Uuid),
    /// An entity tag (the quoted version).
    Etag(i64),
    Time(Option<Timestamp>),
    Error(Option<&'a ErrorJson>),
    /// A run's `statistics`, with its `@odata.type` and, for a runGroup, `memberRuns`.
    Statistics(&'a Run),
    Json(Value),
}

/// An entity's members in order. Members `$select` leaves out are skipped before they are computed
/// (the annotations and `id` always stay).
pub struct Entity<'a> {
    members: Vec<(&'static str, Member<'a>)>,
    select: Option<&'a [&'a str]>,
}

impl<'a> Entity<'a> {
    pub fn new(odata_type: &'static str, version: i64, id: Uuid, select: Option<&'a [&'a str]>) -> Self {
        let mut members = Vec::with_capacity(10);
        members.push(("@odata.type", Member::Str(odata_type)));
        members.push(("@odata.etag", Member::Etag(version)));
        members.push(("id", Member::Id(id)));
        Self { members, select: select.filter(|s| !s.contains(&"*")) }
    }

    /// A property, when the selection keeps it.
    pub fn put(&mut self, name: &'static str, value: impl FnOnce() -> Member<'a>) {
        if self.select.is_none_or(|s| s.contains(&name)) {
            self.members.push((name, value()));
        }
    }

    /// A member that is not a selectable property (an expanded navigation, an annotation).
    pub fn push(&mut self, name: &'static str, value: Member<'a>) {
        self.members.push((name, value));
    }

    /// The entity as a JSON value, for an expanded navigation nested inside another entity.
    pub fn into_value(self) -> Value {
        serde_json::to_value(&self).unwrap_or_default()
    }

    /// The entity as a JSON object, for callers that add members of their own afterwards.
    pub fn into_map(self) -> Map<String, Value> {
        match self.into_value() {
            Value::Object(map) => map,
            _ => Map::new(),
        }
    }

    /// Writes the members into an object the caller has opened (a reply adds its own first).
    pub fn serialize_members<M: SerializeMap>(&self, map: &mut M) -> Result<(), M::Error> {
        for (name, value) in &self.members {
            map.serialize_entry(name, value)?;
        }
        Ok(())
    }
}

impl Serialize for Entity<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.members.len()))?;
        self.serialize_members(&mut map)?;
        map.end()
    }
}

/// A string written through `Display`, without an intermediate `String`.
fn display<S: Serializer>(serializer: S, value: &impl Display) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

impl Serialize for Member<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Member::Null | Member::Time(None) | Member::Error(None) => serializer.serialize_unit(),
            Member::Str(s) => serializer.serialize_str(s),
            Member::Text(s) => serializer.serialize_str(s),
            Member::Id(id) => display(serializer, &id.hyphenated()),
            Member::Etag(version) => display(serializer, &format_args!("\"{version}\"")),
            Member::Time(Some(t)) => serializer.serialize_str(&t.to_rfc3339()),
            Member::Error(Some(e)) => e.serialize(serializer),
            Member::Statistics(run) => run.statistics_view().serialize(serializer),
            Member::Json(v) => v.serialize(serializer),
        }
    }
}

pub fn run<'a>(run: &'a Run, select: Option<&'a [&'a str]>) -> Entity<'a> {
    let mut m = Entity::new(run_type(run.kind()), run.version, run.id, select);
    m.put("displayName", || Member::Str(run.display_name.as_str()));
    m.put("startDateTime", || Member::Time(Some(run.start)));
    m.put("endDateTime", || Member::Time(run.end));
    m.put("status", || Member::Str(run.status.as_str()));
    m.put("blockingError", || Member::Error(run.blocking_error.as_ref()));
    m.put("statistics", || Member::Statistics(run));
    m
}

pub fn process<'a>(p: &'a Process, select: Option<&'a [&'a str]>) -> Entity<'a> {
    let mut m = Entity::new(process_type(p.kind), p.version, p.id, select);
    m.put("eTag", || Member::Etag(p.version));
    m.put("displayName", || Member::Str(p.display_name.as_str()));
    m.put("readinessStatus", || Member::Str(p.readiness_status.as_str()));
    if p.kind == ProcessKind::IncomingFlow {
        m.put("dataDomain", || p.data_domain.map_or(Member::Null, |d| Member::Str(d.as_str())));
        m.put("recurrenceEffectiveDateTime", || Member::Time(p.recurrence_start));
        m.put("recurrenceExpirationDateTime", || Member::Time(p.recurrence_end));
    }
    m
}

/// An entity reply's body: `@odata.context`, then the entity's members.
pub struct EntityBody<'a> {
    pub context: String,
    pub entity: Entity<'a>,
}

impl Serialize for EntityBody<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(1 + self.entity.members.len()))?;
        map.serialize_entry("@odata.context", &self.context)?;
        self.entity.serialize_members(&mut map)?;
        map.end()
    }
}

/// A collection reply's body.
#[derive(serde::Serialize)]
pub struct CollectionBody<'a> {
    #[serde(rename = "@odata.context")]
    pub context: String,
    #[serde(rename = "@odata.count", skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    pub value: Vec<Entity<'a>>,
    #[serde(rename = "@odata.nextLink", skip_serializing_if = "Option::is_none")]
    pub next_link: Option<String>,
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
