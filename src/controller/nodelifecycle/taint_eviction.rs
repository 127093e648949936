//! The taint eviction controller (Kubernetes' taint manager): a pod bound to a node with
//! NoExecute taints it does not tolerate is deleted; a pod that tolerates them for
//! `tolerationSeconds` is deleted once that time has passed since the taint appeared. Before
//! deleting, the pod gets the `DisruptionTarget` condition and a `TaintManagerEviction` event.
//!
//! Contract: one key per pod; node changes enqueue the pods on the node whose NoExecute taints
//! changed. The eviction clock starts at the earliest `timeAdded` of the node's NoExecute
//! taints, or when this controller first saw the pod due for eviction if a taint has none.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use super::taints::{self, Verdict};
use crate::api::object;
use crate::controller::client::{Delete, NODES, PODS};
use crate::controller::disruption::with_disruption_target;
use crate::controller::informer::{key_of, Delta, Informer};
use crate::controller::podutil::node_name;
use crate::controller::{route, run, BoxFuture, Controller, Ctx, Queue, SyncResult};

const COMPONENT: &str = "taint-eviction-controller";

pub struct TaintEvictionController {
    ctx: Ctx,
    nodes: Arc<Informer>,
    pods: Arc<Informer>,
    /// When each pod (by key) was first seen due for a timed eviction.
    first_seen: Mutex<HashMap<String, i64>>,
}

pub fn start(ctx: &Ctx) {
    let nodes = ctx.informers.get(NODES);
    let pods = ctx.informers.get(PODS);
    let q = Queue::new();
    route(&pods, &q, |d| match d {
        Delta::Upsert { new, .. } if !node_name(new).is_empty() => vec![key_of(new)],
        Delta::Delete(p) => vec![key_of(p)],
        _ => vec![],
    });
    let pods2 = pods.clone();
    route(&nodes, &q, move |d| {
        let (old, new) = match d {
            Delta::Upsert { old, new } => (old.as_deref(), Some(&**new)),
            Delta::Delete(_) => return vec![],
        };
        let before: Vec<&Value> = old.map(taints::no_execute).unwrap_or_default();
        let after: Vec<&Value> = new.map(taints::no_execute).unwrap_or_default();
        if before == after {
            return vec![];
        }
        let name = new.map(object::name).unwrap_or("");
        pods2
            .list(None)
            .iter()
            .filter(|p| node_name(p) == name)
            .map(|p| key_of(p))
            .collect()
    });
    let c = TaintEvictionController {
        ctx: ctx.clone(),
        nodes: nodes.clone(),
        pods: pods.clone(),
        first_seen: Mutex::new(HashMap::new()),
    };
    run(Arc::new(c), q, ctx.settings.workers, vec![nodes, pods]);
}

/// When a pod's eviction clock started: the earliest `timeAdded` of the taints, or `seen`.
pub fn clock_start(no_execute: &[&Value], seen: i64) -> i64 {
    no_execute
        .iter()
        .map(|t| taints::time_added(t).unwrap_or(seen))
        .min()
        .unwrap_or(seen)
        .min(seen)
}

impl TaintEvictionController {
    fn forget(&self, key: &str) {
        self.first_seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    async fn sync_pod(&self, key: &str) -> SyncResult {
        let Some(pod) = self.pods.get(key) else {
            self.forget(key);
            return Ok(None);
        };
        let deleting = object::meta(&pod).is_some_and(|m| m.contains_key("deletionTimestamp"));
        let node = self.nodes.get(node_name(&pod));
        let Some(node) = node.filter(|_| !deleting) else {
            self.forget(key);
            return Ok(None);
        };
        let no_execute = taints::no_execute(&node);
        let now = self.ctx.client.now();
        match taints::verdict(taints::pod_tolerations(&pod), &no_execute) {
            Verdict::Stay => {
                self.forget(key);
                Ok(None)
            }
            Verdict::EvictAfter(secs) => {
                let seen = *self
                    .first_seen
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .entry(key.to_string())
                    .or_insert(now);
                let due = clock_start(&no_execute, seen) + secs;
                if due > now {
                    return Ok(Some(Duration::from_secs((due - now) as u64)));
                }
                self.evict(&pod, now).await
            }
            Verdict::EvictNow => self.evict(&pod, now).await,
        }
    }

    async fn evict(&self, pod: &Value, now: i64) -> SyncResult {
        let client = &self.ctx.client;
        let ns = object::meta_str(pod, "namespace");
        let name = object::name(pod);
        let conds = with_disruption_target(
            pod,
            "DeletionByTaintManager",
            "Taint manager: deleting due to NoExecute taint",
            now,
        );
        let patched = match client
            .merge_patch(
                PODS,
                ns,
                name,
                &json!({"status": {"conditions": conds}}),
                true,
            )
            .await
        {
            Ok(p) => p,
            Err(e) if e.code == 404 => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let msg = format!("Marking for deletion Pod {}", key_of(pod));
        client
            .event(&patched, "Normal", "TaintManagerEviction", &msg, COMPONENT)
            .await;
        let how = Delete {
            uid: object::meta_str(pod, "uid").map(str::to_string),
            ..Default::default()
        };
        match client.delete(PODS, ns, name, how).await {
            Ok(()) => {}
            Err(e) if e.code == 404 || e.code == 409 => {}
            Err(e) => return Err(e.into()),
        }
        self.forget(&key_of(pod));
        Ok(None)
    }
}

impl Controller for TaintEvictionController {
    fn name(&self) -> &'static str {
        COMPONENT
    }
    fn sync<'a>(&'a self, key: &'a str) -> BoxFuture<'a, SyncResult> {
        Box::pin(self.sync_pod(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::rfc3339;

    #[test]
    fn the_clock_starts_with_the_earliest_taint() {
        let a = json!({"key": "a", "effect": "NoExecute", "timeAdded": rfc3339(100)});
        let b = json!({"key": "b", "effect": "NoExecute", "timeAdded": rfc3339(150)});
        let bare = json!({"key": "c", "effect": "NoExecute"});
        assert_eq!(clock_start(&[&a, &b], 200), 100);
        assert_eq!(clock_start(&[&b, &bare], 200), 150);
        assert_eq!(clock_start(&[&bare], 200), 200);
        // A taint stamped in the future (clock skew) never postpones past first sight.
        let future = json!({"key": "d", "effect": "NoExecute", "timeAdded": rfc3339(900)});
        assert_eq!(clock_start(&[&future], 200), 200);
    }
}
