//! The StatefulSet controller: pods with stable ordinal identities (see [`identity`]) and
//! per-ordinal PersistentVolumeClaims (see [`claims`]), created in order and each only once its
//! predecessors are Running and Ready (`OrderedReady`) or all at once (`Parallel`), removed
//! from the highest ordinal down, updated by RollingUpdate (with `partition`) or OnDelete
//! from ControllerRevisions, with status for `kubectl rollout status sts/x`.
//!
//! Contract: what to do is decided by [`plan::plan`] and [`status::compute`]; this module reads
//! the caches, claims pods and revisions, performs the planned actions in order (stopping at the
//! first failure) and waits for its pod writes to reach the cache before computing status, so
//! the next sync never recreates a pod it just created.

pub mod claims;
pub mod identity;
pub mod plan;
pub mod status;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use self::plan::{Action, Rev, View};
use super::client::{Delete, CONTROLLERREVISIONS, PODS, PVCS, STATEFULSETS};
use super::history;
use super::informer::{split_key, Informer};
use super::ownerref::controller_uid;
use super::replicaset::owner_keys;
use super::workload::{
    claim, is_deleting, min_ready_seconds, route_workload, selector_of, status_differs, Writes,
};
use super::{route, run, BoxFuture, Controller, Ctx, Queue, SyncError, SyncResult};
use crate::api::object;
use crate::api::selector::LabelSelector;

const KIND: &str = "StatefulSet";
const COMPONENT: &str = "statefulset-controller";

pub struct StatefulSetController {
    ctx: Ctx,
    sets: Arc<Informer>,
    pods: Arc<Informer>,
    revisions: Arc<Informer>,
    claims: Arc<Informer>,
}

pub fn start(ctx: &Ctx) {
    let sets = ctx.informers.get(STATEFULSETS);
    let pods = ctx.informers.get(PODS);
    let revisions = ctx.informers.get(CONTROLLERREVISIONS);
    let claims = ctx.informers.get(PVCS);
    let q = Queue::new();
    route_workload(&q, &sets, &pods, &revisions, KIND);
    // Claims carry the set's matchLabels: a claim going away may unblock a pod waiting on it.
    let s = sets.clone();
    route(&claims, &q, move |d| owner_keys(&s, d.object(), KIND));
    let c = StatefulSetController {
        ctx: ctx.clone(),
        sets: sets.clone(),
        pods: pods.clone(),
        revisions: revisions.clone(),
        claims: claims.clone(),
    };
    run(
        Arc::new(c),
        q,
        ctx.settings.workers,
        vec![sets, pods, revisions, claims],
    );
}

/// The revisions one sync works with.
struct Revisions {
    /// Every revision of the set, oldest first (before this sync's changes).
    all: Vec<Arc<Value>>,
    current: Value,
    update: Value,
    collision_count: i64,
}

impl StatefulSetController {
    async fn sync_set(&self, key: &str) -> SyncResult {
        let Some(set) = self.sets.get(key) else {
            return Ok(None);
        };
        let ns = split_key(key).0.unwrap_or("default");
        let client = &self.ctx.client;
        let Some(selector) = selector_of(&set) else {
            return Ok(None);
        };
        let mut w = Writes::default();
        let member = |p: &Value| identity::member_of(&set, p);
        let pods = claim(
            client,
            PODS,
            &set,
            &selector,
            self.pods.list(Some(ns)),
            member,
            &mut w,
        )
        .await?;
        let revs = self.revisions(&set, ns, &selector).await?;
        let actions = {
            let lookup = |n: &str| self.claims.get(&format!("{ns}/{n}"));
            plan::plan(&View {
                set: &set,
                pods: &pods,
                update_revision: object::name(&revs.update),
                now: client.now(),
                claim: &lookup,
            })
        };
        let result = self.execute(&set, ns, &revs, actions, &mut w).await;
        w.settle(&self.pods).await;
        let status = self.update_status(&set, ns, &revs).await;
        let pruned = self.truncate_history(&set, ns, &revs).await;
        result?;
        let status = status?;
        pruned?;
        // Pods turn available with time alone: look again after minReadySeconds.
        let min_ready = min_ready_seconds(&set);
        let short = status["availableReplicas"].as_i64() != Some(identity::replicas(&set));
        Ok((min_ready > 0 && short).then(|| Duration::from_secs(min_ready as u64)))
    }

    /// The current and update revisions (`getStatefulSetRevisions`): the update revision is the
    /// one equal to the template, created or renumbered as needed; the current one is named by
    /// `status.currentRevision` (the update revision for a new set).
    async fn revisions(
        &self,
        set: &Value,
        ns: &str,
        selector: &LabelSelector,
    ) -> Result<Revisions, SyncError> {
        let candidates = self.revisions.list(Some(ns));
        let found =
            history::current(&self.ctx.client, STATEFULSETS, set, selector, candidates).await?;
        let current = set
            .pointer("/status/currentRevision")
            .and_then(Value::as_str)
            .and_then(|name| found.all.iter().find(|r| object::name(r) == name))
            .map(|r| (**r).clone())
            .unwrap_or_else(|| found.revision.clone());
        Ok(Revisions {
            all: found.all,
            current,
            update: found.revision,
            collision_count: set
                .pointer("/status/collisionCount")
                .and_then(Value::as_i64)
                .unwrap_or(0),
        })
    }

