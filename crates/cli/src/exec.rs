//! `runhub exec`: a command run as a recorded run. The run is created first, the command runs with
//! the terminal's stdin and stdout and a teed stderr, a no-change PATCH tells the service it is
//! still alive, and the run is finished by the command's exit status before `exec` exits with it.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::Signal;
use reqwest::Method;
use serde_json::{Map, Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::signal::unix::{SignalKind, signal};
use tokio::time::Instant;
use url::Url;

use crate::client::{Conn, ConnArgs, Error, Result, parse_json};
use crate::format::{self, note};

/// How much of the command's stderr is kept for the run's `blockingError.message`.
const TAIL_BYTES: usize = 4096;

#[derive(Debug, clap::Args)]
pub struct ExecArgs {
    #[command(flatten)]
    pub conn: ConnArgs,
    /// The flow this is a run of (an incomingFlow's or outgoingFlow's id).
    #[arg(long, value_name = "ID")]
    pub process: String,
    /// The run's name (default: the command line).
    #[arg(long)]
    pub name: Option<String>,
    /// Make the run a member of this run group.
    #[arg(long, value_name = "GROUP_ID")]
    pub group: Option<String>,
    /// A JSON object file the command writes; its members are merged into the run's statistics
    /// when the command ends.
    #[arg(long, value_name = "FILE")]
    pub statistics_file: Option<PathBuf>,
    /// How often to tell the service the run is still alive (a PATCH that changes nothing); 0 = never.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub heartbeat: Duration,
    /// Run the command even when the run cannot be created (server down, unknown flow), unrecorded.
    #[arg(long)]
    pub best_effort: bool,
    /// How long to keep trying to record the end of the run while the server is unreachable.
    #[arg(long, env = "RUNHUB_EXEC_RETRY_FOR", hide_env_values = true, default_value = "30s", value_parser = humantime::parse_duration, value_name = "DURATION")]
    pub retry_for: Duration,
    /// The command and its arguments (after `--`).
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<OsString>,
}

/// The last `TAIL_BYTES` bytes written to stderr.
#[derive(Default)]
struct Tail(Vec<u8>);

impl Tail {
    fn push(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
        if self.0.len() > TAIL_BYTES {
            let cut = self.0.len() - TAIL_BYTES;
            self.0.drain(..cut);
        }
    }

    /// The tail as text: invalid UTF-8 (a character cut at the front) replaced, blank lines around trimmed.
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0).trim_start_matches('\u{FFFD}').trim().to_owned()
    }
}

fn default_name(command: &[OsString]) -> String {
    let line: Vec<String> = command.iter().map(|a| a.to_string_lossy().into_owned()).collect();
    line.join(" ").chars().take(256).collect()
}

/// The same error, saying that the command was not run.
fn not_run(error: Error) -> Error {
    const SUFFIX: &str = "; the command was not run (--best-effort runs it anyway)";
    match error {
        Error::Unreachable { server, detail } => Error::Unreachable { server, detail: format!("{detail}{SUFFIX}") },
        Error::Api { status, code, message } => Error::Api { status, code, message: format!("{message}{SUFFIX}") },
        Error::Other(message) => Error::Other(format!("{message}{SUFFIX}")),
    }
}

/// Creates the run: its id and URL.
async fn create(conn: &Conn, args: &ExecArgs) -> Result<(String, Url)> {
    let mut new = crate::runs::new_run(conn, &args.process, args.group.as_deref()).await?;
    let name = args.name.clone().unwrap_or_else(|| default_name(&args.command));
    new.body.insert("displayName".into(), json!(name));
    let run = parse_json(&conn.send_json(Method::POST, new.url, &Value::Object(new.body)).await?)?;
    let id = format::str_of(&run, "id").to_owned();
    let url = conn.url(&["industryData", "runs", &id]);
    Ok((id, url))
}

/// How the command ended, as the run records it.
struct Ending {
    /// `exec`'s own exit status: the command's, or 128 + the signal that killed it.
    exit: u8,
    body: Map<String, Value>,
}

