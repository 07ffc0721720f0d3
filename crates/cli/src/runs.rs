//! `runhub runs list|show|watch|create|finish`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::Subcommand;
use comfy_table::Cell;
use reqwest::Method;
use serde_json::{Map, Value, json};
use url::Url;

use crate::client::{Conn, ConnArgs, Error, Result, parse_json};
use crate::filter::{Kind, RunFilter, Status, parse_point, time_literal};
use crate::format::{self, outln};

#[derive(Debug, clap::Args)]
pub struct RunsArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(subcommand)]
    pub command: RunsCommand,
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// List runs, newest first, as a table (or the API's JSON with --json).
    #[command(
        after_help = "Examples:\n  runhub runs list --status failed --since 24h\n  runhub runs list --kind incoming --name nightly --all --json"
    )]
    List(ListArgs),
    /// Show one run (any kind, groups included): every property, its statistics and its process.
    Show {
        /// The run's id.
        id: String,
        /// Print the run as the API returns it.
        #[arg(long)]
        json: bool,
    },
    /// Follow one run live until it ends, or (without ID) print every change to any run.
    #[command(after_help = "Uses the service's live stream (GET /beta/industryData/runs/delta, text/event-stream); \
                            when the service offers none, polls instead.\n\
                            With --exit-status: 0 completed or completedWithWarnings, 3 failed, 4 completedWithErrors.")]
    Watch(WatchArgs),
    /// Record a new run of a flow (running unless --status says otherwise) and print its id.
    #[command(
        after_help = "Example:\n  RUN=$(runhub runs create --process 7d0f… --name nightly)\n  …\n  runhub runs finish \"$RUN\" --status completed"
    )]
    Create(CreateArgs),
    /// Finish a running run with a terminal status (and, for a failure, its error).
    Finish(FinishArgs),
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// Only runs in these statuses (repeat the flag or separate with commas).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub status: Vec<Status>,
    /// Only runs of these kinds (repeat the flag or separate with commas).
    #[arg(long, value_enum, value_delimiter = ',')]
    pub kind: Vec<Kind>,
    /// Only runs of this flow (its id).
    #[arg(long, value_name = "ID")]
    pub process: Option<String>,
    /// Only runs started at or after this time: 2026-12-01T08:00:00Z, 2026-12-01 (UTC), or a
    /// duration back from now such as 2h or 3d.
    #[arg(long, value_parser = parse_point, value_name = "TIME")]
    pub since: Option<DateTime<Utc>>,
    /// Only runs started before this time (same forms as --since).
    #[arg(long, value_parser = parse_point, value_name = "TIME")]
    pub until: Option<DateTime<Utc>>,
    /// Only runs whose name contains this text (case-sensitive).
    #[arg(long, value_name = "TEXT")]
    pub name: Option<String>,
    /// Runs per page (1–999; the server's default is 100).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=999))]
    pub top: Option<u32>,
    /// Follow every next page, not only the first.
    #[arg(long)]
    pub all: bool,
    /// Print the API's JSON: the page unchanged; with --all, one JSON array of every run.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// The run to follow; without it, every change to any run is printed until interrupted.
    pub id: Option<String>,
    /// Exit with the run's outcome: 0 completed or completedWithWarnings, 3 failed, 4 completedWithErrors.
    #[arg(long, requires = "id")]
    pub exit_status: bool,
    /// How often to poll when the service has no live stream (e.g. 1s, 500ms).
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub poll_interval: Duration,
}

