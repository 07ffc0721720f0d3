//! Tenant isolation. Tenant B, holding every permission, tries to read, list, count,
//! patch, delete, re-point, bind to, add to a group, expand into, runNow and page into tenant A's
//! data. Every attempt must answer exactly as if A's ids did not exist (the same status, the same
//! error code and the same message with the ids swapped — 404, 400 for a dangling reference, or an
//! empty list; never 403), must not mention anything of A's, and A's data must be unchanged.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{NS, Reply, TestApp};
use crate::tokens::{ALL, secured, token};

struct TenantA {
    flow: String,
    out_flow: String,
    run: String,
    out_run: String,
    group: String,
    member: String,
    ids: Vec<String>,
}

async fn seed_a(a: &TestApp) -> TenantA {
    let flow = a.incoming_flow("A flow").await;
    let out_flow = a.outgoing_flow("A out flow").await;
    let mut ids = vec![flow.clone(), out_flow.clone()];
    let mut runs = Vec::new();
    for i in 0..4 {
        let r = a.run_of(&flow, json!({"displayName": format!("A run {i}"), "statistics": {"secret": "A's"}})).await;
        runs.push(r["id"].as_str().unwrap().to_owned());
    }
    let out_run = a.outgoing_run_of(&out_flow, json!({"displayName": "A out run"})).await["id"].as_str().unwrap().to_owned();
    let group = a.group("A group").await;
    let member = a
        .run_of(&flow, json!({"displayName": "A member", "status": "failed", "blockingError": {"code": "A-secret", "message": "A's"}}))
        .await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    a.add_member(&group, &member).await;
    ids.extend(runs.iter().cloned());
    ids.extend([out_run.clone(), group.clone(), member.clone()]);
    TenantA { flow, out_flow, run: runs[0].clone(), out_run, group, member, ids }
}

/// A fresh id that exists nowhere.
fn missing() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The reply's error code and message with `from` replaced by `to` (so that replies about
/// different ids compare equal).
fn shape(reply: &Reply, from: &str, to: &str) -> (u16, Value, String) {
    let text = reply.text.replace(from, to);
    let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let code = body["error"]["innerError"]["code"].clone();
    let message = body["error"]["message"].as_str().unwrap_or("").to_owned();
    let value = if body["error"].is_null() { body.get("value").cloned().unwrap_or(Value::Null) } else { Value::Null };
    (reply.status.as_u16(), code, format!("{message}|{value}"))
}

struct Probe<'a> {
    b: &'a TestApp,
    a_ids: &'a [String],
}

impl Probe<'_> {
    /// Sends the request built with `a_id` and with a missing id in its place: the replies must
    /// be the same, a 404, a 400 or an empty 2xx, and mention nothing of A's.
    async fn same_as_missing(&self, method: Method, a_id: &str, build: impl Fn(&str) -> (String, Option<Value>)) -> Reply {
        let ghost = missing();
        let (path, body) = build(a_id);
        let real = self.b.send(method.clone(), &path, body.as_ref(), &[]).await;
        let (gpath, gbody) = build(&ghost);
        let fake = self.b.send(method.clone(), &gpath, gbody.as_ref(), &[]).await;
        assert_ne!(real.status.as_u16(), 403, "{method} {path}: {}", real.text);
        assert!(!real.status.is_server_error(), "{method} {path}: {}", real.text);
        assert_eq!(
            shape(&real, a_id, "ID"),
            shape(&fake, &ghost, "ID"),
            "{method} {path} differs from a missing id:\n{}\n{}",
            real.text,
            fake.text
        );
        assert!(
            matches!(real.status.as_u16(), 400 | 404)
                || real.status.as_u16() == 200 && real.json()["value"].as_array().is_some_and(Vec::is_empty)
                || real.text.trim() == "0",
            "{method} {path}: {} {}",
            real.status,
            real.text
        );
        self.no_leak(&real);
        real
    }

    #[track_caller]
    fn no_leak(&self, reply: &Reply) {
        for id in self.a_ids {
            // An id that B itself sent may be echoed in an error message; nothing else of A's.
            if reply.status.is_success() {
                assert!(!reply.text.contains(id.as_str()), "leaked {id}: {}", reply.text);
            }
        }
        assert!(!reply.text.contains("A's") && !reply.text.contains("A-secret") && !reply.text.contains("A run"), "leaked: {}", reply.text);
    }

    async fn get_ok(&self, path: &str) -> Value {
        let r = self.b.get(path).await;
        r.assert_status(200);
        self.no_leak(&r);
        r.json()
    }
}

