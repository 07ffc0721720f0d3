//! The one static description of the data model, used both to validate query options
//! and to write the CSDL document.
//!
//! The entity and complex types below are declared once, as CSDL declares them (each property on
//! the type that introduces it). Everything a query needs — the filterable paths of an entity
//! set, its `$select`able properties, its navigation properties and the types `isof` accepts — is
//! derived from those declarations (see [`EntitySet`]). The only extra policy is
//! [`NESTED_QUERY_PATHS`]: which paths *into* complex or navigation properties are queryable.

use std::sync::LazyLock;

use runhub_model::enums::{GraphEnum, IncomingDomain, ReadinessStatus, RunStatus};

use crate::ast::Type;

/// The namespace of the run API's own types.
pub const NAMESPACE: &str = "microsoft.graph.industryData";
/// The namespace of Microsoft Graph's shared types (`entity`, `publicError`, …).
pub const GRAPH_NAMESPACE: &str = "microsoft.graph";

/// The type of a structural property.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PropType {
    Primitive(Type),
    /// A complex type, by qualified name.
    Complex(&'static str),
    /// A collection of a complex type, by qualified name.
    ComplexCollection(&'static str),
}

/// A structural property as declared on an entity or complex type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Property {
    pub name: &'static str,
    pub ty: PropType,
    pub nullable: bool,
}

/// A navigation property as declared on an entity type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NavigationProperty {
    pub name: &'static str,
    /// Qualified name of the target entity type.
    pub target: &'static str,
    pub collection: bool,
    /// The target entities live inside the declaring one (CSDL `ContainsTarget`).
    pub contains_target: bool,
}

/// An entity type declaration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntityType {
    /// Qualified name, e.g. `microsoft.graph.industryData.run`.
    pub qualified: &'static str,
    /// Qualified name of the base type.
    pub base: Option<&'static str>,
    pub is_abstract: bool,
    /// Properties this type declares (not inherited ones).
    pub properties: &'static [Property],
    pub navigations: &'static [NavigationProperty],
}

/// A complex type declaration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComplexType {
    pub qualified: &'static str,
    /// An open type accepts arbitrary extra members (`runStatistics`).
    pub open: bool,
    pub properties: &'static [Property],
}

/// An enum type: its unqualified name and members in declaration (= sort) order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnumType {
    pub name: &'static str,
    pub members: &'static [&'static str],
}

/// Splits a qualified name into (namespace, name).
pub fn split_qualified(qualified: &str) -> (&str, &str) {
    qualified.rsplit_once('.').unwrap_or(("", qualified))
}

impl EntityType {
    pub fn namespace(&self) -> &'static str {
        split_qualified(self.qualified).0
    }
    pub fn name(&self) -> &'static str {
        split_qualified(self.qualified).1
    }
}

impl ComplexType {
    pub fn namespace(&self) -> &'static str {
        split_qualified(self.qualified).0
    }
    pub fn name(&self) -> &'static str {
        split_qualified(self.qualified).1
    }
}

const fn prop(name: &'static str, ty: PropType, nullable: bool) -> Property {
    Property { name, ty, nullable }
}

const STRING: PropType = PropType::Primitive(Type::String);
const DATE_TIME: PropType = PropType::Primitive(Type::DateTimeOffset);

const PUBLIC_ERROR: &str = "microsoft.graph.publicError";
const PUBLIC_ERROR_DETAIL: &str = "microsoft.graph.publicErrorDetail";
const PUBLIC_INNER_ERROR: &str = "microsoft.graph.publicInnerError";
const RUN_STATISTICS: &str = "microsoft.graph.industryData.runStatistics";

