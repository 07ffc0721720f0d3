//! One way to start runhub: [`Application::build`] opens the store, binds the listener, builds the
//! router and starts the background work (webhook delivery, the scheduler, change-log pruning, the
//! reaper and retention); [`Application::run_until_stopped`] serves with the production connection
//! loop until shutdown, then stops it all and closes the store. `runhub serve` and the tests start
//! the service through these two calls alone.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use runhub_store::Store;

use crate::app::{AppState, MetricsSettings, Security, Services};
use crate::feed::{Feed, FeedSettings};
use crate::tls::Tls;
use crate::webhooks::{WebhookSettings, Webhooks};

/// Which store to serve.
#[derive(Clone)]
pub enum StoreSettings {
    /// The embedded SQLite store in a data directory.
    Sqlite { data_dir: PathBuf, options: runhub_store::sqlite::Options },
    /// PostgreSQL at a `postgres://` URL.
    Postgres { url: String, options: runhub_store::postgres::Options },
    /// A store already open (tests, which also read it directly).
    Open(Arc<dyn Store>),
}

/// Everything the service is configured with (`runhub serve`'s flags, typed and checked).
#[derive(Clone)]
pub struct Settings {
    pub store: StoreSettings,
    pub listen: SocketAddr,
    /// The base of every URL the service mints; `None`: from each request's `Host`.
    pub public_url: Option<String>,
    pub security: Security,
    pub tls: Option<Arc<Tls>>,
    pub feed: FeedSettings,
    pub metrics: MetricsSettings,
    pub webhooks: WebhookSettings,
    /// How often the scheduler starts run groups; zero: never.
    pub schedule_interval: Duration,
    /// Running runs idle this long are finished as timed out (the reaper); `None`: never.
    pub run_timeout: Option<Duration>,
    /// Finished runs older than this are deleted; `None`: kept forever.
    pub retention: Option<Duration>,
}

impl Settings {
    /// The defaults for `store`, on a free loopback port, with no scheduler, reaper or retention:
    /// what a test starts from.
    pub fn new(store: StoreSettings) -> Self {
        Self {
            store,
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            public_url: None,
            security: Security::default(),
            tls: None,
            feed: FeedSettings::default(),
            metrics: MetricsSettings::default(),
            webhooks: WebhookSettings::default(),
            schedule_interval: Duration::ZERO,
            run_timeout: None,
            retention: None,
        }
    }
}

/// A built service, bound to its address, not serving yet.
pub struct Application {
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    store: Arc<dyn Store>,
    settings: Settings,
    feed: Feed,
    webhooks: Webhooks,
    router: axum::Router,
}

impl Application {
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let store = match &settings.store {
            StoreSettings::Sqlite { data_dir, options } => {
                let store = runhub_store::open(data_dir, options.clone()).await?;
                tracing::info!(data_dir = %data_dir.display(), durability = ?options.durability, "SQLite store opened");
                store
            }
            StoreSettings::Postgres { url, options } => {
                let store = runhub_store::open_postgres(url, options.clone()).await?;
                // Only the part after '@': the URL may carry a password.
                tracing::info!(database = url.rsplit('@').next().unwrap_or(""), ?options, "PostgreSQL store opened");
                store
            }
            StoreSettings::Open(store) => store.clone(),
        };
        let listener = tokio::net::TcpListener::bind(settings.listen).await?;
        let addr = listener.local_addr()?;
        let feed = Feed::new(settings.feed.clone());
        let webhooks = Webhooks::new(settings.webhooks.clone());
        let router = crate::app::router_full(
            AppState::new(store.clone(), settings.public_url.clone()),
            settings.security.clone(),
            Services { feed: feed.clone(), metrics: settings.metrics.clone(), webhooks: webhooks.clone() },
        );
        Ok(Self { listener, addr, store, settings, feed, webhooks, router })
    }

    /// The address it listens on (the port chosen when asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://addr` or `https://addr`.
    pub fn base_url(&self) -> String {
        let scheme = if self.settings.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    pub fn store(&self) -> Arc<dyn Store> {
        self.store.clone()
    }

    /// Serves until `shutdown` resolves and the requests in flight are answered; then stops the
    /// background work and closes the store.
    pub async fn run_until_stopped(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let Self { listener, store, settings, feed, webhooks, router, .. } = self;
        // Live streams never end by themselves: end them first, so the drain does not wait for them.
        let shutdown = {
            let feed = feed.clone();
            async move {
                shutdown.await;
                feed.close();
            }
        };
        let dispatcher = crate::webhooks::spawn(store.clone(), webhooks, feed);
        let scheduler = crate::scheduler::spawn(store.clone(), settings.schedule_interval);
        let pruner = crate::feed::spawn_pruner(store.clone(), settings.feed.retention);
        let upkeep = crate::upkeep::spawn(store.clone(), settings.run_timeout, settings.retention);
        let metrics_upkeep = crate::metrics::spawn_upkeep();
        let served = crate::serve::serve_with(listener, router, &settings.security.limits, settings.tls.clone(), shutdown).await;
        if let Some(scheduler) = scheduler {
            scheduler.abort();
        }
        pruner.abort();
        dispatcher.stop();
        metrics_upkeep.abort();
        upkeep.stop().await;
        served?;
        store.close().await;
        Ok(())
    }
}
