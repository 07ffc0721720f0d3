//! `$filter` end to end over HTTP (docs/api.md, "Query options"): every operator, function, literal
//! form and null rule, on every collection; and the 400s that name the option and the position.

use serde_json::{Value, json};

use crate::differential::enc;
use crate::helpers::{NS, TestApp};

/// A small dataset whose every row is known by its (unique) displayName.
pub struct Fixture {
    pub app: TestApp,
    pub flow_a: String,
    pub flow_b: String,
    pub out: String,
    pub group: String,
    pub empty_group: String,
}

pub async fn fixture() -> Fixture {
    let app = TestApp::spawn().await;
    let flow_a = app.incoming_flow("Flow A").await;
    let flow_b = app.incoming_flow("flow b").await;
    let out = app.outgoing_flow("Out").await;
    let run = |flow: &str, name: &str, status: &str, start: &str, end: Option<&str>, error: Value| {
        let mut body = json!({"displayName": name, "status": status, "startDateTime": start});
        if let Some(end) = end {
            body["endDateTime"] = json!(end);
        }
        if !error.is_null() {
            body["blockingError"] = error;
        }
        (flow.to_owned(), body)
    };
    let incoming = [
        run(&flow_a, "Nightly import", "completed", "2025-01-01T00:00:00Z", Some("2025-01-01T01:00:00Z"), Value::Null),
        run(
            &flow_a,
            "nightly export",
            "failed",
            "2025-01-02T00:00:00.5Z",
            Some("2025-01-02T01:00:00.5Z"),
            json!({"code": "E_TIMEOUT", "message": "timed out"}),
        ),
        run(&flow_b, "Ünïcode Run", "running", "2025-01-03T12:00:00Z", None, Value::Null),
        run(
            &flow_b,
            "ÜNÏCODE run 2",
            "completedWithWarnings",
            "2025-01-04T00:00:00.123456Z",
            Some("2025-01-04T01:00:00Z"),
            json!({"code": "W1"}),
        ),
        run(&flow_a, "running two", "running", "2025-01-06T00:00:00Z", None, Value::Null),
    ];
    let mut ids = std::collections::HashMap::new();
    for (flow, body) in incoming {
        let name = body["displayName"].as_str().unwrap().to_owned();
        ids.insert(name, app.run_of(&flow, body).await["id"].as_str().unwrap().to_owned());
    }
    app.outgoing_run_of(
        &out,
        json!({"displayName": "straße", "status": "completedWithErrors", "startDateTime": "2025-01-05T00:00:00Z",
               "endDateTime": "2025-01-05T02:00:00Z", "blockingError": {"message": "half"}}),
    )
    .await;
    let group = app.group_with(json!({"displayName": "Group one", "startDateTime": "2025-01-01T06:00:00Z"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.add_member(&group, &ids["Nightly import"]).await;
    app.add_member(&group, &ids["nightly export"]).await;
    let empty_group = app.group_with(json!({"displayName": "Empty group", "startDateTime": "2025-01-07T00:00:00Z"})).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Fixture { app, flow_a, flow_b, out, group, empty_group }
}

/// The displayNames of every row the URL lists (all pages), in order.
pub async fn names(app: &TestApp, url: &str) -> Vec<String> {
    app.walk(url).await.iter().map(|v| v["displayName"].as_str().unwrap().to_owned()).collect()
}

/// The displayNames `$filter=text` selects on a collection, sorted.
async fn filtered(app: &TestApp, collection: &str, text: &str) -> Vec<String> {
    let mut n = names(app, &format!("{collection}?$filter={}", enc(text))).await;
    n.sort();
    n
}

fn sorted(names: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

const ALL_RUNS: &[&str] =
    &["Nightly import", "nightly export", "Ünïcode Run", "ÜNÏCODE run 2", "straße", "running two", "Group one", "Empty group"];

fn all_but(except: &[&str]) -> Vec<&'static str> {
    ALL_RUNS.iter().copied().filter(|n| !except.contains(n)).collect()
}

const RUNS: &str = "/beta/industryData/runs";

#[tokio::test]
async fn comparisons_logic_and_enums_on_runs() {
    let f = fixture().await;
    let app = &f.app;
    for (text, want) in [
        ("status eq 'failed'", vec!["nightly export", "Group one"]),
        (&format!("status eq {NS}.runStatus'failed'") as &str, vec!["nightly export", "Group one"]),
        ("status ne 'running'", all_but(&["Ünïcode Run", "running two", "Empty group"])),
        ("status in ('running', 'completed')", vec!["Nightly import", "Ünïcode Run", "running two", "Empty group"]),
        (&format!("status in ({NS}.runStatus'completedWithErrors', 'completedWithWarnings')"), vec!["straße", "ÜNÏCODE run 2"]),
        // unknownFutureValue is a valid literal that matches nothing.
        ("status eq 'unknownFutureValue'", vec![]),
        ("status in ('unknownFutureValue')", vec![]),
        ("status ne 'unknownFutureValue'", ALL_RUNS.to_vec()),
        ("displayName eq 'straße'", vec!["straße"]),
        ("displayName eq 'STRASSE'", vec![]),
        ("displayName gt 'nightly'", vec!["nightly export", "Ünïcode Run", "ÜNÏCODE run 2", "straße", "running two"]),
        ("displayName le 'Group one'", vec!["Group one", "Empty group"]),
        ("displayName lt 'Group one'", vec!["Empty group"]),
        ("displayName ge 'Ü'", vec!["Ünïcode Run", "ÜNÏCODE run 2"]),
        ("status eq 'failed' and displayName eq 'Group one'", vec!["Group one"]),
        ("status eq 'failed' or status eq 'running'", vec!["nightly export", "Group one", "Ünïcode Run", "running two", "Empty group"]),
        // `and` binds tighter than `or`; parentheses change it.
        ("status eq 'failed' or status eq 'running' and displayName eq 'x'", vec!["nightly export", "Group one"]),
        ("(status eq 'failed' or status eq 'running') and displayName eq 'running two'", vec!["running two"]),
        ("not (status eq 'failed' or status eq 'running')", vec!["Nightly import", "ÜNÏCODE run 2", "straße"]),
        ("((((status eq 'failed'))))", vec!["nightly export", "Group one"]),
        ("id eq 'nope'", vec![]),
    ] {
        assert_eq!(filtered(app, RUNS, text).await, sorted(&want), "$filter={text}");
    }
}

#[tokio::test]
async fn null_semantics_follow_odata() {
    let f = fixture().await;
    let app = &f.app;
    let finished = all_but(&["Ünïcode Run", "running two", "Empty group"]);
    for (text, want) in [
        ("endDateTime eq null", vec!["Ünïcode Run", "running two", "Empty group"]),
        ("null eq endDateTime", vec!["Ünïcode Run", "running two", "Empty group"]),
        ("endDateTime ne null", finished.clone()),
        ("not (endDateTime eq null)", finished.clone()),
        ("not (endDateTime ne null)", vec!["Ünïcode Run", "running two", "Empty group"]),
        ("endDateTime in (null)", vec!["Ünïcode Run", "running two", "Empty group"]),
        ("endDateTime in (null, 2025-01-01T01:00:00Z)", vec!["Ünïcode Run", "running two", "Empty group", "Nightly import"]),
        // `ne` with one null operand is true; `gt ge lt le` with a null operand are false.
        ("blockingError/code ne 'E_TIMEOUT'", all_but(&["nightly export"])),
        ("blockingError/code eq 'E_TIMEOUT'", vec!["nightly export"]),
        ("blockingError/code gt 'A'", vec!["nightly export", "ÜNÏCODE run 2"]),
        ("blockingError/code le 'Z'", vec!["nightly export", "ÜNÏCODE run 2"]),
        ("not (blockingError/code gt 'A')", all_but(&["nightly export", "ÜNÏCODE run 2"])),
        ("endDateTime gt null", vec![]),
        ("not (endDateTime lt null)", ALL_RUNS.to_vec()),
        ("blockingError/code eq null", all_but(&["nightly export", "ÜNÏCODE run 2"])),
        ("blockingError/message eq 'half'", vec!["straße"]),
        ("blockingError/message ne null and blockingError/code eq null", vec!["straße"]),
        ("tolower(blockingError/code) eq 'w1'", vec!["ÜNÏCODE run 2"]),
        ("tolower(blockingError/code) ne 'w1'", all_but(&["ÜNÏCODE run 2"])),
        ("contains(blockingError/code, '')", vec!["nightly export", "ÜNÏCODE run 2"]),
        ("not contains(blockingError/code, 'E')", all_but(&["nightly export"])),
        ("endDateTime gt startDateTime", finished.clone()),
        ("process/id eq null", vec!["Group one", "Empty group"]),
    ] {
        assert_eq!(filtered(app, RUNS, text).await, sorted(&want), "$filter={text}");
    }
}

#[tokio::test]
async fn datetime_literals_with_offsets_and_fractions() {
    let f = fixture().await;
    let app = &f.app;
    for (text, want) in [
        ("startDateTime eq 2025-01-03T12:00:00Z", vec!["Ünïcode Run"]),
        ("startDateTime eq 2025-01-03T07:00:00-05:00", vec!["Ünïcode Run"]),
        ("startDateTime eq 2025-01-03T17:30:00+05:30", vec!["Ünïcode Run"]),
        ("startDateTime eq 2025-01-03T12:00Z", vec!["Ünïcode Run"]),
        ("startDateTime eq 2025-01-02T05:30:00.5+05:30", vec!["nightly export"]),
        ("startDateTime gt 2025-01-02T05:30:00.5+05:30", vec!["Ünïcode Run", "ÜNÏCODE run 2", "straße", "running two", "Empty group"]),
        (
            "startDateTime ge 2025-01-02T00:00:00.500000Z and startDateTime lt 2025-01-03T12:00:00.000001Z",
            vec!["nightly export", "Ünïcode Run"],
        ),
        // The 7th fractional digit is truncated to microseconds.
        ("startDateTime eq 2025-01-04T00:00:00.1234569Z", vec!["ÜNÏCODE run 2"]),
        ("startDateTime eq 2025-01-04T00:00:00.123456Z", vec!["ÜNÏCODE run 2"]),
        ("startDateTime eq 2025-01-04T00:00:00.123Z", vec![]),
        ("endDateTime lt 2025-01-03T00:00:00Z", vec!["Nightly import", "nightly export", "Group one"]),
        // A group starts with its earliest member.
        ("startDateTime in (2025-01-01T00:00:00Z, 2025-01-05T01:00:00+01:00)", vec!["Nightly import", "Group one", "straße"]),
    ] {
        assert_eq!(filtered(app, RUNS, text).await, sorted(&want), "$filter={text}");
    }
}

#[tokio::test]
async fn string_functions_are_case_sensitive_and_unicode_aware() {
    let f = fixture().await;
    let app = &f.app;
    for (text, want) in [
        ("startswith(displayName, 'nightly')", vec!["nightly export"]),
        ("startswith(tolower(displayName), 'nightly')", vec!["Nightly import", "nightly export"]),
        ("startswith(displayName, '')", ALL_RUNS.to_vec()),
        ("endswith(displayName, 'Run')", vec!["Ünïcode Run"]),
        ("endswith(toupper(displayName), 'RUN')", vec!["Ünïcode Run"]),
        ("endswith(displayName, 'a much longer needle than any name here')", vec![]),
        ("contains(displayName, 'ünïcode')", vec![]),
        ("contains(tolower(displayName), 'ünïcode')", vec!["Ünïcode Run", "ÜNÏCODE run 2"]),
        ("contains(toupper(displayName), 'ÜNÏCODE')", vec!["Ünïcode Run", "ÜNÏCODE run 2"]),
        ("contains(displayName, 'ß')", vec!["straße"]),
        ("toupper(displayName) eq 'STRASSE'", vec!["straße"]),
        ("tolower(displayName) eq 'ünïcode run'", vec!["Ünïcode Run"]),
        ("tolower(displayName) in ('group one', 'empty group')", vec!["Group one", "Empty group"]),
        ("contains(displayName, 'o') and not contains(displayName, 'r')", vec!["Ünïcode Run"]),
        ("displayName eq 'it''s'", vec![]),
    ] {
        assert_eq!(filtered(app, RUNS, text).await, sorted(&want), "$filter={text}");
    }
}

#[tokio::test]
async fn isof_and_navigation_paths() {
    let f = fixture().await;
    let app = &f.app;
    let a = &f.flow_a;
    for (text, want) in [
        (format!("isof('{NS}.runGroup')"), vec!["Group one", "Empty group"]),
        (format!("isof({NS}.runGroup)"), vec!["Group one", "Empty group"]),
        (format!("not isof('{NS}.runGroup')"), all_but(&["Group one", "Empty group"])),
        (format!("isof('{NS}.outgoingFlowRun')"), vec!["straße"]),
        (format!("isof('{NS}.run')"), ALL_RUNS.to_vec()),
        (format!("isof('{NS}.runGroup') and status eq 'failed'"), vec!["Group one"]),
        (format!("process/id eq '{a}'"), vec!["Nightly import", "nightly export", "running two"]),
        (format!("process/id ne '{a}'"), all_but(&["Nightly import", "nightly export", "running two"])),
        (format!("process/id in ('{a}', '{}')", f.out), vec!["Nightly import", "nightly export", "running two", "straße"]),
        (format!("blockingError/code eq 'E_TIMEOUT' and process/id eq '{a}'"), vec!["nightly export"]),
    ] {
        assert_eq!(filtered(app, RUNS, &text).await, sorted(&want), "$filter={text}");
    }
}

#[tokio::test]
async fn filter_works_on_every_collection() {
    let f = fixture().await;
    let app = &f.app;
    let cases: Vec<(String, &str, Vec<&str>)> = vec![
        (format!("/beta/industryData/incomingFlows/{}/runs", f.flow_a), "status eq 'running'", vec!["running two"]),
        (
            format!("/beta/industryData/incomingFlows/{}/runs", f.flow_b),
            "contains(tolower(displayName), 'ünïcode') and endDateTime ne null",
            vec!["ÜNÏCODE run 2"],
        ),
        (format!("/beta/industryData/outgoingFlows/{}/runs", f.out), "blockingError/code eq null", vec!["straße"]),
        (format!("/beta/industryData/outgoingFlows/{}/runs", f.out), "status eq 'running'", vec![]),
        (format!("/beta/industryData/runGroups/{}/runs", f.group), "status eq 'failed'", vec!["nightly export"]),
        (format!("/beta/industryData/runGroups/{}/runs", f.group), "endDateTime lt 2025-01-02T00:00:00Z", vec!["Nightly import"]),
        (format!("/beta/industryData/runGroups/{}/runs", f.empty_group), "status ne 'failed'", vec![]),
        ("/beta/industryData/runGroups".into(), "status eq 'failed'", vec!["Group one"]),
        ("/beta/industryData/runGroups".into(), "endDateTime eq null", vec!["Empty group"]),
        (format!("{RUNS}/{NS}.incomingFlowRun"), "status eq 'running'", vec!["Ünïcode Run", "running two"]),
        (format!("{RUNS}/{NS}.outgoingFlowRun"), "status ne 'running'", vec!["straße"]),
        (format!("{RUNS}/{NS}.runGroup"), "endDateTime eq null", vec!["Empty group"]),
        ("/beta/industryData/incomingFlows".into(), "displayName eq 'Flow A'", vec!["Flow A"]),
        ("/beta/industryData/incomingFlows".into(), "startswith(tolower(displayName), 'flow')", vec!["Flow A", "flow b"]),
        (
            "/beta/industryData/incomingFlows".into(),
            "readinessStatus eq 'ready' and recurrenceEffectiveDateTime eq null",
            vec!["Flow A", "flow b"],
        ),
        ("/beta/industryData/incomingFlows".into(), "dataDomain eq 'educationRostering' and eTag eq '\"1\"'", vec!["Flow A", "flow b"]),
        ("/beta/industryData/incomingFlows".into(), &*format!("isof('{NS}.incomingFlow') and id eq '{}'", f.flow_b).leak(), vec!["flow b"]),
        ("/beta/industryData/outgoingFlows".into(), "readinessStatus in ('ready', 'failed')", vec!["Out"]),
        ("/beta/industryData/outgoingFlows".into(), "readinessStatus ne 'ready'", vec![]),
    ];
    for (collection, text, want) in cases {
        assert_eq!(filtered(app, &collection, text).await, sorted(&want), "{collection}?$filter={text}");
        // `/$count` honours the filter too.
        let r = app.get(&format!("{collection}/$count?$filter={}", enc(text))).await;
        r.assert_status(200);
        assert_eq!(r.text, want.len().to_string(), "{collection}/$count?$filter={text}");
    }
}

/// A 400 about `option` whose message names it and the position.
#[track_caller]
fn assert_query_error(r: &crate::helpers::Reply, option: &str, code: &str, position: Option<usize>) {
    let error = r.assert_target(400, code, option);
    let message = error["message"].as_str().unwrap();
    assert!(message.contains(option), "message does not name {option}: {message}");
    if let Some(p) = position {
        assert!(message.contains(&format!("position {p}")), "message does not name position {p}: {message}");
    }
}

#[tokio::test]
async fn invalid_filters_are_400s_naming_option_and_position() {
    let f = fixture().await;
    let app = &f.app;
    for (collection, text, code, position) in [
        (RUNS, "nope eq 'x'", "invalidQueryOption", Some(0)),
        (RUNS, "status eq 'failed' and colour eq 'red'", "invalidQueryOption", Some(23)),
        (RUNS, "blockingError/nope eq 'x'", "invalidQueryOption", Some(0)),
        (RUNS, "startDateTime eq 'yesterday'", "invalidQueryOption", Some(17)),
        (RUNS, "displayName eq 42", "invalidQueryOption", Some(15)),
        (RUNS, "endDateTime eq true", "invalidQueryOption", Some(15)),
        (RUNS, "status eq 'nope'", "invalidQueryOption", Some(10)),
        (RUNS, "status gt 'failed'", "invalidQueryOption", Some(7)),
        (RUNS, "status le 'failed'", "invalidQueryOption", Some(7)),
        (RUNS, "startswith(status, 'f')", "invalidQueryOption", Some(11)),
        (RUNS, "contains(startDateTime, '2025')", "invalidQueryOption", Some(9)),
        (RUNS, "tolower(endDateTime) eq 'x'", "invalidQueryOption", Some(8)),
        (RUNS, "isof('microsoft.graph.industryData.incomingFlow')", "invalidQueryOption", Some(5)),
        (RUNS, "status eq 'failed' and", "invalidQueryOption", Some(22)),
        (RUNS, "(status eq 'failed'", "invalidQueryOption", Some(19)),
        (RUNS, "displayName eq 'unterminated", "invalidQueryOption", Some(15)),
        (RUNS, "startDateTime eq 2025-13-01T00:00:00Z", "invalidQueryOption", Some(17)),
        (RUNS, "readinessStatus eq 'ready'", "invalidQueryOption", Some(0)),
        // `not` binds to the operand right after it (OData precedence): `(not status) eq …`.
        (RUNS, "not status eq 'running'", "invalidQueryOption", Some(0)),
        ("/beta/industryData/incomingFlows", "status eq 'failed'", "invalidQueryOption", Some(0)),
        ("/beta/industryData/outgoingFlows", "dataDomain eq 'educationRostering'", "invalidQueryOption", Some(0)),
    ] {
        let r = app.get(&format!("{collection}?$filter={}", enc(text))).await;
        assert_query_error(&r, "$filter", code, position);
        // The same filter on /$count is refused the same way.
        let r = app.get(&format!("{collection}/$count?$filter={}", enc(text))).await;
        assert_query_error(&r, "$filter", code, position);
    }
}

#[tokio::test]
async fn filter_limits() {
    let f = fixture().await;
    let app = &f.app;
    // Over 4 KiB.
    let long = format!("displayName eq '{}'", "x".repeat(4100));
    assert_query_error(&app.get(&format!("{RUNS}?$filter={}", enc(&long))).await, "$filter", "queryTooComplex", None);
    // Just under 4 KiB is fine.
    let ok = format!("displayName eq '{}'", "x".repeat(4000));
    app.get(&format!("{RUNS}?$filter={}", enc(&ok))).await.assert_status(200);
    // Nested deeper than 32 operator levels.
    let deep = format!("{}status eq 'failed'{}", "not (".repeat(33), ")".repeat(33));
    assert_query_error(&app.get(&format!("{RUNS}?$filter={}", enc(&deep))).await, "$filter", "queryTooComplex", None);
    let fine = format!("{}status eq 'failed'{}", "not (".repeat(30), ")".repeat(30));
    app.get(&format!("{RUNS}?$filter={}", enc(&fine))).await.assert_status(200);
    // Redundant parentheses do not count.
    let parens = format!("{}status eq 'failed'{}", "(".repeat(60), ")".repeat(60));
    assert_eq!(filtered(app, RUNS, &parens).await, sorted(&["nightly export", "Group one"]));
    // More than 256 nodes.
    let wide = vec!["status eq 'failed'"; 90].join(" or ");
    assert_query_error(&app.get(&format!("{RUNS}?$filter={}", enc(&wide))).await, "$filter", "queryTooComplex", None);
    let narrow = vec!["status eq 'failed'"; 40].join(" or ");
    app.get(&format!("{RUNS}?$filter={}", enc(&narrow))).await.assert_status(200);
}

#[tokio::test]
async fn option_names_and_unknown_options() {
    let f = fixture().await;
    let app = &f.app;
    // System options without `$` are accepted (Graph beta); `$` may be percent-encoded.
    assert_eq!(
        names(app, &format!("{RUNS}?filter={}", enc("status eq 'failed' and isof('microsoft.graph.industryData.runGroup')"))).await,
        ["Group one"]
    );
    assert_eq!(
        names(app, &format!("{RUNS}?%24filter={}&top=1&orderby=displayName", enc("status eq 'failed'"))).await,
        ["Group one", "nightly export"]
    );
    let r = app.get(&format!("{RUNS}?count=true&top=1")).await;
    r.assert_status(200);
    assert_eq!(r.json()["@odata.count"], 8);
    // Custom options are ignored.
    let r = app.get(&format!("{RUNS}?debug=1&x=$y&tenantHint")).await;
    r.assert_status(200);
    assert_eq!(r.json()["value"].as_array().unwrap().len(), 8);
    // Unknown `$` options and `$search` are 400s naming them.
    assert_query_error(&app.get(&format!("{RUNS}?$frobnicate=1")).await, "$frobnicate", "unknownQueryOption", None);
    assert_query_error(&app.get(&format!("{RUNS}?$Filter=x")).await, "$Filter", "unknownQueryOption", None);
    assert_query_error(&app.get(&format!("{RUNS}?$search=nightly")).await, "$search", "unsupportedQueryOption", None);
    assert_query_error(&app.get(&format!("{RUNS}?search=nightly")).await, "$search", "unsupportedQueryOption", None);
    assert_query_error(&app.get(&format!("{RUNS}?$apply=x")).await, "$apply", "unsupportedQueryOption", None);
    // Given twice.
    assert_query_error(&app.get(&format!("{RUNS}?$top=1&top=2")).await, "$top", "invalidQueryOption", None);
}

/// A stored string may hold any character, NUL included: the string functions see all of it
/// (SQLite's own length()/substr() stop at the first NUL).
#[tokio::test]
async fn string_functions_see_past_nul_characters() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    if app.postgres.is_some() {
        // PostgreSQL text cannot hold U+0000: its store refuses it as a 400 (README: Scaling out).
        let r = app.post(&format!("/beta/industryData/incomingFlows/{flow}/runs"), json!({"displayName": "a\u{0}bc"})).await;
        r.assert_error(400, "unsupportedCharacter");
        return;
    }
    app.run_of(&flow, json!({"displayName": "a\u{0}bc", "blockingError": {"code": "x\u{0}y"}})).await;
    app.run_of(&flow, json!({"displayName": "plain"})).await;
    for (text, want) in [
        ("endswith(displayName, 'c')", vec!["a\u{0}bc"]),
        ("endswith(displayName, 'bc')", vec!["a\u{0}bc"]),
        ("startswith(displayName, 'a\u{0}b')", vec!["a\u{0}bc"]),
        ("startswith(displayName, 'a')", vec!["a\u{0}bc"]),
        ("contains(displayName, 'b')", vec!["a\u{0}bc"]),
        ("contains(displayName, '\u{0}')", vec!["a\u{0}bc"]),
        ("endswith(blockingError/code, 'y')", vec!["a\u{0}bc"]),
        ("displayName eq 'a\u{0}bc'", vec!["a\u{0}bc"]),
        ("displayName eq 'a'", vec![]),
        ("toupper(displayName) eq 'A\u{0}BC'", vec!["a\u{0}bc"]),
        ("not endswith(displayName, 'c')", vec!["plain"]),
    ] {
        assert_eq!(filtered(&app, RUNS, text).await, sorted(&want), "$filter={text:?}");
    }
}
