//! Prometheus metrics at `/metrics` (docs/operations.md lists every family and what it means).
//!
//! Code everywhere records through the `metrics` facade (`metrics::counter!(…)`); this module
//! installs the process-wide recorder (metrics-exporter-prometheus, which renders the text format),
//! declares every family with its help text and type at start-up, and serves the scrape. The
//! recorder is global to the process: several routers in one process (tests) share it.

use runhub_model::Code;
use std::borrow::Cow;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use runhub_model::{GraphEnum, RunKind, RunStatus};
use runhub_store::telemetry::{COMMIT_DURATION, RUN_DURATION, RUNS_FINISHED};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::path::{self, External, Resource, ResourcePath};
use crate::state::AppState;

pub const HTTP_REQUESTS: &str = "runhub_http_requests_total";
pub const HTTP_DURATION: &str = "runhub_http_request_duration_seconds";
pub const RUNS: &str = "runhub_runs";
pub const WEBHOOK_DELIVERIES: &str = "runhub_webhook_deliveries_total";
pub const STREAMS_OPEN: &str = "runhub_streams_open";
pub const BUILD_INFO: &str = "runhub_build_info";
/// The `outcome`s of `runhub_webhook_deliveries_total`: a POST the receiver took (2xx in time),
/// one that failed and will be retried, and notifications given up on after the retry period.
pub const WEBHOOK_OUTCOMES: [&str; 3] = ["delivered", "failed", "dropped"];

/// The `route` of a request no route serves.
pub const UNMATCHED: &str = "unmatched";

/// How long a `runhub_runs` count is reused before the store is asked again, by default.
pub const RUN_COUNT_TTL: Duration = Duration::from_secs(15);

const HTTP_BUCKETS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];
const RUN_BUCKETS: &[f64] = &[1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0, 259200.0];
const COMMIT_BUCKETS: &[f64] = &[0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// The process's recorder, installed (and every family declared) on first use.
pub fn handle() -> &'static PrometheusHandle {
    HANDLE.get_or_init(install)
}

fn install() -> PrometheusHandle {
    let builder = [(HTTP_DURATION, HTTP_BUCKETS), (RUN_DURATION, RUN_BUCKETS), (COMMIT_DURATION, COMMIT_BUCKETS)]
        .into_iter()
        .fold(PrometheusBuilder::new(), |b, (name, buckets)| {
            b.set_buckets_for_metric(Matcher::Full(name.to_owned()), buckets).expect("bucket lists are not empty")
        });
    let recorder = builder.build_recorder();
    let handle = recorder.handle();
    if metrics::set_global_recorder(recorder).is_err() {
        tracing::warn!("another metrics recorder is installed: /metrics shows only what reaches this one");
    }
    declare();
    handle
}

/// Declares every family (`# HELP`, `# TYPE`) and registers a zero-valued series of each, so that
/// a scrape shows all of them, with the right type, before anything happened.
fn declare() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_counter!(HTTP_REQUESTS, "HTTP requests answered, by method, route template and status code");
    describe_histogram!(HTTP_DURATION, Unit::Seconds, "Time from receiving a request to its response head, by route template");
    describe_gauge!(
        RUNS,
        "Runs stored now (every tenant and kind, runGroups included), by status; recounted at most every --metrics-runs-ttl (15 s)"
    );
    describe_counter!(RUNS_FINISHED, "Runs that went from running to a terminal status, by that status and the run's kind");
    describe_histogram!(RUN_DURATION, Unit::Seconds, "Duration (endDateTime - startDateTime) of runs that finished, by kind");
    describe_histogram!(
        COMMIT_DURATION,
        Unit::Seconds,
        "Time one store commit took (SQLite: the writer's batch commit; PostgreSQL: COMMIT)"
    );
    describe_counter!(
        WEBHOOK_DELIVERIES,
        "Change-notification deliveries, by outcome: delivered, failed (retried later), dropped (given up)"
    );
    describe_gauge!(STREAMS_OPEN, "Live change streams (server-sent events) open on this replica");
    describe_gauge!(BUILD_INFO, "Always 1; the version label names the running build");

    metrics::counter!(HTTP_REQUESTS, "method" => "GET", "route" => "/metrics", "status" => "200").increment(0);
    let _ = metrics::histogram!(HTTP_DURATION, "route" => "/metrics");
    for status in RunStatus::ALL {
        metrics::gauge!(RUNS, "status" => status.as_str()).increment(0.0);
    }
    for kind in [RunKind::IncomingFlowRun, RunKind::OutgoingFlowRun, RunKind::RunGroup] {
        for status in RunStatus::ALL.iter().filter(|s| s.is_terminal()) {
            metrics::counter!(RUNS_FINISHED, "status" => status.as_str(), "kind" => kind.type_name()).increment(0);
        }
        let _ = metrics::histogram!(RUN_DURATION, "kind" => kind.type_name());
    }
    let _ = metrics::histogram!(COMMIT_DURATION);
    for outcome in WEBHOOK_OUTCOMES {
        metrics::counter!(WEBHOOK_DELIVERIES, "outcome" => outcome).increment(0);
    }
    metrics::gauge!(STREAMS_OPEN).increment(0.0);
    metrics::gauge!(BUILD_INFO, "version" => env!("CARGO_PKG_VERSION")).set(1.0);
}

