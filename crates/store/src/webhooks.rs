//! Change-notification subscriptions and the webhook outbox (docs/webhooks.md), for both stores.
//!
//! What is owed to receivers is never only in memory: a dispatcher derives notifications from the
//! change log and writes them to `webhook_outbox` in the same transaction that moves
//! `webhook_cursor` past the changes they came from (a compare-and-set on the cursor, so two
//! replicas deriving at once cannot both enqueue the same changes). A replica *leases* an outbox
//! row while it delivers it (`FOR UPDATE SKIP LOCKED` on PostgreSQL); a row is deleted once
//! delivered, re-leased after a crash once its lease runs out, and given up after the retry window.
//! The notifications' JSON is the server's business: the outbox holds it as opaque text.

use runhub_model::{
    ChangeTypes, NewSubscription, NotificationUrl, SubscribedResource, Subscription, SubscriptionPatch, TenantId, Timestamp, Uuid,
};

use crate::query::webhooks as statements;
use crate::records::internal;
use crate::tx::{FromRow, Row, Tx};
use crate::{StoreError, StoreResult, changes};

/// Where deriving notifications from the change log has got to: positions below `from` are done;
/// inside a range (`to` set) the changes up to `after_seq` are done too (the same paging as a
/// delta round).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FanoutCursor {
    pub from: u64,
    pub to: Option<u64>,
    pub after_seq: Option<i64>,
}

/// One POST owed to a receiver, as the dispatcher enqueues it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxBatch {
    pub subscription_id: Uuid,
    /// A `missed` lifecycle event for the lifecycle URL (else notifications for the notification URL).
    pub lifecycle: bool,
    /// A JSON array: the notifications' own members (the server adds the subscription's).
    pub items: String,
    pub count: u32,
}

/// An outbox row leased for delivery, with its subscription as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub seq: i64,
    pub subscription: Subscription,
    pub lifecycle: bool,
    pub items: String,
    pub count: u32,
    pub created_at: Timestamp,
    /// Attempts so far, this one included.
    pub attempts: u32,
}

/// How a delivery attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Settle {
    /// The receiver took it: the row goes.
    Delivered,
    /// Try again at `next_at`.
    Retry { next_at: Timestamp },
    /// The retry window is over: the row goes; `missed`, when given, is enqueued in its place.
    GiveUp { missed: Option<OutboxBatch> },
}

impl FromRow for Subscription {
    /// A row of the subscriptions table, its columns in this order.
    fn from_row(mut row: Row) -> StoreResult<Self> {
        let id = row.take()?;
        let tenant = TenantId::from_stored(row.take::<String>()?);
        let resource: String = row.take()?;
        let change_types = ChangeTypes::from_bits(row.take()?);
        let notification_url = NotificationUrl::from_stored(row.take::<String>()?);
        let lifecycle_url = row.take::<Option<String>>()?.map(NotificationUrl::from_stored);
        let client_state = row.take()?;
        let expiration = Timestamp::from_micros(row.take()?);
        let (application_id, creator_id) = (row.take()?, row.take()?);
        let start_position: i64 = row.take()?;
        Ok(Subscription {
            id,
            tenant,
            spec: NewSubscription {
                change_types,
                notification_url,
                lifecycle_url,
                resource: SubscribedResource::parse(&resource).map_err(|e| internal(format!("stored resource '{resource}': {e}")))?,
                expiration,
                client_state,
            },
            application_id,
            creator_id,
            start_position: u64::try_from(start_position).map_err(internal)?,
        })
    }
}

fn not_found(id: Uuid) -> StoreError {
    StoreError::NotFound(format!("no subscription with id '{id}'"))
}

