//! `POST /beta/$batch` (docs/batch.md): each request of a batch is answered exactly as if it had
//! been sent alone — compared here reply by reply — with its own permissions, tenant and rate
//! limit; `dependsOn` orders requests and turns failed dependencies into 424; a malformed batch is
//! refused whole and runs nothing; a request that points outside the service is refused alone.

use std::collections::BTreeMap;

use reqwest::Method;
use runhub_server::limits::Limits;
use serde_json::{Value, json};

use crate::helpers::{Reply, TestApp};
use crate::limits::TINY_RATE;
use crate::tokens::{ALL, FLOW_READ, RUN_READ, jwt, secured, token};

async fn batch(app: &TestApp, requests: Value) -> Reply {
    app.post("/beta/$batch", json!({ "requests": requests })).await
}

/// The replies of a batch that was answered 200, by id, after checking they come in request order.
#[track_caller]
fn replies(reply: &Reply, requests: &Value) -> BTreeMap<String, Value> {
    reply.assert_status(200);
    assert_eq!(reply.header("content-type").as_deref(), Some("application/json;odata.metadata=minimal"));
    let body = reply.json();
    let responses = body["responses"].as_array().unwrap_or_else(|| panic!("no responses: {}", reply.text));
    let sent: Vec<&Value> = requests.as_array().unwrap().iter().map(|r| &r["id"]).collect();
    let got: Vec<&Value> = responses.iter().map(|r| &r["id"]).collect();
    assert_eq!(got, sent, "one reply per request, in request order");
    for r in responses {
        if r.get("body").is_some() {
            assert!(r["headers"]["Content-Type"].is_string(), "a reply with a body names its Content-Type: {r}");
        }
        assert!(r["headers"]["request-id"].as_str().is_some_and(|id| !id.is_empty()), "every reply has its own request-id: {r}");
    }
    responses.iter().map(|r| (r["id"].as_str().unwrap().to_owned(), r.clone())).collect()
}

/// Asserts a Graph error inside a batch reply.
#[track_caller]
fn assert_item_error(reply: &Value, status: u16, inner_code: &str) -> Value {
    assert_eq!(reply["status"], status, "{reply}");
    let error = &reply["body"]["error"];
    assert_eq!(error["innerError"]["code"], inner_code, "{reply}");
    assert!(error["message"].as_str().is_some_and(|m| !m.is_empty()), "{reply}");
    assert_eq!(error["innerError"]["request-id"], reply["headers"]["request-id"], "{reply}");
    assert_eq!(reply["headers"]["Content-Type"], "application/json;odata.metadata=minimal", "{reply}");
    error.clone()
}

/// A reply reduced to what must be equal whether a request came alone or in a batch: status, the
/// headers a client reads, and the body with the values that differ between any two requests
/// (request ids, error dates; with `fresh`, also ids and times of what the request created).
#[derive(Debug, PartialEq)]
struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Value,
}

const KEY_HEADERS: [&str; 11] = [
    "content-type",
    "etag",
    "location",
    "odata-entityid",
    "preference-applied",
    "odata-version",
    "client-request-id",
    "allow",
    "retry-after",
    "www-authenticate",
    "request-id",
];

fn is_uuid(s: &str) -> bool {
    s.len() == 36 && s.char_indices().all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_hexdigit() })
}

