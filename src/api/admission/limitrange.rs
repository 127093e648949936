//! LimitRange admission (Kubernetes' `LimitRanger`): on pod create, containers get the
//! namespace's Container `default` limits and `defaultRequest` requests for whatever they do not
//! set (recorded in the `kubernetes.io/limit-ranger` annotation), then every LimitRange's `min`,
//! `max` and `maxLimitRequestRatio` for Container and Pod are enforced; PersistentVolumeClaims
//! are held to the PersistentVolumeClaim `min`/`max` of storage requests.
//!
//! Contract: violations are refused with 403 Forbidden and Kubernetes' messages (`pods "x" is
//! forbidden: maximum cpu usage per Container is 1, but limit is 2`; several are joined in
//! `[...]`). Defaults land before validation is repeated on the mutated pod, so a default limit
//! below an explicit request is refused as Kubernetes refuses it (422).

use serde_json::{json, Map, Value};

use super::quota::forbidden;
use super::resources::{self, ResourceList};
use crate::api::object;
use crate::api::registry::ResourceDef;
use crate::api::server::ApiServer;
use crate::api::status::ApiError;
use crate::api::validation::quantity::Quantity;

/// The annotation listing what the defaults set.
pub const ANNOTATION: &str = "kubernetes.io/limit-ranger";

/// `resource.MaxMilliValue`: beyond it comparisons fall back to whole units.
const MAX_MILLI_VALUE: i64 = i64::MAX / 1000;

fn items<'a>(lr: &'a Value, ty: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    lr.pointer("/spec/limits")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(move |i| i.get("type").and_then(Value::as_str) == Some(ty))
}

/// Fill unset container limits and requests from one LimitRange's Container defaults; returns
/// the annotation text when anything was set (`cpu, memory request for container app; ...`).
pub fn apply_defaults(lr: &Value, pod: &mut Value) -> Option<String> {
    let mut limits = Map::new();
    let mut requests = Map::new();
    for item in items(lr, "Container") {
        for (src, dst) in [("default", &mut limits), ("defaultRequest", &mut requests)] {
            if let Some(m) = item.get(src).and_then(Value::as_object) {
                dst.extend(m.iter().map(|(k, v)| (k.clone(), v.clone())));
            }
        }
    }
    if limits.is_empty() && requests.is_empty() {
        return None;
    }
    let mut notes = Vec::new();
    for (key, label) in [
        ("containers", "container"),
        ("initContainers", "init container"),
    ] {
        let Some(list) = pod
            .pointer_mut(&format!("/spec/{key}"))
            .and_then(Value::as_array_mut)
        else {
            continue;
        };
        for c in list.iter_mut().filter(|c| c.is_object()) {
            let name = c
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            let set_requests = fill(c, "requests", &requests);
            let set_limits = fill(c, "limits", &limits);
            if !set_requests.is_empty() {
                notes.push(format!(
                    "{} request for {label} {name}",
                    set_requests.join(", ")
                ));
            }
            if !set_limits.is_empty() {
                notes.push(format!(
                    "{} limit for {label} {name}",
                    set_limits.join(", ")
                ));
            }
        }
    }
    (!notes.is_empty()).then(|| format!("LimitRanger plugin set: {}", notes.join("; ")))
}

/// Set the defaults a container lacks under `resources.<which>`; the names set, sorted.
fn fill(c: &mut Value, which: &str, defaults: &Map<String, Value>) -> Vec<String> {
    let has = |c: &Value, k: &str| {
        c.pointer(&format!("/resources/{which}/{k}"))
            .is_some_and(|v| !v.is_null())
    };
    let mut set: Vec<String> = defaults.keys().filter(|k| !has(c, k)).cloned().collect();
    if set.is_empty() {
        return set;
    }
    if !c.get("resources").is_some_and(Value::is_object) {
        c["resources"] = json!({});
    }
    if !c["resources"].get(which).is_some_and(Value::is_object) {
        c["resources"][which] = json!({});
    }
    for k in &set {
        c["resources"][which][k] = defaults[k].clone();
    }
    set.sort();
    set
}

