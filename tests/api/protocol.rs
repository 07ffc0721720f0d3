//! The Graph protocol: OData annotations, entity tags and preconditions,
//! `Prefer`, request ids, headers, the error body, polymorphic bodies, and server-driven paging.

use std::collections::{HashMap, HashSet};

use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{NS, Reply, TestApp, micros, odata_type};

const JSON_CT: &str = "application/json;odata.metadata=minimal";

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

// ---- @odata.context, @odata.type ------------------------------------------------------------

#[tokio::test]
async fn collections_carry_their_context() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let group = app.group("g").await;
    for (path, context) in [
        ("/beta/industryData/runs".to_owned(), "industryData/runs".to_owned()),
        ("/beta/industryData/incomingFlows".to_owned(), "industryData/incomingFlows".to_owned()),
        ("/beta/industryData/outgoingFlows".to_owned(), "industryData/outgoingFlows".to_owned()),
        ("/beta/industryData/runGroups".to_owned(), "industryData/runGroups".to_owned()),
        (format!("/beta/industryData/incomingFlows/{flow}/runs"), format!("industryData/incomingFlows('{flow}')/runs")),
        (format!("/beta/industryData/runGroups/{group}/runs"), format!("industryData/runGroups('{group}')/runs")),
    ] {
        let r = app.get(&path).await;
        r.assert_status(200);
        assert_eq!(r.json()["@odata.context"], app.beta(&format!("$metadata#{context}")), "{path}");
    }
}

#[tokio::test]
async fn entities_carry_their_entity_context() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let r = app.post(&format!("/beta/industryData/incomingFlows/{flow}/runs"), json!({"displayName": "r"})).await;
    assert_eq!(r.json()["@odata.context"], app.beta(&format!("$metadata#industryData/incomingFlows('{flow}')/runs/$entity")));
    let run = id(&r.json());
    let group = app.group("g").await;
    for (path, context) in [
        (format!("/beta/industryData/runs/{run}"), "industryData/runs/$entity".to_owned()),
        (format!("/beta/industryData/incomingFlows/{flow}"), "industryData/incomingFlows/$entity".to_owned()),
        (format!("/beta/industryData/runGroups/{group}"), "industryData/runGroups/$entity".to_owned()),
        (format!("/beta/industryData/incomingFlows/{flow}/runs/{run}"), format!("industryData/incomingFlows('{flow}')/runs/$entity")),
    ] {
        let r = app.get(&path).await;
        r.assert_status(200);
        assert_eq!(r.json()["@odata.context"], app.beta(&format!("$metadata#{context}")), "{path}");
    }
}

#[tokio::test]
async fn every_entity_carries_its_odata_type_in_lists_and_alone() {
    let app = TestApp::spawn().await;
    let inf = app.incoming_flow("in").await;
    let outf = app.outgoing_flow("out").await;
    app.run_of(&inf, json!({})).await;
    app.outgoing_run_of(&outf, json!({})).await;
    app.group("g").await;
    let expected: HashMap<String, &str> = [(inf.clone(), "incomingFlow"), (outf.clone(), "outgoingFlow")].into_iter().collect();
    for set in ["incomingFlows", "outgoingFlows"] {
        for item in app.walk(&format!("/beta/industryData/{set}")).await {
            assert_eq!(item["@odata.type"], odata_type(expected[&id(&item)]));
            let alone = app.get(&format!("/beta/industryData/{set}/{}", id(&item))).await.json();
            assert_eq!(alone["@odata.type"], item["@odata.type"]);
        }
    }
    let mut kinds: Vec<String> = Vec::new();
    for item in app.all_runs().await {
        let t = item["@odata.type"].as_str().unwrap().to_owned();
        assert_eq!(app.run(&id(&item)).await["@odata.type"], t.as_str());
        assert_eq!(item["statistics"]["@odata.type"], odata_type("runStatistics"));
        kinds.push(t);
    }
    kinds.sort();
    assert_eq!(kinds, [odata_type("incomingFlowRun"), odata_type("outgoingFlowRun"), odata_type("runGroup")]);
}

// ---- ETag, If-Match, If-None-Match ----------------------------------------------------------

