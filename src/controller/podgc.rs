//! The pod garbage collector: deletes (with grace period 0) terminated pods beyond
//! `terminated_pod_gc_threshold`, oldest first; pods bound to nodes that no longer exist;
//! terminating pods that were never scheduled; and terminating pods on nodes that are not
//! Ready and carry the `node.kubernetes.io/out-of-service` taint (whose kubelet will never
//! finish them). Pods that were still running are first marked Failed with the
//! `DisruptionTarget` condition, as Kubernetes' PodGC does.
//!
//! Contract: a single key; a sync plans from the caches with [`plan`] (pure) and deletes; it
//! runs every [`PERIOD`] and when a node goes away, a pod terminates or is bound to an unknown
//! node. Pods of a missing node are left alone for a quarantine (the node monitor grace
//! period, 40 s by default, as Kubernetes' PodGC waits) in case the node is only late to
//! register, and the node is confirmed missing with a direct read before they are deleted.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use super::client::{Delete, NODES, PODS};
use super::disruption::with_disruption_target;
use super::informer::{key_of, Delta, Informer};
use super::nodelifecycle::{health, taints};
use super::podutil::{node_name, phase};
use super::{route, run, BoxFuture, Controller, Ctx, Queue, SyncResult};
use crate::api::object;
use crate::clock::parse_rfc3339;

const COMPONENT: &str = "pod-garbage-collector";
const KEY: &str = "podgc";
/// How often the collector looks even without a trigger (kube-controller-manager's gcCheckPeriod).
pub const PERIOD: Duration = Duration::from_secs(20);

/// Why a pod is collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Succeeded or Failed, beyond the threshold.
    Terminated,
    /// Bound to a node that does not exist.
    Orphaned,
    /// Being deleted and never scheduled: no kubelet will finish it.
    UnscheduledTerminating,
    /// Being deleted on a NotReady node taken out of service.
    OutOfService,
}

/// What the collector knows about a node.
pub trait Nodes {
    fn exists(&self, name: &str) -> bool;
    /// Not Ready and tainted `node.kubernetes.io/out-of-service`.
    fn out_of_service(&self, name: &str) -> bool;
}

fn terminated(pod: &Value) -> bool {
    matches!(phase(pod), "Succeeded" | "Failed")
}

fn deleting(pod: &Value) -> bool {
    object::meta(pod).is_some_and(|m| m.contains_key("deletionTimestamp"))
}

fn created(pod: &Value) -> i64 {
    object::meta_str(pod, "creationTimestamp")
        .and_then(parse_rfc3339)
        .unwrap_or(0)
}

/// The pods to collect and why, each pod once, in deletion order per reason.
pub fn plan(pods: &[Arc<Value>], nodes: &dyn Nodes, threshold: usize) -> Vec<(Arc<Value>, Reason)> {
    let mut out: Vec<(Arc<Value>, Reason)> = Vec::new();
    let mut taken: HashSet<String> = HashSet::new();
    let mut done: Vec<&Arc<Value>> = pods.iter().filter(|p| terminated(p)).collect();
    if threshold > 0 && done.len() > threshold {
        // Oldest first; the name breaks ties so the choice is stable.
        done.sort_by(|a, b| {
            created(a)
                .cmp(&created(b))
                .then_with(|| object::name(a).cmp(object::name(b)))
        });
        let extra = done.len() - threshold;
        for p in done.into_iter().take(extra) {
            taken.insert(key_of(p));
            out.push((p.clone(), Reason::Terminated));
        }
    }
    for p in pods {
        if taken.contains(&key_of(p)) {
            continue;
        }
        let node = node_name(p);
        let reason = if node.is_empty() {
            deleting(p).then_some(Reason::UnscheduledTerminating)
        } else if !nodes.exists(node) {
            Some(Reason::Orphaned)
        } else if deleting(p) && nodes.out_of_service(node) {
            Some(Reason::OutOfService)
        } else {
            None
        };
        if let Some(r) = reason {
            out.push((p.clone(), r));
        }
    }
    out
}

struct CachedNodes<'a>(&'a Informer);

impl Nodes for CachedNodes<'_> {
    fn exists(&self, name: &str) -> bool {
        self.0.get(name).is_some()
    }
    fn out_of_service(&self, name: &str) -> bool {
        self.0.get(name).is_some_and(|n| {
            health::ready_status(&n) != "True"
                && taints::node_taints(&n)
                    .iter()
                    .any(|t| taints::key(t) == taints::OUT_OF_SERVICE)
        })
    }
}

pub struct PodGcController {
    ctx: Ctx,
    pods: Arc<Informer>,
    nodes: Arc<Informer>,
    /// When each missing node was first found missing.
    missing_since: Mutex<HashMap<String, i64>>,
}

pub fn start(ctx: &Ctx) {
    let pods = ctx.informers.get(PODS);
    let nodes = ctx.informers.get(NODES);
    let q = Queue::new();
    let nodes2 = nodes.clone();
    route(&pods, &q, move |d| match d {
        Delta::Upsert { new, .. }
            if terminated(new)
                || (deleting(new) && node_name(new).is_empty())
                || (!node_name(new).is_empty() && nodes2.get(node_name(new)).is_none()) =>
        {
            vec![KEY.into()]
        }
        _ => vec![],
    });
    route(&nodes, &q, |d| match d {
        Delta::Delete(_) => vec![KEY.into()],
        Delta::Upsert { new, .. }
            if taints::node_taints(new)
                .iter()
                .any(|t| taints::key(t) == taints::OUT_OF_SERVICE) =>
        {
            vec![KEY.into()]
        }
        _ => vec![],
    });
    q.add(KEY);
    let c = PodGcController {
        ctx: ctx.clone(),
        pods: pods.clone(),
        nodes: nodes.clone(),
        missing_since: Mutex::new(HashMap::new()),
    };
    run(Arc::new(c), q, 1, vec![pods, nodes]);
}

