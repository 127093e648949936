//! Printers for the replicated workload controllers (apps/v1 and the core
//! ReplicationController / PodTemplate): replica counts, containers, images, selectors.

use serde_json::Value;

use super::fields::{
    age, containers, get, int, int_of, list_of, name, opt_bool, opt_int, s, str_of,
};
use super::selector::{format_label_selector, format_labels, selector_string};
use super::{col, Col, Printer, AGE, CONTAINERS, IMAGES, NAME};

pub(super) const PRINTERS: &[Printer] = &[
    Printer {
        group: "apps",
        kind: "Deployment",
        columns: DEPLOYMENT,
        cells: deployment,
    },
    Printer {
        group: "apps",
        kind: "ReplicaSet",
        columns: REPLICA_SET,
        cells: replica_set,
    },
    Printer {
        group: "apps",
        kind: "StatefulSet",
        columns: STATEFUL_SET,
        cells: stateful_set,
    },
    Printer {
        group: "apps",
        kind: "DaemonSet",
        columns: DAEMON_SET,
        cells: daemon_set,
    },
    Printer {
        group: "apps",
        kind: "ControllerRevision",
        columns: CONTROLLER_REVISION,
        cells: controller_revision,
    },
    Printer {
        group: "",
        kind: "ReplicationController",
        columns: REPLICATION_CONTROLLER,
        cells: replication_controller,
    },
    Printer {
        group: "",
        kind: "PodTemplate",
        columns: POD_TEMPLATE,
        cells: pod_template,
    },
];

const SELECTOR_DESC: &str = "Label query over pods that should match the replica count. Must match in order to be controlled. If empty, defaulted to labels on pod template. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors";

const fn selector_col() -> Col {
    super::wide("Selector", "string", SELECTOR_DESC)
}

/// `spec.replicas`, which the API server defaults to 1 on every replicated kind.
fn desired_replicas(o: &Value) -> i64 {
    opt_int(o, &["spec", "replicas"]).unwrap_or(1)
}

