//! Turning the freshly exec'd `kedge shim` into a detached supervisor.
//!
//! The agent starts `kedge shim <bundle>` with its stdout as the report pipe. [`detach`] makes a
//! new session, forks (the agent reaps the intermediate, which exits at once, so the
//! supervisor is reparented and never the agent's child), keeps the report pipe on a
//! close-on-exec descriptor and points stdio at /dev/null and `shim.log`, so nothing the
//! supervisor or a container does later can block on or write to the agent.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::OwnedFd;
use std::path::Path;

use nix::sys::signal::{signal, SigHandler, Signal};
use nix::unistd::{fork, setsid, ForkResult};

/// The end of the report pipe kept by the supervisor.
pub struct Detached {
    pub report: File,
}

/// Must run before any thread exists (forks).
pub fn detach(shim_log: &Path) -> io::Result<Detached> {
    // Writes to a gone agent or attach client must fail with EPIPE, not kill the supervisor.
    // SAFETY: installing SIG_IGN runs no handler code; the process is single-threaded here.
    unsafe { signal(Signal::SIGPIPE, SigHandler::SigIgn) }.map_err(io::Error::from)?;
    setsid().map_err(io::Error::from)?;
    // SAFETY: the shim is single-threaded (dispatched before anything starts threads), so the
    // child may run arbitrary code after fork.
    match unsafe { fork() }.map_err(io::Error::from)? {
        ForkResult::Parent { .. } => {
            // The intermediate: exit without running destructors or flushing shared buffers.
            // SAFETY: _exit is always safe to call; it never returns.
            unsafe { nix::libc::_exit(0) }
        }
        ForkResult::Child => {}
    }
    std::env::set_current_dir("/")?;
    let report: OwnedFd = rustix::io::fcntl_dupfd_cloexec(rustix::stdio::stdout(), 3)?;
    let null = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(shim_log)?;
    rustix::stdio::dup2_stdin(&null)?;
    rustix::stdio::dup2_stdout(&null)?;
    rustix::stdio::dup2_stderr(&log)?;
    Ok(Detached {
        report: File::from(report),
    })
}
