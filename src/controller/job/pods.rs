//! Facts about a Job's pods: the tracking finalizer, completion indexes, when a pod finished,
//! and building a pod from the Job's template (labels, index annotation, hostname, finalizer).
//!
//! Contract: pure functions over pod objects; a pod carrying [`TRACKING_FINALIZER`] has not
//! been counted in the Job's status yet.

use serde_json::{json, Value};

use crate::api::object;
use crate::clock::parse_rfc3339;
use crate::controller::podutil::phase;
use crate::controller::replicaset::pod_from_template;

/// Kept on a Job's pods until their outcome is in the Job status, so a pod deleted before the
/// controller saw it finish is still counted.
pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";
const COMPLETION_INDEX_ENV: &str = "JOB_COMPLETION_INDEX";

pub fn is_tracked(pod: &Value) -> bool {
    object::finalizers(pod)
        .iter()
        .any(|f| f == TRACKING_FINALIZER)
}

pub fn is_deleting(pod: &Value) -> bool {
    object::meta(pod).is_some_and(|m| m.contains_key("deletionTimestamp"))
}

pub fn uid(pod: &Value) -> &str {
    object::meta_str(pod, "uid").unwrap_or("")
}

/// The completion index of a pod of an Indexed Job (from its annotation), if valid.
pub fn completion_index(pod: &Value) -> Option<i64> {
    pod.pointer("/metadata/annotations")?
        .get(COMPLETION_INDEX)?
        .as_str()?
        .parse::<i64>()
        .ok()
        .filter(|i| *i >= 0)
}

/// Being deleted and not yet finished.
pub fn is_terminating(pod: &Value) -> bool {
    is_deleting(pod) && !matches!(phase(pod), "Succeeded" | "Failed")
}

/// Whether a pod counts as failed: phase Failed, or (unless only failed pods are replaced)
/// deleted before it succeeded, so orphans that never reach a phase are counted too.
pub fn is_failed(pod: &Value, only_failed: bool) -> bool {
    if phase(pod) == "Failed" {
        return true;
    }
    !only_failed && is_deleting(pod) && phase(pod) != "Succeeded"
}

fn time_at(v: Option<&Value>) -> Option<i64> {
    v.and_then(Value::as_str).and_then(parse_rfc3339)
}

/// When a pod finished: the last container exit when all exited, else the time it stopped
/// being Ready, else its deletion time less the grace period, else its creation.
pub fn finished_at(pod: &Value) -> i64 {
    let statuses = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array);
    if let Some(cs) = statuses.filter(|cs| !cs.is_empty()) {
        let ends: Option<Vec<i64>> = cs
            .iter()
            .map(|c| time_at(c.pointer("/state/terminated/finishedAt")))
            .collect();
        if let Some(end) = ends.and_then(|e| e.into_iter().max()) {
            return end;
        }
    }
    let not_ready = pod
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .and_then(|cs| {
            cs.iter().find(|c| {
                c.get("type").and_then(Value::as_str) == Some("Ready")
                    && c.get("status").and_then(Value::as_str) == Some("False")
            })
        })
        .and_then(|c| time_at(c.get("lastTransitionTime")));
    if let Some(t) = not_ready {
        return t;
    }
    if let Some(t) = time_at(pod.pointer("/metadata/deletionTimestamp")) {
        let grace = pod
            .pointer("/metadata/deletionGracePeriodSeconds")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        return t - grace;
    }
    time_at(pod.pointer("/metadata/creationTimestamp")).unwrap_or(0)
}

/// Container restarts of running or pending pods (the `OnFailure` backoff limit).
pub fn restarts_of_unfinished(pod: &Value) -> i64 {
    if !matches!(phase(pod), "Running" | "Pending") {
        return 0;
    }
    container_statuses(pod)
        .filter_map(|c| c.get("restartCount").and_then(Value::as_i64))
        .sum()
}

/// Statuses of the regular containers, then of the init containers.
pub fn container_statuses(pod: &Value) -> impl Iterator<Item = &Value> {
    ["containerStatuses", "initContainerStatuses"]
        .into_iter()
        .filter_map(|k| pod.get("status")?.get(k)?.as_array())
        .flatten()
}

