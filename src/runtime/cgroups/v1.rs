//! Cgroup v1 (legacy, one hierarchy per controller group) control files.
//!
//! Contract: only the files of the controllers a hierarchy carries are touched; unset limits
//! are written as the kernel's "unlimited" (`-1`, `max`) so `update` can lift a limit.

use std::path::Path;

use super::fs;
use super::mountinfo::Hierarchy;
use super::qos::CPU_PERIOD_US;
use super::{CgroupError, Resources};

fn has(h: &Hierarchy, c: &str) -> bool {
    h.controllers.iter().any(|x| x == c)
}

/// Writes the limits that belong to this hierarchy's controllers into `dir`.
pub(crate) fn write_limits(h: &Hierarchy, dir: &Path, r: &Resources) -> Result<(), CgroupError> {
    if has(h, "cpu") {
        if let Some(shares) = r.cpu_shares {
            fs::write(&dir.join("cpu.shares"), &shares.to_string())?;
        }
        let period = if r.cpu_period_us == 0 {
            CPU_PERIOD_US
        } else {
            r.cpu_period_us
        };
        let quota = r.cpu_quota_us.unwrap_or(-1).to_string();
        let period_file = dir.join("cpu.cfs_period_us");
        let quota_file = dir.join("cpu.cfs_quota_us");
        // The kernel checks quota/period against the hierarchy at each write; when the new
        // period is rejected with the old quota in place, the other order works.
        if fs::write(&period_file, &period.to_string()).is_err() {
            fs::write(&quota_file, &quota)?;
            fs::write(&period_file, &period.to_string())?;
        } else {
            fs::write(&quota_file, &quota)?;
        }
    }
    if has(h, "memory") {
        let limit = r.memory_limit_bytes.unwrap_or(-1).to_string();
        fs::write(&dir.join("memory.limit_in_bytes"), &limit)?;
    }
    if has(h, "pids") {
        let max = r.pids_limit.map_or("max".to_string(), |p| p.to_string());
        fs::write(&dir.join("pids.max"), &max)?;
    }
    Ok(())
}

/// A new cpuset cgroup starts with empty `cpuset.cpus`/`cpuset.mems` and refuses tasks until
/// they are filled: copy them from the parent.
pub(crate) fn init_cpuset(parent: &Path, dir: &Path) -> Result<(), CgroupError> {
    for file in ["cpuset.cpus", "cpuset.mems"] {
        let mine = fs::read_opt(&dir.join(file))?.unwrap_or_default();
        if !mine.trim().is_empty() {
            continue;
        }
        if let Some(v) = fs::read_opt(&parent.join(file))? {
            if !v.trim().is_empty() {
                fs::write(&dir.join(file), v.trim())?;
            }
        }
    }
    Ok(())
}

/// OOM kills in a memory cgroup: `oom_kill` of `memory.oom_control` (kernel >= 4.13), else
/// `under_oom` (0/1) as the best available signal.
pub(crate) fn oom_kills(mem_dir: &Path) -> Result<u64, CgroupError> {
    let f = mem_dir.join("memory.oom_control");
    if let Some(n) = fs::read_key(&f, "oom_kill")? {
        return Ok(n);
    }
    Ok(fs::read_key(&f, "under_oom")?.unwrap_or(0))
}

/// Memory usage and working set (usage minus inactive file cache, as cAdvisor computes it).
pub(crate) fn memory(mem_dir: &Path) -> Result<(u64, u64), CgroupError> {
    let usage = fs::read_u64(&mem_dir.join("memory.usage_in_bytes"))?.unwrap_or(0);
    let inactive = fs::read_key(&mem_dir.join("memory.stat"), "total_inactive_file")?.unwrap_or(0);
    Ok((usage, usage.saturating_sub(inactive)))
}

/// Cumulative cpu time in nanoseconds.
pub(crate) fn cpu_usage_ns(cpuacct_dir: &Path) -> Result<u64, CgroupError> {
    Ok(fs::read_u64(&cpuacct_dir.join("cpuacct.usage"))?.unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(p: &Path) -> String {
        std::fs::read_to_string(p).unwrap()
    }

    #[test]
    fn limits_go_to_their_hierarchies_only() {
        let t = tempfile::tempdir().unwrap();
        let cpu = Hierarchy {
            mount: t.path().into(),
            controllers: vec!["cpu".into(), "cpuacct".into()],
        };
        let r = Resources {
            cpu_shares: Some(512),
            cpu_quota_us: Some(50_000),
            cpu_period_us: 100_000,
            memory_limit_bytes: Some(1 << 20),
            pids_limit: None,
        };
        write_limits(&cpu, t.path(), &r).unwrap();
        assert_eq!(read(&t.path().join("cpu.shares")), "512");
        assert_eq!(read(&t.path().join("cpu.cfs_quota_us")), "50000");
        assert_eq!(read(&t.path().join("cpu.cfs_period_us")), "100000");
        assert!(!t.path().join("memory.limit_in_bytes").exists());
        let mem = Hierarchy {
            mount: t.path().into(),
            controllers: vec!["memory".into()],
        };
        write_limits(&mem, t.path(), &Resources::default()).unwrap();
        assert_eq!(read(&t.path().join("memory.limit_in_bytes")), "-1");
    }

    #[test]
    fn cpuset_copied_from_parent_and_oom_fallback() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("cpuset.cpus"), "0-3\n").unwrap();
        std::fs::write(t.path().join("cpuset.mems"), "0\n").unwrap();
        let child = t.path().join("c");
        std::fs::create_dir(&child).unwrap();
        init_cpuset(t.path(), &child).unwrap();
        assert_eq!(read(&child.join("cpuset.cpus")), "0-3");
        assert_eq!(read(&child.join("cpuset.mems")), "0");
        std::fs::write(
            child.join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 1\n",
        )
        .unwrap();
        assert_eq!(oom_kills(&child).unwrap(), 1);
        std::fs::write(
            child.join("memory.oom_control"),
            "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n",
        )
        .unwrap();
        assert_eq!(oom_kills(&child).unwrap(), 3);
    }
}
