//! Every path and method of the URL space answers with the status codes given there.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{NS, TestApp, odata_type};

const FLOWS: [&str; 2] = ["incomingFlows", "outgoingFlows"];

fn ids(values: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = values.iter().map(|v| v["id"].as_str().unwrap().to_owned()).collect();
    out.sort();
    out
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

// ---- flows ----------------------------------------------------------------------------------

#[tokio::test]
async fn flows_create_answers_201_with_location_of_the_new_flow() {
    let app = TestApp::spawn().await;
    for set in FLOWS {
        let r = app.post(&format!("/beta/industryData/{set}"), json!({"displayName": "f", "readinessStatus": "ready"})).await;
        r.assert_status(201);
        let id = r.json()["id"].as_str().unwrap().to_owned();
        assert_eq!(r.header("location").unwrap(), app.beta(&format!("industryData/{set}/{id}")));
        app.get(&r.header("location").unwrap()).await.assert_status(200);
    }
}

#[tokio::test]
async fn flows_list_answers_200_with_every_flow_of_that_kind() {
    let app = TestApp::spawn().await;
    let a = app.incoming_flow("a").await;
    let b = app.incoming_flow("b").await;
    let c = app.outgoing_flow("c").await;
    let r = app.get("/beta/industryData/incomingFlows").await;
    r.assert_status(200);
    assert_eq!(ids(r.json()["value"].as_array().unwrap()), sorted(vec![a, b]));
    let r = app.get("/beta/industryData/outgoingFlows").await;
    r.assert_status(200);
    assert_eq!(ids(r.json()["value"].as_array().unwrap()), vec![c]);
}

#[tokio::test]
async fn flow_get_patch_delete_answer_200_200_204() {
    let app = TestApp::spawn().await;
    for set in FLOWS {
        let r = app.post(&format!("/beta/industryData/{set}"), json!({"displayName": "f", "readinessStatus": "notReady"})).await;
        let id = r.json()["id"].as_str().unwrap().to_owned();
        let path = format!("/beta/industryData/{set}/{id}");
        let r = app.get(&path).await;
        r.assert_status(200);
        assert_eq!(r.json()["displayName"], "f");
        let r = app.patch(&path, json!({"displayName": "g", "readinessStatus": "ready"})).await;
        r.assert_status(200);
        assert_eq!((r.json()["displayName"].clone(), r.json()["readinessStatus"].clone()), (json!("g"), json!("ready")));
        assert_eq!(app.get(&path).await.json()["displayName"], "g");
        app.delete(&path).await.assert_status(204);
        app.get(&path).await.assert_error(404, "itemNotFound");
    }
}

#[tokio::test]
async fn a_flow_is_not_found_through_the_other_flow_set() {
    let app = TestApp::spawn().await;
    let incoming = app.incoming_flow("in").await;
    app.get(&format!("/beta/industryData/outgoingFlows/{incoming}")).await.assert_error(404, "itemNotFound");
}

// ---- a flow's runs (the seed's paths) -------------------------------------------------------

#[tokio::test]
async fn flow_runs_create_and_list_answer_201_and_200() {
    let app = TestApp::spawn().await;
    for (set, kind) in [("incomingFlows", "incomingFlowRun"), ("outgoingFlows", "outgoingFlowRun")] {
        let flow =
            app.post(&format!("/beta/industryData/{set}"), json!({"displayName": "f", "readinessStatus": "ready"})).await.json()["id"]
                .as_str()
                .unwrap()
                .to_owned();
        let runs = format!("/beta/industryData/{set}/{flow}/runs");
        let r = app.post(&runs, json!({"displayName": "r1"})).await;
        r.assert_status(201);
        let run = r.json();
        assert_eq!(run["@odata.type"], odata_type(kind));
        let id = run["id"].as_str().unwrap();
        assert_eq!(r.header("location").unwrap(), app.beta(&format!("industryData/{set}/{flow}/runs/{id}")));
        // `@odata.type` is optional here, and accepted when it names the collection's kind.
        let r = app.post(&runs, json!({"displayName": "r2", "@odata.type": odata_type(kind)})).await;
        r.assert_status(201);
        let second = r.json()["id"].as_str().unwrap().to_owned();
        let r = app.get(&runs).await;
        r.assert_status(200);
        assert_eq!(ids(r.json()["value"].as_array().unwrap()), sorted(vec![id.to_owned(), second]));
    }
}

#[tokio::test]
async fn flow_run_get_patch_delete_answer_200_200_204() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let run = app.run_of(&flow, json!({"displayName": "r"})).await;
    let path = format!("/beta/industryData/incomingFlows/{flow}/runs/{}", run["id"].as_str().unwrap());
    let r = app.get(&path).await;
    r.assert_status(200);
    assert_eq!(r.json()["id"], run["id"]);
    let r = app.patch(&path, json!({"status": "completed"})).await;
    r.assert_status(200);
    assert_eq!(r.json()["status"], "completed");
    app.delete(&path).await.assert_status(204);
    app.get(&path).await.assert_error(404, "itemNotFound");
    assert!(app.all_runs().await.is_empty());
}

