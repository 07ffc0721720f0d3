//! The `runhub` command line.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use runhub_store::sqlite::{Durability, Options};

use crate::app::{MetricsSettings, Security};
use crate::application::{Application, Settings, StoreSettings};
use crate::auth::{Authenticator, JwtSettings, JwtVerifier, Permission, TokenRequest};
use crate::limits::Limits;
use crate::telemetry::LogFormat;

#[derive(Debug, Parser)]
#[command(
    name = "runhub",
    version,
    about = "Records and serves the history of data-integration runs through the Microsoft Graph industryData run API"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

// Parsed once at start-up: the size of the `serve` variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API until SIGINT or SIGTERM.
    Serve(Box<ServeArgs>),
    /// Mint a signed HS256 test token for `serve --auth jwt --jwt-secret-file …` and print it.
    Token(TokenArgs),
    /// The client commands (runs, flows, groups, exec, completions): docs/cli.md.
    #[command(flatten)]
    Client(runhub_cli::Command),
    /// Copy the embedded database of a data directory — a running `runhub serve` may be using
    /// it — to a new file, consistently.
    Backup(BackupArgs),
    /// Put a backup in place as the database of a data directory (with `runhub serve` stopped).
    Restore(RestoreArgs),
}

#[derive(Debug, clap::Args)]
pub struct BackupArgs {
    /// The data directory of the embedded store.
    #[arg(long, env = "RUNHUB_DATA_DIR", default_value = "./runhub-data")]
    pub data_dir: PathBuf,
    /// The backup file to write (it must not exist yet).
    #[arg(long)]
    pub to: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct RestoreArgs {
    /// The backup file (made by `runhub backup`).
    #[arg(long)]
    pub from: PathBuf,
    /// The data directory to restore into.
    #[arg(long, env = "RUNHUB_DATA_DIR", default_value = "./runhub-data")]
    pub data_dir: PathBuf,
    /// Replace the database the data directory already holds.
    #[arg(long)]
    pub force: bool,
}

/// A mistake in the flags or settings: reported before anything starts, exit status 2 (as clap's
/// own errors are).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

fn usage(e: impl std::fmt::Display) -> anyhow::Error {
    UsageError(e.to_string()).into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AuthArg {
    /// No authentication: every request acts for one default tenant with every permission (a
    /// local single user).
    None,
    /// `Authorization: Bearer <JWT>`; the tenant is the token's `tid` claim.
    Jwt,
}

/// The token settings `serve` and `token` share.
#[derive(Debug, Clone, clap::Args)]
pub struct JwtArgs {
    /// File holding the shared HS256 secret (at least 32 bytes; a trailing newline is ignored).
    #[arg(long, env = "RUNHUB_JWT_SECRET_FILE")]
    pub jwt_secret_file: Option<PathBuf>,
    /// The issuer (`iss`) tokens must come from.
    #[arg(long, env = "RUNHUB_JWT_ISSUER", default_value = "runhub")]
    pub jwt_issuer: String,
    /// The audience (`aud`) tokens must be issued for.
    #[arg(long, env = "RUNHUB_JWT_AUDIENCE", default_value = "runhub")]
    pub jwt_audience: String,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum DurabilityArg {
    /// Acknowledge a write only once it is fsync'd: it survives power loss.
    Full,
    /// Acknowledge once written to the OS: survives a crash of runhub, not of the machine.
    Relaxed,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Address to listen on (port 0 picks a free port; the chosen one is printed).
    #[arg(long, env = "RUNHUB_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Directory of the embedded SQLite database.
    #[arg(long, env = "RUNHUB_DATA_DIR", default_value = "./runhub-data")]
    pub data_dir: PathBuf,
    /// A database URL. `postgres://…` selects PostgreSQL; without it, the embedded SQLite store is used.
    #[arg(long, env = "RUNHUB_DATABASE_URL")]
    pub database_url: Option<String>,
    /// The public base URL of the service (e.g. https://runs.example.com) used in every absolute URL
    /// of a reply; by default it is taken from the request's Host header.
    #[arg(long, env = "RUNHUB_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// What an acknowledged write is worth (SQLite; PostgreSQL's is the server's own setting).
    #[arg(long, env = "RUNHUB_DURABILITY", value_enum, default_value = "full")]
    pub durability: DurabilityArg,
    /// PostgreSQL: connections in this replica's pool.
    #[arg(long, env = "RUNHUB_DB_POOL_SIZE", default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub db_pool_size: u32,
    /// PostgreSQL: seconds any one database operation may take (connecting, waiting for a pooled
    /// connection or a row lock, running) before the request gets 503 with Retry-After.
    #[arg(long, env = "RUNHUB_DB_TIMEOUT", default_value_t = 5.0, value_parser = parse_timeout)]
    pub db_timeout: f64,
    /// How requests are authenticated.
    #[arg(long, env = "RUNHUB_AUTH", value_enum, default_value = "none")]
    pub auth: AuthArg,
    #[command(flatten)]
    pub jwt: JwtArgs,
    /// A JSON Web Key Set file with the public keys of RS256/ES256 tokens (chosen by `kid`).
    #[arg(long, env = "RUNHUB_JWKS_FILE")]
    pub jwks_file: Option<PathBuf>,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    #[arg(long, env = "RUNHUB_JWT_LEEWAY", default_value_t = 60)]
    pub jwt_leeway: u64,
    /// Requests per second allowed per tenant (per client IP when unauthenticated); fractions
    /// allowed (0.5 = one every 2 s). Unlimited when not given.
    #[arg(long, env = "RUNHUB_RATE_LIMIT")]
    pub rate_limit: Option<f64>,
    /// Requests a caller may send at once before the rate applies.
    #[arg(long, env = "RUNHUB_RATE_BURST", default_value_t = Limits::default().rate_burst)]
    pub rate_burst: u32,
    /// Longest request URL (path and query) in bytes; longer → 414.
    #[arg(long, env = "RUNHUB_MAX_URL_BYTES", default_value_t = Limits::default().max_url_bytes)]
    pub max_url_bytes: usize,
    /// Largest request head (all headers) in bytes; larger → 431.
    #[arg(long, env = "RUNHUB_MAX_HEADER_BYTES", default_value_t = Limits::default().max_header_bytes)]
    pub max_header_bytes: usize,
    /// Most headers in one request; more → 431.
    #[arg(long, env = "RUNHUB_MAX_HEADERS", default_value_t = Limits::default().max_headers)]
    pub max_headers: usize,
    /// Requests served at once; more → 503 with Retry-After.
    #[arg(long, env = "RUNHUB_MAX_CONCURRENT_REQUESTS", default_value_t = Limits::default().max_concurrent_requests)]
    pub max_concurrent_requests: usize,
    /// Open connections at once; more → 503 with Retry-After, then closed.
    #[arg(long, env = "RUNHUB_MAX_CONNECTIONS", default_value_t = Limits::default().max_connections)]
    pub max_connections: usize,
    /// Seconds a client has to send its request head; slower clients are cut off.
    #[arg(long, env = "RUNHUB_HEADER_TIMEOUT", default_value_t = Limits::default().header_timeout.as_secs_f64())]
    pub header_timeout: f64,
    /// Seconds to receive and answer a whole request (body included); slower → 408.
    #[arg(long, env = "RUNHUB_REQUEST_TIMEOUT", default_value_t = Limits::default().request_timeout.as_secs_f64())]
    pub request_timeout: f64,
    /// How often the service starts a run group by itself (for every tenant that has an
    /// incomingFlow): a duration such as 12h, 30s or 500ms; 0 turns the scheduler off.
    #[arg(long, env = "RUNHUB_SCHEDULE_INTERVAL", default_value = "12h", value_parser = crate::duration::parse_or_zero)]
    pub schedule_interval: Duration,
    /// How long the change log keeps changes and deletion tombstones for delta queries and live
    /// streams (a duration such as 7d or 12h); an older delta token gets 410 Gone.
    #[arg(long, env = "RUNHUB_CHANGE_RETENTION", default_value = "7d", value_parser = crate::duration::parse_positive)]
    pub change_retention: Duration,
    /// Let subscriptions deliver to plain http:// URLs (else https:// only).
    #[arg(long, env = "RUNHUB_WEBHOOK_ALLOW_HTTP")]
    pub webhook_allow_http: bool,
    /// Let subscriptions deliver to loopback, private, link-local and other non-public addresses
    /// (else refused, checked on the resolved address at every delivery).
    #[arg(long, env = "RUNHUB_WEBHOOK_ALLOW_PRIVATE")]
    pub webhook_allow_private: bool,
    /// How long undelivered notifications are retried (with growing delays) before they are
    /// dropped and the subscription's lifecycle URL hears 'missed': a duration such as 4h.
    #[arg(long, env = "RUNHUB_WEBHOOK_RETRY_FOR", default_value = "4h", value_parser = crate::duration::parse_positive)]
    pub webhook_retry_for: Duration,
    /// The delay before a failed delivery's first retry (later ones double, up to 10 minutes).
    /// For tests; Graph's receivers expect the default.
    #[arg(long, env = "RUNHUB_WEBHOOK_FIRST_RETRY", default_value = "5s", value_parser = crate::duration::parse_positive, hide = true)]
    pub webhook_first_retry: Duration,
    /// Live streams (delta with Accept: text/event-stream) open at once on this replica; more → 503.
    #[arg(long, env = "RUNHUB_MAX_STREAMS", default_value_t = crate::feed::FeedSettings::default().max_streams)]
    pub max_streams: usize,
    /// A run still running with no activity (creation or any PATCH) for longer than this is
    /// finished `failed` with blockingError.code runTimedOut: a duration such as 30m or 2h. Off
    /// when not given.
    #[arg(long, env = "RUNHUB_RUN_TIMEOUT", value_parser = crate::duration::parse_positive)]
    pub run_timeout: Option<Duration>,
    /// Finished runs whose endDateTime is older than this are deleted, in small batches: a
    /// duration such as 90d. Off (keep everything) when not given.
    #[arg(long, env = "RUNHUB_RETENTION", value_parser = crate::duration::parse_positive)]
    pub retention: Option<Duration>,
    /// A bearer token `/metrics` then requires (it protects /metrics only).
    #[arg(long, env = "RUNHUB_METRICS_TOKEN")]
    pub metrics_token: Option<String>,
    /// How long the `runhub_runs` counts on /metrics are reused before the store is asked again
    /// (a scan of the status index): a duration such as 15s, or 0 to count on every scrape.
    #[arg(long, env = "RUNHUB_METRICS_RUNS_TTL", default_value = "15s", value_parser = crate::duration::parse_or_zero)]
    pub metrics_runs_ttl: Duration,
    /// The format of log lines on stderr.
    #[arg(long, env = "RUNHUB_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// Serve HTTPS with this certificate chain (PEM, leaf first); needs --tls-key. Reloaded on
    /// SIGHUP. See docs/tls.md.
    #[arg(long, env = "RUNHUB_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 RSA or SEC1 EC).
    #[arg(long, env = "RUNHUB_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
}

fn parse_timeout(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= 3600.0 => Ok(s),
        _ => Err(format!("'{text}' is not a number of seconds between 0 and 3600")),
    }
}

#[derive(Debug, clap::Args)]
pub struct TokenArgs {
    #[command(flatten)]
    pub jwt: JwtArgs,
    /// The tenant (`tid` claim).
    #[arg(long, env = "RUNHUB_TOKEN_TENANT", default_value = "00000000-0000-0000-0000-000000000001")]
    pub tenant: String,
    /// Delegated permissions (`scp`), comma- or space-separated. Without --scopes and --roles,
    /// the token carries every permission as scopes.
    #[arg(long, env = "RUNHUB_TOKEN_SCOPES", value_delimiter = ',')]
    pub scopes: Vec<String>,
    /// Application permissions (`roles`), comma-separated.
    #[arg(long, env = "RUNHUB_TOKEN_ROLES", value_delimiter = ',')]
    pub roles: Vec<String>,
    /// Seconds until the token expires.
    #[arg(long, env = "RUNHUB_TOKEN_LIFETIME", default_value_t = 3600)]
    pub lifetime: u64,
}

fn seconds(flag: &str, value: f64) -> anyhow::Result<Duration> {
    Duration::try_from_secs_f64(value)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| anyhow::anyhow!("{flag} must be a positive number of seconds"))
}

impl ServeArgs {
    /// The limits these flags set.
    pub fn limits(&self) -> anyhow::Result<Limits> {
        if let Some(rate) = self.rate_limit {
            anyhow::ensure!(rate.is_finite() && rate > 0.0, "--rate-limit must be a positive number of requests per second");
        }
        anyhow::ensure!(self.rate_burst >= 1, "--rate-burst must be at least 1");
        anyhow::ensure!(self.max_url_bytes >= 256, "--max-url-bytes must be at least 256");
        anyhow::ensure!(self.max_header_bytes >= 1024, "--max-header-bytes must be at least 1024");
        anyhow::ensure!(self.max_headers >= 8, "--max-headers must be at least 8");
        anyhow::ensure!(self.max_concurrent_requests >= 1, "--max-concurrent-requests must be at least 1");
        anyhow::ensure!(self.max_connections >= 1, "--max-connections must be at least 1");
        Ok(Limits {
            max_url_bytes: self.max_url_bytes,
            max_header_bytes: self.max_header_bytes,
            max_headers: self.max_headers,
            max_concurrent_requests: self.max_concurrent_requests,
            max_connections: self.max_connections,
            header_timeout: seconds("--header-timeout", self.header_timeout)?,
            request_timeout: seconds("--request-timeout", self.request_timeout)?,
            rate_limit: self.rate_limit,
            rate_burst: self.rate_burst,
        })
    }

