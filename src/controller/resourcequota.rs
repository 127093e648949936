//! The resource quota controller: keeps every ResourceQuota's `status.hard` equal to its
//! `spec.hard` and recomputes `status.used` from the objects of its namespace, as Kubernetes'
//! quota controller does. Quota admission charges creates into `status.used` as they happen;
//! this controller gives back what deletions and finished pods release and corrects any charge
//! whose create did not happen.
//!
//! Contract: one key per quota. A quota is synced when it appears or its `spec.hard` changes
//! (its status writes, by admission or by us, do not wake it), when an object it may count is
//! deleted or changes its usage, and every 30 s. The status is written with the quota's
//! resourceVersion as precondition, so a charge admission made after our read is never lost:
//! the write conflicts and the sync is retried.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::client::{CONFIGMAPS, PODS, PVCS, RESOURCEQUOTAS, SECRETS, SERVICES};
use super::informer::{key_of, Delta, Informer};
use super::{route, run, BoxFuture, Controller, Ctx, Queue, SyncResult};
use crate::api::admission::resources;
use crate::api::admission::usage::{self, Objects};
use crate::api::object;

/// Full recalculation period.
const RESYNC: Duration = Duration::from_secs(30);
/// How long a sync waits for the object caches to reach the store's current revision.
const CATCH_UP: Duration = Duration::from_secs(2);

pub struct QuotaController {
    ctx: Ctx,
    quotas: Arc<Informer>,
    /// Pods, services and claims, in [`usage::EVALUATED`] order.
    evaluated: [Arc<Informer>; 3],
}

/// Whether a quota change needs a recalculation: a new quota, a changed `spec.hard`, or a
/// status that does not mirror it.
pub fn quota_needs_sync(d: &Delta) -> bool {
    let Delta::Upsert { old, new } = d else {
        return false;
    };
    let hard = |q: &Value, p: &str| resources::from_json(q.pointer(p));
    let spec = hard(new, "/spec/hard");
    old.as_ref()
        .is_none_or(|o| !resources::equal(&hard(o, "/spec/hard"), &spec))
        || !resources::equal(&hard(new, "/status/hard"), &spec)
        || new.pointer("/status/used").is_none()
}

/// Whether an object change can lower (or otherwise change) what quotas count: deletions and
/// updates that change the object's usage. Creates were charged by admission.
pub fn object_change_matters(plural: &str, d: &Delta, now: i64) -> bool {
    match d {
        Delta::Delete(_) => true,
        Delta::Upsert { old: None, .. } => false,
        Delta::Upsert {
            old: Some(old),
            new,
        } => {
            let u = |o: &Value| usage::usage("", plural, o, now);
            !resources::equal(&u(old), &u(new))
        }
    }
}

pub fn start(ctx: &Ctx) {
    let quotas = ctx.informers.get(RESOURCEQUOTAS);
    let q = Queue::new();
    route(&quotas, &q, |d| {
        if quota_needs_sync(d) {
            vec![key_of(d.object())]
        } else {
            vec![]
        }
    });
    let evaluated = [
        ctx.informers.get(PODS),
        ctx.informers.get(SERVICES),
        ctx.informers.get(PVCS),
    ];
    // Config maps and secrets are only counted (from the store); their informers tell when one
    // is deleted so its quota is replenished at once rather than at the next resync.
    let counted =
        [(CONFIGMAPS, "configmaps"), (SECRETS, "secrets")].map(|(r, p)| (ctx.informers.get(r), p));
    let sources = evaluated
        .iter()
        .cloned()
        .zip(usage::EVALUATED)
        .chain(counted.iter().cloned());
    for (inf, plural) in sources {
        let (quotas, client) = (quotas.clone(), ctx.client.clone());
        route(&inf, &q, move |d| {
            if !object_change_matters(plural, d, client.now()) {
                return vec![];
            }
            let ns = object::meta_str(d.object(), "namespace");
            quotas.list(ns).iter().map(|q| key_of(q)).collect()
        });
    }
    let mut needs = vec![quotas.clone()];
    needs.extend(evaluated.iter().cloned());
    let c = QuotaController {
        ctx: ctx.clone(),
        quotas,
        evaluated,
    };
    run(Arc::new(c), q, ctx.settings.workers, needs);
}

/// A namespace's objects as the caches and the store hold them.
struct Cached<'a> {
    ctl: &'a QuotaController,
    ns: &'a str,
}

