//! One dispatcher per replica, two tasks:
//!
//! - **derive**: after every watermark move (a commit here, or the poll for other replicas'),
//!   reads the change log past the cursor and enqueues what the active subscriptions hear, moving
//!   the cursor in the same transaction; every few seconds it also removes expired subscriptions.
//! - **deliver**: leases due outbox rows, POSTs each to its receiver and settles it (delivered,
//!   retry later, or given up with a `missed` lifecycle event). One task per subscription at a
//!   time, so a slow receiver holds up only its own notifications.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use runhub_model::{Timestamp, Uuid};
use runhub_store::{ChangeRange, Delivery, FanoutCursor, Settle, Store, StoreResult};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};
use tokio::sync::{Notify, Semaphore};

use super::{Webhooks, batches, body, missed, next_attempt};
use crate::feed::Feed;
use crate::metrics::WEBHOOK_DELIVERIES;

/// Log rows read per derivation step.
const LOG_PAGE: u32 = 1000;
/// Outbox rows leased per claim (a task delivers a subscription's rows one after another, each
/// within the delivery timeout, well inside the lease).
const CLAIM: u32 = 8;
const LEASE: Duration = Duration::from_secs(60);
const SWEEP_EVERY: Duration = Duration::from_secs(5);
/// How often the cursor is moved over a stretch of the log that held nothing. Not at every
/// watermark move: on PostgreSQL the move is itself a transaction, which moves the watermark.
const IDLE_MOVE_EVERY: Duration = Duration::from_secs(10);
/// After a derivation that found changes, the next waits this long: under a stream of writes the
/// changes of this window go out together, in POSTs of up to 100, instead of one small POST per
/// subscription per commit (the receivers' work and the outbox writes both shrink with it).
const COALESCE: Duration = Duration::from_millis(100);

/// The dispatcher's tasks; they stop when dropped or on [`Dispatcher::stop`].
pub struct Dispatcher(Vec<tokio::task::JoinHandle<()>>);

