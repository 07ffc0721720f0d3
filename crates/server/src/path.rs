//! The OData URL space (docs/api.md, "URL space"), parsed into a typed resource path. One parser decides what a URL
//! addresses, so 404 (no such resource) and 405 (no such method on it) are decided in one place.

use runhub_model::{ProcessKind, RunKind, Uuid};
use runhub_store::{Collection, RunParent, RunScope};

use crate::error::ApiError;

const CAST_PREFIX: &str = "microsoft.graph.industryData.";

#[derive(Debug, Clone, PartialEq)]
pub enum Resource {
    ServiceDocument,
    Metadata,
    Processes(ProcessKind),
    Process(ProcessKind, Uuid),
    RunNow(Uuid),
    /// A run collection; `runGroups` is the runs collection cast to runGroup.
    Runs(RunScope),
    Run(RunScope, Uuid),
    RunProcess(RunScope, Uuid),
    RunProcessRef(RunScope, Uuid),
    /// `runGroups/{id}/runs/$ref`.
    GroupMemberRefs(Uuid),
    /// `runGroups/{id}/runs/{runId}/$ref`.
    GroupMemberRef(Uuid, Uuid),
    ErrorsAndWarnings(Uuid),
    /// The published Graph paths under `/external/industryData/runs`.
    External(External),
    /// `…/runs/delta`, `…Flows/delta` (also `microsoft.graph.delta()`): changes of a collection.
    Delta(Collection),
    /// `$batch`: several requests in one (docs/batch.md).
    Batch,
    /// `/subscriptions`: change notifications (docs/webhooks.md).
    Subscriptions,
    Subscription(Uuid),
}

/// A parsed URL: the resource, whether `/$count` follows, and the OData context path of the
/// collection it belongs to (for `@odata.context`).
#[derive(Debug, Clone, PartialEq)]
pub struct ResourcePath {
    pub resource: Resource,
    pub count: bool,
    /// E.g. `industryData/incomingFlows('…')/runs`; empty for the service document and metadata.
    pub context: String,
    /// The request path after the service root, as given (for `nextLink` and `Location`).
    pub path: String,
}

/// The shapes of URL the API answers at, one per row group of the URL table (`router.rs`): what
/// a [`Resource`] is once its ids are set aside. Run collections are one endpoint wherever they
/// are addressed (`runs`, `runGroups`, a flow's or a group's `runs`), except that a cast segment
/// narrowing `runs` to a kind is read-only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    ServiceDocument,
    Metadata,
    Batch,
    Flows,
    FlowsCount,
    FlowsDelta,
    Flow,
    RunNow,
    Runs,
    /// `/industryData/runs/microsoft.graph.industryData.{flow run kind}`: a listing only.
    RunsOfKind,
    RunsCount,
    RunsDelta,
    Run,
    RunProcess,
    RunProcessRef,
    GroupMemberRefs,
    GroupMemberRef,
    ErrorsAndWarnings,
    ExternalRuns,
    ExternalRunsCount,
    ExternalRun,
    ExternalStatistics,
    ExternalStart,
    Activities,
    ActivitiesCount,
    Activity,
    ActivityFlow,
    Subscriptions,
    Subscription,
}

