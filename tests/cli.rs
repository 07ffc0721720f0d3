//! The `runhub` client commands (docs/cli.md), run as the real binary against a real `runhub serve`
//! on a random port with its own data directory.

#[path = "common/binary.rs"]
mod binary;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Server {
    runhub: binary::Runhub,
    _dir: tempfile::TempDir,
}

fn server() -> Server {
    let dir = tempfile::tempdir().expect("a temp dir");
    let runhub = binary::spawn(&["--data-dir", dir.path().to_str().expect("a UTF-8 temp path")], &[]);
    Server { runhub, _dir: dir }
}

impl Server {
    fn origin(&self) -> &str {
        &self.runhub.base
    }

    fn api(&self, path: &str) -> String {
        format!("{}/beta/{path}", self.origin())
    }
}

/// The `runhub` binary with a clean environment for the client: no token, no color settings.
fn runhub_at(origin: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_runhub"));
    command.env("RUNHUB_SERVER", origin);
    for var in ["RUNHUB_TOKEN", "RUNHUB_TOKEN_FILE", "NO_COLOR", "CLICOLOR", "CLICOLOR_FORCE", "RUNHUB_EXEC_RETRY_FOR", "RUST_BACKTRACE"] {
        command.env_remove(var);
    }
    command.stdin(Stdio::null());
    command
}

fn cli(server: &Server, args: &[&str]) -> Output {
    runhub_at(server.origin()).args(args).output().expect("run runhub")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts the exit status, showing the output when it differs.
fn expect_status(output: &Output, code: i32) {
    assert_eq!(output.status.code(), Some(code), "stdout: {}\nstderr: {}", stdout(output), stderr(output));
}

fn no_ansi(output: &Output) {
    assert!(!output.stdout.contains(&0x1b) && !output.stderr.contains(&0x1b), "escape codes without a terminal: {output:?}");
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::new()
}

fn get(url: &str) -> (reqwest::StatusCode, String) {
    let response = http().get(url).send().expect("GET");
    (response.status(), response.text().expect("a body"))
}

fn get_json(url: &str) -> Value {
    let (status, body) = get(url);
    assert!(status.is_success(), "GET {url}: {status} {body}");
    serde_json::from_str(&body).expect("JSON")
}

fn send(method: reqwest::Method, url: &str, body: Value) -> Value {
    let response = http().request(method, url).json(&body).send().expect("request");
    let status = response.status();
    let text = response.text().expect("a body");
    assert!(status.is_success(), "{url}: {status} {text}");
    serde_json::from_str(&text).expect("JSON")
}

fn flow(server: &Server, name: &str) -> String {
    let flow =
        send(reqwest::Method::POST, &server.api("industryData/incomingFlows"), json!({"displayName": name, "readinessStatus": "ready"}));
    flow["id"].as_str().expect("an id").to_owned()
}

fn run_of(server: &Server, id: &str) -> Value {
    get_json(&server.api(&format!("industryData/runs/{id}")))
}

/// Polls `check` until it holds, for at most 20 s.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A port nothing listens on.
fn closed_origin() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// Lines a child prints on stdout, read on a thread so a test can wait with a deadline.
fn lines_of(child: &mut Child) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    let out = child.stdout.take().expect("piped stdout");
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

fn wait_for_line(lines: &mpsc::Receiver<String>, mut wanted: impl FnMut(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) if wanted(&line) => return line,
            Ok(_) => {}
            Err(e) => panic!("no such line in time: {e}"),
        }
    }
}

/// A shell loop that waits for a file to appear — for at most about a minute, so that a failed
/// test leaves no command behind for long.
fn wait_for_file(path: &std::path::Path) -> String {
    format!("i=0; while [ ! -f '{}' ] && [ $i -lt 3000 ]; do sleep 0.02; i=$((i+1)); done", path.display())
}

