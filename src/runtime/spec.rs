//! The contract between the kubelet and the runtime: everything needed to start one container,
//! written by the agent as `config.json` in the container's bundle directory and read by the
//! supervisor (`kedge shim`) that starts and watches the container.
//!
//! All paths are absolute host paths. The kubelet resolves images, volumes, env and security
//! settings into this plain description; the runtime never talks to the API server.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::cgroups::Resources;

/// One container to start inside an existing pod sandbox.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ContainerSpec {
    /// Unique id (64 hex chars), also the bundle directory name.
    pub id: String,
    pub pod_uid: String,
    pub pod_namespace: String,
    pub pod_name: String,
    /// The container's name in the pod spec.
    pub name: String,
    /// Read-only image layer directories, top-most first (overlayfs `lowerdir` order).
    pub layers: Vec<PathBuf>,
    /// argv[0] is resolved against `PATH` from `env` inside the container.
    pub args: Vec<String>,
    /// `KEY=value`, already expanded.
    pub env: Vec<String>,
    pub cwd: String,
    pub user: User,
    pub hostname: String,
    pub namespaces: Namespaces,
    pub security: Security,
    /// Mounts in order, after the standard /proc, /sys, /dev set.
    pub mounts: Vec<Mount>,
    /// Cgroup path relative to each hierarchy root, e.g. `kedge/kubepods/burstable/pod<uid>/<id>`.
    pub cgroup_path: String,
    pub resources: Resources,
    /// CRI-format log file for this run, `/var/log/pods/<ns>_<pod>_<uid>/<name>/<restart>.log`.
    pub log_path: PathBuf,
    /// Rotate the log when it exceeds this many bytes (0 = never).
    pub log_max_bytes: u64,
    pub tty: bool,
    pub stdin: bool,
    pub stdin_once: bool,
    /// Where the container's overlay root is assembled (owner: INIT).
    #[serde(default)]
    pub rootfs: RootfsSpec,
}

/// The writable layer and mountpoint of the container's overlayfs root. The overlay is mounted
/// inside the container's own mount namespace, so it disappears with the container.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct RootfsSpec {
    /// overlayfs `upperdir`; empty = a read-only root made of `layers` only.
    pub upper: PathBuf,
    /// overlayfs `workdir`, on the same filesystem as `upper`.
    pub work: PathBuf,
    /// Mountpoint of the assembled root, usually `<bundle>/rootfs`.
    pub target: PathBuf,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    /// The spec's runAsUser was a name from the image (`USER app`): resolve it from the
    /// container's /etc/passwd after pivot_root.
    pub username: Option<String>,
    pub umask: Option<u32>,
}

/// Namespace files (bind-mounted `ns/*` of the sandbox) to join; `None` = the host's.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Namespaces {
    pub net: Option<PathBuf>,
    pub uts: Option<PathBuf>,
    pub ipc: Option<PathBuf>,
    /// `Some(path)` joins a shared pod PID namespace; `None` with `host_pid == false` creates a
    /// new one for this container.
    pub pid: Option<PathBuf>,
    pub host_pid: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Security {
    pub privileged: bool,
    /// Capability names as in the spec without the `CAP_` prefix (`NET_ADMIN`), the final set.
    pub capabilities: Vec<String>,
    pub no_new_privileges: bool,
    pub readonly_rootfs: bool,
    pub seccomp: Seccomp,
    /// Paths hidden inside the container (containerd's defaults unless privileged).
    pub masked_paths: Vec<String>,
    pub readonly_paths: Vec<String>,
    /// `net.ipv4.ip_local_port_range=1024 65000`, applied inside the container's namespaces.
    pub sysctls: Vec<(String, String)>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub enum Seccomp {
    #[default]
    Unconfined,
    RuntimeDefault,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Mount {
    /// Absolute path inside the container.
    pub destination: String,
    pub kind: MountKind,
    pub readonly: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub enum MountKind {
    /// Bind mount of a host path (volumes, /etc/hosts, /etc/resolv.conf, /dev/shm of the pod,
    /// termination-log). `file = true` when the source is a regular file.
    Bind {
        source: PathBuf,
        file: bool,
    },
    Tmpfs {
        size_bytes: Option<u64>,
    },
}
