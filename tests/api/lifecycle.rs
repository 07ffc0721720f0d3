//! Every lifecycle rule the server enforces, one test each.

use serde_json::{Value, json};

use crate::helpers::{TestApp, micros, now_micros, odata_type};

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

fn run_path(v: &Value) -> String {
    format!("/beta/industryData/runs/{}", v["id"].as_str().unwrap())
}

fn group_path(group: &str) -> String {
    format!("/beta/industryData/runGroups/{group}")
}

/// A group's visible lifecycle values: (status, startDateTime, endDateTime, memberRuns).
async fn group_state(app: &TestApp, group: &str) -> (Value, Value, Value, Value) {
    let g = app.run(group).await;
    (g["status"].clone(), g["startDateTime"].clone(), g["endDateTime"].clone(), g["statistics"]["memberRuns"].clone())
}

fn counts(total: i64, running: i64, failed: i64, completed: i64, errors: i64, warnings: i64) -> Value {
    json!({
        "total": total, "running": running, "failed": failed, "completed": completed,
        "completedWithErrors": errors, "completedWithWarnings": warnings
    })
}

// ---- running → terminal ---------------------------------------------------------------------

#[tokio::test]
async fn a_new_run_is_running_without_end_and_starts_now() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let before = now_micros();
    let run = app.run_of(&flow, json!({})).await;
    let after = now_micros();
    assert_eq!(run["status"], "running");
    assert_eq!(run["endDateTime"], Value::Null);
    let start = micros(&run["startDateTime"]);
    assert!(before <= start && start <= after, "{before} <= {start} <= {after}");
    assert_eq!(run["statistics"], json!({"@odata.type": odata_type("runStatistics")}));
}

#[tokio::test]
async fn finishing_a_running_run_sets_end_date_time_to_now() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    for status in ["failed", "completed", "completedWithErrors", "completedWithWarnings"] {
        let run = app.run_of(&flow, json!({"startDateTime": "2024-01-01T00:00:00Z"})).await;
        let before = now_micros();
        let r = app.patch(&run_path(&run), json!({"status": status})).await;
        let after = now_micros();
        r.assert_status(200);
        let body = r.json();
        assert_eq!(body["status"], status);
        let end = micros(&body["endDateTime"]);
        assert!(before <= end && end <= after, "{status}: {before} <= {end} <= {after}");
        assert_eq!(app.run(&id(&run)).await["endDateTime"], body["endDateTime"]);
    }
}

#[tokio::test]
async fn finishing_a_running_run_keeps_a_given_end_date_time() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let run = app.run_of(&flow, json!({"startDateTime": "2024-01-01T00:00:00Z"})).await;
    let r = app.patch(&run_path(&run), json!({"status": "completed", "endDateTime": "2024-01-01T01:30:00+01:00"})).await;
    r.assert_status(200);
    assert_eq!(r.json()["endDateTime"], "2024-01-01T00:30:00Z");
}

#[tokio::test]
async fn a_running_run_may_be_patched_freely() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let run = app.run_of(&flow, json!({})).await;
    let r = app
        .patch(
            &run_path(&run),
            json!({
                "displayName": "progress",
                "startDateTime": "2024-02-02T02:02:02Z",
                "statistics": {"rows": 10, "nested": {"a": [1, 2]}},
                "blockingError": {"code": "slow", "message": "source is slow"}
            }),
        )
        .await;
    r.assert_status(200);
    let r = app.patch(&run_path(&run), json!({"statistics": {"rows": 20}, "blockingError": null})).await;
    r.assert_status(200);
    let now = app.run(&id(&run)).await;
    assert_eq!(now["status"], "running");
    assert_eq!(now["displayName"], "progress");
    assert_eq!(now["startDateTime"], "2024-02-02T02:02:02Z");
    assert_eq!(now["statistics"], json!({"@odata.type": odata_type("runStatistics"), "rows": 20}));
    assert_eq!(now["blockingError"], Value::Null);
}

// ---- a terminal run is closed ---------------------------------------------------------------

async fn finished_run(app: &TestApp) -> Value {
    let flow = app.incoming_flow("f").await;
    app.run_of(
        &flow,
        json!({
            "status": "completedWithErrors", "startDateTime": "2024-01-01T00:00:00Z", "endDateTime": "2024-01-01T01:00:00Z",
            "statistics": {"rows": 1}, "blockingError": {"code": "c", "message": "m"}
        }),
    )
    .await
}