#[derive(Debug, clap::Args)]
pub struct CreateArgs {
    /// The flow this is a run of (an incomingFlow's or outgoingFlow's id; the run's kind follows).
    #[arg(long, value_name = "ID")]
    pub process: String,
    /// The run's name (default: the flow's name).
    #[arg(long)]
    pub name: Option<String>,
    /// The run's status; a terminal one records a finished run (history import).
    #[arg(long, value_enum, default_value = "running")]
    pub status: Status,
    /// Make the run a member of this run group.
    #[arg(long, value_name = "GROUP_ID")]
    pub group: Option<String>,
    /// When the run started (RFC 3339, a date, or a duration back from now; default: now).
    #[arg(long, value_parser = parse_point, value_name = "TIME")]
    pub start: Option<DateTime<Utc>>,
    /// When the run ended (terminal statuses only; default: now).
    #[arg(long, value_parser = parse_point, value_name = "TIME")]
    pub end: Option<DateTime<Utc>>,
    /// Statistics: a JSON object, or @FILE to read it from a file.
    #[arg(long, value_name = "JSON|@FILE")]
    pub statistics: Option<String>,
    #[command(flatten)]
    pub error: ErrorArgs,
    /// Print the created run as the API returns it (instead of its id).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ErrorArgs {
    /// The blockingError's code (e.g. exitStatus1, timeout).
    #[arg(long, value_name = "CODE")]
    pub error_code: Option<String>,
    /// The blockingError's message.
    #[arg(long, value_name = "TEXT")]
    pub error_message: Option<String>,
}

impl ErrorArgs {
    fn blocking_error(&self) -> Option<Value> {
        if self.error_code.is_none() && self.error_message.is_none() {
            return None;
        }
        let mut error = Map::new();
        if let Some(code) = &self.error_code {
            error.insert("code".into(), json!(code));
        }
        if let Some(message) = &self.error_message {
            error.insert("message".into(), json!(message));
        }
        Some(Value::Object(error))
    }
}

#[derive(Debug, clap::Args)]
pub struct FinishArgs {
    /// The run's id.
    pub id: String,
    /// How it ended: completed, failed, completedWithErrors or completedWithWarnings.
    #[arg(long, value_parser = terminal_status)]
    pub status: Status,
    #[command(flatten)]
    pub error: ErrorArgs,
    /// Statistics to store with the end: a JSON object, or @FILE (replaces the run's statistics).
    #[arg(long, value_name = "JSON|@FILE")]
    pub statistics: Option<String>,
    /// Print the finished run as the API returns it.
    #[arg(long)]
    pub json: bool,
}

fn terminal_status(text: &str) -> std::result::Result<Status, String> {
    match <Status as clap::ValueEnum>::from_str(text, false)? {
        Status::Running => {
            Err("a run is finished with a terminal status: failed, completed, completedWithErrors or completedWithWarnings".into())
        }
        status => Ok(status),
    }
}

pub async fn run(args: RunsArgs) -> Result<u8> {
    let conn = Conn::new(&args.conn)?;
    match args.command {
        RunsCommand::List(list_args) => list(&conn, list_args).await,
        RunsCommand::Show { id, json } => show(&conn, &id, json).await,
        RunsCommand::Watch(watch) => crate::watch::run(&conn, watch).await,
        RunsCommand::Create(create_args) => create(&conn, create_args).await,
        RunsCommand::Finish(finish_args) => finish(&conn, finish_args).await,
    }
}

/// A spinner on stderr while waiting for the server (drawn only on a terminal).
pub fn spinner(message: &str) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new_spinner().with_message(message.to_owned());
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}

/// Every entity of a collection, following `@odata.nextLink` (at most `pages` pages).
pub async fn collect(conn: &Conn, mut url: Url, pages: usize) -> Result<(Vec<Value>, Option<String>)> {
    let mut items = Vec::new();
    for _ in 0..pages {
        let mut page = conn.get_json(url).await?;
        if let Some(Value::Array(value)) = page.get_mut("value").map(Value::take) {
            items.extend(value);
        }
        match page.get("@odata.nextLink").and_then(Value::as_str) {
            Some(next) => url = conn.resolve(next)?,
            None => return Ok((items, None)),
        }
    }
    Ok((items, Some(url.to_string())))
}

/// Prints entities as one JSON array.
pub fn print_json_array(items: Vec<Value>) -> Result<u8> {
    outln(&serde_json::to_string_pretty(&Value::Array(items)).expect("JSON values serialize"))?;
    Ok(0)
}

