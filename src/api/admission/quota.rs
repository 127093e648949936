//! ResourceQuota admission: a create in a namespace with quotas is charged against every quota
//! that applies, and refused with 403 Forbidden and Kubernetes' messages when it would exceed
//! one (`exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2`) or when a
//! cpu/memory quota finds a container without the matching request or limit
//! (`failed quota: q: must specify limits.cpu for: app`).
//!
//! Contract (as Kubernetes' quota admission): the charge is reserved by writing the quota's
//! `status.used` through the store with the quota's revision as precondition *before* the
//! object is written, so concurrent creates can never both take the last unit; a conflict
//! re-reads and re-checks. A reservation whose create then fails (already exists, dry run,
//! allocation error) stays until the quota controller recomputes usage. Quotas are checked
//! against `spec.hard`; a name the controller has not counted yet is counted from the store
//! first instead of refusing the create.

use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::resources::{self, ResourceList};
use super::usage::{self, Objects};
use crate::api::object;
use crate::api::registry::ResourceDef;
use crate::api::server::ApiServer;
use crate::api::status::{ApiError, Details};
use crate::store::{Op, OpOutcome};

/// How often one charge is re-read after its quota changed underneath (by the controller).
const ATTEMPTS: usize = 5;

/// Reservations in one namespace are serialised (striped by namespace) so concurrent creates
/// queue instead of failing each other's preconditions, like Kubernetes' per-namespace quota
/// evaluator queue.
static STRIPES: [Mutex<()>; 16] = [const { Mutex::new(()) }; 16];

fn stripe(ns: &str) -> &'static Mutex<()> {
    let h = ns.bytes().fold(0usize, |h, b| {
        h.wrapping_mul(31).wrapping_add(usize::from(b))
    });
    &STRIPES[h % STRIPES.len()]
}

/// A quota as admission sees it.
#[derive(Debug, Clone)]
pub struct QuotaView {
    pub name: String,
    pub hard: ResourceList,
    pub used: ResourceList,
    pub quota: Value,
}

impl QuotaView {
    pub fn new(quota: &Value) -> QuotaView {
        QuotaView {
            name: object::name(quota).to_string(),
            hard: resources::from_json(quota.pointer("/spec/hard")),
            used: resources::from_json(quota.pointer("/status/used")),
            quota: quota.clone(),
        }
    }

    /// Names in `spec.hard` without a counted `status.used`.
    fn uncounted(&self) -> bool {
        self.hard.keys().any(|k| !self.used.contains_key(k))
    }
}

/// The creation of one object of `(group, plural)` to check.
pub struct Request<'a> {
    pub group: &'a str,
    pub plural: &'a str,
    pub obj: &'a Value,
    pub now: i64,
}

/// Decide a create against quotas (in name order): the new `status.used` of each quota the
/// object is charged to, or why it is refused (the text after `<resource> "<name>" is
/// forbidden: `).
pub fn evaluate(quotas: &[QuotaView], req: &Request) -> Result<Vec<(usize, ResourceList)>, String> {
    let pod = req.group.is_empty() && req.plural == "pods";
    let mut applying = Vec::new();
    for (i, q) in quotas.iter().enumerate() {
        if !usage::quota_matches(&q.quota, req.group, req.plural, req.obj) {
            continue;
        }
        if pod {
            usage::pod_constraints(&q.hard, req.obj)
                .map_err(|e| format!("failed quota: {}: {e}", q.name))?;
        }
        applying.push(i);
    }
    let delta = usage::usage(req.group, req.plural, req.obj, req.now);
    let negative: Vec<&str> = delta
        .iter()
        .filter(|(_, v)| v.is_negative())
        .map(|(k, _)| k.as_str())
        .collect();
    if !negative.is_empty() {
        return Err(format!(
            "quota usage is negative for resource(s): {}",
            negative.join(",")
        ));
    }
    let delta = resources::without_zeros(&delta);
    let mut out = Vec::new();
    for i in applying {
        let q = &quotas[i];
        let requested = resources::mask(&delta, |k| q.hard.contains_key(k));
        if requested.is_empty() {
            continue;
        }
        let new_used = resources::add(&q.used, &requested);
        let charged = resources::mask(&new_used, |k| requested.contains_key(k));
        let over = resources::exceeded(&charged, &q.hard);
        if !over.is_empty() {
            let only = |l: &ResourceList| {
                resources::pretty(&resources::mask(l, |k| over.iter().any(|o| o == k)))
            };
            return Err(format!(
                "exceeded quota: {}, requested: {}, used: {}, limited: {}",
                q.name,
                only(&requested),
                only(&q.used),
                only(&q.hard)
            ));
        }
        out.push((i, new_used));
    }
    Ok(out)
}

