//! The `cyberbrain` command line: `serve`, `scheduler`, `ingester`, `run`, `migrate`, `doctor`
//! and `mcp --stdio`.
//!
//! Every command loads the configuration the same way (`--config PATH`, else `./cyberbrain.toml`
//! when present, then the environment) and logs to stderr, so stdout stays free for command
//! output and for the MCP stdio protocol.

mod doctor;
mod ingester;
mod logging;
mod mcp;
mod migrate;
mod open;
mod probe;
mod run;
mod scheduler;
mod serve;
mod signal;

use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use cyberbrain_core::Config;

/// Cyberbrain: a local-first operations assistant.
#[derive(Debug, Parser)]
#[command(name = "cyberbrain", version, propagate_version = true)]
pub struct Cli {
    /// Configuration file (default: ./cyberbrain.toml when it exists). Environment variables
    /// override its values.
    #[arg(long, global = true, value_name = "PATH", env = "CYBERBRAIN_CONFIG")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the REST API, web UI, API docs and MCP endpoint, and fire schedules, execute runs
    /// and ingest uploads in-process.
    Serve {
        /// Do not execute runs in this process (leave them to `cyberbrain scheduler` workers).
        #[arg(long)]
        no_executor: bool,
        /// Do not fire schedules in this process (leave them to `cyberbrain scheduler`).
        #[arg(long)]
        no_scheduler: bool,
        /// Do not ingest uploads in this process (leave them to `cyberbrain ingester`).
        #[arg(long)]
        no_ingester: bool,
    },
    /// Run a standalone worker (no HTTP) that fires due schedules and executes runs.
    Scheduler(scheduler::SchedulerArgs),
    /// Run a standalone knowledge-base worker (no HTTP) that ingests queued uploads.
    Ingester(ingester::IngesterArgs),
    /// Launch a run from the command line (trigger `manual`) through the same engine path as
    /// the API; with --wait, execute it in this process and print its report.
    Run(run::RunArgs),
    /// Apply database migrations and print the schema version.
    Migrate,
    /// Check every component (database, LLM, embedder files, container engine, nvidia-smi,
    /// paths) and print its state. Exits 1 when the database does not work.
    Doctor,
    /// Serve MCP over stdin/stdout for desktop clients.
    Mcp {
        /// Use the stdio transport (the HTTP transport is served by `cyberbrain serve` at /mcp).
        #[arg(long)]
        stdio: bool,
    },
}

/// A command's failure: what to print and the exit status.
#[derive(Debug)]
pub struct CliError {
    message: String,
    code: u8,
}

impl CliError {
    /// A failure of the command itself (exit status 1).
    pub fn failed(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 1,
        }
    }

    /// The configuration or the arguments cannot work as given (exit status 2).
    pub fn usage(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            code: 2,
        }
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Entry point of the `cyberbrain` binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(error.code)
        }
    }
}

/// Runs one parsed command line.
pub async fn run(cli: Cli) -> Result<ExitCode, CliError> {
    let config = load_config(&cli)?;
    logging::set_redacted_mode(config.privacy.redacted_mode);
    match cli.command {
        Command::Serve {
            no_executor,
            no_scheduler,
            no_ingester,
        } => serve::run(
            config,
            serve::Workers {
                executor: !no_executor,
                scheduler: !no_scheduler,
                ingester: !no_ingester,
            },
        )
        .await
        .map(|()| ExitCode::SUCCESS),
        Command::Ingester(args) => ingester::run(config, args)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Scheduler(args) => scheduler::run(config, args)
            .await
            .map(|()| ExitCode::SUCCESS),
        Command::Run(args) => run::run(config, args).await,
        Command::Migrate => migrate::run(config).await.map(|()| ExitCode::SUCCESS),
        Command::Doctor => doctor::run(config).await,
        Command::Mcp { stdio } => mcp::run(config, stdio).await.map(|()| ExitCode::SUCCESS),
    }
}

fn load_config(cli: &Cli) -> Result<Config, CliError> {
    Config::load(cli.config.as_deref()).map_err(|e| {
        CliError::usage(format!(
            "the configuration cannot be used: {e}\n\
             fix the value in the configuration file or the environment variable named above"
        ))
    })
}
