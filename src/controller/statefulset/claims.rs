//! PersistentVolumeClaims of StatefulSet pods: one per `volumeClaimTemplates` entry and
//! ordinal, named `<template>-<set>-<ordinal>`, labelled with the template's labels plus the
//! set's `matchLabels`, created before the pod and mounted through a volume named after the
//! template.
//!
//! Claims outlive their pods. `persistentVolumeClaimRetentionPolicy` is expressed the way
//! Kubernetes does it, through owner references the garbage collector follows: `whenDeleted:
//! Delete` makes the set an owner of the claims of pods in range; `whenScaled: Delete` makes a
//! condemned pod (ordinal beyond the replicas) the owner of its claims, so they go with it.

use serde_json::{json, Value};

use super::identity::ordinal;
use crate::api::object;
use crate::controller::ownerref::owners;

/// The claim name for a template and ordinal.
pub fn claim_name(template: &Value, set: &Value, ordinal: i64) -> String {
    format!("{}-{}-{ordinal}", object::name(template), object::name(set))
}

pub fn templates(set: &Value) -> &[Value] {
    set.pointer("/spec/volumeClaimTemplates")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// The claims of the pod with `ordinal`, as objects to create.
pub fn claims_for(set: &Value, ordinal: i64) -> Vec<Value> {
    let ns = object::meta_str(set, "namespace");
    let match_labels = set
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object);
    templates(set)
        .iter()
        .map(|t| {
            let mut labels = object::labels(t).cloned().unwrap_or_default();
            if let Some(m) = match_labels {
                labels.extend(m.clone());
            }
            let mut meta =
                json!({"name": claim_name(t, set, ordinal), "namespace": ns, "labels": labels});
            if let Some(a) = object::meta(t).and_then(|m| m.get("annotations")) {
                meta["annotations"] = a.clone();
            }
            json!({
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": meta,
                "spec": t.get("spec").cloned().unwrap_or_else(|| json!({})),
            })
        })
        .collect()
}

/// Point the volumes named after claim templates at this ordinal's claims, keeping the
/// template's other volumes (`updateStorage`).
pub fn set_volumes(spec: &mut Value, set: &Value, ordinal: i64) {
    let tmpls = templates(set);
    if tmpls.is_empty() {
        return;
    }
    let mut volumes: Vec<Value> = tmpls
        .iter()
        .map(|t| json!({"name": object::name(t), "persistentVolumeClaim": {"claimName": claim_name(t, set, ordinal)}}))
        .collect();
    let is_claim = |v: &Value| {
        tmpls
            .iter()
            .any(|t| v.get("name").and_then(Value::as_str) == Some(object::name(t)))
    };
    if let Some(existing) = spec.get("volumes").and_then(Value::as_array) {
        volumes.extend(existing.iter().filter(|v| !is_claim(v)).cloned());
    }
    spec["volumes"] = json!(volumes);
}

/// Whether every claim template is mounted from this pod's claim.
pub fn storage_matches(set: &Value, pod: &Value) -> bool {
    let Some(ord) = ordinal(pod) else {
        return false;
    };
    let volumes = pod
        .pointer("/spec/volumes")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    templates(set).iter().all(|t| {
        let want = claim_name(t, set, ord);
        volumes.iter().any(|v| {
            v.get("name").and_then(Value::as_str) == Some(object::name(t))
                && v.pointer("/persistentVolumeClaim/claimName")
                    .and_then(Value::as_str)
                    == Some(want.as_str())
        })
    })
}

/// The retention policy: (`whenScaled` is Delete, `whenDeleted` is Delete).
pub fn policy(set: &Value) -> (bool, bool) {
    let delete = |k: &str| {
        set.pointer("/spec/persistentVolumeClaimRetentionPolicy")
            .and_then(|p| p.get(k))
            .and_then(Value::as_str)
            == Some("Delete")
    };
    (delete("whenScaled"), delete("whenDeleted"))
}

fn uid(obj: &Value) -> &str {
    object::meta_str(obj, "uid").unwrap_or("")
}

/// A plain (non-controller) owner reference.
fn owner_ref(owner: &Value, api_version: &str, kind: &str) -> Value {
    json!({
        "apiVersion": owner.get("apiVersion").and_then(Value::as_str).unwrap_or(api_version),
        "kind": owner.get("kind").and_then(Value::as_str).unwrap_or(kind),
        "name": object::name(owner),
        "uid": uid(owner),
    })
}

fn ensure_ref(refs: &mut Vec<Value>, owner: &Value, want: bool, api_version: &str, kind: &str) {
    let id = uid(owner);
    let has = refs
        .iter()
        .any(|r| r.get("uid").and_then(Value::as_str) == Some(id));
    if want && !has && !id.is_empty() {
        refs.push(owner_ref(owner, api_version, kind));
    } else if !want && has {
        refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(id));
    }
}

