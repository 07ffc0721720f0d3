//! String semantics that must not depend on the store: comparison and ordering by code
//! point, case-sensitive functions, and tolower/toupper over all of Unicode. The suite runs on
//! SQLite and PostgreSQL alike (`RUNHUB_TEST_STORE`).

use serde_json::json;

use crate::helpers::TestApp;

async fn names(app: &TestApp, query: &str) -> Vec<String> {
    let r = app.get(&format!("/beta/industryData/incomingFlows?{query}")).await;
    r.assert_status(200);
    r.json()["value"].as_array().unwrap().iter().map(|f| f["displayName"].as_str().unwrap().to_owned()).collect()
}

async fn flows(app: &TestApp, names: &[&str]) {
    for name in names {
        app.incoming_flow_with(json!({"displayName": name, "readinessStatus": "ready"})).await;
    }
}

#[tokio::test]
async fn text_orders_and_compares_by_code_point() {
    let app = TestApp::spawn().await;
    flows(&app, &["b", "B", "a", "é", "Z", "_x", "ä"]).await;
    assert_eq!(names(&app, "$orderby=displayName").await, ["B", "Z", "_x", "a", "b", "ä", "é"]);
    assert_eq!(names(&app, "$filter=displayName lt 'a'").await, ["B", "Z", "_x"]);
    assert_eq!(names(&app, "$filter=displayName gt 'b'").await, ["ä", "é"]);
    // Case-sensitive unless asked otherwise.
    assert_eq!(names(&app, "$filter=startswith(displayName,'b')").await, ["b"]);
    assert_eq!(names(&app, "$filter=contains(displayName,'X')").await, Vec::<String>::new());
    // Two literals compare by code point too.
    assert_eq!(names(&app, "$filter='Z' lt 'a' and displayName eq 'a'").await, ["a"]);
}

#[tokio::test]
async fn tolower_and_toupper_fold_all_of_unicode() {
    let app = TestApp::spawn().await;
    flows(&app, &["ÀB", "àb", "ΟΔΟΣ", "Straße", "İstanbul", "plain"]).await;
    let by = |q: &str| format!("$filter={}&$orderby=displayName", q);
    assert_eq!(names(&app, &by("tolower(displayName) eq 'àb'")).await, ["ÀB", "àb"]);
    assert_eq!(names(&app, &by("toupper(displayName) eq 'ÀB'")).await, ["ÀB", "àb"]);
    // Greek final sigma, German sharp s → SS, dotted capital I → i + combining dot.
    assert_eq!(names(&app, &by("tolower(displayName) eq 'οδος'")).await, ["ΟΔΟΣ"]);
    assert_eq!(names(&app, &by("toupper(displayName) eq 'STRASSE'")).await, ["Straße"]);
    assert_eq!(names(&app, &by("tolower(displayName) eq 'i\u{307}stanbul'")).await, ["İstanbul"]);
    // The folded value still compares (and the list still orders) by code point.
    assert_eq!(names(&app, &by("startswith(tolower(displayName),'st')")).await, ["Straße"]);
    assert_eq!(names(&app, &by("tolower(displayName) gt 'p'")).await, ["Straße", "plain", "ÀB", "àb", "ΟΔΟΣ"]);
}