#[tokio::test]
async fn a_finished_runs_closed_members_cannot_change() {
    let app = TestApp::spawn().await;
    let run = finished_run(&app).await;
    let before = app.run(&id(&run)).await;
    for (body, target) in [
        (json!({"startDateTime": "2023-12-31T00:00:00Z"}), "startDateTime"),
        (json!({"endDateTime": "2024-01-01T02:00:00Z"}), "endDateTime"),
        (json!({"endDateTime": null}), "endDateTime"),
        (json!({"statistics": {"rows": 2}}), "statistics"),
        (json!({"blockingError": {"code": "other"}}), "blockingError"),
        (json!({"blockingError": null}), "blockingError"),
    ] {
        let r = app.patch(&run_path(&run), body.clone()).await;
        r.assert_bad(409, "runClosed", target);
    }
    assert_eq!(app.run(&id(&run)).await, before);
}

#[tokio::test]
async fn a_finished_runs_status_cannot_change() {
    let app = TestApp::spawn().await;
    let run = finished_run(&app).await;
    for status in ["failed", "completed", "completedWithWarnings"] {
        app.patch(&run_path(&run), json!({"status": status})).await.assert_bad(409, "invalidStatusTransition", "status");
    }
    assert_eq!(app.run(&id(&run)).await["status"], "completedWithErrors");
}

#[tokio::test]
async fn reopening_a_finished_run_is_409_invalid_status_transition() {
    let app = TestApp::spawn().await;
    let run = finished_run(&app).await;
    let before = app.run(&id(&run)).await;
    let r = app.patch(&run_path(&run), json!({"status": "running"})).await;
    r.assert_bad(409, "invalidStatusTransition", "status");
    assert_eq!(app.run(&id(&run)).await, before);
}

#[tokio::test]
async fn a_finished_runs_display_name_can_still_change() {
    let app = TestApp::spawn().await;
    let run = finished_run(&app).await;
    let r = app.patch(&run_path(&run), json!({"displayName": "renamed"})).await;
    r.assert_status(200);
    let after = app.run(&id(&run)).await;
    assert_eq!(after["displayName"], "renamed");
    assert_eq!(after["status"], "completedWithErrors");
    assert_eq!(after["endDateTime"], "2024-01-01T01:00:00Z");
}

#[tokio::test]
async fn resending_a_finished_runs_own_values_is_not_a_change() {
    let app = TestApp::spawn().await;
    let run = finished_run(&app).await;
    let r = app
        .patch(
            &run_path(&run),
            json!({"status": "completedWithErrors", "startDateTime": "2024-01-01T00:00:00Z", "endDateTime": "2024-01-01T01:00:00Z", "statistics": {"rows": 1}}),
        )
        .await;
    r.assert_status(200);
}

// ---- created terminal -----------------------------------------------------------------------

#[tokio::test]
async fn a_run_created_finished_ends_now_when_it_started_in_the_past() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let before = now_micros();
    let run = app.run_of(&flow, json!({"status": "completed", "startDateTime": "2024-01-01T00:00:00Z"})).await;
    let after = now_micros();
    let end = micros(&run["endDateTime"]);
    assert!(before <= end && end <= after, "{before} <= {end} <= {after}");
}

#[tokio::test]
async fn a_run_created_finished_with_a_future_start_ends_at_its_start() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let run = app.run_of(&flow, json!({"status": "failed", "startDateTime": "2999-06-01T00:00:00Z"})).await;
    assert_eq!(run["endDateTime"], "2999-06-01T00:00:00Z");
}

#[tokio::test]
async fn a_run_created_finished_keeps_a_given_end() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let run = app
        .run_of(&flow, json!({"status": "completed", "startDateTime": "2024-01-01T00:00:00Z", "endDateTime": "2024-01-01T00:00:00Z"}))
        .await;
    assert_eq!(run["endDateTime"], "2024-01-01T00:00:00Z");
}

// ---- endDateTime rules ----------------------------------------------------------------------

