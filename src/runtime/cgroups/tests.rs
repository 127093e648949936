//! Fixture tests for both layouts and a root test against the host's real cgroups.

use std::fs as stdfs;
use std::path::Path;
use std::process::{Command, Stdio};

use super::mountinfo::Layout;
use super::*;

fn read(p: &Path) -> String {
    stdfs::read_to_string(p).unwrap().trim().to_string()
}

fn limits() -> Resources {
    Resources {
        cpu_shares: Some(512),
        cpu_quota_us: Some(50_000),
        cpu_period_us: 100_000,
        memory_limit_bytes: Some(256 << 20),
        pids_limit: Some(100),
    }
}

#[test]
fn paths_follow_the_kubepods_layout() {
    let cg = Cgroups::new_v2(Path::new("/nonexistent"), "kedge");
    assert_eq!(cg.pod_path(Qos::Guaranteed, "u1"), "kedge/kubepods/podu1");
    assert_eq!(
        cg.pod_path(Qos::Burstable, "u1"),
        "kedge/kubepods/burstable/podu1"
    );
    let be = cg.pod_path(Qos::BestEffort, "u1");
    assert_eq!(be, "kedge/kubepods/besteffort/podu1");
    assert_eq!(
        cg.container_path(&be, "abc"),
        "kedge/kubepods/besteffort/podu1/abc"
    );
    for bad in ["", "/abs", "a/../b", "a//b", "a/."] {
        assert!(
            matches!(cg.ensure(bad, &limits()), Err(CgroupError::InvalidPath(_))),
            "{bad}"
        );
    }
}

#[test]
fn v2_fixture_enables_controllers_down_the_path_and_writes_limits() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    stdfs::write(root.join("cgroup.controllers"), "cpuset cpu io memory pids").unwrap();
    stdfs::write(root.join("cgroup.subtree_control"), "").unwrap();
    let cg = Cgroups::new_v2(root, "kedge");
    assert_eq!(cg.version(), Version::V2);
    let pod = cg.pod_path(Qos::BestEffort, "u1");
    let ctr = cg.container_path(&pod, "c1");
    cg.ensure(&ctr, &limits()).unwrap();
    assert_eq!(
        read(&root.join("cgroup.subtree_control")),
        "+cpu +memory +pids +cpuset +io"
    );
    let leaf = root.join(&ctr);
    assert_eq!(read(&leaf.join("cpu.weight")), "20");
    assert_eq!(read(&leaf.join("cpu.max")), "50000 100000");
    assert_eq!(read(&leaf.join("memory.max")), "268435456");
    assert_eq!(read(&leaf.join("pids.max")), "100");
    // The besteffort QoS parent gets the minimum weight.
    assert_eq!(
        read(&root.join("kedge/kubepods/besteffort/cpu.weight")),
        "1"
    );
    // Lifting limits.
    cg.update(&ctr, &Resources::default()).unwrap();
    assert_eq!(read(&leaf.join("memory.max")), "max");
    cg.add_pid(&ctr, 4242).unwrap();
    assert_eq!(cg.pids(&pod).unwrap(), vec![4242]);
    stdfs::write(leaf.join("memory.events"), "oom 1\noom_kill 1\n").unwrap();
    assert_eq!(cg.oom_kills(&ctr).unwrap(), 1);
    stdfs::write(leaf.join("cpu.stat"), "usage_usec 1500\nuser_usec 1000\n").unwrap();
    stdfs::write(leaf.join("memory.current"), "4096").unwrap();
    stdfs::write(leaf.join("pids.current"), "3").unwrap();
    let s = cg.stats(&ctr).unwrap();
    assert_eq!(
        (
            s.cpu_usage_ns,
            s.memory_usage_bytes,
            s.memory_working_set_bytes,
            s.pids
        ),
        (1_500_000, 4096, 4096, 3)
    );
}

