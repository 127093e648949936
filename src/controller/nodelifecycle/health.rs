//! Node health as the node lifecycle controller judges it: when the kubelet was last heard
//! from, the conditions a silent node is given, and the taints a node's conditions call for.
//!
//! Contract: pure functions of a Node (and its Lease) and the current time; they return the
//! new conditions or taints only when something must change, so the caller writes nothing on
//! a healthy, unchanged node.

use serde_json::{json, Value};

use super::taints::{self, NO_EXECUTE, NO_SCHEDULE};
use crate::api::object;
use crate::clock::{parse_rfc3339, rfc3339};

/// Conditions the kubelet posts and the controller turns Unknown when it falls silent.
const KUBELET_CONDITIONS: [&str; 4] = ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"];

/// Taints this controller owns: it adds and removes them, and leaves every other taint alone.
const MANAGED: [(&str, &str); 9] = [
    (taints::NOT_READY, NO_EXECUTE),
    (taints::UNREACHABLE, NO_EXECUTE),
    (taints::NOT_READY, NO_SCHEDULE),
    (taints::UNREACHABLE, NO_SCHEDULE),
    (taints::UNSCHEDULABLE, NO_SCHEDULE),
    (taints::MEMORY_PRESSURE, NO_SCHEDULE),
    (taints::DISK_PRESSURE, NO_SCHEDULE),
    (taints::PID_PRESSURE, NO_SCHEDULE),
    (taints::NETWORK_UNAVAILABLE, NO_SCHEDULE),
];

fn condition<'a>(node: &'a Value, ty: &str) -> Option<&'a Value> {
    node.pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(ty))
}

/// `True`, `False` or `Unknown` (also when the condition is missing).
pub fn condition_status<'a>(node: &'a Value, ty: &str) -> &'a str {
    condition(node, ty)
        .and_then(|c| c.get("status"))
        .and_then(Value::as_str)
        .unwrap_or("Unknown")
}

pub fn ready_status(node: &Value) -> &str {
    condition_status(node, "Ready")
}

/// When the kubelet was last heard from: the latest of the Lease's `renewTime`, the Ready
/// condition's `lastHeartbeatTime` and, for a node that never posted either, its creation.
pub fn last_heartbeat(node: &Value, lease: Option<&Value>) -> i64 {
    let renew = lease
        .and_then(|l| l.pointer("/spec/renewTime"))
        .and_then(Value::as_str)
        .and_then(parse_rfc3339);
    let posted = condition(node, "Ready")
        .and_then(|c| c.get("lastHeartbeatTime"))
        .and_then(Value::as_str)
        .and_then(parse_rfc3339);
    let created = object::meta_str(node, "creationTimestamp").and_then(parse_rfc3339);
    [renew, posted, created]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(0)
}

/// The conditions of a node whose kubelet stopped posting: every kubelet condition becomes
/// Unknown (`NodeStatusUnknown`, or `NodeStatusNeverUpdated` when it was never posted).
/// `None` when they all already are.
pub fn silent_conditions(node: &Value, now: i64) -> Option<Vec<Value>> {
    let mut conds = node
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut changed = false;
    let t = rfc3339(now);
    for ty in KUBELET_CONDITIONS {
        match conds
            .iter_mut()
            .find(|c| c.get("type").and_then(Value::as_str) == Some(ty))
        {
            Some(c) if c.get("status").and_then(Value::as_str) == Some("Unknown") => {}
            Some(c) => {
                c["status"] = json!("Unknown");
                c["reason"] = json!("NodeStatusUnknown");
                c["message"] = json!("Kubelet stopped posting node status.");
                c["lastTransitionTime"] = json!(t);
                changed = true;
            }
            None => {
                conds.push(json!({
                    "type": ty, "status": "Unknown", "reason": "NodeStatusNeverUpdated",
                    "message": "Kubelet never posted node status.",
                    "lastHeartbeatTime": t, "lastTransitionTime": t,
                }));
                changed = true;
            }
        }
    }
    changed.then_some(conds)
}

/// The managed taints a node should carry: NoExecute and NoSchedule `not-ready` when Ready is
/// False, `unreachable` when Unknown (not when missing); NoSchedule taints for pressure conditions, an unavailable
/// network and `spec.unschedulable` (cordon).
pub fn wanted_taints(node: &Value) -> Vec<(&'static str, &'static str)> {
    let mut out = Vec::new();
    // A node that has not posted Ready yet is left alone until its grace period runs out and
    // the controller itself declares it Unknown.
    match condition(node, "Ready")
        .and_then(|c| c.get("status"))
        .and_then(Value::as_str)
    {
        Some("False") => out.extend([
            (taints::NOT_READY, NO_EXECUTE),
            (taints::NOT_READY, NO_SCHEDULE),
        ]),
        Some("True") | None => {}
        Some(_) => out.extend([
            (taints::UNREACHABLE, NO_EXECUTE),
            (taints::UNREACHABLE, NO_SCHEDULE),
        ]),
    }
    for (cond, taint) in [
        ("MemoryPressure", taints::MEMORY_PRESSURE),
        ("DiskPressure", taints::DISK_PRESSURE),
        ("PIDPressure", taints::PID_PRESSURE),
        ("NetworkUnavailable", taints::NETWORK_UNAVAILABLE),
    ] {
        if condition_status(node, cond) == "True" {
            out.push((taint, NO_SCHEDULE));
        }
    }
    if node.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
        out.push((taints::UNSCHEDULABLE, NO_SCHEDULE));
    }
    out
}

