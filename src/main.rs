//! kedge: one binary for the server (API, store, controllers) and the node agent.

use kedge::{bench, server};

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "kedge",
    version,
    about = "A lightweight Kubernetes distribution"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the control plane (API server, store) and, later, a node agent
    Server {
        /// Config file with the same keys as the flags
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        #[command(flatten)]
        flags: server::config::ServerFlags,
    },
    /// Benchmarks that print their figures
    #[command(subcommand)]
    Bench(bench::Bench),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Server { config, flags } => {
            let explicit = config.is_some();
            let path = config.unwrap_or_else(|| server::config::DEFAULT_CONFIG.into());
            server::config::load_file(&path, explicit)
                .and_then(|file| server::config::resolve(flags, file))
                .map_err(anyhow::Error::from)
                .and_then(server::run)
        }
        Command::Bench(b) => bench::run(b),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kedge: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