async fn list(conn: &Conn, args: ListArgs) -> Result<u8> {
    let filter =
        RunFilter { statuses: args.status, kinds: args.kind, process: args.process, since: args.since, until: args.until, name: args.name };
    let mut query = Vec::new();
    if let Some(expression) = filter.expression() {
        query.push(("$filter", expression));
    }
    if let Some(top) = args.top {
        query.push(("$top", top.to_string()));
    }
    let url = conn.url_with(&["industryData", "runs"], &query);
    let bar = spinner("fetching runs");
    if args.json && !args.all {
        // The page exactly as the API sent it.
        let body = conn.get_text(url).await;
        bar.finish_and_clear();
        return print_entity_or_id(&body?, true);
    }
    let fetched = collect(conn, url, if args.all { usize::MAX } else { 1 }).await;
    bar.finish_and_clear();
    let (runs, more) = fetched?;
    if args.json {
        return print_json_array(runs);
    }
    if runs.is_empty() {
        format::note("no runs match");
        return Ok(0);
    }
    let now = Utc::now();
    let mut table = format::table(&["ID", "STATUS", "KIND", "NAME", "STARTED", "DURATION"]);
    for run in &runs {
        let (started, took) = format::run_times(run, now);
        table.add_row(vec![
            Cell::new(format::str_of(run, "id")),
            Cell::new(format::status(format::str_of(run, "status"))),
            Cell::new(format::kind(run)),
            Cell::new(format::str_of(run, "displayName")),
            Cell::new(started),
            Cell::new(took),
        ]);
    }
    format::print_table(&table)?;
    if more.is_some() {
        format::note("more runs match: --all lists every page, --top sets the page size");
    }
    Ok(0)
}

async fn show(conn: &Conn, id: &str, json: bool) -> Result<u8> {
    let url = conn.url(&["industryData", "runs", id]);
    if json {
        // The entity exactly as the API sent it.
        return print_entity_or_id(&conn.get_text(url).await?, true);
    }
    let run = conn.get_json(url).await?;
    // The process (a flow), for its name; a group has none (204), and a token that may read runs
    // but not flows gets 403: the run is still shown.
    let process_url = conn.url(&["industryData", "runs", id, "process"]);
    let process = match conn.send(conn.request(Method::GET, process_url)).await {
        Ok(response) if response.status() == reqwest::StatusCode::OK => conn.text(response).await.ok().and_then(|t| parse_json(&t).ok()),
        Ok(_) => None,
        Err(e) if e.is_unreachable() => return Err(e),
        Err(_) => None,
    };
    let now = Utc::now();
    let mut table = format::table(&["PROPERTY", "VALUE"]);
    let mut row = |name: &str, value: String| {
        table.add_row(vec![Cell::new(format::bold(name)), Cell::new(value)]);
    };
    row("id", format::str_of(&run, "id").to_owned());
    row("name", format::str_of(&run, "displayName").to_owned());
    row("kind", format::str_of(&run, "@odata.type").trim_start_matches("#microsoft.graph.industryData.").to_owned());
    row("status", format::status(format::str_of(&run, "status")));
    let (started, took) = format::run_times(&run, now);
    row("started", format!("{} ({started})", format::str_of(&run, "startDateTime")));
    if let Some(end) = run.get("endDateTime").and_then(Value::as_str) {
        row("ended", format!("{end} (took {took})"));
    } else {
        row("running for", took);
    }
    if let Some(process) = &process {
        row(
            "process",
            format!("{} ({}, {})", format::str_of(process, "displayName"), format::kind(process), format::str_of(process, "id")),
        );
    }
    if let Some(error) = run.get("blockingError").filter(|e| !e.is_null()) {
        row("error code", format::str_of(error, "code").to_owned());
        row("error message", format::str_of(error, "message").to_owned());
    }
    if let Some(Value::Object(statistics)) = run.get("statistics") {
        for (key, value) in statistics.iter().filter(|(k, _)| !k.starts_with('@')) {
            row(&format!("statistics.{key}"), format::scalar(value));
        }
    }
    format::print_table(&table)?;
    Ok(0)
}

/// A JSON object given inline or as @FILE.
fn json_object_arg(flag: &str, text: &str) -> Result<Value> {
    let text = match text.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).map_err(|e| Error::other(format!("cannot read {flag} file '{path}': {e}")))?,
        None => text.to_owned(),
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(Error::other(format!("{flag} must be a JSON object"))),
        Err(e) => Err(Error::other(format!("{flag} is not JSON: {e}"))),
    }
}