impl ResourcePath {
    /// Which endpoint this URL is.
    pub fn endpoint(&self) -> Endpoint {
        let count = self.count;
        match &self.resource {
            Resource::ServiceDocument => Endpoint::ServiceDocument,
            Resource::Metadata => Endpoint::Metadata,
            Resource::Batch => Endpoint::Batch,
            Resource::Processes(_) if count => Endpoint::FlowsCount,
            Resource::Processes(_) => Endpoint::Flows,
            Resource::Delta(Collection::Runs) => Endpoint::RunsDelta,
            Resource::Delta(_) => Endpoint::FlowsDelta,
            Resource::Process(..) => Endpoint::Flow,
            Resource::RunNow(_) => Endpoint::RunNow,
            Resource::Runs(_) if count => Endpoint::RunsCount,
            Resource::Runs(scope) if scope.parent == RunParent::All && scope.kind.is_some_and(|k| k != RunKind::RunGroup) => {
                Endpoint::RunsOfKind
            }
            Resource::Runs(_) => Endpoint::Runs,
            Resource::Run(..) => Endpoint::Run,
            Resource::RunProcess(..) => Endpoint::RunProcess,
            Resource::RunProcessRef(..) => Endpoint::RunProcessRef,
            Resource::GroupMemberRefs(_) => Endpoint::GroupMemberRefs,
            Resource::GroupMemberRef(..) => Endpoint::GroupMemberRef,
            Resource::ErrorsAndWarnings(_) => Endpoint::ErrorsAndWarnings,
            Resource::External(External::Runs) if count => Endpoint::ExternalRunsCount,
            Resource::External(External::Runs) => Endpoint::ExternalRuns,
            Resource::External(External::Run(_)) => Endpoint::ExternalRun,
            Resource::External(External::Statistics(_)) => Endpoint::ExternalStatistics,
            Resource::External(External::Start) => Endpoint::ExternalStart,
            Resource::External(External::Activities(_)) if count => Endpoint::ActivitiesCount,
            Resource::External(External::Activities(_)) => Endpoint::Activities,
            Resource::External(External::Activity(..)) => Endpoint::Activity,
            Resource::External(External::ActivityFlow(..)) => Endpoint::ActivityFlow,
            Resource::Subscriptions => Endpoint::Subscriptions,
            Resource::Subscription(_) => Endpoint::Subscription,
        }
    }

    // What a handler takes from its URL. The URL table sends each endpoint to handlers that
    // ask for what that endpoint's resource carries; anything else is a bug in the table (500).

    fn misrouted(&self) -> ApiError {
        ApiError::internal(format!("'/beta/{}' was sent to a handler of another resource", self.path))
    }

    /// A flow set: `…Flows`.
    pub fn flow_set(&self) -> Result<ProcessKind, ApiError> {
        match self.resource {
            Resource::Processes(kind) => Ok(kind),
            _ => Err(self.misrouted()),
        }
    }

    /// One flow: `…Flows/{id}`.
    pub fn flow(&self) -> Result<(ProcessKind, Uuid), ApiError> {
        match self.resource {
            Resource::Process(kind, id) => Ok((kind, id)),
            _ => Err(self.misrouted()),
        }
    }

    /// The incomingFlow of `…/runNow`.
    pub fn run_now_flow(&self) -> Result<Uuid, ApiError> {
        match self.resource {
            Resource::RunNow(id) => Ok(id),
            _ => Err(self.misrouted()),
        }
    }

    /// A run collection.
    pub fn run_set(&self) -> Result<&RunScope, ApiError> {
        match &self.resource {
            Resource::Runs(scope) => Ok(scope),
            _ => Err(self.misrouted()),
        }
    }

    /// One run, or its `process` / `process/$ref`.
    pub fn run(&self) -> Result<(&RunScope, Uuid), ApiError> {
        match &self.resource {
            Resource::Run(scope, id) | Resource::RunProcess(scope, id) | Resource::RunProcessRef(scope, id) => Ok((scope, *id)),
            _ => Err(self.misrouted()),
        }
    }

    /// The runGroup of `…/runs/$ref` or `…/getErrorsAndWarningsFile`.
    pub fn group(&self) -> Result<Uuid, ApiError> {
        match self.resource {
            Resource::GroupMemberRefs(group) | Resource::ErrorsAndWarnings(group) => Ok(group),
            _ => Err(self.misrouted()),
        }
    }

    /// The runGroup and member of `…/runs/{runId}/$ref`.
    pub fn group_member(&self) -> Result<(Uuid, Uuid), ApiError> {
        match self.resource {
            Resource::GroupMemberRef(group, run) => Ok((group, run)),
            _ => Err(self.misrouted()),
        }
    }

