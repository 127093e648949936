//! Container start-up: clone the container's init process into its namespaces, assemble its
//! root filesystem, switch to its user and security settings and exec its command.
//!
//! Contract: [`spawn`] is called by the per-container supervisor (`kedge shim`), which is
//! single-threaded, so cloning a copy of it is safe and the child may allocate freely (no
//! other thread can hold the allocator's lock). The agent itself never calls it. `spawn`
//! returns once the container's command has been exec'd (the close-on-exec error pipe hit
//! EOF) or with [`InitError::Start`] carrying the Kubernetes-style reason
//! (`exec: "nope": executable file not found in $PATH`); a failed child is reaped before
//! returning.
//!
//! Sequence in the child (clone with a new mount and, unless shared, pid namespace): join
//! the cgroups, private cgroup namespace, join the pod's ipc/uts/net namespaces, stdio and
//! session, overlay root, /proc /sys /dev & co., the spec's mounts, `pivot_root`, sysctls,
//! masked and read-only paths, read-only root, user, capabilities, no_new_privs, seccomp,
//! cwd, exec. See `child.rs`, `rootfs.rs`, `process.rs`.
//!
//! Namespaces: the UTS namespace (and so the hostname) is the pod sandbox's; init never
//! creates one. Joining a shared pod pid namespace (`namespaces.pid`) makes the supervisor
//! `setns` its own pid-for-children namespace around the clone and restore it afterwards.

mod child;
pub mod process;
pub mod resolve;
pub mod rootfs;
pub mod sys;
#[cfg(test)]
mod tests;

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use nix::sched::CloneFlags;

pub use rootfs::{default_masked_paths, default_readonly_paths, CGROUP_ROOT};

use crate::runtime::spec::ContainerSpec;

/// The container's standard streams. With `tty`, all three are the pty slave and it becomes
/// the controlling terminal of the container's session.
pub struct Stdio {
    pub stdin: OwnedFd,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    pub tty: bool,
}

/// The started container's init process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spawned {
    /// Host pid; a child of the caller.
    pub pid: i32,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// The container process could not be started; the message is for the user.
    #[error("{0}")]
    Start(String),
    #[error("spawn container init")]
    Sys(#[from] sys::SysError),
    #[error("read error pipe")]
    Pipe(#[source] std::io::Error),
}

/// Start the container described by `spec`; see the module doc for the contract.
/// `cgroup_dirs` are the container's cgroup directories (one per hierarchy, each holding a
/// `cgroup.procs`), already created with their limits.
pub fn spawn(
    spec: &ContainerSpec,
    stdio: Stdio,
    cgroup_dirs: &[PathBuf],
) -> Result<Spawned, InitError> {
    let (err_r, err_w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|errno| sys::SysError {
            what: "pipe".into(),
            errno,
        })?;
    let mut flags = CloneFlags::CLONE_NEWNS;
    let mut own_pid_ns = None;
    match (&spec.namespaces.pid, spec.namespaces.host_pid) {
        (_, true) => {}
        (Some(path), false) => {
            let own = std::fs::File::open("/proc/self/ns/pid")
                .map_err(|e| sys::from_io("open /proc/self/ns/pid", e))?;
            sys::setns_path(path, CloneFlags::CLONE_NEWPID)?;
            own_pid_ns = Some(own);
        }
        (None, false) => flags |= CloneFlags::CLONE_NEWPID,
    }
    let forked = sys::clone_process(flags);
    if matches!(forked, Ok(sys::Forked::Child)) {
        child::run(spec, &stdio, cgroup_dirs, err_w);
    }
    if let Some(own) = own_pid_ns {
        sys::setns_fd(
            own.as_fd(),
            CloneFlags::CLONE_NEWPID,
            "/proc/self/ns/pid".as_ref(),
        )?;
    }
    let pid = match forked? {
        sys::Forked::Parent(pid) => pid,
        sys::Forked::Child => unreachable!("the child never returns from child::run"),
    };
    drop(err_w);
    drop(stdio);
    let mut message = Vec::new();
    std::fs::File::from(err_r)
        .read_to_end(&mut message)
        .map_err(InitError::Pipe)?;
    if message.is_empty() {
        return Ok(Spawned { pid });
    }
    sys::wait_exit_code(pid);
    Err(InitError::Start(
        String::from_utf8_lossy(&message).into_owned(),
    ))
}