const DEPLOYMENT: &[Col] = &[
    NAME,
    col("Ready", "string", "Number of the pod with ready state"),
    col(
        "Up-to-date",
        "string",
        "Total number of non-terminated pods targeted by this deployment that have the desired template spec.",
    ),
    col(
        "Available",
        "string",
        "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    selector_col(),
];

fn deployment(o: &Value, now: i64) -> Vec<Value> {
    let (names, images) = containers(o, &["spec", "template", "spec", "containers"]);
    // printDeployment uses the bare selector string: "" when empty, "<invalid>" on error.
    let selector =
        selector_string(get(o, &["spec", "selector"])).unwrap_or_else(|_| "<invalid>".into());
    vec![
        s(name(o)),
        s(format!(
            "{}/{}",
            int_of(o, &["status", "readyReplicas"]),
            desired_replicas(o)
        )),
        int(int_of(o, &["status", "updatedReplicas"])),
        int(int_of(o, &["status", "availableReplicas"])),
        s(age(o, now)),
        s(names),
        s(images),
        s(selector),
    ]
}

const REPLICA_SET: &[Col] = &[
    NAME,
    col(
        "Desired",
        "integer",
        "Replicas is the number of desired pods. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1.",
    ),
    col(
        "Current",
        "integer",
        "Replicas is the most recently observed number of non-terminated pods.",
    ),
    col(
        "Ready",
        "integer",
        "The number of non-terminated pods targeted by this ReplicaSet with a Ready Condition.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    selector_col(),
];

fn replica_set(o: &Value, now: i64) -> Vec<Value> {
    let (names, images) = containers(o, &["spec", "template", "spec", "containers"]);
    vec![
        s(name(o)),
        int(desired_replicas(o)),
        int(int_of(o, &["status", "replicas"])),
        int(int_of(o, &["status", "readyReplicas"])),
        s(age(o, now)),
        s(names),
        s(images),
        s(format_label_selector(get(o, &["spec", "selector"]))),
    ]
}

const STATEFUL_SET: &[Col] = &[
    NAME,
    col("Ready", "string", "Number of the pod with ready state"),
    AGE,
    CONTAINERS,
    IMAGES,
];

fn stateful_set(o: &Value, now: i64) -> Vec<Value> {
    let (names, images) = containers(o, &["spec", "template", "spec", "containers"]);
    vec![
        s(name(o)),
        s(format!(
            "{}/{}",
            int_of(o, &["status", "readyReplicas"]),
            desired_replicas(o)
        )),
        s(age(o, now)),
        s(names),
        s(images),
    ]
}

const DAEMON_SET: &[Col] = &[
    NAME,
    col(
        "Desired",
        "integer",
        "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod).",
    ),
    col(
        "Current",
        "integer",
        "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod.",
    ),
    col(
        "Ready",
        "integer",
        "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready.",
    ),
    col(
        "Up-to-date",
        "integer",
        "The total number of nodes that are running updated daemon pod",
    ),
    col(
        "Available",
        "integer",
        "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)",
    ),
    col(
        "Node Selector",
        "string",
        "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    selector_col(),
];

fn daemon_set(o: &Value, now: i64) -> Vec<Value> {
    let (names, images) = containers(o, &["spec", "template", "spec", "containers"]);
    let status = |field: &str| int(int_of(o, &["status", field]));
    vec![
        s(name(o)),
        status("desiredNumberScheduled"),
        status("currentNumberScheduled"),
        status("numberReady"),
        status("updatedNumberScheduled"),
        status("numberAvailable"),
        s(format_labels(get(
            o,
            &["spec", "template", "spec", "nodeSelector"],
        ))),
        s(age(o, now)),
        s(names),
        s(images),
        s(format_label_selector(get(o, &["spec", "selector"]))),
    ]
}

const CONTROLLER_REVISION: &[Col] = &[
    NAME,
    col("Controller", "string", "Controller of the object"),
    col(
        "Revision",
        "string",
        "Revision indicates the revision of the state represented by Data.",
    ),
    AGE,
];

fn controller_revision(o: &Value, now: i64) -> Vec<Value> {
    let owner = list_of(o, &["metadata", "ownerReferences"])
        .iter()
        .find(|r| opt_bool(r, &["controller"]) == Some(true));
    let controller = match owner {
        None => "<none>".to_string(),
        Some(r) => {
            let api_version = str_of(r, &["apiVersion"]);
            let kind = str_of(r, &["kind"]);
            let owner_name = str_of(r, &["name"]);
            // schema.ParseGroupVersion: "v1" is core, "g/v" has group g, more slashes is an
            // error (Go fails the whole request; a row is more useful here).
            let group = match api_version.split('/').collect::<Vec<_>>().as_slice() {
                [_] => Some(""),
                [g, _] => Some(*g),
                _ => None,
            };
            match group {
                None => "<invalid>".to_string(),
                Some("") if kind.is_empty() => owner_name.to_string(),
                // strings.ToLower(GroupKind.String()): `kind` or `kind.group`.
                Some("") => format!("{}/{owner_name}", kind.to_lowercase()),
                Some(g) => format!("{}/{owner_name}", format!("{kind}.{g}").to_lowercase()),
            }
        }
    };
    vec![
        s(name(o)),
        s(controller),
        int(int_of(o, &["revision"])),
        s(age(o, now)),
    ]
}

const REPLICATION_CONTROLLER: &[Col] = &[
    NAME,
    col(
        "Desired",
        "integer",
        "Replicas is the number of desired replicas. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1.",
    ),
    col(
        "Current",
        "integer",
        "Replicas is the most recently observed number of replicas.",
    ),
    col(
        "Ready",
        "integer",
        "The number of ready replicas for this replication controller.",
    ),
    AGE,
    CONTAINERS,
    IMAGES,
    super::wide(
        "Selector",
        "string",
        "Selector is a label query over pods that should match the Replicas count. If Selector is empty, it is defaulted to the labels present on the Pod template.",
    ),
];

fn replication_controller(o: &Value, now: i64) -> Vec<Value> {
    let (names, images) = containers(o, &["spec", "template", "spec", "containers"]);
    vec![
        s(name(o)),
        int(desired_replicas(o)),
        int(int_of(o, &["status", "replicas"])),
        int(int_of(o, &["status", "readyReplicas"])),
        s(age(o, now)),
        s(names),
        s(images),
        s(format_labels(get(o, &["spec", "selector"]))),
    ]
}

const POD_TEMPLATE: &[Col] = &[
    NAME,
    col(
        "Containers",
        "string",
        "Names of each container in the template.",
    ),
    col(
        "Images",
        "string",
        "Images referenced by each container in the template.",
    ),
    col("Pod Labels", "string", "The labels for the pod template."),
];

fn pod_template(o: &Value, _now: i64) -> Vec<Value> {
    let (names, images) = containers(o, &["template", "spec", "containers"]);
    vec![
        s(name(o)),
        s(names),
        s(images),
        s(format_labels(get(o, &["template", "metadata", "labels"]))),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::cells;
    use super::super::test_support::{names, shown};
    use serde_json::{json, Value};

    const NOW: i64 = 1_700_000_000; // 2023-11-14T22:13:20Z

    #[test]
    fn deployment_columns_and_cells() {
        assert_eq!(
            shown("apps", "Deployment"),
            ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
        );
        assert_eq!(names("apps", "Deployment").len(), 8);
        let d = json!({
            "metadata": {"name": "web", "creationTimestamp": "2023-11-12T22:13:20Z"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"spec": {"containers": [
                         {"name": "nginx", "image": "nginx:1.25"},
                         {"name": "log", "image": "busybox"}]}}},
            "status": {"readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2}
        });
        assert_eq!(
            cells("apps", "Deployment", &d, NOW),
            vec![
                json!("web"),
                json!("2/3"),
                json!(3),
                json!(2),
                json!("2d"),
                json!("nginx,log"),
                json!("nginx:1.25,busybox"),
                json!("app=web"),
            ]
        );
        let bare = json!({"metadata": {"name": "x"}});
        let row = cells("apps", "Deployment", &bare, NOW);
        assert_eq!((&row[1], &row[7]), (&json!("0/1"), &json!("")));
    }

    #[test]
    fn replica_stateful_daemon_sets() {
        let rs = json!({"metadata": {"name": "web-5d4"}, "spec": {"replicas": 2},
                        "status": {"replicas": 2, "readyReplicas": 1}});
        let row = cells("apps", "ReplicaSet", &rs, NOW);
        assert_eq!(row[..4], [json!("web-5d4"), json!(2), json!(2), json!(1)]);
        assert_eq!(row[7], json!("<none>"));

        let sts = json!({"metadata": {"name": "db"}, "spec": {"replicas": 3},
                         "status": {"readyReplicas": 3}});
        assert_eq!(shown("apps", "StatefulSet"), ["NAME", "READY", "AGE"]);
        assert_eq!(cells("apps", "StatefulSet", &sts, NOW)[1], json!("3/3"));

        let ds = json!({"metadata": {"name": "agent"},
                        "spec": {"template": {"spec": {"nodeSelector": {"kubernetes.io/os": "linux"}}}},
                        "status": {"desiredNumberScheduled": 3, "currentNumberScheduled": 3,
                                   "numberReady": 2, "updatedNumberScheduled": 3, "numberAvailable": 2}});
        assert_eq!(
            shown("apps", "DaemonSet"),
            [
                "NAME",
                "DESIRED",
                "CURRENT",
                "READY",
                "UP-TO-DATE",
                "AVAILABLE",
                "NODE SELECTOR",
                "AGE"
            ]
        );
        assert_eq!(
            cells("apps", "DaemonSet", &ds, NOW)[1..7],
            [
                json!(3),
                json!(3),
                json!(2),
                json!(3),
                json!(2),
                json!("kubernetes.io/os=linux")
            ]
        );
    }

    #[test]
    fn controller_revisions_and_templates() {
        let cr = json!({"metadata": {"name": "web-7f9", "ownerReferences": [
                            {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "controller": true}]},
                        "revision": 4});
        assert_eq!(
            cells("apps", "ControllerRevision", &cr, NOW)[..3],
            [json!("web-7f9"), json!("statefulset.apps/web"), json!(4)]
        );
        let orphan = json!({"metadata": {"name": "x"}});
        assert_eq!(
            cells("apps", "ControllerRevision", &orphan, NOW)[1],
            json!("<none>")
        );

        let rc = json!({"metadata": {"name": "rc"}, "spec": {"selector": {"app": "x"}}});
        let row: Vec<Value> = cells("", "ReplicationController", &rc, NOW);
        assert_eq!((&row[1], &row[7]), (&json!(1), &json!("app=x")));
    }
}
