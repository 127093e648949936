//! Which nodes a DaemonSet's pods belong on (Kubernetes' `NodeShouldRunDaemonPod`).
//!
//! A node is eligible when the template's `nodeName` (if any) names it, it satisfies the
//! template's `nodeSelector` and required node affinity, and the pod — with the tolerations
//! every daemon pod gets — tolerates all its NoSchedule and NoExecute taints. A pod already on a
//! node that became ineligible only through a NoSchedule taint keeps running there.

use serde_json::{json, Value};

use crate::api::object;
use crate::controller::nodelifecycle::taints::{
    DISK_PRESSURE, MEMORY_PRESSURE, NETWORK_UNAVAILABLE, NOT_READY, PID_PRESSURE, UNREACHABLE,
    UNSCHEDULABLE,
};
use crate::scheduler::affinity::NodeAffinity;
use crate::scheduler::taints::{tolerated, tolerations, Taint, Toleration};

/// Add the tolerations Kubernetes gives every DaemonSet pod to a pod spec
/// (`AddOrUpdateDaemonPodTolerations`): node problems never evict or keep out a daemon.
pub fn add_daemon_tolerations(spec: &mut Value) {
    let mut wanted = vec![
        (NOT_READY, "NoExecute"),
        (UNREACHABLE, "NoExecute"),
        (DISK_PRESSURE, "NoSchedule"),
        (MEMORY_PRESSURE, "NoSchedule"),
        (PID_PRESSURE, "NoSchedule"),
        (UNSCHEDULABLE, "NoSchedule"),
    ];
    if spec.get("hostNetwork").and_then(Value::as_bool) == Some(true) {
        wanted.push((NETWORK_UNAVAILABLE, "NoSchedule"));
    }
    for (key, effect) in wanted {
        add_or_update_toleration(
            spec,
            json!({"key": key, "operator": "Exists", "effect": effect}),
        );
    }
}

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

/// Replace a toleration with the same key, operator, value and effect (so a user's
/// `tolerationSeconds` on it is dropped), or append it.
fn add_or_update_toleration(spec: &mut Value, t: Value) {
    let Some(spec) = spec.as_object_mut() else {
        return;
    };
    let list = spec.entry("tolerations").or_insert_with(|| json!([]));
    if !list.is_array() {
        *list = json!([]);
    }
    let Some(list) = list.as_array_mut() else {
        return;
    };
    let same = |a: &Value| {
        ["key", "operator", "value", "effect"]
            .iter()
            .all(|k| str_of(a, k) == str_of(&t, k))
    };
    match list.iter_mut().find(|a| same(a)) {
        Some(existing) => *existing = t,
        None => list.push(t),
    }
}

fn node_taints(node: &Value) -> Vec<Taint> {
    // Only the node's own taints: the scheduler's implicit not-ready taint is not one the
    // DaemonSet controller considers.
    let list = node
        .pointer("/spec/taints")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    list.iter()
        .map(|t| Taint {
            key: str_of(t, "key").into(),
            value: str_of(t, "value").into(),
            effect: str_of(t, "effect").into(),
        })
        .collect()
}

/// Where a DaemonSet may run: (`should_run`, `should_continue_running`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// A pod should be created if the node has none.
    pub run: bool,
    /// A pod already there may stay.
    pub keep: bool,
}

impl Verdict {
    pub const RUN: Verdict = Verdict {
        run: true,
        keep: true,
    };
    /// Only NoSchedule taints keep new pods out: a running one stays.
    pub const KEEP: Verdict = Verdict {
        run: false,
        keep: true,
    };
    pub const NEVER: Verdict = Verdict {
        run: false,
        keep: false,
    };
}

/// The eligibility test of one DaemonSet, prepared once for many nodes. Node affinity and
/// toleration matching are the scheduler's, so both always agree.
pub struct Eligibility {
    node_name: String,
    affinity: NodeAffinity,
    tolerations: Vec<Toleration>,
}

impl Eligibility {
    pub fn new(ds: &Value) -> Eligibility {
        let mut spec = ds
            .pointer("/spec/template/spec")
            .cloned()
            .unwrap_or_else(|| json!({}));
        add_daemon_tolerations(&mut spec);
        Eligibility {
            node_name: str_of(&spec, "nodeName").to_string(),
            affinity: NodeAffinity::from_spec(&spec),
            tolerations: tolerations(&spec),
        }
    }

