//! Counts answered from the stored counts equal counts by scan, after every kind of write that
//! moves a run or a flow between counted keys.

use reqwest::Method;
use serde_json::json;

use crate::helpers::*;

const RUNS: &str = "/beta/industryData/runs";

/// Filters the stored counts answer (they read only status, process/id and the kind).
fn counted_filters(flow: &str) -> Vec<String> {
    let mut filters: Vec<String> = ["running", "failed", "completed", "completedWithErrors", "completedWithWarnings"]
        .iter()
        .map(|s| format!("status eq '{s}'"))
        .collect();
    filters.extend([
        "status ne 'running'".to_owned(),
        "status in ('failed', 'completed')".to_owned(),
        "not (status eq 'completed')".to_owned(),
        format!("status eq 'failed' or isof('{NS}.runGroup')"),
        format!("not isof('{NS}.runGroup') and status ne 'failed'"),
        format!("process/id eq '{flow}'"),
        format!("process/id eq '{flow}' and status eq 'running'"),
        "process/id eq null".to_owned(),
    ]);
    filters
}

/// Every countable scope's count, by `/$count` and by `$count=true`, equals the count by scan of
/// the same rows (the filter made uncountable by a term every row passes) and the rows listed.
async fn assert_counts_match_scans(app: &TestApp, flows: &[(&str, &str)]) {
    let mut scopes = vec![RUNS.to_owned(), "/beta/industryData/runGroups".to_owned()];
    for kind in ["incomingFlowRun", "outgoingFlowRun", "runGroup"] {
        scopes.push(format!("{RUNS}/{NS}.{kind}"));
    }
    for (set, id) in flows {
        scopes.push(format!("/beta/industryData/{set}/{id}/runs"));
    }
    let mut filters = vec![None];
    filters.extend(counted_filters(flows[0].1).into_iter().map(Some));
    for scope in &scopes {
        for filter in &filters {
            let (counted, scanned) = match filter {
                None => (String::new(), "displayName ne 'no-such-name'".to_owned()),
                Some(f) => (format!("?$filter={f}"), format!("({f}) and displayName ne 'no-such-name'")),
            };
            let by_counts = app.get(&format!("{scope}/$count{counted}")).await;
            by_counts.assert_status(200);
            let by_scan = app.get(&format!("{scope}/$count?$filter={scanned}")).await;
            by_scan.assert_status(200);
            assert_eq!(by_counts.text, by_scan.text, "{scope} {filter:?}");
            let joiner = if counted.is_empty() { "?" } else { "&" };
            let page = app.get(&format!("{scope}{counted}{joiner}$count=true&$top=1")).await.json();
            assert_eq!(page["@odata.count"].to_string(), by_scan.text, "{scope} {filter:?} ($count=true)");
            let listed = app.walk(&format!("{scope}?$top=999&$filter={scanned}")).await.len();
            assert_eq!(listed.to_string(), by_scan.text, "{scope} {filter:?} (listed)");
        }
    }
    for set in ["incomingFlows", "outgoingFlows"] {
        let listed = app.walk(&format!("/beta/industryData/{set}?$top=999")).await.len();
        assert_eq!(app.get(&format!("/beta/industryData/{set}/$count")).await.text, listed.to_string(), "{set}");
        let page = app.get(&format!("/beta/industryData/{set}?$count=true&$top=1")).await.json();
        assert_eq!(page["@odata.count"], listed, "{set} ($count=true)");
    }
}

#[tokio::test]
async fn counts_answered_without_a_scan_equal_the_scan() {
    let app = TestApp::spawn().await;
    let roster = app.incoming_flow("roster").await;
    let grades = app.incoming_flow("grades").await;
    let export = app.outgoing_flow("export").await;
    let spare = app.outgoing_flow("spare").await;
    app.delete(&format!("/beta/industryData/outgoingFlows/{spare}")).await.assert_status(204);
    let flows = [("incomingFlows", roster.as_str()), ("incomingFlows", grades.as_str()), ("outgoingFlows", export.as_str())];

    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(app.run_of(&roster, json!({"displayName": format!("r{i}")})).await["id"].as_str().unwrap().to_owned());
        ids.push(app.run_of(&grades, json!({"status": "failed"})).await["id"].as_str().unwrap().to_owned());
        ids.push(app.outgoing_run_of(&export, json!({})).await["id"].as_str().unwrap().to_owned());
    }
    let group = app.group("nightly").await;
    let empty_group = app.group("empty").await;
    assert_counts_match_scans(&app, &flows).await;

    // Members join and leave; a member created inside the group.
    for id in &ids[0..3] {
        app.add_member(&group, id).await;
    }
    let bound = json!({"displayName": "inside", "@odata.type": odata_type("incomingFlowRun"),
        "process@odata.bind": app.beta(&format!("industryData/incomingFlows/{roster}"))});
    let inside = app.post(&format!("/beta/industryData/runGroups/{group}/runs"), bound).await;
    inside.assert_status(201);
    let inside = inside.json()["id"].as_str().unwrap().to_owned();
    app.delete(&format!("/beta/industryData/runGroups/{group}/runs/{}/$ref", ids[1])).await.assert_status(204);

    // Terminal statuses by PATCH; the group's last running members finish, so it derives a
    // terminal status of its own.
    for (id, status) in [(&ids[3], "completed"), (&ids[5], "completedWithWarnings"), (&ids[6], "completedWithErrors")] {
        app.patch(&format!("{RUNS}/{id}"), json!({"status": status})).await.assert_status(200);
    }
    let before = app.run(&group).await["status"].clone();
    for id in [&ids[0], &ids[2], &inside] {
        app.patch(&format!("{RUNS}/{id}"), json!({"status": "failed"})).await.assert_status(200);
    }
    let after = app.run(&group).await["status"].clone();
    assert_eq!((before, after), (json!("running"), json!("failed")), "the group's derived status moved");
    app.store.compact_counts(1000).await.unwrap();
    assert_counts_match_scans(&app, &flows).await;

    // A run re-pointed to another flow, runNow, an on-demand start, deletes (a member, a group).
    let other = json!({"@odata.id": app.beta(&format!("industryData/incomingFlows/{grades}"))});
    app.send(Method::PUT, &format!("{RUNS}/{}/process/$ref", ids[9]), Some(&other), &[]).await.assert_status(204);
    app.post(&format!("/beta/industryData/incomingFlows/{roster}/runNow"), json!({})).await.assert_status(202);
    let start = app.raw(Method::POST, "/beta/external/industryData/runs/start", None, Vec::new()).await;
    assert!(start.status.is_success(), "{}", start.text);
    app.delete(&format!("{RUNS}/{}", ids[2])).await.assert_status(204);
    app.delete(&format!("{RUNS}/{}", ids[4])).await.assert_status(204);
    app.delete(&format!("{RUNS}/{empty_group}")).await.assert_status(204);
    app.delete(&format!("/beta/industryData/runGroups/{group}")).await.assert_status(204);
    assert_counts_match_scans(&app, &flows).await;
    app.store.compact_counts(1000).await.unwrap();
    assert_counts_match_scans(&app, &flows).await;
}
