//! Printers for cluster policy objects: RBAC bindings, PodDisruptionBudgets, Leases,
//! PriorityClasses, RuntimeClasses and admission webhook configurations.

use serde_json::Value;

use super::fields::{age, bool_of, count, get, int, int_of, list_of, name, opt_str, s, str_of};
use super::{col, wide, Col, Printer, AGE, NAME};

pub(super) const PRINTERS: &[Printer] = &[
    Printer {
        group: "rbac.authorization.k8s.io",
        kind: "RoleBinding",
        columns: ROLE_BINDING,
        cells: binding,
    },
    Printer {
        group: "rbac.authorization.k8s.io",
        kind: "ClusterRoleBinding",
        columns: CLUSTER_ROLE_BINDING,
        cells: binding,
    },
    Printer {
        group: "policy",
        kind: "PodDisruptionBudget",
        columns: POD_DISRUPTION_BUDGET,
        cells: pod_disruption_budget,
    },
    Printer {
        group: "coordination.k8s.io",
        kind: "Lease",
        columns: LEASE,
        cells: lease,
    },
    Printer {
        group: "scheduling.k8s.io",
        kind: "PriorityClass",
        columns: PRIORITY_CLASS,
        cells: priority_class,
    },
    Printer {
        group: "node.k8s.io",
        kind: "RuntimeClass",
        columns: RUNTIME_CLASS,
        cells: runtime_class,
    },
    Printer {
        group: "admissionregistration.k8s.io",
        kind: "MutatingWebhookConfiguration",
        columns: WEBHOOK_CONFIGURATION,
        cells: webhook_configuration,
    },
    Printer {
        group: "admissionregistration.k8s.io",
        kind: "ValidatingWebhookConfiguration",
        columns: WEBHOOK_CONFIGURATION,
        cells: webhook_configuration,
    },
];

const ROLE_BINDING: &[Col] = &[
    NAME,
    col(
        "Role",
        "string",
        "RoleRef can reference a Role in the current namespace or a ClusterRole in the global namespace.",
    ),
    AGE,
    wide("Users", "string", "Users in the roleBinding"),
    wide("Groups", "string", "Groups in the roleBinding"),
    wide("ServiceAccounts", "string", "ServiceAccounts in the roleBinding"),
];

const CLUSTER_ROLE_BINDING: &[Col] = &[
    NAME,
    col(
        "Role",
        "string",
        "RoleRef can only reference a ClusterRole in the global namespace.",
    ),
    AGE,
    wide("Users", "string", "Users in the clusterRoleBinding"),
    wide("Groups", "string", "Groups in the clusterRoleBinding"),
    wide(
        "ServiceAccounts",
        "string",
        "ServiceAccounts in the clusterRoleBinding",
    ),
];

fn binding(o: &Value, now: i64) -> Vec<Value> {
    let (mut users, mut groups, mut accounts) = (Vec::new(), Vec::new(), Vec::new());
    for subject in list_of(o, &["subjects"]) {
        let subject_name = str_of(subject, &["name"]);
        match str_of(subject, &["kind"]) {
            "ServiceAccount" => accounts.push(format!(
                "{}/{subject_name}",
                str_of(subject, &["namespace"])
            )),
            "User" => users.push(subject_name.to_string()),
            "Group" => groups.push(subject_name.to_string()),
            _ => {}
        }
    }
    vec![
        s(name(o)),
        s(format!(
            "{}/{}",
            str_of(o, &["roleRef", "kind"]),
            str_of(o, &["roleRef", "name"])
        )),
        s(age(o, now)),
        s(users.join(", ")),
        s(groups.join(", ")),
        s(accounts.join(", ")),
    ]
}

const POD_DISRUPTION_BUDGET: &[Col] = &[
    NAME,
    col(
        "Min Available",
        "string",
        "The minimum number of pods that must be available.",
    ),
    col(
        "Max Unavailable",
        "string",
        "The maximum number of pods that may be unavailable.",
    ),
    col(
        "Allowed Disruptions",
        "integer",
        "Calculated number of pods that may be disrupted at this time.",
    ),
    AGE,
];

/// An IntOrString as `IntOrString.String()` prints it, `N/A` when unset.
fn int_or_string(o: &Value, path: &[&str]) -> String {
    match get(o, path) {
        Some(Value::String(text)) => text.clone(),
        Some(Value::Number(_)) => int_of(o, path).to_string(),
        _ => "N/A".to_string(),
    }
}

fn pod_disruption_budget(o: &Value, now: i64) -> Vec<Value> {
    vec![
        s(name(o)),
        s(int_or_string(o, &["spec", "minAvailable"])),
        s(int_or_string(o, &["spec", "maxUnavailable"])),
        int(int_of(o, &["status", "disruptionsAllowed"])),
        s(age(o, now)),
    ]
}

const LEASE: &[Col] = &[
    NAME,
    col(
        "Holder",
        "string",
        "holderIdentity contains the identity of the holder of a current lease.",
    ),
    AGE,
];

