//! What runhub logs and how: the subscriber (`--log-format text|json`, written off the request path),
//! and for each request one span carrying its request-id — so every line logged while serving it,
//! its access-log line included, can be found by that id — and the access-log line itself.

use std::time::Instant;

use axum::http::{Method, StatusCode};

/// How log lines are written (`runhub serve --log-format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (the request id under `span`).
    Json,
}

/// Logs go to stderr through background writer threads — the access log's own, and one for every
/// other line — so logging never makes a request wait on a `write` syscall. Both block rather than
/// drop when full: no line is lost. The returned guard flushes both on drop; keep it for the life
/// of the process.
pub fn init(format: LogFormat) -> LogGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default().lossy(false).finish(std::io::stderr());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(ansi).try_init(),
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).try_init(),
    };
    LogGuard { _access: start_access_log(format), _events: guard }
}

/// Keeps the log writers running; dropping it flushes them.
pub struct LogGuard {
    _access: AccessLogGuard,
    _events: tracing_appender::non_blocking::WorkerGuard,
}

/// The span of one request: everything logged inside it carries `request_id`.
pub fn request_span(request_id: &str) -> tracing::Span {
    tracing::info_span!("request", request_id = %request_id)
}

// ---- the access log ---------------------------------------------------------------------------
//
// One line per request is the hottest thing runhub logs: at tens of thousands of requests a second,
// formatting it through the tracing subscriber (an allocation per field and per line, one channel
// message and one write per line) cost about a fifth of a do-nothing request. So the line is
// written here: formatted straight into one shared buffer under a short lock (no allocation once
// the buffer has grown), and a writer thread hands the whole buffer to stderr in one write, as
// often as lines come. Nothing is dropped: a writer that falls 8 MiB behind makes requests wait.

use std::io::Write as _;
use std::sync::{Arc, Condvar, Mutex, OnceLock};

/// The buffer a writer thread drains, shared with every request.
struct Shared {
    state: Mutex<Pending>,
    /// Signalled when `pending` goes from empty to not empty (and on shutdown).
    filled: Condvar,
    /// Signalled after each drain, for requests waiting for room.
    drained: Condvar,
}

struct Pending {
    lines: Vec<u8>,
    closed: bool,
}

/// Past this many bytes waiting, a request waits for the writer instead of growing the buffer.
const MAX_PENDING: usize = 8 << 20;

struct AccessLog {
    shared: Arc<Shared>,
    format: LogFormat,
}

static ACCESS_LOG: OnceLock<AccessLog> = OnceLock::new();

/// Flushes the access log when dropped: what is pending is written before the process exits.
pub struct AccessLogGuard {
    writer: Option<std::thread::JoinHandle<()>>,
}

impl Drop for AccessLogGuard {
    fn drop(&mut self) {
        if let Some(log) = ACCESS_LOG.get() {
            log.shared.state.lock().unwrap_or_else(|p| p.into_inner()).closed = true;
            log.shared.filled.notify_all();
        }
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// Starts the access log's writer thread (once per process).
fn start_access_log(format: LogFormat) -> AccessLogGuard {
    let shared = Arc::new(Shared {
        state: Mutex::new(Pending { lines: Vec::with_capacity(64 << 10), closed: false }),
        filled: Condvar::new(),
        drained: Condvar::new(),
    });
    if ACCESS_LOG.set(AccessLog { shared: shared.clone(), format }).is_err() {
        return AccessLogGuard { writer: None };
    }
    let writer = std::thread::Builder::new().name("access-log".into()).spawn(move || {
        let mut out = Vec::with_capacity(64 << 10);
        let mut stderr = std::io::stderr();
        loop {
            {
                let mut state = shared.state.lock().unwrap_or_else(|p| p.into_inner());
                while state.lines.is_empty() && !state.closed {
                    state = shared.filled.wait(state).unwrap_or_else(|p| p.into_inner());
                }
                if state.lines.is_empty() && state.closed {
                    return;
                }
                std::mem::swap(&mut state.lines, &mut out);
            }
            shared.drained.notify_all();
            let _ = stderr.write_all(&out);
            out.clear();
        }
    });
    AccessLogGuard { writer: writer.ok() }
}

/// Appends `s` to a JSON string being written (the quotes are the caller's).
fn json_escaped(out: &mut Vec<u8>, s: &str) {
    for c in s.chars() {
        match c {
            '"' => out.extend_from_slice(b"\\\""),
            '\\' => out.extend_from_slice(b"\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => {
                let mut utf8 = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut utf8).as_bytes());
            }
        }
    }
}

/// Writes the access-log line of a request: to the access log when it is running and the filter
/// lets `runhub_server::access` INFO lines through; otherwise as a tracing event (tests that install
/// their own subscriber still see it).
pub fn log_request(span: &tracing::Span, request_id: &str, method: &Method, path: &str, status: StatusCode, started: Instant) {
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let Some(log) = ACCESS_LOG.get() else {
        span.in_scope(|| {
            tracing::info!(target: "runhub_server::access", method = %method, path = %path, status = status.as_u16(), latency_ms, "request")
        });
        return;
    };
    if !tracing::enabled!(target: "runhub_server::access", tracing::Level::INFO) {
        return;
    }
    let now = humantime::format_rfc3339_micros(std::time::SystemTime::now());
    let mut state = log.shared.state.lock().unwrap_or_else(|p| p.into_inner());
    while state.lines.len() > MAX_PENDING && !state.closed {
        state = log.shared.drained.wait(state).unwrap_or_else(|p| p.into_inner());
    }
    let was_empty = state.lines.is_empty();
    let out = &mut state.lines;
    let _ = match log.format {
        LogFormat::Text => {
            let _ = write!(out, "{now}  INFO request{{request_id={request_id}}}: runhub_server::access: request method={method} path=");
            out.extend_from_slice(path.as_bytes());
            writeln!(out, " status={} latency_ms={latency_ms:.3}", status.as_u16())
        }
        LogFormat::Json => {
            let _ = write!(
                out,
                "{{\"timestamp\":\"{now}\",\"level\":\"INFO\",\"fields\":{{\"message\":\"request\",\"method\":\"{method}\",\"path\":\""
            );
            json_escaped(out, path);
            let _ = write!(out, "\",\"status\":{},\"latency_ms\":{latency_ms:.3}}},\"target\":\"runhub_server::access\",", status.as_u16());
            out.extend_from_slice(b"\"span\":{\"request_id\":\"");
            json_escaped(out, request_id);
            out.extend_from_slice(b"\",\"name\":\"request\"}}\n");
            Ok(())
        }
    };
    drop(state);
    if was_empty {
        log.shared.filled.notify_one();
    }
}
