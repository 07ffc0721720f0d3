//! Delta queries (docs/change-tracking.md): rounds over the change log on runs and both flow sets,
//! `$select`, the restricted `$filter`, `Prefer: odata.maxpagesize`, `$deltatoken=latest`,
//! removed items, retention (410), and every client mistake as a Graph error that changes nothing.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use reqwest::Method;
use runhub_server::FeedSettings;
use serde_json::{Value, json};

use crate::helpers::{NS, TestApp, odata_type};
use crate::tokens::{ALL, FLOW_READ, RUN_READ, jwt, token};

/// One whole round: every page's items, the deltaLink it ends with, and how many pages it took.
pub struct Round {
    pub items: Vec<Value>,
    pub delta_link: String,
    pub pages: usize,
}

/// Waits (bounded) until every change written so far is readable. On SQLite it is at once; on
/// PostgreSQL the readable range ends at the oldest transaction still in flight anywhere on the
/// server (other tests' too), so a change becomes readable a moment after its commit.
pub async fn settled(app: &TestApp) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let watermark = app.store.change_watermark().await.unwrap();
        let log = app.store.change_log(0, u64::MAX, None, 100_000).await.unwrap();
        if log.iter().all(|c| c.position < watermark) {
            return;
        }
        assert!(Instant::now() < deadline, "the change log's watermark never passed the changes written");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Follows a delta request through its nextLinks to the deltaLink, checking every page's shape,
/// once everything written so far is readable.
pub async fn round(app: &TestApp, first: &str, headers: &[(&str, &str)]) -> Round {
    settled(app).await;
    let mut items = Vec::new();
    let mut url = first.to_owned();
    let mut pages = 0;
    loop {
        let r = app.send(Method::GET, &url, None, headers).await;
        r.assert_status(200);
        pages += 1;
        let body = r.json();
        assert!(
            body["@odata.context"].as_str().unwrap().ends_with("/$metadata#industryData/runs/$delta")
                || body["@odata.context"].as_str().unwrap().contains("Flows/$delta"),
            "{body}"
        );
        if let Some(size) = headers.iter().find(|(k, _)| *k == "Prefer").map(|(_, v)| v) {
            assert_eq!(r.header("preference-applied").as_deref(), Some(*size), "every page says Preference-Applied");
        }
        items.extend(body["value"].as_array().unwrap().iter().cloned());
        match (body["@odata.nextLink"].as_str(), body["@odata.deltaLink"].as_str()) {
            (Some(next), None) => {
                assert!(next.starts_with("http://") && next.contains("$skiptoken="), "{next}");
                url = next.to_owned();
            }
            (None, Some(delta)) => {
                assert!(delta.starts_with("http://") && delta.contains("$deltatoken="), "{delta}");
                return Round { items, delta_link: delta.to_owned(), pages };
            }
            other => panic!("exactly one of nextLink and deltaLink: {other:?}"),
        }
    }
}

/// An entity reply without its `@odata.context`: as it appears in a collection or a delta page.
pub fn bare(mut entity: Value) -> Value {
    entity.as_object_mut().unwrap().remove("@odata.context");
    entity
}

fn ids(items: &[Value]) -> Vec<String> {
    items.iter().map(|i| i["id"].as_str().unwrap().to_owned()).collect()
}

#[track_caller]
fn once_each(items: &[Value]) {
    let all = ids(items);
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!(unique.len(), all.len(), "an entity appears at most once per round: {all:?}");
}

fn find<'a>(items: &'a [Value], id: &str) -> &'a Value {
    items.iter().find(|i| i["id"] == id).unwrap_or_else(|| panic!("{id} is not in the round: {items:?}"))
}

#[track_caller]
fn assert_removed(item: &Value, reason: &str, kind: &str) {
    assert_eq!(item["@removed"], json!({"reason": reason}), "{item}");
    assert_eq!(item["@odata.type"], odata_type(kind), "{item}");
    assert_eq!(item.as_object().unwrap().len(), 3, "a removed item carries nothing else: {item}");
}

