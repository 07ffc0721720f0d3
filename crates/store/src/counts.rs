//! Stored counts, so that `$count` need not scan: every change of a run or process row also writes
//! delta rows (`+1` for the row's new key, `−1` for its old one) in the same transaction, keyed by
//! what a count can ask about — a run's kind × status × process, a process's kind. A count whose
//! scope and `$filter` constrain only those columns is the sum of the matching delta rows; any other
//! count scans, as before. docs/architecture.md ("Counts") says why delta rows.
//!
//! Delta rows are only ever inserted by writers, so concurrent writes of one flow's runs never wait
//! for a shared counter row. They are compacted in the background ([`compact`]): a key's rows are
//! deleted and their sum written back as one row, in one transaction.

use std::collections::HashMap;

use runhub_model::{GraphEnum, Process, Run, TenantId, Uuid};
use runhub_odata::ast::{Filter, Operand};
use sea_query::Value;

use crate::columns::Table;
use crate::query::counts::{self as statements, Delta};
use crate::tx::Tx;
use crate::{RunParent, RunScope, StoreResult};

/// The key a run is counted under.
fn run_key(run: &Run) -> Vec<Value> {
    vec![run.kind().ordinal().into(), run.status.ordinal().into(), run.process_id().map(|p| p.to_string()).into()]
}

fn process_key(p: &Process) -> Vec<Value> {
    vec![p.kind.ordinal().into()]
}

/// Nets `(key, ±n)` pairs into one delta per key, dropping those that cancel out.
fn net(pairs: impl IntoIterator<Item = (Vec<Value>, i64)>) -> Vec<Delta> {
    let mut by_key: Vec<Delta> = Vec::new();
    let mut at: HashMap<String, usize> = HashMap::new();
    for (key, n) in pairs {
        let slot = *at.entry(format!("{key:?}")).or_insert_with(|| {
            by_key.push((key, 0));
            by_key.len() - 1
        });
        by_key[slot].1 += n;
    }
    by_key.retain(|(_, n)| *n != 0);
    by_key
}

async fn write<T: Tx>(tx: &mut T, table: Table, tenant: &TenantId, pairs: impl IntoIterator<Item = (Vec<Value>, i64)>) -> StoreResult<()> {
    let deltas = net(pairs);
    // Bounded so that a large import stays under both engines' limits on bound values.
    for chunk in deltas.chunks(1000) {
        tx.execute(statements::insert_deltas(table, tenant, chunk)?).await?;
    }
    Ok(())
}

/// Counts a run row going from `before` to `after` (`None`: not stored).
pub(crate) async fn run_changed<T: Tx>(tx: &mut T, tenant: &TenantId, before: Option<&Run>, after: Option<&Run>) -> StoreResult<()> {
    let pairs = before.map(|r| (run_key(r), -1)).into_iter().chain(after.map(|r| (run_key(r), 1)));
    write(tx, Table::Runs, tenant, pairs).await
}

/// Counts a process row going from `before` to `after` (`None`: not stored).
pub(crate) async fn process_changed<T: Tx>(
    tx: &mut T,
    tenant: &TenantId,
    before: Option<&Process>,
    after: Option<&Process>,
) -> StoreResult<()> {
    let pairs = before.map(|p| (process_key(p), -1)).into_iter().chain(after.map(|p| (process_key(p), 1)));
    write(tx, Table::Processes, tenant, pairs).await
}

/// The bulk path's counts: the saved rows replace `replaced` (those of the same ids stored before).
pub(crate) async fn imported<T: Tx>(
    tx: &mut T,
    tenant: &TenantId,
    replaced: (&[Process], &[Run]),
    saved: (&[Process], &[Run]),
) -> StoreResult<()> {
    let processes = replaced.0.iter().map(|p| (process_key(p), -1)).chain(saved.0.iter().map(|p| (process_key(p), 1)));
    write(tx, Table::Processes, tenant, processes).await?;
    let runs = replaced.1.iter().map(|r| (run_key(r), -1)).chain(saved.1.iter().map(|r| (run_key(r), 1)));
    write(tx, Table::Runs, tenant, runs).await
}

/// The runs among `ids` stored now (the bulk path's upsert may overwrite them).
pub(crate) async fn stored_runs<T: Tx>(tx: &mut T, tenant: &TenantId, ids: &[Uuid]) -> StoreResult<Vec<Run>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(1000) {
        out.extend(tx.fetch::<Run>(crate::query::runs_by_ids(tenant, chunk)).await?);
    }
    Ok(out)
}

pub(crate) async fn stored_processes<T: Tx>(tx: &mut T, tenant: &TenantId, ids: &[Uuid]) -> StoreResult<Vec<Process>> {
    let mut out = Vec::new();
    for chunk in ids.chunks(1000) {
        out.extend(tx.fetch::<Process>(crate::query::processes_by_ids(tenant, chunk)).await?);
    }
    Ok(out)
}

