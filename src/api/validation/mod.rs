//! Validation of built-in API objects, as the Kubernetes API server (1.33) performs it on create
//! and update.
//!
//! Contract: [`validate`] takes the object as plain JSON (already defaulted, see
//! [`crate::api::defaults::apply`]) and, for updates, the previously stored object, and returns
//! every problem as a [`StatusCause`] whose `reason`, `field` and `message` are exactly what
//! Kubernetes puts in `details.causes` (`FieldValueRequired` / `spec.containers[0].image` /
//! `Required value`). An empty list means the object is valid. [`aggregate_message`] renders
//! causes the way kubectl shows them after `The Pod "web" is invalid: `.
//!
//! Not covered here (the caller's business): namespace presence for namespaced vs
//! cluster-scoped kinds, `metadata.resourceVersion` on update, name generation from
//! `generateName`, admission (service accounts, priorities, quotas), and status subresource
//! updates. Kinds without dedicated rules get metadata validation only.
//! Wrongly typed JSON never panics; it reads as absent (the Kubernetes decoder would reject it
//! earlier with a 400).

use crate::api::status::StatusCause;
use serde_json::Value;

pub mod core;
pub mod cron;
pub mod field;
pub mod json;
pub mod meta;
pub mod names;
pub mod net;
pub mod others;
pub mod pod;
pub mod quantity;
pub mod service;
pub mod workloads;

pub use field::aggregate_message;
pub use service::node_port_range_errors;

/// Validate a create (`old` = None) or update (`old` = Some(previous stored object)) of a
/// built-in kind. `group` is "" for core; `kind` the API kind. Returns every cause found
/// (empty = valid).
pub fn validate(group: &str, kind: &str, obj: &Value, old: Option<&Value>) -> Vec<StatusCause> {
    let mut errs = Vec::new();
    match (group, kind) {
        ("", "Pod") => match old {
            None => pod::validate_pod_create(obj, &mut errs),
            Some(o) => pod::validate_pod_update(obj, o, &mut errs),
        },
        ("", "PodTemplate") => pod::validate_pod_template_object(obj, old, &mut errs),
        ("", "Service") => service::service(obj, old, &mut errs),
        ("", "Endpoints") => service::endpoints(obj, old, &mut errs),
        ("", "ConfigMap") => core::configmap(obj, old, &mut errs),
        ("", "Secret") => core::secret(obj, old, &mut errs),
        ("", "Namespace") => core::namespace(obj, old, &mut errs),
        ("", "Node") => core::node(obj, old, &mut errs),
        ("", "PersistentVolume") => core::pv(obj, old, &mut errs),
        ("", "PersistentVolumeClaim") => core::pvc(obj, old, &mut errs),
        ("", "Event") => core::event(obj, old, &mut errs),
        ("", "ServiceAccount") => core::service_account(obj, old, &mut errs),
        ("", "ResourceQuota") => core::resource_quota(obj, old, &mut errs),
        ("", "LimitRange") => core::limit_range(obj, old, &mut errs),
        ("", "ReplicationController") => workloads::replication_controller(obj, old, &mut errs),
        ("apps", "Deployment") => workloads::deployment(obj, old, &mut errs),
        ("apps", "ReplicaSet") => workloads::replica_set(obj, old, &mut errs),
        ("apps", "StatefulSet") => workloads::stateful_set(obj, old, &mut errs),
        ("apps", "DaemonSet") => workloads::daemon_set(obj, old, &mut errs),
        ("batch", "Job") => workloads::job(obj, old, &mut errs),
        ("batch", "CronJob") => workloads::cron_job(obj, old, &mut errs),
        ("coordination.k8s.io", "Lease") => others::lease(obj, old, &mut errs),
        _ => others::metadata_only(
            obj,
            old,
            names::name_rule(group, kind),
            meta::FinalizerRule::Core,
            &mut errs,
        ),
    }
    errs
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kubectl_style_message() {
        let pod = json!({"metadata": {"name": "web"}, "spec": {"containers": [{"name": "web", "imagePullPolicy": "Always",
            "terminationMessagePolicy": "File"}], "restartPolicy": "Always", "dnsPolicy": "ClusterFirst", "terminationGracePeriodSeconds": 30}});
        let causes = validate("", "Pod", &pod, None);
        assert_eq!(
            aggregate_message(&causes),
            "spec.containers[0].image: Required value"
        );
        assert_eq!(
            causes[0],
            StatusCause {
                reason: "FieldValueRequired".into(),
                message: "Required value".into(),
                field: "spec.containers[0].image".into()
            }
        );
    }

    #[test]
    fn unknown_kinds_get_metadata_rules() {
        let causes = validate(
            "networking.k8s.io",
            "Ingress",
            &json!({"metadata": {}}),
            None,
        );
        assert_eq!(
            causes[0].message,
            "Required value: name or generateName is required"
        );
        assert!(validate(
            "rbac.authorization.k8s.io",
            "ClusterRole",
            &json!({"metadata": {"name": "system:node"}}),
            None
        )
        .is_empty());
    }

    #[test]
    fn never_panics_on_garbage() {
        let kinds = [
            ("", "Pod"),
            ("", "Service"),
            ("", "Secret"),
            ("", "ConfigMap"),
            ("", "Node"),
            ("", "PersistentVolume"),
            ("", "PersistentVolumeClaim"),
            ("", "Endpoints"),
            ("", "Event"),
            ("", "Namespace"),
            ("", "ReplicationController"),
            ("apps", "Deployment"),
            ("apps", "StatefulSet"),
            ("apps", "DaemonSet"),
            ("apps", "ReplicaSet"),
            ("batch", "Job"),
            ("batch", "CronJob"),
            ("coordination.k8s.io", "Lease"),
            ("", "ResourceQuota"),
            ("", "LimitRange"),
            ("", "PodTemplate"),
        ];
        let garbage = [
            json!(null),
            json!(1),
            json!("x"),
            json!([]),
            json!({"metadata": 5, "spec": [1, 2], "data": "x"}),
            json!({"spec": {"containers": [null, 1, {"ports": "x", "env": [1]}], "template": 7, "selector": [], "ports": [null], "jobTemplate": 1}}),
        ];
        for (g, k) in kinds {
            for v in &garbage {
                let _ = validate(g, k, v, None);
                let _ = validate(g, k, v, Some(v));
                let _ = validate(g, k, v, Some(&json!({})));
            }
        }
    }
}
