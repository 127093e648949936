//! Defaulting of built-in API objects, as the Kubernetes API server (1.33) fills fields on
//! create and update before validation.
//!
//! Contract: [`apply`] fills the `v1` defaults Kubernetes fills (`SetDefaults_*` functions and
//! declarative `+default` markers) plus the few registry/conversion steps whose effect every
//! client observes (Service `clusterIPs`/IP families, Secret `stringData`, Job selectors when a
//! uid is present, Namespace finalizer on create, canonical resource quantities). It never
//! overwrites a value that is present, never panics on oddly typed input, and is idempotent
//! (`apply(apply(x)) == apply(x)`). [`apply_update`] is the update-time carry-over from the
//! stored object that Kubernetes' registry performs before validating an update (system
//! metadata, allocated Service values, Namespace finalizers/status); call it, then [`apply`].
//! Admission-time mutations (service account, priority, default tolerations, LimitRanger) are
//! out of scope.

use serde_json::{Map, Value};

pub mod core;
pub mod pod;
pub mod service;
pub mod workloads;

/// Inserts `value` under `key` when the key is absent or null.
pub(crate) fn set_default(m: &mut Map<String, Value>, key: &str, value: Value) {
    if m.get(key).is_none_or(Value::is_null) {
        m.insert(key.to_string(), value);
    }
}

/// The object under `key`, created empty when absent or null; `None` when it has another type
/// (left alone: validation or decoding reports it).
pub(crate) fn ensure_obj<'a>(
    m: &'a mut Map<String, Value>,
    key: &str,
) -> Option<&'a mut Map<String, Value>> {
    if m.get(key).is_none_or(Value::is_null) {
        m.insert(key.to_string(), Value::Object(Map::new()));
    }
    m.get_mut(key).and_then(Value::as_object_mut)
}

/// Fill the defaults Kubernetes fills on create and update (idempotent).
pub fn apply(group: &str, kind: &str, obj: &mut Value) {
    match (group, kind) {
        ("", "Pod") => pod::pod(obj),
        ("", "PodTemplate") => core::pod_template(obj),
        ("", "ReplicationController") => core::replication_controller(obj),
        ("", "Service") => service::service(obj),
        ("", "Secret") => core::secret(obj),
        ("", "Namespace") => core::namespace(obj),
        ("", "PersistentVolumeClaim") => core::pvc(obj),
        ("", "PersistentVolume") => core::pv(obj),
        ("", "Endpoints") => core::endpoints(obj),
        ("", "Node") => core::node(obj),
        ("", "LimitRange") => core::limit_range(obj),
        ("", "ResourceQuota") => core::resource_quota(obj),
        ("apps", "Deployment") => workloads::deployment(obj),
        ("apps", "ReplicaSet") => workloads::replica_set(obj),
        ("apps", "StatefulSet") => workloads::stateful_set(obj),
        ("apps", "DaemonSet") => workloads::daemon_set(obj),
        ("batch", "Job") => workloads::job(obj),
        ("batch", "CronJob") => workloads::cron_job(obj),
        _ => {}
    }
}

