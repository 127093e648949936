//! The shim's view of the pieces it drives: `init::spawn` for the container process and the
//! cgroup files for the OOM counter. Kept in one place so the supervisor loop stays plain I/O.

use crate::error_chain::error_chain;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::runtime::cgroups::{mountinfo, Cgroups};
use crate::runtime::init::{self, InitError};
use crate::runtime::spec::ContainerSpec;
use crate::runtime::state::{read_json, Bundle};

/// Where the agent's cgroups live, recorded by the agent in the bundle (`cgroups.json`) so the
/// shim reads the same hierarchies without re-deriving the agent's settings.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CgroupsInfo {
    /// Mount point of the cgroup filesystems (`/sys/fs/cgroup`).
    pub root: PathBuf,
    /// The agent's parent cgroup (`kedge`).
    pub parent: String,
}

/// The container's ends of its stdio, as handed to `init::spawn`; no stdin = /dev/null.
pub struct ContainerStdio {
    pub stdin: Option<OwnedFd>,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    pub tty: bool,
}

pub struct Launcher {
    cgroups: Option<Cgroups>,
    /// The container's directory in every hierarchy.
    cgroup_dirs: Vec<PathBuf>,
    pid: i32,
}

impl Launcher {
    pub fn load(bundle: &Bundle, spec: &ContainerSpec) -> Result<Launcher, String> {
        let info: CgroupsInfo = read_json(&bundle.cgroups())
            .map_err(|e| format!("read cgroups.json: {e}"))?
            .ok_or("missing cgroups.json")?;
        let cgroups = Cgroups::detect(&info.root, &info.parent).ok();
        let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let mounts: Vec<PathBuf> = match mountinfo::parse(&text, &info.root) {
            mountinfo::Layout::Unified(root) => vec![root],
            mountinfo::Layout::Legacy(hs) => hs.into_iter().map(|h| h.mount).collect(),
            mountinfo::Layout::None => Vec::new(),
        };
        let rel = Path::new(spec.cgroup_path.trim_start_matches('/'));
        Ok(Launcher {
            cgroups,
            cgroup_dirs: mounts.iter().map(|m| m.join(rel)).collect(),
            pid: 0,
        })
    }

    pub fn oom_kills(&self, spec: &ContainerSpec) -> u64 {
        self.cgroups
            .as_ref()
            .and_then(|c| c.oom_kills(&spec.cgroup_path).ok())
            .unwrap_or(0)
    }

    pub fn pid(&self) -> i32 {
        self.pid
    }
}

/// Clones the container process; returns its host pid once it exec'd, or the start error.
pub fn spawn(
    launcher: &mut Launcher,
    spec: &ContainerSpec,
    stdio: ContainerStdio,
) -> Result<i32, String> {
    let stdin = match stdio.stdin {
        Some(fd) => fd,
        None => std::fs::File::open("/dev/null")
            .map_err(|e| format!("open /dev/null: {e}"))?
            .into(),
    };
    let stdio = init::Stdio {
        stdin,
        stdout: stdio.stdout,
        stderr: stdio.stderr,
        tty: stdio.tty,
    };
    match init::spawn(spec, stdio, &launcher.cgroup_dirs) {
        Ok(spawned) => {
            launcher.pid = spawned.pid;
            Ok(spawned.pid)
        }
        Err(InitError::Start(message)) => Err(message),
        Err(e) => Err(error_chain(&e)),
    }
}
