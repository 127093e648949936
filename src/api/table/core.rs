//! Printers for core-group cluster objects: nodes, namespaces, config, service accounts and
//! resource quotas.

use serde_json::{Map, Value};

use super::fields::{age, bool_of, count, get, list_of, map_len, name, obj, or, s, str_of};
use super::quantity;
use super::{col, wide, Col, Printer, AGE, NAME};

pub(super) const PRINTERS: &[Printer] = &[
    Printer {
        group: "",
        kind: "Node",
        columns: NODE,
        cells: node,
    },
    Printer {
        group: "",
        kind: "Namespace",
        columns: NAMESPACE,
        cells: namespace,
    },
    Printer {
        group: "",
        kind: "ConfigMap",
        columns: CONFIG_MAP,
        cells: config_map,
    },
    Printer {
        group: "",
        kind: "Secret",
        columns: SECRET,
        cells: secret,
    },
    Printer {
        group: "",
        kind: "ServiceAccount",
        columns: SERVICE_ACCOUNT,
        cells: service_account,
    },
    Printer {
        group: "",
        kind: "ResourceQuota",
        columns: RESOURCE_QUOTA,
        cells: resource_quota,
    },
];

const NODE: &[Col] = &[
    NAME,
    col("Status", "string", "The status of the node"),
    col("Roles", "string", "The roles of the node"),
    AGE,
    col("Version", "string", "Kubelet Version reported by the node."),
    wide(
        "Internal-IP",
        "string",
        "List of addresses reachable to the node. Queried from cloud provider, if available.",
    ),
    wide(
        "External-IP",
        "string",
        "List of addresses reachable to the node. Queried from cloud provider, if available.",
    ),
    wide(
        "OS-Image",
        "string",
        "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).",
    ),
    wide(
        "Kernel-Version",
        "string",
        "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).",
    ),
    wide(
        "Container-Runtime",
        "string",
        "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).",
    ),
];

/// `node-role.kubernetes.io/<role>` keys and `kubernetes.io/role=<role>` values, sorted.
fn node_roles(labels: Option<&Map<String, Value>>) -> Vec<String> {
    let mut roles: Vec<String> = labels
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| match k.strip_prefix("node-role.kubernetes.io/") {
            Some(role) if !role.is_empty() => Some(role.to_string()),
            Some(_) => None,
            None if k == "kubernetes.io/role" => {
                v.as_str().filter(|r| !r.is_empty()).map(str::to_string)
            }
            None => None,
        })
        .collect();
    roles.sort_unstable();
    roles.dedup();
    roles
}

fn node_address(o: &Value, kind: &str) -> String {
    list_of(o, &["status", "addresses"])
        .iter()
        .find(|a| str_of(a, &["type"]) == kind)
        .map_or_else(
            || "<none>".to_string(),
            |a| str_of(a, &["address"]).to_string(),
        )
}

fn node(o: &Value, now: i64) -> Vec<Value> {
    // Only the Ready condition is reported; with duplicates the last one wins (Go map).
    let ready = list_of(o, &["status", "conditions"])
        .iter()
        .rev()
        .find(|c| str_of(c, &["type"]) == "Ready");
    let mut status = vec![match ready {
        Some(c) if str_of(c, &["status"]) == "True" => "Ready",
        Some(_) => "NotReady",
        None => "Unknown",
    }];
    if bool_of(o, &["spec", "unschedulable"]) {
        status.push("SchedulingDisabled");
    }
    let roles = node_roles(obj(o, &["metadata", "labels"])).join(",");
    let info = |field: &str| or(str_of(o, &["status", "nodeInfo", field]), "<unknown>");
    vec![
        s(name(o)),
        s(status.join(",")),
        s(or(&roles, "<none>")),
        s(age(o, now)),
        s(str_of(o, &["status", "nodeInfo", "kubeletVersion"])),
        s(node_address(o, "InternalIP")),
        s(node_address(o, "ExternalIP")),
        s(info("osImage")),
        s(info("kernelVersion")),
        s(info("containerRuntimeVersion")),
    ]
}

const NAMESPACE: &[Col] = &[
    NAME,
    col("Status", "string", "The status of the namespace"),
    AGE,
];

fn namespace(o: &Value, now: i64) -> Vec<Value> {
    vec![
        s(name(o)),
        s(str_of(o, &["status", "phase"])),
        s(age(o, now)),
    ]
}

const CONFIG_MAP: &[Col] = &[
    NAME,
    col(
        "Data",
        "string",
        "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field.",
    ),
    AGE,
];

fn config_map(o: &Value, now: i64) -> Vec<Value> {
    vec![
        s(name(o)),
        count(map_len(o, &["data"]) + map_len(o, &["binaryData"])),
        s(age(o, now)),
    ]
}

const SECRET: &[Col] = &[
    NAME,
    col(
        "Type",
        "string",
        "Used to facilitate programmatic handling of secret data.",
    ),
    col(
        "Data",
        "string",
        "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'.",
    ),
    AGE,
];

fn secret(o: &Value, now: i64) -> Vec<Value> {
    vec![
        s(name(o)),
        s(str_of(o, &["type"])),
        count(map_len(o, &["data"])),
        s(age(o, now)),
    ]
}

const SERVICE_ACCOUNT: &[Col] = &[
    NAME,
    col(
        "Secrets",
        "string",
        "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.",
    ),
    AGE,
];

fn service_account(o: &Value, now: i64) -> Vec<Value> {
    vec![
        s(name(o)),
        count(list_of(o, &["secrets"]).len()),
        s(age(o, now)),
    ]
}