/// Replaces every UUID inside a text with `<id>`.
fn without_ids(text: &str) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < text.len() {
        if text.is_char_boundary(i) && text.len() >= i + 36 && text.is_char_boundary(i + 36) && is_uuid(&text[i..i + 36]) {
            out.push_str("<id>");
            i += 36;
        } else {
            let c = text[i..].chars().next().unwrap();
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

fn normalize(value: &mut Value, fresh: bool) {
    match value {
        Value::Object(map) => {
            for (key, v) in map.iter_mut() {
                match key.as_str() {
                    "request-id" | "date" => *v = json!("<varies>"),
                    "startDateTime" | "endDateTime" if fresh && !v.is_null() => *v = json!("<time>"),
                    _ => normalize(v, fresh),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| normalize(v, fresh)),
        Value::String(s) if fresh => *s = without_ids(s),
        _ => {}
    }
}

impl Answer {
    fn new(status: u16, headers: BTreeMap<String, String>, mut body: Value, fresh: bool) -> Self {
        // Header names compare case-insensitively.
        let mut headers: BTreeMap<String, String> =
            headers.into_iter().map(|(k, v)| (k.to_ascii_lowercase(), v)).filter(|(k, _)| KEY_HEADERS.contains(&k.as_str())).collect();
        assert!(headers.get("request-id").is_some_and(|v| !v.is_empty()), "no request-id: {headers:?}");
        headers.insert("request-id".into(), "<varies>".into());
        if fresh {
            headers.values_mut().for_each(|v| *v = without_ids(v));
        }
        normalize(&mut body, fresh);
        Self { status, headers, body }
    }

    fn of_reply(reply: &Reply, fresh: bool) -> Self {
        let headers = reply.headers.iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap().to_owned())).collect();
        let json = reply.header("content-type").is_some_and(|c| c.contains("json"));
        let body = if reply.text.is_empty() {
            Value::Null
        } else if json {
            reply.json()
        } else {
            Value::String(reply.text.clone())
        };
        Self::new(reply.status.as_u16(), headers, body, fresh)
    }

    fn of_item(item: &Value, fresh: bool) -> Self {
        let headers = item["headers"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned())).collect();
        Self::new(item["status"].as_u64().unwrap() as u16, headers, item.get("body").cloned().unwrap_or(Value::Null), fresh)
    }
}

/// One request, sent in a batch item or alone.
struct Case {
    method: &'static str,
    url: String,
    headers: Vec<(&'static str, String)>,
    body: Option<Value>,
    /// In a batch, the items (by position) this one waits for; alone, cases run in order anyway.
    depends_on: Vec<usize>,
}

fn case(method: &'static str, url: impl Into<String>) -> Case {
    Case { method, url: url.into(), headers: Vec::new(), body: None, depends_on: Vec::new() }
}

impl Case {
    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name, value.into()));
        self
    }

    fn after(mut self, item: usize) -> Self {
        self.depends_on.push(item);
        self
    }

    fn json(mut self, body: Value) -> Self {
        self.body = Some(body);
        self.header("Content-Type", "application/json")
    }

    fn item(&self, id: usize) -> Value {
        let headers: serde_json::Map<String, Value> = self.headers.iter().map(|(k, v)| ((*k).to_owned(), json!(v))).collect();
        let mut item = json!({"id": id.to_string(), "method": self.method, "url": self.url, "headers": headers});
        if let Some(body) = &self.body {
            item["body"] = body.clone();
        }
        if !self.depends_on.is_empty() {
            item["dependsOn"] = json!(self.depends_on.iter().map(ToString::to_string).collect::<Vec<_>>());
        }
        item
    }

    async fn alone(&self, app: &TestApp) -> Reply {
        let method = Method::from_bytes(self.method.as_bytes()).unwrap();
        let mut request = app.client.request(method, app.url(&format!("/beta/{}", self.url.trim_start_matches('/'))));
        for (k, v) in &self.headers {
            request = request.header(*k, v);
        }
        if let Some(body) = &self.body {
            request = request.body(body.to_string());
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        Reply { status, headers, text: response.text().await.unwrap() }
    }
}

/// Sends `cases` as one batch and then one by one, and compares each pair of answers.
async fn same_as_alone(batch_app: &TestApp, alone_app: &TestApp, cases: &[Case], alone_cases: &[Case], fresh: bool) {
    let requests = Value::Array(cases.iter().enumerate().map(|(i, c)| c.item(i)).collect());
    let reply = batch(batch_app, requests.clone()).await;
    let items = replies(&reply, &requests);
    for (i, alone_case) in alone_cases.iter().enumerate() {
        let alone = Answer::of_reply(&alone_case.alone(alone_app).await, fresh);
        let item = &items[&i.to_string()];
        assert_eq!(Answer::of_item(item, fresh), alone, "{} {} in a batch and alone", cases[i].method, cases[i].url);
    }
}

