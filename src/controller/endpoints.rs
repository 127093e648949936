//! The Endpoints and EndpointSlice controllers (one sync per Service): the addresses of the
//! pods a Service selects, ready ones in `addresses` and the rest in `notReadyAddresses`, with
//! named target ports resolved per pod; the EndpointSlice carries the same endpoints with
//! ready/serving/terminating conditions. Services without a selector are left alone.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Value};

use super::client::{Delete, ENDPOINTS, ENDPOINTSLICES, PODS, SERVICES};
use super::informer::{key_of, split_key, Informer};
use super::ownerref::controller_ref;
use super::podutil::{is_ready, node_name};
use super::{route, run, BoxFuture, Controller, Ctx, Queue, SyncResult};
use crate::api::object;

const MANAGED_BY: &str = "endpointslice-controller.k8s.io";

pub struct EndpointsController {
    ctx: Ctx,
    services: Arc<Informer>,
    pods: Arc<Informer>,
    endpoints: Arc<Informer>,
    slices: Arc<Informer>,
}

pub fn start(ctx: &Ctx) {
    let services = ctx.informers.get(SERVICES);
    let pods = ctx.informers.get(PODS);
    let endpoints = ctx.informers.get(ENDPOINTS);
    let slices = ctx.informers.get(ENDPOINTSLICES);
    let q = Queue::new();
    route(&services, &q, |d| vec![key_of(d.object())]);
    let svcs = services.clone();
    route(&pods, &q, move |d| {
        // Every Service in the pod's namespace that selects it now or selected it before.
        let mut objs = vec![d.object().clone()];
        if let super::Delta::Upsert { old: Some(o), .. } = d {
            objs.push(o.clone());
        }
        let ns = object::meta_str(d.object(), "namespace")
            .unwrap_or("")
            .to_string();
        svcs.list(Some(&ns))
            .iter()
            .filter(|s| objs.iter().any(|p| selects(s, p)))
            .map(|s| key_of(s))
            .collect()
    });
    let c = EndpointsController {
        ctx: ctx.clone(),
        services: services.clone(),
        pods: pods.clone(),
        endpoints: endpoints.clone(),
        slices: slices.clone(),
    };
    run(
        Arc::new(c),
        q,
        ctx.settings.workers,
        vec![services, pods, endpoints, slices],
    );
}

fn selector(svc: &Value) -> Option<&serde_json::Map<String, Value>> {
    svc.pointer("/spec/selector")
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty())
}

fn selects(svc: &Value, pod: &Value) -> bool {
    let Some(sel) = selector(svc) else {
        return false;
    };
    let labels = object::labels(pod);
    sel.iter()
        .all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// The port a Service port targets on a pod (named ports are looked up in its containers).
fn target_port(svc_port: &Value, pod: &Value) -> Option<i64> {
    match svc_port.get("targetPort") {
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(name)) => pod
            .pointer("/spec/containers")?
            .as_array()?
            .iter()
            .flat_map(|c| {
                c.get("ports")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
            })
            .find(|p| p.get("name").and_then(Value::as_str) == Some(name))
            .and_then(|p| p.get("containerPort")?.as_i64()),
        _ => svc_port.get("port").and_then(Value::as_i64),
    }
}

/// One Endpoints subset being built: (ports, ready addresses, not-ready addresses).
type Subset = (Vec<Value>, Vec<Value>, Vec<Value>);

