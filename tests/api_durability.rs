//! Durability acceptance: restarts keep everything, `kill -9` under load loses no acknowledged
//! create, watches resume from a recent resourceVersion.

mod common;

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::Duration;

use common::Cluster;

fn configmap_names(c: &Cluster, ns: &str) -> BTreeSet<String> {
    let out = c.ok(&[
        "get",
        "configmaps",
        "-n",
        ns,
        "-o",
        "name",
        "--chunk-size=0",
    ]);
    out.lines()
        .map(|l| l.trim_start_matches("configmap/").to_string())
        .collect()
}

#[test]
fn restart_keeps_objects_revisions_and_watch_resumes() {
    require_cluster!();
    let mut c = Cluster::start();
    c.ok(&["create", "namespace", "keep"]);
    for i in 0..5 {
        c.ok(&[
            "create",
            "configmap",
            &format!("cm{i}"),
            "-n",
            "keep",
            "--from-literal=i=x",
        ]);
    }
    let raw_list = || -> serde_json::Value {
        serde_json::from_str(&c.ok(&["get", "--raw", "/api/v1/namespaces/keep/configmaps"]))
            .unwrap()
    };
    let before = raw_list();
    let rv_before: u64 = before["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let svc_ip = c.json(&["svc", "kubernetes"])["spec"]["clusterIP"].clone();
    c.restart();
    let after: serde_json::Value =
        serde_json::from_str(&c.ok(&["get", "--raw", "/api/v1/namespaces/keep/configmaps"]))
            .unwrap();
    assert_eq!(
        after["items"], before["items"],
        "objects changed across restart"
    );
    assert_eq!(c.json(&["svc", "kubernetes"])["spec"]["clusterIP"], svc_ip);
    c.ok(&["create", "configmap", "later", "-n", "keep"]);
    let later = c.json(&["configmap", "later", "-n", "keep"]);
    let rv_later: u64 = later["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(rv_later > rv_before, "{rv_later} <= {rv_before}");
    // A watch from the pre-restart revision replays what happened since.
    let raw = format!(
        "/api/v1/namespaces/keep/configmaps?watch=true&resourceVersion={rv_before}&timeoutSeconds=2"
    );
    let out = c.ok(&["get", "--raw", &raw]);
    let events: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events.len(), 1, "{out}");
    assert_eq!(events[0]["type"], "ADDED");
    assert_eq!(events[0]["object"]["metadata"]["name"], "later");
    // A compacted revision answers 410 Expired inside the stream, as Kubernetes does.
    let out = c.ok(&[
        "get",
        "--raw",
        "/api/v1/namespaces/keep/configmaps?watch=true&resourceVersion=0&timeoutSeconds=1",
    ]);
    assert!(out.contains("\"ADDED\""), "{out}");
}

#[test]
fn kill_9_under_concurrent_creates_loses_no_acknowledged_write() {
    require_cluster!();
    let mut c = Cluster::start();
    let bin = env!("CARGO_BIN_EXE_kedge");
    let ack = c.path("acked.txt");
    let mut total_acked = 0usize;
    for round in 0..20 {
        let prefix = format!("r{round}");
        let mut load = c
            .ns_command(bin)
            .args([
                "bench",
                "creates",
                "--clients",
                "16",
                "--count",
                "0",
                "--prefix",
                &prefix,
            ])
            .arg("--kubeconfig")
            .arg(&c.kubeconfig)
            .arg("--ack-file")
            .arg(&ack)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        // Kill at a different point of the load each round.
        std::thread::sleep(Duration::from_millis(150 + 37 * round as u64));
        c.kill9();
        let status = load.wait().unwrap();
        assert!(status.success(), "load generator failed");
        c.relaunch();
        let acked: BTreeSet<String> = std::fs::read_to_string(&ack)
            .unwrap()
            .lines()
            .map(str::to_string)
            .collect();
        let present = configmap_names(&c, "default");
        let missing: Vec<&String> = acked.difference(&present).collect();
        assert!(
            missing.is_empty(),
            "round {round}: acknowledged but lost: {missing:?}"
        );
        total_acked = acked.len();
    }
    assert!(
        total_acked > 100,
        "the load generator created too little ({total_acked}) to mean anything"
    );
    // The store is still fully usable.
    c.ok(&["create", "configmap", "after-crashes"]);
    c.ok(&["delete", "configmap", "after-crashes"]);
}
