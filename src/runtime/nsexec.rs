//! `kedge nsexec`: run a command inside a running container (`kubectl exec`).
//!
//! Contract: the hidden subcommand is started by the agent with `std::process::Command` and
//! must be dispatched from `main` before any thread exists (joining a mount namespace is
//! refused to multi-threaded processes). It joins the container's cgroup, then its ipc, uts,
//! net, pid, cgroup and mount namespaces (mount last: the others are opened through the
//! host's /proc), forks (a pid namespace only applies to children), and the child applies
//! the spec's user, capabilities, no_new_privs and seccomp exactly as the container's init
//! did and execs the command with the spec's env plus `--env` extras. Stdio is inherited;
//! with `--tty` stdin must be a pty slave and becomes the controlling terminal of a new
//! session. The process exits with the command's exit code (128+signal when killed), 127
//! when the command is not found and 126 when it is not executable or the setup fails, with
//! the reason on stderr. The child is killed if `nsexec` dies, so killing `nsexec` by its
//! pid ends the exec session.

use std::path::{Path, PathBuf};

use nix::sched::CloneFlags;

use crate::runtime::cgroups::Cgroups;
use crate::runtime::init::process::{self, Failure, ProcessSpec};
use crate::runtime::init::{sys, CGROUP_ROOT};
use crate::runtime::spec::ContainerSpec;

