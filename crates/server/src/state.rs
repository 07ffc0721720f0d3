//! What every request handler shares: the store and how absolute URLs are made.

use std::sync::Arc;

use runhub_store::Store;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// `--public-url`: the base of every absolute URL in replies; else the request's Host.
    pub public_url: Option<String>,
}
