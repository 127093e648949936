//! Acceptance of LimitRange and ResourceQuota admission, the resource quota controller, the
//! horizontal pod autoscaler and the ReplicationController controller, with the real kubectl.
//! No nodes are needed: pods stay Pending, which is all quota and the autoscaler look at.

mod common;
#[path = "common/simnode.rs"]
mod simnode;
#[path = "common/support.rs"]
mod support;

use common::Cluster;
use support::{items, wait_for};

fn create_fails(c: &Cluster, yaml: &str) -> String {
    let out = c.kubectl_stdin(&["create", "-f", "-"], yaml);
    assert!(!out.status.success(), "create unexpectedly succeeded");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

const LIMITS: &str = r#"
apiVersion: v1
kind: LimitRange
metadata:
  name: limits
spec:
  limits:
  - type: Container
    default: {cpu: 500m, memory: 256Mi}
    defaultRequest: {cpu: 100m, memory: 128Mi}
    max: {cpu: "1"}
"#;

#[test]
fn limit_range_defaults_and_bounds_pods() {
    require_cluster!();
    let c = Cluster::start();
    c.apply(LIMITS);
    c.ok(&["run", "plain", "--image=busybox:1.36"]);
    let pod = c.json(&["pod", "plain"]);
    let res = &pod["spec"]["containers"][0]["resources"];
    assert_eq!(res["limits"]["cpu"], "500m", "{res}");
    assert_eq!(res["limits"]["memory"], "256Mi");
    assert_eq!(res["requests"]["cpu"], "100m");
    assert_eq!(res["requests"]["memory"], "128Mi");
    assert_eq!(
        pod["metadata"]["annotations"]["kubernetes.io/limit-ranger"],
        "LimitRanger plugin set: cpu, memory request for container plain; cpu, memory limit for container plain"
    );
    assert_eq!(pod["status"]["qosClass"], "Burstable");

    // An explicit limit is kept; only the missing pieces are filled in.
    c.apply(
        r#"
apiVersion: v1
kind: Pod
metadata: {name: partial}
spec:
  containers:
  - name: app
    image: busybox:1.36
    resources: {limits: {cpu: 800m}}
"#,
    );
    let res = c.json(&["pod", "partial"])["spec"]["containers"][0]["resources"].clone();
    assert_eq!(res["limits"]["cpu"], "800m");
    // Kubernetes' defaulting copies the explicit limit into the request first.
    assert_eq!(res["requests"]["cpu"], "800m");
    assert_eq!(res["limits"]["memory"], "256Mi");

    let err = create_fails(
        &c,
        r#"
apiVersion: v1
kind: Pod
metadata: {name: big}
spec:
  containers:
  - name: app
    image: busybox:1.36
    resources: {limits: {cpu: "2"}}
"#,
    );
    assert!(
        err.contains(
            "Error from server (Forbidden): error when creating \"STDIN\": pods \"big\" is forbidden: \
             maximum cpu usage per Container is 1, but limit is 2"
        ),
        "{err}"
    );
}

const QUOTA: &str = r#"
apiVersion: v1
kind: ResourceQuota
metadata:
  name: q
spec:
  hard:
    pods: "2"
    configmaps: "10"
"#;

fn describe_row(c: &Cluster, resource: &str) -> Vec<String> {
    let out = c.ok(&["describe", "quota", "q"]);
    out.lines()
        .map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .find(|w| w.first().map(String::as_str) == Some(resource))
        .unwrap_or_else(|| panic!("no {resource} row in:\n{out}"))
}

#[test]
fn quota_refuses_the_pod_beyond_hard_and_replenishes() {
    require_cluster!();
    let c = Cluster::start();
    c.apply(QUOTA);
    c.ok(&["run", "p1", "--image=busybox:1.36"]);
    c.ok(&["run", "p2", "--image=busybox:1.36"]);
    let err = c.fails(&["run", "p3", "--image=busybox:1.36"]);
    assert!(
        err.contains(
            "Error from server (Forbidden): pods \"p3\" is forbidden: exceeded quota: q, \
             requested: pods=1, used: pods=2, limited: pods=2"
        ),
        "{err}"
    );
    assert_eq!(describe_row(&c, "pods"), ["pods", "2", "2"]);
    let maps = items(&c, &["configmaps"]).len().to_string();
    wait_for("the namespace's config maps to be counted", 30, || {
        describe_row(&c, "configmaps") == ["configmaps", maps.as_str(), "10"]
    });
    let q = c.json(&["resourcequota", "q"]);
    assert_eq!(q["status"]["hard"]["pods"], "2");

    // Deleting a pod gives its unit back.
    c.ok(&["delete", "pod", "p1", "--grace-period=0", "--force"]);
    wait_for("the quota to be replenished", 30, || {
        describe_row(&c, "pods") == ["pods", "1", "2"]
    });
    c.ok(&["run", "p3", "--image=busybox:1.36"]);
    assert_eq!(describe_row(&c, "pods"), ["pods", "2", "2"]);
}

#[test]
fn compute_quota_requires_limits() {
    require_cluster!();
    let c = Cluster::start();
    c.apply(
        r#"
apiVersion: v1
kind: ResourceQuota
metadata: {name: compute}
spec:
  hard: {limits.cpu: "1", requests.memory: 1Gi}
"#,
    );
    let err = c.fails(&["run", "bare", "--image=busybox:1.36"]);
    assert!(
        err.contains(
            "pods \"bare\" is forbidden: failed quota: compute: must specify limits.cpu for: bare; \
             requests.memory for: bare"
        ),
        "{err}"
    );
    let pod = |name: &str, cpu: &str| {
        format!(
            "apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}}}\nspec:\n  containers:\n  - name: app\n    \
             image: busybox:1.36\n    resources: {{limits: {{cpu: {cpu}, memory: 512Mi}}}}\n"
        )
    };
    c.apply(&pod("a", "600m"));
    let err = create_fails(&c, &pod("b", "600m"));
    assert!(
        err.contains(
            "exceeded quota: compute, requested: limits.cpu=600m, used: limits.cpu=600m, limited: limits.cpu=1"
        ),
        "{err}"
    );
    let q = c.json(&["resourcequota", "compute"]);
    assert_eq!(q["status"]["used"]["requests.memory"], "512Mi");
}

#[test]
fn autoscaler_scales_a_busy_deployment_up() {
    require_cluster!();
    let c = Cluster::start();
    c.apply(
        r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  replicas: 1
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
      annotations: {metrics.kedge.io/cpu-milli: "200"}
    spec:
      containers:
      - name: web
        image: busybox:1.36
        resources: {requests: {cpu: 100m}}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: web}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: web}
  minReplicas: 1
  maxReplicas: 5
  metrics:
  - type: Resource
    resource:
      name: cpu
      target: {type: Utilization, averageUtilization: 50}
"#,
    );
    // 200m used of 100m requested is 200 % against a 50 % target: four times the replicas.
    wait_for("the autoscaler to scale web up", 60, || {
        c.json(&["deployment", "web"])["spec"]["replicas"].as_i64() == Some(4)
    });
    let hpa = c.json(&["hpa", "web"]);
    let st = &hpa["status"];
    assert_eq!(st["desiredReplicas"], 4, "{st}");
    assert_eq!(
        st["currentMetrics"][0]["resource"]["current"]["averageUtilization"], 200,
        "{st}"
    );
    assert!(st["lastScaleTime"].is_string(), "{st}");
    let conds = st["conditions"].as_array().unwrap();
    let cond = |t: &str| {
        conds
            .iter()
            .find(|c| c["type"] == t)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(cond("AbleToScale")["reason"], "SucceededRescale", "{st}");
    assert_eq!(cond("ScalingActive")["reason"], "ValidMetricFound", "{st}");
    let events = c.ok(&[
        "get",
        "events",
        "--field-selector",
        "involvedObject.name=web",
    ]);
    assert!(events.contains("SuccessfulRescale"), "{events}");
}

