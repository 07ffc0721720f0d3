//! Throttling and the limits against abuse. Each limit answers with its status
//! and a Graph error (or, for a client too slow to send its request head, cuts it off). No test
//! here depends on timing beyond generous bounds: rates are tiny, so outcomes are deterministic.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use reqwest::Method;
use runhub_server::Security;
use runhub_server::auth::Authenticator;
use runhub_server::limits::Limits;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{Reply, TestApp};
use crate::tokens::{ALL, jwt, token};

/// One request per ~17 minutes after the burst: nothing refills during a test.
const TINY_RATE: f64 = 0.001;

fn limits(f: impl FnOnce(&mut Limits)) -> Limits {
    let mut l = Limits::default();
    f(&mut l);
    l
}

async fn open(limits: Limits) -> TestApp {
    TestApp::spawn_with(Security { auth: Authenticator::None, limits }).await
}

#[track_caller]
fn assert_throttled(r: &Reply) {
    r.assert_error(429, "tooManyRequests");
    let retry: u64 = r.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!(retry >= 1, "{retry}");
}

#[tokio::test]
async fn a_tenant_past_its_rate_gets_429_and_others_do_not() {
    let server = TestApp::spawn_with(jwt(limits(|l| {
        l.rate_limit = Some(TINY_RATE);
        l.rate_burst = 3;
    })))
    .await;
    let a = server.as_caller(&token("tenant-a", &ALL));
    let b = server.as_caller(&token("tenant-b", &ALL));
    for _ in 0..3 {
        a.get("/beta/industryData/runs").await.assert_status(200);
    }
    assert_throttled(&a.get("/beta/industryData/runs").await);
    assert_throttled(&a.post("/beta/industryData/runGroups", json!({"displayName": "g"})).await);
    // Another token of the same tenant shares its budget.
    assert_throttled(&server.as_caller(&token("tenant-a", &["IndustryData-Run.Read.All"])).get("/beta/industryData/runs").await);
    // Tenant B, from the same address, is not throttled by A's flood.
    for _ in 0..3 {
        b.get("/beta/industryData/runs").await.assert_status(200);
    }
    assert_throttled(&b.get("/beta/industryData/runs").await);
    // Refused tokens are limited per client address, apart from the tenants.
    for _ in 0..3 {
        server.get("/beta/industryData/runs").await.assert_error(401, "missingToken");
    }
    assert_throttled(&server.get("/beta/industryData/runs").await);
    assert_throttled(&a.get("/beta/industryData/runs").await);
}

fn client_from(ip: Ipv4Addr) -> reqwest::Client {
    reqwest::Client::builder().local_address(IpAddr::V4(ip)).build().unwrap()
}

#[tokio::test]
async fn without_auth_the_rate_is_per_client_address() {
    let app = open(limits(|l| {
        l.rate_limit = Some(TINY_RATE);
        l.rate_burst = 2;
    }))
    .await;
    let one = client_from(Ipv4Addr::new(127, 0, 0, 1));
    let two = client_from(Ipv4Addr::new(127, 0, 0, 2));
    let url = app.url("/beta/industryData/runs");
    for _ in 0..2 {
        assert_eq!(one.get(&url).send().await.unwrap().status(), 200);
    }
    let r = one.get(&url).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_some());
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "tooManyRequests");
    // Another address has its own budget.
    for _ in 0..2 {
        assert_eq!(two.get(&url).send().await.unwrap().status(), 200);
    }
    assert_eq!(two.get(&url).send().await.unwrap().status(), 429);
}

#[tokio::test]
async fn long_urls_get_414_and_large_heads_get_431() {
    let app = open(limits(|l| {
        l.max_url_bytes = 1024;
        l.max_header_bytes = 4096;
    }))
    .await;
    let long = format!("/beta/industryData/runs?$filter=displayName eq '{}'", "x".repeat(1100));
    app.get(&long).await.assert_error(414, "uriTooLong");
    app.get(&format!("/beta/industryData/{}", "a".repeat(2000))).await.assert_error(414, "uriTooLong");
    let big = "y".repeat(5000);
    app.send(Method::GET, "/beta/industryData/runs", None, &[("x-big", &big)]).await.assert_error(431, "requestHeaderFieldsTooLarge");
    let many: Vec<(String, String)> = (0..60).map(|i| (format!("x-h{i}"), "z".repeat(80))).collect();
    let refs: Vec<(&str, &str)> = many.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    app.send(Method::GET, "/beta/industryData/runs", None, &refs).await.assert_error(431, "requestHeaderFieldsTooLarge");
    // Within the limits all is well.
    app.get("/beta/industryData/runs?$top=5").await.assert_status(200);
    // Far past hyper's own buffer the connection is refused without a 5xx, and the service lives on.
    let huge = "h".repeat(512 * 1024);
    if let Ok(r) = app.client.get(app.url("/beta/industryData/runs")).header("x-huge", &huge).send().await {
        assert!(r.status().is_client_error(), "{}", r.status());
    }
    app.get("/healthz").await.assert_status(200);

    // The defaults accept the long query strings OData needs (a 4 KiB $filter, percent-encoded).
    let defaults = TestApp::spawn().await;
    let filter = format!("displayName eq '{}'", "%C3%A9".repeat(600));
    defaults.get(&format!("/beta/industryData/runs?$filter={filter}")).await.assert_status(200);
}