/// Folds buffered histogram samples into the rendered state; run every few seconds so that a
/// service nobody scrapes does not buffer samples without bound.
pub fn spawn_upkeep() -> tokio::task::JoinHandle<()> {
    tokio::spawn(async {
        let mut every = tokio::time::interval(Duration::from_secs(5));
        loop {
            every.tick().await;
            handle().run_upkeep();
        }
    })
}

/// The `method` label: the standard methods by name, anything else as `other`.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// The `route` label of a request path: the URL template of what it addresses (ids replaced by
/// `{id}`), decided by the same parser that routes the request; [`UNMATCHED`] for anything else.
pub fn route_label(path: &str) -> Cow<'static, str> {
    match path {
        "/healthz" | "/livez" | "/metrics" => return Cow::Owned(path.to_owned()),
        "/beta" | "/beta/" => return Cow::Borrowed("/beta/"),
        _ => {}
    }
    match path.strip_prefix("/beta/").map(path::parse) {
        Some(Ok(parsed)) => Cow::Owned(template(&parsed)),
        _ => Cow::Borrowed(UNMATCHED),
    }
}

/// The parsed path's collection (its OData context) as a template: `incomingFlows('…')` becomes
/// `incomingFlows/{id}`. The ids there are the parser's own UUIDs, never the request's text.
fn collection_template(context: &str) -> String {
    let mut out = String::from("/beta");
    for segment in context.split('/') {
        out.push('/');
        match segment.split_once("('") {
            Some((name, _)) => {
                out.push_str(name);
                out.push_str("/{id}");
            }
            None => out.push_str(segment),
        }
    }
    out
}

fn template(parsed: &ResourcePath) -> String {
    let base = collection_template(&parsed.context);
    let count = if parsed.count { "/$count" } else { "" };
    let tail = match &parsed.resource {
        Resource::ServiceDocument => return "/beta/".into(),
        Resource::Metadata => return "/beta/$metadata".into(),
        Resource::Batch => return "/beta/$batch".into(),
        Resource::Subscriptions => return "/beta/subscriptions".into(),
        Resource::Subscription(_) => return "/beta/subscriptions/{id}".into(),
        Resource::Delta(_) => "/delta",
        Resource::Processes(_) | Resource::Runs(_) => "",
        Resource::Process(..) => "/{id}",
        Resource::RunNow(_) => "/{id}/runNow",
        Resource::Run(..) => "/{runId}",
        Resource::RunProcess(..) => "/{runId}/process",
        Resource::RunProcessRef(..) => "/{runId}/process/$ref",
        Resource::GroupMemberRefs(_) => "/{id}/runs/$ref",
        Resource::GroupMemberRef(..) => "/{id}/runs/{runId}/$ref",
        Resource::ErrorsAndWarnings(_) => "/{id}/getErrorsAndWarningsFile",
        Resource::External(e) => match e {
            External::Runs | External::Activities(_) => "",
            External::Run(_) => "/{id}",
            External::Activity(..) => "/{activityId}",
            External::ActivityFlow(..) => "/{activityId}/activity",
            External::Statistics(None) => "/getStatistics",
            External::Statistics(Some(_)) => "/{id}/getStatistics",
            External::Start => "/start",
        },
    };
    format!("{base}{tail}{count}")
}

