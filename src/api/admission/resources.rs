//! Resource lists (`corev1.ResourceList`) as admission computes with them: parsed from JSON into
//! exact [`Quantity`] values, added, masked, compared and printed as Kubernetes' `quota`
//! helpers do, plus the pod-level sums of container requests and limits
//! (`resourcehelper.PodRequests` / `PodLimits`).
//!
//! Contract: entries that do not parse as quantities are skipped (validation rejected them
//! before admission runs); maps are ordered by resource name so every rendering is
//! deterministic; sums are exact and a zero left-hand side takes the right-hand side's format,
//! which is how Kubernetes decides to print `512Mi` rather than `536870912`.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use crate::api::validation::quantity::{self, Quantity};

/// Resource name to quantity, ordered by name.
pub type ResourceList = BTreeMap<String, Quantity>;

/// A resource list from a JSON object (`None`, non-objects and unparseable entries read as
/// absent).
pub fn from_json(v: Option<&Value>) -> ResourceList {
    v.and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), quantity::from_json(v)?.ok()?)))
                .collect()
        })
        .unwrap_or_default()
}

/// The JSON object of canonical quantity strings.
pub fn to_json(list: &ResourceList) -> Value {
    Value::Object(
        list.iter()
            .map(|(k, q)| (k.clone(), Value::String(q.canonical())))
            .collect::<Map<String, Value>>(),
    )
}

/// `quota.Add`: every key of either list, summed where both have it.
pub fn add(a: &ResourceList, b: &ResourceList) -> ResourceList {
    let mut out = a.clone();
    for (k, v) in b {
        let sum = out.get(k).map_or(*v, |cur| cur.add(v));
        out.insert(k.clone(), sum);
    }
    out
}

/// Per resource the larger of the two (`maxResourceList`).
fn max_each(a: &mut ResourceList, b: &ResourceList) {
    for (k, v) in b {
        match a.get(k) {
            Some(cur) if cur >= v => {}
            _ => {
                a.insert(k.clone(), *v);
            }
        }
    }
}

/// `quota.Mask`: only the entries whose names `keep` accepts.
pub fn mask(list: &ResourceList, keep: impl Fn(&str) -> bool) -> ResourceList {
    list.iter()
        .filter(|(k, _)| keep(k))
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

/// `quota.RemoveZeros`.
pub fn without_zeros(list: &ResourceList) -> ResourceList {
    mask(list, |k| list.get(k).is_some_and(|q| !q.is_zero()))
}

/// Names whose value in `a` exceeds the value in `b` (names `b` lacks are not limited), as
/// `quota.LessThanOrEqual` reports them.
pub fn exceeded(a: &ResourceList, b: &ResourceList) -> Vec<String> {
    a.iter()
        .filter(|(k, v)| b.get(*k).is_some_and(|limit| *v > limit))
        .map(|(k, _)| k.clone())
        .collect()
}

/// Equal as quantities, key for key (`quota.Equals`).
pub fn equal(a: &ResourceList, b: &ResourceList) -> bool {
    a.len() == b.len() && a.iter().all(|(k, v)| b.get(k) == Some(v))
}

/// `name=value,name=value` in name order (the quota admission's `prettyPrint`).
pub fn pretty(list: &ResourceList) -> String {
    list.iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

fn container_list(c: &Value, which: &str) -> ResourceList {
    from_json(c.pointer(&format!("/resources/{which}")))
}

/// The pod's effective requests (`which` = "requests") or limits ("limits"): the sum over its
/// containers and restartable (sidecar) init containers, at least the largest need of any
/// regular init container (which runs next to the sidecars started before it), plus the pod
/// overhead (for limits, only on the limits that are set).
pub fn pod_total(pod: &Value, which: &str) -> ResourceList {
    let containers = |k: &str| {
        pod.pointer(&format!("/spec/{k}"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let mut total = containers("containers")
        .iter()
        .fold(ResourceList::new(), |acc, c| {
            add(&acc, &container_list(c, which))
        });
    let mut sidecars = ResourceList::new();
    let mut init_max = ResourceList::new();
    for c in containers("initContainers") {
        let own = container_list(&c, which);
        let need = if c.get("restartPolicy").and_then(Value::as_str) == Some("Always") {
            sidecars = add(&sidecars, &own);
            sidecars.clone()
        } else {
            add(&own, &sidecars)
        };
        max_each(&mut init_max, &need);
    }
    total = add(&total, &sidecars);
    max_each(&mut total, &init_max);
    let overhead = from_json(pod.pointer("/spec/overhead"));
    if which == "limits" {
        // A limit the containers leave unset stays unset: overhead only raises set limits.
        let set = mask(&overhead, |k| total.contains_key(k));
        return add(&total, &set);
    }
    add(&total, &overhead)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn rl(v: Value) -> ResourceList {
        from_json(Some(&v))
    }

    #[test]
    fn sums_masks_and_prints() {
        let a = rl(json!({"cpu": "500m", "memory": "1Gi"}));
        let b = rl(json!({"cpu": "1", "pods": 1}));
        let s = add(&a, &b);
        assert_eq!(pretty(&s), "cpu=1500m,memory=1Gi,pods=1");
        assert_eq!(pretty(&mask(&s, |k| k != "memory")), "cpu=1500m,pods=1");
        assert_eq!(
            to_json(&s),
            json!({"cpu": "1500m", "memory": "1Gi", "pods": "1"})
        );
        assert_eq!(
            exceeded(&s, &rl(json!({"cpu": "1", "pods": "1"}))),
            vec!["cpu"]
        );
        assert!(equal(
            &rl(json!({"cpu": "1000m"})),
            &rl(json!({"cpu": "1"}))
        ));
        assert_eq!(
            pretty(&without_zeros(&rl(json!({"a": "0", "b": "1"})))),
            "b=1"
        );
    }

    #[test]
    fn pod_totals_follow_init_and_sidecar_rules() {
        let pod = json!({"spec": {
            "containers": [
                {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}},
                {"name": "b", "resources": {"requests": {"cpu": "200m"}}},
            ],
            "initContainers": [
                {"name": "side", "restartPolicy": "Always", "resources": {"requests": {"cpu": "50m"}}},
                {"name": "init", "resources": {"requests": {"cpu": "1", "memory": "32Mi"}}},
            ],
            "overhead": {"cpu": "10m"},
        }});
        let r = pod_total(&pod, "requests");
        // max(100m + 200m + 50m, 1 + 50m) + 10m overhead.
        assert_eq!(r["cpu"].canonical(), "1060m");
        assert_eq!(r["memory"].canonical(), "64Mi");
        assert!(pod_total(&pod, "limits").is_empty());
    }
}
