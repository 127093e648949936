//! `POST /api/v1/namespaces/NS/pods/NAME/eviction`: the Eviction subresource (policy/v1 and
//! v1beta1 bodies), which deletes a pod only if the PodDisruptionBudget selecting it allows a
//! disruption, as Kubernetes' `EvictionREST` does.
//!
//! Contract: terminal, pending and terminating pods, and pods no budget selects, are deleted at
//! once. Otherwise the budget's status (kept by the disruption controller) is checked and
//! spent in one conditional status write (`disruptionsAllowed` decremented, the pod recorded in
//! `disruptedPods`); an exhausted or not yet processed budget answers 429 TooManyRequests with a
//! `DisruptionBudget` cause, two budgets answer 500. A not-Ready pod is deleted without spending
//! the budget when the budget's `unhealthyPodEvictionPolicy` allows it. The pod gets the
//! `DisruptionTarget` condition before it is deleted with the Eviction's `deleteOptions`.
//! The budget arithmetic is shared with the disruption controller (`controller::disruption`).

use std::collections::HashMap;
use std::sync::Arc;

use hyper::Response;
use serde_json::{json, Value};

use super::delete::{delete_one, DeleteOptions};
use super::write::{self, WriteOpts};
use crate::api::body::{self, Body};
use crate::api::object;
use crate::api::registry::ResourceDef;
use crate::api::server::ApiServer;
use crate::api::status::{ApiError, Details, StatusCause};
use crate::clock::rfc3339;
use crate::controller::disruption::{selects, set_allowed_condition, with_disruption_target};
use crate::controller::podutil::{is_ready, phase};

/// Evictions recorded but not yet confirmed by the disruption controller that a budget may hold
/// (Kubernetes' `MaxDisruptedPodSize`).
const MAX_DISRUPTED_PODS: usize = 2000;
/// Attempts at spending a budget whose status changes underneath.
const CONFLICT_RETRIES: usize = 5;
const VIOLATION: &str = "Cannot evict pod as it would violate the pod's disruption budget.";

fn too_many_requests(cause: String, retry_after: Option<u32>) -> ApiError {
    ApiError {
        code: 429,
        reason: "TooManyRequests",
        message: VIOLATION.into(),
        details: Some(Box::new(Details {
            causes: vec![StatusCause {
                reason: "DisruptionBudget".into(),
                message: cause,
                field: String::new(),
            }],
            ..Default::default()
        })),
        retry_after,
    }
}

fn pdb_forbidden(name: &str, why: &str) -> ApiError {
    ApiError::forbidden(format!(
        "poddisruptionbudgets.policy \"{name}\" is forbidden: {why}"
    ))
}

/// The Eviction's `deleteOptions`, with `?dryRun=All` honoured.
fn delete_options(eviction: &Value, query: &HashMap<String, String>) -> DeleteOptions {
    let o = eviction
        .get("deleteOptions")
        .cloned()
        .unwrap_or(Value::Null);
    let s = |p: &str| o.pointer(p).and_then(Value::as_str).map(str::to_string);
    DeleteOptions {
        grace: o.get("gracePeriodSeconds").and_then(Value::as_i64),
        propagation: s("/propagationPolicy"),
        uid: s("/preconditions/uid"),
        rv: s("/preconditions/resourceVersion"),
        dry_run: query.get("dryRun").is_some_and(|d| d == "All")
            || o.get("dryRun")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|x| x == "All")),
    }
}

/// Pods a budget does not protect: finished, never started, or already going.
fn ignores_budget(pod: &Value) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed" | "Pending")
        || object::meta(pod).is_some_and(|m| m.contains_key("deletionTimestamp"))
}

fn int(v: &Value, path: &str) -> i64 {
    v.pointer(path).and_then(Value::as_i64).unwrap_or(0)
}

/// Whether a not-Ready pod may go without spending the budget.
fn unhealthy_may_go(pdb: &Value) -> bool {
    match pdb
        .pointer("/spec/unhealthyPodEvictionPolicy")
        .and_then(Value::as_str)
    {
        Some("AlwaysAllow") => true,
        _ => {
            let desired = int(pdb, "/status/desiredHealthy");
            desired > 0 && int(pdb, "/status/currentHealthy") >= desired
        }
    }
}