/// Update-time carry-over from the stored object (`rest.BeforeUpdate` and the registry
/// strategies' `PrepareForUpdate` steps that clients rely on), followed by [`apply`]:
/// `metadata.uid` when omitted, `creationTimestamp`, `deletionTimestamp` and
/// `deletionGracePeriodSeconds` from the old object; for Services the allocated cluster IPs,
/// node ports, health-check node port and IP family policy (see
/// [`service::carry_over`]); for Namespaces the finalizers and status (only the finalize and
/// status subresources may change them).
pub fn apply_update(group: &str, kind: &str, obj: &mut Value, old: &Value) {
    if let (Some(m), Some(om)) = (
        obj.as_object_mut(),
        old.get("metadata").and_then(Value::as_object),
    ) {
        if let Some(md) = ensure_obj(m, "metadata") {
            if md
                .get("uid")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
            {
                if let Some(uid) = om.get("uid").cloned() {
                    md.insert("uid".into(), uid);
                }
            }
            for k in ["creationTimestamp", "deletionTimestamp"] {
                if let Some(v) = om.get(k).filter(|v| !v.is_null()).cloned() {
                    md.insert(k.into(), v);
                }
            }
            if md
                .get("deletionGracePeriodSeconds")
                .is_none_or(Value::is_null)
            {
                if let Some(v) = om
                    .get("deletionGracePeriodSeconds")
                    .filter(|v| !v.is_null())
                    .cloned()
                {
                    md.insert("deletionGracePeriodSeconds".into(), v);
                }
            }
        }
    }
    match (group, kind) {
        ("", "Service") => service::carry_over(obj, old),
        ("", "Namespace") => {
            if let Some(m) = obj.as_object_mut() {
                for (section, key) in [("spec", Some("finalizers")), ("status", None)] {
                    match key {
                        Some(k) => {
                            let old_v = old.get(section).and_then(|s| s.get(k)).cloned();
                            if let Some(s) = ensure_obj(m, section) {
                                match old_v {
                                    Some(v) => s.insert(k.into(), v),
                                    None => s.remove(k),
                                };
                            }
                        }
                        None => match old.get(section).cloned() {
                            Some(v) => {
                                m.insert(section.into(), v);
                            }
                            None => {
                                m.remove(section);
                            }
                        },
                    }
                }
            }
        }
        _ => {}
    }
    apply(group, kind, obj);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::validation::validate;
    use serde_json::json;

    #[test]
    fn defaulted_objects_validate() {
        let cases = [
            (
                "",
                "Pod",
                json!({"metadata": {"name": "web", "namespace": "d"}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}}),
            ),
            (
                "apps",
                "Deployment",
                json!({"metadata": {"name": "web"}, "spec": {"selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "web", "image": "nginx", "ports": [{"containerPort": 80}]}]}}}}),
            ),
            (
                "apps",
                "StatefulSet",
                json!({"metadata": {"name": "db"}, "spec": {"serviceName": "db", "selector": {"matchLabels": {"app": "db"}},
                "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "db", "image": "postgres:16",
                    "volumeMounts": [{"name": "data", "mountPath": "/var/lib/postgresql"}]}]}},
                "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]}}),
            ),
            (
                "apps",
                "DaemonSet",
                json!({"metadata": {"name": "agent"}, "spec": {"selector": {"matchLabels": {"app": "a"}},
                "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "a", "image": "agent:1"}]}}}}),
            ),
            (
                "batch",
                "CronJob",
                json!({"metadata": {"name": "tick"}, "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": {"spec": {
                "containers": [{"name": "t", "image": "busybox"}], "restartPolicy": "OnFailure"}}}}}}),
            ),
            (
                "",
                "Service",
                json!({"metadata": {"name": "web"}, "spec": {"type": "LoadBalancer", "selector": {"app": "web"}, "ports": [{"port": 80}]}}),
            ),
            (
                "",
                "Service",
                json!({"metadata": {"name": "db"}, "spec": {"clusterIP": "None", "selector": {"app": "db"}}}),
            ),
            (
                "",
                "Secret",
                json!({"metadata": {"name": "s"}, "stringData": {"password": "hunter2"}}),
            ),
            ("", "Namespace", json!({"metadata": {"name": "dev"}})),
            (
                "",
                "PersistentVolumeClaim",
                json!({"metadata": {"name": "c"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}),
            ),
            (
                "",
                "ReplicationController",
                json!({"metadata": {"name": "rc"}, "spec": {"template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c", "image": "x"}]}}}}),
            ),
        ];
        for (g, k, mut obj) in cases {
            apply(g, k, &mut obj);
            let causes = validate(g, k, &obj, None);
            assert!(causes.is_empty(), "{k}: {causes:?}\n{obj:#}");
            let once = obj.clone();
            apply(g, k, &mut obj);
            assert_eq!(obj, once, "{k} defaults not idempotent");
        }
    }

    #[test]
    fn update_flow() {
        let mut old = json!({"metadata": {"name": "web", "uid": "u", "creationTimestamp": "2024-01-01T00:00:00Z", "resourceVersion": "5"},
            "spec": {"type": "ClusterIP", "clusterIP": "10.96.0.5", "selector": {"app": "web"}, "ports": [{"port": 80}]}});
        apply("", "Service", &mut old);
        let mut new = json!({"metadata": {"name": "web", "resourceVersion": "5"}, "spec": {"selector": {"app": "web2"}, "ports": [{"port": 80}]}});
        apply_update("", "Service", &mut new, &old);
        assert!(validate("", "Service", &new, Some(&old)).is_empty());
        assert_eq!(new["spec"]["clusterIPs"], json!(["10.96.0.5"]));
        assert_eq!(new["metadata"]["uid"], "u");
    }

    #[test]
    fn garbage_never_panics() {
        let kinds = [
            ("", "Pod"),
            ("", "Service"),
            ("", "Secret"),
            ("", "Namespace"),
            ("", "PersistentVolumeClaim"),
            ("", "PersistentVolume"),
            ("", "Endpoints"),
            ("", "Node"),
            ("", "LimitRange"),
            ("", "ResourceQuota"),
            ("", "ReplicationController"),
            ("", "PodTemplate"),
            ("apps", "Deployment"),
            ("apps", "ReplicaSet"),
            ("apps", "StatefulSet"),
            ("apps", "DaemonSet"),
            ("batch", "Job"),
            ("batch", "CronJob"),
        ];
        let garbage = [
            json!(null),
            json!(3),
            json!([1]),
            json!({"spec": 1, "metadata": "x", "status": []}),
            json!({"spec": {"template": 1, "containers": [1, null, {"ports": 3, "resources": 2}], "ports": [1], "strategy": "x", "updateStrategy": 4,
                "volumes": [1, {"secret": 2}], "jobTemplate": [], "subsets": [1], "limits": [2], "hard": 1, "selector": 1}, "stringData": 4,
                "status": {"capacity": 1}}),
        ];
        for (g, k) in kinds {
            for v in &garbage {
                let mut x = v.clone();
                apply(g, k, &mut x);
                let mut y = v.clone();
                apply_update(g, k, &mut y, v);
            }
        }
    }
}
