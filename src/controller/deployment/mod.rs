//! The Deployment controller: one ReplicaSet per pod template (named by a template hash),
//! rolled with RollingUpdate (within maxSurge/maxUnavailable) or Recreate, revisions in the
//! `deployment.kubernetes.io/revision` annotation (so `kubectl rollout history/undo` work), old
//! ReplicaSets trimmed to `revisionHistoryLimit`, and the status fields and conditions
//! `kubectl rollout status` reads.

mod rolling;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Map, Value};

use self::rolling::{resolve_bounds, scale_down_olds, scale_up_new, Set};
use super::client::{Delete, DEPLOYMENTS, PODS, REPLICASETS};
use super::informer::{key_of, split_key, Informer};
use super::ownerref::{controller_of, controller_ref, controller_uid};
use super::podutil::{is_active, template_hash};
use super::replicaset::owner_keys;
use super::workload::{claim, Writes};
use super::{route, run, BoxFuture, Controller, Ctx, Queue, SyncResult};
use crate::api::object;
use crate::api::selector::LabelSelector;
use crate::clock::{parse_rfc3339, rfc3339};

const HASH_LABEL: &str = "pod-template-hash";
const REVISION: &str = "deployment.kubernetes.io/revision";
const COMPONENT: &str = "deployment-controller";

pub struct DeploymentController {
    ctx: Ctx,
    deps: Arc<Informer>,
    sets: Arc<Informer>,
    pods: Arc<Informer>,
}

pub fn start(ctx: &Ctx) {
    let deps = ctx.informers.get(DEPLOYMENTS);
    let sets = ctx.informers.get(REPLICASETS);
    let pods = ctx.informers.get(PODS);
    let q = Queue::new();
    route(&deps, &q, |d| vec![key_of(d.object())]);
    let deps2 = deps.clone();
    route(&sets, &q, move |d| {
        owner_keys(&deps2, d.object(), "Deployment")
    });
    let sets2 = sets.clone();
    route(&pods, &q, move |d| {
        // Pods matter to a Deployment only while Recreate waits for old pods to go.
        let pod = d.object();
        let ns = object::meta_str(pod, "namespace").unwrap_or("");
        let Some(r) = controller_of(pod) else {
            return vec![];
        };
        let rs_name = r.get("name").and_then(Value::as_str).unwrap_or("");
        sets2
            .get(&format!("{ns}/{rs_name}"))
            .and_then(|rs| {
                controller_of(&rs)
                    .and_then(|o| o.get("name"))
                    .and_then(Value::as_str)
                    .map(|n| format!("{ns}/{n}"))
            })
            .into_iter()
            .collect()
    });
    let c = DeploymentController {
        ctx: ctx.clone(),
        deps: deps.clone(),
        sets: sets.clone(),
        pods: pods.clone(),
    };
    run(Arc::new(c), q, ctx.settings.workers, vec![deps, sets, pods]);
}

fn revision(rs: &Value) -> i64 {
    rs.pointer("/metadata/annotations")
        .and_then(|a| a.get(REVISION))
        .and_then(Value::as_str)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn replicas(obj: &Value) -> i64 {
    obj.pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1)
}

fn status_i64(obj: &Value, f: &str) -> i64 {
    obj.pointer(&format!("/status/{f}"))
        .and_then(Value::as_i64)
        .unwrap_or(0)
}

/// The template of a ReplicaSet without the hash label, to compare with a Deployment's.
fn template_without_hash(rs: &Value) -> Value {
    let mut t = rs.pointer("/spec/template").cloned().unwrap_or(Value::Null);
    if let Some(l) = t
        .pointer_mut("/metadata/labels")
        .and_then(Value::as_object_mut)
    {
        l.remove(HASH_LABEL);
    }
    t
}

fn created(obj: &Value) -> i64 {
    object::meta_str(obj, "creationTimestamp")
        .and_then(parse_rfc3339)
        .unwrap_or(0)
}