/// Arguments of the hidden `kedge nsexec` subcommand.
#[derive(Debug, Clone, clap::Args)]
pub struct NsexecArgs {
    /// Host pid of the container's init process.
    #[arg(long)]
    pub pid: i32,
    /// The container's `config.json` (a serialized `ContainerSpec`).
    #[arg(long)]
    pub spec: PathBuf,
    /// Extra `KEY=value` environment entries, overriding the spec's.
    #[arg(long = "env")]
    pub env: Vec<String>,
    /// stdin is a pty slave to make the controlling terminal.
    #[arg(long)]
    pub tty: bool,
    /// The command and its arguments (after `--`).
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

/// Exit code for failures before the command runs.
const SETUP_FAILED: i32 = 126;

/// Run the exec session; never returns.
pub fn run(args: NsexecArgs) -> ! {
    match enter(&args) {
        Ok((spec, sys::Forked::Child)) => {
            let f = child(&args, &spec);
            eprintln!("{}", f.message);
            sys::exit_now(f.exit_code)
        }
        Ok((_, sys::Forked::Parent(pid))) => std::process::exit(sys::wait_exit_code(pid)),
        Err(f) => {
            eprintln!("{}", f.message);
            std::process::exit(f.exit_code)
        }
    }
}

/// Join everything and fork; returns in both processes.
fn enter(args: &NsexecArgs) -> Result<(ContainerSpec, sys::Forked), Failure> {
    let fail = |m: String| Failure {
        message: m,
        exit_code: SETUP_FAILED,
    };
    let text = std::fs::read(&args.spec)
        .map_err(|e| fail(format!("read {}: {e}", args.spec.display())))?;
    let spec: ContainerSpec = serde_json::from_slice(&text)
        .map_err(|e| fail(format!("parse {}: {e}", args.spec.display())))?;
    if !spec.cgroup_path.is_empty() {
        Cgroups::detect(Path::new(CGROUP_ROOT), "kedge")
            .and_then(|c| c.add_pid(&spec.cgroup_path, std::process::id() as i32))
            .map_err(|e| fail(format!("join cgroup {}: {e}", spec.cgroup_path)))?;
    }
    // Opened up front: once in the container's mount namespace, /proc is the container's.
    let mut namespaces = Vec::new();
    for (name, kind) in NAMESPACES {
        let path = PathBuf::from(format!("/proc/{}/ns/{name}", args.pid));
        let file = std::fs::File::open(&path)
            .map_err(|e| fail(format!("open {}: {e}", path.display())))?;
        namespaces.push((file, kind, path));
    }
    for (file, kind, path) in &namespaces {
        use std::os::fd::AsFd;
        sys::setns_fd(file.as_fd(), *kind, path).map_err(|e| fail(e.to_string()))?;
    }
    drop(namespaces);
    let parent = nix::unistd::getpid();
    let forked = sys::fork().map_err(|e| fail(e.to_string()))?;
    if let sys::Forked::Child = forked {
        nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
            .map_err(|e| fail(format!("set parent death signal: {e}")))?;
        // The parent may have died before the line above took effect. It shows as 0 from
        // inside another pid namespace; after its death we would see our new reaper.
        let ppid = nix::unistd::getppid().as_raw();
        if ppid != parent.as_raw() && ppid != 0 {
            sys::exit_now(SETUP_FAILED);
        }
    }
    Ok((spec, forked))
}

/// Join order: ipc, uts, net, pid (for children), cgroup, mount last.
const NAMESPACES: [(&str, CloneFlags); 6] = [
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("pid", CloneFlags::CLONE_NEWPID),
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

fn child(args: &NsexecArgs, spec: &ContainerSpec) -> Failure {
    let setup = || -> Result<(), Failure> {
        if args.tty {
            terminal_inside()?;
        }
        sys::new_session(args.tty)?;
        sys::reset_signals();
        sys::cloexec_from_3();
        Ok(())
    };
    if let Err(mut f) = setup() {
        f.exit_code = SETUP_FAILED;
        return f;
    }
    let mut f = process::exec(ProcessSpec {
        args: &args.command,
        env: merge_env(&spec.env, &args.env),
        cwd: &spec.cwd,
        user: &spec.user,
        security: &spec.security,
    });
    if f.exit_code == 1 {
        f.exit_code = SETUP_FAILED;
    }
    f
}

/// With `--tty`, stdin is a Unix socket to the agent: open a pty in the container's own
/// devpts (we are in its mount namespace now, so the command's `tty` names `/dev/pts/N`),
/// send the master back, and make the slave stdin, stdout and stderr.
fn terminal_inside() -> Result<(), Failure> {
    let fail = |what: &str, e: std::io::Error| Failure {
        message: format!("exec: {what}: {e}"),
        exit_code: SETUP_FAILED,
    };
    let pty = crate::runtime::pty::Pty::open().map_err(|e| fail("open a terminal", e))?;
    let sock = std::io::stdin();
    crate::runtime::pty::send_fd(&sock, &pty.master).map_err(|e| fail("pass the terminal", e))?;
    rustix::stdio::dup2_stdin(&pty.slave)
        .and_then(|()| rustix::stdio::dup2_stdout(&pty.slave))
        .and_then(|()| rustix::stdio::dup2_stderr(&pty.slave))
        .map_err(|e| fail("attach the terminal", e.into()))?;
    Ok(())
}

/// `base` with every key of `extra` replaced by the extra value, extras appended in order.
pub fn merge_env(base: &[String], extra: &[String]) -> Vec<String> {
    let key = |e: &str| e.split_once('=').map_or(e, |(k, _)| k).to_string();
    let overridden: std::collections::HashSet<String> = extra.iter().map(|e| key(e)).collect();
    base.iter()
        .filter(|e| !overridden.contains(&key(e)))
        .chain(extra)
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: NsexecArgs,
    }

    #[test]
    fn parses_command_after_double_dash() {
        let cli = Cli::parse_from([
            "nsexec",
            "--pid",
            "42",
            "--spec",
            "/b/config.json",
            "--env",
            "A=1",
            "--tty",
            "--",
            "sh",
            "-c",
            "echo --pid",
        ]);
        assert_eq!(cli.args.pid, 42);
        assert!(cli.args.tty);
        assert_eq!(cli.args.env, vec!["A=1"]);
        assert_eq!(cli.args.command, vec!["sh", "-c", "echo --pid"]);
    }

    #[test]
    fn extra_env_overrides_spec_env() {
        let base = vec!["PATH=/bin".to_string(), "A=1".into(), "B=2".into()];
        assert_eq!(
            merge_env(&base, &["A=9".to_string(), "C=3".into()]),
            vec!["PATH=/bin", "B=2", "A=9", "C=3"]
        );
    }
}
