//! Acceptance of the StatefulSet controller with simulated nodes, the scheduler and the real
//! kubectl: ordered creation (each pod only after its predecessor is Ready, seen through a
//! watch), reverse-order scale-down, stable identities and claims, Parallel management,
//! partitioned rolling updates and `kubectl rollout status`.

mod common;
#[path = "common/simnode.rs"]
mod simnode;
#[path = "common/support.rs"]
mod support;

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Cluster;
use kedge::bench::Target;
use serde_json::Value;
use simnode::NodeSpec;
use support::{cluster_with_nodes, items, names, wait_for};

/// One pod event as a watcher saw it.
#[derive(Debug, Clone)]
struct Seen {
    at: Instant,
    kind: String,
    name: String,
    ready: bool,
    terminating: bool,
}

/// Every pod event of a namespace and label selector, in the order the API sent them (the
/// store's order), on a thread inside the server's network namespace.
struct PodLog {
    seen: Arc<Mutex<Vec<Seen>>>,
    stop: Arc<AtomicBool>,
}

impl PodLog {
    fn start(c: &Cluster, selector: &str) -> PodLog {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (log, quit) = (seen.clone(), stop.clone());
        let (pid, kubeconfig) = (c.pid(), c.kubeconfig.clone());
        let path = format!("/api/v1/namespaces/default/pods?watch=true&labelSelector={selector}");
        std::thread::spawn(move || {
            let f = std::fs::File::open(format!("/proc/{pid}/ns/net")).expect("netns");
            nix::sched::setns(f.as_fd(), nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
            let target = Target::from_kubeconfig(&kubeconfig).expect("kubeconfig");
            smol::block_on(async move {
                let Ok(conn) = target.connect().await else {
                    return;
                };
                let Ok(mut lines) = conn.stream(&path).await else {
                    return;
                };
                while !quit.load(Ordering::SeqCst) {
                    let Ok(Some(ev)) = lines.next().await else {
                        return;
                    };
                    let o = &ev["object"];
                    let ready = o["status"]["conditions"].as_array().is_some_and(|cs| {
                        cs.iter()
                            .any(|c| c["type"] == "Ready" && c["status"] == "True")
                    });
                    log.lock().unwrap().push(Seen {
                        at: Instant::now(),
                        kind: ev["type"].as_str().unwrap_or("").to_string(),
                        name: o["metadata"]["name"].as_str().unwrap_or("").to_string(),
                        ready,
                        terminating: o["metadata"].get("deletionTimestamp").is_some(),
                    });
                }
            });
        });
        // Let the watch open before anything happens.
        std::thread::sleep(Duration::from_millis(500));
        PodLog { seen, stop }
    }

    /// Position and time of the first event about `name` satisfying `f`.
    fn first(&self, name: &str, f: impl Fn(&Seen) -> bool) -> Option<(usize, Instant)> {
        let seen = self.seen.lock().unwrap();
        seen.iter()
            .enumerate()
            .find(|(_, s)| s.name == name && f(s))
            .map(|(i, s)| (i, s.at))
    }

    fn created(&self, name: &str) -> (usize, Instant) {
        self.first(name, |s| s.kind == "ADDED")
            .unwrap_or_else(|| panic!("{name} never created"))
    }

    fn became_ready(&self, name: &str) -> (usize, Instant) {
        self.first(name, |s| s.ready && !s.terminating)
            .unwrap_or_else(|| panic!("{name} never ready"))
    }

    fn deleting(&self, name: &str) -> (usize, Instant) {
        self.first(name, |s| s.terminating || s.kind == "DELETED")
            .unwrap_or_else(|| panic!("{name} never deleted"))
    }

    fn gone(&self, name: &str) -> (usize, Instant) {
        self.first(name, |s| s.kind == "DELETED")
            .unwrap_or_else(|| panic!("{name} never gone"))
    }
}

impl Drop for PodLog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Claims of this class wait for their first consumer, as with k3s' local-path provisioner:
/// the scheduler places pods without waiting for the claims to bind (nothing provisions
/// volumes here).
const LOCAL_PATH: &str = r#"
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: local-path
provisioner: rancher.io/local-path
volumeBindingMode: WaitForFirstConsumer
"#;

const WEB: &str = r#"
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: web
spec:
  replicas: 3
  serviceName: nginx
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
      annotations:
        sim.kedge.io/ready-after-seconds: "2"
    spec:
      containers:
      - name: nginx
        image: nginx:1.27
        volumeMounts:
        - {name: data, mountPath: /usr/share/nginx/html}
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      storageClassName: local-path
      accessModes: [ReadWriteOnce]
      resources:
        requests: {storage: 1Gi}
"#;

#[test]
fn statefulset_creates_in_order_and_scales_down_in_reverse() {
    require_cluster!();
    let (c, _sims) = cluster_with_nodes(vec![NodeSpec::new("n1"), NodeSpec::new("n2")]);
    let log = PodLog::start(&c, "app%3Dweb");
    c.apply(LOCAL_PATH);
    c.apply(WEB);
    c.ok(&["rollout", "status", "sts/web", "--timeout=90s"]);
    wait_for("3 ready pods seen", 10, || {
        log.first("web-2", |s| s.ready).is_some()
    });

    // Each pod was created only after its predecessor was Ready (2 s after it started).
    for (prev, next) in [("web-0", "web-1"), ("web-1", "web-2")] {
        let (ready_at, ready_t) = log.became_ready(prev);
        let (created_at, created_t) = log.created(next);
        assert!(
            created_at > ready_at,
            "{next} was created before {prev} was ready: {:?}",
            log.seen.lock().unwrap()
        );
        assert!(created_t >= ready_t);
        let (_, prev_created) = log.created(prev);
        assert!(
            created_t.duration_since(prev_created) >= Duration::from_millis(1500),
            "{next} came too soon after {prev}"
        );
    }

    // Identity, storage and revision of every pod.
    let sts = c.json(&["sts", "web"]);
    let update = sts["status"]["updateRevision"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(sts["status"]["currentRevision"], update.as_str());
    for (k, v) in [
        ("replicas", 3),
        ("readyReplicas", 3),
        ("availableReplicas", 3),
        ("currentReplicas", 3),
        ("updatedReplicas", 3),
    ] {
        assert_eq!(sts["status"][k], v, "status.{k}");
    }
    assert_eq!(
        sts["status"]["observedGeneration"],
        sts["metadata"]["generation"]
    );
    for i in 0..3 {
        let name = format!("web-{i}");
        let p = c.json(&["pod", &name]);
        assert_eq!(p["spec"]["hostname"], name.as_str());
        assert_eq!(p["spec"]["subdomain"], "nginx");
        assert_eq!(
            p["metadata"]["labels"]["statefulset.kubernetes.io/pod-name"],
            name.as_str()
        );
        assert_eq!(
            p["metadata"]["labels"]["apps.kubernetes.io/pod-index"],
            i.to_string()
        );
        assert_eq!(
            p["metadata"]["labels"]["controller-revision-hash"],
            update.as_str()
        );
        let vol = p["spec"]["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "data")
            .cloned()
            .unwrap();
        assert_eq!(
            vol["persistentVolumeClaim"]["claimName"],
            format!("data-web-{i}")
        );
    }
    assert_eq!(
        names(&c, &["pvc"]),
        ["data-web-0", "data-web-1", "data-web-2"]
    );
    let pvc = c.json(&["pvc", "data-web-1"]);
    assert_eq!(pvc["metadata"]["labels"]["app"], "web");
    assert_eq!(pvc["spec"]["resources"]["requests"]["storage"], "1Gi");
    assert_eq!(pvc["spec"]["storageClassName"], "local-path");
    let events = c.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=web",
        "-o",
        "json",
    ]);
    assert!(
        events.contains("create Pod web-0 in StatefulSet web successful"),
        "{events}"
    );
    assert!(
        events.contains("create Claim data-web-0 Pod web-0 in StatefulSet web success"),
        "{events}"
    );

    // Scale down: web-2 goes first, web-1 only once web-2 is gone; the claims stay.
    c.ok(&["scale", "sts", "web", "--replicas=1"]);
    wait_for("only web-0 left", 60, || {
        names(&c, &["pods", "-l", "app=web"]) == ["web-0"]
    });
    c.ok(&["rollout", "status", "sts/web", "--timeout=60s"]);
    let (web2_deleting, _) = log.deleting("web-2");
    let (web2_gone, _) = log.gone("web-2");
    let (web1_deleting, _) = log.deleting("web-1");
    assert!(
        web2_deleting < web1_deleting && web2_gone < web1_deleting,
        "{:?}",
        log.seen.lock().unwrap()
    );
    assert!(
        log.first("web-0", |s| s.terminating).is_none(),
        "web-0 was never touched"
    );
    assert_eq!(
        names(&c, &["pvc"]),
        ["data-web-0", "data-web-1", "data-web-2"]
    );
    let sts = c.json(&["sts", "web"]);
    assert_eq!(sts["status"]["replicas"], 1);
    let events = c.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=web",
        "-o",
        "json",
    ]);
    assert!(
        events.contains("delete Pod web-2 in StatefulSet web successful"),
        "{events}"
    );

    // Scaling up again reuses the claims.
    c.ok(&["scale", "sts", "web", "--replicas=2"]);
    c.ok(&["rollout", "status", "sts/web", "--timeout=60s"]);
    assert_eq!(names(&c, &["pods", "-l", "app=web"]), ["web-0", "web-1"]);
    assert_eq!(names(&c, &["pvc"]).len(), 3);
}