fn ending(status: ExitStatus, interrupted: Option<Signal>, tail: &str) -> Ending {
    let (code, what, exit) = match (status.code(), status.signal()) {
        (Some(c), _) => (format!("exitStatus{c}"), format!("the command exited with status {c}"), c.clamp(0, 255) as u8),
        (None, Some(s)) => {
            let name = Signal::try_from(s).map(|s| s.as_str().to_owned()).unwrap_or_else(|_| format!("signal {s}"));
            (format!("signal{s}"), format!("the command was killed by {name}"), (128 + s).clamp(0, 255) as u8)
        }
        (None, None) => ("unknownExit".to_owned(), "the command ended without a status".to_owned(), 1),
    };
    let mut body = Map::new();
    let error = match interrupted {
        Some(signal) => {
            let mut message = format!("runhub exec received {} and passed it on to the command; {what}", signal.as_str());
            if !tail.is_empty() {
                message = format!("{message}\n\n{tail}");
            }
            Some(json!({"code": "interrupted", "message": message}))
        }
        None if status.success() => None,
        None => Some(json!({"code": code, "message": if tail.is_empty() { what } else { tail.to_owned() }})),
    };
    match error {
        Some(error) => {
            body.insert("status".into(), json!("failed"));
            body.insert("blockingError".into(), error);
        }
        None => {
            body.insert("status".into(), json!("completed"));
        }
    }
    Ending { exit, body }
}

/// The statistics file as a JSON object; a missing or malformed file is a warning.
fn read_statistics(path: &PathBuf) -> Option<Map<String, Value>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) => {
            note(&format!("statistics file '{}' not read ({e}); the run's statistics are unchanged", path.display()));
            return None;
        }
    };
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(map)) => Some(map),
        Ok(_) => {
            note(&format!("statistics file '{}' is not a JSON object; the run's statistics are unchanged", path.display()));
            None
        }
        Err(e) => {
            note(&format!("statistics file '{}' is not JSON ({e}); the run's statistics are unchanged", path.display()));
            None
        }
    }
}

/// Records the end: the run's statistics with the file's members merged in, its status and error.
async fn finish(conn: &Conn, run: &Url, ending: &Ending, statistics: Option<&Map<String, Value>>) -> Result<()> {
    let mut body = ending.body.clone();
    if let Some(extra) = statistics {
        let current = conn.get_json(run.clone()).await?;
        let mut merged = match current.get("statistics") {
            Some(Value::Object(map)) => map.clone(),
            _ => Map::new(),
        };
        merged.retain(|k, _| !k.starts_with('@'));
        for (key, value) in extra {
            merged.insert(key.clone(), value.clone());
        }
        body.insert("statistics".into(), Value::Object(merged));
    }
    conn.send_json(Method::PATCH, run.clone(), &Value::Object(body)).await.map(drop)
}

/// Tries `finish` again while the server is unreachable (or busy), with growing pauses, until
/// `retry_for` has passed or a signal asks to stop.
async fn finish_with_retries(
    conn: &Conn,
    run: &Url,
    ending: &Ending,
    statistics: Option<&Map<String, Value>>,
    retry_for: Duration,
    signals: &mut Signals,
) -> Result<()> {
    let deadline = Instant::now() + retry_for;
    let mut pause = Duration::from_millis(250);
    loop {
        let error = match finish(conn, run, ending, statistics).await {
            Ok(()) => return Ok(()),
            Err(e) => e,
        };
        if !error.is_transient() || Instant::now() + pause > deadline {
            return Err(error);
        }
        tokio::select! {
            () = tokio::time::sleep(pause) => {}
            _ = signals.next() => return Err(error),
        }
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

struct Signals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Result<Self> {
        let install = |kind| signal(kind).map_err(|e| Error::other(format!("cannot install a signal handler: {e}")));
        Ok(Signals { interrupt: install(SignalKind::interrupt())?, terminate: install(SignalKind::terminate())? })
    }

    async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.interrupt.recv() => Signal::SIGINT,
            _ = self.terminate.recv() => Signal::SIGTERM,
        }
    }
}

/// Sends a no-change PATCH; reports the first failure only (a flaky network must not flood stderr).
fn heartbeat(conn: &Conn, run: &Url, warned: &Arc<std::sync::atomic::AtomicBool>) -> tokio::task::JoinHandle<()> {
    let (conn, run, warned) = (conn.clone(), run.clone(), warned.clone());
    tokio::spawn(async move {
        if let Err(e) = conn.send_json(Method::PATCH, run, &json!({})).await
            && !warned.swap(true, std::sync::atomic::Ordering::Relaxed)
        {
            note(&format!("heartbeat failed: {e}"));
        }
    })
}

