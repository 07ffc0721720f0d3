//! `runhub runs watch`: changes to runs as they happen, from the service's live stream
//! (`GET …/runs/delta` with `Accept: text/event-stream`), or by polling when it offers none.

use std::collections::HashMap;
use std::pin::Pin;
use std::time::Duration;

use chrono::Utc;
use eventsource_stream::{Event, Eventsource};
use futures_util::{Stream, StreamExt};
use reqwest::header::CONTENT_TYPE;
use serde_json::Value;
use url::Url;

use crate::client::{Conn, Error, Result};
use crate::format::{self, outln};
use crate::runs::WatchArgs;

type Events = Pin<Box<dyn Stream<Item = std::result::Result<Event, String>> + Send>>;

/// Pauses between reconnections of a dropped stream.
const RECONNECT_PAUSES: [Duration; 4] =
    [Duration::from_millis(200), Duration::from_secs(1), Duration::from_secs(2), Duration::from_secs(5)];

pub async fn run(conn: &Conn, args: WatchArgs) -> Result<u8> {
    match args.id {
        Some(id) => follow(conn, &id, args.exit_status, args.poll_interval).await,
        None => all(conn, args.poll_interval).await,
    }
}

/// The live stream, from `url` (a delta URL, with or without a token), resuming after
/// `last_event_id` when given. None when the service does not offer a stream there.
async fn open_stream(conn: &Conn, url: Url, last_event_id: Option<&str>) -> Result<Option<Events>> {
    let mut request = conn.stream_request(url);
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id);
    }
    let response = conn.send_raw(request).await?;
    let is_stream = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/event-stream"));
    if !response.status().is_success() || !is_stream {
        return Ok(None);
    }
    Ok(Some(Box::pin(response.bytes_stream().eventsource().map(|e| e.map_err(|e| e.to_string())))))
}

/// A deltaLink for "from now on", so that nothing between reading a run and opening the stream is
/// missed. None when the service has no delta (then there is no stream either).
async fn latest_link(conn: &Conn) -> Result<Option<Url>> {
    let url = conn.url_with(&["industryData", "runs", "delta"], &[("$deltatoken", "latest".to_owned())]);
    match conn.get_json(url).await {
        Ok(reply) => match reply.get("@odata.deltaLink").and_then(Value::as_str) {
            Some(link) => Ok(Some(conn.resolve(link)?)),
            None => Ok(None),
        },
        Err(e) if e.is_unreachable() => Err(e),
        Err(_) => Ok(None),
    }
}

fn clock() -> String {
    chrono::Local::now().format("%H:%M:%S").to_string()
}

fn is_terminal(status: &str) -> bool {
    matches!(status, "failed" | "completed" | "completedWithErrors" | "completedWithWarnings")
}

/// The exit status `--exit-status` gives a finished run.
fn outcome(status: &str) -> u8 {
    match status {
        "failed" => crate::EXIT_RUN_FAILED,
        "completedWithErrors" => crate::EXIT_RUN_COMPLETED_WITH_ERRORS,
        _ => 0,
    }
}

/// One line for the state of the followed run.
fn describe(run: &Value) -> String {
    let status = format::str_of(run, "status");
    let (started, took) = format::run_times(run, Utc::now());
    let mut line = format!("{}  {}  {}", format::dim(&clock()), format::status(status), format::str_of(run, "displayName"));
    if is_terminal(status) {
        line.push_str(&format!("  after {took}"));
    } else {
        line.push_str(&format!("  started {started}"));
    }
    if let Some(Value::Object(statistics)) = run.get("statistics") {
        let shown: serde_json::Map<String, Value> =
            statistics.iter().filter(|(k, _)| !k.starts_with('@')).map(|(k, v)| (k.clone(), v.clone())).collect();
        if !shown.is_empty() {
            line.push_str(&format!("  {}", format::dim(&Value::Object(shown).to_string())));
        }
    }
    if let Some(error) = run.get("blockingError").filter(|e| !e.is_null()) {
        line.push_str(&format!("\n          {}: {}", format::str_of(error, "code"), format::str_of(error, "message").trim_end()));
    }
    line
}