/// The `route` label of a request, put on its reply by the code that parsed its path, so that the
/// path is parsed once per request (see [`record_request`]).
#[derive(Clone)]
pub struct RouteLabel(pub Cow<'static, str>);

impl RouteLabel {
    /// The label of a parsed path below `/beta/`.
    pub fn of(parsed: &ResourcePath) -> Self {
        Self(Cow::Owned(template(parsed)))
    }

    pub fn unmatched() -> Self {
        Self(Cow::Borrowed(UNMATCHED))
    }
}

/// One route's metric handles, kept per thread: looking a labelled metric up in the recorder
/// (building its key, hashing it, locking a shard) for every request cost more than the request.
struct RouteHandles {
    duration: metrics::Histogram,
    requests: Vec<(&'static str, u16, metrics::Counter)>,
}

thread_local! {
    static HANDLES: std::cell::RefCell<std::collections::HashMap<String, RouteHandles>> = Default::default();
}

/// Counts and times one request, whatever its outcome. `route` is its [`RouteLabel`] when the
/// router put one on the reply, else the label of its path.
pub fn record_request(method: &Method, path: &str, route: Option<&RouteLabel>, status: u16, elapsed: Duration) {
    let method = method_label(method);
    let computed;
    let route: &str = match route {
        Some(label) => &label.0,
        None => {
            computed = route_label(path);
            &computed
        }
    };
    HANDLES.with(|cell| {
        let mut map = cell.borrow_mut();
        if !map.contains_key(route) {
            let duration = metrics::histogram!(HTTP_DURATION, "route" => route.to_owned());
            map.insert(route.to_owned(), RouteHandles { duration, requests: Vec::new() });
        }
        let Some(handles) = map.get_mut(route) else { return };
        let counter = match handles.requests.iter().position(|(m, s, _)| *m == method && *s == status) {
            Some(i) => &handles.requests[i].2,
            None => {
                let counter =
                    metrics::counter!(HTTP_REQUESTS, "method" => method, "route" => route.to_owned(), "status" => status.to_string());
                handles.requests.push((method, status, counter));
                &handles.requests[handles.requests.len() - 1].2
            }
        };
        counter.increment(1);
        handles.duration.record(elapsed.as_secs_f64());
    });
}

/// What `/metrics` needs beside the recorder.
#[derive(Clone)]
pub struct MetricsSettings {
    /// `--metrics-token`: the bearer token a scrape must carry.
    pub token: Option<String>,
    /// `--metrics-runs-ttl`: how long a `runhub_runs` count is reused (zero: counted per scrape).
    pub runs_ttl: Duration,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self { token: None, runs_ttl: RUN_COUNT_TTL }
    }
}

/// The `/metrics` route's state: its token and the cached run counts.
#[derive(Clone)]
pub(crate) struct Scrape {
    token_digest: Option<[u8; 32]>,
    runs_ttl: Duration,
    counts: Arc<tokio::sync::Mutex<Option<Instant>>>,
}

impl Scrape {
    pub(crate) fn new(settings: &MetricsSettings) -> Self {
        handle();
        Self {
            token_digest: settings.token.as_deref().map(digest),
            runs_ttl: settings.runs_ttl,
            counts: Arc::new(tokio::sync::Mutex::new(None)),
        }
    }
}

fn digest(text: &str) -> [u8; 32] {
    Sha256::digest(text.as_bytes()).into()
}

/// Whether the request carries the configured token (digests compared, so the comparison's time
/// says nothing about the token).
fn authorized(scrape: &Scrape, headers: &HeaderMap) -> bool {
    let Some(expected) = scrape.token_digest else { return true };
    let given = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| {
        let (scheme, token) = v.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
    });
    given.is_some_and(|t| digest(t) == expected)
}

/// Refreshes the `runhub_runs` gauges when the last count is older than the TTL. One scrape
/// counts at a time; the others reuse its figures.
async fn refresh_run_counts(state: &AppState, scrape: &Scrape) {
    let mut last = scrape.counts.lock().await;
    if last.is_some_and(|at| at.elapsed() < scrape.runs_ttl) {
        return;
    }
    match state.store.runs_by_status().await {
        Ok(counts) => {
            for (status, n) in counts {
                metrics::gauge!(RUNS, "status" => status.as_str()).set(n as f64);
            }
            *last = Some(Instant::now());
        }
        Err(e) => tracing::warn!(error = %e, "cannot count runs for /metrics; the last figures stand"),
    }
}

/// `GET /metrics`.
pub(crate) async fn scrape(State((state, scrape)): State<(AppState, Scrape)>, headers: HeaderMap) -> Response {
    if !authorized(&scrape, &headers) {
        return ApiError::new(Code::InvalidMetricsToken, "/metrics needs the bearer token set by --metrics-token")
            .with_header(header::WWW_AUTHENTICATE, "Bearer realm=\"runhub-metrics\"")
            .into_response();
    }
    refresh_run_counts(&state, &scrape).await;
    let mut response = handle().render().into_response();
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_templates() {
        let id = "7f3c8c9e-4a3e-4a39-9a77-1d3c6f0b1a20";
        for (path, label) in [
            ("/beta/industryData/runs".to_owned(), "/beta/industryData/runs"),
            (format!("/beta/industryData/runs/{id}"), "/beta/industryData/runs/{runId}"),
            (
                format!("/beta/industryData/incomingFlows/{id}/runs/{id}/process/$ref"),
                "/beta/industryData/incomingFlows/{id}/runs/{runId}/process/$ref",
            ),
            (format!("/beta/industryData/incomingFlows/{id}/runNow"), "/beta/industryData/incomingFlows/{id}/runNow"),
            (format!("/beta/industryData/runGroups/{id}/runs/$count"), "/beta/industryData/runGroups/{id}/runs/$count"),
            (format!("/beta/industryData/runGroups/{id}/runs/{id}/$ref"), "/beta/industryData/runGroups/{id}/runs/{runId}/$ref"),
            (
                format!("/beta/external/industryData/runs/{id}/activities/{id}"),
                "/beta/external/industryData/runs/{id}/activities/{activityId}",
            ),
            (
                "/beta/industryData/runs/microsoft.graph.industryData.runGroup".to_owned(),
                "/beta/industryData/runs/microsoft.graph.industryData.runGroup",
            ),
            ("/beta/industryData/runs/not-an-id".to_owned(), UNMATCHED),
            ("/beta/nothing/here".to_owned(), UNMATCHED),
            ("/wp-admin".to_owned(), UNMATCHED),
            ("/healthz".to_owned(), "/healthz"),
        ] {
            assert_eq!(route_label(&path), label, "{path}");
        }
    }
}