#[tokio::test]
async fn reads_in_a_batch_answer_exactly_as_alone() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("roster").await;
    for i in 0..3 {
        app.run_of(&flow, json!({"displayName": format!("run {i}"), "status": if i == 0 { "failed" } else { "completed" }})).await;
    }
    let run = app.run_of(&flow, json!({"displayName": "running"})).await;
    let run_id = run["id"].as_str().unwrap().to_owned();
    let group = app.group("group").await;
    let missing = uuid::Uuid::new_v4();
    let cases = || {
        vec![
            case("GET", "/"),
            case("GET", "$metadata"),
            case("GET", "industryData/runs?$top=2&$count=true&$filter=status ne 'running'&$orderby=displayName desc"),
            case("GET", "/industryData/runs/$count"),
            case("GET", format!("industryData/runs/{run_id}?$expand=process")).header("client-request-id", "read-one"),
            case("GET", format!("industryData/runs/{run_id}")).header("If-None-Match", "\"1\""),
            case("GET", format!("industryData/incomingFlows/{flow}?$select=displayName")),
            case("GET", format!("industryData/runs/{run_id}/process/$ref")),
            case("GET", format!("industryData/runGroups/{group}/process")),
            case("GET", format!("industryData/runGroups/{group}/getErrorsAndWarningsFile")),
            case("GET", "industryData/runs?$filter=status eq").header("client-request-id", "bad-filter"),
            case("GET", format!("industryData/runs/{missing}")),
            case("GET", "industryData/nothing"),
            case("PUT", "industryData/runs"),
            case("GET", "external/industryData/runs?$count=true"),
        ]
    };
    same_as_alone(&app, &app, &cases(), &cases(), false).await;
}

