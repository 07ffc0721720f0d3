//! What runhub logs and how: the subscriber (`--log-format text|json`, written off the request path),
//! whose lines carry the request-id of the request being served — so every line logged while
//! serving it, its access-log line included, can be found by that id — and the access-log line.

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
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default().lossy(false).finish(std::io::stderr());
    let _ = subscriber(format, filter, writer).try_init();
    LogGuard { _access: start_access_log(format), _events: guard }
}

type Subscriber = Box<dyn tracing::Subscriber + Send + Sync>;

/// The subscriber: lines of `format`, those `filter` lets through, written to `writer`.
fn subscriber<W>(format: LogFormat, filter: tracing_subscriber::EnvFilter, writer: W) -> Subscriber
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer).with_ansi(false);
    match format {
        LogFormat::Text => Box::new(builder.event_format(Lines { format }).finish()),
        LogFormat::Json => {
            Box::new(builder.fmt_fields(tracing_subscriber::fmt::format::JsonFields::new()).event_format(Lines { format }).finish())
        }
    }
}

/// Keeps the log writers running; dropping it flushes them.
pub struct LogGuard {
    _access: AccessLogGuard,
    _events: tracing_appender::non_blocking::WorkerGuard,
}

// ---- lines logged while serving a request --------------------------------------------------------
//
// Every line logged while a request is served carries its request-id, the way a `request` span
// would show it — but without a span: a span per request (created, its field formatted, entered
// and left on every poll) cost about a quarter of a do-nothing request, and almost no request logs
// anything. The id is already in a task-local (`protocol::current_request_id`), so the formatter
// reads it from there when, rarely, a line is written.

use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The event formatter: tracing's own line shapes (`text`: `time LEVEL request{request_id=…}:
/// target: fields`; `json`: `{"timestamp","level","fields","target","span"}`), with the request's
/// id where tracing would put the request span.
struct Lines {
    format: LogFormat,
}

impl<S, N> FormatEvent<S, N> for Lines
where
    S: tracing::Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(&self, ctx: &FmtContext<'_, S, N>, mut writer: Writer<'_>, event: &tracing::Event<'_>) -> std::fmt::Result {
        let meta = event.metadata();
        let now = humantime::format_rfc3339_micros(std::time::SystemTime::now());
        let request_id = crate::protocol::current_request_id();
        match self.format {
            LogFormat::Text => {
                write!(writer, "{now} {:>5} ", meta.level())?;
                if let Some(id) = &request_id {
                    write!(writer, "request{{request_id={id}}}: ")?;
                }
                write!(writer, "{}: ", meta.target())?;
                ctx.format_fields(writer.by_ref(), event)?;
                writeln!(writer)
            }
            LogFormat::Json => {
                write!(writer, "{{\"timestamp\":\"{now}\",\"level\":\"{}\",\"fields\":", meta.level())?;
                ctx.format_fields(writer.by_ref(), event)?;
                write!(writer, ",\"target\":{}", serde_json::Value::from(meta.target()))?;
                if let Some(id) = &request_id {
                    write!(writer, ",\"span\":{{\"request_id\":{},\"name\":\"request\"}}", serde_json::Value::from(id.as_str()))?;
                }
                writeln!(writer, "}}")
            }
        }
    }
}

// ---- the access log ---------------------------------------------------------------------------
//
// One line per request is the hottest thing runhub logs: at tens of thousands of requests a second,
// formatting it through the tracing subscriber (an allocation per field and per line, one channel
// message and one write per line) cost about a fifth of a do-nothing request. So the line is
// written here: formatted straight into one shared buffer under a short lock (no allocation once
// the buffer has grown), and a writer thread hands the whole buffer to stderr in one write at most
// every few milliseconds. Under load the writer is asleep between writes, so a request neither
// wakes it nor waits for it (waking it per line cost a context switch per request); it is woken
// only when it found nothing to write and went to wait. Nothing is dropped: a writer that falls
// 8 MiB behind makes requests wait.

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
    /// The writer found nothing to write and waits on `filled`.
    idle: bool,
}