#[tokio::test]
async fn large_bodies_get_413_and_complex_filters_400() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let body = format!("{{\"displayName\":\"{}\"}}", "x".repeat(1024 * 1024 + 10));
    app.raw(Method::POST, &format!("/beta/industryData/incomingFlows/{flow}/runs"), Some("application/json"), body.into_bytes())
        .await
        .assert_error(413, "payloadTooLarge");
    let deep = format!("{}true{}", "not(".repeat(40), ")".repeat(40));
    let r = app.get(&format!("/beta/industryData/runs?$filter={deep}")).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.json()["error"]["target"], "$filter");
    let wide = (0..300).map(|i| format!("displayName eq 'n{i}'")).collect::<Vec<_>>().join(" or ");
    let r = app.get(&format!("/beta/industryData/runs?$filter={wide}")).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.json()["error"]["target"], "$filter");
    let long = format!("displayName eq '{}'", "q".repeat(5000));
    let r = app.get(&format!("/beta/industryData/runs?$filter={long}")).await;
    assert_eq!(r.status, 400, "{}", r.text);
    assert_eq!(r.json()["error"]["target"], "$filter");
}

fn addr(app: &TestApp) -> String {
    app.base.trim_start_matches("http://").to_owned()
}

/// Reads what the server sends until it closes (or `limit` passes): the bytes, and whether it closed.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (String::from_utf8_lossy(&out).into_owned(), true),
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&out).into_owned(), false),
        }
    }
}

#[tokio::test]
async fn a_client_sending_its_request_head_byte_by_byte_is_cut_off() {
    let app = open(limits(|l| l.header_timeout = Duration::from_millis(500))).await;
    let mut stream = TcpStream::connect(addr(&app)).await.unwrap();
    let request = format!("GET /beta/industryData/runs HTTP/1.1\r\nHost: x\r\nX-Slow: {}\r\n\r\n", "s".repeat(200));
    // One byte every 50 ms would take ~12 s; the server must hang up long before.
    let mut cut_off = false;
    for byte in request.as_bytes() {
        if stream.write_all(&[*byte]).await.is_err() {
            cut_off = true;
            break;
        }
        let mut buf = [0u8; 1024];
        match tokio::time::timeout(Duration::from_millis(50), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                cut_off = true;
                break;
            }
            Ok(Ok(_)) | Err(_) => {}
        }
    }
    assert!(cut_off, "the server waited for a whole slow request head");
    app.get("/healthz").await.assert_status(200);
}

#[tokio::test]
async fn a_request_whose_body_never_finishes_gets_408() {
    let app = open(limits(|l| l.request_timeout = Duration::from_millis(500))).await;
    let mut stream = TcpStream::connect(addr(&app)).await.unwrap();
    stream
        .write_all(b"POST /beta/industryData/runGroups HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"displ")
        .await
        .unwrap();
    let (reply, _) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains("\"requestTimeout\""), "{reply}");
    assert!(reply.contains("request-id:"), "{reply}");
    assert!(app.all_runs().await.is_empty());
}

#[tokio::test]
async fn requests_past_the_concurrency_cap_get_503() {
    let app = open(limits(|l| l.max_concurrent_requests = 1)).await;
    // A request that is in flight until we finish its body.
    let mut slow = TcpStream::connect(addr(&app)).await.unwrap();
    slow.write_all(b"POST /beta/industryData/runGroups HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 22\r\n\r\n{\"displayName\"").await.unwrap();
    // Wait (bounded) until the server holds it: then every other request is refused.
    let mut refused = None;
    for _ in 0..100 {
        let r = app.get("/beta/industryData/runs").await;
        if r.status == 503 {
            refused = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let refused = refused.expect("the cap of one request in flight was never reached");
    refused.assert_error(503, "tooManyConcurrentRequests");
    assert_eq!(refused.header("retry-after").as_deref(), Some("1"));
    // Finish it: it is served, and the next request is too.
    slow.write_all(b":\"slow\"}").await.unwrap();
    let (reply, _) = read_until_closed(&mut slow, Duration::from_millis(1500)).await;
    assert!(reply.starts_with("HTTP/1.1 201"), "{reply}");
    app.get("/beta/industryData/runs").await.assert_status(200);
}

#[tokio::test]
async fn connections_past_the_cap_get_503_and_are_closed() {
    let app = open(limits(|l| l.max_connections = 1)).await;
    // A keep-alive connection that has been answered once: the server holds its one slot.
    let mut held = TcpStream::connect(addr(&app)).await.unwrap();
    held.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let mut answer = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(10), held.read_exact(&mut answer)).await.expect("an answer in time").unwrap();
    assert_eq!(&answer, b"HTTP/1.1 200");
    let mut second = TcpStream::connect(addr(&app)).await.unwrap();
    second.write_all(b"GET /beta/industryData/runs HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let (reply, closed) = read_until_closed(&mut second, Duration::from_secs(10)).await;
    assert!(reply.starts_with("HTTP/1.1 503"), "{reply}");
    assert!(reply.to_ascii_lowercase().contains("retry-after: 1"), "{reply}");
    assert!(reply.contains("\"serviceNotAvailable\"") && reply.contains("\"tooManyConnections\""), "{reply}");
    assert!(closed);
    drop(held);
    // Once the held connection is gone, connections are served again.
    let mut ok = false;
    for _ in 0..100 {
        let client = reqwest::Client::new();
        if client.get(app.url("/healthz")).send().await.is_ok_and(|r| r.status() == 200) {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(ok, "the connection slot was never released");
}
