//! The agent's streaming HTTPS server (the kubelet's :10250): container logs, exec, attach,
//! port-forward and resource metrics, reached by the API server's proxy.
//!
//! Contract: every request needs a client certificate signed by the cluster CA (the TLS
//! handshake fails without one). Paths, as the kubelet's:
//! - `GET /containerLogs/{ns}/{pod}/{container}?follow&previous&tailLines&sinceSeconds&sinceTime&timestamps&limitBytes`
//!   → `text/plain`, streamed ([`logs`]).
//! - `GET /exec/{ns}/{pod}/{container}?command=..&stdin&stdout&stderr&tty` and
//!   `GET /attach/{ns}/{pod}/{container}?stdin&stdout&stderr&tty`: WebSocket upgrade with
//!   `v5.channel.k8s.io` or `v4.channel.k8s.io` ([`exec`]).
//! - `GET /portforward/{ns}/{pod}`: WebSocket with `SPDY/3.1+portforward.k8s.io` (SPDY
//!   tunnelled in binary messages) or `portforward.k8s.io` (`?ports=`), or a plain
//!   `Upgrade: SPDY/3.1` ([`portforward`]).
//! - `GET /metrics/resource`: a JSON [`stats::Summary`] (node and per-container CPU/memory).
//!
//! Containers are found through [`PodLookup`] (implemented by the kubelet) and driven through
//! [`ContainerIo`] (implemented for the runtime by an adapter).

pub mod exec;
pub mod http;
pub mod logs;
pub mod portforward;
pub mod runtime_io;
pub mod spdy;
pub mod stats;
pub mod ws;

use std::fs::File;
use std::future::Future;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::pin::Pin;

use async_io::Async;

pub use self::http::{serve, tls_config, AgentServer};

/// A container as the streaming server needs to know it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerRef {
    /// Runtime container id.
    pub id: String,
    pub running: bool,
    /// CRI log of the current instance.
    pub log_path: PathBuf,
    /// CRI log of the previous instance (`kubectl logs --previous`).
    pub previous_log_path: Option<PathBuf>,
    /// The pod's network namespace file; `None` for hostNetwork pods.
    pub netns: Option<PathBuf>,
    pub tty: bool,
    pub stdin: bool,
}

/// A running pod, for metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodRef {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// (container name, runtime container id) of running containers.
    pub containers: Vec<(String, String)>,
    pub netns: Option<PathBuf>,
}

/// How the server finds containers; implemented by the kubelet from its pod state.
pub trait PodLookup: Send + Sync {
    fn container(&self, ns: &str, pod: &str, container: &str) -> Option<ContainerRef>;
    /// Running pods (for metrics).
    fn pods(&self) -> Vec<PodRef>;
    /// The network namespace of a pod (port-forward); `Some(None)` = host network.
    fn pod_netns(&self, ns: &str, pod: &str) -> Option<Option<PathBuf>> {
        self.pods()
            .into_iter()
            .find(|p| p.namespace == ns && p.name == pod)
            .map(|p| p.netns)
    }
}

/// What an exec asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecRequest {
    pub args: Vec<String>,
    pub tty: bool,
    pub stdin: bool,
}

/// A started exec process. With a tty, `stdout` is the pty master and `stdin` (when asked
/// for) a duplicate of it, `stderr` is `None`.
pub struct ExecIo {
    pub stdin: Option<Async<File>>,
    pub stdout: Option<Async<File>>,
    pub stderr: Option<Async<File>>,
    /// Sets the terminal size (no-op without a tty).
    pub resize: Box<dyn Fn(u16, u16) + Send + Sync>,
    /// Completes with the exit code (128 + signal when killed).
    pub wait: Pin<Box<dyn Future<Output = i32> + Send>>,
}

impl ExecIo {
    /// A host process with piped stdio (tests and simple runtimes).
    pub fn from_child(mut child: std::process::Child) -> std::io::Result<ExecIo> {
        use std::os::unix::process::ExitStatusExt;
        let wrap = |fd: Option<OwnedFd>| fd.map(|fd| Async::new(File::from(fd))).transpose();
        let stdin = wrap(child.stdin.take().map(OwnedFd::from))?;
        let stdout = wrap(child.stdout.take().map(OwnedFd::from))?;
        let stderr = wrap(child.stderr.take().map(OwnedFd::from))?;
        Ok(ExecIo {
            stdin,
            stdout,
            stderr,
            resize: Box::new(|_, _| {}),
            wait: Box::pin(smol::unblock(move || match child.wait() {
                Ok(s) => s.code().unwrap_or_else(|| 128 + s.signal().unwrap_or(0)),
                Err(_) => 255,
            })),
        })
    }
}

/// CPU and memory of a container's cgroup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ContainerUsage {
    pub cpu_usage_ns: u64,
    pub memory_working_set_bytes: u64,
}

/// The container operations the streaming server needs; the runtime implements them.
pub trait ContainerIo: Send + Sync {
    /// Start a process in a running container (blocking: call from a blocking thread).
    fn exec(&self, id: &str, req: &ExecRequest) -> Result<ExecIo, String>;
    /// Connect to the container's main process stdio (frames as the shim's `attach.sock`).
    fn attach(&self, id: &str) -> Result<UnixStream, String>;
    fn usage(&self, id: &str) -> Option<ContainerUsage>;
}

#[cfg(test)]
mod tests;