/// Two identical sets of resources: the batch writes to one, the same requests alone to the other.
async fn twin(app: &TestApp, n: usize) -> (String, String, String, String) {
    let flow = app.incoming_flow(&format!("flow {n}")).await;
    let run =
        app.run_of(&flow, json!({"displayName": "run", "startDateTime": "2026-01-01T00:00:00Z"})).await["id"].as_str().unwrap().to_owned();
    let other = app.run_of(&flow, json!({"displayName": "other", "startDateTime": "2026-01-02T00:00:00Z"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let group = app.group("group").await;
    (flow, run, other, group)
}

#[tokio::test]
async fn writes_in_a_batch_answer_as_the_same_writes_alone() {
    let app = TestApp::spawn().await;
    let one = twin(&app, 1).await;
    let two = twin(&app, 2).await;
    let cases = |(flow, run, other, group): &(String, String, String, String)| {
        vec![
            case("POST", format!("industryData/incomingFlows/{flow}/runs"))
                .json(json!({"displayName": "new", "statistics": {"people": 1}})),
            case("POST", "industryData/runGroups").json(json!({"displayName": "minimal"})).header("Prefer", "return=minimal"),
            case("PATCH", format!("industryData/runs/{run}")).json(json!({"displayName": "x"})).header("If-Match", "\"9\""),
            case("PATCH", format!("industryData/runs/{other}")).json(json!({"statistics": {"people": 3}})).header("If-Match", "\"1\""),
            case("PATCH", format!("industryData/runs/{run}")).json(json!({"status": "bogus"})),
            case("POST", format!("industryData/incomingFlows/{flow}/runNow")),
            case("POST", "industryData/runGroups").json(json!({"displayName": "x"})).header("Content-Type", "text/plain"),
            // Items without dependsOn run in any order (several at once): the flow's run count
            // must include the runs the items before it made.
            case("DELETE", format!("industryData/incomingFlows/{flow}")).after(0).after(5),
            case("DELETE", format!("industryData/runGroups/{group}")).header("client-request-id", "delete-group"),
        ]
    };
    same_as_alone(&app, &app, &cases(&one), &cases(&two), true).await;
    // Each write happened once, to its own twin.
    assert_eq!(app.run(&one.2).await["statistics"]["people"], 3);
    assert_eq!(app.run(&two.2).await["statistics"]["people"], 3);
    app.get(&format!("/beta/industryData/runGroups/{}", one.3)).await.assert_error(404, "itemNotFound");
    let runs_of = |flow: &str| format!("/beta/industryData/incomingFlows/{flow}/runs/$count");
    assert_eq!(app.get(&runs_of(&one.0)).await.text, "4");
    assert_eq!(app.get(&runs_of(&two.0)).await.text, "4");
}

#[tokio::test]
async fn reply_headers_and_bodies_of_each_kind() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("roster").await;
    let requests = json!([
        {"id": "create", "method": "POST", "url": format!("industryData/incomingFlows/{flow}/runs"),
         "headers": {"Content-Type": "application/json", "client-request-id": "mine"}, "body": {"displayName": "made in a batch"}},
        {"id": "minimal", "method": "POST", "url": "/industryData/runGroups",
         "headers": {"content-type": "application/json", "prefer": "return=minimal"}, "body": {"displayName": "g"}},
        {"id": "count", "method": "GET", "url": format!("{}/beta/industryData/runs/$count", app.base), "dependsOn": ["create", "minimal"]},
        {"id": "metadata", "method": "GET", "url": "$metadata"},
    ]);
    let items = replies(&batch(&app, requests.clone()).await, &requests);
    let created = &items["create"];
    assert_eq!(created["status"], 201);
    let id = created["body"]["id"].as_str().unwrap();
    assert_eq!(created["body"]["displayName"], "made in a batch", "a JSON body is embedded as JSON");
    assert_eq!(created["headers"]["location"], app.beta(&format!("industryData/incomingFlows/{flow}/runs/{id}")));
    assert_eq!(created["headers"]["etag"], "\"1\"");
    assert_eq!(created["headers"]["client-request-id"], "mine");
    assert_eq!(app.run(id).await["displayName"], "made in a batch");
    let minimal = &items["minimal"];
    assert_eq!(minimal["status"], 204);
    assert!(minimal.get("body").is_none(), "{minimal}");
    assert_eq!(minimal["headers"]["preference-applied"], "return=minimal");
    assert_eq!(minimal["headers"]["odata-entityid"], minimal["headers"]["location"]);
    assert_eq!(items["count"]["body"], "2", "a text body is a string");
    assert!(items["count"]["headers"]["Content-Type"].as_str().unwrap().starts_with("text/plain"));
    assert!(items["metadata"]["body"].as_str().unwrap().starts_with("<?xml"));
    assert!(items["metadata"]["headers"]["Content-Type"].as_str().unwrap().contains("xml"));
    // Every request has its own request-id, none the batch's.
    let reply = batch(&app, json!([{"id": "a", "method": "GET", "url": "/"}, {"id": "b", "method": "GET", "url": "/"}])).await;
    let outer = reply.header("request-id").unwrap();
    let body = reply.json();
    let ids: Vec<&str> = body["responses"].as_array().unwrap().iter().map(|r| r["headers"]["request-id"].as_str().unwrap()).collect();
    assert!(ids[0] != ids[1] && !ids.contains(&outer.as_str()), "{ids:?} {outer}");
}

/// Whole-batch refusals: each is a 400 naming the member, and nothing in the batch runs.
#[tokio::test]
async fn a_malformed_batch_is_refused_whole_and_runs_nothing() {
    let app = TestApp::spawn().await;
    let create = || json!({"id": "create", "method": "POST", "url": "industryData/runGroups", "headers": {"content-type": "application/json"}, "body": {"displayName": "must not exist"}});
    let get = |id: &str| json!({"id": id, "method": "GET", "url": "/"});
    let with_deps = |deps: Value| {
        let mut g = get("b");
        g["dependsOn"] = deps;
        g
    };
    let twenty_one: Vec<Value> = std::iter::once(create()).chain((0..20).map(|i| get(&format!("g{i}")))).collect();
    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({}), "invalidBatch", "requests"),
        (json!({"requests": [create()], "extra": 1}), "invalidBatch", "extra"),
        (json!({"requests": {"id": "1"}}), "invalidBatch", "requests"),
        (json!({"requests": []}), "invalidBatchSize", "requests"),
        (json!({ "requests": twenty_one }), "invalidBatchSize", "requests"),
        (json!({"requests": [create(), 7]}), "invalidBatch", "requests[1]"),
        (json!({"requests": [create(), {"method": "GET", "url": "/"}]}), "invalidBatch", "requests[1].id"),
        (json!({"requests": [create(), {"id": 2, "method": "GET", "url": "/"}]}), "invalidBatch", "requests[1].id"),
        (json!({"requests": [create(), {"id": "", "method": "GET", "url": "/"}]}), "invalidBatch", "requests[1].id"),
        (json!({"requests": [create(), get("CREATE")]}), "duplicateRequestId", "requests[1].id"),
        (json!({"requests": [create(), with_deps(json!(["nobody"]))]}), "invalidDependsOn", "requests[1].dependsOn"),
        (json!({"requests": [create(), with_deps(json!(["b"]))]}), "invalidDependsOn", "requests[1].dependsOn"),
        (json!({"requests": [with_deps(json!(["create"])), create()]}), "invalidDependsOn", "requests[0].dependsOn"),
        (json!({"requests": [create(), with_deps(json!("create"))]}), "invalidDependsOn", "requests[1].dependsOn"),
        (json!({"requests": [create(), with_deps(json!([1]))]}), "invalidDependsOn", "requests[1].dependsOn"),
        (
            json!({"requests": [create(), {"id": "b", "method": "GET", "url": "/", "depends_on": ["zzz"]}]}),
            "invalidDependsOn",
            "requests[1].dependsOn",
        ),
        (
            json!({"requests": [create(), {"id": "b", "method": "GET", "url": "/", "depends_on": ["create"], "dependsOn": ["create"]}]}),
            "invalidDependsOn",
            "requests[1].dependsOn",
        ),
    ];
    for (body, code, target) in cases {
        let reply = app.post("/beta/$batch", body.clone()).await;
        let error = reply.assert_target(400, code, target);
        assert!(error["message"].as_str().unwrap().contains(target), "the message names {target}: {}", reply.text);
    }
    app.raw(Method::POST, "/beta/$batch", Some("application/json"), b"{\"requests\": [".to_vec()).await.assert_error(400, "malformedJson");
    app.raw(Method::POST, "/beta/$batch", Some("application/json"), b"[]".to_vec()).await.assert_error(400, "invalidRequestBody");
    app.raw(Method::POST, "/beta/$batch", Some("application/json"), Vec::new()).await.assert_error(400, "missingRequestBody");
    let text = json!({ "requests": [create()] }).to_string().into_bytes();
    app.raw(Method::POST, "/beta/$batch", Some("text/plain"), text).await.assert_error(415, "unsupportedMediaType");
    // The batch body is held to the request body limit: over 1 MiB is a 413 for the whole batch.
    let big = json!({"requests": [create(), {"id": "big", "method": "POST", "url": "industryData/runGroups",
        "headers": {"content-type": "application/json"}, "body": {"displayName": "x".repeat(1024 * 1024)}}]});
    app.post("/beta/$batch", big).await.assert_error(413, "payloadTooLarge");
    // Without --public-url, links are made from Host: one that makes no URL leaves no request placeable.
    let response = app
        .client
        .post(app.url("/beta/$batch"))
        .header("host", "h:99999")
        .header("content-type", "application/json")
        .body(json!({ "requests": [create()] }).to_string())
        .send()
        .await
        .unwrap();
    let reply = Reply { status: response.status(), headers: response.headers().clone(), text: response.text().await.unwrap() };
    reply.assert_target(400, "invalidHost", "Host");
    // Nothing ran.
    assert_eq!(app.get("/beta/industryData/runGroups/$count").await.text, "0");
    // The batch endpoint itself answers only POST.
    let r = app.get("/beta/$batch").await;
    r.assert_error(405, "methodNotAllowed");
    assert_eq!(r.header("allow").as_deref(), Some("POST"));
}

