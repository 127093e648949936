//! The disruption controller: keeps each PodDisruptionBudget's status (`expectedPods`,
//! `desiredHealthy`, `currentHealthy`, `disruptionsAllowed`, `disruptedPods`,
//! `observedGeneration` and the `DisruptionAllowed` condition) up to date from the pods its
//! selector picks and the scale of their controllers, as Kubernetes' disruption controller
//! does. The eviction subresource (`api::handlers::eviction`) spends the budget this status
//! grants and shares the pure functions here.
//!
//! Contract: one key per budget; pod changes enqueue the budgets selecting the pod (before and
//! after the change), workload changes every budget of their namespace. A budget whose expected
//! count cannot be computed gets the fail-safe status (no disruption allowed, `SyncFailed`) and
//! is retried with backoff.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};

use super::client::{
    Res, DEPLOYMENTS, PDBS, PODS, REPLICASETS, REPLICATIONCONTROLLERS, STATEFULSETS,
};
use super::informer::{key_of, Delta, Informer};
use super::ownerref::controller_of;
use super::podutil::is_ready;
use super::{route, run, BoxFuture, Controller, Ctx, Queue, SyncError, SyncResult};
use crate::api::object;
use crate::api::selector::LabelSelector;
use crate::clock::{parse_rfc3339, rfc3339};

const COMPONENT: &str = "controllermanager";
/// How long an evicted pod may take to get its deletionTimestamp before the budget stops
/// counting it as disrupted (Kubernetes' `DeletionTimeout`).
pub const DELETION_TIMEOUT: i64 = 120;

/// Whether a budget selects a pod: a null selector selects nothing, `{}` every pod of the
/// namespace (policy/v1 semantics).
pub fn selects(pdb: &Value, pod: &Value) -> bool {
    if object::meta_str(pdb, "namespace") != object::meta_str(pod, "namespace") {
        return false;
    }
    match pdb.pointer("/spec/selector") {
        None | Some(Value::Null) => false,
        Some(sel) => LabelSelector::from_json(sel).is_ok_and(|s| s.matches(object::labels(pod))),
    }
}

/// An int-or-percent scaled against `total` (`"50%"` of 3 is 2 rounding up, 1 rounding down).
pub fn scaled(v: &Value, total: i64, round_up: bool) -> Result<i64, String> {
    if let Some(n) = v.as_i64() {
        return Ok(n);
    }
    let s = v
        .as_str()
        .ok_or_else(|| format!("invalid value for IntOrString: {v}"))?;
    let pct: i64 = s
        .strip_suffix('%')
        .and_then(|p| p.parse().ok())
        .ok_or_else(|| {
            format!(
                "invalid value for IntOrString: invalid type: string is not a percentage: {s:?}"
            )
        })?;
    let x = pct * total;
    Ok(if round_up {
        (x + 99).div_euclid(100)
    } else {
        x.div_euclid(100)
    })
}

/// What a budget asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Budget {
    pub expected: i64,
    pub desired: i64,
    /// Selected pods without a controller (their scale is unknown).
    pub unmanaged: Vec<String>,
}

/// `expectedPods` and `desiredHealthy` of a budget over `pods`; `scale(pod)` gives the uid and
/// replicas of the scalable controller of a pod with a controller reference (None: unknown).
pub fn budget(
    spec: &Value,
    pods: &[&Value],
    scale: &dyn Fn(&Value) -> Option<(String, i64)>,
) -> Result<Budget, String> {
    let expected_scale = || -> Result<(i64, Vec<String>), String> {
        let mut seen: HashSet<String> = HashSet::new();
        let mut total = 0;
        let mut unmanaged = Vec::new();
        for p in pods {
            if controller_of(p).is_none() {
                unmanaged.push(object::name(p).to_string());
                continue;
            }
            let (uid, n) = scale(p)
                .ok_or_else(|| format!("found no controllers for pod {:?}", object::name(p)))?;
            if seen.insert(uid) {
                total += n;
            }
        }
        Ok((total, unmanaged))
    };
    if let Some(max) = spec.get("maxUnavailable").filter(|v| !v.is_null()) {
        let (expected, unmanaged) = expected_scale()?;
        let max = scaled(max, expected, true)?;
        return Ok(Budget {
            expected,
            desired: (expected - max).max(0),
            unmanaged,
        });
    }
    match spec.get("minAvailable") {
        Some(Value::String(_)) => {
            let (expected, unmanaged) = expected_scale()?;
            let desired = scaled(&spec["minAvailable"], expected, true)?;
            Ok(Budget {
                expected,
                desired,
                unmanaged,
            })
        }
        Some(v) if v.is_i64() => Ok(Budget {
            expected: pods.len() as i64,
            desired: v.as_i64().unwrap_or(0),
            unmanaged: vec![],
        }),
        _ => Ok(Budget {
            expected: 0,
            desired: 0,
            unmanaged: vec![],
        }),
    }
}