#[tokio::test]
async fn end_date_time_on_a_running_run_is_400() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let runs = format!("/beta/industryData/incomingFlows/{flow}/runs");
    app.post(&runs, json!({"displayName": "r", "endDateTime": "2999-01-01T00:00:00Z"})).await.assert_bad(
        400,
        "endDateTimeWhileRunning",
        "endDateTime",
    );
    app.post(&runs, json!({"displayName": "r", "status": "running", "endDateTime": "2999-01-01T00:00:00Z"})).await.assert_bad(
        400,
        "endDateTimeWhileRunning",
        "endDateTime",
    );
    let run = app.run_of(&flow, json!({})).await;
    app.patch(&run_path(&run), json!({"endDateTime": "2999-01-01T00:00:00Z"})).await.assert_bad(
        400,
        "endDateTimeWhileRunning",
        "endDateTime",
    );
    assert_eq!(app.run(&id(&run)).await["endDateTime"], Value::Null);
    assert_eq!(app.all_runs().await.len(), 1);
}

#[tokio::test]
async fn end_date_time_before_start_date_time_is_400() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let runs = format!("/beta/industryData/incomingFlows/{flow}/runs");
    let r = app
        .post(&runs, json!({"displayName": "r", "status": "completed", "startDateTime": "2024-01-02T00:00:00Z", "endDateTime": "2024-01-01T00:00:00Z"}))
        .await;
    r.assert_bad(400, "endBeforeStart", "endDateTime");
    let run = app.run_of(&flow, json!({"startDateTime": "2024-01-02T00:00:00Z"})).await;
    let r = app.patch(&run_path(&run), json!({"status": "completed", "endDateTime": "2024-01-01T23:59:59.999999Z"})).await;
    r.assert_bad(400, "endBeforeStart", "endDateTime");
    assert_eq!(app.run(&id(&run)).await["status"], "running");
    assert_eq!(app.all_runs().await.len(), 1);
}

// ---- runGroup derivation --------------------------------------------------------------------

#[tokio::test]
async fn a_group_without_members_shows_its_own_values_and_zero_counts() {
    let app = TestApp::spawn().await;
    let g = app.group_with(json!({"displayName": "g", "startDateTime": "2024-01-01T12:00:00Z"})).await;
    assert_eq!(g["status"], "running");
    assert_eq!(g["startDateTime"], "2024-01-01T12:00:00Z");
    assert_eq!(g["endDateTime"], Value::Null);
    assert_eq!(g["statistics"]["memberRuns"], counts(0, 0, 0, 0, 0, 0));
}

#[tokio::test]
async fn a_group_derives_status_and_times_as_members_start_and_finish() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let group = id(&app.group_with(json!({"displayName": "g", "startDateTime": "2024-01-01T12:00:00Z"})).await);

    // A running member that started earlier than the group: running, start moves to it.
    let a = app.run_of(&flow, json!({"startDateTime": "2024-01-01T10:00:00Z"})).await;
    app.add_member(&group, &id(&a)).await;
    assert_eq!(group_state(&app, &group).await, (json!("running"), json!("2024-01-01T10:00:00Z"), Value::Null, counts(1, 1, 0, 0, 0, 0)));

    // A finished member while another still runs: still running, no end.
    let b = app
        .run_of(
            &flow,
            json!({"status": "completedWithWarnings", "startDateTime": "2024-01-01T11:00:00Z", "endDateTime": "2024-01-01T11:30:00Z"}),
        )
        .await;
    app.add_member(&group, &id(&b)).await;
    assert_eq!(group_state(&app, &group).await, (json!("running"), json!("2024-01-01T10:00:00Z"), Value::Null, counts(2, 1, 0, 0, 0, 1)));

    // The last running member fails: the group is failed and ends with its latest member.
    app.patch(&run_path(&a), json!({"status": "failed", "endDateTime": "2024-01-01T13:00:00Z"})).await.assert_status(200);
    assert_eq!(
        group_state(&app, &group).await,
        (json!("failed"), json!("2024-01-01T10:00:00Z"), json!("2024-01-01T13:00:00Z"), counts(2, 0, 1, 0, 0, 1))
    );

    // A member created in the group through its runs collection, earlier still.
    let r = app
        .post(
            &format!("{}/runs", group_path(&group)),
            json!({
                "@odata.type": odata_type("incomingFlowRun"), "displayName": "c", "status": "completedWithErrors",
                "startDateTime": "2024-01-01T09:00:00Z", "endDateTime": "2024-01-01T09:30:00Z",
                "process@odata.bind": app.beta(&format!("industryData/incomingFlows/{flow}"))
            }),
        )
        .await;
    r.assert_status(201);
    let c = r.json();
    assert_eq!(
        group_state(&app, &group).await,
        (json!("failed"), json!("2024-01-01T09:00:00Z"), json!("2024-01-01T13:00:00Z"), counts(3, 0, 1, 0, 1, 1))
    );

    // A new running member re-opens the derived status; the end goes away until all are done.
    let d = app.run_of(&flow, json!({"startDateTime": "2024-01-01T14:00:00Z"})).await;
    app.add_member(&group, &id(&d)).await;
    assert_eq!(group_state(&app, &group).await, (json!("running"), json!("2024-01-01T09:00:00Z"), Value::Null, counts(4, 1, 1, 0, 1, 1)));
    app.patch(&run_path(&d), json!({"status": "completed", "endDateTime": "2024-01-01T15:00:00Z"})).await.assert_status(200);
    assert_eq!(
        group_state(&app, &group).await,
        (json!("failed"), json!("2024-01-01T09:00:00Z"), json!("2024-01-01T15:00:00Z"), counts(4, 0, 1, 1, 1, 1))
    );
    let _ = (b, c);
}

