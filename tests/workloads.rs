//! Acceptance of the Deployment/ReplicaSet controllers, the garbage collector and the
//! namespace controller, with simulated nodes and the real kubectl.

mod common;
#[path = "common/podwatch.rs"]
mod podwatch;
#[path = "common/simnode.rs"]
mod simnode;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::Cluster;
use simnode::{NodeSpec, SimNodes};

fn wait_for(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < deadline {
        if f() {
            return;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("timed out waiting for {what}");
}

fn nodes(c: &Cluster, n: usize) -> SimNodes {
    let specs = (1..=n)
        .map(|i| NodeSpec::new(&format!("node{i}")))
        .collect();
    SimNodes::start(c.pid(), &c.kubeconfig, specs)
}

const WEB: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 6
  selector:
    matchLabels: {app: web}
  strategy:
    rollingUpdate: {maxSurge: 2, maxUnavailable: 1}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: busybox:1.36
"#;

#[test]
fn deployment_rollouts_behave_as_against_kubernetes() {
    require_cluster!();
    let c = Cluster::start();
    let _sims = nodes(&c, 3);
    c.apply(WEB);
    c.ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    let d = c.json(&["deployment", "web"]);
    assert_eq!(d["status"]["availableReplicas"], 6);
    assert_eq!(d["status"]["updatedReplicas"], 6);
    let pods = c.json(&["pods", "-l", "app=web"]);
    assert_eq!(pods["items"].as_array().unwrap().len(), 6);
    assert!(pods["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|p| p["status"]["phase"] == "Running"));

    // set image: a rolling update that never exceeds maxSurge or maxUnavailable.
    let watch = podwatch::PodWatch::start(c.pid(), &c.kubeconfig, "default", "app%3Dweb");
    std::thread::sleep(Duration::from_millis(500));
    watch.arm();
    c.ok(&["set", "image", "deployment/web", "web=busybox:1.37"]);
    c.ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    std::thread::sleep(Duration::from_millis(500));
    let max = watch.max_pods.load(Ordering::SeqCst);
    let min = watch.min_ready.load(Ordering::SeqCst);
    assert!(
        max <= 8,
        "more than replicas + maxSurge pods existed: {max}"
    );
    assert!(
        min >= 5,
        "fewer than replicas - maxUnavailable pods were ready: {min}"
    );
    assert!(
        max > 6,
        "the watcher saw no surge at all ({max}); it is not measuring"
    );
    let rs = c.json(&["replicasets", "-l", "app=web"]);
    let sets = rs["items"].as_array().unwrap();
    assert_eq!(sets.len(), 2, "old and new ReplicaSet");
    assert!(sets.iter().any(|s| s["spec"]["replicas"] == 0));

    // scale
    c.ok(&["scale", "deployment/web", "--replicas=3"]);
    c.ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    wait_for("3 pods", 30, || {
        c.json(&["pods", "-l", "app=web"])["items"]
            .as_array()
            .unwrap()
            .len()
            == 3
    });

    // history, undo, restart
    let hist = c.ok(&["rollout", "history", "deployment/web"]);
    assert!(
        hist.contains("REVISION") && hist.contains('1') && hist.contains('2'),
        "{hist}"
    );
    c.ok(&["rollout", "undo", "deployment/web"]);
    c.ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    let d = c.json(&["deployment", "web"]);
    assert_eq!(
        d["spec"]["template"]["spec"]["containers"][0]["image"],
        "busybox:1.36"
    );
    assert_eq!(
        d["metadata"]["annotations"]["deployment.kubernetes.io/revision"],
        "3"
    );
    let rs = c.json(&["replicasets", "-l", "app=web"]);
    let revs: Vec<String> = rs["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            s["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert!(
        revs.contains(&"3".to_string()),
        "rollback makes the old template revision 3: {revs:?}"
    );
    c.ok(&["rollout", "restart", "deployment/web"]);
    c.ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    let rs = c.json(&["replicasets", "-l", "app=web"]);
    assert_eq!(
        rs["items"].as_array().unwrap().len(),
        3,
        "restart made a new ReplicaSet"
    );
    let desc = c.ok(&["describe", "deployment", "web"]);
    assert!(desc.contains("ScalingReplicaSet"), "{desc}");
}

#[test]
fn recreate_strategy_stops_old_pods_first() {
    require_cluster!();
    let c = Cluster::start();
    let _sims = nodes(&c, 2);
    c.apply(
        &WEB.replace(
            "  strategy:\n    rollingUpdate: {maxSurge: 2, maxUnavailable: 1}\n",
            "  strategy:\n    type: Recreate\n",
        )
        .replace("replicas: 6", "replicas: 2"),
    );
    c.ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    let watch = podwatch::PodWatch::start(c.pid(), &c.kubeconfig, "default", "app%3Dweb");
    std::thread::sleep(Duration::from_millis(500));
    watch.arm();
    c.ok(&["set", "image", "deployment/web", "web=busybox:1.37"]);
    c.ok(&["rollout", "status", "deployment/web", "--timeout=60s"]);
    assert!(
        watch.max_pods.load(Ordering::SeqCst) <= 2,
        "Recreate ran old and new pods together"
    );
}

#[test]
fn deletion_propagation_and_namespace_deletion() {
    require_cluster!();
    let c = Cluster::start();
    let _sims = nodes(&c, 2);
    for ns in ["fg", "bg", "orphan", "gone"] {
        c.ok(&["create", "namespace", ns]);
        c.ok(&[
            "create",
            "deployment",
            "app",
            "-n",
            ns,
            "--image=busybox:1.36",
            "--replicas=2",
        ]);
        c.ok(&[
            "rollout",
            "status",
            "deployment/app",
            "-n",
            ns,
            "--timeout=60s",
        ]);
    }
    let count = |what: &str, ns: &str| c.json(&[what, "-n", ns])["items"].as_array().unwrap().len();
    c.ok(&[
        "delete",
        "deployment",
        "app",
        "-n",
        "fg",
        "--cascade=foreground",
        "--timeout=60s",
    ]);
    assert_eq!(count("replicasets", "fg"), 0);
    wait_for("foreground pods gone", 30, || count("pods", "fg") == 0);
    c.ok(&[
        "delete",
        "deployment",
        "app",
        "-n",
        "bg",
        "--cascade=background",
    ]);
    wait_for("background dependents gone", 30, || {
        count("replicasets", "bg") == 0 && count("pods", "bg") == 0
    });
    c.ok(&[
        "delete",
        "deployment",
        "app",
        "-n",
        "orphan",
        "--cascade=orphan",
        "--timeout=60s",
    ]);
    std::thread::sleep(Duration::from_secs(2));
    let rs = c.json(&["replicasets", "-n", "orphan"]);
    let sets = rs["items"].as_array().unwrap();
    assert_eq!(sets.len(), 1, "orphaned ReplicaSet stays");
    assert!(
        sets[0]["metadata"].get("ownerReferences").is_none(),
        "{}",
        sets[0]["metadata"]
    );
    assert_eq!(count("pods", "orphan"), 2);
    c.ok(&["delete", "namespace", "gone", "--timeout=60s"]);
    assert!(c.fails(&["get", "namespace", "gone"]).contains("NotFound"));
    // A default ServiceAccount exists in every namespace.
    c.ok(&["get", "serviceaccount", "default", "-n", "fg"]);
}
