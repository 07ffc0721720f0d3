//! The `runhub` command line (SPEC §6).

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};
use runhub_store::sqlite::{Durability, Options};

use crate::app::{AppState, router};

#[derive(Debug, Parser)]
#[command(name = "runhub", version, about = "Records and serves the history of data-integration runs through the Microsoft Graph industryData run API")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API until SIGINT or SIGTERM.
    Serve(ServeArgs),
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
}

fn parse_timeout(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(s) if s.is_finite() && s > 0.0 && s <= 3600.0 => Ok(s),
        _ => Err(format!("'{text}' is not a number of seconds between 0 and 3600")),
    }
}

pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let store = match &args.database_url {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            let options = runhub_store::postgres::Options {
                pool_size: args.db_pool_size as usize,
                timeout: std::time::Duration::from_secs_f64(args.db_timeout),
            };
            let store = runhub_store::open_postgres(url, options.clone()).await?;
            // Only the part after '@': the URL may carry a password.
            tracing::info!(database = url.rsplit('@').next().unwrap_or(""), ?options, "PostgreSQL store opened");
            store
        }
        Some(url) => anyhow::bail!(
            "--database-url '{}' names no supported database: use a postgres:// URL, or omit it for the embedded SQLite store",
            url.rsplit('@').next().unwrap_or("")
        ),
        None => {
            let durability = match args.durability {
                DurabilityArg::Full => Durability::Full,
                DurabilityArg::Relaxed => Durability::Relaxed,
            };
            let store = runhub_store::open(&args.data_dir, Options { durability, ..Options::default() }).await?;
            tracing::info!(data_dir = %args.data_dir.display(), ?durability, "SQLite store opened");
            store
        }
    };
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let addr = listener.local_addr()?;
    // Tests and scripts read this line to find the port.
    println!("runhub listening on http://{addr}");
    let app = router(AppState { store: store.clone(), public_url: args.public_url.clone() });
    axum::serve(listener, app).with_graceful_shutdown(shutdown_signal()).await?;
    store.close().await;
    tracing::info!("stopped cleanly");
    Ok(())
}

pub async fn main() -> anyhow::Result<()> {
    init_tracing();
    match Cli::parse().command {
        Command::Serve(args) => serve(args).await,
    }
}