#[tokio::test]
async fn a_group_re_derives_after_a_member_is_deleted() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let group = id(&app.group_with(json!({"displayName": "g", "startDateTime": "2024-01-01T12:00:00Z"})).await);
    let failed = app
        .run_of(&flow, json!({"status": "failed", "startDateTime": "2024-01-01T08:00:00Z", "endDateTime": "2024-01-01T16:00:00Z"}))
        .await;
    let warned = app
        .run_of(
            &flow,
            json!({"status": "completedWithWarnings", "startDateTime": "2024-01-01T10:00:00Z", "endDateTime": "2024-01-01T11:00:00Z"}),
        )
        .await;
    app.add_member(&group, &id(&failed)).await;
    app.add_member(&group, &id(&warned)).await;
    assert_eq!(
        group_state(&app, &group).await,
        (json!("failed"), json!("2024-01-01T08:00:00Z"), json!("2024-01-01T16:00:00Z"), counts(2, 0, 1, 0, 0, 1))
    );
    app.delete(&run_path(&failed)).await.assert_status(204);
    assert_eq!(
        group_state(&app, &group).await,
        (json!("completedWithWarnings"), json!("2024-01-01T10:00:00Z"), json!("2024-01-01T11:00:00Z"), counts(1, 0, 0, 0, 0, 1))
    );
}

#[tokio::test]
async fn a_group_re_derives_after_a_member_is_removed_by_ref_and_falls_back_to_its_own_values() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let group = id(&app.group_with(json!({"displayName": "g", "startDateTime": "2024-01-01T12:00:00Z"})).await);
    let errors = app
        .run_of(
            &flow,
            json!({"status": "completedWithErrors", "startDateTime": "2024-01-01T09:00:00Z", "endDateTime": "2024-01-01T09:30:00Z"}),
        )
        .await;
    let done = app
        .run_of(&flow, json!({"status": "completed", "startDateTime": "2024-01-01T11:00:00Z", "endDateTime": "2024-01-01T11:30:00Z"}))
        .await;
    app.add_member(&group, &id(&errors)).await;
    app.add_member(&group, &id(&done)).await;
    assert_eq!(
        group_state(&app, &group).await,
        (json!("completedWithErrors"), json!("2024-01-01T09:00:00Z"), json!("2024-01-01T11:30:00Z"), counts(2, 0, 0, 1, 1, 0))
    );
    app.delete(&format!("{}/runs/{}/$ref", group_path(&group), id(&errors))).await.assert_status(204);
    assert_eq!(
        group_state(&app, &group).await,
        (json!("completed"), json!("2024-01-01T11:00:00Z"), json!("2024-01-01T11:30:00Z"), counts(1, 0, 0, 1, 0, 0))
    );
    app.delete(&format!("{}/runs/{}/$ref", group_path(&group), id(&done))).await.assert_status(204);
    assert_eq!(group_state(&app, &group).await, (json!("running"), json!("2024-01-01T12:00:00Z"), Value::Null, counts(0, 0, 0, 0, 0, 0)));
}

#[tokio::test]
async fn a_groups_start_is_its_own_when_earlier_than_every_member() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let group = id(&app.group_with(json!({"displayName": "g", "startDateTime": "2024-01-01T08:00:00Z"})).await);
    let run = app.run_of(&flow, json!({"startDateTime": "2024-01-01T10:00:00Z"})).await;
    app.add_member(&group, &id(&run)).await;
    assert_eq!(group_state(&app, &group).await.1, json!("2024-01-01T08:00:00Z"));
}

