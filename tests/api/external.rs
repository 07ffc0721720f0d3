//! The published Graph paths under `/beta/external/industryData/runs` — runGroups as
//! `industryDataRun`, member runs as `activities`, `getStatistics`, `start` — and the scheduler.

use std::time::Duration;

use reqwest::Method;
use runhub_model::{TenantId, Timestamp};
use runhub_store::{StartOutcome, StartPolicy};
use serde_json::{Value, json};

use crate::helpers::*;

const RUNS: &str = "/beta/external/industryData/runs";

fn ids(items: &[Value]) -> Vec<String> {
    items.iter().map(|v| v["id"].as_str().unwrap().to_owned()).collect()
}

fn value(r: &Reply) -> Vec<Value> {
    r.json()["value"].as_array().unwrap().clone()
}

/// A runGroup named `name` starting at `start`, with the given member runs (already created).
async fn group_of(app: &TestApp, name: &str, start: &str, members: &[&str]) -> String {
    let g = app.group_with(json!({"displayName": name, "startDateTime": start})).await;
    let gid = g["id"].as_str().unwrap().to_owned();
    for m in members {
        app.add_member(&gid, m).await;
    }
    gid
}

/// Seeds: two flows; three groups (oldest → newest: "alpha" completed, "beta" running, "gamma"
/// empty) and one loose run outside any group.
struct Seed {
    flow_in: String,
    flow_out: String,
    alpha: String,
    beta: String,
    gamma: String,
    alpha_in: String,
    alpha_out: String,
    beta_in: String,
    loose: String,
}