/// Past this many bytes waiting, a request waits for the writer instead of growing the buffer.
const MAX_PENDING: usize = 8 << 20;

/// How long the writer lets lines gather after a write: the most a line waits to be written.
const GATHER: std::time::Duration = std::time::Duration::from_millis(10);

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
        state: Mutex::new(Pending { lines: Vec::with_capacity(64 << 10), closed: false, idle: false }),
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
                    state.idle = true;
                    state = shared.filled.wait(state).unwrap_or_else(|p| p.into_inner());
                }
                state.idle = false;
                if state.lines.is_empty() && state.closed {
                    return;
                }
                std::mem::swap(&mut state.lines, &mut out);
            }
            shared.drained.notify_all();
            let _ = stderr.write_all(&out);
            out.clear();
            let closed = shared.state.lock().unwrap_or_else(|p| p.into_inner()).closed;
            if !closed {
                std::thread::sleep(GATHER);
            }
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
pub fn log_request(request_id: &str, method: &Method, path: &str, status: StatusCode, started: Instant) {
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    let Some(log) = ACCESS_LOG.get() else {
        tracing::info!(target: "runhub_server::access", request_id, method = %method, path = %path, status = status.as_u16(), latency_ms, "request");
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
    let wake = state.idle && state.lines.is_empty();
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
    if wake {
        log.shared.filled.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::{LogFormat, subscriber};
    use crate::protocol::{RequestIds, serve_as};
    use axum::http::Method;
    use std::sync::{Arc, Mutex};

    /// What a subscriber of `format` writes while `log` runs.
    async fn captured(format: LogFormat, log: impl std::future::Future<Output = ()>) -> String {
        let out = Arc::new(Mutex::new(Vec::new()));
        let sink = out.clone();
        let writer = move || Sink(sink.clone());
        let _default = tracing::subscriber::set_default(subscriber(format, "info".into(), writer));
        log.await;
        String::from_utf8(out.lock().unwrap().clone()).unwrap()
    }

    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    async fn a_request_that_logs() {
        let ids = RequestIds { request_id: "req-1".into(), client_request_id: None };
        serve_as(&Method::GET, "/beta/x", ids, std::time::Instant::now(), async {
            tracing::error!(code = "generalException", "request failed");
            axum::response::Response::default()
        })
        .await;
        tracing::warn!("not in a request");
    }

    #[tokio::test]
    async fn lines_logged_while_serving_a_request_carry_its_id_in_text() {
        let text = captured(LogFormat::Text, a_request_that_logs()).await;
        let lines: Vec<&str> = text.lines().filter(|l| !l.contains("runhub_server::access")).collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(
            lines[0]
                .contains(" ERROR request{request_id=req-1}: runhub_server::telemetry::tests: request failed code=\"generalException\""),
            "{text}"
        );
        assert!(lines[1].contains("  WARN runhub_server::telemetry::tests: not in a request"), "{text}");
        assert!(!lines[1].contains("req-1"), "{text}");
    }

    #[tokio::test]
    async fn lines_logged_while_serving_a_request_carry_its_id_in_json() {
        let text = captured(LogFormat::Json, a_request_that_logs()).await;
        let lines: Vec<serde_json::Value> =
            text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"))).collect();
        let lines: Vec<&serde_json::Value> = lines.iter().filter(|l| l["target"] != "runhub_server::access").collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(lines[0]["level"], "ERROR");
        assert_eq!(lines[0]["fields"]["message"], "request failed");
        assert_eq!(lines[0]["fields"]["code"], "generalException");
        assert_eq!(lines[0]["target"], "runhub_server::telemetry::tests");
        assert_eq!(lines[0]["span"], serde_json::json!({"request_id": "req-1", "name": "request"}));
        assert_eq!(lines[1]["fields"]["message"], "not in a request");
        assert!(lines[1].get("span").is_none(), "{text}");
    }
}