#[tokio::test]
async fn the_first_round_lists_everything_then_each_round_carries_what_changed() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let mut runs = Vec::new();
    for i in 0..5 {
        runs.push(app.run_of(&flow, json!({"displayName": format!("r{i}")})).await["id"].as_str().unwrap().to_owned());
    }
    let group = app.group("g").await;

    let first = round(&app, "/beta/industryData/runs/delta", &[("Prefer", "odata.maxpagesize=2")]).await;
    assert_eq!(first.pages, 3, "6 runs in pages of 2");
    once_each(&first.items);
    let mut real = app.all_runs().await;
    let mut listed = first.items.clone();
    real.sort_by_key(|r| r["id"].as_str().unwrap().to_owned());
    listed.sort_by_key(|r| r["id"].as_str().unwrap().to_owned());
    assert_eq!(listed, real, "the first round is every current entity, whole");

    // Changes: run 0 twice (latest state once), run 1 deleted, a new run, run 2 joins the group
    // (the group's derived values change too), run 3 re-pointed to another flow.
    app.patch(&format!("/beta/industryData/runs/{}", runs[0]), json!({"statistics": {"n": 1}})).await.assert_status(200);
    app.patch(&format!("/beta/industryData/runs/{}", runs[0]), json!({"status": "completed"})).await.assert_status(200);
    app.delete(&format!("/beta/industryData/runs/{}", runs[1])).await.assert_status(204);
    let new = app.run_of(&flow, json!({"displayName": "new"})).await["id"].as_str().unwrap().to_owned();
    app.add_member(&group, &runs[2]).await;
    let other = app.incoming_flow("other").await;
    let r = app
        .send(
            Method::PUT,
            &format!("/beta/industryData/runs/{}/process/$ref", runs[3]),
            Some(&json!({"@odata.id": app.beta(&format!("industryData/incomingFlows/{other}"))})),
            &[],
        )
        .await;
    r.assert_status(204);

    let second = round(&app, &first.delta_link, &[]).await;
    once_each(&second.items);
    let mut changed = ids(&second.items);
    changed.sort();
    let mut expected = vec![runs[0].clone(), runs[1].clone(), new.clone(), runs[2].clone(), runs[3].clone(), group.clone()];
    expected.sort();
    assert_eq!(changed, expected, "exactly the changed entities");
    assert_eq!(find(&second.items, &runs[0]), &bare(app.run(&runs[0]).await), "latest state");
    assert_eq!(find(&second.items, &runs[0])["status"], "completed");
    assert_removed(find(&second.items, &runs[1]), "deleted", "incomingFlowRun");
    let g = find(&second.items, &group);
    assert_eq!(g["statistics"]["memberRuns"]["total"], 1, "the group's derived values: {g}");
    assert_eq!(g, &bare(app.run(&group).await));

    // Nothing changed since: an empty round, and the link goes on.
    let third = round(&app, &second.delta_link, &[]).await;
    assert!(third.items.is_empty(), "{:?}", third.items);
    // A group deleted: its members detach (they change too); tombstone carries the group's type.
    app.delete(&format!("/beta/industryData/runGroups/{group}")).await.assert_status(204);
    let fourth = round(&app, &third.delta_link, &[]).await;
    assert_removed(find(&fourth.items, &group), "deleted", "runGroup");
    assert_eq!(find(&fourth.items, &runs[2]), &bare(app.run(&runs[2]).await));
    // Links stay valid: following an old one again replays from there (duplicates are allowed).
    let again = round(&app, &first.delta_link, &[]).await;
    assert!(ids(&again.items).contains(&runs[0]));
}

#[tokio::test]
async fn flows_have_their_own_delta_under_both_spellings() {
    let app = TestApp::spawn().await;
    let a = app.incoming_flow("in").await;
    let out = app.outgoing_flow("out").await;
    let first = round(&app, "/beta/industryData/incomingFlows/microsoft.graph.delta()", &[]).await;
    assert_eq!(ids(&first.items), vec![a.clone()]);
    assert_eq!(first.items[0]["@odata.type"], odata_type("incomingFlow"));
    let outs = round(&app, "/beta/industryData/outgoingFlows/delta", &[]).await;
    assert_eq!(ids(&outs.items), vec![out.clone()]);

    app.patch(&format!("/beta/industryData/incomingFlows/{a}"), json!({"displayName": "renamed"})).await.assert_status(200);
    let b = app.incoming_flow("second").await;
    app.delete(&format!("/beta/industryData/outgoingFlows/{out}")).await.assert_status(204);
    let next = round(&app, &first.delta_link, &[]).await;
    let mut got = ids(&next.items);
    got.sort();
    let mut want = vec![a.clone(), b];
    want.sort();
    assert_eq!(got, want, "only incomingFlows");
    assert_eq!(find(&next.items, &a)["displayName"], "renamed");
    let next_out = round(&app, &outs.delta_link, &[]).await;
    assert_eq!(next_out.items.len(), 1);
    assert_removed(&next_out.items[0], "deleted", "outgoingFlow");
    // The run collection's delta is another collection.
    for spelling in ["delta", "delta()", "microsoft.graph.delta", "microsoft.graph.delta()"] {
        app.get(&format!("/beta/industryData/runs/{spelling}")).await.assert_status(200);
    }
    app.send(Method::POST, "/beta/industryData/runs/delta", Some(&json!({})), &[]).await.assert_error(405, "methodNotAllowed");
    app.get("/beta/industryData/runGroups/delta").await.assert_status(404);
}

