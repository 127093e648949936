//! Removing everything a test node made: processes (by PID: those sharing the node's mount
//! namespace, such as container supervisors, and those in the node's cgroups, the containers)
//! and the node's cgroup directories in every hierarchy.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// Every directory named `parent` directly under a cgroup hierarchy root (v1: one per
/// controller mount; v2: the unified root).
pub fn cgroup_dirs(parent: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let root = Path::new(CGROUP_ROOT);
    if root.join(parent).is_dir() {
        out.push(root.join(parent));
    }
    if let Ok(rd) = std::fs::read_dir(root) {
        for e in rd.flatten() {
            let p = e.path().join(parent);
            if p.is_dir() && !out.contains(&p) {
                out.push(p);
            }
        }
    }
    out
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                walk(&e.path(), out);
            }
        }
    }
    out.push(dir.to_path_buf());
}

/// PIDs in the cgroup trees of `parent`.
pub fn cgroup_pids(parent: &str) -> Vec<i32> {
    let mut dirs = Vec::new();
    for d in cgroup_dirs(parent) {
        walk(&d, &mut dirs);
    }
    let mut pids = Vec::new();
    for d in dirs {
        if let Ok(t) = std::fs::read_to_string(d.join("cgroup.procs")) {
            pids.extend(t.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        }
    }
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// PIDs (other than the holder) in the holder's mount namespace.
fn namespace_pids(holder: u32) -> Vec<i32> {
    let Ok(want) = std::fs::read_link(format!("/proc/{holder}/ns/mnt")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir("/proc") {
        for e in rd.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            if pid as u32 == holder || pid as u32 == std::process::id() {
                continue;
            }
            if std::fs::read_link(format!("/proc/{pid}/ns/mnt"))
                .ok()
                .as_ref()
                == Some(&want)
            {
                out.push(pid);
            }
        }
    }
    out
}

fn kill(pid: i32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// SIGKILL, by PID, every process of the node, until none is left (bounded).
pub fn node_processes(holder: u32, cgroup_parent: &str) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut pids = namespace_pids(holder);
        pids.extend(cgroup_pids(cgroup_parent));
        if pids.is_empty() || Instant::now() > deadline {
            return;
        }
        for p in pids {
            kill(p);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Remove the node's cgroup directories, leaves first.
pub fn cgroups(parent: &str) {
    for top in cgroup_dirs(parent) {
        let mut dirs = Vec::new();
        walk(&top, &mut dirs);
        for d in dirs {
            for _ in 0..20 {
                if std::fs::remove_dir(&d).is_ok() || !d.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(25));
            }
        }
    }
}
