//! `POST /beta/$batch`: up to 20 requests in one (docs/batch.md).
//!
//! Each request of a batch is turned into an ordinary HTTP request and sent through the service's
//! own router, with every layer, exactly as if it had come alone — with the batch's `Authorization`
//! and its own headers. So it gets the same authentication, permissions, rate limit, size limits,
//! preconditions, errors and reply headers, and its own `request-id` and log line. Nothing here
//! serves a resource itself. What this module decides: the shape of the batch (refused whole), the
//! URL, method and headers of each request (refused one by one), and the order (`dependsOn`).

use runhub_model::Code;
use std::collections::HashMap;
use std::net::SocketAddr;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use runhub_model::error::json_kind;
use serde::de::IgnoredAny;
use serde_json::{Map, Value, json};
use tower::ServiceExt;

use super::{Ctx, SERVICE_ROOT, json_text_reply};
use crate::error::{ApiError, ApiResult};
use crate::path::{self, Resource};
use crate::protocol;

/// The most requests one batch may hold.
pub const MAX_REQUESTS: usize = 20;
/// How many requests of one batch are served at once.
const CONCURRENCY: usize = 4;

/// The router the requests of a batch are sent through: the whole service with its layers. It is
/// put on every request by the outermost layer of the service (see `app::router_with`) and does
/// not carry itself, so it exists for the batch, never for a request inside one.
#[derive(Clone)]
pub struct ItemRouter(pub Router);

/// One request of a batch, as far as the batch itself needs it: its id, what it depends on, and
/// the rest of its members (method, url, headers, body), which only the request itself needs.
#[derive(Debug)]
struct Entry {
    id: String,
    depends_on: Vec<usize>,
    members: Map<String, Value>,
}

fn refused(code: Code, target: impl Into<String>, message: impl Into<String>) -> ApiError {
    ApiError::new(code, message).with_target(target)
}

/// The ids a request names in `dependsOn` (or the Python SDK's `depends_on`): a list of strings.
fn dependency_names(at: &str, members: &mut Map<String, Value>) -> ApiResult<Vec<String>> {
    let camel = members.remove("dependsOn");
    let snake = members.remove("depends_on");
    let (name, value) = match (camel, snake) {
        (Some(c), Some(s)) if !is_empty_list(&s) && !is_empty_list(&c) => {
            return Err(refused(
                Code::InvalidDependsOn,
                format!("{at}.dependsOn"),
                format!("{at}.dependsOn and {at}.depends_on are both given; give one"),
            ));
        }
        (Some(c), Some(s)) if is_empty_list(&c) => ("depends_on", s),
        (Some(c), _) => ("dependsOn", c),
        (None, Some(s)) => ("depends_on", s),
        (None, None) => return Ok(Vec::new()),
    };
    let target = format!("{at}.{name}");
    let not_list = || refused(Code::InvalidDependsOn, &target, format!("{target} must be an array of request ids (strings)"));
    match value {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items.into_iter().map(|v| if let Value::String(s) = v { Ok(s) } else { Err(not_list()) }).collect(),
        _ => Err(not_list()),
    }
}

fn is_empty_list(v: &Value) -> bool {
    v.is_null() || v.as_array().is_some_and(Vec::is_empty)
}