/// `requestLimitEnforcedValues`: compare in milli-units unless that could overflow.
fn comparable(
    req: Option<&Quantity>,
    lim: Option<&Quantity>,
    enforced: &Quantity,
) -> (i64, i64, i64) {
    let zero = Quantity::zero();
    let (req, lim) = (req.unwrap_or(&zero), lim.unwrap_or(&zero));
    let whole = (req.value(), lim.value(), enforced.value());
    if whole.0 <= MAX_MILLI_VALUE && whole.1 <= MAX_MILLI_VALUE && whole.2 <= MAX_MILLI_VALUE {
        (req.milli_value(), lim.milli_value(), enforced.milli_value())
    } else {
        whole
    }
}

/// One side of a pod's resources in a bound check: its name, quantity and comparable value.
type Side<'a> = (&'a str, Option<&'a Quantity>, i64);

/// `minConstraint`, `maxConstraint` and `maxRequestConstraint`: `required` must be set and
/// within the bound, `other` (if set) within it too.
fn bound(
    max: bool,
    ty: &str,
    res: &str,
    enforced: &Quantity,
    e: i64,
    required: Side,
    other: Option<Side>,
) -> Option<String> {
    let word = if max { "maximum" } else { "minimum" };
    let beyond = |v: i64| if max { v > e } else { v < e };
    let Some(q) = required.1 else {
        let what = required.0;
        return Some(format!(
            "{word} {res} usage per {ty} is {enforced}.  No {what} is specified"
        ));
    };
    [Some((required.0, Some(q), required.2)), other]
        .into_iter()
        .flatten()
        .find_map(|(what, q, v)| q.filter(|_| beyond(v)).map(|q| (what, q)))
        .map(|(what, q)| format!("{word} {res} usage per {ty} is {enforced}, but {what} is {q}"))
}

/// `minConstraint` (the request must be set) or `maxConstraint` (the limit must be set) on a
/// requests/limits pair.
fn pod_bound(
    max: bool,
    ty: &str,
    res: &str,
    enforced: &Quantity,
    requests: &ResourceList,
    limits: &ResourceList,
) -> Option<String> {
    let (req, lim) = (requests.get(res), limits.get(res));
    let (r, l, e) = comparable(req, lim, enforced);
    let (request, limit) = (("request", req, r), ("limit", lim, l));
    let (required, other) = if max {
        (limit, request)
    } else {
        (request, limit)
    };
    bound(max, ty, res, enforced, e, required, Some(other))
}

/// Claims have requests only.
fn max_request_constraint(
    ty: &str,
    res: &str,
    enforced: &Quantity,
    requests: &ResourceList,
) -> Option<String> {
    let req = requests.get(res);
    let (r, _, e) = comparable(req, None, enforced);
    bound(true, ty, res, enforced, e, ("request", req, r), None)
}

fn ratio_constraint(
    ty: &str,
    res: &str,
    enforced: &Quantity,
    requests: &ResourceList,
    limits: &ResourceList,
) -> Option<String> {
    let (r, l, _) = comparable(requests.get(res), limits.get(res), enforced);
    if r == 0 {
        return Some(format!("{res} max limit to request ratio per {ty} is {enforced}, but no request is specified or request is 0"));
    }
    if l == 0 {
        return Some(format!("{res} max limit to request ratio per {ty} is {enforced}, but no limit is specified or limit is 0"));
    }
    let shown = l as f64 / r as f64;
    let (observed, max) = if enforced.value() <= MAX_MILLI_VALUE {
        (shown * 1000.0, enforced.milli_value() as f64)
    } else {
        (shown, enforced.value() as f64)
    };
    (observed > max).then(|| format!("{res} max limit to request ratio per {ty} is {enforced}, but provided ratio is {shown:.6}"))
}

/// min, max and ratio of one limit item against one requests/limits pair.
fn check_item(
    item: &Value,
    ty: &str,
    requests: &ResourceList,
    limits: &ResourceList,
    errs: &mut Vec<String>,
) {
    let list = |k: &str| resources::from_json(item.get(k));
    for (res, q) in &list("min") {
        errs.extend(pod_bound(false, ty, res, q, requests, limits));
    }
    for (res, q) in &list("max") {
        errs.extend(pod_bound(true, ty, res, q, requests, limits));
    }
    for (res, q) in &list("maxLimitRequestRatio") {
        errs.extend(ratio_constraint(ty, res, q, requests, limits));
    }
}