impl PodGcController {
    async fn collect(&self) -> SyncResult {
        let client = &self.ctx.client;
        let pods = self.pods.list(None);
        let victims = plan(
            &pods,
            &CachedNodes(&self.nodes),
            self.ctx.settings.terminated_pod_gc_threshold,
        );
        let now = client.now();
        let quarantine = self.ctx.settings.node_monitor_grace_period.as_secs() as i64;
        let mut again = PERIOD;
        let since: HashMap<String, i64> = {
            // Only nodes that still have orphans are remembered.
            let mut m = self.missing_since.lock().unwrap_or_else(|e| e.into_inner());
            let before = std::mem::take(&mut *m);
            for (p, r) in &victims {
                if *r == Reason::Orphaned {
                    let n = node_name(p);
                    m.insert(n.to_string(), before.get(n).copied().unwrap_or(now));
                }
            }
            m.clone()
        };
        for (pod, reason) in victims {
            if reason == Reason::Orphaned {
                let waited = now - since.get(node_name(&pod)).copied().unwrap_or(now);
                if waited < quarantine {
                    again = again.min(Duration::from_secs((quarantine - waited) as u64 + 1));
                    continue;
                }
                // The node may be newer than the cache.
                match client.get(NODES, None, node_name(&pod)) {
                    Err(e) if e.code == 404 => {}
                    Err(e) => return Err(e.into()),
                    Ok(_) => continue,
                }
            }
            let ns = object::meta_str(&pod, "namespace");
            let name = object::name(&pod);
            if !terminated(&pod) {
                let message = match reason {
                    Reason::OutOfService => "PodGC: node is out-of-service",
                    _ => "PodGC: node no longer exists",
                };
                let conds = with_disruption_target(&pod, "DeletionByPodGC", message, now);
                let patch = json!({"status": {"phase": "Failed", "conditions": conds}});
                match client.merge_patch(PODS, ns, name, &patch, true).await {
                    Ok(_) => {}
                    Err(e) if e.code == 404 => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            let how = Delete {
                grace_seconds: Some(0),
                uid: object::meta_str(&pod, "uid").map(str::to_string),
                ..Default::default()
            };
            match client.delete(PODS, ns, name, how).await {
                Ok(()) => {}
                Err(e) if e.code == 404 || e.code == 409 => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(Some(again))
    }
}

impl Controller for PodGcController {
    fn name(&self) -> &'static str {
        COMPONENT
    }
    fn sync<'a>(&'a self, _key: &'a str) -> BoxFuture<'a, SyncResult> {
        Box::pin(self.collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::rfc3339;

    struct Fake {
        nodes: Vec<&'static str>,
        out: Vec<&'static str>,
    }

    impl Nodes for Fake {
        fn exists(&self, name: &str) -> bool {
            self.nodes.contains(&name)
        }
        fn out_of_service(&self, name: &str) -> bool {
            self.out.contains(&name)
        }
    }

    fn pod(name: &str, node: &str, phase: &str, created: i64, deleting: bool) -> Arc<Value> {
        let mut p = json!({
            "metadata": {"name": name, "namespace": "default", "creationTimestamp": rfc3339(created)},
            "spec": {"nodeName": node},
            "status": {"phase": phase},
        });
        if deleting {
            p["metadata"]["deletionTimestamp"] = json!(rfc3339(created + 1));
        }
        Arc::new(p)
    }

    fn names(v: &[(Arc<Value>, Reason)]) -> Vec<(&str, Reason)> {
        v.iter().map(|(p, r)| (object::name(p), *r)).collect()
    }

    #[test]
    fn collects_the_oldest_terminated_pods_beyond_the_threshold() {
        let nodes = Fake {
            nodes: vec!["n1"],
            out: vec![],
        };
        let pods = vec![
            pod("new", "n1", "Succeeded", 300, false),
            pod("old", "n1", "Failed", 100, false),
            pod("mid", "n1", "Succeeded", 200, false),
            pod("running", "n1", "Running", 50, false),
        ];
        assert_eq!(
            names(&plan(&pods, &nodes, 1)),
            [("old", Reason::Terminated), ("mid", Reason::Terminated)]
        );
        assert!(plan(&pods, &nodes, 3).is_empty());
        assert!(
            plan(&pods, &nodes, 0).is_empty(),
            "0 disables the threshold"
        );
    }

    #[test]
    fn collects_orphans_unscheduled_and_out_of_service_terminating_pods() {
        let nodes = Fake {
            nodes: vec!["n1", "down"],
            out: vec!["down"],
        };
        let pods = vec![
            pod("ok", "n1", "Running", 1, false),
            pod("orphan", "gone", "Running", 2, false),
            pod("pending", "", "Pending", 3, false),
            pod("unscheduled-terminating", "", "Pending", 4, true),
            pod("stuck", "down", "Running", 5, true),
            pod("running-on-down", "down", "Running", 6, false),
            pod("terminating-on-n1", "n1", "Running", 7, true),
        ];
        assert_eq!(
            names(&plan(&pods, &nodes, 100)),
            [
                ("orphan", Reason::Orphaned),
                ("unscheduled-terminating", Reason::UnscheduledTerminating),
                ("stuck", Reason::OutOfService),
            ]
        );
    }
}
