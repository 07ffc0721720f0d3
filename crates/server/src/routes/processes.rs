//! `/industryData/incomingFlows` and `/industryData/outgoingFlows`: the flows that cause runs.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use runhub_model::ProcessKind;
use runhub_model::decode::{decode_new_process, decode_process_patch};
use runhub_odata::{EntitySet, Target};
use runhub_store::{RunParent, RunScope, Table, etag};

use super::{Ctx, collection, entity_reply, no_content};
use crate::error::ApiResult;
use crate::render;

pub fn entity_set(kind: ProcessKind) -> EntitySet {
    match kind {
        ProcessKind::IncomingFlow => EntitySet::IncomingFlows,
        ProcessKind::OutgoingFlow => EntitySet::OutgoingFlows,
    }
}

/// The canonical URL of a process.
pub async fn list(ctx: &Ctx) -> ApiResult<Response> {
    let kind = ctx.path.flow_set()?;
    let options = collection::options(ctx, entity_set(kind), Target::Collection)?;
    let query = collection::list_query(ctx, &options, Table::Processes)?;
    let page = ctx.state.store.list_processes(&ctx.tenant, kind, &query).await?;
    let select = options.select.as_deref();
    let mut items: Vec<_> = page.items.iter().map(|p| render::process(p, select)).collect();
    super::runs::expand_runs(ctx, &options, &mut items, |i| RunScope { parent: RunParent::Process(kind, page.items[i].id), kind: None })
        .await?;
    Ok(collection::reply(ctx, &page, items))
}

pub async fn count(ctx: &Ctx) -> ApiResult<Response> {
    let kind = ctx.path.flow_set()?;
    let options = collection::options(ctx, entity_set(kind), Target::Count)?;
    Ok(collection::count_reply(ctx.state.store.count_processes(&ctx.tenant, kind, options.filter.as_ref()).await?))
}

pub async fn create(ctx: &Ctx) -> ApiResult<Response> {
    let kind = ctx.path.flow_set()?;
    let new = decode_new_process(&ctx.json_body()?, kind)?;
    let process = ctx.state.store.create_process(&ctx.tenant, new).await?;
    let location = ctx.process_url(kind, process.id);
    Ok(entity_reply(ctx, StatusCode::CREATED, render::process(&process, None), &etag(process.version), Some(&location)))
}

pub async fn get(ctx: &Ctx) -> ApiResult<Response> {
    let (kind, id) = ctx.path.flow()?;
    let options = collection::options(ctx, entity_set(kind), Target::Entity)?;
    let process = ctx.state.store.get_process(&ctx.tenant, kind, id).await?;
    let mut item = vec![render::process(&process, options.select.as_deref())];
    super::runs::expand_runs(ctx, &options, &mut item, |_| RunScope { parent: RunParent::Process(kind, id), kind: None }).await?;
    let entity = item.pop().ok_or_else(|| crate::error::ApiError::internal("a rendered process went missing"))?;
    Ok(entity_reply(ctx, StatusCode::OK, entity, &etag(process.version), None))
}

pub async fn update(ctx: &Ctx) -> ApiResult<Response> {
    let (kind, id) = ctx.path.flow()?;
    let patch = decode_process_patch(&ctx.json_body()?, kind)?;
    let process = ctx.state.store.update_process(&ctx.tenant, kind, id, patch, ctx.if_match()?).await?;
    Ok(entity_reply(ctx, StatusCode::OK, render::process(&process, None), &etag(process.version), None))
}

pub async fn delete(ctx: &Ctx) -> ApiResult<Response> {
    let (kind, id) = ctx.path.flow()?;
    ctx.state.store.delete_process(&ctx.tenant, kind, id, ctx.if_match()?).await?;
    Ok(no_content())
}

/// `runNow`: starts a new running incomingFlowRun; 202 with the run's `Location` and no body, as
/// Graph answers an action that starts work.
pub async fn run_now(ctx: &Ctx) -> ApiResult<Response> {
    let flow = ctx.path.run_now_flow()?;
    let run = ctx.state.store.run_now(&ctx.tenant, flow).await?;
    let location = ctx.url(&format!("industryData/incomingFlows/{flow}/runs/{}", run.id));
    let mut response = StatusCode::ACCEPTED.into_response();
    if let Ok(v) = axum::http::HeaderValue::from_str(&location) {
        response.headers_mut().insert(axum::http::header::LOCATION, v);
    }
    Ok(response)
}