async fn seed(app: &TestApp) -> Seed {
    let flow_in = app.incoming_flow("SIS roster").await;
    let flow_out = app.outgoing_flow("Export").await;
    let alpha_in = app
        .run_of(&flow_in, json!({"displayName": "roster import", "startDateTime": "2026-01-01T00:00:00Z", "status": "completedWithWarnings",
            "endDateTime": "2026-01-01T01:00:00Z", "statistics": {"errors": 2, "warnings": 3, "people": 100, "groups": 4, "memberships": 40, "organizations": 1}}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let alpha_out = app
        .outgoing_run_of(&flow_out, json!({"displayName": "export", "startDateTime": "2026-01-01T00:10:00Z", "status": "completed", "endDateTime": "2026-01-01T00:20:00Z",
            "statistics": {"errors": 50}}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let beta_in = app
        .run_of(
            &flow_in,
            json!({"displayName": "second import", "startDateTime": "2026-02-01T00:00:00Z",
            "blockingError": {"code": "sisDown", "message": "the SIS did not answer"}}),
        )
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let loose = app.run_of(&flow_in, json!({"displayName": "loose", "startDateTime": "2026-03-01T00:00:00Z"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let alpha = group_of(app, "alpha", "2026-01-01T00:00:00Z", &[&alpha_in, &alpha_out]).await;
    let beta = group_of(app, "beta", "2026-02-01T00:00:00Z", &[&beta_in]).await;
    let gamma = group_of(app, "gamma", "2026-03-01T00:00:00Z", &[]).await;
    Seed { flow_in, flow_out, alpha, beta, gamma, alpha_in, alpha_out, beta_in, loose }
}

#[tokio::test]
async fn runs_are_run_groups_newest_first() {
    let app = TestApp::spawn().await;
    let s = seed(&app).await;
    let r = app.get(RUNS).await;
    r.assert_status(200);
    assert_eq!(r.header("content-type").as_deref(), Some("application/json;odata.metadata=minimal"));
    let body = r.json();
    assert_eq!(body["@odata.context"], format!("{}/beta/$metadata#external/industryData/runs", app.base));
    let items = value(&r);
    assert_eq!(ids(&items), [s.gamma.clone(), s.beta.clone(), s.alpha.clone()], "only groups, newest first");
    let alpha = &items[2];
    let mut keys: Vec<&str> = alpha.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["@odata.etag", "@odata.type", "blockingError", "displayName", "endDateTime", "id", "startDateTime", "status"]);
    assert_eq!(alpha["@odata.type"], odata_type("industryDataRun"));
    assert_eq!(alpha["status"], "completedWithWarnings");
    assert_eq!(alpha["startDateTime"], "2026-01-01T00:00:00Z");
    assert_eq!(alpha["endDateTime"], "2026-01-01T01:00:00Z");
    assert_eq!(alpha["displayName"], "alpha");
    assert_eq!(items[1]["status"], "running");
    assert_eq!(items[1]["endDateTime"], Value::Null);

    // One run; its ETag; If-None-Match.
    let r = app.get(&format!("{RUNS}/{}", s.alpha)).await;
    r.assert_status(200);
    let one = r.json();
    assert_eq!(one["@odata.context"], format!("{}/beta/$metadata#external/industryData/runs/$entity", app.base));
    assert_eq!(one["id"], s.alpha.as_str());
    assert_eq!(r.header("etag").unwrap(), one["@odata.etag"].as_str().unwrap());
    let etag = r.header("etag").unwrap();
    app.send(Method::GET, &format!("{RUNS}/{}", s.alpha), None, &[("if-none-match", &etag)]).await.assert_status(304);

    // $count.
    let r = app.get(&format!("{RUNS}/$count")).await;
    r.assert_status(200);
    assert_eq!(r.text, "3");
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    assert_eq!(app.get(&format!("{RUNS}/$count?$filter=status eq 'running'")).await.text, "2");
}

#[tokio::test]
async fn runs_take_every_query_option() {
    let app = TestApp::spawn().await;
    let s = seed(&app).await;
    let q = |query: &str| format!("{RUNS}?{query}");
    let got = |r: Reply| {
        r.assert_status(200);
        ids(&value(&r))
    };
    assert_eq!(got(app.get(&q("$filter=status eq 'completedWithWarnings'")).await), vec![s.alpha.clone()]);
    assert_eq!(
        got(app.get(&q("$filter=status eq microsoft.graph.industryData.industryDataRunStatus'running'")).await),
        [s.gamma.clone(), s.beta.clone()]
    );
    assert_eq!(got(app.get(&q("filter=status in ('completed', 'completedWithWarnings')")).await), vec![s.alpha.clone()]);
    assert_eq!(got(app.get(&q("$filter=status eq 'unknownFutureValue'")).await), Vec::<String>::new());
    assert_eq!(
        got(app.get(&q("$filter=startswith(displayName, 'a') or displayName eq 'gamma'")).await),
        [s.gamma.clone(), s.alpha.clone()]
    );
    assert_eq!(got(app.get(&q("$filter=endDateTime eq null")).await), [s.gamma.clone(), s.beta.clone()]);
    assert_eq!(got(app.get(&q("$filter=startDateTime ge 2026-02-01T00:00:00Z")).await), [s.gamma.clone(), s.beta.clone()]);
    assert_eq!(got(app.get(&q("$filter=isof('microsoft.graph.industryData.industryDataRun')")).await).len(), 3);
    assert_eq!(got(app.get(&q("$orderby=displayName")).await), [s.alpha.clone(), s.beta.clone(), s.gamma.clone()]);
    assert_eq!(got(app.get(&q("$orderby=status desc,displayName")).await), [s.alpha.clone(), s.beta.clone(), s.gamma.clone()]);
    assert_eq!(got(app.get(&q("$skip=1&$top=1")).await), vec![s.beta.clone()]);

    // $select keeps id and the annotations.
    let r = app.get(&q("$select=displayName")).await;
    r.assert_status(200);
    let mut keys: Vec<String> = value(&r)[0].as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(keys, ["@odata.etag", "@odata.type", "displayName", "id"]);

    // Paging: $top=1, every page carries @odata.count and an absolute nextLink; each row once.
    let r = app.get(&q("$top=1&$count=true&$orderby=displayName")).await;
    r.assert_status(200);
    let first = r.json();
    assert_eq!(first["@odata.count"], 3);
    let next = first["@odata.nextLink"].as_str().unwrap();
    assert!(next.starts_with(&format!("{}/beta/external/industryData/runs?", app.base)), "{next}");
    let all = app.walk(&q("$top=1&$orderby=displayName")).await;
    assert_eq!(ids(&all), [s.alpha.clone(), s.beta.clone(), s.gamma.clone()]);

    // $expand=activities, with nested options.
    let r = app.get(&q("$filter=displayName eq 'alpha'&$expand=activities($select=status;$orderby=displayName)")).await;
    r.assert_status(200);
    let acts = value(&r)[0]["activities"].as_array().unwrap().clone();
    assert_eq!(ids(&acts), [s.alpha_out.clone(), s.alpha_in.clone()]);
    assert_eq!(acts[0]["@odata.type"], odata_type("outboundFlowActivity"));
    assert_eq!(acts[1]["status"], "completedWithWarnings");
    assert!(acts[1].get("displayName").is_none());

    // Errors, in Graph format, naming the option.
    app.get(&q("$filter=statistics eq 1")).await.assert_target(400, "invalidQueryOption", "$filter");
    app.get(&q("$filter=process/id eq 'x'")).await.assert_target(400, "invalidQueryOption", "$filter");
    // runStatus is not the type of this property.
    app.get(&q("$filter=status eq microsoft.graph.industryData.runStatus'running'")).await.assert_target(
        400,
        "invalidQueryOption",
        "$filter",
    );
    app.get(&q("$filter=status eq 'inProgress'")).await.assert_target(400, "invalidQueryOption", "$filter");
    app.get(&q("$orderby=statistics")).await.assert_target(400, "invalidQueryOption", "$orderby");
    app.get(&q("$select=runs")).await.assert_target(400, "invalidQueryOption", "$select");
    app.get(&q("$expand=process")).await.assert_target(400, "invalidQueryOption", "$expand");
    app.get(&q("$top=0")).await.assert_target(400, "invalidQueryOption", "$top");
    app.get(&q("$search=x")).await.assert_error(400, "unsupportedQueryOption");
    app.get(&q("$bogus=1")).await.assert_error(400, "unknownQueryOption");
    // A token minted for /industryData/runGroups does not page this collection.
    let other = app.get("/beta/industryData/runGroups?$top=1").await.json();
    let token = other["@odata.nextLink"].as_str().unwrap().split("skiptoken=").nth(1).unwrap().split('&').next().unwrap().to_owned();
    app.get(&q(&format!("$top=1&$skiptoken={token}"))).await.assert_target(400, "invalidSkipToken", "$skiptoken");
}

#[tokio::test]
async fn not_found_and_methods() {
    let app = TestApp::spawn().await;
    let s = seed(&app).await;
    // A run that is not a group is no industryDataRun.
    app.get(&format!("{RUNS}/{}", s.loose)).await.assert_error(404, "itemNotFound");
    app.get(&format!("{RUNS}/{}", s.alpha_in)).await.assert_error(404, "itemNotFound");
    app.get(&format!("{RUNS}/00000000-0000-0000-0000-000000000001")).await.assert_error(404, "itemNotFound");
    app.get(&format!("{RUNS}/not-a-uuid")).await.assert_error(404, "itemNotFound");
    app.get(&format!("{RUNS}/{}/activities", s.loose)).await.assert_error(404, "itemNotFound");
    app.get(&format!("{RUNS}/{}/activities/$count", s.loose)).await.assert_error(404, "itemNotFound");
    app.get(&format!("{RUNS}/{}/getStatistics", s.loose)).await.assert_error(404, "itemNotFound");
    // An activity of another group.
    app.get(&format!("{RUNS}/{}/activities/{}", s.beta, s.alpha_in)).await.assert_error(404, "itemNotFound");
    app.get(&format!("{RUNS}/{}/activities/{}/activity", s.beta, s.alpha_in)).await.assert_error(404, "itemNotFound");
    app.get(&format!("{RUNS}/{}/nothing", s.alpha)).await.assert_error(404, "itemNotFound");
    app.get("/beta/external/industryData/other").await.assert_error(404, "itemNotFound");
    // The view is read-only; start is POST only.
    let r = app.post(RUNS, json!({"displayName": "x"})).await;
    r.assert_error(405, "methodNotAllowed");
    assert_eq!(r.header("allow").as_deref(), Some("GET"));
    app.patch(&format!("{RUNS}/{}", s.alpha), json!({"displayName": "x"})).await.assert_error(405, "methodNotAllowed");
    app.delete(&format!("{RUNS}/{}", s.alpha)).await.assert_error(405, "methodNotAllowed");
    let r = app.get(&format!("{RUNS}/start")).await;
    r.assert_error(405, "methodNotAllowed");
    assert_eq!(r.header("allow").as_deref(), Some("POST"));
    app.post(&format!("{RUNS}/{}/activities", s.alpha), json!({})).await.assert_error(405, "methodNotAllowed");
    // Functions take no $ options but are not confused by custom ones.
    app.get(&format!("{RUNS}/{}/getStatistics()?$top=1", s.alpha)).await.assert_error(400, "invalidQueryOption");
    app.get(&format!("{RUNS}/{}/getStatistics()?custom=1", s.alpha)).await.assert_status(200);
    app.get(&format!("{RUNS}/getStatistics()?$filter=status eq 'failed'")).await.assert_target(400, "invalidQueryOption", "$filter");
}

#[tokio::test]
async fn activities_are_member_runs() {
    let app = TestApp::spawn().await;
    let s = seed(&app).await;
    let acts = format!("{RUNS}/{}/activities", s.alpha);
    let r = app.get(&acts).await;
    r.assert_status(200);
    assert_eq!(r.json()["@odata.context"], format!("{}/beta/$metadata#external/industryData/runs('{}')/activities", app.base, s.alpha));
    let items = value(&r);
    // Newest first.
    assert_eq!(ids(&items), [s.alpha_out.clone(), s.alpha_in.clone()]);
    let inbound = &items[1];
    let mut keys: Vec<&str> = inbound.as_object().unwrap().keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["@odata.etag", "@odata.type", "blockingError", "displayName", "id", "status"]);
    assert_eq!(inbound["@odata.type"], odata_type("inboundFlowActivity"));
    assert_eq!(inbound["displayName"], "roster import");
    assert_eq!(inbound["status"], "completedWithWarnings");
    assert_eq!(items[0]["@odata.type"], odata_type("outboundFlowActivity"));

    // running → inProgress, in payloads and in $filter.
    let beta = app.get(&format!("{RUNS}/{}/activities", s.beta)).await;
    let b = &value(&beta)[0];
    assert_eq!(b["status"], "inProgress");
    assert_eq!(b["blockingError"]["code"], "sisDown");
    let q = |g: &str, query: &str| format!("{RUNS}/{g}/activities?{query}");
    assert_eq!(ids(&value(&app.get(&q(&s.beta, "$filter=status eq 'inProgress'")).await)), vec![s.beta_in.clone()]);
    assert_eq!(
        ids(&value(&app.get(&q(&s.beta, "$filter=status eq microsoft.graph.industryData.industryDataActivityStatus'inProgress'")).await)),
        vec![s.beta_in.clone()]
    );
    assert!(value(&app.get(&q(&s.alpha, "$filter=status eq 'inProgress'")).await).is_empty());
    assert!(value(&app.get(&q(&s.alpha, "$filter=status eq 'skipped'")).await).is_empty());
    assert_eq!(
        ids(&value(&app.get(&q(&s.alpha, "$filter=status ne 'inProgress'&$orderby=displayName")).await)),
        [s.alpha_out.clone(), s.alpha_in.clone()]
    );
    app.get(&q(&s.beta, "$filter=status eq 'running'")).await.assert_target(400, "invalidQueryOption", "$filter");
    app.get(&q(&s.beta, "$filter=startDateTime gt 2026-01-01T00:00:00Z")).await.assert_target(400, "invalidQueryOption", "$filter");
    assert_eq!(
        ids(&value(&app.get(&q(&s.alpha, "$filter=isof('microsoft.graph.industryData.inboundFlowActivity')")).await)),
        vec![s.alpha_in.clone()]
    );
    assert_eq!(
        ids(&value(&app.get(&q(&s.alpha, "$filter=blockingError/code eq null and displayName eq 'export'")).await)),
        vec![s.alpha_out.clone()]
    );
    assert_eq!(app.get(&format!("{RUNS}/{}/activities/$count", s.alpha)).await.text, "2");
    assert_eq!(app.get(&format!("{RUNS}/{}/activities/$count?$filter=status eq 'completed'", s.alpha)).await.text, "1");
    assert_eq!(app.get(&format!("{RUNS}/{}/activities/$count", s.gamma)).await.text, "0");
    let all = app.walk(&q(&s.alpha, "$top=1&$count=true")).await;
    assert_eq!(ids(&all), [s.alpha_out.clone(), s.alpha_in.clone()]);

    // One activity; its flow through `activity` and $expand=activity.
    let r = app.get(&format!("{RUNS}/{}/activities/{}", s.alpha, s.alpha_in)).await;
    r.assert_status(200);
    assert_eq!(
        r.json()["@odata.context"],
        format!("{}/beta/$metadata#external/industryData/runs('{}')/activities/$entity", app.base, s.alpha)
    );
    assert_eq!(r.json()["id"], s.alpha_in.as_str());
    let r = app.get(&format!("{RUNS}/{}/activities/{}/activity", s.alpha, s.alpha_out)).await;
    r.assert_status(200);
    assert_eq!(r.json()["id"], s.flow_out.as_str());
    assert_eq!(r.json()["@odata.type"], odata_type("outgoingFlow"));
    let r = app.get(&format!("{RUNS}/{}/activities/{}/activity?$select=displayName", s.alpha, s.alpha_out)).await;
    assert_eq!(r.json()["displayName"], "Export");
    assert!(r.json().get("readinessStatus").is_none());
    app.get(&format!("{RUNS}/{}/activities/{}/activity?$expand=runs", s.alpha, s.alpha_out)).await.assert_target(
        400,
        "invalidQueryOption",
        "$expand",
    );
    let r = app.get(&q(&s.alpha, "$expand=activity($select=displayName)&$orderby=displayName")).await;
    r.assert_status(200);
    let items = value(&r);
    assert_eq!(items[0]["activity"]["id"], s.flow_out.as_str());
    assert_eq!(items[1]["activity"]["displayName"], "SIS roster");
    assert_eq!(items[1]["activity"]["id"], s.flow_in.as_str());
}

#[tokio::test]
async fn get_statistics_sums_the_members() {
    let app = TestApp::spawn().await;
    let s = seed(&app).await;
    for f in
        ["microsoft.graph.industryData.getStatistics()", "getStatistics()", "getStatistics", "microsoft.graph.industryData.getStatistics"]
    {
        let r = app.get(&format!("{RUNS}/{}/{f}", s.alpha)).await;
        r.assert_status(200);
        assert_eq!(r.header("content-type").as_deref(), Some("application/json;odata.metadata=minimal"));
        let st = r.json();
        assert_eq!(st["@odata.type"], odata_type("industryDataRunStatistics"));
        assert_eq!(st["runId"], s.alpha.as_str());
        assert_eq!(st["status"], "completedWithWarnings");
        // Only the incoming member is an inbound activity; the outgoing one's errors do not count.
        let acts = st["activityStatistics"].as_array().unwrap();
        assert_eq!(acts.len(), 1, "{st}");
        assert_eq!(acts[0]["@odata.type"], odata_type("inboundActivityResults"));
        assert_eq!(acts[0]["activityId"], s.alpha_in.as_str());
        assert_eq!(acts[0]["displayName"], "roster import");
        assert_eq!(acts[0]["status"], "completedWithWarnings");
        assert_eq!((acts[0]["errors"].as_i64(), acts[0]["warnings"].as_i64()), (Some(2), Some(3)));
        let t = &st["inboundTotals"];
        assert_eq!(t["@odata.type"], odata_type("aggregatedInboundStatistics"));
        for (k, v) in [("errors", 2), ("warnings", 3), ("people", 100), ("groups", 4), ("memberships", 40), ("organizations", 1)] {
            assert_eq!(t[k], v, "{k}: {st}");
        }
    }
    // Running member without numbers: zeros, inProgress.
    let st = app.get(&format!("{RUNS}/{}/getStatistics", s.beta)).await.json();
    assert_eq!(st["activityStatistics"][0]["status"], "inProgress");
    assert_eq!(st["activityStatistics"][0]["errors"], 0);
    assert_eq!(st["inboundTotals"]["people"], 0);
    // Collection-bound: the newest run (gamma, no members).
    for f in ["microsoft.graph.industryData.getStatistics()", "getStatistics"] {
        let st = app.get(&format!("{RUNS}/{f}")).await;
        st.assert_status(200);
        let st = st.json();
        assert_eq!(st["runId"], s.gamma.as_str());
        assert_eq!(st["activityStatistics"], json!([]));
    }
    // No run at all: 404.
    let empty = TestApp::spawn().await;
    empty.get(&format!("{RUNS}/getStatistics()")).await.assert_error(404, "itemNotFound");
}

/// Flows: two ready ones inside their window (one without a window), one not ready, one expired,
/// one outgoing. A start runs exactly the first two.
async fn start_fixture(app: &TestApp) -> (String, String) {
    let a = app.incoming_flow("A ready").await;
    let b = app
        .incoming_flow_with(json!({"displayName": "B windowed", "readinessStatus": "ready",
            "recurrenceEffectiveDateTime": "2020-01-01T00:00:00Z", "recurrenceExpirationDateTime": "2099-01-01T00:00:00Z"}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.incoming_flow_with(json!({"displayName": "C not ready", "readinessStatus": "notReady"})).await;
    app.incoming_flow_with(json!({"displayName": "D expired", "readinessStatus": "ready",
        "recurrenceEffectiveDateTime": "2020-01-01T00:00:00Z", "recurrenceExpirationDateTime": "2021-01-01T00:00:00Z"}))
        .await;
    app.outgoing_flow("E outgoing").await;
    (a, b)
}

#[tokio::test]
async fn start_opens_a_group_and_is_rate_limited() {
    let app = TestApp::spawn().await;
    // Nothing to start: 409, not counted.
    app.raw(Method::POST, &format!("{RUNS}/start"), None, Vec::new()).await.assert_error(409, "noFlowReady");
    let (a, b) = start_fixture(&app).await;
    let mut locations = Vec::new();
    for (i, path) in ["microsoft.graph.industryData.start", "start", "start", "start", "start"].iter().enumerate() {
        let r = if i == 1 {
            app.post(&format!("{RUNS}/{path}"), json!({})).await
        } else {
            app.raw(Method::POST, &format!("{RUNS}/{path}"), None, Vec::new()).await
        };
        r.assert_status(202);
        assert!(r.text.is_empty());
        assert!(r.header("request-id").is_some());
        let location = r.header("location").unwrap();
        assert!(location.starts_with(&format!("{}/beta/external/industryData/runs/", app.base)), "{location}");
        locations.push(location);
    }
    // The new group: running, one running incomingFlowRun per ready flow in its window.
    let r = app.get(&locations[0]).await;
    r.assert_status(200);
    let run = r.json();
    assert_eq!(run["status"], "running");
    let acts = app.walk(&format!("{}/activities?$orderby=displayName", locations[0])).await;
    assert_eq!(acts.len(), 2, "{acts:?}");
    assert_eq!(acts.iter().map(|a| a["displayName"].as_str().unwrap()).collect::<Vec<_>>(), ["A ready", "B windowed"]);
    assert!(acts.iter().all(|a| a["status"] == "inProgress" && a["@odata.type"] == odata_type("inboundFlowActivity")));
    let flows: Vec<String> = {
        let mut f = Vec::new();
        for act in &acts {
            let id = act["id"].as_str().unwrap();
            f.push(app.get(&format!("{}/activities/{id}/activity", locations[0])).await.json()["id"].as_str().unwrap().to_owned());
        }
        f
    };
    assert_eq!(flows, [a.clone(), b.clone()]);
    // Also visible through the core API, as a runGroup with two members.
    let gid = locations[0].rsplit('/').next().unwrap();
    let g = app.get(&format!("/beta/industryData/runGroups/{gid}")).await.json();
    assert_eq!(g["statistics"]["memberRuns"]["total"], 2);
    assert_eq!(g["statistics"]["memberRuns"]["running"], 2);
    assert_eq!(app.get(&format!("{RUNS}/$count")).await.text, "5");

    // The 6th start in 12 h: 429, with Retry-After; nothing opened.
    let r = app.raw(Method::POST, &format!("{RUNS}/start"), None, Vec::new()).await;
    let error = r.assert_error(429, "tooManyStarts");
    assert_eq!(error["code"], "tooManyRequests");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(retry > 11 * 3600 && retry <= 12 * 3600, "{retry}");
    assert_eq!(app.get(&format!("{RUNS}/$count")).await.text, "5");

    // A body other than {} is refused.
    let other = TestApp::spawn().await;
    other.incoming_flow("x").await;
    other.post(&format!("{RUNS}/start"), json!({"displayName": "x"})).await.assert_error(400, "invalidProperty");
    other.raw(Method::POST, &format!("{RUNS}/start"), Some("text/plain"), b"go".to_vec()).await.assert_error(415, "unsupportedMediaType");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_limit_is_per_tenant_and_per_window() {
    // The store's rule, with a controlled clock: 5 per window, then free again when the oldest leaves it.
    let app = TestApp::spawn().await;
    let store = app.store.clone();
    let t1 = TenantId::parse("t1").unwrap();
    let t2 = TenantId::parse("t2").unwrap();
    for t in [&t1, &t2] {
        store
            .create_process(
                t,
                runhub_model::decode::decode_new_process(
                    &serde_json::from_value(json!({"displayName": "f", "readinessStatus": "ready"})).unwrap(),
                    runhub_model::ProcessKind::IncomingFlow,
                )
                .unwrap(),
            )
            .await
            .unwrap();
    }
    let policy = StartPolicy::default();
    let hour = 3_600_000_000i64;
    let t0 = Timestamp::now().micros();
    for i in 0..5 {
        let out = store.start_run_group(&t1, Timestamp::from_micros(t0 + i * hour), &policy).await.unwrap();
        assert!(matches!(out, StartOutcome::Started(_)), "{i}: {out:?}");
    }
    // 6th at t0+5h: the oldest (t0) frees at t0+12h → 7 h.
    match store.start_run_group(&t1, Timestamp::from_micros(t0 + 5 * hour), &policy).await.unwrap() {
        StartOutcome::Throttled { retry_after_secs } => assert_eq!(retry_after_secs, 7 * 3600),
        other => panic!("{other:?}"),
    }
    // Another tenant is not affected.
    assert!(matches!(store.start_run_group(&t2, Timestamp::from_micros(t0 + 5 * hour), &policy).await.unwrap(), StartOutcome::Started(_)));
    // Once the oldest has left the window, one more.
    assert!(matches!(
        store.start_run_group(&t1, Timestamp::from_micros(t0 + 12 * hour + 1), &policy).await.unwrap(),
        StartOutcome::Started(_)
    ));
    assert!(matches!(
        store.start_run_group(&t1, Timestamp::from_micros(t0 + 12 * hour + 2), &policy).await.unwrap(),
        StartOutcome::Throttled { .. }
    ));
    store.close().await;
}

// ---- the scheduler --------------------------------------------------------------------------------

fn scheduled(groups: &[Value]) -> Vec<&Value> {
    groups.iter().filter(|g| g["displayName"].as_str().unwrap().starts_with("Scheduled run")).collect()
}

/// Polls `check` until it holds, with a generous deadline.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !check().await {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_scheduler_starts_groups_by_itself() {
    let app = TestApp::spawn().await;
    let (a, b) = start_fixture(&app).await;
    let handle = runhub_server::scheduler::spawn(app.store.clone(), Duration::from_millis(300)).unwrap();
    eventually("two scheduled runs", || async { scheduled(&app.walk(&format!("{RUNS}?$top=999")).await).len() >= 2 }).await;
    handle.abort();
    let groups = app.walk(&format!("{RUNS}?$top=999")).await;
    for g in scheduled(&groups) {
        let id = g["id"].as_str().unwrap();
        let acts = app.walk(&format!("{RUNS}/{id}/activities")).await;
        let mut flows = Vec::new();
        for act in &acts {
            let aid = act["id"].as_str().unwrap();
            flows.push(app.get(&format!("{RUNS}/{id}/activities/{aid}/activity")).await.json()["id"].as_str().unwrap().to_owned());
        }
        flows.sort();
        let mut expected = vec![a.clone(), b.clone()];
        expected.sort();
        assert_eq!(flows, expected, "one run per ready flow inside its window");
    }
    // An interval of 0 is off.
    assert!(runhub_server::scheduler::spawn(app.store.clone(), Duration::ZERO).is_none());
}

#[tokio::test]
async fn a_scheduler_tick_without_flows_starts_nothing() {
    let app = TestApp::spawn().await;
    app.outgoing_flow("only outgoing").await;
    let hour = 3_600_000_000i64;
    let t0 = Timestamp::now().micros();
    for i in 0..3 {
        assert!(app.store.claim_scheduled_runs(Timestamp::from_micros(t0 + i * hour), hour).await.unwrap().is_empty());
    }
    // A tenant whose flows are not ready gets a schedule but no groups.
    app.incoming_flow_with(json!({"displayName": "not ready", "readinessStatus": "notReady"})).await;
    assert!(app.store.claim_scheduled_runs(Timestamp::from_micros(t0 + 3 * hour), hour).await.unwrap().is_empty());
    let out = app.store.claim_scheduled_runs(Timestamp::from_micros(t0 + 4 * hour), hour).await.unwrap();
    assert_eq!(out.len(), 1);
    assert!(out[0].group.is_none() && !out[0].skipped);
    assert_eq!(app.get(&format!("{RUNS}/$count")).await.text, "0");
}

#[tokio::test]
async fn an_on_demand_start_makes_the_next_scheduled_run_skip() {
    let app = TestApp::spawn().await;
    app.incoming_flow("flow").await;
    let hour = 3_600_000_000i64;
    let t0 = Timestamp::now().micros();
    let tick = |at: i64| {
        let store = app.store.clone();
        async move { store.claim_scheduled_runs(Timestamp::from_micros(at), 12 * hour).await.unwrap() }
    };
    // The first tick gives the tenant its schedule: first run due 12 h later.
    assert!(tick(t0).await.is_empty());
    assert!(tick(t0 + 11 * hour).await.is_empty());
    let first = tick(t0 + 12 * hour).await;
    assert_eq!(first.len(), 1);
    assert!(first[0].group.is_some() && !first[0].skipped);
    // Ticks in between do nothing; the next is due at t0 + 24 h.
    assert!(tick(t0 + 12 * hour + 1).await.is_empty());
    // An on-demand start now (far more than 10 h before t0 + 24 h): no skip.
    app.raw(Method::POST, &format!("{RUNS}/start"), None, Vec::new()).await.assert_status(202);
    let second = tick(t0 + 24 * hour).await;
    assert!(second[0].group.is_some() && !second[0].skipped, "{second:?}");
    // Next due t0 + 36 h: an on-demand start at t0 + 27 h (9 h before) makes it skip.
    let policy = StartPolicy::default();
    let started = app.store.start_run_group(&TenantId::default_tenant(), Timestamp::from_micros(t0 + 27 * hour), &policy).await.unwrap();
    assert!(matches!(started, StartOutcome::Started(_)));
    let third = tick(t0 + 36 * hour).await;
    assert_eq!(third.len(), 1);
    assert!(third[0].skipped && third[0].group.is_none(), "{third:?}");
    // Only that one: the run after it happens again.
    let fourth = tick(t0 + 48 * hour).await;
    assert!(fourth[0].group.is_some() && !fourth[0].skipped);
    // Counted through the API: 3 scheduled groups (12 h, 24 h, 48 h) and 2 on-demand.
    let groups = app.walk(&format!("{RUNS}?$top=999")).await;
    assert_eq!(scheduled(&groups).len(), 3);
    assert_eq!(groups.iter().filter(|g| g["displayName"] == "On-demand run").count(), 2);
    // A scheduler that was down does not catch up with a burst: one run, the next on the grid.
    let late = tick(t0 + 100 * hour).await;
    assert_eq!(late.len(), 1);
    assert!(tick(t0 + 100 * hour + 1).await.is_empty());
    assert_eq!(tick(t0 + 108 * hour).await.len(), 1);
}

/// Two replicas (two stores, two schedulers) on one database: each scheduled run is started once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_start_each_scheduled_run_once() {
    let app = TestApp::spawn().await;
    app.incoming_flow("flow").await;
    let replica = app.replica_store().await;

    // Deterministic: both claim the same due run at the same moment, many times over.
    let hour = 3_600_000_000i64;
    let t0 = Timestamp::now().micros();
    app.store.claim_scheduled_runs(Timestamp::from_micros(t0), hour).await.unwrap();
    for i in 1..=20 {
        let now = Timestamp::from_micros(t0 + i * hour);
        let (x, y) = tokio::join!(app.store.claim_scheduled_runs(now, hour), replica.claim_scheduled_runs(now, hour));
        let opened = x.unwrap().iter().chain(y.unwrap().iter()).filter(|s| s.group.is_some()).count();
        assert_eq!(opened, 1, "tick {i}");
    }
    assert_eq!(scheduled(&app.walk(&format!("{RUNS}?$top=999")).await).len(), 20);

    // Live: two schedulers with a short interval; every due time is started once (the group's name
    // carries its due time), and both replicas' runs show up through either one.
    let fresh = TestApp::spawn().await;
    fresh.incoming_flow("flow").await;
    let other = fresh.replica_store().await;
    let interval = Duration::from_millis(200);
    let h1 = runhub_server::scheduler::spawn(fresh.store.clone(), interval).unwrap();
    let h2 = runhub_server::scheduler::spawn(other.clone(), interval).unwrap();
    eventually("five scheduled runs", || async { scheduled(&fresh.walk(&format!("{RUNS}?$top=999")).await).len() >= 5 }).await;
    h1.abort();
    h2.abort();
    let groups = fresh.walk(&format!("{RUNS}?$top=999")).await;
    let mut names: Vec<&str> = scheduled(&groups).iter().map(|g| g["displayName"].as_str().unwrap()).collect();
    let total = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), total, "a due time was started twice: {names:?}");
    other.close().await;
    replica.close().await;
}

#[tokio::test]
async fn metadata_declares_the_published_paths() {
    let app = TestApp::spawn().await;
    let xml = app.get("/beta/$metadata").await.text;
    for needle in [
        "<EntityType Name=\"industryDataRun\" BaseType=\"microsoft.graph.entity\">",
        "<NavigationProperty Name=\"activities\" Type=\"Collection(microsoft.graph.industryData.industryDataRunActivity)\" ContainsTarget=\"true\" />",
        "<Property Name=\"status\" Type=\"microsoft.graph.industryData.industryDataRunStatus\" Nullable=\"false\" />",
        "<Property Name=\"status\" Type=\"microsoft.graph.industryData.industryDataActivityStatus\" Nullable=\"false\" />",
        "<EntityType Name=\"inboundFlowActivity\" BaseType=\"microsoft.graph.industryData.industryDataRunActivity\">",
        "<EntityType Name=\"outboundFlowActivity\" BaseType=\"microsoft.graph.industryData.industryDataRunActivity\">",
        "<NavigationProperty Name=\"activity\" Type=\"microsoft.graph.industryData.process\" />",
        "<ComplexType Name=\"industryDataRunStatistics\">",
        "<ComplexType Name=\"inboundActivityResults\">",
        "<ComplexType Name=\"aggregatedInboundStatistics\">",
        "<EnumType Name=\"industryDataActivityStatus\">",
        "<Member Name=\"inProgress\" Value=\"0\" />",
        "<Function Name=\"getStatistics\" IsBound=\"true\">",
        "<Parameter Name=\"bindingParameter\" Type=\"Collection(microsoft.graph.industryData.industryDataRun)\" Nullable=\"false\" />",
        "<Action Name=\"start\" IsBound=\"true\">",
        "<Singleton Name=\"external\" Type=\"microsoft.graph.industryData.externalRoot\" />",
    ] {
        assert!(xml.contains(needle), "$metadata lacks {needle}");
    }
}

/// A `runhub serve` child process, killed when dropped.
struct Binary {
    child: std::process::Child,
    base: String,
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve_binary(data_dir: &std::path::Path, interval: &str) -> Binary {
    use std::io::BufRead;
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_runhub"))
        .args(["serve", "--listen", "127.0.0.1:0", "--schedule-interval", interval, "--data-dir"])
        .arg(data_dir)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("start runhub");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    std::io::BufReader::new(stdout).read_line(&mut line).unwrap();
    let base = line.trim().rsplit(' ').next().unwrap().to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "unexpected first line: {line}");
    Binary { child, base }
}

/// The real binary with `--schedule-interval`: two replicas on one data directory start scheduled
/// runs by themselves, each due time once, visible through either replica.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_binaries_on_one_data_dir_start_each_scheduled_run_once() {
    let dir = tempfile::tempdir().unwrap();
    let one = serve_binary(dir.path(), "250ms");
    let two = serve_binary(dir.path(), "250ms");
    let client = reqwest::Client::new();
    let r = client
        .post(format!("{}/beta/industryData/incomingFlows", one.base))
        .json(&json!({"displayName": "flow", "readinessStatus": "ready"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let list = |base: String| {
        let client = client.clone();
        async move {
            let body: Value = client.get(format!("{base}{RUNS}?$top=999")).send().await.unwrap().json().await.unwrap();
            body["value"].as_array().unwrap().clone()
        }
    };
    eventually("four scheduled runs", || {
        let base = two.base.clone();
        let list = &list;
        async move { scheduled(&list(base).await).len() >= 4 }
    })
    .await;
    drop(one);
    drop(two);
    // Read the data directory with a third instance, scheduler off.
    let three = serve_binary(dir.path(), "0");
    let groups = list(three.base.clone()).await;
    let mut names: Vec<&str> = scheduled(&groups).iter().map(|g| g["displayName"].as_str().unwrap()).collect();
    let total = names.len();
    assert!(total >= 4);
    names.sort();
    names.dedup();
    assert_eq!(names.len(), total, "a due time was started twice: {names:?}");
    // Every scheduled group holds exactly one activity (the one flow).
    for g in scheduled(&groups) {
        let count: String = client
            .get(format!("{}{RUNS}/{}/activities/$count", three.base, g["id"].as_str().unwrap()))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(count, "1");
    }
}
