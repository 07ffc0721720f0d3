//! The real `runhub` binary as a test starts it: on a free port, with the address read from the
//! line it prints once it listens.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

pub struct Runhub {
    pub child: Child,
    pub base: String,
}

/// Starts `runhub serve --listen 127.0.0.1:0` with more arguments and environment variables.
#[allow(dead_code)]
pub fn spawn(args: &[&str], envs: &[(&str, &str)]) -> Runhub {
    spawn_logging(args, envs, "warn", Stdio::inherit())
}

/// Like [`spawn`], with the server's log (at `warn` and above) collected: the returned buffer
/// grows as lines arrive.
#[allow(dead_code)]
pub fn spawn_logged(args: &[&str], envs: &[(&str, &str)]) -> (Runhub, Arc<Mutex<String>>) {
    let mut hub = spawn_logging(args, envs, "warn", Stdio::piped());
    let log = Arc::new(Mutex::new(String::new()));
    let stderr = hub.child.stderr.take().expect("piped stderr");
    let sink = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            let mut log = sink.lock().unwrap();
            log.push_str(&line);
            log.push('\n');
        }
    });
    (hub, log)
}

/// [`spawn`] with a log level (`RUST_LOG`) and where its stderr goes.
#[allow(dead_code)] // not every test binary that includes this module uses it
pub fn spawn_logging(args: &[&str], envs: &[(&str, &str)], log: &str, stderr: Stdio) -> Runhub {
    let mut child = Command::new(env!("CARGO_BIN_EXE_runhub"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .envs(envs.iter().copied())
        .env("RUST_LOG", log)
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .expect("start runhub");
    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).expect("read the listening line");
    let base = line.trim().rsplit(' ').next().unwrap_or_default().to_owned();
    assert!(base.starts_with("http://127.0.0.1:") || base.starts_with("https://127.0.0.1:"), "unexpected first line: {line:?}");
    Runhub { child, base }
}

impl Drop for Runhub {
    /// A test that fails midway must not leave a server behind.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
