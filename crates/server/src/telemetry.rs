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

/// Logs go to stderr through a background writer thread, so the one line per request never makes a
/// request wait on a `write` syscall. It blocks rather than drops when full: no line is lost. The
/// returned guard flushes on drop; keep it for the life of the process.
pub fn init(format: LogFormat) -> tracing_appender::non_blocking::WorkerGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default().lossy(false).finish(std::io::stderr());
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(ansi).try_init(),
        LogFormat::Json => builder.json().with_current_span(true).with_span_list(false).try_init(),
    };
    guard
}

/// The span of one request: everything logged inside it carries `request_id`.
pub fn request_span(request_id: &str) -> tracing::Span {
    tracing::info_span!("request", request_id = %request_id)
}

/// The access-log line of a request, logged inside its span.
pub fn log_request(span: &tracing::Span, method: &Method, path: &str, status: StatusCode, started: Instant) {
    span.in_scope(|| {
        tracing::info!(method = %method, path = %path, status = status.as_u16(), latency_ms = started.elapsed().as_secs_f64() * 1000.0, "request")
    });
}