const ENTITY: &str = "microsoft.graph.entity";
const MUTABLE_ENTITY: &str = "microsoft.graph.mutableEntity";
const PROCESS: &str = "microsoft.graph.industryData.process";
const INCOMING_FLOW: &str = "microsoft.graph.industryData.incomingFlow";
const OUTGOING_FLOW: &str = "microsoft.graph.industryData.outgoingFlow";
const RUN: &str = "microsoft.graph.industryData.run";
const INCOMING_FLOW_RUN: &str = "microsoft.graph.industryData.incomingFlowRun";
const OUTGOING_FLOW_RUN: &str = "microsoft.graph.industryData.outgoingFlowRun";
const RUN_GROUP: &str = "microsoft.graph.industryData.runGroup";
// The published Graph shape: `/external/industryData/runs` — a view over runGroups
// (`industryDataRun`) and their member runs (`activities`).
pub const INDUSTRY_DATA_RUN: &str = "microsoft.graph.industryData.industryDataRun";
pub const INDUSTRY_DATA_RUN_ACTIVITY: &str = "microsoft.graph.industryData.industryDataRunActivity";
pub const INBOUND_FLOW_ACTIVITY: &str = "microsoft.graph.industryData.inboundFlowActivity";
pub const OUTBOUND_FLOW_ACTIVITY: &str = "microsoft.graph.industryData.outboundFlowActivity";
/// `external/industryData`: the root of the published paths (runhub's name; Graph serves it from
/// its `external` singleton).
pub const EXTERNAL_INDUSTRY_DATA_ROOT: &str = "microsoft.graph.industryData.externalIndustryDataRoot";
/// The type of the `external` singleton.
pub const EXTERNAL_ROOT: &str = "microsoft.graph.industryData.externalRoot";
pub const INDUSTRY_DATA_RUN_STATISTICS: &str = "microsoft.graph.industryData.industryDataRunStatistics";
pub const INBOUND_ACTIVITY_RESULTS: &str = "microsoft.graph.industryData.inboundActivityResults";
pub const AGGREGATED_INBOUND_STATISTICS: &str = "microsoft.graph.industryData.aggregatedInboundStatistics";
/// `industryDataRunStatus`: the same members, in the same order (so the same ordinals), as `runStatus`.
pub const INDUSTRY_DATA_RUN_STATUS: &str = "industryDataRunStatus";
/// `industryDataActivityStatus`: `runStatus` with `running` named `inProgress`, in the same order
/// (so the same ordinals: a `$filter` on `inProgress` selects running runs), plus Graph's `skipped`,
/// which runhub never produces, before the sentinel.
pub const INDUSTRY_DATA_ACTIVITY_STATUS: &str = "industryDataActivityStatus";
pub const INDUSTRY_DATA_ACTIVITY_STATUS_MEMBERS: &[&str] =
    &["inProgress", "failed", "completed", "completedWithErrors", "completedWithWarnings", "skipped", "unknownFutureValue"];

/// The root of the URL space, served as the `industryData` singleton.
pub const INDUSTRY_DATA_ROOT: &str = "microsoft.graph.industryData.industryDataRoot";

const fn nav(name: &'static str, target: &'static str, collection: bool, contains_target: bool) -> NavigationProperty {
    NavigationProperty { name, target, collection, contains_target }
}