    /// The collection of a delta URL.
    pub fn delta_collection(&self) -> Result<Collection, ApiError> {
        match self.resource {
            Resource::Delta(collection) => Ok(collection),
            _ => Err(self.misrouted()),
        }
    }

    /// The industryDataRun of a published path: `…/runs/{id}`, its `activities`, its `getStatistics`.
    pub fn external_run(&self) -> Result<Uuid, ApiError> {
        match self.resource {
            Resource::External(External::Run(id) | External::Activities(id)) => Ok(id),
            _ => Err(self.misrouted()),
        }
    }

    /// The industryDataRun and activity of `…/activities/{activityId}[/activity]`.
    pub fn external_activity(&self) -> Result<(Uuid, Uuid), ApiError> {
        match self.resource {
            Resource::External(External::Activity(run, id) | External::ActivityFlow(run, id)) => Ok((run, id)),
            _ => Err(self.misrouted()),
        }
    }

    /// The run of `getStatistics`: `None` for the newest.
    pub fn statistics_run(&self) -> Result<Option<Uuid>, ApiError> {
        match self.resource {
            Resource::External(External::Statistics(run)) => Ok(run),
            _ => Err(self.misrouted()),
        }
    }

    /// One subscription.
    pub fn subscription(&self) -> Result<Uuid, ApiError> {
        match self.resource {
            Resource::Subscription(id) => Ok(id),
            _ => Err(self.misrouted()),
        }
    }
}

impl Resource {
    fn countable(&self) -> bool {
        matches!(self, Resource::Processes(_) | Resource::Runs(_) | Resource::External(External::Runs | External::Activities(_)))
    }
}

fn not_found(path: &str) -> ApiError {
    ApiError::not_found(format!("no resource at '/beta/{path}'"))
}

fn id(segment: &str, what: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(segment).map_err(|_| ApiError::not_found(format!("no {what} with id '{segment}'")))
}

fn cast(segment: &str) -> Option<RunKind> {
    segment.strip_prefix(CAST_PREFIX).and_then(RunKind::from_type_name)
}

/// Strips the optional `()` of a bound function and its optional namespace.
fn function_name(segment: &str) -> &str {
    let s = segment.strip_suffix("()").unwrap_or(segment);
    s.strip_prefix(CAST_PREFIX).unwrap_or(s)
}

/// Graph's `delta` function segment: `delta`, `delta()`, `microsoft.graph.delta()`.
fn is_delta(segment: &str) -> bool {
    let s = segment.strip_suffix("()").unwrap_or(segment);
    s.strip_prefix("microsoft.graph.").unwrap_or(s) == "delta"
}

/// Parses a path below the service root (without the leading `/beta/`).
pub fn parse(path: &str) -> Result<ResourcePath, ApiError> {
    let trimmed = path.trim_end_matches('/');
    let mut segs: Vec<&str> = if trimmed.is_empty() { Vec::new() } else { trimmed.split('/').collect() };
    let count = segs.last() == Some(&"$count");
    if count {
        segs.pop();
    }
    let mut context: Vec<String> = Vec::new();
    let resource = match segs.as_slice() {
        [] => Resource::ServiceDocument,
        ["$metadata"] => Resource::Metadata,
        ["$batch"] => Resource::Batch,
        ["subscriptions"] => {
            context.push("subscriptions".into());
            Resource::Subscriptions
        }
        ["subscriptions", sid] => {
            context.push("subscriptions".into());
            Resource::Subscription(id(sid, "subscription")?)
        }
        ["industryData", rest @ ..] => {
            context.push("industryData".into());
            parse_industry_data(rest, &mut context).ok_or_else(|| not_found(path))??
        }
        ["external", "industryData", "runs", rest @ ..] => {
            Resource::External(parse_external(rest, &mut context)?.ok_or_else(|| not_found(path))?)
        }
        _ => return Err(not_found(path)),
    };
    if count && !resource.countable() {
        return Err(not_found(path));
    }
    Ok(ResourcePath { resource, count, context: context.join("/"), path: trimmed.to_owned() })
}

