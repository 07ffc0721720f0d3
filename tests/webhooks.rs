//! Change notifications (docs/webhooks.md) through the real binary and a real receiver: an HTTP
//! server in the test, on loopback (so the servers run with --webhook-allow-http and
//! --webhook-allow-private, except where the refusals are the point). The validation handshake,
//! what a notification says, resource scoping, retries, `kill -9` with the receiver down, two
//! replicas on PostgreSQL, expiry, DELETE, the outbound refusals, `missed`, tenant isolation and
//! bad input.

#[path = "common/binary.rs"]
mod binary;
#[path = "common/http.rs"]
mod http;
#[path = "common/pg.rs"]
#[allow(dead_code)]
mod pg;

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

const OPEN: [&str; 3] = ["--webhook-allow-http", "--webhook-allow-private", "--webhook-first-retry=500ms"];

// ---- the receiver --------------------------------------------------------------------------

/// How the receiver answers a notification POST.
#[derive(Debug, Clone)]
enum Answer {
    Status(u16),
    /// Waits this long, then 202.
    Slow(Duration),
    /// 500 with 10 MB of garbage.
    Flood,
}

/// How it answers the validation handshake.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Handshake {
    Echo,
    WrongEcho,
    Hang,
}

#[derive(Default)]
struct Seen {
    /// Every notification POST body, in arrival order.
    posts: Vec<Value>,
    /// Answers for the next POSTs (then 202).
    script: VecDeque<Answer>,
    in_flight: usize,
    most_in_flight: usize,
}

#[derive(Clone)]
struct Receiver {
    addr: SocketAddr,
    seen: Arc<Mutex<Seen>>,
    handshake: Arc<Mutex<Handshake>>,
    task: Arc<tokio::task::JoinHandle<()>>,
}

/// What the receiver's handler shares with the test.
type Shared = (Arc<Mutex<Seen>>, Arc<Mutex<Handshake>>);

async fn receive(State(r): State<Shared>, Query(query): Query<HashMap<String, String>>, body: String) -> Response {
    let (seen, handshake) = r;
    if let Some(token) = query.get("validationToken") {
        let mode = *handshake.lock().unwrap();
        return match mode {
            Handshake::Echo => (StatusCode::OK, [("content-type", "text/plain")], token.clone()).into_response(),
            Handshake::WrongEcho => (StatusCode::OK, [("content-type", "text/plain")], "not the token").into_response(),
            Handshake::Hang => {
                tokio::time::sleep(Duration::from_secs(30)).await;
                StatusCode::OK.into_response()
            }
        };
    }
    let answer = {
        let mut s = seen.lock().unwrap();
        s.in_flight += 1;
        s.most_in_flight = s.most_in_flight.max(s.in_flight);
        s.script.pop_front()
    };
    let response = match answer {
        None | Some(Answer::Status(202)) => StatusCode::ACCEPTED.into_response(),
        Some(Answer::Status(code)) => StatusCode::from_u16(code).unwrap().into_response(),
        Some(Answer::Slow(wait)) => {
            tokio::time::sleep(wait).await;
            StatusCode::ACCEPTED.into_response()
        }
        Some(Answer::Flood) => (StatusCode::INTERNAL_SERVER_ERROR, vec![b'x'; 10 * 1024 * 1024]).into_response(),
    };
    let mut s = seen.lock().unwrap();
    s.in_flight -= 1;
    // Only what was taken counts as received.
    if response.status().is_success() {
        s.posts.push(serde_json::from_str(&body).unwrap_or(Value::String(body)));
    }
    response
}

impl Receiver {
    async fn start() -> Self {
        Self::on(tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(), Arc::default()).await
    }

