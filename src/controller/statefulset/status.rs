//! StatefulSet status (Kubernetes' `updateStatus` + `completeRollingUpdate`), what `kubectl
//! rollout status sts/x` reads: pod counts by readiness, availability and revision, the
//! current and update revision names and the collision count. A RollingUpdate is complete when
//! every pod is updated and ready; the update revision then becomes the current one.

use std::sync::Arc;

use serde_json::{json, Value};

use super::identity::{ordinal, revision};
use super::plan::{running_and_available, running_and_ready};
use crate::api::object;
use crate::controller::workload::{is_deleting, min_ready_seconds};

/// Status of `set` from its claimed pods, given the current and update revision names.
pub fn compute(
    set: &Value,
    pods: &[Arc<Value>],
    current: &str,
    update: &str,
    collision_count: i64,
    now: i64,
) -> Value {
    let min_ready = min_ready_seconds(set);
    let (mut replicas, mut ready, mut available, mut current_n, mut updated) = (0, 0, 0, 0, 0);
    for p in pods.iter().filter(|p| ordinal(p).is_some()) {
        replicas += 1;
        if running_and_ready(p) {
            ready += 1;
            available += i64::from(running_and_available(p, min_ready, now));
        }
        if !is_deleting(p) {
            current_n += i64::from(revision(p) == current);
            updated += i64::from(revision(p) == update);
        }
    }
    let rolling = set
        .pointer("/spec/updateStrategy/type")
        .and_then(Value::as_str)
        .unwrap_or("RollingUpdate")
        == "RollingUpdate";
    let (current, current_n) = if rolling && updated == replicas && ready == replicas {
        (update, updated)
    } else {
        (current, current_n)
    };
    json!({
        "observedGeneration": object::meta(set).and_then(|m| m.get("generation")).cloned().unwrap_or(json!(1)),
        "replicas": replicas,
        "readyReplicas": ready,
        "availableReplicas": available,
        "currentReplicas": current_n,
        "updatedReplicas": updated,
        "currentRevision": current,
        "updateRevision": update,
        "collisionCount": collision_count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::history::HASH_LABEL;

    fn pod(name: &str, rev: &str, ready: bool, deleting: bool) -> Arc<Value> {
        let mut p = json!({"metadata": {"name": name, "labels": {HASH_LABEL: rev}},
                           "status": {"phase": "Running", "conditions": [
                               {"type": "Ready", "status": if ready { "True" } else { "False" }}]}});
        if deleting {
            p["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        Arc::new(p)
    }

    #[test]
    fn counts_and_completes_rolling_updates() {
        let set = json!({"metadata": {"generation": 4}, "spec": {"updateStrategy": {"type": "RollingUpdate"}}});
        let pods = [
            pod("web-0", "r1", true, false),
            pod("web-1", "r2", false, false),
            pod("web-2", "r1", true, true),
        ];
        let s = compute(&set, &pods, "r1", "r2", 0, 0);
        assert_eq!(s["replicas"], 3);
        assert_eq!(s["readyReplicas"], 2);
        assert_eq!(s["availableReplicas"], 2);
        assert_eq!(s["currentReplicas"], 1);
        assert_eq!(s["updatedReplicas"], 1);
        assert_eq!(s["currentRevision"], "r1");
        assert_eq!(s["observedGeneration"], 4);
        let done = [
            pod("web-0", "r2", true, false),
            pod("web-1", "r2", true, false),
        ];
        let s = compute(&set, &done, "r1", "r2", 0, 0);
        assert_eq!(
            (s["currentRevision"].as_str(), s["currentReplicas"].as_i64()),
            (Some("r2"), Some(2))
        );
        let on_delete = json!({"spec": {"updateStrategy": {"type": "OnDelete"}}});
        assert_eq!(
            compute(&on_delete, &done, "r1", "r2", 0, 0)["currentRevision"],
            "r1"
        );
    }
}
