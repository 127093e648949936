//! Acceptance of container lifecycle on a real node (issue 4, criteria 3, 4 and 6): OOM kills
//! with backoff, CPU quota and pids limits in the cgroup files and enforced, liveness,
//! readiness and startup probes, graceful deletion with preStop and SIGTERM, and no leftovers
//! after many create/delete cycles.

mod common;
#[path = "common/node.rs"]
mod node;

use std::time::Instant;

use common::{items, wait_for, Cluster};
use node::{agent_cluster, container_status, exec_ok, pod, wait_running, IMAGE};
use serde_json::Value;

/// The container's cgroup directory in the hierarchy named `controller` (v1 here).
fn container_cgroup(c: &Cluster, p: &Value, controller: &str) -> std::path::PathBuf {
    let uid = p["metadata"]["uid"].as_str().unwrap();
    let id = container_status(p, "main")["containerID"]
        .as_str()
        .unwrap()
        .trim_start_matches("kedge://")
        .to_string();
    for top in common::cleanup::cgroup_dirs(&c.cgroup_parent) {
        let hierarchy = top
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if !hierarchy.split(',').any(|c| c == controller) {
            continue;
        }
        for qos in ["kubepods", "kubepods/burstable", "kubepods/besteffort"] {
            let d = top.join(qos).join(format!("pod{uid}")).join(&id);
            if d.is_dir() {
                return d;
            }
        }
    }
    panic!("no {controller} cgroup for container {id}");
}