#[test]
fn replication_controller_keeps_its_replicas() {
    require_cluster!();
    let c = Cluster::start();
    c.apply(
        r#"
apiVersion: v1
kind: ReplicationController
metadata: {name: rc}
spec:
  replicas: 3
  selector: {app: rc}
  template:
    metadata:
      labels: {app: rc}
    spec:
      containers:
      - name: app
        image: busybox:1.36
"#,
    );
    wait_for("three pods", 30, || {
        items(&c, &["pods", "-l", "app=rc"]).len() == 3
    });
    let pods = c.json(&["pods", "-l", "app=rc"]);
    let owner = &pods["items"][0]["metadata"]["ownerReferences"][0];
    assert_eq!(owner["kind"], "ReplicationController");
    assert_eq!(owner["name"], "rc");
    wait_for("status.replicas", 30, || {
        c.json(&["rc", "rc"])["status"]["replicas"] == 3
    });
    c.ok(&["scale", "rc", "rc", "--replicas=1"]);
    wait_for("one pod", 30, || {
        let pods = items(&c, &["pods", "-l", "app=rc"]);
        pods.iter()
            .filter(|p| p["metadata"]["deletionTimestamp"].is_null())
            .count()
            == 1
    });
}

#[test]
fn concurrent_creates_never_overrun_a_quota() {
    require_cluster!();
    let c = Cluster::start();
    c.apply(
        "apiVersion: v1\nkind: ResourceQuota\nmetadata: {name: q}\nspec:\n  hard: {pods: \"3\"}\n",
    );
    let created = std::thread::scope(|s| {
        let runs: Vec<_> = (0..8)
            .map(|i| {
                let c = &c;
                s.spawn(move || {
                    c.kubectl(&["run", &format!("c{i}"), "--image=busybox:1.36"])
                        .status
                        .success()
                })
            })
            .collect();
        runs.into_iter()
            .map(|r| r.join())
            .filter(|r| matches!(r, Ok(true)))
            .count()
    });
    assert_eq!(created, 3);
    let pods = items(&c, &["pods"]).len();
    assert_eq!(pods, 3);
    assert_eq!(describe_row(&c, "pods"), ["pods", "3", "3"]);
}