#[test]
fn v1_fixture_writes_each_controller_in_its_hierarchy() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path();
    for d in ["cpu,cpuacct", "memory", "pids", "cpuset", "systemd"] {
        stdfs::create_dir(root.join(d)).unwrap();
    }
    stdfs::write(root.join("cpuset/cpuset.cpus"), "0-3").unwrap();
    stdfs::write(root.join("cpuset/cpuset.mems"), "0").unwrap();
    let cg = Cgroups::new_v1(root, "kedge");
    assert_eq!(cg.version(), Version::V1);
    assert_eq!(
        cg.controllers(),
        vec!["cpu", "cpuacct", "cpuset", "memory", "pids"]
    );
    let ctr = cg.container_path(&cg.pod_path(Qos::Burstable, "u2"), "c2");
    cg.ensure(&ctr, &limits()).unwrap();
    assert_eq!(
        read(&root.join("cpu,cpuacct").join(&ctr).join("cpu.shares")),
        "512"
    );
    assert_eq!(
        read(&root.join("cpu,cpuacct").join(&ctr).join("cpu.cfs_quota_us")),
        "50000"
    );
    assert_eq!(
        read(&root.join("memory").join(&ctr).join("memory.limit_in_bytes")),
        "268435456"
    );
    assert_eq!(read(&root.join("pids").join(&ctr).join("pids.max")), "100");
    // cpuset values are inherited down every level, else tasks could not join.
    assert_eq!(read(&root.join("cpuset/kedge/kubepods/cpuset.cpus")), "0-3");
    assert_eq!(
        read(&root.join("cpuset").join(&ctr).join("cpuset.mems")),
        "0"
    );
    assert!(!root.join("systemd/kedge").exists());
    stdfs::write(
        root.join("cpu,cpuacct").join(&ctr).join("cpuacct.usage"),
        "777",
    )
    .unwrap();
    stdfs::write(
        root.join("memory").join(&ctr).join("memory.usage_in_bytes"),
        "1000",
    )
    .unwrap();
    stdfs::write(
        root.join("memory").join(&ctr).join("memory.stat"),
        "inactive_file 5\ntotal_inactive_file 100\n",
    )
    .unwrap();
    let s = cg.stats(&ctr).unwrap();
    assert_eq!(
        (
            s.cpu_usage_ns,
            s.memory_usage_bytes,
            s.memory_working_set_bytes
        ),
        (777, 1000, 900)
    );
}

fn require_root(what: &str) -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "{what} needs root in CI");
    println!("SKIPPED: {what}: not root");
    false
}

/// Removes the test parent in every hierarchy, even when the test fails.
struct Cleanup(Cgroups, String);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = self.0.kill_all(&self.1);
        let _ = self.0.remove(&self.1);
    }
}

#[test]
fn host_cgroups_limit_kill_and_remove() {
    if !require_root("host cgroup test") {
        return;
    }
    let parent = format!("kedge-test-{}", uuid::Uuid::new_v4().simple());
    let cg = match Cgroups::detect(Path::new("/sys/fs/cgroup"), &parent) {
        Ok(cg) => cg,
        Err(e) => {
            assert!(std::env::var_os("CI").is_none(), "no cgroups: {e}");
            println!("SKIPPED: no cgroups: {e}");
            return;
        }
    };
    let _cleanup = Cleanup(cg.clone(), parent.clone());
    let pod = cg.pod_path(Qos::Burstable, "testpod");
    let ctr = cg.container_path(&pod, "c1");
    cg.ensure(&pod, &Resources::default()).unwrap();
    cg.ensure(&ctr, &limits()).unwrap();
    cg.ensure(&ctr, &limits()).unwrap();
    let mut child = Command::new("sleep")
        .arg("100")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    cg.add_pid(&ctr, pid).unwrap();
    assert_eq!(cg.pids(&pod).unwrap(), vec![pid]);
    let s = cg.stats(&ctr).unwrap();
    assert_eq!(s.pids, 1);
    if cg.controllers().iter().any(|c| c == "memory") {
        // v1 does not move a task's existing charges with it, so usage may still be 0 here.
        assert!(s.memory_working_set_bytes <= s.memory_usage_bytes);
        assert_eq!(cg.oom_kills(&ctr).unwrap(), 0);
    }
    cg.kill_all(&pod).unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    cg.remove(&parent).unwrap();
    cg.remove(&parent).unwrap();
    for (_, dir) in cg.dirs(&parent) {
        assert!(!dir.exists(), "{} still exists", dir.display());
    }
}

/// On hybrid hosts the controller-less cgroup2 mount at `unified` still exercises the v2 code
/// against the kernel: directory creation, moving a process, `cgroup.kill`, `cpu.stat` and
/// removal (limits are skipped: no controller is offered there).
#[test]
fn host_hybrid_unified_mount_runs_the_v2_paths() {
    if !require_root("host cgroup2 test") {
        return;
    }
    let mi = stdfs::read_to_string("/proc/self/mountinfo").unwrap();
    let unified = Path::new("/sys/fs/cgroup/unified");
    if mountinfo::parse(&mi, unified) != Layout::Unified(unified.to_path_buf()) {
        println!("SKIPPED: no cgroup2 mount at {}", unified.display());
        return;
    }
    let parent = format!("kedge-test-{}", uuid::Uuid::new_v4().simple());
    let cg = Cgroups::new_v2(unified, &parent);
    let _cleanup = Cleanup(cg.clone(), parent.clone());
    let ctr = cg.container_path(&cg.pod_path(Qos::Guaranteed, "p"), "c");
    cg.ensure(&ctr, &limits()).unwrap();
    let mut child = Command::new("sleep")
        .arg("100")
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id() as i32;
    cg.add_pid(&ctr, pid).unwrap();
    assert_eq!(cg.pids(&parent).unwrap(), vec![pid]);
    assert_eq!(cg.stats(&ctr).unwrap().pids, 1);
    cg.kill_all(&parent).unwrap();
    assert!(!child.wait().unwrap().success());
    cg.remove(&parent).unwrap();
    assert!(!unified.join(&parent).exists());
}
