//! The scheduler's parsed view of a pod (Kubernetes' `framework.PodInfo`): everything the
//! filters and scores read, extracted once from the pod's JSON so a decision over many nodes
//! never re-parses it. Also resolves a pod's priority from PriorityClasses, which kedge's API
//! does not yet copy into `spec.priority`.
//!
//! Contract: [`PodInfo::new`] never fails: fields that do not parse are treated as absent,
//! like Kubernetes' lenient `PreFilter` parsing. [`priority`] is `spec.priority` when set, else
//! the value of `spec.priorityClassName` (the built-in `system-*-critical` classes included),
//! else the `globalDefault` class, else 0.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::affinity::NodeAffinity;
use super::interpod::PodAffinity;
use super::ports::{self, HostPort};
use super::resources::{self, Resources};
use super::score::name_key;
use super::spread::{self, Constraint};
use super::taints::{self, Toleration};
use crate::api::object;
use crate::clock::parse_rfc3339;
use crate::controller::ownerref::controller_uid;

/// Built-in classes Kubernetes' API server creates.
const SYSTEM_CLASSES: [(&str, i32); 2] = [
    ("system-node-critical", 2_000_001_000),
    ("system-cluster-critical", 2_000_000_000),
];

#[derive(Debug, Clone)]
pub struct PodInfo {
    /// `namespace/name`.
    pub key: String,
    pub namespace: String,
    pub name: String,
    pub uid: String,
    pub labels: Map<String, Value>,
    pub priority: i32,
    /// `preemptionPolicy: Never`.
    pub never_preempt: bool,
    pub requests: Resources,
    /// cpu (millicores) and memory with the scoring defaults for unset requests.
    pub nonzero: (i64, i64),
    pub ports: Vec<HostPort>,
    pub tolerations: Vec<Toleration>,
    pub node_affinity: NodeAffinity,
    pub pod_affinity: PodAffinity,
    pub spread: Vec<Constraint>,
    /// [`name_key`] of the controlling owner's uid.
    pub controller: Option<u64>,
    /// Names of the PersistentVolumeClaims its volumes use.
    pub claims: Vec<String>,
    pub node_name: String,
    pub nominated_node: String,
    pub terminating: bool,
    /// Succeeded or Failed: holds no resources.
    pub finished: bool,
    /// Start (or creation) time, unix seconds; later starters are preempted first on ties.
    pub started: i64,
}

impl PodInfo {
    pub fn new(pod: &Value, priority: i32, never_preempt: bool) -> PodInfo {
        let empty = Value::Null;
        let spec = pod.get("spec").unwrap_or(&empty);
        let namespace = object::meta_str(pod, "namespace")
            .unwrap_or("default")
            .to_string();
        let name = object::name(pod).to_string();
        let labels = object::labels(pod).cloned().unwrap_or_default();
        let phase = pod
            .pointer("/status/phase")
            .and_then(Value::as_str)
            .unwrap_or("");
        let claims = spec
            .get("volumes")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|v| {
                v.pointer("/persistentVolumeClaim/claimName")
                    .and_then(Value::as_str)
            })
            .map(str::to_string)
            .collect();
        let started = pod
            .pointer("/status/startTime")
            .and_then(Value::as_str)
            .or_else(|| object::meta_str(pod, "creationTimestamp"))
            .and_then(parse_rfc3339)
            .unwrap_or(0);
        let text = |p: &str| {
            pod.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        PodInfo {
            key: format!("{namespace}/{name}"),
            uid: object::meta_str(pod, "uid").unwrap_or("").to_string(),
            priority,
            never_preempt,
            requests: resources::pod_requests(spec),
            nonzero: resources::nonzero_requests(spec),
            ports: ports::host_ports(spec),
            tolerations: taints::tolerations(spec),
            node_affinity: NodeAffinity::from_spec(spec),
            pod_affinity: PodAffinity::from_spec(spec, &labels),
            spread: spread::constraints(spec, &labels),
            controller: controller_uid(pod).map(name_key),
            claims,
            node_name: text("/spec/nodeName"),
            nominated_node: text("/status/nominatedNodeName"),
            terminating: object::meta(pod).is_some_and(|m| m.contains_key("deletionTimestamp")),
            finished: matches!(phase, "Succeeded" | "Failed"),
            started,
            namespace,
            name,
            labels,
        }
    }

    pub fn has_pod_affinity(&self) -> bool {
        !self.pod_affinity.is_empty()
    }
}

