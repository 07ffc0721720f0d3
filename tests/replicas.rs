//! Several stateless replicas on one PostgreSQL database behave as one service, and a
//! database that goes away gives 503 + Retry-After within the configured timeout, then recovers.
//!
//! Each test makes its own database (tests/common/pg.rs). Replicas are either real `runhub serve`
//! processes or real routers, each with its own store and connection pool — nothing shared but the
//! database. These tests always need PostgreSQL: without one they fail, saying how to provide it.

#[path = "common/binary.rs"]
mod binary;
#[path = "common/pg.rs"]
#[allow(dead_code)]
mod pg;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use runhub_store::postgres::Options;
use serde_json::{Value, json};

const NS: &str = "#microsoft.graph.industryData";

#[path = "common/http.rs"]
#[allow(dead_code)]
mod http;
#[path = "common/replica.rs"]
mod replica;

use replica::Replica;

/// A replica with its own PostgreSQL store (and pool).
async fn replica(url: &str, options: Options) -> Replica {
    replica::serve(runhub_store::open_postgres(url, options).await.unwrap()).await
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap()
}

async fn send(
    c: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    http::send_with_headers(c, method, &url, body, headers).await
}

async fn post(c: &reqwest::Client, url: String, body: Value) -> Value {
    let (status, _, body) = send(c, reqwest::Method::POST, url, Some(body), &[]).await;
    assert_eq!(status, 201, "{body}");
    body
}

