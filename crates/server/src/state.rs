//! What every request handler shares: the store and how absolute URLs are made.

use std::sync::Arc;

use runhub_store::Store;

use crate::feed::Feed;
use crate::webhooks::Webhooks;

#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    /// `--public-url`: the base of every absolute URL in replies; else the request's Host.
    pub public_url: Option<String>,
    /// Delta and live-stream settings (and the watermark follower).
    pub feed: Feed,
    /// Webhook settings and the client of validation requests.
    pub webhooks: Webhooks,
}

impl AppState {
    /// The state over `store`, with default feed and webhook settings (the router takes this
    /// replica's own, `crate::app::Services`).
    pub fn new(store: Arc<dyn Store>, public_url: Option<String>) -> Self {
        Self { store, public_url, feed: Feed::default(), webhooks: Webhooks::default() }
    }
}
