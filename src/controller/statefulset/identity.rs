//! The stable identity of StatefulSet pods: ordinal names `<set>-<n>`, the
//! `statefulset.kubernetes.io/pod-name` and `apps.kubernetes.io/pod-index` labels, and on
//! creation `spec.hostname` = the pod name and `spec.subdomain` = `spec.serviceName`, so each pod
//! keeps its DNS name `<pod>.<service>` across rescheduling.

use serde_json::{json, Value};

use super::claims;
use crate::api::object;
use crate::controller::history::HASH_LABEL;
use crate::controller::replicaset::pod_from_template;

pub const POD_NAME_LABEL: &str = "statefulset.kubernetes.io/pod-name";
pub const POD_INDEX_LABEL: &str = "apps.kubernetes.io/pod-index";

/// `(parent, ordinal)` of a name of the form `<parent>-<digits>`.
pub fn parent_and_ordinal(name: &str) -> Option<(&str, i64)> {
    let (parent, digits) = name.rsplit_once('-')?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((parent, digits.parse().ok()?))
}

pub fn ordinal(pod: &Value) -> Option<i64> {
    parent_and_ordinal(object::name(pod)).map(|(_, o)| o)
}

/// Whether a pod is named as one of the set's (only those are claimed).
pub fn member_of(set: &Value, pod: &Value) -> bool {
    parent_and_ordinal(object::name(pod)).is_some_and(|(p, _)| p == object::name(set))
}

pub fn pod_name(set: &Value, ordinal: i64) -> String {
    format!("{}-{ordinal}", object::name(set))
}

/// `spec.ordinals.start` (0 by default).
pub fn start_ordinal(set: &Value) -> i64 {
    set.pointer("/spec/ordinals/start")
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

pub fn replicas(set: &Value) -> i64 {
    set.pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
        .max(0)
}

/// Whether an ordinal is within `[start, start + replicas)`.
pub fn in_range(set: &Value, ordinal: i64) -> bool {
    let start = start_ordinal(set);
    ordinal >= start && ordinal < start + replicas(set)
}

fn label<'a>(pod: &'a Value, key: &str) -> Option<&'a str> {
    object::labels(pod)?.get(key)?.as_str()
}

/// The revision (name) a pod was created from.
pub fn revision(pod: &Value) -> &str {
    label(pod, HASH_LABEL).unwrap_or("")
}

/// The identity labels of the pod with this ordinal.
pub fn identity_labels(set: &Value, ordinal: i64) -> Value {
    json!({POD_NAME_LABEL: pod_name(set, ordinal), POD_INDEX_LABEL: ordinal.to_string()})
}

/// Whether a pod carries the name, namespace and labels its ordinal implies.
pub fn identity_matches(set: &Value, pod: &Value) -> bool {
    let Some(ord) = ordinal(pod) else {
        return false;
    };
    let name = pod_name(set, ord);
    member_of(set, pod)
        && object::name(pod) == name
        && object::meta_str(pod, "namespace") == object::meta_str(set, "namespace")
        && label(pod, POD_NAME_LABEL) == Some(name.as_str())
        && label(pod, POD_INDEX_LABEL) == Some(ord.to_string().as_str())
}

/// The pod with `ordinal` built from `template` (the template of revision `revision`).
pub fn new_pod(set: &Value, template: &Value, ordinal: i64, revision: &str) -> Value {
    let mut pod = pod_from_template(set, template, object::name(set), &[(HASH_LABEL, revision)]);
    let name = pod_name(set, ordinal);
    let meta = object::meta_mut(&mut pod);
    meta.remove("generateName");
    meta.insert("name".into(), json!(name));
    if let (Some(labels), Some(ids)) = (
        meta.get_mut("labels").and_then(Value::as_object_mut),
        identity_labels(set, ordinal).as_object(),
    ) {
        labels.extend(ids.clone());
    }
    if !pod.get("spec").is_some_and(Value::is_object) {
        pod["spec"] = json!({});
    }
    pod["spec"]["hostname"] = json!(name);
    if let Some(svc) = set
        .pointer("/spec/serviceName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    {
        pod["spec"]["subdomain"] = json!(svc);
    }
    claims::set_volumes(&mut pod["spec"], set, ordinal);
    pod
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
               "metadata": {"name": "web", "namespace": "ns", "uid": "u1"},
               "spec": {"replicas": 3, "serviceName": "nginx",
                        "selector": {"matchLabels": {"app": "web"}},
                        "template": {"metadata": {"labels": {"app": "web"}},
                                     "spec": {"containers": [{"name": "c", "image": "i"}]}}}})
    }

    #[test]
    fn parses_ordinals() {
        assert_eq!(parent_and_ordinal("web-0"), Some(("web", 0)));
        assert_eq!(parent_and_ordinal("my-web-12"), Some(("my-web", 12)));
        assert_eq!(parent_and_ordinal("web-x"), None);
        assert_eq!(parent_and_ordinal("web"), None);
        assert_eq!(parent_and_ordinal("web-"), None);
        let s = set();
        assert!(member_of(&s, &json!({"metadata": {"name": "web-4"}})));
        assert!(!member_of(&s, &json!({"metadata": {"name": "webby-4"}})));
        assert!(in_range(&s, 2) && !in_range(&s, 3) && !in_range(&s, -1));
        let mut shifted = s.clone();
        shifted["spec"]["ordinals"] = json!({"start": 5});
        assert!(in_range(&shifted, 5) && in_range(&shifted, 7) && !in_range(&shifted, 2));
    }

    #[test]
    fn builds_pods_with_identity() {
        let s = set();
        let pod = new_pod(&s, &s["spec"]["template"], 1, "web-abc");
        assert_eq!(object::name(&pod), "web-1");
        assert!(pod["metadata"].get("generateName").is_none());
        assert_eq!(pod["metadata"]["labels"][POD_NAME_LABEL], "web-1");
        assert_eq!(pod["metadata"]["labels"][POD_INDEX_LABEL], "1");
        assert_eq!(pod["metadata"]["labels"][HASH_LABEL], "web-abc");
        assert_eq!(pod["metadata"]["labels"]["app"], "web");
        assert_eq!(pod["spec"]["hostname"], "web-1");
        assert_eq!(pod["spec"]["subdomain"], "nginx");
        assert_eq!(pod["metadata"]["ownerReferences"][0]["kind"], "StatefulSet");
        let mut stored = pod.clone();
        stored["metadata"]["namespace"] = json!("ns");
        assert!(identity_matches(&s, &stored));
        stored["metadata"]["labels"][POD_INDEX_LABEL] = json!("7");
        assert!(!identity_matches(&s, &stored));
    }
}
