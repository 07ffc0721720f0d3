//! The one implementation of [`Store`], for every backend. A backend ([`Backend`]) says only how an
//! operation gets a [`Tx`] — a read connection, one read snapshot, or a write transaction — and
//! the few things that are its own (health, the token secret, closing, the change signal); each
//! `Store` method is written once below, as the operation it runs and the way it runs it.

use std::pin::Pin;

use async_trait::async_trait;
use runhub_model::{
    NewProcess, NewRun, Process, ProcessKind, ProcessPatch, Run, RunPatch, RunStatus, Subscription, SubscriptionPatch, TenantId, Timestamp,
    Uuid,
};
use runhub_odata::ast::Filter;

use crate::changes::{self, ChangeRange, ChangeRecord, Collection};
use crate::tx::Tx;
use crate::webhooks::{self, Delivery, FanoutCursor, OutboxBatch, Settle};
use crate::{
    ChangePage, ListQuery, Page, Precondition, ProcessRef, ReapedRun, RunScope, ScheduledStart, StartOutcome, StartPolicy, Store,
    StoreResult, counts, names, ops, schedule, upkeep,
};

/// The future of one operation over a backend's [`Tx`].
pub(crate) type OpFuture<'t, T> = Pin<Box<dyn Future<Output = StoreResult<T>> + Send + 't>>;

/// One operation: run over a transaction (or read connection) with its arguments. A plain function,
/// so that a backend may run it again (PostgreSQL retries a write that lost a serialization race)
/// or on another thread (SQLite's writer).
pub(crate) type Op<X, A, T> = for<'t> fn(&'t mut X, &'t A) -> OpFuture<'t, T>;

/// What an operation is given: owned, since SQLite runs it on another thread, and lent to each
/// attempt, since PostgreSQL may run it again.
pub(crate) trait OpArgs: Send + Sync + 'static {}
impl<A: Send + Sync + 'static> OpArgs for A {}

/// What an operation returns: handed back across threads.
pub(crate) trait OpOutput: Send + 'static {}
impl<T: Send + 'static> OpOutput for T {}

/// How a database runs operations.
pub(crate) trait Backend: Send + Sync + 'static {
    type Tx: Tx;

    /// A read transaction costs next to nothing (SQLite), so every page reads in one; where it
    /// costs round trips (PostgreSQL), only a page with a count that must agree with it does.
    const SNAPSHOTS_ARE_FREE: bool;

    /// Runs a read on a read connection.
    fn read<A: OpArgs, T: OpOutput>(&self, args: A, op: Op<Self::Tx, A, T>) -> impl Future<Output = StoreResult<T>> + Send;

    /// Runs a point read (one row by key), where a backend can do that cheaper than [`Self::read`].
    fn read_point<A: OpArgs, T: OpOutput>(&self, args: A, op: Op<Self::Tx, A, T>) -> impl Future<Output = StoreResult<T>> + Send {
        self.read(args, op)
    }

    /// Runs a read whose statements must all see the same data (a page and its count).
    fn read_snapshot<A: OpArgs, T: OpOutput>(&self, args: A, op: Op<Self::Tx, A, T>) -> impl Future<Output = StoreResult<T>> + Send;

    /// Runs a write in one transaction: committed when it returns `Ok`, rolled back otherwise.
    fn write<A: OpArgs, T: OpOutput>(&self, args: A, op: Op<Self::Tx, A, T>) -> impl Future<Output = StoreResult<T>> + Send;

    /// Whether the database answers.
    fn health(&self) -> impl Future<Output = StoreResult<()>> + Send;
    fn token_secret(&self) -> &[u8];
    fn close(&self) -> impl Future<Output = ()> + Send;
    /// Grows after every commit of a write through this instance.
    fn change_signal(&self) -> tokio::sync::watch::Receiver<u64>;
}

/// Reads a page (and maybe its count) in one snapshot where that is needed or free.
async fn read_page<B: Backend, A: OpArgs, T: OpOutput>(backend: &B, count: bool, args: A, op: Op<B::Tx, A, T>) -> StoreResult<T> {
    if count || B::SNAPSHOTS_ARE_FREE { backend.read_snapshot(args, op).await } else { backend.read(args, op).await }
}

#[async_trait]
impl<B: Backend> Store for B {
    async fn health(&self) -> StoreResult<()> {
        Backend::health(self).await
    }

    fn token_secret(&self) -> &[u8] {
        Backend::token_secret(self)
    }

    async fn close(&self) {
        Backend::close(self).await
    }