/// Whether `filter` reads no property but `allowed` ones (`isof` reads the kind, always counted).
fn reads_only(filter: &Filter, allowed: &[&str]) -> bool {
    let operand_ok = |o: &Operand| operand_reads_only(o, allowed);
    match filter {
        Filter::And(a, b) | Filter::Or(a, b) => reads_only(a, allowed) && reads_only(b, allowed),
        Filter::Not(a) => reads_only(a, allowed),
        Filter::IsOf(_) => true,
        Filter::Bool(o) => operand_ok(o),
        Filter::Compare { left, right, .. } => operand_ok(left) && operand_ok(right),
        Filter::In { operand, .. } => operand_ok(operand),
        Filter::StringMatch { haystack, needle, .. } => operand_ok(haystack) && operand_ok(needle),
    }
}

fn operand_reads_only(o: &Operand, allowed: &[&str]) -> bool {
    match o {
        Operand::Property { path, .. } => allowed.contains(path),
        Operand::Case(_, inner) => operand_reads_only(inner, allowed),
        Operand::Literal(_) => true,
    }
}

/// Whether the stored counts answer a count of `scope`'s runs matching `filter`: the scope is not
/// a group's members (membership is not counted) and the filter reads only `status` and
/// `process/id` (and the kind, through `isof`). Each delta row then matches as a whole or not at
/// all, so the sum of the matching rows is the number of matching runs.
pub(crate) fn answer_runs(scope: &RunScope, filter: Option<&Filter>) -> bool {
    !matches!(scope.parent, RunParent::Group(_)) && filter.is_none_or(|f| reads_only(f, &["status", "process/id"]))
}

/// Whether the stored counts answer a count of processes matching `filter`: only `isof` or none.
pub(crate) fn answer_processes(filter: Option<&Filter>) -> bool {
    filter.is_none_or(|f| reads_only(f, &[]))
}

/// Compacts up to `limit` keys of each table: their delta rows become one row each. How many keys.
pub(crate) async fn compact<T: Tx>(tx: &mut T, limit: u32) -> StoreResult<usize> {
    let mut compacted = 0;
    let runs: Vec<(String, i64, i64, Option<String>)> = tx.fetch(statements::keys_to_compact(Table::Runs, limit)).await?;
    for (tenant, kind, status, process) in runs {
        compact_key(tx, Table::Runs, &TenantId::from_stored(tenant), vec![kind.into(), status.into(), process.into()]).await?;
        compacted += 1;
    }
    let processes: Vec<(String, i64)> = tx.fetch(statements::keys_to_compact(Table::Processes, limit)).await?;
    for (tenant, kind) in processes {
        compact_key(tx, Table::Processes, &TenantId::from_stored(tenant), vec![kind.into()]).await?;
        compacted += 1;
    }
    Ok(compacted)
}

async fn compact_key<T: Tx>(tx: &mut T, table: Table, tenant: &TenantId, key: Vec<Value>) -> StoreResult<()> {
    let taken: Vec<i64> = tx.fetch(statements::take_key(table, tenant, &key)).await?;
    let n: i64 = taken.iter().sum();
    if n != 0 {
        tx.execute(statements::insert_deltas(table, tenant, &[(key, n)])?).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use runhub_odata::ast::{CmpOp, Type, Value as V};

    use super::*;

    fn prop(path: &'static str) -> Operand {
        Operand::Property { path, ty: Type::String }
    }

    fn eq(path: &'static str, v: V) -> Filter {
        Filter::Compare { op: CmpOp::Eq, left: prop(path), right: Operand::Literal(v) }
    }

    #[test]
    fn counted_columns_only() {
        let all = RunScope::all();
        let status = eq("status", V::Enum(Some(1)));
        let name = eq("displayName", V::String("x".into()));
        assert!(answer_runs(&all, None));
        assert!(answer_runs(&all, Some(&status)));
        assert!(answer_runs(&all, Some(&Filter::Or(Box::new(status.clone()), Box::new(Filter::IsOf("runGroup"))))));
        assert!(!answer_runs(&all, Some(&Filter::And(Box::new(status.clone()), Box::new(name.clone())))));
        assert!(!answer_runs(&RunScope { parent: RunParent::Group(Uuid::nil()), kind: None }, None));
        assert!(answer_processes(Some(&Filter::Not(Box::new(Filter::IsOf("incomingFlow"))))));
        assert!(!answer_processes(Some(&name)));
    }

    #[test]
    fn deltas_net_out() {
        let k = |s: i64| vec![Value::from(1i64), Value::from(s)];
        let netted = net([(k(0), 1), (k(0), -1), (k(1), 1), (k(2), -1), (k(1), 1)]);
        assert_eq!(netted, vec![(k(1), 2), (k(2), -1)]);
    }
}
