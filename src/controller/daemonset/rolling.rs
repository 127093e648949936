//! The DaemonSet RollingUpdate strategy as a pure decision (Kubernetes' `rollingUpdate`).
//!
//! Without surge, old pods are deleted (and recreated by the manage loop at the new revision)
//! while at most `maxUnavailable` nodes lack an available pod; old pods that are unavailable
//! anyway are always replaced. With `maxSurge`, a new pod is started beside an old one on up
//! to `maxSurge` nodes at once (at once on nodes whose old pod is unavailable), and the old pod
//! goes when the new one is available. Both limits resolve percentages against the number of
//! eligible nodes, rounding up; when both resolve to 0, one unavailable node is allowed.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use super::pods::is_updated;
use super::view::View;
use crate::api::object;
use crate::controller::podutil::is_available;
use crate::controller::workload::is_deleting;

/// An int-or-percent value scaled to `total` (`GetScaledValueFromIntOrPercent`).
pub fn scaled(v: Option<&Value>, total: i64, round_up: bool) -> Option<i64> {
    match v {
        None | Some(Value::Null) => Some(0),
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) => {
            let pct: i64 = s.strip_suffix('%')?.parse().ok()?;
            let x = pct * total;
            Some(if round_up {
                (x + 99).div_euclid(100)
            } else {
                x.div_euclid(100)
            })
        }
        _ => None,
    }
}

fn rolling_field<'a>(ds: &'a Value, field: &str) -> Option<&'a Value> {
    if ds
        .pointer("/spec/updateStrategy/type")
        .and_then(Value::as_str)
        != Some("RollingUpdate")
    {
        return None;
    }
    ds.pointer("/spec/updateStrategy/rollingUpdate")?.get(field)
}

/// `maxSurge` for `desired` nodes.
pub fn surge_count(ds: &Value, desired: i64) -> i64 {
    scaled(rolling_field(ds, "maxSurge"), desired, true).unwrap_or(0)
}

/// `maxUnavailable` for `desired` nodes.
pub fn unavailable_count(ds: &Value, desired: i64) -> i64 {
    scaled(rolling_field(ds, "maxUnavailable"), desired, true).unwrap_or(0)
}

/// Whether the DaemonSet may run two pods on a node during an update.
pub fn allows_surge(ds: &Value) -> bool {
    surge_count(ds, 1) != 0
}

/// What one rolling-update step does.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Step {
    /// Old pods to delete, by name.
    pub delete: Vec<String>,
    /// Nodes to start an updated pod on beside the old one (surge only).
    pub create_on: Vec<String>,
}

/// The updated and the old non-terminating pod of a node, each possibly absent.
#[derive(Default)]
struct NodePods<'a> {
    new: Option<&'a Arc<Value>>,
    old: Option<&'a Arc<Value>>,
}

/// At most one old and one updated non-terminating pod of a node; `None` when there are more
/// (the manage loop prunes them first).
fn split<'a>(pods: &'a [Arc<Value>], hash: &str, generation: Option<i64>) -> Option<NodePods<'a>> {
    let NodePods { mut new, mut old } = NodePods::default();
    for p in pods.iter().filter(|p| !is_deleting(p)) {
        let slot = if is_updated(p, hash, generation) {
            &mut new
        } else {
            &mut old
        };
        if slot.is_some() {
            return None;
        }
        *slot = Some(p);
    }
    Some(NodePods { new, old })
}