pub async fn run(args: ExecArgs) -> Result<u8> {
    let conn = Conn::new(&args.conn)?;
    let (run_id, run) = match create(&conn, &args).await {
        Ok((id, url)) => (Some(id), Some(url)),
        Err(e) if args.best_effort => {
            note(&format!("{e}; running the command unrecorded (--best-effort)"));
            (None, None)
        }
        Err(e) => return Err(not_run(e)),
    };
    // Installed before the command starts, so no signal meant for it is lost in between.
    let mut signals = Signals::install()?;

    let (program, rest) = args.command.split_first().expect("clap requires the command");
    let mut command = tokio::process::Command::new(program);
    command.args(rest).stdin(Stdio::inherit()).stdout(Stdio::inherit()).stderr(Stdio::piped());
    // The command may report progress on its own run (PATCH its statistics).
    if let Some(id) = &run_id {
        command.env("RUNHUB_RUN_ID", id);
    }
    let spawned = command.spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(e) => {
            let exit = if e.kind() == std::io::ErrorKind::NotFound { 127 } else { 126 };
            let message = format!("cannot start '{}': {e}", program.to_string_lossy());
            if let Some(run) = &run {
                let mut body = Map::new();
                body.insert("status".into(), json!("failed"));
                body.insert("blockingError".into(), json!({"code": "commandNotStarted", "message": message}));
                let ending = Ending { exit, body };
                if let Err(e) = finish_with_retries(&conn, run, &ending, None, args.retry_for, &mut signals).await {
                    note(&format!("could not record the end of the run: {e}"));
                }
            }
            note(&message);
            return Ok(exit);
        }
    };

    let tail = Arc::new(Mutex::new(Tail::default()));
    let tee = {
        let tail = tail.clone();
        let mut pipe = child.stderr.take().expect("stderr is piped");
        tokio::spawn(async move {
            let mut buf = [0u8; 8192];
            let mut stderr = tokio::io::stderr();
            while let Ok(n @ 1..) = pipe.read(&mut buf).await {
                let _ = stderr.write_all(&buf[..n]).await;
                tail.lock().expect("the tail's lock is never poisoned").push(&buf[..n]);
            }
            let _ = stderr.flush().await;
        })
    };

    let beating = run.is_some() && !args.heartbeat.is_zero();
    let period = if beating { args.heartbeat } else { Duration::from_secs(3600) };
    let mut ticks = tokio::time::interval_at(Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let warned = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut beat: Option<tokio::task::JoinHandle<()>> = None;
    let mut interrupted = None;
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            signal = signals.next() => {
                interrupted = Some(signal);
                if let Some(pid) = child.id() {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), signal);
                }
            }
            _ = ticks.tick(), if beating => {
                // One heartbeat at a time: a slow server does not pile them up.
                if beat.as_ref().is_none_or(|b| b.is_finished()) {
                    beat = Some(heartbeat(&conn, run.as_ref().expect("beating needs a run"), &warned));
                }
            }
        }
    };
    if let Some(beat) = beat {
        beat.abort();
    }
    let status = match status {
        Ok(status) => status,
        Err(e) => return Err(Error::other(format!("lost track of the command: {e}"))),
    };
    // The command is gone; a process it left behind may still hold its stderr open, so the tail
    // is taken after a short grace period at most.
    let _ = tokio::time::timeout(Duration::from_secs(2), tee).await;
    let tail_text = tail.lock().expect("the tail's lock is never poisoned").text();
    let ending = ending(status, interrupted, &tail_text);

    if let Some(run) = &run {
        let statistics = args.statistics_file.as_ref().and_then(read_statistics);
        if let Err(e) = finish_with_retries(&conn, run, &ending, statistics.as_ref(), args.retry_for, &mut signals).await {
            note(&format!("could not record the end of the run ({e}); exiting with the command's status"));
        }
    }
    Ok(ending.exit)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_keeps_the_last_bytes() {
        let mut tail = Tail::default();
        tail.push(&[b'a'; 3000]);
        tail.push(&[b'b'; 3000]);
        assert_eq!(tail.0.len(), TAIL_BYTES);
        assert!(tail.0.ends_with(&[b'b'; 3000]));
        assert!(tail.0.starts_with(&[b'a'; TAIL_BYTES - 3000]));
    }

    #[test]
    fn a_cut_character_is_dropped() {
        let mut tail = Tail::default();
        tail.push("é".as_bytes());
        tail.0.remove(0);
        tail.push(b" boom\n");
        assert_eq!(tail.text(), "boom");
    }

    #[test]
    fn endings() {
        let e = ending(ExitStatus::from_raw(3 << 8), None, "boom");
        assert_eq!(e.exit, 3);
        assert_eq!(e.body["blockingError"], json!({"code": "exitStatus3", "message": "boom"}));
        let e = ending(ExitStatus::from_raw(9), None, "");
        assert_eq!(e.exit, 137);
        assert_eq!(e.body["blockingError"]["code"], "signal9");
        let e = ending(ExitStatus::from_raw(0), None, "warnings only");
        assert_eq!((e.exit, e.body.get("blockingError")), (0, None));
        let e = ending(ExitStatus::from_raw(15), Some(Signal::SIGTERM), "");
        assert_eq!(e.exit, 143);
        assert_eq!(e.body["blockingError"]["code"], "interrupted");
    }
}
