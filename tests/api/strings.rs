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

/// `s` percent-encoded for a query string.
fn encoded(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

/// Every substring filter over `names` (the runs there are) answers what Rust's string functions say.
async fn check_substrings(app: &TestApp, names: &[String]) {
    let needles = [
        "alpha",
        "Alpha",
        "pha",
        "bet",
        "run",
        "über",
        "raß",
        "本語テ",
        "🎉 p",
        "'b'",
        "0% ",
        "r_s",
        "k\\s",
        "e\"d",
        "byte",
        "ab",
        "a",
        "zzz",
        "%",
        "_",
        "\\",
        "omeg",
    ];
    for needle in needles {
        for func in ["contains", "startswith", "endswith"] {
            let mut expected: Vec<&String> = names
                .iter()
                .filter(|n| match func {
                    "contains" => n.contains(needle),
                    "startswith" => n.starts_with(needle),
                    _ => n.ends_with(needle),
                })
                .collect();
            expected.sort();
            let filter = format!("{func}(displayName,'{}')", needle.replace('\'', "''"));
            let r = app.get(&format!("/beta/industryData/runs?$top=999&$count=true&$filter={}", encoded(&filter))).await;
            r.assert_status(200);
            let body = r.json();
            let mut got: Vec<String> =
                body["value"].as_array().unwrap().iter().map(|v| v["displayName"].as_str().unwrap().to_owned()).collect();
            got.sort();
            assert_eq!(got.iter().collect::<Vec<_>>(), expected, "{filter}");
            assert_eq!(body["@odata.count"], expected.len(), "{filter}");
            let not = format!("not {filter}");
            let r = app.get(&format!("/beta/industryData/runs/$count?$filter={}", encoded(&not))).await;
            assert_eq!(r.text, (names.len() - expected.len()).to_string(), "{not}");
        }
    }
}

/// Substring filters on run names answer exactly what the string functions say, whether the store
/// finds candidates through its trigram index (needles of 3+ characters) or tests every run; and
/// the index follows renames and deletes.
#[tokio::test]
async fn substring_filters_on_run_names_are_exact() {
    let app = TestApp::spawn().await;
    let flow = app.incoming_flow("f").await;
    let mut names = vec![
        "alphabet",
        "Alphabet",
        "the alpha run",
        "über-run",
        "straße",
        "日本語テキスト",
        "emoji 🎉 party",
        "a'b'c",
        "100% done",
        "under_score",
        "back\\slash",
        "quote\"d",
        "ab",
    ];
    if app.postgres.is_none() {
        names.push("nul\u{0}byte");
    }
    let mut ids = std::collections::HashMap::new();
    for name in &names {
        let run = app.run_of(&flow, json!({"displayName": name})).await;
        ids.insert(name.to_string(), run["id"].as_str().unwrap().to_owned());
    }
    check_substrings(&app, &names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).await;
    // A rename and a delete reach the index.
    app.patch(&format!("/beta/industryData/runs/{}", ids["alphabet"]), json!({"displayName": "omega"})).await.assert_status(200);
    app.delete(&format!("/beta/industryData/runs/{}", ids["the alpha run"])).await.assert_status(204);
    let now: Vec<String> = names
        .iter()
        .filter(|n| **n != "the alpha run")
        .map(|n| if *n == "alphabet" { "omega".to_owned() } else { n.to_string() })
        .collect();
    check_substrings(&app, &now).await;
}
