//! Runs of every kind, wherever they are addressed: `/industryData/runs` (and its cast segments), a
//! flow's `runs`, a runGroup's `runs`, and the `runGroups` set itself.

use axum::http::StatusCode;
use axum::response::Response;
use runhub_model::Code;
use runhub_model::decode::{KindRule, PROCESS_BIND, decode_new_run, decode_reference, decode_run_patch};
use runhub_model::{FieldError, ProcessKind, Run, RunKind, Uuid};
use runhub_odata::{EntitySet, Expand, QueryOptions, Target};
use runhub_store::{ListQuery, ProcessRef, RunParent, RunScope, Table, etag};
use serde_json::{Value, json};

use super::{Ctx, collection, entity_reply, json_reply, no_content};
use crate::error::{ApiError, ApiResult};
use crate::render::{Entity, EntityBody, Member};
use crate::{path, render};

pub fn entity_set(scope: &RunScope) -> EntitySet {
    if scope.kind == Some(RunKind::RunGroup) { EntitySet::RunGroups } else { EntitySet::Runs }
}

/// An entity reply for a run.
pub fn run_reply<'a>(ctx: &Ctx, status: StatusCode, run: &'a Run, location: Option<&str>, select: Option<&'a [&'a str]>) -> Response {
    entity_reply(ctx, status, render::run(run, select), &etag(run.version), location)
}

/// Resolves a process URL (`process@odata.bind`, a `$ref` body) to a process reference. A URL
/// that cannot name a process is a 400 naming `target`.
pub fn process_ref(target: &str, url: &str) -> ApiResult<ProcessRef> {
    let invalid = || {
        ApiError::from(FieldError::new(
            target,
            Code::InvalidBinding,
            format!("'{target}' must be the URL of an incomingFlow or outgoingFlow (…/industryData/incomingFlows/{{id}}), not '{url}'"),
        ))
    };
    match path::reference_path(url).split('/').collect::<Vec<_>>().as_slice() {
        ["industryData", set, id] => {
            let kind = ProcessKind::from_entity_set(set).ok_or_else(invalid)?;
            let id = Uuid::parse_str(id).map_err(|_| {
                ApiError::from(FieldError::new(
                    target,
                    Code::BindingTargetNotFound,
                    format!("'{target}' refers to '{url}', which does not exist"),
                ))
            })?;
            Ok(ProcessRef { kind, id })
        }
        _ => Err(invalid()),
    }
}

/// Resolves a run URL in a `$ref` body (`…/runs/{id}`, under any collection).
pub fn run_ref(url: &str) -> ApiResult<Uuid> {
    let segs: Vec<&str> = path::reference_path(url).split('/').collect();
    let id = match segs.as_slice() {
        ["industryData", .., "runs" | "runGroups", id] => *id,
        _ => {
            return Err(FieldError::new(
                "@odata.id",
                Code::InvalidReference,
                format!("'@odata.id' must be the URL of a run (…/industryData/runs/{{id}}), not '{url}'"),
            )
            .into());
        }
    };
    Uuid::parse_str(id).map_err(|_| {
        FieldError::new("@odata.id", Code::BindingTargetNotFound, format!("'@odata.id' refers to run '{id}', which does not exist")).into()
    })
}

pub async fn list(ctx: &Ctx) -> ApiResult<Response> {
    let scope = ctx.path.run_set()?;
    let options = collection::options(ctx, entity_set(scope), Target::Collection)?;
    let query = collection::list_query(ctx, &options, Table::Runs)?;
    let page = ctx.state.store.list_runs(&ctx.tenant, scope, &query).await?;
    let select = options.select.as_deref();
    let mut items: Vec<_> = page.items.iter().map(|r| render::run(r, select)).collect();
    expand(ctx, &options, &page.items, &mut items).await?;
    Ok(collection::reply(ctx, &page, items))
}

