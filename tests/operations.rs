//! Operating runhub (docs/operations.md), through the real binary: `/metrics` (parsed as
//! Prometheus text), `--metrics-token`, the stale-run reaper, retention — on SQLite and on
//! PostgreSQL — `runhub backup` / `runhub restore`, the alert rules (`promtool`) and the dashboard,
//! and the exit status of bad flags. Each test runs its own server process, so the metrics it reads
//! are that server's alone.

#[path = "common/binary.rs"]
mod binary;
#[path = "common/http.rs"]
mod http;
#[path = "common/pg.rs"]
#[allow(dead_code)]
mod pg;

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use prom_text_format_parser::{self as prom, Scrape};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_runhub");

/// Where a test's server keeps its data.
enum Db {
    Sqlite(tempfile::TempDir),
    Postgres(pg::TestDb),
}

impl Db {
    async fn new(postgres: bool) -> Self {
        if postgres { Db::Postgres(pg::TestDb::create().await) } else { Db::Sqlite(tempfile::tempdir().unwrap()) }
    }

    fn args(&self) -> Vec<String> {
        match self {
            Db::Sqlite(dir) => vec!["--data-dir".into(), dir.path().to_str().unwrap().into()],
            Db::Postgres(db) => vec!["--database-url".into(), db.url.clone()],
        }
    }

