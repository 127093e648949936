//! Daemon pods: how they are built from the template and how existing ones are grouped by the
//! node they are meant for.
//!
//! A daemon pod is the template plus the daemon tolerations, the labels
//! `controller-revision-hash` (the current revision's hash) and `pod-template-generation`,
//! and a required node affinity `matchFields metadata.name In [node]` replacing any required
//! terms of the template (the controller already checked those against the node), so the
//! scheduler binds it to exactly that node.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Value};

use super::eligibility::add_daemon_tolerations;
use crate::api::object;
use crate::clock::parse_rfc3339;
use crate::controller::history::HASH_LABEL;
use crate::controller::podutil::{is_active, node_name};
use crate::controller::replicaset::pod_from_template;

pub const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";
/// Set by Kubernetes' DaemonSet registry; kedge falls back to `metadata.generation`.
pub const TEMPLATE_GENERATION_ANNOTATION: &str = "deprecated.daemonset.template.generation";

/// The template generation a DaemonSet's pods are labelled with.
pub fn template_generation(ds: &Value) -> Option<i64> {
    let annotated = object::meta(ds)
        .and_then(|m| m.get("annotations"))
        .and_then(|a| a.get(TEMPLATE_GENERATION_ANNOTATION))
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok());
    annotated.or_else(|| object::meta(ds)?.get("generation")?.as_i64())
}

fn label<'a>(pod: &'a Value, key: &str) -> Option<&'a str> {
    object::labels(pod)?.get(key)?.as_str()
}

/// Whether a pod runs the current template: its hash label or its generation label match
/// (`IsPodUpdated`).
pub fn is_updated(pod: &Value, hash: &str, generation: Option<i64>) -> bool {
    let by_generation = generation
        .is_some_and(|g| label(pod, TEMPLATE_GENERATION_LABEL) == Some(g.to_string().as_str()));
    let by_hash = !hash.is_empty() && label(pod, HASH_LABEL) == Some(hash);
    by_hash || by_generation
}