#[tokio::test]
async fn odata_etag_equals_the_etag_header_and_changes_on_update() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let run = id(&app.run_of(&flow, json!({})).await);
    for path in [format!("/beta/industryData/runs/{run}"), format!("/beta/industryData/incomingFlows/{flow}")] {
        let r = app.get(&path).await;
        let tag = r.header("etag").expect("ETag");
        assert!(tag.starts_with('"') && tag.ends_with('"'), "strong, quoted: {tag}");
        assert_eq!(r.json()["@odata.etag"], tag.as_str());
        let r = app.patch(&path, json!({"displayName": "changed"})).await;
        r.assert_status(200);
        let next = r.header("etag").unwrap();
        assert_ne!(next, tag);
        assert_eq!(r.json()["@odata.etag"], next.as_str());
        assert_eq!(app.get(&path).await.header("etag").unwrap(), next);
    }
    // A process's own eTag property is the same version.
    let f = app.get(&format!("/beta/industryData/incomingFlows/{flow}")).await.json();
    assert_eq!(f["eTag"], f["@odata.etag"]);
}

#[tokio::test]
async fn created_entities_carry_an_etag() {
    let app = TestApp::spawn().await;
    let r = app.post("/beta/industryData/runGroups", json!({"displayName": "g"})).await;
    r.assert_status(201);
    assert_eq!(r.json()["@odata.etag"], r.header("etag").unwrap().as_str());
}

#[tokio::test]
async fn patch_with_a_stale_if_match_is_412_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let run = id(&app.run_of(&flow, json!({})).await);
    for path in [format!("/beta/industryData/runs/{run}"), format!("/beta/industryData/incomingFlows/{flow}")] {
        let stale = app.get(&path).await.header("etag").unwrap();
        app.patch(&path, json!({"displayName": "first"})).await.assert_status(200);
        let before = app.snapshot_state().await;
        let r = app.patch_with(&path, json!({"displayName": "second"}), &[("if-match", &stale)]).await;
        r.assert_target(412, "entityTagDoesNotMatch", "If-Match");
        assert_eq!(app.snapshot_state().await, before);
    }
}

#[tokio::test]
async fn patch_with_the_current_etag_or_star_succeeds() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let path = format!("/beta/industryData/runs/{}", id(&app.run_of(&flow, json!({})).await));
    let current = app.get(&path).await.header("etag").unwrap();
    app.patch_with(&path, json!({"displayName": "a"}), &[("if-match", &current)]).await.assert_status(200);
    app.patch_with(&path, json!({"displayName": "b"}), &[("if-match", "*")]).await.assert_status(200);
    assert_eq!(app.get(&path).await.json()["displayName"], "b");
}

#[tokio::test]
async fn delete_with_a_stale_if_match_is_412_and_deletes_nothing() {
    let app = TestApp::spawn().await;
    let flow = app.outgoing_flow("f").await;
    let run = id(&app.outgoing_run_of(&flow, json!({})).await);
    let run_path = format!("/beta/industryData/runs/{run}");
    let flow_path = format!("/beta/industryData/outgoingFlows/{flow}");
    for path in [&run_path, &flow_path] {
        let before = app.snapshot_state().await;
        let r = app.send(Method::DELETE, path, None, &[("if-match", "\"999\"")]).await;
        r.assert_target(412, "entityTagDoesNotMatch", "If-Match");
        assert_eq!(app.snapshot_state().await, before);
    }
    let current = app.get(&run_path).await.header("etag").unwrap();
    app.send(Method::DELETE, &run_path, None, &[("if-match", &current)]).await.assert_status(204);
    app.send(Method::DELETE, &flow_path, None, &[("if-match", "*")]).await.assert_status(204);
    assert_eq!(app.snapshot_state().await, json!({"incomingFlows": [], "outgoingFlows": [], "runs": []}));
}

