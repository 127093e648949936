//! The bare-metal LoadBalancer controller (k3s ServiceLB without its pods): a Service of type
//! LoadBalancer without `spec.loadBalancerClass` gets `status.loadBalancer.ingress` = the
//! InternalIP addresses of every Ready, schedulable node, sorted; the node proxies answer on
//! them (see `crate::proxy`). A Service whose port is already taken by an older LoadBalancer
//! Service stays pending (no ingress), as k3s leaves its pod unschedulable. A Service that is
//! no longer a LoadBalancer loses the ingress.
//!
//! Contract: one key per Service; a node change requeues every LoadBalancer Service; the
//! status is written only when it differs.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::{json, Value};

use super::client::{NODES, SERVICES};
use super::informer::{key_of, Informer};
use super::nodelifecycle::health::ready_status;
use super::{route, run, BoxFuture, Controller, Ctx, Queue, SyncResult};
use crate::api::object;

const COMPONENT: &str = "service-lb-controller";

pub struct ServiceLbController {
    ctx: Ctx,
    services: Arc<Informer>,
    nodes: Arc<Informer>,
}

pub fn start(ctx: &Ctx) {
    let services = ctx.informers.get(SERVICES);
    let nodes = ctx.informers.get(NODES);
    let q = Queue::new();
    route(&services, &q, |d| vec![key_of(d.object())]);
    let svcs = services.clone();
    route(&nodes, &q, move |_| {
        svcs.list(None)
            .iter()
            .filter(|s| is_ours(s))
            .map(|s| key_of(s))
            .collect()
    });
    let c = ServiceLbController {
        ctx: ctx.clone(),
        services: services.clone(),
        nodes: nodes.clone(),
    };
    run(Arc::new(c), q, ctx.settings.workers, vec![services, nodes]);
}

/// A LoadBalancer Service no other implementation claimed.
pub fn is_ours(svc: &Value) -> bool {
    svc.pointer("/spec/type").and_then(Value::as_str) == Some("LoadBalancer")
        && svc
            .pointer("/spec/loadBalancerClass")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
}

/// The InternalIPs of Ready, schedulable nodes, sorted and unique.
pub fn node_addresses(nodes: &[Arc<Value>]) -> Vec<String> {
    let mut out = BTreeSet::new();
    for n in nodes {
        if ready_status(n) != "True"
            || n.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true)
        {
            continue;
        }
        for a in n
            .pointer("/status/addresses")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if a.get("type").and_then(Value::as_str) == Some("InternalIP") {
                if let Some(ip) = a.get("address").and_then(Value::as_str) {
                    out.insert(ip.to_string());
                }
            }
        }
    }
    out.into_iter().collect()
}

fn ports(svc: &Value) -> Vec<(String, i64)> {
    svc.pointer("/spec/ports")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|p| {
            Some((
                p.get("protocol")
                    .and_then(Value::as_str)
                    .unwrap_or("TCP")
                    .to_string(),
                p.get("port")?.as_i64()?,
            ))
        })
        .collect()
}

/// Older first: creation time, then namespace/name.
fn age_key(svc: &Value) -> (String, String) {
    (
        object::meta_str(svc, "creationTimestamp")
            .unwrap_or("")
            .to_string(),
        key_of(svc),
    )
}

/// Whether an older LoadBalancer Service of ours already uses one of `svc`'s ports.
pub fn port_taken(svc: &Value, all: &[Arc<Value>]) -> bool {
    let mine = ports(svc);
    let me = age_key(svc);
    all.iter()
        .filter(|o| is_ours(o) && age_key(o) < me)
        .any(|o| ports(o).iter().any(|p| mine.contains(p)))
}

/// The `status.loadBalancer` the Service should have; `None` when it is not ours to manage.
pub fn desired(svc: &Value, nodes: &[Arc<Value>], all: &[Arc<Value>]) -> Option<Value> {
    if !is_ours(svc) {
        let has_ingress = svc
            .pointer("/status/loadBalancer/ingress")
            .and_then(Value::as_array)
            .is_some_and(|i| !i.is_empty());
        let other_class = svc
            .pointer("/spec/loadBalancerClass")
            .and_then(Value::as_str)
            .is_some_and(|c| !c.is_empty());
        // Type changed away from LoadBalancer: the addresses no longer apply.
        return (has_ingress && !other_class).then(|| json!({}));
    }
    if port_taken(svc, all) {
        return Some(json!({}));
    }
    let ingress: Vec<Value> = node_addresses(nodes)
        .into_iter()
        .map(|ip| json!({"ip": ip, "ipMode": "VIP"}))
        .collect();
    Some(if ingress.is_empty() {
        json!({})
    } else {
        json!({ "ingress": ingress })
    })
}