/// A pod for `job` from its template, tracked by the finalizer, with the completion index
/// (annotation, label, hostname, generated name and `JOB_COMPLETION_INDEX`) when given.
pub fn new_pod(job: &Value, index: Option<i64>) -> Value {
    let name = object::name(job);
    let template = job.pointer("/spec/template").unwrap_or(&Value::Null);
    let ix = index.map(|i| i.to_string());
    let (prefix, labels) = match &ix {
        Some(i) => (format!("{name}-{i}"), vec![(COMPLETION_INDEX, i.as_str())]),
        None => (name.to_string(), vec![]),
    };
    let mut pod = pod_from_template(job, template, &prefix, &labels);
    let meta = object::meta_mut(&mut pod);
    let mut finalizers: Vec<Value> = meta
        .get("finalizers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if !finalizers.iter().any(|f| f == TRACKING_FINALIZER) {
        finalizers.push(json!(TRACKING_FINALIZER));
    }
    meta.insert("finalizers".into(), json!(finalizers));
    if let Some(i) = &ix {
        if !meta.get("annotations").is_some_and(Value::is_object) {
            meta.insert("annotations".into(), json!({}));
        }
        meta["annotations"][COMPLETION_INDEX] = json!(i);
        pod["spec"]["hostname"] = json!(format!("{name}-{i}"));
        for kind in ["initContainers", "containers"] {
            if let Some(cs) = pod["spec"].get_mut(kind).and_then(Value::as_array_mut) {
                cs.iter_mut().for_each(add_index_env);
            }
        }
    }
    pod
}

fn add_index_env(container: &mut Value) {
    if !container.get("env").is_some_and(Value::is_array) {
        container["env"] = json!([]);
    }
    let Some(env) = container["env"].as_array_mut() else {
        return;
    };
    if env
        .iter()
        .any(|e| e.get("name").and_then(Value::as_str) == Some(COMPLETION_INDEX_ENV))
    {
        return;
    }
    env.push(json!({
        "name": COMPLETION_INDEX_ENV,
        "valueFrom": {"fieldRef": {
            "fieldPath": format!("metadata.annotations['{COMPLETION_INDEX}']"),
        }},
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_and_terminating() {
        let failed = json!({"status": {"phase": "Failed"}});
        let deleting = json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:00Z"},
                              "status": {"phase": "Running"}});
        assert!(is_failed(&failed, true) && is_failed(&failed, false));
        assert!(is_failed(&deleting, false) && !is_failed(&deleting, true));
        assert!(is_terminating(&deleting) && !is_terminating(&failed));
    }

    #[test]
    fn finish_time_prefers_container_exits() {
        let pod = json!({"metadata": {"creationTimestamp": "2026-01-01T00:00:00Z"},
            "status": {"conditions": [{"type": "Ready", "status": "False",
                                       "lastTransitionTime": "2026-01-01T00:00:30Z"}],
                       "containerStatuses": [
                {"state": {"terminated": {"finishedAt": "2026-01-01T00:00:10Z"}}},
                {"state": {"terminated": {"finishedAt": "2026-01-01T00:00:20Z"}}}]}});
        let t0 = parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
        assert_eq!(finished_at(&pod), t0 + 20);
        let mut running = pod.clone();
        running["status"]["containerStatuses"][1] = json!({"state": {"running": {}}});
        assert_eq!(finished_at(&running), t0 + 30);
        assert_eq!(
            finished_at(&json!({"metadata": {
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "deletionTimestamp": "2026-01-01T00:01:00Z", "deletionGracePeriodSeconds": 30}})),
            t0 + 30
        );
    }

    #[test]
    fn indexed_pods_carry_their_index() {
        let job = json!({"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": "pi", "namespace": "ns", "uid": "u1"},
            "spec": {"template": {"metadata": {"labels": {"job-name": "pi"}},
                                  "spec": {"containers": [{"name": "c", "image": "x"}]}}}});
        let pod = new_pod(&job, Some(3));
        assert_eq!(pod["metadata"]["generateName"], "pi-3-");
        assert_eq!(pod["metadata"]["annotations"][COMPLETION_INDEX], "3");
        assert_eq!(pod["metadata"]["labels"][COMPLETION_INDEX], "3");
        assert_eq!(pod["metadata"]["labels"]["job-name"], "pi");
        assert_eq!(pod["spec"]["hostname"], "pi-3");
        assert_eq!(
            pod["spec"]["containers"][0]["env"][0]["name"],
            "JOB_COMPLETION_INDEX"
        );
        assert_eq!(completion_index(&pod), Some(3));
        assert!(is_tracked(&pod));
        assert_eq!(pod["metadata"]["ownerReferences"][0]["uid"], "u1");
        let plain = new_pod(&job, None);
        assert_eq!(plain["metadata"]["generateName"], "pi-");
        assert!(plain["spec"].get("hostname").is_none());
    }
}
