//! The core DaemonSet loop as a pure decision (`manage` / `podsShouldBeOnNode`): which
//! eligible nodes lack a daemon pod, and which pods must go — finished ones, extra ones, ones
//! on nodes no longer eligible, and unscheduled ones meant for nodes that no longer exist.
//!
//! Contract: a node holding a terminating pod gets no new pod until that pod is gone (unless
//! the DaemonSet surges); without surge only the oldest live pod of a node is kept; with surge
//! one old and one updated pod may coexist until the updated one is available.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde_json::Value;

use super::rolling::allows_surge;
use super::view::View;
use crate::api::object;
use crate::controller::history::hash_label;
use crate::controller::podutil::{is_available, is_ready, node_name, phase};
use crate::controller::workload::is_deleting;

/// Why a daemon pod is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Failed: replaced, subject to a per-node backoff.
    Failed,
    /// Completed: replaced.
    Succeeded,
    /// More than one live pod on the node.
    Excess,
    /// The node is no longer eligible.
    Ineligible,
    /// Unscheduled and meant for a node that is gone.
    NodeGone,
}

#[derive(Debug, Clone)]
pub struct Deletion {
    pub pod: Arc<Value>,
    pub node: String,
    pub reason: Reason,
}

#[derive(Debug, Default)]
pub struct Plan {
    /// Nodes that need a daemon pod.
    pub create_on: Vec<String>,
    pub delete: Vec<Deletion>,
}

