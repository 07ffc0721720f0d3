//! The permission table of the README, one test per row: the permissions of the row
//! allow the request; a token with every other permission is refused with 403 `accessDenied`, and
//! the refusal changes nothing.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::TestApp;
use crate::tokens::{ALL, FLOW_READ, FLOW_RW, RUN_READ, RUN_RW, RUN_START, secured, token};

const TENANT: &str = "perm-tenant";

struct Seed {
    server: TestApp,
    admin: TestApp,
    flow: String,
    empty_flow: String,
    other_flow: String,
    run: String,
    group: String,
    member: String,
    loose: String,
}

impl Seed {
    async fn new() -> Self {
        let server = secured().await;
        let admin = server.as_caller(&token(TENANT, &ALL));
        let flow = admin.incoming_flow("flow").await;
        let empty_flow = admin.incoming_flow("empty").await;
        let other_flow = admin.incoming_flow("other").await;
        let run = admin.run_of(&flow, json!({"displayName": "run"})).await["id"].as_str().unwrap().to_owned();
        let group = admin.group("group").await;
        let member = admin.run_of(&flow, json!({"displayName": "member", "status": "failed"})).await["id"].as_str().unwrap().to_owned();
        admin.add_member(&group, &member).await;
        let loose = admin.run_of(&flow, json!({"displayName": "loose"})).await["id"].as_str().unwrap().to_owned();
        Self { server, admin, flow, empty_flow, other_flow, run, group, member, loose }
    }

    fn caller(&self, scopes: &[&str]) -> TestApp {
        self.server.as_caller(&token(TENANT, scopes))
    }
}

type PathOf = fn(&Seed) -> String;
type BodyOf = fn(&Seed) -> Option<Value>;

/// One row: `allowed` are the permissions any one of which allows it (with `also`, which the row
/// needs besides); every other permission is refused.
async fn row(method: Method, path: PathOf, body: BodyOf, allowed: &[&str], also: &[&str], status: u16) {
    let seed = Seed::new().await;
    let before = seed.admin.snapshot_state().await;
    let others: Vec<&str> = ALL.iter().copied().filter(|p| !allowed.contains(p)).collect();
    if !allowed.is_empty() {
        let refused = seed.caller(&others).send(method.clone(), &path(&seed), body(&seed).as_ref(), &[]).await;
        let error = refused.assert_error(403, "accessDenied");
        for p in allowed {
            assert!(error["message"].as_str().unwrap().contains(p), "{}", refused.text);
        }
    }
    // No token, or a token without permissions: 401, 403.
    seed.server.send(method.clone(), &path(&seed), body(&seed).as_ref(), &[]).await.assert_error(401, "missingToken");
    if !allowed.is_empty() {
        seed.caller(&[]).send(method.clone(), &path(&seed), body(&seed).as_ref(), &[]).await.assert_error(403, "accessDenied");
    }
    assert_eq!(seed.admin.snapshot_state().await, before, "a refused request changed something");
    // Each allowing permission on its own (plus what the row also needs) is enough, as a
    // delegated scope and as an application role.
    let singles: Vec<Vec<&str>> = if allowed.is_empty() { vec![vec![]] } else { allowed.iter().map(|p| vec![*p]).collect() };
    for (i, single) in singles.iter().enumerate() {
        let mut grant = single.clone();
        grant.extend_from_slice(also);
        let caller = if i % 2 == 0 { seed.caller(&grant) } else { seed.server.as_caller(&crate::tokens::app_token(TENANT, &grant)) };
        let r = caller.send(method.clone(), &path(&seed), body(&seed).as_ref(), &[]).await;
        r.assert_status(status);
        if method != Method::GET && status < 300 {
            break; // a write succeeded once; the same write again may rightly be refused by the data
        }
    }
}

fn none(_: &Seed) -> Option<Value> {
    None
}

macro_rules! rows {
    ($($name:ident: $method:ident $path:expr, $body:expr, [$($allowed:expr),*], [$($also:expr),*] => $status:expr;)*) => {
        $(
            #[tokio::test]
            async fn $name() {
                row(Method::$method, $path, $body, &[$($allowed),*], &[$($also),*], $status).await;
            }
        )*
    };
}

