//! Hostile input never hurts. Fires a few thousand generated malformed or hostile
//! requests — broken JSON, deep nesting, huge numbers, invalid UTF-8, odd Content-Types, path
//! traversal and SQL fragments in ids and query options, unicode edge cases, huge headers, and raw
//! HTTP that no client library would send — then checks: no 5xx (a panic would be a 500 through
//! the CatchPanic layer), the service healthy, and the stored data exactly as it was. Every write
//! is aimed so that it cannot legitimately succeed (a missing parent, a stale If-Match, a dangling
//! binding, a trailing read-only property), so "unchanged" is exact. Deterministic (fixed seed).

use std::time::Duration;

use futures::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::Method;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::helpers::{NS, TestApp};
use crate::tokens::{ALL, secured, token};

#[derive(Debug, Clone)]
struct Shot {
    method: Method,
    path: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Option<Vec<u8>>,
    /// Far past the limits: the server may cut the connection instead of answering.
    may_cut: bool,
}

struct Targets {
    flow: String,
    out_flow: String,
    run: String,
    group: String,
    member: String,
}

const IDS: &[&str] = &[
    "..%2F..%2F..%2Fetc%2Fpasswd",
    "%2e%2e%2f%2e%2e%2fruns",
    "..%5C..%5Cwindows",
    "'%20OR%20'1'%3D'1",
    "1%3B%20DROP%20TABLE%20runs%3B--",
    "00000000-0000-0000-0000-000000000000",
    "ffffffff-ffff-ffff-ffff-ffffffffffff",
    "%00",
    "%ff%fe%fd",
    "%ed%a0%80",
    "%E2%80%AE%E2%80%8B",
    "%F0%9F%92%A9",
    "null",
    "undefined",
    "(1)",
    "$count",
    "$ref",
    "%24metadata",
    "microsoft.graph.industryData.runGroup",
    "microsoft.graph.industryData.nothing",
    "7f3c8c9e-4a3e-4a39-9a77-1d3c6f0b1a20'--",
    "{7f3c8c9e-4a3e-4a39-9a77-1d3c6f0b1a20}",
    "7F3C8C9E4A3E4A399A771D3C6F0B1A20",
    "%20",
    "a%2Fb",
    "%25%25%25",
    "..",
    ".",
    "~",
];

const FILTERS: &[&str] = &[
    "displayName eq 'x'' OR 1=1 --'",
    "displayName eq 'x' or 1 eq 1; DROP TABLE runs",
    "id eq 1; DELETE FROM runs",
    "displayName eq 'a' union select * from sqlite_master",
    "status eq 'failed') or (1 eq 1",
    "contains(displayName,'%')",
    "contains(displayName,'_')",
    "startswith(displayName,'\\')",
    "displayName eq '\u{0}'",
    "displayName eq '\u{202E}\u{200B}'",
    "displayName eq '💩'",
    "tolower(tolower(tolower(tolower(displayName)))) eq 'x'",
    "startDateTime gt 9999-12-31T23:59:59.9999999-14:00",
    "startDateTime gt 0000-01-01T00:00:00Z",
    "startDateTime gt 2024-13-45T25:61:61Z",
    "statistics/rows gt 1",
    "blockingError/code eq null",
    "process/id eq 'x'",
    "process/displayName eq 'x'",
    "isof('microsoft.graph.industryData.runGroup'",
    "isof(x,y,z)",
    "status in ()",
    "status in ('failed','failed','failed')",
    "1 eq 1",
    "null eq null",
    "true",
    "displayName",
    "displayName eq 99999999999999999999999999999999999999",
    "displayName eq 1e99999",
    "displayName eq -0.0000000000000000000000001",
    "(((((((((((((((((((((((((((((((((((((((displayName eq 'x')))))))))))))))))))))))))))))))))))))))",
    "not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not not true",
    "'",
    "''''''",
    ")",
    "eq",
    "%",
    "%zz",
    "%00",
    "%ff",
];