/// Every entity type, base types before derived ones.
pub static ENTITY_TYPES: &[EntityType] = &[
    EntityType { qualified: ENTITY, base: None, is_abstract: true, properties: &[prop("id", STRING, false)], navigations: &[] },
    // process : mutableEntity : entity. mutableEntity adds nothing we serve.
    EntityType { qualified: MUTABLE_ENTITY, base: Some(ENTITY), is_abstract: true, properties: &[], navigations: &[] },
    EntityType {
        qualified: PROCESS,
        base: Some(MUTABLE_ENTITY),
        is_abstract: true,
        properties: &[
            prop("eTag", STRING, false),
            prop("displayName", STRING, false),
            prop("readinessStatus", PropType::Primitive(Type::Enum(ReadinessStatus::TYPE_NAME)), false),
        ],
        navigations: &[nav("runs", RUN, true, false)],
    },
    EntityType {
        qualified: INCOMING_FLOW,
        base: Some(PROCESS),
        is_abstract: false,
        properties: &[
            prop("dataDomain", PropType::Primitive(Type::Enum(IncomingDomain::TYPE_NAME)), true),
            prop("recurrenceEffectiveDateTime", DATE_TIME, true),
            prop("recurrenceExpirationDateTime", DATE_TIME, true),
        ],
        navigations: &[],
    },
    EntityType { qualified: OUTGOING_FLOW, base: Some(PROCESS), is_abstract: false, properties: &[], navigations: &[] },
    EntityType {
        qualified: RUN,
        base: Some(ENTITY),
        is_abstract: true,
        properties: &[
            prop("displayName", STRING, false),
            prop("startDateTime", DATE_TIME, false),
            prop("endDateTime", DATE_TIME, true),
            prop("status", PropType::Primitive(Type::Enum(RunStatus::TYPE_NAME)), false),
            prop("blockingError", PropType::Complex(PUBLIC_ERROR), true),
            // Defaults to `{}`, so it is never null.
            prop("statistics", PropType::Complex(RUN_STATISTICS), false),
        ],
        navigations: &[nav("process", PROCESS, false, false)],
    },
    EntityType { qualified: INCOMING_FLOW_RUN, base: Some(RUN), is_abstract: false, properties: &[], navigations: &[] },
    EntityType { qualified: OUTGOING_FLOW_RUN, base: Some(RUN), is_abstract: false, properties: &[], navigations: &[] },
    EntityType {
        qualified: RUN_GROUP,
        base: Some(RUN),
        is_abstract: false,
        properties: &[],
        navigations: &[nav("runs", RUN, true, false)],
    },
    EntityType {
        qualified: INDUSTRY_DATA_ROOT,
        base: Some(ENTITY),
        is_abstract: false,
        properties: &[],
        navigations: &[
            nav("incomingFlows", INCOMING_FLOW, true, true),
            nav("outgoingFlows", OUTGOING_FLOW, true, true),
            nav("runs", RUN, true, true),
            nav("runGroups", RUN_GROUP, true, true),
        ],
    },
    // The published Graph types, a view over runGroups and their members.
    EntityType {
        qualified: INDUSTRY_DATA_RUN,
        base: Some(ENTITY),
        is_abstract: false,
        properties: &[
            prop("displayName", STRING, false),
            prop("startDateTime", DATE_TIME, false),
            prop("endDateTime", DATE_TIME, true),
            prop("status", PropType::Primitive(Type::Enum(INDUSTRY_DATA_RUN_STATUS)), false),
            prop("blockingError", PropType::Complex(PUBLIC_ERROR), true),
        ],
        navigations: &[nav("activities", INDUSTRY_DATA_RUN_ACTIVITY, true, true)],
    },
    EntityType {
        qualified: INDUSTRY_DATA_RUN_ACTIVITY,
        base: Some(ENTITY),
        is_abstract: true,
        properties: &[
            prop("displayName", STRING, false),
            prop("status", PropType::Primitive(Type::Enum(INDUSTRY_DATA_ACTIVITY_STATUS)), false),
            prop("blockingError", PropType::Complex(PUBLIC_ERROR), true),
        ],
        // The flow the activity ran (runhub's process).
        navigations: &[nav("activity", PROCESS, false, false)],
    },
    EntityType {
        qualified: INBOUND_FLOW_ACTIVITY,
        base: Some(INDUSTRY_DATA_RUN_ACTIVITY),
        is_abstract: false,
        properties: &[],
        navigations: &[],
    },
    EntityType {
        qualified: OUTBOUND_FLOW_ACTIVITY,
        base: Some(INDUSTRY_DATA_RUN_ACTIVITY),
        is_abstract: false,
        properties: &[],
        navigations: &[],
    },
    EntityType {
        qualified: EXTERNAL_INDUSTRY_DATA_ROOT,
        base: Some(ENTITY),
        is_abstract: false,
        properties: &[],
        navigations: &[nav("runs", INDUSTRY_DATA_RUN, true, true)],
    },
    EntityType {
        qualified: EXTERNAL_ROOT,
        base: Some(ENTITY),
        is_abstract: false,
        properties: &[],
        navigations: &[nav("industryData", EXTERNAL_INDUSTRY_DATA_ROOT, false, true)],
    },
];

