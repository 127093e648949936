//! Container start inside the runtime alone (no API server, no kubelet): the busybox test
//! image is imported into a temporary store, then containers running `true` are started one
//! at a time in a pod sandbox. Two figures per container: start (spec → the container's
//! process has exec'd, as `Runtime::start` returns) and start → exit recorded. A second phase
//! keeps `--resident` containers running `sleep` and reports the supervisors' RSS, the
//! per-container memory cost that stays while a pod runs.
//!
//! Needs root (namespaces, mounts, cgroups); everything is made under a temporary directory
//! and a cgroup parent `kedge-bench-<pid>`, and removed at the end.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};

use super::percentile;
use crate::runtime::cgroups::{Cgroups, Resources};
use crate::runtime::spec::{ContainerSpec, Namespaces, RootfsSpec, Security, User};
use crate::runtime::{Runtime, RuntimeConfig, SandboxSpec, State};

fn spec(
    id: &str,
    pod_cgroup: &str,
    layers: &[std::path::PathBuf],
    args: &[&str],
    logs: &Path,
) -> ContainerSpec {
    ContainerSpec {
        id: id.to_string(),
        pod_uid: "bench".into(),
        pod_namespace: "bench".into(),
        pod_name: "bench".into(),
        name: "c".into(),
        // The store lists layers bottom first; overlayfs wants the top first.
        layers: layers.iter().rev().cloned().collect(),
        args: args.iter().map(|s| s.to_string()).collect(),
        env: vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()],
        cwd: "/".into(),
        user: User::default(),
        hostname: "bench".into(),
        namespaces: Namespaces::default(),
        security: Security {
            capabilities: crate::runtime::security::caps::effective_set(&[], &[], false),
            ..Security::default()
        },
        mounts: vec![],
        cgroup_path: format!("{pod_cgroup}/{id}"),
        resources: Resources {
            cpu_period_us: 100_000,
            ..Resources::default()
        },
        log_path: logs.join(format!("{id}.log")),
        log_max_bytes: 10 << 20,
        tty: false,
        stdin: false,
        stdin_once: false,
        rootfs: RootfsSpec::default(),
    }
}

/// (RSS, PSS, USS) of a process in KiB from `/proc/<pid>/smaps_rollup`: RSS counts shared
/// pages (the kedge binary's text, shared by every supervisor) in full, PSS divides them among
/// their users, USS (private pages) is what one more supervisor adds.
fn memory_kib(pid: i32) -> (u64, u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let field = |name: &str| -> u64 {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (
        field("Rss:"),
        field("Pss:"),
        field("Private_Clean:") + field("Private_Dirty:"),
    )
}

pub fn run(count: usize, resident: usize) -> Result<()> {
    let dir = Scratch(std::env::temp_dir().join(format!("kedge-bench-{}", std::process::id())));
    std::fs::create_dir_all(dir.path())?;
    let store = kedge_images::ImageStore::open(&dir.path().join("images"))?;
    let archive = dir.path().join("busybox.tar");
    kedge_images::testimage::busybox_oci_archive(&archive, "bench/busybox:1", &[])
        .context("building the busybox image (needs busybox-static)")?;
    store.import(&archive)?;
    let image = store.resolve("bench/busybox:1").context("imported image")?;
    let parent = format!("kedge-bench-{}", std::process::id());
    let cgroups = Arc::new(Cgroups::detect(Path::new("/sys/fs/cgroup"), &parent)?);
    let rt = Runtime::new(RuntimeConfig {
        run_dir: dir.path().join("run"),
        data_dir: dir.path().join("data"),
        cgroups: cgroups.clone(),
        exe: std::fs::read_link("/proc/self/exe")?,
    })?;
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs)?;
    let pod = format!("bench{}", std::process::id());
    let pod_cgroup = cgroups.pod_path(crate::runtime::cgroups::Qos::BestEffort, &pod);
    let sb = rt.create_sandbox(&SandboxSpec {
        pod_uid: pod.clone(),
        hostname: "bench".into(),
        ..SandboxSpec::default()
    })?;
    let ns = Namespaces {
        net: sb.netns.clone(),
        uts: sb.uts.clone(),
        ipc: sb.ipc.clone(),
        ..Namespaces::default()
    };
    let result = (|| -> Result<()> {
        let (mut start, mut total) = (Vec::new(), Vec::new());
        for i in 0..count {
            let mut s = spec(
                &format!("{i:064x}"),
                &pod_cgroup,
                &image.layers,
                &["true"],
                &logs,
            );
            s.namespaces = ns.clone();
            let t0 = Instant::now();
            let started = rt.start(&s)?;
            start.push(t0.elapsed().as_secs_f64() * 1000.0);
            let st = crate::rt::block_on(rt.wait_exit(&started.id))?;
            total.push(t0.elapsed().as_secs_f64() * 1000.0);
            if !matches!(st, State::Exited { exit_code: 0, .. }) {
                anyhow::bail!("container {i} ended as {st:?}");
            }
            rt.remove(&started.id)?;
        }
        start.sort_by(f64::total_cmp);
        total.sort_by(f64::total_cmp);
        println!(
            "runtime container start ({count} × `true`): p50 {:.2} ms, p99 {:.2} ms; start → exit recorded: p50 {:.2} ms, p99 {:.2} ms",
            percentile(&start, 50.0),
            percentile(&start, 99.0),
            percentile(&total, 50.0),
            percentile(&total, 99.0)
        );
        let mut ids = Vec::new();
        let mut shim_pids = Vec::new();
        for i in 0..resident {
            let mut s = spec(
                &format!("{:064x}", count + i),
                &pod_cgroup,
                &image.layers,
                &["sleep", "3600"],
                &logs,
            );
            s.namespaces = ns.clone();
            let started = rt.start(&s)?;
            shim_pids.push(started.shim_pid);
            ids.push(started.id);
        }
        if resident > 0 {
            let (mut rss, mut pss, mut uss) = (0, 0, 0);
            for p in &shim_pids {
                let (r, p, u) = memory_kib(*p);
                (rss, pss, uss) = (rss + r, pss + p, uss + u);
            }
            let per = |kib: u64| kib as f64 / 1024.0 / resident as f64;
            println!(
                "supervisor memory with {resident} running containers, per container: RSS {:.2} MiB, PSS {:.2} MiB, private (USS) {:.2} MiB",
                per(rss),
                per(pss),
                per(uss)
            );
        }
        for id in ids {
            rt.remove(&id)?;
        }
        Ok(())
    })();
    let _ = rt.remove_sandbox(&pod);
    let _ = cgroups.kill_all(&parent);
    let _ = cgroups.remove(&parent);
    result
}

/// A scratch directory removed on drop.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
