//! Helpers for tests against a real node agent (tests only): a cluster whose server runs the
//! agent with the busybox test image pre-loaded (auto-imported from
//! `<data-dir>/agent/images/*.tar` at start), waiting for pods, exec, and looking at what the
//! node made (processes, mounts, cgroups, links) from outside.
//!
//! A test crate using it declares `mod common;` and `#[path = "common/node.rs"] mod node;`.

#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Output;

use serde_json::Value;

use crate::common::{self, wait_for, Cluster};

pub use common::TEST_IMAGE as IMAGE;

/// Write the test image archive where the agent imports images from at start.
pub fn stage_image(data_dir: &std::path::Path) {
    common::node_image(data_dir)
}

/// A server with its agent, the test image staged, the node registered and Ready.
pub fn agent_cluster(extra: &[&str]) -> Cluster {
    let c = Cluster::with_agent_staged(extra, stage_image);
    wait_node_ready(&c);
    c
}

pub fn wait_node_ready(c: &Cluster) {
    common::multinode::wait_node_ready(c, "node1");
}

/// The pod as JSON, or Null when it does not exist.
pub fn pod(c: &Cluster, ns: &str, name: &str) -> Value {
    let out = c.kubectl(&["get", "pod", name, "-n", ns, "-o", "json"]);
    if !out.status.success() {
        return Value::Null;
    }
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

pub fn is_ready(p: &Value) -> bool {
    p["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// Wait until the pod is Running and Ready; returns it.
pub fn wait_running(c: &Cluster, ns: &str, name: &str, secs: u64) -> Value {
    let mut last = Value::Null;
    let what = format!("pod {ns}/{name} to be Running and Ready");
    wait_for(&what, secs, || {
        last = pod(c, ns, name);
        last["status"]["phase"] == "Running" && is_ready(&last)
    });
    last
}

/// `kubectl exec -n ns pod -- args`.
pub fn exec(c: &Cluster, ns: &str, pod: &str, args: &[&str]) -> Output {
    let mut a = vec!["exec", "-n", ns, pod, "--"];
    a.extend_from_slice(args);
    c.kubectl(&a)
}

/// Stdout of an exec that must succeed.
pub fn exec_ok(c: &Cluster, ns: &str, pod: &str, args: &[&str]) -> String {
    let out = exec(c, ns, pod, args);
    assert!(
        out.status.success(),
        "exec {args:?} in {ns}/{pod} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The container's status entry by name.
pub fn container_status(p: &Value, name: &str) -> Value {
    p["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["name"] == name)
        .cloned()
        .unwrap_or(Value::Null)
}

/// A single-container busybox pod manifest.
pub fn busybox_pod(name: &str, script: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: {name}
spec:
  terminationGracePeriodSeconds: 2
  containers:
  - name: main
    image: {IMAGE}
    imagePullPolicy: IfNotPresent
    command: ["sh", "-c", {script:?}]
"#
    )
}

/// Mount points under `prefix` in the node's mount namespace.
pub fn node_mounts(c: &Cluster, prefix: &str) -> Vec<String> {
    let text =
        std::fs::read_to_string(format!("/proc/{}/mountinfo", c.holder_pid())).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|m| m.starts_with(prefix))
        .map(str::to_string)
        .collect()
}

/// Links in the node's network namespace (`ip -o link`), names only.
pub fn node_links(c: &Cluster) -> Vec<String> {
    let out = c
        .ns_command("/usr/sbin/ip")
        .args(["-o", "link"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split(": ").nth(1))
        .map(|n| n.split('@').next().unwrap_or(n).to_string())
        .collect()
}

/// Directories of this node's cgroup tree (every hierarchy), excluding the top ones.
pub fn pod_cgroups(c: &Cluster) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for top in common::cleanup::cgroup_dirs(&c.cgroup_parent) {
        find_pod_dirs(&top, &mut out);
    }
    out
}

fn find_pod_dirs(dir: &std::path::Path, out: &mut Vec<PathBuf>) {
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                let p = e.path();
                if p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("pod"))
                {
                    out.push(p.clone());
                }
                find_pod_dirs(&p, out);
            }
        }
    }
}