pub async fn count(ctx: &Ctx) -> ApiResult<Response> {
    let scope = ctx.path.run_set()?;
    let options = collection::options(ctx, entity_set(scope), Target::Count)?;
    Ok(collection::count_reply(ctx.state.store.count_runs(&ctx.tenant, scope, options.filter.as_ref()).await?))
}

pub async fn create(ctx: &Ctx) -> ApiResult<Response> {
    let scope = ctx.path.run_set()?;
    let rule = match (&scope.parent, scope.kind) {
        (_, Some(kind)) => KindRule::Implied(kind),
        (RunParent::Process(kind, _), None) => KindRule::Implied(RunKind::for_process(*kind)),
        (RunParent::All | RunParent::Group(_), None) => KindRule::Required,
    };
    let body = decode_new_run(&ctx.json_body()?, rule)?;
    let process = body.process_bind.as_deref().map(|url| process_ref(PROCESS_BIND, url)).transpose()?;
    let run = ctx.state.store.create_run(&ctx.tenant, scope, body.run, process).await?;
    let location = ctx.url(&format!("{}/{}", ctx.path.path, run.id));
    Ok(run_reply(ctx, StatusCode::CREATED, &run, Some(&location), None))
}

pub async fn get(ctx: &Ctx) -> ApiResult<Response> {
    let (scope, id) = ctx.path.run()?;
    let options = collection::options(ctx, entity_set(scope), Target::Entity)?;
    let run = ctx.state.store.get_run(&ctx.tenant, scope, id).await?;
    let mut items = vec![render::run(&run, options.select.as_deref())];
    expand(ctx, &options, std::slice::from_ref(&run), &mut items).await?;
    let entity = items.pop().ok_or_else(|| ApiError::internal("a rendered run went missing"))?;
    Ok(entity_reply(ctx, StatusCode::OK, entity, &etag(run.version), None))
}

pub async fn update(ctx: &Ctx) -> ApiResult<Response> {
    let (scope, id) = ctx.path.run()?;
    let patch = decode_run_patch(&ctx.json_body()?)?;
    let run = ctx.state.store.update_run(&ctx.tenant, scope, id, patch, ctx.if_match()?).await?;
    Ok(run_reply(ctx, StatusCode::OK, &run, None, None))
}

pub async fn delete(ctx: &Ctx) -> ApiResult<Response> {
    let (scope, id) = ctx.path.run()?;
    ctx.state.store.delete_run(&ctx.tenant, scope, id, ctx.if_match()?).await?;
    Ok(no_content())
}

/// `…/runs/{id}/process`: the process, or 204 for a runGroup, which has none.
pub async fn get_process(ctx: &Ctx) -> ApiResult<Response> {
    let (scope, id) = ctx.path.run()?;
    let run = ctx.state.store.get_run(&ctx.tenant, scope, id).await?;
    let Some(process_id) = run.process_id() else { return Ok(no_content()) };
    let process = ctx
        .state
        .store
        .processes_by_ids(&ctx.tenant, &[process_id])
        .await?
        .pop()
        .ok_or_else(|| ApiError::not_found(format!("the process '{process_id}' of run '{id}' does not exist")))?;
    let context = format!("{}/$metadata#industryData/{}/$entity", ctx.root, process.kind.entity_set());
    let mut response = json_reply(StatusCode::OK, &EntityBody { context, entity: render::process(&process, None) });
    if let Ok(v) = axum::http::HeaderValue::from_str(&etag(process.version)) {
        response.headers_mut().insert(axum::http::header::ETAG, v);
    }
    Ok(response)
}

/// `GET …/process/$ref`: `{"@odata.id": url}`.
pub async fn get_process_ref(ctx: &Ctx) -> ApiResult<Response> {
    let (scope, id) = ctx.path.run()?;
    let run = ctx.state.store.get_run(&ctx.tenant, scope, id).await?;
    let Some(process_id) = run.process_id() else { return Ok(no_content()) };
    let process = ctx.state.store.processes_by_ids(&ctx.tenant, &[process_id]).await?.pop();
    let Some(process) = process else { return Ok(no_content()) };
    let body = json!({
        "@odata.context": format!("{}/$metadata#$ref", ctx.root),
        "@odata.id": ctx.process_url(process.kind, process.id),
    });
    Ok(json_reply(StatusCode::OK, &body))
}

