//! `runhub groups create|errors`.

use std::path::PathBuf;

use clap::Subcommand;
use reqwest::Method;
use serde_json::{Value, json};

use crate::client::{Conn, ConnArgs, Error, Result, parse_json};
use crate::format::{self, outln};

#[derive(Debug, clap::Args)]
pub struct GroupsArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    #[command(subcommand)]
    pub command: GroupsCommand,
}

#[derive(Debug, Subcommand)]
pub enum GroupsCommand {
    /// Create a run group (runs join it with `runs create --group` or `exec --group`); prints its id.
    Create {
        /// The group's name.
        #[arg(long)]
        name: String,
        /// Print the created group as the API returns it (instead of its id).
        #[arg(long)]
        json: bool,
    },
    /// Write a group's errors-and-warnings CSV (one line per member run that failed or completed
    /// with errors or warnings).
    Errors {
        /// The run group's id.
        id: String,
        /// Write the CSV to this file instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

pub async fn run(args: GroupsArgs) -> Result<u8> {
    let conn = Conn::new(&args.conn)?;
    match args.command {
        GroupsCommand::Create { name, json } => {
            let body = json!({"displayName": name});
            let text = conn.send_json(Method::POST, conn.url(&["industryData", "runGroups"]), &body).await?;
            if json {
                format::out(&text)?;
                outln("")?;
            } else {
                outln(format::str_of(&parse_json(&text)?, "id"))?;
            }
            Ok(0)
        }
        GroupsCommand::Errors { id, output } => {
            let reply = conn.get_json(conn.url(&["industryData", "runGroups", &id, "getErrorsAndWarningsFile"])).await?;
            let csv = reply.get("value").and_then(Value::as_str).ok_or_else(|| Error::other("the server's reply has no CSV in 'value'"))?;
            match output {
                Some(path) => std::fs::write(&path, csv).map_err(|e| Error::other(format!("cannot write '{}': {e}", path.display())))?,
                None => format::out(csv)?,
            }
            Ok(0)
        }
    }
}