    async fn create_process(&self, tenant: &TenantId, new: NewProcess) -> StoreResult<Process> {
        self.write((tenant.clone(), new), |tx, (tenant, new)| Box::pin(ops::create_process(tx, tenant, new.clone()))).await
    }

    async fn get_process(&self, tenant: &TenantId, kind: ProcessKind, id: Uuid) -> StoreResult<Process> {
        self.read_point((tenant.clone(), kind, id), |tx, (tenant, kind, id)| Box::pin(ops::get_process(tx, tenant, *kind, *id))).await
    }

    async fn update_process(
        &self,
        tenant: &TenantId,
        kind: ProcessKind,
        id: Uuid,
        patch: ProcessPatch,
        pre: Option<Precondition>,
    ) -> StoreResult<Process> {
        self.write((tenant.clone(), kind, id, patch, pre), |tx, (tenant, kind, id, patch, pre)| {
            Box::pin(ops::update_process(tx, tenant, *kind, *id, patch.clone(), pre.clone()))
        })
        .await
    }

    async fn delete_process(&self, tenant: &TenantId, kind: ProcessKind, id: Uuid, pre: Option<Precondition>) -> StoreResult<()> {
        self.write((tenant.clone(), kind, id, pre), |tx, (tenant, kind, id, pre)| {
            Box::pin(ops::delete_process(tx, tenant, *kind, *id, pre.clone()))
        })
        .await
    }

    async fn list_processes(&self, tenant: &TenantId, kind: ProcessKind, query: &ListQuery) -> StoreResult<Page<Process>> {
        read_page(self, query.count, (tenant.clone(), kind, query.clone()), |tx, (tenant, kind, query)| {
            Box::pin(ops::list_processes(tx, tenant, *kind, query))
        })
        .await
    }

    async fn count_processes(&self, tenant: &TenantId, kind: ProcessKind, filter: Option<&Filter>) -> StoreResult<u64> {
        self.read((tenant.clone(), kind, filter.cloned()), |tx, (tenant, kind, filter)| {
            Box::pin(ops::count_processes(tx, tenant, *kind, filter.as_ref()))
        })
        .await
    }

    async fn processes_by_ids(&self, tenant: &TenantId, ids: &[Uuid]) -> StoreResult<Vec<Process>> {
        self.read((tenant.clone(), ids.to_vec()), |tx, (tenant, ids)| Box::pin(ops::processes_by_ids(tx, tenant, ids))).await
    }

    async fn create_run(&self, tenant: &TenantId, scope: &RunScope, new: NewRun, process: Option<ProcessRef>) -> StoreResult<Run> {
        self.write((tenant.clone(), scope.clone(), new, process), |tx, (tenant, scope, new, process)| {
            Box::pin(ops::create_run(tx, tenant, scope, new.clone(), *process))
        })
        .await
    }

    async fn get_run(&self, tenant: &TenantId, scope: &RunScope, id: Uuid) -> StoreResult<Run> {
        self.read_point((tenant.clone(), scope.clone(), id), |tx, (tenant, scope, id)| Box::pin(ops::get_run(tx, tenant, scope, *id))).await
    }

    async fn update_run(
        &self,
        tenant: &TenantId,
        scope: &RunScope,
        id: Uuid,
        patch: RunPatch,
        pre: Option<Precondition>,
    ) -> StoreResult<Run> {
        self.write((tenant.clone(), scope.clone(), id, patch, pre), |tx, (tenant, scope, id, patch, pre)| {
            Box::pin(ops::update_run(tx, tenant, scope, *id, patch.clone(), pre.clone()))
        })
        .await
    }

    async fn delete_run(&self, tenant: &TenantId, scope: &RunScope, id: Uuid, pre: Option<Precondition>) -> StoreResult<()> {
        self.write((tenant.clone(), scope.clone(), id, pre), |tx, (tenant, scope, id, pre)| {
            Box::pin(ops::delete_run(tx, tenant, scope, *id, pre.clone()))
        })
        .await
    }

    async fn list_runs(&self, tenant: &TenantId, scope: &RunScope, query: &ListQuery) -> StoreResult<Page<Run>> {
        read_page(self, query.count, (tenant.clone(), scope.clone(), query.clone()), |tx, (tenant, scope, query)| {
            Box::pin(ops::list_runs(tx, tenant, scope, query))
        })
        .await
    }