#[test]
fn oom_kills_restart_with_backoff_and_limits_are_enforced() {
    require_cluster!();
    let c = agent_cluster(&["--pod-max-pids", "40"]);
    c.apply(&format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: hog
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {IMAGE}
    command: ["sh", "-c", "sleep 1; tail /dev/zero"]
    resources:
      limits: {{memory: 24Mi}}
---
apiVersion: v1
kind: Pod
metadata:
  name: limited
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {IMAGE}
    command: ["sleep", "3600"]
    resources:
      limits: {{cpu: 200m, memory: 64Mi}}
"#
    ));
    // OOMKilled, 137, restarted, then backing off.
    let mut st = Value::Null;
    wait_for("an OOM kill and a restart", 90, || {
        st = container_status(&pod(&c, "default", "hog"), "main");
        st["lastState"]["terminated"]["reason"] == "OOMKilled"
            && st["restartCount"].as_u64() >= Some(1)
    });
    assert_eq!(st["lastState"]["terminated"]["exitCode"], 137);
    wait_for("CrashLoopBackOff", 90, || {
        let s = container_status(&pod(&c, "default", "hog"), "main");
        s["state"]["waiting"]["reason"] == "CrashLoopBackOff"
    });
    let events = items(
        &c,
        &["events", "--field-selector", "involvedObject.name=hog"],
    );
    assert!(
        events.iter().any(|e| e["reason"] == "BackOff"),
        "{events:?}"
    );

    // CPU quota from the limit, pids limit from --pod-max-pids, in the cgroup files.
    let p = wait_running(&c, "default", "limited", 60);
    assert_eq!(p["status"]["qosClass"], "Guaranteed");
    let cpu = container_cgroup(&c, &p, "cpu");
    let quota = std::fs::read_to_string(cpu.join("cpu.cfs_quota_us")).unwrap();
    let period = std::fs::read_to_string(cpu.join("cpu.cfs_period_us")).unwrap();
    assert_eq!((quota.trim(), period.trim()), ("20000", "100000"));
    let mem = container_cgroup(&c, &p, "memory");
    let limit = std::fs::read_to_string(mem.join("memory.limit_in_bytes")).unwrap();
    assert_eq!(limit.trim(), (64u64 << 20).to_string());
    // Enforced: a busy loop gets about 0.2 CPU, not a whole core.
    let acct = container_cgroup(&c, &p, "cpuacct");
    let usage = || -> u64 {
        std::fs::read_to_string(acct.join("cpuacct.usage"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    };
    exec_ok(
        &c,
        "default",
        "limited",
        &["sh", "-c", "(while true; do :; done) >/dev/null 2>&1 &"],
    );
    let (u0, t0) = (usage(), Instant::now());
    std::thread::sleep(std::time::Duration::from_secs(3));
    let share = (usage() - u0) as f64 / t0.elapsed().as_nanos() as f64;
    assert!(
        share > 0.05 && share < 0.3,
        "CPU share under a 200m limit: {share:.2}"
    );

    // A fork bomb stops at the pids limit.
    let pids = container_cgroup(&c, &p, "pids");
    assert_eq!(
        std::fs::read_to_string(pids.join("pids.max"))
            .unwrap()
            .trim(),
        "40"
    );
    let out = c.kubectl(&[
        "exec",
        "limited",
        "--",
        "sh",
        "-c",
        "i=0; while [ $i -lt 200 ]; do sleep 30 & i=$((i+1)); done 2>&1 | head -n1; true",
    ]);
    let current: u64 = std::fs::read_to_string(pids.join("pids.current"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(current <= 40, "pids.current {current} over the limit");
    let fail = std::fs::read_to_string(pids.parent().unwrap().join("pids.events"))
        .unwrap_or_default()
        + &String::from_utf8_lossy(&out.stdout)
        + &String::from_utf8_lossy(&out.stderr);
    assert!(
        fail.contains("fork") || fail.contains("max"),
        "the bomb must hit the limit: {fail}"
    );
}

#[test]
fn probes_restart_toggle_readiness_and_gate_on_startup() {
    require_cluster!();
    let c = agent_cluster(&[]);
    c.apply(&format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: probed
  labels: {{app: probed}}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {IMAGE}
    command: ["sh", "-c", "touch /tmp/live /tmp/ready; exec sleep 3600"]
    livenessProbe:
      exec: {{command: [cat, /tmp/live]}}
      periodSeconds: 1
      failureThreshold: 2
    readinessProbe:
      exec: {{command: [cat, /tmp/ready]}}
      periodSeconds: 1
---
apiVersion: v1
kind: Service
metadata:
  name: probed
spec:
  selector: {{app: probed}}
  ports: [{{port: 80}}]
---
apiVersion: v1
kind: Pod
metadata:
  name: slowstart
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: {IMAGE}
    command: ["sh", "-c", "sleep 6; touch /tmp/started; exec sleep 3600"]
    startupProbe:
      exec: {{command: [cat, /tmp/started]}}
      periodSeconds: 1
      failureThreshold: 30
    livenessProbe:
      exec: {{command: [cat, /tmp/started]}}
      periodSeconds: 1
      failureThreshold: 1
"#
    ));
    let p = wait_running(&c, "default", "probed", 60);
    let ip = p["status"]["podIP"].as_str().unwrap().to_string();
    let endpoint_ips = || -> Vec<String> {
        let e = c.json(&["endpoints", "probed"]);
        e["subsets"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|s| s["addresses"].as_array().cloned().unwrap_or_default())
            .filter_map(|a| a["ip"].as_str().map(str::to_string))
            .collect()
    };
    wait_for("the pod in the Endpoints", 30, || {
        endpoint_ips() == vec![ip.clone()]
    });
    // Readiness toggles Ready and the Endpoints, without restarts.
    exec_ok(&c, "default", "probed", &["rm", "/tmp/ready"]);
    wait_for("not Ready", 30, || {
        !node::is_ready(&pod(&c, "default", "probed"))
    });
    wait_for("the pod out of the Endpoints", 30, || {
        endpoint_ips().is_empty()
    });
    exec_ok(&c, "default", "probed", &["touch", "/tmp/ready"]);
    wait_for("Ready again", 30, || {
        node::is_ready(&pod(&c, "default", "probed"))
    });
    wait_for("the pod back in the Endpoints", 30, || {
        endpoint_ips() == vec![ip.clone()]
    });
    assert_eq!(
        container_status(&pod(&c, "default", "probed"), "main")["restartCount"],
        0
    );
    // A failing liveness probe restarts the container.
    exec_ok(&c, "default", "probed", &["rm", "/tmp/live"]);
    wait_for("a liveness restart", 60, || {
        container_status(&pod(&c, "default", "probed"), "main")["restartCount"].as_u64() >= Some(1)
    });
    let events = items(
        &c,
        &["events", "--field-selector", "involvedObject.name=probed"],
    );
    assert!(
        events.iter().any(|e| e["reason"] == "Unhealthy"),
        "{events:?}"
    );
    assert!(
        events.iter().any(|e| e["reason"] == "Killing"),
        "{events:?}"
    );

    // The startup probe holds liveness off for the 6 s the container needs: a liveness probe
    // with failureThreshold 1 would otherwise have killed it within 2 s.
    let p = wait_running(&c, "default", "slowstart", 60);
    let st = container_status(&p, "main");
    assert_eq!(st["started"], true);
    assert_eq!(
        st["restartCount"], 0,
        "liveness ran before startup succeeded: {st}"
    );
}

#[test]
fn deletion_is_graceful_and_leaves_nothing_behind() {
    require_cluster!();
    let c = agent_cluster(&[]);
    let marks = c.path("marks");
    std::fs::create_dir_all(&marks).unwrap();
    c.apply(&format!(
        r#"apiVersion: v1
kind: Pod
metadata:
  name: graceful
spec:
  terminationGracePeriodSeconds: 5
  containers:
  - name: main
    image: {IMAGE}
    command: ["sh", "-c", "trap 'echo term >> /marks/log; sleep 1; exit 0' TERM; while true; do sleep 0.1; done"]
    lifecycle:
      preStop:
        exec: {{command: ["sh", "-c", "echo prestop >> /marks/log"]}}
    volumeMounts:
    - {{name: marks, mountPath: /marks}}
  volumes:
  - name: marks
    hostPath: {{path: {marks}, type: Directory}}
"#,
        marks = marks.display()
    ));
    wait_running(&c, "default", "graceful", 60);
    let t0 = Instant::now();
    c.ok(&["delete", "pod", "graceful", "--wait=true"]);
    let took = t0.elapsed();
    let log = std::fs::read_to_string(marks.join("log")).unwrap_or_default();
    assert_eq!(log, "prestop\nterm\n", "preStop runs before SIGTERM");
    assert!(
        took.as_secs_f64() >= 1.0,
        "the trap's second was waited for ({took:?})"
    );
    assert!(
        took.as_secs() < 5 + 5,
        "no need to wait out more than the grace period ({took:?})"
    );

    // 100 create/delete cycles, 10 at a time; afterwards nothing of those pods remains.
    for round in 0..10 {
        let mut yaml = String::new();
        for i in 0..10 {
            yaml.push_str(&format!(
                "apiVersion: v1\nkind: Pod\nmetadata:\n  name: cyc-{round}-{i}\n  labels: {{cycle: \"y\"}}\nspec:\n  terminationGracePeriodSeconds: 1\n  containers:\n  - name: main\n    image: {IMAGE}\n    command: [sleep, \"3600\"]\n    volumeMounts:\n    - {{name: scratch, mountPath: /scratch}}\n  volumes:\n  - name: scratch\n    emptyDir: {{medium: Memory}}\n---\n"
            ));
        }
        c.apply(&yaml);
        wait_for("10 pods Running", 120, || {
            let pods = items(&c, &["pods", "-l", "cycle=y"]);
            pods.len() == 10 && pods.iter().all(|p| p["status"]["phase"] == "Running")
        });
        c.ok(&["delete", "pods", "-l", "cycle=y", "--wait=true"]);
    }
    assert!(items(&c, &["pods"]).is_empty());
    let run = c.path("run");
    let data = c.data_dir.join("agent");
    wait_for("no leftovers", 30, || {
        node::pod_cgroups(&c).is_empty()
            && common::cleanup::cgroup_pids(&c.cgroup_parent).is_empty()
            && node::node_mounts(&c, &run.display().to_string()).is_empty()
            && node::node_mounts(&c, &data.display().to_string()).is_empty()
            && !node::node_links(&c).iter().any(|l| is_pod_veth(l))
    });
    let leftovers = |dir: std::path::PathBuf| -> Vec<String> {
        std::fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default()
    };
    assert_eq!(
        leftovers(run.join("pods")),
        Vec::<String>::new(),
        "sandbox dirs"
    );
    assert_eq!(
        leftovers(run.join("containers")),
        Vec::<String>::new(),
        "bundles"
    );
    assert_eq!(
        leftovers(data.join("pods")),
        Vec::<String>::new(),
        "pod dirs"
    );
    let ips: Vec<String> = leftovers(data.join("ipam"))
        .into_iter()
        .filter(|f| f.parse::<std::net::IpAddr>().is_ok())
        .collect();
    assert!(ips.is_empty(), "IP allocations left: {ips:?}");
}

/// Host ends of pod veths are `kedge` + 8 hex digits (`kedge_netplugins::bridge::host_veth_name`).
fn is_pod_veth(name: &str) -> bool {
    name.len() == 13
        && name.starts_with("kedge")
        && name[5..].bytes().all(|b| b.is_ascii_hexdigit())
}