/// A child that is killed when the test ends, passed or failed (std's `Child` is not).
struct Spawned(Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl std::ops::Deref for Spawned {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for Spawned {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

fn spawn(command: &mut Command) -> Spawned {
    Spawned(command.spawn().expect("start runhub"))
}

/// Waits for a child with a deadline (a hang is a failure, not a stuck test).
fn wait_child(child: &mut Child) -> std::process::ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the child did not exit in time");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn help_lists_every_command() {
    let output = runhub_at("http://127.0.0.1:9").arg("--help").output().expect("run");
    expect_status(&output, 0);
    let help = stdout(&output);
    for command in ["serve", "token", "runs", "flows", "groups", "exec", "completions"] {
        assert!(help.lines().any(|l| l.trim_start().starts_with(command)), "{command} missing from --help:\n{help}");
    }
    let runs = stdout(&runhub_at("http://127.0.0.1:9").args(["runs", "--help"]).output().expect("run"));
    for command in ["list", "show", "watch", "create", "finish"] {
        assert!(runs.lines().any(|l| l.trim_start().starts_with(command)), "runs {command} missing:\n{runs}");
    }
}

#[test]
fn completions_print_a_script() {
    let output = runhub_at("http://127.0.0.1:9").args(["completions", "bash"]).output().expect("run");
    expect_status(&output, 0);
    let script = stdout(&output);
    assert!(script.contains("_runhub()") && script.contains("complete -F _runhub"), "{script}");
    assert!(script.contains("watch") && script.contains("--exit-status"), "subcommands and flags are completed");
}

#[test]
fn create_list_show_finish() {
    let server = server();
    let flow = flow(&server, "SIS roster");
    let created = cli(&server, &["runs", "create", "--process", &flow, "--name", "O'Brien's import"]);
    expect_status(&created, 0);
    let id = stdout(&created).trim().to_owned();
    let run = run_of(&server, &id);
    assert_eq!((run["displayName"].as_str(), run["status"].as_str()), (Some("O'Brien's import"), Some("running")));
    assert_eq!(run["@odata.type"], "#microsoft.graph.industryData.incomingFlowRun");

    let list = cli(&server, &["runs", "list"]);
    expect_status(&list, 0);
    no_ansi(&list);
    let text = stdout(&list);
    let header = text.lines().next().expect("a header");
    for column in ["ID", "STATUS", "KIND", "NAME", "STARTED", "DURATION"] {
        assert!(header.contains(column), "{header}");
    }
    let row = text.lines().find(|l| l.contains(&id)).expect("the run's row");
    assert!(row.contains("running") && row.contains("incoming") && row.contains("O'Brien's import"), "{row}");
    assert!(row.contains("just now") || row.contains(" s ago"), "a relative start time: {row}");

    let show = cli(&server, &["runs", "show", &id]);
    expect_status(&show, 0);
    no_ansi(&show);
    let shown = stdout(&show);
    assert!(shown.contains("O'Brien's import") && shown.contains("SIS roster") && shown.contains(&flow), "{shown}");

    let finish =
        cli(&server, &["runs", "finish", &id, "--status", "failed", "--error-code", "diskFull", "--error-message", "no space left"]);
    expect_status(&finish, 0);
    let run = run_of(&server, &id);
    assert_eq!(run["status"], "failed");
    assert_eq!(run["blockingError"], json!({"code": "diskFull", "message": "no space left"}));
    assert!(run["endDateTime"].is_string());

    // A terminal status only.
    let again = cli(&server, &["runs", "finish", &id, "--status", "running"]);
    expect_status(&again, 2);
    assert!(stderr(&again).contains("terminal status"), "{}", stderr(&again));
}

#[test]
fn json_is_the_apis_body() {
    let server = server();
    let flow = flow(&server, "roster");
    let created = cli(&server, &["runs", "create", "--process", &flow, "--name", "a", "--json"]);
    expect_status(&created, 0);
    let mut entity: Value = serde_json::from_str(&stdout(&created)).expect("JSON");
    let id = entity["id"].as_str().expect("an id").to_owned();
    let mut stored = run_of(&server, &id);
    // The same entity; only the context differs (it was created under its flow).
    assert!(entity["@odata.context"].as_str().unwrap().contains("/runs/$entity"));
    entity.as_object_mut().unwrap().remove("@odata.context");
    stored.as_object_mut().unwrap().remove("@odata.context");
    assert_eq!(entity, stored, "create --json prints the created run");

    let show = cli(&server, &["runs", "show", &id, "--json"]);
    expect_status(&show, 0);
    no_ansi(&show);
    let (_, body) = get(&server.api(&format!("industryData/runs/{id}")));
    assert_eq!(stdout(&show).trim_end(), body, "show --json is the API's body, byte for byte");

    let list = cli(&server, &["runs", "list", "--json"]);
    expect_status(&list, 0);
    let (_, body) = get(&server.api("industryData/runs"));
    assert_eq!(stdout(&list).trim_end(), body);

    let flows = cli(&server, &["flows", "show", &flow, "--json"]);
    expect_status(&flows, 0);
    let shown: Value = serde_json::from_str(&stdout(&flows)).expect("JSON");
    assert_eq!(shown, get_json(&server.api(&format!("industryData/incomingFlows/{flow}"))));
}

#[test]
fn list_filters_become_the_apis_filter() {
    let server = server();
    let flow_a = flow(&server, "a");
    let flow_b = flow(&server, "b");
    let make = |flow: &str, name: &str, status: &str| {
        let output = cli(&server, &["runs", "create", "--process", flow, "--name", name, "--status", status]);
        expect_status(&output, 0);
        stdout(&output).trim().to_owned()
    };
    let quote = make(&flow_a, "it's nightly", "failed");
    let plain = make(&flow_a, "nightly", "completed");
    let other = make(&flow_b, "weekly", "running");
    let group = cli(&server, &["groups", "create", "--name", "batch"]);
    expect_status(&group, 0);
    let group = stdout(&group).trim().to_owned();

    let ids = |args: &[&str]| -> Vec<String> {
        let mut all = vec!["runs", "list", "--json", "--all"];
        all.extend_from_slice(args);
        let output = cli(&server, &all);
        expect_status(&output, 0);
        let runs: Value = serde_json::from_str(&stdout(&output)).expect("a JSON array");
        let mut ids: Vec<String> = runs.as_array().expect("an array").iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
        ids.sort();
        ids
    };
    let sorted = |mut v: Vec<&String>| {
        v.sort();
        v.into_iter().cloned().collect::<Vec<_>>()
    };
    assert_eq!(ids(&["--status", "failed"]), vec![quote.clone()]);
    assert_eq!(ids(&["--status", "failed,running"]), sorted(vec![&quote, &other, &group]));
    assert_eq!(ids(&["--name", "it's"]), vec![quote.clone()], "a quote in --name is escaped, not glued");
    assert_eq!(ids(&["--name", "' or 1 eq 1 or '"]), Vec::<String>::new(), "no injection through --name");
    assert_eq!(ids(&["--process", &flow_a]), sorted(vec![&quote, &plain]));
    assert_eq!(ids(&["--kind", "group"]), vec![group.clone()]);
    assert_eq!(ids(&["--kind", "incoming", "--name", "ly"]), sorted(vec![&quote, &plain, &other]));
    assert_eq!(ids(&["--since", "1h"]).len(), 4);
    assert_eq!(ids(&["--until", "1h"]), Vec::<String>::new());
    assert_eq!(ids(&["--since", "2000-01-01", "--until", "2999-01-01T00:00:00Z", "--status", "completed"]), vec![plain.clone()]);

    let bad = cli(&server, &["runs", "list", "--since", "last tuesday"]);
    expect_status(&bad, 2);
    assert!(stderr(&bad).contains("--since"), "{}", stderr(&bad));
}

#[test]
fn list_all_follows_next_links() {
    let server = server();
    let flow = flow(&server, "paged");
    let mut made = Vec::new();
    for n in 0..5 {
        let output = cli(&server, &["runs", "create", "--process", &flow, "--name", &format!("run {n}")]);
        made.push(stdout(&output).trim().to_owned());
    }
    let first = cli(&server, &["runs", "list", "--top", "2"]);
    expect_status(&first, 0);
    assert_eq!(stdout(&first).lines().count(), 3, "a header and one page of two:\n{}", stdout(&first));
    assert!(stderr(&first).contains("--all"), "the note says there is more: {}", stderr(&first));

    let all = cli(&server, &["runs", "list", "--top", "2", "--all"]);
    expect_status(&all, 0);
    assert_eq!(stdout(&all).lines().count(), 6, "{}", stdout(&all));

    let json = cli(&server, &["runs", "list", "--top", "2", "--all", "--json"]);
    let runs: Value = serde_json::from_str(&stdout(&json)).expect("one JSON array");
    let mut ids: Vec<String> = runs.as_array().expect("an array").iter().map(|r| r["id"].as_str().unwrap().to_owned()).collect();
    ids.sort();
    made.sort();
    assert_eq!(ids, made);

    // Without --all, --json is the first page as the API sent it, nextLink included.
    let page: Value = serde_json::from_str(&stdout(&cli(&server, &["runs", "list", "--top", "2", "--json"]))).expect("JSON");
    assert!(page["@odata.nextLink"].is_string() && page["value"].as_array().map(Vec::len) == Some(2), "{page}");
}

#[test]
fn colors_only_when_asked_for_and_no_color_wins() {
    let server = server();
    let flow = flow(&server, "colors");
    expect_status(&cli(&server, &["runs", "create", "--process", &flow, "--status", "failed"]), 0);
    let forced = runhub_at(server.origin()).args(["runs", "list"]).env("CLICOLOR_FORCE", "1").output().expect("run");
    assert!(forced.stdout.contains(&0x1b), "forced colors show escape codes: {}", stdout(&forced));
    let no_color = runhub_at(server.origin()).args(["runs", "list"]).env("CLICOLOR_FORCE", "1").env("NO_COLOR", "1").output().expect("run");
    no_ansi(&no_color);
    assert!(stdout(&no_color).contains("failed"));
}

#[test]
fn server_errors_print_the_graph_message_and_exit_1() {
    let server = server();
    let missing = "0190a0d4-0000-7000-8000-000000000000";
    let output = cli(&server, &["runs", "show", missing]);
    expect_status(&output, 1);
    let (status, body) = get(&server.api(&format!("industryData/runs/{missing}")));
    assert_eq!(status, 404);
    let message = serde_json::from_str::<Value>(&body).unwrap()["error"]["message"].as_str().unwrap().to_owned();
    assert_eq!(stderr(&output).trim(), format!("runhub: {message}"));
    assert!(stdout(&output).is_empty());

    let output = cli(&server, &["runs", "create", "--process", missing]);
    expect_status(&output, 1);
    assert!(stderr(&output).contains(missing), "{}", stderr(&output));
}

#[test]
fn an_unreachable_server_is_exit_2_naming_it() {
    let origin = closed_origin();
    for args in [&["runs", "list"][..], &["runs", "show", "x"], &["flows", "list"], &["groups", "errors", "x"], &["runs", "watch", "x"]] {
        let output = runhub_at(&origin).args(args).output().expect("run");
        expect_status(&output, 2);
        let err = stderr(&output);
        assert!(err.contains(&format!("cannot reach the runhub server at {origin}")), "{args:?}: {err}");
        assert!(!err.contains("panicked") && !err.contains("backtrace"), "{err}");
        assert!(stdout(&output).is_empty());
    }
    let bad = runhub_at("ftp://example").args(["runs", "list"]).output().expect("run");
    expect_status(&bad, 1);
    assert!(stderr(&bad).contains("--server"), "{}", stderr(&bad));
}

#[test]
fn flows_list_show_run_now() {
    let server = server();
    let flow = flow(&server, "SIS roster");
    send(reqwest::Method::POST, &server.api("industryData/outgoingFlows"), json!({"displayName": "export", "readinessStatus": "notReady"}));
    let started = cli(&server, &["flows", "run-now", &flow]);
    expect_status(&started, 0);
    let run_id = stdout(&started).trim().to_owned();
    assert_eq!(run_of(&server, &run_id)["status"], "running");

    let list = cli(&server, &["flows", "list"]);
    expect_status(&list, 0);
    no_ansi(&list);
    let text = stdout(&list);
    let roster = text.lines().find(|l| l.contains(&flow)).expect("the incoming flow");
    assert!(roster.contains("incoming") && roster.contains("ready") && roster.contains("running"), "last run shown: {roster}");
    assert!(text.lines().any(|l| l.contains("outgoing") && l.contains("export") && l.contains("notReady")), "{text}");

    let json = cli(&server, &["flows", "list", "--json", "--kind", "outgoing"]);
    let flows: Value = serde_json::from_str(&stdout(&json)).expect("JSON");
    assert_eq!(flows.as_array().map(Vec::len), Some(1));

    let show = cli(&server, &["flows", "show", &flow]);
    expect_status(&show, 0);
    assert!(stdout(&show).contains(&run_id), "latest runs listed: {}", stdout(&show));

    // Not ready → the server's 409 message, exit 1.
    let outgoing = flows[0]["id"].as_str().unwrap();
    let refused = cli(&server, &["flows", "run-now", outgoing]);
    expect_status(&refused, 1);
}

#[test]
fn groups_errors_writes_the_csv() {
    let server = server();
    let flow = flow(&server, "roster");
    let group = stdout(&cli(&server, &["groups", "create", "--name", "nightly batch"])).trim().to_owned();
    let member = cli(
        &server,
        &[
            "runs",
            "create",
            "--process",
            &flow,
            "--group",
            &group,
            "--name",
            "people, \"all\"",
            "--status",
            "failed",
            "--error-code",
            "e1",
            "--error-message",
            "bad row",
        ],
    );
    expect_status(&member, 0);
    let member = stdout(&member).trim().to_owned();
    let members = get_json(&server.api(&format!("industryData/runGroups/{group}/runs")));
    assert_eq!(members["value"][0]["id"], member.as_str(), "the run joined the group");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("errors.csv");
    let output = cli(&server, &["groups", "errors", &group, "-o", file.to_str().unwrap()]);
    expect_status(&output, 0);
    let expected = get_json(&server.api(&format!("industryData/runGroups/{group}/getErrorsAndWarningsFile")));
    let written = std::fs::read_to_string(&file).unwrap();
    assert_eq!(written, expected["value"].as_str().unwrap());
    assert!(written.contains("bad row") && written.contains(&member), "{written}");
    let to_stdout = cli(&server, &["groups", "errors", &group]);
    assert_eq!(stdout(&to_stdout), written);
}

fn exec_cmd(origin: &str, flow: &str, extra: &[&str], command: &[&str]) -> Command {
    let mut cmd = runhub_at(origin);
    cmd.args(["exec", "--process", flow]).args(extra).arg("--").args(command);
    cmd
}

/// The newest run of a flow.
fn newest_run(server: &Server, flow: &str) -> Value {
    let runs = get_json(&server.api(&format!("industryData/incomingFlows/{flow}/runs?$top=1")));
    runs["value"][0].clone()
}

#[test]
fn exec_success_records_a_completed_run() {
    let server = server();
    let flow = flow(&server, "backup");
    let dir = tempfile::tempdir().unwrap();
    let seen = dir.path().join("run-id");
    let script =
        format!("echo to-stdout; echo to-stderr >&2; printf %s \"$RUNHUB_RUN_ID\" > '{}'; read line; echo \"got $line\"", seen.display());
    let mut child = exec_cmd(server.origin(), &flow, &["--name", "nightly backup"], &["sh", "-c", &script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let output = child.wait_with_output().unwrap();
    expect_status(&output, 0);
    assert_eq!(stdout(&output), "to-stdout\ngot hello\n", "stdin and stdout are the command's");
    assert_eq!(stderr(&output), "to-stderr\n", "stderr passes through, and exec itself says nothing");
    let run = newest_run(&server, &flow);
    assert_eq!(run["id"].as_str().unwrap(), std::fs::read_to_string(&seen).unwrap(), "the command sees RUNHUB_RUN_ID");
    assert_eq!((run["status"].as_str(), run["displayName"].as_str()), (Some("completed"), Some("nightly backup")));
    assert!(run["blockingError"].is_null() && run["endDateTime"].is_string(), "{run}");
}

#[test]
fn exec_failure_records_the_stderr_tail_and_exits_with_the_status() {
    let server = server();
    let flow = flow(&server, "import");
    // 6,000 bytes of noise, then the last words: only the last 4 KiB are kept.
    let script = "i=0; while [ $i -lt 100 ]; do echo 'noise noise noise noise noise noise noise noise noise' >&2; i=$((i+1)); done; echo 'fatal: disk full' >&2; exit 3";
    let output = exec_cmd(server.origin(), &flow, &[], &["sh", "-c", script]).output().unwrap();
    expect_status(&output, 3);
    let run = newest_run(&server, &flow);
    assert_eq!(run["status"], "failed");
    assert_eq!(run["blockingError"]["code"], "exitStatus3");
    let message = run["blockingError"]["message"].as_str().unwrap();
    assert!(message.ends_with("fatal: disk full"), "{message}");
    assert!(message.len() <= 4096 && message.len() > 4000, "the last 4 KiB: {} bytes", message.len());
    assert_eq!(run["displayName"].as_str().unwrap(), format!("sh -c {script}"), "named after the command line");
    assert!(stderr(&output).ends_with("fatal: disk full\n"), "stderr is passed through whole");

    // A command that cannot start: failed, exit 127 like a shell.
    let output = exec_cmd(server.origin(), &flow, &[], &["/nonexistent/tool"]).output().unwrap();
    expect_status(&output, 127);
    assert_eq!(newest_run(&server, &flow)["blockingError"]["code"], "commandNotStarted");
}

#[test]
fn exec_merges_the_statistics_file() {
    let server = server();
    let flow = flow(&server, "import");
    let dir = tempfile::tempdir().unwrap();
    let stats = dir.path().join("stats.json");
    let script = format!("echo '{{\"people\": 1200, \"errors\": 2, \"detail\": {{\"skipped\": [1, 2]}}}}' > '{}'", stats.display());
    let output =
        exec_cmd(server.origin(), &flow, &["--statistics-file", stats.to_str().unwrap()], &["sh", "-c", &script]).output().unwrap();
    expect_status(&output, 0);
    let run = newest_run(&server, &flow);
    assert_eq!(run["status"], "completed");
    assert_eq!(
        run["statistics"],
        json!({"@odata.type": "#microsoft.graph.industryData.runStatistics", "people": 1200, "errors": 2, "detail": {"skipped": [1, 2]}})
    );

    // A statistics file the command never wrote: a warning, and the run still finishes.
    let missing = dir.path().join("never.json");
    let output = exec_cmd(server.origin(), &flow, &["--statistics-file", missing.to_str().unwrap()], &["true"]).output().unwrap();
    expect_status(&output, 0);
    assert!(stderr(&output).contains("never.json"), "{}", stderr(&output));
    assert_eq!(newest_run(&server, &flow)["status"], "completed");
}

#[test]
fn exec_forwards_sigterm_and_records_interrupted() {
    let server = server();
    let flow = flow(&server, "long job");
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    // The shell replaces itself with sleep: the pid written is the process exec must stop.
    let script = format!("echo $$ > '{}.tmp' && mv '{0}.tmp' '{0}' && exec sleep 600", pid_file.display());
    let mut child = spawn(exec_cmd(server.origin(), &flow, &[], &["sh", "-c", &script]).stdout(Stdio::null()).stderr(Stdio::piped()));
    eventually("the command to start", || pid_file.exists());
    let grandchild: i32 = std::fs::read_to_string(&pid_file).unwrap().trim().parse().unwrap();
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = wait_child(&mut child);
    assert_eq!(status.code(), Some(128 + 15), "exec exits as its command did: killed by SIGTERM");
    assert_eq!(unsafe { libc::kill(grandchild, 0) }, -1, "the command is gone");
    let run = newest_run(&server, &flow);
    assert_eq!(run["status"], "failed");
    assert_eq!(run["blockingError"]["code"], "interrupted");
    assert!(run["blockingError"]["message"].as_str().unwrap().contains("SIGTERM"), "{run}");
}

#[test]
fn exec_when_the_server_is_down() {
    let origin = closed_origin();
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let touch = format!("touch '{}'; exit 4", marker.display());
    let output = exec_cmd(&origin, "0190a0d4-0000-7000-8000-000000000000", &[], &["sh", "-c", &touch]).output().unwrap();
    expect_status(&output, 2);
    assert!(stderr(&output).contains(&origin) && stderr(&output).contains("not run"), "{}", stderr(&output));
    assert!(!marker.exists(), "the command did not run");

    let output = exec_cmd(&origin, "0190a0d4-0000-7000-8000-000000000000", &["--best-effort"], &["sh", "-c", &touch]).output().unwrap();
    expect_status(&output, 4);
    assert!(marker.exists(), "--best-effort runs it anyway");
    assert!(stderr(&output).contains("unrecorded"), "{}", stderr(&output));
}

#[test]
fn exec_gives_up_on_recording_the_end_after_its_retry_time() {
    let server = server();
    let flow = flow(&server, "import");
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let script = format!("{}; exit 5", wait_for_file(&go));
    let mut child =
        spawn(exec_cmd(server.origin(), &flow, &[], &["sh", "-c", &script]).env("RUNHUB_EXEC_RETRY_FOR", "1s").stderr(Stdio::piped()));
    eventually("the run to be created", || get_json(&server.api("industryData/runs"))["value"].as_array().is_some_and(|v| !v.is_empty()));
    drop(server);
    std::fs::write(&go, "").unwrap();
    let status = wait_child(&mut child);
    assert_eq!(status.code(), Some(5), "the command's status, although the end could not be recorded");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("could not record the end of the run") && err.contains("cannot reach"), "{err}");
}

#[test]
fn watch_follows_a_run_to_its_end() {
    let server = server();
    let flow = flow(&server, "watched");
    for (status, code) in [("failed", 3), ("completedWithErrors", 4), ("completed", 0)] {
        let id = stdout(&cli(&server, &["runs", "create", "--process", &flow, "--name", status])).trim().to_owned();
        let mut watcher = spawn(
            runhub_at(server.origin())
                .args(["runs", "watch", &id, "--exit-status", "--poll-interval", "100ms"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped()),
        );
        let lines = lines_of(&mut watcher);
        wait_for_line(&lines, |l| l.contains("running"));
        send(reqwest::Method::PATCH, &server.api(&format!("industryData/runs/{id}")), json!({"statistics": {"rows": 7}}));
        wait_for_line(&lines, |l| l.contains("\"rows\":7"));
        send(reqwest::Method::PATCH, &server.api(&format!("industryData/runs/{id}")), json!({"status": status}));
        wait_for_line(&lines, |l| l.contains(status));
        assert_eq!(wait_child(&mut watcher).code(), Some(code), "--exit-status for {status}");
        let mut err = String::new();
        std::io::Read::read_to_string(&mut watcher.stderr.take().unwrap(), &mut err).unwrap();
        assert!(!err.contains("no live stream"), "the server's live stream is used, not polling: {err}");
    }
    // Without --exit-status the end of the run is a success of the command.
    let id = stdout(&cli(&server, &["runs", "create", "--process", &flow, "--status", "failed"])).trim().to_owned();
    expect_status(&cli(&server, &["runs", "watch", &id]), 0);
    expect_status(&cli(&server, &["runs", "watch", &id, "--exit-status"]), 3);
}

#[test]
fn watch_without_id_prints_changes() {
    let server = server();
    let flow = flow(&server, "everything");
    let mut watcher = runhub_at(server.origin())
        .args(["runs", "watch", "--poll-interval", "100ms"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = lines_of(&mut watcher);
    // Changes keep coming until the watcher shows one (it may connect after the first ones).
    let id = stdout(&cli(&server, &["runs", "create", "--process", &flow, "--name", "seen live"])).trim().to_owned();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut n = 0;
    let line = loop {
        n += 1;
        send(reqwest::Method::PATCH, &server.api(&format!("industryData/runs/{id}")), json!({"statistics": {"n": n}}));
        if let Ok(line) = lines.recv_timeout(Duration::from_millis(300))
            && line.contains(&id)
        {
            break line;
        }
        assert!(Instant::now() < deadline, "no change printed");
    };
    assert!(line.contains("running") && line.contains("seen live") && line.contains("incoming"), "{line}");
}

/// A counting HTTP proxy in front of the server: it records every request (method, path, body),
/// and while `down` it answers 503 without forwarding, as an overloaded or restarting service.
struct Proxy {
    origin: String,
    seen: std::sync::Arc<std::sync::Mutex<Vec<(String, String, String)>>>,
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
    _runtime: tokio::runtime::Runtime,
}

#[derive(Clone)]
struct ProxyState {
    upstream: String,
    client: reqwest::Client,
    seen: std::sync::Arc<std::sync::Mutex<Vec<(String, String, String)>>>,
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

async fn forward(
    axum::extract::State(state): axum::extract::State<ProxyState>,
    method: reqwest::Method,
    uri: axum::http::Uri,
    headers: reqwest::header::HeaderMap,
    body: axum::body::Bytes,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    state.seen.lock().unwrap().push((method.to_string(), uri.path().to_owned(), String::from_utf8_lossy(&body).into_owned()));
    if state.down.load(std::sync::atomic::Ordering::SeqCst) {
        return (reqwest::StatusCode::SERVICE_UNAVAILABLE, "down for maintenance").into_response();
    }
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let mut request = state.client.request(method, format!("{}{path}", state.upstream)).body(body);
    for name in [reqwest::header::CONTENT_TYPE, reqwest::header::ACCEPT, reqwest::header::IF_MATCH] {
        if let Some(value) = headers.get(&name) {
            request = request.header(name, value);
        }
    }
    let Ok(reply) = request.send().await else { return reqwest::StatusCode::BAD_GATEWAY.into_response() };
    let mut response = axum::response::Response::builder().status(reply.status());
    for name in [reqwest::header::CONTENT_TYPE, reqwest::header::LOCATION, reqwest::header::ETAG] {
        if let Some(value) = reply.headers().get(&name) {
            response = response.header(name, value);
        }
    }
    let bytes = reply.bytes().await.unwrap_or_default();
    response.body(axum::body::Body::from(bytes)).unwrap()
}

fn proxy(upstream: &str) -> Proxy {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    let state =
        ProxyState { upstream: upstream.to_owned(), client: reqwest::Client::new(), seen: Default::default(), down: Default::default() };
    let (seen, down) = (state.seen.clone(), state.down.clone());
    let app = axum::Router::new().fallback(forward).with_state(state);
    runtime.spawn(async move { axum::serve(listener, app).await });
    Proxy { origin, seen, down, _runtime: runtime }
}

impl Proxy {
    /// How many requests matched.
    fn count(&self, method: &str, path_end: &str, body: impl Fn(&str) -> bool) -> usize {
        self.seen.lock().unwrap().iter().filter(|(m, p, b)| m == method && p.ends_with(path_end) && body(b)).count()
    }
}

#[test]
fn exec_sends_heartbeats_while_the_command_runs() {
    let server = server();
    let flow = flow(&server, "slow job");
    let proxy = proxy(server.origin());
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let script = wait_for_file(&go);
    let mut child = spawn(exec_cmd(&proxy.origin, &flow, &["--heartbeat", "100ms"], &["sh", "-c", &script]).stdout(Stdio::null()));
    eventually("the run to be created", || newest_run(&server, &flow).is_object());
    let id = newest_run(&server, &flow)["id"].as_str().unwrap().to_owned();
    let run_path = format!("/beta/industryData/runs/{id}");
    // Heartbeats are PATCHes of the run that change nothing.
    eventually("two heartbeats", || proxy.count("PATCH", &run_path, |b| b == "{}") >= 2);
    assert_eq!(run_of(&server, &id)["status"], "running");
    std::fs::write(&go, "").unwrap();
    assert_eq!(wait_child(&mut child).code(), Some(0));
    assert_eq!(run_of(&server, &id)["status"], "completed");
}

#[test]
fn exec_retries_recording_the_end_until_the_server_answers() {
    let server = server();
    let flow = flow(&server, "import");
    let proxy = proxy(server.origin());
    let dir = tempfile::tempdir().unwrap();
    let go = dir.path().join("go");
    let script = format!("{}; exit 5", wait_for_file(&go));
    let mut child = spawn(
        exec_cmd(&proxy.origin, &flow, &["--heartbeat", "0"], &["sh", "-c", &script])
            .env("RUNHUB_EXEC_RETRY_FOR", "60s")
            .stdout(Stdio::null()),
    );
    eventually("the run to be created", || newest_run(&server, &flow).is_object());
    let id = newest_run(&server, &flow)["id"].as_str().unwrap().to_owned();
    proxy.down.store(true, std::sync::atomic::Ordering::SeqCst);
    std::fs::write(&go, "").unwrap();
    let run_path = format!("/beta/industryData/runs/{id}");
    eventually("two refused attempts to finish", || proxy.count("PATCH", &run_path, |b| b.contains("\"failed\"")) >= 2);
    assert!(child.try_wait().unwrap().is_none(), "exec waits for the end to be recorded");
    proxy.down.store(false, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(wait_child(&mut child).code(), Some(5));
    let run = run_of(&server, &id);
    assert_eq!((run["status"].as_str(), run["blockingError"]["code"].as_str()), (Some("failed"), Some("exitStatus5")));
}