#[tokio::test]
async fn select_and_the_filter_carry_through_the_rounds() {
    let app = TestApp::spawn().await;
    let a = app.incoming_flow("a").await;
    let b = app.incoming_flow("b").await;
    let in_a = app.run_of(&a, json!({"displayName": "in a"})).await["id"].as_str().unwrap().to_owned();
    let moves = app.run_of(&a, json!({"displayName": "moves"})).await["id"].as_str().unwrap().to_owned();
    let goes = app.run_of(&a, json!({"displayName": "goes"})).await["id"].as_str().unwrap().to_owned();
    let in_b = app.run_of(&b, json!({"displayName": "in b"})).await["id"].as_str().unwrap().to_owned();
    let group = app.group("g").await;

    let url = format!("/beta/industryData/runs/delta?$select=displayName,status&$filter=process/id eq '{a}'");
    let first = round(&app, &url, &[]).await;
    let mut got = ids(&first.items);
    got.sort();
    let mut want = vec![in_a.clone(), moves.clone(), goes.clone()];
    want.sort();
    assert_eq!(got, want, "only flow a's runs");
    for item in &first.items {
        let keys: Vec<&str> = item.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["@odata.type", "@odata.etag", "id", "displayName", "status"], "{item}");
    }

    // Re-pointed away from a: removed as `changed`; deleted: `deleted`; b's new run: nothing.
    let to_b = json!({"@odata.id": app.beta(&format!("industryData/incomingFlows/{b}"))});
    app.send(Method::PUT, &format!("/beta/industryData/runs/{moves}/process/$ref"), Some(&to_b), &[]).await.assert_status(204);
    app.delete(&format!("/beta/industryData/runs/{goes}")).await.assert_status(204);
    app.run_of(&b, json!({"displayName": "b again"})).await;
    app.patch(&format!("/beta/industryData/runs/{in_b}"), json!({"displayName": "b renamed"})).await.assert_status(200);
    app.patch(&format!("/beta/industryData/runs/{in_a}"), json!({"displayName": "a renamed"})).await.assert_status(200);
    let next = round(&app, &first.delta_link, &[]).await;
    assert_eq!(next.items.len(), 3, "{:?}", next.items);
    assert_removed(find(&next.items, &moves), "changed", "incomingFlowRun");
    assert_removed(find(&next.items, &goes), "deleted", "incomingFlowRun");
    let renamed = find(&next.items, &in_a);
    assert_eq!(renamed["displayName"], "a renamed");
    assert!(renamed.get("startDateTime").is_none(), "$select carried on: {renamed}");

    // isof, and or.
    let groups = round(&app, "/beta/industryData/runs/delta?$filter=isof('microsoft.graph.industryData.runGroup')", &[]).await;
    assert_eq!(ids(&groups.items), vec![group.clone()]);
    let either = round(&app, &format!("/beta/industryData/runs/delta?$filter=process/id eq '{b}' or isof('{NS}.runGroup')"), &[]).await;
    assert_eq!(either.items.len(), 4, "b's three runs and the group: {:?}", either.items);
    let both =
        round(&app, &format!("/beta/industryData/runs/delta?$filter=isof('{NS}.incomingFlowRun') and process/id eq '{b}'"), &[]).await;
    assert_eq!(both.items.len(), 3);
    app.patch(&format!("/beta/industryData/runGroups/{group}"), json!({"displayName": "g2"})).await.assert_status(200);
    let next = round(&app, &groups.delta_link, &[]).await;
    assert_eq!(ids(&next.items), vec![group]);
}

