//! The application: shared state and the router with its layers.

use std::sync::Arc;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{any, get};
use runhub_store::Store;

use crate::error::ApiError;
use crate::{protocol, routes};

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// `--public-url`: the base of every absolute URL in replies; else the request's Host.
    pub public_url: Option<String>,
}

/// The whole HTTP surface over a store.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(routes::healthz))
        .route("/beta", any(routes::dispatch))
        .route("/beta/", any(routes::dispatch))
        .route("/beta/{*rest}", any(routes::dispatch))
        .fallback(|request: axum::extract::Request| async move {
            ApiError::not_found(format!("no resource at '{}'; the service root is /beta", request.uri().path()))
        })
        .method_not_allowed_fallback(|| async {
            ApiError::method_not_allowed(&[axum::http::Method::GET])
        })
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_: Box<dyn std::any::Any + Send>| {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "generalException", "the server failed while serving this request").into_response()
        }))
        .layer(axum::middleware::from_fn(protocol::layer))
        .with_state(state)
}