    async fn list_runs_of_parents(&self, tenant: &TenantId, scopes: &[RunScope], query: &ListQuery) -> StoreResult<Vec<Vec<Run>>> {
        self.read((tenant.clone(), scopes.to_vec(), query.clone()), |tx, (tenant, scopes, query)| {
            Box::pin(ops::list_runs_of_parents(tx, tenant, scopes, query))
        })
        .await
    }

    async fn count_runs(&self, tenant: &TenantId, scope: &RunScope, filter: Option<&Filter>) -> StoreResult<u64> {
        // A snapshot where it is free: a count may read the run-name index's candidates first.
        read_page(self, false, (tenant.clone(), scope.clone(), filter.cloned()), |tx, (tenant, scope, filter)| {
            Box::pin(ops::count_runs(tx, tenant, scope, filter.as_ref()))
        })
        .await
    }

    async fn set_run_process(&self, tenant: &TenantId, scope: &RunScope, id: Uuid, process: ProcessRef) -> StoreResult<Run> {
        self.write((tenant.clone(), scope.clone(), id, process), |tx, (tenant, scope, id, process)| {
            Box::pin(ops::set_run_process(tx, tenant, scope, *id, *process))
        })
        .await
    }

    async fn add_group_member(&self, tenant: &TenantId, group: Uuid, run: Uuid) -> StoreResult<()> {
        self.write((tenant.clone(), group, run), |tx, (tenant, group, run)| Box::pin(ops::add_group_member(tx, tenant, *group, *run))).await
    }

    async fn remove_group_member(&self, tenant: &TenantId, group: Uuid, run: Uuid) -> StoreResult<()> {
        self.write((tenant.clone(), group, run), |tx, (tenant, group, run)| Box::pin(ops::remove_group_member(tx, tenant, *group, *run)))
            .await
    }

    async fn run_now(&self, tenant: &TenantId, flow: Uuid) -> StoreResult<Run> {
        self.write((tenant.clone(), flow), |tx, (tenant, flow)| Box::pin(ops::run_now(tx, tenant, *flow))).await
    }

    async fn group_problem_runs(&self, tenant: &TenantId, group: Uuid) -> StoreResult<Vec<Run>> {
        self.read((tenant.clone(), group), |tx, (tenant, group)| Box::pin(ops::group_problem_runs(tx, tenant, *group))).await
    }

    async fn change_watermark(&self) -> StoreResult<u64> {
        self.read_point((), |tx, ()| Box::pin(changes::watermark(tx))).await
    }

    async fn change_horizon(&self) -> StoreResult<u64> {
        self.read_point((), |tx, ()| Box::pin(changes::horizon(tx))).await
    }

    async fn entity_changes(&self, tenant: &TenantId, collection: Collection, range: ChangeRange) -> StoreResult<ChangePage> {
        let (items, more) = self
            .read((tenant.clone(), collection, range), |tx, (tenant, collection, range)| {
                Box::pin(changes::entity_changes(tx, tenant, *collection, *range))
            })
            .await?;
        Ok(ChangePage { items, more })
    }

    async fn change_log(&self, range: ChangeRange) -> StoreResult<Vec<ChangeRecord>> {
        self.read(range, |tx, range| Box::pin(changes::log(tx, *range))).await
    }

    async fn prune_changes(&self, before: Timestamp, limit: u32) -> StoreResult<usize> {
        self.write((before, limit), |tx, (before, limit)| Box::pin(changes::prune(tx, *before, *limit))).await
    }

    fn change_signal(&self) -> tokio::sync::watch::Receiver<u64> {
        Backend::change_signal(self)
    }

    async fn start_run_group(&self, tenant: &TenantId, now: Timestamp, policy: &StartPolicy) -> StoreResult<StartOutcome> {
        self.write((tenant.clone(), now, policy.clone()), |tx, (tenant, now, policy)| {
            Box::pin(schedule::start_on_demand(tx, tenant, *now, policy))
        })
        .await
    }

    async fn claim_scheduled_runs(&self, now: Timestamp, interval_micros: i64) -> StoreResult<Vec<ScheduledStart>> {
        self.write((now, interval_micros), |tx, (now, interval)| Box::pin(schedule::claim_scheduled(tx, *now, *interval))).await
    }

    async fn reap_stale_runs(&self, now: Timestamp, timeout_micros: i64, limit: u32) -> StoreResult<Vec<ReapedRun>> {
        self.write((now, timeout_micros, limit), |tx, (now, timeout, limit)| Box::pin(upkeep::reap(tx, *now, *timeout, *limit))).await
    }