    fn spawn(&self, more: &[&str]) -> binary::Runhub {
        let mut args = self.args();
        args.extend(more.iter().map(|s| (*s).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        binary::spawn(&args, &[("RUNHUB_SCHEDULE_INTERVAL", "0")])
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap()
}

async fn send(client: &reqwest::Client, method: reqwest::Method, url: String, body: Option<Value>) -> (u16, Value) {
    http::send(client, method, &url, body, &[]).await
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> Value {
    let (status, reply) = send(client, reqwest::Method::POST, url, Some(body)).await;
    assert_eq!(status, 201, "{reply}");
    reply
}

async fn get(client: &reqwest::Client, url: String) -> (u16, Value) {
    send(client, reqwest::Method::GET, url, None).await
}

fn id(entity: &Value) -> String {
    entity["id"].as_str().unwrap().to_owned()
}

/// Polls `check` until it answers `Some`, for at most `limit`.
async fn eventually<T, F: std::future::Future<Output = Option<T>>>(what: &str, limit: Duration, mut check: impl FnMut() -> F) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(Instant::now() < deadline, "gave up after {limit:?} waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn create_flow(client: &reqwest::Client, base: &str) -> String {
    id(&post(client, format!("{base}/beta/industryData/incomingFlows"), json!({"displayName": "roster", "readinessStatus": "ready"})).await)
}

async fn scrape_with(client: &reqwest::Client, base: &str, token: Option<&str>) -> (u16, String) {
    let mut request = client.get(format!("{base}/metrics"));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    if status == 200 {
        let ct = response.headers()["content-type"].to_str().unwrap().to_owned();
        assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    }
    (status, response.text().await.unwrap())
}

async fn scrape(client: &reqwest::Client, base: &str) -> Scrape {
    let (status, text) = scrape_with(client, base, None).await;
    assert_eq!(status, 200, "{text}");
    parse(&text)
}

/// The samples of family `name` that carry `labels`.
fn series<'a>(scrape: &'a Scrape, name: &str, labels: &'a [(&str, &str)]) -> impl Iterator<Item = &'a prom::Sample> + 'a {
    let name = name.to_owned();
    scrape
        .metrics
        .iter()
        .filter(move |m| m.name == name)
        .flat_map(|m| m.samples.iter())
        .filter(move |s| labels.iter().all(|(k, v)| s.labels.iter().any(|l| l.key == *k && l.value == *v)))
}

/// A counter's or gauge's value (summed over the series that carry `labels`).
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    series(scrape, name, labels).filter(|s| s.value.value_type == prom::ValueType::Sample).map(|s| s.value.value.as_f64()).sum()
}

/// How many observations a histogram holds (its `_count`, summed over the series with `labels`).
fn observations(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    series(scrape, name, labels).filter(|s| s.value.value_type == prom::ValueType::Count).map(|s| s.value.value.as_f64()).sum()
}

/// Every family, with the type it must be declared as.
const FAMILIES: &[(&str, prom::Type)] = &[
    ("runhub_http_requests_total", prom::Type::Counter),
    ("runhub_http_request_duration_seconds", prom::Type::Histogram),
    ("runhub_runs", prom::Type::Gauge),
    ("runhub_runs_finished_total", prom::Type::Counter),
    ("runhub_run_duration_seconds", prom::Type::Histogram),
    ("runhub_store_commit_duration_seconds", prom::Type::Histogram),
    ("runhub_webhook_deliveries_total", prom::Type::Counter),
    ("runhub_streams_open", prom::Type::Gauge),
    ("runhub_build_info", prom::Type::Gauge),
];

fn parse(text: &str) -> Scrape {
    Scrape::parse(text).unwrap_or_else(|e| panic!("/metrics is not Prometheus text ({e:?}):\n{text}"))
}

fn check_declared(text: &str, scrape: &Scrape) {
    for (family, kind) in FAMILIES {
        let metric = scrape.metrics.iter().find(|m| m.name == *family).unwrap_or_else(|| panic!("{family} is missing:\n{text}"));
        assert_eq!(metric.kind, *kind, "{family} is declared as a {}", metric.kind);
        assert!(metric.help_desc.as_ref().is_some_and(|d| !d.is_empty()), "no # HELP for {family}");
        assert!(!metric.samples.is_empty(), "{family} has no series");
        assert!(text.contains(&format!("# TYPE {family} {kind}\n")), "{family}");
    }
}

/// No label value is, or has a path segment that is, a UUID (no run, process or tenant id).
fn check_no_ids(scrape: &Scrape) {
    for metric in &scrape.metrics {
        for label in metric.samples.iter().flat_map(|s| s.labels.iter()) {
            let value = &label.value;
            let leaks =
                uuid::Uuid::parse_str(value).is_ok() || value.split(['/', '(', ')', '\'']).any(|seg| uuid::Uuid::parse_str(seg).is_ok());
            assert!(!leaks, "{}{{{}=\"{value}\"}} holds an id", metric.name, label.key);
        }
    }
}

async fn metrics_on(postgres: bool) {
    let db = Db::new(postgres).await;
    // Runs counted on every scrape, so that the test need not wait out the cache.
    let server = db.spawn(&["--metrics-runs-ttl", "0"]);
    let (client, base) = (client(), server.base.clone());

    // Before anything is stored or requested, every family is there with its type.
    let (_, text) = scrape_with(&client, &base, None).await;
    let first = parse(&text);
    check_declared(&text, &first);
    assert_eq!(value(&first, "runhub_build_info", &[("version", env!("CARGO_PKG_VERSION"))]), 1.0);
    assert_eq!(value(&first, "runhub_runs", &[("status", "running")]), 0.0);

    let flow = create_flow(&client, &base).await;
    let runs = format!("{base}/beta/industryData/incomingFlows/{flow}/runs");
    let done = post(&client, runs.clone(), json!({"displayName": "done"})).await;
    let (status, _) =
        send(&client, reqwest::Method::PATCH, format!("{base}/beta/industryData/runs/{}", id(&done)), Some(json!({"status": "completed"})))
            .await;
    assert_eq!(status, 200);
    post(&client, runs.clone(), json!({"displayName": "still going"})).await;
    let missing = uuid::Uuid::new_v4();
    for _ in 0..3 {
        assert_eq!(get(&client, format!("{base}/beta/industryData/runs/{missing}")).await.0, 404);
    }
    assert_eq!(send(&client, reqwest::Method::DELETE, format!("{base}/beta/industryData/incomingFlows"), None).await.0, 405);
    assert_eq!(get(&client, format!("{base}/no/such/{missing}")).await.0, 404);

    let s = scrape(&client, &base).await;
    check_no_ids(&s);
    let requests = |method: &str, route: &str, status: &str| {
        value(&s, "runhub_http_requests_total", &[("method", method), ("route", route), ("status", status)])
    };
    assert_eq!(requests("POST", "/beta/industryData/incomingFlows", "201"), 1.0);
    assert_eq!(requests("POST", "/beta/industryData/incomingFlows/{id}/runs", "201"), 2.0);
    assert_eq!(requests("PATCH", "/beta/industryData/runs/{runId}", "200"), 1.0);
    assert_eq!(requests("GET", "/beta/industryData/runs/{runId}", "404"), 3.0);
    assert_eq!(requests("DELETE", "/beta/industryData/incomingFlows", "405"), 1.0);
    assert_eq!(requests("GET", "unmatched", "404"), 1.0);
    assert_eq!(requests("GET", "/metrics", "200"), 1.0, "the first scrape is counted");
    assert_eq!(observations(&s, "runhub_http_request_duration_seconds", &[("route", "/beta/industryData/runs/{runId}")]), 4.0);
    // The runs gauge counts every tenant's runs, as the store holds them.
    assert_eq!(value(&s, "runhub_runs", &[("status", "running")]), 1.0);
    assert_eq!(value(&s, "runhub_runs", &[("status", "completed")]), 1.0);
    assert_eq!(value(&s, "runhub_runs_finished_total", &[("status", "completed"), ("kind", "incomingFlowRun")]), 1.0);
    assert_eq!(value(&s, "runhub_runs_finished_total", &[]), 1.0, "only the run that finished");
    assert_eq!(observations(&s, "runhub_run_duration_seconds", &[("kind", "incomingFlowRun")]), 1.0);
    assert!(observations(&s, "runhub_store_commit_duration_seconds", &[]) >= 4.0, "one commit per write at least");

    // Counters only move forward, with the requests.
    for _ in 0..5 {
        assert_eq!(get(&client, format!("{base}/beta/industryData/runs/{missing}")).await.0, 404);
    }
    let later = scrape(&client, &base).await;
    assert_eq!(
        value(&later, "runhub_http_requests_total", &[("method", "GET"), ("route", "/beta/industryData/runs/{runId}"), ("status", "404")]),
        8.0
    );

    // The dashboard and the alert rules use only families the service exports.
    let exported: HashSet<&str> = FAMILIES.iter().map(|(f, _)| *f).collect();
    for doc in ["docs/grafana-dashboard.json", "docs/alerts.yml"] {
        let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(doc)).unwrap();
        let mut used = 0;
        for (at, _) in text.match_indices("runhub_") {
            let name: String = text[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            let family = ["_bucket", "_sum", "_count"].iter().fold(name.as_str(), |n, suffix| n.strip_suffix(suffix).unwrap_or(n));
            assert!(exported.contains(family), "{doc} uses {name}, which runhub does not export");
            used += 1;
        }
        assert!(used > 0, "{doc} uses no runhub metric");
    }
    let dashboard = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/grafana-dashboard.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&dashboard).unwrap();
    assert!(dashboard["panels"].as_array().is_some_and(|p| p.len() >= 6), "the dashboard has its panels");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_declared_at_startup_and_count_requests_and_runs_sqlite() {
    metrics_on(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_declared_at_startup_and_count_requests_and_runs_postgres() {
    metrics_on(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_token_protects_metrics_only() {
    let db = Db::new(false).await;
    let server = db.spawn(&["--metrics-token", "s3cret-scrape"]);
    let (client, base) = (client(), server.base.clone());
    for token in [None, Some("wrong"), Some("s3cret-scrape-and-more")] {
        let (status, body) = scrape_with(&client, &base, token).await;
        assert_eq!(status, 401, "{token:?}: {body}");
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"]["code"], "unauthenticated");
        assert!(body["error"]["message"].as_str().unwrap().contains("--metrics-token"));
    }
    let (status, text) = scrape_with(&client, &base, Some("s3cret-scrape")).await;
    assert_eq!(status, 200);
    let parsed = parse(&text);
    check_declared(&text, &parsed);
    // The refusals were requests too, counted with their status.
    assert_eq!(value(&parsed, "runhub_http_requests_total", &[("route", "/metrics"), ("status", "401")]), 3.0);
    // Only /metrics: the API and the probes need no metrics token.
    assert_eq!(get(&client, format!("{base}/beta/industryData/runs")).await.0, 200);
    assert_eq!(get(&client, format!("{base}/healthz")).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_log_lines_carry_the_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = binary::spawn_logging(
        &["--data-dir", dir.path().to_str().unwrap(), "--log-format", "json"],
        &[("RUNHUB_SCHEDULE_INTERVAL", "0")],
        "info",
        Stdio::piped(),
    );
    let client = client();
    let response = client.get(format!("{}/beta/industryData/runs", server.base)).send().await.unwrap();
    let request_id = response.headers()["request-id"].to_str().unwrap().to_owned();
    let stderr = server.child.stderr.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        BufReader::new(stderr).lines().map_while(Result::ok).find(|l| l.contains("\"request\"") && l.contains("/beta/industryData/runs"))
    })
    .await
    .unwrap()
    .expect("a request log line");
    let line: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("not one JSON object per line ({e}): {line}"));
    assert_eq!(line["span"]["request_id"], request_id.as_str(), "{line}");
    assert_eq!(line["fields"]["status"], 200, "{line}");
    assert_eq!(line["fields"]["method"], "GET", "{line}");
}

/// The access log in text: one line per request with its request-id, method, path and status, every
/// one written by the time the server has stopped cleanly; `runhub_server::access=off` silences it
/// and nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_access_log_has_a_line_per_request_and_can_be_turned_off() {
    for (filter, logged) in [("info", true), ("info,runhub_server::access=off", false)] {
        let dir = tempfile::tempdir().unwrap();
        let mut server = binary::spawn_logging(
            &["--data-dir", dir.path().to_str().unwrap()],
            &[("RUNHUB_SCHEDULE_INTERVAL", "0")],
            filter,
            Stdio::piped(),
        );
        let client = client();
        let mut ids = Vec::new();
        for i in 0..50 {
            let path = if i % 2 == 0 { "/beta/industryData/runs" } else { "/beta/industryData/nothing" };
            let response = client.get(format!("{}{path}", server.base)).send().await.unwrap();
            ids.push((response.headers()["request-id"].to_str().unwrap().to_owned(), path, response.status().as_u16()));
        }
        unsafe {
            libc::kill(server.child.id() as i32, libc::SIGTERM);
        }
        let stderr = server.child.stderr.take().unwrap();
        let text = tokio::task::spawn_blocking(move || std::io::read_to_string(stderr).unwrap()).await.unwrap();
        assert!(server.child.wait().unwrap().success());
        let access: Vec<&str> = text.lines().filter(|l| l.contains("runhub_server::access")).collect();
        if !logged {
            assert!(access.is_empty(), "{text}");
            assert!(text.contains("stopped cleanly"), "the other lines are still there: {text}");
            continue;
        }
        assert_eq!(access.len(), ids.len(), "{text}");
        for (line, (id, path, status)) in access.iter().zip(&ids) {
            assert!(line.contains(&format!("request{{request_id={id}}}")), "{line}");
            assert!(line.contains(&format!("method=GET path={path} status={status} latency_ms=")), "{line}");
        }
    }
}

/// Runs created finished, with their times in the past.
fn finished_body(name: &str, flow: &str, ended_ago: chrono::Duration) -> Value {
    let end = chrono::Utc::now() - ended_ago;
    json!({
        "@odata.type": "#microsoft.graph.industryData.incomingFlowRun",
        "process@odata.bind": format!("industryData/incomingFlows/{flow}"),
        "displayName": name,
        "status": "completed",
        "startDateTime": (end - chrono::Duration::minutes(5)).to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        "endDateTime": end.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    })
}

fn running_body(name: &str, flow: &str) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.industryData.incomingFlowRun",
        "process@odata.bind": format!("industryData/incomingFlows/{flow}"),
        "displayName": name,
        "startDateTime": (chrono::Utc::now() - chrono::Duration::hours(2)).to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    })
}

