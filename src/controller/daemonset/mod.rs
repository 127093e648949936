//! The DaemonSet controller: one pod per eligible node (see [`eligibility`]), created pinned to
//! its node through a required node affinity for the scheduler to bind, replaced when it
//! finishes, removed from nodes that stop being eligible; RollingUpdate (`maxUnavailable`,
//! `maxSurge`) or OnDelete updates driven by ControllerRevisions; status counts for `kubectl
//! rollout status ds/x`.
//!
//! Contract: decisions are the pure functions of [`manage`], [`rolling`] and [`status`]; this
//! module only reads the caches, claims pods and revisions, executes the decisions and waits for
//! its own writes to reach the pod cache before computing status. A rolling-update step runs
//! only in a sync whose manage step changed nothing, so it always sees settled pods.

mod backoff;
pub mod eligibility;
pub mod manage;
pub mod pods;
pub mod rolling;
pub mod status;
pub mod view;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use self::backoff::Backoff;
use self::eligibility::Eligibility;
use self::manage::{Deletion, Reason};
use self::pods::template_generation;
use self::view::View;
use super::client::{Delete, CONTROLLERREVISIONS, DAEMONSETS, NODES, PODS};
use super::history::{self, hash_label, HASH_LABEL};
use super::informer::{key_of, split_key, Delta, Informer};
use super::ownerref::controller_uid;
use super::workload::{claim, is_deleting, route_workload, selector_of, status_differs, Writes};
use super::{route, run, BoxFuture, Controller, Ctx, Queue, SyncError, SyncResult};
use crate::api::object;
use crate::api::selector::LabelSelector;

const KIND: &str = "DaemonSet";
const COMPONENT: &str = "daemonset-controller";
/// Most pods created or deleted in one sync (Kubernetes' `BurstReplicas`).
const MAX_BURST: usize = 250;

pub struct DaemonSetController {
    ctx: Ctx,
    sets: Arc<Informer>,
    pods: Arc<Informer>,
    nodes: Arc<Informer>,
    revisions: Arc<Informer>,
    failed: Backoff,
}

pub fn start(ctx: &Ctx) {
    let sets = ctx.informers.get(DAEMONSETS);
    let pods = ctx.informers.get(PODS);
    let nodes = ctx.informers.get(NODES);
    let revisions = ctx.informers.get(CONTROLLERREVISIONS);
    let q = Queue::new();
    route_workload(&q, &sets, &pods, &revisions, KIND);
    let s = sets.clone();
    route(&nodes, &q, move |d| affected_by_node(&s, d));
    let c = DaemonSetController {
        ctx: ctx.clone(),
        sets: sets.clone(),
        pods: pods.clone(),
        nodes: nodes.clone(),
        revisions: revisions.clone(),
        failed: Backoff::default(),
    };
    run(
        Arc::new(c),
        q,
        ctx.settings.workers,
        vec![sets, pods, nodes, revisions],
    );
}

/// DaemonSets whose verdict on a node changed with this node delta.
fn affected_by_node(sets: &Informer, d: &Delta) -> Vec<String> {
    let (old, new) = match d {
        Delta::Upsert { old, new } => (old.as_deref(), Some(new.as_ref())),
        Delta::Delete(o) => (Some(o.as_ref()), None),
    };
    // Only a node's name, labels and taints decide eligibility; skip status-only updates.
    if let (Some(o), Some(n)) = (old, new) {
        if object::labels(o) == object::labels(n) && o.get("spec") == n.get("spec") {
            return vec![];
        }
    }
    sets.list(None)
        .iter()
        .filter(|ds| {
            let e = Eligibility::new(ds);
            old.map(|n| e.check(n)) != new.map(|n| e.check(n))
        })
        .map(|ds| key_of(ds))
        .collect()
}