/// A flow found by id in either flow set: (the set's name, the flow).
pub async fn find_flow(conn: &Conn, id: &str) -> Result<(&'static str, Value)> {
    for set in ["incomingFlows", "outgoingFlows"] {
        match conn.get_json(conn.url(&["industryData", set, id])).await {
            Ok(flow) => return Ok((set, flow)),
            Err(e) if e.status() == Some(reqwest::StatusCode::NOT_FOUND) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(Error::other(format!("no incomingFlow or outgoingFlow has the id '{id}'")))
}

/// What creating a run of a flow needs: where to POST and the body's fixed part.
pub struct NewRun {
    pub url: Url,
    pub body: Map<String, Value>,
    pub flow_name: String,
}

/// Resolves the flow (and group) of a new run: a flow's own `runs`, or the group's `runs` with
/// the kind and the flow bound.
pub async fn new_run(conn: &Conn, process: &str, group: Option<&str>) -> Result<NewRun> {
    let (set, flow) = find_flow(conn, process).await?;
    let flow_name = format::str_of(&flow, "displayName").to_owned();
    let mut body = Map::new();
    let url = match group {
        None => conn.url(&["industryData", set, process, "runs"]),
        Some(group) => {
            let kind = if set == "incomingFlows" { Kind::Incoming } else { Kind::Outgoing };
            body.insert("@odata.type".into(), json!(format!("#{}", kind.type_name())));
            body.insert("process@odata.bind".into(), json!(conn.url(&["industryData", set, process]).to_string()));
            conn.url(&["industryData", "runGroups", group, "runs"])
        }
    };
    Ok(NewRun { url, body, flow_name })
}

async fn create(conn: &Conn, args: CreateArgs) -> Result<u8> {
    let statistics = args.statistics.as_deref().map(|s| json_object_arg("--statistics", s)).transpose()?;
    let NewRun { url, mut body, flow_name } = new_run(conn, &args.process, args.group.as_deref()).await?;
    body.insert("displayName".into(), json!(args.name.unwrap_or(flow_name)));
    body.insert("status".into(), json!(args.status.as_str()));
    if let Some(start) = args.start {
        body.insert("startDateTime".into(), json!(time_literal(start)));
    }
    if let Some(end) = args.end {
        body.insert("endDateTime".into(), json!(time_literal(end)));
    }
    if let Some(statistics) = statistics {
        body.insert("statistics".into(), statistics);
    }
    if let Some(error) = args.error.blocking_error() {
        body.insert("blockingError".into(), error);
    }
    let text = conn.send_json(Method::POST, url, &Value::Object(body)).await?;
    print_entity_or_id(&text, args.json)
}

/// `--json`: the reply as returned (and a newline); otherwise the entity's id alone (for `RUN=$(…)`).
fn print_entity_or_id(text: &str, json: bool) -> Result<u8> {
    if json {
        format::out(text)?;
        if !text.ends_with('\n') {
            format::out("\n")?;
        }
    } else {
        outln(format::str_of(&parse_json(text)?, "id"))?;
    }
    Ok(0)
}

async fn finish(conn: &Conn, args: FinishArgs) -> Result<u8> {
    let mut body = Map::new();
    body.insert("status".into(), json!(args.status.as_str()));
    if let Some(error) = args.error.blocking_error() {
        body.insert("blockingError".into(), error);
    }
    if let Some(statistics) = &args.statistics {
        body.insert("statistics".into(), json_object_arg("--statistics", statistics)?);
    }
    let url = conn.url(&["industryData", "runs", &args.id]);
    let text = conn.send_json(Method::PATCH, url, &Value::Object(body)).await?;
    if args.json {
        return print_entity_or_id(&text, true);
    }
    let run = parse_json(&text)?;
    let (_, took) = format::run_times(&run, Utc::now());
    outln(&format!("{} {} ({took})", format::str_of(&run, "id"), format::status(format::str_of(&run, "status"))))?;
    Ok(0)
}