fn deleting(pod: &Value) -> bool {
    object::meta(pod).is_some_and(|m| m.contains_key("deletionTimestamp"))
}

/// The evicted pods still expected to go (not yet marked for deletion, evicted less than
/// [`DELETION_TIMEOUT`] ago), and when the earliest of them stops counting.
pub fn disrupted_pods(
    current: Option<&Value>,
    pods: &[&Value],
    now: i64,
) -> (Map<String, Value>, Option<i64>) {
    let mut out = Map::new();
    let mut recheck: Option<i64> = None;
    let Some(cur) = current.and_then(Value::as_object) else {
        return (out, None);
    };
    for p in pods {
        let name = object::name(p);
        let Some(t) = cur.get(name).filter(|_| !deleting(p)) else {
            continue;
        };
        let Some(at) = t.as_str().and_then(parse_rfc3339) else {
            continue;
        };
        let expires = at + DELETION_TIMEOUT;
        if expires >= now {
            recheck = Some(recheck.map_or(expires, |r| r.min(expires)));
            out.insert(name.to_string(), t.clone());
        }
    }
    (out, recheck)
}

/// Ready pods that are neither being deleted nor recently evicted.
pub fn current_healthy(pods: &[&Value], disrupted: &Map<String, Value>) -> i64 {
    pods.iter()
        .filter(|p| !deleting(p) && !disrupted.contains_key(object::name(p)) && is_ready(p))
        .count() as i64
}

/// Set a `metav1.Condition` in `status.conditions`, moving `lastTransitionTime` only when the
/// status changes (apimachinery's `SetStatusCondition`).
pub fn set_condition(
    status: &mut Value,
    ty: &str,
    cond_status: &str,
    reason: &str,
    message: &str,
    generation: i64,
    now: i64,
) {
    if !status.get("conditions").is_some_and(Value::is_array) {
        status["conditions"] = json!([]);
    }
    let Some(conds) = status["conditions"].as_array_mut() else {
        return;
    };
    let new = json!({"type": ty, "status": cond_status, "reason": reason, "message": message,
                     "observedGeneration": generation, "lastTransitionTime": rfc3339(now)});
    match conds
        .iter_mut()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(ty))
    {
        Some(c) => {
            let since = c.get("lastTransitionTime").cloned();
            let same = c.get("status").and_then(Value::as_str) == Some(cond_status);
            *c = new;
            if let Some(t) = since.filter(|_| same) {
                c["lastTransitionTime"] = t;
            }
        }
        None => conds.push(new),
    }
}

/// The `DisruptionAllowed` condition for the status' `disruptionsAllowed`.
pub fn set_allowed_condition(status: &mut Value, generation: i64, now: i64) {
    if status
        .get("disruptionsAllowed")
        .and_then(Value::as_i64)
        .unwrap_or(0)
        > 0
    {
        set_condition(
            status,
            "DisruptionAllowed",
            "True",
            "SufficientPods",
            "",
            generation,
            now,
        );
    } else {
        set_condition(
            status,
            "DisruptionAllowed",
            "False",
            "InsufficientPods",
            "",
            generation,
            now,
        );
    }
}

/// A pod's conditions with `DisruptionTarget` (True, `reason`, `message`) in place of any
/// older one: the record of why a pod is about to be deleted that every evicting component
/// (eviction API, taint eviction, pod GC) leaves.
pub fn with_disruption_target(pod: &Value, reason: &str, message: &str, now: i64) -> Value {
    let mut conds = pod
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    conds.retain(|c| c.get("type").and_then(Value::as_str) != Some("DisruptionTarget"));
    conds.push(
        json!({"type": "DisruptionTarget", "status": "True", "reason": reason,
                      "message": message, "lastTransitionTime": rfc3339(now)}),
    );
    Value::Array(conds)
}

