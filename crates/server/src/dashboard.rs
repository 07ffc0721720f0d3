//! The dashboard: a browser application served at `/`, outside the API (docs/dashboard.md).
//!
//! Its files live in `crates/server/dashboard/` and are compiled into the binary by `rust-embed`
//! (a debug build reads them from disk, so editing them needs no rebuild). The application only calls
//! the public `/beta` API, with the user's bearer token, so it shows exactly what a client may see.
//!
//! Every reply here carries a strict Content-Security-Policy: scripts, styles and connections from
//! this origin only, no inline script or style, nothing framed or embedded.

use axum::Router;
use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::error::ApiError;

#[derive(rust_embed::Embed)]
#[folder = "dashboard/"]
struct Assets;

/// Where the application's own files are served from.
pub const ASSET_PREFIX: &str = "/ui/";

/// The policy every dashboard reply carries.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// The application's client-side views: each serves the same page, which reads the URL (path and
/// query: the filters) and draws the view, so a reload or a shared link restores it.
const VIEWS: &[&str] = &["/", "/runs", "/runs/{id}", "/processes", "/timeline", "/published"];

/// The dashboard's routes, to be merged into the service's router. None of them is under `/beta`,
/// `/healthz`, `/livez` or `/metrics`.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    let mut router = Router::new().route("/ui/{*file}", get(asset));
    for view in VIEWS {
        router = router.route(view, get(index));
    }
    router
}

async fn index(headers: HeaderMap) -> Response {
    serve("index.html", &headers)
}

async fn asset(Path(file): Path<String>, headers: HeaderMap) -> Response {
    serve(&file, &headers)
}

/// One embedded file: its content type, a strong ETag from its SHA-256, `no-cache` so browsers
/// revalidate (a 304 when unchanged) and always see the files of the running binary.
fn serve(file: &str, request: &HeaderMap) -> Response {
    let Some(content) = Assets::get(file) else {
        return ApiError::not_found(format!("the dashboard has no file '{ASSET_PREFIX}{file}'")).into_response();
    };
    let hash = content.metadata.sha256_hash();
    let etag = format!("\"{}\"", hash[..16].iter().map(|b| format!("{b:02x}")).collect::<String>());
    let mut response = if if_none_match(request, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut response = Response::new(Body::from(content.data.into_owned()));
        let mime = content.metadata.mimetype();
        let mime = if mime.starts_with("text/") && !mime.contains("charset") { format!("{mime}; charset=utf-8") } else { mime.to_owned() };
        if let Ok(value) = HeaderValue::from_str(&mime) {
            response.headers_mut().insert(header::CONTENT_TYPE, value);
        }
        response
    };
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&etag) {
        headers.insert(header::ETAG, value);
    }
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CONTENT_SECURITY_POLICY));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

fn if_none_match(request: &HeaderMap, etag: &str) -> bool {
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag == etag || tag.strip_prefix("W/") == Some(etag))
}