    async fn execute(
        &self,
        set: &Value,
        ns: &str,
        revs: &Revisions,
        actions: Vec<Action>,
        w: &mut Writes,
    ) -> Result<(), SyncError> {
        let client = &self.ctx.client;
        let set_name = object::name(set);
        for action in actions {
            match action {
                Action::Create { ordinal, rev } => {
                    let r = if rev == Rev::Current {
                        &revs.current
                    } else {
                        &revs.update
                    };
                    let template = history::template_of(r).unwrap_or_else(|| {
                        set.pointer("/spec/template").cloned().unwrap_or_default()
                    });
                    let pod = identity::new_pod(set, &template, ordinal, object::name(r));
                    let name = object::name(&pod).to_string();
                    if let Err(e) = self.create_claims(set, ns, &name, ordinal).await {
                        self.pod_event(set, "create", &name, Some(&e.to_string()))
                            .await;
                        return Err(e);
                    }
                    match client.create(PODS, Some(ns), pod).await {
                        Ok(p) => {
                            w.saw(&p);
                            self.pod_event(set, "create", &name, None).await;
                            self.apply_retention(set, ns, &p, false).await?;
                        }
                        Err(e) => {
                            self.pod_event(set, "create", &name, Some(&e.message)).await;
                            return Err(e.into());
                        }
                    }
                }
                Action::Recreate { pod, failed } => {
                    let (kind, reason, what) = if failed {
                        ("Warning", "RecreatingFailedPod", "failed")
                    } else {
                        ("Normal", "RecreatingTerminatedPod", "terminated")
                    };
                    let ns_name = format!("{ns}/{set_name}");
                    let msg = format!(
                        "StatefulSet {ns_name} is recreating {what} Pod {}",
                        object::name(&pod)
                    );
                    client.event(set, kind, reason, &msg, COMPONENT).await;
                    self.delete_pod(set, ns, &pod, w).await?;
                }
                Action::CreateClaims { pod } => {
                    if let Some(ord) = identity::ordinal(&pod) {
                        self.create_claims(set, ns, object::name(&pod), ord).await?;
                    }
                }
                Action::Repair { pod } => self.repair(set, ns, &pod, w).await?,
                Action::ReleaseClaims { pod } => self.apply_retention(set, ns, &pod, true).await?,
                Action::ScaleDown { pod } | Action::Update { pod } => {
                    self.delete_pod(set, ns, &pod, w).await?
                }
            }
        }
        Ok(())
    }