/// Every violation of one LimitRange by a pod (`PodValidateLimitFunc`), in Kubernetes' order.
pub fn validate_pod(lr: &Value, pod: &Value) -> Vec<String> {
    let mut errs = Vec::new();
    for item in lr
        .pointer("/spec/limits")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        match item.get("type").and_then(Value::as_str) {
            Some("Container") => {
                for key in ["containers", "initContainers"] {
                    let list = pod
                        .pointer(&format!("/spec/{key}"))
                        .and_then(Value::as_array);
                    for c in list.into_iter().flatten() {
                        let requests = resources::from_json(c.pointer("/resources/requests"));
                        let limits = resources::from_json(c.pointer("/resources/limits"));
                        check_item(item, "Container", &requests, &limits, &mut errs);
                    }
                }
            }
            Some("Pod") => {
                let requests = resources::pod_total(pod, "requests");
                let limits = resources::pod_total(pod, "limits");
                check_item(item, "Pod", &requests, &limits, &mut errs);
            }
            _ => {}
        }
    }
    errs
}

/// Every violation of one LimitRange by a claim (`PersistentVolumeClaimValidateLimitFunc`).
pub fn validate_claim(lr: &Value, pvc: &Value) -> Vec<String> {
    let requests = resources::from_json(pvc.pointer("/spec/resources/requests"));
    let mut errs = Vec::new();
    for item in items(lr, "PersistentVolumeClaim") {
        for (res, q) in &resources::from_json(item.get("min")) {
            errs.extend(pod_bound(
                false,
                "PersistentVolumeClaim",
                res,
                q,
                &requests,
                &ResourceList::new(),
            ));
        }
        for (res, q) in &resources::from_json(item.get("max")) {
            errs.extend(max_request_constraint(
                "PersistentVolumeClaim",
                res,
                q,
                &requests,
            ));
        }
    }
    errs
}