#[tokio::test]
async fn a_groups_status_is_the_worst_member_outcome() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    for (members, expected) in [
        (&["completed", "completed"][..], "completed"),
        (&["completed", "completedWithWarnings"][..], "completedWithWarnings"),
        (&["completedWithWarnings", "completedWithErrors", "completed"][..], "completedWithErrors"),
        (&["completedWithErrors", "failed", "completedWithWarnings", "completed"][..], "failed"),
        (&["failed", "running"][..], "running"),
    ] {
        let group = app.group(expected).await;
        for status in members {
            let run = app.run_of(&flow, json!({"status": status})).await;
            app.add_member(&group, &id(&run)).await;
        }
        assert_eq!(app.run(&group).await["status"], expected, "{members:?}");
    }
}

#[tokio::test]
async fn patching_derived_values_of_a_group_with_members_is_409() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let group = app.group("g").await;
    let run = app.run_of(&flow, json!({})).await;
    app.add_member(&group, &id(&run)).await;
    let before = app.run(&group).await;
    for (body, target) in [
        (json!({"status": "completed"}), "status"),
        (json!({"startDateTime": "2024-01-01T00:00:00Z"}), "startDateTime"),
        (json!({"endDateTime": "2999-01-01T00:00:00Z"}), "endDateTime"),
    ] {
        app.patch(&group_path(&group), body).await.assert_bad(409, "derivedProperty", target);
    }
    assert_eq!(app.run(&group).await, before);
    // Its name is its own.
    let r = app.patch(&group_path(&group), json!({"displayName": "renamed"})).await;
    r.assert_status(200);
    assert_eq!(r.json()["displayName"], "renamed");
}

#[tokio::test]
async fn a_group_without_members_is_patched_like_any_run() {
    let app = TestApp::spawn().await;
    let group = app.group_with(json!({"displayName": "g", "startDateTime": "2024-01-01T00:00:00Z"})).await;
    let r = app.patch(&group_path(&id(&group)), json!({"startDateTime": "2024-01-01T01:00:00Z"})).await;
    r.assert_status(200);
    let r = app.patch(&group_path(&id(&group)), json!({"status": "completed", "endDateTime": "2024-01-01T02:00:00Z"})).await;
    r.assert_status(200);
    let g = app.run(&id(&group)).await;
    assert_eq!(
        (g["status"].clone(), g["startDateTime"].clone(), g["endDateTime"].clone()),
        (json!("completed"), json!("2024-01-01T01:00:00Z"), json!("2024-01-01T02:00:00Z"))
    );
    // ...and closed like any finished run.
    app.patch(&group_path(&id(&group)), json!({"status": "running"})).await.assert_bad(409, "invalidStatusTransition", "status");
}

#[tokio::test]
async fn a_groups_statistics_carry_member_runs_beside_the_clients_members() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let group = app.group_with(json!({"displayName": "g", "statistics": {"batch": 7}})).await;
    let run = app.run_of(&flow, json!({"status": "completed"})).await;
    app.add_member(&id(&group), &id(&run)).await;
    assert_eq!(
        app.run(&id(&group)).await["statistics"],
        json!({"@odata.type": odata_type("runStatistics"), "batch": 7, "memberRuns": counts(1, 0, 0, 1, 0, 0)})
    );
}

#[tokio::test]
async fn a_client_may_not_set_member_runs_on_a_group() {
    let app = TestApp::spawn().await;
    let r = app.post("/beta/industryData/runGroups", json!({"displayName": "g", "statistics": {"memberRuns": {"total": 9}}})).await;
    r.assert_bad(400, "readOnlyProperty", "statistics/memberRuns");
    let r = app
        .post(
            "/beta/industryData/runs",
            json!({"@odata.type": odata_type("runGroup"), "displayName": "g", "statistics": {"memberRuns": 1}}),
        )
        .await;
    r.assert_bad(400, "readOnlyProperty", "statistics/memberRuns");
    let group = app.group("g").await;
    let before = app.run(&group).await;
    app.patch(&group_path(&group), json!({"statistics": {"memberRuns": {"total": 9}}})).await.assert_bad(
        400,
        "readOnlyProperty",
        "statistics/memberRuns",
    );
    assert_eq!(app.run(&group).await, before);
    assert_eq!(app.all_runs().await.len(), 1);
}

// ---- processes ------------------------------------------------------------------------------

