//! Cgroup v2 (unified) control files.
//!
//! Contract: controllers are enabled top-down in `cgroup.subtree_control` of every ancestor of
//! a cgroup that gets limits (never in the leaf itself: a v2 cgroup with enabled child
//! controllers may not hold processes). cpu, memory and pids are required where the kernel
//! offers them; cpuset and io are enabled when possible.

use std::path::Path;

use super::fs;
use super::qos::{shares_to_weight, CPU_PERIOD_US};
use super::{CgroupError, Resources};

const REQUIRED: &[&str] = &["cpu", "memory", "pids"];
const OPTIONAL: &[&str] = &["cpuset", "io"];

/// The controllers a cgroup offers to its children (`cgroup.controllers`).
pub(crate) fn available(dir: &Path) -> Result<Vec<String>, CgroupError> {
    Ok(fs::read_opt(&dir.join("cgroup.controllers"))?
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default())
}

/// Enables the controllers we use for the children of `dir`.
pub(crate) fn enable_subtree(dir: &Path) -> Result<(), CgroupError> {
    let avail = available(dir)?;
    let file = dir.join("cgroup.subtree_control");
    let enabled: Vec<String> = fs::read_opt(&file)?
        .map(|s| {
            s.split_whitespace()
                .map(|c| c.trim_start_matches('+').to_string())
                .collect()
        })
        .unwrap_or_default();
    let missing: Vec<&str> = REQUIRED
        .iter()
        .chain(OPTIONAL)
        .copied()
        .filter(|c| avail.iter().any(|a| a == c) && !enabled.iter().any(|e| e == c))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let all: Vec<String> = missing.iter().map(|c| format!("+{c}")).collect();
    if fs::write(&file, &all.join(" ")).is_ok() {
        return Ok(());
    }
    // One controller refused (cpuset with exclusive siblings, cpu with realtime tasks): enable
    // them one by one so that only a required one failing is an error.
    for c in missing {
        let res = fs::write(&file, &format!("+{c}"));
        if res.is_err() && REQUIRED.contains(&c) {
            return res;
        }
    }
    Ok(())
}

/// Writes the limits of the controllers in `controllers` (those enabled for `dir`).
pub(crate) fn write_limits(
    dir: &Path,
    controllers: &[String],
    r: &Resources,
) -> Result<(), CgroupError> {
    let has = |c: &str| controllers.iter().any(|x| x == c);
    if has("cpu") {
        if let Some(shares) = r.cpu_shares {
            fs::write(
                &dir.join("cpu.weight"),
                &shares_to_weight(shares).to_string(),
            )?;
        }
        let period = if r.cpu_period_us == 0 {
            CPU_PERIOD_US
        } else {
            r.cpu_period_us
        };
        let quota = r.cpu_quota_us.map_or("max".to_string(), |q| q.to_string());
        fs::write(&dir.join("cpu.max"), &format!("{quota} {period}"))?;
    }
    if has("memory") {
        let max = r
            .memory_limit_bytes
            .map_or("max".to_string(), |m| m.to_string());
        fs::write(&dir.join("memory.max"), &max)?;
    }
    if has("pids") {
        let max = r.pids_limit.map_or("max".to_string(), |p| p.to_string());
        fs::write(&dir.join("pids.max"), &max)?;
    }
    Ok(())
}

/// `oom_kill` of `memory.events` (hierarchical unless mounted with `memory_localevents`).
pub(crate) fn oom_kills(dir: &Path) -> Result<u64, CgroupError> {
    Ok(fs::read_key(&dir.join("memory.events"), "oom_kill")?.unwrap_or(0))
}

/// Memory usage and working set (`memory.current` minus `inactive_file`).
pub(crate) fn memory(dir: &Path) -> Result<(u64, u64), CgroupError> {
    let usage = fs::read_u64(&dir.join("memory.current"))?.unwrap_or(0);
    let inactive = fs::read_key(&dir.join("memory.stat"), "inactive_file")?.unwrap_or(0);
    Ok((usage, usage.saturating_sub(inactive)))
}

/// Cumulative cpu time in nanoseconds (`cpu.stat` `usage_usec`, present even without the cpu
/// controller).
pub(crate) fn cpu_usage_ns(dir: &Path) -> Result<u64, CgroupError> {
    Ok(fs::read_key(&dir.join("cpu.stat"), "usage_usec")?.unwrap_or(0) * 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(p: &Path) -> String {
        std::fs::read_to_string(p).unwrap()
    }

    #[test]
    fn enables_only_available_missing_controllers() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(
            t.path().join("cgroup.controllers"),
            "cpuset cpu io memory hugetlb pids rdma\n",
        )
        .unwrap();
        std::fs::write(t.path().join("cgroup.subtree_control"), "memory\n").unwrap();
        enable_subtree(t.path()).unwrap();
        assert_eq!(
            read(&t.path().join("cgroup.subtree_control")),
            "+cpu +pids +cpuset +io"
        );
        std::fs::write(
            t.path().join("cgroup.subtree_control"),
            "cpuset cpu io memory pids\n",
        )
        .unwrap();
        std::fs::remove_file(t.path().join("cgroup.controllers")).unwrap();
        enable_subtree(t.path()).unwrap();
        assert_eq!(
            read(&t.path().join("cgroup.subtree_control")),
            "cpuset cpu io memory pids\n"
        );
    }

    #[test]
    fn limits_and_unlimited_values() {
        let t = tempfile::tempdir().unwrap();
        let all: Vec<String> = ["cpu", "memory", "pids"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let r = Resources {
            cpu_shares: Some(1024),
            cpu_quota_us: Some(20_000),
            cpu_period_us: 100_000,
            memory_limit_bytes: Some(64 << 20),
            pids_limit: Some(50),
        };
        write_limits(t.path(), &all, &r).unwrap();
        assert_eq!(read(&t.path().join("cpu.weight")), "39");
        assert_eq!(read(&t.path().join("cpu.max")), "20000 100000");
        assert_eq!(read(&t.path().join("memory.max")), "67108864");
        assert_eq!(read(&t.path().join("pids.max")), "50");
        write_limits(t.path(), &all, &Resources::default()).unwrap();
        assert_eq!(read(&t.path().join("cpu.max")), "max 100000");
        assert_eq!(read(&t.path().join("memory.max")), "max");
        std::fs::write(
            t.path().join("memory.events"),
            "low 0\nhigh 0\nmax 4\noom 2\noom_kill 2\n",
        )
        .unwrap();
        assert_eq!(oom_kills(t.path()).unwrap(), 2);
        std::fs::write(t.path().join("memory.current"), "1000\n").unwrap();
        std::fs::write(t.path().join("memory.stat"), "anon 10\ninactive_file 300\n").unwrap();
        assert_eq!(memory(t.path()).unwrap(), (1000, 700));
    }
}