fn rv(obj: &Value) -> u64 {
    object::meta_str(obj, "resourceVersion")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Annotations a ReplicaSet inherits from its Deployment (not kubectl's apply bookkeeping).
fn inherited_annotations(dep: &Value) -> Map<String, Value> {
    let mut a = dep
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    a.remove("kubectl.kubernetes.io/last-applied-configuration");
    a.remove(REVISION);
    a
}

impl DeploymentController {
    async fn scale(
        &self,
        dep: &Value,
        rs: &Value,
        to: i64,
        last_rev: &mut u64,
    ) -> Result<(), super::SyncError> {
        let from = replicas(rs);
        if from == to {
            return Ok(());
        }
        let ns = object::meta_str(rs, "namespace").unwrap_or("default");
        let name = object::name(rs);
        let (surge, _) = resolve_bounds(dep.pointer("/spec/strategy"), replicas(dep));
        let patch = json!({
            "metadata": {"annotations": {
                "deployment.kubernetes.io/desired-replicas": replicas(dep).to_string(),
                "deployment.kubernetes.io/max-replicas": (replicas(dep) + surge).to_string(),
            }},
            "spec": {"replicas": to},
        });
        let out = self
            .ctx
            .client
            .merge_patch(REPLICASETS, Some(ns), name, &patch, false)
            .await?;
        *last_rev = (*last_rev).max(rv(&out));
        let dir = if to > from { "up" } else { "down" };
        self.ctx
            .client
            .event(
                dep,
                "Normal",
                "ScalingReplicaSet",
                &format!("Scaled {dir} replica set {name} from {from} to {to}"),
                COMPONENT,
            )
            .await;
        Ok(())
    }

    async fn sync_dep(&self, key: &str) -> SyncResult {
        let Some(dep) = self.deps.get(key) else {
            return Ok(None);
        };
        if object::meta(&dep).is_some_and(|m| m.contains_key("deletionTimestamp")) {
            return Ok(None);
        }
        let (ns, name) = split_key(key);
        let ns = ns.unwrap_or("default");
        let client = &self.ctx.client;
        let Ok(selector) =
            LabelSelector::from_json(dep.pointer("/spec/selector").unwrap_or(&Value::Null))
        else {
            return Ok(None);
        };
        if selector.is_empty() {
            return Ok(None);
        }
        let uid = object::meta_str(&dep, "uid").unwrap_or("").to_string();
        let mut last_rev = 0u64;
        // Adopt and release ReplicaSets (the shared ControllerRefManager rules).
        let mut writes = Writes::default();
        let claimed = claim(
            client,
            REPLICASETS,
            &dep,
            &selector,
            self.sets.list(Some(ns)),
            |_| true,
            &mut writes,
        )
        .await?;
        let owned: Vec<Value> = claimed.iter().map(|rs| (**rs).clone()).collect();
        let template = dep
            .pointer("/spec/template")
            .cloned()
            .unwrap_or(Value::Null);
        let desired = replicas(&dep).max(0);
        let (surge, unavailable) = resolve_bounds(dep.pointer("/spec/strategy"), desired);
        let max_rev = owned.iter().map(revision).max().unwrap_or(0);
        let mut new_rs = owned
            .iter()
            .find(|rs| template_without_hash(rs) == template)
            .cloned();
        let mut olds: Vec<Value> = owned
            .iter()
            .filter(|rs| {
                new_rs
                    .as_ref()
                    .is_none_or(|n| object::name(n) != object::name(rs))
            })
            .cloned()
            .collect();
        olds.sort_by_key(created);
        let paused = dep.pointer("/spec/paused").and_then(Value::as_bool) == Some(true);
        let recreate =
            dep.pointer("/spec/strategy/type").and_then(Value::as_str) == Some("Recreate");
        let mut created_new = None;
        if new_rs.is_none() && !paused {
            let collisions = status_i64(&dep, "collisionCount");
            let hash = template_hash(&template, collisions);
            let rs_name = format!("{name}-{hash}");
            let mut t = template.clone();
            t["metadata"]["labels"][HASH_LABEL] = json!(hash);
            let mut sel = dep.pointer("/spec/selector").cloned().unwrap_or(json!({}));
            sel["matchLabels"][HASH_LABEL] = json!(hash);
            let mut labels = t["metadata"]["labels"].clone();
            labels[HASH_LABEL] = json!(hash);
            let mut annotations = inherited_annotations(&dep);
            annotations.insert(REVISION.into(), json!((max_rev + 1).to_string()));
            annotations.insert(
                "deployment.kubernetes.io/desired-replicas".into(),
                json!(desired.to_string()),
            );
            annotations.insert(
                "deployment.kubernetes.io/max-replicas".into(),
                json!((desired + surge).to_string()),
            );
            let old_sets: Vec<Set> = olds.iter().map(as_set).collect();
            let start = if recreate {
                0
            } else {
                scale_up_new(
                    desired,
                    surge,
                    &Set {
                        name: rs_name.clone(),
                        replicas: 0,
                        available: 0,
                    },
                    &old_sets,
                )
            };
            let rs = json!({
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": rs_name, "namespace": ns, "labels": labels,
                             "annotations": annotations, "ownerReferences": [controller_ref(&dep)]},
                "spec": {"replicas": start, "minReadySeconds": dep.pointer("/spec/minReadySeconds").cloned().unwrap_or(json!(0)),
                         "selector": sel, "template": t},
            });
            match client.create(REPLICASETS, Some(ns), rs).await {
                Ok(out) => {
                    last_rev = last_rev.max(rv(&out));
                    client
                        .event(
                            &dep,
                            "Normal",
                            "ScalingReplicaSet",
                            &format!(
                                "Scaled up replica set {} from 0 to {start}",
                                object::name(&out)
                            ),
                            COMPONENT,
                        )
                        .await;
                    created_new = Some(object::name(&out).to_string());
                    new_rs = Some(out);
                }
                Err(e) if e.code == 409 => {
                    // A ReplicaSet of that name with another template: count the collision
                    // so the next hash differs.
                    client
                        .merge_patch(
                            DEPLOYMENTS,
                            Some(ns),
                            name,
                            &json!({"status": {"collisionCount": collisions + 1}}),
                            true,
                        )
                        .await?;
                    return Ok(Some(Duration::from_millis(10)));
                }
                Err(e) => return Err(e.into()),
            }
        } else if let Some(n) = &new_rs {
            if revision(n) < max_rev || revision(n) == 0 {
                // A rollback made an old template current again: it becomes the newest revision.
                let patch =
                    json!({"metadata": {"annotations": {REVISION: (max_rev + 1).to_string()}}});
                let out = client
                    .merge_patch(REPLICASETS, Some(ns), object::name(n), &patch, false)
                    .await?;
                last_rev = last_rev.max(rv(&out));
                new_rs = Some(out);
            }
        }
        if let Some(new) = &new_rs {
            let want = revision(new).to_string();
            let have = dep
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(REVISION))
                .and_then(Value::as_str);
            if have != Some(want.as_str()) {
                let patch = json!({"metadata": {"annotations": {REVISION: want}}});
                client
                    .merge_patch(DEPLOYMENTS, Some(ns), name, &patch, false)
                    .await?;
            }
        }
        if let Some(new) = new_rs.clone() {
            let new_set = as_set(&new);
            let old_sets: Vec<Set> = olds.iter().map(as_set).collect();
            if paused {
                if olds.iter().all(|o| replicas(o) == 0) {
                    self.scale(&dep, &new, desired, &mut last_rev).await?;
                }
            } else if recreate {
                for o in &olds {
                    self.scale(&dep, o, 0, &mut last_rev).await?;
                }
                let old_uids: Vec<String> = olds
                    .iter()
                    .filter_map(|o| object::meta_str(o, "uid").map(str::to_string))
                    .collect();
                let old_pods_left = self.pods.list(Some(ns)).iter().any(|p| {
                    is_active(p)
                        && controller_uid(p).is_some_and(|u| old_uids.iter().any(|o| o == u))
                });
                if !old_pods_left {
                    self.scale(&dep, &new, desired, &mut last_rev).await?;
                }
            } else if old_sets.iter().all(|s| s.replicas == 0) {
                self.scale(&dep, &new, desired, &mut last_rev).await?;
            } else {
                let up = scale_up_new(desired, surge, &new_set, &old_sets);
                self.scale(&dep, &new, up, &mut last_rev).await?;
                let after_up = Set {
                    replicas: up,
                    ..new_set
                };
                let downs = scale_down_olds(desired, unavailable, &after_up, &old_sets);
                for (o, to) in olds.iter().zip(downs) {
                    self.scale(&dep, o, to, &mut last_rev).await?;
                }
            }
        }
        // Trim history: old, fully scaled-down ReplicaSets beyond revisionHistoryLimit.
        let limit = dep
            .pointer("/spec/revisionHistoryLimit")
            .and_then(Value::as_i64)
            .unwrap_or(10)
            .max(0) as usize;
        let idle: Vec<&Value> = olds
            .iter()
            .filter(|o| replicas(o) == 0 && status_i64(o, "replicas") == 0)
            .collect();
        if idle.len() > limit {
            for o in idle.iter().take(idle.len() - limit) {
                let how = Delete {
                    uid: object::meta_str(o, "uid").map(str::to_string),
                    ..Default::default()
                };
                match client
                    .delete(REPLICASETS, Some(ns), object::name(o), how)
                    .await
                {
                    Ok(()) | Err(_) => {}
                }
            }
        }
        writes.settle(&self.sets).await;
        if last_rev > 0 {
            self.sets.wait_rev(last_rev, Duration::from_secs(2)).await;
        }
        self.update_status(&dep, ns, &uid, desired, unavailable, created_new)
            .await
    }

    async fn update_status(
        &self,
        dep: &Value,
        ns: &str,
        uid: &str,
        desired: i64,
        unavailable: i64,
        created_new: Option<String>,
    ) -> SyncResult {
        let now = self.ctx.client.now();
        let template = dep
            .pointer("/spec/template")
            .cloned()
            .unwrap_or(Value::Null);
        let owned: Vec<Arc<Value>> = self
            .sets
            .list(Some(ns))
            .into_iter()
            .filter(|rs| controller_uid(rs) == Some(uid))
            .collect();
        let new = owned
            .iter()
            .find(|rs| template_without_hash(rs) == template);
        let sum = |f: &str| owned.iter().map(|rs| status_i64(rs, f)).sum::<i64>();
        let total_spec: i64 = owned.iter().map(|rs| replicas(rs)).sum();
        let status_replicas = sum("replicas");
        let ready = sum("readyReplicas");
        let available = sum("availableReplicas");
        let updated = new.map(|n| status_i64(n, "replicas")).unwrap_or(0);
        let new_name = new.map(|n| object::name(n).to_string()).unwrap_or_default();
        let old_status = dep.get("status").cloned().unwrap_or(json!({}));
        let find = |t: &str| -> Option<Value> {
            old_status
                .get("conditions")
                .and_then(Value::as_array)
                .and_then(|cs| cs.iter().find(|c| c["type"] == t).cloned())
        };
        let ts = rfc3339(now);
        let cond = |t: &str,
                    status: &str,
                    reason: &str,
                    message: &str,
                    progressed: bool|
         -> Value {
            let prev = find(t);
            let same = prev
                .as_ref()
                .is_some_and(|p| p["status"] == status && p["reason"] == reason);
            let transition = if prev.as_ref().is_some_and(|p| p["status"] == status) {
                prev.as_ref()
                    .map(|p| p["lastTransitionTime"].clone())
                    .unwrap_or(json!(ts))
            } else {
                json!(ts)
            };
            let update = if same && !progressed {
                prev.as_ref()
                    .map(|p| p["lastUpdateTime"].clone())
                    .unwrap_or(json!(ts))
            } else {
                json!(ts)
            };
            json!({"type": t, "status": status, "lastUpdateTime": update, "lastTransitionTime": transition,
                   "reason": reason, "message": message})
        };
        let available_cond = if available >= desired - unavailable {
            cond(
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                false,
            )
        } else {
            cond(
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                false,
            )
        };
        let complete = updated == desired
            && status_replicas == desired
            && available == desired
            && new.is_some();
        let prev_available = old_status
            .get("availableReplicas")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let prev_updated = old_status
            .get("updatedReplicas")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let progressed =
            created_new.is_some() || available > prev_available || updated > prev_updated;
        let deadline = dep
            .pointer("/spec/progressDeadlineSeconds")
            .and_then(Value::as_i64);
        let mut requeue = None;
        let progressing = if let Some(n) = &created_new {
            cond(
                "Progressing",
                "True",
                "NewReplicaSetCreated",
                &format!("Created new replica set \"{n}\""),
                true,
            )
        } else if complete {
            cond(
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                &format!("ReplicaSet \"{new_name}\" has successfully progressed."),
                false,
            )
        } else if progressed || find("Progressing").is_none() {
            cond(
                "Progressing",
                "True",
                "ReplicaSetUpdated",
                &format!("ReplicaSet \"{new_name}\" is progressing."),
                true,
            )
        } else {
            let last = find("Progressing")
                .and_then(|p| p["lastUpdateTime"].as_str().and_then(parse_rfc3339))
                .unwrap_or(now);
            match deadline {
                Some(d) if now - last > d => cond(
                    "Progressing",
                    "False",
                    "ProgressDeadlineExceeded",
                    &format!("ReplicaSet \"{new_name}\" has timed out progressing."),
                    false,
                ),
                Some(d) => {
                    requeue = Some(Duration::from_secs((d - (now - last)).max(1) as u64));
                    find("Progressing").unwrap_or(json!({}))
                }
                None => find("Progressing").unwrap_or(json!({})),
            }
        };
        let mut status = json!({
            "observedGeneration": object::meta(dep).and_then(|m| m.get("generation")).cloned().unwrap_or(json!(1)),
            "replicas": status_replicas,
            "updatedReplicas": updated,
            "readyReplicas": ready,
            "availableReplicas": available,
            "unavailableReplicas": (total_spec.max(desired) - available).max(0),
            "conditions": [available_cond, progressing],
        });
        if let Some(c) = old_status.get("collisionCount") {
            status["collisionCount"] = c.clone();
        }
        // Kubernetes omits zero counts.
        if let Some(m) = status.as_object_mut() {
            m.retain(|_, v| v != &json!(0));
        }
        if dep.get("status") != Some(&status) {
            // A merge patch keeps keys it does not name: name the vanished ones as null.
            let mut patch = status.clone();
            if let Some(old) = old_status.as_object() {
                for k in old.keys() {
                    if patch.get(k).is_none() {
                        patch[k] = Value::Null;
                    }
                }
            }
            self.ctx
                .client
                .merge_patch(
                    DEPLOYMENTS,
                    Some(ns),
                    object::name(dep),
                    &json!({"status": patch}),
                    true,
                )
                .await?;
        }
        Ok(requeue)
    }
}

fn as_set(rs: &Value) -> Set {
    // Status lags a scale-down (the ReplicaSet controller has not synced yet): a set never
    // counts more available pods than it is asked to keep, or availability is overcounted and
    // the rollout scales down past maxUnavailable.
    Set {
        name: object::name(rs).to_string(),
        replicas: replicas(rs),
        available: status_i64(rs, "availableReplicas").min(replicas(rs)),
    }
}

impl Controller for DeploymentController {
    fn name(&self) -> &'static str {
        COMPONENT
    }
    fn sync<'a>(&'a self, key: &'a str) -> BoxFuture<'a, SyncResult> {
        Box::pin(self.sync_dep(key))
    }
}