#[tokio::test]
async fn latest_starts_from_now() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    app.run_of(&flow, json!({})).await;
    settled(&app).await;
    let r = app.get("/beta/industryData/runs/delta?$deltatoken=latest").await;
    r.assert_status(200);
    let body = r.json();
    assert_eq!(body["value"], json!([]));
    let link = body["@odata.deltaLink"].as_str().unwrap().to_owned();
    let new = app.run_of(&flow, json!({"displayName": "after"})).await;
    let next = round(&app, &link, &[]).await;
    assert_eq!(next.items, vec![bare(new)]);
}

#[tokio::test]
async fn page_size_and_paging_inside_a_round() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let first = round(&app, "/beta/industryData/runs/delta", &[]).await;
    let mut made = Vec::new();
    for i in 0..7 {
        made.push(app.run_of(&flow, json!({"displayName": format!("r{i}")})).await["id"].as_str().unwrap().to_owned());
    }
    let next = round(&app, &first.delta_link, &[("Prefer", "odata.maxpagesize=3")]).await;
    assert_eq!(next.pages, 3);
    once_each(&next.items);
    assert_eq!(ids(&next.items), made, "in the order they changed");
    for bad in ["odata.maxpagesize=0", "odata.maxpagesize=1000", "odata.maxpagesize=x"] {
        let r = app.send(Method::GET, "/beta/industryData/runs/delta", None, &[("Prefer", bad)]).await;
        r.assert_target(400, "invalidPreference", "Prefer");
    }
}

#[tokio::test]
async fn bad_input_is_a_graph_error_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    app.run_of(&flow, json!({})).await;
    let before = app.snapshot_state().await;
    let first = round(&app, "/beta/industryData/runs/delta?$select=status", &[]).await;
    let token = first.delta_link.split("$deltatoken=").nth(1).unwrap().to_owned();
    let flows = round(&app, "/beta/industryData/incomingFlows/delta", &[]).await;
    let flow_token = flows.delta_link.split("$deltatoken=").nth(1).unwrap().to_owned();

    for (query, code, target) in [
        ("$top=3", "invalidQueryOption", "$top"),
        ("$skip=1", "invalidQueryOption", "$skip"),
        ("$orderby=status", "invalidQueryOption", "$orderby"),
        ("$expand=process", "invalidQueryOption", "$expand"),
        ("$count=true", "invalidQueryOption", "$count"),
        ("$search=x", "unsupportedQueryOption", "$search"),
        ("$nonsense=1", "unknownQueryOption", "$nonsense"),
        ("$filter=status eq 'failed'", "invalidQueryOption", "$filter"),
        ("$filter=not isof('microsoft.graph.industryData.runGroup')", "invalidQueryOption", "$filter"),
        ("$filter=process/id ne 'x'", "invalidQueryOption", "$filter"),
        ("$filter=(", "invalidQueryOption", "$filter"),
        ("$select=nope", "invalidQueryOption", "$select"),
        ("$deltatoken=garbage", "invalidDeltaToken", "$deltatoken"),
        ("$skiptoken=garbage", "invalidDeltaToken", "$skiptoken"),
        ("$deltatoken=", "invalidQueryOption", "$deltatoken"),
    ] {
        let r = app.get(&format!("/beta/industryData/runs/delta?{query}")).await;
        let error = r.assert_error(400, code);
        assert_eq!(error["target"], target, "{query}: {}", r.text);
    }
    // A tampered token, a token of another collection, options beside a token, two tokens.
    let mut tampered = token.clone();
    tampered.replace_range(0..1, if tampered.starts_with('A') { "B" } else { "A" });
    for (query, target) in [
        (format!("$deltatoken={tampered}"), "$deltatoken"),
        (format!("$deltatoken={flow_token}"), "$deltatoken"),
        (format!("$skiptoken={token}x"), "$skiptoken"),
        (format!("$deltatoken={token}&$select=displayName"), "$select"),
        (format!("$deltatoken={token}&$filter=isof('{NS}.runGroup')"), "$filter"),
        (format!("$deltatoken={token}&$skiptoken={token}"), "$skiptoken"),
    ] {
        let r = app.get(&format!("/beta/industryData/runs/delta?{query}")).await;
        assert_eq!(r.status.as_u16(), 400, "{query}: {}", r.text);
        assert_eq!(r.json()["error"]["target"], target, "{query}: {}", r.text);
    }
    // The good token still works, and nothing was changed by any of it.
    round(&app, &first.delta_link, &[]).await;
    assert_eq!(app.snapshot_state().await, before);
}

