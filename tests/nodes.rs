//! Acceptance of the node controllers with simulated nodes and the real kubectl: node
//! lifecycle (heartbeats, conditions, taints), taint eviction with default tolerations, cordon,
//! drain and PodDisruptionBudgets through the eviction subresource, node IPAM and pod GC.
//!
//! Pods are placed by hand through the `binding` subresource wherever a test needs them on a
//! given node ([`bind_pending`]), so these tests do not depend on the scheduler; with a
//! scheduler running the same steps hold (a bind that loses the race is ignored).

mod common;
#[path = "common/simnode.rs"]
mod simnode;

use std::time::{Duration, Instant};

use common::Cluster;
use kedge::clock::parse_rfc3339;
use serde_json::{json, Value};
use simnode::{NodeSpec, SimNodes};

const FAST: [&str; 4] = [
    "--node-monitor-grace-period",
    "4s",
    "--default-not-ready-toleration-seconds",
    "5",
];
const NOT_READY: &str = "node.kubernetes.io/not-ready";
const UNREACHABLE: &str = "node.kubernetes.io/unreachable";

/// Simulated nodes for `c`. Their HTTP connections are driven by kedge's shared executor,
/// which only runs inside `kedge::rt::block_on`, so one thread of this test process keeps it
/// running.
fn sim_nodes(c: &Cluster, names: &[&str]) -> SimNodes {
    static RUNTIME: std::sync::Once = std::sync::Once::new();
    RUNTIME.call_once(|| {
        std::thread::spawn(|| kedge::rt::block_on(std::future::pending::<()>()));
    });
    SimNodes::start(
        c.pid(),
        &c.kubeconfig,
        names.iter().map(|n| NodeSpec::new(n)).collect(),
    )
}

/// Poll `f` every 200 ms until it returns something.
fn wait_for<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {secs} s waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn items(v: Value) -> Vec<Value> {
    v["items"].as_array().cloned().unwrap_or_default()
}

fn pods(c: &Cluster, selector: &str) -> Vec<Value> {
    items(c.json(&["pods", "-l", selector]))
}

fn name(o: &Value) -> &str {
    o["metadata"]["name"].as_str().unwrap_or("")
}

fn terminating(p: &Value) -> bool {
    p["metadata"].get("deletionTimestamp").is_some()
}

fn condition<'a>(o: &'a Value, ty: &str) -> Option<&'a Value> {
    o["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == ty)
}

fn ready(o: &Value) -> bool {
    condition(o, "Ready").is_some_and(|c| c["status"] == "True")
}

fn taint<'a>(node: &'a Value, key: &str, effect: &str) -> Option<&'a Value> {
    node["spec"]["taints"]
        .as_array()?
        .iter()
        .find(|t| t["key"] == key && t["effect"] == effect)
}

/// Running, Ready, not terminating pods of `selector` on `node`.
fn running_on(c: &Cluster, selector: &str, node: &str) -> Vec<Value> {
    pods(c, selector)
        .into_iter()
        .filter(|p| {
            p["spec"]["nodeName"] == node
                && !terminating(p)
                && p["status"]["phase"] == "Running"
                && ready(p)
        })
        .collect()
}

/// Bind every unscheduled, live pod of `selector` to `node` (errors, e.g. a lost race with a
/// scheduler, are ignored: the caller waits for the outcome).
fn bind_pending(c: &Cluster, selector: &str, node: &str) {
    for p in pods(c, selector) {
        if terminating(&p)
            || p["spec"]["nodeName"]
                .as_str()
                .is_some_and(|n| !n.is_empty())
        {
            continue;
        }
        let ns = p["metadata"]["namespace"].as_str().unwrap_or("default");
        let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name(&p), "namespace": ns},
                             "target": {"apiVersion": "v1", "kind": "Node", "name": node}});
        let path = format!("/api/v1/namespaces/{ns}/pods/{}/binding", name(&p));
        let _ = c.kubectl_stdin(&["create", "--raw", &path, "-f", "-"], &binding.to_string());
    }
}

/// Bind pods of `selector` to `node` until `n` of them run there.
fn place(c: &Cluster, selector: &str, node: &str, n: usize) -> Vec<Value> {
    wait_for(
        &format!("{n} pods of {selector} running on {node}"),
        60,
        || {
            bind_pending(c, selector, node);
            let on = running_on(c, selector, node);
            (on.len() == n).then_some(on)
        },
    )
}