impl Dispatcher {
    pub fn stop(self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

impl Drop for Dispatcher {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}

/// Starts this replica's dispatcher.
pub fn spawn(store: Arc<dyn Store>, webhooks: Webhooks, feed: Feed) -> Dispatcher {
    let wake = Arc::new(Notify::new());
    let (settled, outcomes) = tokio::sync::mpsc::unbounded_channel();
    let derive = tokio::spawn(derive_loop(store.clone(), feed.clone(), webhooks.settings().poll, wake.clone()));
    let settle = tokio::spawn(settle_loop(store.clone(), outcomes));
    let deliver = tokio::spawn(deliver_loop(store, webhooks, feed, wake, settled));
    Dispatcher(vec![derive, deliver, settle])
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

async fn derive_loop(store: Arc<dyn Store>, feed: Feed, poll: Duration, wake: Arc<Notify>) {
    let mut watermarks = feed.watermarks(&store);
    let mut closing = feed.closing();
    let mut last_sweep: Option<Instant> = None;
    let mut last_idle_move = Instant::now();
    loop {
        if last_sweep.is_none_or(|t| t.elapsed() >= SWEEP_EVERY) {
            last_sweep = Some(Instant::now());
            match store.remove_expired_subscriptions(Timestamp::now()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(subscriptions = n, "expired subscriptions removed"),
                Err(e) => tracing::warn!(error = %e, "cannot remove expired subscriptions; retrying"),
            }
        }
        let idle_move = last_idle_move.elapsed() >= IDLE_MOVE_EVERY;
        if idle_move {
            last_idle_move = Instant::now();
        }
        let started = Instant::now();
        match derive(&*store, idle_move).await {
            Ok(true) => {
                wake.notify_one();
                tokio::select! {
                    () = tokio::time::sleep(COALESCE.saturating_sub(started.elapsed())) => {}
                    _ = closing.wait_for(|c| *c) => return,
                }
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(error = %e, "cannot derive webhook notifications from the change log; retrying"),
        }
        tokio::select! {
            changed = watermarks.changed() => if changed.is_err() { return },
            () = tokio::time::sleep(poll) => {}
            _ = closing.wait_for(|c| *c) => return,
        }
    }
}

/// Derives notifications up to the watermark; whether any were enqueued. A stretch of the log with
/// no changes at all moves the cursor only when `idle_move` (so that retention never overtakes it).
async fn derive(store: &dyn Store, idle_move: bool) -> StoreResult<bool> {
    let mut enqueued = false;
    loop {
        let now = Timestamp::now();
        let subs = store.active_subscriptions(now).await?;
        // Nothing is owed to nobody: no work and, above all, no writes.
        let Some(first_start) = subs.iter().map(|s| s.start_position).min() else { return Ok(enqueued) };
        let cursor = store.webhook_cursor(first_start).await?;
        let watermark = store.change_watermark().await?;
        let mut from = cursor;
        if cursor.to.is_none() {
            // Positions before every subscription began (or pruned) are owed to no one / cannot be read.
            let horizon = store.change_horizon().await?;
            if cursor.from < horizon {
                tracing::warn!(
                    from = cursor.from,
                    horizon,
                    "webhook derivation fell behind change-log retention; subscribers get 'missed'"
                );
                let lost: Vec<_> = subs.iter().filter_map(missed).collect();
                let skip = FanoutCursor { from: horizon, to: None, after_seq: None };
                store.enqueue_notifications(cursor, skip, lost, now).await?;
                continue;
            }
            from.from = Ord::max(cursor.from, Ord::min(first_start, watermark));
        }
        let end = cursor.to.unwrap_or(watermark);
        if end <= from.from {
            return Ok(enqueued);
        }
        let range = ChangeRange { from: from.from, to: end, after_seq: cursor.after_seq, limit: LOG_PAGE };
        let records = store.change_log(range).await?;
        if records.is_empty() && cursor.to.is_none() && !idle_move {
            return Ok(enqueued);
        }
        let more = records.len() == LOG_PAGE as usize;
        let next = match records.last() {
            Some(last) if more => FanoutCursor { from: from.from, to: Some(end), after_seq: Some(last.seq) },
            _ => FanoutCursor { from: end, to: None, after_seq: None },
        };
        let owed = batches(&subs, &records);
        let any = !owed.is_empty();
        // Another replica moved the cursor first: it enqueued these; start again from where it is.
        if store.enqueue_notifications(cursor, next, owed, now).await? {
            enqueued |= any;
            if !more {
                return Ok(enqueued);
            }
        }
    }
}

/// What delivery attempts came to, written in batches: one write for all that ended meanwhile.
async fn settle_loop(store: Arc<dyn Store>, mut outcomes: UnboundedReceiver<(i64, Settle)>) {
    let mut batch = Vec::new();
    while outcomes.recv_many(&mut batch, 512).await > 0 {
        if let Err(e) = store.settle_deliveries(std::mem::take(&mut batch), Timestamp::now()).await {
            // The leases run out and the rows are tried again: at least once, never lost.
            tracing::warn!(error = %e, "cannot record webhook delivery outcomes; they will be tried again");
        }
    }
}

async fn deliver_loop(store: Arc<dyn Store>, webhooks: Webhooks, feed: Feed, wake: Arc<Notify>, settled: UnboundedSender<(i64, Settle)>) {
    let settings = webhooks.settings().clone();
    let permits = Arc::new(Semaphore::new(settings.concurrency));
    let busy: Arc<Mutex<HashSet<Uuid>>> = Arc::default();
    let mut closing = feed.closing();
    loop {
        loop {
            let free = permits.available_permits().min(CLAIM as usize) as u32;
            if free == 0 {
                break;
            }
            let skip: Vec<Uuid> = busy.lock().map(|b| b.iter().copied().collect()).unwrap_or_default();
            let now = Timestamp::now();
            let claimed =
                match store.claim_deliveries(now, Timestamp::from_micros(now.micros().saturating_add(micros(LEASE))), free, &skip).await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot lease webhook deliveries; retrying");
                        break;
                    }
                };
            if claimed.is_empty() {
                break;
            }
            let mut by_subscription: HashMap<Uuid, Vec<Delivery>> = HashMap::new();
            for d in claimed {
                by_subscription.entry(d.subscription.id).or_default().push(d);
            }
            for (id, rows) in by_subscription {
                let Ok(permit) = permits.clone().acquire_owned().await else { return };
                if let Ok(mut b) = busy.lock() {
                    b.insert(id);
                }
                let (webhooks, busy, wake, settled) = (webhooks.clone(), busy.clone(), wake.clone(), settled.clone());
                tokio::spawn(async move {
                    for row in rows {
                        let _ = settled.send(deliver(&webhooks, row).await);
                    }
                    if let Ok(mut b) = busy.lock() {
                        b.remove(&id);
                    }
                    drop(permit);
                    // More of this subscription may be due.
                    wake.notify_one();
                });
            }
        }
        tokio::select! {
            () = wake.notified() => {}
            () = tokio::time::sleep(settings.poll) => {}
            _ = closing.wait_for(|c| *c) => return,
        }
    }
}

/// One delivery attempt of one outbox row; how it is to be settled.
async fn deliver(webhooks: &Webhooks, row: Delivery) -> (i64, Settle) {
    let settings = webhooks.settings();
    let sub = &row.subscription;
    let url = if row.lifecycle { sub.spec.lifecycle_url.as_ref() } else { Some(&sub.spec.notification_url) };
    let outcome = match url {
        None => Err("the subscription has no lifecycle URL any more".to_owned()),
        Some(url) => match (webhooks.outbound().check(url), body(sub, &row.items, row.lifecycle)) {
            (Err(refused), _) => Err(refused.to_string()),
            (_, Err(e)) => Err(format!("stored notifications are unreadable: {e}")),
            (Ok(()), Ok(json)) => match webhooks.outbound().post(url.as_str(), "application/json", json, settings.delivery_timeout).await {
                Ok(reply) if reply.status.is_success() => Ok(()),
                Ok(reply) => Err(format!("the receiver answered {}", reply.status)),
                Err(e) => Err(e.to_string()),
            },
        },
    };
    let now = Timestamp::now();
    let settle = match outcome {
        Ok(()) => {
            metrics::counter!(WEBHOOK_DELIVERIES, "outcome" => "delivered").increment(1);
            Settle::Delivered
        }
        Err(why) => {
            metrics::counter!(WEBHOOK_DELIVERIES, "outcome" => "failed").increment(1);
            match next_attempt(settings, row.attempts, row.created_at, now) {
                Some(next_at) => {
                    tracing::debug!(subscription = %sub.id, attempt = row.attempts, %why, "webhook delivery failed; will retry");
                    Settle::Retry { next_at }
                }
                None => {
                    tracing::warn!(subscription = %sub.id, notifications = row.count, %why, "webhook notifications dropped after the retry period");
                    metrics::counter!(WEBHOOK_DELIVERIES, "outcome" => "dropped").increment(u64::from(row.count));
                    Settle::GiveUp { missed: if row.lifecycle { None } else { missed(sub) } }
                }
            }
        }
    };
    (row.seq, settle)
}
