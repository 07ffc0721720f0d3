//! The published Microsoft Graph paths, `/external/industryData/runs`, as a view over the
//! same store. An `industryDataRun` is a runGroup; its `activities` are the group's member runs
//! (`inboundFlowActivity` from an incomingFlowRun, `outboundFlowActivity` from an outgoingFlowRun);
//! `getStatistics` sums the members; `start` opens a new group (rate-limited per tenant).
//!
//! Query options run through the same pipeline as every other collection: the odata crate's
//! `IndustryDataRuns` and `Activities` entity sets map their properties onto the run columns. The
//! enums line up by ordinal (`industryDataRunStatus` = `runStatus`; `industryDataActivityStatus`
//! has `inProgress` where `runStatus` has `running`), so `$filter=status eq 'inProgress'` selects
//! running runs without translation; only `isof` type names are translated here.

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use runhub_model::Code;
use runhub_model::{GraphEnum, Run, RunKind, RunStatus, Timestamp, Uuid};
use runhub_odata::ast::Filter;
use runhub_odata::{EntitySet, Expand, QueryOptions, Target};
use runhub_store::{ListQuery, Page, RunParent, RunScope, StartOutcome, StartPolicy, Table, etag};
use serde_json::{Map, Value, json};

use super::{Ctx, collection, entity_reply, json_reply, no_content};
use crate::error::{ApiError, ApiResult};
use crate::render::{self, Entity, EntityBody, Member};

const NS: &str = "#microsoft.graph.industryData.";

fn groups() -> RunScope {
    RunScope { parent: RunParent::All, kind: Some(RunKind::RunGroup) }
}

fn members(group: Uuid) -> RunScope {
    RunScope { parent: RunParent::Group(group), kind: None }
}

/// `…/runs/$count`.
pub async fn count_runs(ctx: &Ctx) -> ApiResult<Response> {
    count(ctx, EntitySet::IndustryDataRuns, &groups()).await
}

/// `…/runs/{id}/activities/$count`: 404 when the run does not exist.
pub async fn count_activities(ctx: &Ctx) -> ApiResult<Response> {
    let group = ctx.path.external_run()?;
    ctx.state.store.get_run(&ctx.tenant, &groups(), group).await?;
    count(ctx, EntitySet::Activities, &members(group)).await
}

// ---- rendering ----------------------------------------------------------------------------------

/// `industryDataActivityStatus` of a run status: `running` → `inProgress`, others by name.
pub fn activity_status(status: RunStatus) -> &'static str {
    match status {
        RunStatus::Running => "inProgress",
        other => other.as_str(),
    }
}

/// A runGroup as an `industryDataRun`.
pub fn industry_data_run<'a>(run: &'a Run, select: Option<&'a [&'a str]>) -> Entity<'a> {
    let mut m = Entity::new("#microsoft.graph.industryData.industryDataRun", run.version, run.id, select);
    m.put("displayName", || Member::Str(run.display_name.as_str()));
    m.put("startDateTime", || Member::Time(Some(run.start)));
    m.put("endDateTime", || Member::Time(run.end));
    m.put("status", || Member::Str(run.status.as_str()));
    m.put("blockingError", || Member::Error(run.blocking_error.as_ref()));
    m
}

/// A member run as an `inboundFlowActivity` / `outboundFlowActivity`.
pub fn activity<'a>(run: &'a Run, select: Option<&'a [&'a str]>) -> Entity<'a> {
    let ty = match run.kind() {
        RunKind::OutgoingFlowRun => "#microsoft.graph.industryData.outboundFlowActivity",
        _ => "#microsoft.graph.industryData.inboundFlowActivity",
    };
    let mut m = Entity::new(ty, run.version, run.id, select);
    m.put("displayName", || Member::Str(run.display_name.as_str()));
    m.put("status", || Member::Str(activity_status(run.status)));
    m.put("blockingError", || Member::Error(run.blocking_error.as_ref()));
    m
}

// ---- query options ------------------------------------------------------------------------------