/// Decide creations and deletions. `by_node` holds every claimed pod (including finished and
/// terminating ones) grouped by target node, oldest first.
pub fn plan(v: &View, by_node: &BTreeMap<String, Vec<Arc<Value>>>) -> Plan {
    let surge = allows_surge(v.ds);
    let mut out = Plan::default();
    for node in v.nodes {
        let name = object::name(node);
        let verdict = v.elig.check(node);
        let pods = by_node.get(name);
        let del = |pod: &Arc<Value>, reason| Deletion {
            pod: pod.clone(),
            node: name.to_string(),
            reason,
        };
        match pods {
            None if verdict.run => out.create_on.push(name.to_string()),
            Some(pods) if verdict.keep => {
                let mut live = Vec::new();
                for p in pods.iter().filter(|p| !is_deleting(p)) {
                    match phase(p) {
                        "Failed" => out.delete.push(del(p, Reason::Failed)),
                        "Succeeded" => out.delete.push(del(p, Reason::Succeeded)),
                        _ => live.push(p),
                    }
                }
                if !surge {
                    out.delete
                        .extend(live.iter().skip(1).map(|p| del(p, Reason::Excess)));
                    continue;
                }
                if live.is_empty() && verdict.run {
                    out.create_on.push(name.to_string());
                    continue;
                }
                if live.len() <= 1 {
                    continue;
                }
                // Surging: keep the oldest updated and the oldest old pod; the old one goes once
                // it is not ready or the updated one is available.
                let (mut newest, mut oldest_old) = (None, None);
                for p in &live {
                    let slot = if hash_label(p) == Some(v.hash) {
                        &mut newest
                    } else {
                        &mut oldest_old
                    };
                    if slot.is_none() {
                        *slot = Some(*p);
                    } else {
                        out.delete.push(del(p, Reason::Excess));
                    }
                }
                if let (Some(new), Some(old)) = (newest, oldest_old) {
                    if !is_ready(old) || is_available(new, v.min_ready(), v.now) {
                        out.delete.push(del(old, Reason::Excess));
                    }
                }
            }
            Some(pods) if !verdict.keep => {
                out.delete.extend(
                    pods.iter()
                        .filter(|p| !is_deleting(p))
                        .map(|p| del(p, Reason::Ineligible)),
                );
            }
            _ => {}
        }
    }
    let existing: HashSet<&str> = v.nodes.iter().map(|n| object::name(n)).collect();
    for (node, pods) in by_node {
        if existing.contains(node.as_str()) {
            continue;
        }
        for p in pods.iter().filter(|p| node_name(p).is_empty()) {
            out.delete.push(Deletion {
                pod: p.clone(),
                node: node.clone(),
                reason: Reason::NodeGone,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::daemonset::eligibility::Eligibility;
    use crate::controller::daemonset::pods::{by_node, pin_to_node};
    use crate::controller::history::HASH_LABEL;
    use serde_json::json;

    fn node(name: &str, taints: Value) -> Arc<Value> {
        Arc::new(json!({"metadata": {"name": name}, "spec": {"taints": taints}}))
    }

    fn pod(
        name: &str,
        node: &str,
        bound: bool,
        hash: &str,
        created: i64,
        phase: &str,
        ready: bool,
    ) -> Arc<Value> {
        let mut p = json!({"metadata": {"name": name, "labels": {HASH_LABEL: hash},
                                         "creationTimestamp": crate::clock::rfc3339(created)},
                           "spec": {}, "status": {"phase": phase, "conditions": [
                               {"type": "Ready", "status": if ready { "True" } else { "False" },
                                "lastTransitionTime": crate::clock::rfc3339(created)}]}});
        pin_to_node(&mut p["spec"], node);
        if bound {
            p["spec"]["nodeName"] = json!(node);
        }
        Arc::new(p)
    }

    /// Plan at time 10 for a DaemonSet that surges or not.
    fn run(
        nodes: &[Arc<Value>],
        pods: &[Arc<Value>],
        hash: &str,
        surge: bool,
        min_ready: i64,
    ) -> Plan {
        let ds = json!({"spec": {"minReadySeconds": min_ready, "template": {"spec": {}},
            "updateStrategy": {"type": "RollingUpdate",
                               "rollingUpdate": {"maxSurge": i64::from(surge), "maxUnavailable": 0}}}});
        let elig = Eligibility::new(&ds);
        let v = View {
            ds: &ds,
            elig: &elig,
            nodes,
            hash,
            generation: None,
            now: 10,
        };
        plan(&v, &by_node(pods, true))
    }

    fn names(d: &[Deletion]) -> Vec<(&str, Reason)> {
        d.iter().map(|d| (object::name(&d.pod), d.reason)).collect()
    }

    #[test]
    fn one_pod_per_eligible_node() {
        let nodes = vec![
            node("n1", json!([])),
            node("n2", json!([])),
            node(
                "n3",
                json!([{"key": "dedicated", "value": "x", "effect": "NoSchedule"}]),
            ),
        ];
        let pods = vec![pod("a", "n1", true, "h", 0, "Running", true)];
        let p = run(&nodes, &pods, "h", false, 0);
        assert_eq!(p.create_on, vec!["n2".to_string()]);
        assert!(p.delete.is_empty());
    }

    #[test]
    fn deletes_finished_extra_misplaced_and_orphaned_pods() {
        let nodes = vec![
            node("n1", json!([])),
            node("n2", json!([{"key": "k", "effect": "NoExecute"}])),
            node("n3", json!([])),
        ];
        let pods = vec![
            pod("old", "n1", true, "h", 1, "Running", true),
            pod("dup", "n1", true, "h", 2, "Running", true),
            pod("evicted", "n2", true, "h", 1, "Running", true),
            pod("failed", "n3", true, "h", 1, "Failed", false),
            pod("lost", "gone", false, "h", 1, "Pending", false),
        ];
        let p = run(&nodes, &pods, "h", false, 0);
        let mut got = names(&p.delete);
        got.sort_by_key(|(n, _)| *n);
        assert_eq!(
            got,
            vec![
                ("dup", Reason::Excess),
                ("evicted", Reason::Ineligible),
                ("failed", Reason::Failed),
                ("lost", Reason::NodeGone)
            ]
        );
        // The failed pod still occupies n3 until it is gone.
        assert!(p.create_on.is_empty());
    }

    #[test]
    fn no_schedule_taint_keeps_running_pods() {
        let nodes = vec![node("n1", json!([{"key": "k", "effect": "NoSchedule"}]))];
        let pods = vec![pod("a", "n1", true, "h", 1, "Running", true)];
        let p = run(&nodes, &pods, "h", false, 0);
        assert!(p.delete.is_empty() && p.create_on.is_empty());
    }

    #[test]
    fn terminating_pod_blocks_replacement_unless_surging() {
        let nodes = vec![node("n1", json!([]))];
        let mut t = (*pod("t", "n1", true, "h", 1, "Running", true)).clone();
        t["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        let pods = vec![Arc::new(t)];
        let p = run(&nodes, &pods, "h", false, 0);
        assert!(p.create_on.is_empty() && p.delete.is_empty());
        let p = run(&nodes, &pods, "h", true, 0);
        assert_eq!(p.create_on, vec!["n1".to_string()]);
    }

    #[test]
    fn surge_replaces_old_pod_once_new_one_is_available() {
        let nodes = vec![node("n1", json!([]))];
        let old = pod("old", "n1", true, "h1", 1, "Running", true);
        let new_unready = pod("new", "n1", true, "h2", 5, "Running", false);
        let p = run(&nodes, &[old.clone(), new_unready], "h2", true, 0);
        assert!(p.delete.is_empty());
        let new_ready = pod("new", "n1", true, "h2", 5, "Running", true);
        let p = run(&nodes, &[old.clone(), new_ready.clone()], "h2", true, 10);
        assert!(p.delete.is_empty(), "not available for minReadySeconds yet");
        let p = run(&nodes, &[old, new_ready], "h2", true, 0);
        assert_eq!(names(&p.delete), vec![("old", Reason::Excess)]);
    }
}