#[tokio::test]
async fn a_run_is_not_found_under_a_flow_that_did_not_cause_it() {
    let app = TestApp::spawn().await;
    let a = app.incoming_flow("a").await;
    let b = app.incoming_flow("b").await;
    let run = app.run_of(&a, json!({})).await;
    let id = run["id"].as_str().unwrap();
    app.get(&format!("/beta/industryData/incomingFlows/{b}/runs/{id}")).await.assert_error(404, "itemNotFound");
    app.patch(&format!("/beta/industryData/incomingFlows/{b}/runs/{id}"), json!({"displayName": "x"}))
        .await
        .assert_error(404, "itemNotFound");
    app.delete(&format!("/beta/industryData/incomingFlows/{b}/runs/{id}")).await.assert_error(404, "itemNotFound");
    assert_eq!(app.run(id).await["displayName"], "run");
}

#[tokio::test]
async fn the_runs_of_a_missing_flow_are_not_found() {
    let app = TestApp::spawn().await;
    let missing = uuid::Uuid::new_v4();
    app.get(&format!("/beta/industryData/incomingFlows/{missing}/runs")).await.assert_error(404, "itemNotFound");
    app.post(&format!("/beta/industryData/incomingFlows/{missing}/runs"), json!({"displayName": "r"}))
        .await
        .assert_error(404, "itemNotFound");
}

// ---- process navigation and its $ref ---------------------------------------------------------

#[tokio::test]
async fn run_process_navigation_answers_the_flow() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("source").await;
    let run = app.run_of(&flow, json!({})).await;
    let id = run["id"].as_str().unwrap();
    for path in [format!("/beta/industryData/incomingFlows/{flow}/runs/{id}/process"), format!("/beta/industryData/runs/{id}/process")] {
        let r = app.get(&path).await;
        r.assert_status(200);
        let body = r.json();
        assert_eq!(body["id"], flow.as_str());
        assert_eq!(body["@odata.type"], odata_type("incomingFlow"));
        assert_eq!(body["displayName"], "source");
        assert_eq!(body["@odata.context"], app.beta("$metadata#industryData/incomingFlows/$entity"));
    }
}

#[tokio::test]
async fn process_ref_get_answers_the_absolute_url_of_the_process() {
    let app = TestApp::spawn().await;
    let flow = app.outgoing_flow("out").await;
    let run = app.outgoing_run_of(&flow, json!({})).await;
    let id = run["id"].as_str().unwrap();
    for path in
        [format!("/beta/industryData/outgoingFlows/{flow}/runs/{id}/process/$ref"), format!("/beta/industryData/runs/{id}/process/$ref")]
    {
        let r = app.get(&path).await;
        r.assert_status(200);
        assert_eq!(r.json()["@odata.id"], app.beta(&format!("industryData/outgoingFlows/{flow}")));
    }
}