/// The published type names `isof` accepts, as the run kinds the store knows.
fn store_type(name: &'static str) -> &'static str {
    match name {
        "industryDataRun" => "runGroup",
        "industryDataRunActivity" => "run",
        "inboundFlowActivity" => "incomingFlowRun",
        "outboundFlowActivity" => "outgoingFlowRun",
        other => other,
    }
}

fn translate(filter: Filter) -> Filter {
    match filter {
        Filter::IsOf(name) => Filter::IsOf(store_type(name)),
        Filter::And(a, b) => Filter::And(Box::new(translate(*a)), Box::new(translate(*b))),
        Filter::Or(a, b) => Filter::Or(Box::new(translate(*a)), Box::new(translate(*b))),
        Filter::Not(a) => Filter::Not(Box::new(translate(*a))),
        other => other,
    }
}

fn options(ctx: &Ctx, set: EntitySet, target: Target) -> ApiResult<QueryOptions> {
    let mut options = collection::options(ctx, set, target)?;
    options.filter = options.filter.map(translate);
    if let Some(expand) = options.expand.as_mut() {
        let nested = expand.options_mut();
        nested.filter = nested.filter.take().map(translate);
    }
    Ok(options)
}

async fn count(ctx: &Ctx, set: EntitySet, scope: &RunScope) -> ApiResult<Response> {
    let options = options(ctx, set, Target::Count)?;
    Ok(collection::count_reply(ctx.state.store.count_runs(&ctx.tenant, scope, options.filter.as_ref()).await?))
}

/// A page in OData collection form (shared paging: keyset `$skiptoken` bound to this collection).
fn page_reply(ctx: &Ctx, page: &Page<Run>, items: Vec<Entity<'_>>) -> Response {
    collection::reply(ctx, page, items)
}

// ---- industryDataRun ----------------------------------------------------------------------------

pub async fn list_runs(ctx: &Ctx) -> ApiResult<Response> {
    let options = options(ctx, EntitySet::IndustryDataRuns, Target::Collection)?;
    let query = collection::list_query(ctx, &options, Table::Runs)?;
    let page = ctx.state.store.list_runs(&ctx.tenant, &groups(), &query).await?;
    let select = options.select.as_deref();
    let mut items: Vec<_> = page.items.iter().map(|r| industry_data_run(r, select)).collect();
    expand_activities(ctx, &options, &page.items, &mut items).await?;
    Ok(page_reply(ctx, &page, items))
}

pub async fn get_run(ctx: &Ctx) -> ApiResult<Response> {
    let id = ctx.path.external_run()?;
    let options = options(ctx, EntitySet::IndustryDataRuns, Target::Entity)?;
    let run = ctx.state.store.get_run(&ctx.tenant, &groups(), id).await.map_err(|e| not_found_as(e, "industryDataRun", id))?;
    let mut items = vec![industry_data_run(&run, options.select.as_deref())];
    expand_activities(ctx, &options, std::slice::from_ref(&run), &mut items).await?;
    let entity = items.pop().ok_or_else(|| ApiError::internal("a rendered run went missing"))?;
    Ok(entity_reply(ctx, StatusCode::OK, entity, &etag(run.version), None))
}

/// A 404 that names the published type rather than the store's.
fn not_found_as(e: runhub_store::StoreError, what: &str, id: Uuid) -> ApiError {
    match e {
        runhub_store::StoreError::NotFound(_) => ApiError::not_found(format!("no {what} with id '{id}'")),
        other => other.into(),
    }
}

/// `$expand=activities` (with nested `$select $filter $orderby $top`), in one query for the page.
async fn expand_activities(ctx: &Ctx, options: &QueryOptions, runs: &[Run], items: &mut [Entity<'_>]) -> ApiResult<()> {
    let Some(Expand::Activities(nested)) = &options.expand else { return Ok(()) };
    if runs.is_empty() {
        return Ok(());
    }
    let query = collection::nested_query(nested);
    let scopes: Vec<RunScope> = runs.iter().map(|r| members(r.id)).collect();
    let pages = ctx.state.store.list_runs_of_parents(&ctx.tenant, &scopes, &query).await?;
    let select = nested.select.as_deref();
    for (item, runs) in items.iter_mut().zip(pages) {
        item.push("activities", Member::Json(Value::Array(runs.iter().map(|r| activity(r, select).into_value()).collect())));
    }
    Ok(())
}

// ---- activities ---------------------------------------------------------------------------------

pub async fn list_activities(ctx: &Ctx) -> ApiResult<Response> {
    let group = ctx.path.external_run()?;
    let options = options(ctx, EntitySet::Activities, Target::Collection)?;
    let query = collection::list_query(ctx, &options, Table::Runs)?;
    ctx.state.store.get_run(&ctx.tenant, &groups(), group).await.map_err(|e| not_found_as(e, "industryDataRun", group))?;
    let page = ctx.state.store.list_runs(&ctx.tenant, &members(group), &query).await?;
    let select = options.select.as_deref();
    let mut items: Vec<_> = page.items.iter().map(|r| activity(r, select)).collect();
    expand_flows(ctx, &options, &page.items, &mut items).await?;
    Ok(page_reply(ctx, &page, items))
}

async fn load_activity(ctx: &Ctx, group: Uuid, id: Uuid) -> ApiResult<Run> {
    ctx.state.store.get_run(&ctx.tenant, &groups(), group).await.map_err(|e| not_found_as(e, "industryDataRun", group))?;
    ctx.state.store.get_run(&ctx.tenant, &members(group), id).await.map_err(|e| not_found_as(e, "activity in this run", id))
}

pub async fn get_activity(ctx: &Ctx) -> ApiResult<Response> {
    let (group, id) = ctx.path.external_activity()?;
    let options = options(ctx, EntitySet::Activities, Target::Entity)?;
    let run = load_activity(ctx, group, id).await?;
    let mut items = vec![activity(&run, options.select.as_deref())];
    expand_flows(ctx, &options, std::slice::from_ref(&run), &mut items).await?;
    let entity = items.pop().ok_or_else(|| ApiError::internal("a rendered run went missing"))?;
    Ok(entity_reply(ctx, StatusCode::OK, entity, &etag(run.version), None))
}

/// `$expand=activity`: each activity's flow.
async fn expand_flows(ctx: &Ctx, options: &QueryOptions, runs: &[Run], items: &mut [Entity<'_>]) -> ApiResult<()> {
    let Some(Expand::Activity(nested)) = &options.expand else { return Ok(()) };
    let mut ids: Vec<Uuid> = runs.iter().filter_map(|r| r.process_id()).collect();
    ids.sort();
    ids.dedup();
    let found = if ids.is_empty() { Vec::new() } else { ctx.state.store.processes_by_ids(&ctx.tenant, &ids).await? };
    let select = nested.select.as_deref();
    for (run, item) in runs.iter().zip(items.iter_mut()) {
        let flow = run.process_id().and_then(|pid| found.iter().find(|p| p.id == pid));
        item.push("activity", Member::Json(flow.map_or(Value::Null, |p| render::process(p, select).into_value())));
    }
    Ok(())
}

/// `…/activities/{id}/activity`: the flow the activity ran.
pub async fn activity_flow(ctx: &Ctx) -> ApiResult<Response> {
    let (group, id) = ctx.path.external_activity()?;
    let options = collection::options(ctx, EntitySet::Processes, Target::Entity)?;
    if options.expand.is_some() {
        return Err(ApiError::new(
            Code::InvalidQueryOption,
            "$expand is not supported on an activity's flow; use …/industryData/incomingFlows/{id}?$expand=runs",
        )
        .with_target("$expand"));
    }
    let run = load_activity(ctx, group, id).await?;
    let Some(pid) = run.process_id() else { return Ok(no_content()) };
    let Some(flow) = ctx.state.store.processes_by_ids(&ctx.tenant, &[pid]).await?.pop() else { return Ok(no_content()) };
    let context = format!("{}/$metadata#industryData/{}/$entity", ctx.root, flow.kind.entity_set());
    let mut response = json_reply(StatusCode::OK, &EntityBody { context, entity: render::process(&flow, options.select.as_deref()) });
    if let Ok(v) = HeaderValue::from_str(&etag(flow.version)) {
        response.headers_mut().insert(header::ETAG, v);
    }
    Ok(response)
}

// ---- getStatistics ------------------------------------------------------------------------------

/// Every member of a group, page by page.
async fn all_members(ctx: &Ctx, group: Uuid) -> ApiResult<Vec<Run>> {
    let mut out = Vec::new();
    let mut query = ListQuery {
        orderby: vec![runhub_odata::OrderKey { path: "startDateTime", ty: runhub_odata::Type::DateTimeOffset, descending: false }],
        ..ListQuery::first_page(999)
    };
    loop {
        let page = ctx.state.store.list_runs(&ctx.tenant, &members(group), &query).await?;
        out.extend(page.items);
        match page.next {
            Some(next) => query.after = Some(next),
            None => return Ok(out),
        }
    }
}

fn number(stats: &Map<String, Value>, key: &str) -> i64 {
    stats.get(key).and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64))).unwrap_or(0)
}