/// Endpoints subsets, slice endpoints and slice ports for a Service over its pods (pure).
pub fn compute(svc: &Value, pods: &[Arc<Value>]) -> (Vec<Value>, Vec<Value>, Vec<Value>) {
    let ports: Vec<Value> = svc
        .pointer("/spec/ports")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let publish_not_ready = svc
        .pointer("/spec/publishNotReadyAddresses")
        .and_then(Value::as_bool)
        == Some(true);
    // Group pods by their resolved port list: each distinct list is one subset.
    let mut groups: BTreeMap<String, Subset> = BTreeMap::new();
    let mut slice_eps = Vec::new();
    let mut slice_ports: Option<Vec<Value>> = None;
    let mut sorted: Vec<&Arc<Value>> = pods.iter().collect();
    sorted.sort_by_key(|p| object::name(p).to_string());
    for pod in sorted {
        let Some(ip) = pod
            .pointer("/status/podIP")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        else {
            continue;
        };
        if matches!(
            pod.pointer("/status/phase").and_then(Value::as_str),
            Some("Succeeded" | "Failed")
        ) {
            continue;
        }
        let terminating = object::meta(pod).is_some_and(|m| m.contains_key("deletionTimestamp"));
        let ready = is_ready(pod) && !terminating;
        let resolved: Vec<Value> = ports
            .iter()
            .filter_map(|p| {
                let mut e = json!({"port": target_port(p, pod)?, "protocol": p.get("protocol").cloned().unwrap_or(json!("TCP"))});
                if let Some(n) = p.get("name").filter(|n| n.as_str().is_some_and(|s| !s.is_empty())) {
                    e["name"] = n.clone();
                }
                if let Some(a) = p.get("appProtocol") {
                    e["appProtocol"] = a.clone();
                }
                Some(e)
            })
            .collect();
        let mut addr = json!({
            "ip": ip,
            "targetRef": {"kind": "Pod", "namespace": object::meta_str(pod, "namespace"), "name": object::name(pod),
                          "uid": object::meta_str(pod, "uid")},
        });
        if !node_name(pod).is_empty() {
            addr["nodeName"] = json!(node_name(pod));
        }
        // As Kubernetes: a pod's hostname is published only for the Service named by its
        // subdomain (StatefulSet pods: `web-0.web`), which is what DNS serves.
        let hostname = pod
            .pointer("/spec/hostname")
            .filter(|_| {
                pod.pointer("/spec/subdomain").and_then(Value::as_str) == Some(object::name(svc))
            })
            .cloned();
        if let Some(h) = &hostname {
            addr["hostname"] = h.clone();
        }
        let gk = serde_json::to_string(&resolved).unwrap_or_default();
        let g = groups
            .entry(gk)
            .or_insert_with(|| (resolved.clone(), vec![], vec![]));
        if !terminating {
            if ready || publish_not_ready {
                g.1.push(addr.clone());
            } else {
                g.2.push(addr.clone());
            }
        }
        slice_ports.get_or_insert(resolved);
        let mut ep = json!({
            "addresses": [ip],
            "conditions": {"ready": ready || (publish_not_ready && !terminating), "serving": is_ready(pod), "terminating": terminating},
            "targetRef": addr["targetRef"].clone(),
        });
        if !node_name(pod).is_empty() {
            ep["nodeName"] = json!(node_name(pod));
        }
        if let Some(h) = hostname {
            ep["hostname"] = h;
        }
        slice_eps.push(ep);
    }
    let subsets: Vec<Value> = groups
        .into_values()
        .filter(|(_, a, n)| !a.is_empty() || !n.is_empty())
        .map(|(ports, a, n)| {
            let mut s = json!({"ports": ports});
            if !a.is_empty() {
                s["addresses"] = json!(a);
            }
            if !n.is_empty() {
                s["notReadyAddresses"] = json!(n);
            }
            s
        })
        .collect();
    let sp = slice_ports.unwrap_or_else(|| {
        ports
            .iter()
            .map(|p| {
                let mut e = json!({"port": p.get("targetPort").and_then(Value::as_i64).or_else(|| p.get("port").and_then(Value::as_i64)),
                                   "protocol": p.get("protocol").cloned().unwrap_or(json!("TCP"))});
                if let Some(n) = p.get("name") {
                    e["name"] = n.clone();
                }
                e
            })
            .collect()
    });
    (subsets, slice_eps, sp)
}