#[tokio::test]
async fn get_with_a_current_if_none_match_is_304() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let run = id(&app.run_of(&flow, json!({})).await);
    for path in [format!("/beta/industryData/runs/{run}"), format!("/beta/industryData/incomingFlows/{flow}")] {
        let tag = app.get(&path).await.header("etag").unwrap();
        let r = app.send(Method::GET, &path, None, &[("if-none-match", &tag)]).await;
        r.assert_status(304);
        assert_eq!(r.text, "");
        assert_eq!(r.header("etag").as_deref(), Some(tag.as_str()));
        let r = app.send(Method::GET, &path, None, &[("if-none-match", "\"999\"")]).await;
        r.assert_status(200);
        assert_eq!(r.json()["id"], if path.contains("/runs/") { run.as_str() } else { flow.as_str() });
    }
}

// ---- Prefer: return=minimal -----------------------------------------------------------------

#[tokio::test]
async fn prefer_return_minimal_makes_patch_a_204() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let run = id(&app.run_of(&flow, json!({})).await);
    let path = format!("/beta/industryData/runs/{run}");
    let r = app.patch_with(&path, json!({"displayName": "quiet"}), &[("prefer", "return=minimal")]).await;
    r.assert_status(204);
    assert_eq!(r.text, "");
    assert_eq!(r.header("etag"), app.get(&path).await.header("etag"));
    assert_eq!(app.get(&path).await.json()["displayName"], "quiet");
}

#[tokio::test]
async fn prefer_return_minimal_makes_create_a_204_with_location_and_entity_id() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    for (path, body) in [
        ("/beta/industryData/incomingFlows".to_owned(), json!({"displayName": "g", "readinessStatus": "ready"})),
        (format!("/beta/industryData/incomingFlows/{flow}/runs"), json!({"displayName": "r"})),
        ("/beta/industryData/runGroups".to_owned(), json!({"displayName": "g"})),
    ] {
        let r = app.post_with(&path, body, &[("prefer", "return=minimal")]).await;
        r.assert_status(204);
        assert_eq!(r.text, "");
        let location = r.header("location").expect("Location");
        assert!(location.starts_with(&app.beta(&path["/beta/".len()..])), "{location}");
        assert_eq!(r.header("odata-entityid").as_deref(), Some(location.as_str()));
        let created = app.get(&location).await;
        created.assert_status(200);
        assert_eq!(location, format!("{}/{}", app.url(&path), id(&created.json())));
    }
}

// ---- request-id, client-request-id, OData-Version, Content-Type -----------------------------

/// A spread of replies: success and error, JSON and not, inside and outside `/beta`.
async fn assorted_replies(app: &TestApp, headers: &[(&str, &str)]) -> Vec<(String, Reply)> {
    let flow = app.incoming_flow("f").await;
    let run = id(&app.run_of(&flow, json!({})).await);
    let mut out = Vec::new();
    for (method, path, body) in [
        (Method::GET, "/beta".to_owned(), None),
        (Method::GET, "/beta/$metadata".to_owned(), None),
        (Method::GET, "/healthz".to_owned(), None),
        (Method::GET, "/beta/industryData/runs".to_owned(), None),
        (Method::GET, "/beta/industryData/runs/$count".to_owned(), None),
        (Method::GET, format!("/beta/industryData/runs/{run}"), None),
        (Method::POST, "/beta/industryData/runGroups".to_owned(), Some(json!({"displayName": "g"}))),
        (Method::PATCH, format!("/beta/industryData/runs/{run}"), Some(json!({"bogus": 1}))),
        (Method::GET, format!("/beta/industryData/runs/{}", uuid::Uuid::new_v4()), None),
        (Method::PUT, "/beta/industryData/runs".to_owned(), None),
        (Method::GET, "/nowhere".to_owned(), None),
        (Method::POST, "/healthz".to_owned(), None),
        (Method::DELETE, format!("/beta/industryData/runs/{run}"), None),
    ] {
        let r = app.send(method.clone(), &path, body.as_ref(), headers).await;
        out.push((format!("{method} {path} → {}", r.status), r));
    }
    out
}

