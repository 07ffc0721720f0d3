//! `$orderby`, `$select`, `$expand`, `$top`, `$skip`, `$count` end to end (docs/api.md, "Query options").

use serde_json::{Value, json};

use crate::differential::{Coll, Key, Row, enc, reference};
use crate::helpers::NS;
use crate::query_filter::{fixture, names};

const RUNS: &str = "/beta/industryData/runs";

fn ids(items: &[Value]) -> Vec<String> {
    items.iter().map(|v| v["id"].as_str().unwrap().to_owned()).collect()
}

#[tokio::test]
async fn orderby_keys_directions_nulls_and_enum_order() {
    let f = fixture().await;
    let app = &f.app;
    for (orderby, want) in [
        (
            "displayName",
            vec!["Empty group", "Group one", "Nightly import", "nightly export", "running two", "straße", "ÜNÏCODE run 2", "Ünïcode Run"],
        ),
        (
            "displayName desc",
            vec!["Ünïcode Run", "ÜNÏCODE run 2", "straße", "running two", "nightly export", "Nightly import", "Group one", "Empty group"],
        ),
        // Nulls sort lowest: first ascending, last descending.
        (
            "endDateTime,displayName",
            vec!["Empty group", "running two", "Ünïcode Run", "Nightly import", "Group one", "nightly export", "ÜNÏCODE run 2", "straße"],
        ),
        (
            "endDateTime desc,displayName",
            vec!["straße", "ÜNÏCODE run 2", "Group one", "nightly export", "Nightly import", "Empty group", "running two", "Ünïcode Run"],
        ),
        // Enum order is the member order, not the alphabet.
        (
            "status,displayName",
            vec!["Empty group", "running two", "Ünïcode Run", "Group one", "nightly export", "Nightly import", "straße", "ÜNÏCODE run 2"],
        ),
        (
            "status desc,startDateTime desc",
            vec!["ÜNÏCODE run 2", "straße", "Nightly import", "nightly export", "Group one", "Empty group", "running two", "Ünïcode Run"],
        ),
        (
            "blockingError/code desc,displayName",
            vec!["ÜNÏCODE run 2", "nightly export", "Empty group", "Group one", "Nightly import", "running two", "straße", "Ünïcode Run"],
        ),
        (
            "blockingError/message,displayName asc",
            vec!["Empty group", "Group one", "Nightly import", "running two", "ÜNÏCODE run 2", "Ünïcode Run", "straße", "nightly export"],
        ),
    ] {
        assert_eq!(names(app, &format!("{RUNS}?$orderby={}", enc(orderby))).await, want, "$orderby={orderby}");
        // The same order page by page.
        assert_eq!(names(app, &format!("{RUNS}?$top=3&$orderby={}", enc(orderby))).await, want, "$orderby={orderby}, $top=3");
    }
    // Processes: by displayName by default; other orders on request.
    assert_eq!(names(app, "/beta/industryData/incomingFlows").await, ["Flow A", "flow b"]);
    assert_eq!(names(app, "/beta/industryData/incomingFlows?$orderby=displayName%20desc").await, ["flow b", "Flow A"]);
}