/// The checks that refuse a batch whole (nothing runs): the body is `{"requests": [...]}` with 1 to
/// 20 objects, each with an id unique in the batch (case-insensitively) and a `dependsOn` that names
/// only earlier requests.
fn parse_batch(mut body: Map<String, Value>) -> ApiResult<Vec<Entry>> {
    let requests = body.remove("requests").ok_or_else(|| refused(Code::InvalidBatch, "requests", "the batch has no 'requests' member"))?;
    if let Some(other) = body.keys().next() {
        return Err(refused(
            Code::InvalidBatch,
            other.as_str(),
            format!("the batch has an unknown member '{other}'; it holds only 'requests'"),
        ));
    }
    let Value::Array(list) = requests else {
        return Err(refused(
            Code::InvalidBatch,
            "requests",
            format!("'requests' must be an array of requests, got {}", json_kind(&requests)),
        ));
    };
    if list.is_empty() || list.len() > MAX_REQUESTS {
        return Err(refused(
            Code::InvalidBatchSize,
            "requests",
            format!("'requests' holds {} requests; a batch holds 1 to {MAX_REQUESTS}", list.len()),
        ));
    }
    let mut ids: HashMap<String, usize> = HashMap::new();
    let mut parsed = Vec::with_capacity(list.len());
    for (i, item) in list.into_iter().enumerate() {
        let at = format!("requests[{i}]");
        let Value::Object(mut members) = item else {
            return Err(refused(Code::InvalidBatch, at.as_str(), format!("{at} must be a JSON object, got {}", json_kind(&item))));
        };
        let id = match members.remove("id") {
            Some(Value::String(id)) if !id.is_empty() => id,
            Some(other) => {
                return Err(refused(
                    Code::InvalidBatch,
                    format!("{at}.id"),
                    format!("{at}.id must be a non-empty string, got {}", json_kind(&other)),
                ));
            }
            None => return Err(refused(Code::InvalidBatch, format!("{at}.id"), format!("{at}.id is missing: every request needs an id"))),
        };
        if let Some(first) = ids.insert(id.to_lowercase(), i) {
            return Err(refused(
                Code::DuplicateRequestId,
                format!("{at}.id"),
                format!("{at}.id '{id}' repeats the id of requests[{first}] (ids are compared case-insensitively)"),
            ));
        }
        let names = dependency_names(&at, &mut members)?;
        parsed.push((at, id, names, members));
    }
    parsed
        .into_iter()
        .enumerate()
        .map(|(i, (at, id, names, members))| {
            let depends_on = names
                .iter()
                .map(|name| {
                    let target = format!("{at}.dependsOn");
                    match ids.get(&name.to_lowercase()).copied() {
                        None => Err(refused(Code::InvalidDependsOn, target, format!("{at}.dependsOn names '{name}', which is no request of this batch"))),
                        Some(j) if j == i => Err(refused(Code::InvalidDependsOn, target, format!("{at}.dependsOn names the request itself ('{name}')"))),
                        Some(j) if j > i => Err(refused(Code::InvalidDependsOn,
                            target,
                            format!("{at}.dependsOn names '{name}' (requests[{j}]), which comes later; a request may depend only on earlier ones"),
                        )),
                        Some(j) => Ok(j),
                    }
                })
                .collect::<ApiResult<Vec<usize>>>()?;
            Ok(Entry { id, depends_on, members })
        })
        .collect()
}

/// Where the requests of a batch may point: below the service root, on its origin.
struct Base {
    /// The service root with a trailing `/`, e.g. `http://127.0.0.1:8080/beta/`.
    root: url::Url,
}

impl Base {
    /// Without `--public-url` the root is made from the request's `Host`, which a client may send
    /// malformed (`h:99999`): then no request of the batch can be placed, and the batch is a 400.
    fn new(root: &str) -> ApiResult<Self> {
        let root = url::Url::parse(&format!("{root}/")).map_err(|e| {
            ApiError::new(Code::InvalidHost, format!("the service root '{root}' made from the request's Host is not a valid URL: {e}"))
                .with_target("Host")
        })?;
        Ok(Self { root })
    }