#[tokio::test]
async fn process_ref_put_and_post_re_point_the_run_with_204() {
    let app = TestApp::spawn().await;
    let a = app.incoming_flow("a").await;
    let b = app.incoming_flow("b").await;
    let c = app.incoming_flow("c").await;
    let run = app.run_of(&a, json!({})).await;
    let id = run["id"].as_str().unwrap();
    let r = app
        .send(
            Method::PUT,
            &format!("/beta/industryData/incomingFlows/{a}/runs/{id}/process/$ref"),
            Some(&json!({"@odata.id": app.beta(&format!("industryData/incomingFlows/{b}"))})),
            &[],
        )
        .await;
    r.assert_status(204);
    assert_eq!(r.text, "");
    assert_eq!(app.get(&format!("/beta/industryData/runs/{id}/process")).await.json()["id"], b.as_str());
    // The run is now one of b's runs, and no longer one of a's.
    app.get(&format!("/beta/industryData/incomingFlows/{b}/runs/{id}")).await.assert_status(200);
    app.get(&format!("/beta/industryData/incomingFlows/{a}/runs/{id}")).await.assert_error(404, "itemNotFound");
    // POST works too, at the un-nested path, with a relative URL.
    let r = app
        .post(&format!("/beta/industryData/runs/{id}/process/$ref"), json!({"@odata.id": format!("/beta/industryData/incomingFlows/{c}")}))
        .await;
    r.assert_status(204);
    assert_eq!(app.get(&format!("/beta/industryData/runs/{id}/process")).await.json()["id"], c.as_str());
}

#[tokio::test]
async fn a_run_groups_process_is_null_and_answers_204() {
    let app = TestApp::spawn().await;
    let group = app.group("g").await;
    let r = app.get(&format!("/beta/industryData/runs/{group}/process")).await;
    r.assert_status(204);
    assert_eq!(r.text, "");
    app.get(&format!("/beta/industryData/runGroups/{group}/process")).await.assert_status(204);
    let r = app.get(&format!("/beta/industryData/runs/{group}/process/$ref")).await;
    r.assert_status(204);
    assert_eq!(r.text, "");
}

// ---- runNow ---------------------------------------------------------------------------------

#[tokio::test]
async fn run_now_answers_202_with_the_location_of_a_new_running_run() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("nightly roster").await;
    let r = app.post(&format!("/beta/industryData/incomingFlows/{flow}/runNow"), json!({})).await;
    r.assert_status(202);
    let location = r.header("location").expect("Location");
    assert!(location.starts_with(&app.beta(&format!("industryData/incomingFlows/{flow}/runs/"))), "{location}");
    let run = app.get(&location).await;
    run.assert_status(200);
    let run = run.json();
    assert_eq!(run["@odata.type"], odata_type("incomingFlowRun"));
    assert_eq!(run["status"], "running");
    assert_eq!(run["endDateTime"], Value::Null);
    assert_eq!(run["displayName"], "nightly roster");
    assert_eq!(app.all_runs().await.len(), 1);
}

#[tokio::test]
async fn run_now_accepts_an_empty_body_and_the_namespace_qualified_name() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let r = app.raw(Method::POST, &format!("/beta/industryData/incomingFlows/{flow}/runNow"), None, Vec::new()).await;
    r.assert_status(202);
    let r = app.raw(Method::POST, &format!("/beta/industryData/incomingFlows/{flow}/{NS}.runNow"), None, Vec::new()).await;
    r.assert_status(202);
    assert_eq!(app.all_runs().await.len(), 2);
}

#[tokio::test]
async fn run_now_on_a_flow_that_is_not_ready_is_409() {
    let app = TestApp::spawn().await;
    for readiness in ["notReady", "failed", "disabled", "expired"] {
        let flow = app.incoming_flow_with(json!({"displayName": "f", "readinessStatus": readiness})).await;
        let r = app.post(&format!("/beta/industryData/incomingFlows/{}/runNow", flow["id"].as_str().unwrap()), json!({})).await;
        r.assert_bad(409, "flowNotReady", "readinessStatus");
    }
    assert!(app.all_runs().await.is_empty());
}

#[tokio::test]
async fn run_now_outside_the_recurrence_window_is_409() {
    let app = TestApp::spawn().await;
    let not_yet = app
        .incoming_flow_with(json!({"displayName": "f", "readinessStatus": "ready", "recurrenceEffectiveDateTime": "2999-01-01T00:00:00Z"}))
        .await;
    let r = app.post(&format!("/beta/industryData/incomingFlows/{}/runNow", not_yet["id"].as_str().unwrap()), json!({})).await;
    r.assert_target(409, "outsideRecurrenceWindow", "recurrenceEffectiveDateTime");
    let expired = app
        .incoming_flow_with(json!({"displayName": "f", "readinessStatus": "ready", "recurrenceExpirationDateTime": "2001-01-01T00:00:00Z"}))
        .await;
    let r = app.post(&format!("/beta/industryData/incomingFlows/{}/runNow", expired["id"].as_str().unwrap()), json!({})).await;
    r.assert_target(409, "outsideRecurrenceWindow", "recurrenceExpirationDateTime");
    assert!(app.all_runs().await.is_empty());
}