impl EndpointsController {
    async fn sync_svc(&self, key: &str) -> SyncResult {
        let (ns, name) = split_key(key);
        let ns = ns.unwrap_or("default");
        let client = &self.ctx.client;
        let Some(svc) = self.services.get(key) else {
            // The Service is gone: so are its Endpoints (slices go with their owner via GC).
            if self.endpoints.get(key).is_some() {
                match client
                    .delete(ENDPOINTS, Some(ns), name, Delete::default())
                    .await
                {
                    Ok(()) => {}
                    Err(e) if e.code == 404 => {}
                    Err(e) => return Err(e.into()),
                }
            }
            return Ok(None);
        };
        if selector(&svc).is_none() {
            return Ok(None);
        }
        let pods: Vec<Arc<Value>> = self
            .pods
            .list(Some(ns))
            .into_iter()
            .filter(|p| selects(&svc, p))
            .collect();
        let (subsets, slice_eps, slice_ports) = compute(&svc, &pods);
        // Endpoints
        match self.endpoints.get(key) {
            Some(cur) => {
                if cur.get("subsets").cloned().unwrap_or(json!([])) != json!(subsets) {
                    let mut new = (*cur).clone();
                    new["subsets"] = json!(subsets);
                    client.update(ENDPOINTS, new).await?;
                }
            }
            None => {
                let mut labels = object::labels(&svc).cloned().unwrap_or_default();
                labels.insert(
                    "endpoints.kubernetes.io/managed-by".into(),
                    json!("endpoint-controller"),
                );
                let ep = json!({"apiVersion": "v1", "kind": "Endpoints",
                    "metadata": {"name": name, "namespace": ns, "labels": labels}, "subsets": subsets});
                match client.create(ENDPOINTS, Some(ns), ep).await {
                    Ok(_) => {}
                    Err(e) if e.code == 409 => {
                        return Ok(Some(std::time::Duration::from_millis(50)))
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        }
        // EndpointSlice (one per Service)
        let slice_name = format!(
            "{name}-{}",
            &crate::controller::podutil::template_hash(&json!(object::meta_str(&svc, "uid")), 0)
        );
        let mut labels = object::labels(&svc).cloned().unwrap_or_default();
        labels.insert("kubernetes.io/service-name".into(), json!(name));
        labels.insert(
            "endpointslice.kubernetes.io/managed-by".into(),
            json!(MANAGED_BY),
        );
        let slice = json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": slice_name, "namespace": ns, "labels": labels,
                         "ownerReferences": [controller_ref(&svc)]},
            "addressType": "IPv4",
            "endpoints": slice_eps,
            "ports": slice_ports,
        });
        match self.slices.get(&format!("{ns}/{slice_name}")) {
            Some(cur) => {
                if cur.get("endpoints") != slice.get("endpoints")
                    || cur.get("ports") != slice.get("ports")
                {
                    let mut new = (*cur).clone();
                    new["endpoints"] = slice["endpoints"].clone();
                    new["ports"] = slice["ports"].clone();
                    client.update(ENDPOINTSLICES, new).await?;
                }
            }
            None => match client.create(ENDPOINTSLICES, Some(ns), slice).await {
                Ok(_) => {}
                Err(e) if e.code == 409 => return Ok(Some(std::time::Duration::from_millis(50))),
                Err(e) => return Err(e.into()),
            },
        }
        Ok(None)
    }
}

impl Controller for EndpointsController {
    fn name(&self) -> &'static str {
        "endpoint-controller"
    }
    fn sync<'a>(&'a self, key: &'a str) -> BoxFuture<'a, SyncResult> {
        Box::pin(self.sync_svc(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_and_not_ready_pods_with_named_ports() {
        let svc = json!({"metadata": {"name": "web", "uid": "s"}, "spec": {"selector": {"app": "web"},
            "ports": [{"name": "http", "port": 80, "targetPort": "web", "protocol": "TCP"}]}});
        let pod = |name: &str, ip: &str, ready: bool| {
            Arc::new(
                json!({"metadata": {"name": name, "namespace": "d", "uid": name, "labels": {"app": "web"}},
                "spec": {"nodeName": "n1", "containers": [{"name": "c", "ports": [{"name": "web", "containerPort": 8080}]}]},
                "status": {"phase": "Running", "podIP": ip, "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]}}),
            )
        };
        let pods = vec![pod("a", "10.42.0.2", true), pod("b", "10.42.0.3", false)];
        assert!(selects(&svc, &pods[0]));
        let (subsets, eps, ports) = compute(&svc, &pods);
        assert_eq!(subsets.len(), 1);
        assert_eq!(subsets[0]["ports"][0]["port"], 8080);
        assert_eq!(subsets[0]["addresses"][0]["ip"], "10.42.0.2");
        assert_eq!(subsets[0]["notReadyAddresses"][0]["ip"], "10.42.0.3");
        assert_eq!(eps.len(), 2);
        assert_eq!(eps[1]["conditions"]["ready"], false);
        assert_eq!(ports[0]["name"], "http");
    }

    #[test]
    fn hostnames_are_published_for_the_subdomain_service_only() {
        let svc = |name: &str| {
            json!({"metadata": {"name": name, "uid": "s"}, "spec": {"selector": {"app": "web"},
                "clusterIP": "None", "ports": [{"name": "http", "port": 80}]}})
        };
        let pod = Arc::new(
            json!({"metadata": {"name": "web-0", "namespace": "d", "uid": "u"},
            "spec": {"hostname": "web-0", "subdomain": "web", "containers": [{"name": "c"}]},
            "status": {"phase": "Running", "podIP": "10.42.0.9",
                       "conditions": [{"type": "Ready", "status": "True"}]}}),
        );
        let (subsets, eps, _) = compute(&svc("web"), std::slice::from_ref(&pod));
        assert_eq!(subsets[0]["addresses"][0]["hostname"], "web-0");
        assert_eq!(eps[0]["hostname"], "web-0");
        let (subsets, eps, _) = compute(&svc("other"), &[pod]);
        assert!(subsets[0]["addresses"][0].get("hostname").is_none());
        assert!(eps[0].get("hostname").is_none());
    }
}