/// One rolling-update step. `by_node` holds active claimed pods grouped by node.
pub fn step(v: &View, by_node: &BTreeMap<String, Vec<Arc<Value>>>) -> Step {
    let View {
        ds,
        elig,
        nodes,
        hash,
        generation,
        now,
    } = *v;
    let available = |p: &Value| is_available(p, v.min_ready(), now);
    // Every eligible node counts, with or without pods.
    let mut groups: BTreeMap<&str, &[Arc<Value>]> = by_node
        .iter()
        .map(|(n, p)| (n.as_str(), p.as_slice()))
        .collect();
    let mut desired = 0;
    let node_by_name: BTreeMap<&str, &Arc<Value>> =
        nodes.iter().map(|n| (object::name(n), n)).collect();
    for n in nodes {
        if elig.check(n).run {
            desired += 1;
            groups.entry(object::name(n)).or_insert(&[]);
        }
    }
    let mut max_unavailable = unavailable_count(ds, desired);
    let max_surge = surge_count(ds, desired);
    if desired > 0 && max_unavailable == 0 && max_surge == 0 {
        max_unavailable = 1;
    }
    let mut out = Step::default();
    if max_surge == 0 {
        let (mut unavailable, mut candidates) = (0, Vec::new());
        for pods in groups.values() {
            let Some(NodePods { new, old }) = split(pods, hash, generation) else {
                unavailable += 1;
                continue;
            };
            match (new, old) {
                (None, None) | (Some(_), Some(_)) => unavailable += 1,
                (Some(new), None) => unavailable += i64::from(!available(new)),
                (None, Some(old)) if !available(old) => {
                    out.delete.push(object::name(old).to_string());
                    unavailable += 1;
                }
                (None, Some(old)) => candidates.push(object::name(old).to_string()),
            }
        }
        let room = (max_unavailable - unavailable).clamp(0, candidates.len() as i64) as usize;
        out.delete.extend(candidates.into_iter().take(room));
        return out;
    }
    let (mut surging, mut available_nodes) = (0, 0);
    let (mut candidates, mut leaving) = (Vec::new(), Vec::new());
    for (node, pods) in &groups {
        let Some(NodePods { new, old }) = split(pods, hash, generation) else {
            surging += 1;
            continue;
        };
        if old.or(new).is_some_and(|p| available(p)) {
            available_nodes += 1;
        }
        let eligible = node_by_name.get(node).is_some_and(|n| elig.check(n).run);
        match (new, old) {
            (_, None) => {}
            (None, Some(old)) if !available(old) => {
                if eligible {
                    out.create_on.push(node.to_string());
                } else {
                    out.delete.push(object::name(old).to_string());
                }
            }
            (None, Some(old)) => {
                if !eligible {
                    leaving.push(object::name(old).to_string());
                } else if surging < max_surge {
                    candidates.push(node.to_string());
                }
            }
            (Some(new), Some(_)) if !available(new) => surging += 1,
            (Some(_), Some(old)) => out.delete.push(object::name(old).to_string()),
        }
    }
    // Pods on nodes that stopped being eligible go only while enough others are available.
    let deletable = (available_nodes - desired).clamp(0, leaving.len() as i64) as usize;
    out.delete.extend(leaving.into_iter().take(deletable));
    let room = (max_surge - surging).clamp(0, candidates.len() as i64) as usize;
    out.create_on.extend(candidates.into_iter().take(room));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::daemonset::eligibility::Eligibility;
    use crate::controller::daemonset::pods::{by_node, pin_to_node};
    use crate::controller::history::HASH_LABEL;
    use serde_json::json;

    fn ds(max_unavailable: Value, max_surge: Value) -> Value {
        json!({"spec": {"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {
            "maxUnavailable": max_unavailable, "maxSurge": max_surge}}, "template": {"spec": {}}}})
    }

    fn nodes(n: usize) -> Vec<Arc<Value>> {
        (1..=n)
            .map(|i| Arc::new(json!({"metadata": {"name": format!("n{i}")}})))
            .collect()
    }

    fn pod(name: &str, node: &str, hash: &str, ready: bool) -> Arc<Value> {
        let mut p = json!({"metadata": {"name": name, "labels": {HASH_LABEL: hash}},
                           "spec": {"nodeName": node}, "status": {"phase": "Running", "conditions": [
                               {"type": "Ready", "status": if ready { "True" } else { "False" }}]}});
        pin_to_node(&mut p["spec"], node);
        Arc::new(p)
    }

    /// One step at time 0 on nodes n1..=n`nodes`, the current hash being "new".
    fn run(d: &Value, nodes_n: usize, pods: &[Arc<Value>]) -> Step {
        let e = Eligibility::new(d);
        let ns = nodes(nodes_n);
        let v = View {
            ds: d,
            elig: &e,
            nodes: &ns,
            hash: "new",
            generation: None,
            now: 0,
        };
        step(&v, &by_node(pods, false))
    }

    #[test]
    fn scales_int_or_percent() {
        assert_eq!(scaled(Some(&json!(2)), 10, true), Some(2));
        assert_eq!(scaled(Some(&json!("25%")), 10, true), Some(3));
        assert_eq!(scaled(Some(&json!("25%")), 10, false), Some(2));
        assert_eq!(scaled(None, 10, true), Some(0));
        assert_eq!(scaled(Some(&json!("x")), 10, true), None);
        assert!(allows_surge(&ds(json!(0), json!(1))));
        assert!(!allows_surge(&ds(json!(1), json!(0))));
        let on_delete = json!({"spec": {"updateStrategy": {"type": "OnDelete"}}});
        assert_eq!(unavailable_count(&on_delete, 5), 0);
    }

    #[test]
    fn deletes_old_pods_within_max_unavailable() {
        let d = ds(json!(1), json!(0));
        let pods = vec![
            pod("a", "n1", "old", true),
            pod("b", "n2", "old", true),
            pod("c", "n3", "old", true),
        ];
        let s = run(&d, 3, &pods);
        assert_eq!(s.delete, vec!["a".to_string()]);
        // n1 is being replaced (no pod yet): nothing more may go.
        let pods = vec![pod("b", "n2", "old", true), pod("c", "n3", "old", true)];
        let s = run(&d, 3, &pods);
        assert!(s.delete.is_empty());
        // Unavailable old pods are replaced regardless of the budget.
        let pods = vec![
            pod("a2", "n1", "new", false),
            pod("b", "n2", "old", false),
            pod("c", "n3", "old", true),
        ];
        let s = run(&d, 3, &pods);
        assert_eq!(s.delete, vec!["b".to_string()]);
        let d = ds(json!("100%"), json!(0));
        let pods = vec![pod("a", "n1", "old", true), pod("b", "n2", "old", true)];
        let s = run(&d, 2, &pods);
        assert_eq!(s.delete.len(), 2);
    }

    #[test]
    fn surges_then_removes_old_pods() {
        let d = ds(json!(0), json!(1));
        let pods = vec![pod("a", "n1", "old", true), pod("b", "n2", "old", true)];
        let s = run(&d, 2, &pods);
        assert_eq!(
            s,
            Step {
                delete: vec![],
                create_on: vec!["n1".into()]
            }
        );
        let pods = vec![
            pod("a", "n1", "old", true),
            pod("a2", "n1", "new", false),
            pod("b", "n2", "old", true),
        ];
        let s = run(&d, 2, &pods);
        assert_eq!(s, Step::default());
        let pods = vec![
            pod("a", "n1", "old", true),
            pod("a2", "n1", "new", true),
            pod("b", "n2", "old", true),
        ];
        let s = run(&d, 2, &pods);
        assert_eq!(
            s,
            Step {
                delete: vec!["a".into()],
                create_on: vec!["n2".into()]
            }
        );
    }
}