impl DaemonSetController {
    async fn sync_ds(&self, key: &str) -> SyncResult {
        let Some(ds) = self.sets.get(key) else {
            return Ok(None);
        };
        let ns = split_key(key).0.unwrap_or("default");
        let client = &self.ctx.client;
        let Some(selector) = selector_of(&ds) else {
            let msg = "This daemon set is selecting all pods. A non-empty selector is required.";
            client
                .event(&ds, "Warning", "SelectingAll", msg, COMPONENT)
                .await;
            return Ok(None);
        };
        // Revisions of a DaemonSet being deleted may already be gone: leave it to the GC.
        if is_deleting(&ds) {
            return Ok(None);
        }
        let mut w = Writes::default();
        let (cur, old) = self.construct_history(&ds, ns, &selector, &mut w).await?;
        let hash = hash_label(&cur).unwrap_or("").to_string();
        let pods = claim(
            client,
            PODS,
            &ds,
            &selector,
            self.pods.list(Some(ns)),
            |_| true,
            &mut w,
        )
        .await?;
        let nodes = self.nodes.list(None);
        let elig = Eligibility::new(&ds);
        let mut view = View {
            ds: &ds,
            elig: &elig,
            nodes: &nodes,
            hash: &hash,
            generation: template_generation(&ds),
            now: client.now(),
        };
        let result = self.reconcile(&view, ns, &pods, &old, &mut w).await;
        w.settle(&self.pods).await;
        view.now = client.now();
        let status = self.update_status(&view, ns).await;
        let again = result?;
        Ok(match (again, status?) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        })
    }

    /// Manage, roll and prune history; returns when to look again.
    async fn reconcile(
        &self,
        v: &View<'_>,
        ns: &str,
        pods: &[Arc<Value>],
        old: &[Arc<Value>],
        w: &mut Writes,
    ) -> SyncResult {
        let plan = manage::plan(v, &pods::by_node(pods, true));
        let (doomed, again) = self.admit(v.ds, plan.delete, v.now).await;
        let changed = !plan.create_on.is_empty() || !doomed.is_empty();
        self.create_pods(v, ns, &plan.create_on, w).await?;
        self.delete_pods(v.ds, ns, doomed.iter().map(|d| &d.pod), w)
            .await?;
        let rolling =
            v.ds.pointer("/spec/updateStrategy/type")
                .and_then(Value::as_str)
                == Some("RollingUpdate");
        if !changed && rolling {
            let step = rolling::step(v, &pods::by_node(pods, false));
            self.create_pods(v, ns, &step.create_on, w).await?;
            let by_name: Vec<&Arc<Value>> = pods
                .iter()
                .filter(|p| step.delete.iter().any(|n| n == object::name(p)))
                .collect();
            self.delete_pods(v.ds, ns, by_name.into_iter(), w).await?;
        }
        self.cleanup_history(v.ds, ns, old, pods).await?;
        Ok(again)
    }

    /// Let through deletions of failed pods only outside their node's backoff, recording the
    /// events Kubernetes does; returns the deletions and when to look again for the held ones.
    async fn admit(
        &self,
        ds: &Value,
        planned: Vec<Deletion>,
        now: i64,
    ) -> (Vec<Deletion>, Option<Duration>) {
        let client = &self.ctx.client;
        let uid = object::meta_str(ds, "uid").unwrap_or("");
        let gen = ds
            .pointer("/status/observedGeneration")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let ns = object::meta_str(ds, "namespace").unwrap_or("");
        let (mut out, mut again) = (Vec::new(), None::<i64>);
        for d in planned {
            let pod = object::name(&d.pod);
            match d.reason {
                Reason::Failed => {
                    let key = format!("{uid}/{gen}/{}", d.node);
                    if let Some(left) = self.failed.remaining(&key, now) {
                        again = Some(again.map_or(left, |a| a.min(left)));
                        continue;
                    }
                    self.failed.next(&key, now);
                    let msg = format!(
                        "Found failed daemon pod {ns}/{pod} on node {}, will try to kill it",
                        d.node
                    );
                    client
                        .event(ds, "Warning", "FailedDaemonPod", &msg, COMPONENT)
                        .await;
                }
                Reason::Succeeded => {
                    let msg = format!(
                        "Found succeeded daemon pod {ns}/{pod} on node {}, will try to delete it",
                        d.node
                    );
                    client
                        .event(ds, "Normal", "SucceededDaemonPod", &msg, COMPONENT)
                        .await;
                }
                _ => {}
            }
            out.push(d);
        }
        (out, again.map(|s| Duration::from_secs(s.max(1) as u64)))
    }

    async fn create_pods(
        &self,
        v: &View<'_>,
        ns: &str,
        on: &[String],
        w: &mut Writes,
    ) -> Result<(), SyncError> {
        let client = &self.ctx.client;
        let ds = v.ds;
        for node in on.iter().take(MAX_BURST) {
            match client
                .create(
                    PODS,
                    Some(ns),
                    pods::new_pod(ds, node, v.hash, v.generation),
                )
                .await
            {
                Ok(p) => {
                    w.saw(&p);
                    let msg = format!("Created pod: {}", object::name(&p));
                    client
                        .event(ds, "Normal", "SuccessfulCreate", &msg, COMPONENT)
                        .await;
                }
                Err(e) => {
                    let msg = format!("Error creating: {}", e.message);
                    client
                        .event(ds, "Warning", "FailedCreate", &msg, COMPONENT)
                        .await;
                    return Err(e.into());
                }
            }
        }
        Ok(())
    }

    async fn delete_pods<'p>(
        &self,
        ds: &Value,
        ns: &str,
        victims: impl Iterator<Item = &'p Arc<Value>>,
        w: &mut Writes,
    ) -> Result<(), SyncError> {
        let client = &self.ctx.client;
        for p in victims.take(MAX_BURST) {
            let name = object::name(p);
            let how = Delete {
                uid: object::meta_str(p, "uid").map(str::to_string),
                ..Default::default()
            };
            match client.delete(PODS, Some(ns), name, how).await {
                Ok(()) => {
                    w.saw_store(client);
                    client
                        .event(
                            ds,
                            "Normal",
                            "SuccessfulDelete",
                            &format!("Deleted pod: {name}"),
                            COMPONENT,
                        )
                        .await;
                }
                Err(e) if e.code == 404 || e.code == 409 => {}
                Err(e) => {
                    client
                        .event(
                            ds,
                            "Warning",
                            "FailedDelete",
                            &format!("Error deleting: {}", e.message),
                            COMPONENT,
                        )
                        .await;
                    return Err(e.into());
                }
            }
        }
        Ok(())
    }

    /// The revision of the current template (created or renumbered as needed) and the older
    /// ones (`constructHistory`); duplicates of the current one are removed. `w` records pod
    /// writes.
    async fn construct_history(
        &self,
        ds: &Value,
        ns: &str,
        selector: &LabelSelector,
        w: &mut Writes,
    ) -> Result<(Value, Vec<Arc<Value>>), SyncError> {
        let candidates = self.revisions.list(Some(ns));
        let cur = history::current(&self.ctx.client, DAEMONSETS, ds, selector, candidates).await?;
        if !cur.duplicates.is_empty() {
            self.dedup(ds, ns, &cur.revision, &cur.all, &cur.duplicates, w)
                .await?;
        }
        let name = object::name(&cur.revision);
        let old = cur
            .all
            .into_iter()
            .filter(|r| {
                object::name(r) != name && !cur.duplicates.iter().any(|d| d == object::name(r))
            })
            .collect();
        Ok((cur.revision, old))
    }

    /// Relabel pods of duplicate revisions with the kept revision's hash, then delete the
    /// duplicates.
    async fn dedup(
        &self,
        ds: &Value,
        ns: &str,
        keep: &Value,
        revs: &[Arc<Value>],
        duplicates: &[String],
        w: &mut Writes,
    ) -> Result<(), SyncError> {
        let client = &self.ctx.client;
        let keep_hash = hash_label(keep).unwrap_or("");
        let dup_hashes: HashSet<&str> = revs
            .iter()
            .filter(|r| duplicates.iter().any(|d| d == object::name(r)))
            .filter_map(|r| hash_label(r))
            .collect();
        let uid = object::meta_str(ds, "uid");
        for p in self
            .pods
            .list(Some(ns))
            .iter()
            .filter(|p| controller_uid(p) == uid)
        {
            if hash_label(p).is_some_and(|h| dup_hashes.contains(h)) {
                let patch = json!({"metadata": {"labels": {HASH_LABEL: keep_hash}}});
                let v = client
                    .merge_patch(PODS, Some(ns), object::name(p), &patch, false)
                    .await?;
                w.saw(&v);
            }
        }
        history::delete_all(client, ns, duplicates).await?;
        Ok(())
    }

    /// Delete old revisions beyond `revisionHistoryLimit` that no pod runs (`cleanupHistory`).
    async fn cleanup_history(
        &self,
        ds: &Value,
        ns: &str,
        old: &[Arc<Value>],
        pods: &[Arc<Value>],
    ) -> Result<(), SyncError> {
        let limit = ds
            .pointer("/spec/revisionHistoryLimit")
            .and_then(Value::as_i64)
            .unwrap_or(10)
            .max(0) as usize;
        let excess = old.len().saturating_sub(limit);
        if excess == 0 {
            return Ok(());
        }
        let live_hashes: HashSet<&str> = pods.iter().filter_map(|p| hash_label(p)).collect();
        let live: HashSet<String> = old
            .iter()
            .filter(|r| hash_label(r).is_some_and(|h| live_hashes.contains(h)))
            .map(|r| object::name(r).to_string())
            .collect();
        history::delete_all(&self.ctx.client, ns, &history::prune(old, &live, excess)).await?;
        Ok(())
    }

    async fn update_status(&self, v: &View<'_>, ns: &str) -> SyncResult {
        let ds = v.ds;
        let uid = object::meta_str(ds, "uid");
        let owned: Vec<Arc<Value>> = self
            .pods
            .list(Some(ns))
            .into_iter()
            .filter(|p| controller_uid(p) == uid)
            .collect();
        let status = status::compute(v, &pods::by_node(&owned, false));
        if status_differs(ds.get("status"), &status) {
            self.ctx
                .client
                .merge_patch(
                    DAEMONSETS,
                    Some(ns),
                    object::name(ds),
                    &json!({"status": status}),
                    true,
                )
                .await?;
        }
        // Pods turn available with time alone: look again after minReadySeconds.
        let min_ready = v.min_ready();
        let waiting = status["numberReady"] != status["numberAvailable"];
        Ok((min_ready > 0 && waiting).then(|| Duration::from_secs(min_ready as u64)))
    }
}

impl Controller for DaemonSetController {
    fn name(&self) -> &'static str {
        COMPONENT
    }
    fn sync<'a>(&'a self, key: &'a str) -> BoxFuture<'a, SyncResult> {
        Box::pin(self.sync_ds(key))
    }
}
