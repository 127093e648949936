//! Taints and tolerations as Kubernetes matches them (`v1.Toleration.ToleratesTaint`), the
//! well-known taint keys the node lifecycle controller manages, and the verdict of the taint
//! eviction controller for one pod.
//!
//! Contract: pure functions over JSON objects; a taint is `{key, value, effect, timeAdded}` and a
//! toleration `{key, operator, value, effect, tolerationSeconds}` with Kubernetes' defaults
//! (empty operator = `Equal`, empty key with `Exists` = every key, empty effect = every effect).

use serde_json::Value;

use crate::scheduler::taints::{Taint, Toleration};

use crate::clock::parse_rfc3339;

// The two taints pods get default tolerations for at admission.
pub use crate::api::handlers::tolerations::{NOT_READY, UNREACHABLE};
pub const UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";
pub const MEMORY_PRESSURE: &str = "node.kubernetes.io/memory-pressure";
pub const DISK_PRESSURE: &str = "node.kubernetes.io/disk-pressure";
pub const PID_PRESSURE: &str = "node.kubernetes.io/pid-pressure";
pub const NETWORK_UNAVAILABLE: &str = "node.kubernetes.io/network-unavailable";
/// Set by an administrator on a node that is shut down for good: its terminating pods may be
/// force-deleted (non-graceful node shutdown).
pub const OUT_OF_SERVICE: &str = "node.kubernetes.io/out-of-service";

pub const NO_EXECUTE: &str = "NoExecute";
pub const NO_SCHEDULE: &str = "NoSchedule";

fn field<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k).and_then(Value::as_str).unwrap_or("")
}

pub fn key(taint: &Value) -> &str {
    field(taint, "key")
}

pub fn effect(taint: &Value) -> &str {
    field(taint, "effect")
}

/// When the taint was put on the node (only NoExecute taints carry it).
pub fn time_added(taint: &Value) -> Option<i64> {
    taint
        .get("timeAdded")
        .and_then(Value::as_str)
        .and_then(parse_rfc3339)
}

/// Every taint of a node.
pub fn node_taints(node: &Value) -> &[Value] {
    node.pointer("/spec/taints")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The NoExecute taints of a node.
pub fn no_execute(node: &Value) -> Vec<&Value> {
    node_taints(node)
        .iter()
        .filter(|t| effect(t) == NO_EXECUTE)
        .collect()
}

/// Every toleration of a pod.
pub fn pod_tolerations(pod: &Value) -> &[Value] {
    pod.pointer("/spec/tolerations")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Whether `toleration` tolerates `taint` (the scheduler's rule, so both always agree).
pub fn tolerates(toleration: &Value, taint: &Value) -> bool {
    Toleration::from_json(toleration).is_some_and(|t| t.tolerates(&Taint::from_json(taint)))
}

/// What a pod on a node with NoExecute taints is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Every taint is tolerated for ever (or there is none).
    Stay,
    /// Every taint is tolerated, the shortest toleration lasts this many seconds.
    EvictAfter(i64),
    /// Some taint is not tolerated (or a toleration lasts no time at all).
    EvictNow,
}

/// The verdict for a pod with `tolerations` on a node with NoExecute `taints`: each taint is
/// matched by the first toleration that tolerates it, and the shortest `tolerationSeconds`
/// among those decides (Kubernetes' `GetMatchingTolerations` + `getMinTolerationTime`).
pub fn verdict(tolerations: &[Value], taints: &[&Value]) -> Verdict {
    let mut min: Option<i64> = None;
    for taint in taints {
        let Some(t) = tolerations.iter().find(|t| tolerates(t, taint)) else {
            return Verdict::EvictNow;
        };
        if let Some(secs) = t.get("tolerationSeconds").and_then(Value::as_i64) {
            if secs <= 0 {
                return Verdict::EvictNow;
            }
            min = Some(min.map_or(secs, |m| m.min(secs)));
        }
    }
    match min {
        Some(s) => Verdict::EvictAfter(s),
        None => Verdict::Stay,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn matches_tolerations_like_kubernetes() {
        let taint = json!({"key": "k", "value": "v", "effect": "NoExecute"});
        assert!(tolerates(&json!({"key": "k", "value": "v"}), &taint));
        assert!(tolerates(
            &json!({"key": "k", "operator": "Equal", "value": "v", "effect": "NoExecute"}),
            &taint
        ));
        assert!(!tolerates(&json!({"key": "k", "value": "w"}), &taint));
        assert!(tolerates(
            &json!({"key": "k", "operator": "Exists"}),
            &taint
        ));
        assert!(tolerates(&json!({"operator": "Exists"}), &taint));
        assert!(!tolerates(
            &json!({"operator": "Exists", "effect": "NoSchedule"}),
            &taint
        ));
        assert!(!tolerates(
            &json!({"key": "other", "operator": "Exists"}),
            &taint
        ));
        assert!(!tolerates(
            &json!({"key": "k", "operator": "Lt", "value": "v"}),
            &taint
        ));
    }

    #[test]
    fn verdicts_follow_the_shortest_toleration() {
        let unreachable = json!({"key": UNREACHABLE, "effect": NO_EXECUTE});
        let custom = json!({"key": "c", "value": "x", "effect": NO_EXECUTE});
        let tol = |k: &str, secs: Option<i64>| {
            let mut t = json!({"key": k, "operator": "Exists", "effect": NO_EXECUTE});
            if let Some(s) = secs {
                t["tolerationSeconds"] = json!(s);
            }
            t
        };
        assert_eq!(verdict(&[], &[]), Verdict::Stay);
        assert_eq!(verdict(&[], &[&unreachable]), Verdict::EvictNow);
        assert_eq!(
            verdict(&[tol(UNREACHABLE, Some(300))], &[&unreachable]),
            Verdict::EvictAfter(300)
        );
        assert_eq!(
            verdict(&[tol(UNREACHABLE, None)], &[&unreachable]),
            Verdict::Stay
        );
        assert_eq!(
            verdict(&[tol(UNREACHABLE, Some(0))], &[&unreachable]),
            Verdict::EvictNow
        );
        assert_eq!(
            verdict(&[tol(UNREACHABLE, Some(300))], &[&unreachable, &custom]),
            Verdict::EvictNow
        );
        assert_eq!(
            verdict(
                &[tol(UNREACHABLE, Some(300)), tol("c", Some(20))],
                &[&unreachable, &custom]
            ),
            Verdict::EvictAfter(20)
        );
        assert_eq!(
            verdict(
                &[tol(UNREACHABLE, Some(300)), tol("c", None)],
                &[&unreachable, &custom]
            ),
            Verdict::EvictAfter(300)
        );
    }
}
