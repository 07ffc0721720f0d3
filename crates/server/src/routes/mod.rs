//! The HTTP surface (docs/api.md): one module per resource, each handler reached through the URL
//! table (`router.rs`) from the typed resource path; the request context they share ([`Ctx`]).

pub mod batch;
mod collection;
pub(crate) mod delta;
pub(crate) mod external;
pub(crate) mod processes;
pub(crate) mod run_groups;
pub(crate) mod runs;
pub(crate) mod service;
mod stream;
pub(crate) mod subscriptions;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{Extensions, HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use runhub_model::Code;
use runhub_model::TenantId;
use runhub_odata::QueryString;
use runhub_store::Precondition;
use serde_json::{Map, Value};

pub use service::{healthz, livez};

use crate::error::{ApiError, ApiResult};
use crate::metrics::RouteLabel;
use crate::path::{self, Resource, ResourcePath};
use crate::protocol::JSON_CONTENT_TYPE;
use crate::render::{Entity, EntityBody};
use crate::state::AppState;

/// The largest request body accepted.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
pub const SERVICE_ROOT: &str = "/beta";

/// Everything a handler needs to know about the request it serves.
pub struct Ctx {
    pub state: AppState,
    pub tenant: TenantId,
    pub method: Method,
    pub headers: HeaderMap,
    /// The query string, split and decoded once.
    pub query: QueryString,
    pub path: ResourcePath,
    body: Bytes,
    /// What the layers put on the request (the caller's address, the router a batch is sent through).
    extensions: Extensions,
    /// Absolute URL of the service root, e.g. `http://127.0.0.1:8080/beta`.
    pub root: String,
    /// Delta and live-stream settings of this replica.
    pub feed: crate::feed::Feed,
    /// Webhook settings and client of this replica.
    pub webhooks: crate::webhooks::Webhooks,
}

impl Ctx {
    /// An absolute URL below the service root.
    pub fn url(&self, path: &str) -> String {
        format!("{}/{}", self.root, path)
    }

    /// The absolute URL of a flow.
    pub fn process_url(&self, kind: runhub_model::ProcessKind, id: runhub_model::Uuid) -> String {
        self.url(&format!("industryData/{}/{id}", kind.entity_set()))
    }

    /// `@odata.context` for the addressed collection, or for one entity of it.
    pub fn context(&self, entity: bool) -> String {
        let suffix = if entity { "/$entity" } else { "" };
        format!("{}/$metadata#{}{suffix}", self.root, self.path.context)
    }

    /// The request body as one JSON object, after the body checks (JSON only).
    pub fn json_body(&self) -> ApiResult<Map<String, Value>> {
        if self.body.is_empty() {
            return Err(ApiError::new(Code::MissingRequestBody, "this request needs a JSON object as its body"));
        }
        Ok(runhub_model::decode::parse_object(&self.body)?)
    }

    /// `If-Match`, when sent.
    pub fn if_match(&self) -> ApiResult<Option<Precondition>> {
        let Some(value) = self.headers.get(header::IF_MATCH) else { return Ok(None) };
        let text = value.to_str().map_err(|_| ApiError::new(Code::InvalidHeader, "If-Match is not valid text").with_target("If-Match"))?;
        if text.trim() == "*" {
            return Ok(Some(Precondition::Any));
        }
        Ok(Some(Precondition::Tags(text.split(',').map(|t| t.trim().to_owned()).filter(|t| !t.is_empty()).collect())))
    }

    /// Whether `If-None-Match` names this entity tag (or `*`): the client's copy is current.
    pub fn not_modified(&self, etag: &str) -> bool {
        self.headers
            .get(header::IF_NONE_MATCH)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|t| t.trim() == "*" || t.trim() == etag))
    }

    /// `Prefer: return=minimal`.
    pub fn prefers_minimal(&self) -> bool {
        self.headers
            .get_all("prefer")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|p| p.trim().eq_ignore_ascii_case("return=minimal"))
    }
}

fn header_value(s: &str) -> HeaderValue {
    HeaderValue::from_str(s).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// A JSON reply with the OData content type.
pub fn json_reply(status: StatusCode, body: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(json) => json_bytes_reply(status, json),
        Err(e) => ApiError::internal(format!("cannot write the reply: {e}")).into_response(),
    }
}

fn json_bytes_reply(status: StatusCode, json: Vec<u8>) -> Response {
    let mut response = (status, json).into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_CONTENT_TYPE));
    response
}

/// A reply of JSON text already written, with the OData content type.
pub fn json_text_reply(status: StatusCode, json: String) -> Response {
    json_bytes_reply(status, json.into_bytes())
}

