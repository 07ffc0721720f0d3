//! Server-driven paging (docs/api.md, "Query options"): walking the nextLinks of a filtered, ordered
//! collection while other clients insert, finish and delete runs returns every row that matched
//! throughout exactly once, in order; foreign or tampered `$skiptoken`s are 400s, never 500s.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::differential::enc;
use crate::helpers::{NS, TestApp, micros};

const NAMES: &[&str] = &["alpha", "Alpha", "beta", "gamma", "Ünïcode", "zeta", "ω"];

fn start(rng: &mut StdRng) -> String {
    runhub_model::Timestamp::from_micros(1_735_689_600_000_000 + rng.random_range(0..20) * 60_000_000).to_rfc3339()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn walking_pages_under_concurrent_writes_returns_each_matching_row_once_in_order() {
    let app = Arc::new(TestApp::spawn().await);
    let flow = app.incoming_flow("paged").await;
    let mut rng = StdRng::seed_from_u64(7);
    let runs_url = format!("/beta/industryData/incomingFlows/{flow}/runs");
    // 240 runs: running, completed or failed; few names and start times, so keys tie often.
    let mut bodies = Vec::new();
    for _ in 0..240 {
        let status = *["running", "running", "completed", "failed"].choose(&mut rng).unwrap();
        let mut body = json!({"displayName": NAMES.choose(&mut rng).unwrap(), "status": status, "startDateTime": start(&mut rng)});
        if status != "running" {
            body["endDateTime"] = body["startDateTime"].clone();
        }
        bodies.push(body);
    }
    for chunk in bodies.chunks(24) {
        for r in futures::future::join_all(chunk.iter().map(|b| app.post(&runs_url, b.clone()))).await {
            r.assert_status(201);
        }
    }
    // Matches while running or completed; finishing as failed makes a row stop matching.
    let filter = "status eq 'running' or status eq 'completed'";
    let orderby = "displayName desc,startDateTime";
    let query = format!("$filter={}&$orderby={}", enc(filter), enc(orderby));
    let before: Vec<Value> = app.walk(&format!("/beta/industryData/runs?{query}&$top=999")).await;
    let running: Vec<String> = before.iter().filter(|v| v["status"] == "running").map(|v| v["id"].as_str().unwrap().to_owned()).collect();
    let matching: Vec<String> = before.iter().map(|v| v["id"].as_str().unwrap().to_owned()).collect();

    let stop = Arc::new(AtomicBool::new(false));
    let deleted = Arc::new(Mutex::new(HashSet::<String>::new()));
    let failed = Arc::new(Mutex::new(HashSet::<String>::new()));
    let mut tasks = Vec::new();
    // Inserters.
    for seed in 0..2u64 {
        let (app, stop, runs_url) = (app.clone(), stop.clone(), runs_url.clone());
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(100 + seed);
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let body = json!({"displayName": NAMES.choose(&mut rng).unwrap(), "startDateTime": start(&mut rng)});
                app.post(&runs_url, body).await.assert_status(201);
                n += 1;
            }
            n
        }));
    }
    // Finisher: running → completed (still matches) or failed (stops matching).
    {
        let (app, stop, failed) = (app.clone(), stop.clone(), failed.clone());
        let mut ids = running.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(200);
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) {
                let Some(id) = ids.pop() else { break };
                let status = if rng.random_bool(0.5) { "completed" } else { "failed" };
                if status == "failed" {
                    failed.lock().await.insert(id.clone());
                }
                let r = app.patch(&format!("/beta/industryData/runs/{id}"), json!({"status": status})).await;
                assert!(r.status.is_success() || r.status.as_u16() == 404, "{}", r.text);
                n += 1;
            }
            n
        }));
    }
    // Deleter: removes pre-existing rows.
    {
        let (app, stop, deleted) = (app.clone(), stop.clone(), deleted.clone());
        let mut ids = matching.clone();
        let budget = ids.len() / 4;
        tasks.push(tokio::spawn(async move {
            let mut rng = StdRng::seed_from_u64(300);
            let mut n = 0;
            while !stop.load(Ordering::Relaxed) && n < budget {
                let id = ids.swap_remove(rng.random_range(0..ids.len()));
                deleted.lock().await.insert(id.clone());
                let r = app.delete(&format!("/beta/industryData/runs/{id}")).await;
                assert!(r.status.as_u16() == 204 || r.status.as_u16() == 404, "{}", r.text);
                n += 1;
                tokio::time::sleep(std::time::Duration::from_millis(2)).await;
            }
            n
        }));
    }

    // The walk: small pages, concurrently with the writers.
    let mut walked: Vec<Value> = Vec::new();
    let mut next = Some(format!("/beta/industryData/runs?{query}&$top=7"));
    let mut pages = 0;
    while let Some(url) = next {
        let r = app.get(&url).await;
        r.assert_status(200);
        let body = r.json();
        walked.extend(body["value"].as_array().unwrap().iter().cloned());
        next = body["@odata.nextLink"].as_str().map(str::to_owned);
        pages += 1;
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut writes = 0;
    for t in tasks {
        writes += t.await.unwrap();
    }
    eprintln!("paging under writes: {pages} pages, {} rows, {writes} concurrent writes", walked.len());
    assert!(pages > 20 && writes > 20, "pages {pages}, writes {writes}: the walk must overlap the writes");

    // Exactly once.
    let mut seen: HashMap<String, usize> = HashMap::new();
    for v in &walked {
        *seen.entry(v["id"].as_str().unwrap().to_owned()).or_default() += 1;
    }
    let dupes: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dupes.is_empty(), "rows returned more than once: {dupes:?}");
    // Every row that matched throughout.
    let (deleted, failed) = (deleted.lock().await, failed.lock().await);
    let throughout: Vec<&String> = matching.iter().filter(|id| !deleted.contains(*id) && !failed.contains(*id)).collect();
    assert!(throughout.len() > 50, "too few stable rows to check: {}", throughout.len());
    for id in throughout {
        assert_eq!(seen.get(id), Some(&1), "row {id} matched throughout but was not returned once");
    }
    // In order: by displayName desc, then startDateTime asc, then id asc — keys that never change.
    for pair in walked.windows(2) {
        let key = |v: &Value| {
            (
                std::cmp::Reverse(v["displayName"].as_str().unwrap().to_owned()),
                micros(&v["startDateTime"]),
                v["id"].as_str().unwrap().to_owned(),
            )
        };
        assert!(key(&pair[0]) < key(&pair[1]), "out of order:\n{}\n{}", pair[0], pair[1]);
    }
    // And every row returned matched when it was read (its status is one of the filter's).
    for v in &walked {
        assert!(v["status"] == "running" || v["status"] == "completed" || failed.contains(v["id"].as_str().unwrap()), "{v}");
    }
}