#[tokio::test]
async fn run_now_inside_the_recurrence_window_is_202() {
    let app = TestApp::spawn().await;
    let flow = app
        .incoming_flow_with(json!({
            "displayName": "f", "readinessStatus": "ready",
            "recurrenceEffectiveDateTime": "2001-01-01T00:00:00Z", "recurrenceExpirationDateTime": "2999-01-01T00:00:00Z"
        }))
        .await;
    let r = app.post(&format!("/beta/industryData/incomingFlows/{}/runNow", flow["id"].as_str().unwrap()), json!({})).await;
    r.assert_status(202);
}

#[tokio::test]
async fn run_now_on_a_missing_flow_is_404_and_outgoing_flows_have_no_run_now() {
    let app = TestApp::spawn().await;
    let missing = uuid::Uuid::new_v4();
    app.post(&format!("/beta/industryData/incomingFlows/{missing}/runNow"), json!({})).await.assert_error(404, "itemNotFound");
    let out = app.outgoing_flow("o").await;
    app.post(&format!("/beta/industryData/outgoingFlows/{out}/runNow"), json!({})).await.assert_error(404, "itemNotFound");
}

// ---- /industryData/runs and cast segments ---------------------------------------------------

/// One run of each kind; returns (incomingFlowRun, outgoingFlowRun, runGroup) ids.
async fn one_of_each(app: &TestApp) -> (String, String, String) {
    let inf = app.incoming_flow("in").await;
    let outf = app.outgoing_flow("out").await;
    let a = app.run_of(&inf, json!({})).await["id"].as_str().unwrap().to_owned();
    let b = app.outgoing_run_of(&outf, json!({})).await["id"].as_str().unwrap().to_owned();
    let g = app.group("g").await;
    (a, b, g)
}

#[tokio::test]
async fn industry_data_runs_lists_runs_of_every_kind() {
    let app = TestApp::spawn().await;
    let (a, b, g) = one_of_each(&app).await;
    let r = app.get("/beta/industryData/runs").await;
    r.assert_status(200);
    let value = r.json()["value"].as_array().unwrap().clone();
    assert_eq!(ids(&value), sorted(vec![a.clone(), b.clone(), g.clone()]));
    for (id, kind) in [(&a, "incomingFlowRun"), (&b, "outgoingFlowRun"), (&g, "runGroup")] {
        let item = value.iter().find(|v| v["id"] == id.as_str()).unwrap();
        assert_eq!(item["@odata.type"], odata_type(kind));
    }
}

#[tokio::test]
async fn industry_data_runs_get_patch_delete_any_kind() {
    let app = TestApp::spawn().await;
    let (a, b, g) = one_of_each(&app).await;
    for id in [&a, &b, &g] {
        let path = format!("/beta/industryData/runs/{id}");
        app.get(&path).await.assert_status(200);
        let r = app.patch(&path, json!({"displayName": "renamed"})).await;
        r.assert_status(200);
        assert_eq!(r.json()["displayName"], "renamed");
        app.delete(&path).await.assert_status(204);
        app.get(&path).await.assert_error(404, "itemNotFound");
    }
}

#[tokio::test]
async fn cast_segments_list_only_runs_of_that_kind() {
    let app = TestApp::spawn().await;
    let (a, b, g) = one_of_each(&app).await;
    for (kind, id) in [("incomingFlowRun", &a), ("outgoingFlowRun", &b), ("runGroup", &g)] {
        let r = app.get(&format!("/beta/industryData/runs/{NS}.{kind}")).await;
        r.assert_status(200);
        assert_eq!(ids(r.json()["value"].as_array().unwrap()), vec![id.clone()], "{kind}");
    }
}

#[tokio::test]
async fn cast_segment_after_an_id_answers_only_a_run_of_that_kind() {
    let app = TestApp::spawn().await;
    let (a, b, g) = one_of_each(&app).await;
    for (kind, id) in [("incomingFlowRun", &a), ("outgoingFlowRun", &b), ("runGroup", &g)] {
        for (other, other_id) in [("incomingFlowRun", &a), ("outgoingFlowRun", &b), ("runGroup", &g)] {
            let r = app.get(&format!("/beta/industryData/runs/{other_id}/{NS}.{kind}")).await;
            if kind == other {
                r.assert_status(200);
                assert_eq!(r.json()["id"], id.as_str());
            } else {
                r.assert_error(404, "itemNotFound");
            }
            // The cast before the id narrows the same way.
            let r = app.get(&format!("/beta/industryData/runs/{NS}.{kind}/{other_id}")).await;
            if kind == other {
                r.assert_status(200);
            } else {
                r.assert_error(404, "itemNotFound");
            }
        }
    }
}