/// `industryDataRunStatistics` of a group, from its members' statistics.
pub fn run_statistics(group: &Run, members: &[Run]) -> Value {
    let mut totals = [("errors", 0i64), ("warnings", 0), ("people", 0), ("groups", 0), ("memberships", 0), ("organizations", 0)];
    let mut activities = Vec::new();
    for run in members.iter().filter(|r| r.kind() == RunKind::IncomingFlowRun) {
        let stats = run.statistics.to_map();
        for (key, total) in totals.iter_mut() {
            *total = total.saturating_add(number(&stats, key));
        }
        activities.push(json!({
            "@odata.type": format!("{NS}inboundActivityResults"),
            "activityId": run.id.to_string(),
            "displayName": run.display_name.as_str(),
            "status": activity_status(run.status),
            "errors": number(&stats, "errors"),
            "warnings": number(&stats, "warnings"),
        }));
    }
    let mut inbound = Map::new();
    inbound.insert("@odata.type".into(), json!(format!("{NS}aggregatedInboundStatistics")));
    for (key, total) in totals {
        inbound.insert(key.into(), json!(total));
    }
    json!({
        "@odata.type": format!("{NS}industryDataRunStatistics"),
        "runId": group.id.to_string(),
        "status": group.status.to_string(),
        "activityStatistics": activities,
        "inboundTotals": inbound,
    })
}