#[tokio::test]
async fn deep_pages_follow_default_and_multi_key_orders() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let mut rng = StdRng::seed_from_u64(11);
    for _ in 0..40 {
        let status = *["running", "completed", "failed", "completedWithWarnings"].choose(&mut rng).unwrap();
        let mut body = json!({"displayName": NAMES.choose(&mut rng).unwrap(), "status": status, "startDateTime": start(&mut rng)});
        if status != "running" && rng.random_bool(0.5) {
            body["endDateTime"] = body["startDateTime"].clone();
        }
        app.run_of(&flow, body).await;
    }
    for orderby in [
        "",
        "endDateTime",
        "endDateTime desc",
        "status desc,displayName",
        "blockingError/code,endDateTime desc,displayName desc",
        "id desc",
    ] {
        let o = if orderby.is_empty() { String::new() } else { format!("&$orderby={}", enc(orderby)) };
        let all: Vec<Value> = app.walk(&format!("/beta/industryData/runs?$top=999{o}")).await;
        for top in [1, 3, 13] {
            let paged = app.walk(&format!("/beta/industryData/runs?$top={top}{o}")).await;
            assert_eq!(paged, all, "$orderby={orderby} $top={top}");
        }
    }
}

#[tokio::test]
async fn foreign_or_tampered_skiptokens_are_400s() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let other = app.incoming_flow("g").await;
    for i in 0..4 {
        app.run_of(&flow, json!({"displayName": format!("r{i}")})).await;
        app.run_of(&other, json!({"displayName": format!("s{i}")})).await;
    }
    app.outgoing_flow("o1").await;
    app.outgoing_flow("o2").await;
    let filter = enc("status eq 'running'");
    let first = app.get(&format!("/beta/industryData/runs?$top=1&$filter={filter}&$orderby=displayName")).await.json();
    let next = first["@odata.nextLink"].as_str().unwrap().to_owned();
    let token = next.split("$skiptoken=").nth(1).unwrap().to_owned();
    // The link as given works.
    app.get(&next).await.assert_status(200);
    let bad = |url: String| {
        let app = &app;
        async move {
            let r = app.get(&url).await;
            r.assert_target(400, "invalidSkipToken", "$skiptoken");
        }
    };
    let q = |extra: &str| format!("$top=1&$filter={filter}&$orderby=displayName{extra}");
    // Another filter, another ordering, no ordering, another collection, another parent, a cast.
    bad(format!("/beta/industryData/runs?$top=1&$filter={}&$orderby=displayName&$skiptoken={token}", enc("status eq 'failed'"))).await;
    bad(format!("/beta/industryData/runs?$top=1&$filter={filter}&$orderby=displayName%20desc&$skiptoken={token}")).await;
    bad(format!("/beta/industryData/runs?$top=1&$filter={filter}&$skiptoken={token}")).await;
    bad(format!("/beta/industryData/runs/{NS}.incomingFlowRun?{}&$skiptoken={token}", q(""))).await;
    bad(format!("/beta/industryData/incomingFlows/{flow}/runs?{}&$skiptoken={token}", q(""))).await;
    bad(format!("/beta/industryData/runGroups?{}&$skiptoken={token}", q(""))).await;
    bad(format!("/beta/industryData/incomingFlows?$top=1&$orderby=displayName&$skiptoken={token}")).await;
    // A token of one flow's runs on another flow's runs.
    let f1 = app.get(&format!("/beta/industryData/incomingFlows/{flow}/runs?$top=1")).await.json();
    let t1 = f1["@odata.nextLink"].as_str().unwrap().split("$skiptoken=").nth(1).unwrap().to_owned();
    bad(format!("/beta/industryData/incomingFlows/{other}/runs?$top=1&$skiptoken={t1}")).await;
    // A process token on the other process set.
    let p = app.get("/beta/industryData/outgoingFlows?$top=1").await.json();
    let tp = p["@odata.nextLink"].as_str().unwrap().split("$skiptoken=").nth(1).unwrap().to_owned();
    bad(format!("/beta/industryData/incomingFlows?$top=1&$skiptoken={tp}")).await;
    // Tampered: payload, tag, truncated, garbage, empty parts, non-base64.
    let (payload, tag) = token.split_once('.').unwrap();
    let mut flipped = payload.to_owned().into_bytes();
    flipped[2] = if flipped[2] == b'A' { b'B' } else { b'A' };
    let flipped = String::from_utf8(flipped).unwrap();
    for t in [
        format!("{flipped}.{tag}"),
        format!("{payload}.{}", &tag[1..]),
        format!("{payload}A.{tag}"),
        payload.to_owned(),
        "garbage".to_owned(),
        ".".to_owned(),
        "W1sibiJdXQ.AAAA".to_owned(),
        format!("{}.{tag}", enc("[[\"s\",\"x\"],[\"s\",\"y\"]]")),
    ] {
        bad(format!("/beta/industryData/runs?{}&$skiptoken={t}", q(""))).await;
    }
    // An empty token is malformed too.
    app.get(&format!("/beta/industryData/runs?{}&$skiptoken=", q(""))).await.assert_status(400);
}

/// A page and its `@odata.count` come from one snapshot of the data, whatever commits meanwhile:
/// with every run on one page, the count is exactly the number of items.
#[tokio::test]
async fn a_page_and_its_count_see_the_same_data() {
    let app = crate::helpers::TestApp::spawn().await;
    let flow = app.incoming_flow("busy").await;
    let writer = {
        let app = app.clone();
        let flow = flow.clone();
        tokio::spawn(async move {
            for i in 0..300 {
                app.run_of(&flow, serde_json::json!({"displayName": format!("run {i}")})).await;
            }
        })
    };
    let mut reads = 0;
    while !writer.is_finished() || reads == 0 {
        let page = app.get("/beta/industryData/runs?$count=true&$top=999").await.json();
        let items = page["value"].as_array().unwrap().len() as u64;
        assert_eq!(page["@odata.count"].as_u64(), Some(items), "after {reads} consistent reads");
        reads += 1;
    }
    writer.await.unwrap();
}
