//! Who may do what: ONE table from (endpoint, method) to the permissions that allow it.
//! A caller needs any one permission of the row's set; `$expand` additionally needs read access to
//! what it expands. Anything not in the table is refused (403 `accessDenied`). The README's
//! permission table is this table.

use axum::http::{Method, header};
use runhub_model::Code;

use runhub_odata::QueryString;

use crate::auth::{Grants, Permission};
use crate::error::{ApiError, ApiResult};
use crate::path::{Resource, ResourcePath};

use Permission::{FlowRead, FlowReadWrite, RunRead, RunReadWrite, RunStart};

/// The endpoints of the URL space, as [`Resource`] classifies them (run collections are one endpoint
/// wherever they are addressed: `runs`, `runGroups`, a flow's or a group's `runs`, cast or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    ServiceDocument,
    Metadata,
    Flows,
    FlowsCount,
    Flow,
    RunNow,
    Runs,
    RunsCount,
    Run,
    RunProcess,
    RunProcessRef,
    GroupMemberRefs,
    GroupMemberRef,
    ErrorsAndWarnings,
    Batch,
    Subscriptions,
    Subscription,
}

impl Endpoint {
    pub fn of(path: &ResourcePath) -> Endpoint {
        match (&path.resource, path.count) {
            (Resource::ServiceDocument, _) => Endpoint::ServiceDocument,
            (Resource::Metadata, _) => Endpoint::Metadata,
            (Resource::Processes(_), false) => Endpoint::Flows,
            (Resource::Processes(_), true) => Endpoint::FlowsCount,
            (Resource::Process(..), _) => Endpoint::Flow,
            (Resource::RunNow(_), _) => Endpoint::RunNow,
            (Resource::Runs(_), false) => Endpoint::Runs,
            (Resource::Runs(_), true) => Endpoint::RunsCount,
            (Resource::Run(..), _) => Endpoint::Run,
            (Resource::RunProcess(..), _) => Endpoint::RunProcess,
            (Resource::RunProcessRef(..), _) => Endpoint::RunProcessRef,
            (Resource::GroupMemberRefs(_), _) => Endpoint::GroupMemberRefs,
            (Resource::GroupMemberRef(..), _) => Endpoint::GroupMemberRef,
            (Resource::ErrorsAndWarnings(_), _) => Endpoint::ErrorsAndWarnings,
            // Delta and the live stream: exactly as listing the collection.
            (Resource::Delta(runhub_store::Collection::Runs), _) => Endpoint::Runs,
            (Resource::Delta(_), _) => Endpoint::Flows,
            (Resource::Batch, _) => Endpoint::Batch,
            (Resource::Subscriptions, _) => Endpoint::Subscriptions,
            (Resource::Subscription(_), _) => Endpoint::Subscription,
            // The published paths share the rows of what they are a view over.
            (Resource::External(e), count) => match e {
                crate::path::External::Start => Endpoint::RunNow,
                crate::path::External::Runs | crate::path::External::Activities(_) if count => Endpoint::RunsCount,
                crate::path::External::Runs | crate::path::External::Activities(_) => Endpoint::Runs,
                crate::path::External::ActivityFlow(..) => Endpoint::RunProcess,
                _ => Endpoint::Run,
            },
        }
    }
}

/// Any authenticated caller (no permission needed): the service document and `$metadata` describe
/// the API, not anyone's data.
pub const AUTHENTICATED: &[Permission] = &[];
const RUNS_READ: &[Permission] = &[RunRead, RunReadWrite];
const RUNS_WRITE: &[Permission] = &[RunReadWrite];
const RUNS_START: &[Permission] = &[RunStart, RunReadWrite];
const FLOWS_READ: &[Permission] = &[FlowRead, FlowReadWrite];
const FLOWS_WRITE: &[Permission] = &[FlowReadWrite];

/// One row: an endpoint, a method, the permissions of which the caller needs any one (empty: any
/// authenticated caller), and the URL shapes for the README.
pub struct Rule {
    pub endpoint: Endpoint,
    pub method: &'static str,
    pub any_of: &'static [Permission],
    pub paths: &'static str,
}

const fn rule(endpoint: Endpoint, method: &'static str, any_of: &'static [Permission], paths: &'static str) -> Rule {
    Rule { endpoint, method, any_of, paths }
}