/// Apply the namespace's LimitRanges to a pod or claim being created.
pub fn admit(srv: &ApiServer, def: &ResourceDef, obj: &mut Value) -> Result<(), ApiError> {
    let pod = match (def.group.as_str(), def.kind.as_str()) {
        ("", "Pod") => true,
        ("", "PersistentVolumeClaim") => false,
        _ => return Ok(()),
    };
    let Some(ns) = object::meta_str(obj, "namespace").map(str::to_string) else {
        return Ok(());
    };
    let Some(lrdef) = srv.registry.by_path("", "v1", "limitranges") else {
        return Ok(());
    };
    let (recs, _, _) = srv
        .store
        .list(lrdef.ns_prefix(Some(&ns)).as_bytes(), None, None)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    let ranges: Vec<Value> = recs
        .iter()
        .filter_map(|r| serde_json::from_slice(&r.value).ok())
        .collect();
    if ranges.is_empty() {
        return Ok(());
    }
    let mut errs = Vec::new();
    if pod {
        let mut note = None;
        for lr in &ranges {
            note = apply_defaults(lr, obj).or(note);
        }
        for lr in &ranges {
            errs.extend(validate_pod(lr, obj));
        }
        if let Some(n) = note {
            let m = object::meta_mut(obj);
            if !m.get("annotations").is_some_and(Value::is_object) {
                m.insert("annotations".into(), json!({}));
            }
            obj["metadata"]["annotations"][ANNOTATION] = json!(n);
            let causes = crate::api::validation::validate("", "Pod", obj, None);
            if !causes.is_empty() {
                return Err(ApiError::invalid("Pod", "", object::name(obj), causes));
            }
        }
    } else {
        for lr in &ranges {
            errs.extend(validate_claim(lr, obj));
        }
    }
    match errs.len() {
        0 => Ok(()),
        1 => Err(forbidden(def, object::name(obj), &errs[0])),
        _ => Err(forbidden(
            def,
            object::name(obj),
            &format!("[{}]", errs.join(", ")),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lr(limits: Value) -> Value {
        json!({"metadata": {"name": "lr"}, "spec": {"limits": limits}})
    }

    fn pod(resources: Value) -> Value {
        json!({"metadata": {"name": "p"}, "spec": {
            "containers": [{"name": "app", "resources": resources}],
            "initContainers": [{"name": "setup"}]}})
    }

    #[test]
    fn defaults_fill_only_what_is_unset_and_annotate() {
        let r = lr(json!([{"type": "Container",
            "default": {"cpu": "500m", "memory": "256Mi"},
            "defaultRequest": {"cpu": "100m", "memory": "128Mi"}}]));
        let mut p = pod(json!({"limits": {"cpu": "1"}}));
        let note = apply_defaults(&r, &mut p).unwrap();
        assert_eq!(
            note,
            "LimitRanger plugin set: cpu, memory request for container app; memory limit for container app; \
             cpu, memory request for init container setup; cpu, memory limit for init container setup"
        );
        let c = &p["spec"]["containers"][0]["resources"];
        assert_eq!(c["limits"], json!({"cpu": "1", "memory": "256Mi"}));
        assert_eq!(c["requests"], json!({"cpu": "100m", "memory": "128Mi"}));
        assert_eq!(apply_defaults(&r, &mut p), None);
        assert_eq!(
            apply_defaults(
                &lr(json!([{"type": "Pod", "max": {"cpu": "1"}}])),
                &mut pod(json!({}))
            ),
            None
        );
    }

    #[test]
    fn max_min_and_ratio_messages_match_kubernetes() {
        let r = lr(json!([{"type": "Container", "max": {"cpu": "1"}}]));
        let p = json!({"spec": {"containers": [{"name": "a", "resources": {"limits": {"cpu": "2"}, "requests": {"cpu": "2"}}}]}});
        assert_eq!(
            validate_pod(&r, &p),
            vec!["maximum cpu usage per Container is 1, but limit is 2"]
        );
        let p = json!({"spec": {"containers": [{"name": "a"}]}});
        assert_eq!(
            validate_pod(&r, &p),
            vec!["maximum cpu usage per Container is 1.  No limit is specified"]
        );

        let r = lr(json!([{"type": "Container", "min": {"memory": "64Mi"}}]));
        let p = json!({"spec": {"containers": [{"name": "a", "resources": {"requests": {"memory": "32Mi"}}}]}});
        assert_eq!(
            validate_pod(&r, &p),
            vec!["minimum memory usage per Container is 64Mi, but request is 32Mi"]
        );

        let r = lr(json!([{"type": "Container", "maxLimitRequestRatio": {"cpu": "2"}}]));
        let p = json!({"spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "250m"}, "limits": {"cpu": "1"}}}]}});
        assert_eq!(
            validate_pod(&r, &p),
            vec![
                "cpu max limit to request ratio per Container is 2, but provided ratio is 4.000000"
            ]
        );
        let p = json!({"spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "500m"}, "limits": {"cpu": "1"}}}]}});
        assert!(validate_pod(&r, &p).is_empty());
    }

    #[test]
    fn pod_limits_apply_to_the_pod_total() {
        let r = lr(json!([{"type": "Pod", "max": {"cpu": "1"}}]));
        let p = json!({"spec": {"containers": [
            {"name": "a", "resources": {"limits": {"cpu": "600m"}}},
            {"name": "b", "resources": {"limits": {"cpu": "600m"}}}]}});
        assert_eq!(
            validate_pod(&r, &p),
            vec!["maximum cpu usage per Pod is 1, but limit is 1200m"]
        );
    }

    #[test]
    fn claims_are_held_to_storage_bounds() {
        let r = lr(
            json!([{"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}, "max": {"storage": "10Gi"}}]),
        );
        let pvc = |s: &str| json!({"spec": {"resources": {"requests": {"storage": s}}}});
        assert_eq!(
            validate_claim(&r, &pvc("20Gi")),
            vec!["maximum storage usage per PersistentVolumeClaim is 10Gi, but request is 20Gi"]
        );
        assert_eq!(
            validate_claim(&r, &pvc("500Mi")),
            vec!["minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi"]
        );
        assert!(validate_claim(&r, &pvc("5Gi")).is_empty());
    }
}