/// Every complex type.
pub static COMPLEX_TYPES: &[ComplexType] = &[
    ComplexType {
        qualified: PUBLIC_ERROR,
        open: false,
        properties: &[
            prop("code", STRING, true),
            prop("message", STRING, true),
            prop("target", STRING, true),
            prop("details", PropType::ComplexCollection(PUBLIC_ERROR_DETAIL), true),
            prop("innerError", PropType::Complex(PUBLIC_INNER_ERROR), true),
        ],
    },
    ComplexType {
        qualified: PUBLIC_ERROR_DETAIL,
        open: false,
        properties: &[prop("code", STRING, true), prop("message", STRING, true), prop("target", STRING, true)],
    },
    ComplexType {
        qualified: PUBLIC_INNER_ERROR,
        open: false,
        properties: &[
            prop("code", STRING, true),
            prop("message", STRING, true),
            prop("target", STRING, true),
            prop("details", PropType::ComplexCollection(PUBLIC_ERROR_DETAIL), true),
        ],
    },
    ComplexType { qualified: RUN_STATISTICS, open: true, properties: &[] },
    // What `getStatistics` returns.
    ComplexType {
        qualified: INDUSTRY_DATA_RUN_STATISTICS,
        open: false,
        properties: &[
            prop("runId", STRING, false),
            prop("status", PropType::Primitive(Type::Enum(INDUSTRY_DATA_RUN_STATUS)), false),
            prop("activityStatistics", PropType::ComplexCollection(INBOUND_ACTIVITY_RESULTS), false),
            prop("inboundTotals", PropType::Complex(AGGREGATED_INBOUND_STATISTICS), false),
        ],
    },
    ComplexType {
        qualified: INBOUND_ACTIVITY_RESULTS,
        open: false,
        properties: &[
            prop("activityId", STRING, false),
            prop("displayName", STRING, false),
            prop("status", PropType::Primitive(Type::Enum(INDUSTRY_DATA_ACTIVITY_STATUS)), false),
            prop("errors", PropType::Primitive(Type::Int64), false),
            prop("warnings", PropType::Primitive(Type::Int64), false),
        ],
    },
    ComplexType {
        qualified: AGGREGATED_INBOUND_STATISTICS,
        open: false,
        properties: &[
            prop("errors", PropType::Primitive(Type::Int64), false),
            prop("warnings", PropType::Primitive(Type::Int64), false),
            prop("people", PropType::Primitive(Type::Int64), false),
            prop("groups", PropType::Primitive(Type::Int64), false),
            prop("memberships", PropType::Primitive(Type::Int64), false),
            prop("organizations", PropType::Primitive(Type::Int64), false),
        ],
    },
];

/// The enum types of the `microsoft.graph.industryData` namespace, straight from the model.
pub static ENUM_TYPES: &[EnumType] = &[
    EnumType { name: RunStatus::TYPE_NAME, members: RunStatus::MEMBERS },
    EnumType { name: ReadinessStatus::TYPE_NAME, members: ReadinessStatus::MEMBERS },
    EnumType { name: IncomingDomain::TYPE_NAME, members: IncomingDomain::MEMBERS },
    EnumType { name: INDUSTRY_DATA_RUN_STATUS, members: RunStatus::MEMBERS },
    EnumType { name: INDUSTRY_DATA_ACTIVITY_STATUS, members: INDUSTRY_DATA_ACTIVITY_STATUS_MEMBERS },
];

/// The paths into complex or navigation properties that `$filter` and `$orderby` accept. Their
/// types and nullability come from the declarations above.
pub static NESTED_QUERY_PATHS: &[&str] = &["blockingError/code", "blockingError/message", "blockingError/target", "process/id"];

