//! The live stream (docs/change-tracking.md): the delta URL with `Accept: text/event-stream`.

use std::time::{Duration, Instant};

use reqwest::Method;
use runhub_server::FeedSettings;
use serde_json::{Value, json};

use crate::delta::{bare, round};
use crate::helpers::{Reply, TestApp};
use crate::tokens::{ALL, jwt, token};

/// A reader of one SSE reply.
pub struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

/// One SSE block: its fields, or a comment.
#[derive(Debug)]
pub struct Block {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: Option<String>,
    pub comment: Option<String>,
}

impl EventStream {
    /// Opens a stream; the error reply when the server refuses it.
    pub async fn open(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Result<Self, Reply> {
        let mut req = app.client.get(app.url(path)).header("accept", "text/event-stream");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let response = req.send().await.unwrap();
        if response.status() != 200 {
            let (status, headers) = (response.status(), response.headers().clone());
            return Err(Reply { status, headers, text: response.text().await.unwrap() });
        }
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Ok(Self { response, buffer: String::new() })
    }

    /// The next block (bounded wait: a missing event fails the test instead of hanging it).
    pub async fn block(&mut self) -> Option<Block> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let text: String = self.buffer.drain(..end + 2).collect();
                let mut block = Block { id: None, event: None, data: None, comment: None };
                for line in text.lines().filter(|l| !l.is_empty()) {
                    match line.split_once(':') {
                        Some(("", rest)) => block.comment = Some(rest.trim().to_owned()),
                        Some(("id", v)) => block.id = Some(v.trim().to_owned()),
                        Some(("event", v)) => block.event = Some(v.trim().to_owned()),
                        Some(("data", v)) => block.data = Some(v.trim_start().to_owned()),
                        _ => panic!("unexpected SSE line {line:?}"),
                    }
                }
                return Some(block);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let chunk = tokio::time::timeout(left, self.response.chunk()).await.expect("no SSE event within 15 s").unwrap();
            match chunk {
                Some(bytes) => self.buffer.push_str(std::str::from_utf8(&bytes).unwrap()),
                None => return None,
            }
        }
    }

    /// The next change event (comments skipped): its id and its delta item.
    pub async fn change(&mut self) -> (String, Value) {
        loop {
            let block = self.block().await.expect("the stream ended");
            if block.comment.is_some() && block.data.is_none() {
                continue;
            }
            assert_eq!(block.event.as_deref(), Some("change"), "{block:?}");
            let data: Value = serde_json::from_str(block.data.as_deref().unwrap()).unwrap();
            return (block.id.expect("every change has an id"), data);
        }
    }
}

async fn stream(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> EventStream {
    match EventStream::open(app, path, headers).await {
        Ok(s) => s,
        Err(reply) => panic!("the stream was refused: {} {}", reply.status, reply.text),
    }
}

#[tokio::test]
async fn each_change_is_an_event_from_now_on() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let before = app.run_of(&flow, json!({"displayName": "before"})).await;
    let mut events = stream(&app, "/beta/industryData/runs/delta", &[]).await;
    let run = app.run_of(&flow, json!({"displayName": "created"})).await;
    let id = run["id"].as_str().unwrap().to_owned();
    let (mut first_id, mut item) = events.change().await;
    // "Now" is the watermark: on SQLite exactly the open; on PostgreSQL a transaction in flight
    // anywhere on the server (other tests' databases too) may hold it back, so a change committed
    // just before the open may come first — a duplicate, never a gap.
    if app.postgres.is_some() && item["id"] == before["id"] {
        assert_eq!(item, bare(before));
        (first_id, item) = events.change().await;
    }
    assert_eq!(item, bare(run), "the item exactly as in a delta page; nothing from before the stream");
    app.patch(&format!("/beta/industryData/runs/{id}"), json!({"status": "failed"})).await.assert_status(200);
    let (_, item) = events.change().await;
    assert_eq!(item["status"], "failed");
    app.delete(&format!("/beta/industryData/runs/{id}")).await.assert_status(204);
    let (last_id, item) = events.change().await;
    assert_eq!(item, json!({"@odata.type": "#microsoft.graph.industryData.incomingFlowRun", "id": id, "@removed": {"reason": "deleted"}}));
    assert_ne!(first_id, last_id);
    // An event id is a delta token: the changes after it.
    let after_first = round(&app, &format!("/beta/industryData/runs/delta?$deltatoken={first_id}"), &[]).await;
    assert_eq!(after_first.items.len(), 1, "{:?}", after_first.items);
    assert_eq!(after_first.items[0]["@removed"]["reason"], "deleted");
}