/// Stores a new subscription (its `start_position` is set here: the change log's watermark), unless
/// its tenant already holds `limit`.
pub(crate) async fn create<T: Tx>(tx: &mut T, mut sub: Subscription, limit: u64) -> StoreResult<Subscription> {
    // Serializes creates of one tenant, so two at once cannot both pass the limit.
    tx.lock_name(&format!("subscriptions:{}", sub.tenant.as_str())).await?;
    let held = tx.fetch_first::<Option<i64>>(statements::count_subscriptions(&sub.tenant)).await?.flatten().unwrap_or(0);
    if u64::try_from(held).unwrap_or(0) >= limit {
        return Err(StoreError::LimitReached(format!(
            "this tenant already holds {held} subscriptions, the most allowed ({limit}); delete one first"
        )));
    }
    sub.start_position = changes::watermark(tx).await?;
    tx.execute(statements::insert_subscription(&sub)?).await?;
    Ok(sub)
}

pub(crate) async fn get<T: Tx>(tx: &mut T, tenant: &TenantId, id: Uuid) -> StoreResult<Subscription> {
    tx.fetch(statements::subscription(tenant, id)).await?.pop().ok_or_else(|| not_found(id))
}

/// A tenant's subscriptions, oldest first.
pub(crate) async fn list<T: Tx>(tx: &mut T, tenant: &TenantId) -> StoreResult<Vec<Subscription>> {
    tx.fetch(statements::subscriptions_of(tenant)).await
}

/// Every tenant's subscriptions that have not expired at `now`.
pub(crate) async fn active<T: Tx>(tx: &mut T, now: Timestamp) -> StoreResult<Vec<Subscription>> {
    tx.fetch(statements::active_subscriptions(now)).await
}

pub(crate) async fn update<T: Tx>(tx: &mut T, tenant: &TenantId, id: Uuid, patch: SubscriptionPatch) -> StoreResult<Subscription> {
    if let Some(q) = statements::update_subscription(tenant, id, &patch) {
        tx.execute(q).await?;
    }
    get(tx, tenant, id).await
}

/// Runs the two deletes of outbox rows: their payloads, then the rows.
async fn delete_outbox<T: Tx>(tx: &mut T, [payloads, rows]: [sea_query::DeleteStatement; 2]) -> StoreResult<()> {
    tx.execute(payloads).await?;
    tx.execute(rows).await
}

/// Deletes a subscription and everything still owed for it.
pub(crate) async fn delete<T: Tx>(tx: &mut T, tenant: &TenantId, id: Uuid) -> StoreResult<()> {
    get(tx, tenant, id).await?;
    delete_outbox(tx, statements::delete_outbox_of(id)).await?;
    tx.execute(statements::delete_subscription(tenant, id)).await
}

/// Removes the subscriptions expired at `now` and what was still owed for them; how many went.
pub(crate) async fn remove_expired<T: Tx>(tx: &mut T, now: Timestamp) -> StoreResult<usize> {
    let gone = tx.fetch::<String>(statements::expired_subscriptions(now)).await?.len();
    if gone > 0 {
        delete_outbox(tx, statements::delete_outbox_of_expired(now)).await?;
        tx.execute(statements::delete_expired_subscriptions(now)).await?;
    }
    Ok(gone)
}

