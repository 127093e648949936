//! Acceptance of agent restarts (issue 4, criterion 5): `kill -9` of the server+agent while
//! pods run leaves the containers running with the same PIDs; the restarted agent re-adopts
//! them instead of starting new ones, and reports an exit that happened while it was down
//! with its exit code.

mod common;
#[path = "common/node.rs"]
mod node;

use common::wait_for;
use node::{agent_cluster, busybox_pod, container_status, pod, wait_running};

/// Host PIDs in a pod's cgroups (all containers).
fn pod_pids(c: &common::Cluster, uid: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for d in node::pod_cgroups(c) {
        if d.file_name().and_then(|n| n.to_str()) == Some(&format!("pod{uid}")) {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                if let Ok(t) = std::fs::read_to_string(e.path().join("cgroup.procs")) {
                    out.extend(t.lines().filter_map(|l| l.parse::<i32>().ok()));
                }
            }
        }
    }
    out.sort_unstable();
    out.dedup();
    out
}

#[test]
fn kill_9_of_the_agent_keeps_containers_and_reports_exits_that_happened_meanwhile() {
    require_cluster!();
    let mut c = agent_cluster(&[]);
    c.apply(&busybox_pod("steady", "echo started; exec sleep 3600"));
    c.apply(&format!(
        "{}  restartPolicy: Never\n",
        busybox_pod("brief", "sleep 8; exit 7")
    ));
    let steady = wait_running(&c, "default", "steady", 60);
    wait_running(&c, "default", "brief", 60);
    let uid = steady["metadata"]["uid"].as_str().unwrap().to_string();
    let before = pod_pids(&c, &uid);
    assert!(!before.is_empty(), "the container runs in the pod's cgroup");
    let id_before = container_status(&steady, "main")["containerID"].clone();

    c.kill9();
    // While the agent is down, `brief` exits with 7 and `steady` keeps running.
    std::thread::sleep(std::time::Duration::from_secs(9));
    assert_eq!(pod_pids(&c, &uid), before, "containers survive the agent");
    c.relaunch();
    node::wait_node_ready(&c);

    wait_for("brief reported as Failed with exit code 7", 60, || {
        let p = pod(&c, "default", "brief");
        let st = container_status(&p, "main");
        p["status"]["phase"] == "Failed" && st["state"]["terminated"]["exitCode"] == 7
    });
    // steady was re-adopted: same container, same processes, no restart, logs still there.
    let p = wait_running(&c, "default", "steady", 30);
    let st = container_status(&p, "main");
    assert_eq!(st["containerID"], id_before);
    assert_eq!(st["restartCount"], 0);
    assert_eq!(pod_pids(&c, &uid), before);
    assert_eq!(c.ok(&["logs", "steady"]), "started\n");
    // And it is still managed: deleting it stops exactly those processes.
    c.ok(&["delete", "pod", "steady", "--wait=true"]);
    for pid in before {
        assert!(
            !std::path::Path::new(&format!("/proc/{pid}")).exists(),
            "process {pid} outlived its pod"
        );
    }
}
