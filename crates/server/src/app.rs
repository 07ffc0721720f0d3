//! The application: shared state and the router with its layers.

use std::sync::Arc;

use axum::Router;
use axum::routing::{any, get};

use crate::auth::Authenticator;
use crate::error::ApiError;
use crate::feed::Feed;
use crate::limits::{Guard, Limits};
pub use crate::metrics::MetricsSettings;
use crate::routes;
use crate::webhooks::Webhooks;

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

/// The whole HTTP surface over a store, inside the one layer every request passes (`crate::front`:
/// ids, log line, metrics, limits, who is calling); the routes then check permissions (403).
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
        .layer(axum::middleware::from_fn_with_state(guard, crate::front::layer))
        .with_state(state.with_services(feed, webhooks));
    // `$batch` sends each of its requests through this same service, layers and all (docs/batch.md).
    service.clone().layer(axum::Extension(routes::batch::ItemRouter(service)))
}
