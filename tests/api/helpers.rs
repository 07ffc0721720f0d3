//! Spins up a real runhub per test: the real router over HTTP on a random port, on a fresh SQLite
//! data directory — or, with `RUNHUB_TEST_STORE=postgres`, on a fresh PostgreSQL database (see
//! tests/common/pg.rs). `TestApp` is the HTTP client every test uses.

#[path = "../common/pg.rs"]
#[allow(dead_code)]
pub mod pg;

use std::path::PathBuf;
use std::sync::Arc;

use reqwest::{Method, StatusCode};
use runhub_server::{Application, Settings, StoreSettings};
use runhub_store::Store;
use runhub_store::sqlite::{Options, SqliteStore};
use serde_json::{Value, json};

#[derive(Clone)]
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub store: Arc<dyn Store>,
    pub data_dir: PathBuf,
    _dir: Arc<tempfile::TempDir>,
    /// The PostgreSQL schema the store lives in, when the suite runs on PostgreSQL; dropped with
    /// the last clone of the app.
    pub postgres: Option<Arc<pg::TestDb>>,
}

/// A reply, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| v.to_str().unwrap().to_owned())
    }

    /// Asserts a Graph error: status, top-level code, innerError.code, and that the message is there.
    #[track_caller]
    pub fn assert_error(&self, status: u16, inner_code: &str) -> Value {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        let body = self.json();
        let error = &body["error"];
        let top = match status {
            400 => "badRequest",
            404 => "itemNotFound",
            405 => "methodNotAllowed",
            409 => "conflict",
            412 => "preconditionFailed",
            413 => "payloadTooLarge",
            415 => "unsupportedMediaType",
            _ => error["code"].as_str().unwrap(),
        };
        assert_eq!(error["code"], top, "{}", self.text);
        assert_eq!(error["innerError"]["code"], inner_code, "{}", self.text);
        assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{}", self.text);
        assert!(error["innerError"]["request-id"].as_str().is_some_and(|m| !m.is_empty()), "{}", self.text);
        assert!(error["innerError"]["date"].is_string(), "{}", self.text);
        assert_eq!(self.header("content-type").as_deref(), Some("application/json;odata.metadata=minimal"));
        error.clone()
    }

    #[track_caller]
    pub fn assert_status(&self, status: u16) -> &Self {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.text);
        self
    }
}

/// The store of one test: SQLite in `dir`, or (`RUNHUB_TEST_STORE=postgres`) PostgreSQL in a schema
/// of its own.
async fn test_store(dir: &tempfile::TempDir) -> (Arc<dyn Store>, Option<Arc<pg::TestDb>>) {
    if pg::wanted() {
        let db = pg::TestDb::create().await;
        (runhub_store::open_postgres(&db.url, Default::default()).await.unwrap(), Some(Arc::new(db)))
    } else {
        (Arc::new(SqliteStore::open(dir.path(), Options::default()).await.unwrap()), None)
    }
}

/// Builds the service as `runhub serve` does and serves it in the background; its base URL.
async fn start(settings: Settings) -> String {
    let app = Application::build(settings).await.unwrap();
    let base = app.base_url();
    tokio::spawn(async move { app.run_until_stopped(std::future::pending()).await.unwrap() });
    base
}

impl TestApp {
    /// The service on a fresh store, served the way `runhub serve` serves it (the production
    /// connection loop, its limits and timeouts), without authentication.
    pub async fn spawn() -> Self {
        Self::spawn_full(runhub_server::Security::default(), runhub_server::FeedSettings::default()).await
    }

    /// Like [`TestApp::spawn`], with authentication and limits. The returned app sends no
    /// token; [`TestApp::as_caller`] gives a client that does.
    pub async fn spawn_with(security: runhub_server::Security) -> Self {
        Self::spawn_full(security, runhub_server::FeedSettings::default()).await
    }

