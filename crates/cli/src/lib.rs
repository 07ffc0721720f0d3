//! The `runhub` command-line client: `runs`, `flows`, `groups`, `exec` and `completions`, spoken
//! over HTTP to a runhub service. Usage, output and exit statuses: docs/cli.md.

use std::process::ExitCode;

use clap::Subcommand;

pub mod client;
mod exec;
mod filter;
mod flows;
mod format;
mod groups;
mod runs;
mod watch;

pub use client::{ConnArgs, Error};
pub use exec::ExecArgs;
pub use flows::FlowsArgs;
pub use groups::GroupsArgs;
pub use runs::RunsArgs;

/// A server error (its Graph message is printed), or a command misused.
pub const EXIT_ERROR: u8 = 1;
/// The server could not be reached (refused, timed out, DNS, TLS); also clap's usage errors.
pub const EXIT_UNREACHABLE: u8 = 2;
/// `runs watch --exit-status`: the run ended `failed`.
pub const EXIT_RUN_FAILED: u8 = 3;
/// `runs watch --exit-status`: the run ended `completedWithErrors`.
pub const EXIT_RUN_COMPLETED_WITH_ERRORS: u8 = 4;

/// The client subcommands of `runhub`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// List, show, watch, create and finish runs.
    Runs(RunsArgs),
    /// List and show flows (the processes runs belong to); start an incoming flow now.
    Flows(FlowsArgs),
    /// Create run groups; download a group's errors-and-warnings CSV.
    Groups(GroupsArgs),
    /// Run a command as a recorded run (cron jobs, scripts).
    ///
    /// Creates a running run of the flow, runs the command with this terminal's stdin and stdout
    /// (stderr passed through, its last 4 KiB kept), sends a heartbeat while it runs, finishes the
    /// run `completed` (exit status 0) or `failed` (with the stderr tail as its blockingError), and
    /// only then exits with the command's status (128 + N when killed by signal N). SIGINT and
    /// SIGTERM are passed on to the command; the run is then failed with code `interrupted`.
    #[command(
        after_help = "Example (crontab):\n  0 2 * * *  runhub exec --process 7d0f… --name nightly-backup -- /usr/local/bin/backup.sh --full"
    )]
    Exec(ExecArgs),
    /// Print a completion script for a shell (bash, zsh, fish, elvish, powershell).
    Completions(CompletionsArgs),
}

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    pub shell: clap_complete::Shell,
}

/// Runs a client subcommand and gives the process's exit status. `cli` builds the whole `runhub`
/// command (for completions). Errors are printed here, on stderr, as one line.
pub async fn run(command: Command, cli: impl FnOnce() -> clap::Command) -> ExitCode {
    let result = match command {
        Command::Runs(args) => runs::run(args).await,
        Command::Flows(args) => flows::run(args).await,
        Command::Groups(args) => groups::run(args).await,
        Command::Exec(args) => exec::run(args).await,
        Command::Completions(args) => {
            let mut command = cli();
            let mut script = Vec::new();
            clap_complete::generate(args.shell, &mut command, "runhub", &mut script);
            format::out(&String::from_utf8_lossy(&script)).map(|()| 0)
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("runhub: {error}");
            ExitCode::from(error.exit_code())
        }
    }
}
