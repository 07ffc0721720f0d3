//! Prints the SQL and SQLite's `EXPLAIN QUERY PLAN` of a `/industryData/runs` listing, as the
//! service would run it (bench/query.sh uses it to say which index serves each benchmark query):
//!
//! `cargo run --release -p runhub-store --example query_plan -- DIR FILTER ORDERBY [--count] [--after-offset N]`
//!
//! FILTER and ORDERBY are OData text (`-` for none). `--after-offset N` adds the keyset cursor of
//! the N-th row in the default order (what a deep `$skiptoken` carries). The run-name index is
//! brought up to date first.

use runhub_model::TenantId;
use runhub_odata::EntitySet;
use runhub_odata::ast::Value;
use runhub_store::sqlite::{Options, SqliteStore};
use runhub_store::{ListQuery, RunScope};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: query_plan DIR FILTER ORDERBY [--count] [--after-offset N]";
    let dir = std::path::PathBuf::from(args.get(1).ok_or(usage)?);
    let filter = args.get(2).ok_or(usage)?;
    let orderby = args.get(3).ok_or(usage)?;
    let mut query = ListQuery::first_page(100);
    if filter != "-" {
        query.filter = Some(runhub_odata::parse_filter(EntitySet::Runs, filter)?);
    }
    if orderby != "-" {
        query.orderby = runhub_odata::parse_orderby(EntitySet::Runs, orderby)?;
    }
    query.count = args.iter().any(|a| a == "--count");
    if let Some(i) = args.iter().position(|a| a == "--after-offset") {
        let n: i64 = args.get(i + 1).ok_or(usage)?.parse()?;
        let conn = rusqlite::Connection::open(dir.join(runhub_store::sqlite::DATABASE_FILE))?;
        let (start, id): (i64, String) =
            conn.query_row("SELECT start_time, id FROM runs ORDER BY start_time DESC, id LIMIT 1 OFFSET ?1", [n], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
        query.after = Some(vec![Value::DateTime(start), Value::String(id)]);
    }
    let store = SqliteStore::open(&dir, Options::default()).await?;
    // Up to date as a running server keeps it (within a quarter of a second of the last write).
    while runhub_store::Store::index_run_names(&store, 10_000).await? >= 10_000 {}
    for (sql, plan) in store.explain_list_runs(&TenantId::default_tenant(), &RunScope::all(), &query).await? {
        println!("SQL: {sql}");
        for line in plan {
            println!("  PLAN: {line}");
        }
    }
    Ok(())
}