#[tokio::test]
async fn a_cast_to_an_unknown_type_is_404() {
    let app = TestApp::spawn().await;
    app.get(&format!("/beta/industryData/runs/{NS}.nothing")).await.assert_error(404, "itemNotFound");
}

#[tokio::test]
async fn flow_runs_are_served_at_industry_data_runs_too() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let r = app
        .post(
            "/beta/industryData/runs",
            json!({"@odata.type": odata_type("incomingFlowRun"), "displayName": "r", "process@odata.bind": app.beta(&format!("industryData/incomingFlows/{flow}"))}),
        )
        .await;
    r.assert_status(201);
    let id = r.json()["id"].as_str().unwrap().to_owned();
    assert_eq!(r.header("location").unwrap(), app.beta(&format!("industryData/runs/{id}")));
    let r = app.get(&format!("/beta/industryData/incomingFlows/{flow}/runs")).await;
    assert_eq!(ids(r.json()["value"].as_array().unwrap()), vec![id]);
}

// ---- runGroups ------------------------------------------------------------------------------

#[tokio::test]
async fn run_groups_crud_answers_201_200_200_204() {
    let app = TestApp::spawn().await;
    let r = app.post("/beta/industryData/runGroups", json!({"displayName": "batch"})).await;
    r.assert_status(201);
    let group = r.json();
    assert_eq!(group["@odata.type"], odata_type("runGroup"));
    let id = group["id"].as_str().unwrap();
    let path = format!("/beta/industryData/runGroups/{id}");
    assert_eq!(r.header("location").unwrap(), app.beta(&format!("industryData/runGroups/{id}")));
    let r = app.get("/beta/industryData/runGroups").await;
    r.assert_status(200);
    assert_eq!(ids(r.json()["value"].as_array().unwrap()), vec![id.to_owned()]);
    app.get(&path).await.assert_status(200);
    let r = app.patch(&path, json!({"displayName": "renamed"})).await;
    r.assert_status(200);
    assert_eq!(r.json()["displayName"], "renamed");
    app.delete(&path).await.assert_status(204);
    app.get(&path).await.assert_error(404, "itemNotFound");
}

#[tokio::test]
async fn run_groups_set_holds_only_groups() {
    let app = TestApp::spawn().await;
    let (a, _, g) = one_of_each(&app).await;
    let r = app.get("/beta/industryData/runGroups").await;
    assert_eq!(ids(r.json()["value"].as_array().unwrap()), vec![g]);
    app.get(&format!("/beta/industryData/runGroups/{a}")).await.assert_error(404, "itemNotFound");
}

#[tokio::test]
async fn group_members_ref_add_and_remove_answer_204() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let run = app.run_of(&flow, json!({})).await["id"].as_str().unwrap().to_owned();
    let group = app.group("g").await;
    let r = app
        .post(
            &format!("/beta/industryData/runGroups/{group}/runs/$ref"),
            json!({"@odata.id": app.beta(&format!("industryData/runs/{run}"))}),
        )
        .await;
    r.assert_status(204);
    assert_eq!(r.text, "");
    let members = app.get(&format!("/beta/industryData/runGroups/{group}/runs")).await;
    members.assert_status(200);
    assert_eq!(ids(members.json()["value"].as_array().unwrap()), vec![run.clone()]);
    app.get(&format!("/beta/industryData/runGroups/{group}/runs/{run}")).await.assert_status(200);

    let r = app.delete(&format!("/beta/industryData/runGroups/{group}/runs/{run}/$ref")).await;
    r.assert_status(204);
    let members = app.get(&format!("/beta/industryData/runGroups/{group}/runs")).await;
    assert!(members.json()["value"].as_array().unwrap().is_empty());
    // The run itself is kept.
    app.get(&format!("/beta/industryData/runs/{run}")).await.assert_status(200);
}

