//! The application: shared state and the router with its layers.

use runhub_model::Code;
use std::sync::Arc;

use axum::Router;
use axum::response::IntoResponse;
use axum::routing::{any, get};

use crate::auth::Authenticator;
use crate::error::ApiError;
use crate::feed::Feed;
use crate::limits::{self, Guard, Limits};
pub use crate::metrics::MetricsSettings;
use crate::webhooks::Webhooks;
use crate::{protocol, routes};

pub use crate::state::AppState;

/// How requests are authenticated and limited (`runhub serve --auth … --rate-limit …`).
#[derive(Clone, Default)]
pub struct Security {
    pub auth: Authenticator,
    pub limits: Limits,
}

/// The whole HTTP surface over a store, without authentication (every request acts for the default
/// tenant) and with the default limits.
pub fn router(state: AppState) -> Router {
    router_with(state, Security::default())
}

/// The whole HTTP surface over a store. Layers, outermost first: request ids and the log line;
/// panics → 500; URL and header sizes (414, 431); requests in flight (503); the request timeout
/// (408); who is calling and how often (401, 429); then the routes, which check permissions (403).
/// Outermost of all, the handle `$batch` sends its requests through: this service without it.
pub fn router_with(state: AppState, security: Security) -> Router {
    router_full(state, security, Services::default())
}

/// What a replica runs beside the store: delta and live streams, `/metrics`, webhooks.
#[derive(Clone, Default)]
pub struct Services {
    /// Delta and live-stream settings (and the watermark follower).
    pub feed: Feed,
    /// How `/metrics` is served (`--metrics-token`).
    pub metrics: MetricsSettings,
    /// Webhook settings and the client of validation requests.
    pub webhooks: Webhooks,
}

/// [`router_with`], with this replica's [`Services`].
pub fn router_full(state: AppState, security: Security, services: Services) -> Router {
    let Services { feed, metrics, webhooks } = services;
    let guard = Arc::new(Guard::new(security.limits, security.auth));
    let scrape = crate::metrics::Scrape::new(&metrics);
    let service = Router::new()
        .route("/healthz", get(routes::healthz))
        .route("/metrics", get(crate::metrics::scrape).with_state((state.clone(), scrape)))
        .route("/livez", get(routes::livez))
        .route("/beta", any(routes::dispatch))
        .route("/beta/", any(routes::dispatch))
        .route("/beta/{*rest}", any(routes::dispatch))
        .merge(crate::dashboard::routes())
        .fallback(|request: axum::extract::Request| async move {
            ApiError::not_found(format!("no resource at '{}'; the service root is /beta", request.uri().path()))
        })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed(&["GET"]) })
        .layer(axum::Extension(feed))
        .layer(axum::Extension(webhooks))
        .layer(axum::middleware::from_fn_with_state(guard.clone(), limits::access))
        .layer(axum::middleware::from_fn_with_state(guard.clone(), limits::timeout))
        .layer(axum::middleware::from_fn_with_state(guard.clone(), limits::concurrency))
        .layer(axum::middleware::from_fn_with_state(guard, limits::sizes))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            ApiError::new(Code::GeneralException, "the server failed while serving this request").into_response()
        }))
        .layer(axum::middleware::from_fn(crate::metrics::layer))
        .layer(axum::middleware::from_fn(protocol::layer))
        .with_state(state);
    // `$batch` sends each of its requests through this same service, layers and all (docs/batch.md).
    service.clone().layer(axum::Extension(routes::batch::ItemRouter(service)))
}
