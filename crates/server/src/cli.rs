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
    /// What an acknowledged write is worth.
    #[arg(long, env = "RUNHUB_DURABILITY", value_enum, default_value = "full")]
    pub durability: DurabilityArg,
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
    if let Some(url) = &args.database_url {
        anyhow::bail!(
            "--database-url '{}' is not supported by this build: only the embedded SQLite store (--data-dir) is available",
            url.split('@').next_back().unwrap_or("")
        );
    }
    let durability = match args.durability {
        DurabilityArg::Full => Durability::Full,
        DurabilityArg::Relaxed => Durability::Relaxed,
    };
    let store = runhub_store::open(&args.data_dir, Options { durability, ..Options::default() }).await?;
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let addr = listener.local_addr()?;
    tracing::info!(data_dir = %args.data_dir.display(), ?durability, "store opened");
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
