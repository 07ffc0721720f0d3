//! The background upkeep of `runhub serve` (docs/operations.md): the stale-run reaper
//! (`--run-timeout`), retention (`--retention`), and always the compaction of the stored counts and
//! the run-name index's catching up.
//! Each works in bounded batches through the store, which claims rows so that replicas never work
//! on the same ones; all stop, after the batch in hand, when the service shuts down.

use std::sync::Arc;
use std::time::{Duration, Instant};

use runhub_model::Timestamp;
use runhub_store::{Store, idle_words};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Runs the reaper finishes in one transaction.
pub const REAP_BATCH: u32 = 100;
/// Runs retention deletes in one transaction (each a delete through the normal path, with its
/// group's re-derivation): a few milliseconds on SQLite — docs/operations.md has the figure.
pub const RETENTION_BATCH: u32 = 20;
/// Keys of the stored counts compacted in one transaction.
pub const COMPACT_BATCH: u32 = 500;
/// How often the stored counts are compacted: writes add delta rows at most this long before
/// they are summed, which bounds what a count reads.
const COMPACT_EVERY: Duration = Duration::from_secs(5);
/// Runs the run-name index takes in one transaction (a few milliseconds of the writer's time).
pub const NAME_INDEX_BATCH: u32 = 1_000;
/// How often the run-name index catches up with writes. Runs written since are still found by a
/// substring filter (each is tested directly), so this bounds how many it tests that way.
const NAME_INDEX_EVERY: Duration = Duration::from_millis(250);
/// The pause between two full retention batches, so that other writes always get their turn.
const RETENTION_PAUSE: Duration = Duration::from_millis(10);

/// The running upkeep tasks.
pub struct Upkeep {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

/// How often a task with period `d` looks for work.
fn tick(d: Duration, most: Duration) -> Duration {
    (d / 4).clamp(Duration::from_millis(50), most)
}

/// Sleeps for `d`; false when the service is stopping.
async fn pause(stop: &mut watch::Receiver<bool>, d: Duration) -> bool {
    if *stop.borrow() {
        return false;
    }
    tokio::select! {
        _ = stop.changed() => false,
        () = tokio::time::sleep(d) => !*stop.borrow(),
    }
}

/// One pass of the reaper: batches until none is full. How many runs it finished.
pub async fn reap_once(store: &dyn Store, timeout: Duration) -> usize {
    let mut total = 0;
    loop {
        match store.reap_stale_runs(Timestamp::now(), micros(timeout), REAP_BATCH).await {
            Ok(reaped) => {
                for r in &reaped {
                    tracing::info!(tenant = r.tenant.as_str(), run = %r.id, idle = %idle_words(r.idle_micros), "stale run finished as failed (runTimedOut)");
                }
                total += reaped.len();
                if reaped.len() < REAP_BATCH as usize {
                    return total;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "the stale-run reaper failed; retrying at its next tick");
                return total;
            }
        }
    }
}

/// One pass of retention: batches until none is full. How many runs it deleted.
pub async fn expire_once(store: &dyn Store, retention: Duration, stop: Option<&mut watch::Receiver<bool>>) -> u64 {
    let mut total = 0;
    let mut stop = stop;
    loop {
        let started = Instant::now();
        match store.expire_runs(Timestamp::now(), micros(retention), RETENTION_BATCH).await {
            Ok(deleted) => {
                total += deleted;
                tracing::debug!(deleted, elapsed_ms = started.elapsed().as_secs_f64() * 1e3, "retention batch");
                if deleted < u64::from(RETENTION_BATCH) {
                    break;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "retention failed; retrying at its next tick");
                break;
            }
        }
        let go_on = match stop.as_deref_mut() {
            Some(stop) => pause(stop, RETENTION_PAUSE).await,
            None => {
                tokio::time::sleep(RETENTION_PAUSE).await;
                true
            }
        };
        if !go_on {
            break;
        }
    }
    if total > 0 {
        tracing::info!(deleted = total, "retention deleted finished runs");
    }
    total
}

/// One pass of compaction: batches until none is full. How many keys it compacted.
pub async fn compact_once(store: &dyn Store) -> usize {
    until_short("compacting the stored counts", COMPACT_BATCH, || store.compact_counts(COMPACT_BATCH)).await
}

/// One pass of the run-name index: batches until it has caught up. How many runs it indexed.
pub async fn index_names_once(store: &dyn Store) -> usize {
    until_short("indexing run names", NAME_INDEX_BATCH, || store.index_run_names(NAME_INDEX_BATCH)).await
}

/// Runs `batch` until one handles fewer than `limit` items; a failure is logged and the rest is
/// left to the task's next tick. How many items in all.
async fn until_short<F, Fut>(what: &str, limit: u32, mut batch: F) -> usize
where
    F: FnMut() -> Fut,
    Fut: Future<Output = runhub_store::StoreResult<usize>>,
{
    let mut total = 0;
    loop {
        match batch().await {
            Ok(n) => {
                total += n;
                if n < limit as usize {
                    return total;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "{what} failed; retrying at its next tick");
                return total;
            }
        }
    }
}

/// Starts compaction, and the tasks the flags ask for.
pub fn spawn(store: Arc<dyn Store>, run_timeout: Option<Duration>, retention: Option<Duration>) -> Upkeep {
    let (stop, _) = watch::channel(false);
    let mut tasks = Vec::new();
    {
        let (store, mut stop) = (store.clone(), stop.subscribe());
        tasks.push(tokio::spawn(async move {
            while pause(&mut stop, COMPACT_EVERY).await {
                compact_once(store.as_ref()).await;
            }
        }));
    }
    {
        let (store, mut stop) = (store.clone(), stop.subscribe());
        tasks.push(tokio::spawn(async move {
            while pause(&mut stop, NAME_INDEX_EVERY).await {
                index_names_once(store.as_ref()).await;
            }
        }));
    }
    if let Some(timeout) = run_timeout {
        let (store, mut stop) = (store.clone(), stop.subscribe());
        tasks.push(tokio::spawn(async move {
            while pause(&mut stop, tick(timeout, Duration::from_secs(30))).await {
                reap_once(store.as_ref(), timeout).await;
            }
        }));
    }
    if let Some(retention) = retention {
        let (store, mut stop) = (store.clone(), stop.subscribe());
        tasks.push(tokio::spawn(async move {
            while pause(&mut stop, tick(retention, Duration::from_secs(60))).await {
                expire_once(store.as_ref(), retention, Some(&mut stop)).await;
            }
        }));
    }
    Upkeep { stop, tasks }
}

impl Upkeep {
    /// Asks every task to stop and waits until each has finished the batch in hand.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks() {
        assert_eq!(tick(Duration::from_secs(1), Duration::from_secs(30)), Duration::from_millis(250));
        assert_eq!(tick(Duration::from_secs(7 * 86_400), Duration::from_secs(60)), Duration::from_secs(60));
    }
}