/// Requests that cannot be sent are refused one by one (400); the rest of the batch runs.
#[tokio::test]
async fn a_request_pointing_outside_the_service_is_refused_alone() {
    let app = TestApp::spawn().await;
    let host = app.base.trim_start_matches("http://").to_owned();
    let port: u16 = host.rsplit(':').next().unwrap().parse().unwrap();
    let bad_urls = [
        "http://example.com/beta/industryData/runs".to_owned(),
        format!("http://127.0.0.1:{}/beta/industryData/runs", port.wrapping_add(1)),
        format!("https://{host}/beta/industryData/runs"),
        format!("http://{host}/healthz"),
        format!("http://{host}/betax/industryData/runs"),
        "../healthz".to_owned(),
        "/industryData/../../livez".to_owned(),
        "industryData/%2e%2e/%2e%2e/healthz".to_owned(),
        "//example.com/beta/industryData/runs".to_owned(),
        "$batch".to_owned(),
        "/$batch".to_owned(),
        format!("http://{host}/beta/$batch"),
        "mailto:someone@example.com".to_owned(),
    ];
    let requests: Vec<Value> =
        bad_urls.iter().enumerate().map(|(i, url)| json!({"id": format!("u{i}"), "method": "GET", "url": url})).collect();
    let requests = Value::Array(requests);
    let items = replies(&batch(&app, requests.clone()).await, &requests);
    for (i, url) in bad_urls.iter().enumerate() {
        let error = assert_item_error(&items[&format!("u{i}")], 400, "invalidRequestUrl");
        assert_eq!(error["target"], format!("requests[{i}].url"), "{url}");
    }
    let requests = json!([
        {"id": "no-type", "method": "POST", "url": "industryData/runGroups", "body": {"displayName": "untyped"}},
        {"id": "no-method", "url": "/"},
        {"id": "bad-method", "method": "GE T", "url": "/"},
        {"id": "no-url", "method": "GET"},
        {"id": "bad-header", "method": "GET", "url": "/", "headers": {"x-n": 1}},
        {"id": "bad-header-name", "method": "GET", "url": "/", "headers": {"bad name": "v"}},
        {"id": "unknown", "method": "GET", "url": "/", "atomicityGroup": "g"},
        {"id": "fine", "method": "GET", "url": "industryData/runs/$count"},
    ]);
    let items = replies(&batch(&app, requests.clone()).await, &requests);
    let error = assert_item_error(&items["no-type"], 400, "missingContentType");
    assert!(error["message"].as_str().unwrap().contains("Content-Type"), "{error}");
    assert_eq!(assert_item_error(&items["no-method"], 400, "invalidRequestMethod")["target"], "requests[1].method");
    assert_item_error(&items["bad-method"], 400, "invalidRequestMethod");
    assert_item_error(&items["no-url"], 400, "invalidRequestUrl");
    assert_eq!(assert_item_error(&items["bad-header"], 400, "invalidRequestHeader")["target"], "requests[4].headers.x-n");
    assert_item_error(&items["bad-header-name"], 400, "invalidRequestHeader");
    assert_eq!(assert_item_error(&items["unknown"], 400, "invalidBatch")["target"], "requests[6].atomicityGroup");
    assert_eq!(items["fine"]["status"], 200);
    assert_eq!(items["fine"]["body"], "0");
    assert_eq!(app.get("/beta/industryData/runGroups/$count").await.text, "0", "the request without Content-Type did not run");
    // A method the resource does not take is the router's 405, as alone; an item's URL too long
    // for the service is its 414.
    let requests = json!([
        {"id": "1", "method": "get", "url": "/"},
        {"id": "2", "method": "GET", "url": format!("industryData/runs?$filter={}", "x".repeat(40 * 1024))},
    ]);
    let items = replies(&batch(&app, requests.clone()).await, &requests);
    assert_item_error(&items["1"], 405, "methodNotAllowed");
    assert_item_error(&items["2"], 414, "uriTooLong");
}