    /// The path and query to send a request's `url` to: relative to the service root (a leading
    /// `/` is the root itself), or absolute on the root's origin and below its path, after `.` and
    /// `..` are resolved. Else a 400 naming the url.
    fn resolve(&self, at: &str, url: &str) -> ApiResult<String> {
        let target = format!("{at}.url");
        let outside = |why: &str| refused(Code::InvalidRequestUrl, &target, format!("{at}.url '{url}' {why}"));
        let resolved = match url::Url::parse(url) {
            Ok(absolute) => absolute,
            Err(url::ParseError::RelativeUrlWithoutBase) => {
                // The Graph JavaScript client strips only the scheme and host, so its URLs start with
                // the root's own path (`/beta/...`): those are host-relative. No resource below the
                // root is called `beta`, so this shadows nothing.
                let root_path = self.root.path().trim_end_matches('/');
                let host_relative = url
                    .strip_prefix(root_path)
                    .is_some_and(|rest| !root_path.is_empty() && (rest.is_empty() || rest.starts_with(['/', '?'])));
                let joined = if host_relative { self.root.join(url) } else { self.root.join(url.strip_prefix('/').unwrap_or(url)) };
                joined.map_err(|e| outside(&format!("is not a valid URL: {e}")))?
            }
            Err(e) => return Err(outside(&format!("is not a valid URL: {e}"))),
        };
        if resolved.origin() != self.root.origin() {
            return Err(outside(&format!(
                "points at another origin; requests of a batch go to {}",
                self.root.origin().ascii_serialization()
            )));
        }
        let root_path = self.root.path().trim_end_matches('/');
        let below = resolved.path().strip_prefix(root_path).filter(|rest| rest.is_empty() || rest.starts_with('/'));
        let Some(below) = below else {
            return Err(outside(&format!("is outside the service root {}", self.root.as_str().trim_end_matches('/'))));
        };
        let below = below.trim_start_matches('/');
        if path::parse(below).is_ok_and(|p| p.resource == Resource::Batch) {
            return Err(refused(Code::InvalidRequestUrl, target, format!("{at}.url points at $batch; a batch cannot hold a batch")));
        }
        Ok(match resolved.query() {
            Some(query) => format!("{SERVICE_ROOT}/{below}?{query}"),
            None => format!("{SERVICE_ROOT}/{below}"),
        })
    }
}

/// A request's `headers`: an object of strings. Its `Authorization` and `Host` are the batch's, and
/// the length of its body is set from the body.
fn item_headers(at: &str, value: Option<Value>) -> ApiResult<HeaderMap> {
    let target = format!("{at}.headers");
    let mut headers = HeaderMap::new();
    let object = match value {
        None | Some(Value::Null) => return Ok(headers),
        Some(Value::Object(object)) => object,
        Some(other) => {
            return Err(refused(
                Code::InvalidRequestHeader,
                target,
                format!("{at}.headers must be an object of strings, got {}", json_kind(&other)),
            ));
        }
    };
    for (name, value) in object {
        let invalid = |why: String| refused(Code::InvalidRequestHeader, format!("{target}.{name}"), format!("{at}.headers '{name}' {why}"));
        let Value::String(text) = value else {
            return Err(invalid(format!("must be a string, got {}", json_kind(&value))));
        };
        let name_ok = HeaderName::from_bytes(name.as_bytes()).map_err(|_| invalid("is not a valid header name".into()))?;
        let value_ok = HeaderValue::from_str(&text).map_err(|_| invalid("has a value that is not a valid header value".into()))?;
        headers.append(name_ok, value_ok);
    }
    for set_here in [header::HOST, header::AUTHORIZATION, header::CONTENT_LENGTH, header::TRANSFER_ENCODING, header::CONNECTION] {
        headers.remove(set_here);
    }
    Ok(headers)
}

/// What a request of the batch becomes: an HTTP request for the router, or the reply that refuses it
/// without sending it (its own 400).
struct Prepared {
    headers: HeaderMap,
    request: ApiResult<Request<Body>>,
}

fn prepare(ctx: &Ctx, base: &Base, i: usize, entry: &mut Entry) -> Prepared {
    let at = format!("requests[{i}]");
    match item_headers(&at, entry.members.remove("headers")) {
        Ok(headers) => Prepared { request: build_request(ctx, base, &at, &mut entry.members, headers.clone()), headers },
        Err(error) => Prepared { headers: HeaderMap::new(), request: Err(error) },
    }
}