rows! {
    service_document_get: GET |_| "/beta/".into(), none, [], [] => 200;
    metadata_get: GET |_| "/beta/$metadata".into(), none, [], [] => 200;
    flows_list: GET |_| "/beta/industryData/incomingFlows".into(), none, [FLOW_READ, FLOW_RW], [] => 200;
    flows_list_outgoing: GET |_| "/beta/industryData/outgoingFlows".into(), none, [FLOW_READ, FLOW_RW], [] => 200;
    flows_count: GET |_| "/beta/industryData/incomingFlows/$count".into(), none, [FLOW_READ, FLOW_RW], [] => 200;
    flows_create: POST |_| "/beta/industryData/outgoingFlows".into(), |_| Some(json!({"displayName": "new", "readinessStatus": "ready"})), [FLOW_RW], [] => 201;
    flow_get: GET |s| format!("/beta/industryData/incomingFlows/{}", s.flow), none, [FLOW_READ, FLOW_RW], [] => 200;
    flow_patch: PATCH |s| format!("/beta/industryData/incomingFlows/{}", s.flow), |_| Some(json!({"displayName": "renamed"})), [FLOW_RW], [] => 200;
    flow_delete: DELETE |s| format!("/beta/industryData/incomingFlows/{}", s.empty_flow), none, [FLOW_RW], [] => 204;
    run_now: POST |s| format!("/beta/industryData/incomingFlows/{}/runNow", s.flow), none, [RUN_START, RUN_RW], [] => 202;
    runs_list: GET |_| "/beta/industryData/runs".into(), none, [RUN_READ, RUN_RW], [] => 200;
    runs_list_of_flow: GET |s| format!("/beta/industryData/incomingFlows/{}/runs", s.flow), none, [RUN_READ, RUN_RW], [] => 200;
    run_groups_list: GET |_| "/beta/industryData/runGroups".into(), none, [RUN_READ, RUN_RW], [] => 200;
    group_members_list: GET |s| format!("/beta/industryData/runGroups/{}/runs", s.group), none, [RUN_READ, RUN_RW], [] => 200;
    runs_count: GET |_| "/beta/industryData/runs/$count".into(), none, [RUN_READ, RUN_RW], [] => 200;
    runs_create: POST |s| format!("/beta/industryData/incomingFlows/{}/runs", s.flow), |_| Some(json!({"displayName": "new"})), [RUN_RW], [] => 201;
    run_groups_create: POST |_| "/beta/industryData/runGroups".into(), |_| Some(json!({"displayName": "new group"})), [RUN_RW], [] => 201;
    run_get: GET |s| format!("/beta/industryData/runs/{}", s.run), none, [RUN_READ, RUN_RW], [] => 200;
    run_patch: PATCH |s| format!("/beta/industryData/runs/{}", s.run), |_| Some(json!({"displayName": "renamed"})), [RUN_RW], [] => 200;
    run_delete: DELETE |s| format!("/beta/industryData/runs/{}", s.run), none, [RUN_RW], [] => 204;
    run_group_delete: DELETE |s| format!("/beta/industryData/runGroups/{}", s.group), none, [RUN_RW], [] => 204;
    run_process_get: GET |s| format!("/beta/industryData/runs/{}/process", s.run), none, [RUN_READ, RUN_RW], [FLOW_READ] => 200;
    run_process_get_needs_flow_read: GET |s| format!("/beta/industryData/runs/{}/process", s.run), none, [FLOW_READ, FLOW_RW], [RUN_READ] => 200;
    run_process_ref_get: GET |s| format!("/beta/industryData/runs/{}/process/$ref", s.run), none, [RUN_READ, RUN_RW], [] => 200;
    run_process_ref_put: PUT |s| format!("/beta/industryData/runs/{}/process/$ref", s.run), |s| Some(json!({"@odata.id": s.admin.beta(&format!("industryData/incomingFlows/{}", s.other_flow))})), [RUN_RW], [] => 204;
    run_process_ref_post: POST |s| format!("/beta/industryData/incomingFlows/{}/runs/{}/process/$ref", s.flow, s.run), |s| Some(json!({"@odata.id": s.admin.beta(&format!("industryData/incomingFlows/{}", s.other_flow))})), [RUN_RW], [] => 204;
    group_member_add: POST |s| format!("/beta/industryData/runGroups/{}/runs/$ref", s.group), |s| Some(json!({"@odata.id": s.admin.beta(&format!("industryData/runs/{}", s.loose))})), [RUN_RW], [] => 204;
    group_member_remove: DELETE |s| format!("/beta/industryData/runGroups/{}/runs/{}/$ref", s.group, s.member), none, [RUN_RW], [] => 204;
    errors_and_warnings_file: GET |s| format!("/beta/industryData/runGroups/{}/getErrorsAndWarningsFile()", s.group), none, [RUN_READ, RUN_RW], [] => 200;
    expand_process_needs_flow_read: GET |_| "/beta/industryData/runs?$expand=process".into(), none, [FLOW_READ, FLOW_RW], [RUN_READ] => 200;
    external_runs_list: GET |_| "/beta/external/industryData/runs".into(), none, [RUN_READ, RUN_RW], [] => 200;
    external_runs_count: GET |_| "/beta/external/industryData/runs/$count".into(), none, [RUN_READ, RUN_RW], [] => 200;
    external_run_get: GET |s| format!("/beta/external/industryData/runs/{}", s.group), none, [RUN_READ, RUN_RW], [] => 200;
    external_activities_list: GET |s| format!("/beta/external/industryData/runs/{}/activities", s.group), none, [RUN_READ, RUN_RW], [] => 200;
    external_activity_get: GET |s| format!("/beta/external/industryData/runs/{}/activities/{}", s.group, s.member), none, [RUN_READ, RUN_RW], [] => 200;
    external_activity_flow_get: GET |s| format!("/beta/external/industryData/runs/{}/activities/{}/activity", s.group, s.member), none, [RUN_READ, RUN_RW], [FLOW_READ] => 200;
    external_get_statistics: GET |s| format!("/beta/external/industryData/runs/{}/microsoft.graph.industryData.getStatistics()", s.group), none, [RUN_READ, RUN_RW], [] => 200;
    external_start: POST |_| "/beta/external/industryData/runs/microsoft.graph.industryData.start".into(), none, [RUN_START, RUN_RW], [] => 202;
    expand_runs_needs_run_read: GET |s| format!("/beta/industryData/incomingFlows/{}?%24expand=runs(%24select%3Did)", s.flow), none, [RUN_READ, RUN_RW], [FLOW_READ] => 200;
}
