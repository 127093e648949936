//! Cgroups v1 and v2 for pods and containers.
//!
//! Layout (the kubelet's cgroupfs driver under our parent, `kedge` by default):
//! `<parent>/kubepods/pod<uid>` (Guaranteed), `<parent>/kubepods/burstable/pod<uid>`,
//! `<parent>/kubepods/besteffort/pod<uid>`, and one child `<id>` per container. Paths handed
//! to the methods are relative to each hierarchy's mount (`kedge/kubepods/pod<uid>/<id>`).
//!
//! Contract: [`Cgroups::ensure`] creates the path in every hierarchy (v1: each controller
//! mount; v2: the unified tree with controllers enabled down the path) and writes the limits;
//! it is idempotent, as are [`Cgroups::remove`] and [`Cgroups::kill_all`]. Reads of a
//! controller the host lacks (no memory cgroup on a Raspberry Pi without
//! `cgroup_enable=memory`) yield zero instead of failing, and limits for it are skipped.

mod fs;
pub mod mountinfo;
pub mod qos;
mod v1;
mod v2;

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use nix::errno::Errno;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

use mountinfo::{Hierarchy, Layout, V1_CONTROLLERS};
pub use qos::{pod_resources, qos_of, resources_for, shares_to_weight, Qos};

/// Limits of one cgroup, derived from a container's resources.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Resources {
    /// v1 `cpu.shares`; v2 `cpu.weight` is derived with [`shares_to_weight`].
    pub cpu_shares: Option<u64>,
    /// CFS quota per period; `None` = unlimited.
    pub cpu_quota_us: Option<i64>,
    /// CFS period; 0 means the default 100000.
    pub cpu_period_us: u64,
    pub memory_limit_bytes: Option<i64>,
    pub pids_limit: Option<i64>,
}

/// Which cgroup filesystem the host uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Version {
    V1,
    V2,
}

/// Usage of one cgroup (and its descendants).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    pub cpu_usage_ns: u64,
    pub memory_working_set_bytes: u64,
    pub memory_usage_bytes: u64,
    pub pids: u64,
    pub timestamp: SystemTime,
}

#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    #[error("no usable cgroup filesystem under {0}")]
    NotFound(PathBuf),
    #[error("read mount table {path}")]
    MountInfo {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid cgroup path {0:?}")]
    InvalidPath(String),
    #[error("read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parse {path}: {msg}")]
    Parse { path: PathBuf, msg: String },
    #[error("write {value:?} to {path}")]
    Write {
        path: PathBuf,
        value: String,
        #[source]
        source: std::io::Error,
    },
    #[error("create cgroup {path}")]
    Create {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("remove cgroup {path}")]
    Remove {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("signal pid {pid}")]
    Kill {
        pid: i32,
        #[source]
        source: Errno,
    },
    #[error("processes left in cgroup {path} after {rounds} kill rounds: {pids:?}")]
    Busy {
        path: String,
        rounds: u32,
        pids: Vec<i32>,
    },
}

/// Rounds of SIGKILL in [`Cgroups::kill_all`] (about 2 seconds with the pause between them).
const KILL_ROUNDS: u32 = 100;

/// The host's cgroup hierarchies and our parent cgroup in them. Cheap to share (`Arc`); all
/// methods block on small file I/O only, except `kill_all`/`remove` that may wait ~2s.
#[derive(Debug, Clone)]
pub struct Cgroups {
    version: Version,
    parent: String,
    /// v2: exactly one entry, the unified root (controllers read from the filesystem).
    hierarchies: Vec<Hierarchy>,
}

impl Cgroups {
    /// Detects the cgroup layout under `cgroup_root` (`/sys/fs/cgroup`) from
    /// `/proc/self/mountinfo`.
    pub fn detect(cgroup_root: &Path, parent: &str) -> Result<Cgroups, CgroupError> {
        let path = Path::new("/proc/self/mountinfo");
        let text = std::fs::read_to_string(path).map_err(|source| CgroupError::MountInfo {
            path: path.into(),
            source,
        })?;
        Self::from_mountinfo(&text, cgroup_root, parent)
    }

    /// Like [`Cgroups::detect`] on given mountinfo text.
    pub fn from_mountinfo(
        mountinfo: &str,
        cgroup_root: &Path,
        parent: &str,
    ) -> Result<Cgroups, CgroupError> {
        check_path(parent)?;
        match mountinfo::parse(mountinfo, cgroup_root) {
            Layout::Unified(root) => Ok(Self::new_v2(&root, parent)),
            Layout::Legacy(hierarchies) => Ok(Cgroups {
                version: Version::V1,
                parent: parent.to_string(),
                hierarchies,
            }),
            Layout::None => Err(CgroupError::NotFound(cgroup_root.to_path_buf())),
        }
    }