#[tokio::test]
async fn depends_on_orders_requests_and_failed_dependencies_get_424() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("roster").await;
    let run = app.run_of(&flow, json!({"displayName": "running"})).await["id"].as_str().unwrap().to_owned();
    let missing = uuid::Uuid::new_v4();
    let json_type = json!({"content-type": "application/json"});
    let requests = json!([
        {"id": "finish", "method": "PATCH", "url": format!("industryData/runs/{run}"), "headers": json_type, "body": {"status": "completed"}},
        {"id": "read", "method": "GET", "url": format!("industryData/runs/{run}"), "dependsOn": ["FINISH"]},
        {"id": "missing", "method": "GET", "url": format!("industryData/runs/{missing}")},
        {"id": "after-missing", "method": "POST", "url": "industryData/runGroups", "headers": json_type, "body": {"displayName": "never"}, "dependsOn": ["missing"]},
        {"id": "after-after", "method": "GET", "url": "/", "depends_on": ["after-missing"]},
        {"id": "both", "method": "GET", "url": "/", "dependsOn": ["read", "missing"]},
        {"id": "refused", "method": "GET", "url": "../healthz"},
        {"id": "after-refused", "method": "GET", "url": "/", "dependsOn": ["refused"]},
        {"id": "sdk-style", "method": "GET", "url": "/", "depends_on": ["read"], "dependsOn": []},
        {"id": "not-modified", "method": "GET", "url": format!("industryData/runs/{run}"), "headers": {"If-None-Match": "\"2\""}, "dependsOn": ["finish"]},
        {"id": "after-304", "method": "GET", "url": "/", "dependsOn": ["not-modified"]},
    ]);
    let items = replies(&batch(&app, requests.clone()).await, &requests);
    assert_eq!(items["finish"]["status"], 200);
    assert_eq!(items["read"]["status"], 200);
    assert_eq!(items["read"]["body"]["status"], "completed", "a dependent request sees what its dependency did");
    assert_eq!(items["missing"]["status"], 404);
    for (id, on) in [
        ("after-missing", "missing"),
        ("after-after", "after-missing"),
        ("both", "missing"),
        ("after-refused", "refused"),
        ("after-304", "not-modified"),
    ] {
        let error = assert_item_error(&items[id], 424, "failedDependency");
        assert_eq!(error["code"], "failedDependency");
        assert!(error["message"].as_str().unwrap().contains(&format!("'{on}'")), "{error}");
    }
    assert_eq!(items["sdk-style"]["status"], 200);
    assert_eq!(items["not-modified"]["status"], 304);
    assert!(items["not-modified"].get("body").is_none());
    assert_eq!(app.get("/beta/industryData/runGroups/$count").await.text, "0", "a request whose dependency failed did not run");
}

