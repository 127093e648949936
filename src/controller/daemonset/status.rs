//! DaemonSet status counts (Kubernetes' `updateDaemonSetStatus`), what `kubectl rollout status
//! ds/x` and `kubectl get ds` read.
//!
//! Per eligible node: desired; scheduled when it has an active pod; ready, available and
//! updated judged on its oldest active pod. A pod on an ineligible node is misscheduled.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Value};

use super::pods::is_updated;
use super::view::View;
use crate::api::object;
use crate::controller::podutil::{is_available, is_ready};

/// The status fields the controller owns. `by_node` holds active claimed pods, oldest first.
pub fn compute(v: &View, by_node: &BTreeMap<String, Vec<Arc<Value>>>) -> Value {
    let min_ready = v.min_ready();
    let (mut desired, mut current, mut misscheduled, mut ready, mut updated, mut available) =
        (0, 0, 0, 0, 0, 0);
    for node in v.nodes {
        let oldest = by_node.get(object::name(node)).and_then(|p| p.first());
        if !v.elig.check(node).run {
            misscheduled += i64::from(oldest.is_some());
            continue;
        }
        desired += 1;
        let Some(pod) = oldest else { continue };
        current += 1;
        if is_ready(pod) {
            ready += 1;
            available += i64::from(is_available(pod, min_ready, v.now));
        }
        updated += i64::from(is_updated(pod, v.hash, v.generation));
    }
    json!({
        "observedGeneration": object::meta(v.ds).and_then(|m| m.get("generation")).cloned().unwrap_or(json!(1)),
        "desiredNumberScheduled": desired,
        "currentNumberScheduled": current,
        "numberMisscheduled": misscheduled,
        "numberReady": ready,
        "updatedNumberScheduled": updated,
        "numberAvailable": available,
        "numberUnavailable": desired - available,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::daemonset::eligibility::Eligibility;
    use crate::controller::daemonset::pods::{by_node, pin_to_node};
    use crate::controller::history::HASH_LABEL;

    #[test]
    fn counts_per_node() {
        let ds = json!({"metadata": {"generation": 2}, "spec": {"template": {"spec": {}}}});
        let e = Eligibility::new(&ds);
        let nodes: Vec<Arc<Value>> = vec![
            Arc::new(json!({"metadata": {"name": "n1"}})),
            Arc::new(json!({"metadata": {"name": "n2"}})),
            Arc::new(json!({"metadata": {"name": "n3"}})),
            Arc::new(
                json!({"metadata": {"name": "n4"}, "spec": {"taints": [{"key": "k", "effect": "NoSchedule"}]}}),
            ),
        ];
        let pod = |node: &str, hash: &str, ready: bool| {
            let mut p = json!({"metadata": {"name": format!("p-{node}"), "labels": {HASH_LABEL: hash}},
                               "spec": {"nodeName": node}, "status": {"phase": "Running", "conditions": [
                                   {"type": "Ready", "status": if ready { "True" } else { "False" }}]}});
            pin_to_node(&mut p["spec"], node);
            Arc::new(p)
        };
        let pods = vec![
            pod("n1", "h", true),
            pod("n2", "old", false),
            pod("n4", "h", true),
        ];
        let v = View {
            ds: &ds,
            elig: &e,
            nodes: &nodes,
            hash: "h",
            generation: None,
            now: 0,
        };
        let s = compute(&v, &by_node(&pods, false));
        assert_eq!(
            s,
            json!({"observedGeneration": 2, "desiredNumberScheduled": 3, "currentNumberScheduled": 2,
                             "numberMisscheduled": 1, "numberReady": 1, "updatedNumberScheduled": 1,
                             "numberAvailable": 1, "numberUnavailable": 2})
        );
    }
}