    /// The authenticator these flags set.
    pub fn authenticator(&self) -> anyhow::Result<Authenticator> {
        match self.auth {
            AuthArg::None => {
                if self.jwt.jwt_secret_file.is_some() || self.jwks_file.is_some() {
                    tracing::warn!("--jwt-secret-file/--jwks-file are ignored: authentication is off (--auth none)");
                }
                Ok(Authenticator::None)
            }
            AuthArg::Jwt => {
                let secret = self.jwt.jwt_secret_file.as_deref().map(crate::auth::read_secret_file).transpose()?;
                let jwks_json = match &self.jwks_file {
                    Some(path) => Some(
                        std::fs::read_to_string(path)
                            .map_err(|e| anyhow::anyhow!("cannot read the JWKS file '{}': {e}", path.display()))?,
                    ),
                    None => None,
                };
                let verifier = JwtVerifier::new(JwtSettings {
                    secret,
                    jwks_json,
                    issuer: self.jwt.jwt_issuer.clone(),
                    audience: self.jwt.jwt_audience.clone(),
                    leeway_seconds: self.jwt_leeway,
                })?;
                Ok(Authenticator::Jwt(std::sync::Arc::new(verifier)))
            }
        }
    }
}

/// `runhub token`: prints a signed HS256 token.
pub fn token(args: TokenArgs) -> anyhow::Result<()> {
    let path = args
        .jwt
        .jwt_secret_file
        .as_deref()
        .ok_or_else(|| anyhow::anyhow!("runhub token needs --jwt-secret-file (or RUNHUB_JWT_SECRET_FILE)"))?;
    let secret = crate::auth::read_secret_file(path)?;
    let split = |list: &[String]| -> Vec<String> { list.iter().flat_map(|s| s.split_whitespace()).map(str::to_owned).collect() };
    let mut scopes = split(&args.scopes);
    let roles = split(&args.roles);
    if scopes.is_empty() && roles.is_empty() {
        scopes = Permission::ALL.iter().map(|p| p.as_str().to_owned()).collect();
    }
    for name in scopes.iter().chain(&roles) {
        if Permission::parse(name).is_none() {
            let known: Vec<&str> = Permission::ALL.iter().map(|p| p.as_str()).collect();
            anyhow::bail!("unknown permission '{name}'; known: {}", known.join(", "));
        }
    }
    anyhow::ensure!(!args.tenant.trim().is_empty(), "--tenant must not be empty");
    let token = crate::auth::mint_hs256(
        &secret,
        &TokenRequest {
            tenant: args.tenant,
            scopes,
            roles,
            lifetime_seconds: args.lifetime,
            issuer: args.jwt.jwt_issuer,
            audience: args.jwt.jwt_audience,
        },
    )?;
    println!("{token}");
    Ok(())
}

/// Waits for a signal whose handler is installed; forever when it could not be.
#[cfg(unix)]
async fn recv(signal: Option<tokio::signal::unix::Signal>) {
    match signal {
        Some(mut s) => {
            s.recv().await;
        }
        None => std::future::pending::<()>().await,
    }
}

/// Resolves on SIGINT or SIGTERM. On Unix the handlers are installed when this is called, not when
/// the future is first polled: called before the listening line is printed, a signal sent right
/// after that line is always a clean stop, never the default (fatal) action.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let handlers = {
        use tokio::signal::unix::{SignalKind, signal};
        (signal(SignalKind::interrupt()).ok(), signal(SignalKind::terminate()).ok())
    };
    async move {
        #[cfg(unix)]
        {
            let (interrupt, terminate) = handlers;
            tokio::select! {
                () = recv(interrupt) => {},
                () = recv(terminate) => {},
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
        tracing::info!("shutting down: finishing in-flight requests");
    }
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    // Flags first: a bad flag is reported before any database is touched.
    let limits = args.limits().map_err(usage)?;
    let auth = args.authenticator().map_err(usage)?;
    if args.metrics_token.as_deref().is_some_and(|t| t.trim().is_empty() || t.contains(char::is_whitespace)) {
        return Err(usage("--metrics-token must be a non-empty token without spaces"));
    }
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            Some(std::sync::Arc::new(crate::tls::Tls::load(crate::tls::TlsFiles { cert: cert.clone(), key: key.clone() })?))
        }
        _ => None,
    };
    let store = match &args.database_url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => StoreSettings::Postgres {
            url: url.clone(),
            options: runhub_store::postgres::Options {
                pool_size: args.db_pool_size as usize,
                timeout: std::time::Duration::from_secs_f64(args.db_timeout),
            },
        },
        Some(url) => {
            return Err(usage(format!(
                "--database-url '{}' names no supported database: use a postgres:// URL, or omit it for the embedded SQLite store",
                url.rsplit('@').next().unwrap_or("")
            )));
        }
        None => {
            let durability = match args.durability {
                DurabilityArg::Full => Durability::Full,
                DurabilityArg::Relaxed => Durability::Relaxed,
            };
            StoreSettings::Sqlite { data_dir: args.data_dir.clone(), options: Options { durability, ..Options::default() } }
        }
    };
    let no_auth = auth.is_none();
    let settings = Settings {
        store,
        listen: args.listen,
        public_url: args.public_url.clone(),
        security: Security { auth, limits },
        tls: tls.clone(),
        feed: crate::feed::FeedSettings {
            retention: args.change_retention,
            max_streams: args.max_streams,
            ..crate::feed::FeedSettings::default()
        },
        metrics: MetricsSettings { token: args.metrics_token.clone(), runs_ttl: args.metrics_runs_ttl },
        webhooks: crate::webhooks::WebhookSettings {
            policy: crate::webhooks::Policy { allow_http: args.webhook_allow_http, allow_private: args.webhook_allow_private },
            retry_for: args.webhook_retry_for,
            first_retry: args.webhook_first_retry,
            ..crate::webhooks::WebhookSettings::default()
        },
        schedule_interval: args.schedule_interval,
        run_timeout: args.run_timeout,
        retention: args.retention,
    };
    let app = Application::build(settings).await?;
    let addr = app.local_addr();
    if no_auth && !crate::serve::is_loopback(&addr) {
        tracing::warn!(
            "!!! runhub is listening on {addr}, reachable from other machines, WITHOUT AUTHENTICATION: anyone who can \
             reach it can read and change every run. Use --auth jwt, or listen on 127.0.0.1. !!!"
        );
        eprintln!(
            "WARNING: runhub listens on {addr} without authentication (--auth none): anyone who can reach it can read and change all data"
        );
    }
    let shutdown = shutdown_signal();
    if let Some(tls) = &tls {
        crate::tls::reload_on_sighup(tls.clone());
    }
    // Tests and scripts read this line to find the port.
    println!("runhub listening on {}", app.base_url());
    app.run_until_stopped(shutdown).await?;
    tracing::info!("stopped cleanly");
    Ok(())
}