/// The full status of a budget from its computed parts (keeping its other conditions).
pub fn status(
    old: Option<&Value>,
    generation: i64,
    b: &Budget,
    healthy: i64,
    disrupted: Map<String, Value>,
    now: i64,
) -> Value {
    let allowed = if b.expected <= 0 {
        0
    } else {
        (healthy - b.desired).max(0)
    };
    let mut s = json!({
        "observedGeneration": generation,
        "disruptionsAllowed": allowed,
        "currentHealthy": healthy,
        "desiredHealthy": b.desired,
        "expectedPods": b.expected,
    });
    if !disrupted.is_empty() {
        s["disruptedPods"] = Value::Object(disrupted);
    }
    if let Some(c) = old.and_then(|o| o.get("conditions")) {
        s["conditions"] = c.clone();
    }
    set_allowed_condition(&mut s, generation, now);
    s
}

/// The status of a budget that could not be computed: nothing may be disrupted.
pub fn fail_safe(old: Option<&Value>, generation: i64, why: &str, now: i64) -> Value {
    let mut s = old
        .cloned()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    s["disruptionsAllowed"] = json!(0);
    for k in ["currentHealthy", "desiredHealthy", "expectedPods"] {
        if s.get(k).is_none() {
            s[k] = json!(0);
        }
    }
    set_condition(
        &mut s,
        "DisruptionAllowed",
        "False",
        "SyncFailed",
        why,
        generation,
        now,
    );
    s
}

pub struct DisruptionController {
    ctx: Ctx,
    pdbs: Arc<Informer>,
    pods: Arc<Informer>,
    /// Workload informers by kind, for the expected scale.
    workloads: Vec<(&'static str, Arc<Informer>)>,
}

const WORKLOADS: [(&str, Res); 4] = [
    ("ReplicaSet", REPLICASETS),
    ("Deployment", DEPLOYMENTS),
    ("StatefulSet", STATEFULSETS),
    ("ReplicationController", REPLICATIONCONTROLLERS),
];

pub fn start(ctx: &Ctx) {
    let pdbs = ctx.informers.get(PDBS);
    let pods = ctx.informers.get(PODS);
    let q = Queue::new();
    route(&pdbs, &q, |d| vec![key_of(d.object())]);
    let p2 = pdbs.clone();
    route(&pods, &q, move |d| {
        let (old, new) = match d {
            Delta::Upsert { old, new } => (old.clone(), new.clone()),
            Delta::Delete(o) => (None, o.clone()),
        };
        let ns = object::meta_str(&new, "namespace");
        p2.list(ns)
            .iter()
            .filter(|b| selects(b, &new) || old.as_ref().is_some_and(|o| selects(b, o)))
            .map(|b| key_of(b))
            .collect()
    });
    let mut workloads = Vec::new();
    for (kind, res) in WORKLOADS {
        let inf = ctx.informers.get(res);
        let p3 = pdbs.clone();
        route(&inf, &q, move |d| {
            p3.list(object::meta_str(d.object(), "namespace"))
                .iter()
                .map(|b| key_of(b))
                .collect()
        });
        workloads.push((kind, inf));
    }
    let mut needs = vec![pdbs.clone(), pods.clone()];
    needs.extend(workloads.iter().map(|(_, i)| i.clone()));
    let c = DisruptionController {
        ctx: ctx.clone(),
        pdbs,
        pods,
        workloads,
    };
    run(Arc::new(c), q, ctx.settings.workers, needs);
}

impl DisruptionController {
    fn workload(&self, kind: &str, ns: &str, owner: &Value) -> Option<Arc<Value>> {
        let inf = &self.workloads.iter().find(|(k, _)| *k == kind)?.1;
        let name = owner.get("name").and_then(Value::as_str)?;
        let obj = inf.get(&format!("{ns}/{name}"))?;
        (object::meta_str(&obj, "uid") == owner.get("uid").and_then(Value::as_str)).then_some(obj)
    }

    /// The scalable controller of a pod: a Deployment through its ReplicaSet, else the
    /// ReplicaSet, StatefulSet or ReplicationController owning it.
    fn scale_of(&self, pod: &Value) -> Option<(String, i64)> {
        let ns = object::meta_str(pod, "namespace").unwrap_or("");
        let owner = controller_of(pod)?;
        let kind = owner.get("kind").and_then(Value::as_str)?;
        let mut obj = self.workload(kind, ns, owner)?;
        if kind == "ReplicaSet" {
            if let Some(d) = controller_of(&obj)
                .filter(|r| r.get("kind").and_then(Value::as_str) == Some("Deployment"))
                .and_then(|r| self.workload("Deployment", ns, r))
            {
                obj = d;
            }
        }
        let replicas = obj
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1);
        Some((object::meta_str(&obj, "uid")?.to_string(), replicas))
    }

