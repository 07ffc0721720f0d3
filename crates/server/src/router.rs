//! The URL table: every endpoint below `/beta`, each method it answers, who may call it and the
//! handler that serves it. A request's path is parsed into a typed resource (`path.rs`), whose
//! endpoint picks the rows here; the 405s (and their `Allow`), the permission check and the
//! dispatch all read this one table. The routes outside `/beta` (health, metrics, the dashboard)
//! are in `app.rs`. docs/api.md describes each endpoint.

use std::future::Future;
use std::pin::Pin;

use axum::http::Method;
use axum::response::Response;

use crate::error::{ApiError, ApiResult};
use crate::path::Endpoint::{self, *};
use crate::permissions::{AUTHENTICATED, Access, FLOWS_READ, FLOWS_WRITE, RUN_AND_FLOW_READ, RUNS_READ, RUNS_START, RUNS_WRITE};
use crate::routes::{Ctx, batch, delta, external, processes, run_groups, runs, service, subscriptions};

/// A handler: serves a request whose path it reads from the [`Ctx`].
pub type Handler = for<'a> fn(&'a Ctx) -> Pin<Box<dyn Future<Output = ApiResult<Response>> + Send + 'a>>;

/// One row: an endpoint, a method, who may call it, the handler.
pub struct Route {
    pub endpoint: Endpoint,
    pub method: &'static str,
    pub access: Access,
    pub handler: Handler,
}

const fn row(endpoint: Endpoint, method: &'static str, access: Access, handler: Handler) -> Route {
    Route { endpoint, method, access, handler }
}

/// THE table. An endpoint's rows are in the order its `Allow` header lists them.
pub const ROUTES: &[Route] = &[
    // The service: its document, its schema, several requests in one.
    row(ServiceDocument, "GET", AUTHENTICATED, |c| Box::pin(async move { service::service_document(c) })),
    row(Metadata, "GET", AUTHENTICATED, |c| Box::pin(async move { service::metadata(c) })),
    row(Batch, "POST", AUTHENTICATED, |c| Box::pin(batch::run(c))),
    // Flows: /industryData/{incomingFlows|outgoingFlows}[/{id}[/runNow]], /$count, /delta.
    row(Flows, "GET", FLOWS_READ, |c| Box::pin(processes::list(c))),
    row(Flows, "POST", FLOWS_WRITE, |c| Box::pin(processes::create(c))),
    row(FlowsCount, "GET", FLOWS_READ, |c| Box::pin(processes::count(c))),
    row(FlowsDelta, "GET", FLOWS_READ, |c| Box::pin(delta::delta(c))),
    row(Flow, "GET", FLOWS_READ, |c| Box::pin(processes::get(c))),
    row(Flow, "PATCH", FLOWS_WRITE, |c| Box::pin(processes::update(c))),
    row(Flow, "DELETE", FLOWS_WRITE, |c| Box::pin(processes::delete(c))),
    row(RunNow, "POST", RUNS_START, |c| Box::pin(processes::run_now(c))),
    // Runs: /industryData/runs, /industryData/runGroups, …Flows/{id}/runs, runGroups/{id}/runs,
    // each with [/cast], /{runId}[/cast], /{runId}/process[/$ref], /$count; /runs/delta.
    row(Runs, "GET", RUNS_READ, |c| Box::pin(runs::list(c))),
    row(Runs, "POST", RUNS_WRITE, |c| Box::pin(runs::create(c))),
    row(RunsOfKind, "GET", RUNS_READ, |c| Box::pin(runs::list(c))),
    row(RunsCount, "GET", RUNS_READ, |c| Box::pin(runs::count(c))),
    row(RunsDelta, "GET", RUNS_READ, |c| Box::pin(delta::delta(c))),
    row(Run, "GET", RUNS_READ, |c| Box::pin(runs::get(c))),
    row(Run, "PATCH", RUNS_WRITE, |c| Box::pin(runs::update(c))),
    row(Run, "DELETE", RUNS_WRITE, |c| Box::pin(runs::delete(c))),
    row(RunProcess, "GET", RUN_AND_FLOW_READ, |c| Box::pin(runs::get_process(c))),
    row(RunProcessRef, "GET", RUNS_READ, |c| Box::pin(runs::get_process_ref(c))),
    row(RunProcessRef, "PUT", RUNS_WRITE, |c| Box::pin(runs::set_process_ref(c))),
    row(RunProcessRef, "POST", RUNS_WRITE, |c| Box::pin(runs::set_process_ref(c))),
    // A runGroup's members: runGroups/{id}/runs/$ref, runGroups/{id}/runs/{runId}/$ref, and its report.
    row(GroupMemberRefs, "POST", RUNS_WRITE, |c| Box::pin(run_groups::add_member(c))),
    row(GroupMemberRef, "DELETE", RUNS_WRITE, |c| Box::pin(run_groups::remove_member(c))),
    row(ErrorsAndWarnings, "GET", RUNS_READ, |c| Box::pin(run_groups::errors_and_warnings(c))),
    // The published Graph paths: /external/industryData/runs[/{id}[/activities[/{activityId}[/activity]]]],
    // /$count, …/getStatistics, /start.
    row(ExternalRuns, "GET", RUNS_READ, |c| Box::pin(external::list_runs(c))),
    row(ExternalRunsCount, "GET", RUNS_READ, |c| Box::pin(external::count_runs(c))),
    row(ExternalRun, "GET", RUNS_READ, |c| Box::pin(external::get_run(c))),
    row(ExternalStatistics, "GET", RUNS_READ, |c| Box::pin(external::statistics(c))),
    row(ExternalStart, "POST", RUNS_START, |c| Box::pin(external::start(c))),
    row(Activities, "GET", RUNS_READ, |c| Box::pin(external::list_activities(c))),
    row(ActivitiesCount, "GET", RUNS_READ, |c| Box::pin(external::count_activities(c))),
    row(Activity, "GET", RUNS_READ, |c| Box::pin(external::get_activity(c))),
    row(ActivityFlow, "GET", RUN_AND_FLOW_READ, |c| Box::pin(external::activity_flow(c))),
    // Change notifications: /subscriptions[/{id}], the caller's tenant's only.
    row(Subscriptions, "GET", AUTHENTICATED, |c| Box::pin(subscriptions::list(c))),
    row(Subscriptions, "POST", AUTHENTICATED, |c| Box::pin(subscriptions::create(c))),
    row(Subscription, "GET", AUTHENTICATED, |c| Box::pin(subscriptions::get(c))),
    row(Subscription, "PATCH", AUTHENTICATED, |c| Box::pin(subscriptions::update(c))),
    row(Subscription, "DELETE", AUTHENTICATED, |c| Box::pin(subscriptions::delete(c))),
];