/// How many notifications are still owed for a subscription (queued or being retried).
pub(crate) async fn pending<T: Tx>(tx: &mut T, id: Uuid) -> StoreResult<u64> {
    let n = tx.fetch_first::<Option<i64>>(statements::pending(id)).await?.flatten().unwrap_or(0);
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The derivation cursor, once it exists.
pub(crate) async fn cursor<T: Tx>(tx: &mut T) -> StoreResult<Option<FanoutCursor>> {
    let Some((from, to, after_seq)) = tx.fetch_first::<(i64, Option<i64>, Option<i64>)>(statements::cursor()).await? else {
        return Ok(None);
    };
    Ok(Some(FanoutCursor { from: u64::try_from(from).map_err(internal)?, to: to.and_then(|t| u64::try_from(t).ok()), after_seq }))
}

/// The derivation cursor, created at `start` on first use (the first subscription's start:
/// nothing before it can be owed to anyone).
pub(crate) async fn cursor_or_start<T: Tx>(tx: &mut T, start: u64) -> StoreResult<FanoutCursor> {
    if let Some(c) = cursor(tx).await? {
        return Ok(c);
    }
    tx.execute(statements::add_cursor(start)?).await?;
    cursor(tx).await?.ok_or_else(|| internal("the webhook cursor was not created"))
}

async fn insert_batches<T: Tx>(tx: &mut T, batches: &[OutboxBatch], now: Timestamp) -> StoreResult<()> {
    // The payload lives apart from the row's delivery state: leasing and rescheduling rewrite the
    // small row only (SQLite rewrites a whole row on UPDATE, overflow pages included).
    for b in batches {
        let seq: i64 =
            tx.fetch_first(statements::insert_outbox_row(b, now)?).await?.ok_or_else(|| internal("an outbox insert returned no seq"))?;
        tx.execute(statements::insert_payload(seq, &b.items)?).await?;
    }
    Ok(())
}

/// Enqueues `batches` and moves the cursor from `expected` to `next` — unless the cursor is no
/// longer at `expected` (another replica got there first): then nothing is written (`false`).
pub(crate) async fn enqueue<T: Tx>(
    tx: &mut T,
    expected: FanoutCursor,
    next: FanoutCursor,
    batches: &[OutboxBatch],
    now: Timestamp,
) -> StoreResult<bool> {
    if tx.fetch::<i64>(statements::move_cursor(expected, next)?).await?.len() != 1 {
        return Ok(false);
    }
    insert_batches(tx, batches, now).await?;
    Ok(true)
}

/// Leases up to `limit` rows due at `now` until `lease_until`, counting the attempt; rows leased by
/// another replica are skipped, not waited for, and so are the subscriptions in `skip` (this
/// replica is delivering to them already).
pub(crate) async fn claim<T: Tx>(
    tx: &mut T,
    now: Timestamp,
    lease_until: Timestamp,
    limit: u32,
    skip: &[Uuid],
) -> StoreResult<Vec<Delivery>> {
    let rows: Vec<(i64, String, i64, i64, i64, i64)> = tx.fetch(statements::lease_due(now, lease_until, limit, skip, T::DIALECT)).await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = rows.iter().map(|r| r.1.clone()).collect();
    let subs = tx.fetch::<Subscription>(statements::subscriptions_by_ids(ids)).await?;
    let payloads: std::collections::HashMap<i64, String> = tx
        .fetch::<(i64, Option<String>)>(statements::payloads(rows.iter().map(|r| r.0)))
        .await?
        .into_iter()
        .map(|(seq, items)| (seq, items.unwrap_or_default()))
        .collect();
    let mut out = Vec::with_capacity(rows.len());
    for (seq, sub_id, lifecycle, count, created_at, attempts) in rows {
        // Its subscription went meanwhile (deleted or expired): nothing is owed any more.
        let Some(subscription) = subs.iter().find(|s| s.id.to_string() == sub_id).cloned() else { continue };
        out.push(Delivery {
            seq,
            subscription,
            lifecycle: lifecycle != 0,
            items: payloads.get(&seq).cloned().ok_or_else(|| internal("an outbox row lacks its payload"))?,
            count: u32::try_from(count).map_err(internal)?,
            created_at: Timestamp::from_micros(created_at),
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
        });
    }
    Ok(out)
}

/// Records how delivery attempts ended, `(row seq, outcome)` each.
pub(crate) async fn settle<T: Tx>(tx: &mut T, outcomes: Vec<(i64, Settle)>, now: Timestamp) -> StoreResult<()> {
    let mut done = Vec::new();
    for (seq, outcome) in outcomes {
        match outcome {
            Settle::Retry { next_at } => tx.execute(statements::reschedule(seq, next_at)).await?,
            Settle::Delivered => done.push(seq),
            Settle::GiveUp { missed } => {
                let deleted = !tx.fetch::<i64>(statements::take_outbox_row(seq)).await?.is_empty();
                done.push(seq);
                // Only the replica that removed the row enqueues its `missed` (a second one, whose
                // lease had run out, finds it gone).
                if let (true, Some(missed)) = (deleted, missed) {
                    insert_batches(tx, std::slice::from_ref(&missed), now).await?;
                }
            }
        }
    }
    if !done.is_empty() {
        delete_outbox(tx, statements::delete_outbox_rows(done)).await?;
    }
    Ok(())
}