pub async fn statistics(ctx: &Ctx) -> ApiResult<Response> {
    let run = ctx.path.statistics_run()?;
    // A function takes no system query options (custom ones are ignored, as everywhere).
    let given = options(ctx, EntitySet::IndustryDataRuns, Target::Count)?;
    if given.filter.is_some() {
        return Err(ApiError::new(Code::InvalidQueryOption, "getStatistics takes no query options; $filter is not allowed here")
            .with_target("$filter"));
    }
    let group = match run {
        Some(id) => ctx.state.store.get_run(&ctx.tenant, &groups(), id).await.map_err(|e| not_found_as(e, "industryDataRun", id))?,
        None => ctx.state.store.list_runs(&ctx.tenant, &groups(), &ListQuery::first_page(1)).await?.items.pop().ok_or_else(|| {
            ApiError::not_found("there is no industryDataRun yet: start one with POST …/external/industryData/runs/start")
        })?,
    };
    let members = all_members(ctx, group.id).await?;
    let mut body = Map::new();
    body.insert("@odata.context".into(), json!(format!("{}/$metadata#microsoft.graph.industryData.industryDataRunStatistics", ctx.root)));
    if let Value::Object(mut stats) = run_statistics(&group, &members) {
        body.append(&mut stats);
    }
    Ok(json_reply(StatusCode::OK, &Value::Object(body)))
}

// ---- start --------------------------------------------------------------------------------------

/// `POST …/runs/start`: a new runGroup with one running incomingFlowRun per ready flow inside its
/// window; 202 with `Location`. At most 5 successful starts per tenant per 12 h, then 429.
pub async fn start(ctx: &Ctx) -> ApiResult<Response> {
    debug_assert_eq!(ctx.method, Method::POST);
    // The action takes no parameters: an empty body or `{}`.
    if !ctx.body.is_empty() {
        let body = ctx.json_body()?;
        if let Some(name) = body.keys().next() {
            return Err(ApiError::new(Code::InvalidProperty, format!("'start' takes no parameters, but the body has '{name}'"))
                .with_target(name.clone()));
        }
    }
    match ctx.state.store.start_run_group(&ctx.tenant, Timestamp::now(), &StartPolicy::default()).await? {
        StartOutcome::Started(group) => {
            let location = ctx.url(&format!("external/industryData/runs/{}", group.id));
            let mut response = StatusCode::ACCEPTED.into_response();
            if let Ok(v) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, v);
            }
            Ok(response)
        }
        StartOutcome::Throttled { retry_after_secs } => Err(ApiError::new(
            Code::TooManyStarts,
            format!("at most 5 runs can be started per 12 hours; the next start is possible in {retry_after_secs} seconds"),
        )
        .with_header(header::RETRY_AFTER, retry_after_secs.to_string())),
        StartOutcome::NothingToStart => {
            Err(ApiError::new(Code::NoFlowReady, "no incomingFlow is 'ready' and inside its recurrence window: there is nothing to start"))
        }
    }
}
