//! `kedge agent --server URL --token TOKEN` joins a server (issue 4, "joins another node"):
//! the agent verifies the CA it downloads against the token's hash, gets a serving
//! certificate, registers its node, runs pods, and serves their logs through the API server.
//! A token whose CA hash does not match is refused with a clear error.

mod common;
#[path = "common/node.rs"]
mod node;

use std::process::Stdio;

use common::{wait_for, Cluster};
use node::{busybox_pod, wait_running};

fn agent_args(c: &Cluster, token: &str) -> Vec<String> {
    let d = c.dir.path();
    vec![
        "agent".into(),
        "--server".into(),
        format!("https://{}:6443", common::NODE_IP),
        "--token".into(),
        token.into(),
        "--data-dir".into(),
        d.join("agent-data").display().to_string(),
        "--node-name".into(),
        "joined".into(),
        "--node-ip".into(),
        common::NODE_IP.into(),
        "--run-dir".into(),
        d.join("run").display().to_string(),
        "--pod-logs-dir".into(),
        d.join("pods-logs").display().to_string(),
        "--cgroup-parent".into(),
        c.cgroup_parent.clone(),
    ]
}

#[test]
fn an_agent_joins_with_the_token_and_runs_pods() {
    require_cluster!();
    let c = Cluster::start();
    let token = std::fs::read_to_string(c.data_dir.join("server/token")).unwrap();
    let token = token.trim();
    assert!(
        token.starts_with("K10") && token.contains("::server:"),
        "{token}"
    );

    // A token for another CA: refused before anything is trusted.
    let forged = format!("K10{}::server:x", "0".repeat(64));
    let out = c
        .node_command(env!("CARGO_BIN_EXE_kedge"))
        .args(agent_args(&c, &forged))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("does not match the token"), "{err}");

    node::stage_image(&c.dir.path().join("agent-data"));
    let log = std::fs::File::create(c.path("agent.log")).unwrap();
    let mut agent = c
        .node_command(env!("CARGO_BIN_EXE_kedge"))
        .args(agent_args(&c, token))
        .stdout(Stdio::from(log.try_clone().unwrap()))
        .stderr(Stdio::from(log))
        .spawn()
        .unwrap();
    let agent_log = || std::fs::read_to_string(c.path("agent.log")).unwrap_or_default();
    wait_for("the joined node to be Ready", 60, || {
        let n = c.kubectl(&["get", "node", "joined", "-o", "json"]);
        let v: serde_json::Value = serde_json::from_slice(&n.stdout).unwrap_or_default();
        v["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|x| x["type"] == "Ready" && x["status"] == "True")
    });
    let n = c.json(&["node", "joined"]);
    assert_eq!(
        n["status"]["nodeInfo"]["containerRuntimeVersion"]
            .as_str()
            .map(|s| s.starts_with("kedge://")),
        Some(true)
    );
    assert!(n["metadata"]["labels"]
        .get("node-role.kubernetes.io/control-plane")
        .is_none());
    c.apply(&busybox_pod(
        "hello",
        "echo hello from the joined node; exec sleep 3600",
    ));
    let p = wait_running(&c, "default", "hello", 60);
    assert_eq!(p["spec"]["nodeName"], "joined", "{}", agent_log());
    wait_for("the pod's log through the API server", 30, || {
        c.kubectl(&["logs", "hello"]).stdout == b"hello from the joined node\n"
    });
    let _ = agent.kill();
    let _ = agent.wait();
}

#[test]
fn a_server_whose_agent_cannot_start_stops_with_the_reason() {
    require_cluster!();
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new("/usr/bin/unshare")
        .args(["--net", "--mount", "--propagation", "private", "--"])
        .arg(env!("CARGO_BIN_EXE_kedge"))
        .args(["server", "--config", "/dev/null", "--data-dir"])
        .arg(dir.path().join("data"))
        .arg("--write-kubeconfig")
        .arg(dir.path().join("kc.yaml"))
        .args(["--node-taint", "no-effect-given", "--run-dir"])
        .arg(dir.path().join("run"))
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "the server must not keep running without its node"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("node agent failed") && err.contains("no-effect-given"),
        "{err}"
    );
}
