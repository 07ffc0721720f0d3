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
use sea_query::{Alias, Expr, ExprTrait, Func, LockBehavior, LockType, OnConflict, Order, Query};

use crate::dialect::Dialect;
use crate::query::tenant_is;
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

const SUBSCRIPTION_COLUMNS: [&str; 11] = [
    "id",
    "tenant",
    "resource",
    "change_types",
    "notification_url",
    "lifecycle_url",
    "client_state",
    "expiration",
    "application_id",
    "creator_id",
    "start_position",
];

fn col(name: &str) -> Expr {
    Expr::col(Alias::new(name))
}

impl FromRow for Subscription {
    /// A row of [`SUBSCRIPTION_COLUMNS`].
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

fn select_subscriptions() -> sea_query::SelectStatement {
    let mut q = Query::select();
    q.columns(SUBSCRIPTION_COLUMNS.map(Alias::new)).from(Alias::new("subscriptions"));
    q
}

fn not_found(id: Uuid) -> StoreError {
    StoreError::NotFound(format!("no subscription with id '{id}'"))
}

async fn count_where<T: Tx>(tx: &mut T, table: &str, expr: Expr, what: Expr) -> StoreResult<i64> {
    let mut q = Query::select();
    q.expr(what).from(Alias::new(table)).and_where(expr);
    Ok(tx.fetch_first::<Option<i64>>(q).await?.flatten().unwrap_or(0))
}

/// Stores a new subscription (its `start_position` is set here: the change log's watermark), unless
/// its tenant already holds `limit`.
pub(crate) async fn create<T: Tx>(tx: &mut T, mut sub: Subscription, limit: u64) -> StoreResult<Subscription> {
    // Serializes creates of one tenant, so two at once cannot both pass the limit.
    tx.lock_name(&format!("subscriptions:{}", sub.tenant.as_str())).await?;
    let held = count_where(tx, "subscriptions", tenant_is(&sub.tenant), Expr::col(Alias::new("id")).count()).await?;
    if u64::try_from(held).unwrap_or(0) >= limit {
        return Err(StoreError::LimitReached(format!(
            "this tenant already holds {held} subscriptions, the most allowed ({limit}); delete one first"
        )));
    }
    sub.start_position = changes::watermark(tx).await?;
    let mut q = Query::insert();
    q.into_table(Alias::new("subscriptions"))
        .columns(SUBSCRIPTION_COLUMNS.map(Alias::new))
        .values([
            sub.id.to_string().into(),
            sub.tenant.as_str().into(),
            sub.spec.resource.path().into(),
            sub.spec.change_types.bits().into(),
            sub.spec.notification_url.as_str().into(),
            sub.spec.lifecycle_url.as_ref().map(|u| u.as_str().to_owned()).into(),
            sub.spec.client_state.clone().into(),
            sub.spec.expiration.micros().into(),
            sub.application_id.clone().into(),
            sub.creator_id.clone().into(),
            i64::try_from(sub.start_position).map_err(internal)?.into(),
        ])
        .map_err(internal)?;
    tx.execute(q).await?;
    Ok(sub)
}

pub(crate) async fn get<T: Tx>(tx: &mut T, tenant: &TenantId, id: Uuid) -> StoreResult<Subscription> {
    let mut q = select_subscriptions();
    q.and_where(tenant_is(tenant)).and_where(col("id").eq(id.to_string()));
    tx.fetch(q).await?.pop().ok_or_else(|| not_found(id))
}

/// A tenant's subscriptions, oldest first.
pub(crate) async fn list<T: Tx>(tx: &mut T, tenant: &TenantId) -> StoreResult<Vec<Subscription>> {
    let mut q = select_subscriptions();
    q.and_where(tenant_is(tenant)).order_by(Alias::new("id"), Order::Asc);
    tx.fetch(q).await
}

/// Every tenant's subscriptions that have not expired at `now`.
pub(crate) async fn active<T: Tx>(tx: &mut T, now: Timestamp) -> StoreResult<Vec<Subscription>> {
    let mut q = select_subscriptions();
    q.and_where(col("expiration").gt(now.micros()));
    tx.fetch(q).await
}

pub(crate) async fn update<T: Tx>(tx: &mut T, tenant: &TenantId, id: Uuid, patch: SubscriptionPatch) -> StoreResult<Subscription> {
    let mut q = Query::update();
    q.table(Alias::new("subscriptions")).and_where(tenant_is(tenant)).and_where(col("id").eq(id.to_string()));
    if let Some(at) = patch.expiration {
        q.value(Alias::new("expiration"), at.micros());
    }
    if let Some(url) = &patch.notification_url {
        q.value(Alias::new("notification_url"), url.as_str());
    }
    if patch.expiration.is_some() || patch.notification_url.is_some() {
        tx.execute(q).await?;
    }
    get(tx, tenant, id).await
}

/// Deletes the outbox rows `which` selects, and their payloads.
async fn delete_outbox_of<T: Tx>(tx: &mut T, which: Expr) -> StoreResult<()> {
    let mut rows = Query::select();
    rows.column(Alias::new("seq")).from(Alias::new("webhook_outbox")).and_where(which.clone());
    let mut payloads = Query::delete();
    payloads.from_table(Alias::new("webhook_payloads")).and_where(col("seq").in_subquery(rows));
    tx.execute(payloads).await?;
    let mut q = Query::delete();
    q.from_table(Alias::new("webhook_outbox")).and_where(which);
    tx.execute(q).await
}

/// Deletes a subscription and everything still owed for it.
pub(crate) async fn delete<T: Tx>(tx: &mut T, tenant: &TenantId, id: Uuid) -> StoreResult<()> {
    get(tx, tenant, id).await?;
    delete_outbox_of(tx, col("subscription_id").eq(id.to_string())).await?;
    let mut q = Query::delete();
    q.from_table(Alias::new("subscriptions")).and_where(tenant_is(tenant)).and_where(col("id").eq(id.to_string()));
    tx.execute(q).await
}

/// Removes the subscriptions expired at `now` and what was still owed for them; how many went.
pub(crate) async fn remove_expired<T: Tx>(tx: &mut T, now: Timestamp) -> StoreResult<usize> {
    let mut expired = Query::select();
    expired.column(Alias::new("id")).from(Alias::new("subscriptions")).and_where(col("expiration").lte(now.micros()));
    let gone = tx.fetch::<String>(expired.clone()).await?.len();
    if gone > 0 {
        delete_outbox_of(tx, col("subscription_id").in_subquery(expired)).await?;
        let mut q = Query::delete();
        q.from_table(Alias::new("subscriptions")).and_where(col("expiration").lte(now.micros()));
        tx.execute(q).await?;
    }
    Ok(gone)
}

/// How many notifications are still owed for a subscription (queued or being retried).
pub(crate) async fn pending<T: Tx>(tx: &mut T, id: Uuid) -> StoreResult<u64> {
    let n = count_where(
        tx,
        "webhook_outbox",
        col("subscription_id").eq(id.to_string()).and(col("lifecycle").eq(0)),
        // PostgreSQL's SUM of BIGINTs is NUMERIC.
        Func::cast_as(Func::coalesce([Expr::from(Func::sum(col("count"))), Expr::val(0)]), Alias::new("BIGINT")).into(),
    )
    .await?;
    Ok(u64::try_from(n).unwrap_or(0))
}

fn cursor_value(p: u64) -> StoreResult<i64> {
    i64::try_from(p).map_err(internal)
}

/// The derivation cursor, once it exists.
pub(crate) async fn cursor<T: Tx>(tx: &mut T) -> StoreResult<Option<FanoutCursor>> {
    let mut q = Query::select();
    q.columns(["from_pos", "to_pos", "after_seq"].map(Alias::new)).from(Alias::new("webhook_cursor")).and_where(col("one").eq(1));
    let Some((from, to, after_seq)) = tx.fetch_first::<(i64, Option<i64>, Option<i64>)>(q).await? else { return Ok(None) };
    Ok(Some(FanoutCursor { from: u64::try_from(from).map_err(internal)?, to: to.and_then(|t| u64::try_from(t).ok()), after_seq }))
}

/// The derivation cursor, created at `start` on first use (the first subscription's start:
/// nothing before it can be owed to anyone).
pub(crate) async fn cursor_or_start<T: Tx>(tx: &mut T, start: u64) -> StoreResult<FanoutCursor> {
    if let Some(c) = cursor(tx).await? {
        return Ok(c);
    }
    let from = start;
    let mut insert = Query::insert();
    insert
        .into_table(Alias::new("webhook_cursor"))
        .columns(["one", "from_pos"].map(Alias::new))
        .values([1.into(), cursor_value(from)?.into()])
        .map_err(internal)?
        .on_conflict(OnConflict::column(Alias::new("one")).do_nothing().to_owned());
    tx.execute(insert).await?;
    cursor(tx).await?.ok_or_else(|| internal("the webhook cursor was not created"))
}

async fn insert_batches<T: Tx>(tx: &mut T, batches: &[OutboxBatch], now: Timestamp) -> StoreResult<()> {
    if batches.is_empty() {
        return Ok(());
    }
    // The payload lives apart from the row's delivery state: leasing and rescheduling rewrite the
    // small row only (SQLite rewrites a whole row on UPDATE, overflow pages included).
    for b in batches {
        let mut q = Query::insert();
        q.into_table(Alias::new("webhook_outbox"))
            .columns(["subscription_id", "lifecycle", "count", "created_at", "next_at"].map(Alias::new))
            .values([
                b.subscription_id.to_string().into(),
                i64::from(b.lifecycle).into(),
                i64::from(b.count).into(),
                now.micros().into(),
                now.micros().into(),
            ])
            .map_err(internal)?
            .returning_col(Alias::new("seq"));
        let seq: i64 = tx.fetch_first(q).await?.ok_or_else(|| internal("an outbox insert returned no seq"))?;
        let mut payload = Query::insert();
        payload
            .into_table(Alias::new("webhook_payloads"))
            .columns(["seq", "items"].map(Alias::new))
            .values([seq.into(), b.items.clone().into()])
            .map_err(internal)?;
        tx.execute(payload).await?;
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
    let mut q = Query::update();
    q.table(Alias::new("webhook_cursor"))
        .value(Alias::new("from_pos"), cursor_value(next.from)?)
        .value(Alias::new("to_pos"), next.to.map(cursor_value).transpose()?)
        .value(Alias::new("after_seq"), next.after_seq)
        .and_where(col("one").eq(1))
        .and_where(col("from_pos").eq(cursor_value(expected.from)?))
        .returning_col(Alias::new("one"));
    match expected.to {
        Some(to) => q.and_where(col("to_pos").eq(cursor_value(to)?)),
        None => q.and_where(col("to_pos").is_null()),
    };
    match expected.after_seq {
        Some(a) => q.and_where(col("after_seq").eq(a)),
        None => q.and_where(col("after_seq").is_null()),
    };
    if tx.fetch::<i64>(q).await?.len() != 1 {
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
    let mut due = Query::select();
    due.column(Alias::new("seq"))
        .from(Alias::new("webhook_outbox"))
        .and_where(col("next_at").lte(now.micros()))
        .and_where(col("lease_until").lte(now.micros()));
    if !skip.is_empty() {
        due.and_where(col("subscription_id").is_not_in(skip.iter().map(ToString::to_string)));
    }
    due.order_by(Alias::new("next_at"), Order::Asc).limit(u64::from(limit));
    if T::DIALECT == Dialect::Postgres {
        due.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let mut q = Query::update();
    q.table(Alias::new("webhook_outbox"))
        .value(Alias::new("lease_until"), lease_until.micros())
        .value(Alias::new("attempts"), col("attempts").add(1))
        .and_where(col("seq").in_subquery(due))
        .returning(Query::returning().columns(["seq", "subscription_id", "lifecycle", "count", "created_at", "attempts"].map(Alias::new)));
    let rows: Vec<(i64, String, i64, i64, i64, i64)> = tx.fetch(q).await?;
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = rows.iter().map(|r| r.1.clone()).collect();
    let mut subs = select_subscriptions();
    subs.and_where(col("id").is_in(ids));
    let subs = tx.fetch::<Subscription>(subs).await?;
    let mut payload_query = Query::select();
    payload_query
        .columns(["seq", "items"].map(Alias::new))
        .from(Alias::new("webhook_payloads"))
        .and_where(col("seq").is_in(rows.iter().map(|r| r.0)));
    let payloads: std::collections::HashMap<i64, String> =
        tx.fetch::<(i64, Option<String>)>(payload_query).await?.into_iter().map(|(seq, items)| (seq, items.unwrap_or_default())).collect();
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
            Settle::Retry { next_at } => {
                let mut q = Query::update();
                q.table(Alias::new("webhook_outbox"))
                    .value(Alias::new("next_at"), next_at.micros())
                    .value(Alias::new("lease_until"), 0)
                    .and_where(col("seq").eq(seq));
                tx.execute(q).await?;
            }
            Settle::Delivered => done.push(seq),
            Settle::GiveUp { missed } => {
                let mut q = Query::delete();
                q.from_table(Alias::new("webhook_outbox")).and_where(col("seq").eq(seq)).returning_col(Alias::new("seq"));
                let deleted = !tx.fetch::<i64>(q).await?.is_empty();
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
        delete_outbox_of(tx, col("seq").is_in(done)).await?;
    }
    Ok(())
}