#[tokio::test]
async fn removing_a_run_that_is_not_a_member_is_404() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let run = app.run_of(&flow, json!({})).await["id"].as_str().unwrap().to_owned();
    let group = app.group("g").await;
    app.delete(&format!("/beta/industryData/runGroups/{group}/runs/{run}/$ref")).await.assert_error(404, "itemNotFound");
}

#[tokio::test]
async fn group_runs_post_creates_a_member_run() {
    let app = TestApp::spawn().await;
    let flow = app.outgoing_flow("o").await;
    let group = app.group("g").await;
    let r = app
        .post(
            &format!("/beta/industryData/runGroups/{group}/runs"),
            json!({"@odata.type": odata_type("outgoingFlowRun"), "displayName": "member", "process@odata.bind": app.beta(&format!("industryData/outgoingFlows/{flow}"))}),
        )
        .await;
    r.assert_status(201);
    let run = r.json();
    assert_eq!(run["@odata.type"], odata_type("outgoingFlowRun"));
    let id = run["id"].as_str().unwrap();
    assert_eq!(r.header("location").unwrap(), app.beta(&format!("industryData/runGroups/{group}/runs/{id}")));
    let members = app.get(&format!("/beta/industryData/runGroups/{group}/runs")).await;
    assert_eq!(ids(members.json()["value"].as_array().unwrap()), vec![id.to_owned()]);
    assert_eq!(app.get(&format!("/beta/industryData/runs/{id}/process")).await.json()["id"], flow.as_str());
}

#[tokio::test]
async fn group_runs_post_needs_the_type_and_the_process() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let group = app.group("g").await;
    let path = format!("/beta/industryData/runGroups/{group}/runs");
    let bind = app.beta(&format!("industryData/incomingFlows/{flow}"));
    app.post(&path, json!({"displayName": "m", "process@odata.bind": bind})).await.assert_bad(400, "missingType", "@odata.type");
    app.post(&path, json!({"displayName": "m", "@odata.type": odata_type("incomingFlowRun")})).await.assert_bad(
        400,
        "missingProperty",
        "process@odata.bind",
    );
    assert_eq!(app.all_runs().await.len(), 1);
}

// ---- getErrorsAndWarningsFile -----------------------------------------------------------------

const CSV_HEADER: &str = "runId,displayName,status,errorCode,errorMessage\r\n";

#[tokio::test]
async fn errors_and_warnings_file_is_the_exact_csv_of_problem_members() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let group = app.group("g").await;
    let member = |body: Value| {
        let app = &app;
        let flow = flow.clone();
        let group = group.clone();
        async move {
            let run = app.run_of(&flow, body).await["id"].as_str().unwrap().to_owned();
            app.add_member(&group, &run).await;
            run
        }
    };
    let late = member(json!({
        "displayName": "late, \"quoted\"", "status": "failed", "startDateTime": "2024-05-01T12:00:00Z",
        "blockingError": {"code": "sourceUnreachable", "message": "line one\nline two"}
    }))
    .await;
    let early = member(json!({"displayName": "early", "status": "completedWithWarnings", "startDateTime": "2024-05-01T09:00:00Z"})).await;
    let tie_a = member(json!({
        "displayName": "tie a", "status": "completedWithErrors", "startDateTime": "2024-05-01T10:00:00Z",
        "blockingError": {"code": "rowsRejected", "message": "3 rows"}
    }))
    .await;
    let tie_b = member(json!({"displayName": "tie b", "status": "failed", "startDateTime": "2024-05-01T10:00:00Z"})).await;
    // Not in the file: a completed member, a running member, and a failed run outside the group.
    member(json!({"displayName": "fine", "status": "completed", "startDateTime": "2024-05-01T08:00:00Z"})).await;
    member(json!({"displayName": "busy", "startDateTime": "2024-05-01T08:30:00Z"})).await;
    app.run_of(&flow, json!({"displayName": "elsewhere", "status": "failed"})).await;

    let (first_tie, second_tie) = if tie_a < tie_b { (&tie_a, &tie_b) } else { (&tie_b, &tie_a) };
    let line = |id: &str| -> String {
        if id == tie_a { format!("{id},tie a,completedWithErrors,rowsRejected,3 rows\r\n") } else { format!("{id},tie b,failed,,\r\n") }
    };
    let expected = format!(
        "{CSV_HEADER}{early},early,completedWithWarnings,,\r\n{}{}{late},\"late, \"\"quoted\"\"\",failed,sourceUnreachable,\"line one\nline two\"\r\n",
        line(first_tie),
        line(second_tie),
    );
    let r = app.get(&format!("/beta/industryData/runGroups/{group}/getErrorsAndWarningsFile")).await;
    r.assert_status(200);
    assert_eq!(r.header("content-type").as_deref(), Some("application/json;odata.metadata=minimal"));
    assert_eq!(r.json()["value"], expected);
}