/// Replace the required node affinity of a pod spec by `metadata.name In [node]`
/// (`ReplaceDaemonSetPodNodeNameNodeAffinity`).
pub fn pin_to_node(spec: &mut Value, node: &str) {
    let terms =
        json!([{"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node]}]}]);
    if !spec.get("affinity").is_some_and(Value::is_object) {
        spec["affinity"] = json!({});
    }
    let aff = &mut spec["affinity"];
    if !aff.get("nodeAffinity").is_some_and(Value::is_object) {
        aff["nodeAffinity"] = json!({});
    }
    let na = &mut aff["nodeAffinity"];
    if !na
        .get("requiredDuringSchedulingIgnoredDuringExecution")
        .is_some_and(Value::is_object)
    {
        na["requiredDuringSchedulingIgnoredDuringExecution"] = json!({});
    }
    na["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"] = terms;
}

/// The pod a DaemonSet creates for `node`.
pub fn new_pod(ds: &Value, node: &str, hash: &str, generation: Option<i64>) -> Value {
    let template = ds.pointer("/spec/template").cloned().unwrap_or(Value::Null);
    let gen = generation.map(|g| g.to_string());
    let mut labels: Vec<(&str, &str)> = Vec::new();
    if let Some(g) = gen.as_deref() {
        labels.push((TEMPLATE_GENERATION_LABEL, g));
    }
    if !hash.is_empty() {
        labels.push((HASH_LABEL, hash));
    }
    let mut pod = pod_from_template(ds, &template, object::name(ds), &labels);
    if !pod.get("spec").is_some_and(Value::is_object) {
        pod["spec"] = json!({});
    }
    add_daemon_tolerations(&mut pod["spec"]);
    pin_to_node(&mut pod["spec"], node);
    pod
}

/// The node a daemon pod is for: its `nodeName`, or the single name its required affinity
/// pins it to (`GetTargetNodeName`).
pub fn target_node(pod: &Value) -> Option<&str> {
    let bound = node_name(pod);
    if !bound.is_empty() {
        return Some(bound);
    }
    let terms = pod
        .pointer("/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution/nodeSelectorTerms")?
        .as_array()?;
    terms.iter().find_map(|t| {
        t.get("matchFields")?.as_array()?.iter().find_map(|f| {
            let vals = f.get("values")?.as_array()?;
            let pinned = f.get("key")?.as_str()? == "metadata.name"
                && f.get("operator")?.as_str()? == "In"
                && vals.len() == 1;
            pinned.then(|| vals[0].as_str()).flatten()
        })
    })
}

/// Oldest first, scheduled before unscheduled (`podByCreationTimestampAndPhase`).
pub fn oldest_first(a: &Value, b: &Value) -> Ordering {
    let unscheduled = |p: &Value| node_name(p).is_empty();
    let created = |p: &Value| {
        object::meta_str(p, "creationTimestamp")
            .and_then(parse_rfc3339)
            .unwrap_or(0)
    };
    unscheduled(a)
        .cmp(&unscheduled(b))
        .then_with(|| created(a).cmp(&created(b)))
        .then_with(|| object::name(a).cmp(object::name(b)))
}

/// Pods grouped by target node, each group oldest first; `with_inactive` keeps finished and
/// terminating pods (the manage loop needs them, status and rolling updates do not).
pub fn by_node(pods: &[Arc<Value>], with_inactive: bool) -> BTreeMap<String, Vec<Arc<Value>>> {
    let mut map: BTreeMap<String, Vec<Arc<Value>>> = BTreeMap::new();
    for p in pods {
        if !with_inactive && !is_active(p) {
            continue;
        }
        if let Some(n) = target_node(p) {
            map.entry(n.to_string()).or_default().push(p.clone());
        }
    }
    for group in map.values_mut() {
        group.sort_by(|a, b| oldest_first(a, b));
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ds() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
               "metadata": {"name": "agent", "namespace": "ns", "uid": "u1", "generation": 3},
               "spec": {"template": {"metadata": {"labels": {"app": "agent"}},
                        "spec": {"containers": [{"name": "c", "image": "i"}],
                                 "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                                     "nodeSelectorTerms": [{"matchExpressions": [{"key": "a", "operator": "Exists"}]}]}}}}}}})
    }

    #[test]
    fn builds_pinned_labelled_tolerating_pods() {
        let d = ds();
        let gen = template_generation(&d);
        assert_eq!(gen, Some(3));
        let pod = new_pod(&d, "n2", "abc", gen);
        assert_eq!(pod["metadata"]["generateName"], "agent-");
        assert_eq!(pod["metadata"]["labels"][HASH_LABEL], "abc");
        assert_eq!(pod["metadata"]["labels"][TEMPLATE_GENERATION_LABEL], "3");
        assert_eq!(pod["metadata"]["labels"]["app"], "agent");
        assert_eq!(pod["metadata"]["ownerReferences"][0]["uid"], "u1");
        assert_eq!(pod["spec"]["tolerations"].as_array().unwrap().len(), 6);
        let terms = &pod["spec"]["affinity"]["nodeAffinity"]
            ["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"];
        assert_eq!(terms.as_array().unwrap().len(), 1);
        assert_eq!(target_node(&pod), Some("n2"));
        assert!(is_updated(&pod, "abc", None));
        assert!(is_updated(&pod, "other", Some(3)));
        assert!(!is_updated(&pod, "other", Some(4)));
        let mut bound = pod.clone();
        bound["spec"]["nodeName"] = json!("n9");
        assert_eq!(target_node(&bound), Some("n9"));
        let mut annotated = d.clone();
        annotated["metadata"]["annotations"] = json!({TEMPLATE_GENERATION_ANNOTATION: "7"});
        assert_eq!(template_generation(&annotated), Some(7));
    }

    #[test]
    fn groups_by_node_oldest_scheduled_first() {
        let p = |name: &str, node: &str, created: &str, phase: &str| {
            let mut v = json!({"metadata": {"name": name, "creationTimestamp": created},
                               "spec": {}, "status": {"phase": phase}});
            pin_to_node(&mut v["spec"], "n1");
            if !node.is_empty() {
                v["spec"]["nodeName"] = json!(node);
            }
            Arc::new(v)
        };
        let pods = vec![
            p("new", "n1", "2026-01-01T00:00:09Z", "Running"),
            p("pending", "", "2026-01-01T00:00:01Z", "Pending"),
            p("old", "n1", "2026-01-01T00:00:05Z", "Running"),
            p("done", "n1", "2026-01-01T00:00:00Z", "Failed"),
        ];
        let all = by_node(&pods, true);
        let names: Vec<&str> = all["n1"].iter().map(|p| object::name(p)).collect();
        assert_eq!(names, ["done", "old", "new", "pending"]);
        let active = by_node(&pods, false);
        assert_eq!(active["n1"].len(), 3);
    }
}
