//! What objects consume of a ResourceQuota: Kubernetes' quota evaluators for pods, services and
//! persistent volume claims, object counts (`count/<resource>.<group>` and the legacy names such
//! as `configmaps`) for every resource, quota scopes, and the "must specify" constraint pods
//! meet when a quota covers cpu or memory. Shared by quota admission and the quota controller.
//!
//! Contract: [`usage`] is the usage of one object as Kubernetes' `Evaluator.Usage` reports it
//! (pods that reached a terminal phase or overstayed their deletion grace only count in
//! `count/pods`); [`namespace_usage`] sums the usage of every object of a namespace that a
//! quota matches, for the names in its `spec.hard`. Quotas with scopes only ever match pods.

use std::sync::Arc;

use serde_json::Value;

use super::resources::{self, add, mask, ResourceList};
use crate::api::handlers::hooks::qos_class;
use crate::api::object;
use crate::api::server::ApiServer;
use crate::api::validation::quantity::Quantity;
use crate::clock::parse_rfc3339;

/// Resources whose usage needs the objects themselves; every other quota name is an object
/// count read from the store.
pub const EVALUATED: [&str; 3] = ["pods", "services", "persistentvolumeclaims"];

/// Core resources with a legacy object-count quota name (`configmaps` = `count/configmaps`).
const LEGACY_COUNTS: [&str; 7] = [
    "pods",
    "services",
    "persistentvolumeclaims",
    "configmaps",
    "secrets",
    "replicationcontrollers",
    "resourcequotas",
];

/// The resources a cpu/memory quota makes every container declare.
const MUST_SPECIFY: [&str; 6] = [
    "cpu",
    "memory",
    "requests.cpu",
    "requests.memory",
    "limits.cpu",
    "limits.memory",
];

/// `count/pods`, `count/deployments.apps`.
pub fn count_name(group: &str, plural: &str) -> String {
    if group.is_empty() {
        format!("count/{plural}")
    } else {
        format!("count/{plural}.{group}")
    }
}

/// Where the usage of a quota name comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Summed over the objects of one of [`EVALUATED`].
    Evaluated(&'static str),
    /// The number of stored objects of (group, plural).
    Count(String, String),
}

/// The source of a quota resource name.
pub fn source_of(name: &str) -> Source {
    let counted = if let Some(rest) = name.strip_prefix("count/") {
        let (plural, group) = rest.split_once('.').unwrap_or((rest, ""));
        Some((group.to_string(), plural.to_string()))
    } else if LEGACY_COUNTS.contains(&name) {
        Some((String::new(), name.to_string()))
    } else {
        None
    };
    match counted {
        Some((g, p)) if g.is_empty() && EVALUATED.contains(&p.as_str()) => {
            Source::Evaluated(EVALUATED.into_iter().find(|e| *e == p).unwrap_or("pods"))
        }
        Some((g, p)) => Source::Count(g, p),
        None if name.starts_with("services.") => Source::Evaluated("services"),
        None if name == "requests.storage" || name.contains(".storageclass.storage.k8s.io/") => {
            Source::Evaluated("persistentvolumeclaims")
        }
        None => Source::Evaluated("pods"),
    }
}

/// `QuotaV1Pod`: a pod is charged compute quota until it finishes or overstays its deletion
/// grace period (a pod stuck terminating on a lost node must not block its replacement).
pub fn pod_is_charged(pod: &Value, now: i64) -> bool {
    let phase = pod.pointer("/status/phase").and_then(Value::as_str);
    if matches!(phase, Some("Succeeded") | Some("Failed")) {
        return false;
    }
    let deleted = object::meta_str(pod, "deletionTimestamp").and_then(parse_rfc3339);
    let grace = object::meta(pod)
        .and_then(|m| m.get("deletionGracePeriodSeconds"))
        .and_then(Value::as_i64);
    match (deleted, grace) {
        (Some(at), Some(g)) => now <= at + g,
        _ => true,
    }
}

