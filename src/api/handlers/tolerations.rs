//! The `DefaultTolerationSeconds` admission of pods: a pod created without a toleration for the
//! `node.kubernetes.io/not-ready` or `node.kubernetes.io/unreachable` NoExecute taint gets one
//! with `tolerationSeconds` = the server's default (300 s unless
//! `--default-not-ready-toleration-seconds` says otherwise), so the taint eviction controller
//! moves it off a failed node after that time instead of at once.
//!
//! Contract: runs on pod creation only; a toleration counts as covering a taint when its key is
//! the taint's or empty and its effect is NoExecute or empty, as in Kubernetes.

use serde_json::{json, Value};

pub const NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const UNREACHABLE: &str = "node.kubernetes.io/unreachable";

fn covers(toleration: &Value, key: &str) -> bool {
    let k = toleration.get("key").and_then(Value::as_str).unwrap_or("");
    let e = toleration
        .get("effect")
        .and_then(Value::as_str)
        .unwrap_or("");
    (k.is_empty() || k == key) && (e.is_empty() || e == "NoExecute")
}

/// Append the default not-ready and unreachable tolerations a pod lacks.
pub fn add_defaults(pod: &mut Value, seconds: i64) {
    let Some(spec) = pod.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    if !spec.get("tolerations").is_some_and(Value::is_array) {
        spec.insert("tolerations".into(), json!([]));
    }
    let Some(list) = spec.get_mut("tolerations").and_then(Value::as_array_mut) else {
        return;
    };
    for key in [NOT_READY, UNREACHABLE] {
        if !list.iter().any(|t| covers(t, key)) {
            list.push(json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": seconds}));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds_only_missing_tolerations() {
        let mut pod = json!({"spec": {"containers": []}});
        add_defaults(&mut pod, 300);
        let t = pod["spec"]["tolerations"].as_array().unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(
            t[0],
            json!({"key": NOT_READY, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300})
        );
        assert_eq!(t[1]["key"], UNREACHABLE);

        let mut own = json!({"spec": {"tolerations": [
            {"key": UNREACHABLE, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 5}]}});
        add_defaults(&mut own, 300);
        let t = own["spec"]["tolerations"].as_array().unwrap();
        assert_eq!(t.len(), 2);
        assert_eq!(t[0]["tolerationSeconds"], 5);
        assert_eq!(t[1]["key"], NOT_READY);

        let mut all = json!({"spec": {"tolerations": [{"operator": "Exists"}]}});
        add_defaults(&mut all, 300);
        assert_eq!(all["spec"]["tolerations"].as_array().unwrap().len(), 1);

        let mut no_schedule = json!({"spec": {"tolerations": [{"key": NOT_READY, "operator": "Exists", "effect": "NoSchedule"}]}});
        add_defaults(&mut no_schedule, 7);
        assert_eq!(
            no_schedule["spec"]["tolerations"].as_array().unwrap().len(),
            3
        );
    }
}