    pub fn check(&self, node: &Value) -> Verdict {
        let name = object::name(node);
        if !self.node_name.is_empty() && self.node_name != name {
            return Verdict::NEVER;
        }
        if !self.affinity.required_match(name, object::labels(node)) {
            return Verdict::NEVER;
        }
        let taints = node_taints(node);
        let untolerated = |effects: &[&str]| {
            taints
                .iter()
                .any(|t| effects.contains(&t.effect.as_str()) && !tolerated(&self.tolerations, t))
        };
        match (
            untolerated(&["NoSchedule", "NoExecute"]),
            untolerated(&["NoExecute"]),
        ) {
            (false, _) => Verdict::RUN,
            (true, false) => Verdict::KEEP,
            (true, true) => Verdict::NEVER,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, labels: Value, taints: Value) -> Value {
        json!({"metadata": {"name": name, "labels": labels}, "spec": {"taints": taints}})
    }

    const RUN: Verdict = Verdict::RUN;
    const KEEP: Verdict = Verdict::KEEP;
    const NEVER: Verdict = Verdict::NEVER;

    fn ds(spec: Value) -> Value {
        json!({"spec": {"template": {"spec": spec}}})
    }

    #[test]
    fn untainted_nodes_are_eligible_and_foreign_taints_are_not() {
        let e = Eligibility::new(&ds(json!({"containers": []})));
        assert_eq!(e.check(&node("n1", json!({}), json!([]))), RUN);
        let no_schedule = node(
            "n3",
            json!({}),
            json!([{"key": "dedicated", "value": "x", "effect": "NoSchedule"}]),
        );
        assert_eq!(e.check(&no_schedule), KEEP);
        let no_execute = node(
            "n3",
            json!({}),
            json!([{"key": "dedicated", "value": "x", "effect": "NoExecute"}]),
        );
        assert_eq!(e.check(&no_execute), NEVER);
        let prefer = node(
            "n3",
            json!({}),
            json!([{"key": "dedicated", "effect": "PreferNoSchedule"}]),
        );
        assert!(e.check(&prefer).run);
    }

    #[test]
    fn daemon_pods_tolerate_node_problem_taints() {
        let e = Eligibility::new(&ds(json!({})));
        for (key, effect) in [
            (NOT_READY, "NoExecute"),
            (UNREACHABLE, "NoExecute"),
            (DISK_PRESSURE, "NoSchedule"),
            (MEMORY_PRESSURE, "NoSchedule"),
            (PID_PRESSURE, "NoSchedule"),
            (UNSCHEDULABLE, "NoSchedule"),
        ] {
            assert!(
                e.check(&node(
                    "n",
                    json!({}),
                    json!([{"key": key, "effect": effect}])
                ))
                .run,
                "{key}"
            );
        }
        let net = json!([{"key": NETWORK_UNAVAILABLE, "effect": "NoSchedule"}]);
        assert!(!e.check(&node("n", json!({}), net.clone())).run);
        let host = Eligibility::new(&ds(json!({"hostNetwork": true})));
        assert!(host.check(&node("n", json!({}), net)).run);
    }

    #[test]
    fn user_tolerations_are_matched_and_replaced() {
        let e = Eligibility::new(&ds(json!({"tolerations": [
            {"key": "dedicated", "operator": "Equal", "value": "x", "effect": "NoSchedule"},
            {"key": NOT_READY, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]})));
        assert!(
            e.check(&node(
                "n",
                json!({}),
                json!([{"key": "dedicated", "value": "x", "effect": "NoSchedule"}])
            ))
            .run
        );
        assert!(
            !e.check(&node(
                "n",
                json!({}),
                json!([{"key": "dedicated", "value": "y", "effect": "NoSchedule"}])
            ))
            .run
        );
        let mut spec = json!({"tolerations": [
            {"key": NOT_READY, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}]});
        add_daemon_tolerations(&mut spec);
        let t = spec["tolerations"].as_array().unwrap();
        assert_eq!(t.len(), 6);
        assert!(t[0].get("tolerationSeconds").is_none());
        let everything = Eligibility::new(&ds(json!({"tolerations": [{"operator": "Exists"}]})));
        assert!(
            everything
                .check(&node(
                    "n",
                    json!({}),
                    json!([{"key": "a", "value": "b", "effect": "NoExecute"}])
                ))
                .run
        );
    }

    #[test]
    fn node_selector_and_required_affinity() {
        let e = Eligibility::new(&ds(json!({"nodeSelector": {"disk": "ssd"}})));
        assert!(e.check(&node("n", json!({"disk": "ssd"}), json!([]))).run);
        assert_eq!(
            e.check(&node("n", json!({"disk": "hdd"}), json!([]))),
            NEVER
        );
        let aff = |terms: Value| {
            ds(
                json!({"affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": terms}}}}),
            )
        };
        let e = Eligibility::new(&aff(json!([
            {"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a", "b"]},
                                  {"key": "cores", "operator": "Gt", "values": ["4"]}]},
            {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["special"]}]}])));
        assert!(
            e.check(&node("n", json!({"zone": "a", "cores": "8"}), json!([])))
                .run
        );
        assert!(
            !e.check(&node("n", json!({"zone": "a", "cores": "2"}), json!([])))
                .run
        );
        assert!(
            !e.check(&node("n", json!({"zone": "c", "cores": "8"}), json!([])))
                .run
        );
        assert!(e.check(&node("special", json!({}), json!([]))).run);
        let e = Eligibility::new(&aff(
            json!([{"matchExpressions": [{"key": "gpu", "operator": "DoesNotExist"}]}]),
        ));
        assert!(e.check(&node("n", json!({}), json!([]))).run);
        assert!(!e.check(&node("n", json!({"gpu": "1"}), json!([]))).run);
        let e = Eligibility::new(&aff(json!([{}])));
        assert!(!e.check(&node("n", json!({}), json!([]))).run);
        let e = Eligibility::new(&ds(json!({"nodeName": "n2"})));
        assert!(!e.check(&node("n1", json!({}), json!([]))).run);
        assert!(e.check(&node("n2", json!({}), json!([]))).run);
    }
}