/// The 403 Kubernetes' admission returns for `<plural>[.group] "<name>"`.
pub fn forbidden(def: &ResourceDef, name: &str, why: &str) -> ApiError {
    let mut e = ApiError::forbidden(format!(
        "{} \"{name}\" is forbidden: {why}",
        crate::api::status::qualified(&def.plural, &def.group)
    ));
    e.details = Some(Box::new(Details {
        name: name.to_string(),
        group: def.group.clone(),
        kind: def.plural.clone(),
        causes: vec![],
    }));
    e
}

/// The namespace's objects read straight from the store (admission has no caches).
struct Stored<'a> {
    srv: &'a ApiServer,
    ns: &'a str,
}

impl Objects for Stored<'_> {
    fn list(&self, plural: &str) -> Vec<Arc<Value>> {
        let Some(def) = self.srv.registry.by_path("", "v1", plural) else {
            return vec![];
        };
        self.srv
            .store
            .list(def.ns_prefix(Some(self.ns)).as_bytes(), None, None)
            .map(|(recs, _, _)| {
                recs.iter()
                    .filter_map(|r| object::from_stored(&r.value, r.mod_rev).ok())
                    .map(Arc::new)
                    .collect()
            })
            .unwrap_or_default()
    }

    fn count(&self, group: &str, plural: &str) -> usize {
        usage::stored_count(self.srv, group, plural, self.ns)
    }
}

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(e.to_string())
}

/// A stored quota as admission checks it, with any uncounted names counted from the store.
fn view_of(srv: &ApiServer, ns: &str, quota: &Value, now: i64) -> QuotaView {
    let mut v = QuotaView::new(quota);
    if v.uncounted() {
        for (k, n) in usage::namespace_usage(quota, &Stored { srv, ns }, now) {
            v.used.entry(k).or_insert(n);
        }
    }
    v
}

/// Check a create against the namespace's quotas and reserve its usage in them.
pub fn admit(srv: &ApiServer, def: &ResourceDef, obj: &Value) -> Result<(), ApiError> {
    let ns = match object::meta_str(obj, "namespace") {
        Some(ns) if def.namespaced && !ns.is_empty() => ns,
        _ => return Ok(()),
    };
    let Some(qdef) = srv.registry.by_path("", "v1", "resourcequotas") else {
        return Ok(());
    };
    let (recs, _, _) = srv
        .store
        .list(qdef.ns_prefix(Some(ns)).as_bytes(), None, None)
        .map_err(internal)?;
    if recs.is_empty() {
        return Ok(());
    }
    let name = object::name(obj);
    // The create will fail with AlreadyExists; charging it would only leak usage.
    if srv
        .store
        .get(def.key(Some(ns), name).as_bytes())
        .map_err(internal)?
        .0
        .is_some()
    {
        return Ok(());
    }
    let req = Request {
        group: &def.group,
        plural: &def.plural,
        obj,
        now: srv.clock.now(),
    };
    let _serial = stripe(ns).lock().unwrap_or_else(|e| e.into_inner());
    // Refuse before charging anything, then charge quota by quota.
    let views: Vec<QuotaView> = recs
        .iter()
        .filter_map(|r| object::from_stored(&r.value, r.mod_rev).ok())
        .map(|q| view_of(srv, ns, &q, req.now))
        .collect();
    let plan = evaluate(&views, &req).map_err(|why| forbidden(def, name, &why))?;
    for (i, _) in plan {
        charge(srv, &qdef, ns, &views[i].name, def, &req)?;
    }
    Ok(())
}

