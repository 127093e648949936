//! [`ContainerIo`] for the in-tree runtime: exec through `Runtime::exec` (nsexec), attach
//! through the shim's `attach.sock`, usage from the container's cgroup.
//!
//! Contract: errors are rendered as text for the client's status message. The terminal of a
//! tty exec is resized through a duplicate of the pty master (any descriptor of the master
//! takes `TIOCSWINSZ`), so resizes never wait on the process' exit.

use std::os::unix::net::UnixStream;

use super::{ContainerIo, ContainerUsage, ExecIo, ExecRequest};
use crate::runtime::{ExecSpec, Runtime};

impl ContainerIo for Runtime {
    fn exec(&self, id: &str, req: &ExecRequest) -> Result<ExecIo, String> {
        let spec = ExecSpec {
            args: req.args.clone(),
            env_extra: Vec::new(),
            tty: req.tty,
            stdin: req.stdin,
        };
        let mut p = Runtime::exec(self, id, &spec).map_err(|e| e.to_string())?;
        let master = if req.tty {
            p.stdout.as_ref().and_then(|s| s.get_ref().try_clone().ok())
        } else {
            None
        };
        let (stdin, stdout, stderr) = (p.stdin.take(), p.stdout.take(), p.stderr.take());
        Ok(ExecIo {
            stdin,
            stdout,
            stderr,
            resize: Box::new(move |w, h| {
                if let Some(m) = &master {
                    let _ = crate::runtime::pty::resize(m, w, h);
                }
            }),
            wait: Box::pin(async move { p.wait().await.unwrap_or(255) }),
        })
    }

    fn attach(&self, id: &str) -> Result<UnixStream, String> {
        Runtime::attach(self, id).map_err(|e| e.to_string())
    }

    fn usage(&self, id: &str) -> Option<ContainerUsage> {
        let s = self.stats(id).ok()?;
        Some(ContainerUsage {
            cpu_usage_ns: s.cpu_usage_ns,
            memory_working_set_bytes: s.memory_working_set_bytes,
        })
    }
}
