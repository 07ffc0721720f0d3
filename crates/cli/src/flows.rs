//! `runhub flows list|show|run-now`.

use chrono::Utc;
use clap::Subcommand;
use comfy_table::Cell;
use reqwest::Method;
use serde_json::Value;

use crate::client::{Conn, ConnArgs, Error, Result};
use crate::format::{self, outln};
use crate::runs::{collect, find_flow, print_json_array, spinner};

#[derive(Debug, clap::Args)]
pub struct FlowsArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(subcommand)]
    pub command: FlowsCommand,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum FlowKind {
    /// incomingFlows
    Incoming,
    /// outgoingFlows
    Outgoing,
}

impl FlowKind {
    fn set(self) -> &'static str {
        match self {
            FlowKind::Incoming => "incomingFlows",
            FlowKind::Outgoing => "outgoingFlows",
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum FlowsCommand {
    /// List flows with their readiness and last run (every page, both kinds unless --kind).
    List {
        /// Only flows of this kind.
        #[arg(long, value_enum)]
        kind: Option<FlowKind>,
        /// Print one JSON array of the flows as the API returns them.
        #[arg(long)]
        json: bool,
    },
    /// Show one flow and its latest runs.
    Show {
        /// The flow's id (incoming or outgoing).
        id: String,
        /// Print the flow as the API returns it.
        #[arg(long)]
        json: bool,
    },
    /// Start a run of an incoming flow now (it must be ready and inside its window); prints the
    /// new run's id.
    RunNow {
        /// The incomingFlow's id.
        id: String,
    },
}

pub async fn run(args: FlowsArgs) -> Result<u8> {
    let conn = Conn::new(&args.conn)?;
    match args.command {
        FlowsCommand::List { kind, json } => list(&conn, kind, json).await,
        FlowsCommand::Show { id, json } => show(&conn, &id, json).await,
        FlowsCommand::RunNow { id } => run_now(&conn, &id).await,
    }
}

/// The newest run a flow expanded with `runs($top=1)` carries, as "failed 3 min ago".
fn last_run(flow: &Value) -> String {
    let Some(run) = flow.get("runs").and_then(Value::as_array).and_then(|r| r.first()) else { return String::new() };
    let (started, _) = format::run_times(run, Utc::now());
    format!("{} {started}", format::status(format::str_of(run, "status")))
}

/// The recurrence window of an incomingFlow, if it has one.
fn window(flow: &Value) -> String {
    let from = format::str_of(flow, "recurrenceEffectiveDateTime");
    let to = format::str_of(flow, "recurrenceExpirationDateTime");
    if from.is_empty() && to.is_empty() { String::new() } else { format!("{from} – {to}") }
}

async fn list(conn: &Conn, kind: Option<FlowKind>, json: bool) -> Result<u8> {
    let kinds = match kind {
        Some(kind) => vec![kind],
        None => vec![FlowKind::Incoming, FlowKind::Outgoing],
    };
    let bar = spinner("fetching flows");
    let mut flows = Vec::new();
    for kind in kinds {
        let query = if json { vec![] } else { vec![("$expand", "runs($top=1;$select=status,startDateTime,endDateTime)".to_owned())] };
        let fetched = collect(conn, conn.url_with(&["industryData", kind.set()], &query), usize::MAX).await;
        match fetched {
            Ok((items, _)) => flows.extend(items),
            Err(e) => {
                bar.finish_and_clear();
                return Err(e);
            }
        }
    }
    bar.finish_and_clear();
    if json {
        return print_json_array(flows);
    }
    if flows.is_empty() {
        format::note("no flows");
        return Ok(0);
    }
    let mut table = format::table(&["ID", "KIND", "NAME", "READINESS", "LAST RUN", "WINDOW"]);
    for flow in &flows {
        table.add_row(vec![
            Cell::new(format::str_of(flow, "id")),
            Cell::new(format::kind(flow)),
            Cell::new(format::str_of(flow, "displayName")),
            Cell::new(format::str_of(flow, "readinessStatus")),
            Cell::new(last_run(flow)),
            Cell::new(window(flow)),
        ]);
    }
    format::print_table(&table)?;
    Ok(0)
}

async fn show(conn: &Conn, id: &str, json: bool) -> Result<u8> {
    let (set, flow) = find_flow(conn, id).await?;
    if json {
        outln(&serde_json::to_string_pretty(&flow).expect("JSON values serialize"))?;
        return Ok(0);
    }
    let mut table = format::table(&["PROPERTY", "VALUE"]);
    let mut row = |name: &str, value: String| {
        table.add_row(vec![Cell::new(format::bold(name)), Cell::new(value)]);
    };
    row("id", format::str_of(&flow, "id").to_owned());
    row("name", format::str_of(&flow, "displayName").to_owned());
    row("kind", format::str_of(&flow, "@odata.type").trim_start_matches("#microsoft.graph.industryData.").to_owned());
    row("readiness", format::str_of(&flow, "readinessStatus").to_owned());
    if set == "incomingFlows" {
        row("data domain", format::str_of(&flow, "dataDomain").to_owned());
        let window = window(&flow);
        if !window.is_empty() {
            row("window", window);
        }
    }
    format::print_table(&table)?;
    let recent = conn.url_with(&["industryData", set, id, "runs"], &[("$top", "5".to_owned())]);
    let (runs, _) = collect(conn, recent, 1).await?;
    if !runs.is_empty() {
        outln(&format!("\n{}", format::bold("Latest runs")))?;
        let now = Utc::now();
        let mut table = format::table(&["ID", "STATUS", "NAME", "STARTED", "DURATION"]);
        for run in &runs {
            let (started, took) = format::run_times(run, now);
            table.add_row(vec![
                Cell::new(format::str_of(run, "id")),
                Cell::new(format::status(format::str_of(run, "status"))),
                Cell::new(format::str_of(run, "displayName")),
                Cell::new(started),
                Cell::new(took),
            ]);
        }
        format::print_table(&table)?;
    }
    Ok(0)
}

async fn run_now(conn: &Conn, id: &str) -> Result<u8> {
    let url = conn.url(&["industryData", "incomingFlows", id, "runNow"]);
    let response = conn.send(conn.request(Method::POST, url)).await?;
    let location = response.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let run_id = location.rsplit('/').next().filter(|s| !s.is_empty());
    match run_id {
        Some(run_id) => outln(run_id).map(|()| 0),
        None => Err(Error::other("the server started a run but did not say where (no Location header)")),
    }
}