const DB: &str = r#"
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  replicas: 3
  serviceName: db
  podManagementPolicy: Parallel
  updateStrategy:
    type: RollingUpdate
    rollingUpdate: {partition: 2}
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
      annotations:
        sim.kedge.io/ready-after-seconds: "2"
    spec:
      containers:
      - name: db
        image: postgres:16
"#;

fn revisions_of(c: &Cluster, selector: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = items(c, &["pods", "-l", selector])
        .iter()
        .filter(|p| p["metadata"].get("deletionTimestamp").is_none())
        .map(|p| {
            let name = p["metadata"]["name"].as_str().unwrap_or("").to_string();
            let rev = p["metadata"]["labels"]["controller-revision-hash"]
                .as_str()
                .unwrap_or("")
                .to_string();
            (name, rev)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn statefulset_parallel_and_partitioned_rolling_update() {
    require_cluster!();
    let (c, _sims) = cluster_with_nodes(vec![NodeSpec::new("n1"), NodeSpec::new("n2")]);
    let log = PodLog::start(&c, "app%3Ddb");
    c.apply(DB);
    c.ok(&["rollout", "status", "sts/db", "--timeout=60s"]);
    // Parallel: all three existed before any was ready.
    let (first_ready, _) = ["db-0", "db-1", "db-2"]
        .iter()
        .map(|n| log.became_ready(n))
        .min_by_key(|x| x.0)
        .unwrap();
    for n in ["db-0", "db-1", "db-2"] {
        assert!(
            log.created(n).0 < first_ready,
            "{n} waited for readiness under Parallel"
        );
    }
    let first = c.json(&["sts", "db"])["status"]["currentRevision"]
        .as_str()
        .unwrap()
        .to_string();

    // Partition 2: only db-2 moves to the new revision.
    c.ok(&["set", "image", "sts/db", "db=postgres:17"]);
    let out = c.ok(&["rollout", "status", "sts/db", "--timeout=60s"]);
    assert!(out.contains("partitioned roll out complete"), "{out}");
    let sts = c.json(&["sts", "db"]);
    let update = sts["status"]["updateRevision"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(update, first);
    assert_eq!(sts["status"]["currentRevision"], first.as_str());
    assert_eq!(sts["status"]["updatedReplicas"], 1);
    assert_eq!(sts["status"]["currentReplicas"], 2);
    assert_eq!(
        revisions_of(&c, "app=db"),
        [
            ("db-0".into(), first.clone()),
            ("db-1".into(), first.clone()),
            ("db-2".into(), update.clone())
        ]
    );
    assert_eq!(items(&c, &["controllerrevisions", "-l", "app=db"]).len(), 2);

    // Partition 0: the rest follow from the highest ordinal down, one at a time.
    c.ok(&[
        "patch",
        "sts",
        "db",
        "-p",
        r#"{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}"#,
    ]);
    c.ok(&["rollout", "status", "sts/db", "--timeout=90s"]);
    wait_for("all updated", 30, || {
        revisions_of(&c, "app=db").iter().all(|(_, r)| *r == update)
    });
    let (db1_deleting, _) = log.deleting("db-1");
    let (db0_deleting, _) = log.deleting("db-0");
    assert!(db1_deleting < db0_deleting, "db-1 is updated before db-0");
    let db1_ready_again = log
        .seen
        .lock()
        .unwrap()
        .iter()
        .enumerate()
        .skip(db1_deleting)
        .find(|(_, s)| s.name == "db-1" && s.ready && !s.terminating)
        .map(|(i, _)| i)
        .expect("new db-1 ready");
    assert!(
        db1_ready_again < db0_deleting,
        "db-0 waited for the new db-1 to be ready"
    );
    let sts = c.json(&["sts", "db"]);
    assert_eq!(sts["status"]["currentRevision"], update.as_str());
    assert_eq!(sts["status"]["currentReplicas"], 3);
    assert_eq!(sts["status"]["updatedReplicas"], 3);
    let images: Vec<Value> = items(&c, &["pods", "-l", "app=db"])
        .iter()
        .map(|p| p["spec"]["containers"][0]["image"].clone())
        .collect();
    assert!(images.iter().all(|i| i == "postgres:17"), "{images:?}");
}

const CACHE: &str = r#"
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: cache
spec:
  replicas: 3
  serviceName: cache
  podManagementPolicy: Parallel
  persistentVolumeClaimRetentionPolicy: {whenScaled: Delete, whenDeleted: Delete}
  selector:
    matchLabels: {app: cache}
  template:
    metadata:
      labels: {app: cache}
    spec:
      containers:
      - name: redis
        image: redis:7
  volumeClaimTemplates:
  - metadata:
      name: data
    spec:
      storageClassName: local-path
      accessModes: [ReadWriteOnce]
      resources:
        requests: {storage: 1Gi}
"#;

#[test]
fn statefulset_claims_follow_the_retention_policy() {
    require_cluster!();
    let (c, _sims) = cluster_with_nodes(vec![NodeSpec::new("n1")]);
    c.apply(LOCAL_PATH);
    c.apply(CACHE);
    c.ok(&["rollout", "status", "sts/cache", "--timeout=60s"]);
    assert_eq!(
        names(&c, &["pvc"]),
        ["data-cache-0", "data-cache-1", "data-cache-2"]
    );
    // whenDeleted: Delete makes the set an owner of the claims of its pods.
    let uid = c.json(&["sts", "cache"])["metadata"]["uid"]
        .as_str()
        .unwrap()
        .to_string();
    let refs = c.json(&["pvc", "data-cache-0"])["metadata"]["ownerReferences"].clone();
    assert!(
        refs.as_array()
            .is_some_and(|r| r.iter().any(|o| o["uid"] == uid.as_str())),
        "{refs}"
    );

    // whenScaled: Delete: the claims of removed pods go with them.
    c.ok(&["scale", "sts", "cache", "--replicas=1"]);
    wait_for("claims of removed pods deleted", 60, || {
        names(&c, &["pvc"]) == ["data-cache-0"]
    });
    assert_eq!(names(&c, &["pods", "-l", "app=cache"]), ["cache-0"]);

    // whenDeleted: Delete: the remaining claims go with the set.
    c.ok(&["delete", "sts", "cache"]);
    wait_for("everything deleted", 60, || {
        names(&c, &["pvc"]).is_empty() && names(&c, &["pods", "-l", "app=cache"]).is_empty()
    });
}