/// `None` when the shape is unknown (404), `Some(Err)` for a malformed id (404 naming it).
fn parse_industry_data(segs: &[&str], context: &mut Vec<String>) -> Option<Result<Resource, ApiError>> {
    let parsed = (|| -> Result<Option<Resource>, ApiError> {
        Ok(Some(match segs {
            [set, rest @ ..] if ProcessKind::from_entity_set(set).is_some() => {
                let kind = ProcessKind::from_entity_set(set).expect("checked above");
                context.push((*set).to_owned());
                match rest {
                    [] => Resource::Processes(kind),
                    [f] if is_delta(f) => Resource::Delta(Collection::of_process(kind)),
                    [pid, tail @ ..] => {
                        let pid = id(pid, kind.type_name())?;
                        match tail {
                            [] => Resource::Process(kind, pid),
                            [action] if kind == ProcessKind::IncomingFlow && function_name(action) == "runNow" => Resource::RunNow(pid),
                            ["runs", tail @ ..] => {
                                let last = context.pop().unwrap_or_default();
                                context.push(format!("{last}('{pid}')"));
                                context.push("runs".into());
                                let scope = RunScope { parent: RunParent::Process(kind, pid), kind: None };
                                match run_tail(scope, tail, context)? {
                                    Some(r) => r,
                                    None => return Ok(None),
                                }
                            }
                            _ => return Ok(None),
                        }
                    }
                }
            }
            ["runs", f] if is_delta(f) => {
                context.push("runs".into());
                Resource::Delta(Collection::Runs)
            }
            ["runs", tail @ ..] => {
                context.push("runs".into());
                match run_tail(RunScope::all(), tail, context)? {
                    Some(r) => r,
                    None => return Ok(None),
                }
            }
            ["runGroups", tail @ ..] => {
                context.push("runGroups".into());
                let groups = RunScope { parent: RunParent::All, kind: Some(RunKind::RunGroup) };
                match tail {
                    [] => Resource::Runs(groups),
                    [gid, rest @ ..] => {
                        let group = id(gid, "runGroup")?;
                        match rest {
                            ["runs", "$ref"] => Resource::GroupMemberRefs(group),
                            ["runs", rid, "$ref"] => Resource::GroupMemberRef(group, id(rid, "run")?),
                            [f] if function_name(f) == "getErrorsAndWarningsFile" => Resource::ErrorsAndWarnings(group),
                            ["runs", member @ ..] => {
                                context.pop();
                                context.push(format!("runGroups('{group}')"));
                                context.push("runs".into());
                                let scope = RunScope { parent: RunParent::Group(group), kind: None };
                                match run_tail(scope, member, context)? {
                                    Some(r) => r,
                                    None => return Ok(None),
                                }
                            }
                            _ => match run_tail(groups, &segs[1..], context)? {
                                Some(r) => r,
                                None => return Ok(None),
                            },
                        }
                    }
                }
            }
            _ => return Ok(None),
        }))
    })();
    match parsed {
        Ok(Some(r)) => Some(Ok(r)),
        Ok(None) => None,
        Err(e) => Some(Err(e)),
    }
}