/// `(priority, preemptionPolicy == Never)` of a pod, resolving its PriorityClass among
/// `classes`.
pub fn priority(pod: &Value, classes: &[Arc<Value>]) -> (i32, bool) {
    let spec_policy = pod
        .pointer("/spec/preemptionPolicy")
        .and_then(Value::as_str);
    let class_name = pod
        .pointer("/spec/priorityClassName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty());
    let class = match class_name {
        Some(n) => classes.iter().find(|c| object::name(c) == n),
        None => classes
            .iter()
            .find(|c| c.get("globalDefault").and_then(Value::as_bool) == Some(true)),
    };
    let class_value = class
        .and_then(|c| c.get("value"))
        .and_then(Value::as_i64)
        .or_else(|| {
            class_name
                .and_then(|n| SYSTEM_CLASSES.iter().find(|(s, _)| *s == n))
                .map(|(_, v)| i64::from(*v))
        });
    let value = pod
        .pointer("/spec/priority")
        .and_then(Value::as_i64)
        .or(class_value)
        .unwrap_or(0)
        .clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32;
    let policy = spec_policy.or_else(|| {
        class
            .and_then(|c| c.get("preemptionPolicy"))
            .and_then(Value::as_str)
    });
    (value, policy == Some("Never"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// A pod in `default` with priority from `spec.priority` (0 when unset).
    pub(crate) fn pod(mut v: Value) -> PodInfo {
        if v.pointer("/metadata/namespace").is_none() {
            v["metadata"]["namespace"] = json!("default");
        }
        if v.pointer("/metadata/uid").is_none() {
            let uid = format!("uid-{}", object::name(&v));
            v["metadata"]["uid"] = json!(uid);
        }
        let (p, never) = priority(&v, &[]);
        PodInfo::new(&v, p, never)
    }

    #[test]
    fn priority_resolution() {
        let classes: Vec<Arc<Value>> = vec![
            Arc::new(json!({"metadata": {"name": "high"}, "value": 1000})),
            Arc::new(
                json!({"metadata": {"name": "batch"}, "value": -5, "preemptionPolicy": "Never"}),
            ),
            Arc::new(json!({"metadata": {"name": "normal"}, "value": 10, "globalDefault": true})),
        ];
        let cases = [
            (
                "explicit spec.priority wins",
                json!({"spec": {"priority": 7, "priorityClassName": "high"}}),
                (7, false),
            ),
            (
                "class by name",
                json!({"spec": {"priorityClassName": "high"}}),
                (1000, false),
            ),
            (
                "class preemption policy",
                json!({"spec": {"priorityClassName": "batch"}}),
                (-5, true),
            ),
            (
                "pod policy overrides",
                json!({"spec": {"priorityClassName": "high", "preemptionPolicy": "Never"}}),
                (1000, true),
            ),
            ("global default", json!({"spec": {}}), (10, false)),
            (
                "built-in class",
                json!({"spec": {"priorityClassName": "system-node-critical"}}),
                (2_000_001_000, false),
            ),
            (
                "unknown class",
                json!({"spec": {"priorityClassName": "nope"}}),
                (0, false),
            ),
        ];
        for (name, p, want) in cases {
            assert_eq!(priority(&p, &classes), want, "{name}");
        }
        assert_eq!(priority(&json!({"spec": {}}), &[]), (0, false));
    }

    #[test]
    fn parses_the_fields_filters_read() {
        let p = pod(json!({
            "metadata": {"name": "p", "namespace": "ns", "labels": {"app": "x"}, "deletionTimestamp": "2026-01-01T00:00:00Z",
                         "ownerReferences": [{"uid": "rs-1", "controller": true}]},
            "spec": {"nodeName": "n1", "containers": [{"resources": {"requests": {"cpu": "250m"}}, "ports": [{"hostPort": 80}]}],
                     "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}, {"name": "e", "emptyDir": {}}],
                     "tolerations": [{"operator": "Exists"}]},
            "status": {"phase": "Running", "nominatedNodeName": "n2"}}));
        assert_eq!(p.key, "ns/p");
        assert_eq!(p.requests.milli_cpu, 250);
        assert_eq!(p.nonzero, (250, resources::DEFAULT_MEMORY));
        assert_eq!(p.ports.len(), 1);
        assert_eq!(p.claims, vec!["data"]);
        assert_eq!(p.controller, Some(name_key("rs-1")));
        assert_eq!(
            (p.node_name.as_str(), p.nominated_node.as_str()),
            ("n1", "n2")
        );
        assert!(p.terminating && !p.finished);
        assert_eq!(p.tolerations.len(), 1);
    }
}