fn lease(o: &Value, now: i64) -> Vec<Value> {
    vec![
        s(name(o)),
        s(str_of(o, &["spec", "holderIdentity"])),
        s(age(o, now)),
    ]
}

const PRIORITY_CLASS: &[Col] = &[
    NAME,
    col(
        "Value",
        "integer",
        "value represents the integer value of this priority class.",
    ),
    col(
        "Global-Default",
        "boolean",
        "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class.",
    ),
    AGE,
    // Priority 0 in Kubernetes too, but printed only in wide mode, which the server always is.
    col(
        "PreemptionPolicy",
        "string",
        "preemptionPolicy is the Policy for preempting pods with lower priority. One of Never, PreemptLowerPriority. Defaults to PreemptLowerPriority if unset.",
    ),
];

fn priority_class(o: &Value, now: i64) -> Vec<Value> {
    vec![
        s(name(o)),
        int(int_of(o, &["value"])),
        Value::Bool(bool_of(o, &["globalDefault"])),
        s(age(o, now)),
        s(opt_str(o, &["preemptionPolicy"]).unwrap_or("")),
    ]
}

const RUNTIME_CLASS: &[Col] = &[
    NAME,
    // Kubernetes looks this description up in the wrong struct and gets "".
    col("Handler", "string", ""),
    AGE,
];

fn runtime_class(o: &Value, now: i64) -> Vec<Value> {
    vec![s(name(o)), s(str_of(o, &["handler"])), s(age(o, now))]
}

const WEBHOOK_CONFIGURATION: &[Col] = &[
    NAME,
    col(
        "Webhooks",
        "integer",
        "Webhooks indicates the number of webhooks registered in this configuration",
    ),
    AGE,
];

fn webhook_configuration(o: &Value, now: i64) -> Vec<Value> {
    vec![
        s(name(o)),
        count(list_of(o, &["webhooks"]).len()),
        s(age(o, now)),
    ]
}

#[cfg(test)]
mod tests {
    use super::super::{cells, columns};
    use serde_json::json;

    const NOW: i64 = 1_700_000_000;
    const RBAC: &str = "rbac.authorization.k8s.io";

    #[test]
    fn bindings() {
        let names: Vec<(String, i32)> = columns(RBAC, "RoleBinding")
            .into_iter()
            .map(|c| (c.name.to_uppercase(), c.priority))
            .collect();
        assert_eq!(
            names,
            [
                ("NAME".into(), 0),
                ("ROLE".into(), 0),
                ("AGE".into(), 0),
                ("USERS".into(), 1),
                ("GROUPS".into(), 1),
                ("SERVICEACCOUNTS".into(), 1)
            ]
        );
        let rb = json!({
            "metadata": {"name": "admins"},
            "roleRef": {"kind": "ClusterRole", "name": "admin", "apiGroup": "rbac.authorization.k8s.io"},
            "subjects": [{"kind": "User", "name": "alice"}, {"kind": "User", "name": "bob"},
                         {"kind": "Group", "name": "ops"},
                         {"kind": "ServiceAccount", "name": "ci", "namespace": "build"}]
        });
        let row = cells(RBAC, "ClusterRoleBinding", &rb, NOW);
        assert_eq!(
            (&row[1], &row[3], &row[4], &row[5]),
            (
                &json!("ClusterRole/admin"),
                &json!("alice, bob"),
                &json!("ops"),
                &json!("build/ci")
            )
        );
    }

    #[test]
    fn budgets_leases_priorities() {
        let pdb = json!({"metadata": {"name": "web"}, "spec": {"minAvailable": "50%"},
                         "status": {"disruptionsAllowed": 1}});
        assert_eq!(
            cells("policy", "PodDisruptionBudget", &pdb, NOW)[1..4],
            [json!("50%"), json!("N/A"), json!(1)]
        );
        let pdb = json!({"metadata": {"name": "db"}, "spec": {"maxUnavailable": 1}});
        assert_eq!(
            cells("policy", "PodDisruptionBudget", &pdb, NOW)[1..4],
            [json!("N/A"), json!("1"), json!(0)]
        );
        let lease =
            json!({"metadata": {"name": "kube-scheduler"}, "spec": {"holderIdentity": "cp-1_abc"}});
        assert_eq!(
            cells("coordination.k8s.io", "Lease", &lease, NOW)[1],
            json!("cp-1_abc")
        );
        let pc = json!({"metadata": {"name": "system-node-critical"}, "value": 2_000_001_000,
                        "preemptionPolicy": "PreemptLowerPriority"});
        let row = cells("scheduling.k8s.io", "PriorityClass", &pc, NOW);
        assert_eq!(
            (&row[1], &row[2], &row[4]),
            (
                &json!(2_000_001_000),
                &json!(false),
                &json!("PreemptLowerPriority")
            )
        );
    }
}