/// `podComputeUsageHelper`: the quota names requests and limits map to.
fn compute_usage(requests: &ResourceList, limits: &ResourceList) -> ResourceList {
    let mut out = ResourceList::new();
    out.insert("pods".into(), Quantity::from_int(1));
    for (name, q) in requests {
        match name.as_str() {
            "cpu" | "memory" | "ephemeral-storage" => {
                out.insert(name.clone(), *q);
                out.insert(format!("requests.{name}"), *q);
            }
            n if n.starts_with("hugepages-") => {
                out.insert(name.clone(), *q);
                out.insert(format!("requests.{name}"), *q);
            }
            // Extended resources are only quota'd as `requests.<name>`.
            n if n.contains('/') && !n.contains("kubernetes.io/") => {
                out.insert(format!("requests.{name}"), *q);
            }
            _ => {}
        }
    }
    for (name, q) in limits {
        if matches!(name.as_str(), "cpu" | "memory" | "ephemeral-storage") {
            out.insert(format!("limits.{name}"), *q);
        }
    }
    out
}

fn one(name: &str) -> (String, Quantity) {
    (name.to_string(), Quantity::from_int(1))
}

/// The usage of one object of (group, plural) as quota counts it.
pub fn usage(group: &str, plural: &str, obj: &Value, now: i64) -> ResourceList {
    let mut out: ResourceList = [one(&count_name(group, plural))].into_iter().collect();
    if !group.is_empty() {
        return out;
    }
    match plural {
        "pods" if pod_is_charged(obj, now) => {
            let requests = resources::pod_total(obj, "requests");
            let limits = resources::pod_total(obj, "limits");
            out = add(&out, &compute_usage(&requests, &limits));
        }
        // Finished pods only count as stored objects.
        "pods" => {}
        "services" => {
            out.extend([one("services")]);
            let ports = obj
                .pointer("/spec/ports")
                .and_then(Value::as_array)
                .map_or(0, Vec::len) as i64;
            let ty = obj.pointer("/spec/type").and_then(Value::as_str);
            let node_ports = match ty {
                Some("NodePort") => ports,
                Some("LoadBalancer")
                    if obj.pointer("/spec/allocateLoadBalancerNodePorts")
                        != Some(&Value::Bool(false)) =>
                {
                    ports
                }
                _ => 0,
            };
            if node_ports > 0 {
                out.insert("services.nodeports".into(), Quantity::from_int(node_ports));
            }
            if ty == Some("LoadBalancer") {
                out.extend([one("services.loadbalancers")]);
            }
        }
        "persistentvolumeclaims" => {
            out.extend([one("persistentvolumeclaims")]);
            let class = obj
                .pointer("/spec/storageClassName")
                .and_then(Value::as_str);
            if let Some(c) = class.filter(|c| !c.is_empty()) {
                out.extend([one(&format!(
                    "{c}.storageclass.storage.k8s.io/persistentvolumeclaims"
                ))]);
            }
            let storage =
                resources::from_json(obj.pointer("/spec/resources/requests")).remove("storage");
            if let Some(q) = storage {
                out.insert("requests.storage".into(), q);
                if let Some(c) = class.filter(|c| !c.is_empty()) {
                    out.insert(
                        format!("{c}.storageclass.storage.k8s.io/requests.storage"),
                        q,
                    );
                }
            }
        }
        p if LEGACY_COUNTS.contains(&p) => out.extend([one(p)]),
        _ => {}
    }
    out
}

/// One scope requirement of a quota (`spec.scopes` entries are `Exists`).
#[derive(Debug, Clone)]
struct Scope {
    name: String,
    operator: String,
    values: Vec<String>,
}

