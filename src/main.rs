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

// Parsed once at start; the size of the largest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
    /// Run the control plane (API server, store, controllers, scheduler) and a node agent
    Server {
        /// Config file with the same keys as the flags
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
        #[command(flatten)]
        flags: server::config::ServerFlags,
    },
    /// Run a node agent that joins a server
    Agent {
        /// The server's API URL, https://host:6443
        #[arg(
            long,
            env = "KEDGE_URL",
            value_name = "URL",
            required_unless_present = "cleanup"
        )]
        server: Option<String>,
        /// Remove what the agent programmed into this node's network (Service and
        /// NetworkPolicy rules, routes to other nodes, the VXLAN device, the bridge) and exit
        #[arg(long)]
        cleanup: bool,
        /// The join token (the server's <data-dir>/server/token)
        #[arg(
            long,
            env = "KEDGE_TOKEN",
            value_name = "TOKEN",
            conflicts_with = "token_file"
        )]
        token: Option<String>,
        /// File holding the join token
        #[arg(long, value_name = "FILE")]
        token_file: Option<PathBuf>,
        /// Directory for state (images, pod volumes, IP allocations)
        #[arg(long, value_name = "DIR", default_value = "/var/lib/kedge")]
        data_dir: PathBuf,
        #[command(flatten)]
        flags: kedge::agent::flags::AgentFlags,
    },
    /// Benchmarks that print their figures
    #[command(subcommand)]
    Bench(bench::Bench),
    /// Manage the node's local images (import archives, list, remove, prune)
    #[command(subcommand)]
    Images(kedge_images::cli::ImagesCmd),
    /// Check that the kernel has what kedge needs; exits non-zero when something is missing
    CheckConfig,
    /// Per-container supervisor (started by the agent)
    #[command(hide = true)]
    Shim { bundle: PathBuf },
    /// Run a command inside a running container (started by the agent)
    #[command(hide = true)]
    Nsexec(kedge::runtime::nsexec::NsexecArgs),
    /// Print kedge's nf_tables tables, routes and VXLAN entries in this network namespace
    #[command(hide = true)]
    Netdump,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        // First, before anything can start a thread: both fork.
        Command::Shim { bundle } => kedge::runtime::shim::main(bundle),
        Command::Nsexec(args) => kedge::runtime::nsexec::run(args),
        Command::Server { config, flags } => {
            let explicit = config.is_some();
            let path = config.unwrap_or_else(|| server::config::DEFAULT_CONFIG.into());
            server::config::load_file(&path, explicit)
                .and_then(|file| server::config::resolve(flags, file))
                .map_err(anyhow::Error::from)
                .and_then(server::run)
        }
        Command::Agent { cleanup: true, .. } => {
            kedge::agent::network::cleanup::cleanup().map(|done| {
                for d in &done {
                    eprintln!("kedge: removed {d}");
                }
                if done.is_empty() {
                    eprintln!("kedge: nothing to remove");
                }
            })
        }
        Command::Agent {
            server,
            token,
            token_file,
            data_dir,
            flags,
            ..
        } => agent(
            server.as_deref().unwrap_or_default(),
            token,
            token_file,
            &data_dir,
            &flags,
        ),
        Command::Netdump => kedge::agent::network::cleanup::dump().map(|t| print!("{t}")),
        Command::Bench(b) => bench::run(b),
        Command::Images(cmd) => kedge_images::cli::run(cmd),
        Command::CheckConfig => {
            match kedge::agent::checkconfig::run(&kedge::agent::checkconfig::Roots::default()) {
                Ok(true) => Ok(()),
                Ok(false) => return ExitCode::FAILURE,
                Err(e) => Err(e),
            }
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kedge: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn agent(
    server: &str,
    token: Option<String>,
    token_file: Option<PathBuf>,
    data_dir: &std::path::Path,
    flags: &kedge::agent::flags::AgentFlags,
) -> anyhow::Result<()> {
    use anyhow::Context;
    let token = match (token, token_file) {
        (Some(t), _) => t,
        (None, Some(f)) => std::fs::read_to_string(&f)
            .with_context(|| format!("reading the token file {}", f.display()))?
            .trim()
            .to_string(),
        (None, None) => anyhow::bail!("--token or --token-file is required to join a server"),
    };
    let stop = server::shutdown_signal()?;
    kedge::rt::block_on(kedge::agent::start::run_remote(
        server, &token, flags, data_dir, stop,
    ))
}