/// The owner references `claim` must have under the set's retention policy, if they differ
/// from its current ones (`updateClaimOwnerRefForSetAndPod`). `scaled_down`: the pod's
/// ordinal is beyond the replicas.
pub fn retention_refs(
    claim: &Value,
    set: &Value,
    pod: &Value,
    scaled_down: bool,
) -> Option<Vec<Value>> {
    let (when_scaled, when_deleted) = policy(set);
    let (set_owns, pod_owns) = match (when_scaled, when_deleted) {
        (false, false) => (false, false),
        (false, true) => (true, false),
        (true, false) => (false, scaled_down),
        (true, true) => (!scaled_down, scaled_down),
    };
    let before = owners(claim);
    let mut refs = before.clone();
    ensure_ref(&mut refs, set, set_owns, "apps/v1", "StatefulSet");
    ensure_ref(&mut refs, pod, pod_owns, "v1", "Pod");
    (refs != before).then_some(refs)
}

/// Whether a claim still belongs to an earlier pod of the same name (waiting for the garbage
/// collector after a scale-down), so the pod `pod_uid` must not reuse it yet.
pub fn is_stale(claim: &Value, pod: &str, pod_uid: Option<&str>) -> bool {
    owners(claim).iter().any(|r| {
        r.get("kind").and_then(Value::as_str) == Some("Pod")
            && r.get("name").and_then(Value::as_str) == Some(pod)
            && r.get("uid").and_then(Value::as_str) != pod_uid
    })
}

/// Claim names of a pod by ordinal, for lookups.
pub fn claim_names(set: &Value, ordinal: i64) -> Vec<String> {
    templates(set)
        .iter()
        .map(|t| claim_name(t, set, ordinal))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(when_scaled: &str, when_deleted: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
               "metadata": {"name": "web", "namespace": "ns", "uid": "set-uid"},
               "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "web"}},
                        "persistentVolumeClaimRetentionPolicy": {"whenScaled": when_scaled, "whenDeleted": when_deleted},
                        "volumeClaimTemplates": [{"metadata": {"name": "data", "labels": {"tier": "db"}},
                                                  "spec": {"accessModes": ["ReadWriteOnce"],
                                                           "resources": {"requests": {"storage": "1Gi"}}}}],
                        "template": {"spec": {"volumes": [{"name": "cfg", "configMap": {"name": "c"}},
                                                          {"name": "data", "emptyDir": {}}]}}}})
    }

    #[test]
    fn names_labels_and_mounts_claims() {
        let s = set("Retain", "Retain");
        let c = claims_for(&s, 2);
        assert_eq!(c.len(), 1);
        assert_eq!(object::name(&c[0]), "data-web-2");
        assert_eq!(c[0]["metadata"]["namespace"], "ns");
        assert_eq!(
            c[0]["metadata"]["labels"],
            json!({"tier": "db", "app": "web"})
        );
        assert_eq!(c[0]["spec"]["resources"]["requests"]["storage"], "1Gi");
        let mut spec = s["spec"]["template"]["spec"].clone();
        set_volumes(&mut spec, &s, 2);
        assert_eq!(
            spec["volumes"],
            json!([{"name": "data", "persistentVolumeClaim": {"claimName": "data-web-2"}},
                                           {"name": "cfg", "configMap": {"name": "c"}}])
        );
        let pod = json!({"metadata": {"name": "web-2"}, "spec": spec});
        assert!(storage_matches(&s, &pod));
        let other = json!({"metadata": {"name": "web-1"}, "spec": pod["spec"].clone()});
        assert!(!storage_matches(&s, &other));
        assert_eq!(claim_names(&s, 0), vec!["data-web-0".to_string()]);
    }

    #[test]
    fn retention_policy_as_owner_references() {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-1", "uid": "pod-uid"}});
        let claim = json!({"metadata": {"name": "data-web-1"}});
        assert_eq!(
            retention_refs(&claim, &set("Retain", "Retain"), &pod, true),
            None
        );
        let refs = retention_refs(&claim, &set("Retain", "Delete"), &pod, false).unwrap();
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0]["uid"], "set-uid");
        assert_eq!(refs[0]["kind"], "StatefulSet");
        assert_eq!(
            retention_refs(&claim, &set("Delete", "Retain"), &pod, false),
            None
        );
        let refs = retention_refs(&claim, &set("Delete", "Retain"), &pod, true).unwrap();
        assert_eq!(refs[0]["uid"], "pod-uid");
        // Scaled down under Delete/Delete: the set lets go, the pod takes over.
        let owned_by_set = json!({"metadata": {"name": "data-web-1", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "StatefulSet", "name": "web", "uid": "set-uid"}]}});
        let refs = retention_refs(&owned_by_set, &set("Delete", "Delete"), &pod, true).unwrap();
        assert_eq!(refs.len(), 1);
        assert_eq!(refs[0]["uid"], "pod-uid");
        assert_eq!(
            retention_refs(&owned_by_set, &set("Delete", "Delete"), &pod, false),
            None
        );
        // Back to Retain drops both references.
        assert_eq!(
            retention_refs(&owned_by_set, &set("Retain", "Retain"), &pod, false),
            Some(vec![])
        );
    }

    #[test]
    fn stale_claims_belong_to_an_earlier_pod() {
        let claim = json!({"metadata": {"ownerReferences": [{"kind": "Pod", "name": "web-1", "uid": "old"}]}});
        assert!(is_stale(&claim, "web-1", None));
        assert!(is_stale(&claim, "web-1", Some("new")));
        assert!(!is_stale(&claim, "web-1", Some("old")));
        assert!(!is_stale(&json!({"metadata": {}}), "web-1", None));
    }
}