fn scopes(quota: &Value) -> Vec<Scope> {
    let mut out: Vec<Scope> = quota
        .pointer("/spec/scopes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|s| Scope {
            name: s.to_string(),
            operator: "Exists".into(),
            values: vec![],
        })
        .collect();
    let exprs = quota
        .pointer("/spec/scopeSelector/matchExpressions")
        .and_then(Value::as_array);
    for e in exprs.into_iter().flatten() {
        let s = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        let values = e
            .get("values")
            .and_then(Value::as_array)
            .map(|vs| {
                vs.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default();
        out.push(Scope {
            name: s("scopeName"),
            operator: s("operator"),
            values,
        });
    }
    out
}

fn pod_matches_scope(pod: &Value, scope: &Scope) -> bool {
    let terminating = pod
        .pointer("/spec/activeDeadlineSeconds")
        .and_then(Value::as_i64)
        .is_some_and(|s| s >= 0);
    match scope.name.as_str() {
        "Terminating" => terminating,
        "NotTerminating" => !terminating,
        "BestEffort" => qos_class(pod) == "BestEffort",
        "NotBestEffort" => qos_class(pod) != "BestEffort",
        "PriorityClass" => {
            let class = pod
                .pointer("/spec/priorityClassName")
                .and_then(Value::as_str)
                .unwrap_or("");
            match scope.operator.as_str() {
                "In" => scope.values.iter().any(|v| v == class),
                "NotIn" => !scope.values.iter().any(|v| v == class),
                "Exists" => !class.is_empty(),
                "DoesNotExist" => class.is_empty(),
                _ => false,
            }
        }
        "CrossNamespacePodAffinity" => ["podAffinity", "podAntiAffinity"].iter().any(|a| {
            [
                "requiredDuringSchedulingIgnoredDuringExecution",
                "preferredDuringSchedulingIgnoredDuringExecution",
            ]
            .iter()
            .filter_map(|w| {
                pod.pointer(&format!("/spec/affinity/{a}/{w}"))
                    .and_then(Value::as_array)
            })
            .flatten()
            .map(|t| t.get("podAffinityTerm").unwrap_or(t))
            .any(|t| {
                t.get("namespaceSelector").is_some_and(|s| !s.is_null())
                    || t.get("namespaces")
                        .and_then(Value::as_array)
                        .is_some_and(|n| !n.is_empty())
            })
        }),
        _ => false,
    }
}

/// Whether a quota applies to an object of (group, plural): always without scopes; with
/// scopes only to pods satisfying every scope.
pub fn quota_matches(quota: &Value, group: &str, plural: &str, obj: &Value) -> bool {
    let scopes = scopes(quota);
    if scopes.is_empty() {
        return true;
    }
    group.is_empty() && plural == "pods" && scopes.iter().all(|s| pod_matches_scope(obj, s))
}

/// Whether the quota has scopes (then only pods count against it).
pub fn has_scopes(quota: &Value) -> bool {
    !scopes(quota).is_empty()
}

/// The pod evaluator's `Constraints`: when a quota limits cpu or memory, every container must
/// state the matching request or limit. The message after `failed quota: NAME: `.
pub fn pod_constraints(hard: &ResourceList, pod: &Value) -> Result<(), String> {
    let required: Vec<&str> = MUST_SPECIFY
        .into_iter()
        .filter(|r| hard.contains_key(*r))
        .collect();
    if required.is_empty() {
        return Ok(());
    }
    let mut missing: std::collections::BTreeMap<&str, std::collections::BTreeSet<String>> =
        Default::default();
    for key in ["containers", "initContainers"] {
        let list = pod
            .pointer(&format!("/spec/{key}"))
            .and_then(Value::as_array);
        for c in list.into_iter().flatten() {
            let have = compute_usage(
                &resources::from_json(c.pointer("/resources/requests")),
                &resources::from_json(c.pointer("/resources/limits")),
            );
            let name = c
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            for r in required.iter().filter(|r| !have.contains_key(**r)) {
                missing.entry(r).or_default().insert(name.clone());
            }
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    let parts: Vec<String> = missing
        .iter()
        .map(|(r, names)| {
            format!(
                "{r} for: {}",
                names.iter().cloned().collect::<Vec<_>>().join(",")
            )
        })
        .collect();
    Err(format!("must specify {}", parts.join("; ")))
}

/// The objects of one namespace, as the quota computation reads them.
pub trait Objects {
    /// The objects of a core resource in [`EVALUATED`].
    fn list(&self, plural: &str) -> Vec<Arc<Value>>;
    /// How many objects of (group, plural) are stored.
    fn count(&self, group: &str, plural: &str) -> usize;
}

/// The usage of everything a quota matches, for the names in its `spec.hard` (each present,
/// zero when nothing uses it), as the quota controller's `CalculateUsage` computes it.
pub fn namespace_usage(quota: &Value, objects: &dyn Objects, now: i64) -> ResourceList {
    let hard = resources::from_json(quota.pointer("/spec/hard"));
    let mut used: ResourceList = hard.keys().map(|k| (k.clone(), Quantity::zero())).collect();
    let scoped = has_scopes(quota);
    for plural in EVALUATED {
        if !hard
            .keys()
            .any(|k| source_of(k) == Source::Evaluated(plural))
        {
            continue;
        }
        for obj in objects.list(plural) {
            if quota_matches(quota, "", plural, &obj) {
                let u = usage("", plural, &obj, now);
                used = add(&used, &mask(&u, |k| hard.contains_key(k)));
            }
        }
    }
    for name in hard.keys() {
        if let Source::Count(g, p) = source_of(name) {
            let n = if scoped { 0 } else { objects.count(&g, &p) };
            used.insert(name.clone(), Quantity::from_int(n as i64));
        }
    }
    used
}

/// The number of stored objects of (group, plural) in a namespace (0 for unknown resources).
pub fn stored_count(srv: &ApiServer, group: &str, plural: &str, ns: &str) -> usize {
    srv.registry
        .by_group_plural(group, plural)
        .filter(|d| d.namespaced)
        .and_then(|d| srv.store.count(d.ns_prefix(Some(ns)).as_bytes()).ok())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn pod(requests: Value, limits: Value) -> Value {
        json!({"metadata": {"name": "p", "namespace": "d"}, "spec": {"containers": [
            {"name": "c", "resources": {"requests": requests, "limits": limits}}]}})
    }

    #[test]
    fn pod_usage_maps_requests_and_limits() {
        let p = pod(
            json!({"cpu": "250m", "memory": "64Mi"}),
            json!({"cpu": "500m"}),
        );
        let u = usage("", "pods", &p, 0);
        assert_eq!(
            resources::pretty(&u),
            "count/pods=1,cpu=250m,limits.cpu=500m,memory=64Mi,pods=1,requests.cpu=250m,requests.memory=64Mi"
        );
        let mut done = p.clone();
        done["status"] = json!({"phase": "Succeeded"});
        assert_eq!(
            resources::pretty(&usage("", "pods", &done, 0)),
            "count/pods=1"
        );
    }

    #[test]
    fn terminating_pods_stop_counting_after_their_grace() {
        let mut p = pod(json!({}), json!({}));
        p["metadata"]["deletionTimestamp"] = json!("1970-01-01T00:01:40Z");
        p["metadata"]["deletionGracePeriodSeconds"] = json!(30);
        assert!(pod_is_charged(&p, 130));
        assert!(!pod_is_charged(&p, 131));
    }

    #[test]
    fn service_and_claim_usage() {
        let svc = json!({"spec": {"type": "LoadBalancer", "ports": [{"port": 1}, {"port": 2}]}});
        assert_eq!(
            resources::pretty(&usage("", "services", &svc, 0)),
            "count/services=1,services=1,services.loadbalancers=1,services.nodeports=2"
        );
        let pvc = json!({"spec": {"storageClassName": "fast", "resources": {"requests": {"storage": "1Gi"}}}});
        assert_eq!(
            resources::pretty(&usage("", "persistentvolumeclaims", &pvc, 0)),
            "count/persistentvolumeclaims=1,fast.storageclass.storage.k8s.io/persistentvolumeclaims=1,\
             fast.storageclass.storage.k8s.io/requests.storage=1Gi,persistentvolumeclaims=1,requests.storage=1Gi"
        );
        assert_eq!(
            resources::pretty(&usage("apps", "deployments", &json!({}), 0)),
            "count/deployments.apps=1"
        );
        assert_eq!(
            resources::pretty(&usage("", "configmaps", &json!({}), 0)),
            "configmaps=1,count/configmaps=1"
        );
    }

    #[test]
    fn sources_of_quota_names() {
        assert_eq!(source_of("requests.cpu"), Source::Evaluated("pods"));
        assert_eq!(source_of("count/pods"), Source::Evaluated("pods"));
        assert_eq!(
            source_of("services.nodeports"),
            Source::Evaluated("services")
        );
        assert_eq!(
            source_of("requests.storage"),
            Source::Evaluated("persistentvolumeclaims")
        );
        assert_eq!(
            source_of("secrets"),
            Source::Count(String::new(), "secrets".into())
        );
        assert_eq!(
            source_of("count/widgets.example.com"),
            Source::Count("example.com".into(), "widgets".into())
        );
    }

    #[test]
    fn scopes_select_pods_only() {
        let q = json!({"spec": {"scopes": ["BestEffort"]}});
        assert!(quota_matches(&q, "", "pods", &pod(json!({}), json!({}))));
        assert!(!quota_matches(
            &q,
            "",
            "pods",
            &pod(json!({"cpu": "1"}), json!({}))
        ));
        assert!(!quota_matches(&q, "", "configmaps", &json!({})));
        let pc = json!({"spec": {"scopeSelector": {"matchExpressions": [
            {"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]}}});
        let mut p = pod(json!({}), json!({}));
        assert!(!quota_matches(&pc, "", "pods", &p));
        p["spec"]["priorityClassName"] = json!("high");
        assert!(quota_matches(&pc, "", "pods", &p));
        assert!(quota_matches(
            &json!({"spec": {}}),
            "",
            "secrets",
            &json!({})
        ));
    }

    #[test]
    fn constraints_name_missing_resources_per_container() {
        let hard = resources::from_json(Some(
            &json!({"limits.cpu": "2", "limits.memory": "1Gi", "pods": "3"}),
        ));
        let p = json!({"spec": {"containers": [
            {"name": "a", "resources": {"limits": {"cpu": "1"}}},
            {"name": "b"}]}});
        assert_eq!(
            pod_constraints(&hard, &p).unwrap_err(),
            "must specify limits.cpu for: b; limits.memory for: a,b"
        );
        assert!(pod_constraints(&resources::from_json(Some(&json!({"pods": "1"}))), &p).is_ok());
    }

    struct Fake(Vec<Arc<Value>>, usize);
    impl Objects for Fake {
        fn list(&self, plural: &str) -> Vec<Arc<Value>> {
            if plural == "pods" {
                self.0.clone()
            } else {
                vec![]
            }
        }
        fn count(&self, _: &str, _: &str) -> usize {
            self.1
        }
    }

    #[test]
    fn namespace_usage_sums_what_the_quota_limits() {
        let q = json!({"spec": {"hard": {"pods": "5", "requests.memory": "1Gi", "configmaps": "10", "services": "2"}}});
        let pods = vec![
            Arc::new(pod(json!({"memory": "256Mi"}), json!({}))),
            Arc::new(pod(json!({"memory": "256Mi"}), json!({}))),
        ];
        let used = namespace_usage(&q, &Fake(pods, 3), 0);
        assert_eq!(
            resources::pretty(&used),
            "configmaps=3,pods=2,requests.memory=512Mi,services=0"
        );
    }
}