/// What follows a run collection: `[cast]`, `{id}[/cast]`, `{id}/process[/$ref]`. A cast
/// segment is part of the context (`…/runs/microsoft.graph.industryData.runGroup`): it names
/// another collection, for `@odata.context` and for what a `$skiptoken` is bound to.
fn run_tail(mut scope: RunScope, segs: &[&str], context: &mut Vec<String>) -> Result<Option<Resource>, ApiError> {
    let mut segs = segs;
    if let [first, rest @ ..] = segs
        && let Some(kind) = cast(first)
    {
        if scope.kind.is_some_and(|k| k != kind) {
            return Ok(None);
        }
        scope.kind = Some(kind);
        context.push(format!("microsoft.graph.industryData.{}", kind.type_name()));
        segs = rest;
    }
    Ok(Some(match segs {
        [] => Resource::Runs(scope),
        [rid, rest @ ..] => {
            let rid = id(rid, "run")?;
            let mut rest = rest;
            if let [first, tail @ ..] = rest
                && let Some(kind) = cast(first)
            {
                if scope.kind.is_some_and(|k| k != kind) {
                    return Ok(None);
                }
                if !context.last().is_some_and(|c| c.starts_with("microsoft.graph.")) {
                    context.push(format!("microsoft.graph.industryData.{}", kind.type_name()));
                }
                scope.kind = Some(kind);
                rest = tail;
            }
            match rest {
                [] => Resource::Run(scope, rid),
                ["process"] => Resource::RunProcess(scope, rid),
                ["process", "$ref"] => Resource::RunProcessRef(scope, rid),
                _ => return Ok(None),
            }
        }
    }))
}

/// What `/external/industryData/runs…` addresses (a view over runGroups and their members).
#[derive(Debug, Clone, PartialEq)]
pub enum External {
    /// `…/runs`: runGroups as `industryDataRun` (`/$count` too).
    Runs,
    /// `…/runs/{id}`.
    Run(Uuid),
    /// `…/runs/{id}/activities`: the group's member runs (`/$count` too).
    Activities(Uuid),
    /// `…/runs/{id}/activities/{activityId}`.
    Activity(Uuid, Uuid),
    /// `…/runs/{id}/activities/{activityId}/activity`: the flow.
    ActivityFlow(Uuid, Uuid),
    /// `…/runs[/{id}]/getStatistics`: of that run, or of the newest run when `None`.
    Statistics(Option<Uuid>),
    /// `POST …/runs/start`.
    Start,
}

/// `external/industryData/runs` and what follows it. `Ok(None)`: no such shape (404).
fn parse_external(segs: &[&str], context: &mut Vec<String>) -> Result<Option<External>, ApiError> {
    let base = "external/industryData/runs";
    context.push(base.into());
    Ok(Some(match segs {
        [] => External::Runs,
        [f] if function_name(f) == "getStatistics" => External::Statistics(None),
        // `start` is an action: no `()`.
        [a] if a.strip_prefix(CAST_PREFIX).unwrap_or(a) == "start" => External::Start,
        [rid, rest @ ..] => {
            let run = id(rid, "industryDataRun")?;
            match rest {
                [] => External::Run(run),
                [f] if function_name(f) == "getStatistics" => External::Statistics(Some(run)),
                ["activities", tail @ ..] => {
                    context.pop();
                    context.push(format!("{base}('{run}')/activities"));
                    match tail {
                        [] => External::Activities(run),
                        [aid] => External::Activity(run, id(aid, "activity")?),
                        [aid, "activity"] => External::ActivityFlow(run, id(aid, "activity")?),
                        _ => return Ok(None),
                    }
                }
                _ => return Ok(None),
            }
        }
    }))
}