/// Prints what a backup or restore copied.
fn report(what: String, summary: &runhub_store::sqlite::backup::Summary) {
    println!("{what}: schema version {}, {} runs, {} processes", summary.schema_version, summary.runs, summary.processes);
}

/// `runhub backup`.
pub fn backup(args: BackupArgs) -> anyhow::Result<()> {
    let summary = runhub_store::sqlite::backup::backup(&args.data_dir, &args.to)?;
    report(format!("backup of '{}' written to '{}'", args.data_dir.display(), args.to.display()), &summary);
    Ok(())
}

/// `runhub restore`.
pub fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let summary = runhub_store::sqlite::backup::restore(&args.from, &args.data_dir, args.force)?;
    report(format!("'{}' restored into '{}'", args.from.display(), args.data_dir.display()), &summary);
    Ok(())
}

/// The process's exit status for an error `main` returned: 2 for a certificate or key that cannot
/// be served or a mistake in the flags (as clap's own errors), 1 for anything else.
pub fn exit_status(error: &anyhow::Error) -> u8 {
    if error.downcast_ref::<crate::tls::TlsError>().is_some() || error.is::<UsageError>() { 2 } else { 1 }
}

pub async fn main() -> anyhow::Result<std::process::ExitCode> {
    let cli = Cli::parse();
    let format = match &cli.command {
        Command::Serve(args) => args.log_format,
        _ => LogFormat::Text,
    };
    match cli.command {
        Command::Serve(args) => {
            let _log_flush = crate::telemetry::init(format);
            serve(*args).await?;
        }
        Command::Token(args) => token(args)?,
        Command::Backup(args) => tokio::task::block_in_place(|| backup(args))?,
        Command::Restore(args) => tokio::task::block_in_place(|| restore(args))?,
        Command::Client(client) => return Ok(runhub_cli::run(client, <Cli as clap::CommandFactory>::command).await),
    }
    Ok(std::process::ExitCode::SUCCESS)
}
