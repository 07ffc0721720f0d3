//! Scheduled runs. Every `--schedule-interval` (default 12 h; 0 = off) the service opens a
//! runGroup by itself — one running incomingFlowRun per incomingFlow that is `ready` and inside its
//! window — for **every tenant that has at least one incomingFlow** (a tenant's first scheduled run
//! is due one interval after the scheduler first sees its first incomingFlow).
//!
//! Nothing is decided in process memory: each tick asks the store to claim the due runs, and the
//! store claims each one with a compare-and-set on the tenant's schedule row inside the write
//! transaction that opens the group ([`runhub_store::Store::claim_scheduled_runs`]). With several
//! replicas on one database each scheduled run is therefore started exactly once. An on-demand
//! `start` less than 10 h before a tenant's next scheduled run marks that run skipped.

use std::sync::Arc;
use std::time::Duration;

use runhub_model::Timestamp;
use runhub_store::Store;
use tokio::task::JoinHandle;

/// How often the scheduler looks for due runs: a fraction of the interval, between 50 ms and 60 s.
pub fn tick(interval: Duration) -> Duration {
    (interval / 5).clamp(Duration::from_millis(50), Duration::from_secs(60))
}

/// One tick: claims and starts every due scheduled run. Returns how many groups it opened.
pub async fn run_once(store: &dyn Store, interval: Duration) -> usize {
    let micros = i64::try_from(interval.as_micros()).unwrap_or(i64::MAX);
    match store.claim_scheduled_runs(Timestamp::now(), micros).await {
        Ok(starts) => {
            let mut opened = 0;
            for s in &starts {
                match (&s.group, s.skipped) {
                    (Some(group), _) => {
                        opened += 1;
                        tracing::info!(tenant = s.tenant.as_str(), group = %group.id, due = %s.due.to_rfc3339(), "scheduled run started");
                    }
                    (None, true) => {
                        tracing::info!(tenant = s.tenant.as_str(), due = %s.due.to_rfc3339(), "scheduled run skipped: an on-demand run started shortly before")
                    }
                    (None, false) => {
                        tracing::info!(tenant = s.tenant.as_str(), due = %s.due.to_rfc3339(), "scheduled run skipped: no incomingFlow is ready and inside its window")
                    }
                }
            }
            opened
        }
        Err(e) => {
            tracing::warn!(error = %e, "scheduler tick failed; retrying at the next tick");
            0
        }
    }
}

/// Starts the scheduler on the current runtime; `None` when `interval` is zero (off).
pub fn spawn(store: Arc<dyn Store>, interval: Duration) -> Option<JoinHandle<()>> {
    if interval.is_zero() {
        return None;
    }
    let every = tick(interval);
    Some(tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            run_once(store.as_ref(), interval).await;
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks() {
        assert_eq!(tick(Duration::from_secs(12 * 3600)), Duration::from_secs(60));
        assert_eq!(tick(Duration::from_millis(100)), Duration::from_millis(50));
    }
}