    /// Like [`TestApp::spawn_with`], with the delta and live-stream settings `feed` (a short
    /// change retention, few streams, a quick keep-alive).
    pub async fn spawn_full(security: runhub_server::Security, feed: runhub_server::FeedSettings) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (store, postgres) = test_store(&dir).await;
        let settings = Settings { security, feed, ..Settings::new(StoreSettings::Open(store.clone())) };
        Self {
            base: start(settings).await,
            client: reqwest::Client::new(),
            store,
            data_dir: dir.path().to_owned(),
            _dir: Arc::new(dir),
            postgres,
        }
    }

    /// The same server, called with `Authorization: Bearer {token}` on every request.
    pub fn as_caller(&self, token: &str) -> TestApp {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
        TestApp { client: reqwest::Client::builder().default_headers(headers).build().unwrap(), ..self.clone_handles() }
    }

    /// Another server in front of this app's store (another auth mode, a second replica), sending no
    /// token; `configure` changes the default settings.
    pub async fn alongside(&self, configure: impl FnOnce(&mut Settings)) -> TestApp {
        let mut settings = Settings::new(StoreSettings::Open(self.store.clone()));
        configure(&mut settings);
        TestApp { base: start(settings).await, client: reqwest::Client::new(), ..self.clone_handles() }
    }

    /// A second store on this app's database — another replica of the store under test (SQLite: the
    /// same data directory; PostgreSQL: the same schema).
    pub async fn replica_store(&self) -> Arc<dyn Store> {
        match &self.postgres {
            Some(db) => runhub_store::open_postgres(&db.url, Default::default()).await.unwrap(),
            None => Arc::new(SqliteStore::open(&self.data_dir, Options::default()).await.unwrap()),
        }
    }

    fn clone_handles(&self) -> TestApp {
        TestApp {
            base: self.base.clone(),
            client: self.client.clone(),
            store: self.store.clone(),
            data_dir: self.data_dir.clone(),
            _dir: self._dir.clone(),
            postgres: self.postgres.clone(),
        }
    }

    pub fn url(&self, path: &str) -> String {
        if path.starts_with("http") { path.to_owned() } else { format!("{}{}", self.base, path) }
    }

    pub async fn send(&self, method: Method, path: &str, body: Option<&Value>, headers: &[(&str, &str)]) -> Reply {
        let mut req = self.client.request(method, self.url(path));
        if let Some(body) = body {
            req = req.header("content-type", "application/json").body(body.to_string());
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        Reply { status, headers, text }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Some(&body), &[]).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> Reply {
        self.send(Method::PATCH, path, Some(&body), &[]).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, None, &[]).await
    }

    /// Sends raw bytes with a given content type.
    pub async fn raw(&self, method: Method, path: &str, content_type: Option<&str>, body: Vec<u8>) -> Reply {
        let mut req = self.client.request(method, self.url(path)).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        Reply { status, headers, text }
    }

    /// Creates an incomingFlow (ready) and returns its id.
    pub async fn incoming_flow(&self, name: &str) -> String {
        let r = self.post("/beta/industryData/incomingFlows", json!({"displayName": name, "readinessStatus": "ready"})).await;
        r.assert_status(201);
        r.json()["id"].as_str().unwrap().to_owned()
    }

    pub async fn outgoing_flow(&self, name: &str) -> String {
        let r = self.post("/beta/industryData/outgoingFlows", json!({"displayName": name, "readinessStatus": "ready"})).await;
        r.assert_status(201);
        r.json()["id"].as_str().unwrap().to_owned()
    }

    /// Creates a run under an incomingFlow with extra properties; returns the created entity.
    pub async fn run_of(&self, flow: &str, extra: Value) -> Value {
        let mut body = json!({"displayName": "run"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = self.post(&format!("/beta/industryData/incomingFlows/{flow}/runs"), body).await;
        r.assert_status(201);
        r.json()
    }

    pub async fn group(&self, name: &str) -> String {
        let r = self.post("/beta/industryData/runGroups", json!({"displayName": name})).await;
        r.assert_status(201);
        r.json()["id"].as_str().unwrap().to_owned()
    }

    /// Every run visible through `/industryData/runs`, walking all pages.
    pub async fn all_runs(&self) -> Vec<Value> {
        self.walk("/beta/industryData/runs?$top=999").await
    }

    /// Follows `@odata.nextLink` to the end and returns every item.
    pub async fn walk(&self, first: &str) -> Vec<Value> {
        let mut out = Vec::new();
        let mut next = Some(first.to_owned());
        while let Some(url) = next {
            let r = self.get(&url).await;
            r.assert_status(200);
            let body = r.json();
            out.extend(body["value"].as_array().unwrap().iter().cloned());
            next = body["@odata.nextLink"].as_str().map(str::to_owned);
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Shared by the test modules.

pub const NS: &str = "microsoft.graph.industryData";

/// Microseconds since the epoch of a DateTimeOffset the server rendered (or a literal).
#[track_caller]
pub fn micros(text: &Value) -> i64 {
    let s = text.as_str().unwrap_or_else(|| panic!("not a DateTimeOffset string: {text}"));
    runhub_model::Timestamp::parse(s).unwrap_or_else(|e| panic!("'{s}' is not a DateTimeOffset: {e}")).micros()
}

pub fn now_micros() -> i64 {
    runhub_model::Timestamp::now().micros()
}

/// `#microsoft.graph.industryData.{name}`.
pub fn odata_type(name: &str) -> String {
    format!("#{NS}.{name}")
}

impl Reply {
    /// Asserts a Graph error about one property: status, innerError.code, `target` equal to the
    /// property, and the property named in the message.
    #[track_caller]
    pub fn assert_bad(&self, status: u16, inner_code: &str, property: &str) -> Value {
        let error = self.assert_error(status, inner_code);
        assert_eq!(error["target"], property, "target: {}", self.text);
        let message = error["message"].as_str().unwrap();
        assert!(message.contains(property), "message does not name '{property}': {message}");
        error
    }
}

impl Reply {
    /// Asserts a Graph error whose `target` is the given property or option.
    #[track_caller]
    pub fn assert_target(&self, status: u16, inner_code: &str, target: &str) -> Value {
        let error = self.assert_error(status, inner_code);
        assert_eq!(error["target"], target, "target: {}", self.text);
        error
    }
}

impl TestApp {
    pub async fn post_with(&self, path: &str, body: Value, headers: &[(&str, &str)]) -> Reply {
        self.send(Method::POST, path, Some(&body), headers).await
    }

    pub async fn patch_with(&self, path: &str, body: Value, headers: &[(&str, &str)]) -> Reply {
        self.send(Method::PATCH, path, Some(&body), headers).await
    }

    /// The absolute URL the server uses for a path below the service root (for `$ref` bodies).
    pub fn beta(&self, path: &str) -> String {
        format!("{}/beta/{}", self.base, path.trim_start_matches('/'))
    }

    /// Creates an incomingFlow with the given extra properties; returns the created entity.
    pub async fn incoming_flow_with(&self, body: Value) -> Value {
        let r = self.post("/beta/industryData/incomingFlows", body).await;
        r.assert_status(201);
        r.json()
    }

    /// Creates a run under an outgoingFlow; returns the created entity.
    pub async fn outgoing_run_of(&self, flow: &str, extra: Value) -> Value {
        let mut body = json!({"displayName": "run"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        let r = self.post(&format!("/beta/industryData/outgoingFlows/{flow}/runs"), body).await;
        r.assert_status(201);
        r.json()
    }

    /// Creates a runGroup with the given body; returns the created entity.
    pub async fn group_with(&self, body: Value) -> Value {
        let r = self.post("/beta/industryData/runGroups", body).await;
        r.assert_status(201);
        r.json()
    }

    /// Adds an existing run to a group through `runs/$ref`.
    pub async fn add_member(&self, group: &str, run: &str) {
        let url = self.beta(&format!("industryData/runs/{run}"));
        let r = self.post(&format!("/beta/industryData/runGroups/{group}/runs/$ref"), json!({"@odata.id": url})).await;
        r.assert_status(204);
    }

    /// A run, read through `/industryData/runs/{id}`.
    pub async fn run(&self, id: &str) -> Value {
        let r = self.get(&format!("/beta/industryData/runs/{id}")).await;
        r.assert_status(200);
        r.json()
    }

    /// Everything the service stores, as clients see it: every flow and every run (of every kind,
    /// with its eTag and statistics), so that any change shows as a difference.
    pub async fn snapshot_state(&self) -> Value {
        json!({
            "incomingFlows": self.walk("/beta/industryData/incomingFlows?$top=999").await,
            "outgoingFlows": self.walk("/beta/industryData/outgoingFlows?$top=999").await,
            "runs": self.all_runs().await,
        })
    }
}
