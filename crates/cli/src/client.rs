//! The HTTP side of the CLI: one connection to a runhub service (`--server`, `--token`), Graph
//! errors turned into [`Error`], and the few request shapes the commands need.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, HeaderMap, HeaderValue};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::Value;
use url::Url;

/// What went wrong, and so the exit status (docs/cli.md, "Exit statuses").
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The service answered with an error: its Graph `error.message`.
    #[error("{message}")]
    Api { status: StatusCode, code: String, message: String },
    /// No answer from the service: refused, reset, timed out, DNS, TLS.
    #[error("cannot reach the runhub server at {server}: {detail}")]
    Unreachable { server: String, detail: String },
    /// Anything else (a bad flag value, an unreadable file, a reply that is not what the API sends).
    #[error("{0}")]
    Other(String),
}

impl Error {
    pub fn other(message: impl Into<String>) -> Self {
        Error::Other(message.into())
    }

    /// 2 when the server could not be reached; 1 for every other error.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Unreachable { .. } => crate::EXIT_UNREACHABLE,
            _ => crate::EXIT_ERROR,
        }
    }

    pub fn is_unreachable(&self) -> bool {
        matches!(self, Error::Unreachable { .. })
    }

    /// Worth trying again: no answer, 5xx, 429, 408.
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Unreachable { .. } => true,
            Error::Api { status, .. } => {
                status.is_server_error() || *status == StatusCode::TOO_MANY_REQUESTS || *status == StatusCode::REQUEST_TIMEOUT
            }
            Error::Other(_) => false,
        }
    }

    pub fn status(&self) -> Option<StatusCode> {
        match self {
            Error::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where the service is and who we are: the flags every client command shares.
#[derive(Debug, Clone, clap::Args)]
pub struct ConnArgs {
    /// The runhub service's origin (scheme, host, port); the CLI adds `/beta`.
    #[arg(long, env = "RUNHUB_SERVER", default_value = "http://127.0.0.1:8080", global = true, hide_env_values = true)]
    pub server: String,
    /// A bearer token for a service that runs with `--auth jwt`.
    #[arg(long, env = "RUNHUB_TOKEN", global = true, hide_env_values = true, conflicts_with = "token_file")]
    pub token: Option<String>,
    /// A file holding the bearer token (surrounding whitespace is ignored).
    #[arg(long, env = "RUNHUB_TOKEN_FILE", global = true, hide_env_values = true)]
    pub token_file: Option<PathBuf>,
    /// Seconds one request may take before the server counts as unreachable.
    #[arg(long, env = "RUNHUB_TIMEOUT", default_value_t = 30.0, global = true, hide_env_values = true, value_parser = positive_seconds)]
    pub timeout: f64,
}

fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= 86_400.0 => Ok(s),
        _ => Err(format!("'{text}' is not a number of seconds between 0 and 86400")),
    }
}

/// A connection to one runhub service.
#[derive(Clone)]
pub struct Conn {
    /// The service root, `<origin>/beta/`.
    base: Url,
    /// The origin as the user gave it, for messages.
    server: String,
    http: reqwest::Client,
    /// For the live stream: no overall deadline, but a read deadline (the server sends a comment
    /// line every 15 s, so silence for longer means the connection is dead).
    streaming: reqwest::Client,
}