async fn stop_cleanly(mut server: binary::Runhub) {
    unsafe {
        libc::kill(server.child.id() as i32, libc::SIGTERM);
    }
    let status = eventually("the server to exit after SIGTERM", Duration::from_secs(20), || {
        let exited = server.child.try_wait().unwrap();
        async move { exited }
    })
    .await;
    assert!(status.success(), "runhub exited with {status} after SIGTERM");
}

async fn reaper_on(postgres: bool) {
    let db = Db::new(postgres).await;
    let server = db.spawn(&["--run-timeout", "1s"]);
    let (client, base) = (client(), server.base.clone());
    let flow = create_flow(&client, &base).await;
    let group = post(&client, format!("{base}/beta/industryData/runGroups"), json!({"displayName": "nightly"})).await;
    let group = id(&group);
    let idle = id(&post(&client, format!("{base}/beta/industryData/runGroups/{group}/runs"), running_body("idle", &flow)).await);
    let alive =
        id(&post(&client, format!("{base}/beta/industryData/incomingFlows/{flow}/runs"), json!({"displayName": "heartbeat"})).await);

    // `runhub exec`-style heartbeats: a PATCH that changes nothing, several times per timeout.
    let beating = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let heart = {
        let (client, url, beating) = (client.clone(), format!("{base}/beta/industryData/runs/{alive}"), beating.clone());
        tokio::spawn(async move {
            while beating.load(std::sync::atomic::Ordering::SeqCst) {
                let (status, body) = send(&client, reqwest::Method::PATCH, url.clone(), Some(json!({"displayName": "heartbeat"}))).await;
                assert_eq!(status, 200, "{body}");
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
        })
    };

    let run_url = |id: &str| format!("{base}/beta/industryData/runs/{id}");
    let failed = |id: String| {
        let (client, url) = (client.clone(), run_url(&id));
        async move {
            let (status, run) = get(&client, url).await;
            assert_eq!(status, 200, "{run}");
            (run["status"] == "failed").then_some(run)
        }
    };
    let reaped = eventually("the idle run to time out", Duration::from_secs(30), || failed(idle.clone())).await;
    assert_eq!(reaped["blockingError"]["code"], "runTimedOut", "{reaped}");
    let message = reaped["blockingError"]["message"].as_str().unwrap();
    assert!(message.contains("no activity") && message.contains("1s"), "{message}");
    assert!(reaped["endDateTime"].is_string());
    // The group re-derived from its member, through the normal write path.
    let (_, g) = get(&client, run_url(&group)).await;
    assert_eq!(g["status"], "failed", "{g}");
    assert_eq!(g["statistics"]["memberRuns"]["failed"], 1, "{g}");

    // While it beats, the other run outlives further reaper passes: a second idle run, created
    // after the first was reaped, is reaped too, and the beating run is still running.
    let second =
        id(&post(&client, format!("{base}/beta/industryData/incomingFlows/{flow}/runs"), json!({"displayName": "idle too"})).await);
    eventually("the second idle run to time out", Duration::from_secs(30), || failed(second.clone())).await;
    let (_, still) = get(&client, run_url(&alive)).await;
    assert_eq!(still["status"], "running", "a run that heartbeats is never timed out: {still}");

    // Once it stops beating, it is timed out like any other.
    beating.store(false, std::sync::atomic::Ordering::SeqCst);
    heart.await.unwrap();
    eventually("the run to time out once its heartbeat stopped", Duration::from_secs(30), || failed(alive.clone())).await;

    let s = scrape(&client, &base).await;
    assert_eq!(value(&s, "runhub_runs_finished_total", &[("status", "failed"), ("kind", "incomingFlowRun")]), 3.0);
    assert_eq!(value(&s, "runhub_runs_finished_total", &[("status", "failed"), ("kind", "runGroup")]), 1.0);
    stop_cleanly(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_runs_time_out_and_heartbeats_keep_runs_alive_sqlite() {
    reaper_on(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_runs_time_out_and_heartbeats_keep_runs_alive_postgres() {
    reaper_on(true).await;
}

async fn retention_on(postgres: bool) {
    let db = Db::new(postgres).await;
    // The data is made first, by a server without retention; then a server with it starts.
    let (client, maker) = (client(), db.spawn(&[]));
    let base = maker.base.clone();
    let flow = create_flow(&client, &base).await;
    let hour = chrono::Duration::hours(1);
    let groups = format!("{base}/beta/industryData/runGroups");
    // A group still running: its old finished member goes, its running member and itself stay.
    let kept_group = id(&post(&client, groups.clone(), json!({"displayName": "still running"})).await);
    let old_member = id(&post(&client, format!("{groups}/{kept_group}/runs"), finished_body("old member", &flow, hour)).await);
    let running_member = id(&post(&client, format!("{groups}/{kept_group}/runs"), running_body("running member", &flow)).await);
    // A group that ended an hour ago: it goes, with its members.
    let old_group = id(&post(&client, groups.clone(), json!({"displayName": "done long ago"})).await);
    let mut old_members = Vec::new();
    for i in 0..3 {
        old_members.push(id(&post(&client, format!("{groups}/{old_group}/runs"), finished_body(&format!("m{i}"), &flow, hour)).await));
    }
    // Plain runs: old ones go; a running run that started long ago stays.
    let runs = format!("{base}/beta/industryData/runs");
    let mut old_runs = Vec::new();
    for i in 0..120 {
        old_runs.push(id(&post(&client, runs.clone(), finished_body(&format!("old {i}"), &flow, hour * 2)).await));
    }
    let running = id(&post(&client, runs.clone(), running_body("long running", &flow)).await);
    stop_cleanly(maker).await;
    let server = db.spawn(&["--retention", "3s"]);
    let base = server.base.clone();
    let (runs, groups) = (format!("{base}/beta/industryData/runs"), format!("{base}/beta/industryData/runGroups"));

    let gone: Vec<String> = old_runs.iter().chain(&old_members).chain([&old_member, &old_group]).cloned().collect();
    eventually("retention to delete every old finished run", Duration::from_secs(60), || {
        let (client, base, gone) = (client.clone(), base.clone(), gone.clone());
        async move {
            for id in &gone {
                if get(&client, format!("{base}/beta/industryData/runs/{id}")).await.0 != 404 {
                    return None;
                }
            }
            Some(())
        }
    })
    .await;
    for id in [&kept_group, &running_member, &running] {
        let (status, run) = get(&client, format!("{runs}/{id}")).await;
        assert_eq!(status, 200, "running runs and running groups are never deleted: {run}");
        assert_eq!(run["status"], "running", "{run}");
    }
    // The kept group's counts were re-derived as its member left.
    let (_, g) = get(&client, format!("{groups}/{kept_group}")).await;
    let counts = &g["statistics"]["memberRuns"];
    assert_eq!((counts["total"].as_i64(), counts["running"].as_i64(), counts["completed"].as_i64()), (Some(1), Some(1), Some(0)), "{g}");
    let (_, members) = get(&client, format!("{groups}/{kept_group}/runs/$count")).await;
    assert_eq!(members, json!(1));
    // Processes are never deleted by retention.
    assert_eq!(get(&client, format!("{base}/beta/industryData/incomingFlows/{flow}")).await.0, 200);
    let (_, count) = get(&client, format!("{runs}/$count")).await;
    assert_eq!(count, json!(3), "left: the running group, its running member, the running run");
    stop_cleanly(server).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_old_finished_runs_only_sqlite() {
    retention_on(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_deletes_old_finished_runs_only_postgres() {
    retention_on(true).await;
}

fn runhub(args: &[&str]) -> Output {
    Command::new(BIN).args(args).env("RUST_LOG", "warn").output().expect("run runhub")
}

fn text(output: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_under_writes_restores_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("live");
    let server = binary::spawn(&["--data-dir", path(&data)], &[("RUNHUB_SCHEDULE_INTERVAL", "0")]);
    let (client, base) = (client(), server.base.clone());
    let flow = create_flow(&client, &base).await;
    let acknowledged: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let writing = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let mut writers = Vec::new();
    for w in 0..4 {
        let (client, base, flow, acknowledged, writing) =
            (client.clone(), base.clone(), flow.clone(), acknowledged.clone(), writing.clone());
        writers.push(tokio::spawn(async move {
            let mut i = 0;
            while writing.load(std::sync::atomic::Ordering::SeqCst) {
                let run = post(
                    &client,
                    format!("{base}/beta/industryData/incomingFlows/{flow}/runs"),
                    json!({"displayName": format!("w{w}-{i}")}),
                )
                .await;
                acknowledged.lock().unwrap().push(id(&run));
                i += 1;
            }
        }));
    }
    eventually("writers to get going", Duration::from_secs(30), || {
        let n = acknowledged.lock().unwrap().len();
        async move { (n >= 200).then_some(()) }
    })
    .await;
    // Everything acknowledged before the backup begins must be in it.
    let before: Vec<String> = acknowledged.lock().unwrap().clone();
    let file = dir.path().join("backup.sqlite3");
    let backup = {
        let (data, file) = (data.clone(), file.clone());
        tokio::task::spawn_blocking(move || runhub(&["backup", "--data-dir", path(&data), "--to", path(&file)])).await.unwrap()
    };
    let during = acknowledged.lock().unwrap().len();
    writing.store(false, std::sync::atomic::Ordering::SeqCst);
    for w in writers {
        w.await.unwrap();
    }
    assert!(backup.status.success(), "{}", text(&backup));
    assert!(text(&backup).contains("backup of"), "{}", text(&backup));
    assert!(during > before.len(), "the writers kept writing while the backup was taken ({} → {during})", before.len());
    drop(server);

    let restored = dir.path().join("restored");
    let out = runhub(&["restore", "--from", path(&file), "--data-dir", path(&restored)]);
    assert!(out.status.success(), "{}", text(&out));
    let server = binary::spawn(&["--data-dir", path(&restored)], &[("RUNHUB_SCHEDULE_INTERVAL", "0")]);
    let (_, count) = get(&client, format!("{}/beta/industryData/runs/$count", server.base)).await;
    assert!(count.as_u64().unwrap() >= before.len() as u64, "{count}");
    let mut missing = Vec::new();
    for id in &before {
        if get(&client, format!("{}/beta/industryData/runs/{id}", server.base)).await.0 != 200 {
            missing.push(id.clone());
        }
    }
    assert!(missing.is_empty(), "{} acknowledged runs are missing from the backup: {missing:?}", missing.len());
    // The backup leaves the run-name index out; the restored server rebuilds it. Substring filters
    // answer as a scan does (a `tolower` haystack is never served by the index) while it does and
    // after.
    let counts = |needle: &'static str| {
        let (client, base) = (client.clone(), server.base.clone());
        async move {
            let indexed = get(&client, format!("{base}/beta/industryData/runs/$count?$filter=contains(displayName,'{needle}')")).await.1;
            let scanned =
                get(&client, format!("{base}/beta/industryData/runs/$count?$filter=contains(tolower(displayName),'{needle}')")).await.1;
            (indexed, scanned)
        }
    };
    for needle in ["w0-", "w3-1", "-10"] {
        let (indexed, scanned) = counts(needle).await;
        assert_eq!(indexed, scanned, "contains '{needle}'");
        assert!(scanned.as_u64().unwrap() > 0, "contains '{needle}'");
    }
    tokio::time::sleep(Duration::from_millis(600)).await;
    for needle in ["w0-", "w3-1", "-10"] {
        let (indexed, scanned) = counts(needle).await;
        assert_eq!(indexed, scanned, "contains '{needle}', once indexed");
    }
}

fn digest_dir(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restore_refuses_what_it_cannot_trust_and_leaves_the_target_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let (source, target) = (dir.path().join("source"), dir.path().join("target"));
    let client = client();
    // The target holds a database with one flow; the backup another with one flow and one run.
    let make = |data: &PathBuf| binary::spawn(&["--data-dir", path(data)], &[("RUNHUB_SCHEDULE_INTERVAL", "0")]);
    let server = make(&source);
    let flow = create_flow(&client, &server.base).await;
    let run =
        id(&post(&client, format!("{}/beta/industryData/incomingFlows/{flow}/runs", server.base), json!({"displayName": "kept"})).await);
    let backup = dir.path().join("good.sqlite3");
    let out = runhub(&["backup", "--data-dir", path(&source), "--to", path(&backup)]);
    assert!(out.status.success(), "{}", text(&out));
    // A backup is never written over an existing file.
    let again = runhub(&["backup", "--data-dir", path(&source), "--to", path(&backup)]);
    assert!(!again.status.success() && text(&again).contains("already exists"), "{}", text(&again));
    stop_cleanly(server).await;
    let server = make(&target);
    create_flow(&client, &server.base).await;
    stop_cleanly(server).await;
    let untouched = digest_dir(&target);

    // A non-empty target needs --force.
    let out = runhub(&["restore", "--from", path(&backup), "--data-dir", path(&target)]);
    assert!(!out.status.success() && text(&out).contains("--force"), "{}", text(&out));
    assert_eq!(digest_dir(&target), untouched);

    // Not a runhub database: a text file, and an SQLite database of something else.
    let not_sqlite = dir.path().join("notes.txt");
    std::fs::write(&not_sqlite, "these are not the runs you are looking for\n".repeat(200)).unwrap();
    let other = dir.path().join("other.sqlite3");
    rusqlite::Connection::open(&other).unwrap().execute_batch("CREATE TABLE runs (x); PRAGMA user_version = 1;").unwrap();
    // A runhub backup with damaged pages.
    let corrupt = dir.path().join("corrupt.sqlite3");
    let mut bytes = std::fs::read(&backup).unwrap();
    assert!(bytes.len() > 3 * 4096, "the backup has several pages");
    let end = bytes.len() - 1024;
    for b in &mut bytes[4096..end] {
        *b ^= 0x5a;
    }
    std::fs::write(&corrupt, bytes).unwrap();
    let missing = dir.path().join("nothing-here.sqlite3");
    for (file, says) in [
        (&not_sqlite, "not a usable runhub database"),
        (&other, "not one of runhub's"),
        (&corrupt, "not a usable runhub database"),
        (&missing, "no file"),
    ] {
        let out = runhub(&["restore", "--from", path(file), "--data-dir", path(&target), "--force"]);
        assert!(!out.status.success(), "{file:?} was restored: {}", text(&out));
        assert!(text(&out).contains(says), "{file:?}: {}", text(&out));
        assert_eq!(digest_dir(&target), untouched, "{file:?} left the target changed");
    }

    // With --force, a good backup replaces the target whole.
    let out = runhub(&["restore", "--from", path(&backup), "--data-dir", path(&target), "--force"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("1 runs, 1 processes"), "{}", text(&out));
    let server = make(&target);
    let (status, restored) = get(&client, format!("{}/beta/industryData/runs/{run}", server.base)).await;
    assert_eq!(status, 200, "{restored}");
    let (_, flows) = get(&client, format!("{}/beta/industryData/incomingFlows/$count", server.base)).await;
    assert_eq!(flows, json!(1), "the target's own flow is gone: it was replaced, not merged");
    let leftovers: Vec<String> = digest_dir(&target).into_keys().filter(|n| n.ends_with(".tmp")).collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn bad_flags_exit_2_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap();
    for (args, says) in [
        (&["--run-timeout", "soon"][..], "--run-timeout"),
        (&["--run-timeout", "0"], "--run-timeout"),
        (&["--retention=-3d"], "--retention"),
        (&["--retention", "forever"], "--retention"),
        (&["--schedule-interval", "often"], "--schedule-interval"),
        (&["--rate-limit", "0"], "--rate-limit"),
        (&["--header-timeout", "0"], "--header-timeout"),
        (&["--database-url", "mysql://db.example/runhub"], "--database-url"),
        (&["--metrics-token", " "], "--metrics-token"),
        (&["--log-format", "xml"], "--log-format"),
    ] {
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0", "--data-dir", data])
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("runhub serve {args:?} did not exit: it started despite a bad flag");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert_eq!(status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?} must name {says}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// docs/alerts.yml is valid Prometheus rules (promtool from the Debian package `prometheus`,
/// which .ci/run installs).
#[test]
fn alert_rules_pass_promtool() {
    let rules = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/alerts.yml");
    let out = Command::new("promtool")
        .args(["check", "rules", path(&rules)])
        .output()
        .unwrap_or_else(|e| panic!("promtool is needed (apt-get install prometheus; .ci/run does): {e}"));
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("SUCCESS"), "{}", text(&out));
}
