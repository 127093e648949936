//! Acceptance of the scheduler with simulated nodes and the real kubectl: placement by
//! resources and selectors, the unschedulable reason as `kubectl describe pod` shows it,
//! cordon/uncordon, anti-affinity spreading and preemption.

mod common;
#[path = "common/simnode.rs"]
mod simnode;
#[path = "common/support.rs"]
mod support;

use common::Cluster;
use serde_json::Value;
use simnode::NodeSpec;
use support::{cluster_with_nodes, items, wait_for};

fn node_of(c: &Cluster, pod: &str) -> String {
    c.json(&["pod", pod])["spec"]["nodeName"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

fn wait_running(c: &Cluster, pod: &str) -> String {
    wait_for(&format!("{pod} running"), 30, || {
        c.json(&["pod", pod])["status"]["phase"] == "Running"
    });
    node_of(c, pod)
}

fn scheduled_condition(c: &Cluster, pod: &str) -> Option<Value> {
    let p = c.json(&["pod", pod]);
    p["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|x| x["type"] == "PodScheduled")
        .cloned()
}

fn wait_unschedulable(c: &Cluster, pod: &str, message: &str) {
    wait_for(&format!("{pod} unschedulable with {message:?}"), 30, || {
        scheduled_condition(c, pod)
            .is_some_and(|x| x["status"] == "False" && x["message"] == message)
    });
}

fn pod_yaml(name: &str, cpu: &str, extra_spec: &str) -> String {
    format!(
        r#"
apiVersion: v1
kind: Pod
metadata:
  name: {name}
  labels: {{app: {name}}}
spec:
{extra_spec}
  containers:
  - name: c
    image: busybox:1.36
    resources:
      requests: {{cpu: "{cpu}"}}
"#
    )
}

#[test]
fn pods_land_on_nodes_that_fit() {
    require_cluster!();
    let (c, _sims) = cluster_with_nodes(vec![
        NodeSpec::new("small").capacity("1", "8Gi", 110),
        NodeSpec::new("big").capacity("8", "8Gi", 110),
        NodeSpec::new("fast").label("disk", "ssd"),
    ]);
    c.apply(&pod_yaml("wide", "6", ""));
    c.apply(&pod_yaml("pinned", "100m", "  nodeSelector: {disk: ssd}"));
    c.apply(&pod_yaml(
        "by-name",
        "100m",
        "  affinity:\n    nodeAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n        nodeSelectorTerms:\n        - matchFields:\n          - {key: metadata.name, operator: In, values: [small]}",
    ));
    assert_eq!(wait_running(&c, "wide"), "big");
    assert_eq!(wait_running(&c, "pinned"), "fast");
    assert_eq!(wait_running(&c, "by-name"), "small");
    let describe = c.ok(&["describe", "pod", "pinned"]);
    assert!(
        describe.contains("Successfully assigned default/pinned to fast"),
        "{describe}"
    );
    assert!(describe.contains("default-scheduler"), "{describe}");
    // Requests add up: big has 2 cpu left and fast 3.9, so a 4-cpu pod fits nowhere; only on
    // small (1 cpu) could no eviction ever help.
    c.apply(&pod_yaml("third", "4", ""));
    wait_unschedulable(
        &c,
        "third",
        "0/3 nodes are available: 3 Insufficient cpu. preemption: 0/3 nodes are available: 1 Preemption is not \
         helpful for scheduling, 2 No preemption victims found for incoming pod.",
    );
    // Freeing the room lets it in, without waiting for the periodic retry.
    c.ok(&["delete", "pod", "wide", "--wait=false"]);
    assert_eq!(wait_running(&c, "third"), "big");
}

#[test]
fn a_pod_bigger_than_any_node_shows_why_in_describe() {
    require_cluster!();
    let (c, _sims) = cluster_with_nodes(vec![
        NodeSpec::new("cp").taint("node-role.kubernetes.io/control-plane", "", "NoSchedule"),
        NodeSpec::new("w1"),
        NodeSpec::new("w2"),
    ]);
    c.apply(&pod_yaml("huge", "64", ""));
    let msg = "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, \
               2 Insufficient cpu. preemption: 0/3 nodes are available: 3 Preemption is not helpful for scheduling.";
    wait_unschedulable(&c, "huge", msg);
    let cond = scheduled_condition(&c, "huge").unwrap();
    assert_eq!(cond["reason"], "Unschedulable");
    let describe = c.ok(&["describe", "pod", "huge"]);
    let conditions = describe.split("Conditions:").nth(1).unwrap_or("");
    assert!(
        conditions
            .lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["PodScheduled", "False"]),
        "{describe}"
    );
    let events = describe.split("Events:").nth(1).unwrap_or("");
    assert!(events.contains("FailedScheduling"), "{describe}");
    assert!(events.contains("default-scheduler"), "{describe}");
    // describe wraps nothing; the whole message is on the event line.
    assert!(events.contains(msg), "{describe}");
    assert_eq!(node_of(&c, "huge"), "");
}

#[test]
fn cordon_stops_new_pods_and_uncordon_lets_them_in() {
    require_cluster!();
    let (c, _sims) = cluster_with_nodes(vec![NodeSpec::new("n1"), NodeSpec::new("n2")]);
    c.ok(&["cordon", "n1"]);
    for i in 0..4 {
        c.apply(&pod_yaml(&format!("p{i}"), "100m", ""));
    }
    for i in 0..4 {
        assert_eq!(
            wait_running(&c, &format!("p{i}")),
            "n2",
            "a cordoned node takes no new pods"
        );
    }
    c.ok(&["cordon", "n2"]);
    c.apply(&pod_yaml("late", "100m", ""));
    wait_unschedulable(
        &c,
        "late",
        "0/2 nodes are available: 2 node(s) were unschedulable. preemption: 0/2 nodes are available: 2 Preemption \
         is not helpful for scheduling.",
    );
    c.ok(&["uncordon", "n1"]);
    assert_eq!(wait_running(&c, "late"), "n1");
}

const SPREAD: &str = r#"
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: db
spec:
  replicas: 3
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - labelSelector:
              matchLabels: {app: db}
            topologyKey: kubernetes.io/hostname
      containers:
      - name: db
        image: busybox:1.36
"#;

#[test]
fn anti_affinity_spreads_three_replicas_over_three_nodes() {
    require_cluster!();
    let (c, _sims) = cluster_with_nodes(vec![
        NodeSpec::new("n1"),
        NodeSpec::new("n2"),
        NodeSpec::new("n3"),
    ]);
    c.apply(SPREAD);
    let running = |c: &Cluster| -> Vec<String> {
        items(c, &["pods", "-l", "app=db"])
            .iter()
            .filter(|p| p["status"]["phase"] == "Running")
            .map(|p| p["spec"]["nodeName"].as_str().unwrap_or("").to_string())
            .collect()
    };
    wait_for("3 replicas running", 60, || running(&c).len() == 3);
    let mut nodes = running(&c);
    nodes.sort();
    assert_eq!(nodes, ["n1", "n2", "n3"]);
    // A fourth replica has nowhere to go.
    c.ok(&["scale", "replicaset", "db", "--replicas=4"]);
    let msg = "0/3 nodes are available: 3 node(s) didn't match pod anti-affinity rules. preemption: 0/3 nodes are \
               available: 3 No preemption victims found for incoming pod.";
    wait_for("a pending fourth replica", 30, || {
        items(&c, &["pods", "-l", "app=db"]).iter().any(|p| {
            p["status"]["conditions"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|x| x["type"] == "PodScheduled" && x["message"] == msg)
            })
        })
    });
}

#[test]
fn a_higher_priority_pod_preempts_a_lower_one() {
    require_cluster!();
    let (c, _sims) = cluster_with_nodes(vec![NodeSpec::new("only").capacity("1", "8Gi", 110)]);
    c.apply(
        "apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: high}\nvalue: 1000\n---\n\
         apiVersion: scheduling.k8s.io/v1\nkind: PriorityClass\nmetadata: {name: low}\nvalue: 10\n",
    );
    c.apply(&pod_yaml("victim", "800m", "  priorityClassName: low"));
    assert_eq!(wait_running(&c, "victim"), "only");
    c.apply(&pod_yaml("vip", "800m", "  priorityClassName: high"));
    assert_eq!(wait_running(&c, "vip"), "only");
    let out = c.kubectl(&["get", "pod", "victim"]);
    assert!(!out.status.success(), "the victim was evicted");
    let events = c.ok(&["get", "events", "-o", "json"]);
    assert!(events.contains("Preempted by pod"), "{events}");
}