    async fn sync_pdb(&self, key: &str) -> SyncResult {
        let Some(pdb) = self.pdbs.get(key) else {
            return Ok(None);
        };
        let client = &self.ctx.client;
        let now = client.now();
        let ns = object::meta_str(&pdb, "namespace");
        let generation = object::meta(&pdb)
            .and_then(|m| m.get("generation"))
            .and_then(Value::as_i64)
            .unwrap_or(1);
        let all = self.pods.list(ns);
        let pods: Vec<&Value> = all
            .iter()
            .map(|p| &**p)
            .filter(|p| selects(&pdb, p))
            .collect();
        let spec = pdb.get("spec").cloned().unwrap_or(Value::Null);
        let old = pdb.get("status");
        let (new, recheck, failure) = match budget(&spec, &pods, &|p| self.scale_of(p)) {
            Ok(b) => {
                if !b.unmanaged.is_empty() && old.is_none_or(|o| o.get("expectedPods").is_none()) {
                    let msg = format!(
                        "Pods selected by this PodDisruptionBudget (selector: {}) were found to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, which may result in undefined behavior. To account for these pods please set \".spec.minAvailable\" field of the PDB to an integer value.",
                        spec.get("selector").cloned().unwrap_or(Value::Null)
                    );
                    client
                        .event(&pdb, "Warning", "UnmanagedPods", &msg, COMPONENT)
                        .await;
                }
                let (disrupted, recheck) =
                    disrupted_pods(old.and_then(|o| o.get("disruptedPods")), &pods, now);
                let healthy = current_healthy(&pods, &disrupted);
                (
                    status(old, generation, &b, healthy, disrupted, now),
                    recheck,
                    None,
                )
            }
            Err(why) => {
                client
                    .event(
                        &pdb,
                        "Warning",
                        "CalculateExpectedPodCountFailed",
                        &format!("Failed to calculate the number of expected pods: {why}"),
                        COMPONENT,
                    )
                    .await;
                (fail_safe(old, generation, &why, now), None, Some(why))
            }
        };
        if old != Some(&new) {
            let mut obj = (*pdb).clone();
            obj["status"] = new;
            client.update_status(PDBS, obj).await?;
        }
        if let Some(why) = failure {
            return Err(SyncError::Other(why));
        }
        Ok(recheck.map(|t| Duration::from_secs((t - now).max(0) as u64 + 1)))
    }
}