impl ServiceLbController {
    async fn sync_svc(&self, key: &str) -> SyncResult {
        let Some(svc) = self.services.get(key) else {
            return Ok(None);
        };
        let nodes = self.nodes.list(None);
        let all = self.services.list(None);
        let Some(want) = desired(&svc, &nodes, &all) else {
            return Ok(None);
        };
        let cur = svc
            .pointer("/status/loadBalancer")
            .cloned()
            .unwrap_or(json!({}));
        if cur == want {
            return Ok(None);
        }
        let mut new = (*svc).clone();
        new["status"]["loadBalancer"] = want;
        match self.ctx.client.update_status(SERVICES, new).await {
            Ok(_) => Ok(None),
            // Deleted meanwhile; a conflict brings a fresh event and key.
            Err(e) if e.code == 404 => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

impl Controller for ServiceLbController {
    fn name(&self) -> &'static str {
        COMPONENT
    }
    fn sync<'a>(&'a self, key: &'a str) -> BoxFuture<'a, SyncResult> {
        Box::pin(self.sync_svc(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, ip: &str, ready: &str, unschedulable: bool) -> Arc<Value> {
        Arc::new(
            json!({"metadata": {"name": name}, "spec": {"unschedulable": unschedulable},
            "status": {"conditions": [{"type": "Ready", "status": ready}],
                       "addresses": [{"type": "Hostname", "address": name},
                                     {"type": "InternalIP", "address": ip}]}}),
        )
    }

    fn lb(name: &str, created: &str, port: i64) -> Value {
        json!({"metadata": {"namespace": "d", "name": name, "creationTimestamp": created},
               "spec": {"type": "LoadBalancer", "ports": [{"port": port, "protocol": "TCP"}]}})
    }

    #[test]
    fn ingress_lists_ready_schedulable_node_addresses_sorted() {
        let nodes = vec![
            node("c", "192.168.1.30", "True", false),
            node("a", "192.168.1.10", "True", false),
            node("b", "192.168.1.20", "False", false),
            node("d", "192.168.1.40", "True", true),
        ];
        let svc = lb("web", "2026-01-01T00:00:00Z", 80);
        let want = desired(&svc, &nodes, &[Arc::new(svc.clone())]).unwrap();
        assert_eq!(
            want,
            json!({"ingress": [{"ip": "192.168.1.10", "ipMode": "VIP"}, {"ip": "192.168.1.30", "ipMode": "VIP"}]})
        );
    }

    #[test]
    fn other_classes_are_left_alone_and_a_type_change_clears_the_ingress() {
        let nodes = vec![node("a", "192.168.1.10", "True", false)];
        let mut classed = lb("x", "2026-01-01T00:00:00Z", 80);
        classed["spec"]["loadBalancerClass"] = json!("metallb");
        classed["status"] = json!({"loadBalancer": {"ingress": [{"ip": "203.0.113.1"}]}});
        assert_eq!(desired(&classed, &nodes, &[]), None);

        let mut was_lb = lb("y", "2026-01-01T00:00:00Z", 80);
        was_lb["spec"]["type"] = json!("ClusterIP");
        assert_eq!(desired(&was_lb, &nodes, &[]), None);
        was_lb["status"] = json!({"loadBalancer": {"ingress": [{"ip": "192.168.1.10"}]}});
        assert_eq!(desired(&was_lb, &nodes, &[]), Some(json!({})));
    }

    #[test]
    fn a_port_taken_by_an_older_load_balancer_keeps_the_newer_pending() {
        let nodes = vec![node("a", "192.168.1.10", "True", false)];
        let old = Arc::new(lb("old", "2026-01-01T00:00:00Z", 80));
        let new = Arc::new(lb("new", "2026-02-01T00:00:00Z", 80));
        let other = Arc::new(lb("other", "2026-02-01T00:00:00Z", 443));
        let all = vec![old.clone(), new.clone(), other.clone()];
        assert!(desired(&old, &nodes, &all)
            .unwrap()
            .get("ingress")
            .is_some());
        assert_eq!(desired(&new, &nodes, &all), Some(json!({})));
        assert!(desired(&other, &nodes, &all)
            .unwrap()
            .get("ingress")
            .is_some());
    }
}