#[tokio::test]
async fn a_reconnecting_client_loses_nothing() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let start = round(&app, "/beta/industryData/runs/delta?$select=displayName", &[]).await;
    let token = start.delta_link.split("$deltatoken=").nth(1).unwrap().to_owned();
    let mut events = stream(&app, &format!("/beta/industryData/runs/delta?$deltatoken={token}"), &[]).await;
    let one = app.run_of(&flow, json!({"displayName": "one"})).await;
    let (id, item) = events.change().await;
    assert_eq!(item["id"], one["id"]);
    assert!(item.get("status").is_none(), "$select of the first request: {item}");
    drop(events);

    // Missed while disconnected.
    let two = app.run_of(&flow, json!({"displayName": "two"})).await;
    let three = app.run_of(&flow, json!({"displayName": "three"})).await;
    let mut again = stream(&app, "/beta/industryData/runs/delta", &[("Last-Event-ID", &id)]).await;
    let (two_id, a) = again.change().await;
    let (_, b) = again.change().await;
    assert_eq!((a["id"].clone(), b["id"].clone()), (two["id"].clone(), three["id"].clone()));
    assert_eq!(
        b,
        json!({"@odata.type": "#microsoft.graph.industryData.incomingFlowRun", "@odata.etag": "\"1\"", "id": three["id"], "displayName": "three"})
    );
    // Then it goes on live.
    let four = app.run_of(&flow, json!({"displayName": "four"})).await;
    assert_eq!(again.change().await.1["id"], four["id"]);
    // The same replay through $deltatoken.
    let mut third = stream(&app, &format!("/beta/industryData/runs/delta?$deltatoken={two_id}"), &[]).await;
    let (_, x) = third.change().await;
    assert_eq!(x["id"], three["id"]);
}

#[tokio::test]
async fn a_filtered_stream_shows_only_its_matches() {
    let app = TestApp::spawn().await;
    let a = app.incoming_flow("a").await;
    let b = app.incoming_flow("b").await;
    let mut events = stream(&app, &format!("/beta/industryData/runs/delta?$filter=process/id eq '{a}'"), &[]).await;
    app.run_of(&b, json!({"displayName": "b's"})).await;
    let mine = app.run_of(&a, json!({"displayName": "a's"})).await;
    let (_, item) = events.change().await;
    assert_eq!(item["id"], mine["id"], "b's run never shows");
    let to_b = json!({"@odata.id": app.beta(&format!("industryData/incomingFlows/{b}"))});
    let id = mine["id"].as_str().unwrap();
    app.send(Method::PUT, &format!("/beta/industryData/runs/{id}/process/$ref"), Some(&to_b), &[]).await.assert_status(204);
    let (_, item) = events.change().await;
    assert_eq!(item["@removed"]["reason"], "changed");
}