const OPTIONS: &[&str] = &[
    "$top=-1",
    "$top=0",
    "$top=1000",
    "$top=99999999999999999999999",
    "$top=1.5",
    "$top=",
    "$skip=-5",
    "$skip=18446744073709551616",
    "$skiptoken=garbage",
    "$skiptoken=",
    "$skiptoken=%00%ff",
    "$skiptoken=eyJhIjoxfQ",
    "$orderby=displayName;DROP TABLE runs",
    "$orderby=displayName desc desc",
    "$orderby=nothing",
    "$orderby=statistics",
    "$select=*",
    "$select=",
    "$select=id,id,id",
    "$select=../../etc",
    "$expand=*",
    "$expand=process($expand=runs($expand=process))",
    "$expand=runs($top=-1)",
    "$expand=runs($filter=1 eq)",
    "$count=maybe",
    "$count=TRUE",
    "$search=x",
    "$format=xml",
    "$apply=groupby((status))",
    "$unknown=1",
    "$=1",
    "$$=1",
    "&&&&",
    "=",
    "$filter",
    "$filter=",
    "$top=1&$top=2",
    "%24top=1%26%24skip%3D1",
    "$top=%ff",
    "$filter=%ed%a0%80",
];

const CONTENT_TYPES: &[Option<&str>] = &[
    Some("application/json"),
    Some("application/json; charset=utf-8"),
    Some("APPLICATION/JSON"),
    Some("application/json; charset=utf-16"),
    Some("application/json;odata.metadata=full;odata.streaming=true"),
    Some("text/plain"),
    Some("application/xml"),
    Some("multipart/form-data; boundary=x"),
    Some("application/x-www-form-urlencoded"),
    Some("application/jsonx"),
    Some(""),
    Some(";;;"),
    None,
];

fn deep(open: &str, close: &str, n: usize) -> Vec<u8> {
    format!("{}{}", open.repeat(n), close.repeat(n)).into_bytes()
}

/// Bodies that are broken, hostile, or valid-looking with something wrong.
fn bodies(rng: &mut StdRng) -> Vec<u8> {
    let valid = json!({"displayName": "x", "status": "running", "statistics": {"a": 1}}).to_string();
    match rng.random_range(0..26) {
        0 => b"{".to_vec(),
        1 => b"{\"displayName\":".to_vec(),
        2 => valid.as_bytes()[..rng.random_range(0..valid.len())].to_vec(),
        3 => deep("[", "]", 100_000),
        4 => "[".repeat(100_000).into_bytes(),
        5 => format!("{{\"displayName\":\"x\",\"statistics\":{}1{}}}", "{\"a\":".repeat(20_000), "}".repeat(20_000)).into_bytes(),
        6 => format!("{{\"displayName\":\"x\",\"statistics\":{{\"n\":{}}}}}", "9".repeat(200_000)).into_bytes(),
        7 => b"{\"displayName\":\"x\",\"statistics\":{\"n\":1e999999999999}}".to_vec(),
        8 => b"{\"displayName\":\"\xff\xfe\xfd\"}".to_vec(),
        9 => b"\xef\xbb\xbf{\"displayName\":\"bom\"}".to_vec(),
        10 => b"{\"displayName\":\"a\\u0000b\",\"status\":\"failed\\u0000\"}".to_vec(),
        11 => b"{\"displayName\":\"\\ud800\"}".to_vec(),
        12 => b"{\"displayName\":\"x\",\"displayName\":\"y\",\"displayName\":{}}".to_vec(),
        13 => format!("{valid} trailing garbage").into_bytes(),
        14 => b"null".to_vec(),
        15 => b"[]".to_vec(),
        16 => b"\"just a string\"".to_vec(),
        17 => (0..rng.random_range(1..4096)).map(|_| rng.random::<u8>()).collect(),
        18 => json!({"displayName": "\u{202E}\u{200B}\u{FEFF}", "status": "unknownFutureValue"}).to_string().into_bytes(),
        19 => json!({"displayName": "x", "startDateTime": "9999-12-31T23:59:59.99999999Z"}).to_string().into_bytes(),
        20 => json!({"displayName": "x", "blockingError": {"code": {"$gt": ""}, "innerError": {"details": [[[[]]]]}}}).to_string().into_bytes(),
        21 => json!({"displayName": "x'; DROP TABLE runs; --", "@odata.type": "#microsoft.graph.industryData.runGroup'--"}).to_string().into_bytes(),
        22 => json!({"@odata.id": "../../../etc/passwd"}).to_string().into_bytes(),
        23 => json!({"@odata.id": "http://evil/beta/industryData/runs/00000000-0000-0000-0000-000000000000"}).to_string().into_bytes(),
        24 => json!({"process@odata.bind": "industryData/incomingFlows/' OR 1=1 --", "displayName": "x", "@odata.type": format!("#{NS}.incomingFlowRun")}).to_string().into_bytes(),
        _ => json!({"displayName": "é".repeat(300), "statistics": "x".repeat(70_000)}).to_string().into_bytes(),
    }
}