const RESOURCE_QUOTA: &[Col] = &[
    NAME,
    col(
        "Request",
        "string",
        "Request represents a minimum amount of cpu/memory that a container may consume.",
    ),
    col(
        "Limit",
        "string",
        "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.",
    ),
    AGE,
];

fn resource_quota(o: &Value, now: i64) -> Vec<Value> {
    let mut resources: Vec<&String> = obj(o, &["status", "hard"])
        .map(|hard| hard.keys().collect())
        .unwrap_or_default();
    resources.sort_unstable();
    let (mut requests, mut limits) = (Vec::new(), Vec::new());
    for resource in resources {
        let used = quantity::canonical(get(o, &["status", "used", resource]));
        let hard = quantity::canonical(get(o, &["status", "hard", resource]));
        let entry = format!("{resource}: {used}/{hard}");
        // Only `limits.*` names go to the Limit column; `cpu`, `requests.*`, `pods`... request.
        match resource.split_once('.') {
            Some(("limits", _)) => limits.push(entry),
            _ => requests.push(entry),
        }
    }
    vec![
        s(name(o)),
        s(requests.join(", ")),
        s(limits.join(", ")),
        s(age(o, now)),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::{cells, columns};
    use serde_json::json;

    const NOW: i64 = 1_700_000_000; // 2023-11-14T22:13:20Z

    fn headers(group: &str, kind: &str, priority: i32) -> Vec<String> {
        columns(group, kind)
            .into_iter()
            .filter(|c| c.priority <= priority)
            .map(|c| c.name.to_uppercase())
            .collect()
    }

    #[test]
    fn nodes() {
        assert_eq!(
            headers("", "Node", 1),
            [
                "NAME",
                "STATUS",
                "ROLES",
                "AGE",
                "VERSION",
                "INTERNAL-IP",
                "EXTERNAL-IP",
                "OS-IMAGE",
                "KERNEL-VERSION",
                "CONTAINER-RUNTIME"
            ]
        );
        let n = json!({
            "metadata": {"name": "cp-1", "creationTimestamp": "2023-11-04T22:13:20Z",
                         "labels": {"node-role.kubernetes.io/control-plane": "",
                                    "node-role.kubernetes.io/worker": "",
                                    "kubernetes.io/role": "master", "kubernetes.io/os": "linux"}},
            "spec": {"unschedulable": true},
            "status": {"conditions": [{"type": "MemoryPressure", "status": "False"},
                                      {"type": "Ready", "status": "True"}],
                       "addresses": [{"type": "InternalIP", "address": "192.168.1.10"},
                                     {"type": "Hostname", "address": "cp-1"}],
                       "nodeInfo": {"kubeletVersion": "v1.33.1", "osImage": "Debian GNU/Linux 12 (bookworm)",
                                    "kernelVersion": "6.1.0-18-amd64",
                                    "containerRuntimeVersion": "containerd://1.7.13"}}
        });
        assert_eq!(
            cells("", "Node", &n, NOW),
            vec![
                json!("cp-1"),
                json!("Ready,SchedulingDisabled"),
                json!("control-plane,master,worker"),
                json!("10d"),
                json!("v1.33.1"),
                json!("192.168.1.10"),
                json!("<none>"),
                json!("Debian GNU/Linux 12 (bookworm)"),
                json!("6.1.0-18-amd64"),
                json!("containerd://1.7.13"),
            ]
        );
        let fresh = json!({"metadata": {"name": "n"}});
        assert_eq!(
            cells("", "Node", &fresh, NOW)[1..],
            [
                json!("Unknown"),
                json!("<none>"),
                json!("<unknown>"),
                json!(""),
                json!("<none>"),
                json!("<none>"),
                json!("<unknown>"),
                json!("<unknown>"),
                json!("<unknown>")
            ]
        );
        let sick = json!({"metadata": {"name": "n"},
                          "status": {"conditions": [{"type": "Ready", "status": "Unknown"}]}});
        assert_eq!(cells("", "Node", &sick, NOW)[1], json!("NotReady"));
    }

    #[test]
    fn namespaces_config_and_accounts() {
        let ns = json!({"metadata": {"name": "default"}, "status": {"phase": "Active"}});
        assert_eq!(
            cells("", "Namespace", &ns, NOW)[..2],
            [json!("default"), json!("Active")]
        );
        let cm = json!({"metadata": {"name": "c"}, "data": {"a": "1", "b": "2"}, "binaryData": {"c": "AA=="}});
        assert_eq!(cells("", "ConfigMap", &cm, NOW)[1], json!(3));
        let secret = json!({"metadata": {"name": "tls"}, "type": "kubernetes.io/tls",
                            "data": {"tls.crt": "", "tls.key": ""}});
        assert_eq!(
            cells("", "Secret", &secret, NOW)[1..3],
            [json!("kubernetes.io/tls"), json!(2)]
        );
        let sa = json!({"metadata": {"name": "default"}});
        assert_eq!(cells("", "ServiceAccount", &sa, NOW)[1], json!(0));
    }

    #[test]
    fn resource_quotas() {
        let rq = json!({"metadata": {"name": "q"}, "status": {
            "hard": {"pods": "10", "requests.cpu": "2", "limits.memory": "2Gi", "limits.cpu": "4",
                     "requests.memory": "1024Mi"},
            "used": {"pods": "3", "requests.cpu": "500m", "limits.cpu": "1"}}});
        assert_eq!(
            cells("", "ResourceQuota", &rq, NOW)[1..3],
            [
                json!("pods: 3/10, requests.cpu: 500m/2, requests.memory: 0/1Gi"),
                json!("limits.cpu: 1/4, limits.memory: 0/2Gi")
            ]
        );
    }
}