impl Objects for Cached<'_> {
    fn list(&self, plural: &str) -> Vec<Arc<Value>> {
        usage::EVALUATED
            .iter()
            .position(|p| *p == plural)
            .map(|i| self.ctl.evaluated[i].list(Some(self.ns)))
            .unwrap_or_default()
    }

    fn count(&self, group: &str, plural: &str) -> usize {
        usage::stored_count(self.ctl.ctx.client.server(), group, plural, self.ns)
    }
}

/// The status a quota should have, or `None` when it already has it.
pub fn desired_status(quota: &Value, used: &resources::ResourceList) -> Option<Value> {
    let hard = resources::from_json(quota.pointer("/spec/hard"));
    let cur_hard = resources::from_json(quota.pointer("/status/hard"));
    let cur_used = resources::from_json(quota.pointer("/status/used"));
    let current =
        quota.pointer("/status/hard").is_some() && quota.pointer("/status/used").is_some();
    if current && resources::equal(&hard, &cur_hard) && resources::equal(used, &cur_used) {
        return None;
    }
    Some(json!({"hard": resources::to_json(&hard), "used": resources::to_json(used)}))
}

impl QuotaController {
    async fn sync_quota(&self, key: &str) -> SyncResult {
        let Some(quota) = self.quotas.get(key) else {
            return Ok(None);
        };
        let client = &self.ctx.client;
        let ns = object::meta_str(&quota, "namespace").unwrap_or("default");
        // Count what the store holds now, not what the caches held a moment ago.
        let rev = client.server().store.revision();
        for inf in &self.evaluated {
            inf.wait_rev(rev, CATCH_UP).await;
        }
        let used = usage::namespace_usage(&quota, &Cached { ctl: self, ns }, client.now());
        if let Some(status) = desired_status(&quota, &used) {
            let mut q = (*quota).clone();
            q["status"] = status;
            client.update_status(RESOURCEQUOTAS, q).await?;
        }
        Ok(Some(RESYNC))
    }
}

impl Controller for QuotaController {
    fn name(&self) -> &'static str {
        "resourcequota-controller"
    }
    fn sync<'a>(&'a self, key: &'a str) -> BoxFuture<'a, SyncResult> {
        Box::pin(self.sync_quota(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(old: Option<Value>, new: Value) -> Delta {
        Delta::Upsert {
            old: old.map(Arc::new),
            new: Arc::new(new),
        }
    }

    #[test]
    fn status_writes_do_not_wake_the_quota() {
        let synced = json!({"spec": {"hard": {"pods": "2"}}, "status": {"hard": {"pods": "2"}, "used": {"pods": "1"}}});
        let charged = json!({"spec": {"hard": {"pods": "2"}}, "status": {"hard": {"pods": "2"}, "used": {"pods": "2"}}});
        assert!(!quota_needs_sync(&up(Some(synced.clone()), charged)));
        assert!(quota_needs_sync(&up(None, synced.clone())));
        let raised = json!({"spec": {"hard": {"pods": "3"}}, "status": {"hard": {"pods": "2"}, "used": {"pods": "1"}}});
        assert!(quota_needs_sync(&up(Some(synced.clone()), raised)));
        assert!(!quota_needs_sync(&Delta::Delete(Arc::new(synced))));
    }

    #[test]
    fn deletions_and_finished_pods_replenish() {
        let running =
            json!({"spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Running"}});
        let done =
            json!({"spec": {"containers": [{"name": "a"}]}, "status": {"phase": "Succeeded"}});
        assert!(object_change_matters(
            "pods",
            &up(Some(running.clone()), done),
            0
        ));
        assert!(!object_change_matters(
            "pods",
            &up(Some(running.clone()), running.clone()),
            0
        ));
        assert!(!object_change_matters(
            "pods",
            &up(None, running.clone()),
            0
        ));
        assert!(object_change_matters(
            "pods",
            &Delta::Delete(Arc::new(running)),
            0
        ));
    }

    #[test]
    fn status_mirrors_hard_and_is_only_written_on_change() {
        let q = json!({"spec": {"hard": {"pods": "2", "memory": "1Gi"}}});
        let used = resources::from_json(Some(&json!({"pods": "1", "memory": "512Mi"})));
        let status = desired_status(&q, &used).unwrap();
        assert_eq!(
            status,
            json!({"hard": {"memory": "1Gi", "pods": "2"}, "used": {"memory": "512Mi", "pods": "1"}})
        );
        let mut synced = q.clone();
        synced["status"] = status;
        assert_eq!(desired_status(&synced, &used), None);
    }
}