    /// Create the missing claims of the pod with `ordinal`; every claim is attempted, the first
    /// failure is returned.
    async fn create_claims(
        &self,
        set: &Value,
        ns: &str,
        pod: &str,
        ordinal: i64,
    ) -> Result<(), SyncError> {
        let client = &self.ctx.client;
        let set_name = object::name(set);
        let mut first_err = None;
        for c in claims::claims_for(set, ordinal) {
            let name = object::name(&c).to_string();
            if let Some(have) = self.claims.get(&format!("{ns}/{name}")) {
                if is_deleting(&have) {
                    first_err
                        .get_or_insert(SyncError::Other(format!("pvc {name} is being deleted")));
                }
                continue;
            }
            match client.create(PVCS, Some(ns), c).await {
                Ok(_) => {
                    let msg =
                        format!("create Claim {name} Pod {pod} in StatefulSet {set_name} success");
                    client
                        .event(set, "Normal", "SuccessfulCreate", &msg, COMPONENT)
                        .await;
                }
                Err(e) if e.code == 409 => {}
                Err(e) => {
                    let msg = format!("create Claim {name} for Pod {pod} in StatefulSet {set_name} failed error: {}", e.message);
                    client
                        .event(set, "Warning", "FailedCreate", &msg, COMPONENT)
                        .await;
                    first_err.get_or_insert(SyncError::Other(format!(
                        "failed to create PVC {name}: {}",
                        e.message
                    )));
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Set the owner references of a pod's claims as the retention policy requires. Claims are
    /// read from the API, not the cache: they may have been created moments ago.
    async fn apply_retention(
        &self,
        set: &Value,
        ns: &str,
        pod: &Value,
        scaled_down: bool,
    ) -> Result<(), SyncError> {
        let client = &self.ctx.client;
        let Some(ord) = identity::ordinal(pod) else {
            return Ok(());
        };
        for name in claims::claim_names(set, ord) {
            let claim = match client.get(PVCS, Some(ns), &name) {
                Ok(c) => c,
                Err(e) if e.code == 404 => continue,
                Err(e) => return Err(e.into()),
            };
            if let Some(refs) = claims::retention_refs(&claim, set, pod, scaled_down) {
                let patch = json!({"metadata": {"ownerReferences": refs}});
                client
                    .merge_patch(PVCS, Some(ns), &name, &patch, false)
                    .await?;
            }
        }
        Ok(())
    }

    /// Restore identity labels, claims and claim ownership of a pod (`UpdateStatefulPod`).
    /// Volumes of an existing pod cannot change, so storage is repaired by creating claims.
    async fn repair(
        &self,
        set: &Value,
        ns: &str,
        pod: &Value,
        w: &mut Writes,
    ) -> Result<(), SyncError> {
        let client = &self.ctx.client;
        let Some(ord) = identity::ordinal(pod) else {
            return Ok(());
        };
        let name = object::name(pod);
        if !identity::identity_matches(set, pod) {
            let patch = json!({"metadata": {"labels": identity::identity_labels(set, ord)}});
            let v = client
                .merge_patch(PODS, Some(ns), name, &patch, false)
                .await?;
            w.saw(&v);
            self.pod_event(set, "update", name, None).await;
        }
        if !claims::storage_matches(set, pod) {
            self.create_claims(set, ns, name, ord).await?;
        }
        self.apply_retention(set, ns, pod, false).await
    }

    async fn delete_pod(
        &self,
        set: &Value,
        ns: &str,
        pod: &Value,
        w: &mut Writes,
    ) -> Result<(), SyncError> {
        let client = &self.ctx.client;
        let name = object::name(pod);
        let how = Delete {
            uid: object::meta_str(pod, "uid").map(str::to_string),
            ..Default::default()
        };
        match client.delete(PODS, Some(ns), name, how).await {
            Ok(()) => {
                w.saw_store(client);
                self.pod_event(set, "delete", name, None).await;
                Ok(())
            }
            Err(e) if e.code == 404 => Ok(()),
            Err(e) => {
                self.pod_event(set, "delete", name, Some(&e.message)).await;
                Err(e.into())
            }
        }
    }

    /// Record the outcome of a pod operation as Kubernetes' `recordPodEvent` does:
    /// `SuccessfulCreate` "create Pod web-0 in StatefulSet web successful", or
    /// `FailedCreate` "create Pod web-0 in StatefulSet web failed error: ...".
    async fn pod_event(&self, set: &Value, verb: &str, pod: &str, err: Option<&str>) {
        let title: String = verb
            .chars()
            .take(1)
            .flat_map(char::to_uppercase)
            .chain(verb.chars().skip(1))
            .collect();
        let set_name = object::name(set);
        let (kind, reason, msg) = match err {
            None => (
                "Normal",
                format!("Successful{title}"),
                format!("{verb} Pod {pod} in StatefulSet {set_name} successful"),
            ),
            Some(e) => (
                "Warning",
                format!("Failed{title}"),
                format!("{verb} Pod {pod} in StatefulSet {set_name} failed error: {e}"),
            ),
        };
        self.ctx
            .client
            .event(set, kind, &reason, &msg, COMPONENT)
            .await;
    }

    async fn update_status(
        &self,
        set: &Value,
        ns: &str,
        revs: &Revisions,
    ) -> Result<Value, SyncError> {
        let uid = object::meta_str(set, "uid");
        let pods: Vec<Arc<Value>> = self
            .pods
            .list(Some(ns))
            .into_iter()
            .filter(|p| controller_uid(p) == uid && identity::member_of(set, p))
            .collect();
        let now = self.ctx.client.now();
        let status = status::compute(
            set,
            &pods,
            object::name(&revs.current),
            object::name(&revs.update),
            revs.collision_count,
            now,
        );
        if status_differs(set.get("status"), &status) {
            self.ctx
                .client
                .merge_patch(
                    STATEFULSETS,
                    Some(ns),
                    object::name(set),
                    &json!({"status": status}),
                    true,
                )
                .await?;
        }
        Ok(status)
    }

    /// Delete revisions beyond `revisionHistoryLimit` that are neither current, update, nor
    /// run by a pod (`truncateHistory`).
    async fn truncate_history(
        &self,
        set: &Value,
        ns: &str,
        revs: &Revisions,
    ) -> Result<(), SyncError> {
        let uid = object::meta_str(set, "uid");
        let mut live: HashSet<String> = [object::name(&revs.current), object::name(&revs.update)]
            .map(str::to_string)
            .into();
        for p in self
            .pods
            .list(Some(ns))
            .iter()
            .filter(|p| controller_uid(p) == uid)
        {
            live.insert(identity::revision(p).to_string());
        }
        let limit = set
            .pointer("/spec/revisionHistoryLimit")
            .and_then(Value::as_i64)
            .unwrap_or(10)
            .max(0) as usize;
        let historic = revs
            .all
            .iter()
            .filter(|r| !live.contains(object::name(r)))
            .count();
        let excess = historic.saturating_sub(limit);
        if excess > 0 {
            history::delete_all(
                &self.ctx.client,
                ns,
                &history::prune(&revs.all, &live, excess),
            )
            .await?;
        }
        Ok(())
    }
}

impl Controller for StatefulSetController {
    fn name(&self) -> &'static str {
        COMPONENT
    }
    fn sync<'a>(&'a self, key: &'a str) -> BoxFuture<'a, SyncResult> {
        Box::pin(self.sync_set(key))
    }
}