/// `PUT`/`POST …/process/$ref`: re-points the run at another process of the right kind.
pub async fn set_process_ref(ctx: &Ctx) -> ApiResult<Response> {
    let (scope, id) = ctx.path.run()?;
    let target = process_ref("@odata.id", &decode_reference(&ctx.json_body()?)?)?;
    ctx.state.store.set_run_process(&ctx.tenant, scope, id, target).await?;
    Ok(no_content())
}

/// `$expand` on runs: `process` (runs' own), or `runs` (a runGroup's members).
async fn expand(ctx: &Ctx, options: &QueryOptions, runs: &[Run], items: &mut [Entity<'_>]) -> ApiResult<()> {
    match &options.expand {
        None => Ok(()),
        Some(Expand::Process(nested)) => {
            let mut ids: Vec<Uuid> = runs.iter().filter_map(|r| r.process_id()).collect();
            ids.sort();
            ids.dedup();
            let found = match &nested.filter {
                _ if ids.is_empty() => Vec::new(),
                None => ctx.state.store.processes_by_ids(&ctx.tenant, &ids).await?,
                // A nested `$filter` (OData 4.01 allows it on a single-valued navigation): the
                // database picks the processes that match; a run whose process does not expands
                // to null. One query per process kind the runs point at.
                Some(filter) => {
                    let id_list = runhub_odata::ast::Filter::In {
                        operand: runhub_odata::ast::Operand::Property { path: "id", ty: runhub_odata::ast::Type::String },
                        list: ids.iter().map(|id| runhub_odata::ast::Value::String(id.to_string())).collect(),
                    };
                    let query = ListQuery {
                        filter: Some(runhub_odata::ast::Filter::And(Box::new(id_list), Box::new(filter.clone()))),
                        orderby: Vec::new(),
                        top: u32::try_from(ids.len()).unwrap_or(u32::MAX),
                        skip: 0,
                        after: None,
                        count: false,
                    };
                    let mut kinds: Vec<ProcessKind> = runs.iter().filter_map(|r| r.kind().process_kind()).collect();
                    kinds.sort_by_key(|k| k.entity_set());
                    kinds.dedup();
                    let mut found = Vec::new();
                    for kind in kinds {
                        found.extend(ctx.state.store.list_processes(&ctx.tenant, kind, &query).await?.items);
                    }
                    found
                }
            };
            let select = nested.select.as_deref();
            for (run, item) in runs.iter().zip(items.iter_mut()) {
                let process = run.process_id().and_then(|pid| found.iter().find(|p| p.id == pid));
                item.push("process", Member::Json(process.map_or(Value::Null, |p| render::process(p, select).into_value())));
            }
            Ok(())
        }
        Some(_) => expand_runs(ctx, options, items, |i| RunScope { parent: RunParent::Group(runs[i].id), kind: None }).await,
    }
}

/// `$expand=runs` on flows and runGroups, with the nested `$select $filter $orderby $top`.
pub async fn expand_runs(
    ctx: &Ctx,
    options: &QueryOptions,
    items: &mut [Entity<'_>],
    scope_of: impl Fn(usize) -> RunScope,
) -> ApiResult<()> {
    let Some(Expand::Runs(nested)) = &options.expand else { return Ok(()) };
    let query = collection::nested_query(nested);
    let scopes: Vec<RunScope> = (0..items.len()).map(&scope_of).collect();
    let pages = ctx.state.store.list_runs_of_parents(&ctx.tenant, &scopes, &query).await?;
    let select = nested.select.as_deref();
    for (item, runs) in items.iter_mut().zip(pages) {
        item.push("runs", Member::Json(Value::Array(runs.iter().map(|r| render::run(r, select).into_value()).collect())));
    }
    Ok(())
}