/// Makes a body that decodes as an object unable to be accepted: a trailing read-only property.
fn poison(body: Vec<u8>) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(&body) {
        Ok(mut map) => {
            map.insert("id".into(), json!("00000000-0000-0000-0000-000000000000"));
            serde_json::to_vec(&map).unwrap()
        }
        Err(_) => body,
    }
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

fn generate(rng: &mut StdRng, t: &Targets) -> Shot {
    let ghost = uuid::Uuid::new_v4();
    let mut shot = Shot { method: Method::GET, path: String::new(), headers: Vec::new(), body: None, may_cut: false };
    let stale = ("if-match".to_owned(), b"\"999999\"".to_vec());
    match rng.random_range(0..12) {
        // Reads with hostile ids, anywhere in the URL space.
        0 | 1 => {
            let id = pick(rng, IDS);
            let shapes = [
                format!("/beta/industryData/runs/{id}"),
                format!("/beta/industryData/incomingFlows/{id}"),
                format!("/beta/industryData/outgoingFlows/{id}/runs/{id}"),
                format!("/beta/industryData/runGroups/{id}/runs"),
                format!("/beta/industryData/runs/{id}/process/$ref"),
                format!("/beta/industryData/runGroups/{}/runs/{id}", t.group),
                format!("/beta/industryData/incomingFlows/{}/runs/{id}/process", t.flow),
                format!("/beta/{id}/industryData/runs"),
                format!("/beta/industryData/{id}"),
                format!("/{id}/beta"),
                format!("/beta/industryData/runs/{}/{id}", t.run),
            ];
            shot.path = pick(rng, &shapes).clone();
            shot.method = pick(rng, &[Method::GET, Method::GET, Method::DELETE, Method::OPTIONS, Method::HEAD, Method::TRACE]).clone();
            if shot.method == Method::DELETE {
                shot.headers.push(stale.clone());
            }
        }
        // Hostile query options on every collection.
        2 | 3 => {
            let base = pick(
                rng,
                &[
                    "/beta/industryData/runs".to_owned(),
                    "/beta/industryData/runGroups".to_owned(),
                    "/beta/industryData/incomingFlows".to_owned(),
                    format!("/beta/industryData/incomingFlows/{}/runs", t.flow),
                    format!("/beta/industryData/runGroups/{}/runs", t.group),
                    "/beta/industryData/runs/$count".to_owned(),
                    format!("/beta/industryData/runs/{}", t.run),
                ],
            )
            .clone();
            let query = if rng.random_bool(0.5) {
                let f = pick(rng, FILTERS);
                let encoded: String = f
                    .bytes()
                    .map(|b| {
                        if b.is_ascii_alphanumeric() || b"'()_-.~,".contains(&b) {
                            (b as char).to_string()
                        } else if b == b' ' {
                            "%20".into()
                        } else if b == b'%' && f.len() < 5 {
                            "%".into()
                        } else {
                            format!("%{b:02X}")
                        }
                    })
                    .collect();
                format!("$filter={encoded}")
            } else {
                pick(rng, OPTIONS).to_string()
            };
            shot.path = format!("{base}?{query}");
        }
        // Creates with broken bodies, each unable to succeed.
        4 | 5 => {
            let (path, poisoned) = pick(
                rng,
                &[
                    (format!("/beta/industryData/incomingFlows/{ghost}/runs"), false),
                    (format!("/beta/industryData/runGroups/{ghost}/runs"), false),
                    ("/beta/industryData/runs".to_owned(), true),
                    ("/beta/industryData/runGroups".to_owned(), true),
                    ("/beta/industryData/incomingFlows".to_owned(), true),
                    ("/beta/industryData/outgoingFlows".to_owned(), true),
                    (format!("/beta/industryData/incomingFlows/{}/runs", t.flow), true),
                ],
            )
            .clone();
            let body = bodies(rng);
            shot.method = Method::POST;
            shot.path = path;
            shot.body = Some(if poisoned { poison(body) } else { body });
            shot.headers.push(("content-type".into(), b"application/json".to_vec()));
        }
        // Updates with broken bodies and a stale If-Match.
        6 | 7 => {
            let path = pick(
                rng,
                &[
                    format!("/beta/industryData/runs/{}", t.run),
                    format!("/beta/industryData/runGroups/{}", t.group),
                    format!("/beta/industryData/incomingFlows/{}", t.flow),
                    format!("/beta/industryData/outgoingFlows/{}", t.out_flow),
                    format!("/beta/industryData/runs/{}", t.member),
                ],
            )
            .clone();
            shot.method = Method::PATCH;
            shot.path = path;
            shot.body = Some(bodies(rng));
            shot.headers.push(("content-type".into(), b"application/json".to_vec()));
            shot.headers.push(stale.clone());
        }
        // References and actions with hostile bodies aimed at nothing that exists.
        8 => {
            shot.method = pick(rng, &[Method::POST, Method::PUT]).clone();
            shot.path = pick(
                rng,
                &[
                    format!("/beta/industryData/runs/{ghost}/process/$ref"),
                    format!("/beta/industryData/runGroups/{ghost}/runs/$ref"),
                    format!("/beta/industryData/incomingFlows/{ghost}/runNow"),
                    format!("/beta/industryData/runGroups/{}/runs/{ghost}/$ref", t.group),
                ],
            )
            .clone();
            shot.body = Some(bodies(rng));
            shot.headers.push(("content-type".into(), b"application/json".to_vec()));
        }
        // Odd Content-Types and bodies where none belongs.
        9 => {
            shot.method = pick(rng, &[Method::POST, Method::PATCH, Method::GET, Method::DELETE]).clone();
            shot.path = pick(
                rng,
                &[
                    format!("/beta/industryData/incomingFlows/{ghost}/runs"),
                    format!("/beta/industryData/runs/{ghost}"),
                    "/beta/industryData/runs".to_owned(),
                ],
            )
            .clone();
            if shot.method != Method::GET {
                shot.headers.push(stale.clone());
            }
            if let Some(ct) = pick(rng, CONTENT_TYPES) {
                shot.headers.push(("content-type".into(), ct.as_bytes().to_vec()));
            }
            shot.body = Some(poison(bodies(rng)));
        }
        // Hostile headers: huge, many, invalid bytes, forged ids, conditional nonsense.
        10 => {
            shot.path = format!("/beta/industryData/runs/{}", t.run);
            let pairs: Vec<(String, Vec<u8>)> = match rng.random_range(0..9) {
                0 => {
                    shot.may_cut = true;
                    vec![("x-huge".into(), vec![b'a'; 100 * 1024])]
                }
                1 => {
                    shot.may_cut = true;
                    (0..200).map(|i| (format!("x-many-{i}"), b"v".to_vec())).collect()
                }
                2 => vec![("if-none-match".into(), b"\xff\xfe".to_vec())],
                3 => vec![("client-request-id".into(), vec![b'c'; 10_000])],
                4 => vec![("prefer".into(), b"return=minimal, odata.maxpagesize=-1, respond-async, wait=99999999999".to_vec())],
                5 => vec![("accept".into(), b"application/xml;q=1.0, */*;q=0".to_vec())],
                6 => vec![("host".into(), b"evil.example/../../\xc3\xa9".to_vec())],
                7 => vec![("authorization".into(), b"Bearer \xff\xfe.\x80.\x80".to_vec())],
                _ => vec![("if-match".into(), vec![b'"'; 5000])],
            };
            shot.headers = pairs;
        }
        // Long URLs and unicode in paths.
        _ => {
            shot.path = match rng.random_range(0..4) {
                0 => format!("/beta/industryData/runs?$filter=displayName eq '{}'", "é".repeat(rng.random_range(1..3000))),
                1 => format!("/beta/industryData/{}", "a/".repeat(rng.random_range(1..2000))),
                2 => format!("/beta/industryData/runs/{}", "%F0%9F%92%A9".repeat(500)),
                _ => format!("/beta/industryData/runs?x={}", "z".repeat(40_000)),
            };
        }
    }
    shot
}

