//! The agent's view of its collaborators (runtime, images, pod network, volumes), each as a
//! small trait so the kubelet logic compiles and is unit-tested on its own; the real
//! implementations live in one adapter file per dependency (`adapt_*.rs`).
//!
//! Contract: blocking methods are plain functions (callers run them through `smol::unblock`);
//! waiting and network setup are async. Errors are strings with a reason class, because the
//! kubelet only reports them (in container status messages and events).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use super::client::BoxFuture;
use crate::runtime::spec::ContainerSpec;

/// A dependency failed; `message` ends up in a status or event.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct DepError {
    pub message: String,
}

impl DepError {
    pub fn new(m: impl Into<String>) -> DepError {
        DepError { message: m.into() }
    }
}

pub type DepResult<T> = Result<T, DepError>;

#[derive(Debug, Clone, PartialEq)]
pub struct SandboxReq {
    pub pod_uid: String,
    pub hostname: String,
    pub host_network: bool,
    pub host_ipc: bool,
    pub shm_size: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct SandboxInfo {
    pub netns: Option<PathBuf>,
    pub uts: Option<PathBuf>,
    pub ipc: Option<PathBuf>,
    pub shm: PathBuf,
}

/// A container's process state as the runtime knows it (times in seconds since the epoch).
#[derive(Debug, Clone, PartialEq)]
pub enum CtrState {
    Running {
        pid: i32,
        started_at: i64,
    },
    Exited {
        exit_code: i32,
        signal: Option<i32>,
        oom_killed: bool,
        started_at: i64,
        finished_at: i64,
    },
    Unknown,
}

/// A command run inside a container (probes, hooks).
#[derive(Debug, Clone, PartialEq)]
pub struct ExecOutcome {
    pub exit_code: i32,
    pub output: Vec<u8>,
}

pub trait ContainerRuntime: Send + Sync {
    fn create_sandbox(&self, s: &SandboxReq) -> DepResult<SandboxInfo>;
    fn remove_sandbox(&self, pod_uid: &str) -> DepResult<()>;
    /// Blocks until the container process runs (or failed to start); returns its start time.
    fn start(&self, spec: &ContainerSpec) -> DepResult<i64>;
    fn state(&self, id: &str) -> DepResult<CtrState>;
    fn wait_exit<'a>(&'a self, id: &'a str) -> BoxFuture<'a, DepResult<CtrState>>;
    fn signal(&self, id: &str, sig: i32) -> DepResult<()>;
    fn remove(&self, id: &str) -> DepResult<()>;
    fn list(&self) -> Vec<String>;
    fn spec(&self, id: &str) -> DepResult<ContainerSpec>;
    /// Run `args` in the container and wait (blocking) at most `timeout_secs`.
    fn exec(&self, id: &str, args: &[String], timeout_secs: u64) -> DepResult<ExecOutcome>;
    /// Remove the pod's cgroup (after its containers are gone).
    fn remove_pod_cgroup(&self, cgroup_path: &str) -> DepResult<()>;
}

/// An image as the kubelet needs it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ImageInfo {
    /// `sha256:<config digest>`.
    pub id: String,
    pub repo_tags: Vec<String>,
    pub repo_digest: Option<String>,
    pub entrypoint: Vec<String>,
    pub cmd: Vec<String>,
    pub env: Vec<String>,
    pub working_dir: String,
    pub user: String,
    /// Unpacked layer directories, bottom first.
    pub layers: Vec<PathBuf>,
}

pub trait Images: Send + Sync {
    fn resolve(&self, reference: &str) -> Option<ImageInfo>;
    /// Delete unused images when the disk is `high_pct` full, down to `low_pct` (blocking).
    fn gc(&self, _high_pct: u8, _low_pct: u8, _in_use: &std::collections::HashSet<String>) {}
}

/// A host port mapping of a pod.
#[derive(Debug, Clone, PartialEq)]
pub struct HostPort {
    pub host_ip: Option<IpAddr>,
    pub host_port: u16,
    pub container_port: u16,
    pub protocol: String,
}

pub trait PodNetwork: Send + Sync {
    /// Attach the pod's netns; idempotent; returns the pod IP.
    fn add<'a>(
        &'a self,
        pod_uid: &'a str,
        netns: &'a Path,
        ports: &'a [HostPort],
    ) -> BoxFuture<'a, DepResult<IpAddr>>;
    fn del<'a>(&'a self, pod_uid: &'a str, netns: Option<&'a Path>)
        -> BoxFuture<'a, DepResult<()>>;
}

/// Where each volume of a pod is on the host, by volume name.
pub type VolumePaths = HashMap<String, PathBuf>;

/// Volume contents the plugins need from the API (configMaps, secrets).
pub trait ObjectSource: Send + Sync {
    fn configmap(&self, ns: &str, name: &str) -> Option<Value>;
    fn secret(&self, ns: &str, name: &str) -> Option<Value>;
}

pub trait Volumes: Send + Sync {
    /// Set up (or refresh the payload of) every volume of `pod` under `pod_dir/volumes`;
    /// `fs_group` owns writable volumes.
    fn setup(
        &self,
        pod: &Value,
        pod_dir: &Path,
        fs_group: Option<u32>,
        objects: &dyn ObjectSource,
    ) -> DepResult<VolumePaths>;
    /// Unmount and remove every volume of the pod.
    fn teardown(&self, pod_uid: &str, pod_dir: &Path) -> DepResult<()>;
    /// Resolve `subPath` inside a volume without following symlinks out of it; returns the
    /// bind source for mount number `index` of `container`.
    fn sub_path(&self, m: &SubPathReq<'_>) -> DepResult<PathBuf>;
}

/// One volumeMount with a subPath.
#[derive(Debug, Clone, PartialEq)]
pub struct SubPathReq<'a> {
    pub pod_uid: &'a str,
    pub volume: &'a str,
    pub volume_root: &'a Path,
    pub sub_path: &'a str,
    pub container: &'a str,
    pub index: usize,
}

/// Everything the pod workers use.
#[derive(Clone)]
pub struct Deps {
    pub runtime: Arc<dyn ContainerRuntime>,
    pub images: Arc<dyn Images>,
    pub volumes: Arc<dyn Volumes>,
    /// Set once the node has a podCIDR and the bridge is up.
    pub network: Arc<std::sync::RwLock<Option<Arc<dyn PodNetwork>>>>,
}