/// THE table.
pub const TABLE: &[Rule] = &[
    rule(Endpoint::ServiceDocument, "GET", AUTHENTICATED, "/"),
    rule(Endpoint::Metadata, "GET", AUTHENTICATED, "/$metadata"),
    rule(Endpoint::Flows, "GET", FLOWS_READ, "/industryData/{incomingFlows|outgoingFlows}[/delta]"),
    rule(Endpoint::FlowsCount, "GET", FLOWS_READ, "/industryData/{incomingFlows|outgoingFlows}/$count"),
    rule(Endpoint::Flows, "POST", FLOWS_WRITE, "/industryData/{incomingFlows|outgoingFlows}"),
    rule(Endpoint::Flow, "GET", FLOWS_READ, "…Flows/{id}"),
    rule(Endpoint::Flow, "PATCH", FLOWS_WRITE, "…Flows/{id}"),
    rule(Endpoint::Flow, "DELETE", FLOWS_WRITE, "…Flows/{id}"),
    rule(Endpoint::RunNow, "POST", RUNS_START, "/industryData/incomingFlows/{id}/runNow"),
    rule(
        Endpoint::Runs,
        "GET",
        RUNS_READ,
        "/industryData/runs[/cast|/delta], /industryData/runGroups, …Flows/{id}/runs, runGroups/{id}/runs",
    ),
    rule(Endpoint::RunsCount, "GET", RUNS_READ, "any run collection + /$count"),
    rule(Endpoint::Runs, "POST", RUNS_WRITE, "/industryData/runs, /industryData/runGroups, …Flows/{id}/runs, runGroups/{id}/runs"),
    rule(Endpoint::Run, "GET", RUNS_READ, "…/runs/{runId}[/cast], /industryData/runGroups/{id}"),
    rule(Endpoint::Run, "PATCH", RUNS_WRITE, "…/runs/{runId}, /industryData/runGroups/{id}"),
    rule(Endpoint::Run, "DELETE", RUNS_WRITE, "…/runs/{runId}, /industryData/runGroups/{id}"),
    rule(Endpoint::RunProcess, "GET", RUNS_READ, "…/runs/{runId}/process (plus flow read: it returns the flow)"),
    rule(Endpoint::RunProcessRef, "GET", RUNS_READ, "…/runs/{runId}/process/$ref"),
    rule(Endpoint::RunProcessRef, "PUT", RUNS_WRITE, "…/runs/{runId}/process/$ref"),
    rule(Endpoint::RunProcessRef, "POST", RUNS_WRITE, "…/runs/{runId}/process/$ref"),
    rule(Endpoint::GroupMemberRefs, "POST", RUNS_WRITE, "/industryData/runGroups/{id}/runs/$ref"),
    rule(Endpoint::GroupMemberRef, "DELETE", RUNS_WRITE, "/industryData/runGroups/{id}/runs/{runId}/$ref"),
    rule(Endpoint::ErrorsAndWarnings, "GET", RUNS_READ, "/industryData/runGroups/{id}/getErrorsAndWarningsFile"),
    rule(Endpoint::Batch, "POST", AUTHENTICATED, "/$batch (each request in it is checked on its own)"),
    rule(Endpoint::Subscriptions, "GET", AUTHENTICATED, "/subscriptions (the tenant's)"),
    rule(Endpoint::Subscriptions, "POST", AUTHENTICATED, "/subscriptions (plus read permission of its resource)"),
    rule(Endpoint::Subscription, "GET", AUTHENTICATED, "/subscriptions/{id}"),
    rule(Endpoint::Subscription, "PATCH", AUTHENTICATED, "/subscriptions/{id}"),
    rule(Endpoint::Subscription, "DELETE", AUTHENTICATED, "/subscriptions/{id}"),
];

/// The read permission a subscription needs for what it watches.
pub fn check_subscription(grants: &Grants, watches_runs: bool) -> ApiResult<()> {
    let needs = if watches_runs { RUNS_READ } else { FLOWS_READ };
    if allows(grants, needs) { Ok(()) } else { Err(denied(needs, "subscribing to this resource")) }
}

/// What a navigation brings in, beside the row's own permission: `process` (a run's flow) needs
/// flow read, `runs` (a flow's or group's runs) needs run read. Used for `$expand` and for
/// `…/runs/{runId}/process`, which returns a flow.
pub const NAVIGATION: &[(&str, &[Permission])] = &[("process", FLOWS_READ), ("runs", RUNS_READ)];

fn navigation_needs(nav: &str) -> Option<&'static [Permission]> {
    NAVIGATION.iter().find(|(n, _)| *n == nav).map(|(_, p)| *p)
}