    async fn on(listener: tokio::net::TcpListener, seen: Arc<Mutex<Seen>>) -> Self {
        let addr = listener.local_addr().unwrap();
        let handshake = Arc::new(Mutex::new(Handshake::Echo));
        let app = axum::Router::new().fallback(receive).with_state((seen.clone(), handshake.clone()));
        let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, seen, handshake, task: Arc::new(task) }
    }

    /// Stops listening (connections are refused) until [`Receiver::restart`].
    fn stop(&self) {
        self.task.abort();
    }

    async fn restart(&self) -> Self {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match tokio::net::TcpListener::bind(self.addr).await {
                Ok(listener) => return Self::on(listener, self.seen.clone()).await,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot listen on {} again: {e}", self.addr),
            }
        }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.seen.lock().unwrap().script.extend(answers);
    }

    /// Every notification received so far.
    fn notifications(&self) -> Vec<Value> {
        self.seen.lock().unwrap().posts.iter().flat_map(|p| p["value"].as_array().cloned().unwrap_or_default()).collect()
    }

    /// Waits until `check` holds for the notifications received (bounded).
    async fn wait_for(&self, what: &str, check: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(40);
        loop {
            let got = self.notifications();
            if check(&got) {
                return got;
            }
            assert!(Instant::now() < deadline, "gave up waiting for {what}; received: {got:#?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The ids of the entities the notifications name, with a change type.
fn ids_of(notifications: &[Value], change: &str) -> HashSet<String> {
    notifications.iter().filter(|n| n["changeType"] == change).map(|n| n["resourceData"]["id"].as_str().unwrap().to_owned()).collect()
}

// ---- runhub ---------------------------------------------------------------------------------

/// A runhub server, or a caller of one (with a token).
struct Hub {
    server: Option<binary::Runhub>,
    /// The data directory, unless the arguments name one (or a database).
    _data: Option<tempfile::TempDir>,
    base: String,
    client: reqwest::Client,
    token: Option<String>,
}

impl Hub {
    fn start(args: &[&str]) -> Self {
        let mut all = vec!["--schedule-interval", "0"];
        all.extend_from_slice(args);
        let data = (!args.iter().any(|a| *a == "--data-dir" || *a == "--database-url")).then(|| tempfile::tempdir().unwrap());
        if let Some(dir) = &data {
            all.extend(["--data-dir", dir.path().to_str().unwrap()]);
        }
        let server = binary::spawn(&all, &[]);
        Self { base: server.base.clone(), server: Some(server), _data: data, client: reqwest::Client::new(), token: None }
    }

    /// The same server, called with `token`.
    fn with_token(&self, token: &str) -> Self {
        Self { server: None, _data: None, base: self.base.clone(), client: self.client.clone(), token: Some(token.to_owned()) }
    }

    /// SIGKILL.
    fn kill(&mut self) {
        let mut server = self.server.take().expect("a server of its own");
        server.child.kill().unwrap();
        server.child.wait().unwrap();
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let bearer = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = bearer.iter().map(|b| ("authorization", b.as_str())).collect();
        http::send(&self.client, method, &format!("{}/beta/{path}", self.base), body, &headers).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    async fn created(&self, path: &str, body: Value) -> Value {
        let (status, reply) = self.post(path, body).await;
        assert_eq!(status, 201, "POST {path}: {reply}");
        reply
    }

    async fn flow(&self) -> String {
        id(&self.created("industryData/incomingFlows", json!({"displayName": "roster", "readinessStatus": "ready"})).await)
    }

    async fn run(&self, flow: &str, name: &str) -> String {
        id(&self.created(&format!("industryData/incomingFlows/{flow}/runs"), json!({"displayName": name})).await)
    }

    async fn subscribe(&self, body: Value) -> Value {
        self.created("subscriptions", body).await
    }

    async fn metric(&self, outcome: &str) -> u64 {
        let text = self.client.get(format!("{}/metrics", self.base)).send().await.unwrap().text().await.unwrap();
        let prefix = format!("runhub_webhook_deliveries_total{{outcome=\"{outcome}\"}} ");
        text.lines().find_map(|l| l.strip_prefix(&prefix)).map(|v| v.trim().parse::<f64>().unwrap() as u64).unwrap_or(0)
    }

    /// Waits (bounded) until the subscription's `pendingNotifications` is `n`: delivery outcomes are
    /// recorded in batches a moment after the receiver answered.
    async fn wait_pending(&self, sub: &Value, n: u64) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let (_, one) = self.send(reqwest::Method::GET, &format!("subscriptions/{}", id(sub)), None).await;
            if one["pendingNotifications"].as_u64() == Some(n) {
                return;
            }
            assert!(Instant::now() < deadline, "never saw {n} pending: {one}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn id(entity: &Value) -> String {
    entity["id"].as_str().unwrap_or_else(|| panic!("no id in {entity}")).to_owned()
}

fn in_minutes(minutes: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::minutes(minutes)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn subscription(receiver: &Receiver, resource: &str, change: &str) -> Value {
    json!({"changeType": change, "notificationUrl": receiver.url(), "resource": resource, "expirationDateTime": in_minutes(60)})
}

// ---- the tests ------------------------------------------------------------------------------

#[tokio::test]
async fn the_handshake_must_echo_the_token_in_time_or_nothing_is_stored() {
    let hub = Hub::start(&OPEN);
    let receiver = Receiver::start().await;
    let made = hub.subscribe(subscription(&receiver, "industryData/runs", "created")).await;
    assert_eq!(made["resource"], "industryData/runs");
    assert_eq!(made["changeType"], "created");
    assert_eq!(made["notificationUrl"], receiver.url());
    assert!(made["applicationId"].is_null() && made["creatorId"].is_null(), "--auth none: {made}");

    *receiver.handshake.lock().unwrap() = Handshake::WrongEcho;
    let (status, error) = hub.post("subscriptions", subscription(&receiver, "industryData/runs", "created")).await;
    assert_eq!(status, 400, "{error}");
    assert_eq!(error["error"]["target"], "notificationUrl");
    assert!(error["error"]["message"].as_str().unwrap().contains("validation"), "{error}");
    assert!(error["error"]["message"].as_str().unwrap().contains("exactly match"), "{error}");

    // A good notification URL does not excuse a bad lifecycle URL.
    let good = Receiver::start().await;
    let mut body = subscription(&good, "industryData/runs", "created");
    body["lifecycleNotificationUrl"] = json!(receiver.url());
    let (status, error) = hub.post("subscriptions", body).await;
    assert_eq!((status, error["error"]["target"].as_str()), (400, Some("lifecycleNotificationUrl")), "{error}");

    *receiver.handshake.lock().unwrap() = Handshake::Hang;
    let started = Instant::now();
    let (status, error) = hub.post("subscriptions", subscription(&receiver, "industryData/runs", "created")).await;
    assert_eq!(status, 400, "{error}");
    assert!(error["error"]["message"].as_str().unwrap().contains("timed out"), "{error}");
    assert!(started.elapsed() < Duration::from_secs(25), "the handshake is bounded");

    let (_, list) = hub.send(reqwest::Method::GET, "subscriptions", None).await;
    let ids: Vec<&str> = list["value"].as_array().unwrap().iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![made["id"].as_str().unwrap()], "only the validated subscription is stored");

    // PATCH to a URL that fails the handshake changes nothing.
    let (status, error) = hub
        .send(reqwest::Method::PATCH, &format!("subscriptions/{}", id(&made)), Some(json!({"notificationUrl": receiver.url() + "2"})))
        .await;
    assert_eq!((status, error["error"]["target"].as_str()), (400, Some("notificationUrl")), "{error}");
    let (_, now) = hub.send(reqwest::Method::GET, &format!("subscriptions/{}", id(&made)), None).await;
    assert_eq!(now["notificationUrl"], receiver.url());
}

#[tokio::test]
async fn created_updated_and_deleted_arrive_with_everything_graph_sends() {
    let hub = Hub::start(&OPEN);
    let receiver = Receiver::start().await;
    let mut body = subscription(&receiver, "industryData/runs", "created,updated,deleted");
    body["clientState"] = json!("secret-42");
    let sub = hub.subscribe(body).await;
    let flow = hub.flow().await;
    let run = hub.run(&flow, "nightly").await;
    let (status, _) = hub.send(reqwest::Method::PATCH, &format!("industryData/runs/{run}"), Some(json!({"status": "failed"}))).await;
    assert_eq!(status, 200);
    let (status, _) = hub.send(reqwest::Method::DELETE, &format!("industryData/runs/{run}"), None).await;
    assert_eq!(status, 204);
    let got = receiver
        .wait_for("created, updated and deleted", |n| ["created", "updated", "deleted"].iter().all(|c| !ids_of(n, c).is_empty()))
        .await;
    let by_change = |c: &str| got.iter().find(|n| n["changeType"] == c).unwrap().clone();
    let created = by_change("created");
    let path = format!("industryData/runs/{run}");
    assert_eq!(created["subscriptionId"], sub["id"]);
    assert_eq!(created["clientState"], "secret-42");
    assert_eq!(created["resource"], path);
    assert_eq!(created["tenantId"], "00000000-0000-0000-0000-000000000000");
    assert_eq!(created["subscriptionExpirationDateTime"], sub["expirationDateTime"]);
    assert!(created["id"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(
        created["resourceData"],
        json!({"@odata.type": "#microsoft.graph.industryData.incomingFlowRun", "@odata.id": path, "@odata.etag": "\"1\"", "id": run})
    );
    assert_eq!(by_change("updated")["resourceData"]["@odata.etag"], "\"2\"");
    assert_eq!(by_change("deleted")["resourceData"]["@odata.etag"], "\"2\"", "a deletion carries the last etag");
    assert!(!ids_of(&got, "created").contains(&flow), "a runs subscription hears no flows");
    assert_eq!(hub.metric("failed").await, 0);
    assert!(hub.metric("delivered").await >= 1);
    hub.wait_pending(&sub, 0).await;
}

#[tokio::test]
async fn a_subscription_hears_only_its_resource() {
    let hub = Hub::start(&OPEN);
    let (flows, of_a, of_group, runs_created_only) =
        (Receiver::start().await, Receiver::start().await, Receiver::start().await, Receiver::start().await);
    let a = hub.flow().await;
    let b = hub.flow().await;
    let group = id(&hub.created("industryData/runGroups", json!({"displayName": "g"})).await);
    hub.subscribe(subscription(&flows, "industryData/incomingFlows", "created,updated")).await;
    hub.subscribe(subscription(&of_a, &format!("industryData/incomingFlows/{a}/runs"), "created")).await;
    hub.subscribe(subscription(&of_group, &format!("/industryData/runGroups/{group}/runs"), "created,updated")).await;
    hub.subscribe(subscription(&runs_created_only, "industryData/runs", "created")).await;
    let in_a = hub.run(&a, "a").await;
    let in_b = hub.run(&b, "b").await;
    let member = hub.run(&a, "member").await;
    let (status, reply) = hub
        .post(
            &format!("industryData/runGroups/{group}/runs/$ref"),
            json!({"@odata.id": format!("{}/beta/industryData/runs/{member}", hub.base)}),
        )
        .await;
    assert!(status == 204 || status == 200, "{reply}");
    let c = hub.flow().await;
    let (status, _) = hub.send(reqwest::Method::PATCH, &format!("industryData/runs/{in_b}"), Some(json!({"status": "completed"}))).await;
    assert_eq!(status, 200);

    let got = of_a.wait_for("both runs of flow a", |n| ids_of(n, "created").len() >= 2).await;
    assert_eq!(ids_of(&got, "created"), HashSet::from([in_a.clone(), member.clone()]));
    let got = flows.wait_for("the third flow", |n| ids_of(n, "created").contains(&c)).await;
    assert!(got.iter().all(|n| n["resource"].as_str().unwrap().starts_with("industryData/incomingFlows/")), "{got:?}");
    assert_eq!(ids_of(&got, "created"), HashSet::from([c.clone()]), "a and b were created before it");
    let got = of_group.wait_for("the member joining", |n| !n.is_empty()).await;
    assert!(got.iter().all(|n| n["resourceData"]["id"] == member), "{got:?}");
    let got = runs_created_only.wait_for("three runs", |n| ids_of(n, "created").len() >= 3).await;
    assert!(got.iter().all(|n| n["changeType"] == "created"), "no updates for a created-only subscription: {got:?}");
    // Whatever was still to come has come by now: nothing else arrived at flow a's receiver.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(ids_of(&of_a.notifications(), "created"), HashSet::from([in_a, member]));
}

#[tokio::test]
async fn failures_slow_replies_and_floods_are_retried_until_delivered() {
    let hub = Hub::start(&OPEN);
    let receiver = Receiver::start().await;
    hub.subscribe(subscription(&receiver, "industryData/runs", "created")).await;
    receiver.script([Answer::Status(500), Answer::Status(503), Answer::Slow(Duration::from_secs(5)), Answer::Flood, Answer::Status(404)]);
    let flow = hub.flow().await;
    let run = hub.run(&flow, "r").await;
    receiver.wait_for("the run, after five failed attempts", |n| ids_of(n, "created").contains(&run)).await;
    assert!(hub.metric("failed").await >= 5);
    assert!(hub.metric("delivered").await >= 1);
    assert_eq!(hub.send(reqwest::Method::GET, "industryData/runs", None).await.0, 200, "the service is fine");
}

#[tokio::test]
async fn nothing_owed_is_lost_to_a_receiver_down_and_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().to_str().unwrap().to_owned();
    let mut args = vec!["--data-dir", data.as_str()];
    args.extend_from_slice(&OPEN);
    let mut hub = Hub::start(&args);
    let receiver = Receiver::start().await;
    let sub = hub.subscribe(subscription(&receiver, "industryData/runs", "created")).await;
    receiver.stop();
    let flow = hub.flow().await;
    let mut runs = HashSet::new();
    for i in 0..5 {
        runs.insert(hub.run(&flow, &format!("run {i}")).await);
    }
    // Owed, and known to be owed, before the crash.
    hub.wait_pending(&sub, 5).await;
    hub.kill();
    hub = Hub::start(&args);
    let more = hub.run(&flow, "after the restart").await;
    runs.insert(more);
    let receiver = receiver.restart().await;
    let got = receiver.wait_for("all six runs", |n| ids_of(n, "created").len() >= 6).await;
    assert_eq!(ids_of(&got, "created"), runs);
}

#[tokio::test]
async fn two_replicas_on_postgresql_deliver_everything_and_no_batch_twice_at_once() {
    let db = pg::TestDb::create().await;
    let mut args = vec!["--database-url", db.url.as_str()];
    args.extend_from_slice(&OPEN);
    let (one, two) = (Hub::start(&args), Hub::start(&args));
    let receiver = Receiver::start().await;
    // Slow replies keep deliveries in flight long enough for the replicas to compete.
    receiver.script((0..6).map(|_| Answer::Slow(Duration::from_millis(700))));
    one.subscribe(subscription(&receiver, "industryData/runs", "created")).await;
    let flow = one.flow().await;
    let mut runs = HashSet::new();
    for i in 0..40 {
        let hub = if i % 2 == 0 { &one } else { &two };
        runs.insert(hub.run(&flow, &format!("run {i}")).await);
    }
    let got = receiver.wait_for("all forty runs", |n| ids_of(n, "created").len() >= 40).await;
    assert_eq!(ids_of(&got, "created"), runs);
    let notification_ids: Vec<&str> = got.iter().map(|n| n["id"].as_str().unwrap()).collect();
    let distinct: HashSet<&&str> = notification_ids.iter().collect();
    assert_eq!(distinct.len(), notification_ids.len(), "no notification was derived or delivered twice");
    assert!(one.metric("delivered").await + two.metric("delivered").await >= 1);
}

#[tokio::test]
async fn expiry_and_delete_stop_delivery() {
    let hub = Hub::start(&OPEN);
    let (short, deleted) = (Receiver::start().await, Receiver::start().await);
    let expires = (chrono::Utc::now() + chrono::Duration::seconds(3)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let mut body = subscription(&short, "industryData/runs", "created");
    body["expirationDateTime"] = json!(expires);
    let short_sub = hub.subscribe(body).await;
    let gone = hub.subscribe(subscription(&deleted, "industryData/runs", "created")).await;
    let flow = hub.flow().await;
    let early = hub.run(&flow, "early").await;
    short.wait_for("the early run", |n| ids_of(n, "created").contains(&early)).await;
    deleted.wait_for("the early run", |n| ids_of(n, "created").contains(&early)).await;
    assert_eq!(hub.send(reqwest::Method::DELETE, &format!("subscriptions/{}", id(&gone)), None).await.0, 204);
    assert_eq!(hub.send(reqwest::Method::GET, &format!("subscriptions/{}", id(&gone)), None).await.0, 404);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let late = hub.run(&flow, "late").await;
    // A later subscription hears it: the log was read past it.
    let witness = Receiver::start().await;
    hub.subscribe(subscription(&witness, "industryData/runs", "created")).await;
    let after = hub.run(&flow, "after").await;
    witness.wait_for("the run after", |n| ids_of(n, "created").contains(&after)).await;
    assert!(!ids_of(&short.notifications(), "created").contains(&late), "an expired subscription hears nothing");
    assert!(!ids_of(&deleted.notifications(), "created").contains(&late), "a deleted subscription hears nothing");
    let deadline = Instant::now() + Duration::from_secs(15);
    while hub.send(reqwest::Method::GET, &format!("subscriptions/{}", id(&short_sub)), None).await.0 != 404 {
        assert!(Instant::now() < deadline, "the expired subscription was never removed");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn unsafe_destinations_are_refused() {
    let receiver = Receiver::start().await;
    let port = receiver.addr.port();
    let strict = Hub::start(&[]);
    let (status, error) = strict.post("subscriptions", subscription(&receiver, "industryData/runs", "created")).await;
    assert_eq!((status, error["error"]["target"].as_str()), (400, Some("notificationUrl")), "{error}");
    assert!(error["error"]["message"].as_str().unwrap().contains("https"), "{error}");

    let http_only = Hub::start(&["--webhook-allow-http"]);
    for url in [
        format!("http://127.0.0.1:{port}/hook"),
        format!("http://localhost:{port}/hook"),
        format!("http://[::1]:{port}/hook"),
        "http://10.1.2.3/hook".to_owned(),
        "http://169.254.169.254/latest/meta-data".to_owned(),
        "https://192.168.0.1/hook".to_owned(),
    ] {
        let mut body = subscription(&receiver, "industryData/runs", "created");
        body["notificationUrl"] = json!(url);
        let (status, error) = http_only.post("subscriptions", body).await;
        assert_eq!((status, error["error"]["target"].as_str()), (400, Some("notificationUrl")), "{url}: {error}");
        assert!(error["error"]["message"].as_str().unwrap().contains("non-public"), "{url}: {error}");
        assert_eq!(error["error"]["innerError"]["code"], "notificationUrlRefused", "{url}: {error}");
    }
    let (_, list) = http_only.send(reqwest::Method::GET, "subscriptions", None).await;
    assert_eq!(list["value"], json!([]));
    assert!(receiver.notifications().is_empty());
}

#[tokio::test]
async fn notifications_given_up_on_are_reported_missed() {
    let mut args = vec!["--webhook-retry-for", "2s"];
    args.extend_from_slice(&OPEN);
    let hub = Hub::start(&args);
    let (receiver, lifecycle) = (Receiver::start().await, Receiver::start().await);
    let mut body = subscription(&receiver, "industryData/runs", "created");
    body["lifecycleNotificationUrl"] = json!(lifecycle.url());
    body["clientState"] = json!("s");
    let sub = hub.subscribe(body).await;
    receiver.script((0..100).map(|_| Answer::Status(500)));
    let flow = hub.flow().await;
    hub.run(&flow, "never delivered").await;
    let got = lifecycle.wait_for("missed", |n| !n.is_empty()).await;
    assert_eq!(
        got[0],
        json!({"subscriptionId": sub["id"], "subscriptionExpirationDateTime": sub["expirationDateTime"], "tenantId": "00000000-0000-0000-0000-000000000000", "clientState": "s", "lifecycleEvent": "missed"})
    );
    assert!(hub.metric("dropped").await >= 1);
    assert!(receiver.notifications().is_empty());
    hub.wait_pending(&sub, 0).await;
}

fn jwt(secret: &[u8], tenant: &str, scopes: &str) -> String {
    let now = jsonwebtoken::get_current_timestamp();
    let claims = json!({"iss": "runhub", "aud": "runhub", "tid": tenant, "exp": now + 3600, "nbf": now - 10, "iat": now,
        "scp": scopes, "appid": format!("app-of-{tenant}"), "oid": format!("user-of-{tenant}")});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret),
    )
    .unwrap()
}

#[tokio::test]
async fn tenants_never_hear_or_touch_each_others_subscriptions() {
    let dir = tempfile::tempdir().unwrap();
    let secret = b"0123456789abcdef0123456789abcdef-webhooks";
    let secret_file = dir.path().join("secret");
    std::fs::write(&secret_file, secret).unwrap();
    let mut args = vec!["--auth", "jwt", "--jwt-secret-file", secret_file.to_str().unwrap()];
    args.extend_from_slice(&OPEN);
    let hub = Hub::start(&args);
    let all = "IndustryData-Run.ReadWrite.All IndustryData-InboundFlow.ReadWrite.All";
    let (a, b) = (hub.with_token(&jwt(secret, "tenant-a", all)), hub.with_token(&jwt(secret, "tenant-b", all)));
    let flows_only = hub.with_token(&jwt(secret, "tenant-a", "IndustryData-InboundFlow.Read.All"));
    let receiver = Receiver::start().await;
    let sub = a.subscribe(subscription(&receiver, "industryData/runs", "created")).await;
    assert_eq!(sub["applicationId"], "app-of-tenant-a");
    assert_eq!(sub["creatorId"], "user-of-tenant-a");
    let (status, error) = flows_only.post("subscriptions", subscription(&receiver, "industryData/runs", "created")).await;
    assert_eq!(status, 403, "a runs subscription needs run read permission: {error}");
    let path = format!("subscriptions/{}", id(&sub));
    assert_eq!(b.send(reqwest::Method::GET, &path, None).await.0, 404);
    assert_eq!(b.send(reqwest::Method::PATCH, &path, Some(json!({"expirationDateTime": in_minutes(30)}))).await.0, 404);
    assert_eq!(b.send(reqwest::Method::DELETE, &path, None).await.0, 404);
    assert_eq!(b.send(reqwest::Method::GET, "subscriptions", None).await.1["value"], json!([]));
    let b_flow = b.flow().await;
    let b_run = b.run(&b_flow, "b's").await;
    let a_flow = a.flow().await;
    let a_run = a.run(&a_flow, "a's").await;
    let got = receiver.wait_for("a's run", |n| ids_of(n, "created").contains(&a_run)).await;
    assert!(!ids_of(&got, "created").contains(&b_run), "tenant a heard tenant b's run: {got:?}");
    assert!(got.iter().all(|n| n["tenantId"] == "tenant-a"));
}

#[tokio::test]
async fn bad_subscriptions_are_400s_naming_the_member_and_nothing_is_stored() {
    let hub = Hub::start(&OPEN);
    let receiver = Receiver::start().await;
    let flow = hub.flow().await;
    let missing_flow = "01a24ac0-f257-75be-91d9-2f7182158f7b";
    let cases: Vec<(&str, Value)> = vec![
        ("changeType", json!("created,moved")),
        ("changeType", json!(7)),
        ("notificationUrl", json!("not a url")),
        ("notificationUrl", json!("ftp://example.com/x")),
        ("resource", json!("industryData/nothing")),
        ("resource", json!(format!("industryData/incomingFlows/{missing_flow}/runs"))),
        ("resource", json!(format!("industryData/outgoingFlows/{flow}/runs"))),
        ("expirationDateTime", json!("2020-01-01T00:00:00Z")),
        ("expirationDateTime", json!(in_minutes(4231))),
        ("expirationDateTime", json!("tomorrow")),
        ("clientState", json!("x".repeat(256))),
        ("lifecycleNotificationUrl", json!("mailto:x@example.com")),
        ("id", json!("mine")),
        ("shade", json!("blue")),
    ];
    for (member, value) in cases {
        let mut body = subscription(&receiver, "industryData/runs", "created");
        body[member] = value.clone();
        let (status, error) = hub.post("subscriptions", body).await;
        assert_eq!((status, error["error"]["target"].as_str()), (400, Some(member)), "{member} = {value}: {error}");
    }
    for (status, text) in [
        (hub.post("subscriptions", json!([1])).await.0, "an array"),
        (hub.send(reqwest::Method::GET, "subscriptions?$top=1", None).await.0, "an option"),
        (hub.send(reqwest::Method::GET, "subscriptions/nope", None).await.0, "a bad id"),
    ] {
        assert!(status == 400 || status == 404, "{text}: {status}");
    }
    let (_, list) = hub.send(reqwest::Method::GET, "subscriptions", None).await;
    assert_eq!(list["value"], json!([]), "nothing stored");
    let sub = hub.subscribe(subscription(&receiver, &format!("industryData/incomingFlows/{flow}/runs"), "created")).await;
    let path = format!("subscriptions/{}", id(&sub));
    for (member, value) in
        [("resource", json!("industryData/runs")), ("expirationDateTime", json!("2020-01-01T00:00:00Z")), ("clientState", json!("x"))]
    {
        let (status, error) = hub.send(reqwest::Method::PATCH, &path, Some(json!({ member: value }))).await;
        assert_eq!((status, error["error"]["target"].as_str()), (400, Some(member)), "{error}");
    }
    let later = in_minutes(120);
    let (status, patched) = hub.send(reqwest::Method::PATCH, &path, Some(json!({"expirationDateTime": later}))).await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["expirationDateTime"], later);
    assert_eq!(patched["resource"], format!("industryData/incomingFlows/{flow}/runs"));
}

#[tokio::test]
async fn a_tenant_holds_at_most_100_subscriptions() {
    let hub = Hub::start(&OPEN);
    let receiver = Receiver::start().await;
    for _ in 0..100 {
        hub.subscribe(subscription(&receiver, "industryData/runs", "created")).await;
    }
    let (status, error) = hub.post("subscriptions", subscription(&receiver, "industryData/runs", "created")).await;
    assert_eq!(status, 403, "{error}");
    assert!(error["error"]["message"].as_str().unwrap().contains("100"), "{error}");
}