/// One entity: `@odata.context`, the `ETag` header, `If-None-Match` → 304, and for creates `Location`
/// (plus `OData-EntityId` when `Prefer: return=minimal` makes it a 204).
pub fn entity_reply(ctx: &Ctx, status: StatusCode, entity: Entity<'_>, etag: &str, location: Option<&str>) -> Response {
    let mut response = if ctx.method == Method::GET && ctx.not_modified(etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else if ctx.method != Method::GET && ctx.prefers_minimal() && status != StatusCode::ACCEPTED {
        let mut r = StatusCode::NO_CONTENT.into_response();
        r.headers_mut().insert("preference-applied", HeaderValue::from_static("return=minimal"));
        if let Some(location) = location {
            r.headers_mut().insert("odata-entityid", header_value(location));
        }
        r
    } else {
        json_reply(status, &EntityBody { context: ctx.context(true), entity })
    };
    response.headers_mut().insert(header::ETAG, header_value(etag));
    if let Some(location) = location {
        response.headers_mut().insert(header::LOCATION, header_value(location));
    }
    response
}

pub fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

fn content_type_ok(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"))
}

/// Reads the body within the limit; a body must be JSON.
async fn read_body(headers: &HeaderMap, body: Body) -> ApiResult<Bytes> {
    let too_large = || ApiError::new(Code::PayloadTooLarge, format!("the request body is larger than {MAX_BODY_BYTES} bytes"));
    let declared = headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES).await.map_err(|_| too_large())?;
    if !bytes.is_empty() && !content_type_ok(headers) {
        let given = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("none");
        return Err(ApiError::new(
            Code::UnsupportedMediaType,
            format!("request bodies must be application/json; Content-Type was '{given}'"),
        )
        .with_target("Content-Type"));
    }
    Ok(bytes)
}

/// The absolute service root: `--public-url` if set, else from the request's Host (HTTP/1.1) or
/// authority (HTTP/2), with https when the request came over TLS.
fn service_root(state: &AppState, parts: &axum::http::request::Parts) -> String {
    if let Some(public) = &state.public_url {
        return format!("{}{SERVICE_ROOT}", public.trim_end_matches('/'));
    }
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        .filter(|h| !h.is_empty() && !h.contains(['/', ' ', '@']));
    let scheme = match parts.extensions.get::<crate::serve::Scheme>() {
        Some(crate::serve::Scheme::Https) => "https",
        _ => "http",
    };
    format!("{scheme}://{}{SERVICE_ROOT}", host.unwrap_or("localhost"))
}

/// Every request below `/beta`.
/// The reply carries the request's metrics label (`RouteLabel`), taken from the path parsed here.
pub async fn dispatch(State(state): State<AppState>, request: Request) -> Response {
    let full_path = request.uri().path();
    let below_root = if full_path == SERVICE_ROOT { Some("") } else { full_path.strip_prefix("/beta/") };
    let parsed = match below_root {
        Some(below_root) => path::parse(below_root),
        None => Err(ApiError::not_found(format!("no resource at '{full_path}'"))),
    };
    let label = parsed.as_ref().map_or_else(|_| RouteLabel::unmatched(), RouteLabel::of);
    let mut response = match parsed {
        Ok(path) => serve(state, path, request).await.unwrap_or_else(IntoResponse::into_response),
        Err(error) => error.into_response(),
    };
    response.extensions_mut().insert(label);
    response
}

async fn serve(state: AppState, path: ResourcePath, request: Request) -> ApiResult<Response> {
    let (parts, body) = request.into_parts();
    let query = QueryString::parse(parts.uri.query());
    let route = crate::router::route(path.endpoint(), &parts.method)?;
    // JSON resources refuse an Accept header that admits no JSON; `$metadata` (XML) and `/$count`
    // (text) answer whatever Accept says, as Graph clients send `application/json` everywhere; delta
    // also answers `text/event-stream` (the live stream).
    let accept = parts.headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let produces_json = !(path.count || path.resource == Resource::Metadata);
    let streams = matches!(path.resource, Resource::Delta(_)) && delta::wants_stream(&parts.headers);
    if produces_json && !streams && !crate::protocol::accepts_json(accept) {
        return Err(ApiError::new(Code::NotAcceptable, "this resource answers only application/json; the Accept header admits no JSON")
            .with_target("Accept"));
    }
    // Who is calling was decided by the access layer; what they may do is decided here, before
    // the body is read or anything is looked up (so a refusal reveals nothing about the data).
    let identity = crate::auth::identity(&parts)?;
    crate::permissions::check(&identity.grants, route.access, &path, &parts.method, &query)?;
    let tenant = crate::auth::tenant(&parts)?;
    let body = read_body(&parts.headers, body).await?;
    let ctx = Ctx {
        feed: state.feed.clone(),
        webhooks: state.webhooks.clone(),
        root: service_root(&state, &parts),
        state,
        tenant,
        method: parts.method,
        query,
        headers: parts.headers,
        path,
        body,
        extensions: parts.extensions,
    };
    (route.handler)(&ctx).await
}
