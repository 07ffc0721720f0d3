//! Change tracking across replicas and processes: no missed change under concurrent writers
//! (the race), a change through one replica reaching live streams on another, and streams ending
//! cleanly on SIGTERM.
//!
//! The race: a delta follower misses no change, whatever order concurrent writers commit in
//! (docs/change-tracking.md, "the watermark"). Writers go through TWO replicas — on PostgreSQL two
//! stores with their own pools on one schema, whose transactions commit in another order than
//! they wrote their log rows (members of one runGroup queue on the group's row lock after
//! logging their own change) — while followers keep following deltaLinks through either replica.
//! When the writers are done, each follower's reconstructed state must become exactly the real
//! one: a change handed out too early (before an earlier-written one committed) would be missed
//! for good, and the comparison would never succeed.

#[path = "common/binary.rs"]
mod binary;
#[path = "common/pg.rs"]
#[allow(dead_code)]
mod pg;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::Method;
use runhub_store::Store;
use serde_json::{Value, json};

const NS: &str = "#microsoft.graph.industryData";
const WRITERS: usize = 6;
const OPS_PER_WRITER: usize = 25;

#[path = "common/http.rs"]
mod http;
#[path = "common/replica.rs"]
mod replica;

use http::send;

use replica::Replica;

async fn replica(store: Arc<dyn Store>) -> Replica {
    replica::serve(store).await
}

/// Every item of a listing, following nextLinks.
async fn walk(c: &reqwest::Client, first: String) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut next = Some(first);
    while let Some(url) = next {
        let (status, body) = send(c, Method::GET, &url, None, &[]).await;
        assert_eq!(status, 200, "{body}");
        for item in body["value"].as_array().unwrap() {
            out.insert(item["id"].as_str().unwrap().to_owned(), item.clone());
        }
        next = body["@odata.nextLink"].as_str().map(str::to_owned);
    }
    out
}

/// A delta client: its copy of the collection, and where it is.
struct Follower {
    state: BTreeMap<String, Value>,
    link: String,
    rounds: usize,
}

impl Follower {
    /// Follows one round to its deltaLink, through replica `via` (links are rewritten to it: any
    /// replica honours any replica's tokens).
    async fn round(&mut self, c: &reqwest::Client, bases: &[String], via: usize) {
        let mut url = self.link.clone();
        loop {
            let rest = url.split_once("/beta/").unwrap().1;
            let target = format!("{}/beta/{rest}", bases[via % bases.len()]);
            let (status, body) = send(c, Method::GET, &target, None, &[("Prefer", "odata.maxpagesize=7")]).await;
            assert_eq!(status, 200, "{body}");
            for item in body["value"].as_array().unwrap() {
                let id = item["id"].as_str().unwrap().to_owned();
                if item.get("@removed").is_some() {
                    self.state.remove(&id);
                } else {
                    self.state.insert(id, item.clone());
                }
            }
            match (body["@odata.nextLink"].as_str(), body["@odata.deltaLink"].as_str()) {
                (Some(next), None) => url = next.to_owned(),
                (None, Some(delta)) => {
                    self.link = delta.to_owned();
                    self.rounds += 1;
                    return;
                }
                other => panic!("a delta page needs exactly one of nextLink and deltaLink: {other:?}"),
            }
        }
    }
}

fn diff(expected: &BTreeMap<String, Value>, got: &BTreeMap<String, Value>) -> String {
    let mut out = Vec::new();
    for (id, e) in expected {
        match got.get(id) {
            None => out.push(format!("missing {id}: {e}")),
            Some(g) if g != e => out.push(format!("stale {id}: have {g}, real {e}")),
            _ => {}
        }
    }
    for id in got.keys().filter(|id| !expected.contains_key(*id)) {
        out.push(format!("not deleted {id}"));
    }
    out.join("\n")
}

