//! The dashboard in a real browser: headless Chromium driven through chromedriver (WebDriver) against
//! the real `runhub` binary, with data put in through the API. Checks assert on what a person sees:
//! text, labels, roles. One browser session serves every check (starting Chromium is the slow part).
//!
//! Needs `chromium` and `chromium-driver` (Debian; `.ci/run` installs them). `RUNHUB_CHROMEDRIVER`
//! and `RUNHUB_CHROMIUM` name other binaries. With `RUNHUB_SCREENSHOTS=DIR` the test also saves a
//! screenshot of each view there (docs/screenshots/ is made that way).

#[path = "common/binary.rs"]
mod binary;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// Long enough for a loaded CI machine; every wait polls and returns as soon as the condition holds.
const PATIENCE: Duration = Duration::from_secs(20);
/// How soon a change made through the API must be on screen, without a reload.
const LIVE: Duration = Duration::from_secs(5);

/// Collects what would be a console error: console.error/warn calls, uncaught errors and rejected
/// promises, resources that failed to load, and Content-Security-Policy violations. Installed
/// before any page script runs, on every page load.
const HOOK: &str = r#"
window.__problems = [];
const note = (kind) => (...args) => window.__problems.push(kind + ': ' + args.map(String).join(' '));
const error = console.error.bind(console), warn = console.warn.bind(console);
console.error = (...a) => { note('console.error')(...a); error(...a); };
console.warn = (...a) => { note('console.warn')(...a); warn(...a); };
window.addEventListener('error', (e) => note('error')(e.message || (e.target && (e.target.src || e.target.href)) || 'resource failed'), true);
window.addEventListener('unhandledrejection', (e) => note('unhandledrejection')(e.reason && (e.reason.stack || e.reason)));
document.addEventListener('securitypolicyviolation', (e) => note('csp')(e.violatedDirective, e.blockedURI));
"#;

// ---- the browser ---------------------------------------------------------------------------------

struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A script that is true when the runs table has finished loading and shows `n` rows.
fn rows_are(n: usize) -> String {
    format!("return !document.querySelector('[aria-busy=true]') && document.querySelectorAll('table.runs tbody tr').length === {n}")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts chromedriver and a browser session; a start that fails (a port taken between choosing and
/// binding it, a browser that crashes while starting) is tried again, twice at most, and said.
async fn start_browser() -> (Driver, Client) {
    let mut failures = Vec::new();
    for _ in 0..3 {
        match try_start_browser().await {
            Ok(started) => return started,
            Err(e) => {
                eprintln!("starting the browser failed, trying again: {e}");
                failures.push(e);
            }
        }
    }
    panic!("could not start chromedriver and Chromium: {failures:?}");
}

async fn try_start_browser() -> Result<(Driver, Client), String> {
    let chromedriver = std::env::var("RUNHUB_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
    let port = free_port();
    let child = Command::new(&chromedriver)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {chromedriver} ({e}): install chromium and chromium-driver (see .ci/run)"));
    let driver = Driver(child);
    let url = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let deadline = Instant::now() + PATIENCE;
    while !http.get(format!("{url}/status")).send().await.is_ok_and(|r| r.status().is_success()) {
        if Instant::now() >= deadline {
            return Err(format!("chromedriver did not answer on {url}"));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut chrome = json!({
        "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1280,900", "--no-first-run", "--disable-extensions"],
    });
    let binary = std::env::var("RUNHUB_CHROMIUM")
        .ok()
        .or_else(|| std::path::Path::new("/usr/bin/chromium").exists().then(|| "/usr/bin/chromium".to_owned()));
    if let Some(binary) = binary {
        chrome["binary"] = json!(binary);
    }
    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("chrome"));
    caps.insert("goog:chromeOptions".into(), chrome);
    let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(caps)
        .connect(&url)
        .await
        .map_err(|e| format!("no session from chromedriver: {e}"))?;
    client
        .issue_cmd(Cdp("Page.addScriptToEvaluateOnNewDocument", json!({ "source": HOOK })))
        .await
        .map_err(|e| format!("the hook could not be installed: {e}"))?;
    Ok((driver, client))
}

/// A Chrome DevTools command through chromedriver's `goog/cdp/execute`.
#[derive(Debug)]
struct Cdp(&'static str, Value);

impl WebDriverCompatibleCommand for Cdp {
    fn endpoint(&self, base: &url::Url, session: Option<&str>) -> Result<url::Url, url::ParseError> {
        base.join(&format!("session/{}/goog/cdp/execute", session.unwrap_or_default()))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        (http::Method::POST, Some(json!({ "cmd": self.0, "params": self.1 }).to_string()))
    }
}

struct Page<'a> {
    client: &'a Client,
    base: String,
}

impl Page<'_> {
    async fn open(&self, path: &str) {
        self.client.goto(&format!("{}{path}", self.base)).await.unwrap();
    }

    async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap_or_else(|e| panic!("script failed ({e}): {script}"))
    }

    async fn text(&self) -> String {
        self.js("return document.body.innerText").await.as_str().unwrap_or_default().to_owned()
    }

    /// Polls `script` (which returns true when ready) until `limit`; panics with `what` and the page text.
    async fn wait_js(&self, what: &str, script: &str, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            if self.js(script).await == json!(true) {
                return;
            }
            if Instant::now() >= deadline {
                panic!("{what}: not within {limit:?}; the page says:\n{}", self.text().await);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_text(&self, needle: &str) {
        let script = format!("return document.body.innerText.includes({})", json!(needle));
        self.wait_js(&format!("the page should show {needle:?}"), &script, PATIENCE).await;
    }

    /// The form control a visible <label> with this text names (how a person finds it).
    async fn control(&self, label: &str) -> fantoccini::elements::Element {
        let script = format!(
            "const l = [...document.querySelectorAll('label')].find(l => l.textContent.trim() === {});
             return l && l.control && l.offsetParent !== null ? l.control.id : null",
            json!(label)
        );
        let id = self.js(&script).await;
        let id = id.as_str().unwrap_or_else(|| panic!("no visible control labelled {label:?}"));
        self.client.find(Locator::Id(id)).await.unwrap()
    }

    async fn button(&self, text: &str) -> fantoccini::elements::Element {
        let script = format!(
            "const b = [...document.querySelectorAll('button')].find(b => b.textContent.trim() === {});
             if (!b) return null; b.dataset.pick = String(Math.random()); return b.dataset.pick",
            json!(text)
        );
        let pick = self.js(&script).await;
        let pick = pick.as_str().unwrap_or_else(|| panic!("no button {text:?}"));
        self.client.find(Locator::Css(&format!("button[data-pick='{pick}']"))).await.unwrap()
    }

    /// The names of the runs the runs table shows.
    async fn run_names(&self) -> Vec<String> {
        let v = self.js("return [...document.querySelectorAll('table.runs tbody td.name')].map(td => td.innerText.trim())").await;
        serde_json::from_value(v).unwrap()
    }

    /// Nothing went wrong in this page so far: no console errors, no CSP violation, and every
    /// request stayed on the service's origin.
    async fn assert_clean(&self, step: &str) {
        let problems = self.js("return window.__problems || ['the hook is missing']").await;
        assert_eq!(problems, json!([]), "{step}: problems in the browser");
        let foreign = self
            .js("return performance.getEntriesByType('resource').map(e => e.name).filter(n => new URL(n).origin !== location.origin)")
            .await;
        assert_eq!(foreign, json!([]), "{step}: requests that left the origin");
    }

    async fn no_horizontal_scroll(&self, step: &str) {
        let v = self.js("return [document.documentElement.scrollWidth, window.innerWidth]").await;
        let (scroll, inner) = (v[0].as_i64().unwrap(), v[1].as_i64().unwrap());
        assert!(scroll <= inner, "{step}: the page scrolls sideways at {inner} px (content is {scroll} px wide)");
    }

    async fn screenshot(&self, name: &str) {
        if let Ok(dir) = std::env::var("RUNHUB_SCREENSHOTS") {
            std::fs::create_dir_all(&dir).unwrap();
            let png = self.client.screenshot().await.unwrap();
            std::fs::write(std::path::Path::new(&dir).join(format!("{name}.png")), png).unwrap();
        }
    }
}

// ---- the service and its data --------------------------------------------------------------------

struct Api {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Api {
    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let (status, v) = self.send(reqwest::Method::POST, path, Some(body)).await;
        assert!(status < 300, "POST {path}: {status} {v}");
        v
    }

    async fn patch(&self, path: &str, body: Value) -> Value {
        let (status, v) = self.send(reqwest::Method::PATCH, path, Some(body)).await;
        assert!(status < 300, "PATCH {path}: {status} {v}");
        v
    }

    async fn flow(&self, set: &str, name: &str) -> Value {
        self.post(&format!("/beta/industryData/{set}"), json!({"displayName": name, "readinessStatus": "ready"})).await
    }

    async fn run(&self, flow: &Value, body: Value) -> Value {
        let set = if flow["@odata.type"].as_str().unwrap().ends_with("incomingFlow") { "incomingFlows" } else { "outgoingFlows" };
        self.post(&format!("/beta/industryData/{set}/{}/runs", flow["id"].as_str().unwrap()), body).await
    }
}

fn ago(minutes: i64) -> String {
    let t = std::time::SystemTime::now() - Duration::from_secs(minutes as u64 * 60);
    let secs = t.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    // RFC 3339 in UTC without a date library: days since the epoch → civil date.
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

struct Seeded {
    failed: Value,
    group: Value,
    names: Vec<String>,
}

/// Ten runs in the last day over three flows, one run group with three members (one failed, one
/// with warnings), and one run four days old (outside the default timeline range).
async fn seed(api: &Api) -> Seeded {
    let sis = api.flow("incomingFlows", "SIS roster").await;
    let hr = api.flow("incomingFlows", "HR import").await;
    let export = api.flow("outgoingFlows", "Gradebook export").await;
    let mut names = Vec::new();
    let mut failed = Value::Null;
    for i in 0..6 {
        let flow = [&sis, &hr, &export][i % 3];
        let status = ["completed", "completedWithWarnings", "failed", "completed", "completedWithErrors", "completed"][i];
        let name = format!("alpha {} {i}", flow["displayName"].as_str().unwrap());
        let mut body = json!({
            "displayName": name, "status": status,
            "startDateTime": ago(600 - i as i64 * 60), "endDateTime": ago(590 - i as i64 * 60),
            "statistics": {"people": 1200 + i, "groups": {"created": 7, "deleted": 1}},
        });
        if status == "failed" {
            body["blockingError"] = json!({"code": "sourceUnavailable", "message": "The SIS answered 503 for ten minutes"});
        }
        let run = api.run(flow, body).await;
        if status == "failed" {
            failed = run;
        }
        names.push(name);
    }
    names.push(
        api.run(&sis, json!({"displayName": "beta nightly running", "startDateTime": ago(30)})).await["displayName"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    let group = api.post("/beta/industryData/runGroups", json!({"displayName": "Weekend sync", "startDateTime": ago(200)})).await;
    let gid = group["id"].as_str().unwrap();
    for (flow, name, status) in
        [(&sis, "member roster", "completed"), (&hr, "member staff", "failed"), (&sis, "member classes", "completedWithWarnings")]
    {
        let run = api
            .post(
                &format!("/beta/industryData/runGroups/{gid}/runs"),
                json!({
                    "@odata.type": "#microsoft.graph.industryData.incomingFlowRun",
                    "process@odata.bind": format!("{}/beta/industryData/incomingFlows/{}", api.base, flow["id"].as_str().unwrap()),
                    "displayName": name, "startDateTime": ago(190),
                }),
            )
            .await;
        let mut patch = json!({"status": status});
        if status != "completed" {
            patch["blockingError"] = json!({"code": "rowsRejected", "message": format!("{name}: 12 rows had no school id")});
        }
        api.patch(&format!("/beta/industryData/runs/{}", run["id"].as_str().unwrap()), patch).await;
        names.push(name.to_owned());
    }
    names.push("Weekend sync".into());
    // Outside the last 24 hours.
    api.run(
        &hr,
        json!({"displayName": "old import", "status": "completed", "startDateTime": ago(4 * 1440), "endDateTime": ago(4 * 1440 - 5)}),
    )
    .await;
    Seeded { failed, group, names }
}

// ---- the checks ----------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_in_a_browser() {
    let data = tempfile::tempdir().unwrap();
    let server = binary::spawn(&["--data-dir", data.path().to_str().unwrap(), "--schedule-interval", "0"], &[]);
    let api = Api { http: reqwest::Client::new(), base: server.base.clone(), token: None };
    let seeded = seed(&api).await;
    let (_driver, client) = start_browser().await;
    let page = Page { client: &client, base: server.base.clone() };

    runs_view_lists_filters_and_keeps_filters_in_the_url(&page, &seeded).await;
    a_bad_filter_in_the_url_shows_the_services_message(&page, &api).await;
    run_page_shows_statistics_error_and_etag(&page, &seeded).await;
    group_page_shows_members_and_the_csv(&page, &seeded).await;
    timeline_draws_one_shape_per_run_in_range(&page).await;
    processes_and_published_views(&page).await;
    live_changes_appear_without_reload(&page, &api).await;
    narrow_screen_has_no_horizontal_scroll(&page, &seeded).await;
    page.client.set_window_size(1280, 900).await.unwrap();

    let secret_dir = tempfile::tempdir().unwrap();
    tokens_under_auth_jwt(&page, &secret_dir).await;

    client.close().await.unwrap();
}

async fn runs_view_lists_filters_and_keeps_filters_in_the_url(page: &Page<'_>, seeded: &Seeded) {
    page.open("/").await;
    page.wait_js("the runs table", &rows_are(12), PATIENCE).await;
    let mut shown = page.run_names().await;
    shown.sort();
    let mut want = seeded.names.clone();
    want.push("old import".into());
    want.sort();
    assert_eq!(shown, want, "the runs view lists every run");
    let text = page.text().await;
    for words in ["Failed", "Completed with warnings", "Running", "SIS roster", "Group", "Outgoing"] {
        assert!(text.contains(words), "the runs view shows {words:?}");
    }
    // Every control is named by a visible label (or, for buttons, its text).
    let unlabelled = page
        .js("return [...document.querySelectorAll('main input, main select, main textarea')]
              .filter(c => !c.labels || !c.labels.length || !c.labels[0].innerText.trim()).map(c => c.outerHTML)
              .concat([...document.querySelectorAll('button')].filter(b => !b.innerText.trim()).map(b => b.outerHTML))")
        .await;
    assert_eq!(unlabelled, json!([]), "controls without a visible label");
    page.screenshot("runs").await;

    // Status: failed → only the failed runs (one alone, a group member and so its group).
    page.control("Status").await.select_by_value("failed").await.unwrap();
    page.wait_js(
        "only failed runs",
        "const s = [...document.querySelectorAll('table.runs tbody tr td:first-child')].map(td => td.innerText.trim());
         return !document.querySelector('[aria-busy=true]') && s.length === 3 && s.every(t => t.includes('Failed'))",
        PATIENCE,
    )
    .await;
    // Name contains "alpha" (typed, as a person would) narrows to the one failed alpha run.
    page.control("Name contains").await.send_keys("ALPHA").await.unwrap();
    page.wait_js("failed alpha runs", &rows_are(1), PATIENCE).await;
    assert_eq!(page.run_names().await, vec![seeded.failed["displayName"].as_str().unwrap().to_owned()]);
    let url = page.client.current_url().await.unwrap();
    assert!(url.query().unwrap_or_default().contains("status=failed") && url.query().unwrap().contains("name=ALPHA"), "{url}");
    page.assert_clean("filters").await;

    // A reload restores the filters and the narrowed list.
    page.client.refresh().await.unwrap();
    page.wait_js("the reloaded list", &rows_are(1), PATIENCE).await;
    assert_eq!(page.control("Status").await.prop("value").await.unwrap().as_deref(), Some("failed"));
    assert_eq!(page.control("Name contains").await.prop("value").await.unwrap().as_deref(), Some("ALPHA"));

    // Kind: groups only; sorting by name ascending.
    page.button("Clear filters").await.click().await.unwrap();
    page.wait_js("every run again", &rows_are(12), PATIENCE).await;
    page.control("Kind").await.select_by_value("runGroup").await.unwrap();
    page.wait_js("groups only", &rows_are(1), PATIENCE).await;
    assert_eq!(page.run_names().await, vec!["Weekend sync".to_owned()]);
    page.button("Clear filters").await.click().await.unwrap();
    page.wait_js("every run again", &rows_are(12), PATIENCE).await;
    page.js("[...document.querySelectorAll('button.sort')].find(b => b.innerText.startsWith('Name')).click()").await;
    page.wait_js(
        "sorted by name",
        "const n = [...document.querySelectorAll('table.runs tbody td.name')].map(td => td.innerText.trim());
         return !document.querySelector('[aria-busy=true]') && n.length === 12 && n.every((x, i) => i === 0 || n[i - 1] <= x) && location.search.includes('displayName')",
        PATIENCE,
    )
    .await;
    page.assert_clean("runs view").await;
}

async fn a_bad_filter_in_the_url_shows_the_services_message(page: &Page<'_>, api: &Api) {
    let (status, body) = api.send(reqwest::Method::GET, "/beta/industryData/runs?$filter=status%20eq%20'bogus'", None).await;
    assert_eq!(status, 400);
    let message = body["error"]["message"].as_str().unwrap().to_owned();
    page.open("/runs?status=bogus").await;
    page.wait_text(&message).await;
    page.wait_text("Could not load the runs").await;
    let alert = page.js("return document.querySelector('[role=alert]') !== null").await;
    assert_eq!(alert, json!(true), "the error is announced as an alert");
}

async fn run_page_shows_statistics_error_and_etag(page: &Page<'_>, seeded: &Seeded) {
    let id = seeded.failed["id"].as_str().unwrap();
    // By keyboard: from the runs list, Enter on a run's link opens its page.
    page.open("/runs").await;
    page.wait_js("the runs table", &rows_are(12), PATIENCE).await;
    page.js(&format!("document.querySelector('tr[data-id=\"{id}\"] td.name a').focus()")).await;
    page.client.active_element().await.unwrap().send_keys("\u{E007}").await.unwrap();
    page.wait_text("sourceUnavailable").await;
    let text = page.text().await;
    for words in [
        "The SIS answered 503 for ten minutes",
        "groups.created",
        "people",
        "1,202",
        "\"created\": 7",
        "Raw JSON",
        seeded.failed["displayName"].as_str().unwrap(),
        id,
        seeded.failed["@odata.etag"].as_str().unwrap(),
        "Gradebook export",
        "Failed",
    ] {
        assert!(text.to_lowercase().contains(&words.to_lowercase()), "the run page shows {words:?}:\n{text}");
    }
    page.screenshot("run").await;
    page.assert_clean("run page").await;
}

async fn group_page_shows_members_and_the_csv(page: &Page<'_>, seeded: &Seeded) {
    page.open(&format!("/runs/{}", seeded.group["id"].as_str().unwrap())).await;
    page.wait_text("member classes").await;
    let text = page.text().await;
    for words in ["member roster", "member staff", "Member runs", "3 member runs", "Completed with warnings"] {
        assert!(text.contains(words), "the group page shows {words:?}:\n{text}");
    }
    page.button("Download errors and warnings (CSV)").await.click().await.unwrap();
    page.wait_text("Downloaded the CSV: 2 member runs with errors or warnings").await;
    let csv = page.js("return document.querySelector('.csv pre').textContent").await;
    let csv = csv.as_str().unwrap();
    assert!(csv.starts_with("runId,displayName,status,errorCode,errorMessage"), "{csv}");
    assert!(csv.contains("member staff: 12 rows had no school id"), "{csv}");
    page.screenshot("group").await;
    page.assert_clean("group page").await;
}

async fn timeline_draws_one_shape_per_run_in_range(page: &Page<'_>) {
    page.open("/timeline").await;
    // Eleven runs touch the last 24 hours (the four-day-old one does not).
    page.wait_js("the timeline's bars", "return document.querySelectorAll('svg rect.bar').length === 11", PATIENCE).await;
    let labelled = page.js("return [...document.querySelectorAll('svg a.bar-link')].every(a => a.getAttribute('aria-label'))").await;
    assert_eq!(labelled, json!(true), "each bar is a labelled link");
    let text = page.text().await;
    for words in ["SIS roster", "HR import", "Gradebook export", "Run groups"] {
        assert!(text.contains(words), "the timeline has a row {words:?}");
    }
    page.screenshot("timeline").await;
    // Zoomed out to a week, the old run is drawn too.
    page.button("Zoom out").await.click().await.unwrap();
    page.button("Zoom out").await.click().await.unwrap();
    page.wait_js(
        "a week",
        "return document.querySelectorAll('svg rect.bar').length === 12 && location.search.includes('range=7d')",
        PATIENCE,
    )
    .await;
    page.assert_clean("timeline").await;
}

async fn processes_and_published_views(page: &Page<'_>) {
    page.open("/processes").await;
    page.wait_text("Gradebook export").await;
    let text = page.text().await;
    for words in ["SIS roster", "HR import", "Readiness", "ready", "Always", "Last run"] {
        assert!(text.contains(words), "the processes view shows {words:?}");
    }
    page.screenshot("processes").await;
    let runs_before = page.js("return document.querySelectorAll('.history li').length").await;
    page.client.find(Locator::Css("button[aria-label='Run HR import now']")).await.unwrap().click().await.unwrap();
    page.wait_text("Started: see the run").await;
    page.wait_js(
        "the new run in the history",
        &format!("return document.querySelectorAll('.history li').length === {} + 1", runs_before),
        PATIENCE,
    )
    .await;
    page.assert_clean("processes").await;

    page.open("/published").await;
    page.wait_text("Weekend sync").await;
    let text = page.text().await;
    for words in ["member staff", "rowsRejected", "3 activities", "Inbound"] {
        assert!(text.contains(words), "the published view shows {words:?}:\n{text}");
    }
    page.screenshot("published").await;
    page.assert_clean("published").await;
}

async fn live_changes_appear_without_reload(page: &Page<'_>, api: &Api) {
    page.open("/runs").await;
    page.wait_js("the runs table", "return document.querySelectorAll('table.runs tbody tr').length > 0", PATIENCE).await;
    // The page follows the runs' change stream (not the periodic re-read it falls back to).
    page.wait_js("the live stream", "return document.querySelector('.live').innerText.trim() === 'Live'", PATIENCE).await;
    page.js("window.__sameDocument = true").await;
    let (_, flows) =
        api.send(reqwest::Method::GET, "/beta/industryData/incomingFlows?$filter=displayName%20eq%20'SIS%20roster'", None).await;
    let run = api.run(&flows["value"][0], json!({"displayName": "live arrival"})).await;
    let id = run["id"].as_str().unwrap();
    let row = format!("document.querySelector('tr[data-id=\"{id}\"]')");
    let started = Instant::now();
    page.wait_js("the new run, live", &format!("return !!{row} && {row}.innerText.includes('Running')"), LIVE).await;
    println!("a new run appeared after {:?}", started.elapsed());
    api.patch(&format!("/beta/industryData/runs/{id}"), json!({"status": "completedWithErrors"})).await;
    let started = Instant::now();
    page.wait_js("the finished status, live", &format!("return !!{row} && {row}.innerText.includes('Completed with errors')"), LIVE).await;
    println!("its new status appeared after {:?}", started.elapsed());
    assert_eq!(page.js("return window.__sameDocument === true").await, json!(true), "the page was not reloaded");
    page.assert_clean("live").await;
}

async fn narrow_screen_has_no_horizontal_scroll(page: &Page<'_>, seeded: &Seeded) {
    page.client.set_window_size(390, 844).await.unwrap();
    let width = page.js("return window.innerWidth").await.as_i64().unwrap();
    assert!(width <= 400, "the window should be narrow, is {width} px");
    let group = format!("/runs/{}", seeded.group["id"].as_str().unwrap());
    let failed = format!("/runs/{}", seeded.failed["id"].as_str().unwrap());
    for (path, ready) in [
        ("/runs", "Weekend sync"),
        (failed.as_str(), "sourceUnavailable"),
        (group.as_str(), "member classes"),
        ("/processes", "Gradebook export"),
        ("/timeline", "Run groups"),
        ("/published", "member staff"),
    ] {
        page.open(path).await;
        page.wait_text(ready).await;
        page.no_horizontal_scroll(path).await;
        if path == "/runs" {
            page.screenshot("runs-narrow").await;
        }
    }
    page.assert_clean("narrow").await;
}

async fn tokens_under_auth_jwt(page: &Page<'_>, dir: &tempfile::TempDir) {
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "a-test-secret-of-at-least-thirty-two-bytes").unwrap();
    let secret = secret.to_str().unwrap();
    let data = dir.path().join("data");
    let server = binary::spawn(
        &["--data-dir", data.to_str().unwrap(), "--auth", "jwt", "--jwt-secret-file", secret, "--schedule-interval", "0"],
        &[],
    );
    let mint = |extra: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_runhub"))
            .args(["token", "--jwt-secret-file", secret, "--tenant", "contoso"])
            .args(extra)
            .env_remove("RUNHUB_JWT_SECRET_FILE")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let full = mint(&[]);
    let api = Api { http: reqwest::Client::new(), base: server.base.clone(), token: Some(full.clone()) };
    let flow = api.flow("incomingFlows", "Tenant roster").await;
    api.run(&flow, json!({"displayName": "contoso's run"})).await;

    let page = Page { client: page.client, base: server.base.clone() };
    page.open("/runs").await;
    page.wait_text("Sign-in needed").await;
    page.wait_text("Bearer token").await;
    page.screenshot("token").await;
    page.control("Token").await.send_keys(&full).await.unwrap();
    page.button("Use this token").await.click().await.unwrap();
    page.wait_text("contoso's run").await;
    page.wait_text("Token: contoso").await;
    let url = page.client.current_url().await.unwrap().to_string();
    assert!(!url.contains(&full[..20]), "the token is never in the URL: {url}");
    let stored = page.js("return sessionStorage.getItem('runhub.token')").await;
    assert_eq!(stored, json!(full), "the token is kept in sessionStorage");
    page.assert_clean("token").await;

    // A token that may read runs but not flows: the processes view says so in words.
    page.js(&format!("sessionStorage.setItem('runhub.token', {})", json!(mint(&["--scopes", "IndustryData-Run.Read.All"])))).await;
    page.open("/processes").await;
    page.wait_text("Not allowed with this token").await;
    // One that may read flows but not start runs: no Run now, and the reason.
    let reader = mint(&["--scopes", "IndustryData-Run.Read.All,IndustryData-InboundFlow.Read.All"]);
    page.js(&format!("sessionStorage.setItem('runhub.token', {})", json!(reader))).await;
    page.open("/processes").await;
    page.wait_text("Your token cannot start runs").await;
    let run_now = page.js("return [...document.querySelectorAll('button')].some(b => b.innerText.trim() === 'Run now')").await;
    assert_eq!(run_now, json!(false), "no Run now button without the permission");
    page.js("sessionStorage.clear()").await;
}

// ---- speed (measured, printed, never asserted) ---------------------------------------------------

/// First paint of the runs view over a large store and of a 24-hour timeline of 2,000 runs, as the
/// browser's Performance API reports them. The large store is made with the bulk path beforehand:
/// `cargo run --release -p runhub-store --example bulk_load -- DIR 1000000 1000`, then
/// `RUNHUB_DASHBOARD_BULK_DIR=DIR cargo test --release --test dashboard -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement; run it explicitly (docs/dashboard.md, Speed)"]
async fn dashboard_speed() {
    use futures::StreamExt;
    let (_driver, client) = start_browser().await;

    if let Ok(dir) = std::env::var("RUNHUB_DASHBOARD_BULK_DIR") {
        let server = binary::spawn(&["--data-dir", &dir, "--schedule-interval", "0"], &[]);
        let page = Page { client: &client, base: server.base.clone() };
        let (_, count) = Api { http: reqwest::Client::new(), base: server.base.clone(), token: None }
            .send(reqwest::Method::GET, "/beta/industryData/runs/$count", None)
            .await;
        println!("runs stored: {count}");
        for path in ["/runs", "/runs", "/runs?status=failed", "/runs?sort=displayName%20asc", "/runs?name=nightly"] {
            page.open(path).await;
            page.wait_js("rows", "return performance.getEntriesByName('runhub:runs-shown').length === 1", Duration::from_secs(120)).await;
            let m = page
                .js("const fcp = performance.getEntriesByName('first-contentful-paint')[0];
                     const api = performance.getEntriesByType('resource').find(e => e.name.includes('/beta/industryData/runs?'));
                     return [fcp ? fcp.startTime : null, performance.getEntriesByName('runhub:runs-shown')[0].startTime, api ? api.duration : null]")
                .await;
            println!(
                "runs view {path}: first contentful paint {:.0} ms, rows on screen {:.0} ms, the list request {:.0} ms",
                num(&m[0]),
                num(&m[1]),
                num(&m[2])
            );
        }
    } else {
        println!("RUNHUB_DASHBOARD_BULK_DIR is not set: the runs view over a large store is not measured");
    }

    let data = tempfile::tempdir().unwrap();
    let server = binary::spawn(&["--data-dir", data.path().to_str().unwrap(), "--schedule-interval", "0"], &[]);
    let api = Api { http: reqwest::Client::new(), base: server.base.clone(), token: None };
    let mut flows = Vec::new();
    for i in 0..20 {
        flows.push(api.flow("incomingFlows", &format!("flow {i:02}")).await);
    }
    let statuses = ["completed", "completed", "completed", "failed", "completedWithWarnings", "completedWithErrors"];
    futures::stream::iter(0..2000usize)
        .map(|i| {
            let (api, flow) = (&api, &flows[i % flows.len()]);
            async move {
                let start = 1440 - (i as i64 * 1430 / 2000);
                let body = if i % 50 == 0 {
                    json!({"displayName": format!("run {i}"), "startDateTime": ago(start)})
                } else {
                    json!({"displayName": format!("run {i}"), "status": statuses[i % statuses.len()],
                           "startDateTime": ago(start), "endDateTime": ago(start - 1 - (i as i64 % 7))})
                };
                api.run(flow, body).await;
            }
        })
        .buffer_unordered(16)
        .collect::<Vec<_>>()
        .await;
    let page = Page { client: &client, base: server.base.clone() };
    for _ in 0..2 {
        page.open("/timeline").await;
        page.wait_js("2,000 bars", "return document.querySelectorAll('svg rect.bar').length === 2000", Duration::from_secs(120)).await;
        let m = page
            .js("const fcp = performance.getEntriesByName('first-contentful-paint')[0];
                 const api = performance.getEntriesByType('resource').filter(e => e.name.includes('/beta/industryData/runs?'));
                 return [fcp ? fcp.startTime : null, performance.getEntriesByName('runhub:timeline-shown')[0].startTime,
                         api.reduce((s, e) => s + e.duration, 0), api.length]")
            .await;
        println!(
            "timeline of 24 h with 2,000 runs: first contentful paint {:.0} ms, chart on screen {:.0} ms, {} list requests {:.0} ms in all",
            num(&m[0]),
            num(&m[1]),
            m[3],
            num(&m[2])
        );
    }
    client.close().await.unwrap();
}

fn num(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}