#[tokio::test]
async fn tenant_b_can_neither_see_nor_touch_tenant_a() {
    let server = secured().await;
    let a = server.as_caller(&token("tenant-a", &ALL));
    let b = server.as_caller(&token("tenant-b", &ALL));
    let ta = seed_a(&a).await;
    // B has data of its own, so that listing and binding have something legitimate to do.
    let b_flow = b.incoming_flow("B flow").await;
    let b_out_flow = b.outgoing_flow("B out flow").await;
    let b_run = b.run_of(&b_flow, json!({"displayName": "B run"})).await["id"].as_str().unwrap().to_owned();
    let b_group = b.group("B group").await;
    let before = a.snapshot_state().await;
    let before_groups = a.walk("/beta/industryData/runGroups?$top=999&$expand=runs").await;
    let p = Probe { b: &b, a_ids: &ta.ids };
    let url = |path: String| a.beta(&path);

    // Reads of single entities, wherever they are addressed.
    for (set, id) in [("incomingFlows", &ta.flow), ("outgoingFlows", &ta.out_flow)] {
        p.same_as_missing(Method::GET, id, |x| (format!("/beta/industryData/{set}/{x}"), None)).await;
        p.same_as_missing(Method::GET, id, |x| (format!("/beta/industryData/{set}/{x}?$expand=runs"), None)).await;
        p.same_as_missing(Method::GET, id, |x| (format!("/beta/industryData/{set}/{x}/runs"), None)).await;
        p.same_as_missing(Method::GET, id, |x| (format!("/beta/industryData/{set}/{x}/runs/$count"), None)).await;
    }
    for id in [&ta.run, &ta.out_run, &ta.member, &ta.group] {
        p.same_as_missing(Method::GET, id, |x| (format!("/beta/industryData/runs/{x}"), None)).await;
        p.same_as_missing(Method::GET, id, |x| (format!("/beta/industryData/runs/{x}?$expand=process"), None)).await;
        p.same_as_missing(Method::GET, id, |x| (format!("/beta/industryData/runs/{x}/process"), None)).await;
        p.same_as_missing(Method::GET, id, |x| (format!("/beta/industryData/runs/{x}/process/$ref"), None)).await;
    }
    p.same_as_missing(Method::GET, &ta.run, |x| (format!("/beta/industryData/incomingFlows/{}/runs/{x}", ta.flow), None)).await;
    p.same_as_missing(Method::GET, &ta.run, |x| (format!("/beta/industryData/runs/{x}/{NS}.incomingFlowRun"), None)).await;
    p.same_as_missing(Method::GET, &ta.group, |x| (format!("/beta/industryData/runGroups/{x}"), None)).await;
    p.same_as_missing(Method::GET, &ta.group, |x| (format!("/beta/industryData/runGroups/{x}/runs"), None)).await;
    p.same_as_missing(Method::GET, &ta.group, |x| (format!("/beta/industryData/runGroups/{x}/runs/$count"), None)).await;
    p.same_as_missing(Method::GET, &ta.group, |x| (format!("/beta/industryData/runGroups/{x}/getErrorsAndWarningsFile"), None)).await;
    p.same_as_missing(Method::GET, &ta.member, |x| (format!("/beta/industryData/runGroups/{}/runs/{x}", ta.group), None)).await;

    // Lists, counts, filters and expansions show B's data only.
    for (path, expected) in [
        ("/beta/industryData/runs", 2),
        ("/beta/industryData/runs?$expand=process", 2),
        ("/beta/industryData/runGroups?$expand=runs", 1),
        ("/beta/industryData/incomingFlows?$expand=runs", 1),
        ("/beta/industryData/outgoingFlows", 1),
        (&format!("/beta/industryData/runs?$filter=id eq '{}'", ta.run) as &str, 0),
        (&format!("/beta/industryData/runs?$filter=process/id eq '{}'", ta.flow) as &str, 0),
        ("/beta/industryData/runs?$filter=startswith(displayName,'A')", 0),
        ("/beta/industryData/runs?$filter=blockingError/code eq 'A-secret'", 0),
        (&format!("/beta/industryData/runs/{NS}.incomingFlowRun") as &str, 1),
        (&format!("/beta/industryData/runs/{NS}.outgoingFlowRun") as &str, 0),
    ] {
        let body = p.get_ok(path).await;
        let ids: Vec<&str> = body["value"].as_array().unwrap().iter().map(|v| v["id"].as_str().unwrap()).collect();
        assert_eq!(ids.len(), expected, "{path}: {body}");
        for v in body["value"].as_array().unwrap() {
            assert!(v["displayName"].as_str().unwrap().starts_with('B'), "{path}: {v}");
        }
    }
    for (path, expected) in [
        ("/beta/industryData/runs/$count", "2"),
        ("/beta/industryData/incomingFlows/$count", "1"),
        ("/beta/industryData/outgoingFlows/$count", "1"),
        ("/beta/industryData/runGroups/$count", "1"),
        ("/beta/industryData/runs/$count?$filter=status eq 'failed'", "0"),
    ] {
        let r = b.get(path).await;
        r.assert_status(200);
        assert_eq!(r.text, expected, "{path}");
    }
    let counted = p.get_ok("/beta/industryData/runs?$count=true&$top=1").await;
    assert_eq!(counted["@odata.count"], 2);

    // Paging: A's nextLink does not page B into A's runs (a token minted for another tenant is
    // refused), and B's own paging never reaches A.
    let first = a.get("/beta/industryData/runs?$top=1").await.json();
    let next = first["@odata.nextLink"].as_str().expect("A has more than one run").to_owned();
    let r = b.get(&next).await;
    assert_ne!(r.status.as_u16(), 403);
    assert!(r.status.as_u16() == 400 || r.json()["value"].as_array().is_some_and(Vec::is_empty), "{}", r.text);
    p.no_leak(&r);
    let walked = b.walk("/beta/industryData/runs?$top=1").await;
    assert_eq!(walked.len(), 2);
    assert!(walked.iter().all(|v| !ta.ids.contains(&v["id"].as_str().unwrap().to_owned())));

    // Writes to A's entities.
    for (set, id) in [("incomingFlows", &ta.flow), ("outgoingFlows", &ta.out_flow)] {
        p.same_as_missing(Method::PATCH, id, |x| (format!("/beta/industryData/{set}/{x}"), Some(json!({"displayName": "pwned"})))).await;
        p.same_as_missing(Method::DELETE, id, |x| (format!("/beta/industryData/{set}/{x}"), None)).await;
        p.same_as_missing(Method::POST, id, |x| (format!("/beta/industryData/{set}/{x}/runs"), Some(json!({"displayName": "planted"}))))
            .await;
    }
    p.same_as_missing(Method::POST, &ta.flow, |x| (format!("/beta/industryData/incomingFlows/{x}/runNow"), None)).await;
    for id in [&ta.run, &ta.out_run, &ta.member, &ta.group] {
        p.same_as_missing(Method::PATCH, id, |x| (format!("/beta/industryData/runs/{x}"), Some(json!({"displayName": "pwned"})))).await;
        p.same_as_missing(Method::PATCH, id, |x| (format!("/beta/industryData/runs/{x}"), Some(json!({"status": "completed"})))).await;
        p.same_as_missing(Method::DELETE, id, |x| (format!("/beta/industryData/runs/{x}"), None)).await;
        p.same_as_missing(Method::DELETE, id, |x| (format!("/beta/industryData/runs/{x}"), None)).await;
    }
    for m in [Method::PATCH, Method::DELETE] {
        let body = (m == Method::PATCH).then(|| json!({"displayName": "pwned"}));
        p.same_as_missing(m.clone(), &ta.group, |x| (format!("/beta/industryData/runGroups/{x}"), body.clone())).await;
    }
    // Re-pointing: A's run at B's flow, and B's run at A's flow.
    for m in [Method::PUT, Method::POST] {
        let b_flow_url = url(format!("industryData/incomingFlows/{b_flow}"));
        p.same_as_missing(m.clone(), &ta.run, |x| {
            (format!("/beta/industryData/runs/{x}/process/$ref"), Some(json!({"@odata.id": b_flow_url})))
        })
        .await;
        p.same_as_missing(m.clone(), &ta.flow, |x| {
            (
                format!("/beta/industryData/runs/{b_run}/process/$ref"),
                Some(json!({"@odata.id": url(format!("industryData/incomingFlows/{x}"))})),
            )
        })
        .await;
    }
    // Binding new runs to A's flows, directly and as group members.
    p.same_as_missing(Method::POST, &ta.flow, |x| {
        (
            "/beta/industryData/runs".into(),
            Some(json!({"@odata.type": format!("#{NS}.incomingFlowRun"), "displayName": "bound", "process@odata.bind": url(format!("industryData/incomingFlows/{x}"))})),
        )
    })
    .await;
    p.same_as_missing(Method::POST, &ta.out_flow, |x| {
        (
            format!("/beta/industryData/runGroups/{b_group}/runs"),
            Some(json!({"@odata.type": format!("#{NS}.outgoingFlowRun"), "displayName": "bound", "process@odata.bind": url(format!("industryData/outgoingFlows/{x}"))})),
        )
    })
    .await;
    p.same_as_missing(Method::POST, &ta.flow, |x| {
        (
            format!("/beta/industryData/runGroups/{b_group}/runs"),
            Some(json!({"@odata.type": format!("#{NS}.incomingFlowRun"), "displayName": "bound", "process@odata.bind": url(format!("/beta/industryData/incomingFlows/{x}"))})),
        )
    })
    .await;
    // Groups: A's run into B's group, B's run into A's group, members out of A's group.
    p.same_as_missing(Method::POST, &ta.run, |x| {
        (format!("/beta/industryData/runGroups/{b_group}/runs/$ref"), Some(json!({"@odata.id": url(format!("industryData/runs/{x}"))})))
    })
    .await;
    p.same_as_missing(Method::POST, &ta.group, |x| {
        (format!("/beta/industryData/runGroups/{x}/runs/$ref"), Some(json!({"@odata.id": url(format!("industryData/runs/{b_run}"))})))
    })
    .await;
    p.same_as_missing(Method::DELETE, &ta.member, |x| (format!("/beta/industryData/runGroups/{}/runs/{x}/$ref", ta.group), None)).await;
    p.same_as_missing(Method::DELETE, &ta.group, |x| (format!("/beta/industryData/runGroups/{x}/runs/{}/$ref", ta.member), None)).await;
    p.same_as_missing(Method::DELETE, &ta.member, |x| (format!("/beta/industryData/runGroups/{b_group}/runs/{x}/$ref"), None)).await;
    p.same_as_missing(Method::POST, &ta.group, |x| {
        (format!("/beta/industryData/runGroups/{x}/runs"), Some(json!({"@odata.type": format!("#{NS}.outgoingFlowRun"), "displayName": "m", "process@odata.bind": url(format!("industryData/outgoingFlows/{b_out_flow}"))})))
    })
    .await;

    // Nothing of A's changed — not its flows, runs, groups or memberships.
    assert_eq!(a.snapshot_state().await, before, "tenant A's data changed");
    assert_eq!(a.walk("/beta/industryData/runGroups?$top=999&$expand=runs").await, before_groups);
    // B's own data is B's: its run still points at its flow, its group has no members.
    let b_run_process = b.get(&format!("/beta/industryData/runs/{b_run}/process")).await.json();
    assert_eq!(b_run_process["id"], b_flow.as_str());
    assert_eq!(b.get(&format!("/beta/industryData/runGroups/{b_group}/runs/$count")).await.text, "0");
    // And A still sees all of its own, nothing of B's.
    let a_runs = a.all_runs().await;
    assert_eq!(a_runs.len(), 7);
    assert!(a_runs.iter().all(|r| r["id"] != b_run.as_str()));
}

