//! What the delta queries and live streams of one replica share (docs/change-tracking.md): the
//! change retention, the cap on open streams, the keep-alive interval, the shutdown signal that
//! ends every stream, and one watermark follower per replica that wakes the streams up.
//!
//! Waking up: a commit through this replica's store bumps [`runhub_store::Store::change_signal`];
//! commits through other replicas are seen by polling the store's watermark every `poll`
//! (default 250 ms). One task per replica does both and publishes the watermark on a
//! `watch` channel, so a thousand idle streams cost one small query per poll, not a thousand.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use runhub_store::Store;
use tokio::sync::watch;

/// How delta and the live stream behave (`runhub serve --change-retention … --max-streams …`).
#[derive(Debug, Clone)]
pub struct FeedSettings {
    /// How long changes (and tombstones) are kept; an older token gets 410.
    pub retention: Duration,
    /// Live streams open at once on this replica; more get 503.
    pub max_streams: usize,
    /// A comment line this often keeps an idle stream's connection alive.
    pub keepalive: Duration,
    /// How often the watermark is polled for commits through other replicas.
    pub poll: Duration,
}

impl Default for FeedSettings {
    fn default() -> Self {
        Self {
            retention: Duration::from_secs(7 * 24 * 3600),
            max_streams: 1000,
            keepalive: Duration::from_secs(15),
            poll: Duration::from_millis(250),
        }
    }
}

/// Shared by every delta request and stream of a replica (cheap to clone).
#[derive(Clone)]
pub struct Feed(Arc<Inner>);

struct Inner {
    settings: FeedSettings,
    open: AtomicUsize,
    closing: watch::Sender<bool>,
    watermark: OnceLock<watch::Receiver<u64>>,
}

impl Default for Feed {
    fn default() -> Self {
        Self::new(FeedSettings::default())
    }
}

/// One open stream; dropping it frees its place.
pub struct StreamSlot(Feed);

impl Drop for StreamSlot {
    fn drop(&mut self) {
        self.0.0.open.fetch_sub(1, Ordering::SeqCst);
        metrics::gauge!("runhub_streams_open").decrement(1.0);
    }
}

impl Feed {
    pub fn new(settings: FeedSettings) -> Self {
        Self(Arc::new(Inner { settings, open: AtomicUsize::new(0), closing: watch::Sender::new(false), watermark: OnceLock::new() }))
    }

    pub fn settings(&self) -> &FeedSettings {
        &self.0.settings
    }

    /// A place for one more stream, or `None` when `max_streams` are open.
    pub fn open_stream(&self) -> Option<StreamSlot> {
        let max = self.0.settings.max_streams;
        self.0.open.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| (n < max).then_some(n + 1)).ok()?;
        metrics::gauge!("runhub_streams_open").increment(1.0);
        Some(StreamSlot(self.clone()))
    }

    /// Streams open now.
    pub fn open_streams(&self) -> usize {
        self.0.open.load(Ordering::SeqCst)
    }

    /// Ends every stream (SIGTERM): they finish their current event and close.
    pub fn close(&self) {
        self.0.closing.send_replace(true);
    }

    /// Resolves once [`Feed::close`] was called.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.0.closing.subscribe()
    }

    /// The store's watermark, updated after every local commit and every `poll` (started on first use).
    pub fn watermarks(&self, store: &Arc<dyn Store>) -> watch::Receiver<u64> {
        self.0
            .watermark
            .get_or_init(|| {
                let (tx, rx) = watch::channel(0);
                let store = store.clone();
                let mut local = store.change_signal();
                let mut closing = self.closing();
                let poll = self.0.settings.poll;
                tokio::spawn(async move {
                    loop {
                        match store.change_watermark().await {
                            Ok(w) => {
                                tx.send_if_modified(|old| {
                                    let moved = *old != w;
                                    *old = w;
                                    moved
                                });
                            }
                            Err(e) => tracing::warn!(error = %e, "cannot read the change log's watermark; retrying"),
                        }
                        tokio::select! {
                            // Nobody follows any more (the router is gone).
                            () = tx.closed() => break,
                            _ = local.changed() => {}
                            () = tokio::time::sleep(poll) => {}
                            _ = closing.wait_for(|c| *c) => break,
                        }
                    }
                });
                rx
            })
            .clone()
    }
}

/// Deletes changes older than the retention, in small batches, forever (one task per replica;
/// several replicas pruning at once only share the work). Each batch is its own short write, so
/// writers never wait long behind it.
pub fn spawn_pruner(store: Arc<dyn Store>, retention: Duration) -> tokio::task::JoinHandle<()> {
    const BATCH: u32 = 500;
    let every = (retention / 10).clamp(Duration::from_millis(100), Duration::from_secs(60));
    tokio::spawn(async move {
        loop {
            let before = runhub_model::Timestamp::from_micros(
                runhub_model::Timestamp::now().micros().saturating_sub(i64::try_from(retention.as_micros()).unwrap_or(i64::MAX)),
            );
            loop {
                match store.prune_changes(before, BATCH).await {
                    Ok(n) if n as u32 >= BATCH => tokio::task::yield_now().await,
                    Ok(_) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "pruning the change log failed; retrying later");
                        break;
                    }
                }
            }
            tokio::time::sleep(every).await;
        }
    })
}