/// Looks up an entity type by qualified name.
pub fn entity_type(qualified: &str) -> Option<&'static EntityType> {
    ENTITY_TYPES.iter().find(|t| t.qualified == qualified)
}

/// Looks up a complex type by qualified name.
pub fn complex_type(qualified: &str) -> Option<&'static ComplexType> {
    COMPLEX_TYPES.iter().find(|t| t.qualified == qualified)
}

/// Looks up an enum type by unqualified name (`runStatus`).
pub fn enum_type(name: &str) -> Option<&'static EnumType> {
    ENUM_TYPES.iter().find(|t| t.name == name)
}

/// The type and its base types, most basic first.
pub fn type_chain(ty: &'static EntityType) -> Vec<&'static EntityType> {
    let mut chain = vec![ty];
    let mut current = ty;
    // The table is acyclic; the bound only guards against a future typo looping forever.
    while let Some(base) = current.base.and_then(entity_type) {
        if chain.len() > ENTITY_TYPES.len() {
            break;
        }
        chain.push(base);
        current = base;
    }
    chain.reverse();
    chain
}

/// Whether `ty` is `ancestor` or derives from it.
pub fn derives_from(ty: &'static EntityType, ancestor: &str) -> bool {
    type_chain(ty).iter().any(|t| t.qualified == ancestor)
}

/// The CSDL name of a primitive or enum type (`Edm.String`, `microsoft.graph.industryData.runStatus`).
pub fn edm_type_name(ty: Type) -> String {
    match ty {
        Type::String => "Edm.String".into(),
        Type::DateTimeOffset => "Edm.DateTimeOffset".into(),
        Type::Boolean => "Edm.Boolean".into(),
        Type::Int64 => "Edm.Int64".into(),
        Type::Enum(name) => format!("{NAMESPACE}.{name}"),
    }
}

/// What a URL addresses for query purposes: the entity type whose properties `$filter`,
/// `$orderby`, `$select` and `$expand` may name.
///
/// - `Runs`: `/industryData/runs`, a process's `runs`, a runGroup's `runs`, and the cast segments
///   `runs/microsoft.graph.industryData.incomingFlowRun` / `outgoingFlowRun` (the `run` type).
/// - `RunGroups`: `/industryData/runGroups` and the `…/runs/microsoft.graph.industryData.runGroup`
///   cast (the `runGroup` type, which adds the `runs` navigation for `$expand`).
/// - `IncomingFlows`, `OutgoingFlows`: the two process sets.
/// - `Processes`: the abstract `process` type — the target of a run's `$expand=process`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntitySet {
    Runs,
    RunGroups,
    IncomingFlows,
    OutgoingFlows,
    Processes,
    /// `/external/industryData/runs`: runGroups as `industryDataRun`.
    IndustryDataRuns,
    /// `/external/industryData/runs/{id}/activities`: member runs as activities.
    Activities,
}

/// A queryable (filterable and orderable) primitive path of an entity set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueryProperty {
    /// `status`, `blockingError/code`, `process/id`, …
    pub path: &'static str,
    pub ty: Type,
    pub nullable: bool,
}

/// A navigation property usable in `$expand`, with the set its targets are queried as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NavigationTarget {
    pub name: &'static str,
    pub target: EntitySet,
    pub collection: bool,
}

/// What is derived once per entity set from the declarations.
struct SetInfo {
    properties: Vec<QueryProperty>,
    selectable: Vec<&'static str>,
    navigations: Vec<NavigationTarget>,
    isof_types: Vec<&'static str>,
}

static SET_INFO: LazyLock<Vec<SetInfo>> = LazyLock::new(|| EntitySet::ALL.iter().map(|set| derive_set_info(*set)).collect());