    async fn expire_runs(&self, now: Timestamp, age_micros: i64, limit: u32) -> StoreResult<u64> {
        self.write((now, age_micros, limit), |tx, (now, age, limit)| Box::pin(upkeep::expire(tx, *now, *age, *limit))).await
    }

    async fn runs_by_status(&self) -> StoreResult<Vec<(RunStatus, u64)>> {
        self.read((), |tx, ()| Box::pin(upkeep::runs_by_status(tx))).await
    }

    async fn compact_counts(&self, limit: u32) -> StoreResult<usize> {
        self.write(limit, |tx, limit| Box::pin(counts::compact(tx, *limit))).await
    }

    async fn index_run_names(&self, limit: u32) -> StoreResult<usize> {
        // PostgreSQL keeps its trigram index itself.
        if <B::Tx as Tx>::DIALECT != crate::dialect::Dialect::Sqlite || !self.read((), |tx, ()| Box::pin(names::behind(tx))).await? {
            return Ok(0);
        }
        self.write(limit, |tx, limit| Box::pin(names::index(tx, *limit))).await
    }

    async fn create_subscription(&self, sub: Subscription, limit: u64) -> StoreResult<Subscription> {
        self.write((sub, limit), |tx, (sub, limit)| Box::pin(webhooks::create(tx, sub.clone(), *limit))).await
    }

    async fn get_subscription(&self, tenant: &TenantId, id: Uuid) -> StoreResult<Subscription> {
        self.read_point((tenant.clone(), id), |tx, (tenant, id)| Box::pin(webhooks::get(tx, tenant, *id))).await
    }

    async fn list_subscriptions(&self, tenant: &TenantId) -> StoreResult<Vec<Subscription>> {
        self.read(tenant.clone(), |tx, tenant| Box::pin(webhooks::list(tx, tenant))).await
    }

    async fn update_subscription(&self, tenant: &TenantId, id: Uuid, patch: SubscriptionPatch) -> StoreResult<Subscription> {
        self.write((tenant.clone(), id, patch), |tx, (tenant, id, patch)| Box::pin(webhooks::update(tx, tenant, *id, patch.clone()))).await
    }

    async fn delete_subscription(&self, tenant: &TenantId, id: Uuid) -> StoreResult<()> {
        self.write((tenant.clone(), id), |tx, (tenant, id)| Box::pin(webhooks::delete(tx, tenant, *id))).await
    }

    async fn pending_notifications(&self, id: Uuid) -> StoreResult<u64> {
        self.read_point(id, |tx, id| Box::pin(webhooks::pending(tx, *id))).await
    }

    async fn active_subscriptions(&self, now: Timestamp) -> StoreResult<Vec<Subscription>> {
        self.read(now, |tx, now| Box::pin(webhooks::active(tx, *now))).await
    }

    async fn remove_expired_subscriptions(&self, now: Timestamp) -> StoreResult<usize> {
        self.write(now, |tx, now| Box::pin(webhooks::remove_expired(tx, *now))).await
    }

    async fn webhook_cursor(&self, start: u64) -> StoreResult<FanoutCursor> {
        match self.read_point((), |tx, ()| Box::pin(webhooks::cursor(tx))).await? {
            Some(cursor) => Ok(cursor),
            None => self.write(start, |tx, start| Box::pin(webhooks::cursor_or_start(tx, *start))).await,
        }
    }

    async fn enqueue_notifications(
        &self,
        expected: FanoutCursor,
        next: FanoutCursor,
        batches: Vec<OutboxBatch>,
        now: Timestamp,
    ) -> StoreResult<bool> {
        self.write((expected, next, batches, now), |tx, (expected, next, batches, now)| {
            Box::pin(webhooks::enqueue(tx, *expected, *next, batches, *now))
        })
        .await
    }

    async fn claim_deliveries(&self, now: Timestamp, lease_until: Timestamp, limit: u32, skip: &[Uuid]) -> StoreResult<Vec<Delivery>> {
        self.write((now, lease_until, limit, skip.to_vec()), |tx, (now, lease_until, limit, skip)| {
            Box::pin(webhooks::claim(tx, *now, *lease_until, *limit, skip))
        })
        .await
    }

    async fn settle_deliveries(&self, outcomes: Vec<(i64, Settle)>, now: Timestamp) -> StoreResult<()> {
        self.write((outcomes, now), |tx, (outcomes, now)| Box::pin(webhooks::settle(tx, outcomes.clone(), *now))).await
    }
}