#[tokio::test]
async fn every_reply_carries_a_fresh_request_id_and_odata_version() {
    let app = TestApp::spawn().await;
    let mut seen = HashSet::new();
    for (what, r) in assorted_replies(&app, &[]).await {
        let rid = r.header("request-id").unwrap_or_else(|| panic!("{what}: no request-id"));
        assert!(uuid::Uuid::parse_str(&rid).is_ok(), "{what}: {rid}");
        assert!(seen.insert(rid.clone()), "{what}: request-id reused");
        assert_eq!(r.header("odata-version").as_deref(), Some("4.0"), "{what}");
        assert_eq!(r.header("client-request-id"), None, "{what}");
        if r.status.is_client_error() {
            assert_eq!(r.json()["error"]["innerError"]["request-id"], rid.as_str(), "{what}");
        }
    }
}

#[tokio::test]
async fn client_request_id_is_echoed_on_every_reply_and_in_errors() {
    let app = TestApp::spawn().await;
    let client_id = "5b5bd3f2-1c09-4bb6-a3d1-0e3b7d1f6a0c";
    for (what, r) in assorted_replies(&app, &[("client-request-id", client_id)]).await {
        assert_eq!(r.header("client-request-id").as_deref(), Some(client_id), "{what}");
        if r.status.is_client_error() {
            assert_eq!(r.json()["error"]["innerError"]["client-request-id"], client_id, "{what}");
        }
    }
}

#[tokio::test]
async fn json_replies_have_the_odata_json_content_type() {
    let app = TestApp::spawn().await;
    for (what, r) in assorted_replies(&app, &[]).await {
        if r.text.is_empty() || what.contains("$metadata") || what.contains("$count") {
            continue;
        }
        assert_eq!(r.header("content-type").as_deref(), Some(JSON_CT), "{what}");
        let _ = r.json();
    }
}

#[tokio::test]
async fn errors_have_the_graph_shape() {
    let app = TestApp::spawn().await;
    let r =
        app.send(Method::GET, &format!("/beta/industryData/runs/{}", uuid::Uuid::new_v4()), None, &[("client-request-id", "abc")]).await;
    let body = r.json();
    let keys = |v: &Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    assert_eq!(keys(&body), ["error"]);
    assert_eq!(keys(&body["error"]), ["code", "innerError", "message"]);
    assert_eq!(body["error"]["code"], "itemNotFound");
    assert_eq!(keys(&body["error"]["innerError"]), ["client-request-id", "code", "date", "request-id"]);
    micros(&body["error"]["innerError"]["date"]);

    // With a property at fault, `target` names it.
    let flow = app.incoming_flow("f").await;
    let r = app.post(&format!("/beta/industryData/incomingFlows/{flow}/runs"), json!({"displayName": "r", "status": "nope"})).await;
    let body = r.json();
    assert_eq!(keys(&body["error"]), ["code", "innerError", "message", "target"]);
    assert_eq!(body["error"]["code"], "badRequest");
    assert_eq!(body["error"]["target"], "status");
    assert_eq!(keys(&body["error"]["innerError"]), ["code", "date", "request-id"]);
}

#[tokio::test]
async fn error_codes_follow_the_status() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let run = id(&app.run_of(&flow, json!({"status": "completed"})).await);
    let cases: Vec<(Reply, u16, &str)> = vec![
        (app.post(&format!("/beta/industryData/incomingFlows/{flow}/runs"), json!([])).await, 400, "badRequest"),
        (app.get("/beta/industryData/zap").await, 404, "itemNotFound"),
        (app.send(Method::PUT, "/beta/industryData/runs", None, &[]).await, 405, "methodNotAllowed"),
        (app.patch(&format!("/beta/industryData/runs/{run}"), json!({"status": "running"})).await, 409, "conflict"),
        (
            app.patch_with(&format!("/beta/industryData/runs/{run}"), json!({"displayName": "x"}), &[("if-match", "\"0\"")]).await,
            412,
            "preconditionFailed",
        ),
        (
            app.raw(Method::POST, "/beta/industryData/runGroups", Some("application/json"), vec![b' '; 1024 * 1024 + 1]).await,
            413,
            "payloadTooLarge",
        ),
        (app.raw(Method::POST, "/beta/industryData/runGroups", Some("text/plain"), b"{}".to_vec()).await, 415, "unsupportedMediaType"),
    ];
    for (r, status, code) in cases {
        assert_eq!(r.status.as_u16(), status, "{}", r.text);
        assert_eq!(r.json()["error"]["code"], code);
    }
}

