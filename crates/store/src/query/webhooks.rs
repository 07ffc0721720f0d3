//! The statements of change-notification subscriptions and the webhook outbox
//! ([`crate::webhooks`]; docs/webhooks.md).

use runhub_model::{Subscription, SubscriptionPatch, TenantId, Timestamp, Uuid};
use sea_query::{
    Alias, DeleteStatement, Expr, ExprTrait, Func, InsertStatement, LockBehavior, LockType, OnConflict, Order, Query, SelectStatement,
    UpdateStatement,
};

use super::{col, tenant_is};
use crate::StoreResult;
use crate::dialect::Dialect;
use crate::records::internal;
use crate::webhooks::{FanoutCursor, OutboxBatch};

/// The columns a [`Subscription`] is stored in and read from, in its decoding order.
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

fn select_subscriptions() -> SelectStatement {
    let mut q = Query::select();
    q.columns(SUBSCRIPTION_COLUMNS.map(Alias::new)).from(Alias::new("subscriptions"));
    q
}

/// How many subscriptions a tenant holds.
pub(crate) fn count_subscriptions(tenant: &TenantId) -> SelectStatement {
    let mut q = Query::select();
    q.expr(col("id").count()).from(Alias::new("subscriptions")).and_where(tenant_is(tenant));
    q
}

pub(crate) fn insert_subscription(sub: &Subscription) -> StoreResult<InsertStatement> {
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
    Ok(q)
}

pub(crate) fn subscription(tenant: &TenantId, id: Uuid) -> SelectStatement {
    let mut q = select_subscriptions();
    q.and_where(tenant_is(tenant)).and_where(col("id").eq(id.to_string()));
    q
}

/// A tenant's subscriptions, oldest first.
pub(crate) fn subscriptions_of(tenant: &TenantId) -> SelectStatement {
    let mut q = select_subscriptions();
    q.and_where(tenant_is(tenant)).order_by(Alias::new("id"), Order::Asc);
    q
}

/// Every tenant's subscriptions that have not expired at `now`.
pub(crate) fn active_subscriptions(now: Timestamp) -> SelectStatement {
    let mut q = select_subscriptions();
    q.and_where(col("expiration").gt(now.micros()));
    q
}

/// The subscriptions with these ids (any tenant).
pub(crate) fn subscriptions_by_ids(ids: Vec<String>) -> SelectStatement {
    let mut q = select_subscriptions();
    q.and_where(col("id").is_in(ids));
    q
}

/// Sets what `patch` changes; `None` when it changes nothing.
pub(crate) fn update_subscription(tenant: &TenantId, id: Uuid, patch: &SubscriptionPatch) -> Option<UpdateStatement> {
    if patch.expiration.is_none() && patch.notification_url.is_none() {
        return None;
    }
    let mut q = Query::update();
    q.table(Alias::new("subscriptions")).and_where(tenant_is(tenant)).and_where(col("id").eq(id.to_string()));
    if let Some(at) = patch.expiration {
        q.value(Alias::new("expiration"), at.micros());
    }
    if let Some(url) = &patch.notification_url {
        q.value(Alias::new("notification_url"), url.as_str());
    }
    Some(q)
}

pub(crate) fn delete_subscription(tenant: &TenantId, id: Uuid) -> DeleteStatement {
    let mut q = Query::delete();
    q.from_table(Alias::new("subscriptions")).and_where(tenant_is(tenant)).and_where(col("id").eq(id.to_string()));
    q
}

fn expired(now: Timestamp) -> Expr {
    col("expiration").lte(now.micros())
}

/// The ids of the subscriptions expired at `now`.
pub(crate) fn expired_subscriptions(now: Timestamp) -> SelectStatement {
    let mut q = Query::select();
    q.column(Alias::new("id")).from(Alias::new("subscriptions")).and_where(expired(now));
    q
}

pub(crate) fn delete_expired_subscriptions(now: Timestamp) -> DeleteStatement {
    let mut q = Query::delete();
    q.from_table(Alias::new("subscriptions")).and_where(expired(now));
    q
}

/// Deletes the outbox rows `which` selects: their payloads first, then the rows.
fn delete_outbox_where(which: Expr) -> [DeleteStatement; 2] {
    let mut rows = Query::select();
    rows.column(Alias::new("seq")).from(Alias::new("webhook_outbox")).and_where(which.clone());
    let mut payloads = Query::delete();
    payloads.from_table(Alias::new("webhook_payloads")).and_where(col("seq").in_subquery(rows));
    let mut q = Query::delete();
    q.from_table(Alias::new("webhook_outbox")).and_where(which);
    [payloads, q]
}

/// Deletes what is still owed for a subscription.
pub(crate) fn delete_outbox_of(subscription: Uuid) -> [DeleteStatement; 2] {
    delete_outbox_where(col("subscription_id").eq(subscription.to_string()))
}

/// Deletes what is still owed for the subscriptions expired at `now`.
pub(crate) fn delete_outbox_of_expired(now: Timestamp) -> [DeleteStatement; 2] {
    delete_outbox_where(col("subscription_id").in_subquery(expired_subscriptions(now)))
}

/// Deletes these outbox rows.
pub(crate) fn delete_outbox_rows(seqs: Vec<i64>) -> [DeleteStatement; 2] {
    delete_outbox_where(col("seq").is_in(seqs))
}

/// How many notifications are still owed for a subscription (queued or being retried).
pub(crate) fn pending(subscription: Uuid) -> SelectStatement {
    let mut q = Query::select();
    // PostgreSQL's SUM of BIGINTs is NUMERIC.
    q.expr(Func::cast_as(Func::coalesce([Expr::from(Func::sum(col("count"))), Expr::val(0)]), Alias::new("BIGINT")))
        .from(Alias::new("webhook_outbox"))
        .and_where(col("subscription_id").eq(subscription.to_string()).and(col("lifecycle").eq(0)));
    q
}