fn wait_nodes_ready(c: &Cluster, names: &[&str]) {
    for n in names {
        wait_for(&format!("node {n} Ready"), 30, || {
            let out = c.kubectl(&["get", "node", n, "-o", "json"]);
            let node: Value = serde_json::from_slice(&out.stdout).ok()?;
            ready(&node).then_some(())
        });
    }
}

fn deployment(name: &str, replicas: u32) -> String {
    format!(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: app
        image: busybox:1.36
"#
    )
}

#[test]
fn a_silent_node_is_tainted_and_its_pods_move_after_the_default_toleration() {
    require_cluster!();
    let c = Cluster::start_with(&FAST);
    let sims = sim_nodes(&c, &["n1"]);
    wait_nodes_ready(&c, &["n1"]);
    c.apply(&deployment("web", 2));
    let first = place(&c, "app=web", "n1", 2);

    // DefaultTolerationSeconds admission: both tolerations, with the server's seconds.
    let tolerations = first[0]["spec"]["tolerations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for key in [NOT_READY, UNREACHABLE] {
        assert!(
            tolerations.contains(&json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5})),
            "missing default toleration for {key}: {tolerations:?}"
        );
    }

    sims.add(NodeSpec::new("n2"));
    wait_nodes_ready(&c, &["n2"]);
    sims.stop_heartbeat("n1");

    // Unknown conditions and the unreachable taints within the grace period (4 s) plus a sync.
    let n1 = wait_for("n1 Unknown and tainted", 30, || {
        let n = c.json(&["node", "n1"]);
        let unknown = condition(&n, "Ready").is_some_and(|r| r["status"] == "Unknown");
        (unknown
            && taint(&n, UNREACHABLE, "NoExecute").is_some()
            && taint(&n, UNREACHABLE, "NoSchedule").is_some())
        .then_some(n)
    });
    let r = condition(&n1, "Ready").unwrap();
    assert_eq!(r["reason"], "NodeStatusUnknown");
    assert_eq!(r["message"], "Kubelet stopped posting node status.");
    for ty in ["MemoryPressure", "DiskPressure", "PIDPressure"] {
        assert_eq!(condition(&n1, ty).unwrap()["status"], "Unknown", "{ty}");
    }
    assert!(c.ok(&["get", "node", "n1"]).contains("NotReady"));
    assert!(taint(&n1, NOT_READY, "NoExecute").is_none());
    assert!(
        taint(&c.json(&["node", "n2"]), UNREACHABLE, "NoExecute").is_none(),
        "n2 keeps beating"
    );
    let tainted_at = parse_rfc3339(
        taint(&n1, UNREACHABLE, "NoExecute").unwrap()["timeAdded"]
            .as_str()
            .unwrap(),
    )
    .unwrap();

    // The old pods are evicted 5 s (the default toleration) after the taint, not before.
    let old: Vec<String> = first.iter().map(|p| name(p).to_string()).collect();
    let evicted = wait_for("the pods of n1 evicted", 40, || {
        let all = pods(&c, "app=web");
        let gone: Vec<Value> = all
            .into_iter()
            .filter(|p| old.contains(&name(p).to_string()) && terminating(p))
            .collect();
        (gone.len() == 2).then_some(gone)
    });
    for p in &evicted {
        let dt = condition(p, "DisruptionTarget").expect("DisruptionTarget condition");
        assert_eq!(dt["reason"], "DeletionByTaintManager");
        let at = parse_rfc3339(dt["lastTransitionTime"].as_str().unwrap()).unwrap();
        assert!(
            at >= tainted_at + 5,
            "evicted at {at}, tainted at {tainted_at}: before the toleration ran out"
        );
        assert!(
            !ready(p),
            "pods of an unreachable node are marked not Ready"
        );
    }
    let events = items(c.json(&["events"]));
    assert!(
        events.iter().any(|e| e["reason"] == "TaintManagerEviction"
            && e["involvedObject"]["name"] == old[0].as_str()),
        "no TaintManagerEviction event"
    );
    assert!(events
        .iter()
        .any(|e| e["reason"] == "NodeNotReady" && e["involvedObject"]["name"] == "n1"));

    // The Deployment replaces them; they land on n2.
    place(&c, "app=web", "n2", 2);
    wait_for("the Deployment available again", 30, || {
        (c.json(&["deployment", "web"])["status"]["availableReplicas"] == 2).then_some(())
    });
}

const PDB: &str = r#"
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: web
spec:
  minAvailable: 2
  selector:
    matchLabels: {app: web}