// ---- polymorphic bodies ---------------------------------------------------------------------

#[tokio::test]
async fn posting_to_runs_without_odata_type_is_400() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let r = app
        .post(
            "/beta/industryData/runs",
            json!({"displayName": "r", "process@odata.bind": app.beta(&format!("industryData/incomingFlows/{flow}"))}),
        )
        .await;
    r.assert_bad(400, "missingType", "@odata.type");
    assert!(app.all_runs().await.is_empty());
}

#[tokio::test]
async fn posting_to_runs_with_the_abstract_run_type_is_400() {
    let app = TestApp::spawn().await;
    let r = app.post("/beta/industryData/runs", json!({"@odata.type": odata_type("run"), "displayName": "r"})).await;
    r.assert_target(400, "abstractType", "@odata.type");
    assert!(app.all_runs().await.is_empty());
}

#[tokio::test]
async fn posting_to_runs_with_an_unknown_type_is_400() {
    let app = TestApp::spawn().await;
    for t in [odata_type("zap"), odata_type("incomingFlow"), "#microsoft.graph.user".to_owned(), "incomingFlowRun".to_owned()] {
        let r = app.post("/beta/industryData/runs", json!({"@odata.type": t, "displayName": "r"})).await;
        r.assert_target(400, "invalidType", "@odata.type");
    }
    let r = app.post("/beta/industryData/runs", json!({"@odata.type": 5, "displayName": "r"})).await;
    r.assert_bad(400, "invalidPropertyType", "@odata.type");
    assert!(app.all_runs().await.is_empty());
}

#[tokio::test]
async fn posting_a_typed_run_with_a_process_binding_is_201() {
    let app = TestApp::spawn().await;
    let inf = app.incoming_flow("in").await;
    let outf = app.outgoing_flow("out").await;
    for (t, bind) in [
        (odata_type("incomingFlowRun"), app.beta(&format!("industryData/incomingFlows/{inf}"))),
        (format!("{NS}.outgoingFlowRun"), format!("industryData/outgoingFlows/{outf}")),
    ] {
        let r = app.post("/beta/industryData/runs", json!({"@odata.type": t, "displayName": "r", "process@odata.bind": bind})).await;
        r.assert_status(201);
        assert_eq!(r.json()["@odata.type"], format!("#{}", t.trim_start_matches('#')));
    }
    let r = app.post("/beta/industryData/runs", json!({"@odata.type": odata_type("runGroup"), "displayName": "g"})).await;
    r.assert_status(201);
    assert_eq!(r.json()["@odata.type"], odata_type("runGroup"));
    assert_eq!(app.all_runs().await.len(), 3);
}

#[tokio::test]
async fn a_type_that_contradicts_the_collection_is_400() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let r = app
        .post(
            &format!("/beta/industryData/incomingFlows/{flow}/runs"),
            json!({"@odata.type": odata_type("outgoingFlowRun"), "displayName": "r"}),
        )
        .await;
    r.assert_target(400, "typeMismatch", "@odata.type");
    let r = app.post("/beta/industryData/runGroups", json!({"@odata.type": odata_type("incomingFlowRun"), "displayName": "g"})).await;
    r.assert_target(400, "typeMismatch", "@odata.type");
    let run = id(&app.run_of(&flow, json!({})).await);
    let r = app.patch(&format!("/beta/industryData/runs/{run}"), json!({"@odata.type": odata_type("runGroup")})).await;
    r.assert_target(400, "typeMismatch", "@odata.type");
    assert_eq!(app.all_runs().await.len(), 1);
}

// ---- paging ---------------------------------------------------------------------------------