#[tokio::test]
async fn a_runs_process_must_fit_its_kind() {
    let app = TestApp::spawn().await;
    let inf = app.incoming_flow("in").await;
    let outf = app.outgoing_flow("out").await;
    let in_url = app.beta(&format!("industryData/incomingFlows/{inf}"));
    let out_url = app.beta(&format!("industryData/outgoingFlows/{outf}"));
    for (kind, wrong) in [("incomingFlowRun", &out_url), ("outgoingFlowRun", &in_url)] {
        let r = app
            .post("/beta/industryData/runs", json!({"@odata.type": odata_type(kind), "displayName": "r", "process@odata.bind": wrong}))
            .await;
        r.assert_bad(400, "invalidBinding", "process@odata.bind");
    }
    let r = app
        .post("/beta/industryData/runs", json!({"@odata.type": odata_type("runGroup"), "displayName": "g", "process@odata.bind": in_url}))
        .await;
    r.assert_bad(400, "invalidBinding", "process@odata.bind");
    assert!(app.all_runs().await.is_empty());

    // Re-pointing through $ref follows the same rule.
    let run = app.run_of(&inf, json!({})).await;
    let r = app.send(reqwest::Method::PUT, &format!("{}/process/$ref", run_path(&run)), Some(&json!({"@odata.id": out_url})), &[]).await;
    r.assert_bad(400, "invalidBinding", "@odata.id");
    assert_eq!(app.get(&format!("{}/process", run_path(&run))).await.json()["id"], inf.as_str());
}

#[tokio::test]
async fn a_process_that_has_runs_cannot_be_deleted() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let run = app.run_of(&flow, json!({})).await;
    let path = format!("/beta/industryData/incomingFlows/{flow}");
    app.delete(&path).await.assert_target(409, "processHasRuns", "runs");
    app.get(&path).await.assert_status(200);
    app.delete(&run_path(&run)).await.assert_status(204);
    app.delete(&path).await.assert_status(204);
}

#[tokio::test]
async fn deleting_a_group_keeps_its_members() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let group = app.group("g").await;
    let a = app.run_of(&flow, json!({"displayName": "a"})).await;
    let b = app.run_of(&flow, json!({"displayName": "b"})).await;
    app.add_member(&group, &id(&a)).await;
    app.add_member(&group, &id(&b)).await;
    app.delete(&group_path(&group)).await.assert_status(204);
    app.get(&group_path(&group)).await.assert_error(404, "itemNotFound");
    let mut left: Vec<String> = app.all_runs().await.iter().map(id).collect();
    left.sort();
    let mut expected = vec![id(&a), id(&b)];
    expected.sort();
    assert_eq!(left, expected);
    // They belong to no group now: another group can take them.
    let other = app.group("h").await;
    app.add_member(&other, &id(&a)).await;
}

#[tokio::test]
async fn a_run_in_another_group_cannot_be_added() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let first = app.group("first").await;
    let second = app.group("second").await;
    let run = app.run_of(&flow, json!({})).await;
    app.add_member(&first, &id(&run)).await;
    let r = app
        .post(&format!("{}/runs/$ref", group_path(&second)), json!({"@odata.id": app.beta(&format!("industryData/runs/{}", id(&run)))}))
        .await;
    r.assert_target(409, "runAlreadyInGroup", "@odata.id");
    let members = app.get(&format!("{}/runs", group_path(&second))).await.json();
    assert!(members["value"].as_array().unwrap().is_empty());
    assert_eq!(app.run(&second).await["statistics"]["memberRuns"]["total"], 0);
    // Adding it again to its own group is a no-op.
    app.add_member(&first, &id(&run)).await;
    assert_eq!(app.run(&first).await["statistics"]["memberRuns"]["total"], 1);
}

#[tokio::test]
async fn a_group_cannot_be_a_member_of_a_group() {
    let app = TestApp::spawn().await;
    let outer = app.group("outer").await;
    let inner = app.group("inner").await;
    let r = app
        .post(&format!("{}/runs/$ref", group_path(&outer)), json!({"@odata.id": app.beta(&format!("industryData/runGroups/{inner}"))}))
        .await;
    r.assert_target(400, "invalidBinding", "@odata.id");
    let r =
        app.post(&format!("{}/runs", group_path(&outer)), json!({"@odata.type": odata_type("runGroup"), "displayName": "nested"})).await;
    r.assert_target(400, "invalidType", "@odata.type");
    assert_eq!(app.all_runs().await.len(), 2);
}
