//! Pods whose Job no longer needs their tracking finalizer: the Job is gone (replaced by one
//! with the same name counts as gone), finished, or the pod has no controller at all. Pods
//! controlled by something other than a batch/v1 Job are never touched.

use serde_json::Value;

use super::pods::is_tracked;
use super::status::JobStatus;
use crate::api::object;
use crate::controller::ownerref::controller_of;

/// Whether `pod`'s finalizer may go, given the Job its controller reference names (`None`
/// when no such Job exists).
pub fn releasable(pod: &Value, job: Option<&Value>) -> bool {
    if !is_tracked(pod) {
        return false;
    }
    let Some(r) = controller_of(pod) else {
        return true;
    };
    let field = |k: &str| r.get(k).and_then(Value::as_str).unwrap_or("");
    if field("kind") != "Job" || field("apiVersion") != "batch/v1" {
        return false;
    }
    match job {
        Some(j) if object::meta_str(j, "uid") == Some(field("uid")) => {
            JobStatus::of(j).finished().is_some()
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn releases_only_pods_of_gone_or_finished_jobs() {
        let pod = |kind: &str| {
            json!({"metadata": {"finalizers": ["batch.kubernetes.io/job-tracking"],
                "ownerReferences": [{"apiVersion": if kind == "Job" {"batch/v1"} else {"apps/v1"},
                                     "kind": kind, "name": "j", "uid": "u1", "controller": true}]}})
        };
        let running = json!({"metadata": {"uid": "u1"}});
        let done = json!({"metadata": {"uid": "u1"}, "status": {"conditions": [
            {"type": "Complete", "status": "True"}]}});
        let successor = json!({"metadata": {"uid": "u2"}});
        assert!(!releasable(&pod("Job"), Some(&running)));
        assert!(releasable(&pod("Job"), Some(&done)));
        assert!(releasable(&pod("Job"), Some(&successor)));
        assert!(releasable(&pod("Job"), None));
        assert!(!releasable(&pod("ReplicaSet"), None));
        assert!(releasable(
            &json!({"metadata": {"finalizers": ["batch.kubernetes.io/job-tracking"]}}),
            None
        ));
        assert!(!releasable(&json!({"metadata": {}}), None));
    }
}