impl Controller for DisruptionController {
    fn name(&self) -> &'static str {
        "disruption-controller"
    }
    fn sync<'a>(&'a self, key: &'a str) -> BoxFuture<'a, SyncResult> {
        Box::pin(self.sync_pdb(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_790_000_000;

    fn pod(name: &str, ready: bool, owner: Option<&str>) -> Value {
        let mut p = json!({
            "metadata": {"name": name, "namespace": "ns", "labels": {"app": "web"}},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]},
        });
        if let Some(uid) = owner {
            p["metadata"]["ownerReferences"] =
                json!([{"kind": "ReplicaSet", "name": "rs", "uid": uid, "controller": true}]);
        }
        p
    }

    #[test]
    fn scales_ints_and_percentages() {
        assert_eq!(scaled(&json!(2), 10, true), Ok(2));
        assert_eq!(scaled(&json!("50%"), 3, true), Ok(2));
        assert_eq!(scaled(&json!("50%"), 3, false), Ok(1));
        assert_eq!(scaled(&json!("100%"), 4, true), Ok(4));
        assert!(scaled(&json!("5"), 4, true).is_err());
    }

    #[test]
    fn selection_needs_a_selector_and_the_namespace() {
        let p = pod("a", true, None);
        let pdb = |sel: Value| json!({"metadata": {"namespace": "ns"}, "spec": {"selector": sel}});
        assert!(selects(&pdb(json!({"matchLabels": {"app": "web"}})), &p));
        assert!(!selects(&pdb(json!({"matchLabels": {"app": "db"}})), &p));
        assert!(selects(&pdb(json!({})), &p));
        assert!(!selects(&pdb(Value::Null), &p));
        let other = json!({"metadata": {"namespace": "x"}, "spec": {"selector": {}}});
        assert!(!selects(&other, &p));
    }

    #[test]
    fn budgets_from_min_available_and_max_unavailable() {
        let (a, b, c) = (
            pod("a", true, Some("u1")),
            pod("b", true, Some("u1")),
            pod("c", false, Some("u1")),
        );
        let pods = [&a, &b, &c];
        let scale = |_: &Value| Some(("u1".to_string(), 4));
        let min2 = json!({"minAvailable": 2});
        assert_eq!(
            budget(&min2, &pods, &scale).unwrap(),
            Budget {
                expected: 3,
                desired: 2,
                unmanaged: vec![]
            }
        );
        let pct = json!({"minAvailable": "50%"});
        assert_eq!(
            budget(&pct, &pods, &scale).unwrap(),
            Budget {
                expected: 4,
                desired: 2,
                unmanaged: vec![]
            }
        );
        let max1 = json!({"maxUnavailable": 1});
        assert_eq!(
            budget(&max1, &pods, &scale).unwrap(),
            Budget {
                expected: 4,
                desired: 3,
                unmanaged: vec![]
            }
        );
        let none = |_: &Value| None;
        assert!(budget(&max1, &pods, &none)
            .unwrap_err()
            .contains("found no controllers"));
        let orphan = pod("o", true, None);
        let b = budget(&max1, &[&orphan], &none).unwrap();
        assert_eq!(b.unmanaged, vec!["o".to_string()]);
        assert_eq!(budget(&json!({}), &pods, &scale).unwrap().desired, 0);
    }

    #[test]
    fn status_counts_healthy_pods_and_recent_evictions() {
        let (a, b, c) = (
            pod("a", true, None),
            pod("b", true, None),
            pod("c", false, None),
        );
        let mut gone = pod("d", true, None);
        gone["metadata"]["deletionTimestamp"] = json!(rfc3339(T0));
        let pods = [&a, &b, &c, &gone];
        let evicted = json!({"a": rfc3339(T0 - 10), "b": rfc3339(T0 - DELETION_TIMEOUT - 1), "d": rfc3339(T0)});
        let (disrupted, recheck) = disrupted_pods(Some(&evicted), &pods, T0);
        assert_eq!(disrupted.keys().collect::<Vec<_>>(), ["a"]);
        assert_eq!(recheck, Some(T0 - 10 + DELETION_TIMEOUT));
        let healthy = current_healthy(&pods, &disrupted);
        assert_eq!(healthy, 1);
        let bud = Budget {
            expected: 4,
            desired: 1,
            unmanaged: vec![],
        };
        let s = status(None, 3, &bud, healthy, disrupted, T0);
        assert_eq!(s["disruptionsAllowed"], 0);
        assert_eq!(s["observedGeneration"], 3);
        assert_eq!(s["conditions"][0]["reason"], "InsufficientPods");
        let s2 = status(
            Some(&s),
            3,
            &Budget { desired: 0, ..bud },
            1,
            Map::new(),
            T0 + 50,
        );
        assert_eq!(s2["disruptionsAllowed"], 1);
        assert_eq!(s2["conditions"][0]["status"], "True");
        assert_eq!(s2["conditions"][0]["lastTransitionTime"], rfc3339(T0 + 50));
        assert!(s2.get("disruptedPods").is_none());
        let s3 = status(
            Some(&s2),
            3,
            &Budget {
                expected: 4,
                desired: 0,
                unmanaged: vec![],
            },
            2,
            Map::new(),
            T0 + 90,
        );
        assert_eq!(
            s3["conditions"][0]["lastTransitionTime"],
            rfc3339(T0 + 50),
            "same status keeps its transition time"
        );
        let empty = status(
            None,
            1,
            &Budget {
                expected: 0,
                desired: 0,
                unmanaged: vec![],
            },
            5,
            Map::new(),
            T0,
        );
        assert_eq!(empty["disruptionsAllowed"], 0);
    }

    #[test]
    fn failure_allows_nothing() {
        let s = fail_safe(
            Some(&json!({"disruptionsAllowed": 3, "currentHealthy": 4})),
            2,
            "found no controllers for pod \"x\"",
            T0,
        );
        assert_eq!(s["disruptionsAllowed"], 0);
        assert_eq!(s["currentHealthy"], 4);
        assert_eq!(s["conditions"][0]["reason"], "SyncFailed");
    }
}