/// Creates `n` runs under a new flow, run `i` starting `i` minutes after 2024-01-01T00:00Z.
async fn many_runs(app: &TestApp, n: usize) -> (String, Vec<String>) {
    let flow = app.incoming_flow("f").await;
    let created: Vec<(usize, String)> = futures::stream::iter(0..n)
        .map(|i| {
            let flow = flow.clone();
            async move {
                let start = format!("2024-01-01T{:02}:{:02}:00Z", i / 60, i % 60);
                let run = app.run_of(&flow, json!({"displayName": format!("run {i}"), "startDateTime": start})).await;
                (i, id(&run))
            }
        })
        .buffer_unordered(8)
        .collect()
        .await;
    let mut by_index = vec![String::new(); n];
    for (i, run) in created {
        by_index[i] = run;
    }
    (flow, by_index)
}

#[tokio::test(flavor = "multi_thread")]
async fn top_100_walks_250_runs_in_3_pages_newest_first_each_once() {
    let app = TestApp::spawn().await;
    let (_, runs) = many_runs(&app, 250).await;
    let mut next = Some("/beta/industryData/runs?$top=100".to_owned());
    let mut sizes = Vec::new();
    let mut seen = Vec::new();
    while let Some(url) = next {
        let r = app.get(&url).await;
        r.assert_status(200);
        let body = r.json();
        let page = body["value"].as_array().unwrap();
        sizes.push(page.len());
        seen.extend(page.iter().map(id));
        next = body["@odata.nextLink"].as_str().map(str::to_owned);
        if let Some(link) = &next {
            assert!(link.starts_with(&app.beta("industryData/runs?")), "absolute nextLink: {link}");
            assert!(link.contains("$top=100"), "keeps $top: {link}");
            assert!(link.contains("$skiptoken="), "{link}");
        }
    }
    assert_eq!(sizes, [100, 100, 50]);
    let newest_first: Vec<String> = runs.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first);
}

#[tokio::test(flavor = "multi_thread")]
async fn walking_pages_while_runs_are_inserted_returns_each_run_once() {
    let app = TestApp::spawn().await;
    let (flow, runs) = many_runs(&app, 30).await;
    let first = app.get("/beta/industryData/runs?$top=10").await.json();
    let mut seen: Vec<String> = first["value"].as_array().unwrap().iter().map(id).collect();
    // Newer runs sort before the cursor, older ones after it.
    for start in ["2025-01-01T00:00:00Z", "2023-01-01T00:00:00Z", "2024-01-01T00:15:00Z"] {
        app.run_of(&flow, json!({"startDateTime": start})).await;
    }
    seen.extend(app.walk(first["@odata.nextLink"].as_str().unwrap()).await.iter().map(id));
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "a run came back twice");
    for run in &runs {
        assert!(unique.contains(run), "{run} was skipped");
    }
}

#[tokio::test]
async fn a_tampered_skiptoken_is_400() {
    let app = TestApp::spawn().await;
    many_runs(&app, 3).await;
    let link = app.get("/beta/industryData/runs?$top=1").await.json()["@odata.nextLink"].as_str().unwrap().to_owned();
    let (head, token) = link.split_once("$skiptoken=").unwrap();
    let mut chars: Vec<char> = token.chars().collect();
    chars[1] = if chars[1] == 'A' { 'B' } else { 'A' };
    let tampered: String = chars.into_iter().collect();
    for bad in [tampered.as_str(), "garbage", "e30.AAAA"] {
        let r = app.get(&format!("{head}$skiptoken={bad}")).await;
        r.assert_target(400, "invalidSkipToken", "$skiptoken");
    }
    // An empty token is a malformed option.
    app.get(&format!("{head}$skiptoken=")).await.assert_target(400, "invalidQueryOption", "$skiptoken");
}

#[tokio::test]
async fn a_skiptoken_minted_for_another_collection_is_400() {
    let app = TestApp::spawn().await;
    let (flow, _) = many_runs(&app, 3).await;
    let link = app.get("/beta/industryData/runs?$top=1").await.json()["@odata.nextLink"].as_str().unwrap().to_owned();
    let token = link.split_once("$skiptoken=").unwrap().1;
    for other in [format!("/beta/industryData/incomingFlows/{flow}/runs"), "/beta/industryData/runGroups".to_owned()] {
        let r = app.get(&format!("{other}?$top=1&$skiptoken={token}")).await;
        r.assert_target(400, "invalidSkipToken", "$skiptoken");
    }
    // The token is good where it was minted.
    app.get(&link).await.assert_status(200);
}