#[tokio::test]
async fn the_same_ids_in_two_tenants_are_two_things() {
    // Both tenants create, list and derive groups independently; A's group derivation ignores B.
    let server = secured().await;
    let a = server.as_caller(&token("tenant-a", &ALL));
    let b = server.as_caller(&token("tenant-b", &ALL));
    let fa = a.incoming_flow("same name").await;
    let fb = b.incoming_flow("same name").await;
    let ga = a.group("g").await;
    let gb = b.group("g").await;
    let ra = a.run_of(&fa, json!({"status": "failed"})).await["id"].as_str().unwrap().to_owned();
    let rb = b.run_of(&fb, json!({})).await["id"].as_str().unwrap().to_owned();
    a.add_member(&ga, &ra).await;
    b.add_member(&gb, &rb).await;
    assert_eq!(a.get(&format!("/beta/industryData/runGroups/{ga}")).await.json()["status"], "failed");
    assert_eq!(b.get(&format!("/beta/industryData/runGroups/{gb}")).await.json()["status"], "running");
    let csv_a = a.get(&format!("/beta/industryData/runGroups/{ga}/getErrorsAndWarningsFile")).await.json();
    assert!(csv_a["value"].as_str().unwrap().contains(&ra));
    let csv_b = b.get(&format!("/beta/industryData/runGroups/{gb}/getErrorsAndWarningsFile")).await.json();
    assert!(!csv_b["value"].as_str().unwrap().contains(&ra));
    // A tenant that has nothing sees empty collections, not errors.
    let c = server.as_caller(&token("tenant-c", &ALL));
    for path in
        ["/beta/industryData/runs", "/beta/industryData/incomingFlows", "/beta/industryData/outgoingFlows", "/beta/industryData/runGroups"]
    {
        assert!(c.get(path).await.json()["value"].as_array().unwrap().is_empty(), "{path}");
    }
    // Unauthenticated local mode over the same store is one more tenant (the default one): it sees
    // nothing of A's or B's, and what it writes A does not see.
    let local = server.alongside(|_| {}).await;
    assert!(local.all_runs().await.is_empty());
    assert!(local.get("/beta/industryData/incomingFlows").await.json()["value"].as_array().unwrap().is_empty());
    local.get(&format!("/beta/industryData/runs/{ra}")).await.assert_error(404, "itemNotFound");
    let local_flow = local.incoming_flow("local").await;
    local.run_of(&local_flow, json!({})).await;
    assert_eq!(local.all_runs().await.len(), 1);
    assert_eq!(a.all_runs().await.len(), 2, "A sees its run and group only");
}

