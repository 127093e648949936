//! The ReplicaSet controller: keeps `spec.replicas` active pods matching the selector, adopting
//! orphans and releasing pods that stopped matching, and reports counts in status. The same
//! controller runs ReplicationControllers (`v1`), which differ only in their resource and in
//! having a plain label map as selector (see [`Managed`]).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::client::{Delete, Res, PODS, REPLICASETS, REPLICATIONCONTROLLERS};
use super::informer::{key_of, split_key, Informer};
use super::ownerref::{controller_of, controller_ref, controller_uid};
use super::podutil::{deletion_rank, is_active, is_available, is_ready, ready_for};
use super::workload::{claim, Writes};
use super::{route, run, BoxFuture, Controller, Ctx, Queue, SyncResult};
use crate::api::object;
use crate::api::selector::LabelSelector;

/// How long a sync waits for its own writes to reach the pod cache.
const READ_YOUR_WRITES: Duration = Duration::from_secs(2);
/// Most pods created in one sync (Kubernetes' burst), in doubling batches.
const MAX_BURST: usize = 500;

/// The kind of replica controller one instance of the controller manages.
#[derive(Clone, Copy)]
pub struct Managed {
    pub res: Res,
    pub kind: &'static str,
    /// The controller name, also the source of its events.
    pub component: &'static str,
    /// An owner's selector; `None` when it has none usable.
    pub selector: fn(&Value) -> Option<LabelSelector>,
}

pub const REPLICA_SETS: Managed = Managed {
    res: REPLICASETS,
    kind: "ReplicaSet",
    component: "replicaset-controller",
    selector: label_selector,
};
pub const REPLICATION_CONTROLLERS: Managed = Managed {
    res: REPLICATIONCONTROLLERS,
    kind: "ReplicationController",
    component: "replication-controller",
    selector: map_selector,
};

/// `spec.selector` as a `metav1.LabelSelector`.
pub fn label_selector(owner: &Value) -> Option<LabelSelector> {
    LabelSelector::from_json(owner.pointer("/spec/selector")?).ok()
}

/// `spec.selector` as a plain label map (ReplicationControllers): every label must match.
pub fn map_selector(owner: &Value) -> Option<LabelSelector> {
    let labels = owner.pointer("/spec/selector")?.as_object()?;
    LabelSelector::from_json(&json!({ "matchLabels": labels })).ok()
}

pub struct ReplicaSetController {
    ctx: Ctx,
    managed: Managed,
    sets: Arc<Informer>,
    pods: Arc<Informer>,
}

pub fn start(ctx: &Ctx) {
    start_managed(ctx, REPLICA_SETS);
}

/// Run the controller for ReplicationControllers.
pub fn start_replication_controllers(ctx: &Ctx) {
    start_managed(ctx, REPLICATION_CONTROLLERS);
}

fn start_managed(ctx: &Ctx, managed: Managed) {
    let sets = ctx.informers.get(managed.res);
    let pods = ctx.informers.get(PODS);
    let q = Queue::new();
    route(&sets, &q, |d| vec![key_of(d.object())]);
    let sets2 = sets.clone();
    route(&pods, &q, move |d| {
        owner_keys_by(&sets2, d.object(), managed.kind, managed.selector)
    });
    let c = ReplicaSetController {
        ctx: ctx.clone(),
        managed,
        sets: sets.clone(),
        pods: pods.clone(),
    };
    run(Arc::new(c), q, ctx.settings.workers, vec![sets, pods]);
}

/// Keys of the controllers of `kind` a pod belongs to, or, for an orphan, every one in its
/// namespace whose selector matches it (so it can be adopted).
pub fn owner_keys(sets: &Informer, pod: &Value, kind: &str) -> Vec<String> {
    owner_keys_by(sets, pod, kind, label_selector)
}

/// [`owner_keys`] for owners whose selector `selector` reads.
pub fn owner_keys_by(
    sets: &Informer,
    pod: &Value,
    kind: &str,
    selector: fn(&Value) -> Option<LabelSelector>,
) -> Vec<String> {
    let ns = object::meta_str(pod, "namespace").unwrap_or("");
    if let Some(r) = controller_of(pod) {
        if r.get("kind").and_then(Value::as_str) == Some(kind) {
            let name = r.get("name").and_then(Value::as_str).unwrap_or("");
            return vec![format!("{ns}/{name}")];
        }
        return vec![];
    }
    sets.list(Some(ns))
        .iter()
        .filter(|s| {
            selector(s).is_some_and(|sel| !sel.is_empty() && sel.matches(object::labels(pod)))
        })
        .map(|s| key_of(s))
        .collect()
}

/// Build a pod from a template, owned by `owner`.
pub fn pod_from_template(
    owner: &Value,
    template: &Value,
    name_prefix: &str,
    extra_labels: &[(&str, &str)],
) -> Value {
    let mut meta = template
        .get("metadata")
        .cloned()
        .unwrap_or_else(|| json!({}));
    meta["generateName"] = json!(format!("{name_prefix}-"));
    meta["ownerReferences"] = json!([controller_ref(owner)]);
    if let Some(m) = meta.as_object_mut() {
        m.remove("name");
        m.remove("namespace");
    }
    for (k, v) in extra_labels {
        if !meta.get("labels").is_some_and(Value::is_object) {
            meta["labels"] = json!({});
        }
        meta["labels"][*k] = json!(v);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": template.get("spec").cloned().unwrap_or_else(|| json!({})),
    })
}