#[tokio::test]
async fn runs_with_equal_start_times_page_by_id() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let mut created = Vec::new();
    for _ in 0..5 {
        created.push(id(&app.run_of(&flow, json!({"startDateTime": "2024-01-01T00:00:00Z"})).await));
    }
    created.sort();
    let walked: Vec<String> = app.walk("/beta/industryData/runs?$top=2").await.iter().map(id).collect();
    assert_eq!(walked, created);
}

#[tokio::test]
async fn flows_page_by_display_name_then_id() {
    let app = TestApp::spawn().await;
    let mut created = Vec::new();
    for name in ["b", "a", "c", "b", "a"] {
        created.push((name.to_owned(), app.incoming_flow(name).await));
    }
    created.sort();
    let walked: Vec<(String, String)> = app
        .walk("/beta/industryData/incomingFlows?$top=2")
        .await
        .iter()
        .map(|f| (f["displayName"].as_str().unwrap().to_owned(), id(f)))
        .collect();
    assert_eq!(walked, created);
}

#[tokio::test]
async fn top_outside_1_to_999_is_400() {
    let app = TestApp::spawn().await;
    for top in ["0", "1000", "-1", "x"] {
        let r = app.get(&format!("/beta/industryData/runs?$top={top}")).await;
        r.assert_target(400, "invalidQueryOption", "$top");
    }
    app.get("/beta/industryData/runs?$top=999").await.assert_status(200);
    app.get("/beta/industryData/runs?top=1").await.assert_status(200);
}

#[tokio::test]
async fn a_groups_etag_moves_when_a_member_changes_it() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let group = app.group("g").await;
    let run = id(&app.run_of(&flow, json!({})).await);
    app.add_member(&group, &run).await;
    let path = format!("/beta/industryData/runGroups/{group}");
    let tag = app.get(&path).await.header("etag").unwrap();
    app.patch(&format!("/beta/industryData/runs/{run}"), json!({"status": "completed"})).await.assert_status(200);
    let r = app.send(Method::GET, &path, None, &[("if-none-match", &tag)]).await;
    r.assert_status(200);
    assert_eq!(r.json()["status"], "completed");
    let r = app.patch_with(&path, json!({"displayName": "late"}), &[("if-match", &tag)]).await;
    r.assert_target(412, "entityTagDoesNotMatch", "If-Match");
}

#[tokio::test]
async fn statistics_come_back_exactly_as_given() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let raw = r#"{"displayName":"r","statistics":{"big":123456789012345678901234567890,"float":1.50,"text":"é\u00e9","empty":{},"list":[[],{}],"z":null}}"#;
    let r = app
        .raw(Method::POST, &format!("/beta/industryData/incomingFlows/{flow}/runs"), Some("application/json"), raw.as_bytes().to_vec())
        .await;
    r.assert_status(201);
    let expected = r##""statistics":{"@odata.type":"#microsoft.graph.industryData.runStatistics","big":123456789012345678901234567890,"float":1.50,"text":"éé","empty":{},"list":[[],{}],"z":null}"##;
    assert!(r.text.contains(expected), "{}", r.text);
    let again = app.get(&format!("/beta/industryData/runs/{}", id(&r.json()))).await;
    assert!(again.text.contains(expected), "{}", again.text);
}

// ---- whole replies, pinned ------------------------------------------------------------------