impl Conn {
    pub fn new(args: &ConnArgs) -> Result<Self> {
        let server = args.server.trim_end_matches('/').to_owned();
        let mut base = Url::parse(&server).map_err(|e| Error::other(format!("--server '{server}' is not a URL: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(Error::other(format!("--server '{server}' must be an http:// or https:// origin, e.g. http://127.0.0.1:8080")));
        }
        base.set_query(None);
        base.set_fragment(None);
        let path = base.path().trim_end_matches('/').to_owned();
        base.set_path(&format!("{path}/beta/"));

        let token = match (&args.token, &args.token_file) {
            (Some(token), _) => Some(token.trim().to_owned()),
            (None, Some(path)) => Some(
                std::fs::read_to_string(path)
                    .map_err(|e| Error::other(format!("cannot read --token-file '{}': {e}", path.display())))?
                    .trim()
                    .to_owned(),
            ),
            (None, None) => None,
        };
        let mut headers = HeaderMap::new();
        if let Some(token) = token.filter(|t| !t.is_empty()) {
            let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
                .map_err(|_| Error::other("the token holds characters a header cannot carry"))?;
            value.set_sensitive(true);
            headers.insert(AUTHORIZATION, value);
        }
        let user_agent = concat!("runhub-cli/", env!("CARGO_PKG_VERSION"));
        let timeout = Duration::from_secs_f64(args.timeout);
        let build = |builder: reqwest::ClientBuilder| {
            builder
                .user_agent(user_agent)
                .default_headers(headers.clone())
                .connect_timeout(timeout.min(Duration::from_secs(10)))
                .build()
                .map_err(|e| Error::other(format!("cannot set up the HTTP client: {e}")))
        };
        let http = build(reqwest::Client::builder().timeout(timeout))?;
        let streaming = build(reqwest::Client::builder().read_timeout(Duration::from_secs(45).max(timeout)))?;
        Ok(Conn { base, server, http, streaming })
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    /// The URL of a path below `/beta`, each segment percent-encoded (ids are user input).
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        {
            let mut path = url.path_segments_mut().expect("an http URL has a path");
            path.pop_if_empty();
            path.extend(segments);
        }
        url
    }

    /// The same URL with query options (values percent-encoded; `$` names kept readable).
    pub fn url_with(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.url(segments);
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in query {
                pairs.append_pair(name, value);
            }
        }
        url
    }

    /// A URL the service sent back (`@odata.nextLink`, `Location`): absolute, and on this server.
    pub fn resolve(&self, link: &str) -> Result<Url> {
        self.base.join(link).map_err(|e| Error::other(format!("the server sent a link that is not a URL ('{link}'): {e}")))
    }

    fn unreachable(&self, err: &reqwest::Error) -> Error {
        // The innermost cause says the most ("Connection refused", "operation timed out").
        let mut detail = err.to_string();
        let mut source = std::error::Error::source(err);
        while let Some(cause) = source {
            detail = cause.to_string();
            source = cause.source();
        }
        if err.is_timeout() {
            detail = format!("no answer in time ({detail})");
        }
        Error::Unreachable { server: self.server.clone(), detail }
    }

    pub fn request(&self, method: Method, url: Url) -> RequestBuilder {
        self.http.request(method, url).header(ACCEPT, "application/json")
    }

    pub fn stream_request(&self, url: Url) -> RequestBuilder {
        self.streaming.get(url).header(ACCEPT, "text/event-stream")
    }

    /// Sends a request; a non-2xx reply becomes [`Error::Api`] with the Graph message.
    pub async fn send(&self, request: RequestBuilder) -> Result<Response> {
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(self.error_of(response).await)
    }

    /// Sends a request without judging its status (the caller looks at it).
    pub async fn send_raw(&self, request: RequestBuilder) -> Result<Response> {
        request.send().await.map_err(|e| self.unreachable(&e))
    }

    pub async fn error_of(&self, response: Response) -> Error {
        let status = response.status();
        let text = match response.text().await {
            Ok(text) => text,
            Err(e) => return self.unreachable(&e),
        };
        let parsed: Option<Value> = serde_json::from_str(&text).ok();
        let error = parsed.as_ref().and_then(|v| v.get("error"));
        match error.and_then(|e| e.get("message")).and_then(Value::as_str) {
            Some(message) => Error::Api {
                status,
                code: error.and_then(|e| e.get("code")).and_then(Value::as_str).unwrap_or_default().to_owned(),
                message: message.to_owned(),
            },
            None => {
                let snippet: String = text.trim().chars().take(200).collect();
                let reason = status.canonical_reason().unwrap_or("error");
                let message = if snippet.is_empty() {
                    format!("the server answered {} {reason}", status.as_u16())
                } else {
                    format!("the server answered {} {reason}: {snippet}", status.as_u16())
                };
                Error::Api { status, code: String::new(), message }
            }
        }
    }

    /// The reply body as text, exactly as sent.
    pub async fn text(&self, response: Response) -> Result<String> {
        response.text().await.map_err(|e| self.unreachable(&e))
    }

    pub async fn get_text(&self, url: Url) -> Result<String> {
        let response = self.send(self.request(Method::GET, url)).await?;
        self.text(response).await
    }

    pub async fn get_json(&self, url: Url) -> Result<Value> {
        parse_json(&self.get_text(url).await?)
    }

    pub async fn send_json(&self, method: Method, url: Url, body: &Value) -> Result<String> {
        let response = self.send(self.request(method, url).json(body)).await?;
        self.text(response).await
    }
}

pub fn parse_json(text: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| Error::other(format!("the server's reply is not JSON: {e}")))
}