impl ReplicaSetController {
    async fn sync_set(&self, key: &str) -> SyncResult {
        let Some(rs) = self.sets.get(key) else {
            return Ok(None);
        };
        let (ns, name) = split_key(key);
        let ns = ns.unwrap_or("default");
        let client = &self.ctx.client;
        let Some(selector) = (self.managed.selector)(&rs) else {
            return Ok(None);
        };
        if selector.is_empty() {
            return Ok(None);
        }
        let uid = object::meta_str(&rs, "uid").unwrap_or("").to_string();
        let deleting = object::meta(&rs).is_some_and(|m| m.contains_key("deletionTimestamp"));
        // Adopt and release active pods (the shared ControllerRefManager rules).
        let mut writes = Writes::default();
        let candidates = self
            .pods
            .list(Some(ns))
            .into_iter()
            .filter(|p| is_active(p))
            .collect();
        let owned = claim(
            client,
            PODS,
            &rs,
            &selector,
            candidates,
            |_| true,
            &mut writes,
        )
        .await?;
        writes.settle(&self.pods).await;
        let mut last_rev = 0u64;
        let active: Vec<&Arc<Value>> = owned.iter().filter(|p| is_active(p)).collect();
        let want = rs
            .pointer("/spec/replicas")
            .and_then(Value::as_i64)
            .unwrap_or(1)
            .max(0) as usize;
        let now = client.now();
        if !deleting && active.len() < want {
            let template = rs.pointer("/spec/template").cloned().unwrap_or(Value::Null);
            let mut left = (want - active.len()).min(MAX_BURST);
            let mut batch = 1;
            'create: while left > 0 {
                let n = batch.min(left);
                for _ in 0..n {
                    let pod = pod_from_template(&rs, &template, name, &[]);
                    match client.create(PODS, Some(ns), pod).await {
                        Ok(p) => last_rev = last_rev.max(rv(&p)),
                        Err(e) => {
                            client
                                .event(
                                    &rs,
                                    "Warning",
                                    "FailedCreate",
                                    &format!("Error creating: {}", e.message),
                                    self.managed.component,
                                )
                                .await;
                            break 'create;
                        }
                    }
                }
                left -= n;
                batch *= 2;
            }
            if want - active.len() > 0 {
                client
                    .event(
                        &rs,
                        "Normal",
                        "SuccessfulCreate",
                        &format!("Created {} pod(s)", want - active.len()),
                        self.managed.component,
                    )
                    .await;
            }
        } else if !deleting && active.len() > want {
            let mut victims: Vec<&Arc<Value>> = active.clone();
            victims.sort_by_key(|p| deletion_rank(p, now));
            for p in victims.into_iter().take(active.len() - want) {
                let how = Delete {
                    uid: object::meta_str(p, "uid").map(str::to_string),
                    ..Default::default()
                };
                match client
                    .delete_rev(PODS, Some(ns), object::name(p), how)
                    .await
                {
                    Ok(at) => {
                        last_rev = last_rev.max(at);
                        client
                            .event(
                                &rs,
                                "Normal",
                                "SuccessfulDelete",
                                &format!("Deleted pod: {}", object::name(p)),
                                self.managed.component,
                            )
                            .await;
                    }
                    Err(e) if e.code == 404 || e.code == 409 => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        if last_rev > 0 {
            self.pods.wait_rev(last_rev, READ_YOUR_WRITES).await;
        }
        self.update_status(&rs, ns, &uid).await
    }

    async fn update_status(&self, rs: &Value, ns: &str, uid: &str) -> SyncResult {
        let now = self.ctx.client.now();
        let min_ready = rs
            .pointer("/spec/minReadySeconds")
            .and_then(Value::as_i64)
            .unwrap_or(0);
        let pods: Vec<Arc<Value>> = self
            .pods
            .list(Some(ns))
            .into_iter()
            .filter(|p| controller_uid(p) == Some(uid) && is_active(p))
            .collect();
        let template_labels = rs
            .pointer("/spec/template/metadata/labels")
            .and_then(Value::as_object);
        let fully = pods
            .iter()
            .filter(|p| {
                template_labels.is_none_or(|tl| {
                    tl.iter()
                        .all(|(k, v)| object::labels(p).and_then(|l| l.get(k)) == Some(v))
                })
            })
            .count();
        let ready = pods.iter().filter(|p| is_ready(p)).count();
        let available = pods
            .iter()
            .filter(|p| is_available(p, min_ready, now))
            .count();
        let mut status = json!({
            "replicas": pods.len(),
            "fullyLabeledReplicas": fully,
            "readyReplicas": ready,
            "availableReplicas": available,
            "observedGeneration": object::meta(rs).and_then(|m| m.get("generation")).cloned().unwrap_or(json!(1)),
        });
        if let Some(c) = rs.pointer("/status/conditions") {
            status["conditions"] = c.clone();
        }
        if rs.get("status") != Some(&status) {
            let name = object::name(rs);
            self.ctx
                .client
                .merge_patch(
                    self.managed.res,
                    Some(ns),
                    name,
                    &json!({"status": status}),
                    true,
                )
                .await?;
        }
        // Look again when a ready pod will have been ready for minReadySeconds.
        let wait = pods
            .iter()
            .filter_map(|p| ready_for(p, now))
            .filter(|s| *s < min_ready)
            .map(|s| min_ready - s)
            .min();
        Ok(wait.map(|s| Duration::from_secs(s.max(1) as u64)))
    }
}

fn rv(obj: &Value) -> u64 {
    object::meta_str(obj, "resourceVersion")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

impl Controller for ReplicaSetController {
    fn name(&self) -> &'static str {
        self.managed.component
    }
    fn sync<'a>(&'a self, key: &'a str) -> BoxFuture<'a, SyncResult> {
        Box::pin(self.sync_set(key))
    }
}