async fn get(c: &reqwest::Client, url: String) -> Value {
    let (status, _, body) = send(c, reqwest::Method::GET, url, None, &[]).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn flow(c: &reqwest::Client, base: &str) -> String {
    let body = post(c, format!("{base}/beta/industryData/incomingFlows"), json!({"displayName": "f", "readinessStatus": "ready"})).await;
    body["id"].as_str().unwrap().to_owned()
}

// ---- two real binaries -------------------------------------------------------------------------

type Binary = binary::Runhub;

fn start_binary(url: &str) -> Binary {
    binary::spawn(&["--db-pool-size", "4", "--db-timeout", "5"], &[("RUNHUB_DATABASE_URL", url)])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runhub_processes_write_through_one_and_read_through_the_other() {
    let db = pg::TestDb::create().await;
    // Started together: the migrations run once (advisory lock), the token secret is made once.
    let (a, b) = (start_binary(&db.url), start_binary(&db.url));
    let c = client();

    let flow_id = flow(&c, &a.base).await;
    let run = post(&c, format!("{}/beta/industryData/incomingFlows/{flow_id}/runs", a.base), json!({"displayName": "nightly"})).await;
    let id = run["id"].as_str().unwrap();

    let seen = get(&c, format!("{}/beta/industryData/runs/{id}", b.base)).await;
    assert_eq!(seen["displayName"], "nightly");
    assert_eq!(seen["@odata.etag"], run["@odata.etag"]);

    let (status, _, patched) = send(
        &c,
        reqwest::Method::PATCH,
        format!("{}/beta/industryData/runs/{id}", b.base),
        Some(json!({"status": "completed", "statistics": {"people": 3}})),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    let back = get(&c, format!("{}/beta/industryData/runs/{id}", a.base)).await;
    assert_eq!(back["status"], "completed");
    assert_eq!(back["statistics"]["people"], 3);
    assert_eq!(back["@odata.etag"], patched["@odata.etag"]);

    // A nextLink minted by one process is honoured by the other (shared secret).
    for i in 0..4 {
        post(&c, format!("{}/beta/industryData/incomingFlows/{flow_id}/runs", a.base), json!({"displayName": format!("r{i}")})).await;
    }
    let first = get(&c, format!("{}/beta/industryData/runs?$top=2", a.base)).await;
    let next = first["@odata.nextLink"].as_str().unwrap().replace(&a.base, &b.base);
    let second = get(&c, next).await;
    assert_eq!(second["value"].as_array().unwrap().len(), 2);
}

// ---- routers in this process -------------------------------------------------------------------

async fn two_replicas() -> (pg::TestDb, Replica, Replica) {
    let db = pg::TestDb::create().await;
    let options = Options { pool_size: 8, timeout: Duration::from_secs(10) };
    let a = replica(&db.url, options.clone()).await;
    let b = replica(&db.url, options).await;
    (db, a, b)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_patches_with_one_if_match_through_two_replicas_one_wins() {
    let (_db, a, b) = two_replicas().await;
    let c = client();
    let flow_id = flow(&c, &a.base).await;
    let run = post(&c, format!("{}/beta/industryData/incomingFlows/{flow_id}/runs", a.base), json!({"displayName": "r"})).await;
    let id = run["id"].as_str().unwrap().to_owned();
    let mut etag = run["@odata.etag"].as_str().unwrap().to_owned();
    for round in 0..25 {
        let patch = |base: String, n: i64| {
            let (c, id, etag) = (c.clone(), id.clone(), etag.clone());
            tokio::spawn(async move {
                send(
                    &c,
                    reqwest::Method::PATCH,
                    format!("{base}/beta/industryData/runs/{id}"),
                    Some(json!({"statistics": {"writer": n}})),
                    &[("If-Match", etag.as_str())],
                )
                .await
            })
        };
        let (x, y) = tokio::join!(patch(a.base.clone(), 1), patch(b.base.clone(), 2));
        let (x, y) = (x.unwrap(), y.unwrap());
        let mut statuses = [x.0.as_u16(), y.0.as_u16()];
        statuses.sort();
        assert_eq!(statuses, [200, 412], "round {round}: {} / {}", x.2, y.2);
        let winner = if x.0 == 200 { &x } else { &y };
        let loser = if x.0 == 200 { &y } else { &x };
        assert_eq!(loser.2["error"]["code"], "preconditionFailed");
        // The stored state is the winner's, and its tag is the next one to use.
        let now = get(&c, format!("{}/beta/industryData/runs/{id}", b.base)).await;
        assert_eq!(now["statistics"]["writer"], winner.2["statistics"]["writer"]);
        etag = now["@odata.etag"].as_str().unwrap().to_owned();
        assert_eq!(Some(etag.as_str()), winner.1.get("etag").and_then(|v| v.to_str().ok()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn group_derivation_has_no_lost_update_when_members_finish_at_once_on_two_replicas() {
    let (_db, a, b) = two_replicas().await;
    let c = client();
    let flow_id = flow(&c, &a.base).await;
    let bind = format!("{}/beta/industryData/incomingFlows/{flow_id}", a.base);
    let finishes = ["failed", "completed", "completedWithErrors", "completedWithWarnings"];
    for round in 0..20 {
        let group = post(&c, format!("{}/beta/industryData/runGroups", a.base), json!({"displayName": format!("g{round}")})).await;
        let gid = group["id"].as_str().unwrap().to_owned();
        let members = 2 + round % 3;
        let mut ids = Vec::new();
        for m in 0..members {
            let run = post(
                &c,
                format!("{}/beta/industryData/runGroups/{gid}/runs", if m % 2 == 0 { &a.base } else { &b.base }),
                json!({"@odata.type": format!("{NS}.incomingFlowRun"), "displayName": format!("m{m}"), "process@odata.bind": bind}),
            )
            .await;
            ids.push(run["id"].as_str().unwrap().to_owned());
        }
        // Every member finishes at the same moment, alternating replicas.
        let mut tasks = Vec::new();
        for (m, id) in ids.iter().enumerate() {
            let base = if m % 2 == 0 { a.base.clone() } else { b.base.clone() };
            let (c, id, status) = (c.clone(), id.clone(), finishes[(round + m) % finishes.len()]);
            tasks.push(tokio::spawn(async move {
                send(&c, reqwest::Method::PATCH, format!("{base}/beta/industryData/runs/{id}"), Some(json!({"status": status})), &[]).await
            }));
        }
        let mut ends = Vec::new();
        for t in tasks {
            let (status, _, body) = t.await.unwrap();
            assert_eq!(status, 200, "round {round}: {body}");
            ends.push(body["endDateTime"].as_str().unwrap().to_owned());
        }
        let g = get(&c, format!("{}/beta/industryData/runGroups/{gid}", b.base)).await;
        let counts = &g["statistics"]["memberRuns"];
        assert_eq!(counts["total"], members as i64, "round {round}: {g}");
        assert_eq!(counts["running"], 0, "round {round}: a member's finish was lost: {g}");
        let count = |s: &str| ids.iter().enumerate().filter(|(m, _)| finishes[(round + m) % finishes.len()] == s).count() as i64;
        for s in finishes {
            assert_eq!(counts[s], count(s), "round {round}, {s}: {g}");
        }
        let worst = ["failed", "completedWithErrors", "completedWithWarnings", "completed"].into_iter().find(|s| count(s) > 0).unwrap();
        assert_eq!(g["status"], worst, "round {round}: {g}");
        let latest = ends.iter().map(|e| runhub_model::Timestamp::parse(e).unwrap().micros()).max().unwrap();
        assert_eq!(runhub_model::Timestamp::parse(g["endDateTime"].as_str().unwrap()).unwrap().micros(), latest, "round {round}");
    }
    // The stored counts kept up with both replicas' concurrent writes: they agree with a scan.
    for status in ["running", "failed", "completed", "completedWithErrors", "completedWithWarnings"] {
        for scope in ["runs", "runGroups", &format!("incomingFlows/{flow_id}/runs")] {
            let counted = get(&c, format!("{}/beta/industryData/{scope}/$count?$filter=status eq '{status}'", a.base)).await;
            let filter = format!("status eq '{status}' and displayName ne 'no-such-name'");
            let scanned = get(&c, format!("{}/beta/industryData/{scope}/$count?$filter={filter}", b.base)).await;
            assert_eq!(counted, scanned, "{scope}, {status}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_link_from_one_replica_works_on_the_other() {
    let (_db, a, b) = two_replicas().await;
    let c = client();
    let flow_id = flow(&c, &a.base).await;
    for i in 0..7 {
        post(&c, format!("{}/beta/industryData/incomingFlows/{flow_id}/runs", b.base), json!({"displayName": format!("r{i}")})).await;
    }
    // Walk the pages, alternating replicas link by link.
    let mut seen = Vec::new();
    let mut next = Some(format!("{}/beta/industryData/runs?$top=2&$filter=startswith(displayName,'r')&$count=true", a.base));
    let mut hop = 0;
    while let Some(url) = next {
        let page = get(&c, url).await;
        assert_eq!(page["@odata.count"], 7);
        seen.extend(page["value"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_owned()));
        hop += 1;
        let (from, to) = if hop % 2 == 1 { (&a.base, &b.base) } else { (&b.base, &a.base) };
        next = page["@odata.nextLink"].as_str().map(|l| l.replace(from.as_str(), to));
    }
    let unique: std::collections::BTreeSet<_> = seen.iter().collect();
    assert_eq!((seen.len(), unique.len()), (7, 7));
}

// ---- database faults ---------------------------------------------------------------------------

const OPEN: u8 = 0;
/// Connections are refused at once (a stopped server).
const REFUSE: u8 = 1;
/// Connections are accepted and never answered (a network that drops packets).
const BLACKHOLE: u8 = 2;

/// A TCP proxy between runhub and PostgreSQL that a test can cut and restore.
struct Proxy {
    addr: std::net::SocketAddr,
    mode: Arc<AtomicU8>,
    links: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl Proxy {
    async fn start(upstream: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mode = Arc::new(AtomicU8::new(OPEN));
        let links: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>> = Arc::default();
        let (m, l) = (mode.clone(), links.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let upstream = upstream.clone();
                let task = match m.load(Ordering::SeqCst) {
                    OPEN => tokio::spawn(async move {
                        if let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await {
                            let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    }),
                    // Hold the socket open, say nothing.
                    BLACKHOLE => tokio::spawn(async move {
                        let _held = inbound;
                        std::future::pending::<()>().await;
                    }),
                    _ => continue, // dropped: the peer sees the connection closed
                };
                l.lock().unwrap().push(task);
            }
        });
        Self { addr, mode, links, accept }
    }

    /// Switches mode and severs every live connection.
    fn set(&self, mode: u8) {
        self.mode.store(mode, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.set(REFUSE);
        self.accept.abort();
    }
}

/// Host and port of the PostgreSQL server a URL names (for the proxy's upstream).
fn upstream_of(url: &str) -> String {
    let config: tokio_postgres::Config = url.parse().unwrap();
    let host = match config.get_hosts().first() {
        Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
        _ => "127.0.0.1".to_owned(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!("{host}:{port}")
}

/// The URL `url` with its host and port replaced by the proxy's.
fn via(url: &str, proxy: std::net::SocketAddr) -> String {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (userinfo, after) = match rest.rsplit_once('@') {
        Some((u, a)) => (format!("{u}@"), a),
        None => (String::new(), rest),
    };
    let path = after.find(['/', '?']).map_or("", |i| &after[i..]);
    format!("{scheme}://{userinfo}{proxy}{path}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_gives_503_with_retry_after_in_time_then_recovers() {
    let db = pg::TestDb::create().await;
    let proxy = Proxy::start(upstream_of(&db.url)).await;
    let timeout = Duration::from_secs(2);
    let app = replica(&via(&db.url, proxy.addr), Options { pool_size: 4, timeout }).await;
    let c = client();
    let flow_id = flow(&c, &app.base).await;
    let runs_url = format!("{}/beta/industryData/incomingFlows/{flow_id}/runs", app.base);
    post(&c, runs_url.clone(), json!({"displayName": "before"})).await;

    for mode in [REFUSE, BLACKHOLE] {
        proxy.set(mode);
        for (method, url, body) in [
            (reqwest::Method::GET, runs_url.clone(), None),
            (reqwest::Method::POST, runs_url.clone(), Some(json!({"displayName": "during"}))),
            (reqwest::Method::GET, format!("{}/healthz", app.base), None),
        ] {
            let started = Instant::now();
            let (status, headers, body) = send(&c, method.clone(), url.clone(), body, &[]).await;
            let took = started.elapsed();
            assert_eq!(status, 503, "mode {mode}, {method} {url}: {body}");
            assert!(headers.contains_key("retry-after"), "mode {mode}, {method} {url}: no Retry-After");
            assert!(headers.contains_key("request-id"));
            assert_eq!(body["error"]["code"], "serviceNotAvailable", "{body}");
            // Within the configured timeout (plus scheduling slack), never a hang.
            assert!(took <= timeout + Duration::from_millis(1500), "mode {mode}, {method} {url}: took {took:?}");
        }
    }

    // The database comes back: the service recovers by itself.
    proxy.set(OPEN);
    let started = Instant::now();
    loop {
        let (status, _, _) = send(&c, reqwest::Method::GET, format!("{}/healthz", app.base), None, &[]).await;
        if status == 200 {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "did not recover: /healthz still {status}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    post(&c, runs_url.clone(), json!({"displayName": "after"})).await;
    let runs = get(&c, runs_url).await;
    let mut names: Vec<_> = runs["value"].as_array().unwrap().iter().map(|r| r["displayName"].as_str().unwrap().to_owned()).collect();
    names.sort();
    // The writes refused while the database was away did not happen; the others are all there.
    assert_eq!(names, ["after", "before"]);
}

// ---- replicas: the scheduler's claim and the on-demand start limit ------------------

async fn two_stores() -> (pg::TestDb, std::sync::Arc<dyn runhub_store::Store>, std::sync::Arc<dyn runhub_store::Store>) {
    let db = pg::TestDb::create().await;
    let options = Options { pool_size: 4, timeout: Duration::from_secs(10) };
    let a = runhub_store::open_postgres(&db.url, options.clone()).await.unwrap();
    let b = runhub_store::open_postgres(&db.url, options).await.unwrap();
    (db, a, b)
}

async fn ready_flow(store: &std::sync::Arc<dyn runhub_store::Store>, tenant: &runhub_model::TenantId) {
    let new = runhub_model::NewProcess {
        kind: runhub_model::ProcessKind::IncomingFlow,
        display_name: runhub_model::DisplayName::from_stored("flow".into()),
        readiness_status: runhub_model::ReadinessStatus::Ready,
        data_domain: None,
        recurrence_start: None,
        recurrence_end: None,
    };
    store.create_process(tenant, new).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_run_is_started_by_exactly_one_replica() {
    let (_db, a, b) = two_stores().await;
    let tenant = runhub_model::TenantId::default_tenant();
    ready_flow(&a, &tenant).await;
    let interval = 1_000_000; // 1 s, in microseconds
    let start = runhub_model::Timestamp::now().micros();
    // The first tick gives the tenant its schedule row, due one interval later.
    a.claim_scheduled_runs(runhub_model::Timestamp::from_micros(start), interval).await.unwrap();
    for tick in 1..=10 {
        let now = runhub_model::Timestamp::from_micros(start + tick * interval);
        let (x, y) = tokio::join!(a.claim_scheduled_runs(now, interval), b.claim_scheduled_runs(now, interval));
        let started: Vec<_> = x.unwrap().into_iter().chain(y.unwrap()).filter(|s| s.group.is_some()).collect();
        assert_eq!(started.len(), 1, "tick {tick}: {started:?}");
    }
    let groups = a
        .count_runs(
            &tenant,
            &runhub_store::RunScope { parent: runhub_store::RunParent::All, kind: Some(runhub_model::RunKind::RunGroup) },
            None,
        )
        .await
        .unwrap();
    assert_eq!(groups, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_demand_starts_through_two_replicas_respect_the_limit() {
    let (_db, a, b) = two_stores().await;
    let tenant = runhub_model::TenantId::default_tenant();
    ready_flow(&a, &tenant).await;
    let policy = runhub_store::StartPolicy { max_starts: 3, ..Default::default() };
    let mut started = 0;
    for round in 0..4 {
        let now = runhub_model::Timestamp::now();
        let (x, y) = tokio::join!(a.start_run_group(&tenant, now, &policy), b.start_run_group(&tenant, now, &policy));
        for outcome in [x.unwrap(), y.unwrap()] {
            match outcome {
                runhub_store::StartOutcome::Started(_) => started += 1,
                runhub_store::StartOutcome::Throttled { .. } => {}
                other => panic!("round {round}: {other:?}"),
            }
        }
    }
    // Eight attempts at once in pairs, three allowed: never a fourth because two counted together.
    assert_eq!(started, 3);
}
