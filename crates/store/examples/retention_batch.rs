//! Times retention's batches on an existing data directory (docs/operations.md has the figures):
//! `cargo run --release -p runhub-store --example retention_batch -- DIR DAYS [BATCHES [SIZE]]`
//! deletes, batch by batch, runs that ended more than DAYS days ago (at most BATCHES batches of SIZE
//! runs, by default the size `runhub serve` uses) and prints how long one batch's transaction took. Fill DIR first with
//! the `bulk_load` example. With `RUNHUB_DATABASE_URL=postgres://…` it runs on PostgreSQL.

use std::time::Instant;

use runhub_model::Timestamp;
use runhub_store::Store;
use runhub_store::sqlite::{Options, SqliteStore};

/// `runhub serve`'s retention batch (crates/server/src/upkeep.rs).
const BATCH: u32 = 20;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(args.get(1).ok_or("usage: retention_batch DIR DAYS [BATCHES [SIZE]]")?);
    let days: i64 = args.get(2).ok_or("usage: retention_batch DIR DAYS [BATCHES [SIZE]]")?.parse()?;
    let batches: usize = args.get(3).map_or(Ok(200), |s| s.parse())?;
    let size: u32 = args.get(4).map_or(Ok(BATCH), |s| s.parse())?;
    let store: Box<dyn Store> = match std::env::var("RUNHUB_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Box::new(runhub_store::postgres::PgStore::open(&url, Default::default()).await?),
        _ => Box::new(SqliteStore::open(&dir, Options::default()).await?),
    };
    let age = days * 86_400 * 1_000_000;
    let mut times = Vec::new();
    let mut deleted = 0;
    for _ in 0..batches {
        let started = Instant::now();
        let n = store.expire_runs(Timestamp::now(), age, size).await?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
        deleted += n;
        if n < u64::from(size) {
            break;
        }
    }
    store.close().await;
    let full = if deleted % u64::from(size) == 0 { times.len() } else { times.len() - 1 };
    let mut sorted = times[..full].to_vec();
    sorted.sort_by(f64::total_cmp);
    let at = |q: f64| sorted.get(((sorted.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(0.0);
    println!(
        "{deleted} runs deleted in {} batches of {size}; one full batch (transaction + commit): min {:.2} ms, median {:.2} ms, p90 {:.2} ms, max {:.2} ms",
        times.len(),
        at(0.0),
        at(0.5),
        at(0.9),
        at(1.0)
    );
    Ok(())
}
