//! The node lifecycle controller: watches each node's heartbeat (its Lease in
//! `kube-node-lease`) and, when the kubelet has been silent for longer than
//! `node_monitor_grace_period`, turns its conditions Unknown and marks its pods not Ready;
//! it keeps the node's condition taints (`not-ready`/`unreachable` NoExecute and NoSchedule,
//! pressure and `unschedulable` NoSchedule) in line with its conditions, removing them when
//! the node recovers. The taint eviction controller ([`taint_eviction`]) acts on the NoExecute
//! taints.
//!
//! Contract: one key per node name; a sync reads the node, its Lease and its pods from the
//! caches, writes only what changed (status first, then taints, each with the node's
//! resourceVersion as precondition), and asks to look again when the heartbeat would go stale
//! (healthy node) or after the monitor period (unhealthy node).

pub mod health;
pub mod taint_eviction;
pub mod taints;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::client::{LEASES, NODES, PODS};
use super::informer::{key_of, Informer};
use super::podutil::{is_ready, node_name};
use super::{route, run, BoxFuture, Controller, Ctx, Queue, SyncResult};
use crate::api::object;
use crate::clock::rfc3339;

const COMPONENT: &str = "node-controller";
/// How often an unhealthy node is looked at again (kube-controller-manager's
/// `--node-monitor-period`).
const MONITOR_PERIOD: Duration = Duration::from_secs(5);
const LEASE_NAMESPACE: &str = "kube-node-lease";

pub struct NodeLifecycleController {
    ctx: Ctx,
    nodes: Arc<Informer>,
    leases: Arc<Informer>,
    pods: Arc<Informer>,
}

pub fn start(ctx: &Ctx) {
    let nodes = ctx.informers.get(NODES);
    let leases = ctx.informers.get(LEASES);
    let pods = ctx.informers.get(PODS);
    let q = Queue::new();
    // Lease renewals are not routed: a healthy node looks again when its heartbeat would go
    // stale, which keeps a renewal per node per second from costing a sync.
    route(&nodes, &q, |d| vec![key_of(d.object())]);
    let c = NodeLifecycleController {
        ctx: ctx.clone(),
        nodes: nodes.clone(),
        leases: leases.clone(),
        pods: pods.clone(),
    };
    run(
        Arc::new(c),
        q,
        ctx.settings.workers,
        vec![nodes, leases, pods],
    );
    taint_eviction::start(ctx);
}

impl NodeLifecycleController {
    async fn sync_node(&self, name: &str) -> SyncResult {
        let Some(cached) = self.nodes.get(name) else {
            return Ok(None);
        };
        let client = &self.ctx.client;
        let now = client.now();
        let grace = self.ctx.settings.node_monitor_grace_period.as_secs().max(1) as i64;
        let lease = self.leases.get(&format!("{LEASE_NAMESPACE}/{name}"));
        let heartbeat = health::last_heartbeat(&cached, lease.as_deref());
        let mut node: Value = (*cached).clone();
        let silent = now - heartbeat > grace;
        if silent {
            if let Some(conds) = health::silent_conditions(&node, now) {
                let was = health::ready_status(&node).to_string();
                node["status"]["conditions"] = Value::Array(conds);
                node = client.update_status(NODES, node).await?;
                if was == "True" {
                    client
                        .event(
                            &node,
                            "Normal",
                            "NodeNotReady",
                            &format!("Node {name} status is now: NodeNotReady"),
                            COMPONENT,
                        )
                        .await;
                }
            }
        }
        let wanted = health::wanted_taints(&node);
        if let Some(t) = health::reconcile_taints(taints::node_taints(&node), &wanted, now) {
            node["spec"]["taints"] = Value::Array(t);
            node = client.update(NODES, node).await?;
        }
        let ready = health::ready_status(&node) == "True";
        if !ready {
            self.mark_pods_not_ready(name, now).await?;
        }
        if silent || !ready {
            return Ok(Some(
                MONITOR_PERIOD
                    .min(self.ctx.settings.node_monitor_grace_period)
                    .max(Duration::from_secs(1)),
            ));
        }
        Ok(Some(Duration::from_secs(
            (heartbeat + grace + 1 - now).max(1) as u64,
        )))
    }

    /// Pods on a node that is not Ready are not Ready either (Kubernetes' `MarkPodsNotReady`),
    /// so Services and disruption budgets stop counting them.
    async fn mark_pods_not_ready(&self, node: &str, now: i64) -> SyncResult {
        let client = &self.ctx.client;
        for pod in self.pods.list(None) {
            if node_name(&pod) != node || !is_ready(&pod) {
                continue;
            }
            let mut conds = pod
                .pointer("/status/conditions")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            for c in conds
                .iter_mut()
                .filter(|c| c.get("type").and_then(Value::as_str) == Some("Ready"))
            {
                c["status"] = json!("False");
                c["lastTransitionTime"] = json!(rfc3339(now));
            }
            let ns = object::meta_str(&pod, "namespace");
            let patch = json!({"status": {"conditions": conds}});
            match client
                .merge_patch(PODS, ns, object::name(&pod), &patch, true)
                .await
            {
                Ok(_) => {}
                Err(e) if e.code == 404 => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(None)
    }
}

impl Controller for NodeLifecycleController {
    fn name(&self) -> &'static str {
        COMPONENT
    }
    fn sync<'a>(&'a self, key: &'a str) -> BoxFuture<'a, SyncResult> {
        Box::pin(self.sync_node(key))
    }
}