/// A member of a request that must be a string: `method`, `url`.
fn string_member(at: &str, members: &mut Map<String, Value>, name: &str, code: Code) -> ApiResult<String> {
    match members.remove(name) {
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(refused(code, format!("{at}.{name}"), format!("{at}.{name} must be a string, got {}", json_kind(&other)))),
        None => Err(refused(code, format!("{at}.{name}"), format!("{at}.{name} is missing"))),
    }
}

fn build_request(ctx: &Ctx, base: &Base, at: &str, members: &mut Map<String, Value>, mut headers: HeaderMap) -> ApiResult<Request<Body>> {
    let method = string_member(at, members, "method", Code::InvalidRequestMethod)?;
    let method = Method::from_bytes(method.as_bytes()).map_err(|_| {
        refused(Code::InvalidRequestMethod, format!("{at}.method"), format!("{at}.method '{method}' is not an HTTP method"))
    })?;
    let uri = base.resolve(at, &string_member(at, members, "url", Code::InvalidRequestUrl)?)?;
    let body = match members.remove("body") {
        None | Some(Value::Null) => Bytes::new(),
        Some(_) if !headers.contains_key(header::CONTENT_TYPE) => {
            return Err(refused(
                Code::MissingContentType,
                format!("{at}.headers"),
                format!("{at} has a body but no Content-Type header; say what the body is (application/json)"),
            ));
        }
        Some(body) => Bytes::from(body.to_string()),
    };
    if let Some(other) = members.keys().next() {
        return Err(refused(
            Code::InvalidBatch,
            format!("{at}.{other}"),
            format!("{at} has an unknown member '{other}'; a request has id, method, url, headers, body and dependsOn"),
        ));
    }
    for name in [header::HOST, header::AUTHORIZATION] {
        if let Some(value) = ctx.headers.get(&name) {
            headers.insert(name, value.clone());
        }
    }
    if !body.is_empty() {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
    }
    let mut request = Request::builder()
        .method(method)
        .uri(&uri)
        .body(Body::from(body))
        .map_err(|e| refused(Code::InvalidRequestUrl, format!("{at}.url"), format!("{at}.url does not make a valid request: {e}")))?;
    *request.headers_mut() = headers;
    // What the connection says about the batch holds for its requests: the client's address (rate
    // limits) and the scheme (links minted over TLS say https).
    if let Some(peer) = ctx.extensions.get::<ConnectInfo<SocketAddr>>() {
        request.extensions_mut().insert(*peer);
    }
    if let Some(scheme) = ctx.extensions.get::<crate::serve::Scheme>() {
        request.extensions_mut().insert(*scheme);
    }
    Ok(request)
}

/// A request's reply, read whole.
struct Outcome {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Outcome {
    async fn of(response: Response) -> Self {
        let (parts, body) = response.into_parts();
        match axum::body::to_bytes(body, usize::MAX).await {
            Ok(body) => Outcome { status: parts.status, headers: parts.headers, body },
            Err(e) => {
                let (parts, body) = ApiError::internal(format!("the reply could not be read: {e}")).into_response().into_parts();
                Outcome {
                    status: parts.status,
                    headers: parts.headers,
                    body: axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default(),
                }
            }
        }
    }

    fn succeeded(&self) -> bool {
        self.status.is_success()
    }