fn position(p: u64) -> StoreResult<i64> {
    i64::try_from(p).map_err(internal)
}

/// The derivation cursor: `from_pos, to_pos, after_seq`.
pub(crate) fn cursor() -> SelectStatement {
    let mut q = Query::select();
    q.columns(["from_pos", "to_pos", "after_seq"].map(Alias::new)).from(Alias::new("webhook_cursor")).and_where(col("one").eq(1));
    q
}

/// Makes the cursor at `from` unless it exists.
pub(crate) fn add_cursor(from: u64) -> StoreResult<InsertStatement> {
    let mut q = Query::insert();
    q.into_table(Alias::new("webhook_cursor"))
        .columns(["one", "from_pos"].map(Alias::new))
        .values([1.into(), position(from)?.into()])
        .map_err(internal)?
        .on_conflict(OnConflict::column(Alias::new("one")).do_nothing().to_owned());
    Ok(q)
}

/// Moves the cursor from `expected` to `next`, returning a row only when it was at `expected`.
pub(crate) fn move_cursor(expected: FanoutCursor, next: FanoutCursor) -> StoreResult<UpdateStatement> {
    let mut q = Query::update();
    q.table(Alias::new("webhook_cursor"))
        .value(Alias::new("from_pos"), position(next.from)?)
        .value(Alias::new("to_pos"), next.to.map(position).transpose()?)
        .value(Alias::new("after_seq"), next.after_seq)
        .and_where(col("one").eq(1))
        .and_where(col("from_pos").eq(position(expected.from)?))
        .returning_col(Alias::new("one"));
    match expected.to {
        Some(to) => q.and_where(col("to_pos").eq(position(to)?)),
        None => q.and_where(col("to_pos").is_null()),
    };
    match expected.after_seq {
        Some(a) => q.and_where(col("after_seq").eq(a)),
        None => q.and_where(col("after_seq").is_null()),
    };
    Ok(q)
}

/// An outbox row for a batch, due at once, returning its `seq`. Its payload goes in apart
/// ([`insert_payload`]).
pub(crate) fn insert_outbox_row(batch: &OutboxBatch, now: Timestamp) -> StoreResult<InsertStatement> {
    let mut q = Query::insert();
    q.into_table(Alias::new("webhook_outbox"))
        .columns(["subscription_id", "lifecycle", "count", "created_at", "next_at"].map(Alias::new))
        .values([
            batch.subscription_id.to_string().into(),
            i64::from(batch.lifecycle).into(),
            i64::from(batch.count).into(),
            now.micros().into(),
            now.micros().into(),
        ])
        .map_err(internal)?
        .returning_col(Alias::new("seq"));
    Ok(q)
}

pub(crate) fn insert_payload(seq: i64, items: &str) -> StoreResult<InsertStatement> {
    let mut q = Query::insert();
    q.into_table(Alias::new("webhook_payloads"))
        .columns(["seq", "items"].map(Alias::new))
        .values([seq.into(), items.into()])
        .map_err(internal)?;
    Ok(q)
}

/// Leases up to `limit` rows due at `now` until `lease_until` and counts the attempt, skipping
/// rows another replica holds (`FOR UPDATE SKIP LOCKED` on PostgreSQL) and the subscriptions in
/// `skip`: returns `seq, subscription_id, lifecycle, count, created_at, attempts`.
pub(crate) fn lease_due(now: Timestamp, lease_until: Timestamp, limit: u32, skip: &[Uuid], dialect: Dialect) -> UpdateStatement {
    let mut due = Query::select();
    due.column(Alias::new("seq"))
        .from(Alias::new("webhook_outbox"))
        .and_where(col("next_at").lte(now.micros()))
        .and_where(col("lease_until").lte(now.micros()));
    if !skip.is_empty() {
        due.and_where(col("subscription_id").is_not_in(skip.iter().map(ToString::to_string)));
    }
    due.order_by(Alias::new("next_at"), Order::Asc).limit(u64::from(limit));
    if dialect == Dialect::Postgres {
        due.lock_with_behavior(LockType::Update, LockBehavior::SkipLocked);
    }
    let mut q = Query::update();
    q.table(Alias::new("webhook_outbox"))
        .value(Alias::new("lease_until"), lease_until.micros())
        .value(Alias::new("attempts"), col("attempts").add(1))
        .and_where(col("seq").in_subquery(due))
        .returning(Query::returning().columns(["seq", "subscription_id", "lifecycle", "count", "created_at", "attempts"].map(Alias::new)));
    q
}

/// The payloads of these outbox rows: `seq, items`.
pub(crate) fn payloads(seqs: impl IntoIterator<Item = i64>) -> SelectStatement {
    let mut q = Query::select();
    q.columns(["seq", "items"].map(Alias::new)).from(Alias::new("webhook_payloads")).and_where(col("seq").is_in(seqs));
    q
}

/// Makes an outbox row due again at `next_at`, unleased.
pub(crate) fn reschedule(seq: i64, next_at: Timestamp) -> UpdateStatement {
    let mut q = Query::update();
    q.table(Alias::new("webhook_outbox"))
        .value(Alias::new("next_at"), next_at.micros())
        .value(Alias::new("lease_until"), 0)
        .and_where(col("seq").eq(seq));
    q
}

/// Deletes an outbox row, returning its `seq` when it was still there.
pub(crate) fn take_outbox_row(seq: i64) -> DeleteStatement {
    let mut q = Query::delete();
    q.from_table(Alias::new("webhook_outbox")).and_where(col("seq").eq(seq)).returning_col(Alias::new("seq"));
    q
}