#[tokio::test]
async fn bad_stream_requests_are_graph_errors() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    app.run_of(&flow, json!({})).await;
    app.run_of(&flow, json!({})).await;
    let before = app.snapshot_state().await;
    for (headers, path, target) in [
        (vec![("Last-Event-ID", "garbage")], "/beta/industryData/runs/delta", "Last-Event-ID"),
        (vec![("Last-Event-ID", "x.y")], "/beta/industryData/runs/delta", "Last-Event-ID"),
        (vec![], "/beta/industryData/runs/delta?$deltatoken=nope", "$deltatoken"),
        (vec![], "/beta/industryData/runs/delta?$top=1", "$top"),
    ] {
        let r = EventStream::open(&app, path, &headers).await.err().expect("refused");
        assert_eq!(r.status.as_u16(), 400, "{}", r.text);
        assert_eq!(r.json()["error"]["target"], target, "{}", r.text);
    }
    // A skiptoken of the first round's listing: follow the listing first.
    let r = app.send(Method::GET, "/beta/industryData/runs/delta", None, &[("Prefer", "odata.maxpagesize=1")]).await;
    let next = r.json()["@odata.nextLink"].as_str().unwrap().to_owned();
    let r = EventStream::open(&app, &next, &[]).await.err().expect("refused");
    r.assert_target(400, "invalidDeltaToken", "$skiptoken");
    // A token of another collection.
    let flows = round(&app, "/beta/industryData/incomingFlows/delta", &[]).await;
    let token = flows.delta_link.split("$deltatoken=").nth(1).unwrap().to_owned();
    let r = EventStream::open(&app, "/beta/industryData/runs/delta", &[("Last-Event-ID", &token)]).await.err().expect("refused");
    r.assert_target(400, "invalidDeltaToken", "Last-Event-ID");
    assert_eq!(app.snapshot_state().await, before);
}

#[tokio::test]
async fn streams_never_carry_another_tenants_change() {
    let app = TestApp::spawn_with(jwt(Default::default())).await;
    let a = app.as_caller(&token("tenant-a", &ALL));
    let b = app.as_caller(&token("tenant-b", &ALL));
    let a_flow = a.incoming_flow("a").await;
    let b_flow = b.incoming_flow("b").await;
    let mut a_events = stream(&a, "/beta/industryData/runs/delta", &[]).await;
    let mut b_events = stream(&b, "/beta/industryData/runs/delta", &[]).await;
    let a_run = a.run_of(&a_flow, json!({"displayName": "a's"})).await;
    let b_run = b.run_of(&b_flow, json!({"displayName": "b's"})).await;
    assert_eq!(a_events.change().await.1["id"], a_run["id"]);
    assert_eq!(b_events.change().await.1["id"], b_run["id"], "b's first event is b's own change, not a's");
    // A's event id is no token for B.
    let (a_id, _) = {
        a.patch(&format!("/beta/industryData/runs/{}", a_run["id"].as_str().unwrap()), json!({"displayName": "x"}))
            .await
            .assert_status(200);
        a_events.change().await
    };
    let r = EventStream::open(&b, "/beta/industryData/runs/delta", &[("Last-Event-ID", &a_id)]).await.err().expect("refused");
    r.assert_target(400, "invalidDeltaToken", "Last-Event-ID");
}

#[tokio::test]
async fn at_most_max_streams_and_idle_streams_are_kept_alive() {
    let app = TestApp::spawn_full(
        runhub_server::Security::default(),
        FeedSettings { max_streams: 2, keepalive: Duration::from_millis(100), ..FeedSettings::default() },
    )
    .await;
    let mut one = stream(&app, "/beta/industryData/runs/delta", &[]).await;
    let _two = stream(&app, "/beta/industryData/incomingFlows/delta", &[]).await;
    let r = EventStream::open(&app, "/beta/industryData/runs/delta", &[]).await.err().expect("a third stream is refused");
    r.assert_error(503, "tooManyStreams");
    assert_eq!(r.json()["error"]["code"], "serviceNotAvailable");
    assert!(r.header("retry-after").is_some());
    // Plain delta requests are not streams: still served.
    app.get("/beta/industryData/runs/delta").await.assert_status(200);
    // An idle stream gets a comment line.
    let block = one.block().await.unwrap();
    assert!(block.comment.is_some() && block.data.is_none(), "{block:?}");
    // A closed stream frees its place (bounded poll: the server notices at its next write).
    drop(one);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        match EventStream::open(&app, "/beta/industryData/runs/delta", &[]).await {
            Ok(_) => break,
            Err(r) => assert_eq!(r.status.as_u16(), 503),
        }
        assert!(Instant::now() < deadline, "the closed stream's place was never freed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