/// The race: writers through both replicas, two followers (everything; one flow's runs through
/// a `process/id` filter, where re-pointed runs must leave as `changed`).
async fn race(stores: Vec<Arc<dyn Store>>) {
    let replicas: Vec<Replica> = {
        let mut v = Vec::new();
        for s in stores {
            v.push(replica(s).await);
        }
        v
    };
    let bases: Vec<String> = replicas.iter().map(|r| r.base.clone()).collect();
    let c = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let b0 = &bases[0];
    let flow = |name: &'static str| {
        let c = c.clone();
        let url = format!("{b0}/beta/industryData/incomingFlows");
        async move {
            let (s, body) = send(&c, Method::POST, &url, Some(json!({"displayName": name, "readinessStatus": "ready"})), &[]).await;
            assert_eq!(s, 201, "{body}");
            body["id"].as_str().unwrap().to_owned()
        }
    };
    let (flow_a, flow_b) = (flow("a").await, flow("b").await);
    let mut groups = Vec::new();
    for g in 0..2 {
        let (s, body) =
            send(&c, Method::POST, &format!("{b0}/beta/industryData/runGroups"), Some(json!({"displayName": format!("g{g}")})), &[]).await;
        assert_eq!(s, 201, "{body}");
        groups.push(body["id"].as_str().unwrap().to_owned());
    }

    let all_link = format!("{b0}/beta/industryData/runs/delta");
    let filtered_link = format!("{b0}/beta/industryData/runs/delta?$filter=process/id%20eq%20'{flow_a}'");
    let mut all = Follower { state: BTreeMap::new(), link: all_link, rounds: 0 };
    let mut of_a = Follower { state: BTreeMap::new(), link: filtered_link, rounds: 0 };

    let done = Arc::new(AtomicBool::new(false));
    let mut writers = Vec::new();
    for w in 0..WRITERS {
        let (c, bases, groups, flow_a, flow_b) = (c.clone(), bases.clone(), groups.clone(), flow_a.clone(), flow_b.clone());
        writers.push(tokio::spawn(async move {
            for i in 0..OPS_PER_WRITER {
                let base = &bases[(w + i) % bases.len()];
                let other = &bases[(w + i + 1) % bases.len()];
                let (flow, moved) = if i % 2 == 0 { (&flow_a, &flow_b) } else { (&flow_b, &flow_a) };
                let group = &groups[(w + i) % groups.len()];
                // Created as a member: its log row is written, then the transaction queues on the
                // group's row lock before it commits.
                let (s, run) = send(
                    &c,
                    Method::POST,
                    &format!("{base}/beta/industryData/runGroups/{group}/runs"),
                    Some(json!({"@odata.type": format!("{NS}.incomingFlowRun"), "displayName": format!("w{w}-{i}"),
                                "process@odata.bind": format!("{base}/beta/industryData/incomingFlows/{flow}")})),
                    &[],
                )
                .await;
                assert_eq!(s, 201, "{run}");
                let id = run["id"].as_str().unwrap();
                let run_url = format!("{other}/beta/industryData/runs/{id}");
                let (s, body) = send(&c, Method::PATCH, &run_url, Some(json!({"statistics": {"step": i}})), &[]).await;
                assert_eq!(s, 200, "{body}");
                if i % 3 == 1 {
                    let body = json!({"@odata.id": format!("{other}/beta/industryData/incomingFlows/{moved}")});
                    let (s, reply) = send(&c, Method::PUT, &format!("{run_url}/process/$ref"), Some(body), &[]).await;
                    assert_eq!(s, 204, "{reply}");
                }
                let (s, body) =
                    send(&c, Method::PATCH, &format!("{base}/beta/industryData/runs/{id}"), Some(json!({"status": "completed"})), &[])
                        .await;
                assert_eq!(s, 200, "{body}");
                if i % 4 == 3 {
                    let (s, body) = send(&c, Method::DELETE, &run_url, None, &[]).await;
                    assert_eq!(s, 204, "{body}");
                }
            }
        }));
    }
    // Follow while they write.
    let follow = {
        let (c, bases, done) = (c.clone(), bases.clone(), done.clone());
        tokio::spawn(async move {
            let mut via = 0;
            while !done.load(Ordering::SeqCst) {
                all.round(&c, &bases, via).await;
                of_a.round(&c, &bases, via + 1).await;
                via += 1;
            }
            (all, of_a)
        })
    };
    for w in writers {
        w.await.unwrap();
    }
    done.store(true, Ordering::SeqCst);
    let (mut all, mut of_a) = follow.await.unwrap();
    assert!(all.rounds > 2, "the follower followed while the writers wrote ({} rounds)", all.rounds);

    // Writers are done: a few more rounds must bring each follower to the real state. Bounded:
    // on PostgreSQL the readable range waits for transactions still in flight anywhere on the
    // server, which is brief; a missed change never arrives.
    let real_all = walk(&c, format!("{b0}/beta/industryData/runs?$top=999")).await;
    let real_a = walk(&c, format!("{b0}/beta/industryData/incomingFlows/{flow_a}/runs?$top=999")).await;
    assert!(real_all.len() > WRITERS * OPS_PER_WRITER / 2, "the writers left runs behind");
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut via = 0;
    loop {
        all.round(&c, &bases, via).await;
        of_a.round(&c, &bases, via + 1).await;
        via += 1;
        if all.state == real_all && of_a.state == real_a {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "a follower missed changes.\nall runs:\n{}\nruns of flow a:\n{}",
            diff(&real_all, &all.state),
            diff(&real_a, &of_a.state)
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_missed_change_through_two_postgres_replicas() {
    let db = pg::TestDb::create().await;
    let options = runhub_store::postgres::Options { pool_size: 8, timeout: Duration::from_secs(10) };
    let a = runhub_store::open_postgres(&db.url, options.clone()).await.unwrap();
    let b = runhub_store::open_postgres(&db.url, options).await.unwrap();
    race(vec![a, b]).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_missed_change_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> = Arc::new(runhub_store::sqlite::SqliteStore::open(dir.path(), Default::default()).await.unwrap());
    // One database file has one writer: two routers over the one store.
    race(vec![store.clone(), store]).await;
}

/// Reads an SSE reply until a `change` event arrives (bounded); returns its data.
async fn next_change(response: &mut reqwest::Response, buffer: &mut String) -> Value {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        if let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            if block.lines().any(|l| l == "event: change") {
                let data = block.lines().find_map(|l| l.strip_prefix("data: ")).expect("a change has data");
                return serde_json::from_str(data).unwrap();
            }
            continue;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        let chunk =
            tokio::time::timeout(left, response.chunk()).await.expect("no change event within 15 s").unwrap().expect("the stream ended");
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
    }
}

async fn open_stream(c: &reqwest::Client, url: &str) -> reqwest::Response {
    let response = c.get(url).header("accept", "text/event-stream").send().await.unwrap();
    assert_eq!(response.status(), 200);
    response
}

/// A change committed through one replica reaches a stream open on the other (which learns of it
/// by polling the watermark, not from its own commit). Prints the delivery latency it saw.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_change_through_one_replica_reaches_streams_on_the_other() {
    let db = pg::TestDb::create().await;
    let options = runhub_store::postgres::Options { pool_size: 4, timeout: Duration::from_secs(10) };
    let a = replica(runhub_store::open_postgres(&db.url, options.clone()).await.unwrap()).await;
    let b = replica(runhub_store::open_postgres(&db.url, options).await.unwrap()).await;
    let c = reqwest::Client::new();
    let (s, flow) = send(
        &c,
        Method::POST,
        &format!("{}/beta/industryData/incomingFlows", a.base),
        Some(json!({"displayName": "f", "readinessStatus": "ready"})),
        &[],
    )
    .await;
    assert_eq!(s, 201);
    let flow = flow["id"].as_str().unwrap().to_owned();
    let mut stream = open_stream(&c, &format!("{}/beta/industryData/runs/delta", b.base)).await;
    let mut buffer = String::new();
    let mut latencies = Vec::new();
    for i in 0..5 {
        let started = Instant::now();
        let (s, run) = send(
            &c,
            Method::POST,
            &format!("{}/beta/industryData/incomingFlows/{flow}/runs", a.base),
            Some(json!({"displayName": format!("r{i}")})),
            &[],
        )
        .await;
        assert_eq!(s, 201);
        let item = next_change(&mut stream, &mut buffer).await;
        assert_eq!(item["id"], run["id"], "the change made through the other replica");
        latencies.push(started.elapsed());
    }
    eprintln!("cross-replica stream delivery (PostgreSQL, 250 ms watermark poll): {latencies:?}");
}

/// SIGTERM ends open live streams, so the server stops at once instead of draining them for 30 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_open_streams() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = binary::spawn(&["--data-dir", dir.path().to_str().unwrap()], &[]);
    let c = reqwest::Client::new();
    let mut streams = Vec::new();
    for _ in 0..3 {
        streams.push(open_stream(&c, &format!("{}/beta/industryData/runs/delta", server.base)).await);
    }
    let (s, _) = send(
        &c,
        Method::POST,
        &format!("{}/beta/industryData/incomingFlows", server.base),
        Some(json!({"displayName": "f", "readinessStatus": "ready"})),
        &[],
    )
    .await;
    assert_eq!(s, 201);
    let mut buffer = String::new();
    unsafe {
        libc::kill(server.child.id() as i32, libc::SIGTERM);
    }
    // Each stream ends (its body completes) and the process exits cleanly, well before the drain
    // limit (bounded polls).
    for mut stream in streams {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match tokio::time::timeout(left, stream.chunk()).await.expect("the stream did not end after SIGTERM") {
                Ok(Some(bytes)) => buffer.push_str(std::str::from_utf8(&bytes).unwrap()),
                Ok(None) | Err(_) => break,
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "runhub did not stop after SIGTERM with streams open");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status:?}");
}
