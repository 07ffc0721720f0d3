//! Fills a data directory with a benchmark dataset through the store's bulk path:
//! `cargo run --release -p runhub-store --example bulk_load -- DIR RUNS FLOWS [EXTRA_RUNNING]`.
//! With `RUNHUB_DATABASE_URL=postgres://…` the dataset goes into that PostgreSQL database instead
//! (DIR still receives dataset.json).
//!
//! Runs are spread over the flows and over the last 365 days; about 10% failed, 15% still running,
//! the rest completed (some with warnings or errors), names drawn from a small vocabulary; then
//! EXTRA_RUNNING more running runs (default 0), for benchmarks that finish one run per request. The ids
//! of the flows, of a sample of runs and of every running run are written to DIR/dataset.json for the
//! load generators.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use runhub_model::{
    DisplayName, NewProcess, NewRun, ProcessKind, PublicError, ReadinessStatus, RunKind, RunStatus, Statistics, TenantId, Timestamp, Uuid,
};
use runhub_model::{Process, Run};
use runhub_store::Store;
use runhub_store::postgres::PgStore;
use runhub_store::sqlite::{Options, SqliteStore};

/// Either store's bulk path.
enum Target {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

impl Target {
    async fn import(&self, tenant: &TenantId, processes: Vec<Process>, runs: Vec<Run>) -> runhub_store::StoreResult<()> {
        match self {
            Target::Sqlite(s) => s.import(tenant, processes, runs).await,
            Target::Postgres(s) => s.import(tenant, processes, runs).await,
        }
    }

    async fn close(&self) {
        match self {
            Target::Sqlite(s) => s.close().await,
            Target::Postgres(s) => s.close().await,
        }
    }
}

const BATCH: usize = 20_000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir = std::path::PathBuf::from(args.get(1).ok_or("usage: bulk_load DIR RUNS FLOWS")?);
    let runs: usize = args.get(2).map_or(Ok(1_000_000), |s| s.parse())?;
    let flows: usize = args.get(3).map_or(Ok(1_000), |s| s.parse())?;
    let extra_running: usize = args.get(4).map_or(Ok(0), |s| s.parse())?;
    std::fs::create_dir_all(&dir)?;
    let store = match std::env::var("RUNHUB_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Target::Postgres(PgStore::open(&url, Default::default()).await?),
        _ => Target::Sqlite(SqliteStore::open(&dir, Options::default()).await?),
    };
    let tenant = TenantId::default_tenant();
    let mut rng = StdRng::seed_from_u64(7);

    let processes: Vec<_> = (0..flows)
        .map(|i| {
            NewProcess {
                kind: ProcessKind::IncomingFlow,
                display_name: DisplayName::from_stored(format!("flow {i:04}")),
                readiness_status: ReadinessStatus::Ready,
                data_domain: None,
                recurrence_start: None,
                recurrence_end: None,
            }
            .into_process(runhub_model::new_id())
        })
        .collect::<Result<_, _>>()?;
    let flow_ids: Vec<Uuid> = processes.iter().map(|p| p.id).collect();
    store.import(&tenant, processes, Vec::new()).await?;

    let now = Timestamp::now().micros();
    let year = 365 * 24 * 3600 * 1_000_000i64;
    let words = ["nightly", "roster", "sync", "delta", "full", "sis", "import", "export", "xfer", "weekly"];
    let mut sample = Vec::new();
    let mut running = Vec::new();
    let mut loaded = 0;
    while loaded < runs + extra_running {
        let n = BATCH.min(runs + extra_running - loaded);
        let mut batch = Vec::with_capacity(n);
        for i in 0..n {
            let start = now - rng.random_range(0..year);
            let status = match rng.random_range(0..100) {
                _ if loaded + i >= runs => RunStatus::Running,
                0..10 => RunStatus::Failed,
                10..25 => RunStatus::Running,
                25..30 => RunStatus::CompletedWithWarnings,
                30..33 => RunStatus::CompletedWithErrors,
                _ => RunStatus::Completed,
            };
            let name = format!(
                "{} {} {}",
                words[rng.random_range(0..words.len())],
                words[rng.random_range(0..words.len())],
                rng.random_range(0..1000)
            );
            let new = NewRun {
                kind: RunKind::IncomingFlowRun,
                display_name: DisplayName::from_stored(name),
                start: Some(Timestamp::from_micros(start)),
                end: status.is_terminal().then(|| Timestamp::from_micros(start + rng.random_range(1_000_000..3_600_000_000))),
                status: Some(status),
                blocking_error: (status == RunStatus::Failed)
                    .then(|| PublicError::with_code("sourceUnreachable", "the SIS did not answer").into()),
                statistics: Some(Statistics::parse("statistics", &serde_json::json!({"people": rng.random_range(0..5000)}))?),
            };
            let flow = flow_ids[rng.random_range(0..flow_ids.len())];
            let run = new.into_run(runhub_model::new_id(), Some(flow), None, Timestamp::from_micros(now))?;
            if sample.len() < 10_000 && rng.random_range(0..10) == 0 {
                sample.push(run.id);
            }
            if status == RunStatus::Running {
                running.push(run.id);
            }
            batch.push(run);
        }
        store.import(&tenant, Vec::new(), batch).await?;
        loaded += n;
        eprint!("\rloaded {loaded}/{} runs", runs + extra_running);
    }
    eprintln!();
    let ids = |v: &[Uuid]| v.iter().map(Uuid::to_string).collect::<Vec<_>>();
    let manifest = serde_json::json!({ "flows": ids(&flow_ids), "runs": ids(&sample), "running": ids(&running) });
    std::fs::write(dir.join("dataset.json"), serde_json::to_vec(&manifest)?)?;
    store.close().await;
    Ok(())
}