"#;

#[test]
fn cordon_drain_and_disruption_budgets() {
    require_cluster!();
    let c = Cluster::start_with(&FAST);
    let _sims = sim_nodes(&c, &["n1", "n2"]);
    wait_nodes_ready(&c, &["n1", "n2"]);

    // cordon / uncordon: spec.unschedulable and its NoSchedule taint.
    c.ok(&["cordon", "n1"]);
    wait_for("the unschedulable taint", 20, || {
        let n = c.json(&["node", "n1"]);
        (n["spec"]["unschedulable"] == true
            && taint(&n, "node.kubernetes.io/unschedulable", "NoSchedule").is_some())
        .then_some(())
    });
    assert!(c.ok(&["get", "node", "n1"]).contains("SchedulingDisabled"));
    c.ok(&["uncordon", "n1"]);
    wait_for("the unschedulable taint removed", 20, || {
        let n = c.json(&["node", "n1"]);
        (n["spec"].get("unschedulable").is_none_or(|u| u != true)
            && taint(&n, "node.kubernetes.io/unschedulable", "NoSchedule").is_none())
        .then_some(())
    });

    // Both pods on n1: n2 is cordoned meanwhile so a scheduler, if one runs, agrees.
    c.ok(&["cordon", "n2"]);
    c.apply(&deployment("web", 2));
    let on_n1 = place(&c, "app=web", "n1", 2);
    c.ok(&["uncordon", "n2"]);
    c.apply(PDB);
    let pdb = wait_for("the budget's status", 30, || {
        let p = c.json(&["pdb", "web"]);
        (p["status"]["currentHealthy"] == 2).then_some(p)
    });
    let s = &pdb["status"];
    assert_eq!(
        (
            s["desiredHealthy"].as_i64(),
            s["expectedPods"].as_i64(),
            s["disruptionsAllowed"].as_i64()
        ),
        (Some(2), Some(2), Some(0))
    );
    assert_eq!(s["observedGeneration"], 1);
    let cond = condition(&pdb, "DisruptionAllowed").expect("DisruptionAllowed condition");
    assert_eq!(
        (cond["status"].as_str(), cond["reason"].as_str()),
        (Some("False"), Some("InsufficientPods"))
    );

    // An exhausted budget blocks the eviction subresource and so the drain.
    let eviction = |pod: &str| {
        json!({"apiVersion": "policy/v1", "kind": "Eviction", "metadata": {"name": pod, "namespace": "default"}}).to_string()
    };
    let path = format!(
        "/api/v1/namespaces/default/pods/{}/eviction",
        name(&on_n1[0])
    );
    let out = c.kubectl_stdin(
        &["create", "--raw", &path, "-f", "-"],
        &eviction(name(&on_n1[0])),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("Cannot evict pod as it would violate the pod's disruption budget."),
        "{err}"
    );
    let err = c.fails(&[
        "drain",
        "n1",
        "--ignore-daemonsets",
        "--delete-emptydir-data",
        "--timeout=10s",
    ]);
    assert!(
        err.contains("Cannot evict pod as it would violate the pod's disruption budget"),
        "{err}"
    );
    assert_eq!(
        c.json(&["node", "n1"])["spec"]["unschedulable"],
        true,
        "drain cordons first"
    );
    assert_eq!(
        running_on(&c, "app=web", "n1").len(),
        2,
        "the budget kept both pods"
    );

    // With room for one disruption the drain goes through, one pod at a time, as the
    // replacements become Ready on n2.
    c.ok(&[
        "patch",
        "pdb",
        "web",
        "--type=merge",
        "-p",
        r#"{"spec":{"minAvailable":1}}"#,
    ]);
    wait_for("one disruption allowed", 30, || {
        let p = c.json(&["pdb", "web"]);
        (p["status"]["disruptionsAllowed"] == 1 && p["status"]["observedGeneration"] == 2)
            .then_some(())
    });
    std::thread::scope(|s| {
        let drain = s.spawn(|| {
            c.kubectl(&[
                "drain",
                "n1",
                "--ignore-daemonsets",
                "--delete-emptydir-data",
                "--timeout=90s",
            ])
        });
        while !drain.is_finished() {
            bind_pending(&c, "app=web", "n2");
            std::thread::sleep(Duration::from_millis(300));
        }
        let out = drain.join().unwrap();
        assert!(
            out.status.success(),
            "drain failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("drained"));
    });
    place(&c, "app=web", "n2", 2);
    assert!(pods(&c, "app=web")
        .iter()
        .all(|p| p["spec"]["nodeName"] != "n1"));
    wait_for("the budget healthy again", 30, || {
        let p = c.json(&["pdb", "web"]);
        (p["status"]["currentHealthy"] == 2 && p["status"]["disruptionsAllowed"] == 1).then_some(())
    });
    c.ok(&["uncordon", "n1"]);
}

fn pod_cidr(c: &Cluster, node: &str) -> String {
    wait_for(&format!("a podCIDR for {node}"), 30, || {
        let n = c.json(&["node", node]);
        let cidr = n["spec"]["podCIDR"].as_str()?.to_string();
        assert_eq!(n["spec"]["podCIDRs"], json!([cidr]));
        Some(cidr)
    })
}

fn plain_node(name: &str) -> String {
    format!("apiVersion: v1\nkind: Node\nmetadata:\n  name: {name}\n")
}

#[test]
fn every_node_gets_its_own_pod_cidr_across_restarts() {
    require_cluster!();
    let mut c = Cluster::start();
    let sims = sim_nodes(&c, &["n1", "n2", "n3"]);
    let mut cidrs: Vec<String> = ["n1", "n2", "n3"].iter().map(|n| pod_cidr(&c, n)).collect();
    for cidr in &cidrs {
        assert!(
            cidr.starts_with("10.42.") && cidr.ends_with(".0/24"),
            "{cidr}"
        );
    }
    drop(sims);
    // After a restart the allocator is rebuilt from the stored nodes before it hands out more.
    c.restart();
    c.apply(&plain_node("n4"));
    cidrs.push(pod_cidr(&c, "n4"));
    let mut unique = cidrs.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 4, "ranges overlap: {cidrs:?}");
}