/// Makes a reply deterministic: the server's address becomes `http://HOST`, every UUID becomes
/// `<uuid-N>` (numbered by first appearance), skip tokens and error dates are redacted.
fn normalize(app: &TestApp, value: &Value) -> Value {
    let text = value.to_string().replace(&app.base, "http://HOST");
    let bytes: Vec<char> = text.chars().collect();
    let mut out = String::new();
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut i = 0;
    while i < bytes.len() {
        if i + 36 <= bytes.len() {
            let candidate: String = bytes[i..i + 36].iter().collect();
            if uuid::Uuid::parse_str(&candidate).is_ok() && candidate.chars().filter(|c| *c == '-').count() == 4 {
                let n = names.len() + 1;
                let n = *names.entry(candidate).or_insert(n);
                out.push_str(&format!("<uuid-{n}>"));
                i += 36;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    let mut v: Value = serde_json::from_str(&out).unwrap();
    if let Some(link) = v.get("@odata.nextLink").and_then(Value::as_str) {
        let head = link.split_once("$skiptoken=").unwrap().0;
        v["@odata.nextLink"] = json!(format!("{head}$skiptoken=[token]"));
    }
    if v.pointer("/error/innerError/date").is_some() {
        v["error"]["innerError"]["date"] = json!("[date]");
    }
    v
}

/// The normalized reply as pretty JSON (numbers exactly as the server wrote them).
fn pretty(app: &TestApp, reply: &Reply) -> String {
    serde_json::to_string_pretty(&normalize(app, &reply.json())).unwrap()
}

#[tokio::test]
async fn snapshot_of_a_created_incoming_flow() {
    let app = TestApp::spawn().await;
    let r = app
        .post(
            "/beta/industryData/incomingFlows",
            json!({"displayName": "  SIS roster  ", "readinessStatus": "ready", "recurrenceEffectiveDateTime": "2024-01-01T00:00:00.1234567+02:00"}),
        )
        .await;
    r.assert_status(201);
    insta::assert_snapshot!("created_incoming_flow", pretty(&app, &r));
}

#[tokio::test]
async fn snapshot_of_a_finished_run() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let r = app
        .post(
            &format!("/beta/industryData/incomingFlows/{flow}/runs"),
            json!({
                "displayName": "nightly", "status": "failed",
                "startDateTime": "2024-03-01T10:00:00.500Z", "endDateTime": "2024-03-01T14:00:00+02:00",
                "statistics": {"people": 1200, "nested": {"list": [1, "two", null]}},
                "blockingError": {"code": "sourceUnreachable", "message": "SIS did not answer", "details": [{"code": "timeout"}]}
            }),
        )
        .await;
    r.assert_status(201);
    insta::assert_snapshot!("finished_incoming_flow_run", pretty(&app, &r));
}

#[tokio::test]
async fn snapshot_of_a_run_group_with_members() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let group = app.group_with(json!({"displayName": "batch", "startDateTime": "2024-03-01T09:00:00Z", "statistics": {"note": "x"}})).await;
    for (status, start, end) in [
        ("completed", "2024-03-01T10:00:00Z", "2024-03-01T10:30:00Z"),
        ("completedWithWarnings", "2024-03-01T08:00:00Z", "2024-03-01T11:00:00Z"),
    ] {
        let run = app.run_of(&flow, json!({"status": status, "startDateTime": start, "endDateTime": end})).await;
        app.add_member(&id(&group), &id(&run)).await;
    }
    let r = app.get(&format!("/beta/industryData/runGroups/{}", id(&group))).await;
    r.assert_status(200);
    insta::assert_snapshot!("run_group_with_members", pretty(&app, &r));
}

#[tokio::test]
async fn snapshot_of_a_collection_page() {
    let app = TestApp::spawn().await;
    let flow = app.outgoing_flow("out").await;
    for (name, start) in [("older", "2024-03-01T08:00:00Z"), ("newer", "2024-03-01T09:00:00Z")] {
        app.outgoing_run_of(&flow, json!({"displayName": name, "startDateTime": start})).await;
    }
    let r = app.get(&format!("/beta/industryData/outgoingFlows/{flow}/runs?$top=1")).await;
    r.assert_status(200);
    insta::assert_snapshot!("collection_page", pretty(&app, &r));
}

#[tokio::test]
async fn snapshot_of_an_error() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let r = app
        .send(
            Method::POST,
            &format!("/beta/industryData/incomingFlows/{flow}/runs"),
            Some(&json!({"displayName": "r", "status": "unknownFutureValue"})),
            &[("client-request-id", "my-client-id")],
        )
        .await;
    r.assert_error(400, "unknownFutureValueNotAllowed");
    insta::assert_snapshot!("error_unknown_future_value", pretty(&app, &r));
}
