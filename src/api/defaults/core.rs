//! Defaults for core kinds other than Pod and Service: Secret, Namespace, PersistentVolume(Claim),
//! Endpoints, Node, LimitRange, ResourceQuota, ReplicationController, PodTemplate.
//!
//! Contract: `SetDefaults_*` from pkg/apis/core/v1 (1.33) plus the conversions and create-time
//! strategy steps whose effect clients observe: Secret `stringData` is folded into `data`
//! (base64) as conversion does, and a Namespace being created gets the `kubernetes` finalizer.

use super::pod::{resource_list, template};
use super::{ensure_obj, set_default};
use crate::api::validation::core::base64_encode;
use serde_json::{json, Value};

/// Secret: `type: Opaque`; `stringData` entries override `data` and are removed.
pub fn secret(s: &mut Value) {
    let Some(m) = s.as_object_mut() else { return };
    if m.get("type")
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty()
    {
        m.insert("type".into(), json!("Opaque"));
    }
    if let Some(Value::Object(string_data)) = m.remove("stringData") {
        if let Some(data) = ensure_obj(m, "data") {
            for (k, v) in string_data {
                let text = v.as_str().unwrap_or("");
                data.insert(k, json!(base64_encode(text.as_bytes())));
            }
        }
    }
}

/// Namespace: the `kubernetes.io/metadata.name` label, `status.phase: Active`, and on create
/// (no `status.phase` yet: stored namespaces always have one) the `kubernetes` finalizer.
/// The finalizer is not re-added afterwards because the namespace controller removes it while
/// deleting.
pub fn namespace(ns: &mut Value) {
    let Some(m) = ns.as_object_mut() else { return };
    let name = m
        .get("metadata")
        .and_then(|md| md.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    if !name.is_empty() {
        if let Some(labels) = ensure_obj(m, "metadata").and_then(|md| ensure_obj(md, "labels")) {
            labels.insert("kubernetes.io/metadata.name".into(), json!(name));
        }
    }
    let creating = m
        .get("status")
        .and_then(|s| s.get("phase"))
        .and_then(Value::as_str)
        .unwrap_or("")
        .is_empty();
    if creating {
        if let Some(spec) = ensure_obj(m, "spec") {
            let fins = spec.entry("finalizers").or_insert_with(|| json!([]));
            if let Some(list) = fins.as_array_mut() {
                if !list.iter().any(|f| f.as_str() == Some("kubernetes")) {
                    list.push(json!("kubernetes"));
                }
            }
        }
    }
    if let Some(status) = ensure_obj(m, "status") {
        if status
            .get("phase")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            status.insert("phase".into(), json!("Active"));
        }
    }
}

/// `SetDefaults_PersistentVolumeClaimSpec` (+ resource lists).
pub fn pvc_spec(spec: &mut Value) {
    let Some(m) = spec.as_object_mut() else {
        return;
    };
    set_default(m, "volumeMode", json!("Filesystem"));
    if let Some(res) = m.get_mut("resources") {
        resource_list(res.get_mut("requests"));
        resource_list(res.get_mut("limits"));
    }
}

/// `SetDefaults_PersistentVolumeClaim`: pending status plus the spec defaults.
pub fn pvc(claim: &mut Value) {
    let Some(m) = claim.as_object_mut() else {
        return;
    };
    if let Some(spec) = ensure_obj(m, "spec") {
        let mut v = Value::Object(std::mem::take(spec));
        pvc_spec(&mut v);
        if let Value::Object(o) = v {
            *spec = o;
        }
    }
    if let Some(status) = ensure_obj(m, "status") {
        if status
            .get("phase")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            status.insert("phase".into(), json!("Pending"));
        }
    }
}

/// `SetDefaults_PersistentVolume`.
pub fn pv(vol: &mut Value) {
    let Some(m) = vol.as_object_mut() else { return };
    if let Some(spec) = ensure_obj(m, "spec") {
        if spec
            .get("persistentVolumeReclaimPolicy")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            spec.insert("persistentVolumeReclaimPolicy".into(), json!("Retain"));
        }
        set_default(spec, "volumeMode", json!("Filesystem"));
        if let Some(hp) = spec.get_mut("hostPath").and_then(Value::as_object_mut) {
            set_default(hp, "type", json!(""));
        }
        resource_list(spec.get_mut("capacity"));
    }
    if let Some(status) = ensure_obj(m, "status") {
        if status
            .get("phase")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            status.insert("phase".into(), json!("Pending"));
        }
    }
}

/// `SetDefaults_Endpoints`: port protocol TCP.
pub fn endpoints(ep: &mut Value) {
    let Some(Value::Array(subsets)) = ep.get_mut("subsets") else {
        return;
    };
    for ss in subsets {
        let Some(Value::Array(ports)) = ss.get_mut("ports") else {
            continue;
        };
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            if p.get("protocol")
                .and_then(Value::as_str)
                .unwrap_or("")
                .is_empty()
            {
                p.insert("protocol".into(), json!("TCP"));
            }
        }
    }
}