#[test]
fn an_exhausted_cluster_cidr_reports_and_reuses_released_ranges() {
    require_cluster!();
    let c = Cluster::start_with(&["--cluster-cidr", "10.42.0.0/23"]);
    c.apply(&plain_node("a"));
    c.apply(&plain_node("b"));
    let (a, b) = (pod_cidr(&c, "a"), pod_cidr(&c, "b"));
    assert_ne!(a, b);
    c.apply(&plain_node("late"));
    wait_for("a CIDRNotAvailable event", 30, || {
        items(c.json(&["events"]))
            .iter()
            .any(|e| e["reason"] == "CIDRNotAvailable" && e["involvedObject"]["name"] == "late")
            .then_some(())
    });
    assert!(c.json(&["node", "late"])["spec"].get("podCIDR").is_none());
    c.ok(&["delete", "node", "a"]);
    assert_eq!(
        pod_cidr(&c, "late"),
        a,
        "the released range is handed out again"
    );
}

#[test]
fn pod_gc_removes_old_terminated_pods_and_orphans() {
    require_cluster!();
    let c = Cluster::start_with(&[
        "--terminated-pod-gc-threshold",
        "2",
        "--node-monitor-grace-period",
        "4s",
    ]);
    let _sims = sim_nodes(&c, &["n1"]);
    wait_nodes_ready(&c, &["n1"]);
    let job_pod = |name: &str, node: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  labels: {{gc: t}}\n  annotations:\n    sim.kedge.io/exit-code: \"0\"\n    sim.kedge.io/run-seconds: \"1\"\nspec:\n  nodeName: {node}\n  containers:\n  - name: c\n    image: busybox:1.36\n"
        )
    };
    for i in 1..=4 {
        c.apply(&job_pod(&format!("done-{i}"), "n1"));
        // Creation times are whole seconds: keep them apart so "oldest" is well defined.
        std::thread::sleep(Duration::from_millis(1100));
    }
    let left = wait_for("the two newest terminated pods kept", 40, || {
        let mut names: Vec<String> = pods(&c, "gc=t")
            .iter()
            .map(|p| name(p).to_string())
            .collect();
        names.sort();
        (names.len() == 2).then_some(names)
    });
    assert_eq!(left, ["done-3", "done-4"]);

    // A pod bound to a node that does not exist goes after the quarantine (the grace period).
    c.apply(&job_pod("orphan", "ghost"));
    let created = Instant::now();
    wait_for("the orphan collected", 40, || {
        let out = c.kubectl(&["get", "pod", "orphan", "-o", "name"]);
        (!out.status.success()).then_some(())
    });
    assert!(
        created.elapsed() >= Duration::from_secs(3),
        "collected before the quarantine"
    );
}
