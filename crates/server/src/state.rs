//! What every request handler shares: the store and how absolute URLs are made.

use std::sync::Arc;

use runhub_store::Store;

use crate::feed::Feed;
use crate::webhooks::Webhooks;

/// What every handler is given. One shared value: axum hands each request its own clone of the
/// state, and a clone of this is one reference count.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

pub struct Shared {
    pub store: Arc<dyn Store>,
    /// `--public-url`: the base of every absolute URL in replies; else the request's Host.
    pub public_url: Option<String>,
    /// Delta and live-stream settings (and the watermark follower).
    pub feed: Feed,
    /// Webhook settings and the client of validation requests.
    pub webhooks: Webhooks,
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl AppState {
    /// The state over `store`, with default feed and webhook settings (the router takes this
    /// replica's own, `crate::app::Services`).
    pub fn new(store: Arc<dyn Store>, public_url: Option<String>) -> Self {
        Self(Arc::new(Shared { store, public_url, feed: Feed::default(), webhooks: Webhooks::default() }))
    }

    /// The same store and public URL, with these feed and webhook settings.
    pub fn with_services(&self, feed: Feed, webhooks: Webhooks) -> Self {
        Self(Arc::new(Shared { store: self.store.clone(), public_url: self.public_url.clone(), feed, webhooks }))
    }
}