async fn fire(app: &TestApp, client: &reqwest::Client, shot: &Shot) -> Result<u16, String> {
    let mut request = client.request(shot.method.clone(), app.url(&shot.path));
    for (k, v) in &shot.headers {
        match reqwest::header::HeaderValue::from_bytes(v) {
            Ok(value) => request = request.header(k.as_str(), value),
            Err(_) => return Ok(0), // not sendable as HTTP: skip
        }
    }
    if let Some(body) = &shot.body {
        request = request.body(body.clone());
    }
    match request.send().await {
        Ok(response) => {
            let status = response.status().as_u16();
            let _ = response.bytes().await;
            Ok(status)
        }
        Err(e) if e.is_builder() => Ok(0), // not expressible as a request: skip
        Err(e) => Err(e.to_string()),
    }
}

/// Requests no HTTP library would send, written to the socket as they are.
fn raw_requests(t: &Targets) -> Vec<Vec<u8>> {
    let run = &t.run;
    let mut out: Vec<Vec<u8>> = vec![
        b"GET /beta/industryData/runs/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"GET /beta/industryData/runs?$filter=displayName%20eq%20'\xc3\x28' HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"GET /beta/../../../etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"GET /beta/industryData/runs/..%2f..%2f HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"GET http://evil.example/beta/industryData/runs HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"GET * HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"GET /beta/industryData/runs HTTP/1.0\r\n\r\n".to_vec(),
        b"GET /beta/industryData/runs HTTP/1.1\r\n\r\n".to_vec(),
        b"GET /beta/industryData/runs HTTP/9.9\r\nHost: x\r\n\r\n".to_vec(),
        b"BREW /beta/industryData/runs HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"GET /beta/industryData/runs HTTP/1.1\r\nHost: x\r\nX-Null: a\x00b\r\n\r\n".to_vec(),
        b"GET /beta/industryData/runs HTTP/1.1\r\nHost: x\r\nBad Header: v\r\n\r\n".to_vec(),
        b"GET /beta/industryData/runs HTTP/1.1\nHost: x\n\n".to_vec(),
        b"\r\n\r\n\r\n".to_vec(),
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03".to_vec(),
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00garbage".to_vec(),
        b"POST /beta/industryData/runGroups HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: -1\r\n\r\n{}".to_vec(),
        b"POST /beta/industryData/runGroups HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 99999999999999999999999\r\n\r\n{}".to_vec(),
        b"POST /beta/industryData/runGroups HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n{\"a\":1}".to_vec(),
        b"POST /beta/industryData/runGroups HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nzz\r\n{}\r\n0\r\n\r\n".to_vec(),
        b"POST /beta/industryData/runGroups HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffff\r\n{}\r\n0\r\n\r\n".to_vec(),
        b"POST /beta/industryData/runGroups HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n".to_vec(),
        format!("PATCH /beta/industryData/runs/{run} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nIf-Match: \"999\"\r\nContent-Length: 4\r\n\r\nnullGET /beta/industryData/runs HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes(),
        format!("DELETE /beta/industryData/runs/{run} HTTP/1.1\r\nHost: x\r\nIf-Match: \"999\"\r\nContent-Length: 0\r\n\r\n").into_bytes(),
    ];
    // Request smuggling attempts: a second request hidden in the body of a refused first one.
    out.push(
        format!("POST /beta/industryData/runs HTTP/1.1\r\nHost: x\r\nContent-Length: 60\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nDELETE /beta/industryData/runs/{run} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes(),
    );
    out
}

/// Sends one raw request; returns the status of the first reply, if any (0: the server closed).
async fn fire_raw(app: &TestApp, bytes: &[u8]) -> u16 {
    let addr = app.base.trim_start_matches("http://").to_owned();
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = stream.write_all(bytes).await;
    let _ = stream.shutdown().await;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
    let text = String::from_utf8_lossy(&out);
    text.strip_prefix("HTTP/1.1 ").and_then(|s| s.get(..3)).and_then(|s| s.parse().ok()).unwrap_or(0)
}

/// A client that keeps no idle connections, sending `bearer` as its token.
fn fresh_client(bearer: Option<&str>) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(token) = bearer {
        headers.insert(reqwest::header::AUTHORIZATION, format!("Bearer {token}").parse().unwrap());
    }
    reqwest::Client::builder().pool_max_idle_per_host(0).default_headers(headers).build().unwrap()
}

async fn seed(app: &TestApp) -> Targets {
    let flow = app.incoming_flow("hostile target").await;
    let out_flow = app.outgoing_flow("hostile out").await;
    let run = app.run_of(&flow, json!({"displayName": "victim", "statistics": {"rows": 1}})).await["id"].as_str().unwrap().to_owned();
    let group = app.group("victim group").await;
    let member = app.run_of(&flow, json!({"displayName": "member", "status": "failed"})).await["id"].as_str().unwrap().to_owned();
    app.add_member(&group, &member).await;
    Targets { flow, out_flow, run, group, member }
}

/// Seeds `app`, fires `count` generated requests (with `bearer` as the token, if any) and the raw
/// ones, and checks the outcome; returns how many were sent.
async fn barrage(app: &TestApp, count: usize, seed_value: u64, bearer: Option<&str>) -> usize {
    let targets = seed(app).await;
    let before = app.snapshot_state().await;
    let mut rng = StdRng::seed_from_u64(seed_value);
    let shots: Vec<Shot> = (0..count).map(|_| generate(&mut rng, &targets)).collect();
    // A fresh connection per request: a connection the server closed after refusing a request
    // (as HTTP/1.1 allows) must not be mistaken for a failure by reusing it.
    let client = fresh_client(bearer);
    let results: Vec<(Shot, Result<u16, String>)> = futures::stream::iter(shots)
        .map(|shot| {
            let client = client.clone();
            async move {
                let result = fire(app, &client, &shot).await;
                (shot, result)
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let mut failures = Vec::new();
    let mut sent = 0;
    for (shot, result) in &results {
        match result {
            Ok(0) => {}
            Ok(status) => {
                sent += 1;
                if *status >= 500 {
                    failures.push(format!(
                        "{status} for {} {} {:?}",
                        shot.method,
                        shot.path.chars().take(200).collect::<String>(),
                        shot.headers.iter().map(|h| &h.0).collect::<Vec<_>>()
                    ));
                }
            }
            Err(e) if shot.may_cut => {
                if std::env::var_os("HOSTILE_DEBUG").is_some() {
                    eprintln!(
                        "cut off: {e:?} {} {} {:?}",
                        shot.method,
                        shot.path.len(),
                        shot.headers.iter().map(|h| (h.0.clone(), h.1.len())).collect::<Vec<_>>()
                    );
                }
                sent += 1;
            }
            Err(e) => failures.push(format!("no reply ({e}) for {} {}", shot.method, shot.path.chars().take(200).collect::<String>())),
        }
    }
    for raw in raw_requests(&targets) {
        let status = fire_raw(app, &raw).await;
        sent += 1;
        if status >= 500 {
            failures.push(format!("{status} for raw {:?}", String::from_utf8_lossy(&raw[..raw.len().min(120)])));
        }
    }
    let mut histogram = std::collections::BTreeMap::new();
    for (_, result) in &results {
        *histogram.entry(result.as_ref().map_or(-1, |s| i32::from(*s))).or_insert(0) += 1;
    }
    eprintln!("hostile replies by status (-1: cut off, 0: not sendable): {histogram:?}");
    assert!(failures.is_empty(), "{} of {} hostile requests failed the server:\n{}", failures.len(), results.len(), failures.join("\n"));
    app.get("/healthz").await.assert_status(200);
    assert_eq!(app.snapshot_state().await, before, "hostile requests changed the stored data");
    // The service still works normally afterwards.
    let flow = app.incoming_flow("after").await;
    app.run_of(&flow, json!({})).await;
    sent
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_hostile_requests_do_no_harm() {
    let app = TestApp::spawn_with(runhub_server::Security::default()).await;
    let sent = barrage(&app, 2000, 0x5EED_0006, None).await;
    assert!(sent >= 2000, "only {sent} requests were sent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_with_a_valid_token_do_no_harm_either() {
    let server = secured().await;
    let bearer = token("tenant-h", &ALL);
    let app = server.as_caller(&bearer);
    barrage(&app, 300, 0x5EED_0007, Some(&bearer)).await;
}
