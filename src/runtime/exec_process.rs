//! A process run inside a container with `kedge nsexec` (`kubectl exec`), seen from the agent.
//!
//! Contract: without a tty the process gets pipes (stdin only when asked for, else /dev/null);
//! with a tty it gets the slave of a new pty on all three streams and the agent keeps the
//! master, exposed as both `stdout` and `stdin`, with `stderr = None`. Streams are async
//! (`async_io::Async`); [`ExecProcess::wait`] resolves to the exit code as Kubernetes reports
//! it (128 + signal when killed). Dropping the `ExecProcess` does not kill the process; call
//! [`ExecProcess::kill`] to end the session (nsexec takes its command with it).

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use async_io::Async;

use super::pidfd::Pidfd;
use super::pty;

/// What to run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecSpec {
    pub args: Vec<String>,
    /// `KEY=value` entries added to (overriding) the container's environment.
    pub env_extra: Vec<String>,
    pub tty: bool,
    pub stdin: bool,
}

#[derive(Debug)]
pub struct ExecProcess {
    pub child: Child,
    /// The process' stdin (the pty master with a tty); `None` without stdin.
    pub stdin: Option<Async<File>>,
    /// The process' stdout (the pty master with a tty).
    pub stdout: Option<Async<File>>,
    /// `None` with a tty (the terminal merges the streams).
    pub stderr: Option<Async<File>>,
    pty_master: Option<OwnedFd>,
}

impl ExecProcess {
    pub(super) fn spawn(
        exe: &Path,
        container_pid: i32,
        config: &Path,
        spec: &ExecSpec,
    ) -> io::Result<ExecProcess> {
        let mut cmd = Command::new(exe);
        cmd.arg("nsexec")
            .arg("--pid")
            .arg(container_pid.to_string())
            .arg("--spec")
            .arg(config);
        for e in &spec.env_extra {
            cmd.arg("--env").arg(e);
        }
        if spec.tty {
            cmd.arg("--tty");
        }
        cmd.arg("--").args(&spec.args);
        if spec.tty {
            // The pty is opened by nsexec inside the container (its own devpts instance), so
            // the command sees /dev/pts/N as its terminal; the master comes back over a
            // socket that is nsexec's stdin until then. Setup errors arrive on stderr.
            let (ours, theirs) = std::os::unix::net::UnixStream::pair()?;
            cmd.stdin(Stdio::from(OwnedFd::from(theirs)))
                .stdout(Stdio::null())
                .stderr(Stdio::piped());
            let mut child = cmd.spawn()?;
            drop(cmd);
            let err = child.stderr.take().map(OwnedFd::from);
            let Some(master) = pty::recv_fd(&ours)? else {
                // nsexec failed before the terminal existed: its message is the output.
                let stdout = err.map(|fd| Async::new(File::from(fd))).transpose()?;
                return Ok(ExecProcess {
                    child,
                    stdin: None,
                    stdout,
                    stderr: None,
                    pty_master: None,
                });
            };
            let stdin = if spec.stdin {
                Some(Async::new(File::from(master.try_clone()?))?)
            } else {
                None
            };
            return Ok(ExecProcess {
                child,
                stdin,
                stdout: Some(Async::new(File::from(master.try_clone()?))?),
                stderr: None,
                pty_master: Some(master),
            });
        }
        cmd.stdin(if spec.stdin {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
        let mut child = cmd.spawn()?;
        let wrap = |fd: Option<OwnedFd>| fd.map(|fd| Async::new(File::from(fd))).transpose();
        let stdin = wrap(child.stdin.take().map(OwnedFd::from))?;
        let stdout = wrap(child.stdout.take().map(OwnedFd::from))?;
        let stderr = wrap(child.stderr.take().map(OwnedFd::from))?;
        Ok(ExecProcess {
            child,
            stdin,
            stdout,
            stderr,
            pty_master: None,
        })
    }

    /// Sets the terminal size; without a tty this does nothing.
    pub fn resize(&self, width: u16, height: u16) -> io::Result<()> {
        match &self.pty_master {
            Some(m) => pty::resize(m, width, height),
            None => Ok(()),
        }
    }

    /// Ends the session (SIGKILL to nsexec, whose command dies with it).
    pub fn kill(&mut self) -> io::Result<()> {
        self.child.kill()
    }

    /// Completes with the exit code once the process ended.
    pub async fn wait(&mut self) -> io::Result<i32> {
        let pid = self.child.id() as i32;
        let start = super::pidfd::proc_starttime(Path::new("/proc"), pid);
        // Our own child stays a zombie until waited for, so the pidfd is always valid here.
        if let Some(st) = start {
            if let Some(fd) = Pidfd::open_checked(Path::new("/proc"), pid, st)? {
                fd.wait().await?;
            }
        }
        let status = self.child.wait()?;
        Ok(status
            .code()
            .or_else(|| status.signal().map(|s| 128 + s))
            .unwrap_or(255))
    }
}