/// The budget's status after spending one disruption on `pod`, or why it cannot be spent.
pub fn spend(pdb: &Value, pod: &str, now: i64) -> Result<Value, ApiError> {
    let name = object::name(pdb);
    let generation = object::meta(pdb)
        .and_then(|m| m.get("generation"))
        .and_then(Value::as_i64)
        .unwrap_or(0);
    if int(pdb, "/status/observedGeneration") < generation {
        return Err(too_many_requests(
            format!("The disruption budget {name} is still being processed by the server."),
            Some(10),
        ));
    }
    let allowed = int(pdb, "/status/disruptionsAllowed");
    if allowed < 0 {
        return Err(pdb_forbidden(name, "pdb disruptions allowed is negative"));
    }
    let disrupted = pdb
        .pointer("/status/disruptedPods")
        .and_then(Value::as_object);
    if disrupted.is_some_and(|d| d.len() > MAX_DISRUPTED_PODS) {
        return Err(pdb_forbidden(
            name,
            "DisruptedPods map too big - too many evictions not confirmed by PDB controller",
        ));
    }
    if allowed == 0 {
        return Err(too_many_requests(
            format!(
                "The disruption budget {name} needs {} healthy pods and has {} currently",
                int(pdb, "/status/desiredHealthy"),
                int(pdb, "/status/currentHealthy")
            ),
            None,
        ));
    }
    let mut status = pdb.get("status").cloned().unwrap_or_else(|| json!({}));
    status["disruptionsAllowed"] = json!(allowed - 1);
    if !status.get("disruptedPods").is_some_and(Value::is_object) {
        status["disruptedPods"] = json!({});
    }
    status["disruptedPods"][pod] = json!(rfc3339(now));
    if allowed == 1 {
        let observed = int(pdb, "/status/observedGeneration");
        set_allowed_condition(&mut status, observed, now);
    }
    Ok(status)
}

fn def_of(srv: &ApiServer, group: &str, plural: &str) -> Result<Arc<ResourceDef>, ApiError> {
    srv.registry
        .by_path(group, "v1", plural)
        .ok_or_else(|| ApiError::internal(format!("resource {plural} is not served")))
}

/// The budgets of the pod's namespace that select it.
fn budgets_of(srv: &ApiServer, pod: &Value, ns: Option<&str>) -> Result<Vec<Value>, ApiError> {
    let def = def_of(srv, "policy", "poddisruptionbudgets")?;
    let (recs, _, _) = srv
        .store
        .list(def.ns_prefix(ns).as_bytes(), None, None)
        .map_err(|e| ApiError::internal(e.to_string()))?;
    Ok(recs
        .iter()
        .filter_map(|r| object::from_stored(&r.value, r.mod_rev).ok())
        .filter(|b| selects(b, pod))
        .collect())
}

/// Spend one disruption of the budget `name` on `pod`, retrying when its status moves.
async fn check_and_decrement(
    srv: &Arc<ApiServer>,
    ns: Option<&str>,
    name: &str,
    pod: &str,
    dry_run: bool,
) -> Result<(), ApiError> {
    let def = def_of(srv, "policy", "poddisruptionbudgets")?;
    let mut last = None;
    for _ in 0..CONFLICT_RETRIES {
        let (pdb, rev) = write::load(srv, &def, ns, name)?;
        let status = spend(&pdb, pod, srv.clock.now())?;
        if dry_run {
            return Ok(());
        }
        let mut new = pdb.clone();
        new["status"] = status;
        match write::apply_update(
            srv,
            &def,
            ns,
            name,
            &pdb,
            rev,
            new,
            Some("status"),
            &WriteOpts::internal(),
        )
        .await
        {
            Ok(_) => return Ok(()),
            Err(e) if e.reason == "Conflict" => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| ApiError::stale("poddisruptionbudgets", "policy", name)))
}

/// Record why the pod goes (the `DisruptionTarget` condition, written against the latest pod
/// after checking the preconditions), then delete it; a resourceVersion precondition moves to
/// the version this write produced.
async fn add_condition_and_delete(
    srv: &Arc<ApiServer>,
    def: &ResourceDef,
    ns: Option<&str>,
    name: &str,
    mut opts: DeleteOptions,
) -> Result<(), ApiError> {
    if !opts.dry_run {
        let mut written = None;
        for _ in 0..CONFLICT_RETRIES {
            let (pod, rev) = write::load(srv, def, ns, name)?;
            let have_uid = object::meta_str(&pod, "uid").unwrap_or("");
            if let Some(uid) = opts
                .uid
                .as_deref()
                .filter(|u| !u.is_empty() && *u != have_uid)
            {
                let why = format!("Precondition failed: UID in precondition: {uid}, UID in object meta: {have_uid}");
                return Err(ApiError::conflict("pods", "", name, &why));
            }
            if let Some(rv) = opts
                .rv
                .as_deref()
                .filter(|r| !r.is_empty() && *r != rev.to_string())
            {
                let why = format!("Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {rev}");
                return Err(ApiError::conflict("pods", "", name, &why));
            }
            let mut new = pod.clone();
            new["status"]["conditions"] = with_disruption_target(
                &pod,
                "EvictionByEvictionAPI",
                "Eviction API: evicting",
                srv.clock.now(),
            );
            match write::apply_update(
                srv,
                def,
                ns,
                name,
                &pod,
                rev,
                new,
                Some("status"),
                &WriteOpts::internal(),
            )
            .await
            {
                Ok((v, _)) => {
                    written = Some(v);
                    break;
                }
                Err(e) if e.reason == "Conflict" => continue,
                Err(e) => return Err(e),
            }
        }
        let pod = written.ok_or_else(|| ApiError::stale("pods", "", name))?;
        if opts.rv.as_deref().is_some_and(|r| !r.is_empty()) {
            opts.rv = object::meta_str(&pod, "resourceVersion").map(str::to_string);
        }
    }
    delete_one(srv, def, ns, name, &opts).await.map(|_| ())
}