/// The row for this endpoint and method; 405 (with `Allow`) when the endpoint has no such method.
pub fn route(endpoint: Endpoint, method: &Method) -> ApiResult<&'static Route> {
    let mut rows = ROUTES.iter().filter(|r| r.endpoint == endpoint);
    if let Some(route) = rows.clone().find(|r| r.method == method.as_str()) {
        return Ok(route);
    }
    Err(ApiError::method_not_allowed(&rows.by_ref().map(|r| r.method).collect::<Vec<_>>()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every endpoint the path grammar can produce has at least one row (else it would answer 405
    /// to every method).
    #[test]
    fn every_endpoint_has_a_row() {
        let id = "7f3c8c9e-4a3e-4a39-9a77-1d3c6f0b1a20";
        let paths = [
            String::new(),
            "$metadata".into(),
            "$batch".into(),
            "industryData/incomingFlows".into(),
            "industryData/incomingFlows/$count".into(),
            "industryData/outgoingFlows/delta".into(),
            format!("industryData/incomingFlows/{id}"),
            format!("industryData/incomingFlows/{id}/runNow"),
            "industryData/runs".into(),
            "industryData/runs/microsoft.graph.industryData.incomingFlowRun".into(),
            "industryData/runs/$count".into(),
            "industryData/runs/delta".into(),
            format!("industryData/runs/{id}"),
            format!("industryData/runs/{id}/process"),
            format!("industryData/runs/{id}/process/$ref"),
            format!("industryData/runGroups/{id}/runs/$ref"),
            format!("industryData/runGroups/{id}/runs/{id}/$ref"),
            format!("industryData/runGroups/{id}/getErrorsAndWarningsFile"),
            "external/industryData/runs".into(),
            "external/industryData/runs/$count".into(),
            format!("external/industryData/runs/{id}"),
            "external/industryData/runs/getStatistics".into(),
            "external/industryData/runs/start".into(),
            format!("external/industryData/runs/{id}/activities"),
            format!("external/industryData/runs/{id}/activities/$count"),
            format!("external/industryData/runs/{id}/activities/{id}"),
            format!("external/industryData/runs/{id}/activities/{id}/activity"),
            "subscriptions".into(),
            format!("subscriptions/{id}"),
        ];
        let mut seen = Vec::new();
        for path in &paths {
            let endpoint = crate::path::parse(path).unwrap_or_else(|e| panic!("{path}: {}", e.message)).endpoint();
            assert!(ROUTES.iter().any(|r| r.endpoint == endpoint), "no row for {endpoint:?} ({path})");
            seen.push(endpoint);
        }
        for r in ROUTES {
            assert!(seen.contains(&r.endpoint), "the test has no path for {:?}", r.endpoint);
        }
    }

    #[test]
    fn a_missing_method_lists_the_others() {
        let e = route(Flow, &Method::POST).err().expect("405");
        assert_eq!(e.headers[0].1, "GET, PATCH, DELETE");
        assert!(route(Flow, &Method::PATCH).is_ok());
    }
}