/// The node's taints with the managed ones made to match `wanted` (NoExecute taints stamped
/// with `timeAdded`, which the eviction timers count from); `None` when nothing changes.
pub fn reconcile_taints(
    current: &[Value],
    wanted: &[(&str, &str)],
    now: i64,
) -> Option<Vec<Value>> {
    let managed = |t: &Value| MANAGED.contains(&(taints::key(t), taints::effect(t)));
    let is_wanted = |t: &Value| wanted.contains(&(taints::key(t), taints::effect(t)));
    let mut out: Vec<Value> = current
        .iter()
        .filter(|t| !managed(t) || is_wanted(t))
        .cloned()
        .collect();
    let mut changed = out.len() != current.len();
    for (k, e) in wanted {
        if !out
            .iter()
            .any(|t| taints::key(t) == *k && taints::effect(t) == *e)
        {
            let mut t = json!({"key": k, "effect": e});
            if *e == NO_EXECUTE {
                t["timeAdded"] = json!(rfc3339(now));
            }
            out.push(t);
            changed = true;
        }
    }
    changed.then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_790_000_000;

    fn node(ready: &str) -> Value {
        json!({
            "metadata": {"name": "n1", "creationTimestamp": rfc3339(T0 - 100)},
            "spec": {"taints": [{"key": "user", "value": "x", "effect": "NoSchedule"}]},
            "status": {"conditions": [
                {"type": "MemoryPressure", "status": "False", "lastHeartbeatTime": rfc3339(T0 - 60)},
                {"type": "Ready", "status": ready, "reason": "KubeletReady", "lastHeartbeatTime": rfc3339(T0 - 60)},
            ]},
        })
    }

    #[test]
    fn heartbeat_comes_from_the_lease_when_newer() {
        let n = node("True");
        assert_eq!(last_heartbeat(&n, None), T0 - 60);
        let lease = json!({"spec": {"renewTime": "2026-09-21T14:13:18.123456Z"}});
        let renew = parse_rfc3339("2026-09-21T14:13:18Z").unwrap();
        assert_eq!(last_heartbeat(&n, Some(&lease)), renew.max(T0 - 60));
        let bare = json!({"metadata": {"creationTimestamp": rfc3339(T0)}});
        assert_eq!(last_heartbeat(&bare, None), T0);
    }

    #[test]
    fn silent_nodes_get_unknown_conditions_once() {
        let n = node("True");
        let conds = silent_conditions(&n, T0).expect("changes");
        let ready = conds.iter().find(|c| c["type"] == "Ready").unwrap();
        assert_eq!(ready["status"], "Unknown");
        assert_eq!(ready["reason"], "NodeStatusUnknown");
        assert_eq!(ready["message"], "Kubelet stopped posting node status.");
        assert_eq!(ready["lastHeartbeatTime"], rfc3339(T0 - 60));
        assert_eq!(ready["lastTransitionTime"], rfc3339(T0));
        let disk = conds.iter().find(|c| c["type"] == "DiskPressure").unwrap();
        assert_eq!(disk["reason"], "NodeStatusNeverUpdated");
        assert_eq!(conds.len(), 4);
        let mut again = n.clone();
        again["status"]["conditions"] = json!(conds);
        assert_eq!(silent_conditions(&again, T0 + 5), None);
    }

    #[test]
    fn taints_follow_readiness_and_keep_foreign_ones() {
        let unknown = node("Unknown");
        let wanted = wanted_taints(&unknown);
        assert_eq!(
            wanted,
            vec![
                (taints::UNREACHABLE, NO_EXECUTE),
                (taints::UNREACHABLE, NO_SCHEDULE)
            ]
        );
        let t = reconcile_taints(taints::node_taints(&unknown), &wanted, T0).expect("changes");
        assert_eq!(t.len(), 3);
        assert_eq!(t[0]["key"], "user");
        assert_eq!(t[1]["timeAdded"], rfc3339(T0));
        assert!(t[2].get("timeAdded").is_none());
        assert_eq!(reconcile_taints(&t, &wanted, T0 + 9), None);

        // Ready=False swaps unreachable for not-ready.
        let wanted = wanted_taints(&node("False"));
        let t2 = reconcile_taints(&t, &wanted, T0 + 10).expect("changes");
        let keys: Vec<&str> = t2.iter().map(taints::key).collect();
        assert_eq!(keys, ["user", taints::NOT_READY, taints::NOT_READY]);

        // Recovery removes them all.
        let t3 = reconcile_taints(&t2, &wanted_taints(&node("True")), T0 + 20).expect("changes");
        assert_eq!(t3.len(), 1);
    }

    #[test]
    fn cordon_and_pressure_give_no_schedule_taints() {
        let mut n = node("True");
        n["spec"]["unschedulable"] = json!(true);
        n["status"]["conditions"][0]["status"] = json!("True");
        assert_eq!(
            wanted_taints(&n),
            vec![
                (taints::MEMORY_PRESSURE, NO_SCHEDULE),
                (taints::UNSCHEDULABLE, NO_SCHEDULE)
            ]
        );
    }
}