fn derive_set_info(set: EntitySet) -> SetInfo {
    let chain = type_chain(set.entity_type());
    let mut info = SetInfo { properties: Vec::new(), selectable: Vec::new(), navigations: Vec::new(), isof_types: Vec::new() };
    for ty in &chain {
        for p in ty.properties {
            info.selectable.push(p.name);
            match p.ty {
                PropType::Primitive(t) => info.properties.push(QueryProperty { path: p.name, ty: t, nullable: p.nullable }),
                PropType::Complex(complex) => {
                    for member in complex_type(complex).map_or(&[][..], |c| c.properties) {
                        if let PropType::Primitive(t) = member.ty
                            && let Some(path) = nested_path(p.name, member.name)
                        {
                            info.properties.push(QueryProperty { path, ty: t, nullable: p.nullable || member.nullable });
                        }
                    }
                }
                PropType::ComplexCollection(_) => {}
            }
        }
        for n in ty.navigations {
            let Some(target_type) = entity_type(n.target) else {
                continue;
            };
            let Some(target) = EntitySet::for_type(target_type.qualified) else {
                continue;
            };
            info.navigations.push(NavigationTarget { name: n.name, target, collection: n.collection });
            // A single-valued navigation exposes its target's key, e.g. `process/id`.
            if !n.collection
                && let Some(path) = nested_path(n.name, "id")
            {
                info.properties.push(QueryProperty { path, ty: Type::String, nullable: true });
            }
        }
    }
    // isof: the set's own type and its bases (which every row satisfies) plus every type derived
    // from it (which some rows may be). `entity` and `mutableEntity` are left out: no use.
    let own = set.entity_type();
    for ty in ENTITY_TYPES {
        if ty.namespace() != NAMESPACE {
            continue;
        }
        if derives_from(own, ty.qualified) || derives_from(ty, own.qualified) {
            info.isof_types.push(ty.name());
        }
    }
    info
}

fn nested_path(owner: &str, member: &str) -> Option<&'static str> {
    NESTED_QUERY_PATHS.iter().copied().find(|p| p.split_once('/') == Some((owner, member)))
}

impl EntitySet {
    pub const ALL: [EntitySet; 7] = [
        EntitySet::Runs,
        EntitySet::RunGroups,
        EntitySet::IncomingFlows,
        EntitySet::OutgoingFlows,
        EntitySet::Processes,
        EntitySet::IndustryDataRuns,
        EntitySet::Activities,
    ];