/// Follows one run until it ends.
async fn follow(conn: &Conn, id: &str, exit_status: bool, interval: Duration) -> Result<u8> {
    let start = latest_link(conn).await?;
    let run_url = conn.url(&["industryData", "runs", id]);
    let mut run = conn.get_json(run_url.clone()).await?;
    outln(&describe(&run))?;
    let finished = |run: &Value| {
        let status = format::str_of(run, "status");
        is_terminal(status).then(|| if exit_status { outcome(status) } else { 0 })
    };
    if let Some(code) = finished(&run) {
        return Ok(code);
    }

    let mut last_event_id: Option<String> = None;
    let mut pauses = RECONNECT_PAUSES.iter().copied();
    let mut stream_from = start;
    while let Some(from) = stream_from.clone() {
        // After an event, resume from it on the plain delta URL; before any, from the start link.
        let (url, resume) = match &last_event_id {
            Some(event_id) => (conn.url(&["industryData", "runs", "delta"]), Some(event_id.as_str())),
            None => (from, None),
        };
        let Some(mut events) = open_stream(conn, url, resume).await? else {
            stream_from = None;
            break;
        };
        while let Some(Ok(event)) = events.next().await {
            pauses = RECONNECT_PAUSES.iter().copied();
            if !event.id.is_empty() {
                last_event_id = Some(event.id.clone());
            }
            if event.event != "change" {
                continue;
            }
            let Ok(item) = serde_json::from_str::<Value>(&event.data) else { continue };
            if format::str_of(&item, "id") != id {
                continue;
            }
            if item.get("@removed").is_some() {
                outln(&format!("{}  {}", format::dim(&clock()), format::status("deleted")))?;
                return Err(Error::other(format!("run {id} was deleted while being watched")));
            }
            if item.get("@odata.etag") != run.get("@odata.etag") {
                outln(&describe(&item))?;
            }
            run = item;
            if let Some(code) = finished(&run) {
                return Ok(code);
            }
        }
        // The stream ended (the server restarted, a proxy cut it): reconnect after a pause.
        tokio::time::sleep(pauses.next().unwrap_or(Duration::from_secs(5))).await;
    }
    if stream_from.is_none() {
        format::note(&format!("the server offers no live stream; polling every {}", humantime::format_duration(interval)));
    }
    loop {
        tokio::time::sleep(interval).await;
        let now = conn.get_json(run_url.clone()).await?;
        if now.get("@odata.etag") != run.get("@odata.etag") {
            outln(&describe(&now))?;
        }
        run = now;
        if let Some(code) = finished(&run) {
            return Ok(code);
        }
    }
}

/// One line for a change to any run.
fn change_line(item: &Value) -> String {
    let id = format::str_of(item, "id");
    if item.get("@removed").is_some() {
        return format!("{}  {:<21}  {:<8}  {id}", format::dim(&clock()), format::status("deleted"), format::kind(item));
    }
    let status = format::str_of(item, "status");
    // Pad before painting: the escape codes have no width.
    let padded = format!("{status:<21}");
    format!(
        "{}  {}  {:<8}  {id}  {}",
        format::dim(&clock()),
        format::paint(format::status_style(status), &padded),
        format::kind(item),
        format::str_of(item, "displayName")
    )
}

/// Prints every change to any run until interrupted.
async fn all(conn: &Conn, interval: Duration) -> Result<u8> {
    let delta = conn.url(&["industryData", "runs", "delta"]);
    let mut last_event_id: Option<String> = None;
    let mut pauses = RECONNECT_PAUSES.iter().copied();
    while let Some(mut events) = open_stream(conn, delta.clone(), last_event_id.as_deref()).await? {
        while let Some(Ok(event)) = events.next().await {
            pauses = RECONNECT_PAUSES.iter().copied();
            if !event.id.is_empty() {
                last_event_id = Some(event.id.clone());
            }
            if event.event == "change"
                && let Ok(item) = serde_json::from_str::<Value>(&event.data)
            {
                outln(&change_line(&item))?;
            }
        }
        tokio::time::sleep(pauses.next().unwrap_or(Duration::from_secs(5))).await;
    }
    format::note(&format!(
        "the server offers no live stream; polling the 100 most recently started runs every {}",
        humantime::format_duration(interval)
    ));
    let list = conn.url_with(&["industryData", "runs"], &[("$top", "100".to_owned())]);
    let snapshot = |page: &Value| -> HashMap<String, Value> {
        let runs = page.get("value").and_then(Value::as_array).cloned().unwrap_or_default();
        runs.into_iter().map(|r| (format::str_of(&r, "id").to_owned(), r)).collect()
    };
    let mut seen = snapshot(&conn.get_json(list.clone()).await?);
    loop {
        tokio::time::sleep(interval).await;
        let now = snapshot(&conn.get_json(list.clone()).await?);
        let mut changed: Vec<&Value> = now
            .iter()
            .filter(|(id, run)| seen.get(*id).map(|old| old.get("@odata.etag") != run.get("@odata.etag")).unwrap_or(true))
            .map(|(_, r)| r)
            .collect();
        changed.sort_by_key(|r| format::str_of(r, "startDateTime").to_owned());
        for run in changed {
            outln(&change_line(run))?;
        }
        seen = now;
    }
}