/// Every primitive property of every set, ascending and descending, agrees with the reference
/// ordering (nulls lowest, ties by id ascending).
#[tokio::test]
async fn orderby_every_primitive_property_ties_by_id() {
    let f = fixture().await;
    let app = &f.app;
    // Make ties: more runs with equal names, times and statuses.
    for _ in 0..3 {
        app.run_of(&f.flow_a, json!({"displayName": "twin", "status": "failed", "startDateTime": "2025-01-01T00:00:00Z", "endDateTime": "2025-01-01T00:00:00Z"})).await;
    }
    let rows = |items: Vec<Value>| -> Vec<Row> {
        items
            .into_iter()
            .map(|mut j| {
                let process_id = j["process"]["id"].as_str().map(str::to_owned);
                j.as_object_mut().unwrap().remove("process");
                Row { json: j, process_id, group_id: None }
            })
            .collect()
    };
    let sets = [
        (RUNS.to_owned(), Coll::Runs, rows(app.walk(&format!("{RUNS}?$expand=process($select=id)")).await)),
        ("/beta/industryData/runGroups".to_owned(), Coll::RunGroups, rows(app.walk("/beta/industryData/runGroups").await)),
        ("/beta/industryData/incomingFlows".to_owned(), Coll::IncomingFlows, rows(app.walk("/beta/industryData/incomingFlows").await)),
        ("/beta/industryData/outgoingFlows".to_owned(), Coll::OutgoingFlows, rows(app.walk("/beta/industryData/outgoingFlows").await)),
    ];
    for (url, set, rows) in &sets {
        for p in set.props() {
            for descending in [false, true] {
                let text = format!("{}{}", p.path, if descending { " desc" } else { "" });
                let keys = vec![Key { prop: *p, descending }];
                let want = reference(rows, None, &keys);
                let got = ids(&app.walk(&format!("{url}?$top=2&$orderby={}", enc(&text))).await);
                assert_eq!(got, want, "{url}?$orderby={text}");
            }
        }
    }
    // Ties are broken by id ascending, also in the default order.
    let twins = app.walk(&format!("{RUNS}?$filter={}", enc("displayName eq 'twin'"))).await;
    let mut sorted = ids(&twins);
    sorted.sort();
    assert_eq!(ids(&twins), sorted);
    let twins = app.walk(&format!("{RUNS}?$filter={}&$orderby=displayName%20desc", enc("displayName eq 'twin'"))).await;
    assert_eq!(ids(&twins), sorted);
}

#[tokio::test]
async fn orderby_errors() {
    let f = fixture().await;
    let app = &f.app;
    for (text, position) in
        [("nope", 0), ("displayName sideways", 12), ("statistics", 0), ("displayName,displayName desc", 12), ("process", 0)]
    {
        let r = app.get(&format!("{RUNS}?$orderby={}", enc(text))).await;
        let e = r.assert_target(400, "invalidQueryOption", "$orderby");
        let m = e["message"].as_str().unwrap();
        assert!(m.contains("$orderby") && m.contains(&format!("position {position}")), "{text}: {m}");
    }
}