#[tokio::test]
async fn a_token_older_than_the_retention_is_gone() {
    let app = TestApp::spawn_full(
        runhub_server::Security::default(),
        FeedSettings { retention: Duration::from_millis(300), ..FeedSettings::default() },
    )
    .await;
    let flow = app.incoming_flow("f").await;
    app.run_of(&flow, json!({})).await;
    let first =
        round(&app, "/beta/industryData/runs/delta?$select=status&$filter=isof('microsoft.graph.industryData.runGroup')", &[]).await;
    // Poll (bounded) until the token has aged past the retention.
    let deadline = Instant::now() + Duration::from_secs(20);
    let r = loop {
        let r = app.get(&first.delta_link).await;
        if r.status.as_u16() != 200 {
            break r;
        }
        assert!(Instant::now() < deadline, "the token never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    r.assert_error(410, "syncStateNotFound");
    assert_eq!(r.json()["error"]["code"], "syncStateNotFound");
    let location = r.header("location").unwrap().replace("%27", "'");
    assert_eq!(
        location,
        format!("{}/beta/industryData/runs/delta?$select=status&$filter=isof('microsoft.graph.industryData.runGroup')", app.base)
    );
    // The Location starts over.
    round(&app, &location, &[]).await;
}

#[tokio::test]
async fn a_token_whose_changes_were_pruned_is_gone() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let first = round(&app, "/beta/industryData/runs/delta", &[]).await;
    app.run_of(&flow, json!({})).await;
    // Prune everything written until now (what the background pruner does past the retention).
    let later = runhub_model::Timestamp::from_micros(runhub_model::Timestamp::now().micros() + 1_000_000);
    while app.store.prune_changes(later, 2).await.unwrap() > 0 {}
    let r = app.get(&first.delta_link).await;
    r.assert_error(410, "syncStateNotFound");
    assert_eq!(r.header("location").unwrap(), format!("{}/beta/industryData/runs/delta", app.base));
    // A fresh round works, and follows the log from there.
    let again = round(&app, "/beta/industryData/runs/delta", &[]).await;
    assert_eq!(again.items.len(), 1);
    let run = app.run_of(&flow, json!({"displayName": "after"})).await;
    assert_eq!(round(&app, &again.delta_link, &[]).await.items, vec![bare(run)]);
}

#[tokio::test]
async fn tenants_and_permissions_are_those_of_listing() {
    let app = TestApp::spawn_with(jwt(Default::default())).await;
    let a = app.as_caller(&token("tenant-a", &ALL));
    let b = app.as_caller(&token("tenant-b", &ALL));
    let flow = a.incoming_flow("a's").await;
    a.run_of(&flow, json!({"displayName": "a's run"})).await;
    let a_round = round(&a, "/beta/industryData/runs/delta", &[]).await;
    assert_eq!(a_round.items.len(), 1);
    let b_round = round(&b, "/beta/industryData/runs/delta", &[]).await;
    assert!(b_round.items.is_empty(), "{:?}", b_round.items);
    // A's changes never reach B's rounds; A's token is not B's.
    a.run_of(&flow, json!({"displayName": "a's second"})).await;
    assert!(round(&b, &b_round.delta_link, &[]).await.items.is_empty());
    let r = b.get(&a_round.delta_link).await;
    r.assert_target(400, "invalidDeltaToken", "$deltatoken");
    assert_eq!(round(&a, &a_round.delta_link, &[]).await.items.len(), 1);
    // Permissions: as listing the collection.
    let flows_only = app.as_caller(&token("tenant-a", &[FLOW_READ]));
    flows_only.get("/beta/industryData/runs/delta").await.assert_error(403, "accessDenied");
    flows_only.get("/beta/industryData/incomingFlows/delta").await.assert_status(200);
    let runs_only = app.as_caller(&token("tenant-a", &[RUN_READ]));
    runs_only.get("/beta/industryData/runs/delta").await.assert_status(200);
    runs_only.get("/beta/industryData/outgoingFlows/delta").await.assert_error(403, "accessDenied");
    app.get("/beta/industryData/runs/delta").await.assert_status(401);
}

#[tokio::test]
async fn metadata_declares_delta() {
    let app = TestApp::spawn().await;
    let xml = app.get("/beta/$metadata").await.text;
    for set in ["run", "incomingFlow", "outgoingFlow"] {
        let binding = format!("<Parameter Name=\"bindingParameter\" Type=\"Collection(microsoft.graph.industryData.{set})\"");
        assert!(xml.contains(&binding), "delta bound to {set}");
    }
    assert!(xml.contains("<Function Name=\"delta\" IsBound=\"true\">"));
}