#[tokio::test]
async fn errors_and_warnings_file_answers_with_and_without_parentheses_and_namespace() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let group = app.group("g").await;
    let run = app.run_of(&flow, json!({"displayName": "bad", "status": "failed"})).await["id"].as_str().unwrap().to_owned();
    app.add_member(&group, &run).await;
    let expected = json!(format!("{CSV_HEADER}{run},bad,failed,,\r\n"));
    for name in [
        "getErrorsAndWarningsFile".to_owned(),
        "getErrorsAndWarningsFile()".to_owned(),
        format!("{NS}.getErrorsAndWarningsFile"),
        format!("{NS}.getErrorsAndWarningsFile()"),
    ] {
        let r = app.get(&format!("/beta/industryData/runGroups/{group}/{name}")).await;
        r.assert_status(200);
        assert_eq!(r.json()["value"], expected, "{name}");
    }
}

#[tokio::test]
async fn errors_and_warnings_file_of_a_group_without_problems_is_the_header() {
    let app = TestApp::spawn().await;
    let group = app.group("g").await;
    let r = app.get(&format!("/beta/industryData/runGroups/{group}/getErrorsAndWarningsFile()")).await;
    r.assert_status(200);
    assert_eq!(r.json()["value"], CSV_HEADER);
}

#[tokio::test]
async fn errors_and_warnings_file_of_a_missing_group_is_404() {
    let app = TestApp::spawn().await;
    let missing = uuid::Uuid::new_v4();
    app.get(&format!("/beta/industryData/runGroups/{missing}/getErrorsAndWarningsFile()")).await.assert_error(404, "itemNotFound");
    app.send(Method::POST, &format!("/beta/industryData/runGroups/{missing}/getErrorsAndWarningsFile()"), None, &[])
        .await
        .assert_error(405, "methodNotAllowed");
}

// ---- $count ---------------------------------------------------------------------------------

#[tokio::test]
async fn count_answers_the_bare_number_as_text_on_every_collection() {
    let app = TestApp::spawn().await;
    let inf = app.incoming_flow("a").await;
    app.incoming_flow("b").await;
    let outf = app.outgoing_flow("c").await;
    for _ in 0..3 {
        app.run_of(&inf, json!({})).await;
    }
    let out_run = app.outgoing_run_of(&outf, json!({})).await["id"].as_str().unwrap().to_owned();
    let group = app.group("g").await;
    app.group("h").await;
    app.add_member(&group, &out_run).await;
    for (path, expected) in [
        ("/beta/industryData/incomingFlows/$count".to_owned(), "2"),
        ("/beta/industryData/outgoingFlows/$count".to_owned(), "1"),
        (format!("/beta/industryData/incomingFlows/{inf}/runs/$count"), "3"),
        (format!("/beta/industryData/outgoingFlows/{outf}/runs/$count"), "1"),
        ("/beta/industryData/runs/$count".to_owned(), "6"),
        (format!("/beta/industryData/runs/{NS}.incomingFlowRun/$count"), "3"),
        (format!("/beta/industryData/runs/{NS}.outgoingFlowRun/$count"), "1"),
        (format!("/beta/industryData/runs/{NS}.runGroup/$count"), "2"),
        ("/beta/industryData/runGroups/$count".to_owned(), "2"),
        (format!("/beta/industryData/runGroups/{group}/runs/$count"), "1"),
    ] {
        let r = app.get(&path).await;
        r.assert_status(200);
        assert_eq!(r.text, expected, "{path}");
        let ct = r.header("content-type").unwrap();
        assert!(ct.starts_with("text/plain"), "{path}: {ct}");
    }
}

#[tokio::test]
async fn count_on_a_single_entity_is_404() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("a").await;
    app.get(&format!("/beta/industryData/incomingFlows/{flow}/$count")).await.assert_error(404, "itemNotFound");
}
