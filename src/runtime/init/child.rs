//! The container's init process between clone and exec. It runs in a copy of the
//! single-threaded supervisor, so it may allocate; it never returns into the supervisor's
//! code: success is the exec, failure is one message on the error pipe and `_exit(1)`.

use std::os::fd::{AsFd, OwnedFd};
use std::path::PathBuf;

use nix::sched::CloneFlags;

use super::process::{self, Failure, ProcessSpec};
use super::{rootfs, sys, Stdio};
use crate::runtime::spec::ContainerSpec;

/// Body of the cloned child. `err_w` is the close-on-exec write end of the error pipe.
pub fn run(spec: &ContainerSpec, stdio: &Stdio, cgroup_dirs: &[PathBuf], err_w: OwnedFd) -> ! {
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        setup_and_exec(spec, stdio, cgroup_dirs)
    }));
    let message = match outcome {
        Ok(f) => f.message,
        Err(_) => "container init panicked".to_string(),
    };
    let mut rest = message.as_bytes();
    while !rest.is_empty() {
        match nix::unistd::write(err_w.as_fd(), rest) {
            Ok(n) if n > 0 => rest = &rest[n..],
            Err(nix::errno::Errno::EINTR) => {}
            _ => break,
        }
    }
    sys::exit_now(1)
}

fn setup_and_exec(spec: &ContainerSpec, stdio: &Stdio, cgroup_dirs: &[PathBuf]) -> Failure {
    match setup(spec, stdio, cgroup_dirs) {
        Ok(()) => process::exec(ProcessSpec {
            args: &spec.args,
            env: spec.env.clone(),
            cwd: &spec.cwd,
            user: &spec.user,
            security: &spec.security,
        }),
        Err(f) => f,
    }
}

fn setup(spec: &ContainerSpec, stdio: &Stdio, cgroup_dirs: &[PathBuf]) -> Result<(), Failure> {
    // First, so that every page the container touches from here on is charged to it.
    for dir in cgroup_dirs {
        // "0" is the writer itself, whatever pid namespace it is in.
        sys::write_file(&dir.join("cgroup.procs"), "0")?;
    }
    // A private cgroup namespace rooted at the container's cgroup (what /proc/self/cgroup
    // and the cgroup2 mount show); kernels without it keep the host's view.
    if let Err(e) = sys::unshare(CloneFlags::CLONE_NEWCGROUP) {
        if e.errno != nix::errno::Errno::EINVAL {
            return Err(e.into());
        }
    }
    let ns = &spec.namespaces;
    for (path, kind) in [
        (&ns.ipc, CloneFlags::CLONE_NEWIPC),
        (&ns.uts, CloneFlags::CLONE_NEWUTS),
        (&ns.net, CloneFlags::CLONE_NEWNET),
    ] {
        if let Some(p) = path {
            sys::setns_path(p, kind)?;
        }
    }
    sys::install_stdio(&stdio.stdin, &stdio.stdout, &stdio.stderr)?;
    sys::new_session(stdio.tty)?;
    sys::reset_signals();
    sys::cloexec_from_3();
    rootfs::setup(spec, cgroup_dirs)?;
    rootfs::finish(spec)?;
    Ok(())
}