pub async fn evict(
    srv: &Arc<ApiServer>,
    def: &ResourceDef,
    ns: Option<&str>,
    name: &str,
    eviction: Value,
    query: &HashMap<String, String>,
) -> Result<Response<Body>, ApiError> {
    if object::meta_str(&eviction, "name").is_some_and(|n| !n.is_empty() && n != name) {
        return Err(ApiError::bad_request(
            "name in URL does not match name in Eviction object",
        ));
    }
    let mut opts = delete_options(&eviction, query);
    let (pod, rev) = write::load(srv, def, ns, name)?;
    let done = || {
        body::json(
            201,
            &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}),
        )
    };
    if ignores_budget(&pod) {
        add_condition_and_delete(srv, def, ns, name, opts).await?;
        return Ok(done());
    }
    let budgets = budgets_of(srv, &pod, ns)?;
    let pdb = match budgets.as_slice() {
        [] => {
            add_condition_and_delete(srv, def, ns, name, opts).await?;
            return Ok(done());
        }
        [one] => one,
        _ => {
            return Err(ApiError::internal(
                "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
            ))
        }
    };
    if !is_ready(&pod) && unhealthy_may_go(pdb) {
        // The budget is not spent, so the pod must still be the one judged not Ready.
        opts.rv.get_or_insert_with(|| rev.to_string());
        add_condition_and_delete(srv, def, ns, name, opts).await?;
        return Ok(done());
    }
    check_and_decrement(srv, ns, object::name(pdb), name, opts.dry_run).await?;
    add_condition_and_delete(srv, def, ns, name, opts).await?;
    Ok(done())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_790_000_000;

    fn pdb(allowed: i64, generation: i64, observed: i64) -> Value {
        json!({
            "metadata": {"name": "web", "namespace": "ns", "generation": generation},
            "spec": {"minAvailable": 2, "selector": {"matchLabels": {"app": "web"}}},
            "status": {"disruptionsAllowed": allowed, "observedGeneration": observed,
                       "currentHealthy": 2 + allowed, "desiredHealthy": 2, "expectedPods": 2 + allowed},
        })
    }

    #[test]
    fn spending_decrements_and_records_the_pod() {
        let s = spend(&pdb(2, 1, 1), "a", T0).unwrap();
        assert_eq!(s["disruptionsAllowed"], 1);
        assert_eq!(s["disruptedPods"]["a"], rfc3339(T0));
        assert!(s.get("conditions").is_none());
        let s = spend(&pdb(1, 1, 1), "b", T0).unwrap();
        assert_eq!(s["disruptionsAllowed"], 0);
        assert_eq!(s["conditions"][0]["reason"], "InsufficientPods");
    }

    #[test]
    fn exhausted_budgets_answer_too_many_requests() {
        let e = spend(&pdb(0, 1, 1), "a", T0).unwrap_err();
        assert_eq!((e.code, e.reason), (429, "TooManyRequests"));
        assert_eq!(e.message, VIOLATION);
        let st = e.to_status();
        assert_eq!(st["details"]["causes"][0]["reason"], "DisruptionBudget");
        assert_eq!(
            st["details"]["causes"][0]["message"],
            "The disruption budget web needs 2 healthy pods and has 2 currently"
        );
        let e = spend(&pdb(3, 2, 1), "a", T0).unwrap_err();
        assert_eq!(e.code, 429);
        assert!(e.to_status()["details"]["causes"][0]["message"]
            .as_str()
            .unwrap()
            .contains("still being processed"));
        assert_eq!(spend(&pdb(-1, 1, 1), "a", T0).unwrap_err().code, 403);
    }

    #[test]
    fn unhealthy_pods_go_when_the_budget_is_healthy_or_policy_allows() {
        let healthy = pdb(1, 1, 1);
        assert!(unhealthy_may_go(&healthy));
        let mut short = pdb(0, 1, 1);
        short["status"]["currentHealthy"] = json!(1);
        assert!(!unhealthy_may_go(&short));
        short["spec"]["unhealthyPodEvictionPolicy"] = json!("AlwaysAllow");
        assert!(unhealthy_may_go(&short));
    }

    #[test]
    fn reads_delete_options_and_dry_run() {
        let ev = json!({"deleteOptions": {"gracePeriodSeconds": 5, "preconditions": {"uid": "u"}, "dryRun": ["All"]}});
        let o = delete_options(&ev, &HashMap::new());
        assert_eq!(
            (o.grace, o.uid.as_deref(), o.dry_run),
            (Some(5), Some("u"), true)
        );
        let q = HashMap::from([("dryRun".to_string(), "All".to_string())]);
        assert!(delete_options(&json!({}), &q).dry_run);
        assert!(!ignores_budget(&json!({"status": {"phase": "Running"}})));
        assert!(ignores_budget(&json!({"status": {"phase": "Succeeded"}})));
        assert!(ignores_budget(
            &json!({"metadata": {"deletionTimestamp": "x"}, "status": {"phase": "Running"}})
        ));
    }
}