fn denied(needs: &[Permission], what: &str) -> ApiError {
    let names: Vec<&str> = needs.iter().map(|p| p.as_str()).collect();
    ApiError::new(Code::AccessDenied, format!("{what} requires one of these permissions (scp or roles): {}", names.join(", "))).with_header(
        header::WWW_AUTHENTICATE,
        format!("Bearer realm=\"runhub\", error=\"insufficient_scope\", scope=\"{}\"", names.join(" ")),
    )
}

fn allows(grants: &Grants, any_of: &[Permission]) -> bool {
    any_of.is_empty() || any_of.iter().any(|p| grants.has(*p))
}

/// Refuses (403) what the caller's grants do not allow: the table row for this endpoint and method
/// (no row: refused), plus read access to whatever `$expand` brings in.
pub fn check(grants: &Grants, path: &ResourcePath, method: &Method, query: &QueryString) -> ApiResult<()> {
    if *grants == Grants::All {
        return Ok(());
    }
    let endpoint = Endpoint::of(path);
    let what = format!("{method} /beta/{}", path.path);
    let Some(row) = TABLE.iter().find(|r| r.endpoint == endpoint && r.method == method.as_str()) else {
        return Err(ApiError::new(Code::AccessDenied, format!("{what} is not allowed to anyone")));
    };
    if !allows(grants, row.any_of) {
        return Err(denied(row.any_of, &what));
    }
    if endpoint == Endpoint::RunProcess {
        let needs = navigation_needs("process").unwrap_or(FLOWS_READ);
        if !allows(grants, needs) {
            return Err(denied(needs, "reading a run's process"));
        }
    }
    // What `$expand` brings in, at any depth: a navigation named anywhere in an `$expand` value
    // (nested options included) needs its read permission. Over-inclusive by design: a stray
    // mention costs a 403, never a leak. An unknown navigation is the query parser's 400.
    let expanded = query.params().iter().filter(|p| p.bare_name().is_some_and(|n| n.trim().eq_ignore_ascii_case("expand")));
    let values: Vec<&str> = expanded.filter_map(|p| p.value.as_deref()).collect();
    for (nav, needs) in NAVIGATION {
        if values.iter().any(|v| v.contains(nav)) && !allows(grants, needs) {
            return Err(denied(needs, &format!("$expand of {nav}")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_endpoint_and_allowed_method_has_a_row() {
        use runhub_model::{ProcessKind, RunKind, Uuid};
        use runhub_store::{RunParent, RunScope};
        let id = Uuid::nil();
        let resources = [
            Resource::ServiceDocument,
            Resource::Metadata,
            Resource::Processes(ProcessKind::IncomingFlow),
            Resource::Process(ProcessKind::OutgoingFlow, id),
            Resource::RunNow(id),
            Resource::Runs(RunScope::all()),
            Resource::Runs(RunScope { parent: RunParent::All, kind: Some(RunKind::RunGroup) }),
            Resource::Run(RunScope::all(), id),
            Resource::RunProcess(RunScope::all(), id),
            Resource::RunProcessRef(RunScope::all(), id),
            Resource::GroupMemberRefs(id),
            Resource::GroupMemberRef(id, id),
            Resource::ErrorsAndWarnings(id),
            Resource::Batch,
        ];
        for resource in resources {
            for count in [false, true] {
                if count && !matches!(resource, Resource::Processes(_) | Resource::Runs(_)) {
                    continue;
                }
                let path = ResourcePath { resource: resource.clone(), count, context: String::new(), path: String::new() };
                for method in resource.allowed(count) {
                    let endpoint = Endpoint::of(&path);
                    assert!(
                        TABLE.iter().any(|r| r.endpoint == endpoint && r.method == method.as_str()),
                        "no permission row for {method} {endpoint:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn nested_expansions_need_their_permissions() {
        use std::collections::BTreeSet;
        let path = ResourcePath {
            resource: Resource::Runs(runhub_store::RunScope::all()),
            count: false,
            context: String::new(),
            path: "x".into(),
        };
        let runs_only = Grants::Some(BTreeSet::from([Permission::RunRead]));
        let get = Method::GET;
        assert!(check(&runs_only, &path, &get, &QueryString::parse(Some("$top=1"))).is_ok());
        assert!(check(&runs_only, &path, &get, &QueryString::parse(Some("$expand=process"))).is_err());
        assert!(check(&runs_only, &path, &get, &QueryString::parse(Some("%24expand=runs(%24expand%3Dprocess)"))).is_err());
        assert!(check(&runs_only, &path, &get, &QueryString::parse(Some("expand=runs"))).is_ok());
    }
}
