//! What only runGroups have: member `$ref`s and `getErrorsAndWarningsFile`. Listing, creating and
//! patching groups and their members is the runs module's, over the group's scope.

use axum::http::StatusCode;
use axum::response::Response;
use runhub_model::decode::decode_reference;
use serde_json::json;

use super::runs::run_ref;
use super::{Ctx, json_reply, no_content};
use crate::error::{ApiError, ApiResult};

/// `POST runGroups/{id}/runs/$ref`: adds an existing run to the group.
pub async fn add_member(ctx: &Ctx) -> ApiResult<Response> {
    let group = ctx.path.group()?;
    let run = run_ref(&decode_reference(&ctx.json_body()?)?)?;
    ctx.state.store.add_group_member(&ctx.tenant, group, run).await?;
    Ok(no_content())
}

/// `DELETE runGroups/{id}/runs/{runId}/$ref`: the run leaves the group (and is kept).
pub async fn remove_member(ctx: &Ctx) -> ApiResult<Response> {
    let (group, run) = ctx.path.group_member()?;
    ctx.state.store.remove_group_member(&ctx.tenant, group, run).await?;
    Ok(no_content())
}

/// `getErrorsAndWarningsFile`: an RFC 4180 CSV of the members that failed or completed with errors
/// or warnings, by `startDateTime` then `id`.
pub async fn errors_and_warnings(ctx: &Ctx) -> ApiResult<Response> {
    let group = ctx.path.group()?;
    let runs = ctx.state.store.group_problem_runs(&ctx.tenant, group).await?;
    let mut csv = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    let write_err = |e: csv::Error| ApiError::internal(format!("cannot write CSV: {e}"));
    csv.write_record(["runId", "displayName", "status", "errorCode", "errorMessage"]).map_err(write_err)?;
    for run in &runs {
        let error = run.blocking_error.as_ref().map(|e| e.error());
        let error = error.as_ref();
        csv.write_record([
            run.id.to_string().as_str(),
            run.display_name.as_str(),
            run.status.to_string().as_str(),
            error.and_then(|e| e.code.as_deref()).unwrap_or(""),
            error.and_then(|e| e.message.as_deref()).unwrap_or(""),
        ])
        .map_err(write_err)?;
    }
    let bytes = csv.into_inner().map_err(|e| ApiError::internal(format!("cannot write CSV: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(json_reply(StatusCode::OK, &json!({ "@odata.context": format!("{}/$metadata#Edm.String", ctx.root), "value": text })))
}