#[tokio::test]
async fn select_keeps_id_type_and_etag() {
    let f = fixture().await;
    let app = &f.app;
    let keys = |v: &Value| -> Vec<String> {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let r = app.get(&format!("{RUNS}?$select=displayName")).await;
    r.assert_status(200);
    for item in r.json()["value"].as_array().unwrap() {
        assert_eq!(keys(item), ["@odata.etag", "@odata.type", "displayName", "id"]);
    }
    let r = app.get(&format!("{RUNS}?$select=status,blockingError,id&$filter={}", enc("status eq 'failed'"))).await;
    for item in r.json()["value"].as_array().unwrap() {
        assert_eq!(keys(item), ["@odata.etag", "@odata.type", "blockingError", "id", "status"]);
    }
    // On every collection and on entities.
    for url in [
        format!("/beta/industryData/incomingFlows/{}/runs?$select=status", f.flow_a),
        format!("/beta/industryData/runGroups/{}/runs?$select=status", f.group),
        "/beta/industryData/runGroups?$select=status".to_owned(),
        format!("{RUNS}/{NS}.outgoingFlowRun?$select=status"),
    ] {
        let r = app.get(&url).await;
        r.assert_status(200);
        for item in r.json()["value"].as_array().unwrap() {
            assert_eq!(keys(item), ["@odata.etag", "@odata.type", "id", "status"], "{url}");
        }
    }
    let r = app.get("/beta/industryData/incomingFlows?$select=eTag,readinessStatus").await;
    for item in r.json()["value"].as_array().unwrap() {
        assert_eq!(keys(item), ["@odata.etag", "@odata.type", "eTag", "id", "readinessStatus"]);
    }
    let r = app.get(&format!("/beta/industryData/runGroups/{}?$select=displayName", f.group)).await;
    r.assert_status(200);
    let body = r.json();
    assert_eq!(body["@odata.type"], format!("#{NS}.runGroup"));
    assert!(body.get("status").is_none() && body["displayName"] == "Group one" && body["@odata.etag"].is_string(), "{body}");
    let r = app.get(&format!("/beta/industryData/incomingFlows/{}?$select=displayName", f.flow_a)).await;
    assert_eq!(
        keys(&r.json()).into_iter().filter(|k| !k.starts_with("@odata.context")).collect::<Vec<_>>(),
        ["@odata.etag", "@odata.type", "displayName", "id"]
    );
    // `*` is everything; unknown properties are 400s naming $select.
    let r = app.get(&format!("{RUNS}?$select=*&$top=1")).await;
    assert!(r.json()["value"][0]["statistics"].is_object());
    app.get(&format!("{RUNS}?$select=nope")).await.assert_target(400, "invalidQueryOption", "$select");
    app.get(&format!("{RUNS}?$select=readinessStatus")).await.assert_target(400, "invalidQueryOption", "$select");
}

#[tokio::test]
async fn expand_process_on_runs() {
    let f = fixture().await;
    let app = &f.app;
    let r = app.get(&format!("{RUNS}?$expand=process&$orderby=displayName")).await;
    r.assert_status(200);
    for item in r.json()["value"].as_array().unwrap() {
        let process = &item["process"];
        match item["displayName"].as_str().unwrap() {
            "Group one" | "Empty group" => assert!(process.is_null(), "{item}"),
            "straße" => {
                assert_eq!(process["@odata.type"], format!("#{NS}.outgoingFlow"));
                assert_eq!(process["id"], f.out.as_str());
                assert!(process["@odata.etag"].is_string());
            }
            name => {
                assert_eq!(process["@odata.type"], format!("#{NS}.incomingFlow"), "{name}");
                assert!(process["displayName"].is_string());
            }
        }
    }
    // Nested $select; the outer $select does not hide the expansion.
    let r = app.get(&format!("{RUNS}/{NS}.outgoingFlowRun?$select=displayName&$expand=process($select=displayName)")).await;
    let item = &r.json()["value"][0];
    let mut k: Vec<&String> = item["process"].as_object().unwrap().keys().collect();
    k.sort();
    assert_eq!(k, ["@odata.etag", "@odata.type", "displayName", "id"]);
    assert!(item.get("status").is_none());
    // Nested $filter: a process that does not match expands to null (one query per process kind).
    let r = app.get(&format!("{RUNS}?$expand=process($filter={})&$select=displayName", enc("displayName eq 'Flow A'"))).await;
    r.assert_status(200);
    for item in r.json()["value"].as_array().unwrap() {
        let name = item["displayName"].as_str().unwrap();
        let expect_a = ["Nightly import", "nightly export", "running two"].contains(&name);
        assert_eq!(item["process"]["id"].as_str(), expect_a.then_some(f.flow_a.as_str()), "{name}: {item}");
    }
    // On one run, too.
    let run = &app.walk(&format!("{RUNS}?$filter={}", enc("displayName eq 'straße'"))).await[0];
    let r =
        app.get(&format!("{RUNS}/{}?$expand=process($select=id;$filter=readinessStatus eq 'ready')", run["id"].as_str().unwrap())).await;
    assert_eq!(r.json()["process"]["id"], f.out.as_str());
    let r = app.get(&format!("{RUNS}/{}?$expand=process($filter=readinessStatus eq 'failed')", run["id"].as_str().unwrap())).await;
    assert!(r.json()["process"].is_null(), "{}", r.text);
    // Errors.
    app.get(&format!("{RUNS}?$expand=process($top=1)")).await.assert_target(400, "invalidQueryOption", "$expand");
    app.get(&format!("{RUNS}?$expand=runs")).await.assert_target(400, "invalidQueryOption", "$expand");
    app.get(&format!("{RUNS}?$expand=process($filter=status eq 'failed')")).await.assert_target(400, "invalidQueryOption", "$expand");
}

#[tokio::test]
async fn expand_runs_on_flows_and_groups() {
    let f = fixture().await;
    let app = &f.app;
    let nested = enc("runs($filter=status eq 'running';$orderby=displayName desc;$top=1;$select=displayName)");
    let r = app.get(&format!("/beta/industryData/incomingFlows?$expand={nested}&$select=displayName")).await;
    r.assert_status(200);
    let body = r.json();
    let flows = body["value"].as_array().unwrap();
    assert_eq!(flows.len(), 2);
    assert_eq!(flows[0]["displayName"], "Flow A");
    let runs = flows[0]["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["displayName"], "running two");
    assert_eq!(runs[0]["@odata.type"], format!("#{NS}.incomingFlowRun"));
    assert!(runs[0]["@odata.etag"].is_string() && runs[0].get("status").is_none());
    assert_eq!(flows[1]["runs"][0]["displayName"], "Ünïcode Run");
    // Default nested order: newest first; on one entity.
    let r = app.get(&format!("/beta/industryData/incomingFlows/{}?$expand=runs", f.flow_a)).await;
    let names: Vec<String> = r.json()["runs"].as_array().unwrap().iter().map(|v| v["displayName"].as_str().unwrap().to_owned()).collect();
    assert_eq!(names, ["running two", "nightly export", "Nightly import"]);
    let r = app.get("/beta/industryData/outgoingFlows?$expand=runs($select=status)").await;
    assert_eq!(r.json()["value"][0]["runs"][0]["status"], "completedWithErrors");
    // runGroups: members.
    let r =
        app.get(&format!("/beta/industryData/runGroups?$orderby=displayName&$expand={}", enc("runs($orderby=startDateTime asc)"))).await;
    r.assert_status(200);
    let groups = r.json()["value"].as_array().unwrap().clone();
    assert_eq!(groups[0]["displayName"], "Empty group");
    assert_eq!(groups[0]["runs"], json!([]));
    let members: Vec<&str> = groups[1]["runs"].as_array().unwrap().iter().map(|v| v["displayName"].as_str().unwrap()).collect();
    assert_eq!(members, ["Nightly import", "nightly export"]);
    let r =
        app.get(&format!("/beta/industryData/runGroups/{}?$expand={}", f.group, enc("runs($filter=status eq 'failed';$select=id)"))).await;
    let runs = r.json()["runs"].as_array().unwrap().clone();
    assert_eq!(runs.len(), 1);
    let r = app.get(&format!("{RUNS}/{NS}.runGroup?$expand=runs($top=1)&$filter={}", enc("displayName eq 'Group one'"))).await;
    assert_eq!(r.json()["value"][0]["runs"].as_array().unwrap().len(), 1);
    // Errors inside the nested options point into $expand.
    app.get("/beta/industryData/incomingFlows?$expand=runs($filter=nope eq 1)").await.assert_target(400, "invalidQueryOption", "$expand");
    app.get("/beta/industryData/incomingFlows?$expand=runs($skip=1)").await.assert_target(400, "invalidQueryOption", "$expand");
    app.get("/beta/industryData/incomingFlows?$expand=runs($top=1000)").await.assert_target(400, "invalidQueryOption", "$expand");
    app.get("/beta/industryData/incomingFlows?$expand=process").await.assert_target(400, "invalidQueryOption", "$expand");
}

#[tokio::test]
async fn top_skip_and_count() {
    let f = fixture().await;
    let app = &f.app;
    let all = ids(&app.walk(&format!("{RUNS}?$top=999")).await);
    assert_eq!(all.len(), 8);
    // $top is the page size; more rows remain → nextLink with every original option.
    let r = app.get(&format!("{RUNS}?$top=3&$count=true&$select=id&custom=1")).await;
    r.assert_status(200);
    let body = r.json();
    assert_eq!(ids(body["value"].as_array().unwrap()), all[..3]);
    assert_eq!(body["@odata.count"], 8);
    let next = body["@odata.nextLink"].as_str().unwrap();
    assert!(next.starts_with(&app.beta("industryData/runs?")), "{next}");
    for part in ["$top=3", "$count=true", "$select=id", "custom=1", "$skiptoken="] {
        assert!(next.contains(part), "{next} lacks {part}");
    }
    // @odata.count on every page.
    let mut url = Some(next.to_owned());
    let mut walked = all[..3].to_vec();
    while let Some(u) = url {
        let body = app.get(&u).await.json();
        assert_eq!(body["@odata.count"], 8, "{u}");
        walked.extend(ids(body["value"].as_array().unwrap()));
        url = body["@odata.nextLink"].as_str().map(str::to_owned);
    }
    assert_eq!(walked, all);
    // The last page has no nextLink; neither does a page that holds everything.
    assert!(app.get(&format!("{RUNS}?$top=8")).await.json().get("@odata.nextLink").is_none());
    // $skip skips the first N matching rows; the nextLink drops it.
    let r = app.get(&format!("{RUNS}?$skip=2&$top=3")).await;
    let body = r.json();
    assert_eq!(ids(body["value"].as_array().unwrap()), all[2..5]);
    let next = body["@odata.nextLink"].as_str().unwrap();
    assert!(!next.contains("$skip="), "{next}");
    assert_eq!(ids(&app.walk(next).await), all[5..]);
    assert_eq!(ids(&app.walk(&format!("{RUNS}?$skip=7")).await), all[7..]);
    assert!(app.walk(&format!("{RUNS}?$skip=100")).await.is_empty());
    // Huge skips are empty pages, never 500s.
    for skip in ["9223372036854775807", "9223372036854775808", "18446744073709551615"] {
        let r = app.get(&format!("{RUNS}?$skip={skip}&$count=true")).await;
        r.assert_status(200);
        assert_eq!(r.json()["value"], json!([]), "$skip={skip}");
        assert_eq!(r.json()["@odata.count"], 8, "$skip={skip}");
    }
    // $count with a filter, and /$count.
    let r = app.get(&format!("{RUNS}?$count=true&$top=1&$filter={}", enc("endDateTime eq null"))).await;
    assert_eq!(r.json()["@odata.count"], 3);
    let r = app.get(&format!("{RUNS}?$count=false")).await;
    assert!(r.json().get("@odata.count").is_none());
    let r = app.get(&format!("{RUNS}/$count")).await;
    r.assert_status(200);
    assert_eq!(r.text, "8");
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    assert_eq!(app.get(&format!("/beta/industryData/incomingFlows/{}/runs/$count", f.flow_a)).await.text, "3");
    assert_eq!(app.get(&format!("/beta/industryData/runGroups/{}/runs/$count", f.group)).await.text, "2");
    assert_eq!(app.get("/beta/industryData/runGroups/$count").await.text, "2");
    assert_eq!(app.get(&format!("{RUNS}/{NS}.incomingFlowRun/$count")).await.text, "5");
    assert_eq!(app.get("/beta/industryData/incomingFlows/$count?$filter=displayName%20eq%20'Flow%20A'").await.text, "1");
    // Ranges and malformed values name the option.
    for (query, option) in [
        ("$top=0", "$top"),
        ("$top=1000", "$top"),
        ("$top=-1", "$top"),
        ("$top=abc", "$top"),
        ("$top=99999999999999999999", "$top"),
        ("$skip=-1", "$skip"),
        ("$skip=x", "$skip"),
        ("$count=yes", "$count"),
        ("$top=", "$top"),
    ] {
        let r = app.get(&format!("{RUNS}?{query}")).await;
        let e = r.assert_target(400, "invalidQueryOption", option);
        assert!(e["message"].as_str().unwrap().contains(option), "{query}: {e}");
    }
    app.get(&format!("{RUNS}?$top=999")).await.assert_status(200);
    app.get(&format!("{RUNS}?$top=1")).await.assert_status(200);
    // /$count takes $filter only.
    app.get(&format!("{RUNS}/$count?$top=1")).await.assert_target(400, "invalidQueryOption", "$top");
}

#[tokio::test]
async fn cast_collections_carry_their_own_context() {
    let f = fixture().await;
    let app = &f.app;
    for kind in ["incomingFlowRun", "outgoingFlowRun", "runGroup"] {
        let r = app.get(&format!("{RUNS}/{NS}.{kind}")).await;
        r.assert_status(200);
        assert_eq!(r.json()["@odata.context"], app.beta(&format!("$metadata#industryData/runs/{NS}.{kind}")));
    }
    let r = app.get(&format!("/beta/industryData/runGroups/{}/runs/{NS}.incomingFlowRun", f.group)).await;
    assert_eq!(r.json()["@odata.context"], app.beta(&format!("$metadata#industryData/runGroups('{}')/runs/{NS}.incomingFlowRun", f.group)));
    let r = app.get(&format!("{RUNS}/{NS}.runGroup/{}", f.group)).await;
    r.assert_status(200);
    assert_eq!(r.json()["@odata.context"], app.beta(&format!("$metadata#industryData/runs/{NS}.runGroup/$entity")));
}