#[tokio::test]
async fn the_published_paths_keep_tenants_apart() {
    let server = secured().await;
    let a = server.as_caller(&token("tenant-a", &ALL));
    let b = server.as_caller(&token("tenant-b", &ALL));
    let ta = seed_a(&a).await;
    let before = a.snapshot_state().await;
    let p = Probe { b: &b, a_ids: &ta.ids };
    let ext = "/beta/external/industryData/runs";
    // A's group through B: exactly as an id that exists nowhere.
    p.same_as_missing(Method::GET, &ta.group, |id| (format!("{ext}/{id}"), None)).await;
    p.same_as_missing(Method::GET, &ta.group, |id| (format!("{ext}/{id}/activities"), None)).await;
    p.same_as_missing(Method::GET, &ta.group, |id| (format!("{ext}/{id}/activities/$count"), None)).await;
    p.same_as_missing(Method::GET, &ta.group, |id| (format!("{ext}/{id}/{NS}.getStatistics()"), None)).await;
    let group = ta.group.clone();
    p.same_as_missing(Method::GET, &ta.member, |id| (format!("{ext}/{group}/activities/{id}"), None)).await;
    // B's lists and counts hold nothing of A's.
    assert!(p.get_ok(ext).await["value"].as_array().unwrap().is_empty());
    assert_eq!(b.get(&format!("{ext}/$count")).await.text, "0");
    // The newest run's statistics: B has none (404), never A's.
    let r = b.get(&format!("{ext}/{NS}.getStatistics()")).await;
    r.assert_error(404, "itemNotFound");
    p.no_leak(&r);
    // B has no flow: its start finds nothing to run; A's ready flow is not started for B.
    let r = b.post(&format!("{ext}/{NS}.start"), json!({})).await;
    r.assert_error(409, "noFlowReady");
    assert_eq!(a.snapshot_state().await, before, "B's requests changed A's data");
    // A's own start does start A's flow, and B still sees nothing.
    a.post(&format!("{ext}/{NS}.start"), json!({})).await.assert_status(202);
    assert!(p.get_ok(ext).await["value"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn without_auth_everything_lives_in_the_default_tenant() {
    use runhub_model::{ProcessKind, TenantId};
    use runhub_store::{ListQuery, RunScope};

    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    app.run_of(&flow, json!({})).await;
    app.group("g").await;
    assert!(app.postgres.is_some() || app.data_dir.join(runhub_store::sqlite::DATABASE_FILE).is_file());

    let default = TenantId::default_tenant();
    let other = TenantId::parse("11111111-1111-1111-1111-111111111111").unwrap();
    let page = ListQuery::first_page(100);
    assert_eq!(app.store.list_runs(&default, &RunScope::all(), &page).await.unwrap().items.len(), 2);
    assert_eq!(app.store.list_processes(&default, ProcessKind::IncomingFlow, &page).await.unwrap().items.len(), 1);
    // Another tenant sees, counts and finds none of it.
    assert!(app.store.list_runs(&other, &RunScope::all(), &page).await.unwrap().items.is_empty());
    assert_eq!(app.store.count_runs(&other, &RunScope::all(), None).await.unwrap(), 0);
    assert!(app.store.list_processes(&other, ProcessKind::IncomingFlow, &page).await.unwrap().items.is_empty());
    let flow_id = uuid::Uuid::parse_str(&flow).unwrap();
    assert!(matches!(app.store.get_process(&other, ProcessKind::IncomingFlow, flow_id).await, Err(runhub_store::StoreError::NotFound(_))));
}