/// Twenty independent requests (run up to four at once) all answer, in request order; a chain of
/// dependent writes runs strictly one after another.
#[tokio::test]
async fn twenty_requests_and_a_chain_of_twenty() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("roster").await;
    let run = app.run_of(&flow, json!({"displayName": "v0"})).await["id"].as_str().unwrap().to_owned();
    let requests =
        Value::Array((0..20).map(|i| json!({"id": format!("r{i}"), "method": "GET", "url": format!("industryData/runs/{run}")})).collect());
    let items = replies(&batch(&app, requests.clone()).await, &requests);
    assert!(items.values().all(|r| r["status"] == 200 && r["body"]["id"] == run.as_str()));
    // Each PATCH names the version the previous one made: only a strict order succeeds.
    let chain = Value::Array(
        (0..20)
            .map(|i| {
                let mut r = json!({"id": format!("p{i}"), "method": "PATCH", "url": format!("industryData/runs/{run}"),
                    "headers": {"content-type": "application/json", "if-match": format!("\"{}\"", i + 1)}, "body": {"displayName": format!("v{}", i + 1)}});
                if i > 0 {
                    r["dependsOn"] = json!([format!("p{}", i - 1)]);
                }
                r
            })
            .collect(),
    );
    let items = replies(&batch(&app, chain.clone()).await, &chain);
    for i in 0..20 {
        let r = &items[&format!("p{i}")];
        assert_eq!(r["status"], 200, "{r}");
        assert_eq!(r["headers"]["etag"], format!("\"{}\"", i + 2));
    }
    assert_eq!(app.run(&run).await["displayName"], "v20");
}

#[tokio::test]
async fn each_request_of_a_batch_is_checked_against_the_callers_permissions() {
    let server = secured().await;
    let admin = server.as_caller(&token("perm", &ALL));
    let flow = admin.incoming_flow("roster").await;
    let reader = server.as_caller(&token("perm", &[RUN_READ, FLOW_READ]));
    let admin_token = token("perm", &ALL);
    let requests = json!([
        {"id": "list", "method": "GET", "url": "industryData/runs"},
        {"id": "flow", "method": "GET", "url": format!("industryData/incomingFlows/{flow}")},
        {"id": "create", "method": "POST", "url": "industryData/runGroups", "headers": {"content-type": "application/json"}, "body": {"displayName": "no"}},
        {"id": "smuggled", "method": "POST", "url": "industryData/runGroups",
         "headers": {"content-type": "application/json", "Authorization": format!("Bearer {admin_token}")}, "body": {"displayName": "no"}},
        {"id": "runNow", "method": "POST", "url": format!("industryData/incomingFlows/{flow}/runNow")},
        {"id": "root", "method": "GET", "url": "/"},
    ]);
    let items = replies(&batch(&reader, requests.clone()).await, &requests);
    assert_eq!(items["list"]["status"], 200);
    assert_eq!(items["flow"]["status"], 200);
    assert_eq!(items["root"]["status"], 200);
    for id in ["create", "smuggled", "runNow"] {
        assert_item_error(&items[id], 403, "accessDenied");
        assert!(items[id]["headers"]["www-authenticate"].as_str().unwrap().contains("insufficient_scope"));
    }
    assert_eq!(admin.get("/beta/industryData/runGroups/$count").await.text, "0", "an item's own Authorization does not count");
    assert_eq!(admin.get(&format!("/beta/industryData/incomingFlows/{flow}/runs/$count")).await.text, "0");
    // A token with no permission at all: the batch is accepted, every data request refused.
    let nobody = server.as_caller(&token("perm", &[]));
    let items = replies(&batch(&nobody, requests.clone()).await, &requests);
    for id in ["list", "flow", "create", "smuggled", "runNow"] {
        assert_item_error(&items[id], 403, "accessDenied");
    }
    assert_eq!(items["root"]["status"], 200);
    // No token: the batch itself is refused, as any request is.
    let r = server.post("/beta/$batch", json!({ "requests": requests })).await;
    r.assert_error(401, "missingToken");
    assert!(r.header("www-authenticate").is_some());
}