/// Parses `@odata.id` / `@odata.bind` URLs: absolute or relative, with or without `/beta/`.
pub fn reference_path(url: &str) -> &str {
    let without_scheme = url.split_once("://").map_or(url, |(_, rest)| rest.split_once('/').map_or("", |(_, p)| p));
    let p = without_scheme.trim_start_matches('/');
    let p = p.strip_prefix("beta/").unwrap_or(p);
    p.split(['?', '#']).next().unwrap_or(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_url_space() {
        let r = parse("industryData/incomingFlows/7f3c8c9e-4a3e-4a39-9a77-1d3c6f0b1a20/runs/$count").unwrap();
        assert!(r.count);
        assert!(matches!(r.resource, Resource::Runs(RunScope { parent: RunParent::Process(ProcessKind::IncomingFlow, _), kind: None })));
        assert_eq!(r.context, "industryData/incomingFlows('7f3c8c9e-4a3e-4a39-9a77-1d3c6f0b1a20')/runs");
        let r = parse("industryData/runs/microsoft.graph.industryData.runGroup").unwrap();
        assert_eq!(r.resource, Resource::Runs(RunScope { parent: RunParent::All, kind: Some(RunKind::RunGroup) }));
        assert!(parse("industryData/outgoingFlows/7f3c8c9e-4a3e-4a39-9a77-1d3c6f0b1a20/runNow").is_err());
        assert!(parse("industryData/nothing").is_err());
        assert!(parse("industryData/runs/not-a-uuid").is_err());
        let r =
            parse("industryData/runGroups/7f3c8c9e-4a3e-4a39-9a77-1d3c6f0b1a20/microsoft.graph.industryData.getErrorsAndWarningsFile()")
                .unwrap();
        assert!(matches!(r.resource, Resource::ErrorsAndWarnings(_)));
    }

    #[test]
    fn parses_delta() {
        for f in ["delta", "delta()", "microsoft.graph.delta()", "microsoft.graph.delta"] {
            let r = parse(&format!("industryData/runs/{f}")).unwrap();
            assert_eq!(r.resource, Resource::Delta(Collection::Runs));
            assert_eq!(r.context, "industryData/runs");
            assert_eq!(parse(&format!("industryData/incomingFlows/{f}")).unwrap().resource, Resource::Delta(Collection::IncomingFlows));
            assert_eq!(parse(&format!("industryData/outgoingFlows/{f}")).unwrap().resource, Resource::Delta(Collection::OutgoingFlows));
        }
        assert!(parse("industryData/runGroups/delta").is_err());
        assert!(parse("industryData/runs/delta/$count").is_err());
    }

    #[test]
    fn parses_the_external_paths() {
        let id = "7f3c8c9e-4a3e-4a39-9a77-1d3c6f0b1a20";
        let r = parse("external/industryData/runs/$count").unwrap();
        assert!(r.count);
        assert_eq!(r.resource, Resource::External(External::Runs));
        assert_eq!(r.context, "external/industryData/runs");
        for f in ["getStatistics", "getStatistics()", "microsoft.graph.industryData.getStatistics()"] {
            assert_eq!(parse(&format!("external/industryData/runs/{f}")).unwrap().resource, Resource::External(External::Statistics(None)));
            assert!(matches!(
                parse(&format!("external/industryData/runs/{id}/{f}")).unwrap().resource,
                Resource::External(External::Statistics(Some(_)))
            ));
        }
        for a in ["start", "microsoft.graph.industryData.start"] {
            assert_eq!(parse(&format!("external/industryData/runs/{a}")).unwrap().resource, Resource::External(External::Start));
        }
        let r = parse(&format!("external/industryData/runs/{id}/activities")).unwrap();
        assert_eq!(r.context, format!("external/industryData/runs('{id}')/activities"));
        assert!(parse(&format!("external/industryData/runs/{id}/activities/$count")).unwrap().count);
        assert!(matches!(
            parse(&format!("external/industryData/runs/{id}/activities/{id}/activity")).unwrap().resource,
            Resource::External(External::ActivityFlow(..))
        ));
        assert!(parse(&format!("external/industryData/runs/{id}/$count")).is_err());
        assert!(parse("external/industryData/runs/nope").is_err());
        assert!(parse("external/industryData/other").is_err());
    }

    #[test]
    fn reference_paths() {
        assert_eq!(reference_path("http://h:1/beta/industryData/runs/x"), "industryData/runs/x");
        assert_eq!(reference_path("/beta/industryData/runs/x"), "industryData/runs/x");
        assert_eq!(reference_path("industryData/runs/x"), "industryData/runs/x");
    }
}