    /// A v1 layout from the directories of `root` named after controllers (`cpu,cpuacct`,
    /// `memory`, ...), for fixtures. Symlinks (`cpu -> cpu,cpuacct`) are skipped.
    pub fn new_v1(root: &Path, parent: &str) -> Cgroups {
        let mut hierarchies = Vec::new();
        if let Ok(entries) = std::fs::read_dir(root) {
            for e in entries.flatten() {
                if !e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                    continue;
                }
                let name = e.file_name().to_string_lossy().into_owned();
                let controllers: Vec<String> = name
                    .split(',')
                    .filter(|c| V1_CONTROLLERS.contains(c))
                    .map(str::to_string)
                    .collect();
                if !controllers.is_empty() {
                    hierarchies.push(Hierarchy {
                        mount: e.path(),
                        controllers,
                    });
                }
            }
        }
        hierarchies.sort_by(|a, b| a.mount.cmp(&b.mount));
        Cgroups {
            version: Version::V1,
            parent: parent.to_string(),
            hierarchies,
        }
    }

    /// A v2 layout rooted at `root` (a cgroup2 mount or a fixture directory).
    pub fn new_v2(root: &Path, parent: &str) -> Cgroups {
        Cgroups {
            version: Version::V2,
            parent: parent.to_string(),
            hierarchies: vec![Hierarchy {
                mount: root.to_path_buf(),
                controllers: Vec::new(),
            }],
        }
    }

    pub fn version(&self) -> Version {
        self.version
    }

    /// The parent cgroup (`kedge`).
    pub fn parent(&self) -> &str {
        &self.parent
    }

    /// The controllers usable for our cgroups: v1 the mounted ones, v2 those the root offers.
    pub fn controllers(&self) -> Vec<String> {
        match self.version {
            Version::V1 => self
                .hierarchies
                .iter()
                .flat_map(|h| h.controllers.iter().cloned())
                .collect(),
            Version::V2 => v2::available(&self.hierarchies[0].mount).unwrap_or_default(),
        }
    }

    /// `<parent>/kubepods[/burstable|/besteffort]/pod<uid>`.
    pub fn pod_path(&self, qos: Qos, pod_uid: &str) -> String {
        let class = match qos {
            Qos::Guaranteed => "",
            Qos::Burstable => "/burstable",
            Qos::BestEffort => "/besteffort",
        };
        format!("{}/kubepods{class}/pod{pod_uid}", self.parent)
    }

    /// `<pod_path>/<id>`.
    pub fn container_path(&self, pod_path: &str, id: &str) -> String {
        format!("{pod_path}/{id}")
    }

    /// The directories of `path` in every hierarchy, with the hierarchy.
    fn dirs<'a>(&'a self, path: &'a str) -> impl Iterator<Item = (&'a Hierarchy, PathBuf)> + 'a {
        self.hierarchies
            .iter()
            .map(move |h| (h, h.mount.join(path)))
    }

    /// The directory of `path` in the hierarchy carrying `controller` (v2: the unified one).
    fn dir_of(&self, controller: &str, path: &str) -> Option<PathBuf> {
        match self.version {
            Version::V2 => Some(self.hierarchies[0].mount.join(path)),
            Version::V1 => self
                .hierarchies
                .iter()
                .find(|h| h.controllers.iter().any(|c| c == controller))
                .map(|h| h.mount.join(path)),
        }
    }

    /// The besteffort QoS cgroup gets the minimum cpu weight, as the kubelet gives it.
    fn qos_parent_defaults(&self, path: &str) -> Option<(String, Resources)> {
        let besteffort = format!("{}/kubepods/besteffort", self.parent);
        path.starts_with(&format!("{besteffort}/")).then(|| {
            (
                besteffort,
                Resources {
                    cpu_shares: Some(2),
                    cpu_period_us: qos::CPU_PERIOD_US,
                    ..Resources::default()
                },
            )
        })
    }

    /// Creates `path` (and its ancestors) in every hierarchy and writes `res`. Idempotent.
    pub fn ensure(&self, path: &str, res: &Resources) -> Result<(), CgroupError> {
        check_path(path)?;
        match self.version {
            Version::V2 => {
                let mut dir = self.hierarchies[0].mount.clone();
                for comp in path.split('/') {
                    v2::enable_subtree(&dir)?;
                    dir.push(comp);
                    fs::mkdir(&dir)?;
                }
            }
            Version::V1 => {
                for h in &self.hierarchies {
                    let cpuset = h.controllers.iter().any(|c| c == "cpuset");
                    let mut dir = h.mount.clone();
                    for comp in path.split('/') {
                        let parent = dir.clone();
                        dir.push(comp);
                        fs::mkdir(&dir)?;
                        if cpuset {
                            v1::init_cpuset(&parent, &dir)?;
                        }
                    }
                }
            }
        }
        if let Some((qos_path, defaults)) = self.qos_parent_defaults(path) {
            self.update(&qos_path, &defaults)?;
        }
        self.update(path, res)
    }

    /// Writes `res` into the existing cgroup `path`.
    pub fn update(&self, path: &str, res: &Resources) -> Result<(), CgroupError> {
        check_path(path)?;
        match self.version {
            Version::V2 => {
                let controllers = self.controllers();
                v2::write_limits(&self.hierarchies[0].mount.join(path), &controllers, res)
            }
            Version::V1 => self
                .dirs(path)
                .try_for_each(|(h, dir)| v1::write_limits(h, &dir, res)),
        }
    }

    /// Moves process `pid` into `path` in every hierarchy.
    pub fn add_pid(&self, path: &str, pid: i32) -> Result<(), CgroupError> {
        check_path(path)?;
        self.dirs(path)
            .try_for_each(|(_, dir)| fs::write(&dir.join("cgroup.procs"), &pid.to_string()))
    }

    /// Every process in `path` and its descendant cgroups, in any hierarchy (sorted, unique).
    pub fn pids(&self, path: &str) -> Result<Vec<i32>, CgroupError> {
        check_path(path)?;
        let mut out = Vec::new();
        for (_, dir) in self.dirs(path) {
            fs::procs_recursive(&dir, &mut out)?;
        }
        out.sort_unstable();
        out.dedup();
        Ok(out)
    }

    /// OOM kills recorded for `path` (0 without a memory controller).
    pub fn oom_kills(&self, path: &str) -> Result<u64, CgroupError> {
        check_path(path)?;
        match (self.version, self.dir_of("memory", path)) {
            (Version::V2, Some(dir)) => v2::oom_kills(&dir),
            (Version::V1, Some(dir)) => v1::oom_kills(&dir),
            (_, None) => Ok(0),
        }
    }

    /// Current usage of `path`.
    pub fn stats(&self, path: &str) -> Result<Stats, CgroupError> {
        check_path(path)?;
        let (cpu, (usage, ws)) = match self.version {
            Version::V2 => {
                let dir = self.hierarchies[0].mount.join(path);
                (v2::cpu_usage_ns(&dir)?, v2::memory(&dir)?)
            }
            Version::V1 => {
                let cpu = match self.dir_of("cpuacct", path) {
                    Some(d) => v1::cpu_usage_ns(&d)?,
                    None => 0,
                };
                let mem = match self.dir_of("memory", path) {
                    Some(d) => v1::memory(&d)?,
                    None => (0, 0),
                };
                (cpu, mem)
            }
        };
        let pids = match self.dir_of("pids", path) {
            Some(d) => fs::read_u64(&d.join("pids.current"))?,
            None => None,
        };
        let pids = match pids {
            Some(p) => p,
            None => self.pids(path)?.len() as u64,
        };
        Ok(Stats {
            cpu_usage_ns: cpu,
            memory_working_set_bytes: ws,
            memory_usage_bytes: usage,
            pids,
            timestamp: SystemTime::now(),
        })
    }

    /// SIGKILLs every process in `path` (and below) until none is left or only zombies
    /// waiting for their parent remain. v2 uses `cgroup.kill` when the kernel has it (5.14+),
    /// which also catches processes forked during the kill.
    pub fn kill_all(&self, path: &str) -> Result<(), CgroupError> {
        check_path(path)?;
        if self.version == Version::V2 {
            let file = self.hierarchies[0].mount.join(path).join("cgroup.kill");
            if file.exists() {
                fs::write(&file, "1")?;
            }
        }
        let mut left = Vec::new();
        for _ in 0..KILL_ROUNDS {
            left = self.pids(path)?;
            left.retain(|p| !is_zombie(*p));
            if left.is_empty() {
                return Ok(());
            }
            for pid in &left {
                match kill(Pid::from_raw(*pid), Signal::SIGKILL) {
                    Ok(()) | Err(Errno::ESRCH) => {}
                    Err(source) => return Err(CgroupError::Kill { pid: *pid, source }),
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(CgroupError::Busy {
            path: path.to_string(),
            rounds: KILL_ROUNDS,
            pids: left,
        })
    }

    /// Removes `path` and its child cgroups in every hierarchy, leaf first. Idempotent; the
    /// cgroups must be empty (call [`Cgroups::kill_all`] first). Ancestors are kept.
    pub fn remove(&self, path: &str) -> Result<(), CgroupError> {
        check_path(path)?;
        self.dirs(path)
            .try_for_each(|(_, dir)| fs::remove_tree(&dir))
    }
}

/// Paths are relative, made of plain components: they are joined to hierarchy roots.
fn check_path(path: &str) -> Result<(), CgroupError> {
    let bad = path.is_empty()
        || path
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..");
    if bad {
        return Err(CgroupError::InvalidPath(path.to_string()));
    }
    Ok(())
}

/// A zombie stays listed in v1 `cgroup.procs` until its parent reaps it, and SIGKILL cannot
/// make it go away: the caller's reaper will.
fn is_zombie(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().next().map(|st| st == "Z"))
        })
        .unwrap_or(false)
}

#[cfg(test)]
mod tests;