#[tokio::test]
async fn a_batch_runs_in_the_callers_tenant() {
    let server = secured().await;
    let a = server.as_caller(&token("tenant-a", &ALL));
    let b = server.as_caller(&token("tenant-b", &ALL));
    let flow = a.incoming_flow("A's flow").await;
    let run = a.run_of(&flow, json!({"displayName": "A's run"})).await["id"].as_str().unwrap().to_owned();
    let before = a.snapshot_state().await;
    let nowhere = uuid::Uuid::new_v4().to_string();
    let json_type = json!({"content-type": "application/json"});
    let requests = |run: &str, flow: &str| {
        json!([
            {"id": "get", "method": "GET", "url": format!("industryData/runs/{run}")},
            {"id": "patch", "method": "PATCH", "url": format!("industryData/runs/{run}"), "headers": json_type, "body": {"displayName": "B was here"}},
            {"id": "delete", "method": "DELETE", "url": format!("industryData/runs/{run}")},
            {"id": "runs-of-flow", "method": "GET", "url": format!("industryData/incomingFlows/{flow}/runs")},
            {"id": "create", "method": "POST", "url": format!("industryData/incomingFlows/{flow}/runs"), "headers": json_type, "body": {"displayName": "x"}},
            {"id": "list", "method": "GET", "url": "industryData/runs"},
            {"id": "count", "method": "GET", "url": "industryData/incomingFlows/$count"},
        ])
    };
    let theirs = requests(&run, &flow);
    let items = replies(&batch(&b, theirs.clone()).await, &theirs);
    let none = requests(&nowhere, &nowhere);
    let baseline = replies(&batch(&b, none.clone()).await, &none);
    for (id, reply) in &items {
        let strip = |r: &Value, from: &str| {
            let mut a = Answer::of_item(r, true);
            a.body = serde_json::from_str(&a.body.to_string().replace(from, "<id>")).unwrap();
            a
        };
        assert_eq!(strip(reply, &run), strip(&baseline[id], &nowhere), "{id}: A's ids answer as ids that do not exist");
        assert!(!reply.to_string().contains("A's"), "{reply}");
    }
    assert_eq!(items["get"]["status"], 404);
    assert_eq!(items["list"]["body"]["value"], json!([]));
    assert_eq!(items["count"]["body"], "0");
    assert_eq!(a.snapshot_state().await, before, "tenant A's data is unchanged");
}

#[tokio::test]
async fn the_rate_limiter_counts_every_request_of_a_batch() {
    let server = TestApp::spawn_with(jwt(Limits { rate_limit: Some(TINY_RATE), rate_burst: 6, ..Limits::default() })).await;
    let a = server.as_caller(&token("tenant-a", &ALL));
    let b = server.as_caller(&token("tenant-b", &ALL));
    let three = json!([
        {"id": "1", "method": "GET", "url": "industryData/runs"},
        {"id": "2", "method": "GET", "url": "industryData/runs"},
        {"id": "3", "method": "GET", "url": "industryData/runs"},
    ]);
    // The batch counts once and each of its requests once: 1 + 3 of A's 6.
    let items = replies(&batch(&a, three.clone()).await, &three);
    assert!(items.values().all(|r| r["status"] == 200));
    // 5th: this batch; 6th: one of its requests (they run at once: any one); the others are over
    // the rate.
    let items = replies(&batch(&a, three.clone()).await, &three);
    let throttled: Vec<&Value> = items.values().filter(|r| r["status"] != 200).collect();
    assert_eq!(throttled.len(), 2, "{items:?}");
    for r in throttled {
        assert_item_error(r, 429, "tooManyRequests");
        let retry: u64 = r["headers"]["retry-after"].as_str().unwrap().parse().unwrap();
        assert!(retry >= 1);
    }
    // Past the budget, the batch itself is throttled.
    let r = batch(&a, three.clone()).await;
    r.assert_error(429, "tooManyRequests");
    a.get("/beta/industryData/runs").await.assert_error(429, "tooManyRequests");
    // Another tenant has its own budget.
    let items = replies(&batch(&b, three.clone()).await, &three);
    assert!(items.values().all(|r| r["status"] == 200));
}

#[test]
fn uuids_are_recognized() {
    assert_eq!(without_ids("a/0199c0de-0000-7000-8000-00000000abcd/b"), "a/<id>/b");
    assert_eq!(without_ids("ünïcode"), "ünïcode");
}