    /// Appends `{"id", "status", "headers", "body"?}` to `out`: a JSON body embedded as it came
    /// (checked to be JSON, not parsed into a tree and written again), any other text as a string.
    fn write(self, id: &str, out: &mut String) {
        let mut headers = Map::new();
        for name in self.headers.keys() {
            if [header::CONTENT_LENGTH, header::TRANSFER_ENCODING, header::CONNECTION].contains(name) {
                continue;
            }
            let values: Vec<&str> = self.headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
            // Names are lowercase, but `Content-Type` is written as Graph writes it: the Graph
            // JavaScript client looks for exactly that key to read a JSON body.
            let key = if name == header::CONTENT_TYPE { "Content-Type" } else { name.as_str() };
            headers.insert(key.to_owned(), Value::String(values.join(", ")));
        }
        let head = json!({"id": id, "status": self.status.as_u16(), "headers": headers}).to_string();
        out.push_str(head.strip_suffix('}').unwrap_or(&head));
        if !self.body.is_empty() {
            let mime = self.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(|v| v.split(';').next()).unwrap_or("");
            let json = mime.trim().to_ascii_lowercase().ends_with("json");
            out.push_str(",\"body\":");
            match std::str::from_utf8(&self.body) {
                Ok(text) if json && serde_json::from_str::<IgnoredAny>(text).is_ok() => out.push_str(text),
                Ok(text) => out.push_str(&Value::String(text.to_owned()).to_string()),
                Err(_) => out.push_str(&Value::String(base64::engine::general_purpose::STANDARD.encode(&self.body)).to_string()),
            }
        }
        out.push('}');
    }
}

/// A reply made here, for a request that never reaches the router: under ids of its own, logged
/// like any request.
async fn local_reply(ctx: &Ctx, headers: &HeaderMap, error: ApiError) -> Outcome {
    let ids = protocol::new_ids(headers);
    let path = format!("{SERVICE_ROOT}/{}", ctx.path.path);
    Outcome::of(protocol::serve_as(&ctx.method, &path, ids, std::time::Instant::now(), async move { error.into_response() }).await).await
}

/// Serves a batch: refuses it whole or answers 200 with one reply per request, in request order.
pub async fn run(ctx: &Ctx) -> ApiResult<Response> {
    let router = ctx
        .extensions
        .get::<ItemRouter>()
        .map(|r| r.0.clone())
        .ok_or_else(|| ApiError::internal("this service was built without the router that batches are served through"))?;
    let mut entries = parse_batch(ctx.json_body()?)?;
    let base = Base::new(&ctx.root)?;
    let mut prepared: Vec<Option<Prepared>> = entries.iter_mut().enumerate().map(|(i, e)| Some(prepare(ctx, &base, i, e))).collect();

    let n = entries.len();
    let mut outcomes: Vec<Option<Outcome>> = (0..n).map(|_| None).collect();
    // The requests being served, polled on this task (no hand-off to other threads per request).
    let mut running = FuturesUnordered::new();
    loop {
        // In request order: answer here every request that is refused or whose dependency failed,
        // and start every other one whose dependencies are done, while fewer than CONCURRENCY run.
        // Answering one here may free its dependents, so go round again until nothing changes.
        let mut progress = true;
        while progress {
            progress = false;
            for i in 0..n {
                if prepared[i].is_none() || entries[i].depends_on.iter().any(|&d| outcomes[d].is_none()) {
                    continue;
                }
                let failed = entries[i].depends_on.iter().copied().find(|&d| outcomes[d].as_ref().is_some_and(|o| !o.succeeded()));
                let sendable = failed.is_none() && prepared[i].as_ref().is_some_and(|p| p.request.is_ok());
                if sendable && running.len() >= CONCURRENCY {
                    continue;
                }
                let Some(Prepared { headers, request }) = prepared[i].take() else { continue };
                let refusal = match (failed, request) {
                    (Some(d), _) => {
                        let status = outcomes[d].as_ref().map_or(0, |o| o.status.as_u16());
                        ApiError::new(
                            Code::FailedDependency,
                            format!("not run: it depends on '{}' (requests[{d}]), which did not succeed (status {status})", entries[d].id),
                        )
                        .with_target(format!("requests[{i}].dependsOn"))
                    }
                    (None, Err(error)) => error,
                    (None, Ok(request)) => {
                        let router = router.clone();
                        running.push(async move {
                            let Ok(response) = router.oneshot(request).await;
                            (i, Outcome::of(response).await)
                        });
                        continue;
                    }
                };
                outcomes[i] = Some(local_reply(ctx, &headers, refusal).await);
                progress = true;
            }
        }
        let Some((i, outcome)) = running.next().await else { break };
        outcomes[i] = Some(outcome);
    }

    let mut out = String::from("{\"responses\":[");
    for (i, (entry, outcome)) in entries.iter().zip(outcomes).enumerate() {
        if i > 0 {
            out.push(',');
        }
        // Every request has an outcome by now: its dependencies come before it, so each round
        // above answers or starts at least the first request still waiting.
        let outcome =
            outcome.unwrap_or_else(|| Outcome { status: StatusCode::INTERNAL_SERVER_ERROR, headers: HeaderMap::new(), body: Bytes::new() });
        outcome.write(&entry.id, &mut out);
    }
    out.push_str("]}");
    Ok(json_text_reply(StatusCode::OK, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch(requests: Value) -> ApiResult<Vec<Entry>> {
        parse_batch(json!({ "requests": requests }).as_object().unwrap().clone())
    }

    #[test]
    fn dependencies_resolve_to_earlier_requests() {
        let entries = batch(json!([
            {"id": "a", "method": "GET", "url": "/"},
            {"id": "B", "method": "GET", "url": "/", "dependsOn": ["A"]},
            {"id": "c", "method": "GET", "url": "/", "depends_on": ["a", "b"]},
            {"id": "d", "method": "GET", "url": "/", "dependsOn": ["c"], "depends_on": []},
        ]))
        .unwrap();
        let deps: Vec<Vec<usize>> = entries.iter().map(|e| e.depends_on.clone()).collect();
        assert_eq!(deps, [vec![], vec![0], vec![0, 1], vec![2]]);
        let error = batch(json!([{"id": "a", "method": "GET", "url": "/", "dependsOn": ["b"]}, {"id": "b", "method": "GET", "url": "/"}]))
            .unwrap_err();
        assert_eq!(error.target.as_deref(), Some("requests[0].dependsOn"));
    }

    #[test]
    fn urls_stay_below_the_service_root() {
        let base = Base::new("http://h:8080/beta").unwrap();
        assert_eq!(base.resolve("r", "industryData/runs?$top=1").unwrap(), "/beta/industryData/runs?$top=1");
        assert_eq!(base.resolve("r", "/industryData/runs").unwrap(), "/beta/industryData/runs");
        // As the Graph JavaScript client writes them: the host stripped, the version kept.
        assert_eq!(base.resolve("r", "/beta/industryData/runs?$top=2").unwrap(), "/beta/industryData/runs?$top=2");
        assert_eq!(base.resolve("r", "/beta").unwrap(), "/beta/");
        assert_eq!(base.resolve("r", "/betamax").unwrap(), "/beta/betamax");
        assert_eq!(base.resolve("r", "http://H:8080/beta/$metadata").unwrap(), "/beta/$metadata");
        assert_eq!(base.resolve("r", "industryData/x/../runs").unwrap(), "/beta/industryData/runs");
        assert_eq!(base.resolve("r", "/").unwrap(), "/beta/");
        for bad in [
            "../healthz",
            "industryData/../../x",
            "//evil/beta/x",
            "http://h:8081/beta/x",
            "https://h:8080/beta/x",
            "http://h:8080/betax",
            "$batch",
            "/$batch/",
            "%2e%2e/healthz",
        ] {
            assert!(base.resolve("r", bad).is_err(), "{bad}");
        }
        let prefixed = Base::new("https://example.test/api/beta").unwrap();
        assert_eq!(prefixed.resolve("r", "https://example.test/api/beta/industryData/runs").unwrap(), "/beta/industryData/runs");
        assert!(prefixed.resolve("r", "https://example.test/beta/industryData/runs").is_err());
    }
}