    /// The qualified name of the entity type the set holds.
    pub fn type_name(self) -> &'static str {
        match self {
            EntitySet::Runs => RUN,
            EntitySet::RunGroups => RUN_GROUP,
            EntitySet::IncomingFlows => INCOMING_FLOW,
            EntitySet::OutgoingFlows => OUTGOING_FLOW,
            EntitySet::Processes => PROCESS,
            EntitySet::IndustryDataRuns => INDUSTRY_DATA_RUN,
            EntitySet::Activities => INDUSTRY_DATA_RUN_ACTIVITY,
        }
    }

    /// The declaration of the set's entity type.
    pub fn entity_type(self) -> &'static EntityType {
        // Every `type_name` is declared in ENTITY_TYPES (checked by a test); `run` is a safe
        // fallback that cannot be reached.
        entity_type(self.type_name()).unwrap_or(&ENTITY_TYPES[5])
    }

    /// The set that queries entities of the given qualified type.
    pub fn for_type(qualified: &str) -> Option<EntitySet> {
        Self::ALL.into_iter().find(|s| s.type_name() == qualified)
    }

    fn info(self) -> &'static SetInfo {
        &SET_INFO[self as usize]
    }

    /// The filterable and orderable primitive paths.
    pub fn properties(self) -> &'static [QueryProperty] {
        &self.info().properties
    }

    /// Looks up a filterable path.
    pub fn property(self, path: &str) -> Option<&'static QueryProperty> {
        self.properties().iter().find(|p| p.path == path)
    }

    /// The structural properties `$select` accepts.
    pub fn selectable(self) -> &'static [&'static str] {
        &self.info().selectable
    }

    /// The navigation properties `$expand` accepts.
    pub fn navigations(self) -> &'static [NavigationTarget] {
        &self.info().navigations
    }

    pub fn navigation(self, name: &str) -> Option<&'static NavigationTarget> {
        self.navigations().iter().find(|n| n.name == name)
    }

    /// Unqualified type names `isof` accepts (`run`, `runGroup`, …).
    pub fn isof_types(self) -> &'static [&'static str] {
        &self.info().isof_types
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_have_the_documented_query_paths() {
        let paths: Vec<_> = EntitySet::Runs.properties().iter().map(|p| p.path).collect();
        assert_eq!(
            paths,
            [
                "id",
                "displayName",
                "startDateTime",
                "endDateTime",
                "status",
                "blockingError/code",
                "blockingError/message",
                "blockingError/target",
                "process/id"
            ]
        );
        let end = EntitySet::Runs.property("endDateTime").unwrap();
        assert!(end.nullable);
        assert_eq!(EntitySet::Runs.property("status").unwrap().ty, Type::Enum("runStatus"));
        assert!(EntitySet::Runs.property("blockingError/code").unwrap().nullable);
        assert!(!EntitySet::Runs.property("id").unwrap().nullable);
        assert_eq!(
            EntitySet::Runs.selectable(),
            ["id", "displayName", "startDateTime", "endDateTime", "status", "blockingError", "statistics"]
        );
        assert_eq!(EntitySet::Runs.isof_types(), ["run", "incomingFlowRun", "outgoingFlowRun", "runGroup"]);
        let navs = EntitySet::Runs.navigations();
        assert_eq!(navs.len(), 1);
        assert_eq!(navs[0], NavigationTarget { name: "process", target: EntitySet::Processes, collection: false });
    }

    #[test]
    fn run_groups_add_the_runs_navigation() {
        assert_eq!(EntitySet::RunGroups.isof_types(), ["run", "runGroup"]);
        assert!(EntitySet::RunGroups.navigation("process").is_some());
        let runs = EntitySet::RunGroups.navigation("runs").unwrap();
        assert_eq!(runs.target, EntitySet::Runs);
        assert!(runs.collection);
        assert_eq!(EntitySet::RunGroups.properties(), EntitySet::Runs.properties());
    }

    #[test]
    fn processes() {
        let paths: Vec<_> = EntitySet::IncomingFlows.properties().iter().map(|p| p.path).collect();
        assert_eq!(
            paths,
            ["id", "eTag", "displayName", "readinessStatus", "dataDomain", "recurrenceEffectiveDateTime", "recurrenceExpirationDateTime"]
        );
        let outgoing: Vec<_> = EntitySet::OutgoingFlows.properties().iter().map(|p| p.path).collect();
        assert_eq!(outgoing, ["id", "eTag", "displayName", "readinessStatus"]);
        assert_eq!(EntitySet::IncomingFlows.isof_types(), ["process", "incomingFlow"]);
        assert_eq!(EntitySet::OutgoingFlows.isof_types(), ["process", "outgoingFlow"]);
        assert_eq!(EntitySet::Processes.isof_types(), ["process", "incomingFlow", "outgoingFlow"]);
        assert!(EntitySet::IncomingFlows.property("dataDomain").unwrap().nullable);
        for set in [EntitySet::IncomingFlows, EntitySet::OutgoingFlows, EntitySet::Processes] {
            let runs = set.navigation("runs").unwrap();
            assert_eq!((runs.target, runs.collection), (EntitySet::Runs, true));
        }
    }

    #[test]
    fn every_set_type_and_reference_is_declared() {
        for set in EntitySet::ALL {
            assert_eq!(set.entity_type().qualified, set.type_name());
        }
        for ty in ENTITY_TYPES {
            if let Some(base) = ty.base {
                assert!(entity_type(base).is_some(), "{base}");
            }
            for n in ty.navigations {
                assert!(entity_type(n.target).is_some(), "{}", n.target);
            }
        }
        for path in NESTED_QUERY_PATHS {
            assert!(EntitySet::ALL.iter().any(|s| s.property(path).is_some()), "{path} is queryable nowhere");
        }
    }
}