/// `SetDefaults_NodeStatus`: allocatable defaults to capacity.
pub fn node(n: &mut Value) {
    let Some(status) = n.get_mut("status").and_then(Value::as_object_mut) else {
        return;
    };
    resource_list(status.get_mut("capacity"));
    resource_list(status.get_mut("allocatable"));
    if status.get("allocatable").is_none_or(Value::is_null) {
        if let Some(cap) = status.get("capacity").filter(|c| c.is_object()).cloned() {
            status.insert("allocatable".into(), cap);
        }
    }
}

/// `SetDefaults_LimitRangeItem`: for Container limits, default <- max, defaultRequest <-
/// default, then min.
pub fn limit_range(lr: &mut Value) {
    let Some(Value::Array(limits)) = lr.get_mut("spec").and_then(|s| s.get_mut("limits")) else {
        return;
    };
    for item in limits.iter_mut().filter_map(Value::as_object_mut) {
        for k in [
            "max",
            "min",
            "default",
            "defaultRequest",
            "maxLimitRequestRatio",
        ] {
            resource_list(item.get_mut(k));
        }
        if item.get("type").and_then(Value::as_str) != Some("Container") {
            continue;
        }
        let max = item
            .get("max")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        let min = item
            .get("min")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if let Some(default) = ensure_obj(item, "default") {
            for (k, v) in max {
                default.entry(k).or_insert(v);
            }
        }
        let default = item
            .get("default")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default();
        if let Some(req) = ensure_obj(item, "defaultRequest") {
            for (k, v) in default {
                req.entry(k).or_insert(v);
            }
            for (k, v) in min {
                req.entry(k).or_insert(v);
            }
        }
    }
}

/// ResourceQuota: resource lists only.
pub fn resource_quota(rq: &mut Value) {
    if let Some(spec) = rq.get_mut("spec") {
        resource_list(spec.get_mut("hard"));
    }
}

/// `SetDefaults_ReplicationController`: selector and labels from the template labels,
/// one replica, template defaults.
pub fn replication_controller(rc: &mut Value) {
    let Some(m) = rc.as_object_mut() else { return };
    let labels = m
        .get("spec")
        .and_then(|s| s.get("template"))
        .and_then(|t| t.get("metadata"))
        .and_then(|md| md.get("labels"))
        .filter(|l| l.is_object())
        .cloned();
    if let Some(labels) = labels {
        if let Some(spec) = ensure_obj(m, "spec") {
            if spec
                .get("selector")
                .and_then(Value::as_object)
                .is_none_or(|s| s.is_empty())
            {
                spec.insert("selector".into(), labels.clone());
            }
        }
        if let Some(md) = ensure_obj(m, "metadata") {
            if md
                .get("labels")
                .and_then(Value::as_object)
                .is_none_or(|l| l.is_empty())
            {
                md.insert("labels".into(), labels);
            }
        }
    }
    if let Some(spec) = ensure_obj(m, "spec") {
        set_default(spec, "replicas", json!(1));
        template(spec.get_mut("template"));
    }
}

/// PodTemplate: template defaults.
pub fn pod_template(pt: &mut Value) {
    template(pt.get_mut("template"));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_string_data_is_folded() {
        let mut s = json!({"metadata": {"name": "s"}, "data": {"a": "eA=="}, "stringData": {"b": "hi", "a": "y"}});
        secret(&mut s);
        assert_eq!(
            s,
            json!({"metadata": {"name": "s"}, "type": "Opaque", "data": {"a": "eQ==", "b": "aGk="}})
        );
    }

    #[test]
    fn namespace_defaults_once() {
        let mut ns = json!({"metadata": {"name": "dev"}});
        namespace(&mut ns);
        assert_eq!(
            ns,
            json!({"metadata": {"name": "dev", "labels": {"kubernetes.io/metadata.name": "dev"}}, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}})
        );
        // A terminating namespace whose finalizer was removed keeps it removed.
        let mut terminating = json!({"metadata": {"name": "dev"}, "spec": {"finalizers": []}, "status": {"phase": "Terminating"}});
        namespace(&mut terminating);
        assert_eq!(terminating["spec"]["finalizers"], json!([]));
    }

    #[test]
    fn pv_and_pvc() {
        let mut c = json!({"spec": {"resources": {"requests": {"storage": "1024Mi"}}}});
        pvc(&mut c);
        assert_eq!(
            c,
            json!({"spec": {"resources": {"requests": {"storage": "1Gi"}}, "volumeMode": "Filesystem"}, "status": {"phase": "Pending"}})
        );
        let mut v = json!({"spec": {"capacity": {"storage": "5Gi"}, "hostPath": {"path": "/d"}}});
        pv(&mut v);
        assert_eq!(v["spec"]["persistentVolumeReclaimPolicy"], "Retain");
        assert_eq!(v["spec"]["volumeMode"], "Filesystem");
        assert_eq!(v["spec"]["hostPath"]["type"], "");
    }
}
