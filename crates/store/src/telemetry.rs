//! What the store reports through the `metrics` facade (the server installs the Prometheus
//! recorder and declares these families; see docs/operations.md). Samples are taken only after
//! the transaction that caused them has committed ([`crate::ops::Tx::after_commit`]), so an
//! operation that was rolled back or retried is never counted.

use runhub_model::{GraphEnum, Run, RunStatus};

/// Histogram: seconds one commit took (SQLite: the writer's batch commit; PostgreSQL: `COMMIT`).
pub const COMMIT_DURATION: &str = "runhub_store_commit_duration_seconds";
/// Counter `{status, kind}`: runs that went from `running` to a terminal status.
pub const RUNS_FINISHED: &str = "runhub_runs_finished_total";
/// Histogram `{kind}`: seconds from `startDateTime` to `endDateTime` of those runs.
pub const RUN_DURATION: &str = "runhub_run_duration_seconds";

pub(crate) fn commit_took(elapsed: std::time::Duration) {
    metrics::histogram!(COMMIT_DURATION).record(elapsed.as_secs_f64());
}

/// The sample a run's change gives once committed: `Some` when it went from `running` to a
/// terminal status.
pub(crate) fn finished(before: &Run, after: &Run) -> Option<Box<dyn FnOnce() + Send>> {
    if before.status != RunStatus::Running || !after.status.is_terminal() {
        return None;
    }
    let (status, kind) = (after.status.as_str(), after.kind().type_name());
    let seconds = after.end.map_or(0.0, |end| end.micros().saturating_sub(after.start.micros()).max(0) as f64 / 1e6);
    Some(Box::new(move || {
        metrics::counter!(RUNS_FINISHED, "status" => status, "kind" => kind).increment(1);
        metrics::histogram!(RUN_DURATION, "kind" => kind).record(seconds);
    }))
}