/// Charge one quota, re-reading and re-checking it when its revision moved meanwhile (the
/// quota controller or a user wrote it).
fn charge(
    srv: &ApiServer,
    qdef: &ResourceDef,
    ns: &str,
    quota: &str,
    def: &ResourceDef,
    req: &Request,
) -> Result<(), ApiError> {
    let key = qdef.key(Some(ns), quota);
    for _ in 0..ATTEMPTS {
        let (rec, _) = srv.store.get(key.as_bytes()).map_err(internal)?;
        let Some(rec) = rec else { return Ok(()) };
        let cur = object::from_stored(&rec.value, rec.mod_rev).map_err(internal)?;
        let view = view_of(srv, ns, &cur, req.now);
        let plan = evaluate(std::slice::from_ref(&view), req)
            .map_err(|why| forbidden(def, object::name(req.obj), &why))?;
        let Some((_, used)) = plan.into_iter().next() else {
            return Ok(());
        };
        let mut new = cur;
        new["status"] =
            json!({"hard": resources::to_json(&view.hard), "used": resources::to_json(&used)});
        let op = Op::Update {
            key: key.clone().into_bytes(),
            value: object::to_stored(&new),
            expect: Some(rec.mod_rev),
        };
        // `before_create` is synchronous and the charge must be durable before the object is
        // written, so this waits for the store's writer thread (which needs no executor).
        let out = futures_lite::future::block_on(srv.store.write(vec![op])).map_err(internal)?;
        if !matches!(out.first(), Some(OpOutcome::Conflict(_))) {
            return Ok(());
        }
    }
    Err(ApiError::conflict(
        &def.plural,
        &def.group,
        object::name(req.obj),
        "the resource quota was modified concurrently; please try again",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quota(name: &str, hard: Value, used: Value) -> QuotaView {
        QuotaView::new(
            &json!({"metadata": {"name": name}, "spec": {"hard": hard}, "status": {"used": used}}),
        )
    }

    fn pod(cpu: Option<&str>) -> Value {
        let res = cpu.map_or(
            json!({}),
            |c| json!({"requests": {"cpu": c}, "limits": {"cpu": c}}),
        );
        json!({"metadata": {"name": "p", "namespace": "d"}, "spec": {"containers": [{"name": "app", "resources": res}]}})
    }

    fn req(obj: &Value) -> Request<'_> {
        Request {
            group: "",
            plural: "pods",
            obj,
            now: 0,
        }
    }

    #[test]
    fn refuses_with_kubernetes_exceeded_message() {
        let qs = [quota("q", json!({"pods": "2"}), json!({"pods": "2"}))];
        let p = pod(None);
        assert_eq!(
            evaluate(&qs, &req(&p)).unwrap_err(),
            "exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2"
        );
        let qs = [quota("q", json!({"pods": "2"}), json!({"pods": "1"}))];
        let plan = evaluate(&qs, &req(&p)).unwrap();
        assert_eq!(resources::pretty(&plan[0].1), "pods=2");
    }

    #[test]
    fn reports_only_the_exceeded_resources() {
        let qs = [quota(
            "compute",
            json!({"pods": "10", "requests.cpu": "1", "limits.cpu": "2"}),
            json!({"pods": "1", "requests.cpu": "800m", "limits.cpu": "800m"}),
        )];
        let p = pod(Some("500m"));
        assert_eq!(
            evaluate(&qs, &req(&p)).unwrap_err(),
            "exceeded quota: compute, requested: requests.cpu=500m, used: requests.cpu=800m, limited: requests.cpu=1"
        );
    }

    #[test]
    fn cpu_quotas_require_container_requests() {
        let qs = [quota(
            "compute",
            json!({"limits.cpu": "2"}),
            json!({"limits.cpu": "0"}),
        )];
        let p = pod(None);
        assert_eq!(
            evaluate(&qs, &req(&p)).unwrap_err(),
            "failed quota: compute: must specify limits.cpu for: app"
        );
    }

    #[test]
    fn charges_every_applying_quota_and_skips_unrelated_ones() {
        let qs = [
            quota("a", json!({"configmaps": "5"}), json!({"configmaps": "1"})),
            quota(
                "b",
                json!({"count/pods": "5", "pods": "5"}),
                json!({"count/pods": "0", "pods": "0"}),
            ),
        ];
        let p = pod(None);
        let plan = evaluate(&qs, &req(&p)).unwrap();
        assert_eq!(plan.len(), 1);
        assert_eq!(plan[0].0, 1);
        assert_eq!(resources::pretty(&plan[0].1), "count/pods=1,pods=1");
        let cm = json!({"metadata": {"name": "c"}});
        let r = Request {
            group: "",
            plural: "configmaps",
            obj: &cm,
            now: 0,
        };
        assert_eq!(
            resources::pretty(&evaluate(&qs, &r).unwrap()[0].1),
            "configmaps=2"
        );
    }

    #[test]
    fn forbidden_message_names_the_object() {
        let def = crate::api::builtin::resources()
            .into_iter()
            .find(|d| d.kind == "Deployment")
            .unwrap();
        let e = forbidden(&def, "web", "exceeded quota: q");
        assert_eq!(e.code, 403);
        assert_eq!(
            e.message,
            "deployments.apps \"web\" is forbidden: exceeded quota: q"
        );
    }
}
